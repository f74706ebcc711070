// btcbench: characterization sweeps of the 1-bit tensor cores.
// Exit codes: 0 ok, 1 failure (message says why), 2 usage error, 3 no GPU,
// 4 a sweep stopped early (--max-seconds, SIGTERM, SIGINT) and wrote what ran;
// compare: 0 no significant regression, 1 a regression, 2 usage or incompatible files.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <execinfo.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <set>
#include <sstream>

#include "harness/app/run_command.h"
#include "harness/core/bench_util.h"
#include "harness/core/build_info.h"
#include "harness/core/check.h"
#include "harness/core/cli.h"
#include "harness/core/code_target.h"
#include "harness/core/compare.h"
#include "harness/core/cupti_profiler.h"
#include "harness/core/device_info.h"
#include "harness/core/gpu_conditions.h"
#include "harness/core/nvml.h"
#include "harness/core/results.h"
#include "harness/core/suite.h"
#include "kernels/atoms/launch_env.h"

namespace btc {
namespace {

constexpr int kExitFailure = 1, kExitUsage = 2, kExitNoGpu = 3, kExitStopped = 4;

// SIGTERM / SIGINT during a sweep: the flag, read after each benchmark (the
// sweep then writes what ran); a second signal ends the process at once.
volatile std::sig_atomic_t stop_signal = 0;
extern "C" void request_stop(int sig) {
  if (stop_signal != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
  stop_signal = sig;
}

// One short line per benchmark (its median and the figures that matter) as
// progress, while the JSON reporter gets every run, repetitions included.
// It also pairs the NVML samples taken after each repetition's timed runs
// (record_gpu_conditions) with the repetitions Google Benchmark reports next,
// in run order, into the throttle log the results file gets.
class ProgressReporter : public benchmark::BenchmarkReporter {
 public:
  ProgressReporter(benchmark::BenchmarkReporter& file, int sm_clock_max_mhz)
      : file_(file), sm_clock_max_mhz_(sm_clock_max_mhz) {}
  // Called after each benchmark's runs reached the file reporter.
  void set_after_each(std::function<void()> f) { after_each_ = std::move(f); }
  bool ReportContext(const Context& c) override { return file_.ReportContext(c); }
  void ReportRuns(const std::vector<Run>& runs) override {
    file_.ReportRuns(runs);
    log_samples(runs);
    for (const Run& r : runs) {
      if (r.error_occurred) {
        std::cout << fmt::format("[{:4}] {}  ERROR: {}\n", ++count_, r.benchmark_name(), r.error_message);
        continue;
      }
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (!median && !(r.run_type == Run::RT_Iteration && r.repetitions <= 1)) continue;
      const std::string name = normalize_benchmark_name(r.run_name.str());
      std::string line = fmt::format("[{:4}] {:<52} {:>10.1f} us", ++count_, name, r.GetAdjustedRealTime());
      for (const char* key : {"tops", "pct_peak", "cycles_per_inst", "sm_clock_mhz"}) {
        auto it = r.counters.find(key);
        if (it != r.counters.end()) line += fmt::format("  {} {:.4g}", key, it->second.value);
      }
      if (auto it = r.counters.find("sm_clock_mhz");
          it != r.counters.end() && suspect_clock(it->second.value, sm_clock_max_mhz_))
        line += fmt::format(" (suspect: above the {} MHz maximum)", sm_clock_max_mhz_);
      if (const std::string why = throttled(name); !why.empty()) line += "  THROTTLED: " + why;
      std::cout << line << std::endl;
    }
    if (after_each_) after_each_();
  }
  void Finalize() override { file_.Finalize(); }
  const ThrottleLog& throttle_log() const { return throttle_; }

 private:
  void log_samples(const std::vector<Run>& runs) {
    const bool repetitions =
        std::any_of(runs.begin(), runs.end(), [](const Run& r) { return r.run_type == Run::RT_Iteration; });
    if (!repetitions) return;
    const std::vector<GpuSample> samples = take_gpu_samples();
    size_t next = 0;
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.error_occurred || next >= samples.size()) continue;
      auto& reps = throttle_[normalize_benchmark_name(r.run_name.str())];
      const auto i = static_cast<size_t>(std::max<int64_t>(r.repetition_index, 0));
      if (reps.size() <= i) reps.resize(i + 1);
      reps[i] = throttle_reasons(samples[next++]);
    }
  }
  // The union of a run's reasons over its repetitions, each once.
  std::string throttled(const std::string& run) const {
    const auto it = throttle_.find(run);
    std::set<std::string> reasons;
    if (it != throttle_.end())
      for (const auto& rep : it->second) {
        std::stringstream ss(rep);
        for (std::string r; std::getline(ss, r, ',');)
          if (!r.empty()) reasons.insert(r);
      }
    std::string all;
    for (const auto& r : reasons) all += (all.empty() ? "" : ",") + r;
    return all;
  }

  benchmark::BenchmarkReporter& file_;
  int sm_clock_max_mhz_;
  int count_ = 0;
  ThrottleLog throttle_;
  std::function<void()> after_each_;
};

// The build, and which of its code targets runs on this device (an older
// target's results are functional, not that arch's performance).
json::Value build_json(const CodeTarget& code) {
  const BuildInfo& b = build_info();
  json::Value v = json::Value::object();
  v.set("cuda_toolkit", b.cuda_toolkit);
  v.set("cuda_archs", b.cuda_archs);
  v.set("compiler", b.compiler);
  v.set("code_arch", code.code_arch);
  v.set("code_sm90a", code.sm90a);
  v.set("code_target", describe(code));
  return v;
}

json::Value git_json() {
  const BuildInfo& b = build_info();
  json::Value v = json::Value::object();
  v.set("commit", b.git_commit);
  v.set("describe", b.git_describe);
  v.set("dirty", b.git_dirty);
  return v;
}

// Sets up counters for the sweep, or says why they are off and carries on.
std::unique_ptr<cupti::RangeProfiler> make_profiler(const SweepOptions& o, const Suite& suite, const DeviceInfo& dev,
                                                    json::Value& counters) {
  counters.set("enabled", false);
  if (!o.counters) {
    counters.set("reason", "disabled with --no-counters");
    return nullptr;
  }
  const cupti::Availability avail = cupti::counter_availability(dev.ordinal);
  if (!avail.available) {
    std::cerr << "btcbench: CUPTI counters unavailable, timing only: " << avail.reason << "\n";
    counters.set("reason", avail.reason);
    return nullptr;
  }
  const auto metrics = o.metrics.empty() ? suite.default_metrics(dev.chip) : o.metrics;
  auto prof = std::make_unique<cupti::RangeProfiler>(dev.ordinal, metrics);  // throws on invalid names
  // Cache control as ncu offers it: every pass starts with L2 flushed
  // ("all"), or warm from the timing runs and the previous pass ("none").
  if (o.cache_control == "all") {
    auto flusher = std::make_shared<L2Flusher>(dev.l2_bytes);
    counters.set("cache_flush_bytes", static_cast<int64_t>(flusher->bytes()));
    prof->set_before_pass([flusher] { flusher->flush(); });
  }
  counters.set("cache_control", o.cache_control);
  counters.set("enabled", true);
  counters.set("reason", "");
  json::Value m = json::Value::array();
  for (const auto& name : metrics) m.push_back(name);
  counters.set("metrics", std::move(m));
  counters.set("passes", prof->num_passes());
  return prof;
}

// Before anything runs: the results can be written where asked. Throws
// ResultsError naming the folder or file.
void check_output_before_sweep(const std::string& dir, const std::string& path, bool force) {
  try {
    check_output_dir(dir);
    if (!path.empty()) check_no_clobber(path, force);
  } catch (const ResultsError& e) {
    throw ResultsError(std::string(e.what()) + "; checked before the sweep, nothing ran");
  }
}

int run_sweep(const Command& cmd, const std::vector<std::string>& argv_all, bool list_only) {
  const SweepOptions& o = cmd.sweep;
  const Suite& suite = *find_suite(o.suite);
  // Exit codes in this order: usage (2, from the parser), then the output
  // path (1: it is checked before the GPU, so a bad --out fails the same on
  // any machine), then no GPU (3).
  if (!list_only) check_output_before_sweep(o.out_dir, "", o.force);
  SuiteContext ctx;
  ctx.options = o;
  ctx.device = query_device(o.device);
  BTC_CUDA_CHECK(cudaSetDevice(o.device));
  ctx.code = code_target(o.device);
  // The file is named when the sweep starts, so its folder and name are
  // checked now (a clash after an hour of benchmarks would cost the hour).
  const std::string out_dir = o.out_dir + "/" + ctx.device.slug;
  const std::string path = out_dir + "/" + results_filename(o.suite, utc_now_compact(), build_info().git_commit);
  if (!list_only) check_output_before_sweep(out_dir, path, o.force);

  json::Value counters = json::Value::object();
  std::unique_ptr<cupti::RangeProfiler> profiler;
  if (!list_only) profiler = make_profiler(o, suite, ctx.device, counters);
  ctx.profiler = profiler.get();
  suite.register_benchmarks(ctx);

  std::vector<std::string> gb_args = {"btcbench"};
  if (!o.filter.empty()) gb_args.push_back("--benchmark_filter=" + o.filter);
  if (list_only) gb_args.push_back("--benchmark_list_tests=true");
  std::vector<char*> gb_argv;
  for (auto& a : gb_args) gb_argv.push_back(a.data());
  int gb_argc = static_cast<int>(gb_argv.size());
  benchmark::Initialize(&gb_argc, gb_argv.data());
  // Before the context: a listing has no profiler, so no counters' reason to read.
  if (list_only) {
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
  }

  const DeviceInfo& d = ctx.device;
  const BuildInfo& b = build_info();
  benchmark::AddCustomContext("btcbench_schema", kResultsSchema);
  benchmark::AddCustomContext("btcbench_suite", o.suite);
  benchmark::AddCustomContext("device_name", d.name);
  benchmark::AddCustomContext("device_cc", d.cc());
  benchmark::AddCustomContext("device_sm_clock_max_mhz", std::to_string(d.sm_clock_max_mhz));
  benchmark::AddCustomContext("driver_version", d.driver_version);
  benchmark::AddCustomContext("cuda_runtime", std::to_string(d.cuda_runtime));
  benchmark::AddCustomContext("git_commit", b.git_commit);
  benchmark::AddCustomContext("counters", profiler ? "on" : "off: " + counters.find("reason")->as_string());

  std::cout << "btcbench: sweep " << o.suite << " on " << d.name << " (sm_" << d.sm() << "), counters "
            << (profiler ? "on" : "off") << ", " << o.repetitions << " repetitions each"
            << (o.max_seconds > 0 ? fmt::format(", at most {} s", o.max_seconds) : std::string()) << "\n";
  if (ctx.code.emulated_arch()) std::cout << "btcbench: " << describe(ctx.code) << "\n";
  std::ostringstream json_out;
  benchmark::JSONReporter file;
  file.SetOutputStream(&json_out);
  file.SetErrorStream(&std::cerr);
  ProgressReporter progress(file, d.sm_clock_max_mhz);

  // The JSON tree of what ran, with the run's conditions and provenance,
  // written atomically. stopped_early: "" or why the sweep ended before its
  // last benchmark.
  auto write_results = [&](const std::string& json_text, const std::string& stopped_early, double after_s) {
    json::Value root = json::parse(json_text);
    normalize_benchmark_names(root);
    // What the GPU did while it ran: clocks above its maximum, throttling.
    const int suspect_entries = mark_suspect_clocks(root, d.sm_clock_max_mhz);
    const int throttled_entries = attach_throttle_reasons(root, progress.throttle_log());
    json::Value conditions = json::Value::object();
    const std::string nvml_why_not = nvml::unavailable_reason(d.ordinal);
    conditions.set("nvml", nvml_why_not.empty());
    conditions.set("reason", nvml_why_not);
    conditions.set("sampled", "after each repetition's timed launches");
    conditions.set("suspect_clock_slack", kSuspectClockSlack);
    conditions.set("suspect_clock_entries", suspect_entries);
    conditions.set("throttled_entries", throttled_entries);
    if (suspect_entries > 0)
      std::cerr << "btcbench: warning: " << suspect_entries << " entries measured an SM clock above the "
                << d.sm_clock_max_mhz << " MHz maximum (suspect_clock: 1)\n";
    if (throttled_entries > 0)
      std::cerr << "btcbench: warning: " << throttled_entries
                << " entries ran while the GPU throttled (see throttle_reasons)\n";
    json::Value bt = json::Value::object();
    bt.set("schema", kResultsSchema);
    bt.set("suite", o.suite);
    bt.set("created_utc", utc_now_iso());
    json::Value cl = json::Value::array();
    for (const auto& a : argv_all) cl.push_back(a);
    bt.set("command_line", std::move(cl));
    bt.set("git", git_json());
    bt.set("build", build_json(ctx.code));
    json::Value launch = json::Value::object();  // how the kernels launched (kernels/atoms/launch_env.h)
    const std::string pdl_off = atom::programmatic_launch_off_reason(d.cc_major);
    launch.set("programmatic_dependent", pdl_off.empty());
    launch.set("reason", pdl_off);
    bt.set("launch", std::move(launch));
    bt.set("device", to_json(d));
    bt.set("counters", std::move(counters));
    bt.set("gpu_conditions", std::move(conditions));
    bt.set("peaks", std::move(ctx.peaks));
    bt.set("forms", std::move(ctx.forms));
    bt.set("skipped", std::move(ctx.skipped));
    if (!stopped_early.empty()) {
      json::Value stop = json::Value::object();
      stop.set("reason", stopped_early);
      stop.set("after_s", after_s);
      bt.set("stopped_early", std::move(stop));
    }
    root.set("btcbench", std::move(bt));

    const auto problems = validate_results(root);
    if (!problems.empty()) {
      // Never lose a sweep's measurements to a bug in its own bookkeeping.
      const std::string kept = path.substr(0, path.size() - 5) + ".invalid.json";
      write_file_atomic(kept, root.dump(), o.force);
      throw ResultsError("internal: the results tree fails its own schema: " + problems[0] + "; kept as " + kept);
    }
    write_file_atomic(path, root.dump(), o.force);
    std::cout << "btcbench: wrote " << path << "\n";
  };

  // A stop between benchmarks: the JSON reporter's text so far, closed, is
  // the tree of what ran.
  const auto started = std::chrono::steady_clock::now();
  auto seconds_so_far = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };
  std::signal(SIGTERM, request_stop);
  std::signal(SIGINT, request_stop);
  progress.set_after_each([&] {
    std::string why;
    if (stop_signal != 0)
      why = fmt::format("signal {} ({})", int(stop_signal), strsignal(stop_signal));
    else if (o.max_seconds > 0 && seconds_so_far() >= o.max_seconds)
      why = fmt::format("--max-seconds {}", o.max_seconds);
    if (why.empty()) return;
    const double after_s = seconds_so_far();
    std::cout << "btcbench: stopping early after " << fmt::format("{:.0f}", after_s) << " s (" << why
              << "): writing what ran" << std::endl;
    int rc = kExitStopped;
    try {
      write_results(close_unfinalized_benchmark_json(json_out.str()), why, after_s);
    } catch (const std::exception& e) {
      std::cerr << "btcbench: " << e.what() << "\n";
      rc = kExitFailure;
    }
    std::cout.flush();
    std::cerr.flush();
    std::_Exit(rc);  // out of Google Benchmark's loop: nothing else to run
  });

  const size_t ran = benchmark::RunSpecifiedBenchmarks(&progress);
  benchmark::Shutdown();
  if (ran == 0) {
    std::cerr << "btcbench: no benchmark matched" << (o.filter.empty() ? "" : " --filter '" + o.filter + "'")
              << "; nothing written\n";
    return kExitFailure;
  }
  write_results(json_out.str(), "", seconds_so_far());
  return 0;
}

int run_info(const Command& cmd) {
  const DeviceInfo d = query_device(cmd.device);
  const cupti::Availability avail = cupti::counter_availability(d.ordinal);
  const CodeTarget code = code_target(d.ordinal);
  if (cmd.json) {
    json::Value v = to_json(d);
    v.set("binary_has_sm90a", code.sm90a);
    v.set("code_arch", code.code_arch);
    v.set("code_target", describe(code));
    v.set("counters_available", avail.available);
    v.set("counters_reason", avail.reason);
    v.set("git_commit", build_info().git_commit);
    std::cout << v.dump();
    return 0;
  }
  std::cout << describe(d) << "  machine code: " << describe(code)
            << "\n  CUPTI counters: " << (avail.available ? "available" : "unavailable: " + avail.reason) << "\n"
            << "  built from " << build_info().git_describe << " (CUDA " << build_info().cuda_toolkit
            << ", archs " << build_info().cuda_archs << ")\n";
  return 0;
}

int run_validate(const Command& cmd) {
  const json::Value root = load_results_file(cmd.file);
  const json::Value& bt = *root.find("btcbench");
  std::cout << "ok: " << cmd.file << ": suite " << bt.find("suite")->as_string() << ", "
            << bt.find("device")->find("name")->as_string() << ", " << root.find("benchmarks")->as_array().size()
            << " benchmark entries\n";
  return 0;
}

// Exit 0: no significant regression beyond the threshold; 1: at least one;
// 2: usage or files that cannot be compared (never 1, which CI reads as a regression).
int run_compare(const Command& cmd) {
  const CompareOptions& o = cmd.compare;
  try {
    const json::Value a = load_results_file(o.file_a);
    const json::Value b = load_results_file(o.file_b);
    const compare::Comparison c = compare::compare_results(a, b, o);
    std::cout << compare::format_report(c, o);
    return c.regressions() > 0 ? kExitFailure : 0;
  } catch (const ResultsError& e) {
    std::cerr << "btcbench compare: " << e.what() << "\n";
  } catch (const compare::CompareError& e) {
    std::cerr << "btcbench compare: " << e.what() << "\n";
  }
  return kExitUsage;
}

}  // namespace
}  // namespace btc

namespace {
// A crash says where: the raw stack (binary + offset; addr2line -e btcbench
// resolves it), then the default action. Async-signal-safe calls only.
void print_stack_and_die(int sig) {
  void* frames[64];
  const int n = backtrace(frames, 64);
  const char msg[] = "btcbench: fatal signal; stack (addr2line -f -C -e btcbench OFFSET):\n";
  (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
  backtrace_symbols_fd(frames, n, STDERR_FILENO);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}
}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGSEGV, print_stack_and_die);
  std::signal(SIGABRT, print_stack_and_die);
  std::signal(SIGBUS, print_stack_and_die);
  using namespace btc;
  std::vector<std::string> args(argv + 1, argv + argc);
  std::vector<std::string> all(argv, argv + argc);
  Command cmd;
  try {
    cmd = parse_command_line(args, suite_names());
  } catch (const UsageError& e) {
    std::cerr << "btcbench: " << e.what() << "\n\n" << usage_text(suite_names());
    return kExitUsage;
  }
  try {
    switch (cmd.kind) {
      case Command::Kind::kHelp: std::cout << usage_text(suite_names()); return 0;
      case Command::Kind::kVersion: std::cout << "btcbench " << build_info().git_describe << "\n"; return 0;
      case Command::Kind::kInfo: return run_info(cmd);
      case Command::Kind::kSweep: return run_sweep(cmd, all, false);
      case Command::Kind::kList: return run_sweep(cmd, all, true);
      case Command::Kind::kValidate: return run_validate(cmd);
      case Command::Kind::kCompare: return run_compare(cmd);
      case Command::Kind::kRun:
        for (const auto& a : all) cmd.run.command_line += (cmd.run.command_line.empty() ? "" : " ") + a;
        return run_network(cmd.run);
    }
  } catch (const NoGpuError& e) {
    std::cerr << "btcbench: " << e.what() << "\n";
    if (cmd.kind == Command::Kind::kRun) std::cerr << "btcbench: --cpu runs the CPU reference forward without a GPU\n";
    return kExitNoGpu;
  } catch (const std::exception& e) {
    std::cerr << "btcbench: " << e.what() << "\n";
    return kExitFailure;
  }
  return 0;
}
