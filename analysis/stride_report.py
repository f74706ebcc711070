"""Report for the 'stride' suite: fragment-load throughput against the row
stride ldm (<stem>.stride_gbps.png), per-load memory counters against ldm
(<stem>.stride_counters.png) and a markdown report (<stem>.md).

Written through analysis.report (python3 -m analysis.report RESULTS.json),
which adds the paper's section (analysis.paper_tcbnn).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

from analysis import btcresults as br
from analysis import report_common as rc
from analysis.report_common import DASH

SUITE = "stride"
MODES = ("load", "mma")
MODE_STYLES = {"load": "-", "mma": "--"}
PATH_COLOURS = {"wmma_global": "tab:blue", "wmma_shared": "tab:orange",
                "mma_global": "tab:green", "mma_shared": "tab:red",
                "ldmatrix_shared": "tab:purple"}
_SPARE_COLOURS = ("tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan")
# A series is "starved" at an ldm where it delivers less than this fraction
# of its own best (same path, same mode).
STARVED_FRACTION = 0.5

# Short names of the global-load counters load_ratios reads.
_SECTORS = rc.GLOBAL_SECTORS
_REQUESTS = rc.GLOBAL_REQUESTS
_DRAM = rc.DRAM_READ


@dataclass(frozen=True)
class StrideName:
    path: str
    mode: str   # one of MODES
    ldm: int    # row stride in bits


def parse_stride_name(name: str) -> StrideName:
    """Parse 'stride/<path>/mode:<mode>/ldm:<bits>/manual_time'; ValueError if off-grammar."""
    try:
        bench = br.parse_generic_name(name)
    except ValueError:
        bench = None
    ldm = bench.param("ldm") if bench else None
    if (bench is None or bench.kind != SUITE or bench.keys != ("mode", "ldm")
            or bench.param("mode") not in MODES or ldm is None
            or not ldm.isdigit() or int(ldm) <= 0):
        raise ValueError(f"benchmark name {name!r} does not match "
                         f"'stride/<path>/mode:load|mma/ldm:<bits>/manual_time'")
    return StrideName(bench.form, str(bench.param("mode")), int(ldm))


@dataclass(frozen=True)
class LoadRatios:
    """Per-load ratios of one run. CUPTI counts one launch and tile_loads is
    per launch too, so dividing one by the other gives per-fragment figures."""
    sectors_per_request: float | None
    sectors_per_tile: float | None
    wavefronts_per_tile: float | None
    conflicts_per_tile: float | None
    l2_hit: rc.L2Hit | None                # hit/(hit+miss) where the run has the sums (rc.l2_hit)
    dram_per_useful_byte: float | None


def load_ratios(counters: Mapping[str, float]) -> LoadRatios:
    """None for every ratio whose counters are absent or whose denominator is zero."""
    tiles = counters.get("tile_loads")
    tile_bytes = counters.get("tile_bytes")
    useful = tiles * tile_bytes if tiles is not None and tile_bytes is not None else None
    sectors = counters.get(_SECTORS)
    return LoadRatios(
        sectors_per_request=rc.ratio(sectors, counters.get(_REQUESTS)),
        sectors_per_tile=rc.ratio(sectors, tiles),
        wavefronts_per_tile=rc.ratio(rc.first(counters, rc.SHARED_WAVEFRONTS), tiles),
        conflicts_per_tile=rc.ratio(rc.first(counters, rc.SHARED_CONFLICTS), tiles),
        l2_hit=rc.l2_hit(counters),
        dram_per_useful_byte=rc.ratio(counters.get(_DRAM), useful),
    )


@dataclass(frozen=True)
class Point:
    """One stride run: a path, a mode and an ldm, reduced to its median."""
    name: StrideName
    run: br.RunSummary

    @property
    def ldm(self) -> int:
        return self.name.ldm

    @property
    def gbps(self) -> float | None:
        return self.run.counter("useful_gbps")

    @property
    def tops(self) -> float | None:
        return self.run.counter("tops")

    def gbps_spread(self) -> tuple[float, float, float] | None:
        """(min, median, max) useful GB/s over the repetitions."""
        return rc.spread(self.gbps, self.run) if self.gbps is not None else None

    def tops_spread(self) -> tuple[float, float, float] | None:
        return rc.spread(self.tops, self.run) if self.tops is not None else None

    @property
    def ratios(self) -> LoadRatios:
        return load_ratios(self.run.counters)


@dataclass(frozen=True)
class PathData:
    name: str
    form: dict[str, Any]                 # the raw btcbench.forms entry
    series: dict[str, list[Point]]       # mode -> points by ascending ldm
    skipped: dict[tuple[str, int], str]  # (mode, ldm) -> reason, from btcbench.skipped

    @property
    def space(self) -> str:
        """'global' | 'shared' (from the form, else from the name's suffix) | ''."""
        space = self.form.get("space")
        if space in ("global", "shared"):
            return str(space)
        return next((s for s in ("global", "shared") if self.name.endswith("_" + s)), "")

    @property
    def contiguous_ldm(self) -> int | None:
        """The ldm at which each tile is contiguous: the tile's width in bits."""
        bits = self.form.get("tile_k_bits")
        return bits if isinstance(bits, int) and not isinstance(bits, bool) and bits > 0 else None

    @property
    def ldms(self) -> list[int]:
        """Every ldm measured or skipped in either mode, ascending."""
        return sorted({p.ldm for pts in self.series.values() for p in pts}
                      | {ldm for _, ldm in self.skipped})

    def point(self, mode: str, ldm: int) -> Point | None:
        return next((p for p in self.series.get(mode, []) if p.ldm == ldm), None)

    def rated(self, mode: str) -> list[Point]:
        """Points of one mode with a positive useful GB/s, by ascending ldm."""
        return [p for p in self.series.get(mode, []) if p.gbps is not None and p.gbps > 0]


def _parse_config(config: str) -> tuple[str, int] | None:
    """'mode:load/ldm:128' -> ('load', 128); None for other configs."""
    parts = dict(p.split(":", 1) for p in config.split("/") if ":" in p)
    ldm = parts.get("ldm", "")
    if parts.get("mode") in MODES and ldm.isdigit():
        return parts["mode"], int(ldm)
    return None


def collect(results: br.Results) -> list[PathData]:
    """Paths in btcbench.forms order (measured ones, and skipped ones that
    still have runs); ResultsError for a run name off the stride grammar."""
    rc.check_suite(results, SUITE)
    points: dict[str, dict[str, list[Point]]] = {}
    for run in br.medians(results):
        try:
            name = parse_stride_name(run.run_name)
        except ValueError as e:
            raise br.ResultsError(f"{results.path}: {e}") from None
        points.setdefault(name.path, {}).setdefault(name.mode, []).append(Point(name, run))
    skips: dict[str, dict[tuple[str, int], str]] = {}
    for entry in results.meta.get("skipped") or []:
        if isinstance(entry, dict) and isinstance(entry.get("config"), str):
            config = _parse_config(entry["config"])
            if config is not None:
                skips.setdefault(str(entry.get("form")), {})[config] = str(entry.get("reason", ""))
    paths = []
    for name, form in results.meta["forms"].items():
        if form.get("status") != "measured" and name not in points:
            continue
        series = {mode: sorted(points.get(name, {}).get(mode, []), key=lambda p: p.ldm)
                  for mode in MODES if mode in points.get(name, {})}
        paths.append(PathData(name, form, series, skips.get(name, {})))
    return paths


@dataclass(frozen=True)
class Regime:
    """Where one series (path, mode) is fast and where it is starved."""
    path: str
    mode: str
    best: Point
    worst: Point
    starved_from: Point | None   # smallest ldm below STARVED_FRACTION of best
    recovers_at: Point | None    # a larger ldm back at or above it, if any

    @property
    def ratio(self) -> float:
        return self.best.gbps / self.worst.gbps

    @property
    def lowest_fraction(self) -> float:
        return self.worst.gbps / self.best.gbps


def regime(path: str, mode: str, points: list[Point]) -> Regime | None:
    """Best (ties: smallest ldm) and worst (ties: largest ldm) of a series;
    None if no point has a positive GB/s."""
    rated = sorted((p for p in points if p.gbps is not None and p.gbps > 0), key=lambda p: p.ldm)
    if not rated:
        return None
    best = max(rated, key=lambda p: (p.gbps, -p.ldm))
    worst = min(rated, key=lambda p: (p.gbps, -p.ldm))
    threshold = STARVED_FRACTION * best.gbps
    starved = next((p for p in rated if p.gbps < threshold), None)
    recovers = None
    if starved is not None:
        recovers = next((p for p in rated if p.ldm > starved.ldm and p.gbps >= threshold), None)
    return Regime(path, mode, best, worst, starved, recovers)


def regimes(paths: list[PathData]) -> list[Regime]:
    """One regime per path and mode that has data, in path order then MODES order."""
    out = []
    for p in paths:
        for mode in MODES:
            r = regime(p.name, mode, p.series.get(mode, []))
            if r is not None:
                out.append(r)
    return out


# ---------------------------------------------------------------- plots

def _colours(paths: list[PathData]) -> dict[str, str]:
    spare = iter(_SPARE_COLOURS * (1 + len(paths)))
    return {p.name: PATH_COLOURS.get(p.name) or next(spare) for p in paths}


def ldm_label(bits: int) -> str:
    """Tick label in bits: '128', '1152', '1K', '64K'."""
    return f"{bits // 1024}K" if bits >= 1024 and bits % 1024 == 0 else str(bits)


def _ldm_axis(ax: Any, ldms: list[int], label: bool = True) -> None:
    ax.set_xscale("log", base=2)
    # Slanted labels: neighbours such as 1K and 1152 sit close on a log axis.
    ax.set_xticks(ldms, [ldm_label(b) for b in ldms], rotation=45, ha="right",
                  rotation_mode="anchor", fontsize=8)
    ax.xaxis.set_minor_locator(NullLocator())
    if ldms:
        ax.set_xlim(min(ldms) / 1.25, max(ldms) * 1.25)
    if label:
        ax.set_xlabel("ldm, the matrix row stride in bits (1K = 1024 bits)")


def _title(results: br.Results, what: str) -> str:
    return rc.plot_title(results, SUITE, what)


def _no_data(ax: Any, text: str) -> None:
    rc.no_data(ax, text, fontsize=9)


def plot_gbps(results: br.Results, paths: list[PathData]) -> bytes:
    """PNG bytes: useful GB/s against ldm, a line per path and mode, min–max band."""
    colours = _colours(paths)
    ldms = sorted({p.ldm for path in paths for pts in path.series.values() for p in pts})
    with rc.figure((10.0, 6.0)) as fig:
        ax = fig.add_subplot()
        handles: list[Line2D] = []
        for path in paths:
            drawn = False
            for mode in MODES:
                pts = path.rated(mode)
                if not pts:
                    continue
                spreads = [p.gbps_spread() for p in pts]
                xs = [p.ldm for p in pts]
                ax.fill_between(xs, [s[0] for s in spreads], [s[2] for s in spreads],
                                color=colours[path.name], alpha=0.15, linewidth=0)
                ax.plot(xs, [s[1] for s in spreads], linestyle=MODE_STYLES[mode],
                        color=colours[path.name], marker="o", markersize=3.5, linewidth=1.5)
                drawn = True
            if drawn:
                handles.append(Line2D([], [], color=colours[path.name], linewidth=2,
                                      label=path.name))
        if handles:
            handles += [Line2D([], [], color="black", linestyle=MODE_STYLES[m],
                               label=f"mode {m}") for m in MODES]
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            # Outside the axes, so it never hides a line.
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        else:
            _no_data(ax, "no stride runs with a useful GB/s in this file")
        _ldm_axis(ax, ldms)
        ax.set_ylabel("useful GB/s (fragment bytes / time; median, band min–max)")
        ax.set_title(_title(results, "fragment-load throughput against row stride"), fontsize=10)
        ax.grid(which="major", alpha=0.3)
        ax.set_axisbelow(True)
        return rc.png_bytes(fig)


def plot_counters(results: br.Results, paths: list[PathData]) -> bytes:
    """PNG bytes: per-load counters of the load-mode runs against ldm, in
    three panels (global sectors, shared wavefronts and conflicts, DRAM)."""
    colours = _colours(paths)
    ldms = sorted({p.ldm for path in paths for pts in path.series.values() for p in pts})
    # (title, space, y label, [(LoadRatios attribute, line style, marker, legend label)])
    panels = [
        ("Global loads: L1 sectors", "global", "sectors",
         [("sectors_per_request", "-", "o", "sectors / request"),
          ("sectors_per_tile", ":", "s", "sectors / tile")]),
        ("Shared loads: wavefronts and bank conflicts", "shared", "per tile",
         [("wavefronts_per_tile", "-", "o", "wavefronts / tile"),
          ("conflicts_per_tile", "--", "s", "bank conflicts / tile")]),
        ("Global loads: DRAM traffic", "global", "DRAM B / useful B",
         [("dram_per_useful_byte", "-", "o", "DRAM bytes / useful byte")]),
    ]
    with rc.figure((10.0, 11.0)) as fig:
        axes = fig.subplots(len(panels), 1, sharex=True)
        for i, (ax, (title, space, ylabel, measures)) in enumerate(zip(axes, panels)):
            handles: list[Line2D] = []
            for path in paths:
                if path.space != space:
                    continue
                pts = path.series.get("load", [])
                drawn = False
                for attr, style, marker, _ in measures:
                    xy = [(p.ldm, getattr(p.ratios, attr)) for p in pts]
                    xy = [(x, y) for x, y in xy if y is not None]
                    if xy:
                        ax.plot([x for x, _ in xy], [y for _, y in xy], linestyle=style,
                                color=colours[path.name], marker=marker, markersize=4,
                                markerfacecolor="none" if marker == "s" else colours[path.name])
                        drawn = True
                if drawn:
                    handles.append(Line2D([], [], color=colours[path.name], linewidth=2,
                                          label=path.name))
            if handles:
                handles += [Line2D([], [], color="black", linestyle=style, marker=marker,
                                   markerfacecolor="none" if marker == "s" else "black", label=label)
                            for _, style, marker, label in measures]
                ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
                ax.set_ylim(bottom=0)
            elif any(p.space == space for p in paths):
                _no_data(ax, rc.counters_off_text(results))
            else:
                _no_data(ax, f"no {space}-memory path in this file")
            ax.set_title(title, fontsize=9)
            ax.set_ylabel(ylabel, fontsize=9)
            ax.grid(alpha=0.3)
            ax.set_axisbelow(True)
            _ldm_axis(ax, ldms, label=i == len(panels) - 1)
        fig.suptitle(_title(results, "per-load memory counters of the load-mode runs"), fontsize=10)
        return rc.png_bytes(fig)


# ---------------------------------------------------------------- markdown

def _paths_table(paths: list[PathData]) -> list[str]:
    rows = []
    for p in paths:
        f = p.form
        tile = (f"{f['rows']} × {f['tile_k_bits']} bits"
                if isinstance(f.get("rows"), int) and isinstance(f.get("tile_k_bits"), int) else DASH)
        rows.append([f"`{p.name}`", f.get("loader", DASH), p.space or DASH, tile,
                     f.get("tile_bytes", DASH), f.get("min_sm", DASH), f.get("status", DASH)])
    if not rows:
        return ["No load path was measured."]
    return rc.table(["Path", "Loader", "Space", "Tile", "Tile bytes", "Min SM", "Status"], rows)


PATH_TABLE_HEADER = ["ldm (bits)", "load GB/s, median [min–max]", "mma GB/s, median [min–max]",
                     "mma TOPS", "sectors/request", "sectors/tile", "wavefronts/tile",
                     "conflicts/tile", "L2 hit %", "DRAM B per useful B"]


def _path_l2(path: PathData) -> rc.L2HitColumn:
    """The L2 column of a path's table: the hit rates of its load-mode runs."""
    return rc.L2HitColumn(p.ratios.l2_hit for p in path.series.get("load", []))


def _path_rows(path: PathData, l2: rc.L2HitColumn) -> list[list[object]]:
    rows: list[list[object]] = []
    for ldm in path.ldms:
        load, mma = path.point("load", ldm), path.point("mma", ldm)

        def rate(mode: str, point: Point | None) -> str:
            if point is None:
                return "skipped" if (mode, ldm) in path.skipped else DASH
            return rc.rate_cell(point.gbps_spread())
        mma_tops = DASH if mma is None else rc.fmt(mma.tops, ",.1f")
        r = load.ratios if load is not None else None
        rows.append([ldm, rate("load", load), rate("mma", mma), mma_tops,
                     rc.fmt(r and r.sectors_per_request, ".2f"), rc.fmt(r and r.sectors_per_tile, ".2f"),
                     rc.fmt(r and r.wavefronts_per_tile, ".2f"), rc.fmt(r and r.conflicts_per_tile, ".2f"),
                     l2.cell(r and r.l2_hit), rc.fmt(r and r.dram_per_useful_byte, ".2f")])
    return rows


def _path_section(path: PathData) -> list[str]:
    f = path.form
    what = f"{f.get('loader', '?')} loads of a {f.get('rows', '?')} × {f.get('tile_k_bits', '?')}-bit " \
           f"tile ({f.get('tile_bytes', '?')} B) from {path.space or '?'} memory"
    lines = [f"### `{path.name}`", "", what + ".", ""]
    l2 = _path_l2(path)
    rows = _path_rows(path, l2)
    if not rows:
        return lines + ["No runs."]
    header = [l2.header() if h == "L2 hit %" else h for h in PATH_TABLE_HEADER]
    return lines + rc.table(header, rows) + l2.notes()


def _gbps(point: Point) -> str:
    return f"{point.gbps:,.1f} GB/s"


def regime_line(r: Regime) -> str:
    """One sentence per series: best, worst, ratio, and where it is starved."""
    text = (f"- `{r.path}` {r.mode}: best ldm = {r.best.ldm} bits ({_gbps(r.best)}), "
            f"worst ldm = {r.worst.ldm} bits ({_gbps(r.worst)}), best/worst = {r.ratio:.2f}×; ")
    if r.starved_from is None:
        text += (f"never below {STARVED_FRACTION:.0%} of best "
                 f"(lowest {r.lowest_fraction:.1%} at ldm = {r.worst.ldm} bits).")
    else:
        s = r.starved_from
        text += (f"starved from ldm = {s.ldm} bits ({_gbps(s)}, "
                 f"{s.gbps / r.best.gbps:.1%} of best)")
        if r.recovers_at is not None:
            text += (f", back above {STARVED_FRACTION:.0%} at ldm = {r.recovers_at.ldm} bits "
                     f"({_gbps(r.recovers_at)})")
        text += "."
    return text


def _regime_lines(paths: list[PathData]) -> list[str]:
    lines = [regime_line(r) for r in regimes(paths)]
    if not lines:
        return ["No series with a useful GB/s in this file."]
    return [f"Per path and mode, from the median useful GB/s. \"Starved from\" is the smallest "
            f"ldm whose throughput is below {STARVED_FRACTION:.0%} of the best of the same "
            f"path and mode.", "", *lines]


def markdown_report(results: br.Results, paths: list[PathData], gbps_png: str, counters_png: str,
                    extra_sections: Sequence[rc.Section] = ()) -> str:
    """The report; extra_sections (the paper's, from the composer) go before Skipped."""
    lines = [*rc.title_lines(results, SUITE),
             *rc.header_lines(results), "",
             f"![Useful fragment-load GB/s against ldm]({gbps_png})", "",
             f"![Per-load memory counters against ldm]({counters_png})", "",
             "## Load paths", "", *_paths_table(paths), "",
             "## Throughput and counters per path", "",
             "GB/s = fragment bytes delivered per second (median over repetitions, "
             "[slowest–fastest]); TOPS = 2·M·N·K of the MMA each fragment feeds, per second. "
             "Counter columns come from the CUPTI launch of the load-mode run: sectors/request = "
             "global L1 sectors / requests; sectors/tile, wavefronts/tile and conflicts/tile = "
             "the counter / tile loads of that launch; DRAM B per useful B = DRAM bytes read / "
             "(tile loads × tile bytes). For shared paths the global columns count the copy "
             "that stages the row band.", ""]
    for path in paths:
        lines += [*_path_section(path), ""]
    lines += ["## Stride regimes", "", *_regime_lines(paths), "",
              *rc.section_lines(extra_sections),
              "## Skipped", "", *rc.skipped_lines(results)]
    return "\n".join(lines) + "\n"


def render(results: br.Results, out_dir: str | Path | None = None, *,
           extra_sections: Sequence[rc.Section] = ()) -> list[Path]:
    """Write <stem>.stride_gbps.png, <stem>.stride_counters.png and <stem>.md;
    returns their paths in that order."""
    paths = collect(results)   # checks the suite before anything is written
    out = rc.output_dir(results, out_dir)
    stem = results.path.stem
    gbps_path = out / f"{stem}.stride_gbps.png"
    counters_path = out / f"{stem}.stride_counters.png"
    md_path = out / f"{stem}.md"
    markdown = markdown_report(results, paths, gbps_path.name, counters_path.name, extra_sections)
    br.write_atomic(gbps_path, plot_gbps(results, paths))
    br.write_atomic(counters_path, plot_counters(results, paths))
    br.write_atomic(md_path, markdown)
    return [gbps_path, counters_path, md_path]
