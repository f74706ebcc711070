"""Render the report of one results file, of any suite known here: the suite's
plots and markdown, with the paper's section (analysis.paper_tcbnn) added.
The composer: the one module that knows every report, and rebuild_all's
per-file step.

usage: python3 -m analysis.report RESULTS.json [--out-dir DIR]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Protocol, Sequence

from analysis import bmm_report, instr_report, layout_report, paper_tcbnn, stride_report
from analysis import btcresults as br
from analysis import report_common as rc


class Renderer(Protocol):
    def __call__(self, results: br.Results, out_dir: str | Path | None = None, *,
                 extra_sections: Sequence[rc.Section] = ()) -> Sequence[Path]: ...


# suite -> the report writing that suite's outputs beside the results file (or
# in out_dir). The bmm report finds its instruction peaks itself: the newest
# instr-*.json in the same folder (the same GPU).
RENDERERS: dict[str, Renderer] = {
    instr_report.SUITE: instr_report.render,
    stride_report.SUITE: stride_report.render,
    layout_report.SUITE: layout_report.render,
    bmm_report.SUITE: bmm_report.render,
}


def render(results: br.Results, out_dir: str | Path | None = None) -> Sequence[Path]:
    """Write the report of `results`; returns the paths written. ResultsError
    for a suite without a report (or a file its report cannot read)."""
    renderer = RENDERERS.get(results.suite)
    if renderer is None:
        raise br.ResultsError(f"{results.path}: no report for suite {results.suite!r} yet")
    return renderer(results, out_dir, extra_sections=paper_tcbnn.sections_for(results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="btcbench results JSON file (suite "
                        + ", ".join(f"'{s}'" for s in RENDERERS) + ")")
    parser.add_argument("--out-dir", help="output directory (default: beside the results file)")
    args = parser.parse_args(argv)
    try:
        outputs = render(br.load(args.results), args.out_dir)
    except br.ResultsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("\n".join(f"wrote {p}" for p in outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
