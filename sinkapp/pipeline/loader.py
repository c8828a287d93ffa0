"""The loader: one table batch → dead letters → Stream Load → an :class:`~.types.Outcome`.

Who calls: the pipeline, for its load tasks (one per table at a time, ``tasks.max`` across tables)
and for the previous owner's pending batches the settler rebuilt. It acknowledges nothing, moves no
watermark and counts only into the :class:`~.stats.LoadStats` it is handed: the pipeline applies the
outcome and adds the counts to the statistics. Before the call the pipeline named the batch pending
in every member partition's ledger entry and wrote its batch record (a rebuilt batch is pending
already). Then, each step confirmed before the next:

1. its dead letters are written, then the batch record says so (``dead``); without a dead-letter
   topic they are counted as skipped;
2. the Stream Load, retried under the same label (:mod:`sinkapp.streamload.retry`); the load
   pressure each Stream Load met is counted (the pipeline lets the table's next batches grow);
3. a batch StarRocks refuses for its data is marked ``split`` in the ledger, then loaded in parts
   around the refused records (:mod:`sinkapp.pipeline.badrows`).

While a table's loads keep failing, ``trouble`` says since when and why (the pages read it). An
unreachable Kafka is waited out (the batch waits, nothing is skipped) until the worker starts
rebalancing or stopping (``abandon`` is set): then the batch is abandoned un-acked for the next owner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
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
from sinkapp.pipeline.batcher import TableBatch, TableLane
from sinkapp.pipeline.codec import RouteCodec
from sinkapp.pipeline.ledger import BatchRecord, Ledger
from sinkapp.pipeline.letters import DeadLetter
from sinkapp.pipeline.ports import DeadLetters, SourceReader, StreamLoader
from sinkapp.pipeline.rebuild import RebuildError, read_members
from sinkapp.pipeline.stats import LoadStats, Sent
from sinkapp.pipeline.types import BatchId, Kind, Outcome, TableKey
from sinkapp.streamload.retry import RetryPolicy, load_with_retry

log = logging.getLogger(__name__)
LABEL_EXISTS = ("Label Already Exists", "LABEL_ALREADY_EXISTS")


class Loader:
    def __init__(self, *, client: StreamLoader, ledger: Ledger, policy: RetryPolicy, label_prefix: str, home: str = "",
                 abandon: asyncio.Event, codecs: Mapping[str, RouteCodec], reader: SourceReader | None = None,
                 dlq: DeadLetters | None = None, tolerant: bool = False, log_messages: bool = False,
                 task_id: str = "0") -> None:
        self.client, self.ledger, self.policy, self.label_prefix = client, ledger, policy, label_prefix
        self.home = home                                 # starrocks.database.name: labels (BatchId.label)
        self.abandon, self.codecs, self.reader, self.dlq = abandon, codecs, reader, dlq
        self.tolerant, self.log_messages, self.task_id = tolerant, log_messages, task_id
        self.trouble: dict[TableKey, tuple[float, str]] = {}       # (since, why) while a table's loads fail

    async def until_confirmed(self, write: Callable[[], Awaitable[Any]], what: str) -> bool:
        """Run ``write`` until Kafka confirms it; False when the worker started rebalancing or stopping."""
        attempt = 0
        while not self.abandon.is_set():
            try:
                await write()
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                log.warning("%s failed attempt=%d: %r", what, attempt, exc)
                await asyncio.sleep(self.policy.delay(attempt))
        return False

    async def load(self, batch: TableBatch, lane: TableLane, stats: LoadStats) -> Outcome:
        """Load ``batch`` into ``lane``'s table; what it did is counted into ``stats``."""
        ident = batch.identity()
        label = ident.label(self.label_prefix, self.home)
        whole = {m.part: (m.last, m.last) for m in ident.members}
        record = BatchRecord(label, ident, dead=batch.dead_done, split=batch.split)
        if batch.dead and (self.dlq is None or not batch.dead_done):
            if not await self._dead_letters(batch.dead, record, stats):
                return Outcome(Kind.ABANDONED)
            record = BatchRecord(label, ident, dead=record.dead or self.dlq is not None, split=record.split)
        if not batch.rows:
            return Outcome(Kind.LOADED, whole)
        if batch.split:
            return await self._split(batch, lane, record, None, stats)
        try:
            await self._send(lane, label, batch.chunks(), batch.rows_by_route(), stats)
        except LoadAborted:
            log.warning("load abandoned for rebalance/shutdown table=%s label=%s rows=%d", lane.table, label,
                        batch.rows)
            return Outcome(Kind.ABANDONED)
        except DataRejected as exc:
            return await self._split(batch, lane, record, exc, stats)
        except LoadError as exc:
            verb = "was rejected" if not exc.retriable else "kept failing"
            return Outcome(Kind.FAILED, reason=f"load {label} of {batch.rows} rows into {lane.table} {verb}: {exc}")
        return Outcome(Kind.LOADED, whole)

    async def _send(self, lane: TableLane, label: str, pieces: list[bytes | memoryview], by_route: dict[int, int],
                    stats: LoadStats) -> None:
        """A batch's (or part's) rows: one Stream Load, or, when rows lack columns the source did not send,
        partial updates first and the complete rows last (:mod:`sinkapp.pipeline.partial`)."""
        if not (lane.partial and partial.marked(pieces)):
            await self._stream_load(lane, label, lane.encoder.body(pieces), sum(by_route.values()), by_route,
                                    sum(len(p) + 1 for p in pieces), stats)
            return
        try:
            partial.check_headers(lane.headers)
        except ConfigError as exc:
            raise LoadRejected(f"{exc}", label=label) from None
        user_columns = [c.strip().strip("`") for c in lane.headers.get("columns", "").split(",") if c.strip()]
        parts = partial.plan(partial.decode(pieces), user_columns)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1               # the batch's own label goes last: VISIBLE = all in
            body = lane.encoder.body([lane.encoder.encode_chunk(part.rows)])
            try:
                await self._stream_load(lane, label if last else partial.part_label(label, i), body, len(part.rows),
                                        by_route if last else {}, len(body), stats, part.headers(lane.headers))
            except DataRejected as exc:
                raise partial.rejected(exc, part) from None

    async def _stream_load(self, lane: TableLane, label: str, body: Any, rows: int, by_route: dict[int, int],
                           nbytes: int, stats: LoadStats, headers: dict[str, str] | None = None) -> None:
        """One batch's (or part's) Stream Load with retries, counted; raises what the retry raises."""
        table, pressed = lane.table, len(stats.pressure)

        def on_retry(attempt: int, exc: LoadRetriable) -> None:
            stats.retries += 1
            stats.route_retries.update(by_route.keys())
            since = self.trouble[table][0] if table in self.trouble else time.time()
            self.trouble[table] = (since, f"StarRocks load {label} failing (attempt {attempt}): {exc}")

        def on_pressure(exc: LoadPressure) -> None:
            stats.backoffs[exc.reason] += 1
            if len(stats.pressure) == pressed:
                stats.pressure.append(0)
            stats.pressure[pressed] += 1

        t0 = time.monotonic()
        result = await load_with_retry(
            self.client, table.database, table.table, label, body, headers or lane.headers, self.policy,
            should_abort=self.abandon.is_set, on_retry=on_retry, on_pressure=on_pressure)
        if len(stats.pressure) == pressed:
            stats.pressure.append(0)                 # went through without pressure
        self.trouble.pop(table, None)
        seconds = time.monotonic() - t0
        confirmed = result.status in LABEL_EXISTS
        loaded = rows if confirmed else int(result.loaded_rows)
        stats.sent.append(Sent(label, result.status, rows, loaded, int(result.filtered_rows), nbytes, seconds,
                               time.time(), by_route, confirmed))
        log.info("loaded table=%s label=%s status=%s rows=%d filtered=%d bytes=%d ms=%d", table, label,
                 result.status, loaded, result.filtered_rows, nbytes, round(seconds * 1000))
        if result.filtered_rows:
            await self._report_filtered(label, result)

    async def _report_filtered(self, label: str, result: Any) -> None:
        """A load StarRocks accepted with filtered rows (max_filter_ratio > 0): say how many and
        where StarRocks lists them; the rows themselves only with errors.log.include.messages."""
        url = str((result.response or {}).get("ErrorURL") or "")
        log.warning("load %s: StarRocks filtered %d row(s) (sink.properties.max_filter_ratio allows it)%s",
                    label, result.filtered_rows, f"; ErrorURL {url}" if url else "")
        if url and self.log_messages:
            try:
                lines = await self.client.error_log(url)
            except Exception as exc:                  # the report is best effort
                log.warning("ErrorURL %s could not be read: %r", url, exc)
                return
            log.warning("load %s filtered rows, as StarRocks lists them:\n%s", label, lines)

    async def _dead_letters(self, letters: list[DeadLetter], record: BatchRecord, stats: LoadStats) -> bool:
        """Write a batch's dead letters (confirmed), then record that in the ledger, so the next owner
        of a crashed batch does not write them again; without a dead-letter topic, count them skipped."""
        dlq = self.dlq
        if dlq is None:
            stats.skipped_bad.update((d.topic, d.stage) for d in letters)
            return True
        if not await self.until_confirmed(lambda: dlq.send(letters, self.task_id), "dead-letter write"):
            return False
        stats.dead_lettered.update((d.topic, d.stage) for d in letters)
        log.info("dead-lettered topic=%s records=%s", dlq.topic,
                 ",".join(d.where() for d in letters[:20]) + (" ..." if len(letters) > 20 else ""))
        done = BatchRecord(record.label, record.batch, dead=True, split=record.split)
        return await self.until_confirmed(lambda: self.ledger.write(dict, batches=[done]),
                                          f"ledger write (dead letters of {record.label})")

    async def _split(self, batch: TableBatch, lane: TableLane, record: BatchRecord, exc: DataRejected | None,
                     stats: LoadStats) -> Outcome:
        """StarRocks refused the batch for its data: find the refused rows (see badrows)."""
        label = record.label
        if self.reader is None:
            return Outcome(Kind.FAILED, reason=f"load {label} into {lane.table} was rejected: {exc}")
        log.warning("load %s into %s rejected for its data; finding the rows StarRocks refuses: %s", label,
                    lane.table, str(exc)[:500])
        split = BatchRecord(label, record.batch, dead=record.dead, split=True)
        if not record.split and not await self.until_confirmed(
                lambda: self.ledger.write(dict, batches=[split]), f"ledger write (split {label})"):
            return Outcome(Kind.ABANDONED)
        try:
            members = await read_members(self.reader, record.batch.members, self.codecs)
        except RebuildError as err:
            return Outcome(Kind.FAILED, reason=f"the batch {label} was rejected ({exc}) and its records could "
                                               f"not be read again to find the bad rows: {err}")
        first = exc or DataRejected("the batch is being loaded in parts (ledger)", label=label)
        try:
            found = await badrows.search(members, lane.table, first, self._part_loader(lane, stats), self.tolerant,
                                         record.batch.epoch)
        except LoadAborted:
            return Outcome(Kind.ABANDONED)
        except (LoadError, RebuildError) as err:
            return Outcome(Kind.FAILED, reason=f"load of part of {label} into {lane.table} failed: {err}")
        if found.letters and not await self._dead_letters(found.letters, record, stats):
            return Outcome(Kind.ABANDONED)
        through = {m.part: (found.through[m.part], m.last) for m in record.batch.members}
        stopped = {part: badrows.stop_reason(r, why) for part, (r, why) in found.stopped.items()}
        return Outcome(Kind.LOADED, through, stopped=stopped)

    def _part_loader(self, lane: TableLane, stats: LoadStats) -> badrows.LoadPart:
        async def load_part(ident: BatchId, pieces: list[bytes | memoryview], by_route: dict[int, int]) -> None:
            await self._send(lane, ident.label(self.label_prefix, self.home), pieces, by_route, stats)
        return load_part
