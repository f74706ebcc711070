#include "harness/core/bench_util.h"

#include <algorithm>
#include <stdexcept>
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

}  // namespace btc
