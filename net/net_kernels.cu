#include "net/net_kernels.cuh"

#include <stdexcept>
#include <string>

#include "harness/core/check.h"
#include "kernels/atoms/grid_dependency.cuh"

namespace btc::net {
namespace {

inline unsigned blocks_for(int64_t threads, int per_block) {
  return static_cast<unsigned>((threads + per_block - 1) / per_block);
}

// One thread per pixel: each channel plane is read coalesced across the
// warp's pixels, and the pixel's cp int8 go out as cp / 4 words (thread per
// output byte read the planes 3 ways strided: 686 us for ResNet-18's batch
// 512 on the H200, 7x its DRAM floor).
__global__ void quantize_kernel(const float* __restrict__ x, int n, int c, int h, int w, float scale, int cp,
                                int8_t* __restrict__ q) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  const int64_t pix = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;  // over n*h*w
  const int64_t plane = int64_t(h) * w;
  if (pix >= int64_t(n) * plane) return;
  const int64_t img = pix / plane, at = pix - img * plane;
  uint32_t* out = reinterpret_cast<uint32_t*>(q) + pix * (cp / 4);
  for (int w4 = 0; w4 < cp / 4; ++w4) {
    uint32_t word = 0;
    for (int b = 0; b < 4; ++b) {
      const int ch = 4 * w4 + b;
      if (ch >= c) break;
      const float v = __fdiv_rn(x[(img * c + ch) * plane + at], scale);
      const int iv = max(-127, min(127, __float2int_rn(v)));
      word |= (static_cast<uint32_t>(iv) & 0xffu) << (8 * b);
    }
    out[w4] = word;
  }
}

// One thread per output pixel and 32-channel word (blockIdx.y): 32
// accumulators, so the thread thresholds its own bit word and no exchange is
// needed. The block's 32 filters sit in shared memory as [tap][c word][32
// channels], so a tap's 32 weights are 8 broadcast 16-byte loads for 32
// dp4a (8 channels per thread with one 4-byte load per dp4a took 2.4 ms for
// ResNet-18's stem at batch 512 on the H200).
constexpr int kStemThreads = 256;

__global__ void __launch_bounds__(kStemThreads) stem_kernel(StemArgs a) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  extern __shared__ int4 sw4[];  // [r*r*tapw][8] int4 = 32 channels
  __shared__ int32_t thr[32];
  __shared__ uint32_t flip_word;
  const int tapw = a.cp / 4, taps = a.r * a.r * tapw;
  const int kw = blockIdx.y, k0 = 32 * kw;
  const int32_t* w32 = reinterpret_cast<const int32_t*>(a.w);
  int32_t* sw = reinterpret_cast<int32_t*>(sw4);
  for (int i = threadIdx.x; i < 32 * taps; i += kStemThreads) {
    const int ch = i % 32, t = i / 32;
    sw[i] = w32[int64_t(k0 + ch) * taps + t];
  }
  if (threadIdx.x < 32) thr[threadIdx.x] = a.threshold[k0 + threadIdx.x];
  if (threadIdx.x == 0) flip_word = a.flip ? a.flip[kw] : 0u;
  __syncthreads();
  const int64_t pix = blockIdx.x * int64_t(kStemThreads) + threadIdx.x;
  if (pix >= int64_t(a.n) * a.p * a.q) return;
  const int oq = static_cast<int>(pix % a.q), op = static_cast<int>(pix / a.q % a.p);
  const int img = static_cast<int>(pix / (int64_t(a.q) * a.p));
  const int32_t* x32 = reinterpret_cast<const int32_t*>(a.x);
  int acc[32] = {};
  for (int dr = 0; dr < a.r; ++dr) {
    const int iy = op * a.stride - a.pad + dr;
    if (iy < 0 || iy >= a.h) continue;  // zero padding: the tap adds 0
    for (int ds = 0; ds < a.r; ++ds) {
      const int ix = oq * a.stride - a.pad + ds;
      if (ix < 0 || ix >= a.wd) continue;
      const int32_t* xp = x32 + ((int64_t(img) * a.h + iy) * a.wd + ix) * tapw;
      const int4* wt = sw4 + (dr * a.r + ds) * tapw * 8;
      for (int cw = 0; cw < tapw; ++cw) {
        const int xv = __ldg(xp + cw);
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const int4 wv = wt[cw * 8 + j];
          acc[4 * j + 0] = __dp4a(xv, wv.x, acc[4 * j + 0]);
          acc[4 * j + 1] = __dp4a(xv, wv.y, acc[4 * j + 1]);
          acc[4 * j + 2] = __dp4a(xv, wv.z, acc[4 * j + 2]);
          acc[4 * j + 3] = __dp4a(xv, wv.w, acc[4 * j + 3]);
        }
      }
    }
  }
  uint32_t word = 0;
#pragma unroll
  for (int j = 0; j < 32; ++j) {
    const bool flip = (flip_word >> j) & 1u;
    word |= static_cast<uint32_t>(flip ? acc[j] <= thr[j] : acc[j] >= thr[j]) << j;
  }
  a.bits[pix * (a.k / 32) + kw] = word;
  if (a.y != nullptr) {
    int4* yp = reinterpret_cast<int4*>(a.y + pix * a.k + k0);
#pragma unroll
    for (int j = 0; j < 8; ++j) yp[j] = make_int4(acc[4 * j], acc[4 * j + 1], acc[4 * j + 2], acc[4 * j + 3]);
  }
}

// A thread per 4 channels of a pixel: y and the residual move as 16-byte
// loads, and 8 lanes' 4-bit pieces OR into one 32-channel word (k is a
// multiple of 32, so a word's 8 lanes never straddle two pixels). Index math
// in 32 bits (rows < 2^31, checked by the launcher). Measured on the H200,
// ResNet-18 56x56x64 at batch 512: a thread per element with 64-bit
// divisions 826 us, a warp per pixel word 685 us (1.8 TB/s).
__global__ void threshold_kernel(ThresholdArgs a) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  const int k4 = a.k / 4;
  const int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const bool live = t < int64_t(a.n) * a.p * a.q * k4;  // dead lanes still shuffle
  const int row = live ? static_cast<int>(t / k4) : 0, c0 = live ? 4 * static_cast<int>(t % k4) : 0;
  const int64_t at = int64_t(row) * a.k + c0;
  uint32_t nibble = 0;
  if (live) {
    int4 y = *reinterpret_cast<const int4*>(a.y + at);
    if (a.res != nullptr && c0 < a.rc) {  // rc is a multiple of 32: the 4 channels are all in or all out
      const int oq = row % a.q, op = row / a.q % a.p, img = row / (a.q * a.p);
      const int32_t* r = a.res + int64_t(img) * a.rh * a.rw * a.rc + c0;
      int4 v;
      if (a.pool2) {
        const int32_t* r0 = r + (int64_t(2 * op) * a.rw + 2 * oq) * a.rc;
        const int32_t* r1 = r0 + int64_t(a.rw) * a.rc;
        const int4 v00 = *reinterpret_cast<const int4*>(r0), v01 = *reinterpret_cast<const int4*>(r0 + a.rc);
        const int4 v10 = *reinterpret_cast<const int4*>(r1), v11 = *reinterpret_cast<const int4*>(r1 + a.rc);
        v = make_int4(max(max(v00.x, v01.x), max(v10.x, v11.x)), max(max(v00.y, v01.y), max(v10.y, v11.y)),
                      max(max(v00.z, v01.z), max(v10.z, v11.z)), max(max(v00.w, v01.w), max(v10.w, v11.w)));
      } else {
        v = *reinterpret_cast<const int4*>(r + (int64_t(op) * a.rw + oq) * a.rc);
      }
      y = make_int4(y.x + v.x, y.y + v.y, y.z + v.z, y.w + v.w);
    }
    if (a.write_y) *reinterpret_cast<int4*>(a.y + at) = y;
    const uint32_t flips = a.flip != nullptr ? (a.flip[c0 / 32] >> (c0 % 32)) & 0xfu : 0u;
    const int vals[4] = {y.x, y.y, y.z, y.w};
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int32_t th = a.threshold[c0 + e];
      const bool bit = (flips >> e) & 1u ? vals[e] <= th : vals[e] >= th;
      nibble |= static_cast<uint32_t>(bit) << e;
    }
  }
  const int lane = threadIdx.x & 31;
  uint32_t word = nibble << (4 * (lane % 8));  // channel c0 + e is bit (c0 % 32) + e of its word
  word |= __shfl_xor_sync(0xffffffffu, word, 1);
  word |= __shfl_xor_sync(0xffffffffu, word, 2);
  word |= __shfl_xor_sync(0xffffffffu, word, 4);
  if (live && lane % 8 == 0) a.bits[at / 32] = word;
}

__global__ void maxpool2_kernel(const uint32_t* __restrict__ in, int n, int p, int q, int kwords,
                                uint32_t* __restrict__ out) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  const int po = p / 2, qo = q / 2;
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;  // over n*po*qo*kwords
  if (i >= int64_t(n) * po * qo * kwords) return;
  const int kw = static_cast<int>(i % kwords);
  const int64_t pix = i / kwords;
  const int x = static_cast<int>(pix % qo), y = static_cast<int>(pix / qo % po);
  const int64_t img = pix / (int64_t(qo) * po);
  const uint32_t* r0 = in + ((img * p + 2 * y) * q + 2 * x) * kwords + kw;
  const uint32_t* r1 = r0 + int64_t(q) * kwords;
  out[i] = r0[0] | r0[kwords] | r1[0] | r1[kwords];
}

__global__ void bn_logits_kernel(const int32_t* __restrict__ y, int batch, int classes, const float* __restrict__ mean,
                                 const float* __restrict__ invstd, const float* __restrict__ gamma,
                                 const float* __restrict__ beta, float* __restrict__ out) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= int64_t(batch) * classes) return;
  const int j = static_cast<int>(i % classes);
  out[i] = __fadd_rn(__fmul_rn(__fmul_rn(__fsub_rn(static_cast<float>(y[i]), mean[j]), invstd[j]), gamma[j]), beta[j]);
}

}  // namespace

void quantize_images(const float* x, int n, int c, int h, int w, float scale, int cp, int8_t* q, cudaStream_t s) {
  const int64_t pixels = int64_t(n) * h * w;
  atom::launch_programmatic({blocks_for(pixels, 256), 256, 0, s}, quantize_kernel, x, n, c, h, w, scale, cp, q);
}

void stem_conv(const StemArgs& a, cudaStream_t s) {
  if (a.cp % 4 != 0 || a.k % 32 != 0) throw std::invalid_argument("stem_conv: cp must be a multiple of 4, k of 32");
  if (a.bits == nullptr || a.threshold == nullptr) throw std::invalid_argument("stem_conv: bits and thresholds are required");
  const size_t smem = size_t(32) * a.r * a.r * a.cp;  // 32 filters of int8
  if (smem > 48 * 1024)
    throw std::invalid_argument("stem_conv: " + std::to_string(smem) + " bytes of filters exceed 48 KiB shared memory");
  const dim3 grid(blocks_for(int64_t(a.n) * a.p * a.q, kStemThreads), static_cast<unsigned>(a.k / 32));
  atom::launch_programmatic({grid, kStemThreads, smem, s}, stem_kernel, a);
}

void residual_threshold(const ThresholdArgs& a, cudaStream_t s) {
  if (a.k % 32 != 0 || (a.res != nullptr && a.rc % 32 != 0))
    throw std::invalid_argument("residual_threshold: k and the residual's channels must be multiples of 32");
  if (int64_t(a.n) * a.p * a.q >= (int64_t{1} << 31)) throw std::invalid_argument("residual_threshold: 2^31 pixels or more");
  const int64_t threads = int64_t(a.n) * a.p * a.q * (a.k / 4);
  atom::launch_programmatic({blocks_for(threads, 256), 256, 0, s}, threshold_kernel, a);
}

void maxpool2_bits(const uint32_t* in, int n, int p, int q, int kwords, uint32_t* out, cudaStream_t s) {
  const int64_t total = int64_t(n) * (p / 2) * (q / 2) * kwords;
  atom::launch_programmatic({blocks_for(total, 256), 256, 0, s}, maxpool2_kernel, in, n, p, q, kwords, out);
}

void bn_logits(const int32_t* y, int batch, int classes, const float* mean, const float* invstd, const float* gamma,
               const float* beta, float* out, cudaStream_t s) {
  atom::launch_programmatic({blocks_for(int64_t(batch) * classes, 256), 256, 0, s}, bn_logits_kernel, y, batch, classes,
                            mean, invstd, gamma, beta, out);
}

}  // namespace btc::net
