"""Per-table load properties: ``sink.table.<table>.properties.*`` merged over ``sink.properties.*``.

Config (the two ways to name a table, conflicts, the merged result checked as ``sink.properties.*``
are), the routes and lanes that take them (a TableByField target table gets its own headers and
encoder), and ``sinkapp check`` printing each table's headers. The broker test is in
tests/test_formats_kafka.py (``test_two_topics_into_two_tables_load_with_their_own_properties``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from sinkapp.cli.main import main
from sinkapp.config import build_settings
from sinkapp.config.routes import build_routes
from sinkapp.config.tableprops import table_headers
from sinkapp.config.types import TransformSpec
from sinkapp.errors import ConfigError
from sinkapp.pipeline.batcher import Batcher
from sinkapp.pipeline.types import TableKey
from sinkapp.transforms import build_chain
from sinkapp.worker.startup import routes_with_transforms
from sinkapp.worker.tableformats import TableFormats
from tests.pipeline_fakes import FakeClient, harness

BASE = {
    "topics": "orders,items",
    "starrocks.http.url": "127.0.0.1:8030",
    "starrocks.database.name": "test",
    "starrocks.username": "root",
    "starrocks.password": "s3cret-pw",
    "sink.properties.format": "json",
    "sink.properties.max_filter_ratio": "0.1",
}


def settings(**over: str) -> Any:
    return build_settings({**BASE, **over})


def test_each_table_gets_its_own_properties_over_sink_properties() -> None:
    s = settings(**{"starrocks.topic2table.map": "orders:t_orders",
                    "sink.table.t_orders.properties.partial_update": "true",              # bare: test.t_orders
                    "sink.table.test.t_orders.properties.columns": "id,amount",            # db.table
                    "sink.table.test.items.properties.max_filter_ratio": "0.5",            # over the global one
                    "sink.table.test.items.properties.Merge_Condition": "version"})        # names are lower case
    by_table = {r.table: dict(r.headers) for r in build_routes(s)}
    assert by_table == {
        "t_orders": {"format": "json", "max_filter_ratio": "0.1", "partial_update": "true", "columns": "id,amount"},
        "items": {"format": "json", "max_filter_ratio": "0.5", "merge_condition": "version"},
    }
    assert s.sink_properties == {"format": "json", "max_filter_ratio": "0.1"}               # unchanged
    assert s.table_properties["test.t_orders"].keys == {
        "partial_update": "sink.table.t_orders.properties.partial_update",
        "columns": "sink.table.test.t_orders.properties.columns"}


def test_a_bare_name_is_the_table_in_the_default_database_only() -> None:
    s = settings(**{"sink.table.orders.properties.partial_update": "true",
                    "sink.table.other.orders.properties.columns": "a,b"})
    assert table_headers(s, "test", "orders")["partial_update"] == "true"
    assert "columns" not in table_headers(s, "test", "orders")
    assert table_headers(s, "other", "orders") == {"format": "json", "max_filter_ratio": "0.1", "columns": "a,b"}
    assert "partial_update" not in table_headers(s, "other", "orders")    # a route into another database


def test_the_key_splits_at_properties_so_the_table_may_hold_a_dot() -> None:
    s = settings(**{"sink.table.test.properties.properties.timeout": "60",     # table "properties" of db test
                    "sink.table.properties.properties.strict_mode": "true",    # the same table, bare
                    "sink.table.db2.t.properties.partial_update": "true"})
    assert s.table_properties["test.properties"].values == {"timeout": "60", "strict_mode": "true"}
    assert s.table_properties["db2.t"].values == {"partial_update": "true"}


@pytest.mark.parametrize("over, message", [
    ({"sink.table.orders.properties.partial_update": "true",
      "sink.table.test.orders.properties.partial_update": "false"},
     "sink.table.orders.properties.partial_update and sink.table.test.orders.properties.partial_update both set "
     "partial_update of table test.orders, to different values"),
    ({"sink.table.orders.partial_update": "true"}, "sink.table.<table>.properties.<name>"),
    ({"sink.table.a.b.c.properties.x": "1"}, "'a.b.c' is not a StarRocks table name"),
    ({"sink.table.orders.properties.format": "xml"},
     "sink.table.orders.properties.format='xml' is not allowed; use json or csv"),
    ({"sink.table.orders.properties.jsonpaths": "$.id"}, "sink.table.orders.properties.jsonpaths='$.id' must be"),
    ({"sink.table.orders.properties.label": "x"}, "sink.table.orders.properties.label is not allowed"),
    ({"sink.table.orders.properties.format": "csv", "sink.table.orders.properties.column_separator": "\\x0"},
     "table test.orders (sink.table.orders.properties.column_separator, sink.table.orders.properties.format over "
     "sink.properties.*): delimiter '\\\\x0' is not a valid hex form"),
    ({"sink.table.test.items.properties.enable_merge_commit": "true"},
     "sink.table.test.items.properties.enable_merge_commit=true makes StarRocks ignore load labels"),
])
def test_conflicting_or_bad_table_properties_name_the_keys(over: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings(**over)
    assert message in str(err.value)


def test_the_same_value_twice_is_no_conflict_and_auto_create_refuses_a_tables_columns() -> None:
    s = settings(**{"sink.table.orders.properties.partial_update": "true",
                    "sink.table.test.orders.properties.partial_update": "true"})
    assert s.table_properties["test.orders"].values == {"partial_update": "true"}
    with pytest.raises(ConfigError, match="auto.create / auto.evolve cannot be used with "
                                          "sink.table.orders.properties.columns"):
        settings(**{"auto.create": "true", "starrocks.jdbc.url": "jdbc:mysql://fe:9030",
                    "value.converter": "io.confluent.connect.avro.AvroConverter",
                    "value.converter.schema.registry.url": "http://sr:8081",
                    "sink.table.orders.properties.columns": "id"})


def test_two_routes_into_one_table_with_different_headers_are_refused() -> None:
    import dataclasses

    s = settings(**{"starrocks.topic2table.map": "orders:t,items:t"})
    a, b = build_routes(s)
    assert TableFormats(s, [a, b]).of(TableKey("test", "t"))[0]["format"] == "json"     # the same: fine
    b = dataclasses.replace(b, headers={**b.headers, "partial_update": "true"})
    with pytest.raises(ConfigError, match=r"topics orders and items both load table test.t but with different "
                                          r"load properties \(partial_update\)"):
        TableFormats(s, [a, b])
    lanes = Batcher(max_bytes=1, max_rows=1, interval_s=1, max_interval_s=1, clock=lambda: 0.0)
    lanes.lane(TableKey("test", "t"), dict(a.headers), None)
    with pytest.raises(ConfigError, match="table test.t is fed by routes with different load properties"):
        lanes.lane(TableKey("test", "t"), dict(b.headers), None)


def test_regex_router_and_debezium_take_the_routed_tables_properties() -> None:
    s = settings(**{"topics": "db1.inv.customers",
                    "transforms": "route,dbz", "transforms.route.type": "RegexRouter",
                    "transforms.route.regex": r"([^.]+)\.([^.]+)\.([^.]+)", "transforms.route.replacement": "$3",
                    "transforms.dbz.type": "Debezium",
                    "sink.table.customers.properties.columns": "id,name"})
    chain = build_chain(s.transforms)
    [r] = routes_with_transforms(s, build_routes(s), chain)
    assert (r.table, r.headers["columns"]) == ("customers", "id,name, __op")
    formats = TableFormats(s, [r], chain)                 # a TableByField target: its own, as the chain needs
    assert formats.of(TableKey("test", "customers"))[0]["columns"] == "id,name, __op"
    assert "columns" not in formats.of(TableKey("test", "other"))[0]


class FormatClient(FakeClient):
    """The fake Stream Load client, reading each body in the format its headers name."""

    async def load(self, database: str, table: str, label: str, body: Any, headers: Any) -> Any:
        self.csv = headers.get("format") == "csv"
        return await super().load(database, table, label, body, headers)


async def test_rows_a_transform_sends_to_another_table_take_that_tables_headers_and_format() -> None:
    """TableByField: the route's own table loads JSON with the global headers; events_view is CSV with
    its own columns, so its rows are encoded as CSV in that order and loaded with its headers."""
    s = settings(**{"topics": "events", "sink.table.events_view.properties.format": "csv",
                    "sink.table.events_view.properties.columns": "kind,id",
                    "sink.table.events_view.properties.column_separator": "|"})
    chain = build_chain([TransformSpec("r", "TableByField", {"field": "$.kind", "format": "events_{}"})])
    [route] = build_routes(s)
    formats = TableFormats(s, [route], chain)
    client = FormatClient()
    h = harness(topics=("events",), table="events", chain=chain, client=client, max_rows=10**6,
                headers=dict(route.headers), formats=formats.of)
    values = {i: orjson.dumps({"id": i, "kind": k}) for i, k in enumerate(["click", "view", "view"])}
    await h.take(h.batch(0, range(3), values=values, topic="events"))
    await h.flush()
    sent = {table: (headers, body) for (table, _, _), headers, body in
            zip(client.attempts, client.headers, client.bodies, strict=True)}
    assert sent["events_view"] == ({"format": "csv", "columns": "kind,id", "column_separator": "|",
                                    "max_filter_ratio": "0.1"}, b"view|1\nview|2\n")
    headers, body = sent["events_click"]
    assert headers == {"format": "json", "max_filter_ratio": "0.1", "strip_outer_array": "true"}
    assert orjson.loads(body) == [{"id": 0, "kind": "click"}]
    assert h.control.marks("events") == [(0, 2)]


def test_check_prints_each_tables_effective_headers_masked(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "c.json"
    f.write_text(json.dumps({**BASE, "starrocks.topic2table.map": "orders:t_orders",
                             "sink.table.t_orders.properties.partial_update": "true",
                             "sink.table.test.items.properties.columns": "id, s3cret-pw",
                             "sink.table.other.audit.properties.timeout": "600"}))
    assert main(["check", "--config", str(f)]) == 0
    out = capsys.readouterr().out.splitlines()
    tables = [line for line in out if line.startswith("table ")]
    assert tables == [
        "table test.t_orders: headers format=json, max_filter_ratio=0.1, partial_update=true, strip_outer_array=true",
        "table test.items: headers columns=id, ******, format=json, max_filter_ratio=0.1, strip_outer_array=true",
        "table other.audit (no configured route loads it): headers format=json, "
        "max_filter_ratio=0.1, strip_outer_array=true, timeout=600",
    ]


async def test_a_csv_table_refuses_rows_a_json_route_sends_it_without_some_columns() -> None:
    """Debezium + TableByField: a row that lacks a column (the unavailable-value placeholder) loads as a
    partial update into a JSON table, but a CSV table cannot take it: the record is refused, never
    loaded with the column empty."""
    from sinkapp.transforms.debezium_unavailable import DEFAULT as PH

    s = settings(**{"topics": "orders", "sink.table.csv_t.properties.format": "csv",
                    "sink.table.csv_t.properties.columns": "id,n,body"})
    chain = build_chain([TransformSpec("d", "Debezium", {}),
                         TransformSpec("r", "TableByField", {"field": "$.kind", "format": "{}_t", "remove": "true"})])
    [route] = routes_with_transforms(s, build_routes(s), chain)
    formats = TableFormats(s, [route], chain)
    h = harness(max_rows=10, chain=chain, client=FormatClient(), headers=dict(route.headers), formats=formats.of)
    after = {"id": 1, "n": 1, "body": PH, "kind": "csv"}
    value = orjson.dumps({"before": None, "after": after, "op": "u", "source": {"table": "t"}, "ts_ms": 1})
    await h.take(h.batch(0, [0], value=value))
    await h.flush()
    assert not h.client.attempts and h.control.marks() == []
    assert "a CSV row cannot leave a column out" in (h.pipe.routes[0].reason or "")


def test_a_route_into_another_database_takes_only_its_db_table_properties() -> None:
    s = settings(**{"starrocks.topic2table.map": "orders:other.t,items:t",
                    "sink.table.t.properties.partial_update": "true",            # test.t: the items route
                    "sink.table.other.t.properties.columns": "id,v"})
    by_target = {(r.database, r.table): dict(r.headers) for r in build_routes(s)}
    assert by_target[("other", "t")] == {"format": "json", "max_filter_ratio": "0.1", "columns": "id,v"}
    assert by_target[("test", "t")] == {"format": "json", "max_filter_ratio": "0.1", "partial_update": "true"}
    raw = {k: v for k, v in BASE.items() if k != "starrocks.database.name"}
    with pytest.raises(ConfigError, match="a bare table name is a table of starrocks.database.name, which is not set"):
        build_settings({**raw, "starrocks.topic2table.map": "orders:db1.t,items:db1.i",
                        "sink.table.t.properties.partial_update": "true"})
    s = build_settings({**raw, "starrocks.topic2table.map": "orders:db1.t,items:db1.i",
                        "sink.table.db1.t.properties.partial_update": "true"})
    assert [r.headers.get("partial_update") for r in build_routes(s)] == ["true", None]
