"""The sink core's vocabulary: source partitions, batch members, batch identities, route states,
how a batch ended.

Who uses it: every part of :mod:`sinkapp.pipeline`, the ledger and the status pages. Pure data.

A table batch's identity is the target table and the sorted list of its members
``(topic, partition, first offset, last offset)``: the records of those ranges are what the batch
holds (every row they give for that table), so anyone can rebuild the batch from Kafka, and its
label (:mod:`sinkapp.streamload.labels`) is derived from the identity alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

from sinkapp.streamload.labels import batch_label


class Part(NamedTuple):
    """A source partition (equal to, and hashed like, Faust's ``TP``)."""

    topic: str
    partition: int


class Member(NamedTuple):
    """The offsets of one source partition a table batch covers (inclusive)."""

    topic: str
    partition: int
    first: int
    last: int

    @property
    def part(self) -> Part:
        return Part(self.topic, self.partition)


class TableKey(NamedTuple):
    database: str
    table: str

    def __str__(self) -> str:
        return f"{self.database}.{self.table}"

    @classmethod
    def parse(cls, text: str) -> TableKey:
        db, _, table = text.partition(".")
        return cls(db, table)

    @classmethod
    def within(cls, home: str, name: str) -> TableKey:
        """``db.table`` as named, a bare ``table`` in ``home`` (TableByField's values)."""
        return cls.parse(name) if "." in name else cls(home, name)

    def name_in(self, home: str) -> str:
        """The inverse of :meth:`within`: the bare name when the table is in ``home``."""
        return self.table if self.database == home else str(self)

    def label_name(self, home: str) -> str:
        """The table's part of a load label: its name, ``db-table`` outside the home database
        (StarRocks names take no ``-``, so two databases' tables never share a label)."""
        return self.table if self.database == home else f"{self.database}-{self.table}"


@dataclass(frozen=True)
class BatchId:
    """A table batch's identity; ``members`` sorted by (topic, partition)."""

    table: TableKey
    members: tuple[Member, ...]
    epoch: int = 0

    def label(self, prefix: str, home: str) -> str:
        """The batch's Stream Load label; ``home``: starrocks.database.name ("" when not set)."""
        return batch_label(prefix, self.table.label_name(home), self.members, self.epoch)

    def member(self, part: Part) -> Member | None:
        for m in self.members:
            if m.part == part:
                return m
        return None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"table": str(self.table), "members": [list(m) for m in self.members]}
        if self.epoch:
            doc["epoch"] = self.epoch
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> BatchId:
        members = tuple(sorted(Member(str(t), int(p), int(f), int(last)) for t, p, f, last in doc["members"]))
        return cls(TableKey.parse(str(doc["table"])), members, int(doc.get("epoch", 0)))


def batch_id(table: TableKey, members: dict[Part, tuple[int, int]], epoch: int = 0) -> BatchId:
    return BatchId(table, tuple(sorted(Member(p.topic, p.partition, f, last) for p, (f, last) in members.items())),
                   epoch)


class RouteState(Enum):
    """A route's state; the pipeline alone changes it."""

    RUNNING = "RUNNING"
    HALTING = "HALTING"        # errors.tolerance=none met a bad record: loading what came before it
    STOPPED = "STOPPED"        # nothing of it loads or is acknowledged until the worker restarts
    REMOVED = "REMOVED"        # its topic was deleted (topics.regex); back to RUNNING if it is created again


class Kind(Enum):
    """How a table batch ended (:class:`Outcome`): one word per meaning."""

    LOADED = "loaded"          # its rows are in StarRocks (``through`` says how far per member)
    FRESH = "fresh"            # (a previous owner's pending batch) never sent: its records load anew
    ABANDONED = "abandoned"    # the worker is rebalancing or stopping: nothing acked, the next owner has it
    FAILED = "failed"          # it cannot load (``reason``): the routes it feeds stop


@dataclass
class Outcome:
    """What became of a table batch. ``through``: per member, (last offset done, member's last);
    ``stopped``: members stopped at a row StarRocks refused (errors.tolerance=none), and why."""

    kind: Kind
    through: dict[Part, tuple[int, int]] = field(default_factory=dict)
    reason: str = ""
    stopped: dict[Part, str] = field(default_factory=dict)
