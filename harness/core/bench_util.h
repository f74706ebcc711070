// Host helpers every sweep suite shares: launch-length calibration and the
// in-kernel SM clock.
#pragma once
#include <benchmark/benchmark.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "harness/core/cupti_profiler.h"
#include "harness/core/gpu_conditions.h"

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

// Evicts L2 before a counter pass, as ncu's --cache-control all does: a
// cudaMemsetAsync over a device buffer twice the L2 size, synchronized.
// Without it, L2 still holds the operands from the timing runs and the
// previous pass, and hit rates and DRAM bytes read as a warm cache (on an
// H200: lts__t_sector_hit_rate.pct 105% and dram__bytes_read.sum 512 B where
// ncu read 90% and 2.73 MB). The flush leaves L2 full of its own dirty lines,
// so a pass's DRAM *writes* can include their write-back; reads are clean.
class L2Flusher {
 public:
  explicit L2Flusher(long long l2_bytes);  // allocates 2 x l2_bytes on the current device
  ~L2Flusher();
  L2Flusher(const L2Flusher&) = delete;
  L2Flusher& operator=(const L2Flusher&) = delete;
  void flush();
  size_t bytes() const { return bytes_; }

 private:
  void* buf_ = nullptr;
  size_t bytes_ = 0;
  unsigned char pattern_ = 0;
};

// Warm-up launches, then Google Benchmark's timed loop with one CUDA-event
// timed launch per iteration (manual time), then record_gpu_conditions.
// Returns mean seconds per launch.
double time_launches(benchmark::State& st, const std::function<void()>& launch, int warmups = 2);

// After a repetition's timed launches, off the timed path: one NVML sample of
// the current device, as the run's counters nvml_sm_clock_mhz, nvml_power_w
// and nvml_temp_c (those NVML gives), and queued for take_gpu_samples. Cheap
// (microseconds); nothing where NVML is absent.
void record_gpu_conditions(benchmark::State& st);
// The samples queued since the last call, in the order the repetitions ran
// (the reporter pairs them with the runs Google Benchmark reports next).
std::vector<GpuSample> take_gpu_samples();

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
