"""Deterministic Stream Load labels from a batch's Kafka identity (design §2).

Who calls: the route sink when it seals a batch. The label depends only on
(prefix, table, topic, partition, first offset, last offset), so every retry, and every
worker that rebuilds the same batch, sends the same label and StarRocks de-duplicates.
Valid for ``^[-\\w]{1,128}$``; a too-long head is replaced by a hash.
"""

from __future__ import annotations

import hashlib
import re

_BAD = re.compile(r"[^-\w]")
MAX_LEN = 128


def batch_label(prefix: str, table: str, topic: str, partition: int, first: int, last: int) -> str:
    tail = f"{partition}-{first}-{last}"
    head = _BAD.sub("_", f"{prefix}-{table}-{topic}")
    label = f"{head}-{tail}"
    if len(label) <= MAX_LEN and label.isascii():
        return label
    digest = hashlib.sha1(f"{prefix}\0{table}\0{topic}".encode()).hexdigest()[:16]
    keep = MAX_LEN - len(tail) - len(digest) - 2
    short = _BAD.sub("_", head.encode("ascii", "replace").decode("ascii"))[: max(0, keep)]
    return f"{short}-{digest}-{tail}" if short else f"{digest}-{tail}"
