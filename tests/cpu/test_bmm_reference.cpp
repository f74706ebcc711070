// The BMM CPU reference (kernels/bmm_reference.cpp, label: cpu): reference_dots
// against a naive +-1 float product on random inputs packed in every layout
// (rows past M / N and K segments included), reference_bits' packing,
// padding and threshold edge (dot == threshold gives 1).
#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/bmm/bmm.h"
#include "tests/common/layout_params.h"
#include "formats/pack_cpu.h"
#include "tests/common/test_random.h"

namespace btc {
namespace {

using bits::BitMatrix;
using bits::Layout;
using bmm::Problem;

BitMatrix shape_of(Layout l, int rows, int k, int k_segment = 0) {
  BitMatrix m;
  m.layout = l;
  m.rows = rows;
  m.k = k;
  if (k_segment != 0) {
    m.k_segment = k_segment;
    m.k_segment_valid = k;
  }
  return m;
}

// sum_k sign(a_ik) * sign(b_jk) in float, sign(x) = x >= 0 ? +1 : -1 (as pack_signs).
std::vector<int32_t> naive_dots(const Problem& p, const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<int32_t> d(static_cast<size_t>(p.m) * static_cast<size_t>(p.n));
  const size_t k = static_cast<size_t>(p.k);
  for (size_t i = 0; i < static_cast<size_t>(p.m); ++i)
    for (size_t j = 0; j < static_cast<size_t>(p.n); ++j) {
      float s = 0.f;
      for (size_t e = 0; e < k; ++e) s += (a[i * k + e] >= 0.f ? 1.f : -1.f) * (b[j * k + e] >= 0.f ? 1.f : -1.f);
      d[i * static_cast<size_t>(p.n) + j] = static_cast<int32_t>(s);
    }
  return d;
}

struct DotCase {
  Layout a, b;
  Problem p;
  int extra_rows;  // the operands hold rows past M / N, as tile-rounded designs' do
  bool segmented;  // row_u32 operands padded to 128 bits through one K segment (btc_wmma_row)
};

void PrintTo(const DotCase& c, std::ostream* os) {
  *os << bits::name(c.a) << " x " << bits::name(c.b) << " " << c.p.m << "x" << c.p.n << "x" << c.p.k << " +"
      << c.extra_rows << " rows" << (c.segmented ? " segmented" : "");
}

std::vector<DotCase> dot_cases() {
  std::vector<DotCase> v;
  for (const Problem p : {Problem{37, 53, 1234}, Problem{100, 77, 300}}) {
    for (int i = 0; i < bits::kNumLayouts; ++i) {
      // Every layout as A, paired with a different one as B.
      const Layout a = bits::kAllLayouts[i], b = bits::kAllLayouts[(i + 4) % bits::kNumLayouts];
      v.push_back({a, b, p, i % 2 == 0 ? 0 : 11, false});
    }
    v.push_back({Layout::kRowU32, Layout::kRowU32, p, 27, true});
    v.push_back({Layout::kRowU32, Layout::kTile8x128, p, 0, true});
  }
  return v;
}

class ReferenceDots : public ::testing::TestWithParam<DotCase> {};

TEST_P(ReferenceDots, EqualsNaiveFloatProduct) {
  const DotCase& c = GetParam();
  BTC_SEEDED_RNG(rng);
  const Problem& p = c.p;
  const int seg = c.segmented ? (p.k + 127) / 128 * 128 : 0;
  const BitMatrix as = shape_of(c.a, p.m + c.extra_rows, p.k, c.a == Layout::kRowU32 ? seg : 0);
  const BitMatrix bs = shape_of(c.b, p.n + c.extra_rows, p.k, c.b == Layout::kRowU32 ? seg : 0);
  const auto af = test::random_floats(rng, static_cast<size_t>(as.rows) * static_cast<size_t>(p.k));
  const auto bf = test::random_floats(rng, static_cast<size_t>(bs.rows) * static_cast<size_t>(p.k));
  const auto a = bits::pack_signs(af.data(), as.rows, p.k, as);
  const auto b = bits::pack_signs(bf.data(), bs.rows, p.k, bs);

  const std::vector<int32_t> got = bmm::reference_dots(p, a, as, b, bs);
  const std::vector<int32_t> want = naive_dots(p, af, bf);  // the first M / N rows of the floats
  ASSERT_EQ(got.size(), want.size());
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i)
    if (got[i] != want[i]) {
      ++bad;
      ADD_FAILURE() << "C(" << i / static_cast<size_t>(p.n) << "," << i % static_cast<size_t>(p.n) << ") got "
                    << got[i] << " want " << want[i];
    }
  // The same through the formats' own per-element dot products.
  for (int i = 0; i < p.m; i += 9)
    for (int j = 0; j < p.n; j += 7)
      EXPECT_EQ(got[static_cast<size_t>(i) * static_cast<size_t>(p.n) + static_cast<size_t>(j)],
                bits::dot_pm1_and(a, as, i, b, bs, j));
}

INSTANTIATE_TEST_SUITE_P(Layouts, ReferenceDots, ::testing::ValuesIn(dot_cases()),
                         [](const ::testing::TestParamInfo<DotCase>& i) {
                           const DotCase& c = i.param;
                           return std::string(bits::name(c.a)) + "_" + bits::name(c.b) + "_" +
                                  std::to_string(c.p.m) + "x" + std::to_string(c.p.n) + "x" + std::to_string(c.p.k) +
                                  (c.segmented ? "_seg" : "") + "_" + std::to_string(i.index);
                         });

TEST(ReferenceDots, AllOnesAndAllMinusOnes) {
  const Problem p{3, 5, 97};
  const BitMatrix as = shape_of(Layout::kTile8x128, 3, 97), bs = shape_of(Layout::kRowU64, 5, 97);
  const std::vector<float> ones(3 * 97, 1.f), minus(5 * 97, -1.f);
  const auto a = bits::pack_signs(ones.data(), 3, 97, as);
  const auto b = bits::pack_signs(minus.data(), 5, 97, bs);
  for (int32_t d : bmm::reference_dots(p, a, as, b, bs)) EXPECT_EQ(d, -97);
  const Problem sq{3, 3, 97};
  for (int32_t d : bmm::reference_dots(sq, a, as, a, as)) EXPECT_EQ(d, 97);
}

TEST(ReferenceDots, RejectsMismatchedShapes) {
  const BitMatrix as = shape_of(Layout::kRowU32, 4, 64), bs = shape_of(Layout::kRowU32, 4, 65);
  const std::vector<uint32_t> a(static_cast<size_t>(as.words())), b(static_cast<size_t>(bs.words()));
  EXPECT_THROW(bmm::reference_dots({4, 4, 64}, a, as, b, bs), std::invalid_argument);  // k differs
  EXPECT_THROW(bmm::reference_dots({5, 4, 64}, a, as, a, as), std::invalid_argument);  // fewer rows than M
  EXPECT_THROW(bmm::reference_dots({4, 4, 64}, std::vector<uint32_t>(1), as, a, as),
               std::invalid_argument);  // short buffer
}

// ---- reference_bits

// bit (i, j) = dots(i, j) >= threshold(j)  <=>  float(dots - threshold) >= 0: pack_signs of
// the differences is the expected output, padding (rows and k) included.
std::vector<uint32_t> bits_via_pack_signs(const Problem& p, const std::vector<int32_t>& dots,
                                          const std::vector<int32_t>& thr, const BitMatrix& shape) {
  std::vector<float> x(dots.size());
  for (size_t i = 0; i < dots.size(); ++i)
    x[i] = static_cast<float>(dots[i] - thr[i % static_cast<size_t>(p.n)]);
  return bits::pack_signs(x.data(), p.m, p.n, shape);
}

class ReferenceBits : public ::testing::TestWithParam<test::Config> {};

TEST_P(ReferenceBits, PacksThresholdsWithZeroPadding) {
  BTC_SEEDED_RNG(rng);
  for (const Problem p : {Problem{37, 53, 1234}, Problem{100, 77, 300}, Problem{1, 1, 5}, Problem{65, 129, 40}}) {
    SCOPED_TRACE(std::to_string(p.m) + "x" + std::to_string(p.n) + "x" + std::to_string(p.k));
    BitMatrix shape = test::make(GetParam(), {p.m, p.n});
    std::uniform_int_distribution<int> dot(-p.k, p.k), thr(-p.k / 4, p.k / 4);
    std::vector<int32_t> dots(static_cast<size_t>(p.m) * static_cast<size_t>(p.n)), t(static_cast<size_t>(p.n));
    for (auto& d : dots) d = dot(rng);
    for (auto& x : t) x = thr(rng);
    for (size_t j = 0; j < t.size(); j += 3) t[j] = dots[j];  // row 0: dot == threshold on every third column

    const std::vector<uint32_t> got = bmm::reference_bits(p, dots, t, shape);
    ASSERT_EQ(got.size(), static_cast<size_t>(shape.words()));
    EXPECT_EQ(got, bits_via_pack_signs(p, dots, t, shape));
    for (int64_t w = 0; w < shape.words(); ++w)
      ASSERT_EQ(got[static_cast<size_t>(w)] & ~test::valid_mask_of_word(shape, w), 0u) << "padding bit set, word " << w;
    for (int j = 0; j < p.n; j += 3) EXPECT_TRUE(bits::get_bit(got, shape, 0, j)) << "dot == threshold, column " << j;
    for (int i = 0; i < p.m; ++i)
      for (int j = 0; j < p.n; ++j)
        ASSERT_EQ(bits::get_bit(got, shape, i, j),
                  dots[static_cast<size_t>(i) * static_cast<size_t>(p.n) + static_cast<size_t>(j)] >=
                      t[static_cast<size_t>(j)])
            << "(" << i << "," << j << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, ReferenceBits, ::testing::ValuesIn(test::all_configs()),
                         [](const ::testing::TestParamInfo<test::Config>& i) { return test::config_name(i.param); });

TEST(ReferenceBitsEdge, ThresholdEqualToDotGivesOne) {
  const Problem p{2, 3, 10};
  const BitMatrix shape = shape_of(Layout::kRowU32, 2, 3);
  const std::vector<int32_t> dots = {4, -2, 0, 6, 10, -10};
  // Row 0 sits exactly on its thresholds; row 1: one above, one below, one equal.
  const std::vector<int32_t> thr = {4, -2, 0};
  const auto got = bmm::reference_bits(p, dots, thr, shape);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], 0b111u);
  EXPECT_EQ(got[1], 0b011u);  // 6 >= 4, 10 >= -2, -10 < 0
  const auto above = bmm::reference_bits(p, dots, {5, -1, 1}, shape);  // every threshold one past row 0's dot
  EXPECT_EQ(above[0], 0u);
}

TEST(ReferenceBitsEdge, FlippedColumnIsDotAtMostThreshold) {
  const Problem p{2, 3, 10};
  const BitMatrix shape = shape_of(Layout::kRowU32, 2, 3);
  const std::vector<int32_t> dots = {4, -2, 0, 6, 10, -10};
  // Column 1 and 2 flipped: bit = dot <= threshold; equality still gives 1.
  const auto got = bmm::reference_bits(p, dots, {4, -2, -5}, shape, {0, 1, 1});
  EXPECT_EQ(got[0], 0b011u);  // 4 >= 4, -2 <= -2, 0 > -5
  EXPECT_EQ(got[1], 0b101u);  // 6 >= 4, 10 > -2, -10 <= -5
  EXPECT_THROW(bmm::reference_bits(p, dots, {0, 0, 0}, shape, {1, 0}), std::invalid_argument);
}

TEST(ReferenceBitsEdge, RejectsMismatchedSizes) {
  const BitMatrix shape = shape_of(Layout::kRowU32, 2, 3);
  const std::vector<int32_t> dots(6, 0), thr(3, 0);
  EXPECT_THROW(bmm::reference_bits({2, 3, 1}, dots, std::vector<int32_t>(2), shape), std::invalid_argument);
  EXPECT_THROW(bmm::reference_bits({2, 3, 1}, std::vector<int32_t>(5), thr, shape), std::invalid_argument);
  EXPECT_THROW(bmm::reference_bits({3, 2, 1}, std::vector<int32_t>(6), std::vector<int32_t>(2), shape),
               std::invalid_argument);  // bits_shape must be M x N
}

}  // namespace
}  // namespace btc
