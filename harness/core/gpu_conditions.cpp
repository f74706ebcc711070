#include "harness/core/gpu_conditions.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <utility>

namespace btc {
namespace {

// nvml.h's nvmlClocksEventReason bits (idle, 0x1, is left out).
constexpr uint64_t kAppClocks = 0x2, kSwPowerCap = 0x4, kHwSlowdown = 0x8, kSyncBoost = 0x10, kSwThermal = 0x20,
                   kHwThermal = 0x40, kHwPowerBrake = 0x80, kDisplayClocks = 0x100;
const std::pair<uint64_t, const char*> kBits[] = {
    {kAppClocks, "app-clocks-setting"}, {kSwPowerCap, "sw-power-cap"}, {kHwSlowdown, "hw-slowdown"},
    {kSyncBoost, "sync-boost"},         {kSwThermal, "sw-thermal"},    {kHwThermal, "hw-thermal"},
    {kHwPowerBrake, "hw-power-brake"},  {kDisplayClocks, "display-clocks"}};
constexpr uint64_t kThrottleBits = kSwPowerCap | kHwSlowdown | kSwThermal | kHwThermal | kHwPowerBrake;

std::string join_names(uint64_t mask) {
  std::string s;
  for (const auto& [bit, name] : kBits)
    if (mask & bit) s += (s.empty() ? "" : ",") + std::string(name);
  return s;
}

std::string text_of(const json::Value& e, const char* key) {
  const json::Value* v = e.find(key);
  return v && v->is_string() ? v->as_string() : std::string();
}

}  // namespace

std::string clock_event_names(uint64_t mask) { return join_names(mask); }

std::string throttle_reasons(const GpuSample& s) {
  std::string r = s.event_mask_valid ? join_names(s.event_mask & kThrottleBits) : "";
  for (const auto& [on, name] : {std::make_pair(s.power_violation, "power-violation"),
                                 std::make_pair(s.thermal_violation, "thermal-violation")})
    if (on) r += (r.empty() ? "" : ",") + std::string(name);
  return r;
}

bool suspect_clock(double measured_mhz, int sm_clock_max_mhz) {
  return sm_clock_max_mhz > 0 && measured_mhz > sm_clock_max_mhz * (1 + kSuspectClockSlack);
}

int mark_suspect_clocks(json::Value& root, int sm_clock_max_mhz) {
  json::Value* benches = root.find("benchmarks");
  if (!benches || !benches->is_array()) return 0;
  int flagged = 0;
  for (json::Value& e : benches->as_array()) {
    if (!e.is_object()) continue;
    const json::Value* clk = e.find("sm_clock_mhz");
    if (!clk || !clk->is_number()) continue;
    const std::string agg = text_of(e, "aggregate_name");
    if (agg == "stddev" || agg == "cv") continue;
    const bool suspect = suspect_clock(clk->as_number(), sm_clock_max_mhz);
    e.set("suspect_clock", suspect ? 1 : 0);
    flagged += suspect ? 1 : 0;
  }
  return flagged;
}

int attach_throttle_reasons(json::Value& root, const ThrottleLog& log) {
  json::Value* benches = root.find("benchmarks");
  if (!benches || !benches->is_array()) return 0;
  int marked = 0;
  for (json::Value& e : benches->as_array()) {
    if (!e.is_object()) continue;
    const auto it = log.find(text_of(e, "run_name"));
    if (it == log.end()) continue;
    std::string reasons;
    if (text_of(e, "run_type") == "aggregate") {
      std::set<std::string> all;  // the union, each reason once, sorted
      for (const std::string& rep : it->second) {
        std::stringstream ss(rep);
        for (std::string r; std::getline(ss, r, ',');)
          if (!r.empty()) all.insert(r);
      }
      for (const auto& r : all) reasons += (reasons.empty() ? "" : ",") + r;
    } else {
      const json::Value* idx = e.find("repetition_index");
      const size_t i = idx && idx->is_number() ? static_cast<size_t>(idx->as_number()) : 0;
      if (i >= it->second.size()) continue;  // no sample for this repetition
      reasons = it->second[i];
    }
    e.set("throttle_reasons", reasons);
    marked += reasons.empty() ? 0 : 1;
  }
  return marked;
}

}  // namespace btc
