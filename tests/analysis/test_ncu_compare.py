"""analysis/ncu_compare.py on a made-up scripts/ncu_compare.sh output folder
(fixtures/ncu/out, written by fixtures/ncu/make_fixtures.py in ncu's raw-page
CSV layout), and scripts/ncu_compare.sh end to end with stand-ins for
btcbench, ncu and nvidia-smi that hand out the fixture's files (no GPU)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis import ncu_compare as nc

REPO = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "fixtures" / "ncu" / "out"
SCRIPT = REPO / "scripts" / "ncu_compare.sh"
BMM = "bmm/mma_and_sm90/m:1024/n:4096/k:4096/out:int32"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A private copy of the fixture folder, free to edit."""
    return Path(shutil.copytree(OUT, tmp_path / "out"))


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "analysis.ncu_compare", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def one_line_error(p: subprocess.CompletedProcess[str], text: str) -> None:
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], p.stderr


def case(cases: list[nc.CaseRun], kind: str, label: str, mode: str) -> nc.CaseRun:
    return next(c for c in cases if (c.row.kind, c.row.case, c.row.cache_control) == (kind, label, mode))


def metric(c: nc.CaseRun, name: str) -> nc.MetricRow:
    return next(m for m in c.metrics if m.metric == name)


# ---------------------------------------------------------------- parsing

@pytest.mark.parametrize("text, value", [("524,288", 524288), ("524288", 524288), ("1,234.5", 1234.5),
                                         ("90.18", 90.18), ("0", 0), (" 7 ", 7), ("", None), ("n/a", None)])
def test_parse_number(text, value):
    assert nc.parse_number(text) == value


@pytest.mark.parametrize("text", ["12,34", "abc", "1.2.3"])
def test_parse_number_rejects(text):
    with pytest.raises(ValueError):
        nc.parse_number(text)


def test_read_ncu_csv_two_launches_grouped_numbers():
    launches = nc.read_ncu_csv(OUT / "ncu" / "main-bmm-all.csv", ["dram__bytes_read.sum", "lts__t_sector_hit_rate.pct",
                                                                   "no__such_metric.sum"])
    assert [l.id for l in launches] == ["0", "1"]
    assert "row_popc_kernel" in launches[0].kernel and "mma_and_kernel" in launches[1].kernel
    assert launches[1].values == {"dram__bytes_read.sum": 2_210_304, "lts__t_sector_hit_rate.pct": 90.18}


def test_read_ncu_csv_plain_numbers_and_noise_before_the_header(tmp_path):
    text = (OUT / "ncu" / "main-stride-all.csv").read_text()
    path = tmp_path / "x.csv"
    path.write_text("==PROF== Connected to process 4242 (build/btcbench)\n==WARNING== something\n" + text)
    [launch] = nc.read_ncu_csv(path, ["l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum"])
    assert launch.values["l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum"] == 8_388_608 * 20


def _csv_with(tmp_path: Path, edit) -> Path:
    lines = (OUT / "ncu" / "main-instr-all.csv").read_text().splitlines()
    path = tmp_path / "edited.csv"
    path.write_text("\n".join(edit(lines)) + "\n")
    return path


@pytest.mark.parametrize("edit, problem", [
    (lambda lines: ["a,b", "1,2"], "not an ncu --csv --page raw export"),
    (lambda lines: [lines[0].replace('"Kernel Name"', '"Name"'), *lines[1:]], "no 'Kernel Name' column"),
    (lambda lines: lines[:2], "no launch rows"),
    (lambda lines: [*lines, '"1","2"'], "launch row 2 has 2 fields"),
    (lambda lines: [lines[0], lines[1].replace('"cycle"', '"Mcycle"'), *lines[2:]], "export with --print-units base"),
    (lambda lines: [*lines[:2], lines[2].replace('"97.48"', '"lots"')], "is not a number"),
])
def test_read_ncu_csv_problems(tmp_path, edit, problem):
    with pytest.raises(nc.CompareError, match=problem.replace("(", r"\(")):
        nc.read_ncu_csv(_csv_with(tmp_path, edit), ["sm__cycles_elapsed.max",
                                                    "sm__pipe_tensor_op_imma_cycles_active.avg.pct_of_peak_sustained_active"])


@pytest.mark.parametrize("name, kind", [
    ("sm__inst_executed_pipe_tensor_op_imma.sum", "sum"), ("dram__bytes_read.sum", "sum"),
    ("sm__cycles_elapsed.max", "max"), ("lts__t_sector_hit_rate.pct", "ratio"),
    ("sm__pipe_tensor_op_imma_cycles_active.avg.pct_of_peak_sustained_active", "ratio"),
    ("dram__bytes_read.sum.per_second", "ratio"), ("sm__warps_active.avg", "ratio")])
def test_metric_kind(name, kind):
    assert nc.metric_kind(name) == kind


def test_rel_diff():
    assert nc.rel_diff(101, 100) == pytest.approx(0.01)
    assert nc.rel_diff(0, 0) == 0
    assert nc.rel_diff(1, 0) == float("inf")
    assert nc.rel_diff(None, 1) is None and nc.rel_diff(float("nan"), 1) is None


# ---------------------------------------------------------------- comparing

def test_sums_agree_where_the_kernels_did_the_same_work():
    cases, env = nc.compare(OUT)
    assert env["gpu"].startswith("NVIDIA H200")
    summary = nc.summary_json(cases, env)["summary"]
    assert (summary["sums_compared"], summary["sums_within_1pct"]) == (48, 47)
    [differs] = summary["sums_differing"]
    assert (differs["case"], differs["cache_control"], differs["metric"]) == ("bmm", "none", "dram__bytes_read.sum")
    assert differs["reason"].startswith("warm L2")


def test_calibrated_loop_counts_are_scaled_to_btcbench():
    cases, _ = nc.compare(OUT)
    instr = case(cases, "main", "instr", "all")
    assert (instr.iters_btcbench, instr.iters_ncu) == (123_456, 123_000)
    imma = metric(instr, "sm__inst_executed_pipe_tensor_op_imma.sum")
    assert imma.scale == pytest.approx(123_456 / 123_000) and imma.rel_diff == pytest.approx(0, abs=1e-12)
    pct = metric(instr, "sm__pipe_tensor_op_imma_cycles_active.avg.pct_of_peak_sustained_active")
    assert pct.scale == 1 and pct.ncu == 97.48 and pct.agree is None and "ratio" in pct.reason
    assert case(cases, "main", "stride", "none").scale == 1   # same iters: nothing scaled


def test_two_kernels_fold_into_one_range():
    cases, _ = nc.compare(OUT)
    bmm = case(cases, "main", "bmm", "all")
    assert len(bmm.kernels) == 2
    dram = metric(bmm, "dram__bytes_read.sum")
    assert dram.ncu == 524_288 + 2_210_304 and dram.agree and "ncu: 524,288 + 2,210,304" in dram.reason
    cycles = metric(bmm, "sm__cycles_elapsed.max")
    assert cycles.ncu == 3_100 + 21_400 and cycles.agree is None and cycles.reason.startswith("elapsed cycles")
    rate = metric(bmm, nc.HIT_RATE)
    assert rate.ncu is None and rate.ncu_per_launch == [48.2, 90.18] and "holds 2 kernels" in rate.reason


def test_hit_rates_above_100_are_flagged():
    cases, env = nc.compare(OUT)
    flagged = {(d["kind"], d["case"], d["cache_control"], d["flag"])
               for d in nc.summary_json(cases, env)["summary"]["hit_rate_over_100"]}
    assert flagged == {("main", "bmm", "none", "btcbench hit rate > 100%"),
                       ("probe", "bmm", "none", "btcbench hit rate > 100%"),
                       ("probe", "stride_shared", "none", "btcbench hit rate > 100%")}


def test_a_kernel_of_several_above_100_is_flagged_too():
    assert nc._hit_flags(nc.HIT_RATE, 90.0, [101.5, 90.2]) == ["ncu hit rate > 100% (launch 0)"]
    assert nc._hit_flags(nc.HIT_RATE, 100.5, [99.0]) == ["btcbench hit rate > 100%"]
    assert nc._hit_flags("dram__bytes_read.sum", 500.0, [500.0]) == []


def test_probe_recomputes_the_hit_rate_from_its_counters():
    cases, _ = nc.compare(OUT)
    btc, ncu = nc.probe_of(case(cases, "probe", "bmm", "none"))
    assert btc.rate == pytest.approx(btc.rate_of_sums, abs=0.01) and btc.rate_of_sums > 100
    assert btc.rate_of_lookups < 100 and btc.lookup_gap == pytest.approx((501_233 + 19_310) / 477_052 - 1)
    assert ncu.rate is None                                   # two kernels: ncu's own rate does not fold
    assert ncu.hit == 16_900 + 416_100 and ncu.lookup_gap == pytest.approx(0)
    shared_btc, _ = nc.probe_of(case(cases, "probe", "stride_shared", "all"))
    assert shared_btc.sectors == 18_912                       # raw counts: the probe does not scale
    assert nc.probe_of(case(cases, "main", "instr", "all")) == []


def test_report_and_summary_files(out):
    p = run_module(str(out))
    assert p.returncode == 0, p.stderr
    assert "47 of 48 sums within 1%" in p.stdout
    md = (out / "ncu-compare.md").read_text()
    assert "## bmm: `" + BMM + "`" in md and "## L2 hit rate probe" in md
    assert "| `sm__inst_executed_pipe_tensor_op_imma.sum` | 521,478,144 | 521,478,144 | +0.00% | yes |" in md
    assert "**btcbench hit rate > 100%** (none)" in md
    assert ("- bmm, none: btcbench's passes saw different traffic (gap +9.12%), ncu's the same traffic "
            "(gap +0.00%)") in md
    summary = json.loads((out / "ncu-compare.json").read_text())
    assert summary["schema"] == nc.SCHEMA and len(summary["cases"]) == 10
    bmm = next(c for c in summary["cases"] if (c["kind"], c["case"], c["cache_control"]) == ("main", "bmm", "none"))
    assert bmm["launch_skip"] == 5 and len(bmm["ncu_kernels"]) == 2
    assert next(m for m in bmm["metrics"] if m["metric"] == nc.HIT_RATE)["flags"] == ["btcbench hit rate > 100%"]


def test_out_option_puts_both_files_there(out, tmp_path):
    p = run_module(str(out), "--out", str(tmp_path / "cmp.md"))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "cmp.md").is_file() and (tmp_path / "cmp.json").is_file()


def test_an_unexplained_difference_is_reported(out):
    csv_path = out / "ncu" / "main-instr-all.csv"
    ncu_imma, edited = 132 * 8 * 123_000 * 4, 132 * 8 * 125_000 * 4   # blocks x warps x iters x ilp
    csv_path.write_text(csv_path.read_text().replace(f'"{ncu_imma:,}"', f'"{edited:,}"', 1))
    cases, env = nc.compare(out)
    imma = metric(case(cases, "main", "instr", "all"), "sm__inst_executed_pipe_tensor_op_imma.sum")
    assert imma.agree is False and imma.reason == "unexplained"
    assert imma.rel_diff == pytest.approx(123_000 / 125_000 - 1)


# ---------------------------------------------------------------- bad inputs

def _edit_manifest(out: Path, edit) -> None:
    path = out / nc.MANIFEST
    path.write_text(edit(path.read_text()))


@pytest.mark.parametrize("edit, problem", [
    (lambda t: t.replace("\t1\tall\t", "\t3\tall\t", 1), "1 launch(es), the script asked ncu for 3"),
    (lambda t: t.replace("throughput_kernel", "other_kernel", 1), "which does not match 'other_kernel'"),
    (lambda t: t.replace("\t1\tall\tbtcbench/main-instr-all", "\t1\tnone\tbtcbench/main-instr-all", 1),
     "cache_control is 'all', the manifest says 'none'"),
    (lambda t: t.replace("tput/mma_and_m16n8k256/wps:8/ilp:4", "tput/mma_and_m16n8k256/wps:8/ilp:1", 1),
     "no run named tput/mma_and_m16n8k256/wps:8/ilp:1/manual_time"),
    (lambda t: t.replace("ncu/main-instr-all.csv", "ncu/gone.csv", 1), "gone.csv: cannot read"),
    (lambda t: t.replace("kind\t", "sort\t", 1), "is not the header"),
    (lambda t: t + "main\tinstr\n", "2 fields, expected 11"),
    (lambda t: t.splitlines()[0] + "\n", "no rows"),
])
def test_bad_inputs_give_one_line(out, edit, problem):
    _edit_manifest(out, edit)
    one_line_error(run_module(str(out)), problem)
    assert not (out / "ncu-compare.md").exists() and not (out / "ncu-compare.json").exists()


def test_counters_off_in_the_counter_run(out):
    path = out / "btcbench" / "main-instr-all" / "nvidia-h200" / "instr-20261202T120000Z-0123456.json"
    doc = json.loads(path.read_text())
    doc["btcbench"]["counters"] = {"enabled": False, "reason": "no permission"}
    path.write_text(json.dumps(doc))
    one_line_error(run_module(str(out)), "counters were off (no permission)")


def test_corrupt_results_file(out):
    path = out / "ncu" / "main-bmm-all-app" / "nvidia-h200" / "bmm-20261202T120000Z-0123456.json"
    path.write_text(path.read_text()[:300])
    one_line_error(run_module(str(out)), "not valid JSON")


def test_missing_folder_and_manifest(tmp_path):
    one_line_error(run_module(str(tmp_path / "nope")), "does not exist")
    one_line_error(run_module(str(tmp_path)), "manifest.tsv: cannot read")


def test_unwritable_output(out):
    (out / "ncu-compare.json").mkdir()
    one_line_error(run_module(str(out)), "ncu-compare.json: is a directory")
    assert not (out / "ncu-compare.md").exists()
    one_line_error(run_module(str(out), "--out", str(out / "no" / "such" / "r.md")), "does not exist")


# ---------------------------------------------------------------- the script

STUB_BTCBENCH = r'''#!/usr/bin/env python3
# btcbench stand-in: info, --version, and sweep copying the fixture's results file.
import json, os, shutil, sys
from pathlib import Path
fix, args = Path(os.environ["STUB_FIXTURES"]), sys.argv[1:]
if args == ["--version"]:
    print("btcbench 0123456 (stand-in)"); sys.exit(0)
if args[:1] == ["info"]:
    ok = os.environ.get("STUB_COUNTERS", "1") == "1"
    print(json.dumps({"name": "NVIDIA H200", "slug": "nvidia-h200", "chip": "GH100", "code_target": "sm_90a code on sm_90",
                      "driver_version": "580.159.04", "git_commit": "0123456789abcdef0123456789abcdef01234567",
                      "counters_available": ok, "counters_reason": "" if ok else "CUPTI_ERROR_INSUFFICIENT_PRIVILEGES"}))
    sys.exit(0)
opt = lambda name: args[args.index(name) + 1] if name in args else None
bench = opt("--filter")[1:-1]
kind = "probe" if opt("--metrics") or os.environ.get("STUB_KIND") == "probe" else "main"
mode = opt("--cache-control") or os.environ["STUB_MODE"]
rows = [r.split("\t") for r in (fix / "manifest.tsv").read_text().splitlines()[1:]]
row = next(r for r in rows if (r[0], r[2], r[3], r[7]) == (kind, args[1], bench, mode))
src = fix / (row[10] if "--no-counters" in args else row[8])
dest = Path(opt("--out")) / "nvidia-h200"
dest.mkdir(parents=True, exist_ok=True)
shutil.copy(src, dest / src.name)
print(f"btcbench: wrote {dest / src.name}")
'''

STUB_NCU = r'''#!/usr/bin/env python3
# ncu stand-in: --version, profiling (runs the program, writes a report naming the run), --import (the fixture's CSV).
import os, subprocess, sys
from pathlib import Path
fix, args = Path(os.environ["STUB_FIXTURES"]), sys.argv[1:]
if args == ["--version"]:
    print("NVIDIA (R) Nsight Compute Command Line Profiler\nVersion 2025.3.1.0 (build 36398880) (public-release)")
    sys.exit(0)
if "--import" in args:
    report = Path(args[args.index("--import") + 1])
    print((fix / "ncu" / (report.name[:-len(".ncu-rep")] + ".csv")).read_text(), end="")
    sys.exit(0)
valued = {"--kernel-name", "--launch-skip", "--launch-count", "--metrics", "--cache-control", "--clock-control",
          "--replay-mode", "--export"}
opts, i = {}, 0
while args[i].startswith("-"):
    if args[i] in valued:
        opts[args[i]], i = args[i + 1], i + 2
    else:
        opts[args[i]], i = True, i + 1
perm = os.environ.get("STUB_NCU_PERM") == "1"
if perm:
    print("==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to access NVIDIA GPU Performance Counters")
probe = "lts__t_sectors_lookup_hit.sum" in opts["--metrics"]
env = dict(os.environ, STUB_MODE=opts["--cache-control"], STUB_KIND="probe" if probe else "main")
rc = subprocess.call(args[i:], env=env)
if not perm:
    Path(opts["--export"] + ".ncu-rep").write_bytes(b"stand-in report\n")
sys.exit(rc)
'''


@pytest.fixture
def stubs(tmp_path: Path) -> dict[str, str]:
    """A build folder with a btcbench stand-in, an ncu and an nvidia-smi
    stand-in on PATH; returns the environment to run the script in."""
    build, bin_dir = tmp_path / "build", tmp_path / "bin"
    build.mkdir()
    bin_dir.mkdir()
    for path, text in ((build / "btcbench", STUB_BTCBENCH), (bin_dir / "ncu", STUB_NCU),
                       (bin_dir / "nvidia-smi", "#!/bin/sh\necho 'NVIDIA H200, 580.159.04, 96.00.AF.00.01, 1980 MHz'\n")):
        path.write_text(text)
        path.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("NCU", "NCU_COMPARE_PROBE")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", STUB_FIXTURES=str(OUT), BUILD=str(build))
    return env


def run_script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_script_end_to_end_with_stand_ins(stubs, tmp_path):
    dest = tmp_path / "cmp"
    p = run_script(stubs, stubs["BUILD"], str(dest))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "47 of 48 sums within 1%" in p.stdout
    rows = (dest / "manifest.tsv").read_text().splitlines()
    assert rows[0].split("\t") == list(nc.MANIFEST_COLUMNS) and len(rows) == 11
    assert rows[1:] == (OUT / "manifest.tsv").read_text().splitlines()[1:]
    log = (dest / "ncu_compare.log").read_text()
    assert "--kernel-name regex:row_popc_kernel\\|mma_and_kernel --launch-skip 5 --launch-count 2" in log
    assert "--cache-control none --clock-control none" in log and "Version 2025.3.1.0" in log
    assert "--metrics l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum,l1tex__t_requests" in log
    env = (dest / "environment.txt").read_text()
    assert "ncu: " in env and "2025.3.1.0" in env and "nvidia_smi: NVIDIA H200" in env
    assert (dest / "ncu-compare.md").is_file() and (dest / "ncu" / "probe-bmm-none.ncu-rep").is_file()


def test_script_without_the_probe(stubs, tmp_path):
    p = run_script({**stubs, "NCU_COMPARE_PROBE": "0"}, stubs["BUILD"], str(tmp_path / "cmp"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert len((tmp_path / "cmp" / "manifest.tsv").read_text().splitlines()) == 7


@pytest.mark.parametrize("env_edit, text", [
    ({"NCU": "/nonexistent/ncu"}, "ncu not found at NCU=/nonexistent/ncu"),
    ({"STUB_COUNTERS": "0"}, "NVreg_RestrictProfilingToAdminUsers=0"),
    ({"STUB_NCU_PERM": "1"}, "ERR_NVGPUCTRPERM"),
])
def test_script_failures_say_why_and_keep_what_was_written(stubs, tmp_path, env_edit, text):
    dest = tmp_path / "cmp"
    p = run_script({**stubs, **env_edit}, stubs["BUILD"], str(dest))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "FAILED" in p.stderr and text in p.stderr
    assert (dest / "ncu_compare.log").is_file()
    if "STUB_NCU_PERM" in env_edit:   # step 1 of the first case finished: its results file stays
        assert list((dest / "btcbench" / "main-instr-all").rglob("*.json"))


def test_script_usage(stubs, tmp_path):
    bare = run_script(stubs)
    assert bare.returncode == 2 and "usage: scripts/ncu_compare.sh BUILD_DIR OUT_DIR" in bare.stderr
    assert "scripts/ncu_compare.sh BUILD_DIR OUT_DIR" in run_script(stubs, "--help").stdout
    missing = run_script(stubs, str(tmp_path / "nobuild"), str(tmp_path / "cmp"))
    assert missing.returncode == 1 and "btcbench missing" in missing.stderr
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    used = run_script(stubs, stubs["BUILD"], str(tmp_path / "used"))
    assert used.returncode == 2 and "not an empty folder" in used.stderr
