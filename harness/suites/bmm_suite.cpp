#include "harness/suites/bmm_suite.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>

#include "harness/core/bench_util.h"
#include "harness/suites/bmm_network_shapes.h"
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
// Problems of at most this many ops also get CUDA-graph replay timing (the
// kernel time without the host's launch gap): every fully connected shape,
// 1024 x 4096 x 4096 (34 G ops, ~16 us on the H200) included.
constexpr double kGraphMaxOps = 4e10;
constexpr uint64_t kSeedA = 1, kSeedB = 2;

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
  // Every shipped network's binary fc at batch 1 and at its model's batch:
  // the shapes the runner looks up in the per-shape selection (N, K exact).
  if (!quick)
    for (const bmm_sweep::NetworkFc& fc : bmm_sweep::kNetworkFcs)
      for (int batch : {1, fc.batch}) {
        const Problem q{batch, fc.n, fc.k};
        if (std::none_of(p.begin(), p.end(), [&](const Problem& x) { return x.m == q.m && x.n == q.n && x.k == q.k; }))
          p.push_back(q);
      }
  // One wave of 128x256 tiles on a 132-SM GPU with a long K: per-tile
  // pipeline fill and epilogue amortized away. A (277 MB) streams from DRAM,
  // so this is not the main loop alone: read with the DRAM counters.
  if (!quick) p.push_back({128 * 132, 256, 131072});
  return p;
}

// Where one copy ("slot") of a problem's buffers lies. Inputs (A, B and the
// design's workspace, which prepare() fills from them) sit in one arena and
// the output in another, so the int32 and bits runs share the prepared
// inputs. The launches rotate through the slots (rotation_copies): at batch
// <= 64 a 4096 x 4096 layer's B (2 MiB) would otherwise stay in the 60 MiB
// L2 between launches, and its time would be L2's, not the weight stream the
// memory floor counts.
struct SlotLayout {
  bits::BitMatrix a, b;
  size_t a_bytes = 0, b_bytes = 0, ws_bytes = 0;
  size_t b_offset = 0, ws_offset = 0, in_slot = 0;
  size_t int32_out = 0, bits_out = 0;

  SlotLayout(const Design& d, const Problem& p)
      : a(d.a_shape(p)), b(d.b_shape(p)),
        a_bytes(static_cast<size_t>(a.bytes())), b_bytes(static_cast<size_t>(b.bytes())),
        ws_bytes(d.workspace_bytes(p)),
        int32_out(static_cast<size_t>(p.m) * p.n * sizeof(int32_t)),
        bits_out(static_cast<size_t>(tile_bits_shape(p).bytes())) {
    b_offset = align_up(a_bytes);
    ws_offset = b_offset + align_up(b_bytes);
    in_slot = ws_offset + align_up(ws_bytes);
  }
  size_t out_slot(Epilogue e) const { return align_up(e == Epilogue::kInt32 ? int32_out : bits_out); }
};

struct BmmState {
  SuiteContext* ctx = nullptr;
  CounterCache counters;
  DeviceArena inputs, outputs;
  std::string prepared;  // "<design>/<problem>" whose inputs the slots hold, prepared
  int prepared_copies = 0;
  int32_t* threshold = nullptr;
  int threshold_n = 0;
  SlotRotation rotation;  // continues across a benchmark's repetitions
  bool dram_measured = false;

  // Once per sweep, before the first point: the DRAM copy bandwidth the
  // report's memory floors use (btcbench.peaks), measured on this GPU.
  void measure_dram() {
    if (dram_measured) return;
    dram_measured = true;
    record_dram_copy_bandwidth(ctx->peaks);
  }

  bmm::Operands operands(const SlotLayout& l, int slot) const {
    const char* base = inputs.at(static_cast<size_t>(slot) * l.in_slot);
    return {reinterpret_cast<const uint32_t*>(base), reinterpret_cast<const uint32_t*>(base + l.b_offset), l.a, l.b};
  }
  void* workspace(const SlotLayout& l, int slot) const {
    return inputs.at(static_cast<size_t>(slot) * l.in_slot + l.ws_offset);
  }

  // Seeded random A and B (generated on the GPU once), copied into `copies`
  // slots, each slot's workspace prepared from its own copy. "" or why not.
  std::string prepare_inputs(const Design& d, const Problem& p, const SlotLayout& l, int copies,
                             const std::string& key) {
    if (prepared == key && prepared_copies >= copies) return "";
    prepared.clear();
    if (!inputs.reserve(static_cast<size_t>(copies) * l.in_slot))
      return fmt::format("out of device memory for {} x {} B of inputs", copies, l.in_slot);
    {
      const bmm::DeviceBits a(l.a, kSeedA), b(l.b, kSeedB);
      for (int i = 0; i < copies; ++i) {
        char* base = inputs.at(static_cast<size_t>(i) * l.in_slot);
        BTC_CUDA_CHECK(cudaMemcpy(base, a.words(), l.a_bytes, cudaMemcpyDeviceToDevice));
        BTC_CUDA_CHECK(cudaMemcpy(base + l.b_offset, b.words(), l.b_bytes, cudaMemcpyDeviceToDevice));
      }
    }
    for (int i = 0; i < copies; ++i) d.prepare(p, operands(l, i), workspace(l, i), nullptr);
    BTC_CUDA_CHECK(cudaDeviceSynchronize());
    prepared = key;
    prepared_copies = copies;
    return "";
  }
  void set_thresholds(int n) {
    if (n <= threshold_n) return;
    cudaFree(threshold);
    BTC_CUDA_CHECK(cudaMalloc(&threshold, static_cast<size_t>(n) * 4));
    BTC_CUDA_CHECK(cudaMemset(threshold, 0, static_cast<size_t>(n) * 4));  // bit = sign of the dot
    threshold_n = n;
  }
};
BmmState& state() {
  static BmmState s;
  return s;
}

void run_bmm(benchmark::State& st, const Design& d, Problem p, Epilogue e, const std::string& name,
             const std::string& problem_key) {
  BmmState& s = state();
  s.measure_dram();
  const SlotLayout l(d, p);
  const long long l2 = s.ctx->device.l2_bytes;
  const int copies = rotation_copies(l.in_slot + l.out_slot(e), l2);
  // The bits run, with the smaller output, rotates through more copies: prepare those for both.
  const int in_copies = std::max(rotation_copies(l.in_slot + l.out_slot(Epilogue::kBits), l2),
                                 rotation_copies(l.in_slot + l.out_slot(Epilogue::kInt32), l2));
  try {
    if (std::string why = s.prepare_inputs(d, p, l, in_copies, d.name() + "/" + problem_key); !why.empty()) {
      st.SkipWithError(why.c_str());
      return;
    }
  } catch (const std::invalid_argument& ex) {  // the design refuses the problem
    st.SkipWithError(ex.what());
    return;
  }
  if (!s.outputs.reserve(static_cast<size_t>(copies) * l.out_slot(e))) {
    st.SkipWithError(fmt::format("out of device memory for {} x {} B of output", copies, l.out_slot(e)).c_str());
    return;
  }
  s.set_thresholds(p.n);
  auto run_slot = [&](int slot, cudaStream_t stream) {
    bmm::Output out;
    out.epilogue = e;
    char* o = s.outputs.at(static_cast<size_t>(slot) * l.out_slot(e));
    out.c = reinterpret_cast<int32_t*>(o);
    out.bits = reinterpret_cast<uint32_t*>(o);
    out.bits_shape = tile_bits_shape(p);
    out.threshold = s.threshold;
    d.run(p, s.operands(l, slot), out, s.workspace(l, slot), stream);
  };
  const double ops = 2.0 * p.m * p.n * p.k;
  const RotatedTiming t =
      time_rotated_launches(st, s.rotation, name, copies, run_slot, ops, kGraphMaxOps, s.ctx->profiler != nullptr,
                            [&](const std::string& why) { s.ctx->skip(d.name(), why, problem_key + "/graph"); });
  const double sec = t.seconds_per_launch;
  // Fewest bytes any design must move: each operand once, the output once.
  const double bytes = (double(p.m) + p.n) * p.k / 8 +
                       (e == Epilogue::kInt32 ? double(p.m) * p.n * 4 : double(p.m) * p.n / 8);
  st.counters["tops"] = ops / sec / 1e12;
  st.counters["min_bytes"] = bytes;
  st.counters["gbps_min_bytes"] = bytes / sec / 1e9;
  const int counter_slot = t.last_slot;
  s.counters.attach(st, s.ctx->profiler, name, [&] { run_slot(counter_slot, nullptr); });
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
        const std::string problem_key = fmt::format("m:{}/n:{}/k:{}", p.m, p.n, p.k);
        const std::string name = fmt::format("bmm/{}/{}/out:{}", d->name(), problem_key, out_name);
        const Design* dp = d.get();
        configure_manual_time(benchmark::RegisterBenchmark(name.c_str(),
                                                           [dp, p, e, name, problem_key](benchmark::State& st) {
                                                             run_bmm(st, *dp, p, e, name, problem_key);
                                                           }),
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
