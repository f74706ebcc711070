"""btcbench's CUPTI counters beside Nsight Compute (ncu), from the folder
scripts/ncu_compare.sh writes:

    scripts/ncu_compare.sh build OUT          # on the GPU machine
    python3 -m analysis.ncu_compare OUT [--out FILE.md]

For every case (a benchmark and the kernels its counter range launches) and
cache control (all, none): each metric's btcbench value, ncu's, their
relative difference and whether they agree within 1%. Sums must agree; other
metrics carry the reason they may not (docs/profiles/ncu-compare/README.md).
ncu's launches are folded into btcbench's one range: sums add, elapsed cycles
add (a lower bound: the range also holds the gaps), a ratio of several kernels
cannot be folded. Where the loop count was calibrated per process (`iters`),
ncu's counts are scaled to btcbench's. The probe rows recompute the L2 hit
rate from its counters. Writes FILE.md (default OUT/ncu-compare.md) and a
JSON summary beside it (same name, .json).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from analysis import btcresults as br
from analysis.report_common import DASH, table

SCHEMA = "btcbench.ncu_compare.v1"
AGREE_REL = 0.01                    # the issue's bar for sums
MANIFEST = "manifest.tsv"
ENVIRONMENT = "environment.txt"
MANIFEST_COLUMNS = ("kind", "case", "suite", "benchmark", "kernels", "launch_skip", "launch_count",
                    "cache_control", "btcbench_json", "ncu_csv", "ncu_app_json")
KINDS = ("main", "probe")
CACHE_MODES = ("all", "none")
HIT_RATE = "lts__t_sector_hit_rate.pct"
HIT, MISS, SECTORS = "lts__t_sectors_lookup_hit.sum", "lts__t_sectors_lookup_miss.sum", "lts__t_sectors.sum"
# Base units ncu prints with --print-units base; a scaled one means the export lacked it.
SCALED_UNIT = re.compile(r"^[KMGT](byte|sector|cycle|inst|request|wavefront|warp|thread)|^[um]?second$|^[KMGT]hz$")
_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")

# Why a metric that is not a plain sum is not held to the 1% bar.
RATIO_REASONS = {
    HIT_RATE: "lookup hits / sectors, two counters CUPTI (and ncu) never put in one replay pass: passes that "
              "see different L2 traffic move it, past 100% too",
}
RATIO_REASON = "a ratio: its counters may come from different replay passes; shown, not held to 1%"
CYCLES_REASON = ("elapsed cycles: btcbench's range spans its launch(es) and the gaps between them, ncu's one "
                 "kernel at a time; both at the unlocked SM clock (ncu --clock-control none)")
WARM_REASON = ("warm L2 (--cache-control none): btcbench's passes follow its timing runs and each other, ncu's "
               "the previous launch and ncu's memory restore between passes; the two caches hold different data")


class CompareError(Exception):
    """An input that cannot be compared; the message names the file."""


# ---------------------------------------------------------------- inputs

@dataclass(frozen=True)
class NcuLaunch:
    id: str
    kernel: str
    values: dict[str, float | None]   # metric -> value (None: n/a), for the metrics asked for


@dataclass(frozen=True)
class ManifestRow:
    kind: str
    case: str
    suite: str
    benchmark: str
    kernels: str
    launch_skip: int
    launch_count: int
    cache_control: str
    btcbench_json: str
    ncu_csv: str
    ncu_app_json: str


def parse_number(text: str) -> float | None:
    """An ncu CSV cell as a number: '524,288' and '524288' alike; None for
    'n/a' or an empty cell; ValueError for anything else."""
    text = text.strip()
    if text in ("", "n/a", "N/A"):
        return None
    if _GROUPED.match(text):
        text = text.replace(",", "")
    return float(text)


def read_ncu_csv(path: Path, metrics: Sequence[str]) -> list[NcuLaunch]:
    """The launches of an `ncu --import R --csv --page raw --print-units base`
    export (a header row: "ID", ..., "Kernel Name", ..., one column per
    metric; a units row; one row per profiled launch), with the values of
    `metrics` (a metric without a column is left out). Lines ncu prints before
    the header (==PROF==, ==WARNING==) are skipped."""
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        raise CompareError(f"{path}: cannot read ({e.strerror or e})") from None
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID",')), None)
    if start is None:
        raise CompareError(f"{path}: no '\"ID\",...' header: not an ncu --csv --page raw export")
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines[start:]))))
    except csv.Error as e:
        raise CompareError(f"{path}: bad CSV ({e})") from None
    header = rows[0]
    if "Kernel Name" not in header:
        raise CompareError(f"{path}: no 'Kernel Name' column: not an ncu --page raw export")
    id_col, name_col = header.index("ID"), header.index("Kernel Name")
    body = [r for r in rows[1:] if r]
    units_row = body[0] if body and len(body[0]) == len(header) and body[0][id_col] == "" else None
    units = dict(zip(header, units_row)) if units_row else {}
    columns = [(header.index(m), m) for m in metrics if m in header]
    for _, metric in columns:
        if SCALED_UNIT.match(units.get(metric, "")):
            raise CompareError(f"{path}: column {metric} is in {units[metric]!r}: export with --print-units base")
    launches = []
    for n, row in enumerate(body[1:] if units_row else body, start=1):
        if len(row) != len(header):
            raise CompareError(f"{path}: launch row {n} has {len(row)} fields, the header {len(header)}")
        values: dict[str, float | None] = {}
        for col, metric in columns:
            try:
                values[metric] = parse_number(row[col])
            except ValueError:
                raise CompareError(f"{path}: launch row {n}, {metric}: {row[col]!r} is not a number") from None
        launches.append(NcuLaunch(id=row[id_col], kernel=row[name_col], values=values))
    if not launches:
        raise CompareError(f"{path}: no launch rows: ncu profiled nothing")
    return launches


def read_manifest(out_dir: Path) -> list[ManifestRow]:
    if not out_dir.is_dir():
        raise CompareError(f"{out_dir}: " + ("does not exist" if not out_dir.exists() else "is not a directory"))
    path = out_dir / MANIFEST
    try:
        text = path.read_text()
    except OSError as e:
        raise CompareError(f"{path}: cannot read ({e.strerror or e}); is {out_dir} a scripts/ncu_compare.sh "
                           f"output folder?") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or tuple(lines[0].split("\t")) != MANIFEST_COLUMNS:
        raise CompareError(f"{path}: the first line is not the header {' '.join(MANIFEST_COLUMNS)}")
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(MANIFEST_COLUMNS):
            raise CompareError(f"{path}:{n}: {len(cells)} fields, expected {len(MANIFEST_COLUMNS)}")
        d = dict(zip(MANIFEST_COLUMNS, cells))
        try:
            skip, count = int(d["launch_skip"]), int(d["launch_count"])
        except ValueError:
            raise CompareError(f"{path}:{n}: launch_skip and launch_count must be whole numbers") from None
        if d["kind"] not in KINDS or d["cache_control"] not in CACHE_MODES or count < 1:
            raise CompareError(f"{path}:{n}: kind must be one of {KINDS}, cache_control one of "
                               f"{CACHE_MODES}, launch_count at least 1")
        rows.append(ManifestRow(**{**d, "launch_skip": skip, "launch_count": count}))   # type: ignore[arg-type]
    if not rows:
        raise CompareError(f"{path}: no rows: the script finished no step pair")
    return rows


def read_environment(out_dir: Path) -> dict[str, str]:
    """environment.txt's 'key: value' lines; empty where the file is absent."""
    path = out_dir / ENVIRONMENT
    if not path.is_file():
        return {}
    env = {}
    for line in path.read_text(errors="replace").splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            env[key.strip()] = value.strip()
    return env


def _load(path: Path) -> br.Results:
    try:
        return br.load(path)
    except br.ResultsError as e:
        raise CompareError(str(e)) from None


def _run(results: br.Results, benchmark: str) -> br.RunSummary:
    name = benchmark + "/manual_time"
    for run in br.medians(results):
        if run.run_name == name:
            return run
    errors = br.errored_runs(results)
    if name in errors:
        raise CompareError(f"{results.path}: run {name} failed: {errors[name]}")
    raise CompareError(f"{results.path}: no run named {name}")


# ---------------------------------------------------------------- folding

def metric_kind(metric: str) -> str:
    """'sum' (adds over launches), 'max' (cycles elapsed: add, a lower bound)
    or 'ratio' (percentages, ratios, averages: cannot be folded)."""
    if re.search(r"\.(pct|ratio)$|pct_of_peak|\.per_|\.avg", metric):
        return "ratio"
    if metric.endswith(".sum"):
        return "sum"
    if metric.endswith((".max", ".min")):
        return "max"
    return "ratio"


def fold(launches: Sequence[NcuLaunch], metric: str) -> float | None:
    """ncu's launches as btcbench's one range: sums and elapsed cycles add; a
    ratio folds only when there is one launch. None where a launch lacks it."""
    values = [launch.values.get(metric) for launch in launches]
    if any(v is None for v in values):
        return None
    if metric_kind(metric) == "ratio":
        return values[0] if len(values) == 1 else None
    return math.fsum(values)   # type: ignore[arg-type]


def rel_diff(btc: float | None, ncu: float | None) -> float | None:
    """(btcbench - ncu) / ncu; 0 when both are 0, inf when only ncu's is."""
    if btc is None or ncu is None or math.isnan(btc) or math.isnan(ncu):
        return None
    if ncu == 0:
        return 0.0 if btc == 0 else math.inf
    return (btc - ncu) / ncu


# ---------------------------------------------------------------- one row

@dataclass
class MetricRow:
    metric: str
    kind: str
    btcbench: float | None
    ncu: float | None
    ncu_per_launch: list[float | None]
    scale: float               # applied to ncu's sums and cycles (iters ratio)
    rel_diff: float | None
    agree: bool | None         # None: not held to the bar (ratio, cycles) or missing
    reason: str
    flags: list[str] = field(default_factory=list)


@dataclass
class CaseRun:
    row: ManifestRow
    btcbench_file: str
    ncu_file: str
    kernels: list[str]          # one per launch ncu profiled
    iters_btcbench: float | None
    iters_ncu: float | None
    passes: int | None
    metrics: list[MetricRow]

    @property
    def scale(self) -> float:
        if self.iters_btcbench and self.iters_ncu and self.iters_btcbench != self.iters_ncu:
            return self.iters_btcbench / self.iters_ncu
        return 1.0


def _hit_flags(metric: str, btc: float | None, ncu_per_launch: Sequence[float | None]) -> list[str]:
    """A hit rate above 100%, btcbench's or any of ncu's launches'."""
    if "hit_rate" not in metric:
        return []
    flags = ["btcbench hit rate > 100%"] if btc is not None and btc > 100 else []
    over = [i for i, v in enumerate(ncu_per_launch) if v is not None and v > 100]
    if over:
        flags.append("ncu hit rate > 100%" + (f" (launch {', '.join(map(str, over))})" if len(ncu_per_launch) > 1 else ""))
    return flags


def compare_metric(metric: str, btc: float | None, launches: Sequence[NcuLaunch], scale: float,
                   cache_control: str) -> MetricRow:
    kind = metric_kind(metric)
    ncu = fold(launches, metric)
    if ncu is not None and kind != "ratio":
        ncu *= scale
    per_launch = [launch.values.get(metric) for launch in launches]
    diff = rel_diff(btc, ncu)
    agree = None
    if btc is None:
        reason = "btcbench has no value"
    elif ncu is None and any(v is None for v in per_launch):
        reason = "ncu did not report it"
    elif ncu is None:
        reason = (f"btcbench's range holds {len(launches)} kernels; ncu gives this ratio per kernel: "
                  + ", ".join(_fmt(v) for v in per_launch) + " (the probe folds the hit rate from its sums)")
    elif kind == "ratio":
        reason = RATIO_REASONS.get(metric, RATIO_REASON)
    elif kind == "max":
        reason = CYCLES_REASON
    else:
        agree = diff is not None and abs(diff) <= AGREE_REL
        memory = metric.startswith(("lts__", "dram__"))
        reason = "" if agree else WARM_REASON if memory and cache_control == "none" else "unexplained"
    if len(launches) > 1 and kind != "ratio" and ncu is not None:
        reason = "; ".join(filter(None, [reason, "ncu: " + " + ".join(f"{_fmt(v)}" for v in per_launch)]))
    return MetricRow(metric=metric, kind=kind, btcbench=btc, ncu=ncu, ncu_per_launch=per_launch,
                     scale=scale if kind != "ratio" else 1.0, rel_diff=diff, agree=agree, reason=reason,
                     flags=_hit_flags(metric, btc, per_launch))


def compare_row(out_dir: Path, row: ManifestRow) -> CaseRun:
    results = _load(out_dir / row.btcbench_json)
    counters = results.meta["counters"]
    if not counters.get("enabled"):
        raise CompareError(f"{results.path}: counters were off ({counters.get('reason') or 'no reason'})")
    if counters.get("cache_control", "none") != row.cache_control:
        raise CompareError(f"{results.path}: cache_control is {counters.get('cache_control')!r}, the manifest "
                           f"says {row.cache_control!r}")
    metrics = [str(m) for m in counters.get("metrics") or []]
    if not metrics:
        raise CompareError(f"{results.path}: btcbench.counters.metrics is empty")
    run = _run(results, row.benchmark)
    app = _load(out_dir / row.ncu_app_json)
    app_run = _run(app, row.benchmark)

    csv_path = out_dir / row.ncu_csv
    launches = read_ncu_csv(csv_path, metrics)
    if len(launches) != row.launch_count:
        raise CompareError(f"{csv_path}: {len(launches)} launch(es), the script asked ncu for {row.launch_count} "
                           f"(launch skip {row.launch_skip}): did the case's launch order change?")
    pattern = re.compile(row.kernels)
    for launch in launches:
        if not pattern.search(launch.kernel):
            raise CompareError(f"{csv_path}: launch {launch.id} is {launch.kernel!r}, which does not match "
                               f"{row.kernels!r}")
    case = CaseRun(row=row, btcbench_file=row.btcbench_json, ncu_file=row.ncu_csv,
                   kernels=[launch.kernel for launch in launches],
                   iters_btcbench=run.counter("iters"), iters_ncu=app_run.counter("iters"),
                   passes=counters.get("passes"), metrics=[])
    case.metrics = [compare_metric(m, run.counter("cupti." + m), launches, case.scale, row.cache_control)
                    for m in metrics]
    return case


# ---------------------------------------------------------------- the probe

@dataclass(frozen=True)
class HitRateProbe:
    """The L2 hit rate of one range and the counters behind it, each as its
    tool read it (in btcbench's run, each counter from its own replay pass)."""
    tool: str
    rate: float | None          # the tool's lts__t_sector_hit_rate.pct (ncu: None for several kernels)
    hit: float | None
    miss: float | None
    sectors: float | None

    @property
    def rate_of_sums(self) -> float | None:
        """100 hit / sectors: how CUPTI evaluates the ratio from its two passes."""
        return 100 * self.hit / self.sectors if self.hit is not None and self.sectors else None

    @property
    def rate_of_lookups(self) -> float | None:
        """100 hit / (hit + miss): at most 100% whatever the passes saw."""
        if self.hit is None or self.miss is None or self.hit + self.miss == 0:
            return None
        return 100 * self.hit / (self.hit + self.miss)

    @property
    def lookup_gap(self) -> float | None:
        """(hit + miss) / sectors - 1: 0 when the passes saw the same traffic
        (and every sector is a lookup)."""
        if self.hit is None or self.miss is None or not self.sectors:
            return None
        return (self.hit + self.miss) / self.sectors - 1


def probe_of(case: CaseRun) -> list[HitRateProbe]:
    by = {m.metric: m for m in case.metrics}
    if not {HIT, MISS, SECTORS} <= by.keys():
        return []
    rate = by.get(HIT_RATE)

    def tool(name: str) -> HitRateProbe:
        # Raw counts, unscaled: the probe compares ratios within one tool's run.
        def value(metric: str) -> float | None:
            m = by[metric]
            if name == "btcbench":
                return m.btcbench
            return None if m.ncu is None else m.ncu / m.scale
        return HitRateProbe(tool=name, rate=(rate.btcbench if name == "btcbench" else rate.ncu) if rate else None,
                            hit=value(HIT), miss=value(MISS), sectors=value(SECTORS))
    return [tool("btcbench"), tool("ncu")]


GAP_TOLERANCE = 0.01   # (hit + miss) / sectors within 1% of 1: the passes saw the same traffic


def probe_reading(probes: dict[str, dict[str, CaseRun]]) -> list[str]:
    """One line per probe run: does CUPTI's rate equal hit/sectors of its
    passes, and did btcbench's passes (and ncu's) see the same L2 traffic?"""
    out = []
    for label, modes in probes.items():
        for mode in CACHE_MODES:
            if mode not in modes:
                continue
            tools = {p.tool: p for p in probe_of(modes[mode])}
            btc, ncu = tools.get("btcbench"), tools.get("ncu")
            if btc is None or ncu is None or btc.lookup_gap is None or ncu.lookup_gap is None:
                continue
            same = {name: abs(p.lookup_gap) <= GAP_TOLERANCE   # type: ignore[arg-type]
                    for name, p in (("btcbench", btc), ("ncu", ncu))}
            words = {True: "the same traffic", False: "different traffic"}
            line = (f"- {label}, {mode}: btcbench's passes saw {words[same['btcbench']]} (gap {_pct(btc.lookup_gap)}), "
                    f"ncu's {words[same['ncu']]} (gap {_pct(ncu.lookup_gap)})")
            if btc.rate is not None and btc.rate_of_sums is not None:
                line += ("; btcbench's rate is 100 hit/sectors of its passes" if abs(btc.rate - btc.rate_of_sums) <= 0.01
                         else f"; btcbench's rate {btc.rate:.2f} is not 100 hit/sectors ({btc.rate_of_sums:.2f})")
            if btc.rate_of_sums is not None and btc.rate_of_sums > 100:
                line += (f"; above 100% while hit/(hit+miss) reads {_fmt(btc.rate_of_lookups, True)}%: hits never "
                         "exceed sectors within one pass, so the pass counting hits saw more L2 traffic than the "
                         "one counting sectors")
            out.append(line)
    return out


# ---------------------------------------------------------------- output

def _fmt(v: float | None, percent: bool = False) -> str:
    if v is None:
        return DASH
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if percent:
        return f"{v:.2f}"
    if v == int(v) and abs(v) >= 1000:
        return f"{int(v):,}"
    return f"{v:.4g}" if abs(v) < 1e6 else f"{v:,.0f}"


def _pct(v: float | None, spec: str = "+.2f") -> str:
    if v is None:
        return DASH
    return "inf" if math.isinf(v) else f"{100 * v:{spec}}%"


def _agree_cell(m: MetricRow | None) -> str:
    if m is None:
        return DASH
    return {True: "yes", False: "**no**", None: DASH}[m.agree]


def _by_case(cases: Sequence[CaseRun], kind: str) -> dict[str, dict[str, CaseRun]]:
    out: dict[str, dict[str, CaseRun]] = {}
    for c in cases:
        if c.row.kind == kind:
            out.setdefault(c.row.case, {})[c.row.cache_control] = c
    return out


def _summary(cases: Sequence[CaseRun]) -> dict[str, Any]:
    mains = [c for c in cases if c.row.kind == "main"]
    sums = [(c, m) for c in mains for m in c.metrics if m.agree is not None]
    return {
        "sums_compared": len(sums),
        "sums_within_1pct": sum(1 for _, m in sums if m.agree),
        "sums_differing": [{"case": c.row.case, "cache_control": c.row.cache_control, "metric": m.metric,
                            "rel_diff": m.rel_diff, "reason": m.reason} for c, m in sums if not m.agree],
        "hit_rate_over_100": [{"kind": c.row.kind, "case": c.row.case, "cache_control": c.row.cache_control,
                               "metric": m.metric, "flag": f}
                              for c in cases for m in c.metrics for f in m.flags],
    }


def markdown(cases: Sequence[CaseRun], env: dict[str, str], out_dir: Path) -> str:
    s = _summary(cases)
    lines = ["# btcbench counters beside Nsight Compute", "",
             f"Source: `{out_dir.name}/` (scripts/ncu_compare.sh; how to read it: "
             "docs/profiles/ncu-compare/README.md)", ""]
    for key in ("gpu", "driver", "ncu", "btcbench", "git_commit", "date_utc", "ncu_options"):
        if key in env:
            lines.append(f"- **{key}:** {env[key]}")
    lines += ["", "## Summary", "",
              f"- Sums within {AGREE_REL:.0%}: {s['sums_within_1pct']} of {s['sums_compared']}."]
    for d in s["sums_differing"]:
        lines.append(f"- Differs: {d['case']} `{d['metric']}` (cache control {d['cache_control']}): "
                     f"{_pct(d['rel_diff'])}; {d['reason']}")
    for d in s["hit_rate_over_100"]:
        lines.append(f"- Hit rate above 100%: {d['kind']} {d['case']} (cache control {d['cache_control']}): "
                     f"{d['flag']}")

    for label, modes in _by_case(cases, "main").items():
        any_case = next(iter(modes.values()))
        lines += ["", f"## {label}: `{any_case.row.benchmark}`", ""]
        for mode, c in modes.items():
            iters = ""
            if c.iters_btcbench is not None:
                iters = f"; iters btcbench {_fmt(c.iters_btcbench)}, ncu's run {_fmt(c.iters_ncu)}"
                if c.scale != 1.0:
                    iters += f" (ncu's sums and cycles scaled ×{c.scale:.6g})"
            lines.append(f"- {mode}: btcbench `{c.btcbench_file}` ({c.passes} passes), ncu `{c.ncu_file}`: "
                         + ", ".join(f"`{k}`" for k in c.kernels) + iters)
        lines.append("")
        metrics = list(dict.fromkeys(m.metric for c in modes.values() for m in c.metrics))
        rows = []
        for metric in metrics:
            cells = [f"`{metric}`"]
            flags: list[str] = []
            reasons: dict[str, str] = {}
            for mode in CACHE_MODES:
                c = modes.get(mode)
                m = next((x for x in c.metrics if x.metric == metric), None) if c else None
                pct = m is not None and m.kind == "ratio"
                cells += [_fmt(m.btcbench, pct) if m else DASH, _fmt(m.ncu, pct) if m else DASH,
                          _pct(m.rel_diff) if m else DASH, _agree_cell(m)]
                if m:
                    flags += [f"**{f}** ({mode})" for f in m.flags]
                    if m.reason:
                        reasons[mode] = m.reason
            if len(reasons) == len(CACHE_MODES) and len(set(reasons.values())) == 1:
                notes = [next(iter(reasons.values()))]
            else:
                notes = [f"{mode}: {why}" for mode, why in reasons.items()]
            rows.append(cells + ["; ".join(flags + notes)])
        lines += table(["metric", "btcbench all", "ncu all", "Δ all", "1% all",
                        "btcbench none", "ncu none", "Δ none", "1% none", "note"], rows)

    probes = _by_case(cases, "probe")
    if probes:
        lines += ["", "## L2 hit rate probe", "",
                  f"Metrics `{HIT_RATE}`, `{HIT}`, `{MISS}`, `{SECTORS}`; CUPTI puts each counter in a replay "
                  "pass of its own. rate: the tool's own hit rate; hit/sectors: how it is evaluated; "
                  "hit/(hit+miss): at most 100% by construction; gap: (hit + miss) / sectors − 1, zero when "
                  "the passes saw the same traffic. Raw counts (unscaled).", ""]
        rows = []
        for label, modes in probes.items():
            for mode in CACHE_MODES:
                if mode not in modes:
                    continue
                for p in probe_of(modes[mode]):
                    rows.append([f"{label}", mode, p.tool, _fmt(p.rate, True), _fmt(p.hit), _fmt(p.miss),
                                 _fmt(p.sectors), _fmt(p.rate_of_sums, True), _fmt(p.rate_of_lookups, True),
                                 _pct(p.lookup_gap)])
        lines += table(["case", "cache control", "tool", "rate %", "hit", "miss", "sectors", "hit/sectors %",
                        "hit/(hit+miss) %", "gap"], rows)
        lines += ["", *probe_reading(probes)]
    return "\n".join(lines) + "\n"


def _metric_json(m: MetricRow) -> dict[str, Any]:
    def num(v: float | None) -> float | str | None:
        return None if v is None else "inf" if math.isinf(v) else "nan" if math.isnan(v) else v
    return {"metric": m.metric, "kind": m.kind, "btcbench": num(m.btcbench), "ncu": num(m.ncu),
            "ncu_per_launch": [num(v) for v in m.ncu_per_launch], "ncu_scaled_by": m.scale,
            "rel_diff": num(m.rel_diff), "within_1pct": m.agree, "reason": m.reason, "flags": m.flags}


def summary_json(cases: Sequence[CaseRun], env: dict[str, str]) -> dict[str, Any]:
    summary = _summary(cases)
    for d in summary["sums_differing"]:
        if d["rel_diff"] is not None and math.isinf(d["rel_diff"]):
            d["rel_diff"] = "inf"
    return {
        "schema": SCHEMA, "environment": env, "agree_rel": AGREE_REL, "summary": summary,
        "cases": [{"kind": c.row.kind, "case": c.row.case, "suite": c.row.suite, "benchmark": c.row.benchmark,
                   "cache_control": c.row.cache_control, "kernels_regex": c.row.kernels,
                   "launch_skip": c.row.launch_skip, "launch_count": c.row.launch_count,
                   "btcbench_file": c.btcbench_file, "ncu_file": c.ncu_file, "ncu_kernels": c.kernels,
                   "passes": c.passes, "iters_btcbench": c.iters_btcbench, "iters_ncu": c.iters_ncu,
                   "metrics": [_metric_json(m) for m in c.metrics],
                   "hit_rate_probe": [{"tool": p.tool, "rate": p.rate, "hit": p.hit, "miss": p.miss,
                                       "sectors": p.sectors, "rate_of_sums": p.rate_of_sums,
                                       "rate_of_lookups": p.rate_of_lookups, "lookup_gap": p.lookup_gap}
                                      for p in probe_of(c)]}
                  for c in cases],
    }


def compare(out_dir: Path) -> tuple[list[CaseRun], dict[str, str]]:
    return [compare_row(out_dir, row) for row in read_manifest(out_dir)], read_environment(out_dir)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m analysis.ncu_compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", type=Path, help="the folder scripts/ncu_compare.sh wrote")
    ap.add_argument("--out", type=Path, help="the markdown report (default OUT_DIR/ncu-compare.md); "
                                             "the JSON summary goes beside it")
    args = ap.parse_args(argv)
    md_path = args.out or args.out_dir / "ncu-compare.md"
    json_path = md_path.with_suffix(".json")
    try:
        cases, env = compare(args.out_dir)
        summary = summary_json(cases, env)
        outputs = {md_path: markdown(cases, env, args.out_dir), json_path: json.dumps(summary, indent=1) + "\n"}
    except CompareError as e:
        print(f"ncu_compare: error: {e}", file=sys.stderr)
        return 1
    for path in outputs:   # before writing either, so a bad target leaves neither half-done
        if path.is_dir() or not path.parent.is_dir():
            why = "is a directory" if path.is_dir() else f"its folder {path.parent} does not exist"
            print(f"ncu_compare: error: cannot write {path}: {why}", file=sys.stderr)
            return 1
    for path, text in outputs.items():
        try:
            br.write_atomic(path, text)
        except OSError as e:
            print(f"ncu_compare: error: cannot write {path}: {e.strerror or e}", file=sys.stderr)
            return 1
    s = summary["summary"]
    print(f"ncu_compare: {s['sums_within_1pct']} of {s['sums_compared']} sums within {AGREE_REL:.0%}, "
          f"{len(s['hit_rate_over_100'])} hit rate(s) above 100%; wrote {md_path} and {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
