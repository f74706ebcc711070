#include "harness/core/nvml.h"

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <map>
#include <mutex>

namespace btc::nvml {
namespace {

constexpr int kSuccess = 0;                 // NVML_SUCCESS
constexpr int kClockSm = 1;                 // NVML_CLOCK_SM
constexpr int kTemperatureGpu = 0;          // NVML_TEMPERATURE_GPU
constexpr int kPolicyPower = 0, kPolicyThermal = 1;  // nvmlPerfPolicyType_t

struct ViolationTime {  // nvmlViolationTime_t
  unsigned long long reference_time_ns;
  unsigned long long violation_time_ns;
};

// The entry points used, declared here (no nvml.h); each call's nvmlReturn_t is checked.
struct Library {
  using Device = void*;
  void* lib = nullptr;
  std::string why_not;
  int (*init)() = nullptr;
  int (*shutdown)() = nullptr;
  int (*by_pci)(const char*, Device*) = nullptr;
  int (*clock)(Device, int, unsigned*) = nullptr;
  int (*driver)(char*, unsigned) = nullptr;
  int (*reasons)(Device, unsigned long long*) = nullptr;
  int (*power_mw)(Device, unsigned*) = nullptr;
  int (*temperature)(Device, int, unsigned*) = nullptr;
  int (*violation)(Device, int, ViolationTime*) = nullptr;

  template <class F>
  void bind(F& fn, const char* name) {
    fn = reinterpret_cast<F>(dlsym(lib, name));
  }

  Library() {
    lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) { why_not = "libnvidia-ml.so.1 not found (NVML comes with the driver)"; return; }
    bind(init, "nvmlInit_v2");
    bind(shutdown, "nvmlShutdown");
    bind(by_pci, "nvmlDeviceGetHandleByPciBusId_v2");
    bind(clock, "nvmlDeviceGetClockInfo");
    bind(driver, "nvmlSystemGetDriverVersion");
    bind(reasons, "nvmlDeviceGetCurrentClocksEventReasons");
    if (!reasons) bind(reasons, "nvmlDeviceGetCurrentClocksThrottleReasons");  // drivers before 535
    bind(power_mw, "nvmlDeviceGetPowerUsage");
    bind(temperature, "nvmlDeviceGetTemperature");
    bind(violation, "nvmlDeviceGetViolationStatus");
    if (!init || !shutdown || !by_pci || !clock || !driver) {
      why_not = "libnvidia-ml.so.1 lacks the entry points used";
    } else if (const int r = init(); r != kSuccess) {
      why_not = "nvmlInit failed (NVML error " + std::to_string(r) + ")";
    } else {
      return;
    }
    dlclose(lib);
    lib = nullptr;
  }
  ~Library() {
    if (lib) { shutdown(); dlclose(lib); }
  }
  bool ok() const { return lib != nullptr; }

  Device device(int ordinal) const {
    char pci[32] = {};
    Device dev = nullptr;
    if (cudaDeviceGetPCIBusId(pci, sizeof pci, ordinal) != cudaSuccess) return nullptr;
    return by_pci(pci, &dev) == kSuccess ? dev : nullptr;
  }
};

// One per process: nvmlInit once, shut down at exit.
Library& library() {
  static Library lib;
  return lib;
}

std::mutex& sample_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

std::string driver_version() {
  Library& nv = library();
  if (!nv.ok()) return "";
  char buf[96] = {};
  return nv.driver(buf, sizeof buf) == kSuccess ? std::string(buf) : std::string();
}

std::string unavailable_reason(int ordinal) {
  Library& nv = library();
  if (!nv.ok()) return nv.why_not;
  return nv.device(ordinal) ? "" : "NVML does not know CUDA device " + std::to_string(ordinal) + " (by PCI bus id)";
}

GpuSample sample(int ordinal) {
  GpuSample s;
  Library& nv = library();
  if (!nv.ok()) return s;
  const Library::Device dev = nv.device(ordinal);
  if (!dev) return s;
  s.valid = true;
  unsigned v = 0;
  if (nv.clock(dev, kClockSm, &v) == kSuccess) s.sm_clock_mhz = static_cast<int>(v);
  if (nv.power_mw && nv.power_mw(dev, &v) == kSuccess) s.power_w = v / 1000.0;
  if (nv.temperature && nv.temperature(dev, kTemperatureGpu, &v) == kSuccess) s.temp_c = static_cast<int>(v);
  unsigned long long mask = 0;
  if (nv.reasons && nv.reasons(dev, &mask) == kSuccess) {
    s.event_mask = mask;
    s.event_mask_valid = true;
  }
  if (nv.violation) {
    // Cumulative since the driver loaded: compare with this device's last sample.
    std::lock_guard<std::mutex> lock(sample_mutex());
    static std::map<std::pair<int, int>, unsigned long long> last_ns;
    for (const int policy : {kPolicyPower, kPolicyThermal}) {
      ViolationTime t{};
      if (nv.violation(dev, policy, &t) != kSuccess) continue;
      const auto key = std::make_pair(ordinal, policy);
      const auto it = last_ns.find(key);
      const bool grew = it != last_ns.end() && t.violation_time_ns > it->second;
      (policy == kPolicyPower ? s.power_violation : s.thermal_violation) = grew;
      last_ns[key] = t.violation_time_ns;
    }
  }
  return s;
}

}  // namespace btc::nvml
