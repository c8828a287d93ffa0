"""The table of configuration keys sinkapp accepts: name, default, range, meaning.

Who calls: :mod:`sinkapp.config` (validation) and the README's configuration reference,
which lists the same keys. Defaults follow the product documentation of the Java
connector (CelerData's "Load data using the Kafka connector" page, which the README's configuration
reference follows) where it and the connector's code differ.

This table is the only place a default is written: the settings model
(:mod:`sinkapp.config.types`), the sink core's configuration and the clients' keyword defaults
read it through :func:`default`, :func:`default_s` and :func:`default_flag`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sinkapp.errors import ConfigError


@dataclass(frozen=True)
class KeySpec:
    key: str
    default: Any
    help: str
    required: bool = False
    kind: str = "str"            # str | int
    lo: int | None = None
    hi: int | None = None
    choices: tuple[str, ...] = ()

    def parse(self, text: str) -> Any:
        if self.kind == "int":
            try:
                value = int(text)
            except ValueError:
                raise ConfigError(f"{self.key}={text!r} is not an integer; {self.help}") from None
            if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
                raise ConfigError(f"{self.key}={value} is out of range [{self.lo}, {self.hi}]; {self.help}")
            return value
        if self.choices and text.lower() not in self.choices:
            raise ConfigError(f"{self.key}={text!r} is not allowed; use one of {', '.join(self.choices)}")
        return text


def _int(key: str, default: int, lo: int, hi: int, help: str) -> KeySpec:
    return KeySpec(key, default, help, kind="int", lo=lo, hi=hi)


_MB = 1024 * 1024
_SPECS: list[KeySpec] = [
    KeySpec("name", None, "connector name; also the default consumer group (connect-<name>)"),
    KeySpec("connector.class", None, "accepted and ignored"),
    KeySpec("topics", None, "comma-separated topics to load"),
    KeySpec("topics.regex", None, "regular expression of topics to load (instead of topics)"),
    KeySpec("starrocks.topic2table.map", None, "topic1:table1,topic2:db.table2; unmapped topic → table of the same "
            "name; a target without db. is in starrocks.database.name"),
    KeySpec("starrocks.http.url", None, "FE HTTP address(es): host:port or http(s)://host:port, comma-separated",
            required=True),
    KeySpec("starrocks.database.name", None, "database of every target that names none (table rather than "
            "db.table); required unless every target names its database"),
    KeySpec("starrocks.username", None, "StarRocks user with INSERT privilege", required=True),
    KeySpec("starrocks.password", "", "StarRocks password (prefer SINKAPP_STARROCKS_PASSWORD)"),
    KeySpec("key.converter", None, "converter class for record keys"),
    KeySpec("value.converter", None, "converter class for record values (default JsonConverter)"),
    _int("tasks.max", 1, 1, 1024, "maximum Stream Loads one worker runs at once"),
    _int("bufferflush.maxbytes", 94371840, 64 * _MB, 10 * 1024 * _MB,
         "bytes buffered per table before a flush, 64 MB..10 GB"),
    _int("bufferflush.intervalms", 300000, 1000, 3600000,
         "maximum age in ms of the oldest buffered row before a flush, 1000..3600000"),
    _int("connect.timeoutms", 1000, 100, 60000, "TCP connect timeout to an FE/BE in ms, 100..60000"),
    _int("sink.maxretries", 3, -1, 2**62,
         "retries of a failing load before the route stops; -1 = retry until it succeeds"),
    # Kafka Connect's error handling, honoured with Connect's meaning
    KeySpec("errors.tolerance", "none", "none: a bad record stops its route; all: bad records go to the "
            "dead-letter topic (or are skipped and counted without one)", choices=("none", "all")),
    KeySpec("errors.deadletterqueue.topic.name", None, "dead-letter topic for bad records (tolerance all)"),
    _int("errors.deadletterqueue.topic.replication.factor", 3, 1, 32767,
         "replication factor of the dead-letter topic when sinkapp creates it (capped at the broker count)"),
    KeySpec("errors.deadletterqueue.context.headers.enable", "false",
            "true: add __connect.errors.* headers (topic, partition, offset, stage, exception) to dead letters",
            choices=("true", "false")),
    KeySpec("errors.log.enable", "false", "true: log each bad record's error", choices=("true", "false")),
    KeySpec("errors.log.include.messages", "false", "true: the error log line also shows the record's key "
            "and value", choices=("true", "false")),
    _int("sinkapp.dlq.topic.partitions", 1, 1, 10000, "partitions of the dead-letter topic when sinkapp creates it"),
    # sinkapp's own keys
    KeySpec("sinkapp.label.prefix", "sinkapp", "prefix of every Stream Load label"),
    _int("sinkapp.load.timeout.ms", 600000, 1000, 86400000,
         "client timeout of one Stream Load request (response wait) in ms"),
    _int("sinkapp.flush.max.rows", 500000, 1, 100000000, "rows buffered per table that trigger a flush"),
    KeySpec("sinkapp.starrocks.ssl.cafile", None, "CA certificates (PEM) that sign the FE/BE certificates "
            "(https:// URLs); the system's CAs when unset"),
    KeySpec("sinkapp.starrocks.ssl.certfile", None, "client certificate (PEM) for mutual TLS to StarRocks"),
    KeySpec("sinkapp.starrocks.ssl.keyfile", None, "client key (PEM) for mutual TLS to StarRocks"),
    _int("sinkapp.stall.timeout.ms", 60000, 1000, 3600000,
         "a dependency (StarRocks, the registry) failing this long marks the route DEGRADED and the worker not ready"),
    KeySpec("sinkapp.timezone", "UTC", "zone Debezium ZonedTimestamp/ZonedTime values are converted to "
            "(IANA name, e.g. Asia/Shanghai)"),
    KeySpec("sinkapp.web.bind", "127.0.0.1", "address the status/metrics web server listens on "
            "(0.0.0.0 to reach it from other hosts; it has no authentication)"),
    _int("sinkapp.web.port", 6066, 1, 65535, "port of the status/metrics web server"),
    KeySpec("sinkapp.delivery.guarantee", "exactly_once",
            "exactly_once (labels from each batch's Kafka identity and the ledger) or at_least_once "
            "(needed with sink.properties.enable_merge_commit=true, where StarRocks ignores labels)",
            choices=("exactly_once", "at_least_once")),
    _int("sinkapp.load.backoff.max.ms", 60000, 1000, 3600000,
         "under load pressure (too many versions, transaction limits) a table's batches grow: its flush "
         "interval doubles up to this bound, and a refused load waits at most this long before it is sent again"),
    KeySpec("sinkapp.ledger.topic", None, "the compacted ledger topic of the consumer group "
            "(default <group.id>-sinkapp-ledger)"),
    _int("sinkapp.ledger.topic.partitions", 25, 1, 1000, "partitions of the ledger topic when sinkapp creates it"),
    _int("sinkapp.ledger.topic.replication.factor", 3, 1, 32767,
         "replication factor of the ledger topic when sinkapp creates it (capped at the broker count)"),
    # tables that follow the data (Confluent JDBC sink semantics; sinkapp.config.tables)
    KeySpec("auto.create", "false", "true: create a missing target table from the record schema",
            choices=("true", "false")),
    KeySpec("auto.evolve", "false", "true: add the record schema's new fields as nullable columns "
            "(never drops a column or changes a type)", choices=("true", "false")),
    KeySpec("starrocks.jdbc.url", None, "the FE's MySQL port, jdbc:mysql://fe-host:9030 (needed by auto.create "
            "and auto.evolve)"),
    KeySpec("sinkapp.table.create.buckets", None, "BUCKETS of a table auto.create makes (default: StarRocks "
            "picks)", kind="int", lo=1, hi=1024),
    _int("sinkapp.schema.change.timeout.ms", 300000, 1000, 86400000,
         "how long auto.evolve waits for a schema change job (SHOW ALTER TABLE COLUMN) to finish"),
    _int("sinkapp.drain.timeout.ms", 20000, 100, 600000,
         "on rebalance or shutdown, how long in-flight batches may take before they are left to the next owner"),
    KeySpec("sinkapp.assignment", "affine",
            "how the consumer group places partitions on workers: affine (each target table's partitions on as "
            "few workers as balance allows, so a table gets fewer loads) or spread (Kafka's round robin)",
            choices=("affine", "spread")),
    # Kafka client settings (Kafka Connect keeps these in the worker config)
    KeySpec("bootstrap.servers", "127.0.0.1:9092", "Kafka bootstrap servers host:port[,host:port]"),
    KeySpec("group.id", None, "consumer group shared by all workers (default connect-<name>)"),
    KeySpec("security.protocol", "PLAINTEXT", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
    KeySpec("sasl.mechanism", None, "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
    KeySpec("sasl.username", None, "SASL user (Confluent Cloud: API key)"),
    KeySpec("sasl.password", None, "SASL password (Confluent Cloud: API secret); prefer SINKAPP_SASL_PASSWORD"),
    KeySpec("sasl.jaas.config", None, "Java-style JAAS line; username/password are read from it"),
    KeySpec("ssl.cafile", None, "CA bundle (PEM) for TLS to Kafka; system CAs when unset"),
    KeySpec("ssl.truststore.location", None, "alias of ssl.cafile (PEM only)"),
    KeySpec("ssl.certfile", None, "client certificate (PEM) for mutual TLS"),
    KeySpec("ssl.keyfile", None, "client key (PEM) for mutual TLS"),
    KeySpec("auto.offset.reset", "earliest", "where a new consumer group starts: earliest or latest"),
    _int("session.timeout.ms", 60000, 6000, 300000,
         "consumer group session timeout: how soon a dead worker's partitions move to others"),
    _int("heartbeat.interval.ms", 3000, 100, 60000, "consumer heartbeat interval (below session.timeout.ms/3)"),
    _int("metadata.max.age.ms", 300000, 1000, 86400000,
         "how often the topic list is read again: a topic created later that topics.regex matches is loaded "
         "within this time, a deleted one's route stops"),
    # Schema Registry shared by both converters (Confluent Cloud's managed registry)
    KeySpec("confluent.custom.schema.registry.auto", "false",
            "true: the registry URL and credentials come from schema.registry.url / "
            "SINKAPP_SCHEMA_REGISTRY_URL instead of the converter keys", choices=("true", "false")),
    KeySpec("schema.registry.url", None, "registry URL used when a converter names none"),
    KeySpec("schema.registry.basic.auth.user.info", None, "registry key:secret used when a converter names none"),
]

KEYS: dict[str, KeySpec] = {s.key: s for s in _SPECS}


def default(key: str) -> Any:
    """The default of ``key`` as the table holds it (an int for integer keys, else text or None)."""
    return KEYS[key].default


def default_s(key: str) -> float:
    """The default of a ``...ms`` key, in seconds."""
    return float(KEYS[key].default) / 1000.0


def default_flag(key: str) -> bool:
    """The default of a true/false key."""
    return str(KEYS[key].default) == "true"

#: Kafka Connect keys that have no meaning for sinkapp: accepted with a warning.
IGNORED_CONNECT_KEYS = frozenset({
    "header.converter", "config.action.reload", "offset.flush.interval.ms", "offset.flush.timeout.ms",
    "consumer.max.poll.records", "key.ignore", "schema.ignore",
    "behavior.on.null.values", "predicates", "topic.creation.enable",
})

_JSON = "org.apache.kafka.connect.json.JsonConverter"
_STRING = "org.apache.kafka.connect.storage.StringConverter"
_BYTES = "org.apache.kafka.connect.converters.ByteArrayConverter"
_AVRO = "io.confluent.connect.avro.AvroConverter"
_PROTO = "io.confluent.connect.protobuf.ProtobufConverter"
_JSONSR = "io.confluent.connect.json.JsonSchemaConverter"

#: Kafka Connect converter class names and their short names → canonical class name.
CONVERTER_ALIASES: dict[str, str] = {
    _JSON: _JSON, "json": _JSON, "JsonConverter": _JSON,
    _STRING: _STRING, "string": _STRING, "StringConverter": _STRING,
    _BYTES: _BYTES, "bytes": _BYTES, "ByteArrayConverter": _BYTES,
    _AVRO: _AVRO, "avro": _AVRO, "AvroConverter": _AVRO,
    _PROTO: _PROTO, "protobuf": _PROTO, "ProtobufConverter": _PROTO,
    _JSONSR: _JSONSR, "jsonschema": _JSONSR, "JsonSchemaConverter": _JSONSR,
}

Parser = Callable[[str], Any]
