from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from analysis import bmm_report as bm
from analysis import btcresults as br
from analysis import paper_tcbnn as paper
from analysis import rebuild_all, report
from analysis import report_common as rc
from conftest import INSTR_SMALL, PNG_SIGNATURE, counters_off, rename_run, section_text, table_rows

P1K, P4K, P8K, P16K = (bm.Problem(s, s, s) for s in (1024, 4096, 8192, 16384))
FC = bm.Problem(256, 4096, 4096)
# The fixture's median TOPS, (bits, int32), per design at 1024³, 4096³, 8192³,
# 16384³ and 256 × 4096 × 4096; None: skipped there. Repetitions run at 1/1.02
# and 1/0.98 of the median time, so every [min–max] is [0.98–1.02] x median.
TOPS = {
    "btc_wmma_row":   [(60, 54), (700, 630), (900, 810), None, (150, 135)],
    "btc_wmma_tile":  [(55, 50), (800, 720), (1000, 900), None, (160, 144)],
    "mma_and_sm80":   [(80, 72), (2600, 2340), (3000, 2700), (3100, 2790), (200, 180)],
    "mma_and_sm90":   [(85, 76.5), (2900, 2610), (3400, 3060), (3500, 3150), (220, 198)],
    "wgmma_and_sm90": [(70, 63), (9000, 8100), (12500, 11250), (13000, 11700), (280, 252)],
    "popc_u32":       [(100, 98), (55, 54), (60, 59), None, (180, 176)],
    "popc_u64":       [(110, 108), (70, 69), (80, 78), None, (190, 186)],
    "cublas_s8":      [(96, 120), (1600, 2000), (2000, 2500), (2080, 2600), (184, 230)],
    "cublas_f16":     [(60, 75), (400, 500), (560, 700), (576, 720), (176, 220)],
}
PROBLEMS = [P1K, P4K, P8K, P16K, FC]
TENSOR = ["btc_wmma_row", "btc_wmma_tile", "mma_and_sm80", "mma_and_sm90", "wgmma_and_sm90"]
# instr_small.json's best median TOPS per family.
PEAKS = {"wgmma_and": (14500.0, "wgmma_and_m64n256k256_ss"),
         "mma_and": (4000.0, "mma_and_m16n8k256"),
         "btc_wmma": (2000.0, "wmma_xor_m8n8k128")}
# DRAM bytes read per operand byte, per design, by the fixture's construction.
DRAM_FACTOR = {"btc_wmma_row": 3.0, "btc_wmma_tile": 2.0, "mma_and_sm80": 1.5, "mma_and_sm90": 1.5,
               "wgmma_and_sm90": 1.25, "popc_u32": 4.0, "popc_u64": 4.0, "cublas_s8": 10.0,
               "cublas_f16": 20.0}
INSTR_NAME = "instr-20261127T222002Z-0123abc.json"
H100_BW = 3.35e12


def _tops(design, problem, out="bits"):
    pair = TOPS[design][PROBLEMS.index(problem)]
    return None if pair is None else pair[0 if out == "bits" else 1]


def _run_name(design, p, out):
    return f"bmm/{design}/m:{p.m}/n:{p.n}/k:{p.k}/out:{out}/manual_time"


def _scale(doc, factors):
    """Multiply the rates of runs (design, problem, out) by factors[...]."""
    for entry in doc["benchmarks"]:
        name = bm.parse_bmm_name(entry["run_name"])
        factor = factors.get((name.design, name.problem, name.out))
        if factor is not None:
            entry["tops"] *= factor
            entry["gbps_min_bytes"] *= factor
            entry["real_time"] /= factor


def _drop(doc, design, problem=None, out=None):
    doc["benchmarks"] = [e for e in doc["benchmarks"]
                         if not _matches(bm.parse_bmm_name(e["run_name"]), design, problem, out)]


def _matches(name, design, problem, out):
    return (name.design == design and (problem is None or name.problem == problem)
            and (out is None or name.out == out))


def _skip_design(doc, design, reason="needs sm_90a (wgmma)"):
    doc["btcbench"]["forms"][design]["status"] = "skipped"
    doc["btcbench"]["skipped"].append({"form": design, "reason": reason})
    _drop(doc, design)
    return doc


def _peaks(instr=INSTR_SMALL):
    loaded = br.load(instr) if instr else None
    return bm.Peaks(loaded, "given", bm.instr_peaks(loaded))


def _markdown(results, instr=INSTR_SMALL):
    """The report as the composer writes it: with the paper's section."""
    return bm.markdown_report(results, bm.collect(results), _peaks(instr), ("sq.png", "sp.png"),
                              paper.sections_for(results))


@pytest.fixture
def gpu_dir(tmp_path, bmm_path):
    """A results folder as the harness leaves it: bmm-1.json beside an instr file."""
    gpu = tmp_path / "nvidia-h100-80gb-hbm3"
    gpu.mkdir()
    shutil.copy(bmm_path, gpu / "bmm-1.json")
    shutil.copy(INSTR_SMALL, gpu / INSTR_NAME)
    return gpu


# ------------------------------------------------------------ loading and names

def test_load_fixture(bmm_path, bmm_doc):
    assert "TEST FIXTURE" in bmm_doc["btcbench"]["_comment"]
    assert bmm_doc["context"]["host_name"] == "test-fixture-host"
    results = br.load(bmm_path)
    assert results.suite == "bmm"
    assert list(results.forms) == list(TOPS)
    assert results.meta["forms"]["popc_u64"] == {"family": "popc", "tensor_core": False,
                                                 "status": "measured"}
    rows = {r.run_name: r for r in br.medians(results)}
    assert len(rows) == 2 * sum(p is not None for pairs in TOPS.values() for p in pairs)
    row = rows[_run_name("wgmma_and_sm90", P8K, "bits")]
    assert row.repetitions == 3
    assert row.counters["tops"] == pytest.approx(12500)
    assert row.median_time == pytest.approx(2 * 8192**3 / 12500e12 * 1e6)
    assert (row.min_time, row.max_time) == pytest.approx((row.median_time / 1.02, row.median_time / 0.98))
    assert len(results.skipped) == 8


@pytest.mark.parametrize("name, expected", [
    ("bmm/wgmma_and_sm90/m:8192/n:8192/k:8192/out:bits/manual_time",
     bm.BmmName("wgmma_and_sm90", P8K, "bits")),
    ("bmm/popc_u32/m:256/n:4096/k:4096/out:int32/manual_time", bm.BmmName("popc_u32", FC, "int32")),
])
def test_parse_bmm_name(name, expected):
    assert bm.parse_bmm_name(name) == expected


@pytest.mark.parametrize("name", [
    "bmm/popc_u32/m:256/n:4096/k:4096/manual_time",               # no out
    "bmm/popc_u32/n:4096/m:256/k:4096/out:bits/manual_time",      # keys out of order
    "bmm/popc_u32/m:256/n:4096/k:4096/out:int8/manual_time",      # unknown output
    "bmm/popc_u32/m:0/n:4096/k:4096/out:bits/manual_time",        # empty problem
    "bmm/popc_u32/m:x/n:4096/k:4096/out:bits/manual_time",        # not a number
    "layout/popc_u32/m:256/n:4096/k:4096/out:bits/manual_time",   # other suite
    "bmm/popc_u32/m:256/n:4096/k:4096/out:bits/manual_time_median",
])
def test_parse_bmm_name_rejects(name):
    with pytest.raises(ValueError, match="does not match 'bmm/<design>/m:<M>/n:<N>/k:<K>/out:<int32|bits>"):
        bm.parse_bmm_name(name)


def test_load_checks_bmm_names(bmm_doc, write_doc):
    form = bmm_doc["btcbench"]["forms"].pop("popc_u32")
    with pytest.raises(br.ResultsError, match="names form 'popc_u32', which btcbench.forms"):
        br.load(write_doc(bmm_doc))
    bmm_doc["btcbench"]["forms"]["popc_u32"] = form
    old = _run_name("popc_u64", P1K, "bits")
    rename_run(bmm_doc, old, "bmm/popc_u64/m:1024/n:1024/out:bits/manual_time")
    with pytest.raises(br.ResultsError, match=r"does not match 'bmm/<form>/m:<m>/n:<n>/k:<k>/out:<out>"):
        br.load(write_doc(bmm_doc))


def test_collect_rejects_bad_output(bmm_doc, write_doc):
    old = _run_name("popc_u64", P1K, "bits")
    rename_run(bmm_doc, old, old.replace("out:bits", "out:int8"))
    results = br.load(write_doc(bmm_doc))   # the generic grammar takes any value
    with pytest.raises(br.ResultsError, match="out:<int32\\|bits>"):
        bm.collect(results)


def test_collect_rejects_probe_builds(bmm_doc, write_doc):
    forms = bmm_doc["btcbench"]["forms"]
    forms["wgmma_and_sm90_probe_feed_only"] = dict(next(iter(forms.values())))
    results = br.load(write_doc(bmm_doc))
    with pytest.raises(br.ResultsError, match="diagnostic probe build .*wgmma_and_sm90_probe_feed_only"):
        bm.collect(results)


# ------------------------------------------------------------ collecting

def test_collect(bmm_path):
    data = bm.collect(br.load(bmm_path))
    assert [d.name for d in data.designs] == list(TOPS)
    assert [d.name for d in data.tensor_designs] == TENSOR
    assert data.problems == PROBLEMS          # squares by size (16384³ first runs late), then FC
    assert data.squares == [P1K, P4K, P8K, P16K]
    assert [p.label for p in data.problems] == ["1024³", "4096³", "8192³", "16384³", "256 × 4096 × 4096"]
    for design in TOPS:
        for p in PROBLEMS:
            for out in bm.OUTPUTS:
                assert data.tops(design, p, out) == pytest.approx(_tops(design, p, out))
    skipped = data.get("popc_u32", P16K, "bits")
    assert skipped.run is None and skipped.skip_reason.startswith("past 8192^3")
    run = data.get("mma_and_sm90", P4K, "int32")
    assert run.skip_reason is None
    assert run.tops_spread() == pytest.approx((2610 * 0.98, 2610, 2610 * 1.02))
    assert run.dram_per_operand_byte == pytest.approx(1.5)
    assert run.l2_hit == rc.L2Hit(90.0, from_sums=False)   # the fixture has only the ratio metric
    assert data.get("mma_and_sm90", FC, "bits").l2_hit.pct == 95.0


def test_min_bytes():
    # Each operand once (1 bit an element), the output once: int32 4 B, bits 1/8 B.
    assert bm.min_bytes(P1K, "int32") == 2 * 1024 * 1024 / 8 + 1024 * 1024 * 4 == 4456448
    assert bm.min_bytes(P1K, "bits") == 2 * 1024 * 1024 / 8 + 1024 * 1024 / 8 == 393216
    assert bm.min_bytes(FC, "bits") == (256 + 4096) * 4096 / 8 + 256 * 4096 / 8
    assert P8K.ops == 2 * 8192**3 and FC.operand_bytes == (256 + 4096) * 4096 / 8


def test_min_bytes_matches_the_harness_counter(bmm_path):
    data = bm.collect(br.load(bmm_path))
    for run in data.runs.values():
        if run.run is not None:
            assert run.run.counter("min_bytes") == bm.min_bytes(run.problem, run.out)
            assert run.gbps == pytest.approx(run.min_bytes / run.time_s / 1e9)


def test_tops_and_gbps_without_counters(bmm_doc, write_doc):
    for entry in bmm_doc["benchmarks"]:
        for key in ("tops", "min_bytes", "gbps_min_bytes"):
            del entry[key]
    data = bm.collect(br.load(write_doc(bmm_doc)))
    run = data.get("wgmma_and_sm90", P8K, "bits")
    assert run.tops == pytest.approx(12500)       # from 2·M·N·K and the median time
    assert run.min_bytes == bm.min_bytes(P8K, "bits")
    assert run.gbps == pytest.approx(bm.min_bytes(P8K, "bits") / (2 * 8192**3 / 12500e12) / 1e9)


# ------------------------------------------------------------ peaks

def test_instr_peaks():
    peaks = bm.instr_peaks(br.load(INSTR_SMALL))
    assert {f: (p.tops, p.form) for f, p in peaks.items()} == PEAKS
    assert peaks["wgmma_and"].run_name == "tput/wgmma_and_m64n256k256_ss/wps:8/ilp:2/manual_time"
    assert peaks["mma_and"].label == "mma.sync m16n8k256 AND"
    assert bm.instr_peaks(None) == {}


def test_instr_peaks_best_wgmma_form(instr_doc, write_doc):
    # A second wgmma AND form that beats the first: the family's peak is the best of them.
    form = dict(instr_doc["btcbench"]["forms"]["wgmma_and_m64n256k256_ss"], ptx="x", n=128)
    instr_doc["btcbench"]["forms"]["wgmma_and_m64n128k256_rs"] = form
    extra = []
    for e in instr_doc["benchmarks"]:
        if e["run_name"] == "tput/wgmma_and_m64n256k256_ss/wps:8/ilp:2/manual_time":
            e = json.loads(json.dumps(e).replace("m64n256k256_ss", "m64n128k256_rs"))
            e["tops"] *= 1.1
            extra.append(e)
    instr_doc["benchmarks"] += extra
    # ... and no mma.sync m16n8k256 AND: that family gets no peak.
    instr_doc["btcbench"]["forms"]["mma_and_m16n8k256"]["status"] = "skipped"
    instr_doc["benchmarks"] = [e for e in instr_doc["benchmarks"]
                               if "mma_and_m16n8k256" not in e["run_name"]]
    peaks = bm.instr_peaks(br.load(write_doc(instr_doc, "instr.json")))
    assert (peaks["wgmma_and"].tops, peaks["wgmma_and"].form) == pytest.approx(
        (14500 * 1.1, "wgmma_and_m64n128k256_rs"))
    assert "mma_and" not in peaks and "btc_wmma" in peaks


def test_newest_instr_beside(gpu_dir, instr_doc):
    results = br.load(gpu_dir / "bmm-1.json")
    assert report.newest_instr_beside(results).path.name == INSTR_NAME
    # Newer files that are corrupt, of another GPU or of another suite do not count ...
    (gpu_dir / "instr-20261128T000000Z-broken.json").write_text("{")
    other = json.loads(json.dumps(instr_doc))
    other["btcbench"]["device"]["name"] = "NVIDIA H200"
    (gpu_dir / "instr-20261128T010000Z-h200.json").write_text(json.dumps(other))
    stride = json.loads(json.dumps(instr_doc))
    stride["btcbench"]["suite"] = "membw"
    (gpu_dir / "instr-20261128T020000Z-membw.json").write_text(json.dumps(stride))
    assert report.newest_instr_beside(results).path.name == INSTR_NAME
    # ... an older good one loses to the newest good one ...
    shutil.copy(INSTR_SMALL, gpu_dir / "instr-20261101T000000Z-old.json")
    assert report.newest_instr_beside(results).path.name == INSTR_NAME
    # ... and a newer good one wins.
    shutil.copy(INSTR_SMALL, gpu_dir / "instr-20261129T000000Z-new.json")
    assert report.newest_instr_beside(results).path.name == "instr-20261129T000000Z-new.json"


def test_no_instr_results_beside_the_file(bmm_path, tmp_path):
    # fixtures/ holds instr_small.json, which is not named instr-*.json.
    results = br.load(bmm_path)
    assert report.newest_instr_beside(results) is None
    _, _, md_path = bm.render(results, tmp_path)
    md = md_path.read_text()
    assert "- **Instruction peaks:** no instr results beside this file" in md.splitlines()
    designs = table_rows(md, "Design", after="## Designs")
    assert designs["wgmma_and_sm90"]["Family's instruction peak, TOPS (instr form)"] == "—"
    row = table_rows(md, "Design", after=f"### {P8K.heading}")["wgmma_and_sm90"]
    assert row["% of instr peak (bits / int32)"] == "— / —"
    assert row["Roofline bound (bits / int32)"] == "— / —"
    goals = section_text(md, "Performance goals (H100)")
    assert ("- **`wgmma_and_sm90` ≥ 85% of the measured wgmma b1 AND peak**: not measured — "
            "no instr results beside this file.") in goals.splitlines()


# ------------------------------------------------------------ roofline

def test_roofline_math(bmm_path):
    data = bm.collect(br.load(bmm_path))
    peaks = _peaks().by_family
    # wgmma at 1024³, int32 output: memory-bound.
    run = data.get("wgmma_and_sm90", P1K, "int32")
    roof = bm.roofline(run, peaks["wgmma_and"], H100_BW)
    time_s = 2 * 1024**3 / 63e12
    assert roof.time_s == pytest.approx(time_s)
    assert roof.compute_s == pytest.approx(2 * 1024**3 / 14500e12)
    assert roof.memory_s == pytest.approx(4456448 / H100_BW)
    assert roof.bound == "memory"
    assert roof.ratio == pytest.approx(time_s / (4456448 / H100_BW))
    # The same run with the bits output moves 11x fewer bytes: compute-bound.
    roof = bm.roofline(data.get("wgmma_and_sm90", P1K, "bits"), peaks["wgmma_and"], H100_BW)
    assert roof.bound == "compute"
    assert roof.ratio == pytest.approx((2 * 1024**3 / 70e12) / (2 * 1024**3 / 14500e12)) == \
        pytest.approx(14500 / 70)
    # Unknown DRAM bandwidth or no instruction peak: no bound, no ratio.
    for roof in (bm.roofline(run, peaks["wgmma_and"], None), bm.roofline(run, None, H100_BW)):
        assert (roof.bound, roof.floor_s, roof.ratio) == (None, None, None)
    assert bm.Roofline(1.0, 0.5, 0.5).bound == "compute"   # ties go to compute
    assert bm.dram_bandwidth("NVIDIA H100 80GB HBM3") == H100_BW
    assert bm.dram_bandwidth("NVIDIA H200") == 4.8e12
    assert bm.dram_bandwidth("NVIDIA A100-SXM4-80GB") is None


def test_problem_tables(bmm_path):
    md = _markdown(br.load(bmm_path))
    rows = table_rows(md, "Design", after=f"### {P1K.heading}")
    assert list(rows) == list(TOPS)
    wg = rows["wgmma_and_sm90"]
    mem_ratio = (2 * 1024**3 / 63e12) / (4456448 / H100_BW)
    assert wg == {
        "Design": "`wgmma_and_sm90`", "Family": "wgmma_and",
        "TOPS bits, median [min–max]": "70.0 [68.6–71.4]",
        "TOPS int32, median [min–max]": "63.0 [61.7–64.3]",
        "% of instr peak (bits / int32)": f"{100 * 70 / 14500:.1f} / {100 * 63 / 14500:.1f}",
        "GB/s at min bytes (bits / int32)":
            f"{393216 / (2 * 1024**3 / 70e12) / 1e9:.1f} / {4456448 / (2 * 1024**3 / 63e12) / 1e9:.1f}",
        "Roofline bound (bits / int32)": "compute / memory",
        "Time / floor (bits / int32)": f"{14500 / 70:.2f} / {mem_ratio:.2f}",
        "DRAM read / operand bytes (bits / int32)": "1.25 / 1.25",
        "L2 hit %, CUPTI ratio metric (bits / int32)": "90.0 / 90.0"}
    popc = rows["popc_u64"]
    assert popc["% of instr peak (bits / int32)"] == "— / —"          # no instruction peak
    assert popc["Roofline bound (bits / int32)"] == "— / —"
    assert popc["DRAM read / operand bytes (bits / int32)"] == "4.00 / 4.00"
    big = table_rows(md, "Design", after=f"### {P16K.heading}")
    assert big["popc_u32"]["TOPS bits, median [min–max]"] == "skipped"
    assert big["popc_u32"]["GB/s at min bytes (bits / int32)"] == "— / —"
    assert big["mma_and_sm90"]["% of instr peak (bits / int32)"] == "87.5 / 78.8"
    fc = table_rows(md, "Design", after=f"### {FC.heading}")
    assert fc["btc_wmma_tile"]["% of instr peak (bits / int32)"] == "8.0 / 7.2"   # of 2,000 (WMMA XOR)


def test_graph_replay_columns(bmm_doc, write_doc):
    """A problem with graph-replay times gets their columns beside time / floor; the others do not."""
    for entry in bmm_doc["benchmarks"]:
        if entry["run_name"] in (_run_name("wgmma_and_sm90", FC, "bits"), _run_name("wgmma_and_sm90", FC, "int32")):
            entry["graph_time_per_run_us"] = 2.5 if entry["run_name"].endswith("out:bits/manual_time") else 4.0
    results = br.load(write_doc(bmm_doc, "graph.json"))
    md = _markdown(results)
    fc = table_rows(md, "Design", after=f"### {FC.heading}")
    header = list(fc["wgmma_and_sm90"])
    at = header.index("Time / floor (bits / int32)")
    assert header[at + 1:at + 3] == ["Graph-replay µs (bits / int32)", "Graph time / floor (bits / int32)"]
    assert fc["wgmma_and_sm90"]["Graph-replay µs (bits / int32)"] == "2.50 / 4.00"
    assert fc["popc_u64"]["Graph-replay µs (bits / int32)"] == "— / —"
    data = bm.collect(results)
    peak = _peaks().by_family["wgmma_and"]
    for out, us in (("bits", 2.5), ("int32", 4.0)):
        run = data.get("wgmma_and_sm90", FC, out)
        roof = bm.graph_roofline(run, peak, H100_BW)
        plain = bm.roofline(run, peak, H100_BW)
        assert roof.time_s == pytest.approx(us * 1e-6)
        assert (roof.compute_s, roof.memory_s) == (plain.compute_s, plain.memory_s)
    ratios = [bm.graph_roofline(data.get("wgmma_and_sm90", FC, out), peak, H100_BW).ratio for out in ("bits", "int32")]
    assert fc["wgmma_and_sm90"]["Graph time / floor (bits / int32)"] == f"{ratios[0]:.2f} / {ratios[1]:.2f}"
    # No graph times on the 1024³ problem: its table keeps the old columns.
    assert "Graph-replay µs (bits / int32)" not in table_rows(md, "Design", after=f"### {P1K.heading}")["wgmma_and_sm90"]


def test_unknown_device_has_no_memory_floor(bmm_doc, write_doc):
    bmm_doc["btcbench"]["device"]["name"] = "NVIDIA A100-SXM4-80GB"
    md = _markdown(br.load(write_doc(bmm_doc)), instr=None)
    assert ("- **DRAM bandwidth (roofline):** — (no entry for `NVIDIA A100-SXM4-80GB`: no memory "
            "floor, no roofline bound)") in md.splitlines()
    row = table_rows(md, "Design", after=f"### {P8K.heading}")["mma_and_sm90"]
    assert (row["Roofline bound (bits / int32)"], row["Time / floor (bits / int32)"]) == ("— / —", "— / —")
    assert ("The goals were set for H100; this file is from NVIDIA A100-SXM4-80GB"
            in section_text(md, "Performance goals (H100)"))


@pytest.mark.parametrize("peaks, bandwidth, header", [
    # A sweep that measured the DRAM copy bandwidth (btcbench.peaks) floors its roofline with that ...
    ({"dram_copy_bytes_per_s": 4.2e12, "dram_copy_buffer_bytes": 2**30, "dram_copy_repetitions": 10}, 4.2e12,
     "4.2 TB/s measured (device-to-device cudaMemcpyAsync of 2 × 1,024 MiB, median of 10; bytes read + written)"),
    # ... an older file with the H200's datasheet figure, named as such.
    (None, 4.8e12, "4.8 TB/s (the H200 SXM 141 GB HBM3e datasheet figure for `NVIDIA H200`, not measured)"),
], ids=["measured", "datasheet"])
def test_h200_floor_bandwidth(bmm_doc, write_doc, peaks, bandwidth, header):
    bmm_doc["btcbench"]["device"]["name"] = "NVIDIA H200"
    if peaks is not None:
        bmm_doc["btcbench"]["peaks"] = peaks
    results = br.load(write_doc(bmm_doc))
    assert bm.floor_bandwidth(results) == bandwidth
    md = _markdown(results)
    assert f"- **DRAM bandwidth (roofline):** {header}" in md.splitlines()
    row = table_rows(md, "Design", after=f"### {P1K.heading}")["wgmma_and_sm90"]
    ratio = (2 * 1024**3 / 63e12) / (4456448 / bandwidth)
    assert row["Time / floor (bits / int32)"] == f"{14500 / 70:.2f} / {ratio:.2f}"


# ------------------------------------------------------------ speedups

def test_speedup_math(bmm_path):
    data = bm.collect(br.load(bmm_path))
    assert data.best_popc(P8K).design.name == "popc_u64"
    assert data.best_popc(P16K) is None
    for design in TENSOR:
        for p in (P1K, P4K, P8K):
            best = max(_tops("popc_u32", p), _tops("popc_u64", p))
            assert data.speedup_over_popc(design, p) == pytest.approx(_tops(design, p) / best)
            assert data.speedup_over(design, "cublas_s8", p) == pytest.approx(
                _tops(design, p) / _tops("cublas_s8", p))
        assert data.speedup_over_popc(design, P16K) is None
    # Speedup = baseline time / design time, which is the TOPS ratio.
    base, run = data.get("popc_u64", P8K, "bits"), data.get("btc_wmma_tile", P8K, "bits")
    assert base.time_s / run.time_s == pytest.approx(12.5)
    assert bm.speedup(10.0, None) is None and bm.speedup(None, 2.0) is None


def test_best_popc_follows_the_data(bmm_doc, write_doc):
    _scale(bmm_doc, {("popc_u32", P8K, "bits"): 2.0})   # popc_u32: 120 TOPS, now the faster
    data = bm.collect(br.load(write_doc(bmm_doc)))
    assert data.best_popc(P8K).design.name == "popc_u32"
    assert data.speedup_over_popc("wgmma_and_sm90", P8K) == pytest.approx(12500 / 120)


def test_speedup_section(bmm_path):
    md = _markdown(br.load(bmm_path))
    section = section_text(md, "Speedup over the baselines (bits output)")
    assert ("the faster of the `popc` designs at each size: 1024³ `popc_u64` 110.0 TOPS; "
            "4096³ `popc_u64` 70.0 TOPS; 8192³ `popc_u64` 80.0 TOPS; 16384³ —):") in section
    popc = table_rows(section, "Design")
    assert list(popc) == TENSOR
    assert popc["btc_wmma_tile"] == {"Design": "`btc_wmma_tile`", "1024³": "0.50×",
                                     "4096³": "11.43×", "8192³": "12.50×", "16384³": "—"}
    cublas = table_rows(section, "Design", after="Over `cublas_s8` (int8 GEMM on the ±1 values, "
                                                "then the same bits output):")
    assert cublas["wgmma_and_sm90"] == {"Design": "`wgmma_and_sm90`", "1024³": "0.73×",
                                        "4096³": "5.62×", "8192³": "6.25×", "16384³": "6.25×"}


# ------------------------------------------------------------ performance goals

def _goals(results, instr=INSTR_SMALL):
    return bm.performance_goals(bm.collect(results), _peaks(instr))


def test_goals_met(bmm_path):
    wgmma, mma, popc = _goals(br.load(bmm_path))
    assert wgmma == bm.Goal("`wgmma_and_sm90` ≥ 85% of the measured wgmma b1 AND peak", "met",
                            "12,500.0 TOPS = 86.2% of 14,500.0 TOPS (`wgmma_and_m64n256k256_ss` "
                            "in `instr_small.json`)")
    assert (mma.verdict, mma.figures) == ("met", "3,400.0 TOPS = 85.0% of 4,000.0 TOPS "
                                                 "(`mma_and_m16n8k256` in `instr_small.json`)")
    assert popc.title == "every tensor-core design ≥ 10× the best software-popcount baseline"
    assert (popc.verdict, popc.figures) == (
        "met", "best software popcount `popc_u64` 80.0 TOPS; `btc_wmma_row` 11.25×, "
               "`btc_wmma_tile` 12.50×, `mma_and_sm80` 37.50×, `mma_and_sm90` 42.50×, "
               "`wgmma_and_sm90` 156.25×")


def test_goals_not_met(bmm_doc, write_doc):
    # wgmma at 84% of its peak, mma.sync at 79%, btc_wmma_row at 9x the best popcount.
    _scale(bmm_doc, {("wgmma_and_sm90", P8K, "bits"): 0.84 * 14500 / 12500,
                     ("mma_and_sm90", P8K, "bits"): 0.79 * 4000 / 3400,
                     ("btc_wmma_row", P8K, "bits"): 720 / 900,
                     # int32 output and other sizes do not count.
                     ("btc_wmma_tile", P8K, "int32"): 0.01, ("mma_and_sm80", P4K, "bits"): 0.01})
    wgmma, mma, popc = _goals(br.load(write_doc(bmm_doc)))
    assert (wgmma.verdict, wgmma.figures.split(" (")[0]) == ("not met", "12,180.0 TOPS = 84.0% of 14,500.0 TOPS")
    assert (mma.verdict, mma.figures.split(" (")[0]) == ("not met", "3,160.0 TOPS = 79.0% of 4,000.0 TOPS")
    assert popc.verdict == "not met"
    assert popc.figures.startswith("best software popcount `popc_u64` 80.0 TOPS; `btc_wmma_row` 9.00×, ")
    assert popc.figures.endswith("; below 10×: `btc_wmma_row` (9.00×)")


def _set_tops(doc, design, p, out, tops):
    """Set a run's median TOPS exactly (and its time and the spread to match)."""
    for entry in doc["benchmarks"]:
        if entry["run_name"] == _run_name(design, p, out):
            factor = {"median": 1.0, "min": 1.02, "max": 0.98}[entry["aggregate_name"]]
            entry["tops"] = tops * factor
            entry["real_time"] = p.ops / (tops * factor * 1e12) * 1e6


def test_goals_at_the_threshold_are_met(bmm_doc, write_doc):
    _set_tops(bmm_doc, "wgmma_and_sm90", P8K, "bits", 12325.0)   # 85% of 14,500
    _set_tops(bmm_doc, "btc_wmma_row", P8K, "bits", 800.0)        # 10x popc_u64's 80
    wgmma, _, popc = _goals(br.load(write_doc(bmm_doc)))
    assert wgmma.verdict == "met" and "= 85.0% of" in wgmma.figures
    assert popc.verdict == "met" and "`btc_wmma_row` 10.00×" in popc.figures


def test_goals_not_measured(bmm_doc, write_doc):
    # No wgmma on this GPU, no mma_and_sm90 run at 8192³ bits, no popcount at 8192³.
    _skip_design(bmm_doc, "wgmma_and_sm90")
    _drop(bmm_doc, "mma_and_sm90", P8K, "bits")
    results = br.load(write_doc(bmm_doc))
    wgmma, mma, popc = _goals(results)
    assert (wgmma.verdict, wgmma.figures) == (
        "not measured", "`wgmma_and_sm90` skipped at 8192³ (needs sm_90a (wgmma))")
    assert (mma.verdict, mma.figures) == ("not measured", "no `mma_and_sm90` run at 8192³, bits output")
    # Every measured design passes, but wgmma_and_sm90 has no figure: not measured.
    assert popc.verdict == "not measured"
    assert popc.figures == ("best software popcount `popc_u64` 80.0 TOPS; `btc_wmma_row` 11.25×, "
                            "`btc_wmma_tile` 12.50×, `mma_and_sm80` 37.50×; no `mma_and_sm90` run "
                            "at 8192³, bits output; `wgmma_and_sm90` skipped at 8192³ (needs sm_90a "
                            "(wgmma))")
    _drop(bmm_doc, "popc_u32", P8K)
    _drop(bmm_doc, "popc_u64", P8K)
    *_, popc = _goals(br.load(write_doc(bmm_doc)))
    assert (popc.verdict, popc.figures) == ("not measured", "no software-popcount run at 8192³, bits output")


def test_goals_need_the_instr_form(instr_doc, write_doc, bmm_path):
    instr_doc["btcbench"]["forms"]["mma_and_m16n8k256"]["status"] = "skipped"
    instr_doc["benchmarks"] = [e for e in instr_doc["benchmarks"]
                               if "mma_and_m16n8k256" not in e["run_name"]]
    wgmma, mma, _ = _goals(br.load(bmm_path), write_doc(instr_doc, "instr-1.json"))
    assert wgmma.verdict == "met"
    assert (mma.verdict, mma.figures) == ("not measured",
                                          "`instr-1.json` has no measured `mma_and_m16n8k256` form")


def test_goals_markdown(bmm_path):
    lines = section_text(_markdown(br.load(bmm_path)), "Performance goals (H100)").strip().splitlines()
    assert lines[0].startswith("Checked at 8192³ with the fused bits output")
    assert "The goals were set for H100" not in lines[0]
    assert ("- **`mma_and_sm90` ≥ 80% of the measured mma.sync m16n8k256 AND peak**: met — 3,400.0 "
            "TOPS = 85.0% of 4,000.0 TOPS (`mma_and_m16n8k256` in `instr_small.json`).") in lines
    assert sum(line.startswith("- **") for line in lines) == 3


# ------------------------------------------------------------ the paper

def _paper_rows(results):
    return {r.path: r for r in paper.bmm_comparison_rows(results)}


def test_paper_bmm_rows(bmm_path):
    rows = _paper_rows(br.load(bmm_path))
    assert list(rows) == ["1024³", "4096³", "8192³", "16384³"]
    r = rows["8192³"]
    assert r.finding == "c" and r.reference == "TCBNN, BMM evaluation"
    assert r.measured == ("8192³: `btc_wmma_tile` 1,000.0 TOPS vs best software popcount "
                          "`popc_u64` 80.0 TOPS (12.50×); `btc_wmma_row` 11.25×; fastest "
                          "tensor-core design `wgmma_and_sm90` 156.25×")
    assert r.verdict == "same"
    assert r.reason == ("the paper's design runs the BMM 12.50× faster than the best software "
                        "popcount; the tile format runs 1.11× the row-major `btc_wmma_row`; this "
                        "GPU emulates the b1 XOR MMA the design issues (two tensor-pipe passes "
                        "each, see docs/results-schema.md)")
    assert rows["1024³"].verdict == "differs"
    assert rows["1024³"].reason.startswith("the best software popcount runs the BMM 2.00× faster "
                                           "than the paper's design")
    assert rows["16384³"].verdict == "not measured"
    assert rows["16384³"].reason.startswith("`btc_wmma_tile` skipped at 16384³ (past 8192^3")
    assert rows["16384³"].reason.endswith("; no software-popcount run at 16384³")


def test_paper_bmm_section(bmm_path):
    section = section_text(_markdown(br.load(bmm_path)), "The paper's BMM comparison beside ours")
    assert "arXiv:2006.16578" in section
    assert f"**(c) {paper.BMM_FINDINGS[0]['statement']}** (TCBNN, BMM evaluation)." in section
    assert "SBNN and BSTC" in paper.BMM_FINDINGS[0]["statement"]
    assert "not quoted here" in paper.BMM_FINDINGS[0]["check"]
    row = _paper_rows(br.load(bmm_path))["4096³"]
    assert f"| {row.measured} | same | {row.reason} |" in section.splitlines()


def test_paper_bmm_verdicts_follow_the_data(bmm_doc, write_doc):
    # 4096³: the tiles within 10% of popcount; 8192³: no row design; sm_80: no emulation note.
    bmm_doc["btcbench"]["device"]["cc"] = "8.0"
    _scale(bmm_doc, {("btc_wmma_tile", P4K, "bits"): 75 / 800})
    _drop(bmm_doc, "btc_wmma_row", P8K)
    rows = _paper_rows(br.load(write_doc(bmm_doc)))
    assert rows["4096³"].verdict == "differs"
    assert rows["4096³"].reason.startswith("the paper's design and the best software popcount run "
                                           "within 10% of each other; the tile format runs 0.11×")
    assert rows["8192³"].verdict == "same"
    assert "btc_wmma_row" not in rows["8192³"].measured
    assert rows["8192³"].reason == "the paper's design runs the BMM 12.50× faster than the best software popcount"


def test_paper_bmm_rows_without_the_designs(bmm_doc, write_doc):
    for design in ("btc_wmma_tile", "popc_u32", "popc_u64"):
        del bmm_doc["btcbench"]["forms"][design]
        _drop(bmm_doc, design)
    bmm_doc["btcbench"]["skipped"] = []
    results = br.load(write_doc(bmm_doc))
    assert paper.bmm_comparison_rows(results) == []
    section = section_text(_markdown(results), "The paper's BMM comparison beside ours")
    assert "No square problem in this file runs `btc_wmma_tile` or a software-popcount design." in section


# ------------------------------------------------------------ counters off, skips, errors

def test_counters_off_renders_dashes(bmm_doc, write_doc, tmp_path):
    results = br.load(write_doc(counters_off(bmm_doc)))
    md = _markdown(results)
    lines = md.splitlines()
    assert "- **Counters:** off: --no-counters given; drop it to collect CUPTI counters" in lines
    assert ("DRAM and L2 columns are empty: CUPTI counters off: --no-counters given; drop it to "
            "collect CUPTI counters.") in lines
    for p in PROBLEMS:
        for row in table_rows(md, "Design", after=f"### {p.heading}").values():
            assert row["DRAM read / operand bytes (bits / int32)"] == "— / —"
            assert row["L2 hit % (bits / int32)"] == "— / —"
    row = table_rows(md, "Design", after=f"### {P8K.heading}")["wgmma_and_sm90"]
    assert row["Roofline bound (bits / int32)"] == "compute / memory"   # needs no counters
    square, speed, md_path = report.render(results, tmp_path / "out", instr_results=br.load(INSTR_SMALL))
    assert square.read_bytes().startswith(PNG_SIGNATURE) and speed.read_bytes().startswith(PNG_SIGNATURE)
    assert md_path.read_text() == md.replace("](sq.png)", "](r.bmm_square.png)").replace(
        "](sp.png)", "](r.bmm_speedup.png)")


def test_skipped_design_and_errors(bmm_doc, write_doc):
    _skip_design(bmm_doc, "wgmma_and_sm90")
    name = _run_name("popc_u64", P4K, "bits")
    _drop(bmm_doc, "popc_u64", P4K, "bits")
    bmm_doc["benchmarks"].append({"name": name, "run_name": name, "run_type": "iteration",
                                  "error_occurred": True, "error_message": "launch failed"})
    bmm_doc["benchmarks"][0]["cupti.lts__t_sector_hit_rate.pct"] = None   # as GB writes 0/0
    md = _markdown(br.load(write_doc(bmm_doc)))
    assert table_rows(md, "Design", after="## Designs")["wgmma_and_sm90"]["Status"] == "skipped"
    for p in PROBLEMS:
        row = table_rows(md, "Design", after=f"### {p.heading}")["wgmma_and_sm90"]
        assert (row["TOPS bits, median [min–max]"], row["TOPS int32, median [min–max]"]) == (
            "skipped", "skipped")
    row = table_rows(md, "Design", after=f"### {P4K.heading}")["popc_u64"]
    assert row["TOPS bits, median [min–max]"] == "—"
    # 4096³: popc_u32 is now the best software popcount.
    assert "4096³ `popc_u32` 55.0 TOPS" in section_text(md, "Speedup over the baselines (bits output)")
    skipped = section_text(md, "Skipped").splitlines()
    assert "- `wgmma_and_sm90`: needs sm_90a (wgmma)" in skipped
    assert ("- `popc_u32` `m:16384/n:16384/k:16384/out:bits`: past 8192^3 this design takes tens "
            "of seconds a launch: not swept") in skipped
    assert f"- `{name}`: launch failed" in skipped


# ------------------------------------------------------------ render, CLI, rebuild_all

def test_render_finds_instr_and_is_deterministic(gpu_dir, tmp_path):
    results = br.load(gpu_dir / "bmm-1.json")
    first = report.render(results)
    again = report.render(results)
    other = report.render(results, tmp_path / "b")
    assert [p.name for p in first] == ["bmm-1.bmm_square.png", "bmm-1.bmm_speedup.png", "bmm-1.md"]
    assert all(p.parent == gpu_dir for p in first)
    for png in first[:2]:
        data = png.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again] == \
        [p.read_bytes() for p in other]
    md = first[2].read_text()
    assert (f"- **Instruction peaks:** `{INSTR_NAME}` (the newest instr file beside this one): "
            "wgmma b1 AND 14,500.0 TOPS (`wgmma_and_m64n256k256_ss`); mma.sync m16n8k256 AND "
            "4,000.0 TOPS (`mma_and_m16n8k256`); WMMA m8n8k128 XOR 2,000.0 TOPS "
            "(`wmma_xor_m8n8k128`)") in md.splitlines()
    assert "](bmm-1.bmm_square.png)" in md and "](bmm-1.bmm_speedup.png)" in md
    # Peaks draw lines on the TOPS plot: without them the picture differs.
    bare = bm.render(br.load(gpu_dir / "bmm-1.json"), tmp_path / "c", br.load(INSTR_SMALL))
    assert bare[0].read_bytes() == first[0].read_bytes()   # the same peaks, handed over
    (gpu_dir / INSTR_NAME).unlink()
    none = report.render(br.load(gpu_dir / "bmm-1.json"), tmp_path / "d")
    assert none[0].read_bytes() != first[0].read_bytes()
    assert none[1].read_bytes() == first[1].read_bytes()   # speedups need no peaks


def test_render_header(gpu_dir):
    md = report.render(br.load(gpu_dir / "bmm-1.json"))[2].read_text()
    lines = md.splitlines()
    for line in ["# btcbench bmm: NVIDIA H100 80GB HBM3",
                 "Source: `bmm-1.json`",
                 "- **L2:** 50 MiB",
                 "- **Git commit:** `0123abcd4567ef890123abcd4567ef890123abcd` (v0.1.0-12-g0123abcd)",
                 "- **Counters:** on (4 metrics)",
                 "- **DRAM bandwidth (roofline):** 3.35 TB/s (the H100 SXM5 80 GB HBM3 datasheet "
                 "figure for `NVIDIA H100 80GB HBM3`, not measured)"]:
        assert line in lines
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == ["## What this suite measures", "## Designs", "## Problems",
                        "## Speedup over the baselines (bits output)", "## Performance goals (H100)",
                        "## The paper's BMM comparison beside ours", "## Skipped"]
    assert [line for line in lines if line.startswith("### ")] == [f"### {p.heading}" for p in PROBLEMS]


def test_render_with_no_runs_and_other_suite(bmm_doc, write_doc, tmp_path):
    bmm_doc["benchmarks"] = []
    bmm_doc["btcbench"]["skipped"] = []
    outputs = bm.render(br.load(write_doc(bmm_doc)), tmp_path / "empty")
    assert all(p.read_bytes().startswith(PNG_SIGNATURE) for p in outputs[:2])
    md = outputs[2].read_text()
    assert "No problem in this file." in md
    assert "No square problem with a tensor-core design in this file." in md
    bmm_doc["btcbench"]["suite"] = "membw"
    with pytest.raises(br.ResultsError, match="suite is 'membw', not 'bmm'"):
        bm.render(br.load(write_doc(bmm_doc)), tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_render_rejects_a_non_instr_peaks_file(bmm_path, tmp_path):
    with pytest.raises(br.ResultsError, match="suite is 'bmm', not 'instr'"):
        bm.render(br.load(bmm_path), tmp_path / "x", br.load(bmm_path))
    assert not (tmp_path / "x").exists()


def test_cli(tmp_path, capsys, gpu_dir, repo_root):
    script = subprocess.run([sys.executable, "-m", "analysis.report",
                             str(gpu_dir / "bmm-1.json"), "--out-dir", str(tmp_path / "out")],
                            capture_output=True, text=True, cwd=repo_root)
    assert (script.returncode, script.stderr) == (0, "")
    assert script.stdout.splitlines() == [f"wrote {tmp_path / 'out' / name}" for name in
                                          ("bmm-1.bmm_square.png", "bmm-1.bmm_speedup.png", "bmm-1.md")]
    assert f"`{INSTR_NAME}` (the newest instr file beside this one)" in (
        tmp_path / "out" / "bmm-1.md").read_text()
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert report.main([str(bad)]) == 1
    assert f"error: {bad}: top level is not a JSON object" in capsys.readouterr().err


def test_rebuild_all_picks_up_bmm(gpu_dir, capsys, bmm_doc):
    (gpu_dir / "bmm-2.json").write_text(json.dumps(counters_off(bmm_doc)))
    assert report.RENDERERS["bmm"] is bm.render
    assert rebuild_all.main(["--results-dir", str(gpu_dir.parent)]) == 0
    stem = INSTR_NAME.removesuffix(".json")
    assert capsys.readouterr().out.splitlines() == [
        *(f"ok      {gpu_dir / f'bmm-{i}.json'} -> bmm-{i}.bmm_square.png, bmm-{i}.bmm_speedup.png, "
          f"bmm-{i}.md" for i in (1, 2)),
        f"ok      {gpu_dir / INSTR_NAME} -> {stem}.throughput.png, {stem}.md"]
    for i in (1, 2):
        md = (gpu_dir / f"bmm-{i}.md").read_text()
        assert f"`{INSTR_NAME}` (the newest instr file beside this one)" in md
        assert "- **`wgmma_and_sm90` ≥ 85% of the measured wgmma b1 AND peak**: met" in md


def test_launch_field_in_the_header(bmm_doc, write_doc):
    """btcbench.launch (files since 2026-12-04) says whether the kernels
    launched as programmatic dependents, and why not; older files have no line."""
    assert not any(line.startswith("- **Programmatic dependent launch:**")
                   for line in _markdown(br.load(write_doc(bmm_doc))).splitlines())
    bmm_doc["btcbench"]["launch"] = {"programmatic_dependent": True, "reason": ""}
    assert "- **Programmatic dependent launch:** on" in _markdown(br.load(write_doc(bmm_doc))).splitlines()
    bmm_doc["btcbench"]["launch"] = {"programmatic_dependent": False, "reason": "BTC_NO_PDL is set"}
    assert ("- **Programmatic dependent launch:** off: BTC_NO_PDL is set"
            in _markdown(br.load(write_doc(bmm_doc))).splitlines())
