// Prints every tile constant the BMM designs derive from the generated
// configuration (kernels/bmm/bmm_tiles.h over kernels/bmm/bmm_generated.h),
// and the designs it selects per arch. test_generated_fields.py builds it
// against an edited copy of kernels/generated/ to prove each field is read.
#include <cstdio>
#include <utility>

#include "kernels/bmm/bmm_generated.h"
#include "kernels/bmm/bmm_tiles.h"

using namespace btc::bmm;

template <class Cfg>
void btc_wmma(const char* name) {
  using T = BtcWmmaTile<Cfg>;
  std::printf("%s: bm=%d bn=%d warps=%dx%d threads=%d step_kw=%d smem_bytes=%d\n", name, T::kBM, T::kBN, T::kWarpsM,
              T::kWarpsN, T::kThreads, T::kStepKw, T::kSmemBytes);
}
template <class Cfg>
void mma_and(const char* name) {
  using T = MmaTile<Cfg>;
  std::printf("%s: bm=%d bn=%d la=%d lb=%d slab_kw=%d stages=%d warps=%dx%d mi=%d nj=%d smem_bytes=%d\n", name, T::kBM,
              T::kBN, static_cast<int>(T::kLA), static_cast<int>(T::kLB), T::kSlabKw, T::kStages, T::kWarpsM,
              T::kWarpsN, T::kMI, T::kNJ, T::kSmemBytes);
}
template <class Cfg>
void wgmma_and(const char* name, int index = -1) {
  using T = WgTile<Cfg>;
  std::printf("%s[%d]: bm=%d bn=%d la=%d lb=%d slab_kw=%d stages=%d consumers=%d threads=%d cluster=%dx%d smem_bytes=%d\n",
              name, index, T::kBM, T::kBN, static_cast<int>(T::kLA), static_cast<int>(T::kLB), T::kSlabKw, T::kStages,
              T::kConsumers, T::kThreads, T::kClusterM, T::kClusterN, T::kSmemBytes);
}
template <int... I>
void wgmma_candidates(std::integer_sequence<int, I...>) {
  (wgmma_and<WgmmaAndCandidateSm90<I>>("sm90.kWgmmaAndCandidates", I), ...);
}

int main() {
  btc_wmma<BtcWmmaSm75>("sm75.kBtcWmma");
  btc_wmma<BtcWmmaSm80>("sm80.kBtcWmma");
  btc_wmma<BtcWmmaSm90>("sm90.kBtcWmma");
  mma_and<MmaAndSm80>("sm80.kMmaAnd");
  mma_and<MmaAndSm90>("sm90.kMmaAnd");
  wgmma_and<WgmmaAndSm90>("sm90.kWgmmaAnd");
  wgmma_candidates(std::make_integer_sequence<int, kWgmmaAndCandidatesSm90>{});
  for (int arch : {75, 80, 90}) {
    std::printf("selected sm%d:", arch);
    for (const auto& d : selected_designs(arch)) std::printf(" %s", d.c_str());
    std::printf("\n");
  }
  return 0;
}
