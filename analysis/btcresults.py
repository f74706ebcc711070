"""Load and validate btcbench results files (schema ``btcbench.results.v1``).

A results file is a Google Benchmark JSON tree plus a top-level ``btcbench``
object; docs/results-schema.md is the contract. ``load`` checks that contract
and ``medians`` turns the repetition entries into one row per run.
"""
from __future__ import annotations

import json
import math
import os
import re
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

SCHEMA = "btcbench.results.v1"
# The largest file load() reads: a full sweep writes a few MiB, so a file this
# big is not one of ours (harness/core/results.h: kMaxResultsFileBytes, the same).
MAX_RESULTS_BYTES = 256 << 20
# Form groups, in the order reports show them.
GROUPS = ("xor", "and", "wgmma", "reference")
FORM_STATUSES = ("measured", "skipped")
# Suites whose benchmark-name grammar this module knows; other suites still
# load (so tools can report and skip them) but their names are not checked.
# 'instr' has its own grammar (parse_name); the others use the generic one,
# '<suite>/<form>/<key>:<value>/.../manual_time', with these keys in this order.
GENERIC_NAME_KEYS: dict[str, tuple[str, ...]] = {"stride": ("mode", "ldm"), "layout": ("layout",),
                                                 "bmm": ("m", "n", "k", "out")}
NAME_GRAMMAR_SUITES = ("instr", *GENERIC_NAME_KEYS)
# Suites whose btcbench.forms keys join the name's <form> and the values of
# these keys with '_': 'layout/wmma_and/layout:tile8x128/manual_time' runs the
# form 'wmma_and_tile8x128' (an engine with a layout).
FORM_KEY_PARAMS: dict[str, tuple[str, ...]] = {"layout": ("layout",)}
# Suites whose forms are instruction forms (group, dtype, ...); other suites'
# forms describe other things (the stride suite's are load paths, the layout
# suite's engine and layout pairs, the bmm suite's BMM designs) and need only
# a status.
INSTRUCTION_FORM_SUITES = ("instr",)

# Keys Google Benchmark itself writes on a run entry; every other plain
# number on an entry is a user counter.
_GB_KEYS = frozenset({
    "name", "family_index", "per_family_instance_index", "run_name",
    "run_type", "repetitions", "repetition_index", "threads", "iterations",
    "real_time", "cpu_time", "time_unit", "aggregate_name", "aggregate_unit",
    "error_occurred", "error_message", "skipped", "skip_message", "label",
    "big_o", "rms", "complexity_n",
})

# mkstemp creates 0600 files; reports should get the usual umask-based mode.
_UMASK = os.umask(0)
os.umask(_UMASK)

_NAME_RE = re.compile(
    r"(?:lat/(?P<lat_form>[A-Za-z0-9_]+)"
    r"|tput/(?P<tput_form>[A-Za-z0-9_]+)"
    r"/wps:(?P<wps>[1-9][0-9]*)/ilp:(?P<ilp>[1-9][0-9]*))"
    r"/manual_time")
_GENERIC_NAME_RE = re.compile(
    r"(?P<kind>[A-Za-z0-9_]+)/(?P<form>[A-Za-z0-9_]+)"
    r"(?P<params>(?:/[A-Za-z_][A-Za-z0-9_]*:[A-Za-z0-9_.+-]+)*)"
    r"/manual_time")


class ResultsError(ValueError):
    """A results file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class BenchName:
    kind: str          # 'lat' | 'tput'
    form: str
    wps: int | None    # warps per SM; tput only
    ilp: int | None    # independent accumulators per warp; tput only


@dataclass(frozen=True)
class Form:
    name: str
    group: str         # one of GROUPS
    dtype: str         # key into btcbench.peaks
    ptx: str
    ops_per_inst: float | None
    status: str        # 'measured' | 'skipped'
    inst_metric: str   # CUPTI metric counting this form's tensor instructions


@dataclass(frozen=True)
class Results:
    path: Path
    suite: str
    meta: dict[str, Any]               # the raw "btcbench" object
    benchmarks: list[dict[str, Any]]   # the raw Google Benchmark entries
    forms: dict[str, Form]             # file order

    @property
    def device(self) -> dict[str, Any]:
        return self.meta["device"]

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """(form, reason) pairs from btcbench.skipped; a skip of one
        configuration of a form names it: "wps:16/ilp:1: <reason>"."""
        return [(str(s.get("form", "?")),
                 (f"{s['config']}: " if s.get("config") else "") + str(s.get("reason", "")))
                for s in self.meta.get("skipped") or [] if isinstance(s, dict)]


@dataclass(frozen=True)
class RunSummary:
    """One benchmark run (all its repetitions) reduced to median and spread."""
    run_name: str
    median_time: float
    min_time: float
    max_time: float
    time_unit: str
    repetitions: int
    counters: dict[str, float]   # from the median aggregate

    @property
    def bench(self) -> BenchName:
        return parse_name(self.run_name)

    def counter(self, key: str) -> float | None:
        return self.counters.get(key)


@dataclass(frozen=True)
class GenericName:
    """A name in the generic grammar '<kind>/<form>/<key>:<value>/.../manual_time'."""
    kind: str
    form: str
    params: tuple[tuple[str, str], ...]   # (key, value) in name order

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.params)

    def param(self, key: str) -> str | None:
        return next((v for k, v in self.params if k == key), None)


def parse_generic_name(name: str) -> GenericName:
    """Parse a run name (no aggregate suffix) in the generic grammar;
    ValueError if it is off-grammar or repeats a key."""
    m = _GENERIC_NAME_RE.fullmatch(name)
    if m is None:
        raise ValueError(f"benchmark name {name!r} does not match "
                         f"'<kind>/<form>/<key>:<value>/.../manual_time'")
    params = tuple(tuple(p.split(":", 1)) for p in m["params"].split("/")[1:])
    keys = [k for k, _ in params]
    if len(set(keys)) != len(keys):
        raise ValueError(f"benchmark name {name!r} repeats a key")
    return GenericName(m["kind"], m["form"], params)   # type: ignore[arg-type]


def _name_form(suite: str, name: str) -> str:
    """The btcbench.forms key a run name of a NAME_GRAMMAR_SUITES suite names;
    ValueError if off-grammar."""
    if suite not in GENERIC_NAME_KEYS:
        return parse_name(name).form
    bench = parse_generic_name(name)
    keys = GENERIC_NAME_KEYS[suite]
    if bench.kind != suite or bench.keys != keys:
        raise ValueError(
            f"benchmark name {name!r} does not match '{suite}/<form>/"
            + "/".join(f"{k}:<{k}>" for k in keys) + "/manual_time'")
    return "_".join([bench.form, *(str(bench.param(k)) for k in FORM_KEY_PARAMS.get(suite, ()))])


def parse_name(name: str) -> BenchName:
    """Parse a run name (no aggregate suffix); ValueError if it is off-grammar."""
    m = _NAME_RE.fullmatch(name)
    if m is None:
        raise ValueError(
            f"benchmark name {name!r} matches neither 'lat/<form>/manual_time' "
            f"nor 'tput/<form>/wps:<n>/ilp:<n>/manual_time'")
    if m["lat_form"]:
        return BenchName("lat", m["lat_form"], None, None)
    return BenchName("tput", m["tput_form"], int(m["wps"]), int(m["ilp"]))


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def run_name_of(entry: dict[str, Any]) -> str:
    """The run an entry belongs to; older writers lack run_name, so strip the
    '_<aggregate>' suffix Google Benchmark appends to aggregate names."""
    if isinstance(entry.get("run_name"), str):
        return entry["run_name"]
    name = entry["name"]
    agg = entry.get("aggregate_name")
    if entry.get("run_type") == "aggregate" and agg and name.endswith("_" + agg):
        return name[: -len(agg) - 1]
    return name


def is_error_entry(entry: dict[str, Any]) -> bool:
    # GB <= 1.7 writes error_occurred; later versions may write skipped.
    return bool(entry.get("error_occurred") or entry.get("skipped"))


def lookup(obj: Any, dotted: str) -> Any:
    """obj["a"]["b"] for "a.b", or None where any level is missing or not an object."""
    for key in dotted.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _check_entry(i: int, entry: object) -> str | None:
    """Problem with one benchmarks[] entry, or None. The rules and messages of
    harness/core/results.cpp (check_entry); tests/fixtures/validate checks both."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        return f"benchmarks[{i}] is not an object with a string 'name'"
    where = f"benchmark '{entry['name']}'"
    run_type = entry.get("run_type", "iteration")
    if run_type not in ("iteration", "aggregate"):
        return f"{where}: unknown run_type {run_type!r}"
    if run_type == "aggregate" and not isinstance(entry.get("aggregate_name"), str):
        return f"{where}: aggregate entry without 'aggregate_name'"
    errored = is_error_entry(entry)
    if not errored:
        if not _is_number(entry.get("real_time")):
            return f"{where}: 'real_time' missing or not a number"
        if not isinstance(entry.get("time_unit"), str):
            return f"{where}: 'time_unit' missing"
        for key in ("real_time", "cpu_time"):
            if _is_number(entry.get(key)) and not math.isfinite(entry[key]):
                return f"{where}: '{key}' is not a finite number"
    # Times, iterations, counters, cupti.* values: none can be below 0. NaN
    # passes: a ratio counter with a zero denominator.
    for key, value in entry.items():
        if _is_number(value) and value < 0:
            return f"{where}: '{key}' is negative ({value:g})"
    if not errored:
        # Times are positive; only stddev and cv (a fraction) may be zero.
        is_spread = entry.get("aggregate_name") in ("stddev", "cv")
        if entry["real_time"] == 0 and not is_spread:
            return f"{where}: 'real_time' is 0, not a positive time"
    return None


def _check_form(name: str, form: object, suite: str) -> str | None:
    if not isinstance(form, dict):
        return f"btcbench.forms[{name!r}] is not an object"
    if suite not in INSTRUCTION_FORM_SUITES:
        if form.get("status") not in FORM_STATUSES:
            return (f"btcbench.forms[{name!r}].status is {form.get('status')!r}; "
                    f"expected one of {', '.join(FORM_STATUSES)}")
        return None
    if form.get("group") not in GROUPS:
        return (f"btcbench.forms[{name!r}].group is {form.get('group')!r}; "
                f"expected one of {', '.join(GROUPS)}")
    if form.get("status") not in FORM_STATUSES:
        return (f"btcbench.forms[{name!r}].status is {form.get('status')!r}; "
                f"expected one of {', '.join(FORM_STATUSES)}")
    if not isinstance(form.get("dtype"), str):
        return f"btcbench.forms[{name!r}].dtype missing"
    return None


# What a result cannot be read without, as harness/core/results.cpp requires
# it: (dotted key under btcbench, expected type); "text" is a non-empty
# string, "number?" a number or null (NVML absent), "args" a non-empty list
# of strings.
_REQUIRED_META: tuple[tuple[str, str], ...] = (
    ("suite", "text"), ("created_utc", "str"), ("command_line", "args"),
    ("git", "object"), ("git.commit", "text"),
    ("device", "object"), ("device.name", "text"), ("device.slug", "text"), ("device.cc", "str"),
    ("device.sm_count", "number"), ("device.sm_clock_max_mhz", "number"),
    ("device.sm_clock_at_start_mhz", "number?"), ("device.driver_version", "text"),
    ("device.cuda_runtime", "number"),
    ("counters", "object"), ("counters.enabled", "bool"), ("forms", "object"), ("skipped", "list"),
)
_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "text": lambda v: isinstance(v, str), "str": lambda v: isinstance(v, str),
    "args": lambda v: isinstance(v, list) and all(isinstance(a, str) for a in v),
    "object": lambda v: isinstance(v, dict), "list": lambda v: isinstance(v, list),
    "number": _is_number, "number?": lambda v: v is None or _is_number(v),
    "bool": lambda v: isinstance(v, bool),
}


def _check_metadata(doc: dict[str, Any], meta: dict[str, Any]) -> str | None:
    stop = meta.get("stopped_early")
    if stop is not None and not (isinstance(stop, dict) and isinstance(stop.get("reason"), str)
                                 and _is_number(stop.get("after_s"))):
        return "'btcbench.stopped_early' must be {reason: string, after_s: number}"
    for dotted, kind in _REQUIRED_META:
        parent_key, _, key = dotted.rpartition(".")
        parent = lookup(meta, parent_key) if parent_key else meta
        if not isinstance(parent, dict):
            continue   # the parent's own problem was reported
        if key not in parent:
            return f"missing 'btcbench.{dotted}'"
        value = parent[key]
        if not _TYPE_CHECKS[kind](value):
            return f"'btcbench.{dotted}' has the wrong type"
        if kind in ("text", "args") and not value:
            return f"'btcbench.{dotted}' is empty"
    if not isinstance(doc.get("context"), dict):
        return "missing 'context'" if "context" not in doc else "'context' has the wrong type"
    if not isinstance(doc.get("benchmarks"), list):
        return "missing 'benchmarks'" if "benchmarks" not in doc else "'benchmarks' has the wrong type"
    return None


def _validate(doc: object) -> str | None:
    """First problem with a parsed results document, or None."""
    if not isinstance(doc, dict):
        return "top level is not a JSON object"
    meta = doc.get("btcbench")
    if not isinstance(meta, dict):
        return "not a btcbench results file (no 'btcbench' object); a plain Google Benchmark file?"
    schema = meta.get("schema")
    if schema is None:
        return "missing btcbench.schema"
    if schema != SCHEMA:
        return f"unsupported schema {schema!r} (this tool reads only {SCHEMA!r})"
    if problem := _check_metadata(doc, meta):
        return problem
    for name, form in meta["forms"].items():
        if problem := _check_form(name, form, meta["suite"]):
            return problem
    for i, entry in enumerate(doc["benchmarks"]):
        if problem := _check_entry(i, entry):
            return problem
        if meta["suite"] in NAME_GRAMMAR_SUITES:
            try:
                form = _name_form(meta["suite"], run_name_of(entry))
            except ValueError as e:
                return str(e)
            if form not in meta["forms"]:
                return (f"benchmark {entry['name']!r} names form {form!r}, "
                        f"which btcbench.forms does not list")
    return None


def load(path: str | os.PathLike[str], max_bytes: int = MAX_RESULTS_BYTES) -> Results:
    """Read and validate a results file; ResultsError names the file and the problem.
    A directory, an empty file and one over max_bytes each get their own message."""
    path = Path(path)
    # Each of these gets its own message: the JSON parser's would mislead.
    if path.is_dir():
        raise ResultsError(f"{path} is a directory, not a results file")
    try:
        size = path.stat().st_size
        if path.is_file() and size == 0:
            raise ResultsError(f"{path} is empty (0 bytes), not a results file")
        if path.is_file() and size > max_bytes:
            raise ResultsError(f"{path} is {size} bytes, over the {max_bytes}-byte limit for a results file")
        raw = path.read_bytes()
    except OSError as e:
        raise ResultsError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as e:   # JSONDecodeError, bad UTF-8
        raise ResultsError(f"{path}: not valid JSON ({e})") from None
    if problem := _validate(doc):
        raise ResultsError(f"{path}: {problem}")
    meta = doc["btcbench"]
    # Forms of suites outside INSTRUCTION_FORM_SUITES may lack group and dtype
    # (their raw objects stay in meta["forms"]).
    forms = {
        name: Form(name=name, group=str(f.get("group") or ""), dtype=str(f.get("dtype") or ""),
                   ptx=str(f.get("ptx", "")),
                   ops_per_inst=f["ops_per_inst"] if _is_number(f.get("ops_per_inst")) else None,
                   status=f["status"],
                   inst_metric=str(f.get("tensor_inst_metric")
                                   or _infer_inst_metric(name, str(f.get("dtype") or ""))))
        for name, f in meta["forms"].items()
    }
    return Results(path=path, suite=meta["suite"], meta=meta,
                   benchmarks=doc["benchmarks"], forms=forms)


def _infer_inst_metric(form: str, dtype: str) -> str:
    """For files written before forms carried `tensor_inst_metric`: wgmma counts
    on the gmma pipe, f16 on hmma, b1 (BMMA) and s8 on imma."""
    pipe = "gmma" if form.startswith("wgmma") else "hmma" if dtype == "f16" else "imma"
    return f"sm__inst_executed_pipe_tensor_op_{pipe}.sum"


def _counters(entry: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in entry.items() if k not in _GB_KEYS and _is_number(v)}


def _summarise(run_name: str, entries: list[dict[str, Any]]) -> RunSummary | None:
    aggs = {e["aggregate_name"]: e for e in entries if e.get("run_type") == "aggregate"}
    iters = [e for e in entries if e.get("run_type", "iteration") == "iteration"]
    iter_times = [float(e["real_time"]) for e in iters]
    if "median" in aggs:
        median_time = float(aggs["median"]["real_time"])
        counters = _counters(aggs["median"])
    elif iters:
        median_time = statistics.median(iter_times)
        keys = dict.fromkeys(k for e in iters for k in _counters(e))   # ordered union
        counters = {k: statistics.median(c[k] for c in map(_counters, iters) if k in c)
                    for k in keys}
    else:
        return None   # e.g. only mean/stddev aggregates: nothing to report honestly

    def bound(agg: str, pick: Callable[[list[float]], float]) -> float:
        # Prefer GB's own min/max aggregate; else the iterations; else no spread.
        if agg in aggs:
            return float(aggs[agg]["real_time"])
        return pick(iter_times) if iter_times else median_time

    unit_source = aggs.get("median") or iters[0]
    repetitions = len(iters) or int(unit_source.get("repetitions", 1))
    return RunSummary(run_name=run_name, median_time=median_time,
                      min_time=bound("min", min), max_time=bound("max", max),
                      time_unit=unit_source["time_unit"], repetitions=repetitions,
                      counters=counters)


def medians(results: Results) -> list[RunSummary]:
    """One row per run_name (file order), from the median/min/max aggregates,
    or computed over the iteration entries where the file has no aggregates.
    Entries that report an error are left out (see errored_runs)."""
    by_run: dict[str, list[dict[str, Any]]] = {}
    for entry in results.benchmarks:
        if not is_error_entry(entry):
            by_run.setdefault(run_name_of(entry), []).append(entry)
    rows = (_summarise(name, entries) for name, entries in by_run.items())
    return [row for row in rows if row is not None]


def errored_runs(results: Results) -> dict[str, str]:
    """run_name -> error message, for runs with an entry that reported an error."""
    return {run_name_of(e): str(e.get("error_message") or e.get("skip_message") or "error")
            for e in results.benchmarks if is_error_entry(e)}


# How far above device.sm_clock_max_mhz the in-kernel clock (clock64 over
# %globaltimer) may read before it is suspect: globaltimer's granularity over a
# ~2 ms launch (harness/core/gpu_conditions.h: kSuspectClockSlack, the same).
SUSPECT_CLOCK_SLACK = 0.02


def suspect_clocks(results: Results) -> dict[str, float]:
    """run_name -> its median measured SM clock (MHz), for the runs whose clock
    reads above the GPU's maximum by more than SUSPECT_CLOCK_SLACK, or that the
    harness flagged (`suspect_clock` 1). Files written before the flag existed
    are judged by the same rule."""
    max_mhz = results.device.get("sm_clock_max_mhz")
    out = {}
    for run in medians(results):
        clock = run.counter("sm_clock_mhz")
        if clock is None:
            continue
        flagged = run.counter("suspect_clock")
        above = _is_number(max_mhz) and max_mhz > 0 and clock > max_mhz * (1 + SUSPECT_CLOCK_SLACK)
        if (flagged is not None and flagged > 0) or (flagged is None and above):
            out[run.run_name] = clock
    return out


def throttled_runs(results: Results) -> dict[str, str]:
    """run_name -> the throttle reasons NVML reported while its repetitions ran
    (the union over its entries' `throttle_reasons`, sorted), for runs with any."""
    reasons: dict[str, set[str]] = {}
    for entry in results.benchmarks:
        text = entry.get("throttle_reasons")
        if isinstance(text, str) and text:
            reasons.setdefault(run_name_of(entry), set()).update(r for r in text.split(",") if r)
    return {run: ",".join(sorted(r)) for run, r in reasons.items()}


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write via a temp file in the same directory + os.replace, so readers
    never see a half-written report."""
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
