"""The settings the sink core reads (:class:`PipelineConfig`), from the worker's :class:`Settings`.

Who calls: :mod:`sinkapp.worker.app` (``PipelineConfig.of(settings)``) and the unit tests, which set
only what they need: every default is its key's in :mod:`sinkapp.config.keys`, never written here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sinkapp.config.keys import default, default_flag
from sinkapp.config.types import Settings


@dataclass(frozen=True)
class PipelineConfig:
    """The settings the core reads; each default is its key's (:mod:`sinkapp.config.keys`)."""

    label_prefix: str = default("sinkapp.label.prefix")
    max_bytes: int = default("bufferflush.maxbytes")
    max_rows: int = default("sinkapp.flush.max.rows")
    interval_ms: int = default("bufferflush.intervalms")
    max_interval_ms: int = default("sinkapp.load.backoff.max.ms")   # longest interval under pressure
    tasks_max: int = default("tasks.max")
    database: str = ""
    tolerant: bool = default("errors.tolerance") == "all"
    log_enable: bool = default_flag("errors.log.enable")
    log_messages: bool = default_flag("errors.log.include.messages")

    @classmethod
    def of(cls, settings: Settings) -> PipelineConfig:
        e = settings.errors
        return cls(label_prefix=settings.label_prefix, max_bytes=settings.bufferflush_maxbytes,
                   max_rows=settings.flush_max_rows, interval_ms=settings.bufferflush_intervalms,
                   max_interval_ms=settings.backoff_max_ms, tasks_max=settings.tasks_max,
                   database=settings.database, tolerant=e.tolerant, log_enable=e.log_enable,
                   log_messages=e.log_messages)
