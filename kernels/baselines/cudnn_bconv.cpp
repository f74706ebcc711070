// Full-precision BConv baselines: the same ±1 convolution as an ordinary
// cuDNN convolution (the BConv counterpart of cublas_baseline.cpp).
//
//   bconv_cudnn_f16  x, w half ±1, fp32 accumulate and output: exact, every
//                    partial sum is an integer of magnitude <= R*S*C < 2^24
//                    (an fp16 output would round z past 2048).
//   bconv_cudnn_s8   x, w int8 ±1, int32 accumulate and output: exact.
//
// API: cuDNN 9's graph (backend) API. The legacy cudnnConvolutionForward has
// no half -> float configuration (PSEUDO_HALF_CONFIG outputs half), so only
// the graph API gives an exact fp16 baseline; int8 takes the same path. Two
// graphs are offered to the heuristics, each with NHWC x / y and KRSC ("NHWC")
// filters: the convolution alone writing Y, and convolution -> virtual
// fp32 / int32 tensor -> identity pointwise -> Y (the runtime-fusion pattern of
// cudnn-frontend's int8 convolution sample). Zero padding is cuDNN's, so only
// PadValue::kZero is expressible.
//
// The algorithm ("best found by cuDNN"): heuristics mode A's first
// kPlansPerGraph configurations of each graph that build into an execution
// plan with a workspace <= cudnn::kMaxWorkspaceBytes (mode FALLBACK when none
// does), engines noted Winograd / FFT / reduced-precision reduction / int8x32
// reorder left out (their transforms or accumulators are not exact for z, or
// they need filters this file does not reorder). prepare() times every plan
// on the real operands (kTimedRuns runs after one warm-up) and keeps the
// fastest, per (problem, device); until then run() uses heuristics' first
// plan. cudnn_algorithm() below names the choice.
//
// prepare() (untimed) unpacks both operands into ±1 NHWC / KRSC tensors in the
// workspace, channels padded with zeros to 16 bytes (C and K multiples of 8
// half / 16 int8: what the tensor-core kernels want; zero channels and zero
// filters add 0 exactly); the filters past K give output channels that the
// epilogue skips. run() (timed) is the convolution into an NPQ x K_pad fp32 /
// int32 scratch and dense_epilogue_f32 / _s32 into bmm::Output (the NPQ x K
// matrix is BMM's M x N); bconv_cudnn_s8 with kInt32 writes z straight into
// the output when K_pad = K and the output is 16-byte aligned.
//
// Loading, handles and plan building: kernels/baselines/cudnn_graph.h.
#include "kernels/baselines/cudnn_graph.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/bconv/bconv_designs.h"
#include "kernels/bmm/bmm_designs.h"
#include "harness/core/check.h"

namespace btc::bconv {

namespace {

enum class Precision { kF16, kS8 };

size_t round_up(size_t x, size_t mult) { return (x + mult - 1) / mult * mult; }

#if BTC_HAVE_CUDNN

using cudnn::Desc;
using cudnn::make_tensor;
using cudnn::OpGraph;
using cudnn::PlanSet;
using cudnn::Registry;
using cudnn::registry;
using cudnn::current_device;
using cudnn::handle_locked;
using cudnn::register_exit_cleanup;

// ---- the problem as cuDNN tensors -------------------------------------------

constexpr int64_t kUidX = 1, kUidW = 2, kUidY = 3, kUidConvOut = 4;
constexpr int kPlansPerGraph = 4;  // heuristic configurations built per graph: plan builds may compile kernels
constexpr int kTimedRuns = 3;

struct PrecisionInfo {
  cudnnDataType_t io, acc;  // operand and accumulator / output types
  size_t elem_bytes;        // operand element
  const char* what;
};
PrecisionInfo precision_info(Precision prec) {
  return prec == Precision::kF16 ? PrecisionInfo{CUDNN_DATA_HALF, CUDNN_DATA_FLOAT, 2, "half in, float out"}
                                 : PrecisionInfo{CUDNN_DATA_INT8, CUDNN_DATA_INT32, 1, "int8 in, int32 out"};
}

#endif  // BTC_HAVE_CUDNN

// Where things live in the workspace (each part 256-byte aligned).
struct Layout {
  int64_t c_pad = 0, k_pad = 0;  // channels and filters padded to 16 bytes of operand elements
  size_t x = 0, w = 0, y = 0;    // byte offsets: NHWC x, KRSC w, NPQ x K_pad y (float / int32)
  size_t scratch = 0;            // cuDNN's workspace from here
};
[[maybe_unused]] Layout layout_of(const Problem& p, Precision prec) {
  const size_t elem = prec == Precision::kF16 ? 2 : 1, align = 16 / elem;
  Layout l;
  l.c_pad = static_cast<int64_t>(round_up(static_cast<size_t>(p.c), align));
  l.k_pad = static_cast<int64_t>(round_up(static_cast<size_t>(p.k), align));
  const size_t pixels = static_cast<size_t>(p.n) * p.h * p.w, taps = static_cast<size_t>(p.r) * p.s;
  l.x = 0;
  l.w = round_up(l.x + pixels * l.c_pad * elem, 256);
  l.y = round_up(l.w + static_cast<size_t>(l.k_pad) * taps * l.c_pad * elem, 256);
  l.scratch = round_up(l.y + static_cast<size_t>(p.out_pixels()) * l.k_pad * 4, 256);
  return l;
}

#if BTC_HAVE_CUDNN

// Dimensions are cuDNN's logical [N, C, H, W] (filters [K, C, R, S]); the
// strides make every tensor channels-last.
std::shared_ptr<OpGraph> build_graph(cudnnHandle_t handle, const Problem& p, const Layout& l, const PrecisionInfo& pr,
                                     bool with_identity) {
  const int64_t n = p.n, c = l.c_pad, h = p.h, w = p.w, k = l.k_pad, r = p.r, s = p.s, pp = p.p(), q = p.q();
  auto g = std::make_shared<OpGraph>();
  g->pattern = with_identity ? "conv+identity" : "conv";
  Desc x = make_tensor(kUidX, pr.io, {n, c, h, w}, {h * w * c, 1, w * c, c}, false);
  Desc wt = make_tensor(kUidW, pr.io, {k, c, r, s}, {r * s * c, 1, s * c, c}, false);
  const std::array<int64_t, 4> y_dims{n, k, pp, q}, y_strides{pp * q * k, 1, q * k, k};
  Desc y = make_tensor(kUidY, pr.acc, y_dims, y_strides, false);

  Desc conv = cudnn::make_conv(pr.acc, p.stride, p.pad);
  Desc conv_out = with_identity ? make_tensor(kUidConvOut, pr.acc, y_dims, y_strides, true) : Desc();
  Desc fprop = cudnn::make_conv_fprop(x, wt, with_identity ? conv_out : y, conv);
  std::vector<const Desc*> ops{&fprop};
  Desc pw_op;
  if (with_identity) {
    pw_op = cudnn::make_pointwise_op(g->parts, CUDNN_POINTWISE_IDENTITY, conv_out, nullptr, y, pr.acc);
    ops.push_back(&pw_op);
  }
  g->uids = {kUidX, kUidW, kUidY};
  cudnn::finalize_graph(*g, handle, ops);
  for (Desc* d : {&x, &wt, &y, &conv, &conv_out, &fprop, &pw_op})
    if (d->get() != nullptr) g->parts.push_back(std::move(*d));
  return g;
}
// ---- plans per (problem, device) -------------------------------------------

std::string key_of(int device, Precision prec, const Problem& p) {
  return "bconv/" + std::to_string(device) + "/" + std::to_string(static_cast<int>(prec)) + "/" +
         std::to_string(p.n) + "x" + std::to_string(p.h) + "x" + std::to_string(p.w) + "x" + std::to_string(p.c) +
         "/" + std::to_string(p.k) + "x" + std::to_string(p.r) + "x" + std::to_string(p.s) + "/" +
         std::to_string(p.stride) + "/" + std::to_string(p.pad);
}

// Builds every candidate plan for p; std::invalid_argument when none builds.
std::unique_ptr<PlanSet> build_selection(cudnnHandle_t handle, const Problem& p, Precision prec,
                                         const std::string& who) {
  const PrecisionInfo pr = precision_info(prec);
  const Layout l = layout_of(p, prec);
  std::string why;
  std::vector<std::shared_ptr<const OpGraph>> graphs;
  for (bool with_identity : {false, true}) {
    try {
      graphs.push_back(build_graph(handle, p, l, pr, with_identity));
    } catch (const cudnn::Error& e) {  // this graph is not expressible here; the other may be
      why += std::string(with_identity ? "conv+identity" : "conv") + ": " + e.what() + "; ";
    }
  }
  return cudnn::build_plans(handle, graphs, kPlansPerGraph, who,
                            std::string("this convolution (") + pr.what + ", NHWC, C_pad " + std::to_string(l.c_pad) +
                                ", K_pad " + std::to_string(l.k_pad) + ")" + (why.empty() ? "" : " [" + why + "]"));
}

#endif  // BTC_HAVE_CUDNN

class CudnnBconvDesign final : public Design {
 public:
  CudnnBconvDesign(std::string name, Precision prec) : name_(std::move(name)), prec_(prec) {}

  std::string name() const override { return name_; }
  std::string family() const override { return "cudnn"; }
  bool tensor_core() const override { return false; }  // full-precision baseline, as cublas_baseline.cpp's
  std::string skip_reason(const CodeTarget& code) const override {
    if (std::string why = arch_skip_reason(code, 75, false, name_); !why.empty()) return why;
#if BTC_HAVE_CUDNN
    // cudnn-frontend's int8 convolution sample: "Int8 datatype convolutions require Ampere and later".
    if (prec_ == Precision::kS8 && code.device_sm < 80)
      return "cuDNN int8 convolution (graph API) needs sm_80+; device is sm_" + std::to_string(code.device_sm);
    return cudnn::unavailable_reason();
#else
    return "built without cuDNN";
#endif
  }
  std::string unsupported(const Problem& p) const override {
    if (p.pad > 0 && p.pad_value != PadValue::kZero) return "cuDNN pads with 0; pad_value ±1 is not expressible";
    return "";
  }
  // cuDNN picks its own kernels: nothing here implies their tensor instructions.
  std::optional<TensorInsts> tensor_insts(const Problem&, int) const override { return std::nullopt; }

  // The unpacked tensors, the NPQ x K_pad output and the largest workspace
  // of the candidate plans (the tuned choice is one of them). Needs the GPU
  // (building the plans); throws without one.
  size_t workspace_bytes(const Problem& p) const override {
    check_problem_args(p);
#if BTC_HAVE_CUDNN
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    return layout_of(p, prec_).scratch + selection_locked(r, current_device(), p).max_workspace_bytes;
#else
    throw std::runtime_error(name_ + ": built without cuDNN");
#endif
  }

  void prepare(const Problem& p, const Operands& in, void* workspace, cudaStream_t s) const override {
    check_run_args(*this, p, in, nullptr);
#if BTC_HAVE_CUDNN
    char* ws = need_workspace(workspace);
    const Layout l = layout_of(p, prec_);
    const bits::BitMatrix xs = activation_shape(p);
    // The weight words are K*R*S rows of C bits in C_pad (a tap's segment), as activations are.
    const bits::BitMatrix taps = bits::nhwc_activations(p.k, p.r, p.s, p.c, 32);
    const size_t elem = precision_info(prec_).elem_bytes;
    const size_t tap_rows = static_cast<size_t>(p.k) * p.r * p.s;
    const size_t filter_bytes = static_cast<size_t>(p.r) * p.s * l.c_pad * elem;
    if (l.k_pad > p.k)
      BTC_CUDA_CHECK(cudaMemsetAsync(ws + l.w + p.k * filter_bytes, 0, (l.k_pad - p.k) * filter_bytes, s));
    const int ld = static_cast<int>(l.c_pad);
    if (prec_ == Precision::kS8) {
      bmm::unpack_pm1_s8(in.x, xs, xs.rows, ld, reinterpret_cast<int8_t*>(ws + l.x), s);
      bmm::unpack_pm1_s8(in.w, taps, static_cast<int>(tap_rows), ld, reinterpret_cast<int8_t*>(ws + l.w), s);
    } else {
      bmm::unpack_pm1_f16(in.x, xs, xs.rows, ld, ws + l.x, s);
      bmm::unpack_pm1_f16(in.w, taps, static_cast<int>(tap_rows), ld, ws + l.w, s);
    }
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    const int device = current_device();
    PlanSet& sel = selection_locked(r, device, p);
    if (!sel.tuned) cudnn::tune(handle_locked(r, device), sel, pointers(ws, l, ws + l.y), ws + l.scratch, s, name_, kTimedRuns);
#else
    (void)workspace;
    (void)s;
    throw std::runtime_error(name_ + ": built without cuDNN");
#endif
  }

  void run(const Problem& p, const Operands& in, const Output& out, void* workspace, cudaStream_t s) const override {
    check_run_args(*this, p, in, &out);
#if BTC_HAVE_CUDNN
    char* ws = need_workspace(workspace);
    const Layout l = layout_of(p, prec_);
    const bool direct = prec_ == Precision::kS8 && out.epilogue == Epilogue::kInt32 && l.k_pad == p.k &&
                        reinterpret_cast<uintptr_t>(out.c) % cudnn::kAlignmentBytes == 0;
    void* y = direct ? static_cast<void*>(out.c) : static_cast<void*>(ws + l.y);
    {
      Registry& r = registry();
      std::lock_guard<std::mutex> lock(r.mu);
      const int device = current_device();
      PlanSet& sel = selection_locked(r, device, p);
      const cudnnStatus_t st =
          cudnn::execute(handle_locked(r, device), sel, sel.chosen, pointers(ws, l, y), ws + l.scratch, s);
      cudnn::check(st, name_ + ": executing " + sel.candidates[sel.chosen].name, __FILE__, __LINE__);
      if (!sel.executed) register_exit_cleanup();  // an untuned plan's first execution may load more of cuDNN
      sel.executed = true;
    }
    if (direct) return;
    const int m = static_cast<int>(p.out_pixels()), ldc = static_cast<int>(l.k_pad);
    if (prec_ == Precision::kS8)
      bmm::dense_epilogue_s32(reinterpret_cast<const int32_t*>(ws + l.y), ldc, out, m, p.k, s);
    else
      bmm::dense_epilogue_f32(reinterpret_cast<const float*>(ws + l.y), ldc, out, m, p.k, s);
#else
    (void)out;
    (void)workspace;
    (void)s;
    throw std::runtime_error(name_ + ": built without cuDNN");
#endif
  }

  // The plan run() uses for p on the current device, e.g.
  // "conv+identity/eng12{k2=3,k14=4} (tuned: 0.0412 ms)"; "" before
  // workspace_bytes / prepare built the plans.
  std::string algorithm(const Problem& p) const {
#if BTC_HAVE_CUDNN
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    const auto it = r.plans.find(key_of(current_device(), prec_, p));
    return it == r.plans.end() ? "" : it->second->algorithm();
#else
    (void)p;
    return "";
#endif
  }

 private:
  void check_problem_args(const Problem& p) const {
    if (const std::string why = check_problem(p); !why.empty()) throw std::invalid_argument(name_ + ": " + why);
    if (const std::string why = unsupported(p); !why.empty()) throw std::invalid_argument(name_ + ": " + why);
  }
  char* need_workspace(void* workspace) const {
    if (workspace == nullptr) throw std::invalid_argument(name_ + ": needs a workspace of workspace_bytes()");
    return static_cast<char*>(workspace);
  }
#if BTC_HAVE_CUDNN
  static std::vector<void*> pointers(char* ws, const Layout& l, void* y) { return {ws + l.x, ws + l.w, y}; }
  // The plans for p on `device`, built on first use (r.mu held).
  PlanSet& selection_locked(Registry& r, int device, const Problem& p) const {
    const std::string key = key_of(device, prec_, p);
    auto it = r.plans.find(key);
    if (it == r.plans.end())
      it = r.plans.emplace(key, build_selection(handle_locked(r, device), p, prec_, name_)).first;
    return *it->second;
  }
#endif

  std::string name_;
  Precision prec_;
};

}  // namespace

// The cuDNN plan design `d` runs for p (see CudnnBconvDesign::algorithm);
// "" for any other design. For the suite's reports: declare it where it is
// called (std::string cudnn_algorithm(const Design&, const Problem&) in
// namespace btc::bconv).
std::string cudnn_algorithm(const Design& d, const Problem& p) {
  const auto* c = dynamic_cast<const CudnnBconvDesign*>(&d);
  return c != nullptr ? c->algorithm(p) : "";
}

void add_cudnn_designs(DesignList& out) {
  out.push_back(std::make_unique<CudnnBconvDesign>("bconv_cudnn_f16", Precision::kF16));
  out.push_back(std::make_unique<CudnnBconvDesign>("bconv_cudnn_s8", Precision::kS8));
}

}  // namespace btc::bconv
