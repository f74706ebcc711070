#include "instr_suite.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>

#include "check.h"
#include "gpu_timer.h"
#include "instr_kernels.h"
#include "metrics.h"

namespace btc {
namespace {

constexpr int kLatencyChain = 1024;
constexpr double kTargetLaunchSeconds = 2e-3;  // >> event resolution, short enough to sweep
constexpr int kTimedLaunches = 5;               // per repetition; Google Benchmark averages them
constexpr int kWarmupLaunches = 2;

// Operand tiles hold random bits (random +-1 for s8, +-1.0 for f16): never
// zeros, which hide wrong indexing and can run faster than real data.
void fill_operand_tiles(const InstrBuffers& buf, DType dtype, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint32_t> host(InstrBuffers::kTileWords);
  for (int t = 0; t < 2; ++t) {
    for (auto& w : host) {
      const auto r = static_cast<uint32_t>(rng());
      if (dtype == DType::kS8) {
        w = 0;
        for (int b = 0; b < 4; ++b) w |= ((r >> b) & 1 ? 0x01u : 0xFFu) << (8 * b);
      } else if (dtype == DType::kF16) {
        w = ((r & 1) ? 0x3C00u : 0xBC00u) | (((r & 2) ? 0x3C00u : 0xBC00u) << 16);
      } else {
        w = r;
      }
    }
    BTC_CUDA_CHECK(cudaMemcpy(t == 0 ? buf.a_tile : buf.b_tile, host.data(), host.size() * sizeof(uint32_t),
                              cudaMemcpyHostToDevice));
  }
}

// Process-wide state the benchmark bodies share.
struct InstrState {
  SuiteContext* ctx = nullptr;
  std::unique_ptr<InstrBuffers> buffers;
  std::map<std::string, std::vector<double>> counter_cache;  // counters are read once per benchmark
  std::map<std::string, long long> iters_cache;              // so every repetition runs the same launch
  DType filled_for = DType::kB1;
  bool filled = false;

  const InstrBuffers& buffers_for(DType dtype) {
    if (!buffers) buffers = std::make_unique<InstrBuffers>();
    if (!filled || filled_for != dtype) {
      fill_operand_tiles(*buffers, dtype, 0xB17C0DE + static_cast<uint32_t>(dtype));
      filled = true;
      filled_for = dtype;
    }
    return *buffers;
  }
};
InstrState& state() {
  static InstrState s;
  return s;
}

// CUPTI values from one separate, untimed launch (replayed per pass),
// attached as `cupti.<metric>` counters.
void attach_counters(benchmark::State& st, const std::string& name, const std::function<void()>& launch) {
  auto* prof = state().ctx->profiler;
  if (!prof) return;
  auto& cache = state().counter_cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, prof->profile(name, launch)).first;
  for (size_t i = 0; i < prof->metrics().size(); ++i)
    st.counters["cupti." + prof->metrics()[i]] = benchmark::Counter(it->second[i]);
}

// Grows the loop count until one launch takes ~kTargetLaunchSeconds, so every
// form (including slow emulated ones) is timed over milliseconds.
long long calibrate_iters(const std::function<void(long long)>& launch) {
  EventTimer timer;
  long long iters = 64;
  double s = 0;
  for (int tries = 0; tries < 16; ++tries) {
    s = timer.time_seconds([&] { launch(iters); });
    if (s >= kTargetLaunchSeconds / 8) break;
    iters *= 8;
  }
  const double scaled = static_cast<double>(iters) * kTargetLaunchSeconds / std::max(s, 1e-7);
  return std::clamp(static_cast<long long>(scaled), 16LL, 1LL << 40);
}

double measured_sm_clock_mhz(const InstrBuffers& buf, int blocks) {
  std::vector<long long> clk(2 * static_cast<size_t>(blocks));
  BTC_CUDA_CHECK(cudaMemcpy(clk.data(), buf.clk, clk.size() * sizeof(long long), cudaMemcpyDeviceToHost));
  double cycles = 0, ns = 0;
  for (int b = 0; b < blocks; ++b) {
    cycles += static_cast<double>(clk[2 * b]);
    ns += static_cast<double>(clk[2 * b + 1]);
  }
  return ns > 0 ? cycles / ns * 1e3 : 0;
}

// insts_issued: warp-level PTX instructions by construction; insts_expected:
// the tensor-pipe instructions CUPTI should count (emulated forms issue more).
void set_inst_counts(benchmark::State& st, const InstrForm& f, double issued) {
  st.counters["insts_issued"] = issued;
  st.counters["insts_expected"] = issued * f.tensor_insts_per_inst(state().ctx->device.sm());
}

void run_throughput(benchmark::State& st, const InstrKernels& k, TputLaunch l, const std::string& name) {
  const InstrForm& f = k.form();
  const DeviceInfo& dev = state().ctx->device;
  const InstrBuffers& buf = state().buffers_for(f.dtype);
  auto cached = state().iters_cache.find(name);
  if (cached == state().iters_cache.end()) {
    const long long iters = calibrate_iters([&](long long n) {
      TputLaunch probe = l;
      probe.iters = n;
      k.throughput(buf, probe, nullptr);
    });
    cached = state().iters_cache.emplace(name, iters).first;
  }
  l.iters = cached->second;
  auto launch = [&] { k.throughput(buf, l, nullptr); };
  for (int i = 0; i < kWarmupLaunches; ++i) launch();
  BTC_CUDA_CHECK(cudaDeviceSynchronize());

  EventTimer timer;
  double total_s = 0;
  for (auto _ : st) {
    const double s = timer.time_seconds(launch);
    st.SetIterationTime(s);
    total_s += s;
  }
  const double clock_mhz = measured_sm_clock_mhz(buf, l.blocks);
  const double issue_units = static_cast<double>(l.blocks) * (l.threads_per_block / f.threads_per_issue());
  const double ops_per_launch = issue_units * static_cast<double>(l.iters) * l.ilp * static_cast<double>(f.ops_per_inst());
  const double s_per_launch = total_s / static_cast<double>(st.iterations());
  const double ops_per_clk_per_sm = ops_per_launch / (s_per_launch * clock_mhz * 1e6) / dev.sm_count;
  const PeakRate peak = peak_rate(f.dtype, dev.sm());
  st.counters["tops"] = ops_per_launch / s_per_launch / 1e12;
  st.counters["ops_per_clk_per_sm"] = ops_per_clk_per_sm;
  st.counters["pct_peak"] = 100.0 * ops_per_clk_per_sm / peak.ops_per_clk_per_sm;
  st.counters["sm_clock_mhz"] = clock_mhz;
  st.counters["iters"] = static_cast<double>(l.iters);
  // Warp-level tensor instructions: every warp issues each one (4 per wgmma).
  set_inst_counts(st, f, static_cast<double>(l.blocks) * (l.threads_per_block / 32) * static_cast<double>(l.iters) * l.ilp);
  attach_counters(st, name, launch);
}

void run_latency(benchmark::State& st, const InstrKernels& k, const std::string& name) {
  const InstrForm& f = k.form();
  const InstrBuffers& buf = state().buffers_for(f.dtype);
  auto launch = [&] { k.latency(buf, kLatencyChain, nullptr); };
  for (int i = 0; i < kWarmupLaunches; ++i) launch();
  BTC_CUDA_CHECK(cudaDeviceSynchronize());
  EventTimer timer;
  long long cycles = 0;
  for (auto _ : st) {
    st.SetIterationTime(timer.time_seconds(launch));
    BTC_CUDA_CHECK(cudaMemcpy(&cycles, buf.cycles, sizeof cycles, cudaMemcpyDeviceToHost));
  }
  st.counters["cycles_per_inst"] = static_cast<double>(cycles) / kLatencyChain;
  set_inst_counts(st, f, static_cast<double>(kLatencyChain) * (f.threads_per_issue() / 32));
  attach_counters(st, name, launch);
}

benchmark::internal::Benchmark* configure(benchmark::internal::Benchmark* b, const SuiteContext& ctx, int launches) {
  return b->UseManualTime()
      ->Unit(benchmark::kMicrosecond)
      ->Iterations(launches)
      ->Repetitions(ctx.options.repetitions)
      ->ComputeStatistics("min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); })
      ->ComputeStatistics("max", [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); });
}

json::Value form_json(const InstrForm& f, const std::string& status) {
  json::Value v = json::Value::object();
  v.set("ptx", f.ptx);
  v.set("group", to_string(f.group));
  v.set("dtype", to_string(f.dtype));
  v.set("m", f.m);
  v.set("n", f.n);
  v.set("k", f.k);
  v.set("ops_per_inst", static_cast<int64_t>(f.ops_per_inst()));
  v.set("a_source", to_string(f.a_source));
  v.set("threads_per_issue", f.threads_per_issue());
  v.set("tensor_inst_metric", f.tensor_inst_metric());
  v.set("min_sm", f.min_sm);
  v.set("needs_sm90a", f.needs_sm90a);
  v.set("status", status);
  return v;
}

void register_instr(SuiteContext& ctx) {
  state().ctx = &ctx;
  const int sm = ctx.device.sm();
  const bool has_90a = binary_has_sm90a();
  for (DType d : {DType::kB1, DType::kS8, DType::kF16}) {
    const PeakRate p = peak_rate(d, sm);
    json::Value pv = json::Value::object();
    pv.set("ops_per_clk_per_sm", p.ops_per_clk_per_sm);
    pv.set("source", p.source);
    ctx.peaks.set(to_string(d), std::move(pv));
  }
  const bool quick = ctx.options.quick;
  for (const InstrForm& f : instr_forms()) {
    const std::string why = instr_skip_reason(f, sm, has_90a);
    ctx.forms.set(f.name, form_json(f, why.empty() ? "measured" : "skipped"));
    if (!why.empty()) {
      ctx.skip(f.name, why);
      continue;
    }
    const InstrKernels* k = instr_kernels(f.name);
    const std::string lat = fmt::format("lat/{}", f.name);
    configure(benchmark::RegisterBenchmark(lat.c_str(), [k, lat](benchmark::State& st) { run_latency(st, *k, lat); }),
              ctx, 3);

    const bool wg = f.threads_per_issue() == 128;
    std::vector<int> wps_axis = wg ? (quick ? std::vector<int>{4, 8} : std::vector<int>{4, 8, 12, 16})
                                   : (quick ? std::vector<int>{8, 32} : std::vector<int>{4, 8, 16, 32});
    std::vector<int> ilp_axis = quick ? std::vector<int>{1, 4} : std::vector<int>{1, 2, 4, 8};
    for (int wps : wps_axis) {
      for (int ilp : ilp_axis) {
        const std::string config = fmt::format("wps:{}/ilp:{}", wps, ilp);
        if (ilp > k->max_ilp()) continue;  // not built: would spill (see kMaxIlp)
        TputLaunch l;
        l.threads_per_block = wps * 32;
        l.ilp = ilp;
        l.blocks = ctx.device.sm_count;  // one block of `wps` warps per SM
        if (k->max_blocks_per_sm(l.threads_per_block, ilp) < 1) {
          ctx.skip(f.name, "does not fit on one SM (registers / shared memory)", config);
          continue;
        }
        const std::string name = fmt::format("tput/{}/{}", f.name, config);
        configure(benchmark::RegisterBenchmark(name.c_str(),
                                               [k, l, name](benchmark::State& st) { run_throughput(st, *k, l, name); }),
                  ctx, kTimedLaunches);
      }
    }
  }
}

}  // namespace

Suite instr_suite() {
  Suite s;
  s.name = "instr";
  s.description = "latency and throughput of every b1 tensor-core instruction form";
  s.default_metrics = [](const std::string& chip) { return default_instr_metrics(chip); };
  s.register_benchmarks = register_instr;
  return s;
}

}  // namespace btc
