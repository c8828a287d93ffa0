"""Command line of the conformance replay: print the table, exit 1 below ``--min-sink-pass``.

Exit codes: 0 the sink-relevant pass rate reaches the target (and ``--max-fail`` holds); 1 it does not;
2 the SQL-tester directory is missing or unreadable (the message says where it looked).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time

from ..errors import ConformanceError
from .locate import ENV, r_files, tests_dir
from .report import markdown, render, totals
from .rfile import parse_file
from .runner import FAIL, UNSUPPORTED, Outcome, file_label, run_case

DEFAULT_MIN_SINK_PASS = 90.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sinkapp_testkit.streamload.conformance",
                                description="Replay StarRocks' SQL-tester R files against the Stream Load emulator.")
    p.add_argument("--tests", metavar="DIR", help=f"a StarRocks checkout's test/sql (default: ${ENV}, else "
                   "the copy in tests/fixtures/starrocks-sql-tests)")
    p.add_argument("--min-sink-pass", type=float, default=DEFAULT_MIN_SINK_PASS, metavar="PCT",
                   help="fail (exit 1) when fewer sink-relevant cases pass (default %(default)s)")
    p.add_argument("--max-fail", type=int, default=None, metavar="N",
                   help="also fail when more than N cases (of any kind) fail outright")
    p.add_argument("--file", metavar="REGEX", help="only R files whose name matches")
    p.add_argument("--case", metavar="REGEX", help="only cases whose name matches")
    p.add_argument("--shell", action="store_true",
                   help="run shell: lines with bash and the real curl/jq instead of replaying them")
    p.add_argument("--markdown", action="store_true", help="also print the per-file counts as a Markdown table")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> list[Outcome]:
    root = tests_dir(args.tests)
    outcomes = []
    for path in r_files(root):
        if args.file and not re.search(args.file, path.name):
            continue
        try:
            cases = parse_file(path)
        except ConformanceError as exc:      # one file the reader cannot take does not stop the others
            outcomes.append(Outcome(file_label(path), "(the whole file)", UNSUPPORTED, f"harness: {exc}", False,
                                    "not read"))
            continue
        for case in cases:
            if args.case and not re.search(args.case, case.name):
                continue
            outcomes.append(run_case(case, real_shell=args.shell))
    return outcomes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("mysql_mimic").setLevel(logging.CRITICAL)   # every refused statement is logged there
    t0 = time.monotonic()
    try:
        outcomes = run(args)
    except ConformanceError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return 2
    print(render(outcomes, seconds=time.monotonic() - t0))
    if args.markdown:
        print()
        print(markdown(outcomes))
    sink = totals(outcomes, sink_only=True)
    failed = sum(o.status == FAIL for o in outcomes)
    ok = sink.rate >= args.min_sink_pass and (args.max_fail is None or failed <= args.max_fail)
    print(f"target: >= {args.min_sink_pass:g}% of sink-relevant cases pass"
          + (f", at most {args.max_fail} failing" if args.max_fail is not None else "")
          + (" -- met" if ok else " -- NOT met"))
    return 0 if ok else 1
