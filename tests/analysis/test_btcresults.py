from __future__ import annotations

import os
import statistics

import pytest

from analysis import btcresults as br
from conftest import rename_run

MMA_AND_BEST = "tput/mma_and_m16n8k256/wps:16/ilp:4/manual_time"


def _entries(doc, run_name):
    return [e for e in doc["benchmarks"] if e["run_name"] == run_name]


def _aggregate(doc, run_name, agg):
    return next(e for e in _entries(doc, run_name) if e.get("aggregate_name") == agg)


def test_load_fixture(instr_path):
    results = br.load(instr_path)
    assert results.suite == "instr"
    assert results.device["name"] == "NVIDIA H100 80GB HBM3"
    assert results.device["slug"] == "nvidia-h100-80gb-hbm3"
    assert len(results.forms) == 7
    assert results.forms["mma_xor_m8n8k128"].status == "skipped"
    assert results.forms["wgmma_and_m64n256k256_ss"].group == "wgmma"
    assert results.forms["mma_s8_m16n8k32"].dtype == "s8"
    assert results.skipped == [("mma_xor_m8n8k128", "excluded by --forms filter")]


@pytest.mark.parametrize("name, expected", [
    ("lat/mma_and_m16n8k256/manual_time", br.BenchName("lat", "mma_and_m16n8k256", None, None)),
    ("tput/wgmma_and_m64n256k256_ss/wps:8/ilp:2/manual_time",
     br.BenchName("tput", "wgmma_and_m64n256k256_ss", 8, 2)),
])
def test_parse_name(name, expected):
    assert br.parse_name(name) == expected


@pytest.mark.parametrize("name", [
    "lat/mma_and_m16n8k256",                                   # no /manual_time
    "tput/mma_and_m16n8k256/wps:8/manual_time",                # no ilp
    "tput/mma_and_m16n8k256/wps:0/ilp:1/manual_time",          # zero warps
    "tput/mma_and_m16n8k256/ilp:1/wps:8/manual_time",          # wrong order
    "bw/mma_and_m16n8k256/manual_time",                        # unknown kind
    "lat/mma_and_m16n8k256/manual_time_median",                # aggregate name, not a run name
])
def test_parse_name_rejects(name):
    with pytest.raises(ValueError, match="matches neither"):
        br.parse_name(name)


def _set(doc, dotted, value):
    *parents, last = dotted.split(".")
    for key in parents:
        doc = doc[key]
    if value is _DELETE:
        del doc[last]
    else:
        doc[last] = value


_DELETE = object()


@pytest.mark.parametrize("dotted, value, message", [
    ("btcbench", _DELETE,
     "not a btcbench results file (no 'btcbench' object); a plain Google Benchmark file?"),
    ("btcbench.schema", "btcbench.results.v2",
     "unsupported schema 'btcbench.results.v2' (this tool reads only 'btcbench.results.v1')"),
    ("btcbench.schema", _DELETE, "missing btcbench.schema"),
    ("btcbench.device.name", _DELETE, "missing 'btcbench.device.name'"),
    ("btcbench.device.slug", "", "'btcbench.device.slug' is empty"),
    ("btcbench.suite", _DELETE, "missing 'btcbench.suite'"),
    ("btcbench.forms", _DELETE, "missing 'btcbench.forms'"),
    ("benchmarks", {}, "'benchmarks' has the wrong type"),
    ("benchmarks", _DELETE, "missing 'benchmarks'"),
    ("btcbench.device.sm_clock_max_mhz", "1980", "'btcbench.device.sm_clock_max_mhz' has the wrong type"),
    ("btcbench.command_line", [], "'btcbench.command_line' is empty"),
    ("btcbench.forms.mma_and_m16n8k256.group", "or",
     "btcbench.forms['mma_and_m16n8k256'].group is 'or'; expected one of xor, and, wgmma, reference"),
    ("btcbench.stopped_early", {"reason": 15, "after_s": 200},
     "'btcbench.stopped_early' must be {reason: string, after_s: number}"),
    ("btcbench.stopped_early", "timeout", "'btcbench.stopped_early' must be {reason: string, after_s: number}"),
])
def test_load_rejects_bad_metadata(instr_doc, write_doc, dotted, value, message):
    _set(instr_doc, dotted, value)
    path = write_doc(instr_doc)
    with pytest.raises(br.ResultsError) as info:
        br.load(path)
    assert str(info.value) == f"{path}: {message}"


def test_load_rejects_corrupt_json(tmp_path, instr_path):
    path = tmp_path / "cut.json"
    path.write_text(instr_path.read_text()[:500])   # a file cut short mid-write
    with pytest.raises(br.ResultsError, match="not valid JSON") as info:
        br.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert isinstance(info.value, ValueError)


def test_load_rejects_unreadable(tmp_path):
    with pytest.raises(br.ResultsError, match=r"missing\.json: cannot read"):
        br.load(tmp_path / "missing.json")


def test_load_rejects_non_object(write_doc):
    with pytest.raises(br.ResultsError, match="top level is not a JSON object"):
        br.load(write_doc([1, 2, 3]))


def test_load_rejects_off_grammar_name(instr_doc, write_doc):
    rename_run(instr_doc, MMA_AND_BEST, MMA_AND_BEST.replace("/ilp:4", ""))
    with pytest.raises(br.ResultsError, match="'tput/mma_and_m16n8k256/wps:16/manual_time' matches neither"):
        br.load(write_doc(instr_doc))


def test_load_rejects_unknown_form(instr_doc, write_doc):
    del instr_doc["btcbench"]["forms"]["mma_and_m16n8k256"]
    with pytest.raises(br.ResultsError, match="names form 'mma_and_m16n8k256', which btcbench.forms does not list"):
        br.load(write_doc(instr_doc))


def test_load_rejects_entry_without_time(instr_doc, write_doc):
    del instr_doc["benchmarks"][0]["real_time"]
    with pytest.raises(br.ResultsError, match="'real_time' missing"):
        br.load(write_doc(instr_doc))


def test_unknown_suite_loads_without_name_grammar(instr_doc, write_doc):
    # Other suites may name their runs differently; rebuild_all must be able
    # to load them to report "unknown suite" rather than "corrupt".
    instr_doc["btcbench"]["suite"] = "membw"
    instr_doc["benchmarks"][0]["run_name"] = "copy/1MiB"
    assert br.load(write_doc(instr_doc)).suite == "membw"


def test_medians_use_aggregates(instr_doc, instr_path):
    rows = {r.run_name: r for r in br.medians(br.load(instr_path))}
    assert len(rows) == 18   # 6 measured forms x (1 lat + 2 tput)
    row = rows[MMA_AND_BEST]
    assert row.median_time == _aggregate(instr_doc, MMA_AND_BEST, "median")["real_time"]
    assert row.min_time == _aggregate(instr_doc, MMA_AND_BEST, "min")["real_time"]
    assert row.max_time == _aggregate(instr_doc, MMA_AND_BEST, "max")["real_time"]
    assert row.time_unit == "us"
    assert row.repetitions == 3
    assert row.counters["tops"] == 4000.0
    assert row.counters["cupti.sm__inst_executed_pipe_tensor_op_imma.sum"] == 34603008.0
    assert "iterations" not in row.counters and "real_time" not in row.counters
    assert row.bench == br.BenchName("tput", "mma_and_m16n8k256", 16, 4)


def test_medians_from_iterations_only(instr_doc, write_doc):
    instr_doc["benchmarks"] = [e for e in instr_doc["benchmarks"] if e["run_type"] == "iteration"]
    row = next(r for r in br.medians(br.load(write_doc(instr_doc))) if r.run_name == MMA_AND_BEST)
    times = [e["real_time"] for e in _entries(instr_doc, MMA_AND_BEST)]
    assert row.median_time == statistics.median(times)
    assert (row.min_time, row.max_time) == (min(times), max(times))
    assert row.counters["tops"] == pytest.approx(4000.0)


def test_medians_without_min_max_aggregates(instr_doc, write_doc):
    # GB only writes min/max when the harness registers them; fall back to iterations.
    instr_doc["benchmarks"] = [e for e in instr_doc["benchmarks"]
                               if e.get("aggregate_name") not in ("min", "max")]
    row = next(r for r in br.medians(br.load(write_doc(instr_doc))) if r.run_name == MMA_AND_BEST)
    times = [e["real_time"] for e in _entries(instr_doc, MMA_AND_BEST) if e["run_type"] == "iteration"]
    assert (row.min_time, row.max_time) == (min(times), max(times))


def test_medians_skip_error_entries(instr_doc, write_doc):
    instr_doc["benchmarks"].append({
        "name": "lat/mma_xor_m8n8k128/manual_time", "run_name": "lat/mma_xor_m8n8k128/manual_time",
        "run_type": "iteration", "error_occurred": True, "error_message": "launch failed"})
    results = br.load(write_doc(instr_doc))
    assert "lat/mma_xor_m8n8k128/manual_time" not in {r.run_name for r in br.medians(results)}
    assert br.errored_runs(results) == {"lat/mma_xor_m8n8k128/manual_time": "launch failed"}


def test_write_atomic(tmp_path):
    target = tmp_path / "out.md"
    br.write_atomic(target, "first")
    br.write_atomic(target, "second")
    assert target.read_text() == "second"
    assert os.listdir(tmp_path) == ["out.md"]   # no temp files left behind
    assert target.stat().st_mode & 0o444 == 0o444 & ~br._UMASK


def test_load_rejects_non_positive_time(instr_doc, write_doc):
    instr_doc["benchmarks"][0]["real_time"] = 0
    with pytest.raises(br.ResultsError, match="'real_time' is 0, not a positive time"):
        br.load(write_doc(instr_doc))


def test_instruction_metric_per_form(instr_path, instr_doc, write_doc):
    # Older files carry no tensor_inst_metric: it is inferred from the form.
    results = br.load(instr_path)
    assert results.forms["wgmma_and_m64n256k256_ss"].inst_metric == "sm__inst_executed_pipe_tensor_op_gmma.sum"
    assert results.forms["mma_and_m16n8k256"].inst_metric == "sm__inst_executed_pipe_tensor_op_imma.sum"
    instr_doc["btcbench"]["forms"]["mma_s8_m16n8k32"]["dtype"] = "f16"
    instr_doc["btcbench"]["forms"]["mma_and_m16n8k256"]["tensor_inst_metric"] = "sm__custom.sum"
    forms = br.load(write_doc(instr_doc)).forms
    assert forms["mma_s8_m16n8k32"].inst_metric == "sm__inst_executed_pipe_tensor_op_hmma.sum"
    assert forms["mma_and_m16n8k256"].inst_metric == "sm__custom.sum"


def test_config_level_skips_name_the_config(instr_doc, write_doc):
    instr_doc["btcbench"]["skipped"].append(
        {"form": "wgmma_and_m64n256k256_ss", "config": "wps:16/ilp:1", "reason": "does not fit on one SM"})
    path = write_doc(instr_doc)
    assert br.load(path).skipped[-1] == ("wgmma_and_m64n256k256_ss", "wps:16/ilp:1: does not fit on one SM")


def test_stopped_early_loads_and_the_header_says_so(instr_doc, write_doc):
    """A sweep that stopped early (--max-seconds, SIGTERM) is a results file of what ran; its reports say so."""
    from analysis import report_common as rc
    instr_doc["btcbench"]["stopped_early"] = {"reason": "signal 15 (Terminated)", "after_s": 200.4}
    results = br.load(write_doc(instr_doc))
    lines = rc.header_lines(results)
    assert "- **Stopped early:** after 200 s (signal 15 (Terminated)): only the benchmarks that finished " \
           "before it are in this file" in lines
    del instr_doc["btcbench"]["stopped_early"]
    assert not any("Stopped early" in line for line in rc.header_lines(br.load(write_doc(instr_doc))))
