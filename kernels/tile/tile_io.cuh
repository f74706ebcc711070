// Moving b1 operand tiles: global -> shared slab copies and shared ->
// register fragment loads, for any layout of formats/layout.h, built on the
// copy atoms. Used by the production kernels (kernels/bmm/) and the layout
// sweep (microbench/), which both sit above this layer.
//
// Every layout stores boxes contiguously, ordered (row box, k box), so a
// block's rows x slab_k slab is one contiguous run per row box, and its
// shared-memory image is the same layout over a rows x slab_k matrix.
#pragma once
#include <cstdint>

#include "formats/layout.h"
#include "formats/tile_shape.h"
#include "kernels/atoms/copy_sm80.cuh"
#include "kernels/atoms/mma_sm90.cuh"

namespace btc::tile {

using bits::BitMatrix;
using bits::Layout;

// Rows r0 .. r0+rows of global matrix gm, K words kw0 .. kw0+slab_kw, into
// shared memory as the same layout over a rows x (32*slab_kw) matrix. r0 and
// kw0 sit on box boundaries, where every layout's offset is simply
// r * kwords + kw0 * box_rows (boxes are row-major over (row box, k box)):
// no per-piece index arithmetic beyond one division.
template <Layout L, bool kAsync = false>
__device__ void copy_slab(uint32_t* smem, const uint32_t* g, const BitMatrix& gm, int r0, int kw0, int rows,
                          int slab_kw) {
  const int tr = bits::box_rows_of(L, gm.box_rows);
  const int kwords = gm.kwords();
  const int run_vecs = tr * slab_kw / 4;  // 16-byte pieces per row box
  const int total = rows / tr * run_vecs;
  // Offsets inside one slab fit 32 bits (rows x kwords of one block).
  const uint32_t* base = g + static_cast<int64_t>(r0) * kwords + static_cast<int64_t>(kw0) * tr;
  for (int i = threadIdx.x; i < total; i += blockDim.x) {
    const int rb = i / run_vecs, v = i - rb * run_vecs;
    atom::copy16<kAsync>(smem + 4 * i, base + rb * tr * kwords + 4 * v);
  }
}

// copy_slab for a block of kThreads over kRows x kSlabKw words of a layout
// with fixed box rows, its source offsets computed once a block: slab kt's
// pieces are slab 0's plus kt * kSlabKw * box rows words (boxes row-major
// over (row box, k box)), and a thread's j-th piece is its first plus j
// whole row boxes. ncu at 7152667 counted ~36% of mma_and_splitk's
// instructions in copy_slab's per-piece division and multiply.
template <Layout L, int kRows, int kSlabKw, int kThreads>
struct SlabCopy {
  static constexpr int kTr = bits::box_rows_of(L, 0);
  static constexpr int kRunVecs = kTr * kSlabKw / 4;  // 16-byte pieces per row box
  static constexpr int kTotal = kRows / kTr * kRunVecs;
  static constexpr int kPer = kTotal / kThreads;
  static_assert(kTr > 0, "a layout whose box rows the layout fixes");
  static_assert(kTotal % kThreads == 0 && kThreads % kRunVecs == 0, "every thread the same whole pieces");

  const uint32_t* src;  // this thread's first piece in slab 0
  int64_t row_step;     // words between a thread's consecutive pieces: kThreads / kRunVecs row boxes

  __device__ SlabCopy(const uint32_t* g, const BitMatrix& gm, int r0, int kw0) {
    const int kwords = gm.kwords();
    const int t = threadIdx.x, rb = t / kRunVecs, v = t % kRunVecs;
    src = g + (static_cast<int64_t>(r0) + rb * kTr) * kwords + static_cast<int64_t>(kw0) * kTr + 4 * v;
    row_step = static_cast<int64_t>(kThreads / kRunVecs) * kTr * kwords;
  }
  // Slab kt (kSlabKw words from kw0 + kt * kSlabKw) into smem, cp.async.
  __device__ __forceinline__ void issue(uint32_t* smem, int kt) const {
    const uint32_t* p = src + static_cast<int64_t>(kt) * (kSlabKw * kTr);
#pragma unroll
    for (int j = 0; j < kPer; ++j) atom::copy16<true>(smem + 4 * (threadIdx.x + j * kThreads), p + j * row_step);
  }
};

// Rows 0 .. rows-1 of a row-major global matrix (row pitch ld_g words, from
// g), words 0 .. words-1 (a multiple of 4, 16-byte aligned), into shared
// memory at row pitch ld_s words: the padded-pitch row images of the
// implicit-GEMM BConv (kernels/bconv/), whose pitch skew keeps 8-row
// ldmatrix and WMMA loads conflict-free.
template <bool kAsync>
__device__ void copy_rows(uint32_t* smem, int ld_s, const uint32_t* g, int64_t ld_g, int rows, int words) {
  const int vecs = words / 4, total = rows * vecs;
  for (int i = threadIdx.x; i < total; i += blockDim.x) {
    const int r = i / vecs, v = i - r * vecs;
    atom::copy16<kAsync>(smem + r * ld_s + 4 * v, g + r * ld_g + 4 * v);
  }
}

// mma.sync m16n8k256 A fragment (rows r0..r0+15, K words kw..kw+7) from a
// shared slab: one 16-byte load per lane from the fragment-native layout,
// else ldmatrix.x4 (lane l addresses row l%8 of 8x128-bit matrix l/8).
template <Layout LA>
__device__ __forceinline__ void load_a_m16k256(uint32_t (&a)[4], const uint32_t* s, const BitMatrix& ms, int r0,
                                               int kw) {
  const int l = threadIdx.x & 31;
  if constexpr (LA == Layout::kMmaFragA16x256) {
    const uint4 v = *reinterpret_cast<const uint4*>(s + ms.word_index(r0, kw) + 4 * l);
    a[0] = v.x; a[1] = v.y; a[2] = v.z; a[3] = v.w;
  } else {
    const int row = r0 + (l % 8) + 8 * ((l / 8) % 2), k = kw + 4 * (l / 16);
    atom::ldmatrix_x4(a, s + ms.word_index(row, k));
  }
}

// mma.sync m16n8k256 B fragment (rows n0..n0+7 of B, K words kw..kw+7).
template <Layout LB>
__device__ __forceinline__ void load_b_n8k256(uint32_t (&b)[2], const uint32_t* s, const BitMatrix& ms, int n0,
                                              int kw) {
  const int l = threadIdx.x & 31;
  if constexpr (LB == Layout::kMmaFragB8x256) {
    const uint2 v = *reinterpret_cast<const uint2*>(s + ms.word_index(n0, kw) + 2 * l);
    b[0] = v.x; b[1] = v.y;
  } else {
    const int row = n0 + (l % 8), k = kw + 4 * ((l / 8) % 2);
    atom::ldmatrix_x2(b, s + ms.word_index(row, k));
  }
}

// Descriptor of rows r0.. at K word kw of a shared slab (`rows` tall, one
// box tall) in wgmma layout L: the k box that holds kw, plus the unswizzled
// byte offset of kw inside a swizzled row (the hardware swizzles the address
// it computes).
template <Layout L>
__device__ __forceinline__ uint64_t wgmma_slab_desc(const uint32_t* s, int rows, int slab_k_bits, int r0, int kw) {
  constexpr int kW = bits::swizzle_bytes(L);
  const BitMatrix m = shape(L, rows, slab_k_bits, rows);
  if constexpr (kW == 0) {
    return atom::wgmma_desc(s + m.word_index(0, kw) + (r0 / 8) * 32, static_cast<uint32_t>(rows / 8 * 128), 128, 0);
  } else {
    constexpr int kBoxKw = bits::box_k_of(L) / 32;
    constexpr uint32_t kType = kW == 128 ? 1 : kW == 64 ? 2 : 3;
    const char* p = reinterpret_cast<const char*>(s + m.word_index(0, kw - kw % kBoxKw)) + r0 * kW + (kw % kBoxKw) * 4;
    return atom::wgmma_desc(p, 16, 8 * kW, kType);
  }
}

}  // namespace btc::tile
