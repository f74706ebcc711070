"""analysis.net_torch: the model parser against every models/*.model, the
weights naming, the safetensors reader/writer, the fp32 batch norm, the CLI;
and, where torch is importable, TorchBNN on tiny-resnet against a naive
numpy forward written here from net/model.h (no torch, no im2col tricks)."""
from __future__ import annotations

import math
import struct
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


@needs_torch
def test_torch_forward_refuses_half_layers():
    m = nt.parse_model("tiny-bireal")
    with pytest.raises(nt.NetError, match="no half-precision layers"):
        nt.TorchBNN(m, nt.random_weights(m, 1))


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


@needs_torch
def test_torch_forward_matches_the_naive_forward(tiny):
    m, w, images = tiny
    got = nt.TorchBNN(m, w)(images)
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


@needs_torch
def test_torch_forward_is_deterministic_and_balanced(tiny):
    m, w, images = tiny
    a = nt.forward_tensors(m, nt.TorchBNN(m, w)(images))
    b = nt.forward_tensors(m, nt.TorchBNN(m, w)(images))
    assert set(a) == set(b) and all(a[n].tobytes() == b[n].tobytes() for n in a)
    for l in m.layers[:-1]:
        plus = (a[f"{l.name}.act"] == 1).mean()
        # a max-pool of bits leans to +1 (any of four); the rest are near half
        assert (0.5 if l.maxpool2 else 0.25) < plus < (0.99 if l.maxpool2 else 0.75), (l.name, plus)
        assert set(np.unique(a[f"{l.name}.act"])) == {-1, 1}


@needs_torch
def test_torch_act_is_the_sign_of_bn(tiny):
    m, w, images = tiny
    out = nt.TorchBNN(m, w)(images)
    for l in m.layers[:-1]:
        y = out[l.name]["y"]  # NHWC or [N, out]: the channel is the last axis
        bn = nt.batch_norm_f32(y, *(w[f"{l.name}.bn.{k}"] for k in nt.BN_KEYS), m.bn_eps)
        sign = np.where(bn >= 0, 1, -1)
        if l.maxpool2:
            sign = np.maximum.reduce([sign[:, i::2, j::2] for i in (0, 1) for j in (0, 1)])
        assert np.array_equal(out[l.name]["act"], sign), l.name


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
    assert metadata["btcbench_model"] == "tiny-resnet" and metadata["format"] == "btcbench.forward.v1"
    assert {f"{l.name}.y" for l in m.layers} | {f"{l.name}.act" for l in m.layers[:-1]} | {"logits", "input"} \
        | set(nt.weight_shapes(m)) == set(tensors)
    assert tensors["conv1.y"].shape == (2, 8, 8, 32) and tensors["b2b.act"].shape == (2, 2, 2, 64)
    assert tensors["logits"].shape == (2, 10) and np.array_equal(tensors["input"], np.load(x))
    assert l1.stat().st_size < 200_000  # a CI fixture (i8 weights; f32 ones make it about 490 KB)
    nt.check_weights(m, tensors, metadata, str(l1))  # a forward file serves as its own weights file
    assert run("compare", str(l1), str(l2)).returncode == 0
