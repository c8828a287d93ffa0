"""The consumers under test, as processes: sinkapp workers and the Java connector in Kafka Connect.

Both read the same connector config (config/connector-json.json, the keys both take) with the
topic, endpoint, credentials and flush settings of the run put in; both implement
:class:`~.harness.Consumer` (``start``, ``stop``, ``procs``, ``logs``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .harness import DB, ROOT, TABLE

CSV_COLUMNS = "ordertime,orderid,itemid,orderunits,city,state,zipcode"
#: json-chain: the JSON route with three transforms (decode, transform, encode per row instead of
#: passing the record's bytes through); none of them drops or renames what the jsonpaths read
CHAIN = {"transforms": "stamp,trim,keep",
         "transforms.stamp.type": "InsertField", "transforms.stamp.static.field": "source",
         "transforms.stamp.static.value": "bench",
         "transforms.trim.type": "ReplaceField", "transforms.trim.exclude": "not_a_field",
         "transforms.keep.type": "Filter", "transforms.keep.field": "$.orderid", "transforms.keep.exists": "false"}
JAVA_CLASS = "com.starrocks.connector.kafka.StarRocksSinkConnector"


@dataclass
class Flush:
    """The flush settings both consumers get (sinkapp.flush.max.rows: sinkapp only)."""
    intervalms: int = 1000
    maxbytes: int = 64 * 1024 * 1024
    max_rows: int = 10_000_000


def base_config(fmt: str, topics: list[str], fe: str, flush: Flush) -> dict[str, str]:
    """connector-json.json (connector-avro.json for avro) for ``topics`` → test.test123."""
    base = "connector-avro.json" if fmt == "avro" else "connector-json.json"
    cfg: dict[str, str] = json.loads((ROOT / "config" / base).read_text())
    cfg.update({"topics": ",".join(topics), "starrocks.topic2table.map": ",".join(f"{t}:{TABLE}" for t in topics),
                "starrocks.http.url": fe, "starrocks.username": "root", "starrocks.password": "",
                "starrocks.database.name": DB, "bufferflush.intervalms": str(flush.intervalms),
                "bufferflush.maxbytes": str(flush.maxbytes)})
    if fmt == "csv":
        for key in ("sink.properties.jsonpaths", "sink.properties.strip_outer_array",
                    "value.converter.schemas.enable"):
            cfg.pop(key, None)
        cfg.update({"value.converter": "org.apache.kafka.connect.storage.StringConverter",
                    "sink.properties.format": "csv", "sink.properties.column_separator": ",",
                    "sink.properties.columns": CSV_COLUMNS})
    if fmt == "json-chain":
        cfg.update(CHAIN)
    return cfg


def sinkapp_config(fmt: str, topics: list[str], fe: str, bootstrap: str, group: str, flush: Flush,
                   sets: list[str]) -> dict[str, str]:
    cfg = base_config(fmt, topics, fe, flush)
    cfg.update({"bootstrap.servers": bootstrap, "group.id": group, "sinkapp.flush.max.rows": str(flush.max_rows),
                # labels derive from topic/partition/offsets: a new prefix per run, or the emulator
                # answers Label Already Exists for offsets an earlier run loaded (exactly-once)
                "sinkapp.label.prefix": f"b{uuid.uuid4().hex[:8]}"})
    for item in sets:
        key, _, value = item.partition("=")
        cfg[key] = value
    return cfg


class SinkappWorkers:
    """``workers`` × ``python -m sinkapp.cli worker --config c.json`` in one consumer group (each with
    ``--processes N`` when ``processes`` > 1: one parent, N child workers, all in that group)."""

    def __init__(self, name: str, run_dir: Path, cfg: dict[str, Any], workers: int = 1,
                 env: dict[str, str] | None = None, processes: int = 1) -> None:
        self.name, self.run_dir, self.cfg, self.workers = name, run_dir, cfg, workers
        self.processes = processes
        self.env = {**os.environ, **(env or {})}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self) -> None:
        for i in range(self.workers):
            d = self.run_dir / f"w{i}"
            d.mkdir(parents=True)
            (d / "c.json").write_text(json.dumps(self.cfg, indent=2))
            self.logs.append(d / "worker.log")
            with open(self.logs[-1], "wb") as log:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "sinkapp.cli", "worker", "--config", str(d / "c.json"),
                     "--without-web", "-l", "info", "--datadir", str(d / "data"),
                     *(["--processes", str(self.processes)] if self.processes > 1 else [])],
                    stdout=log, stderr=subprocess.STDOUT, cwd=d, env=self.env))

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def java_config(name: str, topics: list[str], fe: str, flush: Flush, tasks: int = 1) -> dict[str, str]:
    """connector.properties: the keys of connector-json.json unchanged but for topics, URL,
    credentials and the flush settings (peers/README.md)."""
    return {"name": name, "connector.class": JAVA_CLASS, "tasks.max": str(tasks),
            **base_config("json", topics, fe, flush)}


class JavaConnector:
    """The Java starrocks-kafka-connector in one Kafka Connect standalone worker."""

    def __init__(self, name: str, run_dir: Path, plugin: Path, bootstrap: str, connector: dict[str, str]) -> None:
        from sinkapp_testkit.connect.standalone import ConnectStandalone
        self.name = name
        self.connect = ConnectStandalone(run_dir, plugin, bootstrap, connector)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs = [self.connect.log]

    def start(self) -> None:
        self.procs.append(self.connect.start())

    def stop(self) -> None:
        self.connect.stop()


def java_name(tasks: int) -> str:
    return f"java connector (tasks.max={tasks})"
