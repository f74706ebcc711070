"""PyTorch's own ResNet-18 in fp16 on this GPU, written as a results file of
the net suite: the full-precision network a user runs without a BNN
library, timed as PyTorch gives it, for analysis.net_report --baseline to
set beside the sweep's `cudnn` impl of models/resnet18-fp16.model.

usage: python3 -m analysis.torch_baseline --out DIR [--batches 1,8,32,128,256,512,1024]
           [--repetitions N] [--warmup N] [--iterations N] [--seed S] [--commit SHA]

Writes DIR/<gpu-slug>/torch-<UTC stamp>-<commit7>.json, named as a `btcbench
sweep` file ('unknown' for the commit outside a git checkout without
--commit). PyTorch is no dependency of this package; the lent GPU machine
has it.

The model: torchvision.models.resnet18(weights=None), or ResNet18 below (the
same topology) without torchvision; random weights (--seed), fp16,
channels_last, eval mode, cudnn.benchmark on. Two impls per batch:
  torch_eager  the module called under torch.inference_mode (Python's
               kernel launches are in the time);
  torch_graph  the forward captured once in a torch.cuda.CUDAGraph, replayed
               (as the harness replays its graph).
Two random input batches are used in turn (one graph captured per input).
A repetition times `iterations` forwards, each between its own pair of CUDA
events, as harness/suites/net_suite.cpp does, and writes the sweep's fields:
real_time (µs) their mean, latency_median_us / latency_p99_us over them,
images_per_s the batch over their median, device_bytes
(torch.cuda.max_memory_allocated), graph 1 on torch_graph only, and
nvidia-smi's SM clock, power and temperature after the repetition
(nvml_*); Google Benchmark's aggregates follow. --iterations 0 fills about
ITERATION_TARGET_S. Out of memory at a batch: an entry with the error, and
the next batch runs. Device fields torch lacks (the SM clocks, the driver)
come from nvidia-smi; one neither gives is null with a reason beside it.

Exit status: 0 written, 1 torch not importable, no CUDA GPU, an unwritable
output or a written file that btcresults.load refuses (a field the schema
needs was not found; one line on stderr), 2 usage.
"""
from __future__ import annotations

import argparse
import ctypes
import dataclasses
import datetime
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from analysis import btcresults as br

try:  # optional: only the measurement needs it
    import torch
    from torch import nn
except ImportError:
    torch = None
    nn = None
try:  # optional: the model's own definition below stands in for it
    import torchvision
except ImportError:
    torchvision = None

PROG = "python3 -m analysis.torch_baseline"
ERROR_PREFIX = "analysis.torch_baseline: error:"
WRITER = "analysis/torch_baseline.py"
REPO = Path(__file__).resolve().parents[1]
SUITE = "net"
FILE_PREFIX = "torch"
MODEL = "resnet18-fp16"   # models/resnet18-fp16.model: the topology timed here
IMPLS = ("torch_eager", "torch_graph")
DEFAULT_BATCHES = (1, 8, 32, 128, 256, 512, 1024)
IMAGE = (3, 224, 224)
INPUT_BUFFERS = 2
ITERATION_TARGET_S = 0.15           # auto --iterations: about this long per repetition
ITERATIONS_RANGE = (5, 1000)
TORCH_MISSING = "torch is not importable: the baseline needs PyTorch (it is on the lent GPU machine)"
NO_GPU = "no CUDA GPU: torch.cuda.is_available() is False"
AGGREGATES: tuple[tuple[str, Callable[[Sequence[float]], float]], ...] = (
    ("mean", statistics.mean), ("median", statistics.median),
    ("stddev", lambda v: statistics.stdev(v) if len(v) > 1 else 0.0),
    ("cv", lambda v: (statistics.stdev(v) / statistics.mean(v)) if len(v) > 1 and statistics.mean(v) else 0.0),
    ("min", min), ("max", max))


class BaselineError(Exception):
    """A one-line error for the CLI."""


# ---------------------------------------------------------------- names and entries (no torch)

def gpu_slug(device_name: str) -> str:
    """The harness's slug of a device name (harness/core/results.cpp: gpu_slug)."""
    slug = re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-")
    return slug or "unknown-gpu"


def results_filename(utc_compact: str, commit: str) -> str:
    """torch-<stamp>-<commit7>.json (harness/core/results.cpp: results_filename)."""
    return f"{FILE_PREFIX}-{utc_compact}-{commit[:7] if len(commit) >= 7 else 'nogit'}.json"


def run_name(batch: int, impl: str, model: str = MODEL) -> str:
    """The sweep's name of a timed forward (the model with '_' for '-')."""
    return f"net/{model.replace('-', '_')}/batch:{batch}/impl:{impl}/manual_time"


@dataclasses.dataclass(frozen=True)
class Repetition:
    """One repetition: each forward's seconds (CUDA events), the CPU seconds
    per forward, and what nvidia-smi read after it (counters, may be empty)."""
    times_s: Sequence[float]
    cpu_s: float
    conditions: Mapping[str, float] = dataclasses.field(default_factory=dict)


def percentile(values: Sequence[float], q: float) -> float:
    """net_suite.cpp's percentile: the ceil(q * n)-th smallest."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))]


def forward_entries(batch: int, impl: str, reps: Sequence[Repetition],
                    counters: Mapping[str, float] = {}, model: str = MODEL) -> list[dict[str, Any]]:
    """The Google Benchmark entries of one timed forward, as net_suite.cpp's
    run_forward writes them: an iteration entry per repetition, then the
    aggregates over them. counters: the same on every repetition (graph,
    device_bytes)."""
    if not reps or any(not r.times_s for r in reps):
        raise ValueError("every repetition needs at least one forward time")
    name = run_name(batch, impl, model)
    base = {"name": name, "family_index": 0, "per_family_instance_index": 0, "run_name": name}
    rows = []
    for r in reps:
        median = percentile(r.times_s, 0.5)
        rows.append({"real_time": statistics.mean(r.times_s) * 1e6, "cpu_time": r.cpu_s * 1e6,
                     "batch": float(batch), "images_per_s": batch / median, "latency_median_us": median * 1e6,
                     "latency_p99_us": percentile(r.times_s, 0.99) * 1e6, **counters, **r.conditions})
    entries = [{**base, "run_type": "iteration", "repetitions": len(reps), "repetition_index": i, "threads": 1,
                "iterations": len(r.times_s), **row, "time_unit": "us", "label": model}
               for i, (r, row) in enumerate(zip(reps, rows))]
    for agg, fn in AGGREGATES:
        keys = [k for k in rows[0] if all(k in row for row in rows)]
        values = {k: fn([row[k] for row in rows]) for k in keys}
        entries.append({**base, "name": f"{name}_{agg}", "run_type": "aggregate", "repetitions": len(reps),
                        "threads": 1, "aggregate_name": agg, "aggregate_unit": "percentage" if agg == "cv" else "time",
                        "iterations": len(reps), **values, "time_unit": "us", "label": model})
    return entries


def error_entries(batch: int, impl: str, message: str, repetitions: int, model: str = MODEL) -> list[dict[str, Any]]:
    """A forward that could not run: an entry per repetition with the error (as the sweep's SkipWithError)."""
    name = run_name(batch, impl, model)
    return [{"name": name, "family_index": 0, "per_family_instance_index": 0, "run_name": name,
             "run_type": "iteration", "repetitions": repetitions, "repetition_index": i, "threads": 1,
             "error_occurred": True, "error_message": message, "iterations": 0, "real_time": 0, "cpu_time": 0,
             "time_unit": "us", "label": model} for i in range(repetitions)]


def results_document(benchmarks: list[dict[str, Any]], forms: dict[str, Any], device: dict[str, Any],
                     git: dict[str, Any], command_line: Sequence[str], created_utc: str,
                     software: dict[str, Any]) -> dict[str, Any]:
    """A btcbench.results.v1 document of the net suite (docs/results-schema.md)."""
    meta = {
        "schema": br.SCHEMA, "suite": SUITE, "writer": WRITER, "created_utc": created_utc,
        "command_line": list(command_line), "git": git,
        "build": {"torch": software.get("torch"), "cuda_toolkit": software.get("cuda"),
                  "cudnn": software.get("cudnn")},
        "software": software, "device": device,
        "counters": {"enabled": False, "reason": f"not collected: {WRITER} times with CUDA events only"},
        "forms": forms, "skipped": [],
    }
    context = {"date": created_utc, "host_name": platform.node(), "executable": WRITER,
               "num_cpus": os.cpu_count(), "btcbench_schema": br.SCHEMA, "btcbench_suite": SUITE,
               "device_name": device.get("name"), "driver_version": device.get("driver_version"),
               "git_commit": git.get("commit"), "counters": "off: " + meta["counters"]["reason"]}
    return {"context": context, "benchmarks": benchmarks, "btcbench": meta}


# ---------------------------------------------------------------- the machine (no torch)

def _run(cmd: Sequence[str]) -> str | None:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=REPO)
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


def git_info(commit: str | None) -> dict[str, Any]:
    """The checkout's commit (or --commit), describe and dirty; 'unknown' outside git, as the harness."""
    if commit:
        return {"commit": commit, "source": "--commit"}
    head = _run(["git", "rev-parse", "HEAD"])
    if not head:
        return {"commit": "unknown", "reason": "not a git checkout (git rev-parse HEAD failed); pass --commit"}
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"])
    return {"commit": head, "describe": _run(["git", "describe", "--always", "--dirty"]) or head[:7],
            "dirty": bool(status) if status is not None else None}


SMI_FIELDS = ("uuid", "driver_version", "clocks.max.sm", "clocks.max.mem", "clocks.sm", "power.draw",
              "temperature.gpu")


def nvidia_smi(uuid: str | None) -> dict[str, str] | str:
    """SMI_FIELDS of the GPU with this uuid (the only GPU, if the uuid is not known), or why not."""
    if shutil.which("nvidia-smi") is None:
        return "nvidia-smi not found"
    out = _run(["nvidia-smi", f"--query-gpu={','.join(SMI_FIELDS)}", "--format=csv,noheader,nounits"])
    if out is None:
        return "nvidia-smi --query-gpu failed"
    rows = [dict(zip(SMI_FIELDS, (c.strip() for c in line.split(",")))) for line in out.splitlines() if line]
    want = (uuid or "").lower().removeprefix("gpu-")
    mine = [r for r in rows if want and r["uuid"].lower().removeprefix("gpu-") == want]
    if not mine and len(rows) == 1:
        mine = rows
    return mine[0] if mine else f"nvidia-smi lists {len(rows)} GPUs and none with uuid {uuid}"


def smi_number(smi: dict[str, str] | str, key: str) -> float | None:
    try:
        value = float(smi[key]) if isinstance(smi, dict) else None
    except ValueError:   # '[N/A]'
        return None
    return value if value is not None and math.isfinite(value) else None


def conditions(uuid: str | None) -> dict[str, float]:
    """nvidia-smi's SM clock, power and temperature now, as the sweep's nvml_* counters (none it lacks)."""
    smi = nvidia_smi(uuid)
    keys = {"nvml_sm_clock_mhz": "clocks.sm", "nvml_power_w": "power.draw", "nvml_temp_c": "temperature.gpu"}
    return {name: v for name, key in keys.items() if (v := smi_number(smi, key)) is not None}


def driver_version(smi: dict[str, str] | str) -> tuple[str | None, str]:
    """The driver version and where it came from (nvidia-smi, else /proc/driver/nvidia/version)."""
    if isinstance(smi, dict) and smi.get("driver_version"):
        return smi["driver_version"], "nvidia-smi"
    try:
        m = re.search(r"Kernel Module\s+([0-9][0-9.]*)", Path("/proc/driver/nvidia/version").read_text())
    except OSError:
        m = None
    return (m[1], "/proc/driver/nvidia/version") if m else (None, f"{smi}; no /proc/driver/nvidia/version")


def cuda_driver_api() -> int | None:
    """cuDriverGetVersion from libcuda (1000 * major + 10 * minor), None where it cannot be loaded."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
        version = ctypes.c_int(0)
        return version.value if lib.cuDriverGetVersion(ctypes.byref(version)) == 0 else None
    except (OSError, AttributeError):
        return None


def cuda_version_number(text: str | None) -> int | None:
    """'12.4' -> 12040 (CUDA's 1000 * major + 10 * minor)."""
    m = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)?", text or "")
    return int(m[1]) * 1000 + int(m[2]) * 10 if m else None


# ---------------------------------------------------------------- torch

if nn is not None:
    class BasicBlock(nn.Module):
        """torchvision's BasicBlock: two 3x3 convs with batch norm, the input (or its 1x1 conv) added."""

        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x: Any) -> Any:
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return self.relu(y + (x if self.downsample is None else self.downsample(x)))

    class ResNet18(nn.Module):
        """torchvision's resnet18 topology, for machines without torchvision."""

        def __init__(self, classes: int = 1000) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, 2, 1))
            blocks, cin = [], 64
            for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
                cin = cout
            self.blocks = nn.Sequential(*blocks)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, classes)

        def forward(self, x: Any) -> Any:
            return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


def model_source() -> str:
    return "torchvision.models.resnet18(weights=None)" if torchvision is not None else \
        "analysis.torch_baseline.ResNet18 (torchvision not importable)"


def build_model(seed: int) -> Any:
    torch.manual_seed(seed)
    net = torchvision.models.resnet18(weights=None) if torchvision is not None else ResNet18()
    return net.to(device="cuda", dtype=torch.half, memory_format=torch.channels_last).eval()


def is_oom(e: BaseException) -> bool:
    return isinstance(e, getattr(torch.cuda, "OutOfMemoryError", ())) or "out of memory" in str(e)


def _forwards(net: Any, inputs: Sequence[Any], impl: str) -> Callable[[int], None]:
    """forward(i): the i-th forward of the impl (input i % len(inputs)); warmed up (cuDNN tuned)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):   # warm-up off the capture stream, as torch.cuda.graphs asks
        for x in inputs:
            for _ in range(3):
                net(x)
    torch.cuda.current_stream().wait_stream(side)
    if impl == "torch_eager":
        return lambda i: net(inputs[i % len(inputs)])
    graphs = []
    for x in inputs:
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            net(x)
        graphs.append(g)
    return lambda i: graphs[i % len(graphs)].replay()


def time_impl(net: Any, batch: int, impl: str, args: argparse.Namespace, uuid: str | None) -> list[dict[str, Any]]:
    """The entries of one (batch, impl): timed, or one with the out-of-memory error."""
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    try:
        with torch.inference_mode():
            inputs = [torch.randn(batch, *IMAGE, device="cuda", dtype=torch.half)
                      .contiguous(memory_format=torch.channels_last) for _ in range(INPUT_BUFFERS)]
            forward = _forwards(net, inputs, impl)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

            def timed(n: int) -> list[float]:
                out = []
                for i in range(n):
                    start.record()
                    forward(i)
                    end.record()
                    end.synchronize()
                    out.append(start.elapsed_time(end) * 1e-3)
                return out

            warm = timed(max(args.warmup, 1))   # one at least: it sizes --iterations 0
            lo, hi = ITERATIONS_RANGE
            iterations = args.iterations or min(hi, max(lo, round(ITERATION_TARGET_S / statistics.median(warm))))
            reps = []
            for _ in range(args.repetitions):
                cpu0 = time.thread_time()
                secs = timed(iterations)
                reps.append(Repetition(secs, (time.thread_time() - cpu0) / iterations, conditions(uuid)))
            # graph 1: replays of a CUDA graph. torch_eager writes none: the sweep's graph 0 means stream
            # launches because counters were on, and eager's stream launches are the impl itself.
            counters = {**({"graph": 1.0} if impl == "torch_graph" else {}),
                        "device_bytes": float(torch.cuda.max_memory_allocated())}
            del forward, inputs
        return forward_entries(batch, impl, reps, counters)
    except RuntimeError as e:
        if not is_oom(e):
            raise
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return error_entries(batch, impl, f"out of memory: {first_line}", args.repetitions)
    finally:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def device_fields(uuid: str | None) -> dict[str, Any]:
    """The results schema's device object, from torch and nvidia-smi; null and a reason for what neither gives."""
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    smi = nvidia_smi(uuid)
    driver, driver_from = driver_version(smi)
    dev: dict[str, Any] = {
        "ordinal": torch.cuda.current_device(), "name": props.name, "slug": gpu_slug(props.name),
        "cc": f"{props.major}.{props.minor}", "sm_count": props.multi_processor_count,
        "l2_bytes": getattr(props, "L2_cache_size", None), "total_memory_bytes": props.total_memory,
        "sm_clock_max_mhz": smi_number(smi, "clocks.max.sm"), "mem_clock_max_mhz": smi_number(smi, "clocks.max.mem"),
        "sm_clock_at_start_mhz": smi_number(smi, "clocks.sm"), "driver_version": driver,
        "cuda_driver_api": cuda_driver_api(), "cuda_runtime": cuda_version_number(torch.version.cuda),
        "uuid": uuid, "sources": {"clocks": "nvidia-smi", "driver_version": driver_from,
                                  "cuda_runtime": "torch.version.cuda (the runtime torch is built with)"},
    }
    for key in ("sm_clock_max_mhz", "mem_clock_max_mhz", "sm_clock_at_start_mhz"):
        if dev[key] is None:
            dev[f"{key}_error"] = smi if isinstance(smi, str) else f"nvidia-smi gave no number for {key}"
    if driver is None:
        dev["driver_version_error"] = driver_from
    if dev["cuda_runtime"] is None:
        dev["cuda_runtime_error"] = f"torch.version.cuda is {torch.version.cuda!r} (not a CUDA build of torch?)"
    return dev


def measure(args: argparse.Namespace, argv: Sequence[str]) -> Path:
    torch.backends.cudnn.benchmark = True
    uuid = str(getattr(torch.cuda.get_device_properties(torch.cuda.current_device()), "uuid", "") or "") or None
    device = device_fields(uuid)
    git = git_info(args.commit)
    stamp = datetime.datetime.now(datetime.timezone.utc)
    out_dir = Path(args.out) / device["slug"]
    path = out_dir / results_filename(stamp.strftime("%Y%m%dT%H%M%SZ"), git["commit"])
    try:   # checked before the GPU runs (a clash after the sweep would cost the sweep)
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BaselineError(f"cannot create {out_dir}: {e.strerror or e}") from None
    if path.exists():
        raise BaselineError(f"{path} already exists; not replacing it")
    net = build_model(args.seed)
    software = {"torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                "torchvision": getattr(torchvision, "__version__", None), "model": model_source(),
                "python": platform.python_version()}
    benchmarks, forms = [], {}
    print(f"{PROG}: {device['name']}, torch {software['torch']}, cuDNN {software['cudnn']}, {software['model']}")
    for batch in args.batches:
        for impl in IMPLS:
            entries = time_impl(net, batch, impl, args, uuid)
            benchmarks += entries
            median = next((e for e in entries if e.get("aggregate_name") == "median"), None)
            if median is not None:
                forms[f"{MODEL}/batch:{batch}/impl:{impl}"] = {
                    "status": "measured", "model": MODEL, "batch": batch, "impl": impl,
                    "designs": f"{software['model']}, fp16, channels_last, cudnn.benchmark, "
                               + ("CUDA graph" if impl == "torch_graph" else "eager"),
                    "device_bytes": median["device_bytes"]}
            result = (f"{median['images_per_s']:>10,.0f} images/s, {median['latency_median_us']:,.1f} µs"
                      if median else entries[0]["error_message"])
            print(f"  batch {batch:>5} {impl:<12} {result}", flush=True)
    doc = results_document(benchmarks, forms, device, git, [*PROG.split(), *argv],
                           stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), software)
    try:
        br.write_atomic(path, json.dumps(doc, indent=2) + "\n")
    except OSError as e:
        raise BaselineError(f"cannot write {path}: {e.strerror or e}") from None
    return path


# ---------------------------------------------------------------- the CLI

def _batches(text: str) -> tuple[int, ...]:
    try:
        batches = tuple(int(b) for b in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of batches: {text!r}") from None
    if not batches or min(batches) < 1:
        raise argparse.ArgumentTypeError(f"batches must be positive: {text!r}")
    return batches


def _count(least: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}: {text!r}")
        return value
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, metavar="DIR", help="results folder: the file goes to DIR/<gpu-slug>/")
    ap.add_argument("--batches", type=_batches, default=DEFAULT_BATCHES, metavar="N,N,...",
                    help=f"batches (default: {','.join(map(str, DEFAULT_BATCHES))}, the sweep's)")
    ap.add_argument("--repetitions", type=_count(1), default=7, metavar="N", help="repetitions (default: 7)")
    ap.add_argument("--warmup", type=_count(0), default=10, metavar="N",
                    help="timed-and-dropped forwards before the repetitions (default: 10)")
    ap.add_argument("--iterations", type=_count(0), default=0, metavar="N",
                    help=f"forwards per repetition (default 0: about {ITERATION_TARGET_S:g} s of them)")
    ap.add_argument("--seed", type=_count(0), default=1, metavar="S", help="the weights' seed (default: 1)")
    ap.add_argument("--commit", metavar="SHA", help="the commit to record outside a git checkout "
                                                    "(default: git rev-parse HEAD)")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = ap.parse_args(argv)
    try:
        if torch is None:
            raise BaselineError(TORCH_MISSING)
        if not torch.cuda.is_available():
            raise BaselineError(NO_GPU)
        path = measure(args, argv)
        br.load(path)   # the schema the reports read
    except BaselineError as e:
        print(f"{ERROR_PREFIX} {e}", file=sys.stderr)
        return 1
    except br.ResultsError as e:
        print(f"{ERROR_PREFIX} written, but the reports cannot read it: {e}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
