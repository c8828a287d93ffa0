"""The shape the sink's code keeps (issue 14): no import circle between sinkapp's modules, no module
over ~300 lines and no function over ~60 in sinkapp/ outside sinkapp/testing/.

A static read of the sources (ast): a module-level or function-level ``import`` of another sinkapp
module is an edge; a package's ``__init__`` counts as the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "sinkapp"
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        if "testing" in rel.parts:
            continue
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _edges(mods: dict[str, Path]) -> dict[str, set[str]]:
    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("sinkapp"):
                targets.add(node.module or "")
                targets |= {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("sinkapp")}
        # importing a.b.c runs the __init__ of a.b first: a parent package is an edge too, unless it
        # is the importing module's own (being imported already when its submodules are)
        parents = {t.rsplit(".", k)[0] for t in targets for k in range(1, t.count("."))}
        targets |= {p for p in parents if p != "sinkapp" and not name.startswith(p + ".")}
        graph[name] = {t for t in map(known, targets) if t and t != name}
    return graph


def test_no_import_circle_between_sinkapp_modules() -> None:
    graph = _edges(_modules())
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_modules_and_functions_stay_small() -> None:
    big = []
    for name, path in sorted(_modules().items()):
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            big.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    big.append(f"{name}.{node.name}: {n} lines")
    assert not big, "\n".join(big)
