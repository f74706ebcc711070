"""Report for the 'bmm' suite: production bit-matrix-multiply designs beside
software-popcount and cuBLAS baselines. TOPS over the square sizes
(<stem>.bmm_square.png), the tensor-core designs' speedups over the baselines
(<stem>.bmm_speedup.png) and a markdown report (<stem>.md).

Written through analysis.report (python3 -m analysis.report RESULTS.json),
which adds the paper's section (analysis.paper_tcbnn).

Instruction peaks come from the instr results file render() is handed
(analysis.report hands it the newest instr-*.json beside the bmm file); this
module reads no file it is not given.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator

from analysis import btcresults as br
from analysis import instr_report
from analysis import report_common as rc
from analysis.report_common import DASH

SUITE = "bmm"
# Fused bits first: the output the next binarized layer reads.
OUTPUTS = ("bits", "int32")
OUTPUT_BYTES = {"int32": 4.0, "bits": 1.0 / 8}   # per output element
POPC_FAMILY = "popc"
CUBLAS_S8 = "cublas_s8"
# The instr forms each tensor-core family issues (fnmatch patterns): its
# measured instruction peak is the best median TOPS over them.
FAMILY_PEAK_FORMS: dict[str, tuple[str, str]] = {
    "wgmma_and": ("wgmma_and_*", "wgmma b1 AND"),
    "mma_and": ("mma_and_m16n8k256", "mma.sync m16n8k256 AND"),
    "btc_wmma": ("wmma_xor_m8n8k128", "WMMA m8n8k128 XOR"),
}
# DRAM bandwidth per device name for the roofline's memory floor, in bytes/s:
# the datasheet figures, not a measurement: only for files whose sweep did not
# measure it (btcbench.peaks.dram_copy_bytes_per_s, recorded since 2026-12-03).
DRAM_BANDWIDTH: dict[str, tuple[float, str]] = {
    "NVIDIA H100 80GB HBM3": (3.35e12, "H100 SXM5 80 GB HBM3"),
    "NVIDIA H200": (4.8e12, "H200 SXM 141 GB HBM3e"),
}
# The performance goals (set for H100): at GOAL_SIZE^3 with the fused bits output.
GOAL_SIZE = 8192
GOAL_OUT = "bits"
WGMMA_GOAL = ("wgmma_and_sm90", "wgmma_and", 85.0)   # design, peak family, % of that peak
MMA_GOAL = ("mma_and_sm90", "mma_and", 80.0)
POPC_GOAL_SPEEDUP = 10.0
PROBE_MARK = "_probe_"   # design names of a BTC_WGMMA_PROBE build (kernels/CMakeLists.txt)
VERDICTS = ("met", "not met", "not measured")

DESIGN_COLOURS = {"btc_wmma_row": "tab:cyan", "btc_wmma_tile": "tab:blue",
                  "mma_and_sm80": "gold", "mma_and_sm90": "tab:orange",
                  "wgmma_and_sm90": "tab:green", "popc_u32": "tab:pink", "popc_u64": "tab:red",
                  "cublas_s8": "tab:purple", "cublas_f16": "tab:brown"}
_SPARE_COLOURS = ("tab:gray", "tab:olive", "teal", "navy", "black")
PEAK_STYLES = {"wgmma_and": "black", "mma_and": "dimgray"}   # the peak lines the TOPS plot draws


# ---------------------------------------------------------------- names and problems

@dataclass(frozen=True)
class Problem:
    m: int
    n: int
    k: int

    @property
    def square(self) -> bool:
        return self.m == self.n == self.k

    @property
    def ops(self) -> float:
        return 2.0 * self.m * self.n * self.k

    @property
    def operand_bytes(self) -> float:
        """A and B as bits, each read once."""
        return (self.m + self.n) * self.k / 8

    @property
    def label(self) -> str:
        return f"{self.m}³" if self.square else f"{self.m} × {self.n} × {self.k}"

    @property
    def heading(self) -> str:
        return f"M × N × K = {self.m} × {self.n} × {self.k}"


def min_bytes(problem: Problem, out: str) -> float:
    """The fewest bytes any design must move: each operand once (1 bit an
    element), the output once (int32: 4 B an element; bits: 1/8 B)."""
    return problem.operand_bytes + problem.m * problem.n * OUTPUT_BYTES[out]


@dataclass(frozen=True)
class BmmName:
    design: str
    problem: Problem
    out: str   # one of OUTPUTS


def parse_bmm_name(name: str) -> BmmName:
    """Parse 'bmm/<design>/m:<M>/n:<N>/k:<K>/out:<int32|bits>/manual_time';
    ValueError if off-grammar."""
    try:
        bench = br.parse_generic_name(name)
    except ValueError:
        bench = None
    grammar = "'bmm/<design>/m:<M>/n:<N>/k:<K>/out:<int32|bits>/manual_time'"
    if bench is None or bench.kind != SUITE or bench.keys != ("m", "n", "k", "out"):
        raise ValueError(f"benchmark name {name!r} does not match {grammar}")
    dims = [bench.param(k) for k in "mnk"]
    if not all(d and d.isdigit() and int(d) > 0 for d in dims) or bench.param("out") not in OUTPUTS:
        raise ValueError(f"benchmark name {name!r} does not match {grammar}")
    m, n, k = (int(str(d)) for d in dims)
    return BmmName(bench.form, Problem(m, n, k), str(bench.param("out")))


# ---------------------------------------------------------------- runs

Design = rc.Design


@dataclass(frozen=True)
class BmmRun(rc.DesignRun):
    """rc.DesignRun with this suite's figures; problem is a bmm Problem."""

    @property
    def min_bytes(self) -> float:
        counted = self.run.counter("min_bytes") if self.run else None
        return counted if counted else min_bytes(self.problem, self.out)

    @property
    def gbps(self) -> float | None:
        """GB/s at min bytes: the run's counter, else from its time."""
        if self.run is None:
            return None
        gbps = self.run.counter("gbps_min_bytes")
        return gbps if gbps is not None else rc.ratio(self.min_bytes / 1e9, self.time_s)

    @property
    def dram_per_operand_byte(self) -> float | None:
        """CUPTI DRAM bytes read over the operand bytes (M + N)·K/8."""
        return rc.ratio(self.run.counter(rc.DRAM_READ) if self.run else None,
                        self.problem.operand_bytes)



@dataclass(frozen=True)
class BmmData:
    designs: list[Design]                               # btcbench.forms order
    problems: list[Problem]                             # squares by size, then file order
    runs: dict[tuple[str, Problem, str], BmmRun]       # (design, problem, out)

    def get(self, design: str, problem: Problem, out: str) -> BmmRun | None:
        return self.runs.get((design, problem, out))

    def tops(self, design: str, problem: Problem, out: str) -> float | None:
        run = self.get(design, problem, out)
        return run.tops if run else None

    def design(self, name: str) -> Design | None:
        return next((d for d in self.designs if d.name == name), None)

    @property
    def squares(self) -> list[Problem]:
        """The square problems, smallest first."""
        return sorted((p for p in self.problems if p.square), key=lambda p: p.m)

    @property
    def tensor_designs(self) -> list[Design]:
        return [d for d in self.designs if d.tensor_core]

    def best_popc(self, problem: Problem, out: str = "bits") -> BmmRun | None:
        """The fastest software-popcount design on a problem; ties go to the one listed first."""
        runs = [self.runs[(d.name, problem, out)] for d in self.designs
                if d.family == POPC_FAMILY and self.tops(d.name, problem, out) is not None]
        return max(runs, key=lambda r: r.tops, default=None)

    def speedup_over_popc(self, design: str, problem: Problem, out: str = "bits") -> float | None:
        base = self.best_popc(problem, out)
        return speedup(self.tops(design, problem, out), base.tops if base else None)

    def speedup_over(self, design: str, baseline: str, problem: Problem,
                     out: str = "bits") -> float | None:
        return speedup(self.tops(design, problem, out), self.tops(baseline, problem, out))


def speedup(tops: float | None, base_tops: float | None) -> float | None:
    """How many times faster than the baseline on the same problem: the
    baseline's time over the design's, which is the TOPS ratio."""
    return rc.ratio(tops, base_tops)


def _config_problem(config: str) -> tuple[Problem, str] | None:
    try:
        name = parse_bmm_name(f"{SUITE}/x/{config}/manual_time")
    except ValueError:
        return None
    return name.problem, name.out


def collect(results: br.Results) -> BmmData:
    """Designs in btcbench.forms order, each with a BmmRun per problem and
    output; ResultsError for a run name off the bmm grammar."""
    rc.check_suite(results, SUITE)
    designs, problems, table = rc.collect_design_runs(results, parse_bmm_name, _config_problem, OUTPUTS, BmmRun)
    probes = sorted(name for name in results.meta["forms"] if PROBE_MARK in name)
    if probes:
        # A BTC_WGMMA_PROBE build times half a kernel and computes garbage:
        # its files belong beside docs/findings-bmm.md, not in results/.
        raise br.ResultsError(f"{results.path}: written by a diagnostic probe build ({', '.join(probes)}); "
                              "probe timings are not design results - keep such files out of results/")
    # Square sizes first, smallest first; then the other shapes in file order.
    ordered = sorted(problems, key=lambda p: (not p.square, p.m if p.square else 0))
    return BmmData(designs, ordered, table)


# ---------------------------------------------------------------- peaks and roofline

@dataclass(frozen=True)
class InstrPeak:
    family: str
    label: str        # the instruction, in words
    tops: float       # best median TOPS of the family's instr forms
    form: str         # the instr form that gave it
    run_name: str


@dataclass(frozen=True)
class Peaks:
    instr: br.Results | None      # the instr results the peaks come from
    origin: str                   # how the caller chose that file, as the header says it
    by_family: dict[str, InstrPeak]

    def get(self, family: str) -> InstrPeak | None:
        return self.by_family.get(family)


def instr_peaks(instr: br.Results | None) -> dict[str, InstrPeak]:
    """The measured instruction peak of each tensor-core family whose instr
    forms the file measured: the best median TOPS over the forms' best configs."""
    if instr is None:
        return {}
    best: dict[str, InstrPeak] = {}
    for s in instr_report.summarise_forms(instr):
        tops = s.best.counter("tops") if s.best else None
        if s.best is None or tops is None or tops <= 0:
            continue
        for family, (pattern, label) in FAMILY_PEAK_FORMS.items():
            if fnmatch.fnmatchcase(s.form.name, pattern) and (
                    family not in best or tops > best[family].tops):
                best[family] = InstrPeak(family, label, tops, s.form.name, s.best.run_name)
    return {f: best[f] for f in FAMILY_PEAK_FORMS if f in best}


def load_peaks(instr: br.Results | None, origin: str = "given") -> Peaks:
    if instr is not None:
        rc.check_suite(instr, "instr")
    return Peaks(instr, origin, instr_peaks(instr))


def dram_bandwidth(device_name: str) -> float | None:
    """Bytes/s from DRAM_BANDWIDTH, None for a device it does not list."""
    entry = DRAM_BANDWIDTH.get(device_name)
    return entry[0] if entry else None


def floor_bandwidth(results: br.Results) -> float | None:
    """The roofline's DRAM bandwidth: the one the sweep measured on its GPU,
    else (older files) the datasheet figure of DRAM_BANDWIDTH, else None."""
    return rc.measured_dram_bandwidth(results) or dram_bandwidth(str(results.device.get("name")))


@dataclass(frozen=True)
class Roofline:
    """Time floors of one run: compute = 2·M·N·K over the family's measured
    instruction peak; memory = min bytes over the DRAM bandwidth."""
    time_s: float | None
    compute_s: float | None
    memory_s: float | None

    @property
    def bound(self) -> str | None:
        """'compute' or 'memory', whichever floor is larger (ties: compute);
        None unless both are known."""
        if self.compute_s is None or self.memory_s is None:
            return None
        return "compute" if self.compute_s >= self.memory_s else "memory"

    @property
    def floor_s(self) -> float | None:
        return None if self.bound is None else max(self.compute_s, self.memory_s)   # type: ignore[type-var]

    @property
    def ratio(self) -> float | None:
        """Measured time over the floor (1 = on the roofline)."""
        return rc.ratio(self.time_s, self.floor_s)


def roofline(run: BmmRun, peak: InstrPeak | None, bandwidth: float | None) -> Roofline:
    compute = run.problem.ops / (peak.tops * 1e12) if peak else None
    memory = run.min_bytes / bandwidth if bandwidth else None
    return Roofline(run.time_s, compute, memory)


def pct_of_peak(run: BmmRun | None, peak: InstrPeak | None) -> float | None:
    tops = run.tops if run else None
    return 100.0 * tops / peak.tops if tops is not None and peak else None


# ---------------------------------------------------------------- goals

@dataclass(frozen=True)
class Goal:
    title: str
    verdict: str    # one of VERDICTS
    figures: str    # what the verdict rests on, from this file


GOAL_PROBLEM = Problem(GOAL_SIZE, GOAL_SIZE, GOAL_SIZE)


def _missing(run: BmmRun | None, design: str, problem: Problem) -> str:
    if run is not None and run.skip_reason:
        return f"`{design}` skipped at {problem.label} ({run.skip_reason})"
    return f"no `{design}` run at {problem.label}, {GOAL_OUT} output"


def _peak_goal(data: BmmData, peaks: Peaks, goal: tuple[str, str, float]) -> Goal:
    design, family, pct = goal
    p = GOAL_PROBLEM
    label = FAMILY_PEAK_FORMS[family][1]
    title = f"`{design}` ≥ {pct:.0f}% of the measured {label} peak"
    run = data.get(design, p, GOAL_OUT)
    peak = peaks.get(family)
    missing = []
    if run is None or run.tops is None:
        missing.append(_missing(run, design, p))
    if peak is None:
        missing.append("no instr results beside this file" if peaks.instr is None else
                       f"`{peaks.instr.path.name}` has no measured `{FAMILY_PEAK_FORMS[family][0]}` form")
    if missing:
        return Goal(title, "not measured", "; ".join(missing))
    share = pct_of_peak(run, peak)
    assert share is not None and run is not None and peak is not None
    return Goal(title, "met" if share >= pct else "not met",
                f"{run.tops:,.1f} TOPS = {share:.1f}% of {peak.tops:,.1f} TOPS "
                f"(`{peak.form}` in `{peaks.instr.path.name}`)")   # type: ignore[union-attr]


def _popc_goal(data: BmmData) -> Goal:
    p = GOAL_PROBLEM
    title = f"every tensor-core design ≥ {POPC_GOAL_SPEEDUP:.0f}× the best software-popcount baseline"
    base = data.best_popc(p, GOAL_OUT)
    designs = data.tensor_designs
    if base is None:
        return Goal(title, "not measured", f"no software-popcount run at {p.label}, {GOAL_OUT} output")
    if not designs:
        return Goal(title, "not measured", "no tensor-core design in this file")
    figures, below, missing = [], [], []
    for d in designs:
        s = data.speedup_over_popc(d.name, p, GOAL_OUT)
        if s is None:
            missing.append(_missing(data.get(d.name, p, GOAL_OUT), d.name, p))
            continue
        figures.append(f"`{d.name}` {s:,.2f}×")
        if s < POPC_GOAL_SPEEDUP:
            below.append(f"`{d.name}` ({s:,.2f}×)")
    text = f"best software popcount `{base.design.name}` {base.tops:,.1f} TOPS; " + ", ".join(figures)
    if missing:
        text += ("; " if figures else "") + "; ".join(missing)
    if below:
        return Goal(title, "not met", text + f"; below {POPC_GOAL_SPEEDUP:.0f}×: " + ", ".join(below))
    return Goal(title, "not measured" if missing else "met", text)


def performance_goals(data: BmmData, peaks: Peaks) -> list[Goal]:
    """The three H100 goals at GOAL_SIZE³ with the fused bits output, in order:
    wgmma vs its instruction peak, mma.sync vs its peak, every tensor-core
    design vs the best software popcount."""
    return [_peak_goal(data, peaks, WGMMA_GOAL), _peak_goal(data, peaks, MMA_GOAL), _popc_goal(data)]


# ---------------------------------------------------------------- plots

def _colours(data: BmmData) -> dict[str, str]:
    return rc.design_colours(data.designs, DESIGN_COLOURS, _SPARE_COLOURS)


def _log2_size_axis(ax: Any, sizes: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("M = N = K")


def plot_square(results: br.Results, data: BmmData, peaks: Peaks) -> bytes:
    """PNG bytes: median TOPS over the square sizes (log2 x), a line per design
    and output (solid: fused bits; dashed: int32), and the measured wgmma and
    mma.sync instruction peaks as horizontal dashed lines."""
    colours = _colours(data)
    squares = data.squares
    with rc.figure((10.0, 6.5)) as fig:
        ax = fig.add_subplot()
        handles: list[Any] = []
        drawn = False
        for d in data.designs:
            shown = False
            for out, style, marker in (("bits", "-", "o"), ("int32", "--", "s")):
                pts = [(p.m, data.tops(d.name, p, out)) for p in squares]
                pts = [(x, y) for x, y in pts if y is not None]
                if pts:
                    ax.plot(*zip(*pts), linestyle=style, marker=marker, markersize=4,
                            color=colours[d.name], linewidth=1.4)
                    shown = drawn = True
            if shown:
                handles.append(Line2D([], [], color=colours[d.name], linewidth=2, label=d.name))
        if drawn:
            handles += [Line2D([], [], color="gray", linestyle="-", marker="o", label="bits output"),
                        Line2D([], [], color="gray", linestyle="--", marker="s", label="int32 output")]
            for family, colour in PEAK_STYLES.items():
                peak = peaks.get(family)
                if peak is not None:
                    handles.append(ax.axhline(peak.tops, linestyle=(0, (6, 3)), color=colour,
                                              linewidth=1.0,
                                              label=f"{peak.label} peak {peak.tops:,.0f} TOPS\n(instr {peak.form})"))
            rc.log_y(ax, lambda v, _: f"{v:,.0f}")
            _log2_size_axis(ax, [p.m for p in squares])
        else:
            rc.no_data(ax, "no square-size runs with a TOPS figure in this file", fontsize=9)
            ax.set_xticks([])
        if not peaks.by_family:
            handles.append(Line2D([], [], linestyle="none",
                                  label="no instr peaks: no instr results beside this file"
                                  if peaks.instr is None else "no instr peaks in the instr file"))
        ax.set_ylabel("TOPS (2·M·N·K / median time)")
        ax.set_title(rc.plot_title(results, SUITE, "BMM throughput over square sizes"), fontsize=10)
        if handles:
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax.set_axisbelow(True)
        return rc.png_bytes(fig)


def plot_speedup(results: br.Results, data: BmmData) -> bytes:
    """PNG bytes: each tensor-core design's speedup over the best software
    popcount (left) and over cublas_s8 (right), per square size, bits output."""
    colours = _colours(data)
    squares = data.squares
    panels = [("the best software popcount", lambda d, p: data.speedup_over_popc(d, p, "bits")),
              (f"`{CUBLAS_S8}`", lambda d, p: data.speedup_over(d, CUBLAS_S8, p, "bits"))]
    with rc.figure((12.0, 5.5)) as fig:
        axes = fig.subplots(1, 2)
        for i, (ax, (what, fn)) in enumerate(zip(axes, panels)):
            drawn = False
            for d in data.tensor_designs:
                pts = [(p.m, fn(d.name, p)) for p in squares]
                pts = [(x, y) for x, y in pts if y is not None]
                if pts:
                    ax.plot(*zip(*pts), marker="o", markersize=4, color=colours[d.name],
                            linewidth=1.4, label=d.name)
                    drawn = True
            if drawn:
                rc.log_y(ax, lambda v, _: f"{v:,.3g}×")
                ax.axhline(1.0, color="black", linewidth=0.8)
                if i == 0:
                    ax.axhline(POPC_GOAL_SPEEDUP, color="crimson", linestyle=":", linewidth=1.0,
                               label=f"goal {POPC_GOAL_SPEEDUP:.0f}× (at {GOAL_SIZE}³)")
                _log2_size_axis(ax, [p.m for p in squares])
                ax.legend(fontsize=7, loc="best")
            else:
                rc.no_data(ax, f"no speedup over {what.strip('`')}\nin this file", fontsize=9)
                ax.set_xticks([])
            ax.set_ylabel("speedup (baseline time / design time)")
            ax.set_title(f"over {what.replace('`', '')}, bits output", fontsize=9)
            ax.grid(alpha=0.3, which="both")
            ax.set_axisbelow(True)
        fig.suptitle(rc.plot_title(results, SUITE, "tensor-core BMM speedup over the baselines"),
                     fontsize=10)
        return rc.png_bytes(fig)


# ---------------------------------------------------------------- markdown

PROBLEM_TABLE_HEADER = ["Design", "Family", "TOPS bits, median [min–max]",
                        "TOPS int32, median [min–max]", "% of instr peak (bits / int32)",
                        "GB/s at min bytes (bits / int32)", "Roofline bound (bits / int32)",
                        "Time / floor (bits / int32)", "DRAM read / operand bytes (bits / int32)",
                        "L2 hit % (bits / int32)"]


def _peaks_text(peaks: Peaks) -> str:
    if peaks.instr is None:
        return "no instr results beside this file"
    source = f"`{peaks.instr.path.name}` ({peaks.origin})"
    if not peaks.by_family:
        return f"{source}: none of its forms gives a peak"
    parts = [f"{p.label} {p.tops:,.1f} TOPS (`{p.form}`)" for p in peaks.by_family.values()]
    return f"{source}: " + "; ".join(parts)


def _bandwidth_text(results: br.Results) -> str:
    if rc.measured_dram_bandwidth(results) is not None:
        return rc.measured_dram_bandwidth_text(results)
    device_name = str(results.device.get("name"))
    entry = DRAM_BANDWIDTH.get(device_name)
    if entry is None:
        return f"{DASH} (no entry for `{device_name}`: no memory floor, no roofline bound)"
    return f"{entry[0] / 1e12:g} TB/s (the {entry[1]} datasheet figure for `{device_name}`, not measured)"


def _pair(a: str, b: str) -> str:
    return f"{a} / {b}"


def _tops_cell(run: BmmRun | None) -> str:
    if run is None:
        return DASH
    if run.run is None:
        return "skipped" if run.skip_reason else DASH
    return rc.rate_cell(run.tops_spread())


GRAPH_COLUMNS = ["Graph-replay µs (bits / int32)", "Graph time / floor (bits / int32)"]


def graph_roofline(run: BmmRun, peak: InstrPeak | None, bandwidth: float | None) -> Roofline:
    """The roofline of the run's CUDA-graph replay time (the kernel without launch gaps)."""
    r = roofline(run, peak, bandwidth)
    return Roofline(run.graph_time_s, r.compute_s, r.memory_s)


def _problem_row(data: BmmData, d: Design, p: Problem, peaks: Peaks,
                 bandwidth: float | None, l2: rc.L2HitColumn, with_graph: bool = False) -> list[object]:
    runs = [data.get(d.name, p, out) for out in OUTPUTS]
    peak = peaks.get(d.family)
    roofs = [roofline(r, peak, bandwidth) if r and r.run else None for r in runs]

    def pair(fn: Any, spec: str) -> str:
        return _pair(*(rc.fmt(fn(r) if r and r.run else None, spec) for r in runs))
    graph = [pair(lambda r: r.graph_time_s * 1e6 if r.graph_time_s else None, ",.2f"),
             pair(lambda r: graph_roofline(r, peak, bandwidth).ratio, ".2f")] if with_graph else []
    return [f"`{d.name}`", d.family, *(_tops_cell(r) for r in runs),
            pair(lambda r: pct_of_peak(r, peak), ".1f"),
            pair(lambda r: r.gbps, ",.1f"),
            _pair(*((rf.bound if rf and rf.bound else DASH) for rf in roofs)),
            _pair(*(rc.fmt(rf.ratio if rf else None, ".2f") for rf in roofs)),
            *graph,
            pair(lambda r: r.dram_per_operand_byte, ".2f"),
            _pair(*(l2.cell(r.l2_hit if r else None) for r in runs))]


def _problem_sections(results: br.Results, data: BmmData, peaks: Peaks) -> list[str]:
    bandwidth = floor_bandwidth(results)
    lines: list[str] = []
    for p in data.problems:
        l2 = rc.L2HitColumn(r.l2_hit for d in data.designs for out in OUTPUTS
                            if (r := data.get(d.name, p, out)) is not None)
        # The graph columns where a run of the problem has graph-replay times (small problems).
        with_graph = any(r.graph_time_s for d in data.designs for out in OUTPUTS
                         if (r := data.get(d.name, p, out)) is not None)
        at = PROBLEM_TABLE_HEADER.index("Time / floor (bits / int32)") + 1
        header = [*PROBLEM_TABLE_HEADER[:at], *(GRAPH_COLUMNS if with_graph else []),
                  *PROBLEM_TABLE_HEADER[at:-1], l2.header(" (bits / int32)")]
        lines += [f"### {p.heading}", "",
                  *rc.table(header, [_problem_row(data, d, p, peaks, bandwidth, l2, with_graph)
                                     for d in data.designs]),
                  *l2.notes(), ""]
    if not data.problems:
        lines += ["No problem in this file.", ""]
    return lines


def _design_rows(data: BmmData, peaks: Peaks) -> list[list[object]]:
    rows = []
    for d in data.designs:
        peak = peaks.get(d.family)
        rows.append([f"`{d.name}`", d.family or DASH, "yes" if d.tensor_core else "no", d.status,
                     f"{peak.tops:,.1f} (`{peak.form}`)" if peak else DASH])
    return rows


def _speedup_tables(data: BmmData) -> list[str]:
    squares = data.squares
    if not squares or not data.tensor_designs:
        return ["No square problem with a tensor-core design in this file."]
    header = ["Design", *(p.label for p in squares)]
    best = []
    for p in squares:
        b = data.best_popc(p, "bits")
        best.append(f"{p.label} `{b.design.name}` {b.tops:,.1f} TOPS" if b else f"{p.label} {DASH}")

    def rows(fn: Any) -> list[list[object]]:
        return [[f"`{d.name}`", *(rc.fmt(fn(d.name, p), ",.2f") + ("×" if fn(d.name, p) else "")
                                  for p in squares)] for d in data.tensor_designs]
    return ["Over the best software-popcount baseline (the faster of the `popc` designs at each "
            "size: " + "; ".join(best) + "):", "",
            *rc.table(header, rows(lambda d, p: data.speedup_over_popc(d, p, "bits"))), "",
            f"Over `{CUBLAS_S8}` (int8 GEMM on the ±1 values, then the same bits output):", "",
            *rc.table(header, rows(lambda d, p: data.speedup_over(d, CUBLAS_S8, p, "bits")))]


def _goal_lines(results: br.Results, data: BmmData, peaks: Peaks) -> list[str]:
    lines = [f"Checked at {GOAL_SIZE}³ with the fused bits output, against the instruction peaks "
             f"that `instr` measured on this GPU (header: Instruction peaks)."]
    name = str(results.device.get("name"))
    if "H100" not in name:
        lines[0] += (f" The goals were set for H100; this file is from {name}, so they are "
                     f"checked against this GPU's own measurements.")
    return lines + [""] + [f"- **{g.title}**: {g.verdict} — {g.figures}." for g in
                           performance_goals(data, peaks)]


def markdown_report(results: br.Results, data: BmmData, peaks: Peaks, png_names: tuple[str, str],
                    extra_sections: Sequence[rc.Section] = ()) -> str:
    """The report; extra_sections (the paper's, from the composer) go before Skipped."""
    counters_note = []
    if not (results.meta.get("counters") or {}).get("enabled"):
        counters_note = ["", f"DRAM and L2 columns are empty: {rc.counters_off_text(results)}."]
    lines = [*rc.title_lines(results, SUITE),
             *rc.header_lines(results, extra=[
                 ("Instruction peaks", _peaks_text(peaks)),
                 ("DRAM bandwidth (roofline)", _bandwidth_text(results))]),
             "",
             f"![TOPS over square sizes]({png_names[0]})", "",
             f"![Speedup of the tensor-core designs over the baselines]({png_names[1]})", "",
             "## What this suite measures", "",
             "Whole bit-matrix multiplies C = A·Bᵀ over ±1 values packed one bit an element, by "
             "production designs: the TCBNN paper's BTC design (`btc_wmma_*`: WMMA 8×8×128 XOR "
             "straight from global memory, on row-major operands or on the paper's 8×128-bit "
             "tiles), `mma.sync` m16n8k256 AND (`mma_and_*`, configurations generated for sm_80 "
             "and sm_90) and wgmma AND (`wgmma_and_sm90`); beside them software-popcount "
             "baselines (`popc_*`) and cuBLAS on the ±1 values at full precision (`cublas_*`). "
             "Each runs with an int32 output and with the fused bits output (the sign of each "
             "dot product, packed, as the next layer reads it).", "",
             "## Designs", "",
             *rc.table(["Design", "Family", "Tensor core", "Status",
                        "Family's instruction peak, TOPS (instr form)"], _design_rows(data, peaks)),
             "",
             "## Problems", "",
             "TOPS = 2·M·N·K per second (median over repetitions, [slowest–fastest]). % of instr "
             "peak = median TOPS over the best median TOPS that `instr` measured for the "
             "instructions the design's family issues (wgmma AND: the best `wgmma_and_*` form; "
             "`mma.sync`: `mma_and_m16n8k256`; BTC WMMA: `wmma_xor_m8n8k128`); software popcount "
             "and cuBLAS have none. Min bytes = each operand once (M·K and N·K bits) plus the "
             "output once (int32: 4 B an element; bits: 1/8 B). Roofline: the compute floor is "
             "2·M·N·K over the measured instruction peak, the memory floor min bytes over the "
             "DRAM bandwidth in the header; the bound is the larger floor (— where either is "
             "unknown) and time / floor is the median time over it (below 1: the run beat the "
             "DRAM floor, e.g. with output that L2 holds before it reaches DRAM). Since 2026-12-03 the "
             "launches rotate through copies of the buffers spanning 3× L2 (`l2_rotation_copies`), so small "
             "problems read their operands from DRAM; older files timed one copy, warm in L2. Graph-replay µs "
             "(small problems, `--no-counters` runs) is the kernel time per launch from CUDA-graph replays of "
             "back-to-back launches, without the host's launch gap that event-timed launches include; graph "
             "time / floor is it over the same floor. DRAM read / operand bytes "
             "and L2 hit % come from a separate, untimed CUPTI launch.", *counters_note, "",
             *_problem_sections(results, data, peaks),
             "## Speedup over the baselines (bits output)", "",
             "Speedup = baseline time / design time on the same problem, from median TOPS.", "",
             *_speedup_tables(data), "",
             "## Performance goals (H100)", "", *_goal_lines(results, data, peaks), "",
             *rc.section_lines(extra_sections),
             "## Skipped", "", *rc.skipped_lines(results)]
    return "\n".join(lines) + "\n"


def render(results: br.Results, out_dir: str | Path | None = None,
           instr_results: br.Results | None = None, *, instr_origin: str = "given",
           extra_sections: Sequence[rc.Section] = ()) -> list[Path]:
    """Write <stem>.bmm_square.png, <stem>.bmm_speedup.png and <stem>.md;
    returns their paths in that order. The instruction peaks come from
    instr_results (none without it); instr_origin says in the header how the
    caller chose that file."""
    data = collect(results)   # checks the suite before anything is written
    peaks = load_peaks(instr_results, instr_origin)
    out = rc.output_dir(results, out_dir)
    stem = results.path.stem
    square, speed, md = (out / f"{stem}.bmm_square.png", out / f"{stem}.bmm_speedup.png",
                         out / f"{stem}.md")
    markdown = markdown_report(results, data, peaks, (square.name, speed.name), extra_sections)
    br.write_atomic(square, plot_square(results, data, peaks))
    br.write_atomic(speed, plot_speedup(results, data))
    br.write_atomic(md, markdown)
    return [square, speed, md]
