// Pieces every BMM design shares: row popcounts (the AND form's correction
// terms), clearing kBits outputs a grid does not cover, argument checks, and
// the small kernels of the cuBLAS baselines (unpacking bits to +-1 int8 /
// half, and their int32 / threshold+pack epilogue).
//
// The functions below the "shared with ..." markers have no header of their
// own: bmm_designs.h is shared by everyone, so each user declares them
// (same signature, namespace btc::bmm) next to where it calls them.
#include <cuda_fp16.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels/bmm/bmm_designs.h"
#include "harness/core/check.h"
#include "formats/layout_dispatch.h"

namespace btc::bmm {
namespace {

using bits::BitMatrix;
using bits::Layout;

using bits::LayoutTag;
using bits::with_layout;

constexpr int kThreads = 256;

unsigned blocks_for(int64_t items, int per_block) {
  const int64_t b = (items + per_block - 1) / per_block;
  return static_cast<unsigned>(std::clamp<int64_t>(b, 1, int64_t{1} << 20));  // grid-stride past that
}

// ---- row popcounts: one warp per row, lanes stride over the row's words.
// (minBlocks 1: ptxas otherwise squeezes sm_90 to 32 registers and spills.)
template <Layout L>
__global__ void __launch_bounds__(kThreads, 1) row_popc_kernel(const uint32_t* __restrict__ m, BitMatrix shape,
                                                            int32_t* __restrict__ popc) {
  shape.layout = L;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int warps = static_cast<int>(gridDim.x * blockDim.x / 32);
  const int used = shape.used_kwords();
  for (int row = static_cast<int>((blockIdx.x * blockDim.x + threadIdx.x) / 32); row < shape.rows; row += warps) {
    int s = 0;
    for (int kw = lane; kw < used; kw += 32) s += __popc(m[shape.word_index(row, kw)] & shape.word_mask(kw));
#pragma unroll
    for (int off = 16; off > 0; off /= 2) s += __shfl_xor_sync(0xFFFFFFFFu, s, off);
    if (lane == 0) popc[row] = s;
  }
}

// ---- cuBLAS baselines: +-1 operands from bits (0 in the K padding).
template <class T>
__device__ __forceinline__ T pm1(int v);
template <>
__device__ __forceinline__ int8_t pm1<int8_t>(int v) {
  return static_cast<int8_t>(v);
}
template <>
__device__ __forceinline__ __half pm1<__half>(int v) {
  return __int2half_rn(v);
}

// out[r * ld + e] for r < rows, e < ld: +1 / -1 for logical element (r, e),
// 0 for e >= shape.k. Any layout, segments included (BitMatrix::locate).
template <Layout L, class T>
__global__ void __launch_bounds__(kThreads) unpack_pm1_kernel(const uint32_t* __restrict__ m, BitMatrix shape,
                                                              int rows, int ld, T* __restrict__ out) {
  shape.layout = L;
  const int64_t total = static_cast<int64_t>(rows) * ld;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int r = static_cast<int>(i / ld), e = static_cast<int>(i - static_cast<int64_t>(r) * ld);
    int v = 0;
    if (e < shape.k) {
      const bits::BitLocation loc = shape.locate(r, e);
      v = ((m[loc.word] >> loc.bit) & 1u) ? 1 : -1;
    }
    out[i] = pm1<T>(v);
  }
}

__device__ __forceinline__ int32_t as_dot(int32_t v) { return v; }
__device__ __forceinline__ int32_t as_dot(float v) { return __float2int_rn(v); }  // exact: |v| <= K < 2^24

// The cuBLAS result C (M x N, row stride ldc) to the design's output.
template <class T>
__global__ void __launch_bounds__(kThreads) int32_epilogue_kernel(const T* __restrict__ c, int ldc, const Output out,
                                                                  int m, int n) {
  const int64_t total = static_cast<int64_t>(m) * n;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t r = i / n, j = i - r * n;
    out.c[i] = as_dot(c[r * ldc + j]);
  }
}

// kBits: one warp per output word (every word of bits_shape, padding written
// as 0); lane j decides bit j = dot >= threshold, as BlockEpilogue does.
template <class T>
__global__ void __launch_bounds__(kThreads) bits_epilogue_kernel(const T* __restrict__ c, int ldc, const Output out,
                                                                 int m) {
  const BitMatrix& bs = out.bits_shape;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int64_t words = bs.words();
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  for (int64_t w = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; w < words; w += warps) {
    const bits::WordCoord wc = bs.coords_of_word(w);
    const bits::BitSpan sp = bs.word_span(wc.kw);
    bool bit = false;
    if (wc.row < m && lane < sp.count) {
      const int col = sp.first + lane;
      bit = fused_bit(out, col, as_dot(c[static_cast<int64_t>(wc.row) * ldc + col]));
    }
    const uint32_t word = __ballot_sync(0xFFFFFFFFu, bit);
    if (lane == 0) out.bits[w] = word;
  }
}

bool same_shape(const BitMatrix& x, const BitMatrix& y) {
  return x.layout == y.layout && x.rows == y.rows && x.k == y.k && x.k_segment == y.k_segment &&
         x.k_segment_valid == y.k_segment_valid && (!bits::is_wgmma(x.layout) || x.box_rows == y.box_rows);
}

}  // namespace

void row_popcounts(const uint32_t* d_m, const BitMatrix& shape, int32_t* d_popc, cudaStream_t s) {
  bits::check_shape(shape);
  if (shape.rows == 0) return;
  if (d_m == nullptr || d_popc == nullptr) throw std::invalid_argument("row_popcounts: null buffer");
  const unsigned grid = blocks_for(static_cast<int64_t>(shape.rows) * 32, kThreads);
  with_layout(shape.layout, [&](auto tag) {
    row_popc_kernel<decltype(tag)::value><<<grid, kThreads, 0, s>>>(d_m, shape, d_popc);
  });
  BTC_CUDA_CHECK_LAUNCH();
}

void clear_uncovered_bits(const Output& out, int rows_covered, cudaStream_t s) {
  if (out.epilogue != Epilogue::kBits) return;
  if (rows_covered < out.bits_shape.padded_rows())
    BTC_CUDA_CHECK(cudaMemsetAsync(out.bits, 0, static_cast<size_t>(out.bits_shape.bytes()), s));
}

// ---- shared with popc_baseline.cu, btc_wmma.cu, cublas_baseline.cpp ------

// Throws std::invalid_argument unless p is positive, the operands are the
// design's a_shape / b_shape for p, and `out` (when given) is a complete
// output for p: kInt32 a buffer, kBits a buffer, thresholds and
// bits_shape rows = M, k = N.
void check_run_args(const Design& d, const Problem& p, const Operands& in, const Output* out) {
  const std::string who = d.name() + ": ";
  if (p.m <= 0 || p.n <= 0 || p.k <= 0)
    throw std::invalid_argument(who + "problem " + std::to_string(p.m) + "x" + std::to_string(p.n) + "x" +
                                std::to_string(p.k) + " is not positive");
  if (in.a == nullptr || in.b == nullptr) throw std::invalid_argument(who + "null operand");
  const BitMatrix want_a = d.a_shape(p), want_b = d.b_shape(p);
  if (!same_shape(in.a_shape, want_a))
    throw std::invalid_argument(who + "A is " + bits::describe(in.a_shape) + ", the design reads " +
                                bits::describe(want_a));
  if (!same_shape(in.b_shape, want_b))
    throw std::invalid_argument(who + "B is " + bits::describe(in.b_shape) + ", the design reads " +
                                bits::describe(want_b));
  if (out == nullptr) return;
  if (out->epilogue == Epilogue::kInt32) {
    if (out->c == nullptr) throw std::invalid_argument(who + "kInt32 output without a buffer");
  } else if (out->epilogue == Epilogue::kHalf) {
    throw std::invalid_argument(who + "kHalf is a BConv output (no BMM design writes it)");
  } else {
    if (out->bits == nullptr || out->threshold == nullptr)
      throw std::invalid_argument(who + "kBits output without a bits buffer or thresholds");
    bits::check_shape(out->bits_shape);
    if (out->bits_shape.rows != p.m || out->bits_shape.k != p.n)
      throw std::invalid_argument(who + "kBits output is " + bits::describe(out->bits_shape) + ", must be " +
                                  std::to_string(p.m) + " x " + std::to_string(p.n));
  }
}

// kBits outputs: zeroes the buffer when a grid covering rows < rows_covered
// and stored k words < words_covered leaves words of bits_shape unwritten
// (clear_uncovered_bits handles rows; this adds the columns: wide
// layouts pad N past the last block column).
dim3 begin_blocked_run(const Design& d, const Problem& p, const Operands& in, const Output& out, int bm, int bn,
                       cudaStream_t s) {
  check_run_args(d, p, in, &out);
  const unsigned gx = static_cast<unsigned>((p.n + bn - 1) / bn), gy = static_cast<unsigned>((p.m + bm - 1) / bm);
  if (gy > 65535u) throw std::invalid_argument(d.name() + ": M = " + std::to_string(p.m) + " exceeds the grid");
  clear_uncovered_bits_2d(out, static_cast<int>(gy) * bm, static_cast<int>(gx) * bn / 32, s);
  return dim3(gx, gy);
}

namespace {
// (kernel, device) -> what was set up or queried for it.
using LaunchKey = std::pair<const void*, int>;
std::mutex launch_cache_mutex;
std::map<LaunchKey, int> smem_allowed, clusters_of, resident_of;
LaunchKey launch_key(const void* kernel) {
  int device = 0;
  BTC_CUDA_CHECK(cudaGetDevice(&device));
  return {kernel, device};
}
}  // namespace

void allow_dynamic_smem(const void* kernel, int bytes) {
  const auto key = launch_key(kernel);
  std::lock_guard<std::mutex> lock(launch_cache_mutex);
  auto it = smem_allowed.find(key);
  if (it != smem_allowed.end() && it->second >= bytes) return;
  BTC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  smem_allowed[key] = bytes;
}

int max_active_clusters(const void* kernel, const cudaLaunchConfig_t& cfg) {
  allow_dynamic_smem(kernel, static_cast<int>(cfg.dynamicSmemBytes));
  // Keyed by kernel only: each kernel launches with one block size, smem and cluster shape.
  const auto key = launch_key(kernel);
  std::lock_guard<std::mutex> lock(launch_cache_mutex);
  auto it = clusters_of.find(key);
  if (it != clusters_of.end()) return it->second;
  int clusters = 0;
  BTC_CUDA_CHECK(cudaOccupancyMaxActiveClusters(&clusters, kernel, &cfg));
  clusters_of[key] = clusters;
  return clusters;
}

int resident_blocks(const void* kernel, int threads, int smem_bytes) {
  allow_dynamic_smem(kernel, smem_bytes);
  // Keyed by kernel only, as above: one block size and smem per kernel.
  const auto key = launch_key(kernel);
  std::lock_guard<std::mutex> lock(launch_cache_mutex);
  auto it = resident_of.find(key);
  if (it != resident_of.end()) return it->second;
  int per_sm = 0, sms = 0;
  BTC_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem_bytes));
  BTC_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, key.second));
  if (per_sm < 1) throw std::runtime_error("a block of " + std::to_string(threads) + " threads and " +
                                           std::to_string(smem_bytes) + " B of shared memory does not fit an SM");
  resident_of[key] = per_sm * sms;
  return per_sm * sms;
}

void clear_uncovered_bits_2d(const Output& out, int rows_covered, int words_covered, cudaStream_t s) {
  if (out.epilogue != Epilogue::kBits) return;
  clear_uncovered_bits(out, words_covered < out.bits_shape.kwords() ? 0 : rows_covered, s);
}

// cuBLAS baselines: rows x ld +-1 matrices (row r = operand row r, 0 past k).
void unpack_pm1_s8(const uint32_t* d_m, const BitMatrix& shape, int rows, int ld, int8_t* d_out, cudaStream_t s) {
  bits::check_shape(shape);
  if (rows > shape.rows || ld < shape.k) throw std::invalid_argument("unpack_pm1_s8: bad rows / ld");
  if (rows == 0 || ld == 0) return;
  const unsigned grid = blocks_for(static_cast<int64_t>(rows) * ld, kThreads);
  with_layout(shape.layout, [&](auto tag) {
    unpack_pm1_kernel<decltype(tag)::value, int8_t><<<grid, kThreads, 0, s>>>(d_m, shape, rows, ld, d_out);
  });
  BTC_CUDA_CHECK_LAUNCH();
}

void unpack_pm1_f16(const uint32_t* d_m, const BitMatrix& shape, int rows, int ld, void* d_out, cudaStream_t s) {
  bits::check_shape(shape);
  if (rows > shape.rows || ld < shape.k) throw std::invalid_argument("unpack_pm1_f16: bad rows / ld");
  if (rows == 0 || ld == 0) return;
  const unsigned grid = blocks_for(static_cast<int64_t>(rows) * ld, kThreads);
  with_layout(shape.layout, [&](auto tag) {
    unpack_pm1_kernel<decltype(tag)::value, __half>
        <<<grid, kThreads, 0, s>>>(d_m, shape, rows, ld, static_cast<__half*>(d_out));
  });
  BTC_CUDA_CHECK_LAUNCH();
}

// C (M x N int32 or float, row stride ldc) -> out: kInt32 copies / converts,
// kBits thresholds and packs every word of bits_shape.
template <class T>
static void dense_epilogue(const T* d_c, int ldc, const Output& out, int m, int n, cudaStream_t s) {
  if (out.epilogue == Epilogue::kInt32) {
    int32_epilogue_kernel<T><<<blocks_for(static_cast<int64_t>(m) * n, kThreads), kThreads, 0, s>>>(d_c, ldc, out,
                                                                                                    m, n);
  } else {
    bits_epilogue_kernel<T><<<blocks_for(out.bits_shape.words() * 32, kThreads), kThreads, 0, s>>>(d_c, ldc, out, m);
  }
  BTC_CUDA_CHECK_LAUNCH();
}

void dense_epilogue_s32(const int32_t* d_c, int ldc, const Output& out, int m, int n, cudaStream_t s) {
  dense_epilogue(d_c, ldc, out, m, n, s);
}
void dense_epilogue_f32(const float* d_c, int ldc, const Output& out, int m, int n, cudaStream_t s) {
  dense_epilogue(d_c, ldc, out, m, n, s);
}

}  // namespace btc::bmm
