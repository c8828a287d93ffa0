"""Compression benchmark: bytes on the wire, CPU and rows/s of one sinkapp worker per
``sink.properties.compression`` codec, beside no compression, on the same topic.

    .venv/bin/python benchmarks/compression.py                          # json, 300k rows, 4 partitions, 3 rounds
    .venv/bin/python benchmarks/compression.py --records 1000000 --rounds 1 --json-out r.json
    .venv/bin/python benchmarks/compression.py --formats json,csv --codecs none,lz4_frame,zstd

Starts the local broker and the Stream Load emulator in count-only mode (its own process; it
decompresses every body as StarRocks does, and fails one that does not decompress), produces
``--records`` Datagen orders once per format to a topic of ``--partitions`` partitions (JSON as
config/connector-json.json loads them; CSV lines through StringConverter, ``format=csv``), then
runs ``--rounds`` interleaved rounds, each with one worker per codec (``--codecs``, default none,
lz4_frame, zstd, gzip, bzip2) from an empty table and a fresh consumer group, timed as
benchmarks/throughput.py times its sinkapp runs (Popen → the N-th row visible).

Figures per run (the table: medians of the rounds):

- bytes on the wire: the bodies of the run's committed Stream Loads as the emulator received them
  (its load records, filtered by the run's label prefix: retries and refused attempts are not
  counted), and per row; ratio: the codec's bytes over no compression's;
- rows/s end to end and steady (10 % → 90 % of N), as in throughput.py;
- CPU µs/row: the worker process's user + system CPU / N (compression runs in the worker; the
  client compresses bodies over 256 KiB in a thread, which /proc counts too), and the difference
  to no compression's;
- emulator µs/row: the emulator process's CPU / N (decompressing and counting), for scale only.

Every run must end with exactly N rows in the table; a run that does not is reported and makes the
exit status 1. bufferflush.intervalms=1000, bufferflush.maxbytes=``--maxbytes``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sinkapp_testkit.workdir import add_work_options, run_in_work_dir  # noqa: E402

from benchmarks.bench import results as bench_results  # noqa: E402
from benchmarks.bench.bulk import Bench, measure  # noqa: E402
from benchmarks.bench.consumers import SinkappWorkers, sinkapp_config  # noqa: E402
from benchmarks.bench.data import csv_values, json_values, produce  # noqa: E402
from benchmarks.bench.harness import Services  # noqa: E402
from benchmarks.bench.results import Result  # noqa: E402

CODECS = ("none", "lz4_frame", "zstd", "gzip", "bzip2")
FORMATS = ("json", "csv")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join((__doc__ or "").split("\n\n")[1:]))
    ap.add_argument("--formats", default="json", help="comma list of json, csv (default json)")
    ap.add_argument("--codecs", default=",".join(CODECS), help=f"comma list of {', '.join(CODECS)} (default all)")
    ap.add_argument("--records", type=int, default=300_000, help="rows per format (default 300000)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--partitions", type=int, default=4, help="partitions per topic (default 4)")
    ap.add_argument("--maxbytes", type=int, default=64 * 1024 * 1024,
                    help="bufferflush.maxbytes (default 67108864, the configuration's minimum)")
    ap.add_argument("--flush-rows", type=int, default=10_000_000, help="sinkapp.flush.max.rows (default 10000000)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra sinkapp worker setting (repeatable)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds one run may take (default 900)")
    ap.add_argument("--stall-timeout", type=float, default=120.0,
                    help="fail a run when no new row is visible for this long (default 120 s)")
    ap.add_argument("--json-out", type=Path, metavar="FILE", help="write every run and the medians as JSON")
    add_work_options(ap)
    return ap


def run_codec(b: Bench, fmt: str, codec: str, rnd: int) -> Result:
    """One worker on ``fmt``'s topic with ``codec``; the run's wire bytes into ``extra``."""
    name = f"sinkapp {fmt} {codec}"
    group = f"bench-{fmt}-{codec}-{uuid.uuid4().hex[:6]}"
    sets = list(b.args.set) + ([f"sink.properties.compression={codec}"] if codec != "none" else [])
    cfg = sinkapp_config(fmt, [b.topics[fmt]], b.emu.fe, b.bootstrap, group, b.flush, sets)
    c = SinkappWorkers(name, b.work / f"r{rnd}-{fmt}-{codec}-{group}", cfg)
    res = measure(b, c, Result(name, rnd, b.records[fmt],
                               timing="Popen of the worker → emulator commit of the N-th row"))
    prefix = cfg["sinkapp.label.prefix"] + "-"
    done = [ld for ld in b.emu.loads() if ld["label"].startswith(prefix)
            and ld["status"] in ("Success", "Publish Timeout")]
    res.extra.update(wire_bytes=sum(int(ld["bytes"]) for ld in done), committed_loads=len(done),
                     headers=done[0]["headers"] if done else {})
    res.extra.pop("timeline", None)
    return res


def medians(results: list[Result]) -> list[dict[str, Any]]:
    table: list[dict[str, Any]] = []
    for name in dict.fromkeys(r.consumer for r in results):
        ok = [r for r in results if r.consumer == name and r.ok]
        if not ok:
            table.append({"consumer": name, "ok": 0})
            continue
        steady = [r.steady_rows_s for r in ok if r.steady_rows_s]
        table.append({"consumer": name, "ok": len(ok), "n": ok[0].n,
                      "wire_bytes": statistics.median(r.extra["wire_bytes"] for r in ok),
                      "rows_s": statistics.median(r.rows_s for r in ok),
                      "steady_rows_s": statistics.median(steady) if steady else None,
                      "cpu_us_row": statistics.median(r.cpu_us_row for r in ok),
                      "emu_us_row": statistics.median((r.emu_cpu_s or 0) / r.n * 1e6 for r in ok),
                      "peak_rss_mib": statistics.median(r.rss_kb for r in ok) / 1024,
                      "loads": statistics.median(r.extra["committed_loads"] for r in ok)})
    return table


def print_table(table: list[dict[str, Any]]) -> None:
    base: dict[str, dict[str, Any]] = {t["consumer"].rsplit(" ", 1)[0]: t for t in table
                                       if t["ok"] and t["consumer"].endswith(" none")}
    print(f"| {'codec':26s} | bytes on the wire | bytes/row | vs. none | rows/s end to end | steady rows/s | "
          "CPU µs/row | Δ CPU µs/row | emulator µs/row | peak RSS MiB | loads |")
    print("|" + "|".join("---" for _ in range(11)) + "|")
    for t in table:
        if not t["ok"]:
            print(f"| {t['consumer']:26s} | all runs failed |")
            continue
        ref = base.get(t["consumer"].rsplit(" ", 1)[0])
        ratio = f"{t['wire_bytes'] / ref['wire_bytes']:.3f}" if ref else "-"
        dcpu = f"{t['cpu_us_row'] - ref['cpu_us_row']:+.2f}" if ref else "-"
        steady = f"{t['steady_rows_s']:,.0f}" if t["steady_rows_s"] else "-"
        print(f"| {t['consumer']:26s} | {t['wire_bytes']:,.0f} | {t['wire_bytes'] / t['n']:.1f} | {ratio} | "
              f"{t['rows_s']:,.0f} | {steady} | {t['cpu_us_row']:.2f} | {dcpu} | {t['emu_us_row']:.2f} | "
              f"{t['peak_rss_mib']:.0f} | {t['loads']:g} |")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    if not formats or any(f not in FORMATS for f in formats):
        raise SystemExit(f"--formats: choose from {', '.join(FORMATS)}")
    if not codecs or any(c not in CODECS for c in codecs):
        raise SystemExit(f"--codecs: choose from {', '.join(CODECS)}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))    # clean up broker and emulator on kill
    return run_in_work_dir("sinkapp-bench-compression-", args, lambda work: run(args, work, formats, codecs))


def run(args: argparse.Namespace, work: Path, formats: list[str], codecs: list[str]) -> int:
    print(f"work dir {work}", flush=True)
    records = {f: args.records for f in formats}
    with Services(work) as svc:
        topics = {f: f"bench-{f}" for f in formats}
        for fmt in formats:
            svc.kafka.create_topic(topics[fmt], partitions=args.partitions)
            t = time.monotonic()
            values = json_values(args.records) if fmt == "json" else csv_values(args.records)
            count, nbytes = asyncio.run(produce(svc.kafka.bootstrap_servers, topics[fmt], values, args.partitions))
            print(f"produced {count:,} {fmt} records to {topics[fmt]} ({nbytes / 1e6:.1f} MB, "
                  f"{nbytes / max(1, count):.0f} B/record) in {time.monotonic() - t:.1f} s", flush=True)
        b = Bench(args, work, svc.kafka.bootstrap_servers, svc.emu, None, topics, records)
        print(f"rounds={args.rounds} partitions={args.partitions} maxbytes={args.maxbytes} intervalms=1000 "
              f"formats={','.join(formats)} codecs={','.join(codecs)}\n", flush=True)
        results: list[Result] = []
        for rnd in range(1, args.rounds + 1):
            for fmt in formats:
                for codec in codecs:
                    r = run_codec(b, fmt, codec, rnd)
                    results.append(r)
                    wire = f"  wire {r.extra['wire_bytes']:,} B" if r.ok else ""
                    print(r.line(None) + wire, flush=True)
    table = medians(results)
    print(f"\nmedians of {args.rounds} round(s), {args.records:,} rows per format, {args.partitions} partitions:\n")
    print_table(table)
    if args.json_out:
        bench_results.write_json(args.json_out, args, records=records, rounds=args.rounds,
                                 runs=[r.to_dict() for r in results], medians=table)
    return bench_results.failures(results)


if __name__ == "__main__":
    raise SystemExit(main())
