"""analysis.net_report on a results file built here.

The file is SYNTHETIC: hand-made numbers in the shape harness/suites/net_suite.cpp
writes (Google Benchmark entries plus btcbench.forms and peaks.dram_copy), not a
measurement. Two models (resnet18-tcbnn at batch 1 and 512, mnist-mlp at batch 1
and 256), both impls, three repetitions per forward at REP_FACTORS x its median
time, a /layers entry per point, and one point that could not be planned
(resnet18-tcbnn batch 1024 btc: out of memory, forward and layers). The tests
recompute every figure they check from the constants below.

The in situ overhead points and resnet18-bireal come from a second SYNTHETIC
file, fixtures/net_small.json (written by fixtures/make_net_small.py, whose
constants the tests below repeat): no in situ run is in the file built here,
so its report shows the empty in situ section and placeholder plot of the
earlier net files.
"""
from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from analysis import btcresults as br
from analysis import net_report as nr
from analysis import rebuild_all, report
from analysis import torch_baseline as tb
from conftest import BCONV_SMALL, FIXTURES, PNG_SIGNATURE, REPO, section_text

BW = 4.0e12                       # DRAM copy bandwidth, bytes/s: 4e6 bytes per µs
REP_FACTORS = (0.98, 1.0, 1.03)   # each repetition's time over the median
P99_FACTOR = 1.25
RESNET, MNIST = "resnet18-tcbnn", "mnist-mlp"
# (model, batch, impl) -> median forward time, µs
FORWARD_US = {
    (RESNET, 1, "btc"): 100.0, (RESNET, 1, "popc"): 1500.0,
    (RESNET, 512, "btc"): 1600.0, (RESNET, 512, "popc"): 40000.0,
    (MNIST, 1, "btc"): 10.0, (MNIST, 1, "popc"): 50.0,
    (MNIST, 256, "btc"): 20.0, (MNIST, 256, "popc"): 200.0,
}
ERRORED = (RESNET, 1024, "btc")
OOM = "not planned: CUDA error: out of memory (cudaMalloc of 3.1 GiB)"
LAYER_BATCH = {RESNET: 512, MNIST: 256}   # mnist-mlp's paper batch (32768) is not in the file
LAYERS = {RESNET: [("conv1", "stem"), ("l1b1a", "bconv"), ("l1b1b", "bconv"), ("fc1", "bfc"), ("fc2", "bfc")],
          MNIST: [("fc1", "bfc"), ("fc2", "bfc"), ("fc3", "bfc")]}
DESIGNS = {"btc": {"stem": "stem_int8", "bconv": "bconv_wgmma_and_sm90", "bfc": "wgmma_and_sm90"},
           "popc": {"stem": "stem_int8", "bconv": "bconv_popc_u64", "bfc": "popc_u64"}}
AUX_DESIGNS = {"quantize": "quantize_images", "binarize": "pack_signs_gpu", "threshold": "residual_threshold",
               "relayout": "convert_gpu", "bn": "bn_logits"}
# Per model, at its LAYER_BATCH: (step, layer index, floor µs, btc µs, popc µs); other batches
# have OTHER_BATCH_SCALE x these times and batch / LAYER_BATCH x the bytes.
STEPS = {
    RESNET: [("input/quantize", -1, 10.0, 30.0, 30.0), ("conv1", 0, 50.0, 200.0, 200.0),
             ("conv1/binarize", 0, 10.0, 20.0, 20.0), ("l1b1a", 1, 100.0, 500.0, 15000.0),
             ("l1b1b", 2, 100.0, 450.0, 14000.0), ("l1b1b/threshold", 2, 20.0, 40.0, 40.0),
             ("fc1", 3, 20.0, 60.0, 3000.0), ("fc1/relayout", 3, 5.0, 10.0, 10.0),
             ("fc2", 4, 10.0, 15.0, 800.0), ("fc2/bn", 4, 1.0, 5.0, 5.0)],
    MNIST: [("fc1/binarize", 0, 1.0, 2.0, 2.0), ("fc1", 0, 2.0, 8.0, 80.0), ("fc2", 1, 2.0, 6.0, 60.0),
            ("fc3", 2, 2.0, 5.0, 50.0), ("fc3/bn", 2, 0.5, 1.0, 1.0)],
}
OTHER_BATCH_SCALE = 0.1
BINARY_OPS = {RESNET: 3.4e9, MNIST: 5.6e6}    # per image
STEM_MACS = {RESNET: 1.18e8, MNIST: 0.0}
MIB = 2 ** 20



def _bench_model(model: str) -> str:
    """The model as the suite names it in a benchmark (the grammar has no '-')."""
    return model.replace("-", "_")

def device_bytes(batch: int, impl: str) -> int:
    return (100 + 4 * batch) * MIB + (8 * MIB if impl == "popc" else 0)


def step_bytes(model: str, batch: int, floor_us: float) -> float:
    return floor_us * BW / 1e6 * batch / LAYER_BATCH[model]


def step_times(model: str, batch: int, impl: str) -> dict[str, float]:
    col = 3 if impl == "btc" else 4
    scale = 1.0 if batch == LAYER_BATCH[model] else OTHER_BATCH_SCALE
    return {s[0]: s[col] * scale for s in STEPS[model]}


def _step_design(model: str, impl: str, name: str) -> str:
    layer, _, aux = name.partition("/")
    if name == "input/quantize":
        return AUX_DESIGNS["quantize"]
    if aux:
        return AUX_DESIGNS[aux]
    return DESIGNS[impl][dict(LAYERS[model])[layer]]


def _form(model: str, batch: int, impl: str, bw: float | None) -> dict[str, Any]:
    steps = []
    for name, layer, floor, _, _ in STEPS[model]:
        s = {"name": name, "layer": layer, "design": _step_design(model, impl, name),
             "bytes_moved": step_bytes(model, batch, floor), "ops": 0.0}
        if bw:
            s["floor_us"] = s["bytes_moved"] / bw * 1e6
        steps.append(s)
    form = {"status": "measured", "model": model, "batch": batch, "impl": impl,
            "designs": "auto" if impl == "btc" else "popc", "device_bytes": device_bytes(batch, impl),
            "binary_ops_per_image": BINARY_OPS[model], "stem_macs_per_image": STEM_MACS[model],
            "layers": [{"name": n, "op": op, "design": DESIGNS[impl][op]} for n, op in LAYERS[model]],
            "steps": steps}
    if bw:
        form["floor_us"] = sum(s["floor_us"] for s in steps)
    return form


def _entry(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "family_index": 0, "per_family_instance_index": 0, "run_name": name,
            "threads": 1, "time_unit": "us", **fields}


def _forward_entries(model: str, batch: int, impl: str, bw: float | None) -> list[dict[str, Any]]:
    name = f"net/{model.replace('-', '_')}/batch:{batch}/impl:{impl}/manual_time"
    median = FORWARD_US[(model, batch, impl)]
    moved = sum(step_bytes(model, batch, s[2]) for s in STEPS[model])

    def counters(t: float) -> dict[str, float]:
        c = {"images_per_s": batch / (t * 1e-6), "latency_median_us": t, "latency_p99_us": t * P99_FACTOR,
             "graph": 1.0, "batch": float(batch), "device_bytes": float(device_bytes(batch, impl)),
             "bytes_moved": moved}
        if bw:
            c["floor_us"] = moved / bw * 1e6
            c["time_over_floor"] = t / c["floor_us"]
        return c

    times = [median * f for f in REP_FACTORS]
    entries = [_entry(name, run_type="iteration", repetitions=3, repetition_index=i, iterations=30,
                      real_time=t, cpu_time=t, **counters(t)) for i, t in enumerate(times)]
    per_rep = [counters(t) for t in times]
    for agg, fn in (("mean", statistics.mean), ("median", statistics.median), ("stddev", statistics.stdev),
                    ("min", min), ("max", max)):
        entries.append(_entry(f"{name}_{agg}", run_name=name, run_type="aggregate", repetitions=3,
                              aggregate_name=agg, iterations=3, real_time=fn(times), cpu_time=fn(times),
                              **{k: fn([c[k] for c in per_rep]) for k in per_rep[0]}))
    return entries


def _layers_entry(model: str, batch: int, impl: str) -> dict[str, Any]:
    times = step_times(model, batch, impl)
    total = sum(times.values())
    # Google Benchmark writes counters sorted by name, not in the network's order.
    return _entry(f"layers/{model.replace('-', '_')}/batch:{batch}/impl:{impl}/manual_time", run_type="iteration",
                  repetitions=1, repetition_index=0, iterations=10, real_time=total, cpu_time=total,
                  batch=float(batch), **{f"step_us/{k}": times[k] for k in sorted(times)})


def _error_entry(name: str) -> dict[str, Any]:
    return _entry(name, run_type="iteration", repetitions=3, repetition_index=0, iterations=0,
                  real_time=0, cpu_time=0, error_occurred=True, error_message=OOM)


def build_doc(bw: float | None = BW) -> dict[str, Any]:
    benchmarks: list[dict[str, Any]] = []
    forms: dict[str, Any] = {}
    for model, batch, impl in FORWARD_US:
        benchmarks += _forward_entries(model, batch, impl, bw)
        benchmarks.append(_layers_entry(model, batch, impl))
        forms[f"{model}/batch:{batch}/impl:{impl}"] = _form(model, batch, impl, bw)
    m, b, i = ERRORED
    benchmarks += [_error_entry(f"net/{_bench_model(m)}/batch:{b}/impl:{i}/manual_time"),
                   _error_entry(f"layers/{_bench_model(m)}/batch:{b}/impl:{i}/manual_time")]
    peaks = {"dram_copy_bytes_per_s": bw, "dram_copy_buffer_bytes": 1 << 30, "dram_copy_median_s": 2 * (1 << 30) / bw,
             "dram_copy_method": "device-to-device cudaMemcpyAsync, bytes read + written, "
                                 "median of repetitions"} if bw else {}
    meta = {
        "_comment": "SYNTHETIC TEST FILE built by tests/analysis/test_net_report.py: hand-made numbers, "
                    "not a measurement.",
        "schema": br.SCHEMA, "suite": "net", "created_utc": "2026-12-03T10:00:00Z",
        "command_line": ["btcbench", "sweep", "net", "--no-counters"],
        "git": {"commit": "0123abcd4567ef890123abcd4567ef890123abcd", "dirty": False},
        "build": {"cuda_toolkit": "12.8"},
        "device": {"name": "NVIDIA H200", "slug": "nvidia-h200", "cc": "9.0", "sm_count": 132,
                   "sm_clock_max_mhz": 1980, "sm_clock_at_start_mhz": 1980, "driver_version": "570.86.15",
                   "cuda_runtime": 12080, "cuda_driver_api": 12080, "chip": "gh100", "l2_bytes": 50 * MIB},
        "counters": {"enabled": False, "metrics": [], "reason": "--no-counters given"},
        "peaks": peaks, "forms": forms, "skipped": [],
    }
    return {"context": {"date": "2026-12-03T10:00:00+00:00", "host_name": "synthetic", "btcbench_suite": "net"},
            "benchmarks": benchmarks, "btcbench": meta}


@pytest.fixture
def net_doc() -> dict[str, Any]:
    return build_doc()


@pytest.fixture
def net_path(net_doc, write_doc) -> Path:
    return write_doc(net_doc, "gpu/net-1.json")


def _markdown(doc_or_path: Any, write_doc: Any = None) -> str:
    path = doc_or_path if isinstance(doc_or_path, Path) else write_doc(doc_or_path, "variant.json")
    results = br.load(path)
    return nr.markdown_report(results, nr.collect(results), ["t.png", "l.png", "i.png"])


def _tables(md: str, first_cell: str, after: str | None = None) -> list[dict[str, str]]:
    """The rows of the first table whose header starts with first_cell (after `after`)."""
    lines = md.splitlines()
    start = lines.index(after) if after else 0
    head = next(i for i in range(start, len(lines)) if lines[i].startswith(f"| {first_cell} |"))
    header = [c.strip() for c in lines[head].strip("|").split(" | ")]
    rows = []
    for line in lines[head + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split(" | ")))))
    return rows


def _model_row(md: str, model: str, batch: int, impl: str) -> dict[str, str]:
    return next(r for r in _tables(md, "Batch", f"### `{model}`") if (r["Batch"], r["Impl"]) == (str(batch), impl))


def images(model: str, batch: int, impl: str) -> float:
    return batch / (FORWARD_US[(model, batch, impl)] * 1e-6)


# ------------------------------------------------------------ loading and names

def test_the_file_is_synthetic_and_loads(net_path, net_doc):
    assert "SYNTHETIC" in net_doc["btcbench"]["_comment"]
    data = nr.collect(br.load(net_path))
    assert data.models == [RESNET, MNIST]        # the sweep's order, not the file's
    assert data.impls == ["btc", "popc"]
    assert data.batches(RESNET) == [1, 512, 1024] and data.batches(MNIST) == [1, 256]
    errored = data.forward(*ERRORED)
    assert errored.run is None and errored.error == OOM and data.breakdown(*ERRORED).error == OOM


def test_parse_names():
    assert nr.parse_net_name("net/resnet18_tcbnn/batch:512/impl:btc/manual_time") == \
        nr.NetName(RESNET, 512, "btc", False)
    assert nr.parse_net_name("layers/mnist_mlp/batch:1/impl:popc") == nr.NetName(MNIST, 1, "popc", True)
    for bad in ("net/resnet18-tcbnn/batch:0/impl:btc", "net/resnet18-tcbnn/impl:btc/batch:1",
                "net/x/batch:1/impl:btc/graph", "bconv/x/batch:1/impl:btc"):
        with pytest.raises(ValueError, match="does not match"):
            nr.parse_net_name(bad)
    assert nr.layer_of("l1b1b/threshold") == "l1b1b" and nr.layer_of("fc1") == "fc1"
    assert nr.layer_of("input/quantize") == "input/quantize"


def test_paper_batches_are_the_models_own():
    for model, batch in nr.PAPER_BATCH.items():
        text = (REPO / "models" / f"{model}.model").read_text()
        assert re.search(rf"^batch\s+{batch}\s*$", text, re.M), model


# ------------------------------------------------------------ the numbers

def test_model_tables(net_path):
    md = _markdown(net_path)
    for (model, batch, impl), t in FORWARD_US.items():
        row = _model_row(md, model, batch, impl)
        v = images(model, batch, impl)
        # The spread scales as 1/time: the slowest repetition gives the lowest rate.
        assert row["Images/s, median [min–max]"] == \
            f"{v:,.0f} [{v / REP_FACTORS[2]:,.0f}–{v / REP_FACTORS[0]:,.0f}]"
        assert row["Latency µs, median"] == f"{t:,.1f}"
        assert row["Latency µs, p99"] == f"{t * P99_FACTOR:,.1f}"
        assert row["Device MiB"] == f"{device_bytes(batch, impl) / MIB:,.1f}"
        floor_us = sum(step_bytes(model, batch, s[2]) for s in STEPS[model]) / BW * 1e6
        assert row["Time / floor"] == f"{t / floor_us:,.2f}"
        assert row["Binary TOPS"] == f"{v * BINARY_OPS[model] / 1e12:,.1f}"
        assert row["Timing"] == "graph" and row["DRAM bytes / bytes moved"] == "—"
        if impl == "btc":
            speedup = FORWARD_US[(model, batch, "popc")] / t    # popc's median time over btc's
            assert row["btc / popc"] == f"{speedup:,.2f}×"
        else:
            assert row["btc / popc"] == "—"
    oom = _model_row(md, *ERRORED)
    assert oom["Images/s, median [min–max]"] == f"not run: {OOM}" and oom["Latency µs, median"] == "—"
    assert "The DRAM bytes column is empty: CUPTI counters off: --no-counters given." in md


def test_goals(net_path, net_doc, write_doc):
    data = nr.collect(br.load(net_path))
    found = nr.goals(data)
    target = 50 * 5600
    # This file has no resnet18-bireal: its two goals (rows 2 and 3) and the fp16 one (row 4) are not measured,
    # and of the floor goals only resnet18-tcbnn's (the last row) is there.
    assert [g.verdict for g in found] == ["met", "not measured", "not measured", "not measured", "met", "not met",
                                          "not met"]
    floor_us = sum(step_bytes(RESNET, 512, s[2]) for s in STEPS[RESNET]) / BW * 1e6
    t = FORWARD_US[(RESNET, 512, "btc")]
    assert (found[6].goal, found[6].point) == ("Σ of the step floors ≥ 60% of the btc forward", f"`{RESNET}`, batch 512")
    assert found[6].value == pytest.approx(floor_us / t)
    assert found[6].cell.startswith(f"{floor_us:,.1f} of {t:,.1f} µs = {floor_us / t:.0%} not met; losing most: `")
    assert found[0].value == pytest.approx(images(RESNET, 512, "btc")) and found[0].value >= target
    assert found[1].cell == "not measured: no `resnet18-bireal` batch-256 btc run"
    assert found[2].cell == "not measured: no `resnet18-bireal` batch-1 btc run"
    assert found[3].cell == ("not measured: no `resnet18-bireal` batch-256 btc run; "
                             "no `resnet18-fp16` batch-256 cudnn run")
    assert found[4].value == pytest.approx(FORWARD_US[(RESNET, 512, "popc")] / FORWARD_US[(RESNET, 512, "btc")])
    assert found[5].value == pytest.approx(FORWARD_US[(MNIST, 256, "popc")] / FORWARD_US[(MNIST, 256, "btc")])
    assert found[5].point == "`mnist-mlp`, batch 256 (paper batch 32768 not measured)"
    text = section_text(_markdown(net_path), "Goals")
    assert f"| {found[0].goal} | `{RESNET}`, batch 512 | {images(RESNET, 512, 'btc'):,.0f} = " \
           f"{images(RESNET, 512, 'btc') / 5600:,.1f}× (target {target:,}) met | met |" in text
    assert "2 of 7 goals met." in text

    # Slower at batch 512: below 50 x TCBNN and below 20 x popc.
    slow = json.loads(json.dumps(net_doc))
    for e in slow["benchmarks"]:
        if e["run_name"] == f"net/{_bench_model(RESNET)}/batch:512/impl:btc/manual_time":
            e["images_per_s"] /= 1.2
    verdicts = [g.verdict for g in nr.goals(nr.collect(br.load(write_doc(slow, "slow.json"))))]
    # 266,667 < 280,000; 20.8 x popc still meets 20
    assert verdicts == ["not met", "not measured", "not measured", "not measured", "met", "not met", "not met"]
    # Batch 512 btc not run: both resnet goals not measured at 512; the popc goal falls back to batch 1.
    gone = json.loads(json.dumps(net_doc))
    gone["benchmarks"] = [e for e in gone["benchmarks"]
                          if not e["run_name"].startswith(f"net/{_bench_model(RESNET)}/batch:512/impl:btc")
                          and not e["run_name"].startswith(f"layers/{_bench_model(RESNET)}/batch:512/impl:btc")]
    found = nr.goals(nr.collect(br.load(write_doc(gone, "gone.json"))))
    assert found[0].verdict == "not measured" and "no batch-512 btc run" in found[0].cell
    assert found[4].point == f"`{RESNET}`, batch 1 (paper batch 512 not measured)"
    assert found[4].value == pytest.approx(15.0) and found[4].verdict == "not met"


def test_published_figures(net_path):
    rows = _tables(_markdown(net_path), "Model", "## Published figures")
    by = {(r["Model"], r["Published (GPU)"].split(" ")[0]): r for r in rows}
    assert len(rows) == len(nr.PUBLISHED)
    sbnn = by[(f"`{RESNET}`", "SBNN")]
    ours_ms = FORWARD_US[(RESNET, 1, "btc")] / 1e3
    assert sbnn["Batch-1 latency ms, ours (btc)"] == f"{ours_ms:,.3f}"
    assert sbnn["Published / ours"] == f"{1.906 / ours_ms:,.2f}×"
    best = max(images(RESNET, b, "btc") for b in (1, 512))
    assert sbnn["Images/s, ours best (btc)"] == f"{best:,.0f} (batch 512)"
    assert sbnn["Ours / published"] == f"{best / 2880:,.2f}×"
    tcbnn = by[(f"`{RESNET}`", "TCBNN")]
    assert tcbnn["Ours / published"] == f"{best / 5600:,.2f}×" and tcbnn["Published / ours"] == "—"
    mnist = by[(f"`{MNIST}`", "SBNN")]
    assert mnist["Published / ours"] == f"{0.04 / (FORWARD_US[(MNIST, 1, 'btc')] / 1e3):,.2f}×"
    assert mnist["Ours / published"] == f"{images(MNIST, 256, 'btc') / 8.98e6:,.2f}×"
    assert by[("`vgg16`", "SBNN")]["Images/s, ours best (btc)"] == "—"
    assert all(p.source for p in nr.PUBLISHED.values())


def test_layer_breakdown(net_path):
    results = br.load(net_path)
    data = nr.collect(results)
    assert data.layer_batch(RESNET) == 512 and data.layer_batch(MNIST) == 256
    for model, batch in LAYER_BATCH.items():
        for impl in ("btc", "popc"):
            d = data.breakdown(model, batch, impl)
            times = step_times(model, batch, impl)
            assert [s.name for s in d.steps] == [s[0] for s in STEPS[model]]   # network order
            expected: dict[str, float] = {}
            for name, t in times.items():
                layer = name if name == "input/quantize" else name.split("/")[0]
                expected[layer] = expected.get(layer, 0.0) + t
            assert dict(d.layers()) == pytest.approx(expected)
            assert d.total_us == pytest.approx(sum(times.values()))
    md = _markdown(net_path)
    text = section_text(md, "Per-layer breakdown")
    assert "### `mnist-mlp`, batch 256 (the paper's batch 32768 is not in this file: the largest measured batch)" \
        in text
    layer_rows = {r["Layer"]: r for r in _tables(md, "Layer", f"### `{RESNET}`, batch 512")}
    assert layer_rows["`l1b1b`"]["btc µs"] == f"{450.0 + 40.0:,.1f}"
    assert layer_rows["`l1b1b`"]["popc / btc"] == f"{(14000.0 + 40.0) / (450.0 + 40.0):,.2f}×"
    assert layer_rows["Σ"]["btc µs"] == f"{sum(s[3] for s in STEPS[RESNET]):,.1f}"
    steps = _tables(md, "Step", f"### `{RESNET}`, batch 512")
    ranked = sorted(STEPS[RESNET], key=lambda s: -s[3])[:nr.TOP_STEPS]
    assert [r["Step"] for r in steps] == [f"`{s[0]}`" for s in ranked]
    top = steps[0]
    name, _, floor, btc_us, _ = ranked[0]
    assert (top["Design"], top["Layer op"]) == ("`bconv_wgmma_and_sm90`", "bconv")
    assert top["Floor µs"] == f"{floor:,.1f}" and top["Time / floor"] == f"{btc_us / floor:.2f}"
    assert top["Time − floor µs"] == f"{btc_us - floor:,.1f}"
    assert top["% of Σ"] == f"{100 * btc_us / sum(s[3] for s in STEPS[RESNET]):.1f}"
    lost: dict[str, float] = {}
    for step, _, floor, btc_us, _ in STEPS[RESNET]:
        layer = step if step == "input/quantize" else step.split("/")[0]
        lost[layer] = lost.get(layer, 0.0) + btc_us - floor
    worst = sorted(lost.items(), key=lambda kv: -kv[1])[:3]
    assert ("Most time lost against the floor (btc, time − floor summed over a layer's steps): "
            + ", ".join(f"`{layer}` {us:,.1f} µs" for layer, us in worst)) in text


def test_stream_timed_rows_and_counters(net_doc, write_doc):
    net_doc["btcbench"]["counters"] = {"enabled": True, "metrics": ["dram__bytes_read.sum",
                                                                     "dram__bytes_write.sum"]}
    for e in net_doc["benchmarks"]:
        if "bytes_moved" in e:
            e["graph"] = 0.0
            e["cupti.dram__bytes_read.sum"] = 0.9 * e["bytes_moved"]
            e["cupti.dram__bytes_write.sum"] = 0.6 * e["bytes_moved"]
    md = _markdown(net_doc, write_doc)
    row = _model_row(md, RESNET, 512, "btc")
    assert row["Timing"] == "stream ‡" and row["DRAM bytes / bytes moved"] == "1.50"
    assert "‡ Timed from stream launches, not CUDA-graph replays" in md
    assert "The DRAM bytes column is empty" not in md
    assert f"{images(RESNET, 512, 'btc'):,.0f} ‡ = " in section_text(md, "Goals")


def test_earlier_nested_bandwidth_keys(write_doc):
    """The net files up to d1fdd42 nest the bandwidth under peaks.dram_copy; they render the same."""
    flat = build_doc()
    nested = build_doc()
    p = nested["btcbench"]["peaks"]
    nested["btcbench"]["peaks"] = {"dram_copy": {"bytes_per_s": p["dram_copy_bytes_per_s"],
                                                 "buffer_bytes": p["dram_copy_buffer_bytes"],
                                                 "method": p["dram_copy_method"]}}
    line = [x for x in _markdown(flat, write_doc).splitlines() if x.startswith("- **DRAM bandwidth")]
    assert line and line == [x for x in _markdown(nested, write_doc).splitlines() if x.startswith("- **DRAM bandwidth")]


def test_without_measured_bandwidth(write_doc):
    md = _markdown(build_doc(bw=None), write_doc)
    assert "- **DRAM bandwidth (floors):** — (not measured: no btcbench.peaks.dram_copy_bytes_per_s in this " \
           "file; no floors)" in md.splitlines()
    assert _model_row(md, RESNET, 512, "btc")["Time / floor"] == "—"
    assert "No step floors in this file (no measured DRAM bandwidth)." in md


def test_skipped_section_lists_the_errored_runs(net_path):
    skipped = section_text(_markdown(net_path), "Skipped").splitlines()
    m, b, i = ERRORED
    assert f"- `net/{_bench_model(m)}/batch:{b}/impl:{i}/manual_time`: {OOM}" in skipped
    assert f"- `layers/{_bench_model(m)}/batch:{b}/impl:{i}/manual_time`: {OOM}" in skipped


# ------------------------------------------------------------ render, CLI, composer

def test_render_writes_plots_and_is_deterministic(net_path, tmp_path):
    first = nr.render(br.load(net_path), tmp_path / "a")
    again = nr.render(br.load(net_path), tmp_path / "b")
    assert [p.name for p in first] == ["net-1.net_throughput.png", "net-1.net_layers.png",
                                       "net-1.net_insitu.png", "net-1.md"]
    for png in first[:2]:
        data = png.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    # No in situ run in this file: the third plot is a small placeholder that says so.
    assert first[2].read_bytes().startswith(PNG_SIGNATURE)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]
    md = first[3].read_text()
    for png in first[:3]:
        assert f"]({png.name})" in md
    assert section_text(md, "In situ observer overhead").strip().splitlines()[0] == "No in situ runs in this file."
    # By default beside the results file.
    beside = nr.render(br.load(net_path))
    assert all(p.parent == net_path.parent for p in beside)


def test_render_with_no_runs_and_other_suite(net_doc, write_doc, tmp_path):
    net_doc["benchmarks"] = []
    net_doc["btcbench"]["forms"] = {}
    outputs = nr.render(br.load(write_doc(net_doc, "empty.json")), tmp_path / "empty")
    assert all(p.read_bytes().startswith(PNG_SIGNATURE) for p in outputs[:3])
    md = outputs[3].read_text()
    assert "No net run in this file." in md and "No per-layer breakdown in this file." in md
    assert "No in situ runs in this file." in md
    net_doc["btcbench"]["suite"] = "bconv"
    with pytest.raises(br.ResultsError, match="suite is 'bconv', not 'net'"):
        nr.render(br.load(write_doc(net_doc, "other.json")), tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_off_grammar_name_is_a_results_error(net_doc, write_doc):
    net_doc["benchmarks"][0]["run_name"] = "net/resnet18_tcbnn/impl:btc/manual_time"
    with pytest.raises(br.ResultsError, match="does not match") as info:
        nr.collect(br.load(write_doc(net_doc)))
    assert "\n" not in str(info.value)


def test_composer_and_rebuild_all(net_path, capsys):
    assert report.RENDERERS["net"] is nr.render
    outputs = report.render(br.load(net_path))
    assert [p.name for p in outputs] == ["net-1.net_throughput.png", "net-1.net_layers.png",
                                         "net-1.net_insitu.png", "net-1.md"]
    assert outputs[3].read_text() == _markdown(net_path).replace("t.png", "net-1.net_throughput.png") \
        .replace("l.png", "net-1.net_layers.png").replace("i.png", "net-1.net_insitu.png")
    assert rebuild_all.main(["--results-dir", str(net_path.parent)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == \
        f"ok      {net_path} -> net-1.net_throughput.png, net-1.net_layers.png, net-1.net_insitu.png, net-1.md"
    # then the folder's newest figures beside the published ones (analysis.net_summary)
    assert out[-1] == f"ok      {net_path.parent / 'net-latest.md'} (the newest net figures beside the published ones)"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "analysis.net_report", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def _one_line_error(p: subprocess.CompletedProcess[str], text: str) -> None:
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], p.stderr


def test_cli(net_path, tmp_path):
    _one_line_error(_run(str(tmp_path / "missing.json")), "cannot read")
    _one_line_error(_run(str(BCONV_SMALL), "--out", str(tmp_path / "x")), "suite is 'bconv', not 'net'")
    assert not (tmp_path / "x").exists()
    (tmp_path / "plain").write_text("x")
    _one_line_error(_run(str(net_path), "--out", str(tmp_path / "plain")), "cannot write the report of")
    assert (tmp_path / "plain").read_text() == "x"
    gpu = tmp_path / "cli"
    gpu.mkdir()
    shutil.copy(net_path, gpu / "net-2.json")
    ok = _run(str(gpu / "net-2.json"))
    assert (ok.returncode, ok.stderr) == (0, "")
    assert ok.stdout.splitlines() == [f"wrote {gpu / n}" for n in
                                      ("net-2.net_throughput.png", "net-2.net_layers.png",
                                       "net-2.net_insitu.png", "net-2.md")]


def test_goal_without_a_popc_run(net_doc, write_doc):
    net_doc["benchmarks"] = [e for e in net_doc["benchmarks"] if f"/{_bench_model(MNIST)}/" not in e["run_name"]
                             or "/impl:btc/" in e["run_name"]]
    found = nr.goals(nr.collect(br.load(write_doc(net_doc))))
    assert (found[5].point, found[5].verdict) == (f"`{MNIST}`", "not measured")
    assert found[5].cell == "not measured: no batch with both btc and popc measured"


# ------------------------------------------------------------ net_small.json: resnet18-bireal and in situ

NET_SMALL = FIXTURES / "net_small.json"
MAKE_NET_SMALL = FIXTURES / "make_net_small.py"
BIREAL = "resnet18-bireal"
# make_net_small.py's numbers: resnet18-bireal's median forward µs per (batch, impl), and per in situ
# model (µs without the observer, µs with it, ring slot bytes, per repetition (forwards, due, captured,
# dropped)).
SMALL_FORWARD_US = {(1, "btc"): 80.0, (1, "popc"): 300.0, (256, "btc"): 400.0, (256, "popc"): 4000.0}
SMALL_REAL_MACS = 1.4e8
SMALL_INSITU = {
    BIREAL: (400.0, 412.0, 22.5 * MIB, [(760, 76, 75, 0), (1510, 151, 150, 0), (2260, 226, 226, 0)]),
    RESNET: (3200.0, 3264.0, 39.0 * MIB, [(100, 10, 9, 0), (190, 19, 17, 1), (280, 28, 24, 3)]),
}
INSITU_BATCH = 256
EVERY = "every10"


@pytest.fixture
def small_doc() -> dict[str, Any]:
    return json.loads(NET_SMALL.read_text())


def _insitu_name(model: str, observer: str) -> str:
    return f"insitu/{_bench_model(model)}/batch:{INSITU_BATCH}/observer:{observer}/manual_time"


def _small_md(doc: dict[str, Any] | None = None, write_doc: Any = None) -> str:
    path = NET_SMALL if doc is None else write_doc(doc, "small.json")
    results = br.load(path)
    return nr.markdown_report(results, nr.collect(results), ["t.png", "l.png", "i.png"])


def _overhead(model: str) -> float:
    plain_us, observed_us, _, _ = SMALL_INSITU[model]
    plain, observed = INSITU_BATCH / (plain_us * 1e-6), INSITU_BATCH / (observed_us * 1e-6)
    return (plain / observed - 1) * 100


def _scale_run(doc: dict[str, Any], run_name: str, time_factor: float) -> None:
    """Every entry of run_name `time_factor` x slower (times, forward_us, latencies; images/s down)."""
    for e in doc["benchmarks"]:
        if e["run_name"] != run_name or e.get("aggregate_name") == "stddev":
            continue
        for key in ("real_time", "cpu_time", "forward_us", "latency_median_us", "latency_p99_us"):
            if key in e:
                e[key] *= time_factor
        e["images_per_s"] /= time_factor


def test_net_small_is_what_its_script_writes(tmp_path):
    out = tmp_path / "net_small.json"
    p = subprocess.run([sys.executable, str(MAKE_NET_SMALL), str(out)], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert out.read_bytes() == NET_SMALL.read_bytes()
    assert "SYNTHETIC" in json.loads(NET_SMALL.read_text())["btcbench"]["_comment"]


def test_net_small_loads_the_insitu_runs_apart():
    data = nr.collect(br.load(NET_SMALL))
    assert nr.MODELS[0] == BIREAL and BIREAL not in nr.PAPER_BATCH
    assert all(model != BIREAL for _, model in nr.PUBLISHED)   # Bi-Real Net publishes accuracy, not speed
    # resnet18-tcbnn has in situ runs only: it is no model of the net tables, goals or plots.
    assert data.models == [BIREAL] and data.batches(BIREAL) == [1, 256]
    assert data.insitu_points == [(BIREAL, INSITU_BATCH), (RESNET, INSITU_BATCH)]
    assert data.insitu_observers(BIREAL, INSITU_BATCH) == ["none", EVERY]
    plain, observed = data.insitu_run(BIREAL, INSITU_BATCH, "none"), data.insitu_run(BIREAL, INSITU_BATCH, EVERY)
    assert (plain.every, observed.every) == (0, 10)
    assert plain.images_per_s == pytest.approx(INSITU_BATCH / 400e-6) and plain.forward_us == pytest.approx(400.0)
    assert plain.counts == {} and plain.ring_slot_bytes is None
    # The observer's counts are cumulative: the run's are the last (largest) repetition's, not the median's.
    tcbnn = data.insitu_run(RESNET, INSITU_BATCH, EVERY)
    assert tcbnn.counts == {"forwards": 280, "due": 28, "captured": 24, "dropped": 3}
    assert tcbnn.run.counter("dropped") == 1
    assert data.insitu_overhead_pct(BIREAL, INSITU_BATCH, EVERY) == pytest.approx(_overhead(BIREAL))
    assert data.insitu_overhead_pct(BIREAL, INSITU_BATCH, "none") is None


def test_parse_insitu_names():
    assert nr.parse_insitu_name("insitu/resnet18_bireal/batch:256/observer:every10/manual_time") == \
        nr.InsituName(BIREAL, 256, EVERY)
    assert nr.parse_insitu_name("insitu/resnet18_tcbnn/batch:256/observer:none") == nr.InsituName(RESNET, 256, "none")
    assert nr.parse_run_name("insitu/resnet18_bireal/batch:1/observer:every3/manual_time").batch == 1
    assert nr.parse_run_name("net/resnet18_bireal/batch:1/impl:btc/manual_time") == nr.NetName(BIREAL, 1, "btc", False)
    for bad in ("insitu/resnet18_bireal/batch:256/observer:every0", "insitu/resnet18_bireal/batch:256/observer:some",
                "insitu/resnet18_bireal/batch:256", "insitu/resnet18_bireal/observer:none",
                "insitu/resnet18_bireal/batch:0/observer:none", "insitu/resnet18_bireal/batch:256/observer:none/x"):
        with pytest.raises(ValueError, match="does not match 'insitu/<model>/batch:<N>/observer:<none|every<K>>"):
            nr.parse_run_name(bad)
    with pytest.raises(ValueError, match="does not match 'net\\|layers/.*' nor 'insitu/"):
        nr.parse_run_name("observer/resnet18_bireal/batch:256/observer:none")


@pytest.mark.parametrize("name, grammar", [
    ("insitu/resnet18_bireal/batch:256/observer:sometimes/manual_time", "'insitu/<model>"),
    ("insitu/resnet18_bireal/observer:every10/manual_time", "'insitu/<model>"),
    ("overhead/resnet18_bireal/batch:256/observer:none/manual_time", "nor 'insitu/<model>"),
])
def test_off_grammar_insitu_names_are_results_errors(small_doc, write_doc, name, grammar):
    old = _insitu_name(BIREAL, EVERY)
    for e in small_doc["benchmarks"]:
        if e["run_name"] == old:
            e["run_name"] = name
    with pytest.raises(br.ResultsError, match="does not match") as info:
        nr.collect(br.load(write_doc(small_doc)))
    assert grammar in str(info.value) and "\n" not in str(info.value)


def test_insitu_table():
    md = _small_md()
    for model in (BIREAL, RESNET):
        plain_us, observed_us, slot, counts = SMALL_INSITU[model]
        rows = {r["Observer"]: r for r in _tables(md, "Observer", f"### `{model}`, batch {INSITU_BATCH}")}
        assert list(rows) == ["`none`", f"`{EVERY}`"]
        for label, us in (("none", plain_us), (EVERY, observed_us)):
            row = rows[f"`{label}`"]
            v = INSITU_BATCH / (us * 1e-6)
            assert row["Images/s, median [min–max]"] == f"{v:,.0f} [{v / 1.03:,.0f}–{v / 0.98:,.0f}]"
            assert row["Forward µs, median"] == f"{us:,.1f}"
        plain, observed = rows["`none`"], rows[f"`{EVERY}`"]
        assert [plain[k] for k in ("Overhead %", "Forwards", "Due", "Captured", "Dropped", "Ring slot MiB")] == \
            ["—"] * 6
        forwards, due, captured, dropped = counts[-1]
        assert observed["Overhead %"] == f"{_overhead(model):,.2f}"
        assert (observed["Forwards"], observed["Due"], observed["Captured"], observed["Dropped"]) == \
            (f"{forwards:,}", f"{due:,}", f"{captured:,}", f"{dropped:,}")
        assert observed["Ring slot MiB"] == f"{slot / MIB:,.2f}"
    assert f"{_overhead(BIREAL):.2f}" == "3.00" and f"{_overhead(RESNET):.2f}" == "2.00"


def test_insitu_verdicts(small_doc, write_doc):
    found = nr.insitu_goals(nr.collect(br.load(NET_SMALL)))
    assert [(g.point, g.verdict) for g in found] == [(f"`{BIREAL}`, batch 256", "met"),
                                                      (f"`{RESNET}`, batch 256", "not met")]
    assert found[0].value == pytest.approx(_overhead(BIREAL))
    assert found[0].cell == "overhead 3.00% (≤ 5%), 0 dropped: met"
    # Within 5 %, but the ring was full 3 times: not met.
    assert found[1].cell == "overhead 2.00% (≤ 5%), 3 dropped: not met"
    text = section_text(_small_md(), "In situ observer overhead")
    assert f"Goal: {nr.INSITU_GOAL}; met only if both hold." in text
    assert nr.INSITU_GOAL == ("within 5% with every layer of one image every 10th batch and the ring never full "
                              "(dropped = 0)")
    assert "Verdict (observer every 10): overhead 3.00% (≤ 5%), 0 dropped: met." in text
    assert "Verdict (observer every 10): overhead 2.00% (≤ 5%), 3 dropped: not met." in text
    assert "1 of 2 in situ goals met." in text
    assert "![Images/s with and without the in situ observer](i.png)" in text

    # resnet18-bireal observed 1.06 x slower than unobserved: overhead 6 %, not met though nothing dropped.
    slow = json.loads(json.dumps(small_doc))
    _scale_run(slow, _insitu_name(BIREAL, EVERY), 1.06 * 400.0 / 412.0)
    found = nr.insitu_goals(nr.collect(br.load(write_doc(slow, "slow.json"))))
    assert found[0].value == pytest.approx(6.0) and found[0].verdict == "not met"
    assert found[0].cell == "overhead 6.00% (> 5%), 0 dropped: not met"
    # 4.9 %: still within.
    edge = json.loads(json.dumps(small_doc))
    _scale_run(edge, _insitu_name(BIREAL, EVERY), 1.049 * 400.0 / 412.0)
    found = nr.insitu_goals(nr.collect(br.load(write_doc(edge, "edge.json"))))
    assert found[0].value == pytest.approx(4.9) and found[0].verdict == "met"
    # No dropped count: not measured within the goal; over it, not met all the same.
    uncounted = json.loads(json.dumps(small_doc))
    for e in uncounted["benchmarks"]:
        e.pop("dropped", None)
    found = nr.insitu_goals(nr.collect(br.load(write_doc(uncounted, "uncounted.json"))))
    assert [g.verdict for g in found] == ["not measured", "not measured"]
    assert found[0].cell == "overhead 3.00% (≤ 5%), no dropped count: not measured"
    _scale_run(uncounted, _insitu_name(BIREAL, EVERY), 1.2)
    assert nr.insitu_goals(nr.collect(br.load(write_doc(uncounted, "over.json"))))[0].verdict == "not met"


def test_insitu_errored_and_missing_runs(small_doc, write_doc):
    why = "not planned: CUDA error: out of memory (cudaHostAlloc of the ring)"
    observed = _insitu_name(BIREAL, EVERY)
    entries = [e for e in small_doc["benchmarks"] if e["run_name"] != observed]
    entries.append(_entry(observed, run_type="iteration", repetitions=3, repetition_index=0, iterations=0,
                          real_time=0, cpu_time=0, error_occurred=True, error_message=why))
    small_doc["benchmarks"] = [e for e in entries if e["run_name"] != _insitu_name(RESNET, "none")]
    path = write_doc(small_doc)
    data = nr.collect(br.load(path))
    assert data.insitu_run(BIREAL, INSITU_BATCH, EVERY).error == why
    found = nr.insitu_goals(data)
    assert [g.verdict for g in found] == ["not measured", "not measured"]
    assert found[0].cell == f"not measured: the observer:{EVERY} run reported an error ({why})"
    assert found[1].cell == "not measured: no observer:none run"
    md = _small_md(small_doc, write_doc)
    rows = {r["Observer"]: r for r in _tables(md, "Observer", f"### `{BIREAL}`, batch {INSITU_BATCH}")}
    assert rows[f"`{EVERY}`"]["Images/s, median [min–max]"] == f"not run: {why}"
    assert rows[f"`{EVERY}`"]["Overhead %"] == "—" and rows["`none`"]["Overhead %"] == "—"
    assert list({r["Observer"] for r in _tables(md, "Observer", f"### `{RESNET}`, batch {INSITU_BATCH}")}) == \
        [f"`{EVERY}`"]
    assert "0 of 2 in situ goals met." in md
    assert f"- `{observed}`: {why}" in section_text(md, "Skipped")
    assert nr.render(br.load(path), path.parent / "out")[2].read_bytes().startswith(PNG_SIGNATURE)


def test_bireal_goals(small_doc, write_doc):
    found = nr.goals(nr.collect(br.load(NET_SMALL)))
    rows = [(g.goal, g.point, g.verdict) for g in found]
    assert rows == [
        ("`resnet18-tcbnn` btc images/s ≥ 50 × TCBNN's 5,600", "`resnet18-tcbnn`, batch 512", "not measured"),
        ("`resnet18-bireal` btc images/s ≥ 500,000", "`resnet18-bireal`, batch 256", "met"),
        ("`resnet18-bireal` btc batch-1 latency ≤ 100 µs (median)", "`resnet18-bireal`, batch 1", "met"),
        ("`resnet18-bireal` on btc ÷ `resnet18-fp16` on cudnn, images/s ≥ 7×", "batch 256", "not measured"),
        ("btc ≥ 20 × popc images/s", "`resnet18-bireal`, batch 256 (no paper batch: the largest measured)",
         "not met"),
        ("Σ of the step floors ≥ 60% of the btc forward", "`resnet18-bireal`, batch 256", "not met"),
    ]
    images_256 = 256 / (SMALL_FORWARD_US[(256, "btc")] * 1e-6)
    assert found[1].value == pytest.approx(images_256)
    assert found[1].cell == f"{images_256:,.0f} = {images_256 / 500_000:,.2f}× the target met"
    assert found[2].value == pytest.approx(80.0) and found[2].cell == "80.0 µs (limit 100 µs) met"
    assert found[3].cell == "not measured: no `resnet18-fp16` batch-256 cudnn run"
    assert found[4].value == pytest.approx(10.0)
    text = section_text(_small_md(), "Goals")
    assert "`resnet18-bireal` (no published speed) at ≥ 500,000 images/s at batch 256 and ≤ 100 µs median " \
           "latency at batch 1" in text
    assert "| `resnet18-bireal` btc batch-1 latency ≤ 100 µs (median) | `resnet18-bireal`, batch 1 | " \
           "80.0 µs (limit 100 µs) met | met |" in text
    assert "2 of 6 goals met." in text

    # Slower: 400,000 images/s at batch 256 and 125 µs at batch 1; neither is met.
    slow = json.loads(json.dumps(small_doc))
    _scale_run(slow, f"net/{_bench_model(BIREAL)}/batch:256/impl:btc/manual_time", 1.6)
    _scale_run(slow, f"net/{_bench_model(BIREAL)}/batch:1/impl:btc/manual_time", 125.0 / 80.0)
    found = nr.goals(nr.collect(br.load(write_doc(slow, "slow.json"))))
    assert (found[1].value, found[1].verdict) == (pytest.approx(400_000), "not met")
    # A missed images/s goal names its ceiling: the batch over the Σ of the step floors.
    floor_us = nr.collect(br.load(NET_SMALL)).forward(BIREAL, 256, nr.BTC).floor_us
    assert floor_us
    assert found[1].cell.endswith(f"; at the Σ of its step floors ({floor_us:,.1f} µs) at most "
                                  f"{256 / floor_us * 1e6:,.0f}")
    assert (found[2].value, found[2].verdict) == (pytest.approx(125.0), "not met")
    assert found[2].cell == "125.0 µs (limit 100 µs) not met"
    # The batch-1 btc run could not be planned: not measured, with why.
    gone = json.loads(json.dumps(small_doc))
    name = f"net/{_bench_model(BIREAL)}/batch:1/impl:btc/manual_time"
    gone["benchmarks"] = [e for e in gone["benchmarks"] if e["run_name"] != name] + [_error_entry(name)]
    found = nr.goals(nr.collect(br.load(write_doc(gone, "gone.json"))))
    assert found[2].verdict == "not measured"
    assert found[2].cell == f"not measured: `{BIREAL}` batch-1 btc reported an error ({OOM})"


def test_floor_goal(small_doc, write_doc):
    """Σ of the btc forward's step floors over its median time ≥ 60%, the layers losing most named."""
    data = nr.collect(br.load(NET_SMALL))
    goal = nr.floor_goals(data)
    assert [(g.point, g.verdict) for g in goal] == [(f"`{BIREAL}`, batch 256", "not met")]
    f = data.forward(BIREAL, 256, "btc")
    share = f.floor_us / (f.time_s * 1e6)
    assert goal[0].value == pytest.approx(share) and share < 0.6
    worst = nr.layers_losing(data.breakdown(BIREAL, 256, "btc"))
    assert worst and all(a[1] >= b[1] for a, b in zip(worst, worst[1:]))
    assert goal[0].cell == (f"{f.floor_us:,.1f} of {f.time_s * 1e6:,.1f} µs = {share:.0%} not met; losing most: "
                            + ", ".join(f"`{layer}` {us:,.1f} µs" for layer, us in worst))
    # Fast enough (the forward at its floor over 0.7): met, no layers named.
    fast = json.loads(json.dumps(small_doc))
    _scale_run(fast, f"net/{_bench_model(BIREAL)}/batch:256/impl:btc/manual_time", share / 0.7)
    met = nr.floor_goals(nr.collect(br.load(write_doc(fast, "fast.json"))))[0]
    assert met.verdict == "met" and met.value == pytest.approx(0.7) and "losing" not in met.cell
    # No breakdown at that batch: the verdict stands and the cell says why no layer is named.
    bare = json.loads(json.dumps(small_doc))
    bare["benchmarks"] = [e for e in bare["benchmarks"] if not e["run_name"].startswith("layers/")]
    cell = nr.floor_goals(nr.collect(br.load(write_doc(bare, "bare.json"))))[0].cell
    assert cell.endswith("not met; no breakdown at this batch to say which layers lose it")
    # No btc forward at that batch: not measured.
    gone = json.loads(json.dumps(small_doc))
    gone["benchmarks"] = [e for e in gone["benchmarks"]
                          if not e["run_name"].startswith(f"net/{_bench_model(BIREAL)}/batch:256/impl:btc")]
    lost = nr.floor_goals(nr.collect(br.load(write_doc(gone, "gone.json"))))[0]
    assert lost.verdict == "not measured" and lost.cell == f"not measured: no `{BIREAL}` batch-256 btc run"


def test_bireal_tables_and_breakdown(small_doc, write_doc):
    md = _small_md()
    text = section_text(md, "Throughput and latency")
    assert f"### `{BIREAL}`\n\n3.300 G binary ops per image; {SMALL_REAL_MACS / 1e9:,.3f} G real-valued (conv, fc) " \
           "MACs per image.\n" in text   # no stem MACs (a half-precision stem), no paper batch
    row = _model_row(md, BIREAL, 256, "btc")
    assert row["Images/s, median [min–max]"].startswith("640,000 [") and row["btc / popc"] == "10.00×"
    # No published figure of Bi-Real's speed: the published table is unchanged.
    assert len(_tables(md, "Model", "## Published figures")) == len(nr.PUBLISHED)
    heading = f"### `{BIREAL}`, batch 256 (no paper batch: the largest measured batch)"
    assert heading in section_text(md, "Per-layer breakdown")
    layers = {r["Layer"]: r for r in _tables(md, "Layer", heading)}
    # The half-precision input step is the input's own segment, like input/quantize.
    assert layers["`input/to_half`"]["Op"] == "input" and layers["`input/to_half`"]["btc µs"] == "12.0"
    assert layers["`l1b1a`"]["btc µs"] == f"{8.0 + 40.0 + 14.0:,.1f}"   # binarize + bconv + bn_shortcut
    assert layers["`fc`"]["Op"] == "fc" and layers["`conv1`"]["Op"] == "conv"
    # Forms without real_macs_per_image (the files before the half-precision layers): no such fact.
    for f in small_doc["btcbench"]["forms"].values():
        f.pop("real_macs_per_image", None)
    assert "real-valued" not in _small_md(small_doc, write_doc)


def test_render_net_small(tmp_path):
    first = nr.render(br.load(NET_SMALL), tmp_path / "a")
    again = nr.render(br.load(NET_SMALL), tmp_path / "b")
    assert nr.PLOT_SUFFIXES == ("net_throughput", "net_layers", "net_insitu")
    assert [p.name for p in first] == ["net_small.net_throughput.png", "net_small.net_layers.png",
                                       "net_small.net_insitu.png", "net_small.md"]
    insitu = first[2].read_bytes()
    assert insitu.startswith(PNG_SIGNATURE) and len(insitu) > 10_000
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]
    md = first[3].read_text()
    assert f"![Images/s with and without the in situ observer]({first[2].name})" in \
        section_text(md, "In situ observer overhead")
    # The placeholder of a file without in situ runs is a different, smaller picture.
    empty = nr.render(br.load(_without_insitu(tmp_path)), tmp_path / "c")[2].read_bytes()
    assert empty.startswith(PNG_SIGNATURE) and empty != insitu and len(empty) < len(insitu)


def _without_insitu(tmp_path: Path) -> Path:
    doc = json.loads(NET_SMALL.read_text())
    doc["benchmarks"] = [e for e in doc["benchmarks"] if not e["run_name"].startswith("insitu/")]
    path = tmp_path / "no-insitu" / "net_small.json"
    path.parent.mkdir()
    path.write_text(json.dumps(doc))
    return path


def test_composer_and_rebuild_all_on_net_small(tmp_path, capsys):
    gpu = tmp_path / "gpu"
    gpu.mkdir()
    shutil.copy(NET_SMALL, gpu / "net-3.json")
    names = [f"net-3.{suffix}.png" for suffix in nr.PLOT_SUFFIXES] + ["net-3.md"]
    assert [p.name for p in report.render(br.load(gpu / "net-3.json"))] == names
    assert rebuild_all.main(["--results-dir", str(gpu)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == f"ok      {gpu / 'net-3.json'} -> {', '.join(names)}"
    assert out[-1].startswith(f"ok      {gpu / 'net-latest.md'} ")


# ------------------------------------------------------------ resnet18-fp16 on cudnn, and --baseline files

FP16 = "resnet18-fp16"
REP_SPREAD = (0.99, 1.0, 1.02)   # forward_entries' repetitions: each one's forwards at these x the median
# A PyTorch baseline (torch_baseline's builders): (batch, impl) -> median forward µs; batch 1024 out of memory.
TORCH_US = {(1, "torch_eager"): 900.0, (1, "torch_graph"): 400.0, (256, "torch_eager"): 4000.0,
            (256, "torch_graph"): 3600.0}
TORCH_OOM = "out of memory: CUDA out of memory. Tried to allocate 6.00 GiB"


def _add_forward(doc: dict[str, Any], model: str, batch: int, impl: str, us: float) -> None:
    """A timed forward of `us` median µs (torch_baseline's entry builder, the sweep's fields), graph-timed."""
    reps = [tb.Repetition([us * f * 1e-6] * 5, us * 1e-6) for f in REP_SPREAD]
    doc["benchmarks"] += tb.forward_entries(batch, impl, reps, {"graph": 1.0}, model=model)


def _fp16_doc(bireal_us: float | None = 400.0, fp16_us: float | None = 3430.0) -> dict[str, Any]:
    """build_doc's file plus resnet18-bireal btc and resnet18-fp16 cudnn at batch 256 (None: left out)."""
    doc = build_doc()
    if bireal_us is not None:
        _add_forward(doc, BIREAL, 256, "btc", bireal_us)
    if fp16_us is not None:
        _add_forward(doc, FP16, 1, "cudnn", 185.0)
        _add_forward(doc, FP16, 256, "cudnn", fp16_us)
    return doc


def _torch_doc(**device: Any) -> dict[str, Any]:
    doc = tb.results_document([], {}, {**build_doc()["btcbench"]["device"], **device},
                              {"commit": "f5c17dab051e6302ca0b154c67a50024fbc0ed08", "dirty": False},
                              ["python3", "-m", "analysis.torch_baseline", "--out", "r"], "2026-12-03T11:00:00Z",
                              {"torch": "2.9.0+cu128", "cudnn": 91002, "model": "torchvision.models.resnet18"})
    for (batch, impl), us in TORCH_US.items():
        _add_forward(doc, FP16, batch, impl, us)
        if impl == "torch_eager":
            doc["benchmarks"][-7:] = [{k: v for k, v in e.items() if k != "graph"} for e in doc["benchmarks"][-7:]]
    doc["benchmarks"] += tb.error_entries(1024, "torch_graph", TORCH_OOM, 3)
    return doc


def _fp16_goal(doc: dict[str, Any], write_doc: Any) -> nr.Goal:
    found = [g for g in nr.goals(nr.collect(br.load(write_doc(doc, "fp16.json")))) if "resnet18-fp16" in g.goal]
    assert len(found) == 1
    return found[0]


def test_fp16_goal(write_doc):
    assert nr.GOAL_FP16_FACTOR == 7.0 and nr.IMPLS == ("btc", "popc", "cudnn")
    assert nr.MODELS.index(FP16) == nr.MODELS.index(BIREAL) + 1
    met = _fp16_goal(_fp16_doc(400.0, 3430.0), write_doc)   # 640,000 / 74,636 images/s
    assert met.goal == "`resnet18-bireal` on btc ÷ `resnet18-fp16` on cudnn, images/s ≥ 7×"
    assert met.point == "batch 256"
    assert met.value == pytest.approx(3430.0 / 400.0) and met.verdict == "met"
    assert met.cell == f"640,000 ÷ {256 / 3430e-6:,.0f} = 8.57× met"
    # The H200 file of 7de0861: 55,772 ÷ 74,621 images/s, 0.75x.
    slow = _fp16_goal(_fp16_doc(256 / 55_772 * 1e6, 256 / 74_621 * 1e6), write_doc)
    assert slow.verdict == "not met" and slow.cell == "55,772 ÷ 74,621 = 0.75× not met"
    edge = _fp16_goal(_fp16_doc(3430.0 / 7, 3430.0), write_doc)
    assert edge.value == pytest.approx(7.0) and edge.verdict == "met"
    gone = _fp16_goal(_fp16_doc(400.0, None), write_doc)
    assert (gone.value, gone.verdict) == (None, "not measured")
    assert gone.cell == "not measured: no `resnet18-fp16` batch-256 cudnn run"
    errored = _fp16_doc(None, 3430.0)
    errored["benchmarks"].append(_error_entry(f"net/{_bench_model(BIREAL)}/batch:256/impl:btc/manual_time"))
    assert _fp16_goal(errored, write_doc).cell == \
        f"not measured: `{BIREAL}` batch-256 btc reported an error ({OOM})"
    md = _markdown(_fp16_doc(), write_doc)
    assert "| `resnet18-bireal` on btc ÷ `resnet18-fp16` on cudnn, images/s ≥ 7× | batch 256 | 640,000 ÷ " \
           in section_text(md, "Goals")
    assert "Beside full precision: `resnet18-bireal` on btc at ≥ 7× the images/s of `resnet18-fp16` on cudnn" in md


def test_fp16_model_in_the_tables(write_doc):
    doc = _fp16_doc()
    data = nr.collect(br.load(write_doc(doc)))
    assert data.models == [BIREAL, FP16, RESNET, MNIST] and data.impls == ["btc", "popc", "cudnn"]
    # No binary network in resnet18-fp16 (nor popc in resnet18-bireal here): no popc goal of the fp16 model.
    points = [g.point for g in nr.goals(data) if g.goal.startswith("btc ≥ 20")]
    assert not any(FP16 in p for p in points) and any(BIREAL in p for p in points)
    md = _markdown(doc, write_doc)
    row = _model_row(md, FP16, 256, "cudnn")
    assert row["Images/s, median [min–max]"] == f"{256 / 3430e-6:,.0f} [{256 / 3430e-6 / 1.02:,.0f}–" \
                                                f"{256 / 3430e-6 / 0.99:,.0f}]"
    assert row["btc / popc"] == "—" and row["Binary TOPS"] == "—" and row["Timing"] == "graph"
    assert "binary ops per image" not in section_text(md, "Throughput and latency").split(f"### `{FP16}`")[1] \
        .split("###")[0]
    assert "Beside other files" not in md   # no --baseline


def test_baseline_columns(write_doc, tmp_path):
    main = write_doc(_fp16_doc(), "gpu/net-5.json")
    torch_path = write_doc(_torch_doc(), "gpu/torch-20261203T110000Z-f5c17da.json")
    results = br.load(main)
    baselines = nr.load_baselines(results, [torch_path])
    assert [(b.mark, b.name, b.impls(FP16)) for b in baselines] == \
        [("[1]", torch_path.name, ["torch_eager", "torch_graph"])]
    md = nr.markdown_report(results, nr.collect(results), ["t.png", "l.png", "i.png"], baselines=baselines)
    assert f"- **Baselines:** [1] `{torch_path.name}`" in md.splitlines()
    text = section_text(md, "Throughput and latency").split(f"### `{FP16}`")[1].split("\n### ")[0]
    rows = _tables(text, "Batch", "Beside other files of this GPU (`--baseline`): images/s, median [min–max] over "
                                  "repetitions, this file's impls first; [n] names the file a column comes from.")
    assert list(rows[0]) == ["Batch", "cudnn", "torch_eager [1]", "torch_graph [1]", "Fastest"]
    by = {r["Batch"]: r for r in rows}
    assert list(by) == ["1", "256", "1024"]

    def cell(us: float, batch: int) -> str:
        v = batch / (us * 1e-6)
        return f"{v:,.0f} [{v / REP_SPREAD[2]:,.0f}–{v / REP_SPREAD[0]:,.0f}]"
    assert by["1"] == {"Batch": "1", "cudnn": cell(185.0, 1), "torch_eager [1]": cell(900.0, 1),
                       "torch_graph [1]": cell(400.0, 1), "Fastest": "cudnn"}
    assert by["256"]["torch_graph [1]"] == cell(3600.0, 256) and by["256"]["Fastest"] == "cudnn"
    assert by["1024"] == {"Batch": "1024", "cudnn": "—", "torch_eager [1]": "—",
                          "torch_graph [1]": f"not run: {TORCH_OOM}", "Fastest": "—"}
    assert f"[1] `{torch_path.name}`: written by analysis/torch_baseline.py, torch 2.9.0+cu128, cuDNN 91002, " \
           "model torchvision.models.resnet18, git f5c17da, created 2026-12-03T11:00:00Z." in text
    # The other models have no baseline: no such table under them; the goals read this file only.
    assert md.count("Beside other files of this GPU") == 1
    assert section_text(md, "Goals") == section_text(_markdown(main), "Goals")
    # A baseline faster than this file's impl is named the fastest.
    faster = _torch_doc()
    for e in faster["benchmarks"]:
        if e["run_name"].startswith("net/resnet18_fp16/batch:256/impl:torch_graph") and "images_per_s" in e:
            e["images_per_s"] *= 2
    md = nr.markdown_report(results, nr.collect(results), ["t.png", "l.png", "i.png"],
                            baselines=nr.load_baselines(results, [write_doc(faster, "gpu/torch-2.json")]))
    assert _tables(md, "Batch", "Beside other files of this GPU (`--baseline`): images/s, median [min–max] over "
                                "repetitions, this file's impls first; [n] names the file a column comes from.")[1][
        "Fastest"] == "torch_graph [1]"


def test_baseline_cli_and_plot(write_doc, tmp_path):
    main = write_doc(_fp16_doc(), "gpu/net-5.json")
    torch_path = write_doc(_torch_doc(), "gpu/torch-20261203T110000Z-f5c17da.json")
    plain = nr.render(br.load(main), tmp_path / "plain")
    ok = _run(str(main), "--out", str(tmp_path / "with"), "--baseline", str(torch_path), "--baseline",
              str(torch_path))
    assert (ok.returncode, ok.stderr) == (0, "")
    md = (tmp_path / "with" / "net-5.md").read_text()
    assert f"- **Baselines:** [1] `{torch_path.name}`; [2] `{torch_path.name}`" in md
    assert "| Batch | cudnn | torch_eager [1] | torch_graph [1] | torch_eager [2] | torch_graph [2] | Fastest |" in md
    # The throughput plot gains the baselines' lines; the other plots are the file's alone.
    with_pngs = [tmp_path / "with" / p.name for p in plain[:3]]
    assert with_pngs[0].read_bytes() != plain[0].read_bytes()
    assert [p.read_bytes() for p in with_pngs[1:]] == [p.read_bytes() for p in plain[1:3]]
    # A baseline-only model still gets its section and panel.
    no_fp16 = write_doc(build_doc(), "gpu/net-6.json")
    results = br.load(no_fp16)
    baselines = nr.load_baselines(results, [torch_path])
    assert nr.report_models(nr.collect(results), baselines) == [FP16, RESNET, MNIST]
    text = section_text(nr.markdown_report(results, nr.collect(results), ["t", "l", "i"], baselines=baselines),
                        "Throughput and latency")
    assert f"### `{FP16}`\n\nNo timed forward of this model.\n\nBeside other files" in text
    assert nr.plot_throughput(results, nr.collect(results), baselines).startswith(PNG_SIGNATURE)


def test_baseline_of_another_gpu_or_suite_is_refused(write_doc, tmp_path):
    main = write_doc(_fp16_doc(), "gpu/net-5.json")
    h100 = write_doc(_torch_doc(name="NVIDIA H100 80GB HBM3", slug="nvidia-h100-80gb-hbm3"), "h100/torch-1.json")
    with pytest.raises(br.ResultsError) as info:
        nr.load_baselines(br.load(main), [h100])
    assert str(info.value) == (f"{h100}: a baseline of NVIDIA H100 80GB HBM3 (`nvidia-h100-80gb-hbm3`), not of "
                               "NVIDIA H200 (`nvidia-h200`) as net-5.json; a baseline must be of the same GPU")
    out = tmp_path / "out"
    _one_line_error(_run(str(main), "--out", str(out), "--baseline", str(h100)),
                    "a baseline of NVIDIA H100 80GB HBM3 (`nvidia-h100-80gb-hbm3`), not of NVIDIA H200")
    # The same name on another slug is another GPU too.
    renamed = write_doc(_torch_doc(slug="nvidia-h200-nvl"), "h200nvl/torch-1.json")
    _one_line_error(_run(str(main), "--out", str(out), "--baseline", str(renamed)),
                    "a baseline must be of the same GPU")
    _one_line_error(_run(str(main), "--out", str(out), "--baseline", str(BCONV_SMALL)), "suite is 'bconv', not 'net'")
    _one_line_error(_run(str(main), "--out", str(out), "--baseline", str(tmp_path / "nope.json")), "cannot read")
    assert not out.exists()


def test_rebuild_all_reports_a_torch_file(write_doc, tmp_path, capsys):
    main = write_doc(_fp16_doc(), "results/gpu/net-5.json")
    torch_path = write_doc(_torch_doc(), "results/gpu/torch-20261203T110000Z-f5c17da.json")
    assert rebuild_all.main(["--results-dir", str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out] == [["ok", str(main)], ["ok", str(torch_path)],
                                                  ["ok", str(main.parent / "net-latest.md")]]
    md = (torch_path.parent / "torch-20261203T110000Z-f5c17da.md").read_text()
    assert "This file was written by `analysis/torch_baseline.py`, not by `btcbench sweep net`" in md
    assert f"`python3 -m analysis.net_report NET.json --baseline {torch_path.name}`" in md
    assert _model_row(md, FP16, 256, "torch_graph")["Timing"] == "graph"
    assert _model_row(md, FP16, 256, "torch_eager")["Timing"] == "—"   # eager: no graph counter, not 'stream ‡'
    assert "‡ Timed from stream launches" not in md


def test_a_sweep_report_takes_the_baselines_of_its_run_beside_it(tmp_path):
    """analysis.report (and so rebuild_all) sets the torch files of the sweep's
    commit and GPU beside it, as `--baseline` would; others are left out."""
    from analysis import report
    net = _fp16_doc()
    same, other = _torch_doc(), _torch_doc()
    same["btcbench"]["git"] = dict(net["btcbench"]["git"])
    for name, doc in (("net-1.json", net), ("torch-a.json", same), ("torch-b.json", other)):
        (tmp_path / name).write_text(json.dumps(doc))
    (tmp_path / "torch-c.json").write_text("{ not json")   # a broken neighbour is passed over
    results = br.load(tmp_path / "net-1.json")
    assert [b.path for b in report.baselines_beside(results)] == [tmp_path / "torch-a.json"]
    assert report.baselines_beside(br.load(tmp_path / "torch-a.json")) == []   # a baseline has none
    report.render(results)
    md = (tmp_path / "net-1.md").read_text()
    assert "**Baselines:** [1] `torch-a.json`" in md and "torch-b.json" not in md
    assert "torch_graph [1]" in md


def test_breakdown_prefers_graph_replay_step_times(net_doc, write_doc):
    """A /layers run with a graph-replay time for every step reports those
    (no launch gap); one step short of that, the event-timed steps."""
    layers = [e for e in net_doc["benchmarks"] if "/layers/" in f"/{e['name']}" or e["name"].startswith("layers/")]
    assert layers, "the fixture has /layers runs"
    for e in layers:
        for k in [k for k in e if k.startswith(nr.STEP_PREFIX)]:
            e[nr.STEP_GRAPH_PREFIX + k[len(nr.STEP_PREFIX):]] = e[k] / 4
    data = nr.collect(br.load(write_doc(net_doc, "graph.json")))
    for model, batch in LAYER_BATCH.items():
        d = data.breakdown(model, batch, "btc")
        assert d.timing == "graph"
        assert d.total_us == pytest.approx(sum(step_times(model, batch, "btc").values()) / 4)
    md = _markdown(net_doc, write_doc)
    assert "CUDA-graph replays of back-to-back launches of it alone" in section_text(md, "Per-layer breakdown")
    first = layers[0]
    dropped = next(k for k in first if k.startswith(nr.STEP_GRAPH_PREFIX))
    del first[dropped]
    data = nr.collect(br.load(write_doc(net_doc, "partial.json")))
    assert any(d.timing == "events" for d in data.breakdowns.values())
