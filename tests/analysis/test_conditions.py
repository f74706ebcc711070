"""What the GPU did while the runs ran, in the reports: SM clocks measured
above the GPU's maximum (suspect_clock) and runs sampled while it throttled
(throttle_reasons)."""
from __future__ import annotations

from analysis import btcresults as br
from analysis import report
from analysis import report_common as rc
from conftest import section_text

STRIDE_RUN = "stride/wmma_global/mode:load/ldm:128/manual_time"


def _set_on_run(doc, run, **fields):
    hit = False
    for entry in doc["benchmarks"]:
        if entry.get("run_name") == run and entry.get("aggregate_name") not in ("stddev", "cv"):
            entry.update(fields)
            hit = True
    assert hit, run


def test_no_conditions_no_section(stride_path, instr_path):
    for path in (stride_path, instr_path):
        results = br.load(path)
        assert br.suspect_clocks(results) == {}
        assert br.throttled_runs(results) == {}
        assert rc.conditions_section(results) is None


def test_clock_above_the_maximum_is_suspect(stride_doc, write_doc, tmp_path):
    _set_on_run(stride_doc, STRIDE_RUN, sm_clock_mhz=2097.0)          # max 1980: +5.9%
    results = br.load(write_doc(stride_doc))
    assert br.suspect_clocks(results) == {STRIDE_RUN: 2097.0}
    md = report.render(results, tmp_path)[-1].read_text()
    body = section_text(md, rc.CONDITIONS_SECTION)
    assert "above the GPU's maximum of 1980 MHz" in body
    assert f"- `{STRIDE_RUN}`: 2,097 MHz" in body
    assert md.index(f"## {rc.CONDITIONS_SECTION}") < md.index("## Skipped")


def test_within_the_slack_is_not_suspect(stride_doc, write_doc):
    _set_on_run(stride_doc, STRIDE_RUN, sm_clock_mhz=1980 * 1.019)
    assert br.suspect_clocks(br.load(write_doc(stride_doc))) == {}


def test_the_harness_flag_decides_where_present(stride_doc, write_doc):
    _set_on_run(stride_doc, STRIDE_RUN, sm_clock_mhz=2097.0, suspect_clock=0)
    assert br.suspect_clocks(br.load(write_doc(stride_doc))) == {}
    _set_on_run(stride_doc, STRIDE_RUN, sm_clock_mhz=1900.0, suspect_clock=1)
    assert br.suspect_clocks(br.load(write_doc(stride_doc))) == {STRIDE_RUN: 1900.0}


def test_instr_table_marks_the_suspect_clock(instr_doc, write_doc, tmp_path):
    for entry in instr_doc["benchmarks"]:
        if entry["name"].startswith("tput/") and "sm_clock_mhz" in entry:
            entry["sm_clock_mhz"] = 2097.0
    md = report.render(br.load(write_doc(instr_doc)), tmp_path)[-1].read_text()
    assert f"2097 {rc.SUSPECT_MARK}" in md
    assert f"{rc.SUSPECT_MARK} SM clock above the GPU's maximum: see {rc.CONDITIONS_SECTION}." in md
    assert f"## {rc.CONDITIONS_SECTION}" in md


def test_throttled_runs_are_listed(stride_doc, write_doc, tmp_path):
    entries = [e for e in stride_doc["benchmarks"] if e.get("run_name") == STRIDE_RUN]
    for i, entry in enumerate(entries):
        entry["throttle_reasons"] = ["", "sw-power-cap", "hw-thermal,sw-power-cap"][i % 3]
    results = br.load(write_doc(stride_doc))
    assert br.throttled_runs(results) == {STRIDE_RUN: "hw-thermal,sw-power-cap"}
    body = section_text(report.render(results, tmp_path)[-1].read_text(), rc.CONDITIONS_SECTION)
    assert "NVML reported throttling while 1 run(s) ran" in body
    assert f"- `{STRIDE_RUN}`: hw-thermal,sw-power-cap" in body
