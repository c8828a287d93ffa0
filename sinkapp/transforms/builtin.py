"""Built-in transforms with the option names of Kafka Connect's SMTs, plus Filter and Explode.

Who calls: :func:`sinkapp.transforms.build_transform` (registered by short name and by the Kafka
Connect class name of the ``$Value`` variant). Each factory takes the ``transforms.<name>.*``
options and returns ``t(value, meta)``. Pure functions on dicts, no IO.

=====================  ===========================================================  ==================================
short name             Kafka Connect class                                          options
=====================  ===========================================================  ==================================
ExtractField           org.apache.kafka.connect.transforms.ExtractField$Value       field
Flatten                org.apache.kafka.connect.transforms.Flatten$Value            delimiter (default ``.``)
ReplaceField           org.apache.kafka.connect.transforms.ReplaceField$Value       renames (a:b,c:d), include, exclude
InsertField            org.apache.kafka.connect.transforms.InsertField$Value        topic.field, partition.field,
                                                                                    offset.field, timestamp.field,
                                                                                    static.field + static.value
TimestampConverter     org.apache.kafka.connect.transforms.TimestampConverter$Value field, target.type (Timestamp,
                                                                                    Date, Time, unix, string), format,
                                                                                    unix.precision
Filter                 (sinkapp)                                                    field (JSONPath), equals | in |
                                                                                    regex | exists, action drop|keep
Explode                (sinkapp)                                                    field (JSONPath to an array)
=====================  ===========================================================  ==================================
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from jsonpath_ng import parse as jsonpath_parse  # type: ignore[import-untyped]

from sinkapp.converters.simple import format_datetime
from sinkapp.errors import ConfigError, TransformError
from sinkapp.transforms import TABLE_KEY, Meta, Transform, register

_CONNECT = "org.apache.kafka.connect.transforms."


def _need(options: Mapping[str, str], key: str) -> str:
    v = (options.get(key) or "").strip()
    if not v:
        raise ConfigError(f"option {key!r} is required")
    return v


_SIMPLE = re.compile(r"^\$?(?:\.?[A-Za-z_][A-Za-z0-9_]*)(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")


class _KeyPath:
    """A JSONPath made only of field names (``$.a.b``): plain dict lookups, ~50x faster than
    jsonpath-ng's general matcher, which handles every other expression."""

    def __init__(self, text: str) -> None:
        self.keys = [k for k in text.lstrip("$").split(".") if k]

    def values(self, value: dict[str, Any]) -> list[Any]:
        cur: Any = value
        for k in self.keys:
            if not isinstance(cur, dict) or k not in cur:
                return []
            cur = cur[k]
        return [cur]

    def replace(self, value: dict[str, Any], new: Any) -> dict[str, Any]:
        """A copy of ``value`` with the field at this path set to ``new`` (copies along the path)."""
        out = dict(value)
        cur = out
        for k in self.keys[:-1]:
            cur[k] = dict(cur[k])
            cur = cur[k]
        cur[self.keys[-1]] = new
        return out


class _JsonPath:
    def __init__(self, text: str) -> None:
        expr = text if text.startswith("$") else "$." + text
        try:
            self.expr = jsonpath_parse(expr)
        except Exception as exc:
            raise ConfigError(f"{text!r} is not a JSONPath: {exc}") from None

    def values(self, value: dict[str, Any]) -> list[Any]:
        return [m.value for m in self.expr.find(value)]

    def replace(self, value: dict[str, Any], new: Any) -> dict[str, Any]:
        row = copy.deepcopy(value)
        found = self.expr.find(row)
        found[0].full_path.update(row, new)
        return row


def _path(text: str) -> _KeyPath | _JsonPath:
    return _KeyPath(text) if _SIMPLE.match(text) else _JsonPath(text)


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


@register("ExtractField", _CONNECT + "ExtractField$Value")
def extract_field(options: Mapping[str, str]) -> Transform:
    name = _need(options, "field")

    def t(value: dict[str, Any], meta: Meta) -> Any:
        inner = value.get(name)
        if inner is None:
            return None                      # Connect yields a null value: nothing to load
        if not isinstance(inner, dict):
            raise TransformError(f"field {name!r} is {type(inner).__name__}, not a record/object")
        return inner
    return t


@register("Flatten", _CONNECT + "Flatten$Value")
def flatten(options: Mapping[str, str]) -> Transform:
    delim = options.get("delimiter", ".")

    def walk(prefix: str, value: dict[str, Any], out: dict[str, Any]) -> None:
        for k, v in value.items():
            key = f"{prefix}{delim}{k}" if prefix else str(k)
            if isinstance(v, dict):
                walk(key, v, out)
            else:
                out[key] = v

    def t(value: dict[str, Any], meta: Meta) -> Any:
        out: dict[str, Any] = {}
        walk("", value, out)
        return out
    return t


@register("ReplaceField", _CONNECT + "ReplaceField$Value")
def replace_field(options: Mapping[str, str]) -> Transform:
    include = set(_names(options.get("include") or options.get("whitelist")))
    exclude = set(_names(options.get("exclude") or options.get("blacklist")))
    renames: dict[str, str] = {}
    for pair in _names(options.get("renames")):
        old, sep, new = pair.partition(":")
        if not sep or not old or not new:
            raise ConfigError(f"renames has a bad pair {pair!r}: use old:new,old2:new2")
        renames[old.strip()] = new.strip()

    def t(value: dict[str, Any], meta: Meta) -> Any:
        keys = value.keys()
        if not include and keys.isdisjoint(exclude) and keys.isdisjoint(renames):
            return value                             # nothing to change: no copy
        return {renames.get(k, k): v for k, v in value.items()
                if (not include or k in include) and k not in exclude}
    return t


@register("InsertField", _CONNECT + "InsertField$Value")
def insert_field(options: Mapping[str, str]) -> Transform:
    def name(key: str) -> str | None:
        v = (options.get(key) or "").strip()
        return v.rstrip("!?") or None       # Connect's "!" (required) / "?" (optional) suffixes
    topic_f, part_f, off_f, ts_f = name("topic.field"), name("partition.field"), name("offset.field"), \
        name("timestamp.field")
    static_f, static_v = name("static.field"), options.get("static.value")
    if static_f and static_v is None:
        raise ConfigError("static.field needs static.value")

    def t(value: dict[str, Any], meta: Meta) -> Any:
        out = dict(value)
        if topic_f:
            out[topic_f] = meta.topic
        if part_f:
            out[part_f] = meta.partition
        if off_f:
            out[off_f] = meta.offset
        if ts_f:
            out[ts_f] = (format_datetime(dt.datetime.fromtimestamp(meta.timestamp / 1000, dt.UTC))
                         if meta.timestamp is not None else None)
        if static_f:
            out[static_f] = static_v
        return out
    return t


_JAVA_FORMAT = [("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S"),
                ("SSS", "%f")]


def _strftime(java: str) -> str:
    out = java.replace("'", "")
    for j, p in _JAVA_FORMAT:
        out = out.replace(j, p)
    return out


@register("TimestampConverter", _CONNECT + "TimestampConverter$Value")
def timestamp_converter(options: Mapping[str, str]) -> Transform:
    fname = _need(options, "field")
    target = _need(options, "target.type")
    if target not in ("Timestamp", "Date", "Time", "unix", "string"):
        raise ConfigError(f"target.type={target!r}: use Timestamp, Date, Time, unix or string")
    fmt = options.get("format")
    if target == "string" and not fmt:
        raise ConfigError("target.type=string needs format (e.g. yyyy-MM-dd HH:mm:ss)")
    py_fmt = _strftime(fmt) if fmt else None
    scale = {"milliseconds": 1e3, "microseconds": 1e6, "nanoseconds": 1e9, "seconds": 1.0}.get(
        options.get("unix.precision", "milliseconds"))
    if scale is None:
        raise ConfigError("unix.precision: use seconds, milliseconds, microseconds or nanoseconds")

    def parse(v: Any) -> dt.datetime:
        if isinstance(v, bool):
            raise TransformError(f"field {fname!r} is a boolean, not a time")
        if isinstance(v, int | float):
            return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=v / scale)
        if isinstance(v, str):
            if py_fmt:                                # Connect parses string input with format too
                try:
                    return dt.datetime.strptime(v, py_fmt)
                except ValueError:
                    pass
            try:
                return dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                raise TransformError(f"field {fname!r}={v!r} is neither {fmt or 'given'} nor ISO-8601") from None
        raise TransformError(f"field {fname!r} is {type(v).__name__}, not a time")

    def t(value: dict[str, Any], meta: Meta) -> Any:
        v = value.get(fname)
        if v is None:
            return value
        ts = parse(v)
        if ts.tzinfo is not None:
            ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
        out = dict(value)
        if target == "Timestamp":
            out[fname] = format_datetime(ts)
        elif target == "Date":
            out[fname] = ts.date().isoformat()
        elif target == "Time":
            out[fname] = ts.time().isoformat()
        elif target == "unix":
            out[fname] = int((ts - dt.datetime(1970, 1, 1)).total_seconds() * scale)
        else:
            assert py_fmt is not None
            out[fname] = ts.strftime(py_fmt)
        return out
    return t


@register("Filter", "sinkapp.transforms.Filter")
def filter_(options: Mapping[str, str]) -> Transform:
    path = _path(_need(options, "field"))
    action = options.get("action", "drop").lower()
    if action not in ("drop", "keep"):
        raise ConfigError("action: use drop (drop matching records) or keep (keep only matching records)")
    conds = [k for k in ("equals", "in", "regex", "exists") if k in options]
    if len(conds) != 1:
        raise ConfigError("give exactly one of equals, in, regex, exists")
    kind = conds[0]
    if kind == "regex":
        try:
            rx = re.compile(options["regex"])
        except re.error as exc:
            raise ConfigError(f"regex: {exc}") from None
    members = set(_names(options.get("in")))
    want_present = options.get("exists", "true").lower() == "true"

    def matches(value: dict[str, Any]) -> bool:
        found = path.values(value)
        if kind == "exists":
            return bool(found) == want_present
        if not found:
            return False
        v = found[0]
        text = v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
        if kind == "equals":
            return text == options["equals"]
        if kind == "in":
            return text in members
        return bool(rx.fullmatch(text))

    def t(value: dict[str, Any], meta: Meta) -> Any:
        m = matches(value)
        return None if (m if action == "drop" else not m) else value
    return t


@register("Explode", "sinkapp.transforms.Explode")
def explode(options: Mapping[str, str]) -> Transform:
    """One row per element of an array field; each row is the record with that field replaced
    by one element (an empty array gives no row)."""
    text = _need(options, "field")
    path = _path(text)

    def t(value: dict[str, Any], meta: Meta) -> Any:
        found = path.values(value)
        if not found:
            raise TransformError(f"field {text!r} is not in the record")
        items = found[0]
        if items is None:
            return []
        if not isinstance(items, list):
            raise TransformError(f"field {text!r} is {type(items).__name__}, not an array")
        return [path.replace(value, item) for item in items]
    return t


@register("RegexRouter", _CONNECT + "RegexRouter")
def regex_router(options: Mapping[str, str]) -> Transform:
    """Kafka Connect's RegexRouter renames the record's topic; a sink maps topics to tables, so here
    it picks the route's table: ``starrocks.topic2table.map`` of the renamed topic, else the renamed
    topic itself. Per row it changes nothing (:func:`routed_table` applies it once per route)."""
    _router(options)

    def t(value: dict[str, Any], meta: Meta) -> Any:
        return value
    return t


def _router(options: Mapping[str, str]) -> tuple[re.Pattern[str], str]:
    try:
        rx = re.compile(_need(options, "regex"))
    except re.error as exc:
        raise ConfigError(f"regex: {exc}") from None
    return rx, options.get("replacement", "")


def routed_table(topic: str, options: Mapping[str, str], topic2table: Mapping[str, str]) -> str:
    """The table RegexRouter sends ``topic`` to (the topic unchanged when the regex does not match)."""
    rx, replacement = _router(options)
    m = rx.fullmatch(topic)
    renamed = m.expand(replacement.replace("$", "\\")) if m else topic
    return topic2table.get(renamed, renamed)


_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@register("TableByField", "sinkapp.transforms.TableByField")
def table_by_field(options: Mapping[str, str]) -> Transform:
    """Send each row to the table named by one of its fields: ``field`` (JSONPath), ``format``
    (``{}`` is the value, default ``{}``: e.g. ``events_{}``), ``remove`` (true: drop the field
    from the row). A value that makes no valid table name is a bad record."""
    path = _path(_need(options, "field"))
    fmt = options.get("format", "{}")
    if "{}" not in fmt:
        raise ConfigError("format must contain {} (the field's value)")
    remove = options.get("remove", "false").lower() == "true"
    if remove and not isinstance(path, _KeyPath):
        raise ConfigError("remove=true needs a plain field path ($.a.b)")

    def t(value: dict[str, Any], meta: Meta) -> Any:
        found = path.values(value)
        if not found or found[0] is None:
            raise TransformError(f"field {options['field']!r} is missing: no table to route the row to")
        table = fmt.replace("{}", str(found[0]))
        if not _TABLE_NAME.match(table):
            raise TransformError(f"{table!r} (from field {options['field']!r}) is not a valid table name")
        out = dict(value)
        if remove:
            assert isinstance(path, _KeyPath)
            cur = out
            for k in path.keys[:-1]:
                cur[k] = dict(cur[k])
                cur = cur[k]
            cur.pop(path.keys[-1], None)
        out[TABLE_KEY] = table
        return out
    return t
