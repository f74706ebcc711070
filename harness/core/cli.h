// Command-line grammar of `btcbench`. Pure logic (no CUDA) so CI tests it.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace btc {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct SweepOptions {
  std::string suite;
  std::string out_dir = "results";     // the file goes to <out_dir>/<gpu-slug>/
  bool force = false;                  // replace an existing results file
  bool counters = true;                // --no-counters: timing only
  std::vector<std::string> metrics;    // --metrics a,b: replaces the suite's defaults
  std::string filter;                  // regex on benchmark names
  int repetitions = 7;
  bool repetitions_given = false;      // --repetitions was on the command line: --quick keeps it
  bool quick = false;                  // fewer configs and repetitions: a smoke run
  int device = 0;
};

struct Command {
  enum class Kind { kHelp, kVersion, kInfo, kSweep, kList, kValidate };
  Kind kind = Kind::kHelp;
  SweepOptions sweep;        // kSweep, kList (suite, filter, quick)
  bool json = false;         // kInfo --json
  int device = 0;            // kInfo
  std::string file;          // kValidate
};

// `args` excludes argv[0]. Unknown flags, missing values, bad numbers and
// unknown suites throw UsageError with a message that names the problem.
Command parse_command_line(const std::vector<std::string>& args,
                           const std::vector<std::string>& known_suites);

std::string usage_text(const std::vector<std::string>& known_suites);

}  // namespace btc
