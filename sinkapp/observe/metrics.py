"""Prometheus metrics of a worker, read from the worker's snapshot when scraped.

Who calls: ``GET /metrics`` on the worker's web server (:mod:`sinkapp.observe.web`) through :func:`render`.
Nothing is done per record: every value below is a counter the data path keeps anyway, collected
at scrape time from :class:`~sinkapp.pipeline.stats.Snapshot` by a custom ``prometheus_client``
collector on a registry of the app's own (not the process-global one).

=====================================================  =========  =========================================
name                                                   type       labels
=====================================================  =========  =========================================
``sinkapp_records_consumed_total``                     counter    route
``sinkapp_rows_loaded_total``                          counter    route
``sinkapp_bytes_loaded_total``                         counter    route
``sinkapp_loads_total``                                counter    route, status (loads the route had rows in)
``sinkapp_load_retries_total``                         counter    route
``sinkapp_records_dead_lettered_total``                counter    route, stage
``sinkapp_records_skipped_total``                      counter    route, stage (tolerance all, no topic)
``sinkapp_rows_filtered_total``                        counter    route
``sinkapp_buffered_rows`` / ``sinkapp_buffered_bytes``  gauge      route, partition
``sinkapp_load_duration_seconds``                      histogram  route
``sinkapp_consumer_lag``                               gauge      topic, partition (end offset − loaded)
``sinkapp_last_load_timestamp_seconds``                gauge      route
``sinkapp_route_up``                                   gauge      route (0 when stopped or halting)
``sinkapp_records_already_loaded_total``               counter    route (skipped: the ledger says they loaded)
``sinkapp_partitions_behind_ledger_total``             counter    route (assignments whose commit was behind)
``sinkapp_table_loads_total``                          counter    table, status (one Stream Load per batch)
``sinkapp_table_rows_loaded_total``                    counter    table
``sinkapp_load_backoffs_total``                        counter    table, reason (too_many_versions, txn_limit,
                                                                  http_concurrency)
``sinkapp_table_buffered_rows``                        gauge      table (the open batch)
``sinkapp_table_flush_interval_seconds``               gauge      table (grows under load pressure)
``sinkapp_schema_changes_total``                       counter    table, kind (create, add_column, modify_column)
``sinkapp_schemas_refused_total``                      counter    table (schemas whose records are bad records)
=====================================================  =========  =========================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from sinkapp.pipeline.stats import Snapshot, lag_of

CONTENT_TYPE = "text/plain; version=0.0.4"


class SinkCollector(Collector):
    """Yields the metrics above from ``snapshot()`` at scrape time."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        snap = self._snapshot()
        yield from self._routes(snap)
        yield from self._tables(snap)
        lag = GaugeMetricFamily("sinkapp_consumer_lag", "records not yet loaded (end offset - loaded offset)",
                                labels=["topic", "partition"])
        for topic, partition, n in lag_of(snap):
            lag.add_metric([topic, str(partition)], n)
        yield lag

    @staticmethod
    def _routes(snap: Snapshot) -> Iterator[Any]:
        def counter(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
            return CounterMetricFamily(name, doc, labels=labels)

        consumed = counter("sinkapp_records_consumed", "Kafka records taken by the route", ["route"])
        rows = counter("sinkapp_rows_loaded", "rows StarRocks stored", ["route"])
        nbytes = counter("sinkapp_bytes_loaded", "body bytes of successful loads", ["route"])
        loads = counter("sinkapp_loads", "successful loads by StarRocks Status", ["route", "status"])
        retries = counter("sinkapp_load_retries", "load attempts retried", ["route"])
        dead = counter("sinkapp_records_dead_lettered", "records written to the dead-letter topic", ["route", "stage"])
        skipped = counter("sinkapp_records_skipped", "bad records skipped (tolerance all without a topic)",
                          ["route", "stage"])
        filtered = counter("sinkapp_rows_filtered", "rows StarRocks filtered in successful loads", ["route"])
        events = counter("sinkapp_events_skipped", "events a transform skips on purpose (kind truncate: a source "
                         "TRUNCATE the StarRocks table did not follow)", ["route", "kind"])
        brows = GaugeMetricFamily("sinkapp_buffered_rows", "rows waiting to load", labels=["route", "partition"])
        bbytes = GaugeMetricFamily("sinkapp_buffered_bytes", "body bytes waiting to load", labels=["route", "partition"])
        last = GaugeMetricFamily("sinkapp_last_load_timestamp_seconds", "wall clock of the last load", labels=["route"])
        up = GaugeMetricFamily("sinkapp_route_up", "1 while the route loads, 0 when stopped", labels=["route"])
        hist = HistogramMetricFamily("sinkapp_load_duration_seconds", "Stream Load duration incl. retries",
                                     labels=["route"])
        already = counter("sinkapp_records_already_loaded", "records skipped because the ledger says they are in "
                          "StarRocks", ["route"])
        behind = counter("sinkapp_partitions_behind_ledger", "assigned partitions whose committed offset was "
                         "behind the ledger (warned once each)", ["route"])
        for rv in snap.routes:
            r, st = rv.name, rv.stats
            consumed.add_metric([r], st.records_in)
            rows.add_metric([r], st.rows_loaded)
            nbytes.add_metric([r], st.bytes_loaded)
            for status, n in sorted(st.loads_by_status.items()):
                loads.add_metric([r, status], n)
            retries.add_metric([r], st.load_retries)
            for stage, n in sorted(st.dead_lettered.items()):
                dead.add_metric([r, stage], n)
            for stage, n in sorted(st.skipped_bad.items()):
                skipped.add_metric([r, stage], n)
            filtered.add_metric([r], st.rows_filtered)
            for kind, n in sorted(st.events_skipped.items()):
                events.add_metric([r, kind], n)
            for p, (nrows, nb) in sorted(rv.buffered.items()):
                brows.add_metric([r, str(p)], nrows)
                bbytes.add_metric([r, str(p)], nb)
            if st.last_load_at is not None:
                last.add_metric([r], st.last_load_at)
            up.add_metric([r], 1 if rv.state == "RUNNING" else 0)
            hist.add_metric([r], st.load_times.buckets(), st.load_times.total_s)
            already.add_metric([r], st.skipped_loaded)
            behind.add_metric([r], st.behind_ledger)
        yield from (consumed, rows, nbytes, loads, retries, dead, skipped, filtered, events, brows, bbytes, hist, last,
                    up, already, behind)

    @staticmethod
    def _tables(snap: Snapshot) -> Iterator[Any]:
        loads = CounterMetricFamily("sinkapp_table_loads", "Stream Loads into the table by StarRocks Status",
                                    labels=["table", "status"])
        rows = CounterMetricFamily("sinkapp_table_rows_loaded", "rows StarRocks stored in the table", labels=["table"])
        backoffs = CounterMetricFamily("sinkapp_load_backoffs", "loads refused for load pressure and sent again "
                                       "later", labels=["table", "reason"])
        buffered = GaugeMetricFamily("sinkapp_table_buffered_rows", "rows in the table's open batch", labels=["table"])
        interval = GaugeMetricFamily("sinkapp_table_flush_interval_seconds", "the table's flush interval now "
                                     "(bufferflush.intervalms, longer under load pressure)", labels=["table"])
        changes = CounterMetricFamily("sinkapp_schema_changes", "tables created and columns added by auto.create / "
                                      "auto.evolve", labels=["table", "kind"])
        refused = CounterMetricFamily("sinkapp_schemas_refused", "record schemas the table cannot take (their "
                                      "records are bad records)", labels=["table"])
        for table, kind, n in snap.schema_changes:
            changes.add_metric([table, kind], n)
        for table, n in snap.schemas_refused:
            refused.add_metric([table], n)
        yield from (changes, refused)
        for t in snap.tables:
            for status, n in sorted(t.stats.loads_by_status.items()):
                loads.add_metric([t.table, status], n)
            rows.add_metric([t.table], t.stats.rows_loaded)
            for reason, n in sorted(t.stats.backoffs.items()):
                backoffs.add_metric([t.table, reason], n)
            buffered.add_metric([t.table], t.buffered_rows)
            interval.add_metric([t.table], t.interval_s)
        yield from (loads, rows, backoffs, buffered, interval)


def make_registry(snapshot: Callable[[], Snapshot]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SinkCollector(snapshot))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
