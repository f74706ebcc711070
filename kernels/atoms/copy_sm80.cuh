// Global -> shared and shared -> register copy atoms: cp.async (sm_80, with a
// plain 16-byte load/store elsewhere) and ldmatrix of 8 x 128-bit matrices.
#pragma once
#include <cstdint>

#include "kernels/atoms/arch.cuh"

namespace btc::atom {

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared: cp.async.cg (sm_80+) lets the next stage's copy
// overlap this stage's MMAs; kAsync = false (or an older pass) is a plain copy.
template <bool kAsync>
__device__ __forceinline__ void copy16(uint32_t* dst, const uint32_t* src) {
#if BTC_HAS_SM80
  if constexpr (kAsync) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(smem_addr(dst)), "l"(src) : "memory");
    return;
  }
#endif
  *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
}

// kBytes (4, 8 or 16) global -> shared, or zeros where !valid (a convolution
// tap outside the image): cp.async with src-size 0 zero-fills without
// reading (sm_80+); other passes store directly. src must be a valid address.
template <int kBytes, bool kAsync>
__device__ __forceinline__ void copy_or_zero(uint32_t* dst, const uint32_t* src, bool valid) {
  static_assert(kBytes == 4 || kBytes == 8 || kBytes == 16, "cp.async copies 4, 8 or 16 bytes");
#if BTC_HAS_SM80
  if constexpr (kAsync) {
    const int src_bytes = valid ? kBytes : 0;
    if constexpr (kBytes == 16)
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(smem_addr(dst)), "l"(src), "r"(src_bytes)
                   : "memory");
    else
      asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;" ::"r"(smem_addr(dst)), "l"(src), "n"(kBytes),
                   "r"(src_bytes)
                   : "memory");
    return;
  }
#endif
  if constexpr (kBytes == 16) *reinterpret_cast<uint4*>(dst) = valid ? *reinterpret_cast<const uint4*>(src) : uint4{};
  else if constexpr (kBytes == 8) *reinterpret_cast<uint2*>(dst) = valid ? *reinterpret_cast<const uint2*>(src) : uint2{};
  else *dst = valid ? *src : 0u;
}

__device__ __forceinline__ void cp_async_commit() {
#if BTC_HAS_SM80
  asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if BTC_HAS_SM80
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
#endif
}

// ldmatrix of b16 8x8 matrices: lane l addresses row l % 8 of matrix l / 8;
// a 128-bit b1 row is one such row, so matrices land in the mma.sync fragment
// register order. No memory clobber: the loads may be scheduled among the
// MMAs; the barrier before them orders the stores they read.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem_row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(smem_row)));
}
__device__ __forceinline__ void ldmatrix_x2(uint32_t (&r)[2], const void* smem_row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(smem_addr(smem_row)));
}

// A hint: the 128-byte line holding `p` (global memory) into this SM's L1,
// so a later plain load of it waits on L1, not L2. No register, no result.
__device__ __forceinline__ void prefetch_l1(const void* p) {
  asm volatile("prefetch.global.L1 [%0];" ::"l"(p));
}

// Named barrier: `threads` threads (a multiple of 32) of the block meet at `id` (1..15; 0 is __syncthreads).
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(threads) : "memory");
}

}  // namespace btc::atom
