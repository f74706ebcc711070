// The BConv CPU reference against a float convolution written on the
// unpacked ±1 tensors (PyTorch conv2d semantics: zero padding contributes 0),
// and the batch-norm threshold fold against the float batch norm itself.
#include <gtest/gtest.h>

#include <random>
#include <tuple>

#include "formats/pack_cpu.h"
#include "kernels/bconv/bconv.h"
#include "kernels/bconv/bn_threshold.h"
#include "tests/common/test_random.h"

namespace btc::bconv {
namespace {

// x: N x H x W x C floats (NHWC), w: K x R x S x C floats (KRSC), each ±1.
std::vector<float> conv2d_f32(const Problem& p, const std::vector<float>& x, const std::vector<float>& w) {
  const float pad = p.pad_value == PadValue::kPlusOne ? 1.f : p.pad_value == PadValue::kMinusOne ? -1.f : 0.f;
  std::vector<float> out(static_cast<size_t>(p.out_pixels()) * p.k, 0.f);
  for (int n = 0; n < p.n; ++n)
    for (int op = 0; op < p.p(); ++op)
      for (int oq = 0; oq < p.q(); ++oq)
        for (int k = 0; k < p.k; ++k) {
          float acc = 0.f;  // exact: |acc| <= R S C < 2^24
          for (int r = 0; r < p.r; ++r)
            for (int s = 0; s < p.s; ++s)
              for (int c = 0; c < p.c; ++c) {
                const int ih = op * p.stride - p.pad + r, iw = oq * p.stride - p.pad + s;
                const bool in = ih >= 0 && ih < p.h && iw >= 0 && iw < p.w;
                const float xv = in ? x[((static_cast<size_t>(n) * p.h + ih) * p.w + iw) * p.c + c] : pad;
                acc += xv * w[((static_cast<size_t>(k) * p.r + r) * p.s + s) * p.c + c];
              }
          out[(static_cast<size_t>((n * p.p() + op) * p.q() + oq)) * p.k + k] = acc;
        }
  return out;
}

std::vector<float> random_pm1(std::mt19937& rng, size_t count) {
  std::vector<float> v(count);
  for (auto& e : v) e = rng() & 1u ? 1.f : -1.f;
  return v;
}

using Case = std::tuple<int /*rs*/, int /*stride*/, int /*c*/, PadValue>;

class BconvReference : public ::testing::TestWithParam<Case> {};

TEST_P(BconvReference, EqualsFloatConvolution) {
  const auto [rs, stride, c, pad_value] = GetParam();
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE("BTC_TEST_SEED=" + std::to_string(seed));
  std::mt19937 rng(seed);
  Problem p;
  p.n = 2;
  p.h = 7;  // odd, and small enough that every tap of a 7x7 filter meets a border
  p.w = 5;
  p.c = c;
  p.k = 3;
  p.r = p.s = rs;
  p.stride = stride;
  p.pad = rs / 2;
  p.pad_value = pad_value;
  ASSERT_EQ(check_problem(p), "");
  const auto xf = random_pm1(rng, static_cast<size_t>(p.n) * p.h * p.w * p.c);
  const auto wf = random_pm1(rng, static_cast<size_t>(p.k) * p.r * p.s * p.c);
  const auto x = bits::pack_signs(xf.data(), p.n * p.h * p.w, p.c, activation_shape(p));
  const auto w = bits::pack_signs(wf.data(), p.k, p.r * p.s * p.c, weight_shape(p));
  const auto z = reference_dots(p, x, w);
  const auto want = conv2d_f32(p, xf, wf);
  ASSERT_EQ(z.size(), want.size());
  for (size_t i = 0; i < z.size(); ++i) ASSERT_EQ(static_cast<float>(z[i]), want[i]) << "element " << i;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, BconvReference,
    ::testing::Combine(::testing::Values(1, 3, 5, 7), ::testing::Values(1, 2), ::testing::Values(3, 32, 33, 100),
                       ::testing::Values(PadValue::kZero, PadValue::kPlusOne, PadValue::kMinusOne)));

TEST(BconvReference, ZeroPaddingIsNotMinusOnePadding) {
  // A border pixel must differ between the modes, or the test above proves little.
  Problem p;
  p.h = p.w = 3;
  p.c = 4;
  p.k = 1;
  p.r = p.s = 3;
  p.pad = 1;
  const std::vector<float> xf(36, 1.f), wf(36, 1.f);
  const auto x = bits::pack_signs(xf.data(), 9, 4, activation_shape(p));
  const auto w = bits::pack_signs(wf.data(), 1, 36, weight_shape(p));
  p.pad_value = PadValue::kZero;
  EXPECT_EQ(reference_dots(p, x, w)[0], 16);  // corner: 4 taps inside, 4 channels each
  p.pad_value = PadValue::kMinusOne;
  EXPECT_EQ(reference_dots(p, x, w)[0], 16 - 20);
  p.pad_value = PadValue::kPlusOne;
  EXPECT_EQ(reference_dots(p, x, w)[0], 36);
  EXPECT_EQ(reference_dots(p, x, w)[4], 36);  // the centre has no padded tap
}

TEST(BconvReference, OutputShapes) {
  Problem p;
  p.n = 3;
  p.h = 56;
  p.w = 56;
  p.c = 64;
  p.k = 128;
  p.r = p.s = 3;
  p.stride = 2;
  p.pad = 1;
  EXPECT_EQ(p.p(), 28);
  EXPECT_EQ(p.q(), 28);
  EXPECT_EQ(p.out_pixels(), 3 * 28 * 28);
  EXPECT_EQ(p.dot_bits(), 576);
  EXPECT_DOUBLE_EQ(p.ops(), 2.0 * 3 * 28 * 28 * 128 * 576);
  EXPECT_EQ(output_bits_shape(p).rows, 3 * 28 * 28);
  EXPECT_EQ(output_bits_shape(p).kwords(), 4);
  EXPECT_EQ(weight_shape(p).kwords(), 9 * 2);  // each tap's 64 channels in 2 words
}

TEST(BconvReference, BadProblemsAreRefused) {
  Problem p;
  p.r = p.s = 3;
  p.pad = 3;
  EXPECT_NE(check_problem(p), "");
  p.pad = 1;
  p.h = 0;
  EXPECT_NE(check_problem(p), "");
  p.h = 1;
  p.stride = 0;
  EXPECT_NE(check_problem(p), "");
  p.stride = 1;
  EXPECT_EQ(check_problem(p), "");
  p.pad = 0;
  EXPECT_NE(check_problem(p), "");  // 3x3 on a 1x1 input without padding
  EXPECT_THROW(reference_dots(p, {}, {}), std::invalid_argument);
}

// The folded threshold gives sign(BN(z)) >= 0 for every z, both signs of gamma.
TEST(BnThreshold, FoldEqualsTheFloatBatchNormForEveryZ) {
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE("BTC_TEST_SEED=" + std::to_string(seed));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const int64_t K = 576;
  for (int trial = 0; trial < 200; ++trial) {
    const float gamma = trial % 7 == 0 ? 0.f : 3 * u(rng), beta = 2 * u(rng), mean = 80 * u(rng);
    const float var = 1 + 100 * (u(rng) + 1), eps = 1e-5f;
    const Threshold t = fold_batch_norm(gamma, beta, mean, var, eps, K);
    EXPECT_EQ(t.flip, gamma < 0) << trial;
    for (int32_t z = static_cast<int32_t>(-K); z <= K; ++z) {
      const bool want = batch_norm_f32(z, gamma, beta, mean, var, eps) >= 0.f;
      const bool got = t.flip ? z <= t.value : z >= t.value;
      ASSERT_EQ(got, want) << "trial " << trial << " z " << z << " gamma " << gamma;
    }
  }
}

TEST(BnThreshold, ReferenceBitsApplyTheFlip) {
  Problem p;
  p.h = p.w = 1;
  p.k = 33;  // one channel past a word: padding bits must stay 0
  const std::vector<int32_t> z(33, 5);
  std::vector<int32_t> thr(33, 5);
  std::vector<uint8_t> flip(33, 0);
  flip[1] = 1;
  thr[2] = 6;   // 5 >= 6 false
  thr[3] = 4;   // 5 >= 4 true
  flip[3] = 1;  // 5 <= 4 false
  const auto bits = reference_bits(p, z, thr, flip);
  ASSERT_EQ(bits.size(), 2u);
  EXPECT_EQ(bits[0], 0xFFFFFFFFu & ~(1u << 2) & ~(1u << 3));
  EXPECT_EQ(bits[1], 1u);
}

}  // namespace
}  // namespace btc::bconv
