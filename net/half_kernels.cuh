// The runner's half-precision kernels (Bi-Real / ReActNet layers; the
// value semantics in net/model.h and docs/models.md "Half-precision
// layers"). Every sum runs in fp32 in the reference's fixed order with
// explicit __fmaf_rn / __fadd_rn, so the GPU equals the CPU reference bit
// for bit. Tensors are fp16 NHWC with exact C; bits are row_u32, C / 32
// words a pixel, bit = (v >= 0). Launchers are asynchronous on `s`.
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace btc::net {

// fp32 NCHW images -> fp16 NHWC with c_out >= c channels, round to nearest
// even; channels past c are +0 (cuDNN's tensor-core kernels want 8).
void images_to_half(const float* x, int n, int c, int h, int w, int c_out, __half* out, cudaStream_t s);

// The same, space-to-depth by 2 (h, w even): n x h/2 x w/2 x c_out, channel
// (sh * 2 + sw) * c + ch holding pixel (2i + sh, 2j + sw) of channel ch; channels
// past 4c +0 (c_out a multiple of 8, at most 32). A stride-2 conv on the image becomes a stride-1 conv on this
// with 4x the channels (cuDNN's fp16 kernels run a 3-channel input slowly).
void images_to_half_s2d(const float* x, int n, int c, int h, int w, int c_out, __half* out, cudaStream_t s);

// 2x2 stride-2 average: half(((a + b) + c + d) * 0.25f); h, w even.
void avgpool2_half(const __half* in, int n, int h, int w, int c, __half* out, cudaStream_t s);

// A real-valued convolution (fp32 accumulation over r, s, c in order, zero
// padding), then y = half(fmaf(scale, acc, shift) [+ shortcut]), relu: y > 0
// ? y : +0; bits where bits != nullptr.
// w: K x R x R x C fp32 (half values). k a multiple of 32.
struct ConvHalfArgs {
  const __half* x = nullptr;
  const float* w = nullptr;
  const float* scale = nullptr;
  const float* shift = nullptr;
  const __half* shortcut = nullptr;  // n x p x q x k, or nullptr
  bool relu = false;
  __half* y = nullptr;
  uint32_t* bits = nullptr;
  int n = 0, h = 0, wd = 0, c = 0, k = 0, r = 1, stride = 1, pad = 0, p = 0, q = 0;
};
void conv_half(const ConvHalfArgs& a, cudaStream_t s);
// Shared memory the conv takes for a block's 32 filters, as many taps at a
// time as fit in 200 KiB (a layer the runner cannot run when one tap passes
// the device's limit).
size_t conv_half_smem_bytes(int r, int c);

// 3x3 stride-2 pad-1 max of y (n x h x w x c), out n x p x q x c and its bits.
void maxpool3_half(const __half* in, int n, int h, int w, int c, int p, int q, __half* out, uint32_t* bits,
                   cudaStream_t s);

// A half-output bconv's epilogue: y = half(fmaf(scale, float(z), shift) +
// shortcut) (shortcut nullptr: without the add), rows x k, and its bits.
void bn_shortcut_half(const int32_t* z, int64_t rows, int k, const float* scale, const float* shift,
                      const __half* shortcut, __half* y, uint32_t* bits, cudaStream_t s);

// A conv's epilogue on another conv's fp32 acc (rows x k, e.g. cuDNN's):
// y = half(fmaf(scale, acc, shift) [+ shortcut]), relu as conv_half; bits
// where bits != nullptr. k a multiple of 32.
void affine_half(const float* acc, int64_t rows, int k, const float* scale, const float* shift, const __half* shortcut,
                 bool relu, __half* y, uint32_t* bits, cudaStream_t s);

// The bits (v >= 0) of y, rows x k fp16 (k a multiple of 32).
void half_signs(const __half* y, int64_t rows, int k, uint32_t* bits, cudaStream_t s);

// Global average: out[n][c] = half(sum over (h, w) in order / float(h * w)).
void global_avg_half(const __half* in, int n, int hw, int c, __half* out, cudaStream_t s);

// A real-valued fc: logits[n][k] = float(half(acc + bias[k])), acc = fp32
// sum over i in order of fmaf(x[n][i], w[i][k]); wt is the weights
// transposed, in x out.
void fc_half(const __half* x, int n, int in, int out, const float* wt, const float* bias, float* logits,
             cudaStream_t s);

// An fc's epilogue on another GEMM's fp32 acc (n x out, e.g. cuBLAS's):
// logits = float(half(acc + bias[k])).
void bias_logits(const float* acc, int n, int out, const float* bias, float* logits, cudaStream_t s);

}  // namespace btc::net
