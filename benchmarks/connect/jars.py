"""The Kafka Connect runtime jars: fetched from Maven Central by ``connect-pom.xml``, cached once.

``python -m benchmarks.connect.jars`` (from the repository root) fetches them without running
anything; :func:`fetch` does the same on the first ``--java-plugin`` run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sinkapp.testing.kafka.jars import kafka_home, kafka_version, maven_fetch

POM = Path(__file__).with_name("connect-pom.xml")
MAIN = "org.apache.kafka.connect.cli.ConnectStandalone"


def libs_dir() -> Path:
    """``<kafka home>/connect-libs``: ``$SINKAPP_KAFKA_HOME/connect-libs`` or ``.kafka/connect-libs``."""
    return kafka_home() / "connect-libs"


def _marker(libs: Path) -> Path:
    return libs / ".sinkapp-connect-version"


def jars_present(libs: Path | None = None) -> bool:
    libs = libs or libs_dir()
    marker = _marker(libs)
    return marker.exists() and marker.read_text().strip() == kafka_version()


def fetch(libs: Path | None = None, *, force: bool = False) -> Path:
    """Download connect-runtime, connect-json, connect-api, connect-transforms (the broker's
    version) and log4j2's slf4j binding unless present; return the directory (fetched as the
    broker's jars are, see sinkapp/testing/kafka/jars.py ``maven_fetch``)."""
    libs = libs or libs_dir()
    if jars_present(libs) and not force:
        return libs
    version = kafka_version()
    return maven_fetch(POM, libs, _marker(libs).name, "connect-runtime-*.jar", f"Kafka Connect {version}",
                       f"-Dkafka.version={version}")


if __name__ == "__main__":
    path = fetch(force="--force" in sys.argv[1:])
    print(f"Kafka Connect {kafka_version()} jars in {path} ({len(list(path.glob('*.jar')))} jars)")
