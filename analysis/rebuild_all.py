"""Regenerate the plot and table of every results file under a directory.

usage: python3 -m analysis.rebuild_all [--results-dir DIR]

One line per file. Files of suites without a report yet are skipped; the exit
status is non-zero only if some file is corrupt or could not be rendered (all
others are still rebuilt).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis import btcresults as br
from analysis import report

DEFAULT_RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"


def rebuild(results_dir: Path) -> int:
    """Rebuild every *.json under results_dir; returns the exit status."""
    if not results_dir.is_dir():
        print(f"no results files: {results_dir} is not a directory; nothing to rebuild")
        return 0
    paths = sorted(results_dir.rglob("*.json"))
    if not paths:
        print(f"no results files (*.json) under {results_dir}; nothing to rebuild")
        return 0
    corrupt: list[Path] = []
    failed: list[Path] = []
    for path in paths:
        try:
            results = br.load(path)
        except br.ResultsError as e:
            corrupt.append(path)
            print(f"CORRUPT {e}")
            continue
        if results.suite not in report.RENDERERS:
            print(f"skipped {path}: no report for suite {results.suite!r} yet")
            continue
        try:
            outputs = report.render(results)
        except br.ResultsError as e:
            corrupt.append(path)
            print(f"CORRUPT {e}")
            continue
        except Exception as e:   # noqa: BLE001 - one bad file must not stop the rest
            failed.append(path)
            print(f"FAILED  {path}: {type(e).__name__}: {e} "
                  f"(python3 -m analysis.report {path} gives the traceback)")
            continue
        print(f"ok      {path} -> {', '.join(p.name for p in outputs)}")
    for label, bad in (("corrupt", corrupt), ("failed to render", failed)):
        if bad:
            print(f"{len(bad)} of {len(paths)} results files {label}: "
                  f"{', '.join(map(str, bad))}", file=sys.stderr)
    return 1 if corrupt or failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m analysis.rebuild_all",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR,
                        help=f"directory searched recursively (default: {DEFAULT_RESULTS_DIR})")
    return rebuild(parser.parse_args(argv).results_dir)


if __name__ == "__main__":
    sys.exit(main())
