"""A route's records → rows: what intake and a batch rebuilt from Kafka both encode with.

Who uses it: the route intake (:mod:`.route`) for fetched records, and the rebuild of a table batch
(:mod:`.rebuild`: the settler's pending batches, the loader's split batches) for records read again,
so the same records give the same rows. One per route, built by the pipeline; the worker sets
``shape`` (auto.create/evolve) before the first record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sinkapp.converters import Converter
from sinkapp.pipeline.encode import BadRecord, Chunker
from sinkapp.pipeline.letters import DeadLetter, letter
from sinkapp.pipeline.types import TableKey

log = logging.getLogger(__name__)


@dataclass(eq=False)
class RouteCodec:
    id: int                            # the route's id in the pipeline
    name: str
    table: TableKey                    # the route's own table (TableByField rows may go to others)
    converter: Converter
    chunker: Chunker
    encoder: Any                       # of the Stream Loads its tables get
    headers: dict[str, str]
    dlq: bool = False                  # bad records (errors.tolerance=all) go to a dead-letter topic
    log_enable: bool = False
    log_messages: bool = False
    shape: Any = None                  # auto.create/evolve: a sinkapp.tableshape RouteShape
    formats: Callable[[TableKey], tuple[dict[str, str], Any]] | None = None   # other tables' headers, encoder

    def table_of(self, name: str) -> TableKey:
        """The table a row names (TableByField): ``db.table`` as named, a bare name in the route's database."""
        return TableKey.within(self.table.database, name)

    def format_of(self, table: TableKey) -> tuple[dict[str, str], Any]:
        """The Stream Load headers and encoder of ``table``: the route's own for its table, else the
        table's (``formats``: per-table load properties), else the route's."""
        if table == self.table or self.formats is None:
            return self.headers, self.encoder
        return self.formats(table)

    async def ready(self, records: list[Any]) -> None:
        """What decoding ``records`` needs: the converter fetches registry schemas it has not seen,
        the table shape creates the table or adds columns before encoding."""
        prep = getattr(self.converter, "prepare", None)
        if prep is not None:
            await prep(records, tolerant=True)
        if self.shape is not None:
            await self.shape.prepare(records)

    def letter(self, record: Any, bad: BadRecord) -> DeadLetter:
        """errors.tolerance=all: the bad record's dead letter (written when ``dlq``, else skipped and
        counted by whoever holds it); logged with errors.log.enable."""
        d = letter(record, bad.stage, bad.error, self.chunker.class_name)
        if self.log_enable:
            extra = (f" key={record.key!r:.200} value={record.value!r:.500}" if self.log_messages else "")
            log.warning("bad record %s stage=%s route=%s %s: %s%s", d.where(), d.stage, self.name,
                        "dead-lettered" if self.dlq else "skipped", bad.error, extra)
        return d
