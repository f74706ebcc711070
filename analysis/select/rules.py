"""Ranking and choosing: the BmmConfig of each design on one arch, from the
results files model.pick_files chose (the rules are in analysis/select/__init__.py).

Instruction forms are told apart by their fields (forms[name].group, dtype,
m, n, k, a_source and the PTX instruction), never by their names; bmm
candidate designs by forms[name].config.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

from analysis import btcresults as br
from analysis.select.candidates import WGMMA_AND_CANDIDATES, wgmma_config_problems, wgmma_smem_bytes
from analysis.select.model import (
    DESIGN_CONST, DESIGN_MIN_ARCH, EPS, FRAG_A, FRAG_B, LAYOUT_ENUM, NEWEST_SUITES, SUITES, TIE,
    UNSUPPORTED_WHY, WGMMA_BOX_K, WGMMA_SWIZZLES, ArchConfig, Basis, BmmPoint, BmmRanking, Candidate, Config,
    Decision, InstrForm, MeasuredCandidate, Ranking, SelectError, SourceFile, created, created_key, device_of,
    git_label, instr_forms, wgmma_candidates)

# The instruction each kernel issues, by its fields: (engine, group, dtype, shape).
BTC_WMMA_FORM = ("wmma", "xor", "b1", (8, 8, 128))     # the paper's WMMA 8x8x128 XOR
WMMA_AND_FORM = ("wmma", "and", "b1", (8, 8, 128))     # the same shape with AND, for comparison
MMA_AND_SHAPE = (16, 8, 256)                           # the mma_and kernel's m16n8k256
# Labels where the instr suite did not measure the form (the instr suite's names).
BTC_WMMA_LABEL = "wmma_xor_m8n8k128"
MMA_AND_LABEL = "mma_and_m16n8k256"
BTC_WMMA_LAYOUTS = ("row_u32", "tile8x128")   # the paper's comparison
# The bmm-suite design each btc_wmma layout builds (the paper's two designs).
BTC_WMMA_DESIGN = {"row_u32": "btc_wmma_row", "tile8x128": "btc_wmma_tile"}
WGMMA_MAX_BLOCK_N = 256
WGMMA_DEFAULT_N = 128
A_SOURCE_PTX = {"smem": "ss", "reg": "rs"}    # the wgmma operand forms: A from shared memory or registers
# The wgmma ring the kernel is built with until a bmm candidates sweep ranks
# others: 8 stages of 512 bits (the H100 exploration builds' fastest,
# docs/findings-bmm.md).
WGMMA_DEFAULT_RING = (512, 8)
NO_CANDIDATES = "default: no measured bmm candidates"
# The bmm ranking: square problems at least this large, both outputs.
BMM_MIN_SIZE = 8192
BMM_OUTS = ("int32", "bits")
BMM_RULE = (f"geometric mean of median TOPS over the square problems M = N = K ≥ {BMM_MIN_SIZE} "
            f"of the file, int32 and bits outputs; within {TIE * 100:g}% of the best, fewer shared-memory "
            f"bytes first, then no multicast (cluster 1 × 1)")


def preferred_wgmma_layout(block_k_bits: int) -> str:
    """The widest swizzle whose box fits a K stage (fewest, widest rows per bulk copy)."""
    fits = [name for name in reversed(WGMMA_SWIZZLES) if block_k_bits % WGMMA_BOX_K[name] == 0]
    return fits[0] if fits else "wgmma_interleave"


PREFERRED_WGMMA_LAYOUT = preferred_wgmma_layout(WGMMA_DEFAULT_RING[0])


# ====================================================================== instruction forms

def is_btc_wmma_instr(f: InstrForm) -> bool:
    return (f.engine, f.group, f.dtype, f.shape) == BTC_WMMA_FORM


def is_wmma_and_8x8x128(f: InstrForm) -> bool:
    return (f.engine, f.group, f.dtype, f.shape) == WMMA_AND_FORM


def is_mma_and(f: InstrForm) -> bool:
    """mma.sync b1 AND forms, any shape."""
    return (f.engine, f.group, f.dtype) == ("mma", "and", "b1")


def is_wgmma_and(f: InstrForm) -> bool:
    """wgmma b1 forms (b1 wgmma is AND only), any N, A from either place."""
    return (f.engine, f.group, f.dtype) == ("wgmma", "wgmma", "b1")


def _spread(rate: float, run: Any) -> tuple[float, float]:
    return rate * run.median_time / run.max_time, rate * run.median_time / run.min_time


def _runs_by_form(results: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for run in br.medians(results):
        try:
            bench = br.parse_name(run.run_name)
        except ValueError:
            continue
        out.setdefault(bench.form, []).append(run)
    return out


def instr_candidate(results: Any, form: InstrForm, runs: list[Any]) -> Candidate | None:
    """The form's best throughput run (highest median TOPS; ties to fewer
    warps per SM, then lower ILP), or None if it has none."""
    tput = [r for r in runs if r.bench.kind == "tput" and r.counter("tops")]
    if not tput:
        return None
    best = max(tput, key=lambda r: (r.counters["tops"], -r.bench.wps, -r.bench.ilp))
    lat = next((r for r in runs if r.bench.kind == "lat" and r.counter("cycles_per_inst")), None)
    tops = best.counters["tops"]
    lo, hi = _spread(tops, best)
    return Candidate(name=form.name, tops=tops, lo=lo, hi=hi, run=best.run_name, source=results.path.name,
                     n=form.n, a_source=form.a_source, config=f"wps {best.bench.wps}, ilp {best.bench.ilp}",
                     pct_peak=best.counter("pct_peak"),
                     latency_cycles=lat.counters["cycles_per_inst"] if lat else None)


def _instr_candidates(results: Any, want: Callable[[InstrForm], bool]) -> list[Candidate]:
    runs = _runs_by_form(results)
    out = []
    for form in instr_forms(results).values():
        if form.status != "measured" or not want(form):
            continue
        c = instr_candidate(results, form, runs.get(form.name, []))
        if c is not None:
            out.append(c)
    return out


def rank_mma_and_forms(instr: Any | None) -> list[Candidate]:
    """mma.sync b1 AND forms, best median TOPS first (ties by name)."""
    if instr is None:
        return []
    return sorted(_instr_candidates(instr, is_mma_and), key=lambda c: (-c.tops, c.name))


def rank_wgmma_and_forms(instr: Any | None, tie: float = TIE) -> list[Candidate]:
    """wgmma b1 AND forms. The forms within `tie` of the best TOPS come
    first, larger N first, then A from shared memory (ss, what a bulk-copy fed
    kernel issues) before A from registers (rs), then TOPS; the rest follow by
    TOPS."""
    if instr is None:
        return []
    cands = _instr_candidates(instr, is_wgmma_and)
    if not cands:
        return []
    best = max(c.tops for c in cands)
    floor = (1.0 - tie) * best * (1.0 - EPS)
    tied = sorted((c for c in cands if c.tops >= floor), key=lambda c: (-c.n, c.a_source != "smem", -c.tops, c.name))
    rest = sorted((c for c in cands if c.tops < floor), key=lambda c: (-c.tops, c.name))
    pct = f"{tie * 100:g}%"
    return ([replace(c, note=f"within {pct} of the best: N {c.n}, {A_SOURCE_PTX[c.a_source]}") for c in tied]
            + [replace(c, note=f"more than {pct} below the best") for c in rest])


def rank_instr_single(instr: Any | None, want: Callable[[InstrForm], bool]) -> Candidate | None:
    """The best-throughput figure of the first measured form `want` accepts, or None."""
    if instr is None:
        return None
    cands = _instr_candidates(instr, want)
    return cands[0] if cands else None


def skipped_forms(results: Any | None, want: Callable[[InstrForm], bool]) -> tuple[tuple[str, str], ...]:
    """(form, reason) for each whole form `want` accepts that the suite skipped."""
    if results is None:
        return ()
    reasons = dict(results.skipped)
    return tuple((f.name, reasons.get(f.name, "skipped")) for f in instr_forms(results).values()
                 if f.status == "skipped" and want(f))


def _skip_reason(results: Any | None, want: Callable[[InstrForm], bool]) -> str:
    reasons = dict.fromkeys(reason for _, reason in skipped_forms(results, want))
    return ("; skipped: " + "; ".join(reasons)) if reasons else ""


# ====================================================================== layouts and strides

def rank_layouts(layout: Any | None, engine: str) -> list[Candidate]:
    """The layouts of `layout/<engine>/layout:*`, best median TOPS first
    (ties by name). Layout names not in formats/layout.h are left out."""
    if layout is None:
        return []
    runs = {}
    for run in br.medians(layout):
        try:
            name = br.parse_generic_name(run.run_name)
        except ValueError:
            continue
        if name.kind == "layout" and name.form == engine and name.param("layout"):
            runs[name.param("layout")] = run
    out = []
    for key, form in layout.meta["forms"].items():
        if not isinstance(form, dict) or form.get("status") != "measured":
            continue
        # forms are keyed <engine>_<layout>, the name's layout:<layout> (btcresults.FORM_KEY_PARAMS)
        if not key.startswith(engine + "_") or form.get("engine", engine) != engine:
            continue
        name = key[len(engine) + 1:]
        run = runs.get(name)
        if run is None or not run.counter("tops"):
            continue
        a = str(form.get("a_layout") or name)
        b = str(form.get("b_layout") or (FRAG_B if a == FRAG_A else a))
        if a not in LAYOUT_ENUM or b not in LAYOUT_ENUM:
            continue
        tops = run.counters["tops"]
        lo, hi = _spread(tops, run)
        out.append(Candidate(name=name, tops=tops, lo=lo, hi=hi, run=run.run_name,
                             source=layout.path.name, a_layout=a, b_layout=b))
    return sorted(out, key=lambda c: (-c.tops, c.name))


def all_within(cands: Sequence[Candidate], tie: float = TIE) -> bool:
    """Whether every candidate is within `tie` of the fastest."""
    return bool(cands) and min(c.tops for c in cands) >= (1.0 - tie) * max(c.tops for c in cands) * (1.0 - EPS)


@dataclass(frozen=True)
class StridePoint:
    path: str
    ldm: int
    gbps: float
    lo: float
    hi: float
    per_load: float | None     # the counter of the note, per tile load
    source: str


SHARED_CONFLICTS = ("cupti.l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum",
                    "cupti.l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum")
GLOBAL_SECTORS = ("cupti.l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum",)


def stride_point(stride: Any | None, path: str, ldm: int, counters: Sequence[str] = SHARED_CONFLICTS,
                 mode: str = "load") -> StridePoint | None:
    """Useful GB/s of one stride-suite point, or None where it was not measured."""
    if stride is None:
        return None
    want = f"stride/{path}/mode:{mode}/ldm:{ldm}/manual_time"
    run = next((r for r in br.medians(stride) if r.run_name == want), None)
    if run is None or not run.counter("useful_gbps"):
        return None
    gbps = run.counters["useful_gbps"]
    lo, hi = _spread(gbps, run)
    loads = run.counter("tile_loads")
    per_load = next((run.counters[key] / loads for key in counters if key in run.counters and loads), None)
    return StridePoint(path, ldm, gbps, lo, hi, per_load, stride.path.name)


# ====================================================================== bmm candidates

def _bmm_points(bmm: Any, names: set[str]) -> dict[str, dict[tuple[int, str], Any]]:
    """design -> (size, out) -> run, for the square runs of the named designs."""
    out: dict[str, dict[tuple[int, str], Any]] = {}
    for run in br.medians(bmm):
        try:
            name = br.parse_generic_name(run.run_name)
        except ValueError:
            continue
        if name.kind != "bmm" or name.form not in names or not run.counter("tops"):
            continue
        m, n, k, o = (name.param(key) for key in ("m", "n", "k", "out"))
        if m == n == k and m is not None and m.isdigit() and o in BMM_OUTS:
            out.setdefault(name.form, {})[(int(m), o)] = run
    return out


def _geomean(values: Sequence[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _point_label(point: tuple[int, str]) -> str:
    return f"{point[0]}³ {point[1]}"


def rank_bmm_candidates(bmm: Any, arch: int, tie: float = TIE) -> BmmRanking:
    """The measured wgmma_and candidates of `arch` in a bmm file, ranked by
    BMM_RULE; the chosen one first. SelectError where a candidate misses a
    point the others were measured at, or where there is no point at all."""
    designs = wgmma_candidates(bmm, arch)
    runs = _bmm_points(bmm, {d.name for d in designs})
    # every size any candidate ran, at both outputs: a candidate missing one is an error, not a gap
    sizes = sorted({size for per in runs.values() for size, _ in per if size >= BMM_MIN_SIZE})
    points = [(size, out) for size in sizes for out in BMM_OUTS]
    where = f"{bmm.path}: bmm candidates"
    if not points:
        raise SelectError(f"{where}: no square problem with M = N = K >= {BMM_MIN_SIZE} was measured; "
                          f"the ranking needs one (sweep with --filter 'm:(8192|16384)/n:(8192|16384)')")
    measured = []
    for d in designs:
        assert d.config is not None
        missing = [p for p in points if p not in runs.get(d.name, {})]
        if missing:
            raise SelectError(f"{where}: {d.name!r} has no run at {', '.join(map(_point_label, missing))}; every "
                              f"candidate needs every point ({', '.join(map(_point_label, points))})")
        pts = []
        for size, out in points:
            run = runs[d.name][(size, out)]
            lo, hi = _spread(run.counters["tops"], run)
            pts.append(BmmPoint(size, out, run.counters["tops"], lo, hi))
        problems = wgmma_config_problems(d.config)
        measured.append(MeasuredCandidate(
            d.name, d.config, tuple(pts), _geomean([p.tops for p in pts]), _geomean([p.lo for p in pts]),
            _geomean([p.hi for p in pts]), wgmma_smem_bytes(d.config), d.config in WGMMA_AND_CANDIDATES,
            "not buildable today: " + "; ".join(problems) if problems else ""))
    buildable = [c for c in measured if not c.note]
    excluded = sorted((c for c in measured if c.note), key=lambda c: (-c.tops, c.name))
    if not buildable:
        raise SelectError(f"{where}: no measured candidate builds under today's constraints "
                          f"({'; '.join(f'{c.name}: {c.note}' for c in excluded)})")
    best = max(c.tops for c in buildable)
    floor = (1.0 - tie) * best * (1.0 - EPS)
    tied = sorted((c for c in buildable if c.tops >= floor),
                  key=lambda c: (c.smem_bytes, c.config.cluster_size > 1, -c.tops, c.name))
    rest = sorted((c for c in buildable if c.tops < floor), key=lambda c: (-c.tops, c.name))
    pct = f"{tie * 100:g}%"

    def note(c: MeasuredCandidate, text: str) -> MeasuredCandidate:
        return replace(c, note="; ".join(filter(None, [text, "" if c.in_table else "not in today's candidate table"])))
    ordered = ([note(c, f"within {pct} of the best" if len(tied) > 1 else "") for c in tied]
               + [note(c, f"more than {pct} below the best") for c in rest])
    return BmmRanking(bmm.path.name, git_label(bmm), str(bmm.device.get("name")), created(bmm),
                      tuple(points), BMM_RULE, tuple(ordered), tuple(excluded))


# ====================================================================== choosing

def _tops(c: Candidate | MeasuredCandidate) -> str:
    return f"{c.tops:,.1f} TOPS"


def _pair(a: str, b: str) -> str:
    return a if a == b else f"{a} + {b}"


def _stride_note(stride: Any | None, path: str, fast_ldm: int, slow_ldm: int, fast_what: str,
                 slow_what: str, counters: Sequence[str], per_load_what: str) -> str:
    if stride is None:
        return "stride suite: no results file, so no supporting load figures."
    fast, slow = (stride_point(stride, path, ldm, counters) for ldm in (fast_ldm, slow_ldm))
    if fast is None or slow is None:
        return (f"stride suite (`{stride.path.name}`): `{path}` at ldm {fast_ldm} and {slow_ldm} "
                f"not both measured.")

    def per_load(p: StridePoint) -> str:
        return f", {p.per_load:.2f} {per_load_what} per load" if p.per_load is not None else ""
    return (f"Supporting, not deciding (stride suite, `{fast.source}`): `{path}` fragment loads run at "
            f"{fast.gbps:,.1f} GB/s at ldm {fast_ldm} ({fast_what}{per_load(fast)}) against "
            f"{slow.gbps:,.1f} GB/s at ldm {slow_ldm} ({slow_what}{per_load(slow)}), "
            f"{fast.gbps / slow.gbps:.2f}×.")


def smem_note(cfg: Config, device: Mapping[str, Any] | None, total_bytes: int | None = None) -> str:
    """The pipeline's stage buffers (and the block's whole shared memory, where
    known) against the device's opt-in shared memory per block."""
    stage = (cfg.block_m + cfg.block_n) * cfg.block_k_bits // 8
    text = (f"Shared memory: {cfg.stages} stage(s) × {stage / 1024:.1f} KiB "
            f"(A {cfg.block_m} × {cfg.block_k_bits} bits + B {cfg.block_n} × {cfg.block_k_bits} bits) "
            f"= {cfg.stages * stage / 1024:.1f} KiB of stage buffers")
    need = cfg.stages * stage
    if total_bytes is not None:
        text += f", {total_bytes:,} bytes ({total_bytes / 1024:.1f} KiB) in all"
        need = total_bytes
    optin = device.get("smem_per_block_optin_bytes") if device else None
    if not isinstance(optin, int) or isinstance(optin, bool) or optin <= 0:
        return text + "."
    return (text + f"; the device allows {optin / 1024:.1f} KiB per block (`smem_per_block_optin_bytes`)"
            + ("." if need <= optin else ": DOES NOT FIT, the kernel will fail to launch; lower the stages."))


def _default(fields: str, value: str, why: str = "not measured by the suites yet") -> Basis:
    return Basis(fields, value, "default", why)


NO_CLUSTER = Basis("cluster_m, cluster_n", "1 × 1", "fixed", "no thread-block clusters: a wgmma_and feature")


def _unsupported(design: str, arch: int, instruction: str, cfg: Config) -> Decision:
    why = f"{design} does not run on sm_{arch} ({UNSUPPORTED_WHY[design]}); placeholder values"
    return Decision(DESIGN_CONST[design], design, instruction, cfg, False,
                    (Basis("all fields", "placeholder", "unsupported", why),))


def default_configs(arch: int) -> dict[str, Config]:
    """The built-in configuration of each design (valid values even where a
    design does not run on the arch)."""
    return {
        # 64 x 128 of 32 x 32 warp tiles (2 x 4 = 8 warps); 256 K bits per
        # unrolled main-loop step (two WMMA k128); 1 stage: the fragments load
        # straight from global memory, as in the paper.
        "btc_wmma": Config("tile8x128", "tile8x128", 64, 128, 256, 1, 8),
        # sm_90: 256 x 128 with 8 warps, 64 x 64 warp tiles: 128 bytes of
        # shared-memory fragments per b1 MMA instead of 192 (64 x 32), under
        # the SM's 128 B/clk at the measured mma.sync rate. sm_75/80 keep
        # 128 x 128, so the H100 sweep measures both (mma_and_sm80 / _sm90).
        # sm_90 K stages of 1024 bits: half the barriers per K; an H100 variant
        # build ran 8192^3 at 3,458 TOPS against 2,856 with 512-bit stages.
        "mma_and": Config(FRAG_A, FRAG_B, 256 if arch >= 90 else 128, 128, 1024 if arch >= 90 else 512, 4, 8),
        "wgmma_and": Config(PREFERRED_WGMMA_LAYOUT, PREFERRED_WGMMA_LAYOUT, 128, WGMMA_DEFAULT_N,
                            *WGMMA_DEFAULT_RING, 8),
    }


def choose_btc_wmma(arch: int, instr: Any | None, stride: Any | None, layout: Any | None) -> Decision:
    base = default_configs(arch)["btc_wmma"]
    ranked = rank_layouts(layout, "wmma_xor")
    cands = [c for c in ranked if c.name in BTC_WMMA_LAYOUTS and c.a_layout == c.b_layout]
    others = [replace(c, note="not a candidate (btc_wmma compares row_u32 and tile8x128)")
              for c in ranked if c not in cands]
    ranking = Ranking("btc_wmma operand layouts (A = B)", "layout: layout/wmma_xor/layout:*",
                      layout.path.name if layout else None,
                      "median TOPS of the BMM tile loop; candidates row_u32 and tile8x128",
                      tuple(cands) + tuple(others),
                      "" if layout else "no layout results")
    notes = []
    if cands:
        win = cands[0]
        layout_name = win.name
        if len(cands) > 1:
            why = (f"faster of {' and '.join(BTC_WMMA_LAYOUTS)} in `layout/wmma_xor`: {win.name} "
                   f"{_tops(win)} vs {cands[1].name} {_tops(cands[1])} ({win.tops / cands[1].tops:.2f}×), "
                   f"`{win.source}`")
        else:
            why = (f"the only one of {' and '.join(BTC_WMMA_LAYOUTS)} measured in `layout/wmma_xor`: "
                   f"{_tops(win)}, `{win.source}`")
        lb = Basis("a_layout, b_layout", layout_name, "measured", why)
    else:
        layout_name = base.a_layout
        lb = _default("a_layout, b_layout", layout_name,
                      ("no layout results" if layout is None else
                       f"`{layout.path.name}` has no row_u32/tile8x128 run of layout/wmma_xor")
                      + "; the paper's Turing finding: contiguous 8x128-bit tiles beat row-major row_u32")
    selected = BTC_WMMA_DESIGN[layout_name]
    cfg = replace(base, a_layout=layout_name, b_layout=layout_name)
    xor = rank_instr_single(instr, is_btc_wmma_instr)
    instruction = xor.name if xor else BTC_WMMA_LABEL
    iwhy = "the paper's design, WMMA 8x8x128 XOR: the faithful reproduction"
    if xor:
        iwhy += (f"; measured {_tops(xor)} [{xor.lo:,.1f}–{xor.hi:,.1f}] ({xor.config}"
                 + (f", {xor.pct_peak:.1f}% of b1 peak" if xor.pct_peak is not None else "")
                 + f"), `{xor.source}`")
        and_ = rank_instr_single(instr, is_wmma_and_8x8x128)
        if and_:
            notes.append(f"For comparison, the same shape with AND (`{and_.name}`) reached {_tops(and_)} "
                         f"({and_.tops / xor.tops:.2f}× XOR) on this GPU; btc_wmma keeps XOR to reproduce the paper, "
                         f"kMmaAnd and kWgmmaAnd are the AND designs.")
    notes.append(_stride_note(stride, "wmma_global", 128, 8192,
                              "contiguous 8×128-bit tiles, as tile8x128 stores them",
                              "the row stride of a row-major operand with K = 8192 bits",
                              GLOBAL_SECTORS, "global sectors"))
    basis = (Basis("instruction", instruction, "fixed", iwhy), lb,
             Basis("design", selected, "measured" if cands else "default",
                   f"the {layout_name} layout is the paper's `{selected}` design"),
             _default("block_m, block_n", f"{base.block_m} × {base.block_n}",
                      f"{base.block_m // 32} × {base.block_n // 32} warp tiles of 32 × 32 = {base.warps} warps; "
                      "not measured by the suites yet"),
             _default("block_k_bits", str(base.block_k_bits),
                      "K bits per unrolled main-loop step (two WMMA k128 steps); not measured by the suites yet"),
             _default("stages", str(base.stages),
                      "no shared-memory pipeline: fragments load straight from global memory, as in the paper"),
             _default("warps", str(base.warps), "one per 32 × 32 warp tile"),
             NO_CLUSTER)
    return Decision("kBtcWmma", "btc_wmma", instruction, cfg, True, basis, (ranking,), tuple(notes), selected)


def choose_mma_and(arch: int, instr: Any | None, stride: Any | None, layout: Any | None) -> Decision:
    base = default_configs(arch)["mma_and"]
    if arch < DESIGN_MIN_ARCH["mma_and"]:
        return _unsupported("mma_and", arch, MMA_AND_LABEL, base)
    kernel_shape = f"m{MMA_AND_SHAPE[0]}n{MMA_AND_SHAPE[1]}k{MMA_AND_SHAPE[2]}"
    by_name = {f.name: f for f in instr_forms(instr).values()} if instr else {}
    forms = [replace(c, note="" if by_name[c.name].shape == MMA_AND_SHAPE else
                     f"the kernel implements {kernel_shape} only") for c in rank_mma_and_forms(instr)]
    ours = next((c for c in forms if by_name[c.name].shape == MMA_AND_SHAPE), None)
    instruction = ours.name if ours else MMA_AND_LABEL
    iranking = Ranking("mma_and instruction forms", "instr: tput/<mma.sync b1 AND forms>",
                       instr.path.name if instr else None,
                       "best median TOPS over the warps-per-SM × ILP sweep", tuple(forms),
                       "no instr results" if instr is None else
                       "no mma_and form measured" + _skip_reason(instr, is_mma_and),
                       skipped_forms(instr, is_mma_and))
    if forms and forms[0] is ours:
        w = forms[0]
        runner = (f"; runner-up {forms[1].name} {_tops(forms[1])}" if len(forms) > 1 else "")
        ib = Basis("instruction", instruction, "measured",
                   f"best of the mma_and forms: {_tops(w)} [{w.lo:,.1f}–{w.hi:,.1f}] ({w.config}"
                   + (f", {w.pct_peak:.1f}% of b1 peak" if w.pct_peak is not None else "")
                   + f"){runner}, `{w.source}`")
    elif forms:
        ib = Basis("instruction", instruction, "fixed",
                   f"{forms[0].name} ranks first ({_tops(forms[0])}) but the kernel implements "
                   f"{kernel_shape} only" + (f" ({instruction}: {_tops(ours)})" if ours else ", which was not measured")
                   + f", `{forms[0].source}`")
    else:
        ib = _default("instruction", instruction,
                      ("no instr results" if instr is None else f"`{instr.path.name}` measured no mma_and form")
                      + f"; the kernel implements {kernel_shape}")
    lays = rank_layouts(layout, "mma_and")
    lranking = Ranking("mma_and operand layouts", "layout: layout/mma_and/layout:*",
                       layout.path.name if layout else None, "median TOPS of the BMM tile loop",
                       tuple(lays), "" if layout else "no layout results")
    if lays:
        w = lays[0]
        a, b = w.a_layout, w.b_layout
        runner = (f"; runner-up {_pair(lays[1].a_layout, lays[1].b_layout)} {_tops(lays[1])} "
                  f"({100 * lays[1].tops / w.tops:.1f}%)" if len(lays) > 1 else "")
        lb = Basis("a_layout, b_layout", _pair(a, b), "measured",
                   f"fastest in `layout/mma_and`: {_tops(w)} [{w.lo:,.1f}–{w.hi:,.1f}]{runner}, `{w.source}`"
                   + ("; fragment-native: each lane's A/B registers are contiguous words" if a == FRAG_A else ""))
    else:
        a, b = base.a_layout, base.b_layout
        lb = _default("a_layout, b_layout", _pair(a, b),
                      ("no layout results" if layout is None else f"`{layout.path.name}` has no layout/mma_and run")
                      + "; fragment-native: each lane's registers load as contiguous words")
    cfg = replace(base, a_layout=a, b_layout=b)
    notes = (_stride_note(stride, "mma_shared", 256, base.block_k_bits,
                          "16×256-bit fragments in contiguous 32-byte rows",
                          f"the row stride of a row-major {base.block_k_bits}-bit K slab",
                          SHARED_CONFLICTS, "bank conflicts"),
             smem_note(cfg, device_of(layout, instr, stride)))
    basis = (ib, lb,
             _default("block_m, block_n", f"{base.block_m} × {base.block_n}",
                      ("64 × 64 warp tiles: 128 bytes of shared-memory fragments per b1 MMA "
                       "(64 × 32 needs 192, more than the SM's 128 B/clk at the mma.sync peak); "
                       if arch >= 90 else "") + "not measured by the suites yet"),
             _default("block_k_bits", str(base.block_k_bits),
                      ("one __syncthreads per 4 K steps of 256 (a variant build on the H100 ran 8192³ "
                       "21% faster than with 512); " if arch >= 90 else "") + "not measured by the suites yet"),
             _default("stages", str(base.stages), "cp.async pipeline depth; not measured by the suites yet"),
             _default("warps", str(base.warps)),
             NO_CLUSTER)
    return Decision("kMmaAnd", "mma_and", instruction, cfg, True, basis, (iranking, lranking), notes)


def _wgmma_instruction(instr: Any | None, block_n: int) -> str:
    """The wgmma form a block of N columns issues (A from shared memory):
    its name in the instr file, else the instr suite's name for it."""
    forms = [f for f in instr_forms(instr).values() if is_wgmma_and(f)] if instr else []
    match = next((f for f in forms if f.n == block_n and f.a_source == "smem"), None)
    return match.name if match else f"wgmma_and_m64n{block_n}k256_ss"


def _candidate_why(ranking: BmmRanking) -> tuple[str, str]:
    """(basis kind, why) of the chosen bmm candidate."""
    c = ranking.candidates[0]
    fastest = max(ranking.candidates, key=lambda x: x.tops)
    cited = (f"`{ranking.source}` ({ranking.commit}, {ranking.device}), "
             f"{len(ranking.candidates)} candidate(s) over {', '.join(map(_point_label, ranking.points))}")
    figure = f"{_tops(c)} [{c.lo:,.1f}–{c.hi:,.1f}] geometric mean"
    if c is fastest:
        runner = (f"; runner-up {ranking.candidates[1].name} {_tops(ranking.candidates[1])} "
                  f"({100 * ranking.candidates[1].tops / c.tops:.1f}%)" if len(ranking.candidates) > 1 else "")
        return "measured", f"fastest measured candidate `{c.name}`: {figure}{runner}; {cited}"
    return "tie-break", (f"`{c.name}` at {figure} is within {TIE * 100:g}% of the fastest, `{fastest.name}` "
                         f"{_tops(fastest)}, with fewer shared-memory bytes ({c.smem_bytes:,} against "
                         f"{fastest.smem_bytes:,})" + ("" if c.smem_bytes != fastest.smem_bytes else ", and no multicast")
                         + f"; {cited}. A tie-break, not a measurement")


def choose_wgmma_and(arch: int, instr: Any | None, stride: Any | None, layout: Any | None,
                     bmm: Any | None = None) -> Decision:
    base = default_configs(arch)["wgmma_and"]
    if arch < DESIGN_MIN_ARCH["wgmma_and"]:
        return _unsupported("wgmma_and", arch, _wgmma_instruction(None, base.block_n), base)
    ranking = rank_bmm_candidates(bmm, arch) if bmm is not None else None
    forms = rank_wgmma_and_forms(instr)
    iranking = Ranking("wgmma_and instruction forms", "instr: tput/<wgmma b1 forms>",
                       instr.path.name if instr else None,
                       f"forms within {TIE * 100:g}% of the best median TOPS first: larger N, then ss, then TOPS; "
                       f"then the rest by TOPS", tuple(forms),
                       "no instr results" if instr is None else
                       "no wgmma_and form measured" + _skip_reason(instr, is_wgmma_and),
                       skipped_forms(instr, is_wgmma_and))
    if forms:
        w = forms[0]
        best = max(forms, key=lambda c: c.tops)
        block_n = min(w.n, WGMMA_MAX_BLOCK_N)
        if w is best:
            why = f"highest median TOPS: {_tops(w)} [{w.lo:,.1f}–{w.hi:,.1f}] ({w.config})"
        else:
            why = (f"{_tops(w)} [{w.lo:,.1f}–{w.hi:,.1f}] ({w.config}) is within {TIE * 100:g}% of the best, "
                   f"{best.name} {_tops(best)}, and has the largest N among those")
        if w.pct_peak is not None:
            why += f"; {w.pct_peak:.1f}% of b1 peak"
        ib = Basis("instruction", w.name, "measured", why + f", `{w.source}`")
        nb = Basis("block_n", str(block_n), "measured",
                   f"N of {w.name} (forms[].n = {w.n})" + (f", capped at {WGMMA_MAX_BLOCK_N}" if w.n > WGMMA_MAX_BLOCK_N else ""))
    else:
        block_n = base.block_n
        ib = _default("instruction", _wgmma_instruction(instr, block_n),
                      ("no instr results" if instr is None else f"`{instr.path.name}` measured no wgmma_and form")
                      + f"; N={block_n}: every N >= 64 ran at >= 99% of the b1 peak on the H100 "
                        "(docs/findings-instr.md), and 128 keeps the accumulator at 64 registers per thread")
        nb = _default("block_n", str(block_n), f"N of {ib.value}")
    # Only layouts whose box fits the K stage are candidates.
    ranked = rank_layouts(layout, "wgmma_and")
    lays = [c for c in ranked if base.block_k_bits % WGMMA_BOX_K.get(c.name, 1 << 30) == 0]
    too_wide = [replace(c, note=f"not a candidate: its {WGMMA_BOX_K.get(c.name, '?')}-bit box is "
                                f"wider than the {base.block_k_bits}-bit K stage")
                for c in ranked if c not in lays]
    tied = all_within(lays)
    pref = next((c for c in lays if c.name == PREFERRED_WGMMA_LAYOUT), None)
    tie_break = bool(lays) and tied and pref is not None and len(lays) > 1 and pref is not lays[0]
    if tie_break:
        assert pref is not None
        order = [pref] + [c for c in lays if c is not pref]
        lays_out = [replace(c, note="preferred on the tie: the widest swizzle whose box fits the K stage"
                            if c is pref else f"tie (within {TIE * 100:g}%)") for c in order]
    else:
        lays_out = list(lays)
    lranking = Ranking("wgmma_and operand layouts", "layout: layout/wgmma_and/layout:*",
                       layout.path.name if layout else None,
                       f"median TOPS of the BMM tile loop, among layouts whose box fits the "
                       f"{base.block_k_bits}-bit K stage; when all are within {TIE * 100:g}%, "
                       f"{PREFERRED_WGMMA_LAYOUT} first", tuple(lays_out) + tuple(too_wide),
                       "" if layout else "no layout results")
    if lays_out:
        w, fastest, slowest = lays_out[0], lays[0], lays[-1]
        a, b = w.a_layout, w.b_layout
        if tie_break:
            lb = Basis("a_layout, b_layout", _pair(a, b), "tie-break",
                       f"{'both' if len(lays) == 2 else f'all {len(lays)}'} candidate layouts of `layout/wgmma_and` "
                       f"are within {TIE * 100:g}% "
                       f"(fastest {fastest.name} {_tops(fastest)}, slowest {slowest.name} {_tops(slowest)}, "
                       f"{100 * slowest.tops / fastest.tops:.1f}%"
                       + ("" if w.name in (fastest.name, slowest.name) else f"; {w.name} {_tops(w)}")
                       + f"), `{w.source}`: "
                       f"the measurement does not separate them, so {PREFERRED_WGMMA_LAYOUT} is preferred "
                       f"because it is the widest swizzle whose box fits the {base.block_k_bits}-bit K stage "
                       f"(one contiguous run per operand per stage). A tie-break, not a measurement")
        else:
            runner = (f"; runner-up {lays[1].name} {_tops(lays[1])} ({100 * lays[1].tops / w.tops:.1f}%)"
                      if len(lays) > 1 else "")
            lb = Basis("a_layout, b_layout", _pair(a, b), "measured",
                       f"fastest in `layout/wgmma_and`: {_tops(w)} [{w.lo:,.1f}–{w.hi:,.1f}]{runner}, `{w.source}`")
    else:
        a, b = base.a_layout, base.b_layout
        lb = _default("a_layout, b_layout", _pair(a, b),
                      ("no layout results" if layout is None else f"`{layout.path.name}` has no layout/wgmma_and run")
                      + f"; {PREFERRED_WGMMA_LAYOUT}: the widest swizzle whose box fits the "
                        f"{base.block_k_bits}-bit K stage")
    device = device_of(layout, instr, stride, bmm)
    fallback = ("; the candidates build (-DBTC_BMM_CANDIDATES=ON) and a `bmm` sweep measure the "
                "candidates (scripts/regenerate_config.sh)")
    if ranking is None:
        cfg = replace(base, a_layout=a, b_layout=b, block_n=block_n)
        basis = (ib, lb,
                 _default("block_m", str(base.block_m), "two consumer warpgroups × m64; not measured"),
                 nb,
                 _default("block_k_bits, stages", f"{base.block_k_bits} × {base.stages}",
                          f"{NO_CANDIDATES}: the ring the kernel is built with, 8 × 512-bit stages "
                          f"(the H100 exploration builds' fastest, docs/findings-bmm.md){fallback}"),
                 _default("warps", str(base.warps), "2 consumer warpgroups; not measured"),
                 _default("cluster_m, cluster_n", f"{base.cluster_m} × {base.cluster_n}",
                          f"{NO_CANDIDATES}: no multicast"))
        instruction = ib.value
        notes: tuple[str, ...] = ()
    else:
        chosen = ranking.candidates[0]
        cfg = chosen.config
        kind, why = _candidate_why(ranking)
        instruction = _wgmma_instruction(instr, cfg.block_n)
        basis = (Basis("instruction", instruction, "fixed", f"the wgmma form of the chosen candidate's N "
                       f"({cfg.block_n}), A from shared memory"),
                 Basis("all fields", chosen.name, kind, why))
        notes = ((f"The measured candidate decides every field. Shown for reference, not deciding: the instr "
                  f"suite's wgmma forms (its choice would be N = {block_n}) and the layout suite's wgmma "
                  f"layouts (its choice would be {_pair(a, b)}).")
                 + ("" if chosen.in_table else
                    " The chosen configuration is not in today's candidate table (analysis/select/candidates.py)."),)
    notes = (*notes,
             "The stride suite has no wgmma path: wgmma reads its operands from shared memory through "
             "descriptors, not through per-lane fragment loads.",
             smem_note(cfg, device, wgmma_smem_bytes(cfg)))
    return Decision("kWgmmaAnd", "wgmma_and", instruction, cfg, True, basis, (iranking, lranking), notes,
                    bmm=ranking)


# ====================================================================== one arch

def select(arch: int, used: Mapping[str, Any], older: Sequence[Any] = (), bmm_unused: Sequence[Any] = ()
           ) -> ArchConfig:
    """The configuration of `arch` from the files model.pick_files chose."""
    instr, stride, layout, bmm = (used.get(s) for s in SUITES)
    files = tuple(SourceFile(s, r.path.name, created(r), str(r.device.get("name")), str(r.device.get("slug")),
                             str(r.device.get("cc")), git_label(r))
                  for s in SUITES if (r := used.get(s)) is not None)
    missing = tuple(s for s in SUITES if s not in used)
    devices = dict.fromkeys(f"{f.device} (cc {f.cc})" for f in files)
    source = ("measured on " + " + ".join(devices) + ": " + ", ".join(f.name for f in files) if files
              else "no results file used")
    missing_newest = [s for s in NEWEST_SUITES if s in missing]
    if missing_newest:
        source += "; no " + "/".join(missing_newest) + " results (defaults where they would decide)"
    if bmm is None and arch >= DESIGN_MIN_ARCH["wgmma_and"]:
        source += f"; {NO_CANDIDATES} (kWgmmaAnd ring and cluster)"
    decisions = (choose_btc_wmma(arch, instr, stride, layout), choose_mma_and(arch, instr, stride, layout),
                 choose_wgmma_and(arch, instr, stride, layout, bmm))
    unsupported = [d.design for d in decisions if not d.supported]
    if unsupported:
        source += f"; {', '.join(unsupported)} unsupported on sm_{arch}"
    return ArchConfig(arch, source, files, tuple(sorted(r.path.name for r in older)), missing, decisions,
                      bmm_unused=tuple(sorted(r.path.name for r in sorted(bmm_unused, key=created_key))))


DEFAULTS_WHY = {
    75: ("Turing: btc_wmma only (WMMA 8x8x128 XOR is native there). Layout tile8x128 over row_u32: the "
         "paper's finding (contiguous 8x128-bit tiles per WMMA fragment load; row-major rows split each "
         "load). mma_and needs sm_80 and wgmma_and sm_90a: their constants are placeholders."),
    80: ("Ampere: btc_wmma with tile8x128 (the paper's finding); mma_and with its fragment-native layouts "
         "(each lane's registers load as contiguous words: the fastest mma_and layout on the H100, "
         "docs/findings-memory.md). wgmma_and needs sm_90a: its constant is a placeholder."),
    90: ("Hopper: btc_wmma with tile8x128 (the paper's finding), mma_and fragment-native, wgmma_and "
         f"m64n{WGMMA_DEFAULT_N}k256 (ss) with {PREFERRED_WGMMA_LAYOUT} (all wgmma layouts measured within 1% on "
         f"the H100; the widest swizzle whose box fits the {WGMMA_DEFAULT_RING[0]}-bit K stage) and a ring of "
         f"{WGMMA_DEFAULT_RING[1]} × {WGMMA_DEFAULT_RING[0]}-bit stages ({NO_CANDIDATES})."),
}


def defaults(arch: int) -> ArchConfig:
    """The built-in configuration of `arch`, for a build with no results."""
    # The same rules with no results: every value falls back to its default
    # (with the reason); there are no rankings or supporting figures to show.
    decisions = [replace(d, rankings=(), notes=()) for d in (choose(arch, None, None, None) for choose in
                                                               (choose_btc_wmma, choose_mma_and, choose_wgmma_and))]
    unsupported = [d.design for d in decisions if not d.supported]
    source = "built-in defaults (no results)"
    if unsupported:
        source += f"; {', '.join(unsupported)} unsupported on sm_{arch}"
    return ArchConfig(arch, source, (), (), SUITES, tuple(decisions), DEFAULTS_WHY[arch])

