// Split-K over a grid's z dimension, for kernels whose tile leaves most SMs
// idle (batch-1 BNN layers: a 7^2 x 512 BConv at batch 1 is 8 blocks of
// 64 x 64 on 132 SMs, each looping over all 4,608 bits of K alone).
//
// Two reductions of a tile's partial sums, element (i, thread) of every
// block of the tile summed (all blocks of a tile share one thread ->
// fragment mapping, so the sum is elementwise and needs no knowledge of the
// fragment layout):
// - split_k_reduce_cluster (sm_90): the tile's blocks are one cluster along
//   z; each leaves its partials in its own shared memory, each sums one
//   slice of the tile over DSMEM into rank 0, which finishes the tile. Two
//   cluster barriers, no global memory.
// - split_k_reduce (any arch): each block adds its partials to the tile's
//   int32 sums in global memory, and the block that arrives last (a per-tile
//   counter) reads them back and finishes the tile; it leaves sums and
//   counter at zero, so the next launch (stream order, graph replays) starts
//   clean; prepare() zeroes them once. At 64d32dc on the H200 it cost about
//   what it saved or more (7^2 x 512 at batch 1: 7.90 us in 9 shares, 7.81
//   for the best unsplit design; 14^2 x 256: 7.69 against 5.34), presumably
//   the serial round trips to L2 of the adds, the fence and the counter
//   (not profiled: the device was withdrawn before the ncu run).
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/atoms/arch.cuh"
#include "kernels/atoms/copy_sm90.cuh"
#include "kernels/atoms/grid_dependency.cuh"
#include "kernels/tile/split_k_rule.h"

namespace btc::tile {

// The portable cluster size: split-K's shares on sm_90, one cluster a tile.
constexpr int kMaxClusterSplits = 8;

// Host: tile::split_k_shares by `rule` on the current device (its SMs; at most
// kMaxClusterSplits shares on sm_90, for the DSMEM reduction, 16 before it),
// or the tests' forced count (force_split_k).
inline int device_split_k_shares(int64_t tiles, int ktiles, SplitKRule rule = {}) {
  const atom::DeviceLaunchFacts d = atom::device_launch_facts();
  if (d.cc_major >= 9) rule.max_splits = std::min(rule.max_splits, kMaxClusterSplits);
  return split_k_shares(tiles, ktiles, d.sms, forced_split_k_shares(), rule);
}
// Host: whether a launch of `splits` shares a tile makes them one cluster
// (sm_90, within the portable size), unless the tests force global sums.
inline bool split_k_in_clusters(int splits) {
  return atom::device_launch_facts().cc_major >= 9 && splits > 1 && splits <= kMaxClusterSplits &&
         !forced_split_k_global_sums();
}

// All threads of the block. v: this thread's kValues partial sums (in), the
// tile's full sums in the block that returns true. The other blocks return
// false and must not touch the tile's output.
template <int kValues>
__device__ bool split_k_reduce(int32_t (&v)[kValues], int32_t* tile_ws, unsigned* counter, unsigned splits) {
  __shared__ int last_block;
  const int tid = threadIdx.x, nt = blockDim.x;
#pragma unroll
  for (int i = 0; i < kValues; ++i) atomicAdd(tile_ws + i * nt + tid, v[i]);  // RED: no return value used
  __threadfence();  // this thread's adds are visible before the block's arrival
  __syncthreads();
  if (tid == 0) {
    const bool last = atomicAdd(counter, 1u) == splits - 1;
    if (last) *counter = 0u;  // every block of the tile has arrived: none counts again this launch
    last_block = last;
  }
  __syncthreads();
  if (!last_block) return false;
  __threadfence();  // the other blocks' adds, published before their arrivals
#pragma unroll
  for (int i = 0; i < kValues; ++i) {
    int32_t* at = tile_ws + i * nt + tid;
    v[i] = __ldcg(at);  // L2: the adds landed there, not in this SM's L1
    __stcg(at, 0);
  }
  return true;
}

// All threads of the block, every block of the cluster (gridDim.z blocks a
// cluster, cluster rank = blockIdx.z). scratch: kValues rounded up to 4 int32
// a thread of this block's shared memory, free for it (the ring after the
// main loop). True in rank 0, with the tile's sums in v.
// Every rank sums its own slice of the groups (group q to rank q mod splits)
// over all ranks and leaves it in rank 0, so the DSMEM round trips run in
// parallel: rank 0 alone reading its peers in turn (until 7152667) put 25-38%
// of mma_and_splitk's stall samples at the second barrier, its peers waiting
// (docs/profiles/ncu-fc-stem-7152667/).
template <int kValues>
__device__ bool split_k_reduce_cluster(int32_t (&v)[kValues], int4* scratch, unsigned splits) {
#if BTC_HAS_SM90
  constexpr int kGroups = (kValues + 3) / 4;
  const int tid = threadIdx.x, nt = blockDim.x;
  const unsigned rank = atom::cluster_ctarank();
  if (splits == 2) {  // one peer: rank 0 reads it in one round trip (the slices below ran 0.84x here)
    if (rank != 0) {
#pragma unroll
      for (int q = 0; q < kGroups; ++q) {
        const int i = 4 * q;
        scratch[q * nt + tid] = make_int4(v[i], i + 1 < kValues ? v[i + 1] : 0, i + 2 < kValues ? v[i + 2] : 0,
                                          i + 3 < kValues ? v[i + 3] : 0);
      }
    }
    atom::cluster_sync();  // rank 1's partials are in its shared memory
    if (rank == 0) {
      int4 part[kGroups];
#pragma unroll
      for (int q = 0; q < kGroups; ++q) part[q] = atom::ld_shared_cluster_v4(scratch + q * nt + tid, 1);
#pragma unroll
      for (int q = 0; q < kGroups; ++q) {
        const int i = 4 * q;
        v[i] += part[q].x;
        if (i + 1 < kValues) v[i + 1] += part[q].y;
        if (i + 2 < kValues) v[i + 2] += part[q].z;
        if (i + 3 < kValues) v[i + 3] += part[q].w;
      }
    }
    atom::cluster_sync();  // rank 1's shared memory stays until rank 0 has read it
    return rank == 0;
  }
#pragma unroll
  for (int q = 0; q < kGroups; ++q) {
    const int i = 4 * q;
    scratch[q * nt + tid] = make_int4(v[i], i + 1 < kValues ? v[i + 1] : 0, i + 2 < kValues ? v[i + 2] : 0,
                                      i + 3 < kValues ? v[i + 3] : 0);
  }
  atom::cluster_sync();  // every rank's partials are in its shared memory
  for (unsigned q = rank; q < static_cast<unsigned>(kGroups); q += splits) {
    int4 part[kMaxClusterSplits];
#pragma unroll
    for (unsigned r = 0; r < kMaxClusterSplits; ++r)
      if (r < splits) part[r] = atom::ld_shared_cluster_v4(scratch + q * nt + tid, r);
    int4 sum = part[0];
#pragma unroll
    for (unsigned r = 1; r < kMaxClusterSplits; ++r)
      if (r < splits) sum.x += part[r].x, sum.y += part[r].y, sum.z += part[r].z, sum.w += part[r].w;
    atom::st_shared_cluster_v4(scratch + q * nt + tid, 0, sum);
  }
  atom::cluster_sync();  // rank 0 holds every group's sum; no rank reads a peer any more
  if (rank != 0) return false;
#pragma unroll
  for (int q = 0; q < kGroups; ++q) {
    const int4 s = scratch[q * nt + tid];
    const int i = 4 * q;
    v[i] = s.x;
    if (i + 1 < kValues) v[i + 1] = s.y;
    if (i + 2 < kValues) v[i + 2] = s.z;
    if (i + 3 < kValues) v[i + 3] = s.w;
  }
  return true;
#else
  (void)v, (void)scratch, (void)splits;
  __trap();  // the host launches clusters only for sm_90 code (IgemmDesign::launch)
  return false;
#endif
}

}  // namespace btc::tile
