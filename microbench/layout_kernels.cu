#include <stdexcept>

#include "harness/core/check.h"
#include "microbench/layout_kernels.h"
#include "microbench/instr_adapters.cuh"
#include "kernels/tile/tile_io.cuh"

namespace btc {
namespace {

using bits::BitMatrix;
using bits::Layout;

constexpr int kSlabWords = kLayoutSlabK / 32;

using tile::box_rows_for;
using tile::shape;

template <Layout L>
__device__ __forceinline__ BitMatrix slab_shape(int rows) {
  return shape(L, rows, kLayoutSlabK, rows);
}

// ---- WMMA 8x8x128: warp w owns C rows 8w..8w+7 of a 64x64 tile.
template <bool kXor, Layout LA>
struct WmmaEngine {
  static constexpr int kBM = 64, kBN = 64;
  using Atom = atom::WmmaB1M8N8K128<kXor ? atom::BitOp::kXor : atom::BitOp::kAnd>;
  using FragA = typename Atom::FragA;
  using FragB = typename Atom::FragB;
  using FragC = typename Atom::FragC;
  // Row-stride layouts only: a tile's 8 rows sit at a constant stride.
  static constexpr unsigned kLdm = LA == Layout::kTile8x128 ? 128 : kLayoutSlabK;
  FragC acc[8];

  __device__ void init() {
    for (auto& c : acc) Atom::zero(c);
  }
  __device__ void slab(const uint32_t* sa, const uint32_t* sb) {
    const int w = threadIdx.x / 32;
    const BitMatrix ma = slab_shape<LA>(kBM), mb = slab_shape<LA>(kBN);
#pragma unroll
    for (int kt = 0; kt < kSlabWords / 4; ++kt) {
      FragA a;
      Atom::load_a(a, sa + ma.word_index(8 * w, 4 * kt), kLdm);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        FragB b;
        Atom::load_b(b, sb + mb.word_index(8 * j, 4 * kt), kLdm);
        Atom::fma(acc[j], a, b);
      }
    }
  }
  __device__ void finish() {}
  __device__ void store(int32_t* c, int ldc) {
    const int w = threadIdx.x / 32;
    for (int j = 0; j < 8; ++j) Atom::store(c + 8 * w * ldc + 8 * j, acc[j], static_cast<unsigned>(ldc));
  }
};

// ---- mma.sync m16n8k256 AND: warp w owns rows 16(w%4).. and columns 32(w/4).. (4 n8 tiles).
template <Layout LA, Layout LB>
struct MmaEngine {
  static constexpr int kBM = 64, kBN = 64;
  int32_t acc[4][4];

  __device__ void init() {
    for (auto& t : acc)
      for (auto& v : t) v = 0;
  }
  __device__ void slab(const uint32_t* sa, const uint32_t* sb) {
    const int w = threadIdx.x / 32;
    const int m0 = 16 * (w % 4), n0 = 32 * (w / 4);
    const BitMatrix ma = slab_shape<LA>(kBM), mb = slab_shape<LB>(kBN);
#pragma unroll
    for (int kt = 0; kt < kSlabWords / 8; ++kt) {
      uint32_t a[4];
      tile::load_a_m16k256<LA>(a, sa, ma, m0, 8 * kt);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        uint32_t b[2];
        tile::load_b_n8k256<LB>(b, sb, mb, n0 + 8 * j, 8 * kt);
        atom::MmaAndM16N8K256::fma(acc[j], a, b);
      }
    }
  }
  __device__ void finish() {}
  __device__ void store(int32_t* c, int ldc) {
    const int w = threadIdx.x / 32, g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
    const int m0 = 16 * (w % 4), n0 = 32 * (w / 4);
    for (int j = 0; j < 4; ++j)
      for (int i = 0; i < 4; ++i) c[(m0 + g + 8 * (i / 2)) * ldc + n0 + 8 * j + 2 * t + (i % 2)] = acc[j][i];
  }
};

// ---- wgmma m64n128k256 AND: warpgroup wg owns rows 64wg.. of a 128x128 tile.
template <Layout L>
struct WgmmaEngine {
  static constexpr int kBM = 128, kBN = 128;
  dev::Wgmma<dev::WgmmaKind::B1And, 128, false>::Acc acc;

  __device__ void init() {
    for (auto& v : acc.c) v = 0;
    atom::wgmma_fence();
  }
  __device__ void slab(const uint32_t* sa, const uint32_t* sb) {
    const int wg = threadIdx.x / 128;
#pragma unroll
    for (int kt = 0; kt < kSlabWords / 8; ++kt)
      atom::wgmma_ss<atom::WgmmaKind::B1And, 128>(acc.c, tile::wgmma_slab_desc<L>(sa, kBM, kLayoutSlabK, 64 * wg, 8 * kt),
                                                tile::wgmma_slab_desc<L>(sb, kBN, kLayoutSlabK, 0, 8 * kt));
    atom::wgmma_commit();
  }
  // The slab's shared memory is overwritten next: wait for the tensor core.
  __device__ void finish() { atom::wgmma_wait<0>(); }
  __device__ void store(int32_t* c, int ldc) {
    dev::Wgmma<dev::WgmmaKind::B1And, 128, false>::store(acc, c + 64 * (threadIdx.x / 128) * ldc,
                                                          static_cast<int>(threadIdx.x % 128), ldc);
  }
};

template <class E, Layout LA, Layout LB>
__global__ void __launch_bounds__(256) layout_bmm_kernel(const uint32_t* a, const uint32_t* b, int32_t* c,
                                                         BitMatrix ga, BitMatrix gb, int n) {
  extern __shared__ __align__(1024) uint32_t smem[];
  uint32_t* sa = smem;
  uint32_t* sb = smem + E::kBM * kSlabWords;
  const int m0 = blockIdx.y * E::kBM, n0 = blockIdx.x * E::kBN;
  E e;
  e.init();
  for (int kw0 = 0; kw0 < ga.kwords(); kw0 += kSlabWords) {
    tile::copy_slab<LA>(sa, a, ga, m0, kw0, E::kBM, kSlabWords);
    tile::copy_slab<LB>(sb, b, gb, n0, kw0, E::kBN, kSlabWords);
    atom::fence_proxy_async_smem();  // generic stores -> wgmma reads
    __syncthreads();
    e.slab(sa, sb);
    e.finish();
    __syncthreads();
  }
  e.store(c + static_cast<size_t>(m0) * n + n0, n);
}

template <class E, Layout LA, Layout LB>
void launch(const LayoutProblem& p, const BitMatrix& ga, const BitMatrix& gb, const uint32_t* a, const uint32_t* b,
            int32_t* c, int threads, cudaStream_t s) {
  const size_t smem = static_cast<size_t>(E::kBM + E::kBN) * kSlabWords * 4;
  auto kernel = layout_bmm_kernel<E, LA, LB>;
  BTC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  kernel<<<dim3(p.n / E::kBN, p.m / E::kBM), threads, smem, s>>>(a, b, c, ga, gb, p.n);
  BTC_CUDA_CHECK_LAUNCH();
}

}  // namespace

std::string LayoutCase::name() const { return engine + "/" + bits::name(a); }

const std::vector<LayoutCase>& layout_cases() {
  using L = Layout;
  static const std::vector<LayoutCase> cases = [] {
    std::vector<LayoutCase> v;
    for (const char* e : {"wmma_xor", "wmma_and"})
      for (L l : {L::kRowU32, L::kRowU64, L::kTile8x128})
        v.push_back({e, l, l, 64, 64, 256, std::string(e) == "wmma_xor" ? 75 : 80, false});
    for (L l : {L::kRowU32, L::kRowU64, L::kTile8x128, L::kWgmmaInterleave, L::kWgmmaSwizzle32, L::kWgmmaSwizzle64,
                L::kWgmmaSwizzle128})
      v.push_back({"mma_and", l, l, 64, 64, 256, 80, false});
    v.push_back({"mma_and", L::kMmaFragA16x256, L::kMmaFragB8x256, 64, 64, 256, 80, false});
    for (L l : {L::kWgmmaInterleave, L::kWgmmaSwizzle32, L::kWgmmaSwizzle64, L::kWgmmaSwizzle128})
      v.push_back({"wgmma_and", l, l, 128, 128, 256, 90, true});
    return v;
  }();
  return cases;
}

BitMatrix layout_a_shape(const LayoutCase& c, const LayoutProblem& p) { return shape(c.a, p.m, p.k, c.block_m); }
BitMatrix layout_b_shape(const LayoutCase& c, const LayoutProblem& p) { return shape(c.b, p.n, p.k, c.block_n); }

double layout_bytes_moved(const LayoutCase& c, const LayoutProblem& p) {
  const double a = double(p.m) * p.k / 8, b = double(p.n) * p.k / 8;
  return a * (p.n / c.block_n) + b * (p.m / c.block_m) + double(p.m) * p.n * 4;
}

std::string layout_skip_reason(const LayoutCase& c, const CodeTarget& code) {
  return arch_skip_reason(code, c.min_sm, c.needs_sm90a, c.engine);
}

void launch_layout_bmm(const LayoutCase& c, const LayoutProblem& p, const uint32_t* d_a, const uint32_t* d_b,
                       int32_t* d_c, cudaStream_t s) {
  if (p.m % c.block_m || p.n % c.block_n || p.k % kLayoutSlabK || p.m <= 0 || p.n <= 0 || p.k <= 0)
    throw std::invalid_argument("layout problem " + std::to_string(p.m) + "x" + std::to_string(p.n) + "x" +
                                std::to_string(p.k) + " is not a multiple of the " + std::to_string(c.block_m) + "x" +
                                std::to_string(c.block_n) + " tile and the " + std::to_string(kLayoutSlabK) +
                                "-bit K slab");
  const BitMatrix ga = layout_a_shape(c, p), gb = layout_b_shape(c, p);
  using L = Layout;
#define BTC_LAYOUT_CASE(ENGINE_NAME, LA_, LB_, ...)                                 \
  if (c.engine == ENGINE_NAME && c.a == LA_ && c.b == LB_)                          \
    return launch<__VA_ARGS__, LA_, LB_>(p, ga, gb, d_a, d_b, d_c, c.threads, s);
  BTC_LAYOUT_CASE("wmma_xor", L::kRowU32, L::kRowU32, WmmaEngine<true, L::kRowU32>)
  BTC_LAYOUT_CASE("wmma_xor", L::kRowU64, L::kRowU64, WmmaEngine<true, L::kRowU64>)
  BTC_LAYOUT_CASE("wmma_xor", L::kTile8x128, L::kTile8x128, WmmaEngine<true, L::kTile8x128>)
  BTC_LAYOUT_CASE("wmma_and", L::kRowU32, L::kRowU32, WmmaEngine<false, L::kRowU32>)
  BTC_LAYOUT_CASE("wmma_and", L::kRowU64, L::kRowU64, WmmaEngine<false, L::kRowU64>)
  BTC_LAYOUT_CASE("wmma_and", L::kTile8x128, L::kTile8x128, WmmaEngine<false, L::kTile8x128>)
  BTC_LAYOUT_CASE("mma_and", L::kRowU32, L::kRowU32, MmaEngine<L::kRowU32, L::kRowU32>)
  BTC_LAYOUT_CASE("mma_and", L::kRowU64, L::kRowU64, MmaEngine<L::kRowU64, L::kRowU64>)
  BTC_LAYOUT_CASE("mma_and", L::kTile8x128, L::kTile8x128, MmaEngine<L::kTile8x128, L::kTile8x128>)
  BTC_LAYOUT_CASE("mma_and", L::kMmaFragA16x256, L::kMmaFragB8x256, MmaEngine<L::kMmaFragA16x256, L::kMmaFragB8x256>)
  BTC_LAYOUT_CASE("mma_and", L::kWgmmaInterleave, L::kWgmmaInterleave, MmaEngine<L::kWgmmaInterleave, L::kWgmmaInterleave>)
  BTC_LAYOUT_CASE("mma_and", L::kWgmmaSwizzle32, L::kWgmmaSwizzle32, MmaEngine<L::kWgmmaSwizzle32, L::kWgmmaSwizzle32>)
  BTC_LAYOUT_CASE("mma_and", L::kWgmmaSwizzle64, L::kWgmmaSwizzle64, MmaEngine<L::kWgmmaSwizzle64, L::kWgmmaSwizzle64>)
  BTC_LAYOUT_CASE("mma_and", L::kWgmmaSwizzle128, L::kWgmmaSwizzle128, MmaEngine<L::kWgmmaSwizzle128, L::kWgmmaSwizzle128>)
  BTC_LAYOUT_CASE("wgmma_and", L::kWgmmaInterleave, L::kWgmmaInterleave, WgmmaEngine<L::kWgmmaInterleave>)
  BTC_LAYOUT_CASE("wgmma_and", L::kWgmmaSwizzle32, L::kWgmmaSwizzle32, WgmmaEngine<L::kWgmmaSwizzle32>)
  BTC_LAYOUT_CASE("wgmma_and", L::kWgmmaSwizzle64, L::kWgmmaSwizzle64, WgmmaEngine<L::kWgmmaSwizzle64>)
  BTC_LAYOUT_CASE("wgmma_and", L::kWgmmaSwizzle128, L::kWgmmaSwizzle128, WgmmaEngine<L::kWgmmaSwizzle128>)
#undef BTC_LAYOUT_CASE
  throw std::invalid_argument("no kernel for layout case " + c.name());
}

}  // namespace btc
