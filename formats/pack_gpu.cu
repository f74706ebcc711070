#include "formats/pack_gpu.cuh"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "harness/core/check.h"
#include "formats/layout_dispatch.h"

namespace btc::bits {
namespace {

constexpr int kThreads = 256;

// The layout is a template argument so each kernel's index math folds to
// shifts and masks where the box shape is fixed.
template <Layout L, class T>
__global__ void __launch_bounds__(kThreads) pack_signs_kernel(const T* __restrict__ x, BitMatrix m,
                                                              uint32_t* __restrict__ out) {
  m.layout = L;
  const int64_t n = m.words();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t w = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; w < n; w += stride)
    out[w] = pack_word(x, m, w);
}

template <Layout S, Layout D>
__global__ void __launch_bounds__(kThreads) convert_kernel(const uint32_t* __restrict__ src, BitMatrix s,
                                                           BitMatrix d, bool same_map, uint32_t* __restrict__ out) {
  s.layout = S;
  d.layout = D;
  const int64_t n = d.words();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t w = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; w < n; w += stride)
    out[w] = convert_word(src, s, d, w, same_map);
}

using bits::LayoutTag;
using bits::with_layout;

unsigned grid_for(int64_t words) {
  const int64_t blocks = (words + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::min<int64_t>(blocks, int64_t{1} << 20));  // grid-stride past that
}

template <class T>
void pack_launch(const T* d_x, int rows, int k, const BitMatrix& dst, uint32_t* d_out, cudaStream_t stream) {
  check_shape(dst);
  if (rows != dst.rows || k != dst.k)
    throw std::invalid_argument("pack_signs_gpu: input is " + std::to_string(rows) + " x " + std::to_string(k) +
                                ", destination is " + describe(dst));
  const int64_t n = dst.words();
  if (n == 0) return;
  if (d_out == nullptr || (d_x == nullptr && rows > 0 && k > 0))
    throw std::invalid_argument("pack_signs_gpu: null device pointer");
  with_layout(dst.layout, [&](auto tag) {
    constexpr Layout L = decltype(tag)::value;
    pack_signs_kernel<L, T><<<grid_for(n), kThreads, 0, stream>>>(d_x, dst, d_out);
    BTC_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

void pack_signs_gpu(const float* d_x, int rows, int k, const BitMatrix& dst, uint32_t* d_out, cudaStream_t stream) {
  pack_launch(d_x, rows, k, dst, d_out, stream);
}

void pack_signs_gpu(const int8_t* d_x, int rows, int k, const BitMatrix& dst, uint32_t* d_out,
                    cudaStream_t stream) {
  pack_launch(d_x, rows, k, dst, d_out, stream);
}

void convert_gpu(const uint32_t* d_src, const BitMatrix& src, const BitMatrix& dst, uint32_t* d_dst,
                 cudaStream_t stream) {
  check_shape(src);
  check_shape(dst);
  if (src.rows != dst.rows || src.k != dst.k)
    throw std::invalid_argument("convert_gpu: shapes differ (" + describe(src) + " -> " + describe(dst) + ")");
  const int64_t n = dst.words();
  if (n == 0) return;
  if (d_dst == nullptr || (d_src == nullptr && src.words() > 0))
    throw std::invalid_argument("convert_gpu: null device pointer");
  const bool same_map = same_k_map(src, dst);
  with_layout(src.layout, [&](auto stag) {
    with_layout(dst.layout, [&](auto dtag) {
      constexpr Layout S = decltype(stag)::value;
      constexpr Layout D = decltype(dtag)::value;
      convert_kernel<S, D><<<grid_for(n), kThreads, 0, stream>>>(d_src, src, dst, same_map, d_dst);
      BTC_CUDA_CHECK_LAUNCH();
    });
  });
}

}  // namespace btc::bits
