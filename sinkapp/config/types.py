"""The typed, frozen settings model (built by :mod:`sinkapp.config`, never mutated).

Secrets are :class:`Secret` values: their ``repr``/``str`` never show the text. Every default is
the key's in :mod:`sinkapp.config.keys` (read there, never written again here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sinkapp.config.keys import default, default_flag


class Secret:
    """A string that never shows itself in repr, str, logs or error messages."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('******')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class ConverterSettings:
    """One key or value converter: class name plus its ``<side>.converter.*`` options."""

    class_name: str
    schemas_enable: bool
    registry_url: str | None = None
    registry_user_info: Secret | None = None
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KafkaSettings:
    """How the worker reaches Kafka (not Java connector keys: Connect keeps these in the worker)."""

    bootstrap_servers: str
    group_id: str
    security_protocol: str
    sasl_mechanism: str | None
    sasl_username: str | None
    sasl_password: Secret | None
    ssl_cafile: str | None
    ssl_certfile: str | None
    ssl_keyfile: str | None
    auto_offset_reset: str
    session_timeout_ms: int = default("session.timeout.ms")
    heartbeat_interval_ms: int = default("heartbeat.interval.ms")
    metadata_max_age_ms: int = default("metadata.max.age.ms")
    assignment: str = default("sinkapp.assignment")          # affine | spread


@dataclass(frozen=True)
class ErrorSettings:
    """Kafka Connect's ``errors.*`` keys: what happens to a record that cannot be loaded."""

    tolerance: str = default("errors.tolerance")      # none | all
    dlq_topic: str | None = None
    dlq_replication_factor: int = default("errors.deadletterqueue.topic.replication.factor")
    dlq_partitions: int = default("sinkapp.dlq.topic.partitions")
    context_headers: bool = default_flag("errors.deadletterqueue.context.headers.enable")
    log_enable: bool = default_flag("errors.log.enable")
    log_messages: bool = default_flag("errors.log.include.messages")

    @property
    def tolerant(self) -> bool:
        return self.tolerance == "all"


@dataclass(frozen=True)
class TableSettings:
    """``auto.create`` / ``auto.evolve`` and the DDL connection (:mod:`sinkapp.config.tables`)."""

    auto_create: bool = default_flag("auto.create")
    auto_evolve: bool = default_flag("auto.evolve")
    jdbc_url: str | None = None                       # as written, a password=... in it masked
    jdbc_hosts: tuple[tuple[str, int], ...] = ()
    jdbc_password: Secret | None = None               # a password=... written into the URL
    create_properties: Mapping[str, str] = field(default_factory=dict)
    create_buckets: int | None = None
    change_timeout_ms: int = default("sinkapp.schema.change.timeout.ms")

    @property
    def enabled(self) -> bool:
        return self.auto_create or self.auto_evolve


@dataclass(frozen=True)
class TableProperties:
    """``sink.table.<table>.properties.*`` of one table (:mod:`sinkapp.config.tableprops`): the values
    by property name (lower case), and the key each one was written as (errors name it)."""

    values: Mapping[str, str] = field(default_factory=dict)
    keys: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs; built by :func:`load_settings`, never mutated."""

    name: str
    topics: tuple[str, ...]
    topics_regex: str | None
    topic2table: Mapping[str, str]
    http_urls: tuple[str, ...]
    database: str
    username: str
    password: Secret = field(repr=True)
    key_converter: ConverterSettings | None = None
    value_converter: ConverterSettings | None = None
    tasks_max: int = default("tasks.max")
    bufferflush_maxbytes: int = default("bufferflush.maxbytes")
    bufferflush_intervalms: int = default("bufferflush.intervalms")
    connect_timeoutms: int = default("connect.timeoutms")
    sink_maxretries: int = default("sink.maxretries")
    sink_properties: Mapping[str, str] = field(default_factory=dict)
    label_prefix: str = default("sinkapp.label.prefix")
    load_timeout_ms: int = default("sinkapp.load.timeout.ms")
    flush_max_rows: int = default("sinkapp.flush.max.rows")
    drain_timeout_ms: int = default("sinkapp.drain.timeout.ms")
    delivery_guarantee: str = default("sinkapp.delivery.guarantee")
    backoff_max_ms: int = default("sinkapp.load.backoff.max.ms")
    ledger_topic: str = ""
    ledger_partitions: int = default("sinkapp.ledger.topic.partitions")
    ledger_replication_factor: int = default("sinkapp.ledger.topic.replication.factor")
    starrocks_cafile: str | None = None
    starrocks_certfile: str | None = None
    starrocks_keyfile: str | None = None
    timezone: str = default("sinkapp.timezone")
    stall_timeout_ms: int = default("sinkapp.stall.timeout.ms")
    web_bind: str = default("sinkapp.web.bind")
    web_port: int = default("sinkapp.web.port")
    kafka: KafkaSettings | None = None
    registry_url: str | None = None
    registry_user_info: Secret | None = None
    errors: ErrorSettings = field(default_factory=ErrorSettings)
    transforms: tuple[TransformSpec, ...] = ()
    tables: TableSettings = field(default_factory=TableSettings)
    table_properties: Mapping[str, TableProperties] = field(default_factory=dict)   # by "db.table"

    @property
    def body_format(self) -> str:
        return self.sink_properties.get("format", "json").lower()


@dataclass(frozen=True)
class TransformSpec:
    """``transforms.<name>.type`` and the other ``transforms.<name>.*`` options.

    ``value_schemas``: whether the route's values carry a Connect schema (False for JsonConverter
    with ``schemas.enable=false`` and the String/ByteArray converters); a schema-only transform
    (TimeMillisToStringTransform) passes schemaless values through, as in Kafka Connect."""

    name: str
    type: str
    options: Mapping[str, str] = field(default_factory=dict)
    value_schemas: bool = True
