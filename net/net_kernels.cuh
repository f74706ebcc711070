// The runner's own small kernels: the parts of a network that are not a BMM
// or a BConv (the int8 stem, the residual add + threshold, the bit max-pool,
// the float head). Launchers are asynchronous on `s` and check the launch.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace btc::net {

// fp32 NCHW images -> int8 NHWC with C padded to cp (a multiple of 4, pad 0):
// q = clamp(rint(x / scale), -127, 127), ties to even (net/reference.h).
void quantize_images(const float* x, int n, int c, int h, int w, float scale, int cp, int8_t* q, cudaStream_t s);

// The stem: y[n][p][q][k] = sum over in-image taps of q * w, exact int32,
// thresholded into bits (row_u32, k / 32 words a pixel); y is also written
// where y != nullptr (a saved residual). q: N x H x W x cp int8; w: K x R x
// R x cp int8 (+-1, padding lanes 0). k a multiple of 32.
struct StemArgs {
  const int8_t* x = nullptr;
  const int8_t* w = nullptr;
  int32_t* y = nullptr;
  const int32_t* threshold = nullptr;
  const uint32_t* flip = nullptr;  // k bits, 32 per word; nullptr: none
  uint32_t* bits = nullptr;
  int n = 0, h = 0, wd = 0, cp = 0, k = 0, r = 0, stride = 1, pad = 0, p = 0, q = 0;
};
void stem_conv(const StemArgs& a, cudaStream_t s);

// y (rows x k int32, rows = n*p*q) plus an optional residual (n x rh x rw x rc
// int32; pool2: its 2x2 max; channels >= rc add 0), then bits = the
// thresholded y, packed 32 channels per word (row_u32, k / 32 words a row).
// write_y: y is updated in place (the saved residual).
struct ThresholdArgs {
  int32_t* y = nullptr;
  int n = 0, p = 0, q = 0, k = 0;
  const int32_t* res = nullptr;
  int rh = 0, rw = 0, rc = 0;
  bool pool2 = false;
  bool write_y = false;
  const int32_t* threshold = nullptr;
  const uint32_t* flip = nullptr;  // k bits, 32 per word
  uint32_t* bits = nullptr;
};
void residual_threshold(const ThresholdArgs& a, cudaStream_t s);

// 2x2 stride-2 max of +-1 bits (OR), NHWC, kwords words per pixel.
void maxpool2_bits(const uint32_t* in, int n, int p, int q, int kwords, uint32_t* out, cudaStream_t s);

// logits = ((float(y) - mean) * invstd) * gamma + beta, rounded at each step
// as bconv::batch_norm_f32 (no contraction into FMA).
void bn_logits(const int32_t* y, int batch, int classes, const float* mean, const float* invstd, const float* gamma,
               const float* beta, float* out, cudaStream_t s);

}  // namespace btc::net
