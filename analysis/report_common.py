"""Pieces every suite report shares: markdown cells and tables, the header
block, the Skipped section, sections contributed from outside a report, rate
spreads, and figure set-up with reproducible PNG bytes. Each <suite>_report.py
builds on this module; nothing here knows about one suite.
"""
from __future__ import annotations

import io
import shlex
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")   # headless, and the renderer whose PNG bytes are reproducible
import matplotlib.style
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from analysis import btcresults as br

DASH = "—"
# A section that another module adds to a report: (title, body lines). The
# composer hands them to a suite report, which prints them before its Skipped
# section; so a report does not import the module that writes them.
Section = tuple[str, Sequence[str]]

# CUPTI metrics several reports read. The _op_ld variants count shared-memory
# loads only (not the stores that stage a tile); files that lack them fall
# back to all shared accesses, so each is a (preferred, fallback) pair.
SHARED_WAVEFRONTS = ("cupti.l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum",
                     "cupti.l1tex__data_pipe_lsu_wavefronts_mem_shared.sum")
SHARED_CONFLICTS = ("cupti.l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum",
                    "cupti.l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum")
GLOBAL_SECTORS = "cupti.l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum"
GLOBAL_REQUESTS = "cupti.l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum"
# L2 hit rate: CUPTI's ratio metric, and the two sums hit/(hit+miss) is
# computed from where a file has them (see l2_hit).
L2_HIT = "cupti.lts__t_sector_hit_rate.pct"
L2_LOOKUP_HIT = "cupti.lts__t_sectors_lookup_hit.sum"
L2_LOOKUP_MISS = "cupti.lts__t_sectors_lookup_miss.sum"
DRAM_READ = "cupti.dram__bytes_read.sum"
DRAM_WRITE = "cupti.dram__bytes_write.sum"


# ---------------------------------------------------------------- numbers

def first(counters: Mapping[str, float], keys: Sequence[str]) -> float | None:
    """The value of the first of keys that counters holds, or None."""
    return next((counters[k] for k in keys if k in counters), None)


def ratio(num: float | None, den: float | None) -> float | None:
    """num / den, or None where either is missing or den is zero."""
    return num / den if num is not None and den else None


@dataclass(frozen=True)
class L2Hit:
    """An L2 hit rate in percent and what it was computed from."""
    pct: float
    from_sums: bool   # True: 100·hit/(hit+miss) of the two lookup sums; False: lts__t_sector_hit_rate.pct

    @property
    def over_100(self) -> bool:
        """Only the ratio metric passes 100%: hit/(hit+miss) cannot."""
        return self.pct > 100.0


def l2_hit(counters: Mapping[str, float] | None) -> L2Hit | None:
    """A run's L2 hit rate: 100·hit/(hit+miss) from lts__t_sectors_lookup_hit.sum
    and lts__t_sectors_lookup_miss.sum where the run has both (None where they
    sum to zero: no lookup to rate), else CUPTI's lts__t_sector_hit_rate.pct as
    it stands, never clamped. CUPTI 13 counts that metric's hits and sectors in
    two different replay passes, so it can pass 100% (docs/profiles/ncu-compare).
    The two sums come from different passes too, but their ratio is at most 100%."""
    if not counters:
        return None
    hit, miss = counters.get(L2_LOOKUP_HIT), counters.get(L2_LOOKUP_MISS)
    if hit is not None and miss is not None:
        return L2Hit(100.0 * hit / (hit + miss), True) if hit + miss > 0 else None
    pct = counters.get(L2_HIT)
    return None if pct is None else L2Hit(pct, False)


L2_OVER_100_MARK = "†"
L2_OVER_100_NOTE = (f"{L2_OVER_100_MARK} Above 100%: CUPTI's ratio over two passes "
                    "(`lts__t_sector_hit_rate.pct` divides the L2 lookup hits counted in one replay pass "
                    "by the sectors counted in another); shown as measured, not clamped; see "
                    "docs/profiles/ncu-compare. Files with `lts__t_sectors_lookup_hit.sum` and "
                    "`lts__t_sectors_lookup_miss.sum` give hit/(hit+miss) instead.")
L2_RATIO_TAG = "r"


class L2HitColumn:
    """The L2 hit-rate column of one table. Made from every hit rate the table
    shows (l2_hit of each run, None where there is none), so that header()
    says what the cells hold: hit/(hit+miss) from the sums, CUPTI's ratio
    metric, or both (then each ratio cell carries L2_RATIO_TAG). A ratio cell
    above 100% carries L2_OVER_100_MARK, and notes() gives the footnote that
    explains it, for the line below the table."""

    def __init__(self, hits: Iterable[L2Hit | None]):
        shown = [h for h in hits if h is not None]
        self.sums = any(h.from_sums for h in shown)
        self.ratio = any(not h.from_sums for h in shown)
        self.over_100 = any(not h.from_sums and h.over_100 for h in shown)

    def header(self, suffix: str = "") -> str:
        """'L2 hit %' with what it is: '= hit/(hit+miss)', ', CUPTI ratio metric'
        or both; plain where the table has no hit rate. suffix follows it."""
        if self.sums and self.ratio:
            what = f" = hit/(hit+miss), {L2_RATIO_TAG}: CUPTI ratio metric"
        elif self.sums:
            what = " = hit/(hit+miss)"
        elif self.ratio:
            what = ", CUPTI ratio metric"
        else:
            what = ""
        return f"L2 hit %{what}{suffix}"

    def cell(self, hit: L2Hit | None, spec: str = ".1f") -> str:
        if hit is None:
            return DASH
        text = format(hit.pct, spec)
        if not hit.from_sums:
            if self.sums:
                text += f" {L2_RATIO_TAG}"
            if hit.over_100:
                text += L2_OVER_100_MARK
        return text

    def notes(self) -> list[str]:
        """['', footnote] where a ratio cell passes 100%, else []."""
        return ["", L2_OVER_100_NOTE] if self.over_100 else []


def dram_bytes(run: br.RunSummary | None) -> float | None:
    """CUPTI DRAM bytes read + written by a run (its counters come from a
    separate, untimed launch); None without both counters."""
    if run is None:
        return None
    read, written = run.counter(DRAM_READ), run.counter(DRAM_WRITE)
    return read + written if read is not None and written is not None else None


def spread(value: float, run: br.RunSummary) -> tuple[float, float, float]:
    """(min, median, max) of a rate whose median is value. Rates scale as
    1/time, so the slowest repetition (max time) gives the lowest rate."""
    return (value * run.median_time / run.max_time, value,
            value * run.median_time / run.min_time)


# ---------------------------------------------------------------- markdown

def fmt(value: float | None, spec: str) -> str:
    return DASH if value is None else format(value, spec)


def rate_cell(rate_spread: tuple[float, float, float] | None, spec: str = ",.1f") -> str:
    """'median [min–max]' of a (min, median, max) spread; DASH for None."""
    if rate_spread is None:
        return DASH
    lo, median, hi = rate_spread
    return f"{format(median, spec)} [{format(lo, spec)}–{format(hi, spec)}]"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A markdown table; '|' and newlines inside cells are escaped."""
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def cuda_version(api: object) -> str:
    # CUDA encodes versions as 1000*major + 10*minor.
    if not isinstance(api, int):
        return DASH
    return f"{api // 1000}.{api % 1000 // 10}"


def short_commit(results: br.Results) -> str:
    git = results.meta.get("git") or {}
    commit = str(git.get("commit") or "unknown")[:7]
    return commit + ("-dirty" if git.get("dirty") else "")


def title_lines(results: br.Results, suite: str) -> list[str]:
    """The report's heading and source line, each followed by a blank line."""
    return [f"# btcbench {suite}: {results.device['name']}", "",
            f"Source: `{results.path.name}`", ""]


def header_lines(results: br.Results, *, detailed: bool = True,
                 extra: Sequence[tuple[str, object]] = ()) -> list[str]:
    """The '- **Key:** value' block under a report's title, then extra fields.

    detailed=False gives the instr report's shorter block, kept as it was so
    its committed reports regenerate unchanged: no L2, CUDA driver API or
    toolkit lines, counters 'enabled'/'disabled' rather than 'on'/'off', and
    a dirty tree is only marked beside a `git describe`."""
    dev, meta = results.device, results.meta
    git = meta.get("git") or {}
    build = meta.get("build") or {}
    counters = meta.get("counters") or {}
    on, off = ("on", "off") if detailed else ("enabled", "disabled")
    if counters.get("enabled"):
        counters_text = f"{on} ({len(counters.get('metrics') or [])} metrics)"
    else:
        counters_text = f"{off}: {counters.get('reason') or 'no reason given'}"
    commit = f"`{git.get('commit', 'unknown')}`"
    if git.get("describe"):
        commit += f" ({git['describe']}{', dirty' if git.get('dirty') else ''})"
    elif git.get("dirty") and detailed:
        commit += " (dirty)"
    l2 = dev.get("l2_bytes")
    fields: list[tuple[str, object] | None] = [
        ("Device", f"{dev['name']} (`{dev['slug']}`)"),
        ("Compute capability", dev.get("cc", DASH)),
        ("SMs", dev.get("sm_count", DASH)),
        ("L2", f"{l2 / 2**20:g} MiB" if isinstance(l2, (int, float)) else DASH) if detailed else None,
        ("Driver", dev.get("driver_version", DASH)),
        ("CUDA runtime", cuda_version(dev.get("cuda_runtime"))),
        ("CUDA driver API", cuda_version(dev.get("cuda_driver_api"))) if detailed else None,
        ("CUDA toolkit (build)", build.get("cuda_toolkit") or DASH) if detailed else None,
        ("CUPTI chip", dev.get("chip") or DASH),
        ("Git commit", commit),
        ("Created (UTC)", meta.get("created_utc", DASH)),
        ("Command line", f"`{shlex.join(map(str, meta.get('command_line') or []))}`"),
        ("Counters", counters_text),
        _launch_field(meta.get("launch")),
        *extra,
    ]
    stop = meta.get("stopped_early")
    if isinstance(stop, dict):  # the sweep ended before its last benchmark: what ran is here, the rest is not
        fields.append(("Stopped early", f"after {stop.get('after_s', 0):.0f} s ({stop.get('reason', 'no reason given')}): "
                                        "only the benchmarks that finished before it are in this file"))
    return [f"- **{key}:** {value}" for key, value in filter(None, fields)]


def _launch_field(launch: object) -> tuple[str, object] | None:
    """btcbench.launch (files since 2026-12-04): whether kernels launched as
    programmatic dependents (sm_90; BTC_NO_PDL turns it off); None before."""
    if not isinstance(launch, dict):
        return None
    on = launch.get("programmatic_dependent")
    return ("Programmatic dependent launch", "on" if on else f"off: {launch.get('reason') or 'no reason given'}")


def error_lines(results: br.Results) -> list[str]:
    """Lines naming the runs that reported an error; none if no run did."""
    errors = br.errored_runs(results)
    if not errors:
        return []
    return ["", "Runs that reported an error:", "",
            *(f"- `{run}`: {message}" for run, message in errors.items())]


def skipped_lines(results: br.Results) -> list[str]:
    """The Skipped section: btcbench.skipped (with the config, if any), forms
    marked skipped that it does not list, then the runs that reported an error."""
    lines = []
    for entry in results.meta.get("skipped") or []:
        if not isinstance(entry, dict):
            continue
        config = f" `{entry['config']}`" if entry.get("config") else ""
        lines.append(f"- `{entry.get('form', '?')}`{config}: {entry.get('reason') or '(no reason recorded)'}")
    named = {str(e.get("form")) for e in results.meta.get("skipped") or [] if isinstance(e, dict)}
    # A form marked skipped but missing from btcbench.skipped still deserves a line.
    lines += [f"- `{name}`: (no reason recorded)" for name, f in results.meta["forms"].items()
              if f.get("status") == "skipped" and name not in named]
    errors = error_lines(results)
    if not lines:   # "None." only when no run reported an error either
        return errors[1:] if errors else ["None."]
    return lines + errors


CONDITIONS_SECTION = "Measurement conditions"
SUSPECT_MARK = "†"   # beside a clock (or a figure built on it) that reads above the GPU's maximum


def _run_list(runs: Mapping[str, str], limit: int = 12) -> list[str]:
    lines = [f"- `{run}`: {what}" for run, what in list(runs.items())[:limit]]
    if len(runs) > limit:
        lines.append(f"- ... and {len(runs) - limit} more")
    return lines


def conditions_section(results: br.Results) -> Section | None:
    """A section on what the GPU did while the runs ran: in-kernel SM clocks
    above the GPU's maximum (the measurement is off, and so is every per-clock
    figure of that run) and runs sampled while the GPU throttled; None when
    neither happened."""
    suspect = br.suspect_clocks(results)
    throttled = br.throttled_runs(results)
    if not suspect and not throttled:
        return None
    body: list[str] = []
    if suspect:
        max_mhz = results.device.get("sm_clock_max_mhz")
        body += [f"{SUSPECT_MARK} The SM clock measured inside the kernel (clock64 over %globaltimer) reads "
                 f"above the GPU's maximum of {max_mhz} MHz (by more than "
                 f"{br.SUSPECT_CLOCK_SLACK:.0%}) in {len(suspect)} run(s): the clock measurement is off, so "
                 "figures per SM clock (ops/clock/SM, % of peak) of these runs are suspect; times are not "
                 "affected.", "",
                 *_run_list({run: f"{mhz:,.0f} MHz" for run, mhz in suspect.items()}), ""]
    if throttled:
        body += [f"NVML reported throttling while {len(throttled)} run(s) ran (clock-event reasons after "
                 "their timed launches): their times may be slow for that reason, not the code's.", "",
                 *_run_list(throttled), ""]
    return CONDITIONS_SECTION, body[:-1]


def measured_dram_bandwidth(results: br.Results) -> float | None:
    """The DRAM copy bandwidth the sweep measured on its GPU
    (btcbench.peaks.dram_copy_bytes_per_s, bytes/s), None if it has none."""
    value = (results.meta.get("peaks") or {}).get("dram_copy_bytes_per_s")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def measured_dram_bandwidth_text(results: br.Results) -> str:
    """How the header states a measured DRAM bandwidth (the file must have one)."""
    peaks = results.meta.get("peaks") or {}
    bw = measured_dram_bandwidth(results)
    if bw is None:
        raise ValueError(f"{results.path}: no measured DRAM bandwidth (btcbench.peaks.dram_copy_bytes_per_s)")
    size, reps = peaks.get("dram_copy_buffer_bytes"), peaks.get("dram_copy_repetitions")
    how = "device-to-device cudaMemcpyAsync"
    if isinstance(size, (int, float)):
        how += f" of 2 × {size / 2**20:,.0f} MiB"
    if isinstance(reps, (int, float)):
        how += f", median of {int(reps)}"
    return f"{bw / 1e12:,.3g} TB/s measured ({how}; bytes read + written)"


def counters_off_text(results: br.Results) -> str:
    """Why a counter panel or column is empty."""
    counters = results.meta.get("counters") or {}
    if counters.get("enabled"):
        return "no CUPTI counters for these runs"
    return f"CUPTI counters off: {counters.get('reason') or 'no reason given'}"


# ---------------------------------------------------------------- figures

@contextmanager
def figure(figsize: tuple[float, float]) -> Iterator[Figure]:
    """A 100-dpi Agg figure drawn under the 'default' style, which ignores any
    local matplotlibrc, so every machine draws the same picture."""
    with matplotlib.style.context("default"):
        fig = Figure(figsize=figsize, dpi=100)
        FigureCanvasAgg(fig)
        yield fig


def png_bytes(fig: Figure, tight: bool = True) -> bytes:
    """The figure as PNG bytes; tight=False keeps the figure's own layout
    engine (a constrained layout, which places shared colorbars)."""
    if tight:
        fig.tight_layout()
    buf = io.BytesIO()
    # No Software tag: the bytes must not depend on the matplotlib build.
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def plot_title(results: br.Results, suite: str, what: str) -> str:
    return f"{results.device['name']}: {what}\nbtcbench {suite}, git {short_commit(results)}"


def no_data(ax: Any, text: str, **kwargs: Any) -> None:
    """Centred text in an axes that has nothing to draw."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, **kwargs)


# ---------------------------------------------------------------- render

def check_suite(results: br.Results, suite: str) -> None:
    if results.suite != suite:
        raise br.ResultsError(f"{results.path}: suite is {results.suite!r}, not {suite!r}")


def output_dir(results: br.Results, out_dir: str | Path | None) -> Path:
    """out_dir (created if need be), or the results file's directory."""
    out = Path(out_dir) if out_dir is not None else results.path.parent
    out.mkdir(parents=True, exist_ok=True)
    return out


def section_lines(sections: Sequence[Section]) -> list[str]:
    """Each section as '## title', its body, and a blank line after each part."""
    lines: list[str] = []
    for title, body in sections:
        lines += [f"## {title}", "", *body, ""]
    return lines


# ---------------------------------------------------------------- design runs

TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


@dataclass(frozen=True)
class Design:
    """A production design as a suite's results file lists it (btcbench.forms)."""
    name: str
    family: str
    tensor_core: bool
    status: str               # measured | skipped
    meta: dict[str, Any]      # the raw btcbench.forms entry


@dataclass(frozen=True)
class DesignRun:
    """One design on one problem with one output: its run, or why there is
    none. Each suite's report subclasses it with its own figures."""
    design: Design
    problem: Any              # the suite's problem (with `.ops`)
    out: str
    run: br.RunSummary | None
    skip_reason: str | None   # a skip of this config or of the whole design

    @property
    def time_s(self) -> float | None:
        if self.run is None or self.run.time_unit not in TIME_UNITS:
            return None
        return self.run.median_time * TIME_UNITS[self.run.time_unit]

    @property
    def tops(self) -> float | None:
        """Median TOPS (the problem's ops over the time): the run's counter, else from its time."""
        if self.run is None:
            return None
        tops = self.run.counter("tops")
        if tops is None and self.time_s:
            tops = self.problem.ops / self.time_s / 1e12
        return tops if tops is not None and tops > 0 else None

    def tops_spread(self) -> tuple[float, float, float] | None:
        return spread(self.tops, self.run) if self.tops is not None and self.run else None

    @property
    def graph_time_s(self) -> float | None:
        """Per launch, from CUDA-graph replays (the suites time small points so, without launch gaps)."""
        us = self.run.counter("graph_time_per_run_us") if self.run else None
        return us * 1e-6 if us else None

    @property
    def l2_hit(self) -> L2Hit | None:
        """The run's L2 hit rate (l2_hit): hit/(hit+miss) where it has the sums."""
        return l2_hit(self.run.counters) if self.run else None


def collect_design_runs(results: br.Results, parse_name: Callable[[str], Any],
                        config_point: Callable[[str], tuple[Any, str] | None], outputs: Sequence[str],
                        run_type: type) -> tuple[list[Design], list[Any], dict[tuple[str, Any, str], Any]]:
    """A suite file's designs (btcbench.forms order), problems (runs first,
    then those only skips name, in file order) and a `run_type` per (design,
    problem, output): the median run, or the reason there is none.
    parse_name(run_name) has .design, .problem, .out and raises ValueError
    off the suite's grammar (a ResultsError here); config_point(config) is
    (problem, out) or None."""
    runs: dict[tuple[str, Any, str], br.RunSummary] = {}
    problems: dict[Any, None] = {}
    for run in br.medians(results):
        try:
            name = parse_name(run.run_name)
        except ValueError as e:
            raise br.ResultsError(f"{results.path}: {e}") from None
        runs[(name.design, name.problem, name.out)] = run
        problems[name.problem] = None
    config_skips: dict[tuple[str, Any, str], str] = {}
    form_skips: dict[str, str] = {}
    for entry in results.meta.get("skipped") or []:
        if not isinstance(entry, dict):
            continue
        reason = str(entry.get("reason") or "(no reason recorded)")
        if entry.get("config"):
            point = config_point(str(entry["config"]))
            if point is not None:
                config_skips[(str(entry.get("form")), *point)] = reason
                problems[point[0]] = None
        else:
            form_skips[str(entry.get("form"))] = reason
    designs = [Design(name, str(f.get("family") or ""), bool(f.get("tensor_core")), str(f.get("status")), f)
               for name, f in results.meta["forms"].items()]
    table: dict[tuple[str, Any, str], Any] = {}
    for d in designs:
        whole = form_skips.get(d.name) or ("skipped" if d.status == "skipped" else None)
        for p in problems:
            for out in outputs:
                key = (d.name, p, out)
                table[key] = run_type(d, p, out, runs.get(key), config_skips.get(key) or whole)
    return designs, list(problems), table


def design_colours(designs: Sequence[Design], named: Mapping[str, str], spare: Sequence[str]) -> dict[str, str]:
    """A colour per design: its own where `named` has one, else the next spare."""
    left = iter(tuple(spare) * (1 + len(designs)))
    return {d.name: named.get(d.name) or next(left) for d in designs}


def log_y(ax: Any, fmt: Any) -> None:
    """A log y axis labelled at 1, 2 and 5 times each power of ten."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(fmt))
    ax.yaxis.set_minor_formatter(NullFormatter())
