#include "microbench/stride_suite.h"

#include <fmt/format.h>

#include <memory>

#include "harness/core/bench_util.h"
#include "harness/core/check.h"
#include "harness/core/metrics.h"
#include "microbench/stride_kernels.h"

namespace btc {
namespace {

constexpr int kTimedLaunches = 5;
constexpr int kWarpsPerSm = 32;                       // enough loads in flight to expose the memory system
constexpr size_t kMatrixBytes = size_t(256) << 20;   // global runs stream 256 MiB: several times any L2

// Powers of two from one 128-bit tile row to 64K bits, and a few odd
// multiples of 128 (the paper's non-power strides).
const std::vector<int>& ldm_axis(bool quick) {
  static const std::vector<int> full = {128, 256, 384, 512, 640, 1024, 1152, 2048, 4096, 8192, 16384, 32768, 65536};
  static const std::vector<int> fast = {128, 384, 1024, 8192, 65536};
  return quick ? fast : full;
}

struct StrideState {
  SuiteContext* ctx = nullptr;
  std::unique_ptr<StrideBuffers> buffers;
  CounterCache counters;
  ItersCache iters;
  const StrideBuffers& buf() {
    if (!buffers) buffers = std::make_unique<StrideBuffers>(kMatrixBytes);
    return *buffers;
  }
};
StrideState& state() {
  static StrideState s;
  return s;
}

// 2*M*N*K of the MMA each loaded tile feeds (WMMA 8x8x128, mma m16n8k256).
double ops_per_tile(const LoadPath& p) { return 2.0 * p.rows * 8 * p.tile_k_bits; }

void run_stride(benchmark::State& st, const LoadPath& p, StrideMode mode, StrideLaunch l, const std::string& name) {
  const StrideBuffers& buf = state().buf();
  l.iters = state().iters.get(name, [&] {
    return calibrate_iters([&](long long n) {
      StrideLaunch probe = l;
      probe.iters = n;
      launch_stride(p, mode, probe, buf, nullptr);
    });
  });
  auto launch = [&] { launch_stride(p, mode, l, buf, nullptr); };
  const double s_per_launch = time_launches(st, launch);
  const double tiles = static_cast<double>(stride_tile_loads(p, l));
  st.counters["tile_loads"] = tiles;
  st.counters["tile_bytes"] = p.tile_bytes();
  st.counters["useful_gbps"] = tiles * p.tile_bytes() / s_per_launch / 1e9;
  if (mode == StrideMode::kMma) st.counters["tops"] = tiles * ops_per_tile(p) / s_per_launch / 1e12;
  st.counters["sm_clock_mhz"] = measured_sm_clock_mhz(buf.clk(), l.blocks);
  st.counters["iters"] = static_cast<double>(l.iters);
  state().counters.attach(st, state().ctx->profiler, name, launch);
}

json::Value path_json(const LoadPath& p, const std::string& status) {
  json::Value v = json::Value::object();
  v.set("loader", p.loader);
  v.set("space", p.space == MemSpace::kGlobal ? "global" : "shared");
  v.set("rows", p.rows);
  v.set("tile_k_bits", p.tile_k_bits);
  v.set("tile_bytes", p.tile_bytes());
  v.set("min_sm", p.min_sm);
  v.set("status", status);
  return v;
}

void register_stride(SuiteContext& ctx) {
  state().ctx = &ctx;
  const DeviceInfo& d = ctx.device;
  for (const LoadPath& p : load_paths()) {
    const std::string why = arch_skip_reason(ctx.code, p.min_sm, false, p.name);
    ctx.forms.set(p.name, path_json(p, why.empty() ? "measured" : "skipped"));
    if (!why.empty()) {
      ctx.skip(p.name, why);
      continue;
    }
    for (StrideMode mode : {StrideMode::kLoad, StrideMode::kMma}) {
      const char* mode_name = mode == StrideMode::kLoad ? "load" : "mma";
      for (int ldm : ldm_axis(ctx.options.quick)) {
        const std::string config = fmt::format("mode:{}/ldm:{}", mode_name, ldm);
        if (ldm % p.tile_k_bits != 0) {
          ctx.skip(p.name, fmt::format("ldm must be a multiple of the {}-bit tile", p.tile_k_bits), config);
          continue;
        }
        StrideLaunch l;
        l.ldm_bits = ldm;
        l.matrix_bytes = kMatrixBytes;
        if (p.space == MemSpace::kGlobal) {
          l.blocks = d.sm_count * 2;
          l.threads = kWarpsPerSm * 32 / 2;
        } else {
          l.blocks = d.sm_count;
          l.threads = kWarpsPerSm * 32;
          if (stride_smem_bytes(p, ldm) > static_cast<size_t>(d.smem_per_block_optin_bytes)) {
            ctx.skip(p.name, "row band does not fit in shared memory", config);
            continue;
          }
        }
        const std::string name = fmt::format("stride/{}/{}", p.name, config);
        configure_manual_time(
            benchmark::RegisterBenchmark(name.c_str(),
                                         [&p, mode, l, name](benchmark::State& st) { run_stride(st, p, mode, l, name); }),
            ctx.options.repetitions, kTimedLaunches);
      }
    }
  }
}

}  // namespace

Suite stride_suite() { return {"stride", "fragment-load throughput against the matrix row stride, per load path and memory space", default_stride_metrics, register_stride}; }

}  // namespace btc
