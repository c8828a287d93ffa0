"""The Debezium change-event transform, and the Java connector's Debezium configuration mapped to it.

Who calls: :func:`sinkapp.transforms.build_chain`. Input: a Debezium envelope as the converter
decoded it (JsonConverter with or without the Connect schema envelope, Avro through the
registry): ``{"before", "after", "op", "source", ...}``. Output, per ``op``:

- ``c`` (insert), ``u`` (update), ``r`` (snapshot read): the ``after`` image with ``__op = 0``
  (upsert) — the Java connector leaves snapshot reads without ``__op``;
- ``d`` (delete): the ``before`` image with ``__op = 1`` (delete; the primary key is what a
  PRIMARY KEY table needs); ``delete.handling=drop`` drops deletes (for tables that are not
  primary-key tables, where a delete row would be inserted);
- ``rewrite`` (Debezium's ``ExtractNewRecordState`` rewrite mode) adds ``__deleted`` to every
  row: ``"true"`` for deletes, ``"false"`` for the others (Debezium 1.8's ``ExtractNewRecordState``,
  the version the Java connector's plugin ships, inserts ``__deleted=false`` into inserts and
  updates too, so a soft-delete column is never NULL);
- ``add.fields`` (``table,lsn,source.ts_ms``) copies change-event metadata into every row as
  Debezium does (:mod:`sinkapp.transforms.debezium_fields`);
- a column whose value is Debezium's unavailable-value placeholder (``unavailable.value.placeholder``,
  default ``__debezium_unavailable_value``: PostgreSQL's unchanged TOASTed values under the default
  replica identity) is taken out of the row and the row is marked, so it loads as a partial update
  and the stored value stays (:mod:`sinkapp.transforms.debezium_unavailable`);
- ``t`` (truncate) and ``m`` (message): skipped (:class:`~sinkapp.transforms.base.Skipped`: counted
  in ``sinkapp_events_skipped_total{kind}``, named once per route in the log). A truncate is never
  applied: after a crash the truncate event can be read again, and a replayed truncate would delete
  rows loaded after it. The tombstone Debezium writes after a delete has a null value and is
  skipped before any transform.

Debezium's temporal and decimal types are turned into StarRocks-ready text by the converters
(``sinkapp.converters.simple.apply_schema`` for JSON with schemas, ``sinkapp.converters.avro``
for Avro). For JSON routes with ``sink.properties.columns`` or ``jsonpaths`` the route adds
``__op`` to them (see :func:`op_headers`).

The Java connector's documented pair ``transforms=addfield,unwrap`` with
``com.starrocks.connector.kafka.transforms.AddOpFieldForDebeziumRecord`` followed by
``io.debezium.transforms.ExtractNewRecordState`` (``delete.handling.mode=rewrite``) becomes this
one step (:func:`merge_java_pair`); either class alone has its own meaning below.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sinkapp.converters.simple import apply_schema
from sinkapp.errors import ConfigError, TransformError
from sinkapp.transforms.base import Meta, Skipped, Transform, TransformSpec, register
from sinkapp.transforms.debezium_fields import MetaField, add_fields, parse_add_fields, unwrap_options
from sinkapp.transforms.debezium_unavailable import Placeholder, take_out

ADD_OP_CLASS = "com.starrocks.connector.kafka.transforms.AddOpFieldForDebeziumRecord"
UNWRAP_CLASS = "io.debezium.transforms.ExtractNewRecordState"
OP = "__op"
#: the transform types that give rows from a change event's images (the Java pair becomes "Debezium")
ROW_TYPES = frozenset({"Debezium", "sinkapp.transforms.Debezium", UNWRAP_CLASS})
#: the Debezium connector's option of that name: the text it sends for a value it does not have
PLACEHOLDER_OPTION = "unavailable.value.placeholder"
TRUNCATE = Skipped("truncate", "the source table was truncated (TRUNCATE); the StarRocks table keeps its rows: "
                               "sinkapp never applies a truncate (after a crash the event is read again, and a "
                               "replayed truncate would delete rows loaded after it); truncate the StarRocks "
                               "table yourself if it must follow")
MESSAGE = Skipped("message", "a Debezium logical decoding message (op m): it is no row")


def _envelope(value: dict[str, Any]) -> dict[str, Any]:
    if set(value) == {"schema", "payload"}:     # schemas.enable=false on a schema-carrying topic
        value = apply_schema(value["schema"], value["payload"])
    if not isinstance(value, dict) or "op" not in value:
        raise TransformError("the value is not a Debezium change event (no op field); a Debezium "
                             "transform needs the whole envelope (before, after, op)")
    return value


def _image(env: dict[str, Any], which: str, meta: Meta) -> dict[str, Any]:
    img = env.get(which)
    if not isinstance(img, dict):
        hint = (" (set REPLICA IDENTITY FULL / binlog_row_image=FULL on the source so deletes carry the key)"
                if which == "before" else "")
        raise TransformError(f"Debezium op {env.get('op')!r} event has no {which!r} image{hint}")
    return dict(img)


def _make(delete_handling: str, add_op: bool, op_field: str, extra: tuple[MetaField, ...] = (),
          options: Mapping[str, str] | None = None) -> Transform:
    if delete_handling not in ("op", "drop", "rewrite"):
        raise ConfigError(f"delete.handling={delete_handling!r}: use op (delete rows), drop or rewrite")
    rewrite = delete_handling == "rewrite"
    placeholder = Placeholder.of((options or {}).get(PLACEHOLDER_OPTION))

    def row_of(env: dict[str, Any], which: str, meta: Meta, deleted: bool) -> dict[str, Any]:
        # a delete by key needs no other column: the placeholder just goes; any other row is marked
        row = take_out(_image(env, which, meta), placeholder, meta.key, not deleted or rewrite or not add_op)
        if rewrite:
            row["__deleted"] = "true" if deleted else "false"
        if extra:
            add_fields(row, env, extra)
        if add_op:
            row[op_field] = 1 if deleted else 0
        return row

    def t(value: dict[str, Any], meta: Meta) -> Any:
        env = _envelope(value)
        op = env["op"]
        if op in ("c", "u", "r"):
            return row_of(env, "after", meta, False)
        if op == "d":
            return None if delete_handling == "drop" else row_of(env, "before", meta, True)
        if op == "t":
            return TRUNCATE
        if op == "m":
            return MESSAGE
        raise TransformError(f"unknown Debezium op {op!r}")
    return t


@register("Debezium", "sinkapp.transforms.Debezium")
def debezium(options: Mapping[str, str]) -> Transform:
    extra = parse_add_fields(options.get("add.fields") or "", options.get("add.fields.prefix", "__"))
    return _make(options.get("delete.handling", "op").lower(), options.get("add.op", "true").lower() == "true",
                 options.get("op.field", OP), extra, options)


@register(UNWRAP_CLASS)
def extract_new_record_state(options: Mapping[str, str]) -> Transform:
    """Debezium's unwrap alone: no ``__op``; ``delete.handling.mode`` drop (its default), rewrite,
    or none (deletes give no row either: a null value); ``add.fields``."""
    mode, extra = unwrap_options(options)
    return _make("rewrite" if mode == "rewrite" else "drop", False, OP, extra, options)


@register(ADD_OP_CLASS)
def add_op_field(options: Mapping[str, str]) -> Transform:
    """AddOpFieldForDebeziumRecord alone: the envelope stays, with ``__op`` in its image."""
    def t(value: dict[str, Any], meta: Meta) -> Any:
        env = dict(_envelope(value))
        if env["op"] in ("c", "u", "r") and isinstance(env.get("after"), dict):
            env["after"] = {**env["after"], OP: 0}
        elif env["op"] == "d" and isinstance(env.get("before"), dict):
            env["after"] = {**env["before"], OP: 1}
        return env
    return t


def merge_java_pair(add_op: TransformSpec, nxt: TransformSpec) -> tuple[TransformSpec, Transform] | None:
    """``AddOpFieldForDebeziumRecord`` + ``ExtractNewRecordState`` → the built-in Debezium step."""
    if nxt.type != UNWRAP_CLASS:
        return None
    mode, extra = unwrap_options(nxt.options)
    handling = "rewrite" if mode == "rewrite" else "op"
    spec = TransformSpec(f"{add_op.name}+{nxt.name}", "Debezium", {"delete.handling": handling})
    return spec, _make(handling, True, OP, extra, nxt.options)


def op_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Stream Load headers of a Debezium route: ``__op`` appended to ``columns`` / ``jsonpaths``
    when the user gave them (without them StarRocks maps the JSON ``__op`` key by name)."""
    out = dict(headers)
    cols = out.get("columns")
    if cols and OP not in [c.strip().strip("`") for c in cols.split(",")]:
        out["columns"] = f"{cols}, {OP}"
    paths = out.get("jsonpaths")
    if paths:
        if not cols:
            raise ConfigError("a Debezium route with sink.properties.jsonpaths also needs "
                              "sink.properties.columns naming the columns the paths fill (sinkapp adds "
                              f"{OP} to both, so deletes reach the PRIMARY KEY table)")
        parsed = json.loads(paths)
        if isinstance(parsed, list) and f"$.{OP}" not in parsed:
            out["jsonpaths"] = json.dumps([*parsed, f"$.{OP}"])
    return out
