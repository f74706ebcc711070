// BConv implicit-GEMM configurations per arch: built-in defaults, written by
// hand until analysis.select ranks `bconv` results (issue 10; docs/bconv.md).
// a_layout / b_layout name the shared-memory images the kernels build:
// row_u32 at a skewed pitch (mma.sync, ldmatrix), tile8x128 (WMMA, whose
// b1 fragment loads want 256-bit aligned 8 x 128 tiles) or wgmma_interleave
// (wgmma's no-swizzle K-major core matrices).
#pragma once
#include "kernels/config/bmm_config.h"

namespace btc::bconv::generated {

namespace sm75 {
// WMMA 8x8x128 XOR: 64 x 64 pixels x filters, 4 warps of 32 x 32, 512-bit slabs, 2 stages.
inline constexpr bmm::BmmConfig kBtcWmma{bits::Layout::kTile8x128, bits::Layout::kTile8x128, 64, 64, 512, 2, 4, 1, 1};
}  // namespace sm75

namespace sm80 {
// mma.sync m16n8k256 AND: 128 x 64, 4 warps of 64 x 32, 512-bit slabs, 3 stages (K = 64 is ResNet-18's first stage).
inline constexpr bmm::BmmConfig kMmaAnd{bits::Layout::kRowU32, bits::Layout::kRowU32, 128, 64, 512, 3, 4, 1, 1};
}  // namespace sm80

namespace sm90 {
// The mma.sync AND variants the `bconv` sweep measures on Hopper, for the
// selection to choose per layer: 256-bit slabs waste less of R*S*C words
// padded to a slab at C = 64 (18 words: 24 padded, not 32), 64-row blocks
// fill the SMs at batch 1, 128-wide blocks reuse A over K >= 128 filters.
inline constexpr bmm::BmmConfig kMmaAndCandidates[] = {
    {bits::Layout::kRowU32, bits::Layout::kRowU32, 128, 64, 512, 4, 4, 1, 1},
    {bits::Layout::kRowU32, bits::Layout::kRowU32, 128, 64, 256, 4, 4, 1, 1},
    {bits::Layout::kRowU32, bits::Layout::kRowU32, 64, 64, 256, 4, 4, 1, 1},
    {bits::Layout::kRowU32, bits::Layout::kRowU32, 128, 128, 512, 3, 8, 1, 1},
    {bits::Layout::kRowU32, bits::Layout::kRowU32, 256, 64, 256, 4, 8, 1, 1},
};
// The candidates that also run split-K (the `_splitk` designs), for layers
// whose tiles fill less than one block an SM (batch 1 and 16): 256-bit slabs
// give K the most shares.
inline constexpr int kSplitKCandidates[] = {1, 2};
// wgmma m64nNk256 AND over the no-swizzle core-matrix images (8 warps: two
// 64-row warpgroups; 4: one): 256-bit slabs for C = 64's 18 words, 512 for
// the wider layers, N = the filters a block reuses A over. At least 3
// stages: one stage's MMAs stay in flight, so the gather runs stages - 2 ahead.
inline constexpr bmm::BmmConfig kWgmmaAndCandidates[] = {
    {bits::Layout::kWgmmaInterleave, bits::Layout::kWgmmaInterleave, 128, 64, 256, 4, 8, 1, 1},
    {bits::Layout::kWgmmaInterleave, bits::Layout::kWgmmaInterleave, 64, 64, 256, 4, 4, 1, 1},
    {bits::Layout::kWgmmaInterleave, bits::Layout::kWgmmaInterleave, 128, 128, 512, 4, 8, 1, 1},
};
}  // namespace sm90

}  // namespace btc::bconv::generated
