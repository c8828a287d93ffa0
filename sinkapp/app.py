"""The Faust application: one agent per route, a flush timer, drain on rebalance and shutdown.

Who calls: ``faust -A sinkapp.app worker`` (the Procfile) and ``sinkapp worker --config FILE``.
The module attribute ``app`` is built lazily from ``SINKAPP_CONFIG`` (a connector JSON file)
plus ``SINKAPP_*`` environment variables, so importing this module has no side effects.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
import ssl
import time
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient
from faust.types import TP

from sinkapp import redact
from sinkapp.config import KafkaSettings, Settings, load_settings, starrocks_ssl_context
from sinkapp.consumer import BatchConsumer, BatchTransport
from sinkapp.converters import build_converter
from sinkapp.converters.simple import set_zone
from sinkapp.dlq import DeadLetterQueue, ensure_topic
from sinkapp.encoding import build_encoder
from sinkapp.errors import ConfigError, InfraError
from sinkapp.ledger import KafkaLedger
from sinkapp.refetch import SourceReader
from sinkapp.routes import LEDGER_INFIX, Route, build_routes
from sinkapp.sink import RouteSink
from sinkapp.streamload.client import StreamLoadClient
from sinkapp.streamload.retry import RetryPolicy
from sinkapp.transforms import build_chain
from sinkapp.transforms.builtin import routed_table
from sinkapp.transforms.debezium import op_headers
from sinkapp.web import add_pages

log = logging.getLogger(__name__)

TAKE_MAX_BATCHES = 64          # fetched partition batches per agent step
STREAM_BUFFER_BATCHES = 16     # batches queued per route before the fetcher waits (flow control)
TAKE_WITHIN_S = 0.1            # the agent passes what it took to the sink at least this often
FLUSH_TICK_S = 0.2             # the flush timer's period (age trigger resolution)
PROGRESS_INTERVAL_S = 10.0
IDLE_PROGRESS_INTERVAL_S = 600.0


class SinkApp(faust.App):
    """faust.App whose consumer carries fetched partition batches (:mod:`sinkapp.consumer`) and
    that drains the route sinks before Faust revokes partitions or waits for un-acked events.

    ``before_revoke`` (called by :class:`BatchConsumer` while the partitions are still assigned)
    flushes within ``sinkapp.drain.timeout.ms``; the consumer then commits what loaded. Faust
    calls ``_consumer_wait_empty`` when partitions are revoked and when the worker stops; it
    blocks until every event is acked or dropped (faust-streaming.md §1.3), so the sinks are
    drained there too and what they released is forgotten un-acked.
    """

    sinks: list[RouteSink]
    stream_load_client: StreamLoadClient | None = None
    ledgers: list[KafkaLedger] = []
    dlq: DeadLetterQueue | None = None
    readers: list[SourceReader] = []
    drain_timeout_s: float = 20.0
    sinkapp_name: str = "starrocks-sink"
    stall_after_s: float = 60.0

    async def _drain_sinks(self, why: str) -> None:
        sinks = getattr(self, "sinks", [])
        if sinks:
            log.info("sinkapp: %s: flushing %d route(s), at most %.1fs", why, len(sinks), self.drain_timeout_s)
            await asyncio.gather(*(s.drain(self.drain_timeout_s) for s in sinks))

    def _new_transport(self) -> Any:
        """Every route topic is read through :class:`BatchConsumer` (one event per fetched batch)."""
        return BatchTransport(self.conf.broker_consumer, self)

    async def before_revoke(self, revoked: set[TP]) -> None:
        """Flush before Faust revokes: a batch held past the revoke would be loaded by a worker
        that no longer owns the partition, after its new owner started from the commit."""
        await self._drain_sinks("partitions revoked")

    async def _on_partitions_revoked(self, revoked: Any) -> None:
        await super()._on_partitions_revoked(revoked)
        for s in getattr(self, "sinks", []):
            s.release()                              # events that slipped in before flow stopped

    async def on_stop(self) -> None:
        await super().on_stop()
        client = getattr(self, "stream_load_client", None)
        if client is not None:
            await client.close()
        for ledger in self.ledgers:
            await ledger.close()
        dlq = getattr(self, "dlq", None)
        if dlq is not None:
            await dlq.close()
        for reader in self.readers:
            await reader.close()

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        sinks = getattr(self, "sinks", [])
        if sinks:
            await self._drain_sinks("stopping")
            self._forget_released(consumer, {s.route.topic for s in sinks})
        await super()._consumer_wait_empty(consumer, logger)

    @staticmethod
    def _forget_released(consumer: Any, topics: set[str]) -> None:
        """Drop our topics' still-unacked messages from Faust's wait set (never ack them).

        After ``drain`` the sinks hold nothing, but Faust itself keeps a reference to the last
        event of a stream, and a stopped route's events are never acked: ``wait_empty`` would
        wait for them until the rebalance timeout. Not acking keeps their offsets uncommitted,
        so they are delivered again to whoever owns the partition next.
        """
        unacked = getattr(consumer, "_unacked_messages", None)
        if unacked is None:
            return
        for msg in [m for m in unacked if m.tp.topic in topics]:
            unacked.discard(msg)


class _TransientCoordinatorError(logging.Filter):
    """aiokafka logs ERROR "Group Coordinator Request failed: GroupCoordinatorNotAvailableError"
    while a fresh cluster elects the coordinator (every first start); it retries by itself. INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and "GroupCoordinatorNotAvailable" in record.getMessage():
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


logging.getLogger("aiokafka.consumer.group_coordinator").addFilter(_TransientCoordinatorError())


def _ssl_context(k: KafkaSettings) -> ssl.SSLContext | None:
    """TLS context for SSL / SASL_SSL: system CAs or ``ssl.cafile``, optional client certificate."""
    if k.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    ctx = ssl.create_default_context(cafile=k.ssl_cafile)
    if k.ssl_certfile:
        ctx.load_cert_chain(k.ssl_certfile, k.ssl_keyfile)
    return ctx


def _credentials(k: KafkaSettings) -> Any:
    ctx = _ssl_context(k)
    if k.security_protocol.startswith("SASL"):
        assert k.sasl_username is not None and k.sasl_password is not None
        return faust.SASLCredentials(username=k.sasl_username, password=k.sasl_password.get(),
                                     mechanism=k.sasl_mechanism or "PLAIN", ssl_context=ctx)
    if ctx is not None:
        return faust.SSLCredentials(ctx)
    return None


def aiokafka_security(k: KafkaSettings) -> dict[str, Any]:
    """The same Kafka security settings in aiokafka's keyword form (admin client, tests)."""
    kw: dict[str, Any] = {"security_protocol": k.security_protocol}
    ctx = _ssl_context(k)
    if ctx is not None:
        kw["ssl_context"] = ctx
    if k.security_protocol.startswith("SASL"):
        assert k.sasl_password is not None
        kw.update(sasl_mechanism=k.sasl_mechanism or "PLAIN", sasl_plain_username=k.sasl_username,
                  sasl_plain_password=k.sasl_password.get())
    return kw


async def _topic_partitions(k: KafkaSettings) -> dict[str, int]:
    """Every topic of the cluster with its partition count."""
    admin = AIOKafkaAdminClient(bootstrap_servers=k.bootstrap_servers, **aiokafka_security(k))
    await admin.start()
    try:
        names = list(await admin.list_topics())
        described = await admin.describe_topics(names) if names else []
        return {d["topic"]: len(d.get("partitions") or []) for d in described}
    finally:
        await admin.close()


async def _ensure_ledger_topics(k: KafkaSettings, topics: dict[str, int], existing: set[str]) -> None:
    """Create the compacted ledger topics not in ``existing`` (partitions like the source)."""
    from aiokafka.admin import NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=k.bootstrap_servers, **aiokafka_security(k))
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster()).get("brokers") or []) or 1
        replicas = min(3, brokers)                   # Confluent Cloud: 3; a local broker: 1
        new = [NewTopic(name, n, replicas, topic_configs={"cleanup.policy": "compact"})
               for name, n in topics.items() if name not in existing]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass                                 # another worker created it first
    finally:
        await admin.close()


async def _max_message_bytes(admin: AIOKafkaAdminClient, topics: list[str]) -> int:
    """The largest ``max.message.bytes`` of ``topics`` (broker default 1048588 when unknown)."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    best = 1048588
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


async def _ensure_dlq_topic(k: KafkaSettings, settings: Settings, sources: list[str]) -> int:
    """Create the dead-letter topic when missing; the max.message.bytes it allows."""
    e = settings.errors
    assert e.dlq_topic is not None
    admin = AIOKafkaAdminClient(bootstrap_servers=k.bootstrap_servers, **aiokafka_security(k))
    await admin.start()
    try:
        size = await _max_message_bytes(admin, sources)
        await ensure_topic(admin, e.dlq_topic, partitions=e.dlq_partitions,
                           replication_factor=e.dlq_replication_factor, max_message_bytes=size)
        return size
    finally:
        await admin.close()


def resolve_routes(settings: Settings) -> tuple[list[Route], dict[str, int]]:
    """Routes for ``topics`` (or ``topics.regex``) and each source topic's partition count.

    A configured topic that does not exist is a ConfigError: sinkapp never creates source topics.
    """
    assert settings.kafka is not None
    try:
        partitions = asyncio.run(_topic_partitions(settings.kafka))
    except Exception as exc:
        raise InfraError(f"cannot reach Kafka at bootstrap.servers={settings.kafka.bootstrap_servers}: "
                         f"{exc!r}") from None
    routes = build_routes(settings, partitions)
    if not routes:
        raise ConfigError(f"topics.regex={settings.topics_regex!r} matches no existing topic")
    missing = [r.topic for r in routes if not partitions.get(r.topic)]
    if missing:
        raise ConfigError(f"topics: {', '.join(missing)} does not exist on the Kafka cluster "
                          f"{settings.kafka.bootstrap_servers} (sinkapp does not create source topics)")
    return routes, partitions


def create_app(settings: Settings, **faust_options: Any) -> SinkApp:
    """Build the Faust app: one agent and one ledger table per route, resolved against Kafka."""
    k = settings.kafka
    assert k is not None
    redact.register_settings(settings)
    redact.install()
    set_zone(settings.timezone)
    routes, partitions = resolve_routes(settings)
    chain = build_chain(settings.transforms)
    routes = routes_with_transforms(settings, routes, chain)
    _check_at_start(settings, routes, partitions)
    ledger_topics = {r.topic: f"{k.group_id}{LEDGER_INFIX}{r.topic}" for r in routes}
    asyncio.run(_ensure_ledger_topics(k, {ledger_topics[t]: partitions[t] for t in ledger_topics},
                                      set(partitions)))
    ledgers = {t: KafkaLedger(name, k.bootstrap_servers, aiokafka_security(k)) for t, name in ledger_topics.items()}
    options: dict[str, Any] = dict(
        broker=[f"kafka://{h.strip()}" for h in k.bootstrap_servers.split(",")],
        broker_credentials=_credentials(k),
        store="memory://",
        table_standby_replicas=0,
        topic_disable_leader=True,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset=k.auto_offset_reset,
        broker_session_timeout=k.session_timeout_ms / 1000.0,
        broker_heartbeat_interval=k.heartbeat_interval_ms / 1000.0,
        processing_guarantee="at_least_once",
        stream_wait_empty=True,
        web_enabled=True,
        web_port=int(os.environ.get("SINKAPP_WEB_PORT", settings.web_port)),
        web_bind=settings.web_bind,
        web_tables_enabled=False,
        web_router_enabled=False,
        stream_buffer_maxsize=STREAM_BUFFER_BATCHES,
        broker_rebalance_timeout=max(60.0, 3 * settings.drain_timeout_ms / 1000.0),
    )
    options.update(faust_options)
    app = SinkApp(k.group_id, **options)
    app.drain_timeout_s = settings.drain_timeout_ms / 1000.0
    app.sinkapp_name = settings.name
    app.stall_after_s = settings.stall_timeout_ms / 1000.0
    client = StreamLoadClient(settings.http_urls, settings.username, settings.password,
                              connect_timeout_s=settings.connect_timeoutms / 1000.0,
                              request_timeout_s=settings.load_timeout_ms / 1000.0,
                              ssl_context=starrocks_ssl_context(settings))
    app.stream_load_client = client
    app.ledgers = list(ledgers.values())
    e = settings.errors
    dlq = None
    if e.dlq_topic:
        size = asyncio.run(_ensure_dlq_topic(k, settings, [r.topic for r in routes]))
        dlq = DeadLetterQueue(e.dlq_topic, k.bootstrap_servers, aiokafka_security(k), connector=settings.name,
                              context_headers=e.context_headers, max_request_size=max(size + 65536, 16 << 20))
        app.dlq = dlq
        log.info("errors.tolerance=all: bad records go to the dead-letter topic %s", e.dlq_topic)
    elif e.tolerant:
        log.warning("errors.tolerance=all without errors.deadletterqueue.topic.name: bad records are skipped "
                    "(logged with errors.log.enable=true, counted on the status page), as Kafka Connect does")
    slots = asyncio.Semaphore(settings.tasks_max)
    policy = RetryPolicy(max_retries=settings.sink_maxretries)
    app.sinks = []
    app.readers = []
    # the agent hands what it has to the sink every TAKE_WITHIN_S and the flush timer checks the
    # age trigger every FLUSH_TICK_S: a row is visible at most ~intervalms + 0.3 s + load time after
    # it was fetched (checking is a scan of a few buffers, not of rows)
    within_s = TAKE_WITHIN_S
    if chain is not None:
        log.info("transforms: %s", ", ".join(f"{spec.name}={spec.type}" for spec, _ in chain.steps))
    for i, route in enumerate(routes):
        converter = build_converter(route.value_converter, registry_url=settings.registry_url,
                                    registry_user_info=settings.registry_user_info)
        # rows StarRocks refuses are found in the batch read again from Kafka (dead-lettered with
        # tolerance all; with none, the rows before the first one are loaded before the route stops)
        reader = SourceReader(route.topic, k.bootstrap_servers, aiokafka_security(k))
        app.readers.append(reader)
        refetch = reader.read
        sink = RouteSink(route, client, converter,
                         build_encoder(route.headers), label_prefix=settings.label_prefix,
                         max_bytes=settings.bufferflush_maxbytes, max_rows=settings.flush_max_rows,
                         max_age_ms=settings.bufferflush_intervalms, policy=policy, load_slots=slots,
                         ledger=ledgers[route.topic], errors=e, dlq=dlq, refetch=refetch, chain=chain,
                         task_id=str(i),
                         **_consumer_hooks(app, route.topic))
        app.sinks.append(sink)
        _add_agent(app, i, route, sink, within_s)
    _add_timers(app, FLUSH_TICK_S)
    add_pages(app)
    return app


def routes_with_transforms(settings: Settings, routes: list[Route], chain: Any) -> list[Route]:
    """What the transforms change of a route itself: RegexRouter picks its table, the Debezium
    transform adds ``__op`` to its columns / jsonpaths headers (deletes need it)."""
    if chain is None:
        return routes
    out = []
    for route in routes:
        for spec, _ in chain.steps:
            if spec.type in ("RegexRouter", "org.apache.kafka.connect.transforms.RegexRouter"):
                route = dataclasses.replace(route, table=routed_table(route.topic, spec.options,
                                                                      settings.topic2table))
            elif spec.type == "Debezium":
                route = dataclasses.replace(route, headers=op_headers(route.headers))
        out.append(route)
    return out


def _check_at_start(settings: Settings, routes: list[Route], partitions: dict[str, int]) -> None:
    """The checks of ``sinkapp check --connect``; a definitive failure (credentials, a missing table
    or database, registry authorisation) stops start-up now instead of at the first flush."""
    from sinkapp.checks import run_checks

    checks = asyncio.run(run_checks(settings, routes, partitions))
    for c in checks:
        if not c.ok and not c.definitive:
            log.warning("start-up check: %s (the worker starts and waits it out)", c.line())
    bad = [c for c in checks if not c.ok and c.definitive]
    if bad:
        raise ConfigError("start-up checks failed (sinkapp check --connect prints them all):\n"
                          + "\n".join(c.line() for c in bad))


def _consumer_hooks(app: SinkApp, topic: str) -> dict[str, Any]:
    """The sink's hooks into the batch consumer for one route topic."""
    def consumer() -> BatchConsumer:
        return app.consumer  # type: ignore[return-value]

    def accepts(partition: int) -> bool:
        return consumer().owns(TP(topic, partition))

    def owns(partition: int) -> bool:
        return TP(topic, partition) in consumer().assignment()

    def on_loaded(partition: int, last_offset: int) -> None:
        consumer().mark_loaded(TP(topic, partition), last_offset)

    def on_gap(partition: int, resume: int | None) -> None:
        c = consumer()
        fut = c.seek(TP(topic, partition), resume) if resume is not None else c.perform_seek()
        asyncio.ensure_future(fut)

    return {"accepts": accepts, "owns": owns, "on_loaded": on_loaded, "on_gap": on_gap}


def _add_agent(app: SinkApp, i: int, route: Route, sink: RouteSink, within_s: float) -> None:
    topic = app.topic(route.topic, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")

    async def agent(stream: Any) -> None:
        # each event is one fetched partition batch (sinkapp.consumer); noack_take never
        # auto-acks (faust-streaming.md §1.2): the sink acks after the load succeeded, and
        # drops batches of partitions that are not (or no longer) assigned here
        async for events in stream.noack_take(TAKE_MAX_BATCHES, within=within_s):
            await sink.prepare(events)
            sink.add(events)
            events = []                              # hold no event past the sink (wait_empty)
            await sink.flush_due()

    app.agent(topic, name=f"sinkapp.route{i}.{route.topic}", concurrency=1)(agent)


GC_GEN0_THRESHOLD = 50_000


def _add_timers(app: SinkApp, tick_s: float) -> None:
    @app.task
    async def relax_gc() -> None:
        """Keep the cyclic GC off what start-up built: everything alive now is moved to the
        permanent generation, and young collections run every 50,000 allocations instead of 700
        (the data path allocates short-lived records by the hundred thousand per second)."""
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)

    @app.timer(tick_s)
    async def flush_timer() -> None:
        if app.rebalancing:
            return
        for sink in app.sinks:
            try:
                await sink.flush_due(wait=False)
            except Exception:                        # a timer that raises kills the worker
                log.exception("flush timer failed for route %s", sink.route.name)

    state: dict[str, Any] = {"t": time.monotonic(), "rows": 0, "seen": None, "logged_at": 0.0}

    @app.timer(PROGRESS_INTERVAL_S)
    async def progress() -> None:
        """One line per route every 10 s while something moves; when idle, one every 10 minutes."""
        now = time.monotonic()
        rows = sum(s.stats.rows_loaded for s in app.sinks)
        rate = (rows - state["rows"]) / max(1e-9, now - state["t"])
        seen = [(s.stats.records_in, s.stats.rows_loaded, s.buffered_rows, s.stats.failed, s.halting)
                for s in app.sinks]
        idle = seen == state["seen"]
        state.update(t=now, rows=rows, seen=seen)
        if idle and now - state["logged_at"] < IDLE_PROGRESS_INTERVAL_S:
            return
        state["logged_at"] = now
        for s in app.sinks:
            st = s.stats
            log.info("progress route=%s records_in=%d rows_loaded=%d loads=%d buffered=%d retries=%d "
                     "tombstones=%d skipped_loaded=%d redelivered=%d stale=%d dead_lettered=%d skipped_bad=%d "
                     "rows_filtered=%d rows_per_s=%.0f%s",
                     s.route.name, st.records_in, st.rows_loaded, st.loads, s.buffered_rows, st.load_retries,
                     st.tombstones, st.skipped_loaded, st.redelivered, st.dropped_stale,
                     sum(st.dead_lettered.values()), sum(st.skipped_bad.values()), st.rows_filtered, rate,
                     " STOPPED" if st.failed else " HALTING" if s.halting else "")


def __getattr__(name: str) -> Any:
    """``sinkapp.app.app``: the app built from ``SINKAPP_CONFIG`` on first access."""
    if name == "app":
        built = globals().get("_app")
        if built is None:
            built = globals()["_app"] = create_app(load_settings(os.environ.get("SINKAPP_CONFIG")))
        return built
    raise AttributeError(name)
