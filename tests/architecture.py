"""Reading the project's own source: the import graph of a package, what each file imports.

Used by ``test_architecture.py`` to check the layering rules of the core and its plugins.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).parents[1]
CORE = ROOT / "core"


def python_files(folder: Path) -> list[Path]:
    """The project's Python files under ``folder`` (no virtual environments, builds or caches)."""
    skip = {".venv", "build", "__pycache__", ".device"}
    return sorted(p for p in folder.rglob("*.py") if not skip & set(p.parts) and ".egg-info" not in str(p))


def module_of(path: Path, root: Path = CORE) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, at any depth (functions too), except those that only
    serve type checkers (``if TYPE_CHECKING:``)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child
            stack.append(child)


def imported_names(path: Path, root: Path = CORE) -> list[tuple[str, str | None, int]]:
    """(module, name or None, line) for each import of the file: ``from a.b import c`` gives
    ("a.b", "c"), ``import a.b`` gives ("a.b", None); relative imports resolved against ``root``."""
    module = module_of(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        found += [(base, alias.name, node.lineno) for alias in node.names]
    return found


def is_module(name: str, root: Path = CORE) -> bool:
    path = root / Path(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def import_graph(package: str = "stemlime", root: Path = CORE) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` its execution imports: each imported module and the
    packages above it that are not above the importer (importing ``a.b.c`` runs ``a/b/__init__``)."""
    graph: dict[str, set[str]] = {}
    for path in python_files(root / package):
        module = module_of(path, root)
        targets = set()
        for base, name, _ in imported_names(path, root):
            target = f"{base}.{name}" if name and is_module(f"{base}.{name}", root) else base
            if target != package and not target.startswith(package + "."):
                continue
            parts = target.split(".")
            for depth in range(2, len(parts) + 1):
                ancestor = ".".join(parts[:depth])
                if not (module == ancestor or module.startswith(ancestor + ".")) or depth == len(parts):
                    targets.add(ancestor)
        targets.discard(module)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
