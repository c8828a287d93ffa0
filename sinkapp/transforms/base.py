"""What every transform module shares: the record's Meta, a transform's spec, the registry.

Who imports it: the transform modules (they register their factories here) and
:mod:`sinkapp.transforms.chain`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from sinkapp.config.types import TransformSpec

__all__ = ["REGISTRY", "SCHEMA_ONLY", "TABLE_KEY", "UNAVAILABLE_KEY", "Meta", "Skipped", "Transform", "TransformSpec", "register"]


class Meta(NamedTuple):
    """What a transform knows of the record besides its value (a NamedTuple: built per record)."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None            # ms since the epoch, as Kafka stores it
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


Transform = Callable[[dict[str, Any], Meta], Any]


class Skipped(NamedTuple):
    """What a transform returns for a record that is an event, not a row, and that sinkapp skips on
    purpose (a Debezium ``truncate``): no row, counted by ``kind`` in the route's
    ``sinkapp_events_skipped_total`` and named once in the log (``note``: what it means for the table)."""

    kind: str
    note: str


#: a row carrying this key goes to the named table of the route's database instead of the route's
#: table (set by the TableByField transform; removed before the row is encoded)
TABLE_KEY = "__sinkapp_table__"


#: a row carrying this key lacks the columns it names, which the source did not send (Debezium's
#: unavailable-value placeholder): ``{"columns": [...], "key": [primary key columns] | None}``; it is
#: loaded as a partial update (sinkapp.pipeline.partial), never as a complete row
UNAVAILABLE_KEY = "__sinkapp_unavailable"


#: short names and Kafka Connect class names → factory(options) -> Transform (filled by the modules)
REGISTRY: dict[str, Callable[[Mapping[str, str]], Transform]] = {}
#: names of transforms that change only values with a Connect schema (schemaless ones pass through)
SCHEMA_ONLY: set[str] = set()
def register(*names: str, schema_only: bool = False) -> Callable[[Any], Any]:
    def deco(factory: Any) -> Any:
        for n in names:
            REGISTRY[n] = factory
            if schema_only:
                SCHEMA_ONLY.add(n)
        return factory
    return deco
