"""Operating a worker safely, on the real broker: secrets stay out of a debug-level log, the web
server listens on loopback only unless told otherwise."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest
from schema_registry.client import SchemaRegistryClient
from sinkapp_testkit.registry import RegistryThread

from tests.test_formats_kafka import avro_value, connector, orders_table, run_until_loaded, tname
from tests.workers import (
    Worker,
    datagen_order,
    fixture_path,
    free_port,
    http_get,
    metric,
    produce_sync,
    wait_until,
)

pytestmark = pytest.mark.kafka

SR_SECRET = "sr-s3cret-value"
STAR_PW = "star-pw-s3cret"
SASL_PW = "alice-secret"         # the SASL listener's user (sinkapp_testkit.kafka)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from sinkapp_testkit.streamload import EmulatorThread

    with EmulatorThread(user="root", password=STAR_PW, databases=["test"]) as emu:
        yield emu


@pytest.fixture(scope="module")
def registry() -> Iterator[RegistryThread]:
    with RegistryThread(user_info=f"sr-key:{SR_SECRET}") as sr:
        yield sr


def test_debug_level_run_never_prints_a_secret(kafka: Any, emulator: Any, registry: RegistryThread,
                                               topic_factory: Any, tmp_path: Path) -> None:
    """SASL/PLAIN password (aiokafka logs its SaslAuthenticateRequest at debug), registry
    credentials pasted into the URL, and the StarRocks password: none in the whole output."""
    topic = topic_factory(partitions=1, name=tname("secrets"))
    table = f"t_{topic}"
    orders_table(emulator, table)
    schema_text = (fixture_path("orders.avsc")).read_text()
    host = registry.url.split("://", 1)[1]
    url_with_secret = f"http://sr-key:{SR_SECRET}@{host}"
    sid = SchemaRegistryClient(url_with_secret).register(f"{topic}-value", schema_text)
    parsed = fastavro.parse_schema(json.loads(schema_text))
    produce_sync(kafka.bootstrap_servers, topic, [avro_value(sid, parsed, datagen_order(i)) for i in range(50)])
    cfg = connector(kafka, emulator, "connector-avro.json", topics=topic, **{
        "starrocks.topic2table.map": f"{topic}:{table}", "starrocks.password": STAR_PW,
        "bootstrap.servers": kafka.sasl_bootstrap_servers, "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN", "sasl.username": "alice",
        "value.converter.schema.registry.url": url_with_secret})
    cfg.pop("confluent.custom.schema.registry.auto", None)
    w = Worker(cfg, tmp_path, env={"SINKAPP_SASL_PASSWORD": SASL_PW}, loglevel="debug").start()
    run_until_loaded(w, emulator, kafka, cfg, topic, table, 50)
    log = w.log()
    assert "SaslAuthenticate" in log or "Authenticated as alice" in log, "the debug log must show SASL"
    assert "sr-key:******@" in log, "registry requests are logged, with the password masked"
    for secret in (SASL_PW, SR_SECRET, STAR_PW):
        assert secret not in log, f"{secret} leaked: {log[log.find(secret) - 300: log.find(secret) + 100]}"


def _listening(port: int) -> set[str]:
    """Local addresses listening on ``port`` (from /proc/net/tcp)."""
    out = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, p = local.split(":")
        if state == "0A" and int(p, 16) == port:
            out.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
    return out


def test_web_server_listens_on_loopback_by_default(kafka: Any, emulator: Any, topic_factory: Any,
                                                   tmp_path: Path) -> None:
    topic = topic_factory(partitions=1, name=tname("web"))
    emulator.add_table("test", f"CREATE TABLE {topic} (id BIGINT) DUPLICATE KEY(id);")
    port = free_port()
    cfg = connector(kafka, emulator, topics=topic, **{"starrocks.password": STAR_PW, "sinkapp.web.port": str(port)})
    w = Worker(cfg, tmp_path, web=True).start()
    try:
        wait_until(lambda: bool(_listening(port)) or not w.alive(), 60, "the web server")
        assert _listening(port) == {"127.0.0.1"}, w.log()[-2000:]
    finally:
        w.stop()


def test_metrics_health_and_status_after_a_known_load_then_a_route_failure(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    import orjson
    topic = topic_factory(partitions=2, name=tname("metrics"))
    emulator.add_table("test", f"CREATE TABLE {topic} (id BIGINT) DUPLICATE KEY(id);")
    port = free_port()
    cfg = connector(kafka, emulator, topics=topic, **{
        "starrocks.password": STAR_PW, "sinkapp.web.port": str(port),
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false"})
    w = Worker(cfg, tmp_path, web=True).start()
    route = f"{topic}->test.{topic}"
    try:
        wait_until(lambda: http_get(port, "/health/live")[0] == 200, 60, "live")
        wait_until(lambda: http_get(port, "/health/ready")[0] == 200, 60, "ready after the first assignment")
        produce_sync(kafka.bootstrap_servers, topic, [orjson.dumps({"id": i}) for i in range(1000)], partitions=2)
        wait_until(lambda: emulator.count("test", topic) >= 1000, 60, "1000 rows")
        wait_until(lambda: metric(http_get(port, "/metrics")[1].decode(), "sinkapp_consumer_lag") == 0, 30,
                   "lag 0")
        text = http_get(port, "/metrics")[1].decode()
        assert metric(text, "sinkapp_records_consumed_total", route=route) == 1000
        assert metric(text, "sinkapp_rows_loaded_total", route=route) == 1000
        loads = metric(text, "sinkapp_loads_total", route=route, status="Success")
        assert loads >= 1
        assert metric(text, "sinkapp_load_duration_seconds_count", route=route) == loads
        assert metric(text, "sinkapp_bytes_loaded_total", route=route) > 1000 * len(b'{"id":1}')
        assert metric(text, "sinkapp_route_up", route=route) == 1
        assert metric(text, "sinkapp_last_load_timestamp_seconds", route=route) > 1.7e9
        status = json.loads(http_get(port, "/status")[1])
        assert status["type"] == "sink" and status["connector"]["state"] == "RUNNING"
        assert [(t["id"], t["state"]) for t in status["tasks"]] == [(route, "RUNNING")]
        assert sorted(status["partitions_assigned"]) == [f"{topic}[0]", f"{topic}[1]"]
        # a bad record (tolerance none): the route fails, the pages say so, with no record bytes
        produce_sync(kafka.bootstrap_servers, topic, [b'{"id": "SECRETROW', orjson.dumps({"id": 5000})])
        wait_until(lambda: http_get(port, "/health/ready")[0] == 503, 60, "not ready after the route failed")
        status = json.loads(http_get(port, "/status")[1])
        task = status["tasks"][0]
        assert task["state"] == "FAILED" and f"{topic}[" in task["trace"] and "cannot be loaded" in task["trace"]
        assert "SECRETROW" not in http_get(port, "/status")[1].decode()
        assert http_get(port, "/sinkapp/status/")[0] == 503
        assert metric(http_get(port, "/metrics")[1].decode(), "sinkapp_route_up", route=route) == 0
    finally:
        w.stop()


def _check(cfg: dict[str, str], tmp_path: Path, name: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    import os
    import subprocess
    import sys
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfg))
    out = subprocess.run([sys.executable, "-m", "sinkapp.cli", "check", "--config", str(path), "--connect"],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ, **(env or {})))
    return out.returncode, out.stdout + out.stderr


def test_check_connect_says_ok_or_fail_for_each_dependency(kafka: Any, emulator: Any, registry: RegistryThread,
                                                          topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=3, name=tname("chk"))
    emulator.add_table("test", f"CREATE TABLE {topic} (id BIGINT) DUPLICATE KEY(id);")
    good = connector(kafka, emulator, topics=topic, **{"starrocks.password": STAR_PW})
    rc, out = _check(good, tmp_path, "good")
    assert rc == 0, out
    assert f"ok   topic {topic} -> test.{topic}: 3 partitions" in out
    assert f"ok   StarRocks {emulator.fe_url} user root table test.{topic}" in out
    assert "ok   Kafka" in out

    cases = {
        "wrong-password": ({"starrocks.password": "nope"}, "refused the credentials"),
        "missing-table": ({"starrocks.topic2table.map": f"{topic}:no_such_table"}, "no_such_table"),
        "unreachable-fe": ({"starrocks.http.url": "127.0.0.1:9"}, "unreachable"),
        "missing-topic": ({"topics": "no-such-topic"}, "no-such-topic -> test.no-such-topic: does not exist"),
    }
    for name, (over, expect) in cases.items():
        rc, out = _check({**good, **over}, tmp_path, name)
        fails = [ln for ln in out.splitlines() if ln.startswith("FAIL")]
        assert rc == 1 and fails and any(expect in ln for ln in fails), (name, out)
        assert "nope" not in out

    avro = {**good, "value.converter": "io.confluent.connect.avro.AvroConverter",
            "value.converter.schema.registry.url": registry.url,
            "value.converter.basic.auth.user.info": "sr-key:wrong-secret"}
    rc, out = _check(avro, tmp_path, "registry-auth")
    assert rc == 1 and any(ln.startswith("FAIL Schema Registry") and "401" in ln for ln in out.splitlines()), out
    assert "wrong-secret" not in out
    rc, out = _check({**avro, "value.converter.basic.auth.user.info": f"sr-key:{SR_SECRET}"}, tmp_path, "registry-ok")
    assert rc == 0 and "ok   Schema Registry" in out, out


def test_worker_with_a_wrong_password_fails_at_start_not_at_the_first_flush(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=1, name=tname("startchk"))
    emulator.add_table("test", f"CREATE TABLE {topic} (id BIGINT) DUPLICATE KEY(id);")
    cfg = connector(kafka, emulator, topics=topic, **{"starrocks.password": "wrong-pw-123"})
    w = Worker(cfg, tmp_path).start()
    assert w.proc is not None
    try:
        w.proc.wait(60)
    finally:
        rc = w.stop()
    log = w.log()
    assert rc != 0 and "start-up checks failed" in log and "refused the credentials" in log, log[-2000:]
    assert "wrong-pw-123" not in log


def test_worker_loads_over_https_with_a_custom_ca_and_fails_fast_without_it(
        kafka: Any, topic_factory: Any, tmp_path: Path) -> None:
    import orjson
    from sinkapp_testkit.streamload import EmulatorThread
    from sinkapp_testkit.tls import make_certs

    certs = make_certs(tmp_path / "certs")
    with EmulatorThread(user="root", password=STAR_PW, databases=["test"],
                        ssl_context=certs.server_context()) as tls_emu:
        topic = topic_factory(partitions=1, name=tname("tls"))
        tls_emu.add_table("test", f"CREATE TABLE {topic} (id BIGINT) DUPLICATE KEY(id);")
        produce_sync(kafka.bootstrap_servers, topic, [orjson.dumps({"id": i}) for i in range(50)])
        cfg = connector(kafka, tls_emu, topics=topic, **{"starrocks.password": STAR_PW})
        assert cfg["starrocks.http.url"].startswith("https://")
        rc, out = _check(cfg, tmp_path, "no-ca")
        assert rc == 1 and "TLS" in out and "sinkapp.starrocks.ssl.cafile" in out, out
        w = Worker(cfg, tmp_path, "no-ca").start()
        assert w.proc is not None
        try:
            w.proc.wait(60)
        finally:
            w.stop()
        assert "start-up checks failed" in w.log() and "TLS" in w.log(), w.log()[-2000:]
        cfg["sinkapp.starrocks.ssl.cafile"] = str(certs.ca)
        rc, out = _check(cfg, tmp_path, "with-ca")
        assert rc == 0, out
        run_until_loaded(Worker(cfg, tmp_path, "with-ca").start(), tls_emu, kafka, cfg, topic, topic, 50)
        assert sorted(r["id"] for r in tls_emu.rows("test", topic)) == list(range(50))


def test_sasl_ssl_to_kafka_with_a_custom_ca_loads_as_from_confluent_cloud(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    """SASL_SSL with PLAIN (Confluent Cloud's API key and secret) through the broker's TLS listener,
    trusting a throwaway CA with ssl.cafile; the password stays out of the log."""
    import orjson
    if not getattr(kafka, "ssl_certs", None):
        pytest.fail("the session broker has no SASL_SSL listener")
    topic = topic_factory(partitions=2, name=tname("saslssl"))
    emulator.add_table("test", f"CREATE TABLE {topic} (id BIGINT) DUPLICATE KEY(id);")
    produce_sync(kafka.bootstrap_servers, topic, [orjson.dumps({"id": i}) for i in range(300)], partitions=2)
    cfg = connector(kafka, emulator, topics=topic, **{
        "starrocks.password": STAR_PW, "bootstrap.servers": kafka.sasl_ssl_bootstrap_servers,
        "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": "alice",
        "ssl.cafile": str(kafka.ssl_certs.ca)})
    rc, out = _check(cfg, tmp_path, "saslssl", env={"SINKAPP_SASL_PASSWORD": SASL_PW})
    assert rc == 0 and "ok   Kafka" in out and "SASL_SSL" in out, out
    w = Worker(cfg, tmp_path, env={"SINKAPP_SASL_PASSWORD": SASL_PW}).start()
    run_until_loaded(w, emulator, kafka, cfg, topic, topic, 300)
    assert sorted(r["id"] for r in emulator.rows("test", topic)) == list(range(300))
    assert SASL_PW not in w.log()
    bad = {**cfg}
    bad.pop("ssl.cafile")                                  # the system CAs do not know the throwaway CA
    rc, out = _check(bad, tmp_path, "saslssl-noca", env={"SINKAPP_SASL_PASSWORD": SASL_PW})
    assert rc == 1 and "FAIL Kafka" in out, out


def test_registry_over_https_with_a_custom_ca(kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    """An Avro route whose Schema Registry serves HTTPS with a throwaway CA: loads with the CA
    option; without it check --connect says FAIL with a TLS message (never 'waiting')."""
    from sinkapp_testkit.tls import make_certs

    certs = make_certs(tmp_path / "sr-certs")
    with RegistryThread(ssl_context=certs.server_context()) as sr:
        assert sr.url.startswith("https://")
        topic = topic_factory(partitions=1, name=tname("srtls"))
        table = f"t_{topic}"
        orders_table(emulator, table)
        schema_text = (fixture_path("orders.avsc")).read_text()
        sid = sr.register(f"{topic}-value", schema_text)
        parsed = fastavro.parse_schema(json.loads(schema_text))
        produce_sync(kafka.bootstrap_servers, topic, [avro_value(sid, parsed, datagen_order(i)) for i in range(40)])
        cfg = connector(kafka, emulator, "connector-avro.json", topics=topic, **{
            "starrocks.topic2table.map": f"{topic}:{table}", "starrocks.password": STAR_PW,
            "value.converter.schema.registry.url": sr.url})
        cfg.pop("confluent.custom.schema.registry.auto", None)
        rc, out = _check(cfg, tmp_path, "sr-noca")
        assert rc == 1 and any(ln.startswith("FAIL Schema Registry") and "TLS" in ln for ln in out.splitlines()), out
        cfg["value.converter.schema.registry.ssl.truststore.location"] = str(certs.ca)
        rc, out = _check(cfg, tmp_path, "sr-ca")
        assert rc == 0, out
        run_until_loaded(Worker(cfg, tmp_path, "sr").start(), emulator, kafka, cfg, topic, table, 40)
    assert sorted(r["orderid"] for r in emulator.rows("test", table)) == list(range(40))


def test_grafana_dashboard_queries_only_metrics_sinkapp_serves() -> None:
    """config/grafana-dashboard.json: every metric a panel queries is one /metrics serves."""
    import re as _re
    from collections import Counter

    from sinkapp.observe.metrics import make_registry, render
    from sinkapp.pipeline.stats import PartitionView, RouteStats, RouteView, Snapshot, TableStats, TableView

    stats = RouteStats(loads_by_status=Counter({"Success": 1}), dead_lettered=Counter({"VALUE_CONVERTER": 1}),
                       skipped_bad=Counter({"VALUE_CONVERTER": 1}), last_load_at=1.0)
    table = TableStats(loads_by_status=Counter({"Success": 1}), backoffs=Counter({"too_many_versions": 1}))
    snap = Snapshot((RouteView("t->db.tbl", "t", "db.tbl", "RUNNING", None, stats, {0: (1, 10)}, None),),
                    (TableView("db.tbl", table, 1, 10, False, 1.0),), (PartitionView("t", 0, 4, 5, 10),), True)
    served = render(make_registry(lambda: snap)).decode()
    names = {m.group(1) for m in _re.finditer(r"^([a-z_]+)[{ ]", served, _re.M)}
    doc = json.loads((Path(__file__).resolve().parents[1] / "config" / "grafana-dashboard.json").read_text())
    used = {n for p in doc["panels"] for t in p["targets"] for n in _re.findall(r"\b(sinkapp_[a-z_]+)", t["expr"])}
    assert used and used <= names, sorted(used - names)
    assert {"sinkapp_rows_loaded_total", "sinkapp_consumer_lag", "sinkapp_route_up"} <= used


def test_health_and_status_show_a_registry_outage_as_degraded_then_recover(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    schema_text = (fixture_path("orders.avsc")).read_text()
    v2 = json.loads(schema_text)
    v2["fields"].append({"name": "channel", "type": ["null", "string"], "default": None})
    with RegistryThread() as sr:
        topic = topic_factory(partitions=1, name=tname("srdown"))
        table = f"t_{topic}"
        orders_table(emulator, table, "channel STRING")
        sid1 = sr.register(f"{topic}-value", schema_text)
        p1 = fastavro.parse_schema(json.loads(schema_text))
        produce_sync(kafka.bootstrap_servers, topic, [avro_value(sid1, p1, datagen_order(i)) for i in range(20)])
        port = free_port()
        cfg = connector(kafka, emulator, "connector-avro.json", topics=topic, **{
            "starrocks.topic2table.map": f"{topic}:{table}", "starrocks.password": STAR_PW,
            "value.converter.schema.registry.url": sr.url, "sinkapp.web.port": str(port),
            "sinkapp.stall.timeout.ms": "1000"})
        cfg.pop("confluent.custom.schema.registry.auto", None)
        w = Worker(cfg, tmp_path, web=True).start()
        try:
            wait_until(lambda: emulator.count("test", table) >= 20 and http_get(port, "/health/ready")[0] == 200, 60,
                       "20 rows and ready")
            sid2 = sr.register(f"{topic}-value", json.dumps(v2))
            p2 = fastavro.parse_schema(v2)
            sr.down()                                       # the registry goes away ...
            produce_sync(kafka.bootstrap_servers, topic,    # ... just as records need a schema it has
                         [avro_value(sid2, p2, {**datagen_order(i), "channel": "web"}) for i in range(20, 25)])
            wait_until(lambda: http_get(port, "/health/ready")[0] == 503, 30, "not ready while the registry is down")
            task = json.loads(http_get(port, "/status")[1])["tasks"][0]
            assert task["state"] == "DEGRADED" and "Schema Registry" in task["trace"], task
            sr.up()
            wait_until(lambda: emulator.count("test", table) >= 25, 60, "the held records after the registry is back")
            wait_until(lambda: http_get(port, "/health/ready")[0] == 200, 30, "ready again")
            assert json.loads(http_get(port, "/status")[1])["tasks"][0]["state"] == "RUNNING"
        finally:
            w.stop()
