#include "microbench/instr_suite.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>

#include "harness/core/bench_util.h"
#include "harness/core/check.h"
#include "microbench/instr_kernels.h"
#include "harness/core/metrics.h"

namespace btc {
namespace {

constexpr int kLatencyChain = 1024;
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
  CounterCache counters;
  ItersCache iters;
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
  l.iters = state().iters.get(name, [&] {
    return calibrate_iters([&](long long n) {
      TputLaunch probe = l;
      probe.iters = n;
      k.throughput(buf, probe, nullptr);
    });
  });
  auto launch = [&] { k.throughput(buf, l, nullptr); };
  const double s_per_launch = time_launches(st, launch, kWarmupLaunches);
  const double clock_mhz = measured_sm_clock_mhz(buf.clk, l.blocks);
  const double issue_units = static_cast<double>(l.blocks) * (l.threads_per_block / f.threads_per_issue());
  const double ops_per_launch = issue_units * static_cast<double>(l.iters) * l.ilp * static_cast<double>(f.ops_per_inst());
  const double ops_per_clk_per_sm = ops_per_launch / (s_per_launch * clock_mhz * 1e6) / dev.sm_count;
  const PeakRate peak = peak_rate(f.dtype, dev.sm());
  st.counters["tops"] = ops_per_launch / s_per_launch / 1e12;
  st.counters["ops_per_clk_per_sm"] = ops_per_clk_per_sm;
  st.counters["pct_peak"] = 100.0 * ops_per_clk_per_sm / peak.ops_per_clk_per_sm;
  st.counters["sm_clock_mhz"] = clock_mhz;
  st.counters["iters"] = static_cast<double>(l.iters);
  // Warp-level tensor instructions: every warp issues each one (4 per wgmma).
  set_inst_counts(st, f, static_cast<double>(l.blocks) * (l.threads_per_block / 32) * static_cast<double>(l.iters) * l.ilp);
  state().counters.attach(st, state().ctx->profiler, name, launch);
}

void run_latency(benchmark::State& st, const InstrKernels& k, const std::string& name) {
  const InstrForm& f = k.form();
  const InstrBuffers& buf = state().buffers_for(f.dtype);
  auto launch = [&] { k.latency(buf, kLatencyChain, nullptr); };
  time_launches(st, launch, kWarmupLaunches);
  long long cycles = 0;  // of the last launch: the chain is deterministic
  BTC_CUDA_CHECK(cudaMemcpy(&cycles, buf.cycles, sizeof cycles, cudaMemcpyDeviceToHost));
  st.counters["cycles_per_inst"] = static_cast<double>(cycles) / kLatencyChain;
  set_inst_counts(st, f, static_cast<double>(kLatencyChain) * (f.threads_per_issue() / 32));
  state().counters.attach(st, state().ctx->profiler, name, launch);
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
  for (DType d : {DType::kB1, DType::kS8, DType::kF16}) {
    const PeakRate p = peak_rate(d, sm);
    json::Value pv = json::Value::object();
    pv.set("ops_per_clk_per_sm", p.ops_per_clk_per_sm);
    pv.set("source", p.source);
    ctx.peaks.set(to_string(d), std::move(pv));
  }
  const bool quick = ctx.options.quick;
  for (const InstrForm& f : instr_forms()) {
    const std::string why = instr_skip_reason(f, ctx.code);
    ctx.forms.set(f.name, form_json(f, why.empty() ? "measured" : "skipped"));
    if (!why.empty()) {
      ctx.skip(f.name, why);
      continue;
    }
    const InstrKernels* k = instr_kernels(f.name);
    const std::string lat = fmt::format("lat/{}", f.name);
    configure_manual_time(
        benchmark::RegisterBenchmark(lat.c_str(), [k, lat](benchmark::State& st) { run_latency(st, *k, lat); }),
        ctx.options.repetitions, 3);

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
        configure_manual_time(benchmark::RegisterBenchmark(
                                  name.c_str(), [k, l, name](benchmark::State& st) { run_throughput(st, *k, l, name); }),
                              ctx.options.repetitions, kTimedLaunches);
      }
    }
  }
}

}  // namespace

Suite instr_suite() { return {"instr", "latency and throughput of every b1 tensor-core instruction form", default_instr_metrics, register_instr}; }

}  // namespace btc
