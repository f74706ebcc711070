"""One rule for the per-shape selections (analysis.select.bconv and
analysis.select.bmm_shapes): rank the tensor-core designs that ran one point
(problem, batch, output) of a results file, and write the generated files.

The rank is on CUDA-graph replay time where every candidate of the point has
it (the small points the suites time that way: there an event pair around
one launch also counts the host's launch gap, ~8 µs on the H200, more than
most batch-1 kernels; the network runs in a graph), else on the event-timed
median. Ties keep the file's order (btcbench.forms).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from analysis import btcresults as br
from analysis import report_common as rc
from analysis.select.model import DEFAULT_OUT, SelectError, arch_of_cc

# Below this runner-up / choice time ratio the two are within run-to-run noise.
NOISE_MARGIN = 1.02


@dataclass(frozen=True)
class Ranked:
    best: rc.DesignRun
    runner_up: rc.DesignRun | None
    timing: str   # "graph" or "events"

    def time_s(self, run: rc.DesignRun) -> float:
        return (run.graph_time_s if self.timing == "graph" else run.time_s) or 0.0

    @property
    def best_us(self) -> float:
        return self.time_s(self.best) * 1e6

    @property
    def margin(self) -> float | None:
        return self.time_s(self.runner_up) / self.time_s(self.best) if self.runner_up else None

    @property
    def tops(self) -> float | None:
        """The choice's TOPS at the ranked time (its event-timed TOPS scaled to graph time)."""
        b = self.best
        return b.tops * b.time_s / self.time_s(b) if b.tops and b.time_s else None


def candidates(designs: Sequence[rc.Design]) -> list[rc.Design]:
    """The designs a selection may name: tensor-core production designs (not a
    BTC_BMM_CANDIDATES build's numbered rows, which the registry lacks)."""
    return [d for d in designs if d.tensor_core and not d.meta.get("candidate")]


def rank(runs: Sequence[rc.DesignRun | None]) -> Ranked | None:
    """The point's ranking, or None where no design has a time there."""
    ran = [r for r in runs if r is not None and r.time_s]
    if not ran:
        return None
    timing = "graph" if all(r.graph_time_s for r in ran) else "events"
    key: Callable[[rc.DesignRun], float] = (lambda r: r.graph_time_s) if timing == "graph" else (lambda r: r.time_s)
    ordered = sorted(ran, key=key)
    return Ranked(ordered[0], ordered[1] if len(ordered) > 1 else None, timing)


def choice_fields(r: Ranked) -> dict[str, Any]:
    """The fields every selection row carries about its ranking."""
    return {
        "design": r.best.design.name,
        "config": r.best.design.meta.get("config"),
        "timing": r.timing,
        "time_us": r.best_us,
        "tops": r.tops,
        "runner_up": r.runner_up.design.name if r.runner_up else None,
        "margin": r.margin,
    }


def source(results: br.Results) -> dict[str, Any]:
    git = results.meta.get("git", {})
    return {"file": results.path.name, "device": results.device.get("name"), "commit": git.get("commit"),
            "dirty": git.get("dirty")}


def commit_label(results: br.Results) -> str:
    git = results.meta.get("git", {})
    return f"{str(git.get('commit'))[:7]}{'-dirty' if git.get('dirty') else ''}"


def table_cells(row: dict[str, Any]) -> list[str]:
    """design, µs, timing, TOPS, runner-up and margin cells of a row's markdown line."""
    margin = f"{row['margin']:.2f}×" if row["margin"] else "—"
    tops = f"{row['tops']:.0f}" if row["tops"] else "—"
    runner_up = f"`{row['runner_up']}`" if row["runner_up"] else "—"
    return [f"`{row['design']}`", f"{row['time_us']:.2f}", row["timing"], tops, runner_up, margin]


RANK_SENTENCE = ("the tensor-core design with the lowest median time: CUDA-graph replay time (`graph`, "
                 "no launch gaps, as the network runs) where every candidate of the point has it, else the "
                 "event-timed median (`events`); margin = the runner-up's time over the choice's "
                 f"(below {NOISE_MARGIN:.2f} the two are within noise).")


def write_all(out: Path, files: dict[str, str]) -> None:
    """Each file atomically (a reader never sees half a header); OSError names the folder or file."""
    if not out.is_dir():
        raise OSError(f"{out}: not a folder")
    for name, text in files.items():
        br.write_atomic(out / name, text)
        print(f"wrote {out / name}")


def load_source(path: Path, suite: str,
                choices: Callable[[br.Results], list[dict[str, Any]]]) -> tuple[br.Results, list[dict[str, Any]]]:
    """A results file of `suite` and its rows; or, for a folder (results/<gpu-slug>/),
    the newest `<suite>-*.json` in it (names sort by creation time) that gives
    rows: a candidates build's or a baselines-only sweep gives none and is passed over."""
    if path.is_dir():
        files = sorted(path.glob(f"{suite}-*.json"), reverse=True)
        for f in files:
            results = br.load(f)
            if results.suite == suite and (rows := choices(results)):
                return results, rows
        raise SelectError(f"{path}: no {suite} results file in which a tensor-core design ran "
                          f"({len(files)} {suite}-*.json looked at)")
    results = br.load(path)
    if results.suite != suite:
        raise SelectError(f"{path}: a {results.suite} results file, not {suite}")
    rows = choices(results)
    if not rows:
        raise SelectError(f"{path}: no tensor-core design ran a point of its outputs")
    return results, rows


def render_doc(results: br.Results, rows: list[dict[str, Any]], *, schema: str, outputs: Sequence[str], title: str,
               module: str, intro: str, first_columns: Sequence[str],
               cells: Callable[[dict[str, Any]], list[str]]) -> tuple[str, str]:
    """A selection's JSON (its choices and their source) and its markdown table:
    `first_columns` (the problem, from `cells`) then the ranking's cells."""
    doc = {"schema": schema, "source": source(results), "epilogues": list(outputs), "choices": rows}
    header = [*first_columns, "design", "µs", "timing", "TOPS", "runner-up", "margin"]
    lines = [f"# {title} for {results.device.get('name')}",
             "",
             f"Generated by `python3 -m analysis.select.{module}` from `{results.path.name}` "
             f"(commit {commit_label(results)}). Do not edit.",
             "",
             intro,
             "",
             "| " + " | ".join(header) + " |",
             "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join([*cells(r), *table_cells(r)]) + " |" for r in rows]
    return json.dumps(doc, indent=1) + "\n", "\n".join(lines) + "\n"


def cpp_table(results: br.Results, arch: int, *, module: str, stem: str, what: str, row_header: str,
              namespace: str, columns: str, rows: Sequence[str]) -> str:
    """A generated selection header: provenance, the row type's include, and
    `inline constexpr <row type> kSelection[]` of the given C++ initializers."""
    lines = [f"// Generated by `python3 -m analysis.select.{module}` from {results.path.name}",
             f"// ({results.device.get('name')}, commit {commit_label(results)}). "
             f"Do not edit: {stem}_sm{arch}.md says why.",
             f"// {what}",
             "#pragma once",
             f'#include "kernels/config/{row_header}.h"',
             "",
             f"namespace {namespace}::generated::sm{arch} {{",
             "",
             f"// {columns}",
             f"inline constexpr {ROW_TYPES[row_header]} kSelection[] = {{",
             *(f"    {{{r}}}," for r in rows),
             "};", "", f"}}  // namespace {namespace}::generated::sm{arch}", ""]
    return "\n".join(lines)


# The C++ row type each row header declares (kernels/config/).
ROW_TYPES = {"bconv_selection_row": "SelectedDesign", "bmm_selection_row": "SelectedBmm"}


@dataclass(frozen=True)
class Selection:
    """What one per-shape selection module is: its suite, its files' stem and its rendering."""
    module: str                                                       # analysis.select.<module>
    suite: str                                                        # the results it reads
    stem: str                                                         # <stem>_sm<arch>.{json,md,h}
    choices: Callable[[br.Results], list[dict[str, Any]]]
    render: Callable[[br.Results, list[dict[str, Any]]], tuple[str, str]]          # json, md
    render_header: Callable[[br.Results, list[dict[str, Any]], int], str]


def main(sel: Selection, description: str, argv: Sequence[str] | None) -> int:
    """The command line both selections share. Exit: 0 written, 2 error (one line; nothing written)."""
    ap = argparse.ArgumentParser(prog=f"python3 -m analysis.select.{sel.module}", description=description)
    ap.add_argument("results", type=Path, help=f"a {sel.suite} results file, or a folder (results/<gpu-slug>): "
                                               "its newest one with tensor-core runs")
    ap.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help="folder to write into")
    args = ap.parse_args(argv)
    try:
        results, rows = load_source(args.results, sel.suite, sel.choices)
        arch = arch_of_cc(results.device.get("cc"), str(args.results))
        js, md = sel.render(results, rows)
        h = sel.render_header(results, rows, arch)
        write_all(args.out, {f"{sel.stem}_sm{arch}.json": js, f"{sel.stem}_sm{arch}.md": md,
                             f"{sel.stem}_sm{arch}.h": h})
    except (SelectError, br.ResultsError, OSError) as e:
        print(f"analysis.select.{sel.module}: error: {e}", file=sys.stderr)
        return 2
    return 0

