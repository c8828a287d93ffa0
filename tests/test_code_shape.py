"""The shape the code keeps, in sinkapp and in the testkit: no import circle, no module over ~300
lines and no function over ~60, and in sinkapp the packages stand in layers that only import
downwards (README, Architecture).

A static read of the sources (ast): a module-level or function-level ``import`` of another module of
the same distribution is an edge; a package's ``__init__`` counts as the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"sinkapp": REPO / "sinkapp", "sinkapp_testkit": REPO / "testkit" / "sinkapp_testkit"}
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60
#: sinkapp's packages from the bottom up: a package imports only packages below it (and itself)
LAYERS = ["errors", "config", "converters", "transforms", "streamload", "pipeline", "faustio", "kafka",
          "tableshape", "observe", "worker", "supervise", "cli"]


def _modules(top: str) -> dict[str, Path]:
    root = ROOTS[top]
    out = {}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent).with_suffix("")
        out[".".join(rel.parts).removesuffix(".__init__")] = path
    return out


def _edges(mods: dict[str, Path], top: str) -> dict[str, set[str]]:
    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        targets: set[str] = set()
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(block.test) for n in ast.walk(block)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == top:
                targets.add(node.module or "")
                targets |= {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level > 0:     # relative: resolve it
                base = name.rsplit(".", node.level - (path.name == "__init__.py"))[0]
                mod = f"{base}.{node.module}" if node.module else base
                if node.module:
                    targets.add(mod)
                targets |= {f"{mod}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.split(".")[0] == top}
        # importing a.b.c runs the __init__ of a.b first: a parent package is an edge too, unless it
        # is the importing module's own (being imported already when its submodules are)
        parents = {t.rsplit(".", k)[0] for t in targets for k in range(1, t.count("."))}
        targets |= {p for p in parents if p != top and not name.startswith(p + ".")}
        graph[name] = {t for t in map(known, targets) if t and t != name}
    return graph


@pytest.mark.parametrize("top", sorted(ROOTS))
def test_no_import_circle(top: str) -> None:
    graph = _edges(_modules(top), top)
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


def test_sinkapp_packages_import_only_downwards() -> None:
    mods = _modules("sinkapp")
    layer = {name: LAYERS.index(name.split(".")[1]) for name in mods if name.count(".") >= 1}
    unplaced = sorted(n for n in mods if n != "sinkapp" and n.split(".")[1] not in LAYERS)
    assert not unplaced, f"modules outside the layers (add their package to LAYERS): {unplaced}"
    upward = [f"{a} -> {b}" for a, targets in _edges(mods, "sinkapp").items() for b in targets
              if a in layer and b in layer and layer[b] > layer[a]]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("top", sorted(ROOTS))
def test_modules_and_functions_stay_small(top: str) -> None:
    big = []
    for name, path in sorted(_modules(top).items()):
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            big.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    big.append(f"{name}.{node.name}: {n} lines")
    assert not big, "\n".join(big)
