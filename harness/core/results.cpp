#include "harness/core/results.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace btc {
namespace fs = std::filesystem;

std::string gpu_slug(const std::string& device_name) {
  std::string slug;
  for (char c : device_name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) {
      slug += static_cast<char>(std::tolower(u));
    } else if (!slug.empty() && slug.back() != '-') {
      slug += '-';
    }
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  return slug.empty() ? "unknown-gpu" : slug;
}

std::string results_filename(const std::string& suite, const std::string& utc_compact, const std::string& commit) {
  std::string short_commit = commit.size() >= 7 ? commit.substr(0, 7) : "nogit";
  return suite + "-" + utc_compact + "-" + short_commit + ".json";
}

static std::string utc_format(const char* fmt) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}
std::string utc_now_iso() { return utc_format("%Y-%m-%dT%H:%M:%SZ"); }
std::string utc_now_compact() { return utc_format("%Y%m%dT%H%M%SZ"); }

namespace {

std::string exists_message(const std::string& path) {
  return "'" + path + "' already exists; not replacing it (pass --force to replace)";
}

// Writes all of `content` to a new file (O_EXCL), flushed; "" or why not.
// A partly written file is removed: it is no copy of anything.
std::string write_new_file(const std::string& file, const std::string& content) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) return "cannot create '" + file + "': " + std::strerror(errno);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string err = "cannot write '" + file + "': " + std::strerror(errno);
      ::close(fd);
      ::unlink(file.c_str());
      return err;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    std::string err = "cannot flush '" + file + "': " + std::strerror(errno);
    ::close(fd);
    ::unlink(file.c_str());
    return err;
  }
  if (::close(fd) != 0) {
    std::string err = "cannot flush '" + file + "': " + std::strerror(errno);
    ::unlink(file.c_str());
    return err;
  }
  return "";
}

// When the target folder cannot take the file at all: a copy in the system
// temp folder, so the results are not lost with the process. Its path, or "".
std::string rescue_copy(const std::string& path, const std::string& content) {
  std::error_code ec;
  const fs::path tmp_dir = fs::temp_directory_path(ec);
  if (ec) return "";
  const std::string rescue =
      (tmp_dir / (fs::path(path).filename().string() + ".rescued." + std::to_string(::getpid()))).string();
  return write_new_file(rescue, content).empty() ? rescue : "";
}

int sys_link(const char* from, const char* to) { return ::link(from, to); }
int sys_rename(const char* from, const char* to) { return ::rename(from, to); }
int sys_rename_noreplace(const char* from, const char* to) {
#ifdef RENAME_NOREPLACE
  return ::renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
#else
  (void)from;
  (void)to;
  errno = ENOSYS;
  return -1;
#endif
}

}  // namespace

namespace detail {

MoveOps system_move_ops() { return MoveOps{sys_link, sys_rename_noreplace, sys_rename}; }

void write_file_atomic(const std::string& path, const std::string& content, bool force, const MoveOps& ops) {
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec) {
      const std::string rescued = rescue_copy(path, content);
      throw ResultsError("cannot create folder '" + target.parent_path().string() + "': " + ec.message() +
                         (rescued.empty() ? "" : "; the results are kept in '" + rescued + "'"));
    }
  }
  if (!force && fs::exists(target)) throw ResultsError(exists_message(path));

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  if (const std::string err = write_new_file(tmp, content); !err.empty()) {
    const std::string rescued = rescue_copy(path, content);
    throw ResultsError(err + (rescued.empty() ? "" : "; the results are kept in '" + rescued + "'"));
  }
  // From here on `tmp` is the only copy of the results: every failure keeps it.
  const std::string kept = "; the results are kept in '" + tmp + "'";
  if (force) {
    if (ops.rename(tmp.c_str(), path.c_str()) != 0)
      throw ResultsError("cannot move results into '" + path + "': " + std::strerror(errno) + kept);
    return;
  }

  // 1. link(2): atomic and never replaces. Some filesystems have no hard
  //    links (EPERM, ENOTSUP, EXDEV, ...): then the next way.
  if (ops.link(tmp.c_str(), path.c_str()) == 0) {
    ::unlink(tmp.c_str());
    return;
  }
  if (errno == EEXIST) throw ResultsError(exists_message(path) + kept);  // someone wrote it since the check
  const std::string link_err = std::strerror(errno);

  // 2. renameat2(RENAME_NOREPLACE): atomic and never replaces, where the
  //    kernel and filesystem support it (else EINVAL / ENOSYS).
  if (ops.rename_noreplace(tmp.c_str(), path.c_str()) == 0) return;
  if (errno == EEXIST) throw ResultsError(exists_message(path) + kept);
  const std::string noreplace_err = std::strerror(errno);

  // 3. An O_EXCL placeholder claims the name, then rename(2) replaces the
  //    placeholder. The race this leaves: a reader can see the empty
  //    placeholder for an instant, and a --force writer in between would be
  //    replaced; a second no-clobber writer is still refused.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) {
    if (errno == EEXIST) throw ResultsError(exists_message(path) + kept);
    throw ResultsError("cannot move results into '" + path + "' (link: " + link_err + "; renameat2: " +
                       noreplace_err + "; placeholder: " + std::strerror(errno) + ")" + kept);
  }
  ::close(fd);
  if (ops.rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string rename_err = std::strerror(errno);
    ::unlink(path.c_str());  // our empty placeholder, not a result
    throw ResultsError("cannot move results into '" + path + "' (link: " + link_err + "; renameat2: " +
                       noreplace_err + "; rename: " + rename_err + ")" + kept);
  }
}

}  // namespace detail

void write_file_atomic(const std::string& path, const std::string& content, bool force) {
  detail::write_file_atomic(path, content, force, detail::system_move_ops());
}

void check_output_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw ResultsError("cannot create the output folder '" + dir + "': " + ec.message());
  if (!fs::is_directory(dir, ec)) throw ResultsError("the output folder '" + dir + "' is not a folder");
  // access(W_OK) is not enough (root, read-only mounts, ACLs): create a file and remove it.
  const std::string probe = (fs::path(dir) / (".btcbench-write-probe." + std::to_string(::getpid()))).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) throw ResultsError("cannot write in the output folder '" + dir + "': " + std::strerror(errno));
  ::close(fd);
  if (::unlink(probe.c_str()) != 0)
    throw ResultsError("cannot remove a file in the output folder '" + dir + "': " + std::strerror(errno));
}

void check_no_clobber(const std::string& path, bool force) {
  std::error_code ec;
  if (!force && fs::exists(path, ec)) throw ResultsError(exists_message(path));
}

namespace {

const std::regex& benchmark_name_re() {
  // <kind>/<form>[/<axis>:<value>...][/manual_time][_<aggregate>], e.g.
  // tput/mma_and_m16n8k256/wps:8/ilp:4/manual_time_median.
  static const std::regex re(
      R"(^[a-z]+/[a-z0-9_]+(/[a-z_]+:[0-9a-z_.]+)*(/manual_time)?(_(mean|median|stddev|cv|min|max))?$)");
  return re;
}

// Collects problems instead of stopping at the first, so one run of
// `btcbench validate` tells the whole story. The messages are those of
// analysis/btcresults.py, word for word where a rule exists in both.
class Checker {
 public:
  std::vector<std::string> problems;

  const json::Value* require(const json::Value& obj, const std::string& path, const std::string& key,
                             json::Value::Type type) {
    const json::Value* v = obj.find(key);
    if (!v) { problems.push_back("missing '" + path + key + "'"); return nullptr; }
    if (v->type() != type) { problems.push_back("'" + path + key + "' has the wrong type"); return nullptr; }
    return v;
  }
  // A string that must say something (a name, a version, a commit).
  void require_text(const json::Value& obj, const std::string& path, const std::string& key) {
    if (const json::Value* v = require(obj, path, key, json::Value::Type::kString); v && v->as_string().empty())
      problems.push_back("'" + path + key + "' is empty");
  }
  // A number, or null where the value may be unknown (NVML absent).
  void require_number_or_null(const json::Value& obj, const std::string& path, const std::string& key) {
    const json::Value* v = obj.find(key);
    if (!v) problems.push_back("missing '" + path + key + "'");
    else if (!v->is_number() && !v->is_null()) problems.push_back("'" + path + key + "' has the wrong type");
  }
};

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

bool is_error_entry(const json::Value& b) {
  for (const char* key : {"error_occurred", "skipped"})
    if (const json::Value* v = b.find(key); v && v->type() == json::Value::Type::kBool && v->as_bool()) return true;
  return false;
}

// One benchmarks[] entry: structure, finite positive times, no negative number
// (times, iterations, counters, cupti.* values: none of them can be below 0).
void check_entry(Checker& c, size_t index, const json::Value& b) {
  const json::Value* name = b.is_object() ? b.find("name") : nullptr;
  if (!name || !name->is_string()) {
    c.problems.push_back("benchmarks[" + std::to_string(index) + "] is not an object with a string 'name'");
    return;
  }
  const std::string where = "benchmark '" + name->as_string() + "'";
  if (!std::regex_match(name->as_string(), benchmark_name_re()))
    c.problems.push_back(where + ": name does not follow the naming grammar");
  std::string run_type = "iteration";
  if (const json::Value* rt = b.find("run_type"); rt && rt->is_string()) run_type = rt->as_string();
  const json::Value* agg = b.find("aggregate_name");
  if (run_type != "iteration" && run_type != "aggregate") {
    c.problems.push_back(where + ": unknown run_type '" + run_type + "'");
  } else if (run_type == "aggregate" && (!agg || !agg->is_string())) {
    c.problems.push_back(where + ": aggregate entry without 'aggregate_name'");
  }
  const bool errored = is_error_entry(b);
  if (!errored) {
    const json::Value* t = b.find("real_time");
    if (!t || !t->is_number()) c.problems.push_back(where + ": 'real_time' missing or not a number");
    const json::Value* unit = b.find("time_unit");
    if (!unit || !unit->is_string()) c.problems.push_back(where + ": 'time_unit' missing");
    for (const char* key : {"real_time", "cpu_time"})
      if (const json::Value* v = b.find(key); v && v->is_number() && !std::isfinite(v->as_number()))
        c.problems.push_back(where + ": '" + key + "' is not a finite number");
  }
  for (const auto& [key, v] : b.as_object())
    if (v.is_number() && v.as_number() < 0)  // NaN passes: a ratio counter with a zero denominator
      c.problems.push_back(where + ": '" + key + "' is negative (" + format_number(v.as_number()) + ")");
  if (!errored) {
    // Times are positive; only the stddev and cv aggregates may be zero.
    const bool spread = agg && agg->is_string() && (agg->as_string() == "stddev" || agg->as_string() == "cv");
    if (const json::Value* t = b.find("real_time"); t && t->is_number() && t->as_number() == 0 && !spread)
      c.problems.push_back(where + ": 'real_time' is 0, not a positive time");
  }
}

}  // namespace

std::string normalize_benchmark_name(const std::string& name) {
  // Run settings Google Benchmark appends (a fixed count, or a minimum time
  // where the suite lets the timer pick the count): not part of the point.
  static const std::regex counts_re(R"(/((iterations|repeats):[0-9]+|min_time:[0-9.]+))");
  return std::regex_replace(name, counts_re, "");
}

void normalize_benchmark_names(json::Value& root) {
  json::Value* benches = root.find("benchmarks");
  if (!benches || !benches->is_array()) return;
  for (json::Value& b : benches->as_array())
    for (const char* key : {"name", "run_name"})
      if (json::Value* v = b.find(key); v && v->is_string()) *v = normalize_benchmark_name(v->as_string());
}

std::string close_unfinalized_benchmark_json(const std::string& text) { return text + "\n  ]\n}\n"; }

std::vector<std::string> validate_results(const json::Value& root) {
  using T = json::Value::Type;
  Checker c;
  if (!root.is_object()) return {"top level is not a JSON object"};
  const json::Value* bt = root.find("btcbench");
  if (!bt) return {"not a btcbench results file (no 'btcbench' object); a plain Google Benchmark file?"};
  if (!bt->is_object()) return {"'btcbench' is not an object"};
  if (const auto* schema = c.require(*bt, "btcbench.", "schema", T::kString)) {
    if (schema->as_string() != kResultsSchema)
      return {"schema '" + schema->as_string() + "' is not " + kResultsSchema + " (a newer or foreign file?)"};
  }
  c.require_text(*bt, "btcbench.", "suite");
  if (const json::Value* stop = bt->find("stopped_early")) {  // optional: a sweep that ended early
    const json::Value* reason = stop->is_object() ? stop->find("reason") : nullptr;
    const json::Value* after = stop->is_object() ? stop->find("after_s") : nullptr;
    if (!reason || !reason->is_string() || !after || !after->is_number())
      c.problems.push_back("'btcbench.stopped_early' must be {reason: string, after_s: number}");
  }
  c.require(*bt, "btcbench.", "created_utc", T::kString);
  // What a result cannot be read without: the command that made it, the code, the GPU and its clocks.
  if (const auto* cl = c.require(*bt, "btcbench.", "command_line", T::kArray)) {
    if (cl->as_array().empty()) c.problems.push_back("'btcbench.command_line' is empty");
    for (const auto& arg : cl->as_array())
      if (!arg.is_string()) { c.problems.push_back("'btcbench.command_line' has the wrong type"); break; }
  }
  if (const auto* git = c.require(*bt, "btcbench.", "git", T::kObject)) c.require_text(*git, "btcbench.git.", "commit");
  if (const auto* dev = c.require(*bt, "btcbench.", "device", T::kObject)) {
    const std::string d = "btcbench.device.";
    c.require_text(*dev, d, "name");
    c.require_text(*dev, d, "slug");
    c.require(*dev, d, "cc", T::kString);
    c.require(*dev, d, "sm_count", T::kNumber);
    c.require(*dev, d, "sm_clock_max_mhz", T::kNumber);
    c.require_number_or_null(*dev, d, "sm_clock_at_start_mhz");
    c.require_text(*dev, d, "driver_version");
    c.require(*dev, d, "cuda_runtime", T::kNumber);
  }
  if (const auto* ctr = c.require(*bt, "btcbench.", "counters", T::kObject))
    c.require(*ctr, "btcbench.counters.", "enabled", T::kBool);
  if (const auto* forms = c.require(*bt, "btcbench.", "forms", T::kObject)) {
    for (const auto& [name, form] : forms->as_object()) {
      const json::Value* status = form.is_object() ? form.find("status") : nullptr;
      if (!form.is_object())
        c.problems.push_back("'btcbench.forms." + name + "' is not an object");
      else if (!status || !status->is_string() ||
               (status->as_string() != "measured" && status->as_string() != "skipped"))
        c.problems.push_back("'btcbench.forms." + name + ".status' is not one of measured, skipped");
    }
  }
  c.require(*bt, "btcbench.", "skipped", T::kArray);
  c.require(root, "", "context", T::kObject);
  if (const auto* benches = c.require(root, "", "benchmarks", T::kArray)) {
    size_t i = 0;
    for (const auto& b : benches->as_array()) check_entry(c, i++, b);
  }
  return c.problems;
}

json::Value load_results_file(const std::string& path, std::uintmax_t max_bytes) {
  // Each of these gets its own message: the JSON parser's would mislead.
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st))
    throw ResultsError("cannot read '" + path + "': " + (ec ? ec.message() : std::string("no such file")));
  if (fs::is_directory(st)) throw ResultsError("'" + path + "' is a directory, not a results file");
  if (fs::is_regular_file(st)) {
    const std::uintmax_t bytes = fs::file_size(path, ec);
    if (!ec && bytes == 0) throw ResultsError("'" + path + "' is empty (0 bytes), not a results file");
    if (!ec && bytes > max_bytes)
      throw ResultsError("'" + path + "' is " + std::to_string(bytes) + " bytes, over the " +
                         std::to_string(max_bytes) + "-byte limit for a results file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ResultsError("cannot read '" + path + "': " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  json::Value root;
  try {
    root = json::parse(ss.str());
  } catch (const json::ParseError& e) {
    throw ResultsError("'" + path + "' is not valid JSON: " + e.what());
  }
  auto problems = validate_results(root);
  if (!problems.empty()) {
    std::string msg = "'" + path + "' is not a valid btcbench results file: " + problems[0];
    if (problems.size() > 1) msg += " (and " + std::to_string(problems.size() - 1) + " more)";
    throw ResultsError(msg);
  }
  return root;
}

}  // namespace btc
