"""The architecture's import rules, read from the source: floors point one way (mlacc -> passes -> costmodel ->
dialects), and no module imports another that imports it back, lazy imports inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

from tests.conftest import ROOT

FLOORS = ("dialects", "costmodel", "passes", "mlacc")
"""Lowest first: a package may import its own floor and those below it."""


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> nx.DiGraph:
    """Module -> the project modules it imports (at the top or inside a function)."""
    modules = {_name(p): p for floor in FLOORS for p in (ROOT / floor).rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            graph.add_edges_from((name, t) for t in targets if t in modules and t != name)
    return graph


def test_no_module_imports_another_that_imports_it_back():
    circles = [sorted(c) for c in nx.strongly_connected_components(import_graph()) if len(c) > 1]
    assert not circles


def test_imports_point_down_the_floors():
    graph = import_graph()
    assert len(graph) > 80
    floor = {name: FLOORS.index(name.split(".")[0]) for name in graph}
    upward = [(a, b) for a, b in graph.edges if floor[b] > floor[a]]
    assert not upward


def test_the_package_imports_neither_benchmarks_nor_tests():
    """benchmarks/ and tests/ stand on the package, never under it: a helper both need lives in the package
    (mlacc/energy_fit.py, mlacc/step_profile.py), not behind a sys.path edit."""
    above = []
    for floor in FLOORS:
        for path in (ROOT / floor).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level:
                    names = [node.module or ""]
                else:
                    continue
                above += [(_name(path), n) for n in names if n.split(".")[0] in ("benchmarks", "tests")]
    assert not above
