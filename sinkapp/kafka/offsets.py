"""Committed and end offsets of a consumer group on one topic (progress, lag, tests).

Who calls: ``sinkapp demo`` (lag in its progress line) and the integration tests.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


async def group_offsets(bootstrap: str, group: str, topic: str,
                        **security: Any) -> tuple[dict[int, int], dict[int, int]]:
    """(committed offset, end offset) per partition; a partition never committed counts as 0."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, **security)
    await c.start()
    try:
        from sinkapp.kafka.admin import partitions_of

        parts = c.partitions_for_topic(topic) or await partitions_of(bootstrap, security, topic)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        ends = await c.end_offsets(tps) if tps else {}
        committed = {tp.partition: (await c.committed(tp)) or 0 for tp in tps}
        return committed, {tp.partition: ends[tp] for tp in tps}
    finally:
        await c.stop()


async def group_lag(bootstrap: str, group: str, topic: str, **security: Any) -> int:
    committed, ends = await group_offsets(bootstrap, group, topic, **security)
    return sum(ends[p] - committed.get(p, 0) for p in ends)
