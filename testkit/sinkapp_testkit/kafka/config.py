"""What a broker home is configured with: server.properties, log4j2, SASL/PLAIN users, KRaft storage.

Who calls what:

* ``LocalKafka.__init__`` (broker.py) checks its PLAIN user names with
  :func:`check_sasl_user_names`; ``DEFAULT_SASL_USERS`` is who the SASL listener accepts when
  no users are given (the tests log in as ``alice``).
* ``LocalKafka._launch`` runs, at every start and before the JVM: :func:`write_config`
  (``<home>/config/server.properties`` and ``log4j2.properties`` are rewritten each time, so
  the ports chosen for this start are the ones configured), then :func:`format_storage`
  (``kafka.tools.StorageTool format`` with a fresh cluster id, only while ``<home>/data`` has
  no ``meta.properties``; restarts keep the data), then builds the broker's own command line
  with :func:`java_cmd`; ``LocalKafka._wait_ready`` then expects the broker to report the
  cluster id :func:`read_cluster_id` finds in ``<home>/data/meta.properties``.

The broker is one KRaft JVM that is both broker and controller (node 1) on 127.0.0.1: a
PLAINTEXT listener, a CONTROLLER listener and, when a SASL port is set, a SASL_PLAINTEXT
listener whose PLAIN users live in an inline JAAS config. Internal topics have replication
factor 1 and fewer partitions than Kafka's defaults so the first consumer group starts fast.
"""

from __future__ import annotations

import base64
import contextlib
import re
import subprocess
import uuid
from collections.abc import Iterable
from pathlib import Path

from sinkapp.errors import InfraError

from .process import LOG_TAIL_LINES, tail_text

DEFAULT_SASL_USERS = {"alice": "alice-secret"}
#: KRaft's ACL authorizer (``LocalKafka(authorizer=True)``)
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
#: who the broker is to itself: its PLAINTEXT (inter-broker) and CONTROLLER listeners have no
#: authentication, so the broker, the controller and every PLAINTEXT client are User:ANONYMOUS,
#: which must be a super user or the broker cannot talk to its own controller
BROKER_PRINCIPAL = "User:ANONYMOUS"
LOG4J2_FILE = "log4j2.properties"

LOG4J2 = """\
# Written by sinkapp_testkit.kafka: everything goes to stdout, which is <home>/logs/server.log.
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
"""


def check_sasl_user_names(names: Iterable[str]) -> None:
    """InfraError unless every PLAIN user name is safe to put in the JAAS config as ``user_NAME``."""
    for name in names:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise InfraError(f"SASL user name {name!r}: use letters, digits, '_', '.', '-' only")


def _jaas_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _props_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def new_cluster_id() -> str:
    """A random KRaft cluster id (base64url of a UUID, never starting with '-')."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def server_properties(*, port: int, controller_port: int, sasl_port: int | None,
                      sasl_users: dict[str, str], data_dir: Path, sasl_ssl_port: int | None = None,
                      ssl_pem: Path | None = None, super_users: Iterable[str] | None = None) -> str:
    """The text of server.properties for a single-node KRaft broker+controller on 127.0.0.1.

    ``sasl_ssl_port`` + ``ssl_pem`` (the server's private key and certificate chain in one PEM
    file) add a SASL_SSL listener with the same PLAIN users: what Confluent Cloud speaks.
    ``super_users`` (not None) turns ACLs on: :data:`AUTHORIZER`, ``super.users`` = those plus
    :data:`BROKER_PRINCIPAL`, and no ACL means no access (``allow.everyone.if.no.acl.found=false``)."""
    listeners = [f"PLAINTEXT://127.0.0.1:{port}", f"CONTROLLER://127.0.0.1:{controller_port}"]
    advertised = [f"PLAINTEXT://127.0.0.1:{port}"]
    protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
    sasl: list[tuple[str, int, Path | None]] = [("SASL_PLAINTEXT", sasl_port, None)] if sasl_port is not None else []
    if sasl_ssl_port is not None and ssl_pem is not None:
        sasl.append(("SASL_SSL", sasl_ssl_port, ssl_pem))
    extra = ["sasl.enabled.mechanisms=PLAIN"] if sasl else []
    for protocol, sasl_listener_port, pem in sasl:
        listeners.append(f"{protocol}://127.0.0.1:{sasl_listener_port}")
        advertised.append(f"{protocol}://127.0.0.1:{sasl_listener_port}")
        protocols.append(f"{protocol}:{protocol}")
        extra += _sasl_listener_props(protocol.lower(), sasl_users, pem)
    if super_users is not None:
        supers = [BROKER_PRINCIPAL, *(u for u in super_users if u != BROKER_PRINCIPAL)]
        extra += [f"authorizer.class.name={AUTHORIZER}", f"super.users={';'.join(supers)}",
                  "allow.everyone.if.no.acl.found=false"]
    return _node_props(controller_port, listeners, advertised, protocols, data_dir, extra)


def _sasl_listener_props(name: str, sasl_users: dict[str, str], pem: Path | None) -> list[str]:
    """A SASL listener's PLAIN users (and, with ``pem``, its TLS key and certificates)."""
    users = " ".join(f'user_{user}="{_jaas_escape(pw)}"' for user, pw in sasl_users.items())
    props = [f"listener.name.{name}.sasl.enabled.mechanisms=PLAIN",
             f"listener.name.{name}.plain.sasl.jaas.config="
             + _props_escape(f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};")]
    if pem is not None:
        props += [f"listener.name.{name}.ssl.keystore.type=PEM", f"listener.name.{name}.ssl.keystore.location={pem}"]
    return props


def _node_props(controller_port: int, listeners: list[str], advertised: list[str], protocols: list[str],
                data_dir: Path, extra: list[str]) -> str:
    props = [
        "# Written by sinkapp_testkit.kafka at every start; edits are overwritten.",
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
        f"listeners={','.join(listeners)}",
        f"advertised.listeners={','.join(advertised)}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        f"listener.security.protocol.map={','.join(protocols)}",
        f"log.dirs={data_dir}",
        "auto.create.topics.enable=false",
        "num.partitions=1",
        "default.replication.factor=1",
        "offsets.topic.replication.factor=1",
        # Fewer internal partitions than the default 50: the first group starts faster.
        "offsets.topic.num.partitions=10",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=10",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "num.network.threads=2",
        "num.io.threads=4",
        *extra,
    ]
    return "\n".join(props) + "\n"


def write_config(config_path: Path, *, port: int, controller_port: int, sasl_port: int | None,
                 sasl_users: dict[str, str], data_dir: Path, sasl_ssl_port: int | None = None,
                 ssl_pem: Path | None = None, super_users: Iterable[str] | None = None) -> None:
    """Write server.properties to ``config_path`` and log4j2.properties beside it."""
    config_path.write_text(server_properties(port=port, controller_port=controller_port, sasl_port=sasl_port,
                                             sasl_users=sasl_users, data_dir=data_dir,
                                             sasl_ssl_port=sasl_ssl_port, ssl_pem=ssl_pem,
                                             super_users=super_users))
    config_path.with_name(LOG4J2_FILE).write_text(LOG4J2)


def java_cmd(java: str, libs: Path, config_path: Path, main: str, *args: str) -> list[str]:
    """``java ... -cp '<libs>/*' MAIN ARGS`` with the log4j2.properties that sits beside ``config_path``."""
    log4j = config_path.with_name(LOG4J2_FILE)
    return [java, "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
            "-cp", f"{libs}/*", main, *args]


def format_storage(java: str, libs: Path, *, config_path: Path, data_dir: Path, log_path: Path,
                   cwd: Path) -> None:
    """Format ``data_dir`` as KRaft storage with a new cluster id unless it already is.

    StorageTool's output is appended to ``log_path``; a failure raises InfraError with its tail.
    """
    if (data_dir / "meta.properties").exists():
        return
    cluster_id = new_cluster_id()
    cmd = java_cmd(java, libs, config_path, "kafka.tools.StorageTool", "format", "--ignore-formatted",
                   "-t", cluster_id, "-c", str(config_path))
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=cwd)
    with log_path.open("a") as log:
        log.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise InfraError(f"formatting Kafka storage in {data_dir} failed (exit {proc.returncode})"
                         f"\n--- last lines ---\n{tail_text(proc.stdout + proc.stderr, LOG_TAIL_LINES)}")


def read_cluster_id(data_dir: Path) -> str | None:
    """The cluster id :func:`format_storage` wrote into ``data_dir/meta.properties``, or None."""
    with contextlib.suppress(OSError):
        for line in (data_dir / "meta.properties").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "cluster.id":
                return value.strip()
    return None
