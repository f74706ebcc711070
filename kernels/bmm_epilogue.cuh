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
