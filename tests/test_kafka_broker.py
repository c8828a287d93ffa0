"""The local Apache Kafka broker (sinkapp_testkit.kafka) is real and usable by aiokafka and Faust.

Uses the session ``kafka`` broker from conftest.py; the CLI, restart and error-path tests start
brokers of their own in tmp dirs and always stop them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed
from sinkapp_testkit.kafka import LocalKafka, fetch, find_java, read_state

from sinkapp.errors import InfraError

pytestmark = pytest.mark.kafka


# -- helpers ------------------------------------------------------------------------------------

async def produce(bootstrap: str, topic: str, n: int, **client: Any) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, **client)
    await producer.start()
    try:
        futures = [await producer.send(topic, f"v{i}".encode(), key=f"k{i}".encode()) for i in range(n)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def group_offsets(bootstrap: str, group: str, topic: str,
                        partitions: int) -> tuple[dict[int, int], dict[int, int]]:
    """(committed offsets of ``group``, end offsets), by partition, from fresh clients."""
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = {tp.partition: meta.offset
                     for tp, meta in (await admin.list_consumer_group_offsets(group, partitions=tps)).items()
                     if meta.offset >= 0}
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = {tp.partition: off for tp, off in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()
    return committed, ends


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sinkapp_testkit.kafka", *args],
                          capture_output=True, text=True, timeout=120)


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# -- the session broker -------------------------------------------------------------------------

async def test_produce_consume_commit_on_three_partitions(kafka: Any, topic_factory: Any) -> None:
    topic = topic_factory(partitions=3)
    n = 3000
    await produce(kafka.bootstrap_servers, topic, n)

    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka.bootstrap_servers, group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    seen: list[bytes] = []
    partitions_seen: set[int] = set()
    try:
        deadline = time.monotonic() + 30
        while len(seen) < n and time.monotonic() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                partitions_seen.add(tp.partition)
                seen += [r.value for r in records]
        await consumer.commit()
    finally:
        await consumer.stop()

    assert sorted(seen) == sorted(f"v{i}".encode() for i in range(n))
    assert partitions_seen == {0, 1, 2}
    committed, ends = await group_offsets(kafka.bootstrap_servers, group, topic, 3)
    assert committed == ends
    assert sum(ends.values()) == n


@pytest.fixture
def sasl_broker(kafka: Any, tmp_path: Path) -> Iterator[Any]:
    """The session broker when it has a SASL listener, else a LocalKafka of this test's own."""
    if kafka.sasl_port:
        yield kafka
        return
    with LocalKafka(home=tmp_path / "sasl-kafka", sasl_port=0) as own:
        yield own


async def test_sasl_plaintext_plain_right_and_wrong_credentials(sasl_broker: Any) -> None:
    topic = f"sasl-{uuid.uuid4().hex[:8]}"
    await sasl_broker.acreate_topic(topic)
    try:
        await _check_sasl(sasl_broker.sasl_bootstrap_servers, topic)
    finally:
        await sasl_broker.adelete_topic(topic)


async def _check_sasl(addr: str, topic: str) -> None:
    alice = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
             "sasl_plain_username": "alice", "sasl_plain_password": "alice-secret"}
    await produce(addr, topic, 10, **alice)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=addr, auto_offset_reset="earliest", **alice)
    await consumer.start()
    try:
        got: list[bytes] = []
        deadline = time.monotonic() + 20
        while len(got) < 10 and time.monotonic() < deadline:
            got += [r.value for rs in (await consumer.getmany(timeout_ms=500)).values() for r in rs]
    finally:
        await consumer.stop()
    assert sorted(got) == sorted(f"v{i}".encode() for i in range(10))

    host, port = addr.rsplit(":", 1)
    for user, password in (("alice", "wrong"), ("mallory", "alice-secret")):
        with pytest.raises(SaslAuthenticationFailed, match="Invalid username or password"):
            await create_conn(host, int(port), security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                              sasl_plain_username=user, sasl_plain_password=password)
    producer = AIOKafkaProducer(bootstrap_servers=addr, request_timeout_ms=5000,
                                **dict(alice, sasl_plain_password="wrong"))
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()


FAUST_APP = textwrap.dedent('''
    """A minimal Faust app for test_faust_worker_consumes_and_commits; configured by env."""
    import os

    import faust

    app = faust.App(
        os.environ["PROBE_APP_ID"],
        broker="kafka://" + os.environ["PROBE_BOOTSTRAP"],
        store="memory://",
        web_enabled=False,
        topic_allow_declare=False,
        topic_disable_leader=True,
        broker_commit_interval=0.5,
    )
    source = app.topic(os.environ["PROBE_TOPIC"], value_type=bytes, value_serializer="raw")


    @app.agent(source)
    async def record(stream):
        with open(os.environ["PROBE_OUT"], "a") as out:
            async for events in stream.noack_take(100, within=0.5):
                out.write("".join(event.value.decode() + "\\n" for event in events))
                out.flush()
                for event in events:
                    await stream.ack(event)
''')


def test_faust_worker_consumes_and_commits(kafka: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=3)
    n = 1000
    asyncio.run(produce(kafka.bootstrap_servers, topic, n))
    app_id = f"faust-probe-{uuid.uuid4().hex[:8]}"
    (tmp_path / "probe_app.py").write_text(FAUST_APP)
    out, log_path = tmp_path / "seen.txt", tmp_path / "worker.log"
    env = dict(os.environ, PYTHONPATH=str(tmp_path), PROBE_APP_ID=app_id, PROBE_TOPIC=topic,
               PROBE_BOOTSTRAP=kafka.bootstrap_servers, PROBE_OUT=str(out))
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "faust", "-A", "probe_app", "worker", "-l", "info", "--without-web"],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        committed: dict[int, int] = {}
        ends: dict[int, int] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            lines = out.read_text().splitlines() if out.exists() else []
            if len(lines) >= n:
                committed, ends = asyncio.run(group_offsets(kafka.bootstrap_servers, app_id, topic, 3))
                if committed == ends:
                    break
            time.sleep(0.3)
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
        assert worker.poll() is None, f"faust worker exited with {worker.returncode}\n{tail}"
        lines = out.read_text().splitlines() if out.exists() else []
        assert sorted(lines) == sorted(f"v{i}" for i in range(n)), f"agent saw {len(lines)} of {n}\n{tail}"
        assert committed == ends and sum(ends.values()) == n, f"committed {committed} != end {ends}\n{tail}"
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


# -- brokers of their own -----------------------------------------------------------------------

def test_cli_start_twice_names_the_running_broker_then_stops(tmp_path: Path) -> None:
    home = tmp_path / "cli-kafka"
    first = run_cli("start", "--home", str(home))
    try:
        assert first.returncode == 0, first.stdout + first.stderr
        state = read_state(home)
        assert state is not None
        assert f"bootstrap  {state.bootstrap_servers}" in first.stdout
        assert f"pid        {state.pid}" in first.stdout

        second = run_cli("start", "--home", str(home))
        assert second.returncode != 0
        assert "already running" in second.stderr
        assert f"pid {state.pid}" in second.stderr and state.bootstrap_servers in second.stderr

        status = run_cli("status", "--home", str(home))
        assert status.returncode == 0 and state.bootstrap_servers in status.stdout
    finally:
        stop = run_cli("stop", "--home", str(home))
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert not pid_alive(state.pid)
    assert read_state(home) is None
    assert run_cli("status", "--home", str(home)).returncode == 1


async def test_restart_keeps_port_and_data(tmp_path: Path) -> None:
    broker = LocalKafka(home=tmp_path / "restart-kafka")
    try:
        await asyncio.to_thread(broker.start)
        bootstrap, first_pid = broker.bootstrap_servers, broker.pid
        await broker.acreate_topic("kept", partitions=2)
        await produce(bootstrap, "kept", 20)

        await asyncio.to_thread(broker.restart)
        assert broker.bootstrap_servers == bootstrap and broker.pid != first_pid
        assert first_pid is not None and not pid_alive(first_pid)
        consumer = AIOKafkaConsumer("kept", bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        try:
            got: list[bytes] = []
            deadline = time.monotonic() + 20
            while len(got) < 20 and time.monotonic() < deadline:
                got += [r.value for rs in (await consumer.getmany(timeout_ms=500)).values() for r in rs]
        finally:
            await consumer.stop()
        assert sorted(got) == sorted(f"v{i}".encode() for i in range(20))
    finally:
        await asyncio.to_thread(broker.stop)
    assert not broker.state_path.exists()


def test_port_in_use_fails_with_log_tail(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        broker = LocalKafka(home=tmp_path / "busy-kafka", port=blocker.getsockname()[1])
        with pytest.raises(InfraError, match=r"(?s)exited with code.*first error.*Address already in use.*last 30 lines"):
            broker.start(timeout_s=60)
    assert broker.pid is None


def test_start_timeout_names_the_wait_and_shows_the_log(tmp_path: Path) -> None:
    broker = LocalKafka(home=tmp_path / "slow-kafka")
    with pytest.raises(InfraError, match=r"(?s)did not come up within 0.5s.*last 30 lines ---\n.+"):
        broker.start(timeout_s=0.5)
    assert broker.pid is None and not broker.state_path.exists()


def test_maven_failure_shows_its_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    not_a_dir = tmp_path / "repo-is-a-file"
    not_a_dir.write_text("")
    monkeypatch.setenv("MAVEN_OPTS", f"-Dmaven.repo.local={not_a_dir}")
    with pytest.raises(InfraError, match=r"(?s)Maven could not fetch Kafka .*exit [1-9].*last lines of mvn output"):
        fetch(tmp_path / "libs")
    assert not (tmp_path / "libs").exists()


def test_missing_java_and_maven_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(InfraError, match="install a Java 17\\+ JDK, e.g. apt-get install openjdk-17-jre-headless"):
        find_java()
    with pytest.raises(InfraError, match=r"Maven \(mvn\) not found"):
        fetch(tmp_path / "libs")
