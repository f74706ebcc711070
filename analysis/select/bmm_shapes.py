"""The BMM per-shape selection: per problem (M × N × K: batch × outputs ×
input bits of a binary fully connected layer) and output (the fused bits
epilogue, or int32 where the runner keeps the pre-activation), the fastest
tensor-core design of a `bmm` results file, written as data the network
runner reads and a table that says why.

    python3 -m analysis.select.bmm_shapes RESULTS.json [--out kernels/generated]
    python3 -m analysis.select.bmm_shapes results/<gpu-slug> [--out ...]   # its newest bmm file with
                                                  # tensor-core runs

writes bmm_selection_sm<arch>.json (the choices: problem, design, its
generated tile, time, runner-up and margin), bmm_selection_sm<arch>.md (the
table) and bmm_selection_sm<arch>.h (the C++ table kernels/bmm/bmm_selection.cpp
looks a layer up in: the runner tries that design first under `--designs auto`).
The tile of each design is analysis.select's (bmm_config_sm<arch>.h); this
picks among designs per shape, where the skinny shapes of a network's FC
layers want another design than the square ones.
Exit: 0 written, 2 error (one line naming the file; nothing written).
"""
from __future__ import annotations

import sys
from typing import Any, Sequence

from analysis import bmm_report as bm
from analysis import btcresults as br
from analysis.select import ranking

OUTS = ("bits", "int32")
CPP_OUT = {"bits": "SelectedOutput::kBits", "int32": "SelectedOutput::kInt32"}


def choices(results: br.Results) -> list[dict[str, Any]]:
    """One row per problem and output some tensor-core design ran: problems
    by (N, K, M), so one layer's batches sit together; bits, then int32."""
    data = bm.collect(results)
    designs = ranking.candidates(data.tensor_designs)
    rows = []
    for p in sorted(data.problems, key=lambda p: (p.n, p.k, p.m)):
        for out in OUTS:
            ranked = ranking.rank([data.get(d.name, p, out) for d in designs])
            if ranked is not None:
                rows.append({"m": p.m, "n": p.n, "k": p.k, "out": out, **ranking.choice_fields(ranked)})
    return rows


def render(results: br.Results, rows: list[dict[str, Any]]) -> tuple[str, str]:
    return ranking.render_doc(
        results, rows, schema="btcbench.bmm_selection.v1", outputs=OUTS, title="BMM selection per shape",
        module="bmm_shapes",
        intro="Per problem M × N × K (a binary FC layer: batch × outputs × input bits) and output "
              "(the fused bits epilogue, or int32 where the runner keeps the pre-activation), "
              + ranking.RANK_SENTENCE
              + " The runner takes the row of the layer's N, K and output at the largest M not above its batch "
              "(else the smallest M); a layer whose N × K the sweep did not time keeps the family order "
              "(wgmma_and, mma_and, btc_wmma). The time is the kernel's alone: a design whose A is not the "
              "producer's row_u32 bits also costs the network a relayout step.",
        first_columns=("M × N × K", "output"),
        cells=lambda r: [f"{r['m']} × {r['n']} × {r['k']}", r["out"]])


def render_header(results: br.Results, rows: list[dict[str, Any]], arch: int) -> str:
    """The choices as rows of btc::bmm::SelectedBmm (kernels/config/bmm_selection_row.h)."""
    return ranking.cpp_table(
        results, arch, module="bmm_shapes", stem="bmm_selection", row_header="bmm_selection_row",
        what="Per problem M x N x K and output (bits or int32), the fastest tensor-core BMM design.",
        namespace="btc::bmm", columns="m, n, k, output, design",
        rows=[f"{r['m']}, {r['n']}, {r['k']}, {CPP_OUT[r['out']]}, \"{r['design']}\"" for r in rows])


def main(argv: Sequence[str] | None = None) -> int:
    sel = ranking.Selection("bmm_shapes", "bmm", "bmm_selection", choices, render, render_header)
    return ranking.main(sel, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
