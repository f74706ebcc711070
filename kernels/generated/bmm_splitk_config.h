// The split-K mma.sync AND BMM tile (mma_and_splitk_sm80 / _sm90), written by
// hand until analysis.select ranks it from `bmm` results (issue 12). Meant
// for the fully connected shapes at small batch (M <= 64: one 64-row block;
// 4096 x 4096 is 32 blocks of 64 x 128 on 132 SMs), where reading the
// weights binds and K's shares put every SM on the stream: 64 x 128 C, 4
// warps of 64 x 32, 512-bit slabs, 6 stages (73,728 bytes: the ring keeps
// ~70 KB of B in flight a block), the fragment-native layouts of mma_and.
#pragma once
#include "kernels/config/bmm_config.h"

namespace btc::bmm::generated {

inline constexpr BmmConfig kMmaAndSplitK{bits::Layout::kMmaFragA16x256,
                                         bits::Layout::kMmaFragB8x256,
                                         /*block_m*/ 64,
                                         /*block_n*/ 128,
                                         /*block_k_bits*/ 512,
                                         /*stages*/ 6,
                                         /*warps*/ 4,
                                         /*cluster_m*/ 1,
                                         /*cluster_n*/ 1};

}  // namespace btc::bmm::generated
