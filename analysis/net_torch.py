"""A forward of a model file (models/<name>.model) in PyTorch, written from the
value semantics of net/model.h and docs/models.md (every fp16 rounding step
of "Half-precision layers" included), for checking the C++ reference and the
GPU runner bit for bit:

    python3 -m analysis.net_torch weights --model M --seed S --out W.safetensors
    python3 -m analysis.net_torch images  --model M [--batch N] --seed S --out X.npy
    python3 -m analysis.net_torch forward --model M --weights W --input X.npy --out L.safetensors [OPTIONS]
    python3 -m analysis.net_torch check   --model M --weights W --input X.npy --reference REF [--out L] [OPTIONS]
    python3 -m analysis.net_torch compare A.safetensors B.safetensors

    OPTIONS: --device cpu|cuda|numpy  --real reordered|ordered

M is a name from models/ or a path. Weights follow the safetensors naming of
docs/weights.md (NAME.weight as PyTorch's Conv2d/Linear, NAME.bn.*, an fc's
NAME.bias).

A forward file (format btcbench.forward.v2) holds per layer, NHWC:
NAME.y (int32; [N, out] for a bfc; a bconv with out=half: its z), NAME.act
(+-1 int8, after any max-pool; a half layer's: v >= 0 of its values),
NAME.half (conv and bconv out=half: the fp16 values as float32, after any
pool), the head's `logits` (fp32 [N, classes]; an fc has no NAME.y), and
copies of the weights and of the image batch (`input`): one file that is a
test fixture. v2 added NAME.half and the fc head; a v1 file (binary models
only) has the same tensors as v2 for its model, and is read alike.

Integer layers are exact in any summation order. A conv or fc sums fp32
products: --real reordered (the default) leaves that to torch's conv2d /
linear (or numpy's GEMM), which sums in its own order, and every other step
(the fp16 roundings, the folded batch norm's fmaf, the shortcut, the pools)
is elementwise fp32 as docs/models.md fixes it; --real ordered sums in the
reference's order (for r, s, c), so every value is the reference's bit for
bit. --device numpy runs the same forward without torch (slower).

check runs the forward with teacher forcing, as net/check.cpp does: each
layer reads the reference's tensors of its inputs (bits, fp16 values,
shortcut, residual) rather than its own forward's, so a last-bit difference
of a real layer is judged in the layer that makes it. REF is a forward file,
or an in situ capture directory (docs/insitu.md) of
`btcbench run M --weights W --input X.npy --insitu DIR --insitu-images 0,...,N-1`
with --cpu (the C++ reference, net/reference.h) or without (the GPU runner).
Integer, bit and in-order fp16 layers must be equal; a reordered conv or fc
must be within the bound of docs/models.md "Tolerance of reordered real
layers" (computed here in float64 from the inputs it read), its bits equal
wherever the bound cannot reach 0 and at least 90% of its values bit-equal.

forward and check need torch unless --device numpy (torch is not a
dependency of the package: the other commands and the tests run without it).
Exit: 0 done (compare: all common tensors equal; check: every layer passes),
1 compare or check found a difference, 2 error (one line).
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
try:  # optional: reading an in situ capture needs it (it imports matplotlib for its figures)
    from analysis import insitu_view
    INSITU_MISSING = ""
except ImportError as e:
    insitu_view = None
    INSITU_MISSING = str(e)
try:  # optional: the package when present, else the private reader/writer below
    import safetensors.numpy as st_numpy
except ImportError:
    st_numpy = None

REPO = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO / "models"
WEIGHTS_FORMAT = "btcbench.weights.v1"
FORWARD_FORMAT = "btcbench.forward.v2"
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
    scale of 1 (with pool=max3 its mean shifted by 1.5, so the max is about
    half the time >= 0)."""
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
        mean = rng.uniform(-0.5, 0.5, l.out)
        if l.maxpool3:  # a 3x3 max of N(0, 1) values is >= 0 nearly always: centre the max instead (as the C++)
            mean += 1.5 * np.sign(gamma)
        out[f"{l.name}.bn.running_mean"] = (mean * std_y).astype(np.float32)
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


def quantize_input(x: np.ndarray, input_scale: float) -> np.ndarray:
    """The stem's int8 image: clamp(rint(x / scale), -127, 127), x / scale an
    fp32 division, rint ties to even, a NaN pixel 0 (net::quantize_input)."""
    q = np.rint(np.asarray(x, np.float32) / np.float32(input_scale))
    return np.clip(np.where(np.isnan(q), 0, q), -127, 127).astype(np.int8)


def max2(t: Any) -> Any:
    """2x2 stride-2 max over the last two axes (odd sizes drop the last row
    or column, as the C++ h / 2); numpy or torch, any dtype."""
    n, c, h, w = t.shape
    t = t[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2)
    return t.amax((3, 5)) if torch is not None and isinstance(t, torch.Tensor) else t.max((3, 5))


def max2_nhwc(a: np.ndarray) -> np.ndarray:
    """max2 of an NHWC array (pool=max2 of bits, add=R:pool2 of a residual)."""
    return max2(a.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)


# ---------------------------------------------------------------- fp16 steps (docs/models.md "Half-precision layers")
#
# Every function here is elementwise IEEE arithmetic on numpy float32 (or an
# exact emulation of it), so it gives the C++ reference's values bit for bit
# whatever computed the products; only the sums of a conv or fc are left to
# torch, and those are judged within the documented bound.

_U32 = np.uint32


def float_to_half_bits(x: np.ndarray) -> np.ndarray:
    """net::float_to_half_bits elementwise: fp16 round to nearest even of fp32
    x (subnormals kept, |x| >= 65520 to +-inf, NaN a quiet NaN with the top
    payload bits), as uint16 bit patterns."""
    x = np.asarray(x, np.float32)
    f = np.atleast_1d(np.ascontiguousarray(x)).view(_U32)  # arrays: uint32 arithmetic wraps silently
    sign = (f >> _U32(16)) & _U32(0x8000)
    a = f & _U32(0x7FFFFFFF)
    # a normal half: round the 23-bit mantissa to 10 bits (add just under half
    # an ulp, plus one where the kept part is odd), rebias 127 -> 15
    normal = (a + _U32(0xFFF) + ((a >> _U32(13)) & _U32(1)) - _U32(0x38000000)) >> _U32(13)
    # a subnormal half: |x| / 2^-24 rounded to an integer, ties to even
    shift = np.clip(_U32(126) - np.minimum(a >> _U32(23), _U32(126)), 14, 24).astype(_U32)
    mant = (a & _U32(0x7FFFFF)) | _U32(0x800000)
    q = mant >> shift
    rem, halfway = mant & ((_U32(1) << shift) - _U32(1)), _U32(1) << (shift - _U32(1))
    sub = q + ((rem > halfway) | ((rem == halfway) & (q & _U32(1) == 1))).astype(_U32)
    bits = np.select([a > 0x7F800000, a >= 0x477FF000, a >= 0x38800000, a <= 0x33000000],
                     [_U32(0x7E00) | ((a >> _U32(13)) & _U32(0x3FF)), _U32(0x7C00), normal, _U32(0)], sub)
    return (sign | bits).astype(np.uint16).reshape(x.shape)


def round_half(x: Any) -> np.ndarray:
    """half(x) as float32 (net::round_half): the value every fp16 step stores."""
    return float_to_half_bits(np.asarray(x, np.float32)).view(np.float16).astype(np.float32)


def fmaf(a: Any, b: Any, c: Any) -> np.ndarray:
    """fmaf(a, b, c) of fp32 values, exactly (numpy has no fused multiply-add):
    a * b is exact in float64 (24 + 24 bits), then a + b in float64 rounded to
    odd (TwoSum's error says which way the exact sum lies) and rounded once
    more to fp32 is the correctly rounded result (53 >= 24 + 2 bits); a plain
    float64 sum would round twice and miss some ties."""
    with np.errstate(over="ignore", invalid="ignore"):
        p = np.asarray(a, np.float32).astype(np.float64) * np.asarray(b, np.float32).astype(np.float64)
        c64 = np.asarray(c, np.float32).astype(np.float64)
        s = p + c64
        bb = s - p
        err = (p - (s - bb)) + (c64 - bb)
        inexact = np.isfinite(s) & (err != 0) & ((np.atleast_1d(s).view(np.int64) & 1) == 0).reshape(np.shape(s))
        s = np.where(inexact, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)
        return s.astype(np.float32)


def fold_affine(gamma: Any, beta: Any, mean: Any, var: Any, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """net::fold_affine: scale = gamma / sqrtf(var + eps), shift = beta - mean *
    scale, each an fp32 op rounded on its own (numpy ufuncs never contract)."""
    f32 = np.float32
    scale = np.asarray(gamma, f32) / np.sqrt(np.asarray(var, f32) + f32(eps))
    return scale, np.asarray(beta, f32) - np.asarray(mean, f32) * scale


def half_affine(acc: np.ndarray, scale: np.ndarray, shift: np.ndarray, shortcut: np.ndarray | None) -> np.ndarray:
    """half(fmaf(scale, acc, shift) [+ s]): the epilogue of a conv (acc) and of
    a bconv out=half (float(z)); without a shortcut there is no + 0 (it would
    turn a -0 into +0)."""
    bn = fmaf(scale, np.asarray(acc, np.float32), shift)
    return round_half(bn if shortcut is None else bn + np.asarray(shortcut, np.float32))


def relu_half(v: np.ndarray) -> np.ndarray:
    """act=relu: v > 0 ? v : +0 (a -0 or a NaN becomes +0)."""
    return np.where(v > 0, v, np.float32(0)).astype(np.float32)


def signs(v: np.ndarray) -> np.ndarray:
    """A half layer's bits: +1 iff v >= 0 (so -0 is +1, NaN -1)."""
    return np.where(v >= 0, 1, -1).astype(np.int8)


def image_half(images: np.ndarray) -> np.ndarray:
    """The image as a conv reads it: half(pixel), NCHW -> NHWC."""
    return np.ascontiguousarray(round_half(images).transpose(0, 2, 3, 1))


def avg2(x: np.ndarray) -> np.ndarray:
    """prepool=avg2 of NHWC fp16 values: half((((a + b) + c) + d) * 0.25f)."""
    n, h, w, c = x.shape
    a, b = x[:, 0:h - 1:2, 0:w - 1:2], x[:, 0:h - 1:2, 1::2]
    cc, d = x[:, 1::2, 0:w - 1:2], x[:, 1::2, 1::2]
    return round_half((((a + b) + cc) + d) * np.float32(0.25))


def global_avg(x: np.ndarray) -> np.ndarray:
    """An fc's prepool=avg of NHWC fp16 values, [N, C]: per channel sum += v
    over h, then w, in fp32, then half(sum / float(H W)) (the reference's order:
    a reordered sum would change x itself, which no bound covers)."""
    n, h, w, c = x.shape
    total = np.zeros((n, c), np.float32)
    for i in range(h):
        for j in range(w):
            total = total + x[:, i, j, :]
    return round_half(total / np.float32(h * w))


def maxpool3(y: np.ndarray) -> np.ndarray:
    """pool=max3 of NHWC fp16 values: 3x3, stride 2, pad 1, the max over the
    in-image taps in row-major order with +0 above -0 (CUDA's __hmax; a NaN
    is kept where it came first, as net's max_half)."""
    n, h, w, c = y.shape
    p, q = (h - 1) // 2 + 1, (w - 1) // 2 + 1
    padded = np.zeros((n, h + 3, w + 3, c), y.dtype)
    padded[:, 1:h + 1, 1:w + 1] = y
    inside = np.zeros((1, h + 3, w + 3, 1), bool)
    inside[:, 1:h + 1, 1:w + 1] = True
    v = np.zeros((n, p, q, c), y.dtype)
    have = np.zeros((1, p, q, 1), bool)
    for dh in range(3):
        for dw in range(3):
            x = padded[:, dh:dh + 2 * p - 1:2, dw:dw + 2 * q - 1:2]
            valid = inside[:, dh:dh + 2 * p - 1:2, dw:dw + 2 * q - 1:2]
            larger = (x > v) | ((x == v) & np.signbit(v) & ~np.signbit(x))
            v = np.where(valid & (~have | larger), x, v)
            have = have | valid
    return v


# ---------------------------------------------------------------- the bound of a reordered real layer

def ulp_half(x: Any) -> np.ndarray:
    """One fp16 ulp at |x| (2^-24 below the normal range, inf from 65520 up), float64."""
    x = np.abs(np.asarray(x, np.float64))
    _, e = np.frexp(x)  # x = m 2^e, 0.5 <= m < 1: ilogb(x) = e - 1
    with np.errstate(over="ignore"):
        return np.where(x < 2.0 ** -14, 2.0 ** -24, np.where(x >= 65520.0, np.inf, np.ldexp(1.0, e - 11)))


def conv_bound(magnitude: Any, terms: int, scale: Any, acc: Any, shift: Any, shortcut: Any = 0.0) -> np.ndarray:
    """How far a conv's fp16 value may be from the reference's when its fp32
    sum runs in another order (docs/models.md "Tolerance of reordered real
    layers", net/reference.cpp conv): magnitude = A, the sum of |x w| over the
    terms; d_acc = 2 K 2^-22 A; d_pre = |scale| d_acc + 4 2^-24 (|scale acc| +
    |shift| + |s|); bound = d_pre + ulp_half(|scale acc + shift + s| + d_pre).
    All float64; acc may be any accurate value of the sum (the reference's fp32
    one, or an exact one: the bound moves by a few 2^-24 of itself)."""
    a, acc, scale, shift, s = (np.asarray(v, np.float64) for v in (magnitude, acc, scale, shift, shortcut))
    d_acc = 2.0 * terms * 2.0 ** -22 * a
    d_pre = np.abs(scale) * d_acc + 4 * 2.0 ** -24 * (np.abs(scale * acc) + np.abs(shift) + np.abs(s))
    return d_pre + ulp_half(np.abs(scale * acc + shift + s) + d_pre)


def fc_bound(magnitude: Any, terms: int, acc: Any, bias: Any) -> np.ndarray:
    """The same for an fc's logit half(acc + bias) (net/reference.cpp fc): the
    sum's d_acc, one fp32 rounding each of the sum and the bias add, one fp16 ulp."""
    a, acc, bias = (np.asarray(v, np.float64) for v in (magnitude, acc, bias))
    d_pre = 2.0 * terms * 2.0 ** -22 * a + 2 * 2.0 ** -24 * (np.abs(acc) + np.abs(bias))
    return d_pre + ulp_half(np.abs(acc + bias) + d_pre)


def im2col(x: np.ndarray, kernel: int, stride: int, pad: int, pad_value: float = 0) -> np.ndarray:
    """NHWC x as [N, P, Q, kernel^2 C] rows in the weights' (r, s, c) order;
    out-of-image taps are pad_value (0 adds nothing to a sum)."""
    n, h, w, c = x.shape
    p, q = (h + 2 * pad - kernel) // stride + 1, (w + 2 * pad - kernel) // stride + 1
    xp = np.full((n, h + 2 * pad, w + 2 * pad, c), pad_value, x.dtype)
    xp[:, pad:pad + h, pad:pad + w] = x
    cols = np.empty((n, p, q, kernel, kernel, c), x.dtype)
    for r in range(kernel):
        for s in range(kernel):
            cols[:, :, :, r, s] = xp[:, r:r + stride * (p - 1) + 1:stride, s:s + stride * (q - 1) + 1:stride]
    return cols.reshape(n, p, q, kernel * kernel * c)


def conv_terms(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """(the sum of x w, the sum of |x w|) of a conv in float64, NHWC; w OIHW.
    The products of fp16 values are exact in float64, so both are the exact
    sums to float64's rounding; an image at a time to bound the memory."""
    o, _, k, _ = w.shape
    wm = np.asarray(w, np.float64).transpose(0, 2, 3, 1).reshape(o, -1).T
    acc, mag = [], []
    for image in np.asarray(x, np.float64):
        cols = im2col(image[None], k, stride, pad)
        acc.append(cols @ wm)
        mag.append(np.abs(cols) @ np.abs(wm))
    return np.concatenate(acc), np.concatenate(mag)


# ---------------------------------------------------------------- the products: numpy or torch

def _ordered_conv(xp: Any, w_krsc: Any, stride: int, p: int, q: int, acc: Any) -> Any:
    """The reference's conv sum on padded NHWC x: for r, for s, for c:
    acc += x w, each step one fp32 add of an exact product (a product of fp16
    values fits fp32, so this is fmaf(x, w, acc)); a zero-padding tap adds
    +-0, which leaves acc as it was. numpy arrays or torch tensors alike."""
    _, k, _, c = w_krsc.shape
    for r in range(k):
        for s in range(k):
            tap = xp[:, r:r + stride * (p - 1) + 1:stride, s:s + stride * (q - 1) + 1:stride]
            for ch in range(c):
                acc = acc + tap[..., ch:ch + 1] * w_krsc[:, r, s, ch]
    return acc


def _ordered_linear(x: Any, w: Any, acc: Any) -> Any:
    """The reference's fc sum: for i ascending acc += x_i w_i (fp32, exact products)."""
    for i in range(x.shape[1]):
        acc = acc + x[:, i:i + 1] * w[:, i]
    return acc


class NumpyOps:
    """The products on numpy: integer layers as float64 GEMMs (every partial
    sum an integer below 2^53: exact), real layers as fp32 GEMMs (BLAS's own
    order: the bound judges them) or in the reference's order."""
    device = "numpy"
    arithmetic = "float64 (integer layers), float32 (real layers)"
    native_layers: list[str] = []

    def int_conv(self, x: np.ndarray, w: np.ndarray, stride: int, pad: int, pad_value: int, name: str) -> np.ndarray:
        o, _, k, _ = w.shape
        wm = w.transpose(0, 2, 3, 1).reshape(o, -1).T.astype(np.float64)
        z = [im2col(image[None].astype(np.float64), k, stride, pad, pad_value) @ wm for image in x]
        return np.rint(np.concatenate(z)).astype(np.int64)

    def int_linear(self, x: np.ndarray, w: np.ndarray, name: str) -> np.ndarray:
        return np.rint(x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64)

    def real_conv(self, x: np.ndarray, w: np.ndarray, stride: int, pad: int, ordered: bool, name: str) -> np.ndarray:
        o, _, k, _ = w.shape
        if ordered:
            n, h, wd, c = x.shape
            p, q = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
            xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
            return _ordered_conv(xp, w.transpose(0, 2, 3, 1), stride, p, q, np.zeros((n, p, q, o), np.float32))
        wm = np.ascontiguousarray(w.transpose(0, 2, 3, 1).reshape(o, -1).T, np.float32)
        return np.concatenate([im2col(image[None], k, stride, pad) @ wm for image in x]).astype(np.float32)

    def real_linear(self, x: np.ndarray, w: np.ndarray, ordered: bool, name: str) -> np.ndarray:
        if ordered:
            return _ordered_linear(x, w, np.zeros((x.shape[0], w.shape[0]), np.float32))
        return (x @ w.T).astype(np.float32)


def _no_tf32() -> None:
    """IEEE fp32 for cuDNN convs and cuBLAS GEMMs. TF32 would round the
    operands to 11 significant bits (+-1, the int8 image and fp16 values
    survive that) but exactness should not lean on it, nor should the bound
    of the real layers. torch >= 2.9 has fp32_precision and warns on the old
    allow_tf32 flags (and refuses a mix of the two): the new API where it is."""
    cudnn = torch.backends.cudnn
    if hasattr(getattr(cudnn, "conv", None), "fp32_precision"):
        torch.backends.cuda.matmul.fp32_precision = "ieee"
        cudnn.conv.fp32_precision = "ieee"
        if hasattr(getattr(cudnn, "rnn", None), "fp32_precision"):
            cudnn.rnn.fp32_precision = "ieee"  # conv and rnn alike: a legacy read then sees one setting
    else:
        cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False


class TorchOps:
    """The products on torch: integer layers with +-1 float tensors, float64
    on the CPU, float32 on CUDA with TF32 off (every sum an integer below
    2^24: exact either way); real layers in fp32 (conv2d / linear in the
    library's order, judged by the bound) or in the reference's order."""

    def __init__(self, device: str = "cpu"):
        if torch is None:
            raise NetError(TORCH_MISSING)
        if device == "cuda" and not torch.cuda.is_available():
            raise NetError("--device cuda: torch sees no CUDA device")
        self.dev = torch.device(device)
        self.device = self.dev.type
        self.dtype = torch.float64 if self.dev.type == "cpu" else torch.float32
        self.arithmetic = f"{str(self.dtype).replace('torch.', '')} (integer layers), float32 (real layers)"
        if self.dev.type == "cuda":
            _no_tf32()
        self.native_layers: list[str] = []  # CUDA: layers cuDNN did not compute exactly
        self._weights: dict[tuple[str, str], torch.Tensor] = {}

    def _put(self, a: np.ndarray, dtype: Any) -> "torch.Tensor":
        return torch.from_numpy(np.ascontiguousarray(a)).to(self.dev, dtype)

    def _w(self, name: str, kind: str, a: np.ndarray, dtype: Any) -> "torch.Tensor":
        """A layer's weights on the device, once."""
        key = (name, kind)
        if key not in self._weights:
            self._weights[key] = self._put(a, dtype)
        return self._weights[key]

    def _conv(self, x: "torch.Tensor", w: "torch.Tensor", stride: int, pad: int, name: str) -> "torch.Tensor":
        """conv2d, integer-exact: cuDNN may pick an algorithm that is not (FFT,
        a large-tile Winograd: a fraction shows it); that layer then runs
        PyTorch's own im2col + GEMM, which is (self.native_layers says where)."""
        z = F.conv2d(x, w, stride=stride, padding=pad)
        if self.dev.type == "cuda" and not torch.equal(z, torch.round(z)):
            enabled = torch.backends.cudnn.enabled  # not cudnn.flags(): it reads the legacy TF32 flag
            torch.backends.cudnn.enabled = False
            try:
                z = F.conv2d(x, w, stride=stride, padding=pad)
            finally:
                torch.backends.cudnn.enabled = enabled
            self.native_layers.append(name)
        return z

    def _exact(self, z: "torch.Tensor", name: str) -> np.ndarray:
        """z as int64 numpy; refuse a result with a fraction rather than round it."""
        r = torch.round(z)
        if not torch.equal(r, z):
            raise NetError(f"layer {name}: the {self.dev.type} result is not integer-exact "
                           f"(max fraction {(z - r).abs().max().item():.3g}); run with --device cpu")
        return r.to(torch.int64).cpu().numpy()

    def int_conv(self, x: np.ndarray, w: np.ndarray, stride: int, pad: int, pad_value: int, name: str) -> np.ndarray:
        xt = self._put(x.transpose(0, 3, 1, 2).astype(np.float64), self.dtype)
        if pad_value:  # larq-style one padding: a real +-1 input at every padded tap
            xt, pad = F.pad(xt, (pad,) * 4, value=float(pad_value)), 0
        z = self._conv(xt, self._w(name, "int", w, self.dtype), stride, pad, name)
        return self._exact(z, name).transpose(0, 2, 3, 1)

    def int_linear(self, x: np.ndarray, w: np.ndarray, name: str) -> np.ndarray:
        return self._exact(F.linear(self._put(x.astype(np.float64), self.dtype),
                                    self._w(name, "int", w, self.dtype)), name)

    def real_conv(self, x: np.ndarray, w: np.ndarray, stride: int, pad: int, ordered: bool, name: str) -> np.ndarray:
        if ordered:
            n, h, wd, _ = x.shape
            o, _, k, _ = w.shape
            p, q = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
            xp = F.pad(self._put(x, torch.float32), (0, 0, pad, pad, pad, pad))
            acc = torch.zeros((n, p, q, o), dtype=torch.float32, device=self.dev)
            w_krsc = self._w(name, "krsc", w.transpose(0, 2, 3, 1), torch.float32)
            return _ordered_conv(xp, w_krsc, stride, p, q, acc).cpu().numpy()
        acc = F.conv2d(self._put(x.transpose(0, 3, 1, 2), torch.float32), self._w(name, "real", w, torch.float32),
                       stride=stride, padding=pad)  # cuDNN's algorithm, any order: the bound judges it
        return acc.permute(0, 2, 3, 1).cpu().numpy()

    def real_linear(self, x: np.ndarray, w: np.ndarray, ordered: bool, name: str) -> np.ndarray:
        xt, wt = self._put(x, torch.float32), self._w(name, "real", w, torch.float32)
        if ordered:
            return _ordered_linear(xt, wt, torch.zeros((x.shape[0], w.shape[0]), dtype=torch.float32,
                                                       device=self.dev)).cpu().numpy()
        return F.linear(xt, wt).cpu().numpy()


# ---------------------------------------------------------------- the forward

REAL_MODES = ("reordered", "ordered")


class Forward:
    """model's forward (net/model.h, docs/models.md) on NHWC numpy tensors,
    the products on ops (NumpyOps or TorchOps), every other step elementwise
    fp32 / fp16 numpy as the C++ writes it. real: "reordered" sums a conv's or
    fc's products in ops' own order (torch's conv2d, a BLAS GEMM: judged by the
    bound), "ordered" in the reference's (bit-equal to it).

    forward(images, teacher) with teacher, a forward's tensors by their file
    names (NAME.act, NAME.half, NAME.y), reads each layer's inputs (its input
    layer's bits or fp16 values, its shortcut, its residual) from there
    instead of from this forward: teacher forcing, as net/check.cpp does, so a
    last-bit difference in a real layer is judged where it is made."""

    def __init__(self, model: Model, weights: Mapping[str, np.ndarray], ops: Any, real: str = "reordered"):
        if real not in REAL_MODES:
            raise NetError(f"real must be one of {', '.join(REAL_MODES)}, not '{real}'")
        check_weights(model, weights, {}, "weights")
        self.model, self.ops, self.real = model, ops, real
        self.w: dict[str, np.ndarray] = {}       # +-1 float64, or fp16 values as float32 (an fc's in (h, w, c) order)
        self.bias: dict[str, np.ndarray] = {}    # fc
        self.stats: dict[str, list[np.ndarray]] = {}   # bit layers: gamma, beta, mean, var
        self.affine: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # conv, bconv out=half: scale, shift
        for l in model.layers:
            raw = np.asarray(weights[f"{l.name}.weight"], np.float32)
            if l.op in HALF_OPS:  # the runner rounds real weights to fp16 (docs/weights.md)
                self.w[l.name] = round_half(raw)
            else:
                self.w[l.name] = np.where(raw >= 0, 1.0, -1.0)
            if l.op == "fc":
                if l.prepool != "avg":  # PyTorch's (c, h, w) flatten -> the (h, w, c) order the fc reads
                    s = l.pooled_in
                    self.w[l.name] = np.ascontiguousarray(
                        self.w[l.name].reshape(l.out, s.c, s.h, s.w).transpose(0, 2, 3, 1).reshape(l.out, -1))
                self.bias[l.name] = round_half(weights[f"{l.name}.bias"])
                continue
            stats = [np.asarray(weights[f"{l.name}.bn.{k}"], np.float32) for k in BN_KEYS]
            if l.half_out:
                self.affine[l.name] = fold_affine(*stats, model.bn_eps)
            else:
                self.stats[l.name] = stats
        # per real layer, what it read (after any prepool) and its shortcut: the bound's terms
        self.real_inputs: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        self.untaught: list[str] = []  # teacher tensors that were missing (this forward's own used)

    @property
    def native_layers(self) -> list[str]:
        return self.ops.native_layers

    def __call__(self, images: np.ndarray, teacher: Mapping[str, np.ndarray] | None = None
                 ) -> dict[str, dict[str, np.ndarray]]:
        return self.forward(images, teacher)

    def forward(self, images: np.ndarray, teacher: Mapping[str, np.ndarray] | None = None
                ) -> dict[str, dict[str, np.ndarray]]:
        """Per layer, NHWC ([N, out] for a bfc): 'y' int32 (stem, bconv, bfc;
        a bconv out=half: z), 'act' +-1 int8 after any pool (a half layer's:
        v >= 0), 'half' fp16 values as float32 after any pool (conv, bconv
        out=half); the head 'logits' fp32 [N, classes] and no 'act'."""
        m, ops = self.model, self.ops
        images = np.asarray(images, np.float32)
        want = (m.input.c, m.input.h, m.input.w)
        if images.ndim != 4 or images.shape[1:] != want:
            raise NetError(f"the input is {list(images.shape)}, the model reads [N, {', '.join(map(str, want))}]")
        n = len(images)
        out: dict[str, dict[str, np.ndarray]] = {}
        self.real_inputs, self.untaught = {}, []

        def read(layer: str, key: str) -> np.ndarray:
            """Layer's tensor key as the next layer reads it: the teacher's, else ours."""
            mine = out[layer][key]
            if teacher is None:
                return mine
            name = f"{layer}.{key}"
            if name not in teacher:
                self.untaught.append(name)
                return mine
            t = np.asarray(teacher[name])
            if t.shape != mine.shape:
                raise NetError(f"the reference's {name} is {list(t.shape)}, the model makes {list(mine.shape)}")
            return t.astype(mine.dtype)

        for l in m.layers:
            w = self.w[l.name]
            if l.op == "conv":
                x = image_half(images) if l.input == "input" else read(l.input, "half")
                x = avg2(x) if l.prepool == "avg2" else x
                s = read(l.shortcut, "half") if l.shortcut else None
                self.real_inputs[l.name] = (x, s)
                acc = ops.real_conv(x, w, l.stride, l.pad, self.real == "ordered", l.name)
                v = half_affine(acc, *self.affine[l.name], s)
                v = relu_half(v) if l.relu else v  # after the shortcut, before the pool
                v = maxpool3(v) if l.maxpool3 else v
                out[l.name] = {"act": signs(v), "half": v}
                continue
            if l.op == "fc":
                h = read(l.input, "half")
                x = global_avg(h) if l.prepool == "avg" else h.reshape(n, -1)  # (h, w, c), as w is
                self.real_inputs[l.name] = (x, None)
                acc = ops.real_linear(x, w, self.real == "ordered", l.name)
                out[l.name] = {"logits": round_half(acc + self.bias[l.name])}
                continue
            if l.op == "stem":
                y = ops.int_conv(quantize_input(images, m.input_scale).transpose(0, 2, 3, 1), w, l.stride, l.pad, 0,
                                 l.name)
            elif l.op == "bconv":
                y = ops.int_conv(read(l.input, "act"), w, l.stride, l.pad, l.pad_value, l.name)
            else:  # bfc: the image binarized, or the bits flattened as PyTorch does (c, h, w): the weights' order
                if l.input == "input":
                    x = np.where(images >= 0, 1, -1).reshape(n, -1)
                else:
                    a = read(l.input, "act")
                    x = (a.transpose(0, 3, 1, 2) if a.ndim == 4 else a).reshape(n, -1)
                y = ops.int_linear(x, w, l.name)
            if l.half_out:  # bconv out=half: the affine on z
                s = read(l.shortcut, "half") if l.shortcut else None
                v = half_affine(y.astype(np.float32), *self.affine[l.name], s)
                out[l.name] = {"y": y.astype(np.int32), "act": signs(v), "half": v}
                continue
            if l.add:
                r = read(m.saver_of(l.add).name, "y").astype(np.int64)
                r = max2_nhwc(r) if l.add_pool2 else r
                y[..., :r.shape[-1]] += r  # channels past the residual's add 0
            bn = batch_norm_f32(y, *self.stats[l.name], m.bn_eps)  # stats broadcast over the channel (last) axis
            if l.float_out:
                out[l.name] = {"y": y.astype(np.int32), "logits": bn}
                continue
            act = np.where(bn >= 0, 1, -1).astype(np.int8)
            out[l.name] = {"y": y.astype(np.int32), "act": max2_nhwc(act) if l.maxpool2 else act}
        return out

    def bound(self, name: str) -> np.ndarray:
        """Per value of real layer name in the last forward, how far a
        reordered sum may take it from the reference (conv_bound / fc_bound
        on what the layer read; a ReLU and the 3x3 max-pool are 1-Lipschitz,
        so a pooled value takes its window's largest bound)."""
        l = self.model.find(name)
        x, s = self.real_inputs[name]
        w = self.w[name].astype(np.float64)
        if l.op == "fc":
            acc, mag = x.astype(np.float64) @ w.T, np.abs(x.astype(np.float64)) @ np.abs(w).T
            return fc_bound(mag, l.dot_bits, acc, self.bias[name])
        acc, mag = conv_terms(x, w, l.stride, l.pad)
        scale, shift = self.affine[name]
        b = conv_bound(mag, l.dot_bits, scale, acc, shift, 0.0 if s is None else s)
        return maxpool3(b) if l.maxpool3 else b


class TorchBNN(Forward):
    """The forward with torch doing the products (the PyTorch module of net/model.h)."""

    def __init__(self, model: Model, weights: Mapping[str, np.ndarray], device: str = "cpu", real: str = "reordered"):
        super().__init__(model, weights, TorchOps(device), real)
        self.dev = self.ops.dev
        self.dtype = self.ops.dtype


def make_forward(model: Model, weights: Mapping[str, np.ndarray], device: str, real: str = "reordered") -> Forward:
    """The forward on --device: cpu or cuda (torch), or numpy (no torch needed)."""
    return Forward(model, weights, NumpyOps(), real) if device == "numpy" else TorchBNN(model, weights, device, real)


def forward_tensors(model: Model, outputs: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """A forward's tensors by their file names: NAME.y, NAME.act, NAME.half, logits."""
    flat: dict[str, np.ndarray] = {}
    for l in model.layers:
        for key, a in outputs[l.name].items():
            flat["logits" if key == "logits" else f"{l.name}.{key}"] = np.ascontiguousarray(a)
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


# ---------------------------------------------------------------- the reference's tensors

FORWARD_FORMATS = ("btcbench.forward.v1", FORWARD_FORMAT)  # v1: no half layers, otherwise the same names


def _insitu() -> Any:
    """analysis.insitu_view, the capture reader, or why it is not importable."""
    if insitu_view is None:
        raise NetError(f"reading a capture needs analysis.insitu_view ({INSITU_MISSING}); "
                       "pip install -r analysis/requirements.txt")
    return insitu_view


def capture_weights(model: Model, weights: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    """Layer name's weights as a capture's weights.vti holds them, [K, R*S, C]
    (an fc or bfc [K, 1, in], `in` in the order the C++ reads its input):
    +-1 int8, or a real layer's fp16 values as float32."""
    l = model.find(name)
    raw = np.asarray(weights[f"{name}.weight"], np.float32)
    w = round_half(raw) if l.op in HALF_OPS else np.where(raw >= 0, 1, -1).astype(np.int8)
    if l.op in ("bfc", "fc"):
        s = l.pooled_in
        if l.input != "input" and l.prepool != "avg":  # a layer's NHWC input: (c, h, w) -> (h, w, c)
            w = w.reshape(l.out, s.c, s.h, s.w).transpose(0, 2, 3, 1)
        return w.reshape(l.out, 1, -1)
    return w.transpose(0, 2, 3, 1).reshape(l.out, l.kernel * l.kernel, -1)


def load_capture(model: Model, path: Path, weights: Mapping[str, np.ndarray] | None = None
                 ) -> tuple[dict[str, np.ndarray], list[int], str]:
    """(tensors by forward-file names, the batch indices they are of, what
    wrote them) from an in situ capture directory (docs/insitu.md) of
    `btcbench run M --insitu DIR --insitu-images 0,1,...` (with --cpu: the
    C++ reference; without: the GPU runner). Its first step is read: a
    layer's `output` becomes NAME.act (bits), NAME.half and NAME.act (a half
    layer: the signs of its values) or `logits`; `pre` becomes NAME.y; the
    image a layer reads becomes `input` (NCHW). Given weights, the capture's
    weights must be theirs (a run without --weights has the C++ random ones)."""
    iv = _insitu()
    try:
        cap = iv.load_capture(path)
        if cap.manifest["model"] != model.name:
            raise NetError(f"{path}: a capture of model '{cap.manifest['model']}', not '{model.name}'")
        if not cap.steps:
            raise NetError(f"{path}: no step was captured")
        step = cap.steps[0][0]
        names = {l.name for l in cap.layers}
        tensors: dict[str, np.ndarray] = {}
        for l in model.layers:
            if l.name not in names:
                continue
            layer = cap.layer(l.name)
            for kind, t in layer.tensors.items():
                if step not in t.steps:
                    continue
                vti = iv.read_vti(cap.dir / t.files[t.steps.index(step)])
                a = np.stack([vti.volume(f"img{b}") for b in cap.images]).transpose(0, 2, 3, 1)  # N H W C
                flat = a.reshape(len(a), -1)
                if kind == "input" and l.input == "input":
                    tensors["input"] = np.ascontiguousarray(a.transpose(0, 3, 1, 2), np.float32)
                elif kind == "pre" and l.op in ("stem", "bconv", "bfc"):
                    tensors[f"{l.name}.y"] = (flat if l.op == "bfc" else a).astype(np.int32)
                elif kind == "output" and l.float_out:
                    tensors["logits"] = flat.astype(np.float32)
                elif kind == "output" and l.half_out:
                    tensors[f"{l.name}.half"] = a.astype(np.float32)
                    tensors[f"{l.name}.act"] = signs(a)
                elif kind == "output":
                    tensors[f"{l.name}.act"] = (flat if l.op == "bfc" else a).astype(np.int8)
            if weights is not None and layer.weights is not None:
                got = iv.read_vti(cap.dir / layer.weights["file"])
                mine = capture_weights(model, weights, l.name)
                theirs = got.volume(next(iter(got.arrays)))
                if theirs.shape != mine.shape or not np.array_equal(theirs, mine):
                    raise NetError(f"{path}: layer {l.name}'s weights are not those of the weights file "
                                   "(was btcbench run given --weights W?)")
    except iv.InsituError as e:
        raise NetError(str(e)) from None
    return tensors, list(cap.images), f"capture {path} ({cap.manifest['command']})"


def load_reference(model: Model, path: str | Path, weights: Mapping[str, np.ndarray] | None = None
                   ) -> tuple[dict[str, np.ndarray], list[int] | None, str]:
    """A reference forward: a capture directory (load_capture) or a forward
    file (this module's format; its image indices: all, None)."""
    path = Path(path)
    if path.is_dir():
        return load_capture(model, path, weights)
    tensors, metadata = read_safetensors(path)
    if metadata.get("format", FORWARD_FORMAT) not in FORWARD_FORMATS:
        raise NetError(f"{path}: format '{metadata['format']}', not a forward file ({', '.join(FORWARD_FORMATS)})")
    named = metadata.get("btcbench_model")
    if named is not None and named != model.name:
        raise NetError(f"{path}: a forward of model '{named}', not '{model.name}'")
    if weights is not None:
        for name in weight_shapes(model):
            if name in tensors and name in weights:
                binary = name.endswith(".weight") and model.find(name.split(".")[0]).op not in HALF_OPS
                a, b = (np.asarray(t, np.float32) for t in (tensors[name], weights[name]))
                if a.shape != b.shape or not np.array_equal(np.where(a >= 0, 1, -1) if binary else a,
                                                            np.where(b >= 0, 1, -1) if binary else b):
                    raise NetError(f"{path}: its {name} is not the weights file's")
    what = f"{metadata.get('format', 'no format')}, device {metadata.get('device', '?')}"
    return tensors, None, f"forward file {path} ({what})"


# ---------------------------------------------------------------- judging a forward against the reference

MIN_BIT_EQUAL_FRACTION = 0.9  # net::kMinBitEqualFraction


@dataclasses.dataclass
class LayerCheck:
    """One layer's verdict (net::LayerCheck)."""
    layer: str
    op: str
    tolerance: bool = False          # a reordered real layer, judged against its bound
    differs: list[str] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)   # tensors the reference lacks
    half_values: int = 0             # fp16 values (or logits) compared, and how many bit-equal
    half_equal: int = 0
    worst_over_bound: float = 0.0    # max |ours - ref| / bound
    compared: int = 0                # tensors compared

    @property
    def ok(self) -> bool:
        return not self.differs

    def describe(self) -> str:
        """"equal", "within bound (...)" or "DIFFERS: ..." (net::describe)."""
        note = f" (the reference has no {', '.join(self.missing)})" if self.missing else ""
        if self.differs:
            return "DIFFERS: " + "; ".join(self.differs) + note
        if not self.compared:
            return "not compared" + note
        if not self.tolerance:
            return "equal" + note
        pct = 100.0 * self.half_equal / self.half_values if self.half_values else 100.0
        return (f"within bound ({pct:.2f}% of {self.half_values} values bit-equal, "
                f"worst {self.worst_over_bound:.3f} of the bound){note}")


def same_values(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise: integers equal; floats the same bits, or both NaN."""
    if a.dtype.kind != "f" and b.dtype.kind != "f":
        return a.astype(np.int64) == b.astype(np.int64)
    a32, b32 = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return (a32.view(np.uint32) == b32.view(np.uint32)) | (np.isnan(a32) & np.isnan(b32))


def _where(shape: tuple[int, ...], flat_index: int) -> list[int]:
    return [int(i) for i in np.unravel_index(flat_index, shape)]


def _exact(key: str, got: np.ndarray, want: np.ndarray, c: LayerCheck) -> None:
    same = same_values(got, want)
    if key in ("half", "logits"):
        c.half_values += same.size
        c.half_equal += int(same.sum())
    if not same.all():
        e = int(np.argmin(same.reshape(-1)))
        c.differs.append(f"{key}: {int(same.size - same.sum())} of {same.size} differ, first at "
                         f"{_where(got.shape, e)}: {got.reshape(-1)[e].item()!r} vs {want.reshape(-1)[e].item()!r}")


def _within_bound(key: str, got: np.ndarray, want: np.ndarray, bound: np.ndarray, c: LayerCheck) -> None:
    """net/check.cpp's within_bound: each value within its bound (a NaN only
    against a NaN), and at least MIN_BIT_EQUAL_FRACTION of them bit-equal."""
    g, v, b = (np.asarray(t, np.float64).reshape(-1) for t in (got, want, bound))
    nan_g, nan_v = np.isnan(g), np.isnan(v)
    with np.errstate(invalid="ignore"):
        d = np.abs(g - v)
        over = (nan_g != nan_v) | (~nan_g & ~nan_v & (d > b))
        ratio = np.where(~nan_g & ~nan_v & (b > 0), d / np.where(b > 0, b, 1), 0)
    equal = same_values(got, want).reshape(-1)
    c.half_values += g.size
    c.half_equal += int(equal.sum())
    finite = ratio[np.isfinite(ratio)]
    c.worst_over_bound = max(c.worst_over_bound, float(finite.max()) if finite.size else 0.0)
    if over.any():
        e = int(np.argmax(over))
        c.differs.append(f"{key}: {int(over.sum())} values past the bound, first at {_where(got.shape, e)} "
                         f"({float(g[e])!r} vs {float(v[e])!r}, bound {float(b[e]):.3g})")
    fraction = float(equal.mean()) if equal.size else 1.0
    if fraction < MIN_BIT_EQUAL_FRACTION:
        c.differs.append(f"{key}: only {100 * fraction:.1f}% of the values bit-equal "
                         f"(at least {100 * MIN_BIT_EQUAL_FRACTION:.0f}%)")


def check_layer(layer: Layer, ours: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray],
                bound: np.ndarray | None = None) -> LayerCheck:
    """Layer's tensors (keys y, act, half, logits) against the reference's.
    Without a bound every tensor must be equal (integers, bits, fp16 values
    in the reference's order). With one (a reordered conv or fc) its values
    (half, or logits) must be within it and 90% bit-equal, and its bits equal
    wherever the bound cannot reach 0 (net/check.cpp)."""
    c = LayerCheck(layer.name, layer.op, tolerance=bound is not None)
    for key in ("y", "half", "logits", "act"):
        if key not in ours:
            continue
        if key not in ref:
            c.missing.append(key)
            continue
        got, want = np.asarray(ours[key]), np.asarray(ref[key])
        c.compared += 1
        if got.shape != want.shape:
            c.differs.append(f"{key}: {list(got.shape)}, the reference {list(want.shape)}")
        elif c.tolerance and key in ("half", "logits"):
            b = np.broadcast_to(np.asarray(bound, np.float64), got.shape)
            _within_bound(key, got, want, b, c)
            if key == "half" and "act" in ours and "act" in ref and np.shape(ref["act"]) == got.shape:
                reach = np.abs(want.astype(np.float64)) > b  # the bound cannot carry the value past 0
                flips = int((reach & (np.asarray(ours["act"]) != np.asarray(ref["act"]))).sum())
                if flips:
                    c.differs.append(f"{flips} bits differ where the bound cannot reach 0")
        elif c.tolerance and key == "act":
            continue  # judged with the values above
        else:
            _exact(key, got, want, c)
    return c


def layer_tensors(model: Model, flat: Mapping[str, np.ndarray], layer: Layer) -> dict[str, np.ndarray]:
    """Layer's tensors of a forward-file dict, by short key (y, act, half, logits)."""
    out = {k: flat[f"{layer.name}.{k}"] for k in ("y", "act", "half") if f"{layer.name}.{k}" in flat}
    if layer.float_out and "logits" in flat:
        out["logits"] = flat["logits"]
    return out


def check_forward(model: Model, ours: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray],
                  bounds: Mapping[str, np.ndarray] | None = None) -> list[LayerCheck]:
    """Every layer of ours (forward-file names) against ref; a layer in
    bounds is judged within its bound, every other must be equal."""
    bounds = bounds or {}
    return [check_layer(l, layer_tensors(model, ours, l), layer_tensors(model, ref, l), bounds.get(l.name))
            for l in model.layers]


def verdict(results: Sequence[LayerCheck]) -> tuple[str, int]:
    """(the summary line, exit status 0 or 1)."""
    bad = [r.layer for r in results if not r.ok]
    within = sum(1 for r in results if r.ok and r.tolerance and r.compared)
    unchecked = sum(1 for r in results if not r.compared)
    tail = (f", {within} reordered real layers within their bound" if within else "") + \
        (f" ({unchecked} layers not in the reference)" if unchecked else "")
    if bad:
        more = ", ..." if len(bad) > 5 else ""
        return f"check: {len(bad)} layers differ from the reference: {', '.join(bad[:5])}{more}", 1
    return f"check: every layer equals the reference{tail}", 0


# ---------------------------------------------------------------- the CLI

class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2), as every other error here."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


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


def _setup(args: argparse.Namespace) -> tuple[Model, dict[str, np.ndarray], dict[str, str], np.ndarray]:
    """The model, the weights (and their metadata) and the images of forward and check."""
    if args.device != "numpy" and torch is None:
        raise NetError(TORCH_MISSING + " (--device numpy runs without it)")
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
    return model, weights, metadata, images


def _write_forward(path: Path, model: Model, net: Forward, outputs: Mapping[str, Mapping[str, np.ndarray]],
                   weights: Mapping[str, np.ndarray], metadata: Mapping[str, str], images: np.ndarray,
                   teacher: str = "") -> int:
    tensors = forward_tensors(model, outputs)
    tensors.update({n: weights[n] for n in weight_shapes(model)})
    tensors["input"] = images
    write_safetensors(path, tensors, {
        "btcbench_model": model.name, "format": FORWARD_FORMAT, "device": net.ops.device,
        "arithmetic": net.ops.arithmetic, "real": net.real,
        "torch": torch.__version__ if torch is not None else "", "teacher": teacher,
        "weights": metadata.get("source", ""), "batch": str(images.shape[0]),
        "cudnn_inexact": ",".join(net.native_layers)})
    return len(tensors)


def _cmd_forward(args: argparse.Namespace) -> int:
    model, weights, metadata, images = _setup(args)
    net = make_forward(model, weights, args.device, args.real)
    outputs = net(images)
    count = _write_forward(args.out, model, net, outputs, weights, metadata, images)
    print(f"wrote {args.out} ({images.shape[0]} images, {count} tensors, {os.path.getsize(args.out)} bytes)")
    if net.native_layers:
        print(f"note: cuDNN was not integer-exact on {', '.join(net.native_layers)}; "
              "those layers ran PyTorch's im2col + GEMM instead")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    model, weights, metadata, images = _setup(args)
    ref, index, source = load_reference(model, args.reference, weights)
    if index is not None:  # a capture holds the images it was told to: run those
        if max(index) >= len(images):
            raise NetError(f"{args.reference}: captured image {max(index)}, {args.input} holds {len(images)}")
        images = images[index]
    if "input" in ref and not (ref["input"].shape == images.shape and same_values(ref["input"], images).all()):
        raise NetError(f"{args.reference}: the reference ran on other images than {args.input} "
                       "(was btcbench run given --input X.npy?)")
    net = make_forward(model, weights, args.device, args.real)
    outputs = net(images, teacher=ref)
    ours = forward_tensors(model, outputs)
    bounds = {l.name: net.bound(l.name) for l in model.layers if l.op in HALF_OPS} if args.real == "reordered" else {}
    results = check_forward(model, ours, ref, bounds)
    if not any(r.compared for r in results):
        raise NetError(f"{args.reference}: holds none of the model's layer tensors")
    real = f"{args.real} real layers, " if any(l.op in HALF_OPS for l in model.layers) else ""
    print(f"check {model.name}: {net.ops.device} forward ({real}{net.ops.arithmetic}) of {len(images)} images, "
          f"each layer on the reference's inputs; reference: {source}")
    for r in results:
        judged = "bound" if r.tolerance else "exact"
        print(f"  {r.layer:<10} {r.op:<5} {judged:<5} {r.describe()}")
    if net.untaught:
        print(f"note: the reference lacks {', '.join(net.untaught)}: those reads took this forward's own values")
    if net.native_layers:
        print(f"note: cuDNN was not integer-exact on {', '.join(net.native_layers)} (PyTorch's own conv instead)")
    if args.out:
        _write_forward(args.out, model, net, outputs, weights, metadata, images, teacher=str(args.reference))
        print(f"wrote {args.out} (this forward's tensors, teacher-forced)")
    line, rc = verdict(results)
    print(line)
    return rc


def _cmd_compare(args: argparse.Namespace) -> int:
    a, _ = read_safetensors(args.a)
    b, _ = read_safetensors(args.b)
    lines, same = compare(a, b)
    print("\n".join(lines))
    print(f"{args.a} and {args.b}: {'equal' if same else 'DIFFERENT'}")
    return 0 if same else 1


def _forward_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a name from models/ or a model file")
    p.add_argument("--weights", type=Path, required=True)
    p.add_argument("--input", type=Path, required=True, help="float32 NCHW images (.npy)")
    p.add_argument("--device", choices=("cpu", "cuda", "numpy"), default="cpu",
                   help="torch on cpu or cuda, or numpy (no torch needed)")
    p.add_argument("--real", choices=REAL_MODES, default="reordered",
                   help="conv and fc sums in the backend's order (judged by the bound: the default) "
                        "or in the reference's (bit-equal)")


def main(argv: Sequence[str] | None = None) -> int:
    ap = _Parser(prog="python3 -m analysis.net_torch", description=__doc__.splitlines()[0])
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
    p.add_argument("--batch", type=int, default=0, help="images (default: the model's)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(run=_cmd_images)
    p = sub.add_parser("forward", help="the forward: per-layer y, act, half and the logits (a forward file)")
    _forward_args(p)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(run=_cmd_forward)
    p = sub.add_parser("check", help="the forward on the reference's inputs, layer by layer (exit 1 if one differs)")
    _forward_args(p)
    p.add_argument("--reference", type=Path, required=True,
                   help="a forward file, or a capture directory of btcbench run --insitu (docs/insitu.md)")
    p.add_argument("--out", type=Path, help="also write this forward's (teacher-forced) tensors here")
    p.set_defaults(run=_cmd_check)
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
