"""Tables that follow the data: ``auto.create``, ``auto.evolve`` and what they need.

Who calls: :func:`sinkapp.config.parse.parse_settings` (:func:`table_settings`) and
:func:`sinkapp.config.checks.cross_checks` (:func:`check_tables`). The semantics are the Confluent
JDBC sink's: ``auto.create`` creates a missing table from the record schema, ``auto.evolve`` only
ever adds missing fields as nullable columns (never drops a column, never changes a type). DDL
goes over the FE's MySQL port, ``starrocks.jdbc.url`` (``jdbc:mysql://fe:9030``, the Flink
connector's convention), as ``starrocks.username`` / ``starrocks.password``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from sinkapp.config.types import Secret, Settings, TableSettings
from sinkapp.errors import ConfigError

PROPS_PREFIX = "sinkapp.table.create.properties."
_JDBC = re.compile(r"^jdbc:mysql://(?P<hosts>[^/?]+)(?:/(?P<db>[^?]*))?(?:\?(?P<query>.*))?$")
_HOST = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?$")
#: transforms that only pick the target table (the record schema is still the rows'): RegexRouter per
#: route, TableByField per row (sinkapp.tableshape.routed; its removed field is no column)
REGEX_ROUTER = ("RegexRouter", "org.apache.kafka.connect.transforms.RegexRouter")
TABLE_BY_FIELD = ("TableByField", "sinkapp.transforms.TableByField")
ROUTERS = frozenset({*REGEX_ROUTER, *TABLE_BY_FIELD})


def tables_per_row(s: Settings) -> bool:
    """A TableByField transform picks each row's table (a route's own target is then not loaded)."""
    return any(t.type in TABLE_BY_FIELD for t in s.transforms)
#: transforms whose rows the record schema still describes (the Debezium unwrap: the after image)
DEBEZIUM_TYPES = frozenset({"Debezium", "com.starrocks.connector.kafka.transforms.AddOpFieldForDebeziumRecord",
                            "io.debezium.transforms.ExtractNewRecordState"})


def parse_jdbc_url(url: str) -> tuple[tuple[tuple[str, int], ...], Secret | None]:
    """``jdbc:mysql://h1:9030,h2:9030[/db][?password=...]`` → the FE hosts and a password, if any."""
    m = _JDBC.match(url.strip())
    if not m:
        raise ConfigError("starrocks.jdbc.url must look like jdbc:mysql://fe-host:9030 (the FE's MySQL "
                          "port; several FEs comma-separated)")
    hosts = []
    for part in m["hosts"].split(","):
        h = _HOST.match(part.strip())
        if not h or (h["port"] and not 0 < int(h["port"]) < 65536):
            raise ConfigError(f"starrocks.jdbc.url: {part.strip()!r} is not host[:port]")
        hosts.append((h["host"].strip("[]"), int(h["port"] or 9030)))
    query = dict(parse_qsl(m["query"] or "", keep_blank_values=True))
    password = query.get("password")
    return tuple(hosts), (Secret(password) if password else None)


def table_settings(raw: Mapping[str, str], v: Mapping[str, Any]) -> TableSettings:
    flags = {k: (v[k] or "false").lower() == "true" for k in ("auto.create", "auto.evolve")}
    url = (v["starrocks.jdbc.url"] or "").strip() or None
    hosts, password = parse_jdbc_url(url) if url else ((), None)
    if (flags["auto.create"] or flags["auto.evolve"]) and not url:
        on = " and ".join(f"{k}=true" for k, f in flags.items() if f)
        raise ConfigError(f"{on} {'need' if ' and ' in on else 'needs'} starrocks.jdbc.url (jdbc:mysql://fe-host:9030): tables are created and "
                          "altered over the FE's MySQL port")
    props = {k[len(PROPS_PREFIX):]: val for k, val in raw.items() if k.startswith(PROPS_PREFIX)}
    for k in props:
        if not re.match(r"^[A-Za-z0-9_.]{1,128}$", k):
            raise ConfigError(f"{PROPS_PREFIX}{k}: a table property name is letters, digits, _ and .")
    shown = re.sub(r"(?i)(password=)[^&]*", r"\1******", url) if url else None
    return TableSettings(flags["auto.create"], flags["auto.evolve"], shown, hosts, password, props,
                         v["sinkapp.table.create.buckets"], v["sinkapp.schema.change.timeout.ms"])


_REGISTRY = ("io.confluent.connect.avro.AvroConverter", "io.confluent.connect.protobuf.ProtobufConverter",
             "io.confluent.connect.json.JsonSchemaConverter")


def check_tables(s: Settings) -> None:
    """auto.create / auto.evolve need a record schema and columns that are sinkapp's to choose."""
    t: TableSettings = s.tables
    if not t.enabled:
        return
    on = " and ".join(k for k, f in (("auto.create", t.auto_create), ("auto.evolve", t.auto_evolve)) if f)
    need = "need" if " and " in on else "needs"
    vc = s.value_converter
    schema_json = vc is not None and vc.class_name == "org.apache.kafka.connect.json.JsonConverter" and vc.schemas_enable
    if vc is None or not (vc.class_name in _REGISTRY or schema_json):
        raise ConfigError(
            f"{on} {need} a record schema: value.converter must be Avro, Protobuf or JSON Schema through the "
            "Schema Registry, or JsonConverter with value.converter.schemas.enable=true (the Connect envelope); "
            f"value.converter={vc.class_name if vc else 'JsonConverter (default, schemaless)'}"
            + ("" if vc is None or vc.class_name in _REGISTRY else f" with schemas.enable={str(vc.schemas_enable).lower()}"))
    user = [k for k in ("jsonpaths", "columns") if k in s.sink_properties]
    if user:
        raise ConfigError(f"{on} cannot be used with {', '.join('sink.properties.' + k for k in user)}: those make "
                          "the route's columns yours; drop them, or turn off " + on)
    if s.body_format != "json":
        raise ConfigError(f"{on} {need} sink.properties.format=json (CSV columns are positional)")
    other = [x.name for x in s.transforms if x.type not in DEBEZIUM_TYPES and x.type not in ROUTERS]
    if other:
        raise ConfigError(f"{on} cannot be used with transforms {', '.join(other)}: the record schema would not "
                          "describe the rows they make (only the Debezium unwrap, and RegexRouter and TableByField, "
                          "which pick the target table, are understood)")
