#include "harness/core/results.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
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

void write_file_atomic(const std::string& path, const std::string& content, bool force) {
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec) throw ResultsError("cannot create folder '" + target.parent_path().string() + "': " + ec.message());
  }
  if (!force && fs::exists(target))
    throw ResultsError("'" + path + "' already exists; not replacing it (pass --force to replace)");

  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) throw ResultsError("cannot create '" + tmp + "': " + std::strerror(errno));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw ResultsError("cannot write '" + tmp + "': " + err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw ResultsError("cannot flush '" + tmp + "': " + err);
  }
  int rc = force ? ::rename(tmp.c_str(), path.c_str()) : ::link(tmp.c_str(), path.c_str());
  int saved = errno;
  ::unlink(tmp.c_str());  // after link(); after rename() it is already gone
  if (rc != 0) {
    if (saved == EEXIST)
      throw ResultsError("'" + path + "' already exists; not replacing it (pass --force to replace)");
    throw ResultsError("cannot move results into '" + path + "': " + std::strerror(saved));
  }
}

namespace {

// Collects problems instead of stopping at the first, so one run of
// `btcbench validate` tells the whole story.
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
};

const std::regex& benchmark_name_re() {
  // <kind>/<form>[/<axis>:<value>...][/manual_time][_<aggregate>], e.g.
  // tput/mma_and_m16n8k256/wps:8/ilp:4/manual_time_median.
  static const std::regex re(
      R"(^[a-z]+/[a-z0-9_]+(/[a-z_]+:[0-9a-z_.]+)*(/manual_time)?(_(mean|median|stddev|cv|min|max))?$)");
  return re;
}

}  // namespace

std::string normalize_benchmark_name(const std::string& name) {
  static const std::regex counts_re(R"(/(iterations|repeats):[0-9]+)");
  return std::regex_replace(name, counts_re, "");
}

void normalize_benchmark_names(json::Value& root) {
  json::Value* benches = root.find("benchmarks");
  if (!benches || !benches->is_array()) return;
  for (json::Value& b : benches->as_array())
    for (const char* key : {"name", "run_name"})
      if (json::Value* v = b.find(key); v && v->is_string()) *v = normalize_benchmark_name(v->as_string());
}

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
  c.require(*bt, "btcbench.", "suite", T::kString);
  c.require(*bt, "btcbench.", "created_utc", T::kString);
  c.require(*bt, "btcbench.", "command_line", T::kArray);
  if (const auto* git = c.require(*bt, "btcbench.", "git", T::kObject))
    c.require(*git, "btcbench.git.", "commit", T::kString);
  if (const auto* dev = c.require(*bt, "btcbench.", "device", T::kObject)) {
    c.require(*dev, "btcbench.device.", "name", T::kString);
    c.require(*dev, "btcbench.device.", "slug", T::kString);
    c.require(*dev, "btcbench.device.", "cc", T::kString);
    c.require(*dev, "btcbench.device.", "sm_count", T::kNumber);
    c.require(*dev, "btcbench.device.", "driver_version", T::kString);
  }
  if (const auto* ctr = c.require(*bt, "btcbench.", "counters", T::kObject))
    c.require(*ctr, "btcbench.counters.", "enabled", T::kBool);
  c.require(*bt, "btcbench.", "forms", T::kObject);
  c.require(*bt, "btcbench.", "skipped", T::kArray);
  c.require(root, "", "context", T::kObject);
  if (const auto* benches = c.require(root, "", "benchmarks", T::kArray)) {
    size_t i = 0;
    for (const auto& b : benches->as_array()) {
      std::string where = "benchmarks[" + std::to_string(i++) + "]";
      const json::Value* name = b.find("name");
      if (!name || !name->is_string()) { c.problems.push_back(where + " has no name"); continue; }
      if (!std::regex_match(name->as_string(), benchmark_name_re()))
        c.problems.push_back(where + " name '" + name->as_string() + "' does not follow the naming grammar");
      const json::Value* t = b.find("real_time");
      if (!t || !t->is_number()) c.problems.push_back(where + " has no numeric real_time");
    }
  }
  return c.problems;
}

json::Value load_results_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ResultsError("cannot read '" + path + "'");
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
