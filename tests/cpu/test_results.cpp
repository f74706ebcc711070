#include "harness/core/results.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace btc {
namespace {
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "btc_results_XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A minimal valid results tree, as the harness builds it.
json::Value valid_results() {
  json::Value root = json::parse(R"({
    "context": {"date": "2026-11-27"},
    "benchmarks": [
      {"name": "lat/mma_and_m16n8k256/manual_time", "real_time": 1.5, "time_unit": "us"},
      {"name": "tput/mma_and_m16n8k256/wps:8/ilp:4/manual_time_median", "real_time": 2000, "time_unit": "us"}
    ],
    "btcbench": {
      "schema": "btcbench.results.v1", "suite": "instr", "created_utc": "2026-11-27T22:00:00Z",
      "command_line": ["btcbench", "sweep", "instr"],
      "git": {"commit": "0123456789abcdef0123456789abcdef01234567"},
      "device": {"name": "NVIDIA H100 80GB HBM3", "slug": "nvidia-h100-80gb-hbm3", "cc": "9.0",
                 "sm_count": 132, "driver_version": "580.159.04"},
      "counters": {"enabled": false, "reason": "disabled with --no-counters"},
      "forms": {}, "skipped": []
    }})");
  return root;
}

TEST(Results, Slug) {
  EXPECT_EQ(gpu_slug("NVIDIA H100 80GB HBM3"), "nvidia-h100-80gb-hbm3");
  EXPECT_EQ(gpu_slug("  Tesla T4 "), "tesla-t4");
  EXPECT_EQ(gpu_slug("NVIDIA GeForce RTX 2080 (rev. a)"), "nvidia-geforce-rtx-2080-rev-a");
  EXPECT_EQ(gpu_slug("!!"), "unknown-gpu");
}

TEST(Results, Filename) {
  EXPECT_EQ(results_filename("instr", "20261127T220000Z", "0123456789abcdef"), "instr-20261127T220000Z-0123456.json");
  EXPECT_EQ(results_filename("instr", "20261127T220000Z", "unknown"), "instr-20261127T220000Z-unknown.json");
  EXPECT_EQ(results_filename("instr", "20261127T220000Z", ""), "instr-20261127T220000Z-nogit.json");
}

TEST(Results, ValidTreePasses) { EXPECT_TRUE(validate_results(valid_results()).empty()); }

TEST(Results, ForeignAndBrokenTreesAreNamed) {
  json::Value plain = json::parse(R"({"context": {}, "benchmarks": []})");
  ASSERT_EQ(validate_results(plain).size(), 1u);
  EXPECT_NE(validate_results(plain)[0].find("not a btcbench results file"), std::string::npos);

  json::Value v = valid_results();
  v.find("btcbench")->set("schema", "btcbench.results.v9");
  EXPECT_NE(validate_results(v)[0].find("is not btcbench.results.v1"), std::string::npos);

  v = valid_results();
  v.find("btcbench")->find("device")->set("sm_count", "many");
  EXPECT_EQ(validate_results(v), std::vector<std::string>{"'btcbench.device.sm_count' has the wrong type"});

  v = valid_results();
  v.find("benchmarks")->as_array()[0].set("name", "Latency Of Things");
  ASSERT_EQ(validate_results(v).size(), 1u);
  EXPECT_NE(validate_results(v)[0].find("naming grammar"), std::string::npos);

  v = valid_results();
  json::Value bt = json::Value::object();
  bt.set("schema", "btcbench.results.v1");
  v.set("btcbench", bt);
  EXPECT_GE(validate_results(v).size(), 7u);  // every missing key is reported, not just the first
}

TEST(Results, NormalizeDropsGoogleBenchmarkCountSuffixes) {
  json::Value root = json::parse(R"({"benchmarks": [
    {"name": "lat/x/iterations:3/repeats:7/manual_time_median", "run_name": "lat/x/iterations:3/repeats:7/manual_time"},
    {"name": "tput/x/wps:8/ilp:2/iterations:5/repeats:7/manual_time"}]})");
  normalize_benchmark_names(root);
  const auto& b = root.find("benchmarks")->as_array();
  EXPECT_EQ(b[0].find("name")->as_string(), "lat/x/manual_time_median");
  EXPECT_EQ(b[0].find("run_name")->as_string(), "lat/x/manual_time");
  EXPECT_EQ(b[1].find("name")->as_string(), "tput/x/wps:8/ilp:2/manual_time");
}

TEST(Results, AtomicWriteNeverClobbers) {
  TempDir dir;
  const std::string path = dir.file("gpu/instr.json");  // folder is created
  write_file_atomic(path, "first\n", false);
  EXPECT_EQ(slurp(path), "first\n");
  try {
    write_file_atomic(path, "second\n", false);
    FAIL() << "overwrote without --force";
  } catch (const ResultsError& e) {
    EXPECT_NE(std::string(e.what()).find("pass --force"), std::string::npos);
  }
  EXPECT_EQ(slurp(path), "first\n");
  write_file_atomic(path, "second\n", true);
  EXPECT_EQ(slurp(path), "second\n");
  for (const auto& entry : fs::directory_iterator(fs::path(path).parent_path()))
    EXPECT_EQ(entry.path().filename(), "instr.json") << "temporary file left behind";
}

TEST(Results, UnwritableFolderIsAClearError) {
  if (geteuid() == 0) GTEST_SKIP() << "running as root: permissions are not enforced";
  TempDir dir;
  fs::create_directory(dir.file("ro"));
  chmod(dir.file("ro").c_str(), 0500);
  EXPECT_THROW(write_file_atomic(dir.file("ro/x.json"), "x", false), ResultsError);
}

TEST(Results, LoadFileReportsFileAndProblem) {
  TempDir dir;
  const std::string good = dir.file("good.json");
  write_file_atomic(good, valid_results().dump(), false);
  EXPECT_NO_THROW(load_results_file(good));

  const std::string bad = dir.file("bad.json");
  write_file_atomic(bad, "{\"benchmarks\": [", false);
  try {
    load_results_file(bad);
    FAIL();
  } catch (const ResultsError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json' is not valid JSON"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_results_file(dir.file("missing.json")), ResultsError);
}

}  // namespace
}  // namespace btc
