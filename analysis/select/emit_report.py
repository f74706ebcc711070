"""Markdown: kernels/generated/bmm_config_sm<arch>.md, why each value of the
header won, with the figures and the files they come from."""
from __future__ import annotations

from typing import Sequence

from analysis.select.candidates import WGMMA_AND_CANDIDATES, wgmma_smem_bytes
from analysis.select.model import PROG, REGEN_HINT, ArchConfig, BmmRanking, Config, Decision, Ranking
from analysis.select.rules import BMM_RULE, NO_CANDIDATES

DASH = "—"


def _md_cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return out


def _fmt(value: float | None, spec: str) -> str:
    return DASH if value is None else format(value, spec)


def _pair(a: str, b: str) -> str:
    return a if a == b else f"{a} + {b}"


def _rate(tops: float, lo: float, hi: float) -> str:
    return f"{tops:,.1f} [{lo:,.1f}–{hi:,.1f}]"


def _ranking_lines(r: Ranking, chosen: str) -> list[str]:
    lines = [f"#### Ranked: {r.title}", "",
             f"Runs: `{r.query}`" + (f" in `{r.source}`" if r.source else "") + f". Order: {r.rule}.", ""]
    if not r.candidates:
        return lines + [f"No candidates: {r.absent or 'none measured'}.", ""]
    skipped = ([("Not measured (skipped by the suite): "
                 + "; ".join(f"`{f}` ({reason})" for f, reason in r.skipped) + "."), ""] if r.skipped else [])
    best = max(c.tops for c in r.candidates)
    is_instr = r.query.startswith("instr")
    if is_instr:
        header = ["rank", "form", "N", "A from", "best TOPS, median [min–max]", "best config", "% of b1 peak",
                  "latency (cycles)", "vs best", "note"]
    else:
        header = ["rank", "layout (A + B)", "TOPS, median [min–max]", "vs best", "note"]
    rows = []
    for i, c in enumerate(r.candidates, 1):
        mark = f"**{i}** (chosen)" if c.name == chosen else str(i)
        vs = f"{100 * c.tops / best:.1f}%"
        if is_instr:
            rows.append([mark, f"`{c.name}`", c.n, c.a_source, _rate(c.tops, c.lo, c.hi), c.config,
                         _fmt(c.pct_peak, ".1f"), _fmt(c.latency_cycles, ".1f"), vs, c.note])
        else:
            rows.append([mark, f"`{_pair(c.a_layout, c.b_layout)}`", _rate(c.tops, c.lo, c.hi), vs, c.note])
    return lines + md_table(header, rows) + [""] + skipped


def _tile_cells(c: Config) -> list[object]:
    return [f"`{_pair(c.a_layout, c.b_layout)}`", f"{c.block_m} × {c.block_n}",
            f"{c.block_k_bits} × {c.stages}", f"{c.cluster_m} × {c.cluster_n}"]


def _bmm_lines(b: BmmRanking) -> list[str]:
    labels = [f"{size}³ {out}" for size, out in b.points]
    lines = ["#### Ranked: measured kWgmmaAnd candidates (bmm suite)", "",
             f"Runs: `bmm/<candidate>/m:M/n:N/k:K/out:*` at M = N = K ∈ {{"
             + ", ".join(dict.fromkeys(str(size) for size, _ in b.points)) + f"}} in `{b.source}` "
             f"(git {b.commit}, {b.device}, created {b.created_utc}); candidates: the `bmm` designs with "
             f"`forms[].candidate` true, read through `forms[].config`. Order: {b.rule}.", ""]
    best = max(c.tops for c in b.candidates)
    header = ["rank", "design", "layout (A = B)", "block M × N", "K bits × stages", "cluster M × N",
              "shared memory (bytes)", "geomean TOPS, median [min–max]", *(f"{label} TOPS" for label in labels),
              "vs best", "note"]
    rows = []
    for i, c in enumerate([*b.candidates, *b.excluded], 1):
        chosen = c is b.candidates[0]
        rows.append([f"**{i}** (chosen)" if chosen else str(i), f"`{c.name}`", *_tile_cells(c.config),
                     f"{c.smem_bytes:,}", _rate(c.tops, c.lo, c.hi),
                     *(_rate(p.tops, p.lo, p.hi) for p in c.points), f"{100 * c.tops / best:.1f}%", c.note])
    return lines + md_table(header, rows) + [""]


def _candidate_table_lines() -> list[str]:
    rows = [[i, *_tile_cells(c), f"{wgmma_smem_bytes(c):,}"] for i, c in enumerate(WGMMA_AND_CANDIDATES, 1)]
    return ["#### kWgmmaAnd candidates", "",
            f"No measured candidates ({NO_CANDIDATES}): the values above are defaults. A "
            f"`-DBTC_BMM_CANDIDATES=ON` build registers one `wgmma_and` design per row of "
            f"`bmm_candidates_sm90.h` (below), and a `bmm` sweep of it decides layout, tile, ring and "
            f"cluster (scripts/regenerate_config.sh runs both). The ranking: {BMM_RULE}.", "",
            *md_table(["row", "layout (A = B)", "block M × N", "K bits × stages", "cluster M × N",
                       "shared memory (bytes)"], rows), ""]


def _design_cell(d: Decision) -> str:
    return f"{d.design} (`{d.selected_design}`)" if d.selected_design else d.design


def render_report(ac: ArchConfig) -> str:
    lines = [f"# BMM kernel configuration for sm_{ac.arch}", "",
             f"Generated by `{PROG}` with `bmm_config_sm{ac.arch}.h`. Do not edit; "
             f"regenerate with {REGEN_HINT}.", "",
             f"**Source:** {ac.source}", ""]
    if ac.files or ac.bmm_unused:
        if ac.files:
            lines += md_table(["suite", "file", "created (UTC)", "device", "cc", "git"],
                              [[f.suite, f"`{f.name}`", f.created_utc, f"{f.device} (`{f.slug}`)", f.cc, f.commit]
                               for f in ac.files])
            lines.append("")
        if ac.unused:
            lines += ["Older files of the same suites, not used (the newest file of each suite by "
                      "`btcbench.created_utc` decides): " + ", ".join(f"`{n}`" for n in ac.unused) + ".", ""]
        if ac.bmm_unused:
            lines += [f"bmm files not used (the newest with measured `wgmma_and` candidates for sm_{ac.arch} "
                      "decides): " + ", ".join(f"`{n}`" for n in ac.bmm_unused) + ".", ""]
        missing = [s for s in ac.missing if s != "bmm"]
        if missing:
            lines += [f"No results for the suite(s) {', '.join(missing)}: the values they would decide "
                      f"are defaults below.", ""]
        lines += ["Values marked *measured* were decided by the figures shown; *tie-break* is a rule applied "
                  "where the measurement does not separate the candidates; *fixed* is set by the design; "
                  "*default* is not measured by the suites yet.", ""]
    else:
        lines += ["**Defaults: not measured.** No results file was used for this arch; every value below is "
                  "a built-in default.", "", ac.defaults_why, ""]
    lines += ["## Summary", ""]
    lines += md_table(["constant", "design", "instruction", "A layout", "B layout", "block M × N",
                       "block K bits", "stages", "warps", "cluster M × N", "status"],
                      [[f"`{d.const}`", _design_cell(d), f"`{d.instruction}`", f"`{d.config.a_layout}`",
                        f"`{d.config.b_layout}`", f"{d.config.block_m} × {d.config.block_n}",
                        d.config.block_k_bits, d.config.stages, d.config.warps,
                        f"{d.config.cluster_m} × {d.config.cluster_n}",
                        "supported" if d.supported else f"unsupported on sm_{ac.arch}: not emitted"]
                       for d in ac.decisions])
    lines.append("")
    for d in ac.decisions:
        lines += [f"## `{d.const}` ({d.design}" + (f": `{d.selected_design}`" if d.selected_design else "") + ")", ""]
        lines += md_table(["field", "value", "basis", "why"],
                          [[b.field, f"`{b.value}`" if b.value not in ("placeholder", "built-in")
                            else b.value, b.kind, b.why] for b in d.basis])
        lines.append("")
        for note in d.notes:
            lines += [note, ""]
        if d.bmm is not None:
            lines += _bmm_lines(d.bmm)
        elif d.design == "wgmma_and" and d.supported and ac.files:
            lines += _candidate_table_lines()
        for r in d.rankings:
            chosen = d.instruction if r.query.startswith("instr") else next(
                (c.name for c in r.candidates if (c.a_layout, c.b_layout) == (d.config.a_layout, d.config.b_layout)),
                "")
            lines += _ranking_lines(r, chosen)
    return "\n".join(lines).rstrip("\n") + "\n"
