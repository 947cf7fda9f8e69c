"""The package's shape: no import circles, short modules, data flowing one way.

The import graph is read from the source with ``ast`` (every ``import`` and ``from ... import``,
lazy ones inside functions and ``TYPE_CHECKING`` blocks included), so a new circle fails here
before anyone trips over it at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "chanattn_export"
MAX_LINES = 300


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from pkg import sub`` counts as ``sub``)."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, (path, is_pkg) in mods.items():
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = here[:len(here) - node.level + 1] if node.level else []
                mod = ".".join(base + ([node.module] if node.module else []))
                for a in node.names:
                    sub = f"{mod}.{a.name}"
                    deps.add(sub if sub in mods else mod)
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_circle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_planted_circle():
    graph = {k: set(v) for k, v in import_graph().items()}
    graph["chanattn_export.spec"].add("chanattn_export.pipeline")  # spec -> ... -> spec
    found = cycles(graph)
    assert found and any("chanattn_export.spec" in c for c in found)


def test_lazy_and_type_checking_imports_count(tmp_path):
    """A circle hidden in a function body or a TYPE_CHECKING block is still a circle."""
    src = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import X\n"
    tree = ast.parse(src)
    assert any(isinstance(n, ast.ImportFrom) and n.module == "b" for n in ast.walk(tree))


@pytest.mark.parametrize("check_side", ["chanattn_export.check.recheck",
                                        "chanattn_export.check.verify",
                                        "chanattn_export.check.evidence"])
def test_the_check_side_imports_nothing_of_the_export_side(check_side):
    graph = import_graph()
    seen, todo = set(), [check_side]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph[m])
    export_side = {m for m in seen if m.startswith(("chanattn_export.export",
                                                    "chanattn_export.pipeline",
                                                    "chanattn_export.network",
                                                    "chanattn_export.cli"))}
    assert export_side == set()


def test_nothing_imports_the_cli():
    graph = import_graph()
    users = {m for m, deps in graph.items() if not m.startswith("chanattn_export.cli")
             and any(d.startswith("chanattn_export.cli") for d in deps)}
    assert users == {"chanattn_export.__main__"}


def test_no_module_has_more_than_300_lines():
    long = {str(p.relative_to(PKG.parent)): n for p, _ in _modules().values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_architecture_page_names_every_top_level_module_and_package():
    page = (PKG.parent / "docs" / "architecture.md").read_text()
    top = sorted(p.name for p in PKG.iterdir()
                 if (p.suffix == ".py" and p.name != "_version.py")
                 or (p.is_dir() and (p / "__init__.py").exists()))
    missing = [t for t in top if (t if t.endswith(".py") else t + "/") not in page]
    assert missing == []
