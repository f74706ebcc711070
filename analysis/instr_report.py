"""Report for the 'instr' suite: best throughput per instruction form as a bar
chart (<stem>.throughput.png) and a markdown table (<stem>.md).

Written through analysis.report (python3 -m analysis.report RESULTS.json).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from analysis import btcresults as br
from analysis import report_common as rc
from analysis.report_common import DASH

SUITE = "instr"
GROUP_COLOURS = {"xor": "tab:blue", "and": "tab:orange",
                 "wgmma": "tab:green", "reference": "tab:gray"}
# The imma pipe's activity covers IMMA, BMMA and their wgmma forms (IGMMA,
# BGMMA); the f16 row runs on the hmma pipe, whose activity is not collected.
_PIPE_METRIC = "cupti.sm__pipe_tensor_op_imma_cycles_active.avg.pct_of_peak_sustained_active"
_INT1_OPS_METRIC = "cupti.sm__ops_path_tensor_src_int1.sum"


@dataclass(frozen=True)
class FormSummary:
    form: br.Form
    latency: br.RunSummary | None   # the lat/<form> run
    best: br.RunSummary | None      # the tput config with the highest median TOPS

    def metric(self, name: str) -> float | None:
        return self.best.counter(name) if self.best else None

    @property
    def tensor_insts(self) -> float | None:
        return self.metric("cupti." + self.form.inst_metric)


@dataclass(frozen=True)
class Peak:
    tops: float
    clock_mhz: float
    clock_run: str | None   # run that measured clock_mhz; None: device max clock

    @property
    def clock_label(self) -> str:
        return "measured SM clock" if self.clock_run else "max SM clock, none measured"


def tops_spread(run: br.RunSummary) -> tuple[float, float, float]:
    """(min, median, max) TOPS of a run. TOPS scales as 1/time, so the slowest
    repetition (max time) gives the lowest TOPS."""
    return rc.spread(run.counters["tops"], run)


def best_throughput(runs: list[br.RunSummary]) -> br.RunSummary | None:
    """Highest median TOPS among the tput runs; ties go to the cheaper config
    (fewer warps per SM, then lower ILP) so the choice is stable."""
    tput = [r for r in runs if r.bench.kind == "tput" and r.counter("tops") is not None]
    return max(tput, key=lambda r: (r.counters["tops"], -r.bench.wps, -r.bench.ilp),
               default=None)


def summarise_forms(results: br.Results) -> list[FormSummary]:
    """Measured forms in group order (GROUPS), file order within a group."""
    by_form: dict[str, list[br.RunSummary]] = {}
    for run in br.medians(results):
        by_form.setdefault(run.bench.form, []).append(run)
    summaries = []
    for group in br.GROUPS:
        for form in results.forms.values():
            if form.group != group or form.status != "measured":
                continue
            runs = by_form.get(form.name, [])
            latency = next((r for r in runs if r.bench.kind == "lat"), None)
            summaries.append(FormSummary(form, latency, best_throughput(runs)))
    return summaries


def b1_peak(results: br.Results, summaries: list[FormSummary]) -> Peak | None:
    """Theoretical b1 peak = ops/clk/SM x SMs x SM clock. The clock is the one
    measured in the best b1 run, since tensor-heavy kernels run below max clock."""
    per_sm_clk = br.lookup(results.meta, "peaks.b1.ops_per_clk_per_sm")
    sm_count = results.device.get("sm_count")
    if not isinstance(per_sm_clk, (int, float)) or not isinstance(sm_count, int):
        return None
    b1_runs = [s.best for s in summaries if s.form.dtype == "b1" and s.best is not None]
    best = max(b1_runs, key=lambda r: r.counters["tops"], default=None)
    clock_mhz = best.counter("sm_clock_mhz") if best else None
    clock_run = best.run_name if clock_mhz else None
    if not clock_mhz:
        clock_mhz = results.device.get("sm_clock_max_mhz")
        if not isinstance(clock_mhz, (int, float)):
            return None
    return Peak(per_sm_clk * sm_count * clock_mhz * 1e6 / 1e12, float(clock_mhz), clock_run)


def plot_throughput(results: br.Results, summaries: list[FormSummary],
                    peak: Peak | None) -> bytes:
    """PNG bytes of the best-throughput bar chart."""
    bars = [s for s in summaries if s.best is not None]
    # A one-slot gap between groups keeps them visually apart.
    xs: list[float] = []
    group_x: dict[str, list[float]] = {}
    slot = 0
    for i, s in enumerate(bars):
        if i and s.form.group != bars[i - 1].form.group:
            slot += 1
        xs.append(slot)
        group_x.setdefault(s.form.group, []).append(slot)
        slot += 1
    spreads = [tops_spread(s.best) for s in bars]

    with rc.figure((max(7.0, 0.8 * slot + 4.0), 6.0)) as fig:
        ax = fig.add_subplot()
        if bars:
            ax.bar(xs, [m for _, m, _ in spreads],
                   yerr=[[m - lo for lo, m, _ in spreads], [hi - m for _, m, hi in spreads]],
                   color=[GROUP_COLOURS[s.form.group] for s in bars],
                   edgecolor="black", linewidth=0.5, capsize=4)
            ax.set_xticks(xs, [s.form.name for s in bars], rotation=35, ha="right", fontsize=8)
            groups_axis = ax.secondary_xaxis("top")
            groups_axis.set_ticks([sum(v) / len(v) for v in group_x.values()],
                                  labels=list(group_x))
            groups_axis.tick_params(length=0)
        else:
            rc.no_data(ax, "no throughput runs in this file")
            ax.set_xticks([])
        handles = [Patch(color=GROUP_COLOURS[g], label=g) for g in group_x]
        top_tops = max([hi for _, _, hi in spreads], default=1.0)
        if peak is not None:
            handles.append(ax.axhline(
                peak.tops, linestyle="--", color="crimson", linewidth=1.2,
                label=f"b1 peak {peak.tops:,.0f} TOPS\nat {peak.clock_mhz:.0f} MHz ({peak.clock_label})"))
            top_tops = max(top_tops, peak.tops)
        ax.set_ylim(0, top_tops * 1.12)
        ax.set_ylabel("TOPS (best config, median; whiskers min–max)")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_title(rc.plot_title(results, SUITE, "best throughput per instruction form"),
                     fontsize=10)
        if handles:
            # Outside the axes, so it never hides a bar or the peak line.
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        return rc.png_bytes(fig)


def _header_lines(results: br.Results, peak: Peak | None) -> list[str]:
    peak_text = DASH
    if peak:
        peak_text = f"{peak.tops:,.1f} TOPS at {peak.clock_mhz:.0f} MHz ({peak.clock_label}"
        peak_text += f" in `{peak.clock_run}`)" if peak.clock_run else ")"
    return rc.header_lines(results, detailed=False, extra=[("b1 peak", peak_text)])


def _best_tops(s: FormSummary | None) -> float | None:
    return s.best.counters["tops"] if s and s.best else None


def _latency_cycles(s: FormSummary | None) -> float | None:
    return s.latency.counter("cycles_per_inst") if s and s.latency else None


def _pair_cell(s: FormSummary | None, value: float | None, spec: str) -> str:
    # No summary means the form is in the file but was not measured.
    return "skipped" if s is None else rc.fmt(value, spec)


def _form_row(s: FormSummary, suspect: Mapping[str, float]) -> list[object]:
    tops_text = config = pct = clock = DASH
    if s.best is not None:
        tops_text = rc.rate_cell(tops_spread(s.best))
        config = f"wps {s.best.bench.wps}, ilp {s.best.bench.ilp}"
        mark = f" {rc.SUSPECT_MARK}" if s.best.run_name in suspect else ""
        pct = rc.fmt(s.best.counter("pct_peak"), ".1f") + mark
        clock = rc.fmt(s.best.counter("sm_clock_mhz"), ".0f") + mark
    insts = s.tensor_insts
    expected = s.best.counter("insts_expected") if s.best else None
    if insts is None:
        insts_text = DASH
    elif expected:
        insts_text = f"{insts:,.0f} / {expected:,.0f} ({insts / expected:.3f})"
    else:
        insts_text = f"{insts:,.0f} / {DASH}"
    int1_ops = s.metric(_INT1_OPS_METRIC) if s.form.dtype == "b1" else None
    ops_per_inst = int1_ops / insts if int1_ops is not None and insts else None
    pipe_pct = s.metric(_PIPE_METRIC) if s.form.dtype != "f16" else None
    return [f"`{s.form.name}`", s.form.group, f"`{s.form.ptx}`" if s.form.ptx else DASH,
            rc.fmt(_latency_cycles(s), ".1f"), tops_text, config, pct, clock, insts_text,
            rc.fmt(pipe_pct, ".1f"), rc.fmt(ops_per_inst, ",.0f")]


def _skipped_lines(results: br.Results) -> list[str]:
    listed = results.skipped
    named = {form for form, _ in listed}
    # A form marked skipped but missing from btcbench.skipped still deserves a line.
    listed += [(f.name, "(no reason recorded)") for f in results.forms.values()
               if f.status == "skipped" and f.name not in named]
    lines = [f"- `{form}` {reason}" if reason.startswith(("wps", "ilp")) else f"- `{form}`: {reason}"
             for form, reason in listed] or ["None."]
    return lines + rc.error_lines(results)


def _xor_and_lines(results: br.Results, summaries: list[FormSummary]) -> list[str]:
    """Pairs forms whose names differ only in the xor/and token."""
    by_name = {s.form.name: s for s in summaries}
    rows = []
    for name in results.forms:
        tokens = name.split("_")
        if "xor" not in tokens:
            continue
        i = tokens.index("xor")
        and_name = "_".join(tokens[:i] + ["and"] + tokens[i + 1:])
        if and_name not in results.forms:
            continue
        xor_s, and_s = by_name.get(name), by_name.get(and_name)
        xor_tops, and_tops = _best_tops(xor_s), _best_tops(and_s)
        rows.append([f"`{'_'.join(tokens[:i] + tokens[i + 1:])}`", f"`{name}`", f"`{and_name}`",
                     _pair_cell(xor_s, xor_tops, ",.1f"), _pair_cell(and_s, and_tops, ",.1f"),
                     f"{and_tops / xor_tops:.3f}" if xor_tops and and_tops else DASH,
                     _pair_cell(xor_s, _latency_cycles(xor_s), ".1f"),
                     _pair_cell(and_s, _latency_cycles(and_s), ".1f")])
    if not rows:
        return ["No shape has both an XOR and an AND form in this file."]
    return rc.table(["Shape", "XOR form", "AND form", "XOR best TOPS", "AND best TOPS",
                   "AND/XOR", "XOR latency (cycles)", "AND latency (cycles)"], rows)


def markdown_report(results: br.Results, summaries: list[FormSummary], peak: Peak | None,
                    png_name: str, extra_sections: Sequence[rc.Section] = ()) -> str:
    """The report; extra_sections (the measurement conditions, where any) go before Skipped."""
    suspect = br.suspect_clocks(results)
    lines = [*rc.title_lines(results, SUITE),
             *_header_lines(results, peak), "",
             f"![Best throughput per instruction form]({png_name})", "",
             "## Instruction forms", "",
             *rc.table(["Form", "Group", "PTX", "Latency (cycles)",
                      "Best TOPS, median [min–max]", "Best config", "% of peak",
                      "SM clock (MHz)", "Tensor insts, CUPTI / expected (ratio)",
                      "Tensor pipe active (%)", "Ops/inst (CUPTI)"],
                     [_form_row(s, suspect) for s in summaries]), "",
             "Best config = the `tput` run with the highest median TOPS over the "
             "warps-per-SM (wps) and ILP sweep. CUPTI columns come from a separate, "
             "untimed launch of that config and use the imma pipe metrics (gmma for "
             "wgmma forms); ops/inst = `sm__ops_path_tensor_src_int1.sum` over the "
             "CUPTI instruction count."
             + (f" {rc.SUSPECT_MARK} SM clock above the GPU's maximum: see {rc.CONDITIONS_SECTION}." if suspect else ""),
             "",
             *rc.section_lines(extra_sections),
             "## Skipped", "", *_skipped_lines(results), "",
             "## XOR vs AND", "", *_xor_and_lines(results, summaries)]
    return "\n".join(lines) + "\n"


def render(results: br.Results, out_dir: str | Path | None = None, *,
           extra_sections: Sequence[rc.Section] = ()) -> tuple[Path, Path]:
    """Write <stem>.throughput.png and <stem>.md; returns their paths."""
    rc.check_suite(results, SUITE)
    out = rc.output_dir(results, out_dir)
    stem = results.path.stem
    png_path, md_path = out / f"{stem}.throughput.png", out / f"{stem}.md"
    summaries = summarise_forms(results)
    peak = b1_peak(results, summaries)
    br.write_atomic(png_path, plot_throughput(results, summaries, peak))
    br.write_atomic(md_path, markdown_report(results, summaries, peak, png_path.name, extra_sections))
    return png_path, md_path
