// wgmma atoms (sm_90a): the shared-memory matrix descriptor, the fence /
// commit / wait that order a warpgroup's asynchronous MMAs, setmaxnreg, and
// the generated m64nNk256 b1 AND (and s8 reference) wrappers.
#pragma once
#include <cstdint>

#include "kernels/atoms/arch.cuh"
#include "kernels/atoms/copy_sm80.cuh"  // smem_addr
#include "kernels/atoms/wgmma_asm.cuh"

namespace btc::atom {

// Shared-memory matrix descriptor. layout_type: 0 none (interleave), 1
// 128-byte, 2 64-byte, 3 32-byte swizzle. Base offset 0: swizzled slabs start
// 1024-byte aligned.
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

// Orders the warpgroup's register writes (accumulators, A fragments) before wgmma reads them.
__device__ __forceinline__ void wgmma_fence() {
#if BTC_HAS_SM90A
  asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_commit() {
#if BTC_HAS_SM90A
  asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
#endif
}
// Waits until at most N committed groups are still in flight.
template <int N>
__device__ __forceinline__ void wgmma_wait() {
#if BTC_HAS_SM90A
  asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory");
#endif
}

// Moves registers between warpgroups inside what the CTA holds at launch.
template <int kRegs>
__device__ __forceinline__ void setmaxnreg_dec() {
#if BTC_HAS_SM90A
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(kRegs));
#endif
}
template <int kRegs>
__device__ __forceinline__ void setmaxnreg_inc() {
#if BTC_HAS_SM90A
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(kRegs));
#endif
}

}  // namespace btc::atom
