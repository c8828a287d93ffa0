"""sinkapp.tableshape without I/O: every mapped type, hostile names and type parameters, the DDL
text, Debezium envelopes and keys, and compatible()."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot
from google.protobuf import descriptor_pool

from sinkapp.converters.protobuf_schema import BUILTIN_TEXT, WKT_FILES, parse_proto
from sinkapp.errors import ConfigError, ConversionError, SchemaMappingError
from sinkapp.tableshape import (
    Column,
    add_columns_sql,
    avro_columns,
    check_identifier,
    compatible,
    connect_columns,
    create_table_sql,
    json_schema_columns,
    key_columns,
    protobuf_columns,
    quote,
    row_schema,
)


def avro_type(t: Any, **field: Any) -> Column:
    (col,) = avro_columns({"type": "record", "name": "r", "fields": [{"name": "f", "type": t, **field}]})
    return col


def dec(p: Any, s: Any, kind: str = "bytes") -> dict[str, Any]:
    extra = {"name": "d", "size": 16} if kind == "fixed" else {}
    return {"type": kind, "logicalType": "decimal", "precision": p, "scale": s, **extra}


# -- Avro ----------------------------------------------------------------------------------------
AVRO = [
    ("boolean", "BOOLEAN"), ("int", "INT"), ("long", "BIGINT"), ("float", "FLOAT"), ("double", "DOUBLE"),
    ("string", "STRING"), ("bytes", "STRING"),
    ({"type": "int", "connect.type": "int8"}, "TINYINT"), ({"type": "int", "connect.type": "int16"}, "SMALLINT"),
    (dec(10, 2), "DECIMAL(10,2)"), (dec(38, 38), "DECIMAL(38,38)"), (dec(30, 2, "fixed"), "DECIMAL(30,2)"),
    (dec(39, 2), "STRING"), (dec(1000, 2), "STRING"), (dec(0, 0), "STRING"), (dec(5, 7), "STRING"),
    (dec(None, 2), "STRING"), (dec("12", "3"), "DECIMAL(12,3)"),
    ({"type": "int", "logicalType": "date"}, "DATE"),
    ({"type": "int", "logicalType": "time-millis"}, "VARCHAR(32)"),
    ({"type": "long", "logicalType": "time-micros"}, "VARCHAR(32)"),
    ({"type": "long", "logicalType": "timestamp-millis"}, "DATETIME"),
    ({"type": "long", "logicalType": "timestamp-micros"}, "DATETIME"),
    ({"type": "long", "logicalType": "local-timestamp-millis"}, "DATETIME"),
    ({"type": "long", "logicalType": "local-timestamp-micros"}, "DATETIME"),
    ({"type": "long", "logicalType": "timestamp-nanos"}, "BIGINT"),       # not rendered: the long itself
    ({"type": "long", "logicalType": "date"}, "BIGINT"),                  # invalid pair: the long itself
    ({"type": "string", "logicalType": "uuid"}, "VARCHAR(36)"),
    ({"type": "fixed", "name": "u", "size": 16, "logicalType": "uuid"}, "VARCHAR(36)"),
    ({"type": "enum", "name": "e", "symbols": ["A", "B"]}, "STRING"),
    ({"type": "fixed", "name": "x", "size": 4}, "STRING"),
    ({"type": "array", "items": "int"}, "JSON"), ({"type": "map", "values": "long"}, "JSON"),
    ({"type": "record", "name": "n", "fields": [{"name": "a", "type": "int"}]}, "JSON"),
    (["string", "long"], "STRING"),
    ({"type": "long", "connect.name": "io.debezium.time.MicroTimestamp"}, "DATETIME"),
    ({"type": "int", "connect.name": "io.debezium.time.Date"}, "DATE"),
    ({"type": "string", "connect.name": "io.debezium.data.Json"}, "JSON"),
    ({"type": "record", "name": "vsd", "connect.name": "io.debezium.data.VariableScaleDecimal",
      "fields": [{"name": "scale", "type": "int"}, {"name": "value", "type": "bytes"}]}, "STRING"),
]


@pytest.mark.parametrize(("avro", "starrocks"), AVRO, ids=[str(a)[:50] for a, _ in AVRO])
def test_avro_types(avro: Any, starrocks: str) -> None:
    col = avro_type(avro)
    assert (col.type, col.nullable) == (starrocks, False)


def test_avro_unions_defaults_sources_and_named_references() -> None:
    assert avro_type(["null", "long"], default=None) == Column("f", "BIGINT", True, True, "long")
    assert avro_type(["null", "string", "long"]) == Column("f", "STRING", True, False, "union[null,string,long]")
    assert avro_type(dec(10, 2)).source == "bytes(decimal 10,2)"
    schema = {"type": "record", "name": "r", "namespace": "ns", "fields": [
        {"name": "a", "type": {"type": "enum", "name": "E", "symbols": ["X"]}},
        {"name": "b", "type": ["null", "E"]}, {"name": "c", "type": "ns.E"}]}
    assert [(c.type, c.nullable) for c in avro_columns(schema)] == [("STRING", False), ("STRING", True),
                                                                    ("STRING", False)]
    with pytest.raises(SchemaMappingError, match="'f' is always null") as info:
        avro_type("null")
    assert info.value.field == "f" and isinstance(info.value, ConversionError)
    with pytest.raises(SchemaMappingError, match="named type 'Missing'"):
        avro_type("Missing")


def test_avro_columns_takes_the_converters_parsed_schema() -> None:
    from sinkapp.converters.avro import parse_writer_schema
    text = ('{"type":"record","name":"r","fields":[{"name":"d","type":{"type":"bytes","logicalType":"decimal",'
            '"precision":10,"scale":2}},{"name":"t","type":{"type":"long","connect.name":'
            '"io.debezium.time.MicroTime"}},{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}]}')
    parsed = parse_writer_schema(text)
    assert parsed["fields"][0]["type"]["logicalType"] == "sinkapp.decimal"
    assert [c.type for c in avro_columns(parsed)] == [c.type for c in avro_columns(text)] == [
        "DECIMAL(10,2)", "VARCHAR(32)", "DATETIME"]


@pytest.mark.parametrize("bad", ["10); DROP TABLE t; --", 10.5, True, [10]])
def test_a_decimal_parameter_that_is_not_an_integer_is_refused(bad: Any) -> None:
    with pytest.raises(SchemaMappingError, match="decimal precision .* is not an integer") as info:
        avro_type(dec(bad, 2))
    assert info.value.field == "f"
    with pytest.raises(SchemaMappingError, match="decimal scale"):
        connect_columns({"type": "struct", "fields": [{"field": "x", "type": "bytes", "name":
                         "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2); DROP"}}]})


# -- Connect / Debezium --------------------------------------------------------------------------
def cfield(t: str, name: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": t, "field": "f", **({"name": name} if name else {}), **extra}


CONNECT = [
    (cfield("int8"), "TINYINT"), (cfield("int16"), "SMALLINT"), (cfield("int32"), "INT"),
    (cfield("int64"), "BIGINT"), (cfield("float"), "FLOAT"), (cfield("double"), "DOUBLE"),
    (cfield("boolean"), "BOOLEAN"), (cfield("string"), "STRING"), (cfield("bytes"), "STRING"),
    (cfield("array", items={"type": "int32"}), "JSON"), (cfield("map", keys={"type": "string"},
                                                                values={"type": "int32"}), "JSON"),
    (cfield("struct", fields=[]), "JSON"),
    (cfield("bytes", "org.apache.kafka.connect.data.Decimal",
            parameters={"scale": "2", "connect.decimal.precision": "10"}), "DECIMAL(10,2)"),
    (cfield("bytes", "org.apache.kafka.connect.data.Decimal", parameters={"scale": "2"}), "STRING"),
    (cfield("bytes", "org.apache.kafka.connect.data.Decimal",
            parameters={"scale": "2", "connect.decimal.precision": "64"}), "STRING"),
    (cfield("int32", "org.apache.kafka.connect.data.Date"), "DATE"),
    (cfield("int32", "org.apache.kafka.connect.data.Time"), "VARCHAR(32)"),
    (cfield("int64", "org.apache.kafka.connect.data.Timestamp"), "DATETIME"),
    (cfield("int32", "io.debezium.time.Date"), "DATE"), (cfield("int32", "io.debezium.time.Time"), "VARCHAR(32)"),
    (cfield("int64", "io.debezium.time.MicroTime"), "VARCHAR(32)"),
    (cfield("int64", "io.debezium.time.NanoTime"), "VARCHAR(32)"),
    (cfield("string", "io.debezium.time.ZonedTime"), "VARCHAR(32)"),
    (cfield("int64", "io.debezium.time.Timestamp"), "DATETIME"),
    (cfield("int64", "io.debezium.time.MicroTimestamp"), "DATETIME"),
    (cfield("int64", "io.debezium.time.NanoTimestamp"), "DATETIME"),
    (cfield("string", "io.debezium.time.ZonedTimestamp"), "DATETIME"),
    (cfield("int32", "io.debezium.time.Year"), "INT"),
    (cfield("struct", "io.debezium.data.VariableScaleDecimal", fields=[]), "STRING"),
    (cfield("string", "io.debezium.data.Json"), "JSON"), (cfield("string", "io.debezium.data.Uuid"), "VARCHAR(36)"),
    (cfield("string", "io.debezium.data.Enum"), "STRING"), (cfield("string", "io.debezium.data.EnumSet"), "STRING"),
    (cfield("bytes", "io.debezium.data.Bits"), "STRING"), (cfield("string", "io.debezium.data.Xml"), "STRING"),
    (cfield("int64", "io.debezium.time.MicroDuration"), "BIGINT"),        # other names: the underlying type
]


@pytest.mark.parametrize(("schema", "starrocks"), CONNECT, ids=[f"{s.get('name', s['type'])}-{t}" for s, t in CONNECT])
def test_connect_and_debezium_types(schema: dict[str, Any], starrocks: str) -> None:
    (col,) = connect_columns({"type": "struct", "fields": [schema]})
    assert col.type == starrocks


def test_connect_optional_default_and_refusals() -> None:
    cols = connect_columns({"type": "struct", "fields": [cfield("int64", optional=True, default=5),
                                                         {"type": "string", "field": "g"}]})
    assert cols == [Column("f", "BIGINT", True, True, "int64"), Column("g", "STRING", False, False, "string")]
    with pytest.raises(SchemaMappingError, match="not a Connect struct"):
        connect_columns({"type": "string"})
    with pytest.raises(SchemaMappingError, match="schema type 'uuid', which Kafka's JsonConverter does not write "
                                                 r"\(it writes int8, .*float, double, boolean") as info:
        connect_columns({"type": "struct", "fields": [cfield("uuid")]})
    assert info.value.field == "f"
    with pytest.raises(SchemaMappingError, match="'float64'"):   # the Schema.Type enum name: JsonConverter never writes it
        connect_columns({"type": "struct", "fields": [cfield("float64")]})


def connect_envelope() -> dict[str, Any]:
    row = {"type": "struct", "optional": True, "name": "db.shop.orders.Value", "fields": [
        {"type": "int64", "field": "id"}, {"type": "string", "optional": True, "field": "note"},
        {"type": "int64", "name": "io.debezium.time.MicroTimestamp", "field": "at"}]}
    return {"type": "struct", "name": "db.shop.orders.Envelope", "fields": [
        {**row, "field": "before"}, {**row, "field": "after"},
        {"type": "struct", "field": "source", "fields": []}, {"type": "string", "field": "op"},
        {"type": "int64", "optional": True, "field": "ts_ms"}]}


def avro_envelope() -> dict[str, Any]:
    value = {"type": "record", "name": "Value", "namespace": "db.shop.orders", "fields": [
        {"name": "id", "type": "long"}, {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "at", "type": {"type": "long", "connect.name": "io.debezium.time.MicroTimestamp"}}]}
    return {"type": "record", "name": "Envelope", "namespace": "db.shop.orders", "fields": [
        {"name": "before", "type": ["null", value], "default": None},
        {"name": "after", "type": ["null", "Value"], "default": None},
        {"name": "source", "type": {"type": "record", "name": "Source", "fields": []}},
        {"name": "op", "type": "string"}, {"name": "ts_ms", "type": ["null", "long"]}]}


def test_debezium_row_schema_is_the_after_struct_without_op() -> None:
    want = [("id", "BIGINT", False), ("note", "STRING", True), ("at", "DATETIME", False)]
    assert [(c.name, c.type, c.nullable) for c in row_schema(connect_envelope(), "connect")] == want
    assert [(c.name, c.type, c.nullable) for c in row_schema(avro_envelope(), "avro")] == want
    import json

    from sinkapp.converters.avro import parse_writer_schema
    parsed = parse_writer_schema(json.dumps(avro_envelope()))     # "Value" is a reference in "after"
    assert [(c.name, c.type, c.nullable) for c in row_schema(parsed, "avro")] == want
    with pytest.raises(SchemaMappingError, match="not a Debezium change event"):
        row_schema({"type": "struct", "fields": [{"type": "int64", "field": "id"}]}, "connect")


def test_key_columns_of_a_key_struct() -> None:
    assert key_columns({"type": "struct", "fields": [{"type": "int64", "field": "id"},
                                                     {"type": "string", "field": "region"}]}, "connect") == ["id", "region"]
    assert key_columns({"type": "record", "name": "Key", "fields": [{"name": "id", "type": "long"}]}, "avro") == ["id"]
    assert key_columns({"type": "object", "properties": {"id": {"type": "integer"}}}, "jsonschema") == ["id"]
    with pytest.raises(SchemaMappingError, match="not an Avro record"):
        key_columns("\"long\"", "avro")


# -- JSON Schema ---------------------------------------------------------------------------------
JSONS = [
    ({"type": "boolean"}, "BOOLEAN"), ({"type": "integer"}, "BIGINT"), ({"type": "number"}, "DOUBLE"),
    ({"type": "integer", "connect.type": "int8"}, "TINYINT"), ({"type": "integer", "connect.type": "int16"}, "SMALLINT"),
    ({"type": "integer", "connect.type": "int32"}, "INT"), ({"type": "number", "connect.type": "float32"}, "FLOAT"),
    ({"type": "string"}, "STRING"), ({"type": "string", "format": "date"}, "DATE"),
    ({"type": "string", "format": "date-time"}, "STRING"), ({"type": "string", "format": "uuid"}, "VARCHAR(36)"),
    ({"type": "object", "properties": {"a": {"type": "integer"}}}, "JSON"), ({"type": "array"}, "JSON"),
    ({"enum": ["A", "B"]}, "STRING"), ({}, "STRING"), ({"type": ["string", "integer"]}, "STRING"),
    ({"$ref": "#/definitions/Money"}, "DOUBLE"),
]


@pytest.mark.parametrize(("prop", "starrocks"), JSONS, ids=[str(p)[:40] for p, _ in JSONS])
def test_json_schema_types(prop: dict[str, Any], starrocks: str) -> None:
    schema = {"type": "object", "properties": {"f": prop}, "required": ["f"],
              "definitions": {"Money": {"type": "number"}}}
    assert json_schema_columns(schema)[0].type == starrocks


def test_json_schema_nullability() -> None:
    schema = {"type": "object", "required": ["a", "b", "c"], "properties": {
        "a": {"type": "integer"}, "b": {"type": ["integer", "null"]},
        "c": {"oneOf": [{"type": "null"}, {"type": "string", "format": "date"}]}, "d": {"type": "integer", "default": 1}}}
    assert json_schema_columns(schema) == [
        Column("a", "BIGINT", False, False, "integer"), Column("b", "BIGINT", True, False, "integer"),
        Column("c", "DATE", True, False, "string(date)"), Column("d", "BIGINT", True, True, "integer")]
    with pytest.raises(SchemaMappingError, match="not an object with properties"):
        json_schema_columns({"type": "array"})
    with pytest.raises(SchemaMappingError, match="only local references"):
        json_schema_columns({"type": "object", "properties": {"x": {"$ref": "http://x/y.json"}}})


# -- Protobuf ------------------------------------------------------------------------------------
PROTO = """syntax = "proto3"; package t.v1;
import "google/protobuf/timestamp.proto"; import "google/protobuf/wrappers.proto";
import "google/protobuf/duration.proto"; import "google/protobuf/struct.proto";
import "google/type/date.proto"; import "google/type/timeofday.proto"; import "confluent/type/decimal.proto";
enum Status { NEW = 0; DONE = 1; }
message Inner { int32 a = 1; }
message M {
  double f_double = 1; float f_float = 2; int32 f_int32 = 3; int64 f_int64 = 4; uint32 f_uint32 = 5;
  uint64 f_uint64 = 6; sint32 f_sint32 = 7; sint64 f_sint64 = 8; fixed32 f_fixed32 = 9; fixed64 f_fixed64 = 10;
  sfixed32 f_sfixed32 = 11; sfixed64 f_sfixed64 = 12; bool f_bool = 13; string f_string = 14; bytes f_bytes = 15;
  Status f_enum = 16; Inner f_inner = 17; repeated int32 f_repeated = 18; map<string, int64> f_map = 19;
  google.protobuf.Timestamp f_ts = 20; google.protobuf.Int64Value f_i64w = 21; google.protobuf.StringValue f_sw = 22;
  google.protobuf.UInt64Value f_u64w = 23; google.protobuf.BoolValue f_bw = 24; google.protobuf.Duration f_dur = 25;
  google.protobuf.Struct f_struct = 26; google.type.Date f_date = 27; google.type.TimeOfDay f_tod = 28;
  confluent.type.Decimal f_dec = 29; optional int32 f_opt = 30;
  oneof choice { string o_text = 31; int64 o_num = 32; }
  google.protobuf.DoubleValue f_dw = 33; google.protobuf.Value f_value = 34;
}
"""
PROTO_TYPES = {
    "f_double": ("DOUBLE", False), "f_float": ("FLOAT", False), "f_int32": ("INT", False), "f_int64": ("BIGINT", False),
    "f_uint32": ("BIGINT", False), "f_uint64": ("LARGEINT", False), "f_sint32": ("INT", False),
    "f_sint64": ("BIGINT", False), "f_fixed32": ("BIGINT", False), "f_fixed64": ("LARGEINT", False),
    "f_sfixed32": ("INT", False), "f_sfixed64": ("BIGINT", False), "f_bool": ("BOOLEAN", False),
    "f_string": ("STRING", False), "f_bytes": ("STRING", False), "f_enum": ("STRING", False),
    "f_inner": ("JSON", True), "f_repeated": ("JSON", False), "f_map": ("JSON", False), "f_ts": ("DATETIME", True),
    "f_i64w": ("BIGINT", True), "f_sw": ("STRING", True), "f_u64w": ("LARGEINT", True), "f_bw": ("BOOLEAN", True),
    "f_dur": ("STRING", True), "f_struct": ("JSON", True), "f_date": ("DATE", True), "f_tod": ("VARCHAR(32)", True),
    "f_dec": ("STRING", True), "f_opt": ("INT", True), "o_text": ("STRING", True), "o_num": ("BIGINT", True),
    "f_dw": ("DOUBLE", True), "f_value": ("STRING", True),
}


def proto_descriptor(text: str, message: str) -> Any:
    """A descriptor built the way ProtobufConverter builds one (its .proto parser and pool)."""
    pool = descriptor_pool.DescriptorPool()
    for blob in WKT_FILES.values():
        pool.AddSerializedFile(blob)
    for name, builtin in BUILTIN_TEXT.items():
        pool.Add(parse_proto(builtin, name))
    pool.Add(parse_proto(text, "t.proto"))
    return pool.FindMessageTypeByName(message)


def test_protobuf_types_and_presence() -> None:
    cols = protobuf_columns(proto_descriptor(PROTO, "t.v1.M"))
    assert {c.name: (c.type, c.nullable) for c in cols} == PROTO_TYPES
    by = {c.name: c for c in cols}
    assert (by["f_map"].source, by["f_repeated"].source, by["f_enum"].source) == (
        "map<string,int64>", "repeated int32", "enum t.v1.Status")
    p2 = proto_descriptor('syntax = "proto2"; package p; message K { required int64 id = 1; '
                          'optional string s = 2 [default = "x"]; optional int32 n = 3; }', "p.K")
    assert protobuf_columns(p2) == [Column("id", "BIGINT", False, False, "int64"),
                                    Column("s", "STRING", True, True, "string"),
                                    Column("n", "INT", True, False, "int32")]


# -- identifiers and DDL text --------------------------------------------------------------------
HOSTILE = "a`; DROP TABLE t; --"


def col(name: str, type_: str = "BIGINT", nullable: bool = True) -> Column:
    return Column(name, type_, nullable, False, type_.lower())


def one_statement(sql: str) -> Any:
    trees = sqlglot.parse(sql, read="starrocks")
    assert len(trees) == 1, sql
    return trees[0]


@pytest.mark.parametrize("name", [HOSTILE, "a`b", "x" * 200, "x" * 1024, "prix_€", "名前", "order-id", "with space",
                                  "Select", "__deleted"])
def test_names_starrocks_takes_are_backquoted_with_backquotes_doubled(name: str) -> None:
    assert check_identifier(name, "column") == name == check_identifier(name, "table")
    (c,) = avro_columns({"type": "record", "name": "r", "fields": [{"name": name, "type": "long"}]})
    sql = create_table_sql("shop", "t", [c], [name], None, {})
    assert f"({quote(name)} BIGINT NOT NULL" in sql.replace("\n  ", "")
    tree = one_statement(sql)
    assert [e.name for e in tree.this.expressions if isinstance(e, sqlglot.exp.ColumnDef)] == [name]
    (alter,) = add_columns_sql("shop", "t", [c])
    assert alter == f"ALTER TABLE `shop`.`t` ADD COLUMN {quote(name)} BIGINT NULL"
    assert one_statement(alter).args["actions"][0].name == name


def test_quote() -> None:
    assert quote(HOSTILE) == "`a``; DROP TABLE t; --`"
    assert quote("a``b") == "`a````b`"


@pytest.mark.parametrize(("name", "why"), [
    ("", "it is empty"), ("x" * 1025, "1025 characters"), ("a\0b", "control character"), ("a\nb", "control"),
    ("a\x7fb", "control"), ("a=b", "cannot contain ="), ("a*", "cannot contain \\*"), ("x<y>", "cannot contain < >"),
    ("__starrocks_shadow_x", "shadow"), ("__op", "upsert/delete flag"), ("__OP", "upsert/delete flag"),
])
def test_column_names_starrocks_cannot_take_are_refused_naming_the_field(name: str, why: str) -> None:
    with pytest.raises(SchemaMappingError, match=why) as info:
        avro_columns({"type": "record", "name": "r", "fields": [{"name": name, "type": "long"}]})
    assert info.value.field == name
    with pytest.raises(SchemaMappingError):
        connect_columns({"type": "struct", "fields": [{"field": name, "type": "int64"}]})
    with pytest.raises(SchemaMappingError):
        create_table_sql("shop", "t", [col(name)], [], None, {})


def test_table_and_database_names() -> None:
    assert check_identifier("a=b", "table") == "a=b"              # FeNameFormat: only NUL is refused in tables
    for db in ("", "1shop", "shop-db", "名前", "a" * 257, HOSTILE):
        with pytest.raises(SchemaMappingError, match="database name"):
            create_table_sql(db, "t", [col("id")], [], None, {})
    assert check_identifier("_1shop", "database") == "_1shop"
    sql = create_table_sql("shop", HOSTILE, [col("id")], [], None, {})
    assert sql.startswith("CREATE TABLE IF NOT EXISTS `shop`.`a``; DROP TABLE t; --` (")
    assert one_statement(sql).this.this.name == HOSTILE
    with pytest.raises(ValueError):
        check_identifier("x", "index")


def test_create_table_primary_key_shape() -> None:
    cols = [col("note", "STRING"), col("Region", "VARCHAR(36)"), col("id", "BIGINT"), col("at", "DATETIME")]
    sql = create_table_sql("shop", "orders", cols, ["id", "region"], 8, {"replication_num": "1"})
    assert sql == (
        "CREATE TABLE IF NOT EXISTS `shop`.`orders` (\n"
        "  `id` BIGINT NOT NULL,\n  `Region` VARCHAR(36) NOT NULL,\n  `note` STRING NULL,\n  `at` DATETIME NULL\n)\n"
        "PRIMARY KEY(`id`, `Region`)\nDISTRIBUTED BY HASH(`id`, `Region`) BUCKETS 8\n"
        'PROPERTIES ("replication_num" = "1")')


def test_create_table_duplicate_key_shape() -> None:
    cols = [col("payload", "JSON"), col("score", "DOUBLE"), col("at", "DATETIME"), col("id", "BIGINT")]
    assert create_table_sql("shop", "events", cols, [], None, {}) == (
        "CREATE TABLE IF NOT EXISTS `shop`.`events` (\n"
        "  `at` DATETIME NULL,\n  `payload` JSON NULL,\n  `score` DOUBLE NULL,\n  `id` BIGINT NULL\n)\n"
        "DUPLICATE KEY(`at`)\nDISTRIBUTED BY RANDOM")
    with pytest.raises(SchemaMappingError, match="no field can be the table's sort key"):
        create_table_sql("shop", "events", [col("payload", "JSON"), col("score", "DOUBLE")], [], None, {})


def test_create_table_refusals() -> None:
    for key_type in ("DOUBLE", "FLOAT", "DECIMAL(10,2)", "JSON"):
        with pytest.raises(SchemaMappingError, match="PRIMARY KEY cannot be") as info:
            create_table_sql("shop", "t", [col("k", key_type), col("v")], ["k"], None, {})
        assert info.value.field == "k"
    with pytest.raises(SchemaMappingError, match="key field 'nope' is not a field") as info:
        create_table_sql("shop", "t", [col("id")], ["nope"], None, {})
    with pytest.raises(SchemaMappingError, match="'Id' and 'id' are the same StarRocks column"):
        create_table_sql("shop", "t", [col("Id"), col("id")], [], None, {})
    with pytest.raises(SchemaMappingError, match="no column"):
        create_table_sql("shop", "t", [], [], None, {})
    for bad_type in ("BIGINT); DROP TABLE t; --", "DECIMAL(10); DROP", "DECIMAL(39,2)", "DECIMAL(5,7)",
                     "VARCHAR(0)", "VARCHAR(2000000)", "ARRAY<INT>", "bigint unsigned", ""):
        with pytest.raises(SchemaMappingError, match="is not a column type sinkapp creates"):
            create_table_sql("shop", "t", [col("id"), col("v", bad_type)], ["id"], None, {})
        with pytest.raises(SchemaMappingError):
            add_columns_sql("shop", "t", [col("v", bad_type)])
    for buckets in (0, -1, 1025, True, 2.5, "4"):
        with pytest.raises(ConfigError, match="bucket count"):
            create_table_sql("shop", "t", [col("id")], ["id"], buckets, {})  # type: ignore[arg-type]
    for props in ({"": "1"}, {"a": 1}, {"a": "x\0y"}):
        with pytest.raises(ConfigError, match="table property"):
            create_table_sql("shop", "t", [col("id")], ["id"], None, props)  # type: ignore[arg-type]


def test_property_values_are_string_literals() -> None:
    props = {"k\"ey": 'v"); DROP TABLE t; --', "back\\slash": "line\nbreak\ttab\\"}
    sql = create_table_sql("shop", "t", [col("id")], ["id"], None, props)
    assert sql.endswith('PROPERTIES ("k\\"ey" = "v\\"); DROP TABLE t; --", '
                        '"back\\\\slash" = "line\\nbreak\\ttab\\\\")')
    tree = one_statement(sql)
    got = {p.this.name: p.text("value") for p in tree.args["properties"].expressions
           if isinstance(p, sqlglot.exp.Property) and isinstance(p.this, sqlglot.exp.Literal)}
    assert got == props


def test_add_columns_is_one_statement_per_column_always_null() -> None:
    cols = [col("a", "DECIMAL(12,2)", nullable=False), col("b", "JSON")]
    assert add_columns_sql("shop", "t", cols) == [
        "ALTER TABLE `shop`.`t` ADD COLUMN `a` DECIMAL(12,2) NULL", "ALTER TABLE `shop`.`t` ADD COLUMN `b` JSON NULL"]


# -- compatible ----------------------------------------------------------------------------------
COMPAT = [
    ("BIGINT", "BIGINT", True), ("bigint(20)", "BIGINT", True), ("bigint(20)", "INT", True),
    ("INT", "BIGINT", False), ("int(11)", "SMALLINT", True), ("tinyint(4)", "TINYINT", True),
    ("LARGEINT", "BIGINT", True), ("largeint(40)", "LARGEINT", True), ("bigint(20) unsigned", "BIGINT", True),
    ("SMALLINT", "BOOLEAN", True), ("BOOLEAN", "BOOLEAN", True), ("tinyint(1)", "BOOLEAN", True),
    ("BOOLEAN", "INT", False), ("INT", "STRING", False), ("bigint(20)", "VARCHAR(36)", False),
    ("DOUBLE", "FLOAT", True), ("double", "INT", True), ("DOUBLE", "BIGINT", False), ("FLOAT", "DOUBLE", False),
    ("DECIMAL(10,2)", "DECIMAL(10,2)", True), ("decimal(12,4)", "DECIMAL(10,2)", True),
    ("DECIMAL(10,2)", "DECIMAL(12,2)", False), ("DECIMAL(10,2)", "DECIMAL(10,3)", False),
    ("decimal128(38,2)", "BIGINT", True), ("DECIMAL(10,2)", "BIGINT", False), ("DECIMAL(10,2)", "DOUBLE", False),
    ("VARCHAR(65533)", "STRING", True), ("varchar(65533)", "BIGINT", True), ("STRING", "JSON", True),
    ("VARCHAR(36)", "VARCHAR(36)", True), ("VARCHAR(20)", "VARCHAR(36)", False), ("VARCHAR(20)", "BIGINT", True),
    ("VARCHAR(10)", "BIGINT", False), ("VARCHAR(100)", "STRING", False), ("VARCHAR(30)", "DATETIME", True),
    ("CHAR(10)", "DATE", True), ("varchar(65533)", "DECIMAL(38,2)", True),
    ("DATETIME", "DATETIME", True), ("datetime", "DATE", True), ("DATE", "DATETIME", False), ("date", "DATE", True),
    ("JSON", "JSON", True), ("json", "STRING", False), ("JSON", "BIGINT", False),
    ("ARRAY<INT>", "JSON", False), ("BITMAP", "BIGINT", False), ("", "BIGINT", False),
]


@pytest.mark.parametrize(("table_type", "field_type", "ok"), COMPAT)
def test_compatible(table_type: str, field_type: str, ok: bool) -> None:
    assert compatible(table_type, col("c", field_type)) is ok


def test_protobuf_other_well_known_types() -> None:
    text = """syntax = "proto3"; package w;
import "google/protobuf/wrappers.proto"; import "google/protobuf/field_mask.proto";
import "google/protobuf/struct.proto"; import "google/protobuf/any.proto"; import "google/protobuf/empty.proto";
message W { google.protobuf.UInt32Value a = 1; google.protobuf.Int32Value b = 2; google.protobuf.FloatValue c = 3;
  google.protobuf.BytesValue d = 4; google.protobuf.FieldMask e = 5; google.protobuf.ListValue f = 6;
  google.protobuf.Any g = 7; google.protobuf.Empty h = 8; repeated W children = 9; }"""
    cols = protobuf_columns(proto_descriptor(text, "w.W"))
    assert [(c.type, c.nullable) for c in cols] == [
        ("BIGINT", True), ("INT", True), ("FLOAT", True), ("STRING", True), ("STRING", True), ("JSON", True),
        ("JSON", True), ("JSON", True), ("JSON", False)]
