"""analysis.select.bmm_shapes (the BMM per-shape selection) on the hand-made
fixture (tests/analysis/fixtures/bmm_small.json): the fastest tensor-core
design per problem and output, graph time over event time where every
candidate has it, no baseline or candidates-build row ever chosen, the files
it writes, and one-line errors. The committed selection regenerates from its
source byte for byte."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis import btcresults as br
from analysis.select import bmm_shapes as sel

FIXTURE = Path(__file__).parent / "fixtures" / "bmm_small.json"
REPO = Path(__file__).resolve().parents[2]


def _row(rows, m, n, k, out):
    return next(r for r in rows if (r["m"], r["n"], r["k"], r["out"]) == (m, n, k, out))


def test_choices_pick_the_fastest_tensor_core_design_per_problem_and_output():
    rows = sel.choices(br.load(FIXTURE))
    # 5 problems x 2 outputs, grouped by N, K with M ascending: 256 x 4096 x 4096 before 4096^3.
    assert len(rows) == 10
    assert [(r["m"], r["n"], r["k"]) for r in rows[:6:2]] == [(1024, 1024, 1024), (256, 4096, 4096), (4096, 4096, 4096)]
    assert [r["out"] for r in rows[:2]] == ["bits", "int32"]
    # The fixture's 1024^3: mma_and_sm90 beats wgmma there; from 4096^3 on wgmma wins.
    small = _row(rows, 1024, 1024, 1024, "bits")
    assert (small["design"], small["runner_up"], small["timing"]) == ("mma_and_sm90", "mma_and_sm80", "events")
    assert small["margin"] == pytest.approx(26.84 / 25.26, rel=1e-3)
    big = _row(rows, 8192, 8192, 8192, "int32")
    assert big["design"] == "wgmma_and_sm90"
    # Baselines (popc, cuBLAS) never count, even where they would win.
    assert {r["design"] for r in rows} <= {"btc_wmma_row", "btc_wmma_tile", "mma_and_sm80", "mma_and_sm90",
                                           "wgmma_and_sm90"}


def test_graph_time_ranks_where_every_candidate_has_it(tmp_path):
    doc = json.loads(FIXTURE.read_text())
    point = "/m:256/n:4096/k:4096/out:bits/"
    runs = [b for b in doc["benchmarks"] if point in b["run_name"]]
    assert runs
    for b in runs:  # events favour wgmma; graph replays favour mma_and_sm80 by 1.5x
        b["graph_time_per_run_us"] = 10.0 if b["run_name"].split("/")[1] == "mma_and_sm80" else 15.0
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(doc))
    row = _row(sel.choices(br.load(path)), 256, 4096, 4096, "bits")
    assert (row["design"], row["timing"]) == ("mma_and_sm80", "graph")
    assert row["time_us"] == pytest.approx(10.0) and row["margin"] == pytest.approx(1.5)
    # One candidate without a graph time: the point falls back to the event-timed medians.
    for b in runs:
        if b["run_name"].split("/")[1] == "btc_wmma_row":
            del b["graph_time_per_run_us"]
    path.write_text(json.dumps(doc))
    row = _row(sel.choices(br.load(path)), 256, 4096, 4096, "bits")
    assert (row["design"], row["timing"]) == ("wgmma_and_sm90", "events")


def test_a_candidates_builds_rows_are_never_chosen(tmp_path):
    """A BTC_BMM_CANDIDATES build's designs (forms[name].candidate) are not in
    a production registry: the runner could not find them by name."""
    doc = json.loads(FIXTURE.read_text())
    doc["btcbench"]["forms"]["wgmma_and_sm90"]["candidate"] = True
    path = tmp_path / "cand.json"
    path.write_text(json.dumps(doc))
    assert "wgmma_and_sm90" not in {r["design"] for r in sel.choices(br.load(path))}


def test_main_writes_json_table_and_header(tmp_path):
    assert sel.main([str(FIXTURE), "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "bmm_selection_sm90.json").read_text())
    assert doc["schema"] == "btcbench.bmm_selection.v1" and doc["epilogues"] == ["bits", "int32"]
    assert doc["source"]["file"] == FIXTURE.name
    table = (tmp_path / "bmm_selection_sm90.md").read_text()
    assert "| 1024 × 1024 × 1024 | bits | `mma_and_sm90` |" in table
    header = (tmp_path / "bmm_selection_sm90.h").read_text()
    assert header.count("SelectedOutput::k") == len(doc["choices"])
    assert '{1024, 1024, 1024, SelectedOutput::kBits, "mma_and_sm90"},' in header


def test_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    bconv = Path(__file__).parent / "fixtures" / "bconv_small.json"
    assert sel.main([str(tmp_path / "missing.json"), "--out", str(tmp_path)]) == 2
    assert sel.main([str(FIXTURE), "--out", str(tmp_path / "no_such_folder")]) == 2
    assert sel.main([str(bconv), "--out", str(tmp_path)]) == 2  # another suite's file
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("analysis.select.bmm_shapes: error: ") for line in err)
    assert "not bmm" in err[2]
    assert list(tmp_path.iterdir()) == []


def test_committed_selection_is_what_its_source_generates():
    gen = REPO / "kernels" / "generated"
    doc = json.loads((gen / "bmm_selection_sm90.json").read_text())
    results = br.load(REPO / "results" / "nvidia-h200" / doc["source"]["file"])
    rows = sel.choices(results)
    js, md = sel.render(results, rows)
    assert (gen / "bmm_selection_sm90.json").read_text() == js
    assert (gen / "bmm_selection_sm90.md").read_text() == md
    assert (gen / "bmm_selection_sm90.h").read_text() == sel.render_header(results, rows, 90)


def test_a_folder_gives_its_newest_file_with_tensor_core_runs(tmp_path):
    """results/<gpu-slug>/ as the source: the newest bmm-*.json by name (the
    harness names files by creation time) in which a production tensor-core
    design ran; a newer candidates-only sweep is passed over."""
    doc = json.loads(FIXTURE.read_text())
    (tmp_path / "bmm-20261101T000000Z-aaaaaaa.json").write_text(json.dumps(doc))
    for form in doc["btcbench"]["forms"].values():
        form["candidate"] = True
    (tmp_path / "bmm-20261102T000000Z-bbbbbbb.json").write_text(json.dumps(doc))
    (tmp_path / "bconv-20261103T000000Z-ccccccc.json").write_text((Path(__file__).parent / "fixtures" /
                                                                   "bconv_small.json").read_text())
    out = tmp_path / "out"
    out.mkdir()
    assert sel.main([str(tmp_path), "--out", str(out)]) == 0
    made = json.loads((out / "bmm_selection_sm90.json").read_text())
    assert made["source"]["file"] == "bmm-20261101T000000Z-aaaaaaa.json"
