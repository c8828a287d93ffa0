"""Shared pytest fixtures.

Kafka (this block is self-contained; add other fixtures below it):

* ``kafka`` (session): ONE real Apache Kafka broker for the whole run, started with
  :class:`sinkapp_testkit.kafka.LocalKafka` (PLAINTEXT plus a SASL_PLAINTEXT/PLAIN listener with
  user ``alice``/``alice-secret``), or the broker named by ``SINKAPP_TEST_BOOTSTRAP``. If the broker
  cannot start the fixture raises: Kafka tests fail, they are never skipped. Sync, so sync and
  async tests can both use it.
* ``topic_factory`` (function): ``topic_factory(partitions=1, name=None, config=None) -> str``
  creates a uniquely named topic (leaders elected) and deletes it after the test.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sinkapp_testkit.kafka import ExistingKafka, LocalKafka

KafkaBroker = LocalKafka | ExistingKafka
TopicFactory = Callable[..., str]


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    external = os.environ.get("SINKAPP_TEST_BOOTSTRAP")
    if external:
        yield ExistingKafka(external).wait_ready()
        return
    from sinkapp_testkit.tls import make_certs

    # PLAINTEXT, SASL_PLAINTEXT and SASL_SSL (PLAIN over TLS, a throwaway CA) listeners
    certs = make_certs(tmp_path_factory.mktemp("kafka-certs"), names=("127.0.0.1", "localhost"))
    broker = LocalKafka(home=tmp_path_factory.mktemp("kafka-session"), sasl_port=0, ssl_certs=certs)
    broker.start()  # InfraError here fails every test that needs Kafka
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def topic_factory(kafka: KafkaBroker, request: pytest.FixtureRequest) -> Iterator[TopicFactory]:
    created: list[str] = []
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:60]

    def make(partitions: int = 1, name: str | None = None, config: dict[str, str] | None = None) -> str:
        topic = name or f"{stem}-{uuid.uuid4().hex[:8]}"
        kafka.create_topic(topic, partitions=partitions, config=config)
        created.append(topic)
        return topic

    yield make
    for topic in created:
        kafka.delete_topic(topic)



@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    """One Stream Load emulator per test module (user root / pw, database test) for its workers.
    A module that needs other credentials defines its own ``emulator``."""
    from sinkapp_testkit.streamload import EmulatorThread

    with EmulatorThread(user="root", password="pw", databases=["test"]) as emu:
        yield emu


@pytest.fixture(scope="module")
def registry() -> Iterator[Any]:
    """One Schema Registry emulator per test module; tests register under their own subjects."""
    from sinkapp_testkit.registry import RegistryThread

    with RegistryThread() as sr:
        yield sr


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the broker is a ``kafka`` test, whether or not its module says so: the unit
    selection (``-m "not kafka"``, which .ci/run runs from a clone with nothing beside it) must not
    start one."""
    for item in items:
        if "kafka" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One PostgreSQL server (wal_level=logical) for the session's Debezium tests."""
    from sinkapp_testkit.postgres import LocalPostgres

    pg = LocalPostgres(tmp_path_factory.mktemp("postgres")).start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="session")
def debezium_connect(kafka: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Kafka Connect standalone worker with Debezium's PostgreSQL connector on its classpath, on a
    small heap, JSON converters with schemas (the Debezium default of the Java connector's docs); tests
    add and remove their connectors over its REST API."""
    from sinkapp_testkit.connect.jars import fetch_debezium
    from sinkapp_testkit.connect.standalone import ConnectStandalone

    connect = ConnectStandalone(
        tmp_path_factory.mktemp("debezium-connect"), None, kafka.bootstrap_servers, libs=fetch_debezium(),
        worker={"key.converter.schemas.enable": "true", "value.converter.schemas.enable": "true",
                "offset.flush.interval.ms": "1000"},
        jvm_opts=["-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true"])
    connect.start()
    try:
        connect.wait_rest()
        yield connect
    finally:
        connect.stop()
