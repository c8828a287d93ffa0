"""A decoder compiled once per Avro writer schema: Confluent-framed bytes → the value fastavro gives.

Who calls: :class:`sinkapp.converters.avro.AvroConverter`, which builds one per schema id (``compile_reader``)
and reads each record with it, falling back to fastavro's ``schemaless_reader`` when it raises.

Why: ``fastavro.schemaless_reader`` is generic: per record it re-walks the parsed schema, dispatches on
each node's type name and reads each byte through a file object (~4 µs for a Datagen order). The
function generated here is straight-line Python for one schema: varints, doubles, strings and records
read from the record's bytes by position, one dict literal per record, ~1 µs for the same order.

Exactly fastavro's values, or an exception: the generated code reads the Avro binary encoding of the
primitive types, records, enums, fixed, arrays, maps and unions, and applies the same logical-type readers
(``fastavro.read.LOGICAL_READERS``, where :mod:`sinkapp.converters.avro` registers sinkapp's) to the same
schema nodes. It is stricter than fastavro on bytes that are not a well-formed record of the schema
(trailing bytes, a negative length or index, an out-of-range enum or union index, a varint over 64 bits):
it raises, and the caller decodes the record with fastavro, whose value or error is then the record's.
Schemas it does not cover (a recursive named type, ``error`` types, anything unexpected) get no compiled
reader (``compile_reader`` returns None), and fastavro reads all of their records.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from fastavro.read import LOGICAL_READERS

from sinkapp.converters.registry_client import HEADER_SIZE


class Unsupported(Exception):
    """The schema has a shape the generator does not cover: fastavro reads its records."""


class Malformed(Exception):
    """The bytes are not a well-formed record of the schema (the caller asks fastavro why)."""


_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_PAST = 1 << 62                              # a length no record has: reading on from there fails
_GLOBALS: dict[str, Any] = {
    "Malformed": Malformed, "HEADER_SIZE": HEADER_SIZE,
    "_f": struct.Struct("<f").unpack_from, "_d": struct.Struct("<d").unpack_from,
    "_zz": tuple((x >> 1) ^ -(x & 1) for x in range(128)),               # one-byte zigzag varints
    "_half": tuple(_PAST if x & 1 else x >> 1 for x in range(128)),      # one-byte lengths
    "_lo": tuple(x & 127 for x in range(256)),
    **{f"_t{i}": tuple((y & 127) << (7 * i) for y in range(256)) for i in range(1, 10)},
}


class _Gen:
    """Python source of ``read(b)`` for one parsed schema; constants go into ``consts``."""

    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.n = 0
        self.stack: list[str] = []          # named types being generated (a recursive one is Unsupported)

    def var(self, prefix: str = "v") -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def const(self, value: Any) -> str:
        name = f"_k{len(self.consts)}"
        self.consts[name] = value
        return name

    def emit(self, ind: int, line: str) -> None:
        self.lines.append("    " * ind + line)

    def varint(self, ind: int, one: list[str], more: list[str]) -> None:
        """Read a varint into ``x`` (unsigned), then run ``one`` (it was one byte, ``p`` not yet moved)
        or ``more`` (``p`` moved). Unrolled inline, byte i adding ``_t<i>[byte]`` (its 7 bits shifted
        into place, a tuple lookup): Python per-byte loops, calls and shifts cost more than the rest of
        a small record."""
        self.emit(ind, "x = b[p]")
        self.emit(ind, "if x < 128:")
        for line in one:
            self.emit(ind + 1, line)
        self.emit(ind, "else:")
        for i in range(1, 10):
            self.emit(ind + i, f"y = b[p + {i}]; " + ("x = _lo[x] + _t1[y]" if i == 1 else f"x += _t{i}[y]"))
            self.emit(ind + i, "if y < 128:")
            self.emit(ind + i + 1, f"p += {i + 1}")
            if i == 9:                       # a tenth byte: more than 64 bits is not fastavro's value
                self.emit(ind + i + 1, "if x >> 64: raise Malformed('varint beyond 64 bits')")
            for line in more:
                self.emit(ind + i + 1, line)
            self.emit(ind + i, "else:")
        self.emit(ind + 10, "raise Malformed('varint longer than 10 bytes')")

    def long(self, ind: int, out: str) -> None:
        """``out`` = the next zigzag varint."""
        self.varint(ind, [f"{out} = _zz[x]; p += 1"], [f"{out} = ~(x >> 1) if x & 1 else x >> 1"])

    def size(self, ind: int, out: str) -> None:
        """``out`` = a length or index that must not be negative (the zigzag sign bit is clear). One byte:
        ``_half``, whose odd (negative) entries are past any record, so that reading on fails."""
        self.varint(ind, [f"{out} = _half[x]; p += 1"],
                    ["if x & 1: raise Malformed('negative length')", f"{out} = x >> 1"])

    def node(self, schema: Any, ind: int, out: str) -> None:
        """Code reading one value of ``schema`` into the variable ``out``."""
        if isinstance(schema, list):
            self.union(schema, ind, out)
            return
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                self.primitive(schema, ind, out)
                return
            if schema not in self.named or schema in self.stack:
                raise Unsupported(f"named type {schema!r} (unknown or recursive)")
            self.stack.append(schema)
            self.node(self.named[schema], ind, out)
            self.stack.pop()
            return
        if not isinstance(schema, dict) or not isinstance(schema.get("type"), str):
            raise Unsupported(f"schema node {schema!r:.80}")
        kind = schema["type"]
        if kind in _PRIMITIVES:
            self.primitive(kind, ind, out)
        elif kind == "record":
            self.record(schema, ind, out)
        elif kind == "enum":
            self.size(ind, "i")
            self.emit(ind, f"{out} = {self.const(tuple(schema['symbols']))}[i]")
        elif kind == "fixed":
            size = int(schema["size"])
            self.emit(ind, f"e = p + {size}")      # past the end: p > len(b), which the end refuses
            self.emit(ind, f"{out} = b[p:e]; p = e")
        elif kind == "array":
            self.blocks(schema["items"], ind, out, is_map=False)
        elif kind == "map":
            self.blocks(schema["values"], ind, out, is_map=True)
        else:
            raise Unsupported(f"type {kind!r}")
        logical = schema.get("logicalType")
        if logical:                          # as fastavro: the reader of "<type>-<logicalType>", if any
            fn = LOGICAL_READERS.get(f"{kind}-{logical}")
            if fn is not None:
                self.emit(ind, f"{out} = {self.const(fn)}({out}, {self.const(schema)}, None)")

    def primitive(self, kind: str, ind: int, out: str) -> None:
        if kind == "null":
            self.emit(ind, f"{out} = None")
        elif kind == "boolean":
            self.emit(ind, f"{out} = b[p] != 0; p += 1")
        elif kind in ("int", "long"):
            self.long(ind, out)
        elif kind == "float":
            self.emit(ind, f"{out} = _f(b, p)[0]; p += 4")
        elif kind == "double":
            self.emit(ind, f"{out} = _d(b, p)[0]; p += 8")
        else:                                # bytes, string: a length, then that many bytes
            self.size(ind, "n")
            self.emit(ind, "e = p + n")           # past the end: p > len(b), which the end refuses
            self.emit(ind, f"{out} = b[p:e]{'.decode()' if kind == 'string' else ''}; p = e")

    def record(self, schema: dict[str, Any], ind: int, out: str) -> None:
        names = [f["name"] for f in schema["fields"]]
        if len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
            raise Unsupported("record field names")
        vs = []
        for f in schema["fields"]:
            v = self.var()
            self.node(f["type"], ind, v)
            vs.append(v)
        items = ", ".join(f"{n!r}: {v}" for n, v in zip(names, vs, strict=True))
        self.emit(ind, f"{out} = {{{items}}}")

    def union(self, branches: list[Any], ind: int, out: str) -> None:
        self.long(ind, "u")
        for i, branch in enumerate(branches):
            self.emit(ind, f"{'if' if i == 0 else 'elif'} u == {i}:")
            self.node(branch, ind + 1, out)
        self.emit(ind, "else: raise Malformed('union index')")

    def blocks(self, item: Any, ind: int, out: str, is_map: bool) -> None:
        """Arrays and maps: blocks of a count (negative: followed by a byte size) and items, until 0."""
        c, k, v = self.var("c"), self.var("k"), self.var()
        self.emit(ind, f"{out} = {{}}" if is_map else f"{out} = []")
        self.long(ind, c)
        self.emit(ind, f"while {c}:")
        self.emit(ind + 1, f"if {c} < 0:")
        self.emit(ind + 2, f"{c} = -{c}")
        self.long(ind + 2, "_")              # the block's byte size: not needed
        self.emit(ind + 1, f"for _ in range({c}):")
        if is_map:
            self.primitive("string", ind + 2, k)
        self.node(item, ind + 2, v)
        self.emit(ind + 2, f"{out}[{k}] = {v}" if is_map else f"{out}.append({v})")
        self.long(ind + 1, c)


class Compiled(NamedTuple):
    """The two functions compiled for one writer schema id.

    ``read(raw)``: one Confluent-framed record → its value (raises if not well-formed).
    ``run(records, k, end, values, idx, gate) -> int``: reads ``records[k].value`` onwards while they are
    well-formed records of this schema id, appending each value to ``values`` and its index to ``idx``
    (``gate``, when not None, is called with each raw value first, as the decode loop does); returns the
    index of the first record it did not take (``end`` when it took them all): a tombstone, another schema
    id, a record the gate refuses or bytes it cannot read. The caller decodes that one as usual."""

    read: Callable[[bytes], Any]
    run: Callable[[list[Any], int, int, list[Any], list[int], Any], int]


MAX_LINES = 50_000                           # a bigger schema is read by fastavro (compiling it would take long)


def compile_reader(parsed: Any, schema_id: int) -> Compiled | None:
    """The reader of records of the parsed writer schema ``parsed`` framed with ``schema_id``, or None
    when the schema has a shape this module does not cover."""
    named = parsed.get("__named_schemas", {}) if isinstance(parsed, dict) else {}
    gen = _Gen(named)
    try:
        gen.node(parsed, 0, "r")
    except (Unsupported, KeyError, TypeError, ValueError):
        return None
    if len(gen.lines) > MAX_LINES:
        return None
    body1 = ["    " + line for line in gen.lines]
    body3 = ["            " + line for line in gen.lines]
    src = "\n".join([
        "def read(b):",
        "    p = HEADER_SIZE", *body1,
        "    if p != len(b): raise Malformed('bytes left over')",
        "    return r",
        "def run(records, k, end, values, idx, gate):",
        "    while k < end:",
        "        b = records[k].value",
        "        if type(b) is not bytes or b[:HEADER_SIZE] != HEAD: return k",
        "        try:",
        "            if gate is not None: gate(b)",
        "            p = HEADER_SIZE", *body3,
        "            if p != len(b) or r is None: return k",   # None: a tombstone to the decode loop
        "        except Exception:",
        "            return k",
        "        values.append(r)",
        "        idx.append(k)",
        "        k += 1",
        "    return k",
    ])
    namespace = {**_GLOBALS, **gen.consts, "HEAD": b"\x00" + schema_id.to_bytes(4, "big")}
    try:
        exec(compile(src, f"<avro reader of schema id {schema_id}>", "exec"), namespace)  # noqa: S102 (generated here)
    except (SyntaxError, RecursionError, MemoryError):       # e.g. nested deeper than Python compiles
        return None
    return Compiled(namespace["read"], namespace["run"])
