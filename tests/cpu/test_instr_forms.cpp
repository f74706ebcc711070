#include "microbench/instr_forms.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace btc {
namespace {

TEST(InstrForms, NamesAreUniqueAndMatchTheirPtx) {
  std::set<std::string> names;
  const std::regex shape_re(R"(m(\d+)n(\d+)k(\d+))");
  for (const auto& f : instr_forms()) {
    EXPECT_TRUE(names.insert(f.name).second) << f.name;
    std::cmatch m;
    ASSERT_TRUE(std::regex_search(f.name, m, shape_re)) << f.name;
    EXPECT_EQ(std::stoi(m[1]), f.m) << f.name;
    EXPECT_EQ(std::stoi(m[2]), f.n) << f.name;
    EXPECT_EQ(std::stoi(m[3]), f.k) << f.name;
    const std::string ptx = f.ptx;
    EXPECT_NE(ptx.find(m[0].str()), std::string::npos) << f.name << " vs " << ptx;
    if (f.group == Group::kXor) {
      EXPECT_NE(ptx.find(".xor.popc"), std::string::npos) << f.name;
    }
    if (f.group == Group::kAnd || f.group == Group::kWgmma) {
      EXPECT_NE(ptx.find(".and.popc"), std::string::npos) << f.name;
    }
    EXPECT_EQ(f.needs_sm90a, ptx.rfind("wgmma", 0) == 0) << f.name;
  }
}

TEST(InstrForms, CoversTheIssueList) {
  for (const char* n : {"wmma_xor_m8n8k128", "wmma_and_m8n8k128", "mma_xor_m8n8k128", "mma_and_m8n8k128",
                        "mma_xor_m16n8k128", "mma_and_m16n8k128", "mma_xor_m16n8k256", "mma_and_m16n8k256",
                        "mma_s8_m16n8k32", "mma_f16_m16n8k16", "wgmma_s8_m64n256k32_ss"})
    EXPECT_NE(find_instr_form(n), nullptr) << n;
  for (int n : {8, 16, 32, 64, 128, 256})
    for (const char* src : {"ss", "rs"})
      EXPECT_NE(find_instr_form("wgmma_and_m64n" + std::to_string(n) + "k256_" + src), nullptr);
  EXPECT_EQ(find_instr_form("wmma_xor_m8n8k129"), nullptr);
}

TEST(InstrForms, OpsPerInstructionIsTheDatasheetConvention) {
  EXPECT_EQ(find_instr_form("wmma_xor_m8n8k128")->ops_per_inst(), 16384);  // as CUPTI's int1 op counter counts
  EXPECT_EQ(find_instr_form("mma_and_m16n8k256")->ops_per_inst(), 65536);
  EXPECT_EQ(find_instr_form("wgmma_and_m64n256k256_ss")->ops_per_inst(), 2LL * 64 * 256 * 256);
}

// Native code: device sm == code arch (sm_90a where the binary has it).
CodeTarget native(int sm, bool sm90a) { return CodeTarget{sm, sm, sm90a}; }

TEST(InstrForms, SkipReasonsPerArch) {
  const InstrForm& xor_wmma = *find_instr_form("wmma_xor_m8n8k128");
  const InstrForm& and_mma = *find_instr_form("mma_and_m16n8k256");
  const InstrForm& wg = *find_instr_form("wgmma_and_m64n128k256_ss");
  EXPECT_EQ(instr_skip_reason(xor_wmma, native(75, false)), "");
  EXPECT_EQ(instr_skip_reason(and_mma, native(75, false)), "mma_and_m16n8k256 needs sm_80+; device is sm_75");
  EXPECT_EQ(instr_skip_reason(and_mma, native(90, true)), "");
  EXPECT_NE(instr_skip_reason(wg, native(80, false)).find("device is sm_80"), std::string::npos);
  EXPECT_EQ(instr_skip_reason(wg, native(89, false)), "wgmma_and_m64n128k256_ss needs sm_90+; device is sm_89");
  EXPECT_NE(instr_skip_reason(wg, native(100, true)).find("needs the sm_90a target"), std::string::npos);
  EXPECT_NE(instr_skip_reason(wg, native(90, false)).find("not built for sm_90a"), std::string::npos);
  EXPECT_EQ(instr_skip_reason(wg, native(90, true)), "");
  EXPECT_NE(instr_skip_reason(wg, native(100, true)), "");  // sm_90a code does not run on later archs
}

// A PTX-only build for an older arch runs on a newer GPU with that arch's
// code: what the code lacks is skipped, naming the build (issue: a
// compute_75 build crashed on the H200 at the first AND form).
TEST(InstrForms, SkipReasonsFollowTheBinarysCodeNotTheDevice) {
  const CodeTarget ptx75_on_h200{90, 75, false};
  const CodeTarget ptx80_on_h200{90, 80, false};
  const InstrForm& xor_wmma = *find_instr_form("wmma_xor_m8n8k128");
  const InstrForm& and_mma = *find_instr_form("mma_and_m16n8k256");
  const InstrForm& xor_m16 = *find_instr_form("mma_xor_m16n8k128");
  const InstrForm& wg = *find_instr_form("wgmma_and_m64n128k256_ss");
  EXPECT_EQ(instr_skip_reason(xor_wmma, ptx75_on_h200), "");
  EXPECT_EQ(instr_skip_reason(and_mma, ptx75_on_h200),
            "built for compute_75; mma_and_m16n8k256 needs sm_80 code (add 80 to CMAKE_CUDA_ARCHITECTURES)");
  EXPECT_NE(instr_skip_reason(xor_m16, ptx75_on_h200).find("built for compute_75"), std::string::npos);
  EXPECT_EQ(instr_skip_reason(and_mma, ptx80_on_h200), "");
  EXPECT_NE(instr_skip_reason(wg, ptx80_on_h200).find("built for compute_80"), std::string::npos);
  for (const InstrForm& f : instr_forms()) {
    const bool runs = instr_skip_reason(f, ptx75_on_h200).empty();
    EXPECT_EQ(runs, f.min_sm <= 75 && !f.needs_sm90a) << f.name;
  }
}

TEST(CodeTarget, DescribesEmulatedArchitectures) {
  EXPECT_EQ(describe(CodeTarget{90, 90, true}), "sm_90a code on sm_90");
  EXPECT_EQ(describe(CodeTarget{90, 75, false}), "compute_75 code on an sm_90 GPU: functional, not sm_75 performance");
  EXPECT_FALSE(CodeTarget({80, 80, false}).emulated_arch());
  EXPECT_TRUE(CodeTarget({90, 80, false}).emulated_arch());
}

TEST(InstrForms, TensorInstructionAccounting) {
  const InstrForm& x = *find_instr_form("mma_xor_m16n8k256");
  EXPECT_EQ(x.tensor_insts_per_inst(75), 1);
  EXPECT_EQ(x.tensor_insts_per_inst(80), 1);
  EXPECT_EQ(x.tensor_insts_per_inst(90), 2);  // emulated on Hopper
  EXPECT_EQ(find_instr_form("mma_and_m16n8k256")->tensor_insts_per_inst(90), 1);
  EXPECT_STREQ(find_instr_form("wgmma_and_m64n8k256_rs")->tensor_inst_metric(), "sm__inst_executed_pipe_tensor_op_gmma.sum");
  EXPECT_STREQ(find_instr_form("mma_f16_m16n8k16")->tensor_inst_metric(), "sm__inst_executed_pipe_tensor_op_hmma.sum");
  EXPECT_STREQ(x.tensor_inst_metric(), "sm__inst_executed_pipe_tensor_op_imma.sum");
}

TEST(InstrForms, PeaksArePositiveAndSourced) {
  for (int sm : {75, 80, 86, 90})
    for (DType d : {DType::kB1, DType::kS8, DType::kF16}) {
      const PeakRate p = peak_rate(d, sm);
      EXPECT_GT(p.ops_per_clk_per_sm, 0);
      EXPECT_GT(std::string(p.source).size(), 10u);
    }
  // Published A100 ratio: b1 = 8 x int8 = 16 x fp16.
  EXPECT_EQ(peak_rate(DType::kB1, 80).ops_per_clk_per_sm, 8 * peak_rate(DType::kS8, 80).ops_per_clk_per_sm);
  EXPECT_NE(std::string(peak_rate(DType::kB1, 90).source).find("not published"), std::string::npos);
}

}  // namespace
}  // namespace btc
