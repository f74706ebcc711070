from __future__ import annotations

import shutil

from analysis import rebuild_all


def test_good_and_corrupt_file(tmp_path, capsys, instr_path):
    good = tmp_path / "nvidia-h100-80gb-hbm3" / "instr-1.json"
    good.parent.mkdir()
    shutil.copy(instr_path, good)
    corrupt = tmp_path / "aaa-corrupt.json"     # sorts first: the good one must still be rebuilt
    corrupt.write_text(instr_path.read_text()[:1000])

    assert rebuild_all.main(["--results-dir", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"CORRUPT {corrupt}: not valid JSON")
    assert lines[1] == f"ok      {good} -> instr-1.throughput.png, instr-1.md"
    assert str(corrupt) in err
    assert (good.parent / "instr-1.throughput.png").stat().st_size > 0
    assert (good.parent / "instr-1.md").stat().st_size > 0
    assert not list(tmp_path.glob("aaa-corrupt.*.png"))


def test_unknown_suite_is_skipped(tmp_path, capsys, instr_doc, write_doc):
    instr_doc["btcbench"]["suite"] = "membw"
    path = write_doc(instr_doc, "membw.json")
    assert rebuild_all.main(["--results-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"skipped {path}: no report for suite 'membw' yet\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["membw.json"]


def test_empty_dir(tmp_path, capsys):
    (tmp_path / "notes.md").write_text("not a results file")
    assert rebuild_all.main(["--results-dir", str(tmp_path)]) == 0
    assert "no results files" in capsys.readouterr().out


def test_missing_dir(tmp_path, capsys):
    assert rebuild_all.main(["--results-dir", str(tmp_path / "nope")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"python3 -m analysis.rebuild_all: error: {tmp_path / 'nope'} does not exist; nothing rebuilt\n"


def test_capture_manifest_is_not_a_results_file(tmp_path, capsys, instr_path):
    capture = tmp_path / "insitu-x" / "capture.json"     # an in situ capture committed beside results
    capture.parent.mkdir()
    capture.write_text('{"schema": "btcbench.insitu/1", "model": "tiny-resnet", "layers": []}')
    good = tmp_path / "instr-1.json"
    shutil.copy(instr_path, good)
    assert rebuild_all.main(["--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"skipped {capture}: an in situ capture manifest (docs/insitu.md), not a results file"
    assert out[1].startswith(f"ok      {good}")
    capture.write_text('{"schema": "something else"}')   # a capture.json that is not a manifest is judged as results
    assert rebuild_all.main(["--results-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().out.startswith(f"CORRUPT {capture}")
