"""The loader: one table batch → ledger pending → dead letters → Stream Load → an :class:`Outcome`.

Who calls: the pipeline's load task (one per table at a time, ``tasks.max`` across tables) and the
settler. It never acknowledges anything and never moves a watermark (the committer does, from the
outcome). Order, each step confirmed before the next (design §2):

1. every member partition's ledger entry names the batch as pending, and the batch record holds
   its identity (a rebuilt batch is pending already);
2. its dead letters are written, then the batch record says so (``dead``);
3. the Stream Load, retried under the same label (:mod:`sinkapp.streamload.retry`); load pressure
   makes the table's next batches grow (``Batcher.pressed``);
4. a batch StarRocks refuses for its data is marked ``split`` in the ledger, then loaded in parts
   around the refused records (:mod:`sinkapp.pipeline.badrows`).

An unreachable Kafka is waited out (the batch waits, nothing is skipped) unless the worker starts
rebalancing or stopping: then the batch is abandoned un-acked for the next owner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sinkapp.errors import (
    ConfigError,
    DataRejected,
    LoadAborted,
    LoadError,
    LoadPressure,
    LoadRejected,
    LoadRetriable,
)
from sinkapp.pipeline import badrows, partial
from sinkapp.pipeline.batcher import Batcher, TableBatch, TableLane
from sinkapp.pipeline.committer import Committer
from sinkapp.pipeline.ledger import BatchRecord, Ledger
from sinkapp.pipeline.letters import DeadLetter
from sinkapp.pipeline.ports import DeadLetters, SourceReader, StreamLoader
from sinkapp.pipeline.rebuild import RouteLike, read_members
from sinkapp.pipeline.stats import RouteStats, TableStats
from sinkapp.pipeline.types import BatchId, Part
from sinkapp.streamload.retry import RetryPolicy, load_with_retry

log = logging.getLogger(__name__)
LABEL_EXISTS = ("Label Already Exists", "LABEL_ALREADY_EXISTS")


@dataclass
class Outcome:
    """How a batch ended: ``loaded`` (``through``: per member (last offset done, member's last)),
    ``abandoned`` (rebalance/shutdown: nothing acked), ``failed`` (``reason``: stop its routes)."""

    kind: str
    through: dict[Part, tuple[int, int]] = field(default_factory=dict)
    reason: str = ""
    stopped: dict[Part, str] = field(default_factory=dict)     # partitions stopped at a refused row


@dataclass
class LoaderDeps:
    client: StreamLoader
    ledger: Ledger
    committer: Committer
    batcher: Batcher
    policy: RetryPolicy
    label_prefix: str
    reader: SourceReader | None
    route_of: Callable[[str], RouteLike]
    route_stats: Callable[[int], RouteStats]
    table_stats: Callable[[str], TableStats]
    owns: Callable[[Part], bool]
    aborting: Callable[[], bool]
    dlq: DeadLetters | None = None
    tolerant: bool = False
    log_messages: bool = False
    task_id: str = "0"


class Loader:
    def __init__(self, deps: LoaderDeps) -> None:
        self.d = deps

    async def until_confirmed(self, write: Callable[[], Awaitable[Any]], what: str) -> bool:
        """Run ``write`` until Kafka confirms it; False when the worker started rebalancing or stopping."""
        attempt = 0
        while not self.d.aborting():
            try:
                await write()
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                log.warning("%s failed attempt=%d: %r", what, attempt, exc)
                await asyncio.sleep(self.d.policy.delay(attempt))
        return False

    async def load(self, batch: TableBatch, lane: TableLane) -> Outcome:
        ident = batch.identity()
        label = ident.label(self.d.label_prefix)
        parts = [m.part for m in ident.members]
        whole = {m.part: (m.last, m.last) for m in ident.members}
        record = BatchRecord(label, ident, dead=batch.dead_done, split=batch.split)
        if not batch.replay:
            if not all(self.d.owns(p) for p in parts):
                log.info("batch %s dropped un-acked: a member partition is no longer assigned here", label)
                return Outcome("abandoned")
            self.d.committer.mark_pending(batch.seq, label, parts)
            if not await self.until_confirmed(
                    lambda: self.d.ledger.write(lambda: self.d.committer.entries(parts), batches=[record]),
                    f"ledger write (pending {label})"):
                return Outcome("abandoned")
        if batch.dead and not batch.dead_done:
            if not await self._dead_letters(batch.dead, record):
                return Outcome("abandoned")
            record = BatchRecord(label, ident, dead=True, split=record.split)
        if not batch.rows:
            return Outcome("loaded", whole)
        if batch.split:
            return await self._split(batch, lane, record, None)
        try:
            await self._send(lane, label, batch.chunks(), batch.rows, batch.rows_by_route(), batch.nbytes)
        except LoadAborted:
            log.warning("load abandoned for rebalance/shutdown table=%s label=%s rows=%d", lane.table, label,
                        batch.rows)
            return Outcome("abandoned")
        except DataRejected as exc:
            return await self._split(batch, lane, record, exc)
        except LoadError as exc:
            verb = "was rejected" if not exc.retriable else "kept failing"
            return Outcome("failed", reason=f"load {label} of {batch.rows} rows into {lane.table} {verb}: {exc}")
        return Outcome("loaded", whole)

    async def _send(self, lane: TableLane, label: str, pieces: list[bytes | memoryview], rows: int,
                    by_route: dict[int, int], nbytes: int) -> Any:
        """A batch's (or part's) rows: one Stream Load, or, when rows lack columns the source did not send,
        partial updates first and the complete rows last (:mod:`sinkapp.pipeline.partial`)."""
        if not (lane.partial and partial.marked(pieces)):
            return await self._stream_load(lane, label, lane.encoder.body(pieces), rows, by_route, nbytes)
        try:
            partial.check_headers(lane.headers)
        except ConfigError as exc:
            raise LoadRejected(f"{exc}", label=label) from None
        user_columns = [c.strip().strip("`") for c in lane.headers.get("columns", "").split(",") if c.strip()]
        parts = partial.plan(partial.decode(pieces), user_columns)
        result = None
        for i, part in enumerate(parts):
            last = i == len(parts) - 1               # the batch's own label goes last: VISIBLE = all in
            body = lane.encoder.body([lane.encoder.encode_chunk(part.rows)])
            try:
                result = await self._stream_load(
                    lane, label if last else partial.part_label(label, i), body, len(part.rows),
                    by_route if last else {}, len(body), part.headers(lane.headers))
            except DataRejected as exc:
                if part.columns is None:
                    raise
                raise DataRejected(f"{exc} (a partial update of {', '.join(part.columns)}: Debezium sent no value "
                                   "for the other columns, PostgreSQL's unchanged TOASTed values under the default "
                                   "REPLICA IDENTITY; such rows load only into a PRIMARY KEY table, or set REPLICA "
                                   "IDENTITY FULL on the source table)", label=exc.label, status=exc.status,
                                   response=exc.response) from None
        return result

    async def _stream_load(self, lane: TableLane, label: str, body: Any, rows: int, by_route: dict[int, int],
                           nbytes: int, headers: dict[str, str] | None = None) -> Any:
        """One batch's (or part's) Stream Load with retries; counters; raises what the retry raises."""
        ts = self.d.table_stats(str(lane.table))

        def on_retry(attempt: int, exc: LoadRetriable) -> None:
            ts.load_retries += 1
            for r in by_route:
                self.d.route_stats(r).load_retries += 1
            since = ts.trouble[0] if ts.trouble else time.time()
            ts.trouble = (since, f"StarRocks load {label} failing (attempt {attempt}): {exc}")

        def on_pressure(exc: LoadPressure) -> None:
            ts.backoffs[exc.reason] += 1
            self.d.batcher.pressed(lane)

        t0 = time.monotonic()
        pressed_before = sum(ts.backoffs.values())
        result = await load_with_retry(
            self.d.client, lane.table.database, lane.table.table, label, body, headers or lane.headers, self.d.policy,
            should_abort=self.d.aborting, on_retry=on_retry, on_pressure=on_pressure)
        if sum(ts.backoffs.values()) == pressed_before:
            self.d.batcher.relieved(lane)
        ts.trouble = None
        self._count(lane, label, result, rows, by_route, nbytes, time.monotonic() - t0)
        if result.filtered_rows:
            await self._report_filtered(label, result)
        return result

    def _count(self, lane: TableLane, label: str, result: Any, rows: int, by_route: dict[int, int],
               nbytes: int, seconds: float) -> None:
        ts, now = self.d.table_stats(str(lane.table)), time.time()
        confirmed = result.status in LABEL_EXISTS
        loaded = rows if confirmed else int(result.loaded_rows)
        ts.loads += 1
        ts.rows_loaded += loaded
        ts.bytes_loaded += nbytes
        ts.loads_by_status[result.status] += 1
        ts.load_times.observe(seconds)
        ts.last_rows, ts.last_load_label, ts.last_load_at = loaded, label, now
        for r, n in by_route.items():
            st = self.d.route_stats(r)
            st.loads += 1
            st.label_confirmed += int(confirmed)
            st.rows_loaded += n if confirmed or loaded == rows else round(n * loaded / max(1, rows))
            st.rows_filtered += round(int(result.filtered_rows) * n / max(1, rows))
            st.bytes_loaded += round(nbytes * n / max(1, rows))
            st.loads_by_status[result.status] += 1
            st.load_times.observe(seconds)
            st.last_load_label, st.last_load_at = label, now
        log.info("loaded table=%s label=%s status=%s rows=%d filtered=%d bytes=%d ms=%d", lane.table, label,
                 result.status, loaded, result.filtered_rows, nbytes, round(seconds * 1000))

    async def _report_filtered(self, label: str, result: Any) -> None:
        """A load StarRocks accepted with filtered rows (max_filter_ratio > 0): say how many and
        where StarRocks lists them; the rows themselves only with errors.log.include.messages."""
        url = str((result.response or {}).get("ErrorURL") or "")
        log.warning("load %s: StarRocks filtered %d row(s) (sink.properties.max_filter_ratio allows it)%s",
                    label, result.filtered_rows, f"; ErrorURL {url}" if url else "")
        if url and self.d.log_messages:
            try:
                lines = await self.d.client.error_log(url)
            except Exception as exc:                  # the report is best effort
                log.warning("ErrorURL %s could not be read: %r", url, exc)
                return
            log.warning("load %s filtered rows, as StarRocks lists them:\n%s", label, lines)

    async def _dead_letters(self, letters: list[DeadLetter], record: BatchRecord) -> bool:
        """Write a batch's dead letters (confirmed), then record that in the ledger, so the next owner
        of a crashed batch does not write them again."""
        dlq = self.d.dlq
        assert dlq is not None
        if not await self.until_confirmed(lambda: dlq.send(letters, self.d.task_id), "dead-letter write"):
            return False
        for d in letters:
            self.d.route_stats(self.d.route_of(d.topic).id).dead_lettered[d.stage] += 1
        log.info("dead-lettered topic=%s records=%s", dlq.topic,
                 ",".join(d.where() for d in letters[:20]) + (" ..." if len(letters) > 20 else ""))
        done = BatchRecord(record.label, record.batch, dead=True, split=record.split)
        return await self.until_confirmed(lambda: self.d.ledger.write(dict, batches=[done]),
                                          f"ledger write (dead letters of {record.label})")

    async def _split(self, batch: TableBatch, lane: TableLane, record: BatchRecord,
                     exc: DataRejected | None) -> Outcome:
        """StarRocks refused the batch for its data: find the refused rows (see badrows)."""
        label = record.label
        if self.d.reader is None:
            return Outcome("failed", reason=f"load {label} into {lane.table} was rejected: {exc}")
        log.warning("load %s into %s rejected for its data; finding the rows StarRocks refuses: %s", label,
                    lane.table, str(exc)[:500])
        split = BatchRecord(label, record.batch, dead=record.dead, split=True)
        if not record.split and not await self.until_confirmed(
                lambda: self.d.ledger.write(dict, batches=[split]), f"ledger write (split {label})"):
            return Outcome("abandoned")
        try:
            members = await read_members(self.d.reader, record.batch.members, self.d.route_of)
        except Exception as err:
            return Outcome("failed", reason=f"the batch {label} was rejected ({exc}) and its records could not "
                                            f"be read again to find the bad rows: {err}")
        first = exc or DataRejected("the batch is being loaded in parts (ledger)", label=label)
        try:
            found = await badrows.search(members, lane.table, first, self._part_loader(lane), self.d.tolerant,
                                         record.batch.epoch)
        except LoadAborted:
            return Outcome("abandoned")
        except LoadError as err:
            return Outcome("failed", reason=f"load of part of {label} into {lane.table} failed: {err}")
        return await self._after_split(record, found)

    def _part_loader(self, lane: TableLane) -> badrows.LoadPart:
        async def load_part(ident: BatchId, pieces: list[bytes | memoryview], by_route: dict[int, int]) -> Any:
            return await self._send(lane, ident.label(self.d.label_prefix), pieces, sum(by_route.values()),
                                    by_route, sum(len(p) + 1 for p in pieces))
        return load_part

    async def _after_split(self, record: BatchRecord, found: badrows.Search) -> Outcome:
        if found.letters:
            if self.d.dlq is not None:
                if not await self._dead_letters(found.letters, record):
                    return Outcome("abandoned")
            else:
                for d in found.letters:
                    self.d.route_stats(self.d.route_of(d.topic).id).skipped_bad[d.stage] += 1
        through = {m.part: (found.through[m.part], m.last) for m in record.batch.members}
        stopped = {}
        for part, (r, why) in found.stopped.items():
            stopped[part] = (
                f"row {r.topic}[{r.partition}]@{r.offset} was refused by StarRocks (TASK_PUT): {why}. Every "
                f"record before it is loaded and committed. Fix the data or the table and restart, or skip the "
                f"record (kafka-consumer-groups --reset-offsets --to-offset {r.offset + 1} for "
                f"{r.topic}:{r.partition}), or set errors.tolerance=all with errors.deadletterqueue.topic.name "
                f"to dead-letter such rows")
        return Outcome("loaded", through, stopped=stopped)
