"""Body readers (docs/streamload-protocol.md §6.1 CSV, §6.2 JSON): bytes → source records.

Each reader yields :class:`Record` objects: ``values`` is a list of CSV fields (``None`` = ``\\N``),
a JSON object (simple mode) or a list of jsonpath results; ``error`` is set when the record is
already a filtered row (its text becomes the ErrorURL line). Mapping records to table columns is
:mod:`.plan`'s job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from . import jsondemand
from .errors import LoadFailure
from .params import LoadParams


@dataclass(slots=True)
class Record:
    values: object            # list[str | None] | dict | list[object]
    raw: str                  # the row as it appears in error logs
    error: str | None = None
    obj: object = None        # the JSON object a record came from (for error logs)
    op: int | None = None     # envelope: debezium: 0 upsert (c/r/u), 1 delete (d)


# ---------------------------------------------------------------- CSV (§6.1)

def read_csv(text: str, p: LoadParams) -> Iterator[Record]:
    if p.enclose is None and p.escape is None:
        rows: Iterator[tuple[list[str], str]] = _split_plain(text, p)
    else:
        rows = _split_quoted(text, p)
    skip = p.skip_header
    for fields, raw in rows:
        if skip:
            skip -= 1
            continue
        if not raw:  # empty line between delimiters: no record (inference)
            continue
        yield Record([None if f == "\\N" else f for f in fields], raw)


def _split_plain(text: str, p: LoadParams) -> Iterator[tuple[list[str], str]]:
    lines = text.split(p.row_delimiter)
    if lines and lines[-1] == "":
        lines.pop()
    sep = p.column_separator
    for line in lines:
        fields = line.split(sep)
        if p.trim_space:
            fields = [f.strip(" ") for f in fields]
        yield fields, line


def _split_quoted(text: str, p: LoadParams) -> Iterator[tuple[list[str], str]]:
    """RFC 4180 style with ``enclose`` (doubling = literal) and ``escape`` in and outside quotes."""
    sep, delim, enc, esc = p.column_separator, p.row_delimiter, p.enclose, p.escape
    i, n, start = 0, len(text), 0
    fields: list[str] = []
    cur: list[str] = []
    quoted = in_quotes = False
    while i < n:
        ch = text[i]
        if esc is not None and ch == esc and i + 1 < n:
            cur.append(text[i + 1])
            i += 2
            continue
        if in_quotes:
            if ch == enc:
                if i + 1 < n and text[i + 1] == enc:
                    cur.append(enc)
                    i += 2
                    continue
                in_quotes = False
            else:
                cur.append(ch)
            i += 1
            continue
        if enc is not None and ch == enc and not "".join(cur).strip(" " if p.trim_space else ""):
            cur, quoted, in_quotes = [], True, True
            i += 1
            continue
        if text.startswith(sep, i):
            fields.append(_finish(cur, quoted, p.trim_space))
            cur, quoted = [], False
            i += len(sep)
            continue
        if text.startswith(delim, i):
            fields.append(_finish(cur, quoted, p.trim_space))
            yield fields, text[start:i]
            fields, cur, quoted = [], [], False
            i += len(delim)
            start = i
            continue
        cur.append(ch)
        i += 1
    if start < n:
        fields.append(_finish(cur, quoted, p.trim_space))
        yield fields, text[start:]


def _finish(cur: list[str], quoted: bool, trim: bool) -> str:
    s = "".join(cur)
    return s if quoted or not trim else s.strip(" ")


# ---------------------------------------------------------------- JSON (§6.2)

_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[\s*(\d+)\s*\]")
_MISSING = object()


def compile_path(path: str) -> tuple[str | int, ...]:
    """``$.a.b``, ``$['a']``, ``$.a[0]``, ``$`` → tuple of keys/indexes."""
    p = path.strip()
    if not p.startswith("$"):
        p = "$." + p
    keys: list[str | int] = []
    pos = 1
    for m in _PATH_TOKEN.finditer(p, 1):
        if m.start() != pos:
            raise LoadFailure(f"Invalid json path: {path}")
        key, q1, q2, idx = m.groups()
        keys.append(int(idx) if idx is not None else (key if key is not None else (q1 if q1 is not None else q2)))
        pos = m.end()
    if pos != len(p):
        raise LoadFailure(f"Invalid json path: {path}")
    return tuple(keys)


def extract(obj: object, keys: tuple[str | int, ...]) -> object:
    """Walk ``keys``; a path that does not exist yields ``None`` (NULL) [BE-JSON]."""
    for k in keys:
        if isinstance(k, int):
            if not isinstance(obj, list) or k >= len(obj):
                return None
            obj = obj[k]
        elif isinstance(obj, dict):
            obj = obj.get(k, _MISSING)
            if obj is _MISSING:
                return None
        else:
            return None
    return obj


def _documents(body: bytes) -> Iterator[object]:
    """A JSON document stream: concatenated / newline-separated documents; a body the strict parser
    refuses is read on demand (:mod:`.jsondemand`)."""
    try:
        yield orjson.loads(body)
        return
    except orjson.JSONDecodeError:
        pass
    lines = [ln for ln in body.split(b"\n") if ln.strip()]
    try:
        docs = [orjson.loads(ln) for ln in lines]
    except orjson.JSONDecodeError:
        docs = None
    if docs is not None:
        yield from docs
        return
    text = body.decode("utf-8", "replace")
    try:
        docs = list(_stream(text))          # documents one after another on a line: the C decoder
    except ValueError:
        docs = None
    yield from docs if docs is not None else jsondemand.documents(text)


def _stream(text: str) -> Iterator[object]:
    dec, pos = json.JSONDecoder(), 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        doc, pos = dec.raw_decode(text, pos)
        yield doc


def _raw(obj: object) -> str:
    return orjson.dumps(obj).decode()


def read_json(body: bytes, p: LoadParams) -> Iterator[Record]:
    root = compile_path(p.json_root) if p.json_root else None
    paths = [compile_path(x) for x in p.jsonpaths] if p.jsonpaths is not None else None
    try:
        for doc in _documents(body):
            sel = extract(doc, root) if root is not None else doc
            if p.strip_outer_array:
                if not isinstance(sel, list):
                    yield Record(None, _raw(doc), "the value should be array type with "
                                 f"strip_outer_array=true, value: {_raw(sel)[:100]}")
                    continue
                items = sel
            elif isinstance(sel, list):
                yield Record(None, _raw(doc)[:1000], "The value is array type in json document stream, you "
                             "can set strip_outer_array=true to parse each element of the array as "
                             "individual rows")
                continue
            else:
                items = [sel]
            for item in items:
                if p.envelope == "debezium":
                    rec = debezium_record(item, paths)
                    if rec is not None:
                        yield rec
                elif not isinstance(item, dict):
                    yield Record(None, _raw(item), "The value should be object type in json document stream")
                elif paths is None:
                    yield Record(item, "")
                else:
                    yield Record([extract(item, k) for k in paths], "", None, item)
    except jsondemand.DocumentError as exc:
        # §6.2: a document-level parse failure counts one filtered row and stops the payload.
        yield Record(None, f"parser current location: {exc.where}", exc.reason)


_DBZ_OPS = {"c": 0, "r": 0, "u": 0, "d": 1}


def debezium_record(item: object, paths: list[tuple[str | int, ...]] | None) -> Record | None:
    """One Debezium change event (``envelope: debezium``): with or without the ``payload`` wrapper of
    the JsonConverter's schema mode; a tombstone (``null``, ``{"payload": null}``) is no row. ``c``, ``r``
    and ``u`` upsert ``after``, ``d`` deletes ``before``; jsonpaths select from that row image. An event
    without ``op``, with another op, or without the image its op needs is a filtered row (the reasons
    are the emulator's words; R test_stream_load_debezium_json shows only that StarRocks fails them)."""
    event = item.get("payload") if isinstance(item, dict) and "payload" in item else item
    if event is None:
        return None
    if not isinstance(event, dict):
        return Record(None, _raw(item), "The Debezium event should be a JSON object")
    op = event.get("op")
    if op is None:
        return Record(None, _raw(item), "Debezium event without an op field")
    if op not in _DBZ_OPS:
        return Record(None, _raw(item), f"Unknown Debezium op: {op}")
    image = "before" if op == "d" else "after"
    row = event.get(image)
    if not isinstance(row, dict):
        return Record(None, _raw(item), f"Debezium event with op '{op}' has no {image} row")
    if paths is None:
        return Record(row, "", op=_DBZ_OPS[op])
    return Record([extract(row, k) for k in paths], "", None, row, op=_DBZ_OPS[op])


def raw_of(rec: Record) -> str:
    """Error-log text of a JSON record (the raw object), computed only for filtered rows."""
    return rec.raw or _raw(rec.obj if rec.obj is not None else rec.values)
