"""Versions per table and background compaction: the "too many versions" load pressure (docs/streamload-protocol.md §8a).

StarRocks counts data versions per tablet: every committed load adds one to each tablet it wrote,
compaction merges them in the background, and a load whose tablet has more than the BE setting
``tablet_max_versions`` (default 1000) fails (§8a). The emulator models **a table as one tablet
set**: one version counter per ``db.table`` (every load of a table is taken to write all its
tablets), named in messages by a stable fake tablet id (``10000 + crc32("db.table") % 900000``).

* **Adding** (:meth:`Versions.add`, called by ``Cluster.commit``): one version per committed load
  that wrote rows — a plain ``_stream_load``, a committed transaction (§5; one version however many
  ``load`` calls it had), a ``Publish Timeout`` load (counted at commit, the emulator always makes
  it visible later, §3.2), a commit-unknown fault with ``committed=True`` and a ``label_running``
  fault that then commits. A load of zero rows adds none: with ``empty_load_as_error`` it fails
  ``all partitions have no load data`` (§6.3), without it no tablet is written (StarRocks'
  ``DeltaWriter::close`` of a writer that got no rows builds no rowset).
* **Compaction** removes ``compaction_per_s`` versions per second (0 = none), computed lazily from
  the elapsed time whenever a count is read or changed (no thread). Once loaded, a table never
  goes below 1 version (its base rowset). A changed rate applies from the moment of the change.
* **Refusal** (:meth:`Versions.check`): StarRocks tests ``version_count() > tablet_max_versions``
  when a tablet writer opens (``DeltaWriter::_init``, ``be/src/storage/delta_writer.cpp``), so with
  limit L the (L+1)-th version is still written and the next load is refused with
  ``current/limit: L+1/L`` (concurrent loads may all pass and go further over, as in the reports
  quoted in §8a). The emulator checks after the body is read and before any row is parsed (the
  writer opens before rows arrive, so every counter of the reply is 0); the load answers
  ``Status: Fail``, its transaction is rolled back and the label is ABORTED, hence reusable (§3.2,
  §4). Transaction interface: checked at the first ``/api/transaction/load`` of a transaction
  (when its fragment opens the writers); the transaction is rolled back (§5.1: errors in load roll
  it back) and the reply code is ``INTERNAL_ERROR`` (the code StarRocks reports here was not read).

Message styles (``style``), texts from ``delta_writer.cpp`` as quoted in §8a:

* ``"current"`` (default): :data:`TOO_MANY_VERSIONS`. The stored BE source ends the format string
  with ``max_routine_load_batch_size,`` and a reply quoted in a Flink connector FAQ carries
  ``,:  be:<host>`` after it; the emulator emits the §8a text without either (clients should match a
  substring such as ``too many versions``).
* ``"2.5"``: :data:`TOO_MANY_VERSIONS_25` (StarRocks 2.5 BEs).
* ``"short"``: :data:`TOO_MANY_TABLET_VERSIONS` (``Status::ServiceUnavailable("too many tablet
  versions")``, older BEs; the text the loading FAQ names).

Settings: ``StreamLoadEmulator(max_versions=, compaction_per_s=, versions_style=)``, the CLI flags
``--max-versions/--compaction-per-s/--versions-style``, ``emu.set_versions(...)`` and ``POST
/_emulator/versions`` at runtime; counts: ``emu.versions(db, table)``, ``GET /_emulator/versions``.
Tests can replace the clock (``emu.cluster.versions.clock = fake``, before the first load) to move
compaction time by hand. Callers hold the emulator lock.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import LoadFailure

TABLET_MAX_VERSIONS = 1000          # BE tablet_max_versions default (§8a)
COMPACTION_PER_S = 10.0             # emulator default compaction rate (versions per second per table)
TOO_MANY_VERSIONS = (
    "Failed to load data into tablet {tablet}, because of too many versions, current/limit: {n}/{limit}. "
    "You can reduce the loading job concurrency, or increase loading data batch size. If you are loading "
    "data with Routine Load, you can increase FE configs routine_load_task_consume_second and "
    "max_routine_load_batch_size")
TOO_MANY_VERSIONS_25 = "Too many versions. tablet_id: {tablet}, version_count: {n}, limit: {limit}"
TOO_MANY_TABLET_VERSIONS = "too many tablet versions"
MESSAGE_STYLES = {"current": TOO_MANY_VERSIONS, "2.5": TOO_MANY_VERSIONS_25, "short": TOO_MANY_TABLET_VERSIONS}


def tablet_id(db: str, table: str) -> int:
    """A stable fake tablet id for ``db.table`` (the same in every run and process)."""
    return 10000 + zlib.crc32(f"{db}.{table}".encode()) % 900000


@dataclass
class _Table:
    tablet_id: int
    at: float                   # clock time up to which compaction has been applied
    count: int = 0
    credit: float = 0.0         # compaction progress towards the next removed version
    loaded: bool = False
    refused: int = 0


class Versions:
    """Version counters of every table, the limit, the compaction rate and the message style."""

    def __init__(self, max_versions: int = TABLET_MAX_VERSIONS, compaction_per_s: float = COMPACTION_PER_S,
                 style: str = "current", clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock      # replaceable (tests): seconds, monotonic
        self._tables: dict[tuple[str, str], _Table] = {}
        self.max_versions, self.compaction_per_s, self.style = TABLET_MAX_VERSIONS, COMPACTION_PER_S, ""
        self.configure(max_versions=max_versions, compaction_per_s=compaction_per_s, style=style)

    def configure(self, *, max_versions: int | None = None, compaction_per_s: float | None = None,
                  style: str | None = None) -> dict[str, Any]:
        """Change the settings at runtime (compaction up to now runs at the old rate); returns them."""
        if max_versions is not None and (isinstance(max_versions, bool) or not isinstance(max_versions, int)
                                         or max_versions < 0):
            raise ValueError("max_versions must be an integer >= 0")
        if compaction_per_s is not None and (isinstance(compaction_per_s, bool)
                                             or not isinstance(compaction_per_s, int | float)
                                             or not 0 <= compaction_per_s < float("inf")):
            raise ValueError("compaction_per_s must be a number >= 0")
        if style is not None and style not in MESSAGE_STYLES:
            raise ValueError(f"style must be one of {sorted(MESSAGE_STYLES)}")
        for t in self._tables.values():
            self._compact(t)
        if max_versions is not None:
            self.max_versions = max_versions
        if compaction_per_s is not None:
            self.compaction_per_s = float(compaction_per_s)
        if style is not None:
            self.style = style
        return self.settings()

    def settings(self) -> dict[str, Any]:
        return {"max_versions": self.max_versions, "compaction_per_s": self.compaction_per_s,
                "style": self.style}

    def _table(self, db: str, table: str) -> _Table:
        t = self._tables.get((db, table))
        if t is None:
            t = self._tables[(db, table)] = _Table(tablet_id(db, table), self.clock())
        return self._compact(t)

    def _compact(self, t: _Table) -> _Table:
        """Apply the compaction of the time since ``t.at`` (lazily, §8a); floor 1 once loaded."""
        now = self.clock()
        floor = 1 if t.loaded else 0
        t.credit += max(0.0, now - t.at) * self.compaction_per_s
        t.at = now
        done = int(t.credit)
        if t.count - done <= floor:     # at the floor: nothing to merge, no credit is banked
            t.count, t.credit = min(t.count, floor), 0.0
        else:
            t.count, t.credit = t.count - done, t.credit - done
        return t

    def check(self, db: str, table: str) -> None:
        """Refuse a load into a table over the limit (``count > max_versions``, see module doc)."""
        t = self._table(db, table)
        if t.count > self.max_versions:
            t.refused += 1
            raise LoadFailure(MESSAGE_STYLES[self.style].format(
                tablet=t.tablet_id, n=t.count, limit=self.max_versions))

    def add(self, db: str, table: str) -> None:
        """One more version: a committed load that wrote rows."""
        t = self._table(db, table)
        t.count += 1
        t.loaded = True

    def reset(self, db: str, table: str) -> None:
        """A new or truncated table starts with no versions (new tablets)."""
        self._tables.pop((db, table), None)

    def report(self, db: str, table: str) -> dict[str, Any]:
        t = self._table(db, table)
        return {"db": db, "table": table, "tablet_id": t.tablet_id, "count": t.count,
                "limit": self.max_versions, "refused": t.refused, "compaction_per_s": self.compaction_per_s}

    def tables(self) -> list[tuple[str, str]]:
        return sorted(self._tables)
