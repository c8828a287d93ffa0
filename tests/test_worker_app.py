"""The worker app's own parts: the final progress lines come after the shutdown drain, and the log
filter that makes aiokafka's retried coordinator errors INFO tells them apart by type."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiokafka.errors import CoordinatorNotAvailableError, GroupAuthorizationFailedError

from sinkapp.faustio.app import BatchApp
from sinkapp.pipeline.stats import Snapshot
from sinkapp.worker.app import SinkApp, _TransientCoordinatorError


class Recorder:
    """Stands in for the pipeline (what it drained) and the progress (when its lines were asked for)."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.loaded = 0

    def snapshot(self) -> Snapshot:
        return Snapshot()

    def lines(self, snap: Snapshot, final: bool = False) -> list[str]:
        self.events.append(f"progress final={final} loaded={self.loaded}")
        return [f"progress (final) rows_loaded={self.loaded}"]


def test_the_final_progress_lines_are_logged_after_the_shutdown_drain(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()

    async def stop_and_drain(self: Any) -> None:          # Faust's stop: the drain loads the last batch
        rec.loaded = 777
        rec.events.append("drained")

    monkeypatch.setattr(BatchApp, "on_stop", stop_and_drain)
    app = SinkApp("test-final-progress")
    app.pipeline, app.progress = rec, rec  # type: ignore[assignment]
    with caplog.at_level(logging.INFO, logger="sinkapp.worker.app"):
        asyncio.run(app.on_stop())
    assert rec.events == ["drained", "progress final=True loaded=777"]
    assert "progress (final) rows_loaded=777" in caplog.text


def test_the_final_progress_lines_are_logged_even_when_stopping_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder()

    async def failing_stop(self: Any) -> None:
        raise RuntimeError("closing failed")

    monkeypatch.setattr(BatchApp, "on_stop", failing_stop)
    app = SinkApp("test-final-progress-2")
    app.pipeline, app.progress = rec, rec  # type: ignore[assignment]
    with pytest.raises(RuntimeError):
        asyncio.run(app.on_stop())
    assert rec.events == ["progress final=True loaded=0"]


def record(level: int, msg: str, *args: Any) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.consumer.group_coordinator", level, __file__, 1, msg, args, None)


def test_a_retriable_coordinator_error_is_info() -> None:
    r = record(logging.ERROR, "Group Coordinator Request failed: %s", CoordinatorNotAvailableError())
    assert _TransientCoordinatorError().filter(r) and (r.levelno, r.levelname) == (logging.INFO, "INFO")


def test_a_retriable_coordinator_error_is_info_also_after_the_redaction_factory_formatted_it() -> None:
    from sinkapp.observe import redact

    redact.install()                                   # as a worker does: records are redacted at creation
    r = logging.getLogRecordFactory()("aiokafka.consumer.group_coordinator", logging.ERROR, __file__, 1,
                                      "Group Coordinator Request failed: %s", (CoordinatorNotAvailableError(),), None)
    assert r.args == () and "CoordinatorNotAvailable" in r.getMessage()
    assert _TransientCoordinatorError().filter(r) and (r.levelno, r.levelname) == (logging.INFO, "INFO")


def test_a_non_retriable_error_stays_an_error_whatever_its_text_says() -> None:
    f = _TransientCoordinatorError()
    fatal = record(logging.ERROR, "Group Coordinator Request failed: %s", GroupAuthorizationFailedError())
    text_only = record(logging.ERROR, "Group Coordinator Request failed: %s", "GroupCoordinatorNotAvailableError")
    for r in (fatal, text_only):
        assert f.filter(r) and r.levelno == logging.ERROR
