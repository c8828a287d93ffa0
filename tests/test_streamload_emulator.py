"""Stream Load emulator, wire protocol: FE redirect, auth, Expect, statuses, labels, get_load_state, curl."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sinkapp_testkit.streamload import EmulatorThread, StreamLoadEmulator
from sinkapp_testkit.streamload.probe import basic, put, stream_load

from tests.workers import fixture_path

TEST123 = fixture_path("test123.sql")
PK_DDL = "CREATE TABLE kv (k INT NOT NULL, v STRING) PRIMARY KEY (k) DISTRIBUTED BY HASH(k);"
CSV_KV = {"format": "csv", "column_separator": ","}


@pytest.fixture
async def emu() -> AsyncIterator[StreamLoadEmulator]:
    e = StreamLoadEmulator(user="root", password="secret", ddl={"test": [TEST123, PK_DDL]}, n_be=2)
    await e.start()
    yield e
    await e.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def load(session: aiohttp.ClientSession, emu: StreamLoadEmulator, body: str, label: str | None = None,
               table: str = "kv", **headers: str) -> dict:
    hdrs = {**CSV_KV, **headers}
    if label:
        hdrs["label"] = label
    r = await stream_load(session, emu.fe_url, "test", table, body, hdrs, password="secret")
    assert r.status == 200, r.text
    return r.json


async def test_fe_redirects_with_307_and_connection_close_without_reading_body(emu, session):
    r = await put(session, f"{emu.fe_url}/api/test/kv/_stream_load?x=1", b"1,a\n", {"label": "a"},
                  password="secret", follow=False)
    assert r.status == 307
    assert r.headers["Location"] in (f"{u}/api/test/kv/_stream_load?x=1" for u in emu.be_urls)
    assert r.headers["Connection"] == "close" and r.text == ""
    assert emu.loads() == []          # the FE did not start a load


async def test_fe_round_robins_over_bes(emu, session):
    locs = set()
    for _ in range(4):
        r = await put(session, f"{emu.fe_url}/api/test/kv/_stream_load", b"", {}, password="secret", follow=False)
        locs.add(r.headers["Location"].split("/api")[0])
    assert locs == set(emu.be_urls)


async def test_fe_auth_failures_are_401_rest_base_result(emu, session):
    r = await put(session, f"{emu.fe_url}/api/test/kv/_stream_load", b"", {}, user=None, follow=False)
    assert r.status == 401 and r.headers["WWW-Authenticate"] == 'Basic realm=""'
    assert r.json == {"status": "FAILED", "code": "1", "msg": "Need auth information.",
                      "message": "Need auth information."}
    r = await put(session, f"{emu.fe_url}/api/test/kv/_stream_load", b"", {}, password="bad", follow=False)
    assert r.status == 401 and r.json["msg"] == "Access denied for root@127.0.0.1"


async def test_fe_requires_expect_100_continue(emu, session):
    r = await put(session, f"{emu.fe_url}/api/test/kv/_stream_load", b"1,a\n", {}, password="secret",
                  expect100=False, follow=False)
    assert r.status == 200 and r.headers["Connection"] == "close"
    assert r.json == {"Status": "FAILED",
                      "Message": "class com.starrocks.common.DdlException: There is no 100-continue header"}


def test_fe_never_sends_100_continue_and_ignores_the_body():
    """Raw socket: the FE answers the headers with the final 307; no interim 100 is sent."""
    with EmulatorThread(user="root", password="", ddl={"test": PK_DDL}) as emu:
        host, port = emu.fe_url[7:].split(":")
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall((f"PUT /api/test/kv/_stream_load HTTP/1.1\r\nHost: x\r\nAuthorization: {basic('root', '')}\r\n"
                       "Expect: 100-continue\r\nContent-Length: 4\r\n\r\n").encode())
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        assert data.startswith(b"HTTP/1.1 307") and b"100 Continue" not in data


async def test_success_reply_has_every_key_in_order_pretty_printed(emu, session):
    r = await stream_load(session, emu.fe_url, "test", "kv", "1,a\n2,b\n", {**CSV_KV, "label": "ok-1"},
                          password="secret")
    assert r.status == 200 and r.redirected_to is not None
    assert list(r.json) == ["TxnId", "Label", "Status", "Message", "NumberTotalRows", "NumberLoadedRows",
                            "NumberFilteredRows", "NumberUnselectedRows", "LoadBytes", "LoadTimeMs",
                            "BeginTxnTimeMs", "StreamLoadPlanTimeMs", "ReadDataTimeMs", "WriteDataTimeMs",
                            "CommitAndPublishTimeMs"]
    assert r.text.startswith('{\n    "TxnId": ')
    assert r.json["Status"] == "Success" and r.json["Message"] == "OK" and r.json["Label"] == "ok-1"
    assert (r.json["NumberTotalRows"], r.json["NumberLoadedRows"], r.json["LoadBytes"]) == (2, 2, 8)
    assert emu.rows("test", "kv") == [{"k": 1, "v": "a"}, {"k": 2, "v": "b"}]
    rec = emu.loads()[-1]
    assert (rec.label, rec.status, rec.rows_loaded, rec.bytes) == ("ok-1", "Success", 2, 8)
    assert "Authorization" not in rec.headers and rec.headers["label"] == "ok-1"


async def test_label_reuse_finished_aborted_and_generated(emu, session):
    assert (await load(session, emu, "1,a\n", "dup"))["Status"] == "Success"
    again = await load(session, emu, "9,z\n", "dup")
    assert again["Status"] == "Label Already Exists" and again["ExistingJobStatus"] == "FINISHED"
    assert again["Message"] == "Label [dup] has already been used."
    assert list(again)[:5] == ["TxnId", "Label", "Status", "ExistingJobStatus", "Message"]
    assert again["NumberLoadedRows"] == 0 and again["TxnId"] == -1
    assert emu.count("test", "kv") == 1
    # an ABORTED label is reusable
    bad = await load(session, emu, "x,a\n", "reuse")
    assert bad["Status"] == "Fail" and bad["Message"] == "too many filtered rows"
    assert (await load(session, emu, "5,e\n", "reuse"))["Status"] == "Success"
    gen = await load(session, emu, "6,f\n")
    assert len(gen["Label"]) == 36 and gen["Status"] == "Success"
    bad_label = await load(session, emu, "7,g\n", "a.b")
    assert bad_label["Message"] == "Label format error. regex: ^[-\\w]{1,128}$, label: a.b"
    assert (await load(session, emu, "7,g\n", "x" * 129))["Status"] == "Fail"


async def test_be_header_errors_answer_without_reading_the_body(emu, session):
    cases = [
        ({"format": "xml"}, "unknown data format, format=xml"),
        ({"timeout": "abc"}, "Invalid timeout format"),
        ({"timeout": "0"}, "Invalid timeout: 0. Timeout should between 1 and 259200 seconds"),
        ({"strict_mode": "yes"}, "Invalid strict mode format. Must be bool type"),
        ({"partitions": "p1", "temporary_partitions": "t1"},
         "Can not specify both partitions and temporary partitions"),
        ({"skip_header": "-1"}, "skip_header must be equal or greater than 0"),
        ({"skip_header": "x"}, "Invalid csv load skip_header format"),
        ({"trim_space": "1"}, "Invalid trim space format. Must be bool type"),
        ({"partial_update": "x"}, "Invalid partial update flag format. Must be bool type"),
        ({"compression": "gzip", "Content-Encoding": "gzip"},
         "Only one of http header content-encoding and compression can be set"),
        ({"compression": "rar"}, "Unsupported compression type: rar"),
    ]
    for hdrs, message in cases:
        r = await load(session, emu, "1,a\n", "hdr", **hdrs)
        assert (r["Status"], r["Message"], r["TxnId"]) == ("Fail", message, -1), hdrs
    assert emu.label_state("test", "hdr") == "UNKNOWN"
    r = await put(session, f"{emu.be_urls[0]}/api/test/kv/_stream_load", b"1,a\n", {}, user=None)
    assert r.json["Message"] == "no valid Basic authorization" and r.headers["Connection"] == "close"
    r = await put(session, f"{emu.be_urls[0]}/api/test/kv/_stream_load", b"1,a\n", {}, password="no")
    assert r.json["Message"] == "Access denied for root@127.0.0.1"
    r = await put(session, f"{emu.be_urls[0]}/api/nodb/kv/_stream_load", b"1,a\n", {}, password="secret")
    assert r.json["Message"] == "unknown database, database=nodb"
    r = await put(session, f"{emu.be_urls[0]}/api/test/nope/_stream_load", b"1,a\n", {}, password="secret")
    assert r.json["Message"] == 'unknown table "test.nope"'


async def test_be_rejection_arrives_before_body_is_sent():
    """A rejecting BE never sends 100 Continue: a raw client that waits sees the final reply first."""
    async with StreamLoadEmulator(ddl={"test": PK_DDL}) as emu:
        host, port = emu.be_urls[0][7:].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write((f"PUT /api/test/kv/_stream_load HTTP/1.1\r\nHost: x\r\nAuthorization: {basic('root', '')}"
                      "\r\nExpect: 100-continue\r\nformat: xml\r\nContent-Length: 4\r\n\r\n").encode())
        status = await asyncio.wait_for(reader.readline(), 5)
        assert status.startswith(b"HTTP/1.1 200")
        writer.close()
        await writer.wait_closed()


async def test_get_load_state(emu, session):
    await load(session, emu, "1,a\n", "st-1")
    url = f"{emu.fe_url}/api/test/get_load_state?label=st-1"
    async with session.get(url, headers={"Authorization": basic("root", "secret")}) as resp:
        assert json.loads(await resp.text()) == {"state": "VISIBLE", "status": "OK", "code": "0",
                                                 "msg": "Success", "message": "OK"}
    async with session.get(url.replace("st-1", "nope"), headers={"Authorization": basic("root", "secret")}) as r:
        assert json.loads(await r.text())["state"] == "UNKNOWN"
    async with session.get(f"{emu.fe_url}/api/other/get_load_state?label=x",
                           headers={"Authorization": basic("root", "secret")}) as r:
        body = json.loads(await r.text())
        assert body["status"] == "FAILED" and body["msg"] == "unknown database, database=other"
    async with session.get(url) as r:
        assert r.status == 401


def test_curl_location_trusted_datagen_json_into_test123():
    conf = json.loads((fixture_path("connector-json.json")).read_text())
    orders = [{"ordertime": 1497014222380 + i, "orderid": i, "itemid": f"Item_{i}", "orderunits": 3.5 + i,
               "address": {"city": f"City_{i}", "state": f"State_{i}", "zipcode": 10000 + i}} for i in range(3)]
    with EmulatorThread(user="root", password="", ddl={"test": TEST123}) as emu:
        cmd = ["curl", "-sS", "--location-trusted", "-u", "root:", "-H", "Expect:100-continue",
               "-H", "label:curl-1", "-H", "format:json",
               "-H", f"strip_outer_array:{conf['sink.properties.strip_outer_array']}",
               "-H", f"jsonpaths:{conf['sink.properties.jsonpaths']}", "-T", "-", "-XPUT",
               f"{emu.fe_url}/api/test/test123/_stream_load"]
        out = subprocess.run(cmd, input=json.dumps(orders).encode(), capture_output=True, timeout=30, check=True)
        reply = json.loads(out.stdout)
        assert reply["Status"] == "Success" and reply["NumberLoadedRows"] == 3
        rows = emu.rows("test", "test123")
        assert list(rows[0]) == ["ordertime", "orderid", "itemid", "orderunits", "city", "state", "zipcode"]
        assert rows[1] == {"ordertime": 1497014222381, "orderid": 1, "itemid": "Item_1", "orderunits": "4.5",
                           "city": "City_1", "state": "State_1", "zipcode": 10001}
        # error URL fetched with curl too
        bad = subprocess.run(cmd[:8] + ["label:curl-2", "-H", "strict_mode:true"] + cmd[9:], capture_output=True, timeout=30, check=True,
                             input=json.dumps([{"orderid": "x"}]).encode())
        err = json.loads(bad.stdout)
        assert err["Status"] == "Fail" and err["Message"] == "too many filtered rows"
        log = subprocess.run(["curl", "-sS", err["ErrorURL"]], capture_output=True, timeout=30, check=True)
        assert log.stdout.decode().startswith("Error: convert json value to INT failed")
