"""The table shaper widening columns against the emulator's MySQL front (auto.evolve, type widening):
one MODIFY COLUMN job awaited before the verdict, so no record of the wider schema is encoded before
the column takes its values; two workers racing the same widening; a key column and a change the FE
refuses make the schema refused (bad records) with the reason; without auto.evolve nothing changes."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from sinkapp_testkit.streamload import StreamLoadEmulator

from sinkapp.errors import ConversionError
from tests.test_tableshape_shaper import V1, Rec, cols, shaper, value

V3 = [("id", "int64", False), ("qty", "int64", True)]          # qty int32 -> int64


def alters(emu: Any) -> list[Any]:
    return [s for s in emu.statements() if s.sql.startswith("ALTER")]


async def test_a_wider_field_widens_its_column_and_the_verdict_waits_for_the_job() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"], schema_change_s=0.6) as emu:
        shapes, shape = await shaper(emu)
        await shape.prepare([Rec(value(V1, {"id": 1, "qty": 2}))])
        assert [(n, t) for n, t, _ in cols(emu)] == [("id", "BIGINT"), ("qty", "INT")]
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await shape.prepare([Rec(value(V3, {"id": 2, "qty": 2**40}))] * 3)
        assert loop.time() - t0 >= 0.5                          # the MODIFY job had FINISHED
        assert cols(emu) == [("id", "BIGINT", True), ("qty", "BIGINT", True)]
        assert [s.sql for s in alters(emu)] == ["ALTER TABLE `shop`.`orders` MODIFY COLUMN `qty` BIGINT NULL"]
        assert shapes.changes[("shop.orders", "modify_column")] == 1 and not shape.refused
        shape.gate(value(V3, {"id": 3, "qty": 2**40}))          # no refusal
        await shape.prepare([Rec(value(V1, {"id": 4, "qty": 1}))])   # the narrower schema still loads as is
        assert len(alters(emu)) == 1 and not shape.refused
        await shapes.client.close()


async def test_a_widening_and_new_fields_in_one_schema_are_two_jobs_modify_first() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"], schema_change_s=0.2) as emu:
        shapes, shape = await shaper(emu)
        await shape.prepare([Rec(value(V1, {"id": 1}))])
        await shape.prepare([Rec(value([*V3, ("note", "string", True)], {"id": 2}))])
        assert [(n, t) for n, t, _ in cols(emu)] == [("id", "BIGINT"), ("qty", "BIGINT"), ("note", "STRING")]
        assert ["MODIFY COLUMN" in s.sql for s in alters(emu)] == [True, False]
        assert shapes.changes == {("shop.orders", "create"): 1, ("shop.orders", "modify_column"): 1,
                                  ("shop.orders", "add_column"): 1}
        await shapes.client.close()


async def test_two_workers_racing_the_same_widening_both_go_on_after_one_job() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"], schema_change_s=0.5) as emu:
        _, a = await shaper(emu)
        shapes_b, b = await shaper(emu)
        await a.prepare([Rec(value(V1, {"id": 1}))])
        await asyncio.gather(a.prepare([Rec(value(V3, {"id": 2}))]), b.prepare([Rec(value(V3, {"id": 2}))]))
        assert cols(emu)[1][:2] == ("qty", "BIGINT") and not a.refused and not b.refused
        assert len([s for s in alters(emu) if s.error is None]) == 1      # the other one waited and re-read
        await a.shapes.client.close()
        await shapes_b.client.close()


async def test_a_primary_key_column_is_never_widened_and_its_records_are_refused() -> None:
    key = orjson.dumps({"schema": {"type": "struct", "fields": [{"field": "id", "type": "int32", "optional": False}]},
                        "payload": {"id": 1}})
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"], schema_change_s=0.1) as emu:
        shapes, shape = await shaper(emu)
        await shape.prepare([Rec(value([("id", "int32", False), ("qty", "int32", True)], {"id": 1}), key)])
        assert emu.cluster.catalog.table("shop", "orders").schema.keys_type == "PRIMARY"
        wider = value([("id", "int64", False), ("qty", "int32", True)], {"id": 2**40})
        await shape.prepare([Rec(wider, key)])
        with pytest.raises(ConversionError, match=r"column id of shop.orders is int\(11\), a key column"):
            shape.gate(wider)
        assert not alters(emu)
        await shapes.client.close()


async def test_a_change_the_fe_refuses_makes_the_schema_refused_with_the_fes_words() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"], schema_change_s=0.1) as emu:
        emu.add_table("shop", "CREATE TABLE orders (id BIGINT NOT NULL, qty INT) PRIMARY KEY (id) "
                              "DISTRIBUTED BY HASH(id) ORDER BY (qty)")           # qty sorts: no MODIFY
        shapes, shape = await shaper(emu)
        wider = value(V3, {"id": 1, "qty": 2**40})
        await shape.prepare([Rec(wider)])
        with pytest.raises(ConversionError, match="StarRocks refused ALTER TABLE .*MODIFY COLUMN `qty` BIGINT NULL: "
                                                  "Can not modify sort column in primary data model table"):
            shape.gate(wider)
        assert cols(emu)[1][:2] == ("qty", "INT") and shapes.refused == {"shop.orders": 1}
        await shapes.client.close()


async def test_without_auto_evolve_a_wider_field_is_refused_and_nothing_changes() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"]) as emu:
        shapes, shape = await shaper(emu, auto_evolve=False)
        await shape.prepare([Rec(value(V1, {"id": 1}))])
        wider = value(V3, {"id": 2, "qty": 2**40})
        await shape.prepare([Rec(wider)])
        with pytest.raises(ConversionError, match="auto.evolve=false, so the column is not widened to BIGINT"):
            shape.gate(wider)
        assert not alters(emu) and cols(emu)[1][:2] == ("qty", "INT")
        await shapes.client.close()
