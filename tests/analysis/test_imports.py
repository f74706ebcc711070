"""The analysis package imports one way: no import inside a function (a lazy
import is how a cycle hides), no cycle among its modules, and no module found
by editing sys.path or by importlib on a file path. Read with ast, not by
importing, so a cycle is caught even where Python would tolerate it."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "analysis"
# Python files anywhere in the tree that must find modules the ordinary way.
CHECKED_TREES = ("analysis", "tests", "scripts", "formats")
PATH_IMPORT_NAMES = {"spec_from_file_location", "SourceFileLoader", "module_from_spec"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve_from(node: ast.ImportFrom, current: str) -> str:
    """The absolute module an ImportFrom names (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    package = current if MODULES[current].name == "__init__.py" else current.rpartition(".")[0]
    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _with_parents(name: str) -> list[str]:
    """name and the packages above it: importing a module runs their __init__ first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def imports_of(current: str) -> set[str]:
    """The analysis modules `current` imports (module level or anywhere)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[current].read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(node, current)
            # `from analysis import btcresults` imports the module analysis.btcresults
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        for target in targets:
            out.update(m for m in _with_parents(target) if m in MODULES and m != current)
    return out


def test_the_package_is_found():
    assert {"analysis", "analysis.btcresults", "analysis.report_common", "analysis.paper_tcbnn",
            "analysis.report", "analysis.rebuild_all"} <= set(MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_inside_a_function(name):
    tree = ast.parse(MODULES[name].read_text())
    lazy = [f"line {inner.lineno} in {fn.name}()"
            for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
            for inner in ast.walk(fn) if isinstance(inner, (ast.Import, ast.ImportFrom))]
    assert not lazy, f"{MODULES[name].relative_to(REPO)}: import inside a function: {lazy}"


def test_no_import_cycle():
    graph = {name: imports_of(name) for name in MODULES}
    state: dict[str, str] = {}   # 'open' while on the DFS stack, then 'done'
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = "open"
        stack.append(name)
        for dep in sorted(graph[name]):
            if state.get(dep) == "open":
                cycle = stack[stack.index(dep):] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_the_graph_is_read_right():
    # The checker itself: known edges are seen, and the suite reports stay below the paper.
    assert {"analysis.btcresults", "analysis.stride_report", "analysis.bmm_report"} <= \
        imports_of("analysis.paper_tcbnn")
    assert "analysis.paper_tcbnn" in imports_of("analysis.report")
    for suite_report in ("instr_report", "stride_report", "layout_report", "bmm_report", "net_report"):
        assert "analysis.paper_tcbnn" not in imports_of(f"analysis.{suite_report}"), suite_report


def _python_files() -> list[Path]:
    return sorted(p for tree in CHECKED_TREES for p in (REPO / tree).rglob("*.py"))


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_sys_path_edit_or_import_by_path(path):
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr == "path"
                and isinstance(node.value, ast.Name) and node.value.id == "sys"):
            found.append(f"line {node.lineno}: sys.path")
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
        if name in PATH_IMPORT_NAMES:
            found.append(f"line {node.lineno}: {name}")
    assert not found, f"{path.relative_to(REPO)}: {found}"
