#include "harness/suites/bmm_suite.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>

#include "harness/core/bench_util.h"
#include "kernels/bmm/bmm.h"
#include "kernels/bmm/bmm_generated.h"
#include "kernels/bmm/bmm_data.h"
#include "harness/core/check.h"
#include "harness/core/metrics.h"

namespace btc {
namespace {

using bmm::Design;
using bmm::Epilogue;
using bmm::Problem;

constexpr int kTimedLaunches = 5;

// The fused output: M x N bits, row-major, as the next layer reads its activations.
bits::BitMatrix tile_bits_shape(const Problem& p) {
  bits::BitMatrix m{};
  m.layout = bits::Layout::kRowU32;
  m.rows = p.m;
  m.k = p.n;
  return m;
}

std::vector<Problem> problems(bool quick) {
  std::vector<Problem> p;
  for (int s : quick ? std::vector<int>{1024, 4096} : std::vector<int>{1024, 2048, 4096, 8192, 16384})
    p.push_back({s, s, s});
  // BNN fully connected layers: batch x 4096 x 4096, and VGG's fc6 (K = 25088).
  for (int batch : quick ? std::vector<int>{1, 256} : std::vector<int>{1, 8, 64, 256, 1024})
    p.push_back({batch, 4096, 4096});
  if (!quick) p.push_back({64, 4096, 25088});
  // One wave of 128x256 tiles on a 132-SM GPU with a long K: per-tile
  // pipeline fill and epilogue amortized away. A (277 MB) streams from DRAM,
  // so this is not the main loop alone: read with the DRAM counters.
  if (!quick) p.push_back({128 * 132, 256, 131072});
  return p;
}

struct BmmState {
  SuiteContext* ctx = nullptr;
  CounterCache counters;
  // Operands per (shape) and outputs per problem, created on first use.
  std::map<std::string, std::unique_ptr<bmm::DeviceBits>> operands;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  int32_t* c = nullptr;
  uint32_t* out_bits = nullptr;
  int32_t* threshold = nullptr;
  size_t c_bytes = 0;
  int threshold_n = 0;
  bool dram_measured = false;

  // Once per sweep, before the first point: the DRAM copy bandwidth the
  // report's memory floors use (btcbench.peaks), measured on this GPU.
  void measure_dram() {
    if (dram_measured) return;
    dram_measured = true;
    record_dram_copy_bandwidth(ctx->peaks);
  }

  const bmm::DeviceBits& operand(const bits::BitMatrix& s, uint64_t seed) {
    const std::string key = fmt::format("{}/{}/{}/{}/{}/{}", bits::name(s.layout), s.rows, s.k, s.box_rows,
                                        s.k_segment, seed);
    auto it = operands.find(key);
    if (it == operands.end()) {
      it = operands.emplace(key, std::make_unique<bmm::DeviceBits>(s, seed)).first;
    }
    return *it->second;
  }
  void reserve(size_t ws, const Problem& p) {
    if (ws > workspace_bytes) {
      cudaFree(workspace);
      BTC_CUDA_CHECK(cudaMalloc(&workspace, ws));
      workspace_bytes = ws;
    }
    const size_t need = static_cast<size_t>(p.m) * p.n * sizeof(int32_t);
    if (need > c_bytes) {
      cudaFree(c);
      cudaFree(out_bits);
      BTC_CUDA_CHECK(cudaMalloc(&c, need));
      BTC_CUDA_CHECK(cudaMalloc(&out_bits, need));  // >= any packed M x N
      c_bytes = need;
    }
    if (p.n > threshold_n) {
      cudaFree(threshold);
      BTC_CUDA_CHECK(cudaMalloc(&threshold, static_cast<size_t>(p.n) * 4));
      BTC_CUDA_CHECK(cudaMemset(threshold, 0, static_cast<size_t>(p.n) * 4));  // bit = sign of the dot
      threshold_n = p.n;
    }
  }
};
BmmState& state() {
  static BmmState s;
  return s;
}

void run_bmm(benchmark::State& st, const Design& d, Problem p, Epilogue e, const std::string& name) {
  BmmState& s = state();
  s.measure_dram();
  if (s.operands.size() > 8) s.operands.clear();  // bound device memory across sizes
  const auto& a = s.operand(d.a_shape(p), 1);
  const auto& b = s.operand(d.b_shape(p), 2);
  s.reserve(d.workspace_bytes(p), p);
  bmm::Operands in{a.words(), b.words(), a.shape(), b.shape()};
  bmm::Output out;
  out.epilogue = e;
  out.c = s.c;
  out.bits = s.out_bits;
  out.bits_shape = tile_bits_shape(p);
  out.threshold = s.threshold;
  d.prepare(p, in, s.workspace, nullptr);
  auto launch = [&] { d.run(p, in, out, s.workspace, nullptr); };
  const double sec = time_launches(st, launch);
  const double ops = 2.0 * p.m * p.n * p.k;
  // Fewest bytes any design must move: each operand once, the output once.
  const double bytes = (double(p.m) + p.n) * p.k / 8 +
                       (e == Epilogue::kInt32 ? double(p.m) * p.n * 4 : double(p.m) * p.n / 8);
  st.counters["tops"] = ops / sec / 1e12;
  st.counters["min_bytes"] = bytes;
  st.counters["gbps_min_bytes"] = bytes / sec / 1e9;
  s.counters.attach(st, s.ctx->profiler, name, launch);
}

void register_bmm(SuiteContext& ctx) {
  state().ctx = &ctx;
  const std::vector<std::string> selected = bmm::selected_designs(ctx.code.code_arch);
  for (const auto& d : bmm::designs()) {
    json::Value f = json::Value::object();
    f.set("family", d->family());
    f.set("tensor_core", d->tensor_core());
    const std::string why = d->skip_reason(ctx.code);
    f.set("status", why.empty() ? "measured" : "skipped");
    if (const bmm::BmmConfig* c = why.empty() ? d->config() : nullptr) {
      // What analysis/select reads back: the variant's fields, never its name.
      f.set("arch", d->config_arch());
      f.set("candidate", d->candidate());
      f.set("selected", std::find(selected.begin(), selected.end(), d->name()) != selected.end());
      f.set("config", bmm_config_json(*c));
    }
    ctx.forms.set(d->name(), std::move(f));
    if (!why.empty()) {
      ctx.skip(d->name(), why);
      continue;
    }
    for (const Problem& p : problems(ctx.options.quick)) {
      for (Epilogue e : {Epilogue::kInt32, Epilogue::kBits}) {
        const char* out_name = e == Epilogue::kInt32 ? "int32" : "bits";
        const std::string config = fmt::format("m:{}/n:{}/k:{}/out:{}", p.m, p.n, p.k, out_name);
        const std::string name = fmt::format("bmm/{}/{}", d->name(), config);
        const Design* dp = d.get();
        configure_manual_time(benchmark::RegisterBenchmark(
                                  name.c_str(), [dp, p, e, name](benchmark::State& st) { run_bmm(st, *dp, p, e, name); }),
                              ctx.options.repetitions, kTimedLaunches);
      }
    }
  }
}

}  // namespace

json::Value bmm_config_json(const bmm::BmmConfig& c) {
  json::Value v = json::Value::object();
  v.set("a_layout", bits::name(c.a_layout));
  v.set("b_layout", bits::name(c.b_layout));
  v.set("block_m", c.block_m);
  v.set("block_n", c.block_n);
  v.set("block_k_bits", c.block_k_bits);
  v.set("stages", c.stages);
  v.set("warps", c.warps);
  v.set("cluster_m", c.cluster_m);
  v.set("cluster_n", c.cluster_n);
  return v;
}

Suite bmm_suite() { return {"bmm", "production BMM designs and baselines over square and fully-connected shapes", default_stride_metrics, register_bmm}; }

}  // namespace btc
