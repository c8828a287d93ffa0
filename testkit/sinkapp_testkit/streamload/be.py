"""The BE ``PUT /api/{db}/{table}/_stream_load`` handler and ``/api/_load_error_log`` (docs/streamload-protocol.md §1.5, §3, §6.4).

Headers are validated before anything is read; ``100 Continue`` is sent only once the load has
begun, so a client that honours ``Expect: 100-continue`` never sends the body of a rejected load
(§1.4, §9 item 2). Every logical outcome is HTTP 200 with the §3.1 JSON body.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.http import HttpVersion11

from .cluster import Cluster, ExecResult, LoadRecord, ms_since, parse_basic_auth, stream_load_reply
from .errors import LoadFailure
from .faults import Fault
from .labels import LabelExists, Txn
from .params import parse_params
from .plan import Plan

OFFLOAD_BYTES = 1 << 20             # bodies above this are parsed in a worker thread
TEXT = "text/plain; charset=utf-8"   # StarRocks sets no Content-Type (§3); clients must not rely on it


async def send_continue(request: web.BaseRequest) -> None:
    """Interim ``100 Continue`` after header validation (aiohttp's automatic one is disabled)."""
    if request.version >= HttpVersion11 and request.headers.get("Expect", "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0


async def no_expect(request: web.Request) -> None:
    """expect_handler that sends nothing: the handler decides (FE never, BE after validation)."""
    return None


def reply(text: str, *, close: bool, status: int = 200, content_type: str = TEXT) -> web.Response:
    resp = web.Response(status=status, text=text, content_type=content_type.split(";")[0],
                        charset="utf-8" if "charset" in content_type else None)
    if close:
        resp.force_close()
    return resp


@dataclass
class _Load:
    db: str
    table: str
    label: str
    t0: float = field(default_factory=time.monotonic)
    txn: Txn | None = None
    res: ExecResult | None = None
    load_bytes: int = 0
    body_read: bool = False
    times: dict[str, int] = field(default_factory=dict)
    error_url: str | None = None


class BeStreamLoad:
    def __init__(self, cluster: Cluster, index: int, base_url: str) -> None:
        self.cluster, self.index, self.base_url = cluster, index, base_url
        self.name = f"be{index}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        c = self.cluster
        db, table = request.match_info["db"], request.match_info["table"]
        ld = _Load(db, table, request.headers.get("label") or c.labels.new_label())
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        fault = c.faults.take(("http_error",), db, table, ld.label)
        if fault is not None:
            self._record(ld, headers, f"HTTP {fault.params['http_status']}", fault.params["body"])
            return reply(fault.params["body"], close=True, status=fault.params["http_status"])
        status, existing, message = "Success", None, "OK"
        try:
            # Shielded: a client that gives up (hang fault, reset) does not cancel the commit.
            task = asyncio.ensure_future(self._run(request, ld))
            status, existing, message = await asyncio.shield(task)
        except LoadFailure as exc:
            status, message = exc.status, exc.message
            if ld.txn is not None:
                with c.lock:
                    c.labels.abort(ld.txn, message)
        except _Reset:
            self._record(ld, headers, "RESET", "connection reset by emulator fault")
            return reply("", close=True)   # the transport is gone; aiohttp drops this quietly
        ld.times["LoadTimeMs"] = ms_since(ld.t0)
        text = stream_load_reply(txn_id=ld.txn.txn_id if ld.txn and existing is None else -1,
                                 label=ld.label, status=status, message=message,
                                 res=None if existing else ld.res, load_bytes=ld.load_bytes,
                                 times_ms=ld.times, existing=existing, error_url=ld.error_url)
        self._record(ld, headers, status, message)
        return reply(text, close=not ld.body_read)

    def _record(self, ld: _Load, headers: dict[str, str], status: str, message: str) -> None:
        res = ld.res or ExecResult()
        self.cluster.record(LoadRecord(
            ld.label, ld.db, ld.table, status, message, headers, res.loaded if status in (
                "Success", "Publish Timeout") else 0, res.filtered, res.unselected, ld.load_bytes,
            time.time(), ms_since(ld.t0), ld.txn.txn_id if ld.txn else -1, self.name))

    async def _run(self, request: web.Request, ld: _Load) -> tuple[str, str | None, str]:
        c, h = self.cluster, request.headers
        auth = parse_basic_auth(h.get("Authorization"))
        if auth is None:
            raise LoadFailure("no valid Basic authorization")
        fault = c.faults.take(("fail_header",), ld.db, ld.table, ld.label)
        if fault is not None:       # §1.5 steps 2/5: concurrency limit, shutting down, ...
            raise LoadFailure(fault.params["message"])
        params = parse_params(h, json_max_bytes=c.json_max_bytes, max_body_bytes=c.max_body_bytes,
                              content_length=request.content_length)
        # §1.5 step 6: begin txn on the FE — auth, db/table existence, label
        t_begin = time.monotonic()
        c.check_password(auth, request.remote or "127.0.0.1")
        schema = c.schema(ld.db, ld.table)
        with c.lock:
            try:
                ld.txn = c.labels.begin(ld.db, ld.table, ld.label, kind="stream", be_index=self.index,
                                        timeout_s=params.timeout_s)
            except LabelExists as exc:
                return "Label Already Exists", exc.txn.existing_status, str(exc)
            ld.txn.busy = True
        ld.times["BeginTxnTimeMs"] = ms_since(t_begin)
        t_plan = time.monotonic()
        plan = Plan(schema, params)
        ld.times["StreamLoadPlanTimeMs"] = ms_since(t_plan)
        running = c.faults.take(("label_running",), ld.db, ld.table, ld.label)
        await send_continue(request)
        t_read = time.monotonic()
        if c.faults.take(("reset",), ld.db, ld.table, ld.label) is not None:
            await request.content.readany()
            with c.lock:
                c.labels.abort(ld.txn, "connection reset")
            if request.transport is not None:
                request.transport.abort()
            raise _Reset()
        body = await request.content.read()
        ld.body_read, ld.load_bytes = True, len(body)
        ld.times["ReadDataTimeMs"] = ms_since(t_read)
        with c.lock:    # §8a: the tablet writers open before any row: "too many versions" (rolled back)
            c.versions.check(ld.db, ld.table)
        t_write = time.monotonic()
        if len(body) > OFFLOAD_BYTES:   # keep the loop (get_load_state, other loads) responsive
            ld.res = res = await asyncio.get_running_loop().run_in_executor(None, c.execute, plan, params, body)
        else:
            ld.res = res = c.execute(plan, params, body)
        ld.times["WriteDataTimeMs"] = ms_since(t_write)
        if running is not None:
            return self._label_running(ld, plan, running)
        if res.filtered:
            ld.error_url = c.save_error_log(self.base_url, res.error_lines)
        if c.too_many_filtered(res, params.max_filter_ratio):
            raise LoadFailure("too many filtered rows")          # [BE-EXEC], do not reword
        if res.loaded == 0 and c.empty_load_as_error:
            raise LoadFailure("all partitions have no load data")  # FE empty_load_as_error (§6.3)
        return await self._commit(ld, plan)

    async def _commit(self, ld: _Load, plan: Plan) -> tuple[str, str | None, str]:
        c, txn, res = self.cluster, ld.txn, ld.res
        assert txn is not None and res is not None
        hang = c.faults.take(("hang",), ld.db, ld.table, ld.label)
        if hang is not None:
            await asyncio.sleep(hang.params["seconds"])
            if hang.params["then"] == "abort":
                raise LoadFailure("timeout by txn manager")
        t_commit = time.monotonic()
        fail = c.faults.take(("fail_commit",), ld.db, ld.table, ld.label)
        if fail is not None:
            if fail.params["committed"]:
                c.commit(txn, res.ops, plan, counted=res.counted)
            raise LoadFailure(fail.params["message"])
        pt = c.faults.take(("publish_timeout",), ld.db, ld.table, ld.label)
        c.commit(txn, res.ops, plan, publish_delay_s=pt.params["visible_after_s"] if pt else 0.0,
                 counted=res.counted)
        txn.busy = False
        ld.times["CommitAndPublishTimeMs"] = ms_since(t_commit)
        if pt is not None:  # §3.2: committed, visible later; message from [FE-SVC]
            return ("Publish Timeout", None, f"Publish timeout. The data will be visible after a while, "
                    f"txn_id: {txn.txn_id}")
        return "Success", None, "OK"

    def _label_running(self, ld: _Load, plan: Plan, fault: Fault) -> tuple[str, str | None, str]:
        """Keep the data in a PREPARED txn for ``seconds`` and answer as if it was an earlier attempt."""
        c, txn, res = self.cluster, ld.txn, ld.res
        assert txn is not None and res is not None
        with c.lock:
            c.labels.prepare(txn)
        ops, counted = list(res.ops), res.counted
        too_many = c.too_many_filtered(res, plan.params.max_filter_ratio)

        def finish() -> None:
            with c.lock:
                if fault.params["then"] == "commit" and not too_many:
                    c.commit(txn, ops, plan, counted=counted)
                else:
                    c.labels.abort(txn, "aborted by emulator label_running fault")
                txn.busy = False
        asyncio.get_running_loop().call_later(fault.params["seconds"], finish)
        res.ops, res.counted = [], 0
        return "Label Already Exists", "RUNNING", f"Label [{ld.label}] has already been used."


class _Reset(Exception):
    """The reset fault closed the connection; nothing can be answered."""


async def error_log(cluster: Cluster, request: web.Request) -> web.Response:
    """``GET/HEAD /api/_load_error_log?file=`` — plain text, one ``Error: ... Row: ...`` line per row (§6.4)."""
    with cluster.lock:
        text = cluster.error_logs.get(request.query.get("file", ""))
    if text is None:
        return web.Response(status=404, text="error log not found\n")
    return web.Response(text=text, content_type="text/plain", charset="utf-8")
