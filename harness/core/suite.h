// A sweep suite: registers Google Benchmark runs for the GPU at hand and
// describes itself in the results file's `btcbench` object.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "harness/core/cli.h"
#include "harness/core/code_target.h"
#include "harness/core/cupti_profiler.h"
#include "harness/core/device_info.h"
#include "harness/core/json.h"

namespace btc {

struct SuiteContext {
  DeviceInfo device;
  CodeTarget code;                            // which pass of the binary runs there
  SweepOptions options;
  cupti::RangeProfiler* profiler = nullptr;  // null: timing only
  json::Value forms = json::Value::object();  // filled by the suite
  json::Value skipped = json::Value::array(); // {form, [config,] reason}
  json::Value peaks = json::Value::object();

  void skip(const std::string& form, const std::string& reason, const std::string& config = "") {
    json::Value s = json::Value::object();
    s.set("form", form);
    if (!config.empty()) s.set("config", config);
    s.set("reason", reason);
    skipped.push_back(std::move(s));
  }
};

struct Suite {
  std::string name;
  std::string description;
  std::function<std::vector<std::string>(const std::string& chip)> default_metrics;
  std::function<void(SuiteContext&)> register_benchmarks;
};

const std::vector<Suite>& suites();
std::vector<std::string> suite_names();
const Suite* find_suite(const std::string& name);

}  // namespace btc
