"""Transaction Stream Load interface ``/api/transaction/{begin,load,prepare,commit,rollback}`` (docs/streamload-protocol.md §5).

BE side (:class:`BeTxn`) answers with code-name ``Status`` values (§5.2) and the §5.3 errors. FE side
(:class:`FeTxn`) redirects ``begin`` to a BE round-robin, remembers label → BE and sticky-routes the
other ops; it answers commit/rollback itself for PREPARED/COMMITTED/VISIBLE/ABORTED transactions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .be import TEXT, reply, send_continue
from .cluster import Cluster, ExecResult, LoadRecord, ms_since, parse_basic_auth, pretty
from .errors import LoadFailure
from .labels import ABORTED, COMMITTED, PREPARE, PREPARED, VISIBLE, LabelExists, Txn
from .params import MAX_TIMEOUT_S, parse_params
from .plan import Plan

MULTI_ON_BE = "Multi-statement transaction requests can only be sent to FE nodes, not BE nodes"
MULTI_ON_FE = ("emulator: multi-statement and multi-table transactions (transaction_type: multi, "
               "source_type: 12) are not supported")


def _resp(status: str, message: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"Status": status}
    if "ExistingJobStatus" in fields:
        body["ExistingJobStatus"] = fields.pop("ExistingJobStatus")
    body["Message"] = message
    body.update(fields)
    return body


def _counters(txn: Txn, t0: float) -> dict[str, Any]:
    return {"Label": txn.label, "TxnId": txn.txn_id, "NumberTotalRows": txn.total,
            "NumberLoadedRows": txn.total - txn.filtered - txn.unselected,
            "NumberFilteredRows": txn.filtered, "NumberUnselectedRows": txn.unselected,
            "LoadBytes": txn.load_bytes, "LoadTimeMs": ms_since(t0), "StreamLoadPlanTimeMs": 0,
            "ReceivedDataTimeMs": 0, "WriteDataTimeMs": 0, "CommitAndPublishTimeMs": 0,
            **({"ErrorURL": txn.error_url} if txn.error_url else {})}


class BeTxn:
    def __init__(self, cluster: Cluster, index: int, base_url: str) -> None:
        self.cluster, self.index, self.base_url = cluster, index, base_url

    async def handle(self, request: web.Request) -> web.Response:
        op, h, c, t0 = request.match_info["op"], request.headers, self.cluster, time.monotonic()
        label, db = h.get("label", ""), h.get("db", "")
        body_read = op != "load"
        try:
            if h.get("transaction_type", "").strip().lower() == "multi":
                raise LoadFailure(MULTI_ON_BE, code="INVALID_ARGUMENT")
            if not label:
                raise LoadFailure("Invalid label " if op == "load" else "empty label", code="INVALID_ARGUMENT")
            auth = parse_basic_auth(h.get("Authorization"))
            if auth is None:
                raise LoadFailure("no valid Basic authorization", code="INVALID_ARGUMENT")
            c.check_password(auth, request.remote or "127.0.0.1")
            if op == "begin":
                out = self._begin(h, label, db)
            elif op == "load":
                out = await self._load(request, label, db)
                body_read = True
            elif op in ("prepare", "commit", "rollback"):
                out = self._finish(op, h, label, db, t0)
            else:
                raise LoadFailure(f"unknown transaction operation {op}", code="INVALID_ARGUMENT")
        except LoadFailure as exc:
            out = _resp(exc.code, exc.message, **({"Label": label} if exc.code == "TXN_IN_PROCESSING" else {}))
        with c.lock:
            txn = c.labels.get(db, label) if label else None
        c.record(LoadRecord(label, db, h.get("table", txn.table if txn else ""), out["Status"], out["Message"],
                            {k: v for k, v in h.items() if k.lower() != "authorization"},
                            out.get("NumberLoadedRows", 0), out.get("NumberFilteredRows", 0),
                            out.get("NumberUnselectedRows", 0), out.get("LoadBytes", 0), time.time(),
                            ms_since(t0), txn.txn_id if txn else -1, f"be{self.index}", f"txn-{op}"))
        return reply(pretty(out), close=not body_read)

    def _txn(self, label: str, db: str, *, load: bool = False) -> Txn:
        with self.cluster.lock:
            txn = self.cluster.labels.get(db, label)
        # a BE drops a transaction's load context after a failed load, a rollback, a prepare or a commit:
        # a later load finds none (R files test_stream_load_basic_txn, test_stream_load_exception_handling);
        # a transaction the FE aborted (timeout) keeps it, and a load there answers ABORTED
        if txn is None or txn.kind != "txn" or (load and not txn.be_open):
            word = "Transaction" if load else "transaction"
            raise LoadFailure(f"{word} with label {label} not exists", code="TXN_NOT_EXISTS")
        if txn.busy:
            raise LoadFailure("Transaction in processing, please retry later", code="TXN_IN_PROCESSING")
        return txn

    def _begin(self, h: Any, label: str, db: str) -> dict[str, Any]:
        c, table = self.cluster, h.get("table", "")
        if not db:
            raise LoadFailure("No database selected.", code="INVALID_ARGUMENT")
        c.schema(db, table)
        timeout = _int_header(h, "timeout", 600, "Invalid timeout format")
        if not 1 <= timeout <= MAX_TIMEOUT_S:
            raise LoadFailure(f"Invalid timeout: {timeout}. Timeout should between 1 and {MAX_TIMEOUT_S} seconds",
                              code="INVALID_ARGUMENT")
        idle = _int_header(h, "idle_transaction_timeout", -1, "Invalid idle_transaction_timeout format")
        with c.lock:
            old = c.labels.get(db, label)
            if old is not None and old.kind == "txn" and old.state == PREPARE and old.be_index == self.index:
                return _resp("LABEL_ALREADY_EXISTS", "")           # §5.3: context still open on this BE
            try:
                txn = c.labels.begin(db, table, label, kind="txn", be_index=self.index, timeout_s=timeout,
                                     idle_timeout_s=idle)
            except LabelExists as exc:
                return _resp("LABEL_ALREADY_EXISTS", str(exc), ExistingJobStatus=exc.txn.existing_status)
        return _resp("OK", "", Label=label, TxnId=txn.txn_id, BeginTxnTimeMs=0)

    async def _load(self, request: web.Request, label: str, db: str) -> dict[str, Any]:
        c, h = self.cluster, request.headers
        txn = self._txn(label, db, load=True)
        _check_db_table(txn, db, h.get("table"))
        if txn.state == ABORTED:
            raise LoadFailure("current transaction is aborted", code="ABORTED")
        txn.busy = True
        try:
            params = parse_params(h, json_max_bytes=c.json_max_bytes, max_body_bytes=c.max_body_bytes,
                                  content_length=request.content_length)
            plan = Plan(c.schema(db, txn.table), params)
            await send_continue(request)
            t_read = time.monotonic()
            body = await request.content.read()
            received_ms = ms_since(t_read)
            if txn.load_bytes + len(body) > c.max_body_bytes:
                raise LoadFailure(f"body exceed max size: {c.max_body_bytes}, label: {label}")
            if txn.loads == 0:
                self._open_writers(txn)
            res = c.execute(plan, params, body, ExecResult(ops=txn.ops))
        except LoadFailure as exc:        # a failed load aborts the transaction (exception_handling R file)
            txn.busy = txn.be_open = False
            with c.lock:
                c.labels.abort(txn, exc.message)
            raise
        finally:
            txn.busy = False
        with c.lock:
            txn.total += res.total
            txn.filtered += res.filtered
            txn.unselected += res.unselected
            txn.counted += res.counted
            txn.error_lines.extend(res.error_lines)
            txn.load_bytes += len(body)
            txn.loads += 1
            txn.plan = plan
            txn.last_active_s = time.monotonic()
        return _resp("OK", "", Label=label, TxnId=txn.txn_id, LoadBytes=len(body), StreamLoadPlanTimeMs=0,
                     ReceivedDataTimeMs=received_ms)

    def _open_writers(self, txn: Txn) -> None:
        """§8a: the first load of a transaction opens its tablet writers; "too many versions" there
        fails the load and rolls the transaction back (§5.1), so its label can be begun again."""
        c = self.cluster
        with c.lock:
            try:
                c.versions.check(txn.db, txn.table)
            except LoadFailure as exc:
                c.labels.abort(txn, exc.message)
                raise

    def _finish(self, op: str, h: Any, label: str, db: str, t0: float) -> dict[str, Any]:
        c = self.cluster
        txn = self._txn(label, db)
        if db and db != txn.db:
            _check_db_table(txn, db, None)
        if op == "rollback":
            if txn.state in (COMMITTED, VISIBLE):
                raise LoadFailure(f"cannot abort committed transaction {txn.txn_id}")
            with c.lock:
                c.labels.abort(txn, "rollback by user")
                txn.be_open = False
            return _resp("OK", "", Label=label)
        if txn.state == ABORTED:
            raise LoadFailure("current transaction is aborted", code="ABORTED")
        if txn.state in (COMMITTED, VISIBLE):
            return _resp("OK", f"label {label} transaction {txn.txn_id} has already committed", Label=label)
        prepared_timeout = None
        if "prepared_timeout" in h:
            v = h["prepared_timeout"]
            if not v.strip().isdigit() or int(v) <= 0:
                raise LoadFailure(f"Invalid prepared_timeout: {v}", code="INVALID_ARGUMENT")
            prepared_timeout = float(int(v))
        if txn.state == PREPARE:
            self._prepare(txn, prepared_timeout)
        if op == "commit":
            c.commit(txn, txn.ops, txn.plan, counted=txn.counted)
        return _resp("OK", "", **_counters(txn, t0))

    def _prepare(self, txn: Txn, prepared_timeout_s: float | None) -> None:
        c = self.cluster
        if txn.loads == 0:
            raise LoadFailure(f"transaction with label {txn.label} hasn't send any data yet")
        if txn.error_lines and txn.error_url is None:
            txn.error_url = c.save_error_log(self.base_url, txn.error_lines)
        res = ExecResult(total=txn.total, filtered=txn.filtered, unselected=txn.unselected)
        if c.too_many_filtered(res, txn.plan.params.max_filter_ratio):
            with c.lock:
                c.labels.abort(txn, "too many filtered rows")
            raise LoadFailure("too many filtered rows")
        with c.lock:
            c.labels.prepare(txn, prepared_timeout_s)
            txn.be_open = False


def _int_header(h: Any, name: str, default: int, message: str) -> int:
    if name not in h:
        return default
    try:
        return int(h[name])
    except ValueError:
        raise LoadFailure(message, code="INVALID_ARGUMENT") from None


def _check_db_table(txn: Txn, db: str, table: str | None) -> None:
    if db != txn.db:
        raise LoadFailure(f"Request database {db} not equal transaction database {txn.db}",
                          code="INVALID_ARGUMENT")
    if table and table != txn.table:
        raise LoadFailure(f"Request table {table} not equal transaction table {txn.table}",
                          code="INVALID_ARGUMENT")


class FeTxn:
    """FE ``/api/transaction/{op}`` (§5.1 routing) — label → BE map is per FE and lost on fe_down."""

    def __init__(self, cluster: Cluster, pick_be: Callable[[], int | None], be_url: Callable[[int], str]) -> None:
        self.cluster, self.pick_be, self.be_url = cluster, pick_be, be_url
        self.routes: dict[str, int] = {}

    def handle(self, request: web.Request) -> web.Response:
        op, h, c = request.match_info["op"], request.headers, self.cluster
        label, db = h.get("label", ""), h.get("db", "")
        if not label:
            return _fe_result("FAILED", "empty label.")
        if not db:
            return _fe_result("FAILED", "No database selected.")
        if h.get("transaction_type", "").strip().lower() == "multi" or h.get("source_type", "").strip() == "12":
            c.record(LoadRecord(label, db, h.get("table", ""), "FAILED", MULTI_ON_FE,
                                {k: v for k, v in h.items() if k.lower() != "authorization"}, 0, 0, 0, 0,
                                time.time(), 0, -1, "fe", f"txn-{op}"))
            return _fe_result("FAILED", MULTI_ON_FE)
        if op in ("commit", "rollback"):
            with c.lock:
                txn = c.labels.get(db, label)
                if txn is not None and txn.kind == "txn":
                    answer = self._fe_finish(op, txn)
                    if answer is not None:
                        return answer
        if op == "begin":
            be = self.pick_be()
            if be is None:
                return _fe_result("FAILED", "class com.starrocks.common.DdlException: No backend alive.")
            self.routes[label] = be
        else:
            found = self.routes.get(label)
            if found is None:
                return _fe_result("FAILED", f"class com.starrocks.common.UserException: transaction with op "
                                            f"{op} label {label} has no node")
            be = found
        resp = web.Response(status=307, headers={"Location": self.be_url(be) + request.path_qs})
        resp.force_close()
        return resp

    def _fe_finish(self, op: str, txn: Txn) -> web.Response | None:
        c = self.cluster
        if txn.state == PREPARED:
            if op == "commit":
                c.commit(txn, txn.ops, txn.plan, counted=txn.counted)
            else:
                c.labels.abort(txn, "rollback by user")
            return _fe_result("OK", "", Label=txn.label)
        if txn.state in (COMMITTED, VISIBLE):
            if op == "commit":
                return _fe_result("OK", f"label {txn.label} transaction {txn.txn_id} has already committed",
                                  Label=txn.label)
            return _fe_result("FAILED", f"cannot abort committed transaction {txn.txn_id}", Label=txn.label)
        if txn.state == ABORTED and op == "commit":
            return _fe_result("FAILED", f"cannot commit aborted transaction {txn.txn_id}", Label=txn.label)
        return None


def _fe_result(status: str, message: str, **extra: Any) -> web.Response:
    """FE ``TransactionResult`` (§3.4): Gson pretty map, ``Connection: close``."""
    return reply(pretty({"Status": status, "Message": message, **extra}), close=True,
                 content_type="text/html")


__all__ = ["BeTxn", "FeTxn", "TEXT"]
