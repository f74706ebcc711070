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
// The block tile, warps and K step come from the generated configuration of
// the arch whose code runs (kBtcWmma of sm75 / sm80 / sm90; BtcWmmaTile in
// bmm_tiles.h): each warp computes 32 x 32 of C (4 x 4 WMMA tiles). The
// accumulators go through shared memory to the shared BlockEpilogue (int32
// or fused threshold + 1-bit pack). The selected layout of each arch names
// which of the two designs is that arch's (selected_designs()). Arbitrary
// M, N, K: operand rows are rounded up to the block tile (extra rows are
// computed, then dropped by the epilogue), K padding is zero.
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/bmm/bmm_designs.h"
#include "kernels/bmm/bmm_epilogue.cuh"
#include "harness/core/check.h"
#include "kernels/atoms/mma_sm75.cuh"
#include "kernels/atoms/ptx_b1.h"
#include "kernels/bmm/bmm_tiles.h"
#include "kernels/bmm/bmm_generated.h"

namespace btc::bmm {

// bmm_common.cu (shared helpers; see there).

namespace {

using bits::BitMatrix;
using bits::Layout;
using Wmma = atom::WmmaB1M8N8K128<atom::BitOp::kXor>;

using FragA = Wmma::FragA;
using FragB = Wmma::FragB;
using FragC = Wmma::FragC;

// as / bs: the design's shapes (same k map, padded K a multiple of 128).
template <class Cfg, Layout L>
__global__ void __launch_bounds__(BtcWmmaTile<Cfg>::kThreads) btc_wmma_kernel(const uint32_t* __restrict__ a,
                                                            const uint32_t* __restrict__ b, BitMatrix as,
                                                            BitMatrix bs, int k, int m, int n, const Output out) {
  using T = BtcWmmaTile<Cfg>;
  constexpr int kBM = T::kBM, kBN = T::kBN, kLdC = T::kLdC, kFrags = T::kFrags, kWarpTile = T::kWarpTile;
  as.layout = L;
  bs.layout = L;
  using Ep = BlockEpilogue<kBM, kBN>;
  static_assert(T::kSmemBytes + Ep::kSmemWords * 4 <= 48 * 1024, "btc_wmma: static shared memory is 48 KB");
  __shared__ __align__(128) int32_t cs[kBM * kLdC];  // store_matrix_sync: 256-bit aligned fragments
  __shared__ uint32_t ep_tile[Ep::kSmemWords];

  const int warp = static_cast<int>(threadIdx.x / 32);
  const int wm = warp / T::kWarpsN, wn = warp % T::kWarpsN;
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

  // 128-bit WMMA steps, unrolled block_k_bits / 128 deep (the 64 x 128
  // block's 256 bits = unroll 2: the loop the paper's-design sweeps measured).
#pragma unroll(T::kStepKw / 4)
  for (int kw = 0; kw < kwords; kw += 4) {
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
  for (int idx = static_cast<int>(threadIdx.x); idx < kBM * kBN; idx += T::kThreads) {
    const int li = idx / kBN, lj = idx % kBN;
    ep.put(li, lj, k - 2 * cs[li * kLdC + lj]);
  }
  ep.end();
}

const BmmConfig& btc_wmma_config(int arch) {
  return arch == 90 ? BtcWmmaSm90::c : arch == 80 ? BtcWmmaSm80::c : BtcWmmaSm75::c;
}

template <class Cfg>
void launch_btc_wmma(Layout layout, dim3 grid, const Problem& p, const Operands& in, const Output& out,
                     cudaStream_t s) {
  constexpr int kThreads = BtcWmmaTile<Cfg>::kThreads;
  if (layout == Layout::kTile8x128)
    btc_wmma_kernel<Cfg, Layout::kTile8x128><<<grid, kThreads, 0, s>>>(in.a, in.b, in.a_shape, in.b_shape, p.k, p.m,
                                                                        p.n, out);
  else
    btc_wmma_kernel<Cfg, Layout::kRowU32><<<grid, kThreads, 0, s>>>(in.a, in.b, in.a_shape, in.b_shape, p.k, p.m,
                                                                    p.n, out);
  BTC_CUDA_CHECK_LAUNCH();
}

// One design per paper layout; its tile is the generated configuration of
// the arch whose code runs on the current device. row_u32 pads K to 32 bits
// only: its rows get K padded to 128 bits, the stride a b1 fragment load
// needs (ldm a multiple of 128); tile8x128 pads to 128 itself.
class BtcWmmaDesign final : public Design {
 public:
  BtcWmmaDesign(std::string name, Layout layout) : name_(std::move(name)), layout_(layout) {}
  std::string name() const override { return name_; }
  std::string family() const override { return "btc_wmma"; }
  bool tensor_core() const override { return true; }
  const BmmConfig* config() const override { return &btc_wmma_config(config_arch()); }
  int config_arch() const override { return config_arch_of(current_code_target().code_arch); }
  std::string skip_reason(const CodeTarget& code) const override {
    return arch_skip_reason(code, Wmma::kMinArch, false, "WMMA b1 XOR 8x8x128");
  }
  bits::BitMatrix a_shape(const Problem& p) const override {
    return tile::operand_shape(layout_, p.m, p.k, config()->block_m, 128);
  }
  bits::BitMatrix b_shape(const Problem& p) const override {
    return tile::operand_shape(layout_, p.n, p.k, config()->block_n, 128);
  }
  size_t workspace_bytes(const Problem&) const override { return 0; }
  void prepare(const Problem& p, const Operands& in, void*, cudaStream_t) const override {
    check_run_args(*this, p, in, nullptr);
  }
  void run(const Problem& p, const Operands& in, const Output& out, void*, cudaStream_t s) const override {
    const int arch = config_arch();
    const BmmConfig& c = btc_wmma_config(arch);
    const dim3 grid = begin_blocked_run(*this, p, in, out, c.block_m, c.block_n, s);
    if (arch == 90) launch_btc_wmma<BtcWmmaSm90>(layout_, grid, p, in, out, s);
    else if (arch == 80) launch_btc_wmma<BtcWmmaSm80>(layout_, grid, p, in, out, s);
    else launch_btc_wmma<BtcWmmaSm75>(layout_, grid, p, in, out, s);
  }
  // Each warp: 4 x 4 WMMAs per 128 bits of K (padded to 128), over the grid of blocks.
  std::optional<TensorInsts> tensor_insts(const Problem& p, int device_sm) const override {
    const BmmConfig& c = *config();
    const double blocks = double((p.m + c.block_m - 1) / c.block_m) * double((p.n + c.block_n - 1) / c.block_n);
    const double per_block = double(c.block_m / 8) * (c.block_n / 8) * ((p.k + 127) / 128);
    return TensorInsts{blocks * per_block * atom::b1_xor_tensor_insts(device_sm), 0};
  }

 private:
  std::string name_;
  Layout layout_;
};

}  // namespace

void add_btc_wmma_designs(DesignList& out) {
  out.push_back(std::make_unique<BtcWmmaDesign>("btc_wmma_row", Layout::kRowU32));
  out.push_back(std::make_unique<BtcWmmaDesign>("btc_wmma_tile", Layout::kTile8x128));
}

}  // namespace btc::bmm
