#!/usr/bin/env python3
"""The tree's layering and the one-spelling rule, checked from the sources.

1. Every C++ include of the tree ("harness/core/check.h": paths from the repo
   root) points to the same layer or one below it, by the table LAYERS
   (docs/architecture.md draws it). tests/ may include anything.
2. Every PTX instruction the code issues is spelled in asm text under
   kernels/atoms/ only, each mnemonic in one file there (the generated
   kernels/atoms/wgmma_asm.cuh spells none: it pastes atoms/ptx_b1.h).
3. formats/, kernels/, net/ and insitu/, whose device work runs on the
   caller's stream, call no cudaMemset or cudaMemcpy of the legacy default
   stream: a non-blocking stream is not ordered after them (net/runner.cpp,
   Impl::stream, says what that broke). The suites and microbenchmarks own
   their streams and may.

usage: check_layers.py [REPO]   (exit 1 and one line per violation)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

# Bottom to top. A file's layer is the longest prefix that matches its path.
LAYERS = [
    "harness/core",       # check, json, CLI grammar, results, metrics, device and code-target facts, CUPTI, timing
    "formats",            # bit-packing layouts, operand shapes, packers
    "kernels/atoms",      # one struct / function per PTX instruction
    "kernels/tile",       # operand tile I/O over the atoms
    "kernels/config",     # kernel variants as data (BmmConfig)
    "kernels/generated",  # the selection's output: configuration values
    "kernels/bmm",        # BMM interface and tensor-core designs
    "kernels/bconv",      # BConv interface, CPU reference, batch-norm thresholds
    "kernels/baselines",  # software popcount, cuBLAS
    "kernels",            # the registry listing every design
    "net",                # network runner: models, weights, CPU reference forward, planner
    "insitu",             # in situ capture: VTK files and capture.json of captured layer tensors, the GPU observer
    "microbench",         # characterization microkernels and their suites
    "harness/suites",     # production sweeps
    "harness/app",        # the btcbench command: lists every suite
]
SOURCE_DIRS = ("harness", "formats", "kernels", "net", "insitu", "microbench")
EXTS = {".h", ".cuh", ".cu", ".cpp"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
# The PTX instructions the tree issues through inline asm.
MNEMONIC = re.compile(r"(?<![\w.])(wmma\.mma|mma\.sync|wgmma\.[a-z_]+|ldmatrix|cp\.async(?:\.[a-z_:]+)*|mbarrier\.[a-z_]+"
                      r"|setmaxnreg\.[a-z]+|fence\.[a-z_]+|barrier\.cluster\.[a-z]+|bar\.sync|mapa)")
ATOMS = "kernels/atoms"
STREAM_OWNED = ("formats", "kernels", "net", "insitu")
LEGACY_MEMORY_CALL = re.compile(r"\bcudaMem(?:set|cpy)(?:2D|3D)?\s*\(")
LINE_COMMENT = re.compile(r"//[^\n]*")


def layer_of(rel: str) -> int | None:
    best = None
    for i, prefix in enumerate(LAYERS):
        if rel == prefix or rel.startswith(prefix + "/"):
            if best is None or len(prefix) > len(LAYERS[best]):
                best = i
    return best


def sources(repo: Path) -> list[Path]:
    return sorted(p for d in SOURCE_DIRS for p in (repo / d).rglob("*") if p.suffix in EXTS)


def include_violations(repo: Path) -> list[str]:
    out = []
    for path in sources(repo):
        rel = path.relative_to(repo).as_posix()
        mine = layer_of(rel)
        if mine is None:
            out.append(f"{rel}: in no layer (add its folder to LAYERS)")
            continue
        for target in INCLUDE.findall(path.read_text()):
            if (path.parent / target).exists() and not (repo / target).exists():
                continue  # a sibling by plain name (generated headers include their siblings)
            theirs = layer_of(target)
            if theirs is None:
                out.append(f"{rel}: includes {target}, which is in no layer")
            elif theirs > mine:
                out.append(f"{rel} ({LAYERS[mine]}) includes {target} ({LAYERS[theirs]}), a layer above it")
    return out


def _balanced_end(source: str, open_paren: int) -> int:
    """Index just past the parenthesis that closes the one at open_paren (strings skipped)."""
    depth, i = 0, open_paren
    while i < len(source):
        c = source[i]
        if c == '"':
            i += 1
            while i < len(source) and source[i] != '"':
                i += 2 if source[i] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(source)


def asm_text(source: str) -> list[str]:
    """String literals inside asm(...) statements, and in the PTX text macros."""
    found = []
    for m in re.finditer(r"\basm\s*(?:volatile\s*)?\(", source):
        found += STRING.findall(source[m.end() - 1:_balanced_end(source, m.end() - 1)])
    for m in re.finditer(r"^\s*#\s*define\s+BTC_PTX_\w+.*$", source, re.M):
        found += STRING.findall(m.group(0))
    return found


def spelling_violations(repo: Path) -> list[str]:
    out, where = [], {}
    for path in sources(repo):
        rel = path.relative_to(repo).as_posix()
        for text in asm_text(path.read_text()):
            for mnemonic in set(MNEMONIC.findall(text)):
                where.setdefault(mnemonic, set()).add(rel)
    for mnemonic, files in sorted(where.items()):
        outside = sorted(f for f in files if not f.startswith(ATOMS + "/"))
        if outside:
            out.append(f"PTX '{mnemonic}' spelled outside {ATOMS}/: {', '.join(outside)}")
        elif len(files) > 1:
            out.append(f"PTX '{mnemonic}' spelled in {len(files)} files: {', '.join(sorted(files))}")
    return out


def stream_violations(repo: Path) -> list[str]:
    out = []
    for path in sources(repo):
        rel = path.relative_to(repo).as_posix()
        if not rel.startswith(tuple(d + "/" for d in STREAM_OWNED)):
            continue
        text = LINE_COMMENT.sub("", path.read_text())
        for m in LEGACY_MEMORY_CALL.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            out.append(f"{rel}:{line}: {m.group(0).rstrip('( ')} on the legacy default stream "
                       "(use its Async form on the caller's stream)")
    return out


def main(argv: list[str]) -> int:
    repo = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1]
    problems = include_violations(repo) + spelling_violations(repo) + stream_violations(repo)
    for p in problems:
        print(f"check_layers: {p}")
    if not problems:
        print(f"check_layers: ok ({len(sources(repo))} files, {len(LAYERS)} layers)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
