from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from analysis import bconv_report as bc
from analysis import bmm_report as bm
from analysis import btcresults as br
from analysis import rebuild_all, report
from conftest import BCONV_SMALL, INSTR_SMALL, PNG_SIGNATURE, section_text

# The fixture's construction (its _comment): DRAM copy bandwidth, ResNet-18's
# layers in network order, the fastest design's time over the floor per layer
# at batch 256 (bits), and every other design's time as a multiple of it.
BW = 3.0e12
LAYERS = [bc.Layer(56, 64, 64, 3, 1), bc.Layer(28, 128, 128, 3, 1), bc.Layer(14, 256, 256, 3, 1),
          bc.Layer(7, 512, 512, 3, 1), bc.Layer(56, 64, 128, 3, 2), bc.Layer(28, 128, 256, 3, 2),
          bc.Layer(14, 256, 512, 3, 2), bc.Layer(56, 64, 128, 1, 2), bc.Layer(28, 128, 256, 1, 2),
          bc.Layer(14, 256, 512, 1, 2)]
FLOOR_FACTOR = [1.2, 1.4, 2.0, 1.3, 1.45, 3.0, 1.1, 4.0, 5.0, 6.0]
BEST = "bconv_wgmma_and_sm90"
SLOWER = {BEST: 1.0, "bconv_mma_and_sm90": 2.5, "bconv_popc_u32": 16.0, "bconv_popc_u64": 12.0,
          "bconv_cudnn_f16": 6.0, "bconv_cudnn_s8": 3.0}
POPC_SPEEDUP = [12.0, 8.0, *[12.0] * 8]               # best popc is popc_u64 (x8 at layer 1)
CUDNN_F16_SPEEDUP = [6.0, 6.0, 4.0, 6.0, 6.0, 6.0, None, 6.0, 6.0, 6.0]   # skipped at layer 6
GOAL_VERDICTS = ["met", "not met", "not met", "met", "met", "not met", "not measured"]
PAPER_POINT = bc.Problem(16, 64, 128, 128, 3, 1)        # in all four of the paper's sweeps
INSTR_NAME = "instr-20261127T222002Z-0123abc.json"
WGMMA_PEAK = 14500.0                                    # instr_small.json's wgmma b1 AND


def at(layer: bc.Layer, n: int = 256) -> bc.Problem:
    return bc.Problem(n, layer.hw, layer.c, layer.k, layer.rs, layer.stride)


def bits_bytes(p: bc.Problem) -> int:
    """x + w + the bits output, written out for the shapes of the fixture."""
    words = (p.c + 31) // 32
    out_hw = (p.hw + 2 * (p.rs // 2) - p.rs) // p.stride + 1
    return p.n * p.hw ** 2 * words * 4 + p.k * p.rs ** 2 * words * 4 + p.n * out_hw ** 2 * ((p.k + 31) // 32) * 4


@pytest.fixture
def data(bconv_path):
    return bc.collect(br.load(bconv_path))


def _peaks(instr=INSTR_SMALL):
    loaded = br.load(instr) if instr else None
    return bm.Peaks(loaded, "given", bm.instr_peaks(loaded))


def _markdown(results, instr=INSTR_SMALL):
    return bc.markdown_report(results, bc.collect(results), _peaks(instr), ["a.png", "b.png", "c.png", "d.png"])


def _row(md: str, after: str, layer: str, batch: int) -> dict[str, str]:
    """The ResNet table row of (layer, batch) under the heading `after`."""
    lines = md.splitlines()
    start = next(i for i in range(lines.index(after), len(lines)) if lines[i].startswith("| Layer |"))
    header = [c.strip() for c in lines[start].strip("|").split(" | ")]
    for line in lines[start + 2:]:
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if cells[0] == layer and cells[1] == str(batch):
            return dict(zip(header, cells))
    raise KeyError((layer, batch))


@pytest.fixture
def gpu_dir(tmp_path, bconv_path):
    """A results folder as the harness leaves it: bconv-1.json beside an instr file."""
    gpu = tmp_path / "nvidia-h100-80gb-hbm3"
    gpu.mkdir()
    shutil.copy(bconv_path, gpu / "bconv-1.json")
    shutil.copy(INSTR_SMALL, gpu / INSTR_NAME)
    return gpu


# ------------------------------------------------------------ loading and names

def test_load_fixture(bconv_path, bconv_doc):
    assert "TEST FIXTURE" in bconv_doc["btcbench"]["_comment"]
    results = br.load(bconv_path)
    assert results.suite == "bconv"
    data = bc.collect(results)
    assert [d.name for d in data.tensor_designs] == [BEST, "bconv_wgmma_and_sm90_ws", "bconv_mma_and_sm90"]
    assert data.resnet_layers == LAYERS
    assert data.groups[PAPER_POINT] == ("paper_input_size", "paper_filter", "paper_batch", "paper_channels")
    assert data.groups[at(LAYERS[0], 1)] == ("resnet18",)
    assert [p.n for p in data.resnet_problems if p.layer == LAYERS[0]] == [1, 16, 256]


def test_parse_names():
    name = bc.parse_bconv_name(f"bconv/{BEST}/n:256/hw:56/c:64/k:128/rs:1/stride:2/out:int32/manual_time")
    assert name == bc.BconvName(BEST, bc.Problem(256, 56, 64, 128, 1, 2), "int32")
    for bad in ("bconv/x/n:256/hw:56/c:64/k:128/rs:1/out:int32/manual_time",        # no stride
                "bconv/x/n:0/hw:56/c:64/k:128/rs:1/stride:2/out:int32/manual_time",  # empty batch
                "bconv/x/n:1/hw:56/c:64/k:128/rs:1/stride:2/out:fp16/manual_time",
                "bmm/x/m:1/n:1/k:1/out:bits/manual_time"):
        with pytest.raises(ValueError, match="does not match"):
            bc.parse_bconv_name(bad)


def test_problem_arithmetic():
    first, down = at(LAYERS[0]), at(LAYERS[7])
    assert (first.out_hw, down.out_hw, at(LAYERS[4]).out_hw) == (56, 28, 28)
    assert first.ops == 2.0 * 256 * 56 * 56 * 64 * 9 * 64
    # 256·56²·2 words·4 B of activations, 64·9·2·4 B of weights, 256·56²·64 bits out.
    assert first.bytes_moved("bits") == 6_422_528 + 4_608 + 6_422_528
    assert first.bytes_moved("int32") == 6_422_528 + 4_608 + 256 * 56 * 56 * 64 * 4
    assert bc.Problem(1, 8, 33, 40, 3, 1).bytes_moved("bits") == 64 * 2 * 4 + 40 * 9 * 2 * 4 + 64 * 2 * 4
    for layer in LAYERS:
        assert at(layer).bytes_moved("bits") == bits_bytes(at(layer))


# ------------------------------------------------------------ the numbers

def test_floors_and_best_design(data, bconv_path):
    assert bc.dram_bandwidth(br.load(bconv_path)) == BW
    for i, layer in enumerate(LAYERS):
        best = data.best_tensor(at(layer), "bits")
        assert best.design.name == BEST
        assert best.floor_s(BW) == pytest.approx(bits_bytes(at(layer)) / BW)
        assert best.floor_s(BW) * 1e6 == pytest.approx(best.run.counter("floor_us"))
        assert best.time_over_floor(BW) == pytest.approx(FLOOR_FACTOR[i])
        assert best.tops == pytest.approx(at(layer).ops / (bits_bytes(at(layer)) / BW * FLOOR_FACTOR[i]) / 1e12)
    assert data.best_tensor(at(LAYERS[0]), "int32").time_over_floor(BW) == pytest.approx(
        1.2 * 1.5 * at(LAYERS[0]).bytes_moved("bits") / at(LAYERS[0]).bytes_moved("int32"))


def test_speedups(data):
    for i, layer in enumerate(LAYERS):
        p = at(layer)
        best = data.best_tensor(p, "bits")
        popc = data.best_popc(p, "bits")
        assert popc.design.name == "bconv_popc_u64"
        assert bc.speedup(best, popc) == pytest.approx(POPC_SPEEDUP[i])
        f16 = bc.speedup(best, data.get(bc.CUDNN_F16, p, "bits"))
        assert f16 == (None if CUDNN_F16_SPEEDUP[i] is None else pytest.approx(CUDNN_F16_SPEEDUP[i]))
        assert bc.speedup(best, data.get(bc.CUDNN_S8, p, "bits")) == pytest.approx(3.0)
        for design, slower in SLOWER.items():
            run = data.get(design, p, "bits")
            if run.run is not None and (design, i) not in {("bconv_popc_u32", 1), ("bconv_popc_u64", 1),
                                                           (bc.CUDNN_F16, 2)}:
                assert run.time_s == pytest.approx(best.time_s * slower)
    assert data.get(bc.CUDNN_F16, at(LAYERS[6]), "bits").skip_reason == \
        "fixture: cuDNN found no plan for this layer"


def test_resnet_table(bconv_path):
    md = _markdown(br.load(bconv_path))
    row = _row(md, "### bits output", LAYERS[1].label, 256)
    assert row["Best tensor-core design"] == f"`{BEST}`"
    assert row["Time / floor"] == "1.40"
    assert (row["× best popc"], row["× cuDNN f16"], row["× cuDNN s8"]) == ("8.00×", "6.00×", "3.00×")
    floor_us = bits_bytes(at(LAYERS[1])) / BW * 1.4 * 1e6
    assert row["Time µs, median [min–max]"] == f"{floor_us:,.2f} [{floor_us / 1.02:,.2f}–{floor_us / 0.98:,.2f}]"
    tops = at(LAYERS[1]).ops / (floor_us * 1e-6) / 1e12
    assert row["TOPS"] == f"{tops:,.1f}"
    assert row["% of instr peak"] == f"{100 * tops / WGMMA_PEAK:.1f}"
    assert _row(md, "### bits output", LAYERS[6].label, 256)["× cuDNN f16"] == "—"
    small = _row(md, "### bits output", LAYERS[0].label, 1)
    assert float(small["Graph-replay µs"]) == pytest.approx(
        0.7 * bits_bytes(at(LAYERS[0], 1)) / BW * 8 * 1e6, abs=0.006)
    # int32: only the layers run with that output get a row.
    int32 = section_text(md, "ResNet-18 layers").split("### int32 output", 1)[1]
    assert int32.count(f"`{BEST}`") == 4 and LAYERS[4].label not in int32


def test_half_output(bconv_doc, write_doc):
    """The fused Bi-Real output (out:half): parsed, its bytes (x, w, y and
    the shortcut at 2 B an element, the bits), and a ResNet section of its
    own only in a file that times it."""
    p = at(LAYERS[0])
    name = f"bconv/{BEST}/n:256/hw:56/c:64/k:64/rs:3/stride:1/out:half/manual_time"
    assert bc.parse_bconv_name(name) == bc.BconvName(BEST, p, "half")
    assert p.bytes_moved("half") == 6_422_528 + 4_608 + 256 * 56 * 56 * 64 * (2 + 2) + 6_422_528
    assert "### half output" not in _markdown(br.load(write_doc(bconv_doc)))
    doc = json.loads(json.dumps(bconv_doc))
    int32 = [b for b in doc["benchmarks"] if b["run_name"] == name.replace("out:half", "out:int32")]
    assert int32, "the fixture times BEST on layer 1 at batch 256 with int32"
    for b in int32:
        half = dict(b, name=b["name"].replace("out:int32", "out:half"), run_name=name)
        doc["benchmarks"].append(half)
    md = _markdown(br.load(write_doc(doc)))
    assert _row(md, "### half output", LAYERS[0].label, 256)["Best tensor-core design"] == f"`{BEST}`"
    half_section = section_text(md, "ResNet-18 layers").split("### half output", 1)[1]
    assert LAYERS[1].label not in half_section.split("###", 1)[0]


def test_goals(data, bconv_path):
    goals = bc.layer_goals(data, BW)
    assert [g.layer for g in goals] == LAYERS[:7]
    assert [g.verdict for g in goals] == GOAL_VERDICTS
    assert [g.floor.value for g in goals] == pytest.approx(FLOOR_FACTOR[:7])
    assert [g.popc.value for g in goals] == pytest.approx(POPC_SPEEDUP[:7])
    assert goals[6].cudnn.verdict == "not measured" and "cuDNN found no plan" in goals[6].cudnn.text
    assert goals[4].floor.text == "1.45× met"
    md = _markdown(br.load(bconv_path))
    goal_text = section_text(md, "Goals")
    assert f"{sum(g.verdict == 'met' for g in bc.layer_goals(data, BW, _peaks()))} of 7 3×3 layers meet every goal." in goal_text
    # The markdown has instr peaks: each floor is the larger of DRAM and compute at the best b1 peak.
    with_peaks = bc.layer_goals(data, BW, _peaks())
    for g, dram_only in zip(with_peaks, goals):
        if g.best is None:
            continue
        roof = g.roofline
        assert roof.peak.tops == WGMMA_PEAK and roof.dram_s == pytest.approx(g.best.floor_s(BW))
        assert roof.compute_s == pytest.approx(g.best.problem.ops / (WGMMA_PEAK * 1e12))
        assert roof.floor_s == max(roof.dram_s, roof.compute_s)
        assert g.floor.value == pytest.approx(dram_only.floor.value * roof.dram_s / roof.floor_s)
        assert roof.binds == ("compute" if roof.compute_s > roof.dram_s else "DRAM")
    g2 = with_peaks[2]
    assert g2.roofline.binds == "compute", "14²×256 at batch 256 does 59 G ops: 4.1 µs at 14.5K TOPS, 1.1 µs of DRAM"
    assert (f"| {LAYERS[2].label} | `{BEST}` | {g2.best.time_s * 1e6:,.1f} | {g2.roofline.text} | {g2.floor.text} "
            f"| 12.00× met | 4.00× not met | not met |") in goal_text
    assert "the compute floor at the best measured b1 peak, wgmma b1 AND 14,500.0 TOPS" in goal_text


def test_without_measured_bandwidth(bconv_doc, write_doc):
    del bconv_doc["btcbench"]["peaks"]["dram_copy_bytes_per_s"]
    bconv_doc["btcbench"]["peaks"]["dram_copy_error"] = "out of memory"
    results = br.load(write_doc(bconv_doc))
    data = bc.collect(results)
    assert bc.dram_bandwidth(results) is None
    assert {g.floor.verdict for g in bc.layer_goals(data, None)} == {"not measured"}
    md = _markdown(results)
    assert "- **DRAM bandwidth (floors):** — (not measured: out of memory; no floors)" in md.splitlines()
    assert _row(md, "### bits output", LAYERS[0].label, 256)["Time / floor"] == "—"


def test_paper_sweeps(bconv_path):
    md = _markdown(br.load(bconv_path))
    text = section_text(md, "The paper's sweeps")
    for group in bc.PAPER_SWEEPS:
        assert f"### {group}" in text
    batch = text.split("### paper_batch", 1)[1].split("###", 1)[0]
    assert "| 8 | 6,000.0 | 2,400.0 |" in batch and "| 16 | 8,000.0 |" in batch and "| 32 | 9,500.0 |" in batch


def test_skipped_section(bconv_path):
    skipped = section_text(_markdown(br.load(bconv_path)), "Skipped").splitlines()
    assert "- `bconv_wgmma_and_sm90_ws`: fixture: needs sm_90a code (a compute_90 pass runs here)" in skipped
    assert any(line.startswith("- `bconv_cudnn_s8` `n:1/hw:56/c:64/k:64/rs:3/stride:1/out:bits/graph`: "
                               "graph replay timing") for line in skipped)


# ------------------------------------------------------------ render, CLI, rebuild_all

def test_render_writes_plots_and_is_deterministic(bconv_path, tmp_path):
    first = bc.render(br.load(bconv_path), tmp_path / "a", br.load(INSTR_SMALL))
    again = bc.render(br.load(bconv_path), tmp_path / "b", br.load(INSTR_SMALL))
    assert [p.name for p in first] == ["bconv_small.bconv_layers.png", "bconv_small.bconv_floor.png",
                                       "bconv_small.bconv_speedup.png", "bconv_small.bconv_paper.png",
                                       "bconv_small.md"]
    for png in first[:4]:
        data = png.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]
    md = first[4].read_text()
    for png in first[:4]:
        assert f"]({png.name})" in md
    # The peak lines are drawn only with instr results.
    bare = bc.render(br.load(bconv_path), tmp_path / "c")
    assert bare[0].read_bytes() != first[0].read_bytes()
    assert bare[1].read_bytes() == first[1].read_bytes()


def test_render_with_no_runs_and_other_suite(bconv_doc, write_doc, tmp_path):
    bconv_doc["benchmarks"] = []
    bconv_doc["btcbench"]["skipped"] = []
    outputs = bc.render(br.load(write_doc(bconv_doc)), tmp_path / "empty")
    assert all(p.read_bytes().startswith(PNG_SIGNATURE) for p in outputs[:4])
    md = outputs[4].read_text()
    assert "No ResNet-18 layer in this file." in md and "No paper-sweep point in this file." in md
    bconv_doc["btcbench"]["suite"] = "bmm"
    with pytest.raises(br.ResultsError, match="suite is 'bmm', not 'bconv'"):
        bc.render(br.load(write_doc(bconv_doc)), tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_off_grammar_name_is_a_results_error(bconv_doc, write_doc):
    entry = bconv_doc["benchmarks"][0]
    entry["run_name"] = entry["run_name"].replace("/stride:1", "")
    entry["name"] = entry["run_name"] + "_median"
    with pytest.raises(br.ResultsError, match="does not match") as info:
        bc.collect(br.load(write_doc(bconv_doc)))
    assert "\n" not in str(info.value)


def test_composer_finds_instr_beside(gpu_dir):
    assert report.RENDERERS["bconv"] is bc.render
    outputs = report.render(br.load(gpu_dir / "bconv-1.json"))
    assert all(p.parent == gpu_dir for p in outputs)
    assert (f"- **Instruction peaks:** `{INSTR_NAME}` (the newest instr file beside this one): wgmma b1 AND "
            "14,500.0 TOPS") in outputs[4].read_text()


def test_rebuild_all_picks_up_bconv(gpu_dir, capsys):
    assert rebuild_all.main(["--results-dir", str(gpu_dir.parent)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"ok      {gpu_dir / 'bconv-1.json'} -> bconv-1.bconv_layers.png, bconv-1.bconv_floor.png, "
                      "bconv-1.bconv_speedup.png, bconv-1.bconv_paper.png, bconv-1.md")
    assert "3 of 7 3×3 layers meet every goal." in (gpu_dir / "bconv-1.md").read_text()


def _one_line_error(p: subprocess.CompletedProcess[str], text: str) -> None:
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], p.stderr


def test_cli_one_line_errors(tmp_path, repo_root, bconv_doc):
    run = lambda *args: subprocess.run([sys.executable, "-m", "analysis.report", *args], cwd=repo_root,  # noqa: E731
                                       capture_output=True, text=True, timeout=120)
    corrupt = tmp_path / "bconv-corrupt.json"
    corrupt.write_text(BCONV_SMALL.read_text()[:5000])
    _one_line_error(run(str(corrupt)), "not valid JSON")
    _one_line_error(run(str(tmp_path / "missing.json")), "cannot read")
    bconv_doc["benchmarks"][0]["run_name"] = "bconv/x/n:1/manual_time"
    off = tmp_path / "bconv-off.json"
    off.write_text(json.dumps(bconv_doc))
    _one_line_error(run(str(off)), "does not match")
    (tmp_path / "plain").write_text("x")
    _one_line_error(run(str(BCONV_SMALL), "--out-dir", str(tmp_path / "plain")), "cannot write the report of")
    ok = run(str(BCONV_SMALL), "--out-dir", str(tmp_path / "out"), "--instr", str(INSTR_SMALL))
    assert (ok.returncode, ok.stderr) == (0, "")
    assert "`instr_small.json` (given)" in (tmp_path / "out" / "bconv_small.md").read_text()
