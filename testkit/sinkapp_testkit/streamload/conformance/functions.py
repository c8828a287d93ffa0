"""The tester functions the R files call (``function: name(args)``), answered from the emulator over SQL
as StarRocks' tester answers them from a cluster:

* ``wait_db_transaction_finish(db, timeout_s)``: polls ``SHOW PROC '/transactions/<db>/running'`` until
  it has no rows (None), else fails after ``timeout_s``;
* ``get_transaction_meta(db, label, sep, *columns)``: the transaction of ``label`` in ``SHOW PROC
  '/transactions/<db>/finished'`` (or ``running``), the named columns joined by ``sep``.

The tester's own implementation of ``get_transaction_meta`` was not in the stored copy of its library;
this one is written from the R file's use of it.
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Callable
from typing import Any

from .sqlcall import Session

POLL_S = 0.05


class FunctionFailed(Exception):
    """The function's assertion failed (the tester would fail the case here)."""


def call(text: str, session: Session) -> Any:
    m = re.fullmatch(r"\s*([A-Za-z_]\w*)\((.*)\)\s*;?\s*", text, re.S)
    if m is None or m.group(1) not in FUNCTIONS:
        raise NotImplementedError(f"tester function {text.split('(')[0].strip()!r}")
    args = ast.literal_eval(f"({m.group(2)},)") if m.group(2).strip() else ()
    return FUNCTIONS[m.group(1)](session, *args)


def _proc(session: Session, db: str, which: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    return session.rows(f"SHOW PROC '/transactions/{db}/{which}'")


def wait_db_transaction_finish(session: Session, db: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + float(timeout_s)
    while True:
        _names, rows = _proc(session, db, "running")
        if not rows:
            return None
        if time.monotonic() > deadline:
            raise FunctionFailed(f"{len(rows)} transactions of {db} still running after {timeout_s} s")
        time.sleep(POLL_S)


def get_transaction_meta(session: Session, db: str, label: str, sep: str, *columns: str) -> str:
    for which in ("finished", "running"):
        names, rows = _proc(session, db, which)
        for row in rows:
            record = dict(zip(names, row, strict=True))
            if record.get("Label") == label:
                return sep.join(str(record.get(c)) for c in columns)
    raise FunctionFailed(f"no transaction labelled {label} in {db}")


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "wait_db_transaction_finish": wait_db_transaction_finish,
    "get_transaction_meta": get_transaction_meta,
}
