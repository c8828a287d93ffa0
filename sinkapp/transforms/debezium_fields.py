"""The options of Debezium's ``ExtractNewRecordState`` beside the row: checked, and ``add.fields``.

Who calls: :mod:`sinkapp.transforms.debezium` once per route (``unwrap_options``,
``parse_add_fields``) and per row (``add_fields``). Debezium 1.8 (the version the Java
connector's plugin ships) names an added field ``<prefix><field>`` for a bare name
(``table`` → ``__table``, looked up in ``source``; ``op`` and ``ts_ms`` in the envelope; ``id``,
``total_order`` and ``data_collection_order`` in ``transaction``), ``<prefix><struct>_<field>``
for a qualified one (``source.ts_ms`` → ``__source_ts_ms``) and ``<prefix><alias>`` for
``field:alias``; the prefix is ``add.fields.prefix`` (default ``__``).

Refused, never ignored: ``add.fields`` naming ``op`` with the default prefix (the column would be
``__op``, StarRocks' upsert/delete flag, with Debezium's ``c``/``u``/``d`` letters in it);
``add.headers`` (headers never reach StarRocks, here or in the Java connector); ``route.by.field``
(topic routing of a sink: use RegexRouter or TableByField); an unknown ``delete.handling.mode``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from sinkapp.errors import ConfigError, TransformError

_ENVELOPE = {"op", "ts_ms"}
_TRANSACTION = {"id", "total_order", "data_collection_order"}
_MODES = ("drop", "none", "rewrite")


class MetaField(NamedTuple):
    column: str                  # the row's new key
    struct: str | None           # None: the envelope itself
    field: str


def parse_add_fields(text: str, prefix: str = "__") -> tuple[MetaField, ...]:
    out = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        ref, _, alias = entry.partition(":")
        parts = ref.strip().split(".")
        if len(parts) > 2 or not all(parts):
            raise ConfigError(f"add.fields has {entry!r}: use field, struct.field or field:alias "
                              "(e.g. table,lsn,source.ts_ms)")
        struct: str | None
        if len(parts) == 2:
            struct, field = parts
            name = alias.strip() or f"{struct}_{field}"
        else:
            field = parts[0]
            struct = None if field in _ENVELOPE else "transaction" if field in _TRANSACTION else "source"
            name = alias.strip() or field
        column = prefix + name
        if column == "__op":
            raise ConfigError(f"add.fields={text!r} would write Debezium's operation letter (c, u, d, r) into "
                              "__op, which StarRocks reads as its upsert/delete flag (0 upsert, 1 delete, set by "
                              "sinkapp for Debezium routes); remove op from add.fields, or give it another "
                              "name (op:dbz_op, or add.fields.prefix)")
        out.append(MetaField(column, struct, field))
    return tuple(out)


def unwrap_options(options: Mapping[str, str]) -> tuple[str, tuple[MetaField, ...]]:
    """``ExtractNewRecordState`` options → (delete.handling.mode, add.fields), refusing what
    sinkapp cannot honour."""
    mode = (options.get("delete.handling.mode") or "drop").strip().lower()
    if mode not in _MODES:
        raise ConfigError(f"delete.handling.mode={mode!r}: use drop (the default), none or rewrite")
    if (options.get("add.headers") or "").strip():
        raise ConfigError(f"add.headers={options['add.headers']!r}: Kafka headers never reach StarRocks (in the "
                          "Java connector neither); remove it, or use add.fields to load the metadata as columns")
    if (options.get("route.by.field") or "").strip():
        raise ConfigError("route.by.field re-routes records by topic, which a sink does not have; remove it, "
                          "or use TableByField to pick the table from a field")
    extra = parse_add_fields(options.get("add.fields") or "", options.get("add.fields.prefix", "__"))
    return mode, extra


def add_fields(row: dict[str, Any], env: dict[str, Any], extra: tuple[MetaField, ...]) -> None:
    """Copy the change event's metadata named by ``extra`` into ``row``."""
    for f in extra:
        holder: Any = env if f.struct is None else env.get(f.struct)
        if holder is None and f.struct is not None:
            row[f.column] = None                   # e.g. no transaction metadata in this event
            continue
        if not isinstance(holder, dict) or f.field not in holder:
            where = f.field if f.struct is None else f"{f.struct}.{f.field}"
            raise TransformError(f"add.fields: the change event has no {where} (Debezium fails such a record too)")
        row[f.column] = holder[f.field]
