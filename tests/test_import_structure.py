"""The package's layers import only downward, and no module imports itself back through others.

Every ``import`` of an ``electra`` module anywhere in a file counts, at module level or inside a function.
Layers, bottom to top (a package may import the packages listed for it and nothing else)::

    core -> nn -> tokens, data -> models -> objectives, generation, train -> interop, recipes -> experiments
    -> cli

``train`` (the engine) imports no model, objective or data code; recipes do not import each other (an
experiment, which runs several, sits above them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "electra"

ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "nn": {"core"},
    "tokens": {"core"},
    "data": {"core"},
    "models": {"core", "nn", "data"},
    "objectives": {"core", "nn", "tokens", "models"},
    "generation": {"core", "nn", "tokens", "data", "models"},
    "train": {"core"},
    "interop": {"core", "nn", "data", "models"},
    "recipes": {"core", "nn", "tokens", "data", "models", "objectives", "generation", "train"},
    "experiments": {"core", "nn", "tokens", "data", "models", "objectives", "generation", "train", "recipes"},
    "cli": {"core", "nn", "tokens", "data", "models", "objectives", "generation", "train", "interop", "recipes",
            "experiments"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The ``electra`` modules a file imports (``from electra.x import y`` counts ``electra.x.y`` when it
    is a module, else ``electra.x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "electra"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "electra":
            assert node.level == 0, f"{path}: relative import"
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return found


def graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: {m for m in imports_of(path, modules) if m != name} for name, path in modules.items()}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def recipe(module: str) -> str | None:
    """``pretrain`` for ``electra.recipes.pretrain.run``; None outside a recipe."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "recipes" else None


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Every import that goes up, sideways to a package not allowed, or from one recipe to another."""
    bad = []
    for module, targets in sorted(edges.items()):
        for target in sorted(targets):
            src, dst = layer(module), layer(target)
            if src == dst == "recipes" and recipe(target) and recipe(module) != recipe(target):
                bad.append(f"{module} -> {target} (recipes do not import each other)")
            elif src and dst and src != dst and dst not in ALLOWED[src]:
                bad.append(f"{module} -> {target} ({src} may not import {dst})")
    return bad


def test_every_package_is_in_a_layer():
    assert {layer(m) for m in all_modules()} - {""} == set(ALLOWED)


def test_layers_import_only_downward():
    assert violations(graph()) == []


def test_there_are_no_import_cycles():
    assert cycles(graph()) == []


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"electra.nn.a": {"electra.models.b"}}, ["electra.nn.a -> electra.models.b (nn may not import models)"]),
        ({"electra.train.a": {"electra.models.b"}}, ["electra.train.a -> electra.models.b (train may not import "
                                                     "models)"]),
        ({"electra.recipes.x.a": {"electra.recipes.y.b"}}, ["electra.recipes.x.a -> electra.recipes.y.b (recipes do "
                                                             "not import each other)"]),
        ({"electra.recipes.x.a": {"electra.recipes.x.b", "electra.train.c", "electra.recipes"}}, []),
    ],
)  # fmt: skip
def test_the_checks_catch_what_they_are_for(edges, expected):
    """The checker itself: an upward import, the engine importing a model, a recipe importing another, a cycle."""
    assert violations(edges) == expected
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
