// The tensor-core stem (net/stem_tc.cuh): conv + affine + relu + max-pool in
// one persistent kernel.
//
// Work: a "unit" is one pooled row (pool) or two conv rows (no pool) of one
// image, one column strip and one group of 64 filters; the units, in the
// order (filter group, strip, image, row), are split evenly over the grid, so
// a CTA walks down consecutive rows of one or a few images. A step computes a
// unit's conv rows 2u, 2u+1; with the pool it also needs row 2u-1, which the
// previous unit computed (a CTA whose first unit starts mid-image computes
// it first, in a "prologue" step). Without recompute the 224 x 224 stem does
// exactly its 12,544 conv pixels an image.
//
// Per step, 4 warps: warp = (filter half nh, tile group mg). The step's conv
// rows are M tiles of 16 consecutive pixels of one row (7 tiles for 112
// columns); mg takes every second tile, both filter halves of a tile load the
// same A. B (32 filters x K) lives in registers for the whole kernel: 80 for
// the 7x7x3 stem, which is what keeps the shared-memory traffic at one 32-bit
// load per MMA (A only) where an N = 64 warp with B from shared memory needs
// 2.5. Shared memory (the 224 image: 72 KiB, three CTAs an SM on the H200):
//   ring   16 input rows x pitch words: the image rows, cs fp16 channels a
//          pixel (the layout stem_tc.cuh describes), zero outside the image
//   stage  4 rows x pixel pairs x 16 bytes: cp.async lands the next step's
//          new rows here (8 bytes a pixel, channels 0-3), then each thread
//          repacks its own pairs into the ring (its own cp.async data: no
//          barrier between)
//   conv   3 conv rows x pixels x 64 fp16: the affine's output (after the
//          relu with relu), 16-byte chunks XOR-swizzled by pixel so the
//          epilogue's 32-bit stores and the pool's 16-byte loads are
//          conflict-free
//   affine the group's 64 scales and 64 shifts
// Two barriers a step: before the epilogue overwrites conv rows the previous
// pool read, and before the pool reads this step's rows.
#include "net/stem_tc.cuh"

#include <algorithm>
#include <climits>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "harness/core/check.h"
#include "kernels/atoms/arch.cuh"
#include "kernels/atoms/copy_sm80.cuh"
#include "kernels/atoms/grid_dependency.cuh"
#include "kernels/atoms/mma_sm80.cuh"
#include "net/warp_bits.cuh"

namespace btc::net {

using stem_tc_layout::Group;
using stem_tc_layout::Kind;
using stem_tc_layout::KLayout;

namespace stem_tc_impl {

constexpr int kThreads = 128;       // 4 warps: 2 filter halves x 2 tile groups
constexpr int kRing = 16;           // input rows held (a power of 2): a step's window (<= 9) + the next's new rows (<= 4)
constexpr int kStageRows = 4;       // rows one prefetch lands: a step's new rows (2 conv rows x stride 2)
constexpr int kMaxTiles = 7;        // M tiles per strip row: 112 conv columns, the 224 image's whole row
constexpr int kStripCols = 16 * kMaxTiles;
constexpr int kConvSlots = 3;       // conv rows kept: a pooled row's window (row y in slot y % 3)
constexpr int kGroupFilters = 64;   // filters a CTA computes at a time: 2 warps x 32 (4 n8 tiles)
constexpr int kPixelWords = kGroupFilters / 2;  // 32-bit words of a conv pixel's 64 fp16 values
constexpr int kAffineWords = 2 * kGroupFilters;

// Everything the kernel needs, sizes derived on the host (make_plan).
struct Plan {
  const __half* x;
  const __half* w;
  const float* scale;
  const float* shift;
  __half* out;
  uint32_t* bits;
  int n, h, wd, c, xc, k, pad;
  int p, q, oh, ow;   // conv and output sizes
  int units;          // units of one (image, strip): ceil(p / 2)
  int strips;         // column strips of a row
  int strip_w;        // a strip's pooled columns (pool) or conv columns (no pool)
  int total;          // groups x strips x n x units
  int pitch;          // ring row pitch, 32-bit words
  int stage_pairs;    // pixel pairs of the widest strip's staged row
  int tiles;          // M tiles of the widest strip's conv row
  int ring_off, stage_off, conv_off, affine_off;  // shared regions, 32-bit-word offsets
  bool pool;
};

// One step: a unit's conv rows (or a prologue's one row), its strip and window.
struct Step {
  int unit;
  bool prologue;
  int fg, strip, img, u;
  int ya, rows;   // conv rows [ya, ya + rows)
  int wrows;      // input rows of its window: (rows - 1) * stride + r
  int iy0;        // input row of window row 0
  int xs, ncols;  // the strip's conv columns [xs, xs + ncols)
  int js, je;     // output columns [js, je): pooled (pool) or conv
  int tiles;      // M tiles of a conv row: ceil(ncols / 16)
  int ic0;        // input column of ring column 0
  int pairs;      // pixel pairs of a window row: ceil(((ncols - 1) * stride + r) / 2)
};

// The step of unit (fg, strip, img, u): everything but the coordinates.
template <class L>
__device__ Step step_at(const Plan& P, int unit, bool prologue, int fg, int strip, int img, int u) {
  Step s;
  s.unit = unit;
  s.prologue = prologue;
  s.fg = fg, s.strip = strip, s.img = img, s.u = u;
  s.ya = prologue ? 2 * s.u - 1 : 2 * s.u;
  s.rows = prologue ? 1 : min(2, P.p - 2 * s.u);
  s.wrows = (s.rows - 1) * L::kStride + L::kR;
  s.iy0 = s.ya * L::kStride - P.pad;
  int xe = 0;
  if (P.pool) {  // pooled columns [js, je) read conv columns 2 js - 1 .. 2 je - 1
    s.js = strip * P.strip_w;
    s.je = min(P.ow, s.js + P.strip_w);
    s.xs = max(0, 2 * s.js - 1);
    xe = min(P.q, 2 * s.je);
  } else {
    s.xs = strip * P.strip_w;
    xe = min(P.q, s.xs + P.strip_w);
    s.js = s.xs;
    s.je = xe;
  }
  s.ncols = xe - s.xs;
  s.tiles = (s.ncols + 15) / 16;
  s.ic0 = s.xs * L::kStride - P.pad;
  s.pairs = ((s.ncols - 1) * L::kStride + L::kR + 1) / 2;
  return s;
}

// The step of a unit in the order (filter group, strip, image, row): the CTA's first.
template <class L>
__device__ Step make_step(const Plan& P, int unit, bool prologue) {
  int rest = unit / P.units;
  const int u = unit - rest * P.units;
  const int img = rest % P.n;
  rest /= P.n;
  return step_at<L>(P, unit, prologue, rest / P.strips, rest % P.strips, img, u);
}

// The step after s: a prologue's own unit, else unit + 1, its coordinates
// carried from s's, where make_step's five divisions ran three times a step
// (ncu at 7152667: the per-step code was 370 instructions a warp).
template <class L>
__device__ Step next_step(const Plan& P, const Step& s) {
  if (s.prologue) return step_at<L>(P, s.unit, false, s.fg, s.strip, s.img, s.u);
  int u = s.u + 1, img = s.img, strip = s.strip, fg = s.fg;
  if (u == P.units) {
    u = 0;
    if (++img == P.n) {
      img = 0;
      if (++strip == P.strips) strip = 0, ++fg;
    }
  }
  return step_at<L>(P, s.unit + 1, false, fg, strip, img, u);
}

__device__ __forceinline__ uint32_t as_u32(__half2 v) {
  uint32_t u;
  memcpy(&u, &v, sizeof(u));
  return u;
}
__device__ __forceinline__ __half2 as_h2(uint32_t u) {
  __half2 v;
  memcpy(&v, &u, sizeof(v));
  return v;
}

// __hmax2 is the pool's order as it stands (cuda_fp16.h: +0 above -0, a NaN
// loses to the other input), so the conv rows hold plain fp16 values. The
// integer order keys this replaced cost 4 instructions a word in the tile
// loop and 4 more in the pool (ncu at 7152667: 32 of the tile's 253).
__device__ __forceinline__ uint32_t max2(uint32_t a, uint32_t b) { return as_u32(__hmax2(as_h2(a), as_h2(b))); }

// relu of two fp16 values: max(v, +0) drops negatives, -0 and NaN.
__device__ __forceinline__ uint32_t relu2(__half2 v) { return as_u32(__hmax2(v, __float2half2_rn(0.0f))); }

// Word of chunk (8 channels) `chunk` of conv pixel `pixel` in a conv row:
// the 16-byte chunks of a pixel XOR-swizzled by pixel % 8.
__device__ __forceinline__ int conv_word(int pixel, int chunk) {
  return pixel * kPixelWords + ((chunk ^ (pixel & 7)) << 2);
}

// cp.async window rows [j0, j1) of step s into the stage: item (row jr, pixel
// pair pr) at 16 bytes (jr * pairs + pr) * 16, 8 bytes (channels 0-3) a pixel,
// zeros outside the image. A thread takes pairs threadIdx.x + 128 i of every
// row, so the column tests are once a pair and there is no division (ncu at
// 7152667: the item loop's it / pairs and 64-bit index math made this and
// unstage_rows 13% of the stem's instructions). unstage_rows walks the same
// items on the same threads.
template <class L>
__device__ void stage_rows(const Plan& P, const Step& s, int j0, int j1, uint32_t* stage) {
  const __half* img = P.x + int64_t(s.img) * P.h * P.wd * P.xc;
  const int64_t row_halves = int64_t(P.wd) * P.xc;
  for (int pr = threadIdx.x; pr < s.pairs; pr += kThreads) {
    const int ic = s.ic0 + 2 * pr;
    const bool ok0 = ic >= 0 && ic < P.wd, ok1 = ic + 1 >= 0 && ic + 1 < P.wd;
    for (int jr = 0; jr < j1 - j0; ++jr) {
      const int ih = s.iy0 + j0 + jr;
      const bool row_ok = ih >= 0 && ih < P.h;
      const __half* src = img + ih * row_halves + int64_t(ic) * P.xc;
      uint32_t* dst = stage + 4 * (jr * s.pairs + pr);
      atom::copy_or_zero<8, true>(dst, reinterpret_cast<const uint32_t*>(row_ok && ok0 ? src : P.x), row_ok && ok0);
      atom::copy_or_zero<8, true>(dst + 2, reinterpret_cast<const uint32_t*>(row_ok && ok1 ? src + P.xc : P.x),
                                  row_ok && ok1);
    }
  }
}

// The stage's rows [j0, j1) (this thread's items, after its cp.async wait)
// into ring slots (vb + j) % kRing, channels >= c zeroed (m01, m23: the
// masks of channels 0-1, 2-3). cs 3: a pair's 6 values are 3 words at 3 pr;
// cs 4: 4 words at 4 pr (32-bit stores: the pitch is chosen for conflict-free
// loads, not 16-byte rows).
template <class L>
__device__ void unstage_rows(const Plan& P, const Step& s, int vb, int j0, int j1, const uint32_t* stage,
                             uint32_t* ring, uint32_t m01, uint32_t m23) {
  for (int pr = threadIdx.x; pr < s.pairs; pr += kThreads) {
    for (int jr = 0; jr < j1 - j0; ++jr) {
      const uint4 v = *reinterpret_cast<const uint4*>(stage + 4 * (jr * s.pairs + pr));
      const uint32_t a01 = v.x & m01, a23 = v.y & m23, b01 = v.z & m01, b23 = v.w & m23;
      uint32_t* row = ring + ((vb + j0 + jr) & (kRing - 1)) * P.pitch;
      if constexpr (L::kCs == 3) {
        row[3 * pr] = a01;                                // a0 a1
        row[3 * pr + 1] = __byte_perm(a23, b01, 0x5410);  // a2 b0
        row[3 * pr + 2] = __byte_perm(b01, b23, 0x5432);  // b1 b2
      } else {
        row[4 * pr] = a01;
        row[4 * pr + 1] = a23;
        row[4 * pr + 2] = b01;
        row[4 * pr + 3] = b23;
      }
    }
  }
}

// B word of group gi for filter n and lane t: taps (r, q) and (r, q + 1) of
// the run (q = 2 e, tap (s, ch) = (q / cs, q % cs)), 0 where A is masked or
// the channel is past c.
template <class L>
__device__ uint32_t weight_word(const Plan& P, int gi, int n, int t) {
  const uint32_t mask = L::lane_mask(gi, t);
  if (n >= P.k || mask == 0u) return 0u;
  const int r = L::lane_row(gi, t), e = L::lane_word(gi, t);
  uint32_t word = 0;
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    if (((mask >> (16 * hf)) & 0xFFFFu) == 0u) continue;
    const int q = 2 * e + hf, s = q / L::kCs, ch = q % L::kCs;
    if (ch >= P.c) continue;
    const __half v = P.w[((int64_t(n) * L::kR + r) * L::kR + s) * P.c + ch];
    word |= uint32_t(__half_as_ushort(v)) << (16 * hf);
  }
  return word;
}

// The warp's B fragments for filters n0 .. n0 + 31: b[step][n8 tile][reg],
// reg j = group 2 step + j (PTX: b0 holds k 2t, 2t+1 of column g, b1 k 2t+8, 2t+9).
template <class L>
__device__ __forceinline__ void load_b(const Plan& P, int n0, int g, int t, uint32_t (&b)[L::kSteps][4][2]) {
#pragma unroll
  for (int kk = 0; kk < L::kSteps; ++kk)
#pragma unroll
    for (int j = 0; j < 2; ++j)
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) b[kk][nt][j] = weight_word<L>(P, 2 * kk + j, n0 + 8 * nt + g, t);
}

// A conv row's A addresses (32-bit words in the ring) for lane (g, t) at the
// warp's first tile of the row: kRow groups read row[r] + e, kColumn groups
// col[r / 4] + e (stem_tc.cuh). Computed once a conv row, not once a tile: a
// warp's tiles of a row differ only by a constant (2 tiles x 16 pixels x
// kPixWords: advance()), and the ring's wrap is per filter row, so the R row
// bases are the only per-row work (ncu at 7152667: ~40 of the tile loop's 253
// instructions were these, recomputed per tile).
template <class L>
struct RowBases {
  int row[L::kR];
  int col[L::kColChunks];
};

// v0: ring row of filter row 0; colw: word of lane row g's run in a ring row.
template <class L>
__device__ __forceinline__ void row_bases(RowBases<L>& rb, int pitch, int v0, int colw, int t) {
#pragma unroll
  for (int r = 0; r < L::kR; ++r) rb.row[r] = ((v0 + r) & (kRing - 1)) * pitch + colw + t;
#pragma unroll
  // A kColumn lane past the filter's rows is masked to 0, but it still loads:
  // from the last filter row, not from row v0 + R and on, which the next
  // step's prefetch is writing meanwhile (racecheck at fb0b076).
  for (int cc = 0; cc < L::kColChunks; ++cc) rb.col[cc] = ((v0 + min(4 * cc + t, L::kR - 1)) & (kRing - 1)) * pitch + colw;
}

template <class L>
__device__ __forceinline__ void advance(RowBases<L>& rb, int words) {
#pragma unroll
  for (int r = 0; r < L::kR; ++r) rb.row[r] += words;
#pragma unroll
  for (int cc = 0; cc < L::kColChunks; ++cc) rb.col[cc] += words;
}

// One M tile (16 pixels of one conv row) x the warp's 32 filters at the
// addresses rb (row g; row g + 8 is 8 kPixWords further). Every index below is
// constant after unrolling.
template <class L>
__device__ __forceinline__ void mma_tile(uint32_t (&acc)[4][4], const uint32_t (&b)[L::kSteps][4][2],
                                         const uint32_t* ring, const RowBases<L>& rb, int t) {
#pragma unroll
  for (int nt = 0; nt < 4; ++nt)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[nt][i] = 0u;  // +0.0f
#pragma unroll
  for (int kk = 0; kk < L::kSteps; ++kk) {
    uint32_t a[4];
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const Group gr = L::group(2 * kk + j);
      if (gr.kind == Kind::kZero) {
        a[2 * j] = 0u;
        a[2 * j + 1] = 0u;
        continue;
      }
      const int base = (gr.kind == Kind::kRow ? rb.row[gr.r] : rb.col[gr.r / 4]) + gr.e;
      const uint32_t mask = L::lane_mask(2 * kk + j, t);
      a[2 * j] = ring[base] & mask;                          // row g
      a[2 * j + 1] = ring[base + 8 * L::kPixWords] & mask;   // row g + 8
    }
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) atom::MmaF16M16N8K16::fma(acc[nt], a, b[kk][nt]);
  }
}

// acc (C fragment: rows g, g + 8, filters 8 nt + 2t, +1 of the warp's half)
// -> v = fmaf(scale, acc, shift) -> fp16 (-> relu) -> conv row.
// tile_row: the tile's first pixel in its conv row; swz = ((4 nh) ^ g) << 2
// + t: lane (g, t)'s word of chunk 4 nh + nt is tile_row + (swz ^ (nt << 2))
// (pixels g and g + 8 both have pixel % 8 = g).
template <bool kRelu>
__device__ __forceinline__ void store_tile(const uint32_t (&acc)[4][4], uint32_t* tile_row, const float* affine,
                                           int swz, int ch0) {
#pragma unroll
  for (int nt = 0; nt < 4; ++nt) {
    const int ch = ch0 + nt * 8;
    const float2 sc = *reinterpret_cast<const float2*>(affine + ch);
    const float2 sh = *reinterpret_cast<const float2*>(affine + kGroupFilters + ch);
    uint32_t* dst = tile_row + (swz ^ (nt << 2));
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      const float v0 = __fmaf_rn(sc.x, __uint_as_float(acc[nt][2 * hf]), sh.x);
      const float v1 = __fmaf_rn(sc.y, __uint_as_float(acc[nt][2 * hf + 1]), sh.y);
      const __half2 y = __floats2half2_rn(v0, v1);  // low half: channel ch
      dst[8 * hf * kPixelWords] = kRelu ? relu2(y) : as_u32(y);
    }
  }
}

// The bits byte (v >= 0: NaN 0, -0 1) of 8 fp16 values: set.ge.f16x2 gives
// 0xFFFF a true half; value j's bit is picked in place (bit j of the word's
// half) and the high halves' bits folded down.
__device__ __forceinline__ uint32_t sign_byte(const uint4& v) {
  const __half2 zero = __float2half2_rn(0.0f);
  const uint32_t t = (__hge2_mask(as_h2(v.x), zero) & 0x00010001u) | (__hge2_mask(as_h2(v.y), zero) & 0x00040004u) |
                     (__hge2_mask(as_h2(v.z), zero) & 0x00100010u) | (__hge2_mask(as_h2(v.w), zero) & 0x00400040u);
  return (t | (t >> 15)) & 0xFFu;
}

__device__ __forceinline__ uint4 max4(const uint4& a, const uint4& b) {
  return make_uint4(max2(a.x, b.x), max2(a.y, b.y), max2(a.z, b.z), max2(a.w, b.w));
}

// The step's output from the conv rows: the pooled row u or the conv rows
// themselves. Item = (output pixel, 8-channel chunk): 16-byte loads and
// stores, 8 lanes a 64-channel pixel; lanes 4i .. 4i+3 make one bits word.
// The pool's window is always 3 x 3 with rows and columns clamped into the
// conv output (a repeated element does not change a max), so no branches.
__device__ void output_step(const Plan& P, const Step& s, const uint32_t* conv, int slot_words) {
  const int nch = min(kGroupFilters, P.k - s.fg * kGroupFilters) / 8;  // 8 or 4
  const int lg = nch == 8 ? 3 : 2;
  const int out_cols = s.je - s.js;  // pooled columns of the strip, or its conv columns
  const int items = (P.pool ? 1 : s.rows) * out_cols * nch;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  // Conv rows of the window (pool) or of the step: their slots.
  const uint32_t* rows[3];
#pragma unroll
  for (int d = 0; d < 3; ++d) {
    const int y = P.pool ? min(max(2 * s.u - 1 + d, 0), P.p - 1) : s.ya + min(d, s.rows - 1);
    rows[d] = conv + (y % kConvSlots) * slot_words;
  }
  const int64_t k = P.k;
  for (int base = warp * 32; base < items; base += kThreads) {  // whole warps: the shuffles
    const int item = base + lane;
    const bool valid = item < items;
    uint32_t byte = 0;
    int64_t pix = 0;
    int ch = 0;
    if (valid) {
      ch = item & (nch - 1);
      int oc = item >> lg, orr = 0;
      uint4 m;
      if (P.pool) {
        const int ocol = s.js + oc;
        int cw[3];  // the 3 columns' words of chunk ch
#pragma unroll
        for (int d = 0; d < 3; ++d) {
          const int x = min(max(2 * ocol - 1 + d, 0), P.q - 1) - s.xs;
          cw[d] = conv_word(x, ch);
        }
        m = *reinterpret_cast<const uint4*>(rows[0] + cw[0]);
#pragma unroll
        for (int d = 0; d < 3; ++d)
#pragma unroll
          for (int e = 0; e < 3; ++e)
            if (d + e > 0) m = max4(m, *reinterpret_cast<const uint4*>(rows[d] + cw[e]));
        pix = (int64_t(s.img) * P.oh + s.u) * P.ow + ocol;
      } else {
        if (oc >= out_cols) oc -= out_cols, orr = 1;
        m = *reinterpret_cast<const uint4*>((orr == 0 ? rows[0] : rows[1]) + conv_word(oc, ch));
        pix = (int64_t(s.img) * P.oh + s.ya + orr) * P.ow + s.xs + oc;
      }
      *reinterpret_cast<uint4*>(P.out + pix * k + s.fg * kGroupFilters + ch * 8) = m;
      byte = sign_byte(m);
    }
    const uint32_t word = word_of_bytes(byte);
    if (valid && P.bits != nullptr && (ch & 3) == 0) P.bits[pix * (k / 32) + s.fg * 2 + ch / 4] = word;
  }
}

// Registers: B is 8 kSteps a thread; 3 CTAs an SM (168 registers) fit the
// 7x7x3 stem's 80, two for the 13 steps of cs = 4.
template <class L>
constexpr int min_blocks() {
  return L::kSteps <= 10 ? 3 : 2;
}

}  // namespace stem_tc_impl

namespace {

using namespace stem_tc_impl;

template <class L, bool kRelu>
__global__ void __launch_bounds__(kThreads, min_blocks<L>()) stem_tc_kernel(const Plan P) {
#if BTC_HAS_SM80
  atom::begin_dependent_kernel();  // programmatic dependent launch (atoms/grid_dependency.cuh)
  extern __shared__ uint4 smem4[];
  uint32_t* sm = reinterpret_cast<uint32_t*>(smem4);
  uint32_t* ring = sm + P.ring_off;
  uint32_t* stage = sm + P.stage_off;
  uint32_t* conv = sm + P.conv_off;
  float* affine = reinterpret_cast<float*>(sm + P.affine_off);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int nh = warp & 1, mg = warp >> 1;
  const int swz = (((4 * nh) ^ g) << 2) + t;  // store_tile's lane word in a pixel's chunk 4 nh
  const int lo = int(int64_t(blockIdx.x) * P.total / gridDim.x);
  const int hi = int(int64_t(blockIdx.x + 1) * P.total / gridDim.x);
  if (lo >= hi) return;  // the whole CTA
  const uint32_t m01 = P.c >= 2 ? 0xFFFFFFFFu : 0x0000FFFFu;
  const uint32_t m23 = P.c >= 4 ? 0xFFFFFFFFu : P.c == 3 ? 0x0000FFFFu : 0u;
  const int slot_words = P.tiles * 16 * kPixelWords;

  uint32_t b[L::kSteps][4][2];
  int fg_loaded = -1;
  // A CTA starting mid-image first computes the conv row above its first pooled row.
  Step cur = make_step<L>(P, lo, P.pool && lo % P.units != 0);
  int vb = 0;     // ring row of the current window's row 0
  int ready = 0;  // rows of the current window already in the ring
  for (;;) {
    __syncthreads();  // the previous step's pool has read the conv rows this step overwrites
    // Rows not prefetched (a new image or strip: up to 9 rows, 4 came early).
    const bool load_now = ready < cur.wrows;
    for (int j = ready; j < cur.wrows; j += kStageRows) {
      const int j1 = min(cur.wrows, j + kStageRows);
      stage_rows<L>(P, cur, j, j1, stage);
      atom::cp_async_commit();
      atom::cp_async_wait<0>();
      unstage_rows<L>(P, cur, vb, j, j1, stage, ring, m01, m23);
    }
    const bool new_fg = cur.fg != fg_loaded;
    if (new_fg) {
      fg_loaded = cur.fg;
      load_b<L>(P, cur.fg * kGroupFilters + nh * 32, g, t, b);
      if (threadIdx.x < kGroupFilters) {
        const int ch = cur.fg * kGroupFilters + threadIdx.x;
        affine[threadIdx.x] = ch < P.k ? P.scale[ch] : 0.0f;
        affine[kGroupFilters + threadIdx.x] = ch < P.k ? P.shift[ch] : 0.0f;
      }
    }
    if (load_now || new_fg) __syncthreads();

    // Prefetch the next step's first new rows into ring rows this step does not read.
    const bool has_next = cur.prologue || cur.unit + 1 < hi;
    int vb_next = 0, pf0 = 0, pf1 = 0;
    if (has_next) {
      // Rebuilt after the tile loop rather than held across it (the kernel is at
      // its 168-register bound); next_step carries, it does not divide.
      const Step nxt = next_step<L>(P, cur);
      if (nxt.img == cur.img && nxt.strip == cur.strip && nxt.fg == cur.fg) {  // the windows overlap
        const int delta = cur.rows * L::kStride;
        pf0 = max(0, cur.wrows - delta);
        vb_next = (vb + delta) & (kRing - 1);
      } else {
        vb_next = (vb + cur.wrows) & (kRing - 1);
      }
      pf1 = min(nxt.wrows, pf0 + kStageRows);
      stage_rows<L>(P, nxt, pf0, pf1, stage);
    }
    atom::cp_async_commit();

    if (cur.fg * kGroupFilters + nh * 32 < P.k) {  // a group of 32 filters has one half
      // Tiles mg, mg + 2, ... of the step's rows x tiles, counted across both
      // rows (7 tiles a row: 7 and 7 a warp, where row by row would give 8 and 6):
      // in row jr the warp's first tile is mg ^ (jr * tiles) % 2.
      for (int jr = 0; jr < cur.rows; ++jr) {
        const int ct0 = mg ^ (jr & cur.tiles & 1);
        RowBases<L> rb;
        row_bases<L>(rb, P.pitch, vb + jr * L::kStride, (ct0 * 16 + g) * L::kPixWords, t);
        uint32_t* tile_row = conv + ((cur.ya + jr) % kConvSlots) * slot_words + (ct0 * 16 + g) * kPixelWords;
        for (int ct = ct0; ct < cur.tiles; ct += 2) {
          uint32_t acc[4][4];
          mma_tile<L>(acc, b, ring, rb, t);
          store_tile<kRelu>(acc, tile_row, affine, swz, nh * 32 + 2 * t);
          advance<L>(rb, 2 * 16 * L::kPixWords);
          tile_row += 2 * 16 * kPixelWords;
        }
      }
    }

    atom::cp_async_wait<0>();
    if (has_next) unstage_rows<L>(P, next_step<L>(P, cur), vb_next, pf0, pf1, stage, ring, m01, m23);
    __syncthreads();  // this step's conv rows and the next step's ring rows are in place
    if (!cur.prologue) output_step(P, cur, conv, slot_words);
    if (!has_next) break;
    cur = next_step<L>(P, cur);
    vb = vb_next;
    ready = pf1;
  }
#else
  (void)P;
  __trap();  // sm_75 code: no f16 mma.sync; the host never launches it (stem_tc_skip_reason)
#endif
}

using KernelFn = void (*)(Plan);

template <int R, int S, int CS>
KernelFn kernel_for(bool relu) {
  using L = KLayout<R, S, CS>;
  return relu ? stem_tc_kernel<L, true> : stem_tc_kernel<L, false>;
}

// The instantiated filters: r 3, 5, 7 at stride 2 (cs 3 or 4) and stride 1 (cs 4).
KernelFn find_kernel(int r, int stride, int cs, bool relu) {
  const int key = r * 100 + stride * 10 + cs;
  switch (key) {
    case 723: return kernel_for<7, 2, 3>(relu);
    case 724: return kernel_for<7, 2, 4>(relu);
    case 714: return kernel_for<7, 1, 4>(relu);
    case 523: return kernel_for<5, 2, 3>(relu);
    case 524: return kernel_for<5, 2, 4>(relu);
    case 514: return kernel_for<5, 1, 4>(relu);
    case 323: return kernel_for<3, 2, 3>(relu);
    case 324: return kernel_for<3, 2, 4>(relu);
    case 314: return kernel_for<3, 1, 4>(relu);
    default: return nullptr;
  }
}

// Bank conflicts of a kColumn load: the most distinct words one bank serves
// for lanes (g, t) at ring row (v + t) % kRing, word g * pix_words. First rows
// v <= kRing - 4 do not wrap: their words are v = 0's plus a constant, the
// same conflicts; v = kRing - 3 .. kRing - 1 wrap. (kRow loads, g * pix_words
// + t of one row, do not depend on the pitch.)
int column_conflicts(int pix_words, int pitch) {
  int worst = 0;
  for (const int v : {0, kRing - 3, kRing - 2, kRing - 1}) {
    int words[32];
    for (int g = 0; g < 8; ++g)
      for (int t = 0; t < 4; ++t) words[4 * g + t] = ((v + t) % kRing) * pitch + g * pix_words;
    std::sort(words, words + 32);
    int per_bank[32] = {};
    for (int i = 0; i < 32; ++i)
      if (i == 0 || words[i] != words[i - 1]) worst = std::max(worst, ++per_bank[words[i] % 32]);
  }
  return worst;
}

// The ring pitch: the least column-load conflicts at or above min_pitch (the
// 7x7x3 stem's 360 words: none; stride 1: 2-way, the least with 2-word pixels).
int ring_pitch(int min_pitch, int pix_words) {
  int best = min_pitch, best_conflicts = INT_MAX;
  for (int pitch = min_pitch; pitch < min_pitch + 64 && best_conflicts > 1; ++pitch) {
    const int conflicts = column_conflicts(pix_words, pitch);
    if (conflicts < best_conflicts) best = pitch, best_conflicts = conflicts;
  }
  return best;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Derived {
  StemTcShape shape;
  int cs = 0, units = 0, strips = 0, strip_w = 0, groups = 0, max_cols = 0;
  int64_t total = 0;
};

Derived derive(const StemTcArgs& a) {
  Derived d;
  d.shape = stem_tc_shape(a);
  d.cs = stem_tc_layout::smem_channels(a.c, a.stride);
  d.units = (d.shape.p + 1) / 2;
  const int q = d.shape.q;
  if (a.pool) {  // one strip when the whole conv row fits; else 55 pooled (111 conv) columns a strip
    d.strip_w = q <= kStripCols ? d.shape.ow : (kStripCols - 1) / 2;
    d.strips = int(ceil_div(d.shape.ow, d.strip_w));
    d.max_cols = d.strips == 1 ? q : std::min(q, 2 * d.strip_w + 1);
  } else {
    d.strip_w = std::min(q, kStripCols);
    d.strips = int(ceil_div(q, d.strip_w));
    d.max_cols = d.strip_w;
  }
  d.groups = int(ceil_div(a.k, kGroupFilters));
  d.total = int64_t(d.groups) * d.strips * a.n * d.units;
  return d;
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

}  // namespace

StemTcShape stem_tc_shape(const StemTcArgs& a) {
  StemTcShape s;
  if (a.stride < 1) return s;
  s.p = (a.h + 2 * a.pad - a.r) / a.stride + 1;
  s.q = (a.wd + 2 * a.pad - a.r) / a.stride + 1;
  s.oh = a.pool ? (s.p - 1) / 2 + 1 : s.p;
  s.ow = a.pool ? (s.q - 1) / 2 + 1 : s.q;
  return s;
}

std::string stem_tc_unsupported(const StemTcArgs& a) {
  if (a.x == nullptr || a.w == nullptr || a.scale == nullptr || a.shift == nullptr || a.out == nullptr)
    return "x, w, scale, shift and out must be set (only bits may be null)";
  if (const std::string why = stem_tc_unsupported_shape(a); !why.empty()) return why;
  if (!aligned(a.x, 8)) return "x must be 8-byte aligned (cp.async of a pixel's 4 channels)";
  if (!aligned(a.out, 16)) return "out must be 16-byte aligned (16-byte stores)";
  if (a.bits != nullptr && !aligned(a.bits, 4)) return "bits must be 4-byte aligned";
  if (!aligned(a.w, 2) || !aligned(a.scale, 4) || !aligned(a.shift, 4))
    return "w, scale and shift must be aligned to their element size";
  return "";
}

std::string stem_tc_unsupported_shape(const StemTcArgs& a) {
  const auto num = [](int64_t v) { return std::to_string(v); };
  if (a.n < 1 || a.h < 1 || a.wd < 1)
    return "empty input: n, h, w = " + num(a.n) + ", " + num(a.h) + ", " + num(a.wd) + " (each must be >= 1)";
  if (a.k < 32 || a.k % 32 != 0) return "k = " + num(a.k) + ": the filter count must be a positive multiple of 32";
  if (a.c < 1 || a.c > 4)
    return "c = " + num(a.c) + ": stem_tc takes 1 to 4 input channels (an image's 3); wider inputs are not a stem";
  if (a.xc < a.c || a.xc % 4 != 0)
    return "xc = " + num(a.xc) + ": x's channels per pixel must be a multiple of 4 and >= c = " + num(a.c) +
           " (pad the image to 4 or 8 channels)";
  if (a.stride != 1 && a.stride != 2) return "stride " + num(a.stride) + ": stem_tc takes stride 1 or 2";
  if (a.r != 3 && a.r != 5 && a.r != 7) return "r = " + num(a.r) + ": stem_tc takes 3x3, 5x5 or 7x7 filters";
  if (a.pad < 0 || a.pad >= a.r) return "pad " + num(a.pad) + ": must be in [0, r) for r = " + num(a.r);
  if (a.h + 2 * a.pad < a.r || a.wd + 2 * a.pad < a.r)
    return "the " + num(a.r) + "x" + num(a.r) + " filter is larger than the padded " + num(a.h) + "x" + num(a.wd) +
           " image";
  if (a.max_blocks < 0) return "max_blocks " + num(a.max_blocks) + ": must be >= 0 (0: as many as fit)";
  const Derived d = derive(a);
  if (int64_t(a.h) * a.wd * a.xc > INT_MAX || int64_t(d.shape.oh) * d.shape.ow * a.k > INT_MAX)
    return "one image's input or output has more than 2^31 - 1 elements (int32 indexing)";
  if (d.total > INT_MAX)
    return "n = " + num(a.n) + ": " + num(d.total) + " row units overflow int32 indexing";
  if (find_kernel(a.r, a.stride, d.cs, a.relu) == nullptr) return "no kernel instantiated for this r, stride, c";
  return "";
}

std::string stem_tc_skip_reason(const CodeTarget& code) {
  return arch_skip_reason(code, atom::MmaF16M16N8K16::kMinArch, false, "stem_tc (mma.sync f16 m16n8k16)");
}

namespace {

Plan make_plan(const StemTcArgs& a, const Derived& d, size_t& smem_bytes) {
  Plan P{};
  P.x = a.x;
  P.w = a.w;
  P.scale = a.scale;
  P.shift = a.shift;
  P.out = a.out;
  P.bits = a.bits;
  P.n = a.n;
  P.h = a.h;
  P.wd = a.wd;
  P.c = a.c;
  P.xc = a.xc;
  P.k = a.k;
  P.pad = a.pad;
  P.p = d.shape.p;
  P.q = d.shape.q;
  P.oh = d.shape.oh;
  P.ow = d.shape.ow;
  P.units = d.units;
  P.strips = d.strips;
  P.strip_w = d.strip_w;
  P.total = int(d.total);
  P.pool = a.pool;
  P.tiles = int(ceil_div(d.max_cols, 16));
  P.stage_pairs = ((d.max_cols - 1) * a.stride + a.r + 1) / 2;
  // A ring row holds every pair the loader writes (cs words a pair) and every
  // word the last tile's 16th pixel reads.
  const int run_words = (a.r * d.cs + 1) / 2, pix_words = a.stride * d.cs / 2;
  P.pitch = ring_pitch(std::max(P.stage_pairs * d.cs, (P.tiles * 16 - 1) * pix_words + run_words), pix_words);
  const auto round4 = [](int words) { return (words + 3) / 4 * 4; };  // 16-byte aligned regions
  P.ring_off = 0;
  P.stage_off = round4(P.ring_off + kRing * P.pitch);
  P.conv_off = round4(P.stage_off + kStageRows * P.stage_pairs * 4);
  P.affine_off = round4(P.conv_off + kConvSlots * P.tiles * 16 * kPixelWords);
  smem_bytes = size_t(P.affine_off + kAffineWords) * sizeof(uint32_t);
  return P;
}

// Blocks of fn with smem bytes resident on the whole device, cached per
// kernel, size and device (the runner calls stem_tc every forward). The
// shared-memory size differs per shape, and the attribute is per kernel: it
// only ever grows, so a smaller shape's launch cannot shrink it under a larger
// one's cached entry (which then failed to launch: cudaErrorInvalidValue on
// the H200 at bfd7e7b, checks/gpu-tests-stem-tc-bfd7e7b.log).
int resident_blocks(KernelFn fn, size_t smem, int device) {
  struct Entry {
    KernelFn fn;
    size_t smem;
    int device, blocks;
  };
  struct Allowed {
    KernelFn fn;
    int device;
    size_t smem;  // the attribute's value
  };
  static std::mutex mu;
  static std::vector<Entry> cache;
  static std::vector<Allowed> allowed;
  std::lock_guard<std::mutex> lock(mu);
  for (const Entry& e : cache)
    if (e.fn == fn && e.smem == smem && e.device == device) return e.blocks;
  auto a = std::find_if(allowed.begin(), allowed.end(),
                        [&](const Allowed& x) { return x.fn == fn && x.device == device; });
  if (a == allowed.end() || a->smem < smem) {
    BTC_CUDA_CHECK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    BTC_CUDA_CHECK(
        cudaFuncSetAttribute(fn, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared));
    if (a == allowed.end()) allowed.push_back({fn, device, smem});
    else a->smem = smem;
  }
  int sms = 0, per_sm = 0;
  BTC_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  BTC_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fn, kThreads, smem));
  cache.push_back({fn, smem, device, sms * per_sm});
  return sms * per_sm;
}

}  // namespace

void stem_tc(const StemTcArgs& a, cudaStream_t s) {
  if (const std::string why = stem_tc_unsupported(a); !why.empty()) throw std::invalid_argument("stem_tc: " + why);
  if (const std::string why = stem_tc_skip_reason(current_code_target()); !why.empty())
    throw std::runtime_error("stem_tc: " + why);
  const Derived d = derive(a);
  size_t smem = 0;
  const Plan P = make_plan(a, d, smem);
  const KernelFn fn = find_kernel(a.r, a.stride, d.cs, a.relu);
  int device = 0;
  BTC_CUDA_CHECK(cudaGetDevice(&device));
  const int resident = resident_blocks(fn, smem, device);
  if (resident < 1)
    throw std::runtime_error("stem_tc: a block needs " + std::to_string(smem) +
                             " bytes of shared memory; the device runs none");
  int64_t grid = std::min<int64_t>(d.total, resident);
  if (a.max_blocks > 0) grid = std::min<int64_t>(grid, a.max_blocks);
  atom::launch_programmatic({unsigned(grid), kThreads, smem, s}, fn, P);
}

}  // namespace btc::net
