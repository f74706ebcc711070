#include "harness/core/bench_util.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/gpu_timer.h"
#include "harness/core/nvml.h"

namespace btc {

benchmark::internal::Benchmark* configure_manual_time(benchmark::internal::Benchmark* b, int repetitions,
                                                      int launches) {
  return b->UseManualTime()
      ->Unit(benchmark::kMicrosecond)
      ->Iterations(launches)
      ->Repetitions(repetitions)
      ->ComputeStatistics("min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); })
      ->ComputeStatistics("max", [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); });
}

void CounterCache::attach(benchmark::State& st, cupti::RangeProfiler* profiler, const std::string& name,
                          const std::function<void()>& launch) {
  if (!profiler) return;
  auto it = values_.find(name);
  if (it == values_.end()) it = values_.emplace(name, profiler->profile(name, launch)).first;
  for (size_t i = 0; i < profiler->metrics().size(); ++i)
    st.counters["cupti." + profiler->metrics()[i]] = benchmark::Counter(it->second[i]);
}

L2Flusher::L2Flusher(long long l2_bytes) {
  if (l2_bytes <= 0) throw std::invalid_argument("L2Flusher: the device reports no L2 size");
  bytes_ = 2 * static_cast<size_t>(l2_bytes);
  BTC_CUDA_CHECK(cudaMalloc(&buf_, bytes_));
}

L2Flusher::~L2Flusher() { cudaFree(buf_); }

void L2Flusher::flush() {
  // Work still running would share L2 with the flush: wait for it first.
  BTC_CUDA_CHECK(cudaDeviceSynchronize());
  BTC_CUDA_CHECK(cudaMemsetAsync(buf_, ++pattern_, bytes_, nullptr));
  BTC_CUDA_CHECK(cudaStreamSynchronize(nullptr));
}

double time_launches(benchmark::State& st, const std::function<void()>& launch, int warmups) {
  for (int i = 0; i < warmups; ++i) launch();
  BTC_CUDA_CHECK(cudaDeviceSynchronize());
  EventTimer timer;
  double total_s = 0;
  for (auto _ : st) {
    const double s = timer.time_seconds(launch);
    st.SetIterationTime(s);
    total_s += s;
  }
  record_gpu_conditions(st);
  return total_s / static_cast<double>(std::max<benchmark::IterationCount>(st.iterations(), 1));
}

namespace {
std::vector<GpuSample>& pending_samples() {
  static std::vector<GpuSample> samples;
  return samples;
}
}  // namespace

void record_gpu_conditions(benchmark::State& st) {
  int device = 0;
  BTC_CUDA_CHECK(cudaGetDevice(&device));
  const GpuSample s = nvml::sample(device);
  if (!s.valid) return;
  if (s.sm_clock_mhz >= 0) st.counters["nvml_sm_clock_mhz"] = s.sm_clock_mhz;
  if (s.power_w >= 0) st.counters["nvml_power_w"] = s.power_w;
  if (s.temp_c >= 0) st.counters["nvml_temp_c"] = s.temp_c;
  pending_samples().push_back(s);
}

std::vector<GpuSample> take_gpu_samples() {
  std::vector<GpuSample> out;
  out.swap(pending_samples());
  return out;
}

long long ItersCache::get(const std::string& name, const std::function<long long()>& calibrate) {
  auto it = iters_.find(name);
  if (it == iters_.end()) it = iters_.emplace(name, calibrate()).first;
  return it->second;
}

long long calibrate_iters(const std::function<void(long long)>& launch, double target_seconds) {
  EventTimer timer;
  long long iters = 64;
  double s = 0;
  for (int tries = 0; tries < 16; ++tries) {
    s = timer.time_seconds([&] { launch(iters); });
    if (s >= target_seconds / 8) break;
    iters *= 8;
  }
  const double scaled = static_cast<double>(iters) * target_seconds / std::max(s, 1e-7);
  return std::clamp(static_cast<long long>(scaled), 16LL, 1LL << 40);
}

namespace {

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Owns what one graph timing creates, so an exception frees it too.
struct GraphParts {
  cudaStream_t stream = nullptr;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  ~GraphParts() {
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    if (stream) cudaStreamDestroy(stream);
  }
};

// Device buffers of one DRAM measurement, freed on every path.
struct DeviceBuffer {
  void* ptr = nullptr;
  ~DeviceBuffer() { cudaFree(ptr); }
};

}  // namespace

int rotation_copies(size_t slot_bytes, long long l2_bytes) {
  if (l2_bytes <= 0 || slot_bytes == 0) return 1;
  const double want = std::ceil(kRotationL2Multiple * static_cast<double>(l2_bytes) / static_cast<double>(slot_bytes));
  return static_cast<int>(std::clamp(want, 1.0, static_cast<double>(kMaxRotationCopies)));
}

bool DeviceArena::reserve(size_t bytes) {
  if (bytes <= bytes_) return true;
  BTC_CUDA_CHECK(cudaFree(ptr_));
  ptr_ = nullptr;
  bytes_ = 0;
  const cudaError_t e = cudaMalloc(&ptr_, bytes);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    ptr_ = nullptr;
    return false;
  }
  BTC_CUDA_CHECK(e);
  bytes_ = bytes;
  return true;
}

GraphTiming time_graph_replays(const std::function<void(int run, cudaStream_t s)>& launch, int runs, int replays) {
  if (runs < 1 || replays < 1)
    throw std::invalid_argument("time_graph_replays: runs and replays must be >= 1 (got " + std::to_string(runs) +
                                ", " + std::to_string(replays) + ")");
  GraphTiming t;
  t.runs = runs;
  GraphParts g;
  BTC_CUDA_CHECK(cudaStreamCreateWithFlags(&g.stream, cudaStreamNonBlocking));
  // Thread-local mode: a forbidden call in launch() fails (and says so)
  // instead of running outside the graph.
  BTC_CUDA_CHECK(cudaStreamBeginCapture(g.stream, cudaStreamCaptureModeThreadLocal));
  try {
    for (int i = 0; i < runs; ++i) launch(i, g.stream);
  } catch (const std::exception& e) {
    t.error = e.what();
  }
  const cudaError_t ended = cudaStreamEndCapture(g.stream, &g.graph);
  if (t.error.empty() && ended != cudaSuccess) t.error = std::string("cudaStreamEndCapture: ") + cudaGetErrorString(ended);
  if (!t.error.empty()) {
    (void)cudaGetLastError();  // the capture's error is not sticky: clear it for the next call
    t.error = "stream capture failed: " + t.error;
    return t;
  }
  BTC_CUDA_CHECK(cudaGraphInstantiate(&g.exec, g.graph, 0));
  BTC_CUDA_CHECK(cudaGraphLaunch(g.exec, g.stream));  // uploads the graph; warms what the first replay touches
  BTC_CUDA_CHECK(cudaStreamSynchronize(g.stream));
  EventTimer timer;
  std::vector<double> seconds;
  for (int r = 0; r < replays; ++r) {
    timer.start(g.stream);
    BTC_CUDA_CHECK(cudaGraphLaunch(g.exec, g.stream));
    seconds.push_back(timer.stop_seconds(g.stream));
  }
  t.seconds_per_run = median_of(seconds) / runs;
  return t;
}

RotatedTiming time_rotated_launches(benchmark::State& st, SlotRotation& rotation, const std::string& name,
                                    int copies, const std::function<void(int slot, cudaStream_t s)>& run_slot,
                                    double ops, double graph_max_ops, bool profiler_on,
                                    const std::function<void(const std::string& why)>& skip_graph) {
  if (rotation.rotating != name) {
    rotation.rotating = name;
    rotation.next = 0;
  }
  RotatedTiming t;
  t.seconds_per_launch = time_launches(st, [&] {
    run_slot(rotation.next, nullptr);
    rotation.next = (rotation.next + 1) % copies;
  });
  st.counters["l2_rotation_copies"] = copies;
  if (ops <= graph_max_ops && profiler_on) {
    if (rotation.graph_skipped.insert(name).second) skip_graph("graph replay timing needs --no-counters (not yet run with counters on)");
  } else if (ops <= graph_max_ops) {
    const int runs = std::max(copies, kGraphMinRuns);
    const GraphTiming g = time_graph_replays([&](int i, cudaStream_t s) { run_slot(i % copies, s); }, runs);
    rotation.next = runs % copies;  // the slot the replays touched longest ago
    if (g.error.empty()) {
      st.counters["graph_time_per_run_us"] = g.seconds_per_run * 1e6;
      st.counters["graph_tops"] = ops / g.seconds_per_run / 1e12;
      st.counters["graph_runs"] = runs;
    } else if (rotation.graph_skipped.insert(name).second) {
      skip_graph("graph replay timing: " + g.error);
    }
  }
  t.last_slot = (rotation.next + copies - 1) % copies;
  return t;
}

DramCopyBandwidth measure_dram_copy_bandwidth(const DramCopyOptions& o) {
  if (o.buffer_bytes == 0 || o.repetitions < 1)
    throw std::invalid_argument("measure_dram_copy_bandwidth: buffer_bytes and repetitions must be positive");
  int device = 0, l2_bytes = 0;
  BTC_CUDA_CHECK(cudaGetDevice(&device));
  BTC_CUDA_CHECK(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device));
  size_t free_bytes = 0, total_bytes = 0;
  BTC_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  // Two buffers in 3/4 of what is free, whole MiB, leaving the rest to the driver and the sweep.
  constexpr size_t kMiB = size_t{1} << 20;
  const size_t fit = free_bytes / 8 * 3 / kMiB * kMiB;
  const size_t bytes = std::min(o.buffer_bytes, fit);
  const size_t min_bytes = 8 * static_cast<size_t>(std::max(l2_bytes, 0));
  if (bytes < std::max(min_bytes, kMiB))
    throw std::runtime_error("measure_dram_copy_bandwidth: " + std::to_string(free_bytes / kMiB) +
                             " MiB free cannot hold two buffers of 8 x the L2 size (" +
                             std::to_string(min_bytes / kMiB) + " MiB each)");
  DeviceBuffer src, dst;
  BTC_CUDA_CHECK(cudaMalloc(&src.ptr, bytes));
  BTC_CUDA_CHECK(cudaMalloc(&dst.ptr, bytes));
  // Both written once, so no copy meets a page the driver maps on first touch.
  BTC_CUDA_CHECK(cudaMemsetAsync(src.ptr, 0x5a, bytes, nullptr));
  BTC_CUDA_CHECK(cudaMemsetAsync(dst.ptr, 0, bytes, nullptr));
  BTC_CUDA_CHECK(cudaMemcpyAsync(dst.ptr, src.ptr, bytes, cudaMemcpyDeviceToDevice, nullptr));
  BTC_CUDA_CHECK(cudaDeviceSynchronize());
  EventTimer timer;
  std::vector<double> seconds;
  for (int r = 0; r < o.repetitions; ++r) {
    timer.start();
    BTC_CUDA_CHECK(cudaMemcpyAsync(dst.ptr, src.ptr, bytes, cudaMemcpyDeviceToDevice, nullptr));
    seconds.push_back(timer.stop_seconds());
  }
  DramCopyBandwidth b;
  b.buffer_bytes = bytes;
  b.repetitions = o.repetitions;
  b.median_s = median_of(seconds);
  b.min_s = *std::min_element(seconds.begin(), seconds.end());
  b.max_s = *std::max_element(seconds.begin(), seconds.end());
  b.bytes_per_s = 2.0 * static_cast<double>(bytes) / b.median_s;
  return b;
}

double measured_sm_clock_mhz(const long long* d_clk, int blocks) {
  std::vector<long long> clk(2 * static_cast<size_t>(blocks));
  BTC_CUDA_CHECK(cudaMemcpy(clk.data(), d_clk, clk.size() * sizeof(long long), cudaMemcpyDeviceToHost));
  double cycles = 0, ns = 0;
  for (int b = 0; b < blocks; ++b) {
    cycles += static_cast<double>(clk[2 * b]);
    ns += static_cast<double>(clk[2 * b + 1]);
  }
  return ns > 0 ? cycles / ns * 1e3 : 0;
}

double record_dram_copy_bandwidth(json::Value& peaks) {
  try {
    const DramCopyBandwidth b = measure_dram_copy_bandwidth();
    peaks.set("dram_copy_bytes_per_s", b.bytes_per_s);
    peaks.set("dram_copy_buffer_bytes", static_cast<int64_t>(b.buffer_bytes));
    peaks.set("dram_copy_repetitions", b.repetitions);
    peaks.set("dram_copy_median_s", b.median_s);
    peaks.set("dram_copy_min_s", b.min_s);
    peaks.set("dram_copy_max_s", b.max_s);
    peaks.set("dram_copy_method",
              "cudaMemcpyAsync device to device between two buffers of dram_copy_buffer_bytes; "
              "bytes read + written (2 x the buffer) over the median copy time");
    std::cout << fmt::format("btcbench: DRAM copy bandwidth {:.1f} GB/s (device-to-device copy of 2 x {} MiB, "
                             "median of {})\n",
                             b.bytes_per_s / 1e9, b.buffer_bytes >> 20, b.repetitions);
    return b.bytes_per_s;
  } catch (const std::exception& e) {
    (void)cudaGetLastError();  // an allocation failure leaves CUDA's last error set
    peaks.set("dram_copy_error", e.what());
    std::cerr << "btcbench: DRAM bandwidth not measured, so no floors: " << e.what() << "\n";
    return 0;
  }
}

}  // namespace btc
