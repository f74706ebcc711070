"""analysis.select: ranking, arch detection, errors, generated output (the
behaviour of the command line, ported from formats/select_config.py). The
bmm candidates, the structured fields and the candidate table are in
test_select_candidates.py.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

import resultsgen as rg
from analysis.select import model, rules
from analysis.select.emit_header import c_string
from select_helpers import (ALL_OUTPUTS, CHECKED_IN, H100_DIR, REPO, candidate_rows, comment_above,  # noqa: F401
                            constants, field, instruction_of, layout_enum, load, names, run_cli, snapshot,
                            write_doc)


# ====================================================================== ranking

def test_rank_mma_and_forms_by_best_tput(load):
    r = load(rg.instr_doc({
        "mma_and_m16n8k128": 7400.0,
        "mma_and_m16n8k256": {"tops": 9000.0, "extra": [(16, 4, 10500.0)]},   # best config wins
        "mma_and_m8n8k128": 3900.0,
        "wgmma_and_m64n128k256_ss": 15000.0,                                  # not an mma_and form
    }, skipped={"mma_and_m16n8k64": "not a real form"}))
    ranked = rules.rank_mma_and_forms(r)
    assert names(ranked) == ["mma_and_m16n8k256", "mma_and_m16n8k128", "mma_and_m8n8k128"]
    assert ranked[0].tops == 10500.0 and ranked[0].config == "wps 16, ilp 4"
    assert ranked[0].lo < 10500.0 < ranked[0].hi          # spread from the min/max repetition times
    assert ranked[0].latency_cycles == 24.0
    assert ranked[0].n == 8 and ranked[0].a_source == "reg"      # forms[].n, forms[].a_source


def test_rank_mma_and_exact_tie_is_deterministic(load):
    r = load(rg.instr_doc({"mma_and_m16n8k256": 100.0, "mma_and_m16n8k128": 100.0}))
    assert names(rules.rank_mma_and_forms(r)) == ["mma_and_m16n8k128", "mma_and_m16n8k256"]


def test_rank_missing_suite_or_forms(load):
    assert rules.rank_mma_and_forms(None) == []
    assert rules.rank_wgmma_and_forms(None) == []
    assert rules.rank_layouts(None, "mma_and") == []
    r = load(rg.instr_doc({"wmma_xor_m8n8k128": 800.0},
                          skipped={"wgmma_and_m64n256k256_ss": "needs sm_90a; device is sm_80"}))
    assert rules.rank_mma_and_forms(r) == []
    assert rules.rank_wgmma_and_forms(r) == []
    assert rules.skipped_forms(r, rules.is_wgmma_and) == (("wgmma_and_m64n256k256_ss", "needs sm_90a; device is sm_80"),)


def test_rank_wgmma_prefers_larger_n_within_two_percent(load):
    r = load(rg.instr_doc({
        "wgmma_and_m64n64k256_ss": 15750.0,     # best TOPS
        "wgmma_and_m64n128k256_ss": 15500.0,    # 98.4%: tied, larger N
        "wgmma_and_m64n256k256_ss": 15400.0,    # 97.8%: not tied
        "wgmma_and_m64n32k256_rs": 15740.0,
    }))
    ranked = rules.rank_wgmma_and_forms(r)
    assert names(ranked) == ["wgmma_and_m64n128k256_ss", "wgmma_and_m64n64k256_ss",
                             "wgmma_and_m64n32k256_rs", "wgmma_and_m64n256k256_ss"]
    assert ranked[0].n == 128 and ranked[0].a_source == "smem"
    assert "within 2%" in ranked[0].note and "more than 2%" in ranked[-1].note


def test_rank_wgmma_boundary_and_ss_over_rs(load):
    r = load(rg.instr_doc({
        "wgmma_and_m64n64k256_ss": 10000.0,
        "wgmma_and_m64n256k256_ss": 9800.0,     # exactly 98%: tied
        "wgmma_and_m64n256k256_rs": 9900.0,     # same N, faster, but rs
    }))
    assert names(rules.rank_wgmma_and_forms(r))[:2] == ["wgmma_and_m64n256k256_ss", "wgmma_and_m64n256k256_rs"]
    assert names(rules.rank_wgmma_and_forms(r, tie=0.0)) == [
        "wgmma_and_m64n64k256_ss", "wgmma_and_m64n256k256_rs", "wgmma_and_m64n256k256_ss"]


def test_rank_layouts(load):
    r = load(rg.layout_doc({
        "mma_and": {"row_u32": 567.0, "tile8x128": 968.0, "mma_frag_a16x256": 993.0},
        "wmma_and": {"tile8x128": 2000.0},     # another engine
    }))
    ranked = rules.rank_layouts(r, "mma_and")
    assert names(ranked) == ["mma_frag_a16x256", "tile8x128", "row_u32"]
    assert (ranked[0].a_layout, ranked[0].b_layout) == ("mma_frag_a16x256", "mma_frag_b8x256")
    assert (ranked[1].a_layout, ranked[1].b_layout) == ("tile8x128", "tile8x128")
    assert names(rules.rank_layouts(r, "wgmma_and")) == []


def test_rank_layouts_skips_names_formats_does_not_know(load):
    doc = rg.layout_doc({"mma_and": {"tile8x128": 968.0, "row_u32": 500.0}})
    doc["btcbench"]["forms"]["mma_and_row_u32"]["a_layout"] = "row_u16"
    assert names(rules.rank_layouts(load(doc), "mma_and")) == ["tile8x128"]


def test_all_within():
    c = lambda t: model.Candidate(name=str(t), tops=t, lo=t, hi=t, run="", source="")   # noqa: E731
    assert rules.all_within([c(100.0), c(98.0)])
    assert not rules.all_within([c(100.0), c(97.9)])
    assert not rules.all_within([])


# ====================================================================== choosing

def test_btc_wmma_layout_is_data_driven(load):
    # row_u32 faster than tile8x128 (an imagined GPU): the data decide; row_u64
    # is faster still but is not a btc_wmma candidate.
    lay = load(rg.layout_doc({"wmma_xor": {"row_u32": 500.0, "tile8x128": 460.0, "row_u64": 600.0}}))
    d = rules.choose_btc_wmma(90, None, None, lay)
    assert (d.config.a_layout, d.config.b_layout) == ("row_u32", "row_u32")
    assert d.selected_design == "btc_wmma_row"        # the layout names the paper design it builds
    assert d.instruction == "wmma_xor_m8n8k128"
    kinds = {b.field: b.kind for b in d.basis}
    assert kinds["a_layout, b_layout"] == "measured" and kinds["instruction"] == "fixed"
    assert kinds["block_m, block_n"] == kinds["block_k_bits"] == "default"
    assert "not a candidate" in d.rankings[0].candidates[-1].note


@pytest.mark.parametrize("arch", [75, 80, 90])
def test_btc_wmma_tile_is_what_the_kernel_builds(arch):
    # Today's build (64 x 128, 256-bit K steps, no pipeline, 8 warps), and the
    # kernel's own rules: 32 x 32 warp tiles, one warp each; K steps of whole
    # 128-bit WMMA k; fragments straight from global memory (1 stage); no cluster.
    c = rules.choose_btc_wmma(arch, None, None, None).config
    assert (c.block_m, c.block_n, c.block_k_bits, c.stages, c.warps, c.cluster_m, c.cluster_n) == \
        (64, 128, 256, 1, 8, 1, 1)
    assert (c.block_m // 32) * (c.block_n // 32) == c.warps and c.block_m % 32 == c.block_n % 32 == 0
    assert c.block_k_bits % 128 == 0 and c.stages == 1


def test_btc_wmma_without_layout_suite_uses_the_paper():
    d = rules.choose_btc_wmma(90, None, None, None)
    assert d.config.a_layout == "tile8x128" and d.selected_design == "btc_wmma_tile"
    lb = next(b for b in d.basis if b.field == "a_layout, b_layout")
    assert lb.kind == "default" and "no layout results" in lb.why


def test_mma_and_keeps_m16n8k256_when_another_form_wins(load):
    instr = load(rg.instr_doc({"mma_and_m16n8k128": 12000.0, "mma_and_m16n8k256": 10000.0}))
    d = rules.choose_mma_and(80, instr, None, None)
    assert d.instruction == "mma_and_m16n8k256"
    ib = d.basis[0]
    assert ib.kind == "fixed" and "mma_and_m16n8k128 ranks first" in ib.why
    assert names(d.rankings[0].candidates) == ["mma_and_m16n8k128", "mma_and_m16n8k256"]
    assert d.rankings[0].candidates[0].note == "the kernel implements m16n8k256 only"


def test_mma_and_layouts(load):
    frag = load(rg.layout_doc({"mma_and": {"tile8x128": 968.0, "mma_frag_a16x256": 993.0}}), "a.json")
    d = rules.choose_mma_and(90, None, None, frag)
    assert (d.config.a_layout, d.config.b_layout) == ("mma_frag_a16x256", "mma_frag_b8x256")
    tile = load(rg.layout_doc({"mma_and": {"tile8x128": 999.0, "mma_frag_a16x256": 993.0}}), "b.json")
    d = rules.choose_mma_and(90, None, None, tile)
    assert (d.config.a_layout, d.config.b_layout) == ("tile8x128", "tile8x128")
    # sm_90 blocks are 256 x 128 (64 x 64 warp tiles), the older archs' 128 x 128
    assert (d.config.block_m, d.config.block_n, d.config.block_k_bits, d.config.stages, d.config.warps,
            d.config.cluster_m, d.config.cluster_n) == (256, 128, 1024, 4, 8, 1, 1)
    older = rules.choose_mma_and(80, None, None, tile).config
    assert (older.block_m, older.block_k_bits) == (128, 512)
    d = rules.choose_mma_and(90, None, None, None)
    assert (d.config.a_layout, d.config.b_layout) == ("mma_frag_a16x256", "mma_frag_b8x256")
    assert all(b.kind == "default" for b in d.basis if not b.field.startswith("cluster"))


def test_wgmma_box_k_mirrors_layout_h():
    # WGMMA_BOX_K restates formats/layout.h box_k_of for Python: keep them equal.
    text = (REPO / "formats" / "layout.h").read_text()
    body = re.search(r"box_k_of\(Layout l\) \{(.*?)\n\}", text, re.S).group(1)
    cases = {m[0]: int(m[1]) for m in re.findall(r"case Layout::(\w+): return (\d+);", body)}
    default = int(re.search(r"default: return (\d+);", body).group(1))
    for name, bits in model.WGMMA_BOX_K.items():
        assert cases.get(model.LAYOUT_ENUM[name], default) == bits, name


def test_layout_enum_mirrors_layout_h():
    # LAYOUT_ENUM restates formats/layout.h name(): every layout, both ways.
    text = (REPO / "formats" / "layout.h").read_text()
    body = re.search(r"const char\* name\(Layout l\) \{(.*?)\n\}", text, re.S).group(1)
    named = {m[1]: m[0] for m in re.findall(r'case Layout::(\w+): return "(\w+)";', body)}
    assert named == model.LAYOUT_ENUM


def test_preferred_wgmma_layout_is_the_widest_swizzle_that_fits_the_stage():
    assert rules.preferred_wgmma_layout(256) == "wgmma_swizzle32"
    assert rules.preferred_wgmma_layout(512) == "wgmma_swizzle64"
    assert rules.preferred_wgmma_layout(2048) == "wgmma_swizzle128"
    assert rules.PREFERRED_WGMMA_LAYOUT == "wgmma_swizzle64"     # the 512-bit stage of today's ring


def test_wgmma_tie_prefers_the_widest_fitting_swizzle(load):
    lay = load(rg.layout_doc({"wgmma_and": {"wgmma_interleave": 1094.0, "wgmma_swizzle32": 1090.0,
                                             "wgmma_swizzle64": 1088.0, "wgmma_swizzle128": 1095.0}}))
    d = rules.choose_wgmma_and(90, None, None, lay)
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
    assert "both candidate layouts" in next(b for b in rules.choose_wgmma_and(90, None, None, two).basis
                                            if b.field == "a_layout, b_layout").why


def test_wgmma_clear_winner_is_measured(load):
    lay = load(rg.layout_doc({"wgmma_and": {"wgmma_interleave": 1200.0, "wgmma_swizzle32": 1083.0}}))
    d = rules.choose_wgmma_and(90, None, None, lay)
    assert d.config.a_layout == "wgmma_interleave"
    assert next(b for b in d.basis if b.field == "a_layout, b_layout").kind == "measured"
    # the fastest layout overall does not fit the stage: the fastest that fits wins
    wide = load(rg.layout_doc({"wgmma_and": {"wgmma_interleave": 1080.0, "wgmma_swizzle128": 1190.0}}), "b.json")
    assert rules.choose_wgmma_and(90, None, None, wide).config.a_layout == "wgmma_interleave"


def test_wgmma_block_n_follows_the_instruction(load):
    instr = load(rg.instr_doc({"wgmma_and_m64n128k256_ss": 15700.0, "wgmma_and_m64n256k256_ss": 12000.0}))
    d = rules.choose_wgmma_and(90, instr, None, None)
    assert d.instruction == "wgmma_and_m64n128k256_ss"
    assert (d.config.block_m, d.config.block_n, d.config.block_k_bits, d.config.stages, d.config.warps,
            d.config.cluster_m, d.config.cluster_n) == (128, 128, 512, 8, 8, 1, 1)
    big = load(rg.instr_doc({"wgmma_and_m64n512k256_ss": 15700.0}), "big.json")   # hypothetical N > 256
    assert rules.choose_wgmma_and(90, big, None, None).config.block_n == 256


def test_wgmma_without_forms_is_default(load):
    instr = load(rg.instr_doc({"mma_and_m16n8k256": 10000.0},
                              skipped={"wgmma_and_m64n128k256_ss": "needs sm_90a"}))
    d = rules.choose_wgmma_and(90, instr, None, None)
    assert d.instruction == "wgmma_and_m64n128k256_ss" and d.config.block_n == 128
    assert d.basis[0].kind == "default"
    assert "needs sm_90a" in d.rankings[0].absent


def test_unsupported_designs_are_placeholders():
    d75 = rules.choose_mma_and(75, None, None, None)
    assert not d75.supported and d75.instruction == "mma_and_m16n8k256"
    assert not rules.choose_wgmma_and(80, None, None, None).supported
    assert rules.choose_wgmma_and(90, None, None, None).supported


def test_smem_note():
    cfg = model.Config("wgmma_swizzle128", "wgmma_swizzle128", 128, 256, 1024, 4, 8)
    assert "192.0 KiB" in rules.smem_note(cfg, {"smem_per_block_optin_bytes": 232448})
    assert "DOES NOT FIT" in rules.smem_note(cfg, {"smem_per_block_optin_bytes": 101376})
    assert rules.smem_note(cfg, None).endswith("stage buffers.")
    # with the whole block's bytes, those decide: 192 KiB of stages + 4,000 bytes do not fit in 192 KiB
    assert "DOES NOT FIT" in rules.smem_note(cfg, {"smem_per_block_optin_bytes": 196608}, 196608 + 4000)


# ====================================================================== arch detection

@pytest.mark.parametrize("cc, arch", [("7.5", 75), ("8.0", 80), ("8.6", 80), ("8.9", 80), ("9.0", 90)])
def test_arch_of_cc(cc, arch):
    assert model.arch_of_cc(cc) == arch


@pytest.mark.parametrize("cc", ["7.0", "10.0", "12.0", "9", "", None, 9.0])
def test_arch_of_cc_rejects(cc):
    with pytest.raises(model.SelectError):
        model.arch_of_cc(cc)


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
    assert instruction_of(header, "kWgmmaAnd") == "wgmma_and_m64n256k256_ss"
    assert field(header, "kWgmmaAnd", "block_n") == "256"
    assert "no stride/layout results" in header and "default: no measured bmm candidates" in header


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
    assert lines[0].startswith(f"{model.PROG}: error: ") and str(path) in lines[0]


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
    # A suite the selection does not read (a later suite, say bconv).
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


def test_newest_file_of_each_suite(write_doc):
    old = write_doc(rg.instr_doc({"mma_and_m16n8k256": 1.0}, created="2026-11-28T00:00:00"), "z-old.json")
    new = write_doc(rg.instr_doc({"mma_and_m16n8k256": 2.0}, created="2026-11-28T01:00:00+00:00"), "a-new.json")
    same = write_doc(rg.layout_doc({"mma_and": {"row_u32": 1.0}}, created="2026-11-28T00:00:00Z"), "b.json")
    later = write_doc(rg.layout_doc({"mma_and": {"row_u32": 2.0}}, created="2026-11-28T00:00:00Z"), "c.json")
    newest, older, bmm_unused = model.pick_files(model.load_results([old, new, later, same], explicit=True), 90)
    assert newest["instr"].path == new and newest["layout"].path == later      # same time: the later name
    assert sorted(r.path.name for r in older) == ["b.json", "z-old.json"]
    assert "stride" not in newest and "bmm" not in newest and bmm_unused == []


# ====================================================================== generated output

def test_golden(run_cli, tmp_path):
    out = tmp_path / "gen"
    rc, _, err = run_cli("--results-dir", rg.FIXTURE_DIR, "--out", out)
    assert rc == 0, err
    for name in rg.GOLDEN_OUTPUTS:
        assert (out / name).read_text() == (rg.GOLDEN_DIR / name).read_text(), \
            f"{name} differs from tests/select/golden/ (regenerate: PYTHONPATH=. python3 tests/select/resultsgen.py, " \
            f"review the diff)"


def test_golden_fixtures_are_what_resultsgen_makes(tmp_path):
    for path in rg.write_golden_fixtures(tmp_path):
        assert path.read_text() == (rg.FIXTURE_DIR / path.name).read_text(), path.name


def _geomean(values):
    product = 1.0
    for v in values:
        product *= v
    return product ** (1.0 / len(values))


def test_golden_fields_follow_the_fixture():
    """The golden header against values worked out here from the fixture's own
    figures (resultsgen's GOLDEN_* tables), not against the generator."""
    consts = constants((rg.GOLDEN_DIR / "bmm_config_sm90.h").read_text())
    report = (rg.GOLDEN_DIR / "bmm_config_sm90.md").read_text()
    # kBtcWmma: the faster of row_u32 / tile8x128 in the newest layout file's wmma_xor
    xor = rg.GOLDEN_LAYOUT["wmma_xor"]
    btc = max(("row_u32", "tile8x128"), key=xor.get)
    assert consts["kBtcWmma"]["a_layout"] == consts["kBtcWmma"]["b_layout"] == layout_enum(btc)
    # kMmaAnd: the fastest mma_and layout (A of a fragment pair runs B as its partner)
    mma = max(rg.GOLDEN_LAYOUT["mma_and"], key=rg.GOLDEN_LAYOUT["mma_and"].get)
    assert consts["kMmaAnd"]["a_layout"] == layout_enum(mma)
    assert consts["kMmaAnd"]["b_layout"] == layout_enum("mma_frag_b8x256" if mma == "mma_frag_a16x256" else mma)
    # kWgmmaAnd: the bmm file with candidates; geometric means over every (size, out)
    cands = {n: s for n, s in rg.GOLDEN_BMM.items() if s.get("config") and s.get("candidate", True)}
    means = {n: _geomean(list(s["tops"].values())) for n, s in cands.items()}
    best = max(means.values())
    tied = [n for n in cands if means[n] >= 0.98 * best]

    def smem(c):   # the kernel's sum: ring, ones slot, column terms, barriers, alignment
        return (c["stages"] * (c["block_m"] + c["block_n"]) * c["block_k_bits"] // 8 + 1024
                + 8 * c["block_n"] + 8 * (2 * c["stages"] + 4) + 1024)
    chosen = min(tied, key=lambda n: (smem(cands[n]["config"]), cands[n]["config"]["cluster_m"]
                                      * cands[n]["config"]["cluster_n"] > 1))
    assert len(tied) > 1 and means[chosen] < best      # the fixture exercises the tie-break
    want = cands[chosen]["config"]
    got = consts["kWgmmaAnd"]
    for key in ("block_m", "block_n", "block_k_bits", "stages", "warps", "cluster_m", "cluster_n"):
        assert got[key] == str(want[key]), key
    assert got["a_layout"] == got["b_layout"] == layout_enum(want["a_layout"])
    assert f"| **1** (chosen) | `{chosen}` |" in report
    # every candidate's geometric mean, as this test computes it, is in the report's table
    for name, mean in means.items():
        assert f"| `{name}` |" in report and f"{mean:,.1f} [" in report, name


def test_golden_choices(tmp_path):
    header = (rg.GOLDEN_DIR / "bmm_config_sm90.h").read_text()
    report = (rg.GOLDEN_DIR / "bmm_config_sm90.md").read_text()
    # the newest layout file decides; the older one (which would pick row_u32 and interleave) is listed as unused
    assert field(header, "kBtcWmma", "a_layout") == "bits::Layout::kTile8x128"
    assert "btc_wmma (btc_wmma_tile), wmma_xor_m8n8k128: " in comment_above(header, "kBtcWmma")
    assert "`layout-zz-older-0123456.json`" in report and "not used" in report
    # the bmm file with candidates decides kWgmmaAnd; the newer one without candidates is not used
    assert "bmm-20261127T233000Z-0123456.json" in header
    assert "bmm files not used" in report and "`bmm-20261128T010000Z-0123456.json`" in report
    assert instruction_of(header, "kWgmmaAnd") == "wgmma_and_m64n256k256_ss"   # the chosen candidate's N
    assert field(header, "kMmaAnd", "b_layout") == "bits::Layout::kMmaFragB8x256"
    assert "Not measured (skipped by the suite): `wgmma_and_m64n256k256_rs`" in report


def test_output_shape(tmp_path, run_cli):
    out = tmp_path / "gen"
    assert run_cli("--results-dir", rg.FIXTURE_DIR, "--out", out)[0] == 0
    for arch in (75, 80, 90):
        header = (out / f"bmm_config_sm{arch}.h").read_text()
        assert header.startswith(f"// Generated by analysis.select for sm_{arch}. Do not edit.")
        assert '#include "kernels/config/bmm_config.h"' in header.splitlines()
        assert f"namespace btc::bmm::generated::sm{arch} {{" in header
        consts = constants(header)
        # only what a kernel of that arch reads (sm_75: WMMA only; sm_80: no wgmma)
        assert list(consts) == {75: ["kBtcWmma"], 80: ["kBtcWmma", "kMmaAnd"],
                                90: ["kBtcWmma", "kMmaAnd", "kWgmmaAnd"]}[arch]
        for const, fields in consts.items():
            # the C++ struct's fields, in its order; no design or instruction string any more
            assert list(fields) == ["a_layout", "b_layout", "block_m", "block_n", "block_k_bits", "stages",
                                    "warps", "cluster_m", "cluster_n"], const
            assert re.fullmatch(r"// \w+( \(\w+\))?, \w+: .+\.", comment_above(header, const)), const
        assert len(re.findall(r"inline constexpr const char\* kSource = ", header)) == 1
        assert not re.search(r"\.\w+ =", header)     # no designated initializers (C++20)
    umbrella = (out / "bmm_config.h").read_text()
    assert [l for l in umbrella.splitlines() if l.startswith("#include")] == [
        *(f'#include "bmm_config_sm{a}.h"' for a in (75, 80, 90)), '#include "bmm_candidates_sm90.h"']
    cands = (out / "bmm_candidates_sm90.h").read_text()
    assert '#include "kernels/config/bmm_config.h"' in cands.splitlines()
    assert "namespace btc::bmm::generated::sm90 {" in cands
    assert ("// Candidates for kWgmmaAnd, measured by a `bmm` sweep of a -DBTC_BMM_CANDIDATES=ON build and "
            "ranked by analysis.select.") in cands.splitlines()
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
    assert rc == 0 and stdout.strip() == f"analysis.select: wrote {edited}"
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
    assert instruction_of(h75, "kBtcWmma") == "wmma_xor_m8n8k128"
    # No constant for what cannot run here: no kernel would read it.
    assert "kMmaAnd{" not in h75 and "kWgmmaAnd{" not in h75
    assert "// Not emitted: kMmaAnd (mma_and), kWgmmaAnd (wgmma_and), unsupported on sm_75." in h75
    h80 = (out / "bmm_config_sm80.h").read_text()
    assert 'kSource = "built-in defaults (no results); wgmma_and unsupported on sm_80"' in h80
    assert field(h80, "kMmaAnd", "a_layout") == "bits::Layout::kMmaFragA16x256"
    h90 = (out / "bmm_config_sm90.h").read_text()
    assert 'kSource = "built-in defaults (no results)"' in h90
    for arch in (75, 80, 90):
        assert "Defaults: not measured." in (out / f"bmm_config_sm{arch}.md").read_text()
    one = tmp_path / "one"
    assert run_cli("--defaults", "--arch", "80", "--out", one)[0] == 0
    assert sorted(p.name for p in one.iterdir()) == ["bmm_candidates_sm90.h", "bmm_config.h",
                                                     "bmm_config_sm80.h", "bmm_config_sm80.md"]


def test_usage_errors(run_cli):
    with pytest.raises(SystemExit) as e:
        run_cli("--defaults", "--results-dir", "x")
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        run_cli("--out", "x")
    assert e.value.code == 2


def test_c_string():
    assert c_string('a"b\\c') == r'"a\"b\\c"'
    assert c_string("é1") == '"\\xc3""\\xa9""1"'


def test_module_entry_point(tmp_path):
    """python3 -m analysis.select from the repo root, as the scripts run it."""
    r = subprocess.run(["python3", "-m", "analysis.select", "--defaults", "--arch", "90", "--out", str(tmp_path)],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"analysis.select: wrote {tmp_path / 'bmm_config_sm90.h'}" in r.stdout.splitlines()
    r = subprocess.run(["python3", "-m", "analysis.select", "--results-dir", str(tmp_path / "nope")],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("analysis.select: error: ")


# ====================================================================== the checked-in files

def checked_in_sources() -> list[Path]:
    """The results files the checked-in sm_90 header names in kSource, found under results/."""
    source = re.search(r'kSource = "([^"]*)"', (CHECKED_IN / "bmm_config_sm90.h").read_text()).group(1)
    names = re.findall(r"[a-z]+-\d{8}T\d{6}Z-[0-9a-f]{7}\.json", source)
    found = [next((REPO / "results").rglob(n), None) for n in names]
    assert names and all(found), f"kSource names files that are not under results/: {names}"
    return found


@pytest.mark.skipif(not H100_DIR.is_dir(), reason="no H100 results in this checkout")
def test_checked_in_files_are_up_to_date(run_cli, tmp_path):
    """kernels/generated/ is what the generator makes: sm_90 from the results
    files its header names (the H100's instr/stride/layout runs and the H200's
    bmm candidates run), sm_75 and sm_80 from the built-in defaults."""
    sources = checked_in_sources()
    assert {p.name.split("-")[0] for p in sources} == {"instr", "stride", "layout", "bmm"}
    out = tmp_path / "gen"
    rc, _, err = run_cli("--results", *sources, "--out", out)
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
                       f"python3 -m analysis.select --results {' '.join(str(p.relative_to(REPO)) for p in sources)}")
    rc, _, err = run_cli("--results", *sources, "--out", CHECKED_IN, "--check")
    assert rc == 0, err


@pytest.mark.skipif(not H100_DIR.is_dir(), reason="no H100 results in this checkout")
def test_checked_in_sm90_is_todays_build():
    """The checked-in sm_90 constants are what the kernels are built with today
    (kWgmmaAnd: the H200 candidates run's choice, a 2x1-multicast 512 x 6 ring)."""
    header = (CHECKED_IN / "bmm_config_sm90.h").read_text()
    consts = constants(header)
    assert instruction_of(header, "kBtcWmma") == "wmma_xor_m8n8k128"
    assert "(btc_wmma_tile)" in comment_above(header, "kBtcWmma")
    assert consts["kBtcWmma"] == {"a_layout": "bits::Layout::kTile8x128", "b_layout": "bits::Layout::kTile8x128",
                                  "block_m": "64", "block_n": "128", "block_k_bits": "256", "stages": "1",
                                  "warps": "8", "cluster_m": "1", "cluster_n": "1"}
    assert instruction_of(header, "kMmaAnd") == "mma_and_m16n8k256"
    assert consts["kMmaAnd"] == {"a_layout": "bits::Layout::kMmaFragA16x256",
                                 "b_layout": "bits::Layout::kMmaFragB8x256", "block_m": "256", "block_n": "128",
                                 "block_k_bits": "1024", "stages": "4", "warps": "8", "cluster_m": "1",
                                 "cluster_n": "1"}
    assert instruction_of(header, "kWgmmaAnd") == "wgmma_and_m64n256k256_ss"
    assert consts["kWgmmaAnd"] == {"a_layout": "bits::Layout::kWgmmaSwizzle64",
                                   "b_layout": "bits::Layout::kWgmmaSwizzle64", "block_m": "128", "block_n": "256",
                                   "block_k_bits": "512", "stages": "6", "warps": "8", "cluster_m": "2",
                                   "cluster_n": "1"}
    assert "layout-20261127T224653Z-18555d4.json" in header      # the newest layout run
    assert "bmm-20261202T092812Z-2c6871c.json" in header   # the measured candidates run
    sm80 = constants((CHECKED_IN / "bmm_config_sm80.h").read_text())["kMmaAnd"]
    assert (sm80["block_m"], sm80["block_n"], sm80["block_k_bits"], sm80["stages"], sm80["warps"]) == \
        ("128", "128", "512", "4", "8")


COMPILE_CHECK = """
#include "kernels/generated/bmm_config.h"
#include <cstring>
namespace g = btc::bmm::generated;
static_assert(g::sm90::kWgmmaAnd.block_n == {wgmma_n}, "");
static_assert(g::sm90::kMmaAnd.a_layout == btc::bits::Layout::kMmaFragA16x256, "");
static_assert(g::sm75::kBtcWmma.stages == 1 && g::sm80::kMmaAnd.stages == 4, "");
static_assert(g::sm90::kWgmmaAnd.cluster_m * g::sm90::kWgmmaAnd.cluster_n <= 2, "");
static_assert(sizeof(g::sm90::kWgmmaAndCandidates) / sizeof(btc::bmm::BmmConfig) == {candidates}, "");
template <const btc::bmm::BmmConfig& C> struct Use {{ static constexpr int kM = C.block_m; }};
static_assert(Use<g::sm90::kBtcWmma>::kM == 64, "");
// what C++ sees of the rows: a few of the kernel's constraints, evaluated by the compiler
constexpr bool candidates_hold() {{
  for (const btc::bmm::BmmConfig& c : g::sm90::kWgmmaAndCandidates)
    if (c.a_layout != c.b_layout || c.block_m != 64 * c.warps / 4 || c.block_k_bits % 256 != 0 ||
        c.cluster_m * c.cluster_n > 2)
      return false;
  return true;
}}
static_assert(candidates_hold(), "");
int main() {{ return std::strlen(g::sm75::kSource) > 0 ? 0 : 1; }}
"""


@pytest.mark.skipif(shutil.which("g++") is None, reason="no g++")
def test_generated_headers_compile(tmp_path):
    flags = ["-I", str(REPO)]  # the tree's include root
    r = subprocess.run(["g++", "-std=c++17", "-fsyntax-only", *flags, "-x", "c++",
                        str(CHECKED_IN / "bmm_config.h")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    n = field((CHECKED_IN / "bmm_config_sm90.h").read_text(), "kWgmmaAnd", "block_n")
    rows = len(candidate_rows((CHECKED_IN / "bmm_candidates_sm90.h").read_text()))
    src = tmp_path / "use.cpp"
    src.write_text(COMPILE_CHECK.format(wgmma_n=n, candidates=rows))
    r = subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-pedantic", "-fsyntax-only", *flags, str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# ====================================================================== the one command

SCRIPT = REPO / "scripts" / "regenerate_config.sh"


def test_regenerate_script_usage():
    assert os.access(SCRIPT, os.X_OK)
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    r = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for text in ("sweep -> candidates -> select -> rebuild", "btcbench sweep instr", "--no-sweep",
                 "--no-candidates", "python3 -m analysis.select", "-DBTC_BMM_CANDIDATES=ON", "sweep bmm",
                 "scripts/build.sh", "info --json"):
        assert text in r.stdout
    r = subprocess.run([str(SCRIPT), "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown argument '--bogus'" in r.stderr


def _scratch_tree(tmp_path, cc):
    """A copy of the script in a scratch tree with stand-ins that log what
    they are asked: build/btcbench (info says `cc`), scripts/build.sh (which
    makes BUILD_DIR/btcbench) and the analysis.select module."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    (root / "analysis" / "select").mkdir(parents=True)
    (root / "build").mkdir()
    shutil.copy(SCRIPT, root / "scripts" / "regenerate_config.sh")
    log = tmp_path / "log"
    btcbench = (f"#!/bin/sh\necho \"$(basename \"$(dirname \"$0\")\")/btcbench $*\" >> {log}\n"
                f"[ \"$1\" = info ] && printf '{{\"slug\": \"fake-gpu\", \"cc\": \"{cc}\"}}'\nexit 0\n")
    (root / "build" / "btcbench").write_text(btcbench)
    (root / "scripts" / "build.sh").write_text(
        f"#!/bin/sh\necho \"build.sh ${{BUILD_DIR:-build}}${{*:+ $*}}\" >> {log}\n"
        f"[ \"${{BUILD_DIR:-build}}\" = build ] || {{ mkdir -p \"$BUILD_DIR\" && cp build/btcbench \"$BUILD_DIR/\"; }}\n")
    (root / "analysis" / "__init__.py").write_text("")
    (root / "analysis" / "select" / "__init__.py").write_text("")
    (root / "analysis" / "select" / "__main__.py").write_text(
        f"import sys\nopen({str(log)!r}, 'a').write('select ' + ' '.join(sys.argv[1:]) + '\\n')\n")
    for p in ("build/btcbench", "scripts/build.sh"):
        (root / p).chmod(0o755)
    return root / "scripts" / "regenerate_config.sh", log


FILTER = "wgmma_and.*/m:(8192|16384)/n:(8192|16384)/k:(8192|16384)/"


def test_regenerate_script_runs_the_steps(tmp_path):
    """On an sm_90 GPU: sweep the three suites, build and sweep the
    candidates, select from results/<slug>, rebuild, in that order."""
    script, log = _scratch_tree(tmp_path, "9.0")
    r = subprocess.run([str(script), "--", "--quick"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert log.read_text().splitlines() == [
        "build/btcbench info --json", "build/btcbench sweep instr --quick", "build/btcbench sweep stride --quick",
        "build/btcbench sweep layout --quick",
        "build.sh build-candidates -DBTC_BMM_CANDIDATES=ON -DCMAKE_CUDA_ARCHITECTURES=90a",
        f"build-candidates/btcbench sweep bmm --filter {FILTER} --quick",
        "select --results-dir results/fake-gpu", "build.sh build"]
    log.unlink()
    r = subprocess.run([str(script), "--no-sweep"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert log.read_text().splitlines() == ["build/btcbench info --json", "select --results-dir results/fake-gpu",
                                            "build.sh build"]
    log.unlink()
    r = subprocess.run([str(script), "--no-candidates"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not any("candidates" in line for line in log.read_text().splitlines())
    log.unlink()
    r = subprocess.run([str(script), "--no-sweep", "--results-dir", "elsewhere"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert log.read_text().splitlines() == ["select --results-dir elsewhere", "build.sh build"]   # no GPU asked


def test_regenerate_script_without_wgmma_sweeps_no_candidates(tmp_path):
    script, log = _scratch_tree(tmp_path, "8.6")
    r = subprocess.run([str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = log.read_text().splitlines()
    assert "build/btcbench sweep layout" in lines and not any("candidates" in line for line in lines)
    assert "no kWgmmaAnd candidates" in r.stdout
