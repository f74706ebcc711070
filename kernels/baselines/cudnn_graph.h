// cuDNN 9's graph (backend) API as the cuDNN baselines use it: the library
// opened at run time, every call checked, descriptors owned, candidate plans
// built from heuristics, timed on the real operands, and executed. Private to
// kernels/baselines (cudnn_bconv.cpp, cudnn_conv_half.cpp): only sources that
// CMake compiles with BTC_HAVE_CUDNN=1 and cuDNN's include folder include it.
//
// Loading: libcudnn.so.9 is opened at run time (dlopen: the loader's path,
// then the library CMake found), so a binary starts on a machine without
// cuDNN and the cuDNN designs skip there with the reason. One handle per
// device, created on first use; handles, plans and descriptors are destroyed
// from an atexit handler registered after cuDNN last loaded code.
#pragma once
#ifndef BTC_HAVE_CUDNN
#define BTC_HAVE_CUDNN 0  // CMake sets 1 when it finds cuDNN 9 (kernels/CMakeLists.txt)
#endif

#if BTC_HAVE_CUDNN
#include <cuda_runtime.h>
#include <cudnn.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace btc::cudnn {

// The entry points, from dlopen.
struct Api {
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
const Api* load(std::string* why);
// The loaded API; throws std::runtime_error("cuDNN: <why>").
const Api& api();

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
std::string status_text(cudnnStatus_t st);  // cuDNN's name for st and its last error message
void check(cudnnStatus_t st, const std::string& what, const char* file, int line);  // throws Error

// Every cuDNN call is checked; a failure names the call, cuDNN's reason, file and line.
#define BTC_CUDNN_CHECK(call) ::btc::cudnn::check((call), #call, __FILE__, __LINE__)

// One backend descriptor, destroyed with its owner.
class Desc {
 public:
  Desc() = default;
  explicit Desc(cudnnBackendDescriptorType_t type);
  Desc(Desc&& o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
  Desc& operator=(Desc&& o) noexcept;
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  ~Desc() { reset(); }

  cudnnBackendDescriptor_t get() const { return d_; }
  void set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count, const void* values);
  void set(cudnnBackendAttributeName_t name, const Desc& value);
  void finalize();

 private:
  void reset();
  cudnnBackendDescriptor_t d_ = nullptr;
};

constexpr int64_t kAlignmentBytes = 16;                   // every tensor's declared alignment
constexpr size_t kMaxWorkspaceBytes = size_t{256} << 20;  // the cap for cuDNN's scratch (fixed, reported)

// A 4-d tensor: cuDNN's logical [N, C, H, W] dims with the caller's strides.
Desc make_tensor(int64_t uid, cudnnDataType_t type, const std::array<int64_t, 4>& dims,
                 const std::array<int64_t, 4>& strides, bool is_virtual);
// Channels-last strides of [N, C, H, W] dims.
std::array<int64_t, 4> nhwc_strides(const std::array<int64_t, 4>& dims);
// A cross-correlation (PyTorch's conv2d) with square stride and padding (pad_after
// >= 0: that bottom / right padding instead), computing in `compute`.
Desc make_conv(cudnnDataType_t compute, int64_t stride, int64_t pad, int64_t pad_after = -1);
// The convolution-forward operation y = conv(x, w).
Desc make_conv_fprop(const Desc& x, const Desc& w, const Desc& y, const Desc& conv);
// A pointwise operation y = mode(x[, b]) computing in math_prec (b: nullptr for a
// unary mode); its pointwise descriptor goes into parts.
Desc make_pointwise_op(std::vector<Desc>& parts, cudnnPointwiseMode_t mode, const Desc& x, const Desc* b, const Desc& y,
                       cudnnDataType_t math_prec = CUDNN_DATA_FLOAT);

// One operation graph and every descriptor it references, kept alive as long
// as the plans built from it.
struct OpGraph {
  std::string pattern;     // names the graph in plan names, e.g. "conv+identity"
  std::vector<int64_t> uids;  // the non-virtual tensors, in the order execute() takes pointers
  std::vector<Desc> parts;
  Desc graph;
};
// Finalizes g.graph from `ops` (descriptors in g.parts), on `handle`.
void finalize_graph(OpGraph& g, cudnnHandle_t handle, const std::vector<const Desc*>& ops);

// An engine configuration's name ("eng<global index>{k<knob>=<value>,...}")
// and why it is left out ("" when usable): Winograd, FFT and reduced-precision
// reductions (not exact / not fp32), int8x32 reorders (need reordered filters).
struct EngineInfo {
  std::string name, excluded;
};
EngineInfo engine_info(const Desc& config);

struct Candidate {
  std::shared_ptr<const OpGraph> graph;  // what the plan was built from, kept as long as it
  Desc config;                           // the engine configuration, likewise
  Desc plan;
  size_t workspace_bytes = 0;
  std::string name;  // "<pattern>/eng<i>{knobs}"
};

// The candidate plans of one problem on one device, and the one run() uses.
struct PlanSet {
  std::vector<Candidate> candidates;  // heuristics' order
  size_t max_workspace_bytes = 0;
  size_t chosen = 0;  // the fastest once tuned; heuristics' first until then
  bool tuned = false;
  double chosen_ms = 0;
  bool executed = false;  // a plan has run (exit cleanup registered after it)
  // The last variant pack, rebuilt when the plan or a pointer changes.
  Desc pack;
  std::vector<void*> pack_ptrs;
  size_t pack_plan = SIZE_MAX;
  std::string algorithm() const;  // "<chosen name> (tuned: <ms> ms)" or "(heuristics' first, not tuned)"
};

// Builds up to plans_per_graph usable plans per graph from heuristics mode A
// (mode FALLBACK when A gives none), each with a workspace <= the cap.
// Throws std::invalid_argument("<who>: cuDNN has no engine for <what>: <reasons>") when none builds.
std::unique_ptr<PlanSet> build_plans(cudnnHandle_t handle, const std::vector<std::shared_ptr<const OpGraph>>& graphs,
                                     int plans_per_graph, const std::string& who, const std::string& what);

// Executes candidate i (the registry's mutex held): ptrs in the graph's uid order.
cudnnStatus_t execute(cudnnHandle_t h, PlanSet& plans, size_t i, const std::vector<void*>& ptrs, void* workspace,
                      cudaStream_t s);
// Times every candidate (one warm-up, then timed_runs) on these operands and keeps the fastest.
void tune(cudnnHandle_t h, PlanSet& plans, const std::vector<void*>& ptrs, void* workspace, cudaStream_t s,
          const std::string& who, int timed_runs = 3);

// Handles and plan sets of every device. Heap-allocated and never destroyed
// by static destruction (see exit cleanup above).
struct Registry {
  std::mutex mu;  // held from cudnnSetStream through the (asynchronous) execute
  std::map<int, cudnnHandle_t> handles;
  std::map<int, std::string> handle_errors;  // devices where cudnnCreate failed: the skip reason
  std::map<std::string, std::unique_ptr<PlanSet>> plans;  // by the caller's key (problem and device)
};
Registry& registry();
int current_device();
cudnnHandle_t handle_locked(Registry& r, int device);  // r.mu held; throws the cudnnCreate error
void register_exit_cleanup();  // after any call that may load more of cuDNN
// "" when cuDNN loads and has a handle on the current device, else why not ("cuDNN: ...").
std::string unavailable_reason();

}  // namespace btc::cudnn
#endif  // BTC_HAVE_CUDNN
