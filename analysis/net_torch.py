"""A PyTorch forward of a model file (models/<name>.model), written from the
value semantics in the top comment of net/model.h, for checking the C++
reference and the GPU runner bit for bit:

    python3 -m analysis.net_torch weights --model M --seed S --out W.safetensors
    python3 -m analysis.net_torch images  --model M [--batch N] --seed S --out X.npy
    python3 -m analysis.net_torch forward --model M --weights W --input X.npy --out L.safetensors [--device cpu|cuda]
    python3 -m analysis.net_torch compare A.safetensors B.safetensors

M is a name from models/ or a path. Weights follow the safetensors naming of
docs/weights.md (NAME.weight as PyTorch's Conv2d/Linear, NAME.bn.*). A forward
file holds per layer NAME.y (int32 NHWC, [N, out] for a bfc), NAME.act (+-1
int8, after any max-pool), the head's `logits` (fp32), and copies of the
weights and of the image batch (`input`): one file that is a test fixture.

Only `forward` needs torch (it is not a dependency of the package: the
other commands and the tests run without it). Exit: 0 done (compare: all
common tensors equal), 1 compare found a difference, 2 error (one line).
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import sys
import zlib
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from analysis import btcresults as br

try:  # optional: the forward needs it, nothing else does
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None
    F = None
try:  # optional: the package when present, else the private reader/writer below
    import safetensors.numpy as st_numpy
except ImportError:
    st_numpy = None

REPO = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO / "models"
WEIGHTS_FORMAT = "btcbench.weights.v1"
FORWARD_FORMAT = "btcbench.forward.v1"
BN_KEYS = ("weight", "bias", "running_mean", "running_var")  # gamma, beta, mean, var
TORCH_MISSING = "torch is not importable: the forward needs PyTorch (it is on the lent GPU machine)"
OPS = ("stem", "bconv", "bfc", "conv", "fc")
HALF_OPS = ("conv", "fc")  # real-valued, fp16 (docs/models.md "Half-precision layers")
HEADER_KEYS = ("model", "description", "input", "input_scale", "batch", "bn_eps")


class NetError(Exception):
    """A one-line error for the CLI: a file, a model or a weights problem."""


# ---------------------------------------------------------------- the model file

@dataclasses.dataclass(frozen=True)
class Shape:
    """One image's tensor, H x W x C (a bfc's output is 1 x 1 x out)."""
    h: int = 1
    w: int = 1
    c: int = 1

    @property
    def elements(self) -> int:
        return self.h * self.w * self.c


@dataclasses.dataclass
class Layer:
    name: str
    op: str              # one of OPS
    input: str           # "input" (the image) or an earlier layer's name
    out: int
    kernel: int = 1
    stride: int = 1
    pad: int = 0
    pad_value: int = 0   # bconv padval: 0, +1 or -1
    add: str = ""        # residual added before the threshold ("" = none)
    add_pool2: bool = False
    save: str = ""
    maxpool2: bool = False
    float_out: bool = False
    half_out: bool = False   # conv and fc always, a bconv with out=half
    shortcut: str = ""       # bconv out=half, conv: the half layer added to BN(z)
    relu: bool = False       # conv act=relu: max(0, .) after the shortcut
    prepool: str = ""        # conv: "avg2", fc: "avg"
    maxpool3: bool = False   # conv: pool=max3 (3x3, stride 2, pad 1)
    line: int = 0
    # derived (as net/model.h's LayerShapes)
    shape_in: Shape = Shape()
    pooled_in: Shape = Shape()
    conv_out: Shape = Shape()
    shape_out: Shape = Shape()
    dot_bits: int = 0


@dataclasses.dataclass
class Model:
    name: str = ""
    description: str = ""
    input: Shape = Shape()
    input_scale: float = float(np.float32(1 / 64))  # float32, as the C++ strtof
    batch: int = 1
    bn_eps: float = float(np.float32(1e-5))
    layers: list[Layer] = dataclasses.field(default_factory=list)

    @property
    def classes(self) -> int:
        return self.layers[-1].out

    def find(self, name: str) -> Layer | None:
        return next((l for l in self.layers if l.name == name), None)

    def saver_of(self, residual: str) -> Layer | None:
        return next((l for l in self.layers if l.save == residual), None)


def _int(s: str, what: str, where: str) -> int:
    try:
        return int(s)
    except ValueError:
        raise NetError(f"{where}: {what} must be an integer, got '{s}'") from None


def _float32(s: str, what: str, where: str) -> float:
    try:
        v = float(np.float32(s))
    except ValueError:
        raise NetError(f"{where}: {what} must be a number, got '{s}'") from None
    if not v > 0 or not np.isfinite(v):
        raise NetError(f"{where}: {what} must be a positive number, got '{s}'")
    return v


def _apply_option(layer: Layer, key: str, val: str, where: str) -> None:
    if key == "add" and layer.op == "bconv":
        layer.add, _, tail = val.partition(":")
        if tail and tail != "pool2":
            raise NetError(f"{where}: add=R takes only ':pool2', got '{val}'")
        layer.add_pool2 = tail == "pool2"
    elif key == "save" and layer.op in ("stem", "bconv"):
        layer.save = val
    elif key == "pool" and layer.op in ("stem", "bconv") and val == "max2":
        layer.maxpool2 = True
    elif key == "pool" and layer.op == "conv" and val == "max3":
        layer.maxpool3 = True
    elif key == "padval" and layer.op == "bconv" and val in ("zero", "+1", "-1"):
        layer.pad_value = {"zero": 0, "+1": 1, "-1": -1}[val]
    elif key == "out" and layer.op == "bfc" and val in ("bits", "float"):
        layer.float_out = val == "float"
    elif key == "out" and layer.op == "bconv" and val in ("bits", "half"):
        layer.half_out = val == "half"
    elif key == "out" and layer.op == "fc" and val == "float":
        layer.float_out = True
    elif key == "shortcut" and layer.op in ("bconv", "conv"):
        layer.shortcut = val
    elif key == "act" and layer.op == "conv":
        if val != "relu":
            raise NetError(f"{where}: a conv's act takes 'relu', got '{val}'")
        layer.relu = True
    elif key == "prepool" and (layer.op, val) in (("conv", "avg2"), ("fc", "avg")):
        layer.prepool = val
    else:
        raise NetError(f"{where}: option '{key}={val}' does not apply to a {layer.op}")


def _check_half_row(layer: Layer, where: str) -> None:
    """The half-precision rules of one row (net/model.cpp's, whatever the option order)."""
    if layer.op in HALF_OPS:
        layer.half_out = True
    if layer.shortcut and not layer.half_out:
        raise NetError(f"{where}: shortcut= needs out=half")
    if layer.op == "bconv" and layer.half_out and (layer.add or layer.save or layer.maxpool2):
        raise NetError(f"{where}: a bconv with out=half has no add=, save= or pool=max2")
    if layer.op == "fc" and not layer.float_out:
        raise NetError(f"{where}: an fc writes the logits: write out=float")


def _infer_shapes(m: Model, source: str) -> None:
    """Shapes in file order, as net/model.cpp's infer_shapes (the reads and
    residuals must resolve; the sizes the C++ parser checks are trusted)."""
    position = {l.name: i for i, l in enumerate(m.layers)}
    saver = {l.save: i for i, l in enumerate(m.layers) if l.save}
    for i, layer in enumerate(m.layers):
        where = f"{source}:{layer.line}"
        from_image = layer.input == "input"
        if from_image != (layer.op == "stem") and layer.op not in ("bfc", "conv"):
            raise NetError(f"{where}: a stem reads 'input', a bconv or fc an earlier layer")
        src = None
        if from_image:
            layer.shape_in = m.input
        else:
            src = m.layers[position[layer.input]] if position.get(layer.input, i) < i else None
            if src is None:
                raise NetError(f"{where}: '{layer.name}' reads '{layer.input}', which is not an earlier layer")
            layer.shape_in = src.shape_out
        if layer.op in HALF_OPS and src is not None and not src.half_out:
            raise NetError(f"{where}: a {layer.op} reads fp16 values: '{layer.input}' writes bits")
        s = layer.shape_in
        layer.pooled_in = (Shape(s.h // 2, s.w // 2, s.c) if layer.prepool == "avg2" else
                           Shape(1, 1, s.c) if layer.prepool == "avg" else s)
        if layer.op in ("bfc", "fc"):
            layer.conv_out = Shape(1, 1, layer.out)
            layer.dot_bits = layer.pooled_in.elements
        else:
            pin = layer.pooled_in
            p = (pin.h + 2 * layer.pad - layer.kernel) // layer.stride + 1
            q = (pin.w + 2 * layer.pad - layer.kernel) // layer.stride + 1
            layer.conv_out = Shape(p, q, layer.out)
            layer.dot_bits = layer.kernel * layer.kernel * pin.c
        c = layer.conv_out
        layer.shape_out = (Shape(c.h // 2, c.w // 2, c.c) if layer.maxpool2 else
                           Shape((c.h - 1) // 2 + 1, (c.w - 1) // 2 + 1, c.c) if layer.maxpool3 else c)
        if layer.add and saver.get(layer.add, i) >= i:
            raise NetError(f"{where}: '{layer.name}' adds residual '{layer.add}', which no earlier layer saves")
        if layer.shortcut:
            sc = m.layers[position[layer.shortcut]] if position.get(layer.shortcut, i) < i else None
            if sc is None or not sc.half_out or sc.shape_out != layer.conv_out:
                raise NetError(f"{where}: shortcut '{layer.shortcut}' is not an earlier half layer of the output's shape")


def parse_model_text(text: str, source: str) -> Model:
    """The grammar of net/model.cpp: header lines, then rows
    `name op from out kernel stride pad [options]`; '#' starts a comment."""
    m = Model()
    have_input = False
    for number, raw in enumerate(text.splitlines(), 1):
        raw = raw.split("#", 1)[0]
        w = raw.split()
        where = f"{source}:{number}"
        if not w:
            continue
        if w[0] in HEADER_KEYS:
            if w[0] == "description":
                m.description = raw.strip()[len("description"):].strip()
            elif len(w) != (4 if w[0] == "input" else 2):
                raise NetError(f"{where}: '{w[0]}' takes {3 if w[0] == 'input' else 1} value(s)")
            elif w[0] == "model":
                m.name = w[1]
            elif w[0] == "input":
                c, h, wd = (_int(v, f"input {k}", where) for v, k in zip(w[1:], "CHW"))
                m.input = Shape(h, wd, c)
                have_input = True
            elif w[0] == "input_scale":
                m.input_scale = _float32(w[1], "input_scale", where)
            elif w[0] == "batch":
                m.batch = _int(w[1], "batch", where)
            elif w[0] == "bn_eps":
                m.bn_eps = _float32(w[1], "bn_eps", where)
            continue
        if len(w) < 7:
            raise NetError(f"{where}: a layer row is 'name op from out kernel stride pad [options]', "
                           f"got {len(w)} fields")
        if w[1] not in OPS:
            raise NetError(f"{where}: unknown op '{w[1]}' ({', '.join(OPS)})")
        if m.find(w[0]):
            raise NetError(f"{where}: layer '{w[0]}' is defined twice")
        layer = Layer(w[0], w[1], w[2], _int(w[3], "out", where), line=number)
        if layer.op not in ("bfc", "fc"):
            layer.kernel, layer.stride, layer.pad = (_int(v, k, where) for v, k in
                                                     zip(w[4:7], ("kernel", "stride", "pad")))
        for opt in w[7:]:
            key, eq, val = opt.partition("=")
            if not eq:
                raise NetError(f"{where}: option '{opt}' is not key=value")
            _apply_option(layer, key, val, where)
        _check_half_row(layer, where)
        m.layers.append(layer)
    missing = "model NAME line" if not m.name else "input C H W line" if not have_input else "layers"
    if not m.name or not have_input or not m.layers:
        raise NetError(f"{source}: no {missing}")
    if not m.layers[-1].float_out:
        raise NetError(f"{source}:{m.layers[-1].line}: the last layer must be a bfc with out=float or an fc (the logits)")
    if any(l.float_out for l in m.layers[:-1]):
        raise NetError(f"{source}: only the last layer may have out=float")
    _infer_shapes(m, source)
    return m


def model_path(name_or_path: str) -> Path:
    """A path (with a '/' or ending in .model) or a name from models/, as net::load_model."""
    if "/" in name_or_path or name_or_path.endswith(".model"):
        return Path(name_or_path)
    return MODELS_DIR / f"{name_or_path}.model"


def parse_model(path: str | Path) -> Model:
    """The model file at path (or a name from models/)."""
    p = model_path(str(path))
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        known = ", ".join(sorted(q.stem for q in MODELS_DIR.glob("*.model")))
        raise NetError(f"cannot read model file {p}: {getattr(e, 'strerror', None) or e} (models: {known})") from None
    return parse_model_text(text, str(p))


# ---------------------------------------------------------------- weights

def weight_shapes(model: Model) -> dict[str, tuple[int, ...]]:
    """Every tensor a weights file holds for model, by name (docs/weights.md):
    NAME.weight [out, in, k, k] (stem, bconv, conv) or [out, in] (bfc, fc;
    `in` in PyTorch's flatten of the NCHW input: (c, h, w), after an fc's
    prepool=avg just C), NAME.bn.* [out]; an fc has NAME.bias [out] and no
    batch norm."""
    shapes: dict[str, tuple[int, ...]] = {}
    for l in model.layers:
        shapes[f"{l.name}.weight"] = ((l.out, l.pooled_in.elements) if l.op in ("bfc", "fc")
                                      else (l.out, l.pooled_in.c, l.kernel, l.kernel))
        if l.op == "fc":
            shapes[f"{l.name}.bias"] = (l.out,)
            continue
        for key in BN_KEYS:
            shapes[f"{l.name}.bn.{key}"] = (l.out,)
    return shapes


def random_weights(model: Model, seed: int) -> dict[str, np.ndarray]:
    """+-1 weights (fp32) and batch-norm statistics centred on each layer's
    value scale, so outputs are neither all +1 nor all -1; one channel in
    eight has gamma < 0 (the flipped comparison). Each layer draws from a
    generator seeded by seed and its name, so adding a layer changes no other.
    Not the values of the C++ random_weights (net/weights.h): files carry them.
    The real-valued layers (conv, fc) get fp16-representable weights uniform
    with E[w^2] = 1/K (and an fc a small bias), their batch norm on a value
    scale of 1."""
    out: dict[str, np.ndarray] = {}
    std_by_residual: dict[str, float] = {}
    shapes = weight_shapes(model)
    for l in model.layers:
        rng = np.random.default_rng([seed, zlib.crc32(l.name.encode())])
        w_shape = shapes[f"{l.name}.weight"]
        if l.op in HALF_OPS:
            bound = np.sqrt(3.0 / l.dot_bits)
            out[f"{l.name}.weight"] = rng.uniform(-bound, bound, w_shape).astype(np.float16).astype(np.float32)
            if l.op == "fc":
                out[f"{l.name}.bias"] = rng.uniform(-0.05, 0.05, l.out).astype(np.float16).astype(np.float32)
                continue
        else:
            out[f"{l.name}.weight"] = np.where(rng.integers(0, 2, w_shape, dtype=np.int8) == 1,
                                               np.float32(1), np.float32(-1))
        # std of y: a +-1 dot of K terms is about sqrt(K); the stem's terms
        # are int8 pixels, about 48 steps in size for an N(0, 1) image at a
        # scale of 1/32 to 1/64; a residual adds its own variance (in quadrature)
        std_y = 1.0 if l.op == "conv" else np.sqrt(l.dot_bits) * (48.0 if l.op == "stem" else 1.0)
        if l.add:
            std_y = float(np.hypot(std_y, std_by_residual[l.add]))
        if l.save:
            std_by_residual[l.save] = std_y
        gamma = rng.uniform(0.5, 1.5, l.out)
        gamma[rng.permutation(l.out)[:round(l.out / 8)]] *= -1
        out[f"{l.name}.bn.weight"] = gamma.astype(np.float32)
        out[f"{l.name}.bn.bias"] = rng.uniform(-0.1, 0.1, l.out).astype(np.float32)
        out[f"{l.name}.bn.running_mean"] = (rng.uniform(-0.5, 0.5, l.out) * std_y).astype(np.float32)
        out[f"{l.name}.bn.running_var"] = ((std_y * rng.uniform(0.7, 1.3, l.out)) ** 2).astype(np.float32)
    return out


def weights_metadata(model: Model, source: str) -> dict[str, str]:
    return {"btcbench_model": model.name, "format": WEIGHTS_FORMAT, "source": source}


def check_weights(model: Model, weights: Mapping[str, np.ndarray], metadata: Mapping[str, str],
                  source: str) -> None:
    """Every tensor the model needs, with its shape; extra tensors are ignored
    (so a forward file serves as a weights file)."""
    named = metadata.get("btcbench_model")
    if named is not None and named != model.name:
        raise NetError(f"{source}: weights for model '{named}', not '{model.name}'")
    for name, shape in weight_shapes(model).items():
        if name not in weights:
            raise NetError(f"{source}: no tensor '{name}' (the naming is in docs/weights.md)")
        if tuple(weights[name].shape) != shape:
            raise NetError(f"{source}: '{name}' is {list(weights[name].shape)}, the model needs {list(shape)}")


# ---------------------------------------------------------------- batch norm, float32

def batch_norm_f32(y: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray,
                   eps: float) -> np.ndarray:
    """bconv::batch_norm_f32 elementwise: invstd = 1 / sqrt(var + eps), then
    ((y - mean) * invstd) * gamma + beta, every op a separately rounded fp32
    op (numpy ufuncs never fuse a multiply-add). Stats broadcast against y."""
    f32 = np.float32
    invstd = f32(1) / np.sqrt(np.asarray(var, f32) + f32(eps))
    return ((np.asarray(y).astype(f32) - np.asarray(mean, f32)) * invstd) * np.asarray(gamma, f32) \
        + np.asarray(beta, f32)


def channel_stats(weights: Mapping[str, np.ndarray], name: str, ndim: int) -> list[np.ndarray]:
    """Layer name's gamma, beta, mean, var shaped to broadcast over axis 1 of
    an ndim-dimensional NCHW (or [N, out]) tensor."""
    shape = (1, -1) + (1,) * (ndim - 2)
    return [np.asarray(weights[f"{name}.bn.{k}"], np.float32).reshape(shape) for k in BN_KEYS]


def quantize_input(x: np.ndarray, input_scale: float) -> np.ndarray:
    """The stem's int8 image: clamp(rint(x / scale), -127, 127), x / scale an
    fp32 division, rint ties to even (net::quantize_input)."""
    q = np.rint(np.asarray(x, np.float32) / np.float32(input_scale))
    return np.clip(q, -127, 127).astype(np.int8)


def max2(t: Any) -> Any:
    """2x2 stride-2 max over the last two axes (odd sizes drop the last row
    or column, as the C++ h / 2); numpy or torch, any dtype."""
    n, c, h, w = t.shape
    t = t[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2)
    return t.amax((3, 5)) if torch is not None and isinstance(t, torch.Tensor) else t.max((3, 5))


# ---------------------------------------------------------------- the torch module

class TorchBNN(torch.nn.Module if torch is not None else object):  # type: ignore[misc]
    """model's forward with +-1 float tensors: float64 on the CPU, float32 on
    CUDA with TF32 off; every sum is an integer below 2^24, so both are exact.
    The batch norm and its sign are fp32 numpy (batch_norm_f32), as the C++."""

    def __init__(self, model: Model, weights: Mapping[str, np.ndarray], device: str = "cpu"):
        if torch is None:
            raise NetError(TORCH_MISSING)
        super().__init__()
        half = [l.name for l in model.layers if l.half_out]
        if half:
            raise NetError(f"model {model.name}: the PyTorch forward has no half-precision layers "
                           f"(conv, fc, bconv out=half: {', '.join(half[:3])}{', ...' if len(half) > 3 else ''}); "
                           "the C++ reference (net/reference.h) is their ground truth")
        check_weights(model, weights, {}, "weights")
        self.model = model
        self.dev = torch.device(device)
        self.dtype = torch.float64 if self.dev.type == "cpu" else torch.float32
        if self.dev.type == "cuda":
            # TF32 would round the operands to 11 significant bits (+-1 and
            # the int8 image survive that) but exactness should not lean on it
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        for i, l in enumerate(model.layers):
            w = np.where(np.asarray(weights[f"{l.name}.weight"]) >= 0, 1.0, -1.0)
            self.register_buffer(f"w{i}", torch.tensor(w, dtype=self.dtype, device=self.dev))
        self.native_layers: list[str] = []  # CUDA: layers cuDNN did not compute exactly
        self.stats = {l.name: channel_stats(weights, l.name, 2 if l.op == "bfc" else 4) for l in model.layers}

    def _tensor(self, a: np.ndarray) -> "torch.Tensor":
        return torch.from_numpy(np.ascontiguousarray(a, np.float64)).to(self.dev, self.dtype)

    def _conv(self, x: "torch.Tensor", w: "torch.Tensor", stride: int, pad: int, name: str) -> "torch.Tensor":
        """conv2d, integer-exact: cuDNN may pick an algorithm that is not (FFT,
        a large-tile Winograd: a fraction shows it); that layer then runs
        PyTorch's own im2col + GEMM, which is (self.native_layers says where)."""
        z = F.conv2d(x, w, stride=stride, padding=pad)
        if self.dev.type == "cuda" and not torch.equal(z, torch.round(z)):
            with torch.backends.cudnn.flags(enabled=False, allow_tf32=False):
                z = F.conv2d(x, w, stride=stride, padding=pad)
            self.native_layers.append(name)
        return z

    def _exact(self, z: "torch.Tensor", name: str) -> "torch.Tensor":
        """z as int64; refuse a result with a fraction rather than round it."""
        r = torch.round(z)
        if not torch.equal(r, z):
            raise NetError(f"layer {name}: the {self.dev.type} result is not integer-exact "
                           f"(max fraction {(z - r).abs().max().item():.3g}); run with --device cpu")
        return r.to(torch.int64)

    def forward(self, images: np.ndarray) -> dict[str, dict[str, np.ndarray]]:  # type: ignore[override]
        """Per layer {'y': int32, 'act': +-1 int8} (NHWC, or [N, out] for a
        bfc); the head has 'y' and 'logits' (fp32 [N, classes]) instead."""
        m = self.model
        images = np.asarray(images, np.float32)
        want = (m.input.c, m.input.h, m.input.w)
        if images.ndim != 4 or images.shape[1:] != want:
            raise NetError(f"the input is {list(images.shape)}, the model reads [N, {', '.join(map(str, want))}]")
        acts: dict[str, torch.Tensor] = {}   # +-1, NCHW or [N, out], after any max-pool
        saved: dict[str, torch.Tensor] = {}  # residual name -> y, int64 NCHW
        out: dict[str, dict[str, np.ndarray]] = {}
        for i, l in enumerate(m.layers):
            w = getattr(self, f"w{i}")
            if l.op == "stem":
                z = self._conv(self._tensor(quantize_input(images, m.input_scale)), w, l.stride, l.pad, l.name)
            elif l.op == "bconv" and l.pad_value == 0:
                z = self._conv(acts[l.input], w, l.stride, l.pad, l.name)
            elif l.op == "bconv":
                padded = F.pad(acts[l.input], (l.pad,) * 4, value=float(l.pad_value))
                z = self._conv(padded, w, l.stride, 0, l.name)
            else:  # bfc: the image binarized, or the bits flattened as PyTorch does (c, h, w)
                x = self._tensor(np.where(images >= 0, 1.0, -1.0)) if l.input == "input" else acts[l.input]
                z = F.linear(x.flatten(1), w)
            y = self._exact(z, l.name)
            if l.add:
                r = saved[l.add]
                r = max2(r) if l.add_pool2 else r
                y[:, :r.shape[1]] += r  # channels past the residual's add 0
            if l.save:
                saved[l.save] = y
            y_np = y.cpu().numpy()
            bn = batch_norm_f32(y_np, *self.stats[l.name], m.bn_eps)
            to_nhwc = (lambda a: a) if y_np.ndim == 2 else (lambda a: a.transpose(0, 2, 3, 1))
            if l.float_out:
                out[l.name] = {"y": y_np.astype(np.int32), "logits": bn}
                continue
            act = self._tensor(np.where(bn >= 0, 1.0, -1.0))
            act = max2(act) if l.maxpool2 else act
            acts[l.name] = act
            out[l.name] = {"y": np.ascontiguousarray(to_nhwc(y_np).astype(np.int32)),
                           "act": np.ascontiguousarray(to_nhwc(act.cpu().numpy()).astype(np.int8))}
        return out


def forward_tensors(model: Model, outputs: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """A forward's tensors by their file names: NAME.y, NAME.act, logits."""
    flat: dict[str, np.ndarray] = {}
    for l in model.layers:
        for key, a in outputs[l.name].items():
            flat["logits" if key == "logits" else f"{l.name}.{key}"] = a
    return flat


# ---------------------------------------------------------------- safetensors, pure numpy

_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
              "I8": "i1", "U8": "u1", "BOOL": "?"}
_ST_NAMES = {np.dtype(v): k for k, v in _ST_DTYPES.items()}


def st_dumps(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> bytes:
    """The safetensors bytes: an 8-byte little-endian header length, a JSON
    header padded with spaces to 8 bytes, then the tensors, widest dtype
    first (so each is aligned), by name."""
    if st_numpy is not None:
        return st_numpy.save({n: np.ascontiguousarray(a) for n, a in tensors.items()}, metadata=dict(metadata))
    header: dict[str, Any] = {"__metadata__": dict(metadata)}
    blobs, offset = [], 0
    for name in sorted(tensors, key=lambda n: (-tensors[n].dtype.itemsize, n)):
        a = np.ascontiguousarray(tensors[name])
        if a.dtype not in _ST_NAMES:
            raise NetError(f"tensor '{name}': dtype {a.dtype} has no safetensors name here")
        blob = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _ST_NAMES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + b"".join(blobs)


def st_loads(data: bytes, source: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) of safetensors bytes; NetError naming source if malformed."""
    try:
        n = int.from_bytes(data[:8], "little")
        if len(data) < 8 or n > len(data) - 8:
            raise ValueError("the header length runs past the end of the file")
        header = json.loads(data[8:8 + n])
        metadata = header.pop("__metadata__", None) or {}
        if st_numpy is not None:
            return dict(st_numpy.load(data)), metadata
        body = memoryview(data)[8 + n:]
        tensors = {}
        for name, info in header.items():
            if info["dtype"] not in _ST_DTYPES:
                raise ValueError(f"tensor '{name}': dtype {info['dtype']} is not read here ({', '.join(_ST_DTYPES)})")
            dtype = np.dtype(_ST_DTYPES[info["dtype"]])
            start, end = info["data_offsets"]
            count = int(np.prod(info["shape"], dtype=np.int64))
            if not 0 <= start <= end <= len(body) or end - start != count * dtype.itemsize:
                raise ValueError(f"tensor '{name}': data_offsets {[start, end]} do not fit")
            tensors[name] = np.frombuffer(body[start:end], dtype).reshape(info["shape"]).astype(dtype.newbyteorder("="))
        return tensors, metadata
    except Exception as e:  # the package's SafetensorError, bad JSON, a missing key, an unknown dtype
        raise NetError(f"{source}: not a readable safetensors file ({type(e).__name__}: {e})") from None


def read_safetensors(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise NetError(f"cannot read {path}: {e.strerror}") from None
    return st_loads(data, str(path))


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """path holds data in full or is untouched (btcresults.write_atomic)."""
    try:
        br.write_atomic(path, data)
    except OSError as e:
        raise NetError(f"cannot write {path}: {e.strerror or e}") from None


def write_safetensors(path: str | Path, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> None:
    write_bytes_atomic(path, st_dumps(tensors, metadata))


# ---------------------------------------------------------------- compare

def _describe(a: np.ndarray, b: np.ndarray) -> str | None:
    """None if a and b are equal (ints exactly, floats bit for bit), else why not."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return f"{a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}"
    if a.dtype.kind == "f":
        bits = np.dtype(f"u{a.dtype.itemsize}")
        differ = a.view(bits) != b.view(bits)
    else:
        differ = a != b
    if not differ.any():
        return None
    first = tuple(int(i) for i in np.argwhere(differ)[0])
    return f"{int(differ.sum())} of {a.size} differ, first at {list(first)}: {a[first].item()!r} vs {b[first].item()!r}"


def compare(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> tuple[list[str], bool]:
    """(one line per layer, True if every common tensor is equal). A layer is
    the name before the first '.'; `logits` and `input` stand alone."""
    common = sorted(set(a) & set(b))
    groups: dict[str, list[str]] = {}
    for name in common:
        groups.setdefault(name.split(".", 1)[0], []).append(name)
    lines, same = [], bool(common)
    for group, names in groups.items():
        short = {n: n[len(group) + 1:] or n for n in names}  # b1a.bn.bias -> bn.bias
        diffs = [(n, d) for n in names if (d := _describe(a[n], b[n])) is not None]
        same &= not diffs
        equal = [short[n] for n in names if n not in dict(diffs)]
        if diffs:
            lines.append(f"DIFF  {group}: " + "; ".join(f"{short[n]}: {d}" for n, d in diffs)
                         + (f" (equal: {', '.join(equal)})" if equal else ""))
        else:
            lines.append(f"same  {group}: {', '.join(equal)} ({sum(a[n].size for n in names)} values)")
    for side, only in (("first", sorted(set(a) - set(b))), ("second", sorted(set(b) - set(a)))):
        if only:
            lines.append(f"only in the {side}: {', '.join(only)}")
    if not common:
        lines.append("no tensor in common")
    return lines, same


# ---------------------------------------------------------------- the CLI

def _cmd_weights(args: argparse.Namespace) -> int:
    model = parse_model(args.model)
    weights = random_weights(model, args.seed)
    if args.weight_dtype == "i8":  # +-1 as int8: a quarter of the bytes, for small fixtures
        weights.update({f"{l.name}.weight": weights[f"{l.name}.weight"].astype(np.int8) for l in model.layers
                        if l.op not in HALF_OPS})  # real weights stay float
    write_safetensors(args.out, weights,
                      weights_metadata(model, f"analysis.net_torch random_weights(seed={args.seed})"))
    print(f"wrote {args.out}")
    return 0


def _cmd_images(args: argparse.Namespace) -> int:
    model = parse_model(args.model)
    batch = args.batch or model.batch
    x = np.random.default_rng(args.seed).standard_normal((batch, model.input.c, model.input.h, model.input.w),
                                                         dtype=np.float32)
    npy = io.BytesIO()  # the .npy bytes, then one atomic write
    np.save(npy, x)
    write_bytes_atomic(args.out, npy.getvalue())
    print(f"wrote {args.out} ({batch} images, float32 NCHW)")
    return 0


def _cmd_forward(args: argparse.Namespace) -> int:
    if torch is None:
        raise NetError(TORCH_MISSING)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise NetError("--device cuda: torch sees no CUDA device")
    model = parse_model(args.model)
    weights, metadata = read_safetensors(args.weights)
    check_weights(model, weights, metadata, str(args.weights))
    try:
        images = np.load(args.input, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise NetError(f"cannot read {args.input}: {getattr(e, 'strerror', None) or e}") from None
    if images.dtype != np.float32:
        raise NetError(f"{args.input}: {images.dtype} images, the forward reads float32 NCHW")
    net = TorchBNN(model, weights, args.device)
    with torch.no_grad():
        outputs = net(images)
    tensors = forward_tensors(model, outputs)
    tensors.update({n: weights[n] for n in weight_shapes(model)})
    tensors["input"] = images
    write_safetensors(args.out, tensors, {
        "btcbench_model": model.name, "format": FORWARD_FORMAT, "device": args.device,
        "arithmetic": str(net.dtype).replace("torch.", ""), "torch": torch.__version__,
        "weights": metadata.get("source", str(args.weights)), "batch": str(images.shape[0]),
        "cudnn_inexact": ",".join(net.native_layers)})
    print(f"wrote {args.out} ({images.shape[0]} images, {len(tensors)} tensors, "
          f"{os.path.getsize(args.out)} bytes)")
    if net.native_layers:
        print(f"note: cuDNN was not integer-exact on {', '.join(net.native_layers)}; "
              "those layers ran PyTorch's im2col + GEMM instead")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    a, _ = read_safetensors(args.a)
    b, _ = read_safetensors(args.b)
    lines, same = compare(a, b)
    print("\n".join(lines))
    print(f"{args.a} and {args.b}: {'equal' if same else 'DIFFERENT'}")
    return 0 if same else 1


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m analysis.net_torch", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("weights", help="random weights in the docs/weights.md naming")
    p.add_argument("--model", required=True, help="a name from models/ or a model file")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--weight-dtype", choices=("f32", "i8"), default="f32",
                   help="dtype of the +-1 NAME.weight (bn.* and the real conv/fc weights are always f32)")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(run=_cmd_weights)
    p = sub.add_parser("images", help="a batch of float32 NCHW normal(0, 1) images (.npy)")
    p.add_argument("--model", required=True)
    p.add_argument("--batch", type=int, default=0, help="images (default: the model's batch)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(run=_cmd_images)
    p = sub.add_parser("forward", help="the torch forward: per-layer y, act and the logits (needs torch)")
    p.add_argument("--model", required=True)
    p.add_argument("--weights", type=Path, required=True)
    p.add_argument("--input", type=Path, required=True, help="float32 NCHW images (.npy)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.set_defaults(run=_cmd_forward)
    p = sub.add_parser("compare", help="every common tensor equal (exit 1 if not)")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.set_defaults(run=_cmd_compare)
    args = ap.parse_args(argv)
    if getattr(args, "seed", 0) < 0 or getattr(args, "batch", 0) < 0:
        ap.error("--seed and --batch must not be negative")
    try:
        return args.run(args)
    except NetError as e:
        print(f"analysis.net_torch: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
