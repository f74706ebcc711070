#include "harness/core/results.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/common/temp_dir.h"

namespace btc {
namespace {
namespace fs = std::filesystem;

using test::slurp;

using test::TempDir;


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
                 "sm_count": 132, "sm_clock_max_mhz": 1980, "sm_clock_at_start_mhz": null,
                 "driver_version": "580.159.04", "cuda_runtime": 13000},
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

// A sweep that stopped early says so: {reason, after_s}, checked when present.
TEST(Results, StoppedEarlyIsOptionalAndChecked) {
  json::Value v = valid_results();
  json::Value stop = json::Value::object();
  stop.set("reason", "signal 15 (Terminated)");
  stop.set("after_s", 200.5);
  v.find("btcbench")->set("stopped_early", stop);
  EXPECT_TRUE(validate_results(v).empty());
  json::Value bad = json::Value::object();
  bad.set("reason", 15);
  v.find("btcbench")->set("stopped_early", bad);
  EXPECT_EQ(validate_results(v),
            std::vector<std::string>{"'btcbench.stopped_early' must be {reason: string, after_s: number}"});
}

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

  // Every problem of an entry is named, with the entry.
  v = valid_results();
  json::Value& entry = v.find("benchmarks")->as_array()[1];
  entry.set("real_time", -2000.0);
  entry.set("iterations", -1);
  EXPECT_EQ(validate_results(v),
            (std::vector<std::string>{
                "benchmark 'tput/mma_and_m16n8k256/wps:8/ilp:4/manual_time_median': 'real_time' is negative (-2000)",
                "benchmark 'tput/mma_and_m16n8k256/wps:8/ilp:4/manual_time_median': 'iterations' is negative (-1)"}));

  // An entry that reports an error needs no time, but its numbers still cannot be negative.
  v = valid_results();
  json::Value& failed = v.find("benchmarks")->as_array()[0];
  failed.set("error_occurred", true);
  failed.set("real_time", json::Value());
  EXPECT_TRUE(validate_results(v).empty());
  failed.set("tops", -1.0);
  EXPECT_EQ(validate_results(v).size(), 1u);

  v = valid_results();
  json::Value bt = json::Value::object();
  bt.set("schema", "btcbench.results.v1");
  v.set("btcbench", bt);
  EXPECT_GE(validate_results(v).size(), 7u);  // every missing key is reported, not just the first
}

TEST(Results, NormalizeDropsGoogleBenchmarkCountSuffixes) {
  json::Value root = json::parse(R"({"benchmarks": [
    {"name": "lat/x/iterations:3/repeats:7/manual_time_median", "run_name": "lat/x/iterations:3/repeats:7/manual_time"},
    {"name": "tput/x/wps:8/ilp:2/iterations:5/repeats:7/manual_time"},
    {"name": "net/m/batch:512/impl:btc/min_time:0.100/repeats:3/manual_time_p99"}]})");
  normalize_benchmark_names(root);
  const auto& b = root.find("benchmarks")->as_array();
  EXPECT_EQ(b[2].find("name")->as_string(), "net/m/batch:512/impl:btc/manual_time_p99");
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

// Filesystem behaviour for the move step of write_file_atomic, as seams.
int fail_eperm(const char*, const char*) { errno = EPERM; return -1; }
int fail_einval(const char*, const char*) { errno = EINVAL; return -1; }
int fail_eexist(const char*, const char*) { errno = EEXIST; return -1; }
int fail_eio(const char*, const char*) { errno = EIO; return -1; }
int real_rename(const char* from, const char* to) { return ::rename(from, to); }
int real_link(const char* from, const char* to) { return ::link(from, to); }

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(Results, AtomicWriteWithoutHardLinksFallsBackToRenameNoreplace) {
  TempDir dir;
  const std::string path = dir.file("r.json");
  const auto sys = detail::system_move_ops();
  // A filesystem without hard links (FAT, some FUSE and network mounts): link() says EPERM.
  detail::write_file_atomic(path, "first\n", false, {fail_eperm, sys.rename_noreplace, real_rename});
  EXPECT_EQ(slurp(path), "first\n");
  EXPECT_EQ(names_in(dir.file("")), std::vector<std::string>{"r.json"});
  // ... and still never clobbers.
  EXPECT_THROW(detail::write_file_atomic(path, "second\n", false, {fail_eperm, sys.rename_noreplace, real_rename}),
               ResultsError);
  EXPECT_EQ(slurp(path), "first\n");
}

TEST(Results, AtomicWriteWithoutLinkOrRenameNoreplaceUsesAPlaceholder) {
  TempDir dir;
  const std::string path = dir.file("r.json");
  detail::write_file_atomic(path, "first\n", false, {fail_eperm, fail_einval, real_rename});
  EXPECT_EQ(slurp(path), "first\n");
  EXPECT_EQ(names_in(dir.file("")), std::vector<std::string>{"r.json"});
}

TEST(Results, AtomicWriteKeepsTheTemporaryFileWhenEveryWayFails) {
  TempDir dir;
  const std::string path = dir.file("r.json");
  try {
    detail::write_file_atomic(path, "only copy\n", false, {fail_eperm, fail_einval, fail_eio});
    FAIL() << "no way to move the file worked, yet no error";
  } catch (const ResultsError& e) {
    const std::string msg = e.what();
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    EXPECT_NE(msg.find("link: Operation not permitted"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rename: Input/output error"), std::string::npos) << msg;
    EXPECT_NE(msg.find("the results are kept in '" + tmp + "'"), std::string::npos) << msg;
    EXPECT_EQ(slurp(tmp), "only copy\n");
  }
  EXPECT_FALSE(fs::exists(path)) << "the placeholder stayed behind";
}

TEST(Results, AtomicWriteKeepsItsResultsWhenAnotherWriterWins) {
  TempDir dir;
  const std::string path = dir.file("r.json");
  // The target appears between the existence check and the move (link says EEXIST).
  try {
    detail::write_file_atomic(path, "mine\n", false, {fail_eexist, fail_einval, real_rename});
    FAIL();
  } catch (const ResultsError& e) {
    EXPECT_NE(std::string(e.what()).find("already exists"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("the results are kept in"), std::string::npos) << e.what();
  }
  EXPECT_EQ(slurp(path + ".tmp." + std::to_string(::getpid())), "mine\n");
}

TEST(Results, ForcedWriteKeepsTheTemporaryFileWhenRenameFails) {
  TempDir dir;
  const std::string path = dir.file("r.json");
  write_file_atomic(path, "old\n", false);
  EXPECT_THROW(detail::write_file_atomic(path, "new\n", true, {real_link, fail_einval, fail_eio}), ResultsError);
  EXPECT_EQ(slurp(path), "old\n");
  EXPECT_EQ(slurp(path + ".tmp." + std::to_string(::getpid())), "new\n");
}

TEST(Results, OutputDirProbe) {
  TempDir dir;
  EXPECT_NO_THROW(check_output_dir(dir.file("a/b")));  // created
  EXPECT_TRUE(fs::is_directory(dir.file("a/b")));
  EXPECT_TRUE(names_in(dir.file("a/b")).empty()) << "the probe file stayed behind";
  // A path under a regular file cannot be a folder, for root too.
  std::ofstream(dir.file("plain")) << "x";
  try {
    check_output_dir(dir.file("plain/out"));
    FAIL();
  } catch (const ResultsError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create the output folder '" + dir.file("plain/out") + "'"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(check_output_dir(dir.file("plain")), ResultsError);
  if (geteuid() != 0) {
    fs::create_directory(dir.file("ro"));
    chmod(dir.file("ro").c_str(), 0500);
    EXPECT_THROW(check_output_dir(dir.file("ro")), ResultsError);
  }
}

TEST(Results, NoClobberCheck) {
  TempDir dir;
  std::ofstream(dir.file("r.json")) << "x";
  EXPECT_THROW(check_no_clobber(dir.file("r.json"), false), ResultsError);
  EXPECT_NO_THROW(check_no_clobber(dir.file("r.json"), true));
  EXPECT_NO_THROW(check_no_clobber(dir.file("other.json"), false));
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
