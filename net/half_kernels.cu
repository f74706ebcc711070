#include "net/half_kernels.cuh"

#include <algorithm>
#include <stdexcept>

#include "harness/core/check.h"
#include "kernels/atoms/grid_dependency.cuh"
#include "net/warp_bits.cuh"

namespace btc::net {
namespace {

inline unsigned blocks_for(int64_t threads, int per_block) {
  return static_cast<unsigned>((threads + per_block - 1) / per_block);
}

__device__ __forceinline__ uint32_t sign_bit(__half v, int j) {
  return __half2float(v) >= 0.0f ? 1u << j : 0u;  // -0 is +1, as the reference
}

// One thread per pixel, blockIdx.y the image: each channel plane is read
// coalesced across the warp's pixels and the pixel's c_out fp16 go out as
// 8-byte stores (a thread per output element, with 64-bit divisions, took
// 224 us at batch 256 on the H200, 3.7x its DRAM floor:
// net-20261203T165521Z-fb0b076). c_out a multiple of 4.
__global__ void images_to_half_kernel(const float* __restrict__ x, int n, int c, int plane, int c_out,
                                      __half* __restrict__ out) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  const int at = blockIdx.x * blockDim.x + threadIdx.x;
  if (at >= plane) return;
  for (int64_t img = blockIdx.y; img < n; img += gridDim.y) {
    const float* src = x + img * c * plane + at;
    uint2* dst = reinterpret_cast<uint2*>(out + (img * plane + at) * c_out);
    for (int c4 = 0; c4 < c_out; c4 += 4) {
      __align__(8) __half v[4];
#pragma unroll
      for (int b = 0; b < 4; ++b) v[b] = c4 + b < c ? __float2half_rn(__ldg(src + int64_t(c4 + b) * plane)) : __float2half_rn(0.0f);
      dst[c4 / 4] = *reinterpret_cast<const uint2*>(v);
    }
  }
}

// Component j of v; j a constant after unrolling (no local-memory array).
__device__ __forceinline__ float lane_of(const float4& v, int j) {
  return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

// Four pixels a thread, where plane % 4 == 0 and x, out are 16-byte aligned:
// each channel plane read as one float4, so a thread has 48 bytes of an
// RGB image in flight where the kernel above has 12 (that kernel moved
// 257 MB in 98 us at batch 256 on the H200, 2.6 TB/s:
// net-20261204T200926Z-94d048d), and c_out = 4's two pixel pairs go out
// as 16-byte stores. c_out a multiple of 4.
__global__ void images_to_half_x4_kernel(const float* __restrict__ x, int n, int c, int plane, int c_out,
                                         __half* __restrict__ out) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  const int at = 4 * (blockIdx.x * blockDim.x + threadIdx.x);
  if (at >= plane) return;
  for (int64_t img = blockIdx.y; img < n; img += gridDim.y) {
    const float* src = x + img * c * plane + at;
    __half* dst = out + (img * plane + at) * c_out;
    for (int c4 = 0; c4 < c_out; c4 += 4) {
      float4 ch[4];  // channels c4 .. c4 + 3 of the 4 pixels
#pragma unroll
      for (int b = 0; b < 4; ++b)
        ch[b] = c4 + b < c ? __ldg(reinterpret_cast<const float4*>(src + int64_t(c4 + b) * plane))
                           : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      uint2 px[4];  // pixel j's 4 fp16, channel c4 in the low half of .x
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const __half2 lo = __floats2half2_rn(lane_of(ch[0], j), lane_of(ch[1], j));
        const __half2 hi = __floats2half2_rn(lane_of(ch[2], j), lane_of(ch[3], j));
        px[j] = make_uint2(*reinterpret_cast<const uint32_t*>(&lo), *reinterpret_cast<const uint32_t*>(&hi));
      }
      if (c_out == 4) {
        reinterpret_cast<uint4*>(dst)[0] = make_uint4(px[0].x, px[0].y, px[1].x, px[1].y);
        reinterpret_cast<uint4*>(dst)[1] = make_uint4(px[2].x, px[2].y, px[3].x, px[3].y);
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j) *reinterpret_cast<uint2*>(dst + int64_t(j) * c_out + c4) = px[j];
      }
    }
  }
}

// The same for any c_out: one thread per output element.
__global__ void images_to_half_any_kernel(const float* __restrict__ x, int n, int c, int h, int w, int c_out,
                                          __half* __restrict__ out) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  const int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;  // over n*h*w*c_out, NHWC order
  const int64_t total = int64_t(n) * h * w * c_out;
  if (e >= total) return;
  const int ch = int(e % c_out);
  const int64_t pix = e / c_out, plane = int64_t(h) * w;
  const int64_t img = pix / plane, at = pix - img * plane;
  out[e] = ch < c ? __float2half_rn(x[(img * c + ch) * plane + at]) : __float2half_rn(0.0f);
}

// Space-to-depth by 2: out[n][i][j][(sh * 2 + sw) * c + ch] = x[n][ch][2i + sh][2j + sw].
// One thread per output pixel: 8-byte loads of each (channel, row) pair,
// adjacent threads on adjacent pairs, and one 16-byte store per 8 channels
// (a thread per output element took 1.50 ms at batch 1024 on the H200, 6x
// its DRAM floor). c_out a multiple of 8, 4 c <= c_out <= 32.
__global__ void images_to_half_s2d_kernel(const float* __restrict__ x, int n, int c, int h, int w, int c_out,
                                          __half* __restrict__ out) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  const int64_t pix = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;  // over n*(h/2)*(w/2)
  const int ho = h / 2, wo = w / 2;
  if (pix >= int64_t(n) * ho * wo) return;
  const int j = int(pix % wo), i = int((pix / wo) % ho);
  const int64_t img = pix / (int64_t(ho) * wo);
  __align__(16) __half v[32];
  for (int e = 0; e < c_out; ++e) v[e] = __float2half_rn(0.0f);
  for (int ch = 0; ch < c; ++ch)
    for (int sh = 0; sh < 2; ++sh) {
      const float2 p = *reinterpret_cast<const float2*>(x + ((img * c + ch) * h + 2 * i + sh) * w + 2 * j);
      v[(sh * 2 + 0) * c + ch] = __float2half_rn(p.x);
      v[(sh * 2 + 1) * c + ch] = __float2half_rn(p.y);
    }
  uint4* dst = reinterpret_cast<uint4*>(out + pix * c_out);
  for (int g = 0; g < c_out / 8; ++g) dst[g] = reinterpret_cast<const uint4*>(v)[g];
}

__global__ void avgpool2_kernel(const __half* __restrict__ in, int n, int h, int w, int c, __half* __restrict__ out) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  const int ph = h / 2, pw = w / 2;
  const int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (e >= int64_t(n) * ph * pw * c) return;
  const int ch = int(e % c);
  int64_t pix = e / c;
  const int j = int(pix % pw);
  pix /= pw;
  const int i = int(pix % ph);
  const int64_t img = pix / ph;
  auto at = [&](int y, int x) { return __half2float(in[((img * h + y) * w + x) * c + ch]); };
  const float s = __fadd_rn(__fadd_rn(__fadd_rn(at(2 * i, 2 * j), at(2 * i, 2 * j + 1)), at(2 * i + 1, 2 * j)),
                            at(2 * i + 1, 2 * j + 1));
  out[e] = __float2half_rn(__fmul_rn(s, 0.25f));
}

// One thread per output pixel and 32-channel group (blockIdx.y): 32 fp32
// accumulators, and the group's filters in shared memory as [tap][c][32]
// so each input value meets 32 broadcast weights (8 float4 loads). The
// filters go through shared memory `chunk` taps at a time (all of a 3x3x256
// group is 288 KiB, past the 227 KiB an SM has); taps stay in (r, s) order,
// so the sums keep the reference's order.
constexpr int kConvThreads = 128;
constexpr size_t kConvSmemLimitBytes = 200 * 1024;

int conv_taps_per_chunk(int r, int c) {
  const size_t per_tap = size_t(c) * 32 * sizeof(float);
  return int(std::max<size_t>(1, std::min<size_t>(size_t(r) * r, kConvSmemLimitBytes / per_tap)));
}

__global__ void __launch_bounds__(kConvThreads) conv_half_kernel(ConvHalfArgs a, int chunk) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  extern __shared__ float4 smem4[];
  float* sw = reinterpret_cast<float*>(smem4);
  const int k0 = 32 * blockIdx.y, taps = a.r * a.r, tc = taps * a.c;
  const int64_t pix = blockIdx.x * int64_t(kConvThreads) + threadIdx.x;
  const bool valid = pix < int64_t(a.n) * a.p * a.q;
  const int qx = valid ? int(pix % a.q) : 0, py = valid ? int((pix / a.q) % a.p) : 0;
  const int64_t img = valid ? pix / (int64_t(a.p) * a.q) : 0;
  float acc[32];
#pragma unroll
  for (int j = 0; j < 32; ++j) acc[j] = 0.0f;
  for (int t0 = 0; t0 < taps; t0 += chunk) {
    const int t1 = min(taps, t0 + chunk);
    __syncthreads();  // the previous chunk's reads are done
    for (int i = threadIdx.x; i < 32 * (t1 - t0) * a.c; i += kConvThreads) {
      const int j = i % 32, t = i / 32;  // t = (tap - t0) * c + channel
      sw[i] = a.w[int64_t(k0 + j) * tc + int64_t(t0) * a.c + t];
    }
    __syncthreads();
    if (!valid) continue;
    for (int tap = t0; tap < t1; ++tap) {
      const int r = tap / a.r, s = tap % a.r;
      const int ih = py * a.stride - a.pad + r, iw = qx * a.stride - a.pad + s;
      if (ih < 0 || ih >= a.h || iw < 0 || iw >= a.wd) continue;
      const __half* xp = a.x + ((img * a.h + ih) * a.wd + iw) * a.c;
      const float4* wt = reinterpret_cast<const float4*>(sw + (tap - t0) * a.c * 32);
      for (int c = 0; c < a.c; ++c) {
        const float xv = __half2float(xp[c]);
#pragma unroll
        for (int v = 0; v < 8; ++v) {
          const float4 w4 = wt[c * 8 + v];
          acc[4 * v + 0] = __fmaf_rn(xv, w4.x, acc[4 * v + 0]);
          acc[4 * v + 1] = __fmaf_rn(xv, w4.y, acc[4 * v + 1]);
          acc[4 * v + 2] = __fmaf_rn(xv, w4.z, acc[4 * v + 2]);
          acc[4 * v + 3] = __fmaf_rn(xv, w4.w, acc[4 * v + 3]);
        }
      }
    }
  }
  if (!valid) return;
  __align__(16) __half out[32];
  uint32_t word = 0;
#pragma unroll
  for (int j = 0; j < 32; ++j) {
    float v = __fmaf_rn(a.scale[k0 + j], acc[j], a.shift[k0 + j]);
    if (a.shortcut) v = __fadd_rn(v, __half2float(a.shortcut[pix * a.k + k0 + j]));
    out[j] = __float2half_rn(v);
    if (a.relu && !(__half2float(out[j]) > 0.0f)) out[j] = __float2half_rn(0.0f);
    word |= sign_bit(out[j], j);
  }
  uint4* dst = reinterpret_cast<uint4*>(a.y + pix * a.k + k0);
  const uint4* src = reinterpret_cast<const uint4*>(out);
#pragma unroll
  for (int v = 0; v < 4; ++v) dst[v] = src[v];
  if (a.bits) a.bits[pix * (a.k / 32) + blockIdx.y] = word;
}

// One thread per output pixel and 8 channels: 16-byte loads and stores, 8
// threads over a 128-byte run of a pixel (a thread per 32 channels with
// 2-byte loads took 2.9 ms for Bi-Real's conv1 pool at batch 256 on the H200).
// Bits: the 4 threads of a 32-channel word gather their bytes by shuffle
// (word_of_bytes, net/warp_bits.cuh).
__global__ void maxpool3_kernel(const __half* __restrict__ in, int n, int h, int w, int c, int p, int q,
                                __half* __restrict__ out, uint32_t* __restrict__ bits) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  const int groups = c / 8;
  const int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;  // over n*p*q*groups
  const bool valid = t < int64_t(n) * p * q * groups;
  uint32_t byte = 0;
  if (valid) {
    const int g = int(t % groups);
    const int64_t pix = t / groups;
    const int qx = int(pix % q), py = int((pix / q) % p);
    const int64_t img = pix / (int64_t(p) * q);
    float m[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) m[j] = -INFINITY;
    for (int dy = 0; dy < 3; ++dy) {
      const int y = 2 * py - 1 + dy;
      if (y < 0 || y >= h) continue;
      for (int dx = 0; dx < 3; ++dx) {
        const int x = 2 * qx - 1 + dx;
        if (x < 0 || x >= w) continue;
        const uint4 v4 = *reinterpret_cast<const uint4*>(in + ((img * h + y) * w + x) * c + 8 * g);
        const __half* v = reinterpret_cast<const __half*>(&v4);
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const float f = __half2float(v[j]);
          if (f > m[j] || (f == m[j] && signbit(m[j]) && !signbit(f))) m[j] = f;  // +0 above -0, as the reference
        }
      }
    }
    __align__(16) __half o[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      o[j] = __float2half_rn(m[j]);  // exact: m is a half value
      byte |= sign_bit(o[j], j);
    }
    *reinterpret_cast<uint4*>(out + pix * c + 8 * g) = *reinterpret_cast<const uint4*>(o);
  }
  const uint32_t word = word_of_bytes(byte);
  if (valid && (t & 3) == 0) bits[t / 4] = word;  // 4 groups = one word; pixel rows are whole words
}

// One thread per row and 8 channels: 16-byte loads of z (two for int32 or
// fp32), one of the shortcut, one 16-byte store (a thread per 32 channels
// with scalar loads took 0.67 ms a stage-1 layer at batch 256 on the H200,
// 6x its DRAM floor). T: int32 (a bconv's z) or float (a conv's acc).
template <typename T>
__global__ void affine_shortcut_kernel(const T* __restrict__ z, int64_t rows, int k, const float* __restrict__ scale,
                                       const float* __restrict__ shift, const __half* __restrict__ shortcut, bool relu,
                                       __half* __restrict__ y, uint32_t* __restrict__ bits) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  static_assert(sizeof(T) == 4, "two 16-byte loads of 4-byte values");
  const int groups = k / 8;
  const int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;  // over rows*groups
  const bool valid = t < rows * groups;
  uint32_t byte = 0;
  if (valid) {
    const int g = int(t % groups);
    const int64_t base = t * 8;  // = row * k + 8 g
    __align__(16) T zv[8];
    *reinterpret_cast<uint4*>(zv) = *reinterpret_cast<const uint4*>(z + base);
    *reinterpret_cast<uint4*>(zv + 4) = *reinterpret_cast<const uint4*>(z + base + 4);
    uint4 s4 = make_uint4(0, 0, 0, 0);
    if (shortcut) s4 = *reinterpret_cast<const uint4*>(shortcut + base);
    const __half* sv = reinterpret_cast<const __half*>(&s4);
    __align__(16) __half o[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      float v = __fmaf_rn(scale[8 * g + j], static_cast<float>(zv[j]), shift[8 * g + j]);
      if (shortcut) v = __fadd_rn(v, __half2float(sv[j]));
      o[j] = __float2half_rn(v);
      if (relu && !(__half2float(o[j]) > 0.0f)) o[j] = __float2half_rn(0.0f);
      byte |= sign_bit(o[j], j);
    }
    *reinterpret_cast<uint4*>(y + base) = *reinterpret_cast<const uint4*>(o);
  }
  const uint32_t word = word_of_bytes(byte);
  if (valid && bits && (t & 3) == 0) bits[t / 4] = word;
}

// The bits (v >= 0) of an fp16 tensor, rows x k: one thread per 8 channels.
__global__ void half_signs_kernel(const __half* __restrict__ y, int64_t rows, int k, uint32_t* __restrict__ bits) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  const int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const bool valid = t < rows * (k / 8);
  uint32_t byte = 0;
  if (valid) {
    const uint4 v4 = *reinterpret_cast<const uint4*>(y + t * 8);
    const __half* v = reinterpret_cast<const __half*>(&v4);
#pragma unroll
    for (int j = 0; j < 8; ++j) byte |= sign_bit(v[j], j);
  }
  const uint32_t word = word_of_bytes(byte);
  if (valid && (t & 3) == 0) bits[t / 4] = word;
}

__global__ void global_avg_kernel(const __half* __restrict__ in, int n, int hw, int c, __half* __restrict__ out) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  const int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;  // over n*c
  if (t >= int64_t(n) * c) return;
  const int ch = int(t % c);
  const int64_t img = t / c;
  float sum = 0.0f;
  for (int i = 0; i < hw; ++i) sum = __fadd_rn(sum, __half2float(in[(img * hw + i) * c + ch]));
  out[t] = __float2half_rn(__fdiv_rn(sum, static_cast<float>(hw)));
}

__global__ void fc_half_kernel(const __half* __restrict__ x, int n, int in, int out, const float* __restrict__ wt,
                               const float* __restrict__ bias, float* __restrict__ logits) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  const int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;  // over n*out
  if (t >= int64_t(n) * out) return;
  const int k = int(t % out);
  const int64_t img = t / out;
  float acc = 0.0f;
  for (int i = 0; i < in; ++i) acc = __fmaf_rn(__half2float(x[img * in + i]), wt[int64_t(i) * out + k], acc);
  logits[t] = __half2float(__float2half_rn(__fadd_rn(acc, bias[k])));
}

__global__ void bias_logits_kernel(const float* __restrict__ acc, int64_t total, int out, const float* __restrict__ bias,
                                   float* __restrict__ logits) {
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  const int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (t >= total) return;
  logits[t] = __half2float(__float2half_rn(__fadd_rn(acc[t], bias[t % out])));
}

}  // namespace

void bias_logits(const float* acc, int n, int out, const float* bias, float* logits, cudaStream_t s) {
  const int64_t total = int64_t(n) * out;
  atom::launch_programmatic({blocks_for(total, 256), 256, 0, s}, bias_logits_kernel, acc, total, out, bias, logits);
}

void images_to_half(const float* x, int n, int c, int h, int w, int c_out, __half* out, cudaStream_t s) {
  if (c_out < c) throw std::invalid_argument("images_to_half: c_out < c");
  const int64_t plane = int64_t(h) * w;
  const auto aligned = [](const void* p, uintptr_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; };
  if (c_out % 4 == 0 && plane % 4 == 0 && plane < (int64_t{1} << 31) && aligned(x, 16) && aligned(out, 16)) {
    const dim3 grid(blocks_for(plane / 4, 256), static_cast<unsigned>(std::min(n, 65535)));
    atom::launch_programmatic({grid, 256, 0, s}, images_to_half_x4_kernel, x, n, c, int(plane), c_out, out);
  } else if (c_out % 4 == 0 && plane < (int64_t{1} << 31) && aligned(out, 8)) {
    const dim3 grid(blocks_for(plane, 256), static_cast<unsigned>(std::min(n, 65535)));
    atom::launch_programmatic({grid, 256, 0, s}, images_to_half_kernel, x, n, c, int(plane), c_out, out);
  } else {
    const int64_t total = int64_t(n) * c_out * plane;
    atom::launch_programmatic({blocks_for(total, 256), 256, 0, s}, images_to_half_any_kernel, x, n, c, h, w, c_out,
                              out);
  }
  BTC_CUDA_CHECK(cudaGetLastError());
}

void images_to_half_s2d(const float* x, int n, int c, int h, int w, int c_out, __half* out, cudaStream_t s) {
  if (h % 2 != 0 || w % 2 != 0 || c_out < 4 * c || c_out % 8 != 0 || c_out > 32)
    throw std::invalid_argument("images_to_half_s2d: odd image, or c_out not a multiple of 8 in [4c, 32]");
  const int64_t total = int64_t(n) * (h / 2) * (w / 2);
  atom::launch_programmatic({blocks_for(total, 256), 256, 0, s}, images_to_half_s2d_kernel, x, n, c, h, w, c_out, out);
}

void avgpool2_half(const __half* in, int n, int h, int w, int c, __half* out, cudaStream_t s) {
  const int64_t total = int64_t(n) * (h / 2) * (w / 2) * c;
  atom::launch_programmatic({blocks_for(total, 256), 256, 0, s}, avgpool2_kernel, in, n, h, w, c, out);
}

size_t conv_half_smem_bytes(int r, int c) { return size_t(conv_taps_per_chunk(r, c)) * c * 32 * sizeof(float); }

void conv_half(const ConvHalfArgs& a, cudaStream_t s) {
  if (a.k % 32 != 0) throw std::invalid_argument("conv_half: output channels must be a multiple of 32");
  const int chunk = conv_taps_per_chunk(a.r, a.c);
  const size_t smem = conv_half_smem_bytes(a.r, a.c);
  if (smem > 48 * 1024) BTC_CUDA_CHECK(cudaFuncSetAttribute(conv_half_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  const dim3 grid(blocks_for(int64_t(a.n) * a.p * a.q, kConvThreads), a.k / 32);
  atom::launch_programmatic({grid, kConvThreads, smem, s}, conv_half_kernel, a, chunk);
}

void maxpool3_half(const __half* in, int n, int h, int w, int c, int p, int q, __half* out, uint32_t* bits,
                   cudaStream_t s) {
  const int64_t total = int64_t(n) * p * q * (c / 8);
  atom::launch_programmatic({blocks_for(total, 256), 256, 0, s}, maxpool3_kernel, in, n, h, w, c, p, q, out, bits);
}

void bn_shortcut_half(const int32_t* z, int64_t rows, int k, const float* scale, const float* shift,
                      const __half* shortcut, __half* y, uint32_t* bits, cudaStream_t s) {
  const int64_t total = rows * (k / 8);
  atom::launch_programmatic({blocks_for(total, 256), 256, 0, s}, affine_shortcut_kernel<int32_t>, z, rows, k, scale,
                            shift, shortcut, false, y, bits);
}

void affine_half(const float* acc, int64_t rows, int k, const float* scale, const float* shift, const __half* shortcut,
                 bool relu, __half* y, uint32_t* bits, cudaStream_t s) {
  if (k % 32 != 0) throw std::invalid_argument("affine_half: channels must be a multiple of 32");
  const int64_t total = rows * (k / 8);
  atom::launch_programmatic({blocks_for(total, 256), 256, 0, s}, affine_shortcut_kernel<float>, acc, rows, k, scale,
                            shift, shortcut, relu, y, bits);
}

void half_signs(const __half* y, int64_t rows, int k, uint32_t* bits, cudaStream_t s) {
  if (k % 32 != 0) throw std::invalid_argument("half_signs: channels must be a multiple of 32");
  const int64_t total = rows * (k / 8);
  atom::launch_programmatic({blocks_for(total, 256), 256, 0, s}, half_signs_kernel, y, rows, k, bits);
}

void global_avg_half(const __half* in, int n, int hw, int c, __half* out, cudaStream_t s) {
  atom::launch_programmatic({blocks_for(int64_t(n) * c, 256), 256, 0, s}, global_avg_kernel, in, n, hw, c, out);
}

void fc_half(const __half* x, int n, int in, int out, const float* wt, const float* bias, float* logits,
             cudaStream_t s) {
  atom::launch_programmatic({blocks_for(int64_t(n) * out, 256), 256, 0, s}, fc_half_kernel, x, n, in, out, wt, bias,
                            logits);
}

}  // namespace btc::net
