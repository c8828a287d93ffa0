"""Per-database label registry and transactions (docs/streamload-protocol.md §4, §5.1 state machine).

States: PREPARE → PREPARED → COMMITTED → VISIBLE; PREPARE/PREPARED → ABORTED. Only non-ABORTED
transactions block a label [FE-DTM]; finished labels are forgotten after ``label_keep_max_s``
(default 3 days, §4). Timeouts are checked lazily on access (the real FE sweeps every 30 s, §5.3).
Callers hold the emulator lock.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .errors import LoadFailure

PREPARE, PREPARED, COMMITTED, VISIBLE, ABORTED = "PREPARE", "PREPARED", "COMMITTED", "VISIBLE", "ABORTED"
LABEL_RE = re.compile(r"[-\w]{1,128}", re.ASCII)   # ^[-\w]{1,128}$ [FE-LABEL], Java \w is ASCII
LABEL_KEEP_MAX_S = 259200.0
PREPARED_TIMEOUT_S = 86400.0                       # prepared_transaction_default_timeout_second


@dataclass(eq=False)
class Txn:
    txn_id: int
    db: str
    table: str
    label: str
    kind: str                          # "stream" (one-shot _stream_load) | "txn" (§5 interface) | "insert" (SQL)
    be_index: int
    timeout_s: float
    idle_timeout_s: float = -1.0
    prepared_timeout_s: float = PREPARED_TIMEOUT_S   # a PREPARED transaction aborts after this
    state: str = PREPARE
    reason: str = ""                   # why it was aborted
    created_s: float = field(default_factory=time.monotonic)
    last_active_s: float = field(default_factory=time.monotonic)
    finished_s: float | None = None
    prepared_s: float | None = None    # monotonic time it became PREPARED
    times: dict[str, float] = field(default_factory=dict)   # state -> time.time() it was entered (SHOW PROC)
    visible_at_s: float | None = None  # COMMITTED becomes VISIBLE at this time (publish delay)
    plan: Any = None                   # txn interface: Plan of the last load call (for commit)
    ops: list[tuple[int, tuple[Any, ...]]] = field(default_factory=list)
    counted: int = 0                   # count-only mode: loaded rows known by number only (no ops)
    total: int = 0
    filtered: int = 0
    unselected: int = 0
    load_bytes: int = 0
    loads: int = 0
    error_lines: list[str] = field(default_factory=list)
    error_url: str | None = None
    busy: bool = False
    be_open: bool = True               # the BE still holds its load context (txn interface, see txn.py)

    @property
    def existing_status(self) -> str:
        """ExistingJobStatus of a Label Already Exists reply (§3.2)."""
        return "FINISHED" if self.state in (COMMITTED, VISIBLE) else "RUNNING"


class LabelExists(Exception):
    def __init__(self, txn: Txn) -> None:
        super().__init__(f"Label [{txn.label}] has already been used.")
        self.txn = txn


class LabelRegistry:
    def __init__(self, label_keep_max_s: float = LABEL_KEEP_MAX_S) -> None:
        self.keep_s = label_keep_max_s
        self._dbs: dict[str, dict[str, Txn]] = {}
        self._next_id = 1000

    @staticmethod
    def check_label(label: str) -> None:
        if not LABEL_RE.fullmatch(label):
            raise LoadFailure(f"Label format error. regex: ^[-\\w]{{1,128}}$, label: {label}",
                              code="INVALID_ARGUMENT")

    @staticmethod
    def new_label() -> str:
        return str(uuid.uuid4())

    def refresh(self, txn: Txn) -> Txn:
        now = time.monotonic()
        if txn.state == COMMITTED and txn.visible_at_s is not None and now >= txn.visible_at_s:
            txn.state = VISIBLE
            txn.times[VISIBLE] = time.time()
        elif txn.state in (PREPARE, PREPARED) and not txn.busy:
            if txn.state == PREPARED and txn.prepared_s is not None \
                    and now - txn.prepared_s > txn.prepared_timeout_s:
                self.abort(txn, "timeout by txn manager")      # test_prepared_timeout: prepared_timeout
            elif txn.state == PREPARE and now - txn.created_s > txn.timeout_s:
                self.abort(txn, "timeout by txn manager" if txn.kind == "stream" else
                           f"transaction is aborted by timeout {txn.timeout_s:g} seconds.")
            elif txn.idle_timeout_s > 0 and now - txn.last_active_s > txn.idle_timeout_s:
                self.abort(txn, f"transaction is aborted by idle timeout {txn.idle_timeout_s:g} seconds.")
        return txn

    def get(self, db: str, label: str) -> Txn | None:
        txn = self._dbs.get(db, {}).get(label)
        if txn is None:
            return None
        self.refresh(txn)
        if txn.finished_s is not None and txn.state in (VISIBLE, ABORTED) \
                and time.monotonic() - txn.finished_s > self.keep_s:
            del self._dbs[db][label]
            return None
        return txn

    def state(self, db: str, label: str) -> str:
        txn = self.get(db, label)
        return "UNKNOWN" if txn is None else txn.state

    def begin(self, db: str, table: str, label: str, *, kind: str, be_index: int, timeout_s: float,
              idle_timeout_s: float = -1.0) -> Txn:
        """Start a txn under ``label``; raises LabelExists unless the label is free or ABORTED (§4)."""
        self.check_label(label)
        old = self.get(db, label)
        if old is not None and old.state != ABORTED:
            raise LabelExists(old)
        self._next_id += 1
        txn = Txn(self._next_id, db, table, label, kind, be_index, timeout_s, idle_timeout_s)
        txn.times[PREPARE] = time.time()
        self._dbs.setdefault(db, {})[label] = txn
        return txn

    @staticmethod
    def prepare(txn: Txn, prepared_timeout_s: float | None = None) -> None:
        """PREPARE → PREPARED; it aborts by itself ``prepared_timeout_s`` later unless committed."""
        txn.state, txn.prepared_s = PREPARED, time.monotonic()
        txn.times[PREPARED] = time.time()
        if prepared_timeout_s is not None:
            txn.prepared_timeout_s = prepared_timeout_s

    def abort(self, txn: Txn, reason: str) -> None:
        if txn.state in (PREPARE, PREPARED):
            txn.state, txn.reason, txn.finished_s = ABORTED, reason, time.monotonic()
            txn.times[ABORTED] = time.time()
            txn.ops, txn.counted = [], 0

    def mark_committed(self, txn: Txn, publish_delay_s: float = 0.0) -> None:
        now = time.monotonic()
        txn.finished_s = now
        txn.times[COMMITTED] = time.time()
        if publish_delay_s > 0:
            txn.state, txn.visible_at_s = COMMITTED, now + publish_delay_s
        else:
            txn.state = VISIBLE
            txn.times[VISIBLE] = txn.times[COMMITTED]
        txn.ops, txn.counted = [], 0

    def all(self) -> list[Txn]:
        return [t for d in self._dbs.values() for t in d.values()]

    def clear(self) -> None:
        self._dbs.clear()
