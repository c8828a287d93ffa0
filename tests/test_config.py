"""Config: the Java connector's JSON files load unchanged; bad settings give messages a user can act on."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from sinkapp.config import build_settings, load_settings
from sinkapp.config.routes import build_routes
from sinkapp.errors import ConfigError
from tests.workers import fixture_path

BASE = {
    "topics": "orders",
    "starrocks.http.url": "127.0.0.1:8030",
    "starrocks.database.name": "test",
    "starrocks.username": "root",
    "starrocks.password": "s3cret-pw",
}


def settings(**over: str):
    raw = dict(BASE)
    raw.update({k.replace("__", "."): v for k, v in over.items()})
    return build_settings(raw)


@pytest.mark.parametrize("name", ["connector-json.json", "connector-avro.json"])
def test_product_fixtures_load_unchanged(name: str) -> None:
    # connector-avro.json takes its registry from the environment (confluent.custom.schema.registry.auto)
    s = load_settings(fixture_path(name), env={"SINKAPP_SCHEMA_REGISTRY_URL": "https://psrc-x.confluent.cloud"})
    assert s.topics == ("datagen_topic",)
    assert s.database == "test"
    assert s.http_urls == ("https://ingest-xxxxxx.celerdata.com:443",)
    assert s.connect_timeoutms == 6000
    assert s.sink_properties["strip_outer_array"] == "true"
    assert json.loads(s.sink_properties["jsonpaths"])[4] == "$.address.city"
    [route] = build_routes(s)
    assert (route.topic, route.database, route.table) == ("datagen_topic", "test", "test123")


def test_defaults_follow_the_product_documentation() -> None:
    s = settings()
    assert s.bufferflush_maxbytes == 94371840
    assert s.bufferflush_intervalms == 300000
    assert s.connect_timeoutms == 1000
    assert s.tasks_max == 1
    assert s.sink_maxretries == 3
    assert s.body_format == "json"


def test_env_overrides_file_and_secrets(tmp_path: Path) -> None:
    f = tmp_path / "c.json"
    f.write_text(json.dumps({**BASE, "starrocks.password": "in-file"}))
    s = load_settings(f, env={"SINKAPP_STARROCKS_PASSWORD": "from-env",
                              "SINKAPP_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
                              "SINKAPP_SINK_PROPERTIES_COLUMNS": "a,b"})
    assert s.password.get() == "from-env"
    assert s.kafka is not None and s.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert s.sink_properties["columns"] == "a,b"
    assert "from-env" not in repr(s) and "from-env" not in str(s.password)


def test_connect_style_file_with_config_object(tmp_path: Path) -> None:
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"name": "my-sink", "config": BASE}))
    s = load_settings(f, env={})
    assert s.name == "my-sink"
    assert s.kafka is not None and s.kafka.group_id == "connect-my-sink"


def test_several_fes_get_http_scheme() -> None:
    s = settings(**{"starrocks.http.url": "fe1:8030, https://fe2:8443"})
    assert s.http_urls == ("http://fe1:8030", "https://fe2:8443")


@pytest.mark.parametrize("key,value,expect", [
    ("bufferflush.maxbytes", "1000", "bufferflush.maxbytes=1000 is out of range [67108864, 10737418240]"),
    ("bufferflush.intervalms", "999", "bufferflush.intervalms=999 is out of range [1000, 3600000]"),
    ("connect.timeoutms", "70000", "connect.timeoutms=70000 is out of range [100, 60000]"),
    ("tasks.max", "two", "tasks.max='two' is not an integer"),
    ("sink.properties.format", "parquet", "sink.properties.format='parquet' is not allowed; use json or csv"),
    ("value.converter", "com.example.Nope", "value.converter='com.example.Nope' is not supported"),
    ("starrocks.topic2table.map", "orders=t1", "starrocks.topic2table.map has a bad pair 'orders=t1'"),
    ("sink.properties.jsonpaths", "$.a", "sink.properties.jsonpaths='$.a' must be a JSON array"),
])
def test_bad_values_name_key_value_and_allowed(key: str, value: str, expect: str) -> None:
    with pytest.raises(ConfigError) as ei:
        settings(**{key: value})
    assert expect in str(ei.value)


def test_missing_required_key() -> None:
    raw = dict(BASE)
    del raw["starrocks.username"]
    with pytest.raises(ConfigError, match="starrocks.username is required"):
        build_settings(raw)


def test_topics_and_regex_are_exclusive() -> None:
    with pytest.raises(ConfigError, match="set either topics or topics.regex, not both"):
        settings(**{"topics.regex": "ord.*"})
    raw = dict(BASE)
    del raw["topics"]
    with pytest.raises(ConfigError, match="topics .* or topics.regex is required"):
        build_settings(raw)


def test_unknown_key_suggests_close_match() -> None:
    with pytest.raises(ConfigError) as ei:
        settings(**{"bufferflush.maxbyte": "67108864"})
    assert str(ei.value) == "unknown config key 'bufferflush.maxbyte'; did you mean 'bufferflush.maxbytes'?"


def test_known_connect_keys_only_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        s = settings(**{"header.converter": "x", "errors.tolerance": "none", "connector.class": "x",
                        "errors.retry.timeout": "0"})
    assert s.topics == ("orders",)
    assert "'header.converter' is a Kafka Connect key sinkapp does not use" in caplog.text
    assert "'errors.retry.timeout' is a Kafka Connect key sinkapp does not use" in caplog.text


def test_password_never_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError) as ei:
        settings(**{"bufferflush.maxbytes": "1"})
    assert "s3cret-pw" not in str(ei.value)
    assert "s3cret-pw" not in repr(settings())


def test_sasl_needs_credentials_and_reads_jaas() -> None:
    with pytest.raises(ConfigError, match="SASL_SSL needs sasl.username and sasl.password"):
        settings(**{"security.protocol": "SASL_SSL"})
    s = settings(**{"security.protocol": "SASL_SSL", "sasl.jaas.config":
                    'org.apache.kafka.common.security.plain.PlainLoginModule required '
                    'username="KEY" password="SECRET";'})
    assert s.kafka is not None
    assert (s.kafka.sasl_mechanism, s.kafka.sasl_username) == ("PLAIN", "KEY")
    assert s.kafka.sasl_password is not None and s.kafka.sasl_password.get() == "SECRET"


def test_topic2table_and_regex_routes() -> None:
    s = settings(**{"topics": "a,b", "starrocks.topic2table.map": "a:table_a"})
    assert [(r.topic, r.table) for r in build_routes(s)] == [("a", "table_a"), ("b", "b")]
    raw = dict(BASE)
    del raw["topics"]
    raw["topics.regex"] = r"orders_\d+"
    s = build_settings(raw)
    existing = ["orders_1", "orders_2", "orders_x", "connect-x-changelog", "__consumer_offsets"]
    assert [r.topic for r in build_routes(s, existing)] == ["orders_1", "orders_2"]


def test_errors_keys_are_honoured_with_kafka_connect_names() -> None:
    s = settings(**{"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "orders-dlq",
                    "errors.deadletterqueue.topic.replication.factor": "1",
                    "errors.deadletterqueue.context.headers.enable": "true", "errors.log.enable": "true",
                    "errors.log.include.messages": "true"})
    e = s.errors
    assert (e.tolerant, e.dlq_topic, e.dlq_replication_factor, e.context_headers, e.log_enable, e.log_messages) \
        == (True, "orders-dlq", 1, True, True, True)
    assert settings().errors.tolerance == "none" and settings().errors.dlq_topic is None


@pytest.mark.parametrize("over, message", [
    ({"errors.tolerance": "some"}, "errors.tolerance='some' is not allowed; use one of none, all"),
    ({"errors.deadletterqueue.topic.name": "dlq"}, "needs errors.tolerance=all"),
    ({"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "bad topic!"},
     "is not a valid Kafka topic name"),
    ({"errors.deadletterqueue.topic.replication.factor": "0"}, "out of range"),
])
def test_bad_errors_settings_name_the_key(over: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        settings(**over)


def test_topics_regex_never_matches_internal_ledger_or_dead_letter_topics() -> None:
    """After a run on topic T, ``.*T`` must not route sinkapp's own topics (ledger, DLQ) again."""
    raw = dict(BASE)
    del raw["topics"]
    raw.update({"topics.regex": ".*orders.*", "errors.tolerance": "all",
                "errors.deadletterqueue.topic.name": "orders-dlq"})
    s = build_settings(raw)
    existing = ["orders", "orders-dlq", "connect-x-sinkapp-ledger-orders", "__consumer_offsets",
                "_confluent-monitoring-orders", "app-orders-changelog", "app-orders-repartition", "old_orders"]
    assert [r.topic for r in build_routes(s, existing)] == ["old_orders", "orders"]
    named = settings(**{"topics": "orders,orders-dlq"})       # named explicitly: taken as named
    assert [r.topic for r in build_routes(named)] == ["orders", "orders-dlq"]


@pytest.mark.parametrize("over, message", [
    ({"value.converter": "io.confluent.connect.avro.AvroConverter"}, "needs value.converter.schema.registry.url"),
    ({"value.converter": "io.confluent.connect.avro.AvroConverter",
      "value.converter.schema.registry.url": "registry:8081"}, "must be an http(s):// URL"),
    ({"value.converter": "io.confluent.connect.avro.AvroConverter",
      "value.converter.schema.registry.url": "http://registry:8081",
      "value.converter.basic.auth.user.info": "keyonly"}, "must be key:secret"),
    ({"sink.properties.format": "csv", "sink.properties.column_separator": "\\x0"}, "not a valid hex form"),
    ({"starrocks.database.name": "db/../x"}, "is not a StarRocks database name"),
    ({"starrocks.http.url": "ftp://fe:8030"}, "bad address 'ftp://fe:8030': the scheme must be http or https"),
    ({"starrocks.topic2table.map": "orders:t1,payments:t2"}, "names payments, which is not in topics=orders"),
    ({"session.timeout.ms": "6000", "heartbeat.interval.ms": "3000"}, "at most a third of session.timeout.ms"),
])
def test_check_catches_what_used_to_fail_only_at_worker_start(over: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        settings(**over)


def test_merge_commit_needs_at_least_once_and_says_why() -> None:
    """StarRocks ignores labels with Merge Commit (streamload-protocol.md §1.6): refused under the
    exactly-once default, accepted when the user says they take at-least-once."""
    with pytest.raises(ConfigError, match="ignore load labels.*sinkapp.delivery.guarantee=at_least_once"):
        settings(**{"sink.properties.enable_merge_commit": "true"})
    s = settings(**{"sink.properties.enable_merge_commit": "true", "sinkapp.delivery.guarantee": "at_least_once"})
    assert s.delivery_guarantee == "at_least_once"
    with pytest.raises(ConfigError, match="sinkapp.delivery.guarantee"):
        settings(**{"sinkapp.delivery.guarantee": "maybe_once"})


def test_one_ledger_topic_per_consumer_group_and_per_table_flush_bounds() -> None:
    s = settings(**{"group.id": "orders-sink"})
    assert (s.ledger_topic, s.ledger_partitions, s.ledger_replication_factor) == ("orders-sink-sinkapp-ledger", 25, 3)
    assert settings(**{"sinkapp.ledger.topic": "shared.ledger"}).ledger_topic == "shared.ledger"
    with pytest.raises(ConfigError, match="sinkapp.ledger.topic='bad topic!'"):
        settings(**{"sinkapp.ledger.topic": "bad topic!"})
    assert settings().backoff_max_ms == 60000
    with pytest.raises(ConfigError, match=r"sinkapp.load.backoff.max.ms=10 is out of range"):
        settings(**{"sinkapp.load.backoff.max.ms": "10"})


AVRO = {"value.converter": "io.confluent.connect.avro.AvroConverter",
        "value.converter.schema.registry.url": "http://registry:8081"}
JDBC = {"starrocks.jdbc.url": "jdbc:mysql://fe1:9030,fe2"}


@pytest.mark.parametrize("over, message", [
    ({"auto.create": "true"}, "auto.create=true needs starrocks.jdbc.url (jdbc:mysql://fe-host:9030)"),
    ({"auto.create": "true", "auto.evolve": "true", **AVRO},
     "auto.create=true and auto.evolve=true need starrocks.jdbc.url"),
    ({"auto.evolve": "true", **JDBC}, "auto.evolve needs a record schema: value.converter must be Avro"),
    ({"auto.evolve": "true", **JDBC, "value.converter": "org.apache.kafka.connect.json.JsonConverter",
      "value.converter.schemas.enable": "false"}, "with schemas.enable=false"),
    ({"auto.create": "true", **JDBC, **AVRO, "sink.properties.jsonpaths": '["$.a"]'},
     "cannot be used with sink.properties.jsonpaths"),
    ({"auto.create": "true", **JDBC, **AVRO, "sink.properties.columns": "a,b"},
     "cannot be used with sink.properties.columns"),
    ({"auto.create": "true", **JDBC, **AVRO, "transforms": "f", "transforms.f.type": "Flatten"},
     "cannot be used with transforms f"),
    ({"auto.create": "true", "starrocks.jdbc.url": "mysql://fe:9030"}, "must look like jdbc:mysql://fe-host:9030"),
    ({"auto.create": "true", "starrocks.jdbc.url": "jdbc:mysql://fe:99999"}, "'fe:99999' is not host[:port]"),
    ({"auto.create": "maybe"}, "auto.create='maybe' is not allowed"),
    ({"auto.create": "true", **JDBC, **AVRO, "sinkapp.table.create.buckets": "0"},
     "sinkapp.table.create.buckets=0 is out of range"),
])
def test_auto_create_and_evolve_settings_name_what_is_wrong(over: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        settings(**over)


def test_auto_create_and_evolve_take_the_routing_transforms() -> None:
    """RegexRouter picks the route's table, TableByField each row's (sinkapp.tableshape.routed)."""
    for kind, opts in (("RegexRouter", {"regex": "(.*)", "replacement": "t_$1"}),
                       ("TableByField", {"field": "tenant", "format": "db.{}", "remove": "true"})):
        over = {f"transforms.r.{k}": v for k, v in opts.items()}
        s = settings(**{"auto.create": "true", "auto.evolve": "true", **JDBC, **AVRO, "transforms": "r",
                        "transforms.r.type": kind, **over})
        assert s.tables.auto_create and [t.type for t in s.transforms] == [kind]


def test_auto_create_settings_and_a_password_in_the_jdbc_url_stays_secret(caplog: pytest.LogCaptureFixture) -> None:
    from sinkapp.observe import redact

    s = settings(**{"auto.create": "true", "auto.evolve": "true", **AVRO,
                    "starrocks.jdbc.url": "jdbc:mysql://fe1:9030,[::1]:9031/test?user=x&password=jdbc-pw-1",
                    "sinkapp.table.create.properties.replication_num": "1",
                    "sinkapp.table.create.properties.fast_schema_evolution": "true",
                    "sinkapp.table.create.buckets": "8", "sinkapp.schema.change.timeout.ms": "5000"})
    t = s.tables
    assert (t.auto_create, t.auto_evolve, t.create_buckets, t.change_timeout_ms) == (True, True, 8, 5000)
    assert t.jdbc_hosts == (("fe1", 9030), ("::1", 9031))
    assert t.create_properties == {"replication_num": "1", "fast_schema_evolution": "true"}
    assert t.jdbc_password is not None and t.jdbc_password.get() == "jdbc-pw-1"
    assert "jdbc-pw-1" not in repr(s) and "password=******" in repr(s)
    redact.register_settings(s)
    assert "jdbc-pw-1" not in redact.redact("connect failed: password=jdbc-pw-1")
