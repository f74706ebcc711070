// CUPTI's count of tensor-pipe instructions equals what each production
// design's tiling implies (Design::tensor_insts: grid x warp tiles x K
// steps, XOR doubled on sm_90), for every BMM and BConv design on odd sizes
// and both outputs: a design that skips a K step, recomputes a tile or
// issues a stray MMA fails here even when its output is right. The imma,
// hmma and (GH100) gmma counters are each checked, so a b1 design that
// issues on another pipe fails too. Designs whose kernels a library picks
// (cuBLAS, cuDNN) imply no count and skip, saying so. The instruction forms
// have theirs in test_instr_gpu.cpp. Label: gpu.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "formats/pack_cpu.h"
#include "harness/core/check.h"
#include "harness/core/code_target.h"
#include "harness/core/cupti_profiler.h"
#include "harness/core/device_info.h"
#include "kernels/bconv/bconv.h"
#include "kernels/bmm/bmm.h"
#include "tests/common/device_buffer.h"
#include "tests/common/gpu_test.h"
#include "tests/common/operands.h"
#include "tests/common/test_random.h"

namespace btc {
namespace {

using test::DeviceBuffer;

constexpr const char* kImma = "sm__inst_executed_pipe_tensor_op_imma.sum";
constexpr const char* kHmma = "sm__inst_executed_pipe_tensor_op_hmma.sum";
constexpr const char* kGmma = "sm__inst_executed_pipe_tensor_op_gmma.sum";

// The tensor-pipe counters of this chip: imma and hmma, plus gmma where it exists.
struct Counters {
  std::vector<std::string> metrics;
  bool has_gmma = false;
  static Counters of_device() {
    Counters c;
    c.has_gmma = cupti::invalid_metrics(cupti::chip_name(0), {kGmma}).empty();
    c.metrics = {kImma, kHmma};
    if (c.has_gmma) c.metrics.push_back(kGmma);
    return c;
  }
  // got: profile()'s values, in `metrics` order.
  void expect(const bmm::TensorInsts& want, const std::vector<double>& got, const std::string& what) const {
    EXPECT_EQ(got[0], want.imma) << what << ": " << kImma;
    EXPECT_EQ(got[1], 0.0) << what << ": " << kHmma << " (b1 designs issue no fp16 MMA)";
    if (has_gmma) EXPECT_EQ(got[2], want.gmma) << what << ": " << kGmma;
    else EXPECT_EQ(want.gmma, 0.0) << what << ": expects wgmma on a chip without it";
  }
};

// One profiler over this chip's counters, and the check of run() for each
// output kind against the count the tiling implies.
struct CountSession {
  Counters counters = Counters::of_device();
  cupti::RangeProfiler prof{0, counters.metrics};
  template <class RunFn>
  void expect_each_output(const bmm::TensorInsts& want, const std::string& what, const bmm::Output& int32_out,
                          const bmm::Output& bits_out, RunFn&& run) {
    for (const bmm::Output* out : {&int32_out, &bits_out}) {
      const std::string name = what + (out == &int32_out ? " int32" : " bits");
      counters.expect(want, prof.profile(name, [&] { run(*out); }), name);
    }
  }
};

// Skips (with the reason) when counters or the GPU are unavailable.
#define BTC_SKIP_WITHOUT_COUNTERS()                                                                   \
  BTC_SKIP_WITHOUT_GPU();                                                                             \
  do {                                                                                                \
    const cupti::Availability avail_ = cupti::counter_availability(0);                              \
    if (!avail_.available) GTEST_SKIP() << "CUPTI counters unavailable: " << avail_.reason;           \
  } while (false)

template <class Registry>
std::string design_param_name(const Registry& designs, int i) {
  std::string n = designs[static_cast<size_t>(i)]->name();
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

using test::random_packed;

// A fused-bits output in `shape` with thresholds of 0 (their values do not
// change the MMAs), on the device.
struct BitsOutput {
  DeviceBuffer thr, bits;
  bmm::Output out;
  BitsOutput(int cols, const bits::BitMatrix& shape)
      : thr(static_cast<size_t>(cols) * 4), bits(static_cast<size_t>(shape.words()) * 4) {
    const std::vector<int32_t> zeros(static_cast<size_t>(cols), 0);
    thr.upload(zeros.data(), zeros.size() * 4);
    bits.poison();
    out.epilogue = bmm::Epilogue::kBits;
    out.bits_shape = shape;
    out.bits = bits.as<uint32_t>();
    out.threshold = thr.as<int32_t>();
  }
};

bits::BitMatrix row_u32_shape(int rows, int k) {
  bits::BitMatrix s;
  s.layout = bits::Layout::kRowU32;
  s.rows = rows;
  s.k = k;
  bits::check_shape(s);
  return s;
}

// ---- BMM ----------------------------------------------------------------

class BmmTensorCounts : public ::testing::TestWithParam<int> {};

TEST_P(BmmTensorCounts, CuptiCountEqualsTiling) {
  BTC_SKIP_WITHOUT_COUNTERS();
  const bmm::Design& d = *bmm::designs()[static_cast<size_t>(GetParam())];
  const CodeTarget code = code_target(0);
  if (const std::string why = d.skip_reason(code); !why.empty()) GTEST_SKIP() << d.name() << ": " << why;
  const int sm = code.device_sm;
  // Odd M, N, K (partial blocks and K steps), one M of 1, and more tiles
  // than SMs (the persistent wgmma walk wraps).
  const std::vector<bmm::Problem> problems = {{65, 31, 97}, {1, 512, 384}, {1000, 777, 1234}, {2200, 4500, 3000}};
  if (!d.tensor_insts(problems[0], sm)) GTEST_SKIP() << d.name() << ": a library picks its kernels; no count is implied";
  CountSession session;
  BTC_SEEDED_RNG(rng);
  int ran = 0;
  for (const bmm::Problem& p : problems) {
    const std::string dims = std::to_string(p.m) + "x" + std::to_string(p.n) + "x" + std::to_string(p.k);
    bmm::Operands in;
    try {
      in.a_shape = d.a_shape(p);
      in.b_shape = d.b_shape(p);
    } catch (const std::invalid_argument&) {
      continue;  // a shape it cannot run (the bit-exact test reports which)
    }
    const auto a = random_packed(rng, in.a_shape), b = random_packed(rng, in.b_shape);
    DeviceBuffer da(a.size() * 4), db(b.size() * 4), ws(d.workspace_bytes(p) + 4);
    da.upload(a.data(), a.size() * 4);
    db.upload(b.data(), b.size() * 4);
    in.a = da.as<uint32_t>();
    in.b = db.as<uint32_t>();
    DeviceBuffer c(static_cast<size_t>(p.m) * p.n * 4);
    bmm::Output int32_out;
    int32_out.c = c.as<int32_t>();
    BitsOutput bits_out(p.n, row_u32_shape(p.m, p.n));
    try {
      d.prepare(p, in, ws.as<void>(), nullptr);
      BTC_CUDA_CHECK(cudaDeviceSynchronize());
      session.expect_each_output(*d.tensor_insts(p, sm), d.name() + " " + dims, int32_out, bits_out.out,
                                 [&](const bmm::Output& out) { d.run(p, in, out, ws.as<void>(), nullptr); });
      ++ran;
    } catch (const std::invalid_argument&) {
      if (HasFailure()) throw;
    }
  }
  EXPECT_GT(ran, 0) << d.name() << " ran none of the sizes";
}

INSTANTIATE_TEST_SUITE_P(AllDesigns, BmmTensorCounts, ::testing::Range(0, static_cast<int>(bmm::designs().size())),
                         [](const ::testing::TestParamInfo<int>& i) { return design_param_name(bmm::designs(), i.param); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(BmmTensorCounts);

// ---- BConv --------------------------------------------------------------

using test::bconv_layer;

class BconvTensorCounts : public ::testing::TestWithParam<int> {};

TEST_P(BconvTensorCounts, CuptiCountEqualsTiling) {
  BTC_SKIP_WITHOUT_COUNTERS();
  const bconv::Design& d = *bconv::designs()[static_cast<size_t>(GetParam())];
  const CodeTarget code = code_target(0);
  if (const std::string why = d.skip_reason(code); !why.empty()) GTEST_SKIP() << d.name() << ": " << why;
  const int sm = code.device_sm;
  // Odd C words, K past a block, stride 2, a 5x5 with +1 padding, a 1x1
  // downsample, and a ResNet stage-1 layer of many pixel blocks and slabs.
  const std::vector<bconv::Problem> layers = {
      bconv_layer(2, 7, 9, 64, 40, 3, 1, 1),    bconv_layer(1, 13, 11, 96, 70, 3, 2, 1),
      bconv_layer(3, 8, 8, 33, 64, 5, 1, 2, bconv::PadValue::kPlusOne), bconv_layer(2, 10, 10, 128, 130, 1, 2, 0),
      bconv_layer(8, 14, 14, 256, 256, 3, 1, 1)};
  if (!d.tensor_insts(layers[0], sm)) GTEST_SKIP() << d.name() << ": a library picks its kernels; no count is implied";
  CountSession session;
  BTC_SEEDED_RNG(rng);
  int ran = 0;
  for (const bconv::Problem& p : layers) {
    if (!d.unsupported(p).empty()) continue;
    const std::string what = d.name() + " n" + std::to_string(p.n) + " " + std::to_string(p.h) + "x" +
                              std::to_string(p.w) + "x" + std::to_string(p.c) + " k" + std::to_string(p.k) + " " +
                              std::to_string(p.r) + "x" + std::to_string(p.s) + " s" + std::to_string(p.stride);
    const auto x = random_packed(rng, bconv::activation_shape(p));
    const auto w = random_packed(rng, bconv::weight_shape(p));
    DeviceBuffer dx(x.size() * 4), dw(w.size() * 4), ws(d.workspace_bytes(p) + 4);
    dx.upload(x.data(), x.size() * 4);
    dw.upload(w.data(), w.size() * 4);
    bconv::Operands in;
    in.x = dx.as<uint32_t>();
    in.w = dw.as<uint32_t>();
    DeviceBuffer z(static_cast<size_t>(p.out_pixels()) * p.k * 4);
    bmm::Output int32_out;
    int32_out.c = z.as<int32_t>();
    BitsOutput bits_out(p.k, bconv::output_bits_shape(p));
    d.prepare(p, in, ws.as<void>(), nullptr);
    BTC_CUDA_CHECK(cudaDeviceSynchronize());
    session.expect_each_output(*d.tensor_insts(p, sm), what, int32_out, bits_out.out,
                               [&](const bmm::Output& out) { d.run(p, in, out, ws.as<void>(), nullptr); });
    ++ran;
  }
  EXPECT_GT(ran, 0) << d.name() << " accepts none of the layers";
}

INSTANTIATE_TEST_SUITE_P(AllDesigns, BconvTensorCounts,
                         ::testing::Range(0, static_cast<int>(bconv::designs().size())),
                         [](const ::testing::TestParamInfo<int>& i) {
                           return design_param_name(bconv::designs(), i.param);
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(BconvTensorCounts);

// ---- Host side (no GPU needed) --------------------------------------------

// What every BConv design says it issues, checked without a GPU against
// the GEMM it computes (M = N*P*Q pixels, N = K filters, K = R*S*C_pad
// bits): a tensor-core design's MMAs cover it, and waste at most one block
// of pixels, one of filters and one K slab; XOR issues twice on sm_90;
// wgmma counts as BMM's does; baselines issue none, a library's designs
// imply no count.
TEST(BconvTensorInsts, ImpliedCountsCoverTheGemm) {
  const std::vector<bconv::Problem> layers = {bconv_layer(2, 14, 14, 256, 128, 3, 1, 1), bconv_layer(1, 13, 11, 96, 70, 3, 2, 1),
                                              bconv_layer(4, 56, 56, 64, 64, 3, 1, 1), bconv_layer(2, 10, 10, 128, 130, 1, 2, 0)};
  for (const auto& d : bconv::designs())
    for (const bconv::Problem& p : layers)
      for (int sm : {75, 80, 90}) {
        SCOPED_TRACE(d->name() + " sm_" + std::to_string(sm) + " k" + std::to_string(p.k) + " c" + std::to_string(p.c));
        const auto t = d->tensor_insts(p, sm);
        if (!t) {
          EXPECT_EQ(d->family(), "cudnn") << "only a library's designs imply no count";
          continue;
        }
        if (!d->tensor_core()) {
          EXPECT_EQ(t->imma + t->gmma, 0.0);
          continue;
        }
        ASSERT_NE(d->config(), nullptr);
        const bmm::BmmConfig& c = *d->config();
        const bool is_xor = d->family() == "btc_wmma", wgmma = d->family() == "wgmma_and";
        // wgmma: per warp 2 instructions a 256-bit step (m64nNk256 and the
        // row popcounts' m64n8k256), 4 warps a 64-row warpgroup, in the
        // gmma and (GH100) imma metrics alike, as BMM's wgmma design.
        if (wgmma) EXPECT_EQ(t->imma, t->gmma);
        else EXPECT_EQ(t->gmma, 0.0) << "mma.sync and WMMA issue no wgmma";
        const double macs_per_inst = is_xor ? 8.0 * 8 * 128 / (sm >= 90 ? 2 : 1) : 16.0 * 8 * 256;
        const double gemm_m = double(p.out_pixels()), gemm_n = p.k, gemm_k = double(p.r) * p.s * ((p.c + 31) / 32 * 32);
        const double covered = wgmma ? t->gmma / 8 * 64.0 * c.block_n * 256 : t->imma * macs_per_inst;
        EXPECT_GE(covered, gemm_m * gemm_n * gemm_k);
        EXPECT_LE(covered, (gemm_m + c.block_m) * (gemm_n + c.block_n) * (gemm_k + c.block_k_bits));
        EXPECT_EQ(std::fmod(t->imma, 1.0), 0.0) << "whole instructions";
      }
}

// The same for BMM (without a GPU: designs whose tile follows the device's
// code target, btc_wmma's, are left to the GPU test). wgmma counts per warp
// 2 instructions per step (m64nNk256 and A's m64n8k256 popcounts), in both
// the gmma and (GH100) imma metrics; clusters round the tiles up to whole
// clusters.
TEST(BmmTensorInsts, ImpliedCountsCoverTheGemm) {
  const std::vector<bmm::Problem> problems = {{65, 31, 97}, {1000, 777, 1234}, {2200, 4500, 3000}, {4096, 4096, 4096}};
  int checked = 0;
  for (const auto& d : bmm::designs())
    for (const bmm::Problem& p : problems)
      for (int sm : {80, 90}) {
        SCOPED_TRACE(d->name() + " sm_" + std::to_string(sm) + " " + std::to_string(p.m) + "x" + std::to_string(p.n) +
                     "x" + std::to_string(p.k));
        std::optional<bmm::TensorInsts> t;
        try {
          t = d->tensor_insts(p, sm);
        } catch (const CudaError&) {
          continue;  // its tile follows the device's code target
        }
        if (!t) {
          EXPECT_EQ(d->family(), "cublas") << "only a library's designs imply no count";
          continue;
        }
        if (!d->tensor_core()) {
          EXPECT_EQ(t->imma + t->gmma, 0.0);
          continue;
        }
        ASSERT_NE(d->config(), nullptr);
        const bmm::BmmConfig& c = *d->config();
        const bool wgmma = d->family() == "wgmma_and";
        const double xor_insts = sm >= 90 ? 2 : 1;
        const double covered = wgmma ? t->gmma / 8 * 64.0 * c.block_n * 256
                                     : t->imma * (d->family() == "btc_wmma" ? 8.0 * 8 * 128 / xor_insts : 16.0 * 8 * 256);
        // GH100's imma metric counts b1 wgmma too (measured; wgmma_and.cu).
        if (wgmma) EXPECT_EQ(t->imma, t->gmma);
        else EXPECT_EQ(t->gmma, 0.0) << "mma.sync and WMMA issue no wgmma";
        const double m = p.m, n = p.n, k = p.k;
        EXPECT_GE(covered, m * n * k);
        EXPECT_LE(covered, (m + c.cluster_m * c.block_m) * (n + c.cluster_n * c.block_n) * (k + c.block_k_bits));
        ++checked;
      }
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace btc
