"""Settings that are each valid but wrong together, and names StarRocks or Kafka would not take.

Who calls: :func:`sinkapp.config.build_settings` after parsing, so ``sinkapp check`` catches them
without connecting anywhere.
"""

from __future__ import annotations

import re
from typing import Any

from sinkapp.config.sinkprops import check_merge_commit, check_sink_properties
from sinkapp.config.tableprops import check_table_properties
from sinkapp.config.tables import check_tables
from sinkapp.config.targets import DATABASE_RE
from sinkapp.config.types import ConverterSettings, Secret, Settings
from sinkapp.errors import ConfigError

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


def cross_checks(s: Settings) -> None:
    """Settings that are each valid but wrong together, or names StarRocks would not take."""
    if s.database and not DATABASE_RE.match(s.database):
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
    check_merge_commit(s.sink_properties, s.delivery_guarantee)
    if not re.match(r"^[a-zA-Z0-9._-]{1,249}$", s.ledger_topic):
        raise ConfigError(f"sinkapp.ledger.topic={s.ledger_topic!r} is not a valid Kafka topic name")
    _check_registry("value", s.value_converter, s.registry_url, s.registry_user_info)
    _check_registry("key", s.key_converter, s.registry_url, s.registry_user_info)
    check_sink_properties(s.sink_properties)     # bad separators / delimiters fail here, not at start
    starrocks_ssl_context(s)                     # unreadable CA / certificate files too
    check_tables(s)
    check_table_properties(s)                    # each table's sink.table.<table>.properties.* merged
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    if s.timezone.upper() != "UTC":
        try:
            ZoneInfo(s.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"sinkapp.timezone={s.timezone!r} is not an IANA time zone name "
                              "(e.g. UTC, Europe/Berlin, Asia/Shanghai)") from None
