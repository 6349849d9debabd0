"""No import cycle in ``hope/``, checked statically at two levels.

The graph is built from the source with ``ast``: every ``import`` and ``from ... import`` anywhere
in a module counts, including imports inside functions and under ``if TYPE_CHECKING:`` (an
import moved into a function still couples the two modules; it only hides the cycle from the
interpreter). Relative imports are resolved against the importing module.

- **Module level**: nodes are modules (``hope.decision.engine``); an edge ``a -> b`` means ``a``
  imports ``b`` (``from hope.x import y`` is an edge to ``hope.x.y`` when that is a module, else
  to ``hope.x``). Importing ``hope.x.y`` also runs the packages above it, so it is an edge to
  ``hope.x`` (its ``__init__``) as well, unless the importer lives inside ``hope.x`` itself.
- **Package level**: nodes are the first-level units under ``hope`` (``hope.decision``,
  ``hope.execution``, ``hope.config`` for a top-level module); every module edge between two
  different units is an edge between them. A package cycle such as decision -> execution ->
  decision fails even when no module-level cycle exists.

Both levels must be acyclic; a failure names one cycle per strongly connected component.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import hope

ROOT = Path(hope.__file__).resolve().parent


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([module] if module else []))


def imports_of(name: str, path: Path, modules: Iterable[str]) -> set[str]:
    """The ``hope`` modules ``name`` imports, anywhere in its source."""
    known = set(modules)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        for target in targets:
            while target and target not in known:  # `import hope.x.y` of a non-module name
                target = target.rpartition(".")[0]
            while target.startswith("hope") and target != name:
                out.add(target)
                target = target.rpartition(".")[0]  # the packages above it run first
                if name.startswith(target + "."):
                    break  # a package of our own: already running when we are imported
    return out


def module_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def unit_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for src, targets in graph.items():
        node = out.setdefault(unit_of(src), set())
        node.update(unit_of(t) for t in targets if unit_of(t) != unit_of(src))
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path a -> ... -> a) per strongly connected component of size > 1 (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return [_cycle_in(graph, comp) for comp in components]


def _cycle_in(graph: dict[str, set[str]], comp: set[str]) -> list[str]:
    """A shortest cycle through the component's first node, found breadth-first."""
    start = min(comp)
    parents: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, ())):
                if w == start:
                    path = [v]
                    while (parent := parents[path[-1]]) is not None:
                        path.append(parent)
                    return [*reversed(path), start]
                if w in comp and w not in parents:
                    parents[w] = v
                    nxt.append(w)
        frontier = nxt
    return sorted(comp)


def _describe(found: list[list[str]]) -> str:
    return "\n".join("  " + " -> ".join(c) for c in found)


def test_no_module_import_cycle():
    """No module of hope/ reaches itself through imports (function-level imports included)."""
    found = cycles(module_graph())
    assert not found, "module import cycles:\n" + _describe(found)


def test_no_package_import_cycle():
    """No first-level package of hope/ reaches itself through its modules' imports."""
    found = cycles(package_graph(module_graph()))
    assert not found, "package import cycles:\n" + _describe(found)


def test_the_checker_finds_a_cycle():
    """The cycle finder reports a planted three-node cycle and ignores an acyclic tail."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_function_level_and_relative_imports_count(tmp_path):
    """An import inside a function and a relative import both become edges."""
    pkg = tmp_path / "hope" / "x"
    pkg.mkdir(parents=True)
    src = pkg / "m.py"
    src.write_text("def f():\n    from hope.y import z\n\nfrom . import n\n")
    known = {"hope.x", "hope.x.m", "hope.x.n", "hope.y", "hope.y.z"}
    assert imports_of("hope.x.m", src, known) == {"hope.y.z", "hope.y", "hope.x.n"}
