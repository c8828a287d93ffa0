"""``python -m sinkapp_testkit.streamload`` — run the emulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from sinkapp.errors import SinkError

from .emulator import StreamLoadEmulator
from .sqlcatalog import SCHEMA_CHANGE_S
from .versions import COMPACTION_PER_S, MESSAGE_STYLES, TABLET_MAX_VERSIONS


def build_parser(prog: str = "python -m sinkapp_testkit.streamload") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog,
                                description="Local StarRocks Stream Load emulator (FE + BE on one host).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--fe-port", type=int, default=8030, help="first FE port, 0 = free port (default 8030)")
    p.add_argument("--be-port", type=int, default=8040, help="first BE port, 0 = free port (default 8040)")
    p.add_argument("--admin-port", type=int, default=0, help="admin API port (default: a free port)")
    p.add_argument("--fes", type=int, default=1, help="number of FEs (consecutive ports)")
    p.add_argument("--bes", type=int, default=1, help="number of BEs (consecutive ports)")
    p.add_argument("--user", default="root", help="the StarRocks user loads must authenticate as (default root)")
    p.add_argument("--password", default="", help="that user's password (default: empty)")
    p.add_argument("--database", default="test", help="database the --ddl tables go into (default test)")
    p.add_argument("--ddl", action="append", default=[], metavar="FILE", help="CREATE TABLE file (repeatable)")
    p.add_argument("--no-store", action="store_true", help="benchmark mode: validate and count, keep no rows")
    p.add_argument("--count-only", action="store_true",
                   help="benchmark mode: count rows without parsing them (no validation; implies --no-store)")
    p.add_argument("--max-versions", type=int, default=TABLET_MAX_VERSIONS, metavar="N",
                   help="versions per table above which a load fails 'too many versions' (StarRocks "
                        f"tablet_max_versions, default {TABLET_MAX_VERSIONS})")
    p.add_argument("--compaction-per-s", type=float, default=COMPACTION_PER_S, metavar="X",
                   help=f"versions compaction removes per second and table, 0 = none (default {COMPACTION_PER_S:g})")
    p.add_argument("--mysql-port", type=int, default=None, metavar="PORT",
                   help="serve DDL and queries over the MySQL protocol (the FE's 9030) on PORT, 0 = a free "
                        "port (default: off); see testkit/sinkapp_testkit/streamload/MYSQL.md")
    p.add_argument("--schema-change-s", type=float, default=SCHEMA_CHANGE_S, metavar="X",
                   help="seconds an ADD COLUMN job takes on a table without fast_schema_evolution "
                        f"(default {SCHEMA_CHANGE_S:g})")
    p.add_argument("--versions-style", choices=sorted(MESSAGE_STYLES), default="current",
                   help="text of the 'too many versions' message: current BEs, 2.5, or 'too many tablet versions'")
    return p


async def _serve(args: argparse.Namespace) -> None:
    emu = StreamLoadEmulator(user=args.user, password=args.password, databases=[args.database],
                             ddl={args.database: args.ddl} if args.ddl else None, n_fe=args.fes,
                             n_be=args.bes, host=args.host, fe_ports=args.fe_port, be_ports=args.be_port,
                             admin_port=args.admin_port, store_rows=not (args.no_store or args.count_only),
                             count_only=args.count_only, max_versions=args.max_versions,
                             compaction_per_s=args.compaction_per_s, versions_style=args.versions_style,
                             mysql_port=args.mysql_port, schema_change_s=args.schema_change_s)
    await emu.start()
    print(emu.fe_url, flush=True)
    print(f"FE {' '.join(emu.fe_urls)}  BE {' '.join(emu.be_urls)}  admin {emu.admin_url}  "
          f"database {args.database}{'  count-only' if args.count_only else ''}"
          f"{f'  mysql {emu.jdbc_url}' if emu.jdbc_url else ''}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emu.stop()


def main(argv: list[str] | None = None, prog: str = "python -m sinkapp_testkit.streamload") -> int:
    """Entry point (``python -m sinkapp_testkit.streamload``, ``sinkapp emulator`` with ``prog``: the
    command's name in its help); returns the exit code."""
    args = build_parser(prog).parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except SinkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
