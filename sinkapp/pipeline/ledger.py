"""The batch ledger: what is loaded and what is being loaded, per source partition (docs/design.md §2).

Its state, its record format and the in-memory ledger of the tests are here; the ledger on its
Kafka topic is :class:`sinkapp.kafka.ledger.KafkaLedger`.

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
- ``m/<old topic>``: a 0.2 per-route ledger topic was migrated (:mod:`sinkapp.kafka.ledger_migrate`).

Every value is the whole state of its key, so the last record of a key is the truth. Writes go
through one idempotent producer in the order their values were computed (``write`` computes the
values under a lock), and ``write`` returns when Kafka confirmed every record. A worker reads the
whole topic once, then follows it (``catch_up`` returns once every record confirmed before the
call is applied). Not a Faust table: Faust's table recovery pauses every stream until it
finishes and was seen to hang for minutes after rebalances.
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


class State:
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
        self.state = State()
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
