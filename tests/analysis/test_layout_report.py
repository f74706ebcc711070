from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from analysis import btcresults as br
from analysis import layout_report as lr
from analysis import paper_tcbnn as paper
from analysis import rebuild_all, report
from analysis import report_common as rc
from conftest import PNG_SIGNATURE, counters_off, rename_run, section_text, table_rows

WA_ROW = "layout/wmma_and/layout:row_u32/manual_time"
# The fixture's median TOPS per engine and layout; repetitions run at 1, 1/1.02
# and 1/0.98 times the median time, so every [min–max] is [0.98–1.02] x median.
TOPS = {
    "wmma_xor": {"row_u32": 300, "row_u64": 290, "tile8x128": 420},
    "wmma_and": {"row_u32": 400, "tile8x128": 800},
    "mma_and": {"row_u32": 500, "tile8x128": 880, "mma_frag_a16x256": 900},
    "wgmma_and": {"wgmma_interleave": 1000, "wgmma_swizzle128": 1040},
}
# bytes_moved (64x64 C tiles) / (2*M*N*K) * 1e3: GB/s per TOPS
GBPS_PER_TOPS = 1140850688 / 2**39 * 1e3


def _engines(results):
    return {e.name: e for e in lr.collect(results)}


def _markdown(results):
    """The report as the composer writes it: with the paper's section."""
    return lr.markdown_report(results, lr.collect(results), "t.png", paper.sections_for(results))


def _scale_tops(doc, factors):
    """Multiply the rates of runs '<engine>/<layout>' by factors[(engine, layout)]."""
    for entry in doc["benchmarks"]:
        name = lr.parse_layout_name(entry["run_name"])
        factor = factors.get((name.engine, name.layout))
        if factor is not None and entry.get("aggregate_name") not in ("stddev", "cv"):
            entry["tops"] *= factor
            entry["gbps"] *= factor
            entry["real_time"] /= factor


def _paper_rows(results):
    return {r.path: r for r in paper.layout_comparison_rows(results)}


def _skip_engine(doc, engine, reason="needs sm_90a (wgmma)"):
    """doc as a GPU without engine: its forms skipped, its runs gone."""
    for name, form in doc["btcbench"]["forms"].items():
        if form["engine"] == engine:
            form["status"] = "skipped"
            doc["btcbench"]["skipped"].append({"form": name, "reason": reason})
    doc["benchmarks"] = [e for e in doc["benchmarks"]
                         if lr.parse_layout_name(e["run_name"]).engine != engine]
    return doc


# ------------------------------------------------------------ loading

def test_load_fixture(layout_path, layout_doc):
    assert "TEST FIXTURE" in layout_doc["btcbench"]["_comment"]
    assert layout_doc["context"]["host_name"] == "test-fixture-host"
    results = br.load(layout_path)
    assert results.suite == "layout"
    assert len(results.forms) == 10
    assert results.meta["forms"]["mma_and_mma_frag_a16x256"]["b_layout"] == "mma_frag_b8x256"
    assert results.forms["wgmma_and_wgmma_swizzle128"].group == ""   # layout forms carry no group
    rows = {r.run_name: r for r in br.medians(results)}
    assert len(rows) == 10
    row = rows[WA_ROW]
    assert row.repetitions == 3
    assert (row.counters["tops"], row.counters["m"], row.counters["k"]) == (400.0, 4096.0, 16384.0)
    assert row.median_time == pytest.approx(2**39 / 400e12 * 1e6)
    aggregates = {e["aggregate_name"] for e in layout_doc["benchmarks"]
                  if e["run_name"] == WA_ROW and e["run_type"] == "aggregate"}
    assert aggregates == {"mean", "median", "stddev", "cv", "min", "max"}


@pytest.mark.parametrize("name, expected", [
    ("layout/mma_and/layout:mma_frag_a16x256/manual_time", lr.LayoutName("mma_and", "mma_frag_a16x256")),
    ("layout/wgmma_and/layout:wgmma_swizzle128/manual_time", lr.LayoutName("wgmma_and", "wgmma_swizzle128")),
])
def test_parse_layout_name(name, expected):
    assert lr.parse_layout_name(name) == expected


@pytest.mark.parametrize("name", [
    "layout/wmma_and/tile8x128/manual_time",                  # no layout: key
    "layout/wmma_and/layout:tile8x128/ldm:128/manual_time",   # extra key
    "stride/wmma_and/layout:tile8x128/manual_time",           # other suite
    "layout/wmma_and/layout:tile8x128/manual_time_median",    # aggregate name
])
def test_parse_layout_name_rejects(name):
    with pytest.raises(ValueError, match="does not match 'layout/<engine>/layout:<layout>/manual_time'"):
        lr.parse_layout_name(name)


def test_load_checks_layout_names(layout_doc, write_doc):
    # The form a run names is '<engine>_<layout>'.
    del layout_doc["btcbench"]["forms"]["wmma_and_row_u32"]
    with pytest.raises(br.ResultsError, match="names form 'wmma_and_row_u32', which btcbench.forms"):
        br.load(write_doc(layout_doc))
    rename_run(layout_doc, WA_ROW, "layout/wmma_and/ldm:128/manual_time")
    with pytest.raises(br.ResultsError, match="does not match 'layout/<form>/layout:<layout>/manual_time'"):
        br.load(write_doc(layout_doc))


# ------------------------------------------------------------ collecting and ratios

def test_collect_engines_and_layouts(layout_path):
    engines = _engines(br.load(layout_path))
    assert list(engines) == list(TOPS)
    for name, tops in TOPS.items():
        assert [x.layout for x in engines[name].layouts] == list(tops)
        assert [x.tops for x in engines[name].layouts] == pytest.approx(list(tops.values()))
    frag = engines["mma_and"].layout("mma_frag_a16x256")
    assert (frag.form, frag.b_layout, frag.label) == (
        "mma_and_mma_frag_a16x256", "mma_frag_b8x256", "mma_frag_a16x256 + mma_frag_b8x256")
    assert engines["wmma_and"].layout("tile8x128").label == "tile8x128"
    assert engines["wmma_and"].layout("row_u64") is None
    assert engines["wgmma_and"].form_field("block_m") == "128"
    assert engines["wmma_xor"].form_field("slab_k_bits") == "1024"
    assert engines["wmma_xor"].form_field("nope") == "—"
    assert frag.tops_spread() == pytest.approx((900 * 0.98, 900, 900 * 1.02))
    assert frag.gbps == pytest.approx(900 * GBPS_PER_TOPS)


def test_derived_ratios_per_tensor_instruction(layout_path):
    engines = _engines(br.load(layout_path))
    # (conflicts, wavefronts, ldsm) per tensor instruction, L2 hit %: the fixture's design.
    expected = {
        ("wmma_xor", "row_u32"): (4.5, 5.0, 0.5, 98.0),
        ("wmma_xor", "tile8x128"): (0.0625, 0.625, 0.5, 98.0),
        ("wmma_and", "row_u32"): (8.0, 9.0, 1.0, 98.0),
        ("wmma_and", "tile8x128"): (0.03125, 1.125, 1.0, 98.0),
        ("mma_and", "row_u32"): (21.0, 24.0, 1.25, 98.5),
        ("mma_and", "mma_frag_a16x256"): (0.03125, 3.0, 0.0, 98.0),
        ("wgmma_and", "wgmma_swizzle128"): (0.0, 0.0, 0.0, 96.0),
    }
    for (engine, layout), want in expected.items():
        r = engines[engine].layout(layout).ratios
        assert (r.conflicts_per_inst, r.wavefronts_per_inst, r.ldsm_per_inst, r.l2_hit.pct) == want
        assert not r.l2_hit.from_sums   # the fixture has only the ratio metric


def test_ratio_fallbacks_and_missing_counters():
    insts = 1024.0
    counters = {lr.TENSOR_INSTS: insts, lr.LDSM: 2048.0,
                "cupti.l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum": 512.0,
                "cupti.l1tex__data_pipe_lsu_wavefronts_mem_shared.sum": 4096.0,
                "cupti.l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum": 3072.0}
    r = lr.inst_ratios(counters)
    assert r.conflicts_per_inst == 0.5    # falls back to all shared accesses
    assert r.wavefronts_per_inst == 3.0   # the loads-only (_op_ld) counter wins
    assert r.ldsm_per_inst == 2.0
    assert r.l2_hit is None
    zero = lr.inst_ratios({**counters, lr.TENSOR_INSTS: 0.0})
    assert (zero.conflicts_per_inst, zero.wavefronts_per_inst, zero.ldsm_per_inst) == (None, None, None)
    assert lr.inst_ratios({}) == lr.InstRatios(None, None, None, None)
    # A form may name its own instruction metric.
    assert lr.inst_ratios({"cupti.x.sum": 512.0, lr.LDSM: 1024.0}, "cupti.x.sum").ldsm_per_inst == 2.0


def test_fastest_per_engine(layout_path):
    got = {f.engine: f for f in lr.fastest(lr.collect(br.load(layout_path)))}
    assert {e: (f.best.layout, f.runner_up and f.runner_up.layout, f.slowest and f.slowest.layout)
            for e, f in got.items()} == {
        "wmma_xor": ("tile8x128", "row_u32", "row_u64"),
        "wmma_and": ("tile8x128", "row_u32", "row_u32"),
        "mma_and": ("mma_frag_a16x256", "tile8x128", "row_u32"),
        "wgmma_and": ("wgmma_swizzle128", "wgmma_interleave", "wgmma_interleave"),
    }
    # 880 x 1.02 = 897.6 reaches 900 x 0.98 = 882: the order is not settled.
    assert {e: f.overlaps for e, f in got.items()} == {
        "wmma_xor": False, "wmma_and": False, "mma_and": True, "wgmma_and": True}


def test_fastest_follows_the_data(layout_doc, write_doc):
    # row_u64 of wmma_xor becomes the fastest; mma_and's tile ties the fragment pair.
    _scale_tops(layout_doc, {("wmma_xor", "row_u64"): 2.0, ("mma_and", "tile8x128"): 900 / 880})
    engines = _engines(br.load(write_doc(layout_doc)))
    assert engines["wmma_xor"].best.layout == "row_u64"
    assert engines["wmma_xor"].vs_best(engines["wmma_xor"].layout("tile8x128")) == pytest.approx(
        100 * 420 / 580)
    assert engines["mma_and"].best.layout == "tile8x128"   # ties: the layout listed first


# ------------------------------------------------------------ markdown

def test_markdown_header_and_intro(layout_path):
    md = _markdown(br.load(layout_path))
    lines = md.splitlines()
    for line in ["# btcbench layout: NVIDIA H100 80GB HBM3",
                 "Source: `layout_small.json`",
                 "- **L2:** 50 MiB",
                 "- **CUDA toolkit (build):** 13.0.88",
                 "- **Git commit:** `0123abcd4567ef890123abcd4567ef890123abcd` (v0.1.0-9-g0123abcd)",
                 "- **Counters:** on (11 metrics)",
                 "![Median TOPS per packing layout and engine](t.png)"]:
        assert line in lines
    intro = section_text(md, "What this suite measures")
    assert "M × N × K = 4096 × 4096 × 16384 bits" in intro
    assert "latency-bound by design" in intro
    assert "Block C tile 128 × 128, K slab 1024 bits." in section_text(md, "Layouts per engine")


def test_markdown_layout_tables(layout_path):
    md = _markdown(br.load(layout_path))
    wmma_and = table_rows(md, "Layout", after="### `wmma_and`")
    assert list(wmma_and) == ["row_u32", "tile8x128"]
    assert wmma_and["row_u32"] == {
        "Layout": "`row_u32`",
        "TOPS, median [min–max]": "400.0 [392.0–408.0]",
        "vs best layout (%)": "50.0",
        "GB/s moved": "830.1",
        "bank conflicts / tensor inst": "8.00",
        "wavefronts / tensor inst": "9.00",
        "ldsm / tensor inst": "1.00",
        "L2 hit %, CUPTI ratio metric": "98.0"}
    assert wmma_and["tile8x128"]["vs best layout (%)"] == "100.0"
    assert wmma_and["tile8x128"]["GB/s moved"] == "1,660.2"
    mma = table_rows(md, "Layout", after="### `mma_and`")
    assert list(mma) == ["row_u32", "tile8x128", "mma_frag_a16x256"]
    assert mma["tile8x128"]["vs best layout (%)"] == "97.8"
    assert mma["mma_frag_a16x256"]["ldsm / tensor inst"] == "0.00"
    assert "- `mma_frag_a16x256`: A in `mma_frag_a16x256`, B in `mma_frag_b8x256`." in md.splitlines()
    wg = table_rows(md, "Layout", after="### `wgmma_and`")
    assert wg["wgmma_interleave"]["TOPS, median [min–max]"] == "1,000.0 [980.0–1,020.0]"
    assert wg["wgmma_interleave"]["L2 hit %, CUPTI ratio metric"] == "95.0"


def test_markdown_fastest_section(layout_path):
    lines = section_text(_markdown(br.load(layout_path)), "Fastest layout per engine").splitlines()
    assert ("- `wmma_xor`: `tile8x128` at 420.0 TOPS; runner-up `row_u32` at 71.4% of it; "
            "slowest `row_u64` at 69.0%; fastest / slowest = 1.45×.") in lines
    assert ("- `wmma_and`: `tile8x128` at 800.0 TOPS; runner-up `row_u32` at 50.0% of it; "
            "fastest / slowest = 2.00×.") in lines
    assert ("- `mma_and`: `mma_frag_a16x256 + mma_frag_b8x256` at 900.0 TOPS; runner-up "
            "`tile8x128` at 97.8% of it (their min–max spreads overlap, so this run does not "
            "settle the order); slowest `row_u32` at 55.6%; fastest / slowest = 1.80×.") in lines


def test_paper_layout_rows(layout_path):
    assert [f["id"] for f in paper.LAYOUT_FINDINGS] == ["c"]
    assert paper.LAYOUT_FINDINGS[0]["statement"] == paper.FINDINGS[2]["statement"]
    rows = _paper_rows(br.load(layout_path))
    assert list(rows) == ["wmma_xor", "wmma_and"]   # the WMMA engines only
    wa = rows["wmma_and"]
    assert wa.measured == ("`wmma_and`: `tile8x128` 800.0 TOPS vs `row_u32` 400.0 TOPS (2.00×); "
                           "bank conflicts / tensor inst 8.00 (`row_u32`) vs 0.03 (`tile8x128`)")
    assert wa.verdict == "same"
    assert wa.reason.startswith("the tiles run the BMM tile loop 2.00× faster than row-major words; "
                                "row-major `row_u32` costs 8.00 shared-memory bank conflicts per "
                                "tensor instruction against 0.03 for the tiles; ")
    assert wa.reason.endswith("not measured by this suite")
    assert rows["wmma_xor"].measured.startswith("`wmma_xor`: `tile8x128` 420.0 TOPS vs `row_u32` 300.0 TOPS (1.40×)")
    section = section_text(_markdown(br.load(layout_path)), "The paper's findings beside this GPU")
    assert "arXiv:2006.16578" in section
    assert f"**(c) {paper.FINDINGS[2]['statement']}** (TCBNN, BMM evaluation)." in section
    assert f"| {wa.measured} | same | {wa.reason} |" in section.splitlines()


def test_paper_layout_verdicts_follow_the_data(layout_doc, write_doc):
    # wmma_xor: the tiles now within 10% of row_u32; wmma_and: row_u32 twice as fast as the tiles.
    _scale_tops(layout_doc, {("wmma_xor", "tile8x128"): 310 / 420, ("wmma_and", "row_u32"): 4.0})
    rows = _paper_rows(br.load(write_doc(layout_doc)))
    assert rows["wmma_xor"].verdict == "differs"
    assert rows["wmma_xor"].reason.startswith(
        "tiles and row-major words run within 10% of each other; row-major `row_u32` costs 4.50")
    assert rows["wmma_and"].verdict == "differs"
    assert rows["wmma_and"].reason.startswith("row-major words run the BMM tile loop 2.00× faster than the tiles")


@pytest.mark.parametrize("tile_conflicts, words", [
    (8.0, "both cost about the same shared-memory bank conflicts per tensor instruction (8.00 vs 8.00)"),
    (16.0, "the tiles cost more shared-memory bank conflicts per tensor instruction (16.00) than "
           "row-major `row_u32` (8.00)"),
])
def test_paper_layout_conflict_evidence(layout_doc, write_doc, tile_conflicts, words):
    key = "cupti.l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum"
    for entry in layout_doc["benchmarks"]:
        if entry["run_name"] == "layout/wmma_and/layout:tile8x128/manual_time" and key in entry:
            entry[key] = tile_conflicts * 33554432 if entry.get("aggregate_name") not in ("stddev", "cv") else 0.0
    row = _paper_rows(br.load(write_doc(layout_doc)))["wmma_and"]
    assert row.verdict == "same"   # the verdict follows TOPS; the counters only say why
    assert f"faster than row-major words; {words}; " in row.reason


def test_paper_layout_rows_when_a_layout_is_missing(layout_doc, write_doc):
    del layout_doc["btcbench"]["forms"]["wmma_xor_row_u32"]
    layout_doc["benchmarks"] = [e for e in layout_doc["benchmarks"]
                                if not e["run_name"].startswith("layout/wmma_xor/layout:row_u32/")]
    layout_doc["btcbench"]["forms"]["wmma_and_tile8x128"]["status"] = "skipped"
    layout_doc["btcbench"]["skipped"].append({"form": "wmma_and_tile8x128", "reason": "test skip"})
    layout_doc["benchmarks"] = [e for e in layout_doc["benchmarks"]
                                if not e["run_name"].startswith("layout/wmma_and/layout:tile8x128/")]
    rows = _paper_rows(br.load(write_doc(layout_doc)))
    assert (rows["wmma_xor"].verdict, rows["wmma_xor"].measured) == (
        "not measured", "`wmma_xor`: no `row_u32` form in this file")
    assert rows["wmma_and"].verdict == "not measured"
    assert rows["wmma_and"].reason.startswith("`tile8x128` skipped; ")


def test_counters_off_renders_dashes(layout_doc, write_doc, tmp_path):
    results = br.load(write_doc(counters_off(layout_doc)))
    md = _markdown(results)
    assert ("- **Counters:** off: --no-counters given; drop it to collect CUPTI counters"
            in md.splitlines())
    for engine in TOPS:
        for row in table_rows(md, "Layout", after=f"### `{engine}`").values():
            assert [row[c] for c in lr.LAYOUT_TABLE_HEADER[4:]] == ["—"] * 4
            assert row["TOPS, median [min–max]"] != "—" and row["GB/s moved"] != "—"
    wa = _paper_rows(results)["wmma_and"]
    assert wa.measured.endswith("(2.00×); no CUPTI counters")
    assert wa.verdict == "same" and "no CUPTI bank-conflict counters to say why" in wa.reason
    png, md_path = report.render(results, tmp_path / "out")
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert md_path.read_text() == md.replace("](t.png)", "](r.layout_tops.png)")


def test_skipped_engine_and_errors(layout_doc, write_doc):
    _skip_engine(layout_doc, "wgmma_and")
    layout_doc["benchmarks"] = [e for e in layout_doc["benchmarks"] if e["run_name"] != WA_ROW]
    layout_doc["benchmarks"].append({"name": WA_ROW, "run_name": WA_ROW, "run_type": "iteration",
                                     "error_occurred": True, "error_message": "launch failed"})
    md = _markdown(br.load(write_doc(layout_doc)))
    wg = table_rows(md, "Layout", after="### `wgmma_and`")
    assert [row["TOPS, median [min–max]"] for row in wg.values()] == ["skipped", "skipped"]
    assert table_rows(md, "Layout", after="### `wmma_and`")["row_u32"]["TOPS, median [min–max]"] == "—"
    assert "- `wgmma_and`: no layout measured." in section_text(md, "Fastest layout per engine")
    assert ("- `wmma_and`: `tile8x128` at 800.0 TOPS, the only layout measured."
            in section_text(md, "Fastest layout per engine"))
    skipped = section_text(md, "Skipped").splitlines()
    assert "- `wgmma_and_wgmma_interleave`: needs sm_90a (wgmma)" in skipped
    assert f"- `{WA_ROW}`: launch failed" in skipped


# ------------------------------------------------------------ render, CLI, rebuild_all

def test_render_writes_deterministic_files(tmp_path, layout_path):
    results = br.load(layout_path)
    first = lr.render(results, tmp_path / "a")
    again = lr.render(results, tmp_path / "a")
    other = lr.render(results, tmp_path / "b")
    assert [p.name for p in first] == ["layout_small.layout_tops.png", "layout_small.md"]
    png = first[0].read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 10_000
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again] == \
        [p.read_bytes() for p in other]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in first)
    assert "](layout_small.layout_tops.png)" in first[1].read_text()


def test_render_with_no_runs_and_other_suite(layout_doc, write_doc, tmp_path):
    layout_doc["benchmarks"] = []
    outputs = lr.render(br.load(write_doc(layout_doc)), tmp_path / "empty")
    assert outputs[0].read_bytes().startswith(PNG_SIGNATURE)
    assert "the runs do not record M, N and K" in outputs[1].read_text()
    layout_doc["btcbench"]["suite"] = "membw"
    with pytest.raises(br.ResultsError, match="suite is 'membw', not 'layout'"):
        lr.render(br.load(write_doc(layout_doc)), tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_cli(tmp_path, capsys, layout_path, repo_root):
    script = subprocess.run([sys.executable, "-m", "analysis.report",
                             str(layout_path), "--out-dir", str(tmp_path)],
                            capture_output=True, text=True, cwd=repo_root)
    assert (script.returncode, script.stderr) == (0, "")
    assert script.stdout.splitlines() == [f"wrote {tmp_path / 'layout_small.layout_tops.png'}",
                                          f"wrote {tmp_path / 'layout_small.md'}"]
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert report.main([str(bad)]) == 1
    assert f"error: {bad}: top level is not a JSON object" in capsys.readouterr().err


def test_rebuild_all_picks_up_layout(tmp_path, capsys, layout_path, layout_doc, write_doc):
    gpu = tmp_path / "nvidia-h100-80gb-hbm3"
    gpu.mkdir()
    shutil.copy(layout_path, gpu / "layout-1.json")
    write_doc(counters_off(layout_doc), "nvidia-h100-80gb-hbm3/layout-2.json")
    assert report.RENDERERS["layout"] is lr.render
    assert rebuild_all.main(["--results-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"ok      {gpu / f'layout-{i}.json'} -> layout-{i}.layout_tops.png, layout-{i}.md"
        for i in (1, 2)]
    assert "## Fastest layout per engine" in (gpu / "layout-2.md").read_text()
