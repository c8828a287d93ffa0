"""``sinkapp`` command line: worker, check, offsets, and the local services (demo, kafka, emulator, registry).

Who calls: the ``sinkapp`` console script. Configuration errors print one line naming the key
and exit with status 2, as do refusals and arguments that name nothing; nothing here prints a
secret. ``demo``, ``kafka``, ``emulator`` and ``registry`` live in the ``sinkapp-testkit``
distribution (testkit/ in the repository); without it they say how to install it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from sinkapp import __version__
from sinkapp.errors import ConfigError, NotInstalled, ResetRefused, SinkError, UsageError

USAGE = """usage: sinkapp <command> [options]     (sinkapp <command> --help: its options)

commands:
  worker     run a sink worker (same as: faust -A sinkapp.worker.app worker; --processes N: N of them)
  check      validate a connector config and print the routes it defines
  offsets    show or reset a config's committed offsets and ledger (reprocessing, --reload)
  demo       run the product walkthrough locally (Kafka, registry, Stream Load emulator)
  kafka      fetch/start/stop/status of the local Apache Kafka broker (tests, demo, benchmarks)
  emulator   run the StarRocks Stream Load emulator
  registry   run the Schema Registry emulator

options:
  --version  print sinkapp's version
"""

#: commands that live in the sinkapp-testkit distribution: command → its module
TESTKIT_COMMANDS = {"demo": "sinkapp_testkit.demo", "kafka": "sinkapp_testkit.kafka",
                    "emulator": "sinkapp_testkit.streamload.cli", "registry": "sinkapp_testkit.registry"}
TESTKIT_INSTALL = ("Install it from a clone of the sinkapp repository: pip install -e ./testkit (scripts/setup "
                   "installs it with the dev tools; it is not on PyPI)")
CONFIG_HELP = "connector JSON file (default: $SINKAPP_CONFIG)"


def worker_parser(prog: str = "sinkapp worker") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Run a sink worker. Options it does not know go to "
                                "Faust's worker command.")
    p.add_argument("--config", "-c", help=CONFIG_HELP)
    p.add_argument("--web-port", type=int, default=None, help="status web port (default 6066; sinkapp.web.port)")
    p.add_argument("--web-bind", default=None, help="status web address (default 127.0.0.1; sinkapp.web.bind)")
    p.add_argument("--loglevel", "-l", default="info", help="log level: debug, info, warning, error (default info)")
    p.add_argument("--without-web", action="store_true", help="no status web server (no /status, /health, /metrics)")
    p.add_argument("--datadir", help="Faust data directory (one per worker process on a host; with --processes N, "
                   "each process uses DATADIR/p0 .. DATADIR/pN-1)")
    p.add_argument("--processes", default="1", metavar="N",
                   help="worker processes in one consumer group under this parent, which serves the one web port, "
                        "restarts a process that dies and forwards SIGTERM/SIGINT; auto: one per core "
                        "(default 1: the worker runs in this process)")
    p.add_argument("--start-barrier", metavar="NAME@HOST:PORT", help=argparse.SUPPRESS)   # from the --processes parent
    return p


def _worker(argv: list[str], prog: str) -> int:
    args, rest = worker_parser(prog).parse_known_args(argv)
    from sinkapp.supervise import processes_count, run_processes

    n = processes_count(args.processes)
    if n > 1:
        return run_processes(args.config or os.environ.get("SINKAPP_CONFIG"), n, datadir=args.datadir,
                             loglevel=args.loglevel, web_port=args.web_port, web_bind=args.web_bind,
                             without_web=args.without_web, extra=rest)
    if args.config:
        os.environ["SINKAPP_CONFIG"] = os.path.abspath(args.config)
    if args.web_port is not None:
        os.environ["SINKAPP_SINKAPP_WEB_PORT"] = str(args.web_port)
    if args.web_bind is not None:
        os.environ["SINKAPP_SINKAPP_WEB_BIND"] = args.web_bind
    from sinkapp.worker import app as app_module

    app = app_module.app
    if args.start_barrier:
        from sinkapp.faustio.startgate import StartGate

        name, _, address = args.start_barrier.rpartition("@")
        app.start_gate = StartGate(address, name or "p?")
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


def check_parser(prog: str = "sinkapp check") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Validate a connector config and print its routes.")
    p.add_argument("--config", "-c", help=CONFIG_HELP)
    p.add_argument("--connect", action="store_true",
                   help="also connect: Kafka, topics, Schema Registry, each FE, StarRocks credentials, each table")
    return p


def _check(argv: list[str], prog: str) -> int:
    args = check_parser(prog).parse_args(argv)
    from sinkapp.config import load_settings
    from sinkapp.config.routes import build_routes

    s = load_settings(args.config or os.environ.get("SINKAPP_CONFIG"))
    from sinkapp.observe import redact
    from sinkapp.transforms import build_chain
    from sinkapp.worker.checks import first_rows_note
    from sinkapp.worker.startup import routes_with_transforms
    from sinkapp.worker.tableformats import header_lines

    chain = build_chain(s.transforms)                # an SMT sinkapp cannot honour fails here
    redact.register_settings(s)
    routes = routes_with_transforms(s, build_routes(s), chain)      # a target without a database fails here
    tables = header_lines(s, routes, chain)          # two routes into one table with other headers fail here
    if chain is not None:
        print("transforms: " + ", ".join(f"{spec.name} ({spec.type})" for spec, _ in chain.steps))
    print(f"config OK: {len(s.http_urls)} FE(s), database {s.database or '(none: every target names its own)'}, "
          f"user {s.username}, "
          f"format {s.body_format}, group {s.kafka.group_id if s.kafka else '?'}")
    note = first_rows_note(s)
    if note:
        print(f"warning: {note}")
    if s.topics_regex:
        every = s.kafka.metadata_max_age_ms if s.kafka else 300000
        print(f"topics.regex {s.topics_regex!r}: routes are resolved against the broker at start, and topics "
              f"created later are followed (every metadata.max.age.ms={every})")
    for line in [f"route {r.topic} -> {r.database}.{r.table} ({r.value_converter.class_name})"
                 for r in routes if not args.connect] + tables:
        print(line)
    if not args.connect:
        return 0
    import asyncio

    from sinkapp.worker.checks import run_checks

    checks = asyncio.run(run_checks(s, adjust=lambda routes: routes_with_transforms(s, routes, chain)))
    for c in checks:
        print(c.line())
    return 0 if all(c.ok for c in checks) else 1


def _offsets(argv: list[str], prog: str) -> int:
    from sinkapp.cli.offsets import main as offsets_main

    return offsets_main(argv, prog=prog)


def _testkit(cmd: str) -> Callable[[list[str], str], int]:
    """A command of the testkit: its module's ``main(argv, prog=...)``, or how to install it."""
    def run(argv: list[str], prog: str) -> int:
        import importlib

        try:
            mod = importlib.import_module(TESTKIT_COMMANDS[cmd])
        except ModuleNotFoundError as exc:
            if exc.name is None or exc.name.split(".")[0] != "sinkapp_testkit":
                raise NotInstalled(f"{exc.name}, a dependency of the sinkapp-testkit distribution this command "
                                   f"needs, is not installed. {TESTKIT_INSTALL}") from None
            raise NotInstalled("this command needs the sinkapp-testkit distribution (the local Kafka broker, the "
                               f"Stream Load and Schema Registry emulators), which is not installed. "
                               f"{TESTKIT_INSTALL}") from None
        return int(mod.main(argv, prog=prog) or 0)
    return run


COMMANDS: dict[str, Callable[[list[str], str], int]] = {
    "worker": _worker,
    "check": _check,
    "offsets": _offsets,
    **{cmd: _testkit(cmd) for cmd in TESTKIT_COMMANDS},
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if argv[0] in ("--version", "-V", "version"):
        print(f"sinkapp {__version__}")
        return 0
    cmd, rest = argv[0], argv[1:]
    fn = COMMANDS.get(cmd)
    if fn is None:
        print(f"sinkapp: unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    prog = f"sinkapp {cmd}"
    try:
        return fn(rest, prog)
    except ConfigError as exc:
        print(f"sinkapp: configuration error: {exc}", file=sys.stderr)
        return 2
    except ResetRefused as exc:
        print(f"{prog} reset: refused: {exc}", file=sys.stderr)
        return 2
    except (UsageError, NotInstalled) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except SinkError as exc:
        print(f"sinkapp: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
