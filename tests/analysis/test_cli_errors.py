"""Every analysis command on bad input or an unwritable output: one line on
stderr (no traceback), a non-zero exit, nothing half-written. Run as a user
runs them (python3 -m ... from the repo root). Outputs are made unwritable
by putting a regular file or a folder where the other is expected, which
holds for root too (CI runs as root, so permission bits would not)."""
from __future__ import annotations

import gzip
import shutil

import pytest
from conftest import assert_one_line_error
from conftest import run_module as run

# ---------------------------------------------------------------- rebuild_all

def test_rebuild_all_nonexistent_dir(tmp_path):
    assert_one_line_error(run("analysis.rebuild_all", "--results-dir", str(tmp_path / "nope")), 2, "does not exist")


def test_rebuild_all_file_as_dir(tmp_path):
    (tmp_path / "plain").write_text("x")
    assert_one_line_error(run("analysis.rebuild_all", "--results-dir", str(tmp_path / "plain")), 2,
                          "is not a directory")


def test_rebuild_all_unwritable_report(tmp_path, instr_path):
    gpu = tmp_path / "gpu"
    gpu.mkdir()
    shutil.copy(instr_path, gpu / "instr-1.json")
    (gpu / "instr-1.md").mkdir()   # the report's path is taken by a folder
    p = run("analysis.rebuild_all", "--results-dir", str(tmp_path))
    assert p.returncode == 1
    assert "Traceback" not in p.stdout + p.stderr
    assert f"FAILED  {gpu / 'instr-1.json'}: cannot write its report: " in p.stdout
    assert (gpu / "instr-1.md").is_dir()
    assert not list(gpu.glob(".instr-1.md.*.tmp")), "a temporary file was left behind"


# ---------------------------------------------------------------- report

def test_report_missing_input(tmp_path):
    assert_one_line_error(run("analysis.report", str(tmp_path / "missing.json")), 1, "cannot read")


def test_report_corrupt_input(tmp_path, instr_path):
    bad = tmp_path / "bad.json"
    bad.write_text(instr_path.read_text()[:500])
    assert_one_line_error(run("analysis.report", str(bad)), 1, "not valid JSON")


def test_report_empty_input(tmp_path):
    (tmp_path / "empty.json").write_bytes(b"")
    assert_one_line_error(run("analysis.report", str(tmp_path / "empty.json")), 1, "is empty (0 bytes)")


def test_report_unwritable_out_dir(tmp_path, instr_path):
    (tmp_path / "plain").write_text("x")
    assert_one_line_error(run("analysis.report", str(instr_path), "--out-dir", str(tmp_path / "plain")), 1,
                          "cannot write the report of")


# ---------------------------------------------------------------- select

def test_select_nonexistent_results_dir(tmp_path):
    assert_one_line_error(run("analysis.select", "--results-dir", str(tmp_path / "nope"), "--out", str(tmp_path)),
                          2, "not a directory")


def test_select_corrupt_input(tmp_path, instr_path):
    bad = tmp_path / "instr-bad.json"
    bad.write_text(instr_path.read_text()[:500])
    assert_one_line_error(run("analysis.select", "--results", str(bad), "--out", str(tmp_path / "out")), 2,
                          "not valid JSON")
    assert not (tmp_path / "out").exists()


def test_select_unwritable_out(tmp_path):
    (tmp_path / "plain").write_text("x")
    assert_one_line_error(run("analysis.select", "--defaults", "--out", str(tmp_path / "plain")), 2,
                          "cannot write")
    assert (tmp_path / "plain").read_text() == "x"


# ---------------------------------------------------------------- sass_hotspots

@pytest.mark.parametrize("name, content, text", [
    ("missing.csv", None, "No such file"),
    ("not-a-gzip.csv.gz", b"plain text, not gzip", "Not a gzipped file"),
    ("cut.csv.gz", gzip.compress(b"Address,Source\n" * 100)[:30], "ended before the end-of-stream"),
    ("bad-deflate.csv.gz", gzip.compress(b"Address,Source\n" * 100)[:12] + b"\xff" * 40, ""),
    ("not-ncu.csv", b"a,b\n1,2\n", "not an ncu --page source --csv export"),
])
def test_sass_hotspots_bad_input(tmp_path, name, content, text):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    p = run("analysis.sass_hotspots", str(path))
    assert_one_line_error(p, 2, f"sass_hotspots: error: {path}: ")
    assert text in p.stderr
