// CUPTI range profiler, CUDA 13 (see cupti_profiler.h and
// /work/shared/notes/cupti-cuda13.md for the call sequence).
//
// Host side: cupti_profiler_host.h (config image, metric evaluation; works with
// no GPU). Target side: cupti_range_profiler.h. From the deprecated
// cupti_profiler_target.h only cuptiProfilerInitialize/DeInitialize,
// cuptiProfilerGetCounterAvailability and cuptiProfilerDeviceSupported are used.
//
// No cu* symbol is linked: the driver functions needed (cuCtxGetCurrent,
// cuDeviceGet, cuGetErrorName) come from cudaGetDriverEntryPointByVersion; <cuda.h> is
// included for its types only.
#include "harness/core/cupti_profiler.h"

#include <cuda.h>  // types only: CUcontext, CUdevice, CUresult
#include <cuda_runtime_api.h>
#include <cupti_profiler_host.h>
#include <cupti_profiler_target.h>
#include <cupti_range_profiler.h>
#include <cupti_result.h>
#include <cupti_target.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <utility>

namespace btc::cupti {

Error::Error(const std::string& what, int cupti_result) : std::runtime_error(what), cupti_result_(cupti_result) {}

namespace {

// ---------------------------------------------------------------- error checks

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string result_name(CUptiResult r) {
  const char* s = nullptr;
  if (cuptiGetResultString(r, &s) != CUPTI_SUCCESS || s == nullptr)
    return "CUPTI error " + std::to_string(static_cast<int>(r));
  return s;
}

// /proc/driver/nvidia/params says whether the driver restricts counters to admins.
std::string profiling_permission_facts() {
  std::string admin_only = "?";
  std::ifstream params("/proc/driver/nvidia/params");
  for (std::string line; std::getline(params, line);)
    if (line.rfind("RmProfilingAdminOnly:", 0) == 0) admin_only = line.substr(line.find(':') + 1);
  admin_only.erase(0, admin_only.find_first_not_of(" \t"));

  bool cap_sys_admin = false;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("CapEff:", 0) == 0) {
      try {
        const unsigned long long caps = std::stoull(line.substr(7), nullptr, 16);
        cap_sys_admin = ((caps >> 21) & 1ULL) != 0;  // CAP_SYS_ADMIN = 21
      } catch (const std::exception&) {
      }
    }
  std::ostringstream os;
  os << " [this system: /proc/driver/nvidia/params RmProfilingAdminOnly: "
     << (admin_only == "?" ? std::string("not found") : admin_only) << "; this process: uid " << geteuid()
     << ", CAP_SYS_ADMIN " << (cap_sys_admin ? "yes" : "no") << "]";
  return os.str();
}

// What to do about the failures a user can fix or should understand.
std::string hint_for(CUptiResult r) {
  switch (r) {
    case CUPTI_ERROR_INSUFFICIENT_PRIVILEGES:
      return "this user may not read GPU performance counters. Run as root (or with CAP_SYS_ADMIN), or let all "
             "users profile: load the NVIDIA driver with NVreg_RestrictProfilingToAdminUsers=0 (e.g. 'options nvidia "
             "NVreg_RestrictProfilingToAdminUsers=0' in /etc/modprobe.d/, then reload the driver or reboot); see "
             "https://developer.nvidia.com/CUPTI_ERROR_INSUFFICIENT_PRIVILEGES" +
             profiling_permission_facts();
    case CUPTI_ERROR_VIRTUALIZED_DEVICE_INSUFFICIENT_PRIVILEGES:
      return "the hypervisor does not allow profiling on this virtual GPU: the vGPU must be configured with "
             "profiling enabled (NVIDIA vGPU plugin parameter enable_profiling=1, set by the hypervisor admin)";
    case CUPTI_ERROR_VIRTUALIZED_DEVICE_NOT_SUPPORTED:
      return "CUPTI cannot profile on this virtualized GPU";
    case CUPTI_ERROR_MIG_DEVICE_NOT_SUPPORTED:
      return "the GPU is in MIG mode and CUPTI cannot profile this MIG instance: use a GPU with MIG disabled "
             "(an admin can run 'nvidia-smi -i <gpu> -mig 0')";
    case CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED:
      return "another CUPTI client already holds this process (running under Nsight Compute, Nsight Systems, "
             "cuda-gdb or another profiler?): run btcbench outside the tool to read counters; timings still work";
    case CUPTI_ERROR_CONFIDENTIAL_COMPUTING_NOT_SUPPORTED:
      return "confidential computing mode is on, and CUPTI cannot read counters in it";
    case CUPTI_ERROR_CMP_DEVICE_NOT_SUPPORTED:
      return "CUPTI does not support NVIDIA CMP (crypto mining) GPUs";
    case CUPTI_ERROR_SLI_DEVICE_NOT_SUPPORTED:
      return "CUPTI cannot profile with SLI enabled";
    case CUPTI_ERROR_WSL_DEVICE_NOT_SUPPORTED:
      return "CUPTI cannot profile this GPU under WSL";
    case CUPTI_ERROR_LEGACY_PROFILER_NOT_SUPPORTED:
    case CUPTI_ERROR_OLD_PROFILER_API_INITIALIZED:
      return "the legacy event/metric API was used in this process; it cannot be mixed with the range profiler";
    default: {
      const char* msg = nullptr;  // CUPTI's longer text, when it has one
      if (cuptiGetErrorMessage(r, &msg) == CUPTI_SUCCESS && msg != nullptr && result_name(r) != msg) {
        std::string s = msg;
        while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.pop_back();
        return s;
      }
      return "";
    }
  }
}

[[noreturn]] void throw_cupti(CUptiResult r, const std::string& call) {
  std::string msg = call + " failed: " + result_name(r) + " (" + std::to_string(static_cast<int>(r)) + ")";
  const std::string hint = hint_for(r);
  if (!hint.empty()) msg += ": " + hint;
  throw Error(msg, static_cast<int>(r));
}

void check_cupti(CUptiResult r, const char* call) {
  if (r != CUPTI_SUCCESS) throw_cupti(r, call);
}

void check_cudart(cudaError_t e, const char* call) {
  if (e != cudaSuccess)
    throw Error(std::string(call) + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

// A CUPTI params struct, zeroed, with structSize set from its *_STRUCT_SIZE.
template <class Params>
Params make_params(std::size_t struct_size) {
  Params p{};
  p.structSize = struct_size;
  return p;
}

}  // namespace

#define BTC_CUPTI_PARAMS(Type) make_params<Type>(Type##_STRUCT_SIZE)
#define BTC_CUPTI_CHECK(fn, params) check_cupti(fn(&(params)), #fn)
#define BTC_CUDART_CHECK(call) check_cudart((call), #call)

namespace {

// --------------------------------------------------- driver through the runtime

using CuCtxGetCurrentFn = CUresult(CUDAAPI*)(CUcontext*);
using CuDeviceGetFn = CUresult(CUDAAPI*)(CUdevice*, int);
using CuGetErrorNameFn = CUresult(CUDAAPI*)(CUresult, const char**);

template <class Fn>
Fn driver_function(const char* name) {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
  check_cudart(cudaGetDriverEntryPointByVersion(name, &fn, 12000, cudaEnableDefault, &found),
               (std::string("cudaGetDriverEntryPointByVersion(") + name + ")").c_str());
  if (found != cudaDriverEntryPointSuccess || fn == nullptr)
    throw Error(std::string("the CUDA driver has no entry point ") + name + " (query result " +
                std::to_string(static_cast<int>(found)) + ")");
  return reinterpret_cast<Fn>(fn);
}

void check_driver(CUresult r, const char* call) {
  if (r == CUDA_SUCCESS) return;
  const char* name = nullptr;
  try {
    static const auto get_name = driver_function<CuGetErrorNameFn>("cuGetErrorName");
    get_name(r, &name);
  } catch (const Error&) {
  }
  throw Error(std::string(call) + " failed: " + (name ? name : "CUresult") + " (" + std::to_string(static_cast<int>(r)) +
              ")");
}

CUcontext current_context() {
  static const auto get_current = driver_function<CuCtxGetCurrentFn>("cuCtxGetCurrent");
  CUcontext ctx = nullptr;
  check_driver(get_current(&ctx), "cuCtxGetCurrent");
  if (ctx == nullptr) throw Error("cuCtxGetCurrent: no CUDA context is current");
  return ctx;
}

CUdevice driver_device(int ordinal) {
  static const auto device_get = driver_function<CuDeviceGetFn>("cuDeviceGet");
  CUdevice dev{};
  check_driver(device_get(&dev, ordinal), "cuDeviceGet");
  return dev;
}

void require_device(int device) {
  int count = 0;
  BTC_CUDART_CHECK(cudaGetDeviceCount(&count));
  if (device < 0 || device >= count)
    throw Error("CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(count) +
                " device(s) visible)");
}

// Makes `device` (its primary context) current; restores the previous device.
class CurrentDevice {
 public:
  explicit CurrentDevice(int device) {
    BTC_CUDART_CHECK(cudaGetDevice(&previous_));
    BTC_CUDART_CHECK(cudaSetDevice(device));
    BTC_CUDART_CHECK(cudaFree(nullptr));  // make sure the primary context exists
    changed_ = previous_ != device;
  }
  ~CurrentDevice() {
    if (changed_) cudaSetDevice(previous_);
  }
  CurrentDevice(const CurrentDevice&) = delete;
  CurrentDevice& operator=(const CurrentDevice&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

// ------------------------------------------------------------ process state

struct ProcessState {
  std::mutex mutex;
  int profiler_refs = 0;         // holders of cuptiProfilerInitialize
  std::set<int> claimed_devices; // devices with a live RangeProfiler
};

ProcessState& process_state() {
  static ProcessState s;
  return s;
}

// One reference on cuptiProfilerInitialize (process-wide, counted).
class ProfilerInit {
 public:
  ProfilerInit() = default;
  ~ProfilerInit() { release(); }
  ProfilerInit(const ProfilerInit&) = delete;
  ProfilerInit& operator=(const ProfilerInit&) = delete;

  void acquire() {
    auto& st = process_state();
    std::lock_guard<std::mutex> lock(st.mutex);
    if (st.profiler_refs == 0) {
      auto p = BTC_CUPTI_PARAMS(CUpti_Profiler_Initialize_Params);
      BTC_CUPTI_CHECK(cuptiProfilerInitialize, p);
    }
    ++st.profiler_refs;
    held_ = true;
  }
  void release() noexcept {
    if (!held_) return;
    held_ = false;
    auto& st = process_state();
    std::lock_guard<std::mutex> lock(st.mutex);
    if (--st.profiler_refs == 0) {
      auto p = BTC_CUPTI_PARAMS(CUpti_Profiler_DeInitialize_Params);
      cuptiProfilerDeInitialize(&p);  // teardown: nothing to do on failure
    }
  }

 private:
  bool held_ = false;
};

// Marks a device as profiled by a live RangeProfiler of this process.
class DeviceClaim {
 public:
  DeviceClaim() = default;
  ~DeviceClaim() { release(); }
  DeviceClaim(const DeviceClaim&) = delete;
  DeviceClaim& operator=(const DeviceClaim&) = delete;

  void claim(int device) {
    auto& st = process_state();
    std::lock_guard<std::mutex> lock(st.mutex);
    if (!st.claimed_devices.insert(device).second)
      throw Error("a RangeProfiler already exists for CUDA device " + std::to_string(device) +
                  " (one at a time per device)");
    device_ = device;
  }
  void release() noexcept {
    if (device_ < 0) return;
    auto& st = process_state();
    std::lock_guard<std::mutex> lock(st.mutex);
    st.claimed_devices.erase(device_);
    device_ = -1;
  }
  static bool is_claimed(int device) {
    auto& st = process_state();
    std::lock_guard<std::mutex> lock(st.mutex);
    return st.claimed_devices.count(device) != 0;
  }

 private:
  int device_ = -1;
};

// ------------------------------------------------------------ CUPTI objects

std::vector<std::string> supported_chips() {
  auto p = BTC_CUPTI_PARAMS(CUpti_Profiler_Host_GetSupportedChips_Params);
  std::vector<std::string> chips;
  if (cuptiProfilerHostGetSupportedChips(&p) == CUPTI_SUCCESS)
    for (std::size_t i = 0; i < p.numChips; ++i) chips.emplace_back(p.ppChipNames[i]);
  return chips;
}

// cuptiProfilerHostInitialize/Deinitialize. After a failed ConfigAddMetrics the
// object is unusable (CUPTI answers CUPTI_ERROR_UNKNOWN to everything after), so
// offline validation makes a fresh one per metric.
class HostObject {
 public:
  HostObject() = default;
  HostObject(const std::string& chip, const uint8_t* counter_availability) { create(chip, counter_availability); }
  ~HostObject() { destroy(); }
  HostObject(const HostObject&) = delete;
  HostObject& operator=(const HostObject&) = delete;

  void create(const std::string& chip, const uint8_t* counter_availability) {
    destroy();
    auto p = BTC_CUPTI_PARAMS(CUpti_Profiler_Host_Initialize_Params);
    p.profilerType = CUPTI_PROFILER_TYPE_RANGE_PROFILER;
    p.pChipName = chip.c_str();
    p.pCounterAvailabilityImage = counter_availability;  // null: offline, the chip's full metric set
    const CUptiResult r = cuptiProfilerHostInitialize(&p);
    if (r == CUPTI_ERROR_INVALID_CHIP_NAME || (r == CUPTI_ERROR_INVALID_PARAMETER && chip.empty()))
      throw Error("CUPTI does not know the chip '" + chip + "' (cuptiProfilerHostInitialize: " + result_name(r) +
                      "); it knows: " + join(supported_chips()),
                  static_cast<int>(r));
    check_cupti(r, "cuptiProfilerHostInitialize");
    object_ = p.pHostObject;
  }

  CUptiResult try_add_metrics(std::vector<const char*>& names) noexcept {
    auto p = BTC_CUPTI_PARAMS(CUpti_Profiler_Host_ConfigAddMetrics_Params);
    p.pHostObject = object_;
    p.ppMetricNames = names.data();
    p.numMetrics = names.size();
    return cuptiProfilerHostConfigAddMetrics(&p);
  }

  std::vector<uint8_t> config_image() {
    auto size = BTC_CUPTI_PARAMS(CUpti_Profiler_Host_GetConfigImageSize_Params);
    size.pHostObject = object_;
    BTC_CUPTI_CHECK(cuptiProfilerHostGetConfigImageSize, size);
    if (size.configImageSize == 0) throw Error("cuptiProfilerHostGetConfigImageSize returned an empty config image");
    std::vector<uint8_t> image(size.configImageSize);
    auto get = BTC_CUPTI_PARAMS(CUpti_Profiler_Host_GetConfigImage_Params);
    get.pHostObject = object_;
    get.configImageSize = image.size();
    get.pConfigImage = image.data();
    BTC_CUPTI_CHECK(cuptiProfilerHostGetConfigImage, get);
    return image;
  }

  CUpti_Profiler_Host_Object* get() const { return object_; }

 private:
  void destroy() noexcept {
    if (object_ == nullptr) return;
    auto p = BTC_CUPTI_PARAMS(CUpti_Profiler_Host_Deinitialize_Params);
    p.pHostObject = object_;
    cuptiProfilerHostDeinitialize(&p);  // teardown: nothing to do on failure
    object_ = nullptr;
  }

  CUpti_Profiler_Host_Object* object_ = nullptr;
};

// cuptiRangeProfilerEnable/Disable on one context.
class RangeObject {
 public:
  RangeObject() = default;
  ~RangeObject() { disable(); }
  RangeObject(const RangeObject&) = delete;
  RangeObject& operator=(const RangeObject&) = delete;

  void enable(CUcontext ctx) {
    disable();
    auto p = BTC_CUPTI_PARAMS(CUpti_RangeProfiler_Enable_Params);
    p.ctx = ctx;
    BTC_CUPTI_CHECK(cuptiRangeProfilerEnable, p);
    object_ = p.pRangeProfilerObject;
  }
  void disable() noexcept {
    if (object_ == nullptr) return;
    auto p = BTC_CUPTI_PARAMS(CUpti_RangeProfiler_Disable_Params);
    p.pRangeProfilerObject = object_;
    cuptiRangeProfilerDisable(&p);  // teardown: nothing to do on failure
    object_ = nullptr;
  }
  CUpti_RangeProfiler_Object* get() const { return object_; }

 private:
  CUpti_RangeProfiler_Object* object_ = nullptr;
};

std::string device_chip_name(int device) {  // needs cuptiProfilerInitialize
  auto p = BTC_CUPTI_PARAMS(CUpti_Device_GetChipName_Params);
  p.deviceIndex = static_cast<std::size_t>(device);
  BTC_CUPTI_CHECK(cuptiDeviceGetChipName, p);
  if (p.pChipName == nullptr) throw Error("cuptiDeviceGetChipName returned no name");
  return p.pChipName;
}

std::vector<uint8_t> counter_availability_image(CUcontext ctx) {
  auto p = BTC_CUPTI_PARAMS(CUpti_Profiler_GetCounterAvailability_Params);
  p.ctx = ctx;
  BTC_CUPTI_CHECK(cuptiProfilerGetCounterAvailability, p);  // size only
  std::vector<uint8_t> image(p.counterAvailabilityImageSize);
  p.pCounterAvailabilityImage = image.data();
  BTC_CUPTI_CHECK(cuptiProfilerGetCounterAvailability, p);
  return image;
}

std::string support_level_problems(const CUpti_Profiler_DeviceSupported_Params& s) {
  std::vector<std::string> why;
  auto bad = [](CUpti_Profiler_Support_Level l) { return l != CUPTI_PROFILER_CONFIGURATION_SUPPORTED; };
  if (bad(s.architecture)) why.push_back("CUPTI's range profiler does not support this GPU architecture (it needs sm_75 or newer)");
  if (bad(s.sli)) why.push_back(hint_for(CUPTI_ERROR_SLI_DEVICE_NOT_SUPPORTED));
  if (s.vGpu == CUPTI_PROFILER_CONFIGURATION_DISABLED)
    why.push_back("profiling is disabled on this vGPU: " +
                  hint_for(CUPTI_ERROR_VIRTUALIZED_DEVICE_INSUFFICIENT_PRIVILEGES));
  else if (bad(s.vGpu))
    why.push_back("this vGPU does not support profiling");
  if (bad(s.confidentialCompute)) why.push_back(hint_for(CUPTI_ERROR_CONFIDENTIAL_COMPUTING_NOT_SUPPORTED));
  if (bad(s.cmp)) why.push_back(hint_for(CUPTI_ERROR_CMP_DEVICE_NOT_SUPPORTED));
  if (bad(s.wsl)) why.push_back(hint_for(CUPTI_ERROR_WSL_DEVICE_NOT_SUPPORTED));
  if (why.empty()) why.push_back("CUPTI gave no reason");
  return join(why, "; ");
}

Availability check_availability(int device) {
  const std::string dev = "device " + std::to_string(device);
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess)
    return {false, std::string("no usable GPU: cudaGetDeviceCount failed: ") + cudaGetErrorName(e) + " (" +
                       cudaGetErrorString(e) + ")"};
  if (count == 0) return {false, "no GPU: CUDA sees no device"};
  if (device < 0 || device >= count)
    return {false, "CUDA " + dev + " does not exist (" + std::to_string(count) + " device(s) visible)"};
  if (DeviceClaim::is_claimed(device))
    return {true, "counters in use by this process's RangeProfiler on " + dev};

  ProfilerInit init;
  init.acquire();
  CurrentDevice current(device);
  const CUcontext ctx = current_context();

  auto support = BTC_CUPTI_PARAMS(CUpti_Profiler_DeviceSupported_Params);
  support.cuDevice = driver_device(device);
  support.api = CUPTI_PROFILER_RANGE_PROFILING;
  BTC_CUPTI_CHECK(cuptiProfilerDeviceSupported, support);
  if (support.isSupported != CUPTI_PROFILER_CONFIGURATION_SUPPORTED)
    return {false, "CUPTI cannot profile " + dev + ": " + support_level_problems(support)};

  const std::string chip = device_chip_name(device);
  counter_availability_image(ctx);
  RangeObject probe;
  probe.enable(ctx);  // where privileges, MIG, vGPU and other CUPTI clients are refused
  probe.disable();
  return {true, "counters readable on " + dev + " (" + chip + ")"};
}

}  // namespace

// ================================================================ public API

Availability counter_availability(int device) {
  try {
    return check_availability(device);
  } catch (const std::exception& e) {
    return {false, e.what()};
  } catch (...) {
    return {false, "unknown error while checking counter availability"};
  }
}

std::string chip_name(int device) {
  require_device(device);
  ProfilerInit init;
  init.acquire();
  return device_chip_name(device);
}

std::vector<std::string> invalid_metrics(const std::string& chip, const std::vector<std::string>& metrics) {
  { HostObject known(chip, nullptr); }  // throws for a chip CUPTI does not know
  std::vector<std::string> bad;
  for (const auto& metric : metrics) {
    if (metric.empty()) {
      bad.push_back(metric);
      continue;
    }
    HostObject host(chip, nullptr);
    std::vector<const char*> names{metric.c_str()};
    const CUptiResult r = host.try_add_metrics(names);
    if (r == CUPTI_ERROR_INVALID_PARAMETER || r == CUPTI_ERROR_INVALID_METRIC_NAME)
      bad.push_back(metric);  // CUPTI 13.0 answers INVALID_PARAMETER for an unknown name
    else
      check_cupti(r, "cuptiProfilerHostConfigAddMetrics");
  }
  return bad;
}

// ------------------------------------------------------------ RangeProfiler

struct RangeProfiler::Impl {
  int device = 0;
  std::vector<std::string> metric_names;
  std::vector<const char*> names;  // metric_names' c_str(), as CUPTI takes them
  std::string chip;
  CUcontext ctx = nullptr;
  std::vector<uint8_t> availability, config, counter_data;
  std::size_t passes = 0;
  bool armed = false;        // counter data initialised and SetConfig done, not yet used
  bool replay_open = false;  // passes started and CUPTI has not yet said all are submitted
  std::string broken;        // why this profiler can no longer be used ("" = usable)
  std::function<void()> before_pass;  // between passes, outside any range (cache control)
  // Destroyed in reverse: range profiler disabled, host object freed, device
  // released, then the last cuptiProfilerDeInitialize.
  ProfilerInit init;
  DeviceClaim claim;
  HostObject host;
  RangeObject range;

  Impl(int dev, std::vector<std::string> metric_list);
  void check_metric_list() const;
  std::size_t counter_data_size();
  void arm();
  std::vector<double> collect(const std::string& range_name, const std::function<void()>& launch);
  void run_pass(const std::function<void()>& launch);
  void finish_replay() noexcept;
  void decode(const std::string& range_name);
  std::vector<double> evaluate(const std::string& range_name);
};

RangeProfiler::Impl::Impl(int dev, std::vector<std::string> metric_list)
    : device(dev), metric_names(std::move(metric_list)) {
  check_metric_list();
  for (const auto& m : metric_names) names.push_back(m.c_str());

  require_device(device);
  claim.claim(device);
  init.acquire();
  CurrentDevice current(device);
  ctx = current_context();
  chip = device_chip_name(device);

  const auto bad = invalid_metrics(chip, metric_names);
  if (!bad.empty())
    throw Error("metric(s) not valid on " + chip + " (CUDA device " + std::to_string(device) + "): " + join(bad));

  // Host: config image for the metrics, on this device's counters.
  availability = counter_availability_image(ctx);
  host.create(chip, availability.data());
  check_cupti(host.try_add_metrics(names), "cuptiProfilerHostConfigAddMetrics");
  config = host.config_image();
  auto num = BTC_CUPTI_PARAMS(CUpti_Profiler_Host_GetNumOfPasses_Params);
  num.configImageSize = config.size();
  num.pConfigImage = config.data();
  BTC_CUPTI_CHECK(cuptiProfilerHostGetNumOfPasses, num);
  passes = num.numOfPasses;

  // Target: range profiler on the context, counter data for one range.
  range.enable(ctx);
  counter_data.resize(counter_data_size());
  arm();
}

void RangeProfiler::Impl::check_metric_list() const {
  if (metric_names.empty()) throw Error("RangeProfiler: no metrics given");
  std::set<std::string> seen;
  for (const auto& m : metric_names) {
    if (m.empty()) throw Error("RangeProfiler: empty metric name");
    if (!seen.insert(m).second) throw Error("RangeProfiler: metric '" + m + "' given twice");
  }
}

std::size_t RangeProfiler::Impl::counter_data_size() {
  auto p = BTC_CUPTI_PARAMS(CUpti_RangeProfiler_GetCounterDataSize_Params);
  p.pRangeProfilerObject = range.get();
  p.pMetricNames = names.data();
  p.numMetrics = names.size();
  p.maxNumOfRanges = 1;
  p.maxNumRangeTreeNodes = 1;
  BTC_CUPTI_CHECK(cuptiRangeProfilerGetCounterDataSize, p);
  if (p.counterDataSize == 0) throw Error("cuptiRangeProfilerGetCounterDataSize returned 0 bytes");
  return p.counterDataSize;
}

// Fresh counter data image and configuration (pass 0) for the next profile().
void RangeProfiler::Impl::arm() {
  std::fill(counter_data.begin(), counter_data.end(), uint8_t{0});
  auto image = BTC_CUPTI_PARAMS(CUpti_RangeProfiler_CounterDataImage_Initialize_Params);
  image.pRangeProfilerObject = range.get();
  image.counterDataSize = counter_data.size();
  image.pCounterData = counter_data.data();
  BTC_CUPTI_CHECK(cuptiRangeProfilerCounterDataImageInitialize, image);

  auto cfg = BTC_CUPTI_PARAMS(CUpti_RangeProfiler_SetConfig_Params);
  cfg.pRangeProfilerObject = range.get();
  cfg.configSize = config.size();
  cfg.pConfig = config.data();
  cfg.counterDataImageSize = counter_data.size();
  cfg.pCounterDataImage = counter_data.data();
  cfg.range = CUPTI_UserRange;
  cfg.replayMode = CUPTI_UserReplay;
  cfg.maxRangesPerPass = 1;
  cfg.numNestingLevels = 1;
  cfg.minNestingLevel = 1;
  cfg.passIndex = 0;
  cfg.targetNestingLevel = 1;
  BTC_CUPTI_CHECK(cuptiRangeProfilerSetConfig, cfg);
  armed = true;
}

// All replay passes of one range, then the values.
std::vector<double> RangeProfiler::Impl::collect(const std::string& range_name, const std::function<void()>& launch) {
  if (!broken.empty())
    throw Error("RangeProfiler: unusable since a failed profile() left CUPTI mid-replay (" + broken +
                "); destroy it and make a new one");
  if (!armed) arm();
  armed = false;

  // CUPTI says when every pass is submitted; the bound only guards against a loop.
  const std::size_t max_passes = passes + 16;
  std::size_t pass = 0;
  try {
    replay_open = true;
    while (replay_open) {
      if (++pass > max_passes)
        throw Error("range '" + range_name + "': CUPTI wanted more than " + std::to_string(max_passes) +
                    " passes (scheduled " + std::to_string(passes) + ")");
      if (before_pass) before_pass();  // before Start: not part of any pass's counters
      run_pass(launch);
    }
  } catch (...) {
    finish_replay();
    throw;
  }
  decode(range_name);
  if (pass != passes)
    throw Error("range '" + range_name + "': CUPTI submitted all passes after " + std::to_string(pass) + " of the " +
                std::to_string(passes) + " scheduled; the values would be incomplete");
  return evaluate(range_name);
}

// One replay pass: Start, PushRange, launch, PopRange, Stop; replay_open
// follows Stop's isAllPassSubmitted. If anything throws, the range is popped
// and the profiler stopped (errors ignored) before the exception goes on.
constexpr const char* kCuptiRangeName = "btc";

void RangeProfiler::Impl::run_pass(const std::function<void()>& launch) {
  auto start = BTC_CUPTI_PARAMS(CUpti_RangeProfiler_Start_Params);
  start.pRangeProfilerObject = range.get();
  BTC_CUPTI_CHECK(cuptiRangeProfilerStart, start);

  auto push = BTC_CUPTI_PARAMS(CUpti_RangeProfiler_PushRange_Params);
  push.pRangeProfilerObject = range.get();
  // CUPTI gets a short fixed name, range_name stays for the messages: names
  // of 58 characters and more crashed CUPTI 13.0's decode (SIGSEGV on the
  // H200, test_tensor_counts_gpu at 1e19330; 45 ran), and the counter data
  // holds one range, read by index.
  push.pRangeName = kCuptiRangeName;
  auto pop = BTC_CUPTI_PARAMS(CUpti_RangeProfiler_PopRange_Params);
  pop.pRangeProfilerObject = range.get();
  auto stop = BTC_CUPTI_PARAMS(CUpti_RangeProfiler_Stop_Params);
  stop.pRangeProfilerObject = range.get();

  bool pushed = false;
  try {
    BTC_CUPTI_CHECK(cuptiRangeProfilerPushRange, push);
    pushed = true;
    if (launch) {
      launch();
      BTC_CUDART_CHECK(cudaGetLastError());  // a bad launch configuration
    }
    pushed = false;
    BTC_CUPTI_CHECK(cuptiRangeProfilerPopRange, pop);
  } catch (...) {
    if (pushed) cuptiRangeProfilerPopRange(&pop);
    if (cuptiRangeProfilerStop(&stop) == CUPTI_SUCCESS) replay_open = stop.isAllPassSubmitted == 0;
    throw;
  }
  BTC_CUPTI_CHECK(cuptiRangeProfilerStop, stop);
  replay_open = stop.isAllPassSubmitted == 0;
  BTC_CUDART_CHECK(cudaDeviceSynchronize());  // this pass ran (and faults surface) before the next
}

// After a pass failed: CUPTI counts on from the pass it stopped at, and a new
// SetConfig with passIndex 0 does not reset that (the next range came back with
// the skipped passes' metrics as NaN); disabling the range profiler mid-replay
// and enabling it again crashed inside CUPTI 13.0 (seen on an H200). So the
// open replay is finished with empty passes and decoded; the next profile()
// then starts from pass 0. If that fails too, the profiler is marked broken.
void RangeProfiler::Impl::finish_replay() noexcept {
  try {
    for (std::size_t i = 0; replay_open && i < passes + 16; ++i) run_pass(nullptr);
    if (replay_open) throw Error("CUPTI never reported all passes submitted");
    auto p = BTC_CUPTI_PARAMS(CUpti_RangeProfiler_DecodeData_Params);
    p.pRangeProfilerObject = range.get();
    BTC_CUPTI_CHECK(cuptiRangeProfilerDecodeData, p);
  } catch (const std::exception& e) {
    broken = e.what();
  } catch (...) {
    broken = "unknown error";
  }
}

void RangeProfiler::Impl::decode(const std::string& range_name) {
  auto p = BTC_CUPTI_PARAMS(CUpti_RangeProfiler_DecodeData_Params);
  p.pRangeProfilerObject = range.get();
  BTC_CUPTI_CHECK(cuptiRangeProfilerDecodeData, p);
  if (p.numOfRangeDropped > 0)
    throw Error("range '" + range_name + "': CUPTI dropped " + std::to_string(p.numOfRangeDropped) +
                " range(s); the counter data holds one range per profile() call");
}

std::vector<double> RangeProfiler::Impl::evaluate(const std::string& range_name) {
  auto info = BTC_CUPTI_PARAMS(CUpti_RangeProfiler_GetCounterDataInfo_Params);
  info.pCounterDataImage = counter_data.data();
  info.counterDataImageSize = counter_data.size();
  BTC_CUPTI_CHECK(cuptiRangeProfilerGetCounterDataInfo, info);
  if (info.numTotalRanges == 0)
    throw Error("range '" + range_name + "': CUPTI recorded no range (did launch() run work on CUDA device " +
                std::to_string(device) + "?)");

  std::vector<double> values(names.size(), 0.0);
  auto eval = BTC_CUPTI_PARAMS(CUpti_Profiler_Host_EvaluateToGpuValues_Params);
  eval.pHostObject = host.get();
  eval.pCounterDataImage = counter_data.data();
  eval.counterDataImageSize = counter_data.size();
  eval.rangeIndex = 0;
  eval.ppMetricNames = names.data();
  eval.numMetrics = names.size();
  eval.pMetricValues = values.data();
  BTC_CUPTI_CHECK(cuptiProfilerHostEvaluateToGpuValues, eval);
  return values;
}

RangeProfiler::RangeProfiler(int device, std::vector<std::string> metrics)
    : impl_(std::make_unique<Impl>(device, std::move(metrics))) {}

RangeProfiler::~RangeProfiler() = default;
RangeProfiler::RangeProfiler(RangeProfiler&&) noexcept = default;
RangeProfiler& RangeProfiler::operator=(RangeProfiler&&) noexcept = default;

std::vector<double> RangeProfiler::profile(const std::string& range_name, const std::function<void()>& launch) {
  if (!launch) throw Error("RangeProfiler::profile: no launch function");
  Impl& s = *impl_;
  CurrentDevice current(s.device);
  if (current_context() != s.ctx)
    throw Error("RangeProfiler::profile: the current context of CUDA device " + std::to_string(s.device) +
                " is not the primary context the profiler was enabled on");
  return s.collect(range_name, launch);
}

void RangeProfiler::set_before_pass(std::function<void()> before_pass) { impl_->before_pass = std::move(before_pass); }

int RangeProfiler::num_passes() const { return static_cast<int>(impl_->passes); }
const std::string& RangeProfiler::chip() const { return impl_->chip; }
const std::vector<std::string>& RangeProfiler::metrics() const { return impl_->metric_names; }
int RangeProfiler::device() const { return impl_->device; }

}  // namespace btc::cupti

#undef BTC_CUPTI_PARAMS
#undef BTC_CUPTI_CHECK
#undef BTC_CUDART_CHECK
