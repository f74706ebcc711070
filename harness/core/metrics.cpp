#include "harness/core/metrics.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace btc {
namespace {

enum Family { kTU10x, kTU11x, kGA100, kGA10x, kGA10B, kAD10x, kGH100, kNumFamilies };

struct FamilyInfo {
  const char* name;
  std::vector<std::string> chips;  // CUPTI's chip names
};

const FamilyInfo kFamilies[kNumFamilies] = {
    {"TU10x", {"TU102", "TU104", "TU106"}},
    {"TU11x", {"TU116", "TU117"}},
    {"GA100", {"GA100"}},
    {"GA10x", {"GA102", "GA103", "GA104", "GA106", "GA107"}},
    {"GA10B", {"GA10B"}},
    {"AD10x", {"AD102", "AD103", "AD104", "AD106", "AD107"}},
    {"GH100", {"GH100"}},
};

struct MetricRow {
  const char* name;
  bool valid[kNumFamilies];  // TU10x TU11x GA100 GA10x GA10B AD10x GH100
};

// CUPTI 13.0 (CUPTI_API_VERSION 130001), read with cuptiProfilerHostConfigAddMetrics
// per chip, no counter-availability image. Kept in step by tests/cpu/test_metrics.cpp.
constexpr bool Y = true, N = false;
const MetricRow kMetrics[] = {
    //                                                                            TU10x TU11x GA100 GA10x GA10B AD10x GH100
    // Tensor pipes. BMMA (b1) counts under imma: there is no *_bmma instruction metric.
    {"sm__inst_executed_pipe_tensor_op_imma.sum",                                 {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    {"sm__pipe_tensor_op_imma_cycles_active.avg.pct_of_peak_sustained_active",    {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    {"sm__inst_executed_pipe_tensor_op_hmma.sum",                                 {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    {"sm__ops_path_tensor_src_int1.sum",                                          {Y,    N,    Y,    Y,    Y,    Y,    Y}},
    {"smsp__ops_path_tensor_src_int1.sum",                                        {Y,    N,    Y,    Y,    Y,    Y,    N}},
    {"sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active",            {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    {"sm__inst_executed_pipe_tensor.sum",                                         {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    // Hopper warpgroup MMA (wgmma) and its b1 paths.
    {"sm__inst_executed_pipe_tensor_op_gmma.sum",                                 {N,    N,    N,    N,    N,    N,    Y}},
    {"sm__ops_path_tensor_op_bgmma_src_int1.sum",                                 {N,    N,    N,    N,    N,    N,    Y}},
    {"sm__ops_path_tensor_op_bmma_src_int1.sum",                                  {N,    N,    N,    N,    N,    N,    Y}},
    {"smsp__warps_issue_stalled_gmma.sum",                                        {N,    N,    N,    N,    N,    N,    Y}},
    // Cycles, time, occupancy.
    {"sm__cycles_elapsed.max",                                                    {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    {"gpu__time_duration.sum",                                                    {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    {"sm__warps_active.avg.pct_of_peak_sustained_active",                         {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    // Memory.
    {"l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum",                            {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    {"l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum",                           {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    {"l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum",                  {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    {"l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum",                      {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    // All shared-memory ops (ldmatrix included: CUPTI has no *_op_ldsm variant of these).
    {"l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum",                        {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    {"l1tex__data_pipe_lsu_wavefronts_mem_shared.sum",                            {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    {"smsp__inst_executed_op_ldsm.sum",                                           {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    {"dram__bytes_read.sum",                                                      {Y,    Y,    Y,    Y,    N,    Y,    Y}},
    {"dram__bytes_write.sum",                                                     {Y,    Y,    Y,    Y,    N,    Y,    Y}},
    {"lts__t_sector_hit_rate.pct",                                                {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    // L2 sector lookups, split by outcome (hit + miss = all lookups).
    {"lts__t_sectors_lookup_hit.sum",                                             {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    {"lts__t_sectors_lookup_miss.sum",                                            {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    // Expensive (5-8 replay passes).
    {"sm__throughput.avg.pct_of_peak_sustained_elapsed",                          {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
    {"gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed",          {Y,    Y,    Y,    Y,    Y,    Y,    Y}},
};

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

int family_index(const std::string& chip) {
  const std::string c = upper(chip);
  for (int f = 0; f < kNumFamilies; ++f) {
    const auto& chips = kFamilies[f].chips;
    if (std::find(chips.begin(), chips.end(), c) != chips.end()) return f;
  }
  return -1;
}

const MetricRow* find_metric(const std::string& metric) {
  for (const auto& row : kMetrics)
    if (metric == row.name) return &row;
  return nullptr;
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

std::string chip_family(const std::string& chip) {
  const int f = family_index(chip);
  return f < 0 ? std::string() : std::string(kFamilies[f].name);
}

std::vector<std::string> chips_in_family(const std::string& family) {
  for (const auto& f : kFamilies)
    if (family == f.name) return f.chips;
  return {};
}

std::string chip_for_cc(int major, int minor) {
  switch (major * 10 + minor) {
    case 75: return "TU102";  // TU104/TU106 share the table; TU116/TU117 (also 7.5) lack the int1 path metric
    case 80: return "GA100";
    case 86: return "GA102";  // GA102..GA107 share the table
    case 87: return "GA10B";  // Jetson Orin (integrated: no dram__ counters)
    case 89: return "AD102";  // Ada; AD10x validates like GA10x for every metric of the table
    case 90: return "GH100";
    default: return "";       // 7.0/7.2 Volta, 10.x/12.x Blackwell (CUPTI has no imma metrics there): no table
  }
}

// The metrics of `wanted` the table marks valid on `chip`; a chip of no
// family gets them all, unchecked (validate with cupti::invalid_metrics).
static std::vector<std::string> valid_on_chip(const std::string& chip, std::vector<std::string> wanted) {
  if (family_index(chip) < 0) return wanted;
  std::vector<std::string> valid;
  for (auto& m : wanted)
    if (metric_valid_static(chip, m)) valid.push_back(std::move(m));
  return valid;
}

std::vector<std::string> default_instr_metrics(const std::string& chip) {
  std::vector<std::string> all = {
      "sm__inst_executed_pipe_tensor_op_imma.sum",
      "sm__pipe_tensor_op_imma_cycles_active.avg.pct_of_peak_sustained_active",
      "sm__ops_path_tensor_src_int1.sum",
      "sm__cycles_elapsed.max",
      "sm__inst_executed_pipe_tensor_op_hmma.sum",  // the f16 reference row counts here
  };
  if (family_index(chip) == kGH100) {
    all.push_back("sm__inst_executed_pipe_tensor_op_gmma.sum");
    all.push_back("sm__ops_path_tensor_op_bgmma_src_int1.sum");
    all.push_back("sm__ops_path_tensor_op_bmma_src_int1.sum");
  }
  return valid_on_chip(chip, std::move(all));
}

std::vector<std::string> default_stride_metrics(const std::string& chip) {
  std::vector<std::string> all = {
      "l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum",
      "l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum",
      "l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum",
      "l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum",
      "l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum",
      "l1tex__data_pipe_lsu_wavefronts_mem_shared.sum",
      "smsp__inst_executed_op_ldsm.sum",
      // The ratio metric divides lookup hits of one replay pass by sectors of
      // another and can pass 100% (docs/profiles/ncu-compare); the reports show
      // hit / (hit + miss) from the two sums instead. Kept for existing readers
      // (analysis/ncu_compare.py, older files). The sums add no replay pass on
      // any family (docs/profiles/ncu-compare/pass-map-cuda13.0.txt).
      "lts__t_sector_hit_rate.pct",
      "lts__t_sectors_lookup_hit.sum",
      "lts__t_sectors_lookup_miss.sum",
      "dram__bytes_read.sum",
      "sm__inst_executed_pipe_tensor_op_imma.sum",
      "sm__cycles_elapsed.max",
  };
  return valid_on_chip(chip, std::move(all));
}

std::vector<std::string> default_bconv_metrics(const std::string& chip) {
  std::vector<std::string> all = {
      "dram__bytes_read.sum",
      "dram__bytes_write.sum",
      "lts__t_sectors_lookup_hit.sum",
      "lts__t_sectors_lookup_miss.sum",
      "lts__t_sector_hit_rate.pct",
      "sm__inst_executed_pipe_tensor_op_imma.sum",  // b1 MMA and int8 (cuDNN s8)
      "sm__inst_executed_pipe_tensor_op_hmma.sum",  // fp16 (cuDNN f16)
      "sm__cycles_elapsed.max",
  };
  if (family_index(chip) == kGH100) all.push_back("sm__inst_executed_pipe_tensor_op_gmma.sum");
  return valid_on_chip(chip, std::move(all));
}

std::vector<std::string> default_net_metrics(const std::string& chip) {
  return valid_on_chip(chip, {"dram__bytes_read.sum", "dram__bytes_write.sum", "sm__cycles_elapsed.max"});
}

bool metric_valid_static(const std::string& chip, const std::string& metric) {
  const int f = family_index(chip);
  const MetricRow* row = find_metric(metric);
  return f >= 0 && row != nullptr && row->valid[f];
}

std::vector<std::string> known_metrics() {
  std::vector<std::string> out;
  for (const auto& row : kMetrics) out.emplace_back(row.name);
  return out;
}

std::vector<std::string> parse_metric_list(const std::string& csv) {
  std::vector<std::string> out;
  std::size_t begin = 0;
  while (true) {
    const std::size_t comma = csv.find(',', begin);
    std::string item = csv.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
    const auto first = std::find_if_not(item.begin(), item.end(), is_blank);
    const auto last = std::find_if_not(item.rbegin(), item.rend(), is_blank).base();
    item = first < last ? std::string(first, last) : std::string();

    const std::string where = "item " + std::to_string(out.size() + 1) + " of '" + csv + "'";
    if (item.empty()) throw std::invalid_argument("empty metric name (" + where + ")");
    if (std::any_of(item.begin(), item.end(), is_blank))
      throw std::invalid_argument("metric name '" + item + "' contains a blank (" + where + ")");
    if (std::find(out.begin(), out.end(), item) != out.end())
      throw std::invalid_argument("metric '" + item + "' listed twice");
    out.push_back(std::move(item));

    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return out;
}

}  // namespace btc
