// wgmma AND design (sm_90a): m64nNk256 b1 with both operands read by the
// tensor core from shared memory; persistent CTAs (one per SM) in which a
// feeder warpgroup fills an S-stage ring through the bulk copy engine and
// two consumer warpgroups multiply and run the epilogue from registers.
//
// Format co-design: the operands are stored pre-tiled in the wgmma layout
// the selection module chose (boxes of block_m / block_n rows, swizzled as
// the tensor core reads them), so one block's K stage is one contiguous run
// per operand, copied by a single 1-D cp.async.bulk completing on an
// mbarrier; no tensor map is needed. Cluster variants split each run among
// the CTAs that share it and multicast the pieces.
//
// The ring, tile, layout and cluster are generated data: kWgmmaAnd (the
// selected one, design wgmma_and_sm90) and, in a -DBTC_BMM_CANDIDATES=ON
// build, every row of kWgmmaAndCandidates, which analysis/select ranks from
// that build's `bmm` sweep.
#include <algorithm>
#include <iterator>
#include <utility>
#include <stdexcept>

#include "kernels/bmm/bmm_designs.h"
#include "kernels/bmm/bmm_epilogue.cuh"
#include "harness/core/check.h"
#include "kernels/atoms/copy_sm90.cuh"
#include "kernels/atoms/mma_sm90.cuh"
#include "kernels/bmm/bmm_generated.h"
#include "kernels/bmm/bmm_tiles.h"
#include "kernels/tile/tile_io.cuh"

// Diagnostic builds (cmake -DBTC_WGMMA_PROBE=feed_only|math_only) split the
// kernel's time between its two halves; the design then says so in its name
// and computes garbage, so such a build is for timing only:
//   1 feed_only: the consumers release each stage as soon as it lands (no
//                wgmma): the rate at which the bulk copies fill the ring;
//   2 math_only: the first ring fill only, then the consumers multiply the
//                resident stages over and over: the MMA + epilogue rate.
#ifndef BTC_WGMMA_PROBE
#define BTC_WGMMA_PROBE 0
#endif
#ifndef BTC_BMM_CANDIDATES
#define BTC_BMM_CANDIDATES 0
#endif

namespace btc::bmm {
namespace sm90 {

// Persistent tile order: bands of 8 row blocks, column-major inside a band,
// so the CTAs running at once share a few A and B blocks in L2.
__device__ __forceinline__ void tile_coords(int t, int tiles_m, int tiles_n, int& tm, int& tn) {
  constexpr int kGroupM = 8;
  const int band = t / (kGroupM * tiles_n), first = band * kGroupM;
  const int rows = min(kGroupM, tiles_m - first), in_band = t - band * kGroupM * tiles_n;
  tm = first + in_band % rows;
  tn = in_band / rows;
}

}  // namespace sm90

// Named, not anonymous: members only the sm_90a pass uses would warn (#177) in the others.
namespace wgmma {

using namespace sm90;
using namespace atom;


using bits::BitMatrix;

// The tiles one CTA visits: its cluster walks cluster tiles (CM x CN CTA
// tiles) with the persistent stride; a CTA past the edge of M or N still
// copies its share for its cluster, and its epilogue drops everything.
template <class T>
struct TileWalk {
  int tiles_m, tiles_n, cl_m, cl_n, rm, rn, first, step;
  __device__ TileWalk(int tiles_m_, int tiles_n_) : tiles_m(tiles_m_), tiles_n(tiles_n_) {
    cl_m = (tiles_m + T::kClusterM - 1) / T::kClusterM;
    cl_n = (tiles_n + T::kClusterN - 1) / T::kClusterN;
    const int rank = T::kClusterSize == 1 ? 0 : static_cast<int>(cluster_ctarank());
    rm = T::kClusterM == 1 ? 0 : rank % T::kClusterM;  // constants where the cluster is 1 wide: fewer
    rn = T::kClusterN == 1 ? 0 : rank / T::kClusterM;  // live registers in the 40-register producer
    first = static_cast<int>(blockIdx.x) / T::kClusterSize;
    step = static_cast<int>(gridDim.x) / T::kClusterSize;
  }
  __device__ int count() const { return cl_m * cl_n; }
  __device__ void coords(int ct, int& tm, int& tn) const {
    int cm, cn;
    tile_coords(ct, cl_m, cl_n, cm, cn);
    tm = cm * T::kClusterM + rm;
    tn = cn * T::kClusterN + rn;
  }
};

// Slice q of Q (by rows) of one operand's K stage: rows x block_k bits, its
// boxes contiguous in global and shared memory alike. Q = 1: one plain copy.
template <class T, bits::Layout L, int Q>
__device__ __forceinline__ void copy_stage_slice(uint32_t* smem, const uint32_t* g, int rows, int q, uint16_t mask,
                                                 uint64_t* bar) {
  if constexpr (Q == 1) {
    bulk_copy(smem, g, static_cast<uint32_t>(rows * T::kSlabKw * 4), bar);
  } else {
    constexpr int kRowBytes = bits::swizzle_bytes(L), kBoxes = T::kBlockK / bits::box_k_of(L);
    const int slice_bytes = rows / Q * kRowBytes, box_bytes = rows * kRowBytes;
#pragma unroll
    for (int x = 0; x < kBoxes; ++x) {
      const int off = x * box_bytes + q * slice_bytes;
      bulk_copy_multicast(reinterpret_cast<char*>(smem) + off, reinterpret_cast<const char*>(g) + off,
                          static_cast<uint32_t>(slice_bytes), bar, mask);
    }
  }
}

// Releases a ring stage: in every CTA of the cluster (their copies write here too).
template <class T>
__device__ __forceinline__ void release_stage(uint64_t* bar) {
  if constexpr (T::kClusterSize == 1) {
    mbar_arrive(bar);
  } else {
#pragma unroll
    for (int r = 0; r < T::kClusterSize; ++r) mbar_arrive_cluster(bar, static_cast<uint32_t>(r));
  }
}

// Persistent and warp-specialized. Warpgroup 0 feeds, the others multiply:
//   warp 0 (one lane)  bulk-copies every tile's K stages into the S-stage ring
//                      (its share, multicast, when clustered);
//   warp 1             stages each tile's column terms (B popcounts, thresholds);
//   warpgroups 1..     wgmma m64nNk256 over the ring, plus m64n8k256 against
//                      ones for A's row popcounts (the AND form's correction
//                      fused: no separate pass over A), then the epilogue
//                      from registers while the ring already holds the next tile.
// Consumers reach the ring through full/empty mbarriers, the epilogue terms
// through term_full/term_empty (double-buffered by tile parity).
template <class T, int N>
__global__ void __launch_bounds__(T::kThreads, 1)
    wgmma_and_kernel(const uint32_t* a, const uint32_t* b, BitMatrix ga, BitMatrix gb, const int32_t* pb, int k,
                     Output out, int m, int n, int tiles_m, int tiles_n) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ uint8_t smem_raw[];
  // Swizzled stages need 1024-byte alignment: align the dynamic base by hand
  // (the same offset in every CTA: multicast copies land at equal offsets).
  // An offset from smem_raw, not an integer round trip: the compiler then
  // still knows these pointers are shared memory (LDS, not generic LD).
  uint8_t* smem = smem_raw + ((1024u - (smem_addr(smem_raw) & 1023u)) & 1023u);
  uint32_t* ones = reinterpret_cast<uint32_t*>(smem + T::kStages * T::kStageBytes);
  int32_t* col_terms = reinterpret_cast<int32_t*>(smem + T::kStages * T::kStageBytes + T::kOnesBytes);  // [2][kBN]
  uint64_t* full = reinterpret_cast<uint64_t*>(col_terms + 2 * T::kBN);
  uint64_t* empty = full + T::kStages;
  uint64_t* term_full = empty + T::kStages;
  uint64_t* term_empty = term_full + 2;
  auto stage_a = [&](int s) { return reinterpret_cast<uint32_t*>(smem + s * T::kStageBytes); };
  auto stage_b = [&](int s) { return reinterpret_cast<uint32_t*>(smem + s * T::kStageBytes + T::kABytes); };

  const int wg = threadIdx.x / 128, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  constexpr int kConsumerThreads = T::kConsumers * 128;
  if (threadIdx.x == 0) {
    for (int s = 0; s < T::kStages; ++s) {
      mbar_init(&full[s], 1);  // the producer's expect_tx arrival
      mbar_init(&empty[s], T::kConsumers * 4 * T::kClusterSize);  // every consumer warp of every CTA in the cluster
    }
    for (int i = 0; i < 2; ++i) {
      mbar_init(&term_full[i], 32);  // warp 1, every lane
      mbar_init(&term_empty[i], kConsumerThreads);
    }
    fence_mbarrier_init();
  }
  // The whole slot: the ones operand is 8 rows of B's layout, whose rows sit
  // a swizzle width apart (up to 128 bytes), not 8 x 32 packed bytes.
  for (int i = threadIdx.x; i < T::kOnesBytes / 4; i += blockDim.x) ones[i] = 0xFFFFFFFFu;
  fence_proxy_async_smem();  // the tensor core reads them next
  // Peers arrive on these barriers and copy into this CTA: all initialized first.
  if constexpr (T::kClusterSize > 1) cluster_sync(); else __syncthreads();

  const TileWalk<T> walk(tiles_m, tiles_n);
  const int ktiles = ga.kwords() / T::kSlabKw;
  if (wg == 0) {
    // The feeders need few registers: hand them to the consumers, whose
    // 128 accumulators otherwise leave ptxas no room between wgmmas.
    setmaxnreg_dec<T::kFeederRegs>();
    if (warp == 0) {
      if (lane == 0) {
        uint16_t mask_a = 0, mask_b = 0;  // the CTAs sharing this CTA's A block / B block
        for (int j = 0; j < T::kClusterN; ++j) mask_a |= 1u << (walk.rm + T::kClusterM * j);
        for (int i = 0; i < T::kClusterM; ++i) mask_b |= 1u << (i + T::kClusterM * walk.rn);
        int it = 0;  // this CTA's K-stage count, across its tiles
        for (int ct = walk.first; ct < walk.count(); ct += walk.step) {
          int tm, tn;
          walk.coords(ct, tm, tn);
          // A block's boxes follow each other along K (box_rows = block rows),
          // so stage kt starts kt whole stages after stage 0: no index math per
          // stage. (This one thread is serial: word_index's divisions per stage
          // were its critical path.)
          const uint32_t* src_a = a + ga.word_index(min(tm, tiles_m - 1) * T::kBM, 0);
          const uint32_t* src_b = b + gb.word_index(min(tn, tiles_n - 1) * T::kBN, 0);
          for (int kt = 0; kt < ktiles; ++kt, ++it) {
            const int s = it % T::kStages, use = it / T::kStages;
            if (BTC_WGMMA_PROBE == 2 && use > 0) continue;
            if (use > 0) mbar_wait(&empty[s], (use - 1) & 1);
            mbar_expect_tx(&full[s], T::kStageBytes);
            copy_stage_slice<T, T::kLA, T::kClusterN>(stage_a(s), src_a + kt * (T::kABytes / 4), T::kBM, walk.rn,
                                                      mask_a, &full[s]);
            copy_stage_slice<T, T::kLB, T::kClusterM>(stage_b(s), src_b + kt * (T::kBBytes / 4), T::kBN, walk.rm,
                                                      mask_b, &full[s]);
          }
        }
      }
    } else if (warp == 1) {
      const bool with_threshold = out.epilogue == Epilogue::kBits;
      int lt = 0;
      for (int ct = walk.first; ct < walk.count(); ct += walk.step, ++lt) {
        int tm, tn;
        walk.coords(ct, tm, tn);
        const int buf = lt & 1, use = lt >> 1;
        if (use > 0) mbar_wait(&term_empty[buf], (use - 1) & 1);
        // All loads in flight before the first store: one L2 latency per
        // tile, not one per column group (which put this warp on the
        // critical path: ~16 L2 round trips per tile).
        int32_t v[T::kBN / 32];
#pragma unroll
        for (int i = 0; i < T::kBN / 32; ++i) {
          const int gj = tn * T::kBN + 32 * i + lane;
          // kBits: INT32_MAX past n, the epilogue's contract (padding bits stay 0).
          v[i] = gj >= n ? INT32_MAX : 2 * __ldg(pb + gj) - k + (with_threshold ? ge_threshold(out, gj, k) : 0);
        }
#pragma unroll
        for (int i = 0; i < T::kBN / 32; ++i) col_terms[buf * T::kBN + 32 * i + lane] = v[i];
        mbar_arrive(&term_full[buf]);
      }
    }
    // warps 2-3: nothing left to do (the warpgroup is setmaxnreg's unit)
  } else {
    setmaxnreg_inc<T::kConsumerRegs>();
    const int cw = wg - 1;  // consumer warpgroup: rows 64cw.. of the block
    const int w = warp % 4, g = lane / 4, tq = lane % 4;
    int it = 0, lt = 0;
    for (int ct = walk.first; ct < walk.count(); ct += walk.step, ++lt) {
      int tm, tn;
      walk.coords(ct, tm, tn);
      int32_t acc[N / 2];  // written first by a scale-d = 0 wgmma: never zeroed
      int32_t popc_a[4];   // m64n8 layout against ones: every column holds popc(row)
      for (int kt = 0; kt < ktiles; ++kt, ++it) {
        const int s = it % T::kStages;
        if (BTC_WGMMA_PROBE != 2 || it < T::kStages) mbar_wait(&full[s], (it / T::kStages) & 1);
        if (BTC_WGMMA_PROBE == 1) {
          if (lane == 0) release_stage<T>(&empty[s]);
          continue;
        }
        // Every stage, as CUTLASS does (ptxas injects one otherwise, C7519):
        // orders the epilogue's reads of acc before the tile's first wgmma.
        wgmma_fence();
        // All descriptors first: no address arithmetic between the wgmmas.
        uint64_t da[T::kSlabKw / 8], db[T::kSlabKw / 8];
#pragma unroll
        for (int ks = 0; ks < T::kSlabKw / 8; ++ks) {
          da[ks] = tile::wgmma_slab_desc<T::kLA>(stage_a(s), T::kBM, T::kBlockK, 64 * cw, 8 * ks);
          db[ks] = tile::wgmma_slab_desc<T::kLB>(stage_b(s), T::kBN, T::kBlockK, 0, 8 * ks);
        }
#pragma unroll
        for (int ks = 0; ks < T::kSlabKw / 8; ++ks)
          wgmma_ss<WgmmaKind::B1And, N>(acc, da[ks], db[ks], kt > 0 || ks > 0);
        const uint64_t d_ones = tile::wgmma_slab_desc<T::kLB>(ones, 8, 256, 0, 0);
#pragma unroll
        for (int ks = 0; ks < T::kSlabKw / 8; ++ks)
          wgmma_ss<WgmmaKind::B1And, 8>(popc_a, da[ks], d_ones, kt > 0 || ks > 0);
        wgmma_commit();
        // Keep one stage of MMAs in flight; the one before it is done: release its buffers.
        wgmma_wait<1>();
        if (BTC_WGMMA_PROBE == 0 && kt > 0 && lane == 0) release_stage<T>(&empty[(it - 1) % T::kStages]);
      }
      wgmma_wait<0>();
      if (BTC_WGMMA_PROBE == 0 && lane == 0) release_stage<T>(&empty[(it - 1) % T::kStages]);

      // Accumulator 4j + e of warp w is the m16n8 layout of rows 64cw + 16w.. .
      const int buf = lt & 1;
      mbar_wait(&term_full[buf], (lt >> 1) & 1);
      const int lr = 64 * cw + 16 * w + g;
      const int32_t row[2] = {2 * popc_a[0], 2 * popc_a[2]};  // rows g and g + 8
      const int32_t* cols = col_terms + buf * T::kBN + 2 * tq;
      store_and_fragments<N / 8>(
          out, bits_dest(out), m, n, tm * T::kBM + lr - g, tn * T::kBN, [&](int j, int e) { return 4 * acc[4 * j + e]; }, row,
          [&](int j, int c) { return cols[8 * j + c]; });
      mbar_arrive(&term_empty[buf]);
    }
  }
  // No CTA leaves while a peer may still arrive on its barriers.
  if constexpr (T::kClusterSize > 1) cluster_sync();
#else
  (void)a; (void)b; (void)ga; (void)gb; (void)pb; (void)k; (void)out; (void)m; (void)n; (void)tiles_m; (void)tiles_n;
  __trap();
#endif
}


template <class Cfg>
class WgmmaAndDesign final : public AndDesign {
 public:
  // candidate < 0: the generated kWgmmaAnd; else its row in kWgmmaAndCandidates.
  explicit WgmmaAndDesign(int candidate = -1) : AndDesign(Cfg::c), candidate_(candidate) {}
  std::string name() const override {
    constexpr const char* kProbe[] = {"", "_probe_feed_only", "_probe_math_only"};
    const BmmConfig& c = Cfg::c;
    std::string n = "wgmma_and_sm90";
    if (candidate_ >= 0)
      n += "_c" + std::to_string(candidate_) + "_" + std::to_string(c.block_m) + "x" + std::to_string(c.block_n) +
           "_sw" + std::to_string(bits::swizzle_bytes(c.a_layout)) + "_k" + std::to_string(c.block_k_bits) + "x" +
           std::to_string(c.stages) +
           (c.cluster_m * c.cluster_n > 1 ? "_mc" + std::to_string(c.cluster_m) + "x" + std::to_string(c.cluster_n) : "");
    return n + kProbe[BTC_WGMMA_PROBE];
  }
  std::string family() const override { return "wgmma_and"; }
  int config_arch() const override { return 90; }
  bool candidate() const override { return candidate_ >= 0; }
  std::string skip_reason(const CodeTarget& code) const override {
    return arch_skip_reason(code, 90, true, "wgmma b1 AND");
  }
  void run(const Problem& p, const Operands& in, const Output& out, void* ws, cudaStream_t s) const override {
    using T = WgTile<Cfg>;
    constexpr int CM = T::kClusterM, CN = T::kClusterN;
    // A's popcounts are fused into the kernel: no row_popcounts pass here.
    const dim3 blocks = begin_blocked_run(*this, p, in, out, T::kBM, T::kBN, s);
    const int tiles_m = static_cast<int>(blocks.y), tiles_n = static_cast<int>(blocks.x);
    const int cluster_tiles = ((tiles_m + CM - 1) / CM) * ((tiles_n + CN - 1) / CN);
    auto kernel = wgmma_and_kernel<T, Cfg::c.block_n>;

    cudaLaunchConfig_t cfg{};
    cudaLaunchAttribute attr{};
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = CM * CN;
    attr.val.clusterDim.y = 1;
    attr.val.clusterDim.z = 1;
    cfg.blockDim = dim3(T::kThreads);
    cfg.dynamicSmemBytes = T::kSmemBytes;
    cfg.stream = s;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
    // Persistent: as many clusters as fit at once (one CTA per SM).
    cfg.gridDim = dim3(static_cast<unsigned>(CM * CN));
    const int clusters = max_active_clusters(reinterpret_cast<const void*>(kernel), cfg);
    if (clusters < 1) throw std::runtime_error(name() + ": no cluster of " + std::to_string(CM * CN) + " CTAs fits");
    cfg.gridDim = dim3(static_cast<unsigned>(std::min(clusters, cluster_tiles) * CM * CN));
    BTC_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, in.a, in.b, in.a_shape, in.b_shape,
                                      static_cast<const int32_t*>(popc_b(ws, p)), p.k, out, p.m, p.n, tiles_m,
                                      tiles_n));
    BTC_CUDA_CHECK_LAUNCH();
  }
  // Every CTA of a cluster visits its cluster's tiles, the ones past M or N
  // too. Per tile, each consumer warpgroup issues per 256 bits of K (padded
  // to whole stages) one m64nNk256 and one m64n8k256 (A's popcounts): 2
  // instructions, counted 4 times (once per warp). GH100's CUPTI counts a b1
  // wgmma in the imma metric as well as in gmma (test_tensor_counts_gpu,
  // H200, 1e19330: imma equal to gmma on every size).
  std::optional<TensorInsts> tensor_insts(const Problem& p, int) const override {
    using T = WgTile<Cfg>;
    const int tiles_m = (p.m + T::kBM - 1) / T::kBM, tiles_n = (p.n + T::kBN - 1) / T::kBN;
    const double visits = double((tiles_m + T::kClusterM - 1) / T::kClusterM) *
                          double((tiles_n + T::kClusterN - 1) / T::kClusterN) * T::kClusterSize;
    const double k_steps = double((p.k + T::kBlockK - 1) / T::kBlockK) * (T::kBlockK / 256);
    const double warp_insts = visits * T::kConsumers * 4 * k_steps * 2;
    return TensorInsts{warp_insts, warp_insts};
  }

 private:
  int candidate_;
};

#if BTC_BMM_CANDIDATES
template <int... I>
void add_candidates(DesignList& out, std::integer_sequence<int, I...>) {
  (out.push_back(std::make_unique<WgmmaAndDesign<WgmmaAndCandidateSm90<I>>>(I)), ...);
}
#endif

}  // namespace wgmma

void add_wgmma_designs(DesignList& out) {
  out.push_back(std::make_unique<wgmma::WgmmaAndDesign<WgmmaAndSm90>>());
#if BTC_BMM_CANDIDATES
  wgmma::add_candidates(out, std::make_integer_sequence<int, kWgmmaAndCandidatesSm90>{});
#endif
}

}  // namespace btc::bmm
