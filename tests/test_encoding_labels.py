"""Converters, encoders and labels: the bytes a StarRocks load receives."""

from __future__ import annotations

import base64
import datetime as dt
import re
from decimal import Decimal

import orjson
import pytest

from sinkapp.config.sinkprops import parse_delimiter
from sinkapp.converters.simple import JsonConverter, StringConverter
from sinkapp.errors import ConversionError, EncodingError
from sinkapp.streamload.encoding import CsvEncoder, JsonEncoder, load_headers
from sinkapp.streamload.labels import batch_label, member_label


def test_plain_json_round_trip_and_bad_json() -> None:
    conv = JsonConverter(schemas_enable=False)
    enc = JsonEncoder()
    rows = [enc.encode_row(conv.decode(b'{"a": 1, "b": {"c": "x"}}')), enc.encode_row({"a": 2})]
    assert orjson.loads(bytes(enc.body(rows))) == [{"a": 1, "b": {"c": "x"}}, {"a": 2}]
    assert conv.decode(None) is None
    with pytest.raises(ConversionError, match="not valid JSON"):
        conv.decode(b"{nope")


def test_connect_envelope_logical_types() -> None:
    unscaled = (12345).to_bytes(2, "big", signed=True)
    doc = {
        "schema": {"type": "struct", "fields": [
            {"field": "price", "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
             "parameters": {"scale": "2"}},
            {"field": "day", "type": "int32", "name": "org.apache.kafka.connect.data.Date"},
            {"field": "at", "type": "int64", "name": "org.apache.kafka.connect.data.Timestamp"},
            {"field": "t", "type": "int32", "name": "org.apache.kafka.connect.data.Time"},
            {"field": "n", "type": "int64"}]},
        "payload": {"price": base64.b64encode(unscaled).decode(), "day": 19000,
                    "at": 1700000000123, "t": 3723004, "n": 7},
    }
    value = JsonConverter(schemas_enable=True).decode(orjson.dumps(doc))
    # transforms see the logical values, as in Kafka Connect ...
    assert value == {"price": Decimal("123.45"), "day": dt.date(2022, 1, 8),
                     "at": dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=dt.UTC),
                     "t": dt.time(1, 2, 3, 4000), "n": 7}
    # ... and the body carries the same text as when the converter wrote text itself
    assert orjson.loads(JsonEncoder().encode_row(value)) == {
        "price": "123.45", "day": "2022-01-08", "at": "2023-11-14 22:13:20.123000", "t": "01:02:03.004", "n": 7}
    csv = CsvEncoder({"format": "csv", "column_separator": ",", "columns": "price,day,at,t,n"})
    assert csv.encode_row(value) == b"123.45,2022-01-08,2023-11-14 22:13:20.123000,01:02:03.004,7"


def test_logical_values_encode_as_starrocks_text() -> None:
    from sinkapp.converters.simple import MicrosTime

    csv = CsvEncoder({"format": "csv", "column_separator": ","})
    cases = [(Decimal("1E-10"), "0.0000000001"), (Decimal("1.2E+3"), "1200"), (Decimal("-0.50"), "-0.50"),
             (dt.time(18, 2, 37), "18:02:37.000"), (dt.time(18, 2, 37, 123456), "18:02:37.123456"),
             (MicrosTime(13, 4, 5, 123000), "13:04:05.123000"), (dt.date(2024, 2, 29), "2024-02-29"),
             (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))), "2024-01-02 01:04:05"),
             (dt.datetime(2024, 1, 2, 3, 4, 5, 6), "2024-01-02 03:04:05.000006")]
    for value, text in cases:
        assert orjson.loads(JsonEncoder().encode_row({"v": value})) == {"v": text}, value
        assert csv.encode_row({"v": value}) == text.encode(), value


def test_envelope_missing_is_a_clear_error() -> None:
    with pytest.raises(ConversionError, match="schemas.enable=false for plain JSON"):
        JsonConverter(schemas_enable=True).decode(b'{"a": 1}')


def test_json_encoder_accepts_json_text_rejects_other_text() -> None:
    enc = JsonEncoder()
    assert orjson.loads(enc.encode_row('{"a": 1}')) == {"a": 1}
    with pytest.raises(EncodingError, match="not a JSON object"):
        enc.encode_row("hello")


def test_csv_encoder_columns_separators_enclose() -> None:
    enc = CsvEncoder({"format": "csv", "column_separator": "\\x01", "row_delimiter": "0x0A",
                      "columns": "id, name, tmp, score = tmp * 2", "enclose": '"'})
    assert enc.encode_row({"name": "a", "id": 1, "tmp": None}) == b"1\x01a\x01\\N"
    assert enc.encode_row({"id": 2, "name": 'x\x01"y"', "tmp": True}) == b'2\x01"x\x01""y"""\x011'
    assert bytes(enc.body([b"r1", b"r2"])) == b"r1\nr2\n"
    # a StringConverter value passes through verbatim, as in the Java connector
    assert enc.encode_row(StringConverter().decode(b"1,a,3")) == b"1,a,3"
    bare = CsvEncoder({"column_separator": ","})
    with pytest.raises(EncodingError, match="set sink.properties.enclose"):
        bare.encode_row({"a": "x,y"})


def test_delimiter_forms() -> None:
    assert parse_delimiter("\\x0D0A") == b"\r\n"
    assert parse_delimiter(",") == b","
    assert parse_delimiter("\\t") == b"\t"


def test_headers_default_strip_outer_array_for_json_only() -> None:
    assert load_headers({"jsonpaths": "[]"})["strip_outer_array"] == "true"
    assert "strip_outer_array" not in load_headers({"format": "csv"})
    assert load_headers({"strip_outer_array": "false"})["strip_outer_array"] == "false"


def test_labels_are_deterministic_valid_and_bounded() -> None:
    rx = re.compile(r"^[-\w]{1,128}$", re.ASCII)
    a = member_label("sinkapp", "test123", "orders.v1", 2, 100, 199)
    assert a == member_label("sinkapp", "test123", "orders.v1", 2, 100, 199)
    assert a == "sinkapp-test123-orders_v1-2-100-199"              # the 0.2 format, kept
    assert a == batch_label("sinkapp", "test123", [("orders.v1", 2, 100, 199)])
    assert a != member_label("sinkapp", "test123", "orders.v1", 2, 100, 200)
    long = member_label("p", "t" * 100, "é" * 80, 11, 10**15, 10**15 + 5)
    assert rx.match(long) and long.endswith("-11-1000000000000000-1000000000000005")
    assert long != member_label("p", "t" * 100, "è" * 80, 11, 10**15, 10**15 + 5)


def test_a_table_batch_label_derives_from_its_table_and_every_member() -> None:
    rx = re.compile(r"^[-\w]{1,128}$", re.ASCII)
    members = [("orders", 0, 0, 99), ("orders", 1, 5, 80), ("refunds", 0, 7, 7)]
    a = batch_label("sinkapp", "test123", members)
    assert rx.match(a) and a.startswith("sinkapp-test123-x3-") and len(a) == len("sinkapp-test123-x3-") + 20
    assert a == batch_label("sinkapp", "test123", list(members))
    for changed in ([("orders", 0, 0, 98), *members[1:]], members[:2], [*members[:2], ("refunds", 1, 7, 7)]):
        assert batch_label("sinkapp", "test123", changed) != a
    assert batch_label("sinkapp", "other", members) != a and batch_label("x", "test123", members) != a
    assert batch_label("sinkapp", "test123", members, epoch=1) != a
    huge = batch_label("p" * 40, "t" * 120, [(f"topic{i}", i, 0, 10**12) for i in range(500)])
    assert rx.match(huge) and len(huge) <= 128


def test_decimal_text_is_exact_fixed_point() -> None:
    from sinkapp.converters.simple import decimal_text

    assert decimal_text(1, 10) == "0.0000000001"          # str(Decimal) would say 1E-10
    assert decimal_text(-12345, 2) == "-123.45"
    assert decimal_text(10**40 + 7, 3) == "10000000000000000000000000000000000000.007"
    assert decimal_text(5, 0) == "5"
