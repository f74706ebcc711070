"""Report for the 'bconv' suite: production binary-convolution designs beside
software-popcount and cuDNN baselines, on ResNet-18's binary layers and the
TCBNN paper's sweeps. Plots beside the results file: TOPS per ResNet-18 layer
(<stem>.bconv_layers.png), time over the DRAM floor per layer
(<stem>.bconv_floor.png), the best tensor-core design's speedups over the
baselines (<stem>.bconv_speedup.png), the paper's sweeps
(<stem>.bconv_paper.png), and a markdown report (<stem>.md).

Written through analysis.report (python3 -m analysis.report RESULTS.json).
The floors come from the DRAM bandwidth the sweep measured
(btcbench.peaks.dram_copy_bytes_per_s); instruction peaks come from the instr
results file render() is handed (analysis.report hands it the newest
instr-*.json beside the bconv file); this module reads no file it is not given.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator

from analysis import bmm_report
from analysis import btcresults as br
from analysis import report_common as rc
from analysis.report_common import DASH

SUITE = "bconv"
# Fused bits first: the output the next binarized layer reads. half: the
# fused Bi-Real output (BN + fp16 shortcut -> fp16 y and its bits; designs
# that write it, K a multiple of 32), which sweeps time since 2026-12-03.
OUTPUTS = ("bits", "int32", "half")
HALF = "half"
POPC_FAMILY = "popc"
CUDNN_F16 = "bconv_cudnn_f16"
CUDNN_S8 = "bconv_cudnn_s8"
DRAM_KEY = "dram_copy_bytes_per_s"   # btcbench.peaks: the measured floor bandwidth, bytes/s
# Sweep groups, as the harness labels each point.
RESNET = "resnet18"
# The paper's sweeps: group -> (axis label, the Problem field it varies, log2 axis).
PAPER_SWEEPS: dict[str, tuple[str, str, bool]] = {
    "paper_input_size": ("input size H = W", "hw", False),
    "paper_filter": ("filter size R = S", "rs", False),
    "paper_batch": ("batch N", "n", True),
    "paper_channels": ("channels C = K", "c", True),
}
RESNET_BATCHES = (1, 16, 64, 256)
# The goals (issue): at batch 256, every 3x3 layer, the fused bits output.
GOAL_BATCH = 256
GOAL_OUT = "bits"
GOAL_FLOOR_RATIO = 1.5      # best tensor-core design's time within this many roofline floors
GOAL_POPC_SPEEDUP = 10.0    # over the best software popcount
GOAL_CUDNN_SPEEDUP = 5.0    # over cuDNN fp16
VERDICTS = ("met", "not met", "not measured")

DESIGN_COLOURS = {"bconv_btc_wmma_sm75": "tab:blue", "bconv_mma_and_sm80": "gold",
                  "bconv_mma_and_sm90": "tab:orange", "bconv_wgmma_and_sm90": "tab:green",
                  "bconv_popc_u32": "tab:pink", "bconv_popc_u64": "tab:red",
                  "bconv_cudnn_s8": "tab:purple", "bconv_cudnn_f16": "tab:brown"}
_SPARE_COLOURS = ("tab:cyan", "tab:gray", "tab:olive", "teal", "navy", "black")
PEAK_COLOURS = {"wgmma_and": "black", "mma_and": "dimgray", "btc_wmma": "darkgray"}
BATCH_MARKERS = {1: "v", 16: "s", 64: "D", 256: "o"}
NAN = math.nan


# ---------------------------------------------------------------- names and problems

def _words32(bits: int) -> int:
    return (bits + 31) // 32


@dataclass(frozen=True)
class Layer:
    """A convolution layer without its batch: hw x hw x c in, k filters of
    rs x rs at `stride`, zero padding rs // 2 (as the sweep runs them)."""
    hw: int
    c: int
    k: int
    rs: int
    stride: int

    @property
    def label(self) -> str:
        return f"{self.rs}×{self.rs} s{self.stride} {self.hw}²×{self.c}→{self.k}"

    @property
    def order(self) -> tuple[int, int, int, int, int]:
        """ResNet order: 3×3 before 1×1, stride 1 before 2, stage by stage."""
        return (self.rs == 1, self.stride, -self.hw, self.c, self.k)


@dataclass(frozen=True)
class Problem:
    n: int
    hw: int
    c: int
    k: int
    rs: int
    stride: int

    @property
    def layer(self) -> Layer:
        return Layer(self.hw, self.c, self.k, self.rs, self.stride)

    @property
    def pad(self) -> int:
        return self.rs // 2

    @property
    def out_hw(self) -> int:
        return (self.hw + 2 * self.pad - self.rs) // self.stride + 1

    @property
    def ops(self) -> float:
        """2·N·P·Q·K·R·S·C, the paper's and cuDNN's convention."""
        return 2.0 * self.n * self.out_hw ** 2 * self.k * self.rs ** 2 * self.c

    @property
    def label(self) -> str:
        return f"N={self.n} {self.layer.label}"

    def bytes_moved(self, out: str) -> float:
        """The fewest bytes the layer moves: the packed activations and weights
        once (each pixel's and tap's C bits in whole 32-bit words), the output
        once (int32: 4 B an element; bits: K bits a pixel in whole words;
        half: y and the shortcut it reads, 2 B an element each, and the bits)."""
        x = self.n * self.hw ** 2 * _words32(self.c) * 4
        w = self.k * self.rs ** 2 * _words32(self.c) * 4
        pixels = self.n * self.out_hw ** 2
        bits = pixels * _words32(self.k) * 4
        y = {"int32": pixels * self.k * 4, HALF: pixels * self.k * 4 + bits}.get(out, bits)
        return float(x + w + y)


@dataclass(frozen=True)
class BconvName:
    design: str
    problem: Problem
    out: str   # one of OUTPUTS


_KEYS = ("n", "hw", "c", "k", "rs", "stride")
_GRAMMAR = "'bconv/<design>/n:<N>/hw:<HW>/c:<C>/k:<K>/rs:<RS>/stride:<S>/out:<int32|bits|half>/manual_time'"


def parse_bconv_name(name: str) -> BconvName:
    """Parse a run name in the bconv grammar (_GRAMMAR); ValueError if off-grammar."""
    try:
        bench = br.parse_generic_name(name)
    except ValueError:
        bench = None
    if bench is None or bench.kind != SUITE or bench.keys != (*_KEYS, "out"):
        raise ValueError(f"benchmark name {name!r} does not match {_GRAMMAR}")
    values = [bench.param(k) for k in _KEYS]
    if not all(v and v.isdigit() and int(v) > 0 for v in values) or bench.param("out") not in OUTPUTS:
        raise ValueError(f"benchmark name {name!r} does not match {_GRAMMAR}")
    return BconvName(bench.form, Problem(*(int(str(v)) for v in values)), str(bench.param("out")))


def _config_point(config: str) -> tuple[Problem, str] | None:
    """The (problem, output) of a skip's config; None for any other config
    (e.g. '<config>/graph', a graph timing that failed)."""
    try:
        name = parse_bconv_name(f"{SUITE}/x/{config}/manual_time")
    except ValueError:
        return None
    return name.problem, name.out


# ---------------------------------------------------------------- runs

Design = rc.Design


@dataclass(frozen=True)
class BconvRun(rc.DesignRun):
    """rc.DesignRun with this suite's figures; problem is a bconv Problem."""

    @property
    def bytes_moved(self) -> float:
        counted = self.run.counter("bytes_moved") if self.run else None
        return counted if counted else self.problem.bytes_moved(self.out)

    def floor_s(self, bandwidth: float | None) -> float | None:
        """bytes_moved over the measured DRAM bandwidth."""
        return self.bytes_moved / bandwidth if bandwidth else None

    def time_over_floor(self, bandwidth: float | None) -> float | None:
        return rc.ratio(self.time_s, self.floor_s(bandwidth))

    @property
    def dram_bytes(self) -> float | None:
        """CUPTI DRAM bytes read + written (a separate, untimed launch)."""
        return rc.dram_bytes(self.run)



@dataclass(frozen=True)
class BconvData:
    designs: list[Design]                                # btcbench.forms order
    problems: list[Problem]                              # file order
    runs: dict[tuple[str, Problem, str], BconvRun]       # (design, problem, out)
    groups: dict[Problem, tuple[str, ...]]               # the sweeps each problem belongs to

    def get(self, design: str, problem: Problem, out: str) -> BconvRun | None:
        return self.runs.get((design, problem, out))

    @property
    def tensor_designs(self) -> list[Design]:
        return [d for d in self.designs if d.tensor_core]

    def _best(self, designs: Sequence[Design], problem: Problem, out: str) -> BconvRun | None:
        """The fastest of `designs` on a problem; ties go to the one listed first."""
        runs = [r for d in designs if (r := self.get(d.name, problem, out)) is not None and r.tops is not None]
        return max(runs, key=lambda r: r.tops, default=None)   # type: ignore[arg-type, return-value]

    def best_tensor(self, problem: Problem, out: str) -> BconvRun | None:
        return self._best(self.tensor_designs, problem, out)

    def best_popc(self, problem: Problem, out: str) -> BconvRun | None:
        return self._best([d for d in self.designs if d.family == POPC_FAMILY], problem, out)

    def in_group(self, group: str) -> list[Problem]:
        return [p for p in self.problems if group in self.groups.get(p, ())]

    @property
    def resnet_layers(self) -> list[Layer]:
        """ResNet-18's layers in this file, in network order."""
        return sorted({p.layer for p in self.in_group(RESNET)}, key=lambda layer: layer.order)

    def resnet_problem(self, layer: Layer, n: int) -> Problem | None:
        p = Problem(n, layer.hw, layer.c, layer.k, layer.rs, layer.stride)
        return p if p in self.groups and RESNET in self.groups[p] else None

    @property
    def resnet_problems(self) -> list[Problem]:
        """Layer by layer in network order, smallest batch first."""
        return sorted(self.in_group(RESNET), key=lambda p: (p.layer.order, p.n))


def speedup(run: BconvRun | None, base: BconvRun | None) -> float | None:
    """How many times faster than the baseline on the same problem: the
    baseline's time over the run's, which is the TOPS ratio."""
    return rc.ratio(run.tops if run else None, base.tops if base else None)


def _labels(results: br.Results) -> dict[str, tuple[str, ...]]:
    """run_name -> the sweep groups its label lists."""
    out: dict[str, tuple[str, ...]] = {}
    for entry in results.benchmarks:
        label = entry.get("label")
        if isinstance(label, str) and label:
            out.setdefault(br.run_name_of(entry), tuple(g for g in label.split(",") if g))
    return out


def collect(results: br.Results) -> BconvData:
    """Designs in btcbench.forms order, each with a BconvRun per problem and
    output; ResultsError for a run name off the bconv grammar."""
    rc.check_suite(results, SUITE)
    designs, problems, table = rc.collect_design_runs(results, parse_bconv_name, _config_point, OUTPUTS, BconvRun)
    labels = _labels(results)
    groups: dict[Problem, set[str]] = {}
    for run in br.medians(results):  # every name parsed above
        groups.setdefault(parse_bconv_name(run.run_name).problem, set()).update(labels.get(run.run_name, ()))
    ordered_groups = {p: tuple(sorted(g, key=_group_order)) for p, g in groups.items()}
    return BconvData(designs, problems, table, ordered_groups)


def _group_order(group: str) -> tuple[int, str]:
    known = [RESNET, *PAPER_SWEEPS]
    return (known.index(group) if group in known else len(known), group)


def dram_bandwidth(results: br.Results) -> float | None:
    """The DRAM copy bandwidth the sweep measured (bytes/s), None if it has none."""
    return rc.measured_dram_bandwidth(results)


def _bandwidth_text(results: br.Results) -> str:
    if dram_bandwidth(results) is None:
        why = (results.meta.get("peaks") or {}).get("dram_copy_error") or f"no btcbench.peaks.{DRAM_KEY} in this file"
        return f"{DASH} (not measured: {why}; no floors)"
    return rc.measured_dram_bandwidth_text(results)


# ---------------------------------------------------------------- peaks

def _peaks_text(peaks: bmm_report.Peaks) -> str:
    if peaks.instr is None:
        return "no instr results beside this file"
    source = f"`{peaks.instr.path.name}` ({peaks.origin})"
    if not peaks.by_family:
        return f"{source}: none of its forms gives a peak"
    return f"{source}: " + "; ".join(f"{p.label} {p.tops:,.1f} TOPS (`{p.form}`)" for p in peaks.by_family.values())


def pct_of_peak(run: BconvRun | None, peaks: bmm_report.Peaks) -> float | None:
    peak = peaks.get(run.design.family) if run else None
    tops = run.tops if run else None
    return 100.0 * tops / peak.tops if tops is not None and peak else None


# ---------------------------------------------------------------- goals

@dataclass(frozen=True)
class Check:
    value: float | None
    verdict: str     # one of VERDICTS
    text: str        # the cell: the figure and its verdict, or why there is none


@dataclass(frozen=True)
class Roofline:
    """A layer's roofline floor: the larger of its DRAM floor (bytes moved over
    the measured bandwidth) and its compute floor (ops over the best b1
    tensor-core peak instr measured on this GPU; None without instr peaks)."""
    dram_s: float
    compute_s: float | None
    peak: bmm_report.InstrPeak | None

    @property
    def floor_s(self) -> float:
        return max(self.dram_s, self.compute_s or 0.0)

    @property
    def binds(self) -> str:
        return "compute" if self.compute_s is not None and self.compute_s > self.dram_s else "DRAM"

    @property
    def text(self) -> str:
        return f"{self.floor_s * 1e6:,.2f} ({self.binds})"


def best_b1_peak(peaks: bmm_report.Peaks | None) -> bmm_report.InstrPeak | None:
    """The fastest b1 tensor-core instruction instr measured: the compute ceiling."""
    return max((peaks.by_family.values() if peaks else ()), key=lambda p: p.tops, default=None)


def roofline(run: BconvRun, bandwidth: float, peaks: bmm_report.Peaks | None) -> Roofline:
    peak = best_b1_peak(peaks)
    compute = run.problem.ops / (peak.tops * 1e12) if peak else None
    return Roofline(run.bytes_moved / bandwidth, compute, peak)


@dataclass(frozen=True)
class LayerGoals:
    layer: Layer
    best: BconvRun | None
    floor: Check
    popc: Check
    cudnn: Check
    roofline: Roofline | None = None

    @property
    def verdict(self) -> str:
        verdicts = {c.verdict for c in (self.floor, self.popc, self.cudnn)}
        if "not met" in verdicts:
            return "not met"
        return "not measured" if "not measured" in verdicts else "met"


def _check(value: float | None, ok: Callable[[float], bool], missing: str) -> Check:
    if value is None:
        return Check(None, "not measured", missing)
    verdict = "met" if ok(value) else "not met"
    return Check(value, verdict, f"{value:,.2f}× {verdict}")


def _missing(run: BconvRun | None, what: str) -> str:
    if run is not None and run.skip_reason:
        return f"not measured: `{run.design.name}` skipped ({run.skip_reason})"
    return f"not measured: no {what} run"


def layer_goals(data: BconvData, bandwidth: float | None,
                peaks: bmm_report.Peaks | None = None) -> list[LayerGoals]:
    """The goals at GOAL_BATCH for every 3×3 ResNet-18 layer in the file, bits
    output: the best tensor-core design within GOAL_FLOOR_RATIO of the layer's
    roofline floor (Roofline: the DRAM floor, or the compute floor at the best
    measured b1 peak where that is larger; the DRAM floor alone without instr
    peaks), ≥ GOAL_POPC_SPEEDUP × the best software popcount, ≥
    GOAL_CUDNN_SPEEDUP × cuDNN fp16."""
    goals = []
    for layer in data.resnet_layers:
        if layer.rs != 3:
            continue
        p = data.resnet_problem(layer, GOAL_BATCH)
        best = data.best_tensor(p, GOAL_OUT) if p else None
        popc = data.best_popc(p, GOAL_OUT) if p else None
        cudnn = data.get(CUDNN_F16, p, GOAL_OUT) if p else None
        no_best = "not measured: no tensor-core run" if p else f"not measured: no batch-{GOAL_BATCH} run"
        roof = roofline(best, bandwidth, peaks) if best is not None and bandwidth else None
        if best is None:
            floor = Check(None, "not measured", no_best)
        elif bandwidth is None:
            floor = Check(None, "not measured", "not measured: no measured DRAM bandwidth")
        else:
            floor = _check(rc.ratio(best.time_s, roof.floor_s if roof else None), lambda v: v <= GOAL_FLOOR_RATIO,
                           no_best)
        popc_check = (Check(None, "not measured", no_best) if best is None else
                      _check(speedup(best, popc), lambda v: v >= GOAL_POPC_SPEEDUP,
                             "not measured: no software-popcount run"))
        cudnn_check = (Check(None, "not measured", no_best) if best is None else
                       _check(speedup(best, cudnn), lambda v: v >= GOAL_CUDNN_SPEEDUP,
                              _missing(cudnn, f"`{CUDNN_F16}`")))
        goals.append(LayerGoals(layer, best, floor, popc_check, cudnn_check, roof))
    return goals


# ---------------------------------------------------------------- plots

def _colours(data: BconvData) -> dict[str, str]:
    return rc.design_colours(data.designs, DESIGN_COLOURS, _SPARE_COLOURS)


def _tops_tick(v: float, _: Any) -> str:
    return f"{v:,.0f}" if v >= 10 else f"{v:.3g}"


def _layer_axis(ax: Any, layers: list[Layer]) -> None:
    ax.set_xticks(range(len(layers)), [layer.label for layer in layers], rotation=35, ha="right", fontsize=8)
    ax.set_xlim(-0.5, len(layers) - 0.5)
    ax.set_xlabel("ResNet-18 layer (R×S, stride, H²×C→K)")


def _finish(ax: Any, handles: list[Any] | None = None) -> None:
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.grid(alpha=0.3, which="both")
    ax.set_axisbelow(True)


def _gapped(values: Sequence[float | None]) -> tuple[list[int], list[float]] | None:
    """x = 0, 1, ... and the values, NaN where one is missing (the line breaks
    there instead of bridging it); None when every value is missing."""
    if all(v is None for v in values):
        return None
    return list(range(len(values))), [NAN if v is None else v for v in values]


def _per_layer(data: BconvData, d: Design, fn: Callable[[BconvRun], float | None]) -> list[float | None]:
    """fn(run) of design d per ResNet-18 layer at GOAL_BATCH, bits output (None: no value)."""
    values: list[float | None] = []
    for layer in data.resnet_layers:
        p = data.resnet_problem(layer, GOAL_BATCH)
        run = data.get(d.name, p, GOAL_OUT) if p else None
        values.append(fn(run) if run is not None and run.run is not None else None)
    return values


def plot_layers(results: br.Results, data: BconvData, peaks: bmm_report.Peaks) -> bytes:
    """PNG bytes: median TOPS per ResNet-18 layer shape at batch 256, bits
    output, a marker line per design, and the measured instruction peak of each
    tensor-core family in the file as a dashed line."""
    colours = _colours(data)
    layers = data.resnet_layers
    with rc.figure((11.0, 6.5)) as fig:
        ax = fig.add_subplot()
        handles: list[Any] = []
        for d in data.designs:
            pts = _gapped(_per_layer(data, d, lambda r: r.tops))
            if pts:
                handles.append(ax.plot(*pts, marker="o" if d.tensor_core else "s", markersize=5,
                                       linestyle="-" if d.tensor_core else ":", color=colours[d.name],
                                       linewidth=1.2, label=d.name)[0])
        if handles:
            for family in dict.fromkeys(d.family for d in data.tensor_designs):
                peak = peaks.get(family)
                if peak is not None:
                    handles.append(ax.axhline(peak.tops, linestyle=(0, (6, 3)), linewidth=1.0,
                                              color=PEAK_COLOURS.get(family, "gray"),
                                              label=f"{peak.label} peak {peak.tops:,.0f} TOPS\n(instr {peak.form})"))
            rc.log_y(ax, _tops_tick)
            _layer_axis(ax, layers)
        else:
            rc.no_data(ax, f"no ResNet-18 runs at batch {GOAL_BATCH} with a TOPS figure in this file", fontsize=9)
            ax.set_xticks([])
        if not peaks.by_family:
            handles.append(Line2D([], [], linestyle="none",
                                  label="no instr peaks: no instr results beside this file"
                                  if peaks.instr is None else "no instr peaks in the instr file"))
        ax.set_ylabel("TOPS (2·N·P·Q·K·R·S·C / median time)")
        ax.set_title(rc.plot_title(results, SUITE, f"BConv throughput per ResNet-18 layer, batch {GOAL_BATCH}, "
                                                   "bits output"), fontsize=10)
        _finish(ax, handles)
        return rc.png_bytes(fig)


def plot_floor(results: br.Results, data: BconvData, bandwidth: float | None) -> bytes:
    """PNG bytes: each design's median time over its DRAM floor (bytes moved /
    measured bandwidth) per ResNet-18 layer at batch 256, bits output, with the
    floor (1) and the goal (1.5)."""
    colours = _colours(data)
    with rc.figure((11.0, 6.0)) as fig:
        ax = fig.add_subplot()
        handles: list[Any] = []
        if bandwidth is not None:
            for d in data.designs:
                pts = _gapped(_per_layer(data, d, lambda r: r.time_over_floor(bandwidth)))
                if pts:
                    handles.append(ax.plot(*pts, marker="o" if d.tensor_core else "s", markersize=5,
                                           linestyle="-" if d.tensor_core else ":", color=colours[d.name],
                                           linewidth=1.2, label=d.name)[0])
        if handles:
            handles.append(ax.axhline(1.0, color="black", linewidth=0.8, label="the DRAM floor"))
            handles.append(ax.axhline(GOAL_FLOOR_RATIO, color="crimson", linestyle=":", linewidth=1.0,
                                      label=f"goal ≤ {GOAL_FLOOR_RATIO:g}× (3×3 layers)"))
            rc.log_y(ax, lambda v, _: f"{v:,.3g}×")
            _layer_axis(ax, data.resnet_layers)
        else:
            rc.no_data(ax, "no measured DRAM bandwidth in this file: no floors" if bandwidth is None else
                       f"no ResNet-18 runs at batch {GOAL_BATCH} in this file", fontsize=9)
            ax.set_xticks([])
        ax.set_ylabel("median time / DRAM floor")
        ax.set_title(rc.plot_title(results, SUITE, f"time over the DRAM floor, batch {GOAL_BATCH}, bits output"),
                     fontsize=10)
        _finish(ax, handles)
        return rc.png_bytes(fig)


def plot_speedup(results: br.Results, data: BconvData) -> bytes:
    """PNG bytes: the best tensor-core design's speedup over the best software
    popcount (left) and over cuDNN fp16 (right) per ResNet-18 layer, a line per
    batch, bits output, with the goals at batch 256."""
    layers = data.resnet_layers
    panels = [("the best software popcount", lambda p: speedup(data.best_tensor(p, "bits"),
                                                               data.best_popc(p, "bits")), GOAL_POPC_SPEEDUP),
              (f"`{CUDNN_F16}`", lambda p: speedup(data.best_tensor(p, "bits"), data.get(CUDNN_F16, p, "bits")),
               GOAL_CUDNN_SPEEDUP)]
    batches = sorted({p.n for p in data.in_group(RESNET)})
    with rc.figure((13.0, 5.5)) as fig:
        axes = fig.subplots(1, 2)
        for ax, (what, fn, goal) in zip(axes, panels):
            drawn = False
            for n in batches:
                pts = _gapped([fn(p) if (p := data.resnet_problem(layer, n)) else None for layer in layers])
                if pts:
                    ax.plot(*pts, marker=BATCH_MARKERS.get(n, "o"), markersize=5, linewidth=1.2,
                            label=f"batch {n}")
                    drawn = True
            if drawn:
                rc.log_y(ax, lambda v, _: f"{v:,.3g}×")
                ax.axhline(1.0, color="black", linewidth=0.8)
                ax.axhline(goal, color="crimson", linestyle=":", linewidth=1.0,
                           label=f"goal {goal:g}× (batch {GOAL_BATCH}, 3×3)")
                _layer_axis(ax, layers)
                ax.legend(fontsize=7, loc="best")
            else:
                rc.no_data(ax, f"no speedup over {what.strip('`')}\nin this file", fontsize=9)
                ax.set_xticks([])
            ax.set_ylabel("speedup (baseline time / best tensor-core time)")
            ax.set_title(f"over {what.replace('`', '')}, bits output", fontsize=9)
            ax.grid(alpha=0.3, which="both")
            ax.set_axisbelow(True)
        fig.suptitle(rc.plot_title(results, SUITE, "best tensor-core BConv over the baselines"), fontsize=10)
        return rc.png_bytes(fig)


def _sweep_points(data: BconvData, group: str) -> list[tuple[int, Problem]]:
    field = PAPER_SWEEPS[group][1]
    return sorted(((getattr(p, field), p) for p in data.in_group(group)), key=lambda xp: xp[0])


def plot_paper(results: br.Results, data: BconvData) -> bytes:
    """PNG bytes: the paper's sweeps, median TOPS (bits output) over input
    size, filter size, batch and channels, a line per design."""
    colours = _colours(data)
    with rc.figure((13.0, 9.0)) as fig:
        axes = fig.subplots(2, 2).flatten()
        handles: dict[str, Any] = {}
        for ax, (group, (axis, _, log2)) in zip(axes, PAPER_SWEEPS.items()):
            points = _sweep_points(data, group)
            drawn = False
            for d in data.designs:
                pts = [(x, t) for x, p in points if (t := _tops(data, d, p)) is not None]
                if pts:
                    handles[d.name] = ax.plot(*zip(*pts), marker="o" if d.tensor_core else "s", markersize=4,
                                              linestyle="-" if d.tensor_core else ":", color=colours[d.name],
                                              linewidth=1.2, label=d.name)[0]
                    drawn = True
            if drawn:
                xs = [x for x, _ in points]
                if log2:
                    ax.set_xscale("log", base=2)
                ax.set_xticks(xs, [str(x) for x in xs])
                ax.xaxis.set_minor_locator(NullLocator())
                rc.log_y(ax, _tops_tick)
            else:
                rc.no_data(ax, f"no {group} runs in this file", fontsize=9)
                ax.set_xticks([])
            ax.set_xlabel(axis)
            ax.set_ylabel("TOPS")
            ax.set_title(group, fontsize=9)
            ax.grid(alpha=0.3, which="both")
            ax.set_axisbelow(True)
        if handles:
            axes[0].legend(handles=list(handles.values()), fontsize=7, loc="best")
        fig.suptitle(rc.plot_title(results, SUITE, "the TCBNN paper's BConv sweeps, bits output"), fontsize=10)
        return rc.png_bytes(fig)


# ---------------------------------------------------------------- markdown

RESNET_TABLE_HEADER = ["Layer", "Batch", "Best tensor-core design", "Time µs, median [min–max]",
                       "Graph-replay µs", "TOPS", "% of instr peak", "Time / floor",
                       "× best popc", "× cuDNN f16", "× cuDNN s8"]
EVERY_RUN_HEADER = ["Point", "Output", "Design", "Time µs, median [min–max]", "Graph-replay µs", "TOPS", "Bytes moved",
                    "Time / floor", "DRAM bytes / bytes moved", "L2 hit %"]


def _x(value: float | None) -> str:
    return DASH if value is None else f"{value:,.2f}×"


def _us_cell(run: BconvRun) -> str:
    """'median [min–max]' in µs."""
    if run.time_s is None or run.run is None:
        return DASH
    scale = run.time_s / run.run.median_time
    return (f"{run.time_s * 1e6:,.2f} [{run.run.min_time * scale * 1e6:,.2f}–"
            f"{run.run.max_time * scale * 1e6:,.2f}]")


def _resnet_rows(data: BconvData, out: str, peaks: bmm_report.Peaks, bandwidth: float | None) -> list[list[object]]:
    rows: list[list[object]] = []
    for p in data.resnet_problems:
        if not any(r.run is not None for d in data.designs if (r := data.get(d.name, p, out)) is not None):
            continue   # not run with this output
        best = data.best_tensor(p, out)
        if best is None:
            rows.append([p.layer.label, p.n, DASH, *([DASH] * (len(RESNET_TABLE_HEADER) - 3))])
            continue
        graph = best.graph_time_s
        rows.append([p.layer.label, p.n, f"`{best.design.name}`", _us_cell(best),
                     rc.fmt(graph * 1e6 if graph else None, ",.2f"), rc.fmt(best.tops, ",.1f"),
                     rc.fmt(pct_of_peak(best, peaks), ".1f"), rc.fmt(best.time_over_floor(bandwidth), ".2f"),
                     _x(speedup(best, data.best_popc(p, out))), _x(speedup(best, data.get(CUDNN_F16, p, out))),
                     _x(speedup(best, data.get(CUDNN_S8, p, out)))])
    return rows


def _resnet_sections(data: BconvData, peaks: bmm_report.Peaks, bandwidth: float | None) -> list[str]:
    if not data.resnet_problems:
        return ["No ResNet-18 layer in this file.", ""]
    lines: list[str] = []
    for out in OUTPUTS:
        if out == HALF and not any(r.run is not None for p in data.resnet_problems for d in data.designs
                                   if (r := data.get(d.name, p, out)) is not None):
            continue   # older files time no fused Bi-Real output
        best_popc = "the faster of the `popc` designs on that point"
        lines += [f"### {out} output", "",
                  f"Per layer and batch: the fastest tensor-core design, its median time over "
                  f"repetitions [fastest–slowest], its time from CUDA-graph replays where measured, TOPS, "
                  f"% of its family's instruction peak, time over the DRAM floor, and its speedup over "
                  f"{best_popc}, `{CUDNN_F16}` and `{CUDNN_S8}`.", "",
                  *rc.table(RESNET_TABLE_HEADER, _resnet_rows(data, out, peaks, bandwidth)), ""]
    return lines


def _goal_lines(results: br.Results, data: BconvData, bandwidth: float | None,
                peaks: bmm_report.Peaks | None = None) -> list[str]:
    goals = layer_goals(data, bandwidth, peaks)
    peak = best_b1_peak(peaks)
    ceiling = (f"the compute floor at the best measured b1 peak, {peak.label} {peak.tops:,.1f} TOPS, where "
               "that is larger" if peak else "no compute floor: no instr peaks")
    lines = [f"At batch {GOAL_BATCH}, every 3×3 layer, bits output: the best tensor-core design within "
             f"{GOAL_FLOOR_RATIO:g}× of the layer's roofline floor (the DRAM floor; {ceiling}), "
             f"≥ {GOAL_POPC_SPEEDUP:g}× the best software popcount, ≥ {GOAL_CUDNN_SPEEDUP:g}× `{CUDNN_F16}`."]
    if not goals:
        return lines + ["", "No 3×3 ResNet-18 layer in this file."]
    header = ["Layer", "Best tensor-core design", "Median µs", "Roofline floor µs (binds)",
              f"Time / floor (≤ {GOAL_FLOOR_RATIO:g}×)", f"× best popc (≥ {GOAL_POPC_SPEEDUP:g}×)",
              f"× cuDNN f16 (≥ {GOAL_CUDNN_SPEEDUP:g}×)", "Verdict"]
    rows = [[g.layer.label, f"`{g.best.design.name}`" if g.best else DASH,
             rc.fmt(g.best.time_s * 1e6 if g.best and g.best.time_s else None, ",.1f"),
             g.roofline.text if g.roofline else DASH, g.floor.text, g.popc.text,
             g.cudnn.text, g.verdict] for g in goals]
    met = sum(g.verdict == "met" for g in goals)
    return lines + ["", *rc.table(header, rows), "",
                    f"{met} of {len(goals)} 3×3 layers meet every goal."]


def _tops(data: BconvData, d: Design, p: Problem, out: str = "bits") -> float | None:
    run = data.get(d.name, p, out)
    return run.tops if run else None


def _paper_lines(data: BconvData) -> list[str]:
    lines: list[str] = ["Median TOPS, bits output, around the paper's layer (64 × 64 input, 3×3, "
                        "C = K = 128, batch 16): one thing varied per table.", ""]
    drawn = False
    for group, (axis, _, _) in PAPER_SWEEPS.items():
        points = _sweep_points(data, group)
        if not points:
            continue
        drawn = True
        designs = [d for d in data.designs if any(_tops(data, d, p) is not None for _, p in points)]
        header = [axis, *(f"`{d.name}`" for d in designs)]
        rows = [[x, *(rc.fmt(_tops(data, d, p), ",.1f") for d in designs)] for x, p in points]
        lines += [f"### {group}", "", *rc.table(header, rows), ""]
    if not drawn:
        lines += ["No paper-sweep point in this file.", ""]
    return lines


def _every_run(data: BconvData) -> list[tuple[Problem, str, Design, BconvRun]]:
    """(problem, output, design, run) of every run, in the table's order."""
    return [(p, out, d, r) for p in data.problems for out in OUTPUTS for d in data.designs
            if (r := data.get(d.name, p, out)) is not None and r.run is not None]


def _every_run_table(data: BconvData, bandwidth: float | None) -> list[str]:
    """The Every run table (EVERY_RUN_HEADER, its L2 column named by what it
    holds) and the L2 footnote, if any; a line saying so where there is no run."""
    runs = _every_run(data)
    if not runs:
        return ["No run in this file."]
    l2 = rc.L2HitColumn(r.l2_hit for *_, r in runs)
    rows: list[list[object]] = []
    for p, out, d, r in runs:
        graph = r.graph_time_s
        rows.append([p.label, out, f"`{d.name}`", _us_cell(r),
                     rc.fmt(graph * 1e6 if graph else None, ",.2f"), rc.fmt(r.tops, ",.1f"),
                     f"{r.bytes_moved:,.0f}",
                     rc.fmt(r.time_over_floor(bandwidth), ".2f"),
                     rc.fmt(rc.ratio(r.dram_bytes, r.bytes_moved), ".2f"), l2.cell(r.l2_hit)])
    return [*rc.table([*EVERY_RUN_HEADER[:-1], l2.header()], rows), *l2.notes()]


def _design_rows(data: BconvData, peaks: bmm_report.Peaks) -> list[list[object]]:
    rows = []
    for d in data.designs:
        peak = peaks.get(d.family)
        arch = d.meta.get("arch")
        rows.append([f"`{d.name}`", d.family or DASH, "yes" if d.tensor_core else "no", d.status,
                     f"sm_{arch}" if isinstance(arch, int) and arch > 0 else DASH,
                     f"{peak.tops:,.1f} (`{peak.form}`)" if peak else DASH])
    return rows


def markdown_report(results: br.Results, data: BconvData, peaks: bmm_report.Peaks, png_names: Sequence[str],
                    extra_sections: Sequence[rc.Section] = ()) -> str:
    """The report; extra_sections (from the composer) go before Skipped."""
    bandwidth = dram_bandwidth(results)
    counters_note = []
    if not (results.meta.get("counters") or {}).get("enabled"):
        counters_note = ["", f"DRAM and L2 columns are empty: {rc.counters_off_text(results)}."]
    lines = [*rc.title_lines(results, SUITE),
             *rc.header_lines(results, extra=[
                 ("Instruction peaks", _peaks_text(peaks)),
                 ("DRAM bandwidth (floors)", _bandwidth_text(results))]),
             "",
             f"![TOPS per ResNet-18 layer]({png_names[0]})", "",
             f"![Time over the DRAM floor per ResNet-18 layer]({png_names[1]})", "",
             f"![Speedup of the best tensor-core design over the baselines]({png_names[2]})", "",
             f"![The paper's sweeps]({png_names[3]})", "",
             "## What this suite measures", "",
             "Binary 2-D convolutions (docs/bconv.md) over ±1 values packed one bit an element, NHWC "
             "activations and KRSC weights, zero padding R/2, by production tensor-core designs and by "
             "software-popcount (`popc`) and cuDNN (fp16, int8 on the unpacked ±1 values) baselines; each "
             "with an int32 output and with the fused bits output (batch-norm threshold, packed as the "
             "next layer reads it). Points: ResNet-18's binary layers (3×3 stride 1, the 3×3 stride-2 "
             "stage entries, the 1×1 stride-2 downsamples) at batches 1, 16, 64 and 256, and the TCBNN "
             "paper's sweeps. TOPS = 2·N·P·Q·K·R·S·C per second (median time over repetitions; each "
             "launch reads buffers L2 does not hold). Bytes moved = the packed activations and weights "
             "once plus the output once; the DRAM floor is bytes moved over the measured DRAM bandwidth "
             "in the header, and time / floor the median time over it. Graph-replay times come from "
             "back-to-back launches captured in a CUDA graph (small points only). % of instr peak = TOPS "
             "over the best median TOPS `instr` measured for the instructions the design's family "
             "issues; baselines have none.", *counters_note, "",
             "## Designs", "",
             *rc.table(["Design", "Family", "Tensor core", "Status", "Config arch",
                        "Family's instruction peak, TOPS (instr form)"], _design_rows(data, peaks)), "",
             "## ResNet-18 layers", "",
             *_resnet_sections(data, peaks, bandwidth),
             "## Goals", "", *_goal_lines(results, data, bandwidth, peaks), "",
             "## The paper's sweeps", "", *_paper_lines(data),
             "## Every run", "",
             *_every_run_table(data, bandwidth), "",
             *rc.section_lines(extra_sections),
             "## Skipped", "", *rc.skipped_lines(results)]
    return "\n".join(lines) + "\n"


PLOT_SUFFIXES = ("bconv_layers", "bconv_floor", "bconv_speedup", "bconv_paper")


def render(results: br.Results, out_dir: str | Path | None = None,
           instr_results: br.Results | None = None, *, instr_origin: str = "given",
           extra_sections: Sequence[rc.Section] = ()) -> list[Path]:
    """Write <stem>.bconv_layers.png, .bconv_floor.png, .bconv_speedup.png,
    .bconv_paper.png and <stem>.md; returns their paths in that order. The
    instruction peaks come from instr_results (none without it); instr_origin
    says in the header how the caller chose that file."""
    data = collect(results)   # checks the suite before anything is written
    peaks = bmm_report.load_peaks(instr_results, instr_origin)
    bandwidth = dram_bandwidth(results)
    out = rc.output_dir(results, out_dir)
    stem = results.path.stem
    pngs = [out / f"{stem}.{suffix}.png" for suffix in PLOT_SUFFIXES]
    md = out / f"{stem}.md"
    markdown = markdown_report(results, data, peaks, [p.name for p in pngs], extra_sections)
    images = (plot_layers(results, data, peaks), plot_floor(results, data, bandwidth),
              plot_speedup(results, data), plot_paper(results, data))
    for path, image in zip(pngs, images):
        br.write_atomic(path, image)
    br.write_atomic(md, markdown)
    return [*pngs, md]
