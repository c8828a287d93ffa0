"""Reading 0.2's per-route ledger topics into the group's one ledger topic, once.

Who calls: :func:`sinkapp.worker.startup.migrate_old_ledgers` when a worker starts, before it joins the
consumer group. 0.2 kept ``<group>-sinkapp-ledger-<topic>``, partitioned like the source, whose
last record per partition was ``{"loaded": L, "pending": [first, last] | null, "dead": bool}``. A
pending batch there had the label ``<prefix>-<table>-<topic>-<partition>-<first>-<last>``, which is
exactly the label of a one-member table batch now: it becomes a pending batch with that identity,
so the first owner after the upgrade settles it like any other (no batch loses its exactly-once
guarantee across the upgrade). A marker ``m/<old topic>`` in the new ledger says it was read; a
partition the new ledger already has an entry for is left as it is. Once every worker runs this
version and has started once, the old topics are not read again and can be deleted.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from sinkapp.config import Settings
from sinkapp.config.routes import OLD_LEDGER_INFIX, Route
from sinkapp.kafka.admin import aiokafka_security
from sinkapp.kafka.ledger import KafkaLedger
from sinkapp.pipeline.ledger import BatchRecord, Entry
from sinkapp.pipeline.types import BatchId, Member, Part, TableKey

log = logging.getLogger(__name__)


async def read_old(bootstrap: str, security: dict[str, Any], topic: str, partitions: int) -> dict[int, Any]:
    """The last record of each partition of an old ledger topic, parsed."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, **security)
    await c.start()
    out: dict[int, Any] = {}
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        c.assign(tps)
        ends = await c.end_offsets(tps)
        for tp in tps:
            if ends[tp] <= 0:
                continue
            c.seek(tp, ends[tp] - 1)
            got = (await c.getmany(tp, timeout_ms=10_000)).get(tp) or []
            if not got:
                raise TimeoutError(f"old ledger {topic}[{tp.partition}] did not answer within 10s")
            out[tp.partition] = orjson.loads(got[-1].value)
    finally:
        await c.stop()
    return out


def convert(route: Route, prefix: str, partition: int, doc: Any) -> tuple[Entry, BatchRecord | None]:
    if not isinstance(doc, dict):
        return Entry(), None
    loaded, pend = int(doc.get("loaded", -1)), doc.get("pending")
    if not pend:
        return Entry(loaded), None
    ident = BatchId(TableKey(route.database, route.table), (Member(route.topic, partition, int(pend[0]), int(pend[1])),))
    rec = BatchRecord(ident.label(prefix, route.database), ident, dead=bool(doc.get("dead")))   # 0.2's label
    return Entry(loaded, {}, (rec.label,)), rec


async def migrate(ledger: KafkaLedger, settings: Settings, routes: list[Route], partitions: dict[str, int]) -> None:
    k = settings.kafka
    assert k is not None
    old = {r.topic: f"{k.group_id}{OLD_LEDGER_INFIX}{r.topic}" for r in routes}
    old = {t: name for t, name in old.items() if partitions.get(name)}
    if not old:
        return
    await ledger.catch_up()
    for topic, name in old.items():
        if ledger.marked(name):
            continue
        route = next(r for r in routes if r.topic == topic)
        docs = await read_old(k.bootstrap_servers, aiokafka_security(k), name, partitions[name])
        entries: dict[Part, Entry] = {}
        batches: list[BatchRecord] = []
        for p, doc in sorted(docs.items()):
            part = Part(topic, p)
            if ledger.entry(part) != Entry():
                continue
            entry, rec = convert(route, settings.label_prefix, p, doc)
            entries[part] = entry
            if rec is not None:
                batches.append(rec)
        await ledger.write(lambda entries=entries: entries, batches=batches, marks=[name])    # type: ignore[misc]
        log.warning("ledger: read the 0.2 ledger topic %s into %s (%d partition(s), %d pending batch(es)); it is "
                 "not read again and can be deleted once every worker runs this version", name,
                 ledger.topic, len(entries), len(batches))
