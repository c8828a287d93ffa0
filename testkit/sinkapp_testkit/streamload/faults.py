"""Fault injection for the emulator (programmatic; also driven over ``POST /_emulator/faults``).

Every ``*_next`` fault arms the next ``n`` matching ``_stream_load`` requests; ``table`` scopes it to
``"tbl"`` or ``"db.tbl"``. Faults are consumed in the order the BE meets them (docs/streamload-protocol.md §1.5):

* ``fail_next``            — the next request (FE or BE, whichever sees it first) gets a bare HTTP error.
* ``fail_message_next``    — ``Status: Fail`` with ``message``; ``stage="header"`` before the body (txn
  never begins), ``stage="commit"`` after the body (``committed=True`` commits the data anyway: the
  "Transaction status unknown" case, a retry then sees Label Already Exists FINISHED).
* ``shutting_down_next``   — ``Service is shutting down, please retry later!`` (§7.2, [BE-SL]).
* ``concurrency_limit_next`` — the BE's HTTP concurrency limit (§7.2, load pressure): ``Stream Load
  exceed http cuncurrent limit <limit>, please try again later`` ("cuncurrent" sic). [BE-SL]
  ``stream_load.cpp`` formats it with ``config::be_http_num_workers - 1`` (``be_http_num_workers``
  defaults to 48 in ``be/src/common/config.h``), hence ``limit=47``. Header stage: no txn, label free.
* ``txn_num_per_be_next``  — the FE's per-BE transaction cap (§7.2, load pressure), raised in
  ``FrontendServiceImpl.loadTxnBeginImpl`` (``fe/fe-core/src/main/java/com/starrocks/service/
  FrontendServiceImpl.java``, StarRocks/starrocks) when ``stream_load_max_txn_num_per_be`` (FE config,
  default -1 = off; added in v3.3/3.4/3.5 patch releases per the FE config docs) is >= 0 and the BE
  coordinates that many transactions: ``"streamload txn num per be exceeds limit, be: " + clientIp +
  ", txn_num: " + txnNumBe + ", limit: " + limit`` (``be`` is the coordinating BE's address;
  ``txn_num`` defaults to ``limit`` since the check is ``>=``; ``limit=100`` is an arbitrary default).
  Begin fails (the FE returns the text as the begin error), so the txn never begins (``TxnId`` -1)
  and the label stays free.
* ``reset_next``           — the BE reads part of the body and closes the connection; txn aborted.
* ``hang_next``            — the BE holds the txn RUNNING for ``seconds`` after reading the body, then
  commits (``then="commit"``) or aborts (``then="abort"``, reply ``timeout by txn manager``).
* ``publish_timeout_next`` — data committed, ``Status: Publish Timeout``; label COMMITTED, then VISIBLE
  after ``visible_after_s`` (§3.2).
* ``label_running``        — the request's data goes into a txn that stays PREPARED for ``seconds``
  while the reply is ``Label Already Exists`` + ``RUNNING``; then VISIBLE (``then="commit"``) or ABORTED.
* ``be_down/be_up/fe_down/fe_up`` — the node's port refuses connections / listens again.

Thread-safe: methods may be called from any thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SHUTTING_DOWN = "Service is shutting down, please retry later!"
CONCURRENCY_LIMIT = "Stream Load exceed http cuncurrent limit {limit}, please try again later"
COMMIT_UNKNOWN = ("Commit transaction fail cause {cause}, Transaction status unknown, "
                  "you can retry with same label.")
TXN_TIMEOUT = "timeout by txn manager"
TXN_NUM_PER_BE = "streamload txn num per be exceeds limit, be: {be}, txn_num: {txn_num}, limit: {limit}"


@dataclass
class Fault:
    kind: str
    remaining: int
    table: str | None = None
    label: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, db: str, table: str, label: str | None) -> bool:
        if self.table is not None and self.table not in (table, f"{db}.{table}"):
            return False
        return self.label is None or self.label == label


class Faults:
    def __init__(self, node_control: Callable[[str, int, bool], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []
        self._node_control = node_control

    # ------------------------------------------------------------------ arming

    def _arm(self, kind: str, n: int, table: str | None, label: str | None = None, **params: Any) -> None:
        if n < 1:
            raise ValueError("n must be >= 1")
        with self._lock:
            self._armed.append(Fault(kind, n, table, label, params))

    def fail_next(self, n: int = 1, http_status: int = 500, *, table: str | None = None,
                  body: str = "emulator: injected failure") -> None:
        self._arm("http_error", n, table, http_status=http_status, body=body)

    def fail_message_next(self, n: int = 1, message: str = SHUTTING_DOWN, *, stage: str = "header",
                          committed: bool = False, table: str | None = None) -> None:
        if stage not in ("header", "commit"):
            raise ValueError("stage must be 'header' or 'commit'")
        self._arm("fail_header" if stage == "header" else "fail_commit", n, table,
                  message=message, committed=committed)

    def shutting_down_next(self, n: int = 1, *, table: str | None = None) -> None:
        self.fail_message_next(n, SHUTTING_DOWN, table=table)

    def concurrency_limit_next(self, n: int = 1, limit: int = 47, *, table: str | None = None) -> None:
        self.fail_message_next(n, CONCURRENCY_LIMIT.format(limit=limit), table=table)

    def txn_num_per_be_next(self, n: int = 1, limit: int = 100, *, txn_num: int | None = None,
                            be: str = "127.0.0.1", table: str | None = None) -> None:
        self.fail_message_next(n, TXN_NUM_PER_BE.format(be=be, limit=limit,
                                                        txn_num=limit if txn_num is None else txn_num),
                               table=table)

    def commit_unknown_next(self, n: int = 1, *, committed: bool = False,
                            cause: str = "rpc timeout", table: str | None = None) -> None:
        self.fail_message_next(n, COMMIT_UNKNOWN.format(cause=cause), stage="commit",
                               committed=committed, table=table)

    def txn_timeout_next(self, n: int = 1, *, table: str | None = None) -> None:
        self.fail_message_next(n, TXN_TIMEOUT, stage="commit", table=table)

    def reset_next(self, n: int = 1, *, table: str | None = None) -> None:
        self._arm("reset", n, table)

    def hang_next(self, n: int = 1, seconds: float = 5.0, then: str = "commit", *,
                  table: str | None = None) -> None:
        if then not in ("commit", "abort"):
            raise ValueError("then must be 'commit' or 'abort'")
        self._arm("hang", n, table, seconds=seconds, then=then)

    def publish_timeout_next(self, n: int = 1, *, visible_after_s: float = 1.0,
                             table: str | None = None) -> None:
        self._arm("publish_timeout", n, table, visible_after_s=visible_after_s)

    def label_running(self, label: str | None = None, seconds: float = 2.0, *, then: str = "commit",
                      table: str | None = None) -> None:
        if then not in ("commit", "abort"):
            raise ValueError("then must be 'commit' or 'abort'")
        self._arm("label_running", 1, table, label, seconds=seconds, then=then)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"kind": f.kind, "remaining": f.remaining, "table": f.table, "label": f.label,
                     **f.params} for f in self._armed]

    # ------------------------------------------------------------------ nodes

    def _node(self, role: str, i: int, up: bool) -> None:
        if self._node_control is None:
            raise RuntimeError("the emulator is not running")
        self._node_control(role, i, up)

    def be_down(self, i: int = 0) -> None:
        self._node("be", i, False)

    def be_up(self, i: int = 0) -> None:
        self._node("be", i, True)

    def fe_down(self, i: int = 0) -> None:
        self._node("fe", i, False)

    def fe_up(self, i: int = 0) -> None:
        self._node("fe", i, True)

    # ------------------------------------------------------------------ consuming (server side)

    def take(self, kinds: tuple[str, ...], db: str, table: str, label: str | None = None) -> Fault | None:
        """Consume one use of the first armed fault of one of ``kinds`` matching the request."""
        with self._lock:
            for f in self._armed:
                if f.kind in kinds and f.matches(db, table, label):
                    f.remaining -= 1
                    if f.remaining <= 0:
                        self._armed.remove(f)
                    return f
        return None
