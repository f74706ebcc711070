"""Render the report of one results file, of any suite known here: the suite's
plots and markdown, with the paper's section (analysis.paper_tcbnn) added.
The composer: the one module that knows every report, and rebuild_all's
per-file step.

usage: python3 -m analysis.report RESULTS.json [--out-dir DIR] [--instr INSTR.json]

Exit status: 0 ok, 1 a missing, corrupt or unreadable input or an unwritable
output (one line on stderr), 2 usage.

A bmm or bconv report's instruction peaks come from --instr, else from the
newest instr-*.json beside the results file (the same GPU): chosen here and
handed to the report, which reads no other file.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Protocol, Sequence

from analysis import bconv_report, bmm_report, instr_report, layout_report, net_report, paper_tcbnn, stride_report
from analysis import btcresults as br
from analysis import report_common as rc


class Renderer(Protocol):
    def __call__(self, results: br.Results, out_dir: str | Path | None = None, *,
                 extra_sections: Sequence[rc.Section] = ()) -> Sequence[Path]: ...


# suite -> the report writing that suite's outputs beside the results file (or
# in out_dir).
RENDERERS: dict[str, Renderer] = {
    instr_report.SUITE: instr_report.render,
    stride_report.SUITE: stride_report.render,
    layout_report.SUITE: layout_report.render,
    bmm_report.SUITE: bmm_report.render,
    bconv_report.SUITE: bconv_report.render,
    net_report.SUITE: net_report.render,
}
# Suites whose reports take the instr results of this GPU for their peaks.
INSTR_PEAK_RENDERERS = {bmm_report.SUITE: bmm_report.render, bconv_report.SUITE: bconv_report.render}


INSTR_GLOB = "instr-*.json"
INSTR_BESIDE = "the newest instr file beside this one"


def newest_instr_beside(results: br.Results) -> br.Results | None:
    """The newest instr-*.json (by name: the harness stamps the UTC time into
    it) in the results file's folder that loads, is an instr file and names
    the same device; None if there is none."""
    for path in sorted(results.path.parent.glob(INSTR_GLOB), key=lambda p: p.name, reverse=True):
        try:
            instr = br.load(path)
        except br.ResultsError:
            continue
        if instr.suite == "instr" and instr.device.get("name") == results.device.get("name"):
            return instr
    return None


BASELINE_GLOB = "torch-*.json"  # analysis/torch_baseline.py's files


def baselines_beside(results: br.Results) -> list[br.Results]:
    """A net sweep's baselines: the torch-*.json files in its folder (by name)
    that load as net files another program wrote of the same device and at
    the same commit (the run that was made with it); [] for a file that is
    itself such a baseline."""
    if results.suite != net_report.SUITE or results.meta.get("writer"):
        return []
    commit = results.meta.get("git", {}).get("commit")
    out = []
    for path in sorted(results.path.parent.glob(BASELINE_GLOB)):
        try:
            other = br.load(path)
        except br.ResultsError:
            continue
        if (other.suite == net_report.SUITE and other.meta.get("writer") and commit
                and other.meta.get("git", {}).get("commit") == commit
                and other.device.get("name") == results.device.get("name")):
            out.append(other)
    return out


def render(results: br.Results, out_dir: str | Path | None = None, *,
           instr_results: br.Results | None = None) -> Sequence[Path]:
    """Write the report of `results`; returns the paths written. ResultsError
    for a suite without a report (or a file its report cannot read).
    instr_results: a bmm or bconv report's instruction peaks (default: newest_instr_beside)."""
    renderer = RENDERERS.get(results.suite)
    if renderer is None:
        raise br.ResultsError(f"{results.path}: no report for suite {results.suite!r} yet")
    conditions = rc.conditions_section(results)
    extra = (*paper_tcbnn.sections_for(results), *([conditions] if conditions else []))
    with_peaks = INSTR_PEAK_RENDERERS.get(results.suite)
    if with_peaks is not None:
        origin = "given"
        if instr_results is None:
            instr_results, origin = newest_instr_beside(results), INSTR_BESIDE
        return with_peaks(results, out_dir, instr_results, instr_origin=origin, extra_sections=extra)
    if instr_results is not None:
        raise ValueError(f"instr results are an input of the bmm and bconv reports only, not of {results.suite!r}")
    if results.suite == net_report.SUITE:
        baselines = net_report.baselines_of(results, baselines_beside(results))
        return net_report.render(results, out_dir, extra_sections=extra, baselines=baselines)
    return renderer(results, out_dir, extra_sections=extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m analysis.report",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("results", help="btcbench results JSON file (suite "
                        + ", ".join(f"'{s}'" for s in RENDERERS) + ")")
    parser.add_argument("--out-dir", help="output directory (default: beside the results file)")
    parser.add_argument("--instr", metavar="INSTR.json",
                        help="bmm and bconv files: the instr results of the peaks (default: the newest "
                             "instr-*.json beside RESULTS)")
    args = parser.parse_args(argv)
    try:
        results = br.load(args.results)
        instr = br.load(args.instr) if args.instr else None
        if instr is not None and results.suite not in INSTR_PEAK_RENDERERS:
            parser.error(f"--instr applies to bmm and bconv results only; {args.results} is {results.suite!r}")
        outputs = render(results, args.out_dir, instr_results=instr)
    except br.ResultsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:   # the output folder or a report file cannot be written
        print(f"error: cannot write the report of {args.results}: {e}", file=sys.stderr)
        return 1
    print("\n".join(f"wrote {p}" for p in outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
