"""A real single-node Apache Kafka broker (KRaft, broker+controller in one JVM) on loopback.

Who calls what:

* ``tests/conftest.py`` starts one :class:`LocalKafka` for the whole pytest session
  (``kafka`` fixture) and creates throw-away topics with :meth:`LocalKafka.create_topic`.
* Developers, the demo and the benchmarks use the command line::

      python -m sinkapp_testkit.kafka fetch|start|stop|status     (or scripts/kafka, sinkapp kafka)

* ``.ci/run`` calls ``fetch`` so the jars are in place before pytest starts the broker, and
  ``stop --under DIR`` to clean up after a crashed run.

Everything is imported from here (``from sinkapp_testkit.kafka import LocalKafka``); the
modules split it by concern:

* :mod:`.jars`     -- locations (``$SINKAPP_KAFKA_HOME``, ``<repo>/.kafka``), the jar cache fetched
  through ``kafka-pom.xml`` (``mvn dependency:copy-dependencies``), the Java 17+ lookup;
* :mod:`.config`   -- server.properties, log4j2, the SASL/PLAIN users, KRaft storage format;
* :mod:`.broker`   -- :class:`LocalKafka`, the broker process from start to stop;
* :mod:`.process`  -- the ``run/broker.json`` state file, pid/port/signal helpers, log tails;
* :mod:`.acls`     -- :class:`Acl` bindings created/deleted on a broker with ``authorizer=True``;
* :mod:`.admin`    -- topic helpers (:class:`TopicAdmin`, :class:`ExistingKafka`) over aiokafka;
* :mod:`.cli`      -- ``main()``, behind ``python -m sinkapp_testkit.kafka``.

The jars are a cache shared by every broker (``<kafka home>/libs``, by default
``<repo>/.kafka/libs``); each broker's own files live in its *home*::

    <home>/config/server.properties, log4j2.properties
    <home>/data/                 KRaft metadata log and topic partitions (kept across restarts)
    <home>/logs/server.log       everything the JVM prints
    <home>/run/broker.json       pid, ports and bootstrap address while the broker runs

Every failure to provide the broker is raised as :class:`sinkapp.errors.InfraError` with a
message that says what to do.
"""

from __future__ import annotations

from .acls import Acl, acreate_acls, adelete_acls
from .admin import ExistingKafka, TopicAdmin, acreate_topic, adelete_topic
from .broker import LocalKafka
from .cli import main
from .config import DEFAULT_SASL_USERS
from .jars import POM, REPO_ROOT, fetch, find_java, jars_present, kafka_home, kafka_version, libs_dir
from .process import LOG_TAIL_LINES, BrokerAlreadyRunning, BrokerState, PortTaken, read_state

__all__ = [
    "Acl",
    "DEFAULT_SASL_USERS",
    "LOG_TAIL_LINES",
    "POM",
    "REPO_ROOT",
    "BrokerAlreadyRunning",
    "BrokerState",
    "ExistingKafka",
    "LocalKafka",
    "PortTaken",
    "TopicAdmin",
    "acreate_acls",
    "acreate_topic",
    "adelete_acls",
    "adelete_topic",
    "fetch",
    "find_java",
    "jars_present",
    "kafka_home",
    "kafka_version",
    "libs_dir",
    "main",
    "read_state",
]
