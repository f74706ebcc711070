// wgmma AND design (sm_90a): m64nNk256 b1 with both operands read by the
// tensor core from shared memory, a producer warpgroup feeding an
// S-stage ring through the bulk copy engine, two consumer warpgroups.
//
// Format co-design: the operands are stored pre-tiled in the wgmma layout
// the selection module chose (boxes of block_m / block_n rows, swizzled as
// the tensor core reads them), so one block's K stage is one contiguous run
// per operand, copied by a single 1-D cp.async.bulk completing on an
// mbarrier; no tensor map is needed.
#include <stdexcept>

#include "bmm_designs.h"
#include "bmm_epilogue.cuh"
#include "check.h"
#include "generated/bmm_config.h"
#include "tile_io.cuh"
#include "wgmma_asm.cuh"

namespace btc::bmm {
namespace sm90 {
// ---- mbarrier and bulk-copy primitives (sm_90).
__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(tile::smem_addr(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(tile::smem_addr(bar)), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(tile::smem_addr(bar)) : "memory");
}
// Waits until the phase with parity `parity` has completed.
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  asm volatile(
      "{\n .reg .pred done;\n"
      "WAIT_%=:\n"
      " mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      " @!done bra WAIT_%=;\n}" ::"r"(tile::smem_addr(bar)),
      "r"(parity)
      : "memory");
}
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                   tile::smem_addr(dst)),
               "l"(src), "r"(bytes), "r"(tile::smem_addr(bar))
               : "memory");
}

}  // namespace sm90

namespace {

using namespace sm90;

struct WgmmaConfigSm90 {
  static constexpr const BmmConfig& c = generated::sm90::kWgmmaAnd;
};

using bits::BitMatrix;

template <class Cfg>
struct WgTile {
  static constexpr int kBM = Cfg::c.block_m, kBN = Cfg::c.block_n, kSlabKw = Cfg::c.block_k_bits / 32, kStages = Cfg::c.stages;
  static constexpr int kConsumers = Cfg::c.warps / 4;  // consumer warpgroups, 64 rows each
  static constexpr int kBlockK = Cfg::c.block_k_bits;
  static constexpr bits::Layout kLA = Cfg::c.a_layout, kLB = Cfg::c.b_layout;
  static constexpr int kThreads = (kConsumers + 1) * 128;
  static constexpr int kABytes = kBM * kSlabKw * 4, kBBytes = kBN * kSlabKw * 4;
  static constexpr int kStageBytes = kABytes + kBBytes;
  static constexpr int kSmemBytes = kStages * kStageBytes + 2 * kStages * 8 + 1024;  // + alignment
  static_assert(kBM == 64 * kConsumers, "one 64-row wgmma per consumer warpgroup");
  static_assert(kBlockK % 256 == 0 && bits::is_wgmma(kLA) && bits::is_wgmma(kLB), "wgmma reads wgmma layouts");
  static_assert(kABytes % 1024 == 0 && kBBytes % 1024 == 0, "swizzled stages start 1024-byte aligned");
};

template <class Cfg, int N>
__global__ void __launch_bounds__(WgTile<Cfg>::kThreads, 1)
    wgmma_and_kernel(const uint32_t* a, const uint32_t* b, BitMatrix ga, BitMatrix gb, const int32_t* pa,
                     const int32_t* pb, int k, Output out, int m, int n) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using T = WgTile<Cfg>;
  extern __shared__ uint8_t smem_raw[];
  // Swizzled stages need 1024-byte alignment: align the dynamic base by hand.
  uint8_t* smem = reinterpret_cast<uint8_t*>(
      (reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~static_cast<uintptr_t>(1023));
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + T::kStages * T::kStageBytes);
  uint64_t* empty = full + T::kStages;
  auto stage_a = [&](int s) { return reinterpret_cast<uint32_t*>(smem + s * T::kStageBytes); };
  auto stage_b = [&](int s) { return reinterpret_cast<uint32_t*>(smem + s * T::kStageBytes + T::kABytes); };

  const int m0 = blockIdx.y * T::kBM, n0 = blockIdx.x * T::kBN;
  const int wg = threadIdx.x / 128;  // 0: producer; 1..: consumers
  if (threadIdx.x == 0) {
    for (int s = 0; s < T::kStages; ++s) {
      mbar_init(&full[s], 1);                     // the producer's expect_tx arrival
      mbar_init(&empty[s], T::kConsumers * 4);    // every consumer warp releases the stage
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();

  const int ktiles = ga.kwords() / T::kSlabKw;
  if (wg == 0) {
    // The producer needs few registers: hand them to the consumers, whose
    // 128 accumulators otherwise leave ptxas no room between wgmmas.
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;");
    if (threadIdx.x == 0) {
      for (int kt = 0; kt < ktiles; ++kt) {
        const int s = kt % T::kStages;
        if (kt >= T::kStages) mbar_wait(&empty[s], ((kt / T::kStages) + 1) & 1);
        mbar_expect_tx(&full[s], T::kStageBytes);
        bulk_copy(stage_a(s), a + ga.word_index(m0, kt * T::kSlabKw), T::kABytes, &full[s]);
        bulk_copy(stage_b(s), b + gb.word_index(n0, kt * T::kSlabKw), T::kBBytes, &full[s]);
      }
    }
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;");
    const int cw = wg - 1;  // consumer warpgroup: rows 64cw.. of the block
    int32_t acc[N / 2];  // written first by a scale-d = 0 wgmma: never zeroed
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
    for (int kt = 0; kt < ktiles; ++kt) {
      const int s = kt % T::kStages;
      mbar_wait(&full[s], (kt / T::kStages) & 1);
      // All descriptors first: no address arithmetic between the wgmmas.
      uint64_t da[T::kSlabKw / 8], db[T::kSlabKw / 8];
#pragma unroll
      for (int ks = 0; ks < T::kSlabKw / 8; ++ks) {
        da[ks] = tile::wgmma_slab_desc<T::kLA>(stage_a(s), T::kBM, T::kBlockK, 64 * cw, 8 * ks);
        db[ks] = tile::wgmma_slab_desc<T::kLB>(stage_b(s), T::kBN, T::kBlockK, 0, 8 * ks);
      }
#pragma unroll
      for (int ks = 0; ks < T::kSlabKw / 8; ++ks)
        dev::wgmma_ss<dev::WgmmaKind::B1And, N>(acc, da[ks], db[ks], kt > 0 || ks > 0);
      asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
      // Keep one stage of MMAs in flight; the one before it is done: release its buffers.
      asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");
      if (kt > 0 && (threadIdx.x & 31) == 0) mbar_arrive(&empty[(kt - 1) % T::kStages]);
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");

    // Accumulator 4j + e of warp w is the m16n8 layout of rows 64cw + 16w.. .
    const int w = (threadIdx.x % 128) / 32;
    store_warp_fragments<N / 8>(out, m, n, m0 + 64 * cw + 16 * w, n0, [&](int j, int e, int gi, int gj) {
      return k - 2 * pa[gi] - 2 * pb[gj] + 4 * acc[4 * j + e];
    });
  }
#else
  (void)a; (void)b; (void)ga; (void)gb; (void)pa; (void)pb; (void)k; (void)out; (void)m; (void)n;
  __trap();
#endif
}


template <class Cfg>
class WgmmaAndDesign final : public AndDesign {
 public:
  WgmmaAndDesign() : AndDesign(Cfg::c) {}
  std::string name() const override { return "wgmma_and_sm90"; }
  std::string family() const override { return "wgmma_and"; }
  std::string skip_reason(int sm, bool has_sm90a) const override {
    if (sm != 90 || !has_sm90a) return "needs sm_90a (wgmma); device is sm_" + std::to_string(sm);
    return "";
  }
  void run(const Problem& p, const Operands& in, const Output& out, void* ws, cudaStream_t s) const override {
    using T = WgTile<Cfg>;
    const dim3 grid = begin_and_run(p, in, out, ws, s);
    auto kernel = wgmma_and_kernel<Cfg, Cfg::c.block_n>;
    BTC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, T::kSmemBytes));
    kernel<<<grid, T::kThreads, T::kSmemBytes, s>>>(in.a, in.b, in.a_shape, in.b_shape, popc_a(ws), popc_b(ws, p),
                                                     p.k, out, p.m, p.n);
    BTC_CUDA_CHECK_LAUNCH();
  }
};

}  // namespace

void add_wgmma_designs(DesignList& out) { out.push_back(std::make_unique<WgmmaAndDesign<WgmmaConfigSm90>>()); }

}  // namespace btc::bmm
