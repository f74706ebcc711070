"""Fixtures and header readers shared by the analysis.select tests. (Not a
conftest.py: tests/analysis imports helpers with `from conftest import ...`,
which a second conftest module would shadow when both directories run in one
pytest session.) Test modules import the fixtures they use by name."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import pytest

import resultsgen as rg
from analysis.select import cli, model

REPO = Path(__file__).resolve().parents[2]
CHECKED_IN = REPO / "kernels" / "generated"
H100_DIR = REPO / "results" / "nvidia-h100-80gb-hbm3"
ALL_OUTPUTS = ("bmm_config.h", "bmm_candidates_sm90.h") + tuple(
    f"bmm_config_sm{a}.{ext}" for a in (75, 80, 90) for ext in ("h", "md"))


@pytest.fixture
def write_doc(tmp_path: Path) -> Callable[..., Path]:
    """write_doc(doc, name) -> the path of doc written as JSON under tmp_path/results/."""
    return lambda doc, name: rg.write(tmp_path / "results" / name, doc)


@pytest.fixture
def load(write_doc: Callable[..., Path]) -> Callable[..., Any]:
    """load(doc, name) -> btcresults.Results of doc written to a file."""
    return lambda doc, name="r.json": model.load_file(write_doc(doc, name))


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """run_cli(*args) -> (exit status, stdout, stderr) of python3 -m analysis.select."""
    def go(*args: Any) -> tuple[int, str, str]:
        rc = cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return rc, out, err
    return go


def names(cands: Any) -> list[str]:
    return [c.name for c in cands]


_FIELD = re.compile(r"/\*(\w+)\*/ ([^,}]+)")


def _fields(body: str) -> dict[str, str]:
    return {name: value.strip() for name, value in _FIELD.findall(body)}


def constants(header: str) -> dict[str, dict[str, str]]:
    """const -> {field: value text} of every `inline constexpr BmmConfig X{...};`."""
    return {m[1]: _fields(m[2]) for m in re.finditer(r"inline constexpr BmmConfig (\w+)\{(.*?)\};", header, re.S)}


def field(header: str, const: str, name: str) -> str:
    return constants(header)[const][name]


def comment_above(header: str, const: str) -> str:
    """The one-line comment above a constant (what the struct does not say)."""
    lines = header.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(f"inline constexpr BmmConfig {const}{{"))
    assert lines[i - 1].startswith("// "), lines[i - 1]
    return lines[i - 1]


def instruction_of(header: str, const: str) -> str:
    """The instruction the comment above a constant names: '// design[ (x)], <instr>: ...'."""
    m = re.match(r"// [\w ()]+, (\w+): ", comment_above(header, const))
    assert m, comment_above(header, const)
    return m[1]


def candidate_rows(header: str) -> list[dict[str, str]]:
    """The rows of kWgmmaAndCandidates[], each as {field: value text}."""
    body = re.search(r"inline constexpr BmmConfig kWgmmaAndCandidates\[\] = \{\n(.*?)\n\};", header, re.S)
    assert body, "no kWgmmaAndCandidates"
    return [_fields(line) for line in body[1].splitlines()]


def layout_enum(name: str) -> str:
    """The C++ spelling of a layout name, as the header writes it."""
    return "bits::Layout::k" + "".join(part.capitalize() for part in name.split("_"))


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(directory.iterdir())} \
        if directory.exists() else {}
