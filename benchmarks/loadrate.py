"""Steady-rate benchmark: how many Stream Loads per second a table receives, and how big they are.

    .venv/bin/python benchmarks/loadrate.py                          # 12 partitions, 3,000 rows/s, 40 s
    .venv/bin/python benchmarks/loadrate.py --java-plugin path/to/starrocks-kafka-connector
    .venv/bin/python benchmarks/loadrate.py --duration 20 --warmup 5 --scenarios sinkapp --json-out r.json

Every load adds a data version to each tablet it touches, and StarRocks refuses writes past
``tablet_max_versions``: loads per second into a table is what an operator compares. Starts the
local broker and the Stream Load emulator (count-only), then runs each scenario in turn (and
``--rounds`` times, interleaved): fresh topic(s) of ``--partitions`` partitions, an empty
test.test123, a producer sending ``--rate`` JSON Datagen orders per second round-robin over every
partition, the consumer started with it. Once the consumer has caught up (rows visible within
``rate × (intervalms + 1 s)`` of the rows produced: its start-up backlog is loaded), ``--warmup``
seconds pass, then the window of ``--duration`` seconds is measured; the producer stops, every
produced row must become visible (the count must match exactly) and the consumer stops.

Scenarios (``--scenarios``, default all; the Java ones only with ``--java-plugin``):

- sinkapp: one worker, config/connector-json.json, bufferflush.intervalms=``--intervalms``;
- java: the Java starrocks-kafka-connector in Kafka Connect standalone (tasks.max=``--java-tasks``),
  same keys, topic, endpoint and flush settings (testkit/sinkapp_testkit/connect/ fetches the runtime);
- sinkapp-2w: two sinkapp workers in one consumer group;
- sinkapp-2t / java-2t: two topics (each ``--partitions`` partitions, half the rate) mapped to the
  one table by starrocks.topic2table.map;
- sinkapp-2w-4t / sinkapp-2w-4t-spread: two workers, four topics of 3 partitions (whatever
  ``--partitions``) at 800 rows/s each (whatever ``--rate``), each into its own table (test123_0 ..
  test123_3), with ``sinkapp.assignment=affine`` (each table's partitions on one worker) and
  ``spread`` (Kafka's round robin: each table on both workers);
- sinkapp-p2-4t: the same four topics and tables under one ``sinkapp worker --processes 2`` (two
  child workers in the group, affine).

Printed per consumer, from the emulator's per-load records of test.test123 answered inside the
window: loads per second, rows per load (mean, min, max), loads and rows, CPU µs per row of the
consumer's processes over the window (/proc) and peak RSS (VmHWM). Where a scenario loads several
tables, each table's loads per second is printed, and the table of medians shows the busiest table's. A PNG shows rows visible over
time and every load's size for each consumer (``--png``, path printed at the end).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sinkapp_testkit.workdir import add_work_options, run_in_work_dir  # noqa: E402

from benchmarks.bench import plot, steady_report  # noqa: E402
from benchmarks.bench import results as bench_results  # noqa: E402
from benchmarks.bench.harness import Services  # noqa: E402
from benchmarks.bench.steady import SCENARIOS, SteadyResult, run_scenario  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join((__doc__ or "").split("\n\n")[1:]))
    ap.add_argument("--partitions", type=int, default=12, help="partitions per topic (default 12)")
    ap.add_argument("--rate", type=float, default=3000, help="rows produced per second in all (default 3000)")
    ap.add_argument("--duration", type=float, default=40, help="measured window, seconds (default 40)")
    ap.add_argument("--warmup", type=float, default=10, help="seconds from catching up with the producer to the "
                                                             "window (default 10)")
    ap.add_argument("--intervalms", type=int, default=1000, help="bufferflush.intervalms (default 1000)")
    ap.add_argument("--maxbytes", type=int, default=64 * 1024 * 1024, help="bufferflush.maxbytes (default 64 MiB)")
    ap.add_argument("--flush-rows", type=int, default=10_000_000, help="sinkapp.flush.max.rows (default 10000000)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help=f"comma list of {', '.join(SCENARIOS)} (default all; java ones need --java-plugin)")
    ap.add_argument("--java-plugin", type=Path, metavar="DIR",
                    help="Kafka Connect plugin directory of the Java starrocks-kafka-connector")
    ap.add_argument("--java-tasks", type=int, default=1, help="tasks.max of the Java connector (default 1)")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds, medians printed (default 1)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra sinkapp worker setting (repeatable)")
    ap.add_argument("--start-timeout", type=float, default=180, help="seconds from the start to catching up "
                                                                               "with the producer (180)")
    ap.add_argument("--drain-timeout", type=float, default=120,
                    help="seconds for the last rows after the producer stops (120)")
    ap.add_argument("--json-out", type=Path, metavar="FILE", help="write every run and the medians as JSON")
    ap.add_argument("--png", type=Path, metavar="FILE", default=Path("loadrate.png"),
                    help="picture path (default: loadrate.png in the current directory)")
    add_work_options(ap)
    return ap


def choose(args: argparse.Namespace) -> list[str]:
    keys = [k.strip() for k in args.scenarios.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SCENARIOS]
    if unknown or not keys:
        raise SystemExit(f"--scenarios: choose from {', '.join(SCENARIOS)}")
    if args.java_plugin is None:
        skipped = [k for k in keys if SCENARIOS[k].kind == "java"]
        if skipped and args.scenarios != build_parser().get_default("scenarios"):
            raise SystemExit(f"--scenarios {','.join(skipped)} need --java-plugin DIR")
        keys = [k for k in keys if SCENARIOS[k].kind != "java"]
    return keys


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keys = choose(args)
    if args.java_plugin is not None:
        from sinkapp_testkit.connect.standalone import plugin_dir
        args.java_plugin = plugin_dir(args.java_plugin)        # fail now, not after the broker started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))    # clean up broker and emulator on kill
    return run_in_work_dir("sinkapp-loadrate-", args, lambda work: run(args, keys, work))


def run(args: argparse.Namespace, keys: list[str], work: Path) -> int:
    print(f"work dir {work}\npartitions={args.partitions} rate={args.rate:g} rows/s duration={args.duration:g} s "
          f"warmup={args.warmup:g} s intervalms={args.intervalms} maxbytes={args.maxbytes} "
          f"scenarios={','.join(keys)} rounds={args.rounds}\n", flush=True)
    results: list[SteadyResult] = []
    with Services(work) as svc:
        for rnd in range(1, args.rounds + 1):
            for key in keys:
                results.append(run_scenario(args, svc, SCENARIOS[key], rnd))
                print(steady_report.line(results[-1]), flush=True)
    table = steady_report.medians(results)
    print(f"\nmedians of {args.rounds} round(s), loads into test.test123 (several tables: loads/s of the busiest) "
          f"answered in the {args.duration:g} s window:")
    steady_report.print_table(table)
    runs = [r.to_dict() for r in results]
    if args.json_out:
        bench_results.write_json(args.json_out, args, runs=runs, medians=table)
    title = (f"loadrate: {args.partitions} partitions, {args.rate:,.0f} rows/s, intervalms {args.intervalms}, "
             f"{args.duration:g} s window")
    png = plot.plot_steady(runs, args.png, title)
    if png:
        print(f"picture written to {png}")
    return bench_results.failures(results)


if __name__ == "__main__":
    raise SystemExit(main())
