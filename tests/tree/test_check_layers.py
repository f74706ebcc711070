"""tests/check_layers.py on small trees: what it must refuse, and the real tree."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "check_layers.py"


def run(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True)


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


GOOD = {
    "harness/core/check.h": "#pragma once\n",
    "formats/layout.h": '#include "harness/core/check.h"\n',
    "kernels/atoms/mma_sm80.cuh": 'asm volatile("mma.sync.aligned.m16n8k256.row.col.s32.b1.b1.s32.and.popc {%0};" : "+r"(x));\n',
    "kernels/bmm/design.cu": '#include "kernels/atoms/mma_sm80.cuh"\n#include "formats/layout.h"\n',
    "harness/app/main.cpp": '#include "kernels/bmm/design.cu"\n',
}


def test_a_clean_tree_passes(tmp_path):
    r = run(tree(tmp_path, GOOD))
    assert r.returncode == 0, r.stdout
    assert "check_layers: ok" in r.stdout


def test_an_include_from_a_layer_above_is_refused(tmp_path):
    r = run(tree(tmp_path, {**GOOD, "formats/layout.h": '#include "kernels/bmm/design.cu"\n'}))
    assert r.returncode == 1
    assert "formats/layout.h (formats) includes kernels/bmm/design.cu (kernels/bmm), a layer above it" in r.stdout


def test_a_file_in_no_layer_is_refused(tmp_path):
    r = run(tree(tmp_path, {**GOOD, "harness/stray.cpp": "int x;\n"}))
    assert r.returncode == 1 and "harness/stray.cpp: in no layer" in r.stdout


def test_ptx_outside_the_atoms_is_refused(tmp_path):
    stray = 'void f() { asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];" :: "r"(a)); }\n'
    r = run(tree(tmp_path, {**GOOD, "kernels/bmm/design.cu": stray}))
    assert r.returncode == 1
    assert "PTX 'ldmatrix' spelled outside kernels/atoms/: kernels/bmm/design.cu" in r.stdout


def test_one_instruction_spelled_in_two_atoms_is_refused(tmp_path):
    twin = 'asm volatile("mma.sync.aligned.m16n8k256.row.col.s32.b1.b1.s32.xor.popc {%0};" : "+r"(x));\n'
    r = run(tree(tmp_path, {**GOOD, "kernels/atoms/mma_twin.cuh": twin}))
    assert r.returncode == 1 and "PTX 'mma.sync' spelled in 2 files" in r.stdout


def test_strings_outside_asm_do_not_count(tmp_path):
    label = 'const char* kName = "mma.sync.aligned.m16n8k256";  // a table entry, not an instruction\n'
    r = run(tree(tmp_path, {**GOOD, "kernels/bmm/design.cu": label}))
    assert r.returncode == 0, r.stdout


def test_the_repository_itself():
    r = run(REPO)
    assert r.returncode == 0, r.stdout


def test_net_sits_above_kernels_and_below_the_suites(tmp_path):
    files = {**GOOD, "net/model.h": '#include "kernels/bmm/design.cu"\n#include "harness/core/check.h"\n',
             "harness/suites/net_suite.cpp": '#include "net/model.h"\n'}
    r = run(tree(tmp_path, files))
    assert r.returncode == 0, r.stdout
    r = run(tree(tmp_path, {**files, "net/model.h": '#include "harness/suites/net_suite.cpp"\n'}))
    assert r.returncode == 1
    assert "net/model.h (net) includes harness/suites/net_suite.cpp (harness/suites), a layer above it" in r.stdout
    r = run(tree(tmp_path, {**files, "kernels/bmm/design.cu": '#include "net/model.h"\n'}))
    assert r.returncode == 1 and "kernels/bmm/design.cu (kernels/bmm) includes net/model.h (net)" in r.stdout


def test_a_legacy_stream_copy_in_net_is_refused(tmp_path):
    files = {**GOOD, "net/runner.cpp": '#include "harness/core/check.h"\n'
             "void up(void* p, const void* h, size_t n, cudaStream_t s) {\n"
             "  cudaMemcpyAsync(p, h, n, cudaMemcpyHostToDevice, s);  // cudaMemcpy( in a comment is fine\n"
             "  cudaMemsetAsync(p, 0, n, s);\n}\n"}
    r = run(tree(tmp_path, files))
    assert r.returncode == 0, r.stdout
    files["net/runner.cpp"] += "void zero(void* p, size_t n) {\n  cudaMemset (p, 0, n);\n}\n"
    r = run(tree(tmp_path, files))
    assert r.returncode == 1
    assert "net/runner.cpp:7: cudaMemset on the legacy default stream" in r.stdout
    # A design's prepare() or run() takes its caller's stream too.
    files["kernels/bmm/design.cu"] += "void prepare(void* ws, size_t n) { cudaMemset(ws, 0, n); }\n"
    r = run(tree(tmp_path, files))
    assert r.returncode == 1 and "kernels/bmm/design.cu:3: cudaMemset on the legacy default stream" in r.stdout
    files["kernels/bmm/design.cu"] = GOOD["kernels/bmm/design.cu"]
    # The suites own their (default) stream: they may.
    files["net/runner.cpp"] = '#include "harness/core/check.h"\n'
    files["harness/suites/bmm_suite.cpp"] = "void f(void* p) { cudaMemset(p, 0, 4); }\n"
    r = run(tree(tmp_path, files))
    assert r.returncode == 0, r.stdout
