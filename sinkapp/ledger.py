"""The batch ledger: what is loaded and what is being loaded, per source partition (design §2).

Who calls: the committer (entries after a load), the loader (a batch's pending entries before its
first attempt, its dead-letter and split flags) and the pipeline at assignment (the entries of
newly assigned partitions). One compacted topic per consumer group
(``sinkapp.ledger.topic``, default ``<group.id>-sinkapp-ledger``), three kinds of key:

- ``p/<topic>/<partition>`` → :class:`Entry`: ``loaded`` (every record at or below it is in
  StarRocks, for every table, or needed no load), ``done`` (per table, where that table is ahead
  of ``loaded``: TableByField spreads a partition over tables), ``pending`` (labels of batches
  being loaded that hold records of the partition), ``epoch`` (the partition's label epoch: a
  reload advances it, so reloaded batches carry labels StarRocks has not seen);
- ``b/<label>`` → :class:`BatchRecord`: the batch's identity (table and members), and whether its
  dead letters are written (``dead``) and whether it is being loaded in halves (``split``);
- ``m/<old topic>``: a 0.2 per-route ledger topic was migrated (:mod:`sinkapp.ledger_migrate`).

Every value is the whole state of its key, so the last record of a key is the truth. Writes go
through one idempotent producer in the order their values were computed (``write`` computes the
values under a lock), and ``write`` returns when Kafka confirmed every record. A worker reads the
whole topic once, then follows it (``catch_up`` returns once every record confirmed before the
call is applied). Not a Faust table: Faust's table recovery pauses every stream until it
finishes and was seen to hang for minutes after rebalances (faust-streaming.md §6).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from sinkapp.pipeline.types import BatchId, Part

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """What the ledger knows of one source partition."""

    loaded: int = -1
    done: Mapping[str, int] = field(default_factory=dict)     # "db.table" → offset (> loaded)
    pending: tuple[str, ...] = ()
    epoch: int = 0            # label epoch: advanced by ``sinkapp offsets reset --reload``

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"loaded": self.loaded}
        if self.epoch:
            doc["epoch"] = self.epoch
        if self.done:
            doc["done"] = dict(self.done)
        if self.pending:
            doc["pending"] = list(self.pending)
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> Entry:
        if not isinstance(doc, dict):
            return cls()
        return cls(int(doc.get("loaded", -1)), {str(k): int(v) for k, v in (doc.get("done") or {}).items()},
                   tuple(str(x) for x in doc.get("pending") or ()), int(doc.get("epoch", 0)))


@dataclass(frozen=True)
class BatchRecord:
    """A table batch being loaded: its identity and how far its loading got."""

    label: str
    batch: BatchId
    dead: bool = False        # its dead letters are written and confirmed
    split: bool = False       # StarRocks refused it for its data: it loads in parts, each its own label

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, **self.batch.to_json(), "dead": self.dead, "split": self.split}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> BatchRecord:
        return cls(str(doc["label"]), BatchId.from_json(doc), bool(doc.get("dead")), bool(doc.get("split")))


def entry_key(part: Part) -> bytes:
    return f"p/{part.topic}/{part.partition}".encode()


def batch_key(label: str) -> bytes:
    return f"b/{label}".encode()


class Ledger(Protocol):
    async def catch_up(self) -> None: ...
    def entry(self, part: Part) -> Entry: ...
    def batch(self, label: str) -> BatchRecord | None: ...
    def marked(self, name: str) -> bool: ...
    async def write(self, entries: Callable[[], Mapping[Part, Entry]], batches: Sequence[BatchRecord] = (),
                    drop: Sequence[str] = (), marks: Sequence[str] = ()) -> None: ...
    async def flush(self) -> None: ...
    async def close(self) -> None: ...


class _State:
    """The applied contents of a ledger: the last value of every key."""

    def __init__(self) -> None:
        self.entries: dict[Part, Entry] = {}
        self.batches: dict[str, BatchRecord] = {}
        self.marks: set[str] = set()

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if not key:
            return
        kind, _, rest = key.decode("utf-8", "replace").partition("/")
        try:
            if kind == "p":
                topic, _, p = rest.rpartition("/")
                part = Part(topic, int(p))
                if value is None:
                    self.entries.pop(part, None)
                else:
                    self.entries[part] = Entry.from_json(orjson.loads(value))
            elif kind == "b":
                if value is None:
                    self.batches.pop(rest, None)
                else:
                    self.batches[rest] = BatchRecord.from_json(orjson.loads(value))
            elif kind == "m":
                self.marks.add(rest)
        except (ValueError, KeyError, TypeError) as exc:     # a record we did not write: ignore it
            log.warning("ledger: unreadable record %r: %r", key, exc)

    def records(self, entries: Mapping[Part, Entry], batches: Iterable[BatchRecord], drop: Iterable[str],
                marks: Iterable[str]) -> list[tuple[bytes, bytes | None]]:
        out: list[tuple[bytes, bytes | None]] = [(batch_key(b.label), orjson.dumps(b.to_json())) for b in batches]
        out += [(entry_key(p), orjson.dumps(e.to_json())) for p, e in entries.items()]
        out += [(batch_key(label), None) for label in drop]
        out += [(f"m/{m}".encode(), b"{}") for m in marks]
        return out


class MemoryLedger:
    """The ledger contract in memory (unit tests); ``fail`` makes the next writes raise."""

    def __init__(self) -> None:
        self.state = _State()
        self.writes: list[tuple[bytes, bytes | None]] = []
        self.fail = 0
        self._lock = asyncio.Lock()

    async def catch_up(self) -> None:
        return None

    def entry(self, part: Part) -> Entry:
        return self.state.entries.get(part, Entry())

    def batch(self, label: str) -> BatchRecord | None:
        return self.state.batches.get(label)

    def marked(self, name: str) -> bool:
        return name in self.state.marks

    def put(self, part: Part, entry: Entry) -> None:
        """Set an entry directly (tests: what a previous owner left)."""
        self.state.entries[part] = entry

    def put_batch(self, record: BatchRecord) -> None:
        self.state.batches[record.label] = record

    async def write(self, entries: Callable[[], Mapping[Part, Entry]], batches: Sequence[BatchRecord] = (),
                    drop: Sequence[str] = (), marks: Sequence[str] = ()) -> None:
        async with self._lock:
            if self.fail:
                self.fail -= 1
                raise ConnectionError("ledger write failed (test)")
            for key, value in self.state.records(entries(), batches, drop, marks):
                self.writes.append((key, value))
                self.state.apply(key, value)

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None


class KafkaLedger:
    """The ledger on its compacted topic (created by the app at start, see sinkapp.kafka_admin)."""

    def __init__(self, topic: str, bootstrap: str, security: dict[str, Any]) -> None:
        self.topic = topic
        self._bootstrap, self._security = bootstrap, security
        self._producer: Any = None
        self._consumer: Any = None
        self._tps: list[Any] = []
        self._state = _State()
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()
        self._pending: set[asyncio.Future[Any]] = set()
        self._tail: asyncio.Task[None] | None = None
        self._reads = self._read_ok = 0                # reads begun; the last that finished well

    async def _start(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all",
                                              enable_idempotence=True, linger_ms=2, **self._security)
            await self._producer.start()
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False,
                                              group_id=None, **self._security)
            await self._consumer.start()
            from sinkapp.kafka_admin import partitions_of

            parts = await partitions_of(self._bootstrap, self._security, self.topic)
            if not parts:
                raise ConnectionError(f"ledger topic {self.topic} has no partitions (does it exist?)")
            self._tps = [TopicPartition(self.topic, p) for p in parts]
            self._consumer.assign(self._tps)
            await self._consumer.seek_to_beginning(*self._tps)

    async def catch_up(self) -> None:
        """Apply every record confirmed before this call; callers waiting share the next read."""
        asked = self._reads
        async with self._read_lock:
            if self._read_ok > asked:                  # a read begun after this call has finished
                return
            self._reads += 1
            await self._start()
            ends = await self._consumer.end_offsets(self._tps)
            while True:
                behind = [tp for tp in self._tps if await self._consumer.position(tp) < ends[tp]]
                if not behind:
                    break
                got = await self._consumer.getmany(*behind, timeout_ms=1000)
                for recs in got.values():
                    for r in recs:
                        self._state.apply(r.key, r.value)
            self._read_ok = self._reads
        if self._tail is None:
            self._tail = asyncio.ensure_future(self._follow())

    async def _follow(self) -> None:
        """Keep reading what other workers write, so the next catch-up has little to read."""
        while True:
            try:
                async with self._read_lock:
                    got = await self._consumer.getmany(timeout_ms=200)
                    for recs in got.values():
                        for r in recs:
                            self._state.apply(r.key, r.value)
                await asyncio.sleep(0.5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:                   # catch_up reports a real outage
                log.debug("ledger follow: %r", exc)
                await asyncio.sleep(1.0)

    def entry(self, part: Part) -> Entry:
        return self._state.entries.get(part, Entry())

    def batch(self, label: str) -> BatchRecord | None:
        return self._state.batches.get(label)

    def marked(self, name: str) -> bool:
        return name in self._state.marks

    def entries(self) -> dict[Part, Entry]:
        """Every partition entry read so far (the whole topic after ``catch_up``)."""
        return dict(self._state.entries)

    async def write(self, entries: Callable[[], Mapping[Part, Entry]], batches: Sequence[BatchRecord] = (),
                    drop: Sequence[str] = (), marks: Sequence[str] = ()) -> None:
        """Write (values computed now, sent in that order) and wait until Kafka confirmed all."""
        await self._start()
        futs = []
        async with self._write_lock:
            for key, value in self._state.records(entries(), batches, drop, marks):
                fut = await self._producer.send(self.topic, value, key=key)
                self._pending.add(fut)
                fut.add_done_callback(self._pending.discard)
                futs.append(fut)
        await asyncio.gather(*futs)

    async def flush(self) -> None:
        """Wait until every record sent so far is confirmed or failed (before a revoke ends, so a
        late write of this worker can never land after the next owner's)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        if self._tail is not None:
            self._tail.cancel()
            await asyncio.gather(self._tail, return_exceptions=True)
            self._tail = None
        for client in (self._producer, self._consumer):
            if client is not None:
                await client.stop()
        self._producer = self._consumer = None
