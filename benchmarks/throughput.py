"""Throughput benchmark: sinkapp workers end to end against the raw aiokafka ceiling (and, given its
plugin, the Java starrocks-kafka-connector), in one run.

    .venv/bin/python benchmarks/throughput.py                  # 3 rounds: json 2M, avro 1M, csv 2M rows
    .venv/bin/python benchmarks/throughput.py --quick          # smoke run: 30k rows per format, 1 round
    .venv/bin/python benchmarks/throughput.py --formats json --records 500000 --rounds 5 --json-out r.json
    .venv/bin/python benchmarks/throughput.py --formats json --java-plugin path/to/starrocks-kafka-connector

Starts a local Kafka broker, the Stream Load emulator in count-only mode (rows counted, not parsed,
in its own process) and, for Avro, the Schema Registry emulator; produces each format's records
once to its own topic (``--partitions``), then runs ``--rounds`` interleaved rounds, each with a
fresh consumer group per consumer: the raw aiokafka consumer (the ceiling, on the json topic),
the bare Faust agent (``--bare-faust``, at most ``--bare-faust-records``), one sinkapp worker
per format and, on the json topic, ``sinkapp worker --processes N`` (``--processes``, default 2: one
parent, N child workers in one group; its CPU and RSS are the parent's and children's together), then with ``--java-plugin DIR`` the Java connector on the json topic; after the
rounds, once, two sinkapp workers in one consumer group on the json topic (``--two-workers``).

The formats, as the product is configured for them:

- json: config/connector-json.json (JsonConverter, jsonpaths into test.test123), Datagen orders;
- avro: config/connector-avro.json (AvroConverter, registry from SINKAPP_SCHEMA_REGISTRY_URL),
  Datagen orders in the Confluent wire format;
- csv: StringConverter values that are CSV lines, sink.properties.format=csv, column_separator
  ``,`` and columns for test123;
- json-chain: json with three transforms (InsertField, ReplaceField, Filter).

Workers run as ``python -m sinkapp.cli worker --config c.json --without-web -l info --datadir d``
with bufferflush.intervalms=1000, bufferflush.maxbytes=``--maxbytes`` and sinkapp.flush.max.rows=
``--flush-rows`` (plus any ``--set key=value``); each worker's log stays in the work directory and
its tail is printed when a run fails. The Java connector runs in Kafka Connect standalone
(testkit/sinkapp_testkit/connect/: runtime jars fetched from Maven Central into .kafka/connect-libs on first
use) with connector-json.json's keys, the same topic, endpoint, bufferflush.intervalms and
bufferflush.maxbytes, tasks.max=``--java-tasks``; its log is connect.log in its run directory.

Figures per run (medians of the rounds in the final table):

- rows/s end to end: N / (time from Popen of the worker(s) or the Connect JVM to the emulator's
  commit that made the N-th row visible, from the emulator timeline). The raw aiokafka consumer
  runs in a child process and is timed from consumer construction to its N-th record; bare Faust
  from Popen to N-th event;
- steady rows/s: rows between the first moments 10 % and 90 % of N were visible (emulator timeline)
  or consumed (the baselines' own timestamps), divided by the time between them;
- CPU µs/row: user + system CPU of the consumer process (``/proc/<pid>/stat`` read just before it
  is stopped, children and all threads included; the raw consumer: getrusage delta from
  construction) / N;
- peak RSS: VmHWM of the consumer process (sum of both for two workers; the JVM for Java);
- loads: committed loads into the table (emulator timeline points) for the N rows;
- ratio: rows/s end to end / the raw aiokafka ceiling's rows/s of the same round (table: medians).

Every sinkapp and Java run must end with exactly N rows in the table (no loss, no duplicate); a
run that does not, times out or whose process dies is reported and makes the exit status 1. A PNG
of rows visible over time for each consumer is written (``--png``, path printed at the end). The
machine is shared and noisy: read the medians, not one run.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sinkapp_testkit.workdir import add_work_options, run_in_work_dir  # noqa: E402

from benchmarks.bench import plot  # noqa: E402
from benchmarks.bench import results as bench_results  # noqa: E402
from benchmarks.bench.baselines import raw_child, run_bare_faust, run_raw  # noqa: E402
from benchmarks.bench.bulk import Bench, run_java, run_sinkapp  # noqa: E402
from benchmarks.bench.data import avro_values, csv_values, json_values, produce, register_avro  # noqa: E402
from benchmarks.bench.harness import Services  # noqa: E402
from benchmarks.bench.results import MIN_STEADY_S, Result, medians, print_table  # noqa: E402

FORMATS = ("json", "avro", "csv", "json-chain")
DEFAULT_RECORDS = {"json": 2_000_000, "avro": 1_000_000, "csv": 2_000_000, "json-chain": 1_000_000}
QUICK_RECORDS = 30_000


def parse_records(spec: str | None, formats: list[str], quick: bool) -> dict[str, int]:
    records = {f: (QUICK_RECORDS if quick else DEFAULT_RECORDS[f]) for f in FORMATS}
    if spec:
        for part in spec.split(","):
            fmt, sep, num = part.rpartition("=")
            targets = [fmt.strip()] if sep else list(FORMATS)
            for f in targets:
                if f not in FORMATS:
                    raise SystemExit(f"--records: unknown format {f!r}")
                records[f] = int(num.replace("_", ""))
    return {f: records[f] for f in formats}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join((__doc__ or "").split("\n\n")[1:]))
    ap.add_argument("--formats", default="json,avro,csv",
                    help="comma list of json, avro, csv, json-chain (JSON with a three-transform chain; "
                         "default json,avro,csv)")
    ap.add_argument("--records", metavar="SPEC",
                    help="rows per format: N for all, or e.g. json=1500000,avro=800000 "
                         f"(default {','.join(f'{k}={v}' for k, v in DEFAULT_RECORDS.items())}; "
                         f"--quick {QUICK_RECORDS})")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 3, --quick 1)")
    ap.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_RECORDS:,} rows per format, 1 round")
    ap.add_argument("--partitions", type=int, default=4, help="partitions per topic (default 4)")
    ap.add_argument("--two-workers", action=argparse.BooleanOptionalAction, default=True,
                    help="one extra json run with 2 workers in one consumer group (default on)")
    ap.add_argument("--processes", type=int, default=2, metavar="N",
                    help="in every round, one more json run: sinkapp worker --processes N (one parent, N child "
                         "workers in one group); 0 or 1: none (default 2)")
    ap.add_argument("--bare-faust", action="store_true", help="add the bare Faust baseline (slow, ~7k rows/s)")
    ap.add_argument("--bare-faust-records", type=int, default=100_000, help="cap of its N (default 100000)")
    ap.add_argument("--no-raw", action="store_true", help="skip the raw aiokafka ceiling")
    ap.add_argument("--java-plugin", type=Path, metavar="DIR",
                    help="Kafka Connect plugin directory of the Java starrocks-kafka-connector: run it on the "
                         "json topic in every round (nothing Java runs without it)")
    ap.add_argument("--java-tasks", type=int, default=1, help="tasks.max of the Java connector (default 1)")
    ap.add_argument("--maxbytes", type=int, default=64 * 1024 * 1024,
                    help="bufferflush.maxbytes (default 67108864, the configuration's minimum)")
    ap.add_argument("--flush-rows", type=int, default=10_000_000, help="sinkapp.flush.max.rows (default 10000000)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra sinkapp worker setting (repeatable), e.g. --set tasks.max=2")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds one run may take (default 900)")
    ap.add_argument("--stall-timeout", type=float, default=120.0,
                    help="fail a sinkapp or Java run when no new row is visible for this long (default 120 s)")
    ap.add_argument("--json-out", type=Path, metavar="FILE", help="write every run and the medians as JSON")
    ap.add_argument("--png", type=Path, metavar="FILE", default=Path("throughput.png"),
                    help="picture path (default: throughput.png in the current directory)")
    add_work_options(ap)
    ap.add_argument("--raw-child", nargs=4, help=argparse.SUPPRESS)
    return ap


def produce_all(svc: Services, records: dict[str, int], partitions: int) -> dict[str, str]:
    """Each format's records to its own topic, once; returns format → topic."""
    topics = {f: f"bench-{f}" for f in records}
    for fmt, n in records.items():
        svc.kafka.create_topic(topics[fmt], partitions=partitions)
        t = time.monotonic()
        if fmt == "avro":
            assert svc.registry is not None
            values = avro_values(n, register_avro(svc.registry.url, f"{topics[fmt]}-value"))
        else:
            values = json_values(n) if fmt in ("json", "json-chain") else csv_values(n)
        count, nbytes = asyncio.run(produce(svc.kafka.bootstrap_servers, topics[fmt], values, partitions))
        print(f"produced {count:,} {fmt} records to {topics[fmt]} ({nbytes / 1e6:.1f} MB, "
              f"{nbytes / max(1, count):.0f} B/record) in {time.monotonic() - t:.1f} s", flush=True)
    return topics


def run_rounds(b: Bench, formats: list[str], rounds: int, two_workers: bool) -> list[Result]:
    args, results = b.args, []
    raw_rows_s: float | None = None
    for rnd in range(1, rounds + 1):
        raw_rows_s = None
        if not args.no_raw:
            r = run_raw(b, rnd)
            results.append(r)
            raw_rows_s = r.rows_s if r.ok else None
            print(r.line(None), flush=True)
        if args.bare_faust:
            results.append(run_bare_faust(b, rnd))
            print(results[-1].line(raw_rows_s), flush=True)
        for fmt in formats:
            results.append(run_sinkapp(b, fmt, rnd))
            print(results[-1].line(raw_rows_s), flush=True)
            if fmt == "json" and args.processes > 1:
                results.append(run_sinkapp(b, fmt, rnd, processes=args.processes))
                print(results[-1].line(raw_rows_s), flush=True)
        if args.java_plugin is not None:
            results.append(run_java(b, rnd))
            print(results[-1].line(raw_rows_s), flush=True)
    if two_workers:
        results.append(run_sinkapp(b, "json", 0, workers=2))
        print(results[-1].line(raw_rows_s), flush=True)
    return results


def report(args: argparse.Namespace, work: Path, records: dict[str, int], rounds: int,
           results: list[Result]) -> int:
    table = medians(results)
    print(f"\nmedians of {rounds} round(s) (records: " + ", ".join(f"{f} {n:,}" for f, n in records.items()) + "):")
    print_table(table)
    print("\nend to end: sinkapp and Java from process Popen to the N-th row visible (emulator timeline); raw "
          "aiokafka from consumer construction to the N-th record; steady: 10 %→90 % of N (- when less than "
          f"{MIN_STEADY_S:g} s apart: N too small); CPU: the consumer process's user+system / N; two workers: "
          "CPU and RSS summed; loads: committed loads into the table.")
    one = next((r for r in table if r["consumer"] == "sinkapp json" and r.get("ok")), None)
    many = next((r for r in table if r["consumer"] == f"sinkapp json --processes {args.processes}" and r.get("ok")),
                None)
    if one and many:
        steady = (f", steady {many['steady_rows_s'] / one['steady_rows_s']:.2f}×"
                  if one.get("steady_rows_s") and many.get("steady_rows_s") else "")
        print(f"--processes {args.processes} against one process (json, medians): rows/s "
              f"{many['rows_s'] / one['rows_s']:.2f}×{steady}, CPU µs/row {many['cpu_us_row']:.2f} against "
              f"{one['cpu_us_row']:.2f}")
    if args.json_out:
        bench_results.write_json(args.json_out, args, records=records, rounds=rounds,
                                 runs=[r.to_dict() for r in results], medians=table)
    title = (f"throughput: {', '.join(f'{f} {n:,}' for f, n in records.items())} rows, {args.partitions} "
             f"partitions, intervalms 1000, maxbytes {args.maxbytes:,}")
    png = plot.plot_bulk(results, args.png, title)
    if png:
        print(f"picture written to {png}")
    return bench_results.failures(results)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.raw_child:
        bootstrap, topic, group, n = args.raw_child
        raw_child(bootstrap, topic, group, int(n))
        return 0
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if not formats or any(f not in FORMATS for f in formats):
        raise SystemExit(f"--formats: choose from {', '.join(FORMATS)}")
    if args.java_plugin is not None:
        from sinkapp_testkit.connect.standalone import plugin_dir
        args.java_plugin = plugin_dir(args.java_plugin)        # fail now, not after producing
    rounds = args.rounds or (1 if args.quick else 3)
    records = parse_records(args.records, formats, args.quick)
    two_workers = args.two_workers and "json" in formats
    if "json" not in formats and (not args.no_raw or args.bare_faust or args.java_plugin):
        records["json"] = parse_records(args.records, ["json"], args.quick)["json"]   # baselines read json

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))    # clean up broker and emulators on kill
    return run_in_work_dir("sinkapp-bench-", args,
                           lambda work: run(args, work, formats, rounds, records, two_workers))


def run(args: argparse.Namespace, work: Path, formats: list[str], rounds: int, records: dict[str, int],
        two_workers: bool) -> int:
    print(f"work dir {work}", flush=True)
    with Services(work, registry="avro" in formats) as svc:
        topics = produce_all(svc, records, args.partitions)
        b = Bench(args, work, svc.kafka.bootstrap_servers, svc.emu, svc.registry.url if svc.registry else None,
                  topics, records)
        print(f"rounds={rounds} partitions={args.partitions} maxbytes={args.maxbytes} "
              f"flush.max.rows={args.flush_rows} intervalms=1000 formats={','.join(formats)}"
              + (f" java={args.java_plugin} tasks.max={args.java_tasks}" if args.java_plugin else "") + "\n",
              flush=True)
        results = run_rounds(b, formats, rounds, two_workers)
    return report(args, work, records, rounds, results)


if __name__ == "__main__":
    raise SystemExit(main())
