#!/usr/bin/env python3
"""PyTorch cross-check of the BConv designs: torch.nn.functional.conv2d on the
same ±1 tensors must give exactly the int32 z a design computed.

Input: a directory written by the GPU tests with BTC_BCONV_DUMP=DIR
(tests/gpu/test_bconv_gpu.cpp): per (design, layer) <base>.json (the
problem), <base>.x.i8 (NHWC ±1), <base>.w.i8 (KRSC ±1), <base>.z.i32 (NPQK).
Runs on the GPU when torch sees one (fp64 there: every z is exact), else CPU.

usage: bconv_torch_check.py DIR [--out FILE]   exit 0: all equal; 1: a mismatch; 2: bad input / no torch
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--out", type=Path, help="also write the per-case lines here")
    args = ap.parse_args(argv)
    try:
        import numpy as np
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        print(f"bconv_torch_check: needs numpy and torch ({e}); skipped", file=sys.stderr)
        return 2
    metas = sorted(args.dir.glob("*.json")) if args.dir.is_dir() else []
    if not metas:
        print(f"bconv_torch_check: no dumps in {args.dir} (run the GPU tests with BTC_BCONV_DUMP={args.dir})",
              file=sys.stderr)
        return 2
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    lines, bad = [f"torch {torch.__version__} on {torch.cuda.get_device_name(0) if dev == 'cuda' else 'cpu'}"], 0
    for meta in metas:
        base = str(meta)[: -len(".json")]
        try:
            p = json.loads(meta.read_text())
            n, h, w, c, k, r, s = (p[key] for key in ("n", "h", "w", "c", "k", "r", "s"))
            x = np.fromfile(base + ".x.i8", dtype=np.int8).reshape(n, h, w, c)
            wt = np.fromfile(base + ".w.i8", dtype=np.int8).reshape(k, r, s, c)
            z = np.fromfile(base + ".z.i32", dtype=np.int32)
        except (OSError, ValueError, KeyError) as e:
            print(f"bconv_torch_check: {meta.name}: unreadable dump ({e})", file=sys.stderr)
            return 2
        xt = torch.from_numpy(x).to(dev, torch.float64).permute(0, 3, 1, 2)
        wt_ = torch.from_numpy(wt).to(dev, torch.float64).permute(0, 3, 1, 2)
        pad, pv = p["pad"], p["pad_value"]
        if pv == 0:
            y = F.conv2d(xt, wt_, stride=p["stride"], padding=pad)
        else:  # larq pad_values = ±1: a real input value at every padded position
            y = F.conv2d(F.pad(xt, (pad, pad, pad, pad), value=float(pv)), wt_, stride=p["stride"])
        want = y.permute(0, 2, 3, 1).reshape(-1).cpu().numpy()
        if want.size != z.size:
            lines.append(f"MISMATCH {Path(base).name}: {z.size} values, torch gives {want.size}")
            bad += 1
            continue
        diff = int(np.count_nonzero(want.astype(np.int64) != z.astype(np.int64)))
        bad += diff > 0
        lines.append(f"{'ok' if diff == 0 else 'MISMATCH'} {Path(base).name}: {z.size} outputs, {diff} differ")
    lines.append(f"{len(metas) - bad} of {len(metas)} cases equal torch.nn.functional.conv2d exactly")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
