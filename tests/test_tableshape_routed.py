"""auto.create / auto.evolve with TableByField: the schema is the record's, the tables are the ones its rows
are routed to (sinkapp.tableshape.routed), against the emulator's MySQL front. No Kafka: records are plain
objects; the route's Chunker encodes them after ``prepare`` as the intake does."""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson
import pytest
from sinkapp_testkit.streamload import StreamLoadEmulator

from sinkapp.config.types import Secret, TableSettings, TransformSpec
from sinkapp.converters.simple import JsonConverter
from sinkapp.pipeline.encode import BadRecord, Chunker
from sinkapp.pipeline.types import TableKey
from sinkapp.streamload.encoding import JsonEncoder
from sinkapp.tableshape.client import DdlClient
from sinkapp.tableshape.routed import RoutedShape
from sinkapp.tableshape.shaper import TableShapes
from sinkapp.tableshape.sources import ConnectSource
from sinkapp.tableshape.wiring import removed_fields, routed_rows
from sinkapp.transforms import build_chain

HOME = TableKey("shop", "events")              # the route's own table: no row goes there


class Rec(NamedTuple):
    value: bytes | None
    key: bytes | None = None
    topic: str = "events"
    partition: int = 0
    offset: int = 0
    timestamp: int | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


def value(fields: list[tuple[str, str, bool]], payload: dict[str, Any]) -> bytes:
    return orjson.dumps({"schema": {"type": "struct", "name": "Event", "fields": [
        {"field": f, "type": t, "optional": o} for f, t, o in fields]}, "payload": payload})


EVENT = [("id", "int64", False), ("qty", "int32", True), ("tenant", "string", False)]


def routed(emu: Any, specs: list[TransformSpec], debezium: bool = False,
           ) -> tuple[TableShapes, RoutedShape, Chunker]:
    client = DdlClient([("127.0.0.1", emu.mysql_port)], "root", Secret("pw"))
    shapes = TableShapes(client, TableSettings(auto_create=True, auto_evolve=True, change_timeout_ms=10_000))
    conv, chain = JsonConverter(True), build_chain(specs)
    shape = RoutedShape(shapes, HOME, ConnectSource([] if debezium else None), routed_rows(conv, chain),
                        removed_fields(specs))
    chunker = Chunker(conv, JsonEncoder(), tolerant=True, chain=chain)
    chunker.home, chunker.row_gate = HOME.database, shape.gate_rows
    return shapes, shape, chunker


def schema_of(emu: Any, db: str, table: str) -> Any:
    return emu.cluster.catalog.table(db, table).schema


BY_TENANT = [TransformSpec("route", "TableByField", {"field": "$.tenant", "format": "{}", "remove": "true"})]


async def test_rows_routed_to_two_tables_create_both_from_the_record_schema() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"]) as emu:
        shapes, shape, chunker = routed(emu, BY_TENANT)
        recs = [Rec(value(EVENT, {"id": i, "qty": i * 2, "tenant": t}), offset=i)
                for i, t in enumerate(["acme", "archive.globex", "acme", "archive.globex", "acme"])]
        await shape.prepare(recs)
        for db, table in (("shop", "acme"), ("archive", "globex")):   # archive did not exist
            s = schema_of(emu, db, table)
            assert [(c.name, c.type) for c in s.columns] == [("id", "BIGINT"), ("qty", "INT")]  # tenant removed
        assert "events" not in emu.cluster.catalog.dbs["shop"]   # the route's own table: no row, no table
        assert shapes.changes == {("shop.acme", "create"): 1, ("archive.globex", "create"): 1}
        assert any(s.sql.startswith("CREATE DATABASE IF NOT EXISTS `archive`") for s in emu.statements())
        chunk = chunker.encode(recs, 0, len(recs))
        assert not chunk.bad and set(chunk.routed) == {"acme", "archive.globex"}
        assert (chunk.routed["acme"].rows, chunk.routed["archive.globex"].rows) == (3, 2)
        creates = len(emu.statements())
        await shape.prepare(recs)                                   # verdicts kept: no statement
        assert len(emu.statements()) == creates
        await shapes.client.close()


async def test_a_schema_one_routed_table_refuses_makes_only_the_records_bound_there_bad() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"]) as emu:
        emu.add_table("shop", "CREATE TABLE strict (id BIGINT, qty INT) DUPLICATE KEY(id);")
        shapes, shape, chunker = routed(emu, BY_TENANT)
        retyped = [("id", "int64", False), ("qty", "string", True), ("tenant", "string", False)]
        recs = [Rec(value(retyped, {"id": 1, "qty": "x", "tenant": "loose"})),
                Rec(value(retyped, {"id": 2, "qty": "y", "tenant": "strict"}), offset=1),
                Rec(value(retyped, {"id": 3, "qty": "z", "tenant": "loose"}), offset=2)]
        await shape.prepare(recs)
        assert [(c.name, c.type) for c in schema_of(emu, "shop", "loose").columns] == [("id", "BIGINT"),
                                                                                     ("qty", "STRING")]
        assert list(shape.refused) == [(shape.source.key_of(recs[1].value), TableKey("shop", "strict"))]
        assert shapes.refused == {"shop.strict": 1}
        chunk = chunker.encode(recs, 0, 3)
        assert [b.index for b in chunk.bad] == [1] and "field 'qty'" in str(chunk.bad[0].error)
        assert set(chunk.routed) == {"loose"} and chunk.routed["loose"].rows == 2
        chunker.tolerant = False                                    # errors.tolerance=none: the route stops there
        with pytest.raises(BadRecord) as exc:
            chunker.encode(recs, 0, 3)
        assert exc.value.index == 1
        await shapes.client.close()


ROW = [{"field": "id", "type": "int32", "optional": False}, {"field": "name", "type": "string", "optional": True},
       {"field": "tenant", "type": "string", "optional": True}]


def dbz(op: str, after: dict[str, Any]) -> Rec:
    row = {"type": "struct", "optional": True, "name": "inv.items.Value", "fields": ROW}
    schema = {"type": "struct", "name": "inv.items.Envelope", "fields": [
        {**row, "field": "before"}, {**row, "field": "after"}, {"field": "op", "type": "string", "optional": False}]}
    key = orjson.dumps({"schema": {"type": "struct", "name": "inv.items.Key", "fields": [
        {"field": "id", "type": "int32", "optional": False}]}, "payload": {"id": after["id"]}})
    return Rec(orjson.dumps({"schema": schema, "payload": {"before": None, "after": after, "op": op}}), key)


async def test_debezium_rows_routed_per_tenant_make_primary_key_tables_of_the_after_image() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"]) as emu:
        specs = [TransformSpec("dbz", "Debezium", {}),
                 TransformSpec("route", "TableByField", {"field": "tenant", "format": "items_{}"})]
        _, shape, chunker = routed(emu, specs, debezium=True)
        recs = [dbz("c", {"id": 1, "name": "a", "tenant": "eu"}), dbz("r", {"id": 2, "name": "b", "tenant": "us"})]
        await shape.prepare(recs)
        for t in ("items_eu", "items_us"):
            s = schema_of(emu, "shop", t)
            assert s.keys_type == "PRIMARY" and s.key_columns == ("id",)
            assert [c.name for c in s.columns] == ["id", "name", "tenant"]   # not __op, not the envelope's
        chunk = chunker.encode(recs, 0, 2)
        assert not chunk.bad and {t: p.rows for t, p in chunk.routed.items()} == {"items_eu": 1, "items_us": 1}
        await shape.shapes.client.close()


async def test_check_connect_says_the_routed_tables_are_named_per_row() -> None:
    from types import SimpleNamespace

    from sinkapp.tableshape.report import _route
    from tests.test_config import AVRO, JDBC, settings

    s = settings(**{"auto.create": "true", **JDBC, **AVRO, "transforms": "r", "transforms.r.type": "TableByField",
                    "transforms.r.field": "tenant"})
    route = SimpleNamespace(database="test", table="events", topic="events")
    ok, what, detail, _ = await _route(s, None, route)          # no DDL: the tables are not known yet
    assert ok and what == "tables of events" and "named per row by TableByField" in detail
