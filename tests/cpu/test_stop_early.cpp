// A sweep stopped between benchmarks (--max-seconds, SIGTERM, SIGINT) writes
// Google Benchmark's JSONReporter text so far, closed by
// close_unfinalized_benchmark_json (harness/app/main.cpp). Here the real
// reporter runs two tiny benchmarks: its text after the first one's runs,
// closed, parses as a results tree with exactly those runs, and a full run's
// Finalize closes it the same way.
#include <benchmark/benchmark.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "harness/core/json.h"
#include "harness/core/results.h"

namespace btc {
namespace {

// Forwards to the JSON reporter and keeps its text after the first benchmark.
class SnapshotReporter : public benchmark::BenchmarkReporter {
 public:
  SnapshotReporter(benchmark::BenchmarkReporter& file, const std::ostringstream& out) : file_(file), out_(out) {}
  bool ReportContext(const Context& c) override { return file_.ReportContext(c); }
  void ReportRuns(const std::vector<Run>& runs) override {
    file_.ReportRuns(runs);
    if (after_first_.empty()) after_first_ = out_.str();
  }
  void Finalize() override { file_.Finalize(); }
  std::string after_first_;

 private:
  benchmark::BenchmarkReporter& file_;
  const std::ostringstream& out_;
};

std::vector<std::string> names(const json::Value& root) {
  std::vector<std::string> v;
  for (const json::Value& b : root.find("benchmarks")->as_array()) v.push_back(b.find("name")->as_string());
  return v;
}

TEST(StopEarly, TheReportersTextSoFarClosesToTheRunsThatFinished) {
  auto noop = [](benchmark::State& st) {
    for (auto _ : st) benchmark::DoNotOptimize(st.iterations());
  };
  benchmark::RegisterBenchmark("stop_early/first", noop)->Iterations(1)->Repetitions(2)->ReportAggregatesOnly(false);
  benchmark::RegisterBenchmark("stop_early/second", noop)->Iterations(1);
  std::ostringstream out, err;
  benchmark::JSONReporter file;
  file.SetOutputStream(&out);
  file.SetErrorStream(&err);
  SnapshotReporter snap(file, out);
  ASSERT_EQ(benchmark::RunSpecifiedBenchmarks(&snap, "stop_early/.*"), 2u);

  const json::Value partial = json::parse(close_unfinalized_benchmark_json(snap.after_first_));
  ASSERT_TRUE(partial.find("context") != nullptr);
  const std::vector<std::string> got = names(partial);
  ASSERT_FALSE(got.empty());
  for (const std::string& n : got) EXPECT_EQ(n.rfind("stop_early/first", 0), 0u) << n;  // runs and aggregates
  EXPECT_GE(got.size(), 2u);  // both repetitions

  // Finalize appends exactly what the close does: the full text is the same form.
  const std::string full = out.str();
  const std::string unfinalized = full.substr(0, full.size() - (close_unfinalized_benchmark_json("").size()));
  EXPECT_EQ(close_unfinalized_benchmark_json(unfinalized), full);
  const std::vector<std::string> all = names(json::parse(full));
  EXPECT_EQ(all.back().rfind("stop_early/second", 0), 0u);
  EXPECT_GT(all.size(), got.size());
}

}  // namespace
}  // namespace btc
