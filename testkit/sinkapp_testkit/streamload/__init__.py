"""A local StarRocks Stream Load emulator.

Spec: ``docs/streamload-protocol.md`` in the repository, §9 checklist; the MySQL front's spec is
``MYSQL.md`` beside this file.

It runs FE and BE HTTP endpoints on loopback that behave as StarRocks does on the wire: Basic auth,
``Expect: 100-continue``, FE 307 → BE, label registry, CSV/JSON parsing with type conversion and
filter accounting, ErrorURL, primary-key upserts/deletes, ``get_load_state``, the transaction
interface, and fault injection for every failure a client must survive.

Python API (asyncio)::

    emu = StreamLoadEmulator(user="root", password="secret",
                             ddl={"test": "testkit/sinkapp_testkit/demo_data/test123.sql"},  # text or path (or a list)
                             n_fe=1, n_be=1, store_rows=True, count_only=False,
                             max_versions=1000, compaction_per_s=10.0, versions_style="current")
    await emu.start()            # or: async with StreamLoadEmulator(...) as emu:
    emu.fe_url                   # "http://127.0.0.1:PORT" (first FE); emu.fe_urls, emu.be_urls, emu.admin_url
    emu.add_table("test", "CREATE TABLE t (k INT, v STRING) PRIMARY KEY(k)")   # -> ["t"]
    emu.rows("test", "t")        # list[dict] in DDL column order
    emu.count("test", "t")       # int (exact also with store_rows=False, the benchmark mode)
    emu.timeline("test", "t")    # [(time.time(), count), ...] after each committed load (steady-state rates)
    emu.loads(db=None, table=None)   # list[LoadRecord]: label, db, table, status, message, headers
                                     # (no Authorization), rows_loaded/filtered/unselected, bytes, time,
                                     # duration_ms, txn_id, node, kind
    emu.label_state("test", "label-1")   # UNKNOWN | PREPARE | PREPARED | COMMITTED | VISIBLE | ABORTED
    emu.versions("test", "t")    # {"count": n, "limit": 1000, "refused": k, "tablet_id": ..., ...}
    emu.set_versions(max_versions=5, compaction_per_s=0.0, style="2.5")   # any subset; returns settings
    await emu.stop()

MySQL front (the FE's query port; spec ``MYSQL.md`` beside this file): ``mysql_port=0`` (a free
port; None = off, the default) and ``schema_change_s=5.0`` serve, with the emulator's user and
password (mysql_native_password), CREATE DATABASE/TABLE [IF NOT EXISTS], ALTER TABLE ... ADD COLUMN
(one or several; a job PENDING → WAITING_TXN → RUNNING → FINISHED over ``schema_change_s`` unless
the table has ``fast_schema_evolution``), DESC, SHOW CREATE TABLE / TABLES / DATABASES / ALTER TABLE
COLUMN, information_schema.COLUMNS, SELECT over the tables (sqlglot's executor: columns, WHERE, ORDER BY,
LIMIT, aggregates), INSERT ... VALUES / SELECT and UPDATE (one transaction, one version each), DROP,
TRUNCATE, ``sync``, SHOW PROC '/transactions/<db>/running|finished', SHOW BACKENDS, USE::

    emu.mysql_port               # int once started, None when off
    emu.jdbc_url                 # "jdbc:mysql://127.0.0.1:PORT"
    emu.statements()             # list[StatementRecord]: time, sql, user, database, connection_id, error

Sync / other processes::

    with EmulatorThread(user="root", password="", ddl={...}) as emu:   # same attributes and methods
        ...

Faults (``emu.faults``; thread-safe; ``table="tbl"`` or ``"db.tbl"`` scopes any ``*_next`` fault)::

    fail_next(n=1, http_status=500, *, table=None, body=...)     bare HTTP error from FE or BE
    fail_message_next(n=1, message=SHUTTING_DOWN, *, stage="header"|"commit", committed=False, table=None)
    shutting_down_next(n) / concurrency_limit_next(n, limit=47) / commit_unknown_next(n, committed=False)
    txn_num_per_be_next(n, limit=100, *, txn_num=None, be="127.0.0.1")   Fail "streamload txn num per be
                                                                 exceeds limit, be: ..., txn_num: ..., limit: ..."
    txn_timeout_next(n)                                          Fail "timeout by txn manager"
    reset_next(n=1)                                              BE closes the connection mid-body
    hang_next(n=1, seconds=5.0, then="commit"|"abort")           reply late; label RUNNING meanwhile
    publish_timeout_next(n=1, *, visible_after_s=1.0)            Status "Publish Timeout", data committed
    label_running(label=None, seconds=2.0, *, then="commit")     Label Already Exists + RUNNING, then
                                                                 FINISHED (PREPARED → VISIBLE)
    be_down(i) / be_up(i) / fe_down(i) / fe_up(i)                port refuses connections / listens again
    clear(); pending()

Admin HTTP (on ``emu.admin_url`` and every FE): see :mod:`.admin` — ``GET /_emulator/rows?db=&table=``,
``/_emulator/count``, ``/_emulator/timeline``, ``/_emulator/loads``, ``/_emulator/label_state``, ``POST /_emulator/faults``
``{"fault": "hang_next", "seconds": 3}``, ``DELETE /_emulator/faults``, ``POST /_emulator/tables``,
``GET /_emulator/versions[?db=&table=]``, ``POST /_emulator/versions`` ``{"max_versions": 5}``,
``GET /_emulator/statements`` (the MySQL front's statement log).

Load pressure (spec §8a, :mod:`.versions`): every committed load that wrote rows adds one version to
its table (one counter per ``db.table``: a table is modelled as one tablet set); compaction removes
``compaction_per_s`` (default 10) a second, lazily; a load into a table with more than
``max_versions`` (default 1000, StarRocks ``tablet_max_versions``) fails ``Failed to load data into
tablet <id>, because of too many versions, current/limit: <n>/<limit>. You can reduce ...`` (or the
2.5 / short forms, ``versions_style``), rolled back, label reusable. Also in count-only/no-store modes.

CLI: ``python -m sinkapp_testkit.streamload --fe-port 8030 --database test --ddl test123.sql``
(``--max-versions N --compaction-per-s X --versions-style current|2.5|short``,
``--mysql-port PORT --schema-change-s X``).

Benchmark modes: ``store_rows=False`` (``--no-store``) parses and validates every row but keeps only
counts (~15 µs CPU per row); ``count_only=True`` (``--count-only``) counts the rows of a body without
parsing them (~0.2 µs per JSON row, see :mod:`.countonly` for the exact method and assumptions: rows
are counted, not validated), while auth, FE 307 → BE, labels (Label Already Exists), transactions and
faults behave as in normal mode.

Conformance: ``python -m sinkapp_testkit.streamload.conformance`` replays StarRocks' own SQL-tester
R files against the emulator (:mod:`.conformance`; MYSQL.md §8 lists what they showed).

Wire notes for clients: FE replies are ``Content-Type: text/html`` and BE replies ``text/plain`` (StarRocks
sets none, §3), so parse bodies with ``json.loads(await resp.text())``, not ``resp.json()``. ``probe.put``
is a minimal reference request (manual 307 follow, Basic auth re-sent) used by the emulator's tests.
Emulator-specific messages (unsupported features) start with ``emulator:``.
"""

from .cluster import LoadRecord
from .emulator import StreamLoadEmulator
from .errors import DdlError, EmulatorError
from .faults import COMMIT_UNKNOWN, CONCURRENCY_LIMIT, SHUTTING_DOWN, TXN_NUM_PER_BE, TXN_TIMEOUT, Faults
from .schema import Column, TableSchema, parse_ddl
from .sqlcatalog import StatementRecord
from .thread import EmulatorThread
from .versions import TOO_MANY_TABLET_VERSIONS, TOO_MANY_VERSIONS, TOO_MANY_VERSIONS_25

__all__ = [
    "COMMIT_UNKNOWN", "CONCURRENCY_LIMIT", "SHUTTING_DOWN", "TOO_MANY_TABLET_VERSIONS", "TOO_MANY_VERSIONS",
    "TOO_MANY_VERSIONS_25", "TXN_NUM_PER_BE", "TXN_TIMEOUT", "Column", "DdlError", "EmulatorError",
    "EmulatorThread", "Faults", "LoadRecord", "StatementRecord", "StreamLoadEmulator", "TableSchema", "parse_ddl",
]
