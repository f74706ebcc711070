// The paper's BTC design (Li & Su, "Accelerating Binarized Neural Networks
// via Bit-Tensor-Cores in Turing GPUs"), kept faithful: WMMA 8x8x128 b1 with
// XOR + popc (bmmaBitOpXOR), fragments loaded straight from global memory
// with load_matrix_sync (no shared-memory staging, as the paper's BTC
// kernels), K in 128-bit steps, dot = K - 2 * popc(a ^ b).
//
//   btc_wmma_row   row_u32 operands, each row padded to a multiple of 128
//                  bits (ldm = padded K): a fragment is 8 rows x 16 bytes
//                  at a row stride of padded K.
//   btc_wmma_tile  the paper's tile format (tile8x128, ldm = 128): every
//                  fragment is one contiguous 128-byte tile.
//
// Each warp computes a 32 x 32 C tile (4 x 4 WMMA tiles); 8 warps in a
// 2 (M) x 4 (N) arrangement give a 64 x 128 block tile. The accumulators go
// through shared memory to the shared BlockEpilogue (int32 or fused
// threshold + 1-bit pack). Arbitrary M, N, K: operand rows are rounded up to
// the block tile (extra rows are computed, then dropped by the epilogue), K
// padding is zero.
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/bmm/bmm_designs.h"
#include "kernels/bmm/bmm_epilogue.cuh"
#include "harness/core/check.h"
#include "kernels/atoms/mma_sm75.cuh"

namespace btc::bmm {

// bmm_common.cu (shared helpers; see there).

namespace {

using bits::BitMatrix;
using bits::Layout;
using Wmma = atom::WmmaB1M8N8K128<atom::BitOp::kXor>;

constexpr int kWarpsM = 2, kWarpsN = 4;
constexpr int kWarpTile = 32;                  // 32 x 32 C per warp
constexpr int kFrags = kWarpTile / 8;          // 4 x 4 fragments of 8 x 8
constexpr int kBM = kWarpsM * kWarpTile;       // 64
constexpr int kBN = kWarpsN * kWarpTile;       // 128
constexpr int kThreads = 32 * kWarpsM * kWarpsN;
// Accumulator staging row stride (ints): 8 rows of a fragment store land in
// two conflict-free wavefronts; a multiple of 4 as store_matrix_sync needs.
constexpr int kLdC = kBN + 8;

using FragA = Wmma::FragA;
using FragB = Wmma::FragB;
using FragC = Wmma::FragC;

// as / bs: the design's shapes (same k map, padded K a multiple of 128).
template <Layout L>
__global__ void __launch_bounds__(kThreads) btc_wmma_kernel(const uint32_t* __restrict__ a,
                                                            const uint32_t* __restrict__ b, BitMatrix as,
                                                            BitMatrix bs, int k, int m, int n, const Output out) {
  as.layout = L;
  bs.layout = L;
  using Ep = BlockEpilogue<kBM, kBN>;
  __shared__ __align__(128) int32_t cs[kBM * kLdC];  // store_matrix_sync: 256-bit aligned fragments
  __shared__ uint32_t ep_tile[Ep::kSmemWords];

  const int warp = static_cast<int>(threadIdx.x / 32);
  const int wm = warp / kWarpsN, wn = warp % kWarpsN;
  const int m0 = static_cast<int>(blockIdx.y) * kBM, n0 = static_cast<int>(blockIdx.x) * kBN;
  const int r0 = m0 + wm * kWarpTile, c0 = n0 + wn * kWarpTile;
  // load_matrix_sync's ldm is in elements (bits): the row stride, or one tile row.
  const unsigned ldm = L == Layout::kTile8x128 ? 128u : static_cast<unsigned>(as.kwords()) * 32u;
  const int kwords = as.kwords();

  Ep ep{out, ep_tile, m0, n0, m, n};
  ep.begin();

  FragC acc[kFrags][kFrags];
#pragma unroll
  for (int i = 0; i < kFrags; ++i)
#pragma unroll
    for (int j = 0; j < kFrags; ++j) Wmma::zero(acc[i][j]);

#pragma unroll 2
  for (int kw = 0; kw < kwords; kw += 4) {  // 128 bits per step
    FragA fa[kFrags];
    FragB fb[kFrags];
#pragma unroll
    for (int i = 0; i < kFrags; ++i) Wmma::load_a(fa[i], a + as.word_index(r0 + 8 * i, kw), ldm);
#pragma unroll
    for (int j = 0; j < kFrags; ++j) Wmma::load_b(fb[j], b + bs.word_index(c0 + 8 * j, kw), ldm);
#pragma unroll
    for (int i = 0; i < kFrags; ++i)
#pragma unroll
      for (int j = 0; j < kFrags; ++j) Wmma::fma(acc[i][j], fa[i], fb[j]);
  }

  // Accumulators (popc(a ^ b)) -> shared memory -> the block epilogue.
#pragma unroll
  for (int i = 0; i < kFrags; ++i)
#pragma unroll
    for (int j = 0; j < kFrags; ++j)
      Wmma::store(cs + (wm * kWarpTile + 8 * i) * kLdC + wn * kWarpTile + 8 * j, acc[i][j], static_cast<unsigned>(kLdC));
  __syncthreads();
  for (int idx = static_cast<int>(threadIdx.x); idx < kBM * kBN; idx += kThreads) {
    const int li = idx / kBN, lj = idx % kBN;
    ep.put(li, lj, k - 2 * cs[li * kLdC + lj]);
  }
  ep.end();
}

// row_u32 pads K to 32 bits only: its rows get K padded to 128 bits, the
// stride a b1 fragment load needs (ldm a multiple of 128); tile8x128 pads
// to 128 itself.
class BtcWmmaDesign final : public FixedTileDesign {
 public:
  BtcWmmaDesign(std::string name, Layout layout) : FixedTileDesign(std::move(name), layout, kBM, kBN, 128) {}
  std::string family() const override { return "btc_wmma"; }
  bool tensor_core() const override { return true; }
  std::string skip_reason(const CodeTarget& code) const override {
    return arch_skip_reason(code, Wmma::kMinArch, false, "WMMA b1 XOR 8x8x128");
  }
  void run(const Problem& p, const Operands& in, const Output& out, void*, cudaStream_t s) const override {
    const dim3 grid = begin_run(p, in, out, s);
    if (layout_ == Layout::kTile8x128)
      btc_wmma_kernel<Layout::kTile8x128><<<grid, kThreads, 0, s>>>(in.a, in.b, in.a_shape, in.b_shape, p.k, p.m,
                                                                    p.n, out);
    else
      btc_wmma_kernel<Layout::kRowU32><<<grid, kThreads, 0, s>>>(in.a, in.b, in.a_shape, in.b_shape, p.k, p.m, p.n,
                                                                 out);
    BTC_CUDA_CHECK_LAUNCH();
  }
};

}  // namespace

void add_btc_wmma_designs(DesignList& out) {
  out.push_back(std::make_unique<BtcWmmaDesign>("btc_wmma_row", Layout::kRowU32));
  out.push_back(std::make_unique<BtcWmmaDesign>("btc_wmma_tile", Layout::kTile8x128));
}

}  // namespace btc::bmm
