"""analysis.torch_baseline without torch or a GPU: the CLI's refusals, the
pure entry and document builders against what btcresults and net_report
read, the nvidia-smi reading, and the whole measurement loop on a FAKE
torch (a clock that each forward advances by a known time), so what the
file records can be checked against the times put in.
"""
from __future__ import annotations

import contextlib
import json
import statistics
import types
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_one_line_error
from conftest import run_module as run

from analysis import btcresults as br
from analysis import net_report as nr
from analysis import torch_baseline as tb

H200 = {"name": "NVIDIA H200", "slug": "nvidia-h200", "cc": "9.0", "sm_count": 132, "sm_clock_max_mhz": 1980.0,
        "sm_clock_at_start_mhz": 345.0, "driver_version": "580.159.04", "cuda_runtime": 12080}
SOFTWARE = {"torch": "2.9.0+cu128", "cuda": "12.8", "cudnn": 91002, "torchvision": "0.24.0",
            "model": "torchvision.models.resnet18(weights=None)"}


def reps(times_us: list[list[float]], cpu_us: float = 50.0) -> list[tb.Repetition]:
    return [tb.Repetition([t * 1e-6 for t in ts], cpu_us * 1e-6, {"nvml_sm_clock_mhz": 1980.0}) for ts in times_us]


# ---------------------------------------------------------------- the CLI's refusals

def test_without_torch_exits_1(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(tb, "torch", None)
    assert tb.main(["--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"analysis.torch_baseline: error: {tb.TORCH_MISSING}"]
    assert err[0].startswith("analysis.torch_baseline: error: torch is not importable")
    assert not (tmp_path / "out").exists()


def test_without_a_gpu_exits_1(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(tb, "torch", types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: False)))
    assert tb.main(["--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err == "analysis.torch_baseline: error: no CUDA GPU: torch.cuda.is_available() " \
                                      "is False\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(tb.torch is not None, reason="torch is importable here")
def test_cli_without_torch(tmp_path):
    assert_one_line_error(run("analysis.torch_baseline", "--out", str(tmp_path)), 1, "torch is not importable")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, text", [
    ([], "the following arguments are required: --out"),
    (["--out", "x", "--batches", "1,x"], "not a comma-separated list of batches"),
    (["--out", "x", "--batches", "8,0"], "batches must be positive"),
    (["--out", "x", "--repetitions", "0"], "must be at least 1"),
    (["--out", "x", "--warmup", "-1"], "must be at least 0"),
])
def test_bad_flags_exit_2(args, text, capsys):
    with pytest.raises(SystemExit) as info:
        tb.main(args)
    assert info.value.code == 2 and text in capsys.readouterr().err


# ---------------------------------------------------------------- names, entries, document

def test_slug_and_file_name_as_the_harness():
    assert tb.gpu_slug("NVIDIA H200") == "nvidia-h200"
    assert tb.gpu_slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"   # results/nvidia-h100-80gb-hbm3
    assert tb.gpu_slug("  Tesla V100-SXM2-16GB ") == "tesla-v100-sxm2-16gb" and tb.gpu_slug("--") == "unknown-gpu"
    assert tb.results_filename("20261203T101500Z", "7de0861e1ed04b6e") == "torch-20261203T101500Z-7de0861.json"
    assert tb.results_filename("20261203T101500Z", "unknown") == "torch-20261203T101500Z-unknown.json"
    assert tb.results_filename("20261203T101500Z", "abc") == "torch-20261203T101500Z-nogit.json"
    assert tb.run_name(256, "torch_graph") == "net/resnet18_fp16/batch:256/impl:torch_graph/manual_time"
    assert nr.parse_net_name(tb.run_name(256, "torch_graph")) == nr.NetName("resnet18-fp16", 256, "torch_graph",
                                                                              False)


def test_percentile_is_the_sweeps():
    # net_suite.cpp: the ceil(q * n)-th smallest.
    assert tb.percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0
    assert tb.percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.0
    assert tb.percentile(list(map(float, range(1, 101))), 0.99) == 99.0
    assert tb.percentile([7.0], 0.99) == 7.0


def test_forward_entries():
    times = [[100.0, 110.0, 90.0, 300.0], [200.0, 210.0, 190.0, 205.0], [150.0, 150.0, 150.0, 150.0]]
    entries = tb.forward_entries(32, "torch_graph", reps(times), {"graph": 1.0, "device_bytes": 1e9})
    name = "net/resnet18_fp16/batch:32/impl:torch_graph/manual_time"
    iters = [e for e in entries if e["run_type"] == "iteration"]
    assert [e["repetition_index"] for e in iters] == [0, 1, 2] and all(e["name"] == name for e in iters)
    first = iters[0]
    assert first["real_time"] == pytest.approx(150.0) and first["time_unit"] == "us"   # the mean forward
    assert first["iterations"] == 4 and first["cpu_time"] == pytest.approx(50.0)
    assert first["latency_median_us"] == pytest.approx(100.0)     # the 2nd of 4 (ceil(0.5 * 4))
    assert first["latency_p99_us"] == pytest.approx(300.0)
    assert first["images_per_s"] == pytest.approx(32 / 100e-6)
    assert (first["graph"], first["device_bytes"], first["batch"], first["nvml_sm_clock_mhz"]) == \
        (1.0, 1e9, 32.0, 1980.0)
    aggs = {e["aggregate_name"]: e for e in entries if e["run_type"] == "aggregate"}
    assert list(aggs) == ["mean", "median", "stddev", "cv", "min", "max"]
    assert all(e["name"] == f"{name}_{agg}" and e["run_name"] == name for agg, e in aggs.items())
    means = [statistics.mean(t) for t in times]
    assert aggs["median"]["real_time"] == pytest.approx(statistics.median(means))
    assert aggs["min"]["real_time"] == pytest.approx(min(means)) and aggs["max"]["real_time"] == pytest.approx(
        max(means))
    assert aggs["median"]["images_per_s"] == pytest.approx(32 / 150e-6)   # median of 32/100, 32/200, 32/150 µs
    assert aggs["cv"]["aggregate_unit"] == "percentage" and aggs["stddev"]["real_time"] == pytest.approx(
        statistics.stdev(means))
    with pytest.raises(ValueError, match="at least one forward"):
        tb.forward_entries(1, "torch_eager", [tb.Repetition([], 0.0)])


def torch_doc(device: dict[str, Any] = H200) -> dict[str, Any]:
    """A torch_baseline file as the builders write it: batch 1 and 256 of both impls, batch 1024 out of memory."""
    benchmarks = []
    for batch, eager_us, graph_us in ((1, 900.0, 400.0), (256, 4000.0, 3600.0)):
        benchmarks += tb.forward_entries(batch, "torch_eager", reps([[eager_us * f] * 5 for f in (0.99, 1, 1.02)]),
                                         {"device_bytes": 2e8})
        benchmarks += tb.forward_entries(batch, "torch_graph", reps([[graph_us * f] * 5 for f in (0.99, 1, 1.02)]),
                                         {"graph": 1.0, "device_bytes": 3e8})
    for impl in tb.IMPLS:
        benchmarks += tb.error_entries(1024, impl, "out of memory: CUDA out of memory. Tried to allocate 6 GiB", 3)
    forms = {f"resnet18-fp16/batch:{b}/impl:{i}": {"status": "measured", "model": "resnet18-fp16", "batch": b,
                                                   "impl": i} for b in (1, 256) for i in tb.IMPLS}
    git = {"commit": "f5c17dab051e6302ca0b154c67a50024fbc0ed08", "describe": "f5c17da", "dirty": False}
    return tb.results_document(benchmarks, forms, dict(device), git,
                               ["python3", "-m", "analysis.torch_baseline", "--out", "r"], "2026-12-03T10:15:00Z",
                               SOFTWARE)


def test_document_loads_and_net_report_reads_it(tmp_path):
    path = tmp_path / "nvidia-h200" / "torch-20261203T101500Z-f5c17da.json"
    path.parent.mkdir()
    br.write_atomic(path, json.dumps(torch_doc()))
    results = br.load(path)
    assert results.suite == "net" and results.meta["writer"] == "analysis/torch_baseline.py"
    assert results.meta["software"]["torch"] == SOFTWARE["torch"] and not results.meta["counters"]["enabled"]
    data = nr.collect(results)
    assert data.models == ["resnet18-fp16"] and data.impls == ["torch_eager", "torch_graph"]
    assert data.batches("resnet18-fp16") == [1, 256, 1024]
    graph = data.forward("resnet18-fp16", 256, "torch_graph")
    assert graph.images_per_s == pytest.approx(256 / 3600e-6) and graph.latency_us == pytest.approx(3600.0)
    assert graph.graph is True and graph.device_bytes == 3e8
    assert data.forward("resnet18-fp16", 1, "torch_eager").graph is None   # no graph counter: not 'stream ‡'
    assert graph.images_spread() == pytest.approx((256 / 3600e-6 / 1.02, 256 / 3600e-6, 256 / 3600e-6 / 0.99))
    oom = data.forward("resnet18-fp16", 1024, "torch_graph")
    assert oom.run is None and oom.error.startswith("out of memory: CUDA out of memory")
    # Its own report (rebuild_all renders every results file): the writer said, the goals not measured.
    md = nr.render(results, tmp_path / "out")[3].read_text()
    assert "This file was written by `analysis/torch_baseline.py`, not by `btcbench sweep net`" in md
    assert f"--baseline {path.name}`" in md
    assert "| 256 | torch_graph | 71,111 [" in md and "| 1024 | torch_eager | not run: out of memory" in md


def test_a_file_without_the_max_sm_clock_is_refused_by_load(tmp_path):
    doc = torch_doc({**H200, "sm_clock_max_mhz": None, "sm_clock_max_mhz_error": "nvidia-smi not found"})
    path = tmp_path / "torch.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(br.ResultsError, match="sm_clock_max_mhz' has the wrong type"):
        br.load(path)


# ---------------------------------------------------------------- nvidia-smi

def test_nvidia_smi_picks_the_gpu_by_uuid(monkeypatch):
    monkeypatch.setattr(tb.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    out = ("GPU-aaaa-1, 580.159.04, 1980, 3201, 345, 118.25, 39\n"
           "GPU-bbbb-2, 580.159.04, 1755, 3201, [N/A], 90.5, 41\n")
    monkeypatch.setattr(tb, "_run", lambda cmd: out)
    smi = tb.nvidia_smi("bbbb-2")   # torch's uuid has no 'GPU-' prefix
    assert isinstance(smi, dict) and smi["clocks.max.sm"] == "1755"
    assert tb.smi_number(smi, "clocks.max.sm") == 1755.0 and tb.smi_number(smi, "clocks.sm") is None
    assert tb.nvidia_smi("cccc") == "nvidia-smi lists 2 GPUs and none with uuid cccc"
    assert tb.driver_version(smi) == ("580.159.04", "nvidia-smi")
    monkeypatch.setattr(tb, "_run", lambda cmd: out.splitlines()[0])
    assert tb.nvidia_smi(None)["uuid"] == "GPU-aaaa-1"   # the only GPU
    assert tb.conditions(None) == {"nvml_sm_clock_mhz": 345.0, "nvml_power_w": 118.25, "nvml_temp_c": 39.0}
    monkeypatch.setattr(tb.shutil, "which", lambda name: None)
    assert tb.nvidia_smi("bbbb-2") == "nvidia-smi not found" and tb.conditions(None) == {}


def test_cuda_version_number():
    assert tb.cuda_version_number("12.8") == 12080 and tb.cuda_version_number("13.0.1") == 13000
    assert tb.cuda_version_number(None) is None and tb.cuda_version_number("rocm") is None


# ---------------------------------------------------------------- the loop, on a fake torch

class FakeClock:
    now = 0.0


class FakeOOM(RuntimeError):
    pass


class FakeTensor:
    def __init__(self, batch: int) -> None:
        self.batch = batch

    def contiguous(self, memory_format: Any = None) -> FakeTensor:
        return self


EAGER_S_PER_IMAGE, GRAPH_S_PER_IMAGE, OOM_ABOVE = 4e-6, 3e-6, 512


class FakeNet:
    capturing: list[Any] = []

    def __call__(self, x: FakeTensor) -> None:
        if FakeNet.capturing:
            FakeNet.capturing[-1].batch = x.batch
        else:
            FakeClock.now += EAGER_S_PER_IMAGE * x.batch


class FakeGraph:
    def __init__(self) -> None:
        self.batch = 0

    def replay(self) -> None:
        FakeClock.now += GRAPH_S_PER_IMAGE * self.batch


class FakeEvent:
    def __init__(self, enable_timing: bool = False) -> None:
        self.t = 0.0

    def record(self) -> None:
        self.t = FakeClock.now

    def synchronize(self) -> None:
        pass

    def elapsed_time(self, end: FakeEvent) -> float:
        return (end.t - self.t) * 1e3   # ms


@contextlib.contextmanager
def _capture(graph: FakeGraph):
    FakeNet.capturing.append(graph)
    try:
        yield
    finally:
        FakeNet.capturing.pop()


def _randn(batch: int, *shape: int, device: str, dtype: Any) -> FakeTensor:
    if batch > OOM_ABOVE:
        raise FakeOOM("CUDA out of memory. Tried to allocate 9.19 GiB")
    return FakeTensor(batch)


def fake_torch() -> Any:
    ns = types.SimpleNamespace
    props = ns(name="NVIDIA H200", major=9, minor=0, multi_processor_count=132, total_memory=150 << 30,
               L2_cache_size=60 << 20, uuid="aaaa-1")
    stream = ns(wait_stream=lambda other: None)
    cuda = ns(is_available=lambda: True, current_device=lambda: 0, get_device_properties=lambda i: props,
              empty_cache=lambda: None, reset_peak_memory_stats=lambda: None, max_memory_allocated=lambda: 2 << 30,
              synchronize=lambda: None, Stream=lambda: stream, stream=lambda s: contextlib.nullcontext(),
              current_stream=lambda: stream, CUDAGraph=FakeGraph, graph=_capture, Event=FakeEvent,
              OutOfMemoryError=FakeOOM)
    return ns(cuda=cuda, randn=_randn, half="half", channels_last="channels_last",
              inference_mode=contextlib.nullcontext, backends=ns(cudnn=ns(benchmark=False, version=lambda: 91002)),
              version=ns(cuda="12.8"), __version__="2.9.0+fake")


def test_measure_on_a_fake_torch(monkeypatch, tmp_path, capsys):
    fake = fake_torch()
    monkeypatch.setattr(tb, "torch", fake)
    monkeypatch.setattr(tb, "build_model", lambda seed: FakeNet())
    monkeypatch.setattr(tb, "nvidia_smi", lambda uuid: {"uuid": "GPU-aaaa-1", "driver_version": "580.159.04",
                                                        "clocks.max.sm": "1980", "clocks.max.mem": "3201",
                                                        "clocks.sm": "1980", "power.draw": "300.5",
                                                        "temperature.gpu": "50"})
    args = ["--out", str(tmp_path), "--batches", "1,256,1024", "--repetitions", "3", "--warmup", "2",
            "--commit", "f5c17dab051e6302ca0b154c67a50024fbc0ed08"]
    assert tb.main(args) == 0
    files = list((tmp_path / "nvidia-h200").iterdir())
    assert len(files) == 1
    path = files[0]
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {path}"
    assert path.name.startswith("torch-") and path.name.endswith("Z-f5c17da.json")
    assert fake.backends.cudnn.benchmark is True
    results = br.load(path)
    assert results.meta["command_line"] == ["python3", "-m", "analysis.torch_baseline", *args]
    assert results.device["sm_clock_max_mhz"] == 1980.0 and results.device["cuda_runtime"] == 12080
    assert results.device["driver_version"] == "580.159.04" and results.meta["git"]["commit"].startswith("f5c17da")
    data = nr.collect(results)
    for batch in (1, 256):
        eager, graph = (data.forward("resnet18-fp16", batch, i) for i in tb.IMPLS)
        assert eager.latency_us == pytest.approx(EAGER_S_PER_IMAGE * batch * 1e6)
        assert graph.latency_us == pytest.approx(GRAPH_S_PER_IMAGE * batch * 1e6)
        assert graph.images_per_s == pytest.approx(1 / GRAPH_S_PER_IMAGE) and graph.graph is True
        assert eager.run.repetitions == 3 and eager.run.counter("nvml_power_w") == 300.5
        iterations = {e["iterations"] for e in results.benchmarks
                      if e["run_name"] == eager.run.run_name and e["run_type"] == "iteration"}
        assert iterations == {min(1000, max(5, round(tb.ITERATION_TARGET_S / (EAGER_S_PER_IMAGE * batch))))}
    for impl in tb.IMPLS:   # out of memory at 1024: an error entry per repetition, and the run went on
        f = data.forward("resnet18-fp16", 1024, impl)
        assert f.run is None and f.error == "out of memory: CUDA out of memory. Tried to allocate 9.19 GiB"
    assert sorted(results.meta["forms"]) == [f"resnet18-fp16/batch:{b}/impl:{i}" for b in (1, 256) for i in tb.IMPLS]


def test_measure_refuses_an_existing_file(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(tb, "torch", fake_torch())
    monkeypatch.setattr(tb, "build_model", lambda seed: pytest.fail("measured despite the clash"))
    monkeypatch.setattr(tb, "nvidia_smi", lambda uuid: "nvidia-smi not found")
    monkeypatch.setattr(tb, "results_filename", lambda stamp, commit: "torch-x.json")
    (tmp_path / "nvidia-h200").mkdir()
    (tmp_path / "nvidia-h200" / "torch-x.json").write_text("earlier")
    assert tb.main(["--out", str(tmp_path), "--commit", "f5c17dab"]) == 1
    assert "torch-x.json already exists; not replacing it" in capsys.readouterr().err
    assert (tmp_path / "nvidia-h200" / "torch-x.json").read_text() == "earlier"
