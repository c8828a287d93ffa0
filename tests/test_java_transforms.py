"""The Java connector's transforms as its own tests and Debezium define them:
TimeMillisToStringTransform, ExtractNewRecordState's rewrite mode and add.fields, and top-level
Connect primitives in the decode loop."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from sinkapp.config import ConverterSettings, build_settings
from sinkapp.converters import build_converter
from sinkapp.errors import ConfigError, TransformError
from sinkapp.pipeline.encode import BadRecord, Chunker
from sinkapp.streamload.encoding import build_encoder
from sinkapp.transforms import Meta, TransformSpec, build_chain
from tests.fakes import Record
from tests.test_config import BASE

META = Meta("t", 0, 0, None, None)
TM = "com.starrocks.connector.kafka.transforms.TimeMillisToStringTransform"
JSON = "org.apache.kafka.connect.json.JsonConverter"


def apply(type_: str, options: dict[str, str], value: dict[str, Any], schemas: bool = True) -> list[dict[str, Any]]:
    chain = build_chain([TransformSpec("x", type_, options, schemas)])
    assert chain is not None
    return chain.apply(value, META)


def envelope(fields: dict[str, tuple[str, str | None]], payload: dict[str, Any]) -> bytes:
    schema = {"type": "struct", "fields": [
        {"field": f, "type": t, "optional": True, **({"name": n} if n else {})} for f, (t, n) in fields.items()]}
    return orjson.dumps({"schema": schema, "payload": payload})


TIME = ("int32", "org.apache.kafka.connect.data.Time")


def decoded(fields: dict[str, tuple[str, str | None]], payload: dict[str, Any]) -> Any:
    return build_converter(ConverterSettings(JSON, True)).decode(envelope(fields, payload))


# -- TimeMillisToStringTransform: the vectors of the Java class's own unit test ----------------


@pytest.mark.parametrize(("millis", "default", "with_ms"), [
    (64957000, "18:02:37", "18:02:37.000"), (0, "00:00:00", "00:00:00.000"),
    (86399999, "23:59:59", "23:59:59.999"), (64957123, "18:02:37", "18:02:37.123"),
    (1000, "00:00:01", "00:00:01.000"), (43200000, "12:00:00", "12:00:00.000")])
def test_time_millis_vectors(millis: int, default: str, with_ms: str) -> None:
    value = decoded({"t": TIME}, {"t": millis})
    assert apply(TM, {}, value) == [{"t": default}]
    assert apply(TM, {"format": "HH:mm:ss.SSS"}, value) == [{"t": with_ms}]
    assert apply("TimeMillisToString", {"format": "HH:mm:ss"}, value) == [{"t": default}]


def test_time_millis_auto_detects_time_fields_only_and_keeps_null() -> None:
    value = decoded({"t": TIME, "n": ("int32", None), "d": ("int32", "org.apache.kafka.connect.data.Date"),
                     "u": TIME, "s": ("string", None)},
                    {"t": 64957000, "n": 64957000, "d": 20067, "u": None, "s": "x"})
    (row,) = apply(TM, {"fields": ""}, value)
    assert row == {"t": "18:02:37", "n": 64957000, "d": dt.date(2024, 12, 10), "u": None, "s": "x"}


def test_time_millis_named_fields_convert_only_those() -> None:
    """fields=A: only A (the Java test), and named plain int fields are taken as millis."""
    value = decoded({"A": TIME, "B": TIME, "C": ("int32", None)}, {"A": 64957000, "B": 64957123, "C": 1000})
    assert apply(TM, {"fields": "A"}, value) == [{"A": "18:02:37", "B": dt.time(18, 2, 37, 123000), "C": 1000}]
    assert apply(TM, {"fields": "A , C,missing", "format": "HH:mm:ss.SSS"}, value) == [
        {"A": "18:02:37.000", "B": dt.time(18, 2, 37, 123000), "C": "00:00:01.000"}]
    ts = decoded({"at": ("int64", "org.apache.kafka.connect.data.Timestamp")}, {"at": 1709665689045})
    assert apply(TM, {"fields": "at", "format": "HH:mm:ss.SSS"}, ts) == [{"at": "19:08:09.045"}]
    with pytest.raises(TransformError, match="field 'r' is a record, not a time"):
        apply(TM, {"fields": "r"}, {"r": {"x": 1}})


def test_time_millis_passes_schemaless_values_through() -> None:
    """Java: a record without a value schema is returned as is, even with fields named."""
    assert apply(TM, {"fields": "t"}, {"t": 64957000}, schemas=False) == [{"t": 64957000}]
    s = build_settings(dict(BASE, **{"value.converter": JSON, "value.converter.schemas.enable": "false",
                                     "transforms": "tm", "transforms.tm.type": TM, "transforms.tm.fields": "t"}))
    chain = build_chain(s.transforms)
    assert chain is not None and chain.apply({"t": 1000}, META) == [{"t": 1000}]
    s = build_settings(dict(BASE, **{"value.converter": JSON, "value.converter.schemas.enable": "true",
                                     "transforms": "tm", "transforms.tm.type": TM, "transforms.tm.fields": "t"}))
    chain = build_chain(s.transforms)
    assert chain is not None and chain.apply({"t": 1000}, META) == [{"t": "00:00:01"}]


def test_time_millis_refuses_another_format() -> None:
    with pytest.raises(ConfigError, match=r"transforms.x: format='HH:mm'.*HH:mm:ss \(default\) or HH:mm:ss.SSS"):
        apply(TM, {"format": "HH:mm"}, {})


def test_avro_time_millis_is_a_time_the_transform_finds() -> None:
    from sinkapp.converters.avro import _READERS

    t = _READERS["int-time-millis"](64957123, {})
    assert apply(TM, {}, {"t": t, "n": 5}) == [{"t": "18:02:37", "n": 5}]


# -- Debezium ExtractNewRecordState ------------------------------------------------------------

UNWRAP = "io.debezium.transforms.ExtractNewRecordState"
ADD_OP = "com.starrocks.connector.kafka.transforms.AddOpFieldForDebeziumRecord"


def event(op: str, before: dict | None, after: dict | None) -> dict[str, Any]:
    return {"before": before, "after": after, "op": op, "ts_ms": 1700000000999,
            "source": {"table": "customers", "db": "inv", "lsn": 42, "ts_ms": 1700000000000},
            "transaction": None}


def test_rewrite_marks_every_row() -> None:
    rewrite = {"delete.handling.mode": "rewrite"}
    for op in "cur":
        assert apply(UNWRAP, rewrite, event(op, None, {"id": 1})) == [{"id": 1, "__deleted": "false"}]
    assert apply(UNWRAP, rewrite, event("d", {"id": 1}, None)) == [{"id": 1, "__deleted": "true"}]
    assert apply(UNWRAP, {}, event("c", None, {"id": 1})) == [{"id": 1}]            # drop mode: no marker
    assert apply(UNWRAP, {}, event("d", {"id": 1}, None)) == []
    assert apply("Debezium", {"delete.handling": "rewrite", "add.fields": "table"}, event("u", None, {"id": 2})) \
        == [{"id": 2, "__deleted": "false", "__table": "customers", "__op": 0}]


def test_add_fields_names_as_debezium_does() -> None:
    opts = {"delete.handling.mode": "rewrite", "add.fields": "table,lsn,source.ts_ms,ts_ms,id,db:database"}
    assert apply(UNWRAP, opts, event("d", {"id": 1}, None)) == [{
        "id": 1, "__deleted": "true", "__table": "customers", "__lsn": 42, "__source_ts_ms": 1700000000000,
        "__ts_ms": 1700000000999, "__id": None, "__database": "inv"}]
    assert apply(UNWRAP, {"add.fields": "op", "add.fields.prefix": "dbz_"}, event("c", None, {"id": 1})) == [
        {"id": 1, "dbz_op": "c"}]
    pair = build_chain([TransformSpec("addfield", ADD_OP, {}),
                        TransformSpec("unwrap", UNWRAP, {"delete.handling.mode": "rewrite", "add.fields": "table"})])
    assert pair is not None and pair.apply(event("c", None, {"id": 3}), META) == [
        {"id": 3, "__deleted": "false", "__table": "customers", "__op": 0}]
    with pytest.raises(TransformError, match=r"add.fields: the change event has no source.scn"):
        apply(UNWRAP, {"add.fields": "scn"}, event("c", None, {"id": 1}))


def test_unwrap_options_sinkapp_cannot_honour_are_refused() -> None:
    with pytest.raises(ConfigError, match="__op, which StarRocks reads as its upsert/delete flag"):
        apply(UNWRAP, {"add.fields": "table,op"}, {})
    with pytest.raises(ConfigError, match="__op, which StarRocks reads as its upsert/delete flag"):
        build_chain([TransformSpec("a", ADD_OP, {}), TransformSpec("u", UNWRAP, {"add.fields": "op"})])
    with pytest.raises(ConfigError, match="transforms.x: add.headers='db'.*never reach StarRocks"):
        apply(UNWRAP, {"add.headers": "db"}, {})
    with pytest.raises(ConfigError, match="route.by.field"):
        apply(UNWRAP, {"route.by.field": "table"}, {})
    with pytest.raises(ConfigError, match="delete.handling.mode='soft'"):
        apply(UNWRAP, {"delete.handling.mode": "soft"}, {})


# -- top-level Connect primitives ----------------------------------------------------------------

DECIMAL_156 = (b'{"schema":{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal",'
               b'"parameters":{"scale":"2"}},"payload":"AJw="}')


def chunk(props: dict[str, str], values: list[bytes], chain: Any = None) -> tuple[bytes, list[BadRecord]]:
    chunker = Chunker(build_converter(ConverterSettings(JSON, True)), build_encoder(props), tolerant=True,
                      chain=chain)
    got = chunker.encode([Record("t", 0, i, v) for i, v in enumerate(values)], 0, len(values))
    return bytes(got.data), got.bad


def test_a_top_level_decimal_is_a_one_column_row_for_csv_and_one_column_json() -> None:
    int32 = b'{"schema":{"type":"int32"},"payload":7}'
    assert chunk({"format": "csv"}, [DECIMAL_156, int32]) == (b"1.56\n7", [])
    assert chunk({"format": "json", "columns": "price"}, [DECIMAL_156]) == (b'{"price":"1.56"}', [])


def test_a_top_level_primitive_elsewhere_is_a_bad_record_naming_its_schema() -> None:
    data, bad = chunk({"format": "json"}, [DECIMAL_156])
    assert data == b"" and [b.index for b in bad] == [0]
    assert "a Connect bytes (org.apache.kafka.connect.data.Decimal), not a struct" in str(bad[0])
    assert "sink.properties.columns" in str(bad[0])
    _, bad = chunk({"format": "json", "columns": "a,b"}, [b'{"schema":{"type":"string"},"payload":"x"}'])
    assert "a Connect string, not a struct" in str(bad[0])
    _, bad = chunk({"format": "csv"}, [DECIMAL_156], chain=build_chain([TransformSpec("f", "Flatten", {})]))
    assert "transforms take a struct" in str(bad[0])
