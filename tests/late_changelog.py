"""``python -m tests.late_changelog <faust arguments>``: Faust's command line in a process whose
consumer counts 0 partitions for every ``*-changelog`` topic until a table write has met that once
(``PartitionsMismatch``), or at most for its first minute; the next metadata update shows the truth.

That is what a worker sees when its consumer fetched metadata before the changelog topic Faust just
created had partition leaders (a busy broker): aiokafka's group coordinator keeps 0 for the topic
until the next metadata refresh, and Faust's table writes compare with that count. The producer and
the assignor see the topic as it is. tests/test_agent_example_kafka.py runs examples/enrich_orders.py
this way, so the race the example must survive happens on every run instead of now and then.
"""

from __future__ import annotations

import time
from typing import Any

from aiokafka.consumer.group_coordinator import GroupCoordinator
from faust.exceptions import PartitionsMismatch

HIDE_AT_MOST_S = 60.0
_T0 = time.monotonic()
_met: list[float] = []                     # when a table write first met the missing partitions
_snapshot = GroupCoordinator._get_metadata_snapshot
_mismatch_init = PartitionsMismatch.__init__


def metadata_snapshot(self: GroupCoordinator) -> dict[str, int]:
    counts: dict[str, int] = _snapshot(self)
    if not _met and time.monotonic() - _T0 < HIDE_AT_MOST_S:
        return {t: 0 if t.endswith("-changelog") else n for t, n in counts.items()}
    return counts


def mismatch_init(self: PartitionsMismatch, *args: Any, **kw: Any) -> None:
    _met.append(time.monotonic())
    _mismatch_init(self, *args, **kw)


GroupCoordinator._get_metadata_snapshot = metadata_snapshot  # type: ignore[method-assign]
PartitionsMismatch.__init__ = mismatch_init  # type: ignore[method-assign]

if __name__ == "__main__":
    from faust.cli.faust import cli

    cli()
