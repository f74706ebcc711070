"""analysis.select: instr forms read by their fields, the kWgmmaAnd candidate
table, and the ranking of measured candidates from a bmm results file."""
from __future__ import annotations

import math

import pytest

import resultsgen as rg
from analysis.select import model, rules
from analysis.select.candidates import WGMMA_AND_CANDIDATES, wgmma_config_problems, wgmma_smem_bytes
from analysis.select.model import Config
from select_helpers import (ALL_OUTPUTS, candidate_rows, constants, field, instruction_of,  # noqa: F401
                            layout_enum, load, names, run_cli, snapshot, write_doc)

SW64 = "wgmma_swizzle64"
POINTS = [(s, o) for s in (8192, 16384) for o in ("int32", "bits")]


def _tops(*values):
    """{(size, out): TOPS} over POINTS, in POINTS order."""
    return dict(zip(POINTS, values))


# ====================================================================== fields, not names

def test_a_form_whose_name_lies_is_read_by_its_fields(load):
    # Named N = 256, but forms[].n says 128: the block is 128 wide.
    instr = load(rg.instr_doc({"wgmma_and_m64n256k256_ss": {"tops": 15700.0, "fields": {"n": 128}},
                               "wgmma_and_m64n64k256_ss": 15000.0}))
    ranked = rules.rank_wgmma_and_forms(instr)
    assert [(c.name, c.n) for c in ranked] == [("wgmma_and_m64n256k256_ss", 128), ("wgmma_and_m64n64k256_ss", 64)]
    d = rules.choose_wgmma_and(90, instr, None, None)
    assert d.config.block_n == 128 and d.instruction == "wgmma_and_m64n256k256_ss"
    # ... and one named rs whose A comes from shared memory is an ss form
    ss = load(rg.instr_doc({"wgmma_and_m64n128k256_rs": {"tops": 15700.0, "fields": {"a_source": "smem"}},
                            "wgmma_and_m64n128k256_ss": {"tops": 15700.0, "fields": {"a_source": "reg"}}}), "ss.json")
    assert [c.a_source for c in rules.rank_wgmma_and_forms(ss)] == ["smem", "reg"]
    assert rules.rank_wgmma_and_forms(ss)[0].name == "wgmma_and_m64n128k256_rs"


def test_forms_with_names_the_selection_has_never_seen(load):
    # Opaque names: what they are comes from group, dtype, shape and the PTX instruction.
    instr = load(rg.instr_doc({
        "bgmma_256": {"tops": 15700.0, "like": "wgmma_and_m64n256k256_ss"},
        "form_7": {"tops": 10500.0, "like": "mma_and_m16n8k256"},
        "form_8": {"tops": 3900.0, "like": "wmma_and_m8n8k128"},      # WMMA, not mma.sync: not an mma_and form
        "form_9": {"tops": 800.0, "like": "wmma_xor_m8n8k128"},
        "wgmma_s8": {"tops": 20000.0, "like": "wgmma_s8_m64n256k32_ss"},   # not b1
    }))
    assert names(rules.rank_wgmma_and_forms(instr)) == ["bgmma_256"]
    assert names(rules.rank_mma_and_forms(instr)) == ["form_7"]
    assert rules.choose_mma_and(90, instr, None, None).instruction == "form_7"
    assert rules.choose_btc_wmma(90, instr, None, None).instruction == "form_9"
    assert rules.choose_wgmma_and(90, instr, None, None).instruction == "bgmma_256"


def test_the_mma_and_kernel_shape_is_a_field(load):
    # Named m16n8k256 but k = 128: not the kernel's instruction, which was not measured then.
    instr = load(rg.instr_doc({"mma_and_m16n8k256": {"tops": 12000.0, "fields": {"k": 128}}}))
    d = rules.choose_mma_and(80, instr, None, None)
    ib = next(b for b in d.basis if b.field == "instruction")
    assert ib.kind == "fixed" and "which was not measured" in ib.why
    assert d.rankings[0].candidates[0].note == "the kernel implements m16n8k256 only"


@pytest.mark.parametrize("key, value, message", [
    ("n", None, ".n is None, not a positive integer"),
    ("a_source", "ss", ".a_source is 'ss', not one of smem, reg"),
    ("needs_sm90a", "no", ".needs_sm90a is 'no'"),
])
def test_an_instr_form_without_its_fields_is_an_error(run_cli, write_doc, tmp_path, key, value, message):
    doc = rg.instr_doc({"wgmma_and_m64n128k256_ss": 15700.0})
    doc["btcbench"]["forms"]["wgmma_and_m64n128k256_ss"][key] = value
    path = write_doc(doc, "instr.json")
    rc, _, err = run_cli("--results", path, "--out", tmp_path / "gen")
    assert rc == 2 and message in err and "btcbench.forms['wgmma_and_m64n128k256_ss']" in err
    assert len(err.strip().splitlines()) == 1 and str(path) in err
    assert not (tmp_path / "gen").exists()


# ====================================================================== the candidate table

# The rows the table must hold (the project's choice), written out here.
EXPECTED_ROWS = [
    ("wgmma_swizzle32", 256, 256, 16, 1, 1), ("wgmma_swizzle32", 256, 256, 16, 2, 1),
    (SW64, 256, 512, 8, 1, 1), (SW64, 256, 512, 8, 2, 1), (SW64, 256, 512, 8, 1, 2),
    (SW64, 256, 512, 6, 1, 1), (SW64, 256, 512, 6, 2, 1),
    ("wgmma_swizzle128", 256, 1024, 4, 1, 1), ("wgmma_swizzle128", 256, 1024, 4, 2, 1),
    (SW64, 128, 512, 8, 1, 1), ("wgmma_swizzle128", 128, 1024, 6, 1, 1),
]
BOX_K_BITS = {"wgmma_interleave": 256, "wgmma_swizzle32": 256, "wgmma_swizzle64": 512, "wgmma_swizzle128": 1024}


def _holds(c: Config) -> list[str]:
    """The kernel's constraints, restated from the C++ static_asserts."""
    broken = []
    smem = (c.stages * (c.block_m + c.block_n) * c.block_k_bits // 8 + 1024 + 2 * c.block_n * 4
            + (2 * c.stages + 4) * 8 + 1024)
    cap = (65536 // ((c.warps // 4 + 1) * 128)) & ~7
    checks = {
        "same layouts": c.a_layout == c.b_layout,
        "wgmma layout": c.a_layout in BOX_K_BITS,
        "K whole steps and boxes": c.block_k_bits % 256 == 0 and c.block_k_bits % BOX_K_BITS.get(c.a_layout, 1) == 0,
        "64 rows a warpgroup": c.block_m == 64 * c.warps // 4,
        "block_n": c.block_n in (128, 256) and c.block_n % 32 == 0,
        "shared memory": smem <= 232448,
        "cluster": c.cluster_m * c.cluster_n in (1, 2),
        "multicast swizzled": c.cluster_m * c.cluster_n == 1 or c.a_layout != "wgmma_interleave",
        "registers": c.block_n // 2 + 24 <= cap,
    }
    return [name for name, ok in checks.items() if not ok]


def test_the_table_is_the_planned_rows():
    assert [(c.a_layout, c.block_n, c.block_k_bits, c.stages, c.cluster_m, c.cluster_n)
            for c in WGMMA_AND_CANDIDATES] == EXPECTED_ROWS
    assert all(c.a_layout == c.b_layout and (c.block_m, c.warps) == (128, 8) for c in WGMMA_AND_CANDIDATES)
    assert len(set(WGMMA_AND_CANDIDATES)) == len(WGMMA_AND_CANDIDATES)
    # today's kWgmmaAnd (sw64, 128 x 256, 8 x 512 bits, no cluster) is one of them
    assert Config(SW64, SW64, 128, 256, 512, 8, 8, 1, 1) in WGMMA_AND_CANDIDATES


@pytest.mark.parametrize("row", WGMMA_AND_CANDIDATES, ids=lambda c: f"{c.a_layout}-{c.block_n}-"
                         f"{c.block_k_bits}x{c.stages}-{c.cluster_m}x{c.cluster_n}")
def test_every_row_builds(row):
    assert _holds(row) == []
    assert wgmma_config_problems(row) == []


def test_smem_bytes_of_todays_ring():
    # 8 x (128 + 256) x 64 B = 196,608 of ring + 1,024 ones + 2,048 column terms + 160 barriers + 1,024 slack
    assert wgmma_smem_bytes(Config(SW64, SW64, 128, 256, 512, 8, 8)) == 200864


@pytest.mark.parametrize("bad, problem", [
    (Config(SW64, "wgmma_swizzle32", 128, 256, 512, 8, 8), "layouts differ"),
    (Config("tile8x128", "tile8x128", 128, 256, 512, 8, 8), "not a wgmma layout"),
    (Config("wgmma_swizzle128", "wgmma_swizzle128", 128, 256, 512, 8, 8), "1024-bit wgmma_swizzle128 boxes"),
    (Config(SW64, SW64, 128, 256, 768, 4, 8), "512-bit wgmma_swizzle64 boxes"),
    (Config(SW64, SW64, 192, 256, 512, 4, 8), "64 rows per consumer warpgroup"),
    (Config(SW64, SW64, 128, 192, 512, 4, 8), "block_n 192"),
    (Config(SW64, SW64, 128, 256, 512, 10, 8), "over the 232448 of sm_90"),
    (Config(SW64, SW64, 128, 256, 512, 8, 8, 2, 2), "2 x 2 cluster"),
    (Config("wgmma_interleave", "wgmma_interleave", 128, 256, 512, 8, 8, 2, 1), "multicast with wgmma_interleave"),
    (Config(SW64, SW64, 192, 256, 512, 4, 12), "launch cap of 128"),
])
def test_constraint_violations_are_named(bad, problem):
    assert _holds(bad) != []
    assert any(problem in p for p in wgmma_config_problems(bad)), wgmma_config_problems(bad)


def test_the_candidates_header_is_the_table(run_cli, tmp_path):
    assert run_cli("--defaults", "--arch", "90", "--out", tmp_path)[0] == 0
    rows = candidate_rows((tmp_path / "bmm_candidates_sm90.h").read_text())
    assert [(r["a_layout"], r["b_layout"], r["block_n"], r["block_k_bits"], r["stages"], r["cluster_m"],
             r["cluster_n"], r["block_m"], r["warps"]) for r in rows] == [
        (layout_enum(lay), layout_enum(lay), str(n), str(k), str(s), str(cm), str(cn), "128", "8")
        for lay, n, k, s, cm, cn in EXPECTED_ROWS]


# ====================================================================== ranking measured candidates

def _bmm(designs, **kw):
    return rg.bmm_doc(designs, **kw)


def _rank(load, designs, name="bmm.json", arch=90):
    return rules.rank_bmm_candidates(load(_bmm(designs), name), arch)


def test_rank_by_geometric_mean_over_the_square_points(load):
    a = _tops(7000, 7100, 9000, 9100)
    b = _tops(8500, 8500, 8500, 8500)          # flatter, and a higher geometric mean
    c = _tops(6000, 6000, 6000, 6000)
    r = _rank(load, {"x": {"config": rg.bmm_config(), "tops": a},
                     "y": {"config": rg.bmm_config(stages=6), "tops": b},
                     "z": {"config": rg.bmm_config(block_n=128), "tops": c}})
    geo = {n: math.prod(t.values()) ** 0.25 for n, t in (("x", a), ("y", b), ("z", c))}
    assert geo["y"] > geo["x"] > geo["z"] and geo["x"] < 0.98 * geo["y"]     # no tie: the figure decides
    assert names(r.candidates) == sorted(geo, key=geo.get, reverse=True)
    assert [cand.tops for cand in r.candidates] == pytest.approx(sorted(geo.values(), reverse=True))
    assert r.points == tuple(POINTS)
    x = next(cand for cand in r.candidates if cand.name == "x")
    assert [(p.size, p.out, p.tops) for p in x.points] == [(s, o, a[(s, o)]) for s, o in POINTS]
    assert x.lo < x.tops < x.hi                # the spread of the repetitions, geometric too
    assert x.config == Config(SW64, SW64, 128, 256, 512, 8, 8)   # from forms[].config


def test_smaller_squares_and_other_shapes_do_not_count(load):
    doc = _bmm({"x": {"config": rg.bmm_config(), "tops": _tops(8000, 8000, 8000, 8000)}})
    # a 4096^3 run at 1 TOPS would sink the geometric mean if it counted
    doc["benchmarks"] += rg._run("bmm/x/m:4096/n:4096/k:4096/out:bits/manual_time", 1e6, {"tops": 1.0})
    doc["benchmarks"] += rg._run("bmm/x/m:16896/n:256/k:131072/out:bits/manual_time", 1e6, {"tops": 1.0})
    r = rules.rank_bmm_candidates(load(doc), 90)
    assert r.candidates[0].tops == pytest.approx(8000.0)


def test_tie_breaks_to_fewer_smem_bytes_then_no_multicast(load):
    fast, close = _tops(10000, 10000, 10000, 10000), _tops(9800, 9800, 9800, 9800)   # exactly 98%
    r = _rank(load, {"mc": {"config": rg.bmm_config(cluster=(2, 1)), "tops": fast},
                     "small": {"config": rg.bmm_config(stages=6), "tops": close}})
    assert names(r.candidates) == ["small", "mc"]            # 151,680 bytes against 200,864
    assert "within 2% of the best" in r.candidates[0].note
    # same bytes: the one without multicast
    r = _rank(load, {"mc": {"config": rg.bmm_config(cluster=(2, 1)), "tops": fast},
                     "plain": {"config": rg.bmm_config(), "tops": close}}, "b.json")
    assert names(r.candidates) == ["plain", "mc"]
    # more than 2% apart: the fastest, whatever its bytes
    r = _rank(load, {"mc": {"config": rg.bmm_config(cluster=(2, 1)), "tops": fast},
                     "small": {"config": rg.bmm_config(stages=6), "tops": _tops(9790, 9790, 9790, 9790)}}, "c.json")
    assert names(r.candidates) == ["mc", "small"]
    assert r.candidates[1].note == "more than 2% below the best"


def test_tie_break_basis_says_so(load):
    bmm = load(_bmm({"mc": {"config": rg.bmm_config(cluster=(2, 1)), "tops": _tops(10000, 10000, 10000, 10000)},
                     "small": {"config": rg.bmm_config(stages=6), "tops": _tops(9900, 9900, 9900, 9900)}}))
    d = rules.choose_wgmma_and(90, None, None, None, bmm)
    assert (d.config.stages, d.config.cluster_m) == (6, 1)
    basis = {b.field: b for b in d.basis}
    assert basis["all fields"].kind == "tie-break" and "not a measurement" in basis["all fields"].why
    assert "fewer shared-memory bytes (151,680 against 200,864)" in basis["all fields"].why


def test_only_measured_candidates_of_the_arch_count(load):
    r = _rank(load, {
        "chosen": {"config": rg.bmm_config(), "tops": _tops(7000, 7000, 9000, 9000)},
        "built": {"config": rg.bmm_config(stages=6), "candidate": False, "tops": 20000.0},    # the build's own
        "skip": {"config": rg.bmm_config(block_n=128), "status": "skipped"},
        "sm100": {"config": rg.bmm_config(stages=6), "arch": 100, "tops": 20000.0},
        "popc_u32": {"tops": 60.0},
    })
    assert names(r.candidates) == ["chosen"]


def test_names_are_opaque(load):
    # The name says swizzle128 x 4, the config says swizzle64 x 8: the config is what was measured.
    r = _rank(load, {"wgmma_and_sm90_sw128_k1024x4": {"config": rg.bmm_config(), "tops": 8000.0}})
    assert r.candidates[0].config == Config(SW64, SW64, 128, 256, 512, 8, 8)


def test_a_missing_point_is_an_error(run_cli, write_doc, load, tmp_path):
    partial = _tops(8000, 8000, 9000, 9000)
    del partial[(16384, "bits")]
    designs = {"full": {"config": rg.bmm_config(), "tops": 8000.0},
               "partial": {"config": rg.bmm_config(stages=6), "tops": partial}}
    with pytest.raises(model.SelectError, match=r"'partial' has no run at 16384³ bits; every candidate needs"):
        _rank(load, designs)
    # from the command line: one line naming the file, exit 2, nothing written
    instr = write_doc(rg.instr_doc({"wgmma_and_m64n256k256_ss": 15700.0}), "cli/instr-1.json")
    bmm = write_doc(_bmm(designs), "cli/bmm-1.json")
    out = tmp_path / "gen"
    out.mkdir()
    before = snapshot(out)
    rc, _, err = run_cli("--results-dir", instr.parent, "--out", out)
    assert rc == 2 and str(bmm) in err and "'partial' has no run at 16384³ bits" in err
    assert len(err.strip().splitlines()) == 1 and snapshot(out) == before


def test_an_output_missing_at_every_candidate_is_still_missing(load):
    only_bits = {(s, "bits"): 8000.0 for s in (8192, 16384)}
    with pytest.raises(model.SelectError, match="int32"):
        _rank(load, {"a": {"config": rg.bmm_config(), "tops": only_bits}})


def test_no_large_square_is_an_error(load):
    with pytest.raises(model.SelectError, match="no square problem with M = N = K >= 8192"):
        _rank(load, {"a": {"config": rg.bmm_config(), "tops": {(4096, "bits"): 8000.0, (4096, "int32"): 7000.0}}})


@pytest.mark.parametrize("edit, message", [
    (lambda f: f["config"].pop("stages"), "config.stages is None"),
    (lambda f: f["config"].update(a_layout="swizzle64"), "config.a_layout is 'swizzle64'"),
    (lambda f: f.pop("arch"), "a candidate without an arch"),
    (lambda f: f.update(candidate="yes"), "candidate is 'yes'"),
])
def test_a_malformed_candidate_is_an_error(run_cli, write_doc, tmp_path, edit, message):
    doc = _bmm({"a": {"config": rg.bmm_config(), "tops": 8000.0}})
    edit(doc["btcbench"]["forms"]["a"])
    path = write_doc(doc, "bmm-1.json")
    rc, _, err = run_cli("--results", path, "--out", tmp_path / "gen")
    assert rc == 2 and message in err and str(path) in err and len(err.strip().splitlines()) == 1


def test_a_candidate_that_would_not_build_is_not_chosen(load):
    too_big = rg.bmm_config(stages=10)          # 10 x 24 KiB of ring: over sm_90's shared memory
    r = _rank(load, {"big": {"config": too_big, "tops": 20000.0},
                     "ok": {"config": rg.bmm_config(), "tops": 8000.0}})
    assert names(r.candidates) == ["ok"] and names(r.excluded) == ["big"]
    assert r.excluded[0].note.startswith("not buildable today: ") and "232448" in r.excluded[0].note


def test_a_candidate_off_the_table_says_so(load):
    off = rg.bmm_config(stages=7)               # builds, but is no row of today's table
    r = _rank(load, {"off": {"config": off, "tops": 8000.0}})
    assert not r.candidates[0].in_table and "not in today's candidate table" in r.candidates[0].note


# ====================================================================== from the results folder

def _folder(write_doc, bmm_files):
    """instr + layout files (which alone would choose N = 128 and interleave) and the bmm files."""
    instr = write_doc(rg.instr_doc({"wgmma_and_m64n128k256_ss": 15700.0, "wgmma_and_m64n256k256_ss": 12000.0}),
                      "instr-1.json")
    write_doc(rg.layout_doc({"wgmma_and": {"wgmma_interleave": 1200.0, "wgmma_swizzle64": 1000.0}}), "layout-1.json")
    for name, doc in bmm_files.items():
        write_doc(doc, name)
    return instr.parent


def test_measured_candidates_decide_kwgmmaand(run_cli, write_doc, tmp_path):
    designs = {"d0": {"config": rg.bmm_config(), "tops": _tops(7600, 7700, 10000, 10200)},
               "d1": {"config": rg.bmm_config("wgmma_swizzle128", 256, 1024, 4), "tops": _tops(7000, 7000, 9000, 9000)}}
    folder = _folder(write_doc, {"bmm-1.json": _bmm(designs, created="2026-11-28T03:00:00Z")})
    out = tmp_path / "gen"
    rc, _, err = run_cli("--results-dir", folder, "--out", out)
    assert rc == 0, err
    header = (out / "bmm_config_sm90.h").read_text()
    got = constants(header)["kWgmmaAnd"]
    want = designs["d0"]["config"]
    assert {k: got[k] for k in ("block_m", "block_n", "block_k_bits", "stages", "warps", "cluster_m", "cluster_n")} \
        == {k: str(want[k]) for k in ("block_m", "block_n", "block_k_bits", "stages", "warps", "cluster_m", "cluster_n")}
    # the layout suite alone would pick interleave and the instr suite N = 128: the measured candidate wins
    assert got["a_layout"] == layout_enum(SW64) and got["block_n"] == "256"
    assert instruction_of(header, "kWgmmaAnd") == "wgmma_and_m64n256k256_ss"
    assert "bmm-1.json" in header


def test_the_report_cites_the_file_and_every_candidates_figures(run_cli, write_doc, tmp_path):
    designs = {"d0": {"config": rg.bmm_config(), "tops": _tops(7600, 7700, 10000, 10200)},
               "d1": {"config": rg.bmm_config(stages=6), "tops": _tops(7000, 7000, 9000, 9000)}}
    doc = _bmm(designs, created="2026-11-28T03:00:00Z")
    doc["btcbench"]["git"] |= {"commit": "feedface" + "0" * 32, "describe": "feedfac"}
    folder = _folder(write_doc, {"bmm-20261128T030000Z-feedfac.json": doc})
    out = tmp_path / "gen"
    assert run_cli("--results-dir", folder, "--out", out)[0] == 0
    report = (out / "bmm_config_sm90.md").read_text()
    section = report.split("#### Ranked: measured kWgmmaAnd candidates (bmm suite)", 1)[1].split("\n#### ", 1)[0]
    assert "`bmm-20261128T030000Z-feedfac.json` (git feedfac, NVIDIA H100 80GB HBM3, created 2026-11-28T03:00:00Z)" \
        in section
    spread = 1 / (1 - rg.SPREAD), 1 / (1 + rg.SPREAD)       # rates from the min/max repetition times
    for name, spec in designs.items():
        row = next(line for line in section.splitlines() if f"| `{name}` |" in line)
        geo = math.prod(spec["tops"].values()) ** 0.25
        assert f"{geo:,.1f} [{geo * spread[1]:,.1f}–{geo * spread[0]:,.1f}]" in row
        for point in POINTS:
            t = spec["tops"][point]
            assert f"{t:,.1f} [{t * spread[1]:,.1f}–{t * spread[0]:,.1f}]" in row
    assert "| **1** (chosen) | `d0` |" in section
    assert "geometric mean of median TOPS" in section and "fewer shared-memory bytes" in section
    assert "| bmm | `bmm-20261128T030000Z-feedfac.json` |" in report        # the files table


def test_the_newest_bmm_file_with_candidates_decides(run_cli, write_doc, tmp_path):
    old = _bmm({"a": {"config": rg.bmm_config(stages=6), "tops": 8000.0}}, created="2026-11-28T01:00:00Z")
    new = _bmm({"b": {"config": rg.bmm_config(block_n=128), "tops": 7000.0}}, created="2026-11-28T02:00:00Z")
    plain = _bmm({"wgmma_and_sm90": {"config": rg.bmm_config(), "candidate": False, "tops": 9000.0}},
                 created="2026-11-28T03:00:00Z")
    folder = _folder(write_doc, {"bmm-a.json": old, "bmm-b.json": new, "bmm-c.json": plain})
    out = tmp_path / "gen"
    assert run_cli("--results-dir", folder, "--out", out)[0] == 0
    assert field((out / "bmm_config_sm90.h").read_text(), "kWgmmaAnd", "block_n") == "128"   # from bmm-b
    report = (out / "bmm_config_sm90.md").read_text()
    assert "bmm files not used" in report and "`bmm-a.json`, `bmm-c.json`" in report


def test_without_candidates_kwgmmaand_falls_back(run_cli, write_doc, tmp_path):
    plain = _bmm({"wgmma_and_sm90": {"config": rg.bmm_config(), "candidate": False, "tops": 9000.0}})
    folder = _folder(write_doc, {"bmm-1.json": plain})
    out = tmp_path / "gen"
    assert run_cli("--results-dir", folder, "--out", out)[0] == 0
    header = (out / "bmm_config_sm90.h").read_text()
    got = constants(header)["kWgmmaAnd"]
    # the instr/layout choice as before (N = 128 and interleave), the default ring, no cluster
    assert (got["block_n"], got["a_layout"]) == ("128", layout_enum("wgmma_interleave"))
    assert (got["block_k_bits"], got["stages"], got["cluster_m"], got["cluster_n"]) == ("512", "8", "1", "1")
    assert "default: no measured bmm candidates" in header
    report = (out / "bmm_config_sm90.md").read_text()
    assert "| block_k_bits, stages | `512 × 8` | default | default: no measured bmm candidates" in report
    assert "#### kWgmmaAnd candidates" in report and "`bmm-1.json`" in report
