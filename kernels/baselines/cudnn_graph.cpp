// cuDNN graph API plumbing (kernels/baselines/cudnn_graph.h).
#include "kernels/baselines/cudnn_graph.h"

#if BTC_HAVE_CUDNN
#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <type_traits>

#include "harness/core/check.h"

#ifndef BTC_CUDNN_LIBRARY_PATH
#define BTC_CUDNN_LIBRARY_PATH "libcudnn.so.9"  // CMake: the library it found
#endif

namespace btc::cudnn {

const Api* load(std::string* why) {
  static std::once_flag once;
  static Api api;                               // trivially destructible: usable during exit
  static const std::string* error = nullptr;   // leaked on purpose, as api
  std::call_once(once, [] {
    std::string tried;
    void* lib = nullptr;
    for (const char* path : {"libcudnn.so.9", BTC_CUDNN_LIBRARY_PATH}) {
      lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
      if (lib != nullptr) break;
      const char* e = dlerror();
      tried += std::string(tried.empty() ? "" : "; ") + (e != nullptr ? e : path);
    }
    if (lib == nullptr) {
      error = new std::string("cannot load libcudnn.so.9 (" + tried + ")");
      return;
    }
    std::string missing;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (fn == nullptr) missing += std::string(missing.empty() ? "" : ", ") + name;
    };
#define BTC_CUDNN_SYM(f) sym(api.f, #f);
    BTC_CUDNN_SYM(cudnnGetVersion)
    BTC_CUDNN_SYM(cudnnGetErrorString)
    BTC_CUDNN_SYM(cudnnGetLastErrorString)
    BTC_CUDNN_SYM(cudnnCreate)
    BTC_CUDNN_SYM(cudnnDestroy)
    BTC_CUDNN_SYM(cudnnSetStream)
    BTC_CUDNN_SYM(cudnnBackendCreateDescriptor)
    BTC_CUDNN_SYM(cudnnBackendDestroyDescriptor)
    BTC_CUDNN_SYM(cudnnBackendSetAttribute)
    BTC_CUDNN_SYM(cudnnBackendGetAttribute)
    BTC_CUDNN_SYM(cudnnBackendFinalize)
    BTC_CUDNN_SYM(cudnnBackendExecute)
#undef BTC_CUDNN_SYM
    if (!missing.empty()) {
      error = new std::string("libcudnn.so.9 lacks " + missing);
      return;
    }
    const size_t version = api.cudnnGetVersion();
    if (version / 10000 != CUDNN_MAJOR) {
      error = new std::string("runtime cuDNN " + std::to_string(version) + " is not the major version built against (" +
                              std::to_string(CUDNN_VERSION) + ")");
      return;
    }
  });
  if (error != nullptr) {
    if (why != nullptr) *why = *error;
    return nullptr;
  }
  return &api;
}

const Api& api() {
  std::string why;
  const Api* a = load(&why);
  if (a == nullptr) throw std::runtime_error("cuDNN: " + why);
  return *a;
}

std::string status_text(cudnnStatus_t st) {
  const Api& a = api();
  std::array<char, 512> last{};
  a.cudnnGetLastErrorString(last.data(), last.size());
  std::string s = a.cudnnGetErrorString(st);
  if (last[0] != '\0') s += std::string(": ") + last.data();
  return s;
}

void check(cudnnStatus_t st, const std::string& what, const char* file, int line) {
  if (st != CUDNN_STATUS_SUCCESS)
    throw Error(what + " failed: " + status_text(st) + " at " + file + ":" + std::to_string(line));
}

// ---- descriptors --------------------------------------------------------------

Desc::Desc(cudnnBackendDescriptorType_t type) { BTC_CUDNN_CHECK(api().cudnnBackendCreateDescriptor(type, &d_)); }

Desc& Desc::operator=(Desc&& o) noexcept {
  if (this != &o) {
    reset();
    d_ = std::exchange(o.d_, nullptr);
  }
  return *this;
}

void Desc::set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count, const void* values) {
  check(api().cudnnBackendSetAttribute(d_, name, type, count, values),
        "cudnnBackendSetAttribute(attribute " + std::to_string(static_cast<int>(name)) + ")", __FILE__, __LINE__);
}

void Desc::set(cudnnBackendAttributeName_t name, const Desc& value) {
  const cudnnBackendDescriptor_t raw = value.get();
  set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw);
}

void Desc::finalize() { BTC_CUDNN_CHECK(api().cudnnBackendFinalize(d_)); }

void Desc::reset() {
  // The status is dropped: a destructor has no one to report it to.
  if (d_ != nullptr) api().cudnnBackendDestroyDescriptor(d_);
  d_ = nullptr;
}

Desc make_tensor(int64_t uid, cudnnDataType_t type, const std::array<int64_t, 4>& dims,
                 const std::array<int64_t, 4>& strides, bool is_virtual) {
  Desc t(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  t.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
  t.set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data());
  t.set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data());
  t.set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
  t.set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &kAlignmentBytes);
  if (is_virtual) {
    const bool v = true;
    t.set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &v);
  }
  t.finalize();
  return t;
}

std::array<int64_t, 4> nhwc_strides(const std::array<int64_t, 4>& d) {
  return {d[1] * d[2] * d[3], 1, d[3] * d[1], d[1]};
}

Desc make_conv(cudnnDataType_t compute, int64_t stride, int64_t pad, int64_t pad_after) {
  Desc conv(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  conv.set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute);
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;  // tap (r, s) reads pixel (p stride - pad + r, ...)
  conv.set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
  const int64_t after = pad_after < 0 ? pad : pad_after;
  const int64_t spatial = 2, pads[2] = {pad, pad}, posts[2] = {after, after}, dilations[2] = {1, 1},
                strides[2] = {stride, stride};
  conv.set(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial);
  conv.set(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pads);
  conv.set(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, posts);
  conv.set(CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dilations);
  conv.set(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, strides);
  conv.finalize();
  return conv;
}

Desc make_conv_fprop(const Desc& x, const Desc& w, const Desc& y, const Desc& conv) {
  Desc fprop(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
  fprop.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, x);
  fprop.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, w);
  fprop.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, y);
  fprop.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv);
  const float one = 1.f, zero = 0.f;
  fprop.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &one);
  fprop.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &zero);
  fprop.finalize();
  return fprop;
}

Desc make_pointwise_op(std::vector<Desc>& parts, cudnnPointwiseMode_t mode, const Desc& x, const Desc* b, const Desc& y,
                       cudnnDataType_t math_prec) {
  Desc pw(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
  pw.set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
  pw.set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &math_prec);
  pw.finalize();
  Desc op(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
  op.set(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw);
  op.set(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x);
  if (b != nullptr) op.set(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *b);
  op.set(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y);
  const float one = 1.f;
  op.set(CUDNN_ATTR_OPERATION_POINTWISE_ALPHA1, CUDNN_TYPE_FLOAT, 1, &one);
  op.set(CUDNN_ATTR_OPERATION_POINTWISE_ALPHA2, CUDNN_TYPE_FLOAT, 1, &one);
  op.finalize();
  parts.push_back(std::move(pw));
  return op;
}

void finalize_graph(OpGraph& g, cudnnHandle_t handle, const std::vector<const Desc*>& ops) {
  std::vector<cudnnBackendDescriptor_t> raw;
  for (const Desc* d : ops) raw.push_back(d->get());
  g.graph = Desc(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  g.graph.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, static_cast<int64_t>(raw.size()),
              raw.data());
  g.graph.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);  // optional from cuDNN 9.8
  g.graph.finalize();
}

// ---- engines and plans --------------------------------------------------------

namespace {

// Heuristics' engine configurations for the graph, best predicted first;
// empty when cuDNN has none (a NOT_SUPPORTED status, recorded in *why).
std::vector<Desc> engine_configs(const OpGraph& g, cudnnBackendHeurMode_t mode, std::string* why) {
  Desc heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  heur.set(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, g.graph);
  heur.set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
  if (const cudnnStatus_t st = api().cudnnBackendFinalize(heur.get()); st != CUDNN_STATUS_SUCCESS) {
    *why += g.pattern + ": heuristics: " + status_text(st) + "; ";
    return {};
  }
  int64_t count = 0;
  BTC_CUDNN_CHECK(api().cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr));
  std::vector<Desc> configs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int64_t i = 0; i < count; ++i) {
    configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    raw.push_back(configs.back().get());
  }
  int64_t got = 0;
  BTC_CUDNN_CHECK(api().cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got, raw.data()));
  configs.resize(static_cast<size_t>(std::clamp<int64_t>(got, 0, count)));
  return configs;
}

struct Event {
  Event() { BTC_CUDA_CHECK(cudaEventCreate(&e)); }
  ~Event() { (void)cudaEventDestroy(e); }  // nothing to report to in a destructor
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t e = nullptr;
};

void exit_cleanup() {
  Registry& r = registry();
  // A thread still inside a cuDNN call (or exit() called from one) keeps
  // everything: a leak at exit, not a deadlock.
  std::unique_lock<std::mutex> lock(r.mu, std::try_to_lock);
  if (!lock.owns_lock()) return;
  r.plans.clear();  // plans and descriptors before the handles they were made with
  for (auto& [device, h] : r.handles) api().cudnnDestroy(h);  // status dropped: exiting
  r.handles.clear();
}

}  // namespace

EngineInfo engine_info(const Desc& config) {
  const Api& a = api();
  EngineInfo info;
  Desc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t raw = engine.get();
  int64_t n = 0;
  BTC_CUDNN_CHECK(
      a.cudnnBackendGetAttribute(config.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &raw));
  int64_t index = -1;
  BTC_CUDNN_CHECK(a.cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n,
                                             &index));
  info.name = "eng" + std::to_string(index);

  std::array<cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_TYPE_COUNT> numerical{};
  BTC_CUDNN_CHECK(a.cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                             CUDNN_TYPE_NUMERICAL_NOTE, numerical.size(), &n, numerical.data()));
  for (int64_t i = 0; i < std::min<int64_t>(n, numerical.size()); ++i)
    switch (numerical[static_cast<size_t>(i)]) {
      case CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION: info.excluded = "reduced-precision reduction"; break;
      case CUDNN_NUMERICAL_NOTE_FFT: info.excluded = "FFT"; break;
      case CUDNN_NUMERICAL_NOTE_WINOGRAD:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13: info.excluded = "Winograd"; break;
      default: break;
    }
  std::array<cudnnBackendBehaviorNote_t, CUDNN_BEHAVIOR_NOTE_TYPE_COUNT> behavior{};
  BTC_CUDNN_CHECK(a.cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                                             behavior.size(), &n, behavior.data()));
  for (int64_t i = 0; i < std::min<int64_t>(n, behavior.size()); ++i) {
    const cudnnBackendBehaviorNote_t b = behavior[static_cast<size_t>(i)];
    if (b == CUDNN_BEHAVIOR_NOTE_REQUIRES_FILTER_INT8x32_REORDER || b == CUDNN_BEHAVIOR_NOTE_REQUIRES_BIAS_INT8x32_REORDER)
      info.excluded = "int8x32 reorder";
  }

  std::vector<Desc> knobs;
  std::vector<cudnnBackendDescriptor_t> knobs_raw;
  for (int i = 0; i < CUDNN_KNOB_TYPE_COUNTS; ++i) {
    knobs.emplace_back(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR);
    knobs_raw.push_back(knobs.back().get());
  }
  BTC_CUDNN_CHECK(a.cudnnBackendGetAttribute(config.get(), CUDNN_ATTR_ENGINECFG_KNOB_CHOICES,
                                             CUDNN_TYPE_BACKEND_DESCRIPTOR, CUDNN_KNOB_TYPE_COUNTS, &n,
                                             knobs_raw.data()));
  std::string k;
  for (int64_t i = 0; i < std::min<int64_t>(n, CUDNN_KNOB_TYPE_COUNTS); ++i) {
    cudnnBackendKnobType_t type = CUDNN_KNOB_TYPE_COUNTS;
    int64_t value = 0, m = 0;
    BTC_CUDNN_CHECK(a.cudnnBackendGetAttribute(knobs_raw[static_cast<size_t>(i)], CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE,
                                               CUDNN_TYPE_KNOB_TYPE, 1, &m, &type));
    BTC_CUDNN_CHECK(a.cudnnBackendGetAttribute(knobs_raw[static_cast<size_t>(i)], CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE,
                                               CUDNN_TYPE_INT64, 1, &m, &value));
    k += (k.empty() ? "k" : ",k") + std::to_string(static_cast<int>(type)) + "=" + std::to_string(value);
  }
  info.name += "{" + k + "}";
  return info;
}

std::string PlanSet::algorithm() const {
  if (candidates.empty()) return "";
  return candidates[chosen].name +
         (tuned ? " (tuned: " + std::to_string(chosen_ms) + " ms)" : " (heuristics' first, not tuned)");
}

std::unique_ptr<PlanSet> build_plans(cudnnHandle_t handle, const std::vector<std::shared_ptr<const OpGraph>>& graphs,
                                     int plans_per_graph, const std::string& who, const std::string& what) {
  auto set = std::make_unique<PlanSet>();
  std::string why;
  for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    for (const auto& g : graphs) {
      int built = 0;
      for (Desc& config : engine_configs(*g, mode, &why)) {
        if (built == plans_per_graph) break;
        const EngineInfo e = engine_info(config);
        if (!e.excluded.empty()) continue;
        Candidate c;
        c.graph = g;
        c.config = std::move(config);
        c.name = g->pattern + "/" + e.name;
        c.plan = Desc(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
        c.plan.set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, c.config);
        c.plan.set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
        if (const cudnnStatus_t st = api().cudnnBackendFinalize(c.plan.get()); st != CUDNN_STATUS_SUCCESS) {
          why += c.name + ": " + status_text(st) + "; ";  // the engine refuses this shape
          continue;
        }
        int64_t ws = 0, n = 0;
        BTC_CUDNN_CHECK(api().cudnnBackendGetAttribute(c.plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                                       CUDNN_TYPE_INT64, 1, &n, &ws));
        if (ws < 0 || static_cast<size_t>(ws) > kMaxWorkspaceBytes) {
          why += c.name + ": workspace " + std::to_string(ws) + " bytes is over the cap; ";
          continue;
        }
        c.workspace_bytes = static_cast<size_t>(ws);
        set->max_workspace_bytes = std::max(set->max_workspace_bytes, c.workspace_bytes);
        set->candidates.push_back(std::move(c));
        ++built;
      }
    }
    if (!set->candidates.empty()) break;  // FALLBACK only when mode A gave nothing usable
  }
  register_exit_cleanup();  // plan building loads cuDNN's engine libraries
  if (set->candidates.empty()) throw std::invalid_argument(who + ": cuDNN has no engine for " + what + ": " + why);
  return set;
}

cudnnStatus_t execute(cudnnHandle_t h, PlanSet& plans, size_t i, const std::vector<void*>& ptrs, void* workspace,
                      cudaStream_t s) {
  std::vector<void*> key = ptrs;
  key.push_back(workspace);
  if (plans.pack_plan != i || plans.pack_ptrs != key) {
    const std::vector<int64_t>& uids = plans.candidates[i].graph->uids;
    if (uids.size() != ptrs.size())
      throw std::invalid_argument("cuDNN execute: " + std::to_string(ptrs.size()) + " pointers for " +
                                  std::to_string(uids.size()) + " tensors");
    Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    std::vector<void*> data = ptrs;
    pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, static_cast<int64_t>(uids.size()), uids.data());
    pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, static_cast<int64_t>(data.size()), data.data());
    pack.set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
    pack.finalize();
    plans.pack = std::move(pack);
    plans.pack_ptrs = std::move(key);
    plans.pack_plan = i;
  }
  BTC_CUDNN_CHECK(api().cudnnSetStream(h, s));
  return api().cudnnBackendExecute(h, plans.candidates[i].plan.get(), plans.pack.get());
}

void tune(cudnnHandle_t h, PlanSet& plans, const std::vector<void*>& ptrs, void* workspace, cudaStream_t s,
          const std::string& who, int timed_runs) {
  Event start, stop;
  std::string why;
  double best_ms = -1;
  for (size_t i = 0; i < plans.candidates.size(); ++i) {
    // The warm-up also pays the first call's one-time costs (module loads).
    if (const cudnnStatus_t st = execute(h, plans, i, ptrs, workspace, s); st != CUDNN_STATUS_SUCCESS) {
      why += plans.candidates[i].name + ": " + status_text(st) + "; ";
      continue;
    }
    BTC_CUDA_CHECK(cudaEventRecord(start.e, s));
    for (int run = 0; run < timed_runs; ++run)
      if (const cudnnStatus_t st = execute(h, plans, i, ptrs, workspace, s); st != CUDNN_STATUS_SUCCESS)
        check(st, who + ": executing " + plans.candidates[i].name, __FILE__, __LINE__);
    BTC_CUDA_CHECK(cudaEventRecord(stop.e, s));
    BTC_CUDA_CHECK(cudaEventSynchronize(stop.e));
    float ms = 0;
    BTC_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e, stop.e));
    const double per_run_ms = static_cast<double>(ms) / timed_runs;
    if (best_ms < 0 || per_run_ms < best_ms) {
      best_ms = per_run_ms;
      plans.chosen = i;
    }
  }
  register_exit_cleanup();  // executing may load more of cuDNN
  if (best_ms < 0) throw std::runtime_error(who + ": every cuDNN plan failed to execute: " + why);
  plans.tuned = true;
  plans.chosen_ms = best_ms;
}

// ---- handles --------------------------------------------------------------------

Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

// Called after cuDNN may have loaded more code; the last registered runs
// first and does the work, the others find nothing left. A failed
// registration only leaves that cleanup undone.
void register_exit_cleanup() { (void)std::atexit(exit_cleanup); }

int current_device() {
  int dev = 0;
  BTC_CUDA_CHECK(cudaGetDevice(&dev));
  return dev;
}

cudnnHandle_t handle_locked(Registry& r, int device) {
  if (auto it = r.handles.find(device); it != r.handles.end()) return it->second;
  if (auto it = r.handle_errors.find(device); it != r.handle_errors.end()) throw std::runtime_error(it->second);
  cudnnHandle_t h = nullptr;
  try {
    BTC_CUDNN_CHECK(api().cudnnCreate(&h));
  } catch (const std::exception& e) {
    r.handle_errors[device] = e.what();
    throw;
  }
  r.handles[device] = h;
  register_exit_cleanup();
  return h;
}

std::string unavailable_reason() {
  try {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    handle_locked(r, current_device());
  } catch (const std::exception& e) {
    const std::string what = e.what();
    return what.rfind("cuDNN", 0) == 0 ? what : "cuDNN: " + what;
  }
  return "";
}

}  // namespace btc::cudnn
#endif  // BTC_HAVE_CUDNN
