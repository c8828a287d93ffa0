"""Kafka security settings and admin calls: one place for both (app start, checks, offsets).

Who calls: :mod:`sinkapp.worker.app` (topics and their partitions, the ledger and dead-letter topics at
start), :mod:`sinkapp.worker.checks` (``check --connect``), the ledger, the dead-letter queue and the
source reader (their clients' security keywords).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient

from sinkapp.config.types import KafkaSettings
from sinkapp.errors import ConfigError
from sinkapp.kafka.acl_probe import denied_message, principal_of

log = logging.getLogger(__name__)
BROKER_DEFAULT_MAX_MESSAGE_BYTES = 1048588


def ssl_context(k: KafkaSettings) -> ssl.SSLContext | None:
    """TLS context for SSL / SASL_SSL: system CAs or ``ssl.cafile``, optional client certificate."""
    if k.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    ctx = ssl.create_default_context(cafile=k.ssl_cafile)
    if k.ssl_certfile:
        ctx.load_cert_chain(k.ssl_certfile, k.ssl_keyfile)
    return ctx


def faust_credentials(k: KafkaSettings) -> Any:
    """The same settings as Faust's ``broker_credentials``."""
    ctx = ssl_context(k)
    if k.security_protocol.startswith("SASL"):
        assert k.sasl_username is not None and k.sasl_password is not None
        return faust.SASLCredentials(username=k.sasl_username, password=k.sasl_password.get(),
                                     mechanism=k.sasl_mechanism or "PLAIN", ssl_context=ctx)
    if ctx is not None:
        return faust.SSLCredentials(ctx)
    return None


def aiokafka_security(k: KafkaSettings) -> dict[str, Any]:
    """The Kafka security settings in aiokafka's keyword form."""
    kw: dict[str, Any] = {"security_protocol": k.security_protocol}
    ctx = ssl_context(k)
    if ctx is not None:
        kw["ssl_context"] = ctx
    if k.security_protocol.startswith("SASL"):
        assert k.sasl_password is not None
        kw.update(sasl_mechanism=k.sasl_mechanism or "PLAIN", sasl_plain_username=k.sasl_username,
                  sasl_plain_password=k.sasl_password.get())
    return kw


@asynccontextmanager
async def admin_client(k: KafkaSettings, **kw: Any) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=k.bootstrap_servers, **kw, **aiokafka_security(k))
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def topic_partitions(admin: AIOKafkaAdminClient) -> dict[str, int]:
    """Every topic of the cluster with its partition count."""
    names = list(await admin.list_topics())
    described = await admin.describe_topics(names) if names else []
    return {d["topic"]: len(d.get("partitions") or []) for d in described}


async def partitions_of(bootstrap: str, security: dict[str, Any], topic: str) -> list[int]:
    """The partition numbers of ``topic`` (empty when it does not exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(int(p["partition"]) for d in described if d.get("topic") == topic and not d.get("error_code")
                  for p in d.get("partitions") or [])


async def broker_count(admin: AIOKafkaAdminClient) -> int:
    return len((await admin.describe_cluster()).get("brokers") or []) or 1


async def max_message_bytes(admin: AIOKafkaAdminClient, topics: list[str]) -> int:
    """The largest ``max.message.bytes`` of ``topics`` (the broker default when unknown)."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    best = BROKER_DEFAULT_MAX_MESSAGE_BYTES
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
        for resp in responses:
            for res in resp.resources:
                for entry in res[4]:
                    if entry[0] == "max.message.bytes" and entry[1]:
                        best = max(best, int(entry[1]))
    except Exception as exc:                     # the default is a safe floor
        log.warning("could not read max.message.bytes of %s: %r", ", ".join(topics), exc)
    return best


async def ensure_topic(admin: AIOKafkaAdminClient, topic: str, *, partitions: int, replication_factor: int,
                       configs: dict[str, str], what: str, rf_key: str, k: KafkaSettings) -> bool:
    """Create ``topic`` when it does not exist; True when this call created it. The replication
    factor is capped at the cluster's broker count (a local one-broker cluster cannot hold 3).

    A refusal is a ConfigError: CREATE not granted names the ACL, the principal and the grant (as
    ``check --connect`` does), anything else the error Kafka gave."""
    from aiokafka.admin import NewTopic
    from aiokafka.errors import TopicAlreadyExistsError, for_code

    if topic in set(await admin.list_topics()):
        return False
    brokers = await broker_count(admin)
    rf = min(replication_factor, brokers)
    if rf < replication_factor:
        log.warning("%s %s: %s=%d but the cluster has %d broker(s); creating it with replication factor %d",
                    what, topic, rf_key, replication_factor, brokers, rf)
    try:
        resp = await admin.create_topics([NewTopic(topic, partitions, rf, topic_configs=configs)])
    except TopicAlreadyExistsError:
        return False                             # another worker created it first
    for err in resp.topic_errors:
        code, message = err[1], (err[2] if len(err) > 2 else "") or ""
        if code == 36:                           # TOPIC_ALREADY_EXISTS: another worker created it first
            return False
        if code in (29, 31):                     # TOPIC_ / CLUSTER_AUTHORIZATION_FAILED
            raise ConfigError(denied_message(k.bootstrap_servers, principal_of(k.security_protocol, k.sasl_username),
                                             "topic", topic, "create", f"the {what} does not exist; or have an admin "
                                             f"create it in advance with {partitions} partitions"))
        if code:
            raise ConfigError(f"{what} {topic} could not be created: {for_code(code).__name__}: {message}")
    log.info("created %s %s (partitions=%d replication.factor=%d %s)", what, topic, partitions, rf,
             " ".join(f"{k}={v}" for k, v in configs.items()))
    return True


#: the ledger topic: compacted, with small segments so the log cleaner keeps what a starting
#: worker reads near the number of keys (two records per load per member partition)
LEDGER_TOPIC_CONFIG = {"cleanup.policy": "compact", "segment.ms": "600000", "segment.bytes": "16777216",
                       "min.cleanable.dirty.ratio": "0.1", "delete.retention.ms": "3600000"}
