// The epilogue every BMM design shares: a block hands over the dot products
// of its BM x BN tile one element at a time; int32 output stores them, the
// fused 1-bit output thresholds them into a shared-memory bit tile and
// writes whole 32-bit words in the next layer's layout.
#pragma once
#include <cstdint>

#include "bmm.h"

namespace btc::bmm {

template <int BM, int BN>
struct BlockEpilogue {
  static_assert(BN % 32 == 0, "the bit tile packs 32 columns per word");
  static constexpr int kWordsPerRow = BN / 32;
  static constexpr int kSmemWords = BM * kWordsPerRow;  // shared memory the kBits path needs

  const Output& out;
  uint32_t* tile;  // kSmemWords of shared memory (kBits only)
  int m0, n0, m, n;

  // All threads of the block; synchronizes.
  __device__ void begin() {
    if (out.epilogue == Epilogue::kBits) {
      for (int i = threadIdx.x; i < kSmemWords; i += blockDim.x) tile[i] = 0;
      __syncthreads();
    }
  }
  // Element (li, lj) of the block tile; out-of-range elements are dropped.
  __device__ void put(int li, int lj, int32_t dot) {
    const int gi = m0 + li, gj = n0 + lj;
    if (gi >= m || gj >= n) return;
    if (out.epilogue == Epilogue::kInt32) {
      out.c[static_cast<int64_t>(gi) * n + gj] = dot;
    } else if (dot >= out.threshold[gj]) {
      atomicOr(&tile[li * kWordsPerRow + lj / 32], 1u << (lj % 32));
    }
  }
  // All threads of the block; synchronizes. Padding bits (past M or N) stay 0.
  __device__ void end() {
    if (out.epilogue != Epilogue::kBits) return;
    __syncthreads();
    const int kw0 = n0 / 32;
    for (int i = threadIdx.x; i < kSmemWords; i += blockDim.x) {
      const int li = i / kWordsPerRow, w = i % kWordsPerRow;
      const int gi = m0 + li, kw = kw0 + w;
      if (gi < out.bits_shape.padded_rows() && kw < out.bits_shape.kwords())
        out.bits[out.bits_shape.word_index(gi, kw)] = gi < m ? tile[i] : 0u;
    }
  }
};

}  // namespace btc::bmm

namespace btc::bmm {

// Spreads 4 bits abcd to 0a0b0c0d.
__device__ __forceinline__ uint32_t spread4(uint32_t x) {
  return (x & 1u) | ((x & 2u) << 1) | ((x & 4u) << 2) | ((x & 8u) << 3);
}

// Epilogue straight from the accumulator registers of one warp holding a
// 16 x 8J tile in the m16n8 layout that mma.sync and wgmma share: register e
// of n8 group j is row g + 8(e/2), column 8j + 2t + e%2 (lane = 4g + t).
// int32: each value stored where it belongs. Bits: two ballots per n8 group
// and half give every row's 8 bits; lanes assemble whole 32-bit words and
// store them - no shared-memory tile, no atomics.
// `dot(j, e, gi, gj)` returns the dot product of register e of group j.
template <int J, class DotFn>
__device__ __forceinline__ void store_warp_fragments(const Output& out, int m, int n, int row0, int col0,
                                                     DotFn&& dot) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  if (out.epilogue == Epilogue::kInt32) {
#pragma unroll
    for (int j = 0; j < J; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int gi = row0 + g + 8 * (e / 2), gj = col0 + 8 * j + 2 * t + (e % 2);
        const int32_t v = dot(j, e, gi, gj);
        if (gi < m && gj < n) out.c[static_cast<int64_t>(gi) * n + gj] = v;
      }
    return;
  }
  static_assert(J % 4 == 0, "bit words hold 32 columns: 4 n8 groups");
#pragma unroll
  for (int h = 0; h < 2; ++h) {  // rows g and g + 8
    const int gi = row0 + g + 8 * h;
    uint32_t word = 0;
#pragma unroll
    for (int j = 0; j < J; ++j) {
      uint32_t ballot[2];
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int e = 2 * h + c, gj = col0 + 8 * j + 2 * t + c;
        const int32_t v = dot(j, e, gi, gj);
        ballot[c] = __ballot_sync(0xFFFFFFFFu, gj < n && v >= out.threshold[gj < n ? gj : 0]);
      }
      const uint32_t byte = spread4((ballot[0] >> (4 * g)) & 0xFu) | (spread4((ballot[1] >> (4 * g)) & 0xFu) << 1);
      word |= byte << (8 * (j % 4));
      if (j % 4 == 3) {
        const int w = j / 4, kw = col0 / 32 + w;
        // The four lanes of a row hold the same word: lane t = w % 4 writes it.
        if (t == w % 4 && gi < out.bits_shape.padded_rows() && kw < out.bits_shape.kwords())
          out.bits[out.bits_shape.word_index(gi, kw)] = gi < m ? word : 0u;
        word = 0;
      }
    }
  }
}

}  // namespace btc::bmm
