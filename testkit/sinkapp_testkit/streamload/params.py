"""Stream Load request headers → :class:`LoadParams` (docs/streamload-protocol.md §2).

:func:`parse_params` is called by the BE handler before the body is read (spec §1.5 ``on_header``);
any problem raises :class:`LoadFailure` with the exact message of the §2 table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from .columns import ColumnItem, WhereClause, parse_columns, parse_where
from .errors import LoadFailure

MAX_TIMEOUT_S = 259200          # max_stream_load_timeout_second (§2 timeout)
DEFAULT_TIMEOUT_S = 600         # stream_load_default_timeout_second
FORMATS = {"csv": ("csv", None), "json": ("json", None), "gzip": ("csv", "GZIP"),
           "bzip2": ("csv", "BZIP2"), "lz4": ("csv", "LZ4_FRAME"), "deflate": ("csv", "DEFLATE"),
           "zstd": ("csv", "ZSTD")}
COMPRESSIONS = {"GZIP", "BZIP2", "LZ4_FRAME", "ZSTD", "DEFLATE"}


@dataclass(frozen=True)
class LoadParams:
    label: str | None
    format: str = "csv"
    compression: str | None = None
    column_separator: str = "\t"
    row_delimiter: str = "\n"
    columns: tuple[ColumnItem, ...] | None = None
    where: WhereClause | None = None
    max_filter_ratio: float = 0.0
    timeout_s: int = DEFAULT_TIMEOUT_S
    strict_mode: bool = False
    partial_update: bool = False
    partial_update_mode: str = "row"      # row | column (partial_update_mode header; auto = row)
    merge_condition: str | None = None
    envelope: str | None = None           # "debezium": each JSON document is a Debezium change event
    skip_header: int = 0
    trim_space: bool = False
    enclose: str | None = None
    escape: str | None = None
    jsonpaths: tuple[str, ...] | None = None
    json_root: str | None = None
    strip_outer_array: bool = False
    ignore_json_size: bool = False


def _bool(value: str | None, default: bool, message: str) -> bool:
    if value is None:
        return default
    low = value.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    raise LoadFailure(message)


def _int(value: str, message: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise LoadFailure(message) from None


def _strtod(value: str) -> float:
    """C ``strtod``: longest numeric prefix, garbage → 0 (§2 max_filter_ratio)."""
    m = re.match(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", value)
    return float(m.group(0)) if m else 0.0


def parse_separator(value: str) -> str:
    """§6.1 / [FE-DELIM]: ``\\x..``/``0x..`` hex form (even length) → bytes, else literal, ≤ 50 bytes."""
    if value[:2].lower() in ("\\x", "0x"):
        digits = value[2:]
        if not digits or len(digits) % 2 or not re.fullmatch(r"[0-9a-fA-F]+", digits):
            raise LoadFailure(f"Invalid delimiter '{value}': hex length must be a even number")
        text = bytes.fromhex(digits).decode("utf-8", "replace")
    else:
        text = value
    if not text:
        raise LoadFailure("Delimiter cannot be empty or null")
    if len(text.encode()) > 50:
        raise LoadFailure(f"Delimiter length must be less than or equal to 50. Delimiter: {value}")
    return text


def parse_params(h: Mapping[str, str], *, json_max_bytes: int, max_body_bytes: int,
                 content_length: int | None) -> LoadParams:
    """Validate §2 headers (case-insensitive mapping). Order follows [BE-SL] ``on_header``: the helpers
    below run in that order, so the first problem StarRocks reports is the one raised."""
    fmt, compression, ignore_json_size = _format_and_size(h, json_max_bytes, max_body_bytes, content_length)
    timeout_s, strict, partial, skip_header, trim = _options(h)
    compression = _compression(h, compression)
    jsonpaths = _jsonpaths(h)
    envelope = _envelope(h, fmt)
    mode = h.get("partial_update_mode", "row")     # exact and case-sensitive; other values mean row (spec §2)
    return LoadParams(
        label=h.get("label") or None, format=fmt, compression=compression,
        column_separator=parse_separator(h["column_separator"]) if "column_separator" in h else "\t",
        row_delimiter=parse_separator(h["row_delimiter"]) if "row_delimiter" in h else "\n",
        columns=parse_columns(h["columns"]) if h.get("columns", "").strip() else None,
        where=parse_where(h["where"]) if h.get("where", "").strip() else None,
        max_filter_ratio=_strtod(h.get("max_filter_ratio", "0")),
        timeout_s=timeout_s, strict_mode=strict, partial_update=partial,
        partial_update_mode="column" if mode == "column" else "row", envelope=envelope,
        merge_condition=(h.get("merge_condition") or "").strip() or None, skip_header=skip_header, trim_space=trim,
        enclose=h["enclose"][:1] if h.get("enclose") else None,
        escape=h["escape"][:1] if h.get("escape") else None,
        jsonpaths=jsonpaths, json_root=h.get("json_root") or None,
        strip_outer_array=h.get("strip_outer_array", "").strip().lower() == "true",
        ignore_json_size=ignore_json_size)


def _format_and_size(h: Mapping[str, str], json_max_bytes: int, max_body_bytes: int,
                     content_length: int | None) -> tuple[str, str | None, bool]:
    """``format`` (and the compression it implies), the body size limits, ``ignore_json_size``."""
    fmt_raw = h.get("format", "csv")
    fmt_compression = FORMATS.get(fmt_raw.strip().lower())
    if fmt_compression is None:
        raise LoadFailure(f"unknown data format, format={fmt_raw}")
    fmt, compression = fmt_compression
    if content_length is not None and content_length > max_body_bytes:
        raise LoadFailure(
            f"body size {content_length} exceed limit: {max_body_bytes}, label={h.get('label', '')}. "
            "You can increase the limit by setting streaming_load_max_mb in be.conf.")
    ignore_json_size = _bool(h.get("ignore_json_size"), False, "Invalid ignore_json_size format")
    if fmt == "json" and not ignore_json_size and content_length is not None and content_length > json_max_bytes:
        raise LoadFailure(
            f"The size of this batch exceed the max size [{json_max_bytes}]  of json type data  data "
            f"[ {content_length} ]. Set ignore_json_size to skip the check, although it may lead huge "
            "memory consuming.")
    return fmt, compression, ignore_json_size


def _options(h: Mapping[str, str]) -> tuple[int, bool, bool, int, bool]:
    """timeout, merge commit, strict mode, partitions, memory limits, partial update, rejected-record
    log, skip_header, trim_space, load_dop: (timeout_s, strict, partial, skip_header, trim)."""
    timeout_s = DEFAULT_TIMEOUT_S
    if "timeout" in h:
        timeout_s = _int(h["timeout"], "Invalid timeout format")
        if not 1 <= timeout_s <= MAX_TIMEOUT_S:
            raise LoadFailure(f"Invalid timeout: {timeout_s}. Timeout should between 1 and "
                              f"{MAX_TIMEOUT_S} seconds")
    if "enable_merge_commit" in h:
        v = h["enable_merge_commit"]
        if _bool(v, False, f"Invalid parameter enable_merge_commit. The value must be bool type, but is {v}"):
            raise LoadFailure("emulator: Merge Commit (enable_merge_commit=true) is not supported")
    strict = _bool(h.get("strict_mode"), False, "Invalid strict mode format. Must be bool type")
    if h.get("partitions") and h.get("temporary_partitions"):
        raise LoadFailure("Can not specify both partitions and temporary partitions")
    if "load_mem_limit" in h and _int(h["load_mem_limit"], "Invalid load mem limit format") < 0:
        raise LoadFailure("load_mem_limit must be equal or greater than 0")
    if "exec_mem_limit" in h and _int(h["exec_mem_limit"], "Invalid exec_mem_limit format") <= 0:
        raise LoadFailure("exec_mem_limit must be greater than 0")
    partial = _bool(h.get("partial_update"), False, "Invalid partial update flag format. Must be bool type")
    if "log_rejected_record_num" in h and _int(
            h["log_rejected_record_num"], "Invalid log_rejected_record_num format") < -1:
        raise LoadFailure("log_rejected_record_num must be equal or greater than -1")
    skip_header = 0
    if "skip_header" in h:
        skip_header = _int(h["skip_header"], "Invalid csv load skip_header format")
        if skip_header < 0:
            raise LoadFailure("skip_header must be equal or greater than 0")
    trim = _bool(h.get("trim_space"), False, "Invalid trim space format. Must be bool type")
    if "load_dop" in h:
        _int(h["load_dop"], "Invalid load_dop format")
    return timeout_s, strict, partial, skip_header, trim


def _compression(h: Mapping[str, str], compression: str | None) -> str | None:
    """``compression`` or ``Content-Encoding`` (not both), over what the format implied."""
    comp_hdr, enc_hdr = h.get("compression"), h.get("Content-Encoding")
    if comp_hdr and enc_hdr:
        raise LoadFailure("Only one of http header content-encoding and compression can be set")
    if comp_hdr or enc_hdr:
        c = (comp_hdr or enc_hdr or "").strip().upper()
        c = {"LZ4": "LZ4_FRAME", "X-GZIP": "GZIP"}.get(c, c)
        if c not in COMPRESSIONS:
            raise LoadFailure(f"Unsupported compression type: {comp_hdr or enc_hdr}")
        compression = c
    return compression


def _jsonpaths(h: Mapping[str, str]) -> tuple[str, ...] | None:
    if not h.get("jsonpaths"):
        return None
    try:
        paths = orjson.loads(h["jsonpaths"])
    except orjson.JSONDecodeError:
        paths = None
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise LoadFailure(f"Invalid expression for jsonpaths: {h['jsonpaths']}")
    return tuple(paths)


def _envelope(h: Mapping[str, str], fmt: str) -> str | None:
    envelope = (h.get("envelope") or "").strip().lower() or None
    if envelope not in (None, "debezium"):
        raise LoadFailure(f"emulator: envelope {h['envelope']!r} is not supported (only debezium is)")
    if envelope and fmt != "json":
        raise LoadFailure("emulator: envelope: debezium with a format other than json is not supported")
    if envelope and (h.get("json_root") or h.get("strip_outer_array", "").strip().lower() == "true"):
        # incompatible per StarRocks' docs (spec §2); StarRocks' own text was not read
        raise LoadFailure("envelope: debezium cannot be combined with json_root or strip_outer_array")
    return envelope
