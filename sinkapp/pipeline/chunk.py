"""What the decode loop (:mod:`sinkapp.pipeline.encode`) makes of a run of records: a :class:`Chunk` of
encoded rows, and :class:`BadRecord` for a record that cannot be loaded.

Who uses them: the Chunker and its columnar lane (:mod:`.lanes`), the route's intake, the bad-row search.
"""

from __future__ import annotations

from typing import NamedTuple

from sinkapp.errors import SinkError
from sinkapp.pipeline.letters import VALUE_CONVERTER
from sinkapp.transforms import Skipped


class BadRecord(SinkError):
    """Record ``index`` of the slice cannot be loaded; ``error`` says why, ``stage`` where
    (:mod:`sinkapp.pipeline.letters` stage names)."""

    def __init__(self, index: int, error: Exception, stage: str = VALUE_CONVERTER) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error
        self.stage = stage


class Piece(NamedTuple):
    """Encoded rows for one table: ``data`` (rows joined, no outer brackets) and their count."""

    data: bytes | memoryview
    rows: int


class Chunk(NamedTuple):
    """What a run of a fetched batch's records became.

    ``data``/``rows``: the rows for the route's own table; ``routed``: rows a transform sent to
    other tables (TableByField), by table; ``tombstones``: records that are no row (null values,
    empty JSON values, rows a transform dropped are counted by the Chunker); ``bad``: records
    that cannot be loaded (only with ``errors.tolerance=all``; else the first one raises);
    ``skipped``: records a transform skipped on purpose (a Debezium truncate), with its reason."""

    data: bytes | memoryview
    rows: int
    tombstones: int
    bad: list[BadRecord]
    routed: dict[str, Piece]
    skipped: tuple[tuple[int, Skipped], ...] = ()    # (record index, why): events skipped on purpose

    def pieces(self, table: str) -> dict[str, Piece]:
        """Rows by table, the route's own under ``table``; tables without rows left out."""
        out = {t: p for t, p in self.routed.items() if p.rows}
        if self.rows:
            out[table] = Piece(self.data, self.rows)
        return out
