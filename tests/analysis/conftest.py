"""Shared fixtures and helpers for the analysis tests. The analysis package is
imported from the repo root (pytest.ini puts it on the path).

Each results fixture under fixtures/ comes as <suite>_path (the read-only
file) and <suite>_doc (a private, mutable copy of its JSON); write_doc writes
a modified copy under tmp_path. The plain helpers below (table_rows, section_text,
counters_off, rename_run, run_module, assert_one_line_error) are imported by
the test modules: `from conftest import table_rows`.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
INSTR_SMALL = FIXTURES / "instr_small.json"
STRIDE_SMALL = FIXTURES / "stride_small.json"
LAYOUT_SMALL = FIXTURES / "layout_small.json"
BMM_SMALL = FIXTURES / "bmm_small.json"
BCONV_SMALL = FIXTURES / "bconv_small.json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _results_fixtures(suite: str, path: Path) -> tuple[Any, Any]:
    """The fixtures <suite>_path (path, read-only) and <suite>_doc (a private,
    mutable copy of its JSON, parsed once)."""
    doc = json.loads(path.read_text())

    @pytest.fixture(name=f"{suite}_path")
    def path_fixture() -> Path:
        return path

    @pytest.fixture(name=f"{suite}_doc")
    def doc_fixture() -> dict[str, Any]:
        return copy.deepcopy(doc)
    return path_fixture, doc_fixture


instr_path, instr_doc = _results_fixtures("instr", INSTR_SMALL)
stride_path, stride_doc = _results_fixtures("stride", STRIDE_SMALL)
layout_path, layout_doc = _results_fixtures("layout", LAYOUT_SMALL)
bmm_path, bmm_doc = _results_fixtures("bmm", BMM_SMALL)
bconv_path, bconv_doc = _results_fixtures("bconv", BCONV_SMALL)


@pytest.fixture
def repo_root() -> Path:
    """The working directory `python3 -m analysis.<module>` runs from."""
    return REPO


@pytest.fixture
def write_doc(tmp_path: Path) -> Callable[..., Path]:
    """write_doc(doc, name='r.json') -> path of doc written as JSON under
    tmp_path; name may hold directories, which are created."""
    def write(doc: Any, name: str = "r.json") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))
        return path
    return write


# ---------------------------------------------------------------- doc edits

def counters_off(doc: dict[str, Any],
                 reason: str = "--no-counters given; drop it to collect CUPTI counters") -> dict[str, Any]:
    """doc as a run without CUPTI counters: btcbench.counters disabled with
    reason, and no cupti.* counter on any entry. Edits doc and returns it."""
    doc["btcbench"]["counters"] = {"enabled": False, "metrics": [], "reason": reason}
    doc["context"]["counters"] = f"off: {reason}"
    for entry in doc["benchmarks"]:
        for key in [k for k in entry if k.startswith("cupti.")]:
            del entry[key]
    return doc


def rename_run(doc: dict[str, Any], old: str, new: str) -> None:
    """Rename run old (and its aggregate entries) to new."""
    for entry in doc["benchmarks"]:
        if entry["run_name"] == old:
            entry["name"] = entry["name"].replace(old, new)
            entry["run_name"] = new


# ---------------------------------------------------------------- markdown

def table_rows(markdown: str, header_cell: str, after: str | None = None) -> dict[str, dict[str, str]]:
    """Rows of the first markdown table whose header starts with header_cell
    (after the line `after`, if given), keyed by column 1 without backticks;
    each row maps header cells to cells."""
    lines = markdown.splitlines()
    first = lines.index(after) if after else 0
    start = next(i for i in range(first, len(lines)) if lines[i].startswith(f"| {header_cell} |"))
    header = [c.strip() for c in lines[start].strip("|").split(" | ")]
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows[cells[0].strip("`")] = dict(zip(header, cells))
    return rows


def section_text(markdown: str, title: str) -> str:
    """The body of the '## title' section, up to the next '## ' heading."""
    return markdown.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


# ---------------------------------------------------------------- commands

def run_module(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """python3 -m <args> from the repo root, as a user runs the analysis commands."""
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(p: subprocess.CompletedProcess[str], rc: int, text: str) -> None:
    """p exited rc with one line on stderr (no traceback) that contains text."""
    assert p.returncode == rc, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert text in lines[0], lines[0]
