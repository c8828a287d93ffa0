"""Reading a JSON body that a strict parser refuses, the way StarRocks' on-demand (simdjson) reader does
(docs/streamload-protocol.md §6.2 and MYSQL.md "Conformance"; R files test_invalid_json, test_stream_load_json_map_partial_append).

StarRocks reads a row's fields one at a time. What the two R files show:

* a string with an invalid escape (``\\s``) is a bad *value*: that field converts to NULL (a filtered row
  under strict mode), the other fields of the row and the rest of the body load;
* a syntax error inside a row (a missing ``,`` between members, also inside a nested object) ends the
  body there: the row keeps the fields read before, the field being read is a bad value, and no later
  row is read; nothing is counted as filtered.

An error where no row has started (garbage between documents, a body that is not JSON at all), and a
body that ends inside a row (truncated), are still document-level errors: :class:`DocumentError`, one filtered row (§6.2).
This module is used only after the strict parse of a body has failed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


INVALID = _Invalid()          # a field value the on-demand reader could not read
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")
_WS = " \t\r\n"


class DocumentError(Exception):
    def __init__(self, reason: str, where: str, *, eof: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.where, self.eof = reason, where, eof


class _Broken(Exception):
    """A syntax error inside a row; ``partial`` is what was read of the innermost container."""

    def __init__(self, partial: object) -> None:
        super().__init__("broken")
        self.partial = partial


class _Reader:
    def __init__(self, text: str) -> None:
        self.s, self.n = text, len(text)

    def ws(self, i: int) -> int:
        while i < self.n and self.s[i] in _WS:
            i += 1
        return i

    def fail(self, i: int, why: str, *, eof: bool = False) -> DocumentError:
        return DocumentError(f"parse json failed: {why}", self.s[i:i + 100], eof=eof)

    def value(self, i: int) -> tuple[object, int]:
        i = self.ws(i)
        if i >= self.n:
            raise self.fail(i, "unexpected end of data", eof=True)
        c = self.s[i]
        if c == "{":
            return self.obj(i)
        if c == "[":
            return self.arr(i)
        if c == '"':
            return self.string(i)
        for word, val in (("true", True), ("false", False), ("null", None)):
            if self.s.startswith(word, i):
                return val, i + len(word)
        m = _NUMBER.match(self.s, i)
        if m is None:
            raise self.fail(i, "invalid value")
        return (float(m.group(0)) if m.group(1) or m.group(2) else int(m.group(0))), m.end()

    def string(self, i: int) -> tuple[object, int]:
        j = i + 1
        while j < self.n and self.s[j] != '"':
            j += 2 if self.s[j] == "\\" else 1
        if j >= self.n:
            raise self.fail(i, "unterminated string", eof=True)
        try:
            return json.loads(self.s[i:j + 1]), j + 1
        except ValueError:          # an invalid escape: a bad value, the reader goes on after the quote
            return INVALID, j + 1

    def member(self, d: dict[str, object], i: int) -> int:
        i = self.ws(i)
        if i >= self.n or self.s[i] != '"':
            raise _Broken(d)
        key, i = self.string(i)
        i = self.ws(i)
        if i >= self.n or self.s[i] != ":":
            raise _Broken(d)
        try:
            val, i = self.value(i + 1)
        except (_Broken, DocumentError) as exc:
            if isinstance(exc, DocumentError) and exc.eof:    # a truncated body stays a document error
                raise
            d[str(key)] = INVALID
            raise _Broken(d) from None
        d[str(key)] = val
        return self.ws(i)

    def obj(self, i: int) -> tuple[object, int]:
        d: dict[str, object] = {}
        i = self.ws(i + 1)
        if i < self.n and self.s[i] == "}":
            return d, i + 1
        while True:
            i = self.member(d, i)
            if i < self.n and self.s[i] == ",":
                i += 1
            elif i < self.n and self.s[i] == "}":
                return d, i + 1
            else:
                raise _Broken(d)

    def arr(self, i: int) -> tuple[object, int]:
        items: list[object] = []
        i = self.ws(i + 1)
        if i < self.n and self.s[i] == "]":
            return items, i + 1
        while True:
            try:
                val, i = self.value(i)
            except (_Broken, DocumentError) as exc:
                if isinstance(exc, DocumentError) and exc.eof:
                    raise
                raise _Broken(items) from None
            items.append(val)
            i = self.ws(i)
            if i < self.n and self.s[i] == ",":
                i += 1
            elif i < self.n and self.s[i] == "]":
                return items, i + 1
            else:
                raise _Broken(items)


def documents(text: str) -> Iterator[object]:
    """The documents of a body; a row broken by a syntax error is the last thing yielded (a document, or
    the last element of a top-level array, which is then cut there)."""
    r, i = _Reader(text), 0
    while True:
        i = r.ws(i)
        if i >= r.n:
            return
        if text[i] == "[":
            items, i, broken = _top_array(r, i)
            yield items
            if broken:
                return
            continue
        if text[i] != "{":
            doc, i = r.value(i)        # a scalar: the reader says what it is (§6.2)
            yield doc
            continue
        try:
            doc, i = r.obj(i)
        except _Broken as exc:
            if not exc.partial:
                raise r.fail(i, "syntax error") from None
            yield exc.partial
            return
        yield doc


def _top_array(r: _Reader, i: int) -> tuple[list[object], int, bool]:
    items: list[object] = []
    i = r.ws(i + 1)
    if i < r.n and r.s[i] == "]":
        return items, i + 1, False
    while True:
        try:
            val, i = r.value(i)
        except _Broken as exc:
            items.append(exc.partial)
            return items, i, True
        items.append(val)
        i = r.ws(i)
        if i < r.n and r.s[i] == ",":
            i += 1
        elif i < r.n and r.s[i] == "]":
            return items, i + 1, False
        else:
            return items, i, True
