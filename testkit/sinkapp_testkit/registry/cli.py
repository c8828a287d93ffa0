"""Command line for the emulator: ``python -m sinkapp_testkit.registry`` / ``sinkapp registry``.

Runs a :class:`~sinkapp_testkit.registry.server.RegistryEmulator` until SIGINT/SIGTERM and prints
``Schema Registry emulator listening on <url>`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from .server import RegistryEmulator


def build_parser(prog: str = "python -m sinkapp_testkit.registry") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a Confluent-compatible Schema Registry emulator (in memory).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="TCP port, 0 = any free port (default: 8081)")
    parser.add_argument(
        "--user-info", metavar="KEY:SECRET", help="require HTTP Basic auth with these credentials"
    )
    return parser


async def serve(host: str, port: int, user_info: str | None) -> None:
    """Run until SIGINT/SIGTERM (or cancellation)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with RegistryEmulator(host, port, user_info=user_info) as emulator:
        print(f"Schema Registry emulator listening on {emulator.url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None, prog: str = "python -m sinkapp_testkit.registry") -> int:
    """Entry point; returns the process exit code. ``prog``: the command's name in its help."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.user_info is not None and ":" not in args.user_info:
        parser.error("--user-info must be KEY:SECRET")
    try:
        asyncio.run(serve(args.host, args.port, args.user_info))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"cannot start the registry emulator: {exc}")
        return 1
    return 0
