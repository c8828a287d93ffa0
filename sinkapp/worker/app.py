"""The Faust application: one agent per route feeding the sink core, a flush timer, progress lines.

Who calls: ``faust -A sinkapp.worker.app worker`` (the Procfile) and ``sinkapp worker --config FILE``.
The module attribute ``app`` is built lazily from ``SINKAPP_CONFIG`` (a connector JSON file)
plus ``SINKAPP_*`` environment variables, so importing this module has no side effects.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from typing import Any

from sinkapp.config import Settings, load_settings, starrocks_ssl_context
from sinkapp.config.routes import Route
from sinkapp.converters import build_converter
from sinkapp.converters.simple import set_zone
from sinkapp.faustio.app import BatchApp
from sinkapp.faustio.assignor import AffineAssignor
from sinkapp.faustio.control import ConsumerControl
from sinkapp.faustio.subscribe import expect_deleted_topics, quicken_resubscribe, start_agent
from sinkapp.faustio.take import noack_batches
from sinkapp.kafka.admin import BROKER_DEFAULT_MAX_MESSAGE_BYTES, aiokafka_security, faust_credentials
from sinkapp.kafka.dlq import DeadLetterQueue
from sinkapp.kafka.ledger import KafkaLedger
from sinkapp.kafka.refetch import SourceReader
from sinkapp.observe import memtrace, redact
from sinkapp.observe.progress import Progress
from sinkapp.observe.web import add_pages
from sinkapp.pipeline.core import Pipeline, PipelineConfig
from sinkapp.pipeline.encode import Chunker
from sinkapp.pipeline.stats import PartitionView, Snapshot
from sinkapp.pipeline.types import TableKey
from sinkapp.streamload.client import StreamLoadClient
from sinkapp.streamload.retry import RetryPolicy
from sinkapp.tableshape.routed import RoutedShape
from sinkapp.tableshape.wiring import route_shape, table_shapes
from sinkapp.transforms import build_chain
from sinkapp.worker.discover import TopicWatch
from sinkapp.worker.startup import (
    check_at_start,
    ensure_own_topics,
    migrate_old_ledgers,
    resolve_routes,
    routes_with_transforms,
)
from sinkapp.worker.tableformats import TableFormats

log = logging.getLogger(__name__)

TAKE_MAX_BATCHES = 64          # fetched partition batches per agent step
STREAM_BUFFER_BATCHES = 16     # batches queued per route before the fetcher waits (flow control)
TAKE_WITHIN_S = 0.1            # the agent passes what it took to the sink at least this often
FLUSH_TICK_S = 0.2             # the flush timer's period (age trigger resolution)
PROGRESS_INTERVAL_S = 10.0
GC_GEN0_THRESHOLD = 50_000
__all__ = ["SinkApp", "create_app", "routes_with_transforms"]


class SinkApp(BatchApp):
    """The worker's Faust app (:class:`~sinkapp.faustio.app.BatchApp`) with what the pages read."""

    sinkapp_name: str = "starrocks-sink"
    stall_after_s: float = 60.0
    progress: Progress | None = None
    formats: TableFormats | None = None       # each table's headers and encoder (build_pipeline)

    async def on_stop(self) -> None:
        """Stop (Faust's stop drains the sink: the last loads happen there), then log the last progress
        lines, so their counters include those loads."""
        try:
            await super().on_stop()
        finally:
            if self.progress is not None and self.pipeline is not None:
                for line in self.progress.lines(self.snapshot(), final=True):
                    log.info("%s", line)

    def snapshot(self) -> Snapshot:
        """What the status pages and metrics show, taken now."""
        base = self.pipeline.snapshot() if self.pipeline is not None else Snapshot()
        parts = tuple(PartitionView(tp.topic, tp.partition, loaded, committed, end)
                      for tp, loaded, committed, end in self.partition_offsets())
        return Snapshot(base.routes, base.tables, parts, self.assigned_once, bool(self.rebalancing),
                        base.schema_changes, base.schemas_refused)


class _TransientCoordinatorError(logging.Filter):
    """aiokafka logs ERROR "Group Coordinator Request failed: %s" with the error as the record's
    argument, also while a fresh cluster elects the coordinator (every first start), and retries a
    retriable error by itself: such a record is INFO. Told apart by the argument's type."""

    def filter(self, record: logging.LogRecord) -> bool:
        # the redaction record factory formats the message and empties args, keeping them aside
        if record.levelno >= logging.ERROR and _retriable_kafka_error(getattr(record, "sinkapp_args", record.args)):
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _retriable_kafka_error(args: Any) -> bool:
    from aiokafka.errors import KafkaError

    return isinstance(args, tuple) and any(isinstance(a, KafkaError) and a.retriable for a in args)


logging.getLogger("aiokafka.consumer.group_coordinator").addFilter(_TransientCoordinatorError())


def faust_options(settings: Settings) -> dict[str, Any]:
    k = settings.kafka
    assert k is not None
    affine = {"PartitionAssignor": AffineAssignor} if k.assignment == "affine" else {}
    return dict(
        **affine,
        broker=[f"kafka://{h.strip()}" for h in k.bootstrap_servers.split(",")],
        broker_credentials=faust_credentials(k),
        store="memory://",
        table_standby_replicas=0,
        topic_disable_leader=True,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset=k.auto_offset_reset,
        broker_session_timeout=k.session_timeout_ms / 1000.0,
        broker_heartbeat_interval=k.heartbeat_interval_ms / 1000.0,
        consumer_metadata_max_age_ms=k.metadata_max_age_ms,
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


def create_app(settings: Settings, **options: Any) -> SinkApp:
    """Build the Faust app: routes resolved against Kafka, checks, own topics, the sink core, agents."""
    k = settings.kafka
    assert k is not None
    redact.register_settings(settings)
    redact.install()
    set_zone(settings.timezone)
    routes, partitions = resolve_routes(settings)
    chain = build_chain(settings.transforms)
    routes = routes_with_transforms(settings, routes, chain)
    check_at_start(settings, routes, partitions)
    own = ensure_own_topics(settings, routes)
    migrate_old_ledgers(settings, routes, partitions)
    app = SinkApp(k.group_id, **{**faust_options(settings), **options})
    app.drain_timeout_s = settings.drain_timeout_ms / 1000.0
    app.sinkapp_name = settings.name
    app.stall_after_s = settings.stall_timeout_ms / 1000.0
    app.route_topics = {r.topic for r in routes}
    app.topic_tables = {r.topic: f"{r.database}.{r.table}" for r in routes}   # what the group leader groups by
    app.pipeline = build_pipeline(app, settings, routes, chain, own.dlq_max_message_bytes)
    for route_intake in app.pipeline.routes:
        _add_agent(app, route_intake.id, route_intake.route)
    if chain is not None:
        log.info("transforms: %s", ", ".join(f"{spec.name}={spec.type}" for spec, _ in chain.steps))
    _add_timers(app)
    if settings.topics_regex:
        _add_watch(app, settings, chain)
    add_pages(app)
    return app


def build_pipeline(app: SinkApp, settings: Settings, routes: list[Route], chain: Any,
                   dlq_max_message_bytes: int | None) -> Pipeline:
    """The sink core with its clients: Stream Load, the ledger, the dead-letter topic, the reader."""
    k = settings.kafka
    assert k is not None
    e = settings.errors
    security = aiokafka_security(k)
    client = StreamLoadClient(settings.http_urls, settings.username, settings.password,
                              connect_timeout_s=settings.connect_timeoutms / 1000.0,
                              request_timeout_s=settings.load_timeout_ms / 1000.0,
                              ssl_context=starrocks_ssl_context(settings))
    ledger = KafkaLedger(settings.ledger_topic, k.bootstrap_servers, security)
    reader = SourceReader(k.bootstrap_servers, security)
    dlq = None
    if e.dlq_topic:
        size = dlq_max_message_bytes or BROKER_DEFAULT_MAX_MESSAGE_BYTES
        dlq = DeadLetterQueue(e.dlq_topic, k.bootstrap_servers, security, connector=settings.name,
                              context_headers=e.context_headers, max_request_size=max(size + 65536, 16 << 20))
        log.info("errors.tolerance=all: bad records go to the dead-letter topic %s", e.dlq_topic)
    elif e.tolerant:
        log.warning("errors.tolerance=all without errors.deadletterqueue.topic.name: bad records are skipped "
                    "(logged with errors.log.enable=true, counted on the status page), as Kafka Connect does")
    app.closers = [c for c in (client, ledger, dlq, reader) if c is not None]
    cfg = PipelineConfig.of(settings)
    policy = RetryPolicy(max_retries=settings.sink_maxretries, pressure_max_delay_s=settings.backoff_max_ms / 1000)
    pipeline = Pipeline(cfg, client=client, ledger=ledger, control=ConsumerControl(lambda: app.batch_consumer),
                        policy=policy, dlq=dlq, reader=reader)
    shapes = pipeline.shapes = table_shapes(settings)
    if shapes is not None:
        app.closers.append(shapes.client)
    formats = app.formats = TableFormats(settings, routes, chain)   # each table's headers, whichever route feeds it
    for route in routes:
        wire_route(pipeline, settings, route, chain, formats)
    return pipeline


def wire_route(pipeline: Pipeline, settings: Settings, route: Route, chain: Any, formats: TableFormats) -> int:
    """Add ``route`` to the pipeline with its converter, its table's headers and encoder, and its table
    shape (at start, and when ``topics.regex`` matches a topic created later); its id."""
    formats.add(route)
    converter = build_converter(route.value_converter, registry_url=settings.registry_url,
                                registry_user_info=settings.registry_user_info)
    headers, encoder = formats.of(TableKey(route.database, route.table))
    ri = pipeline.add_route(route, converter, Chunker(converter, encoder, tolerant=settings.errors.tolerant,
                                                      chain=chain), encoder, headers, formats.of)
    if pipeline.shapes is not None:
        shape = ri.codec.shape = route_shape(pipeline.shapes, settings, ri.table, converter, chain)
        if isinstance(shape, RoutedShape):              # TableByField: each row's table, after the chain
            ri.codec.chunker.row_gate = shape.gate_rows
        else:
            ri.codec.chunker.gate = shape.gate
    return ri.id


def _add_agent(app: SinkApp, rid: int, route: Route) -> Any:
    topic = app.topic(route.topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    async def agent(stream: Any) -> None:
        # each event is one fetched partition batch (sinkapp.faustio.consumer); noack_batches (Faust's
        # noack_take without an idle timer) never auto-acks (docs/faust-streaming.md, noack_take): the committer
        # acks after the rows loaded, and
        # batches of partitions that are not (or no longer) assigned here are dropped
        async for events in noack_batches(stream, TAKE_MAX_BATCHES, TAKE_WITHIN_S):
            await app.pipeline.take(rid, events)
            events = []                              # hold no event past the sink (wait_empty)

    return app.agent(topic, name=f"sinkapp.route{rid}.{route.topic}", concurrency=1)(agent)


def _add_watch(app: SinkApp, settings: Settings, chain: Any) -> None:
    """``topics.regex``: every ``metadata.max.age.ms``, route topics created since, stop deleted ones."""
    k = settings.kafka
    assert k is not None and settings.topics_regex

    async def add_route(route: Route) -> None:
        assert app.formats is not None
        rid = wire_route(app.pipeline, settings, route, chain, app.formats)
        app.route_topics.add(route.topic)
        app.topic_tables[route.topic] = f"{route.database}.{route.table}"
        await start_agent(app, _add_agent(app, rid, route))

    watch = TopicWatch(app, settings, add_route, lambda routes: routes_with_transforms(settings, routes, chain))
    quicken_resubscribe(app)
    expect_deleted_topics()

    @app.timer(k.metadata_max_age_ms / 1000.0)
    async def topic_watch() -> None:
        try:
            await watch.tick()
        except Exception as exc:                 # a timer that raises kills the worker
            log.warning("topics.regex: following new and deleted topics failed: %r", exc, exc_info=True)


def _add_timers(app: SinkApp) -> None:
    @app.task
    async def relax_gc() -> None:
        """Keep the cyclic GC off what start-up built: everything alive now is moved to the
        permanent generation, and young collections run every 50,000 allocations instead of 700
        (the data path allocates short-lived records by the hundred thousand per second)."""
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)

    @app.timer(FLUSH_TICK_S)
    async def flush_timer() -> None:
        if app.rebalancing:
            return
        try:
            app.pipeline.flush_due()
        except Exception:                            # a timer that raises kills the worker
            log.exception("flush timer failed")

    progress = app.progress = Progress(time.monotonic)
    tracing = memtrace.start_from_env()

    @app.timer(PROGRESS_INTERVAL_S)
    async def progress_line() -> None:
        for line in progress.lines(app.snapshot()) + (memtrace.report() if tracing else []):
            log.info("%s", line)


def __getattr__(name: str) -> Any:
    """``sinkapp.worker.app.app``: the app built from ``SINKAPP_CONFIG`` on first access."""
    if name == "app":
        built = globals().get("_app")
        if built is None:
            built = globals()["_app"] = create_app(load_settings(os.environ.get("SINKAPP_CONFIG")))
        return built
    raise AttributeError(name)
