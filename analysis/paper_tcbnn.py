"""The TCBNN paper's Turing findings on strides and formats, as data, and how
a stride or layout results file compares with them.

Paper: Ang Li and Simon Su, "Accelerating Binarized Neural Networks via
Bit-Tensor-Cores in Turing GPUs", IEEE TPDS (doi:10.1109/TPDS.2020.3045828),
arXiv:2006.16578; code at github.com/pnnl/TCBNN.

FINDINGS holds what the paper says, in words only: no numbers from the paper
are quoted, and references name the part of the paper ("TCBNN, stride study")
rather than a figure number nobody here checked. comparison_rows() puts each
finding beside figures computed from a stride results file, and
layout_comparison_rows() puts the format finding (c) beside a layout results
file; every number and every verdict there comes from that file.
bmm_comparison_rows() puts the paper's BMM comparison (its BTC design on the
tile format against software-popcount BMM) beside a bmm results file, size by
size, with the factors computed from that file.

sections_for() gives a results file's paper section, as the composer
(analysis.report) passes it to the suite's report: this module builds on the
reports, and they do not import it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from analysis import bmm_report as bmr
from analysis import btcresults as br
from analysis import layout_report as lr
from analysis import report_common as rc
from analysis import stride_report as sr

PAPER = {
    "title": "Accelerating Binarized Neural Networks via Bit-Tensor-Cores in Turing GPUs",
    "authors": "Ang Li, Simon Su",
    "venue": "IEEE Transactions on Parallel and Distributed Systems",
    "doi": "10.1109/TPDS.2020.3045828",
    "arxiv": "2006.16578",
    "code": "https://github.com/pnnl/TCBNN",
    "gpus": "Turing",
    "citation": ("Ang Li and Simon Su, \"Accelerating Binarized Neural Networks via "
                 "Bit-Tensor-Cores in Turing GPUs\", IEEE TPDS, doi:10.1109/TPDS.2020.3045828 "
                 "(arXiv:2006.16578)"),
}

FINDINGS: list[dict[str, str]] = [
    {
        "id": "a",
        "statement": ("Fragment loads with ldm = 128 bits, each 8×128-bit tile stored "
                      "contiguously, sustain the highest load throughput on the bit tensor cores."),
        "reference": "TCBNN, stride study",
        "check": ("load mode: is the ldm at which each tile is contiguous (the tile's width: "
                  "128 bits for WMMA, 256 for mma) the fastest?"),
    },
    {
        "id": "b",
        "statement": ("Large strides (row-major storage with a large K) starve the bit tensor "
                      "core: one fragment load then touches 8 separate rows."),
        "reference": "TCBNN, stride study",
        "check": ("load mode: does throughput fall below half the path's best as ldm grows, "
                  "and do the per-load counters show the rows being split?"),
    },
    {
        "id": "c",
        "statement": ("The co-designed format (contiguous 8×128-bit tiles) makes bit-tensor-core "
                      "BMM beat the software-popcount BMM on row-major formats."),
        "reference": "TCBNN, BMM evaluation",
        "check": ("mma mode: do contiguous tiles feed the b1 MMA faster than row-major rows at "
                  "the largest ldm? (The software-popcount BMM is not part of this suite.)"),
    },
]

# Finding (c) as the layout suite checks it: the same BMM tile loop on the
# paper's tile format and on row-major words, on the WMMA engines (the b1
# 8×8×128 shape whose 8×128-bit fragments the tiles are built for).
TILE_LAYOUT = "tile8x128"
ROW_LAYOUT = "row_u32"
LAYOUT_FINDINGS: list[dict[str, str]] = [
    {**FINDINGS[2],
     "check": (f"layout suite: on each WMMA engine, does the BMM tile loop run faster on "
               f"`{TILE_LAYOUT}` than on row-major `{ROW_LAYOUT}`, and do the shared-memory "
               f"bank conflicts per tensor instruction go with the difference? (The "
               f"software-popcount BMM is not part of this suite.)")},
]

# Two rates within this fraction of each other count as the same.
FLAT_TOLERANCE = 0.10
VERDICTS = ("same", "differs", "not measured")


def _direction(ratio: float, faster: str, within: str, slower: str) -> tuple[str, str]:
    """Verdict on a paper claim that one choice beats another, from `ratio`
    (the paper's choice over the alternative): "same" with `faster` when it
    wins by more than FLAT_TOLERANCE, else "differs" with `within` or `slower`."""
    if ratio > 1 + FLAT_TOLERANCE:
        return "same", faster
    if ratio >= 1 / (1 + FLAT_TOLERANCE):
        return "differs", within
    return "differs", slower


@dataclass(frozen=True)
class ComparisonRow:
    finding: str     # FINDINGS (or LAYOUT_FINDINGS) id
    reference: str   # where in the paper
    paper: str       # what the paper says
    path: str        # the load path (stride) or engine (layout) the figures come from
    measured: str    # figures computed from the results file
    verdict: str     # one of VERDICTS
    reason: str      # why, from the same figures


def _gbps(p: sr.Point) -> str:
    return f"{p.gbps:,.1f} GB/s"


# (LoadRatios attribute, wording, table label) per memory space.
_EVIDENCE = {
    "global": [("sectors_per_request", "sectors per request", "sectors/request"),
               ("sectors_per_tile", "sectors per tile", "sectors/tile"),
               ("dram_per_useful_byte", "DRAM bytes per useful byte", "DRAM B/useful B")],
    "shared": [("wavefronts_per_tile", "shared wavefronts per tile", "wavefronts/tile"),
               ("conflicts_per_tile", "bank conflicts per tile", "conflicts/tile")],
}


def _counter_pairs(path: sr.PathData, a: sr.Point, b: sr.Point) -> list[tuple[str, str, float, float]]:
    """(wording, label, value at a, value at b) for the counters of a's and b's space."""
    out = []
    for attr, words, label in _EVIDENCE.get(path.space, []):
        va, vb = getattr(a.ratios, attr), getattr(b.ratios, attr)
        if va is not None and vb is not None:
            out.append((words, label, va, vb))
    return out


def _counters_measured(path: sr.PathData, a: sr.Point, b: sr.Point) -> str:
    pairs = _counter_pairs(path, a, b)
    if not pairs:
        return "no CUPTI counters"
    return "; ".join(f"{label} {va:.2f} → {vb:.2f}" for _, label, va, vb in pairs)


def _growth(path: sr.PathData, a: sr.Point, b: sr.Point) -> list[str]:
    """Counters that grow by more than FLAT_TOLERANCE from a to b."""
    return [f"{words} grow from {va:.2f} to {vb:.2f}"
            for words, _, va, vb in _counter_pairs(path, a, b)
            if vb > va * (1 + FLAT_TOLERANCE) and vb - va > 1e-9]


def _flat_reason(path: sr.PathData, r: sr.Regime) -> str:
    where = ("L1/L2 absorb the stride on this GPU" if path.space == "global" else
             "shared memory serves every stride alike on this GPU" if path.space == "shared"
             else "the stride costs no throughput on this GPU")
    return (f"throughput within {FLAT_TOLERANCE:.0%} across ldm "
            f"({r.worst.gbps:,.1f}–{r.best.gbps:,.1f} GB/s): {where}")


def _endpoints(path: sr.PathData, mode: str) -> tuple[list[sr.Point], sr.Point | None, str]:
    """Rated points of a mode, the contiguous-tile point (None if not measured),
    and why there is nothing to compare ('' if there is)."""
    pts = path.rated(mode)
    contiguous = path.contiguous_ldm or (pts[0].ldm if pts else None)
    c = next((p for p in pts if p.ldm == contiguous), None)
    if len(pts) < 2:
        return pts, c, f"fewer than two ldm values measured in {mode} mode"
    if c is None:
        return pts, c, f"no {mode}-mode run at the contiguous-tile ldm ({contiguous} bits)"
    return pts, c, ""


def _row(finding: dict[str, str], path: sr.PathData, measured: str,
         verdict: str, reason: str) -> ComparisonRow:
    return ComparisonRow(finding["id"], finding["reference"], finding["statement"],
                         path.name, measured, verdict, reason)


@dataclass(frozen=True)
class _LoadSeries:
    """A path's load-mode series with both ends measured."""
    regime: sr.Regime
    contiguous: sr.Point   # at the contiguous-tile ldm
    largest: sr.Point      # at the largest ldm
    measured: str          # the two ends side by side, for ComparisonRow.measured


def _load_series(finding: dict[str, str], path: sr.PathData) -> _LoadSeries | ComparisonRow | None:
    """The load-mode series to check a finding against; a 'not measured' row
    where an end is missing, None where the path has no load-mode rate."""
    pts, c, missing = _endpoints(path, "load")
    if not pts:
        return None
    if missing:
        return _row(finding, path, f"`{path.name}` load: {missing}", "not measured", missing)
    big = pts[-1]
    return _LoadSeries(sr.regime(path.name, "load", pts), c, big,
                       f"`{path.name}` load: {c.ldm}-bit ldm {_gbps(c)} vs {big.ldm}-bit ldm "
                       f"{_gbps(big)} ({c.gbps / big.gbps:.2f}×)")


def _on_load_series(check: Callable[[dict[str, str], sr.PathData, _LoadSeries], ComparisonRow]
                    ) -> Callable[[dict[str, str], sr.PathData], ComparisonRow | None]:
    """A check of the load-mode series; where it has no two ends to compare,
    _load_series's 'not measured' row or None instead."""
    def run(finding: dict[str, str], path: sr.PathData) -> ComparisonRow | None:
        series = _load_series(finding, path)
        return check(finding, path, series) if isinstance(series, _LoadSeries) else series
    return run


@_on_load_series
def _check_best_ldm(finding: dict[str, str], path: sr.PathData, series: _LoadSeries) -> ComparisonRow:
    r, c = series.regime, series.contiguous
    measured = f"{series.measured}; best ldm = {r.best.ldm} bits"
    if r.ratio <= 1 + FLAT_TOLERANCE:
        return _row(finding, path, measured, "differs", _flat_reason(path, r))
    if r.best.gbps <= c.gbps * (1 + FLAT_TOLERANCE):
        lead = (f"the contiguous-tile ldm ({c.ldm} bits) is the fastest" if r.best is c else
                f"the contiguous-tile ldm ({c.ldm} bits) is within {FLAT_TOLERANCE:.0%} of the "
                f"fastest (ldm = {r.best.ldm} bits)")
        return _row(finding, path, measured, "same",
                    f"{lead}, {c.gbps / r.worst.gbps:.2f}× the slowest (ldm = {r.worst.ldm} bits)")
    return _row(finding, path, measured, "differs",
                f"ldm = {r.best.ldm} bits is the fastest, {r.best.gbps / c.gbps:.2f}× the "
                f"contiguous-tile ldm ({c.ldm} bits)")


@_on_load_series
def _check_starved(finding: dict[str, str], path: sr.PathData, series: _LoadSeries) -> ComparisonRow:
    r, c, big = series.regime, series.contiguous, series.largest
    measured = f"{series.measured}; {_counters_measured(path, c, big)}"
    growth = _growth(path, c, big)
    if r.starved_from is not None:
        reason = (f"throughput falls below {sr.STARVED_FRACTION:.0%} of best from "
                  f"ldm = {r.starved_from.ldm} bits")
        return _row(finding, path, measured, "same", "; ".join([reason, *growth]))
    if r.ratio <= 1 + FLAT_TOLERANCE:
        reason = _flat_reason(path, r)
        if growth:
            reason += ", even though " + " and ".join(growth)
        return _row(finding, path, measured, "differs", reason)
    return _row(finding, path, measured, "differs",
                f"throughput drops to {r.lowest_fraction:.0%} of best at ldm = {r.worst.ldm} "
                f"bits but never below {sr.STARVED_FRACTION:.0%}: slowed, not starved")


def _check_format(finding: dict[str, str], path: sr.PathData) -> ComparisonRow | None:
    if not path.series.get("mma"):
        return None
    note = "the software-popcount BMM the paper compares against is not measured by this suite"
    pts = [p for p in path.series["mma"] if p.tops is not None and p.tops > 0]
    contiguous = path.contiguous_ldm or (pts[0].ldm if pts else None)
    c = next((p for p in pts if p.ldm == contiguous), None)
    big = pts[-1] if pts else None
    if c is None or big is None or big is c:
        missing = ("no mma-mode TOPS at the contiguous-tile ldm and a larger one"
                   if pts else "no mma-mode TOPS")
        return _row(finding, path, f"`{path.name}` mma: {missing}", "not measured",
                    f"{missing}; {note}")
    ratio = c.tops / big.tops
    measured = (f"`{path.name}` mma: contiguous tiles (ldm = {c.ldm} bits) {c.tops:,.1f} TOPS "
                f"vs row-major ldm = {big.ldm} bits {big.tops:,.1f} TOPS ({ratio:.2f}×)")
    verdict, why = _direction(
        ratio,
        f"contiguous tiles feed the b1 MMA {ratio:.2f}× faster than rows {big.ldm} bits apart",
        f"contiguous and row-major tiles feed the b1 MMA within {FLAT_TOLERANCE:.0%} of each other",
        f"rows {big.ldm} bits apart feed the b1 MMA {1 / ratio:.2f}× faster than contiguous tiles")
    return _row(finding, path, measured, verdict, f"{why}; {note}")


_CHECKS: dict[str, Callable[[dict[str, str], sr.PathData], ComparisonRow | None]] = {
    "a": _check_best_ldm, "b": _check_starved, "c": _check_format,
}


def comparison_rows(results: br.Results) -> list[ComparisonRow]:
    """Each finding beside this file's figures: one row per finding and load
    path with data, in FINDINGS order, then path order."""
    paths = sr.collect(results)
    rows = []
    for finding in FINDINGS:
        for path in paths:
            row = _CHECKS[finding["id"]](finding, path)
            if row is not None:
                rows.append(row)
    return rows


_NO_SOFTWARE_BMM = "the software-popcount BMM the paper compares against is not measured by this suite"


def _layout_missing(name: str, run: lr.LayoutRun | None) -> str | None:
    """Why a layout has no TOPS to compare, or None if it has."""
    if run is None:
        return f"no `{name}` form in this file"
    if run.status == "skipped":
        return f"`{name}` skipped"
    return None if run.tops is not None else f"no `{name}` run with a TOPS figure"


def _conflict_evidence(row: lr.LayoutRun, tile: lr.LayoutRun) -> tuple[str, str]:
    """(measured text, reason text) of the bank conflicts per tensor instruction."""
    row_c, tile_c = row.ratios.conflicts_per_inst, tile.ratios.conflicts_per_inst
    if row_c is None or tile_c is None:
        return "no CUPTI counters", "no CUPTI bank-conflict counters to say why"
    measured = (f"bank conflicts / tensor inst {row_c:.2f} (`{ROW_LAYOUT}`) vs "
                f"{tile_c:.2f} (`{TILE_LAYOUT}`)")
    if row_c > tile_c * (1 + FLAT_TOLERANCE) and row_c - tile_c > 1e-9:
        return measured, (f"row-major `{ROW_LAYOUT}` costs {row_c:.2f} shared-memory bank "
                          f"conflicts per tensor instruction against {tile_c:.2f} for the tiles")
    if tile_c > row_c * (1 + FLAT_TOLERANCE) and tile_c - row_c > 1e-9:
        return measured, (f"the tiles cost more shared-memory bank conflicts per tensor "
                          f"instruction ({tile_c:.2f}) than row-major `{ROW_LAYOUT}` ({row_c:.2f})")
    return measured, (f"both cost about the same shared-memory bank conflicts per tensor "
                      f"instruction ({row_c:.2f} vs {tile_c:.2f})")


def _check_layout(finding: dict[str, str], engine: lr.Engine) -> ComparisonRow | None:
    tile, row = engine.layout(TILE_LAYOUT), engine.layout(ROW_LAYOUT)
    if tile is None and row is None:
        return None

    def out(measured: str, verdict: str, reason: str) -> ComparisonRow:
        return ComparisonRow(finding["id"], finding["reference"], finding["statement"],
                             engine.name, f"`{engine.name}`: {measured}", verdict,
                             f"{reason}; {_NO_SOFTWARE_BMM}")

    missing = [m for m in (_layout_missing(TILE_LAYOUT, tile), _layout_missing(ROW_LAYOUT, row)) if m]
    if missing:
        return out("; ".join(missing), "not measured", "; ".join(missing))
    ratio = tile.tops / row.tops
    counters, evidence = _conflict_evidence(row, tile)
    measured = (f"`{TILE_LAYOUT}` {tile.tops:,.1f} TOPS vs `{ROW_LAYOUT}` {row.tops:,.1f} TOPS "
                f"({ratio:.2f}×); {counters}")
    verdict, why = _direction(
        ratio,
        f"the tiles run the BMM tile loop {ratio:.2f}× faster than row-major words",
        f"tiles and row-major words run within {FLAT_TOLERANCE:.0%} of each other",
        f"row-major words run the BMM tile loop {1 / ratio:.2f}× faster than the tiles")
    return out(measured, verdict, f"{why}; {evidence}")


def layout_comparison_rows(results: br.Results) -> list[ComparisonRow]:
    """Finding (c) beside a layout results file: one row per WMMA engine that
    lists tile8x128 or row_u32, in engine order."""
    rows = []
    for finding in LAYOUT_FINDINGS:
        for engine in lr.collect(results):
            if engine.name.split("_")[0] != "wmma":
                continue
            row = _check_layout(finding, engine)
            if row is not None:
                rows.append(row)
    return rows


# The paper's BMM comparison as the bmm suite checks it: whole BMMs, the
# paper's BTC design on its tile format against the software-popcount BMM.
PAPER_DESIGN = "btc_wmma_tile"
PAPER_ROW_DESIGN = "btc_wmma_row"
BMM_OUT = "bits"
BMM_FINDINGS: list[dict[str, str]] = [
    {"id": "c",
     "statement": ("Bit-tensor-core BMM on the co-designed format (contiguous 8×128-bit tiles) "
                   "beats the software-popcount BMM of SBNN and BSTC by a large factor."),
     "reference": "TCBNN, BMM evaluation",
     "check": (f"bmm suite, fused bits output, per square size: how many times faster than the "
               f"best software-popcount design measured here (`{bmr.POPC_FAMILY}` family, standing "
               f"in for SBNN and BSTC, which are not run) is the paper's design `{PAPER_DESIGN}`, "
               f"beside the same design on row-major operands (`{PAPER_ROW_DESIGN}`) and the "
               f"fastest tensor-core design? The paper's factor is not quoted here, so the verdict "
               f"checks the direction (faster by more than {FLAT_TOLERANCE:.0%}); every factor is "
               f"this GPU's.")},
]


def _bmm_missing(data: bmr.BmmData, design: str, p: bmr.Problem) -> str | None:
    """Why a design has no bits-output TOPS at p, or None if it has."""
    run = data.get(design, p, BMM_OUT)
    if run is None:
        return f"no `{design}` design in this file"
    if run.tops is not None:
        return None
    if run.skip_reason:
        return f"`{design}` skipped at {p.label} ({run.skip_reason})"
    return f"no `{design}` run at {p.label}"


def _check_bmm(finding: dict[str, str], data: bmr.BmmData, p: bmr.Problem,
               emulated_xor: bool) -> ComparisonRow:
    def out(measured: str, verdict: str, reason: str) -> ComparisonRow:
        return ComparisonRow(finding["id"], finding["reference"], finding["statement"],
                             p.label, f"{p.label}: {measured}", verdict, reason)

    base = data.best_popc(p, BMM_OUT)
    missing = [m for m in (_bmm_missing(data, PAPER_DESIGN, p),) if m]
    if base is None:
        missing.append(f"no software-popcount run at {p.label}")
    if missing:
        return out("; ".join(missing), "not measured", "; ".join(missing))
    tile = data.tops(PAPER_DESIGN, p, BMM_OUT)
    assert tile is not None and base.tops is not None
    ratio = tile / base.tops
    measured = (f"`{PAPER_DESIGN}` {tile:,.1f} TOPS vs best software popcount "
                f"`{base.design.name}` {base.tops:,.1f} TOPS ({ratio:.2f}×)")
    row = data.tops(PAPER_ROW_DESIGN, p, BMM_OUT)
    if row is not None:
        measured += f"; `{PAPER_ROW_DESIGN}` {row / base.tops:.2f}×"
    fastest = max((d for d in data.tensor_designs if data.tops(d.name, p, BMM_OUT) is not None),
                  key=lambda d: data.tops(d.name, p, BMM_OUT), default=None)
    if fastest is not None and fastest.name != PAPER_DESIGN:
        measured += (f"; fastest tensor-core design `{fastest.name}` "
                     f"{data.tops(fastest.name, p, BMM_OUT) / base.tops:.2f}×")
    notes = []
    if row is not None:
        notes.append(f"the tile format runs {tile / row:.2f}× the row-major `{PAPER_ROW_DESIGN}`")
    if emulated_xor:
        notes.append("this GPU emulates the b1 XOR MMA the design issues (two tensor-pipe "
                     "passes each, see docs/results-schema.md)")
    tail = "".join(f"; {n}" for n in notes)
    verdict, why = _direction(
        ratio,
        f"the paper's design runs the BMM {ratio:.2f}× faster than the best software popcount",
        f"the paper's design and the best software popcount run within {FLAT_TOLERANCE:.0%} of each other",
        f"the best software popcount runs the BMM {1 / ratio:.2f}× faster than the paper's design")
    return out(measured, verdict, why + tail)


def bmm_comparison_rows(results: br.Results) -> list[ComparisonRow]:
    """The paper's BMM comparison beside a bmm results file: one row per square
    size (smallest first), fused bits output; none where the file lists neither
    the paper's design nor a software-popcount design."""
    data = bmr.collect(results)
    if data.design(PAPER_DESIGN) is None and not any(
            d.family == bmr.POPC_FAMILY for d in data.designs):
        return []
    # sm_90 runs b1 XOR as two AND-popc passes (docs/results-schema.md).
    emulated_xor = str(results.device.get("cc", "")).startswith("9.")
    return [_check_bmm(finding, data, p, emulated_xor)
            for finding in BMM_FINDINGS for p in data.squares]


def markdown_lines(rows: list[ComparisonRow], findings: list[dict[str, str]],
                   nothing: str) -> list[str]:
    """The body of a report's paper section: the citation, then per finding
    with rows its statement, what is checked and a table of the rows; the
    line nothing where there are no rows at all."""
    lines = [f"{PAPER['citation']}. The paper measured {PAPER['gpus']} GPUs; its findings are "
             f"quoted in words only. Every figure and verdict below is computed from this file "
             f"(rates within {FLAT_TOLERANCE:.0%} of each other count as equal).", ""]
    if not rows:
        return lines + [nothing]
    for finding in findings:
        mine = [r for r in rows if r.finding == finding["id"]]
        if not mine:
            continue
        lines += [f"**({finding['id']}) {finding['statement']}** ({finding['reference']}). "
                  f"Checked here: {finding['check']}", "",
                  *rc.table(["This GPU measures", "Verdict", "Why"],
                            [[r.measured, r.verdict, r.reason] for r in mine]), ""]
    return lines[:-1]


# ---------------------------------------------------------------- sections for the reports

STRIDE_SECTION = "The paper's findings beside this GPU"
LAYOUT_SECTION = "The paper's findings beside this GPU"
BMM_SECTION = "The paper's BMM comparison beside ours"


def stride_section(results: br.Results) -> rc.Section:
    return (STRIDE_SECTION, markdown_lines(comparison_rows(results), FINDINGS,
                                           "No series in this file to compare."))


def layout_section(results: br.Results) -> rc.Section:
    return (LAYOUT_SECTION, markdown_lines(
        layout_comparison_rows(results), LAYOUT_FINDINGS,
        f"No WMMA engine in this file lists `{TILE_LAYOUT}` or `{ROW_LAYOUT}`."))


def bmm_section(results: br.Results) -> rc.Section:
    return (BMM_SECTION, markdown_lines(
        bmm_comparison_rows(results), BMM_FINDINGS,
        f"No square problem in this file runs `{PAPER_DESIGN}` or a software-popcount design."))


# suite -> its paper section; suites the paper says nothing about have none.
SECTIONS: dict[str, Callable[[br.Results], rc.Section]] = {
    sr.SUITE: stride_section, lr.SUITE: layout_section, bmr.SUITE: bmm_section}


def sections_for(results: br.Results) -> Sequence[rc.Section]:
    """The paper's sections for the report of `results` (none for other suites)."""
    make = SECTIONS.get(results.suite)
    return (make(results),) if make else ()
