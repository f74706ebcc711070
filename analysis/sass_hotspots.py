"""Where a kernel's warps wait, per SASS region, from an Nsight Compute
source page exported as CSV:

    ncu --set full -k regex:<kernel> -o rep <program ...>
    ncu -i rep.ncu-rep --page source --csv --print-source sass > sass.csv
    python3 -m analysis.sass_hotspots sass.csv[.gz] --split 'WARPGROUP.ARRIVE' 'DEPBAR.LE gsb0, 0x0' 'EXIT'

Regions: the instructions between split points, in address order; each
--split PATTERN ends the current region at the first instruction (after the
previous split) whose SASS contains PATTERN (a region boundary sits just
before it, except that the last split's match ends its region after itself).
Per region: share of all stall samples, executed warp-instructions (per
--per unit, e.g. per warp-tile), the leading stall reasons, and the opcode mix.
Then the top instructions by samples. Stall sampling covers every warp, so
the shares are of warp time, not of elapsed time.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

SAMPLES = "Warp Stall Sampling (All Samples)"
EXECUTED = "Instructions Executed"


class SassError(Exception):
    """A CSV that is not an ncu source-page export, or a split that never matches."""


@dataclass
class Instr:
    address: int
    sass: str
    samples: float
    executed: float
    stalls: dict[str, float]

    @property
    def opcode(self) -> str:
        words = self.sass.split()
        if not words:
            return "?"
        op = words[1] if words[0].startswith("@") and len(words) > 1 else words[0]
        return op.split(".")[0]


@dataclass
class Region:
    name: str
    instrs: list[Instr] = field(default_factory=list)

    def samples(self) -> float:
        return sum(i.samples for i in self.instrs)

    def executed(self) -> float:
        return sum(i.executed for i in self.instrs)

    def stalls(self) -> Counter:
        c: Counter = Counter()
        for i in self.instrs:
            c.update(i.stalls)
        return c

    def opcodes(self) -> Counter:
        c: Counter = Counter()
        for i in self.instrs:
            c[i.opcode] += i.executed
        return c


def _num(text: str) -> float:
    text = text.strip().replace(",", "")
    return float(text) if text not in ("", "-") else 0.0


def parse(text: str) -> list[Instr]:
    """The instructions of the first kernel in an ncu `--page source --csv` export."""
    rows = list(csv.reader(io.StringIO(text)))
    header_at = next((k for k, r in enumerate(rows) if r[:2] == ["Address", "Source"]), None)
    if header_at is None:
        raise SassError("no 'Address,Source' header: not an ncu --page source --csv export")
    head = rows[header_at]
    for col in (SAMPLES, EXECUTED):
        if col not in head:
            raise SassError(f"column '{col}' missing: export with --set full (source counters)")
    i_samp, i_exec = head.index(SAMPLES), head.index(EXECUTED)
    stall_cols = [(k, c[len("stall_"):]) for k, c in enumerate(head)
                  if c.startswith("stall_") and "Not Issued" not in c]
    out = []
    for r in rows[header_at + 1:]:
        if len(r) != len(head):
            break  # the next kernel's block, or the end
        try:
            addr = int(r[0], 16)
        except ValueError:
            break
        out.append(Instr(addr, r[1].strip(), _num(r[i_samp]), _num(r[i_exec]),
                         {name: _num(r[k]) for k, name in stall_cols}))
    if not out:
        raise SassError("no instructions under the header")
    out.sort(key=lambda i: i.address)
    return out


def split_regions(instrs: Sequence[Instr], splits: Sequence[str]) -> list[Region]:
    regions, k = [], 0
    for n, pattern in enumerate(splits):
        last = n == len(splits) - 1
        at = next((j for j in range(k + (1 if n else 0), len(instrs)) if pattern in instrs[j].sass), None)
        if at is None:
            raise SassError(f"split '{pattern}' matches no instruction after the previous split")
        end = at + 1 if last else at
        regions.append(Region(f"to '{pattern}'" if n == 0 else f"'{splits[n - 1]}' .. '{pattern}'",
                              list(instrs[k:end])))
        k = end
    regions.append(Region("rest" if splits else "all", list(instrs[k:])))
    return [r for r in regions if r.instrs]


def report(instrs: Sequence[Instr], splits: Sequence[str], per: float = 1.0, top: int = 15) -> str:
    total = sum(i.samples for i in instrs) or 1.0
    lines = [f"{len(instrs)} instructions, {total:,.0f} stall samples; executed counts are per {per:,.0f}"
             if per != 1 else f"{len(instrs)} instructions, {total:,.0f} stall samples"]
    lines.append("")
    lines.append("| region | samples | executed | leading stalls | top opcodes (executed) |")
    lines.append("|---|---|---|---|---|")
    for reg in split_regions(instrs, splits):
        s = reg.samples()
        st = ", ".join(f"{k} {v / s * 100:.0f}%" for k, v in reg.stalls().most_common(4) if v > 0) if s else "—"
        ops = ", ".join(f"{k} {v / per:,.0f}" for k, v in reg.opcodes().most_common(6) if v > 0)
        lines.append(f"| {reg.name} | {s / total * 100:.1f}% | {reg.executed() / per:,.1f} | {st} | {ops} |")
    lines.append("")
    lines.append(f"Top {top} instructions by stall samples:")
    lines.append("")
    lines.append("| offset | samples | leading stall | SASS |")
    lines.append("|---|---|---|---|")
    base = instrs[0].address
    for i in sorted(instrs, key=lambda i: -i.samples)[:top]:
        lead = max(i.stalls.items(), key=lambda kv: kv[1], default=("—", 0))[0]
        lines.append(f"| 0x{i.address - base:x} | {i.samples / total * 100:.1f}% | {lead} | `{i.sass}` |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m analysis.sass_hotspots", description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", type=Path)
    ap.add_argument("--split", nargs="*", default=[], metavar="PATTERN",
                    help="SASS substrings that end each region, in address order")
    ap.add_argument("--per", type=float, default=1.0, help="divide executed counts by this (e.g. warp-tiles)")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args(argv)
    try:
        raw = args.csv.read_bytes()
        text = (gzip.decompress(raw) if args.csv.suffix == ".gz" else raw).decode(errors="replace")
        print(report(parse(text), args.split, args.per, args.top), end="")
    except (OSError, EOFError, zlib.error, csv.Error, SassError) as e:   # gzip: OSError, EOFError, zlib.error
        print(f"sass_hotspots: error: {args.csv}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
