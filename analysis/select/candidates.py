"""The kWgmmaAnd candidates, as data: the configurations a
-DBTC_BMM_CANDIDATES=ON build registers as wgmma_and designs for the `bmm`
sweep to measure (emitted as kernels/generated/bmm_candidates_sm90.h; rules.py
ranks what was measured), and the constraints the kernel static_asserts on a
configuration, checked here so that no row emitted or chosen fails to build.
"""
from __future__ import annotations

from analysis.select.model import WGMMA_BOX_K, WGMMA_SWIZZLES, Config

SM90_SMEM_OPTIN_BYTES = 232448       # 227 KiB: opt-in shared memory per block on sm_90
SM90_REGISTERS_PER_SM = 65536
WARPS_PER_WARPGROUP = 4
WGMMA_ROWS_PER_WARPGROUP = 64        # one m64 wgmma per consumer warpgroup
WGMMA_K_STEP_BITS = 256              # one m64nNk256 wgmma
WGMMA_BLOCK_NS = (128, 256)
BIT_WORD_COLUMNS = 32
CLUSTER_SIZES = (1, 2)               # 2: a pair of CTAs multicasting one operand block
SWIZZLE_ATOM_ROWS = 8
STAGE_ALIGN_BYTES = 1024             # swizzled stages start 1024-byte aligned
# Shared memory beside the ring, as the kernel adds it up (kernels' WgTile::kSmemBytes).
ONES_SLOT_BYTES = 1024               # 8 all-ones rows: A's popcounts on the tensor core
BARRIER_BYTES = 8                    # one mbarrier
ALIGN_SLACK_BYTES = 1024             # aligning the dynamic base by hand
# Registers per thread beside the N/2 accumulators (descriptors, indices).
CONSUMER_EXTRA_REGS = 24


def wgmma_smem_bytes(cfg: Config) -> int:
    """Shared memory of one wgmma_and block: the ring, the ones slot,
    double-buffered epilogue column terms (2 x block_n int32), a full and an
    empty barrier per stage plus 4, and the alignment slack."""
    ring = cfg.stages * (cfg.block_m + cfg.block_n) * cfg.block_k_bits // 8
    column_terms = 2 * cfg.block_n * 4
    barriers = (2 * cfg.stages + 4) * BARRIER_BYTES
    return ring + ONES_SLOT_BYTES + column_terms + barriers + ALIGN_SLACK_BYTES


def launch_register_cap(warps: int) -> int:
    """Registers per thread at launch: the SM's file over the block's threads
    (the consumers plus one feeder warpgroup), a multiple of 8."""
    threads = (warps // WARPS_PER_WARPGROUP + 1) * WARPS_PER_WARPGROUP * 32
    return (SM90_REGISTERS_PER_SM // threads) & ~7


def wgmma_config_problems(cfg: Config) -> list[str]:
    """Why `cfg` would not build as a wgmma_and kernel (empty: it builds)."""
    problems = []
    if cfg.a_layout != cfg.b_layout:
        problems.append(f"A and B layouts differ ({cfg.a_layout}, {cfg.b_layout})")
    if cfg.a_layout not in WGMMA_BOX_K:
        problems.append(f"{cfg.a_layout} is not a wgmma layout")
    box_k = WGMMA_BOX_K.get(cfg.a_layout, WGMMA_K_STEP_BITS)
    if cfg.block_k_bits % WGMMA_K_STEP_BITS or cfg.block_k_bits % box_k:
        problems.append(f"{cfg.block_k_bits} K bits a stage is not whole {WGMMA_K_STEP_BITS}-bit wgmma steps "
                        f"and {box_k}-bit {cfg.a_layout} boxes")
    if cfg.warps % WARPS_PER_WARPGROUP or cfg.block_m != WGMMA_ROWS_PER_WARPGROUP * (cfg.warps // WARPS_PER_WARPGROUP):
        problems.append(f"block_m {cfg.block_m} is not {WGMMA_ROWS_PER_WARPGROUP} rows per consumer warpgroup "
                        f"of {cfg.warps} warps")
    if cfg.block_n not in WGMMA_BLOCK_NS or cfg.block_n % BIT_WORD_COLUMNS:
        problems.append(f"block_n {cfg.block_n} is not one of {', '.join(map(str, WGMMA_BLOCK_NS))}")
    for operand, rows in (("A", cfg.block_m), ("B", cfg.block_n)):
        if rows * cfg.block_k_bits // 8 % STAGE_ALIGN_BYTES:
            problems.append(f"{operand}'s stage of {rows} x {cfg.block_k_bits} bits is not a multiple of "
                            f"{STAGE_ALIGN_BYTES} bytes")
    smem = wgmma_smem_bytes(cfg)
    if smem > SM90_SMEM_OPTIN_BYTES:
        problems.append(f"{smem} bytes of shared memory, over the {SM90_SMEM_OPTIN_BYTES} of sm_90")
    if cfg.cluster_size not in CLUSTER_SIZES:
        problems.append(f"a {cfg.cluster_m} x {cfg.cluster_n} cluster (sizes {CLUSTER_SIZES} only)")
    if cfg.cluster_size > 1:
        if cfg.a_layout not in WGMMA_SWIZZLES:
            problems.append(f"multicast with {cfg.a_layout}: slices must be swizzle atoms")
        if cfg.block_m % (SWIZZLE_ATOM_ROWS * cfg.cluster_n) or cfg.block_n % (SWIZZLE_ATOM_ROWS * cfg.cluster_m):
            problems.append("multicast slices are not whole 8-row swizzle atoms")
    cap = launch_register_cap(cfg.warps)
    if cfg.block_n // 2 + CONSUMER_EXTRA_REGS > cap:
        problems.append(f"{cfg.block_n // 2} accumulators + {CONSUMER_EXTRA_REGS} registers a thread exceed the "
                        f"launch cap of {cap}")
    return problems


# The candidate rows, CUTLASS generator style: one tile and ring per line, at
# each cluster shape listed ((cluster_m, cluster_n): 2 x 1 shares B blocks, 1 x 2
# A blocks). Each row compiles a kernel in the candidates build: keep it short.
# The 8 x 512-bit swizzle64 ring at 128 x 256 is today's kWgmmaAnd.
WGMMA_AND_BLOCK_M, WGMMA_AND_WARPS = 128, 8
#    layout               block_n  K bits  stages  clusters
_ROWS: tuple[tuple[str, int, int, int, tuple[tuple[int, int], ...]], ...] = (
    ("wgmma_swizzle32",   256,     256,    16,     ((1, 1), (2, 1))),
    ("wgmma_swizzle64",   256,     512,    8,      ((1, 1), (2, 1), (1, 2))),
    ("wgmma_swizzle64",   256,     512,    6,      ((1, 1), (2, 1))),
    ("wgmma_swizzle128",  256,     1024,   4,      ((1, 1), (2, 1))),
    ("wgmma_swizzle64",   128,     512,    8,      ((1, 1),)),
    ("wgmma_swizzle128",  128,     1024,   6,      ((1, 1),)),
)
WGMMA_AND_CANDIDATES: tuple[Config, ...] = tuple(
    Config(layout, layout, WGMMA_AND_BLOCK_M, block_n, k_bits, stages, WGMMA_AND_WARPS, cm, cn)
    for layout, block_n, k_bits, stages, clusters in _ROWS for cm, cn in clusters)
