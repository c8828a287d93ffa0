"""``sinkapp offsets show | reset``: the committed offsets and the ledger of a config's routes.

Who calls: the ``sinkapp`` console script. The CLI counterpart of Kafka Connect's offsets API
(KIP-875): ``show`` prints, per route and partition, the committed offset, the ledger's loaded
mark, pending batches and label epoch, the end offset and the lag; ``reset`` moves the committed
offsets and the ledger together, only while no member of the consumer group is active (as Connect
allows it only while the connector is stopped).

``reset`` without ``--reload`` may skip records (forward) but refuses to move back over records the
ledger says are loaded: loading them again is what ``--reload`` is for. With ``--reload`` the ledger
forgets the loaded range and the partitions get a new label epoch (one above every epoch in the
group's ledger), so the reloaded batches carry labels StarRocks has not seen; from then on every
guarantee is exactly-once again (a crash during the reload neither loses nor doubles a row of it).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from sinkapp.config import Settings, load_settings
from sinkapp.errors import ResetRefused, UsageError
from sinkapp.kafka.admin import admin_client, aiokafka_security
from sinkapp.kafka.ledger import KafkaLedger
from sinkapp.pipeline.ledger import Entry
from sinkapp.pipeline.types import Part


@dataclass
class Row:
    part: Part
    committed: int | None
    end: int
    begin: int
    entry: Entry

    def doc(self) -> dict[str, Any]:
        lag = self.end - (self.committed if self.committed is not None else self.begin)
        return {"route": self.part.topic, "partition": self.part.partition, "committed": self.committed,
                "ledger_loaded": self.entry.loaded, "pending": list(self.entry.pending), "epoch": self.entry.epoch,
                "end": self.end, "lag": max(0, lag)}


async def active_members(s: Settings) -> list[str]:
    """``client_id@host`` of each active member of the group (empty when it has none)."""
    assert s.kafka is not None
    async with admin_client(s.kafka) as admin:
        responses = await admin.describe_consumer_groups([s.kafka.group_id])
    out = []
    for resp in responses:
        for group in resp.to_object().get("groups", []):
            for m in group.get("members", []):
                out.append(f"{m.get('client_id')}@{m.get('client_host')}")
    return out


async def read_rows(s: Settings, topics: list[str], ledger: KafkaLedger) -> list[Row]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from sinkapp.kafka.admin import partitions_of

    assert s.kafka is not None
    k = s.kafka
    security = aiokafka_security(k)
    tps = [TopicPartition(t, p) for t in topics for p in await partitions_of(k.bootstrap_servers, security, t)]
    async with admin_client(k) as admin:
        committed = await admin.list_consumer_group_offsets(k.group_id, partitions=tps)
    c = AIOKafkaConsumer(bootstrap_servers=k.bootstrap_servers, group_id=None, enable_auto_commit=False,
                         isolation_level="read_committed", **security)
    await c.start()
    try:
        ends, begins = await c.end_offsets(tps), await c.beginning_offsets(tps)
    finally:
        await c.stop()
    await ledger.catch_up()
    rows = []
    for tp in tps:
        om = committed.get(tp)
        off = om.offset if om is not None and om.offset >= 0 else None
        rows.append(Row(Part(tp.topic, tp.partition), off, ends[tp], begins[tp], ledger.entry(Part(tp.topic, tp.partition))))
    return rows


async def target_offsets(s: Settings, rows: list[Row], how: str, value: Any) -> dict[Part, int]:
    if how == "earliest":
        return {r.part: r.begin for r in rows}
    if how == "latest":
        return {r.part: r.end for r in rows}
    if how == "offset":
        return {r.part: min(max(int(value), r.begin), r.end) for r in rows}
    from aiokafka import AIOKafkaConsumer, TopicPartition

    assert s.kafka is not None
    ms = int(value.timestamp() * 1000)
    c = AIOKafkaConsumer(bootstrap_servers=s.kafka.bootstrap_servers, group_id=None, enable_auto_commit=False,
                         **aiokafka_security(s.kafka))
    await c.start()
    try:
        found = await c.offsets_for_times({TopicPartition(r.part.topic, r.part.partition): ms for r in rows})
    finally:
        await c.stop()
    out = {}
    for r in rows:
        got = found.get(TopicPartition(r.part.topic, r.part.partition))
        out[r.part] = got.offset if got is not None else r.end
    return out


def plan_reset(rows: list[Row], targets: dict[Part, int], reload: bool, epoch: int) -> dict[Part, Entry]:
    """The ledger entries a reset writes; ResetRefused (with what to do) when it cannot be done."""
    out = {}
    for r in rows:
        to = targets[r.part]
        where = f"{r.part.topic}[{r.part.partition}]"
        if r.entry.pending:
            raise ResetRefused(f"{where}: the ledger holds a pending batch ({', '.join(r.entry.pending)}); start a "
                              "worker and let it settle the batch (it loads it or finds it was never attempted), "
                              "stop it, then reset")
        if reload:
            out[r.part] = Entry(to - 1, {}, (), epoch)
        elif to <= r.entry.loaded:
            raise ResetRefused(
                f"{where}: moving to offset {to} goes back over records the ledger says are in StarRocks (up to "
                f"{r.entry.loaded}); they would be skipped, not loaded. Add --reload to load them again (new "
                "labels, exactly-once from then on)")
        else:
            out[r.part] = Entry(max(r.entry.loaded, to - 1), dict(r.entry.done), (), r.entry.epoch)
    return out


async def commit_offsets(s: Settings, targets: dict[Part, int]) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    assert s.kafka is not None
    c = AIOKafkaConsumer(bootstrap_servers=s.kafka.bootstrap_servers, group_id=s.kafka.group_id,
                         enable_auto_commit=False, **aiokafka_security(s.kafka))
    await c.start()
    try:
        tps = {TopicPartition(p.topic, p.partition): off for p, off in targets.items()}
        c.assign(list(tps))
        await c.commit(tps)
    finally:
        await c.stop()


async def ensure_ledger_topic(s: Settings) -> None:
    """The group's ledger topic, created as a worker would if no worker ran yet."""
    from sinkapp.kafka.admin import LEDGER_TOPIC_CONFIG, ensure_topic

    assert s.kafka is not None
    async with admin_client(s.kafka) as admin:
        await ensure_topic(admin, s.ledger_topic, partitions=s.ledger_partitions,
                           replication_factor=s.ledger_replication_factor, configs=LEDGER_TOPIC_CONFIG,
                           what="ledger topic", rf_key="sinkapp.ledger.topic.replication.factor", k=s.kafka)


def _select(rows: list[Row], route: str | None, partition: int | None) -> list[Row]:
    return [r for r in rows if (route is None or r.part.topic == route)
            and (partition is None or r.part.partition == partition)]


async def _run(args: argparse.Namespace, s: Settings) -> int:
    from sinkapp.worker.startup import resolve_routes_async

    assert s.kafka is not None
    routes = (await resolve_routes_async(s))[0]
    topics = [r.topic for r in routes]
    await ensure_ledger_topic(s)
    if args.route is not None and args.route not in topics:
        raise UsageError(f"--route {args.route}: not a route of this config (routes: {', '.join(topics)})")
    ledger = KafkaLedger(s.ledger_topic, s.kafka.bootstrap_servers, aiokafka_security(s.kafka))
    try:
        rows = _select(await read_rows(s, topics, ledger), args.route, args.partition)
        if args.cmd == "show":
            return _show(rows, args.json)
        return await _reset(args, s, rows, ledger)
    finally:
        await ledger.close()


def _show(rows: list[Row], as_json: bool) -> int:
    docs = [r.doc() for r in rows]
    if as_json:
        print(json.dumps(docs, indent=2))
        return 0
    print(f"{'route':30s} {'part':>4s} {'committed':>10s} {'loaded':>10s} {'epoch':>5s} {'end':>10s} {'lag':>8s}  pending")
    for d in docs:
        print(f"{d['route']:30s} {d['partition']:>4d} {str(d['committed']):>10s} {d['ledger_loaded']:>10d} "
              f"{d['epoch']:>5d} {d['end']:>10d} {d['lag']:>8d}  {','.join(d['pending']) or '-'}")
    return 0


async def _reset(args: argparse.Namespace, s: Settings, rows: list[Row], ledger: KafkaLedger) -> int:
    members = await active_members(s)
    if members:
        assert s.kafka is not None
        raise ResetRefused(f"consumer group {s.kafka.group_id} has active members ({', '.join(members)}): stop every "
                          "worker of the group before resetting its offsets")
    how, value = args.how
    targets = await target_offsets(s, rows, how, value)
    epoch = max([e.epoch for e in ledger.entries().values()] + [0]) + 1 if args.reload else 0
    entries = plan_reset(rows, targets, args.reload, epoch)
    for r in rows:
        print(f"{r.part.topic}[{r.part.partition}]: committed {r.committed} -> {targets[r.part]}"
              + (f" (reload, label epoch {epoch})" if args.reload else ""))
    if not args.yes:
        answer = input("apply this plan? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing changed")
            return 1
    await ledger.write(lambda: entries)
    await commit_offsets(s, targets)
    print(f"reset {len(rows)} partition(s)" + (f"; reloaded batches get label epoch {epoch}" if args.reload else ""))
    return 0


def _offset(text: str) -> tuple[str, int]:
    try:
        return "offset", int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an offset (a whole number)") from None


def _datetime(text: str) -> tuple[str, dt.datetime]:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date-time (e.g. 2026-12-01T10:00:00Z)") from None
    return "datetime", when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def build_parser(prog: str = "sinkapp offsets") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=(
        "Show or reset the committed offsets and the ledger of a config's routes (like Kafka Connect's "
        "offsets API). reset needs every worker of the group stopped; it refuses to move back over "
        "loaded records unless --reload loads them again under new labels."))
    sub = p.add_subparsers(dest="cmd", required=True, metavar="{show,reset}")
    show = sub.add_parser("show", help="committed offsets, the ledger, end offsets and lag",
                          description="Per route and partition: committed offset, the ledger's loaded mark, "
                                      "pending batches, label epoch, end offset and lag.")
    reset = sub.add_parser("reset", help="move the committed offsets and the ledger (workers stopped)",
                           description="Move the committed offsets and the ledger together (every worker of "
                                       "the group stopped). Prints the plan and asks before applying it.")
    for sp in (show, reset):
        sp.add_argument("--config", "-c", help="connector JSON file (default: $SINKAPP_CONFIG)")
        sp.add_argument("--route", help="a route's topic (default: every route)")
        sp.add_argument("--partition", type=int, help="one partition of the route(s) (default: every partition)")
    show.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    to = reset.add_mutually_exclusive_group(required=True)
    to.add_argument("--to-earliest", dest="how", action="store_const", const=("earliest", None),
                    help="the first offset still in each partition")
    to.add_argument("--to-latest", dest="how", action="store_const", const=("latest", None),
                    help="the end of each partition (skip everything not yet loaded)")
    to.add_argument("--to-offset", dest="how", type=_offset, metavar="N",
                    help="offset N in each partition (kept within the partition's first and end offsets)")
    to.add_argument("--to-datetime", dest="how", type=_datetime, metavar="ISO8601",
                    help="the first record at or after this time (UTC unless it names a zone), as Kafka's "
                         "offsets_for_times finds it")
    reset.add_argument("--reload", action="store_true",
                       help="load records the ledger says are loaded again, under a new label epoch")
    reset.add_argument("--yes", action="store_true", help="apply without asking")
    return p


def main(argv: list[str], prog: str = "sinkapp offsets") -> int:
    args = build_parser(prog).parse_args(argv)
    s = load_settings(args.config or os.environ.get("SINKAPP_CONFIG"))
    return asyncio.run(_run(args, s))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
