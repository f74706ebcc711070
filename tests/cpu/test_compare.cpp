// btcbench compare: the Mann-Whitney U test against hand-computed values, and
// whole comparisons of the small files under tests/fixtures/compare.
#include "harness/core/compare.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "harness/core/results.h"

namespace btc::compare {
namespace {
namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(BTC_SOURCE_DIR) / "tests" / "fixtures" / "compare";

TEST(MannWhitney, CompleteSeparationWithoutTies) {
  // Ranks of a = 1, 2, 3: R = 6, U_a = 6 - 3*4/2 = 0. mean = 9/2; sigma^2 = 3*3/12 * (6 + 1) = 5.25.
  // z = (|0 - 4.5| - 0.5) / sqrt(5.25) = 1.7457431; p = erfc(z / sqrt 2) = 0.0808556 (scipy's asymptotic value).
  const MannWhitney r = mann_whitney_u({1, 2, 3}, {4, 5, 6});
  EXPECT_DOUBLE_EQ(r.u_a, 0);
  EXPECT_NEAR(r.z, 1.7457431218879391, 1e-12);
  EXPECT_NEAR(r.p, 0.0808555983700523, 1e-12);
  // The other way round: U_b = n_a n_b - U_a, the same p.
  const MannWhitney s = mann_whitney_u({4, 5, 6}, {1, 2, 3});
  EXPECT_DOUBLE_EQ(s.u_a, 9);
  EXPECT_NEAR(s.p, r.p, 1e-15);
}

TEST(MannWhitney, TiesShareRanksAndShrinkTheVariance) {
  // Sorted: 1a 2a 2a 2b 3a 3b 4b 5b. The 2s share rank 3, the 3s rank 5.5:
  // R_a = 1 + 3 + 3 + 5.5 = 12.5, U_a = 12.5 - 4*5/2 = 2.5. Ties t = 3 and 2: sum(t^3 - t) = 24 + 6 = 30.
  // sigma^2 = 16/12 * (9 - 30 / 56) = 11.2857143; z = (|2.5 - 8| - 0.5) / sigma = 1.4883514; p = 0.1366582.
  const MannWhitney r = mann_whitney_u({1, 2, 2, 3}, {2, 3, 4, 5});
  EXPECT_DOUBLE_EQ(r.u_a, 2.5);
  EXPECT_NEAR(r.z, 1.4883513944689681, 1e-12);
  EXPECT_NEAR(r.p, 0.13665824773814753, 1e-12);
}

TEST(MannWhitney, SevenAgainstSevenSeparated) {
  // The sweep's default 7 repetitions, every B slower: U = 0, sigma^2 = 49/12 * 15,
  // z = 24 / sqrt(61.25) = 3.0666075, p = 0.0021650.
  const MannWhitney r = mann_whitney_u({1, 2, 3, 4, 5, 6, 7}, {8, 9, 10, 11, 12, 13, 14});
  EXPECT_NEAR(r.z, 3.066607511999712, 1e-12);
  EXPECT_NEAR(r.p, 0.0021650293330383796, 1e-12);
}

TEST(MannWhitney, EdgeCases) {
  const MannWhitney tied = mann_whitney_u({3, 3}, {3, 3});  // no evidence either way
  EXPECT_DOUBLE_EQ(tied.u_a, 2);
  EXPECT_DOUBLE_EQ(tied.z, 0);
  EXPECT_DOUBLE_EQ(tied.p, 1);
  // Identical samples: U at its mean, the continuity correction keeps z at 0 and p at 1.
  EXPECT_DOUBLE_EQ(mann_whitney_u({1, 2, 3}, {1, 2, 3}).p, 1);
  EXPECT_DOUBLE_EQ(mann_whitney_u({5, 6}, {1, 2, 3}).u_a, 6);  // every pair a > b
  EXPECT_THROW(mann_whitney_u({}, {1}), std::invalid_argument);
}

TEST(Compare, Median) {
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 2}), 2.5);
}

Comparison compare_files(const std::string& b, CompareOptions o = {}) {
  o.file_a = (kFixtures / "a.json").string();
  o.file_b = (kFixtures / b).string();
  return compare_results(load_results_file(o.file_a), load_results_file(o.file_b), o);
}

const Row& row(const Comparison& c, const std::string& prefix) {
  for (const Row& r : c.rows)
    if (r.name.rfind(prefix, 0) == 0) return r;
  throw std::runtime_error("no row " + prefix);
}

TEST(Compare, RepetitionsAndMediansFromTheFile) {
  const auto runs = run_samples(load_results_file((kFixtures / "a.json").string()));
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].name, "lat/mma_and_m16n8k256/manual_time");
  EXPECT_EQ(runs[0].times_s.size(), 5u);  // the median aggregate is not a repetition
  EXPECT_NEAR(runs[0].median_time_s, 1.50e-6, 1e-15);
  EXPECT_LT(runs[0].median_tops, 0);  // latency runs have no tops
  EXPECT_EQ(runs[1].tops.size(), 5u);
  EXPECT_NEAR(runs[1].median_tops, 8e9 / 2002e-6 / 1e12, 1e-9);
}

TEST(Compare, NothingChanged) {
  const Comparison c = compare_files("b-same.json");
  ASSERT_EQ(c.rows.size(), 2u);
  EXPECT_EQ(c.regressions(), 0u);
  EXPECT_TRUE(c.warnings.empty());
  for (const Row& r : c.rows) {
    EXPECT_DOUBLE_EQ(r.ratio, 1);
    EXPECT_DOUBLE_EQ(r.test.p, 1);
  }
}

TEST(Compare, SlowerTimeIsARegression) {
  const Comparison c = compare_files("b-lat-slower.json");
  const Row& lat = row(c, "lat/");
  EXPECT_EQ(lat.metric, "time");
  EXPECT_NEAR(lat.ratio, 1.2, 1e-9);
  EXPECT_NEAR(lat.worse_pct, 20, 1e-6);
  EXPECT_LT(lat.test.p, 0.05);
  EXPECT_TRUE(lat.regression);
  EXPECT_FALSE(row(c, "tput/").regression);
  EXPECT_EQ(c.regressions(), 1u);
  // A stricter alpha than the test can reach with 5 repetitions a side: not significant.
  CompareOptions strict;
  strict.alpha = 0.01;
  EXPECT_EQ(compare_files("b-lat-slower.json", strict).regressions(), 0u);
}

TEST(Compare, LowerTopsIsARegressionAndTheThresholdCounts) {
  const Comparison c = compare_files("b-tput-slower.json");
  const Row& tput = row(c, "tput/");
  EXPECT_EQ(tput.metric, "tops");
  EXPECT_NEAR(tput.ratio, 0.9, 1e-9);  // B/A of the TOPS
  EXPECT_NEAR(tput.worse_pct, 10, 1e-6);
  EXPECT_TRUE(tput.regression);
  // 3% lower: significant, but under the default 5% threshold; over a 2% one.
  EXPECT_EQ(compare_files("b-tput-3pct.json").regressions(), 0u);
  CompareOptions tight;
  tight.threshold_pct = 2;
  EXPECT_EQ(compare_files("b-tput-3pct.json", tight).regressions(), 1u);
}

TEST(Compare, FasterIsAnImprovement) {
  const Row& lat = row(compare_files("b-lat-faster.json"), "lat/");
  EXPECT_TRUE(lat.improvement);
  EXPECT_FALSE(lat.regression);
}

TEST(Compare, FilterSelectsRuns) {
  CompareOptions o;
  o.filter = "^tput/";
  const Comparison c = compare_files("b-lat-slower.json", o);
  ASSERT_EQ(c.rows.size(), 1u);
  EXPECT_EQ(c.filtered_out, 1u);
  EXPECT_EQ(c.regressions(), 0u);  // the slower run is filtered out
  o.filter = "no_such_run";
  EXPECT_THROW(compare_files("b-lat-slower.json", o), CompareError);
}

TEST(Compare, OtherDeviceWarnsOtherSuiteRefuses) {
  const Comparison c = compare_files("b-other-device.json");
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("the devices differ (A: NVIDIA H100 80GB HBM3, B: NVIDIA H200)"), std::string::npos);
  try {
    compare_files("b-other-suite.json");
    FAIL();
  } catch (const CompareError& e) {
    EXPECT_NE(std::string(e.what()).find("different suites ('instr' and 'stride')"), std::string::npos);
  }
}

TEST(Compare, ReportIsAnAlignedTable) {
  CompareOptions o;
  o.file_a = "a.json";
  o.file_b = "b.json";
  const std::string text = format_report(compare_files("b-lat-slower.json"), o);
  EXPECT_NE(text.find("A: a.json (NVIDIA H100 80GB HBM3, 0123456)"), std::string::npos) << text;
  EXPECT_NE(text.find("2 compared, 1 significant regression(s) beyond 5% (alpha 0.05)"), std::string::npos) << text;
  // Every table line has its columns at the same offsets: "metric" over "time"/"tops".
  const size_t header = text.find("benchmark ");
  const size_t metric_col = text.find("metric", header) - header;
  size_t line = text.find('\n', header) + 1;
  for (int i = 0; i < 2; ++i) {
    const std::string cell = text.substr(line + metric_col, 4);
    EXPECT_TRUE(cell == "time" || cell == "tops") << text;
    line = text.find('\n', line) + 1;
  }
  EXPECT_NE(text.find("REGRESSION"), std::string::npos);
}

}  // namespace
}  // namespace btc::compare
