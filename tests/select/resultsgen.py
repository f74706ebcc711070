"""Small synthetic btcbench results files (schema btcbench.results.v1) for the
analysis.select tests: each run is three aggregate entries (median, min, max),
the counters on the median, figures chosen by the test.

Run as a script from the repo root to rewrite the checked-in golden fixture set
and its expected output (review the diff before committing):

    PYTHONPATH=. python3 tests/select/resultsgen.py    # fixtures/sm90/*.json + golden/*
"""
from __future__ import annotations

import json
import re
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping

from analysis.select import cli
from analysis.select.model import Config

HERE = Path(__file__).resolve().parent
FIXTURE_DIR = HERE / "fixtures" / "sm90"
GOLDEN_DIR = HERE / "golden"

H100 = {
    "ordinal": 0, "name": "NVIDIA H100 80GB HBM3", "slug": "nvidia-h100-80gb-hbm3", "cc": "9.0",
    "sm_count": 132, "l2_bytes": 52428800, "smem_per_block_optin_bytes": 232448,
    "sm_clock_max_mhz": 1980, "mem_clock_max_mhz": 2619, "sm_clock_at_start_mhz": 1980,
    "driver_version": "580.159.04", "cuda_driver_api": 13000, "cuda_runtime": 13000,
    "cupti_api": 130001, "chip": "GH100",
}
SPREAD = 0.01   # min/max repetition times: median time * (1 -/+ SPREAD)


def device(name: str = H100["name"], slug: str = H100["slug"], cc: str = "9.0", **extra: Any) -> dict[str, Any]:
    return {**H100, "name": name, "slug": slug, "cc": cc, **extra}


def _run(name: str, time_us: float, counters: Mapping[str, float]) -> list[dict[str, Any]]:
    base = {"run_name": name, "run_type": "aggregate", "repetitions": 3, "threads": 1,
            "iterations": 3, "time_unit": "us", "family_index": 0, "per_family_instance_index": 0}
    return [
        {**base, "name": f"{name}_median", "aggregate_name": "median", "real_time": time_us,
         "cpu_time": time_us, **counters},
        {**base, "name": f"{name}_min", "aggregate_name": "min", "real_time": time_us * (1 - SPREAD),
         "cpu_time": time_us * (1 - SPREAD)},
        {**base, "name": f"{name}_max", "aggregate_name": "max", "real_time": time_us * (1 + SPREAD),
         "cpu_time": time_us * (1 + SPREAD)},
    ]


def _doc(suite: str, created: str, dev: Mapping[str, Any], forms: dict[str, Any],
         benchmarks: list[dict[str, Any]], skipped: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "context": {"date": created, "host_name": "fixture", "executable": "btcbench",
                    "btcbench_schema": "btcbench.results.v1", "btcbench_suite": suite,
                    "device_name": dev["name"]},
        "benchmarks": benchmarks,
        "btcbench": {
            "schema": "btcbench.results.v1", "suite": suite, "created_utc": created,
            "command_line": ["btcbench", "sweep", suite],
            "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "describe": "0123456", "dirty": False},
            "build": {"cuda_toolkit": "13.0.88", "cuda_archs": "75,80,90a", "compiler": "GNU 12.2.0"},
            "device": dict(dev),
            "counters": {"enabled": False, "reason": "fixture", "metrics": []},
            "peaks": {"b1": {"ops_per_clk_per_sm": 65536, "source": "fixture"}},
            "forms": forms,
            "skipped": skipped or [],
        },
    }


# The instr suite's form names, as instr_forms.cpp spells them: the fixture
# writer derives each form's fields from its name (the selection never does).
_FORM_NAME = re.compile(r"(?P<engine>wgmma|wmma|mma)_(?P<op>and|xor|s8|f16)_m(?P<m>\d+)n(?P<n>\d+)k(?P<k>\d+)"
                        r"(?:_(?P<src>ss|rs))?")


def instr_form(name: str, status: str = "measured", like: str | None = None, **fields: Any) -> dict[str, Any]:
    """forms[name] of an instr file: the fields of the form `like` (default:
    name itself) names, then `fields` on top (a form whose name lies)."""
    m = _FORM_NAME.fullmatch(like or name)
    assert m, f"{like or name}: not an instr form name; pass like=<a form name>"
    engine, op, (mm, n, k) = m["engine"], m["op"], (int(m[x]) for x in "mnk")
    dtype = "b1" if op in ("and", "xor") else op
    group = ("wgmma" if engine == "wgmma" else op) if dtype == "b1" else "reference"
    if engine == "wgmma":
        ptx = f"wgmma.mma_async.sync.aligned.m{mm}n{n}k{k}.s32.{dtype}.{dtype}" + (".and.popc" if dtype == "b1" else "")
    else:
        prefix = "wmma.mma.sync.aligned.row.col" if engine == "wmma" else "mma.sync.aligned"
        ptx = f"{prefix}.m{mm}n{n}k{k}.row.col.s32.{dtype}.{dtype}.s32" + (f".{op}.popc" if dtype == "b1" else "")
    wgmma = engine == "wgmma"
    min_sm = 90 if wgmma else 75 if (op == "xor" and (mm, n, k) == (8, 8, 128)) else 80
    return {"ptx": ptx, "group": group, "dtype": dtype, "m": mm, "n": n, "k": k, "ops_per_inst": 2 * mm * n * k,
            "a_source": "smem" if m["src"] == "ss" else "reg", "threads_per_issue": 128 if wgmma else 32,
            "min_sm": min_sm, "needs_sm90a": wgmma, "status": status, **fields}


def instr_doc(forms: Mapping[str, Any], *, created: str = "2026-11-27T22:20:02Z",
              dev: Mapping[str, Any] | None = None, skipped: Mapping[str, str] | None = None) -> dict[str, Any]:
    """forms: name -> TOPS (one tput run at wps 8, ilp 8) or a dict with
    tops, wps, ilp, lat (cycles), pct (of peak), extra: [(wps, ilp, tops)...],
    like (a form name to take the fields from), fields (fields to set).
    skipped: name -> reason (status skipped, no runs)."""
    meta, benchmarks = {}, []
    for name, spec in forms.items():
        spec = {"tops": spec} if isinstance(spec, (int, float)) else dict(spec)
        meta[name] = instr_form(name, like=spec.get("like"), **spec.get("fields", {}))
        benchmarks += _run(f"lat/{name}/manual_time", 100.0, {"cycles_per_inst": spec.get("lat", 24.0)})
        runs = [(spec.get("wps", 8), spec.get("ilp", 8), spec["tops"])] + list(spec.get("extra", []))
        for wps, ilp, tops in runs:
            counters = {"tops": tops, "pct_peak": spec.get("pct", tops / 158.254), "sm_clock_mhz": 1830.0}
            benchmarks += _run(f"tput/{name}/wps:{wps}/ilp:{ilp}/manual_time", 2000.0, counters)
    for name, reason in (skipped or {}).items():
        meta[name] = instr_form(name, "skipped")
    return _doc("instr", created, dev or device(), meta, benchmarks,
                [{"form": n, "reason": r} for n, r in (skipped or {}).items()])


LAYOUT_BLOCK = {"wmma_xor": 64, "wmma_and": 64, "mma_and": 64, "wgmma_and": 128}


def layout_doc(engines: Mapping[str, Mapping[str, float]], *, created: str = "2026-11-27T22:46:53Z",
               dev: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """engines: engine -> {layout name -> median TOPS}. The layout
    mma_frag_a16x256 runs A in mma_frag_a16x256 and B in mma_frag_b8x256."""
    forms, benchmarks = {}, []
    for engine, layouts in engines.items():
        for lay, tops in layouts.items():
            b = "mma_frag_b8x256" if lay == "mma_frag_a16x256" else lay
            blk = LAYOUT_BLOCK.get(engine, 64)
            forms[f"{engine}_{lay}"] = {"engine": engine, "a_layout": lay, "b_layout": b, "block_m": blk,
                                        "block_n": blk, "slab_k_bits": 1024, "status": "measured"}
            benchmarks += _run(f"layout/{engine}/layout:{lay}/manual_time", 13000.0,
                               {"tops": tops, "gbps": tops * 2.0, "m": 8192, "n": 8192, "k": 32768,
                                "block_m": blk, "block_n": blk})
    return _doc("layout", created, dev or device(), forms, benchmarks)


STRIDE_PATHS = {"wmma_shared": ("wmma", "shared", 8, 128, 128), "mma_shared": ("mma", "shared", 16, 256, 512),
                "wmma_global": ("wmma", "global", 8, 128, 128)}


def stride_doc(points: Mapping[tuple[str, int], float], *, created: str = "2026-11-27T22:46:40Z",
               dev: Mapping[str, Any] | None = None, conflicts: Mapping[tuple[str, int], float] | None = None,
               sectors: Mapping[tuple[str, int], float] | None = None) -> dict[str, Any]:
    """points: (path, ldm) -> useful GB/s of the load-mode run; conflicts and
    sectors: (path, ldm) -> shared bank conflicts / global sectors per tile load."""
    forms, benchmarks = {}, []
    for (path, ldm), gbps in points.items():
        loader, space, rows, tile_k, tile_bytes = STRIDE_PATHS[path]
        forms[path] = {"loader": loader, "space": space, "rows": rows, "tile_k_bits": tile_k,
                       "tile_bytes": tile_bytes, "min_sm": 75, "status": "measured"}
        loads = 1_000_000.0
        counters = {"useful_gbps": gbps, "tile_loads": loads, "tile_bytes": tile_bytes, "iters": 10}
        if conflicts and (path, ldm) in conflicts:
            counters["cupti.l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum"] = conflicts[(path, ldm)] * loads
        if sectors and (path, ldm) in sectors:
            counters["cupti.l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum"] = sectors[(path, ldm)] * loads
        benchmarks += _run(f"stride/{path}/mode:load/ldm:{ldm}/manual_time", 1000.0, counters)
    return _doc("stride", created, dev or device(), forms, benchmarks)


BMM_SIZES = (8192, 16384)
BMM_OUTS = ("int32", "bits")


def bmm_config(layout: str = "wgmma_swizzle64", block_n: int = 256, block_k_bits: int = 512, stages: int = 8,
               cluster: tuple[int, int] = (1, 1), block_m: int = 128, warps: int = 8) -> dict[str, Any]:
    """forms[].config of a wgmma_and design, as the bmm suite writes it."""
    return asdict(Config(layout, layout, block_m, block_n, block_k_bits, stages, warps, *cluster))


def bmm_doc(designs: Mapping[str, Mapping[str, Any]], *, created: str = "2026-11-27T23:30:00Z",
            dev: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """designs: name -> {"tops": TOPS at every (size, out) of BMM_SIZES x BMM_OUTS,
    or {(size, out): TOPS} (missing points: no run), "config": forms[].config
    (None: a baseline), "candidate", "status", "family", "arch"}."""
    forms, benchmarks = {}, []
    for name, spec in designs.items():
        config = spec.get("config")
        form: dict[str, Any] = {"family": spec.get("family", "wgmma_and" if config else "popc"),
                                "tensor_core": config is not None, "status": spec.get("status", "measured")}
        if config is not None:
            form |= {"arch": spec.get("arch", 90), "candidate": spec.get("candidate", True), "config": dict(config)}
        forms[name] = form
        tops = spec.get("tops", {})
        points = tops if isinstance(tops, Mapping) else {(s, o): tops for s in BMM_SIZES for o in BMM_OUTS}
        for (size, out), rate in points.items():
            time_us = 2.0 * size ** 3 / (rate * 1e12) * 1e6
            min_bytes = 2 * size * size / 8 + size * size * (4 if out == "int32" else 1 / 8)
            benchmarks += _run(f"bmm/{name}/m:{size}/n:{size}/k:{size}/out:{out}/manual_time", time_us,
                               {"tops": rate, "min_bytes": min_bytes, "gbps_min_bytes": min_bytes / time_us / 1e3})
    return _doc("bmm", created, dev or device(), forms, benchmarks)


def write(path: Path, doc: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


# ---------------------------------------------------------------- the golden set

GOLDEN_INSTR = {
    "wmma_xor_m8n8k128": {"tops": 800.0, "wps": 32, "ilp": 8, "lat": 90.0},
    "wmma_and_m8n8k128": {"tops": 3900.0, "wps": 16, "ilp": 8, "lat": 14.4},
    "mma_and_m16n8k128": {"tops": 7400.0, "lat": 17.1},
    "mma_and_m16n8k256": {"tops": 10500.0, "lat": 24.4, "extra": [(16, 4, 9000.0)]},
    # 64 is fastest, 256 within 2% of it (larger N wins the tie), 128 rs also tied
    "wgmma_and_m64n64k256_ss": {"tops": 15750.0, "wps": 12, "ilp": 2, "lat": 83.0},
    "wgmma_and_m64n128k256_rs": {"tops": 15700.0, "wps": 12, "ilp": 1, "lat": 105.0},
    "wgmma_and_m64n256k256_ss": {"tops": 15500.0, "wps": 4, "ilp": 1, "lat": 188.0},
    "wgmma_and_m64n32k256_ss": {"tops": 10500.0, "lat": 67.0},
}
GOLDEN_INSTR_SKIPPED = {"wgmma_and_m64n256k256_rs": "excluded by --forms filter"}
GOLDEN_LAYOUT = {
    "wmma_xor": {"row_u32": 336.0, "row_u64": 333.0, "tile8x128": 460.0},
    "wmma_and": {"row_u32": 404.0, "tile8x128": 900.0},
    "mma_and": {"row_u32": 567.0, "tile8x128": 968.0, "mma_frag_a16x256": 993.0, "wgmma_swizzle128": 747.0},
    "wgmma_and": {"wgmma_interleave": 1086.0, "wgmma_swizzle32": 1079.0, "wgmma_swizzle64": 1090.0,
                  "wgmma_swizzle128": 1082.0},
}
# An older layout run that would choose differently: newest-by-created_utc must win.
GOLDEN_LAYOUT_OLD = {
    "wmma_xor": {"row_u32": 500.0, "tile8x128": 460.0},
    "mma_and": {"row_u32": 567.0, "tile8x128": 990.0},
    "wgmma_and": {"wgmma_interleave": 1200.0, "wgmma_swizzle128": 1000.0},
}
GOLDEN_STRIDE = {("wmma_shared", 128): 15300.0, ("wmma_shared", 1024): 4150.0,
                 ("mma_shared", 256): 17400.0, ("mma_shared", 1024): 4180.0,
                 ("wmma_global", 128): 2700.0, ("wmma_global", 8192): 2000.0}
GOLDEN_CONFLICTS = {("wmma_shared", 128): 0.0, ("wmma_shared", 1024): 7.0,
                    ("mma_shared", 256): 4.0, ("mma_shared", 1024): 28.0}
GOLDEN_SECTORS = {("wmma_global", 128): 4.0, ("wmma_global", 8192): 8.0}
# The candidates of a candidates build: names the selection must not read
# (one says swizzle128 of a swizzle64 config). (size, out) -> TOPS per design.
_SQUARE = [(s, o) for s in BMM_SIZES for o in BMM_OUTS]
GOLDEN_BMM = {
    # within 2% of the fastest and 25% less shared memory: the tie-break picks it
    "wgmma_and_sm90_c0": {"config": bmm_config(stages=6), "tops": dict(zip(_SQUARE, (7500, 7600, 9900, 10000)))},
    # the fastest (geometric mean), a 2 x 1 cluster
    "wgmma_and_sm90_c1": {"config": bmm_config(cluster=(2, 1)), "tops": dict(zip(_SQUARE, (7600, 7700, 10000, 10150)))},
    "wgmma_and_sm90_sw128_k1024x4": {"config": bmm_config(), "tops": dict(zip(_SQUARE, (7000, 7100, 9000, 9100)))},
    "wgmma_and_sm90_c3": {"config": bmm_config("wgmma_swizzle128", 128, 1024, 6),
                          "tops": dict(zip(_SQUARE, (6000, 6100, 7000, 7100)))},
    # the build's own kWgmmaAnd, faster still, but not a candidate
    "wgmma_and_sm90": {"config": bmm_config(), "candidate": False, "tops": 20000.0},
    "popc_u32": {"tops": {(8192, "bits"): 60.0, (8192, "int32"): 59.0}},
}
# A newer bmm file without candidates (a plain build's sweep): not used.
GOLDEN_BMM_PLAIN = {"wgmma_and_sm90": {"config": bmm_config(), "candidate": False, "tops": 7645.0},
                    "popc_u32": {"tops": 60.0}}
GOLDEN_FILES = {
    "instr-20261127T222002Z-0123456.json": lambda: instr_doc(GOLDEN_INSTR, skipped=GOLDEN_INSTR_SKIPPED),
    "stride-20261127T224640Z-0123456.json": lambda: stride_doc(GOLDEN_STRIDE, conflicts=GOLDEN_CONFLICTS,
                                                               sectors=GOLDEN_SECTORS),
    "layout-20261127T224653Z-0123456.json": lambda: layout_doc(GOLDEN_LAYOUT),
    # named to sort after the newest: the choice must come from created_utc, not the name
    "layout-zz-older-0123456.json": lambda: layout_doc(GOLDEN_LAYOUT_OLD, created="2026-11-27T22:45:46Z"),
    "bmm-20261127T233000Z-0123456.json": lambda: bmm_doc(GOLDEN_BMM),
    # newer, but without candidates: the older file with candidates decides
    "bmm-20261128T010000Z-0123456.json": lambda: bmm_doc(GOLDEN_BMM_PLAIN, created="2026-11-28T01:00:00Z"),
}
GOLDEN_OUTPUTS = ("bmm_config_sm90.h", "bmm_config_sm90.md", "bmm_config.h", "bmm_candidates_sm90.h")


def write_golden_fixtures(directory: Path = FIXTURE_DIR) -> list[Path]:
    return [write(directory / name, make()) for name, make in GOLDEN_FILES.items()]


def main() -> int:
    write_golden_fixtures()
    with tempfile.TemporaryDirectory() as tmp:
        rc = cli.main(["--results-dir", str(FIXTURE_DIR), "--out", tmp])
        if rc != 0:
            return rc
        GOLDEN_DIR.mkdir(exist_ok=True)
        for name in GOLDEN_OUTPUTS:
            (GOLDEN_DIR / name).write_text((Path(tmp) / name).read_text())
    print(f"wrote {FIXTURE_DIR} and {GOLDEN_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
