"""A capture directory (btcbench's in situ capture, insitu/capture.h) as PNGs and an HTML index.

    python3 -m analysis.insitu_view CAPTURE_DIR [--out DIR] [--layers a,b] [--screenshot PNG]

Reads CAPTURE_DIR/capture.json and the .vti files it lists (docs/insitu.md is
the format; the .vti reader here is pure numpy and reads the files the
capture writer writes: binary base64 point data, UInt64 or UInt32 headers,
no compression), and writes under --out (default CAPTURE_DIR/view):

    <layer>/<tensor>_<step6>.png  a montage of up to 64 channel maps of `output`
                                  (else the first tensor captured), first captured image
    <layer>/stats.png             frac_plus per channel x step, mean margin, pre mean / std
    saturation.png                per layer and step: the fraction of channels with
                                  frac_plus < 0.02 or > 0.98
    index.html                    the layers table and every figure (ids fig-<layer>-stats,
                                  fig-<layer>-montage, fig-saturation), relative links only

--screenshot PNG renders index.html with headless Chromium and checks, in the
DOM Chromium dumps, that every layer's figures are there. Errors are one
line on stderr and exit 2.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import html
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap

from analysis import btcresults as br
from analysis import report_common as rc

PROG = "python3 -m analysis.insitu_view"
SCHEMA = "btcbench.insitu/1"
MANIFEST = "capture.json"
MAX_CHANNELS = 64           # channel maps per montage
SATURATED = (0.02, 0.98)    # frac_plus below / above: a channel that (almost) never flips
MAX_MANIFEST_BYTES = 256 << 20
TENSORS = ("input", "pre", "output")
BIT_COLOURS = ("#2c7bb6", "#fdae61")   # -1, +1
CHROMIUM_NAMES = ("chromium", "chromium-headless-shell")
CHROMIUM_FALLBACK = "/usr/bin/chromium"

VTK_TYPES = {"Int8": "<i1", "UInt8": "<u1", "Int16": "<i2", "UInt16": "<u2", "Int32": "<i4", "UInt32": "<u4",
             "Int64": "<i8", "UInt64": "<u8", "Float32": "<f4", "Float64": "<f8"}
HEADER_TYPES = {"UInt32": "<u4", "UInt64": "<u8"}
DTYPES = {"int8": np.int8, "int32": np.int32, "float32": np.float32}


class InsituError(Exception):
    """A capture that cannot be read, or an output that cannot be written: one line for the user."""


# ---------------------------------------------------------------- .vti

@dataclass
class Vti:
    """One ImageData file: dims = (x, y, z) point counts; arrays flat, x fastest."""
    path: Path
    dims: tuple[int, int, int]
    arrays: dict[str, np.ndarray]
    scalars: str | None

    def volume(self, name: str) -> np.ndarray:
        """The array as [z][y][x] (for a layer tensor: [channel][h][w])."""
        nx, ny, nz = self.dims
        return self.arrays[name].reshape(nz, ny, nx)


def _decode_binary(text: str, header: np.dtype, count: int, itemsize: int, where: str) -> bytes:
    """The bytes of one format="binary" DataArray: base64 of [header][data],
    encoded as one stream (VTK's own writer, ours) or with the header apart."""
    text = "".join(text.split())
    hbytes = header.itemsize
    hchars = 4 * math.ceil(hbytes / 3)
    try:
        if hbytes % 3 and len(text) >= hchars and text[hchars - 1] == "=":   # header encoded on its own
            head, body = base64.b64decode(text[:hchars], validate=True), base64.b64decode(text[hchars:],
                                                                                       validate=True)
        else:
            raw = base64.b64decode(text, validate=True)
            head, body = raw[:hbytes], raw[hbytes:]
    except (binascii.Error, ValueError) as e:
        raise InsituError(f"{where}: not valid base64 ({e})") from None
    if len(head) < hbytes:
        raise InsituError(f"{where}: truncated (no byte-count header)")
    declared = int(np.frombuffer(head, header)[0])
    if declared != count * itemsize:
        raise InsituError(f"{where}: the header declares {declared} bytes, the extent needs {count * itemsize}")
    if len(body) < declared:
        raise InsituError(f"{where}: truncated ({len(body)} of {declared} bytes)")
    return body[:declared]


def read_vti(path: str | os.PathLike[str]) -> Vti:
    """A .vti of the capture writer's kind; InsituError naming the file otherwise."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except OSError as e:
        raise InsituError(f"cannot read {path}: {e.strerror or e}") from None
    except ET.ParseError as e:
        raise InsituError(f"{path}: not valid XML ({e})") from None
    if root.tag != "VTKFile" or root.get("type") != "ImageData":
        raise InsituError(f"{path}: not a VTK ImageData file")
    if root.get("byte_order", "LittleEndian") != "LittleEndian":
        raise InsituError(f"{path}: byte_order {root.get('byte_order')} is not read here (LittleEndian only)")
    if root.get("compressor"):
        raise InsituError(f"{path}: compressed data ({root.get('compressor')}) is not read here")
    header_name = root.get("header_type", "UInt32")
    if header_name not in HEADER_TYPES:
        raise InsituError(f"{path}: header_type {header_name} is not UInt32 or UInt64")
    header = np.dtype(HEADER_TYPES[header_name])
    image = root.find("ImageData")
    piece = image.find("Piece") if image is not None else None
    if image is None or piece is None:
        raise InsituError(f"{path}: no ImageData/Piece element")
    try:
        ext = [int(v) for v in (piece.get("Extent") or image.get("WholeExtent") or "").split()]
    except ValueError:
        ext = []
    if len(ext) != 6 or any(ext[2 * i + 1] < ext[2 * i] for i in range(3)):
        raise InsituError(f"{path}: bad extent {piece.get('Extent')!r}")
    dims = (ext[1] - ext[0] + 1, ext[3] - ext[2] + 1, ext[5] - ext[4] + 1)
    count = dims[0] * dims[1] * dims[2]
    point_data = piece.find("PointData")
    arrays: dict[str, np.ndarray] = {}
    for da in point_data.findall("DataArray") if point_data is not None else []:
        name = da.get("Name") or ""
        where = f"{path}: array '{name}'"
        if da.get("type") not in VTK_TYPES:
            raise InsituError(f"{where}: type {da.get('type')!r} is not read here")
        if da.get("format") != "binary":
            raise InsituError(f"{where}: format {da.get('format')!r} is not read here (binary only)")
        if int(da.get("NumberOfComponents", "1")) != 1:
            raise InsituError(f"{where}: more than one component")
        dtype = np.dtype(VTK_TYPES[da.get("type")])
        data = _decode_binary(da.text or "", header, count, dtype.itemsize, where)
        arrays[name] = np.frombuffer(data, dtype).astype(dtype.newbyteorder("="))
    if not arrays:
        raise InsituError(f"{path}: no point data")
    scalars = point_data.get("Scalars") if point_data is not None else None
    return Vti(path, dims, arrays, scalars)


# ---------------------------------------------------------------- capture.json

@dataclass
class Tensor:
    name: str
    dtype: str | None
    shape: tuple[int, int, int] | None   # h, w, c
    pvd: str
    files: list[str]
    bytes: list[int]
    steps: list[int]   # the step of each file (from its name, <tensor>_<step6>.vti)


@dataclass
class Layer:
    name: str
    op: str
    tensors: dict[str, Tensor]
    weights: dict[str, Any] | None
    threshold: list[float] | None
    stats: list[dict[str, Any]] = field(default_factory=list)

    def shown(self) -> Tensor | None:
        """The tensor the montages show: output, else the first captured."""
        captured = [t for t in self.tensors.values() if t.files]
        by_name = {t.name: t for t in captured}
        return by_name.get("output") or (captured[0] if captured else None)


@dataclass
class Capture:
    dir: Path
    manifest: dict[str, Any]
    layers: list[Layer]
    steps: list[tuple[int, int]]   # (step, batch index)
    images: list[int]

    def layer(self, name: str) -> Layer:
        return next(l for l in self.layers if l.name == name)


def _want(obj: Any, key: str, kind: type | tuple[type, ...], where: str, source: Path) -> Any:
    """obj[key] of type kind (a bool is no int here); InsituError naming the key otherwise."""
    if not isinstance(obj, dict) or key not in obj:
        raise InsituError(f"{source}: missing '{where}{key}'")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InsituError(f"{source}: '{where}{key}' has the wrong type")
    return value


def _int_list(value: Any, where: str, source: Path) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise InsituError(f"{source}: '{where}' is not a list of integers")
    return value


def _number_list(value: Any, where: str, source: Path) -> list[float]:
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                              for v in value):
        raise InsituError(f"{source}: '{where}' is not a list of numbers")
    return [float(v) for v in value]


def _check_file(capture_dir: Path, rel: str, declared: int | None, source: Path) -> None:
    """A listed file is there, as long as capture.json says; else the capture is truncated."""
    path = capture_dir / rel
    if Path(rel).is_absolute() or ".." in Path(rel).parts:
        raise InsituError(f"{source}: file '{rel}' is not inside the capture directory")
    try:
        size = path.stat().st_size
    except OSError:
        raise InsituError(f"{capture_dir}: truncated capture: {rel} (listed in {MANIFEST}) is missing") from None
    if declared is not None and size < declared:
        raise InsituError(f"{capture_dir}: truncated capture: {rel} holds {size} of the {declared} bytes "
                          f"{MANIFEST} declares")
    if declared is not None and size != declared:
        raise InsituError(f"{capture_dir}: {rel} holds {size} bytes, {MANIFEST} declares {declared}")


def load_capture(capture_dir: str | os.PathLike[str]) -> Capture:
    """capture.json validated, and every file it lists present at its declared size."""
    d = Path(capture_dir)
    if not d.exists():
        raise InsituError(f"{d}: no such directory")
    if not d.is_dir():
        raise InsituError(f"{d}: is not a directory")
    source = d / MANIFEST
    if not source.exists():
        raise InsituError(f"{d}: not a capture directory (no {MANIFEST}; a capture that did not finish has none)")
    try:
        if source.stat().st_size > MAX_MANIFEST_BYTES:
            raise InsituError(f"{source}: larger than {MAX_MANIFEST_BYTES >> 20} MiB; not a capture manifest")
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InsituError(f"cannot read {source}: {getattr(e, 'strerror', None) or e}") from None
    try:
        m = json.loads(text)
    except json.JSONDecodeError as e:
        raise InsituError(f"{source}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if not isinstance(m, dict):
        raise InsituError(f"{source}: not a JSON object")
    schema = m.get("schema")
    if schema != SCHEMA:
        raise InsituError(f"{source}: schema is {schema!r}, not {SCHEMA!r} (docs/insitu.md)")
    for key, kind in (("model", str), ("command", str), ("batch", int), ("every", int), ("images", list),
                      ("layers", list), ("steps", list), ("stats", dict), ("summary", dict)):
        _want(m, key, kind, "", source)
    images = _int_list(m["images"], "images", source)
    if not images:
        raise InsituError(f"{source}: 'images' is empty")
    steps = []
    for i, s in enumerate(m["steps"]):
        steps.append((_want(s, "step", int, f"steps[{i}].", source), _want(s, "batch", int, f"steps[{i}].", source)))
    for key in ("batches", "due", "captured", "dropped", "ring_slots", "ring_slot_bytes", "bytes_written"):
        _want(m["summary"], key, int, "summary.", source)

    layers = []
    for i, entry in enumerate(m["layers"]):
        where = f"layers[{i}]."
        name = _want(entry, "name", str, where, source)
        op = _want(entry, "op", str, where, source)
        tensors: dict[str, Tensor] = {}
        for tname, t in _want(entry, "tensors", dict, where, source).items():
            tw = f"{where}tensors.{tname}."
            if tname not in TENSORS:
                raise InsituError(f"{source}: '{tw[:-1]}' is not one of {', '.join(TENSORS)}")
            dtype = t.get("dtype") if isinstance(t, dict) else None
            if dtype is not None and dtype not in DTYPES:
                raise InsituError(f"{source}: '{tw}dtype' is {dtype!r}, not one of {', '.join(DTYPES)}")
            shape = t.get("shape") if isinstance(t, dict) else None
            if shape is not None:
                shape = _int_list(shape, f"{tw}shape", source)
                if len(shape) != 3 or min(shape) < 1:
                    raise InsituError(f"{source}: '{tw}shape' is not [h, w, c]")
            files = _want(t, "files", list, tw, source)
            sizes = _int_list(_want(t, "bytes", list, tw, source), f"{tw}bytes", source)
            if not all(isinstance(f, str) for f in files) or len(sizes) != len(files):
                raise InsituError(f"{source}: '{tw}files' and '{tw}bytes' do not pair up")
            if files and (dtype is None or shape is None):
                raise InsituError(f"{source}: '{tw[:-1]}' has files but no dtype or shape")
            if len(files) > len(steps):
                raise InsituError(f"{source}: '{tw}files' lists more files than there are steps")
            file_steps = []
            for rel in files:
                match = re.fullmatch(rf"{re.escape(name)}/{tname}_(\d{{6,}})\.vti", rel)
                if match is None:
                    raise InsituError(f"{source}: '{tw}files' holds {rel!r}, not {name}/{tname}_<step6>.vti")
                if int(match.group(1)) not in dict(steps):
                    raise InsituError(f"{source}: {rel} is of step {int(match.group(1))}, which 'steps' lacks")
                file_steps.append(int(match.group(1)))
            tensors[tname] = Tensor(tname, dtype, tuple(shape) if shape else None,
                                    _want(t, "pvd", str, tw, source), files, sizes, file_steps)
        weights = entry.get("weights")
        if weights is not None:
            _want(weights, "file", str, f"{where}weights.", source)
        threshold = entry.get("threshold")
        if threshold is not None:
            threshold = _number_list(threshold, f"{where}threshold", source)
        stats = m["stats"].get(name, [])
        if not isinstance(stats, list):
            raise InsituError(f"{source}: 'stats.{name}' is not a list")
        for j, s in enumerate(stats):
            sw = f"stats.{name}[{j}]."
            _want(s, "step", int, sw, source)
            for key in ("frac_plus", "pre_mean", "pre_std", "margin_mean"):
                _number_list(_want(s, key, list, sw, source), sw + key, source)
        layers.append(Layer(name, op, tensors, weights, threshold, stats))
    names = [l.name for l in layers]
    if len(set(names)) != len(names):
        raise InsituError(f"{source}: a layer name appears twice")

    # Every file listed: there, and as long as declared (a capture cut short is not read half).
    for layer in layers:
        for t in layer.tensors.values():
            for rel, size in zip(t.files, t.bytes):
                _check_file(d, rel, size, source)
            _check_file(d, t.pvd, None, source)
        if layer.weights is not None:
            size = layer.weights.get("bytes")
            _check_file(d, layer.weights["file"], size if isinstance(size, int) else None, source)
    return Capture(d, m, layers, steps, images)


# ---------------------------------------------------------------- figures

def _grid(n: int) -> tuple[int, int]:
    cols = max(1, math.ceil(math.sqrt(n)))
    return math.ceil(n / cols), cols


def is_bits(values: np.ndarray) -> bool:
    return values.dtype == np.int8 and bool(np.all(np.abs(values) == 1))


def montage_png(layer: Layer, tensor: Tensor, step: int, batch: int, image: int, vti: Vti, vmax: float) -> bytes:
    """Up to MAX_CHANNELS channel maps (h x w each, y down) of one image."""
    vol = vti.volume(f"img{image}")
    n = min(MAX_CHANNELS, vol.shape[0])
    rows, cols = _grid(n)
    bits = is_bits(vol)
    if bits:
        cmap, norm = ListedColormap(list(BIT_COLOURS)), BoundaryNorm([-1.5, 0, 1.5], 2)
        kwargs: dict[str, Any] = {"cmap": cmap, "norm": norm}
    else:
        kwargs = {"cmap": "RdBu_r", "vmin": -vmax, "vmax": vmax}
    h, w = vol.shape[1], vol.shape[2]
    cell = 1.6 if cols <= 8 else 1.2
    with rc.figure((max(4.0, cols * cell * min(2.0, max(0.5, w / h))) + 1.2, rows * cell + 0.9)) as fig:
        fig.set_layout_engine("constrained")   # places the shared colorbar
        axes = fig.subplots(rows, cols, squeeze=False)
        im = None
        for k in range(rows * cols):
            ax = axes[k // cols][k % cols]
            ax.set_axis_off()
            if k < n:
                im = ax.imshow(vol[k], interpolation="nearest", **kwargs)
                ax.set_title(f"c{k}", fontsize=7)
        more = f" (first {n} of {vol.shape[0]})" if n < vol.shape[0] else ""
        fig.suptitle(f"{layer.name} {tensor.name} ({tensor.dtype} {h}x{w}x{vol.shape[0]}), step {step} "
                     f"(batch {batch}), image {image}: channels{more}", fontsize=9)
        if im is not None:
            bar = fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8)
            if bits:
                bar.set_ticks([-0.75, 0.75])
                bar.set_ticklabels(["-1", "+1"])
        return rc.png_bytes(fig, tight=False)


def stats_png(layer: Layer, steps: dict[int, int]) -> bytes:
    """frac_plus heatmap (channel x step), mean margin, and pre mean / std over steps."""
    stats = sorted(layer.stats, key=lambda s: s["step"])
    xs = [s["step"] for s in stats]
    with rc.figure((9.0, 9.0)) as fig:
        fig.set_layout_engine("constrained")
        top, mid, bottom = fig.subplots(3, 1)
        frac = [s["frac_plus"] for s in stats]
        if frac and all(frac) and len({len(f) for f in frac}) == 1:
            grid = np.array(frac, dtype=float).T        # channel x step
            im = top.imshow(grid, aspect="auto", interpolation="nearest", cmap="coolwarm", vmin=0, vmax=1,
                            origin="lower", extent=(-0.5, len(xs) - 0.5, -0.5, grid.shape[0] - 0.5))
            top.set_xticks(range(len(xs)), [str(x) for x in xs])
            top.set_ylabel("channel")
            fig.colorbar(im, ax=top, label="fraction +1")
        else:
            rc.no_data(top, "no output captured: no frac_plus")
        top.set_title(f"{layer.name} ({layer.op}): frac_plus per channel", fontsize=10)
        top.set_xlabel("step")

        margin = [s["margin_mean"] for s in stats]
        if margin and all(margin):
            m = np.array([np.mean(v) for v in margin])
            lo, hi = np.array([np.min(v) for v in margin]), np.array([np.max(v) for v in margin])
            mid.fill_between(xs, lo, hi, alpha=0.25, label="min-max over channels")
            mid.plot(xs, m, marker="o", label="mean over channels")
            mid.legend(fontsize=8)
        else:
            rc.no_data(mid, "no pre or no threshold: no margin")
        mid.set_title("mean |pre - threshold|", fontsize=10)
        mid.set_xlabel("step")

        pre_mean = [s["pre_mean"] for s in stats]
        if pre_mean and all(pre_mean):
            mean = np.array([np.mean(v) for v in pre_mean])
            std = np.array([np.mean(s["pre_std"]) for s in stats])
            bottom.plot(xs, mean, marker="o", label="pre_mean (mean over channels)")
            bottom.plot(xs, std, marker="s", label="pre_std (mean over channels)")
            bottom.legend(fontsize=8)
        else:
            rc.no_data(bottom, "no pre captured")
        bottom.set_title("pre: mean and population std", fontsize=10)
        bottom.set_xlabel("step")
        for ax in (mid, bottom):
            if xs:
                ax.set_xticks(xs, [f"{x}\n(b{steps.get(x, '?')})" for x in xs])
        return rc.png_bytes(fig, tight=False)


def saturation(layer: Layer) -> list[tuple[int, float]] | None:
    """(step, fraction of channels with frac_plus outside SATURATED) per step; None without frac_plus."""
    out = []
    for s in sorted(layer.stats, key=lambda s: s["step"]):
        f = np.asarray(s["frac_plus"], dtype=float)
        if f.size == 0:
            return None
        out.append((s["step"], float(np.mean((f < SATURATED[0]) | (f > SATURATED[1])))))
    return out or None


def saturation_png(layers: Sequence[Layer]) -> bytes:
    with rc.figure((8.0, 4.0)) as fig:
        ax = fig.subplots()
        drawn = False
        for layer in layers:
            sat = saturation(layer)
            if sat:
                ax.plot([s for s, _ in sat], [v for _, v in sat], marker="o", label=layer.name)
                drawn = True
        if drawn:
            ax.legend(fontsize=8)
            ax.set_ylim(-0.02, 1.02)
        else:
            rc.no_data(ax, "no layer has a captured output")
        ax.set_xlabel("step")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel("fraction of channels")
        ax.set_title(f"saturated channels (frac_plus < {SATURATED[0]} or > {SATURATED[1]}) per layer", fontsize=10)
        return rc.png_bytes(fig)


# ---------------------------------------------------------------- render

def select_layers(capture: Capture, spec: str | None) -> list[str]:
    """The layers --layers names (capture order), or every layer."""
    known = [l.name for l in capture.layers]
    if spec is None:
        return known
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    if not wanted:
        raise InsituError(f"--layers names no layer (the capture has: {', '.join(known)})")
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise InsituError(f"--layers: unknown layer{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(repr(u) for u in unknown)} (the capture has: {', '.join(known)})")
    return [k for k in known if k in wanted]


@dataclass
class LayerView:
    """What index.html shows of one layer: paths relative to the output directory."""
    layer: Layer
    stats_png: str
    tensor: Tensor | None
    montages: list[tuple[int, int, str]]   # (step, batch, png)
    saturation: list[tuple[int, float]] | None


def _read_step(capture: Capture, layer: Layer, tensor: Tensor, rel: str, image: int) -> Vti:
    vti = read_vti(capture.dir / rel)
    h, w, c = tensor.shape or (0, 0, 0)
    if vti.dims != (w, h, c):
        raise InsituError(f"{vti.path}: extent {vti.dims} (x, y, z) where {MANIFEST} declares h x w x c = "
                          f"{h} x {w} x {c}")
    name = f"img{image}"
    if name not in vti.arrays:
        raise InsituError(f"{vti.path}: no array '{name}' (has {', '.join(vti.arrays)})")
    if vti.arrays[name].dtype != np.dtype(DTYPES[tensor.dtype or "float32"]):
        raise InsituError(f"{vti.path}: array '{name}' is {vti.arrays[name].dtype}, {MANIFEST} declares "
                          f"{tensor.dtype}")
    return vti


def _write(path: Path, data: bytes | str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        br.write_atomic(path, data)
    except OSError as e:
        raise InsituError(f"cannot write {path}: {e.strerror or e}") from None


def _step_map(capture: Capture) -> dict[int, int]:
    return dict(capture.steps)


def render(capture: Capture, out: Path, names: Sequence[str]) -> tuple[Path, list[Path], list[LayerView]]:
    """Every figure and index.html under out; (index, files written, the layer views)."""
    if out.exists() and not out.is_dir():
        raise InsituError(f"cannot write under {out}: it is a file, not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InsituError(f"cannot write under {out}: {e.strerror or e}") from None
    steps = _step_map(capture)
    image = capture.images[0]
    written: list[Path] = []
    views: list[LayerView] = []
    for name in names:
        layer = capture.layer(name)
        tensor = layer.shown()
        montages: list[tuple[int, int, str]] = []
        if tensor is not None:
            vtis = [_read_step(capture, layer, tensor, rel, image) for rel in tensor.files]
            vmax = max(float(np.max(np.abs(v.arrays[f"img{image}"].astype(np.float64)))) for v in vtis) or 1.0
            for step, vti in zip(tensor.steps, vtis):
                png = f"{name}/{tensor.name}_{step:06d}.png"
                _write(out / png, montage_png(layer, tensor, step, steps.get(step, -1), image, vti, vmax))
                written.append(out / png)
                montages.append((step, steps.get(step, -1), png))
        stats_rel = f"{name}/stats.png"
        _write(out / stats_rel, stats_png(layer, steps))
        written.append(out / stats_rel)
        views.append(LayerView(layer, stats_rel, tensor, montages, saturation(layer)))
    _write(out / "saturation.png", saturation_png([v.layer for v in views]))
    written.append(out / "saturation.png")
    index = out / "index.html"
    _write(index, index_html(capture, out, views))
    written.append(index)
    return index, written, views


def figure_ids(views: Sequence[LayerView]) -> list[str]:
    """The id of every <img> index.html holds."""
    ids = ["fig-saturation"]
    for v in views:
        ids.append(f"fig-{v.layer.name}-stats")
        if v.montages:
            ids.append(f"fig-{v.layer.name}-montage")
    return ids


def _url(path: str) -> str:
    """A relative path as a relative URL (':' and the rest quoted, so no scheme can sneak in)."""
    return urllib.parse.quote(Path(path).as_posix(), safe="/")


def _tensor_cell(layer: Layer) -> str:
    parts = []
    for t in layer.tensors.values():
        shape = "x".join(map(str, t.shape)) if t.shape else "not captured"
        parts.append(f"<code>{html.escape(t.name)}</code> {html.escape(t.dtype or '')} {shape}")
    return "<br>".join(parts) or "none"


def _saturation_cell(sat: list[tuple[int, float]] | None) -> str:
    if not sat:
        return rc.DASH
    return ", ".join(f"{v:.2f}" for _, v in sat)


CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 1240px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; vertical-align: top; font-size: 0.9em; }
th { background: #eee; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.3em 0; }
section.layer { border-top: 2px solid #888; margin-top: 1.5em; }
.steps a { margin-right: 0.5em; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""

SCRIPT = """
document.querySelectorAll("select[data-layer]").forEach(function (sel) {
  sel.addEventListener("change", function () {
    document.getElementById("fig-" + sel.dataset.layer + "-montage").src = sel.value;
  });
});
"""


def index_html(capture: Capture, out: Path, views: Sequence[LayerView]) -> str:
    """A self-contained page (inline style and script; images by relative path)."""
    m = capture.manifest
    esc = html.escape
    to_capture = os.path.relpath(capture.dir.resolve(), out.resolve())
    summary = m["summary"]
    steps = ", ".join(f"{s} (batch {b})" for s, b in capture.steps) or "none"
    lines = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>In situ view: {esc(m['model'])}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
             f"<h1>In situ tensor view: <code>{esc(m['model'])}</code></h1>",
             "<ul>",
             f"<li>Capture: <code>{esc(str(capture.dir))}</code></li>",
             f"<li>Command: <code>{esc(m['command'])}</code></li>",
             f"<li>Batch size {m['batch']}, every {m['every']} forward(s) captured; images "
             f"{esc(', '.join(map(str, capture.images)))} of each (the montages show image {capture.images[0]})</li>",
             f"<li>Steps: {esc(steps)}</li>",
             f"<li>Forwards {summary['batches']}, due {summary['due']}, captured {summary['captured']}, "
             f"dropped {summary['dropped']} (ring: {summary['ring_slots']} slots of {summary['ring_slot_bytes']:,} "
             f"bytes); {summary['bytes_written']:,} bytes written</li>",
             "</ul>",
             "<h2>Layers</h2>",
             '<table id="layers">',
             "<thead><tr><th>layer</th><th>op</th><th>tensors (h x w x c)</th><th>weights (K x RS x C)</th>"
             f"<th>saturated channels per step (frac_plus &lt; {SATURATED[0]} or &gt; {SATURATED[1]})</th>"
             "</tr></thead>", "<tbody>"]
    for v in views:
        L = v.layer
        weights = rc.DASH
        if L.weights:
            shape = "x".join(map(str, L.weights.get("shape") or []))
            weights = f"{esc(str(L.weights.get('dtype', '')))} {shape}"
        lines.append(f'<tr id="row-{esc(L.name)}"><td><a href="#layer-{esc(L.name)}">{esc(L.name)}</a></td>'
                     f"<td>{esc(L.op)}</td><td>{_tensor_cell(L)}</td><td>{weights}</td>"
                     f"<td>{_saturation_cell(v.saturation)}</td></tr>")
    lines += ["</tbody>", "</table>",
              "<h2>Saturation</h2>",
              '<img id="fig-saturation" src="saturation.png" alt="saturated channels per layer and step">']
    for v in views:
        L = v.layer
        n = esc(L.name)
        lines += [f'<section class="layer" id="layer-{n}">', f"<h2>{n} ({esc(L.op)})</h2>"]
        pvds = [f'<a href="{_url(os.path.join(to_capture, t.pvd))}"><code>{esc(t.pvd)}</code></a>'
                for t in L.tensors.values() if t.files]
        if pvds:
            lines.append(f"<p>ParaView (File &gt; Open, Apply): {' '.join(pvds)}</p>")
        lines.append(f'<img id="fig-{n}-stats" src="{_url(v.stats_png)}" alt="{n} statistics over steps">')
        if v.montages and v.tensor is not None:
            options = "".join(f'<option value="{_url(png)}">step {s} (batch {b})</option>' for s, b, png in v.montages)
            lines += [f"<h3>{esc(v.tensor.name)}: channel maps of image {capture.images[0]}</h3>",
                      f'<label>step <select id="step-{n}" data-layer="{n}">{options}</select></label>',
                      f'<div><img id="fig-{n}-montage" src="{_url(v.montages[0][2])}" '
                      f'alt="{n} {esc(v.tensor.name)} channel maps"></div>',
                      '<p class="steps">every step: ' +
                      " ".join(f'<a href="{_url(png)}">{s}</a>' for s, _, png in v.montages) + "</p>"]
        else:
            lines.append("<p>No tensor of this layer was captured.</p>")
        lines.append("</section>")
    lines += [f"<script>{SCRIPT}</script>", "</body>", "</html>", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- Chromium

def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return CHROMIUM_FALLBACK if os.access(CHROMIUM_FALLBACK, os.X_OK) else None


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.img_ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.img_ids.update(v for k, v in attrs if k == "id" and v)


def img_ids(page: str) -> set[str]:
    """The ids of the <img> elements of an HTML page."""
    parser = _Ids()
    parser.feed(page)
    return parser.img_ids


def _chromium(exe: str, args: Sequence[str], url: str, timeout: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="insitu-chromium-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,2000",
               f"--user-data-dir={profile}", "--no-first-run", *args, url]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise InsituError(f"--screenshot: {exe} did not finish within {timeout:.0f} s") from None
        except OSError as e:
            raise InsituError(f"--screenshot: cannot run {exe}: {e.strerror or e}") from None


def _last_line(text: str) -> str:
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1] if lines else "no output"


def screenshot(index: Path, png: Path, expected_ids: Sequence[str], timeout: float = 120) -> None:
    """index.html rendered by headless Chromium into png; its DOM must hold every expected <img> id."""
    exe = find_chromium()
    if exe is None:
        raise InsituError("--screenshot needs Chromium: none of " + ", ".join(CHROMIUM_NAMES) +
                          f" is on PATH and {CHROMIUM_FALLBACK} is absent (Debian: apt-get install chromium; "
                          "scripts/setup.sh installs it)")
    url = index.resolve().as_uri()
    if png.exists() and png.is_dir():
        raise InsituError(f"cannot write {png}: it is a directory")
    try:
        png.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=png.parent, prefix=f".{png.name}.", suffix=".png")
        os.close(fd)
    except OSError as e:
        raise InsituError(f"cannot write {png}: {e.strerror or e}") from None
    try:
        p = _chromium(exe, [f"--screenshot={tmp}"], url, timeout)
        if p.returncode != 0 or os.path.getsize(tmp) == 0:
            raise InsituError(f"--screenshot: {exe} exited {p.returncode} without a screenshot: "
                              f"{_last_line(p.stderr)}")
        os.replace(tmp, png)
    except OSError as e:
        raise InsituError(f"cannot write {png}: {e.strerror or e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    dom = _chromium(exe, ["--dump-dom"], url, timeout)
    if dom.returncode != 0 or not dom.stdout.strip():
        raise InsituError(f"--screenshot: {exe} --dump-dom exited {dom.returncode}: {_last_line(dom.stderr)}")
    missing = [i for i in expected_ids if i not in img_ids(dom.stdout)]
    if missing:
        raise InsituError(f"--screenshot: the page Chromium rendered lacks {', '.join(missing)}")


# ---------------------------------------------------------------- main

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("capture_dir", type=Path, metavar="CAPTURE_DIR", help="a capture directory (capture.json)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="output directory (default: CAPTURE_DIR/view)")
    parser.add_argument("--layers", metavar="A,B", help="only these layers (comma-separated names)")
    parser.add_argument("--screenshot", type=Path, metavar="PNG",
                        help="render index.html with headless Chromium into PNG and check its figures")
    args = parser.parse_args(argv)
    try:
        capture = load_capture(args.capture_dir)
        names = select_layers(capture, args.layers)
        out = args.out if args.out is not None else args.capture_dir / "view"
        index, written, views = render(capture, out, names)
        if args.screenshot is not None:
            screenshot(index, args.screenshot, figure_ids(views))
            written.append(args.screenshot)
    except InsituError as e:
        print(f"insitu_view: error: {e}", file=sys.stderr)
        return 2
    shot = f"; screenshot {args.screenshot}" if args.screenshot is not None else ""
    print(f"wrote {index} and {len(written) - 1 - bool(shot)} figures under {out}{shot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
