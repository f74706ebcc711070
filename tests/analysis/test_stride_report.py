from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from analysis import btcresults as br
from analysis import paper_tcbnn as paper
from analysis import rebuild_all, report
from analysis import report_common as rc
from analysis import stride_report as sr
from conftest import PNG_SIGNATURE, counters_off, rename_run, section_text, table_rows

WG_LOAD_1024 = "stride/wmma_global/mode:load/ldm:1024/manual_time"
# The fixture's repetitions run at 1, 1/1.02 and 1/0.98 times the median time,
# so every rate's [min–max] is [0.98–1.02] x its median.
GBPS = {
    ("wmma_global", "load"): {128: 2000, 1024: 1600, 8192: 900, 65536: 500},
    ("wmma_global", "mma"): {128: 1500, 1024: 1200, 8192: 750, 65536: 400},
    ("wmma_shared", "load"): {128: 9000, 1024: 8800, 8192: 8600, 65536: 8400},
    ("wmma_shared", "mma"): {128: 3000, 1024: 2950, 8192: 2900, 65536: 2850},
    ("mma_global", "load"): {256: 2400, 1024: 2200, 8192: 1000, 65536: 800},
    ("mma_global", "mma"): {256: 2000, 1024: 1900, 8192: 950, 65536: 760},
}


def _paths(results):
    return {p.name: p for p in sr.collect(results)}


def _markdown(results):
    """The report as the composer writes it: with the paper's section."""
    return sr.markdown_report(results, sr.collect(results), "g.png", "c.png", paper.sections_for(results))


def _point(ldm, gbps, mode="load", path="p"):
    run = br.RunSummary(run_name=f"stride/{path}/mode:{mode}/ldm:{ldm}/manual_time",
                        median_time=1.0, min_time=1.0, max_time=1.0, time_unit="us",
                        repetitions=1, counters={"useful_gbps": gbps})
    return sr.Point(sr.StrideName(path, mode, ldm), run)


# ------------------------------------------------------------ loading

def test_load_fixture(stride_path):
    results = br.load(stride_path)
    assert results.suite == "stride"
    assert results.device["name"] == "NVIDIA H100 80GB HBM3"
    assert list(results.forms) == ["wmma_global", "wmma_shared", "mma_global"]
    assert results.meta["forms"]["mma_global"]["tile_bytes"] == 512
    assert results.forms["wmma_shared"].status == "measured"
    assert results.forms["wmma_shared"].group == ""   # stride forms carry no group
    assert results.skipped == [
        ("mma_global", "mode:load/ldm:128: ldm must be a multiple of the 256-bit tile"),
        ("mma_global", "mode:mma/ldm:128: ldm must be a multiple of the 256-bit tile")]
    rows = {r.run_name: r for r in br.medians(results)}
    assert len(rows) == 24   # 3 paths x 2 modes x 4 ldm
    row = rows[WG_LOAD_1024]
    assert row.repetitions == 3
    assert row.counters["useful_gbps"] == 1600.0
    assert (row.median_time / row.min_time, row.median_time / row.max_time) == pytest.approx((1.02, 0.98))


def test_fixture_is_marked_as_test_data(stride_doc):
    assert "TEST FIXTURE" in stride_doc["btcbench"]["_comment"]
    assert stride_doc["context"]["host_name"] == "test-fixture-host"
    aggregates = {e["aggregate_name"]: e for e in stride_doc["benchmarks"]
                  if e["run_name"] == WG_LOAD_1024 and e["run_type"] == "aggregate"}
    assert set(aggregates) == {"mean", "median", "stddev", "cv", "min", "max"}
    assert aggregates["cv"]["aggregate_unit"] == "percentage"
    assert all(e["name"] == e["run_name"] + "_" + e["aggregate_name"] for e in aggregates.values())


@pytest.mark.parametrize("name, expected", [
    ("stride/wmma_global/mode:load/ldm:128/manual_time",
     br.GenericName("stride", "wmma_global", (("mode", "load"), ("ldm", "128")))),
    ("membw/copy/manual_time", br.GenericName("membw", "copy", ())),
])
def test_parse_generic_name(name, expected):
    assert br.parse_generic_name(name) == expected
    assert expected.param("nope") is None


@pytest.mark.parametrize("name", [
    "stride/wmma_global/mode:load/ldm:128",                    # no /manual_time
    "stride/wmma_global/mode/ldm:128/manual_time",             # key without value
    "stride/wmma_global/mode:load/mode:mma/manual_time",       # repeated key
    "stride/wmma_global/mode:load/ldm:128/manual_time_median", # aggregate name
])
def test_parse_generic_name_rejects(name):
    with pytest.raises(ValueError):
        br.parse_generic_name(name)


def test_parse_stride_name():
    assert sr.parse_stride_name("stride/mma_global/mode:mma/ldm:65536/manual_time") == \
        sr.StrideName("mma_global", "mma", 65536)
    for bad in ("stride/mma_global/mode:store/ldm:256/manual_time",
                "stride/mma_global/mode:mma/ldm:x/manual_time",
                "stride/mma_global/mode:mma/ldm:0/manual_time",
                "stride/mma_global/ldm:256/mode:mma/manual_time",
                "lat/mma_global/manual_time"):
        with pytest.raises(ValueError, match="does not match"):
            sr.parse_stride_name(bad)


def test_load_rejects_stride_name_off_grammar(stride_doc, write_doc):
    rename_run(stride_doc, WG_LOAD_1024, "stride/wmma_global/ldm:1024/manual_time")
    with pytest.raises(br.ResultsError, match="does not match 'stride/<form>/mode:<mode>/ldm:<ldm>"):
        br.load(write_doc(stride_doc))


def test_load_rejects_stride_run_of_unknown_path(stride_doc, write_doc):
    del stride_doc["btcbench"]["forms"]["wmma_shared"]
    with pytest.raises(br.ResultsError, match="names form 'wmma_shared', which btcbench.forms"):
        br.load(write_doc(stride_doc))


def test_load_rejects_bad_path_status(stride_doc, write_doc):
    stride_doc["btcbench"]["forms"]["wmma_shared"]["status"] = "maybe"
    with pytest.raises(br.ResultsError, match=r"forms\['wmma_shared'\].status is 'maybe'"):
        br.load(write_doc(stride_doc))


def test_bad_mode_is_corrupt_at_render(stride_doc, write_doc):
    rename_run(stride_doc, WG_LOAD_1024, "stride/wmma_global/mode:store/ldm:1024/manual_time")
    results = br.load(write_doc(stride_doc))   # the generic grammar holds
    with pytest.raises(br.ResultsError, match="mode:load\\|mma"):
        sr.render(results)


# ------------------------------------------------------------ ratios and regimes

def test_per_load_ratios(stride_path):
    paths = _paths(br.load(stride_path))
    wg = paths["wmma_global"]
    assert [p.ldm for p in wg.series["load"]] == [128, 1024, 8192, 65536]
    r128, r64k = wg.point("load", 128).ratios, wg.point("load", 65536).ratios
    assert (r128.sectors_per_request, r128.sectors_per_tile) == (4.0, 4.0)
    assert (r64k.sectors_per_request, r64k.sectors_per_tile) == (8.0, 8.0)
    assert (r128.dram_per_useful_byte, r64k.dram_per_useful_byte) == (1.0, 2.0)
    assert r64k.l2_hit == rc.L2Hit(25.0, from_sums=False)   # the fixture has only the ratio metric
    assert (r64k.wavefronts_per_tile, r64k.conflicts_per_tile) == (0.0, 0.0)
    mg = paths["mma_global"].point("load", 8192).ratios   # 4 requests, 32 sectors per 512 B tile
    assert (mg.sectors_per_request, mg.sectors_per_tile, mg.dram_per_useful_byte) == (8.0, 32.0, 2.0)
    ws = paths["wmma_shared"].point("load", 1024).ratios
    assert (ws.wavefronts_per_tile, ws.conflicts_per_tile) == (2.0, 1.0)


def test_ratio_math_and_missing_counters():
    counters = {"tile_loads": 1000.0, "tile_bytes": 128.0,
                sr._SECTORS: 8000.0, sr._REQUESTS: 2000.0, sr._DRAM: 256000.0,
                "cupti.l1tex__data_pipe_lsu_wavefronts_mem_shared.sum": 3000.0,
                "cupti.l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum": 2000.0,
                "cupti.l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum": 500.0}
    r = sr.load_ratios(counters)
    assert r.sectors_per_request == 4.0 and r.sectors_per_tile == 8.0
    assert r.dram_per_useful_byte == 256000 / (1000 * 128)
    assert r.wavefronts_per_tile == 2.0   # the loads-only (_op_ld) counter wins
    assert r.conflicts_per_tile == 0.5    # falls back to all shared accesses
    assert r.l2_hit is None
    zero = sr.load_ratios({**counters, sr._REQUESTS: 0.0, "tile_loads": 0.0})
    assert (zero.sectors_per_request, zero.sectors_per_tile, zero.dram_per_useful_byte) == (None, None, None)
    assert sr.load_ratios({}) == sr.LoadRatios(None, None, None, None, None, None)


def test_gbps_and_tops_spread(stride_path):
    point = _paths(br.load(stride_path))["wmma_global"].point("mma", 1024)
    assert point.gbps_spread() == pytest.approx((1200 * 0.98, 1200, 1200 * 1.02))
    assert point.tops_spread() == pytest.approx((153.6 * 0.98, 153.6, 153.6 * 1.02))
    assert _paths(br.load(stride_path))["wmma_global"].point("load", 1024).tops is None


def test_regimes_from_fixture(stride_path):
    got = {(r.path, r.mode): r for r in sr.regimes(sr.collect(br.load(stride_path)))}
    assert list(got) == [(p, m) for p in ("wmma_global", "wmma_shared", "mma_global")
                         for m in ("load", "mma")]
    summary = {k: (r.best.ldm, r.worst.ldm, round(r.ratio, 4),
                   r.starved_from.ldm if r.starved_from else None) for k, r in got.items()}
    assert summary == {
        ("wmma_global", "load"): (128, 65536, 4.0, 8192),
        # 750 GB/s is exactly 50% of 1500: not below it, so starved only at 64K
        ("wmma_global", "mma"): (128, 65536, 3.75, 65536),
        ("wmma_shared", "load"): (128, 65536, round(9000 / 8400, 4), None),
        ("wmma_shared", "mma"): (128, 65536, round(3000 / 2850, 4), None),
        ("mma_global", "load"): (256, 65536, 3.0, 8192),
        ("mma_global", "mma"): (256, 65536, round(2000 / 760, 4), 8192),
    }


def test_regime_ties_recovery_and_empty():
    pts = [_point(128, 100.0), _point(256, 100.0), _point(512, 40.0), _point(1024, 60.0),
           _point(2048, 40.0)]
    r = sr.regime("p", "load", pts)
    assert r.best.ldm == 128            # ties: the smallest ldm is best
    assert r.worst.ldm == 2048          # ties: the largest ldm is worst
    assert r.starved_from.ldm == 512
    assert r.recovers_at.ldm == 1024
    assert "back above 50% at ldm = 1024 bits" in sr.regime_line(r)
    assert sr.regime("p", "load", []) is None
    assert sr.regime("p", "load", [_point(128, 0.0)]) is None


def test_ldm_labels():
    assert [sr.ldm_label(b) for b in (128, 384, 1024, 1152, 65536)] == ["128", "384", "1K", "1152", "64K"]


# ------------------------------------------------------------ markdown

def test_markdown_header(stride_path):
    md = _markdown(br.load(stride_path))
    for line in ["# btcbench stride: NVIDIA H100 80GB HBM3",
                 "- **Device:** NVIDIA H100 80GB HBM3 (`nvidia-h100-80gb-hbm3`)",
                 "- **Driver:** 580.159.04",
                 "- **CUDA runtime:** 13.0",
                 "- **CUDA toolkit (build):** 13.0.88",
                 "- **Git commit:** `0123abcd4567ef890123abcd4567ef890123abcd` (v0.1.0-7-g0123abcd, dirty)",
                 "- **Command line:** `btcbench sweep stride --filter "
                 "'stride/(wmma_global|wmma_shared|mma_global)/.*/ldm:(128|256|1024|8192|65536)/'`",
                 "- **Counters:** on (9 metrics)",
                 "![Useful fragment-load GB/s against ldm](g.png)",
                 "![Per-load memory counters against ldm](c.png)"]:
        assert line in md.splitlines()


def test_markdown_path_tables(stride_path):
    md = _markdown(br.load(stride_path))
    wg = table_rows(md, "ldm (bits)", after="### `wmma_global`")
    assert list(wg) == ["128", "1024", "8192", "65536"]
    assert wg["128"] == {
        "ldm (bits)": "128",
        "load GB/s, median [min–max]": "2,000.0 [1,960.0–2,040.0]",
        "mma GB/s, median [min–max]": "1,500.0 [1,470.0–1,530.0]",
        "mma TOPS": "192.0",
        "sectors/request": "4.00", "sectors/tile": "4.00",
        "wavefronts/tile": "0.00", "conflicts/tile": "0.00",
        "L2 hit %, CUPTI ratio metric": "50.0", "DRAM B per useful B": "1.00"}
    assert wg["65536"]["sectors/tile"] == "8.00"
    assert wg["65536"]["DRAM B per useful B"] == "2.00"
    assert wg["8192"]["mma TOPS"] == "96.0"

    ws = table_rows(md, "ldm (bits)", after="### `wmma_shared`")
    assert (ws["1024"]["wavefronts/tile"], ws["1024"]["conflicts/tile"]) == ("2.00", "1.00")
    assert ws["128"]["load GB/s, median [min–max]"] == "9,000.0 [8,820.0–9,180.0]"

    mg = table_rows(md, "ldm (bits)", after="### `mma_global`")
    assert list(mg) == ["128", "256", "1024", "8192", "65536"]   # skipped ldm shows as a row
    assert (mg["128"]["load GB/s, median [min–max]"], mg["128"]["mma GB/s, median [min–max]"],
            mg["128"]["sectors/tile"]) == ("skipped", "skipped", "—")
    assert (mg["8192"]["sectors/request"], mg["8192"]["sectors/tile"]) == ("8.00", "32.00")
    assert mg["256"]["mma TOPS"] == "256.0"


def test_markdown_regimes(stride_path):
    regimes = section_text(_markdown(br.load(stride_path)), "Stride regimes").splitlines()
    assert ("- `wmma_global` load: best ldm = 128 bits (2,000.0 GB/s), worst ldm = 65536 bits "
            "(500.0 GB/s), best/worst = 4.00×; starved from ldm = 8192 bits (900.0 GB/s, "
            "45.0% of best).") in regimes
    assert ("- `wmma_shared` load: best ldm = 128 bits (9,000.0 GB/s), worst ldm = 65536 bits "
            "(8,400.0 GB/s), best/worst = 1.07×; never below 50% of best (lowest 93.3% at "
            "ldm = 65536 bits).") in regimes
    assert any(line.startswith("- `wmma_global` mma:") and "starved from ldm = 65536 bits" in line
               for line in regimes)


def test_regimes_follow_the_data(stride_doc, write_doc):
    # Make wmma_global's 1024-bit load run the fastest: best, ratio and starvation move with it.
    for entry in stride_doc["benchmarks"]:
        if entry["run_name"] == WG_LOAD_1024:
            entry["useful_gbps"] *= 2.5    # 4,000 GB/s
    r = next(r for r in sr.regimes(sr.collect(br.load(write_doc(stride_doc))))
             if (r.path, r.mode) == ("wmma_global", "load"))
    assert (r.best.ldm, r.starved_from.ldm, r.ratio) == (1024, 8192, pytest.approx(8.0))


def test_markdown_skipped(stride_doc, write_doc):
    stride_doc["btcbench"]["forms"]["ldmatrix_shared"] = {
        "loader": "ldmatrix", "space": "shared", "rows": 16, "tile_k_bits": 256,
        "tile_bytes": 512, "min_sm": 75, "status": "skipped"}
    stride_doc["benchmarks"].append({
        "name": "stride/wmma_shared/mode:load/ldm:256/manual_time",
        "run_name": "stride/wmma_shared/mode:load/ldm:256/manual_time",
        "run_type": "iteration", "error_occurred": True, "error_message": "launch failed"})
    results = br.load(write_doc(stride_doc))
    skipped = section_text(_markdown(results), "Skipped").splitlines()
    assert "- `mma_global` `mode:load/ldm:128`: ldm must be a multiple of the 256-bit tile" in skipped
    assert "- `mma_global` `mode:mma/ldm:128`: ldm must be a multiple of the 256-bit tile" in skipped
    assert "- `ldmatrix_shared`: (no reason recorded)" in skipped
    assert "- `stride/wmma_shared/mode:load/ldm:256/manual_time`: launch failed" in skipped
    assert "ldmatrix_shared" not in _paths(results)   # skipped and without runs: no table


def test_counters_off_renders_dashes(stride_doc, write_doc, tmp_path):
    results = br.load(write_doc(counters_off(stride_doc)))
    md = _markdown(results)
    assert ("- **Counters:** off: --no-counters given; drop it to collect CUPTI counters"
            in md.splitlines())
    for path in ("wmma_global", "wmma_shared", "mma_global"):
        rows = table_rows(md, "ldm (bits)", after=f"### `{path}`")
        for row in rows.values():
            assert [row[c] for c in sr.PATH_TABLE_HEADER[4:]] == ["—"] * 6
    row = table_rows(md, "ldm (bits)", after="### `wmma_global`")["128"]
    assert row["load GB/s, median [min–max]"] == "2,000.0 [1,960.0–2,040.0]"
    paper_rows = {(r.finding, r.path): r for r in paper.comparison_rows(results)}
    assert paper_rows[("b", "wmma_global")].measured.endswith("; no CUPTI counters")
    assert paper_rows[("b", "wmma_global")].reason == "throughput falls below 50% of best from ldm = 8192 bits"
    outputs = sr.render(results, tmp_path / "out")
    assert all(p.read_bytes() for p in outputs)
    assert outputs[1].read_bytes().startswith(PNG_SIGNATURE)


# ------------------------------------------------------------ paper comparison

def test_paper_findings_are_words_and_references():
    assert [f["id"] for f in paper.FINDINGS] == ["a", "b", "c"]
    for f in paper.FINDINGS:
        assert set(f) >= {"id", "statement", "reference", "check"}
        assert f["reference"].startswith("TCBNN")
        assert "Fig" not in f["reference"] and "Table" not in f["reference"]
    assert paper.PAPER["arxiv"] == "2006.16578"


def test_paper_comparison_rows(stride_path):
    rows = {(r.finding, r.path): r for r in paper.comparison_rows(br.load(stride_path))}
    assert list(rows) == [(f, p) for f in "abc" for p in ("wmma_global", "wmma_shared", "mma_global")]
    assert all(r.verdict in paper.VERDICTS for r in rows.values())

    a = rows[("a", "wmma_global")]
    assert a.measured == ("`wmma_global` load: 128-bit ldm 2,000.0 GB/s vs 65536-bit ldm "
                          "500.0 GB/s (4.00×); best ldm = 128 bits")
    assert (a.verdict, a.reason) == ("same", "the contiguous-tile ldm (128 bits) is the fastest, "
                                             "4.00× the slowest (ldm = 65536 bits)")
    assert rows[("a", "mma_global")].measured.startswith("`mma_global` load: 256-bit ldm 2,400.0 GB/s")
    flat = rows[("a", "wmma_shared")]
    assert flat.verdict == "differs"
    assert flat.reason.startswith("throughput within 10% across ldm (8,400.0–9,000.0 GB/s)")

    b = rows[("b", "wmma_global")]
    assert "sectors/request 4.00 → 8.00; sectors/tile 4.00 → 8.00" in b.measured
    assert b.verdict == "same"
    assert b.reason == ("throughput falls below 50% of best from ldm = 8192 bits; "
                        "sectors per request grow from 4.00 to 8.00; sectors per tile grow from "
                        "4.00 to 8.00; DRAM bytes per useful byte grow from 1.00 to 2.00")
    # mma_global's sectors stay put; only its DRAM traffic grows.
    assert rows[("b", "mma_global")].reason.endswith("; DRAM bytes per useful byte grow from 1.00 to 2.00")
    shared = rows[("b", "wmma_shared")]
    assert shared.verdict == "differs"
    assert "even though shared wavefronts per tile grow from 1.00 to 2.00" in shared.reason

    c = rows[("c", "wmma_global")]
    assert c.measured == ("`wmma_global` mma: contiguous tiles (ldm = 128 bits) 192.0 TOPS vs "
                          "row-major ldm = 65536 bits 51.2 TOPS (3.75×)")
    assert c.verdict == "same" and "not measured by this suite" in c.reason
    assert rows[("c", "wmma_shared")].verdict == "differs"


def _scale_gbps(doc, path, mode, factor_by_ldm):
    for entry in doc["benchmarks"]:
        name = sr.parse_stride_name(entry["run_name"])
        if (name.path, name.mode) == (path, mode) and name.ldm in factor_by_ldm:
            for key in ("useful_gbps", "tops"):
                if key in entry and entry.get("aggregate_name") not in ("stddev", "cv"):
                    entry[key] *= factor_by_ldm[name.ldm]


def test_paper_verdicts_follow_the_data(stride_doc, write_doc):
    # Flatten wmma_global's load curve to 2,000 GB/s +-5%: the stride no longer matters.
    g = GBPS[("wmma_global", "load")]
    _scale_gbps(stride_doc, "wmma_global", "load",
                {128: 1.0, 1024: 1950 / g[1024], 8192: 1920 / g[8192], 65536: 1900 / g[65536]})
    # mma_global's load curve drops to 60% but never below 50%: slowed, not starved.
    m = GBPS[("mma_global", "load")]
    _scale_gbps(stride_doc, "mma_global", "load", {8192: 1500 / m[8192], 65536: 1440 / m[65536]})
    # wmma_global's mma mode: the row-major 64K-bit ldm now out-feeds contiguous tiles.
    _scale_gbps(stride_doc, "wmma_global", "mma", {65536: 2.0 * 1500 / 400})
    rows = {(r.finding, r.path): r for r in paper.comparison_rows(br.load(write_doc(stride_doc)))}
    for finding in "ab":
        r = rows[(finding, "wmma_global")]
        assert r.verdict == "differs"
        assert r.reason.startswith("throughput within 10% across ldm (1,900.0–2,000.0 GB/s): "
                                   "L1/L2 absorb the stride on this GPU")
    assert "even though sectors per request grow from 4.00 to 8.00" in rows[("b", "wmma_global")].reason
    slowed = rows[("b", "mma_global")]
    assert (slowed.verdict, slowed.reason) == (
        "differs", "throughput drops to 60% of best at ldm = 65536 bits but never below 50%: "
                   "slowed, not starved")
    c = rows[("c", "wmma_global")]
    assert c.verdict == "differs"
    assert c.reason.startswith("rows 65536 bits apart feed the b1 MMA 2.00× faster than contiguous tiles")


def test_paper_rows_when_contiguous_ldm_missing(stride_doc, write_doc):
    stride_doc["benchmarks"] = [e for e in stride_doc["benchmarks"]
                                if not e["run_name"].startswith("stride/wmma_global/mode:load/ldm:128/")]
    rows = {(r.finding, r.path): r for r in paper.comparison_rows(br.load(write_doc(stride_doc)))}
    assert rows[("a", "wmma_global")].verdict == "not measured"
    assert "contiguous-tile ldm (128 bits)" in rows[("a", "wmma_global")].reason
    assert rows[("c", "wmma_global")].verdict == "same"   # the mma series is complete


def test_markdown_paper_section(stride_path):
    section = section_text(_markdown(br.load(stride_path)), "The paper's findings beside this GPU")
    assert "arXiv:2006.16578" in section
    for f in paper.FINDINGS:
        assert f"**({f['id']}) {f['statement']}** ({f['reference']})." in section
    assert ("| `wmma_global` load: 128-bit ldm 2,000.0 GB/s vs 65536-bit ldm 500.0 GB/s (4.00×); "
            "best ldm = 128 bits | same | the contiguous-tile ldm (128 bits) is the fastest, "
            "4.00× the slowest (ldm = 65536 bits) |") in section.splitlines()


# ------------------------------------------------------------ render, CLI, rebuild_all

def test_render_writes_deterministic_files(tmp_path, stride_path):
    results = br.load(stride_path)
    first = sr.render(results, tmp_path / "a")
    again = sr.render(results, tmp_path / "a")    # same directory: replaced atomically
    other = sr.render(results, tmp_path / "b")
    assert [p.name for p in first] == ["stride_small.stride_gbps.png",
                                       "stride_small.stride_counters.png", "stride_small.md"]
    for png in first[:2]:
        data = png.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    contents = [p.read_bytes() for p in first]
    assert contents == [p.read_bytes() for p in again] == [p.read_bytes() for p in other]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in first)
    md = first[2].read_text()
    assert "![Useful fragment-load GB/s against ldm](stride_small.stride_gbps.png)" in md
    assert "![Per-load memory counters against ldm](stride_small.stride_counters.png)" in md


def test_render_with_no_runs(stride_doc, write_doc, tmp_path):
    stride_doc["benchmarks"] = []
    outputs = sr.render(br.load(write_doc(stride_doc)), tmp_path / "out")
    assert all(p.exists() for p in outputs)
    assert "No series with a useful GB/s in this file." in outputs[2].read_text()


def test_render_rejects_other_suite(stride_doc, write_doc, tmp_path):
    stride_doc["btcbench"]["suite"] = "membw"
    with pytest.raises(br.ResultsError, match="suite is 'membw', not 'stride'"):
        sr.render(br.load(write_doc(stride_doc)), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_as_script(tmp_path, stride_path, repo_root):
    proc = subprocess.run([sys.executable, "-m", "analysis.report", str(stride_path),
                           "--out-dir", str(tmp_path)], capture_output=True, text=True, cwd=repo_root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"wrote {tmp_path / n}" for n in (
        "stride_small.stride_gbps.png", "stride_small.stride_counters.png", "stride_small.md")]


def test_cli_default_out_dir_and_errors(tmp_path, capsys, stride_path):
    results = tmp_path / "nvidia-h100-80gb-hbm3" / "stride-run.json"
    results.parent.mkdir()
    shutil.copy(stride_path, results)
    assert report.main([str(results)]) == 0
    assert (results.parent / "stride-run.md").read_text().startswith("# btcbench stride: ")
    bad = tmp_path / "bad.json"
    bad.write_text('{"benchmarks": []}')
    assert report.main([str(bad)]) == 1
    assert f"error: {bad}: not a btcbench results file" in capsys.readouterr().err


def test_rebuild_all_picks_up_stride(tmp_path, capsys, stride_path, instr_path, stride_doc, write_doc):
    gpu = tmp_path / "nvidia-h100-80gb-hbm3"
    gpu.mkdir()
    shutil.copy(instr_path, gpu / "instr-1.json")
    shutil.copy(stride_path, gpu / "stride-1.json")
    write_doc(counters_off(stride_doc), "nvidia-h100-80gb-hbm3/stride-2.json")
    assert rebuild_all.main(["--results-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"ok      {gpu / 'instr-1.json'} -> instr-1.throughput.png, instr-1.md",
        f"ok      {gpu / 'stride-1.json'} -> stride-1.stride_gbps.png, "
        "stride-1.stride_counters.png, stride-1.md",
        f"ok      {gpu / 'stride-2.json'} -> stride-2.stride_gbps.png, "
        "stride-2.stride_counters.png, stride-2.md"]
    assert report.RENDERERS["stride"] is sr.render


def test_rebuild_all_reports_bad_stride_name_as_corrupt(tmp_path, capsys, stride_doc, write_doc):
    rename_run(stride_doc, WG_LOAD_1024, "stride/wmma_global/mode:store/ldm:1024/manual_time")
    path = write_doc(stride_doc, "stride-bad.json")
    assert rebuild_all.main(["--results-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().out.startswith(f"CORRUPT {path}: benchmark name ")
    assert not list(tmp_path.glob("*.png"))
