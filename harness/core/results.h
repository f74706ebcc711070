// Results files: naming, atomic no-clobber writing, and schema validation
// (docs/results-schema.md). No CUDA here, so CI tests all of it.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/core/json.h"

namespace btc {

inline constexpr const char* kResultsSchema = "btcbench.results.v1";
// The largest file `validate` and the tools read. A full sweep writes a few
// MiB; a file this big is not one of ours (analysis/btcresults.py: the same cap).
inline constexpr std::uintmax_t kMaxResultsFileBytes = std::uintmax_t(256) << 20;

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
// `force`, an existing file is an error and stays untouched: link(2) refuses
// to replace, so this holds even against a concurrent writer; where the
// filesystem has no hard links, renameat2(RENAME_NOREPLACE), else an O_EXCL
// placeholder replaced by rename(2) (a reader may see the empty placeholder
// for an instant). The result is never deleted: if no way works, the
// temporary file stays and the error names it; if the folder cannot take a
// temporary file at all, the content goes to the system temp folder and the
// error names that copy.
void write_file_atomic(const std::string& path, const std::string& content, bool force);

namespace detail {
// The system calls write_file_atomic moves the file with: a seam, so tests can
// make each one fail as a given filesystem would. Each returns 0 or -1 with errno.
struct MoveOps {
  int (*link)(const char* from, const char* to);
  int (*rename_noreplace)(const char* from, const char* to);
  int (*rename)(const char* from, const char* to);
};
MoveOps system_move_ops();
void write_file_atomic(const std::string& path, const std::string& content, bool force, const MoveOps& ops);
}  // namespace detail

// Before a sweep runs: `dir` exists or can be created, and a file can be
// created and removed in it (a probe, so a read-only or full folder fails
// now, not after an hour of benchmarks). ResultsError says what failed.
void check_output_dir(const std::string& dir);
// `path` would not replace an existing file (unless `force`). ResultsError if it would.
void check_no_clobber(const std::string& path, bool force);

// Google Benchmark appends "/iterations:N" and "/repeats:N" to the names of
// runs whose counts were fixed at registration; the results schema names a
// run by what it measures, so these are dropped from `name` and `run_name`.
void normalize_benchmark_names(json::Value& root);
std::string normalize_benchmark_name(const std::string& name);

// Every problem found, one line each; empty means valid. The same rules as
// analysis/btcresults.py (tests/fixtures/validate/ exercises both): required
// metadata (device name, SM clocks, driver, CUDA runtime, git commit, command
// line), finite positive times, no negative number on a benchmark entry.
std::vector<std::string> validate_results(const json::Value& root);

// Google Benchmark's JSONReporter text before its Finalize (every finished
// benchmark's runs, the array and object still open), closed as Finalize
// closes it: a sweep that stops early writes what ran from it.
std::string close_unfinalized_benchmark_json(const std::string& text);

// Reads, parses and validates; ResultsError names the file and the first
// problems. A directory, an empty file and one over `max_bytes` each get
// their own message.
json::Value load_results_file(const std::string& path, std::uintmax_t max_bytes = kMaxResultsFileBytes);

}  // namespace btc
