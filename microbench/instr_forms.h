// The b1 tensor-core instruction forms the suite characterizes, as data.
// A kernel variant is a row of this table plus the device op it names
// (instr_adapters.cuh); nothing about a form is spelled twice.
#pragma once
#include <string>
#include <vector>

#include "harness/core/code_target.h"

namespace btc {

enum class Engine { kWmma, kMmaSync, kWgmma };
enum class Group { kXor, kAnd, kWgmma, kReference };
enum class DType { kB1, kS8, kF16 };
enum class ASource { kReg, kSmem };

struct InstrForm {
  const char* name;  // suite name, e.g. "mma_and_m16n8k256"
  const char* ptx;   // the PTX it issues
  Engine engine;
  Group group;
  DType dtype;
  int m, n, k;
  ASource a_source;
  int min_sm;        // 75, 80 or 90
  bool needs_sm90a;  // wgmma: only the arch-specific sm_90a target has it

  long long ops_per_inst() const { return 2LL * m * n * k; }  // datasheet convention
  int threads_per_issue() const { return engine == Engine::kWgmma ? 128 : 32; }
  // The CUPTI metric that counts this form's warp-level tensor instructions.
  const char* tensor_inst_metric() const;
  // Tensor-pipe instructions the hardware executes per PTX instruction. Not 1
  // where the form is emulated: measured on GH100 (btc_gpu_tests), every b1
  // XOR mma issues exactly two tensor instructions, and the int1 op counter
  // counts 2*M*N*K for each, i.e. two AND-popc passes per XOR.
  int tensor_insts_per_inst(int device_sm) const;
};

const std::vector<InstrForm>& instr_forms();
const InstrForm* find_instr_form(const std::string& name);  // nullptr if unknown

// "" if `form` runs on the code target (device + the binary's pass for it);
// otherwise why not, for the results' `skipped` list.
std::string instr_skip_reason(const InstrForm& form, const CodeTarget& code);

const char* to_string(Group g);
const char* to_string(DType d);
const char* to_string(ASource a);

// Theoretical dense tensor rate of one SM per clock. Published figures where
// NVIDIA gives them; b1 on Turing and Hopper is not published, so the figure
// is an extrapolation and says so (the suite's job is to measure it).
struct PeakRate {
  double ops_per_clk_per_sm;
  const char* source;
};
PeakRate peak_rate(DType dtype, int device_sm);

}  // namespace btc
