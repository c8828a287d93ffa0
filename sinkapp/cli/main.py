"""``sinkapp`` command line: worker, check, and the local services (kafka, emulator, registry).

Who calls: the ``sinkapp`` console script. Configuration errors print one line naming the
key and exit with status 2; nothing here prints a secret.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from sinkapp.errors import ConfigError, SinkError

USAGE = """sinkapp <command> [options]

commands:
  worker     run a sink worker (same as: faust -A sinkapp.worker.app worker)
  check      validate a connector config and print the routes it defines
  demo       run the product walkthrough locally (Kafka, registry, Stream Load emulator)
  offsets    show or reset a config's committed offsets and ledger (reprocessing, --reload)
  kafka      fetch/start/stop/status of the local Apache Kafka broker (tests, demo, benchmarks)
  emulator   run the StarRocks Stream Load emulator
  registry   run the Schema Registry emulator
"""


def _worker(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="sinkapp worker", description="Run a sink worker.")
    p.add_argument("--config", "-c", help="connector JSON file (or set SINKAPP_CONFIG)")
    p.add_argument("--web-port", type=int, default=None, help="status web port (default 6066; sinkapp.web.port)")
    p.add_argument("--web-bind", default=None, help="status web address (default 127.0.0.1; sinkapp.web.bind)")
    p.add_argument("--loglevel", "-l", default="info")
    p.add_argument("--without-web", action="store_true")
    p.add_argument("--datadir", help="Faust data directory (one per worker process on a host)")
    args, rest = p.parse_known_args(argv)
    if args.config:
        os.environ["SINKAPP_CONFIG"] = os.path.abspath(args.config)
    if args.web_port is not None:
        os.environ["SINKAPP_SINKAPP_WEB_PORT"] = str(args.web_port)
    if args.web_bind is not None:
        os.environ["SINKAPP_SINKAPP_WEB_BIND"] = args.web_bind
    from sinkapp.worker import app as app_module

    app = app_module.app
    faust_argv = ["sinkapp"] + (["--datadir", args.datadir] if args.datadir else []) + [
        "worker", "-l", args.loglevel]
    if args.web_port is not None:
        faust_argv += ["--web-port", str(args.web_port)]
    if args.web_bind is not None:
        faust_argv += ["--web-bind", args.web_bind]
    if args.without_web:
        faust_argv += ["--without-web"]
    sys.argv = faust_argv + rest
    app.main()
    return 0


def _check(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="sinkapp check", description="Validate a connector config.")
    p.add_argument("--config", "-c", required=True)
    p.add_argument("--connect", action="store_true",
                   help="also connect: Kafka, topics, Schema Registry, each FE, StarRocks credentials, each table")
    args = p.parse_args(argv)
    from sinkapp.config import load_settings
    from sinkapp.config.routes import build_routes

    s = load_settings(args.config)
    from sinkapp.transforms import build_chain
    from sinkapp.worker.startup import routes_with_transforms

    chain = build_chain(s.transforms)                # an SMT sinkapp cannot honour fails here
    if chain is not None:
        print("transforms: " + ", ".join(f"{spec.name} ({spec.type})" for spec, _ in chain.steps))
    print(f"config OK: {len(s.http_urls)} FE(s), database {s.database}, user {s.username}, "
          f"format {s.body_format}, group {s.kafka.group_id if s.kafka else '?'}")
    if s.topics_regex:
        print(f"topics.regex {s.topics_regex!r}: routes are resolved against the broker at start")
    if not args.connect:
        for r in routes_with_transforms(s, build_routes(s), chain):
            print(f"route {r.topic} -> {r.database}.{r.table} ({r.value_converter.class_name})")
        return 0
    import asyncio

    from sinkapp.observe import redact
    from sinkapp.worker.checks import run_checks

    redact.register_settings(s)
    checks = asyncio.run(run_checks(s, adjust=lambda routes: routes_with_transforms(s, routes, chain)))
    for c in checks:
        print(c.line())
    return 0 if all(c.ok for c in checks) else 1


def _delegate(module: str) -> Callable[[list[str]], int]:
    def run(argv: list[str]) -> int:
        import importlib

        mod = importlib.import_module(module)
        return int(mod.main(argv) or 0)
    return run


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "worker": _worker,
    "check": _check,
    "demo": _delegate("sinkapp_testkit.demo"),
    "offsets": _delegate("sinkapp.cli.offsets"),
    "kafka": _delegate("sinkapp_testkit.kafka"),
    "emulator": _delegate("sinkapp_testkit.streamload.cli"),
    "registry": _delegate("sinkapp_testkit.registry"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    cmd, rest = argv[0], argv[1:]
    fn = COMMANDS.get(cmd)
    if fn is None:
        print(f"sinkapp: unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    try:
        return fn(rest)
    except ConfigError as exc:
        print(f"sinkapp: configuration error: {exc}", file=sys.stderr)
        return 2
    except SinkError as exc:
        print(f"sinkapp: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
