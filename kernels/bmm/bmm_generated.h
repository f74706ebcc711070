// The generated configurations as the designs use them: one config type per
// generated constant (kernels are templated on a type: nvcc's host stubs
// cannot name a kernel templated on a reference), and the designs they select
// per arch. Plain C++ (host compilers too): tests/select builds it against an
// edited configuration to check that every field changes what is built.
#pragma once
#include <string>
#include <vector>

#include "kernels/config/bmm_config.h"
#include "kernels/generated/bmm_config.h"
#include "kernels/generated/bmm_splitk_config.h"

namespace btc::bmm {

struct BtcWmmaSm75 {
  static constexpr const BmmConfig& c = generated::sm75::kBtcWmma;
};
struct BtcWmmaSm80 {
  static constexpr const BmmConfig& c = generated::sm80::kBtcWmma;
};
struct BtcWmmaSm90 {
  static constexpr const BmmConfig& c = generated::sm90::kBtcWmma;
};
struct MmaAndSm80 {
  static constexpr const BmmConfig& c = generated::sm80::kMmaAnd;
};
struct MmaAndSm90 {
  static constexpr const BmmConfig& c = generated::sm90::kMmaAnd;
};
struct MmaAndSplitK {
  static constexpr const BmmConfig& c = generated::kMmaAndSplitK;
};
struct WgmmaAndSm90 {
  static constexpr const BmmConfig& c = generated::sm90::kWgmmaAnd;
};
// Row I of the wgmma candidates analysis/select ranks (BTC_BMM_CANDIDATES builds).
template <int I>
struct WgmmaAndCandidateSm90 {
  static constexpr const BmmConfig& c = generated::sm90::kWgmmaAndCandidates[I];
};
inline constexpr int kWgmmaAndCandidatesSm90 =
    static_cast<int>(sizeof(generated::sm90::kWgmmaAndCandidates) / sizeof(BmmConfig));

// The arch whose generated configuration code of `code_arch` uses (75, 80, 90).
constexpr int config_arch_of(int code_arch) { return code_arch >= 90 ? 90 : code_arch >= 80 ? 80 : 75; }

// The designs the generated configuration selects for code of `code_arch`,
// one per tensor-core family that runs there: btc_wmma_row or btc_wmma_tile
// (the selected layout), mma_and_sm80 / _sm90, wgmma_and_sm90.
inline std::vector<std::string> selected_designs(int code_arch) {
  const int arch = config_arch_of(code_arch);
  const BmmConfig& wmma = arch == 90 ? BtcWmmaSm90::c : arch == 80 ? BtcWmmaSm80::c : BtcWmmaSm75::c;
  std::vector<std::string> out = {wmma.a_layout == bits::Layout::kTile8x128 ? "btc_wmma_tile" : "btc_wmma_row"};
  if (arch >= 80) out.push_back("mma_and_sm" + std::to_string(arch));
  if (arch == 90) out.push_back("wgmma_and_sm90");
  return out;
}

}  // namespace btc::bmm
