// The implicit-GEMM epilogue's border classes (kernels/bconv/border_classes.h)
// against the tap window of every output row, computed directly: rows of one
// class share their valid taps, rows of different classes differ, and each
// class's representative row is a row of that class.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <utility>

#include "kernels/bconv/border_classes.h"
#include "kernels/bconv/fast_div.h"

namespace btc::bconv {
namespace {

// The valid taps [lo, hi) of output row op.
std::pair<int, int> valid_taps(int extent, int taps, int stride, int pad, int op) {
  const int i0 = op * stride - pad;
  const int lo = std::max(0, -i0), hi = std::min(taps, extent - i0);
  return {lo, hi};
}

TEST(BorderClasses, OneWindowPerClassOnEveryGeometry) {
  int geometries = 0;
  for (int taps = 1; taps <= 11; ++taps)
    for (int stride = 1; stride <= 4; ++stride)
      for (int pad = 0; pad < taps; ++pad)  // the problems' rule (bconv_reference.cpp): no empty window
        for (int extent = 1; extent <= 40; ++extent) {
          if (extent + 2 * pad < taps) continue;  // no output
          const int out = (extent + 2 * pad - taps) / stride + 1;
          const AxisClasses a = axis_classes(extent, taps, stride, pad, out);
          SCOPED_TRACE(testing::Message() << "extent " << extent << " taps " << taps << " stride " << stride << " pad "
                                          << pad);
          ASSERT_GE(a.count, 1);
          ASSERT_LE(a.count, out);
          std::map<int, std::pair<int, int>> window_of_class;
          std::map<std::pair<int, int>, int> class_of_window;
          for (int op = 0; op < out; ++op) {
            const int c = a.class_of(op);
            ASSERT_GE(c, 0);
            ASSERT_LT(c, a.count);
            const auto w = valid_taps(extent, taps, stride, pad, op);
            ASSERT_LT(w.first, w.second) << "row " << op << ": an empty window";
            auto [it, fresh] = window_of_class.emplace(c, w);
            EXPECT_EQ(it->second, w) << "row " << op << " shares class " << c << " with another window";
            auto [jt, fresh_w] = class_of_window.emplace(w, c);
            EXPECT_EQ(jt->second, c) << "row " << op << "'s window has two classes";
            const bool interior = w.first == 0 && w.second == taps;
            EXPECT_EQ(interior, a.has_interior() && op >= a.int_lo && op <= a.int_hi) << "row " << op;
          }
          EXPECT_EQ(static_cast<int>(window_of_class.size()), a.count) << "every class is some row's";
          for (int c = 0; c < a.count; ++c) {
            const int op = a.first_row_of(c);
            ASSERT_GE(op, 0);
            ASSERT_LT(op, out);
            EXPECT_EQ(a.class_of(op), c) << "class " << c << "'s representative";
          }
          ++geometries;
        }
  EXPECT_GT(geometries, 500);
}

TEST(BorderClasses, ResNetShapes) {
  // 3x3 pad 1 stride 1 on 56: top row, interior, bottom row.
  const AxisClasses s1 = axis_classes(56, 3, 1, 1, 56);
  EXPECT_EQ(s1.count, 3);
  EXPECT_EQ(s1.int_lo, 1);
  EXPECT_EQ(s1.int_hi, 54);
  EXPECT_EQ(s1.class_of(0), 0);
  EXPECT_EQ(s1.class_of(30), 1);
  EXPECT_EQ(s1.class_of(55), 2);
  // Stride 2 on an even extent: only the top row is cut off.
  const AxisClasses s2 = axis_classes(56, 3, 2, 1, 28);
  EXPECT_EQ(s2.count, 2);
  EXPECT_EQ(s2.class_of(27), 1);
  // A 1x1 filter without padding: one class, all interior.
  const AxisClasses one = axis_classes(7, 1, 1, 0, 7);
  EXPECT_EQ(one.count, 1);
  EXPECT_TRUE(one.has_interior());
  // A window wider than the image: no interior row, a class per row.
  const AxisClasses wide = axis_classes(3, 7, 1, 3, 3);
  EXPECT_FALSE(wide.has_interior());
  EXPECT_EQ(wide.count, 3);
}

// FastDiv against '/' at the edges of every quotient step for small
// divisors, at the top of its range, and on random pairs.
TEST(FastDiv, ExactBelowTwoToThe31) {
  constexpr int kMax = 0x7FFFFFFF;
  auto check = [](const FastDiv& f, int d, int n) {
    ASSERT_EQ(f.div(n), n / d) << n << " / " << d;
  };
  for (int d = 1; d <= 4096; ++d) {
    const FastDiv f = make_fast_div(d);
    for (int n = 0; n < 4 * d + 3; ++n) check(f, d, n);
    for (int k : {1000, 123456, kMax / d}) {
      const int64_t base = int64_t{k} * d;
      for (int64_t n = base - 2; n <= base + 2; ++n)
        if (n >= 0 && n <= kMax) check(f, d, static_cast<int>(n));
    }
    check(f, d, kMax);
  }
  std::mt19937 rng(0xD1u);
  std::uniform_int_distribution<int> any(1, kMax), n_any(0, kMax);
  for (int i = 0; i < 200000; ++i) {
    const int d = any(rng) >> (i % 31), n = n_any(rng);
    if (d >= 1) check(make_fast_div(d), d, n);
  }
  for (int d : {kMax, kMax - 1, 1 << 30, (1 << 30) + 1, 3 << 29})
    for (int n : {0, 1, d - 1, d, kMax}) check(make_fast_div(d), d, n);
  EXPECT_THROW(make_fast_div(0), std::invalid_argument);
}

}  // namespace
}  // namespace btc::bconv
