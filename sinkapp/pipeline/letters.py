"""The dead-letter topic: bad records, unchanged, with Kafka Connect's error context headers.

Who calls: the loader (:mod:`sinkapp.pipeline.loader`) with ``errors.tolerance=all``, before the
batch a bad record came in loads (``send`` returns only when Kafka confirmed every dead letter);
:func:`sinkapp.worker.startup.ensure_own_topics` creates the topic when it is missing.

A dead letter is the source record's key, value and headers as they were, plus, when
``errors.deadletterqueue.context.headers.enable=true``, the headers Kafka Connect's
``DeadLetterQueueReporter`` writes (same names, values as UTF-8 text), so existing DLQ tooling
reads them: ``__connect.errors.topic``, ``.partition``, ``.offset``, ``.connector.name``,
``.task.id``, ``.stage``, ``.class.name``, ``.exception.class.name``, ``.exception.message``,
``.exception.stacktrace``.

Stages, as Kafka Connect names them: ``VALUE_CONVERTER`` (the value cannot be decoded, including
registry framing and schema lookups), ``TRANSFORMATION``, ``TASK_PUT`` (the row cannot be encoded
for the body, or StarRocks refused it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "__connect.errors."
VALUE_CONVERTER = "VALUE_CONVERTER"
TRANSFORMATION = "TRANSFORMATION"
TASK_PUT = "TASK_PUT"


@dataclass(frozen=True)
class DeadLetter:
    """One bad record and why."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    stage: str
    exception_class: str
    message: str
    class_name: str = ""            # the converter or transform class that failed

    def context_headers(self, connector: str, task_id: str) -> list[tuple[str, bytes]]:
        fields = [
            ("topic", self.topic), ("partition", str(self.partition)), ("offset", str(self.offset)),
            ("connector.name", connector), ("task.id", task_id), ("stage", self.stage),
            ("class.name", self.class_name), ("exception.class.name", self.exception_class),
            ("exception.message", self.message),
            ("exception.stacktrace", f"{self.exception_class}: {self.message}"),
        ]
        return [(PREFIX + k, v.encode("utf-8")) for k, v in fields]

    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


def letter(record: Any, stage: str, exc: BaseException, class_name: str = "") -> DeadLetter:
    """A dead letter for an aiokafka ``ConsumerRecord`` (or anything with its attributes)."""
    headers = tuple((str(k), bytes(v) if v is not None else b"") for k, v in (getattr(record, "headers", ()) or ()))
    return DeadLetter(record.topic, record.partition, record.offset, getattr(record, "key", None), record.value,
                      headers, stage, _java_like_name(exc), str(exc), class_name)


def _java_like_name(exc: BaseException) -> str:
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"
