"""Routes: which Kafka topic goes to which StarRocks table, with which headers and converters.

Who calls: ``sinkapp.worker.app`` at start-up (``topics``) and, for ``topics.regex``, whenever the
topic list is refreshed (every ``metadata.max.age.ms``, :mod:`sinkapp.worker.discover`: :func:`topic_changes`).
Pure functions; no IO.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sinkapp.config.tableprops import table_headers
from sinkapp.config.targets import split_target
from sinkapp.config.types import ConverterSettings, Settings

DEFAULT_VALUE_CONVERTER = ConverterSettings(
    class_name="org.apache.kafka.connect.json.JsonConverter", schemas_enable=False)


@dataclass(frozen=True)
class Route:
    """One topic → database.table mapping; the unit that owns one Faust agent."""

    topic: str
    database: str
    table: str
    headers: Mapping[str, str]
    value_converter: ConverterSettings
    key_converter: ConverterSettings | None

    @property
    def name(self) -> str:
        return f"{self.topic}->{self.database}.{self.table}"


def route_for(settings: Settings, topic: str) -> Route:
    """The route of ``topic``: its ``starrocks.topic2table.map`` target (``table`` or ``db.table``), else
    the table of the topic's own name; a target without a database is in ``starrocks.database.name``
    ("" when that is not set: :func:`~sinkapp.config.targets.check_targets` says so)."""
    mapped = settings.topic2table.get(topic)
    database, table = (split_target(mapped, settings.database, "starrocks.topic2table.map") if mapped
                       else (settings.database, topic))
    return Route(
        topic=topic,
        database=database,
        table=table,
        headers=table_headers(settings, database, table),
        value_converter=settings.value_converter or DEFAULT_VALUE_CONVERTER,
        key_converter=settings.key_converter,
    )


OLD_LEDGER_INFIX = "-sinkapp-ledger-"        # 0.2: one ledger topic per route
LEDGER_SUFFIX = "-sinkapp-ledger"            # one ledger topic per consumer group


def is_internal(topic: str, settings: Settings | None = None) -> bool:
    """Topics a ``topics.regex`` never matches: Kafka's and Confluent's (``__*``, ``_confluent*``,
    any leading ``_``), Kafka Streams / Faust state (``*-changelog``, ``*-repartition``,
    ``*__assignor-__leader``), sinkapp's ledger topics (0.2's too) and the dead-letter topic."""
    if topic.startswith("_") or topic.endswith(("-changelog", "-repartition", "__assignor-__leader")):
        return True
    if OLD_LEDGER_INFIX in topic or topic.endswith(LEDGER_SUFFIX):
        return True
    return settings is not None and topic in (settings.errors.dlq_topic, settings.ledger_topic)


def match_topics(settings: Settings, existing: Iterable[str]) -> list[str]:
    """Topics to load: the ``topics`` list (taken as named, even an internal one), or the existing
    topics that fully match ``topics.regex`` except internal ones (:func:`is_internal`)."""
    if settings.topics:
        return list(settings.topics)
    assert settings.topics_regex is not None
    rx = re.compile(settings.topics_regex)
    return sorted(t for t in set(existing) if rx.fullmatch(t) and not is_internal(t, settings))


def build_routes(settings: Settings, existing_topics: Iterable[str] = ()) -> list[Route]:
    return [route_for(settings, t) for t in match_topics(settings, existing_topics)]


@dataclass(frozen=True)
class TopicChanges:
    """What a fresh topic list changes for ``topics.regex``: topics to route, routed topics gone."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def topic_changes(settings: Settings, routed: Iterable[str], existing: Iterable[str]) -> TopicChanges:
    """Compare the topics routed now with the broker's list (``existing``): matching topics not routed
    yet are ``added``, routed topics no longer on the broker ``removed`` (both sorted, so every worker
    of a group adds the same routes in the same order). With a ``topics`` list nothing changes: its
    topics are fixed at start."""
    if not settings.topics_regex:
        return TopicChanges()
    now, present = set(routed), set(existing)
    wanted = set(match_topics(settings, present))
    return TopicChanges(tuple(sorted(wanted - now)), tuple(sorted(now - present)))
