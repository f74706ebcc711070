#include "kernels/bmm/bmm_data.h"
#include "harness/core/check.h"
#include "formats/pack_gpu.cuh"

namespace btc::bmm {
namespace {

__global__ void fill_random_kernel(uint32_t* w, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(i + 1);  // splitmix64
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    w[i] = static_cast<uint32_t>(z ^ (z >> 31));
  }
}

}  // namespace

DeviceBits::DeviceBits(const bits::BitMatrix& shape, uint64_t seed) : shape_(shape) {
  bits::BitMatrix plain{};
  plain.layout = bits::Layout::kRowU32;
  plain.rows = shape.rows;
  plain.k = shape.k;
  uint32_t* tmp = nullptr;
  BTC_CUDA_CHECK(cudaMalloc(&tmp, static_cast<size_t>(plain.bytes())));
  fill_random_kernel<<<1024, 256>>>(tmp, plain.words(), seed);
  BTC_CUDA_CHECK_LAUNCH();
  BTC_CUDA_CHECK(cudaMalloc(&words_, static_cast<size_t>(shape.bytes())));
  bits::convert_gpu(tmp, plain, shape, words_);  // zero padding, whatever the random words held
  BTC_CUDA_CHECK(cudaDeviceSynchronize());
  BTC_CUDA_CHECK(cudaFree(tmp));
}

DeviceBits::~DeviceBits() { cudaFree(words_); }

}  // namespace btc::bmm
