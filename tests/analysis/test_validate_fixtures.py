"""The validation cases of tests/fixtures/validate (cases.json: file -> the text
its one problem contains) through analysis.btcresults.load. The C++ validator
reads the same cases (tests/cpu/test_validate_fixtures.cpp): the two keep the
same rules and messages."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis import btcresults as br

CASES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "validate"
CASES = json.loads((CASES_DIR / "cases.json").read_text())


def test_the_case_set_is_whole():
    assert len(CASES) >= 20
    assert any(not c["problem"] for c in CASES)
    assert {c["file"] for c in CASES} | {"cases.json", "make_cases.py"} == {p.name for p in CASES_DIR.iterdir()}


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_case(case):
    path = CASES_DIR / case["file"]
    if not case["problem"]:
        br.load(path)
        return
    with pytest.raises(br.ResultsError) as info:
        br.load(path)
    assert case["problem"] in str(info.value)
    assert "\n" not in str(info.value)


def test_directory_and_size_cap_have_their_own_messages():
    with pytest.raises(br.ResultsError, match="is a directory, not a results file"):
        br.load(CASES_DIR)
    valid = CASES_DIR / "valid.json"
    size = valid.stat().st_size
    br.load(valid, max_bytes=size)
    with pytest.raises(br.ResultsError) as info:
        br.load(valid, max_bytes=size - 1)
    assert str(info.value) == f"{valid} is {size} bytes, over the {size - 1}-byte limit for a results file"
    assert br.MAX_RESULTS_BYTES == 256 << 20
