"""Prometheus metrics of a worker, read from the routes' counters when scraped.

Who calls: ``GET /metrics`` on the worker's web server (:mod:`sinkapp.web`) through
:func:`render`; the route sink feeds :class:`LoadTimes` once per load. Nothing is done per record:
every value below is a counter the data path keeps anyway, collected at scrape time by a custom
``prometheus_client`` collector on a registry of the app's own (not the process-global one).

=====================================================  =========  =========================================
name                                                   type       labels
=====================================================  =========  =========================================
``sinkapp_records_consumed_total``                     counter    route
``sinkapp_rows_loaded_total``                          counter    route
``sinkapp_bytes_loaded_total``                         counter    route
``sinkapp_loads_total``                                counter    route, status (StarRocks' Status)
``sinkapp_load_retries_total``                         counter    route
``sinkapp_records_dead_lettered_total``                counter    route, stage
``sinkapp_records_skipped_total``                      counter    route, stage (tolerance all, no topic)
``sinkapp_rows_filtered_total``                        counter    route
``sinkapp_buffered_rows`` / ``sinkapp_buffered_bytes``  gauge      route, partition
``sinkapp_load_duration_seconds``                      histogram  route
``sinkapp_consumer_lag``                               gauge      topic, partition (end offset − loaded)
``sinkapp_last_load_timestamp_seconds``                gauge      route
``sinkapp_route_up``                                   gauge      route (0 when stopped or halting)
=====================================================  =========  =========================================
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
CONTENT_TYPE = "text/plain; version=0.0.4"


class LoadTimes:
    """A fixed-bucket histogram of load durations (no list grows with the number of loads)."""

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS_S) + 1)
        self.total_s = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS_S, seconds)] += 1
        self.total_s += seconds

    def buckets(self) -> list[tuple[str, int]]:
        out, acc = [], 0
        for bound, n in zip((*map(str, BUCKETS_S), "+Inf"), self.counts, strict=True):
            acc += n
            out.append((bound, acc))
        return out


class SinkCollector(Collector):
    """Yields the metrics above from ``sinks()`` and ``lag()`` at scrape time."""

    def __init__(self, sinks: Callable[[], list[Any]], lag: Callable[[], Iterable[tuple[str, int, int]]]) -> None:
        self._sinks, self._lag = sinks, lag

    def collect(self) -> Iterator[Any]:
        def counter(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
            return CounterMetricFamily(name, doc, labels=labels)

        consumed = counter("sinkapp_records_consumed", "Kafka records taken by the route", ["route"])
        rows = counter("sinkapp_rows_loaded", "rows StarRocks stored", ["route"])
        nbytes = counter("sinkapp_bytes_loaded", "body bytes of successful loads", ["route"])
        loads = counter("sinkapp_loads", "successful loads by StarRocks Status", ["route", "status"])
        retries = counter("sinkapp_load_retries", "load attempts retried", ["route"])
        dead = counter("sinkapp_records_dead_lettered", "records written to the dead-letter topic",
                       ["route", "stage"])
        skipped = counter("sinkapp_records_skipped", "bad records skipped (tolerance all without a topic)",
                          ["route", "stage"])
        filtered = counter("sinkapp_rows_filtered", "rows StarRocks filtered in successful loads", ["route"])
        brows = GaugeMetricFamily("sinkapp_buffered_rows", "rows waiting to load", labels=["route", "partition"])
        bbytes = GaugeMetricFamily("sinkapp_buffered_bytes", "body bytes waiting to load",
                                   labels=["route", "partition"])
        last = GaugeMetricFamily("sinkapp_last_load_timestamp_seconds", "wall clock of the last load",
                                 labels=["route"])
        up = GaugeMetricFamily("sinkapp_route_up", "1 while the route loads, 0 when stopped", labels=["route"])
        hist = HistogramMetricFamily("sinkapp_load_duration_seconds", "Stream Load duration incl. retries",
                                     labels=["route"])
        for s in self._sinks():
            r, st = s.route.name, s.stats
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
            for p, (nrows, nb) in sorted(s.buffered_by_partition().items()):
                brows.add_metric([r, str(p)], nrows)
                bbytes.add_metric([r, str(p)], nb)
            if st.last_load_at is not None:
                last.add_metric([r], st.last_load_at)
            up.add_metric([r], 0 if (st.failed or s.halting) else 1)
            hist.add_metric([r], st.load_times.buckets(), st.load_times.total_s)
        lag = GaugeMetricFamily("sinkapp_consumer_lag", "records not yet loaded (end offset - loaded offset)",
                                labels=["topic", "partition"])
        for topic, partition, n in self._lag():
            lag.add_metric([topic, str(partition)], n)
        yield from (consumed, rows, nbytes, loads, retries, dead, skipped, filtered, brows, bbytes, hist,
                    lag, last, up)


def make_registry(sinks: Callable[[], list[Any]],
                  lag: Callable[[], Iterable[tuple[str, int, int]]]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SinkCollector(sinks, lag))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
