"""The Schema Registry emulator, exercised the way producers and the sink reach a real registry.

Everything goes through python-schema-registry-client 2.6.1 (sync and async), its Avro message
serializers, or raw HTTP with Confluent's content type; nothing is mocked.  PROTOBUF goes through
raw HTTP only: the 2.6.1 client has no protobuf schema class (``SchemaFactory`` knows AVRO and JSON).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import fastavro
import httpx
import pytest
from schema_registry.client import AsyncSchemaRegistryClient, SchemaRegistryClient
from schema_registry.client.errors import ClientError
from schema_registry.client.schema import AvroSchema, JsonSchema
from schema_registry.serializers.message_serializer import AsyncAvroMessageSerializer
from sinkapp_testkit.registry import (
    CONTENT_TYPE,
    RegistryEmulator,
    RegistryThread,
    confluent_decode,
    confluent_encode,
)

from tests.workers import fixture_path

ORDERS_AVSC = fixture_path("orders.avsc")
ORDERS_TEXT = ORDERS_AVSC.read_text()
ORDER = {
    "ordertime": 1500000000000,
    "orderid": 7,
    "itemid": "BYOC_Item_42",
    "orderunits": 2.5,
    "address": {"city": "City_1", "state": "State_2", "zipcode": 12345},
}
PROTO = (
    'syntax = "proto3";\npackage ksql;\n\nmessage Order {\n  int64 ordertime = 1;\n  string itemid = 2;\n}\n'
)
JSON_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Order",
    "type": "object",
    "properties": {"orderid": {"type": "integer"}, "itemid": {"type": "string"}},
    "required": ["orderid"],
}


def orders_v2(extra_field: dict[str, Any]) -> dict[str, Any]:
    schema = json.loads(ORDERS_TEXT)
    schema["fields"].append(extra_field)
    return schema


def error_code(err: ClientError) -> Any:
    """The Confluent ``error_code`` the client kept (typed ``str | None`` in 2.6.1, really the dict)."""
    body: Any = err.server_traceback
    return body["error_code"]


@pytest.fixture
async def sr() -> AsyncIterator[RegistryEmulator]:
    async with RegistryEmulator() as emulator:
        yield emulator


async def http(method: str, url: str, body: Any = None, user_info: str | None = None) -> tuple[int, Any]:
    """One request as a producer would send it: Confluent content type, JSON body, Basic auth."""
    headers = {"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE}
    if user_info is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(user_info.encode()).decode()
    data = None if body is None else json.dumps(body)
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, data=data, headers=headers) as resp:
            return resp.status, json.loads(await resp.text())


async def test_orders_avsc_registers_and_comes_back_by_id(sr: RegistryEmulator) -> None:
    schema = await AvroSchema.async_load(str(ORDERS_AVSC))
    schema_id = await AsyncSchemaRegistryClient(sr.url).register("orders-value", schema)

    fetched = await AsyncSchemaRegistryClient(sr.url).get_by_id(schema_id)  # fresh client: no cache
    assert isinstance(fetched, AvroSchema)
    assert fetched.raw_schema == json.loads(ORDERS_TEXT)
    assert "arg.properties" in sr.schemas[schema_id].schema
    status, body = await http("GET", f"{sr.url}/schemas/ids/{schema_id}")
    assert status == 200 and set(body) == {"schema"}  # schemaType omitted for AVRO, as Confluent does


async def test_same_schema_same_id_across_clients_subjects_and_formatting(sr: RegistryEmulator) -> None:
    first = await AsyncSchemaRegistryClient(sr.url).register("orders-value", ORDERS_TEXT)
    again = await AsyncSchemaRegistryClient(sr.url).register("orders-value", ORDERS_TEXT)
    other_subject = await AsyncSchemaRegistryClient(sr.url).register("orders2-value", ORDERS_TEXT)
    status, body = await http("POST", f"{sr.url}/subjects/orders-value/versions", {"schema": ORDERS_TEXT})
    assert first == again == other_subject == body["id"] and status == 200
    assert await AsyncSchemaRegistryClient(sr.url).get_versions("orders-value") == [1]
    pairs = await AsyncSchemaRegistryClient(sr.url).get_schema_subject_versions(first)
    assert [(p.subject, p.version) for p in pairs or []] == [("orders-value", 1), ("orders2-value", 1)]


async def test_second_version_gets_new_id_and_is_latest(sr: RegistryEmulator) -> None:
    client = AsyncSchemaRegistryClient(sr.url)
    v1 = await client.register("orders-value", ORDERS_TEXT)
    v2_schema = orders_v2({"name": "channel", "type": "string", "default": "web"})
    v2 = await client.register("orders-value", v2_schema)
    assert v2 != v1

    latest = await AsyncSchemaRegistryClient(sr.url).get_schema("orders-value", "latest")
    assert latest is not None and (latest.schema_id, latest.version) == (v2, 2)
    first = await AsyncSchemaRegistryClient(sr.url).get_schema("orders-value", 1)
    assert first is not None and first.schema_id == v1
    found = await AsyncSchemaRegistryClient(sr.url).check_version("orders-value", ORDERS_TEXT)
    assert found is not None and (found.schema_id, found.version) == (v1, 1)
    assert await client.check_version("orders-value", orders_v2({"name": "x", "type": "int"})) is None
    assert await client.get_subjects() == ["orders-value"]


async def test_backward_compatibility_is_enforced_for_avro(sr: RegistryEmulator) -> None:
    client = AsyncSchemaRegistryClient(sr.url)
    await client.register("orders-value", ORDERS_TEXT)
    no_default = orders_v2({"name": "channel", "type": "string"})
    promoted = json.loads(ORDERS_TEXT)
    promoted["fields"][1]["type"] = "long"  # int -> long is a legal promotion

    assert await client.get_compatibility() == "BACKWARD"
    assert await client.test_compatibility("orders-value", promoted) is True
    assert await client.test_compatibility("orders-value", no_default) is False
    verbose = await client.test_compatibility("orders-value", no_default, verbose=True)
    assert isinstance(verbose, dict) and "/channel" in verbose["messages"][0]
    with pytest.raises(ClientError) as err:
        await client.register("orders-value", no_default)
    assert err.value.http_code == 409 and error_code(err.value) == 409

    assert await client.update_compatibility("NONE", "orders-value")
    assert await client.get_compatibility("orders-value") == "NONE"
    assert await client.register("orders-value", no_default) > 0
    status, body = await http("GET", f"{sr.url}/config/orders2-value")
    assert (status, body["error_code"]) == (404, 40408)


async def test_json_and_protobuf_schema_types(sr: RegistryEmulator) -> None:
    client = AsyncSchemaRegistryClient(sr.url)
    json_id = await client.register("orders-json-value", JSON_SCHEMA, schema_type="JSON")
    fetched = await AsyncSchemaRegistryClient(sr.url).get_by_id(json_id)
    assert isinstance(fetched, JsonSchema) and fetched.raw_schema == JSON_SCHEMA

    # The 2.6.1 client has no protobuf support, so protobuf goes over raw HTTP as producers send it.
    status, body = await http(
        "POST", f"{sr.url}/subjects/orders-proto-value/versions", {"schema": PROTO, "schemaType": "PROTOBUF"}
    )
    assert status == 200 and body["id"] not in (json_id, None)
    status, fetched_proto = await http("GET", f"{sr.url}/schemas/ids/{body['id']}")
    assert fetched_proto == {"schema": PROTO, "schemaType": "PROTOBUF"}
    status, latest = await http("GET", f"{sr.url}/subjects/orders-proto-value/versions/latest")
    assert latest["schemaType"] == "PROTOBUF" and latest["id"] == body["id"]
    with pytest.raises(ValueError, match="Unsupported schema type"):
        await AsyncSchemaRegistryClient(sr.url).get_by_id(body["id"])
    status, types = await http("GET", f"{sr.url}/schemas/types")
    assert sorted(types) == ["AVRO", "JSON", "PROTOBUF"]


async def test_error_codes(sr: RegistryEmulator) -> None:
    client = AsyncSchemaRegistryClient(sr.url)
    assert await client.get_by_id(999) is None  # the 2.6.1 client maps 404 to None, not ClientError
    assert await http("GET", f"{sr.url}/schemas/ids/999") == (
        404,
        {"error_code": 40403, "message": "Schema 999 not found"},
    )
    assert (await http("GET", f"{sr.url}/subjects/nope/versions"))[1]["error_code"] == 40401
    await client.register("orders-value", ORDERS_TEXT)
    assert (await http("GET", f"{sr.url}/subjects/orders-value/versions/9"))[1]["error_code"] == 40402
    assert (await http("GET", f"{sr.url}/subjects/orders-value/versions/x"))[1]["error_code"] == 42202
    status, body = await http("POST", f"{sr.url}/subjects/nope", {"schema": ORDERS_TEXT})
    assert (status, body["error_code"]) == (404, 40401)

    status, body = await http("POST", f"{sr.url}/subjects/bad/versions", {"schema": '{"type": "recordz"}'})
    assert (status, body["error_code"]) == (422, 42201)
    status, body = await http(
        "POST", f"{sr.url}/subjects/bad/versions", {"schema": "{not json", "schemaType": "JSON"}
    )
    assert (status, body["error_code"]) == (422, 42201)
    sr.fail_next(1)
    with pytest.raises(ClientError) as err:
        await client.get_by_id(12345)
    assert err.value.http_code == 500 and error_code(err.value) == 50001


async def test_deletes_are_soft_and_ids_stay_readable(sr: RegistryEmulator) -> None:
    client = AsyncSchemaRegistryClient(sr.url)
    v1 = await client.register("orders-value", ORDERS_TEXT)
    await client.register("orders-value", orders_v2({"name": "c", "type": "int", "default": 0}))
    assert await client.delete_version("orders-value", 2) == 2
    assert await client.get_versions("orders-value") == [1]
    assert await client.delete_subject("orders-value") == [1]
    assert await client.get_subjects() == []
    assert (await http("GET", f"{sr.url}/subjects?deleted=true"))[1] == ["orders-value"]
    assert (await AsyncSchemaRegistryClient(sr.url).get_by_id(v1)) is not None


async def test_basic_auth() -> None:
    async with RegistryEmulator(user_info="key:secret") as secured:
        host = secured.url.removeprefix("http://")
        assert (
            await AsyncSchemaRegistryClient(f"http://key:secret@{host}").register("o-value", ORDERS_TEXT) == 1
        )
        right = AsyncSchemaRegistryClient(secured.url, auth=httpx.BasicAuth("key", "secret"))
        assert await right.get_subjects() == ["o-value"]

        wrong = AsyncSchemaRegistryClient(secured.url, auth=httpx.BasicAuth("key", "nope"))
        with pytest.raises(ClientError) as err:
            await wrong.register("o-value", ORDERS_TEXT)
        assert err.value.http_code == 401
        assert await http("GET", f"{secured.url}/subjects") == (
            401,
            {"error_code": 401, "message": "Unauthorized"},
        )
        assert await http("GET", f"{secured.url}/subjects", user_info="key:secret") == (200, ["o-value"])
        assert (await http("GET", f"{secured.url}/subjects", user_info="key:nope"))[0] == 401


async def test_fault_injection_down_up_and_503(sr: RegistryEmulator) -> None:
    schema_id = await AsyncSchemaRegistryClient(sr.url).register("orders-value", ORDERS_TEXT)
    url = sr.url

    await sr.down()
    with pytest.raises(httpx.ConnectError):
        await AsyncSchemaRegistryClient(url).get_by_id(schema_id)
    await sr.up()
    assert sr.url == url
    assert await AsyncSchemaRegistryClient(url).get_by_id(schema_id) is not None  # state survived

    await sr.down(refuse=False)
    with pytest.raises(ClientError) as err:
        await AsyncSchemaRegistryClient(url).get_by_id(schema_id)
    assert err.value.http_code == 503
    await sr.up()

    sr.fail_next(2, status=502)
    for _ in range(2):
        with pytest.raises(ClientError):
            await AsyncSchemaRegistryClient(url).get_by_id(schema_id)
    assert await AsyncSchemaRegistryClient(url).get_by_id(schema_id) is not None


async def test_avro_references(sr: RegistryEmulator) -> None:
    address = json.loads(ORDERS_TEXT)["fields"][4]["type"] | {"namespace": "ksql"}
    status, addr = await http("POST", f"{sr.url}/subjects/address/versions", {"schema": json.dumps(address)})
    order = json.loads(ORDERS_TEXT)
    order["fields"][4]["type"] = "ksql.address"
    refs = [{"name": "ksql.address", "subject": "address", "version": 1}]
    body = {"schema": json.dumps(order), "references": refs}
    status, registered = await http("POST", f"{sr.url}/subjects/orders-value/versions", body)
    assert status == 200 and registered["id"] != addr["id"]
    status, fetched = await http("GET", f"{sr.url}/schemas/ids/{registered['id']}")
    assert fetched["references"] == refs
    body["references"] = [{"name": "ksql.address", "subject": "missing", "version": 1}]
    status, err = await http("POST", f"{sr.url}/subjects/o2-value/versions", body)
    assert (status, err["error_code"]) == (422, 42201)


async def test_confluent_framing_matches_the_client_serializer(sr: RegistryEmulator) -> None:
    serializer = AsyncAvroMessageSerializer(AsyncSchemaRegistryClient(sr.url))
    framed = await serializer.encode_record_with_schema("orders-value", AvroSchema(ORDERS_TEXT), ORDER)
    schema_id, payload = confluent_decode(framed)
    assert schema_id == 1
    parsed = fastavro.parse_schema(json.loads(sr.schemas[schema_id].schema))
    assert fastavro.schemaless_reader(io.BytesIO(payload), parsed) == ORDER

    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, ORDER | {"orderid": 8})
    ours = confluent_encode(schema_id, buf.getvalue())
    assert ours[:5] == b"\x00\x00\x00\x00\x01"
    decoded = await AsyncAvroMessageSerializer(AsyncSchemaRegistryClient(sr.url)).decode_message(ours)
    assert decoded == ORDER | {"orderid": 8}
    with pytest.raises(ValueError):
        confluent_decode(b"\x01\x00\x00\x00\x01")


def test_sync_client_against_registry_thread() -> None:
    with RegistryThread() as sr:
        client = SchemaRegistryClient(sr.url)
        schema_id = client.register("orders-value", AvroSchema.load(str(ORDERS_AVSC)))
        assert sr.register("orders-value", ORDERS_TEXT) == schema_id
        fetched = SchemaRegistryClient(sr.url).get_by_id(schema_id)
        assert fetched is not None and fetched.raw_schema == json.loads(ORDERS_TEXT)
        sr.down()
        with pytest.raises(httpx.ConnectError):
            SchemaRegistryClient(sr.url).get_subjects()
        sr.up()
        assert SchemaRegistryClient(sr.url).get_subjects() == ["orders-value"]
        assert list(sr.schemas) == [schema_id]


async def test_cli_serves_until_terminated() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sinkapp_testkit.registry", "--port", "0", stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        url = line.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:")
        assert await AsyncSchemaRegistryClient(url).register("orders-value", ORDERS_TEXT) == 1
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 20) == 0


def _record(*fields: dict[str, Any], name: str = "r") -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "t", "fields": list(fields)}


_A = {"name": "a", "type": "int"}
_B_DEFAULT = {"name": "b", "type": "string", "default": ""}
_COLOR = {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}


@pytest.mark.parametrize(
    ("level", "old", "new", "compatible"),
    [
        ("BACKWARD", _record(_A, _B_DEFAULT), _record(_A), True),  # removed field
        ("FORWARD", _record(_A, _B_DEFAULT), _record(_A), True),  # old reader has a default
        ("FORWARD", _record(_A, {"name": "b", "type": "string"}), _record(_A), False),
        ("FULL", _record(_A), _record(_A, {"name": "b", "type": "string"}), False),
        ("FULL", _record(_A), _record(_A, _B_DEFAULT), True),
        ("BACKWARD", _record(_A), _record({"name": "a", "type": ["null", "long"]}), True),  # widened
        ("BACKWARD", _record({"name": "a", "type": ["null", "int"]}), _record(_A), False),  # null lost
        ("BACKWARD", _record(_A), _record(_A, name="other"), False),  # renamed record
        (
            "BACKWARD",
            _record({"name": "c", "type": _COLOR | {"symbols": ["RED", "GREEN", "BLUE"]}}),
            _record({"name": "c", "type": _COLOR}),
            False,  # BLUE written by the old schema is unknown to the new reader
        ),
        ("NONE", _record(_A), _record({"name": "a", "type": "string"}), True),
    ],
)
async def test_avro_compatibility_levels(
    sr: RegistryEmulator, level: str, old: dict[str, Any], new: dict[str, Any], compatible: bool
) -> None:
    client = AsyncSchemaRegistryClient(sr.url)
    assert await client.update_compatibility(level)
    await client.register("s", old)
    assert await client.test_compatibility("s", new) is compatible
    status, body = await http("POST", f"{sr.url}/subjects/s/versions", {"schema": json.dumps(new)})
    assert status == (200 if compatible else 409)
