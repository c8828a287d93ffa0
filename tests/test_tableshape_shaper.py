"""The table shaper and its DDL client against the emulator's MySQL front (a real MySQL protocol
server, real aiomysql client): create from a schema, add columns and await the job, a column
another worker added, refused schemas, an FE that is down, CANCELLED-free timeouts, the per-record
gate. No Kafka: records are plain objects with ``value`` / ``key``."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, NamedTuple

import orjson
import pytest
from sinkapp_testkit.streamload import StreamLoadEmulator

from sinkapp.config.types import Secret, TableSettings
from sinkapp.errors import ConversionError, SchemaChangeFailed
from sinkapp.pipeline.types import TableKey
from sinkapp.tableshape.client import DdlClient
from sinkapp.tableshape.shaper import RouteShape, TableShapes
from sinkapp.tableshape.sources import ConnectSource

T = TableKey("shop", "orders")


class Rec(NamedTuple):
    value: bytes | None
    key: bytes | None = None
    topic: str = "orders"
    partition: int = 0
    offset: int = 0


def value(fields: list[tuple[str, str, bool]], payload: dict[str, Any]) -> bytes:
    return orjson.dumps({"schema": {"type": "struct", "name": "Order", "fields": [
        {"field": f, "type": t, "optional": o} for f, t, o in fields]}, "payload": payload})


V1 = [("id", "int64", False), ("qty", "int32", True)]
V2 = [*V1, ("note", "string", True), ("price", "double", True)]


def settings(**kw: Any) -> TableSettings:
    return TableSettings(**{"auto_create": True, "auto_evolve": True, "change_timeout_ms": 10_000, **kw})


async def shaper(emu: Any, **kw: Any) -> tuple[TableShapes, RouteShape]:
    client = DdlClient([("127.0.0.1", emu.mysql_port)], "root", Secret("pw"))
    shapes = TableShapes(client, settings(**kw))
    return shapes, RouteShape(shapes, T, ConnectSource(None))


def cols(emu: Any) -> list[tuple[str, str, bool]]:
    return [(c.name, c.type, c.nullable) for c in emu.cluster.catalog.table("shop", "orders").schema.columns]


async def test_a_missing_table_is_created_from_the_first_schema_then_v2_adds_its_fields() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"], schema_change_s=0.6) as emu:
        shapes, shape = await shaper(emu)
        await shape.prepare([Rec(value(V1, {"id": 1, "qty": 2}))])
        assert [(n, t) for n, t, _ in cols(emu)] == [("id", "BIGINT"), ("qty", "INT")]
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await shape.prepare([Rec(value(V2, {"id": 2}))] * 3)
        assert loop.time() - t0 >= 0.5                         # waited for the job to finish
        assert [n for n, _, _ in cols(emu)] == ["id", "qty", "note", "price"] and cols(emu)[2][2]
        assert shapes.changes == {("shop.orders", "create"): 1, ("shop.orders", "add_column"): 2}
        alters = [s.sql for s in emu.statements() if s.sql.startswith("ALTER")]
        assert len(alters) == 1 and "`note`" in alters[0] and "`price`" in alters[0]
        await shape.prepare([Rec(value(V2, {"id": 3}))])       # verdict kept: no statement
        assert len([s for s in emu.statements() if s.sql.startswith("ALTER")]) == 1
        await shapes.client.close()


async def test_a_column_another_worker_added_meanwhile_counts_as_done() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"], schema_change_s=0.5) as emu:
        _, a = await shaper(emu)
        shapes_b, b = await shaper(emu)
        await a.prepare([Rec(value(V1, {"id": 1}))])
        await asyncio.gather(a.prepare([Rec(value(V2, {"id": 2}))]), b.prepare([Rec(value(V2, {"id": 2}))]))
        assert [n for n, _, _ in cols(emu)] == ["id", "qty", "note", "price"]
        assert not a.refused and not b.refused
        ok = [s for s in emu.statements() if s.sql.startswith("ALTER") and s.error is None]
        assert len(ok) == 1                                    # the other one waited and re-read
        await a.shapes.client.close()
        await shapes_b.client.close()


async def test_a_type_change_and_a_new_required_field_are_refused_and_gated() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"], schema_change_s=0.1) as emu:
        shapes, shape = await shaper(emu)
        good = Rec(value(V1, {"id": 1, "qty": 2}))
        retyped = Rec(value([("id", "int64", False), ("qty", "string", True)], {"id": 2, "qty": "x"}))
        required = Rec(value([*V1, ("region", "string", False)], {"id": 3, "region": "eu"}))
        await shape.prepare([good, retyped, required])
        shape.gate(good.value)
        with pytest.raises(ConversionError, match=r"field 'qty'.*string.*never changes a column's type"):
            shape.gate(retyped.value)
        with pytest.raises(ConversionError, match=r"field 'region'.*required and has no default"):
            shape.gate(required.value)
        assert [n for n, _, _ in cols(emu)] == ["id", "qty"] and shapes.refused == {"shop.orders": 2}
        await shapes.client.close()


async def test_without_auto_evolve_new_fields_are_warned_not_added(caplog: Any) -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"]) as emu:
        shapes, shape = await shaper(emu, auto_evolve=False)
        await shape.prepare([Rec(value(V1, {"id": 1}))])
        await shape.prepare([Rec(value(V2, {"id": 2}))])
        assert [n for n, _, _ in cols(emu)] == ["id", "qty"] and not shape.refused
        assert "no column for field(s) note, price" in caplog.text and "auto.evolve=false" in caplog.text
        await shapes.client.close()


async def test_without_auto_create_a_missing_table_stops_the_route_naming_the_setting() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"]) as emu:
        shapes, shape = await shaper(emu, auto_create=False)
        with pytest.raises(SchemaChangeFailed, match="does not exist and auto.create=false"):
            await shape.prepare([Rec(value(V1, {"id": 1}))])
        await shapes.client.close()


async def test_a_schema_change_job_past_the_timeout_stops_the_route() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"], schema_change_s=30) as emu:
        shapes, shape = await shaper(emu, change_timeout_ms=1000)
        await shape.prepare([Rec(value(V1, {"id": 1}))])
        with pytest.raises(SchemaChangeFailed, match=r"still (PENDING|WAITING_TXN|RUNNING).*sinkapp.schema.change"):
            await shape.prepare([Rec(value(V2, {"id": 2}))])
        await shapes.client.close()


async def test_an_fe_that_is_down_is_waited_out_and_the_password_stays_out_of_errors(caplog: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"]) as emu:
        client = DdlClient([("127.0.0.1", dead), ("127.0.0.1", emu.mysql_port)], "root", Secret("pw"))
        assert await client.columns("shop", "orders") is None      # the second FE answered
        await client.close()
        slept: list[float] = []
        shapes = TableShapes(DdlClient([("127.0.0.1", dead)], "root", Secret("pw")), settings())

        async def sleep(s: float) -> None:
            slept.append(s)
            if len(slept) == 3:
                shapes.client.hosts = (("127.0.0.1", emu.mysql_port),)   # the FE is back
        shapes.sleep = sleep
        shape = RouteShape(shapes, T, ConnectSource(None))
        await shape.prepare([Rec(value(V1, {"id": 1}))])
        assert slept == [0.5, 1.0, 2.0] and [n for n, _, _ in cols(emu)] == ["id", "qty"]
        assert "no FE of starrocks.jdbc.url answered" in caplog.text and "pw" not in caplog.text.replace("pwd", "")
        await shapes.client.close()


async def test_wrong_credentials_are_a_ddl_error_naming_the_settings() -> None:
    from sinkapp.errors import DdlError

    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"]) as emu:
        client = DdlClient([("127.0.0.1", emu.mysql_port)], "root", Secret("nope"))
        with pytest.raises(DdlError, match="starrocks.username='root' / starrocks.password") as info:
            await client.columns("shop", "orders")
        assert "nope" not in str(info.value)


async def test_a_debezium_route_makes_a_primary_key_table_of_the_after_image_and_its_extra_columns() -> None:
    from sinkapp.config import build_settings
    from sinkapp.tableshape.wiring import debezium_extra

    s = build_settings({"name": "x", "topics": "t", "starrocks.http.url": "127.0.0.1:8030",
                        "starrocks.database.name": "shop", "starrocks.username": "root",
                        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                        "value.converter.schemas.enable": "true", "auto.create": "true",
                        "starrocks.jdbc.url": "jdbc:mysql://127.0.0.1:9030", "transforms": "dbz",
                        "transforms.dbz.type": "Debezium", "transforms.dbz.delete.handling": "rewrite",
                        "transforms.dbz.add.fields": "table,source.ts_ms"})
    extra = debezium_extra(s)
    assert extra is not None and [c.name for c in extra] == ["__deleted", "__table", "__source_ts_ms"]
    row = {"type": "struct", "optional": True, "fields": [{"field": "id", "type": "int32", "optional": False},
                                                          {"field": "name", "type": "string", "optional": True}]}
    env = {"type": "struct", "name": "inv.products.Envelope", "fields": [
        {**row, "field": "before"}, {**row, "field": "after"}, {"field": "op", "type": "string", "optional": False}]}
    key = orjson.dumps({"schema": {"type": "struct", "fields": [{"field": "id", "type": "int32", "optional": False}]},
                        "payload": {"id": 1}})
    rec = Rec(orjson.dumps({"schema": env, "payload": {"before": None, "after": {"id": 1, "name": "a"}, "op": "c"}}),
              key)
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"]) as emu:
        client = DdlClient([("127.0.0.1", emu.mysql_port)], "root", Secret("pw"))
        shapes = TableShapes(client, settings())
        await RouteShape(shapes, T, ConnectSource(extra)).prepare([rec])
        schema = emu.cluster.catalog.table("shop", "orders").schema
        assert schema.keys_type == "PRIMARY" and schema.key_columns == ("id",)
        assert [c.name for c in schema.columns] == ["id", "name", "__deleted", "__table", "__source_ts_ms"]
        await client.close()


async def test_a_debezium_route_whose_keys_have_no_schema_is_refused_a_duplicate_key_table() -> None:
    env = {"type": "struct", "fields": [
        {"field": "before", "type": "struct", "optional": True, "fields": [{"field": "id", "type": "int32"}]},
        {"field": "after", "type": "struct", "optional": True, "fields": [{"field": "id", "type": "int32"}]},
        {"field": "op", "type": "string"}]}
    rec = Rec(orjson.dumps({"schema": env, "payload": {"before": None, "after": {"id": 1}, "op": "c"}}), b"1")
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"]) as emu:
        client = DdlClient([("127.0.0.1", emu.mysql_port)], "root", Secret("pw"))
        with pytest.raises(SchemaChangeFailed, match="PRIMARY KEY table.*key.converter.schemas.enable=true"):
            await RouteShape(TableShapes(client, settings()), T, ConnectSource([])).prepare([rec])
        assert "orders" not in emu.cluster.catalog.dbs["shop"]
        await client.close()


async def test_a_dropped_field_is_no_change_and_refused_schemas_reach_the_metrics() -> None:
    from sinkapp.observe.metrics import make_registry, render
    from sinkapp.pipeline.stats import Snapshot

    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"]) as emu:
        shapes, shape = await shaper(emu)
        await shape.prepare([Rec(value(V2, {"id": 1}))])
        n = len(emu.statements())
        await shape.prepare([Rec(value(V1, {"id": 2}))])              # note and price dropped
        assert not shape.refused and len(emu.statements()) == n and len(cols(emu)) == 4
        await shape.prepare([Rec(value([("id", "string", False)], {"id": "x"}))])
        snap = Snapshot(schema_changes=tuple((t, k, c) for (t, k), c in shapes.changes.items()),
                        schemas_refused=tuple(shapes.refused.items()))
        text = render(make_registry(lambda: snap)).decode()
        assert 'sinkapp_schema_changes_total{kind="create",table="shop.orders"} 1.0' in text
        assert 'sinkapp_schemas_refused_total{table="shop.orders"} 1.0' in text
        await shapes.client.close()


async def test_auto_create_makes_a_missing_database_before_its_first_table() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["other"]) as emu:
        shapes, shape = await shaper(emu)                     # database shop does not exist
        await shape.prepare([Rec(value(V1, {"id": 1}))])
        assert not shape.refused and "shop" in emu.cluster.catalog.dbs
        assert [n for n, _, _ in cols(emu)] == ["id", "qty"]          # V1's fields
        await shapes.client.close()
