"""analysis.select: the kWgmmaAnd candidate table and the constraints each
row must meet to build."""
from __future__ import annotations

import pytest

from analysis.select.candidates import WGMMA_AND_CANDIDATES, wgmma_config_problems, wgmma_smem_bytes
from analysis.select.model import Config

SW64 = "wgmma_swizzle64"


# ====================================================================== the candidate table

# The rows the table must hold (the project's choice), written out here.
EXPECTED_ROWS = [
    ("wgmma_swizzle32", 256, 256, 16, 1, 1), ("wgmma_swizzle32", 256, 256, 16, 2, 1),
    (SW64, 256, 512, 8, 1, 1), (SW64, 256, 512, 8, 2, 1), (SW64, 256, 512, 8, 1, 2),
    (SW64, 256, 512, 6, 1, 1), (SW64, 256, 512, 6, 2, 1),
    ("wgmma_swizzle128", 256, 1024, 4, 1, 1), ("wgmma_swizzle128", 256, 1024, 4, 2, 1),
    (SW64, 128, 512, 8, 1, 1), ("wgmma_swizzle128", 128, 1024, 6, 1, 1),
]
BOX_K_BITS = {"wgmma_interleave": 256, "wgmma_swizzle32": 256, "wgmma_swizzle64": 512, "wgmma_swizzle128": 1024}


def _holds(c: Config) -> list[str]:
    """The kernel's constraints, restated from the C++ static_asserts."""
    broken = []
    smem = (c.stages * (c.block_m + c.block_n) * c.block_k_bits // 8 + 1024 + 2 * c.block_n * 4
            + (2 * c.stages + 4) * 8 + 1024)
    cap = (65536 // ((c.warps // 4 + 1) * 128)) & ~7
    checks = {
        "same layouts": c.a_layout == c.b_layout,
        "wgmma layout": c.a_layout in BOX_K_BITS,
        "K whole steps and boxes": c.block_k_bits % 256 == 0 and c.block_k_bits % BOX_K_BITS.get(c.a_layout, 1) == 0,
        "64 rows a warpgroup": c.block_m == 64 * c.warps // 4,
        "block_n": c.block_n in (128, 256) and c.block_n % 32 == 0,
        "shared memory": smem <= 232448,
        "cluster": c.cluster_m * c.cluster_n in (1, 2),
        "multicast swizzled": c.cluster_m * c.cluster_n == 1 or c.a_layout != "wgmma_interleave",
        "registers": c.block_n // 2 + 24 <= cap,
    }
    return [name for name, ok in checks.items() if not ok]


def test_the_table_is_the_planned_rows():
    assert [(c.a_layout, c.block_n, c.block_k_bits, c.stages, c.cluster_m, c.cluster_n)
            for c in WGMMA_AND_CANDIDATES] == EXPECTED_ROWS
    assert all(c.a_layout == c.b_layout and (c.block_m, c.warps) == (128, 8) for c in WGMMA_AND_CANDIDATES)
    assert len(set(WGMMA_AND_CANDIDATES)) == len(WGMMA_AND_CANDIDATES)
    # today's kWgmmaAnd (sw64, 128 x 256, 8 x 512 bits, no cluster) is one of them
    assert Config(SW64, SW64, 128, 256, 512, 8, 8, 1, 1) in WGMMA_AND_CANDIDATES


@pytest.mark.parametrize("row", WGMMA_AND_CANDIDATES, ids=lambda c: f"{c.a_layout}-{c.block_n}-"
                         f"{c.block_k_bits}x{c.stages}-{c.cluster_m}x{c.cluster_n}")
def test_every_row_builds(row):
    assert _holds(row) == []
    assert wgmma_config_problems(row) == []


def test_smem_bytes_of_todays_ring():
    # 8 x (128 + 256) x 64 B = 196,608 of ring + 1,024 ones + 2,048 column terms + 160 barriers + 1,024 slack
    assert wgmma_smem_bytes(Config(SW64, SW64, 128, 256, 512, 8, 8)) == 200864


@pytest.mark.parametrize("bad, problem", [
    (Config(SW64, "wgmma_swizzle32", 128, 256, 512, 8, 8), "layouts differ"),
    (Config("tile8x128", "tile8x128", 128, 256, 512, 8, 8), "not a wgmma layout"),
    (Config("wgmma_swizzle128", "wgmma_swizzle128", 128, 256, 512, 8, 8), "1024-bit wgmma_swizzle128 boxes"),
    (Config(SW64, SW64, 128, 256, 768, 4, 8), "512-bit wgmma_swizzle64 boxes"),
    (Config(SW64, SW64, 192, 256, 512, 4, 8), "64 rows per consumer warpgroup"),
    (Config(SW64, SW64, 128, 192, 512, 4, 8), "block_n 192"),
    (Config(SW64, SW64, 128, 256, 512, 10, 8), "over the 232448 of sm_90"),
    (Config(SW64, SW64, 128, 256, 512, 8, 8, 2, 2), "2 x 2 cluster"),
    (Config("wgmma_interleave", "wgmma_interleave", 128, 256, 512, 8, 8, 2, 1), "multicast with wgmma_interleave"),
    (Config(SW64, SW64, 192, 256, 512, 4, 12), "launch cap of 128"),
])
def test_constraint_violations_are_named(bad, problem):
    assert _holds(bad) != []
    assert any(problem in p for p in wgmma_config_problems(bad)), wgmma_config_problems(bad)
