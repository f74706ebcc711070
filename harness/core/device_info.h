// What the harness records about the GPU at hand. Runtime API + NVML (loaded
// at run time, so nothing here needs a driver to start).
#pragma once
#include <stdexcept>
#include <string>

#include "harness/core/json.h"

namespace btc {

// No usable CUDA device: the message says what CUDA reported.
struct NoGpuError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct DeviceInfo {
  int ordinal = 0;
  std::string name, slug;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  long long l2_bytes = 0;
  int smem_per_block_optin_bytes = 0;
  int max_threads_per_sm = 0;
  int sm_clock_max_mhz = 0;
  int mem_clock_max_mhz = 0;
  int sm_clock_now_mhz = -1;          // NVML; -1 when NVML is absent
  std::string clock_event_reasons;    // NVML's reasons the clock is held down now ("" = none)
  std::string driver_version;         // "580.159.04" from NVML, else "cuda-driver-api-13000"
  int cuda_driver_api = 0, cuda_runtime = 0;
  int cupti_api = 0;
  std::string chip;                   // CUPTI chip name ("GH100"); "" if CUPTI could not say

  int sm() const { return cc_major * 10 + cc_minor; }  // 90 for sm_90
  std::string cc() const { return std::to_string(cc_major) + "." + std::to_string(cc_minor); }
};

// Throws NoGpuError when there is no device (or no driver), CUDA's words included.
int device_count_or_throw();
DeviceInfo query_device(int ordinal);
json::Value to_json(const DeviceInfo& d);
std::string describe(const DeviceInfo& d);  // human-readable, for `btcbench info`

}  // namespace btc
