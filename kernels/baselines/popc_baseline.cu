// Software-popcount BNN baselines (no tensor cores), as the SBNN / BSTC
// kernels the paper compares against, written as a tuned GEMM rather than a
// strawman: a 64 x 64 block tile, 256 threads each holding a 4 x 4 register
// tile of dots, K staged through double-buffered shared memory in 1024-bit
// chunks (the next chunk's global loads are in flight while the current one
// is computed; one barrier per chunk), and the XOR form
//   dot = K - 2 * popc(a ^ b)
// over 32-bit words (`__popc`, row_u32) or 64-bit words (`__popcll`,
// row_u64). Zero K padding adds nothing to popc(a ^ b).
//
// Arbitrary M, N, K: the operand shapes' rows are rounded up to the block
// tile, so every block reads whole tiles inside the buffers; rows past M / N
// are computed and dropped by the epilogue. K chunks past the padded row are
// read as zeros.
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/bmm/bmm_designs.h"
#include "kernels/bmm/bmm_epilogue.cuh"
#include "harness/core/check.h"

namespace btc::bmm {

// bmm_common.cu (shared helpers; see there).

namespace {

using bits::BitMatrix;
using bits::Layout;

constexpr int kBM = 64, kBN = 64;   // block tile
constexpr int kThreads = 256;       // 16 x 16 threads
constexpr int kTM = 4, kTN = 4;     // register tile per thread: rows ty + 16 i, columns tx + 16 j
constexpr int kChunkBits = 1024;    // K bits per shared-memory stage
static_assert(kBM == 16 * kTM && kBN == 16 * kTN && kThreads == 256, "16 x 16 threads cover the tile");

template <class W>
struct Word;
template <>
struct Word<uint32_t> {
  __device__ static int popc(uint32_t x) { return __popc(x); }
};
template <>
struct Word<unsigned long long> {
  __device__ static int popc(unsigned long long x) { return __popcll(x); }
};

// a: rows >= gridDim.y * kBM, b: rows >= gridDim.x * kBN, both `kwords`
// words of W per row (row-major, no gaps).
template <class W>
__global__ void __launch_bounds__(kThreads, 2) popc_bmm_kernel(const W* __restrict__ a, const W* __restrict__ b,
                                                            int kwords, int k, int m, int n, const Output out) {
  constexpr int kKC = kChunkBits / (8 * static_cast<int>(sizeof(W)));  // words per chunk
  constexpr int kLd = kKC + 1;  // padded row: the 16 rows a warp reads at one k sit in 16 banks
  constexpr int kLoads = kBM * kKC / kThreads;  // words per thread per operand per chunk
  constexpr int kUnroll = 128 / (8 * static_cast<int>(sizeof(W)));  // 128 K bits per unrolled step
  static_assert(kBM == kBN && kBM * kKC % kThreads == 0, "loader shape");
  using Ep = BlockEpilogue<kBM, kBN>;

  __shared__ W sa[2][kBM * kLd];
  __shared__ W sb[2][kBN * kLd];
  __shared__ uint32_t ep_tile[Ep::kSmemWords];

  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % 16, ty = tid / 16;
  const int m0 = static_cast<int>(blockIdx.y) * kBM, n0 = static_cast<int>(blockIdx.x) * kBN;
  const W* ga = a + static_cast<int64_t>(m0) * kwords;
  const W* gb = b + static_cast<int64_t>(n0) * kwords;

  Ep ep{out, ep_tile, m0, n0, m, n};
  ep.begin();

  // Loader: consecutive threads read consecutive words of one row (128-byte runs).
  W ra[kLoads], rb[kLoads];
  auto load = [&](int kw0) {
#pragma unroll
    for (int l = 0; l < kLoads; ++l) {
      const int idx = tid + l * kThreads, r = idx / kKC, kw = kw0 + idx % kKC;
      const bool in = kw < kwords;
      ra[l] = in ? ga[static_cast<int64_t>(r) * kwords + kw] : W(0);
      rb[l] = in ? gb[static_cast<int64_t>(r) * kwords + kw] : W(0);
    }
  };
  auto store = [&](int buf) {
#pragma unroll
    for (int l = 0; l < kLoads; ++l) {
      const int idx = tid + l * kThreads, r = idx / kKC, c = idx % kKC;
      sa[buf][r * kLd + c] = ra[l];
      sb[buf][r * kLd + c] = rb[l];
    }
  };

  int acc[kTM][kTN] = {};
  const int chunks = (kwords + kKC - 1) / kKC;
  if (chunks > 0) {
    load(0);
    store(0);
  }
  __syncthreads();
  for (int ch = 0; ch < chunks; ++ch) {
    const int cur = ch & 1;
    const bool more = ch + 1 < chunks;
    if (more) load((ch + 1) * kKC);  // in flight during the compute below
    const W* pa = sa[cur] + ty * kLd;
    const W* pb = sb[cur] + tx * kLd;
    // Partly unrolled: ptxas hoists the shared loads of the whole unrolled
    // body, so full unrolling costs 255 registers (a block per SM) on sm_75.
#pragma unroll kUnroll
    for (int kk = 0; kk < kKC; ++kk) {
      W av[kTM], bv[kTN];
#pragma unroll
      for (int i = 0; i < kTM; ++i) av[i] = pa[16 * i * kLd + kk];
#pragma unroll
      for (int j = 0; j < kTN; ++j) bv[j] = pb[16 * j * kLd + kk];
#pragma unroll
      for (int i = 0; i < kTM; ++i)
#pragma unroll
        for (int j = 0; j < kTN; ++j) acc[i][j] += Word<W>::popc(av[i] ^ bv[j]);
    }
    // The other buffer was last read in iteration ch - 1, before its closing barrier.
    if (more) store(cur ^ 1);
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < kTM; ++i)
#pragma unroll
    for (int j = 0; j < kTN; ++j) ep.put(ty + 16 * i, tx + 16 * j, k - 2 * acc[i][j]);
  ep.end();
}

class PopcDesign final : public FixedTileDesign {
 public:
  PopcDesign(std::string name, Layout layout)
      : FixedTileDesign(std::move(name), layout, kBM, kBN, bits::box_k_of(layout)) {}
  std::string family() const override { return "popc"; }
  bool tensor_core() const override { return false; }
  std::string skip_reason(const CodeTarget& code) const override {
    return arch_skip_reason(code, 75, false, name());  // the oldest target the suite builds
  }
  void run(const Problem& p, const Operands& in, const Output& out, void*, cudaStream_t s) const override {
    const dim3 grid = begin_run(p, in, out, s);
    if (layout_ == Layout::kRowU32) {
      popc_bmm_kernel<uint32_t><<<grid, kThreads, 0, s>>>(in.a, in.b, in.a_shape.kwords(), p.k, p.m, p.n, out);
    } else {
      using U64 = unsigned long long;
      popc_bmm_kernel<U64><<<grid, kThreads, 0, s>>>(reinterpret_cast<const U64*>(in.a),
                                                     reinterpret_cast<const U64*>(in.b), in.a_shape.kwords() / 2,
                                                     p.k, p.m, p.n, out);
    }
    BTC_CUDA_CHECK_LAUNCH();
  }
  std::optional<TensorInsts> tensor_insts(const Problem&, int) const override { return TensorInsts{}; }  // none
};

}  // namespace

void add_popc_designs(DesignList& out) {
  out.push_back(std::make_unique<PopcDesign>("popc_u32", Layout::kRowU32));
  out.push_back(std::make_unique<PopcDesign>("popc_u64", Layout::kRowU64));
}

}  // namespace btc::bmm
