"""Where the broker's files live, the jar cache fetched from Maven Central, and the Java runtime.

Who calls what:

* :class:`~sinkapp_testkit.kafka.broker.LocalKafka` defaults its ``home``/``libs`` to
  :func:`kafka_home`/:func:`libs_dir` and, at every ``start()``, calls :func:`find_java` and
  :func:`fetch` (a no-op once the jars are present) before launching the JVM.
* ``python -m sinkapp_testkit.kafka fetch`` (``scripts/setup``, ``.ci/run``) calls
  :func:`fetch` so the jars are in place before pytest starts a broker; the CLI's other
  commands default ``--home`` to :func:`kafka_home`.
* :func:`kafka_version` (read from the pom, the single place the version is pinned) is stamped
  into server.log and ``run/broker.json`` by broker.py.

The jars come from ``kafka-pom.xml`` next to this file (``mvn dependency:copy-dependencies``)
into ``$SINKAPP_KAFKA_HOME/libs``, by default ``<repo>/.kafka/libs``; they are a cache shared by
every broker.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from sinkapp.errors import InfraError

from .process import LOG_TAIL_LINES, tail_text

POM = Path(__file__).with_name("kafka-pom.xml")
REPO_ROOT = Path(__file__).resolve().parents[3]
_JAVA_HINT = "install a Java 17+ JDK, e.g. apt-get install openjdk-17-jre-headless"


def pom_property(pom: Path, name: str) -> str:
    """A ``<properties>`` value of a pom (where a version is pinned)."""
    node = ET.parse(pom).getroot().find(f"m:properties/m:{name}", {"m": "http://maven.apache.org/POM/4.0.0"})
    if node is None or not (node.text or "").strip():
        raise InfraError(f"{pom} has no <{name}> property")
    return (node.text or "").strip()


def kafka_version() -> str:
    """The Kafka version pinned in kafka-pom.xml (its ``kafka.version`` property)."""
    return pom_property(POM, "kafka.version")


def kafka_home() -> Path:
    """``$SINKAPP_KAFKA_HOME``, else ``.kafka/`` at the repository root (git-ignored)."""
    env = os.environ.get("SINKAPP_KAFKA_HOME")
    if env:
        return Path(env).expanduser().resolve()
    root = REPO_ROOT if (REPO_ROOT / "pyproject.toml").exists() else Path.cwd()
    return root / ".kafka"


def libs_dir() -> Path:
    """Where the broker jars are cached: ``kafka_home()/libs``."""
    return kafka_home() / "libs"


def _marker(libs: Path) -> Path:
    return libs / ".sinkapp-kafka-version"


def jars_present(libs: Path | None = None) -> bool:
    """True when ``libs`` holds a complete fetch of the pinned version."""
    libs = libs or libs_dir()
    marker = _marker(libs)
    return marker.exists() and marker.read_text().strip() == kafka_version()


def fetch(libs: Path | None = None, *, force: bool = False) -> Path:
    """Download the broker jars with Maven unless they are already there; return the directory."""
    libs = libs or libs_dir()
    if jars_present(libs) and not force:
        return libs
    return maven_fetch(POM, libs, _marker(libs).name, "kafka_2.13-*.jar", f"Kafka {kafka_version()}")


def maven_fetch(pom: Path, libs: Path, marker: str, expect: str, what: str, *args: str,
                version: str | None = None) -> Path:
    """``mvn dependency:copy-dependencies`` of ``pom`` into ``libs`` (also the Kafka Connect and
    Debezium jars, testkit/sinkapp_testkit/connect). Jars land in a temporary sibling directory first and
    replace ``libs`` only when Maven succeeded and a jar matching ``expect`` is there, so an
    interrupted fetch never leaves a half-filled cache behind; ``marker`` (a file in ``libs``) then
    holds ``version`` (default: the broker's)."""
    version = version or kafka_version()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError(f"Maven (mvn) not found on PATH: it is needed to fetch the {what} jars; "
                         "install it, e.g. apt-get install maven")
    libs.parent.mkdir(parents=True, exist_ok=True)
    staging = libs.with_name(f"{libs.name}.fetch-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(pom), *args,
           "dependency:copy-dependencies", f"-DoutputDirectory={staging}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not any(staging.glob(expect)):
        shutil.rmtree(staging, ignore_errors=True)
        tail = tail_text(re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr), LOG_TAIL_LINES)
        raise InfraError(f"Maven could not fetch {what} (exit {proc.returncode}): "
                         f"{' '.join(cmd)}\n--- last lines of mvn output ---\n{tail}")
    (staging / marker).write_text(version + "\n")
    shutil.rmtree(libs, ignore_errors=True)
    try:
        staging.rename(libs)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        marked = libs / marker
        if not (marked.exists() and marked.read_text().strip() == version):
            raise                            # a concurrent fetch that finished first is fine
    return libs


def find_java() -> str:
    """Path of a Java 17+ ``java`` ($JAVA_HOME first, then PATH) or InfraError."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    java = str(candidate) if candidate and candidate.exists() else shutil.which("java")
    if java is None:
        raise InfraError(f"java not found (neither $JAVA_HOME/bin/java nor on PATH): {_JAVA_HINT}")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8.0_..." style
        major = int(match.group(2))
    if major < 17:
        raise InfraError(f"{java} is Java {major or '?'}, Kafka {kafka_version()} needs 17+: {_JAVA_HINT}")
    return java
