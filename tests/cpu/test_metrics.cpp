// Metric lists and the per-chip metric table, checked against CUPTI's own
// offline validation (host API, no GPU needed).
#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/core/cupti_profiler.h"
#include "harness/core/metrics.h"

namespace {

using btc::chip_family;
using btc::chip_for_cc;
using btc::chips_in_family;
using btc::default_bconv_metrics;
using btc::default_instr_metrics;
using btc::default_stride_metrics;
using btc::known_metrics;
using btc::metric_valid_static;
using btc::parse_metric_list;
using Strings = std::vector<std::string>;

const Strings kGH100Only = {
    "sm__inst_executed_pipe_tensor_op_gmma.sum",
    "sm__ops_path_tensor_op_bgmma_src_int1.sum",
    "sm__ops_path_tensor_op_bmma_src_int1.sum",
};
const Strings kFamilies = {"TU10x", "TU11x", "GA100", "GA10x", "GA10B", "AD10x", "GH100"};

bool contains(const Strings& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// ---------------------------------------------------------------- parse_metric_list

TEST(ParseMetricList, SplitsAndTrims) {
  EXPECT_EQ(parse_metric_list("a"), Strings({"a"}));
  EXPECT_EQ(parse_metric_list("a,b"), Strings({"a", "b"}));
  EXPECT_EQ(parse_metric_list("  sm__cycles_elapsed.max ,\tdram__bytes_read.sum\n"),
            Strings({"sm__cycles_elapsed.max", "dram__bytes_read.sum"}));
}

TEST(ParseMetricList, RejectsBadInput) {
  for (const char* bad : {"", " ", ",", "a,", ",a", "a,,b", "a, ,b", "a b", "a,a", "a, a"})
    EXPECT_THROW(parse_metric_list(bad), std::invalid_argument) << "'" << bad << "'";
}

TEST(ParseMetricList, MessageNamesTheProblem) {
  try {
    parse_metric_list("x,,y");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------- chips

TEST(ChipForCc, KnownCapabilities) {
  EXPECT_EQ(chip_for_cc(7, 5), "TU102");
  EXPECT_EQ(chip_for_cc(8, 0), "GA100");
  EXPECT_EQ(chip_for_cc(8, 6), "GA102");
  EXPECT_EQ(chip_for_cc(8, 7), "GA10B");
  EXPECT_EQ(chip_for_cc(8, 9), "AD102");
  EXPECT_EQ(chip_for_cc(9, 0), "GH100");
}

TEST(ChipForCc, UnknownCapabilities) {
  EXPECT_EQ(chip_for_cc(7, 0), "");
  EXPECT_EQ(chip_for_cc(10, 0), "");
  EXPECT_EQ(chip_for_cc(12, 0), "");
  EXPECT_EQ(chip_for_cc(0, 0), "");
}

TEST(ChipForCc, EveryAnswerHasAFamily) {
  for (int cc : {75, 80, 86, 87, 89, 90}) EXPECT_NE(chip_family(chip_for_cc(cc / 10, cc % 10)), "") << cc;
}

TEST(ChipFamily, Families) {
  for (const char* c : {"TU102", "TU104", "TU106"}) EXPECT_EQ(chip_family(c), "TU10x") << c;
  for (const char* c : {"TU116", "TU117"}) EXPECT_EQ(chip_family(c), "TU11x") << c;
  EXPECT_EQ(chip_family("GA100"), "GA100");
  for (const char* c : {"GA102", "GA103", "GA104", "GA106", "GA107"}) EXPECT_EQ(chip_family(c), "GA10x") << c;
  EXPECT_EQ(chip_family("GA10B"), "GA10B");
  for (const char* c : {"AD102", "AD104"}) EXPECT_EQ(chip_family(c), "AD10x") << c;
  EXPECT_EQ(chip_family("GH100"), "GH100");
  EXPECT_EQ(chip_family("gh100"), "GH100");
  for (const char* c : {"", "GV100", "GB100", "GB202", "XX999"}) EXPECT_EQ(chip_family(c), "") << c;
  for (const auto& f : kFamilies) EXPECT_FALSE(chips_in_family(f).empty()) << f;
  EXPECT_TRUE(chips_in_family("nope").empty());
}

// ---------------------------------------------------------------- static table

TEST(StaticTable, DefaultInstrMetrics) {
  const Strings base = {
      "sm__inst_executed_pipe_tensor_op_imma.sum",
      "sm__pipe_tensor_op_imma_cycles_active.avg.pct_of_peak_sustained_active",
      "sm__ops_path_tensor_src_int1.sum",
      "sm__cycles_elapsed.max",
      "sm__inst_executed_pipe_tensor_op_hmma.sum",
  };
  EXPECT_EQ(default_instr_metrics("TU102"), base);
  EXPECT_EQ(default_instr_metrics("GA100"), base);
  EXPECT_EQ(default_instr_metrics("GA104"), base);
  EXPECT_EQ(default_instr_metrics("AD102"), base);
  Strings gh = base;
  gh.insert(gh.end(), kGH100Only.begin(), kGH100Only.end());
  EXPECT_EQ(default_instr_metrics("GH100"), gh);
  EXPECT_FALSE(contains(default_instr_metrics("TU116"), "sm__ops_path_tensor_src_int1.sum"));
  EXPECT_EQ(default_instr_metrics("GB202"), base);  // unknown chip: unchecked generic list
}

TEST(StaticTable, DefaultStrideMetricsHaveTheL2Sums) {
  // hit / (hit + miss) from the sums; the ratio metric stays for existing readers.
  for (const char* chip : {"TU102", "TU116", "GA100", "GA104", "GA10B", "AD102", "GH100", "GB202"}) {
    SCOPED_TRACE(chip);
    const Strings m = default_stride_metrics(chip);
    for (const char* l2 : {"lts__t_sector_hit_rate.pct", "lts__t_sectors_lookup_hit.sum",
                           "lts__t_sectors_lookup_miss.sum"})
      EXPECT_TRUE(contains(m, l2)) << l2;
  }
  EXPECT_EQ(default_stride_metrics("GH100").size(), 13u);
  EXPECT_FALSE(contains(default_stride_metrics("GA10B"), "dram__bytes_read.sum"));  // Orin: no dram__ metrics
}

TEST(StaticTable, DefaultBconvMetrics) {
  const Strings ga100 = default_bconv_metrics("GA100");
  for (const char* m : {"dram__bytes_read.sum", "dram__bytes_write.sum", "lts__t_sectors_lookup_hit.sum",
                        "lts__t_sectors_lookup_miss.sum", "sm__inst_executed_pipe_tensor_op_imma.sum"})
    EXPECT_TRUE(contains(ga100, m)) << m;
  EXPECT_FALSE(contains(ga100, "sm__inst_executed_pipe_tensor_op_gmma.sum"));
  EXPECT_TRUE(contains(default_bconv_metrics("GH100"), "sm__inst_executed_pipe_tensor_op_gmma.sum"));
  EXPECT_FALSE(contains(default_bconv_metrics("GA10B"), "dram__bytes_write.sum"));  // Orin: no dram__ metrics
}

TEST(StaticTable, Lookups) {
  EXPECT_TRUE(metric_valid_static("TU102", "sm__inst_executed_pipe_tensor_op_imma.sum"));
  EXPECT_TRUE(metric_valid_static("GH100", "sm__ops_path_tensor_op_bmma_src_int1.sum"));
  for (const auto& m : kGH100Only) {
    EXPECT_FALSE(metric_valid_static("TU102", m)) << m;
    EXPECT_FALSE(metric_valid_static("GA100", m)) << m;
    EXPECT_FALSE(metric_valid_static("GA102", m)) << m;
  }
  EXPECT_TRUE(metric_valid_static("GA100", "smsp__ops_path_tensor_src_int1.sum"));
  EXPECT_FALSE(metric_valid_static("GH100", "smsp__ops_path_tensor_src_int1.sum"));  // sm__ only on Hopper
  EXPECT_FALSE(metric_valid_static("TU116", "sm__ops_path_tensor_src_int1.sum"));
  EXPECT_FALSE(metric_valid_static("GH100", "launch__grid_size"));  // ncu-only
  EXPECT_FALSE(metric_valid_static("GH100", "made_up__metric.sum"));
  EXPECT_FALSE(metric_valid_static("GB202", "sm__cycles_elapsed.max"));  // no family
  EXPECT_FALSE(metric_valid_static("GH100", "sm__cycles_elapsed"));      // rollup required
  for (const auto& m : default_instr_metrics("GH100")) EXPECT_TRUE(contains(known_metrics(), m)) << m;
}

// ---------------------------------------------------------------- against CUPTI

// CUPTI's host API (libcupti + libnvperf_host) must work for these; they need no GPU.
class CuptiOffline : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      btc::cupti::invalid_metrics("GH100", {});
    } catch (const std::exception& e) {
      GTEST_SKIP() << "CUPTI host API unusable here (libnvperf_host not loadable?): " << e.what();
    }
  }
};

TEST_F(CuptiOffline, DefaultsValidMadeUpInvalid) {
  for (const char* chip : {"TU102", "GA100", "GH100"}) {
    SCOPED_TRACE(chip);
    EXPECT_EQ(btc::cupti::invalid_metrics(chip, default_instr_metrics(chip)), Strings());
    EXPECT_EQ(btc::cupti::invalid_metrics(chip, default_bconv_metrics(chip)), Strings());
    EXPECT_EQ(btc::cupti::invalid_metrics(chip, default_stride_metrics(chip)), Strings());
    EXPECT_EQ(btc::cupti::invalid_metrics(chip, {"made_up__metric.sum"}), Strings({"made_up__metric.sum"}));
    EXPECT_EQ(btc::cupti::invalid_metrics(chip, {"launch__grid_size"}), Strings({"launch__grid_size"}));
    // Order kept, valid ones dropped.
    EXPECT_EQ(btc::cupti::invalid_metrics(chip, {"bogus_a.sum", "sm__cycles_elapsed.max", "bogus_b.sum", ""}),
              Strings({"bogus_a.sum", "bogus_b.sum", ""}));
  }
}

TEST_F(CuptiOffline, GH100OnlyMetricsInvalidOnTuring) {
  EXPECT_EQ(btc::cupti::invalid_metrics("TU102", kGH100Only), kGH100Only);
  EXPECT_EQ(btc::cupti::invalid_metrics("GA100", kGH100Only), kGH100Only);
  EXPECT_EQ(btc::cupti::invalid_metrics("GH100", kGH100Only), Strings());
}

TEST_F(CuptiOffline, UnknownChipThrows) {
  try {
    btc::cupti::invalid_metrics("XX999", {"sm__cycles_elapsed.max"});
    FAIL() << "no exception";
  } catch (const btc::cupti::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("XX999"), std::string::npos) << what;
    EXPECT_NE(what.find("GH100"), std::string::npos) << what;  // lists the known chips
  }
  EXPECT_THROW(btc::cupti::invalid_metrics("", {}), btc::cupti::Error);
}

// The real check: every entry of the static table agrees with CUPTI, on every
// chip of every family (TU102, GA100 and GH100 included).
TEST_F(CuptiOffline, StaticTableAgreesWithCupti) {
  const Strings metrics = known_metrics();
  for (const auto& family : kFamilies) {
    for (const auto& chip : chips_in_family(family)) {
      SCOPED_TRACE(family + " " + chip);
      const Strings bad = btc::cupti::invalid_metrics(chip, metrics);
      for (const auto& m : metrics)
        EXPECT_EQ(metric_valid_static(chip, m), !contains(bad, m)) << m << " on " << chip;
    }
  }
}

TEST(CuptiErrors, ErrorCarriesResult) {
  const btc::cupti::Error e("cuptiX failed", 35);
  EXPECT_EQ(e.cupti_result(), 35);
  EXPECT_STREQ(e.what(), "cuptiX failed");
  EXPECT_EQ(btc::cupti::Error("plain").cupti_result(), 0);
}

}  // namespace
