"""Deterministic Stream Load labels from a table batch's Kafka identity (docs/design.md §2).

Who calls: :class:`sinkapp.pipeline.types.BatchId` (``label``). A label depends only on the
prefix, the table and the batch's members (topic, partition, first offset, last offset), so every
retry, and every worker that rebuilds the same batch, sends the same label and StarRocks
de-duplicates. Valid for ``^[-\\w]{1,128}$``:

- one member: ``<prefix>-<table>-<topic>-<partition>-<first>-<last>`` (the 0.2 format, so a
  batch pending across an upgrade keeps its label);
- several: ``<prefix>-<table>-x<members>-<sha1 of the sorted members, 20 hex digits>``;
- a head (prefix, table, topic) that does not fit, or is not ASCII, is replaced by a hash;
- a label epoch above 0 (``sinkapp offsets reset --reload``) is appended to the prefix as ``-e<n>``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

_BAD = re.compile(r"[^-\w]")
MAX_LEN = 128


def _fit(head: str, tail: str, seed: str) -> str:
    label = f"{head}-{tail}"
    if len(label) <= MAX_LEN and label.isascii():
        return label
    digest = hashlib.sha1(seed.encode()).hexdigest()[:16]
    keep = MAX_LEN - len(tail) - len(digest) - 2
    short = _BAD.sub("_", head.encode("ascii", "replace").decode("ascii"))[: max(0, keep)]
    return f"{short}-{digest}-{tail}" if short else f"{digest}-{tail}"


def member_label(prefix: str, table: str, topic: str, partition: int, first: int, last: int) -> str:
    """The label of a batch with one member."""
    head = _BAD.sub("_", f"{prefix}-{table}-{topic}")
    return _fit(head, f"{partition}-{first}-{last}", f"{prefix}\0{table}\0{topic}")


def batch_label(prefix: str, table: str, members: Sequence[tuple[str, int, int, int]], epoch: int = 0) -> str:
    """The label of a table batch; ``members`` sorted (topic, partition, first, last)."""
    if epoch:
        prefix = f"{prefix}-e{epoch}"
    if len(members) == 1:
        topic, partition, first, last = members[0]
        return member_label(prefix, table, topic, partition, first, last)
    text = "\n".join(f"{t}\0{p}\0{f}\0{last}" for t, p, f, last in members)
    digest = hashlib.sha1(f"{prefix}\0{table}\n{text}".encode()).hexdigest()[:20]
    head = _BAD.sub("_", f"{prefix}-{table}")
    return _fit(head, f"x{len(members)}-{digest}", f"{prefix}\0{table}")
