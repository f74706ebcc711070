"""The BConv selection: per layer, batch and output (the fused bits epilogue,
int32 for a layer whose pre-activation is kept: a residual, or half: a
Bi-Real layer's fused BN + fp16 shortcut), the fastest tensor-core design of a `bconv` results
file (median time), written as data the network runner reads and a table
that says why.

    python3 -m analysis.select.bconv RESULTS.json [--out kernels/generated]
    python3 -m analysis.select.bconv results/<gpu-slug> [--out ...]   # its newest bconv file with
                                                  # tensor-core runs

writes bconv_selection_sm<arch>.json (the choices: problem, design, its
generated tile, time, runner-up and margin), bconv_selection_sm<arch>.md
(the table that says why) and bconv_selection_sm<arch>.h (the choices as the
C++ table kernels/bconv/bconv_selection.cpp looks a layer up in: the network
runner's design per layer under `--designs auto`).
Exit: 0 written, 2 error (one line naming the file; nothing written).
"""
from __future__ import annotations

import sys
from typing import Any, Sequence

from analysis import bconv_report as bc
from analysis import btcresults as br
from analysis.select import ranking

# The fused epilogue; int32 where the runner keeps z; half: a Bi-Real
# layer's fused BN + fp16 shortcut (sweeps time it since 2026-12-03).
OUTS = ("bits", "int32", "half")
CPP_OUT = {"bits": "SelectedOutput::kBits", "int32": "SelectedOutput::kInt32", "half": "SelectedOutput::kHalf"}


def choices(results: br.Results) -> list[dict[str, Any]]:
    """One row per problem and output some tensor-core design ran, in network
    order for ResNet-18's layers, then the rest in file order; bits, int32,
    then half for each problem. Ranked as analysis.select.ranking says."""
    data = bc.collect(results)
    order = {p: i for i, p in enumerate(data.resnet_problems)}
    problems = sorted(data.problems, key=lambda p: (p not in order, order.get(p, 0)))
    designs = ranking.candidates(data.tensor_designs)
    rows = []
    for p, out in ((p, out) for p in problems for out in OUTS):
        ranked = ranking.rank([data.get(d.name, p, out) for d in designs])
        if ranked is None:
            continue
        rows.append({"n": p.n, "hw": p.hw, "c": p.c, "k": p.k, "rs": p.rs, "stride": p.stride, "pad": p.pad,
                     "out": out, "groups": list(data.groups.get(p, ())), **ranking.choice_fields(ranked)})
    return rows


def render(results: br.Results, rows: list[dict[str, Any]]) -> tuple[str, str]:
    return ranking.render_doc(
        results, rows, schema="btcbench.bconv_selection.v4", outputs=OUTS, title="BConv selection", module="bconv",
        intro="Per layer, batch and output (the fused bits epilogue, int32 where the runner keeps the "
              "pre-activation, or half: a Bi-Real layer's fused batch norm and fp16 shortcut), " + ranking.RANK_SENTENCE,
        first_columns=("layer", "batch", "output"),
        cells=lambda r: [bc.Layer(r["hw"], r["c"], r["k"], r["rs"], r["stride"]).label, str(r["n"]), r["out"]])


def render_header(results: br.Results, rows: list[dict[str, Any]], arch: int) -> str:
    """The choices as rows of btc::bconv::SelectedDesign (kernels/config/bconv_selection_row.h)."""
    return ranking.cpp_table(
        results, arch, module="bconv", stem="bconv_selection", row_header="bconv_selection_row",
        what="Per problem, batch and output (bits, int32 or half), the fastest tensor-core BConv design.",
        namespace="btc::bconv", columns="n, hw, c, k, rs, stride, pad, output, design",
        rows=[f"{r['n']}, {r['hw']}, {r['c']}, {r['k']}, {r['rs']}, {r['stride']}, {r['pad']}, "
              f"{CPP_OUT[r['out']]}, \"{r['design']}\"" for r in rows])


def main(argv: Sequence[str] | None = None) -> int:
    sel = ranking.Selection("bconv", "bconv", "bconv_selection", choices, render, render_header)
    return ranking.main(sel, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
