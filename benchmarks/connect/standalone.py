"""One Kafka Connect standalone worker JVM running a connector plugin, as Kafka's
``bin/connect-standalone.sh worker.properties connector.properties`` would run it.

Its run directory holds ``worker.properties``, ``connector.properties``, ``log4j2.properties``,
``connect.offsets`` (the standalone offset store), ``plugins/<name>`` (a link to the plugin
directory, so ``plugin.path`` scans only it) and ``connect.log`` (everything the JVM prints).
The sink's consumer group is ``connect-<connector name>``.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from sinkapp.errors import InfraError
from sinkapp.testing.kafka.jars import find_java
from sinkapp.testing.kafka.process import die_with_parent, free_port

from .jars import MAIN, fetch

RELEASES = "https://github.com/StarRocks/starrocks-connector-for-kafka/releases"
#: KAFKA_HEAP_OPTS of connect-standalone.sh and KAFKA_JVM_PERFORMANCE_OPTS of kafka-run-class.sh
JVM_OPTS = ["-Xms256M", "-Xmx2G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
            "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true"]
LOG4J2 = """\
# Written by benchmarks/connect: INFO to stdout (connect.log), as Kafka's connect-log4j2 does.
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
    """``ConnectStandalone`` with one connector; :meth:`start` returns at once (the JVM's start-up,
    plugin scan and group join are part of what a caller times)."""

    def __init__(self, run_dir: Path, plugin: Path, bootstrap: str, connector: dict[str, str]) -> None:
        self.run_dir, self.plugin, self.bootstrap = run_dir, plugin_dir(plugin), bootstrap
        self.connector = dict(connector)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = run_dir / "connect.log"

    @property
    def group(self) -> str:
        return f"connect-{self.connector['name']}"

    def worker_properties(self) -> dict[str, str]:
        conv = "org.apache.kafka.connect.json.JsonConverter"
        return {"bootstrap.servers": self.bootstrap,
                "key.converter": conv, "value.converter": conv,
                "key.converter.schemas.enable": "false", "value.converter.schemas.enable": "false",
                "offset.storage.file.filename": str(self.run_dir / "connect.offsets"),
                "offset.flush.interval.ms": "10000",
                "plugin.path": str(self.run_dir / "plugins"),
                "listeners": f"http://127.0.0.1:{free_port()}",
                "consumer.auto.offset.reset": "earliest"}

    def command(self) -> list[str]:
        libs = fetch()
        return [find_java(), *JVM_OPTS, f"-Dlog4j2.configurationFile={self.run_dir / 'log4j2.properties'}",
                "-cp", f"{libs}/*", MAIN, str(self.run_dir / "worker.properties"),
                str(self.run_dir / "connector.properties")]

    def start(self) -> subprocess.Popen[bytes]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        plugins = self.run_dir / "plugins"
        plugins.mkdir(exist_ok=True)
        link = plugins / self.plugin.name
        if not link.exists():
            link.symlink_to(self.plugin, target_is_directory=True)
        write_properties(self.run_dir / "worker.properties", self.worker_properties())
        write_properties(self.run_dir / "connector.properties", self.connector)
        (self.run_dir / "log4j2.properties").write_text(LOG4J2)
        cmd = self.command()
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.run_dir, preexec_fn=die_with_parent)
        return self.proc

    def stop(self, timeout_s: float = 60) -> None:
        """SIGTERM (Connect's shutdown hook stops the task), SIGKILL after ``timeout_s``."""
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
