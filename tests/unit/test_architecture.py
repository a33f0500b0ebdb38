"""The package's shape: no import circles, layers that import only downward, small files.

Imports are read from the source (``ast``), every one of them: at module level, inside
functions, and under ``if TYPE_CHECKING:``. A circle of type-only imports still ties
modules together so that none can be read or changed alone.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "invokeai_py_client"
ROOT = Path(__file__).resolve().parents[2] / "src" / PACKAGE
MAX_LINES = 400

# Lower layers never import higher ones. Package __init__ modules and the design's
# import paths (re-exports of the shells) form the facade.
LAYERS = {"leaf": 0, "types": 1, "core": 2, "shells": 3, "facade": 4, "cli": 5}
FACADE = {
    PACKAGE,
    f"{PACKAGE}.client",
    f"{PACKAGE}.async_client",
    f"{PACKAGE}.dnn_model",
    f"{PACKAGE}.dnn_model.dnn_model_repo",
    f"{PACKAGE}.dnn_model.async_dnn_model_repo",
    f"{PACKAGE}.dnn_model.install_job",
    f"{PACKAGE}.dnn_model.async_install_job",
}
LEAF = {f"{PACKAGE}.errors", f"{PACKAGE}._redact", f"{PACKAGE}._lazy"}


def module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in ROOT.rglob("*.py")}


def layer(module: str) -> str:
    if module in FACADE:
        return "facade"
    if module in LEAF:
        return "leaf"
    folder = module.split(".")[1] if "." in module else ""
    if folder == "cli":
        return "cli"
    if folder in {"_async", "_sync"}:
        return "shells"
    if folder == "_core":
        return "core"
    if folder == "dnn_model":
        return "types"
    raise AssertionError(f"{module} belongs to no layer: add it to one")


def imports_of(module: str) -> Iterator[tuple[str, int]]:
    """The package's modules that ``module`` imports, with the line, at any depth."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # ``from pkg import mod`` imports the module pkg.mod, not only pkg
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target in MODULES and target != module:
                yield target, node.lineno


GRAPH = {module: sorted({t for t, _ in imports_of(module)}) for module in MODULES}


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read() -> None:
    """The reader finds imports of each kind (else the tests below prove nothing)."""
    assert f"{PACKAGE}._core.calls" in GRAPH[f"{PACKAGE}._core.model_ops"]  # module level
    client = GRAPH[f"{PACKAGE}._async.client"]
    assert f"{PACKAGE}._async.repository" in client  # in a function and under TYPE_CHECKING
    assert f"{PACKAGE}._core.app_ops" in client  # from .._core import app_ops


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_circles() -> None:
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_layers_import_only_downward(module: str) -> None:
    mine = LAYERS[layer(module)]
    upward = [
        f"line {line}: {target} ({layer(target)})"
        for target, line in imports_of(module)
        if LAYERS[layer(target)] > mine
    ]
    assert upward == [], f"{module} ({layer(module)}) imports a higher layer"


def test_the_sync_shells_import_no_async_code() -> None:
    for module, targets in GRAPH.items():
        if module.startswith(f"{PACKAGE}._sync"):
            assert not [t for t in targets if t.startswith(f"{PACKAGE}._async")], module


def generated(path: Path) -> bool:
    return path.parent.name == "_sync" and path.read_text().startswith(
        "# Generated by scripts/unasync.py"
    )


def test_hand_written_files_are_short() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in ROOT.rglob("*.py")
        if not generated(path) and (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_every_sync_shell_but_its_backend_is_generated() -> None:
    hand_written = {p.name for p in (ROOT / "_sync").glob("*.py") if not generated(p)}
    assert hand_written == {"__init__.py", "backend.py"}
