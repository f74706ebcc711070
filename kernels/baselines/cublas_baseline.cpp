// Full-precision baselines: the same +-1 BMM as an ordinary cuBLAS GEMM.
//
//   cublas_s8   int8 +-1 operands, int32 accumulate and output
//               (cublasGemmEx CUDA_R_8I x CUDA_R_8I -> CUDA_R_32I, CUBLAS_COMPUTE_32I): exact.
//   cublas_f16  half +-1 operands, fp32 accumulate and output
//               (CUDA_R_16F x CUDA_R_16F -> CUDA_R_32F, CUBLAS_COMPUTE_32F): exact, every
//               partial sum is an integer of magnitude <= K < 2^24.
//
// tensor_core() is false: these are the "no 1-bit tensor cores" reference
// points of the comparison (8- and 16-bit operands), even though cuBLAS runs
// them on the int8 / fp16 tensor cores internally.
//
// prepare() (untimed) unpacks the bit operands into row-major +-1 matrices in
// the workspace, K padded with zeros (zeros add nothing to the dot product).
// run() (timed) is the GEMM plus a small epilogue kernel - the int32 copy /
// float -> int32 conversion or the threshold + 1-bit pack of kBits, same bit
// semantics as BlockEpilogue - and that kernel is inside the timed part. The
// one exception: cublas_s8 with kInt32 writes C straight into the output
// when N is a multiple of 4 (int8 GEMM alignment), with no epilogue kernel.
//
// Layout: cuBLAS is column-major. A (M x K) and B (N x K) are stored
// row-major with leading dimension Kp, i.e. column-major K x M (A^T) and
// K x N (B^T). C (M x N row-major) is column-major C^T (N x M), and
//   C^T = B A^T = op_T(B^T) * op_N(A^T):
// cublasGemmEx(OP_T, OP_N, m = N, n = M, k = Kp, B, ldb = Kp, A, lda = Kp, C, ldc).
// That is the "TN" form the int8 (IMMA) kernels want; Kp is a multiple of 16
// (int8) / 8 (half), so every leading dimension is a multiple of 16 bytes,
// and C's leading dimension is N rounded up to 4 (a scratch C when N % 4 != 0).
#include <cublas_v2.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "harness/core/check.h"
#include "kernels/baselines/cublas_check.h"
#include "kernels/bmm/bmm_designs.h"

namespace btc::bmm {

namespace {

enum class Precision { kS8, kF16 };

size_t round_up(size_t x, size_t mult) { return (x + mult - 1) / mult * mult; }

// One handle per device, shared by every design and thread; the lock is held
// from cublasSetStream through the (asynchronous) GEMM call. Handles are
// never destroyed: at static destruction the CUDA context may be gone.
class HandleLease {
 public:
  HandleLease() {
    static std::mutex mu;
    static std::map<int, cublasHandle_t> handles;
    int dev = 0;
    BTC_CUDA_CHECK(cudaGetDevice(&dev));
    lock_ = std::unique_lock<std::mutex>(mu);
    auto it = handles.find(dev);
    if (it == handles.end()) {
      cublasHandle_t h = nullptr;
      CUBLAS_CHECK(cublasCreate(&h));
      it = handles.emplace(dev, h).first;
    }
    handle_ = it->second;
  }
  cublasHandle_t get() const { return handle_; }

 private:
  std::unique_lock<std::mutex> lock_;
  cublasHandle_t handle_ = nullptr;
};

// Where things live in the workspace (each part 256-byte aligned).
struct Workspace {
  int kp = 0;       // padded K: the GEMM's k and the operands' leading dimension
  int ldc = 0;      // scratch C's leading dimension (N rounded up to 4)
  size_t a = 0, b = 0, c = 0, total = 0;  // byte offsets, total bytes
};

class CublasDesign final : public Design {
 public:
  CublasDesign(std::string name, Precision prec) : name_(std::move(name)), prec_(prec) {}

  std::string name() const override { return name_; }
  std::string family() const override { return "cublas"; }
  bool tensor_core() const override { return false; }  // full-precision baseline (see the top of the file)
  std::string skip_reason(const CodeTarget& code) const override {
    return arch_skip_reason(code, 75, false, name());  // the oldest target the suite builds
  }
  bits::BitMatrix a_shape(const Problem& p) const override { return row_u32(p.m, p.k); }
  bits::BitMatrix b_shape(const Problem& p) const override { return row_u32(p.n, p.k); }
  size_t workspace_bytes(const Problem& p) const override { return layout(p).total; }

  void prepare(const Problem& p, const Operands& in, void* workspace, cudaStream_t s) const override {
    check_run_args(*this, p, in, nullptr);
    const Workspace w = layout(p);
    char* ws = need_workspace(workspace);
    if (prec_ == Precision::kS8) {
      unpack_pm1_s8(in.a, in.a_shape, p.m, w.kp, reinterpret_cast<int8_t*>(ws + w.a), s);
      unpack_pm1_s8(in.b, in.b_shape, p.n, w.kp, reinterpret_cast<int8_t*>(ws + w.b), s);
    } else {
      unpack_pm1_f16(in.a, in.a_shape, p.m, w.kp, ws + w.a, s);
      unpack_pm1_f16(in.b, in.b_shape, p.n, w.kp, ws + w.b, s);
    }
  }

  void run(const Problem& p, const Operands& in, const Output& out, void* workspace, cudaStream_t s) const override {
    check_run_args(*this, p, in, &out);
    const Workspace w = layout(p);
    char* ws = need_workspace(workspace);
    const void* a = ws + w.a;
    const void* b = ws + w.b;
    if (prec_ == Precision::kS8) {
      const bool direct = out.epilogue == Epilogue::kInt32 && p.n % 4 == 0 &&
                          reinterpret_cast<uintptr_t>(out.c) % 16 == 0;
      int32_t* c = direct ? out.c : reinterpret_cast<int32_t*>(ws + w.c);
      const int ldc = direct ? p.n : w.ldc;
      const int32_t alpha = 1, beta = 0;
      {
        HandleLease h;
        CUBLAS_CHECK(cublasSetStream(h.get(), s));
        CUBLAS_CHECK(cublasGemmEx(h.get(), CUBLAS_OP_T, CUBLAS_OP_N, p.n, p.m, w.kp, &alpha, b, CUDA_R_8I, w.kp, a,
                                  CUDA_R_8I, w.kp, &beta, c, CUDA_R_32I, ldc, CUBLAS_COMPUTE_32I,
                                  CUBLAS_GEMM_DEFAULT));
      }
      if (!direct) dense_epilogue_s32(c, ldc, out, p.m, p.n, s);
    } else {
      float* c = reinterpret_cast<float*>(ws + w.c);
      const float alpha = 1.f, beta = 0.f;
      {
        HandleLease h;
        CUBLAS_CHECK(cublasSetStream(h.get(), s));
        CUBLAS_CHECK(cublasGemmEx(h.get(), CUBLAS_OP_T, CUBLAS_OP_N, p.n, p.m, w.kp, &alpha, b, CUDA_R_16F, w.kp, a,
                                  CUDA_R_16F, w.kp, &beta, c, CUDA_R_32F, w.ldc, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
      }
      dense_epilogue_f32(c, w.ldc, out, p.m, p.n, s);
    }
  }
  // cuBLAS picks its own kernels: nothing here implies their tensor instructions.
  std::optional<TensorInsts> tensor_insts(const Problem&, int) const override { return std::nullopt; }

 private:
  static bits::BitMatrix row_u32(int rows, int k) {
    bits::BitMatrix m;
    m.layout = bits::Layout::kRowU32;
    m.rows = rows;
    m.k = k;
    return m;
  }

  Workspace layout(const Problem& p) const {
    Workspace w;
    const size_t elem = prec_ == Precision::kS8 ? 1 : 2;
    w.kp = static_cast<int>(round_up(static_cast<size_t>(p.k > 0 ? p.k : 0), prec_ == Precision::kS8 ? 16 : 8));
    w.ldc = static_cast<int>(round_up(static_cast<size_t>(p.n > 0 ? p.n : 0), 4));
    const size_t m = static_cast<size_t>(p.m > 0 ? p.m : 0);
    const size_t n = static_cast<size_t>(p.n > 0 ? p.n : 0);
    const size_t kp = static_cast<size_t>(w.kp);
    w.a = 0;
    w.b = round_up(w.a + m * kp * elem, 256);
    w.c = round_up(w.b + n * kp * elem, 256);
    w.total = round_up(w.c + m * static_cast<size_t>(w.ldc) * 4, 256);  // int32 or float
    return w;
  }

  char* need_workspace(void* workspace) const {
    if (workspace == nullptr) throw std::invalid_argument(name_ + ": needs a workspace of workspace_bytes()");
    return static_cast<char*>(workspace);
  }

  std::string name_;
  Precision prec_;
};

}  // namespace

void add_cublas_designs(DesignList& out) {
  out.push_back(std::make_unique<CublasDesign>("cublas_s8", Precision::kS8));
  out.push_back(std::make_unique<CublasDesign>("cublas_f16", Precision::kF16));
}

}  // namespace btc::bmm
