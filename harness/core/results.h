// Results files: naming, atomic no-clobber writing, and schema validation
// (docs/results-schema.md). No CUDA here, so CI tests all of it.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/core/json.h"

namespace btc {

inline constexpr const char* kResultsSchema = "btcbench.results.v1";

struct ResultsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "NVIDIA H100 80GB HBM3" -> "nvidia-h100-80gb-hbm3".
std::string gpu_slug(const std::string& device_name);

// "<suite>-<YYYYmmddTHHMMSSZ>-<commit7>.json"; the UTC stamp is passed in so tests are deterministic.
std::string results_filename(const std::string& suite, const std::string& utc_compact, const std::string& commit);

// Current UTC time as "2026-11-27T22:30:00Z" and as "20261127T223000Z".
std::string utc_now_iso();
std::string utc_now_compact();

// Writes `content` to `path` so that a reader never sees a partial file: a
// temporary file in the same folder, flushed, then moved into place. Without
// `force`, an existing file is an error and stays untouched (link(2) refuses
// to replace, so this holds even against a concurrent writer).
void write_file_atomic(const std::string& path, const std::string& content, bool force);

// Google Benchmark appends "/iterations:N" and "/repeats:N" to the names of
// runs whose counts were fixed at registration; the results schema names a
// run by what it measures, so these are dropped from `name` and `run_name`.
void normalize_benchmark_names(json::Value& root);
std::string normalize_benchmark_name(const std::string& name);

// Every problem found, one line each; empty means valid.
std::vector<std::string> validate_results(const json::Value& root);

// Reads, parses and validates; ResultsError names the file and the first problems.
json::Value load_results_file(const std::string& path);

}  // namespace btc
