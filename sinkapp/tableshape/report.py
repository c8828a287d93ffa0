"""What ``sinkapp check --connect`` says about auto.create / auto.evolve, per route.

Who calls: :func:`sinkapp.worker.checks.run_checks` when either is on. One line for the DDL connection
(``starrocks.jdbc.url`` with ``starrocks.username`` / ``starrocks.password``), then per route: the
table's columns against the latest registry schema of the route's value subject (``<topic>-value``,
Confluent's default TopicNameStrategy): the columns the table lacks and what auto.evolve would add
(and widen), or why it would refuse. Connect JSON envelopes carry their schema in each record: nothing to compare
before the first record. A table that lacks columns or would refuse the schema is a FAIL line
(``check --connect`` exits 1) but not *definitive*: a worker starts and says so per record schema.
Returns ``(ok, what, detail, definitive)`` tuples (sinkapp.worker.checks.Check).
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from sinkapp.config.tables import tables_per_row
from sinkapp.config.types import Settings
from sinkapp.errors import ConversionError, DdlError, DdlUnreachable
from sinkapp.pipeline.types import TableKey
from sinkapp.tableshape.evolve import compare
from sinkapp.tableshape.wiring import ddl_client

Line = tuple[bool, str, str, bool]


class _Probe(NamedTuple):
    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None


async def table_report(settings: Settings, routes: list[Any]) -> list[Line]:
    client = ddl_client(settings)
    what = f"StarRocks DDL {client.where} (starrocks.jdbc.url) user {settings.username}"
    try:
        try:
            await client.query("SELECT 1")
        except DdlUnreachable as exc:
            return [(False, what, str(exc), False)]
        except DdlError as exc:
            return [(False, what, str(exc), True)]
        out: list[Line] = [(True, what, "connected", True)]
        for r in sorted({(r.database, r.table): r for r in routes}.values(), key=lambda r: (r.database, r.table)):
            out.append(await _route(settings, client, r))
        return out
    finally:
        await client.close()


async def _route(settings: Settings, client: Any, route: Any) -> Line:
    table = TableKey(route.database, route.table)
    if tables_per_row(settings):
        return (True, f"tables of {route.topic}", "named per row by TableByField: each is created or evolved "
                "for a record's schema before the first of its rows loads", True)
    what = f"table {table} for {route.topic}"
    cols = await client.columns(table.database, table.table)
    if cols is None:
        if settings.tables.auto_create:
            return (True, what, "missing: auto.create creates it from the first record's schema", True)
        return (False, what, "missing, and auto.create=false", True)
    described = await _latest(settings, route)
    if described is None:
        return (True, what, f"{len(cols)} columns; the schema comes with each record (checked at the first one)",
                True)
    if isinstance(described, str):
        return (True, what, f"{len(cols)} columns; not compared: {described}", True)
    reason, new, widen = compare(table, {c.name.lower(): c for c in cols}, described, settings.tables.auto_evolve)
    if reason:
        return (False, what, f"auto.evolve would refuse records of {described.what}: {reason}", False)
    widens = (f"; auto.evolve widens {', '.join(w.text() for w in widen)} (MODIFY COLUMN) first" if widen
              else "")
    if not new:
        return (True, what, f"has a column for every field of {described.what}{widens}", True)
    lacks = ", ".join(f"{c.name} {c.type}" for c in new)
    if settings.tables.auto_evolve:
        return (True, what, f"lacks {len(new)} column(s) of {described.what}: {lacks}; auto.evolve adds them "
                            f"(nullable) before the first record that has them loads{widens}", True)
    return (False, what, f"lacks {len(new)} column(s) of {described.what}: {lacks}; auto.evolve=false, so "
                         "those fields are not loaded", False)


async def _latest(settings: Settings, route: Any) -> Any:
    """The Described of the subject's latest schema; None without a registry; a str saying why not."""
    from sinkapp.converters import build_converter
    from sinkapp.tableshape.sources import RegistrySource, source_for
    from sinkapp.tableshape.wiring import debezium_extra

    conv: Any = build_converter(route.value_converter, registry_url=settings.registry_url,
                           registry_user_info=settings.registry_user_info)
    source = source_for(conv, debezium_extra(settings))
    if not isinstance(source, RegistrySource):
        return None
    subject = f"{route.topic}-value"
    try:
        latest = await conv.registry.by_subject_version(subject, "latest")
    except Exception as exc:                      # the registry check line says more
        return f"the Schema Registry did not give subject {subject}: {exc}"
    if latest is None or latest.schema_id is None:
        return f"subject {subject} is not in the Schema Registry (no record written yet?)"
    probe = _Probe(route.topic, 0, 0, b"\x00" + struct.pack(">I", latest.schema_id) + b"\x00")
    try:
        await conv.prepare([probe])
        return await source.describe(probe)
    except ConversionError as exc:
        return f"subject {subject}: {exc}"
