#include "kernels/baselines/cublas_fc_half.h"

#include <stdexcept>

#include "harness/core/check.h"
#include "kernels/baselines/cublas_check.h"

namespace btc::cublas {

// cuBLAS's guidance for graph capture: a user workspace, so no allocation
// happens inside the capture (4 MiB covers its Hopper GEMMs).
constexpr size_t kWorkspaceBytes = size_t{4} << 20;

struct FcHalf::Impl {
  cublasHandle_t handle = nullptr;
  void* workspace = nullptr;
  int n = 0, in = 0, out = 0;
  const void* x = nullptr;
  const void* wt = nullptr;
  float* acc = nullptr;
};

FcHalf::FcHalf(int n, int in, int out, const void* x, const void* wt, float* acc) {
  if (n < 1 || in < 1 || out < 1 || !x || !wt || !acc) throw std::invalid_argument("cublas fc_half: bad problem");
  impl_ = new Impl{nullptr, nullptr, n, in, out, x, wt, acc};
  try {
    CUBLAS_CHECK(cublasCreate(&impl_->handle));
    BTC_CUDA_CHECK(cudaMalloc(&impl_->workspace, kWorkspaceBytes));
    workspace_bytes_ = kWorkspaceBytes;
    CUBLAS_CHECK(cublasSetWorkspace(impl_->handle, impl_->workspace, kWorkspaceBytes));
    CUBLAS_CHECK(cublasSetMathMode(impl_->handle, CUBLAS_DEFAULT_MATH));  // fp32 accumulation, no reduced-precision
  } catch (...) {
    if (impl_->handle) (void)cublasDestroy(impl_->handle);
    if (impl_->workspace) (void)cudaFree(impl_->workspace);
    delete impl_;
    impl_ = nullptr;
    throw;
  }
}

FcHalf::~FcHalf() {
  if (!impl_) return;
  (void)cublasDestroy(impl_->handle);  // destructors report nothing
  (void)cudaFree(impl_->workspace);
  delete impl_;
}

void FcHalf::run(cudaStream_t s) const {
  const Impl& p = *impl_;
  const float alpha = 1.0f, beta = 0.0f;
  // Row-major acc (n x out) is column-major acc^T (out x n) = wt^T (out x in,
  // ld out) x x^T (in x n, ld in).
  CUBLAS_CHECK(cublasSetStream(p.handle, s));
  CUBLAS_CHECK(cublasGemmEx(p.handle, CUBLAS_OP_N, CUBLAS_OP_N, p.out, p.n, p.in, &alpha, p.wt, CUDA_R_16F, p.out, p.x,
                            CUDA_R_16F, p.in, &beta, p.acc, CUDA_R_32F, p.out, CUBLAS_COMPUTE_32F,
                            CUBLAS_GEMM_DEFAULT));
}

}  // namespace btc::cublas
