// `btcbench compare A.json B.json`: per benchmark run present in both files,
// the ratio of medians and a two-sided Mann-Whitney U test on the
// repetitions, as Google Benchmark's tools/compare.py reports them. Pure C++
// (no CUDA), so CI tests all of it.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/core/cli.h"
#include "harness/core/json.h"

namespace btc::compare {

// The files cannot be compared (different suites, nothing in common...).
struct CompareError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct MannWhitney {
  double u_a = 0;   // pairs (a_i, b_j) with a_i > b_j, ties counting 1/2
  double z = 0;     // (|U - n_a n_b / 2| - 1/2) / sigma; 0 where sigma is 0
  double p = 1;     // two-sided, normal approximation with tie and continuity correction
};

// Average ranks of all values together (ties share the mean of their ranks),
// U from the rank sum of `a`, sigma^2 = n_a n_b / 12 * ((N + 1) - sum(t^3 - t) / (N (N - 1))).
// Throws std::invalid_argument when either sample is empty.
MannWhitney mann_whitney_u(const std::vector<double>& a, const std::vector<double>& b);

// A test needs this many repetitions on each side; with fewer the row has no
// p-value and cannot count as significant (compare.py's minimum too).
inline constexpr std::size_t kMinRepetitions = 2;

// One run of one file: the repetitions' times (seconds) and `tops` counters.
struct RunSamples {
  std::string name;              // run_name
  std::vector<double> times_s;   // iteration entries
  std::vector<double> tops;      // iteration entries that carry `tops`
  double median_time_s = 0;      // of times_s, else the median aggregate's
  double median_tops = -1;       // of tops, else the median aggregate's; < 0: none
};

// Runs in file order; error entries are left out.
std::vector<RunSamples> run_samples(const json::Value& root);

double median(std::vector<double> v);

struct Row {
  std::string name;
  std::string metric;            // "tops" where both files have it, else "time"
  double a = 0, b = 0;           // medians: TOPS, or time in microseconds
  double ratio = 0;              // b / a
  double change_pct = 0;         // (b / a - 1) * 100
  double worse_pct = 0;          // change toward slower: +change for time, -change for tops
  std::size_t n_a = 0, n_b = 0;  // repetitions
  bool tested = false;           // enough repetitions for the U test
  MannWhitney test;
  bool regression = false;       // tested, p < alpha and worse_pct > threshold
  bool improvement = false;      // tested, p < alpha and -worse_pct > threshold
};

struct Comparison {
  std::string suite;
  std::string device_a, device_b, commit_a, commit_b;
  std::vector<Row> rows;
  std::size_t only_in_a = 0, only_in_b = 0, filtered_out = 0;
  std::vector<std::string> warnings;   // devices or builds differ, few repetitions...
  std::size_t regressions() const;
};

// Both trees validated (load_results_file). CompareError for incompatible
// files (schemas, suites) or no run in common after the filter.
Comparison compare_results(const json::Value& a, const json::Value& b, const CompareOptions& o);

// The header, an aligned table and a closing line, for the terminal.
std::string format_report(const Comparison& c, const CompareOptions& o);

}  // namespace btc::compare
