"""The Kafka Connect runtime jars: fetched from Maven Central by ``connect-pom.xml``, cached once.

``python -m benchmarks.connect.jars`` (from the repository root) fetches them without running
anything; :func:`fetch` does the same on the first ``--java-plugin`` run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from sinkapp.errors import InfraError
from sinkapp.testing.kafka.jars import kafka_home, kafka_version

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
    version) and log4j2's slf4j binding unless present; return the directory.

    Like the broker's jars (sinkapp/testing/kafka/jars.py): into a staging sibling first, renamed
    into place only when Maven succeeded.
    """
    libs = libs or libs_dir()
    if jars_present(libs) and not force:
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError("Maven (mvn) not found on PATH: it is needed to fetch the Kafka Connect jars; "
                         "install it, e.g. apt-get install maven")
    libs.parent.mkdir(parents=True, exist_ok=True)
    staging = libs.with_name(f"{libs.name}.fetch-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    version = kafka_version()
    cmd = [mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(POM), f"-Dkafka.version={version}",
           "dependency:copy-dependencies", f"-DoutputDirectory={staging}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not any(staging.glob("connect-runtime-*.jar")):
        shutil.rmtree(staging, ignore_errors=True)
        out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
        raise InfraError(f"Maven could not fetch Kafka Connect {version} (exit {proc.returncode}): "
                         f"{' '.join(cmd)}\n--- last lines of mvn output ---\n"
                         + "\n".join(out.splitlines()[-40:]))
    _marker(staging).write_text(version + "\n")
    shutil.rmtree(libs, ignore_errors=True)
    try:
        staging.rename(libs)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not jars_present(libs):  # a concurrent fetch that finished first is fine
            raise
    return libs


if __name__ == "__main__":
    path = fetch(force="--force" in sys.argv[1:])
    print(f"Kafka Connect {kafka_version()} jars in {path} ({len(list(path.glob('*.jar')))} jars)")
