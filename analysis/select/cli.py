"""The command line: python3 -m analysis.select (see analysis/select/__init__.py).

Exit status: 0 ok, 1 --check found a stale file, 2 error (one line naming the
file; nothing written).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from analysis import btcresults as br
from analysis.select.emit_header import CANDIDATES_HEADER, config_header_name, render_candidates, \
    render_header, render_umbrella
from analysis.select.emit_report import render_report
from analysis.select.model import (ARCHES, DEFAULT_OUT, PROG, REGEN_HINT, SUITES, ArchConfig, SelectError,
                                   detect_arch, load_results, pick_files, results_dir_files)
from analysis.select.rules import defaults, select


def render(ac: ArchConfig) -> dict[str, str]:
    return {config_header_name(ac.arch): render_header(ac), f"bmm_config_sm{ac.arch}.md": render_report(ac)}


def plan(args: argparse.Namespace) -> dict[str, str]:
    """File name -> content, for everything this invocation writes."""
    out = Path(args.out)
    files: dict[str, str] = {}
    if args.defaults:
        for arch in ([args.arch] if args.arch else ARCHES):
            files.update(render(defaults(arch)))
    else:
        if args.results_dir:
            loaded = load_results(results_dir_files(args.results_dir), explicit=False)
            if not loaded:
                raise SelectError(f"{args.results_dir}: no results files of the suites {', '.join(SUITES)}")
        else:
            loaded = load_results(args.results, explicit=True)
        arch = detect_arch(loaded)
        if args.arch and args.arch != arch:
            raise SelectError(f"--arch {args.arch} given, but the results are from sm_{arch} devices")
        files.update(render(select(arch, *pick_files(loaded, arch))))
        for other in ARCHES:
            if other != arch and not (out / config_header_name(other)).exists():
                files.update(render(defaults(other)))
    files[CANDIDATES_HEADER] = render_candidates()
    files["bmm_config.h"] = render_umbrella()
    return files


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog=f"python3 -m {PROG}",
        description="Rank BMM configurations from btcbench results and generate kernels/generated/.",
        epilog=f"Exit status: 0 ok, 1 --check found a stale file, 2 error. One command for the whole "
               f"loop: {REGEN_HINT.split(',')[0]}.")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--results-dir", metavar="DIR", help="results/<gpu-slug>: the newest file of each suite")
    src.add_argument("--results", metavar="FILE", nargs="+", help="results files (the newest of each suite is used)")
    src.add_argument("--defaults", action="store_true", help="built-in defaults for every arch (or --arch)")
    ap.add_argument("--arch", type=int, choices=ARCHES, help="the arch to generate (must match the results)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), metavar="DIR",
                    help="output directory (default: kernels/generated)")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if regenerating would change a file")
    args = ap.parse_args(argv)
    try:
        files = plan(args)
    except SelectError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    stale = []
    for name, content in files.items():
        path = out / name
        try:
            current = path.read_text() if path.exists() else None
        except (OSError, UnicodeDecodeError):
            current = None
        if current == content:
            continue
        stale.append(path)
        if not args.check:
            try:
                out.mkdir(parents=True, exist_ok=True)
                br.write_atomic(path, content)
            except OSError as e:
                print(f"{PROG}: error: cannot write {path}: {e}", file=sys.stderr)
                return 2
            print(f"{PROG}: wrote {path}")
    if args.check:
        for path in stale:
            print(f"{PROG}: {path} is out of date (regenerate: {REGEN_HINT})", file=sys.stderr)
        if not stale:
            print(f"{PROG}: {len(files)} files up to date in {out}")
        return 1 if stale else 0
    if not stale:
        print(f"{PROG}: {len(files)} files unchanged in {out}")
    return 0
