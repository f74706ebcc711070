// Device helpers shared by the microkernels.
#pragma once
#include <cstdint>

namespace btc::dev {

__device__ __forceinline__ long long global_ns() {
  long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// Forces `v` (and what it depends on) to be complete here: the mov consumes
// it, and volatile asm keeps its order against clock reads.
__device__ __forceinline__ void consume(int32_t v) { asm volatile("mov.b32 %0, %0;" : "+r"(v)); }

// Brackets a block's timed region; thread 0 writes (cycles, ns) for the
// block, from which the host derives the SM clock it ran at.
struct BlockClock {
  long long c0, n0;
  __device__ void start() {
    c0 = clock64();
    n0 = global_ns();
  }
  __device__ void stop(long long* clk) const {
    __syncthreads();
    if (threadIdx.x == 0) {
      clk[2 * blockIdx.x] = clock64() - c0;
      clk[2 * blockIdx.x + 1] = global_ns() - n0;
    }
  }
};

}  // namespace btc::dev
