"""The Kafka ACLs a worker needs, and whether its principal holds them.

Who calls: :func:`sinkapp.worker.checks.run_checks` (``check --connect`` and the worker's start-up
checks): one :class:`Finding` per needed ACL, which checks.py prints as one ``ok``/``FAIL`` line.

What a worker does on Kafka, and so needs (README "Permissions (ACLs)" lists the same):

* READ on each source topic (the group consumer, and re-reading a pending batch's records);
* READ on the consumer group ``group.id`` (join, fetch and commit offsets);
* READ and WRITE on the ledger topic ``sinkapp.ledger.topic`` (read whole at start, then one
  idempotent producer), and CREATE on it while it does not exist;
* with ``errors.deadletterqueue.topic.name``: WRITE on it (CREATE while missing), and
  DESCRIBE_CONFIGS on each source topic (the dead-letter topic is created with their largest
  ``max.message.bytes``, :func:`sinkapp.kafka.admin.max_message_bytes`).

Whether it holds them is asked of the broker for the principal itself
(:mod:`sinkapp.kafka.acl_probe`): no admin rights needed. Without an authorizer on the broker
every operation is allowed and every line is ``ok``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sinkapp.config import Settings
from sinkapp.config.routes import Route
from sinkapp.kafka.acl_probe import (
    acl_what,
    create_refused,
    denied_detail,
    group_operations,
    principal_of,
    topic_operations,
)
from sinkapp.kafka.admin import LEDGER_TOPIC_CONFIG, admin_client, broker_count


@dataclass(frozen=True)
class Need:
    resource: str            # topic | group
    name: str
    operation: str           # read | write | create | describe_configs
    why: str


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    detail: str
    definitive: bool = True


def needs(settings: Settings, routes: list[Route]) -> list[Need]:
    """Every ACL a worker of these settings needs on topics and groups that exist (CREATE on a
    missing ledger or dead-letter topic comes on top, see :func:`check_acls`)."""
    k = settings.kafka
    assert k is not None
    topics = sorted({r.topic for r in routes})
    out = [Need("topic", t, "read", "source topic") for t in topics]
    out.append(Need("group", k.group_id, "read", "the consumer group, group.id"))
    out += [Need("topic", settings.ledger_topic, op, "the ledger topic, sinkapp.ledger.topic") for op in ("read", "write")]
    dlq = settings.errors.dlq_topic
    if dlq:
        out.append(Need("topic", dlq, "write", "the dead-letter topic, errors.deadletterqueue.topic.name"))
        out += [Need("topic", t, "describe_configs",
                     "its max.message.bytes sizes the dead-letter topic") for t in topics]
    return out


async def check_acls(settings: Settings, routes: list[Route]) -> list[Finding]:
    """One finding per needed ACL, asked of the broker as this worker's principal."""
    k = settings.kafka
    assert k is not None
    principal = principal_of(k.security_protocol, k.sasl_username)
    wanted = needs(settings, routes)
    try:
        async with admin_client(k, request_timeout_ms=10_000) as admin:
            topics = await topic_operations(admin, sorted({n.name for n in wanted if n.resource == "topic"}))
            try:
                group_ops = await group_operations(admin, k.group_id)
            except (TimeoutError, OSError) as exc:
                group_ops, group_error = frozenset(), str(exc) or type(exc).__name__
            else:
                group_error = ""
            out = []
            for n in wanted:
                what = acl_what(principal, n.resource, n.name, n.operation)
                if n.resource == "group" and group_error:
                    out.append(Finding(False, what, f"could not ask: {group_error}", definitive=False))
                    continue
                allowed = group_ops if n.resource == "group" else topics.get(n.name, (None, frozenset()))[1]
                if allowed is None:
                    out.append(Finding(True, what, "not checked: the broker does not report authorized operations"))
                elif n.operation in allowed:
                    out.append(Finding(True, what, n.why))
                else:
                    out.append(Finding(False, what, denied_detail(k.bootstrap_servers, principal, n.resource,
                                                                  n.name, n.operation, n.why)))
            out += await _creatable(admin, settings, principal, {t: e for t, (e, _) in topics.items()})
    except Exception as exc:
        return [Finding(False, f"Kafka ACLs for {principal}", f"could not ask the broker: {type(exc).__name__}: "
                        f"{exc}", definitive=False)]
    return out


async def _creatable(admin: object, settings: Settings, principal: str,
                     exists: dict[str, bool | None]) -> list[Finding]:
    """CREATE on the ledger and dead-letter topics that do not exist yet (asked with validate_only)."""
    k = settings.kafka
    assert k is not None
    e = settings.errors
    own = [(settings.ledger_topic, settings.ledger_partitions, settings.ledger_replication_factor,
            dict(LEDGER_TOPIC_CONFIG), "the ledger topic, sinkapp.ledger.topic; compacted")]
    if e.dlq_topic:
        own.append((e.dlq_topic, e.dlq_partitions, e.dlq_replication_factor, {},
                    "the dead-letter topic, errors.deadletterqueue.topic.name"))
    out = []
    brokers = 0
    for topic, partitions, rf, configs, why in own:
        if exists.get(topic):
            continue
        brokers = brokers or await broker_count(admin)     # type: ignore[arg-type]
        what = acl_what(principal, "topic", topic, "create")
        refused = await create_refused(admin, topic, partitions=partitions, replication_factor=min(rf, brokers),
                                       configs=configs)
        if refused is None:
            out.append(Finding(True, what, f"the topic does not exist yet; the worker creates it ({why})"))
        elif refused[0] in (29, 31):        # TOPIC_ / CLUSTER_AUTHORIZATION_FAILED
            detail = denied_detail(k.bootstrap_servers, principal, "topic", topic, "create",
                                   f"the topic does not exist: {why}, {partitions} partitions")
            out.append(Finding(False, what, detail + "; or have an admin create the topic in advance"))
        else:
            out.append(Finding(False, f"Kafka topic {topic}", f"cannot be created (error {refused[0]}: "
                               f"{refused[1]}; {why})"))
    return out
