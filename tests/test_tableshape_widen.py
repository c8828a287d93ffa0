"""Type widening under auto.evolve, the pure part: which column changes are widenings
(``compat.widened``), what ``evolve.compare`` decides for a table and a schema (widen, add, or refuse
with which message), and the ``ALTER TABLE ... MODIFY COLUMN`` text (``ddl.modify_columns_statement``).
The shaper running them against the emulator is in ``tests/test_tableshape_shaper.py``; the whole path
on the real broker in ``tests/test_tables_follow_kafka.py``."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from sinkapp.errors import SchemaMappingError
from sinkapp.pipeline.types import TableKey
from sinkapp.tableshape.client import TableColumn
from sinkapp.tableshape.columns import Column
from sinkapp.tableshape.compat import widened
from sinkapp.tableshape.ddl import Retype, modify_columns_statement
from sinkapp.tableshape.evolve import compare
from sinkapp.tableshape.sources import Described

T = TableKey("shop", "orders")


def col(name: str, type_: str, nullable: bool = True) -> Column:
    return Column(name, type_, nullable, False, type_.lower())


WIDENINGS = [
    # integers, as information_schema.COLUMNS shows them (display widths) and as DESC does
    ("tinyint(4)", "SMALLINT", "SMALLINT"), ("TINYINT", "BIGINT", "BIGINT"), ("smallint(6)", "INT", "INT"),
    ("int(11)", "BIGINT", "BIGINT"), ("INT", "LARGEINT", "LARGEINT"), ("bigint(20)", "LARGEINT", "LARGEINT"),
    ("FLOAT", "DOUBLE", "DOUBLE"), ("float", "DOUBLE", "DOUBLE"),
    ("VARCHAR(36)", "STRING", "STRING"), ("varchar(20)", "VARCHAR(36)", "VARCHAR(36)"),
    ("varchar(65533)", "VARCHAR(100000)", "VARCHAR(100000)"),
    ("DECIMAL(10,2)", "DECIMAL(12,2)", "DECIMAL(12,2)"), ("decimal64(18,4)", "DECIMAL(38,4)", "DECIMAL(38,4)"),
    ("decimal(9,0)", "DECIMAL(10,0)", "DECIMAL(10,0)"),
]
NOT_WIDENINGS = [
    ("BIGINT", "INT"), ("int(11)", "INT"), ("BIGINT", "BIGINT"),                 # narrower or the same: fine as is
    ("DOUBLE", "FLOAT"), ("STRING", "VARCHAR(36)"), ("DECIMAL(12,2)", "DECIMAL(10,2)"),
    ("INT", "STRING"), ("INT", "VARCHAR(36)"), ("BIGINT", "DOUBLE"), ("INT", "DOUBLE"),   # type changes
    ("INT", "DECIMAL(12,2)"), ("FLOAT", "DECIMAL(10,2)"), ("STRING", "BIGINT"), ("VARCHAR(20)", "JSON"),
    ("tinyint(1)", "INT"), ("BOOLEAN", "TINYINT"),                                  # BOOLEAN is no integer
    ("DECIMAL(10,2)", "DECIMAL(12,4)"), ("DECIMAL(10,2)", "DECIMAL(12,0)"),       # a scale change
    ("CHAR(10)", "STRING"), ("DATE", "DATETIME"), ("JSON", "STRING"), ("ARRAY<INT>", "JSON"),
    ("bigint(20) unsigned", "LARGEINT"), ("", "BIGINT"),
]


@pytest.mark.parametrize(("table_type", "field_type", "to"), WIDENINGS)
def test_widenings_auto_evolve_applies(table_type: str, field_type: str, to: str) -> None:
    assert widened(table_type, col("c", field_type)) == to


@pytest.mark.parametrize(("table_type", "field_type"), NOT_WIDENINGS)
def test_everything_else_is_no_widening(table_type: str, field_type: str) -> None:
    assert widened(table_type, col("c", field_type)) is None


def described(*cols: Column) -> Described:
    return Described(list(cols), [], "schema id 7")


def table(*cols: TableColumn) -> dict[str, TableColumn]:
    return {c.name.lower(): c for c in cols}


def test_compare_widens_value_columns_and_adds_new_fields_in_one_verdict() -> None:
    have = table(TableColumn("id", "bigint(20)", False, True), TableColumn("qty", "int(11)", True, False),
                 TableColumn("ref", "varchar(36)", True, False, None, "the order's uuid"))
    d = described(col("id", "BIGINT", False), col("qty", "BIGINT"), col("ref", "STRING"), col("note", "STRING"))
    diff = compare(T, have, d)
    assert diff.reason is None and [c.name for c in diff.new] == ["note"]
    assert [(w.column.name, w.type) for w in diff.widen] == [("qty", "BIGINT"), ("ref", "STRING")]
    assert [w.retype() for w in diff.widen] == [Retype("qty", "BIGINT", True, None, ""),
                                                Retype("ref", "STRING", True, None, "the order's uuid")]
    assert diff.widen[0].text() == "qty int(11) -> BIGINT"


def test_compare_refuses_what_no_widening_fits_with_todays_message() -> None:
    have = table(TableColumn("qty", "int(11)", True, False))
    for field_type in ("STRING", "DOUBLE", "SMALLINT"):
        diff = compare(T, have, described(col("qty", field_type)))
        if field_type == "SMALLINT":
            assert diff == (None, [], [])                   # narrower: loads as it is
            continue
        assert diff.reason is not None and not diff.widen and not diff.new
        assert f"field 'qty' of schema id 7 is {field_type.lower()} (StarRocks {field_type})" in diff.reason
        assert "never changes a column's type" in diff.reason and "MODIFY COLUMN" in diff.reason


def test_compare_refuses_to_widen_a_key_column_and_says_so() -> None:
    have = table(TableColumn("id", "int(11)", False, True), TableColumn("qty", "int(11)", True, False))
    diff = compare(T, have, described(col("id", "BIGINT", False), col("qty", "BIGINT")))
    assert diff.reason is not None and not diff.widen
    assert "column id of shop.orders is int(11), a key column" in diff.reason
    assert "PRIMARY KEY" in diff.reason and "BIGINT" in diff.reason


def test_without_auto_evolve_a_column_to_widen_is_a_refusal_naming_the_setting() -> None:
    have = table(TableColumn("qty", "int(11)", True, False))
    diff = compare(T, have, described(col("qty", "BIGINT")), evolve=False)
    assert diff.reason is not None and "auto.evolve=false" in diff.reason and "BIGINT" in diff.reason
    assert not diff.widen


def test_a_required_new_field_is_still_refused_beside_a_widening() -> None:
    have = table(TableColumn("qty", "int(11)", True, False))
    diff = compare(T, have, described(col("qty", "BIGINT"), col("region", "STRING", nullable=False)))
    assert diff.reason is not None and "'region'" in diff.reason and "required" in diff.reason


# -- MODIFY COLUMN text ------------------------------------------------------------------------------


def test_modify_columns_is_one_statement_keeping_nullability_default_and_comment() -> None:
    sql = modify_columns_statement("shop", "or`ders", [
        Retype("qty", "BIGINT", True), Retype("ref", "STRING", False, 'a"b', "it's\nthe ref")])
    assert sql == ('ALTER TABLE `shop`.`or``ders` MODIFY COLUMN `qty` BIGINT NULL, MODIFY COLUMN `ref` STRING '
                   'NOT NULL DEFAULT "a\\"b" COMMENT "it\'s\\nthe ref"')
    trees = sqlglot.parse(sql, read="starrocks")
    assert len(trees) == 1 and isinstance(trees[0], exp.Alter)
    assert [type(a).__name__ for a in trees[0].args["actions"]] == ["ModifyColumn", "ModifyColumn"]


@pytest.mark.parametrize("bad", [Retype("qty", "BIGINT); DROP TABLE t; --", True), Retype("qty", "VARCHAR(0)", True),
                                 Retype("qty", "DECIMAL(39,2)", True), Retype("__op", "BIGINT", True)])
def test_modify_columns_checks_every_type_and_name(bad: Retype) -> None:
    with pytest.raises(SchemaMappingError):
        modify_columns_statement("shop", "orders", [bad])
