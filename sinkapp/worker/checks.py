"""Connectivity checks: what ``sinkapp check --connect`` prints and what a worker checks at start.

Who calls: :mod:`sinkapp.cli` (``check --connect``: every check, one line each, exit 1 on any
FAIL) and :func:`sinkapp.worker.app.create_app` (before the worker joins the group: a *definitive*
failure stops start-up with the same message; an unreachable FE or registry is logged and
waited out by the data path, since it is often a moment's outage).

Checks, in order: Kafka reachable with these credentials; each route's topic exists (partition
count; ``topics.regex`` resolved); the Kafka ACLs the worker needs, asked of the broker as its own
principal (:mod:`sinkapp.kafka.acls`: READ on each source topic and the group, READ and WRITE on the
ledger topic, CREATE on it while missing, the dead-letter topic's); the Schema Registry reachable and authorised (routes whose
converter uses it); each FE reachable; the StarRocks credentials and each target table, through
the Stream Load protocol itself: a load of zero rows under a fresh label, which StarRocks answers
``all partitions have no load data`` (or Success with 0 rows) when user, password, database and
table are right, 401 for bad credentials and ``unknown table`` / ``unknown database`` otherwise
(:class:`~sinkapp.errors.UnknownTable`, :class:`~sinkapp.errors.UnknownDatabase`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sinkapp.config import Settings, starrocks_ssl_context
from sinkapp.config.routes import Route
from sinkapp.config.tables import tables_per_row
from sinkapp.errors import (
    AuthRejected,
    LoadError,
    LoadRejected,
    LoadRetriable,
    NoLoadData,
    UnknownDatabase,
    UnknownTable,
    Unreachable,
)
from sinkapp.kafka.acls import check_acls
from sinkapp.kafka.admin import aiokafka_security
from sinkapp.observe import redact

#: a flush interval above this (ms) gets a note: a first run would show no rows for that long
SLOW_FIRST_ROWS_MS = 60_000


def first_rows_note(settings: Settings) -> str | None:
    """What ``sinkapp check`` warns of (and a worker logs at start) when ``bufferflush.intervalms`` is
    over a minute: when the first rows will appear in StarRocks. None when it is a minute or less."""
    ms = settings.bufferflush_intervalms
    if ms <= SLOW_FIRST_ROWS_MS:
        return None
    minutes = f"{ms / 60_000:g} min"
    return (f"bufferflush.intervalms={ms} ({minutes}): a table's rows are loaded when its oldest buffered row is "
            f"{minutes} old (sooner only when its batch reaches bufferflush.maxbytes={settings.bufferflush_maxbytes} "
            f"or sinkapp.flush.max.rows={settings.flush_max_rows}), so the first rows appear in StarRocks up to "
            f"{minutes} after the worker reads them; set bufferflush.intervalms=10000 or lower to see rows within "
            "seconds")


@dataclass(frozen=True)
class Check:
    ok: bool
    what: str
    detail: str = ""
    definitive: bool = True          # False: a reachability failure that may pass in a moment

    def line(self) -> str:
        text = f"{'ok  ' if self.ok else 'FAIL'} {self.what}" + (f": {self.detail}" if self.detail else "")
        return redact.redact(text)


async def _kafka(settings: Settings) -> tuple[Check, dict[str, int]]:
    from aiokafka.admin import AIOKafkaAdminClient

    k = settings.kafka
    assert k is not None
    admin = AIOKafkaAdminClient(bootstrap_servers=k.bootstrap_servers, request_timeout_ms=10_000,
                                **aiokafka_security(k))
    try:
        await asyncio.wait_for(admin.start(), 15)
        names = list(await admin.list_topics())
        described = await admin.describe_topics(names) if names else []
        parts = {d["topic"]: len(d.get("partitions") or []) for d in described}
    except Exception as exc:
        return Check(False, f"Kafka {k.bootstrap_servers} ({k.security_protocol})",
                     f"cannot connect: {type(exc).__name__}: {exc}; check bootstrap.servers, "
                     "security.protocol and the SASL/TLS settings", definitive=False), {}
    finally:
        try:
            await admin.close()
        except Exception:
            pass
    return Check(True, f"Kafka {k.bootstrap_servers} ({k.security_protocol})", f"{len(parts)} topics"), parts


def _topics(routes: list[Route], parts: dict[str, int]) -> list[Check]:
    out = []
    for r in routes:
        n = parts.get(r.topic)
        out.append(Check(bool(n), f"topic {r.topic} -> {r.database}.{r.table}",
                         f"{n} partitions" if n else "does not exist (sinkapp does not create source topics)"))
    return out


async def _registry(settings: Settings, routes: list[Route]) -> list[Check]:
    from sinkapp.converters.registry import RegistryRefused, RegistryUnavailable, registry_from_settings

    needs = {id(r.value_converter): r.value_converter for r in routes
             if "confluent" in r.value_converter.class_name}
    out = []
    for cs in needs.values():
        try:
            reg = registry_from_settings(cs, registry_url=settings.registry_url,
                                         registry_user_info=settings.registry_user_info)
        except Exception as exc:
            out.append(Check(False, f"Schema Registry for {cs.class_name}", str(exc)))
            continue
        try:
            subjects = await reg._get("get_subjects")
            out.append(Check(True, f"Schema Registry {reg.url}", f"{len(subjects or [])} subjects"))
        except RegistryRefused as exc:
            out.append(Check(False, f"Schema Registry {reg.url}", f"refused: {exc}"))
        except RegistryUnavailable as exc:
            out.append(Check(False, f"Schema Registry {reg.url}", f"unreachable: {exc}", definitive=False))
    return out


async def _starrocks(settings: Settings, routes: list[Route]) -> list[Check]:
    from sinkapp.streamload.client import StreamLoadClient
    from sinkapp.streamload.encoding import load_headers

    out = []
    for fe in settings.http_urls:
        client = StreamLoadClient([fe], settings.username, settings.password,
                                  connect_timeout_s=settings.connect_timeoutms / 1000.0, request_timeout_s=30.0,
                                  ssl_context=starrocks_ssl_context(settings))
        try:
            for r in sorted({(r.database, r.table, r.headers.get("format", "json")): r for r in routes}.values(),
                            key=lambda r: r.table):
                what = f"StarRocks {fe} user {settings.username} table {r.database}.{r.table}"
                body = b"[]" if load_headers(r.headers)["format"].lower() == "json" else b""
                label = f"{settings.label_prefix}-check-{uuid.uuid4().hex[:16]}"
                try:
                    res = await client.load(r.database, r.table, label, body, load_headers(r.headers))
                    out.append(Check(True, what, f"a zero-row load answered {res.status}"))
                except NoLoadData:
                    out.append(Check(True, what, "credentials and table accepted (zero-row load)"))
                except Unreachable as exc:
                    out.append(Check(False, f"StarRocks FE {fe}", f"unreachable: {exc}", definitive=False))
                    break
                except LoadRetriable as exc:
                    out.append(Check(False, what, str(exc), definitive=False))
                except AuthRejected as exc:
                    out.append(Check(False, what, str(exc).split("\n", 1)[0]))
                except (UnknownTable, UnknownDatabase) as exc:
                    missing = "database" if isinstance(exc, UnknownDatabase) else "table"
                    if settings.tables.auto_create:
                        out.append(Check(True, what, f"credentials accepted; the {missing} is missing and auto.create "
                                                     "creates it"))
                    elif tables_per_row(settings):
                        out.append(Check(True, f"StarRocks {fe} user {settings.username}",
                                         "credentials accepted; tables are chosen per row (TableByField)"))
                    else:
                        out.append(Check(False, what, str(exc).split("\n", 1)[0]))
                except LoadRejected as exc:
                    out.append(Check(False, what, str(exc).split("\n", 1)[0]))
                except LoadError as exc:
                    out.append(Check(False, what, str(exc)))
        finally:
            await client.close()
    return out


async def run_checks(settings: Settings, routes: list[Route] | None = None,
                     partitions: dict[str, int] | None = None,
                     adjust: Callable[[list[Route]], list[Route]] = lambda routes: routes) -> list[Check]:
    """Every check; ``routes``/``partitions`` when the caller resolved them already; ``adjust``
    applies what transforms change of a route (its table, its headers)."""
    from sinkapp.config.routes import build_routes

    checks: list[Check] = []
    if partitions is None:
        kafka, partitions = await _kafka(settings)
        checks.append(kafka)
        if not kafka.ok:
            return checks
    if routes is None:
        routes = adjust(build_routes(settings, partitions))
        if settings.topics_regex:
            checks.append(Check(bool(routes), f"topics.regex {settings.topics_regex!r}",
                                f"{len(routes)} matching topic(s)" if routes else "matches no topic"))
    checks += _topics(routes, partitions)
    present = [r for r in routes if partitions.get(r.topic)]
    checks += [Check(f.ok, f.what, f.detail, f.definitive) for f in await check_acls(settings, present)]
    checks += await _registry(settings, present)
    checks += await _starrocks(settings, present)
    if settings.tables.enabled:
        from sinkapp.tableshape.report import table_report

        checks += [Check(*line) for line in await table_report(settings, present)]
    return checks
