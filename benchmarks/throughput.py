"""Throughput benchmark: sinkapp workers end to end against the raw aiokafka ceiling, in one run.

    .venv/bin/python benchmarks/throughput.py                  # 3 rounds: json 2M, avro 1M, csv 2M rows
    .venv/bin/python benchmarks/throughput.py --quick          # smoke run: 30k rows per format, 1 round
    .venv/bin/python benchmarks/throughput.py --formats json --records 500000 --rounds 5 --json-out r.json

Starts a local Kafka broker, the Stream Load emulator in count-only mode (rows counted, not parsed,
in its own process) and, for Avro, the Schema Registry emulator; produces each format's records
once to its own topic (``--partitions``), then runs ``--rounds`` interleaved rounds, each with a
fresh consumer group per consumer: the raw aiokafka consumer (the ceiling, on the json topic),
the bare Faust agent (``--bare-faust``, at most ``--bare-faust-records``), then one sinkapp worker
per format; after the rounds, once, two sinkapp workers in one consumer group on the json topic
(``--two-workers``).

The formats, as the product is configured for them:

- json: config/connector-json.json (JsonConverter, jsonpaths into test.test123), Datagen orders;
- avro: config/connector-avro.json (AvroConverter, registry from SINKAPP_SCHEMA_REGISTRY_URL),
  Datagen orders in the Confluent wire format;
- csv: StringConverter values that are CSV lines, sink.properties.format=csv, column_separator
  ``,`` and columns for test123.

Workers run as ``python -m sinkapp.cli worker --config c.json --without-web -l info --datadir d``
with bufferflush.intervalms=1000, bufferflush.maxbytes=``--maxbytes`` and sinkapp.flush.max.rows=
``--flush-rows`` (plus any ``--set key=value``); each worker's log stays in the work directory and
its tail is printed when a run fails.

Figures per run (medians of the rounds in the final table):

- rows/s end to end: N / (time from Popen of the worker(s) to the emulator's commit that made the
  N-th row visible, from the emulator timeline). The raw aiokafka consumer runs in a child process
  and is timed from consumer construction to its N-th record; bare Faust from Popen to N-th event;
- steady rows/s: rows between the first moments 10 % and 90 % of N were visible (emulator timeline)
  or consumed (the baselines' own timestamps), divided by the time between them;
- CPU µs/row: user + system CPU of the consumer process (``/proc/<pid>/stat`` read just before it
  is stopped, children included; the raw consumer: getrusage delta from construction) / N;
- peak RSS: VmHWM of the consumer process (sum of both for two workers);
- ratio: rows/s end to end / the raw aiokafka ceiling's rows/s of the same round (table: medians).

Every sinkapp run must end with exactly N rows in the table (no loss, no duplicate); a run that
does not, times out or whose worker dies is reported and makes the exit status 1. The machine is
shared and noisy: read the medians, not one run.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sinkapp.demo import datagen_order  # noqa: E402

FORMATS = ("json", "avro", "csv", "json-chain")
DEFAULT_RECORDS = {"json": 2_000_000, "avro": 1_000_000, "csv": 2_000_000, "json-chain": 1_000_000}
#: json-chain: the JSON route with three transforms (decode, transform, encode per row instead of
#: passing the record's bytes through); none of them drops or renames what the jsonpaths read
CHAIN = {"transforms": "stamp,trim,keep",
         "transforms.stamp.type": "InsertField", "transforms.stamp.static.field": "source",
         "transforms.stamp.static.value": "bench",
         "transforms.trim.type": "ReplaceField", "transforms.trim.exclude": "not_a_field",
         "transforms.keep.type": "Filter", "transforms.keep.field": "$.orderid", "transforms.keep.exists": "false"}
QUICK_RECORDS = 30_000
DB, TABLE = "test", "test123"
CSV_COLUMNS = "ordertime,orderid,itemid,orderunits,city,state,zipcode"
RAW = "aiokafka raw (json topic)"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIN_STEADY_S = 1.0


# --------------------------------------------------------------------------- results

@dataclass
class Result:
    consumer: str
    round: int                    # 1..rounds; 0 = the extra two-worker run
    n: int
    e2e_s: float = 0.0
    steady_rows_s: float | None = None
    cpu_s: float = 0.0
    rss_kb: int = 0
    emu_cpu_s: float | None = None
    ok: bool = True
    error: str = ""
    timing: str = ""              # what the end-to-end time is measured from/to
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_s(self) -> float:
        return self.n / self.e2e_s if self.e2e_s > 0 else 0.0

    @property
    def cpu_us_row(self) -> float:
        return self.cpu_s / self.n * 1e6

    def line(self, raw_rows_s: float | None) -> str:
        if not self.ok:
            return f"round {self.round} {self.consumer:28s} N={self.n:,}  FAILED: {self.error}"
        steady = f"{self.steady_rows_s:>10,.0f}" if self.steady_rows_s else f"{'-':>10s}"
        emu = f"  emulator {self.emu_cpu_s / self.n * 1e6:.2f} µs/row" if self.emu_cpu_s is not None else ""
        ratio = f"  ratio {self.rows_s / raw_rows_s:.3f}" if raw_rows_s else ""
        return (f"round {self.round} {self.consumer:28s} N={self.n:,}  {self.e2e_s:7.2f} s  "
                f"{self.rows_s:>10,.0f} rows/s  steady {steady} rows/s  CPU {self.cpu_us_row:7.2f} µs/row  "
                f"RSS {self.rss_kb / 1024:6.0f} MiB{emu}{ratio}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_s": self.rows_s, "cpu_us_row": self.cpu_us_row}


class RunFailed(Exception):
    def __init__(self, message: str, logs: list[Path] | None = None) -> None:
        super().__init__(message)
        self.logs = list(logs or [])


def steady_rate(points: list[list[float]], n: int) -> float | None:
    """Rows/s between the first points at or above 10 % and 90 % of n (``[[time, count], ...]``);
    ``None`` when they are less than a second apart (N too small to tell, e.g. ``--quick``)."""
    p10 = next((p for p in points if p[1] >= 0.1 * n), None)
    p90 = next((p for p in points if p[1] >= 0.9 * n), None)
    if p10 is None or p90 is None or p90[0] - p10[0] < MIN_STEADY_S:
        return None
    return (p90[1] - p10[1]) / (p90[0] - p10[0])


# --------------------------------------------------------------------------- /proc

def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def tree(pid: int) -> list[int]:
    """pid and its live descendants."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                children.setdefault(int(_stat(int(d.name))[1]), []).append(int(d.name))
            except (OSError, IndexError, ValueError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_s(pid: int, *, with_children: bool = True) -> float:
    total = 0.0
    for p in tree(pid) if with_children else [pid]:
        try:
            f = _stat(p)
        except OSError:
            continue
        total += (int(f[11]) + int(f[12])) / CLK_TCK
    return total


def vmhwm_kb(pid: int) -> int:
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"(cannot read {path}: {exc})"


# --------------------------------------------------------------------------- data

def json_values(n: int) -> Iterator[bytes]:
    import orjson
    rng = random.Random(7)
    for i in range(n):
        yield orjson.dumps(datagen_order(i, rng))


def csv_values(n: int) -> Iterator[bytes]:
    rng = random.Random(7)
    for i in range(n):
        o = datagen_order(i, rng)
        a = o["address"]
        yield (f'{o["ordertime"]},{o["orderid"]},{o["itemid"]},{o["orderunits"]},'
               f'{a["city"]},{a["state"]},{a["zipcode"]}').encode()


def avro_values(n: int, schema_id: int) -> Iterator[bytes]:
    import fastavro

    from sinkapp.testing.registry import confluent_encode
    parsed = fastavro.parse_schema(json.loads((ROOT / "sinkapp" / "demo_data" / "orders.avsc").read_text()))
    rng = random.Random(7)
    for i in range(n):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, datagen_order(i, rng))
        yield confluent_encode(schema_id, buf.getvalue())


async def produce(bootstrap: str, topic: str, values: Iterator[bytes], partitions: int) -> tuple[int, int]:
    """Round-robin over partitions in producer batches; returns (records, value bytes)."""
    from aiokafka import AIOKafkaProducer
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20,
                            max_request_size=8 << 20)
    await prod.start()
    count = nbytes = 0
    try:
        batches = [prod.create_batch() for _ in range(partitions)]
        futs = []
        for v in values:
            p = count % partitions
            while batches[p].append(key=None, value=v, timestamp=None) is None:
                futs.append(await prod.send_batch(batches[p], topic, partition=p))
                batches[p] = prod.create_batch()
            count += 1
            nbytes += len(v)
            if len(futs) > 64:
                await asyncio.gather(*futs)
                futs = []
        for p, b in enumerate(batches):
            if b.record_count():
                futs.append(await prod.send_batch(b, topic, partition=p))
        await asyncio.gather(*futs)
    finally:
        await prod.stop()
    return count, nbytes


def register_avro(registry_url: str, subject: str) -> int:
    text = (ROOT / "sinkapp" / "demo_data" / "orders.avsc").read_text()
    req = urllib.request.Request(f"{registry_url}/subjects/{subject}/versions", method="POST",
                                 data=json.dumps({"schema": text}).encode(),
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(json.loads(r.read())["id"])


# --------------------------------------------------------------------------- emulator

class Emulator:
    """The Stream Load emulator process (count-only) and its admin API."""

    def __init__(self, work: Path) -> None:
        self.err = open(work / "streamload-emulator.log", "wb")   # closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sinkapp.testing.streamload", "--fe-port", "0", "--be-port", "0",
             "--admin-port", "0", "--database", DB, "--ddl", str(ROOT / "sinkapp" / "demo_data" / "test123.sql"),
             "--count-only"], stdout=subprocess.PIPE, stderr=self.err, text=True, cwd=work)
        assert self.proc.stdout is not None
        self.fe = self.proc.stdout.readline().strip()
        if not self.fe.startswith("http"):
            raise RuntimeError(f"the Stream Load emulator did not start: {tail(work / 'streamload-emulator.log')}")

    def _call(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(f"{self.fe}/_emulator/{path}?db={DB}&table={TABLE}", method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def count(self) -> int:
        return int(self._call("count")["count"])

    def timeline(self) -> list[list[float]]:
        return list(self._call("timeline"))

    def truncate(self) -> None:
        self._call("truncate", "POST")

    def cpu_s(self) -> float:
        return cpu_s(self.proc.pid, with_children=False)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.err.close()


# --------------------------------------------------------------------------- consumers

@dataclass
class Bench:
    args: argparse.Namespace
    work: Path
    bootstrap: str
    emu: Emulator
    registry_url: str | None
    topics: dict[str, str]
    records: dict[str, int]


def raw_child(bootstrap: str, topic: str, group: str, n: int) -> None:
    """Child process: consume n records with a plain getmany loop; print RAW_DONE {json}."""
    from aiokafka import AIOKafkaConsumer

    async def run() -> dict[str, Any]:
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.time()
        c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, max_partition_fetch_bytes=4 << 20)
        await c.start()
        seen, marks = 0, {}
        try:
            while seen < n:
                got = await c.getmany(timeout_ms=1000, max_records=50_000)
                seen += sum(len(v) for v in got.values())
                now = time.time()
                for key, threshold in (("t10", 0.1 * n), ("t90", 0.9 * n)):
                    if key not in marks and seen >= threshold:
                        marks[key] = [now, seen]
            t_n, r1 = time.time(), resource.getrusage(resource.RUSAGE_SELF)
        finally:
            await c.stop()
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        return {"t0": t0, "tN": [t_n, seen], **marks, "cpu_s": cpu, "vmhwm_kb": vmhwm_kb(os.getpid())}

    print("RAW_DONE " + json.dumps(asyncio.run(run())), flush=True)


def _child_result(out: str, tag: str) -> dict[str, Any]:
    for line in out.splitlines():
        if tag + " {" in line:             # Faust logs what its agents print, with a prefix
            return dict(json.loads(line.split(tag + " ", 1)[1]))
    raise RunFailed(f"no {tag} line in the output:\n{out[-3000:]}")


def run_raw(b: Bench, rnd: int) -> Result:
    n = b.records["json"]
    res = Result(RAW, rnd, n, timing="consumer construction → N-th record consumed (child process)")
    try:
        out = subprocess.run([sys.executable, __file__, "--raw-child", b.bootstrap, b.topics["json"],
                              f"bench-raw-{uuid.uuid4().hex[:6]}", str(n)], capture_output=True, text=True,
                             timeout=b.args.timeout, cwd=b.work)
        d = _child_result(out.stdout + out.stderr, "RAW_DONE")
    except (RunFailed, subprocess.TimeoutExpired) as exc:
        res.ok, res.error = False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(str(exc)[-3000:], file=sys.stderr)
        return res
    res.e2e_s = d["tN"][0] - d["t0"]
    res.steady_rows_s = steady_rate([d["t10"], d["t90"]], n)
    res.cpu_s, res.rss_kb = d["cpu_s"], d["vmhwm_kb"]
    return res


def run_bare_faust(b: Bench, rnd: int) -> Result:
    n = min(b.args.bare_faust_records, b.records["json"])
    res = Result("bare faust noack_take+ack", rnd, n, timing="Popen → N-th event acked")
    log = b.work / f"bare-faust-{rnd}.log"
    t0 = time.time()
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "bare_faust.py"), b.bootstrap,
                                 b.topics["json"], f"bench-faust-{uuid.uuid4().hex[:6]}", str(n)],
                                stdout=fh, stderr=subprocess.STDOUT, cwd=b.work)
        try:
            proc.wait(b.args.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    try:
        d = _child_result(log.read_text(errors="replace"), "BARE_FAUST_DONE")
    except RunFailed as exc:
        res.ok, res.error = False, f"bare faust failed (log {log})"
        print(str(exc), file=sys.stderr)
        return res
    res.e2e_s = d["tN"][0] - t0
    res.steady_rows_s = steady_rate([d["t10"], d["t90"]], n)
    res.cpu_s, res.rss_kb = d["cpu_s"], d["vmhwm_kb"]
    return res


def worker_config(b: Bench, fmt: str, group: str) -> dict[str, Any]:
    base = "connector-avro.json" if fmt == "avro" else "connector-json.json"
    cfg: dict[str, Any] = json.loads((ROOT / "config" / base).read_text())
    topic = b.topics[fmt]
    cfg.update({"topics": topic, "starrocks.topic2table.map": f"{topic}:{TABLE}",
                "starrocks.http.url": b.emu.fe, "starrocks.username": "root", "starrocks.password": "",
                "starrocks.database.name": DB, "bootstrap.servers": b.bootstrap, "group.id": group,
                "bufferflush.intervalms": "1000", "bufferflush.maxbytes": str(b.args.maxbytes),
                "sinkapp.flush.max.rows": str(b.args.flush_rows),
                # labels derive from topic/partition/offsets: a new prefix per run, or the emulator
                # answers Label Already Exists for offsets an earlier run loaded (exactly-once)
                "sinkapp.label.prefix": f"b{uuid.uuid4().hex[:8]}"})
    if fmt == "csv":
        for key in ("sink.properties.jsonpaths", "sink.properties.strip_outer_array",
                    "value.converter.schemas.enable"):
            cfg.pop(key, None)
        cfg.update({"value.converter": "org.apache.kafka.connect.storage.StringConverter",
                    "sink.properties.format": "csv", "sink.properties.column_separator": ",",
                    "sink.properties.columns": CSV_COLUMNS})
    if fmt == "json-chain":
        cfg.update(CHAIN)
    for item in b.args.set:
        key, _, value = item.partition("=")
        cfg[key] = value
    return cfg


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_sinkapp(b: Bench, fmt: str, rnd: int, workers: int = 1) -> Result:
    n = b.records[fmt]
    name = f"sinkapp {fmt}" + (f" ×{workers} workers" if workers > 1 else "")
    res = Result(name, rnd, n, timing="Popen of the worker(s) → emulator commit of the N-th row")
    group = f"bench-{fmt}-{uuid.uuid4().hex[:6]}"
    run_dir = b.work / f"r{rnd}-{fmt}-x{workers}-{group}"
    cfg = worker_config(b, fmt, group)
    env = dict(os.environ)
    if b.registry_url:
        env["SINKAPP_SCHEMA_REGISTRY_URL"] = b.registry_url
    b.emu.truncate()
    emu_cpu0 = b.emu.cpu_s()
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    t0 = time.time()
    try:
        for i in range(workers):
            d = run_dir / f"w{i}"
            d.mkdir(parents=True)
            (d / "c.json").write_text(json.dumps(cfg, indent=2))
            logs.append(d / "worker.log")
            with open(logs[-1], "wb") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "sinkapp.cli", "worker", "--config", str(d / "c.json"),
                     "--without-web", "-l", "info", "--datadir", str(d / "data")],
                    stdout=log, stderr=subprocess.STDOUT, cwd=d, env=env))
        deadline = time.monotonic() + b.args.timeout
        last_change, last_seen = time.monotonic(), -1
        while (seen := b.emu.count()) < n:
            now = time.monotonic()
            if seen != last_seen:
                last_change, last_seen = now, seen
            for p in procs:
                if p.poll() is not None:
                    raise RunFailed(f"a worker exited with status {p.returncode} at {seen:,}/{n:,} rows", logs)
            if now > deadline:
                raise RunFailed(f"timeout: {seen:,}/{n:,} rows visible after {b.args.timeout:.0f} s", logs)
            if now - last_change > b.args.stall_timeout:
                raise RunFailed(f"stalled: {seen:,}/{n:,} rows visible, no new row for "
                                f"{b.args.stall_timeout:.0f} s", logs)
            time.sleep(0.1)
        res.cpu_s = sum(cpu_s(p.pid) for p in procs)
        res.rss_kb = sum(vmhwm_kb(p.pid) for p in procs)
        res.emu_cpu_s = b.emu.cpu_s() - emu_cpu0
        points = b.emu.timeline()
    except RunFailed as exc:
        _stop(procs)          # before printing the logs, so they hold the shutdown too
        res.ok, res.error = False, str(exc)
        for log in exc.logs:
            print(f"---- {log} (tail)\n{tail(log)}", file=sys.stderr)
        return res
    finally:
        _stop(procs)
    t_n = next(p[0] for p in points if p[1] >= n)
    res.e2e_s = t_n - t0
    res.steady_rows_s = steady_rate(points, n)
    res.extra = {"work_dir": str(run_dir), "loads": len(points),
                 "timeline": [[round(t - t0, 3), c] for t, c in points]}     # seconds since Popen, rows
    final = b.emu.count()
    if final != n:
        res.ok, res.error = False, f"{final:,} rows in the table after the workers stopped, expected {n:,}"
        for log in logs:
            print(f"---- {log} (tail)\n{tail(log)}", file=sys.stderr)
    return res


# --------------------------------------------------------------------------- report

def medians(results: list[Result]) -> list[dict[str, Any]]:
    order: list[str] = []
    for r in results:
        if r.consumer not in order:
            order.append(r.consumer)
    raw_ok = [r.rows_s for r in results if r.consumer == RAW and r.ok]
    raw = statistics.median(raw_ok) if raw_ok else None
    table = []
    for name in order:
        ok = [r for r in results if r.consumer == name and r.ok]
        runs = sum(1 for r in results if r.consumer == name)
        if not ok:
            table.append({"consumer": name, "runs": runs, "ok": 0})
            continue
        steady = [r.steady_rows_s for r in ok if r.steady_rows_s]
        rows_s = statistics.median(r.rows_s for r in ok)
        table.append({"consumer": name, "runs": runs, "ok": len(ok), "n": ok[0].n, "rows_s": rows_s,
                      "steady_rows_s": statistics.median(steady) if steady else None,
                      "cpu_us_row": statistics.median(r.cpu_us_row for r in ok),
                      "peak_rss_mib": statistics.median(r.rss_kb for r in ok) / 1024,
                      "ratio_to_raw": rows_s / raw if raw else None})
    return table


def print_table(table: list[dict[str, Any]]) -> None:
    head = (f"{'consumer':30s} {'runs':>5s} {'rows/s end-to-end':>18s} {'steady rows/s':>14s} "
            f"{'CPU µs/row':>11s} {'peak RSS MiB':>13s} {'ratio to raw ceiling':>21s}")
    print(head)
    print("-" * len(head))
    for t in table:
        if not t["ok"]:
            print(f"{t['consumer']:30s} {t['runs']:>5d}   all runs failed")
            continue
        steady = f"{t['steady_rows_s']:,.0f}" if t["steady_rows_s"] else "-"
        ratio = f"{t['ratio_to_raw']:.3f}" if t["ratio_to_raw"] else "-"
        runs = f"{t['ok']}" if t["ok"] == t["runs"] else f"{t['ok']}/{t['runs']}"
        print(f"{t['consumer']:30s} {runs:>5s} {t['rows_s']:>18,.0f} {steady:>14s} {t['cpu_us_row']:>11.2f} "
              f"{t['peak_rss_mib']:>13.0f} {ratio:>21s}")


# --------------------------------------------------------------------------- main

def parse_records(spec: str | None, formats: list[str], quick: bool) -> dict[str, int]:
    records = {f: (QUICK_RECORDS if quick else DEFAULT_RECORDS[f]) for f in FORMATS}
    if spec:
        for part in spec.split(","):
            fmt, sep, num = part.rpartition("=")
            targets = [fmt.strip()] if sep else list(FORMATS)
            for f in targets:
                if f not in FORMATS:
                    raise SystemExit(f"--records: unknown format {f!r}")
                records[f] = int(num.replace("_", ""))
    return {f: records[f] for f in formats}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join((__doc__ or "").split("\n\n")[1:]))
    ap.add_argument("--formats", default="json,avro,csv",
                    help="comma list of json, avro, csv, json-chain (JSON with a three-transform chain; "
                         "default json,avro,csv)")
    ap.add_argument("--records", metavar="SPEC",
                    help="rows per format: N for all, or e.g. json=1500000,avro=800000 "
                         f"(default {','.join(f'{k}={v}' for k, v in DEFAULT_RECORDS.items())}; "
                         f"--quick {QUICK_RECORDS})")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 3, --quick 1)")
    ap.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_RECORDS:,} rows per format, 1 round")
    ap.add_argument("--partitions", type=int, default=4, help="partitions per topic (default 4)")
    ap.add_argument("--two-workers", action=argparse.BooleanOptionalAction, default=True,
                    help="one extra json run with 2 workers in one consumer group (default on)")
    ap.add_argument("--bare-faust", action="store_true", help="add the bare Faust baseline (slow, ~7k rows/s)")
    ap.add_argument("--bare-faust-records", type=int, default=100_000, help="cap of its N (default 100000)")
    ap.add_argument("--no-raw", action="store_true", help="skip the raw aiokafka ceiling")
    ap.add_argument("--maxbytes", type=int, default=64 * 1024 * 1024,
                    help="bufferflush.maxbytes (default 67108864, the configuration's minimum)")
    ap.add_argument("--flush-rows", type=int, default=10_000_000, help="sinkapp.flush.max.rows (default 10000000)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra worker setting (repeatable), e.g. --set tasks.max=2")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds one run may take (default 900)")
    ap.add_argument("--stall-timeout", type=float, default=120.0,
                    help="fail a sinkapp run when no new row is visible for this long (default 120 s)")
    ap.add_argument("--work", type=Path, help="work directory (default: a new one under the temp dir)")
    ap.add_argument("--json-out", type=Path, metavar="FILE", help="write every run and the medians as JSON")
    ap.add_argument("--raw-child", nargs=4, help=argparse.SUPPRESS)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.raw_child:
        bootstrap, topic, group, n = args.raw_child
        raw_child(bootstrap, topic, group, int(n))
        return 0
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if not formats or any(f not in FORMATS for f in formats):
        raise SystemExit(f"--formats: choose from {', '.join(FORMATS)}")
    rounds = args.rounds or (1 if args.quick else 3)
    records = parse_records(args.records, formats, args.quick)
    two_workers = args.two_workers and "json" in formats
    if "json" not in formats and (not args.no_raw or args.bare_faust):
        records["json"] = parse_records(args.records, ["json"], args.quick)["json"]   # baselines read json

    from sinkapp.testing.kafka import LocalKafka

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))    # clean up broker and emulators on kill
    work = args.work or Path(tempfile.mkdtemp(prefix="sinkapp-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work dir {work}", flush=True)
    kafka = LocalKafka(home=work / "kafka")
    kafka.start()
    emu: Emulator | None = None
    registry: subprocess.Popen[str] | None = None
    results: list[Result] = []
    try:
        emu = Emulator(work)
        registry_url = None
        if "avro" in formats:
            registry = subprocess.Popen([sys.executable, "-m", "sinkapp.testing.registry", "--port", "0"],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work)
            assert registry.stdout is not None
            line = registry.stdout.readline().strip()
            if "listening on " not in line:
                raise RuntimeError(f"the Schema Registry emulator did not start: {line}")
            registry_url = line.rsplit(" ", 1)[1]
        topics = {f: f"bench-{f}" for f in records}
        sizes = {}
        for fmt, n in records.items():
            kafka.create_topic(topics[fmt], partitions=args.partitions)
            t = time.monotonic()
            if fmt == "avro":
                assert registry_url is not None
                values = avro_values(n, register_avro(registry_url, f"{topics[fmt]}-value"))
            else:
                values = json_values(n) if fmt in ("json", "json-chain") else csv_values(n)
            count, nbytes = asyncio.run(produce(kafka.bootstrap_servers, topics[fmt], values, args.partitions))
            sizes[fmt] = nbytes / max(1, count)
            print(f"produced {count:,} {fmt} records to {topics[fmt]} ({nbytes / 1e6:.1f} MB, "
                  f"{sizes[fmt]:.0f} B/record) in {time.monotonic() - t:.1f} s", flush=True)
        b = Bench(args, work, kafka.bootstrap_servers, emu, registry_url, topics, records)
        print(f"rounds={rounds} partitions={args.partitions} maxbytes={args.maxbytes} "
              f"flush.max.rows={args.flush_rows} intervalms=1000 formats={','.join(formats)}\n", flush=True)
        raw_rows_s: float | None = None
        for rnd in range(1, rounds + 1):
            raw_rows_s = None
            if not args.no_raw:
                r = run_raw(b, rnd)
                results.append(r)
                raw_rows_s = r.rows_s if r.ok else None
                print(r.line(None), flush=True)
            if args.bare_faust:
                results.append(run_bare_faust(b, rnd))
                print(results[-1].line(raw_rows_s), flush=True)
            for fmt in formats:
                results.append(run_sinkapp(b, fmt, rnd))
                print(results[-1].line(raw_rows_s), flush=True)
        if two_workers:
            results.append(run_sinkapp(b, "json", 0, workers=2))
            print(results[-1].line(raw_rows_s), flush=True)
    finally:
        if registry is not None:
            registry.terminate()
            registry.wait(10)
            if registry.stdout is not None:
                registry.stdout.close()
        if emu is not None:
            emu.stop()
        kafka.stop()
        shutil.rmtree(work / "kafka", ignore_errors=True)   # GBs of topic data; worker logs stay
    table = medians(results)
    print(f"\nmedians of {rounds} round(s) (records: "
          + ", ".join(f"{f} {n:,}" for f, n in records.items()) + "):")
    print_table(table)
    print("\nend to end: sinkapp from worker Popen to the N-th row visible (emulator timeline); raw aiokafka "
          "from consumer construction to the N-th record; steady: 10 %→90 % of N (- when less than "
          f"{MIN_STEADY_S:g} s apart: N too small); CPU: the consumer process's user+system / N; two workers: "
          "CPU and RSS summed.")
    if args.json_out:
        args.json_out.write_text(json.dumps({
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "records": records, "rounds": rounds, "runs": [r.to_dict() for r in results], "medians": table,
        }, indent=2))
        print(f"raw results written to {args.json_out}")
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"\n{len(failed)} run(s) failed: " + "; ".join(f"{r.consumer} round {r.round}: {r.error}"
                                                            for r in failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
