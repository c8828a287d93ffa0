"""``sinkapp worker --processes N``'s parent (sinkapp.supervise) without a broker: its decisions
(back-off, restart or give up), the merged pages (metrics text, readiness, status), and the
supervisor itself over small fake child processes (a Python script standing in for a worker: it
serves the pages a worker serves, exits as told, drains on SIGTERM).
"""

from __future__ import annotations

import asyncio
import io
import json
import signal
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sinkapp.cli.main import main as cli_main
from sinkapp.faustio.startgate import StartGate
from sinkapp.supervise import processes_count
from sinkapp.supervise.barrier import StartBarrier
from sinkapp.supervise.child import free_port
from sinkapp.supervise.merge import ChildView, merge_metrics, process_metrics, readiness, status
from sinkapp.supervise.pages import Pages
from sinkapp.supervise.parent import Supervisor
from sinkapp.supervise.policy import GiveUp, Restart, RestartPolicy, Stopped, decide

P = RestartPolicy(first_delay_s=1.0, max_delay_s=30.0, stable_after_s=60.0, max_quick_deaths=5)


# -- decisions ------------------------------------------------------------------------------------

def test_backoff_doubles_per_death_in_a_row_up_to_the_cap() -> None:
    assert [P.delay_s(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_killed_or_crashed_child_is_restarted_with_growing_backoff() -> None:
    d = decide(P, -signal.SIGKILL, ran_s=5.0, deaths_in_a_row=0, stopping=False)
    assert d == Restart(1.0, 1)
    d = decide(P, 1, ran_s=2.0, deaths_in_a_row=1, stopping=False)
    assert d == Restart(2.0, 2)
    # exit 0 that nobody asked for (someone else's SIGTERM): restarted too
    assert isinstance(decide(P, 0, ran_s=2.0, deaths_in_a_row=0, stopping=False), Restart)


def test_a_child_that_stayed_up_starts_the_backoff_again() -> None:
    assert decide(P, -signal.SIGKILL, ran_s=600.0, deaths_in_a_row=4, stopping=False) == Restart(1.0, 1)


def test_a_crash_loop_is_given_up_with_status_1() -> None:
    deaths, decisions = 0, []
    for _ in range(5):
        d = decide(P, 1, ran_s=3.0, deaths_in_a_row=deaths, stopping=False)
        decisions.append(d)
        if isinstance(d, Restart):
            deaths = d.deaths_in_a_row
    assert [type(d) for d in decisions] == [Restart] * 4 + [GiveUp]
    last = decisions[-1]
    assert isinstance(last, GiveUp) and last.exit_code == 1 and "5 times in a row" in last.reason


def test_a_configuration_error_is_given_up_at_once_with_status_2() -> None:
    d = decide(P, 2, ran_s=1.0, deaths_in_a_row=0, stopping=False)
    assert isinstance(d, GiveUp) and d.exit_code == 2 and "configuration error" in d.reason


def test_while_stopping_only_a_drained_exit_or_the_forwarded_signal_is_clean() -> None:
    assert decide(P, 0, 1.0, 0, stopping=True) == Stopped(True)
    assert decide(P, -signal.SIGTERM, 1.0, 0, stopping=True) == Stopped(True)    # before its handlers
    assert decide(P, -signal.SIGKILL, 1.0, 0, stopping=True) == Stopped(False)
    assert decide(P, 1, 1.0, 0, stopping=True) == Stopped(False)
    assert decide(P, 2, 1.0, 0, stopping=True) == Stopped(False)


def test_processes_option() -> None:
    assert processes_count("3") == 3
    assert processes_count("auto") >= 1
    for bad in ("0", "-1", "many", "257"):
        with pytest.raises(Exception, match="--processes"):
            processes_count(bad)


def test_cli_refuses_a_bad_processes_value_and_a_bad_config_before_any_child(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["worker", "--processes", "zero"]) == 2
    assert "--processes 'zero'" in capsys.readouterr().err
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"topics": "t", "starrocks.http.url": "127.0.0.1:1", "starrocks.username": "u",
                               "starrocks.database.name": "d", "bufferflush.intervalms": "5"}))
    assert cli_main(["worker", "--processes", "2", "--config", str(cfg)]) == 2
    assert "bufferflush.intervalms" in capsys.readouterr().err


# -- merged pages ---------------------------------------------------------------------------------

PAGE = """# HELP sinkapp_rows_loaded_total rows StarRocks stored
# TYPE sinkapp_rows_loaded_total counter
sinkapp_rows_loaded_total{route="t->test.t"} %d
# HELP sinkapp_load_duration_seconds Stream Load duration incl. retries
# TYPE sinkapp_load_duration_seconds histogram
sinkapp_load_duration_seconds_bucket{route="t->test.t",le="1.0"} %d
sinkapp_load_duration_seconds_bucket{route="t->test.t",le="+Inf"} %d
sinkapp_load_duration_seconds_count{route="t->test.t"} %d
sinkapp_load_duration_seconds_sum{route="t->test.t"} 0.5
# HELP sinkapp_route_up 1 while the route loads, 0 when stopped
# TYPE sinkapp_route_up gauge
sinkapp_route_up{route="t->test.t"} 1.0
# HELP bare a sample without labels
# TYPE bare gauge
bare 7.0
"""


def test_merged_metrics_label_each_sample_with_its_process_and_keep_one_family_header() -> None:
    text = merge_metrics([("p0", PAGE % (100, 1, 2, 2)), ("p1", PAGE % (250, 3, 3, 3))])
    assert text.count("# TYPE sinkapp_rows_loaded_total counter") == 1
    assert text.count("# HELP sinkapp_load_duration_seconds ") == 1
    assert 'sinkapp_rows_loaded_total{process="p1",route="t->test.t"} 250' in text
    assert 'bare{process="p0"} 7.0' in text
    fams = {f.name: f for f in text_string_to_metric_families(text)}     # valid exposition text
    rows = fams["sinkapp_rows_loaded"].samples
    assert sorted((s.labels["process"], s.value) for s in rows) == [("p0", 100), ("p1", 250)]
    assert sum(s.value for s in rows) == 350            # what a dashboard's sum by (route) reads
    hist = fams["sinkapp_load_duration_seconds"].samples
    assert sum(s.value for s in hist if s.name.endswith("_count")) == 5
    assert {s.labels["process"] for s in fams["sinkapp_route_up"].samples} == {"p0", "p1"}
    extra = process_metrics([ChildView("p0", 1, "running", 0, metrics=""), ChildView("p1", None, "restarting", 3)])
    fams = {f.name: f for f in text_string_to_metric_families(extra)}
    assert [(s.labels["process"], s.value) for s in fams["sinkapp_process_up"].samples] == [("p0", 1), ("p1", 0)]
    assert [s.value for s in fams["sinkapp_process_restarts"].samples] == [0, 3]


def _view(name: str, state: str = "running", ready: int | None = 200, **kw: Any) -> ChildView:
    body = {"status": "UP" if ready == 200 else "DOWN", "reasons": [] if ready == 200 else ["no partition "
                                                                                            "assignment yet"]}
    return ChildView(name, 10, state, 0, ready=None if ready is None else (ready, body), **kw)


def test_ready_only_when_every_child_runs_and_is_ready() -> None:
    assert readiness([_view("p0"), _view("p1")]) == (True, [])
    ok, reasons = readiness([_view("p0"), _view("p1", ready=503)])
    assert not ok and reasons == ["p1: no partition assignment yet"]
    ok, reasons = readiness([_view("p0", ready=None), _view("p1", state="restarting", last_exit="killed by SIGKILL")])
    assert not ok and reasons == ["p0 not serving its pages yet", "p1 restarting (killed by SIGKILL)"]
    ok, reasons = readiness([_view("p0"), _view("p1")], gave_up="p1 exit 2: a configuration error")
    assert not ok and reasons[0].startswith("stopping: p1 exit 2")


def test_status_lists_every_child_and_sums_their_counters() -> None:
    def doc(parts: list[str], rows: int) -> dict[str, Any]:
        return {"tasks": [{"id": "t", "state": "RUNNING", "worker_id": "h:1"}], "partitions_assigned": parts,
                "routes": [{"route": "t", "rows_loaded": rows, "dead_lettered": {"encode": 1}, "last_label": "x"}],
                "tables": [{"table": "test.t", "loads": 2, "rows_loaded": rows, "rows_per_load": rows // 2,
                            "interval_s": 1.0}]}
    views = [_view("p0", status=doc(["t[0]"], 10)), _view("p1", status=doc(["t[1]"], 30))]
    s = status(views, "sink", "host:6066", "9.9")
    assert s["connector"] == {"state": "RUNNING", "worker_id": "host:6066"}
    assert [t["process"] for t in s["tasks"]] == ["p0", "p1"]
    assert s["partitions_assigned"] == ["t[0]", "t[1]"]
    assert s["routes"] == [{"route": "t", "rows_loaded": 40, "dead_lettered": {"encode": 2}, "last_label": "x"}]
    assert s["tables"][0]["rows_per_load"] == 10 and s["tables"][0]["interval_s"] == 1.0
    assert [(p["process"], p["state"], p["ready"]) for p in s["processes"]] == [("p0", "running", True)] * 1 + [
        ("p1", "running", True)]
    assert status(views, "sink", "h", "9", gave_up="p1 exit 2")["connector"]["state"] == "FAILED"


# -- the supervisor over fake children --------------------------------------------------------------

FAKE_CHILD = textwrap.dedent('''
    import http.server, json, os, signal, sys, threading
    from pathlib import Path
    index, port, ctl = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    crash, code = ctl / f"crash{index}", ctl / f"exit{index}"
    if crash.exists():                      # die by kill -9 once
        crash.unlink()
        os.kill(os.getpid(), signal.SIGKILL)
    if code.exists():                       # exit at start, every time
        print(f"configuration error in child {index}", flush=True)
        sys.exit(int(code.read_text()))
    print(f"child {index} up pid {os.getpid()}", flush=True)
    PAGE = ('# HELP sinkapp_rows_loaded_total rows\\n# TYPE sinkapp_rows_loaded_total counter\\n'
            'sinkapp_rows_loaded_total{route="r"} %d\\n' % (index + 1))

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass
        def do_GET(self):
            ready = (ctl / f"ready{index}").exists()
            if self.path == "/metrics":
                code, body = 200, PAGE
            elif self.path == "/health/ready":
                code = 200 if ready else 503
                body = json.dumps({"status": "UP" if ready else "DOWN",
                                   "reasons": [] if ready else ["no partition assignment yet"]})
            elif self.path == "/status":
                code, body = 200, json.dumps({"tasks": [{"id": "r", "state": "RUNNING"}],
                                              "partitions_assigned": [f"t[{index}]"], "routes": [], "tables": []})
            else:
                code, body = 404, ""
            self.send_response(code)
            self.end_headers()
            self.wfile.write(body.encode())

    if port != "None":
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), H)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    print(f"child {index} drained", flush=True)
    term = ctl / f"term_exit{index}"
    sys.exit(int(term.read_text()) if term.exists() else 0)
''')

FAST = RestartPolicy(first_delay_s=0.05, max_delay_s=0.2, stable_after_s=60.0, max_quick_deaths=3)


def _supervisor(tmp_path: Path, n: int = 2, with_web: bool = False) -> tuple[Supervisor, io.BytesIO]:
    script = tmp_path / "child.py"
    script.write_text(FAKE_CHILD)

    def launch(i: int, port: int | None) -> tuple[list[str], dict[str, str]]:
        return [sys.executable, str(script), str(i), str(port), str(tmp_path)], {"PYTHONUNBUFFERED": "1"}

    out = io.BytesIO()
    return Supervisor(n, launch, with_web=with_web, policy=FAST, stop_timeout_s=20, out=out), out


async def _until(pred: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not pred():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def _log_has(out: io.BytesIO, *texts: str) -> Callable[[], bool]:
    return lambda: all(t.encode() in out.getvalue() for t in texts)


def test_a_killed_child_is_restarted_and_sigterm_drains_every_child(tmp_path: Path) -> None:
    (tmp_path / "crash0").touch()
    sup, out = _supervisor(tmp_path)

    async def scenario() -> int:
        run = asyncio.create_task(sup.run())
        await _until(lambda: sup.slots[0].restarts == 1, "p0 restarted")
        await _until(_log_has(out, "p0 | child 0 up", "p1 | child 1 up"), "both children up")
        assert [s.state for s in sup.slots] == ["running", "running"]
        assert sup.slots[0].last_exit == "killed by SIGKILL" and sup.slots[1].restarts == 0
        sup.request_stop(signal.SIGTERM)
        return await run

    assert asyncio.run(scenario()) == 0
    assert [(s.state, s.last_exit, s.clean) for s in sup.slots] == [("stopped", "exit 0", True)] * 2
    lines = out.getvalue().decode().splitlines()
    assert "p0 | child 0 drained" in lines and "p1 | child 1 drained" in lines
    assert all(line.startswith(("p0 | ", "p1 | ")) for line in lines), lines


def test_a_configuration_error_stops_the_other_children_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "exit1").write_text("2")
    sup, out = _supervisor(tmp_path)
    assert asyncio.run(asyncio.wait_for(sup.run(), 30)) == 2
    assert [(s.state, s.restarts) for s in sup.slots] == [("stopped", 0), ("failed", 0)]
    assert sup.gave_up is not None and sup.gave_up.startswith("p1 exit 2")
    assert b"p1 | configuration error in child 1" in out.getvalue()


def test_a_crash_loop_is_given_up_after_the_policy_s_deaths(tmp_path: Path) -> None:
    (tmp_path / "exit0").write_text("1")
    sup, _ = _supervisor(tmp_path, n=1)
    assert asyncio.run(asyncio.wait_for(sup.run(), 30)) == 1
    assert (sup.slots[0].state, sup.slots[0].restarts) == ("failed", FAST.max_quick_deaths - 1)


def test_a_child_that_does_not_drain_cleanly_makes_the_parent_exit_1(tmp_path: Path) -> None:
    (tmp_path / "term_exit1").write_text("1")
    sup, out = _supervisor(tmp_path)

    async def scenario() -> int:
        run = asyncio.create_task(sup.run())
        await _until(_log_has(out, "child 0 up", "child 1 up"), "both children up")
        sup.request_stop(signal.SIGINT)
        return await run

    assert asyncio.run(scenario()) == 1
    assert [s.clean for s in sup.slots] == [True, False]


def test_parent_pages_ready_only_when_both_children_are_and_merge_their_metrics(tmp_path: Path) -> None:
    sup, out = _supervisor(tmp_path, with_web=True)
    port = free_port()

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    async def scenario() -> None:
        pages = Pages(sup, "127.0.0.1", port, "sink")
        await pages.start()
        run = asyncio.create_task(sup.run())
        try:
            await _until(_log_has(out, "child 0 up", "child 1 up"), "both children up")
            code, body = await asyncio.to_thread(get, "/health/ready")
            assert code == 503 and "p0: no partition assignment yet" in body and "p1:" in body
            (tmp_path / "ready0").touch()
            code, body = await asyncio.to_thread(get, "/health/ready")
            assert code == 503 and "p0" not in body and "p1: no partition assignment yet" in body
            (tmp_path / "ready1").touch()
            assert (await asyncio.to_thread(get, "/health/ready"))[0] == 200
            code, text = await asyncio.to_thread(get, "/metrics")
            assert code == 200
            assert 'sinkapp_rows_loaded_total{process="p0",route="r"} 1' in text
            assert 'sinkapp_rows_loaded_total{process="p1",route="r"} 2' in text
            assert 'sinkapp_process_up{process="p1"} 1' in text
            doc = json.loads((await asyncio.to_thread(get, "/status"))[1])
            assert doc["partitions_assigned"] == ["t[0]", "t[1]"]
            assert [(p["process"], p["state"], p["ready"], p["pid"] == s.child.pid)
                    for p, s in zip(doc["processes"], sup.slots, strict=True)] == [
                        ("p0", "running", True, True), ("p1", "running", True, True)]
            assert (await asyncio.to_thread(get, "/health/live"))[0] == 200
        finally:
            sup.request_stop()
            rc = await run
            await pages.close()
        assert rc == 0

    asyncio.run(scenario())


# -- the start barrier: children started together join the group together -----------------------

def test_the_start_barrier_lets_the_children_go_together_and_a_restarted_one_at_once() -> None:
    async def scenario() -> None:
        b = StartBarrier(2)
        await b.open()
        first = asyncio.create_task(StartGate(b.address, "p0").wait())
        await _until(lambda: b.arrived == {"p0"}, "p0 waiting at the barrier")
        assert not first.done() and b.released is None
        second = await StartGate(b.address, "p1").wait()
        assert (await first).startswith("start barrier passed") and second.startswith("start barrier passed")
        assert b.released == "all 2 worker processes are ready to join the group"
        assert (await StartGate(b.address, "p0").wait()).startswith("start barrier passed")   # a restart
        await b.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_the_start_barrier_does_not_hold_the_others_past_its_timeout() -> None:
    async def scenario() -> None:
        b = StartBarrier(3, timeout_s=0.2)
        await b.open()
        notes = await asyncio.gather(StartGate(b.address, "p0").wait(), StartGate(b.address, "p2").wait())
        assert all(n.startswith("start barrier passed") for n in notes)
        assert b.released is not None and "within 0s" in b.released and b.arrived == {"p0", "p2"}
        await b.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_child_without_its_barrier_joins_without_it() -> None:
    note = asyncio.run(StartGate(f"127.0.0.1:{free_port()}", "p0", timeout_s=5).wait())
    assert "joining the group without it" in note and "127.0.0.1:" in note


def test_a_child_that_dies_before_the_barrier_releases_the_others(tmp_path: Path) -> None:
    (tmp_path / "crash1").touch()           # p1 is killed before it could say ready
    b = StartBarrier(2)
    script = tmp_path / "child.py"
    script.write_text(FAKE_CHILD)

    def launch(i: int, port: int | None) -> tuple[list[str], dict[str, str]]:
        return [sys.executable, str(script), str(i), str(port), str(tmp_path)], {"PYTHONUNBUFFERED": "1"}

    out = io.BytesIO()
    sup = Supervisor(2, launch, with_web=False, policy=FAST, stop_timeout_s=20, out=out, barrier=b)

    async def scenario() -> int:
        run = asyncio.create_task(sup.run())
        waiting = asyncio.create_task(StartGate(b.address, "p0").wait())   # p0 at the barrier
        await _until(lambda: b.released is not None, "the barrier released")
        assert b.released == "p1 ended before it was ready to join"
        assert (await waiting).startswith("start barrier passed")
        await _until(_log_has(out, "p0 | child 0 up", "p1 | child 1 up"), "both children up (p1 restarted)")
        sup.request_stop(signal.SIGTERM)
        return await run

    assert asyncio.run(asyncio.wait_for(scenario(), 30)) == 0
