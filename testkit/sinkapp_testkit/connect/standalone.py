"""One Kafka Connect standalone worker JVM running connectors, as Kafka's
``bin/connect-standalone.sh worker.properties connector.properties`` would run it.

Its run directory holds ``worker.properties``, ``connector.properties``, ``log4j2.properties``,
``connect.offsets`` (the standalone offset store), ``plugins/<name>`` (a link to the plugin
directory, so ``plugin.path`` scans only it) and ``connect.log`` (everything the JVM prints).
The sink's consumer group is ``connect-<connector name>``.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from sinkapp.errors import InfraError
from sinkapp_testkit.kafka.jars import find_java
from sinkapp_testkit.kafka.process import die_with_parent, free_port, stop_child, tail_file

from .jars import MAIN, fetch

RELEASES = "https://github.com/StarRocks/starrocks-connector-for-kafka/releases"
#: KAFKA_HEAP_OPTS of connect-standalone.sh and KAFKA_JVM_PERFORMANCE_OPTS of kafka-run-class.sh
JVM_OPTS = ["-Xms256M", "-Xmx2G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
            "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true"]
LOG4J2 = """\
# Written by testkit/sinkapp_testkit/connect: INFO to stdout (connect.log), as Kafka's connect-log4j2 does.
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c:%L)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
"""


def plugin_dir(path: Path, jar_glob: str = "starrocks*kafka*.jar") -> Path:
    """The directory holding the connector jar (``jar_glob``) and its dependencies: ``path`` itself
    or the one directory below it that holds it (a release archive unpacks into one folder)."""
    path = path.expanduser().resolve()
    if not path.is_dir():
        raise InfraError(f"--java-plugin {path}: not a directory (get the connector from {RELEASES})")
    if any(path.glob(jar_glob)):
        return path
    found = sorted({jar.parent for depth in ("*/", "*/*/") for jar in path.glob(depth + jar_glob)})
    if len(found) == 1:
        return found[0]
    what = f"several directories with {jar_glob}: {', '.join(map(str, found))}" if found else f"no {jar_glob} in it"
    raise InfraError(f"--java-plugin {path}: {what} (a Kafka Connect plugin directory holds the connector jar "
                     f"and its dependencies; get one from {RELEASES})")


def _escape(value: str) -> str:
    """A .properties value: backslashes, line breaks and leading blanks escaped."""
    out = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "\\" + out if out[:1] in (" ", "\t") else out


def write_properties(path: Path, props: dict[str, str]) -> None:
    path.write_text("".join(f"{k}={_escape(str(v))}\n" for k, v in props.items()))


class ConnectStandalone:
    """``ConnectStandalone`` with its connectors; :meth:`start` returns at once (the JVM's start-up,
    plugin scan and group join are part of what a caller times).

    ``plugin`` is a plugin directory (the Java starrocks-kafka-connector of the benchmarks) linked
    under ``plugins/``; without one, the connector classes are on ``libs`` (the classpath, default
    the broker's Connect runtime; the Debezium tests give :func:`~.jars.fetch_debezium`'s).
    ``worker`` overrides worker.properties keys. Connectors can also be added and removed while it
    runs, over its REST API (:meth:`put_connector`, :meth:`delete_connector`)."""

    def __init__(self, run_dir: Path, plugin: Path | None, bootstrap: str, connector: dict[str, str] | None = None,
                 *, libs: Path | None = None, worker: dict[str, str] | None = None,
                 jvm_opts: list[str] | None = None) -> None:
        self.run_dir, self.bootstrap = run_dir, bootstrap
        self.plugin = plugin_dir(plugin) if plugin is not None else None
        self.connector = dict(connector) if connector else None
        self.libs, self.worker_overrides = libs, dict(worker or {})
        self.jvm_opts = list(jvm_opts or JVM_OPTS)
        self.rest_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = run_dir / "connect.log"

    @property
    def group(self) -> str:
        assert self.connector is not None
        return f"connect-{self.connector['name']}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def worker_properties(self) -> dict[str, str]:
        conv = "org.apache.kafka.connect.json.JsonConverter"
        return {"bootstrap.servers": self.bootstrap,
                "key.converter": conv, "value.converter": conv,
                "key.converter.schemas.enable": "false", "value.converter.schemas.enable": "false",
                "offset.storage.file.filename": str(self.run_dir / "connect.offsets"),
                "offset.flush.interval.ms": "10000",
                "plugin.path": str(self.run_dir / "plugins"),
                "listeners": self.rest_url,
                "consumer.auto.offset.reset": "earliest",
                **self.worker_overrides}

    def command(self) -> list[str]:
        libs = self.libs or fetch()
        files = [str(self.run_dir / "worker.properties")]
        if self.connector is not None:
            files.append(str(self.run_dir / "connector.properties"))
        return [find_java(), *self.jvm_opts, f"-Dlog4j2.configurationFile={self.run_dir / 'log4j2.properties'}",
                "-cp", f"{libs}/*", MAIN, *files]

    def start(self) -> subprocess.Popen[bytes]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        plugins = self.run_dir / "plugins"
        plugins.mkdir(exist_ok=True)
        if self.plugin is not None and not (plugins / self.plugin.name).exists():
            (plugins / self.plugin.name).symlink_to(self.plugin, target_is_directory=True)
        write_properties(self.run_dir / "worker.properties", self.worker_properties())
        if self.connector is not None:
            write_properties(self.run_dir / "connector.properties", self.connector)
        (self.run_dir / "log4j2.properties").write_text(LOG4J2)
        cmd = self.command()
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.run_dir, preexec_fn=die_with_parent)
        return self.proc

    def _rest(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.rest_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read()
        return json.loads(text) if text else None

    def wait_rest(self, timeout_s: float = 120) -> None:
        """Wait until the REST API answers (the worker has started and joined its Kafka topics)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise InfraError(f"Kafka Connect exited ({self.proc.returncode}); {self.log}:\n{tail_file(self.log)}")
            try:
                self._rest("GET", "/connectors")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise InfraError(f"Kafka Connect's REST API did not answer on {self.rest_url} within "
                                     f"{timeout_s:g} s; {self.log}:\n{tail_file(self.log)}") from None
                time.sleep(0.2)

    def put_connector(self, name: str, config: dict[str, str]) -> None:
        """Create or reconfigure a connector (``PUT /connectors/{name}/config``)."""
        self._rest("PUT", f"/connectors/{name}/config", {"name": name, **config})

    def delete_connector(self, name: str) -> None:
        self._rest("DELETE", f"/connectors/{name}")

    def task_states(self, name: str) -> list[dict[str, Any]]:
        """``GET /connectors/{name}/status``'s tasks: ``state`` RUNNING / FAILED (with ``trace``)."""
        try:
            return list(self._rest("GET", f"/connectors/{name}/status").get("tasks") or [])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise

    def stop(self, timeout_s: float = 60) -> None:
        """SIGTERM (Connect's shutdown hook stops the task), SIGKILL after ``timeout_s``."""
        stop_child(self.proc, timeout_s)
