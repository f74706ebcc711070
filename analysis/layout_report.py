"""Report for the 'layout' suite: median TOPS of one BMM tile loop per
bit-packing layout and instruction engine (<stem>.layout_tops.png) and a
markdown report (<stem>.md).

Written through analysis.report (python3 -m analysis.report RESULTS.json),
which adds the paper's section (analysis.paper_tcbnn).

The tile loop is single-stage (global -> shared -> fragments -> b1 MMA, not
pipelined), so absolute TOPS are latency-bound by design: the suite compares
layouts within an engine, not against the instruction peaks of 'instr'.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from matplotlib.ticker import FuncFormatter

from analysis import btcresults as br
from analysis import report_common as rc
from analysis.report_common import DASH

SUITE = "layout"
# One colour per layout, the same in every engine's group.
LAYOUT_COLOURS = {"row_u32": "tab:blue", "row_u64": "tab:cyan", "tile8x128": "tab:orange",
                  "mma_frag_a16x256": "tab:red", "wgmma_interleave": "tab:green",
                  "wgmma_swizzle32": "tab:olive", "wgmma_swizzle64": "tab:purple",
                  "wgmma_swizzle128": "tab:brown"}
_SPARE_COLOURS = ("tab:pink", "tab:gray", "gold", "teal", "navy")
# Tensor-pipe instructions: b1 MMA of every engine (wmma, mma.sync, wgmma)
# counts on the imma pipe; a form may name another metric.
TENSOR_INSTS = "cupti.sm__inst_executed_pipe_tensor_op_imma.sum"
LDSM = "cupti.smsp__inst_executed_op_ldsm.sum"


@dataclass(frozen=True)
class LayoutName:
    engine: str
    layout: str   # the A operand's layout; the form says B's


def parse_layout_name(name: str) -> LayoutName:
    """Parse 'layout/<engine>/layout:<layout>/manual_time'; ValueError if off-grammar."""
    try:
        bench = br.parse_generic_name(name)
    except ValueError:
        bench = None
    if bench is None or bench.kind != SUITE or bench.keys != ("layout",):
        raise ValueError(f"benchmark name {name!r} does not match "
                         f"'layout/<engine>/layout:<layout>/manual_time'")
    return LayoutName(bench.form, str(bench.param("layout")))


@dataclass(frozen=True)
class InstRatios:
    """Counters of one run per tensor-pipe instruction. CUPTI counts one
    launch, and so does the instruction count, so the ratio is per MMA
    instruction as the tensor pipe executes it."""
    conflicts_per_inst: float | None    # shared-memory bank conflicts (loads)
    wavefronts_per_inst: float | None   # shared-memory wavefronts (loads)
    ldsm_per_inst: float | None         # ldmatrix instructions
    l2_hit: rc.L2Hit | None             # hit/(hit+miss) where the run has the sums (rc.l2_hit)


def inst_ratios(counters: Mapping[str, float], inst_metric: str = TENSOR_INSTS) -> InstRatios:
    """None for every ratio whose counters are absent or whose instruction count is zero."""
    insts = counters.get(inst_metric)
    return InstRatios(
        conflicts_per_inst=rc.ratio(rc.first(counters, rc.SHARED_CONFLICTS), insts),
        wavefronts_per_inst=rc.ratio(rc.first(counters, rc.SHARED_WAVEFRONTS), insts),
        ldsm_per_inst=rc.ratio(counters.get(LDSM), insts),
        l2_hit=rc.l2_hit(counters),
    )


@dataclass(frozen=True)
class LayoutRun:
    """One engine with one layout: its btcbench.forms entry and its run, if any."""
    form: str                  # the btcbench.forms key, '<engine>_<layout>'
    engine: str
    layout: str                # A's layout, as the run name gives it
    b_layout: str
    status: str                # the form's status: measured | skipped
    meta: dict[str, Any]       # the raw btcbench.forms entry
    run: br.RunSummary | None

    @property
    def label(self) -> str:
        """The layout, or 'A + B' where the operands use different layouts."""
        return self.layout if self.b_layout == self.layout else f"{self.layout} + {self.b_layout}"

    @property
    def tops(self) -> float | None:
        tops = self.run.counter("tops") if self.run else None
        return tops if tops is not None and tops > 0 else None

    @property
    def gbps(self) -> float | None:
        return self.run.counter("gbps") if self.run else None

    def tops_spread(self) -> tuple[float, float, float] | None:
        """(min, median, max) TOPS over the repetitions."""
        return rc.spread(self.tops, self.run) if self.tops is not None and self.run else None

    @property
    def inst_metric(self) -> str:
        metric = self.meta.get("tensor_inst_metric")
        return "cupti." + metric if isinstance(metric, str) and metric else TENSOR_INSTS

    @property
    def ratios(self) -> InstRatios:
        return inst_ratios(self.run.counters if self.run else {}, self.inst_metric)


@dataclass(frozen=True)
class Engine:
    name: str
    layouts: list[LayoutRun]   # btcbench.forms order

    @property
    def measured(self) -> list[LayoutRun]:
        """Layouts with a positive median TOPS, in file order."""
        return [lr for lr in self.layouts if lr.tops is not None]

    @property
    def best(self) -> LayoutRun | None:
        """Highest median TOPS; ties go to the layout listed first."""
        return max(self.measured, key=lambda lr: lr.tops, default=None)

    def layout(self, name: str) -> LayoutRun | None:
        return next((lr for lr in self.layouts if lr.layout == name), None)

    def vs_best(self, lr: LayoutRun) -> float | None:
        """lr's median TOPS as a percentage of the engine's best."""
        best = self.best
        if lr.tops is None or best is None:
            return None
        return 100.0 * lr.tops / best.tops

    def form_field(self, key: str) -> str:
        """A btcbench.forms field of this engine's layouts: its value, the
        values joined where layouts differ, DASH where none has it."""
        values = dict.fromkeys(str(lr.meta[key]) for lr in self.layouts if key in lr.meta)
        return " / ".join(values) or DASH


def collect(results: br.Results) -> list[Engine]:
    """Engines in order of first appearance in btcbench.forms, each with its
    layouts in file order; ResultsError for a run name off the layout grammar."""
    rc.check_suite(results, SUITE)
    runs: dict[str, tuple[LayoutName, br.RunSummary]] = {}
    for run in br.medians(results):
        try:
            name = parse_layout_name(run.run_name)
        except ValueError as e:
            raise br.ResultsError(f"{results.path}: {e}") from None
        runs[f"{name.engine}_{name.layout}"] = (name, run)
    forms: dict[str, dict[str, Any]] = results.meta["forms"]
    known = {str(f["engine"]) for f in forms.values() if isinstance(f.get("engine"), str)}
    known |= {name.engine for name, _ in runs.values()}
    engines: dict[str, list[LayoutRun]] = {}
    for key, form in forms.items():
        name, run = runs.get(key, (None, None))
        engine = form.get("engine") or (name.engine if name else None)
        if not isinstance(engine, str) or not engine:
            # An older or partial entry: the longest known engine its key starts with.
            engine = max((e for e in known if key.startswith(e + "_")), key=len, default=None)
            if engine is None:
                continue   # cannot place it; the Skipped section still names it
        layout = form.get("a_layout") or (name.layout if name else key[len(engine) + 1:])
        engines.setdefault(engine, []).append(LayoutRun(
            form=key, engine=engine, layout=str(layout), b_layout=str(form.get("b_layout") or layout),
            status=str(form.get("status")), meta=form, run=run))
    return [Engine(name, layouts) for name, layouts in engines.items()]


@dataclass(frozen=True)
class Fastest:
    """The fastest layout of an engine, beside the runner-up and the slowest."""
    engine: str
    best: LayoutRun
    runner_up: LayoutRun | None
    slowest: LayoutRun | None   # None with a single measured layout

    @property
    def overlaps(self) -> bool:
        """Whether the runner-up's fastest repetition reaches the best's slowest."""
        if self.runner_up is None:
            return False
        return self.runner_up.tops_spread()[2] >= self.best.tops_spread()[0]


def fastest(engines: list[Engine]) -> list[Fastest]:
    """One entry per engine with a measured layout, in engine order."""
    out = []
    for e in engines:
        best = e.best
        if best is None:
            continue
        rest = sorted((lr for lr in e.measured if lr is not best), key=lambda lr: -lr.tops)
        out.append(Fastest(e.name, best, rest[0] if rest else None, rest[-1] if rest else None))
    return out


# ---------------------------------------------------------------- plot

def _colours(engines: list[Engine]) -> dict[str, str]:
    spare = iter(_SPARE_COLOURS * (1 + sum(len(e.layouts) for e in engines)))
    colours: dict[str, str] = {}
    for lr in (lr for e in engines for lr in e.layouts):
        if lr.layout not in colours:
            colours[lr.layout] = LAYOUT_COLOURS.get(lr.layout) or next(spare)
    return colours


def plot_tops(results: br.Results, engines: list[Engine]) -> bytes:
    """PNG bytes: grouped bars, a group per engine and a bar per measured
    layout, median TOPS with min–max whiskers and the share of the engine's best."""
    colours = _colours(engines)
    bars: list[tuple[float, Engine, LayoutRun]] = []
    group_x: dict[str, list[float]] = {}
    slot = 0
    for e in engines:
        measured = e.measured
        if not measured:
            continue
        if bars:
            slot += 1   # a one-slot gap between engines
        for lr in measured:
            bars.append((slot, e, lr))
            group_x.setdefault(e.name, []).append(slot)
            slot += 1
    spreads = [lr.tops_spread() for _, _, lr in bars]
    with rc.figure((max(7.0, 0.6 * slot + 3.0), 6.5)) as fig:
        ax = fig.add_subplot()
        if bars:
            xs = [x for x, _, _ in bars]
            ax.bar(xs, [m for _, m, _ in spreads],
                   yerr=[[m - lo for lo, m, _ in spreads], [hi - m for _, m, hi in spreads]],
                   color=[colours[lr.layout] for _, _, lr in bars],
                   edgecolor="black", linewidth=0.5, capsize=3)
            for (x, e, lr), (_, _, hi) in zip(bars, spreads):
                ax.annotate(f"{e.vs_best(lr):.0f}%", (x, hi), xytext=(0, 3),
                            textcoords="offset points", ha="center", va="bottom", fontsize=7)
            ax.set_xticks(xs, [lr.label for _, _, lr in bars], rotation=35, ha="right",
                          rotation_mode="anchor", fontsize=8)
            engines_axis = ax.secondary_xaxis("top")
            engines_axis.set_ticks([sum(v) / len(v) for v in group_x.values()],
                                   labels=list(group_x))
            engines_axis.tick_params(length=0)
            ax.set_ylim(0, max(hi for _, _, hi in spreads) * 1.15)
        else:
            rc.no_data(ax, "no layout runs with a TOPS figure in this file", fontsize=9)
            ax.set_xticks([])
        ax.set_ylabel("TOPS (median; whiskers min–max; label: % of the engine's best)")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_title(rc.plot_title(results, SUITE, "BMM tile loop per packing layout and engine "
                                                   "(single-stage, latency-bound)"), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        return rc.png_bytes(fig)


# ---------------------------------------------------------------- markdown

LAYOUT_TABLE_HEADER = ["Layout", "TOPS, median [min–max]", "vs best layout (%)", "GB/s moved",
                       "bank conflicts / tensor inst", "wavefronts / tensor inst",
                       "ldsm / tensor inst", "L2 hit %"]


def _layout_row(e: Engine, lr: LayoutRun, l2: rc.L2HitColumn) -> list[object]:
    if lr.run is None:
        tops = "skipped" if lr.status == "skipped" else DASH
        return [f"`{lr.layout}`", tops, *[DASH] * (len(LAYOUT_TABLE_HEADER) - 2)]
    r = lr.ratios
    return [f"`{lr.layout}`", rc.rate_cell(lr.tops_spread()), rc.fmt(e.vs_best(lr), ".1f"),
            rc.fmt(lr.gbps, ",.1f"), rc.fmt(r.conflicts_per_inst, ".2f"),
            rc.fmt(r.wavefronts_per_inst, ".2f"), rc.fmt(r.ldsm_per_inst, ".2f"),
            l2.cell(r.l2_hit)]


def _engine_section(e: Engine) -> list[str]:
    l2 = rc.L2HitColumn(lr.ratios.l2_hit for lr in e.layouts if lr.run is not None)
    lines = [f"### `{e.name}`", "",
             f"Block C tile {e.form_field('block_m')} × {e.form_field('block_n')}, K slab "
             f"{e.form_field('slab_k_bits')} bits. A and B share a layout unless noted.", "",
             *rc.table([*LAYOUT_TABLE_HEADER[:-1], l2.header()], [_layout_row(e, lr, l2) for lr in e.layouts]),
             *l2.notes()]
    notes = [f"- `{lr.layout}`: A in `{lr.layout}`, B in `{lr.b_layout}`."
             for lr in e.layouts if lr.b_layout != lr.layout]
    return lines + ([""] + notes if notes else [])


def _problem_text(engines: list[Engine]) -> str:
    """'M × N × K = 4096 × 4096 × 16384 bits' from the runs' m, n, k counters."""
    shapes = dict.fromkeys(
        tuple(int(lr.run.counters[k]) for k in "mnk")
        for e in engines for lr in e.layouts
        if lr.run is not None and all(k in lr.run.counters for k in "mnk"))
    if not shapes:
        return "the runs do not record M, N and K"
    text = "; ".join(f"{m} × {n} × {k}" for m, n, k in shapes)
    return f"M × N × K = {text} bits"


def _fastest_lines(engines: list[Engine]) -> list[str]:
    lines = []
    placed = set()
    for f in fastest(engines):
        placed.add(f.engine)
        text = f"- `{f.engine}`: `{f.best.label}` at {f.best.tops:,.1f} TOPS"
        if f.runner_up is None:
            lines.append(text + ", the only layout measured.")
            continue
        share = 100.0 * f.runner_up.tops / f.best.tops
        text += f"; runner-up `{f.runner_up.label}` at {share:.1f}% of it"
        text += (" (their min–max spreads overlap, so this run does not settle the order)"
                 if f.overlaps else "")
        if f.slowest is not f.runner_up:
            text += f"; slowest `{f.slowest.label}` at {100.0 * f.slowest.tops / f.best.tops:.1f}%"
        lines.append(text + f"; fastest / slowest = {f.best.tops / f.slowest.tops:.2f}×.")
    lines += [f"- `{e.name}`: no layout measured." for e in engines if e.name not in placed]
    return lines or ["No engine in this file."]


def markdown_report(results: br.Results, engines: list[Engine], png_name: str,
                    extra_sections: Sequence[rc.Section] = ()) -> str:
    """The report; extra_sections (the paper's, from the composer) go before Skipped."""
    xor_note = []
    if any("xor" in e.name.split("_") for e in engines):
        xor_note = [" Where the GPU emulates b1 XOR (sm_90), CUPTI counts two tensor-pipe "
                    "instructions per XOR MMA (see docs/results-schema.md), so an XOR engine's "
                    "per-instruction ratios are per half MMA."]
    lines = [*rc.title_lines(results, SUITE),
             *rc.header_lines(results), "",
             f"![Median TOPS per packing layout and engine]({png_name})", "",
             "## What this suite measures", "",
             f"One BMM tile loop (global → shared → fragments → b1 MMA; {_problem_text(engines)}) "
             "run over each bit-packing layout with each instruction engine. The loop is "
             "single-stage, not pipelined: absolute TOPS are latency-bound by design, and the "
             "figures compare layouts within an engine, not with the instruction peaks of the "
             "`instr` suite.", "",
             "## Layouts per engine", "",
             "TOPS = 2·M·N·K per second (median over repetitions, [slowest–fastest]); vs best "
             "layout = median TOPS over the best layout of the same engine; GB/s moved = the "
             "bytes the tile loop moves (`bytes_moved`) per second. Counter columns come from a "
             "separate, untimed CUPTI launch, divided by that launch's tensor-pipe instructions "
             "(`sm__inst_executed_pipe_tensor_op_imma.sum`): shared-memory bank conflicts and "
             "wavefronts of loads, and `ldmatrix` instructions. They count LSU-pipe accesses "
             "only, so operands that wgmma reads through descriptors do not show in them."
             + "".join(xor_note), ""]
    for e in engines:
        lines += [*_engine_section(e), ""]
    if not engines:
        lines += ["No engine in this file.", ""]
    lines += ["## Fastest layout per engine", "",
              "From the median TOPS of each engine's layouts.", "", *_fastest_lines(engines), "",
              *rc.section_lines(extra_sections),
              "## Skipped", "", *rc.skipped_lines(results)]
    return "\n".join(lines) + "\n"


def render(results: br.Results, out_dir: str | Path | None = None, *,
           extra_sections: Sequence[rc.Section] = ()) -> list[Path]:
    """Write <stem>.layout_tops.png and <stem>.md; returns their paths in that order."""
    engines = collect(results)   # checks the suite before anything is written
    out = rc.output_dir(results, out_dir)
    stem = results.path.stem
    png_path, md_path = out / f"{stem}.layout_tops.png", out / f"{stem}.md"
    markdown = markdown_report(results, engines, png_path.name, extra_sections)
    br.write_atomic(png_path, plot_tops(results, engines))
    br.write_atomic(md_path, markdown)
    return [png_path, md_path]
