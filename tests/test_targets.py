"""Targets that name their database (``db.table``): config, routes, labels, TableByField rows."""

from __future__ import annotations

from typing import Any

import pytest

from sinkapp.config import build_settings
from sinkapp.config.routes import build_routes
from sinkapp.errors import ConfigError
from sinkapp.pipeline.types import BatchId, Member, TableKey
from sinkapp.streamload.labels import MAX_LEN
from sinkapp.transforms import build_chain
from sinkapp.transforms.base import TABLE_KEY
from sinkapp.transforms.rows import place_rows
from sinkapp.worker.startup import routes_with_transforms

BASE = {"starrocks.http.url": "127.0.0.1:8030", "starrocks.username": "root", "starrocks.password": "pw"}


def routes(**raw: str) -> list[Any]:
    s = build_settings({**BASE, **{k.replace("__", "."): v for k, v in raw.items()}})
    return [(r.topic, r.database, r.table) for r in
            routes_with_transforms(s, build_routes(s), build_chain(s.transforms))]


def test_map_targets_name_their_database_and_bare_ones_take_starrocks_database_name() -> None:
    got = routes(topics="a,b", starrocks__topic2table__map="a:sales.orders,b:items",
                 starrocks__database__name="shop")
    assert got == [("a", "sales", "orders"), ("b", "shop", "items")]


def test_the_database_is_optional_when_every_target_names_one() -> None:
    assert routes(topics="a,b", starrocks__topic2table__map="a:s1.t,b:s2.t") == [("a", "s1", "t"), ("b", "s2", "t")]


def test_a_target_without_a_database_and_no_starrocks_database_name_says_why() -> None:
    with pytest.raises(ConfigError) as ei:
        routes(topics="a,b", starrocks__topic2table__map="a:s1.t")
    msg = str(ei.value)
    assert "starrocks.database.name is not set" in msg and "b -> b" in msg and "a -> " not in msg


@pytest.mark.parametrize("target, expect", [
    ("1db.t", "'1db' is not a StarRocks database name"),
    ("db.t-x", "'t-x' is not a valid table name"),
    ("a.b.c", "'b.c' is not a valid table name"),
])
def test_bad_map_targets_name_the_key_and_the_part(target: str, expect: str) -> None:
    with pytest.raises(ConfigError) as ei:
        routes(topics="a", starrocks__topic2table__map=f"a:{target}", starrocks__database__name="d")
    assert expect in str(ei.value) and "starrocks.topic2table.map" in str(ei.value)


def test_regex_router_results_may_name_a_database() -> None:
    raw = dict(topics="pg.inventory.orders,pg.billing.invoices,other", transforms="route",
               transforms__route__type="org.apache.kafka.connect.transforms.RegexRouter",
               transforms__route__regex=r"pg\.([a-z]+)\.([a-z]+)", transforms__route__replacement="$1.$2",
               starrocks__database__name="fallback")
    assert routes(**raw) == [("pg.inventory.orders", "inventory", "orders"),
                             ("pg.billing.invoices", "billing", "invoices"), ("other", "fallback", "other")]


def test_labels_differ_across_databases_and_stay_within_starrocks_limit() -> None:
    members = (Member("orders", 0, 0, 9),)
    home = BatchId(TableKey("shop", "t"), members).label("sa", "shop")
    other = BatchId(TableKey("archive", "t"), members).label("sa", "shop")
    assert home == "sa-t-orders-0-0-9"                       # the 0.2 label, unchanged in the home database
    assert other != home and "archive" in other
    many = tuple(Member(f"topic{i}", i, 0, 10**12) for i in range(5))
    long = BatchId(TableKey("d" * 200, "t" * 60), many).label("p" * 40, "shop")
    long1 = BatchId(TableKey("d" * 200, "t" * 60), (Member("x" * 200, 3, 10**15, 10**16),)).label("p" * 40, "shop")
    other_db = BatchId(TableKey("e" * 200, "t" * 60), many).label("p" * 40, "shop")
    assert len(long) <= MAX_LEN and len(long1) <= MAX_LEN and long != other_db


def test_table_by_field_rows_go_to_a_named_database_or_the_routes() -> None:
    rows = [{"id": 1, TABLE_KEY: "t"}, {"id": 2, TABLE_KEY: "shop.t"}, {"id": 3, TABLE_KEY: "arch.t"}, {"id": 4}]
    values: list[Any] = []
    idx: list[int] = []
    by_table: dict[str, Any] = {}
    assert place_rows(7, [dict(r) for r in rows], "shop", values, idx, by_table) is None
    assert values == [{"id": 4}] and idx == [7]
    assert by_table == {"t": ([{"id": 1}, {"id": 2}], [7, 7]), "arch.t": ([{"id": 3}], [7])}
    assert [TableKey.within("shop", n) for n in by_table] == [TableKey("shop", "t"), TableKey("arch", "t")]


def test_table_by_field_without_any_database_refuses_the_whole_record() -> None:
    values: list[Any] = []
    by_table: dict[str, Any] = {}
    err = place_rows(0, [{"id": 1, TABLE_KEY: "arch.t"}, {"id": 2, TABLE_KEY: "t"}], "", values, [], by_table)
    assert err is not None and "names no database" in str(err) and "starrocks.database.name" in str(err)
    assert values == [] and by_table == {}
