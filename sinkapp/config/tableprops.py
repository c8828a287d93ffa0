"""Per-table load properties: ``sink.table.<table>.properties.<key>`` merged over ``sink.properties.*``.

Who calls: :func:`sinkapp.config.parse.parse_settings` (:func:`parse_table_properties`, :func:`check_props`),
:func:`sinkapp.config.checks.cross_checks` (:func:`check_table_properties`), and whoever needs a table's
Stream Load properties (:func:`table_headers`: :func:`sinkapp.config.routes.route_for`, the worker's
per-table formats). Pure functions; no IO.

``<table>`` is ``db.table`` (that table exactly) or a bare ``table``: the table of that name in the
default database ``starrocks.database.name``, and only there (a route into another database does not
match a bare name). The key is split at its last ``.properties.`` (a Stream Load property name has no
dot), so ``sink.table.db.t.properties.x`` is property ``x`` of ``db.t`` and
``sink.table.properties.properties.x`` property ``x`` of the default database's table ``properties``. A table's properties are ``sink.properties.*`` with its own on top;
the merged result is checked as ``sink.properties.*`` are (format, jsonpaths, CSV delimiters, ...).
Both forms naming one table (``t`` and ``<default db>.t``) with different values for one property
are a ConfigError naming both keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping

from sinkapp.config.sinkprops import check_merge_commit, check_sink_properties
from sinkapp.config.targets import DATABASE_RE, TABLE_RE
from sinkapp.config.types import Settings, TableProperties
from sinkapp.errors import ConfigError

TABLE_PREFIX = "sink.table."
INFIX = ".properties."
_PROP_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def is_table_key(key: str) -> bool:
    return key.startswith(TABLE_PREFIX)


def _split(key: str, database: str) -> tuple[str, str]:
    """``sink.table.<table>.properties.<prop>`` → (``db.table``, ``prop``)."""
    table, sep, prop = key[len(TABLE_PREFIX):].rpartition(INFIX)
    if not sep or not table or not prop:
        raise ConfigError(f"{key}: a per-table load property is sink.table.<table>.properties.<name> "
                          "(<table> as db.table, or a table of starrocks.database.name)")
    db, dot, name = table.rpartition(".")
    if not dot and not database:
        raise ConfigError(f"{key}: a bare table name is a table of starrocks.database.name, which is not set; "
                          f"name its database (sink.table.<db>.{table}.properties.{prop})")
    if not TABLE_RE.match(name) or not DATABASE_RE.match(db if dot else database):
        raise ConfigError(f"{key}: {table!r} is not a StarRocks table name (table, or db.table)")
    db = db if dot else database
    if not _PROP_RE.match(prop):
        raise ConfigError(f"{key}: {prop!r} is not a Stream Load property name")
    return f"{db}.{name}", prop.lower()


def parse_table_properties(raw: Mapping[str, str], database: str) -> dict[str, TableProperties]:
    """Every ``sink.table.*`` key, by table (``db.table``, a bare name in ``database``)."""
    values: dict[str, dict[str, str]] = {}
    keys: dict[str, dict[str, str]] = {}
    for key in sorted(k for k in raw if is_table_key(k)):
        table, prop = _split(key, database)
        have = keys.setdefault(table, {})
        if prop in have and values[table][prop] != raw[key]:
            raise ConfigError(f"{have[prop]} and {key} both set {prop} of table {table}, to different values; "
                              "keep one of them")
        values.setdefault(table, {})[prop] = raw[key]
        have.setdefault(prop, key)
    return {t: TableProperties(values[t], keys[t]) for t in sorted(values)}


def table_headers(settings: Settings, database: str, table: str) -> dict[str, str]:
    """The load properties of ``database.table``: ``sink.properties.*`` with its own over them."""
    own = settings.table_properties.get(f"{database}.{table}")
    return {**settings.sink_properties, **(own.values if own is not None else {})}


def check_props(props: Mapping[str, str], key_of: Callable[[str], str]) -> None:
    """What sinkapp reads of load properties besides passing them on (``key_of``: the key a property
    was written as, for the message); the format and the rest: :func:`check_sink_properties`."""
    if "jsonpaths" in props:
        try:
            paths = json.loads(props["jsonpaths"])
            assert isinstance(paths, list) and all(isinstance(p, str) for p in paths)
        except (ValueError, AssertionError):
            raise ConfigError(
                f"{key_of('jsonpaths')}={props['jsonpaths']!r} must be a JSON array of "
                'JsonPath strings, e.g. ["$.id","$.address.city"]') from None
    if "label" in props:
        raise ConfigError(f"{key_of('label')} is not allowed: sinkapp derives each batch's label "
                          "from its Kafka offsets (set sinkapp.label.prefix instead)")


def check_table_properties(s: Settings) -> None:
    """Each table's merged properties, checked as ``sink.properties.*`` are; the errors name the table's keys."""
    for table, own in s.table_properties.items():
        db, _, name = table.partition(".")
        merged = table_headers(s, db, name)

        def key_of(prop: str, own: TableProperties = own) -> str:
            return own.keys.get(prop, f"sink.properties.{prop}")

        check_props(own.values, key_of)
        try:
            check_sink_properties(merged, key_of)
        except ConfigError as exc:
            keys = ", ".join(own.keys.values())
            raise ConfigError(f"table {table} ({keys} over sink.properties.*): {exc}") from None
        check_merge_commit(merged, s.delivery_guarantee, key_of)
        if s.tables.enabled:
            mine = [own.keys[k] for k in ("jsonpaths", "columns") if k in own.values]
            if merged.get("format", "json").lower() != "json":
                mine.append(key_of("format"))
            if mine:
                raise ConfigError(f"auto.create / auto.evolve cannot be used with {', '.join(mine)}: the table's "
                                  "columns would be yours (or positional, with csv); drop them, or turn both off")
