"""Shared fixtures for the analysis tests. analysis/ is a directory of scripts,
not a package, so its path goes on sys.path the way running a script would."""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
ANALYSIS_DIR = REPO / "analysis"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
INSTR_SMALL = FIXTURES / "instr_small.json"

if str(ANALYSIS_DIR) not in sys.path:
    sys.path.insert(0, str(ANALYSIS_DIR))

_INSTR_DOC = json.loads(INSTR_SMALL.read_text())


@pytest.fixture
def instr_path() -> Path:
    """Path of the read-only instr_small.json fixture."""
    return INSTR_SMALL


@pytest.fixture
def analysis_dir() -> Path:
    return ANALYSIS_DIR


@pytest.fixture
def instr_doc() -> dict[str, Any]:
    """A private, mutable copy of the instr_small.json fixture."""
    return copy.deepcopy(_INSTR_DOC)


@pytest.fixture
def write_doc(tmp_path: Path) -> Callable[..., Path]:
    """write_doc(doc, name='r.json') -> path of doc written as JSON under tmp_path."""
    def write(doc: Any, name: str = "r.json") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))
        return path
    return write
