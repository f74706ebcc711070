// mbarrier and bulk-copy (cp.async.bulk) primitives of sm_90, shared by the
// BMM designs that feed shared memory through the copy engine. Use them only
// in code compiled for sm_90+ (`__CUDA_ARCH__ >= 900`).
#pragma once
#include <cstdint>

#include "tile_io.cuh"

namespace btc::bmm::sm90 {
// ---- mbarrier and bulk-copy primitives (sm_90).
__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(tile::smem_addr(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(tile::smem_addr(bar)), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(tile::smem_addr(bar)) : "memory");
}
// Waits until the phase with parity `parity` has completed.
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  asm volatile(
      "{\n .reg .pred done;\n"
      "WAIT_%=:\n"
      " mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      " @!done bra WAIT_%=;\n}" ::"r"(tile::smem_addr(bar)),
      "r"(parity)
      : "memory");
}
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                   tile::smem_addr(dst)),
               "l"(src), "r"(bytes), "r"(tile::smem_addr(bar))
               : "memory");
}
// The same copy landing at the same shared-memory offset (and completing on
// the same barrier offset) in every CTA of the cluster named in cta_mask.
__device__ __forceinline__ void bulk_copy_multicast(void* dst, const void* src, uint32_t bytes, uint64_t* bar,
                                                    uint16_t cta_mask) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster [%0], [%1], %2, [%3], "
      "%4;" ::"r"(tile::smem_addr(dst)),
      "l"(src), "r"(bytes), "r"(tile::smem_addr(bar)), "h"(cta_mask)
      : "memory");
}
__device__ __forceinline__ uint32_t cluster_ctarank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
  return r;
}
// Arrives on the barrier at `bar`'s offset in CTA `rank` of the cluster.
// Default (.release.cta) semantics, as CUTLASS's ClusterBarrier does: the
// arrival only says "my wgmmas have finished reading this stage" (wait_group
// already ordered that); .release.cluster would fence every prior memory
// access of the thread cluster-wide on each stage release.
__device__ __forceinline__ void mbar_arrive_cluster(uint64_t* bar, uint32_t rank) {
  asm volatile(
      "{\n .reg .b32 remote;\n"
      " mapa.shared::cluster.u32 remote, %0, %1;\n"
      " mbarrier.arrive.shared::cluster.b64 _, [remote];\n}" ::"r"(tile::smem_addr(bar)),
      "r"(rank)
      : "memory");
}
__device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}

// Rows r0 .. r0+rows of global matrix gm, K words kw0 .. kw0+slab_kw, into
// shared memory as the same layout over a rows x (32 slab_kw) matrix (what
// tile::copy_slab writes), as one bulk copy per row box: a row box's K run
// is contiguous in every layout (boxes are stored row box major). Lanes
// lane, lane + lanes, .. issue the runs; they complete on `bar`, which the
// caller armed with expect_tx for rows * slab_kw * 4 bytes.
template <bits::Layout L>
__device__ __forceinline__ void copy_slab_bulk(uint32_t* smem, const uint32_t* g, const bits::BitMatrix& gm, int r0,
                                               int kw0, int rows, int slab_kw, uint64_t* bar, int lane, int lanes) {
  const int tr = bits::box_rows_of(L, gm.box_rows);
  const int64_t kwords = gm.kwords();
  const uint32_t* base = g + r0 * kwords + static_cast<int64_t>(kw0) * tr;
  const int run_words = tr * slab_kw;
  for (int rb = lane; rb < rows / tr; rb += lanes)
    bulk_copy(smem + rb * run_words, base + rb * tr * kwords, static_cast<uint32_t>(run_words * 4), bar);
}

}  // namespace btc::bmm::sm90
