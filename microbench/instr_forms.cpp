#include "microbench/instr_forms.h"

#include "kernels/atoms/ptx_b1.h"

namespace btc {

const std::vector<InstrForm>& instr_forms() {
  using E = Engine;
  using G = Group;
  using D = DType;
  using A = ASource;
  static const std::vector<InstrForm> forms = {
      // The paper's instruction (Turing): WMMA 8x8x128, XOR + popc.
      {"wmma_xor_m8n8k128", BTC_PTX_WMMA_B1(xor), E::kWmma, G::kXor, D::kB1, 8, 8, 128, A::kReg, 75, false},
      {"wmma_and_m8n8k128", BTC_PTX_WMMA_B1(and), E::kWmma, G::kAnd, D::kB1, 8, 8, 128, A::kReg, 80, false},
      {"mma_xor_m8n8k128", BTC_PTX_MMA_B1(m8n8k128, xor), E::kMmaSync, G::kXor, D::kB1, 8, 8, 128, A::kReg, 75, false},
      {"mma_and_m8n8k128", BTC_PTX_MMA_B1(m8n8k128, and), E::kMmaSync, G::kAnd, D::kB1, 8, 8, 128, A::kReg, 80, false},
      {"mma_xor_m16n8k128", BTC_PTX_MMA_B1(m16n8k128, xor), E::kMmaSync, G::kXor, D::kB1, 16, 8, 128, A::kReg, 80, false},
      {"mma_and_m16n8k128", BTC_PTX_MMA_B1(m16n8k128, and), E::kMmaSync, G::kAnd, D::kB1, 16, 8, 128, A::kReg, 80, false},
      {"mma_xor_m16n8k256", BTC_PTX_MMA_B1(m16n8k256, xor), E::kMmaSync, G::kXor, D::kB1, 16, 8, 256, A::kReg, 80, false},
      {"mma_and_m16n8k256", BTC_PTX_MMA_B1(m16n8k256, and), E::kMmaSync, G::kAnd, D::kB1, 16, 8, 256, A::kReg, 80, false},
      // Hopper: warpgroup MMA, B (and A for _ss) read from shared memory by the tensor core.
      {"wgmma_and_m64n8k256_ss", BTC_PTX_WGMMA_B1_AND(8), E::kWgmma, G::kWgmma, D::kB1, 64, 8, 256, A::kSmem, 90, true},
      {"wgmma_and_m64n16k256_ss", BTC_PTX_WGMMA_B1_AND(16), E::kWgmma, G::kWgmma, D::kB1, 64, 16, 256, A::kSmem, 90, true},
      {"wgmma_and_m64n32k256_ss", BTC_PTX_WGMMA_B1_AND(32), E::kWgmma, G::kWgmma, D::kB1, 64, 32, 256, A::kSmem, 90, true},
      {"wgmma_and_m64n64k256_ss", BTC_PTX_WGMMA_B1_AND(64), E::kWgmma, G::kWgmma, D::kB1, 64, 64, 256, A::kSmem, 90, true},
      {"wgmma_and_m64n128k256_ss", BTC_PTX_WGMMA_B1_AND(128), E::kWgmma, G::kWgmma, D::kB1, 64, 128, 256, A::kSmem, 90, true},
      {"wgmma_and_m64n256k256_ss", BTC_PTX_WGMMA_B1_AND(256), E::kWgmma, G::kWgmma, D::kB1, 64, 256, 256, A::kSmem, 90, true},
      {"wgmma_and_m64n8k256_rs", BTC_PTX_WGMMA_B1_AND(8), E::kWgmma, G::kWgmma, D::kB1, 64, 8, 256, A::kReg, 90, true},
      {"wgmma_and_m64n16k256_rs", BTC_PTX_WGMMA_B1_AND(16), E::kWgmma, G::kWgmma, D::kB1, 64, 16, 256, A::kReg, 90, true},
      {"wgmma_and_m64n32k256_rs", BTC_PTX_WGMMA_B1_AND(32), E::kWgmma, G::kWgmma, D::kB1, 64, 32, 256, A::kReg, 90, true},
      {"wgmma_and_m64n64k256_rs", BTC_PTX_WGMMA_B1_AND(64), E::kWgmma, G::kWgmma, D::kB1, 64, 64, 256, A::kReg, 90, true},
      {"wgmma_and_m64n128k256_rs", BTC_PTX_WGMMA_B1_AND(128), E::kWgmma, G::kWgmma, D::kB1, 64, 128, 256, A::kReg, 90, true},
      {"wgmma_and_m64n256k256_rs", BTC_PTX_WGMMA_B1_AND(256), E::kWgmma, G::kWgmma, D::kB1, 64, 256, 256, A::kReg, 90, true},
      // Reference rows: what the same GPU does with 8- and 16-bit operands.
      {"mma_s8_m16n8k32", BTC_PTX_MMA_S8_M16N8K32, E::kMmaSync, G::kReference, D::kS8, 16, 8, 32, A::kReg, 80, false},
      {"mma_f16_m16n8k16", BTC_PTX_MMA_F16_M16N8K16, E::kMmaSync, G::kReference, D::kF16, 16, 8, 16, A::kReg, 80, false},
      {"wgmma_s8_m64n128k32_ss", BTC_PTX_WGMMA_S8(128), E::kWgmma, G::kReference, D::kS8, 64, 128, 32, A::kSmem, 90, true},
      {"wgmma_s8_m64n256k32_ss", BTC_PTX_WGMMA_S8(256), E::kWgmma, G::kReference, D::kS8, 64, 256, 32, A::kSmem, 90, true},
  };
  return forms;
}

const InstrForm* find_instr_form(const std::string& name) {
  for (const auto& f : instr_forms())
    if (name == f.name) return &f;
  return nullptr;
}

const char* InstrForm::tensor_inst_metric() const {
  if (engine == Engine::kWgmma) return "sm__inst_executed_pipe_tensor_op_gmma.sum";
  if (dtype == DType::kF16) return "sm__inst_executed_pipe_tensor_op_hmma.sum";
  return "sm__inst_executed_pipe_tensor_op_imma.sum";  // b1 (BMMA) and s8 count here
}

int InstrForm::tensor_insts_per_inst(int device_sm) const {
  return group == Group::kXor ? atom::b1_xor_tensor_insts(device_sm) : 1;
}

std::string instr_skip_reason(const InstrForm& form, const CodeTarget& code) {
  return arch_skip_reason(code, form.min_sm, form.needs_sm90a, form.name);
}

const char* to_string(Group g) {
  switch (g) {
    case Group::kXor: return "xor";
    case Group::kAnd: return "and";
    case Group::kWgmma: return "wgmma";
    case Group::kReference: return "reference";
  }
  return "?";
}
const char* to_string(DType d) {
  switch (d) {
    case DType::kB1: return "b1";
    case DType::kS8: return "s8";
    case DType::kF16: return "f16";
  }
  return "?";
}
const char* to_string(ASource a) { return a == ASource::kReg ? "reg" : "smem"; }

PeakRate peak_rate(DType dtype, int device_sm) {
  // Dense ops/clk/SM = datasheet TOPS / (SMs x the clock the datasheet uses).
  // fp16 here means fp16 inputs with fp32 accumulation.
  const int arch = device_sm >= 90 ? 90 : device_sm >= 80 ? 80 : 75;
  switch (dtype) {
    case DType::kF16:
      if (arch == 90) return {4096, "H100 SXM datasheet: 989.4 TFLOPS dense fp16 = 132 SMs x 1830 MHz x 4096"};
      if (arch == 80) return {2048, "A100 datasheet: 312 TFLOPS dense fp16 = 108 SMs x 1410 MHz x 2048"};
      return {1024, "Turing whitepaper: 1024 fp16 FLOP/clk/SM (T4 65 TFLOPS = 40 SMs x 1590 MHz x 1024)"};
    case DType::kS8:
      if (arch == 90) return {8192, "H100 SXM datasheet: 1979 TOPS dense int8 = 132 SMs x 1830 MHz x 8192"};
      if (arch == 80) return {4096, "A100 datasheet: 624 TOPS dense int8 = 108 SMs x 1410 MHz x 4096"};
      return {2048, "Turing whitepaper: 2048 int8 OP/clk/SM (T4 130 TOPS = 40 SMs x 1590 MHz x 2048)"};
    case DType::kB1:
      if (arch == 90)
        return {65536, "not published for Hopper; extrapolated as 8x int8, the b1:int8 ratio of A100 (unverified)"};
      if (arch == 80) return {32768, "A100 datasheet: 4992 TOPS dense binary = 108 SMs x 1410 MHz x 32768"};
      return {16384, "not published for Turing; extrapolated as 8x int8, the b1:int8 ratio of A100 (unverified)"};
  }
  return {0, "unknown"};
}

}  // namespace btc
