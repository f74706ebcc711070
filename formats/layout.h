// Bit-packing layouts for b1 tensor-core operands, CuTe-style: a layout is a
// function from coordinates to word offsets.
//
// A b1 matrix has `rows` x `k` bits (A: M x K; B stored N x K, "B transposed").
// Every layout keeps 32 consecutive k bits of one row in one 32-bit word, LSB
// first: bit j of word (row, kw) is element k = 32*kw + j. A layout is then a
// bijection (row, kw) -> word index in [0, words()), over the rows and k padded
// up to the layout's box ("tile") shape. Each layout stores boxes of
// box_rows x box_k bits contiguously, boxes ordered row-major over
// (row box, k box); only the order of the words inside a box differs:
//
//   layout              box (rows x bits)  inside a box (rr, kk = row, k word in the box)
//   row_u32             1 x 32             plain row-major (word r*kwords + kw overall)
//   row_u64             1 x 64             same order; a u64 word is two little-endian u32:
//                                          the software-popcount BNN format
//   tile8x128           8 x 128            row-major, 4 words per row: one 128-byte tile per
//                                          WMMA load_matrix_sync(frag, tile_ptr, 128) (TCBNN)
//   mma_frag_a16x256    16 x 256           word lane*4 + i = A register i of lane 4g+t of
//                                          mma.sync.m16n8k256: row g + 8*(i%2), k word t + 4*(i/2)
//   mma_frag_b8x256     8 x 256            word lane*2 + i = B register i: row (n) g, k word t + 4*i
//   wgmma_interleave    box_rows x 256     8-row x 16-byte core matrices, contiguous (128 B); byte
//                                          (c*(box_rows/8) + rr/8)*128 + (rr%8)*16 for 16-byte
//                                          chunk c: wgmma no-swizzle K-major, LBO = box_rows/8*128,
//                                          SBO = 128 (as microbench/instr_adapters.cuh)
//   wgmma_swizzle{32,64,128}  box_rows x 8W  W = 32/64/128-byte rows, byte o = rr*W + b, then
//                                          CuTe Swizzle<B,4,3> (B = 1/2/3):
//                                          o ^= ((o >> 7) & (2^B - 1)) << 4   (SBO = 8*W)
//
// The wgmma boxes are the shared-memory images the TMA / bulk-copy engine
// makes of a box_rows x box_k box (box_rows a multiple of 8, default 64), so a
// box copied byte for byte into shared memory (swizzled: at an address aligned
// to the pattern's repeat, 8*W bytes; 1024 B is always safe) is what wgmma reads.
//
// Segments (convolution packing): a matrix may split each row's k logical bits
// into segments of `k_segment_valid` bits (C), each stored in `k_segment`
// bits (C_pad, a multiple of 32), so segment s starts at stored bit
// s*k_segment, on a word boundary. `k` is always the logical (true) K; the
// layout maps stored bits. Without segments (k_segment = 0) stored = logical.
//
// Padding rule: every padding bit (rows past `rows`, stored k past the last
// logical bit, segment tails) is 0, in both operands, and dot products use the
// true K. With bit 1 = +1 and bit 0 = -1:
//   XOR form: dot = K - 2*popc(a XOR b)
//   AND form: dot = K - 2*popc(a) - 2*popc(b) + 4*popc(a AND b)
// Zero padding adds nothing to popc(a XOR b), popc(a), popc(b) or
// popc(a AND b), so both are exact over the padded words with the true K.
//
// Everything here is constexpr and __host__ __device__ under nvcc, plain
// constexpr under a host compiler.
#pragma once
#include <cstdint>
#include <string>

#if defined(__CUDACC__)
#define BTC_BITS_HD __host__ __device__
#else
#define BTC_BITS_HD
#endif

namespace btc::bits {

enum class Layout : int {
  kRowU32,
  kRowU64,
  kTile8x128,
  kMmaFragA16x256,
  kMmaFragB8x256,
  kWgmmaInterleave,
  kWgmmaSwizzle32,
  kWgmmaSwizzle64,
  kWgmmaSwizzle128,
};
inline constexpr int kNumLayouts = 9;
inline constexpr Layout kAllLayouts[kNumLayouts] = {
    Layout::kRowU32,        Layout::kRowU64,          Layout::kTile8x128,
    Layout::kMmaFragA16x256, Layout::kMmaFragB8x256,  Layout::kWgmmaInterleave,
    Layout::kWgmmaSwizzle32, Layout::kWgmmaSwizzle64, Layout::kWgmmaSwizzle128};
inline constexpr int kDefaultBoxRows = 64;

BTC_BITS_HD constexpr const char* name(Layout l) {
  switch (l) {
    case Layout::kRowU32: return "row_u32";
    case Layout::kRowU64: return "row_u64";
    case Layout::kTile8x128: return "tile8x128";
    case Layout::kMmaFragA16x256: return "mma_frag_a16x256";
    case Layout::kMmaFragB8x256: return "mma_frag_b8x256";
    case Layout::kWgmmaInterleave: return "wgmma_interleave";
    case Layout::kWgmmaSwizzle32: return "wgmma_swizzle32";
    case Layout::kWgmmaSwizzle64: return "wgmma_swizzle64";
    case Layout::kWgmmaSwizzle128: return "wgmma_swizzle128";
  }
  return "?";
}

// The name as name() spells it; throws std::invalid_argument listing them all.
Layout parse_layout(const std::string& s);
std::string layout_names();  // "row_u32, row_u64, ..."

BTC_BITS_HD constexpr bool is_wgmma(Layout l) {
  return static_cast<int>(l) >= static_cast<int>(Layout::kWgmmaInterleave);
}
// Swizzle width W in bytes (32/64/128); 0 for every unswizzled layout.
BTC_BITS_HD constexpr int swizzle_bytes(Layout l) {
  return l == Layout::kWgmmaSwizzle32 ? 32 : l == Layout::kWgmmaSwizzle64 ? 64 : l == Layout::kWgmmaSwizzle128 ? 128 : 0;
}
// Box rows: fixed per layout, box_rows for the wgmma layouts.
BTC_BITS_HD constexpr int box_rows_of(Layout l, int box_rows) {
  switch (l) {
    case Layout::kRowU32:
    case Layout::kRowU64: return 1;
    case Layout::kTile8x128:
    case Layout::kMmaFragB8x256: return 8;
    case Layout::kMmaFragA16x256: return 16;
    default: return box_rows;
  }
}
// Box k in bits.
BTC_BITS_HD constexpr int box_k_of(Layout l) {
  switch (l) {
    case Layout::kRowU32: return 32;
    case Layout::kRowU64: return 64;
    case Layout::kTile8x128: return 128;
    case Layout::kWgmmaSwizzle64: return 512;
    case Layout::kWgmmaSwizzle128: return 1024;
    default: return 256;  // both mma fragments, interleave, swizzle32
  }
}

struct WordCoord {
  int row;  // padded row
  int kw;   // stored k word: bits 32*kw .. 32*kw+31
};
// The logical k bits a stored word holds: bits 0..count-1 of the word are
// logical k = first .. first+count-1 (count <= 0: the word is all padding).
struct BitSpan {
  int first;
  int count;
};
struct BitLocation {
  int64_t word;
  int bit;
};

namespace detail {

BTC_BITS_HD constexpr int round_up(int x, int m) { return (x + m - 1) / m * m; }
BTC_BITS_HD constexpr int log2_pow2(int x) { return x >= 32 ? 5 : x >= 16 ? 4 : x >= 8 ? 3 : x >= 4 ? 2 : x >= 2 ? 1 : 0; }

// Word index inside one box of (row rr, k word kk).
BTC_BITS_HD constexpr int in_box_index(Layout l, int box_rows, int rr, int kk) {
  switch (l) {
    case Layout::kRowU32:
    case Layout::kRowU64: return kk;
    case Layout::kTile8x128: return rr * 4 + kk;
    case Layout::kMmaFragA16x256:  // lane = 4*(rr%8) + kk%4, register i = rr/8 + 2*(kk/4)
      return ((rr & 7) * 4 + (kk & 3)) * 4 + (rr >> 3) + 2 * (kk >> 2);
    case Layout::kMmaFragB8x256:  // lane = 4*rr + kk%4, register i = kk/4
      return (rr * 4 + (kk & 3)) * 2 + (kk >> 2);
    case Layout::kWgmmaInterleave:  // core matrix (chunk kk/4, row group rr/8), 32 words each
      return ((kk >> 2) * (box_rows >> 3) + (rr >> 3)) * 32 + (rr & 7) * 4 + (kk & 3);
    default: {  // swizzled: plain word p = rr*W/4 + kk, Swizzle<B,4,3> in words is Swizzle<B,2,3>
      const int w = swizzle_bytes(l);
      const int p = rr * (w >> 2) + kk;
      const int mask = (w >> 4) - 1;  // 1, 3, 7
      return p ^ (((p >> 5) & mask) << 2);
    }
  }
}

// Inverse of in_box_index.
BTC_BITS_HD constexpr WordCoord in_box_coords(Layout l, int box_rows, int idx) {
  switch (l) {
    case Layout::kRowU32:
    case Layout::kRowU64: return {0, idx};
    case Layout::kTile8x128: return {idx >> 2, idx & 3};
    case Layout::kMmaFragA16x256: {
      const int lane = idx >> 2, i = idx & 3;
      return {(lane >> 2) + 8 * (i & 1), (lane & 3) + 4 * (i >> 1)};
    }
    case Layout::kMmaFragB8x256: {
      const int lane = idx >> 1, i = idx & 1;
      return {lane >> 2, (lane & 3) + 4 * i};
    }
    case Layout::kWgmmaInterleave: {
      const int cm = idx >> 5, groups = box_rows >> 3;
      const int chunk = cm / groups, group = cm - chunk * groups;
      return {group * 8 + ((idx & 31) >> 2), chunk * 4 + (idx & 3)};
    }
    default: {
      const int w = swizzle_bytes(l);
      const int mask = (w >> 4) - 1;
      const int p = idx ^ (((idx >> 5) & mask) << 2);  // the swizzle is an involution
      const int sh = log2_pow2(w >> 2);
      return {p >> sh, p & ((w >> 2) - 1)};
    }
  }
}

}  // namespace detail

struct BitMatrix {
  Layout layout = Layout::kRowU32;
  int rows = 0;
  int k = 0;                     // logical bits per row: the true K of dot products
  int box_rows = kDefaultBoxRows;  // wgmma layouts only (a multiple of 8)
  int k_segment = 0;             // stored bits per segment (C_pad, multiple of 32); 0 = no segments
  int k_segment_valid = 0;       // logical bits per segment (C); k is a multiple of it

  BTC_BITS_HD constexpr int tile_rows() const { return box_rows_of(layout, box_rows); }
  BTC_BITS_HD constexpr int tile_k() const { return box_k_of(layout); }
  BTC_BITS_HD constexpr int box_words() const { return tile_rows() * (tile_k() >> 5); }
  BTC_BITS_HD constexpr int segments() const { return k_segment == 0 ? 1 : k / k_segment_valid; }
  // Bits a row occupies before the layout's k padding.
  BTC_BITS_HD constexpr int stored_k() const { return k_segment == 0 ? k : segments() * k_segment; }
  // Logical k == stored k (no segments, or segments without tails).
  BTC_BITS_HD constexpr bool identity_k() const { return k_segment == 0 || k_segment == k_segment_valid; }
  BTC_BITS_HD constexpr int padded_rows() const { return detail::round_up(rows, tile_rows()); }
  BTC_BITS_HD constexpr int padded_k() const { return detail::round_up(stored_k(), tile_k()); }
  BTC_BITS_HD constexpr int kwords() const { return padded_k() >> 5; }        // words per padded row
  BTC_BITS_HD constexpr int used_kwords() const { return (stored_k() + 31) >> 5; }  // holding any logical bit
  BTC_BITS_HD constexpr int64_t words() const { return static_cast<int64_t>(padded_rows()) * kwords(); }
  BTC_BITS_HD constexpr int64_t bytes() const { return words() * 4; }

  // (row, kw) in the padded range -> word index in [0, words()).
  BTC_BITS_HD constexpr int64_t word_index(int r, int kw) const {
    const int tr = tile_rows(), tkw = tile_k() >> 5;
    const int rb = r / tr, kb = kw / tkw;
    const int64_t box = static_cast<int64_t>(rb) * (kwords() / tkw) + kb;
    return box * box_words() + detail::in_box_index(layout, box_rows, r - rb * tr, kw - kb * tkw);
  }
  // Inverse of word_index.
  BTC_BITS_HD constexpr WordCoord coords_of_word(int64_t w) const {
    const int bw = box_words(), tr = tile_rows(), tkw = tile_k() >> 5;
    const int64_t box = w / bw;
    const int in = static_cast<int>(w - box * bw);
    const int kboxes = kwords() / tkw;
    const int rb = static_cast<int>(box / kboxes), kb = static_cast<int>(box - static_cast<int64_t>(rb) * kboxes);
    const WordCoord c = detail::in_box_coords(layout, box_rows, in);
    return {rb * tr + c.row, kb * tkw + c.kw};
  }
  // Stored bit position of logical bit e of a row.
  BTC_BITS_HD constexpr int stored_bit(int e) const {
    if (k_segment == 0) return e;
    const int s = e / k_segment_valid;
    return s * k_segment + (e - s * k_segment_valid);
  }
  BTC_BITS_HD constexpr BitSpan word_span(int kw) const {
    const int b = kw * 32;
    if (k_segment == 0) {
      const int n = k - b;
      return {b, n < 0 ? 0 : n > 32 ? 32 : n};
    }
    const int s = b / k_segment, off = b - s * k_segment;
    if (s >= segments()) return {0, 0};
    const int n = k_segment_valid - off;
    return {s * k_segment_valid + off, n < 0 ? 0 : n > 32 ? 32 : n};
  }
  // The valid (logical) bits of stored word kw in any row < rows.
  BTC_BITS_HD constexpr uint32_t word_mask(int kw) const {
    const int n = word_span(kw).count;
    return n <= 0 ? 0u : n >= 32 ? 0xFFFFFFFFu : (1u << n) - 1u;
  }
  BTC_BITS_HD constexpr BitLocation locate(int r, int e) const {
    const int sb = stored_bit(e);
    return {word_index(r, sb >> 5), sb & 31};
  }
};

// Same logical k and the same logical -> stored map (word-for-word copyable).
BTC_BITS_HD constexpr bool same_k_map(const BitMatrix& a, const BitMatrix& b) {
  return a.k == b.k && ((a.identity_k() && b.identity_k()) ||
                        (a.k_segment == b.k_segment && a.k_segment_valid == b.k_segment_valid));
}

// Empty when the shape is usable, else why not (negative sizes, box_rows not a
// positive multiple of 8 for wgmma layouts, bad segments, sizes past int).
std::string shape_error(const BitMatrix& m);
void check_shape(const BitMatrix& m);  // throws std::invalid_argument with shape_error
std::string describe(const BitMatrix& m);  // "tile8x128 7x129 (8x256 padded, 64 words)"

// ---------------------------------------------------------------------------
// Convolution packing on the row layouts.
// Activations NHWC: rows = N*H*W, k = C, C stored in C_pad = C rounded up to
// c_word_bits (32, 64 or 128) bits: row_u64 for 64-bit groups, row_u32 else.
// Weights KRSC: rows = K, k = R*S*C, each (r, s) segment stored in C_pad bits,
// so segment (r, s) of a weight row starts at stored word (r*S + s)*C_pad/32
// and matches the words of one activation row: an implicit-GEMM kernel
// gathers activation words straight into the weight row's k order.
// Packing the natural float/int8 NHWC or KRSC tensor with pack_signs gives
// exactly these matrices (their rows are the tensors' rows).
BitMatrix nhwc_activations(int n, int h, int w, int c, int c_word_bits);
BitMatrix krsc_weights(int k, int r, int s, int c, int c_word_bits);

struct NhwcDims {
  int n, h, w, c;
};
struct KrscDims {
  int k, r, s, c;
};
struct BitCoord {
  int row;
  int k;  // logical k (BitMatrix::stored_bit gives the stored bit)
};
BTC_BITS_HD constexpr BitCoord nhwc_bit(const NhwcDims& d, int n, int h, int w, int c) {
  return {(n * d.h + h) * d.w + w, c};
}
BTC_BITS_HD constexpr BitCoord krsc_bit(const KrscDims& d, int k, int r, int s, int c) {
  return {k, (r * d.s + s) * d.c + c};
}

}  // namespace btc::bits
