"""``sinkapp check --connect``'s StarRocks check tells a missing table apart by the error's type
(:class:`~sinkapp.errors.UnknownTable`), never by the words of a message."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sinkapp.config import build_settings
from sinkapp.config.routes import build_routes
from sinkapp.errors import LoadRejected, UnknownTable
from sinkapp.worker import checks

BASE = {"topics": "orders", "starrocks.http.url": "127.0.0.1:8030", "starrocks.database.name": "test",
        "starrocks.username": "root"}
AUTO_CREATE = {"auto.create": "true", "starrocks.jdbc.url": "jdbc:mysql://127.0.0.1:9030",
               "value.converter": "org.apache.kafka.connect.json.JsonConverter",
               "value.converter.schemas.enable": "true"}


class RefusingClient:
    """Stands in for StreamLoadClient: every load raises ``error``."""

    error: Exception = LoadRejected("?")

    def __init__(self, *args: Any, **kw: Any) -> None:
        pass

    async def load(self, *args: Any, **kw: Any) -> Any:
        raise type(self).error

    async def close(self) -> None:
        pass


def starrocks_check(monkeypatch: pytest.MonkeyPatch, error: Exception, **over: str) -> checks.Check:
    import sinkapp.streamload.client as client_module

    RefusingClient.error = error
    monkeypatch.setattr(client_module, "StreamLoadClient", RefusingClient)
    s = build_settings({**BASE, **over})
    [check] = asyncio.run(checks._starrocks(s, build_routes(s)))
    return check


def test_a_missing_table_passes_when_auto_create_creates_it(monkeypatch: pytest.MonkeyPatch) -> None:
    c = starrocks_check(monkeypatch, UnknownTable('unknown table "test.orders"'), **AUTO_CREATE)
    assert c.ok and "auto.create creates it" in c.detail


def test_a_missing_table_fails_without_auto_create(monkeypatch: pytest.MonkeyPatch) -> None:
    c = starrocks_check(monkeypatch, UnknownTable('StarRocks rejected the load: unknown table "test.orders"'))
    assert not c.ok and 'unknown table "test.orders"' in c.detail


def test_another_refusal_whose_text_says_unknown_table_is_not_taken_for_a_missing_table(
        monkeypatch: pytest.MonkeyPatch) -> None:
    c = starrocks_check(monkeypatch, LoadRejected("column c1 of unknown table type is not allowed"), **AUTO_CREATE)
    assert not c.ok and "unknown table type" in c.detail


def test_a_worker_starting_with_a_long_flush_interval_warns_when_rows_appear(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from sinkapp.worker import startup

    async def no_checks(*args: Any, **kw: Any) -> list[checks.Check]:
        return []

    monkeypatch.setattr(checks, "run_checks", no_checks)
    for interval, warned in (("300000", True), ("10000", False)):
        caplog.clear()
        s = build_settings({**BASE, "bufferflush.intervalms": interval})
        with caplog.at_level(logging.WARNING, logger="sinkapp.worker.startup"):
            startup.check_at_start(s, build_routes(s), {"orders": 1})
        assert ("first rows appear in StarRocks up to 5 min after the worker reads them" in caplog.text) == warned
