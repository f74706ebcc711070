// Tensor-core implicit-GEMM BConv. The GEMM view: M = N*P*Q output pixels,
// N = K filters, K = R*S*C_pad bits in (tap, channel word) order - the weight
// row's own order (formats' KRSC). Per K slab a block gathers its pixels'
// activation words straight from NHWC with cp.async, zero-filled where a tap
// falls outside the image or past R*S; the weights come from a copy repacked
// once in prepare() into whole blocks and slabs. Three instructions:
//   mma_and:   mma.sync m16n8k256 AND (sm_80+), the AND-fragment epilogue BMM uses;
//   wgmma_and: wgmma m64nNk256 AND (sm_90a), both operands read from the ring
//              by the tensor core, the same epilogue (its m64 accumulators are
//              the m16n8 fragments of 4 warps); A's row popcounts from one
//              more m64n8k256 against ones, as BMM's wgmma design;
//   btc_wmma:  WMMA 8x8x128 XOR (sm_75+; emulated on sm_90), BMM's BlockEpilogue.
// Padding (docs/bconv.md): a zero-filled tap acts as an all -1 input, so the
// whole-window dot z_full counts it as C - 2 popc(w_tap). Per filter j a
// prefix table over taps of v_t = C - 2 popc(w_tap_j) gives the sum over any
// rectangle of taps; a pixel's valid taps are one rectangle, so
//   z = z_full - alpha * (total_j - rect_j(pixel)),
// alpha = 1 (zero padding), 0 (pad -1: z_full is right), 2 (pad +1).
// The rectangle depends only on the pixel's border class (border_classes.h),
// so prepare() tabulates the excess per (class, filter); interior pixels'
// row of the table is 0, and a warp whose rows are all interior skips it.
#include <algorithm>
#include <atomic>
#include <iterator>
#include <stdexcept>
#include <utility>

#include "harness/core/check.h"
#include "kernels/atoms/copy_sm80.cuh"
#include "kernels/atoms/copy_sm90.cuh"
#include "kernels/atoms/grid_dependency.cuh"
#include "kernels/atoms/mma_sm75.cuh"
#include "kernels/atoms/mma_sm80.cuh"
#include "kernels/atoms/mma_sm90.cuh"
#include "kernels/atoms/ptx_b1.h"
#include "kernels/bconv/bconv_designs.h"
#include "kernels/bconv/border_classes.h"
#include "kernels/bconv/fast_div.h"
#include "kernels/bmm/bmm_designs.h"
#include "kernels/bmm/bmm_epilogue.cuh"
#include "kernels/generated/bconv_config.h"
#include "kernels/tile/split_k.cuh"
#include "kernels/tile/tile_io.cuh"

namespace btc::bconv {
namespace {

using bits::BitMatrix;
using bmm::BmmConfig;

enum class Math { kMmaAnd, kWgmmaAnd, kWmmaXor };
// The AND forms share the fragment epilogue (and the half output, split-K aside).
__host__ __device__ constexpr bool and_form(Math m) { return m != Math::kWmmaXor; }

// How the grid covers the GEMM: one output tile a block; persistent blocks
// walking tiles (mma_and); or split-K, blockIdx.z a share of K's slabs and
// the block that gets the tile's sums finishing it (mma_and; tile/split_k.cuh).
enum class Grid { kTilePerBlock, kPersistent, kSplitK };

// The layer as the kernel reads it.
struct Geom {
  int n, h, w, cw;        // input; C in 32-bit words
  int k, r, s, stride, pad;
  int p, q;
  int m;                  // N*P*Q output pixels
  int kw_total;           // R*S*cw: the GEMM K in words
  int kw_padded;          // kw_total rounded up to whole slabs (the repacked weights' pitch)
  int k_padded;           // K rounded up to whole blocks (the repacked weights' rows)
  int dot_bits;           // R*S*C: the true K of the dot
  int pad_alpha;          // 1 zero padding, 0 pad -1, 2 pad +1
  AxisClasses rows, cols; // border classes along P and Q
  int n_classes;          // rows.count * cols.count
  int interior_ex;        // the interior class's offset in the excess table; -1: none
  FastDiv by_pq, by_q;    // output pixel -> (n, p, q)
  FastDiv by_cw, by_s;    // GEMM K word -> (tap, word), tap -> (r, s)
};

// Every tile constant of one configuration and instruction.
template <class Cfg, Math M>
struct IgemmTile {
  static constexpr int kBM = Cfg::c.block_m, kBN = Cfg::c.block_n;
  static constexpr int kSlabKw = Cfg::c.block_k_bits / 32, kStages = Cfg::c.stages;
  static constexpr int kWarps = Cfg::c.warps, kThreads = 32 * kWarps;
  // Shared row pitch: 16 bytes of skew put 8 consecutive rows' 16-byte pieces
  // in 8 distinct bank groups (pitch 80 B for a 512-bit slab), so ldmatrix
  // and WMMA fragment loads are conflict-free without a swizzle.
  // WMMA's b1 fragment loads want 256-bit aligned tiles: its images are
  // tile8x128 (each 8 x 128-bit tile 128 contiguous bytes, conflict-free).
  // wgmma reads its operands in the layout's core matrices (8 rows x 16
  // bytes, contiguous: conflict-free without skew); the no-swizzle layout
  // needs only 16-byte alignment, which the ring's stages keep.
  static constexpr bool kTiled = M == Math::kWmmaXor, kWgmma = M == Math::kWgmmaAnd;
  static constexpr bits::Layout kImage = kTiled ? bits::Layout::kTile8x128
                                         : kWgmma ? bits::Layout::kWgmmaInterleave
                                                  : bits::Layout::kRowU32;
  static constexpr int kLd = kTiled || kWgmma ? kSlabKw : kSlabKw + 4;
  // wgmma: a warpgroup per 64 rows, each warp 16 rows of every column.
  static constexpr int kWarpsN = kWgmma ? 1 : kBN >= 64 ? 2 : 1, kWarpsM = kWarps / kWarpsN;
  static constexpr int kWarpM = kBM / kWarpsM, kWarpN = kBN / kWarpsN;
  static constexpr int kAWords = kBM * kLd, kStageWords = (kBM + kBN) * kLd;
  // Stages the issue runs ahead of the math. wgmma leaves one stage's MMAs
  // in flight while the next stage's are issued, so its issue stays one
  // stage further behind: the stage it rewrites was read two stages ago.
  static constexpr int kLead = kWgmma ? kStages - 2 : kStages - 1;
  static_assert(kLead >= 1, "a stage in flight ahead of the math");
  static constexpr bits::Layout kGlobalB = kImage;  // row_u32 for mma_and: its rows copied into the skewed pitch
  static_assert(Cfg::c.a_layout == kImage && Cfg::c.b_layout == Cfg::c.a_layout,
                "the configuration names the shared images this instruction's kernel builds");
  static_assert(!kWgmma || (kWarpM == 16 && kBM % 64 == 0 && kSlabKw % 8 == 0 && kBN % 8 == 0 && kBN <= 256),
                "wgmma: 64-row warpgroups of 4 warps, m64nNk256 steps");
  // Word (row, kw) of a stage's A image (and of its B image, which WMMA loads through it).
  __device__ static int word(int row, int kw) {
    if constexpr (kTiled) return ((row >> 3) * (kSlabKw / 4) + (kw >> 2)) * 32 + (row & 7) * 4 + (kw & 3);
    else if constexpr (kWgmma) {
      // A: boxes of kBM x 256 bits, one after the other (B is copied whole: copy_slab).
      constexpr int kBoxKw = bits::box_k_of(kImage) / 32;
      return (kw / kBoxKw) * kBM * kBoxKw + bits::detail::in_box_index(kImage, kBM, row, kw % kBoxKw);
    } else return row * kLd + kw;
  }
  // The XOR path stages its accumulators through the ring's memory at the end.
  static constexpr int kLdC = kBN + 8, kCTileBytes = kTiled ? kBM * kLdC * 4 : 0;
  static constexpr int kRingBytes = kStages * kStageWords * 4 > kCTileBytes ? kStages * kStageWords * 4 : kCTileBytes;
  // After the ring: per row its excess-table offset and popcount, per column
  // its term and Bi-Real scale and shift (mma_and), the fused bits tile.
  static constexpr int kRowBytes = kBM * 8 + kBN * 12, kBitsBytes = kBM * kBN / 8;
  static_assert(kRingBytes % 16 == 0, "the row arrays after the ring are 16-byte aligned");
  // wgmma's ones operand (A's row popcounts): 8 rows x 256 bits of B's image, last.
  static constexpr int kOnesOffset = kRingBytes + kRowBytes + kBitsBytes, kOnesBytes = kWgmma ? 256 : 0;
  static_assert(kOnesOffset % 16 == 0, "wgmma descriptors address 16-byte units");
  static constexpr int kSmemBytes = kOnesOffset + kOnesBytes;
  static constexpr int kThreadsPerRow = kThreads / kBM;  // row popcounts of the gathered A
  static_assert(kWarpsM * kWarpsN == kWarps && kBM % kWarpsM == 0, "warps tile the block");
  static_assert(kThreads % kBM == 0 && kSlabKw % kThreadsPerRow == 0, "whole rows of A per popcount thread group");
  static_assert(kSlabKw % 8 == 0 && kStages >= 2, "slabs are whole 256-bit steps; a pipeline of >= 2 stages");
  static_assert(Cfg::c.cluster_m == 1 && Cfg::c.cluster_n == 1, "no clusters");
};

// The offset of output pixel gi's row in the excess table (class * K_pad);
// past M, the interior's (or class 0's): those rows are never stored.
__device__ __forceinline__ int excess_offset(const Geom& g, int gi) {
  if (gi >= g.m) return max(g.interior_ex, 0);
  const int n = g.by_pq.div(gi), rem = gi - n * g.p * g.q, op = g.by_q.div(rem), oq = rem - op * g.q;
  return (g.rows.class_of(op) * g.cols.count + g.cols.class_of(oq)) * g.k_padded;
}

// The activation gather of one K slab: this thread's pieces of kVec words
// (kVec divides cw, so a piece never straddles two taps). The thread's
// pieces share one K offset (threads per block is a multiple of the pieces
// per row), so the tap arithmetic runs once per slab, not per piece.
template <class T, int kVec, bool kAsync>
struct Gather {
  static constexpr int kPiecesPerRow = T::kSlabKw / kVec;
  static constexpr int kRowStep = T::kThreads / kPiecesPerRow;  // rows between a thread's pieces
  static constexpr int kPieces = T::kBM / kRowStep;
  static_assert(T::kThreads % kPiecesPerRow == 0 && T::kBM % kRowStep == 0, "whole rows of pieces per pass");

  int v;                     // this thread's word offset inside the slab
  int row0;                  // its first row; then every kRowStep
  // Per piece: the input row / column of tap (0, 0) (ih0 = kNoRow past M,
  // which fails every bounds test) and the word offset of its first channel
  // word modulo 2^32 (negative at the top-left border, so it wraps; a valid
  // tap's offset is < N*H*W*C/32 < 2^32, unsupported() checks, so the
  // wrapped sum is exact). 32-bit offsets: the 64-bit multiply-adds per
  // piece had been most of the issue side's ~150 instructions a slab (ncu
  // at d451874). Three registers a piece: kVec = 1 at 128 rows holds 16.
  static constexpr int kNoRow = -(1 << 28);
  int ih0[kPieces], iw0[kPieces];
  uint32_t word0[kPieces];

  __device__ Gather(const Geom& g, int m0) { reset(g, m0); }
  // The rows of the block tile at pixel m0.
  __device__ void reset(const Geom& g, int m0) {
    const int tid = threadIdx.x;
    v = (tid % kPiecesPerRow) * kVec;
    row0 = tid / kPiecesPerRow;
#pragma unroll
    for (int i = 0; i < kPieces; ++i) {
      const int gi = m0 + row0 + i * kRowStep;
      const int n = g.by_pq.div(gi), rem = gi - n * g.p * g.q, op = g.by_q.div(rem), oq = rem - op * g.q;
      ih0[i] = gi < g.m ? op * g.stride - g.pad : kNoRow;
      iw0[i] = oq * g.stride - g.pad;
      const int pix0 = (n * g.h + op * g.stride - g.pad) * g.w + iw0[i];
      word0[i] = static_cast<uint32_t>(pix0) * static_cast<uint32_t>(g.cw);
    }
  }

  __device__ void issue(uint32_t* sa, const uint32_t* __restrict__ x, const Geom& g, int kt) const {
    const int kw = kt * T::kSlabKw + v;
    const int tap = g.by_cw.div(kw), c = kw - tap * g.cw, r = g.by_s.div(tap), s = tap - r * g.s;
    const bool tap_ok = tap < g.r * g.s;
    const uint32_t tap_words = static_cast<uint32_t>((r * g.w + s) * g.cw + c);
#pragma unroll
    for (int i = 0; i < kPieces; ++i) {
      const int ih = ih0[i] + r, iw = iw0[i] + s;
      const bool ok = tap_ok && static_cast<unsigned>(ih) < static_cast<unsigned>(g.h) &&
                      static_cast<unsigned>(iw) < static_cast<unsigned>(g.w);
      const uint32_t* src = ok ? x + (word0[i] + tap_words) : x;
      atom::copy_or_zero<4 * kVec, kAsync>(sa + T::word(row0 + i * kRowStep, v), src, ok);
    }
  }
};

// The warp's MMAs over one landed stage, accumulating into acc.
template <class T, Math M>
struct WarpMath;

template <class T>
struct WarpMath<T, Math::kMmaAnd> {
  static constexpr int kMI = T::kWarpM / 16, kNJ = T::kWarpN / 8;
  static_assert(T::kWarpM % 16 == 0 && kNJ % 4 == 0, "m16 tiles; bit words of 32 columns (4 n8 groups) per warp");
  int32_t acc[kMI][kNJ][4] = {};

  __device__ void step(const uint32_t* sa, const uint32_t* sb, int wm, int wn) {
    const BitMatrix sa_shape = tile::shape(bits::Layout::kRowU32, T::kBM, 32 * T::kLd, T::kBM);
    const BitMatrix sb_shape = tile::shape(bits::Layout::kRowU32, T::kBN, 32 * T::kLd, T::kBN);
#pragma unroll
    for (int ks = 0; ks < T::kSlabKw / 8; ++ks) {
      uint32_t af[kMI][4], bf[kNJ][2];
#pragma unroll
      for (int i = 0; i < kMI; ++i) tile::load_a_m16k256<bits::Layout::kRowU32>(af[i], sa, sa_shape, wm + 16 * i, 8 * ks);
#pragma unroll
      for (int j = 0; j < kNJ; ++j) tile::load_b_n8k256<bits::Layout::kRowU32>(bf[j], sb, sb_shape, wn + 8 * j, 8 * ks);
#pragma unroll
      for (int i = 0; i < kMI; ++i)
#pragma unroll
        for (int j = 0; j < kNJ; ++j) atom::MmaAndM16N8K256::fma(acc[i][j], af[i], bf[j]);
    }
  }
};

// One warpgroup's wgmmas over a landed stage: rows wm & ~63 .. +63 of A
// against all kBN filters, plus A's row popcounts against the ones tile.
// Leaves this stage's MMAs in flight and waits for the previous stage's
// (the issue then rewrites that one: IgemmTile::kLead); finish() waits for all.
template <class T>
struct WarpMath<T, Math::kWgmmaAnd> {
  static constexpr int kMI = 1, kNJ = T::kBN / 8;
  // Written first by a scale-d = 0 wgmma (a tile's first stage): never
  // zeroed (~65 instructions a warp a tile at 856442d, of 1,138).
  int32_t acc[kMI][kNJ][4];
  int32_t popc[4];  // m64n8 against ones: every column holds popc(row); [0] row g, [2] row g + 8

  // first: the tile's first stage.
  __device__ void step(const uint32_t* sa, const uint32_t* sb, const uint32_t* ones, int wm, bool first) {
    constexpr int kSteps = T::kSlabKw / 8, kSlabBits = 32 * T::kSlabKw;
    auto& d = reinterpret_cast<int32_t(&)[T::kBN / 2]>(acc);  // m64nN accumulator j*4 + e = fragment (j, e)
    atom::wgmma_fence();
    uint64_t da[kSteps], db[kSteps];
#pragma unroll
    for (int ks = 0; ks < kSteps; ++ks) {
      da[ks] = tile::wgmma_slab_desc<T::kImage>(sa, T::kBM, kSlabBits, wm & ~63, 8 * ks);
      db[ks] = tile::wgmma_slab_desc<T::kImage>(sb, T::kBN, kSlabBits, 0, 8 * ks);
    }
    const uint64_t d_ones = tile::wgmma_slab_desc<T::kImage>(ones, 8, 256, 0, 0);
#pragma unroll
    for (int ks = 0; ks < kSteps; ++ks)
      atom::wgmma_ss<atom::WgmmaKind::B1And, T::kBN>(d, da[ks], db[ks], !first || ks > 0);
#pragma unroll
    for (int ks = 0; ks < kSteps; ++ks) atom::wgmma_ss<atom::WgmmaKind::B1And, 8>(popc, da[ks], d_ones, !first || ks > 0);
    atom::wgmma_commit();
    atom::wgmma_wait<1>();
  }
  __device__ void finish() { atom::wgmma_wait<0>(); }
};

template <class T>
struct WarpMath<T, Math::kWmmaXor> {
  using W = atom::WmmaB1M8N8K128<atom::BitOp::kXor>;
  static constexpr int kFM = T::kWarpM / 8, kFN = T::kWarpN / 8;
  typename W::FragC acc[kFM][kFN];

  __device__ WarpMath() {
#pragma unroll
    for (int i = 0; i < kFM; ++i)
#pragma unroll
      for (int j = 0; j < kFN; ++j) W::zero(acc[i][j]);
  }
  __device__ void step(const uint32_t* sa, const uint32_t* sb, int wm, int wn) {
#pragma unroll
    for (int ks = 0; ks < T::kSlabKw / 4; ++ks) {
      typename W::FragA af[kFM];
      typename W::FragB bf[kFN];
#pragma unroll
      for (int i = 0; i < kFM; ++i) W::load_a(af[i], sa + T::word(wm + 8 * i, 4 * ks), 128);
#pragma unroll
      for (int j = 0; j < kFN; ++j) W::load_b(bf[j], sb + T::word(wn + 8 * j, 4 * ks), 128);
#pragma unroll
      for (int i = 0; i < kFM; ++i)
#pragma unroll
        for (int j = 0; j < kFN; ++j) W::fma(acc[i][j], af[i], bf[j]);
    }
  }
};

// The repacked weights: K_pad rows of kw_padded words, in T's global B layout.
template <class T>
__host__ __device__ BitMatrix packed_shape(const Geom& g) {
  return tile::shape(T::kGlobalB, g.k_padded, 32 * g.kw_padded, T::kBN);
}

// kPersistent (mma_and): block x of filter block y takes tiles x, x +
// gridDim.x, ..., and the cp.async ring runs on across tile boundaries, so
// the next tile's slabs land while this tile's epilogue runs, and the column
// terms are computed once per block. (ncu at 56^2 x 64, batch 256, one tile
// per block: 2,292 instructions per warp for 24 MMAs, 64% of the stall
// samples in the epilogue.) It holds ~30 more registers (the issue side's
// gather and the column terms live across the epilogue), so a block of 4
// warps fits 3 times an SM, not 4: the H200 sweep at db37795 ran int32
// 1.1-1.6x faster, bits 0.95-1.4x, half 0.84-1.16x. Both grids are designs,
// for the selection to choose. Otherwise one tile per block (gridDim.x = the
// tiles); btc_wmma stages its counts through the ring, so it is never persistent.
// Grid::kSplitK (mma_and): one tile per block over a share of K's slabs,
// gridDim.z shares (IgemmDesign::split_count); split_ws / split_count are the
// tiles' sums and counters (tile/split_k.cuh), null where gridDim.z is 1.
// split_cluster: the launch made each tile's gridDim.z blocks one cluster
// (sm_90), reduced over DSMEM; else through split_ws. dst: bmm::bits_dest(out),
// computed at launch (its divisions were ~130 instructions a warp a tile of
// the wgmma 64 x 64 tile at 56^2 x 64: ncu at 856442d).
template <class Cfg, Math M, int kVec, Grid kGrid>
__global__ void __launch_bounds__(IgemmTile<Cfg, M>::kThreads, 1)
    bconv_igemm_kernel(const uint32_t* __restrict__ x, const uint32_t* __restrict__ w_packed,
                       const int32_t* __restrict__ prefix, const int32_t* __restrict__ excess, Geom g,
                       bmm::Output out, bmm::BitsDest dst, int32_t* split_ws, unsigned* split_count,
                       bool split_cluster) {
  using T = IgemmTile<Cfg, M>;
  constexpr bool kPersistent = kGrid == Grid::kPersistent, kSplitK = kGrid == Grid::kSplitK;
  constexpr bool kAsync = M != Math::kWmmaXor;  // the XOR path also runs on sm_75, without cp.async
  static_assert(!kSplitK || M == Math::kMmaAnd, "split-K sums mma_and's fragments and smem row popcounts");
  extern __shared__ __align__(128) uint32_t smem[];
  int32_t* row_ex = reinterpret_cast<int32_t*>(smem + T::kRingBytes / 4);
  int32_t* row_popc = row_ex + T::kBM;
  int32_t* col_term = row_popc + T::kBM;
  float* col_scale = reinterpret_cast<float*>(col_term + T::kBN);
  float* col_shift = col_scale + T::kBN;
  uint32_t* bits_tile = reinterpret_cast<uint32_t*>(col_shift + T::kBN);
  uint32_t* ones = smem + T::kOnesOffset / 4;
  if constexpr (T::kWgmma) {
    for (int i = threadIdx.x; i < T::kOnesBytes / 4; i += T::kThreads) ones[i] = 0xFFFFFFFFu;
    // The tensor core reads them through the async proxy; the main loop's first barrier publishes them.
    atom::fence_proxy_async_smem();
  }

  const int n0 = blockIdx.y * T::kBN;
  const int m_tiles = (g.m + T::kBM - 1) / T::kBM, ktiles = g.kw_padded / T::kSlabKw;
  // This block's slabs [kt0, kt0 + nk): split z's share, or all of K.
  const int kt0 = kSplitK ? static_cast<int>(blockIdx.z) * ktiles / static_cast<int>(gridDim.z) : 0;
  const int nk = kSplitK ? (static_cast<int>(blockIdx.z) + 1) * ktiles / static_cast<int>(gridDim.z) - kt0 : ktiles;
  const int bx = static_cast<int>(blockIdx.x), gx = static_cast<int>(gridDim.x);
  const int my_tiles = !kPersistent ? 1 : bx < m_tiles ? (m_tiles - 1 - bx) / gx + 1 : 0;
  auto tile_m0 = [&](int tile) { return (bx + tile * gx) * T::kBM; };
  auto stage_a = [&](int st) { return smem + st * T::kStageWords; };
  auto stage_b = [&](int st) { return smem + st * T::kStageWords + T::kAWords; };

  // The issue side walks (tile, slab) in order, ahead of the math.
  Gather<T, kVec, kAsync> gather(g, tile_m0(0));
  int issue_tile = 0, issue_kt = kt0, issue_it = 0;
  const int iters = my_tiles * nk;
  auto issue_next = [&]() {
    if (issue_it < iters) {
      if (issue_kt == kt0 + nk) {
        issue_kt = kt0;
        gather.reset(g, tile_m0(++issue_tile));
      }
      const int st = issue_it % T::kStages;
      gather.issue(stage_a(st), x, g, issue_kt);
      if constexpr (T::kGlobalB != bits::Layout::kRowU32)
        tile::copy_slab<T::kGlobalB, kAsync>(stage_b(st), w_packed, packed_shape<T>(g), n0, issue_kt * T::kSlabKw,
                                             T::kBN, T::kSlabKw);
      else
        tile::copy_rows<kAsync>(stage_b(st), T::kLd,
                                w_packed + static_cast<int64_t>(n0) * g.kw_padded + issue_kt * T::kSlabKw,
                                g.kw_padded, T::kBN, T::kSlabKw);
      ++issue_kt;
      ++issue_it;
    }
    atom::cp_async_commit();  // empty groups keep the wait count uniform
  };

  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, t = lane & 3, gq = lane >> 2;
  const int wm = (warp % T::kWarpsM) * T::kWarpM, wn = (warp / T::kWarpsM) * T::kWarpN;
  // A's row popcounts (the AND form's row term) from the landed stages:
  // kThreadsPerRow adjacent threads share a row.
  const int popc_row = threadIdx.x / T::kThreadsPerRow;
  const int popc_w0 = (threadIdx.x % T::kThreadsPerRow) * (T::kSlabKw / T::kThreadsPerRow);

  // mma_and's column terms: -(total_j) (+ the threshold), INT32_MAX past K
  // for bits (the epilogue's contract; kHalf takes int32's, and its scale and
  // shift), one column a thread into shared memory, read there by the lanes
  // that hold it (each lane had loaded its 8 columns' terms: ~300
  // instructions a warp, ncu at d451874). Once per block, before the main
  // loop (persistent: its barriers publish them) or after it, with the row arrays.
  using WM = WarpMath<T, M>;
  auto column_terms = [&]() {
    if constexpr (and_form(M)) {
      const bool bits_out = out.epilogue == bmm::Epilogue::kBits;
      const int64_t total_off = static_cast<int64_t>(g.r * (g.s + 1) + g.s) * g.k_padded;  // prefix entry (R, S)
      for (int jj = threadIdx.x; jj < T::kBN; jj += T::kThreads) {
        const int gj = n0 + jj;
        const int32_t total = __ldg(prefix + total_off + gj);
        col_term[jj] = !bits_out ? -total : gj < g.k ? bmm::ge_threshold(out, gj, g.dot_bits) - total : INT32_MAX;
        if (out.epilogue == bmm::Epilogue::kHalf) {
          col_scale[jj] = gj < g.k ? __ldg(out.scale + gj) : 0.0f;
          col_shift[jj] = gj < g.k ? __ldg(out.shift + gj) : 0.0f;
        }
      }
    }
  };
  if constexpr (kPersistent) column_terms();

  // Launched as a programmatic dependent (IgemmDesign::launch, sm_90): all
  // above reads only this layer's tables and parameters, which prepare()
  // and the plan wrote before the kernel launched ahead of this one; the
  // gather reads the previous layer's output.
  atom::grid_dependency_wait();
  for (int st = 0; st < T::kLead; ++st) issue_next();
  for (int tile = 0, it = 0; tile < my_tiles; ++tile) {
    const int m0 = tile_m0(tile);
    // The half epilogue's shortcut tile (the previous layer's fp16 output,
    // BM rows x BN values) into L1 while this tile's main loop runs: at batch
    // 1 the half output cost ~1.2 us more than bits at every layer at
    // 64d32dc, the shortcut's load latency before the stores. After the grid
    // dependency wait: the kernel before this one may have written it.
    if constexpr (and_form(M)) {
      if (out.epilogue == bmm::Epilogue::kHalf && out.shortcut != nullptr) {
        constexpr int kLinesPerRow = T::kBN * 2 / 128;  // 128-byte lines of a row's BN fp16 values
        static_assert(T::kBN * 2 % 128 == 0, "whole 128-byte lines per row");
        const __half* shortcut = reinterpret_cast<const __half*>(out.shortcut);
        for (int i = threadIdx.x; i < T::kBM * kLinesPerRow; i += T::kThreads) {
          const int gi = m0 + i / kLinesPerRow, gj = n0 + (i % kLinesPerRow) * 64;
          if (gi < g.m && gj < g.k) atom::prefetch_l1(shortcut + static_cast<int64_t>(gi) * g.k + gj);
        }
      }
    }
    WM math;
    int32_t my_popc = 0;
    for (int kt = 0; kt < nk; ++kt, ++it) {
      atom::cp_async_wait<T::kLead - 1>();
      // cp.async wrote the stage through the generic proxy; wgmma reads it through the async one.
      if constexpr (T::kWgmma) atom::fence_proxy_async_smem();
      __syncthreads();  // stage it landed; stage it - kStages + kLead is free for reuse
      issue_next();
      const int st = it % T::kStages;
      const uint32_t* sa = stage_a(st);
      if constexpr (M == Math::kMmaAnd) {
#pragma unroll
        for (int i = 0; i < T::kSlabKw / T::kThreadsPerRow; ++i)
          my_popc += __popc(sa[popc_row * T::kLd + popc_w0 + i]);
      }
      if constexpr (T::kWgmma) math.step(sa, stage_b(st), ones, wm, kt == 0);
      else math.step(sa, stage_b(st), wm, wn);
    }
    if constexpr (T::kWgmma) math.finish();
    // The next kernel may start its set-up once every block is in its last epilogue.
    if (tile == my_tiles - 1) atom::launch_dependents();
    if constexpr (kSplitK) {
      // The tile's partial counts and row popcounts summed over its gridDim.z
      // blocks (tile/split_k.cuh): the block that gets the sums finishes it.
      if (gridDim.z > 1) {
        constexpr int kAcc = WM::kMI * WM::kNJ * 4;
        int32_t v[kAcc + 1];
#pragma unroll
        for (int i = 0; i < kAcc; ++i) v[i] = math.acc[i / (4 * WM::kNJ)][(i / 4) % WM::kNJ][i % 4];
        v[kAcc] = my_popc;
        bool finishes = false;
        // Code built before sm_90 (a newer GPU running the sm_80 PTX) sums through the workspace.
        if (BTC_HAS_SM90 && split_cluster) {
          static_assert((kAcc + 4) / 4 * 16 * T::kThreads <= T::kRingBytes, "a block's partials fit in its ring");
          atom::cp_async_wait<0>();
          __syncthreads();  // every warp is done with the ring: it holds the partials now
          finishes = tile::split_k_reduce_cluster(v, reinterpret_cast<int4*>(smem), gridDim.z);
        } else {
          const int tile_id = static_cast<int>(blockIdx.y * gridDim.x + blockIdx.x);
          finishes = tile::split_k_reduce(v, split_ws + static_cast<int64_t>(tile_id) * (kAcc + 1) * T::kThreads,
                                          split_count + tile_id, gridDim.z);
        }
        if (!finishes) {
          atom::cp_async_wait<0>();
          return;
        }
#pragma unroll
        for (int i = 0; i < kAcc; ++i) math.acc[i / (4 * WM::kNJ)][(i / 4) % WM::kNJ][i % 4] = v[i];
        my_popc = v[kAcc];
      }
    }

    // The previous tile's epilogue read the row arrays before this tile's
    // first barrier: rewriting them here is safe.
    if constexpr (M == Math::kMmaAnd) {
#pragma unroll
      for (int off = 1; off < T::kThreadsPerRow; off *= 2) my_popc += __shfl_xor_sync(0xFFFFFFFFu, my_popc, off);
      if (threadIdx.x % T::kThreadsPerRow == 0) row_popc[popc_row] = my_popc;
    }
    for (int i = threadIdx.x; i < T::kBM; i += T::kThreads) row_ex[i] = excess_offset(g, m0 + i);
    if constexpr (!kPersistent) column_terms();
    __syncthreads();

    if constexpr (and_form(M)) {
      const int32_t* my_cols = col_term + wn + 2 * t;
#pragma unroll
      for (int i = 0; i < WM::kMI; ++i) {
        const int lr = wm + 16 * i + gq;
        int32_t row[2];
        if constexpr (T::kWgmma) {
          row[0] = 2 * math.popc[0];
          row[1] = 2 * math.popc[2];
        } else {
          row[0] = 2 * row_popc[lr];
          row[1] = 2 * row_popc[lr + 8];
        }
        // The excess of this lane's columns 8j + 2t + c in rows lr, lr + 8:
        // one 8-byte load a pair, none where the warp's 16 rows are interior.
        int32_t ex[2][WM::kNJ][2] = {};
        if (g.pad_alpha != 0) {
          const int at[2] = {row_ex[lr], row_ex[lr + 8]};
          if (__any_sync(0xFFFFFFFFu, at[0] != g.interior_ex || at[1] != g.interior_ex)) {
#pragma unroll
            for (int h = 0; h < 2; ++h)
#pragma unroll
              for (int j = 0; j < WM::kNJ; ++j) {
                const int2 v = __ldg(reinterpret_cast<const int2*>(excess + at[h] + n0 + wn + 8 * j + 2 * t));
                ex[h][j][0] = v.x;
                ex[h][j][1] = v.y;
              }
          }
        }
        bmm::store_and_fragments<WM::kNJ>(
            out, dst, g.m, g.k, m0 + wm + 16 * i, n0 + wn,
            [&](int j, int e) { return 4 * math.acc[i][j][e] - ex[e / 2][j][e % 2]; }, row,
            [&](int j, int c) { return my_cols[8 * j + c]; },
            [&](const bmm::Output&, int gj) { return make_float2(col_scale[gj - n0], col_shift[gj - n0]); });
      }
    } else {
      using W = typename WM::W;
      // The XOR counts through shared memory (the ring is free: one tile per
      // block), then BlockEpilogue: z = R*S*C - 2 xor - padding excess.
      constexpr int kLdC = T::kLdC;
      int32_t* ctile = reinterpret_cast<int32_t*>(smem);
      atom::cp_async_wait<0>();
      __syncthreads();  // every warp is done reading the ring
#pragma unroll
      for (int i = 0; i < WM::kFM; ++i)
#pragma unroll
        for (int j = 0; j < WM::kFN; ++j) W::store(ctile + (wm + 8 * i) * kLdC + wn + 8 * j, math.acc[i][j], kLdC);
      __syncthreads();  // the accumulator tile is complete (begin() synchronizes for kBits only)
      bmm::BlockEpilogue<T::kBM, T::kBN> ep{out, bits_tile, m0, n0, g.m, g.k};
      ep.begin();
      for (int e = threadIdx.x; e < T::kBM * T::kBN; e += T::kThreads) {
        const int li = e / T::kBN, lj = e - li * T::kBN;
        const int gj = n0 + lj;
        if (m0 + li >= g.m || gj >= g.k) continue;
        int32_t z = g.dot_bits - 2 * ctile[li * kLdC + lj];
        if (g.pad_alpha != 0) z -= __ldg(excess + row_ex[li] + gj);
        ep.put(li, lj, z);
      }
      ep.end();
    }
  }
  atom::cp_async_wait<0>();
}

// prepare(): the weights as a K_pad x kw_padded copy in the layout the
// kernel's B copy reads (zeros past K and past R*S*cw), and the per-filter
// tap prefix table.
__global__ void repack_weights_kernel(const uint32_t* __restrict__ w, int64_t ld_w, Geom g, BitMatrix dst,
                                      uint32_t* __restrict__ out) {
  const int64_t total = static_cast<int64_t>(g.k_padded) * g.kw_padded;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int row = static_cast<int>(i / g.kw_padded), kw = static_cast<int>(i - static_cast<int64_t>(row) * g.kw_padded);
    out[dst.word_index(row, kw)] = row < g.k && kw < g.kw_total ? w[row * ld_w + kw] : 0u;
  }
}

// One thread per filter: v_t = C - 2 popc(w_tap) (C: the true channel count,
// the tail bits of C_pad are 0), summed into the (R+1) x (S+1) prefix.
__global__ void tap_prefix_kernel(const uint32_t* __restrict__ w, int64_t ld_w, Geom g, int c,
                                  int32_t* __restrict__ prefix) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= g.k_padded) return;
  auto at = [&](int a, int b) -> int32_t& { return prefix[static_cast<int64_t>(a * (g.s + 1) + b) * g.k_padded + j]; };
  for (int b = 0; b <= g.s; ++b) at(0, b) = 0;
  for (int a = 1; a <= g.r; ++a) {
    at(a, 0) = 0;
    int32_t row_sum = 0;
    for (int b = 1; b <= g.s; ++b) {
      int32_t v = 0;
      if (j < g.k) {
        const uint32_t* tap = w + j * ld_w + static_cast<int64_t>((a - 1) * g.s + (b - 1)) * g.cw;
        int popc = 0;
        for (int i = 0; i < g.cw; ++i) popc += __popc(tap[i]);
        v = c - 2 * popc;
      }
      row_sum += v;
      at(a, b) = at(a - 1, b) + row_sum;
    }
  }
}

// One thread per (border class, filter): alpha * (total_j - rect_j) over the
// class's valid tap rectangle (empty where a window misses the image).
__global__ void padding_excess_kernel(Geom g, const int32_t* __restrict__ prefix, int32_t* __restrict__ excess) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<int64_t>(g.n_classes) * g.k_padded) return;
  const int cls = static_cast<int>(i / g.k_padded), j = static_cast<int>(i - static_cast<int64_t>(cls) * g.k_padded);
  const int rc = cls / g.cols.count, cc = cls - rc * g.cols.count;
  const int ih0 = g.rows.first_row_of(rc) * g.stride - g.pad, iw0 = g.cols.first_row_of(cc) * g.stride - g.pad;
  const int r_lo = min(g.r, max(0, -ih0)), r_hi = max(r_lo, min(g.r, g.h - ih0));
  const int s_lo = min(g.s, max(0, -iw0)), s_hi = max(s_lo, min(g.s, g.w - iw0));
  auto at = [&](int a, int b) { return prefix[static_cast<int64_t>(a * (g.s + 1) + b) * g.k_padded + j]; };
  const int32_t rect = at(r_hi, s_hi) - at(r_lo, s_hi) - at(r_hi, s_lo) + at(r_lo, s_lo);
  excess[i] = g.pad_alpha * (at(g.r, g.s) - rect);
}

Geom geom_of(const Problem& p, int block_n, int slab_kw) {
  Geom g{};
  g.n = p.n; g.h = p.h; g.w = p.w; g.cw = (p.c + 31) / 32;
  g.k = p.k; g.r = p.r; g.s = p.s; g.stride = p.stride; g.pad = p.pad;
  g.p = p.p(); g.q = p.q();
  g.m = static_cast<int>(p.out_pixels());
  g.kw_total = p.r * p.s * g.cw;
  g.kw_padded = (g.kw_total + slab_kw - 1) / slab_kw * slab_kw;
  g.k_padded = (p.k + block_n - 1) / block_n * block_n;
  g.dot_bits = static_cast<int>(p.dot_bits());
  g.pad_alpha = p.pad_value == PadValue::kZero ? 1 : p.pad_value == PadValue::kMinusOne ? 0 : 2;
  g.rows = axis_classes(p.h, p.r, p.stride, p.pad, g.p);
  g.cols = axis_classes(p.w, p.s, p.stride, p.pad, g.q);
  g.n_classes = g.rows.count * g.cols.count;
  g.by_pq = make_fast_div(g.p * g.q);
  g.by_q = make_fast_div(g.q);
  g.by_cw = make_fast_div(g.cw);
  g.by_s = make_fast_div(g.s);
  g.interior_ex = g.rows.has_interior() && g.cols.has_interior()
                      ? (g.rows.int_lo * g.cols.count + g.cols.int_lo) * g.k_padded
                      : -1;
  return g;
}

template <class Cfg, Math M, Grid kGrid = Grid::kTilePerBlock>
class IgemmDesign final : public Design {
  using T = IgemmTile<Cfg, M>;
  using WM = WarpMath<T, M>;
  static constexpr bool kPersistent = kGrid == Grid::kPersistent, kSplitK = kGrid == Grid::kSplitK;
  static_assert(kGrid == Grid::kTilePerBlock || and_form(M), "btc_wmma's epilogue reuses the ring: one tile per block");
  static constexpr const char* kFamily = M == Math::kMmaAnd ? "mma_and" : M == Math::kWgmmaAnd ? "wgmma_and" : "btc_wmma";

 public:
  // tiled_name: the tile in the name (one of several variants of an arch).
  explicit IgemmDesign(int arch, bool tiled_name = false) : arch_(arch), tiled_name_(tiled_name) {}
  std::string name() const override {
    std::string n = std::string("bconv_") + kFamily + "_sm" + std::to_string(arch_);
    if (tiled_name_)
      n += "_" + std::to_string(T::kBM) + "x" + std::to_string(T::kBN) + "x" + std::to_string(32 * T::kSlabKw) + "s" +
           std::to_string(T::kStages);
    return kPersistent ? n + "_persistent" : kSplitK ? n + "_splitk" : n;
  }
  std::string family() const override { return kFamily; }
  bool writes_half() const override { return and_form(M); }  // the AND-fragment epilogue
  bool tensor_core() const override { return true; }
  const BmmConfig* config() const override { return &Cfg::c; }
  int config_arch() const override { return arch_; }
  std::string skip_reason(const CodeTarget& code) const override {
    if constexpr (M == Math::kMmaAnd) return arch_skip_reason(code, atom::MmaAndM16N8K256::kMinArch, false, "mma.sync b1 AND");
    else if constexpr (M == Math::kWgmmaAnd) return arch_skip_reason(code, 90, true, "wgmma b1 AND");
    else return arch_skip_reason(code, 75, false, "WMMA b1 XOR");
  }
  std::string unsupported(const Problem& p) const override {
    if (p.r > 255 || p.s > 255) return "filters wider than 255 taps";  // the packed tap rectangle
    // The gather indexes input pixels in int32 and words in uint32.
    if (static_cast<int64_t>(p.n) * p.h * p.w >= (int64_t{1} << 31)) return "more than 2^31 - 1 input pixels";
    if (static_cast<int64_t>(p.n) * p.h * p.w * ((p.c + 31) / 32) >= (int64_t{1} << 32))
      return "more than 2^32 - 1 input words";
    if ((p.out_pixels() + T::kBM - 1) / T::kBM > 0x7FFFFFFF) return "too many output pixels for the grid";
    if (static_cast<int64_t>(p.k + T::kBN) * (p.r * p.s * ((p.c + 31) / 32) + T::kSlabKw) > (int64_t{1} << 31))
      return "the repacked weights exceed int32 indexing";
    if ((p.k + T::kBN - 1) / T::kBN > 65535) return "too many filters for the grid";
    if (static_cast<int64_t>(p.r + 1) * (p.s + 1) * (p.k + T::kBN) >= (int64_t{1} << 31))
      return "the tap prefix table exceeds int32 offsets";
    // The padding-excess table: one row of K_pad per border class (a few per
    // axis; an axis's classes number at most its outputs). A problem that
    // check_problem refuses has no classes to count: run() refuses it first.
    if (check_problem(p).empty() &&
        static_cast<int64_t>(geom_of(p, T::kBN, T::kSlabKw).n_classes) * (p.k + T::kBN) >= (int64_t{1} << 31))
      return "the padding-excess table exceeds int32 offsets";
    return "";
  }
  size_t workspace_bytes(const Problem& p) const override {
    const Geom g = geom_of(p, T::kBN, T::kSlabKw);
    return split_offset(g) + split_bytes(g);
  }
  void prepare(const Problem& p, const Operands& in, void* ws, cudaStream_t s) const override {
    check_run_args(*this, p, in, nullptr);
    const Geom g = geom_of(p, T::kBN, T::kSlabKw);
    const int64_t ld_w = weight_shape(p).kwords();
    const int64_t words = static_cast<int64_t>(g.k_padded) * g.kw_padded;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((words + 255) / 256, 1 << 16));
    repack_weights_kernel<<<blocks, 256, 0, s>>>(in.w, ld_w, g, packed_shape<T>(g), packed(ws));
    BTC_CUDA_CHECK_LAUNCH();
    tap_prefix_kernel<<<(g.k_padded + 127) / 128, 128, 0, s>>>(in.w, ld_w, g, p.c, prefix(ws, g));
    BTC_CUDA_CHECK_LAUNCH();
    const int64_t cells = static_cast<int64_t>(g.n_classes) * g.k_padded;
    padding_excess_kernel<<<static_cast<unsigned>((cells + 255) / 256), 256, 0, s>>>(g, prefix(ws, g), excess(ws, g));
    BTC_CUDA_CHECK_LAUNCH();
    // Split-K's sums and counters start at zero; each run leaves them so.
    if (const size_t bytes = split_bytes(g); bytes > 0)
      BTC_CUDA_CHECK(cudaMemsetAsync(static_cast<char*>(ws) + split_offset(g), 0, bytes, s));
  }
  void run(const Problem& p, const Operands& in, const Output& out, void* ws, cudaStream_t s) const override {
    check_run_args(*this, p, in, &out);
    const Geom g = geom_of(p, T::kBN, T::kSlabKw);
    // The widest piece that never straddles two taps.
    if (g.cw % 4 == 0) launch<4>(in, out, g, ws, s);
    else if (g.cw % 2 == 0) launch<2>(in, out, g, ws, s);
    else launch<1>(in, out, g, ws, s);
  }
  // Over the grid (pixel blocks x filter blocks), per slab of K (R*S*C_pad
  // padded to whole slabs): mma_and one m16n8k256 per 16 x 8 of the block
  // per 256 bits; wgmma_and per 64 rows per 256 bits one m64nNk256 and one
  // m64n8k256 (the row popcounts), counted once a warp, in both the imma and
  // the gmma metric on GH100 (as BMM's wgmma design); btc_wmma one 8x8x128
  // per 8 x 8 per 128 bits.
  std::optional<TensorInsts> tensor_insts(const Problem& p, int device_sm) const override {
    const Geom g = geom_of(p, T::kBN, T::kSlabKw);
    const double blocks = double((g.m + T::kBM - 1) / T::kBM) * double(g.k_padded / T::kBN);
    if constexpr (M == Math::kMmaAnd) return TensorInsts{blocks * (T::kBM / 16) * (T::kBN / 8) * (g.kw_padded / 8.0), 0};
    else if constexpr (M == Math::kWgmmaAnd) {
      const double warp_insts = blocks * (T::kBM / 64) * 4 * (g.kw_padded / 8.0) * 2;
      return TensorInsts{warp_insts, warp_insts};
    }
    else
      return TensorInsts{blocks * (T::kBM / 8) * (T::kBN / 8) * (g.kw_padded / 4.0) * atom::b1_xor_tensor_insts(device_sm),
                         0};
  }

 private:
  // Grid: (pixel blocks, filter blocks). Persistent: as many pixel blocks per
  // filter block as the device holds at once (or the test cap), spread so
  // that no block takes more tiles than the fewest blocks would.
  template <int kVec>
  void launch(const Operands& in, const Output& out, const Geom& g, void* ws, cudaStream_t s) const {
    auto kernel = bconv_igemm_kernel<Cfg, M, kVec, kGrid>;
    const void* fn = reinterpret_cast<const void*>(kernel);
    const int m_tiles = (g.m + T::kBM - 1) / T::kBM, n_blocks = g.k_padded / T::kBN;
    int gx = m_tiles;
    if constexpr (kPersistent) {
      int per_filter_block = std::max(1, bmm::resident_blocks(fn, T::kThreads, T::kSmemBytes) / n_blocks);
      if (const int cap = persistent_blocks_cap(); cap > 0) per_filter_block = std::min(per_filter_block, cap);
      const int tiles_each = (m_tiles + per_filter_block - 1) / per_filter_block;
      gx = (m_tiles + tiles_each - 1) / tiles_each;
    } else {
      bmm::allow_dynamic_smem(fn, T::kSmemBytes);
    }
    const int splits = split_count(g);
    const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(n_blocks), static_cast<unsigned>(splits));
    int32_t* sums = splits > 1 ? reinterpret_cast<int32_t*>(static_cast<char*>(ws) + split_offset(g)) : nullptr;
    unsigned* counters = splits > 1 ? reinterpret_cast<unsigned*>(sums + split_sum_words(g)) : nullptr;
    // sm_90: a programmatic dependent of the kernel before it (atoms/grid_dependency.cuh), and
    // split-K's shares of a tile one cluster along z, reduced over DSMEM (tile/split_k.cuh).
    const bool cluster = tile::split_k_in_clusters(splits);
    atom::launch_programmatic({grid, dim3(T::kThreads), static_cast<size_t>(T::kSmemBytes), s,
                               dim3(1, 1, cluster ? static_cast<unsigned>(splits) : 1u)},
                              kernel, in.x, packed(ws), prefix(ws, g), excess(ws, g), g, out, bmm::bits_dest(out), sums,
                              counters, cluster);
  }
  // Split-K's shares of K (tile::split_k_shares: one block an SM where the
  // tiles alone fill fewer, each share >= 2 slabs; at most 8 on sm_90, a
  // portable cluster, 16 before it; the tests' forced count). 1 for the
  // other grids.
  int split_count(const Geom& g) const {
    if constexpr (!kSplitK) return 1;
    else return tile::device_split_k_shares(split_tiles(g), g.kw_padded / T::kSlabKw);
  }
  // The sums: per tile, a thread's accumulators and row popcount (kSplitK only).
  static constexpr int kSplitValues() {
    if constexpr (kSplitK) return WM::kMI * WM::kNJ * 4 + 1;
    else return 0;
  }
  static int64_t split_tiles(const Geom& g) { return int64_t{(g.m + T::kBM - 1) / T::kBM} * (g.k_padded / T::kBN); }
  static int64_t split_sum_words(const Geom& g) { return split_tiles(g) * kSplitValues() * T::kThreads; }
  size_t split_bytes(const Geom& g) const {
    return split_count(g) > 1 ? static_cast<size_t>(split_sum_words(g) + split_tiles(g)) * 4 : 0;
  }
  static size_t split_offset(const Geom& g) {
    return weights_bytes(g) + prefix_bytes(g) + (static_cast<size_t>(g.n_classes) * g.k_padded * 4 + 255) / 256 * 256;
  }
  static size_t weights_bytes(const Geom& g) {
    return (static_cast<size_t>(g.k_padded) * g.kw_padded * 4 + 255) / 256 * 256;
  }
  static uint32_t* packed(void* ws) { return static_cast<uint32_t*>(ws); }
  static size_t prefix_bytes(const Geom& g) {
    return (static_cast<size_t>(g.r + 1) * (g.s + 1) * g.k_padded * 4 + 255) / 256 * 256;
  }
  static int32_t* prefix(void* ws, const Geom& g) {
    return reinterpret_cast<int32_t*>(static_cast<char*>(ws) + weights_bytes(g));
  }
  // 256-byte aligned: the epilogue reads it 8 bytes at a time.
  static int32_t* excess(void* ws, const Geom& g) {
    return reinterpret_cast<int32_t*>(static_cast<char*>(ws) + weights_bytes(g) + prefix_bytes(g));
  }
  int arch_;
  bool tiled_name_;
};

struct BtcWmmaSm75 {
  static constexpr const BmmConfig& c = generated::sm75::kBtcWmma;
};
struct MmaAndSm80 {
  static constexpr const BmmConfig& c = generated::sm80::kMmaAnd;
};
// Row I of an sm_90 tile table (generated/bconv_config.h) as a kernel's configuration.
template <const auto& kTable, int I>
struct Sm90Row {
  static constexpr const BmmConfig& c = kTable[I];
};
template <const auto& kTable>
constexpr auto kRowsOf = std::make_integer_sequence<int, static_cast<int>(std::size(kTable))>{};

// Every row of a tile table as two designs: one tile a block, and persistent.
template <Math M, const auto& kTable, int... I>
void add_sm90_tiles(DesignList& out, std::integer_sequence<int, I...>) {
  (out.push_back(std::make_unique<IgemmDesign<Sm90Row<kTable, I>, M>>(90, true)), ...);
  (out.push_back(std::make_unique<IgemmDesign<Sm90Row<kTable, I>, M, Grid::kPersistent>>(90, true)), ...);
}
// The mma_and rows kSplitKCandidates names, as split-K designs.
template <int... J>
void add_sm90_split_k(DesignList& out, std::integer_sequence<int, J...>) {
  (out.push_back(std::make_unique<IgemmDesign<Sm90Row<generated::sm90::kMmaAndCandidates,
                                                      generated::sm90::kSplitKCandidates[J]>,
                                              Math::kMmaAnd, Grid::kSplitK>>(90, true)),
   ...);
}

}  // namespace

namespace {
std::atomic<int> persistent_cap{0};
}  // namespace
void set_persistent_blocks_cap(int blocks) { persistent_cap.store(std::max(0, blocks)); }
int persistent_blocks_cap() { return persistent_cap.load(); }

void add_implicit_gemm_designs(DesignList& out) {
  out.push_back(std::make_unique<IgemmDesign<BtcWmmaSm75, Math::kWmmaXor>>(75));
  out.push_back(std::make_unique<IgemmDesign<MmaAndSm80, Math::kMmaAnd>>(80));
  out.push_back(std::make_unique<IgemmDesign<MmaAndSm80, Math::kMmaAnd, Grid::kPersistent>>(80));
  out.push_back(std::make_unique<IgemmDesign<MmaAndSm80, Math::kMmaAnd, Grid::kSplitK>>(80));
  add_sm90_tiles<Math::kMmaAnd, generated::sm90::kMmaAndCandidates>(out, kRowsOf<generated::sm90::kMmaAndCandidates>);
  add_sm90_split_k(out, kRowsOf<generated::sm90::kSplitKCandidates>);
  add_sm90_tiles<Math::kWgmmaAnd, generated::sm90::kWgmmaAndCandidates>(out, kRowsOf<generated::sm90::kWgmmaAndCandidates>);
}

}  // namespace btc::bconv
