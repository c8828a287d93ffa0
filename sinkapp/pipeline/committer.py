"""The committer: the only place that acknowledges events and moves commit watermarks.

Who calls: the route intake (``took`` after each fetched partition batch, ``hold`` through the
batcher when rows of a partition join a table batch), the pipeline when a table batch finished
loading (``finished`` → ledger entries → ``advance``), and the drain (``release``).

Per assigned source partition it keeps what was taken, which table batches still hold records
of it (``holds``: table and first offset), the Faust events to acknowledge, and per table how far
that table's rows are loaded. A partition's watermark (the last offset the consumer may commit
past) is the offset before the first record some unloaded table batch holds, else the last
offset taken (past the transaction markers that follow it); a halted route's partition never
passes its bad record (``stop``). An event is acknowledged once the watermark reaches its last
offset; an acknowledgement only releases it from Faust's wait set, commits follow
:meth:`PartitionControl.mark_loaded`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sinkapp.pipeline.ledger import Entry
from sinkapp.pipeline.ports import PartitionControl
from sinkapp.pipeline.types import Part


class Hold(NamedTuple):
    table: str          # "db.table"
    first: int


@dataclass
class PartState:
    floor: int                                              # loaded before this assignment
    taken: int                                              # highest offset taken (past markers)
    done: dict[str, int] = field(default_factory=dict)      # per table, from the ledger and loads
    tables: set[str] = field(default_factory=set)           # tables that held rows of this partition
    holds: dict[int, Hold] = field(default_factory=dict)    # batch seq → what it holds
    pending: dict[int, str] = field(default_factory=dict)   # batch seq → label (ledger says pending)
    events: deque[tuple[int, Any]] = field(default_factory=deque)
    stop_at: int | None = None
    reported: int = -1
    epoch: int = 0                                          # label epoch (ledger)


class Committer:
    def __init__(self, control: PartitionControl) -> None:
        self.control = control
        self.parts: dict[Part, PartState] = {}

    # -- intake -----------------------------------------------------------------------------
    def init(self, part: Part, entry: Entry, done: dict[str, int]) -> None:
        """Start tracking a newly assigned partition from its ledger entry (pending batches settled:
        ``done`` says how far each table's rows are loaded)."""
        self.parts[part] = PartState(floor=entry.loaded, taken=entry.loaded, done=dict(done),
                                     tables=set(done), reported=-1, epoch=entry.epoch)

    def known(self, part: Part) -> bool:
        return part in self.parts

    def epoch(self, part: Part) -> int:
        return self.parts[part].epoch

    def replay_skips(self, part: Part) -> dict[str, int]:
        """Tables whose rows are loaded further than the partition's watermark (from the ledger and
        the pending batches settled at assignment): rows of records up to there are left out."""
        st = self.parts[part]
        return {t: off for t, off in st.done.items() if off > st.floor}

    def hold(self, part: Part, seq: int, table: str, first: int) -> None:
        st = self.parts[part]
        if seq not in st.holds:
            st.holds[seq] = Hold(table, first)
            st.tables.add(table)

    def took(self, part: Part, event: Any, last: int, through: int) -> None:
        """A fetched batch up to ``last`` (``through``: past its transaction markers) is taken; its
        event is acknowledged when the watermark reaches ``last``."""
        st = self.parts[part]
        st.taken = max(st.taken, through)
        st.events.append((last, event))
        self.advance([part])

    def stop(self, part: Part, offset: int) -> None:
        """The watermark of ``part`` never passes ``offset - 1`` (a record that cannot be loaded)."""
        st = self.parts.get(part)
        if st is not None:
            st.stop_at = offset if st.stop_at is None else min(st.stop_at, offset)

    # -- state ------------------------------------------------------------------------------
    def watermark(self, part: Part) -> int:
        st = self.parts[part]
        wm = st.taken
        for h in st.holds.values():
            wm = min(wm, h.first - 1)
        if st.stop_at is not None:
            wm = min(wm, st.stop_at - 1)
        return wm

    def done_for(self, part: Part, table: str) -> int:
        st = self.parts[part]
        d = st.taken
        for h in st.holds.values():
            if h.table == table:
                d = min(d, h.first - 1)
        if st.stop_at is not None:
            d = min(d, st.stop_at - 1)
        return max(d, st.done.get(table, -1))

    def entry(self, part: Part) -> Entry:
        """The ledger entry of ``part`` as of now."""
        loaded = self.watermark(part)
        st = self.parts[part]
        done = {t: d for t in sorted(st.tables) if (d := self.done_for(part, t)) > loaded}
        return Entry(loaded, done, tuple(sorted(set(st.pending.values()))), st.epoch)

    def entries(self, parts: list[Part]) -> dict[Part, Entry]:
        return {p: self.entry(p) for p in parts if p in self.parts}

    # -- loads ------------------------------------------------------------------------------
    def mark_pending(self, seq: int, label: str, parts: list[Part]) -> None:
        for p in parts:
            st = self.parts.get(p)
            if st is not None:
                st.pending[seq] = label

    def finished(self, seq: int, through: dict[Part, tuple[int, int]]) -> list[Part]:
        """A table batch is settled: ``through[part] = (last done, member's last)``. Its holds go;
        a member that did not load whole stops its partition there. The parts still tracked."""
        out = []
        for part, (done, last) in through.items():
            st = self.parts.get(part)
            if st is None:
                continue
            st.holds.pop(seq, None)
            st.pending.pop(seq, None)
            if done < last:
                self.stop(part, done + 1)
            out.append(part)
        return out

    def forget(self, seq: int, parts: list[Part]) -> None:
        """A batch was dropped un-loaded (its route stopped): its holds no longer count."""
        for p in parts:
            st = self.parts.get(p)
            if st is not None:
                st.holds.pop(seq, None)
                st.pending.pop(seq, None)

    def advance(self, parts: list[Part]) -> None:
        """Tell the consumer the new watermarks and acknowledge the events they cover."""
        for part in parts:
            st = self.parts.get(part)
            if st is None:
                continue
            wm = self.watermark(part)
            if wm > st.reported:
                st.reported = wm
                self.control.mark_loaded(part, wm)
            while st.events and st.events[0][0] <= wm:
                self.control.ack(st.events.popleft()[1])

    def release(self, parts: list[Part] | None = None) -> None:
        """Forget partitions without acknowledging anything (rebalance, stop): the next owner, or
        the next assignment, reads them again from the committed offset."""
        for p in list(self.parts) if parts is None else parts:
            self.parts.pop(p, None)

    def held_events(self) -> int:
        return sum(len(st.events) for st in self.parts.values())
