// Host helpers every sweep suite shares: launch-length calibration and the
// in-kernel SM clock.
#pragma once
#include <benchmark/benchmark.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "harness/core/cupti_profiler.h"

namespace btc {

// Manual (CUDA event) time, fixed launches per repetition, and min/max beside
// Google Benchmark's mean/median/stddev across repetitions.
benchmark::internal::Benchmark* configure_manual_time(benchmark::internal::Benchmark* b, int repetitions,
                                                      int launches);

// CUPTI values from one separate, untimed launch per benchmark (replayed per
// pass), attached to every repetition as `cupti.<metric>` counters.
class CounterCache {
 public:
  void attach(benchmark::State& st, cupti::RangeProfiler* profiler, const std::string& name,
              const std::function<void()>& launch);

 private:
  std::map<std::string, std::vector<double>> values_;
};

// Warm-up launches, then Google Benchmark's timed loop with one CUDA-event
// timed launch per iteration (manual time). Returns mean seconds per launch.
double time_launches(benchmark::State& st, const std::function<void()>& launch, int warmups = 2);

// Per-benchmark memo of a calibrated loop count, so every repetition (and the
// counter run) executes the same launch.
class ItersCache {
 public:
  long long get(const std::string& name, const std::function<long long()>& calibrate);

 private:
  std::map<std::string, long long> iters_;
};

// Grows a loop count until one launch takes about `target_seconds`, so every
// configuration (slow emulated ones too) is timed over milliseconds.
long long calibrate_iters(const std::function<void(long long)>& launch, double target_seconds = 2e-3);

// Per-block (clock64 cycles, globaltimer ns) pairs, as bench_device.cuh's
// record_block_clock writes them: the SM clock the blocks actually ran at.
double measured_sm_clock_mhz(const long long* d_clk, int blocks);

}  // namespace btc
