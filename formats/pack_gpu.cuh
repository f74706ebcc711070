// GPU packers for the layouts of layout.h: one thread per destination word,
// which finds its (row, kw) with BitMatrix::coords_of_word, so every word of
// the destination (padding included, written as 0) is written exactly once.
// Launchers check their shapes (std::invalid_argument, as pack_cpu.h) and
// every CUDA call (btc::CudaError); they are asynchronous on `stream`.
// Includable from plain C++. The kernels' per-word bodies are in word_ops.h.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "formats/layout.h"
#include "formats/word_ops.h"

namespace btc::bits {

// d_x: rows x k row-major on the device; d_out: dst.words() words.
void pack_signs_gpu(const float* d_x, int rows, int k, const BitMatrix& dst, uint32_t* d_out,
                    cudaStream_t stream = nullptr);
void pack_signs_gpu(const int8_t* d_x, int rows, int k, const BitMatrix& dst, uint32_t* d_out,
                    cudaStream_t stream = nullptr);
// d_src: src.words() words; d_dst: dst.words() words (distinct buffers).
void convert_gpu(const uint32_t* d_src, const BitMatrix& src, const BitMatrix& dst, uint32_t* d_dst,
                 cudaStream_t stream = nullptr);

}  // namespace btc::bits
