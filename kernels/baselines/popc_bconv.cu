// Software-popcount BConv baselines (no tensor cores): SBNN's BConv-32 /
// BConv-64, written as the tuned BMM baseline is (popc_baseline.cu) over an
// implicit GEMM: M = N*P*Q output pixels x N = K filters, the GEMM's k the
// weight row's R*S*C_pad/w words (w = 32 or 64 bits). A 64 x 64 block tile,
// 256 threads each holding a 4 x 4 register tile, k staged through
// double-buffered shared memory in 1024-bit chunks: the filter words straight
// from the weight rows, the pixel words gathered from the input pixel each
// word's tap reads. Per counted tap the XOR form gives
//   dot_tap = C - 2 popc(x ^ w)
// (the C_pad tail bits are 0 in both operands, so they add nothing), and
//   z = T C - 2 sum popc(x ^ w),  T = the taps counted.
// Taps outside the image, by PadValue:
//   kMinusOne: x = 0 words (every channel -1), counted: T = R*S;
//   kPlusOne:  x = all ones on the C valid bits (tail masked), counted;
//   kZero:     skipped: the chunk keeps a per-(pixel, word) mask that zeroes
//              popc((x ^ w) & mask) (one LOP3, no extra ALU op), and T is the
//              pixel's in-image taps. Without padding no tap is outside and
//              the kernel is built without the mask.
// bconv_popc_u64 reads pairs of 32-bit words (little-endian: bit b of word j
// is channel 64 j + b in both operands), so it needs C_pad / 32 even; other C
// are reported unsupported rather than repacked (the 64-bit design's point is
// the packed format).
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "kernels/bconv/bconv_designs.h"
#include "kernels/bmm/bmm_epilogue.cuh"
#include "harness/core/check.h"

namespace btc::bconv {

namespace {

constexpr int kBM = 64, kBN = 64;  // block tile: pixels x filters
constexpr int kThreads = 256;      // 16 x 16 threads
constexpr int kTM = 4, kTN = 4;    // register tile per thread: rows ty + 16 i, columns tx + 16 j
constexpr int kChunkBits = 1024;   // k bits per shared-memory stage
static_assert(kBM == 16 * kTM && kBN == 16 * kTN && kThreads == 256, "16 x 16 threads cover the tile");

template <class W>
struct Word;
template <>
struct Word<uint32_t> {
  using Signed = int32_t;
  __device__ static int popc(uint32_t x) { return __popc(x); }
};
template <>
struct Word<unsigned long long> {
  using Signed = long long;
  __device__ static int popc(unsigned long long x) { return __popcll(x); }
};

// The layer as the kernel reads it, in words of W.
struct ConvShape {
  int h, w, c;           // input height, width; logical channels C
  int r, s, stride, pad;
  int p, q;              // output height, width
  int m, k;              // GEMM view: N*P*Q pixels, K filters
  int pixel_words;       // words per input pixel (C_pad / bits of W)
  int row_words;         // words per weight row (R*S*pixel_words)
  bool fill_plus_one;    // an outside tap reads all-ones words (kPlusOne); else 0 words
  bool count_outside;    // outside taps count in T (kPlusOne / kMinusOne); kZero: not
};

// All ones on the valid channel bits of pixel word j, 0 on the tail.
template <class W>
__device__ __forceinline__ W ones_word(int c, int j) {
  constexpr int kBits = 8 * static_cast<int>(sizeof(W));
  const int valid = c - j * kBits;
  return valid >= kBits ? ~W(0) : valid <= 0 ? W(0) : (W(1) << valid) - W(1);
}

// x: N*H*W rows of pixel_words words; wt: K rows of row_words words.
// Grid: x over pixel blocks (M may pass 65535 blocks), y over filter blocks.
template <class W, bool kMasked>
__global__ void __launch_bounds__(kThreads, 2) popc_bconv_kernel(const W* __restrict__ x, const W* __restrict__ wt,
                                                                  const ConvShape cs, const bmm::Output out) {
  constexpr int kKC = kChunkBits / (8 * static_cast<int>(sizeof(W)));  // words per chunk
  constexpr int kLd = kKC + 1;  // padded row: the 16 rows a warp reads at one k sit in 16 banks
  constexpr int kRowStep = kThreads / kKC;  // loader rows per pass; each thread keeps one chunk column
  constexpr int kLoads = kBM / kRowStep;    // words per thread per operand per chunk
  constexpr int kUnroll = 128 / (8 * static_cast<int>(sizeof(W)));  // 128 k bits per unrolled step
  static_assert(kBM == kBN && kThreads % kKC == 0 && kBM % kRowStep == 0, "loader shape");
  using Ep = bmm::BlockEpilogue<kBM, kBN>;
  using SignedW = typename Word<W>::Signed;

  __shared__ W sa[2][kBM * kLd];
  __shared__ W sb[2][kBN * kLd];
  // kZero masks, 0 or -1 per (pixel, word); int8 keeps the three buffers in 48 KB of static smem.
  __shared__ int8_t smask[kMasked ? 2 : 1][kMasked ? kBM * kLd : 1];
  __shared__ uint32_t ep_tile[Ep::kSmemWords];

  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % 16, ty = tid / 16;
  const int m0 = static_cast<int>(blockIdx.x) * kBM, n0 = static_cast<int>(blockIdx.y) * kBN;
  const int pq = cs.p * cs.q;

  Ep ep{out, ep_tile, m0, n0, cs.m, cs.k};
  ep.begin();

  // Pixel loader: thread tid gathers kAWords consecutive chunk words of one
  // tile pixel, so it decodes one pixel (not one per row it loads: that cost
  // registers the compute loop needs) and walks the taps word by word.
  constexpr int kAGroups = kThreads / kBM, kAWords = kKC / kAGroups;
  static_assert(kThreads % kBM == 0 && kKC % kAGroups == 0, "pixel loader shape");
  const int a_row = tid % kBM, a_col = tid / kBM * kAWords;
  int nh = 0, top = INT_MIN / 2, left = 0;  // the pixel's n * H and its window's top-left input corner
  if (const int gm = m0 + a_row; gm < cs.m) {
    const int n = gm / pq, rem = gm - n * pq, op = rem / cs.q, oq = rem - op * cs.q;
    nh = n * cs.h;
    top = op * cs.stride - cs.pad;
    left = oq * cs.stride - cs.pad;
  }  // else past M: every tap reads as outside, no memory access; the epilogue drops the row
  // Filter loader: thread tid reads chunk column lc of filter rows lr + kRowStep l,
  // consecutive threads consecutive words of one weight row (coalesced).
  const int lc = tid % kKC, lr = tid / kKC;
  const int filters_left = cs.k - n0 - lr;  // row lr + kRowStep l is a filter iff kRowStep l < this
  const W* gb = wt + static_cast<int64_t>(n0 + lr) * cs.row_words;

  W ra[kAWords], rb[kLoads];
  [[maybe_unused]] int8_t rm[kAWords];
  auto load = [&](int kw0) {
    int kw = kw0 + a_col;
    int tap = kw / cs.pixel_words, j = kw - tap * cs.pixel_words;
    int tr = tap / cs.s, ts = tap - tr * cs.s;
#pragma unroll
    for (int u = 0; u < kAWords; ++u, ++kw) {
      const bool in_k = kw < cs.row_words;
      const int ih = top + tr, iw = left + ts;
      const bool inside = in_k && static_cast<unsigned>(ih) < static_cast<unsigned>(cs.h) &&
                          static_cast<unsigned>(iw) < static_cast<unsigned>(cs.w);
      const W fill = in_k && cs.fill_plus_one ? ones_word<W>(cs.c, j) : W(0);
      ra[u] = inside ? x[(static_cast<int64_t>(nh + ih) * cs.w + iw) * cs.pixel_words + j] : fill;
      if constexpr (kMasked) rm[u] = inside || !in_k ? int8_t(-1) : int8_t(0);
      if (++j == cs.pixel_words) {  // next tap (past the last one, in_k is false)
        j = 0;
        if (++ts == cs.s) {
          ts = 0;
          ++tr;
        }
      }
    }
    const int kwb = kw0 + lc;
#pragma unroll
    for (int l = 0; l < kLoads; ++l)
      rb[l] = kwb < cs.row_words && kRowStep * l < filters_left
                  ? gb[static_cast<int64_t>(kRowStep * l) * cs.row_words + kwb]
                  : W(0);
  };
  auto store = [&](int buf) {
#pragma unroll
    for (int u = 0; u < kAWords; ++u) {
      sa[buf][a_row * kLd + a_col + u] = ra[u];
      if constexpr (kMasked) smask[buf][a_row * kLd + a_col + u] = rm[u];
    }
#pragma unroll
    for (int l = 0; l < kLoads; ++l) sb[buf][(lr + kRowStep * l) * kLd + lc] = rb[l];
  };

  int acc[kTM][kTN] = {};
  const int chunks = (cs.row_words + kKC - 1) / kKC;
  load(0);
  store(0);
  __syncthreads();
  for (int ch = 0; ch < chunks; ++ch) {
    const int cur = ch & 1;
    const bool more = ch + 1 < chunks;
    if (more) load((ch + 1) * kKC);  // in flight during the compute below
    const W* pa = sa[cur] + ty * kLd;
    const W* pb = sb[cur] + tx * kLd;
    [[maybe_unused]] const int8_t* pm = smask[kMasked ? cur : 0] + (kMasked ? ty * kLd : 0);
#pragma unroll kUnroll
    for (int kk = 0; kk < kKC; ++kk) {
      W av[kTM], bv[kTN], mv[kTM];
#pragma unroll
      for (int i = 0; i < kTM; ++i) {
        av[i] = pa[16 * i * kLd + kk];
        if constexpr (kMasked)  // sign extension turns the 0 / -1 byte into a 0 / all-ones word
          mv[i] = static_cast<W>(static_cast<SignedW>(pm[16 * i * kLd + kk]));
        else
          mv[i] = ~W(0);
      }
#pragma unroll
      for (int j = 0; j < kTN; ++j) bv[j] = pb[16 * j * kLd + kk];
#pragma unroll
      for (int i = 0; i < kTM; ++i)
#pragma unroll
        for (int j = 0; j < kTN; ++j) acc[i][j] += Word<W>::popc((av[i] ^ bv[j]) & mv[i]);
    }
    // The other buffer was last read in iteration ch - 1, before its closing barrier.
    if (more) store(cur ^ 1);
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < kTM; ++i) {
    const int gm = m0 + ty + 16 * i;
    int taps = cs.r * cs.s;
    if (!cs.count_outside && gm < cs.m) {
      const int rem = gm % pq, op = rem / cs.q, oq = rem - op * cs.q;
      const int top = op * cs.stride - cs.pad, left = oq * cs.stride - cs.pad;
      const int rows = min(cs.r, cs.h - top) - max(0, -top), cols = min(cs.s, cs.w - left) - max(0, -left);
      taps = max(rows, 0) * max(cols, 0);
    }
#pragma unroll
    for (int j = 0; j < kTN; ++j) ep.put(ty + 16 * i, tx + 16 * j, taps * cs.c - 2 * acc[i][j]);
  }
  ep.end();
}

class PopcBconvDesign final : public Design {
 public:
  PopcBconvDesign(std::string name, int word_bits) : name_(std::move(name)), word_bits_(word_bits) {}

  std::string name() const override { return name_; }
  std::string family() const override { return "popc"; }
  bool tensor_core() const override { return false; }
  std::string skip_reason(const CodeTarget& code) const override {
    return arch_skip_reason(code, 75, false, name());  // the oldest target the suite builds
  }
  std::string unsupported(const Problem& p) const override {
    const int c_pad = (p.c + 31) / 32 * 32;
    if (word_bits_ == 64 && (c_pad / 32) % 2 != 0)
      return "C_pad/32 odd (C = " + std::to_string(p.c) + ", C_pad = " + std::to_string(c_pad) +
             "): 64-bit words need C_pad a multiple of 64";
    if ((p.k + kBN - 1) / kBN > 65535) return "K = " + std::to_string(p.k) + " exceeds the grid";
    return "";
  }
  size_t workspace_bytes(const Problem&) const override { return 0; }
  void prepare(const Problem& p, const Operands& in, void*, cudaStream_t) const override {
    check_run_args(*this, p, in, nullptr);
  }

  // Every output word is written: the grid's rows cover M (the bits layout
  // row_u32 pads no rows) and its 64-filter columns cover every 32-bit word
  // of K; BlockEpilogue writes the bits past K as 0.
  void run(const Problem& p, const Operands& in, const Output& out, void*, cudaStream_t s) const override {
    check_run_args(*this, p, in, &out);
    const bits::BitMatrix xs = activation_shape(p), ws = weight_shape(p);
    const int div = word_bits_ / 32;
    ConvShape cs{};
    cs.h = p.h, cs.w = p.w, cs.c = p.c;
    cs.r = p.r, cs.s = p.s, cs.stride = p.stride, cs.pad = p.pad;
    cs.p = p.p(), cs.q = p.q();
    cs.m = static_cast<int>(p.out_pixels()), cs.k = p.k;
    cs.pixel_words = xs.kwords() / div;
    cs.row_words = ws.kwords() / div;
    cs.fill_plus_one = p.pad_value == PadValue::kPlusOne;
    cs.count_outside = p.pad_value != PadValue::kZero;
    const bool masked = p.pad_value == PadValue::kZero && p.pad > 0;
    const dim3 grid(static_cast<unsigned>((cs.m + kBM - 1) / kBM), static_cast<unsigned>((p.k + kBN - 1) / kBN));
    if (word_bits_ == 32) {
      if (masked)
        popc_bconv_kernel<uint32_t, true><<<grid, kThreads, 0, s>>>(in.x, in.w, cs, out);
      else
        popc_bconv_kernel<uint32_t, false><<<grid, kThreads, 0, s>>>(in.x, in.w, cs, out);
    } else {
      using U64 = unsigned long long;
      if (reinterpret_cast<uintptr_t>(in.x) % 8 != 0 || reinterpret_cast<uintptr_t>(in.w) % 8 != 0)
        throw std::invalid_argument(name_ + ": operands must be 8-byte aligned for 64-bit words");
      const U64* x64 = reinterpret_cast<const U64*>(in.x);
      const U64* w64 = reinterpret_cast<const U64*>(in.w);
      if (masked)
        popc_bconv_kernel<U64, true><<<grid, kThreads, 0, s>>>(x64, w64, cs, out);
      else
        popc_bconv_kernel<U64, false><<<grid, kThreads, 0, s>>>(x64, w64, cs, out);
    }
    BTC_CUDA_CHECK_LAUNCH();
  }
  std::optional<TensorInsts> tensor_insts(const Problem&, int) const override { return TensorInsts{}; }  // none

 private:
  std::string name_;
  int word_bits_;
};

}  // namespace

void add_popc_designs(DesignList& out) {
  out.push_back(std::make_unique<PopcBconvDesign>("bconv_popc_u32", 32));
  out.push_back(std::make_unique<PopcBconvDesign>("bconv_popc_u64", 64));
}

}  // namespace btc::bconv
