// Split-K over a grid's z dimension, for kernels whose tile leaves most SMs
// idle (batch-1 BNN layers: a 7^2 x 512 BConv at batch 1 is 8 blocks of
// 64 x 64 on 132 SMs, each looping over all 4,608 bits of K alone).
//
// Every block of a tile adds its partial accumulators to the tile's int32
// workspace, element (i, thread) at i * blockDim.x + thread: all blocks of a
// tile share one thread -> fragment mapping, so the sum is elementwise and
// needs no knowledge of the fragment layout. The block that arrives last
// (a per-tile counter) reads the sums back and runs the epilogue; it leaves
// the workspace and the counter at zero, so the next launch (stream order,
// graph replays) starts clean. prepare() zeroes them once.
#pragma once
#include <cstdint>

namespace btc::tile {

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

}  // namespace btc::tile
