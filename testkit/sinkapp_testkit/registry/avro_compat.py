"""Structural Avro schema-resolution check used by the registry emulator's compatibility rules.

Called by :class:`sinkapp_testkit.registry.store.SchemaStore` when a schema is registered under a
subject that already has versions, and by ``POST /compatibility/...``.  ``can_read(reader, writer)``
answers "can data written with *writer* be decoded with *reader*?" following the resolution rules
of the Avro specification (type promotions, union branches, record fields with defaults, enum
symbols, fixed sizes, named-type recursion).  Logical types and aliases of named types are
ignored; field aliases are honoured.  Input is the output of ``fastavro.parse_schema(...,
_write_hint=False)`` plus the ``named_schemas`` dict that parse call filled.
"""

from __future__ import annotations

from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}
_COMPLEX = frozenset({"record", "error", "enum", "fixed", "array", "map"})

Named = dict[str, Any]


def can_read(reader: Any, reader_named: Named, writer: Any, writer_named: Named) -> list[str]:
    """Return the reasons *reader* cannot read *writer* data; an empty list means it can."""
    return _Resolver(reader_named, writer_named).check(reader, writer, "")


def _type_name(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "union"
    kind = str(node["type"])
    return "record" if kind == "error" else kind


class _Resolver:
    def __init__(self, reader_named: Named, writer_named: Named) -> None:
        self._rn = reader_named
        self._wn = writer_named
        self._seen: set[tuple[str, str]] = set()

    @staticmethod
    def _norm(node: Any, named: Named) -> Any:
        """Unwrap ``{"type": "long", ...}`` to ``"long"`` and resolve named-type references."""
        while True:
            if isinstance(node, str):
                if node in PRIMITIVES or node not in named:
                    return node
                node = named[node]
            elif isinstance(node, dict) and node.get("type") not in _COMPLEX:
                node = node["type"]
            else:
                return node

    def check(self, reader: Any, writer: Any, path: str) -> list[str]:
        r, w = self._norm(reader, self._rn), self._norm(writer, self._wn)
        where = path or "/"
        if isinstance(w, list):  # every writer branch must be readable
            return [m for branch in w for m in self.check(r, branch, path)]
        if isinstance(r, list):
            if any(not self.check(branch, w, path) for branch in r):
                return []
            return [f"{where}: reader union has no branch for writer type {_type_name(w)}"]
        rt, wt = _type_name(r), _type_name(w)
        if rt != wt:
            if isinstance(r, str) and isinstance(w, str) and r in _PROMOTIONS.get(w, frozenset()):
                return []
            return [f"{where}: reader type {rt} cannot read writer type {wt}"]
        if rt in PRIMITIVES:
            return []
        if rt == "array":
            return self.check(r["items"], w["items"], f"{path}/items")
        if rt == "map":
            return self.check(r["values"], w["values"], f"{path}/values")
        if r.get("name") != w.get("name"):
            return [f"{where}: name mismatch, reader {r.get('name')} vs writer {w.get('name')}"]
        if rt == "fixed":
            ok = r.get("size") == w.get("size")
            return [] if ok else [f"{where}: fixed size {r.get('size')} vs {w.get('size')}"]
        if rt == "enum":
            missing = sorted(set(w.get("symbols", [])) - set(r.get("symbols", [])))
            if missing and "default" not in r:
                return [f"{where}: reader enum {r['name']} lacks symbols {missing}"]
            return []
        return self._check_record(r, w, path)

    def _check_record(self, r: dict[str, Any], w: dict[str, Any], path: str) -> list[str]:
        key = (str(r["name"]), str(w["name"]))
        if key in self._seen:  # recursive type already under comparison
            return []
        self._seen.add(key)
        writer_fields = {f["name"]: f for f in w.get("fields", [])}
        msgs: list[str] = []
        for field in r.get("fields", []):
            fpath = f"{path}/{field['name']}"
            names = [field["name"], *field.get("aliases", [])]
            source = next((writer_fields[n] for n in names if n in writer_fields), None)
            if source is None:
                if "default" not in field:
                    msgs.append(f"{fpath}: reader field has no default and is missing from the writer schema")
                continue
            msgs.extend(self.check(field["type"], source["type"], fpath))
        return msgs
