// sm_90 copy and synchronization atoms: mbarriers, the bulk copy engine
// (1-D cp.async.bulk, plain and cluster-multicast), cluster rank and barriers,
// and the proxy fence between ordinary shared-memory stores and the tensor
// core's or copy engine's reads.
#pragma once
#include <cstdint>

#include "kernels/atoms/arch.cuh"
#include "kernels/atoms/copy_sm80.cuh"  // smem_addr

namespace btc::atom {

__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}
// Makes the inits visible to the cluster (peers arrive and copy here).
__device__ __forceinline__ void fence_mbarrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_addr(bar)) : "memory");
}
// Waits until the phase with parity `parity` has completed.
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  asm volatile(
      "{\n .reg .pred done;\n"
      "WAIT_%=:\n"
      " mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      " @!done bra WAIT_%=;\n}" ::"r"(smem_addr(bar)),
      "r"(parity)
      : "memory");
}
// Arrives on the barrier at `bar`'s offset in CTA `rank` of the cluster.
// Default (.release.cta) semantics, as CUTLASS's ClusterBarrier does: the
// arrival only says "my wgmmas have finished reading this stage" (wait_group
// already ordered that); .release.cluster fenced every prior access of the
// thread cluster-wide on each stage release (mc2x1 ran 1,584 TOPS with it,
// 6,707 without on the H100: docs/findings-bmm.md).
__device__ __forceinline__ void mbar_arrive_cluster(uint64_t* bar, uint32_t rank) {
  asm volatile(
      "{\n .reg .b32 remote;\n"
      " mapa.shared::cluster.u32 remote, %0, %1;\n"
      " mbarrier.arrive.shared::cluster.b64 _, [remote];\n}" ::"r"(smem_addr(bar)),
      "r"(rank)
      : "memory");
}

__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                   smem_addr(dst)),
               "l"(src), "r"(bytes), "r"(smem_addr(bar))
               : "memory");
}
// The same copy landing at the same shared-memory offset (and completing on
// the same barrier offset) in every CTA of the cluster named in cta_mask.
__device__ __forceinline__ void bulk_copy_multicast(void* dst, const void* src, uint32_t bytes, uint64_t* bar,
                                                    uint16_t cta_mask) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster [%0], [%1], %2, [%3], "
      "%4;" ::"r"(smem_addr(dst)),
      "l"(src), "r"(bytes), "r"(smem_addr(bar)), "h"(cta_mask)
      : "memory");
}

__device__ __forceinline__ uint32_t cluster_ctarank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
  return r;
}
__device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}
// 16 bytes at `local`'s offset in the shared memory of CTA `rank` of the
// cluster (distributed shared memory).
__device__ __forceinline__ int4 ld_shared_cluster_v4(const void* local, uint32_t rank) {
  int4 v;
  asm volatile(
      "{\n .reg .b32 remote;\n"
      " mapa.shared::cluster.u32 remote, %4, %5;\n"
      " ld.shared::cluster.v4.s32 {%0, %1, %2, %3}, [remote];\n}"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "r"(smem_addr(local)), "r"(rank)
      : "memory");
  return v;
}

// 16 bytes to `local`'s offset in the shared memory of CTA `rank` of the cluster.
__device__ __forceinline__ void st_shared_cluster_v4(void* local, uint32_t rank, int4 v) {
  asm volatile(
      "{\n .reg .b32 remote;\n"
      " mapa.shared::cluster.u32 remote, %0, %1;\n"
      " st.shared::cluster.v4.s32 [remote], {%2, %3, %4, %5};\n}" ::"r"(smem_addr(local)),
      "r"(rank), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w)
      : "memory");
}

// Ordinary shared-memory stores -> reads by the async proxy (wgmma, bulk copies).
__device__ __forceinline__ void fence_proxy_async_smem() {
#if BTC_HAS_SM90
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
#endif
}

}  // namespace btc::atom
