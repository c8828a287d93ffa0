"""Debezium's unavailable-value placeholder (PostgreSQL's unchanged TOASTed values under the default
replica identity) never reaches a column: the transform takes it out and marks the row, and the
loader sends such rows as partial updates of the columns they carry, before the complete rows.

The real source is in tests/test_debezium_postgres_kafka.py; these are the parts on their own.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from sinkapp.errors import ConfigError
from sinkapp.pipeline import partial
from sinkapp.pipeline.types import Part
from sinkapp.transforms import UNAVAILABLE_KEY, Meta, TransformSpec, build_chain
from sinkapp.transforms.debezium_unavailable import DEFAULT, key_columns
from tests.fakes import Batch, Event, Record
from tests.pipeline_fakes import harness

PH = DEFAULT
PH_B64 = base64.b64encode(PH.encode()).decode()
KEY = orjson.dumps({"schema": {"type": "struct", "fields": [{"field": "id", "type": "int32"}]}, "payload": {"id": 1}})


def dbz(op: str, before: dict | None, after: dict | None) -> dict[str, Any]:
    return {"before": before, "after": after, "op": op, "source": {"table": "t"}, "ts_ms": 1}


def apply(event: dict[str, Any], key: bytes | None = KEY, **options: str) -> Any:
    chain = build_chain([TransformSpec("d", "Debezium", options)])
    assert chain is not None and chain.marks_unavailable
    return chain.apply(event, Meta("t", 0, 0, None, key))


def test_placeholder_columns_of_every_shape_leave_the_row_and_mark_it() -> None:
    after = {"id": 1, "n": 2, "body": PH, "bin": PH_B64, "arr": [PH], "doc": PH, "ok": "x"}
    [row] = apply(dbz("u", None, after))
    assert row == {"id": 1, "n": 2, "ok": "x", "__op": 0,
                   UNAVAILABLE_KEY: {"columns": ["body", "bin", "arr", "doc"], "key": ["id"]}}
    [whole] = apply(dbz("u", None, {"id": 1, "body": "real text", "arr": [PH, "other"]}))
    assert UNAVAILABLE_KEY not in whole and whole["arr"] == [PH, "other"]     # only a whole placeholder counts
    [avro] = apply(dbz("u", None, {"id": 1, "bin": PH.encode()}))           # Avro bytes
    assert avro[UNAVAILABLE_KEY]["columns"] == ["bin"]


def test_a_delete_drops_the_placeholder_without_a_mark_and_another_placeholder_text_is_honoured() -> None:
    [row] = apply(dbz("d", {"id": 1, "body": PH}, None))
    assert row == {"id": 1, "__op": 1}
    [soft] = apply(dbz("d", {"id": 1, "body": PH}, None), **{"delete.handling": "rewrite"})
    assert soft[UNAVAILABLE_KEY]["columns"] == ["body"]                     # a soft delete is an upsert
    [row] = apply(dbz("u", None, {"id": 1, "body": "??"}), **{"unavailable.value.placeholder": "??"})
    assert row[UNAVAILABLE_KEY]["columns"] == ["body"]


def test_key_columns_come_from_the_json_record_key() -> None:
    assert key_columns(KEY) == ["id"]
    assert key_columns(b'{"a": 1, "b": 2}') == ["a", "b"]
    assert key_columns(b"\x00\x00\x00\x00\x01binary") is None and key_columns(None) is None


def mark(row: dict[str, Any], *gone: str, key: list[str] | None = None) -> dict[str, Any]:
    return {**row, UNAVAILABLE_KEY: {"columns": list(gone), "key": ["id"] if key is None else key}}


def test_plan_folds_each_key_in_order_and_loads_partial_rows_first() -> None:
    rows = [{"id": 1, "n": 1, "body": "b1", "__op": 0},            # insert 1
            mark({"id": 1, "n": 2, "__op": 0}, "body"),            # update 1, body unchanged: completed from row 1
            mark({"id": 2, "n": 5, "__op": 0}, "body"),            # update 2 (inserted in an earlier batch)
            mark({"id": 2, "n": 6, "__op": 0}, "body"),            # ... again: the newer values win
            mark({"id": 3, "n": 7, "body": "z", "__op": 0}, "doc"),   # another column set: its own load
            {"id": 4, "n": 1, "body": "x", "__op": 0},
            {"id": 4, "__op": 1}]                                  # deleted in the same batch
    parts = partial.plan(rows)
    assert [p.columns for p in parts] == [("id", "n"), ("id", "n", "body"), None]
    assert parts[0].rows == [{"id": 2, "n": 6, "__op": 0}] and parts[1].rows == [{"id": 3, "n": 7, "body": "z", "__op": 0}]
    assert parts[2].rows == [{"id": 1, "n": 2, "body": "b1", "__op": 0}, {"id": 4, "__op": 1}]
    assert parts[0].headers({"format": "json", "jsonpaths": "x", "columns": "a"}) == {
        "format": "json", "partial_update": "true", "columns": "`id`,`n`"}


def test_plan_without_key_columns_keeps_the_order_in_runs() -> None:
    rows = [{"id": 1, "n": 1, "body": "b"}, mark({"id": 1, "n": 2}, "body", key=[]), {"id": 2, "n": 1, "body": "c"}]
    parts = partial.plan(rows)
    assert [(p.columns, len(p.rows)) for p in parts] == [(None, 1), (("id", "n"), 1), (None, 1)]


def test_routes_that_rename_columns_cannot_load_partial_rows() -> None:
    partial.check_headers({"columns": "id, n", "jsonpaths": '["$.id", "$.n"]'})
    with pytest.raises(ConfigError, match="REPLICA IDENTITY FULL"):
        partial.check_headers({"columns": "id, n", "jsonpaths": '["$.id", "$.other"]'})
    with pytest.raises(ConfigError, match="col=expr"):
        partial.check_headers({"columns": "id, n, m=n+1"})
    assert partial.part_label("a" * 128, 3).endswith("-u3") and len(partial.part_label("a" * 128, 3)) == 128


def event(op: str, i: int, offset: int, after: dict[str, Any] | None, before: dict[str, Any] | None = None) -> Record:
    key = orjson.dumps({"schema": {"type": "struct", "fields": [{"field": "id", "type": "int32"}]},
                        "payload": {"id": i}})
    return Record("orders", 0, offset, orjson.dumps(dbz(op, before, after)), key=key)


async def test_a_batch_with_unavailable_values_loads_partial_updates_first_then_the_batch_label() -> None:
    h = harness(max_rows=10, chain=build_chain([TransformSpec("d", "Debezium", {})]))
    recs = [event("c", 1, 0, {"id": 1, "n": 0, "body": "long"}),
            event("u", 1, 1, {"id": 1, "n": 1, "body": PH}),
            event("u", 2, 2, {"id": 2, "n": 1, "body": PH})]
    for r in recs:
        h.kafka.put(r)
    ev = Event(Batch("orders", 0, recs))
    await h.take(ev)
    await h.flush()
    (_, l1, rows1), (_, l2, rows2) = h.client.attempts
    assert rows1 == [{"id": 2, "n": 1, "__op": 0}] and h.client.headers[0]["partial_update"] == "true"
    assert h.client.headers[0]["columns"] == "`id`,`n`"
    assert rows2 == [{"id": 1, "n": 1, "body": "long", "__op": 0}] and "partial_update" not in h.client.headers[1]
    assert l1 == f"{l2}-u0" and l2 == "sa-t-orders-0-0-2"           # the batch's own label last
    assert ev.acked and h.control.marks() == [(0, 2)]
    assert not any(PH in str(r) for r in h.client.stored())         # the placeholder never reaches a column
    assert h.stats.rows_loaded == 3 and h.stats.records_in == 3


async def test_a_csv_route_refuses_rows_without_values_naming_the_fix() -> None:
    h = harness(max_rows=10, headers={"format": "csv", "columns": "id,n,body"},
                chain=build_chain([TransformSpec("d", "Debezium", {})]))
    rec = h.kafka.put(event("u", 1, 0, {"id": 1, "n": 1, "body": PH}))
    await h.take(Event(Batch("orders", 0, [rec])))
    await h.flush()
    assert not h.client.attempts
    assert "REPLICA IDENTITY FULL" in (h.pipe.routes[0].reason or "") and h.control.marks() == []
    assert Part("orders", 0) not in {Part(t, p) for t, p, _ in h.control.loaded}
