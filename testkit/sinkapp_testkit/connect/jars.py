"""Kafka Connect jars from Maven Central, cached once under the broker's home.

* :func:`fetch`: ``connect-pom.xml``, the Kafka Connect runtime at the broker's version, into
  ``<kafka home>/connect-libs`` (the Java starrocks-kafka-connector runs in it, as a plugin, in
  the benchmarks' ``--java-plugin`` runs).
* :func:`fetch_debezium`: ``debezium-pom.xml``, the Debezium PostgreSQL connector with the Connect
  runtime it is built for, into ``<kafka home>/debezium-libs`` (the Debezium tests).

``python -m sinkapp_testkit.connect.jars [--debezium] [--force]`` fetches them ahead
(``scripts/setup`` fetches both).
"""

from __future__ import annotations

import sys
from pathlib import Path

from sinkapp_testkit.kafka.jars import kafka_home, kafka_version, maven_fetch, pom_property

POM = Path(__file__).with_name("connect-pom.xml")
DEBEZIUM_POM = Path(__file__).with_name("debezium-pom.xml")
MAIN = "org.apache.kafka.connect.cli.ConnectStandalone"


def _present(libs: Path, marker: str, version: str) -> bool:
    path = libs / marker
    return path.exists() and path.read_text().strip() == version


def libs_dir() -> Path:
    """``<kafka home>/connect-libs``: ``$SINKAPP_KAFKA_HOME/connect-libs`` or ``.kafka/connect-libs``."""
    return kafka_home() / "connect-libs"


def fetch(libs: Path | None = None, *, force: bool = False) -> Path:
    """Download connect-runtime, connect-json, connect-api, connect-transforms (the broker's
    version) and log4j2's slf4j binding unless present; return the directory (fetched as the
    broker's jars are, see testkit/sinkapp_testkit/kafka/jars.py ``maven_fetch``)."""
    libs, version = libs or libs_dir(), kafka_version()
    if _present(libs, ".sinkapp-connect-version", version) and not force:
        return libs
    return maven_fetch(POM, libs, ".sinkapp-connect-version", "connect-runtime-*.jar", f"Kafka Connect {version}",
                       f"-Dkafka.version={version}")


def debezium_version() -> str:
    """The Debezium version pinned in debezium-pom.xml (its ``debezium.version`` property)."""
    return pom_property(DEBEZIUM_POM, "debezium.version")


def debezium_libs_dir() -> Path:
    """``<kafka home>/debezium-libs``."""
    return kafka_home() / "debezium-libs"


def fetch_debezium(libs: Path | None = None, *, force: bool = False) -> Path:
    """Download the Debezium PostgreSQL connector and its Connect runtime unless present."""
    libs, version = libs or debezium_libs_dir(), debezium_version()
    if _present(libs, ".sinkapp-debezium-version", version) and not force:
        return libs
    return maven_fetch(DEBEZIUM_POM, libs, ".sinkapp-debezium-version", "debezium-connector-postgres-*.jar",
                       f"Debezium {version}", version=version)


if __name__ == "__main__":
    force = "--force" in sys.argv[1:]
    if "--debezium" in sys.argv[1:]:
        path = fetch_debezium(force=force)
        print(f"Debezium {debezium_version()} and its Kafka Connect runtime in {path} "
              f"({len(list(path.glob('*.jar')))} jars)")
    else:
        path = fetch(force=force)
        print(f"Kafka Connect {kafka_version()} jars in {path} ({len(list(path.glob('*.jar')))} jars)")
