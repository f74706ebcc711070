// The real-valued fp16 convolution of a network's real layers (a Bi-Real
// stem or downsample, every layer of the full-precision ResNet-18) on cuDNN:
//   y = [relu] half(scale[k] * conv(x, w) + shift[k] [+ shortcut])
// with the batch norm, shortcut add and ReLU fused into the convolution
// (one cuDNN graph: conv -> mul -> add [-> add] [-> relu], fp32 in between),
// NHWC fp16 x / y / shortcut, KRSC fp16 w, fp32 per-channel scale and shift.
// cuDNN accumulates in fp32 in its own order (and may fuse the two pointwise
// steps into one FMA), so y is within net::ReferenceLayer::half_bound of the
// CPU reference, not equal to it (docs/models.md "Tolerance of reordered real
// layers"). Engines with Winograd, FFT or reduced-precision reductions are
// left out, so that bound holds. Two paths compete when it is built: the
// fused graph, and the convolution alone into an fp32 buffer followed by the
// caller's epilogue (net::affine_half); each is timed on the real buffers
// (the second with its epilogue) and the faster kept. The unfused path also
// serves a GPU where cuDNN fuses nothing.
//
// No cuDNN header here: this compiles everywhere, and without cuDNN
// unavailable_reason() says so.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace btc::cudnn {

struct ConvHalfProblem {
  int n = 0, h = 0, w = 0, c = 0;         // x: n x h x w x c (c a multiple of 8)
  int k = 0, r = 1, stride = 1, pad = 0;  // w: k x r x r x c (k a multiple of 8); zero padding
  int pad_after = -1;                     // the bottom / right padding; -1: pad
  bool shortcut = false, relu = false;
  int after() const { return pad_after < 0 ? pad : pad_after; }
  int p() const { return (h + pad + after() - r) / stride + 1; }
  int q() const { return (w + pad + after() - r) / stride + 1; }
};

// Device pointers, fixed for the object's life (a network's planned buffers).
struct ConvHalfBuffers {
  const void* x = nullptr;         // __half
  const void* w = nullptr;         // __half
  const float* scale = nullptr;    // k
  const float* shift = nullptr;    // k
  const void* shortcut = nullptr;  // __half n x p x q x k, when problem.shortcut
  void* y = nullptr;               // __half n x p x q x k
};

// The unfused path's epilogue: y from the convolution's fp32 result (n x p x
// q x k NHWC), asynchronous on the stream.
using ConvHalfEpilogue = std::function<void(const float* acc, cudaStream_t)>;

class ConvHalf {
 public:
  // "" when cuDNN loads and has a handle on the current device; else why not.
  static std::string unavailable_reason();
  // Builds the plans (cached per shape and device), times them on these
  // buffers and keeps the fastest. Throws std::invalid_argument when cuDNN
  // has no engine for the problem, std::runtime_error on any cuDNN or CUDA
  // failure.
  ConvHalf(const ConvHalfProblem& p, const ConvHalfBuffers& b, ConvHalfEpilogue epilogue, cudaStream_t s);
  ~ConvHalf();
  ConvHalf(const ConvHalf&) = delete;
  ConvHalf& operator=(const ConvHalf&) = delete;

  void run(cudaStream_t s) const;  // asynchronous (the epilogue too); capturable in a CUDA graph
  bool fused() const { return acc_ == nullptr; }
  size_t device_bytes() const { return device_bytes_; }  // workspace + the unfused path's fp32 buffer
  // e.g. "conv+mul+add+relu/eng42{k2=1} (tuned: 0.041 ms)"; the unfused
  // path "conv/eng0{...} (...) + epilogue 0.010 ms".
  std::string algorithm() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ConvHalfEpilogue epilogue_;
  float* acc_ = nullptr;
  size_t device_bytes_ = 0;
};

}  // namespace btc::cudnn
