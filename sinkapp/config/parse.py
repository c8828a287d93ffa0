"""Parsing connector keys into :class:`~sinkapp.config.types.Settings`, one key at a time.

Who calls: :func:`sinkapp.config.build_settings`. Every error is a ConfigError naming the key,
the value and what is allowed (unknown keys get a close-match suggestion).
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Mapping
from typing import Any

from sinkapp.config.keys import CONVERTER_ALIASES, IGNORED_CONNECT_KEYS, KEYS, KeySpec
from sinkapp.config.tableprops import check_props, is_table_key, parse_table_properties
from sinkapp.config.tables import PROPS_PREFIX, table_settings
from sinkapp.config.targets import split_target
from sinkapp.config.types import (
    ConverterSettings,
    ErrorSettings,
    KafkaSettings,
    Secret,
    Settings,
    TransformSpec,
)
from sinkapp.errors import ConfigError

log = logging.getLogger(__name__)


def _check_known(raw: Mapping[str, str]) -> None:
    known = set(KEYS)
    for key in raw:
        if key in known or key.startswith("sink.properties.") or is_table_key(key):
            continue
        if re.match(r"^(key|value)\.converter\.", key):
            continue
        if key == "transforms" or key.startswith(("transforms.", PROPS_PREFIX)):
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


def _topic2table(text: str | None) -> dict[str, str]:
    """``topic1:table1,topic2:db.table2`` → {topic: target}; each target checked (:func:`split_target`)."""
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
                f"starrocks.topic2table.map has a bad pair {pair!r}: use topic1:table1,topic2:db.table2")
        split_target(table, "", "starrocks.topic2table.map")
        if topic in out:
            raise ConfigError(f"starrocks.topic2table.map names topic {topic!r} twice")
        out[topic] = table
    return out


def _kafka(raw: Mapping[str, str], v: Mapping[str, Any], name: str) -> KafkaSettings:
    proto = v["security.protocol"].strip().upper()
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
    reset = v["auto.offset.reset"].strip().lower()
    if reset not in ("earliest", "latest"):
        raise ConfigError(f"auto.offset.reset={reset!r} is not allowed; use earliest or latest")
    return KafkaSettings(
        bootstrap_servers=v["bootstrap.servers"].strip(),
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
        heartbeat_interval_ms=v["heartbeat.interval.ms"], metadata_max_age_ms=v["metadata.max.age.ms"],
        assignment=v["sinkapp.assignment"].lower(),
    )


def parse_settings(raw: Mapping[str, str]) -> Settings:
    """Validate a flat key → string mapping into :class:`Settings` (each key on its own)."""
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
    props = _sink_properties(raw)
    name = v["name"] or "starrocks-sink"
    prefix = v["sinkapp.label.prefix"]
    if not re.match(r"^[-\w]{1,40}$", prefix):
        raise ConfigError(f"sinkapp.label.prefix={prefix!r} must match ^[-\\w]{{1,40}}$")
    return _settings(raw, v, topics, regex, props, name, prefix)


def _sink_properties(raw: Mapping[str, str]) -> dict[str, str]:
    """``sink.properties.*`` (Stream Load headers), checked where sinkapp reads them."""
    props = {k[len("sink.properties."):].lower(): val for k, val in raw.items()
             if k.startswith("sink.properties.")}
    check_props(props, lambda k: f"sink.properties.{k}")
    return props


def _settings(raw: Mapping[str, str], v: Mapping[str, Any], topics: tuple[str, ...], regex: str | None,
              props: dict[str, str], name: str, prefix: str) -> Settings:
    kafka = _kafka(raw, v, name)
    return Settings(
        name=name,
        ledger_topic=(v["sinkapp.ledger.topic"] or f"{kafka.group_id}-sinkapp-ledger").strip(),
        topics=topics,
        topics_regex=regex,
        topic2table=_topic2table(v["starrocks.topic2table.map"]),
        http_urls=_http_urls(v["starrocks.http.url"]),
        database=(v["starrocks.database.name"] or "").strip(),
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
        tables=table_settings(raw, v),
        table_properties=parse_table_properties(raw, v["starrocks.database.name"]),
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
