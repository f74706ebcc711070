// GPU tests of the instruction microkernels (label: gpu). Without a GPU each
// test skips and says why.
#include <gtest/gtest.h>

#include <random>

#include "harness/core/check.h"
#include "harness/core/cupti_profiler.h"
#include "harness/core/device_info.h"
#include "tests/common/gpu_test.h"
#include "microbench/instr_kernels.h"

namespace btc {
namespace {

class InstrGpu : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    BTC_SKIP_WITHOUT_GPU();
    device_ = query_device(0);
    const InstrForm& f = *find_instr_form(GetParam());
    if (const std::string why = instr_skip_reason(f, code_target(0)); !why.empty())
      GTEST_SKIP() << f.name << ": " << why;
    kernels_ = instr_kernels(GetParam());
    ASSERT_NE(kernels_, nullptr);
  }
  const InstrForm& form() const { return kernels_->form(); }
  DeviceInfo device_;
  const InstrKernels* kernels_ = nullptr;
};

// A (M x K) * B (N x K)^T over bits, each output popc(a OP b) summed over K:
// the CPU reference for both the XOR and the AND form.
std::vector<int32_t> reference_product(const InstrForm& f, const std::vector<uint32_t>& a,
                                       const std::vector<uint32_t>& b) {
  const int words = f.k / 32;
  const bool is_xor = f.group == Group::kXor;
  std::vector<int32_t> out(static_cast<size_t>(f.m) * f.n);
  for (int i = 0; i < f.m; ++i)
    for (int j = 0; j < f.n; ++j) {
      int32_t s = 0;
      for (int w = 0; w < words; ++w) {
        const uint32_t x = a[i * words + w], y = b[j * words + w];
        s += __builtin_popcount(is_xor ? x ^ y : x & y);
      }
      out[i * f.n + j] = s;
    }
  return out;
}

TEST_P(InstrGpu, TileProductEqualsCpuReference) {
  if (form().dtype != DType::kB1) GTEST_SKIP() << "reference form: only its rate is measured";
  InstrBuffers buf;
  std::random_device rd;
  for (int trial = 0; trial < 4; ++trial) {
    const uint32_t seed = rd();  // fresh inputs every run; printed on failure
    std::mt19937 rng(seed);
    std::vector<uint32_t> a(InstrBuffers::kTileWords), b(InstrBuffers::kTileWords);
    for (auto& w : a) w = static_cast<uint32_t>(rng());
    for (auto& w : b) w = static_cast<uint32_t>(rng());
    if (trial == 1) std::fill(b.begin(), b.end(), 0xFFFFFFFFu);  // AND -> popc(a), XOR -> K - popc(a)
    BTC_CUDA_CHECK(cudaMemcpy(buf.a_tile, a.data(), a.size() * 4, cudaMemcpyHostToDevice));
    BTC_CUDA_CHECK(cudaMemcpy(buf.b_tile, b.data(), b.size() * 4, cudaMemcpyHostToDevice));
    const size_t n_out = static_cast<size_t>(form().m) * form().n;
    BTC_CUDA_CHECK(cudaMemset(buf.out, 0xA5, (n_out + 64) * sizeof(int32_t)));  // poison, and a guard zone
    kernels_->tile_product(buf, nullptr);
    BTC_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<int32_t> got(n_out + 64);
    BTC_CUDA_CHECK(cudaMemcpy(got.data(), buf.out, got.size() * 4, cudaMemcpyDeviceToHost));
    const auto want = reference_product(form(), a, b);
    int bad = 0;
    for (size_t i = 0; i < n_out && bad < 5; ++i)
      if (got[i] != want[i]) {
        ++bad;
        ADD_FAILURE() << form().name << " seed " << seed << " element (" << i / form().n << "," << i % form().n
                      << "): got " << got[i] << " want " << want[i];
      }
    for (size_t i = n_out; i < got.size(); ++i)
      ASSERT_EQ(static_cast<uint32_t>(got[i]), 0xA5A5A5A5u) << "wrote past the tile at " << i;
    ASSERT_EQ(bad, 0);
  }
}

// CUPTI's count of warp-level tensor instructions equals what the kernel
// issues by construction (blocks x warps x iterations x ILP), times the
// form's documented expansion on this arch (emulated XOR on sm_90: 2).
TEST_P(InstrGpu, CuptiCountsEveryTensorInstruction) {
  const cupti::Availability avail = cupti::counter_availability(0);
  if (!avail.available) GTEST_SKIP() << "CUPTI counters unavailable: " << avail.reason;
  const std::string metric = form().tensor_inst_metric();
  const double per_inst = form().tensor_insts_per_inst(device_.sm());
  cupti::RangeProfiler prof(0, {metric});
  InstrBuffers buf;
  TputLaunch l;
  l.blocks = device_.sm_count;
  l.threads_per_block = 256;
  l.ilp = std::min(2, kernels_->max_ilp());
  l.iters = 1000;
  const auto tput = prof.profile("tput", [&] { kernels_->throughput(buf, l, nullptr); });
  const double expected = double(l.blocks) * (l.threads_per_block / 32) * double(l.iters) * l.ilp * per_inst;
  EXPECT_EQ(tput[0], expected) << form().name << " throughput kernel, " << metric;

  const int chain = 1000;
  const auto lat = prof.profile("lat", [&] { kernels_->latency(buf, chain, nullptr); });
  EXPECT_EQ(lat[0], double(chain) * (form().threads_per_issue() / 32) * per_inst) << form().name << " latency kernel";
}

std::vector<std::string> all_form_names() {
  std::vector<std::string> names;
  for (const auto& f : instr_forms()) names.push_back(f.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(AllForms, InstrGpu, ::testing::ValuesIn(all_form_names()),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace btc
