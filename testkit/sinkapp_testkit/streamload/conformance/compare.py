"""Expected against actual, as StarRocks' SQL-tester compares them (``test/lib/sr_sql_lib.py``,
``StarrocksSQLApiLib.check``).

* no result block: not checked. An empty block: a shell command must exit 0; a SQL statement must not
  fail and must return no rows; a function is not checked.
* statements matching the tester's ``skip_res_cmd`` (``show backends``, ...) are not checked.
* shell: the block's first line is the exit code; the rest is compared with the output: a JSON object
  matches when every key of the expected object has the same value in the actual one (other keys are
  ignored), anything else matches when equal or when the expected text, as a regular expression,
  matches the start of the output.
* function: ``str(result)`` equals the block.
* SQL: an expected error ``E: (code, 'message')`` matches an actual error whose text contains the
  message (the code is not compared); rows are tab-joined ``str()`` values, one line each, compared
  as a multiset (as a list with ``[ORDER]``); ``[REGEX]`` blocks are regular expressions.

:func:`check` returns None when they match, else a one-line reason.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from .rfile import Statement

SKIP_RESULT = [   # the tester's skip.skip_res_cmd (both sides of the merge conflict in the stored copy)
    "show backends", "show backends;", "select connection_id()", "select connection_id();",
    ".*explain costs select.*", "EXPLAIN SELECT.*", "rand()", "show stats meta", "SHOW RESOURCES",
    "show alter table column", "select db_id, table_id, column_name,.* from _statistics_.column_statistics.*",
    "SELECT \\* FROM .* LIMIT 1.*", "explain .*", "explain(?! select).*",
    "select \\* from t2 where c1 = \\(select c1 from t2 limit 1\\).*",
    "SHOW ALTER TABLE COLUMN ORDER BY CreateTime DESC LIMIT 1.*", "show load.*",
    "SELECT `v2` FROM `test_except_with_only_one_tablet`.*", "SHOW PARTITIONS.*", "SHOW REPLICA",
    "show routine load", "SELECT DISTINCT k1 FROM aggregate_tbl LIMIT 1",
    "SELECT DISTINCT k1 FROM aggregate_par_tbl LIMIT 1", "select.* db_id.*", "select.* table_id.*",
    "SELECT * FROM unnest_es_external_table limit 1", "select last_query_id", "select uuid",
    "select unix_timestamp", "select utc_timestamp", "select now\\(\\)", "select current_timestamp",
    "select localtime", "select curtime\\(\\)", "select current_time\\(\\)", "select curdate\\(\\)",
    "select current_date\\(\\)", "refresh materialized view.*", "REFRESH MATERIALIZED VIEW.*"]
REGEX = "[REGEX]"
_ERROR = re.compile(r"E: \(\d+, ['\"](.*)['\"]\)", re.S)
ShellResult = tuple[int, str]


def check(stmt: Statement, actual: Any) -> str | None:
    exp = stmt.expected
    if exp is None or stmt.uncheck:
        return None
    if exp == "":
        return _empty(stmt, actual)
    if _skipped(stmt.body):
        return None
    if stmt.kind == "shell":
        return _shell(exp, actual)
    if stmt.kind == "function":
        return None if str(exp) == str(actual) else f"function returned {actual!r}, expected {exp!r}"
    return _sql(exp, str(actual), stmt.order)


def _skipped(sql: str) -> bool:
    for pattern in SKIP_RESULT:
        try:
            if re.search(pattern, sql):
                return True
        except re.error:       # "SELECT * FROM unnest..." is not a valid pattern; the tester would raise
            continue
    return False


def _empty(stmt: Statement, actual: Any) -> str | None:
    if stmt.kind == "shell":
        code, out = actual
        return None if code == 0 else f"exit code {code}: {out[:200]}"
    if stmt.kind == "function":
        return None
    text = str(actual)
    if text.startswith("E: "):
        return f"failed: {text[:300]}"
    if _skipped(stmt.body) or text == "":
        return None
    return f"expected no rows, got {text[:200]!r}"


def _shell(exp: str, actual: ShellResult) -> str | None:
    code, out = actual
    exp_code, _, exp_out = exp.partition("\n")
    if int(exp_code) != code:
        return f"exit code {code}, expected {exp_code}: {out[:300]}"
    if exp_out.startswith("{") != out.startswith("{"):
        return f"output {out[:300]!r}, expected {exp_out[:300]!r}"
    if exp_out.startswith("{"):
        try:
            want, got = json.loads(exp_out), json.loads(out)
        except ValueError:
            want = got = None
        if isinstance(want, dict) and isinstance(got, dict):
            bad = [k for k in want if k not in got or got[k] != want[k]]
            return None if not bad else "JSON differs in " + ", ".join(
                f"{k}: {got.get(k, '<missing>')!r} (expected {want[k]!r})" for k in bad)
    if exp_out == out or _regex_match(exp_out, out):
        return None
    return f"output {out[:300]!r}, expected {exp_out[:300]!r}"


def _regex_match(pattern: str, text: str) -> bool:
    try:
        return re.match(pattern, text, flags=re.S) is not None
    except re.error:
        return False


def _sql(exp: str, act: str, order: bool) -> str | None:
    if exp.startswith(REGEX):
        return None if re.search(exp[len(REGEX):], act) else f"{act[:300]!r} does not match {exp!r}"
    if exp.startswith("E:") and act.startswith("E:"):
        if "url:" in exp and "url:" in act:
            return None
        m = _ERROR.match(exp)
        if m:
            return None if m.group(1) in act else f"error {act[:300]!r}, expected one containing {m.group(1)!r}"
        return None if act == exp else f"error {act[:300]!r}, expected {exp!r}"
    want, got = exp.split("\n"), act.split("\n")
    if (want == got) if order else (Counter(want) == Counter(got)):
        return None
    return f"rows {got[:10]!r}, expected {want[:10]!r}" + (" (in order)" if order else "")
