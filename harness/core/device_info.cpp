#include "harness/core/device_info.h"

#include <cuda_runtime.h>
#include <cupti.h>

#include <sstream>

#include "harness/core/check.h"
#include "harness/core/cupti_profiler.h"
#include "harness/core/gpu_conditions.h"
#include "harness/core/nvml.h"
#include "harness/core/results.h"

namespace btc {

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

  if (const std::string v = nvml::driver_version(); !v.empty()) d.driver_version = v;
  if (const GpuSample now = nvml::sample(ordinal); now.valid) {
    d.sm_clock_now_mhz = now.sm_clock_mhz;
    if (now.event_mask_valid) d.clock_event_reasons = clock_event_names(now.event_mask);
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
