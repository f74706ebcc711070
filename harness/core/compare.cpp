#include "harness/core/compare.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <regex>
#include <stdexcept>

namespace btc::compare {
namespace {

const json::Value* at(const json::Value& v, std::initializer_list<const char*> keys) {
  const json::Value* cur = &v;
  for (const char* k : keys) {
    if (!cur->is_object()) return nullptr;
    cur = cur->find(k);
    if (!cur) return nullptr;
  }
  return cur;
}

std::string text_at(const json::Value& v, std::initializer_list<const char*> keys) {
  const json::Value* x = at(v, keys);
  return x && x->is_string() ? x->as_string() : std::string();
}

double seconds_per(const std::string& unit) {
  if (unit == "ns") return 1e-9;
  if (unit == "us") return 1e-6;
  if (unit == "ms") return 1e-3;
  if (unit == "s") return 1.0;
  throw CompareError("unknown time_unit '" + unit + "'");
}

bool is_error(const json::Value& e) {
  for (const char* key : {"error_occurred", "skipped"})
    if (const json::Value* v = e.find(key); v && v->type() == json::Value::Type::kBool && v->as_bool()) return true;
  return false;
}

std::string short_commit(const std::string& c) { return c.size() > 7 ? c.substr(0, 7) : c; }

}  // namespace

MannWhitney mann_whitney_u(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || b.empty()) throw std::invalid_argument("mann_whitney_u: an empty sample");
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  struct Item {
    double v;
    bool from_a;
  };
  std::vector<Item> all;
  for (double x : a) all.push_back({x, true});
  for (double x : b) all.push_back({x, false});
  std::sort(all.begin(), all.end(), [](const Item& l, const Item& r) { return l.v < r.v; });
  // Average ranks (1-based) over each run of equal values; sum(t^3 - t) for the variance.
  double rank_sum_a = 0, tie_term = 0;
  for (std::size_t i = 0; i < all.size();) {
    std::size_t j = i;
    while (j < all.size() && all[j].v == all[i].v) ++j;
    const double t = static_cast<double>(j - i);
    const double avg_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (std::size_t k = i; k < j; ++k)
      if (all[k].from_a) rank_sum_a += avg_rank;
    tie_term += t * t * t - t;
    i = j;
  }
  const double n = na + nb;
  MannWhitney r;
  r.u_a = rank_sum_a - na * (na + 1) / 2;
  const double mean = na * nb / 2;
  const double var = n > 1 ? na * nb / 12 * ((n + 1) - tie_term / (n * (n - 1))) : 0;
  if (var <= 0) return r;  // every value tied: no evidence either way (z 0, p 1)
  // Continuity correction, as scipy's asymptotic method applies it by default.
  r.z = std::max(std::fabs(r.u_a - mean) - 0.5, 0.0) / std::sqrt(var);
  r.p = std::min(1.0, std::erfc(r.z / std::sqrt(2.0)));
  return r;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::vector<RunSamples> run_samples(const json::Value& root) {
  std::vector<RunSamples> runs;
  std::map<std::string, std::size_t> index;
  std::map<std::string, const json::Value*> median_agg;
  const json::Value* benches = root.find("benchmarks");
  if (!benches || !benches->is_array()) return runs;
  for (const json::Value& e : benches->as_array()) {
    if (!e.is_object() || is_error(e)) continue;
    const std::string name = text_at(e, {"name"});
    std::string run = text_at(e, {"run_name"});
    const std::string type = text_at(e, {"run_type"});
    const std::string agg = text_at(e, {"aggregate_name"});
    if (run.empty()) {  // older writers: strip the aggregate suffix
      run = name;
      if (type == "aggregate" && !agg.empty() && run.size() > agg.size() + 1 &&
          run.compare(run.size() - agg.size() - 1, std::string::npos, "_" + agg) == 0)
        run.resize(run.size() - agg.size() - 1);
    }
    auto [it, fresh] = index.emplace(run, runs.size());
    if (fresh) runs.push_back(RunSamples{run, {}, {}, 0, -1});
    RunSamples& r = runs[it->second];
    if (type == "aggregate") {
      if (agg == "median") median_agg[run] = &e;
      continue;
    }
    const json::Value* t = e.find("real_time");
    if (!t || !t->is_number()) continue;
    r.times_s.push_back(t->as_number() * seconds_per(text_at(e, {"time_unit"})));
    if (const json::Value* tops = e.find("tops"); tops && tops->is_number() && std::isfinite(tops->as_number()))
      r.tops.push_back(tops->as_number());
  }
  for (RunSamples& r : runs) {
    const auto m = median_agg.find(r.name);
    if (!r.times_s.empty()) {
      r.median_time_s = median(r.times_s);
    } else if (m != median_agg.end()) {
      r.median_time_s = m->second->find("real_time")->as_number() * seconds_per(text_at(*m->second, {"time_unit"}));
    }
    if (!r.tops.empty()) {
      r.median_tops = median(r.tops);
    } else if (m != median_agg.end()) {
      if (const json::Value* tops = m->second->find("tops"); tops && tops->is_number()) r.median_tops = tops->as_number();
    }
  }
  runs.erase(std::remove_if(runs.begin(), runs.end(), [](const RunSamples& r) { return r.median_time_s <= 0; }),
             runs.end());
  return runs;
}

std::size_t Comparison::regressions() const {
  return static_cast<std::size_t>(std::count_if(rows.begin(), rows.end(), [](const Row& r) { return r.regression; }));
}

Comparison compare_results(const json::Value& a, const json::Value& b, const CompareOptions& o) {
  const std::string schema_a = text_at(a, {"btcbench", "schema"}), schema_b = text_at(b, {"btcbench", "schema"});
  if (schema_a != schema_b)
    throw CompareError("the files have different schemas ('" + schema_a + "' and '" + schema_b + "')");
  Comparison c;
  const std::string suite_b = text_at(b, {"btcbench", "suite"});
  c.suite = text_at(a, {"btcbench", "suite"});
  if (c.suite != suite_b)
    throw CompareError("the files are of different suites ('" + c.suite + "' and '" + suite_b +
                       "'): their benchmarks measure different things");
  c.device_a = text_at(a, {"btcbench", "device", "name"});
  c.device_b = text_at(b, {"btcbench", "device", "name"});
  c.commit_a = text_at(a, {"btcbench", "git", "commit"});
  c.commit_b = text_at(b, {"btcbench", "git", "commit"});
  if (c.device_a != c.device_b)
    c.warnings.push_back("the devices differ (A: " + c.device_a + ", B: " + c.device_b +
                         "): the ratios compare the GPUs as well as the code");
  const std::string arch_a = at(a, {"btcbench", "build", "code_arch"}) ? at(a, {"btcbench", "build", "code_arch"})->dump(0) : "";
  const std::string arch_b = at(b, {"btcbench", "build", "code_arch"}) ? at(b, {"btcbench", "build", "code_arch"})->dump(0) : "";
  if (arch_a != arch_b)
    c.warnings.push_back("the machine code differs (code_arch A: " + (arch_a.empty() ? "?" : arch_a) + ", B: " +
                         (arch_b.empty() ? "?" : arch_b) + ")");

  std::regex filter;
  if (!o.filter.empty()) filter = std::regex(o.filter);  // the CLI parser checked it
  const std::vector<RunSamples> runs_a = run_samples(a), runs_b = run_samples(b);
  std::map<std::string, const RunSamples*> by_name_b;
  for (const RunSamples& r : runs_b) by_name_b[r.name] = &r;
  std::size_t matched_b = 0, untested = 0;
  for (const RunSamples& ra : runs_a) {
    const auto it = by_name_b.find(ra.name);
    if (it == by_name_b.end()) { ++c.only_in_a; continue; }
    ++matched_b;
    if (!o.filter.empty() && !std::regex_search(ra.name, filter)) { ++c.filtered_out; continue; }
    const RunSamples& rb = *it->second;
    Row row;
    row.name = ra.name;
    const bool tops = ra.median_tops > 0 && rb.median_tops > 0;
    row.metric = tops ? "tops" : "time";
    row.a = tops ? ra.median_tops : ra.median_time_s * 1e6;
    row.b = tops ? rb.median_tops : rb.median_time_s * 1e6;
    row.ratio = row.b / row.a;
    row.change_pct = (row.ratio - 1) * 100;
    row.worse_pct = tops ? -row.change_pct : row.change_pct;
    const auto& sa = tops && ra.tops.size() == ra.times_s.size() ? ra.tops : ra.times_s;
    const auto& sb = tops && rb.tops.size() == rb.times_s.size() ? rb.tops : rb.times_s;
    row.n_a = sa.size();
    row.n_b = sb.size();
    row.tested = row.n_a >= kMinRepetitions && row.n_b >= kMinRepetitions;
    if (row.tested) {
      row.test = mann_whitney_u(sa, sb);
      const bool significant = row.test.p < o.alpha;
      row.regression = significant && row.worse_pct > o.threshold_pct;
      row.improvement = significant && -row.worse_pct > o.threshold_pct;
    } else {
      ++untested;
    }
    c.rows.push_back(std::move(row));
  }
  c.only_in_b = runs_b.size() - matched_b;
  if (c.rows.empty())
    throw CompareError(c.filtered_out > 0 ? "no benchmark run in both files matches --filter '" + o.filter + "'"
                                          : "the files have no benchmark run in common");
  if (untested > 0)
    c.warnings.push_back(std::to_string(untested) + " of " + std::to_string(c.rows.size()) +
                         " runs have fewer than " + std::to_string(kMinRepetitions) +
                         " repetitions in a file: ratio only, no test, never a regression");
  return c;
}

std::string format_report(const Comparison& c, const CompareOptions& o) {
  std::string out = fmt::format("A: {} ({}, {})\nB: {} ({}, {})\n", o.file_a, c.device_a, short_commit(c.commit_a),
                                o.file_b, c.device_b, short_commit(c.commit_b));
  for (const auto& w : c.warnings) out += "warning: " + w + "\n";
  out += "metric: median TOPS where both files have them (higher is better), else median time in us "
         "(lower is better); p: two-sided Mann-Whitney U on the repetitions\n\n";
  std::size_t name_w = std::string("benchmark").size();
  for (const Row& r : c.rows) name_w = std::max(name_w, r.name.size());
  out += fmt::format("{:<{}}  {:<6} {:>12} {:>12} {:>8} {:>9} {:>7} {:>5}  {}\n", "benchmark", name_w, "metric",
                     "A", "B", "B/A", "change", "p", "reps", "verdict");
  for (const Row& r : c.rows) {
    const std::string p = r.tested ? fmt::format("{:.4f}", r.test.p) : "-";
    const std::string verdict = r.regression ? "REGRESSION" : r.improvement ? "improved" : "";
    out += fmt::format("{:<{}}  {:<6} {:>12.4g} {:>12.4g} {:>8.4f} {:>+8.2f}% {:>7} {:>2}/{:<2}  {}\n", r.name, name_w,
                       r.metric, r.a, r.b, r.ratio, r.change_pct, p, r.n_a, r.n_b, verdict);
  }
  out += fmt::format("\n{} compared, {} significant regression(s) beyond {:g}% (alpha {:g})", c.rows.size(),
                     c.regressions(), o.threshold_pct, o.alpha);
  if (c.only_in_a || c.only_in_b) out += fmt::format("; {} only in A, {} only in B", c.only_in_a, c.only_in_b);
  if (c.filtered_out) out += fmt::format("; {} left out by --filter", c.filtered_out);
  return out + "\n";
}

}  // namespace btc::compare
