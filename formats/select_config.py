#!/usr/bin/env python3
"""Select the BMM kernel configuration of each architecture from sweep results.

Reads the btcbench results files of one GPU (suites instr, stride and layout;
docs/results-schema.md), ranks the candidate instruction forms and operand
layouts of each BMM design, and writes the configuration the kernels are
built from (kernels/bmm_config.h, struct BmmConfig):

  kernels/generated/bmm_config_sm{75,80,90}.h   three BmmConfig constants per arch
                                                (kBtcWmma, kMmaAnd, kWgmmaAnd) + kSource
  kernels/generated/bmm_config_sm{75,80,90}.md  why each value won, with the figures
  kernels/generated/bmm_config.h                includes all three

Usage:
  python3 formats/select_config.py --results-dir results/<gpu-slug>   # newest file of each suite
  python3 formats/select_config.py --results instr-...json layout-...json
  python3 formats/select_config.py --defaults            # all three arches, built-in defaults
  ... [--arch 90] [--out kernels/generated] [--check]

The arch is the device's compute capability (btcbench.device.cc) mapped to
the nearest arch the kernels are built for (7.5 -> 75, 8.x -> 80, 9.x -> 90);
every file must agree, and --arch, when given, must match. A GPU the suites
do not know by name is used for its arch. A file that is not valid JSON, not
a btcbench results file (e.g. plain Google Benchmark output) or of another
schema is a one-line error naming the file (exit 2), and nothing is written.
Only the given arch's files (and bmm_config.h) are regenerated; another
arch's header that does not exist yet gets the built-in defaults.

--check writes nothing and exits 1 if regenerating would change a file
(for CI). Files are written atomically, and only when their content changes;
the output holds no timestamps other than the results files' own, so
regenerating from the same files gives the same bytes.

Selection rules (the report says which value is measured and which is a
default the suites do not measure yet):
  kBtcWmma  the paper's design, WMMA 8x8x128 XOR (fixed: the faithful
            reproduction); layout = the faster of row_u32 and tile8x128 in
            layout/wmma_xor (A and B alike); 64x64 block, 1024-bit K slab,
            1 stage, 8 warps (defaults).
  kMmaAnd   mma.sync AND: the instr suite ranks the mma_and_* forms by TOPS
            (the kernel implements m16n8k256 only: another winner is reported,
            not used); layout = the fastest of layout/mma_and (the fragment-
            native pair is A mma_frag_a16x256 + B mma_frag_b8x256); 128x128
            block, 512-bit K, 4 stages, 8 warps (defaults).
  kWgmmaAnd wgmma AND: the best-TOPS wgmma_and_m64n*k256 form, preferring
            larger N (then A from shared memory, ss) among forms within 2% of
            the best; layout = the fastest of layout/wgmma_and among layouts
            whose box fits the K stage, except that when all are within 2% of
            each other the widest such swizzle is preferred (a tie-break: one
            contiguous run per operand per stage); block_m 128, block_n = the
            form's N (at most 256), a ring of 8 x 512-bit K stages (the H100
            exploration build's fastest), 8 consumer warps (defaults).
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

REPO = Path(__file__).resolve().parents[1]


def _import_btcresults() -> Any:
    """analysis/btcresults.py, imported by path (analysis/ is not a package)."""
    if "btcresults" in sys.modules:
        return sys.modules["btcresults"]
    spec = importlib.util.spec_from_file_location("btcresults", REPO / "analysis" / "btcresults.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["btcresults"] = module
    spec.loader.exec_module(module)
    return module


br = _import_btcresults()

PROG = "select_config"
ARCHES = (75, 80, 90)
SUITES = ("instr", "stride", "layout")
TIE = 0.02   # "within 2%": a rate >= (1 - TIE) * the best
_EPS = 1e-12  # so that exactly 2% below counts as within 2% despite rounding
DEFAULT_OUT = REPO / "kernels" / "generated"
REGEN_HINT = ("scripts/regenerate_config.sh (sweep -> select -> rebuild), or "
              "python3 formats/select_config.py --results-dir results/<gpu-slug>")

# formats/layout.h: textual name (bits::name()) -> enumerator.
LAYOUT_ENUM = {
    "row_u32": "kRowU32",
    "row_u64": "kRowU64",
    "tile8x128": "kTile8x128",
    "mma_frag_a16x256": "kMmaFragA16x256",
    "mma_frag_b8x256": "kMmaFragB8x256",
    "wgmma_interleave": "kWgmmaInterleave",
    "wgmma_swizzle32": "kWgmmaSwizzle32",
    "wgmma_swizzle64": "kWgmmaSwizzle64",
    "wgmma_swizzle128": "kWgmmaSwizzle128",
}
FRAG_A, FRAG_B = "mma_frag_a16x256", "mma_frag_b8x256"

# The instruction each kernel implements.
BTC_WMMA_INSTR = "wmma_xor_m8n8k128"
MMA_AND_INSTR = "mma_and_m16n8k256"
WGMMA_DEFAULT_INSTR = "wgmma_and_m64n128k256_ss"
MMA_AND_RE = re.compile(r"mma_and_m(\d+)n(\d+)k(\d+)")
WGMMA_AND_RE = re.compile(r"wgmma_and_m64n(\d+)k256_(ss|rs)")
WGMMA_MAX_BLOCK_N = 256
BTC_WMMA_LAYOUTS = ("row_u32", "tile8x128")   # the paper's comparison
# K bits of one box of each wgmma layout (formats/layout.h box_k_of): a K
# stage must be whole boxes (one contiguous run per operand, one bulk copy).
WGMMA_BOX_K = {"wgmma_interleave": 256, "wgmma_swizzle32": 256, "wgmma_swizzle64": 512, "wgmma_swizzle128": 1024}
# The wgmma ring: 8 stages of 512 bits. H100 exploration builds
# (cmake -DBTC_WGMMA_EXPLORE=ON; docs/findings-bmm.md, 044eb9e) ran it level
# with 16 x 256 and 4 x 1024 at 8192^3 and fastest at 16384^3 and long K
# (bits out), once A's popcounts moved to the tensor core.
WGMMA_RING = (512, 8)
WGMMA_RING_WHY = ("8 × 512-bit stages: level with 16 × 256 at 8192³ and fastest at 16384³ and long K in the "
                  "H100 exploration build at 044eb9e (`cmake -DBTC_WGMMA_EXPLORE=ON`); the c30286d sweep "
                  "then ran 16384³ at 10,191 TOPS against 9,309 for 16 × 256 at 044eb9e "
                  "(docs/findings-bmm.md); not measured by the suites")


def preferred_wgmma_layout(block_k_bits: int) -> str:
    """The widest swizzle whose box fits a K stage (fewest, widest rows per bulk copy)."""
    fits = [name for name in ("wgmma_swizzle128", "wgmma_swizzle64", "wgmma_swizzle32")
            if block_k_bits % WGMMA_BOX_K[name] == 0]
    return fits[0] if fits else "wgmma_interleave"


PREFERRED_WGMMA_LAYOUT = preferred_wgmma_layout(WGMMA_RING[0])

# Minimum arch of each design: sm_75 has no b1 mma.sync m16n8k256 (sm_80) and
# no wgmma (sm_90a).
DESIGN_MIN_ARCH = {"btc_wmma": 75, "mma_and": 80, "wgmma_and": 90}
DESIGN_CONST = {"btc_wmma": "kBtcWmma", "mma_and": "kMmaAnd", "wgmma_and": "kWgmmaAnd"}
UNSUPPORTED_WHY = {"mma_and": "b1 mma.sync m16n8k256 needs sm_80",
                   "wgmma_and": "wgmma needs sm_90a"}


class SelectError(Exception):
    """A problem that stops selection; one line, naming the file where there is one."""


# ====================================================================== data

@dataclass(frozen=True)
class Candidate:
    """One ranked candidate (an instruction form or an operand layout) and
    the figure that ranked it: median TOPS with the [min, max] spread over
    repetitions (rates scale as 1/time)."""
    name: str
    tops: float
    lo: float
    hi: float
    run: str                         # the run the figure comes from
    source: str                      # results file name
    a_layout: str = ""               # layout candidates
    b_layout: str = ""
    n: int = 0                       # instruction forms: the N of the shape
    a_source: str = ""               # wgmma: 'ss' | 'rs'
    config: str = ""                 # instr: the best tput config, "wps 8, ilp 8"
    pct_peak: float | None = None
    latency_cycles: float | None = None
    note: str = ""                   # why it ranks where it does, beyond the figure


@dataclass(frozen=True)
class Ranking:
    title: str                       # e.g. "mma_and instruction forms"
    query: str                       # which runs, e.g. "instr: tput/mma_and_*"
    source: str | None               # results file name; None where the suite is missing
    rule: str                        # how the list is ordered
    candidates: tuple[Candidate, ...]
    absent: str = ""                 # why it is empty, where it is
    skipped: tuple[tuple[str, str], ...] = ()   # (form, reason): matching forms the suite skipped


@dataclass(frozen=True)
class Config:
    """kernels/bmm_config.h BmmConfig, field for field (layouts by name)."""
    design: str
    instruction: str
    a_layout: str
    b_layout: str
    block_m: int
    block_n: int
    block_k_bits: int
    stages: int
    warps: int


@dataclass(frozen=True)
class Basis:
    """Why one field (or group of fields) has its value."""
    field: str
    value: str
    kind: str        # 'measured' | 'tie-break' | 'fixed' | 'default' | 'unsupported'
    why: str


@dataclass(frozen=True)
class Decision:
    const: str                       # kBtcWmma | kMmaAnd | kWgmmaAnd
    config: Config
    supported: bool
    basis: tuple[Basis, ...]
    rankings: tuple[Ranking, ...] = ()
    notes: tuple[str, ...] = ()      # supporting figures and remarks (not deciding)


@dataclass(frozen=True)
class SourceFile:
    suite: str
    name: str                        # file name
    created_utc: str
    device: str
    slug: str
    cc: str
    commit: str


@dataclass(frozen=True)
class ArchConfig:
    arch: int
    source: str                      # kSource
    files: tuple[SourceFile, ...]    # the files used (empty: defaults)
    unused: tuple[str, ...]          # other results files seen but not used (older)
    missing: tuple[str, ...]         # suites without a file
    decisions: tuple[Decision, ...]
    defaults_why: str = ""           # for a no-results config


# ====================================================================== loading

def arch_of_cc(cc: object, where: str = "") -> int:
    """Compute capability 'X.Y' -> the arch the kernels are built for."""
    prefix = f"{where}: " if where else ""
    if not isinstance(cc, str) or not re.fullmatch(r"\d+\.\d+", cc):
        raise SelectError(f"{prefix}btcbench.device.cc is {cc!r}, not a compute capability 'major.minor'")
    major, minor = (int(x) for x in cc.split("."))
    if major == 7 and minor >= 5:
        return 75
    if major == 8:
        return 80
    if major == 9:
        return 90
    raise SelectError(f"{prefix}compute capability {cc} (sm_{major}{minor}) has no generated "
                      f"configuration; supported: " + ", ".join(f"sm_{a}" for a in ARCHES))


def _parse_utc(value: str) -> datetime:
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _created(results: Any) -> str:
    value = results.meta.get("created_utc")
    try:
        if not isinstance(value, str):
            raise ValueError
        _parse_utc(value)
    except ValueError:
        raise SelectError(f"{results.path}: btcbench.created_utc is {value!r}, "
                          f"not an ISO 8601 UTC time") from None
    return value


def _created_key(results: Any) -> tuple[datetime, str]:
    """Newest last: created_utc, then the file name where two files share it."""
    return _parse_utc(_created(results)), results.path.name


def load_file(path: str | Path) -> Any:
    """btcresults.load, with its error as a SelectError (one line, naming the file)."""
    try:
        return br.load(path)
    except br.ResultsError as e:
        raise SelectError(" ".join(str(e).split())) from None


def load_results(paths: Sequence[str | Path], *, explicit: bool) -> tuple[dict[str, Any], list[Any]]:
    """Load every file; return (newest file of each known suite, the older
    ones). A file of another suite is an error when named explicitly and
    ignored in a directory (later suites share results/<gpu-slug>/)."""
    loaded = []
    for p in paths:
        r = load_file(p)
        _created(r)
        arch_of_cc(r.device.get("cc"), str(r.path))
        if r.suite not in SUITES:
            if explicit:
                raise SelectError(f"{r.path}: suite {r.suite!r} is not one select_config reads "
                                  f"({', '.join(SUITES)})")
            continue
        loaded.append(r)
    newest: dict[str, Any] = {}
    for r in sorted(loaded, key=_created_key):
        newest[r.suite] = r
    older = [r for r in loaded if newest.get(r.suite) is not r]
    return newest, older


def results_dir_files(directory: str | Path) -> list[Path]:
    d = Path(directory)
    if not d.is_dir():
        raise SelectError(f"{d}: not a directory")
    files = sorted(p for p in d.glob("*.json") if p.is_file())
    if not files:
        raise SelectError(f"{d}: no results files (*.json)")
    return files


def detect_arch(files: Iterable[Any]) -> int:
    """The one arch every file's device.cc maps to; SelectError naming them if they disagree."""
    by_arch: dict[int, list[str]] = {}
    for r in files:
        by_arch.setdefault(arch_of_cc(r.device.get("cc"), str(r.path)), []).append(
            f"{r.path.name} (cc {r.device.get('cc')})")
    if not by_arch:
        raise SelectError("no results files of the suites " + ", ".join(SUITES))
    if len(by_arch) > 1:
        raise SelectError("results files disagree on the architecture: " + "; ".join(
            f"sm_{a}: {', '.join(names)}" for a, names in sorted(by_arch.items())))
    return next(iter(by_arch))


# ====================================================================== ranking (pure)

def _spread(tops: float, run: Any) -> tuple[float, float]:
    return tops * run.median_time / run.max_time, tops * run.median_time / run.min_time


def _runs_by_form(results: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for run in br.medians(results):
        try:
            bench = br.parse_name(run.run_name)
        except ValueError:
            continue
        out.setdefault(bench.form, []).append(run)
    return out


def instr_candidate(results: Any, form: str, runs: list[Any]) -> Candidate | None:
    """The form's best throughput run (highest median TOPS; ties to fewer
    warps per SM, then lower ILP), or None if it has none."""
    tput = [r for r in runs if r.bench.kind == "tput" and r.counter("tops")]
    if not tput:
        return None
    best = max(tput, key=lambda r: (r.counters["tops"], -r.bench.wps, -r.bench.ilp))
    lat = next((r for r in runs if r.bench.kind == "lat" and r.counter("cycles_per_inst")), None)
    tops = best.counters["tops"]
    lo, hi = _spread(tops, best)
    return Candidate(name=form, tops=tops, lo=lo, hi=hi, run=best.run_name, source=results.path.name,
                     config=f"wps {best.bench.wps}, ilp {best.bench.ilp}",
                     pct_peak=best.counter("pct_peak"),
                     latency_cycles=lat.counters["cycles_per_inst"] if lat else None)


def _instr_candidates(results: Any, pattern: re.Pattern[str]) -> list[Candidate]:
    runs = _runs_by_form(results)
    out = []
    for name, form in results.forms.items():
        if form.status != "measured" or not pattern.fullmatch(name):
            continue
        c = instr_candidate(results, name, runs.get(name, []))
        if c is not None:
            out.append(c)
    return out


def rank_mma_and_forms(instr: Any | None) -> list[Candidate]:
    """mma_and_* forms, best median TOPS first (ties by name)."""
    if instr is None:
        return []
    cands = _instr_candidates(instr, MMA_AND_RE)
    return sorted(cands, key=lambda c: (-c.tops, c.name))


def rank_wgmma_and_forms(instr: Any | None, tie: float = TIE) -> list[Candidate]:
    """wgmma_and_m64n*k256_{ss,rs} forms. The forms within `tie` of the best
    TOPS come first, larger N first, then A from shared memory (ss, what a
    TMA-fed kernel issues) before A from registers (rs), then TOPS; the rest
    follow by TOPS."""
    if instr is None:
        return []
    cands = []
    for c in _instr_candidates(instr, WGMMA_AND_RE):
        m = WGMMA_AND_RE.fullmatch(c.name)
        assert m
        cands.append(Candidate(**{**c.__dict__, "n": int(m[1]), "a_source": m[2]}))
    if not cands:
        return []
    best = max(c.tops for c in cands)
    floor = (1.0 - tie) * best * (1.0 - _EPS)
    tied = [c for c in cands if c.tops >= floor]
    rest = [c for c in cands if c.tops < floor]
    tied.sort(key=lambda c: (-c.n, c.a_source != "ss", -c.tops, c.name))
    rest.sort(key=lambda c: (-c.tops, c.name))
    pct = f"{tie * 100:g}%"
    return ([Candidate(**{**c.__dict__, "note": f"within {pct} of the best: N {c.n}, {c.a_source}"})
             for c in tied]
            + [Candidate(**{**c.__dict__, "note": f"more than {pct} below the best"}) for c in rest])


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
    return bool(cands) and min(c.tops for c in cands) >= (1.0 - tie) * max(c.tops for c in cands) * (1.0 - _EPS)


@dataclass(frozen=True)
class StridePoint:
    path: str
    ldm: int
    gbps: float
    lo: float
    hi: float
    conflicts_per_tile: float | None
    source: str


def stride_point(stride: Any | None, path: str, ldm: int, mode: str = "load") -> StridePoint | None:
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
    conflicts = None
    for key in ("cupti.l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum",
                "cupti.l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum"):
        if key in run.counters and loads:
            conflicts = run.counters[key] / loads
            break
    return StridePoint(path, ldm, gbps, lo, hi, conflicts, stride.path.name)


# ====================================================================== choosing

def _tops(c: Candidate) -> str:
    return f"{c.tops:,.1f} TOPS"


def _pair(a: str, b: str) -> str:
    return a if a == b else f"{a} + {b}"


def _stride_note(stride: Any | None, path: str, fast_ldm: int, slow_ldm: int, fast_what: str,
                 slow_what: str) -> str:
    if stride is None:
        return "stride suite: no results file, so no supporting load figures."
    fast, slow = stride_point(stride, path, fast_ldm), stride_point(stride, path, slow_ldm)
    if fast is None or slow is None:
        return (f"stride suite (`{stride.path.name}`): `{path}` at ldm {fast_ldm} and {slow_ldm} "
                f"not both measured.")

    def conf(p: StridePoint) -> str:
        return f", {p.conflicts_per_tile:.2f} bank conflicts per load" if p.conflicts_per_tile is not None else ""
    return (f"Supporting, not deciding (stride suite, `{fast.source}`): `{path}` fragment loads run at "
            f"{fast.gbps:,.1f} GB/s at ldm {fast_ldm} ({fast_what}{conf(fast)}) against "
            f"{slow.gbps:,.1f} GB/s at ldm {slow_ldm} ({slow_what}{conf(slow)}), "
            f"{fast.gbps / slow.gbps:.2f}×.")


def smem_note(cfg: Config, device: Mapping[str, Any] | None) -> str:
    """The pipeline's stage buffers against the device's opt-in shared memory per block."""
    stage = (cfg.block_m + cfg.block_n) * cfg.block_k_bits // 8
    text = (f"Shared memory: {cfg.stages} stage(s) × {stage / 1024:.1f} KiB "
            f"(A {cfg.block_m} × {cfg.block_k_bits} bits + B {cfg.block_n} × {cfg.block_k_bits} bits) "
            f"= {cfg.stages * stage / 1024:.1f} KiB of stage buffers")
    optin = device.get("smem_per_block_optin_bytes") if device else None
    if not isinstance(optin, int) or isinstance(optin, bool) or optin <= 0:
        return text + "."
    fits = cfg.stages * stage <= optin
    return (text + f"; the device allows {optin / 1024:.1f} KiB per block (`smem_per_block_optin_bytes`)"
            + ("." if fits else ": DOES NOT FIT, the kernel will fail to launch; lower the stages."))


def _device(*results: Any | None) -> Mapping[str, Any] | None:
    return next((r.device for r in results if r is not None), None)


def _defaults_basis(fields: str, value: str, why: str = "not measured by the suites yet") -> Basis:
    return Basis(fields, value, "default", why)


def _unsupported(design: str, arch: int, cfg: Config) -> Decision:
    why = f"{design} does not run on sm_{arch} ({UNSUPPORTED_WHY[design]}); placeholder values"
    return Decision(DESIGN_CONST[design], cfg, False,
                    (Basis("all fields", "placeholder", "unsupported", why),))


def default_configs(arch: int) -> dict[str, Config]:
    """The built-in configuration of each design (valid values even where a
    design does not run on the arch)."""
    return {
        "btc_wmma": Config("btc_wmma", BTC_WMMA_INSTR, "tile8x128", "tile8x128", 64, 64, 1024, 1, 8),
        # sm_90: 256 x 128 with 8 warps, 64 x 64 warp tiles: 128 bytes of
        # shared-memory fragments per b1 MMA instead of 192 (64 x 32), under
        # the SM's 128 B/clk at the measured mma.sync rate. sm_75/80 keep
        # 128 x 128, so the H100 sweep measures both (mma_and_sm80 / _sm90).
        # sm_90 K stages of 1024 bits: half the barriers per K; an H100 variant
        # build ran 8192^3 at 3,458 TOPS against 2,856 with 512-bit stages.
        "mma_and": Config("mma_and", MMA_AND_INSTR, FRAG_A, FRAG_B, 256 if arch >= 90 else 128, 128,
                          1024 if arch >= 90 else 512, 4, 8),
        "wgmma_and": Config("wgmma_and", WGMMA_DEFAULT_INSTR, PREFERRED_WGMMA_LAYOUT,
                            PREFERRED_WGMMA_LAYOUT, 128, 128, *WGMMA_RING, 8),
    }


def choose_btc_wmma(arch: int, instr: Any | None, stride: Any | None, layout: Any | None) -> Decision:
    base = default_configs(arch)["btc_wmma"]
    ranked = rank_layouts(layout, "wmma_xor")
    cands = [c for c in ranked if c.name in BTC_WMMA_LAYOUTS and c.a_layout == c.b_layout]
    others = [Candidate(**{**c.__dict__, "note": "not a candidate (btc_wmma compares row_u32 and tile8x128)"})
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
            why = f"the only one of {' and '.join(BTC_WMMA_LAYOUTS)} measured in `layout/wmma_xor`: {_tops(win)}, `{win.source}`"
        lb = Basis("a_layout, b_layout", layout_name, "measured", why)
    else:
        layout_name = base.a_layout
        lb = _defaults_basis("a_layout, b_layout", layout_name,
                             ("no layout results" if layout is None else
                              f"`{layout.path.name}` has no row_u32/tile8x128 run of layout/wmma_xor")
                             + "; the paper's Turing finding: contiguous 8x128-bit tiles beat row-major row_u32")
    cfg = Config(base.design, BTC_WMMA_INSTR, layout_name, layout_name, base.block_m, base.block_n,
                 base.block_k_bits, base.stages, base.warps)
    xor = rank_instr_single(instr, BTC_WMMA_INSTR)
    iwhy = "the paper's design, WMMA 8x8x128 XOR: the faithful reproduction"
    if xor:
        iwhy += (f"; measured {_tops(xor)} [{xor.lo:,.1f}–{xor.hi:,.1f}] ({xor.config}"
                 + (f", {xor.pct_peak:.1f}% of b1 peak" if xor.pct_peak is not None else "")
                 + f"), `{xor.source}`")
        and_ = rank_instr_single(instr, "wmma_and_m8n8k128")
        if and_:
            notes.append(f"For comparison, the same shape with AND (`wmma_and_m8n8k128`) reached {_tops(and_)} "
                         f"({and_.tops / xor.tops:.2f}× XOR) on this GPU; btc_wmma keeps XOR to reproduce the paper, "
                         f"kMmaAnd and kWgmmaAnd are the AND designs.")
    notes.append(_stride_note(stride, "wmma_shared", 128, base.block_k_bits,
                              "contiguous 8×128-bit tiles, as tile8x128 stores them",
                              f"the row stride of a row-major {base.block_k_bits}-bit K slab"))
    basis = (Basis("instruction", BTC_WMMA_INSTR, "fixed", iwhy), lb,
             _defaults_basis("block_m, block_n", f"{base.block_m} × {base.block_n}"),
             _defaults_basis("block_k_bits", str(base.block_k_bits)),
             _defaults_basis("stages", str(base.stages), "no pipelining: the paper's design; not measured"),
             _defaults_basis("warps", str(base.warps)))
    return Decision("kBtcWmma", cfg, True, basis, (ranking,), tuple(notes))


def rank_instr_single(instr: Any | None, form: str) -> Candidate | None:
    """The best-throughput figure of one measured form, or None."""
    if instr is None or form not in instr.forms or instr.forms[form].status != "measured":
        return None
    return instr_candidate(instr, form, _runs_by_form(instr).get(form, []))


def skipped_forms(results: Any | None, pattern: re.Pattern[str]) -> tuple[tuple[str, str], ...]:
    """(form, reason) for each whole form matching pattern that the suite skipped."""
    if results is None:
        return ()
    reasons = dict(results.skipped)
    return tuple((name, reasons.get(name, "skipped")) for name, form in results.forms.items()
                 if form.status == "skipped" and pattern.fullmatch(name))


def _skip_reason(results: Any | None, pattern: re.Pattern[str]) -> str:
    reasons = dict.fromkeys(reason for _, reason in skipped_forms(results, pattern))
    return ("; skipped: " + "; ".join(reasons)) if reasons else ""


def choose_mma_and(arch: int, instr: Any | None, stride: Any | None, layout: Any | None) -> Decision:
    base = default_configs(arch)["mma_and"]
    if arch < DESIGN_MIN_ARCH["mma_and"]:
        return _unsupported("mma_and", arch, base)
    forms = rank_mma_and_forms(instr)
    forms = [Candidate(**{**c.__dict__, "note": "" if c.name == MMA_AND_INSTR else
                          "the kernel implements m16n8k256 only"}) for c in forms]
    iranking = Ranking("mma_and instruction forms", "instr: tput/mma_and_*",
                       instr.path.name if instr else None,
                       "best median TOPS over the warps-per-SM × ILP sweep", tuple(forms),
                       "no instr results" if instr is None else
                       "no mma_and form measured" + _skip_reason(instr, MMA_AND_RE),
                       skipped_forms(instr, MMA_AND_RE))
    if forms and forms[0].name == MMA_AND_INSTR:
        w = forms[0]
        runner = (f"; runner-up {forms[1].name} {_tops(forms[1])}" if len(forms) > 1 else "")
        ib = Basis("instruction", MMA_AND_INSTR, "measured",
                   f"best of the mma_and forms: {_tops(w)} [{w.lo:,.1f}–{w.hi:,.1f}] ({w.config}"
                   + (f", {w.pct_peak:.1f}% of b1 peak" if w.pct_peak is not None else "")
                   + f"){runner}, `{w.source}`")
    elif forms:
        ours = next((c for c in forms if c.name == MMA_AND_INSTR), None)
        ib = Basis("instruction", MMA_AND_INSTR, "fixed",
                   f"{forms[0].name} ranks first ({_tops(forms[0])}) but the kernel implements "
                   f"{MMA_AND_INSTR} only" + (f" ({_tops(ours)})" if ours else ", which was not measured")
                   + f", `{forms[0].source}`")
    else:
        ib = _defaults_basis("instruction", MMA_AND_INSTR,
                             ("no instr results" if instr is None else f"`{instr.path.name}` measured no mma_and form")
                             + f"; the kernel implements {MMA_AND_INSTR}")
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
        lb = _defaults_basis("a_layout, b_layout", _pair(a, b),
                             ("no layout results" if layout is None else
                              f"`{layout.path.name}` has no layout/mma_and run")
                             + "; fragment-native: each lane's registers load as contiguous words")
    cfg = Config("mma_and", MMA_AND_INSTR, a, b, base.block_m, base.block_n, base.block_k_bits,
                 base.stages, base.warps)
    notes = (_stride_note(stride, "mma_shared", 256, base.block_k_bits,
                          "16×256-bit fragments in contiguous 32-byte rows",
                          f"the row stride of a row-major {base.block_k_bits}-bit K slab"),
             smem_note(cfg, _device(layout, instr, stride)))
    basis = (ib, lb,
             _defaults_basis("block_m, block_n", f"{base.block_m} × {base.block_n}",
                             ("64 × 64 warp tiles: 128 bytes of shared-memory fragments per b1 MMA "
                              "(64 × 32 needs 192, more than the SM's 128 B/clk at the mma.sync peak); "
                              if arch >= 90 else "")
                             + "not measured by the suites yet"),
             _defaults_basis("block_k_bits", str(base.block_k_bits),
                             ("one __syncthreads per 4 K steps of 256 (a variant build on the H100 ran 8192³ "
                              "21% faster than with 512); " if arch >= 90 else "") + "not measured by the suites yet"),
             _defaults_basis("stages", str(base.stages), "cp.async pipeline depth; not measured by the suites yet"),
             _defaults_basis("warps", str(base.warps)))
    return Decision("kMmaAnd", cfg, True, basis, (iranking, lranking), notes)


def choose_wgmma_and(arch: int, instr: Any | None, stride: Any | None, layout: Any | None) -> Decision:
    base = default_configs(arch)["wgmma_and"]
    if arch < DESIGN_MIN_ARCH["wgmma_and"]:
        return _unsupported("wgmma_and", arch, base)
    forms = rank_wgmma_and_forms(instr)
    iranking = Ranking("wgmma_and instruction forms", "instr: tput/wgmma_and_m64n*k256_*",
                       instr.path.name if instr else None,
                       f"forms within {TIE * 100:g}% of the best median TOPS first: larger N, then ss, then TOPS; "
                       f"then the rest by TOPS", tuple(forms),
                       "no instr results" if instr is None else
                       "no wgmma_and form measured" + _skip_reason(instr, WGMMA_AND_RE),
                       skipped_forms(instr, WGMMA_AND_RE))
    if forms:
        w = forms[0]
        best = max(forms, key=lambda c: c.tops)
        instruction, block_n = w.name, min(w.n, WGMMA_MAX_BLOCK_N)
        if w is best:
            why = f"highest median TOPS: {_tops(w)} [{w.lo:,.1f}–{w.hi:,.1f}] ({w.config})"
        else:
            why = (f"{_tops(w)} [{w.lo:,.1f}–{w.hi:,.1f}] ({w.config}) is within {TIE * 100:g}% of the best, "
                   f"{best.name} {_tops(best)}, and has the largest N among those")
        if w.pct_peak is not None:
            why += f"; {w.pct_peak:.1f}% of b1 peak"
        ib = Basis("instruction", instruction, "measured", why + f", `{w.source}`")
        nb = Basis("block_n", str(block_n), "measured",
                   f"N of {instruction}" + (f", capped at {WGMMA_MAX_BLOCK_N}" if w.n > WGMMA_MAX_BLOCK_N else ""))
    else:
        instruction, block_n = base.instruction, base.block_n
        ib = _defaults_basis("instruction", instruction,
                             ("no instr results" if instr is None else f"`{instr.path.name}` measured no wgmma_and form")
                             + "; N=128: every N >= 64 ran at >= 99% of the b1 peak on the H100 "
                               "(docs/findings-instr.md), and 128 keeps the accumulator at 64 registers per thread")
        nb = _defaults_basis("block_n", str(block_n), f"N of {instruction}")
    # Only layouts whose box fits the K stage are candidates.
    ranked = rank_layouts(layout, "wgmma_and")
    lays = [c for c in ranked if base.block_k_bits % WGMMA_BOX_K.get(c.name, 1 << 30) == 0]
    too_wide = [Candidate(**{**c.__dict__, "note": f"not a candidate: its {WGMMA_BOX_K.get(c.name, '?')}-bit box is "
                                                   f"wider than the {base.block_k_bits}-bit K stage"})
                for c in ranked if c not in lays]
    tied = all_within(lays)
    pref = next((c for c in lays if c.name == PREFERRED_WGMMA_LAYOUT), None)
    tie_break = bool(lays) and tied and pref is not None and len(lays) > 1 and pref is not lays[0]
    if tie_break:
        assert pref is not None
        order = [pref] + [c for c in lays if c is not pref]
        lays_out = [Candidate(**{**c.__dict__, "note": "preferred on the tie: the widest swizzle whose box fits "
                                                         "the K stage"
                                 if c is pref else f"tie (within {TIE * 100:g}%)"}) for c in order]
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
        lb = _defaults_basis("a_layout, b_layout", _pair(a, b),
                             ("no layout results" if layout is None else
                              f"`{layout.path.name}` has no layout/wgmma_and run")
                             + f"; {PREFERRED_WGMMA_LAYOUT}: the widest swizzle whose box fits the "
                               f"{base.block_k_bits}-bit K stage")
    cfg = Config("wgmma_and", instruction, a, b, base.block_m, block_n, base.block_k_bits, base.stages, base.warps)
    notes = ("The stride suite has no wgmma path: wgmma reads its operands from shared memory through "
             "descriptors, not through per-lane fragment loads.",
             smem_note(cfg, _device(layout, instr, stride)))
    basis = (ib, lb,
             _defaults_basis("block_m", str(base.block_m), "two consumer warpgroups × m64; not measured"),
             nb,
             _defaults_basis("block_k_bits, stages", f"{base.block_k_bits} × {base.stages}", WGMMA_RING_WHY),
             _defaults_basis("warps", str(base.warps), "2 consumer warpgroups; not measured"))
    return Decision("kWgmmaAnd", cfg, True, basis, (iranking, lranking), notes)


def _git_label(results: Any) -> str:
    describe = br.lookup(results.meta, "git.describe")
    commit = br.lookup(results.meta, "git.commit")
    return str(describe or (str(commit)[:7] if commit else "") or "—")


def select(arch: int, newest: Mapping[str, Any], older: Sequence[Any] = ()) -> ArchConfig:
    """The configuration of `arch` from the newest file of each suite."""
    instr, stride, layout = (newest.get(s) for s in SUITES)
    files = tuple(SourceFile(s, r.path.name, _created(r), str(r.device.get("name")), str(r.device.get("slug")),
                             str(r.device.get("cc")), _git_label(r))
                  for s in SUITES if (r := newest.get(s)) is not None)
    missing = tuple(s for s in SUITES if s not in newest)
    devices = dict.fromkeys(f"{f.device} (cc {f.cc})" for f in files)
    source = "measured on " + " + ".join(devices) + ": " + ", ".join(f.name for f in files)
    if missing:
        source += "; no " + "/".join(missing) + " results (defaults where they would decide)"
    decisions = (choose_btc_wmma(arch, instr, stride, layout), choose_mma_and(arch, instr, stride, layout),
                 choose_wgmma_and(arch, instr, stride, layout))
    unsupported = [d.config.design for d in decisions if not d.supported]
    if unsupported:
        source += f"; {', '.join(unsupported)} unsupported on sm_{arch}"
    return ArchConfig(arch, source, files, tuple(sorted(r.path.name for r in older)), missing, decisions)


DEFAULTS_WHY = {
    75: ("Turing: btc_wmma only (WMMA 8x8x128 XOR is native there). Layout tile8x128 over row_u32: the "
         "paper's finding (contiguous 8x128-bit tiles per WMMA fragment load; row-major slabs conflict in "
         "shared memory). mma_and needs sm_80 and wgmma_and sm_90a: their constants are placeholders."),
    80: ("Ampere: btc_wmma with tile8x128 (the paper's finding); mma_and with its fragment-native layouts "
         "(each lane's registers load as contiguous words: the fastest mma_and layout on the H100, "
         "docs/findings-memory.md). wgmma_and needs sm_90a: its constant is a placeholder."),
    90: ("Hopper: btc_wmma with tile8x128 (the paper's finding), mma_and fragment-native, wgmma_and "
         f"m64n128k256 (ss) with {PREFERRED_WGMMA_LAYOUT} (all wgmma layouts measured within 1% on the H100; "
         f"the widest swizzle whose box fits the {WGMMA_RING[0]}-bit K stage) and a ring of "
         f"{WGMMA_RING[1]} × {WGMMA_RING[0]}-bit stages."),
}


def defaults(arch: int) -> ArchConfig:
    """The built-in configuration of `arch`, for a build with no results."""
    # The same rules with no results: every value falls back to its default
    # (with the reason); there are no rankings or supporting figures to show.
    decisions = [Decision(d.const, d.config, d.supported, d.basis)
                 for d in (choose(arch, None, None, None) for choose in
                           (choose_btc_wmma, choose_mma_and, choose_wgmma_and))]
    unsupported = [d.config.design for d in decisions if not d.supported]
    source = "built-in defaults (no results)"
    if unsupported:
        source += f"; {', '.join(unsupported)} unsupported on sm_{arch}"
    return ArchConfig(arch, source, (), (), SUITES, tuple(decisions), DEFAULTS_WHY[arch])


# ====================================================================== rendering

def c_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}\"\"" for b in ch.encode())
    return '"' + "".join(out) + '"'


def _comment_safe(text: str) -> str:
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)


def _wrap(text: str, width: int, prefix: str) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(prefix) + len(line) + 1 + len(word) > width:
            lines.append(prefix + line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(prefix + line)
    return lines


def _short_basis(d: Decision) -> str:
    kinds: dict[str, list[str]] = {}
    for b in d.basis:
        kinds.setdefault(b.kind, []).append(b.field)
    return "; ".join(f"{k}: {', '.join(v)}" for k, v in kinds.items())


def render_header(ac: ArchConfig) -> str:
    ns = f"sm{ac.arch}"
    lines = [
        f"// Generated by formats/select_config.py for sm_{ac.arch}. Do not edit.",
        *_wrap(f"Source: {_comment_safe(ac.source)}.", 100, "// "),
        f"// Why each value was chosen: bmm_config_sm{ac.arch}.md (same directory).",
        *_wrap(f"Regenerate: {REGEN_HINT}.", 100, "// "),
        "#pragma once",
        '#include "kernels/bmm/bmm_config.h"',
        "",
        f"namespace btc::bmm::generated::{ns} {{",
        "",
        f"inline constexpr const char* kSource = {c_string(ac.source)};",
    ]
    for d in ac.decisions:
        c = d.config
        lines.append("")
        lines.append(f"// {c.design}: " + ("UNSUPPORTED on this arch, placeholder values" if not d.supported
                                           else _comment_safe(_short_basis(d))) + ".")
        lines += [
            f"inline constexpr BmmConfig {d.const}{{",
            f"    /*design*/ {c_string(c.design)},",
            f"    /*instruction*/ {c_string(c.instruction)},",
            f"    /*a_layout*/ bits::Layout::{LAYOUT_ENUM[c.a_layout]},",
            f"    /*b_layout*/ bits::Layout::{LAYOUT_ENUM[c.b_layout]},",
            f"    /*block_m*/ {c.block_m},",
            f"    /*block_n*/ {c.block_n},",
            f"    /*block_k_bits*/ {c.block_k_bits},",
            f"    /*stages*/ {c.stages},",
            f"    /*warps*/ {c.warps}}};",
        ]
    lines += ["", f"}}  // namespace btc::bmm::generated::{ns}", ""]
    return "\n".join(lines)


def render_umbrella() -> str:
    lines = ["// Generated by formats/select_config.py. Do not edit.",
             "// The BMM kernel configuration of every arch: btc::bmm::generated::sm{75,80,90}.",
             *_wrap(f"Regenerate: {REGEN_HINT}.", 100, "// "),
             "#pragma once"]
    lines += [f'#include "bmm_config_sm{a}.h"' for a in ARCHES]
    return "\n".join(lines) + "\n"


def _md_cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return out


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "—" if value is None else format(value, spec) + suffix


def _ranking_lines(r: Ranking, chosen: str) -> list[str]:
    lines = [f"#### Ranked: {r.title}", "",
             f"Runs: `{r.query}`" + (f" in `{r.source}`" if r.source else "") + f". Order: {r.rule}.", ""]
    if not r.candidates:
        return lines + [f"No candidates: {r.absent or 'none measured'}.", ""]
    skipped = ([("Not measured (skipped by the suite): "
                 + "; ".join(f"`{f}` ({reason})" for f, reason in r.skipped) + "."), ""] if r.skipped else [])
    best = max(c.tops for c in r.candidates)
    is_instr = r.query.startswith("instr")
    if is_instr:
        header = ["rank", "form", "best TOPS, median [min–max]", "best config", "% of b1 peak",
                  "latency (cycles)", "vs best", "note"]
    else:
        header = ["rank", "layout (A + B)", "TOPS, median [min–max]", "vs best", "note"]
    rows = []
    for i, c in enumerate(r.candidates, 1):
        mark = f"**{i}** (chosen)" if c.name == chosen else str(i)
        tops = f"{c.tops:,.1f} [{c.lo:,.1f}–{c.hi:,.1f}]"
        vs = f"{100 * c.tops / best:.1f}%"
        if is_instr:
            rows.append([mark, f"`{c.name}`", tops, c.config, _fmt(c.pct_peak, ".1f"),
                         _fmt(c.latency_cycles, ".1f"), vs, c.note])
        else:
            rows.append([mark, f"`{_pair(c.a_layout, c.b_layout)}`", tops, vs, c.note])
    return lines + _md_table(header, rows) + [""] + skipped


def render_report(ac: ArchConfig) -> str:
    lines = [f"# BMM kernel configuration for sm_{ac.arch}", "",
             f"Generated by `formats/select_config.py` with `bmm_config_sm{ac.arch}.h`. Do not edit; "
             f"regenerate with {REGEN_HINT}.", "",
             f"**Source:** {ac.source}", ""]
    if ac.files:
        lines += _md_table(["suite", "file", "created (UTC)", "device", "cc", "git"],
                           [[f.suite, f"`{f.name}`", f.created_utc, f"{f.device} (`{f.slug}`)", f.cc, f.commit]
                            for f in ac.files])
        lines.append("")
        if ac.unused:
            lines += ["Older files of the same suites, not used (the newest file of each suite by "
                      "`btcbench.created_utc` decides): " + ", ".join(f"`{n}`" for n in ac.unused) + ".", ""]
        if ac.missing:
            lines += [f"No results for the suite(s) {', '.join(ac.missing)}: the values they would decide "
                      f"are defaults below.", ""]
        lines += ["Values marked *measured* were decided by the figures shown; *tie-break* is a rule applied "
                  "where the measurement does not separate the candidates; *fixed* is set by the design; "
                  "*default* is not measured by the suites yet.", ""]
    else:
        lines += ["**Defaults: not measured.** No results file was used for this arch; every value below is "
                  "a built-in default.", "", ac.defaults_why, ""]
    lines += ["## Summary", ""]
    lines += _md_table(["constant", "design", "instruction", "A layout", "B layout", "block M × N",
                        "block K bits", "stages", "warps", "status"],
                       [[f"`{d.const}`", d.config.design, f"`{d.config.instruction}`", f"`{d.config.a_layout}`",
                         f"`{d.config.b_layout}`", f"{d.config.block_m} × {d.config.block_n}",
                         d.config.block_k_bits, d.config.stages, d.config.warps,
                         "supported" if d.supported else f"unsupported on sm_{ac.arch} (placeholder)"]
                        for d in ac.decisions])
    lines.append("")
    for d in ac.decisions:
        lines += [f"## `{d.const}` ({d.config.design})", ""]
        lines += _md_table(["field", "value", "basis", "why"],
                           [[b.field, f"`{b.value}`" if b.value not in ("placeholder", "built-in") else b.value,
                             b.kind, b.why] for b in d.basis])
        lines.append("")
        for note in d.notes:
            lines += [note, ""]
        for r in d.rankings:
            chosen = d.config.instruction if r.query.startswith("instr") else next(
                (c.name for c in r.candidates if (c.a_layout, c.b_layout) == (d.config.a_layout, d.config.b_layout)),
                "")
            lines += _ranking_lines(r, chosen)
    return "\n".join(lines).rstrip("\n") + "\n"


def render(ac: ArchConfig) -> dict[str, str]:
    return {f"bmm_config_sm{ac.arch}.h": render_header(ac), f"bmm_config_sm{ac.arch}.md": render_report(ac)}


# ====================================================================== command line

def plan(args: argparse.Namespace) -> dict[str, str]:
    """File name -> content, for everything this invocation writes."""
    out = Path(args.out)
    files: dict[str, str] = {}
    if args.defaults:
        for arch in ([args.arch] if args.arch else ARCHES):
            files.update(render(defaults(arch)))
    else:
        if args.results_dir:
            newest, older = load_results(results_dir_files(args.results_dir), explicit=False)
            if not newest:
                raise SelectError(f"{args.results_dir}: no results files of the suites {', '.join(SUITES)}")
        else:
            newest, older = load_results(args.results, explicit=True)
        arch = detect_arch([*newest.values(), *older])
        if args.arch and args.arch != arch:
            raise SelectError(f"--arch {args.arch} given, but the results are from sm_{arch} devices")
        files.update(render(select(arch, newest, older)))
        for other in ARCHES:
            if other != arch and not (out / f"bmm_config_sm{other}.h").exists():
                files.update(render(defaults(other)))
    files["bmm_config.h"] = render_umbrella()
    return files


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="select_config.py",
        description="Rank BMM configurations from btcbench results and generate kernels/generated/.",
        epilog=f"Exit status: 0 ok, 1 --check found a stale file, 2 error. One command for the whole "
               f"loop: {REGEN_HINT.split(',')[0]}.")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--results-dir", metavar="DIR", help="results/<gpu-slug>: the newest file of each suite")
    src.add_argument("--results", metavar="FILE", nargs="+", help="results files (the newest of each suite is used)")
    src.add_argument("--defaults", action="store_true", help="built-in defaults for every arch (or --arch)")
    ap.add_argument("--arch", type=int, choices=ARCHES, help="the arch to generate (must match the results)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), metavar="DIR",
                    help="output directory (default: kernels/generated)")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if regenerating would change a file")
    args = ap.parse_args(argv)
    try:
        files = plan(args)
    except SelectError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    stale = []
    for name, content in files.items():
        path = out / name
        try:
            current = path.read_text() if path.exists() else None
        except (OSError, UnicodeDecodeError):
            current = None
        if current == content:
            continue
        stale.append(path)
        if not args.check:
            out.mkdir(parents=True, exist_ok=True)
            br.write_atomic(path, content)
            print(f"{PROG}: wrote {path}")
    if args.check:
        for path in stale:
            print(f"{PROG}: {path} is out of date (regenerate: {REGEN_HINT})", file=sys.stderr)
        if not stale:
            print(f"{PROG}: {len(files)} files up to date in {out}")
        return 1 if stale else 0
    if not stale:
        print(f"{PROG}: {len(files)} files unchanged in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
