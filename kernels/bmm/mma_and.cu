// mma.sync m16n8k256 AND design (sm_80+): operands in the layout the
// selection module chose (fragment-native on the H100: one 16-byte shared
// load per lane per A fragment, conflict-free), a multi-stage cp.async
// pipeline, and the +-1 correction from row popcounts:
//   dot = K - 2 popc(a) - 2 popc(b) + 4 popc(a AND b).
// The split-K variant (mma_and_splitk_sm80 / _sm90, for small-batch fully
// connected shapes) gives each C tile gridDim.z blocks over shares of K,
// counts A's row popcounts from its own A fragments (no row_popcounts
// launch), sums the shares (tile/split_k.cuh: one cluster a tile over DSMEM
// on sm_90, the workspace's global sums before it) and is a programmatic
// dependent launch on sm_90 (atoms/grid_dependency.cuh).
#include <algorithm>
#include <atomic>
#include <stdexcept>

#include "kernels/bmm/bmm_designs.h"
#include "kernels/bmm/bmm_epilogue.cuh"
#include "harness/core/check.h"
#include "kernels/atoms/copy_sm80.cuh"
#include "kernels/atoms/grid_dependency.cuh"
#include "kernels/atoms/mma_sm80.cuh"
#include "kernels/bmm/bmm_generated.h"
#include "kernels/bmm/bmm_tiles.h"
#include "kernels/tile/split_k.cuh"
#include "kernels/tile/tile_io.cuh"

namespace btc::bmm {
namespace {

using bits::BitMatrix;

// kSplitK: block z of gridDim.z takes K slabs [z ktiles / Z, (z+1) ktiles / Z);
// pa is unused (A's row popcounts come from the block's own A fragments);
// split_ws / split_count: the global sums (tile/split_k.cuh), split_cluster:
// the launch made each tile's blocks one cluster (sm_90).
template <class Cfg, bool kSplitK>
__global__ void __launch_bounds__(MmaTile<Cfg>::kWarps * 32, 1)
    mma_and_kernel(const uint32_t* a, const uint32_t* b, BitMatrix ga, BitMatrix gb, const int32_t* pa,
                   const int32_t* pb, int k, Output out, int m, int n, int32_t* split_ws, unsigned* split_count,
                   bool split_cluster) {
  using T = MmaTile<Cfg>;
  extern __shared__ __align__(128) uint32_t smem[];
  const int m0 = blockIdx.y * T::kBM, n0 = blockIdx.x * T::kBN;

  const BitMatrix sa_shape = tile::shape(T::kLA, T::kBM, T::kBlockK, T::kBM);
  const BitMatrix sb_shape = tile::shape(T::kLB, T::kBN, T::kBlockK, T::kBN);
  auto stage_a = [&](int s) { return smem + s * T::kStageWords; };
  auto stage_b = [&](int s) { return smem + s * T::kStageWords + T::kBM * T::kSlabKw; };
  const int all_ktiles = ga.kwords() / T::kSlabKw;
  const int kt0 = kSplitK ? static_cast<int>(blockIdx.z) * all_ktiles / static_cast<int>(gridDim.z) : 0;
  const int ktiles =
      kSplitK ? (static_cast<int>(blockIdx.z) + 1) * all_ktiles / static_cast<int>(gridDim.z) - kt0 : all_ktiles;
  const tile::SlabCopy<T::kLA, T::kBM, T::kSlabKw, T::kWarps * 32> copy_a(a, ga, m0, kt0 * T::kSlabKw);
  const tile::SlabCopy<T::kLB, T::kBN, T::kSlabKw, T::kWarps * 32> copy_b(b, gb, n0, kt0 * T::kSlabKw);
  auto issue = [&](int kt) {
    if (kt < ktiles) {
      copy_a.issue(stage_a(kt % T::kStages), kt);
      copy_b.issue(stage_b(kt % T::kStages), kt);
    }
    atom::cp_async_commit();  // empty groups keep the wait count uniform
  };

  const int w = threadIdx.x / 32;
  const int wm = (w % T::kWarpsM) * T::kWarpM, wn = (w / T::kWarpsM) * T::kWarpN;
  int32_t acc[T::kMI][T::kNJ][4] = {};
  // kSplitK: popc of rows g, g + 8 of m16 tile i over this lane's K words
  // (m16n8k256 A: a0, a2 row g; a1, a3 row g + 8); the warps of column 0 count.
  int32_t row_bits[T::kMI][2] = {};

  if constexpr (kSplitK) atom::grid_dependency_wait();  // A: the previous layer's output
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
      if constexpr (kSplitK) {
        if (wn == 0) {
#pragma unroll
          for (int i = 0; i < T::kMI; ++i) {
            row_bits[i][0] += __popc(af[i][0]) + __popc(af[i][2]);
            row_bits[i][1] += __popc(af[i][1]) + __popc(af[i][3]);
          }
        }
      }
    }
  }
  atom::cp_async_wait<0>();

  const int t = threadIdx.x & 3, g = (threadIdx.x & 31) >> 2;
  // kSplitK: the shares' counts summed; the block that gets them finishes
  // the tile, its row popcounts through shared memory to every warp.
  int32_t* row_popc = reinterpret_cast<int32_t*>(smem);
  if constexpr (kSplitK) {
    atom::launch_dependents();
#pragma unroll
    for (int i = 0; i < T::kMI; ++i)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        row_bits[i][h] += __shfl_xor_sync(0xFFFFFFFFu, row_bits[i][h], 1);
        row_bits[i][h] += __shfl_xor_sync(0xFFFFFFFFu, row_bits[i][h], 2);  // the quad's 4 lanes: the row's K words
      }
    constexpr int kAcc = T::kMI * T::kNJ * 4, kValues = kAcc + 2 * T::kMI;
    int32_t v[kValues];
#pragma unroll
    for (int i = 0; i < kAcc; ++i) v[i] = acc[i / (4 * T::kNJ)][(i / 4) % T::kNJ][i % 4];
#pragma unroll
    for (int i = 0; i < 2 * T::kMI; ++i) v[kAcc + i] = row_bits[i / 2][i % 2];
    __syncthreads();  // every warp is done with the ring: the reduction and the row popcounts reuse it
    if (gridDim.z > 1) {
      bool finishes = false;
      // Code built before sm_90 (a newer GPU running the sm_80 PTX) sums through the workspace.
      if (BTC_HAS_SM90 && split_cluster) {
        static_assert((kValues + 3) / 4 * 16 * T::kWarps * 32 <= T::kSmemBytes, "a block's partials fit in its ring");
        finishes = tile::split_k_reduce_cluster(v, reinterpret_cast<int4*>(smem), gridDim.z);
      } else {
        const int tile_id = static_cast<int>(blockIdx.y * gridDim.x + blockIdx.x);
        finishes = tile::split_k_reduce(v, split_ws + static_cast<int64_t>(tile_id) * kValues * T::kWarps * 32,
                                        split_count + tile_id, gridDim.z);
      }
      if (!finishes) return;
      __syncthreads();  // the cluster path read its peers' partials out of smem; the row popcounts go there next
    }
#pragma unroll
    for (int i = 0; i < kAcc; ++i) acc[i / (4 * T::kNJ)][(i / 4) % T::kNJ][i % 4] = v[i];
    if (wn == 0 && t == 0)
#pragma unroll
      for (int i = 0; i < T::kMI; ++i) {
        row_popc[wm + 16 * i + g] = v[kAcc + 2 * i];
        row_popc[wm + 16 * i + g + 8] = v[kAcc + 2 * i + 1];
      }
    __syncthreads();
  }

  // Rows and columns past M and N are inside the padded operands (their
  // popcounts exist); the epilogue drops them. Column terms once per warp.
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
    const int32_t row[2] = {2 * (kSplitK ? row_popc[wm + 16 * i + g] : pa[r0 + g]),
                            2 * (kSplitK ? row_popc[wm + 16 * i + g + 8] : pa[r0 + g + 8])};
    store_and_fragments<T::kNJ>(
        out, dst, m, n, r0, n0 + wn, [&](int j, int e) { return 4 * acc[i][j][e]; }, row,
        [&](int j, int c) { return col[j][c]; });
  }
}

// One design per configuration: the configuration is data (generated per arch).
// kSplitK: the split-K variant (the file's head) on its own hand-written
// tile, its shares aiming at kBlocksPerSm blocks an SM: mma_and_splitk (1),
// mma_and_splitk_2per_sm (2: twice the warps in flight on the weight-bound
// FC shapes, where ncu saw 1.3 warps a scheduler at 7152667).
template <class Cfg, bool kSplitK = false, int kBlocksPerSm = 1>
class MmaAndDesign final : public AndDesign {
  using T = MmaTile<Cfg>;

 public:
  explicit MmaAndDesign(int arch) : AndDesign(Cfg::c), arch_(arch) {}
  std::string name() const override {
    if constexpr (!kSplitK) return "mma_and_sm" + std::to_string(arch_);
    else return kBlocksPerSm == 1 ? "mma_and_splitk" : "mma_and_splitk_" + std::to_string(kBlocksPerSm) + "per_sm";
  }
  std::string family() const override { return "mma_and"; }
  int config_arch() const override { return arch_; }
  // Both configurations run anywhere mma.sync b1 AND exists: on Hopper the
  // sm_80 one is measured beside the one selected for sm_90.
  std::string skip_reason(const CodeTarget& code) const override {
    return arch_skip_reason(code, atom::MmaAndM16N8K256::kMinArch, false, "mma.sync b1 AND");
  }
  size_t workspace_bytes(const Problem& p) const override { return split_offset(p) + split_bytes(p); }
  void prepare(const Problem& p, const Operands& in, void* ws, cudaStream_t s) const override {
    AndDesign::prepare(p, in, ws, s);
    // Split-K's global sums and counters start at zero; each run leaves them so.
    if (const size_t bytes = split_bytes(p); bytes > 0)
      BTC_CUDA_CHECK(cudaMemsetAsync(static_cast<char*>(ws) + split_offset(p), 0, bytes, s));
  }
  void run(const Problem& p, const Operands& in, const Output& out, void* ws, cudaStream_t s) const override {
    auto kernel = mma_and_kernel<Cfg, kSplitK>;
    allow_dynamic_smem(reinterpret_cast<const void*>(kernel), T::kSmemBytes);
    if constexpr (!kSplitK) {
      const dim3 grid = begin_and_run(p, in, out, ws, s);
      kernel<<<grid, Cfg::c.warps * 32, T::kSmemBytes, s>>>(in.a, in.b, in.a_shape, in.b_shape, popc_a(ws),
                                                            popc_b(ws, p), p.k, out, p.m, p.n, nullptr, nullptr,
                                                            false);
      BTC_CUDA_CHECK_LAUNCH();
    } else {
      dim3 grid = begin_blocked_run(*this, p, in, out, Cfg::c.block_m, Cfg::c.block_n, s);
      const int splits = split_count(p);
      grid.z = static_cast<unsigned>(splits);
      const bool cluster = tile::split_k_in_clusters(splits);
      int32_t* sums = splits > 1 ? reinterpret_cast<int32_t*>(static_cast<char*>(ws) + split_offset(p)) : nullptr;
      unsigned* counters = splits > 1 ? reinterpret_cast<unsigned*>(sums + split_sum_words(p)) : nullptr;
      atom::launch_programmatic({grid, dim3(Cfg::c.warps * 32), static_cast<size_t>(T::kSmemBytes), s,
                                 dim3(1, 1, cluster ? static_cast<unsigned>(splits) : 1u)},
                                kernel, in.a, in.b, in.a_shape, in.b_shape, popc_a(ws), popc_b(ws, p), p.k, out,
                                p.m, p.n, sums, counters, cluster);
    }
  }
  // One m16n8k256 per 16 x 8 of the block tile per 256 bits of K (padded to
  // whole stages); split-K's shares divide the same slabs.
  std::optional<TensorInsts> tensor_insts(const Problem& p, int) const override {
    const BmmConfig& c = Cfg::c;
    const double blocks = double((p.m + c.block_m - 1) / c.block_m) * double((p.n + c.block_n - 1) / c.block_n);
    const double k_steps = double((p.k + c.block_k_bits - 1) / c.block_k_bits) * (c.block_k_bits / 256);
    return TensorInsts{blocks * (c.block_m / 16) * (c.block_n / 8) * k_steps, 0};
  }

 private:
  static int64_t tiles(const Problem& p) {
    return int64_t{(p.m + Cfg::c.block_m - 1) / Cfg::c.block_m} * ((p.n + Cfg::c.block_n - 1) / Cfg::c.block_n);
  }
  // tile::split_k_shares over the tiles and K's slabs: at most 8 shares on
  // sm_90 (a portable cluster), 16 before it; the tests' forced count. 1
  // for the plain design. Two blocks an SM allow one-slab shares.
  int split_count(const Problem& p) const {
    if constexpr (!kSplitK) return 1;
    else {
      tile::SplitKRule rule;
      rule.blocks_per_sm = kBlocksPerSm;
      if (kBlocksPerSm > 1) rule.min_slabs_per_split = 1;
      return tile::device_split_k_shares(tiles(p), (p.k + Cfg::c.block_k_bits - 1) / Cfg::c.block_k_bits, rule);
    }
  }
  // Per tile, a thread's accumulators and its rows' popcounts.
  static constexpr int kSplitValues = T::kMI * T::kNJ * 4 + 2 * T::kMI;
  static int64_t split_sum_words(const Problem& p) { return tiles(p) * kSplitValues * Cfg::c.warps * 32; }
  size_t split_offset(const Problem& p) const { return (AndDesign::workspace_bytes(p) + 255) / 256 * 256; }
  size_t split_bytes(const Problem& p) const {
    return split_count(p) > 1 ? static_cast<size_t>(split_sum_words(p) + tiles(p)) * 4 : 0;
  }
  int arch_;
};

}  // namespace

void add_mma_designs(DesignList& out) {
  out.push_back(std::make_unique<MmaAndDesign<MmaAndSm80>>(80));
  out.push_back(std::make_unique<MmaAndDesign<MmaAndSm90>>(90));
  // One hand-written tile for every arch (generated/bmm_splitk_config.h).
  out.push_back(std::make_unique<MmaAndDesign<MmaAndSplitK, true>>(80));
  out.push_back(std::make_unique<MmaAndDesign<MmaAndSplitK, true, 2>>(80));
}

}  // namespace btc::bmm
