"""Report for the 'net' suite: binarized networks end to end (models/), the
tensor-core designs (`impl:btc`) beside software popcount (`impl:popc`,
SBNN's BConv-64 / BMM-64) on the same model, batch by batch. Plots beside the
results file: images/s over the batch per model (<stem>.net_throughput.png),
the forward's time per layer at each model's paper batch
(<stem>.net_layers.png) and the in situ observer's overhead
(<stem>.net_insitu.png), and a markdown report (<stem>.md) with the published
figures (TCBNN, SBNN) as reference columns, the goals of issue 11 and the in
situ overhead goal of issue 13. The full-precision `resnet18-fp16` runs as
`impl:cudnn` (its convs on cuDNN, in a CUDA graph), the yardstick of the
binary ResNet-18s.

usage: python3 -m analysis.net_report RESULTS.json [--out DIR] [--baseline TORCH.json ...]

--baseline (repeatable) sets the forwards of another net file of the same GPU,
such as a PyTorch baseline (python3 -m analysis.torch_baseline), beside this
file's: its impls are extra columns of a model's table and extra lines of its
plot, each marked with the file it comes from.

Also written through analysis.report (python3 -m analysis.report RESULTS.json),
which is what rebuild_all runs; both add the measurement-conditions section,
analysis.report the paper's sections too (none for this suite).
Exit status: 0 ok, 1 a missing, corrupt or other-suite input, a baseline of
another GPU or an unwritable output (one line on stderr), 2 usage.

The file is what harness/suites/net_suite.cpp writes: per (model, batch, impl)
a timed forward `net/<model>/batch:<N>/impl:<impl>` (repetitions, the time of
an iteration one forward of the batch, from CUDA-graph replays unless counters
were on) and a per-step breakdown `.../layers` (each step launched alone), the
planned network in btcbench.forms["<model>/batch:<N>/impl:<impl>"] (layers,
steps, the DRAM floor of each step), the measured DRAM bandwidth in
btcbench.peaks.dram_copy; points that could not be planned (out of memory)
are entries with an error. The in situ overhead points are
`insitu/<model>/batch:<N>/observer:<none|every<K>>` (the btc network, timed as
windows of K back-to-back graph replays, the observer attached or not; the
observed run's counters are the observer's counts). This module reads no file
it is not given.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from matplotlib import colormaps
from matplotlib.ticker import FuncFormatter, NullLocator

from analysis import btcresults as br
from analysis import report_common as rc
from analysis.report_common import DASH

SUITE = "net"
PROG = "python3 -m analysis.net_report"
BTC, POPC, CUDNN = "btc", "popc", "cudnn"
IMPLS = (BTC, POPC, CUDNN)   # the sweep's (net_suite.cpp: kImpls); others follow in file order
# The sweep's models in its order (net_suite.cpp: sweep_models); others follow in file order.
MODELS = ("resnet18-bireal", "resnet18-fp16", "resnet18-tcbnn", "alexnet", "vgg16", "cifar10-vgg", "cifar10-resnet14",
          "mnist-mlp")
# The batch of each model's published figures: the `batch` line of models/<model>.model.
# resnet18-bireal has none (Bi-Real Net publishes accuracy, not speed): its
# breakdown and popc goal take the largest measured batch.
PAPER_BATCH = {"resnet18-tcbnn": 512, "alexnet": 512, "vgg16": 512, "cifar10-vgg": 512,
               "cifar10-resnet14": 512, "mnist-mlp": 32768}
# The forward's first step, the image quantized for the stem: a bar segment of its own.
INPUT_STEP = "input/quantize"
# Every step of the input's (input/quantize; input/to_half before a half-precision stem).
INPUT_PREFIX = "input/"
TOP_STEPS = 8          # rows of the largest-steps table per model
STREAM_MARK = "‡"      # beside a figure timed from stream launches, not graph replays


@dataclass(frozen=True)
class Published:
    """A published figure set beside one of our models."""
    system: str                 # whose figure
    model: str                  # our model it is set beside
    gpu: str
    latency_ms: float | None    # batch 1
    images_per_s: float | None
    batch: int | None           # of images_per_s, where stated
    source: str


# The published figures: (system, our model) -> the figure, with its source.
PUBLISHED: dict[tuple[str, str], Published] = {
    ("TCBNN", "resnet18-tcbnn"): Published(
        "TCBNN", "resnet18-tcbnn", "Turing (RTX 2080 Ti class)", None, 5.6e3, 512,
        "TCBNN abstract (Li and Su, arXiv:2006.16578): ResNet-18 on ImageNet at 5.6K images/s"),
    ("SBNN", "resnet18-tcbnn"): Published("SBNN", "resnet18-tcbnn", "V100", 1.906, 2.88e3, None,
                                          "SBNN SC'19 Tables 5 and 7"),
    ("SBNN", "alexnet"): Published("SBNN", "alexnet", "V100", 0.979, 4.40e3, None, "SBNN SC'19 Tables 5 and 7"),
    ("SBNN", "vgg16"): Published("SBNN", "vgg16", "V100", 3.208, 312.0, None, "SBNN SC'19 Tables 5 and 7"),
    ("SBNN", "mnist-mlp"): Published("SBNN", "mnist-mlp", "V100", 0.04, 8.98e6, None, "SBNN SC'19 Tables 5 and 7"),
    ("SBNN", "cifar10-resnet14"): Published("SBNN", "cifar10-resnet14", "V100", 1.027, 2.04e4, None,
                                            "SBNN SC'19 Tables 5 and 7"),
    ("SBNN", "cifar10-vgg"): Published("SBNN", "cifar10-vgg", "V100", 0.466, 5.78e4, None,
                                       "SBNN SC'19 Tables 5 and 7"),
}
# The goals of issue 11: ResNet-18 at batch 512 at GOAL_TCBNN_FACTOR x TCBNN's
# images/s, and the tensor-core network GOAL_POPC_FACTOR x software popcount
# (the same file) on every model at its paper batch.
GOAL_MODEL = "resnet18-tcbnn"
GOAL_BATCH = 512
GOAL_REFERENCE = ("TCBNN", GOAL_MODEL)
GOAL_TCBNN_FACTOR = 50.0
GOAL_POPC_FACTOR = 20.0
# Issue 11's Bi-Real goals (no published speed to be a multiple of): btc
# images/s at batch GOAL_BIREAL_BATCH, and the batch-1 median latency.
GOAL_BIREAL_MODEL = "resnet18-bireal"
GOAL_BIREAL_BATCH = 256
GOAL_BIREAL_IMAGES_PER_S = 500_000.0
GOAL_BIREAL_LATENCY_US = 100.0
# Bi-Real on the tensor cores at GOAL_FP16_FACTOR x the images/s of the
# full-precision ResNet-18 on cuDNN, both at GOAL_BIREAL_BATCH, same file.
# Issue 11: the Σ of the steps' floors over the measured forward, at each of
# these points (the Bi-Real goals' batch and TCBNN's paper batch).
GOAL_FLOOR_SHARE = 0.60
GOAL_FLOOR_POINTS = (("resnet18-bireal", 256), ("resnet18-tcbnn", 512))
GOAL_FP16_MODEL = "resnet18-fp16"
GOAL_FP16_FACTOR = 7.0
# Issue 13: the in situ observer (every layer of one image every
# GOAL_INSITU_EVERY-th forward) costs at most GOAL_INSITU_OVERHEAD_PCT of the
# images/s without it, and drops nothing (the ring never full).
GOAL_INSITU_EVERY = 10
GOAL_INSITU_OVERHEAD_PCT = 5.0
VERDICTS = ("met", "not met", "not measured")

IMPL_STYLES = {BTC: ("tab:blue", "-", "o"), POPC: ("tab:red", "--", "s")}
_SPARE_STYLES = (("tab:green", "-.", "D"), ("tab:purple", ":", "^"), ("tab:brown", "-.", "v"))
SYSTEM_COLOURS = {"TCBNN": "tab:green", "SBNN": "dimgray"}
INPUT_COLOUR = "lightgray"


# ---------------------------------------------------------------- names

@dataclass(frozen=True)
class NetName:
    model: str
    batch: int
    impl: str
    layers: bool   # the per-step breakdown, not the timed forward

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.model, self.batch, self.impl)


_GRAMMAR = "'net|layers/<model>/batch:<N>/impl:<impl>/manual_time'"
# The suite writes the model with '_' for '-' (the results naming grammar);
# model names have no '_' of their own (models/*.model).
_NAME_RE = re.compile(r"(?P<kind>net|layers)/(?P<model>[A-Za-z0-9][A-Za-z0-9_.-]*)/batch:(?P<batch>[1-9][0-9]*)"
                      r"/impl:(?P<impl>[A-Za-z0-9_]+)(?:/manual_time)?")


def parse_net_name(name: str) -> NetName:
    """Parse a run name in the net grammar (_GRAMMAR); ValueError if off-grammar."""
    m = _NAME_RE.fullmatch(name)
    if m is None:
        raise ValueError(f"benchmark name {name!r} does not match {_GRAMMAR}")
    return NetName(m["model"].replace("_", "-"), int(m["batch"]), m["impl"], m["kind"] == "layers")


@dataclass(frozen=True)
class InsituName:
    model: str
    batch: int
    observer: str   # 'none', or 'every<K>': the observer attached, every K-th forward observed

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.model, self.batch, self.observer)


NO_OBSERVER = "none"
_INSITU_GRAMMAR = "'insitu/<model>/batch:<N>/observer:<none|every<K>>/manual_time'"
_INSITU_RE = re.compile(r"insitu/(?P<model>[A-Za-z0-9][A-Za-z0-9_.-]*)/batch:(?P<batch>[1-9][0-9]*)"
                        r"/observer:(?P<observer>none|every[1-9][0-9]*)(?:/manual_time)?")


def parse_insitu_name(name: str) -> InsituName:
    """Parse a run name in the in situ grammar (_INSITU_GRAMMAR); ValueError if off-grammar."""
    m = _INSITU_RE.fullmatch(name)
    if m is None:
        raise ValueError(f"benchmark name {name!r} does not match {_INSITU_GRAMMAR}")
    return InsituName(m["model"].replace("_", "-"), int(m["batch"]), m["observer"])


def observe_every(observer: str) -> int:
    """K of 'every<K>'; 0 for 'none'."""
    return 0 if observer == NO_OBSERVER else int(observer[len("every"):])


def parse_run_name(name: str) -> NetName | InsituName:
    """A net file's run name: the in situ grammar for names under insitu/, the
    net grammar for the rest; ValueError naming both if off them."""
    if name.startswith("insitu/"):
        return parse_insitu_name(name)
    try:
        return parse_net_name(name)
    except ValueError:
        raise ValueError(f"benchmark name {name!r} does not match {_GRAMMAR} nor {_INSITU_GRAMMAR}") from None


def form_key(model: str, batch: int, impl: str) -> str:
    """The btcbench.forms key of a planned network."""
    return f"{model}/batch:{batch}/impl:{impl}"


def layer_of(step: str) -> str:
    """The layer a step belongs to: '<layer>' for '<layer>' and
    '<layer>/threshold', '/maxpool2', '/bn', '/relayout', '/binarize';
    the input's steps (INPUT_PREFIX: quantize, to_half) are their own."""
    return step if step.startswith(INPUT_PREFIX) else step.split("/", 1)[0]


def _number(value: object) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None   # type: ignore[arg-type]


# ---------------------------------------------------------------- runs

class _Rate:
    """Images/s of a run of `batch` images per forward (Forward, InsituRun)."""
    batch: int
    run: br.RunSummary | None

    @property
    def measured(self) -> bool:
        return self.run is not None and self.images_per_s is not None

    @property
    def time_s(self) -> float | None:
        """Median over repetitions of a repetition's mean forward time."""
        if self.run is None or self.run.time_unit not in rc.TIME_UNITS:
            return None
        return self.run.median_time * rc.TIME_UNITS[self.run.time_unit]

    def _counter(self, key: str) -> float | None:
        return _number(self.run.counter(key)) if self.run else None

    @property
    def images_per_s(self) -> float | None:
        """Median images/s: the run's counter (batch over the median replay),
        else the batch over the median time."""
        value = self._counter("images_per_s")
        if value is None and self.time_s:
            value = self.batch / self.time_s
        return value if value else None

    def images_spread(self) -> tuple[float, float, float] | None:
        value = self.images_per_s
        return rc.spread(value, self.run) if value is not None and self.run else None


@dataclass(frozen=True)
class Forward(_Rate):
    """The timed forward of one (model, batch, impl): its run, or why there is none."""
    model: str
    batch: int
    impl: str
    run: br.RunSummary | None
    error: str | None
    form: Mapping[str, Any]   # btcbench.forms entry ({} where none)

    @property
    def latency_us(self) -> float | None:
        value = self._counter("latency_median_us")
        return value if value is not None else (self.time_s * 1e6 if self.time_s else None)

    @property
    def p99_us(self) -> float | None:
        return self._counter("latency_p99_us")

    @property
    def graph(self) -> bool | None:
        """True: timed from CUDA-graph replays; False: stream launches (counters on)."""
        value = self._counter("graph")
        return None if value is None else value > 0

    @property
    def device_bytes(self) -> float | None:
        value = self._counter("device_bytes")
        return value if value is not None else _number(self.form.get("device_bytes"))

    @property
    def bytes_moved(self) -> float | None:
        value = self._counter("bytes_moved")
        if value is None and self.form.get("steps"):
            value = sum(_number(s.get("bytes_moved")) or 0.0 for s in self.form["steps"])
        return value

    @property
    def floor_us(self) -> float | None:
        value = self._counter("floor_us")
        return value if value is not None else _number(self.form.get("floor_us"))

    @property
    def time_over_floor(self) -> float | None:
        value = self._counter("time_over_floor")
        return value if value is not None else rc.ratio(self.latency_us, self.floor_us)

    @property
    def dram_over_moved(self) -> float | None:
        """CUPTI DRAM bytes read + written over the compulsory bytes moved."""
        return rc.ratio(rc.dram_bytes(self.run), self.bytes_moved)

    @property
    def binary_tops(self) -> float | None:
        ops = _number(self.form.get("binary_ops_per_image"))
        return self.images_per_s * ops / 1e12 if ops and self.images_per_s else None


# The observer's counts (insitu/capture.h, CaptureSummary), counted from the
# attach on: cumulative over a run's repetitions.
INSITU_COUNTS = ("forwards", "due", "captured", "dropped")


@dataclass(frozen=True)
class InsituRun(_Rate):
    """One in situ overhead point: the btc forward of (model, batch) timed as
    windows of back-to-back graph replays, with the observer attached
    (observer 'every<K>') or not ('none'); its run, or why there is none."""
    model: str
    batch: int
    observer: str
    run: br.RunSummary | None
    error: str | None
    counts: Mapping[str, float]   # INSITU_COUNTS: the largest over repetitions (the run's totals)

    @property
    def every(self) -> int:
        return observe_every(self.observer)

    @property
    def forward_us(self) -> float | None:
        """Median forward (a window over its replays), µs."""
        value = self._counter("forward_us")
        return value if value is not None else (self.time_s * 1e6 if self.time_s else None)

    @property
    def ring_slot_bytes(self) -> float | None:
        return self._counter("ring_slot_bytes")

    def count(self, key: str) -> float | None:
        return self.counts.get(key)


@dataclass(frozen=True)
class Step:
    """One step of the breakdown: its median time launched alone, and its floor."""
    name: str
    layer: str               # layer_of(name)
    design: str | None
    op: str | None           # the layer's op (forms), 'input' for an input step (INPUT_PREFIX)
    time_us: float | None
    floor_us: float | None

    @property
    def over_floor(self) -> float | None:
        return rc.ratio(self.time_us, self.floor_us)

    @property
    def excess_us(self) -> float | None:
        """The time lost against the floor."""
        return self.time_us - self.floor_us if self.time_us is not None and self.floor_us is not None else None


@dataclass(frozen=True)
class Breakdown:
    """The per-step breakdown of one (model, batch, impl), network order."""
    model: str
    batch: int
    impl: str
    steps: tuple[Step, ...]
    error: str | None
    timing: str = "events"   # "graph": each step's CUDA-graph replay time; "events": one launch between events

    @property
    def measured(self) -> bool:
        return any(s.time_us is not None for s in self.steps)

    @property
    def total_us(self) -> float:
        return sum(s.time_us for s in self.steps if s.time_us is not None)

    def layers(self) -> list[tuple[str, float]]:
        """(layer, Σ its steps' µs) in network order."""
        out: dict[str, float] = {}
        for s in self.steps:
            if s.time_us is not None:
                out[s.layer] = out.get(s.layer, 0.0) + s.time_us
        return list(out.items())


STEP_PREFIX = "step_us/"
STEP_GRAPH_PREFIX = "step_graph_us/"


def _breakdown(name: NetName, run: br.RunSummary | None, error: str | None,
               form: Mapping[str, Any]) -> Breakdown:
    """The steps of a /layers run: forms order first (the network's), then any
    the form does not list, in the file's (Google Benchmark's sorted) order.
    Each step's graph-replay time where the run has one for every step (no
    launch gap: what the forward's graph pays), else its event-timed launch."""
    counters = run.counters.items() if run else ()
    times = {k[len(STEP_PREFIX):]: v for k, v in counters if k.startswith(STEP_PREFIX)}
    graph = {k[len(STEP_GRAPH_PREFIX):]: v for k, v in counters if k.startswith(STEP_GRAPH_PREFIX)}
    timing = "graph" if times and set(graph) >= set(times) else "events"
    if timing == "graph":
        times = {k: graph[k] for k in times}
    form_steps = {str(s.get("name")): s for s in form.get("steps") or [] if isinstance(s, dict)}
    ops = {str(layer.get("name")): str(layer.get("op")) for layer in form.get("layers") or []
           if isinstance(layer, dict)}
    ops.update({step: "input" for step in times if step.startswith(INPUT_PREFIX)})
    steps = []
    for step in [*(n for n in form_steps if n in times), *(n for n in times if n not in form_steps)]:
        meta = form_steps.get(step, {})
        layer = layer_of(step)
        steps.append(Step(step, layer, str(meta["design"]) if meta.get("design") else None, ops.get(layer),
                          _number(times[step]), _number(meta.get("floor_us"))))
    return Breakdown(name.model, name.batch, name.impl, tuple(steps), error, timing)


@dataclass(frozen=True)
class NetData:
    models: list[str]        # MODELS order, then file order
    impls: list[str]         # IMPLS order, then file order
    forwards: dict[tuple[str, int, str], Forward]
    breakdowns: dict[tuple[str, int, str], Breakdown]
    # The in situ overhead points, apart from the net runs: (model, batch, observer) -> run.
    insitu: dict[tuple[str, int, str], InsituRun] = field(default_factory=dict)

    @property
    def insitu_points(self) -> list[tuple[str, int]]:
        """(model, batch) of the in situ runs: MODELS order, then file order; by batch."""
        found = list(dict.fromkeys((m, b) for m, b, _ in self.insitu))
        models = _ordered([m for m, _ in found], MODELS)
        return sorted(found, key=lambda p: (models.index(p[0]), p[1]))

    def insitu_observers(self, model: str, batch: int) -> list[str]:
        """The point's observer labels: 'none' first, then by K."""
        return sorted((o for m, b, o in self.insitu if (m, b) == (model, batch)), key=observe_every)

    def insitu_run(self, model: str, batch: int, observer: str) -> InsituRun | None:
        return self.insitu.get((model, batch, observer))

    def insitu_overhead_pct(self, model: str, batch: int, observer: str) -> float | None:
        """(images/s without the observer / images/s with it − 1) × 100, of the medians."""
        plain, observed = self.insitu_run(model, batch, NO_OBSERVER), self.insitu_run(model, batch, observer)
        if observer == NO_OBSERVER or plain is None or observed is None or not plain.measured \
                or not observed.measured:
            return None
        return (plain.images_per_s / observed.images_per_s - 1.0) * 100.0   # type: ignore[operator]

    def batches(self, model: str) -> list[int]:
        return sorted({b for m, b, _ in (*self.forwards, *self.breakdowns) if m == model})

    def forward(self, model: str, batch: int, impl: str) -> Forward | None:
        return self.forwards.get((model, batch, impl))

    def breakdown(self, model: str, batch: int, impl: str) -> Breakdown | None:
        return self.breakdowns.get((model, batch, impl))

    def images(self, model: str, batch: int, impl: str) -> float | None:
        f = self.forward(model, batch, impl)
        return f.images_per_s if f and f.run else None

    def speedup(self, model: str, batch: int) -> float | None:
        """btc images/s over popc images/s at the same batch, same file."""
        return rc.ratio(self.images(model, batch, BTC), self.images(model, batch, POPC))

    def best(self, model: str, impl: str) -> Forward | None:
        """The impl's forward with the most images/s; ties go to the smaller batch."""
        runs = [f for b in self.batches(model) if (f := self.forward(model, b, impl)) and f.measured]
        return max(runs, key=lambda f: f.images_per_s, default=None)   # type: ignore[arg-type, return-value]

    def paper_or_largest(self, model: str, have: Callable[[int], bool]) -> int | None:
        """The model's paper batch if have(it), else the largest batch that has; None if none."""
        paper = PAPER_BATCH.get(model)
        if paper is not None and have(paper):
            return paper
        return max((b for b in self.batches(model) if have(b)), default=None)

    def layer_batch(self, model: str) -> int | None:
        """The batch of the model's per-layer breakdown."""
        return self.paper_or_largest(model, lambda b: any(
            (d := self.breakdown(model, b, impl)) is not None and d.measured for impl in self.impls))

    def speedup_batch(self, model: str) -> int | None:
        """The batch the model's btc/popc goal is checked at."""
        return self.paper_or_largest(model, lambda b: self.speedup(model, b) is not None)


def _ordered(found: Sequence[str], known: Sequence[str]) -> list[str]:
    present = dict.fromkeys(found)
    return [k for k in known if k in present] + [f for f in present if f not in known]


def _insitu_counts(results: br.Results, run_name: str) -> dict[str, float]:
    """The observer's counts of a run: the largest over its repetitions (they
    are cumulative from the attach on, so the last repetition's: the run's
    totals); the median aggregate's where the file has no repetition entries."""
    counts: dict[str, float] = {}
    for entry in results.benchmarks:
        if br.run_name_of(entry) != run_name or br.is_error_entry(entry) \
                or entry.get("run_type", "iteration") != "iteration":
            continue
        for key in INSITU_COUNTS:
            value = _number(entry.get(key))
            if value is not None:
                counts[key] = max(counts.get(key, value), value)
    return counts


def collect(results: br.Results) -> NetData:
    """Every forward and breakdown of a net file, with its form, and its in
    situ overhead points; the runs that reported an error as ones without a
    run. ResultsError for another suite or a run name off both the net and
    the in situ grammar."""
    rc.check_suite(results, SUITE)
    forms = results.meta["forms"]

    def parse(run_name: str) -> NetName | InsituName:
        try:
            return parse_run_name(run_name)
        except ValueError as e:
            raise br.ResultsError(f"{results.path}: {e}") from None

    def form(name: NetName) -> Mapping[str, Any]:
        f = forms.get(form_key(*name.key))
        return f if isinstance(f, dict) else {}

    forwards: dict[tuple[str, int, str], Forward] = {}
    breakdowns: dict[tuple[str, int, str], Breakdown] = {}
    insitu: dict[tuple[str, int, str], InsituRun] = {}
    order: list[NetName] = []
    for run in br.medians(results):
        name = parse(run.run_name)
        if isinstance(name, InsituName):
            insitu[name.key] = InsituRun(*name.key, run, None, _insitu_counts(results, run.run_name))
            continue
        order.append(name)
        if name.layers:
            breakdowns[name.key] = _breakdown(name, run, None, form(name))
        else:
            forwards[name.key] = Forward(*name.key, run, None, form(name))
    for run_name, message in br.errored_runs(results).items():
        name = parse(run_name)
        if isinstance(name, InsituName):
            insitu.setdefault(name.key, InsituRun(*name.key, None, message, {}))
            continue
        order.append(name)
        if name.layers:
            breakdowns.setdefault(name.key, _breakdown(name, None, message, form(name)))
        else:
            forwards.setdefault(name.key, Forward(*name.key, None, message, form(name)))
    return NetData(_ordered([n.model for n in order], MODELS), _ordered([n.impl for n in order], IMPLS),
                   forwards, breakdowns, insitu)


# btcbench.peaks keys of the measured copy bandwidth (harness/core/bench_util.h,
# record_dram_copy_bandwidth, shared with the bconv suite); the net files of
# up to d1fdd42 nest them as dram_copy.{bytes_per_s, buffer_bytes, method}.
_DRAM_KEYS = ("peaks.dram_copy_bytes_per_s", "peaks.dram_copy_buffer_bytes", "peaks.dram_copy_method")
_DRAM_KEYS_NESTED = ("peaks.dram_copy.bytes_per_s", "peaks.dram_copy.buffer_bytes", "peaks.dram_copy.method")


def _dram_keys(results: br.Results) -> tuple[str, str, str]:
    flat = br.lookup(results.meta, _DRAM_KEYS[0]) is not None
    return _DRAM_KEYS if flat or br.lookup(results.meta, _DRAM_KEYS_NESTED[0]) is None else _DRAM_KEYS_NESTED


def dram_bandwidth(results: br.Results) -> float | None:
    """The DRAM copy bandwidth the sweep measured (bytes/s), None if it has none."""
    value = _number(br.lookup(results.meta, _dram_keys(results)[0]))
    return value if value and value > 0 else None


def _bandwidth_text(results: br.Results) -> str:
    bw = dram_bandwidth(results)
    if bw is None:
        why = br.lookup(results.meta, "peaks.dram_copy_error")
        return f"{DASH} (not measured: {why or 'no btcbench.peaks.dram_copy_bytes_per_s in this file'}; no floors)"
    _, size_key, method_key = _dram_keys(results)
    size = _number(br.lookup(results.meta, size_key))
    method = br.lookup(results.meta, method_key)
    how = str(method) if method else "device-to-device copy"
    if size:
        how += f"; buffer {size / 2**20:,.0f} MiB"
    return f"{bw / 1e12:,.3g} TB/s measured ({how})"


# ---------------------------------------------------------------- goals

@dataclass(frozen=True)
class Goal:
    goal: str        # what is asked
    point: str       # where it is checked
    value: float | None
    verdict: str     # one of VERDICTS
    cell: str        # the figure and its verdict, or why there is none


def _missing(f: Forward | None, what: str) -> str:
    return f"{what} reported an error ({f.error})" if f is not None and f.error else f"no {what} run"


def _not_measured(f: Forward | None, what: str) -> str:
    return f"not measured: {_missing(f, what)}"


def _floor_bound(f: Forward, batch: int) -> str:
    """A missed images/s goal's ceiling: the batch over the Σ of the forward's
    step floors (every step at its DRAM floor), where the file has them."""
    if not f.floor_us:
        return ""
    return f"; at the Σ of its step floors ({f.floor_us:,.1f} µs) at most {batch / f.floor_us * 1e6:,.0f}"


def _bireal_goals(data: NetData) -> list[Goal]:
    """`resnet18-bireal` btc images/s at GOAL_BIREAL_BATCH ≥ GOAL_BIREAL_IMAGES_PER_S,
    and its btc batch-1 median latency ≤ GOAL_BIREAL_LATENCY_US."""
    model, batch = GOAL_BIREAL_MODEL, GOAL_BIREAL_BATCH
    out = []
    f = data.forward(model, batch, BTC)
    target = GOAL_BIREAL_IMAGES_PER_S
    what = f"`{model}` btc images/s ≥ {target:,.0f}"
    point = f"`{model}`, batch {batch}"
    value = f.images_per_s if f is not None and f.measured else None
    if f is not None and value is not None:
        verdict = "met" if value >= target else "not met"
        mark = f" {STREAM_MARK}" if f.graph is False else ""
        bound = _floor_bound(f, batch) if verdict != "met" else ""
        out.append(Goal(what, point, value, verdict,
                        f"{value:,.0f}{mark} = {value / target:,.2f}× the target {verdict}{bound}"))
    else:
        out.append(Goal(what, point, None, "not measured", _not_measured(f, f"`{model}` batch-{batch} btc")))
    f = data.forward(model, 1, BTC)
    limit = GOAL_BIREAL_LATENCY_US
    what = f"`{model}` btc batch-1 latency ≤ {limit:g} µs (median)"
    point = f"`{model}`, batch 1"
    latency = f.latency_us if f is not None and f.run is not None else None
    if latency is not None:
        verdict = "met" if latency <= limit else "not met"
        mark = f" {STREAM_MARK}" if f.graph is False else ""   # type: ignore[union-attr]
        out.append(Goal(what, point, latency, verdict, f"{latency:,.1f} µs{mark} (limit {limit:g} µs) {verdict}"))
    else:
        out.append(Goal(what, point, None, "not measured", _not_measured(f, f"`{model}` batch-1 btc")))
    return out


def fp16_goal(data: NetData) -> Goal:
    """`resnet18-bireal` btc images/s over `resnet18-fp16` cudnn images/s at
    GOAL_BIREAL_BATCH ≥ GOAL_FP16_FACTOR (medians, the same file)."""
    batch = GOAL_BIREAL_BATCH
    what = (f"`{GOAL_BIREAL_MODEL}` on {BTC} ÷ `{GOAL_FP16_MODEL}` on {CUDNN}, images/s "
            f"≥ {GOAL_FP16_FACTOR:g}×")
    point = f"batch {batch}"
    binary, full = data.forward(GOAL_BIREAL_MODEL, batch, BTC), data.forward(GOAL_FP16_MODEL, batch, CUDNN)
    if binary is None or full is None or not binary.measured or not full.measured:
        missing = [_missing(f, f"`{model}` batch-{batch} {impl}")
                   for f, model, impl in ((binary, GOAL_BIREAL_MODEL, BTC), (full, GOAL_FP16_MODEL, CUDNN))
                   if f is None or not f.measured]
        return Goal(what, point, None, "not measured", "not measured: " + "; ".join(missing))
    value = binary.images_per_s / full.images_per_s   # type: ignore[operator]
    verdict = "met" if value >= GOAL_FP16_FACTOR else "not met"

    def figure(f: Forward) -> str:
        return f"{f.images_per_s:,.0f}" + (f" {STREAM_MARK}" if f.graph is False else "")
    return Goal(what, point, value, verdict, f"{figure(binary)} ÷ {figure(full)} = {value:,.2f}× {verdict}")


def layers_losing(d: Breakdown | None, n: int = 3) -> list[tuple[str, float]]:
    """The n layers whose steps lose the most time against their floors
    (time − floor summed over a layer's steps), most first."""
    lost: dict[str, float] = {}
    for step in d.steps if d is not None else ():
        if step.excess_us is not None:
            lost[step.layer] = lost.get(step.layer, 0.0) + step.excess_us
    return sorted(lost.items(), key=lambda kv: -kv[1])[:n]


def floor_goals(data: NetData) -> list[Goal]:
    """At each GOAL_FLOOR_POINTS point in the file: the btc forward's floor
    (the Σ of its steps' compulsory DRAM bytes over the measured bandwidth:
    the DRAM side of each step's roofline, so a lower bound of the roofline
    floor) is ≥ GOAL_FLOOR_SHARE of its median time; the cell names the
    layers that lose the most, from the breakdown at that batch where the
    file has one."""
    out = []
    for model, batch in GOAL_FLOOR_POINTS:
        if not any(m == model for m, _, _ in data.forwards):
            continue
        what = f"Σ of the step floors ≥ {GOAL_FLOOR_SHARE:.0%} of the btc forward"
        point = f"`{model}`, batch {batch}"
        f = data.forward(model, batch, BTC)
        floor = f.floor_us if f is not None else None
        time_us = f.time_s * 1e6 if f is not None and f.measured and f.time_s else None
        if floor is None or time_us is None:
            why = _not_measured(f, f"`{model}` batch-{batch} btc") if time_us is None else \
                "not measured: no floor (no measured DRAM bandwidth in this file)"
            out.append(Goal(what, point, None, "not measured", why))
            continue
        share = floor / time_us
        verdict = "met" if share >= GOAL_FLOOR_SHARE else "not met"
        cell = f"{floor:,.1f} of {time_us:,.1f} µs = {share:.0%} {verdict}"
        worst = layers_losing(data.breakdown(model, batch, BTC))
        if verdict != "met":
            cell += ("; losing most: " + ", ".join(f"`{layer}` {us:,.1f} µs" for layer, us in worst)) if worst \
                else "; no breakdown at this batch to say which layers lose it"
        out.append(Goal(what, point, share, verdict, cell))
    return out


def goals(data: NetData) -> list[Goal]:
    """The goals of issue 11, from the data: `resnet18-tcbnn` btc images/s at
    batch GOAL_BATCH ≥ GOAL_TCBNN_FACTOR × TCBNN's published figure,
    `resnet18-bireal` btc images/s at batch GOAL_BIREAL_BATCH ≥
    GOAL_BIREAL_IMAGES_PER_S and its batch-1 median latency ≤
    GOAL_BIREAL_LATENCY_US, its btc images/s ≥ GOAL_FP16_FACTOR × those of
    `resnet18-fp16` on cudnn at GOAL_BIREAL_BATCH, and on every model with a
    btc or popc run btc ≥ GOAL_POPC_FACTOR × popc images/s at its paper batch
    (the largest measured batch where the file lacks it, or the model has
    none)."""
    reference = PUBLISHED[GOAL_REFERENCE]
    target = GOAL_TCBNN_FACTOR * (reference.images_per_s or 0.0)
    out = []
    f = data.forward(GOAL_MODEL, GOAL_BATCH, BTC)
    what = (f"`{GOAL_MODEL}` btc images/s ≥ {GOAL_TCBNN_FACTOR:g} × {reference.system}'s "
            f"{reference.images_per_s:,.0f}")
    point = f"`{GOAL_MODEL}`, batch {GOAL_BATCH}"
    if f is not None and f.measured:
        value = f.images_per_s
        verdict = "met" if value >= target else "not met"
        mark = f" {STREAM_MARK}" if f.graph is False else ""
        bound = _floor_bound(f, GOAL_BATCH) if verdict != "met" else ""
        out.append(Goal(what, point, value, verdict,
                        f"{value:,.0f}{mark} = {value / reference.images_per_s:,.1f}× "   # type: ignore[operator]
                        f"(target {target:,.0f}) {verdict}{bound}"))
    else:
        out.append(Goal(what, point, None, "not measured", _not_measured(f, f"batch-{GOAL_BATCH} btc")))
    out += [*_bireal_goals(data), fp16_goal(data)]
    for model in data.models:
        if not any(m == model and impl in (BTC, POPC) for m, _, impl in data.forwards):
            continue   # a full-precision model (cudnn only): no binary network to set beside popc
        what = f"btc ≥ {GOAL_POPC_FACTOR:g} × popc images/s"
        batch = data.speedup_batch(model)
        if batch is None:
            out.append(Goal(what, f"`{model}`", None, "not measured",
                            "not measured: no batch with both btc and popc measured"))
            continue
        paper = PAPER_BATCH.get(model)
        point = f"`{model}`, batch {batch}" + (
            f" (paper batch {paper} not measured)" if paper is not None and batch != paper
            else " (no paper batch: the largest measured)" if paper is None else "")
        value = data.speedup(model, batch)
        verdict = "met" if value >= GOAL_POPC_FACTOR else "not met"   # type: ignore[operator]
        out.append(Goal(what, point, value, verdict, f"{value:,.2f}× {verdict}"))
    return out + floor_goals(data)


INSITU_GOAL = (f"within {GOAL_INSITU_OVERHEAD_PCT:g}% with every layer of one image every "
               f"{GOAL_INSITU_EVERY}th batch and the ring never full (dropped = 0)")


def insitu_goals(data: NetData) -> list[Goal]:
    """Issue 13's goal at each in situ point (model, batch): the observer at
    every GOAL_INSITU_EVERY-th forward costs ≤ GOAL_INSITU_OVERHEAD_PCT of the
    images/s without it (medians), and drops nothing. Met only if both hold;
    not met if either fails; not measured where a run is missing or errored
    (or the overhead is within the goal but the run has no dropped count)."""
    observer = f"every{GOAL_INSITU_EVERY}"
    limit = GOAL_INSITU_OVERHEAD_PCT
    out = []
    for model, batch in data.insitu_points:
        point = f"`{model}`, batch {batch}"
        missing = None
        for label in (NO_OBSERVER, observer):
            run = data.insitu_run(model, batch, label)
            if run is None:
                missing = f"not measured: no observer:{label} run"
            elif run.error:
                missing = f"not measured: the observer:{label} run reported an error ({run.error})"
            elif not run.measured:
                missing = f"not measured: the observer:{label} run has no images/s"
            if missing:
                break
        if missing:
            out.append(Goal(INSITU_GOAL, point, None, "not measured", missing))
            continue
        pct = data.insitu_overhead_pct(model, batch, observer)
        dropped = data.insitu_run(model, batch, observer).count("dropped")   # type: ignore[union-attr]
        over = pct > limit   # type: ignore[operator]
        figures = f"overhead {pct:,.2f}% ({'>' if over else '≤'} {limit:g}%), " + (
            "no dropped count" if dropped is None else f"{dropped:,.0f} dropped")
        if over or (dropped is not None and dropped > 0):
            verdict = "not met"
        elif dropped is None:
            verdict = "not measured"
        else:
            verdict = "met"
        out.append(Goal(INSITU_GOAL, point, pct, verdict, f"{figures}: {verdict}"))
    return out


# ---------------------------------------------------------------- baselines

@dataclass(frozen=True, eq=False)   # eq=False: hashed by identity (the same file twice is two baselines)
class Baseline:
    """The forwards of another net file of the same GPU set beside this file's
    (--baseline), such as a PyTorch baseline (analysis/torch_baseline.py);
    `mark` ('[1]') cites the file in tables and plot."""
    results: br.Results
    data: NetData
    mark: str

    @property
    def name(self) -> str:
        return self.results.path.name

    def impls(self, model: str) -> list[str]:
        """The impls with a forward of the model in the file, in the file's order."""
        return [i for i in self.data.impls if any(m == model and impl == i for m, _, impl in self.data.forwards)]

    def source(self) -> str:
        """What wrote the file, with what, and when."""
        meta = self.results.meta
        software = meta.get("software") if isinstance(meta.get("software"), dict) else {}
        parts = [f"written by {meta.get('writer') or 'btcbench sweep net'}"]
        parts += [f"{label} {software[key]}" for key, label in (("torch", "torch"), ("cudnn", "cuDNN"),
                                                                 ("model", "model")) if software.get(key)]
        return ", ".join([*parts, f"git {rc.short_commit(self.results)}",
                          f"created {meta.get('created_utc') or DASH}"])


def load_baselines(results: br.Results, paths: Sequence[str | Path]) -> list[Baseline]:
    """Each path as a Baseline of `results` (baselines_of); ResultsError also
    for a file that does not load."""
    return baselines_of(results, [br.load(path) for path in paths])


def baselines_of(results: br.Results, others: Sequence[br.Results]) -> list[Baseline]:
    """Each loaded file as a Baseline of `results`, marked [1], [2], ... in
    order; ResultsError for one that is not of the net suite or is of another
    GPU (device name or slug) than `results`."""
    out = []
    for i, other in enumerate(others, 1):
        rc.check_suite(other, SUITE)
        mine, theirs = results.device, other.device
        if (theirs.get("name"), theirs.get("slug")) != (mine.get("name"), mine.get("slug")):
            raise br.ResultsError(
                f"{other.path}: a baseline of {theirs.get('name')} (`{theirs.get('slug')}`), not of "
                f"{mine.get('name')} (`{mine.get('slug')}`) as {results.path.name}; a baseline must be of the "
                "same GPU")
        out.append(Baseline(other, collect(other), f"[{i}]"))
    return out


def report_models(data: NetData, baselines: Sequence[Baseline]) -> list[str]:
    """The models of the tables and plot: this file's and the baselines', MODELS order first."""
    return _ordered([*data.models, *(m for b in baselines for m in b.data.models)], MODELS)


def _series(data: NetData, model: str, baselines: Sequence[Baseline]) -> list[tuple[str, Baseline | None]]:
    """(impl, None) for this file's impls with a forward of the model, then (impl, baseline) for the baselines'."""
    own = [(i, None) for i in data.impls if any(m == model and impl == i for m, _, impl in data.forwards)]
    return [*own, *((i, b) for b in baselines for i in b.impls(model))]


BASELINE_STYLES = (("tab:orange", ":", "P"), ("tab:olive", "--", "X"), ("tab:cyan", "-.", "*"),
                   ("tab:pink", ":", "h"))


# ---------------------------------------------------------------- plots

def _style(impl: str, impls: Sequence[str]) -> tuple[str, str, str]:
    spare = [i for i in impls if i not in IMPL_STYLES]
    return IMPL_STYLES.get(impl) or _SPARE_STYLES[spare.index(impl) % len(_SPARE_STYLES)]


def _si(value: float, _: Any = None) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if value >= scale:
            return f"{value / scale:,.3g}{suffix}"
    return f"{value:,.3g}"


def _grid(n: int, ncols: int = 3) -> tuple[int, int]:
    cols = max(1, min(ncols, n))
    return max(1, math.ceil(n / cols)), cols


def plot_throughput(results: br.Results, data: NetData, baselines: Sequence[Baseline] = ()) -> bytes:
    """PNG bytes: median images/s over the batch per model (log-log), a line
    per impl with its spread over repetitions shaded, stream-timed points
    hollow, and the published images/s as dotted lines; the baselines' impls
    as more lines, labelled with their file."""
    models = report_models(data, baselines)
    rows, cols = _grid(len(models))
    with rc.figure((5.0 * cols, 4.2 * rows + 0.8)) as fig:
        axes = fig.subplots(rows, cols, squeeze=False).flatten()
        for ax in axes[len(models):]:
            ax.set_visible(False)
        if not models:
            axes[0].set_visible(True)
            rc.no_data(axes[0], "no net runs in this file", fontsize=9)
        stream = False
        for ax, model in zip(axes, models):
            measured: set[int] = set()
            others = [s for s in _series(data, model, baselines) if s[1] is not None]
            for impl, base in [*((i, None) for i in data.impls), *others]:
                source = base.data if base else data
                pts = [(b, f) for b in source.batches(model) if (f := source.forward(model, b, impl)) and f.measured]
                if not pts:
                    continue
                colour, line, marker = (BASELINE_STYLES[others.index((impl, base)) % len(BASELINE_STYLES)] if base
                                        else _style(impl, data.impls))
                label = f"{impl} {base.mark} {base.name}" if base else impl
                xs = [b for b, _ in pts]
                spreads = [f.images_spread() for _, f in pts]
                ax.fill_between(xs, [s[0] for s in spreads], [s[2] for s in spreads],  # type: ignore[index]
                                color=colour, alpha=0.15, linewidth=0)
                ax.plot(xs, [f.images_per_s for _, f in pts], color=colour, linestyle=line, marker=marker,
                        markersize=5, linewidth=1.3, label=label)
                hollow = [(b, f.images_per_s) for b, f in pts if f.graph is False]
                if hollow:
                    stream = True
                    ax.plot(*zip(*hollow), linestyle="none", marker=marker, markersize=8,
                            markerfacecolor="white", markeredgecolor=colour)
                measured.update(xs)
            if measured:
                for (system, m), p in PUBLISHED.items():
                    if m == model and p.images_per_s:
                        at = f", batch {p.batch}" if p.batch else ""
                        ax.axhline(p.images_per_s, color=SYSTEM_COLOURS.get(system, "gray"), linestyle=":",
                                   linewidth=1.0, label=f"{system} {p.gpu}{at}: {_si(p.images_per_s)}/s")
                if model == GOAL_MODEL:
                    goal = GOAL_TCBNN_FACTOR * (PUBLISHED[GOAL_REFERENCE].images_per_s or 0.0)
                    ax.axhline(goal, color="black", linestyle=(0, (6, 3)), linewidth=1.0,
                               label=f"goal at batch {GOAL_BATCH}: {GOAL_TCBNN_FACTOR:g}× "
                                     f"{GOAL_REFERENCE[0]} = {_si(goal)}/s")
                if model == GOAL_BIREAL_MODEL:
                    ax.axhline(GOAL_BIREAL_IMAGES_PER_S, color="black", linestyle=(0, (6, 3)), linewidth=1.0,
                               label=f"goal at batch {GOAL_BIREAL_BATCH}: {_si(GOAL_BIREAL_IMAGES_PER_S)}/s")
                batches = sorted(measured)
                ax.set_xscale("log", base=2)
                ax.set_xticks(batches, [str(b) for b in batches])
                ax.xaxis.set_minor_locator(NullLocator())
                rc.log_y(ax, _si)
                ax.legend(fontsize=7, loc="best")
            else:
                rc.no_data(ax, f"no measured forward of {model}", fontsize=9)
                ax.set_xticks([])
            ax.set_xlabel("batch")
            ax.set_ylabel("images/s (median; band: min–max over repetitions)")
            ax.set_title(model, fontsize=10)
            ax.grid(alpha=0.3, which="both")
            ax.set_axisbelow(True)
        what = "images/s over the batch, tensor cores (btc) and software popcount (popc)"
        if CUDNN in data.impls:
            what += f", full precision on cuDNN ({CUDNN})"
        if stream:
            what += "\nhollow: timed from stream launches (counters on), not graph replays"
        fig.suptitle(rc.plot_title(results, SUITE, what), fontsize=10)
        return rc.png_bytes(fig)


def _layer_colours(layers: Sequence[str]) -> dict[str, Any]:
    cmap = colormaps["tab20"]
    binary = [layer for layer in layers if not layer.startswith(INPUT_PREFIX)]
    return {**{layer: INPUT_COLOUR for layer in layers if layer.startswith(INPUT_PREFIX)}, INPUT_STEP: INPUT_COLOUR,
            **{layer: cmap(i % 20) for i, layer in enumerate(binary)}}


def plot_layers(results: br.Results, data: NetData) -> bytes:
    """PNG bytes: per model, at its layer batch, a stacked bar per impl of the
    forward's step time by layer (each step launched alone), as shares of the
    impl's Σ, with the Σ in µs beside each bar."""
    models = [m for m in data.models if data.layer_batch(m) is not None]
    with rc.figure((12.0, 1.0 + 2.1 * max(1, len(models)))) as fig:
        if not models:
            ax = fig.add_subplot()
            rc.no_data(ax, "no per-layer breakdown in this file", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        axes = fig.subplots(len(models), 1, squeeze=False).flatten() if models else []
        for ax, model in zip(axes, models):
            batch = data.layer_batch(model)
            assert batch is not None
            # The impls the model runs (resnet18-fp16: cudnn only; the binary models: btc, popc).
            impls = [i for i in data.impls if any(m == model and impl == i
                                                  for m, _, impl in (*data.forwards, *data.breakdowns))]
            found = [data.breakdown(model, batch, impl) for impl in impls]
            order: dict[str, None] = {}
            for d in found:
                for layer, _ in d.layers() if d else ():
                    order.setdefault(layer, None)
            colours = _layer_colours(list(order))
            ticks, labels, handles = [], [], {}
            for y, (impl, d) in enumerate(zip(reversed(impls), reversed(found))):
                ticks.append(y)
                if d is None or not d.measured:
                    labels.append(f"{impl}\nnot measured")
                    continue
                labels.append(f"{impl}\nΣ {d.total_us:,.1f} µs")
                left = 0.0
                for layer, us in d.layers():
                    share = 100.0 * us / d.total_us if d.total_us else 0.0
                    handles[layer] = ax.barh(y, share, left=left, height=0.6, color=colours[layer],
                                             edgecolor="white", linewidth=0.5, label=layer)
                    if share >= 8.0:
                        ax.text(left + share / 2, y, layer, ha="center", va="center", fontsize=6)
                    left += share
            ax.set_yticks(ticks, labels, fontsize=8)
            ax.set_xlim(0, 100)
            ax.set_ylim(-0.6, len(impls) - 0.4)
            ax.set_xlabel("share of the Σ of the step medians (%)", fontsize=8)
            paper = PAPER_BATCH.get(model)
            note = (" (no paper batch: the largest)" if paper is None
                    else "" if paper == batch else f" (paper batch {paper} not measured: the largest)")
            ax.set_title(f"{model}, batch {batch}{note}", fontsize=9)
            legend = [handles[layer] for layer in order if layer in handles]
            if legend:
                ax.legend(handles=legend, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=6,
                          ncol=max(1, math.ceil(len(legend) / 8)), frameon=False)
            ax.grid(alpha=0.3, axis="x")
            ax.set_axisbelow(True)
        fig.suptitle(rc.plot_title(results, SUITE, "the forward's time by layer, each step launched alone"),
                     fontsize=10)
        return rc.png_bytes(fig)


OBSERVER_COLOURS = {NO_OBSERVER: "tab:blue"}   # observed ones: the next of _OBSERVED_COLOURS
_OBSERVED_COLOURS = ("tab:orange", "tab:green", "tab:purple", "tab:brown")


def _observer_colour(observer: str, observers: Sequence[str]) -> str:
    spare = [o for o in observers if o not in OBSERVER_COLOURS]
    return OBSERVER_COLOURS.get(observer) or _OBSERVED_COLOURS[spare.index(observer) % len(_OBSERVED_COLOURS)]


def plot_insitu(results: br.Results, data: NetData) -> bytes:
    """PNG bytes: a panel per in situ point (model, batch), a bar per observer
    of the median images/s with its min–max over repetitions, the overhead
    (and any drops) above each observed bar; a placeholder where the file has
    no in situ run."""
    points = data.insitu_points
    if not points:
        with rc.figure((6.0, 2.5)) as fig:
            ax = fig.add_subplot()
            rc.no_data(ax, "no in situ runs in this file", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.suptitle(rc.plot_title(results, SUITE, "in situ observer overhead"), fontsize=10)
            return rc.png_bytes(fig)
    observers = sorted({o for _, _, o in data.insitu}, key=observe_every)
    rows, cols = _grid(len(points), 4)
    with rc.figure((max(6.0, 3.4 * cols), 3.9 * rows + 0.9)) as fig:
        axes = fig.subplots(rows, cols, squeeze=False).flatten()
        for ax in axes[len(points):]:
            ax.set_visible(False)
        for ax, (model, batch) in zip(axes, points):
            runs = [(x, o, r) for x, o in enumerate(observers) if (r := data.insitu_run(model, batch, o))]
            spreads = {o: s for _, o, r in runs if (s := r.images_spread())}
            top = max((s[2] for s in spreads.values()), default=1.0)
            for x, observer, run in runs:
                if observer not in spreads:
                    ax.text(x, 0.05 * top, "not run" if run.error else "no images/s", ha="center", va="bottom",
                            rotation=90, fontsize=8)
                    continue
                lo, median, hi = spreads[observer]
                ax.bar(x, median, 0.7, color=_observer_colour(observer, observers),
                       yerr=[[median - lo], [hi - median]], capsize=4, error_kw={"linewidth": 0.9})
                pct = data.insitu_overhead_pct(model, batch, observer)
                if pct is not None:
                    dropped = run.count("dropped")
                    bad = bool(dropped) or pct > GOAL_INSITU_OVERHEAD_PCT
                    ax.text(x, hi + 0.015 * top, f"{pct:+.1f}%" + (f"\n{dropped:,.0f} dropped" if dropped else ""),
                            ha="center", va="bottom", fontsize=8, color="tab:red" if bad else "black")
            ax.set_xticks(range(len(observers)), observers, fontsize=8)
            ax.set_xlim(-0.6, len(observers) - 0.4)
            ax.set_ylim(0, top * 1.2)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _si(v) if v > 0 else "0"))
            ax.set_xlabel("observer", fontsize=8)
            ax.set_ylabel("images/s (median; bar: min–max)", fontsize=8)
            ax.set_title(f"{model}, batch {batch}", fontsize=9)
            ax.grid(alpha=0.3, axis="y")
            ax.set_axisbelow(True)
        what = (f"in situ observer overhead, btc\nabove a bar: none / observed images/s − 1 "
                f"(goal ≤ {GOAL_INSITU_OVERHEAD_PCT:g}%, 0 dropped)")
        fig.suptitle(rc.plot_title(results, SUITE, what), fontsize=10)
        return rc.png_bytes(fig)


# ---------------------------------------------------------------- markdown

MODEL_TABLE_HEADER = ["Batch", "Impl", "Images/s, median [min–max]", "Latency µs, median", "Latency µs, p99",
                      "btc / popc", "Binary TOPS", "Device MiB", "Time / floor", "DRAM bytes / bytes moved",
                      "Timing"]
PUBLISHED_HEADER = ["Model", "Published (GPU)", "Batch-1 latency ms, published", "Batch-1 latency ms, ours (btc)",
                    "Published / ours", "Images/s, published", "Images/s, ours best (btc)", "Ours / published",
                    "Source"]
LAYER_TABLE_HEADER = ["Layer", "Op"]
STEP_TABLE_HEADER = ["Step", "Layer op", "Design", "Time µs", "% of Σ", "Floor µs", "Time / floor",
                     "Time − floor µs"]


def _x(value: float | None) -> str:
    return DASH if value is None else f"{value:,.2f}×"


def _timing(f: Forward) -> str:
    return {True: "graph", False: f"stream {STREAM_MARK}", None: DASH}[f.graph]


def _model_rows(data: NetData, model: str) -> list[list[object]]:
    rows: list[list[object]] = []
    for batch in data.batches(model):
        for impl in data.impls:
            f = data.forward(model, batch, impl)
            if f is None:
                continue
            if f.run is None:
                rows.append([batch, impl, f"not run: {f.error}", *([DASH] * (len(MODEL_TABLE_HEADER) - 3))])
                continue
            device = f.device_bytes
            rows.append([batch, impl, rc.rate_cell(f.images_spread(), ",.0f"), rc.fmt(f.latency_us, ",.1f"),
                         rc.fmt(f.p99_us, ",.1f"), _x(data.speedup(model, batch)) if impl == BTC else DASH,
                         rc.fmt(f.binary_tops, ",.1f"), rc.fmt(device / 2**20 if device is not None else None, ",.1f"),
                         rc.fmt(f.time_over_floor, ",.2f"), rc.fmt(f.dram_over_moved, ".2f"), _timing(f)])
    return rows


def _model_facts(data: NetData, model: str) -> str:
    """What the forms say of the model per image."""
    form = next((f.form for (m, _, _), f in data.forwards.items() if m == model and f.form), {})
    ops, macs = _number(form.get("binary_ops_per_image")), _number(form.get("stem_macs_per_image"))
    facts = []
    if ops:   # none in a full-precision model
        facts.append(f"{ops / 1e9:,.3f} G binary ops per image")
    if macs:
        facts.append(f"{macs / 1e9:,.3f} G stem MACs per image")
    real = _number(form.get("real_macs_per_image"))   # files before the half-precision layers lack it
    if real:
        facts.append(f"{real / 1e9:,.3f} G real-valued (conv, fc) MACs per image")
    paper = PAPER_BATCH.get(model)
    if paper is not None:
        facts.append(f"paper batch {paper}")
    return "; ".join(facts) + "." if facts else ""


def _beside_lines(data: NetData, model: str, baselines: Sequence[Baseline]) -> list[str]:
    """The model's images/s beside the baselines' (a column per impl and file), where a baseline has the model."""
    series = _series(data, model, baselines)
    cited = list(dict.fromkeys(b for _, b in series if b is not None))
    if not cited:
        return []
    label = {(impl, b): f"{impl} {b.mark}" if b else impl for impl, b in series}
    batches = sorted({*data.batches(model), *(x for b in cited for x in b.data.batches(model))})
    rows: list[list[object]] = []
    for batch in batches:
        cells, best = [], None
        for impl, b in series:
            f = (b.data if b else data).forward(model, batch, impl)
            if f is None:
                cells.append(DASH)
            elif f.run is None:
                cells.append(f"not run: {f.error}")
            else:
                cells.append(rc.rate_cell(f.images_spread(), ",.0f"))
                if f.measured and (best is None or f.images_per_s > best[0]):   # type: ignore[operator]
                    best = (f.images_per_s, label[(impl, b)])
        rows.append([batch, *cells, best[1] if best else DASH])
    return [f"Beside other files of this GPU (`--baseline`): images/s, median [min–max] over repetitions, "
            "this file's impls first; [n] names the file a column comes from.", "",
            *rc.table(["Batch", *label.values(), "Fastest"], rows), "",
            *(f"{b.mark} `{b.name}`: {b.source()}." for b in cited), ""]


def _model_sections(data: NetData, baselines: Sequence[Baseline] = ()) -> list[str]:
    models = report_models(data, baselines)
    if not models:
        return ["No net run in this file.", ""]
    lines: list[str] = []
    for model in models:
        rows = _model_rows(data, model)
        lines += [f"### `{model}`", ""]
        if facts := _model_facts(data, model):
            lines += [facts, ""]
        lines += [*(rc.table(MODEL_TABLE_HEADER, rows) if rows else ["No timed forward of this model."]), ""]
        if any(f.graph is False for (m, _, _), f in data.forwards.items() if m == model and f.run):
            lines += [f"{STREAM_MARK} Timed from stream launches, not CUDA-graph replays (counters were on, and "
                      "CUPTI does not profile graph replays): the launch gaps between steps are in these times, "
                      "so they read slower than graph-replay rows would.", ""]
        lines += _beside_lines(data, model, baselines)
    return lines


def _published_rows(data: NetData) -> list[list[object]]:
    rows: list[list[object]] = []
    for (system, model), p in PUBLISHED.items():
        ours_1 = data.forward(model, 1, BTC)
        latency_ms = ours_1.latency_us / 1e3 if ours_1 and ours_1.run and ours_1.latency_us else None
        best = data.best(model, BTC)
        batch_note = f", batch {p.batch}" if p.batch else ""
        rows.append([f"`{model}`", f"{system} ({p.gpu}{batch_note})",
                     rc.fmt(p.latency_ms, "g"), rc.fmt(latency_ms, ",.3f"), _x(rc.ratio(p.latency_ms, latency_ms)),
                     rc.fmt(p.images_per_s, ",.0f"),
                     f"{best.images_per_s:,.0f} (batch {best.batch})" if best else DASH,
                     _x(rc.ratio(best.images_per_s if best else None, p.images_per_s)), p.source])
    return rows


def _goal_lines(data: NetData) -> list[str]:
    found = goals(data)
    header = ["Goal", "Checked at", "Ours", "Verdict"]
    rows = [[g.goal, g.point, g.cell, g.verdict] for g in found]
    met = sum(g.verdict == "met" for g in found)
    return [f"Issue 11: `{GOAL_MODEL}` at batch {GOAL_BATCH} at ≥ {GOAL_TCBNN_FACTOR:g}× TCBNN's published "
            f"images/s; `{GOAL_BIREAL_MODEL}` (no published speed) at ≥ {GOAL_BIREAL_IMAGES_PER_S:,.0f} images/s "
            f"at batch {GOAL_BIREAL_BATCH} and ≤ {GOAL_BIREAL_LATENCY_US:g} µs median latency at batch 1; "
            f"and the tensor-core network ≥ {GOAL_POPC_FACTOR:g}× software popcount on the same model "
            "and batch in this file, each model at its paper batch (the largest measured batch where this file "
            "lacks it, or the model has none). Beside full precision: "
            f"`{GOAL_BIREAL_MODEL}` on {BTC} at ≥ {GOAL_FP16_FACTOR:g}× the images/s of `{GOAL_FP16_MODEL}` on "
            f"{CUDNN}, both at batch {GOAL_BIREAL_BATCH}. The Σ of the forward's step floors (each step's "
            f"compulsory DRAM bytes over the measured bandwidth) ≥ {GOAL_FLOOR_SHARE:.0%} of its median time "
            "at " + " and ".join(f"`{m}` batch {b}" for m, b in GOAL_FLOOR_POINTS) + ", naming the layers "
            "that lose the most where the file has that batch's breakdown. Median images/s; every verdict is "
            "computed from this file.", "",
            *rc.table(header, rows), "", f"{met} of {len(found)} goals met."]


def _layer_rows(data: NetData, model: str, batch: int) -> tuple[list[str], list[list[object]]]:
    found = {impl: d for impl in data.impls if (d := data.breakdown(model, batch, impl)) and d.measured}
    per = {impl: dict(d.layers()) for impl, d in found.items()}
    order: dict[str, None] = {}
    ops: dict[str, str | None] = {}
    for d in found.values():
        for s in d.steps:
            order.setdefault(s.layer, None)
            ops.setdefault(s.layer, s.op)
    header = [*LAYER_TABLE_HEADER, *(f"{impl} µs" for impl in found)]
    with_ratio = BTC in found and POPC in found
    if with_ratio:
        header.append("popc / btc")
    rows: list[list[object]] = []
    for layer in order:
        row: list[object] = [f"`{layer}`", ops.get(layer) or DASH,
                             *(rc.fmt(per[impl].get(layer), ",.1f") for impl in found)]
        if with_ratio:
            row.append(_x(rc.ratio(per[POPC].get(layer), per[BTC].get(layer))))
        rows.append(row)
    rows.append(["Σ", "", *(f"{d.total_us:,.1f}" for d in found.values()),
                 *([_x(rc.ratio(found[POPC].total_us, found[BTC].total_us))] if with_ratio else [])])
    return header, rows


def _step_lines(d: Breakdown) -> list[str]:
    steps = sorted((s for s in d.steps if s.time_us is not None), key=lambda s: -s.time_us)  # type: ignore[operator]
    rows = [[f"`{s.name}`", s.op or DASH, f"`{s.design}`" if s.design else DASH, f"{s.time_us:,.1f}",
             rc.fmt(100.0 * s.time_us / d.total_us if d.total_us else None, ".1f"),   # type: ignore[operator]
             rc.fmt(s.floor_us, ",.1f"), rc.fmt(s.over_floor, ".2f"), rc.fmt(s.excess_us, ",.1f")]
            for s in steps[:TOP_STEPS]]
    lines = [f"The {min(TOP_STEPS, len(steps))} largest of the {len(steps)} {d.impl} steps (floor: the step's "
             "compulsory DRAM bytes over the measured bandwidth, from btcbench.forms):", "",
             *rc.table(STEP_TABLE_HEADER, rows), ""]
    worst = layers_losing(d)
    if worst:
        floors = sum(s.floor_us for s in d.steps if s.floor_us is not None)
        lines += [f"Most time lost against the floor ({d.impl}, time − floor summed over a layer's steps): "
                  + ", ".join(f"`{layer}` {us:,.1f} µs" for layer, us in worst)
                  + f"; the Σ of the steps is {rc.fmt(rc.ratio(d.total_us, floors), ',.1f')}× the Σ of their "
                  f"floors ({floors:,.1f} µs).", ""]
    else:
        lines += ["No step floors in this file (no measured DRAM bandwidth).", ""]
    return lines


def _designs_line(data: NetData, model: str, batch: int) -> list[str]:
    parts = []
    for impl in data.impls:
        f = data.forward(model, batch, impl)
        layers = [layer for layer in (f.form.get("layers") or []) if isinstance(layer, dict)] if f else []
        if not layers:
            continue
        counts: dict[str, int] = {}
        for layer in layers:
            key = f"{layer.get('op')} `{layer.get('design')}`"
            counts[key] = counts.get(key, 0) + 1
        parts.append(f"{impl}: " + ", ".join(f"{k} × {n}" for k, n in counts.items()))
    return ["Designs per layer: " + "; ".join(parts) + ".", ""] if parts else []


STEP_TIMING = {"graph": "each step's kernel time from CUDA-graph replays of back-to-back launches of it alone",
               "events": "each step launched alone between CUDA events (at small batches this counts the "
                         "host's launch gap too)"}


def _breakdown_sections(data: NetData) -> list[str]:
    """The model's breakdown at its paper (or largest) batch first, then at
    every other batch that has one, smallest first (batch 1: the latency goal)."""
    lines: list[str] = []
    for model in data.models:
        main = data.layer_batch(model)
        if main is None:
            continue
        others = sorted(b for b in data.batches(model) if b != main and any(
            (d := data.breakdown(model, b, impl)) is not None and d.measured for impl in data.impls))
        for batch in (main, *others):
            lines += _breakdown_section(data, model, batch, main)
    return lines or ["No per-layer breakdown in this file.", ""]


def _breakdown_section(data: NetData, model: str, batch: int, main: int) -> list[str]:
    lines: list[str] = []
    paper = PAPER_BATCH.get(model)
    note = ""
    if batch == main and paper is not None and paper != batch:
        note = f" (the paper's batch {paper} is not in this file: the largest measured batch)"
    elif batch == main and paper is None:
        note = " (no paper batch: the largest measured batch)"
    lines += [f"### `{model}`, batch {batch}{note}", ""]
    forwards = [(impl, f) for impl in data.impls if (f := data.forward(model, batch, impl)) and f.measured]
    found = [d for impl in data.impls if (d := data.breakdown(model, batch, impl)) and d.measured]
    timing = "; ".join(sorted({STEP_TIMING[d.timing] for d in found}))
    if forwards:
        lines += ["The forward as timed (median): " + ", ".join(
            f"{impl} {f.latency_us:,.1f} µs{' ' + STREAM_MARK if f.graph is False else ''}"
            for impl, f in forwards) + f"; the Σ of its steps ({timing}) is in the table below.", ""]
    lines += _designs_line(data, model, batch)
    header, rows = _layer_rows(data, model, batch)
    lines += [*rc.table(header, rows), ""]
    chosen = data.breakdown(model, batch, BTC)
    if chosen is not None and chosen.measured:
        lines += _step_lines(chosen)
    return lines


INSITU_TABLE_HEADER = ["Observer", "Images/s, median [min–max]", "Forward µs, median", "Overhead %", "Forwards",
                       "Due", "Captured", "Dropped", "Ring slot MiB"]


def _count_cell(value: float | None) -> str:
    return rc.fmt(value, ",.0f")


def _insitu_rows(data: NetData, model: str, batch: int) -> list[list[object]]:
    rows: list[list[object]] = []
    for observer in data.insitu_observers(model, batch):
        r = data.insitu_run(model, batch, observer)
        assert r is not None
        if r.run is None:
            rows.append([f"`{observer}`", f"not run: {r.error}", *([DASH] * (len(INSITU_TABLE_HEADER) - 2))])
            continue
        slot = r.ring_slot_bytes
        observed = observer != NO_OBSERVER
        rows.append([f"`{observer}`", rc.rate_cell(r.images_spread(), ",.0f"), rc.fmt(r.forward_us, ",.1f"),
                     rc.fmt(data.insitu_overhead_pct(model, batch, observer), ",.2f"),
                     *(_count_cell(r.count(k)) if observed else DASH for k in INSITU_COUNTS),
                     rc.fmt(slot / 2**20 if slot is not None and observed else None, ",.2f")])
    return rows


def _insitu_lines(data: NetData, png_name: str) -> list[str]:
    image = [f"![Images/s with and without the in situ observer]({png_name})", ""]
    if not data.insitu:
        return ["No in situ runs in this file.", "", *image]
    found = {g.point: g for g in insitu_goals(data)}
    lines = [f"Issue 13: the in situ observer (insitu/observer.h) on the `{BTC}` network, against the same "
             "CUDA graph without it. Each repetition times windows of back-to-back graph replays between one "
             "pair of events, as many replays per window as the observer's cadence (`every<K>`: one forward "
             "of each window observed, its every layer's tensors of one image copied to a pinned host ring on "
             "a side stream; `none`: no observer); a forward's time is the window's over its replays, the "
             "repetition's figure the median over its windows. Images/s: the median over repetitions "
             "[slowest–fastest]. Overhead % = (images/s without ÷ images/s with − 1) × 100, of the medians. "
             "Forwards, due (the forwards the cadence selected), captured (written) and dropped (due, but the "
             "ring was full) are the observer's counts over the whole run, repetitions and warm-up replays "
             "included (the largest over repetitions); captured may trail due by the forwards still being "
             "written when they were read. Ring slot: the size of one slot of the ring (one observed forward's "
             "tensors).", "",
             f"Goal: {INSITU_GOAL}; met only if both hold. Every verdict is computed from this file.", "",
             *image]
    for model, batch in data.insitu_points:
        lines += [f"### `{model}`, batch {batch}", "", *rc.table(INSITU_TABLE_HEADER, _insitu_rows(data, model, batch)),
                  ""]
        goal = found.get(f"`{model}`, batch {batch}")
        if goal is not None:
            lines += [f"Verdict (observer every {GOAL_INSITU_EVERY}): {goal.cell}.", ""]
    met = sum(g.verdict == "met" for g in found.values())
    return [*lines, f"{met} of {len(found)} in situ goals met.", ""]


def _writer_lines(results: br.Results) -> list[str]:
    """For a file another program wrote (btcbench.writer), such as a PyTorch baseline: which, and how to use it."""
    writer = results.meta.get("writer")
    if not writer:
        return []
    return [f"This file was written by `{writer}`, not by `btcbench sweep net`: its impls are that program's "
            "(see its docstring), and the sweep's figures below (floors, breakdowns, in situ runs) are not in "
            f"it. Set it beside a sweep's file of this GPU with `{PROG} NET.json --baseline {results.path.name}`.",
            ""]


def markdown_report(results: br.Results, data: NetData, png_names: Sequence[str],
                    extra_sections: Sequence[rc.Section] = (), baselines: Sequence[Baseline] = ()) -> str:
    """The report; extra_sections (from the composer) go before Skipped;
    baselines add columns beside a model's table (--baseline)."""
    counters_note = []
    if not (results.meta.get("counters") or {}).get("enabled"):
        counters_note = ["", f"The DRAM bytes column is empty: {rc.counters_off_text(results)}."]
    cited = [("Baselines", "; ".join(f"{b.mark} `{b.name}`" for b in baselines))] if baselines else []
    lines = [*rc.title_lines(results, SUITE),
             *rc.header_lines(results, extra=[("DRAM bandwidth (floors)", _bandwidth_text(results)), *cited]),
             "",
             f"![Images/s over the batch per model]({png_names[0]})", "",
             f"![The forward's time by layer]({png_names[1]})", "",
             "## What this suite measures", "", *_writer_lines(results),
             "Each model of models/ (but the test model) end to end on the GPU, at each batch, twice: `btc`, "
             "the tensor-core designs the generated configuration selects for each binary layer, and `popc`, "
             "software popcount (SBNN's BConv-64 / BMM-64) on the same layers; the full-precision "
             f"`{GOAL_FP16_MODEL}` (torchvision's ResNet-18 topology in fp16) once, as `{CUDNN}`: its convs on "
             "cuDNN (the designs per layer below say what runs each layer). A repetition times "
             "one forward of the batch per iteration, from CUDA-graph replays (stream launches where counters "
             "are on); images/s = batch over the median forward of a repetition, shown as the median over "
             "repetitions [slowest–fastest]; latency median and p99 are over a repetition's forwards "
             "(median over repetitions). btc / popc = btc images/s over popc images/s at the same batch. "
             "Binary TOPS = binary ops per image × images/s. The DRAM floor is the compulsory bytes of every "
             "step (bytes moved) over the measured DRAM bandwidth in the header; time / floor is the median "
             "forward over it. The per-layer breakdown launches each step alone (median of its launches): "
             f"a layer's time is its steps' (`<layer>`, `<layer>/threshold`, `/maxpool2`, `/bn`, `/relayout`, "
             f"`/binarize`); `{INPUT_STEP}` is the input's. Inputs and weights are random (a fixed seed): "
             "times, not accuracy.", *counters_note, "",
             "## Goals", "", *_goal_lines(data), "",
             "## Published figures", "",
             "Published figures beside ours (ours: `btc`, batch-1 median latency and the best median images/s "
             "over the batches measured). Ratios > 1 mean ours is faster; the GPUs differ.", "",
             *rc.table(PUBLISHED_HEADER, _published_rows(data)), "",
             "## Throughput and latency", "", *_model_sections(data, baselines),
             "## Per-layer breakdown", "", *_breakdown_sections(data),
             "## In situ observer overhead", "", *_insitu_lines(data, png_names[2]),
             *rc.section_lines(extra_sections),
             "## Skipped", "", *rc.skipped_lines(results)]
    return "\n".join(lines) + "\n"


PLOT_SUFFIXES = ("net_throughput", "net_layers", "net_insitu")


def render(results: br.Results, out_dir: str | Path | None = None, *,
           extra_sections: Sequence[rc.Section] = (), baselines: Sequence[Baseline] = ()) -> list[Path]:
    """Write <stem>.net_throughput.png, <stem>.net_layers.png,
    <stem>.net_insitu.png and <stem>.md (beside the results file, or in
    out_dir); returns their paths in that order. baselines: load_baselines'."""
    data = collect(results)   # checks the suite before anything is written
    out = rc.output_dir(results, out_dir)
    stem = results.path.stem
    pngs = [out / f"{stem}.{suffix}.png" for suffix in PLOT_SUFFIXES]
    md = out / f"{stem}.md"
    markdown = markdown_report(results, data, [p.name for p in pngs], extra_sections, baselines)
    images = (plot_throughput(results, data, baselines), plot_layers(results, data), plot_insitu(results, data))
    for path, image in zip(pngs, images):
        br.write_atomic(path, image)
    br.write_atomic(md, markdown)
    return [*pngs, md]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Write the plots and markdown report of a net "
                                     "results file (btcbench sweep net).")
    parser.add_argument("results", help="a btcbench results file of the net suite (btcbench sweep net)")
    parser.add_argument("--out", "--out-dir", dest="out", metavar="DIR",
                        help="output directory (default: beside the results file)")
    parser.add_argument("--baseline", action="append", default=[], metavar="TORCH.json",
                        help="a net file of the same GPU whose forwards go beside this file's, such as "
                             "python3 -m analysis.torch_baseline's (repeatable)")
    args = parser.parse_args(argv)
    try:
        results = br.load(args.results)
        baselines = load_baselines(results, args.baseline)
        conditions = rc.conditions_section(results)
        outputs = render(results, args.out, extra_sections=[conditions] if conditions else [],
                         baselines=baselines)
    except br.ResultsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:   # the output folder or a report file cannot be written
        print(f"error: cannot write the report of {args.results}: {e}", file=sys.stderr)
        return 1
    print("\n".join(f"wrote {p}" for p in outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
