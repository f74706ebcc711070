// What the GPU was doing while a benchmark ran: NVML's clock, power,
// temperature and clock-event (throttle) reasons sampled after each
// benchmark's timed runs, and the in-kernel SM clock checked against the
// GPU's maximum. Pure logic (no CUDA, no NVML) so CI tests it; harness/core/nvml
// takes the samples.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "harness/core/json.h"

namespace btc {

// One NVML reading. Fields NVML could not give stay negative (and are not recorded).
struct GpuSample {
  bool valid = false;             // NVML answered at all
  int sm_clock_mhz = -1;
  double power_w = -1;
  int temp_c = -1;
  uint64_t event_mask = 0;        // nvmlClocksEventReasons bits now
  bool event_mask_valid = false;
  // The driver's cumulative power / thermal violation time grew since the
  // previous sample: the GPU was held down at some point in between, even if
  // the reasons read clear by the time of this sample.
  bool power_violation = false, thermal_violation = false;
};

// Every reason bit but idle (expected between kernels), comma-separated, in
// nvml.h's order: "sw-power-cap,hw-thermal". "" when none.
std::string clock_event_names(uint64_t mask);

// The reasons that mean the GPU slowed itself down (power cap, thermal,
// hardware slowdown, power brake) plus the violations since the last sample;
// "" when none. Application-clock, sync-boost and display settings are
// policies, not throttling, and are left out.
std::string throttle_reasons(const GpuSample& s);

// The in-kernel clock (clock64 over %globaltimer) reads above the GPU's
// maximum by more than the timer's slack: the measurement, not the GPU, is off
// (2,097 MHz against 1,980 was seen on an H200), and per-clock figures built on
// it are suspect.
inline constexpr double kSuspectClockSlack = 0.02;  // 2%: globaltimer granularity over a ~2 ms launch
bool suspect_clock(double measured_mhz, int sm_clock_max_mhz);

// Adds "suspect_clock": 1 or 0 to every entry with an `sm_clock_mhz` counter
// (iterations and the median/mean/min/max aggregates; stddev and cv are not
// clocks). Returns how many entries were flagged.
int mark_suspect_clocks(json::Value& root, int sm_clock_max_mhz);

// run_name -> throttle_reasons of its repetitions, in repetition order.
using ThrottleLog = std::map<std::string, std::vector<std::string>>;

// Adds "throttle_reasons" to every entry of a run in `log`: iteration entries
// get their repetition's reasons, aggregates the union over the run's
// repetitions ("" when none throttled). Entries of runs without samples get
// none. Returns how many entries carry a non-empty string.
int attach_throttle_reasons(json::Value& root, const ThrottleLog& log);

}  // namespace btc
