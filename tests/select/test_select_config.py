"""formats/select_config.py: ranking, arch detection, errors, generated output.

The fixtures live here rather than in a conftest.py: tests/analysis imports
helpers with `from conftest import ...`, which a second conftest module would
shadow when both directories run in one pytest session. The module under test
and analysis/btcresults.py are imported by path (neither directory is a package).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import resultsgen as rg  # noqa: E402


@pytest.fixture(scope="module")
def sc() -> Any:
    return rg.load_select()


@pytest.fixture
def write_doc(tmp_path: Path) -> Callable[..., Path]:
    """write_doc(doc, name) -> the path of doc written as JSON under tmp_path/results/."""
    return lambda doc, name: rg.write(tmp_path / "results" / name, doc)


@pytest.fixture
def load(sc: Any, write_doc: Callable[..., Path]) -> Callable[..., Any]:
    """load(doc, name) -> btcresults.Results of doc written to a file."""
    return lambda doc, name="r.json": sc.load_file(write_doc(doc, name))


@pytest.fixture
def run_cli(sc: Any, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """run_cli(*args) -> (exit status, stdout, stderr) of select_config.main."""
    def go(*args: Any) -> tuple[int, str, str]:
        rc = sc.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return rc, out, err
    return go

H100_DIR = REPO / "results" / "nvidia-h100-80gb-hbm3"
CHECKED_IN = REPO / "kernels" / "generated"
ALL_OUTPUTS = ("bmm_config.h",) + tuple(f"bmm_config_sm{a}.{ext}" for a in (75, 80, 90) for ext in ("h", "md"))


def names(cands):
    return [c.name for c in cands]


def config_block(header: str, const: str) -> str:
    m = re.search(rf"inline constexpr BmmConfig {const}\{{(.*?)\}};", header, re.S)
    assert m, const
    return m[1]


def field(header: str, const: str, name: str) -> str:
    m = re.search(rf"/\*{name}\*/ ([^,}}]+)", config_block(header, const))
    assert m, (const, name)
    return m[1].strip().strip('"')


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(directory.iterdir())} \
        if directory.exists() else {}


# ====================================================================== ranking

def test_rank_mma_and_forms_by_best_tput(sc, load):
    r = load(rg.instr_doc({
        "mma_and_m16n8k128": 7400.0,
        "mma_and_m16n8k256": {"tops": 9000.0, "extra": [(16, 4, 10500.0)]},   # best config wins
        "mma_and_m8n8k128": 3900.0,
        "wgmma_and_m64n128k256_ss": 15000.0,                                  # not an mma_and form
    }, skipped={"mma_and_m16n8k64": "not a real form"}))
    ranked = sc.rank_mma_and_forms(r)
    assert names(ranked) == ["mma_and_m16n8k256", "mma_and_m16n8k128", "mma_and_m8n8k128"]
    assert ranked[0].tops == 10500.0 and ranked[0].config == "wps 16, ilp 4"
    assert ranked[0].lo < 10500.0 < ranked[0].hi          # spread from the min/max repetition times
    assert ranked[0].latency_cycles == 24.0


def test_rank_mma_and_exact_tie_is_deterministic(sc, load):
    r = load(rg.instr_doc({"mma_and_m16n8k256": 100.0, "mma_and_m16n8k128": 100.0}))
    assert names(sc.rank_mma_and_forms(r)) == ["mma_and_m16n8k128", "mma_and_m16n8k256"]


def test_rank_missing_suite_or_forms(sc, load):
    assert sc.rank_mma_and_forms(None) == []
    assert sc.rank_wgmma_and_forms(None) == []
    assert sc.rank_layouts(None, "mma_and") == []
    r = load(rg.instr_doc({"wmma_xor_m8n8k128": 800.0},
                          skipped={"wgmma_and_m64n256k256_ss": "needs sm_90a; device is sm_80"}))
    assert sc.rank_mma_and_forms(r) == []
    assert sc.rank_wgmma_and_forms(r) == []
    assert sc.skipped_forms(r, sc.WGMMA_AND_RE) == (("wgmma_and_m64n256k256_ss", "needs sm_90a; device is sm_80"),)


def test_rank_wgmma_prefers_larger_n_within_two_percent(sc, load):
    r = load(rg.instr_doc({
        "wgmma_and_m64n64k256_ss": 15750.0,     # best TOPS
        "wgmma_and_m64n128k256_ss": 15500.0,    # 98.4%: tied, larger N
        "wgmma_and_m64n256k256_ss": 15400.0,    # 97.8%: not tied
        "wgmma_and_m64n32k256_rs": 15740.0,
    }))
    ranked = sc.rank_wgmma_and_forms(r)
    assert names(ranked) == ["wgmma_and_m64n128k256_ss", "wgmma_and_m64n64k256_ss",
                             "wgmma_and_m64n32k256_rs", "wgmma_and_m64n256k256_ss"]
    assert ranked[0].n == 128 and ranked[0].a_source == "ss"
    assert "within 2%" in ranked[0].note and "more than 2%" in ranked[-1].note


def test_rank_wgmma_boundary_and_ss_over_rs(sc, load):
    r = load(rg.instr_doc({
        "wgmma_and_m64n64k256_ss": 10000.0,
        "wgmma_and_m64n256k256_ss": 9800.0,     # exactly 98%: tied
        "wgmma_and_m64n256k256_rs": 9900.0,     # same N, faster, but rs
    }))
    assert names(sc.rank_wgmma_and_forms(r))[:2] == ["wgmma_and_m64n256k256_ss", "wgmma_and_m64n256k256_rs"]
    assert names(sc.rank_wgmma_and_forms(r, tie=0.0)) == [
        "wgmma_and_m64n64k256_ss", "wgmma_and_m64n256k256_rs", "wgmma_and_m64n256k256_ss"]


def test_rank_layouts(sc, load):
    r = load(rg.layout_doc({
        "mma_and": {"row_u32": 567.0, "tile8x128": 968.0, "mma_frag_a16x256": 993.0},
        "wmma_and": {"tile8x128": 2000.0},     # another engine
    }))
    ranked = sc.rank_layouts(r, "mma_and")
    assert names(ranked) == ["mma_frag_a16x256", "tile8x128", "row_u32"]
    assert (ranked[0].a_layout, ranked[0].b_layout) == ("mma_frag_a16x256", "mma_frag_b8x256")
    assert (ranked[1].a_layout, ranked[1].b_layout) == ("tile8x128", "tile8x128")
    assert names(sc.rank_layouts(r, "wgmma_and")) == []


def test_rank_layouts_skips_names_formats_does_not_know(sc, load):
    doc = rg.layout_doc({"mma_and": {"tile8x128": 968.0, "row_u32": 500.0}})
    doc["btcbench"]["forms"]["mma_and_row_u32"]["a_layout"] = "row_u16"
    assert names(sc.rank_layouts(load(doc), "mma_and")) == ["tile8x128"]


def test_all_within(sc):
    c = lambda t: sc.Candidate(name=str(t), tops=t, lo=t, hi=t, run="", source="")   # noqa: E731
    assert sc.all_within([c(100.0), c(98.0)])
    assert not sc.all_within([c(100.0), c(97.9)])
    assert not sc.all_within([])


# ====================================================================== choosing

def test_btc_wmma_layout_is_data_driven(sc, load):
    # row_u32 faster than tile8x128 (an imagined GPU): the data decide; row_u64
    # is faster still but is not a btc_wmma candidate.
    lay = load(rg.layout_doc({"wmma_xor": {"row_u32": 500.0, "tile8x128": 460.0, "row_u64": 600.0}}))
    d = sc.choose_btc_wmma(90, None, None, lay)
    assert (d.config.a_layout, d.config.b_layout) == ("row_u32", "row_u32")
    assert d.config.instruction == "wmma_xor_m8n8k128"
    kinds = {b.field: b.kind for b in d.basis}
    assert kinds["a_layout, b_layout"] == "measured" and kinds["instruction"] == "fixed"
    assert kinds["block_m, block_n"] == kinds["block_k_bits"] == "default"
    assert (d.config.block_m, d.config.block_n, d.config.block_k_bits, d.config.stages, d.config.warps) == \
        (64, 64, 1024, 1, 8)
    assert "not a candidate" in d.rankings[0].candidates[-1].note


def test_btc_wmma_without_layout_suite_uses_the_paper(sc):
    d = sc.choose_btc_wmma(90, None, None, None)
    assert d.config.a_layout == "tile8x128"
    lb = next(b for b in d.basis if b.field == "a_layout, b_layout")
    assert lb.kind == "default" and "no layout results" in lb.why


def test_mma_and_keeps_m16n8k256_when_another_form_wins(sc, load):
    instr = load(rg.instr_doc({"mma_and_m16n8k128": 12000.0, "mma_and_m16n8k256": 10000.0}))
    d = sc.choose_mma_and(80, instr, None, None)
    assert d.config.instruction == "mma_and_m16n8k256"
    ib = d.basis[0]
    assert ib.kind == "fixed" and "mma_and_m16n8k128 ranks first" in ib.why
    assert names(d.rankings[0].candidates) == ["mma_and_m16n8k128", "mma_and_m16n8k256"]
    assert d.rankings[0].candidates[0].note == "the kernel implements m16n8k256 only"


def test_mma_and_layouts(sc, load):
    frag = load(rg.layout_doc({"mma_and": {"tile8x128": 968.0, "mma_frag_a16x256": 993.0}}), "a.json")
    d = sc.choose_mma_and(90, None, None, frag)
    assert (d.config.a_layout, d.config.b_layout) == ("mma_frag_a16x256", "mma_frag_b8x256")
    tile = load(rg.layout_doc({"mma_and": {"tile8x128": 999.0, "mma_frag_a16x256": 993.0}}), "b.json")
    d = sc.choose_mma_and(90, None, None, tile)
    assert (d.config.a_layout, d.config.b_layout) == ("tile8x128", "tile8x128")
    # sm_90 blocks are 256 x 128 (64 x 64 warp tiles), the older archs' 128 x 128
    assert (d.config.block_m, d.config.block_n, d.config.block_k_bits, d.config.stages, d.config.warps) == \
        (256, 128, 1024, 4, 8)
    older = sc.choose_mma_and(80, None, None, tile).config
    assert (older.block_m, older.block_k_bits) == (128, 512)
    d = sc.choose_mma_and(90, None, None, None)
    assert (d.config.a_layout, d.config.b_layout) == ("mma_frag_a16x256", "mma_frag_b8x256")
    assert all(b.kind == "default" for b in d.basis)


def test_wgmma_box_k_mirrors_layout_h(sc):
    # WGMMA_BOX_K restates formats/layout.h box_k_of for Python: keep them equal.
    text = (REPO / "formats" / "layout.h").read_text()
    body = re.search(r"box_k_of\(Layout l\) \{(.*?)\n\}", text, re.S).group(1)
    cases = {m[0]: int(m[1]) for m in re.findall(r"case Layout::(\w+): return (\d+);", body)}
    default = int(re.search(r"default: return (\d+);", body).group(1))
    for name, bits in sc.WGMMA_BOX_K.items():
        assert cases.get(sc.LAYOUT_ENUM[name], default) == bits, name


def test_preferred_wgmma_layout_is_the_widest_swizzle_that_fits_the_stage(sc):
    assert sc.preferred_wgmma_layout(256) == "wgmma_swizzle32"
    assert sc.preferred_wgmma_layout(512) == "wgmma_swizzle64"
    assert sc.preferred_wgmma_layout(2048) == "wgmma_swizzle128"
    assert sc.PREFERRED_WGMMA_LAYOUT == sc.preferred_wgmma_layout(sc.WGMMA_RING[0])


def test_wgmma_tie_prefers_the_widest_fitting_swizzle(sc, load):
    lay = load(rg.layout_doc({"wgmma_and": {"wgmma_interleave": 1094.0, "wgmma_swizzle32": 1090.0,
                                             "wgmma_swizzle64": 1088.0, "wgmma_swizzle128": 1095.0}}))
    d = sc.choose_wgmma_and(90, None, None, lay)
    assert d.config.block_k_bits == 512
    assert d.config.a_layout == d.config.b_layout == "wgmma_swizzle64"
    lb = next(b for b in d.basis if b.field == "a_layout, b_layout")
    assert lb.kind == "tie-break" and "box fits the 512-bit K stage" in lb.why and "not a measurement" in lb.why
    # swizzle128's 1024-bit box cannot be a 512-bit stage: listed, not a candidate
    lays = d.rankings[1].candidates
    assert [c.name for c in lays] == ["wgmma_swizzle64", "wgmma_interleave", "wgmma_swizzle32", "wgmma_swizzle128"]
    assert "wider than the 512-bit K stage" in lays[-1].note
    assert "all 3 candidate layouts" in lb.why
    two = load(rg.layout_doc({"wgmma_and": {"wgmma_interleave": 1094.0, "wgmma_swizzle64": 1090.0}}), "two.json")
    assert "both candidate layouts" in next(b for b in sc.choose_wgmma_and(90, None, None, two).basis
                                            if b.field == "a_layout, b_layout").why


def test_wgmma_clear_winner_is_measured(sc, load):
    lay = load(rg.layout_doc({"wgmma_and": {"wgmma_interleave": 1200.0, "wgmma_swizzle32": 1083.0}}))
    d = sc.choose_wgmma_and(90, None, None, lay)
    assert d.config.a_layout == "wgmma_interleave"
    assert next(b for b in d.basis if b.field == "a_layout, b_layout").kind == "measured"
    # the fastest layout overall does not fit the stage: the fastest that fits wins
    wide = load(rg.layout_doc({"wgmma_and": {"wgmma_interleave": 1080.0, "wgmma_swizzle128": 1190.0}}), "b.json")
    assert sc.choose_wgmma_and(90, None, None, wide).config.a_layout == "wgmma_interleave"


def test_wgmma_block_n_follows_the_instruction(sc, load):
    instr = load(rg.instr_doc({"wgmma_and_m64n128k256_ss": 15700.0, "wgmma_and_m64n256k256_ss": 12000.0}))
    d = sc.choose_wgmma_and(90, instr, None, None)
    assert d.config.instruction == "wgmma_and_m64n128k256_ss"
    assert (d.config.block_m, d.config.block_n, d.config.block_k_bits, d.config.stages, d.config.warps) == \
        (128, 128, 512, 8, 8)
    big = load(rg.instr_doc({"wgmma_and_m64n512k256_ss": 15700.0}), "big.json")   # hypothetical N > 256
    assert sc.choose_wgmma_and(90, big, None, None).config.block_n == 256


def test_wgmma_without_forms_is_default(sc, load):
    instr = load(rg.instr_doc({"mma_and_m16n8k256": 10000.0},
                              skipped={"wgmma_and_m64n128k256_ss": "needs sm_90a"}))
    d = sc.choose_wgmma_and(90, instr, None, None)
    assert d.config.instruction == "wgmma_and_m64n128k256_ss" and d.config.block_n == 128
    assert d.basis[0].kind == "default"
    assert "needs sm_90a" in d.rankings[0].absent


def test_unsupported_designs_are_placeholders(sc):
    d75 = sc.choose_mma_and(75, None, None, None)
    assert not d75.supported and d75.config.instruction == "mma_and_m16n8k256"
    assert not sc.choose_wgmma_and(80, None, None, None).supported
    assert sc.choose_wgmma_and(90, None, None, None).supported


def test_smem_note(sc):
    cfg = sc.Config("wgmma_and", "x", "wgmma_swizzle128", "wgmma_swizzle128", 128, 256, 1024, 4, 8)
    assert "192.0 KiB" in sc.smem_note(cfg, {"smem_per_block_optin_bytes": 232448})
    assert "DOES NOT FIT" in sc.smem_note(cfg, {"smem_per_block_optin_bytes": 101376})
    assert sc.smem_note(cfg, None).endswith("stage buffers.")


# ====================================================================== arch detection

@pytest.mark.parametrize("cc, arch", [("7.5", 75), ("8.0", 80), ("8.6", 80), ("8.9", 80), ("9.0", 90)])
def test_arch_of_cc(sc, cc, arch):
    assert sc.arch_of_cc(cc) == arch


@pytest.mark.parametrize("cc", ["7.0", "10.0", "12.0", "9", "", None, 9.0])
def test_arch_of_cc_rejects(sc, cc):
    with pytest.raises(sc.SelectError):
        sc.arch_of_cc(cc)


def test_arch_disagreement_is_an_error(run_cli, write_doc, tmp_path):
    a = write_doc(rg.instr_doc({"mma_and_m16n8k256": 10000.0}), "instr.json")
    b = write_doc(rg.layout_doc({"mma_and": {"tile8x128": 900.0}}, dev=rg.device("NVIDIA A100", "nvidia-a100", "8.0")),
                  "layout.json")
    out = tmp_path / "gen"
    rc, _, err = run_cli("--results", a, b, "--out", out)
    assert rc == 2
    assert "disagree" in err and "sm_80: layout.json (cc 8.0)" in err and "sm_90: instr.json (cc 9.0)" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_arch_flag_must_match(run_cli, write_doc, tmp_path):
    a = write_doc(rg.instr_doc({"mma_and_m16n8k256": 10000.0}), "instr.json")
    rc, _, err = run_cli("--results", a, "--arch", "80", "--out", tmp_path / "gen")
    assert rc == 2 and "--arch 80" in err and "sm_90" in err
    assert not (tmp_path / "gen").exists()


def test_unknown_gpu_is_used_for_its_arch(run_cli, write_doc, tmp_path):
    dev = rg.device('NVIDIA Hopper "Next" Edition', "nvidia-hopper-next-edition", "9.0")
    a = write_doc(rg.instr_doc({"mma_and_m16n8k256": 10000.0, "wgmma_and_m64n256k256_ss": 15000.0}, dev=dev),
                  "instr.json")
    out = tmp_path / "gen"
    rc, _, err = run_cli("--results", a, "--out", out)
    assert rc == 0, err
    header = (out / "bmm_config_sm90.h").read_text()
    assert r'NVIDIA Hopper \"Next\" Edition' in header          # escaped in kSource
    assert field(header, "kWgmmaAnd", "instruction") == "wgmma_and_m64n256k256_ss"
    assert field(header, "kWgmmaAnd", "block_n") == "256"
    assert "no stride/layout results" in header


def test_ampere_results_make_sm80(run_cli, write_doc, tmp_path):
    dev = rg.device("NVIDIA RTX A6000", "nvidia-rtx-a6000", "8.6")
    a = write_doc(rg.instr_doc({"mma_and_m16n8k256": 5000.0}, dev=dev,
                               skipped={"wgmma_and_m64n256k256_ss": "needs sm_90a; device is sm_86"}), "instr.json")
    out = tmp_path / "gen"
    rc, _, err = run_cli("--results", a, "--out", out)
    assert rc == 0, err
    header = (out / "bmm_config_sm80.h").read_text()
    assert "wgmma_and unsupported on sm_80" in header
    assert field(header, "kMmaAnd", "a_layout") == "bits::Layout::kMmaFragA16x256"
    # the other arches did not exist yet: they get the built-in defaults
    assert "built-in defaults (no results)" in (out / "bmm_config_sm90.h").read_text()


# ====================================================================== file errors

def _one_line_error(err: str, path: Path) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("select_config: error: ") and str(path) in lines[0]


def test_corrupt_json(run_cli, tmp_path):
    bad = tmp_path / "results" / "instr-bad.json"
    bad.parent.mkdir()
    bad.write_text('{"benchmarks": [')
    out = tmp_path / "gen"
    rc, _, err = run_cli("--results-dir", bad.parent, "--out", out)
    assert rc == 2 and "not valid JSON" in err
    _one_line_error(err, bad)
    assert not out.exists()


def test_plain_google_benchmark_file(run_cli, write_doc, tmp_path):
    good = write_doc(rg.instr_doc({"mma_and_m16n8k256": 10000.0}), "instr.json")
    doc = rg.layout_doc({"mma_and": {"tile8x128": 900.0}})
    del doc["btcbench"]
    plain = write_doc(doc, "gbench.json")
    out = tmp_path / "gen"
    out.mkdir()
    before = snapshot(out)
    rc, _, err = run_cli("--results", good, plain, "--out", out)
    assert rc == 2 and "plain Google Benchmark file" in err
    _one_line_error(err, plain)
    assert snapshot(out) == before


def _set_schema(doc):
    doc["btcbench"]["schema"] = "btcbench.results.v0"


def _set_created(doc):
    doc["btcbench"]["created_utc"] = "yesterday"


@pytest.mark.parametrize("name, edit, dev, message", [
    ("old.json", _set_schema, None, "unsupported schema"),
    ("when.json", _set_created, None, "created_utc"),
    ("volta.json", None, "7.0", "compute capability 7.0"),
])
def test_foreign_schema_and_bad_fields(run_cli, write_doc, tmp_path, name, edit, dev, message):
    doc = rg.instr_doc({"mma_and_m16n8k256": 10000.0}, **({"dev": rg.device(cc=dev)} if dev else {}))
    if edit:
        edit(doc)
    path = write_doc(doc, name)
    rc, _, err = run_cli("--results", path, "--out", tmp_path / "gen")
    assert rc == 2 and message in err
    _one_line_error(err, path)
    assert not (tmp_path / "gen").exists()


def test_other_suites(run_cli, write_doc, tmp_path):
    doc = rg.instr_doc({"mma_and_m16n8k256": 10000.0})
    # A suite the loader has no name grammar for (a later suite, say bconv):
    # bmm files are real now and must be valid bmm files.
    other = rg.layout_doc({"mma_and": {"tile8x128": 900.0}})
    other["btcbench"]["suite"] = "bconv"
    other_path = write_doc(other, "bconv-1.json")
    instr = write_doc(doc, "instr-1.json")
    rc, _, err = run_cli("--results", instr, other_path, "--out", tmp_path / "a")
    assert rc == 2 and "suite 'bconv'" in err
    rc, _, err = run_cli("--results-dir", instr.parent, "--out", tmp_path / "b")   # in a directory: ignored
    assert rc == 0, err
    assert "bconv-1.json" not in (tmp_path / "b" / "bmm_config_sm90.md").read_text()


def test_empty_or_missing_dir(run_cli, tmp_path):
    (tmp_path / "empty").mkdir()
    rc, _, err = run_cli("--results-dir", tmp_path / "empty", "--out", tmp_path / "gen")
    assert rc == 2 and "no results files" in err
    rc, _, err = run_cli("--results-dir", tmp_path / "nope", "--out", tmp_path / "gen")
    assert rc == 2 and "not a directory" in err


def test_missing_suites_fall_back_to_defaults(run_cli, write_doc, tmp_path):
    path = write_doc(rg.instr_doc({"mma_and_m16n8k256": 10000.0, "wgmma_and_m64n256k256_ss": 15000.0}), "i.json")
    out = tmp_path / "gen"
    rc, _, err = run_cli("--results-dir", path.parent, "--out", out)
    assert rc == 0, err
    report = (out / "bmm_config_sm90.md").read_text()
    assert "No results for the suite(s) stride, layout" in report
    assert "No candidates: no layout results." in report
    header = (out / "bmm_config_sm90.h").read_text()
    assert field(header, "kBtcWmma", "a_layout") == "bits::Layout::kTile8x128"
    assert field(header, "kWgmmaAnd", "a_layout") == "bits::Layout::kWgmmaSwizzle64"


def test_newest_file_of_each_suite(sc, write_doc):
    old = write_doc(rg.instr_doc({"mma_and_m16n8k256": 1.0}, created="2026-11-28T00:00:00"), "z-old.json")
    new = write_doc(rg.instr_doc({"mma_and_m16n8k256": 2.0}, created="2026-11-28T01:00:00+00:00"), "a-new.json")
    same = write_doc(rg.layout_doc({"mma_and": {"row_u32": 1.0}}, created="2026-11-28T00:00:00Z"), "b.json")
    later = write_doc(rg.layout_doc({"mma_and": {"row_u32": 2.0}}, created="2026-11-28T00:00:00Z"), "c.json")
    newest, older = sc.load_results([old, new, later, same], explicit=True)
    assert newest["instr"].path == new and newest["layout"].path == later      # same time: the later name
    assert sorted(r.path.name for r in older) == ["b.json", "z-old.json"]
    assert "stride" not in newest


# ====================================================================== generated output

def test_golden(run_cli, tmp_path):
    out = tmp_path / "gen"
    rc, _, err = run_cli("--results-dir", rg.FIXTURE_DIR, "--out", out)
    assert rc == 0, err
    for name in rg.GOLDEN_OUTPUTS:
        assert (out / name).read_text() == (rg.GOLDEN_DIR / name).read_text(), \
            f"{name} differs from tests/select/golden/ (regenerate: python3 tests/select/resultsgen.py, review the diff)"


def test_golden_fixtures_are_what_resultsgen_makes(tmp_path):
    for path in rg.write_golden_fixtures(tmp_path):
        assert path.read_text() == (rg.FIXTURE_DIR / path.name).read_text(), path.name


def test_golden_choices(tmp_path):
    header = (rg.GOLDEN_DIR / "bmm_config_sm90.h").read_text()
    report = (rg.GOLDEN_DIR / "bmm_config_sm90.md").read_text()
    # the newest layout file decides; the older one (which would pick row_u32 and interleave) is listed as unused
    assert field(header, "kBtcWmma", "a_layout") == "bits::Layout::kTile8x128"
    assert "`layout-zz-older-0123456.json`" in report and "not used" in report
    assert field(header, "kWgmmaAnd", "instruction") == "wgmma_and_m64n256k256_ss"   # larger N on a 2% tie
    assert field(header, "kWgmmaAnd", "a_layout") == "bits::Layout::kWgmmaSwizzle64"
    assert field(header, "kMmaAnd", "b_layout") == "bits::Layout::kMmaFragB8x256"
    assert "Not measured (skipped by the suite): `wgmma_and_m64n256k256_rs`" in report


def test_output_shape(tmp_path, run_cli):
    out = tmp_path / "gen"
    assert run_cli("--results-dir", rg.FIXTURE_DIR, "--out", out)[0] == 0
    for arch in (75, 80, 90):
        header = (out / f"bmm_config_sm{arch}.h").read_text()
        assert header.startswith(f"// Generated by formats/select_config.py for sm_{arch}. Do not edit.")
        assert f"namespace btc::bmm::generated::sm{arch} {{" in header
        assert re.findall(r"inline constexpr BmmConfig (\w+)\{", header) == ["kBtcWmma", "kMmaAnd", "kWgmmaAnd"]
        assert len(re.findall(r"inline constexpr const char\* kSource = ", header)) == 1
        assert not re.search(r"\.\w+ =", header)     # no designated initializers (C++20)
    umbrella = (out / "bmm_config.h").read_text()
    assert [l for l in umbrella.splitlines() if l.startswith("#include")] == [
        f'#include "bmm_config_sm{a}.h"' for a in (75, 80, 90)]
    assert sorted(p.name for p in out.iterdir()) == sorted(ALL_OUTPUTS)   # no temp files left


def test_deterministic(run_cli, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("--results-dir", rg.FIXTURE_DIR, "--out", a)[0] == 0
    assert run_cli("--results", *sorted(rg.FIXTURE_DIR.glob("*.json"), reverse=True), "--out", b)[0] == 0
    for name in ALL_OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_check_and_write_only_on_change(run_cli, tmp_path):
    out = tmp_path / "gen"
    rc, _, err = run_cli("--results-dir", rg.FIXTURE_DIR, "--out", out, "--check")
    assert rc == 1 and "out of date" in err and not out.exists()
    assert run_cli("--results-dir", rg.FIXTURE_DIR, "--out", out)[0] == 0
    before = snapshot(out)
    rc, stdout, _ = run_cli("--results-dir", rg.FIXTURE_DIR, "--out", out, "--check")
    assert rc == 0 and "up to date" in stdout
    rc, stdout, _ = run_cli("--results-dir", rg.FIXTURE_DIR, "--out", out)
    assert rc == 0 and "unchanged" in stdout
    assert snapshot(out) == before                      # same bytes, same mtimes: nothing rewritten
    edited = out / "bmm_config_sm90.h"
    edited.write_text(edited.read_text().replace("/*stages*/ 4", "/*stages*/ 3"))
    stale = snapshot(out)
    rc, _, err = run_cli("--results-dir", rg.FIXTURE_DIR, "--out", out, "--check")
    assert rc == 1 and "bmm_config_sm90.h is out of date" in err
    assert snapshot(out) == stale                       # --check writes nothing
    rc, stdout, _ = run_cli("--results-dir", rg.FIXTURE_DIR, "--out", out)
    assert rc == 0 and stdout.strip() == f"select_config: wrote {edited}"
    assert snapshot(out)["bmm_config_sm75.h"] == before["bmm_config_sm75.h"]


def test_other_arches_are_kept(run_cli, tmp_path):
    out = tmp_path / "gen"
    assert run_cli("--defaults", "--out", out)[0] == 0
    sm80 = out / "bmm_config_sm80.h"
    sm80.write_text(sm80.read_text() + "// kept\n")
    assert run_cli("--results-dir", rg.FIXTURE_DIR, "--out", out)[0] == 0
    assert sm80.read_text().endswith("// kept\n")      # an sm_90 run leaves sm_80 alone


def test_defaults(run_cli, tmp_path):
    out = tmp_path / "gen"
    rc, _, err = run_cli("--defaults", "--out", out)
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(ALL_OUTPUTS)
    h75 = (out / "bmm_config_sm75.h").read_text()
    assert 'kSource = "built-in defaults (no results); mma_and, wgmma_and unsupported on sm_75"' in h75
    assert field(h75, "kBtcWmma", "a_layout") == "bits::Layout::kTile8x128"
    assert field(h75, "kBtcWmma", "instruction") == "wmma_xor_m8n8k128"
    assert field(h75, "kMmaAnd", "instruction") == "mma_and_m16n8k256"          # valid placeholder values
    h80 = (out / "bmm_config_sm80.h").read_text()
    assert 'kSource = "built-in defaults (no results); wgmma_and unsupported on sm_80"' in h80
    assert field(h80, "kMmaAnd", "a_layout") == "bits::Layout::kMmaFragA16x256"
    h90 = (out / "bmm_config_sm90.h").read_text()
    assert 'kSource = "built-in defaults (no results)"' in h90
    for arch in (75, 80, 90):
        assert "Defaults: not measured." in (out / f"bmm_config_sm{arch}.md").read_text()
    one = tmp_path / "one"
    assert run_cli("--defaults", "--arch", "80", "--out", one)[0] == 0
    assert sorted(p.name for p in one.iterdir()) == ["bmm_config.h", "bmm_config_sm80.h", "bmm_config_sm80.md"]


def test_usage_errors(run_cli):
    with pytest.raises(SystemExit) as e:
        run_cli("--defaults", "--results-dir", "x")
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        run_cli("--out", "x")
    assert e.value.code == 2


def test_c_string(sc):
    assert sc.c_string('a"b\\c') == r'"a\"b\\c"'
    assert sc.c_string("é1") == '"\\xc3""\\xa9""1"'


# ====================================================================== the checked-in files

@pytest.mark.skipif(not H100_DIR.is_dir(), reason="no H100 results in this checkout")
def test_checked_in_files_are_up_to_date(run_cli, tmp_path):
    """kernels/generated/ is what the generator makes: sm_90 from the newest
    H100 results of each suite, sm_75 and sm_80 from the built-in defaults."""
    out = tmp_path / "gen"
    rc, _, err = run_cli("--results-dir", H100_DIR, "--out", out)
    assert rc == 0, err
    stale = [n for n in ALL_OUTPUTS if (out / n).read_text() != (CHECKED_IN / n).read_text()]
    defaults = tmp_path / "defaults"
    assert run_cli("--defaults", "--out", defaults)[0] == 0
    for arch in (75, 80):
        for ext in ("h", "md"):
            name = f"bmm_config_sm{arch}.{ext}"
            if (defaults / name).read_text() != (CHECKED_IN / name).read_text():
                stale.append(name)
    assert not stale, (f"kernels/generated/ is out of date: {sorted(set(stale))}; regenerate with "
                       f"python3 formats/select_config.py --results-dir {H100_DIR.relative_to(REPO)}")
    rc, _, err = run_cli("--results-dir", H100_DIR, "--out", CHECKED_IN, "--check")
    assert rc == 0, err


@pytest.mark.skipif(not H100_DIR.is_dir(), reason="no H100 results in this checkout")
def test_checked_in_sm90_choices():
    header = (CHECKED_IN / "bmm_config_sm90.h").read_text()
    assert field(header, "kBtcWmma", "instruction") == "wmma_xor_m8n8k128"
    assert field(header, "kBtcWmma", "a_layout") == "bits::Layout::kTile8x128"
    assert field(header, "kMmaAnd", "instruction") == "mma_and_m16n8k256"
    assert field(header, "kMmaAnd", "a_layout") == "bits::Layout::kMmaFragA16x256"
    assert field(header, "kMmaAnd", "b_layout") == "bits::Layout::kMmaFragB8x256"
    assert field(header, "kWgmmaAnd", "instruction") == "wgmma_and_m64n256k256_ss"
    assert field(header, "kWgmmaAnd", "a_layout") == "bits::Layout::kWgmmaSwizzle64"
    assert field(header, "kWgmmaAnd", "block_n") == "256"
    assert "layout-20261127T224653Z-18555d4.json" in header      # the newest layout run


COMPILE_CHECK = """
#include "kernels/generated/bmm_config.h"
#include <cstring>
namespace g = btc::bmm::generated;
static_assert(g::sm90::kWgmmaAnd.block_n == {wgmma_n}, "");
static_assert(g::sm90::kMmaAnd.a_layout == btc::bits::Layout::kMmaFragA16x256, "");
static_assert(g::sm75::kBtcWmma.stages == 1 && g::sm80::kMmaAnd.stages == 4, "");
template <const btc::bmm::BmmConfig& C> struct Use {{ static constexpr int kM = C.block_m; }};
static_assert(Use<g::sm90::kBtcWmma>::kM == 64, "");
int main() {{ return std::strlen(g::sm75::kSource) > 0 ? 0 : 1; }}
"""


@pytest.mark.skipif(shutil.which("g++") is None, reason="no g++")
def test_generated_headers_compile(tmp_path):
    subprocess.run(["g++", "-std=c++17", "-fsyntax-only", "-I", ".", "-x", "c++",
                    "kernels/generated/bmm_config.h"], cwd=REPO, check=True, capture_output=True)
    n = field((CHECKED_IN / "bmm_config_sm90.h").read_text(), "kWgmmaAnd", "block_n")
    src = tmp_path / "use.cpp"
    src.write_text(COMPILE_CHECK.format(wgmma_n=n))
    r = subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-pedantic", "-fsyntax-only",
                        "-I", str(REPO), str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# ====================================================================== the one command

SCRIPT = REPO / "scripts" / "regenerate_config.sh"


def test_regenerate_script_usage():
    assert os.access(SCRIPT, os.X_OK)
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    r = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for text in ("sweep -> select -> rebuild", "btcbench sweep instr", "--no-sweep", "select_config.py",
                 "scripts/build.sh", "info --json"):
        assert text in r.stdout
    r = subprocess.run([str(SCRIPT), "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown argument '--bogus'" in r.stderr


def test_regenerate_script_runs_the_steps(tmp_path):
    """With a stand-in btcbench and build.sh (a copy of the script in a scratch
    tree), the script sweeps the three suites, selects from results/<slug>, and
    rebuilds, in that order."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    (root / "formats").mkdir()
    (root / "build").mkdir()
    shutil.copy(SCRIPT, root / "scripts" / "regenerate_config.sh")
    log = tmp_path / "log"
    (root / "build" / "btcbench").write_text(
        "#!/bin/sh\necho \"btcbench $*\" >> " + str(log) + "\n"
        "[ \"$1\" = info ] && printf '{\"slug\": \"fake-gpu\", \"cc\": \"9.0\"}'\nexit 0\n")
    (root / "scripts" / "build.sh").write_text("#!/bin/sh\necho build.sh >> " + str(log) + "\n")
    (root / "formats" / "select_config.py").write_text(
        "import sys\nopen(" + repr(str(log)) + ", 'a').write('select ' + ' '.join(sys.argv[1:]) + '\\n')\n")
    for p in ("build/btcbench", "scripts/build.sh"):
        (root / p).chmod(0o755)
    r = subprocess.run([str(root / "scripts" / "regenerate_config.sh"), "--", "--quick"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert log.read_text().splitlines() == [
        "btcbench info --json", "btcbench sweep instr --quick", "btcbench sweep stride --quick",
        "btcbench sweep layout --quick", "select --results-dir results/fake-gpu", "build.sh"]
    log.unlink()
    r = subprocess.run([str(root / "scripts" / "regenerate_config.sh"), "--no-sweep"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert log.read_text().splitlines() == ["btcbench info --json", "select --results-dir results/fake-gpu",
                                            "build.sh"]
