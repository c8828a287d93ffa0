"""Transforms: each built-in, the Debezium envelope, the Java connector's Debezium config, user
Python, the chain's contract, and a transform inside the route's decode loop."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from sinkapp.config import ConverterSettings
from sinkapp.converters import build_converter
from sinkapp.errors import ConfigError, TransformError
from sinkapp.streamload.encoding import JsonEncoder
from sinkapp.transforms import Meta, Skipped, TransformSpec, build_chain
from sinkapp.transforms.debezium import op_headers
from tests.test_config import BASE

META = Meta("orders", 2, 41, 1_700_000_000_123, b"k1")


def run(specs: list[tuple[str, str, dict[str, str]]], value: dict[str, Any]) -> Any:
    chain = build_chain([TransformSpec(n, t, o) for n, t, o in specs])
    assert chain is not None
    return chain.apply(value, META)


def encoded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as the JSON body carries them (logical values as their StarRocks text)."""
    return orjson.loads(bytes(JsonEncoder().body([JsonEncoder().encode_chunk(rows)])))  # type: ignore[no-any-return]


def test_extract_field_flatten_replace_insert() -> None:
    v = {"payload": {"id": 1, "addr": {"city": "X", "geo": {"lat": 1.5}}, "secret": "s", "old": 2}}
    rows = run([("x", "org.apache.kafka.connect.transforms.ExtractField$Value", {"field": "payload"}),
                ("f", "Flatten", {"delimiter": "_"}),
                ("r", "ReplaceField", {"exclude": "secret", "renames": "old:new"}),
                ("i", "org.apache.kafka.connect.transforms.InsertField$Value",
                 {"topic.field": "src", "partition.field": "p", "offset.field": "off!",
                  "timestamp.field": "ts", "static.field": "env", "static.value": "prod"})], v)
    assert encoded(rows) == [{"id": 1, "addr_city": "X", "addr_geo_lat": 1.5, "new": 2, "src": "orders", "p": 2,
                     "off": 41, "ts": "2023-11-14 22:13:20.123000", "env": "prod"}]
    assert run([("r", "ReplaceField", {"include": "id"})], {"id": 1, "x": 2}) == [{"id": 1}]
    assert run([("x", "ExtractField", {"field": "missing"})], {"id": 1}) == []


def test_timestamp_converter_to_starrocks_text() -> None:
    v = {"t": 1_700_000_000_000, "d": "2024-03-05T10:11:12"}
    assert encoded(run([("t", "TimestampConverter", {"field": "t", "target.type": "Timestamp"})], v))[0]["t"] \
        == "2023-11-14 22:13:20"
    assert encoded(run([("t", "TimestampConverter", {"field": "d", "target.type": "Date"})], v))[0]["d"] \
        == "2024-03-05"
    assert run([("t", "TimestampConverter", {"field": "d", "target.type": "string", "format": "yyyy/MM/dd"})],
               v)[0]["d"] == "2024/03/05"
    assert run([("t", "TimestampConverter", {"field": "d", "target.type": "unix"})], v)[0]["d"] == 1_709_633_472_000
    assert run([("t", "TimestampConverter", {"field": "d", "target.type": "unix", "unix.precision": "seconds"})],
               v)[0]["d"] == 1_709_633_472


def test_filter_keeps_or_drops_by_jsonpath() -> None:
    v = {"status": "cancelled", "n": {"k": 3}}
    assert run([("f", "Filter", {"field": "$.status", "equals": "cancelled"})], v) == []
    assert run([("f", "Filter", {"field": "status", "in": "open,paid"})], v) == [v]
    assert run([("f", "Filter", {"field": "n.k", "regex": "[0-9]", "action": "keep"})], v) == [v]
    assert run([("f", "Filter", {"field": "missing", "exists": "false"})], v) == []


def test_explode_makes_one_row_per_element() -> None:
    v = {"order": 7, "lines": [{"sku": "a"}, {"sku": "b"}, {"sku": "c"}]}
    rows = run([("e", "Explode", {"field": "$.lines"}), ("f", "Flatten", {})], v)
    assert rows == [{"order": 7, "lines.sku": s} for s in "abc"]
    assert run([("e", "Explode", {"field": "lines"})], {"order": 8, "lines": []}) == []
    with pytest.raises(TransformError, match="not an array"):
        run([("e", "Explode", {"field": "order"})], v)


def _dbz(op: str, before: dict | None, after: dict | None) -> dict[str, Any]:
    return {"before": before, "after": after, "op": op, "source": {"table": "t"}, "ts_ms": 1}


def test_debezium_upserts_deletes_and_skips() -> None:
    d = [("d", "Debezium", {})]
    assert run(d, _dbz("r", None, {"id": 1, "v": "a"})) == [{"id": 1, "v": "a", "__op": 0}]
    assert run(d, _dbz("c", None, {"id": 2, "v": "b"})) == [{"id": 2, "v": "b", "__op": 0}]
    assert run(d, _dbz("u", {"id": 2, "v": "b"}, {"id": 2, "v": "c"})) == [{"id": 2, "v": "c", "__op": 0}]
    assert run(d, _dbz("d", {"id": 2, "v": "c"}, None)) == [{"id": 2, "v": "c", "__op": 1}]
    truncate = run(d, _dbz("t", None, None))       # no row, skipped on purpose and said so
    assert isinstance(truncate, Skipped) and truncate.kind == "truncate" and "keeps its rows" in truncate.note
    assert run(d, _dbz("m", None, None)).kind == "message"
    assert run([("d", "Debezium", {"delete.handling": "drop"})], _dbz("d", {"id": 2}, None)) == []
    with pytest.raises(TransformError, match="not a Debezium change event"):
        run(d, {"id": 1})
    with pytest.raises(TransformError, match="no 'before' image"):
        run(d, _dbz("d", None, None))


def test_the_java_connectors_debezium_config_is_the_builtin() -> None:
    specs = [TransformSpec("addfield", "com.starrocks.connector.kafka.transforms.AddOpFieldForDebeziumRecord", {}),
             TransformSpec("unwrap", "io.debezium.transforms.ExtractNewRecordState",
                           {"drop.tombstones": "true", "delete.handling.mode": "rewrite"})]
    chain = build_chain(specs)
    assert chain is not None and [s.type for s, _ in chain.steps] == ["Debezium"]
    assert chain.apply(_dbz("d", {"id": 5}, None), META) == [{"id": 5, "__deleted": "true", "__op": 1}]
    # rewrite mode marks live rows too (Debezium 1.8's ExtractNewRecordState inserts __deleted=false)
    assert chain.apply(_dbz("c", None, {"id": 6}), META) == [{"id": 6, "__deleted": "false", "__op": 0}]


def test_debezium_temporal_and_decimal_types_from_the_connect_schema() -> None:
    conv = build_converter(ConverterSettings("org.apache.kafka.connect.json.JsonConverter", True))
    fields = [("d", "io.debezium.time.Date", "int32", 19_000), ("t", "io.debezium.time.MicroTime", "int64",
                                                                 3_723_000_456),
              ("ts", "io.debezium.time.Timestamp", "int64", 1_700_000_000_123),
              ("mts", "io.debezium.time.MicroTimestamp", "int64", 1_700_000_000_123_456),
              ("nts", "io.debezium.time.NanoTimestamp", "int64", 1_700_000_000_123_456_789),
              ("z", "io.debezium.time.ZonedTimestamp", "string", "2024-01-02T03:04:05.5+02:00")]
    after_schema = {"type": "struct", "name": "db.t.Value", "optional": True, "fields": [
        {"field": n, "name": name, "type": typ} for n, name, typ, _ in fields] + [
        {"field": "amount", "type": "struct", "name": "io.debezium.data.VariableScaleDecimal",
         "fields": [{"field": "scale", "type": "int32"}, {"field": "value", "type": "bytes"}]}]}
    after = {n: v for n, _, _, v in fields}
    after["amount"] = {"scale": 3, "value": base64.b64encode((-1234567).to_bytes(4, "big", signed=True)).decode()}
    msg = {"schema": {"type": "struct", "fields": [{"field": "before", **after_schema},
                                                   {"field": "after", **after_schema},
                                                   {"field": "op", "type": "string"}]},
           "payload": {"before": None, "after": after, "op": "c"}}
    value = conv.decode(orjson.dumps(msg))
    (row,) = run([("d", "Debezium", {})], value)
    assert row == {"d": "2022-01-08", "t": "01:02:03.000456", "ts": "2023-11-14 22:13:20.123000",
                   "mts": "2023-11-14 22:13:20.123456", "nts": "2023-11-14 22:13:20.123456",
                   "z": "2024-01-02 01:04:05.500000", "amount": "-1234.567", "__op": 0}


def test_op_is_added_to_columns_and_jsonpaths() -> None:
    h = op_headers({"format": "json", "columns": "id, v", "jsonpaths": '["$.id","$.v"]'})
    assert h["columns"] == "id, v, __op" and h["jsonpaths"] == '["$.id", "$.v", "$.__op"]'
    assert op_headers({"format": "json"}) == {"format": "json"}
    with pytest.raises(ConfigError, match="also needs sink.properties.columns"):
        op_headers({"jsonpaths": '["$.id"]'})


def explode_lines(value: dict[str, Any], meta: Meta) -> list[dict[str, Any]]:
    """User Python transform used by the test below (module:function)."""
    return [{"order": value["id"], "sku": s, "partition": meta.partition} for s in value["skus"]]


class Tagger:
    """User Python transform class, built with the transforms.<name>.* options."""

    def __init__(self, options: dict[str, str]) -> None:
        self.tag = options["tag"]

    def __call__(self, value: dict[str, Any], meta: Meta) -> dict[str, Any]:
        return {**value, "tag": self.tag}


def test_user_python_function_and_class() -> None:
    rows = run([("u", "tests.test_transforms:explode_lines", {}), ("t", "tests.test_transforms:Tagger",
                                                                    {"tag": "x"})], {"id": 3, "skus": ["a", "b"]})
    assert rows == [{"order": 3, "sku": "a", "partition": 2, "tag": "x"},
                    {"order": 3, "sku": "b", "partition": 2, "tag": "x"}]


def test_a_transform_returning_garbage_or_raising_is_a_transform_error() -> None:
    with pytest.raises(TransformError, match="returned str"):
        run([("u", "tests.test_transforms:_bad_return", {})], {"a": 1})
    with pytest.raises(TransformError, match="raised ZeroDivisionError"):
        run([("u", "tests.test_transforms:_raises", {})], {"a": 1})


def _bad_return(value: dict[str, Any], meta: Meta) -> str:
    return "nope"


def _raises(value: dict[str, Any], meta: Meta) -> None:
    raise ZeroDivisionError("boom")


@pytest.mark.parametrize("ttype, message", [
    ("org.apache.kafka.connect.transforms.HoistField$Value", "is not a transform sinkapp can apply"),
    ("NoSuchThing", "is not a transform sinkapp can apply"),
    ("no_such_module:f", "cannot be imported"),
])
def test_an_smt_sinkapp_cannot_honour_is_a_config_error(ttype: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_chain([TransformSpec("x", ttype, {})])


def test_transforms_keys_are_parsed_connect_style() -> None:
    from sinkapp.config import build_settings
    raw = dict(BASE, **{"transforms": "a,b", "transforms.a.type": "Flatten", "transforms.a.delimiter": "_",
                        "transforms.b.type": "Explode", "transforms.b.field": "$.x"})
    s = build_settings(raw)
    assert [(t.name, t.type, dict(t.options)) for t in s.transforms] == [
        ("a", "Flatten", {"delimiter": "_"}), ("b", "Explode", {"field": "$.x"})]
    with pytest.raises(ConfigError, match="transforms.c.type is required"):
        build_settings(dict(BASE, **{"transforms": "c"}))
    with pytest.raises(ConfigError, match="not listed in transforms"):
        build_settings(dict(BASE, **{"transforms": "a", "transforms.a.type": "Flatten",
                                     "transforms.z.type": "Flatten"}))


async def test_a_transform_in_the_route_loop_explodes_and_dead_letters() -> None:
    """In the sink: one message → several rows; a record the transform refuses is a bad record
    (stage TRANSFORMATION) that errors.tolerance decides about."""
    from sinkapp.config import ErrorSettings
    from tests.pipeline_fakes import harness

    chain = build_chain([TransformSpec("e", "Explode", {"field": "lines"})])
    h = harness(errors=ErrorSettings(tolerance="all", dlq_topic="dlq"), dlq=True, chain=chain, max_rows=10**6)
    values = {0: b'{"id": 1, "lines": [1, 2, 3]}', 1: b'{"id": 2}', 2: b'{"id": 3, "lines": []}'}
    await h.take(h.batch(0, range(0, 3), values=values))
    await h.flush()
    assert h.client.attempts[0][2] == [{"id": 1, "lines": n} for n in (1, 2, 3)]
    assert h.dlq is not None and [(d.offset, d.stage) for d in h.dlq.sent] == [(1, "TRANSFORMATION")]
    assert h.pipe.routes[0].chunker.dropped == 1 and not h.stats.failed


def test_regex_router_picks_the_routes_table_as_kafka_connect_renames_the_topic() -> None:
    from sinkapp.config import build_settings
    from sinkapp.config.routes import build_routes
    from sinkapp.worker.app import routes_with_transforms

    raw = dict(BASE, **{"topics": "dbserver1.inventory.customers,other",
                        "starrocks.topic2table.map": "customers_v2:cust",
                        "transforms": "route", "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
                        "transforms.route.regex": r"([^.]+)\.([^.]+)\.([^.]+)",
                        "transforms.route.replacement": "$3_v2"})
    s = build_settings(raw)
    routes = routes_with_transforms(s, build_routes(s), build_chain(s.transforms))
    assert [(r.topic, r.table) for r in routes] == [("dbserver1.inventory.customers", "cust"), ("other", "other")]
    with pytest.raises(ConfigError, match="option 'regex' is required"):
        build_chain([TransformSpec("r", "RegexRouter", {})])


def test_debezium_semantic_types_in_avro_schemas_become_starrocks_text() -> None:
    """Debezium's Avro converter marks its types with connect.name (no logicalType)."""
    import io

    import fastavro

    from sinkapp.converters.avro import parse_writer_schema

    schema = {"type": "record", "name": "Value", "namespace": "db.t", "fields": [
        {"name": "d", "type": {"type": "int", "connect.name": "io.debezium.time.Date"}},
        {"name": "ts", "type": {"type": "long", "connect.name": "io.debezium.time.MicroTimestamp"}},
        {"name": "z", "type": ["null", {"type": "string", "connect.name": "io.debezium.time.ZonedTimestamp"}]},
        {"name": "amount", "type": {"type": "record", "name": "VariableScaleDecimal", "namespace": "io.debezium.data",
                                    "connect.name": "io.debezium.data.VariableScaleDecimal",
                                    "fields": [{"name": "scale", "type": "int"}, {"name": "value", "type": "bytes"}]}},
    ]}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), {
        "d": 19_000, "ts": 1_700_000_000_123_456, "z": "2024-01-02T03:04:05Z",
        "amount": {"scale": 2, "value": (12345).to_bytes(2, "big", signed=True)}})
    buf.seek(0)
    got = fastavro.schemaless_reader(buf, parse_writer_schema(orjson.dumps(schema).decode()), None)
    assert got == {"d": "2022-01-08", "ts": "2023-11-14 22:13:20.123456", "z": "2024-01-02 03:04:05",
                   "amount": "123.45"}


def test_zoned_timestamps_convert_to_utc_or_sinkapp_timezone() -> None:
    from sinkapp.converters.simple import DEBEZIUM_TYPES, set_zone

    zoned = DEBEZIUM_TYPES["io.debezium.time.ZonedTimestamp"]
    try:
        assert zoned("2024-01-02T03:04:05.5+02:00") == "2024-01-02 01:04:05.500000"
        assert DEBEZIUM_TYPES["io.debezium.time.ZonedTime"]("03:04:05.5+02:00") == "01:04:05.500000"
        set_zone("Asia/Shanghai")
        assert zoned("2024-01-02T03:04:05Z") == "2024-01-02 11:04:05"
        with pytest.raises(ConfigError, match="not an IANA time zone"):
            set_zone("Mars/Olympus")
    finally:
        set_zone("UTC")


async def test_table_by_field_loads_one_batch_into_several_tables_under_their_own_labels() -> None:
    """Rows go to the table named by a field; one table batch per table, each labelled with its
    table and its members' offsets; the partition commits once every table's load succeeded."""
    from sinkapp.errors import LoadRetriable
    from tests.pipeline_fakes import FakeClient, harness

    chain = build_chain([TransformSpec("r", "TableByField", {"field": "$.kind", "format": "events_{}",
                                                              "remove": "true"})])
    client = FakeClient(outcomes=[None, LoadRetriable("500")])     # the second table's first try fails
    h = harness(topics=("events",), table="events_other", chain=chain, client=client, max_rows=10**6,
                label_prefix="x")
    kinds = ["click", "view", "click", "view", "click"]
    values = {i: orjson.dumps({"id": i, "kind": k}) for i, k in enumerate(kinds)}
    await h.take(h.batch(0, range(0, 5), values=values, topic="events"))
    await h.flush()
    by_label = {label: rows for _, label, rows in client.attempts}
    assert by_label["x-events_click-events-0-0-4"] == [{"id": 0}, {"id": 2}, {"id": 4}]
    assert by_label["x-events_view-events-0-0-4"] == [{"id": 1}, {"id": 3}]
    assert [t for t, _, _ in client.attempts] == ["events_click", "events_view", "events_view"]   # same label
    assert h.control.marks("events") == [(0, 4)] and h.stats.rows_loaded == 5 and h.stats.loads == 2


def test_table_by_field_refuses_a_value_that_is_no_table_name() -> None:
    with pytest.raises(TransformError, match="not a valid table name"):
        run([("r", "TableByField", {"field": "kind"})], {"kind": "drop table x;"})
    with pytest.raises(TransformError, match="is missing"):
        run([("r", "TableByField", {"field": "kind"})], {"id": 1})
