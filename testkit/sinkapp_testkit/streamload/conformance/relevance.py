"""Which cases are *sink-relevant*: they exercise what a Kafka → StarRocks sink sends or relies on.

A sink (sinkapp, StarRocks' Java Kafka connector, the Flink connector) loads with plain
``/api/<db>/<table>/_stream_load`` requests, JSON or CSV, with ``columns``, ``jsonpaths``,
``partial_update`` (row or column mode), ``merge_condition``, labels (``Label Already Exists`` is how
it knows a batch is in), the single-table transaction interface (begin / load / prepare / commit /
rollback, what an exactly-once sink's 2PC uses), ``envelope: debezium`` for CDC topics, and it must
read the answers right (numbers converted, failed loads and refusals). A case counts as sink-relevant
when what it checks is one of these.

Not sink-relevant: SQL-only cases (INSERT / UPDATE statements), multi-statement and multi-table
transactions (``transaction_type: multi``, ``source_type: 12``: a sink loads one table per transaction),
Merge Commit (it ignores labels, so no exactly-once sink sends it), column expressions with lambdas,
malformed JSON documents (a sink's encoder writes valid JSON), and the FE's transaction-coordinator
bookkeeping. The table below gives the reason for each case of the collected files; a case it does not
name (a StarRocks checkout has many more) is judged by :func:`judge`'s rules.
"""

from __future__ import annotations

import re

from .rfile import Case

TXN = "the single-table transaction interface (begin / load / prepare / commit / rollback)"
KNOWN: dict[str, tuple[bool, str]] = {
    "test_condition_update": (True, "merge_condition: conditional upserts and StarRocks' refusals"),
    "test_invalid_json": (False, "a malformed JSON document (invalid escape); a sink writes valid JSON"),
    "test_json_check_number_overflow": (True, "JSON numbers into INT/BIGINT columns (rounding, overflow)"),
    "test_partial_update": (False, "SQL UPDATE / INSERT only, no load"),
    "test_partial_update_with_expr": (True, "partial_update in row and column mode with DEFAULT columns"),
    "test_column_partial_update_with_condition_update": (True, "column-mode partial update with merge_condition"),
    "test_partial_update_upsert": (True, "column-mode partial update refused on a table with a sort key"),
    "test_be_reject_transaction_type_header": (False, "multi-statement transactions"),
    "test_merge_commit_debezium_json": (False, "Merge Commit ignores labels; an exactly-once sink never sends it"),
    "test_multi_stream_load_single_table_stmt": (False, "multi-table transactions (source_type: 12)"),
    "test_multi_stream_load_single_table_multi_stmt": (False, "multi-table transactions (source_type: 12)"),
    "test_multi_stream_load_multi_table_multi_stmt": (False, "multi-table transactions (source_type: 12)"),
    "test_partial_update_case_sensitive": (True, "partial_update with a columns header in another case"),
    "test_partial_update_with_char": (True, "JSON partial_update into CHAR columns"),
    "test_prepared_timeout": (True, TXN + " with prepared_timeout"),
    "test_basic_txn_commit_operations": (True, TXN + ": states after commit"),
    "test_basic_txn_rollback_operations": (True, TXN + ": states after rollback"),
    "test_basic_txn_edge_cases": (True, TXN + ": no begin, empty commit, double begin"),
    "test_stream_load_columns": (True, "a columns header with an expression (now())"),
    "test_stream_load_debezium": (True, "envelope: debezium (c/r/u/d, tombstones, payload or not, refusals)"),
    "test_basic_txn_load_failure": (True, TXN + ": a failed load aborts the transaction"),
    "test_multi_txn_load_failure": (False, "multi-statement transactions"),
    "test_load_failure_commit_behavior": (False, "half of it is multi-statement transactions"),
    "test_basic_txn_load_failure_then_retry": (True, TXN + ": a retried load after a failed one"),
    "test_multi_txn_load_failure_then_retry": (False, "multi-statement transactions"),
    "test_stream_load_json_map_partial_append": (False, "a malformed JSON array; a sink writes valid JSON"),
    "test_stream_load_label_already_exist": (True, "labels: Label Already Exists with ExistingJobStatus"),
    "test_stream_load_lambda": (False, "column expressions with lambdas and JSON functions"),
    "test_multi_txn_commit_operations": (False, "multi-statement transactions"),
    "test_multi_txn_rollback_operations": (False, "multi-statement transactions"),
    "test_multi_txn_edge_cases": (False, "multi-statement transactions"),
    "test_stream_load_non_utf8_json": (True, "a JSON string with a control character (\\u000b)"),
    "test_multi_txn_timeout": (False, "multi-statement transactions"),
    "test_multi_txn_load_failure_then_retry_same_table": (False, "multi-statement transactions"),
    "test_multi_txn_load_failure_then_load_different_table": (False, "multi-statement transactions"),
    "test_multi_txn_task_final_state": (False, "multi-statement transactions"),
    "test_stream_load_txn_coordinator": (False, "which node coordinated a transaction (FE bookkeeping)"),
    "test_stream_load_txn_debezium_json": (True, TXN + " with envelope: debezium"),
    "test_stream_load_with_merge_condition": (True, "merge_condition under concurrent loads"),
}
_NOT_SINK = [(r"transaction_type:\s*multi|source_type:\s*12", "multi-statement transactions"),
             (r"enable_merge_commit:\s*true", "Merge Commit"),
             (r"->", "column expressions with lambdas")]


def judge(case: Case) -> tuple[bool, str]:
    """``(sink_relevant, why)``."""
    if case.name in KNOWN:
        return KNOWN[case.name]
    text = "\n".join(s.text for s in case.statements())
    for pattern, why in _NOT_SINK:
        if re.search(pattern, text):
            return False, why
    if "/_stream_load" in text or "/api/transaction/" in text:
        return True, "Stream Load or transaction requests"
    return False, "no Stream Load request"
