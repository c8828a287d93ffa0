"""``SHOW PROC '/transactions/<db>/running|finished'`` and ``SHOW BACKENDS`` (MYSQL.md §5), from the
statement's tokens (sqlglot keeps both as opaque commands).

The transactions of a database are those of its labels (:mod:`.labels`): Stream Loads, transactions of
the transaction interface and INSERT / UPDATE statements. ``running`` lists PREPARE, PREPARED and
COMMITTED (not yet visible) ones, ``finished`` VISIBLE and ABORTED ones, newest last; every value is text,
as in StarRocks' proc results (SQL NULL where StarRocks shows none). ``SHOW BACKENDS`` has one row per BE
of the emulator, its HTTP port where StarRocks has the BE's webserver port.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlglot.tokens import Token, TokenType

from .labels import ABORTED, COMMITTED, PREPARE, PREPARED, VISIBLE, Txn
from .sqlnames import ERR_PARSE, SqlError, unsupported

if TYPE_CHECKING:
    from .sqlcatalog import SqlCatalog

TXN_COLUMNS = ["TransactionId", "Label", "Coordinator", "TransactionStatus", "LoadJobSourceType", "PrepareTime",
               "PreparedTime", "CommitTime", "PublishTime", "FinishTime", "Reason", "ErrorReplicasCount",
               "ListenerId", "TimeoutMs", "PreparedTimeoutMs", "ErrMsg"]
BACKEND_COLUMNS = ["BackendId", "IP", "HeartbeatPort", "BePort", "HttpPort", "BrpcPort", "LastStartTime",
                   "LastHeartbeat", "Alive", "SystemDecommissioned", "ClusterDecommissioned", "TabletNum",
                   "ErrMsg", "Version", "Status"]
RUNNING = (PREPARE, PREPARED, COMMITTED)
FINISHED = (VISIBLE, ABORTED)
_SOURCE = {"stream": "BACKEND_STREAMING", "txn": "BACKEND_STREAMING", "insert": "INSERT_STREAMING"}
Result = tuple[list[tuple[Any, ...]], list[str]]
Backends = Callable[[], list[tuple[str, int, bool]]]     # (host, HTTP port, alive) per BE


def _ts(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _row(t: Txn) -> tuple[Any, ...]:
    coordinator = "FE: 127.0.0.1" if t.kind == "insert" else "BE: 127.0.0.1"
    return (str(t.txn_id), t.label, coordinator, t.state, _SOURCE.get(t.kind, "BACKEND_STREAMING"),
            _ts(t.times.get(PREPARE)), _ts(t.times.get(PREPARED)), _ts(t.times.get(COMMITTED)),
            _ts(t.times.get(VISIBLE)), _ts(t.times.get(VISIBLE) or t.times.get(ABORTED)), t.reason or None,
            "0", "-1", str(int(t.timeout_s * 1000)), str(int(t.prepared_timeout_s * 1000)), None)


def transactions(cat: SqlCatalog, path: str) -> Result:
    parts = [p for p in path.split("/") if p]
    if len(parts) != 3 or parts[0] != "transactions" or parts[2] not in ("running", "finished"):
        raise unsupported(f"SHOW PROC '{path}' (only '/transactions/<db>/running|finished' is)")
    db = cat.check_db(parts[1])
    states = RUNNING if parts[2] == "running" else FINISHED
    c = cat.cluster
    with c.lock:
        txns = [c.labels.get(db, t.label) for t in c.labels.all() if t.db == db]
        rows = [_row(t) for t in sorted((t for t in txns if t is not None), key=lambda t: t.txn_id)
                if t.state in states]
    return rows, TXN_COLUMNS


def backends(cat: SqlCatalog) -> Result:
    rows = [(str(10001 + i), host, "9050", "9060", str(port), "8060", None, None, str(alive).lower(), "false",
             "false", "0", "", "emulator", "{}") for i, (host, port, alive) in enumerate(cat.backends())]
    return rows, BACKEND_COLUMNS


def show(cat: SqlCatalog, sql: str, tokens: list[Token]) -> Result | None:
    """SHOW PROC / SHOW BACKENDS, or None for another SHOW."""
    words = [t.text.upper() for t in tokens[:2]]
    if words == ["SHOW", "BACKENDS"] and len(tokens) == 2:
        return backends(cat)
    if words == ["SHOW", "PROC"]:
        if len(tokens) != 3 or tokens[2].token_type != TokenType.STRING:
            raise SqlError(ERR_PARSE, f"Getting syntax error. Detail message: SHOW PROC '<path>' expected: {sql}.")
        return transactions(cat, tokens[2].text)
    return None
