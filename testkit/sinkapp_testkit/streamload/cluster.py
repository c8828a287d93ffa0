"""Shared state of an emulated cluster and the work every load does (docs/streamload-protocol.md §1.5 steps 6-11).

One :class:`Cluster` is shared by all FE and BE nodes of an emulator: catalog, label registry,
faults, load records, error logs, per-table timelines and version counts (:mod:`.versions`, §8a).
With ``count_only`` the rows of a body are counted by :mod:`.countonly` instead of parsed
(benchmark mode). Handlers run on the emulator's event loop; queries from other threads take
:attr:`Cluster.lock`.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import json
import secrets
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from .countonly import count_rows
from .errors import LoadFailure
from .faults import Faults
from .labels import LabelRegistry, Txn
from .params import LoadParams
from .parse import raw_of, read_csv, read_json
from .plan import Plan
from .schema import TableSchema
from .store import Catalog, Op
from .versions import Versions

MAX_ERROR_ROWS = 50   # MAX_ERROR_NUM per fragment (§6.4)


@dataclass(frozen=True)
class LoadRecord:
    """One request the emulator handled (``_stream_load`` or a transaction call)."""
    label: str
    db: str
    table: str
    status: str                  # Success | Publish Timeout | Label Already Exists | Fail | HTTP 500 | RESET | OK...
    message: str
    headers: dict[str, str]      # as received, without Authorization
    rows_loaded: int
    rows_filtered: int
    rows_unselected: int
    bytes: int
    time: float                  # wall clock (time.time()) when the reply was ready
    duration_ms: int
    txn_id: int
    node: str                    # "be0", "fe1", ...
    kind: str = "stream"         # stream | txn-begin | txn-load | txn-prepare | txn-commit | txn-rollback

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ExecResult:
    ops: list[Op] = field(default_factory=list)
    total: int = 0
    filtered: int = 0
    unselected: int = 0
    error_lines: list[str] = field(default_factory=list)
    counted: int = 0             # loaded rows counted without ops (count-only mode), part of ``total``

    @property
    def loaded(self) -> int:
        return self.total - self.filtered - self.unselected


def parse_basic_auth(header: str | None) -> tuple[str, str] | None:
    """[BE-AUTH]/[FE-REST]: literal ``Basic `` prefix, base64, split at the first ``:``, drop ``@suffix``."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user.split("@", 1)[0], password


def decompress(body: bytes, compression: str | None) -> bytes:
    """The plain body of a compressed one (``compression``: the codec the ``format`` or ``compression``
    header named, :mod:`.params`), as StarRocks' BE decompresses it before parsing. A body that is not
    whole streams of that codec (plain text, another codec, cut short, trailing bytes) fails the load
    with ``Failed to decompress <codec> data``. An empty body stays empty (no data)."""
    if compression is None or not body:
        return body
    codec = _CODECS.get(compression)
    if codec is None:
        raise LoadFailure(f"emulator: compression {compression} is not supported")
    out, data = [], body
    try:
        while data:                               # concatenated streams (frames, members) are one body
            d = codec()
            out.append(d.decompress(data))
            if not d.eof:
                raise ValueError("the compressed stream ends before its end marker")
            data = d.unused_data
    except Exception as exc:  # noqa: BLE001 - any codec error is a failed load
        raise LoadFailure(f"Failed to decompress {compression} data: {exc}") from None
    return b"".join(out)


def _lz4() -> Any:
    import lz4.frame  # type: ignore[import-untyped,unused-ignore]
    return lz4.frame.LZ4FrameDecompressor()


def _zstd() -> Any:
    import zstandard
    return zstandard.ZstdDecompressor().decompressobj()


_CODECS: dict[str, Any] = {
    "GZIP": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    "DEFLATE": zlib.decompressobj,
    "BZIP2": bz2.BZ2Decompressor,
    "LZ4_FRAME": _lz4,
    "ZSTD": _zstd,
}


class Cluster:
    def __init__(self, *, user: str, password: str, store_rows: bool, label_keep_max_s: float,
                 max_body_bytes: int, json_max_bytes: int, empty_load_as_error: bool,
                 count_only: bool = False, versions: Versions | None = None) -> None:
        self.user, self.password = user, password
        self.lock = threading.RLock()
        self.count_only = count_only
        self.catalog = Catalog(store_rows and not count_only)
        # (db, table) -> [(time.time(), table count after the commit), ...] one point per committed load
        self.timelines: dict[tuple[str, str], list[tuple[float, int]]] = {}
        self.labels = LabelRegistry(label_keep_max_s)
        self.faults = Faults()
        self.versions = versions if versions is not None else Versions()
        self.records: list[LoadRecord] = []
        self.error_logs: dict[str, str] = {}
        self.max_body_bytes, self.json_max_bytes = max_body_bytes, json_max_bytes
        self.empty_load_as_error = empty_load_as_error

    # ------------------------------------------------------------------ begin-txn checks (§1.5 step 6)

    def check_password(self, auth: tuple[str, str], ip: str) -> None:
        user, password = auth
        if user != self.user or password != self.password:
            raise LoadFailure(f"Access denied for {user}@{ip}", code="ANALYSIS_ERROR")

    def schema(self, db: str, table: str) -> TableSchema:
        with self.lock:
            tables = self.catalog.dbs.get(db)
            if tables is None:
                raise LoadFailure(f"unknown database, database={db}", code="ANALYSIS_ERROR")
            data = tables.get(table)
            if data is None:
                raise LoadFailure(f'unknown table "{db}.{table}"', code="ANALYSIS_ERROR")
            return data.schema

    # ------------------------------------------------------------------ execution

    def execute(self, plan: Plan, p: LoadParams, body: bytes, into: ExecResult | None = None) -> ExecResult:
        """Parse, map, convert and filter the rows of one body (§6); nothing is stored yet.

        Count-only mode: the rows are counted into ``total``/``counted`` (no ops) when
        :func:`.countonly.count_rows` can tell; else parsed as usual, and the ops dropped for
        DUPLICATE KEY tables (only their number matters there).
        """
        res = into if into is not None else ExecResult()
        data = decompress(body, p.compression)
        if self.count_only:
            n = count_rows(data, p, plan.schema)
            if n is not None:
                res.total += n
                res.counted += n
                return res
        if self.count_only and not plan.schema.is_primary:
            part = self._parse(plan, p, data, ExecResult())
            res.total += part.total
            res.filtered += part.filtered
            res.unselected += part.unselected
            res.counted += len(part.ops)
            res.error_lines.extend(part.error_lines[:max(0, MAX_ERROR_ROWS - len(res.error_lines))])
            return res
        return self._parse(plan, p, data, res)

    @staticmethod
    def _parse(plan: Plan, p: LoadParams, data: bytes, res: ExecResult) -> ExecResult:
        if p.format == "json":
            records = read_json(data, p)
        else:
            records = read_csv(data.decode("utf-8", "replace"), p)
        apply, ops, errors = plan.apply, res.ops, res.error_lines
        for rec in records:
            res.total += 1
            out = plan_reason = rec.error
            if plan_reason is None:
                out = apply(rec)  # type: ignore[assignment]
                if out is None:
                    res.unselected += 1
                    continue
                if not isinstance(out, str):
                    ops.append(out)
                    continue
            res.filtered += 1
            if len(errors) < MAX_ERROR_ROWS:
                row = rec.raw if p.format == "csv" else raw_of(rec)
                errors.append(f"Error: {out}. Row: {row}")
        return res

    @staticmethod
    def too_many_filtered(res: ExecResult, max_filter_ratio: float) -> bool:
        """[BE-EXEC]: ``filtered / (total - unselected) > max_filter_ratio``."""
        selected = res.total - res.unselected
        return selected > 0 and res.filtered / selected > max_filter_ratio

    def save_error_log(self, be_url: str, lines: list[str]) -> str:
        name = f"error_log_{secrets.token_hex(8)}_{secrets.token_hex(8)}"
        with self.lock:
            self.error_logs[name] = "".join(line + "\n" for line in lines)
        return f"{be_url}/api/_load_error_log?file={name}"

    def commit(self, txn: Txn, ops: list[Op], plan: Plan, publish_delay_s: float = 0.0, *,
               counted: int = 0) -> None:
        """Apply the rows of a load planned by ``plan`` (partial update, merge_condition), see :meth:`apply_commit`."""
        self.apply_commit(txn, ops, partial=plan.partial_columns, merge_index=plan.merge_index,
                          publish_delay_s=publish_delay_s, counted=counted)

    def apply_commit(self, txn: Txn, ops: list[Op], *, partial: frozenset[int] | None = None,
                     merge_index: int | None = None, publish_delay_s: float = 0.0, counted: int = 0) -> None:
        """Apply the rows (``ops``, plus ``counted`` rows known by number only) and mark the label
        COMMITTED/VISIBLE (§1.5 step 11); a timeline point records the table count. A load that
        wrote rows adds one version to the table (§8a, :mod:`.versions`)."""
        with self.lock:
            table = self.catalog.table(txn.db, txn.table)
            wrote = bool(ops) or counted > 0
            table.apply(ops, partial=partial, merge_index=merge_index)
            if counted:
                table.add_count(counted)
            self.labels.mark_committed(txn, publish_delay_s)
            if wrote:
                self.versions.add(txn.db, txn.table)
            self.timelines.setdefault((txn.db, txn.table), []).append((time.time(), table.count()))

    def record(self, rec: LoadRecord) -> None:
        with self.lock:
            self.records.append(rec)


def stream_load_reply(*, txn_id: int, label: str, status: str, message: str, res: ExecResult | None,
                      load_bytes: int, times_ms: dict[str, int], existing: str | None = None,
                      error_url: str | None = None) -> str:
    """The ``_stream_load`` body exactly as [BE-CTX] ``to_json``: §3.1 keys in order, all counters."""
    body: dict[str, Any] = {"TxnId": txn_id, "Label": label, "Status": status}
    if existing is not None:
        body["ExistingJobStatus"] = existing
    body["Message"] = message
    body["NumberTotalRows"] = res.total if res else 0
    body["NumberLoadedRows"] = res.loaded if res else 0
    body["NumberFilteredRows"] = res.filtered if res else 0
    body["NumberUnselectedRows"] = res.unselected if res else 0
    body["LoadBytes"] = load_bytes
    for key in ("LoadTimeMs", "BeginTxnTimeMs", "StreamLoadPlanTimeMs", "ReadDataTimeMs",
                "WriteDataTimeMs", "CommitAndPublishTimeMs"):
        body[key] = times_ms.get(key, 0)
    if error_url:
        body["ErrorURL"] = error_url
    return pretty(body)


def pretty(body: dict[str, Any]) -> str:
    """rapidjson PrettyWriter / Gson pretty style: 4-space indent (§3, §3.4)."""
    return json.dumps(body, indent=4, ensure_ascii=False)


def ms_since(t0: float) -> int:
    return int((time.monotonic() - t0) * 1000)
