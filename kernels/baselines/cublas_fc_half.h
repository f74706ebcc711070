// The fp16 fully connected head of a network's real layers on cuBLAS (the
// full-precision baseline's "cuBLAS FC"): acc = x W^T with fp16 operands and
// fp32 accumulation (CUBLAS_COMPUTE_32F, cuBLAS's order, tensor cores), into
// an fp32 buffer the caller's epilogue reads (net: logits = half(acc + bias)).
// Within net::ReferenceLayer::logits_bound of the reference, not equal to it.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

namespace btc::cublas {

class FcHalf {
 public:
  // x: n x in fp16 (row-major), wt: in x out fp16 (row-major: the weights
  // transposed), acc: n x out fp32; fixed for the object's life. Creates its
  // own handle with a workspace of its own (so a CUDA graph can capture it).
  FcHalf(int n, int in, int out, const void* x, const void* wt, float* acc);
  ~FcHalf();
  FcHalf(const FcHalf&) = delete;
  FcHalf& operator=(const FcHalf&) = delete;
  void run(cudaStream_t s) const;  // asynchronous
  size_t device_bytes() const { return workspace_bytes_; }

 private:
  struct Impl;
  Impl* impl_ = nullptr;
  size_t workspace_bytes_ = 0;
};

}  // namespace btc::cublas
