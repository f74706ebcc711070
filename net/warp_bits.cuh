// Device helpers the net's fp16 kernels share for their sign-bit outputs.
#pragma once
#include <cstdint>

namespace btc::net {

// Lanes 4i .. 4i+3 hold the bytes (8 channels each) of one 32-channel bit
// word; lane 4i gets the word. Every lane of the warp calls it (lanes with
// nothing to write pass byte 0).
__device__ __forceinline__ uint32_t word_of_bytes(uint32_t byte) {
  uint32_t w = byte;
  w |= __shfl_down_sync(0xffffffffu, byte, 1) << 8;
  w |= __shfl_down_sync(0xffffffffu, byte, 2) << 16;
  w |= __shfl_down_sync(0xffffffffu, byte, 3) << 24;
  return w;
}

}  // namespace btc::net
