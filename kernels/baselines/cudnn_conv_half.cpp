// kernels/baselines/cudnn_conv_half.h on cuDNN's graph API (cudnn_graph.h).
#include "kernels/baselines/cudnn_conv_half.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "harness/core/check.h"
#include "kernels/baselines/cudnn_graph.h"

namespace btc::cudnn {

#if BTC_HAVE_CUDNN
namespace {

constexpr int64_t kUidX = 1, kUidW = 2, kUidY = 3, kUidScale = 4, kUidShift = 5, kUidShortcut = 6, kUidAcc = 7;
constexpr int64_t kUidVirtual = 100;  // the fused graph's fp32 intermediates from here
constexpr int kPlansPerGraph = 3;     // plan builds compile kernels (runtime fusion): about a second each

std::string key_of(int device, const ConvHalfProblem& p, bool fused) {
  return "conv_half/" + std::to_string(device) + "/" + std::to_string(p.n) + "x" + std::to_string(p.h) + "x" +
         std::to_string(p.w) + "x" + std::to_string(p.c) + "/" + std::to_string(p.k) + "x" + std::to_string(p.r) +
         "/" + std::to_string(p.stride) + "/" + std::to_string(p.pad) + "," + std::to_string(p.after()) + (p.shortcut ? "/shortcut" : "") +
         (p.relu ? "/relu" : "") + (fused ? "/fused" : "/conv");
}

// fused: conv -> mul(scale) -> add(shift) [-> add(shortcut)] [-> relu] -> y
// (fp16); else conv alone -> acc (fp32).
std::shared_ptr<OpGraph> build_graph(cudnnHandle_t handle, const ConvHalfProblem& p, bool fused) {
  const int64_t n = p.n, c = p.c, k = p.k, r = p.r;
  const std::array<int64_t, 4> x_dims{n, c, p.h, p.w}, w_dims{k, c, r, r}, y_dims{n, k, p.p(), p.q()},
      v_dims{1, k, 1, 1};
  auto g = std::make_shared<OpGraph>();
  std::vector<Desc> keep;
  Desc x = make_tensor(kUidX, CUDNN_DATA_HALF, x_dims, nhwc_strides(x_dims), false);
  Desc w = make_tensor(kUidW, CUDNN_DATA_HALF, w_dims, nhwc_strides(w_dims), false);
  Desc conv = make_conv(CUDNN_DATA_FLOAT, p.stride, p.pad, p.after());
  std::vector<Desc> ops;
  if (!fused) {
    g->pattern = "conv";
    Desc acc = make_tensor(kUidAcc, CUDNN_DATA_FLOAT, y_dims, nhwc_strides(y_dims), false);
    ops.push_back(make_conv_fprop(x, w, acc, conv));
    g->uids = {kUidX, kUidW, kUidAcc};
    keep.push_back(std::move(acc));
  } else {
    int64_t next_uid = kUidVirtual;
    auto virt = [&] { return make_tensor(next_uid++, CUDNN_DATA_FLOAT, y_dims, nhwc_strides(y_dims), true); };
    Desc scale = make_tensor(kUidScale, CUDNN_DATA_FLOAT, v_dims, nhwc_strides(v_dims), false);
    Desc shift = make_tensor(kUidShift, CUDNN_DATA_FLOAT, v_dims, nhwc_strides(v_dims), false);
    Desc y = make_tensor(kUidY, CUDNN_DATA_HALF, y_dims, nhwc_strides(y_dims), false);
    Desc shortcut = p.shortcut ? make_tensor(kUidShortcut, CUDNN_DATA_HALF, y_dims, nhwc_strides(y_dims), false) : Desc();
    const int steps = 2 + (p.shortcut ? 1 : 0) + (p.relu ? 1 : 0);  // pointwise steps after the conv
    std::vector<Desc> t;  // t[0] = conv's output, t[i] = step i's
    for (int i = 0; i < steps; ++i) t.push_back(virt());
    auto out_of = [&](int step) -> const Desc& { return step + 1 == steps ? y : t[step + 1]; };
    ops.push_back(make_conv_fprop(x, w, t[0], conv));
    int step = 0;
    ops.push_back(make_pointwise_op(g->parts, CUDNN_POINTWISE_MUL, t[step], &scale, out_of(step)));
    ++step;
    ops.push_back(make_pointwise_op(g->parts, CUDNN_POINTWISE_ADD, t[step], &shift, out_of(step)));
    ++step;
    g->pattern = "conv+mul+add";
    if (p.shortcut) {
      ops.push_back(make_pointwise_op(g->parts, CUDNN_POINTWISE_ADD, t[step], &shortcut, out_of(step)));
      ++step;
      g->pattern += "+add";
    }
    if (p.relu) {
      ops.push_back(make_pointwise_op(g->parts, CUDNN_POINTWISE_RELU_FWD, t[step], nullptr, out_of(step)));
      g->pattern += "+relu";
    }
    g->uids = {kUidX, kUidW, kUidY, kUidScale, kUidShift};
    if (p.shortcut) g->uids.push_back(kUidShortcut);
    for (Desc& d : t) keep.push_back(std::move(d));
    keep.push_back(std::move(scale));
    keep.push_back(std::move(shift));
    keep.push_back(std::move(y));
    if (p.shortcut) keep.push_back(std::move(shortcut));
  }
  std::vector<const Desc*> op_ptrs;
  for (const Desc& d : ops) op_ptrs.push_back(&d);
  finalize_graph(*g, handle, op_ptrs);
  for (Desc* d : {&x, &w, &conv}) g->parts.push_back(std::move(*d));
  for (Desc& d : keep) g->parts.push_back(std::move(d));
  for (Desc& d : ops) g->parts.push_back(std::move(d));
  return g;
}

}  // namespace

struct ConvHalf::Impl {
  int device = 0;
  std::string key;
  std::vector<void*> ptrs;
  void* workspace = nullptr;
  double epilogue_ms = 0;
};

std::string ConvHalf::unavailable_reason() { return cudnn::unavailable_reason(); }

namespace {

// The plans of one graph for p (cached by key); nullptr with *why when cuDNN has none.
PlanSet* plans_for(Registry& r, cudnnHandle_t h, const ConvHalfProblem& p, bool fused, const std::string& key,
                   std::string* why) {
  auto it = r.plans.find(key);
  if (it != r.plans.end()) return it->second.get();
  try {
    std::vector<std::shared_ptr<const OpGraph>> graphs{build_graph(h, p, fused)};
    return r.plans.emplace(key, build_plans(h, graphs, kPlansPerGraph, "cudnn conv_half", fused ? "the fused conv" : "the conv"))
        .first->second.get();
  } catch (const std::invalid_argument& e) {  // no engine
    *why += std::string(e.what()) + "; ";
  } catch (const Error& e) {  // the graph is not expressible
    *why += std::string(e.what()) + "; ";
  }
  return nullptr;
}

double time_ms(const std::function<void(cudaStream_t)>& f, cudaStream_t s, int runs) {
  cudaEvent_t a = nullptr, b = nullptr;
  BTC_CUDA_CHECK(cudaEventCreate(&a));
  BTC_CUDA_CHECK(cudaEventCreate(&b));
  f(s);  // warm-up
  BTC_CUDA_CHECK(cudaEventRecord(a, s));
  for (int i = 0; i < runs; ++i) f(s);
  BTC_CUDA_CHECK(cudaEventRecord(b, s));
  BTC_CUDA_CHECK(cudaEventSynchronize(b));
  float ms = 0;
  BTC_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
  BTC_CUDA_CHECK(cudaEventDestroy(a));
  BTC_CUDA_CHECK(cudaEventDestroy(b));
  return double(ms) / runs;
}

}  // namespace

ConvHalf::ConvHalf(const ConvHalfProblem& p, const ConvHalfBuffers& b, ConvHalfEpilogue epilogue, cudaStream_t s)
    : impl_(std::make_unique<Impl>()), epilogue_(std::move(epilogue)) {
  if (p.n < 1 || p.h < 1 || p.w < 1 || p.c % 8 != 0 || p.c < 8 || p.k % 8 != 0 || p.k < 8 || p.r < 1 || p.stride < 1 ||
      p.pad < 0 || p.after() < 0 || p.p() < 1 || p.q() < 1)
    throw std::invalid_argument("cudnn conv_half: bad problem (c and k multiples of 8, a filter that fits)");
  if (!b.x || !b.w || !b.scale || !b.shift || !b.y || (p.shortcut && !b.shortcut) || !epilogue_)
    throw std::invalid_argument("cudnn conv_half: a null buffer or epilogue");
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  impl_->device = current_device();
  cudnnHandle_t h = handle_locked(r, impl_->device);
  std::string why;
  const std::string fused_key = key_of(impl_->device, p, true), conv_key = key_of(impl_->device, p, false);
  PlanSet* fused = plans_for(r, h, p, true, fused_key, &why);
  PlanSet* conv = plans_for(r, h, p, false, conv_key, &why);
  if (!fused && !conv) throw std::invalid_argument("cudnn conv_half: " + why);
  std::vector<void*> fused_ptrs{const_cast<void*>(b.x), const_cast<void*>(b.w), b.y, const_cast<float*>(b.scale),
                                const_cast<float*>(b.shift)};
  if (p.shortcut) fused_ptrs.push_back(const_cast<void*>(b.shortcut));
  const size_t ws = std::max(fused ? fused->max_workspace_bytes : 0, conv ? conv->max_workspace_bytes : 0);
  if (ws > 0) BTC_CUDA_CHECK(cudaMalloc(&impl_->workspace, ws));
  device_bytes_ = ws;
  if (fused && !fused->tuned) tune(h, *fused, fused_ptrs, impl_->workspace, s, "cudnn conv_half");
  double conv_total_ms = -1;
  if (conv) {
    const size_t bytes = size_t(p.n) * p.p() * p.q() * p.k * sizeof(float);
    BTC_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&acc_), bytes));
    const std::vector<void*> conv_ptrs{const_cast<void*>(b.x), const_cast<void*>(b.w), acc_};
    if (!conv->tuned) tune(h, *conv, conv_ptrs, impl_->workspace, s, "cudnn conv_half");
    impl_->epilogue_ms = time_ms([&](cudaStream_t st) { epilogue_(acc_, st); }, s, 3);
    conv_total_ms = conv->chosen_ms + impl_->epilogue_ms;
    if (!fused || conv_total_ms < fused->chosen_ms) {
      impl_->key = conv_key;
      impl_->ptrs = conv_ptrs;
      device_bytes_ += bytes;
      return;
    }
    BTC_CUDA_CHECK(cudaFree(acc_));  // the fused graph is faster: no fp32 buffer
    acc_ = nullptr;
  }
  impl_->key = fused_key;
  impl_->ptrs = std::move(fused_ptrs);
}

ConvHalf::~ConvHalf() {
  // Destructors report nothing: the statuses are dropped.
  if (impl_ && impl_->workspace) (void)cudaFree(impl_->workspace);
  if (acc_) (void)cudaFree(acc_);
}

void ConvHalf::run(cudaStream_t s) const {
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    PlanSet& set = *r.plans.at(impl_->key);
    const cudnnStatus_t st =
        execute(handle_locked(r, impl_->device), set, set.chosen, impl_->ptrs, impl_->workspace, s);
    check(st, "cudnn conv_half: executing " + set.candidates[set.chosen].name, __FILE__, __LINE__);
    if (!set.executed) register_exit_cleanup();
    set.executed = true;
  }
  if (acc_ != nullptr) epilogue_(acc_, s);
}

std::string ConvHalf::algorithm() const {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::string a = r.plans.at(impl_->key)->algorithm();
  if (acc_ != nullptr) a += " + epilogue " + std::to_string(impl_->epilogue_ms) + " ms";
  return a;
}

#else  // built without cuDNN

struct ConvHalf::Impl {};
std::string ConvHalf::unavailable_reason() { return "built without cuDNN"; }
ConvHalf::ConvHalf(const ConvHalfProblem&, const ConvHalfBuffers&, ConvHalfEpilogue, cudaStream_t) {
  throw std::runtime_error("cudnn conv_half: built without cuDNN");
}
ConvHalf::~ConvHalf() = default;
void ConvHalf::run(cudaStream_t) const { throw std::runtime_error("cudnn conv_half: built without cuDNN"); }
std::string ConvHalf::algorithm() const { return ""; }

#endif

}  // namespace btc::cudnn
