"""The module graph: no import cycle among expand's modules, and a CLI that names no backend.

Imports inside functions count: they run (a backend or a tool imported on first use), and a
cycle through one is a cycle all the same, only found later. Imports under `if TYPE_CHECKING:`
do not: they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "expand"


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imported(tree: ast.Module) -> set[str]:
    """expand's modules `tree` imports, at any depth but under `if TYPE_CHECKING:`."""
    found: set[str] = set()
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if _type_checking_only(node):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("expand"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            if node.module == "expand" or node.module.startswith("expand."):
                # from expand.io import codec: the module codec; from expand.io.codec import x
                names = {f"{node.module}.{alias.name}" for alias in node.names}
                found.update(name for name in names if _path(name).is_file())
                found.add(node.module)
        pending.extend(ast.iter_child_nodes(node))
    return found


def _path(module: str) -> Path:
    parts = module.split(".")[1:]
    folder = PACKAGE.joinpath(*parts)
    return folder / "__init__.py" if folder.is_dir() else folder.with_suffix(".py")


def _module(path: Path) -> str:
    """expand/run/worker.py → expand.run.worker; a package's __init__.py → the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module(path): path for path in PACKAGE.rglob("*.py")}
    return {name: _imported(ast.parse(path.read_text(encoding="utf-8"))) & modules.keys()
            for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (or one importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_expand_has_no_import_cycle() -> None:
    graph = _graph()
    assert "expand.run.runner" in graph and "expand.exec.dask_executor" in graph["expand.exec.backends"]
    assert _cycles(graph) == []


def test_the_cli_imports_no_backend() -> None:
    """The CLI describes where tasks run (execution.ExecutorSpec); only open_executor picks the
    backend that runs them."""
    imported = _imported(ast.parse((PACKAGE / "cli.py").read_text(encoding="utf-8")))
    assert "expand.exec.execution" in imported
    assert not imported & {"expand.exec.executors", "expand.exec.dask_executor"}
