"""What a worker does before it joins the consumer group: routes, checks, its own topics.

Who calls: :func:`sinkapp.worker.app.create_app` (each step in its own ``asyncio.run``, before Faust's
loop exists) and ``sinkapp check`` (``routes_with_transforms``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sinkapp.config import Settings
from sinkapp.config.routes import Route, build_routes
from sinkapp.config.tableprops import table_headers
from sinkapp.config.tables import REGEX_ROUTER, tables_per_row
from sinkapp.config.targets import check_targets, split_target
from sinkapp.errors import ConfigError, InfraError
from sinkapp.kafka.admin import (
    LEDGER_TOPIC_CONFIG,
    admin_client,
    aiokafka_security,
    ensure_topic,
    max_message_bytes,
    topic_partitions,
)
from sinkapp.transforms.builtin import routed_table
from sinkapp.transforms.debezium import op_headers

log = logging.getLogger(__name__)


def resolve_routes(settings: Settings) -> tuple[list[Route], dict[str, int]]:
    """Routes for ``topics`` (or ``topics.regex``) and each topic's partition count.

    A configured topic that does not exist is a ConfigError: sinkapp never creates source topics."""
    return asyncio.run(resolve_routes_async(settings))


async def resolve_routes_async(settings: Settings) -> tuple[list[Route], dict[str, int]]:
    k = settings.kafka
    assert k is not None
    try:
        async with admin_client(k) as admin:
            partitions = await topic_partitions(admin)
    except Exception as exc:
        raise InfraError(f"cannot reach Kafka at bootstrap.servers={k.bootstrap_servers}: {exc!r}") from None
    routes = build_routes(settings, partitions)
    if not routes:
        raise ConfigError(f"topics.regex={settings.topics_regex!r} matches no existing topic")
    missing = [r.topic for r in routes if not partitions.get(r.topic)]
    if missing:
        raise ConfigError(f"topics: {', '.join(missing)} does not exist on the Kafka cluster "
                          f"{k.bootstrap_servers} (sinkapp does not create source topics)")
    return routes, partitions


def routes_with_transforms(settings: Settings, routes: list[Route], chain: Any) -> list[Route]:
    """What the transforms change of a route itself: RegexRouter picks its target (``table`` or
    ``db.table``, and so the table's load properties), the Debezium transform adds ``__op`` to its columns /
    jsonpaths headers (deletes need it). Every target must then have a database (:func:`check_targets`)."""
    out = routes if chain is None else [_transformed(settings, route, chain) for route in routes]
    check_targets(out, per_row=tables_per_row(settings))
    return out


def _transformed(settings: Settings, route: Route, chain: Any) -> Route:
    for spec, _ in chain.steps:
        if spec.type in REGEX_ROUTER:
            target = routed_table(route.topic, spec.options, settings.topic2table)
            database, table = (split_target(target, settings.database, f"transforms.{spec.name} (RegexRouter)")
                               if target != route.topic else (route.database, route.table))
            route = dataclasses.replace(route, database=database, table=table,
                                        headers=table_headers(settings, database, table))
    return dataclasses.replace(route, headers=chain_headers(chain, route.headers))


def chain_headers(chain: Any, headers: Mapping[str, str]) -> dict[str, str]:
    """A table's load properties as the transforms need them: the Debezium transform's ``__op``
    added to ``columns`` / ``jsonpaths`` (:func:`~sinkapp.transforms.debezium.op_headers`)."""
    debezium = chain is not None and any(spec.type == "Debezium" for spec, _ in chain.steps)
    return op_headers(headers) if debezium else dict(headers)


def check_at_start(settings: Settings, routes: list[Route], partitions: dict[str, int]) -> None:
    """The checks of ``sinkapp check --connect``; a definitive failure (credentials, a missing table
    or database, registry authorisation) stops start-up now instead of at the first flush."""
    from sinkapp.worker.checks import first_rows_note, run_checks

    note = first_rows_note(settings)
    if note:
        log.warning("%s", note)
    bad = judge_checks(asyncio.run(run_checks(settings, routes, partitions)))
    if bad:
        raise ConfigError("start-up checks failed (sinkapp check --connect prints them all):\n"
                          + "\n".join(c.line() for c in bad))


def judge_checks(checks: list[Any]) -> list[Any]:
    """The definitive failures among ``checks`` (a worker does not start, or a new topic is not
    routed); a passing failure (an FE or the registry unreachable) is logged and waited out."""
    for c in checks:
        if not c.ok and not c.definitive:
            log.warning("start-up check: %s (the worker starts and waits it out)", c.line())
    return [c for c in checks if not c.ok and c.definitive]


@dataclass(frozen=True)
class OwnTopics:
    dlq_max_message_bytes: int | None


def ensure_own_topics(settings: Settings, routes: list[Route]) -> OwnTopics:
    """Create the ledger topic and the dead-letter topic when missing (an admin may create them in
    advance; then no CREATE permission is needed)."""
    k = settings.kafka
    assert k is not None
    e = settings.errors

    async def run() -> OwnTopics:
        async with admin_client(k) as admin:
            await ensure_topic(admin, settings.ledger_topic, partitions=settings.ledger_partitions,
                               replication_factor=settings.ledger_replication_factor, configs=LEDGER_TOPIC_CONFIG,
                               what="ledger topic", rf_key="sinkapp.ledger.topic.replication.factor", k=k)
            if not e.dlq_topic:
                return OwnTopics(None)
            size = await max_message_bytes(admin, [r.topic for r in routes])
            await ensure_topic(admin, e.dlq_topic, partitions=e.dlq_partitions,
                               replication_factor=e.dlq_replication_factor,
                               configs={"max.message.bytes": str(size)}, what="dead-letter topic",
                               rf_key="errors.deadletterqueue.topic.replication.factor", k=k)
            return OwnTopics(size)

    return asyncio.run(run())


def migrate_old_ledgers(settings: Settings, routes: list[Route], partitions: dict[str, int]) -> None:
    """0.2 kept one ledger topic per route; read those once into the group's ledger topic."""
    from sinkapp.kafka.ledger import KafkaLedger
    from sinkapp.kafka.ledger_migrate import migrate

    k = settings.kafka
    assert k is not None

    async def run() -> None:
        ledger = KafkaLedger(settings.ledger_topic, k.bootstrap_servers, aiokafka_security(k))
        try:
            await migrate(ledger, settings, routes, partitions)
        finally:
            await ledger.close()

    asyncio.run(run())
