// Host helpers every sweep suite shares: launch-length calibration, the
// in-kernel SM clock, CUDA-graph replay timing and the measured DRAM bandwidth.
#pragma once
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "harness/core/cupti_profiler.h"
#include "harness/core/gpu_conditions.h"
#include "harness/core/json.h"

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

// Kernel time without launch gaps: launch(i, stream) for i = 0 .. runs-1
// captured into one CUDA graph on a stream of its own, replayed once untimed,
// then `replays` times between CUDA events; the median replay over runs.
// Event timing of one short launch also counts the host's launch latency,
// which a graph replay does not. Capture fails where launch() makes a call
// that stream capture forbids (a synchronization, a first-use allocation):
// then `error` says why and the stream is out of capture mode again. Run the
// launches once before capturing, so one-time set-up happens outside.
struct GraphTiming {
  double seconds_per_run = 0;
  int runs = 0;
  std::string error;  // "" when measured
};
GraphTiming time_graph_replays(const std::function<void(int run, cudaStream_t s)>& launch, int runs,
                               int replays = 3);

// Launches that rotate through copies ("slots") of a point's buffers find
// their operands in DRAM rather than left in L2 by the launch before: copies
// spanning this many L2 sizes (H100 and H200 split L2 into two partitions; 3x
// clears either way). A point past that size runs on one copy.
constexpr double kRotationL2Multiple = 3.0;
constexpr int kMaxRotationCopies = 4096;
int rotation_copies(size_t slot_bytes, long long l2_bytes);
// Every buffer of a slot starts on cudaMalloc's alignment.
constexpr size_t kSlotAlignBytes = 256;
inline size_t align_up(size_t bytes) { return (bytes + kSlotAlignBytes - 1) / kSlotAlignBytes * kSlotAlignBytes; }

// Device memory that only grows, reused across a sweep's points (freed with
// the sweep's state at exit).
class DeviceArena {
 public:
  DeviceArena() = default;
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;
  // False, with CUDA's error cleared, when the device cannot hold `bytes`.
  bool reserve(size_t bytes);
  char* at(size_t offset) const { return static_cast<char*>(ptr_) + offset; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// A sweep's launches over `copies` slots of a point's buffers,
// run_slot(slot, stream). The event-timed launches (time_launches) rotate
// through the slots, continuing where the benchmark's previous repetition
// stopped; a point of at most graph_max_ops ops is then also timed from
// CUDA-graph replays of back-to-back launches (counters graph_time_per_run_us,
// graph_tops, graph_runs), only without a profiler: the CUPTI range
// profiler crashed decoding a bconv counter pass on the H200 (CUDA 13.0,
// 0e8dcf4) with graphs suspected; the same crash later came without any
// graph, from a long range name (1e19330), but graphs stay off under counters
// until a run shows both together. A graph skipped or failed is recorded
// once per benchmark as a skip of (form, "<config>/graph").
struct SlotRotation {
  std::string rotating;  // the benchmark whose launches `next` continues
  int next = 0;
  std::set<std::string> graph_skipped;
};
struct RotatedTiming {
  double seconds_per_launch = 0;  // event-timed mean (time_launches)
  int last_slot = 0;              // the slot touched last: a counter launch there warms nothing read next
};
constexpr int kGraphMinRuns = 16;
RotatedTiming time_rotated_launches(benchmark::State& st, SlotRotation& rotation, const std::string& name,
                                    int copies, const std::function<void(int slot, cudaStream_t s)>& run_slot,
                                    double ops, double graph_max_ops, bool profiler_on,
                                    const std::function<void(const std::string& why)>& skip_graph);

// The DRAM bandwidth a device-to-device cudaMemcpyAsync reaches on the
// current device: the measured roofline floor's denominator, not a
// datasheet figure. Source and destination of buffer_bytes each (far past
// L2), one untimed copy, then `repetitions` copies timed one by one with
// CUDA events; bytes counted as read + written (2 x buffer_bytes a copy).
struct DramCopyOptions {
  size_t buffer_bytes = size_t{1} << 30;
  int repetitions = 10;
};
struct DramCopyBandwidth {
  size_t buffer_bytes = 0;  // as copied: smaller than asked when free memory is short
  int repetitions = 0;
  double median_s = 0, min_s = 0, max_s = 0;  // per copy
  double bytes_per_s = 0;                     // 2 x buffer_bytes / median_s
};
// Throws std::invalid_argument on options that cannot be measured, and
// std::runtime_error when free memory cannot hold two buffers of 8 x the L2
// size (the smallest copy that still streams from DRAM).
DramCopyBandwidth measure_dram_copy_bandwidth(const DramCopyOptions& o = {});
// Once per sweep, for the suites whose points report a DRAM floor: measures
// it, records it in `peaks` (dram_copy_bytes_per_s, _buffer_bytes,
// _repetitions, _median_s, _min_s, _max_s, _method) and prints one line.
// Returns bytes/s; 0 when it could not be measured (peaks.dram_copy_error
// says why, and the sweep goes on without floors).
double record_dram_copy_bandwidth(json::Value& peaks);

// Per-block (clock64 cycles, globaltimer ns) pairs, as bench_device.cuh's
// record_block_clock writes them: the SM clock the blocks actually ran at.
double measured_sm_clock_mhz(const long long* d_clk, int blocks);

}  // namespace btc
