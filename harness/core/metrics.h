// Which CUPTI metrics btcbench uses, and on which chips they exist.
//
// A static table, by chip family, of CUPTI 13.0's metric database; pure logic
// (no CUDA, no CUPTI), so `btcbench` can answer without a GPU and CI tests it.
// tests/cpu/test_metrics.cpp checks every entry against CUPTI's own offline
// validation (btc::cupti::invalid_metrics) on every chip of every family.
// Names are full CUPTI names with their rollup ("sm__cycles_elapsed.max").
#pragma once
#include <string>
#include <vector>

namespace btc {

// Families of the table:
//   "TU10x" TU102 TU104 TU106          (sm_75, RTX 20xx / Quadro RTX / T4)
//   "TU11x" TU116 TU117                (sm_75, GTX 16xx: no tensor cores; CUPTI
//                                       has no sm__ops_path_tensor_src_int1 there)
//   "GA100" GA100                      (sm_80)
//   "GA10x" GA102 GA103 GA104 GA106 GA107         (sm_86)
//   "GA10B" GA10B                      (sm_87, Jetson Orin: no dram__ metrics)
//   "AD10x" AD102 AD103 AD104 AD106 AD107         (sm_89)
//   "GH100" GH100                      (sm_90)
// "" for any other chip (Volta, Blackwell, unknown). Case-insensitive.
std::string chip_family(const std::string& chip);

// The chips of a family above, as CUPTI names them; empty for an unknown family.
std::vector<std::string> chips_in_family(const std::string& family);

// A representative CUPTI chip name for a compute capability, for offline
// validation when only the capability is known (a real device: use
// btc::cupti::chip_name). "" when btcbench has no table for it.
std::string chip_for_cc(int major, int minor);

// The instruction-level metrics a sweep collects by default on `chip`:
//   sm__inst_executed_pipe_tensor_op_imma.sum   (BMMA is counted here)
//   sm__pipe_tensor_op_imma_cycles_active.avg.pct_of_peak_sustained_active
//   sm__ops_path_tensor_src_int1.sum
//   sm__cycles_elapsed.max
// and on GH100 also sm__inst_executed_pipe_tensor_op_gmma.sum,
// sm__ops_path_tensor_op_bgmma_src_int1.sum, sm__ops_path_tensor_op_bmma_src_int1.sum.
// On a chip of the table, only those the table marks valid (TU11x drops the int1
// one); on an unknown chip, the first four unchecked (validate them with
// btc::cupti::invalid_metrics).
std::vector<std::string> default_instr_metrics(const std::string& chip);

// The memory-side metrics of the stride, layout and bmm sweeps: global sectors
// and requests (sectors/request), shared-memory bank conflicts and wavefronts
// for plain loads and for ldmatrix (ldsm), L2 hit rate and the L2 lookup hits
// and misses (hit / (hit + miss) stays <= 100%, the rate metric need not),
// DRAM bytes, plus the tensor instruction count and elapsed cycles.
std::vector<std::string> default_stride_metrics(const std::string& chip);

// The bconv sweep's: DRAM bytes read and written, L2 sector lookups (hits,
// misses, hit rate), tensor-pipe instructions (imma: b1 and int8; hmma: fp16;
// on GH100 also gmma) and elapsed cycles.
std::vector<std::string> default_bconv_metrics(const std::string& chip);
// The net suite: DRAM traffic of a whole forward.
std::vector<std::string> default_net_metrics(const std::string& chip);

// From the table: is `metric` valid on `chip`? False for metrics not in the
// table and for chips of no family.
bool metric_valid_static(const std::string& chip, const std::string& metric);

// Every metric in the table, in table order.
std::vector<std::string> known_metrics();

// "a, b ,c" -> {"a","b","c"}. Items are trimmed; an empty list, an empty item,
// an item with blanks inside or a repeated item throws std::invalid_argument.
std::vector<std::string> parse_metric_list(const std::string& csv);

}  // namespace btc
