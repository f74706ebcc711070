// Command-line grammar of `btcbench`. Pure logic (no CUDA) so CI tests it.
#pragma once
#include <cstdint>
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
  // Before each CUPTI counter pass: "all" flushes L2 (cold cache, as ncu's
  // --cache-control all), "none" leaves it warm from the previous pass.
  std::string cache_control = "all";
  // --max-seconds S: start no benchmark after S seconds of the sweep and
  // write what ran (btcbench.stopped_early); 0: no limit. SIGTERM or SIGINT
  // stop it the same way, after the benchmark in progress.
  int max_seconds = 0;
};

struct CompareOptions {
  std::string file_a, file_b;          // A is the baseline: ratios are B / A
  std::string filter;                  // regex on run names (searched, as --benchmark_filter does)
  double threshold_pct = 5;            // a change smaller than this is never a regression
  double alpha = 0.05;                 // significance level of the U test
};

// btcbench run MODEL: one network forward (net/runner.h) and its top-5.
struct RunOptions {
  std::string model;                   // a name under models/ or a path
  std::string models_dir = "models";   // --models DIR
  std::string weights;                 // --weights F.safetensors ("" = seeded random)
  uint64_t seed = 1;                   // --seed N: the random weights and input
  int batch = 0;                       // --batch N (0 = the model's)
  std::string input;                   // --input images.npy ("" = seeded random)
  std::string designs = "auto";        // --designs FAMILY[,OP=NAME...] (net/runner.h)
  int repetitions = 20;                // --repetitions N: timed graph replays
  bool cpu = false;                    // --cpu: the CPU reference only (no GPU needed)
  bool check = false;                  // --check: every layer against the CPU reference
  int device = 0;
  // In situ capture (docs/insitu.md); the lists are checked against the model later.
  std::string insitu_dir;              // --insitu DIR ("" = no observer)
  std::string insitu_layers;           // --insitu-layers a,b ("" = all)
  std::string insitu_tensors = "input,pre,output,weights";  // --insitu-tensors
  std::string insitu_images = "0";     // --insitu-images 0,3
  int insitu_every = 1;                // --insitu-every N: every Nth forward
  int insitu_ring = 4;                 // --insitu-ring N: pinned ring slots
  std::string command_line;            // set by main, for the capture's manifest
  int forwards = 0;                    // --forwards N: untimed observed forwards after the timing (0: 3 x every)
};

struct Command {
  enum class Kind { kHelp, kVersion, kInfo, kSweep, kList, kValidate, kCompare, kRun };
  Kind kind = Kind::kHelp;
  SweepOptions sweep;        // kSweep, kList (suite, filter, quick)
  CompareOptions compare;    // kCompare
  RunOptions run;            // kRun
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
