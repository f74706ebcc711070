#include "harness/core/device_info.h"

#include <cuda_runtime.h>
#include <cupti.h>
#include <dlfcn.h>

#include <sstream>

#include "harness/core/check.h"
#include "harness/core/cupti_profiler.h"
#include "harness/core/results.h"

namespace btc {
namespace {

// The few NVML entry points we use, declared here because the toolkit ships
// no nvml.h; the library itself comes with the driver.
struct Nvml {
  using Device = void*;
  void* lib = nullptr;
  int (*init)() = nullptr;
  int (*shutdown)() = nullptr;
  int (*by_pci)(const char*, Device*) = nullptr;
  int (*clock)(Device, int, unsigned*) = nullptr;
  int (*driver)(char*, unsigned) = nullptr;
  int (*reasons)(Device, unsigned long long*) = nullptr;

  Nvml() {
    lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    init = reinterpret_cast<int (*)()>(dlsym(lib, "nvmlInit_v2"));
    shutdown = reinterpret_cast<int (*)()>(dlsym(lib, "nvmlShutdown"));
    by_pci = reinterpret_cast<int (*)(const char*, Device*)>(dlsym(lib, "nvmlDeviceGetHandleByPciBusId_v2"));
    clock = reinterpret_cast<int (*)(Device, int, unsigned*)>(dlsym(lib, "nvmlDeviceGetClockInfo"));
    driver = reinterpret_cast<int (*)(char*, unsigned)>(dlsym(lib, "nvmlSystemGetDriverVersion"));
    reasons = reinterpret_cast<int (*)(Device, unsigned long long*)>(
        dlsym(lib, "nvmlDeviceGetCurrentClocksEventReasons"));
    if (!reasons)
      reasons = reinterpret_cast<int (*)(Device, unsigned long long*)>(
          dlsym(lib, "nvmlDeviceGetCurrentClocksThrottleReasons"));
    if (!init || !shutdown || !by_pci || !clock || !driver || init() != 0) {
      dlclose(lib);
      lib = nullptr;
    }
  }
  ~Nvml() {
    if (lib) { shutdown(); dlclose(lib); }
  }
  bool ok() const { return lib != nullptr; }
};

std::string clock_reason_names(unsigned long long mask) {
  // nvml.h's nvmlClocksEventReason bits; idle (0x1) is expected between kernels.
  static const std::pair<unsigned long long, const char*> kBits[] = {
      {0x2, "app-clocks-setting"}, {0x4, "sw-power-cap"},   {0x8, "hw-slowdown"},
      {0x20, "sync-boost"},        {0x40, "sw-thermal"},    {0x80, "hw-thermal"},
      {0x100, "hw-power-brake"},   {0x200, "display-clocks"}};
  std::string s;
  for (const auto& [bit, name] : kBits)
    if (mask & bit) s += (s.empty() ? "" : ",") + std::string(name);
  return s;
}

}  // namespace

int device_count_or_throw() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess)
    throw NoGpuError(std::string("no CUDA GPU available (") + cudaGetErrorName(e) + ": " + cudaGetErrorString(e) + ")");
  if (n == 0) throw NoGpuError("no CUDA GPU available (the driver reports 0 devices)");
  return n;
}

DeviceInfo query_device(int ordinal) {
  const int n = device_count_or_throw();
  if (ordinal < 0 || ordinal >= n)
    throw NoGpuError("device " + std::to_string(ordinal) + " does not exist (" + std::to_string(n) + " present)");
  DeviceInfo d;
  d.ordinal = ordinal;
  cudaDeviceProp p{};
  BTC_CUDA_CHECK(cudaGetDeviceProperties(&p, ordinal));
  d.name = p.name;
  d.slug = gpu_slug(d.name);
  d.cc_major = p.major;
  d.cc_minor = p.minor;
  d.sm_count = p.multiProcessorCount;
  d.l2_bytes = p.l2CacheSize;
  d.smem_per_block_optin_bytes = static_cast<int>(p.sharedMemPerBlockOptin);
  d.max_threads_per_sm = p.maxThreadsPerMultiProcessor;
  int khz = 0;
  BTC_CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, ordinal));
  d.sm_clock_max_mhz = khz / 1000;
  BTC_CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrMemoryClockRate, ordinal));
  d.mem_clock_max_mhz = khz / 1000;
  BTC_CUDA_CHECK(cudaDriverGetVersion(&d.cuda_driver_api));
  BTC_CUDA_CHECK(cudaRuntimeGetVersion(&d.cuda_runtime));
  uint32_t cupti_version = 0;
  if (cuptiGetVersion(&cupti_version) == CUPTI_SUCCESS) d.cupti_api = static_cast<int>(cupti_version);
  d.driver_version = "cuda-driver-api-" + std::to_string(d.cuda_driver_api);

  Nvml nvml;
  if (nvml.ok()) {
    char buf[96] = {};
    if (nvml.driver(buf, sizeof buf) == 0) d.driver_version = buf;
    char pci[32] = {};
    Nvml::Device dev = nullptr;
    if (cudaDeviceGetPCIBusId(pci, sizeof pci, ordinal) == cudaSuccess && nvml.by_pci(pci, &dev) == 0) {
      unsigned mhz = 0;
      if (nvml.clock(dev, /*NVML_CLOCK_SM*/ 1, &mhz) == 0) d.sm_clock_now_mhz = static_cast<int>(mhz);
      unsigned long long mask = 0;
      if (nvml.reasons && nvml.reasons(dev, &mask) == 0) d.clock_event_reasons = clock_reason_names(mask);
    }
  }
  try {
    BTC_CUDA_CHECK(cudaSetDevice(ordinal));
    BTC_CUDA_CHECK(cudaFree(nullptr));  // create the context CUPTI asks about
    d.chip = cupti::chip_name(ordinal);
  } catch (const std::exception&) {
    d.chip = "";
  }
  return d;
}

json::Value to_json(const DeviceInfo& d) {
  json::Value v = json::Value::object();
  v.set("ordinal", d.ordinal);
  v.set("name", d.name);
  v.set("slug", d.slug);
  v.set("cc", d.cc());
  v.set("sm_count", d.sm_count);
  v.set("l2_bytes", static_cast<int64_t>(d.l2_bytes));
  v.set("smem_per_block_optin_bytes", d.smem_per_block_optin_bytes);
  v.set("sm_clock_max_mhz", d.sm_clock_max_mhz);
  v.set("mem_clock_max_mhz", d.mem_clock_max_mhz);
  v.set("sm_clock_at_start_mhz", d.sm_clock_now_mhz >= 0 ? json::Value(d.sm_clock_now_mhz) : json::Value());
  v.set("clock_event_reasons_at_start", d.clock_event_reasons);
  v.set("driver_version", d.driver_version);
  v.set("cuda_driver_api", d.cuda_driver_api);
  v.set("cuda_runtime", d.cuda_runtime);
  v.set("cupti_api", d.cupti_api);
  v.set("chip", d.chip);
  return v;
}

std::string describe(const DeviceInfo& d) {
  std::ostringstream os;
  os << "device " << d.ordinal << ": " << d.name << " (sm_" << d.sm() << ", chip " << (d.chip.empty() ? "?" : d.chip)
     << ")\n"
     << "  SMs " << d.sm_count << ", L2 " << d.l2_bytes / (1024 * 1024) << " MiB, smem/block opt-in "
     << d.smem_per_block_optin_bytes / 1024 << " KiB\n"
     << "  SM clock max " << d.sm_clock_max_mhz << " MHz, now "
     << (d.sm_clock_now_mhz >= 0 ? std::to_string(d.sm_clock_now_mhz) + " MHz" : std::string("unknown (no NVML)"))
     << (d.clock_event_reasons.empty() ? "" : " [held down: " + d.clock_event_reasons + "]") << "\n"
     << "  memory clock max " << d.mem_clock_max_mhz << " MHz\n"
     << "  driver " << d.driver_version << ", CUDA driver API " << d.cuda_driver_api << ", runtime "
     << d.cuda_runtime << ", CUPTI API " << d.cupti_api << "\n";
  return os.str();
}

}  // namespace btc
