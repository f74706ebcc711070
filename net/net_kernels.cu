#include "net/net_kernels.cuh"

#include <stdexcept>
#include <string>

#include "harness/core/check.h"

namespace btc::net {
namespace {

inline unsigned blocks_for(int64_t threads, int per_block) {
  return static_cast<unsigned>((threads + per_block - 1) / per_block);
}

__global__ void quantize_kernel(const float* __restrict__ x, int n, int c, int h, int w, float scale, int cp,
                                int8_t* __restrict__ q) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;  // over n*h*w*cp, NHWC
  if (i >= int64_t(n) * h * w * cp) return;
  const int ch = static_cast<int>(i % cp);
  const int64_t pix = i / cp;
  const int xw = static_cast<int>(pix % w), yh = static_cast<int>(pix / w % h), img = static_cast<int>(pix / (int64_t(w) * h));
  int8_t v = 0;
  if (ch < c) {
    const float s = __fdiv_rn(x[((int64_t(img) * c + ch) * h + yh) * w + xw], scale);
    v = static_cast<int8_t>(max(-127, min(127, __float2int_rn(s))));
  }
  q[i] = v;
}

// A warp is 32 output pixels of one 8-channel group, so the weights it reads
// from shared memory are one broadcast word; the block's 8 warps cover 64
// channels. cp = 4 * words per tap (dp4a over 4 int8 channels).
constexpr int kStemPix = 32, kStemGroups = 8, kStemCh = 8;

__global__ void stem_kernel(StemArgs a) {
  extern __shared__ int32_t sw[];  // [64 channels][r][r][cp / 4]
  const int tapw = a.cp / 4, per_ch = a.r * a.r * tapw;
  const int k0 = blockIdx.y * kStemGroups * kStemCh;
  const int nch = min(kStemGroups * kStemCh, a.k - k0);
  const int32_t* w32 = reinterpret_cast<const int32_t*>(a.w);
  for (int i = threadIdx.y * kStemPix + threadIdx.x; i < nch * per_ch; i += kStemPix * kStemGroups)
    sw[i] = w32[int64_t(k0) * per_ch + i];
  __syncthreads();
  const int64_t pix = blockIdx.x * int64_t(kStemPix) + threadIdx.x;
  const int kg = threadIdx.y * kStemCh;  // first channel of this thread, block-relative
  if (pix >= int64_t(a.n) * a.p * a.q || kg >= nch) return;
  const int oq = static_cast<int>(pix % a.q), op = static_cast<int>(pix / a.q % a.p);
  const int img = static_cast<int>(pix / (int64_t(a.q) * a.p));
  const int32_t* x32 = reinterpret_cast<const int32_t*>(a.x);
  int acc[kStemCh] = {};
  for (int dr = 0; dr < a.r; ++dr) {
    const int iy = op * a.stride - a.pad + dr;
    if (iy < 0 || iy >= a.h) continue;  // zero padding: the tap adds 0
    for (int ds = 0; ds < a.r; ++ds) {
      const int ix = oq * a.stride - a.pad + ds;
      if (ix < 0 || ix >= a.wd) continue;
      const int32_t* xp = x32 + ((int64_t(img) * a.h + iy) * a.wd + ix) * tapw;
      const int tap = (dr * a.r + ds) * tapw;
      for (int cw = 0; cw < tapw; ++cw) {
        const int xv = __ldg(xp + cw);
#pragma unroll
        for (int j = 0; j < kStemCh; ++j) acc[j] = __dp4a(xv, sw[(kg + j) * per_ch + tap + cw], acc[j]);
      }
    }
  }
  int32_t* yp = a.y + pix * a.k + k0 + kg;
#pragma unroll
  for (int j = 0; j < kStemCh; ++j) yp[j] = acc[j];
}

__global__ void threshold_kernel(ThresholdArgs a) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;  // over rows * k; k % 32 == 0
  const int64_t total = int64_t(a.n) * a.p * a.q * a.k;
  if (i >= total) return;  // whole warps: total is a multiple of 32
  const int ch = static_cast<int>(i % a.k);
  const int64_t row = i / a.k;
  int32_t y = a.y[i];
  if (a.res != nullptr && ch < a.rc) {
    const int oq = static_cast<int>(row % a.q), op = static_cast<int>(row / a.q % a.p);
    const int64_t img = row / (int64_t(a.q) * a.p);
    const int32_t* r = a.res + ((img * a.rh) * a.rw) * a.rc + ch;
    if (a.pool2) {
      const int32_t* r0 = r + ((2 * op) * int64_t(a.rw) + 2 * oq) * a.rc;
      const int32_t* r1 = r0 + int64_t(a.rw) * a.rc;
      y += max(max(r0[0], r0[a.rc]), max(r1[0], r1[a.rc]));
    } else {
      y += r[(int64_t(op) * a.rw + oq) * a.rc];
    }
  }
  if (a.write_y) a.y[i] = y;
  const bool flip = a.flip != nullptr && ((a.flip[ch / 32] >> (ch % 32)) & 1u);
  const bool bit = flip ? y <= a.threshold[ch] : y >= a.threshold[ch];
  const uint32_t word = __ballot_sync(0xffffffffu, bit);  // lane = channel % 32: bit j = channel 32w + j
  if ((threadIdx.x & 31) == 0) a.bits[i / 32] = word;
}

__global__ void maxpool2_kernel(const uint32_t* __restrict__ in, int n, int p, int q, int kwords,
                                uint32_t* __restrict__ out) {
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
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= int64_t(batch) * classes) return;
  const int j = static_cast<int>(i % classes);
  out[i] = __fadd_rn(__fmul_rn(__fmul_rn(__fsub_rn(static_cast<float>(y[i]), mean[j]), invstd[j]), gamma[j]), beta[j]);
}

}  // namespace

void quantize_images(const float* x, int n, int c, int h, int w, float scale, int cp, int8_t* q, cudaStream_t s) {
  const int64_t total = int64_t(n) * h * w * cp;
  quantize_kernel<<<blocks_for(total, 256), 256, 0, s>>>(x, n, c, h, w, scale, cp, q);
  BTC_CUDA_CHECK_LAUNCH();
}

void stem_conv(const StemArgs& a, cudaStream_t s) {
  if (a.cp % 4 != 0 || a.k % kStemCh != 0) throw std::invalid_argument("stem_conv: cp must be a multiple of 4, k of 8");
  const size_t smem = size_t(kStemGroups) * kStemCh * a.r * a.r * a.cp;
  if (smem > 48 * 1024)
    throw std::invalid_argument("stem_conv: " + std::to_string(smem) + " bytes of filters exceed 48 KiB shared memory");
  const dim3 grid(blocks_for(int64_t(a.n) * a.p * a.q, kStemPix), (a.k + kStemGroups * kStemCh - 1) / (kStemGroups * kStemCh));
  stem_kernel<<<grid, dim3(kStemPix, kStemGroups), smem, s>>>(a);
  BTC_CUDA_CHECK_LAUNCH();
}

void residual_threshold(const ThresholdArgs& a, cudaStream_t s) {
  if (a.k % 32 != 0) throw std::invalid_argument("residual_threshold: k must be a multiple of 32");
  const int64_t total = int64_t(a.n) * a.p * a.q * a.k;
  threshold_kernel<<<blocks_for(total, 256), 256, 0, s>>>(a);
  BTC_CUDA_CHECK_LAUNCH();
}

void maxpool2_bits(const uint32_t* in, int n, int p, int q, int kwords, uint32_t* out, cudaStream_t s) {
  const int64_t total = int64_t(n) * (p / 2) * (q / 2) * kwords;
  maxpool2_kernel<<<blocks_for(total, 256), 256, 0, s>>>(in, n, p, q, kwords, out);
  BTC_CUDA_CHECK_LAUNCH();
}

void bn_logits(const int32_t* y, int batch, int classes, const float* mean, const float* invstd, const float* gamma,
               const float* beta, float* out, cudaStream_t s) {
  bn_logits_kernel<<<blocks_for(int64_t(batch) * classes, 256), 256, 0, s>>>(y, batch, classes, mean, invstd, gamma,
                                                                             beta, out);
  BTC_CUDA_CHECK_LAUNCH();
}

}  // namespace btc::net
