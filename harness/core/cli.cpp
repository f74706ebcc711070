#include "harness/core/cli.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <sstream>

#include "harness/core/metrics.h"

namespace btc {
namespace {

constexpr int kQuickRepetitions = 3;  // --quick without --repetitions

std::string fmt_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

int parse_int(const std::string& flag, const std::string& text, int lo, int hi) {
  size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty())
    throw UsageError(flag + " takes a whole number, got '" + text + "'");
  if (v < lo || v > hi)
    throw UsageError(flag + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                     ", got " + text);
  return v;
}

double parse_double(const std::string& flag, const std::string& text, double lo, double hi, bool lo_open) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || !std::isfinite(v))
    throw UsageError(flag + " takes a number, got '" + text + "'");
  if ((lo_open ? v <= lo : v < lo) || v > hi)
    throw UsageError(flag + " must be " + (lo_open ? "above " : "at least ") + fmt_number(lo) + " and at most " +
                     fmt_number(hi) + ", got " + text);
  return v;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// Walks "--flag value" and "--flag=value" forms alike.
class ArgCursor {
 public:
  explicit ArgCursor(const std::vector<std::string>& args) : args_(args) {}
  bool done() const { return i_ >= args_.size(); }
  std::string next() {
    std::string a = args_[i_++];
    auto eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value_ = a.substr(eq + 1);
      has_inline_ = true;
      return a.substr(0, eq);
    }
    has_inline_ = false;
    return a;
  }
  std::string value(const std::string& flag) {
    if (has_inline_) { has_inline_ = false; return inline_value_; }
    if (done()) throw UsageError(flag + " needs a value");
    return args_[i_++];
  }
  void no_value(const std::string& flag) const {
    if (has_inline_) throw UsageError(flag + " takes no value");
  }

 private:
  const std::vector<std::string>& args_;
  size_t i_ = 0;
  std::string inline_value_;
  bool has_inline_ = false;
};

}  // namespace

std::string usage_text(const std::vector<std::string>& known_suites) {
  return "usage: btcbench <command> [options]\n"
         "\n"
         "commands:\n"
         "  info [--json] [--device N]     GPU, SM count, clocks, driver, CUDA, CUPTI chip, counter permission\n"
         "  sweep <suite> [options]        run a suite, write one results file under <out>/<gpu-slug>/\n"
         "  list <suite> [--filter RE]     list the suite's benchmark names for this GPU\n"
         "  validate <file.json>           check a results file against the schema\n"
         "  compare <A.json> <B.json>      B against A, per benchmark: ratio of medians, Mann-Whitney U test\n"
         "  run <model> [options]          one network forward on the GPU (or --cpu): designs per layer, top-5, images/s\n"
         "  --version, --help\n"
         "\n"
         "suites: " + join(known_suites) + "\n"
         "\n"
         "sweep options:\n"
         "  --out DIR           results root (default: results)\n"
         "  --force             replace an existing results file of the same name\n"
         "  --no-counters       timing only, no CUPTI counter runs\n"
         "  --metrics a,b,...   CUPTI metrics instead of the suite's defaults\n"
         "  --filter REGEX      only benchmarks whose name matches\n"
         "  --repetitions N     timed repetitions per benchmark (default 7)\n"
         "  --quick             smoke run: fewer configurations, 3 repetitions (unless --repetitions)\n"
         "  --device N          CUDA device ordinal (default 0)\n"
         "  --cache-control all|none  before each counter pass: flush L2 (all, default) or keep it warm\n"
         "  --max-seconds S     start no benchmark after S seconds; write what ran (exit 4). SIGTERM and\n"
         "                      SIGINT (a timeout's) do the same after the benchmark in progress\n"
         "\n"
         "run options:\n"
         "  --batch N           images per forward (default: the model's)\n"
         "  --weights F         safetensors weights (docs/weights.md; default: seeded random)\n"
         "  --input F.npy       fp32/fp16 images, N x C x H x W or N x H x W x C (default: seeded random)\n"
         "  --designs D         FAMILY[,OP=NAME...]: auto or btc_wmma, mma_and, wgmma_and, popc; OP bconv, bfc,\n"
         "                      conv (conv_half, conv_cudnn), fc (fc_half, fc_cublas)\n"
         "  --seed N            seed of the random weights and input (default 1)\n"
         "  --repetitions N     timed CUDA-graph replays (default 20)\n"
         "  --check             every layer against the CPU reference on the GPU's inputs: exact, cuDNN/cuBLAS\n"
         "                      layers within the stated bound (docs/models.md)\n"
         "  --cpu               the CPU reference forward only (no GPU)\n"
         "  --models DIR        where model files are (default: models)\n"
         "  --device N          CUDA device ordinal (default 0)\n"
         "  --insitu DIR        capture layer tensors into DIR (docs/insitu.md): .vti/.pvd + capture.json\n"
         "  --insitu-layers L   layers to capture, a,b,... (default: all)\n"
         "  --insitu-tensors T  of input, pre, output, weights (default: all four)\n"
         "  --insitu-images I   batch indices, a,b,... (default 0)\n"
         "  --insitu-every N    capture every Nth forward (default 1)\n"
         "  --insitu-ring N     pinned ring slots; a due forward finding none free is dropped (default 4)\n"
         "  --forwards N        observed forwards after the timed ones (default 3 x --insitu-every)\n"
         "\n"
         "compare options (exit 0: no significant regression, 1: one or more, 2: usage or incompatible files):\n"
         "  --filter REGEX      only runs whose name matches\n"
         "  --threshold PCT     smallest change that counts as a regression (default 5)\n"
         "  --alpha P           significance level of the U test (default 0.05)\n";
}

Command parse_command_line(const std::vector<std::string>& args,
                           const std::vector<std::string>& known_suites) {
  Command cmd;
  if (args.empty()) throw UsageError("no command given");
  ArgCursor cur(args);
  const std::string verb = cur.next();
  if (verb == "--help" || verb == "-h" || verb == "help") { cmd.kind = Command::Kind::kHelp; return cmd; }
  if (verb == "--version") { cmd.kind = Command::Kind::kVersion; return cmd; }

  if (verb == "info") {
    cmd.kind = Command::Kind::kInfo;
  } else if (verb == "sweep") {
    cmd.kind = Command::Kind::kSweep;
  } else if (verb == "list") {
    cmd.kind = Command::Kind::kList;
  } else if (verb == "validate") {
    cmd.kind = Command::Kind::kValidate;
  } else if (verb == "compare") {
    cmd.kind = Command::Kind::kCompare;
  } else if (verb == "run") {
    cmd.kind = Command::Kind::kRun;
  } else {
    throw UsageError("unknown command '" + verb + "'");
  }

  std::vector<std::string> positional;
  while (!cur.done()) {
    const std::string a = cur.next();
    const bool sweep_like = cmd.kind == Command::Kind::kSweep || cmd.kind == Command::Kind::kList;
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      if (a.rfind("-", 0) == 0 && a.size() > 1) throw UsageError("unknown flag '" + a + "'");
      positional.push_back(a);
    } else if (cmd.kind == Command::Kind::kRun && a == "--batch") {
      cmd.run.batch = parse_int(a, cur.value(a), 1, 1 << 20);
    } else if (cmd.kind == Command::Kind::kRun && a == "--weights") {
      cmd.run.weights = cur.value(a);
      if (cmd.run.weights.empty()) throw UsageError("--weights needs a file");
    } else if (cmd.kind == Command::Kind::kRun && a == "--input") {
      cmd.run.input = cur.value(a);
      if (cmd.run.input.empty()) throw UsageError("--input needs a file");
    } else if (cmd.kind == Command::Kind::kRun && a == "--designs") {
      cmd.run.designs = cur.value(a);
      if (cmd.run.designs.empty()) throw UsageError("--designs needs a value");
    } else if (cmd.kind == Command::Kind::kRun && a == "--seed") {
      cmd.run.seed = static_cast<uint64_t>(parse_int(a, cur.value(a), 0, 1 << 30));
    } else if (cmd.kind == Command::Kind::kRun && a == "--repetitions") {
      cmd.run.repetitions = parse_int(a, cur.value(a), 1, 100000);
    } else if (cmd.kind == Command::Kind::kRun && a == "--models") {
      cmd.run.models_dir = cur.value(a);
    } else if (cmd.kind == Command::Kind::kRun && (a == "--check" || a == "--cpu")) {
      cur.no_value(a);
      (a == "--check" ? cmd.run.check : cmd.run.cpu) = true;
    } else if (cmd.kind == Command::Kind::kRun && a == "--device") {
      cmd.run.device = parse_int(a, cur.value(a), 0, 63);
    } else if (cmd.kind == Command::Kind::kRun && a == "--insitu") {
      cmd.run.insitu_dir = cur.value(a);
      if (cmd.run.insitu_dir.empty()) throw UsageError("--insitu needs a directory");
    } else if (cmd.kind == Command::Kind::kRun &&
               (a == "--insitu-layers" || a == "--insitu-tensors" || a == "--insitu-images")) {
      std::string& v = a == "--insitu-layers" ? cmd.run.insitu_layers
                       : a == "--insitu-tensors" ? cmd.run.insitu_tensors : cmd.run.insitu_images;
      v = cur.value(a);
      if (v.empty()) throw UsageError(a + " needs a list (a,b,...)");
    } else if (cmd.kind == Command::Kind::kRun && a == "--insitu-every") {
      cmd.run.insitu_every = parse_int(a, cur.value(a), 1, 1 << 20);
    } else if (cmd.kind == Command::Kind::kRun && a == "--insitu-ring") {
      cmd.run.insitu_ring = parse_int(a, cur.value(a), 1, 1024);
    } else if (cmd.kind == Command::Kind::kRun && a == "--forwards") {
      cmd.run.forwards = parse_int(a, cur.value(a), 1, 1 << 20);
    } else if (a == "--json" && cmd.kind == Command::Kind::kInfo) {
      cur.no_value(a);
      cmd.json = true;
    } else if (a == "--device" && (cmd.kind == Command::Kind::kInfo || sweep_like)) {
      cmd.device = cmd.sweep.device = parse_int(a, cur.value(a), 0, 63);
    } else if (a == "--filter" && sweep_like) {
      cmd.sweep.filter = cur.value(a);
    } else if (a == "--filter" && cmd.kind == Command::Kind::kCompare) {
      cmd.compare.filter = cur.value(a);
      try {
        std::regex check(cmd.compare.filter);
      } catch (const std::regex_error& e) {
        throw UsageError("--filter '" + cmd.compare.filter + "' is not a valid regular expression: " + e.what());
      }
    } else if (a == "--threshold" && cmd.kind == Command::Kind::kCompare) {
      cmd.compare.threshold_pct = parse_double(a, cur.value(a), 0, 1000, false);
    } else if (a == "--alpha" && cmd.kind == Command::Kind::kCompare) {
      cmd.compare.alpha = parse_double(a, cur.value(a), 0, 1, true);
    } else if (cmd.kind == Command::Kind::kSweep && a == "--cache-control") {
      cmd.sweep.cache_control = cur.value(a);
      if (cmd.sweep.cache_control != "all" && cmd.sweep.cache_control != "none")
        throw UsageError("--cache-control takes all or none, got '" + cmd.sweep.cache_control + "'");
    } else if (a == "--quick" && sweep_like) {
      cur.no_value(a);
      cmd.sweep.quick = true;
    } else if (cmd.kind == Command::Kind::kSweep && a == "--out") {
      cmd.sweep.out_dir = cur.value(a);
      if (cmd.sweep.out_dir.empty()) throw UsageError("--out needs a non-empty directory");
    } else if (cmd.kind == Command::Kind::kSweep && a == "--force") {
      cur.no_value(a);
      cmd.sweep.force = true;
    } else if (cmd.kind == Command::Kind::kSweep && a == "--no-counters") {
      cur.no_value(a);
      cmd.sweep.counters = false;
    } else if (cmd.kind == Command::Kind::kSweep && a == "--metrics") {
      try {
        cmd.sweep.metrics = parse_metric_list(cur.value(a));
      } catch (const std::invalid_argument& e) {
        throw UsageError(std::string("--metrics: ") + e.what());
      }
    } else if (cmd.kind == Command::Kind::kSweep && a == "--max-seconds") {
      cmd.sweep.max_seconds = parse_int(a, cur.value(a), 1, 7 * 24 * 3600);
    } else if (cmd.kind == Command::Kind::kSweep && a == "--repetitions") {
      cmd.sweep.repetitions = parse_int(a, cur.value(a), 1, 1000);
      cmd.sweep.repetitions_given = true;
    } else {
      throw UsageError("unknown flag '" + a + "' for '" + verb + "'");
    }
  }

  switch (cmd.kind) {
    case Command::Kind::kInfo:
      if (!positional.empty()) throw UsageError("info takes no arguments, got '" + positional[0] + "'");
      break;
    case Command::Kind::kSweep:
    case Command::Kind::kList: {
      if (positional.size() != 1) throw UsageError(verb + " needs exactly one suite (" + join(known_suites) + ")");
      cmd.sweep.suite = positional[0];
      if (std::find(known_suites.begin(), known_suites.end(), cmd.sweep.suite) == known_suites.end())
        throw UsageError("unknown suite '" + cmd.sweep.suite + "' (known: " + join(known_suites) + ")");
      // An explicit --repetitions wins, even when it equals the default.
      if (cmd.sweep.quick && !cmd.sweep.repetitions_given) cmd.sweep.repetitions = kQuickRepetitions;
      if (!cmd.sweep.counters && !cmd.sweep.metrics.empty())
        throw UsageError("--metrics and --no-counters contradict each other");
      break;
    }
    case Command::Kind::kValidate:
      if (positional.size() != 1) throw UsageError("validate needs exactly one file");
      cmd.file = positional[0];
      break;
    case Command::Kind::kRun:
      if (positional.size() != 1) throw UsageError("run needs exactly one model (a name under models/ or a path)");
      cmd.run.model = positional[0];
      if (cmd.run.cpu && cmd.run.check) throw UsageError("--cpu and --check contradict each other (--check needs the GPU)");
      break;
    case Command::Kind::kCompare:
      if (positional.size() != 2) throw UsageError("compare needs exactly two files (A.json B.json)");
      cmd.compare.file_a = positional[0];
      cmd.compare.file_b = positional[1];
      break;
    default:
      break;
  }
  return cmd;
}

}  // namespace btc
