"""Command line: ``python -m sinkapp_testkit.kafka fetch|start|stop|status``.

Who calls what:

* ``python -m sinkapp_testkit.kafka`` (``__main__.py``), ``scripts/kafka`` and ``sinkapp kafka``
  (``sinkapp/cli/main.py``, through the package's re-exported :func:`main`) all end in :func:`main`,
  which returns the exit code.
* ``scripts/setup`` and ``.ci/run`` run ``fetch`` before pytest; ``.ci/run``'s EXIT trap runs
  ``stop --under "$PYTEST_TMP"`` to stop every broker a crashed pytest left below its tmp dir.
* Developers run ``start`` (detached: the broker outlives the command; ``--foreground`` stays
  attached until Ctrl-C), ``status`` (exit 1 when none runs) and ``stop``; the tests run the
  same commands in a subprocess.

Every :class:`~sinkapp.errors.InfraError` becomes ``error: ...`` on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from sinkapp.errors import InfraError

from .broker import LocalKafka
from .jars import fetch, kafka_home, kafka_version
from .process import BrokerState, iter_states, read_state


def _parse_user(text: str) -> tuple[str, str]:
    name, sep, password = text.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME:PASSWORD")
    return name, password


def _describe(state: BrokerState) -> str:
    lines = [f"Kafka {state.kafka_version} broker running",
             f"  bootstrap  {state.bootstrap_servers}"]
    if state.sasl_bootstrap_servers:
        lines.append(f"  sasl       {state.sasl_bootstrap_servers} (SASL_PLAINTEXT, PLAIN)")
    lines += [f"  pid        {state.pid}", f"  home       {state.home}", f"  log        {state.log}"]
    return "\n".join(lines)


def build_parser(prog: str = "python -m sinkapp_testkit.kafka") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fetch, start, stop a local single-node Apache Kafka broker (KRaft) on 127.0.0.1.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{fetch,start,stop,status}")
    home_help = "broker home (default: $SINKAPP_KAFKA_HOME or <repo>/.kafka)"
    p_fetch = sub.add_parser("fetch", help="download the broker jars with Maven (nothing is started)")
    p_fetch.add_argument("--force", action="store_true", help="download again even if present")
    p_start = sub.add_parser("start", help="start a broker in the background and print its address")
    p_start.add_argument("--home", type=Path, help=home_help)
    p_start.add_argument("--port", type=int, default=0, help="PLAINTEXT port (default: a free one)")
    p_start.add_argument("--sasl-port", type=int, default=None,
                         help="also open a SASL_PLAINTEXT/PLAIN listener (0 = a free port)")
    p_start.add_argument("--sasl-user", type=_parse_user, action="append", metavar="NAME:PASSWORD",
                         help="PLAIN user for the SASL listener (repeatable; default alice:alice-secret)")
    p_start.add_argument("--timeout", type=float, default=90, help="seconds to wait for the broker")
    p_start.add_argument("--foreground", action="store_true", help="stay attached until Ctrl-C, then stop")
    p_stop = sub.add_parser("stop", help="stop the running broker")
    p_stop.add_argument("--home", type=Path, help=home_help)
    p_stop.add_argument("--under", type=Path, metavar="DIR",
                        help="stop every broker whose home is below DIR (clean-up after test runs)")
    sub.add_parser("status", help="show the running broker").add_argument("--home", type=Path, help=home_help)
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m sinkapp_testkit.kafka") -> int:
    """CLI entry point (``python -m sinkapp_testkit.kafka``, ``scripts/kafka``, ``sinkapp kafka`` with
    ``prog="sinkapp kafka"``: the name its help shows). Returns the exit code."""
    args = build_parser(prog).parse_args(argv)
    try:
        if args.command == "fetch":
            started = time.monotonic()
            libs = fetch(force=args.force)
            jars = len(list(libs.glob("*.jar")))
            print(f"Kafka {kafka_version()} jars in {libs} ({jars} jars, {time.monotonic() - started:.1f}s)")
            return 0
        home = (args.home or kafka_home()).resolve()
        if args.command == "status":
            state = read_state(home)
            if state is None:
                print(f"no Kafka broker running from {home}")
                return 1
            print(_describe(state))
            return 0
        if args.command == "stop" and args.under is not None:
            for state in iter_states(args.under.resolve()):
                LocalKafka(Path(state.home)).stop()
                print(f"stopped Kafka broker pid {state.pid} ({state.bootstrap_servers}) in {state.home}")
            return 0
        if args.command == "stop":
            state = read_state(home)
            if state is None:
                print(f"no Kafka broker running from {home}")
                return 0
            LocalKafka(home).stop()
            print(f"stopped Kafka broker pid {state.pid} ({state.bootstrap_servers})")
            return 0
        return _start(args, home)
    except InfraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _start(args: argparse.Namespace, home: Path) -> int:
    users = dict(args.sasl_user) if args.sasl_user else None
    broker = LocalKafka(home, port=args.port, sasl_port=args.sasl_port, sasl_users=users)
    started = time.monotonic()
    broker.start(args.timeout, detach=not args.foreground)
    state = read_state(home)
    assert state is not None
    print(_describe(state) + f"\n  started in {time.monotonic() - started:.1f}s", flush=True)
    if not args.foreground:
        return 0
    print("running in the foreground; Ctrl-C stops it", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.is_set() and broker.pid is not None:
            stop.wait(0.5)
    finally:
        broker.stop()
    print("stopped")
    return 0
