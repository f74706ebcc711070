"""Export a model's weights as a safetensors file that the network runner (net/) reads.

Run from the repo root:

    python3 -m analysis.export_weights --module mypkg.mod:build_fn --model NAME --out F.safetensors
                                       [--checkpoint CKPT.pt] [--map MAP.json]

``build_fn()`` returns a torch.nn.Module (anything with a ``state_dict()``);
``--checkpoint`` loads a state dict into it first (a bare state dict, or a dict
holding one under "state_dict" or "model"). ``--map`` is a JSON object that
renames PyTorch module names to our layer names (see below). From Python,
``export_state_dict`` does the same for a dict of numpy arrays or torch tensors.

Naming (docs/weights.md): for each layer NAME of the model file,

    NAME.weight                [out, in, kh, kw] for a conv (as torch.nn.Conv2d),
                               [out, in] for an fc (as torch.nn.Linear; `in` in the
                               order of PyTorch's flatten of an NCHW tensor)
    NAME.bn.weight, NAME.bn.bias, NAME.bn.running_mean, NAME.bn.running_var
                               [out], the layer's eval-mode batch norm

all F32. The runner binarizes a weight as w >= 0 -> +1, else -1 (so -0.0 is +1).
A mapping {"features.0": "conv1", "bn1": "conv1.bn"} renames "features.0.weight"
to "conv1.weight" and "bn1.running_var" to "conv1.bn.running_var": each key
takes the longest mapping entry that is the key itself or a dotted prefix of it;
keys that no entry covers keep their name, and an entry that covers no key is an
error (a typo would otherwise go unseen). ``num_batches_tracked`` is dropped.
The header's ``__metadata__`` is {"btcbench_model": NAME, "format": "btcbench.weights.v1"}.

The file is written by the ``safetensors`` package where it is installed, else
by the pure-numpy writer here (``serialize_numpy``), which lays the bytes out as
the package does (data sorted widest dtype first, then by name; compact header
padded with spaces to a multiple of 8). The two differ only in the order of the
metadata keys, which the package takes from a hash map and this writer sorts.
Either way the file is written atomically. ``read_safetensors`` reads one back.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import struct
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from analysis import btcresults as br

try:
    import safetensors.numpy as st_numpy
except ImportError:   # CI without it: the numpy writer below
    st_numpy = None
try:
    import torch
except ImportError:   # numpy inputs need no torch; --checkpoint does
    torch = None

FORMAT = "btcbench.weights.v1"
MAX_HEADER_BYTES = 100_000_000   # the reference reader's limit (net/safetensors.cpp: kMaxHeaderBytes)
# The dtypes of net/safetensors.h, in the reference's order: its writer lays
# the data out widest first by this order, then by name.
DTYPE_ORDER = ("BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64")
NUMPY_DTYPES = {"BOOL": np.dtype(np.bool_), "U8": np.dtype("u1"), "I8": np.dtype("i1"), "I16": np.dtype("<i2"),
                "U16": np.dtype("<u2"), "F16": np.dtype("<f2"), "I32": np.dtype("<i4"), "U32": np.dtype("<u4"),
                "F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8"), "U64": np.dtype("<u8")}


class WeightsError(Exception):
    """A state dict that cannot be exported, or a file that is not a valid safetensors file."""


def dtype_name(arr: np.ndarray) -> str:
    """The safetensors dtype of a numpy array, whatever its byte order."""
    for name, dt in NUMPY_DTYPES.items():
        if (arr.dtype.kind, arr.dtype.itemsize) == (dt.kind, dt.itemsize):
            return name
    raise WeightsError(f"numpy dtype {arr.dtype} has no safetensors dtype")


# ---------------------------------------------------------------- writing

def serialize_numpy(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> bytes:
    """The safetensors bytes of `tensors`, laid out as the reference writer does."""
    arrays = {}
    for name, value in tensors.items():
        if name == "__metadata__":
            raise WeightsError("'__metadata__' is reserved, not a tensor name")
        arr = np.asarray(value)
        dt = dtype_name(arr)
        arrays[name] = (dt, np.asarray(arr, dtype=NUMPY_DTYPES[dt], order="C"))
    order = sorted(arrays, key=lambda n: (-DTYPE_ORDER.index(arrays[n][0]), n.encode()))
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = {k: metadata[k] for k in sorted(metadata)}
    offset = 0
    for name in order:
        dt, arr = arrays[name]
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    # Compact, UTF-8 unescaped: serde_json's output, which the package writes.
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)   # the data starts 8-aligned
    return struct.pack("<Q", len(text)) + text + b"".join(arrays[n][1].tobytes() for n in order)


def serialize(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> bytes:
    """The bytes by the safetensors package where installed, else serialize_numpy."""
    if st_numpy is None:
        return serialize_numpy(tensors, metadata)
    return st_numpy.save({n: np.asarray(v, order="C") for n, v in tensors.items()},
                         metadata=dict(metadata) if metadata else None)


def write_safetensors(path: str | Path, tensors: Mapping[str, np.ndarray],
                      metadata: Mapping[str, str] | None = None) -> None:
    br.write_atomic(path, serialize(tensors, metadata))


# ---------------------------------------------------------------- reading

def read_safetensors(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and metadata of a safetensors file, checked as net/safetensors.cpp
    checks them (in less detail): WeightsError names what is wrong."""
    data = Path(path).read_bytes()

    def fail(what: str) -> WeightsError:
        return WeightsError(f"{path}: {what}")
    if len(data) < 8:
        raise fail(f"not a safetensors file: {len(data)} bytes, fewer than the 8 of the header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise fail(f"not a safetensors file: header length {n} exceeds the file size {len(data)}")
    if not data[8:9] == b"{":
        raise fail("not a safetensors file: the header does not start with '{'")

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise fail(f"duplicate key in the header: {sorted(k for k in set(keys) if keys.count(k) > 1)}")
        return dict(pairs)
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise fail(f"invalid JSON header: {e}") from None
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise fail("__metadata__ is not an object of strings")
    body = data[8 + n:]
    spans = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise fail(f"tensor {name!r}: the entry is not {{dtype, shape, data_offsets}}")
        dt, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dt not in NUMPY_DTYPES:
            raise fail(f"tensor {name!r}: unsupported dtype {dt!r}")
        ints = [*shape, *offsets] if isinstance(shape, list) and isinstance(offsets, list) else [None]
        if not all(type(i) is int and i >= 0 for i in ints) or len(offsets) != 2:
            raise fail(f"tensor {name!r}: shape and data_offsets must be non-negative integers")
        begin, end = offsets
        if end - begin != math.prod(shape) * NUMPY_DTYPES[dt].itemsize:
            raise fail(f"tensor {name!r}: data_offsets {offsets} do not hold {dt} {shape}")
        spans.append((begin, end, name))
    at = 0
    for begin, end, name in sorted(spans):
        if begin != at:
            raise fail(f"tensor {name!r}: data_offsets [{begin}, {end}] leave a hole or overlap (expected begin {at})")
        at = end
    if at != len(body):
        raise fail(f"the tensors end at data byte {at}, the file has {len(body)} data bytes")
    tensors = {name: np.frombuffer(body, dtype=NUMPY_DTYPES[header[name]["dtype"]], count=(end - begin)
                                   // NUMPY_DTYPES[header[name]["dtype"]].itemsize, offset=begin)
               .reshape(header[name]["shape"]).copy()
               for begin, end, name in spans}
    return tensors, metadata


# ---------------------------------------------------------------- the state dict

def rename(key: str, mapping: Mapping[str, str]) -> tuple[str, str | None]:
    """Our name for `key` and the mapping entry used (None: the key kept its name)."""
    best = None
    for prefix in mapping:
        if (key == prefix or key.startswith(prefix + ".")) and (best is None or len(prefix) > len(best)):
            best = prefix
    return (key, None) if best is None else (mapping[best] + key[len(best):], best)


def to_float32(name: str, value: Any) -> np.ndarray:
    """A C-contiguous little-endian float32 copy of a numpy array or torch tensor."""
    if hasattr(value, "detach"):   # a torch tensor; bfloat16 has no numpy dtype, so via float()
        value = value.detach().cpu()
        if value.is_complex() or str(value.dtype) == "torch.bool":
            raise WeightsError(f"tensor {name!r}: {value.dtype} is not convertible to F32")
        value = value.float().numpy()
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise WeightsError(f"tensor {name!r}: numpy dtype {arr.dtype} is not convertible to F32")
    return np.asarray(arr, dtype="<f4", order="C")   # not ascontiguousarray: it makes a scalar 1-d


def prepare_state_dict(state: Mapping[str, Any], mapping: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """The renamed float32 tensors that export_state_dict writes."""
    mapping = dict(mapping or {})
    out: dict[str, np.ndarray] = {}
    source: dict[str, str] = {}
    used: set[str] = set()
    for key, value in state.items():
        if key == "num_batches_tracked" or key.endswith(".num_batches_tracked"):
            continue   # a training counter, not a parameter
        name, entry = rename(key, mapping)
        if entry is not None:
            used.add(entry)
        if not name or name == "__metadata__":
            raise WeightsError(f"{key!r} is renamed to {name!r}, which is no tensor name")
        if name in out:
            raise WeightsError(f"{source[name]!r} and {key!r} are both renamed to {name!r}")
        out[name] = to_float32(key, value)
        source[name] = key
    unused = sorted(set(mapping) - used)
    if unused:
        raise WeightsError(f"mapping entries that match no key of the state dict: {', '.join(unused)}")
    return out


def export_state_dict(state: Mapping[str, Any], mapping: Mapping[str, str] | None, path: str | Path,
                      model_name: str) -> dict[str, tuple[int, ...]]:
    """Writes `state` (numpy arrays or torch tensors) renamed by `mapping` to `path`
    as F32 with the btcbench metadata; returns the written names and shapes."""
    if not isinstance(model_name, str) or not model_name:
        raise WeightsError("the model name must be a non-empty string")
    tensors = prepare_state_dict(state, mapping)
    write_safetensors(path, tensors, {"btcbench_model": model_name, "format": FORMAT})
    return {name: tuple(arr.shape) for name, arr in tensors.items()}


# ---------------------------------------------------------------- command line

def one_line(e: BaseException) -> str:
    """An exception as one line: PyTorch's load_state_dict errors span several."""
    return " ".join(str(e).split()) or type(e).__name__


def load_mapping(path: str) -> dict[str, str]:
    try:
        mapping = json.loads(Path(path).read_text())
    except OSError as e:
        raise WeightsError(f"cannot read the map {path}: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise WeightsError(f"the map {path} is not valid JSON: {e}") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise WeightsError(f"the map {path} is not a JSON object of strings (PyTorch name -> our layer name)")
    return mapping


def build_model(spec: str) -> Any:
    module_name, _, fn_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:   # whatever the module raises on import is the user's to see, in one line
        raise WeightsError(f"cannot import {module_name!r}: {type(e).__name__}: {one_line(e)}") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise WeightsError(f"{module_name!r} has no function {fn_name!r}")
    try:
        model = fn()
    except Exception as e:
        raise WeightsError(f"{spec}() failed: {type(e).__name__}: {one_line(e)}") from None
    if not callable(getattr(model, "state_dict", None)):
        raise WeightsError(f"{spec}() returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def load_checkpoint(model: Any, path: str) -> None:
    if torch is None:
        raise WeightsError("--checkpoint needs PyTorch, which is not installed (import torch failed)")
    try:
        state = torch.load(path, map_location="cpu")
    except OSError as e:
        raise WeightsError(f"cannot read the checkpoint {path}: {e.strerror or e}") from None
    except Exception as e:
        raise WeightsError(f"cannot load the checkpoint {path}: {type(e).__name__}: {one_line(e)}") from None
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
            break
    if not isinstance(state, Mapping):
        raise WeightsError(f"the checkpoint {path} holds a {type(state).__name__}, not a state dict")
    try:
        model.load_state_dict(state)
    except Exception as e:
        raise WeightsError(f"the checkpoint {path} does not fit the model: {one_line(e)}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m analysis.export_weights",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--module", required=True, metavar="PKG.MOD:FUNCTION",
                        help="a function that returns the torch.nn.Module")
    parser.add_argument("--model", required=True, help="the model's name in our suite (written to the metadata)")
    parser.add_argument("--out", required=True, metavar="F.safetensors")
    parser.add_argument("--checkpoint", metavar="CKPT", help="a state dict to load into the module first")
    parser.add_argument("--map", metavar="MAP.json", help="a JSON object: PyTorch module name -> our layer name")
    args = parser.parse_args(argv)
    module_name, colon, fn_name = args.module.partition(":")
    if not colon or not module_name or not fn_name:
        parser.error(f"--module {args.module!r} is not PKG.MOD:FUNCTION")
    out = Path(args.out)
    try:
        # Every file is checked before the model is built: building may be slow.
        if not out.parent.is_dir():
            why = "is not a folder" if out.parent.exists() else "does not exist"
            raise WeightsError(f"cannot write {out}: its folder {out.parent} {why}")
        if out.is_dir():
            raise WeightsError(f"cannot write {out}: it is a folder")
        if args.checkpoint and not Path(args.checkpoint).is_file():
            raise WeightsError(f"cannot read the checkpoint {args.checkpoint}: no such file")
        mapping = load_mapping(args.map) if args.map else None
        model = build_model(args.module)
        if args.checkpoint:
            load_checkpoint(model, args.checkpoint)
        shapes = export_state_dict(model.state_dict(), mapping, out, args.model)
    except WeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: cannot write {out}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"wrote {out}: {len(shapes)} tensors of model {args.model!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
