"""The layers of the design notes hold: no import circle between loci's modules, and every import
goes down the table of layers (docs/design.md, "Layers"). The graph is read from the source with
``ast``; every import counts, inside functions and under ``if TYPE_CHECKING:`` too (a circle of
type hints is still a circle for the reader)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "loci"

# what each layer may import (besides itself); io and geometry sit at the bottom
ALLOWED = {
    "io": set(),
    "geometry": {"io"},
    "control": {"geometry", "io"},
    "engines": {"geometry", "control", "io"},
    "data": {"geometry", "engines", "control", "io"},
    "memory": {"geometry", "io"},
    "models": {"geometry", "io"},
    "video": {"models", "memory", "geometry", "io"},
    "training": {"models", "data", "memory", "geometry", "control", "engines", "io"},
    "world": {"control", "engines", "geometry", "memory", "models", "video", "io"},
    "eval": {"world", "video", "engines", "data", "geometry", "control", "memory", "models", "io"},
    "serve": {"world", "video", "io", "control"},
    "gym": {"world", "engines", "io"},
    "demo": {"control", "geometry", "io", "world"},
}
TOP = {"cli", "__init__", "__main__"}  # may import anything


def module_files() -> dict[str, Path]:
    mods = {}
    for f in SRC.rglob("*.py"):
        parts = list(f.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = f
    return mods


def _targets(mod: str, path: Path, node: ast.Import | ast.ImportFrom, mods: dict[str, Path]) -> list[str]:
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            p = pkg.split(".")
            p = p[: len(p) - (node.level - 1)]
            base = ".".join([*p, base] if base else p)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
    out = []
    for name in names:
        if name.split(".")[0] != "loci":
            continue
        while name not in mods and "." in name:
            name = name.rsplit(".", 1)[0]
        out.append(name)
    return out


@functools.cache
def import_graph() -> dict[str, frozenset[str]]:
    """``module -> modules of loci it imports`` (dotted names; a package is its ``__init__``)."""
    mods = module_files()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                graph[mod] |= {t for t in _targets(mod, path, node, mods) if t != mod}
    return {m: frozenset(t) for m, t in graph.items()}


def cycles(graph: dict[str, set[str] | frozenset[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_planted_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_loci():
    found = cycles(import_graph())
    assert not found, f"import circles: {found}"


def _layer(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_go_down_the_layers(layer):
    graph = import_graph()
    wrong = sorted(
        f"{a} -> {b}"
        for a, targets in graph.items()
        if _layer(a) == layer
        for b in targets
        if _layer(b) != layer and _layer(b) not in ALLOWED[layer]
    )
    assert not wrong, f"{layer}/ may import only {sorted(ALLOWED[layer])}; found {wrong}"


def test_every_layer_is_known():
    assert {_layer(m) for m in import_graph()} <= set(ALLOWED) | TOP


def test_playing_needs_no_training_code():
    """``loci play`` (the player, the world, every backend) never reaches loci.training."""
    graph = import_graph()
    seen, todo = set(), ["loci.serve", "loci.world"]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph.get(m, ()))
    assert not {m for m in seen if m.startswith("loci.training")}
