// What the GPU did while a benchmark ran: NVML reason bits, throttle reasons,
// suspect in-kernel clocks, and how both land on the results entries.
#include "harness/core/gpu_conditions.h"

#include <gtest/gtest.h>

namespace btc {
namespace {

TEST(GpuConditions, ClockEventBitsFollowNvmlH) {
  // nvml.h: idle 0x1, app clocks 0x2, sw power cap 0x4, hw slowdown 0x8, sync boost 0x10,
  // sw thermal 0x20, hw thermal 0x40, hw power brake 0x80, display clocks 0x100.
  EXPECT_EQ(clock_event_names(0x1), "");  // idle: expected between kernels
  EXPECT_EQ(clock_event_names(0x4), "sw-power-cap");
  EXPECT_EQ(clock_event_names(0x10), "sync-boost");
  EXPECT_EQ(clock_event_names(0x20), "sw-thermal");
  EXPECT_EQ(clock_event_names(0x40), "hw-thermal");
  EXPECT_EQ(clock_event_names(0x80), "hw-power-brake");
  EXPECT_EQ(clock_event_names(0x100), "display-clocks");
  EXPECT_EQ(clock_event_names(0x1FF),
            "app-clocks-setting,sw-power-cap,hw-slowdown,sync-boost,sw-thermal,hw-thermal,hw-power-brake,display-clocks");
}

TEST(GpuConditions, ThrottleReasonsAreTheSlowdownsOnly) {
  GpuSample s;
  s.valid = s.event_mask_valid = true;
  s.event_mask = 0x1 | 0x2 | 0x10 | 0x100;  // idle and policies: not throttling
  EXPECT_EQ(throttle_reasons(s), "");
  s.event_mask = 0x4 | 0x40 | 0x2;
  EXPECT_EQ(throttle_reasons(s), "sw-power-cap,hw-thermal");
  s.event_mask = 0;
  s.power_violation = true;  // held down since the last sample, though clear now
  EXPECT_EQ(throttle_reasons(s), "power-violation");
  s.thermal_violation = true;
  s.event_mask = 0x8;
  EXPECT_EQ(throttle_reasons(s), "hw-slowdown,power-violation,thermal-violation");
  GpuSample unknown;  // no reasons from NVML: nothing claimed
  unknown.event_mask = 0x4;
  EXPECT_EQ(throttle_reasons(unknown), "");
}

TEST(GpuConditions, SuspectClockAboveTheMaximumBeyondTheSlack) {
  EXPECT_TRUE(suspect_clock(2097, 1980));   // seen on an H200
  EXPECT_FALSE(suspect_clock(1980, 1980));
  EXPECT_FALSE(suspect_clock(1980 * 1.019, 1980));  // within 2%: timer granularity
  EXPECT_TRUE(suspect_clock(1980 * 1.021, 1980));
  EXPECT_FALSE(suspect_clock(1500, 1980));  // low clocks are throttling's business, not this flag's
  EXPECT_FALSE(suspect_clock(5000, 0));     // no maximum known
}

json::Value sample_tree() {
  return json::parse(R"({"benchmarks": [
    {"name": "tput/f/manual_time", "run_name": "tput/f/manual_time", "run_type": "iteration",
     "repetition_index": 0, "real_time": 1, "sm_clock_mhz": 1975},
    {"name": "tput/f/manual_time", "run_name": "tput/f/manual_time", "run_type": "iteration",
     "repetition_index": 1, "real_time": 1, "sm_clock_mhz": 2097},
    {"name": "tput/f/manual_time_median", "run_name": "tput/f/manual_time", "run_type": "aggregate",
     "aggregate_name": "median", "real_time": 1, "sm_clock_mhz": 2036},
    {"name": "tput/f/manual_time_stddev", "run_name": "tput/f/manual_time", "run_type": "aggregate",
     "aggregate_name": "stddev", "real_time": 0, "sm_clock_mhz": 61},
    {"name": "lat/g/manual_time", "run_name": "lat/g/manual_time", "run_type": "iteration",
     "repetition_index": 0, "real_time": 1}]})");
}

TEST(GpuConditions, MarkSuspectClocksFlagsClockEntriesOnly) {
  json::Value root = sample_tree();
  EXPECT_EQ(mark_suspect_clocks(root, 1980), 2);
  const auto& b = root.find("benchmarks")->as_array();
  EXPECT_EQ(b[0].find("suspect_clock")->as_number(), 0);
  EXPECT_EQ(b[1].find("suspect_clock")->as_number(), 1);
  EXPECT_EQ(b[2].find("suspect_clock")->as_number(), 1);  // the median is above too
  EXPECT_EQ(b[3].find("suspect_clock"), nullptr);         // a stddev is not a clock
  EXPECT_EQ(b[4].find("suspect_clock"), nullptr);         // no clock measured
}

TEST(GpuConditions, ThrottleReasonsPerRepetitionAndTheirUnionOnAggregates) {
  json::Value root = sample_tree();
  const ThrottleLog log = {{"tput/f/manual_time", {"", "sw-power-cap,hw-thermal"}}};
  EXPECT_EQ(attach_throttle_reasons(root, log), 3);
  const auto& b = root.find("benchmarks")->as_array();
  EXPECT_EQ(b[0].find("throttle_reasons")->as_string(), "");
  EXPECT_EQ(b[1].find("throttle_reasons")->as_string(), "sw-power-cap,hw-thermal");
  EXPECT_EQ(b[2].find("throttle_reasons")->as_string(), "hw-thermal,sw-power-cap");  // union, sorted
  EXPECT_EQ(b[3].find("throttle_reasons")->as_string(), "hw-thermal,sw-power-cap");
  EXPECT_EQ(b[4].find("throttle_reasons"), nullptr);  // no sample: no claim either way
  // A repetition without its sample gets no field.
  json::Value again = sample_tree();
  attach_throttle_reasons(again, {{"tput/f/manual_time", {""}}});
  EXPECT_EQ(again.find("benchmarks")->as_array()[1].find("throttle_reasons"), nullptr);
}

}  // namespace
}  // namespace btc
