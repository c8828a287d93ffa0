"""Built-in transforms with the option names of Kafka Connect's SMTs (the ``$Value`` variants).

Who calls: :func:`sinkapp.transforms.build_transform` (registered by short name and by the Kafka
Connect class name). Each factory takes the ``transforms.<name>.*`` options and returns
``t(value, meta)``. Pure functions on dicts, no IO. The other built-ins live beside this module:
TimestampConverter (:mod:`~sinkapp.transforms.timestamp`), TimeMillisToStringTransform
(:mod:`~sinkapp.transforms.timemillis`), Filter, Explode and TableByField
(:mod:`~sinkapp.transforms.rows`), Debezium (:mod:`~sinkapp.transforms.debezium`).

=====================  ===========================================================  ==================================
short name             Kafka Connect class                                          options
=====================  ===========================================================  ==================================
ExtractField           org.apache.kafka.connect.transforms.ExtractField$Value       field
Flatten                org.apache.kafka.connect.transforms.Flatten$Value            delimiter (default ``.``)
ReplaceField           org.apache.kafka.connect.transforms.ReplaceField$Value       renames (a:b,c:d), include, exclude
InsertField            org.apache.kafka.connect.transforms.InsertField$Value        topic.field, partition.field,
                                                                                    offset.field, timestamp.field,
                                                                                    static.field + static.value
RegexRouter            org.apache.kafka.connect.transforms.RegexRouter              regex, replacement
=====================  ===========================================================  ==================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sinkapp.converters.simple import connect_timestamp
from sinkapp.errors import ConfigError, TransformError
from sinkapp.transforms.base import Meta, Transform, register
from sinkapp.transforms.paths import names, need

_CONNECT = "org.apache.kafka.connect.transforms."


@register("ExtractField", _CONNECT + "ExtractField$Value")
def extract_field(options: Mapping[str, str]) -> Transform:
    name = need(options, "field")

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
    include = set(names(options.get("include") or options.get("whitelist")))
    exclude = set(names(options.get("exclude") or options.get("blacklist")))
    renames: dict[str, str] = {}
    for pair in names(options.get("renames")):
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
            out[ts_f] = connect_timestamp(meta.timestamp) if meta.timestamp is not None else None
        if static_f:
            out[static_f] = static_v
        return out
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
        rx = re.compile(need(options, "regex"))
    except re.error as exc:
        raise ConfigError(f"regex: {exc}") from None
    return rx, options.get("replacement", "")


def routed_table(topic: str, options: Mapping[str, str], topic2table: Mapping[str, str]) -> str:
    """The table RegexRouter sends ``topic`` to (the topic unchanged when the regex does not match)."""
    rx, replacement = _router(options)
    m = rx.fullmatch(topic)
    renamed = m.expand(replacement.replace("$", "\\")) if m else topic
    return topic2table.get(renamed, renamed)


