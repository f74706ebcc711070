"""analysis.select.bconv on the hand-made fixture (tests/analysis/fixtures/bconv_small.json):
the fastest tensor-core design per problem, its runner-up and margin, the
files it writes, and one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis import btcresults as br
from analysis.select import bconv as sel

FIXTURE = Path(__file__).parent / "fixtures" / "bconv_small.json"


def test_choices_pick_the_fastest_tensor_core_design_with_its_margin():
    rows = sel.choices(br.load(FIXTURE))
    assert rows, "the fixture has bits points"
    # The fixture makes wgmma fastest everywhere and mma_and 2.5x its time; baselines never count.
    assert {r["design"] for r in rows} == {"bconv_wgmma_and_sm90"}
    assert {r["runner_up"] for r in rows} == {"bconv_mma_and_sm90"}
    assert all(r["margin"] == pytest.approx(2.5, rel=1e-6) for r in rows)
    assert rows[0]["config"]["block_n"] == 256  # the design's generated tile travels with the choice
    # ResNet-18's layers first, in network order: 56^2x64 3x3 s1 at the smallest batch.
    assert (rows[0]["hw"], rows[0]["c"], rows[0]["k"], rows[0]["rs"], rows[0]["stride"], rows[0]["n"]) == \
        (56, 64, 64, 3, 1, 1)
    assert "resnet18" in rows[0]["groups"]
    # Each output ranked on its own points: the fixture's int32 points are fewer than its bits points.
    bits = [r for r in rows if r["out"] == "bits"]
    int32 = [r for r in rows if r["out"] == "int32"]
    assert (len(bits), len(int32)) == (21, 4)
    key = lambda r: (r["n"], r["hw"], r["c"], r["k"], r["rs"], r["stride"], r["pad"])
    assert {key(r) for r in int32} <= {key(r) for r in bits}
    assert rows.index(int32[0]) == rows.index(next(r for r in bits if key(r) == key(int32[0]))) + 1


def test_main_writes_json_and_table(tmp_path, capsys):
    assert sel.main([str(FIXTURE), "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "bconv_selection_sm90.json").read_text())
    assert doc["schema"] == "btcbench.bconv_selection.v4" and doc["epilogues"] == ["bits", "int32", "half"]
    assert {r["out"] for r in doc["choices"]} <= {"bits", "int32"}  # the fixture times no half output
    assert doc["source"]["file"] == FIXTURE.name
    table = (tmp_path / "bconv_selection_sm90.md").read_text()
    assert "`bconv_wgmma_and_sm90`" in table and "2.50×" in table
    header = (tmp_path / "bconv_selection_sm90.h").read_text()
    rows = doc["choices"]
    assert header.count('"bconv_wgmma_and_sm90"}') == len(rows)  # a C++ row per choice
    r = rows[0]
    out = {"bits": "kBits", "int32": "kInt32", "half": "kHalf"}[r["out"]]
    assert (f'{{{r["n"]}, {r["hw"]}, {r["c"]}, {r["k"]}, {r["rs"]}, {r["stride"]}, {r["pad"]}, '
            f'SelectedOutput::{out}, "{r["design"]}"}},') in header


def test_half_points_are_ranked_as_their_own_output(tmp_path):
    """A file that times the fused Bi-Real output (out:half) gets half rows,
    ranked on the half runs alone, after the problem's bits and int32 rows."""
    doc = json.loads(FIXTURE.read_text())
    int32 = [b for b in doc["benchmarks"] if "/out:int32/" in b["run_name"]]
    first = int32[0]["run_name"]
    for b in [b for b in int32 if b["run_name"] == first]:
        half = dict(b, name=b["name"].replace("out:int32", "out:half"), run_name=first.replace("out:int32", "out:half"),
                    real_time=b["real_time"] * 0.5)
        doc["benchmarks"].append(half)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    rows = sel.choices(br.load(path))
    half = [r for r in rows if r["out"] == "half"]
    assert len(half) == 1 and half[0]["design"] == first.split("/")[1]
    assert half[0]["runner_up"] is None  # one design timed half on that point
    assert rows.index(half[0]) == rows.index(next(r for r in rows if r["out"] == "int32" and
                                                   (r["n"], r["hw"], r["k"]) == (half[0]["n"], half[0]["hw"],
                                                                                 half[0]["k"]))) + 1
    assert 'SelectedOutput::kHalf, "' in sel.render_header(br.load(path), rows, 90)


def test_committed_selection_is_what_its_source_generates():
    """kernels/generated/bconv_selection_sm90.{json,md,h} regenerate byte for byte
    from the results file they name (committed under results/)."""
    gen = Path(__file__).resolve().parents[2] / "kernels" / "generated"
    doc = json.loads((gen / "bconv_selection_sm90.json").read_text())
    # The file it names, under whichever GPU's folder holds it (exactly one).
    found = sorted((Path(__file__).resolve().parents[2] / "results").glob("*/" + doc["source"]["file"]))
    assert len(found) == 1, found
    results = br.load(found[0])
    rows = sel.choices(results)
    js, md = sel.render(results, rows)
    assert (gen / "bconv_selection_sm90.json").read_text() == js
    assert (gen / "bconv_selection_sm90.md").read_text() == md
    assert (gen / "bconv_selection_sm90.h").read_text() == sel.render_header(results, rows, 90)


def test_errors_are_one_line(tmp_path, capsys):
    assert sel.main([str(tmp_path / "missing.json"), "--out", str(tmp_path)]) == 2
    assert sel.main([str(FIXTURE), "--out", str(tmp_path / "no_such_folder")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("analysis.select.bconv: error: ") for line in err)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_graph_time_ranks_where_every_candidate_has_it(tmp_path):
    """Where every tensor-core design of a point has a graph-replay time, the
    choice is the fastest by it, even against the event-timed order; a point
    where one candidate lacks it is ranked on the event-timed medians."""
    doc = json.loads(FIXTURE.read_text())
    point = "/n:1/hw:56/c:64/k:64/rs:3/stride:1/out:bits/"
    runs = [b for b in doc["benchmarks"] if point in b["run_name"] and b.get("aggregate_name") == "median"]
    names = {b["run_name"].split("/")[1] for b in runs}
    assert {"bconv_wgmma_and_sm90", "bconv_mma_and_sm90"} <= names
    for b in runs:  # events favour wgmma (the fixture's 2.5x); graph replays favour mma_and 2x
        mma = b["run_name"].split("/")[1] == "bconv_mma_and_sm90"
        b["graph_time_per_run_us"] = 0.05 if mma else 0.10
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(doc))
    row = next(r for r in sel.choices(br.load(path)) if (r["n"], r["hw"], r["out"]) == (1, 56, "bits")
               and (r["c"], r["k"], r["rs"], r["stride"]) == (64, 64, 3, 1))
    assert (row["design"], row["timing"], row["runner_up"]) == ("bconv_mma_and_sm90", "graph", "bconv_wgmma_and_sm90")
    assert row["time_us"] == pytest.approx(0.05) and row["margin"] == pytest.approx(2.0)
    for b in runs:
        if b["run_name"].split("/")[1] == "bconv_mma_and_sm90":
            del b["graph_time_per_run_us"]
    path.write_text(json.dumps(doc))
    row = next(r for r in sel.choices(br.load(path)) if (r["n"], r["hw"], r["out"]) == (1, 56, "bits")
               and (r["c"], r["k"], r["rs"], r["stride"]) == (64, 64, 3, 1))
    assert (row["design"], row["timing"]) == ("bconv_wgmma_and_sm90", "events")
