"""Routes: which Kafka topic goes to which StarRocks table, with which headers and converters.

Who calls: ``sinkapp.app`` at start-up (``topics``) and, for ``topics.regex``, whenever the
topic list is refreshed (:func:`match_topics`). Pure functions; no IO.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sinkapp.config import ConverterSettings, Settings

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
    """The route of ``topic``: table from ``starrocks.topic2table.map`` or the topic's own name."""
    return Route(
        topic=topic,
        database=settings.database,
        table=settings.topic2table.get(topic, topic),
        headers=dict(settings.sink_properties),
        value_converter=settings.value_converter or DEFAULT_VALUE_CONVERTER,
        key_converter=settings.key_converter,
    )


def match_topics(settings: Settings, existing: Iterable[str]) -> list[str]:
    """Topics to load: the ``topics`` list, or the existing topics that fully match ``topics.regex``.

    Internal topics (leading ``_``) and sinkapp's own changelog/DLQ topics never match a regex.
    """
    if settings.topics:
        return list(settings.topics)
    assert settings.topics_regex is not None
    rx = re.compile(settings.topics_regex)
    return sorted(t for t in set(existing)
                  if rx.fullmatch(t) and not t.startswith("_") and "-changelog" not in t
                  and not t.endswith("__assignor-__leader"))


def build_routes(settings: Settings, existing_topics: Iterable[str] = ()) -> list[Route]:
    return [route_for(settings, t) for t in match_topics(settings, existing_topics)]
