from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from analysis import btcresults as br
from analysis import instr_report as ir
from analysis import report
from conftest import PNG_SIGNATURE, counters_off, section_text, table_rows

WGMMA_BEST = "tput/wgmma_and_m64n256k256_ss/wps:8/ilp:2/manual_time"


def _run(tops, median_time, min_time, max_time, wps=8, ilp=2):
    return br.RunSummary(run_name=f"tput/f/wps:{wps}/ilp:{ilp}/manual_time",
                         median_time=median_time, min_time=min_time, max_time=max_time,
                         time_unit="us", repetitions=3, counters={"tops": tops})


def _summaries(results):
    return {s.form.name: s for s in ir.summarise_forms(results)}


def _markdown(results):
    summaries = ir.summarise_forms(results)
    return ir.markdown_report(results, summaries, ir.b1_peak(results, summaries), "x.png")


def test_best_config_selection(instr_path):
    summaries = _summaries(br.load(instr_path))
    assert list(summaries) == ["mma_xor_m16n8k256", "wmma_xor_m8n8k128", "mma_and_m16n8k256",
                               "wmma_and_m8n8k128", "wgmma_and_m64n256k256_ss",
                               "mma_s8_m16n8k32"]   # group order, skipped form left out
    configs = {name: (s.best.bench.wps, s.best.bench.ilp) for name, s in summaries.items()}
    assert configs == {**{name: (16, 4) for name in summaries},
                       "wgmma_and_m64n256k256_ss": (8, 2)}
    assert summaries["mma_and_m16n8k256"].best.counters["tops"] == 4000.0
    assert summaries["mma_and_m16n8k256"].latency.counters["cycles_per_inst"] == 32.0


def test_best_config_tie_prefers_cheaper_config():
    cheap, costly = _run(100.0, 1, 1, 1, wps=8, ilp=2), _run(100.0, 1, 1, 1, wps=16, ilp=1)
    assert ir.best_throughput([costly, cheap]) is cheap
    assert ir.best_throughput([]) is None


def test_spread_math(instr_path):
    # tops ~ 1/time: the slowest repetition (12.5) gives the lowest TOPS.
    assert ir.tops_spread(_run(100.0, 10.0, 8.0, 12.5)) == pytest.approx((80.0, 100.0, 125.0))
    lo, median, hi = ir.tops_spread(_summaries(br.load(instr_path))["mma_and_m16n8k256"].best)
    # the fixture's repetitions run at 0.98x and 1.025x the median time
    assert (lo, median, hi) == pytest.approx((4000 / 1.025, 4000.0, 4000 / 0.98))


def test_peak_line_uses_clock_of_best_b1_run(instr_path):
    results = br.load(instr_path)
    peak = ir.b1_peak(results, ir.summarise_forms(results))
    assert peak.clock_run == WGMMA_BEST     # wgmma is the fastest b1 form
    assert peak.clock_mhz == 1755.0
    assert peak.tops == pytest.approx(65536 * 132 * 1755e6 / 1e12)   # 15,182.07 TOPS


def test_peak_line_falls_back_to_max_clock(instr_doc, write_doc):
    for entry in instr_doc["benchmarks"]:
        entry.pop("sm_clock_mhz", None)
    results = br.load(write_doc(instr_doc))
    peak = ir.b1_peak(results, ir.summarise_forms(results))
    assert (peak.clock_mhz, peak.clock_run) == (1980.0, None)
    assert peak.tops == pytest.approx(65536 * 132 * 1980e6 / 1e12)
    assert "none measured" in peak.clock_label


def test_no_peak_without_b1_rate(instr_doc, write_doc):
    del instr_doc["btcbench"]["peaks"]["b1"]
    results = br.load(write_doc(instr_doc))
    assert ir.b1_peak(results, ir.summarise_forms(results)) is None
    assert "- **b1 peak:** —" in _markdown(results)


def test_markdown_header(instr_path):
    md = _markdown(br.load(instr_path))
    for line in ["- **Device:** NVIDIA H100 80GB HBM3 (`nvidia-h100-80gb-hbm3`)",
                 "- **Compute capability:** 9.0",
                 "- **SMs:** 132",
                 "- **Driver:** 580.159.04",
                 "- **CUDA runtime:** 13.0",
                 "- **CUPTI chip:** GH100",
                 "- **Git commit:** `0123abcd4567ef890123abcd4567ef890123abcd` (v0.1.0-3-g0123abcd)",
                 "- **Created (UTC):** 2026-11-27T22:30:00Z",
                 "- **Command line:** `btcbench sweep instr --forms all-but:mma_xor_m8n8k128`",
                 "- **Counters:** enabled (5 metrics)",
                 "- **b1 peak:** 15,182.1 TOPS at 1755 MHz (measured SM clock in "
                 f"`{WGMMA_BEST}`)"]:
        assert line in md.splitlines()


def test_markdown_form_cells(instr_path):
    results = br.load(instr_path)
    rows = table_rows(_markdown(results), "Form")
    assert set(rows) == set(_summaries(results))
    mma_and = rows["mma_and_m16n8k256"]
    assert mma_and["Group"] == "and"
    assert mma_and["PTX"] == "`mma.sync.aligned.m16n8k256.row.col.s32.b1.b1.s32.and.popc`"
    assert mma_and["Latency (cycles)"] == "32.0"
    assert mma_and["Best TOPS, median [min–max]"] == "4,000.0 [3,902.4–4,081.6]"
    assert mma_and["Best config"] == "wps 16, ilp 4"
    assert mma_and["% of peak"] == "26.3"
    assert mma_and["SM clock (MHz)"] == "1755"
    assert mma_and["Tensor insts, CUPTI / expected (ratio)"] == "34,603,008 / 34,603,008 (1.000)"
    assert mma_and["Tensor pipe active (%)"] == "68.9"
    assert mma_and["Ops/inst (CUPTI)"] == "65,536"
    # The fixture's xor mma counts two hardware instructions per PTX one.
    mma_xor = rows["mma_xor_m16n8k256"]
    assert mma_xor["Tensor insts, CUPTI / expected (ratio)"] == "69,206,016 / 34,603,008 (2.000)"
    assert mma_xor["Ops/inst (CUPTI)"] == "32,768"
    # wgmma counts instructions on the gmma pipe; its activity shows on the imma pipe.
    wgmma = rows["wgmma_and_m64n256k256_ss"]
    assert wgmma["Tensor insts, CUPTI / expected (ratio)"] == "8,650,752 / 8,650,752 (1.000)"
    assert wgmma["Tensor pipe active (%)"] == "95.1"
    assert wgmma["% of peak"] == "95.5"
    # s8 has no int1 ops counter.
    assert rows["mma_s8_m16n8k32"]["Ops/inst (CUPTI)"] == "—"


def test_markdown_without_counters(instr_doc, write_doc):
    counters_off(instr_doc, reason="CUPTI profiling needs admin; run with --counters=sudo")
    md = _markdown(br.load(write_doc(instr_doc)))
    assert "- **Counters:** disabled: CUPTI profiling needs admin; run with --counters=sudo" in md
    row = table_rows(md, "Form")["mma_and_m16n8k256"]
    assert [row[c] for c in ("Tensor insts, CUPTI / expected (ratio)", "Tensor pipe active (%)",
                             "Ops/inst (CUPTI)")] == ["—", "—", "—"]
    assert row["Best config"] == "wps 16, ilp 4"


def test_markdown_form_without_runs(instr_doc, write_doc):
    instr_doc["benchmarks"] = [e for e in instr_doc["benchmarks"]
                               if not e["name"].startswith(("tput/mma_s8", "lat/wmma_and"))]
    rows = table_rows(_markdown(br.load(write_doc(instr_doc))), "Form")
    assert rows["mma_s8_m16n8k32"]["Best TOPS, median [min–max]"] == "—"
    assert rows["mma_s8_m16n8k32"]["Latency (cycles)"] == "18.0"
    assert rows["wmma_and_m8n8k128"]["Latency (cycles)"] == "—"


def test_markdown_skipped_and_xor_vs_and(instr_path):
    md = _markdown(br.load(instr_path))
    skipped = section_text(md, "Skipped")
    assert "- `mma_xor_m8n8k128`: excluded by --forms filter" in skipped
    rows = table_rows(md, "Shape")
    assert set(rows) == {"mma_m16n8k256", "wmma_m8n8k128"}
    assert rows["mma_m16n8k256"]["AND/XOR"] == f"{4000 / 3900:.3f}"
    assert rows["wmma_m8n8k128"]["AND/XOR"] == "1.050"
    assert (rows["mma_m16n8k256"]["XOR latency (cycles)"],
            rows["mma_m16n8k256"]["AND latency (cycles)"]) == ("34.0", "32.0")


def test_xor_vs_and_with_skipped_partner(instr_doc, write_doc):
    instr_doc["btcbench"]["forms"]["mma_and_m8n8k128"] = {
        **instr_doc["btcbench"]["forms"]["mma_xor_m8n8k128"], "group": "and", "status": "measured"}
    rows = table_rows(_markdown(br.load(write_doc(instr_doc))), "Shape")
    assert rows["mma_m8n8k128"]["XOR best TOPS"] == "skipped"
    assert rows["mma_m8n8k128"]["AND best TOPS"] == "—"   # measured, but no runs
    assert rows["mma_m8n8k128"]["AND/XOR"] == "—"


def test_render_writes_deterministic_png(tmp_path, instr_path):
    results = br.load(instr_path)
    png_a, md_a = ir.render(results, tmp_path / "a")
    png_b, md_b = ir.render(results, tmp_path / "b")
    assert (png_a.name, md_a.name) == ("instr_small.throughput.png", "instr_small.md")
    data = png_a.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    assert data == png_b.read_bytes()
    assert md_a.read_text() == md_b.read_text()
    assert "![Best throughput per instruction form](instr_small.throughput.png)" in md_a.read_text()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [md_a.name, png_a.name]


def test_render_with_no_throughput_runs(instr_doc, write_doc, tmp_path):
    instr_doc["benchmarks"] = [e for e in instr_doc["benchmarks"] if e["name"].startswith("lat/")]
    png, _ = ir.render(br.load(write_doc(instr_doc)), tmp_path / "out")
    assert png.read_bytes().startswith(PNG_SIGNATURE)


def test_render_rejects_other_suite(instr_doc, write_doc):
    instr_doc["btcbench"]["suite"] = "membw"
    with pytest.raises(br.ResultsError, match="suite is 'membw', not 'instr'"):
        ir.render(br.load(write_doc(instr_doc)))


def test_cli_default_out_dir_is_beside_results(tmp_path, capsys, instr_path):
    results = tmp_path / "nvidia-h100-80gb-hbm3" / "instr-run.json"
    results.parent.mkdir()
    shutil.copy(instr_path, results)
    assert report.main([str(results)]) == 0
    assert (results.parent / "instr-run.throughput.png").stat().st_size > 0
    assert (results.parent / "instr-run.md").read_text().startswith("# btcbench instr: ")
    assert "instr-run.md" in capsys.readouterr().out


def test_cli_as_script(tmp_path, instr_path, repo_root):
    proc = subprocess.run([sys.executable, "-m", "analysis.report", str(instr_path),
                           "--out-dir", str(tmp_path)], capture_output=True, text=True, cwd=repo_root)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "instr_small.throughput.png").exists()


def test_cli_reports_corrupt_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"benchmarks": []}')
    assert report.main([str(bad), "--out-dir", str(tmp_path / "out")]) == 1
    assert f"error: {bad}: not a btcbench results file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
