"""java.text.SimpleDateFormat patterns (sinkapp.transforms.javadate) against Java's own output,
and TimestampConverter on logical values.

JAVA below is what ``new SimpleDateFormat(pattern, Locale.US)`` with ``setTimeZone(UTC)`` (as
Kafka Connect's TimestampConverter sets it) printed on OpenJDK 17 for each instant (epoch ms):
1709665689045 = Tuesday 2024-03-05 19:08:09.045 UTC, 0 = Thursday 1970-01-01 00:00:00.000 UTC,
1704067199999 = Sunday 2023-12-31 23:59:59.999 UTC (a one-off ``java Fmt.java`` run; pasted).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from sinkapp.config import ConverterSettings
from sinkapp.converters import build_converter
from sinkapp.errors import ConfigError, TransformError
from sinkapp.streamload.encoding import JsonEncoder
from sinkapp.transforms import Meta, TransformSpec, build_chain
from sinkapp.transforms.javadate import JavaDateFormat

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
META = Meta("t", 0, 0, None, None)

JAVA = [
    (1709665689045, "yyyy", "2024"),
    (1709665689045, "yy", "24"),
    (1709665689045, "y", "2024"),
    (1709665689045, "yyyyy", "02024"),
    (1709665689045, "MM", "03"),
    (1709665689045, "M", "3"),
    (1709665689045, "MMM", "Mar"),
    (1709665689045, "MMMM", "March"),
    (1709665689045, "L", "3"),
    (1709665689045, "dd", "05"),
    (1709665689045, "d", "5"),
    (1709665689045, "D", "65"),
    (1709665689045, "DDD", "065"),
    (1709665689045, "E", "Tue"),
    (1709665689045, "EEE", "Tue"),
    (1709665689045, "EEEE", "Tuesday"),
    (1709665689045, "u", "2"),
    (1709665689045, "a", "PM"),
    (1709665689045, "HH", "19"),
    (1709665689045, "H", "19"),
    (1709665689045, "kk", "19"),
    (1709665689045, "KK", "07"),
    (1709665689045, "hh", "07"),
    (1709665689045, "h", "7"),
    (1709665689045, "mm", "08"),
    (1709665689045, "m", "8"),
    (1709665689045, "ss", "09"),
    (1709665689045, "s", "9"),
    (1709665689045, "SSS", "045"),
    (1709665689045, "SS", "45"),
    (1709665689045, "S", "45"),
    (1709665689045, "SSSS", "0045"),
    (1709665689045, "z", "UTC"),
    (1709665689045, "zzzz", "Coordinated Universal Time"),
    (1709665689045, "Z", "+0000"),
    (1709665689045, "ZZZZ", "+0000"),
    (1709665689045, "X", "Z"),
    (1709665689045, "XX", "Z"),
    (1709665689045, "XXX", "Z"),
    (1709665689045, "G", "AD"),
    (1709665689045, "yyyy-MM-dd HH:mm:ss.SSS", "2024-03-05 19:08:09.045"),
    (1709665689045, "yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2024-03-05T19:08:09.045Z"),
    (1709665689045, "HH:mm:ss", "19:08:09"),
    (1709665689045, "HH:mm:ss.SSS", "19:08:09.045"),
    (1709665689045, "hh:mm a", "07:08 PM"),
    (1709665689045, "'at' HH 'o''clock'", "at 19 o'clock"),
    (1709665689045, "''", "'"),
    (1709665689045, "EEE, d MMM yyyy HH:mm:ss Z", "Tue, 5 Mar 2024 19:08:09 +0000"),
    (1709665689045, "yyyyMMddHHmmss", "20240305190809"),
    (0, "yyyy", "1970"),
    (0, "yy", "70"),
    (0, "y", "1970"),
    (0, "yyyyy", "01970"),
    (0, "MM", "01"),
    (0, "M", "1"),
    (0, "MMM", "Jan"),
    (0, "MMMM", "January"),
    (0, "L", "1"),
    (0, "dd", "01"),
    (0, "d", "1"),
    (0, "D", "1"),
    (0, "DDD", "001"),
    (0, "E", "Thu"),
    (0, "EEE", "Thu"),
    (0, "EEEE", "Thursday"),
    (0, "u", "4"),
    (0, "a", "AM"),
    (0, "HH", "00"),
    (0, "H", "0"),
    (0, "kk", "24"),
    (0, "KK", "00"),
    (0, "hh", "12"),
    (0, "h", "12"),
    (0, "mm", "00"),
    (0, "m", "0"),
    (0, "ss", "00"),
    (0, "s", "0"),
    (0, "SSS", "000"),
    (0, "SS", "00"),
    (0, "S", "0"),
    (0, "SSSS", "0000"),
    (0, "z", "UTC"),
    (0, "zzzz", "Coordinated Universal Time"),
    (0, "Z", "+0000"),
    (0, "ZZZZ", "+0000"),
    (0, "X", "Z"),
    (0, "XX", "Z"),
    (0, "XXX", "Z"),
    (0, "G", "AD"),
    (0, "yyyy-MM-dd HH:mm:ss.SSS", "1970-01-01 00:00:00.000"),
    (0, "yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "1970-01-01T00:00:00.000Z"),
    (0, "HH:mm:ss", "00:00:00"),
    (0, "HH:mm:ss.SSS", "00:00:00.000"),
    (0, "hh:mm a", "12:00 AM"),
    (0, "'at' HH 'o''clock'", "at 00 o'clock"),
    (0, "''", "'"),
    (0, "EEE, d MMM yyyy HH:mm:ss Z", "Thu, 1 Jan 1970 00:00:00 +0000"),
    (0, "yyyyMMddHHmmss", "19700101000000"),
    (1704067199999, "yyyy", "2023"),
    (1704067199999, "yy", "23"),
    (1704067199999, "y", "2023"),
    (1704067199999, "yyyyy", "02023"),
    (1704067199999, "MM", "12"),
    (1704067199999, "M", "12"),
    (1704067199999, "MMM", "Dec"),
    (1704067199999, "MMMM", "December"),
    (1704067199999, "L", "12"),
    (1704067199999, "dd", "31"),
    (1704067199999, "d", "31"),
    (1704067199999, "D", "365"),
    (1704067199999, "DDD", "365"),
    (1704067199999, "E", "Sun"),
    (1704067199999, "EEE", "Sun"),
    (1704067199999, "EEEE", "Sunday"),
    (1704067199999, "u", "7"),
    (1704067199999, "a", "PM"),
    (1704067199999, "HH", "23"),
    (1704067199999, "H", "23"),
    (1704067199999, "kk", "23"),
    (1704067199999, "KK", "11"),
    (1704067199999, "hh", "11"),
    (1704067199999, "h", "11"),
    (1704067199999, "mm", "59"),
    (1704067199999, "m", "59"),
    (1704067199999, "ss", "59"),
    (1704067199999, "s", "59"),
    (1704067199999, "SSS", "999"),
    (1704067199999, "SS", "999"),
    (1704067199999, "S", "999"),
    (1704067199999, "SSSS", "0999"),
    (1704067199999, "z", "UTC"),
    (1704067199999, "zzzz", "Coordinated Universal Time"),
    (1704067199999, "Z", "+0000"),
    (1704067199999, "ZZZZ", "+0000"),
    (1704067199999, "X", "Z"),
    (1704067199999, "XX", "Z"),
    (1704067199999, "XXX", "Z"),
    (1704067199999, "G", "AD"),
    (1704067199999, "yyyy-MM-dd HH:mm:ss.SSS", "2023-12-31 23:59:59.999"),
    (1704067199999, "yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2023-12-31T23:59:59.999Z"),
    (1704067199999, "HH:mm:ss", "23:59:59"),
    (1704067199999, "HH:mm:ss.SSS", "23:59:59.999"),
    (1704067199999, "hh:mm a", "11:59 PM"),
    (1704067199999, "'at' HH 'o''clock'", "at 23 o'clock"),
    (1704067199999, "''", "'"),
    (1704067199999, "EEE, d MMM yyyy HH:mm:ss Z", "Sun, 31 Dec 2023 23:59:59 +0000"),
    (1704067199999, "yyyyMMddHHmmss", "20231231235959"),
]


def _instant(ms: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=ms)


@pytest.mark.parametrize(("ms", "pattern", "java"), JAVA)
def test_each_letter_formats_as_java_does(ms: int, pattern: str, java: str) -> None:
    assert JavaDateFormat(pattern).format(_instant(ms)) == java


@pytest.mark.parametrize(("ms", "pattern", "java"), [r for r in JAVA if r[1] in (
    "yyyy-MM-dd HH:mm:ss.SSS", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "EEE, d MMM yyyy HH:mm:ss Z", "yyyyMMddHHmmss")])
def test_java_text_parses_back_to_the_instant(ms: int, pattern: str, java: str) -> None:
    want = _instant(ms) if "SSS" in pattern else _instant(ms - ms % 1000)
    assert JavaDateFormat(pattern).parse(java) == want


def test_parse_matches_javas_results() -> None:
    """SimpleDateFormat.parse(...).getTime() for these, from the same Java run."""
    for text, pattern, java_ms in [("20240305190809", "yyyyMMddHHmmss", 1709665689000),
                                   ("05/03/24 07:08 PM", "dd/MM/yy hh:mm a", 1709665680000),
                                   ("2024-03-05T21:08:09+02:00", "yyyy-MM-dd'T'HH:mm:ssXXX", 1709665689000),
                                   ("18:02:37.123", "HH:mm:ss.SSS", 64957123)]:
        assert JavaDateFormat(pattern).parse(text) == _instant(java_ms), pattern
    assert JavaDateFormat("yyyy-MM-dd").parse("not a date") is None


def test_letters_java_refuses_or_sinkapp_lacks_are_config_errors_naming_them() -> None:
    # Java: "Illegal pattern character 'T'", "invalid ISO 8601 format: length=4", "Unterminated quote"
    with pytest.raises(ConfigError, match="'T' is not a java.text.SimpleDateFormat letter"):
        JavaDateFormat("yyyy-MM-ddTHH")
    with pytest.raises(ConfigError, match="X takes 1 to 3"):
        JavaDateFormat("XXXX")
    with pytest.raises(ConfigError, match="unterminated quote"):
        JavaDateFormat("'abc")
    with pytest.raises(ConfigError, match=r"'w' \(week in year\) is not supported"):
        JavaDateFormat("yyyy-ww")
    with pytest.raises(ConfigError, match="transforms.ts: format='HH:mm:ss.fff'.*'f'"):
        build_chain([TransformSpec("ts", "TimestampConverter", {"field": "t", "target.type": "string",
                                                                "format": "HH:mm:ss.fff"})])


def run(options: dict[str, str], value: dict[str, Any]) -> Any:
    chain = build_chain([TransformSpec("ts", "TimestampConverter", options)])
    assert chain is not None
    (row,) = chain.apply(value, META)
    return orjson.loads(JsonEncoder().encode_row(row))


def test_sss_is_three_digit_milliseconds() -> None:
    """Kafka Connect: format=HH:mm:ss.SSS gives 18:02:37.123 (sinkapp wrote 18:02:37.123000)."""
    got = run({"field": "t", "target.type": "string", "format": "HH:mm:ss.SSS"}, {"t": 64957123})
    assert got == {"t": "18:02:37.123"}


def test_logical_time_from_a_connect_envelope_reaches_the_converter_as_a_time() -> None:
    """schemas.enable=true: the Time field is a time, not text the converter made (which
    TimestampConverter then refused: "neither HH:mm:ss nor ISO-8601")."""
    conv = build_converter(ConverterSettings("org.apache.kafka.connect.json.JsonConverter", True))
    doc = {"schema": {"type": "struct", "fields": [
        {"field": "t", "type": "int32", "name": "org.apache.kafka.connect.data.Time"},
        {"field": "at", "type": "int64", "name": "org.apache.kafka.connect.data.Timestamp"},
        {"field": "day", "type": "int32", "name": "org.apache.kafka.connect.data.Date"}]},
        "payload": {"t": 64957123, "at": 1709665689045, "day": 19787}}
    value = conv.decode(orjson.dumps(doc))
    assert run({"field": "t", "target.type": "string", "format": "HH:mm:ss"}, value)["t"] == "18:02:37"
    assert run({"field": "at", "target.type": "string", "format": "dd/MM/yyyy hh:mm:ss.SSS a"}, value)["at"] \
        == "05/03/2024 07:08:09.045 PM"
    assert run({"field": "at", "target.type": "unix", "unix.precision": "seconds"}, value)["at"] == 1709665689
    assert run({"field": "day", "target.type": "string", "format": "yyyy-MM-dd"}, value)["day"] == "2024-03-05"
    assert run({"field": "at", "target.type": "Date"}, value)["at"] == "2024-03-05"
    assert run({"field": "at", "target.type": "Time"}, value)["at"] == "19:08:09.045"


def test_text_input_is_parsed_with_the_format_then_iso() -> None:
    opts = {"field": "d", "target.type": "unix", "format": "dd.MM.yyyy HH:mm"}
    assert run(opts, {"d": "05.03.2024 19:08"}) == {"d": 1709665680000}
    assert run(opts, {"d": "2024-03-05T19:08:00Z"}) == {"d": 1709665680000}
    with pytest.raises(TransformError, match="matches neither format 'dd.MM.yyyy HH:mm' nor ISO-8601"):
        run(opts, {"d": "yesterday"})
    with pytest.raises(ConfigError, match="transforms.ts: option 'field' is required"):
        run({"target.type": "unix"}, {})
