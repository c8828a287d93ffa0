"""Stream Load emulator, fault injection: every fault, programmatic and over the admin HTTP API."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sinkapp_testkit.streamload import (
    COMMIT_UNKNOWN,
    SHUTTING_DOWN,
    EmulatorThread,
    StreamLoadEmulator,
)
from sinkapp_testkit.streamload.probe import basic, stream_load

DDL = "CREATE TABLE kv (k INT NOT NULL, v STRING) PRIMARY KEY (k); CREATE TABLE other (k INT);"
CSV = {"format": "csv", "column_separator": ","}


@pytest.fixture
async def emu() -> AsyncIterator[StreamLoadEmulator]:
    async with StreamLoadEmulator(ddl={"test": DDL}, n_be=2) as e:
        yield e


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def load(session, emu, label: str, body: str = "1,a\n", table: str = "kv", **kw) -> dict:
    r = await stream_load(session, emu.fe_url, "test", table, body, {**CSV, "label": label}, **kw)
    assert r.status == 200, (r.status, r.text)
    return r.json


async def state(session, emu, label: str) -> str:
    async with session.get(f"{emu.fe_url}/api/test/get_load_state?label={label}",
                           headers={"Authorization": basic("root", "")}) as resp:
        return json.loads(await resp.text())["state"]


async def until(pred, what: str, timeout_s: float = 5.0) -> None:
    """Poll the async predicate until it is true (a timed fault ends on the emulator's clock)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await pred():
        assert loop.time() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        await asyncio.sleep(0.02)


async def test_fail_next_http_500_then_success(emu, session):
    emu.faults.fail_next(2, http_status=500)
    for _ in range(2):
        r = await stream_load(session, emu.fe_url, "test", "kv", "1,a\n", {**CSV, "label": "h5"})
        assert r.status == 500
    assert (await load(session, emu, "h5"))["Status"] == "Success"
    emu.faults.fail_next(1, http_status=503)
    r = await stream_load(session, emu.be_urls[0], "test", "kv", "2,b\n", {**CSV, "label": "h6"})
    assert r.status == 503 and emu.loads()[-1].status == "HTTP 503"


async def test_fail_messages_infra_and_commit_unknown(emu, session):
    emu.faults.shutting_down_next()
    emu.faults.concurrency_limit_next(limit=8)
    r1, r2 = await load(session, emu, "m1"), await load(session, emu, "m1")
    assert (r1["Status"], r1["Message"]) == ("Fail", SHUTTING_DOWN)
    assert r2["Message"] == "Stream Load exceed http cuncurrent limit 8, please try again later"
    assert await state(session, emu, "m1") == "UNKNOWN"
    assert (await load(session, emu, "m1"))["Status"] == "Success"
    # commit outcome unknown, but the data was committed: a same-label retry says FINISHED
    emu.faults.commit_unknown_next(committed=True, cause="rpc error")
    r = await load(session, emu, "m2", "2,b\n")
    assert r["Message"] == COMMIT_UNKNOWN.format(cause="rpc error") and r["Status"] == "Fail"
    again = await load(session, emu, "m2", "2,b\n")
    assert (again["Status"], again["ExistingJobStatus"]) == ("Label Already Exists", "FINISHED")
    # not committed: the retry loads
    emu.faults.commit_unknown_next()
    assert (await load(session, emu, "m3", "3,c\n"))["Status"] == "Fail"
    assert await state(session, emu, "m3") == "ABORTED"
    assert (await load(session, emu, "m3", "3,c\n"))["Status"] == "Success"
    emu.faults.txn_timeout_next()
    assert (await load(session, emu, "m4", "4,d\n"))["Message"] == "timeout by txn manager"
    assert emu.count("test", "kv") == 3


async def test_hang_then_commit_retry_sees_running_then_finished(emu, session):
    emu.faults.hang_next(1, seconds=0.6, then="commit")
    with pytest.raises(asyncio.TimeoutError):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.2)) as short:
            await stream_load(short, emu.fe_url, "test", "kv", "1,a\n", {**CSV, "label": "hang1"})
    retry = await load(session, emu, "hang1")
    assert (retry["Status"], retry["ExistingJobStatus"]) == ("Label Already Exists", "RUNNING")
    assert await state(session, emu, "hang1") == "PREPARE" and emu.open_labels("test", "kv") == ["hang1"]

    async def visible() -> bool:
        return await state(session, emu, "hang1") == "VISIBLE"
    await until(visible, "the hung load to commit")
    assert emu.open_labels("test", "kv") == []
    assert (await load(session, emu, "hang1"))["ExistingJobStatus"] == "FINISHED"
    assert emu.rows("test", "kv") == [{"k": 1, "v": "a"}]


async def test_hang_then_abort_label_is_reusable(emu, session):
    emu.faults.hang_next(1, seconds=0.3, then="abort")
    r = await load(session, emu, "hang2")
    assert (r["Status"], r["Message"]) == ("Fail", "timeout by txn manager")
    assert await state(session, emu, "hang2") == "ABORTED" and emu.count("test", "kv") == 0
    assert (await load(session, emu, "hang2"))["Status"] == "Success"


async def test_reset_mid_body_does_not_commit(emu, session):
    emu.faults.reset_next()
    host, port = emu.be_urls[0][7:].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write((f"PUT /api/test/kv/_stream_load HTTP/1.1\r\nHost: x\r\nAuthorization: {basic('root', '')}\r\n"
                  "Expect: 100-continue\r\nlabel: rst\r\ncolumn_separator: ,\r\nContent-Length: 100000\r\n\r\n"
                  ).encode())
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 100 Continue")
    writer.write(b"1,a\n" * 100)
    assert await asyncio.wait_for(reader.read(), 5) == b""      # closed without a reply
    writer.close()
    assert emu.loads()[-1].status == "RESET"
    assert await state(session, emu, "rst") == "ABORTED" and emu.count("test", "kv") == 0
    assert (await load(session, emu, "rst"))["Status"] == "Success"


async def test_publish_timeout_is_committed_then_visible(emu, session):
    emu.faults.publish_timeout_next(visible_after_s=0.2)
    r = await load(session, emu, "pt")
    assert r["Status"] == "Publish Timeout"
    assert r["Message"].startswith("Publish timeout. The data will be visible after a while")
    assert emu.open_labels("test", "kv") == ["pt"]             # committed, not yet visible
    assert emu.count("test", "kv") == 1 and await state(session, emu, "pt") == "COMMITTED"
    assert (await load(session, emu, "pt"))["ExistingJobStatus"] == "FINISHED"

    async def visible() -> bool:
        return await state(session, emu, "pt") == "VISIBLE"
    await until(visible, "the publish to end")
    assert emu.open_labels("test", "kv") == []


async def test_label_running_then_finished(emu, session):
    emu.faults.label_running("lr", seconds=0.3)
    r = await load(session, emu, "other-label")
    assert r["Status"] == "Success"          # scoped to the label "lr"
    r = await load(session, emu, "lr", "7,x\n")
    assert (r["Status"], r["ExistingJobStatus"], r["Message"]) == (
        "Label Already Exists", "RUNNING", "Label [lr] has already been used.")
    assert await state(session, emu, "lr") == "PREPARED"
    assert (await load(session, emu, "lr", "7,x\n"))["ExistingJobStatus"] == "RUNNING"

    async def visible() -> bool:
        return await state(session, emu, "lr") == "VISIBLE"
    await until(visible, "the running label to finish")
    assert (await load(session, emu, "lr", "7,x\n"))["ExistingJobStatus"] == "FINISHED"
    assert {"k": 7, "v": "x"} in emu.rows("test", "kv")


async def test_faults_scoped_to_a_table(emu, session):
    emu.faults.shutting_down_next(table="test.other")
    assert (await load(session, emu, "s1"))["Status"] == "Success"
    assert (await load(session, emu, "s2", "1\n", table="other"))["Message"] == SHUTTING_DOWN
    assert emu.faults.pending() == []


async def test_be_down_up_and_no_backend_alive(emu, session):
    emu.faults.be_down(0)
    with pytest.raises(aiohttp.ClientConnectionError):
        await stream_load(session, emu.be_urls[0], "test", "kv", "1,a\n", {**CSV})
    for i in range(3):
        r = await stream_load(session, emu.fe_url, "test", "kv", f"{i},a\n", {**CSV})
        assert r.redirected_to.startswith(emu.be_urls[1]) and r.json["Status"] == "Success"
    emu.faults.be_down(1)
    r = await stream_load(session, emu.fe_url, "test", "kv", "1,a\n", {**CSV})
    assert r.json == {"Status": "FAILED", "Message": "class com.starrocks.common.DdlException: No backend alive."}
    emu.faults.be_up(0)
    r = await stream_load(session, emu.fe_url, "test", "kv", "9,a\n", {**CSV})
    assert r.redirected_to.startswith(emu.be_urls[0]) and r.json["Status"] == "Success"


async def test_fe_down_up(emu, session):
    emu.faults.fe_down(0)
    with pytest.raises(aiohttp.ClientConnectionError):
        await stream_load(session, emu.fe_url, "test", "kv", "1,a\n", {**CSV})
    emu.faults.fe_up(0)
    assert (await load(session, emu, "back"))["Status"] == "Success"


def _http(method: str, url: str, payload: object = None) -> object:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_admin_http_api_from_another_thread():
    with EmulatorThread(ddl={"test": DDL}, n_be=2) as emu:
        admin = emu.admin_url
        armed = _http("POST", f"{admin}/_emulator/faults", [{"fault": "hang_next", "seconds": 0.1},
                                                             {"fault": "fail_next", "n": 2, "http_status": 502}])
        assert [f["kind"] for f in armed] == ["hang", "http_error"]
        assert _http("DELETE", f"{admin}/_emulator/faults") == []
        _http("POST", f"{admin}/_emulator/faults", {"fault": "be_down", "i": 0})
        _http("POST", f"{admin}/_emulator/tables", {"db": "test", "ddl": "CREATE TABLE t2 (a INT)"})
        req = urllib.request.Request(f"{emu.fe_url}/api/test/kv/_stream_load", data=b"", method="PUT",
                                     headers={"Authorization": basic("root", ""), "Expect": "100-continue"})

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.build_opener(NoRedirect).open(req, timeout=10)
        assert info.value.code == 307 and info.value.headers["Location"].startswith(emu.be_urls[1])
        info.value.close()
        emu.faults.be_up(0)
        assert _http("GET", f"{admin}/_emulator/count?db=test&table=kv") == {"count": 0}
        assert _http("GET", f"{emu.fe_url}/_emulator/rows?db=test&table=t2") == []
        assert _http("GET", f"{admin}/_emulator/loads") == []
        assert _http("GET", f"{admin}/_emulator/info")["be_urls"] == emu.be_urls
        bad = urllib.request.Request(f"{admin}/_emulator/faults", data=b'{"fault": "nope"}', method="POST")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(bad, timeout=10)
        assert info.value.code == 400
        info.value.close()
