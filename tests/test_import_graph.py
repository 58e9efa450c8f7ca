"""The package's modules import each other without a circle, lazily or for typing alike.

A circle makes a module impossible to read, test or move alone; a lazy import
(inside a function) or one under ``TYPE_CHECKING`` only hides it from the
interpreter. Importing a module's own package (its ``__init__``) is implied
by Python and is not counted.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import trio_launcher

PACKAGE_DIR = Path(trio_launcher.__file__).parent
PACKAGE = PACKAGE_DIR.name


def module_files() -> dict[str, tuple[Path, bool]]:
    """Every module of the package: dotted name -> (file, is a package ``__init__``)."""
    found = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = (PACKAGE, *path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def imported_names(
    module: str, is_package: bool, node: ast.Import | ast.ImportFrom
) -> Iterator[str]:
    """The dotted names an import statement may load (the module, and each name as a module)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([node.module] if node.module else []))
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its file."""
    modules = module_files()
    graph: dict[str, set[str]] = {}
    for module, (path, is_package) in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                targets.update(imported_names(module, is_package, node))
        graph[module] = {
            target
            for target in targets & modules.keys()
            if target != module and not module.startswith(target + ".")
        }
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while (member := stack.pop()) != module:
                component.append(member)
            if component:
                found.append(sorted([module, *component]))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_finder_sees_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]


def test_no_module_of_the_package_takes_part_in_an_import_circle() -> None:
    assert circles(import_graph()) == []
