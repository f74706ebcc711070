#include "microbench/layout_suite.h"

#include <fmt/format.h>

#include <map>
#include <memory>
#include <random>

#include "harness/core/bench_util.h"
#include "harness/core/check.h"
#include "microbench/instr_kernels.h"
#include "microbench/layout_kernels.h"
#include "harness/core/metrics.h"
#include "formats/pack_cpu.h"

namespace btc {
namespace {

constexpr int kTimedLaunches = 5;
// Large K keeps the int32 C write (4 bytes per output) well under the compute:
// 2*K = 65536 ops per output element.
constexpr LayoutProblem kProblem{8192, 8192, 32768};
constexpr LayoutProblem kQuickProblem{4096, 4096, 16384};

// Device copies of the same random A and B, packed once per layout.
class PackedOperands {
 public:
  explicit PackedOperands(const LayoutProblem& p) : p_(p) {
    std::mt19937 rng(0x1A70u);
    a_rows_ = random_rows(p.m, rng);
    b_rows_ = random_rows(p.n, rng);
  }
  ~PackedOperands() {
    for (auto& [key, ptr] : device_) cudaFree(ptr);
  }
  const uint32_t* get(bits::Layout l, const bits::BitMatrix& shape, bool is_a) {
    const auto key = std::make_pair(static_cast<int>(l) * 2 + (is_a ? 1 : 0), shape.box_rows);
    auto it = device_.find(key);
    if (it != device_.end()) return it->second;
    const auto packed = bits::convert(is_a ? a_rows_ : b_rows_, row_shape(is_a ? p_.m : p_.n), shape);
    uint32_t* d = nullptr;
    BTC_CUDA_CHECK(cudaMalloc(&d, packed.size() * 4));
    BTC_CUDA_CHECK(cudaMemcpy(d, packed.data(), packed.size() * 4, cudaMemcpyHostToDevice));
    return device_.emplace(key, d).first->second;
  }

 private:
  bits::BitMatrix row_shape(int rows) const {
    bits::BitMatrix m{};
    m.layout = bits::Layout::kRowU32;
    m.rows = rows;
    m.k = p_.k;
    return m;
  }
  std::vector<uint32_t> random_rows(int rows, std::mt19937& rng) const {
    std::vector<uint32_t> v(static_cast<size_t>(rows) * (p_.k / 32));
    for (auto& w : v) w = static_cast<uint32_t>(rng());
    return v;
  }
  LayoutProblem p_;
  std::vector<uint32_t> a_rows_, b_rows_;
  std::map<std::pair<int, int>, uint32_t*> device_;
};

struct LayoutState {
  SuiteContext* ctx = nullptr;
  std::unique_ptr<PackedOperands> operands;
  int32_t* c = nullptr;
  CounterCache counters;
  LayoutProblem problem;
  void ensure() {
    if (!operands) {
      operands = std::make_unique<PackedOperands>(problem);
      BTC_CUDA_CHECK(cudaMalloc(&c, size_t(problem.m) * problem.n * sizeof(int32_t)));
    }
  }
};
LayoutState& state() {
  static LayoutState s;
  return s;
}

void run_layout(benchmark::State& st, const LayoutCase& lc, const std::string& name) {
  LayoutState& s = state();
  s.ensure();
  const LayoutProblem& p = s.problem;
  const uint32_t* a = s.operands->get(lc.a, layout_a_shape(lc, p), true);
  const uint32_t* b = s.operands->get(lc.b, layout_b_shape(lc, p), false);
  auto launch = [&] { launch_layout_bmm(lc, p, a, b, s.c, nullptr); };
  const double sec = time_launches(st, launch);
  const double bytes = layout_bytes_moved(lc, p);
  st.counters["tops"] = 2.0 * p.m * p.n * p.k / sec / 1e12;
  st.counters["bytes_moved"] = bytes;
  st.counters["gbps"] = bytes / sec / 1e9;
  st.counters["m"] = p.m;
  st.counters["n"] = p.n;
  st.counters["k"] = p.k;
  st.counters["block_m"] = lc.block_m;
  st.counters["block_n"] = lc.block_n;
  s.counters.attach(st, s.ctx->profiler, name, launch);
}

void register_layout(SuiteContext& ctx) {
  state().ctx = &ctx;
  state().problem = ctx.options.quick ? kQuickProblem : kProblem;
  for (const LayoutCase& lc : layout_cases()) {
    const std::string why = layout_skip_reason(lc, ctx.code);
    json::Value v = json::Value::object();
    v.set("engine", lc.engine);
    v.set("a_layout", bits::name(lc.a));
    v.set("b_layout", bits::name(lc.b));
    v.set("block_m", lc.block_m);
    v.set("block_n", lc.block_n);
    v.set("slab_k_bits", kLayoutSlabK);
    v.set("status", why.empty() ? "measured" : "skipped");
    const std::string form = lc.engine + "_" + bits::name(lc.a);
    ctx.forms.set(form, std::move(v));
    if (!why.empty()) {
      ctx.skip(form, why);
      continue;
    }
    const std::string name = fmt::format("layout/{}/layout:{}", lc.engine, bits::name(lc.a));
    configure_manual_time(
        benchmark::RegisterBenchmark(name.c_str(), [&lc, name](benchmark::State& st) { run_layout(st, lc, name); }),
        ctx.options.repetitions, kTimedLaunches);
  }
}

}  // namespace

Suite layout_suite() { return {"layout", "a BMM tile loop over each bit-packing layout and instruction engine", default_stride_metrics, register_layout}; }

}  // namespace btc
