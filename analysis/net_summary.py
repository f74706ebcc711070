"""The newest figure of each published comparison, across one GPU's net
results files: one table beside the published figures (TCBNN, SBNN), each of
our figures naming the file and commit it comes from.

    python3 -m analysis.net_summary RESULTS_DIR     # results/<gpu-slug>/

writes RESULTS_DIR/net-latest.md (atomically). A net sweep is often filtered
to a few models, so the newest file's own report leaves the others blank;
this takes, per model, the newest (btcbench.created_utc) batch-1 median
latency of the tensor-core network (`btc`) and its newest images/s at the
published (else the paper's) batch, each naming its file. analysis.rebuild_all writes it for every folder with net
results. Exit: 0 written, 2 error (one line; nothing written).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from analysis import btcresults as br
from analysis import net_report as nr
from analysis import report_common as rc

PROG = "python3 -m analysis.net_summary"
SUMMARY_NAME = "net-latest.md"
DASH = "—"


def _label(results: br.Results) -> str:
    git = results.meta.get("git", {})
    return f"`{results.path.name}` ({str(git.get('commit'))[:7]}{'-dirty' if git.get('dirty') else ''})"


@dataclass(frozen=True)
class Figure:
    value: float
    batch: int
    results: br.Results


@dataclass(frozen=True)
class NetFiles:
    files: list[tuple[br.Results, nr.NetData]]   # newest first
    corrupt: list[str]                           # names of the files that did not load: left out, and said so


def net_files(results_dir: Path) -> NetFiles:
    """The folder's net results files (a torch baseline's too: only btc
    forwards are read), newest first; a corrupt one is left out by name."""
    loaded, corrupt = [], []
    for p in sorted(results_dir.glob("*.json")):
        if p.name.split("-")[0] not in ("net", "torch"):
            continue
        try:
            r = br.load(p)
            if r.suite == nr.SUITE:
                loaded.append((r, nr.collect(r)))
        except br.ResultsError:
            corrupt.append(p.name)
    loaded.sort(key=lambda f: (str(f[0].meta.get("created_utc", "")), f[0].path.name), reverse=True)
    return NetFiles(loaded, corrupt)


def latency_ms(files: Sequence[tuple[br.Results, nr.NetData]], model: str) -> Figure | None:
    """The newest btc batch-1 median latency of the model."""
    for r, data in files:
        f = data.forward(model, 1, nr.BTC)
        if f and f.measured and f.latency_us:
            return Figure(f.latency_us / 1e3, 1, r)
    return None


def images_per_s(files: Sequence[tuple[br.Results, nr.NetData]], model: str, batch: int | None) -> Figure | None:
    """The newest btc images/s of the model at `batch` (the published or the
    paper batch); where no file has that batch (or none is given), the
    newest file's best over the batches it measured."""
    if batch is not None:
        for r, data in files:
            f = data.forward(model, batch, nr.BTC)
            if f and f.measured and f.images_per_s:
                return Figure(f.images_per_s, batch, r)
    for r, data in files:
        if (best := data.best(model, nr.BTC)) is not None and best.images_per_s:
            return Figure(best.images_per_s, best.batch, r)
    return None


HEADER = ["Model", "Published (GPU)", "Batch-1 latency ms, published", "ours (btc)", "Published / ours",
          "Images/s, published", "ours (btc)", "Ours / published", "Our files (commit)", "Source"]


def rows(files: Sequence[tuple[br.Results, nr.NetData]]) -> list[list[object]]:
    out: list[list[object]] = []
    for (system, model), p in nr.PUBLISHED.items():
        want = p.batch or nr.PAPER_BATCH.get(model)
        lat = latency_ms(files, model)
        rate = images_per_s(files, model, want)
        ratio_ms = rc.ratio(p.latency_ms, lat.value if lat else None)
        ratio_rate = rc.ratio(rate.value if rate else None, p.images_per_s)
        rate_cell = DASH
        if rate:
            note = "" if want is None or rate.batch == want else f"; batch {want} not measured"
            rate_cell = f"{rate.value:,.0f} (batch {rate.batch}{note})"
        sources = [f"latency: {_label(lat.results)}"] if lat else []
        if rate:
            sources.append(f"images/s: {_label(rate.results)}")
        out.append([f"`{model}`", f"{system} ({p.gpu}{', batch ' + str(p.batch) if p.batch else ''})",
                    rc.fmt(p.latency_ms, "g"), rc.fmt(lat.value if lat else None, ",.3f"),
                    f"{ratio_ms:,.2f}×" if ratio_ms else DASH, rc.fmt(p.images_per_s, ",.0f"), rate_cell,
                    f"{ratio_rate:,.2f}×" if ratio_rate else DASH,
                    "; ".join(sources) or "not measured on this GPU", p.source])
    return out


def render(results_dir: Path, found: NetFiles) -> str:
    files = found.files
    devices = sorted({str(r.device.get("name")) for r, _ in files})
    lines = [f"# Networks on {', '.join(devices) or results_dir.name}: the newest figure beside each published one",
             "",
             f"Generated by `{PROG}` from the {len(files)} net results files of `{results_dir.name}/`. "
             "Do not edit. Per model, the tensor-core network's (`btc`) newest batch-1 median latency, and its "
             "newest median images/s at the published batch (else the model's paper batch; where no file has "
             "that batch, the newest file's best over the batches it measured, so marked). Each figure names "
             "its file; nothing is combined within a figure. Ratios > 1 mean ours is faster; the GPUs differ. "
             "Each file's own report has its conditions (clocks, throttling) and the goals.",
             "",
             *rc.table(HEADER, rows(files)), ""]
    if found.corrupt:
        lines += [f"Left out, corrupt (`python3 -m analysis.report FILE` says why): "
                  f"{', '.join(f'`{n}`' for n in found.corrupt)}.", ""]
    return "\n".join(lines)


def write_summary(results_dir: Path) -> Path | None:
    """Write results_dir/net-latest.md where the folder has net results; its path, else None."""
    found = net_files(results_dir)
    if not found.files:
        return None
    path = results_dir / SUMMARY_NAME
    br.write_atomic(path, render(results_dir, found))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("results_dir", type=Path, help="one GPU's results folder (results/<gpu-slug>)")
    args = ap.parse_args(argv)
    try:
        if not args.results_dir.is_dir():
            raise br.ResultsError(f"{args.results_dir}: not a folder")
        path = write_summary(args.results_dir)
        if path is None:
            raise br.ResultsError(f"{args.results_dir}: no net results files that load")
    except (br.ResultsError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
