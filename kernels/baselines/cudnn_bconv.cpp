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
// plan with a workspace <= kMaxCudnnWorkspaceBytes (mode FALLBACK when none
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
// Loading: libcudnn.so.9 is opened at run time (dlopen: the loader's path,
// then the library CMake found), so the binary starts on a machine without
// cuDNN and the designs skip there with the reason. One handle per device,
// created on first use; handles, plans and descriptors are destroyed at exit.
#ifndef BTC_HAVE_CUDNN
#define BTC_HAVE_CUDNN 0  // CMake sets 1 when it finds cuDNN 9 (kernels/CMakeLists.txt)
#endif
#ifndef BTC_CUDNN_LIBRARY_PATH
#define BTC_CUDNN_LIBRARY_PATH "libcudnn.so.9"  // CMake: the library it found
#endif

#if BTC_HAVE_CUDNN
#include <cudnn.h>
#include <dlfcn.h>
#endif

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

// ---- the cuDNN entry points, from dlopen ------------------------------------

struct CudnnApi {
#define BTC_CUDNN_FN(f) decltype(&::f) f = nullptr;
  BTC_CUDNN_FN(cudnnGetVersion)
  BTC_CUDNN_FN(cudnnGetErrorString)
  BTC_CUDNN_FN(cudnnGetLastErrorString)
  BTC_CUDNN_FN(cudnnCreate)
  BTC_CUDNN_FN(cudnnDestroy)
  BTC_CUDNN_FN(cudnnSetStream)
  BTC_CUDNN_FN(cudnnBackendCreateDescriptor)
  BTC_CUDNN_FN(cudnnBackendDestroyDescriptor)
  BTC_CUDNN_FN(cudnnBackendSetAttribute)
  BTC_CUDNN_FN(cudnnBackendGetAttribute)
  BTC_CUDNN_FN(cudnnBackendFinalize)
  BTC_CUDNN_FN(cudnnBackendExecute)
#undef BTC_CUDNN_FN
};

// The loaded API, or nullptr with *why set. Loaded once, never unloaded.
const CudnnApi* load_cudnn(std::string* why) {
  static std::once_flag once;
  static CudnnApi api;                               // trivially destructible: usable during exit
  static const std::string* error = nullptr;        // leaked on purpose, as api
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

const CudnnApi& api() {
  std::string why;
  const CudnnApi* a = load_cudnn(&why);
  if (a == nullptr) throw std::runtime_error("cuDNN: " + why);
  return *a;
}

struct CudnnError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string status_text(cudnnStatus_t st) {
  const CudnnApi& a = api();
  std::array<char, 512> last{};
  a.cudnnGetLastErrorString(last.data(), last.size());
  std::string s = a.cudnnGetErrorString(st);
  if (last[0] != '\0') s += std::string(": ") + last.data();
  return s;
}

void cudnn_check(cudnnStatus_t st, const std::string& what, const char* file, int line) {
  if (st != CUDNN_STATUS_SUCCESS)
    throw CudnnError(what + " failed: " + status_text(st) + " at " + file + ":" + std::to_string(line));
}

// Every cuDNN call is checked; a failure names the call, cuDNN's reason, file and line.
#define BTC_CUDNN_CHECK(call) ::btc::bconv::cudnn_check((call), #call, __FILE__, __LINE__)

// ---- backend descriptors ----------------------------------------------------

// One backend descriptor, destroyed with its owner.
class Desc {
 public:
  Desc() = default;
  explicit Desc(cudnnBackendDescriptorType_t type) {
    BTC_CUDNN_CHECK(api().cudnnBackendCreateDescriptor(type, &d_));
  }
  Desc(Desc&& o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
  Desc& operator=(Desc&& o) noexcept {
    if (this != &o) {
      reset();
      d_ = std::exchange(o.d_, nullptr);
    }
    return *this;
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  ~Desc() { reset(); }

  cudnnBackendDescriptor_t get() const { return d_; }
  void set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count, const void* values) {
    cudnn_check(api().cudnnBackendSetAttribute(d_, name, type, count, values),
                "cudnnBackendSetAttribute(attribute " + std::to_string(static_cast<int>(name)) + ")", __FILE__,
                __LINE__);
  }
  void set(cudnnBackendAttributeName_t name, const Desc& value) {
    const cudnnBackendDescriptor_t raw = value.get();
    set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw);
  }
  void finalize() { BTC_CUDNN_CHECK(api().cudnnBackendFinalize(d_)); }

 private:
  void reset() {
    // The status is dropped: a destructor has no one to report it to.
    if (d_ != nullptr) api().cudnnBackendDestroyDescriptor(d_);
    d_ = nullptr;
  }
  cudnnBackendDescriptor_t d_ = nullptr;
};

// ---- the problem as cuDNN tensors -------------------------------------------

constexpr int64_t kUidX = 1, kUidW = 2, kUidY = 3, kUidConvOut = 4;
constexpr int64_t kAlignmentBytes = 16;               // every tensor's declared alignment
constexpr size_t kMaxCudnnWorkspaceBytes = size_t{256} << 20;  // the cap for cuDNN's scratch (fixed, reported)
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

// One operation graph and every descriptor it references, kept alive as long
// as the plans built from it.
struct OpGraph {
  std::string pattern;  // "conv" | "conv+identity"
  std::vector<Desc> parts;
  Desc graph;
};

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

  Desc conv(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  conv.set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &pr.acc);
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;  // tap (r, s) reads pixel (p stride - pad + r, ...)
  conv.set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
  const int64_t spatial = 2, pads[2] = {p.pad, p.pad}, dilations[2] = {1, 1}, strides[2] = {p.stride, p.stride};
  conv.set(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial);
  conv.set(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pads);
  conv.set(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, pads);
  conv.set(CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dilations);
  conv.set(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, strides);
  conv.finalize();

  Desc conv_out = with_identity ? make_tensor(kUidConvOut, pr.acc, y_dims, y_strides, true) : Desc();
  Desc fprop(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
  fprop.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, x);
  fprop.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, wt);
  fprop.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, with_identity ? conv_out : y);
  fprop.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv);
  const float one = 1.f, zero = 0.f;
  fprop.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &one);
  fprop.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &zero);
  fprop.finalize();

  std::vector<cudnnBackendDescriptor_t> ops{fprop.get()};
  Desc pw, pw_op;
  if (with_identity) {
    pw = Desc(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    const cudnnPointwiseMode_t identity = CUDNN_POINTWISE_IDENTITY;
    pw.set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &identity);
    pw.set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &pr.acc);
    pw.finalize();
    pw_op = Desc(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    pw_op.set(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw);
    pw_op.set(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, conv_out);
    pw_op.set(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y);
    pw_op.set(CUDNN_ATTR_OPERATION_POINTWISE_ALPHA1, CUDNN_TYPE_FLOAT, 1, &one);
    pw_op.set(CUDNN_ATTR_OPERATION_POINTWISE_ALPHA2, CUDNN_TYPE_FLOAT, 1, &one);
    pw_op.finalize();
    ops.push_back(pw_op.get());
  }

  g->graph = Desc(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  g->graph.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, static_cast<int64_t>(ops.size()),
               ops.data());
  g->graph.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);  // optional from cuDNN 9.8
  g->graph.finalize();
  for (Desc* d : {&x, &wt, &y, &conv, &conv_out, &fprop, &pw, &pw_op})
    if (d->get() != nullptr) g->parts.push_back(std::move(*d));
  return g;
}

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

// "eng<global index>{k<knob type>=<value>,...}", and why the engine is left
// out ("" when it is usable).
struct EngineInfo {
  std::string name, excluded;
};
EngineInfo engine_info(const Desc& config) {
  const CudnnApi& a = api();
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

// ---- plans per (problem, device) -------------------------------------------

struct Candidate {
  std::shared_ptr<const OpGraph> graph;  // what the plan was built from, kept as long as it
  Desc config;                           // the engine configuration, likewise
  Desc plan;
  size_t workspace_bytes = 0;
  std::string name;  // "<pattern>/eng<i>{knobs}"
};

struct Selection {
  std::vector<Candidate> candidates;  // heuristics' order
  size_t max_workspace_bytes = 0;
  size_t chosen = 0;  // the fastest once tuned; heuristics' first until then
  bool tuned = false;
  double chosen_ms = 0;
  // The last variant pack, rebuilt when the plan or a pointer changes.
  Desc pack;
  std::array<void*, 4> pack_ptrs{};
  size_t pack_plan = SIZE_MAX;
  bool executed = false;  // run() has executed a plan (exit cleanup registered after it)
};

using SelectionKey = std::tuple<int /*device*/, int /*precision*/, int, int, int, int, int, int, int, int, int>;
SelectionKey key_of(int device, Precision prec, const Problem& p) {
  return {device, static_cast<int>(prec), p.n, p.h, p.w, p.c, p.k, p.r, p.s, p.stride, p.pad};
}

// Handles and plans of every device. Heap-allocated and never destroyed by
// static destruction: exit_cleanup() destroys its contents from an atexit
// handler registered after cuDNN last loaded code, so it runs before the
// static destructors of the libraries cuDNN opens lazily (its sublibraries,
// engines) and while the CUDA runtime is still up.
struct Registry {
  std::mutex mu;  // held from cudnnSetStream through the (asynchronous) execute, as the cuBLAS baseline does
  std::map<int, cudnnHandle_t> handles;
  std::map<int, std::string> handle_errors;  // devices where cudnnCreate failed: the skip reason
  std::map<SelectionKey, std::unique_ptr<Selection>> selections;
};
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}
void exit_cleanup() {
  Registry& r = registry();
  // A thread still inside a cuDNN call (or exit() called from one) keeps
  // everything: a leak at exit, not a deadlock.
  std::unique_lock<std::mutex> lock(r.mu, std::try_to_lock);
  if (!lock.owns_lock()) return;
  r.selections.clear();  // plans and descriptors before the handles they were made with
  for (auto& [device, h] : r.handles) api().cudnnDestroy(h);  // status dropped: exiting
  r.handles.clear();
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

// The current device's handle (r.mu held); throws the cudnnCreate error.
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

// Builds every candidate plan for p; std::invalid_argument when none builds.
std::unique_ptr<Selection> build_selection(cudnnHandle_t handle, const Problem& p, Precision prec,
                                           const std::string& who) {
  const PrecisionInfo pr = precision_info(prec);
  const Layout l = layout_of(p, prec);
  auto sel = std::make_unique<Selection>();
  std::string why;
  std::vector<std::shared_ptr<const OpGraph>> graphs;
  for (bool with_identity : {false, true}) {
    try {
      graphs.push_back(build_graph(handle, p, l, pr, with_identity));
    } catch (const CudnnError& e) {  // this graph is not expressible here; the other may be
      why += std::string(with_identity ? "conv+identity" : "conv") + ": " + e.what() + "; ";
    }
  }
  for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    for (const auto& g : graphs) {
      int built = 0;
      for (Desc& config : engine_configs(*g, mode, &why)) {
        if (built == kPlansPerGraph) break;
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
        if (ws < 0 || static_cast<size_t>(ws) > kMaxCudnnWorkspaceBytes) {
          why += c.name + ": workspace " + std::to_string(ws) + " bytes is over the cap; ";
          continue;
        }
        c.workspace_bytes = static_cast<size_t>(ws);
        sel->max_workspace_bytes = std::max(sel->max_workspace_bytes, c.workspace_bytes);
        sel->candidates.push_back(std::move(c));
        ++built;
      }
    }
    if (!sel->candidates.empty()) break;  // FALLBACK only when mode A gave nothing usable
  }
  register_exit_cleanup();  // plan building loads cuDNN's engine libraries
  if (sel->candidates.empty())
    throw std::invalid_argument(who + ": cuDNN has no engine for this convolution (" + pr.what + ", NHWC, C_pad " +
                                std::to_string(l.c_pad) + ", K_pad " + std::to_string(l.k_pad) + "): " + why);
  return sel;
}

// Executes candidate i of sel on stream s (r.mu held): x, w, y and scratch device pointers.
cudnnStatus_t execute_locked(cudnnHandle_t h, Selection& sel, size_t i, const std::array<void*, 4>& ptrs,
                             cudaStream_t s) {
  if (sel.pack_plan != i || sel.pack_ptrs != ptrs) {
    Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    const int64_t uids[3] = {kUidX, kUidW, kUidY};
    void* data[3] = {ptrs[0], ptrs[1], ptrs[2]};
    void* scratch = ptrs[3];
    pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uids);
    pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, data);
    pack.set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &scratch);
    pack.finalize();
    sel.pack = std::move(pack);
    sel.pack_ptrs = ptrs;
    sel.pack_plan = i;
  }
  BTC_CUDNN_CHECK(api().cudnnSetStream(h, s));
  return api().cudnnBackendExecute(h, sel.candidates[i].plan.get(), sel.pack.get());
}

struct Event {
  Event() { BTC_CUDA_CHECK(cudaEventCreate(&e)); }
  ~Event() { (void)cudaEventDestroy(e); }  // nothing to report to in a destructor
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t e = nullptr;
};

// Times every candidate on the operands in ptrs and keeps the fastest (r.mu held).
void tune_locked(cudnnHandle_t h, Selection& sel, const std::array<void*, 4>& ptrs, cudaStream_t s,
                 const std::string& who) {
  Event start, stop;
  std::string why;
  double best_ms = -1;
  for (size_t i = 0; i < sel.candidates.size(); ++i) {
    // The warm-up also pays the first call's one-time costs (module loads).
    if (const cudnnStatus_t st = execute_locked(h, sel, i, ptrs, s); st != CUDNN_STATUS_SUCCESS) {
      why += sel.candidates[i].name + ": " + status_text(st) + "; ";
      continue;
    }
    BTC_CUDA_CHECK(cudaEventRecord(start.e, s));
    for (int run = 0; run < kTimedRuns; ++run)
      if (const cudnnStatus_t st = execute_locked(h, sel, i, ptrs, s); st != CUDNN_STATUS_SUCCESS)
        cudnn_check(st, who + ": executing " + sel.candidates[i].name, __FILE__, __LINE__);
    BTC_CUDA_CHECK(cudaEventRecord(stop.e, s));
    BTC_CUDA_CHECK(cudaEventSynchronize(stop.e));
    float ms = 0;
    BTC_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e, stop.e));
    const double per_run_ms = static_cast<double>(ms) / kTimedRuns;
    if (best_ms < 0 || per_run_ms < best_ms) {
      best_ms = per_run_ms;
      sel.chosen = i;
    }
  }
  register_exit_cleanup();  // executing may load more of cuDNN
  if (best_ms < 0) throw std::runtime_error(who + ": every cuDNN plan failed to execute: " + why);
  sel.tuned = true;
  sel.chosen_ms = best_ms;
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
    try {
      Registry& r = registry();
      std::lock_guard<std::mutex> lock(r.mu);
      handle_locked(r, current_device());
    } catch (const std::exception& e) {
      const std::string what = e.what();
      return what.rfind("cuDNN", 0) == 0 ? what : "cuDNN: " + what;
    }
    return "";
#else
    return "built without cuDNN";
#endif
  }
  std::string unsupported(const Problem& p) const override {
    if (p.pad > 0 && p.pad_value != PadValue::kZero) return "cuDNN pads with 0; pad_value ±1 is not expressible";
    return "";
  }

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
    Selection& sel = selection_locked(r, device, p);
    if (!sel.tuned) tune_locked(handle_locked(r, device), sel, pointers(ws, l, ws + l.y), s, name_);
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
                        reinterpret_cast<uintptr_t>(out.c) % kAlignmentBytes == 0;
    void* y = direct ? static_cast<void*>(out.c) : static_cast<void*>(ws + l.y);
    {
      Registry& r = registry();
      std::lock_guard<std::mutex> lock(r.mu);
      const int device = current_device();
      Selection& sel = selection_locked(r, device, p);
      const cudnnStatus_t st = execute_locked(handle_locked(r, device), sel, sel.chosen, pointers(ws, l, y), s);
      cudnn_check(st, name_ + ": executing " + sel.candidates[sel.chosen].name, __FILE__, __LINE__);
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
    const auto it = r.selections.find(key_of(current_device(), prec_, p));
    if (it == r.selections.end()) return "";
    const Selection& sel = *it->second;
    return sel.candidates[sel.chosen].name +
           (sel.tuned ? " (tuned: " + std::to_string(sel.chosen_ms) + " ms)" : " (heuristics' first, not tuned)");
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
  static std::array<void*, 4> pointers(char* ws, const Layout& l, void* y) {
    return {ws + l.x, ws + l.w, y, ws + l.scratch};
  }
  // The plans for p on `device`, built on first use (r.mu held).
  Selection& selection_locked(Registry& r, int device, const Problem& p) const {
    const SelectionKey key = key_of(device, prec_, p);
    auto it = r.selections.find(key);
    if (it == r.selections.end())
      it = r.selections.emplace(key, build_selection(handle_locked(r, device), p, prec_, name_)).first;
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
