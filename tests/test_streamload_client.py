"""The product's Stream Load client against the emulator over real HTTP: every Status and fault.

What a user relies on: success is only reported when StarRocks has the rows; every retry
reuses the label, so a retried or timed-out load is stored once; rejected data comes back
with StarRocks' message and the ErrorURL lines; FEs fail over.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest
from sinkapp_testkit.streamload import StreamLoadEmulator

from sinkapp.config import Secret
from sinkapp.errors import LabelRunning, LoadRejected, LoadRetriable, TlsRejected, UnknownAnswer
from sinkapp.streamload import RetryPolicy, StreamLoadClient, load_with_retry

DDL = "CREATE TABLE t (id BIGINT, name STRING, amount DECIMAL(10,2)) DUPLICATE KEY(id);"
HEADERS = {"format": "json", "strip_outer_array": "true"}
FAST = RetryPolicy(max_retries=8, base_delay_s=0.05, max_delay_s=0.3)


def body(ids: range) -> bytes:
    return orjson.dumps([{"id": i, "name": f"n{i}", "amount": f"{i}.25"} for i in ids])


_open: list[StreamLoadClient] = []


@pytest.fixture
async def emu():
    async with StreamLoadEmulator(user="root", password="pw", ddl={"test": DDL}, n_fe=2, n_be=2) as e:
        yield e
        while _open:
            await _open.pop().close()


def client(emu: StreamLoadEmulator, password: str = "pw", timeout_s: float = 10.0) -> StreamLoadClient:
    c = StreamLoadClient(emu.fe_urls, "root", Secret(password), connect_timeout_s=1.0,
                         request_timeout_s=timeout_s)
    _open.append(c)
    return c


async def load(c: StreamLoadClient, label: str, ids: range = range(10), **kw) -> object:
    return await load_with_retry(c, "test", "t", label, body(ids), HEADERS, kw.pop("policy", FAST), **kw)


async def test_success_through_fe_redirect_with_auth(emu) -> None:
    c = client(emu)
    r = await load(c, "l-ok")
    assert (r.status, r.loaded_rows) == ("Success", 10)
    rows = emu.rows("test", "t")
    assert rows[3] == {"id": 3, "name": "n3", "amount": pytest.approx(3.25)} or str(rows[3]["amount"]) == "3.25"
    rec = emu.loads(table="t")[-1]
    assert rec.label == "l-ok" and rec.headers.get("strip_outer_array") == "true"


async def test_same_label_twice_is_success_and_stored_once(emu) -> None:
    c = client(emu)
    await load(c, "l-dup")
    again = await load(c, "l-dup")
    assert again.status == "Label Already Exists"
    assert emu.count("test", "t") == 10


async def test_publish_timeout_is_success(emu) -> None:
    emu.faults.publish_timeout_next(1, visible_after_s=0.2)
    c = client(emu)
    r = await load(c, "l-pub")
    assert r.status == "Publish Timeout" and emu.count("test", "t") == 10


async def test_label_running_is_polled_until_finished(emu) -> None:
    emu.faults.label_running("l-run", seconds=0.5)
    c = client(emu)
    r = await load(c, "l-run")
    assert r.status in ("Label Already Exists", "Success")
    assert emu.label_state("test", "l-run") == "VISIBLE"
    assert emu.count("test", "t") == 10


async def test_a_running_label_is_waited_out_without_using_up_the_retries(emu) -> None:
    """A crashed worker's load under the same label still in StarRocks: the new owner's resend waits
    for it instead of spending sink.maxretries on it (with 0 retries allowed, it still loads)."""
    emu.faults.label_running("l-crashed", seconds=1.5)
    r = await load(client(emu), "l-crashed", policy=RetryPolicy(max_retries=0, base_delay_s=0.05, max_delay_s=0.3))
    assert r.status in ("Label Already Exists", "Success") and emu.count("test", "t") == 10
    emu.faults.label_running("l-stuck", seconds=30)
    with pytest.raises(LabelRunning, match="RUNNING in StarRocks for"):
        await load(client(emu), "l-stuck", policy=RetryPolicy(max_retries=0, base_delay_s=0.05, max_delay_s=0.3,
                                                              label_running_max_s=0.5))


@pytest.mark.parametrize("arm", [
    lambda f: f.fail_next(2, http_status=500),
    lambda f: f.reset_next(1),
    lambda f: f.shutting_down_next(2),
    lambda f: f.concurrency_limit_next(1),
    lambda f: f.commit_unknown_next(1, committed=True),
    lambda f: f.commit_unknown_next(1, committed=False),
    lambda f: f.txn_timeout_next(1),
], ids=["http500", "reset", "shutting-down", "concurrency", "commit-unknown-committed",
        "commit-unknown-aborted", "txn-timeout"])
async def test_retriable_faults_end_with_rows_stored_once(emu, arm) -> None:
    arm(emu.faults)
    c = client(emu)
    retries: list[int] = []
    await load(c, "l-retry", on_retry=lambda n, exc: retries.append(n))
    attempts = emu.loads(table="t")
    # a reset is re-sent by aiohttp itself (same label); the others by our retry loop
    assert retries or len(attempts) >= 2, "the fault should have caused a second attempt"
    assert emu.count("test", "t") == 10
    assert {r.label for r in attempts} == {"l-retry"}


async def no_open_load(emu: StreamLoadEmulator, timeout_s: float = 5.0) -> None:
    """Until the emulator holds no transaction of table t (a hung attempt has committed or aborted)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while emu.open_labels("test", "t"):
        assert asyncio.get_running_loop().time() < deadline, emu.open_labels("test", "t")
        await asyncio.sleep(0.02)


async def test_hang_past_client_timeout_then_commit_is_loaded_once(emu) -> None:
    emu.faults.hang_next(1, seconds=1.5, then="commit")
    c = client(emu, timeout_s=0.5)
    r = await load(c, "l-hang", policy=RetryPolicy(max_retries=20, base_delay_s=0.2, max_delay_s=0.5))
    assert r.status in ("Label Already Exists", "Success")
    await no_open_load(emu)                                 # a second copy would land by then
    assert emu.count("test", "t") == 10


async def test_hang_then_abort_is_resent_under_same_label(emu) -> None:
    emu.faults.hang_next(1, seconds=1.0, then="abort")
    c = client(emu, timeout_s=0.4)
    await load(c, "l-hang2", policy=RetryPolicy(max_retries=20, base_delay_s=0.2, max_delay_s=0.5))
    await no_open_load(emu)                                 # the hung attempt has aborted by then
    assert emu.count("test", "t") == 10


async def test_one_be_down_fe_redirects_to_the_other(emu) -> None:
    emu.faults.be_down(0)
    c = client(emu)
    for i in range(4):
        await load(c, f"l-be{i}", range(i * 10, i * 10 + 10))
    assert emu.count("test", "t") == 40


async def test_fe_failover_and_all_fes_down_then_back(emu) -> None:
    emu.faults.fe_down(0)
    c = client(emu)
    await load(c, "l-fe1")
    emu.faults.fe_down(1)
    with pytest.raises(LoadRetriable, match="no FE in starrocks.http.url could be reached"):
        await c.load("test", "t", "l-fe2", body(range(10, 20)), HEADERS)

    async def bring_back() -> None:
        await asyncio.sleep(0.4)                            # the scenario: down a while, then back
        emu.faults.fe_up(0)
        emu.faults.fe_up(1)

    task = asyncio.ensure_future(bring_back())
    await load(c, "l-fe2", range(10, 20), policy=RetryPolicy(max_retries=-1, base_delay_s=0.1, max_delay_s=0.2))
    await task
    assert emu.count("test", "t") == 20


async def test_wrong_password_is_rejected_naming_the_settings(emu) -> None:
    c = client(emu, password="wrong")
    with pytest.raises(LoadRejected, match="starrocks.username / starrocks.password"):
        await load(c, "l-auth")


async def test_bad_rows_rejected_with_message_and_error_url_lines(emu) -> None:
    c = client(emu)
    bad = orjson.dumps([{"id": 1, "name": "a", "amount": "1.00"}, {"id": "x", "name": "b", "amount": "zz"}])
    with pytest.raises(LoadRejected) as ei:
        await load_with_retry(c, "test", "t", "l-bad", bad, {**HEADERS, "strict_mode": "true"}, FAST)
    msg = str(ei.value)
    assert "too many filtered rows" in msg and "ErrorURL" in msg and "Error:" in msg
    assert emu.count("test", "t") == 0


async def test_unknown_table_and_database_are_rejected_with_their_own_types(emu) -> None:
    from sinkapp.errors import UnknownDatabase, UnknownTable

    c = client(emu)
    with pytest.raises(UnknownTable, match="unknown table"):
        await load_with_retry(c, "test", "nope", "l-x", body(range(1)), HEADERS, FAST)
    with pytest.raises(UnknownDatabase, match="unknown database"):
        await load_with_retry(c, "nodb", "t", "l-y", body(range(1)), HEADERS, FAST)


async def test_retries_stop_when_aborting(emu) -> None:
    emu.faults.fail_next(100, http_status=500)
    c = client(emu)
    from sinkapp.errors import LoadAborted
    flag = {"abort": False}
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, lambda: flag.update(abort=True))
    with pytest.raises(LoadAborted):
        await load(c, "l-ab", policy=RetryPolicy(max_retries=-1, base_delay_s=0.05, max_delay_s=0.1),
                   should_abort=lambda: flag["abort"])


@pytest.mark.parametrize("answer", [b'{"status": "OK"}', b'{"Status": "OK", "NumberLoadedRows": 0}', b"{}",
                                    b'{"Status": "success"}'])
async def test_an_answer_without_a_documented_status_is_never_a_load(answer: bytes) -> None:
    """A proxy or a wrong endpoint answering 200 with some JSON must not be acked as loaded."""
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=answer, content_type="application/json")

    app = web.Application()
    app.router.add_put("/api/{db}/{table}/_stream_load", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    c = StreamLoadClient([f"http://127.0.0.1:{port}"], "root", Secret("pw"))
    try:
        with pytest.raises(LoadRetriable, match="no documented Stream Load Status") as err:
            await load_with_retry(c, "test", "t", "l-odd", body(range(3)), HEADERS,
                                  RetryPolicy(max_retries=1, base_delay_s=0.01))
        assert isinstance(err.value, UnknownAnswer)
    finally:
        await c.close()
        await runner.cleanup()


async def test_https_with_the_ca_file_loads_and_an_untrusted_certificate_fails_at_once(tmp_path) -> None:
    """HTTPS FE → 307 → HTTPS BE with sinkapp.starrocks.ssl.cafile; without it the certificate
    error is a clear rejection naming the setting, never retried."""
    import ssl

    from sinkapp_testkit.tls import make_certs

    certs = make_certs(tmp_path)
    async with StreamLoadEmulator(user="root", password="pw", ddl={"test": DDL},
                                  ssl_context=certs.server_context()) as e:
        assert e.fe_url.startswith("https://")
        good = StreamLoadClient(e.fe_urls, "root", Secret("pw"), ssl_context=ssl.create_default_context(
            cafile=str(certs.ca)))
        bad = StreamLoadClient(e.fe_urls, "root", Secret("pw"))
        try:
            r = await load(good, "l-tls")
            assert (r.status, r.loaded_rows) == ("Success", 10)
            assert e.loads(table="t")[-1].label == "l-tls"
            attempts = []
            with pytest.raises(LoadRejected, match="sinkapp.starrocks.ssl.cafile") as err:
                await load(bad, "l-tls-2", on_retry=lambda a, exc: attempts.append(a))
            assert isinstance(err.value, TlsRejected) and attempts == []
        finally:
            await good.close()
            await bad.close()
