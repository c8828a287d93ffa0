"""Typed, frozen settings built from a Java-connector style JSON config plus ``SINKAPP_*`` env.

Who calls: ``sinkapp.cli`` (``worker``, ``check``) and ``sinkapp.app`` at start-up.
``load_settings(path, env)`` raises :class:`~sinkapp.errors.ConfigError` with one message
naming the key, the value and what is allowed. Secrets are :class:`Secret` values: their
``repr``/``str`` never show the text.

Sources, later wins: the JSON file, then environment variables. Each key ``a.b.c`` may be set
as ``SINKAPP_A_B_C`` (so ``SINKAPP_STARROCKS_PASSWORD``); ``sink.properties.<x>`` as
``SINKAPP_SINK_PROPERTIES_<X>``.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sinkapp.errors import ConfigError
from sinkapp.settings_keys import (
    CONVERTER_ALIASES,
    IGNORED_CONNECT_KEYS,
    KEYS,
    KeySpec,
)
from sinkapp.transforms import TransformSpec

log = logging.getLogger(__name__)

ENV_PREFIX = "SINKAPP_"


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
    session_timeout_ms: int = 60000
    heartbeat_interval_ms: int = 3000


@dataclass(frozen=True)
class ErrorSettings:
    """Kafka Connect's ``errors.*`` keys: what happens to a record that cannot be loaded."""

    tolerance: str = "none"                 # none | all
    dlq_topic: str | None = None
    dlq_replication_factor: int = 3
    dlq_partitions: int = 1
    context_headers: bool = False
    log_enable: bool = False
    log_messages: bool = False

    @property
    def tolerant(self) -> bool:
        return self.tolerance == "all"


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
    tasks_max: int = 1
    bufferflush_maxbytes: int = 94371840
    bufferflush_intervalms: int = 300000
    connect_timeoutms: int = 1000
    sink_maxretries: int = 3
    sink_properties: Mapping[str, str] = field(default_factory=dict)
    label_prefix: str = "sinkapp"
    load_timeout_ms: int = 600000
    flush_max_rows: int = 500000
    drain_timeout_ms: int = 20000
    delivery_guarantee: str = "exactly_once"
    backoff_max_ms: int = 60000
    ledger_topic: str = ""
    ledger_partitions: int = 25
    ledger_replication_factor: int = 3
    starrocks_cafile: str | None = None
    starrocks_certfile: str | None = None
    starrocks_keyfile: str | None = None
    timezone: str = "UTC"
    stall_timeout_ms: int = 60000
    web_bind: str = "127.0.0.1"
    web_port: int = 6066
    kafka: KafkaSettings | None = None
    registry_url: str | None = None
    registry_user_info: Secret | None = None
    errors: ErrorSettings = field(default_factory=ErrorSettings)
    transforms: tuple[TransformSpec, ...] = ()

    @property
    def body_format(self) -> str:
        return self.sink_properties.get("format", "json").lower()


def _env_name(key: str) -> str:
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", key).upper()


def _from_env(env: Mapping[str, str]) -> dict[str, str]:
    """Map ``SINKAPP_*`` variables back to config keys."""
    by_env = {_env_name(k): k for k in KEYS}
    out: dict[str, str] = {}
    sp = ENV_PREFIX + "SINK_PROPERTIES_"
    for name, value in env.items():
        if name in by_env:
            out[by_env[name]] = value
        elif name.startswith(sp) and len(name) > len(sp):
            out["sink.properties." + name[len(sp):].lower()] = value
        for side in ("KEY", "VALUE"):
            p = f"{ENV_PREFIX}{side}_CONVERTER_"
            if name.startswith(p) and name not in by_env:
                rest = name[len(p):].lower().replace("_", ".")
                out[f"{side.lower()}.converter.{rest}"] = value
    return out


def read_config_file(path: str | Path) -> dict[str, str]:
    """Read a connector JSON file: either a flat object or Connect's ``{"name":…, "config":{…}}``."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {str(p)!r} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {str(p)!r} is not valid JSON: {exc}") from None
    if isinstance(raw, dict) and isinstance(raw.get("config"), dict):
        name = raw.get("name")
        raw = dict(raw["config"])
        if name and "name" not in raw:
            raw["name"] = name
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {str(p)!r} must hold a JSON object of connector keys")
    return {str(k): ("" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in raw.items()}


def _check_known(raw: Mapping[str, str]) -> None:
    known = set(KEYS)
    for key in raw:
        if key in known or key.startswith("sink.properties."):
            continue
        if re.match(r"^(key|value)\.converter\.", key):
            continue
        if key == "transforms" or key.startswith("transforms."):
            continue                                 # parsed by _transforms
        if key in IGNORED_CONNECT_KEYS or key.startswith(("errors.", "consumer.override.")):
            # errors.* keys sinkapp honours are in KEYS; others (errors.retry.*) do not apply
            log.warning("config key %r is a Kafka Connect key sinkapp does not use; ignored", key)
            continue
        close = difflib.get_close_matches(key, sorted(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown config key {key!r}{hint}")


def _value(raw: Mapping[str, str], spec: KeySpec) -> Any:
    text = raw.get(spec.key)
    if text is None or text.strip() == "":
        if spec.required:
            raise ConfigError(f"{spec.key} is required: {spec.help}")
        return spec.default
    return spec.parse(text.strip())


def _converter(raw: Mapping[str, str], side: str) -> ConverterSettings | None:
    cls = raw.get(f"{side}.converter")
    if not cls:
        return None
    name = CONVERTER_ALIASES.get(cls.strip(), cls.strip())
    if name not in set(CONVERTER_ALIASES.values()):
        choices = ", ".join(sorted(set(CONVERTER_ALIASES.values())))
        raise ConfigError(f"{side}.converter={cls!r} is not supported; use one of: {choices}")
    prefix = f"{side}.converter."
    opts = {k[len(prefix):]: v for k, v in raw.items() if k.startswith(prefix)}
    se = opts.get("schemas.enable", "true").strip().lower()
    if se not in ("true", "false"):
        raise ConfigError(f"{prefix}schemas.enable={se!r} must be true or false")
    user_info = opts.get("basic.auth.user.info") or opts.get("schema.registry.basic.auth.user.info")
    return ConverterSettings(
        class_name=name,
        schemas_enable=se == "true",
        registry_url=opts.get("schema.registry.url") or None,
        registry_user_info=Secret(user_info) if user_info else None,
        options={k: v for k, v in opts.items() if "user.info" not in k and "password" not in k},
    )


def _http_urls(text: str) -> tuple[str, ...]:
    urls = []
    for part in text.split(","):
        given = part = part.strip().rstrip("/")
        if not part:
            continue
        scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", part)
        if scheme and scheme.group(1).lower() not in ("http", "https"):
            raise ConfigError(f"starrocks.http.url has a bad address {given!r}: the scheme must be http or https")
        if not scheme:
            part = "http://" + part
        if not re.match(r"^https?://[^/\s:@]+(:\d+)?$", part):
            raise ConfigError(
                f"starrocks.http.url has a bad address {given!r}: use host:port or http(s)://host:port, "
                "comma-separated for several FEs")
        urls.append(part)
    if not urls:
        raise ConfigError("starrocks.http.url is required: one or more FE addresses host:port")
    return tuple(urls)


_TABLE_RE = re.compile(r"^[_a-zA-Z][_$a-zA-Z0-9]*$")


def _topic2table(text: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if not text:
        return out
    for pair in text.split(","):
        pair = pair.strip()
        if not pair:
            continue
        topic, sep, table = pair.partition(":")
        topic, table = topic.strip(), table.strip()
        if not sep or not topic or not table:
            raise ConfigError(
                f"starrocks.topic2table.map has a bad pair {pair!r}: use topic1:table1,topic2:table2")
        if not _TABLE_RE.match(table):
            raise ConfigError(f"starrocks.topic2table.map: {table!r} is not a valid table name")
        if topic in out:
            raise ConfigError(f"starrocks.topic2table.map names topic {topic!r} twice")
        out[topic] = table
    return out


def _kafka(raw: Mapping[str, str], v: Mapping[str, Any], name: str) -> KafkaSettings:
    proto = raw.get("security.protocol", "PLAINTEXT").strip().upper()
    if proto not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
        raise ConfigError(
            f"security.protocol={proto!r} is not allowed; use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    mech = raw.get("sasl.mechanism", "").strip().upper() or None
    if proto.startswith("SASL") and mech is None:
        mech = "PLAIN"
    if mech and mech not in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        raise ConfigError(f"sasl.mechanism={mech!r} is not allowed; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
    user = raw.get("sasl.username") or None
    pw = raw.get("sasl.password") or None
    jaas = raw.get("sasl.jaas.config")
    if jaas and not user:
        m_user = re.search(r'username\s*=\s*"([^"]*)"', jaas)
        m_pw = re.search(r'password\s*=\s*"([^"]*)"', jaas)
        user = m_user.group(1) if m_user else None
        pw = m_pw.group(1) if m_pw else None
    if proto.startswith("SASL") and (not user or not pw):
        raise ConfigError(
            f"security.protocol={proto} needs sasl.username and sasl.password "
            "(or SINKAPP_SASL_USERNAME / SINKAPP_SASL_PASSWORD, or sasl.jaas.config)")
    reset = raw.get("auto.offset.reset", "earliest").strip().lower()
    if reset not in ("earliest", "latest"):
        raise ConfigError(f"auto.offset.reset={reset!r} is not allowed; use earliest or latest")
    return KafkaSettings(
        bootstrap_servers=raw.get("bootstrap.servers", "127.0.0.1:9092").strip(),
        group_id=(raw.get("group.id") or f"connect-{name}").strip(),
        security_protocol=proto,
        sasl_mechanism=mech,
        sasl_username=user,
        sasl_password=Secret(pw) if pw else None,
        ssl_cafile=raw.get("ssl.cafile") or raw.get("ssl.truststore.location") or None,
        ssl_certfile=raw.get("ssl.certfile") or None,
        ssl_keyfile=raw.get("ssl.keyfile") or None,
        auto_offset_reset=reset,
        session_timeout_ms=v["session.timeout.ms"],
        heartbeat_interval_ms=v["heartbeat.interval.ms"],
    )


_IDENT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,255}$")
_REGISTRY_CLASSES = ("io.confluent.connect.avro.AvroConverter", "io.confluent.connect.protobuf.ProtobufConverter",
                     "io.confluent.connect.json.JsonSchemaConverter")


def _check_registry(side: str, cs: ConverterSettings | None, worker_url: str | None,
                    worker_user_info: Secret | None) -> None:
    """What a registry converter needs, checked before anything connects."""
    if cs is None or cs.class_name not in _REGISTRY_CLASSES:
        return
    url = cs.registry_url or worker_url
    if not url:
        raise ConfigError(f"{side}.converter={cs.class_name} needs {side}.converter.schema.registry.url "
                          "(or schema.registry.url / SINKAPP_SCHEMA_REGISTRY_URL with "
                          "confluent.custom.schema.registry.auto=true)")
    if not re.match(r"^https?://[^/\s]+", url.strip()):
        raise ConfigError(f"{side}.converter.schema.registry.url must be an http(s):// URL "
                          "(e.g. https://psrc-xxxx.region.aws.confluent.cloud)")
    info = cs.registry_user_info or worker_user_info
    if info is not None and ":" not in info.get():
        raise ConfigError(f"{side}.converter.basic.auth.user.info must be key:secret (the registry API key, "
                          "a colon, the secret)")


def starrocks_ssl_context(s: Settings) -> Any:
    """The TLS context for https:// FEs and BEs: ``sinkapp.starrocks.ssl.cafile`` (else the system's
    CAs) and an optional client certificate; ``None`` when the settings name no file."""
    import ssl

    if not (s.starrocks_cafile or s.starrocks_certfile):
        return None
    try:
        ctx = ssl.create_default_context(cafile=s.starrocks_cafile)
        if s.starrocks_certfile:
            ctx.load_cert_chain(s.starrocks_certfile, s.starrocks_keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"sinkapp.starrocks.ssl.cafile / certfile / keyfile: cannot be read as PEM: {exc}") from None
    return ctx


def _cross_checks(s: Settings) -> None:
    """Settings that are each valid but wrong together, or names StarRocks would not take."""
    if not _IDENT_RE.match(s.database):
        raise ConfigError(f"starrocks.database.name={s.database!r} is not a StarRocks database name "
                          "(a letter, then letters, digits or _)")
    renames = any(t.type.endswith("RegexRouter") for t in s.transforms)   # map keys may be renamed topics
    if s.topics and not renames:
        stray = sorted(set(s.topic2table) - set(s.topics))
        if stray:
            raise ConfigError(f"starrocks.topic2table.map names {', '.join(stray)}, which is not in topics="
                              f"{','.join(s.topics)}")
    k = s.kafka
    if k is not None and k.heartbeat_interval_ms * 3 > k.session_timeout_ms:
        raise ConfigError(f"heartbeat.interval.ms={k.heartbeat_interval_ms} must be at most a third of "
                          f"session.timeout.ms={k.session_timeout_ms}")
    merge = s.sink_properties.get("enable_merge_commit", "false").strip().lower() == "true"
    if merge and s.delivery_guarantee != "at_least_once":
        raise ConfigError(
            "sink.properties.enable_merge_commit=true makes StarRocks ignore load labels (it generates its own), "
            "so a batch sent again after a failure or a rebalance is loaded twice: exactly-once cannot hold. "
            "Set sinkapp.delivery.guarantee=at_least_once to accept that, or drop enable_merge_commit")
    if not re.match(r"^[a-zA-Z0-9._-]{1,249}$", s.ledger_topic):
        raise ConfigError(f"sinkapp.ledger.topic={s.ledger_topic!r} is not a valid Kafka topic name")
    _check_registry("value", s.value_converter, s.registry_url, s.registry_user_info)
    _check_registry("key", s.key_converter, s.registry_url, s.registry_user_info)
    from sinkapp.encoding import build_encoder
    build_encoder(s.sink_properties)             # bad separators / delimiters fail here, not at start
    starrocks_ssl_context(s)                     # unreadable CA / certificate files too
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    if s.timezone.upper() != "UTC":
        try:
            ZoneInfo(s.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"sinkapp.timezone={s.timezone!r} is not an IANA time zone name "
                              "(e.g. UTC, Europe/Berlin, Asia/Shanghai)") from None


def build_settings(raw: Mapping[str, str]) -> Settings:
    """Validate a flat key → string mapping into :class:`Settings`."""
    s = _build_settings(raw)
    _cross_checks(s)
    return s


def _build_settings(raw: Mapping[str, str]) -> Settings:
    _check_known(raw)
    v = {spec.key: _value(raw, spec) for spec in KEYS.values()}
    topics = tuple(t.strip() for t in (v["topics"] or "").split(",") if t.strip())
    regex = v["topics.regex"]
    if topics and regex:
        raise ConfigError("set either topics or topics.regex, not both")
    if not topics and not regex:
        raise ConfigError("topics (comma list) or topics.regex is required")
    if regex:
        try:
            re.compile(regex)
        except re.error as exc:
            raise ConfigError(f"topics.regex={regex!r} is not a valid regular expression: {exc}") from None
    props = {k[len("sink.properties."):].lower(): val for k, val in raw.items()
             if k.startswith("sink.properties.")}
    fmt = props.get("format", "json").lower()
    if fmt not in ("json", "csv"):
        raise ConfigError(f"sink.properties.format={fmt!r} is not allowed; use json or csv")
    if "jsonpaths" in props:
        try:
            paths = json.loads(props["jsonpaths"])
            assert isinstance(paths, list) and all(isinstance(p, str) for p in paths)
        except (ValueError, AssertionError):
            raise ConfigError(
                f"sink.properties.jsonpaths={props['jsonpaths']!r} must be a JSON array of "
                'JsonPath strings, e.g. ["$.id","$.address.city"]') from None
    if "label" in props:
        raise ConfigError("sink.properties.label is not allowed: sinkapp derives each batch's label "
                          "from its Kafka offsets (set sinkapp.label.prefix instead)")
    name = v["name"] or "starrocks-sink"
    prefix = v["sinkapp.label.prefix"]
    if not re.match(r"^[-\w]{1,40}$", prefix):
        raise ConfigError(f"sinkapp.label.prefix={prefix!r} must match ^[-\\w]{{1,40}}$")
    kafka = _kafka(raw, v, name)
    return Settings(
        name=name,
        ledger_topic=(v["sinkapp.ledger.topic"] or f"{kafka.group_id}-sinkapp-ledger").strip(),
        topics=topics,
        topics_regex=regex,
        topic2table=_topic2table(v["starrocks.topic2table.map"]),
        http_urls=_http_urls(v["starrocks.http.url"]),
        database=v["starrocks.database.name"],
        username=v["starrocks.username"],
        password=Secret(raw.get("starrocks.password", "")),
        key_converter=_converter(raw, "key"),
        value_converter=_converter(raw, "value"),
        tasks_max=v["tasks.max"],
        bufferflush_maxbytes=v["bufferflush.maxbytes"],
        bufferflush_intervalms=v["bufferflush.intervalms"],
        connect_timeoutms=v["connect.timeoutms"],
        sink_maxretries=v["sink.maxretries"],
        sink_properties=props,
        label_prefix=prefix,
        load_timeout_ms=v["sinkapp.load.timeout.ms"],
        flush_max_rows=v["sinkapp.flush.max.rows"],
        drain_timeout_ms=v["sinkapp.drain.timeout.ms"],
        delivery_guarantee=v["sinkapp.delivery.guarantee"].lower(),
        backoff_max_ms=v["sinkapp.load.backoff.max.ms"],
        ledger_partitions=v["sinkapp.ledger.topic.partitions"],
        ledger_replication_factor=v["sinkapp.ledger.topic.replication.factor"],
        starrocks_cafile=v["sinkapp.starrocks.ssl.cafile"],
        starrocks_certfile=v["sinkapp.starrocks.ssl.certfile"],
        starrocks_keyfile=v["sinkapp.starrocks.ssl.keyfile"],
        timezone=v["sinkapp.timezone"].strip(),
        stall_timeout_ms=v["sinkapp.stall.timeout.ms"],
        web_bind=v["sinkapp.web.bind"].strip(),
        web_port=v["sinkapp.web.port"],
        kafka=kafka,
        registry_url=v["schema.registry.url"],
        registry_user_info=(Secret(v["schema.registry.basic.auth.user.info"])
                            if v["schema.registry.basic.auth.user.info"] else None),
        errors=_errors(v),
        transforms=_transforms(raw, _value_schemas(_converter(raw, "value"))),
    )


def _value_schemas(cs: ConverterSettings | None) -> bool:
    """Whether values reach the transforms with a Connect schema (no: plain JSON, String, ByteArray;
    without value.converter the route reads plain JSON)."""
    if cs is None or cs.class_name in ("org.apache.kafka.connect.storage.StringConverter",
                                       "org.apache.kafka.connect.converters.ByteArrayConverter"):
        return False
    return cs.schemas_enable or cs.class_name != "org.apache.kafka.connect.json.JsonConverter"


def _transforms(raw: Mapping[str, str], value_schemas: bool = True) -> tuple[TransformSpec, ...]:
    """``transforms=a,b`` with ``transforms.a.type`` and ``transforms.a.*`` options, Connect style."""
    names = [n.strip() for n in (raw.get("transforms") or "").split(",") if n.strip()]
    if len(set(names)) != len(names):
        raise ConfigError(f"transforms={raw.get('transforms')!r} names a transform twice")
    specs = []
    for name in names:
        prefix = f"transforms.{name}."
        ttype = (raw.get(prefix + "type") or "").strip()
        if not ttype:
            raise ConfigError(f"transforms.{name}.type is required (a built-in such as Debezium, Flatten, "
                              "Explode, a Kafka Connect SMT class name, or package.module:function)")
        opts = {k[len(prefix):]: v for k, v in raw.items() if k.startswith(prefix) and k != prefix + "type"}
        specs.append(TransformSpec(name, ttype, opts, value_schemas))
    for key in raw:
        if key.startswith("transforms.") and key.split(".")[1] not in names:
            raise ConfigError(f"{key} belongs to a transform not listed in transforms={raw.get('transforms', '')!r}")
    return tuple(specs)


def _errors(v: Mapping[str, Any]) -> ErrorSettings:
    dlq = (v["errors.deadletterqueue.topic.name"] or "").strip() or None
    tolerance = v["errors.tolerance"].lower()
    if dlq and tolerance != "all":
        raise ConfigError(f"errors.deadletterqueue.topic.name={dlq!r} needs errors.tolerance=all "
                          "(with tolerance none a bad record stops the route; nothing is dead-lettered)")
    if dlq and not re.match(r"^[a-zA-Z0-9._-]{1,249}$", dlq):
        raise ConfigError(f"errors.deadletterqueue.topic.name={dlq!r} is not a valid Kafka topic name")
    return ErrorSettings(
        tolerance=tolerance, dlq_topic=dlq,
        dlq_replication_factor=v["errors.deadletterqueue.topic.replication.factor"],
        dlq_partitions=v["sinkapp.dlq.topic.partitions"],
        context_headers=v["errors.deadletterqueue.context.headers.enable"].lower() == "true",
        log_enable=v["errors.log.enable"].lower() == "true",
        log_messages=v["errors.log.include.messages"].lower() == "true")


def load_settings(path: str | Path | None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the config file (optional) and ``SINKAPP_*`` overrides from ``env`` (default os.environ)."""
    raw: dict[str, str] = read_config_file(path) if path else {}
    raw.update(_from_env(os.environ if env is None else env))
    return build_settings(raw)
