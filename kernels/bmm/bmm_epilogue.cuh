// The epilogue every BMM design shares: a block hands over the dot products
// of its BM x BN tile one element at a time; int32 output stores them, the
// fused 1-bit output thresholds them into a shared-memory bit tile and
// writes whole 32-bit words in the next layer's layout.
#pragma once
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "kernels/bmm/bmm.h"

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
    } else if (fused_bit(out, gj, dot)) {
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

// The threshold a `dot >=` compare uses for kBits column j < n of a K-bit
// dot product: clamped to [-K, K + 1] (dot is in [-K, K]: no bit changes, and
// the column terms built from it cannot overflow), plus 1 for a flipped
// column, whose bit is then complemented: dot <= t  <=>  !(dot >= t + 1).
__device__ __forceinline__ int32_t ge_threshold(const Output& out, int j, int k_bits) {
  const int32_t t = min(max(out.threshold[j], -k_bits), k_bits + 1);
  return flipped(out, j) ? t + 1 : t;
}
// The flip bits of columns 32 kw .. 32 kw + 31 that are < n (0 without flips).
__device__ __forceinline__ uint32_t flip_mask(const Output& out, int kw, int n) {
  if (out.flip == nullptr) return 0u;
  const int valid = n - 32 * kw;
  return valid <= 0 ? 0u : valid >= 32 ? out.flip[kw] : out.flip[kw] & ((1u << valid) - 1u);
}

// Where the kBits and kHalf epilogues' bit words go, read once per block or
// tile: BitMatrix's padded_rows() and kwords() divide by run-time sizes, and
// evaluated in each fragment call they were ~300 of the 2,568 instructions a
// warp of the 56^2 x 64 BConv at batch 256 (ncu source SASS at d451874).
struct BitsDest {
  int padded_rows = 0, kwords = 0;
  bool row_major = true;  // the next layer's activations: index directly; else BitMatrix::word_index
};
// Host and device: a kernel whose tiles are short (BConv at C = 64: 3 slabs)
// takes it as an argument, its run-time divisions once a launch, not a tile.
__host__ __device__ __forceinline__ BitsDest bits_dest(const Output& out) {
  const bits::BitMatrix& bs = out.bits_shape;
  return {bs.padded_rows(), bs.kwords(), bs.layout == bits::Layout::kRowU32 || bs.layout == bits::Layout::kRowU64};
}

// A bit output in a tensor-core layout (not the next layer's row-major
// activations) indexes through BitMatrix::word_index: its switch over
// layouts and run-time divisions, inlined at each unrolled word store, grew
// every AND kernel's straight-line epilogue. Out of line it is one call on
// that branch, which the row-major path (the networks') never takes (sizes:
// docs/profiles/ptxas/code-size-*.log).
static __device__ __noinline__ int64_t bits_word_index(bits::BitMatrix bs, int r, int kw) {
  return bs.word_index(r, kw);
}

// The AND-form epilogue straight from one warp's accumulators: a 16 x 8J
// tile in the m16n8 layout that mma.sync and wgmma share (register e of n8
// group j is row g + 8(e/2), column 8j + 2t + e%2; lane = 4g + t).
// and4(j, e) is 4 popc(a AND b) of that register (BConv adds its padding
// correction there). With row_term = 2 popc(a_i) and col_term = 2 popc(b_j) - K,
//   dot = and4 - row_term - col_term,
// and the fused bit is dot >= threshold_j, i.e. and4 - row_term >=
// col_term + threshold_j: the caller folds ge_threshold() into col_term for
// kBits, so each element costs one add and one compare; a flipped column's
// word is complemented once per 32 columns (ge_threshold adds its 1).
//   row_term[h]: rows g + 8h of the tile; col_term(j, c): column 8j + 2t + c.
// Contract for kBits: col_term of a column >= n is INT32_MAX (its bit is
// never set, so the padding bits of a row's last word come out 0 with no
// bounds test per element; the bounds tests had cost as much as the math).
// int32: pairs of adjacent columns stored as one 8-byte store where aligned.
// Bits: each lane sets its own bits of a 32-column word at the positions the
// quad's four lanes interleave into, and two shuffles OR the quad's parts:
// one shuffle per 16 outputs instead of one ballot per 2 (the ballot version
// measured the epilogue at several times the main loop's issue slots).
// One 32-column word of a quad (lane = 4g + t): each lane's bits at 8q + c
// (q: n8 group, c: column of its pair) moved to 8q + 2t + c and ORed across
// the quad's four lanes with two shuffles; every lane of the quad gets it.
__device__ __forceinline__ uint32_t quad_word(uint32_t lane_bits, int t) {
  uint32_t word = lane_bits << (2 * t);
  word |= __shfl_xor_sync(0xFFFFFFFFu, word, 1);
  word |= __shfl_xor_sync(0xFFFFFFFFu, word, 2);
  return word;
}

// store_and_fragments' affine argument in the BMM kernels: no BMM writes
// kHalf (check_run_args refuses it), so its fp16 path is not compiled in.
// With bits_word_index this took mma_and_splitk from 18,272 to 4,168 SASS
// instructions and wgmma_and_sm90 from 11,232 to 5,744: a small fully
// connected layer's blocks run that code once each from a cold instruction
// cache (docs/findings-bmm.md, "Instruction fetch"). BConv passes its
// staged (scale, shift) of column j.
struct NoHalfOutput {};

// kHalf from the same fragments (store_and_fragments' layout and terms):
// each lane's values of a row in a 32-column word (columns 8q + 2t + c)
// become fp16 pairs, stored as they are, and sign bits, ORed across the
// quad as kBits does. N is a multiple of 32 (bconv::check_run_args), so a
// word is whole or wholly past N.
template <int J, class And4Fn, class ColFn, class AffineFn>
__device__ __forceinline__ void store_half_fragments(const Output& out, const BitsDest& dst, int m, int n, int row0,
                                                     int col0, And4Fn&& and4, const int32_t (&row_term)[2],
                                                     ColFn&& col_term, AffineFn&& affine) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int kwords = dst.kwords, kw0 = col0 / 32;
  __half* y = reinterpret_cast<__half*>(out.half);
  const __half* shortcut = reinterpret_cast<const __half*>(out.shortcut);
#pragma unroll
  for (int w = 0; w < J / 4; ++w) {
    if (col0 + 32 * w >= n) break;  // the same for the whole warp
    float scale[4][2], shift[4][2];
    int32_t col[4][2];
#pragma unroll
    for (int q = 0; q < 4; ++q)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int gj = col0 + 32 * w + 8 * q + 2 * t + c;
        const float2 a = affine(out, gj);
        scale[q][c] = a.x;
        shift[q][c] = a.y;
        col[q][c] = col_term(4 * w + q, c);
      }
    // Both rows' shortcuts before any math or store, so their latencies
    // overlap (ncu at d451874, 56^2 x 64: 42% of the half kernel's stall
    // samples were long-scoreboard waits, on converting each shortcut just
    // loaded; the compiler cannot lift a load above the y stores before it).
    int64_t row_at[2];
    bool live[2];
    __half2 sc[2][4];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int gi = row0 + g + 8 * h;
      live[h] = gi < m;
      row_at[h] = static_cast<int64_t>(gi) * n + col0 + 32 * w + 2 * t;
#pragma unroll
      for (int q = 0; q < 4; ++q)
        sc[h][q] = shortcut != nullptr && live[h] ? *reinterpret_cast<const __half2*>(shortcut + row_at[h] + 8 * q)
                                                  : __float2half2_rn(0.0f);
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      uint32_t word = 0;  // this lane's bits at 8q + c; shifted to 8q + 2t + c below
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        __half v[2];
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int32_t dot = and4(4 * w + q, 2 * h + c) - row_term[h] - col[q][c];
          float f = __fmaf_rn(scale[q][c], static_cast<float>(dot), shift[q][c]);
          if (shortcut != nullptr) f = __fadd_rn(f, __half2float(c == 0 ? __low2half(sc[h][q]) : __high2half(sc[h][q])));
          v[c] = __float2half_rn(f);
          word |= static_cast<uint32_t>(__half2float(v[c]) >= 0.0f) << (8 * q + c);  // -0 is +1
        }
        if (live[h]) *reinterpret_cast<__half2*>(y + row_at[h] + 8 * q) = __halves2half2(v[0], v[1]);
      }
      word = quad_word(word, t);
      if (t == w % 4 && live[h]) out.bits[static_cast<int64_t>(row0 + g + 8 * h) * kwords + kw0 + w] = word;
    }
  }
}

template <int J, class And4Fn, class ColFn, class AffineFn = NoHalfOutput>
__device__ __forceinline__ void store_and_fragments(const Output& out, const BitsDest& dst, int m, int n, int row0,
                                                    int col0, And4Fn&& and4, const int32_t (&row_term)[2],
                                                    ColFn&& col_term, AffineFn affine = {}) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  // Columns outer, the two rows inner: each column term is read once.
  if (out.epilogue == Epilogue::kInt32) {
    const bool pairs = n % 2 == 0;  // (gi * n + gj) even: 8-byte aligned
#pragma unroll
    for (int j = 0; j < J; ++j) {
      const int gj = col0 + 8 * j + 2 * t;
      const int32_t c0 = col_term(j, 0), c1 = col_term(j, 1);
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int gi = row0 + g + 8 * h;
        if (gi >= m) continue;
        int32_t* row = out.c + static_cast<int64_t>(gi) * n;
        const int32_t d0 = and4(j, 2 * h) - row_term[h] - c0;
        const int32_t d1 = and4(j, 2 * h + 1) - row_term[h] - c1;
        if (pairs && gj + 1 < n) {
          *reinterpret_cast<int2*>(row + gj) = make_int2(d0, d1);
        } else {
          if (gj < n) row[gj] = d0;
          if (gj + 1 < n) row[gj + 1] = d1;
        }
      }
    }
    return;
  }
  static_assert(J % 4 == 0, "bit words hold 32 columns: 4 n8 groups");
  if constexpr (!std::is_same_v<AffineFn, NoHalfOutput>) {
    if (out.epilogue == Epilogue::kHalf) {
      store_half_fragments<J>(out, dst, m, n, row0, col0, and4, row_term, col_term, affine);
      return;
    }
  }
  // Output index math once per call, not per word: BitMatrix::word_index
  // divides by run-time box sizes, and per word it cost more than the rest
  // of the epilogue (the wgmma math-only probe ran 1.8x slower with bits
  // output than with int32 at 8192^3). Row-major outputs (the activations
  // of the next layer) index directly; other layouts take word_index.
  const bits::BitMatrix& bs = out.bits_shape;
  const int padded_rows = dst.padded_rows, kwords = dst.kwords;
  const bool row_major = dst.row_major;
  const int kw0 = col0 / 32, words_left = kwords - kw0;  // word w of this tile exists iff w < words_left
  uint32_t flip_word[J / 4];  // flipped columns < n of word w
#pragma unroll
  for (int w = 0; w < J / 4; ++w) flip_word[w] = flip_mask(out, kw0 + w, n);
  int gi[2];
  bool store_row[2];
  int64_t row_at[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    gi[h] = row0 + g + 8 * h;
    store_row[h] = gi[h] < padded_rows;
    row_at[h] = static_cast<int64_t>(gi[h]) * kwords + kw0;
  }
#pragma unroll
  for (int w = 0; w < J / 4; ++w) {
    int32_t thr[4][2];
#pragma unroll
    for (int q = 0; q < 4; ++q)
#pragma unroll
      for (int c = 0; c < 2; ++c) thr[q][c] = col_term(4 * w + q, c);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      uint32_t word = 0;  // this lane's bits at 8q + c; shifted to 8q + 2t + c below
#pragma unroll
      for (int q = 0; q < 4; ++q)
#pragma unroll
        for (int c = 0; c < 2; ++c)
          word |= static_cast<uint32_t>(and4(4 * w + q, 2 * h + c) - row_term[h] >= thr[q][c]) << (8 * q + c);
      word = quad_word(word, t);
      word ^= flip_word[w];
      // The quad's lanes hold the same word: lane t = w % 4 writes it.
      if (t == w % 4 && store_row[h] && w < words_left) {
        const int64_t at = row_major ? row_at[h] + w : bits_word_index(bs, gi[h], kw0 + w);
        out.bits[at] = gi[h] < m ? word : 0u;
      }
    }
  }
}

}  // namespace btc::bmm
