"""Kafka ACLs (issue 17): a worker holding exactly the README's ACLs works; one fewer stops it at
start with the line ``check --connect`` prints for it.

A broker of this module's own with KRaft's StandardAuthorizer (``LocalKafka(authorizer=True)``):
the SASL user ``sinkapp`` may do only what ACLs grant; the tests set up topics and ACLs through
the PLAINTEXT listener, whose principal (User:ANONYMOUS, the broker's own) is a super user. The
ACLs, the topics an admin creates in advance and the Confluent commands are read from the
README's "Permissions (ACLs)" section, with its example names mapped to this test's.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sinkapp_testkit.kafka import Acl, LocalKafka

from sinkapp.config import build_settings
from sinkapp.errors import ConfigError
from sinkapp.worker.startup import ensure_own_topics, resolve_routes
from tests.test_formats_kafka import connector
from tests.workers import ROOT, Worker, produce_sync, wait_committed, wait_until

pytestmark = pytest.mark.kafka

USER, USER_PW = "sinkapp", "sinkapp-secret"
PRINCIPAL = f"User:{USER}"
OPERATION_NAMES = {"Read": "read", "Write": "write", "Create": "create", "DescribeConfigs": "describe_configs"}


@pytest.fixture(scope="module")
def acl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = LocalKafka(home=tmp_path_factory.mktemp("acl-kafka"), sasl_port=0,
                        sasl_users={USER: USER_PW, "admin": "admin-secret"}, authorizer=True)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## Permissions (ACLs)", 1)[1].split("\n## ", 1)[0]


def _commands(tool: str) -> list[list[str]]:
    return [shlex.split(ln) for ln in _section().splitlines() if ln.startswith(tool + " ")]


def readme_acls(names: dict[str, str]) -> list[Acl]:
    """The README's ``kafka-acls.sh`` lines as ACLs, example names replaced by ``names``."""
    out = []
    for argv in _commands("kafka-acls.sh"):
        principal = argv[argv.index("--allow-principal") + 1]
        ops = [OPERATION_NAMES[argv[i + 1]] for i, a in enumerate(argv) if a == "--operation"]
        kind = "topic" if "--topic" in argv else "group"
        name = names[argv[argv.index(f"--{kind}") + 1]]
        out += [Acl(principal, kind, name, op) for op in ops]
    return out


def confluent_grants(names: dict[str, str]) -> set[tuple[str, str, str]]:
    out = set()
    for argv in _commands("confluent kafka acl create"):
        kind = "topic" if "--topic" in argv else "group"
        name = names[argv[argv.index("--topic" if kind == "topic" else "--consumer-group") + 1]]
        out |= {(kind, name, op.replace("-", "_")) for op in argv[argv.index("--operations") + 1].split(",")}
    return out


def readme_topics(names: dict[str, str]) -> list[tuple[str, int, dict[str, str]]]:
    out = []
    for argv in _commands("kafka-topics.sh"):
        configs = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--config")
        out.append((names[argv[argv.index("--topic") + 1]], int(argv[argv.index("--partitions") + 1]),
                    configs))
    return out


def _setup(acl_kafka: LocalKafka, emulator: Any, rows: int) -> tuple[dict[str, str], dict[str, str]]:
    """A source topic with ``rows`` rows, its table, a worker config (SASL user ``sinkapp``, a
    dead-letter topic) and the README's example names mapped to this test's."""
    tag = uuid.uuid4().hex[:8]
    src, group = f"orders_{tag}", f"connect-orders-{tag}"
    names = {"orders": src, "connect-orders": group, "connect-orders-sinkapp-ledger": f"{group}-sinkapp-ledger",
             "orders-dlq": f"orders-dlq-{tag}"}
    acl_kafka.create_topic(src, partitions=3)
    emulator.add_table("test", f"CREATE TABLE {src} (id BIGINT) DUPLICATE KEY(id);")
    if rows:
        produce_sync(acl_kafka.bootstrap_servers, src, [orjson.dumps({"id": i}) for i in range(rows)], partitions=3)
    cfg = connector(acl_kafka, emulator, topics=src, **{
        "group.id": group, "bootstrap.servers": acl_kafka.sasl_bootstrap_servers,
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.username": USER,
        "sasl.password": USER_PW, "errors.tolerance": "all", "errors.deadletterqueue.topic.name": names["orders-dlq"]})
    return cfg, names


def _check(cfg: dict[str, str], tmp_path: Path, name: str) -> tuple[int, list[str]]:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfg))
    out = subprocess.run([sys.executable, "-m", "sinkapp.cli", "check", "--config", str(path), "--connect"],
                         capture_output=True, text=True, timeout=120)
    return out.returncode, (out.stdout + out.stderr).splitlines()


def _start_fails(cfg: dict[str, str], tmp_path: Path, name: str) -> str:
    w = Worker(cfg, tmp_path, name=name).start()
    assert w.wait_exit(60) == 2, w.log()[-3000:]
    return w.log()


def _fail_line(lines: list[str], what: str) -> str:
    hits = [ln for ln in lines if ln.startswith(f"FAIL {what}: not granted")]
    assert len(hits) == 1, "\n".join(lines)
    assert "grant it: kafka-acls.sh --bootstrap-server" in hits[0]
    return hits[0]


def test_readme_acls_load_every_row_once_and_each_missing_one_stops_the_worker(
        acl_kafka: LocalKafka, emulator: Any, tmp_path: Path) -> None:
    cfg, names = _setup(acl_kafka, emulator, rows=300)
    src, group, ledger = names["orders"], names["connect-orders"], names["connect-orders-sinkapp-ledger"]
    for topic, partitions, configs in readme_topics(names):       # an admin creates them in advance
        acl_kafka.create_topic(topic, partitions=partitions, config=configs)
    acls = readme_acls(names)
    assert {(a.resource_type, a.name, a.operation) for a in acls} == confluent_grants(names)
    assert {a.principal for a in acls} == {PRINCIPAL} and not any(a.operation == "create" for a in acls)
    acl_kafka.create_acls(acls)

    rc, lines = _check(cfg, tmp_path, "all")
    assert rc == 0, "\n".join(lines)
    oks = {ln.split(": ")[0] for ln in lines if ln.startswith("ok   Kafka ACL ")}
    assert oks == {f"ok   Kafka ACL {a.operation.upper()} on {a.resource_type} {a.name} for {PRINCIPAL}"
                   for a in acls}, "\n".join(lines)

    w = Worker(cfg, tmp_path, name="loads").start()
    try:
        wait_until(lambda: emulator.count("test", src) >= 300 or not w.alive(), 90, "300 rows")
        assert w.alive(), w.log()[-3000:]
        wait_committed(acl_kafka.bootstrap_servers, group, src, 30, w.log)
    finally:
        assert w.stop() == 0, w.log()[-3000:]
    assert sorted(r["id"] for r in emulator.rows("test", src)) == list(range(300))    # every row once
    assert "Authorization" not in w.log(), w.log()[-3000:]

    for acl in (Acl(PRINCIPAL, "topic", ledger, "write"), Acl(PRINCIPAL, "group", group, "read")):
        acl_kafka.delete_acls([acl])
        try:
            rc, lines = _check(cfg, tmp_path, f"no-{acl.operation}-{acl.resource_type}")
            what = f"Kafka ACL {acl.operation.upper()} on {acl.resource_type} {acl.name} for {PRINCIPAL}"
            line = _fail_line(lines, what)
            assert rc == 1 and sum(ln.startswith("FAIL") for ln in lines) == 1, "\n".join(lines)
            log = _start_fails(cfg, tmp_path, f"w-no-{acl.operation}-{acl.resource_type}")
            assert line in log and "Traceback" not in log, log[-3000:]
        finally:
            acl_kafka.create_acls([acl])


def test_missing_own_topics_need_create_and_a_refused_creation_is_a_config_error(
        acl_kafka: LocalKafka, emulator: Any, tmp_path: Path) -> None:
    cfg, names = _setup(acl_kafka, emulator, rows=0)
    ledger, dlq = names["connect-orders-sinkapp-ledger"], names["orders-dlq"]
    acl_kafka.create_acls(readme_acls(names))                      # the topics are not created
    rc, lines = _check(cfg, tmp_path, "no-create")
    assert rc == 1, "\n".join(lines)
    line = _fail_line(lines, f"Kafka ACL CREATE on topic {ledger} for {PRINCIPAL}")
    assert "the topic does not exist" in line and "have an admin create the topic in advance" in line
    _fail_line(lines, f"Kafka ACL CREATE on topic {dlq} for {PRINCIPAL}")
    assert line in _start_fails(cfg, tmp_path, "w-no-create")

    settings = build_settings(cfg)
    routes, _ = resolve_routes(settings)
    with pytest.raises(ConfigError, match=re.escape(f"Kafka ACL CREATE on topic {ledger} for {PRINCIPAL}: "
                                                    "not granted")) as err:
        ensure_own_topics(settings, routes)
    assert f"--operation Create --topic {ledger}" in str(err.value)

    acl_kafka.create_acls([Acl(PRINCIPAL, "topic", t, "create") for t in (ledger, dlq)])
    rc, lines = _check(cfg, tmp_path, "create")
    assert rc == 0, "\n".join(lines)
    assert any(ln.startswith(f"ok   Kafka ACL CREATE on topic {ledger} for {PRINCIPAL}: the topic does not exist "
                             "yet; the worker creates it") for ln in lines), "\n".join(lines)
    ensure_own_topics(settings, routes)
    rc, lines = _check(cfg, tmp_path, "created")
    assert rc == 0 and not any("CREATE" in ln for ln in lines), "\n".join(lines)
