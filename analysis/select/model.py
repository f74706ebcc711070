"""The selection's data: the facts it copies from formats/layout.h, the
BmmConfig it emits, the results it reads (instr forms, bmm designs) through
their structured fields, and loading (which file of each suite is used).

Nothing here ranks or chooses (rules.py) or writes text (emit_*.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from analysis import btcresults as br

REPO = Path(__file__).resolve().parents[2]
PROG = "analysis.select"
ARCHES = (75, 80, 90)
# The suites the selection reads; a results folder may hold others (ignored there).
SUITES = ("instr", "stride", "layout", "bmm")
NEWEST_SUITES = ("instr", "stride", "layout")   # the newest file of each decides
TIE = 0.02   # "within 2%": a rate >= (1 - TIE) * the best
EPS = 1e-12  # so that exactly 2% below counts as within 2% despite rounding
DEFAULT_OUT = REPO / "kernels" / "generated"
REGEN_HINT = ("scripts/regenerate_config.sh (sweep -> select -> rebuild), or "
              "python3 -m analysis.select --results-dir results/<gpu-slug>")

# ---------------------------------------------------------------- facts of formats/layout.h
# (tests/select checks both tables against layout.h)

# textual name (bits::name()) -> enumerator.
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
# K bits of one box of each wgmma layout (box_k_of): a K stage must be whole
# boxes (one contiguous run per operand, one bulk copy).
WGMMA_BOX_K = {"wgmma_interleave": 256, "wgmma_swizzle32": 256, "wgmma_swizzle64": 512, "wgmma_swizzle128": 1024}
WGMMA_LAYOUTS = tuple(WGMMA_BOX_K)
WGMMA_SWIZZLES = ("wgmma_swizzle32", "wgmma_swizzle64", "wgmma_swizzle128")

# ---------------------------------------------------------------- the designs

DESIGNS = ("btc_wmma", "mma_and", "wgmma_and")
DESIGN_CONST = {"btc_wmma": "kBtcWmma", "mma_and": "kMmaAnd", "wgmma_and": "kWgmmaAnd"}
# Minimum arch of each design: sm_75 has no b1 mma.sync m16n8k256 (sm_80) and
# no wgmma (sm_90a).
DESIGN_MIN_ARCH = {"btc_wmma": 75, "mma_and": 80, "wgmma_and": 90}
UNSUPPORTED_WHY = {"mma_and": "b1 mma.sync m16n8k256 needs sm_80", "wgmma_and": "wgmma needs sm_90a"}


class SelectError(Exception):
    """A problem that stops selection; one line, naming the file where there is one."""


@dataclass(frozen=True)
class Config:
    """BmmConfig (kernels/config/bmm_config.h), field for field and in its order;
    layouts by name."""
    a_layout: str
    b_layout: str
    block_m: int
    block_n: int
    block_k_bits: int
    stages: int
    warps: int
    cluster_m: int = 1
    cluster_n: int = 1

    @property
    def cluster_size(self) -> int:
        return self.cluster_m * self.cluster_n


CONFIG_FIELDS = tuple(f.name for f in fields(Config))
CONFIG_INT_FIELDS = CONFIG_FIELDS[2:]

# ---------------------------------------------------------------- what was ranked, and why


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
    n: int = 0                       # instruction forms: forms[name].n
    a_source: str = ""               # instruction forms: forms[name].a_source, 'smem' | 'reg'
    config: str = ""                 # instr: the best tput config, "wps 8, ilp 8"
    pct_peak: float | None = None
    latency_cycles: float | None = None
    note: str = ""                   # why it ranks where it does, beyond the figure


@dataclass(frozen=True)
class Ranking:
    title: str                       # e.g. "mma_and instruction forms"
    query: str                       # which runs, e.g. "instr: tput/<mma.sync b1 AND forms>"
    source: str | None               # results file name; None where the suite is missing
    rule: str                        # how the list is ordered
    candidates: tuple[Candidate, ...]
    absent: str = ""                 # why it is empty, where it is
    skipped: tuple[tuple[str, str], ...] = ()   # (form, reason): matching forms the suite skipped


@dataclass(frozen=True)
class BmmPoint:
    """One problem of a bmm candidate's ranking: median TOPS [min, max]."""
    size: int                        # M = N = K
    out: str                         # 'int32' | 'bits'
    tops: float
    lo: float
    hi: float


@dataclass(frozen=True)
class MeasuredCandidate:
    """A wgmma_and candidate design of a bmm file, with its ranking figure:
    the geometric mean of the points' median TOPS (lo/hi: of their spreads)."""
    name: str                        # the design's name in the file (opaque)
    config: Config
    points: tuple[BmmPoint, ...]
    tops: float
    lo: float
    hi: float
    smem_bytes: int
    in_table: bool                   # one of today's candidate rows
    note: str = ""


@dataclass(frozen=True)
class BmmRanking:
    source: str                      # bmm results file name
    commit: str                      # git label of the build that ran it
    device: str
    created_utc: str
    points: tuple[tuple[int, str], ...]   # (size, out) every candidate was ranked over
    rule: str
    candidates: tuple[MeasuredCandidate, ...]   # the chosen one first
    excluded: tuple[MeasuredCandidate, ...] = ()   # measured, but not buildable today (note says why)


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
    design: str                      # btc_wmma | mma_and | wgmma_and
    instruction: str                 # the instr form the kernel issues (a label: not in the C++ struct)
    config: Config
    supported: bool
    basis: tuple[Basis, ...]
    rankings: tuple[Ranking, ...] = ()
    notes: tuple[str, ...] = ()      # supporting figures and remarks (not deciding)
    selected_design: str = ""        # the bmm-suite design this config builds, where it says which
    bmm: BmmRanking | None = None    # kWgmmaAnd: the measured candidates, where there are any


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
    unused: tuple[str, ...]          # older instr/stride/layout files seen but not used
    missing: tuple[str, ...]         # suites without a file used
    decisions: tuple[Decision, ...]
    defaults_why: str = ""           # for a no-results config
    bmm_unused: tuple[str, ...] = ()   # bmm files seen but not used (no candidates, or older)


# ---------------------------------------------------------------- instr forms, by their fields

@dataclass(frozen=True)
class InstrForm:
    """btcbench.forms[name] of an instr file (docs/results-schema.md)."""
    name: str
    engine: str          # the PTX instruction's family: 'wmma' | 'mma' | 'wgmma' (first word of ptx)
    group: str           # xor | and | wgmma | reference
    dtype: str
    m: int
    n: int
    k: int
    a_source: str        # 'smem' | 'reg'
    min_sm: int
    needs_sm90a: bool
    status: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.m, self.n, self.k


A_SOURCES = ("smem", "reg")


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def instr_forms(results: Any) -> dict[str, InstrForm]:
    """Every form of an instr file, read through its fields (never its name);
    SelectError naming the file and form where a field is missing or ill-typed."""
    out = {}
    for name, raw in results.meta["forms"].items():
        where = f"{results.path}: btcbench.forms[{name!r}]"
        for key in ("m", "n", "k", "min_sm"):
            if not _positive_int(raw.get(key)):
                raise SelectError(f"{where}.{key} is {raw.get(key)!r}, not a positive integer")
        if raw.get("a_source") not in A_SOURCES:
            raise SelectError(f"{where}.a_source is {raw.get('a_source')!r}, not one of {', '.join(A_SOURCES)}")
        if not isinstance(raw.get("needs_sm90a"), bool):
            raise SelectError(f"{where}.needs_sm90a is {raw.get('needs_sm90a')!r}, not true or false")
        ptx = raw.get("ptx")
        if not isinstance(ptx, str) or not ptx:
            raise SelectError(f"{where}.ptx is {ptx!r}, not the instruction")
        out[name] = InstrForm(name=name, engine=ptx.split(".", 1)[0], group=str(raw["group"]),
                              dtype=str(raw["dtype"]), m=raw["m"], n=raw["n"], k=raw["k"],
                              a_source=raw["a_source"], min_sm=raw["min_sm"],
                              needs_sm90a=raw["needs_sm90a"], status=str(raw["status"]))
    return out


# ---------------------------------------------------------------- bmm designs, by their fields

@dataclass(frozen=True)
class BmmDesign:
    """btcbench.forms[name] of a bmm file. arch, candidate and config are set
    by the designs built from a BmmConfig (absent for the baselines)."""
    name: str
    family: str
    status: str
    arch: int | None
    candidate: bool
    config: Config | None


def _config_of(raw: object, where: str) -> Config:
    if not isinstance(raw, dict):
        raise SelectError(f"{where}.config is {raw!r}, not an object")
    for key in ("a_layout", "b_layout"):
        if raw.get(key) not in LAYOUT_ENUM:
            raise SelectError(f"{where}.config.{key} is {raw.get(key)!r}, not a layout of formats/layout.h")
    for key in CONFIG_INT_FIELDS:
        if not _positive_int(raw.get(key)):
            raise SelectError(f"{where}.config.{key} is {raw.get(key)!r}, not a positive integer")
    return Config(**{key: raw[key] for key in CONFIG_FIELDS})


def bmm_designs(results: Any) -> dict[str, BmmDesign]:
    """Every design of a bmm file; SelectError where a candidate's fields are
    missing or ill-typed (a baseline's absent config is fine)."""
    out = {}
    for name, raw in results.meta["forms"].items():
        where = f"{results.path}: btcbench.forms[{name!r}]"
        candidate = raw.get("candidate", False)
        if not isinstance(candidate, bool):
            raise SelectError(f"{where}.candidate is {candidate!r}, not true or false")
        arch = raw.get("arch")
        if arch is not None and not _positive_int(arch):
            raise SelectError(f"{where}.arch is {arch!r}, not an arch number like 90")
        if candidate and arch is None:
            raise SelectError(f"{where}: a candidate without an arch")
        config = _config_of(raw.get("config"), where) if candidate or "config" in raw else None
        out[name] = BmmDesign(name, str(raw.get("family", "")), str(raw["status"]), arch, candidate, config)
    return out


def wgmma_candidates(results: Any, arch: int) -> list[BmmDesign]:
    """The measured wgmma_and candidate designs of `arch` in a bmm file (file order)."""
    return [d for d in bmm_designs(results).values()
            if d.candidate and d.family == "wgmma_and" and d.status == "measured" and d.arch == arch]


# ---------------------------------------------------------------- loading

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


def created(results: Any) -> str:
    value = results.meta.get("created_utc")
    try:
        if not isinstance(value, str):
            raise ValueError
        _parse_utc(value)
    except ValueError:
        raise SelectError(f"{results.path}: btcbench.created_utc is {value!r}, "
                          f"not an ISO 8601 UTC time") from None
    return value


def created_key(results: Any) -> tuple[datetime, str]:
    """Newest last: created_utc, then the file name where two files share it."""
    return _parse_utc(created(results)), results.path.name


def git_label(results: Any) -> str:
    describe = br.lookup(results.meta, "git.describe")
    commit = br.lookup(results.meta, "git.commit")
    return str(describe or (str(commit)[:7] if commit else "") or "—")


def load_file(path: str | Path) -> Any:
    """btcresults.load, with its error as a SelectError (one line, naming the file)."""
    try:
        return br.load(path)
    except br.ResultsError as e:
        raise SelectError(" ".join(str(e).split())) from None


def load_results(paths: Sequence[str | Path], *, explicit: bool) -> list[Any]:
    """Load and check every file; return those of the suites read here. A
    file of another suite is an error when named explicitly and ignored in a
    directory (later suites share results/<gpu-slug>/)."""
    loaded = []
    for p in paths:
        r = load_file(p)
        created(r)
        arch_of_cc(r.device.get("cc"), str(r.path))
        if r.suite not in SUITES:
            if explicit:
                raise SelectError(f"{r.path}: suite {r.suite!r} is not one {PROG} reads "
                                  f"({', '.join(SUITES)})")
            continue
        if r.suite == "instr":
            instr_forms(r)
        elif r.suite == "bmm":
            bmm_designs(r)
        loaded.append(r)
    return loaded


def pick_files(loaded: Sequence[Any], arch: int) -> tuple[dict[str, Any], list[Any], list[Any]]:
    """(the file used of each suite, older instr/stride/layout files, bmm files
    not used). instr, stride, layout: the newest by created_utc. bmm: the
    newest that has measured wgmma_and candidates of `arch`."""
    used: dict[str, Any] = {}
    for r in sorted(loaded, key=created_key):
        if r.suite in NEWEST_SUITES or (r.suite == "bmm" and wgmma_candidates(r, arch)):
            used[r.suite] = r
    older = [r for r in loaded if r.suite in NEWEST_SUITES and used.get(r.suite) is not r]
    bmm_unused = [r for r in loaded if r.suite == "bmm" and used.get("bmm") is not r]
    return used, older, bmm_unused


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


def device_of(*results: Any | None) -> Mapping[str, Any] | None:
    return next((r.device for r in results if r is not None), None)
