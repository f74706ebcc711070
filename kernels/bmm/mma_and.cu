// mma.sync m16n8k256 AND design (sm_80+): operands in the layout the
// selection module chose (fragment-native on the H100: one 16-byte shared
// load per lane per A fragment, conflict-free), a multi-stage cp.async
// pipeline, and the +-1 correction from row popcounts:
//   dot = K - 2 popc(a) - 2 popc(b) + 4 popc(a AND b).
#include <stdexcept>

#include "kernels/bmm/bmm_designs.h"
#include "kernels/bmm/bmm_epilogue.cuh"
#include "harness/core/check.h"
#include "kernels/atoms/copy_sm80.cuh"
#include "kernels/atoms/mma_sm80.cuh"
#include "kernels/bmm/bmm_generated.h"
#include "kernels/bmm/bmm_tiles.h"
#include "kernels/tile/tile_io.cuh"

namespace btc::bmm {
namespace {

using bits::BitMatrix;

template <class Cfg>
__global__ void __launch_bounds__(MmaTile<Cfg>::kWarps * 32, 1) mma_and_kernel(const uint32_t* a, const uint32_t* b, BitMatrix ga,
                                                               BitMatrix gb, const int32_t* pa, const int32_t* pb,
                                                               int k, Output out, int m, int n) {
  using T = MmaTile<Cfg>;
  extern __shared__ __align__(128) uint32_t smem[];
  const int m0 = blockIdx.y * T::kBM, n0 = blockIdx.x * T::kBN;

  const BitMatrix sa_shape = tile::shape(T::kLA, T::kBM, T::kBlockK, T::kBM);
  const BitMatrix sb_shape = tile::shape(T::kLB, T::kBN, T::kBlockK, T::kBN);
  auto stage_a = [&](int s) { return smem + s * T::kStageWords; };
  auto stage_b = [&](int s) { return smem + s * T::kStageWords + T::kBM * T::kSlabKw; };
  const int ktiles = ga.kwords() / T::kSlabKw;
  auto issue = [&](int kt) {
    if (kt < ktiles) {
      tile::copy_slab<T::kLA, true>(stage_a(kt % T::kStages), a, ga, m0, kt * T::kSlabKw, T::kBM, T::kSlabKw);
      tile::copy_slab<T::kLB, true>(stage_b(kt % T::kStages), b, gb, n0, kt * T::kSlabKw, T::kBN, T::kSlabKw);
    }
    atom::cp_async_commit();  // empty groups keep the wait count uniform
  };

  const int w = threadIdx.x / 32;
  const int wm = (w % T::kWarpsM) * T::kWarpM, wn = (w / T::kWarpsM) * T::kWarpN;
  int32_t acc[T::kMI][T::kNJ][4] = {};

  for (int s = 0; s < T::kStages - 1; ++s) issue(s);
  for (int kt = 0; kt < ktiles; ++kt) {
    atom::cp_async_wait<T::kStages - 2>();
    __syncthreads();                   // stage kt landed; stage kt-1 is free for reuse
    issue(kt + T::kStages - 1);
    const uint32_t* sa = stage_a(kt % T::kStages);
    const uint32_t* sb = stage_b(kt % T::kStages);
#pragma unroll
    for (int ks = 0; ks < T::kSlabKw / 8; ++ks) {
      uint32_t af[T::kMI][4], bf[T::kNJ][2];
#pragma unroll
      for (int i = 0; i < T::kMI; ++i) tile::load_a_m16k256<T::kLA>(af[i], sa, sa_shape, wm + 16 * i, 8 * ks);
#pragma unroll
      for (int j = 0; j < T::kNJ; ++j) tile::load_b_n8k256<T::kLB>(bf[j], sb, sb_shape, wn + 8 * j, 8 * ks);
#pragma unroll
      for (int i = 0; i < T::kMI; ++i)
#pragma unroll
        for (int j = 0; j < T::kNJ; ++j) atom::MmaAndM16N8K256::fma(acc[i][j], af[i], bf[j]);
    }
  }
  atom::cp_async_wait<0>();

  // Rows and columns past M and N are inside the padded operands (their
  // popcounts exist); the epilogue drops them. Column terms once per warp.
  const int t = threadIdx.x & 3, g = (threadIdx.x & 31) >> 2;
  int32_t col[T::kNJ][2];
#pragma unroll
  for (int j = 0; j < T::kNJ; ++j)
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const int gj = n0 + wn + 8 * j + 2 * t + c;
      // kBits: INT32_MAX past n, the epilogue's contract (padding bits stay 0).
      col[j][c] = out.epilogue == Epilogue::kInt32 ? 2 * pb[gj] - k
                  : gj < n                          ? 2 * pb[gj] - k + ge_threshold(out, gj, k)
                                                    : INT32_MAX;
    }
  const BitsDest dst = bits_dest(out);
#pragma unroll
  for (int i = 0; i < T::kMI; ++i) {
    const int r0 = m0 + wm + 16 * i;
    const int32_t row[2] = {2 * pa[r0 + g], 2 * pa[r0 + g + 8]};
    store_and_fragments<T::kNJ>(
        out, dst, m, n, r0, n0 + wn, [&](int j, int e) { return 4 * acc[i][j][e]; }, row,
        [&](int j, int c) { return col[j][c]; });
  }
}

// One design per configuration: the configuration is data (generated per arch).
template <class Cfg>
class MmaAndDesign final : public AndDesign {
 public:
  explicit MmaAndDesign(int arch) : AndDesign(Cfg::c), arch_(arch) {}
  std::string name() const override { return std::string("mma_and_sm") + std::to_string(arch_); }
  std::string family() const override { return "mma_and"; }
  int config_arch() const override { return arch_; }
  // Both configurations run anywhere mma.sync b1 AND exists: on Hopper the
  // sm_80 one is measured beside the one selected for sm_90.
  std::string skip_reason(const CodeTarget& code) const override {
    return arch_skip_reason(code, atom::MmaAndM16N8K256::kMinArch, false, "mma.sync b1 AND");
  }
  void run(const Problem& p, const Operands& in, const Output& out, void* ws, cudaStream_t s) const override {
    using T = MmaTile<Cfg>;
    const dim3 grid = begin_and_run(p, in, out, ws, s);
    auto kernel = mma_and_kernel<Cfg>;
    allow_dynamic_smem(reinterpret_cast<const void*>(kernel), T::kSmemBytes);
    kernel<<<grid, Cfg::c.warps * 32, T::kSmemBytes, s>>>(in.a, in.b, in.a_shape, in.b_shape, popc_a(ws),
                                                          popc_b(ws, p), p.k, out, p.m, p.n);
    BTC_CUDA_CHECK_LAUNCH();
  }
  // One m16n8k256 per 16 x 8 of the block tile per 256 bits of K (padded to whole stages).
  std::optional<TensorInsts> tensor_insts(const Problem& p, int) const override {
    const BmmConfig& c = Cfg::c;
    const double blocks = double((p.m + c.block_m - 1) / c.block_m) * double((p.n + c.block_n - 1) / c.block_n);
    const double k_steps = double((p.k + c.block_k_bits - 1) / c.block_k_bits) * (c.block_k_bits / 256);
    return TensorInsts{blocks * (c.block_m / 16) * (c.block_n / 8) * k_steps, 0};
  }

 private:
  int arch_;
};

}  // namespace

void add_mma_designs(DesignList& out) {
  out.push_back(std::make_unique<MmaAndDesign<MmaAndSm80>>(80));
  out.push_back(std::make_unique<MmaAndDesign<MmaAndSm90>>(90));
}

}  // namespace btc::bmm
