// Moving b1 operand tiles: global -> shared slab copies and shared ->
// register fragment loads, for any layout of formats/layout.h. Shared by the
// layout sweep (microbench/) and the production BMM kernels (kernels/).
//
// Every layout stores boxes contiguously, ordered (row box, k box), so a
// block's rows x slab_k slab is one contiguous run per row box, and its
// shared-memory image is the same layout over a rows x slab_k matrix.
#pragma once
#include <cstdint>

#include "formats/layout.h"
#include "formats/tile_shape.h"

namespace btc::tile {

using bits::BitMatrix;
using bits::Layout;

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte global -> shared copy: a plain load/store, or cp.async (sm_80+),
// which lets the copy of the next stage overlap this stage's MMAs.
template <bool kAsync>
__device__ __forceinline__ void copy16(uint32_t* dst, const uint32_t* src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (kAsync) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(smem_addr(dst)), "l"(src) : "memory");
    return;
  }
#endif
  *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
}

__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
#endif
}

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
    copy16<kAsync>(smem + 4 * i, base + rb * tr * kwords + 4 * v);
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
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3])
                 : "r"(smem_addr(s + ms.word_index(row, k))));
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
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];"
                 : "=r"(b[0]), "=r"(b[1])
                 : "r"(smem_addr(s + ms.word_index(row, k))));
  }
}

// wgmma shared-memory matrix descriptor. layout_type: 0 none (interleave),
// 1 128-byte, 2 64-byte, 3 32-byte swizzle. Base offset 0: swizzled slabs
// start 1024-byte aligned.
__device__ __forceinline__ uint64_t wgmma_desc(const void* smem, uint32_t lbo_bytes, uint32_t sbo_bytes,
                                               uint32_t layout_type) {
  const uint32_t addr = smem_addr(smem);
  uint64_t d = 0;
  d |= static_cast<uint64_t>((addr >> 4) & 0x3FFF);
  d |= static_cast<uint64_t>((lbo_bytes >> 4) & 0x3FFF) << 16;
  d |= static_cast<uint64_t>((sbo_bytes >> 4) & 0x3FFF) << 32;
  d |= static_cast<uint64_t>(layout_type & 0x3) << 62;
  return d;
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
    return wgmma_desc(s + m.word_index(0, kw) + (r0 / 8) * 32, static_cast<uint32_t>(rows / 8 * 128), 128, 0);
  } else {
    constexpr int kBoxKw = bits::box_k_of(L) / 32;
    constexpr uint32_t kType = kW == 128 ? 1 : kW == 64 ? 2 : 3;
    const char* p = reinterpret_cast<const char*>(s + m.word_index(0, kw - kw % kBoxKw)) + r0 * kW + (kw % kBoxKw) * 4;
    return wgmma_desc(p, 16, 8 * kW, kType);
  }
}

// acc += popc(a AND b) for one m16n8k256 tile.
__device__ __forceinline__ void mma_and_m16n8k256(int32_t (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k256.row.col.s32.b1.b1.s32.and.popc {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+r"(acc[0]), "+r"(acc[1]), "+r"(acc[2]), "+r"(acc[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  (void)acc; (void)a; (void)b;
  __trap();
#endif
}

}  // namespace btc::tile
