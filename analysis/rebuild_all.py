"""Regenerate the plot and table of every results file under a directory.

usage: python3 -m analysis.rebuild_all [--results-dir DIR]

One line per file. Files of suites without a report yet are skipped, and so
are in situ capture manifests (capture.json of a capture directory,
docs/insitu.md), which are not results files. A net sweep's report takes the
PyTorch baselines of its run beside it (analysis.report.baselines_beside).
Each folder with net results also gets net-latest.md (analysis.net_summary):
the newest figure of each model beside the published ones.
Exit status: 0 ok (an existing directory without results files too), 1 some
file is corrupt or its report could not be rendered or written (all others
are still rebuilt), 2 the results directory does not exist (one line on
stderr, nothing written).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis import btcresults as br
from analysis import net_summary, report

PROG = "python3 -m analysis.rebuild_all"
DEFAULT_RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"


CAPTURE_MANIFEST = "capture.json"
CAPTURE_SCHEMA_PREFIX = "btcbench.insitu/"


def is_capture_manifest(path: Path) -> bool:
    """capture.json whose top-level schema is an in situ capture's."""
    if path.name != CAPTURE_MANIFEST:
        return False
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # then it is reported as the corrupt results file it claims to be
    return isinstance(doc, dict) and str(doc.get("schema", "")).startswith(CAPTURE_SCHEMA_PREFIX)


def rebuild(results_dir: Path) -> int:
    """Rebuild every *.json under results_dir; returns the exit status."""
    if not results_dir.is_dir():
        what = "is not a directory" if results_dir.exists() else "does not exist"
        print(f"{PROG}: error: {results_dir} {what}; nothing rebuilt", file=sys.stderr)
        return 2
    paths = sorted(results_dir.rglob("*.json"))
    if not paths:
        print(f"no results files (*.json) under {results_dir}; nothing to rebuild")
        return 0
    corrupt: list[Path] = []
    failed: list[Path] = []
    for path in paths:
        if is_capture_manifest(path):
            print(f"skipped {path}: an in situ capture manifest (docs/insitu.md), not a results file")
            continue
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
        except OSError as e:     # the report's folder or file cannot be written
            failed.append(path)
            print(f"FAILED  {path}: cannot write its report: {e}")
            continue
        except Exception as e:   # noqa: BLE001 - one bad file must not stop the rest
            failed.append(path)
            print(f"FAILED  {path}: {type(e).__name__}: {e} "
                  f"(python3 -m analysis.report {path} gives the traceback)")
            continue
        print(f"ok      {path} -> {', '.join(p.name for p in outputs)}")
    for folder in sorted({p.parent for p in paths}):   # each GPU's net figures beside the published ones
        try:
            written = net_summary.write_summary(folder)
        except OSError as e:
            failed.append(folder / net_summary.SUMMARY_NAME)
            print(f"FAILED  {folder / net_summary.SUMMARY_NAME}: cannot write it: {e}")
            continue
        if written is not None:
            print(f"ok      {written} (the newest net figures beside the published ones)")
    for label, bad in (("corrupt", corrupt), ("failed to render", failed)):
        if bad:
            print(f"{len(bad)} of {len(paths)} results files {label}: "
                  f"{', '.join(map(str, bad))}", file=sys.stderr)
    return 1 if corrupt or failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG,
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR,
                        help=f"directory searched recursively (default: {DEFAULT_RESULTS_DIR})")
    return rebuild(parser.parse_args(argv).results_dir)


if __name__ == "__main__":
    sys.exit(main())
