// GPU tests of the layout-sweep BMM kernels (label: gpu): every engine x
// layout case equals the CPU reference bit for bit on fresh random inputs
// (BTC_TEST_SEED replays a seed), into a poisoned output with a poisoned
// guard zone past its end that must survive the run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/device_info.h"
#include "tests/common/gpu_test.h"
#include "harness/core/code_target.h"
#include "microbench/layout_kernels.h"
#include "formats/pack_cpu.h"
#include "tests/common/test_random.h"

namespace btc {
namespace {

constexpr uint8_t kPoison = 0xA5;
constexpr size_t kGuardBytes = 4096;  // past C: a block writing one tile row too far lands here

class LayoutGpu : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    BTC_SKIP_WITHOUT_GPU();
    c_ = &layout_cases()[static_cast<size_t>(GetParam())];
    if (const std::string why = layout_skip_reason(*c_, code_target(0)); !why.empty())
      GTEST_SKIP() << c_->name() << ": " << why;
  }
  const LayoutCase* c_ = nullptr;
};

TEST_P(LayoutGpu, ProductEqualsCpuReference) {
  const LayoutCase& c = *c_;
  const LayoutProblem p{256, 128 + c.block_n, 3 * kLayoutSlabK};  // several blocks and K slabs
  BTC_SEEDED_RNG(rng);
  const uint32_t seed = seed_rng;
  const int kw = p.k / 32;
  std::vector<uint32_t> a_rows(size_t(p.m) * kw), b_rows(size_t(p.n) * kw);
  for (auto& w : a_rows) w = static_cast<uint32_t>(rng());
  for (auto& w : b_rows) w = static_cast<uint32_t>(rng());
  bits::BitMatrix ra{}, rb{};
  ra.layout = rb.layout = bits::Layout::kRowU32;
  ra.rows = p.m;
  rb.rows = p.n;
  ra.k = rb.k = p.k;
  const auto a = bits::convert(a_rows, ra, layout_a_shape(c, p));
  const auto b = bits::convert(b_rows, rb, layout_b_shape(c, p));

  uint32_t *da = nullptr, *db = nullptr;
  int32_t* dc = nullptr;
  BTC_CUDA_CHECK(cudaMalloc(&da, a.size() * 4));
  BTC_CUDA_CHECK(cudaMalloc(&db, b.size() * 4));
  const size_t c_bytes = size_t(p.m) * p.n * 4;
  BTC_CUDA_CHECK(cudaMalloc(&dc, c_bytes + kGuardBytes));
  BTC_CUDA_CHECK(cudaMemcpy(da, a.data(), a.size() * 4, cudaMemcpyHostToDevice));
  BTC_CUDA_CHECK(cudaMemcpy(db, b.data(), b.size() * 4, cudaMemcpyHostToDevice));
  BTC_CUDA_CHECK(cudaMemset(dc, kPoison, c_bytes + kGuardBytes));  // poison, guard zone included
  launch_layout_bmm(c, p, da, db, dc, nullptr);
  BTC_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<int32_t> got(size_t(p.m) * p.n);
  BTC_CUDA_CHECK(cudaMemcpy(got.data(), dc, got.size() * 4, cudaMemcpyDeviceToHost));
  std::vector<uint8_t> guard(kGuardBytes);
  BTC_CUDA_CHECK(cudaMemcpy(guard.data(), reinterpret_cast<const uint8_t*>(dc) + c_bytes, kGuardBytes,
                            cudaMemcpyDeviceToHost));
  const auto clobbered = std::find_if(guard.begin(), guard.end(), [](uint8_t byte) { return byte != kPoison; });
  EXPECT_EQ(clobbered, guard.end()) << c.name() << " wrote past the end of C, at byte "
                                    << (clobbered - guard.begin()) << " of the guard zone (seed " << seed << ")";
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);

  const bool is_xor = c.engine == "wmma_xor";
  int bad = 0;
  for (int i = 0; i < p.m && bad < 5; ++i)
    for (int j = 0; j < p.n && bad < 5; ++j) {
      int want = 0;
      for (int w = 0; w < kw; ++w) {
        const uint32_t x = a_rows[size_t(i) * kw + w], y = b_rows[size_t(j) * kw + w];
        want += __builtin_popcount(is_xor ? x ^ y : x & y);
      }
      if (got[size_t(i) * p.n + j] != want) {
        ++bad;
        ADD_FAILURE() << c.name() << " seed " << seed << " C(" << i << "," << j << ") got " << got[size_t(i) * p.n + j]
                      << " want " << want;
      }
    }
  EXPECT_EQ(bad, 0);
}

INSTANTIATE_TEST_SUITE_P(AllCases, LayoutGpu, ::testing::Range(0, static_cast<int>(layout_cases().size())),
                         [](const auto& p) {
                           const LayoutCase& c = layout_cases()[static_cast<size_t>(p.param)];
                           return c.engine + "_" + bits::name(c.a);
                         });

}  // namespace
}  // namespace btc
