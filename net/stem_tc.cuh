// A network's first conv on the tensor cores (mma.sync m16n8k16 f16, fp32
// accumulation, sm_80+): a KxK stride-1 or -2 conv of an fp16 image with a
// few channels, the per-channel affine (folded batch norm), an optional ReLU
// and an optional fused 3x3 stride-2 pad-1 max-pool, writing fp16 and the
// sign bits. The value semantics are conv_half's and maxpool3_half's
// (net/half_kernels.cuh) up to the summation order: acc = sum over (r, s, c)
// of x * w with zero padding, in fp32 on the tensor cores; v = fmaf(scale[k],
// acc, shift[k]); y = half(v) (nearest); relu: y > 0 ? y : +0 (-0 and NaN
// become +0); pool: the max of the 3x3 window's conv outputs inside the conv
// output, +0 ranked above -0; bits (row_u32, k / 32 words a pixel): bit j of
// word w = float(out[32 w + j]) >= 0 (-0 is +1). Not bit-equal to conv_half
// (order): within fp16 rounding of the accumulated value (the test states the
// bound). The max-pool drops NaN as maxpool3 does, but a window of NaN alone
// gives NaN, not maxpool3's -inf (non-finite images only).
//
// How it runs (net/stem_tc.cu): persistent CTAs of 4 warps walk down image
// rows, two conv rows (one pooled row) a step, the whole (up to 112-column)
// row in one strip; input rows stay in a 16-row shared ring, prefetched one
// step ahead with cp.async; an implicit GEMM with M = a conv row's pixels
// (16 a tile), N = 64 filters (two warps of 32), K = r x (r * c) taps in the
// order stem_tc_layout below (dense channels: a 7x7x3 filter is 10 k16 steps,
// not the 13 that channels padded to 4 take). Each warp holds its 32 filters'
// B fragments in registers for the whole run. Conv rows go to shared memory
// (fp16 after the affine), and the pool reads them from there.
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "harness/core/code_target.h"

namespace btc::net {

struct StemTcArgs {
  const __half* x = nullptr;      // n x h x wd x xc, fp16 NHWC; channels c .. xc-1 are ignored
  const __half* w = nullptr;      // k x r x r x c fp16, (k, r, s, c) order
  const float* scale = nullptr;   // k
  const float* shift = nullptr;   // k
  bool relu = false;
  bool pool = false;              // 3x3 stride-2 pad-1 max-pool of y
  __half* out = nullptr;          // n x oh x ow x k (stem_tc_shape)
  uint32_t* bits = nullptr;       // n x oh x ow x k/32 words, or nullptr (not written)
  int n = 0, h = 0, wd = 0;
  int c = 3;                      // input channels that take part (1 to 4), the weights' C
  int xc = 4;                     // x's channels per pixel (its NHWC stride): a multiple of 4, >= c
  int k = 0;                      // filters, a multiple of 32
  int r = 7, stride = 2, pad = 3; // square r x r filters (3, 5 or 7), stride 1 or 2, zero padding
  int max_blocks = 0;             // at most this many CTAs (0: all that fit); tests give each CTA many rows with it
};

struct StemTcShape {
  int p = 0, q = 0;    // conv output rows, columns
  int oh = 0, ow = 0;  // out's rows, columns (the pooled ones with pool)
};
StemTcShape stem_tc_shape(const StemTcArgs& a);

// "" when stem_tc runs these arguments; otherwise why not (the sizes, strides,
// channel counts, pointers and alignments it takes). Host only.
std::string stem_tc_unsupported(const StemTcArgs& a);
// The same for the sizes, strides and channel counts alone (the pointers not
// read): what a planner asks before it allocates.
std::string stem_tc_unsupported_shape(const StemTcArgs& a);
// "" when the code the driver runs on the device has the f16 mma.sync (sm_80
// code); otherwise the reason (an sm_75 build or device: the kernel is a stub).
std::string stem_tc_skip_reason(const CodeTarget& code);

// Asynchronous on s. Throws std::invalid_argument (stem_tc_unsupported) and
// std::runtime_error (stem_tc_skip_reason of the current device's code).
void stem_tc(const StemTcArgs& a, cudaStream_t s);

// The GEMM's K order, shared by the kernel and the host test. The CTA keeps
// input rows in shared memory with cs channels a pixel (the image's c
// channels, zero up to cs), so filter row r's taps (s, ch) for one output
// pixel are r * cs consecutive fp16 values, a "run" that starts on a 32-bit
// word (stride * cs is even). A thread's A registers are 32-bit words of runs:
// for each k16 step, lane t's two registers per row (k = 2t, 2t+1 and 2t+8,
// 2t+9 of the PTX fragment) are "groups" gi = 2 step and 2 step + 1, and a
// group is one of
//   kRow:    filter row r, words e + t (t = lane % 4): 4 consecutive words
//   kColumn: filter rows r + t, word e (the words left past the kRow groups
//            of every row, 4 rows at a time; rows >= R are masked to 0)
//   kZero:   nothing (an odd group count's last; A and B are 0)
// so every address is a per-row base plus a constant. Where a run has an odd
// length its last word's upper half is past the run: masked to 0 (the mask,
// not a zero weight, so a non-finite neighbour cannot leak in). B (the
// weights) follows the same order, 0 wherever A is masked.
namespace stem_tc_layout {

enum class Kind : int { kRow, kColumn, kZero };
struct Group {
  Kind kind = Kind::kZero;
  int r = 0;  // kRow: the filter row; kColumn: the first of its 4 filter rows
  int e = 0;  // kRow: the first of its 4 words; kColumn: the word
};

template <int R, int S, int CS>
struct KLayout {
  static_assert((S * CS) % 2 == 0, "adjacent output pixels' runs must both start on a 32-bit word");
  static constexpr int kR = R, kStride = S, kCs = CS;
  static constexpr int kRun = R * CS;               // fp16 values of one filter row's taps
  static constexpr int kWords = (kRun + 1) / 2;     // 32-bit words they span
  static constexpr bool kOdd = kRun % 2 != 0;       // the last word's upper half is past the run
  static constexpr int kRowGroups = kWords / 4;     // kRow groups per filter row
  static constexpr int kLeft = kWords % 4;          // words per row past them (kColumn groups)
  static constexpr int kColChunks = (R + 3) / 4;    // kColumn groups per such word
  static constexpr int kGroups = R * kRowGroups + kLeft * kColChunks;
  static constexpr int kSteps = (kGroups + 1) / 2;  // k16 MMA steps
  static constexpr int kPixWords = S * CS / 2;      // words between adjacent output pixels' runs

  __host__ __device__ static constexpr Group group(int gi) {
    Group g;
    if (gi < R * kRowGroups) {
      g.kind = Kind::kRow;
      g.r = gi / kRowGroups;
      g.e = 4 * (gi % kRowGroups);
    } else if (gi < kGroups) {
      const int i = gi - R * kRowGroups;
      g.kind = Kind::kColumn;
      g.e = 4 * kRowGroups + i / kColChunks;
      g.r = 4 * (i % kColChunks);
    }
    return g;
  }
  // Lane t's word of group gi: its filter row (may be >= R: masked) and word.
  __host__ __device__ static constexpr int lane_row(int gi, int t) {
    return group(gi).kind == Kind::kColumn ? group(gi).r + t : group(gi).r;
  }
  __host__ __device__ static constexpr int lane_word(int gi, int t) {
    return group(gi).kind == Kind::kRow ? group(gi).e + t : group(gi).e;
  }
  // The bits of that word that hold taps of the filter: 0, 0xFFFF or ~0.
  __host__ __device__ static constexpr uint32_t lane_mask(int gi, int t) {
    if (group(gi).kind == Kind::kZero || lane_row(gi, t) >= R) return 0u;
    return kOdd && lane_word(gi, t) == kWords - 1 ? 0x0000FFFFu : 0xFFFFFFFFu;
  }
};

// The shared-memory channel count for c input channels at a stride: c (3 or
// 4) at stride 2, 4 at stride 1 (odd cs would start every second pixel's run
// mid-word). 1 or 2 channels use 3 or 4 with zeros.
constexpr int smem_channels(int c, int stride) { return stride == 2 && c <= 3 ? 3 : 4; }

}  // namespace stem_tc_layout
}  // namespace btc::net
