"""analysis.net_torch: the model parser against every models/*.model, the
weights naming, the safetensors reader/writer, the fp32 batch norm, the fp16
steps of docs/models.md (half rounding against numpy's float16 cast, an
exact fmaf, the pools), the bound of a reordered real layer, the check's
comparison logic and its CLI; the forward on numpy (no torch) against a
naive numpy forward written here from net/model.h, against the committed
PyTorch fixture, and against the C++ reference's in situ capture
(`build/btcbench run --cpu --insitu`, where the build has one; BTCBENCH=path
picks another); and, where torch is importable, TorchBNN the same ways."""
from __future__ import annotations

import math
import os
import struct
from fractions import Fraction
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis import net_torch as nt

REPO = Path(__file__).resolve().parents[2]
MODEL_FILES = sorted((REPO / "models").glob("*.model"))
HAVE_TORCH = nt.torch is not None
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch is not importable (it is on the lent GPU machine)")


BTCBENCH = Path(os.environ.get("BTCBENCH", REPO / "build" / "btcbench"))
needs_btcbench = pytest.mark.skipif(not BTCBENCH.is_file(), reason=f"no {BTCBENCH} (build btcbench, or set BTCBENCH)")
F32 = np.float32


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "analysis.net_torch", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def assert_one_line_error(p: subprocess.CompletedProcess[str], text: str, rc: int = 2) -> None:
    assert p.returncode == rc, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], p.stderr


# ---------------------------------------------------------------- the parser

def test_every_model_file_is_found():
    assert {p.stem for p in MODEL_FILES} >= {"tiny-resnet", "resnet18-tcbnn", "mnist-mlp", "vgg16", "alexnet"}


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_parse_every_model(path):
    m = nt.parse_model(path)
    assert m.name == path.stem
    assert m.layers[-1].op in ("bfc", "fc") and m.layers[-1].float_out
    assert not any(l.float_out for l in m.layers[:-1])
    for l in m.layers:
        assert l.conv_out.elements > 0 and l.dot_bits > 0
        if l.op == "bconv":
            assert l.shape_in.c % 32 == 0
        if l.shortcut:  # an earlier half layer of the output's shape, as net/model.cpp checks
            assert m.find(l.shortcut).half_out and m.find(l.shortcut).shape_out == l.conv_out
        if l.add:  # the residual's size works out, as net/model.cpp checks
            r = m.saver_of(l.add).conv_out
            assert (r.h, r.w) == ((2 * l.conv_out.h, 2 * l.conv_out.w) if l.add_pool2 else (l.conv_out.h, l.conv_out.w))
            assert r.c <= l.out
    assert nt.parse_model(path.stem).layers == m.layers  # by name from models/


def test_parse_shapes_and_options():
    m = nt.parse_model("tiny-resnet")
    assert (m.input, m.batch, m.classes) == (nt.Shape(8, 8, 3), 2, 10)
    assert m.input_scale == 0.03125 and m.bn_eps == float(np.float32(1e-5))
    assert m.description == "test model: every op and option at 8x8"
    by = {l.name: l for l in m.layers}
    assert (by["b1a"].pad_value, by["b2a"].pad_value, by["b1b"].pad_value) == (1, -1, 0)
    assert (by["b1b"].add, by["b1b"].add_pool2, by["b1b"].save) == ("r0", False, "r1")
    assert (by["b2b"].add, by["b2b"].add_pool2, by["b2b"].maxpool2) == ("r1", True, True)
    assert by["b2a"].conv_out == nt.Shape(4, 4, 64) and by["b2b"].shape_out == nt.Shape(2, 2, 64)
    assert by["fc1"].dot_bits == 2 * 2 * 64 and by["conv1"].dot_bits == 27
    r18 = {l.name: l for l in nt.parse_model("resnet18-tcbnn").layers}
    assert r18["conv1"].conv_out == nt.Shape(56, 56, 64) and r18["fc1"].dot_bits == 7 * 7 * 512
    mlp = nt.parse_model("mnist-mlp")
    assert mlp.input_scale == float(np.float32(1 / 64)) and mlp.layers[0].dot_bits == 784


@pytest.mark.parametrize("text, message", [
    ("input 3 8 8\nfc bfc input 10 - - - out=float\n", "no model NAME line"),
    ("model m\nfc bfc input 10 - - - out=float\n", "no input C H W line"),
    ("model m\ninput 3 8 8\nc1 dwconv input 32 3 1 1\n", ":3: unknown op 'dwconv'"),
    ("model m\ninput 3 8 8\nc1 stem input 32 3 1 1\nc2 conv c1 32 3 1 1\nfc fc c2 10 - - - out=float\n",
     ":4: a conv reads fp16 values: 'c1' writes bits"),
    ("model m\ninput 3 8 8\nc1 conv input 32 3 1 1\nb bconv c1 32 3 1 1 shortcut=c1\n", ":4: shortcut= needs out=half"),
    ("model m\ninput 3 8 8\nc1 conv input 32 3 1 1\nfc fc c1 10 - - - prepool=avg\n", ":4: an fc writes the logits"),
    ("model m\ninput 3 8 8\nc1 stem input 32 3 1\n", ":3: a layer row is"),
    ("model m\ninput 3 8 8\nc1 stem input 32 3 1 1 pool=avg\n", ":3: option 'pool=avg' does not apply"),
    ("model m\ninput 3 8 8\nc1 stem input 32 3 1 1\n", "the last layer must be a bfc with out=float"),
    ("model m\ninput 3 8 8\nfc bfc c0 10 - - - out=float\n", "reads 'c0', which is not an earlier layer"),
    ("model m\ninput 3 8 x\n", ":2: input W must be an integer"),
    ("model m\ninput 3 8 8\nc1 conv input 32 3 1 1 act=tanh\n", ":3: a conv's act takes 'relu'"),
    ("model m\ninput 3 8 8\nc1 stem input 32 3 1 1 act=relu\n", ":3: option 'act=relu' does not apply"),
])
def test_parse_errors(text, message):
    with pytest.raises(nt.NetError, match=message):
        nt.parse_model_text(text, "m.model")


# ---------------------------------------------------------------- weights

@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_random_weights_follow_the_naming(path):
    m = nt.parse_model(path)
    w = nt.random_weights(m, seed=3)
    assert set(w) == {f"{l.name}.{k}" for l in m.layers
                      for k in (("weight", "bias") if l.op == "fc" else
                                ("weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"))}
    for l in m.layers:
        p = l.pooled_in
        want = (l.out, p.c * p.h * p.w) if l.op in ("bfc", "fc") else (l.out, p.c, l.kernel, l.kernel)
        assert w[f"{l.name}.weight"].shape == want and w[f"{l.name}.weight"].dtype == np.float32
        if l.op in nt.HALF_OPS:  # real weights, fp16 values
            assert np.array_equal(w[f"{l.name}.weight"].astype(np.float16).astype(np.float32), w[f"{l.name}.weight"])
            if l.op == "fc":
                assert w[f"{l.name}.bias"].shape == (l.out,)
                continue
        else:
            assert set(np.unique(w[f"{l.name}.weight"])) <= {-1.0, 1.0}
        for k in nt.BN_KEYS:
            assert w[f"{l.name}.bn.{k}"].shape == (l.out,) and w[f"{l.name}.bn.{k}"].dtype == np.float32
        assert (w[f"{l.name}.bn.running_var"] > 0).all()
        gamma = w[f"{l.name}.bn.weight"]
        assert (np.abs(gamma) >= 0.5).all() and (gamma < 0).sum() == round(l.out / 8)
    nt.check_weights(m, w, nt.weights_metadata(m, "test"), "w")


def test_parse_half_layers():
    m = nt.parse_model("resnet18-bireal")
    by = {l.name: l for l in m.layers}
    assert by["conv1"].conv_out == nt.Shape(112, 112, 64) and by["conv1"].shape_out == nt.Shape(56, 56, 64)
    assert by["l2down"].pooled_in == nt.Shape(28, 28, 64) and by["l2down"].conv_out == nt.Shape(28, 28, 128)
    assert by["l2b1a"].shortcut == "l2down" and by["l2b1a"].half_out and by["l2b1a"].conv_out == nt.Shape(28, 28, 128)
    assert by["fc"].pooled_in == nt.Shape(1, 1, 512) and by["fc"].dot_bits == 512 and m.classes == 1000
    t = {l.name: l for l in nt.parse_model("tiny-bireal").layers}
    assert not t["bits"].half_out and t["b2c"].half_out and t["mix"].dot_bits == 9 * 64
    r = {l.name: l for l in nt.parse_model("resnet18-fp16").layers}  # act=relu, a conv's shortcut=
    assert r["conv1"].relu and r["conv1"].shape_out == nt.Shape(56, 56, 64) and not r["l2down"].relu
    assert (r["l2b1b"].shortcut, r["l2b1b"].relu) == ("l2down", True) and r["l2down"].conv_out == nt.Shape(28, 28, 128)


def test_random_weights_seeded_per_layer():
    m = nt.parse_model("tiny-resnet")
    a, b, c = nt.random_weights(m, 1), nt.random_weights(m, 1), nt.random_weights(m, 2)
    assert all(np.array_equal(a[n], b[n]) for n in a)
    assert not np.array_equal(a["b1a.weight"], c["b1a.weight"])
    # without fc1 (fc2 reads b2b): the other layers draw what they drew
    text = (REPO / "models" / "tiny-resnet.model").read_text()
    text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("fc1")).replace("fc2     bfc    fc1",
                                                                                       "fc2     bfc    b2b")
    fewer = nt.random_weights(nt.parse_model_text(text, "t"), 1)
    assert "fc1.weight" not in fewer and fewer["fc2.weight"].shape == (10, 256)
    assert all(np.array_equal(fewer[n], a[n]) for n in fewer if not n.startswith("fc"))


def test_check_weights_refuses():
    m = nt.parse_model("tiny-resnet")
    w = nt.random_weights(m, 1)
    with pytest.raises(nt.NetError, match="weights for model 'vgg16', not 'tiny-resnet'"):
        nt.check_weights(m, w, {"btcbench_model": "vgg16"}, "w")
    with pytest.raises(nt.NetError, match=r"'fc1.weight' is \[96, 255\], the model needs \[96, 256\]"):
        nt.check_weights(m, {**w, "fc1.weight": np.ones((96, 255), np.float32)}, {}, "w")
    del w["b2b.bn.running_var"]
    with pytest.raises(nt.NetError, match="no tensor 'b2b.bn.running_var'"):
        nt.check_weights(m, w, {}, "w")


# ---------------------------------------------------------------- safetensors

SAMPLE = {"a.y": np.arange(-6, 6, dtype=np.int32).reshape(3, 4), "a.act": np.array([[1, -1]], np.int8),
          "logits": np.array([1.5, -0.0, np.inf], np.float32), "n": np.array([2**40], np.int64),
          "d": np.array([0.1], np.float64), "e": np.zeros((0, 3), np.float32)}
META = {"btcbench_model": "m", "format": "btcbench.weights.v1"}


def _assert_same(got, want):
    assert set(got) == set(want)
    for name in want:
        assert got[name].dtype == want[name].dtype and got[name].shape == want[name].shape, name
        assert got[name].tobytes() == want[name].tobytes(), name


@pytest.mark.parametrize("impl", ["private", "package"])
def test_safetensors_round_trip(monkeypatch, impl):
    if impl == "private":
        monkeypatch.setattr(nt, "st_numpy", None)
    elif nt.st_numpy is None:
        pytest.skip("the safetensors package is not installed")
    data = nt.st_dumps(SAMPLE, META)
    n = int.from_bytes(data[:8], "little")
    assert n % 8 == 0 and data[8:9] == b"{"
    tensors, metadata = nt.st_loads(data, "x")
    _assert_same(tensors, SAMPLE)
    assert metadata == META
    assert all(t.flags.writeable for t in tensors.values())
    for bad in (b"", data[:5], data[:8] + b"[" + data[9:], data[:-1]):
        with pytest.raises(nt.NetError, match="x: not a readable safetensors file"):
            nt.st_loads(bad, "x")
    if impl == "private":
        header = b'{"t":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}'
        bf16 = len(header).to_bytes(8, "little") + header + bytes(4)
        with pytest.raises(nt.NetError, match="dtype BF16 is not read here"):
            nt.st_loads(bf16, "x")


def test_private_and_package_read_each_other(monkeypatch):
    package = pytest.importorskip("safetensors.numpy")
    assert nt.st_numpy is package
    from_package = nt.st_dumps(SAMPLE, META)
    monkeypatch.setattr(nt, "st_numpy", None)
    from_private = nt.st_dumps(SAMPLE, META)
    _assert_same(nt.st_loads(from_package, "p")[0], SAMPLE)
    assert nt.st_loads(from_package, "p")[1] == META
    _assert_same(package.load(from_private), SAMPLE)


def test_write_and_read_a_file(tmp_path):
    nt.write_safetensors(tmp_path / "t.safetensors", SAMPLE, META)
    tensors, metadata = nt.read_safetensors(tmp_path / "t.safetensors")
    _assert_same(tensors, SAMPLE)
    assert metadata == META and not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(nt.NetError, match="cannot read"):
        nt.read_safetensors(tmp_path / "missing.safetensors")


# ---------------------------------------------------------------- fp32 batch norm

def f32(v: float) -> float:
    """v rounded to the nearest float32 (every op below is one IEEE fp32 op:
    a double op then this rounding is exact for + - * / and sqrt)."""
    return struct.unpack("f", struct.pack("f", v))[0]


def bn_by_hand(y: int, gamma: float, beta: float, mean: float, var: float, eps: float) -> float:
    invstd = f32(1 / f32(math.sqrt(f32(var + eps))))
    return f32(f32(f32(f32(f32(y) - mean) * invstd) * gamma) + beta)


def test_batch_norm_f32_hand_computed():
    # exact numbers: sqrt(3 + 1) = 2, (7 - 1) * 0.5 * -1.5 + 0.25 = -4.25
    assert nt.batch_norm_f32(np.array([7]), -1.5, 0.25, 1.0, 3.0, 1.0)[0] == np.float32(-4.25)
    # 1e-5 eps, values that round: the four-rounding result, to the bit
    got = nt.batch_norm_f32(np.array([5]), 1.1, -0.3, 1.7, 2.9, 1e-5)[0]
    assert got.dtype == np.float32
    assert got == np.float32(bn_by_hand(5, f32(1.1), f32(-0.3), f32(1.7), f32(2.9), f32(1e-5)))


def test_batch_norm_f32_is_four_roundings():
    rng = np.random.default_rng(0)
    y = rng.integers(-600, 600, 2000)
    gamma, beta, mean = (rng.uniform(-2, 2, 2000).astype(np.float32) for _ in range(3))
    mean *= 100
    var = rng.uniform(1, 900, 2000).astype(np.float32)
    got = nt.batch_norm_f32(y, gamma, beta, mean, var, 1e-5)
    want = [bn_by_hand(int(a), float(g), float(b), float(m), float(v), f32(1e-5))
            for a, g, b, m, v in zip(y, gamma, beta, mean, var)]
    assert got.tobytes() == np.array(want, np.float32).tobytes()
    # and that is a different function from one rounding of the exact value
    # (what a fused multiply-add or a float64 evaluation would give)
    once = ((y - mean.astype(np.float64)) / np.sqrt(var.astype(np.float64) + np.float64(np.float32(1e-5)))
            * gamma + beta).astype(np.float32)
    assert (once != got).sum() > 10


def test_quantize_input_ties_to_even_and_clamps():
    scale = 0.03125
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 126.5, 200, -200, 3.49], np.float32) * np.float32(scale)
    assert nt.quantize_input(x, scale).tolist() == [0, 2, 2, 0, -2, 126, 127, -127, 3]


def test_max2_floors_odd_sizes():
    a = np.arange(2 * 1 * 5 * 3).reshape(2, 1, 5, 3)
    got = nt.max2(a)
    assert got.shape == (2, 1, 2, 1)
    assert got[0, 0].tolist() == [[4], [10]]


# ---------------------------------------------------------------- compare

def test_compare_equal_and_bitwise():
    a = {"l.y": np.array([1, 2], np.int32), "logits": np.array([0.0], np.float32), "input": np.ones(2, np.float32)}
    lines, same = nt.compare(a, dict(a))
    assert same and lines == ["same  input: input (2 values)", "same  l: y (2 values)",
                              "same  logits: logits (1 values)"]
    lines, same = nt.compare(a, {**a, "logits": np.array([-0.0], np.float32), "x.act": np.ones(1, np.int8)})
    assert not same and lines[2].startswith("DIFF  logits: logits: 1 of 1 differ, first at [0]: 0.0 vs -0.0")
    assert lines[-1] == "only in the second: x.act"
    lines, same = nt.compare(a, {**a, "l.y": np.array([1, 2], np.int64)})
    assert not same and "y: int32[2] vs int64[2]" in lines[1]
    assert nt.compare({"a": np.ones(1)}, {"b": np.ones(1)})[1] is False


# ---------------------------------------------------------------- the CLI

def test_cli_weights_images_compare(tmp_path):
    w1, w1b, w2, x = (tmp_path / n for n in ("w1.safetensors", "w1b.safetensors", "w2.safetensors", "x.npy"))
    for seed, out in ((1, w1), (1, w1b), (2, w2)):
        assert run("weights", "--model", "tiny-resnet", "--seed", str(seed), "--out", str(out)).returncode == 0
    tensors, metadata = nt.read_safetensors(w1)
    assert metadata["btcbench_model"] == "tiny-resnet" and metadata["format"] == "btcbench.weights.v1"
    nt.check_weights(nt.parse_model("tiny-resnet"), tensors, metadata, str(w1))
    same = run("compare", str(w1), str(w1b))
    assert same.returncode == 0 and same.stdout.count("\nsame  ") == 6 and "DIFF" not in same.stdout
    differ = run("compare", str(w1), str(w2))
    assert differ.returncode == 1 and differ.stdout.count("DIFF  ") == 7
    assert run("images", "--model", "tiny-resnet", "--batch", "3", "--seed", "4", "--out", str(x)).returncode == 0
    images = np.load(x)
    assert images.dtype == np.float32 and images.shape == (3, 3, 8, 8)
    assert np.array_equal(images, np.random.default_rng(4).standard_normal((3, 3, 8, 8), dtype=np.float32))


def test_cli_i8_weights(tmp_path):
    out = tmp_path / "w.safetensors"
    assert run("weights", "--model", "tiny-resnet", "--weight-dtype", "i8", "--out", str(out)).returncode == 0
    tensors, _ = nt.read_safetensors(out)
    assert tensors["b1a.weight"].dtype == np.int8 and tensors["b1a.bn.weight"].dtype == np.float32


def test_cli_errors(tmp_path):
    out = str(tmp_path / "w.safetensors")
    assert_one_line_error(run("weights", "--model", "nope", "--out", out), "cannot read model file")
    (tmp_path / "bad.model").write_text("model bad\ninput 3 8 8\nc1 dwconv input 32 3 1 1\n")
    assert_one_line_error(run("weights", "--model", str(tmp_path / "bad.model"), "--out", out), ":3: unknown op")
    assert_one_line_error(run("weights", "--model", "tiny-resnet", "--out", str(tmp_path / "no" / "w")),
                          "cannot write")
    assert_one_line_error(run("compare", str(tmp_path / "a"), str(tmp_path / "b")), "cannot read")
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json")
    assert_one_line_error(run("compare", str(tmp_path / "junk.safetensors"), str(tmp_path / "junk.safetensors")),
                          "not a readable safetensors file")


@pytest.mark.skipif(HAVE_TORCH, reason="torch is importable here")
def test_cli_forward_without_torch(tmp_path):
    assert_one_line_error(run("forward", "--model", "tiny-resnet", "--weights", "w", "--input", "x",
                              "--out", str(tmp_path / "l")), nt.TORCH_MISSING)


@needs_torch
def test_cli_forward_errors(tmp_path):
    w, x = tmp_path / "w.safetensors", tmp_path / "x.npy"
    run("weights", "--model", "mnist-mlp", "--out", str(w))
    np.save(x, np.zeros((1, 3, 8, 8), np.float32))
    args = ("--input", str(x), "--out", str(tmp_path / "l"))
    assert_one_line_error(run("forward", "--model", "tiny-resnet", "--weights", str(tmp_path / "none"), *args),
                          "cannot read")
    assert_one_line_error(run("forward", "--model", "tiny-resnet", "--weights", str(w), *args),
                          "weights for model 'mnist-mlp', not 'tiny-resnet'")
    run("weights", "--model", "tiny-resnet", "--out", str(w))
    np.save(x, np.zeros((1, 3, 8, 9), np.float32))
    assert_one_line_error(run("forward", "--model", "tiny-resnet", "--weights", str(w), *args),
                          "the input is [1, 3, 8, 9], the model reads [N, 3, 8, 8]")


# ---------------------------------------------------------------- TorchBNN

def naive_forward(m: nt.Model, w: dict[str, np.ndarray], images: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """net/model.h by loops over the filter taps, in int64 NHWC, no torch."""
    acts, saved, out = {}, {}, {}
    for l in m.layers:
        wt = np.where(w[f"{l.name}.weight"] >= 0, 1, -1).astype(np.int64)
        if l.op == "bfc":
            if l.input == "input":
                x = np.where(images >= 0, 1, -1).reshape(len(images), -1)
            elif acts[l.input].ndim == 4:  # the weights' `in` is PyTorch's (c, h, w) flatten
                x = acts[l.input].transpose(0, 3, 1, 2).reshape(len(images), -1)
            else:
                x = acts[l.input]
            y = x @ wt.T
        else:
            if l.op == "stem":
                x = nt.quantize_input(images, m.input_scale).astype(np.int64).transpose(0, 2, 3, 1)
            else:
                x = acts[l.input]
            n, h, wd, _ = x.shape
            padded = np.full((n, h + 2 * l.pad, wd + 2 * l.pad, x.shape[3]), l.pad_value, np.int64)
            padded[:, l.pad:l.pad + h, l.pad:l.pad + wd] = x
            p, q, s = l.conv_out.h, l.conv_out.w, l.stride
            y = np.zeros((n, p, q, l.out), np.int64)
            for r in range(l.kernel):
                for t in range(l.kernel):
                    tap = padded[:, r:r + s * (p - 1) + 1:s, t:t + s * (q - 1) + 1:s]  # n p q c
                    y += np.einsum("npqc,oc->npqo", tap, wt[:, :, r, t])
        if l.add:
            res = saved[l.add]
            if l.add_pool2:
                res = np.maximum.reduce([res[:, i::2, j::2] for i in (0, 1) for j in (0, 1)])
            y[..., :res.shape[-1]] += res
        if l.save:
            saved[l.save] = y
        stats = [w[f"{l.name}.bn.{k}"] for k in nt.BN_KEYS]  # broadcast over the last (channel) axis
        bn = nt.batch_norm_f32(y, *stats, m.bn_eps)
        if l.float_out:
            out[l.name] = {"y": y, "logits": bn}
            continue
        act = np.where(bn >= 0, 1, -1)
        if l.maxpool2:
            act = np.maximum.reduce([act[:, i::2, j::2] for i in (0, 1) for j in (0, 1)])
        acts[l.name] = act
        out[l.name] = {"y": y, "act": act}
    return out


@pytest.fixture(scope="module")
def tiny():
    m = nt.parse_model("tiny-resnet")
    w = nt.random_weights(m, seed=5)
    images = np.random.default_rng(6).standard_normal((4, 3, 8, 8), dtype=np.float32)
    return m, w, images



# The forward on each backend: numpy always, torch where it is importable.
BACKENDS = [pytest.param("numpy", id="numpy"), pytest.param("cpu", id="torch-cpu", marks=needs_torch)]


@pytest.mark.parametrize("device", BACKENDS)
def test_forward_matches_the_naive_forward(tiny, device):
    m, w, images = tiny
    got = nt.make_forward(m, w, device)(images)
    want = naive_forward(m, w, images)
    for l in m.layers:
        keys = ("y", "logits") if l.float_out else ("y", "act")
        assert set(got[l.name]) == set(keys)
        assert got[l.name]["y"].dtype == np.int32 and np.array_equal(got[l.name]["y"], want[l.name]["y"]), l.name
        if l.float_out:
            assert got[l.name]["logits"].dtype == np.float32 and got[l.name]["logits"].shape == (4, 10)
            assert got[l.name]["logits"].tobytes() == want[l.name]["logits"].tobytes()
        else:
            assert got[l.name]["act"].dtype == np.int8 and np.array_equal(got[l.name]["act"], want[l.name]["act"])
            want_shape = (4, l.out) if l.op == "bfc" else (4, l.shape_out.h, l.shape_out.w, l.out)
            assert got[l.name]["act"].shape == want_shape


@pytest.mark.parametrize("device", BACKENDS)
def test_forward_is_deterministic_and_balanced(tiny, device):
    m, w, images = tiny
    a = nt.forward_tensors(m, nt.make_forward(m, w, device)(images))
    b = nt.forward_tensors(m, nt.make_forward(m, w, device)(images))
    assert set(a) == set(b) and all(a[n].tobytes() == b[n].tobytes() for n in a)
    for l in m.layers[:-1]:
        plus = (a[f"{l.name}.act"] == 1).mean()
        # a max-pool of bits leans to +1 (any of four); the rest are near half
        assert (0.5 if l.maxpool2 else 0.25) < plus < (0.99 if l.maxpool2 else 0.75), (l.name, plus)
        assert set(np.unique(a[f"{l.name}.act"])) == {-1, 1}


@pytest.mark.parametrize("device", BACKENDS)
def test_act_is_the_sign_of_bn(tiny, device):
    m, w, images = tiny
    out = nt.make_forward(m, w, device)(images)
    for l in m.layers[:-1]:
        y = out[l.name]["y"]  # NHWC or [N, out]: the channel is the last axis
        bn = nt.batch_norm_f32(y, *(w[f"{l.name}.bn.{k}"] for k in nt.BN_KEYS), m.bn_eps)
        sign = np.where(bn >= 0, 1, -1)
        if l.maxpool2:
            sign = np.maximum.reduce([sign[:, i::2, j::2] for i in (0, 1) for j in (0, 1)])
        assert np.array_equal(out[l.name]["act"], sign), l.name


@pytest.mark.parametrize("device", BACKENDS)
def test_forward_reproduces_the_committed_torch_fixture(device):
    """tests/fixtures/net/tiny-resnet-torch.safetensors: torch's float64 forward on the lent machine."""
    fixture, _ = nt.read_safetensors(REPO / "tests" / "fixtures" / "net" / "tiny-resnet-torch.safetensors")
    m = nt.parse_model("tiny-resnet")
    ours = nt.forward_tensors(m, nt.make_forward(m, fixture, device)(fixture["input"]))
    lines, same = nt.compare(ours, fixture)
    assert same and set(ours) < set(fixture), lines  # the fixture has the weights and the input besides


@needs_torch
def test_cli_forward_writes_the_fixture(tmp_path):
    w, x, l1, l2 = (tmp_path / n for n in ("w.safetensors", "x.npy", "l1.safetensors", "l2.safetensors"))
    assert run("weights", "--model", "tiny-resnet", "--weight-dtype", "i8", "--out", str(w)).returncode == 0
    assert run("images", "--model", "tiny-resnet", "--out", str(x)).returncode == 0
    for out in (l1, l2):
        p = run("forward", "--model", "tiny-resnet", "--weights", str(w), "--input", str(x), "--out", str(out))
        assert p.returncode == 0, p.stderr
    tensors, metadata = nt.read_safetensors(l1)
    m = nt.parse_model("tiny-resnet")
    assert metadata["btcbench_model"] == "tiny-resnet" and metadata["format"] == "btcbench.forward.v2"
    assert {f"{l.name}.y" for l in m.layers} | {f"{l.name}.act" for l in m.layers[:-1]} | {"logits", "input"} \
        | set(nt.weight_shapes(m)) == set(tensors)
    assert tensors["conv1.y"].shape == (2, 8, 8, 32) and tensors["b2b.act"].shape == (2, 2, 2, 64)
    assert tensors["logits"].shape == (2, 10) and np.array_equal(tensors["input"], np.load(x))
    assert l1.stat().st_size < 200_000  # a CI fixture (i8 weights; f32 ones make it about 490 KB)
    nt.check_weights(m, tensors, metadata, str(l1))  # a forward file serves as its own weights file
    assert run("compare", str(l1), str(l2)).returncode == 0


def test_cli_forward_on_numpy_writes_the_half_layers(tmp_path):
    w, x, out = tmp_path / "w.safetensors", tmp_path / "x.npy", tmp_path / "l.safetensors"
    assert run("weights", "--model", "tiny-bireal", "--out", str(w)).returncode == 0
    assert run("images", "--model", "tiny-bireal", "--out", str(x)).returncode == 0
    p = run("forward", "--model", "tiny-bireal", "--weights", str(w), "--input", str(x), "--out", str(out),
            "--device", "numpy", "--real", "ordered")
    assert p.returncode == 0, p.stderr
    tensors, metadata = nt.read_safetensors(out)
    assert metadata["format"] == "btcbench.forward.v2" and metadata["device"] == "numpy"
    assert metadata["real"] == "ordered"
    m = nt.parse_model("tiny-bireal")
    by = {l.name: l for l in m.layers}
    assert {n for n in tensors if n.endswith(".half")} == {f"{l.name}.half" for l in m.layers
                                                           if l.half_out and l.op != "fc"}
    assert {n for n in tensors if n.endswith(".y")} == {f"{l.name}.y" for l in m.layers if l.op == "bconv"}
    assert tensors["conv1.half"].shape == (2, 8, 8, 32) and tensors["conv1.half"].dtype == np.float32  # after max3
    assert tensors["down2.half"].shape == (2, 4, 4, 64) and tensors["logits"].shape == (2, 10)
    for name, l in by.items():
        if l.half_out and l.op != "fc":  # fp16 values, and their signs as the bits
            v = tensors[f"{name}.half"]
            assert np.array_equal(v.astype(np.float16).astype(np.float32), v), name
            assert np.array_equal(tensors[f"{name}.act"], np.where(v >= 0, 1, -1)), name
            assert 0.2 < (v >= 0).mean() < 0.8, name
    assert (tensors["conv1.half"] != 0).all()  # no relu here
    assert np.array_equal(tensors["logits"].astype(np.float16).astype(np.float32), tensors["logits"])


# ---------------------------------------------------------------- fp16 steps

def test_round_half_matches_numpy_float16():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2 ** 32, 200_000, dtype=np.uint64).astype(np.uint32)
    special = [0.0, -0.0, 1.0, 65504.0, 65519.99, 65520.0, -65520.0, np.inf, -np.inf, 2.0 ** -14, 2.0 ** -24,
               2.0 ** -25, 1.5 * 2.0 ** -25, 3 * 2.0 ** -25, 2.0 ** -26, 1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11,
               2.0 ** -14 - 2.0 ** -25, 0.1, -1e-8, 1e30]
    scaled = rng.standard_normal(50_000) * 2.0 ** rng.integers(-30, 17, 50_000)
    x = np.concatenate([bits.view(np.float32), np.array(special, np.float32), scaled.astype(np.float32)])
    x = x[~np.isnan(x)]
    with np.errstate(over="ignore"):
        want = x.astype(np.float16)
    assert np.array_equal(nt.float_to_half_bits(x), want.view(np.uint16))
    assert nt.round_half(x).tobytes() == want.astype(np.float32).tobytes()
    assert nt.round_half(np.float32(1.0)).shape == ()  # a scalar stays one


def test_float_to_half_bits_hand_cases():
    cases = {1.0: 0x3C00, -2.0: 0xC000, 65504.0: 0x7BFF, 65519.0: 0x7BFF, 65520.0: 0x7C00, 1e9: 0x7C00,
             -0.0: 0x8000, 2.0 ** -24: 0x0001, 2.0 ** -25: 0x0000, 1.5 * 2.0 ** -25: 0x0001, 3 * 2.0 ** -25: 0x0002,
             1 + 2.0 ** -11: 0x3C00, 1 + 3 * 2.0 ** -11: 0x3C02}  # ties to even, subnormals, overflow
    got = nt.float_to_half_bits(np.array(list(cases), np.float32))
    assert [hex(v) for v in got] == [hex(v) for v in cases.values()]
    nan = nt.float_to_half_bits((np.array([np.nan], np.float32).view(np.uint32) | np.uint32(1)).view(np.float32))
    nan = nan.view(np.float16)
    assert np.isnan(nan).all()
    quiet = nt.float_to_half_bits(np.array([0x7F800001], np.uint32).view(np.float32))  # a signalling NaN
    assert quiet[0] & 0x7E00 == 0x7E00


def _f32_nearest(v: Fraction) -> np.float32:
    """v rounded to the nearest float32, ties to even, exactly (the oracle of fmaf)."""
    guess = np.float32(float(v))
    cands = [np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf))]
    return min(cands, key=lambda c: (abs(Fraction(float(c)) - v), int(np.array(c).view(np.uint32)) & 1))


def test_fmaf_is_one_rounding():
    # (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24, an fp32 tie; + 2^-80 breaks it upwards. A float64
    # product-sum rounds the 2^-80 away first, then the tie goes to even: one ulp low.
    a, c = F32(1 + 2.0 ** -12), F32(2.0 ** -80)
    assert nt.fmaf(a, a, c) == F32(1 + 2.0 ** -11 + 2.0 ** -23)
    assert np.float32(np.float64(a) * np.float64(a) + np.float64(c)) == F32(1 + 2.0 ** -11)  # the double rounding
    assert nt.fmaf(a, a, -c) == F32(1 + 2.0 ** -11)
    rng = np.random.default_rng(1)
    n = 3000
    a = (rng.standard_normal(n) * 2.0 ** rng.integers(-20, 20, n)).astype(np.float32)
    b = (rng.standard_normal(n) * 2.0 ** rng.integers(-20, 20, n)).astype(np.float32)
    far = rng.standard_normal(n) * 2.0 ** rng.integers(-40, 40, n)
    c = np.where(rng.random(n) < 0.5, -(a.astype(np.float64) * b), far).astype(np.float32)  # half cancel a * b
    got = nt.fmaf(a, b, c)
    want = [_f32_nearest(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z))) for x, y, z in zip(a, b, c)]
    assert got.tobytes() == np.array(want, np.float32).tobytes()


def test_fold_affine_and_the_half_epilogue():
    scale, shift = nt.fold_affine(np.array([3.0, -2.0]), np.array([0.25, 1.0]), np.array([1.0, 0.5]),
                                  np.array([3.0, 15.0]), 1.0)
    assert scale.tolist() == [1.5, -0.5] and shift.tolist() == [-1.25, 1.25]  # gamma / 2, beta - mean scale
    assert scale.dtype == shift.dtype == np.float32
    v = nt.half_affine(np.array([[2.0, 2.0]], np.float32), scale, shift, None)
    assert v.tolist() == [[1.75, 0.25]]
    assert nt.half_affine(np.array([[2.0, 2.0]], np.float32), scale, shift, np.array([[-1.75, 0.0]], np.float32)
                          ).tolist() == [[0.0, 0.25]]
    # without a shortcut there is no + 0: a -0 stays -0 (it would become +0)
    zero, one = np.array([-0.0], np.float32), np.array([1.0], np.float32)
    minus = nt.half_affine(zero, one, zero, None)
    assert np.signbit(minus[0])
    plus = nt.half_affine(zero, one, zero, np.array([0.0], np.float32))
    assert not np.signbit(plus[0])
    r = nt.relu_half(np.array([-0.0, np.nan, -1.0, 2.0, 0.0], np.float32))
    assert r.tolist() == [0, 0, 0, 2, 0] and not np.signbit(r).any()
    assert nt.signs(np.array([-0.0, 0.0, -1e-8, np.nan], np.float32)).tolist() == [1, 1, -1, -1]


def test_avg_pools_add_in_the_documented_order():
    # fp32: ((1 + 2^-11) + 2^-24) + 2^-24 = 1 + 2^-11 (each 2^-24 a tie to even), x 0.25 an fp16 tie
    # -> 0.25; (2^-24 + 2^-24) first would give 1 + 2^-11 + 2^-23 and 0.25 + 2^-12
    block = np.array([[1.0, 2.0 ** -11], [2.0 ** -24, 2.0 ** -24]], np.float32)
    x = block.reshape(1, 2, 2, 1)
    assert nt.avg2(x).reshape(-1).tolist() == [0.25]
    assert nt.global_avg(x).tolist() == [[0.25]]
    reordered = nt.round_half((np.float32(2.0 ** -24) + np.float32(2.0 ** -24) + np.float32(2.0 ** -11) + F32(1))
                              * F32(0.25))
    assert reordered == F32(0.25 + 2.0 ** -12)
    rng = np.random.default_rng(2)
    x = nt.round_half(rng.standard_normal((2, 6, 4, 3)))
    want = np.zeros((2, 3, 2, 3), np.float32)
    for i in range(3):
        for j in range(2):
            a, b, c, d = x[:, 2 * i, 2 * j], x[:, 2 * i, 2 * j + 1], x[:, 2 * i + 1, 2 * j], x[:, 2 * i + 1, 2 * j + 1]
            want[:, i, j] = nt.round_half((((a + b) + c) + d) * F32(0.25))
    assert nt.avg2(x).tobytes() == want.tobytes()
    total = np.zeros((2, 3), np.float32)
    for i in range(6):
        for j in range(4):
            total = total + x[:, i, j]
    assert nt.global_avg(x).tobytes() == nt.round_half(total / F32(24)).tobytes()


def test_maxpool3_windows_and_signed_zeros():
    rng = np.random.default_rng(3)
    for h, w in ((7, 7), (8, 5), (1, 2)):
        y = nt.round_half(rng.standard_normal((2, h, w, 3)))
        y[0, 0, 0, 0], y[0, 0, 1, 0] = -0.0, 0.0
        got = nt.maxpool3(y)
        assert got.shape == (2, (h - 1) // 2 + 1, (w - 1) // 2 + 1, 3)
        for n, i, j, c in np.ndindex(*got.shape):
            window = [y[n, a, b, c] for a in range(2 * i - 1, 2 * i + 2) for b in range(2 * j - 1, 2 * j + 2)
                      if 0 <= a < h and 0 <= b < w]
            assert got[n, i, j, c] == max(window)
    zeros = np.array([-0.0, -0.0, 0.0, -0.0], np.float32).reshape(1, 2, 2, 1)
    assert not np.signbit(nt.maxpool3(zeros)).any()  # +0 counts above -0 (__hmax)
    assert np.signbit(nt.maxpool3(np.full((1, 2, 2, 1), -0.0, np.float32))).all()


# ---------------------------------------------------------------- the bound of a reordered real layer

def test_ulp_half():
    x = [1.0, 0.999, 1.5, 2.0 ** -15, 2.0 ** -14, 1e-12, 65504.0, 65519.0, 65520.0, -3.0]
    assert nt.ulp_half(x).tolist() == [2.0 ** -10, 2.0 ** -11, 2.0 ** -10, 2.0 ** -24, 2.0 ** -24, 2.0 ** -24, 32.0,
                                       32.0, np.inf, 2.0 ** -9]


def test_bounds_hand_computed():
    # A = 1, K = 4, scale 1, acc 1, shift 0: d_acc = 2 4 2^-22 = 2^-19, d_pre = 2^-19 + 4 2^-24,
    # and one fp16 ulp at 1 + d_pre
    assert nt.conv_bound(1.0, 4, 1.0, 1.0, 0.0) == 2.0 ** -19 + 2.0 ** -22 + 2.0 ** -10
    # a negative scale, a shortcut: |scale| d_acc + 4 2^-24 (|scale acc| + |shift| + |s|), pre = |-1 + 0.5 + 4|
    assert nt.conv_bound(2.0, 8, -0.5, 2.0, 0.5, 4.0) == 2.0 ** -18 + 2.0 ** -22 * 5.5 + 2.0 ** -9
    # fc: A = 2, K = 3, acc 1.5, bias 0.5: 2 3 2^-22 2 + 2 2^-24 (1.5 + 0.5) = 13 2^-22; ulp at 2 + that
    assert nt.fc_bound(2.0, 3, 1.5, 0.5) == 13 * 2.0 ** -22 + 2.0 ** -9


def _sum_f32(terms) -> np.float32:
    acc = F32(0)
    for t in terms:
        acc = F32(acc + F32(t))
    return acc


def test_a_reordered_sum_stays_within_the_bound_and_a_wrong_term_does_not():
    rng = np.random.default_rng(4)
    scale, shift, k, moved, wrong = F32(0.75), F32(2.0 ** -12), 9, 0, 0
    for _ in range(400):
        x = nt.round_half(rng.standard_normal(k - 1) * 2.0 ** rng.integers(-8, 8, k - 1))
        w = nt.round_half(rng.standard_normal(k - 1) * 2.0 ** rng.integers(-4, 4, k - 1))
        products = x * w  # exact in fp32: fp16 values
        # a last term that cancels the sum to within fp16 rounding: a small result beside a large
        # A, so the orders' fp32 differences show in the fp16 values (as at a conv's zero crossing)
        products = np.append(products, -nt.round_half(_sum_f32(products)))
        a = float(np.abs(products.astype(np.float64)).sum())
        ref = _sum_f32(products)
        v_ref = nt.half_affine(np.array([ref], np.float32), scale, shift, None)[0]
        b = nt.conv_bound(a, k, scale, float(ref), shift)
        for order in (products[::-1], np.sort(products), products[rng.permutation(k)]):
            other = _sum_f32(order)
            assert abs(float(other) - float(ref)) <= 2 * k * 2.0 ** -22 * a  # d_acc
            v_other = nt.half_affine(np.array([other], np.float32), scale, shift, None)[0]
            assert abs(float(v_other) - float(v_ref)) <= b
            moved += v_other != v_ref
        # a wrong term: the largest product's weight negated (a wrong tap or channel)
        i = int(np.argmax(np.abs(products)))
        bad = products.copy()
        bad[i] = -bad[i]
        v_bad = nt.half_affine(np.array([_sum_f32(bad)], np.float32), scale, shift, None)[0]
        wrong += abs(float(v_bad) - float(v_ref)) > b
    assert moved > 100  # many fp16 values did move: the bound is exercised, not idle
    assert wrong == 400


def test_forward_bound_is_the_conv_bound_of_its_terms():
    m = nt.parse_model("tiny-bireal")
    w = nt.random_weights(m, 1)
    images = np.random.default_rng(5).standard_normal((1, 3, 16, 16), dtype=np.float32)
    f = nt.make_forward(m, w, "numpy")
    f(images)
    l = m.find("mix")
    x, s = f.real_inputs["mix"]
    wt = w["mix.weight"].astype(np.float64)
    scale, shift = nt.fold_affine(*(w[f"mix.bn.{k}"] for k in nt.BN_KEYS), m.bn_eps)
    b = f.bound("mix")
    for (n, p, q, o) in [(0, 0, 0, 0), (0, 3, 2, 17), (0, 1, 1, 63)]:  # by hand: the 3x3 taps in the image
        acc = mag = 0.0
        for r in range(3):
            for t in range(3):
                h, v = p - 1 + r, q - 1 + t
                if 0 <= h < 4 and 0 <= v < 4:
                    terms = x[n, h, v].astype(np.float64) * wt[o, :, r, t]
                    acc, mag = acc + terms.sum(), mag + np.abs(terms).sum()
        assert b[n, p, q, o] == pytest.approx(nt.conv_bound(mag, l.dot_bits, scale[o], acc, shift[o]), rel=1e-12)
    assert s is None and (b > 0).all() and f.bound("conv1").shape == (1, 8, 8, 32)  # after max3
    assert f.bound("fc").shape == (1, 10)


# ---------------------------------------------------------------- the comparison logic

HALF_CONV = nt.Layer("c", "conv", "input", 4, half_out=True)
BCONV = nt.Layer("b", "bconv", "c", 4)


def test_check_layer_exact_for_integers_and_bits():
    y = np.arange(8, dtype=np.int32).reshape(1, 2, 1, 4)
    act = np.where(y % 3 == 0, 1, -1).astype(np.int8)
    r = nt.check_layer(BCONV, {"y": y, "act": act}, {"y": y.copy(), "act": act.copy()})
    assert r.ok and not r.tolerance and r.describe() == "equal"
    y2 = y.copy()
    y2[0, 1, 0, 2] += 1
    r = nt.check_layer(BCONV, {"y": y2, "act": act}, {"y": y, "act": act})
    assert not r.ok and r.describe() == "DIFFERS: y: 1 of 8 differ, first at [0, 1, 0, 2]: 7 vs 6"
    r = nt.check_layer(BCONV, {"y": y, "act": -act}, {"y": y, "act": act})
    assert not r.ok and r.describe().startswith("DIFFERS: act: 8 of 8 differ")
    r = nt.check_layer(BCONV, {"y": y, "act": act}, {"y": y.reshape(1, 1, 2, 4), "act": act})
    assert r.differs == ["y: [1, 2, 1, 4], the reference [1, 1, 2, 4]"]
    r = nt.check_layer(BCONV, {"y": y, "act": act}, {"act": act})
    assert r.ok and r.describe() == "equal (the reference has no y)"
    assert nt.check_layer(BCONV, {"y": y, "act": act}, {}).describe() == "not compared (the reference has no y, act)"


def test_check_layer_exact_half_values_are_bit_equal():
    v = np.array([0.5, -0.0, np.nan, 1.0], np.float32)
    act = nt.signs(v)
    assert nt.check_layer(HALF_CONV, {"half": v, "act": act}, {"half": v.copy(), "act": act}).ok  # NaN vs NaN
    r = nt.check_layer(HALF_CONV, {"half": v, "act": act}, {"half": np.array([0.5, 0.0, np.nan, 1.0], np.float32),
                                                            "act": act})
    assert not r.ok and "half: 1 of 4 differ" in r.describe()  # -0 vs +0: not the same bits
    one_ulp = np.array([0.5, -0.0, np.nan, 1.0009765625], np.float32)
    r = nt.check_layer(HALF_CONV, {"half": one_ulp, "act": act}, {"half": v, "act": act})
    assert not r.ok and (r.half_values, r.half_equal) == (4, 3)


def _half_case(n: int = 100, moved: int = 5, bound: float = 2.0 ** -10):
    rng = np.random.default_rng(6)
    ref = nt.round_half(rng.uniform(0.5, 1, n))   # one fp16 ulp at [0.5, 1) is 2^-11
    ours = ref.copy()
    ours[:moved] += np.float32(2.0 ** -11)
    return ours, ref, np.full(n, bound)


def test_check_layer_within_bound():
    ours, ref, b = _half_case()
    r = nt.check_layer(HALF_CONV, {"half": ours, "act": nt.signs(ours)}, {"half": ref, "act": nt.signs(ref)}, b)
    assert r.ok and r.tolerance and (r.half_values, r.half_equal) == (100, 95)
    assert r.describe() == "within bound (95.00% of 100 values bit-equal, worst 0.500 of the bound)"
    # one value past its bound
    r = nt.check_layer(HALF_CONV, {"half": ours, "act": nt.signs(ours)}, {"half": ref, "act": nt.signs(ref)},
                       np.where(np.arange(100) == 3, 2.0 ** -12, b))
    assert not r.ok and r.differs[0].startswith("half: 1 values past the bound, first at [3]")
    # a NaN only against a NaN
    nan = ours.copy()
    nan[50] = np.nan
    r = nt.check_layer(HALF_CONV, {"half": nan}, {"half": ref}, b)
    assert not r.ok and "1 values past the bound, first at [50]" in r.differs[0]


def test_check_layer_bit_equal_floor():
    for moved, ok in ((10, True), (11, False)):  # 90% bit-equal passes, 89% does not
        ours, ref, b = _half_case(moved=moved)
        r = nt.check_layer(HALF_CONV, {"half": ours}, {"half": ref}, b)
        assert r.ok == ok, r.describe()
    assert r.differs == ["half: only 89.0% of the values bit-equal (at least 90%)"]


def test_check_layer_bits_where_the_bound_cannot_reach_zero():
    ref = np.array([0.25, 2.0 ** -12, -2.0 ** -12, -0.5], np.float32)
    ours = np.array([0.25, -2.0 ** -12, 2.0 ** -12, -0.5], np.float32)  # the two small ones change sign
    b = np.full(4, 2.0 ** -10)
    r = nt.check_layer(HALF_CONV, {"half": ours, "act": nt.signs(ours)}, {"half": ref, "act": nt.signs(ref)}, b)
    assert not r.ok  # only 50% bit-equal, but no bit flip is counted where |ref| <= bound
    assert not any("bits differ" in d for d in r.differs)
    act = nt.signs(ref)
    act[0] = -1  # a bit flipped where the value is far from 0
    r = nt.check_layer(HALF_CONV, {"half": ref, "act": act}, {"half": ref, "act": nt.signs(ref)}, b)
    assert r.differs == ["1 bits differ where the bound cannot reach 0"]


def test_check_forward_and_verdict():
    m = nt.parse_model("tiny-bireal")
    w = nt.random_weights(m, 1)
    images = np.random.default_rng(7).standard_normal((1, 3, 16, 16), dtype=np.float32)
    f = nt.make_forward(m, w, "numpy")
    ours = nt.forward_tensors(m, f(images))
    bounds = {l.name: f.bound(l.name) for l in m.layers if l.op in nt.HALF_OPS}
    results = nt.check_forward(m, ours, dict(ours), bounds)
    assert [r.tolerance for r in results] == [l.op in nt.HALF_OPS for l in m.layers]
    assert nt.verdict(results) == ("check: every layer equals the reference, 4 reordered real layers within "
                                   "their bound", 0)
    ref = dict(ours)
    ref["b2a.y"] = ref["b2a.y"] + 1
    ref["logits"] = ref["logits"] + 1
    del ref["bits.act"]
    results = nt.check_forward(m, ours, ref, bounds)
    assert nt.verdict(results) == ("check: 2 layers differ from the reference: b2a, fc", 1)
    assert next(r for r in results if r.layer == "bits").describe() == "equal (the reference has no act)"
    assert nt.verdict(nt.check_forward(m, ours, {}, bounds))[0].endswith("(10 layers not in the reference)")


# ---------------------------------------------------------------- the check against the C++ reference

def _make_case(root: Path, model: str, batch: int, cpu: bool = True, **btc: str) -> dict[str, Path]:
    """Weights, images and an in situ capture of btcbench run (the C++ reference with cpu)."""
    root.mkdir(parents=True, exist_ok=True)
    c = {"w": root / "w.safetensors", "x": root / "x.npy", "cap": root / "cap"}
    assert run("weights", "--model", model, "--seed", "3", "--out", str(c["w"])).returncode == 0
    assert run("images", "--model", model, "--batch", str(batch), "--seed", "4", "--out", str(c["x"])).returncode == 0
    args = [str(BTCBENCH), "run", model, "--weights", str(btc.get("weights", c["w"])),
            "--input", str(btc.get("input", c["x"])), "--insitu", str(c["cap"]),
            "--insitu-images", ",".join(map(str, range(batch)))] + (["--cpu"] if cpu else [])
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return c


@pytest.fixture(scope="module")
def bireal_case(tmp_path_factory):
    if not BTCBENCH.is_file():
        pytest.skip(f"no {BTCBENCH} (build btcbench, or set BTCBENCH)")
    return _make_case(tmp_path_factory.mktemp("tiny-bireal"), "tiny-bireal", 2)


def _check(case: dict[str, Path], *extra: str, model: str = "tiny-bireal", device: str = "numpy"):
    return run("check", "--model", model, "--weights", str(case["w"]), "--input", str(case["x"]),
               "--reference", str(case.get("ref", case["cap"])), "--device", device, *extra)


@pytest.mark.parametrize("device", BACKENDS)
@pytest.mark.parametrize("real", nt.REAL_MODES)
def test_check_against_the_cpp_reference(bireal_case, real, device):
    p = _check(bireal_case, "--real", real, device=device)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    m = nt.parse_model("tiny-bireal")
    assert lines[0].startswith(f"check tiny-bireal: {device} forward ({real} real layers")
    assert "reference: capture" in lines[0] and "--cpu" in lines[0]
    judged = {ln.split()[0]: ln.split()[2:] for ln in lines[1:1 + len(m.layers)]}
    assert list(judged) == [l.name for l in m.layers]
    for l in m.layers:
        tolerance = real == "reordered" and l.op in nt.HALF_OPS
        assert judged[l.name][0] == ("bound" if tolerance else "exact"), lines
        assert judged[l.name][1] == ("within" if tolerance else "equal"), lines
    assert lines[-1] == ("check: every layer equals the reference" +
                         (", 4 reordered real layers within their bound" if real == "reordered" else ""))


def test_free_running_ordered_forward_equals_the_cpp_reference(bireal_case):
    """No teacher: an independent forward in the reference's order is the reference, bit for bit."""
    m = nt.parse_model("tiny-bireal")
    w, _ = nt.read_safetensors(bireal_case["w"])
    ref, index, _ = nt.load_reference(m, bireal_case["cap"], w)
    assert index == [0, 1] and {"input", "logits", "conv1.half", "conv1.act", "b1a.y", "bits.act"} <= set(ref)
    assert "conv1.y" not in ref and "bits.half" not in ref
    ours = nt.forward_tensors(m, nt.make_forward(m, w, "numpy", "ordered")(np.load(bireal_case["x"])))
    assert all(r.ok and r.compared for r in nt.check_forward(m, ours, ref))
    assert set(ours) == set(ref) - {"input"}


@needs_btcbench
@pytest.mark.parametrize("model", ["resnet18-bireal", "resnet18-fp16"])
def test_check_resnet18_models_against_the_cpp_reference(tmp_path, model):
    case = _make_case(tmp_path, model, 1)
    for real in nt.REAL_MODES:
        p = _check(case, "--real", real, model=model)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "DIFFERS" not in p.stdout and p.stdout.rstrip().endswith("within their bound" if real == "reordered"
                                                                       else "every layer equals the reference")


def test_check_finds_a_difference(bireal_case, tmp_path):
    """The reference as a forward file with one z moved, one conv value moved past its bound: exit 1."""
    m = nt.parse_model("tiny-bireal")
    w, _ = nt.read_safetensors(bireal_case["w"])
    ref, _, _ = nt.load_reference(m, bireal_case["cap"], w)
    ref["b2b.y"][1, 2, 3, 4] += 2
    ref["down2.half"][0, 0, 0, 0] = nt.round_half(ref["down2.half"][0, 0, 0, 0] + F32(0.5))
    nt.write_safetensors(tmp_path / "ref.safetensors", ref, {"btcbench_model": "tiny-bireal",
                                                             "format": nt.FORWARD_FORMAT})
    out = tmp_path / "ours.safetensors"
    p = _check({**bireal_case, "ref": tmp_path / "ref.safetensors"}, "--out", str(out))
    assert p.returncode == 1, p.stdout + p.stderr
    lines = {ln.split()[0]: ln for ln in p.stdout.splitlines()}
    assert "DIFFERS: y: 1 of 2048 differ, first at [1, 2, 3, 4]" in lines["b2b"]
    assert "half: 1 values past the bound, first at [0, 0, 0, 0]" in lines["down2"]
    # b2a read down2's moved value as its shortcut (teacher forcing): its value there moved as much
    assert "half: 1 of 2048 differ, first at [0, 0, 0, 0]" in lines["b2a"]
    assert lines["b1b"].endswith("equal") and lines["fc"].endswith(")")  # fc: within bound (...)
    assert p.stdout.splitlines()[-1] == "check: 3 layers differ from the reference: down2, b2a, b2b"
    tensors, metadata = nt.read_safetensors(out)  # --out: our teacher-forced tensors
    assert metadata["teacher"] == str(tmp_path / "ref.safetensors") and "down2.half" in tensors


def test_check_errors(bireal_case, tmp_path):
    c = bireal_case
    base = ("--model", "tiny-bireal", "--weights", str(c["w"]), "--input", str(c["x"]), "--device", "numpy")
    assert_one_line_error(run("check", "--model", "tiny-bireal", "--weights", str(c["w"])),
                          "the following arguments are required: --input, --reference")
    assert_one_line_error(run("check", *base, "--reference", str(c["cap"]), "--real", "fast"),
                          "argument --real: invalid choice: 'fast'")
    assert_one_line_error(run("check", *base, "--reference", str(tmp_path / "none")), "cannot read")
    assert_one_line_error(run("check", *base, "--reference", str(tmp_path)), "not a capture directory")
    (tmp_path / "junk").write_bytes(b"\x10" + bytes(7) + b"not json")
    assert_one_line_error(run("check", *base, "--reference", str(tmp_path / "junk")), "not a readable safetensors")
    other = tmp_path / "other.safetensors"
    nt.write_safetensors(other, {"logits": np.zeros((2, 10), np.float32)}, {"btcbench_model": "tiny-resnet"})
    assert_one_line_error(run("check", *base, "--reference", str(other)), "a forward of model 'tiny-resnet'")
    nt.write_safetensors(other, {"x": np.zeros(1, np.float32)}, {"format": nt.FORWARD_FORMAT})
    assert_one_line_error(run("check", *base, "--reference", str(other)), "holds none of the model's layer tensors")
    assert_one_line_error(run("check", *base, "--reference", str(c["cap"]), "--model", "tiny-resnet"),
                          "weights for model 'tiny-bireal', not 'tiny-resnet'")
    # the capture of a run on other weights or images (btcbench without --weights or --input)
    w2, x2 = tmp_path / "w2.safetensors", tmp_path / "x2.npy"
    assert run("weights", "--model", "tiny-bireal", "--seed", "9", "--out", str(w2)).returncode == 0
    assert run("images", "--model", "tiny-bireal", "--seed", "9", "--out", str(x2)).returncode == 0
    assert_one_line_error(run("check", "--model", "tiny-bireal", "--weights", str(w2), "--input", str(c["x"]),
                              "--reference", str(c["cap"]), "--device", "numpy"),
                          "weights are not those of the weights file (was btcbench run given --weights W?)")
    assert_one_line_error(run("check", "--model", "tiny-bireal", "--weights", str(c["w"]), "--input", str(x2),
                              "--reference", str(c["cap"]), "--device", "numpy"),
                          "the reference ran on other images than")
    np.save(x2, np.zeros((1, 3, 16, 16), np.float32))
    assert_one_line_error(run("check", "--model", "tiny-bireal", "--weights", str(c["w"]), "--input", str(x2),
                              "--reference", str(c["cap"]), "--device", "numpy"), "captured image 1")


@pytest.mark.skipif(HAVE_TORCH, reason="torch is importable here")
def test_cli_check_without_torch(tmp_path):
    assert_one_line_error(run("check", "--model", "tiny-bireal", "--weights", "w", "--input", "x",
                              "--reference", "r"), nt.TORCH_MISSING)


@needs_torch
@pytest.mark.parametrize("real", nt.REAL_MODES)
def test_torch_and_numpy_forwards_agree(real):
    """Integer and in-order layers bit for bit; torch's reordered sums within the bound of numpy's."""
    m = nt.parse_model("tiny-bireal")
    w = nt.random_weights(m, 2)
    images = np.random.default_rng(8).standard_normal((2, 3, 16, 16), dtype=np.float32)
    mine = nt.make_forward(m, w, "numpy", real)
    a = nt.forward_tensors(m, mine(images))
    t = nt.TorchBNN(m, w, "cpu", real)
    b = nt.forward_tensors(m, t(images, teacher=a))
    bounds = {l.name: mine.bound(l.name) for l in m.layers if l.op in nt.HALF_OPS} if real == "reordered" else {}
    results = nt.check_forward(m, b, a, bounds)
    assert all(r.ok for r in results), [r.describe() for r in results]
