#include <random>
#include <stdexcept>

#include "kernels/atoms/copy_sm80.cuh"
#include "kernels/atoms/mma_sm75.cuh"
#include "kernels/atoms/mma_sm80.cuh"
#include "microbench/bench_device.cuh"
#include "harness/core/check.h"
#include "microbench/stride_kernels.h"

namespace btc {
namespace {

// ---- loaders: one fragment of a row-major bit matrix with row stride ldw words.

struct WmmaLoader {
  static constexpr int kRows = 8, kTileK = 128;
  using Atom = atom::WmmaB1M8N8K128<atom::BitOp::kXor>;  // fragment types (either op)
  struct Frag { typename Atom::FragA a; };
  struct Fixed { typename Atom::FragB b; typename Atom::FragC acc; };

  __device__ static void load(Frag& f, const uint32_t* tile, int ldw) {
    Atom::load_a(f.a, tile, static_cast<unsigned>(ldw * 32));
  }
  __device__ static int32_t fold(const Frag& f) { return Atom::fold_words(f.a); }
  __device__ static void init(Fixed& x, const uint32_t* b_tile) {
    Atom::load_b(x.b, b_tile, 128);
    Atom::zero(x.acc);
  }
  // Feeding the MMA: AND where the pass has it (native on Hopper), else the paper's XOR.
  __device__ static void mma(Fixed& x, const Frag& f) {
#if BTC_HAS_SM80
    atom::WmmaB1M8N8K128<atom::BitOp::kAnd>::fma(x.acc, f.a, x.b);
#else
    Atom::fma(x.acc, f.a, x.b);
#endif
  }
  __device__ static int32_t fold(const Fixed& x) {
    int32_t s = 0;
    for (int i = 0; i < x.acc.num_elements; ++i) s ^= x.acc.x[i];
    return s;
  }
};

// mma.sync m16n8k256 A fragment: lane (g, t) holds rows g, g+8 at K words t, t+4.
struct MmaFragLoader {
  static constexpr int kRows = 16, kTileK = 256;
  struct Frag { uint32_t a[4]; };
  struct Fixed { uint32_t b[2]; int32_t acc[4]; };

  __device__ static int g() { return (threadIdx.x & 31) >> 2; }
  __device__ static int t() { return threadIdx.x & 3; }
  __device__ static void load(Frag& f, const uint32_t* tile, int ldw) {
#pragma unroll
    for (int i = 0; i < 4; ++i) f.a[i] = tile[(g() + 8 * (i % 2)) * ldw + t() + 4 * (i / 2)];
  }
  __device__ static int32_t fold(const Frag& f) { return static_cast<int32_t>(f.a[0] ^ f.a[1] ^ f.a[2] ^ f.a[3]); }
  __device__ static void init(Fixed& x, const uint32_t* b_tile) {
    x.b[0] = b_tile[g() * 8 + t()];
    x.b[1] = b_tile[g() * 8 + t() + 4];
#pragma unroll
    for (int i = 0; i < 4; ++i) x.acc[i] = 0;
  }
  __device__ static void mma(Fixed& x, const Frag& f) { atom::MmaAndM16N8K256::fma(x.acc, f.a, x.b); }
  __device__ static int32_t fold(const Fixed& x) { return x.acc[0] ^ x.acc[1] ^ x.acc[2] ^ x.acc[3]; }
};

// The same fragment by ldmatrix.x4: lane l addresses row l%8 of 8x128-bit
// matrix l/8 (rows +8 for odd matrices, K words +4 for matrices 2 and 3), and
// receives exactly the mma.sync register layout.
struct LdmatrixLoader : MmaFragLoader {
  __device__ static void load(Frag& f, const uint32_t* tile, int ldw) {
    const int l = threadIdx.x & 31;
    atom::ldmatrix_x4(f.a, tile + ((l % 8) + 8 * ((l / 8) % 2)) * ldw + 4 * (l / 16));
  }
};

template <class L, bool kMma>
struct Consumer {
  typename L::Fixed fixed;
  int32_t folded = 0;
  __device__ void init(const uint32_t* b_tile) { L::init(fixed, b_tile); }
  __device__ void take(const typename L::Frag& f) {
    if constexpr (kMma) L::mma(fixed, f);
    else folded ^= L::fold(f);
  }
  __device__ int32_t result() const { return kMma ? L::fold(fixed) : folded; }
};

// Global: the warps split the matrix's tiles into contiguous chunks, walked
// K-fastest (as a GEMM main loop walks K), `passes` times.
template <class L, bool kMma>
__global__ void stride_global_kernel(const uint32_t* m, int ldw, long long tiles, long long passes, int32_t* sink,
                                     long long* clk) {
  const long long warps = static_cast<long long>(gridDim.x) * (blockDim.x / 32);
  const long long warp = static_cast<long long>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const long long chunk = (tiles + warps - 1) / warps;
  const long long t0 = warp * chunk;
  const long long t1 = t0 + chunk < tiles ? t0 + chunk : tiles;
  const int tiles_per_band = ldw * 32 / L::kTileK;
  Consumer<L, kMma> c;
  c.init(m);
  dev::BlockClock clock;
  clock.start();
  for (long long p = 0; p < passes; ++p) {
    long long band = t0 / tiles_per_band;
    int kt = static_cast<int>(t0 % tiles_per_band);
#pragma unroll 4
    for (long long t = t0; t < t1; ++t) {
      typename L::Frag f;
      L::load(f, m + band * L::kRows * ldw + kt * (L::kTileK / 32), ldw);
      c.take(f);
      if (++kt == tiles_per_band) { kt = 0; ++band; }
    }
  }
  const int32_t r = c.result();
  dev::consume(r);
  clock.stop(clk);
  sink[blockIdx.x * blockDim.x + threadIdx.x] = r;
}

// Shared: each block stages one row band (rows x ldm bits) and its warps load
// the band's tiles round-robin, `iters` loads each.
template <class L, bool kMma>
__global__ void stride_shared_kernel(const uint32_t* m, int ldw, long long iters, int32_t* sink, long long* clk) {
  extern __shared__ __align__(128) uint32_t band[];
  const int band_words = L::kRows * ldw;
  for (int i = threadIdx.x * 4; i < band_words; i += blockDim.x * 4)
    *reinterpret_cast<uint4*>(band + i) = *reinterpret_cast<const uint4*>(m + static_cast<long long>(blockIdx.x) * band_words + i);
  __syncthreads();
  const int tiles_per_band = ldw * 32 / L::kTileK;
  int kt = static_cast<int>(threadIdx.x / 32) % tiles_per_band;
  Consumer<L, kMma> c;
  c.init(m);
  dev::BlockClock clock;
  clock.start();
#pragma unroll 4
  for (long long i = 0; i < iters; ++i) {
    typename L::Frag f;
    L::load(f, band + kt * (L::kTileK / 32), ldw);
    c.take(f);
    if (++kt == tiles_per_band) kt = 0;
  }
  const int32_t r = c.result();
  dev::consume(r);
  clock.stop(clk);
  sink[blockIdx.x * blockDim.x + threadIdx.x] = r;
}

template <class L, bool kMma>
void launch_one(const LoadPath& p, const StrideLaunch& l, const StrideBuffers& buf, cudaStream_t s) {
  const int ldw = l.ldm_bits / 32;
  if (p.space == MemSpace::kGlobal) {
    stride_global_kernel<L, kMma><<<l.blocks, l.threads, 0, s>>>(
        buf.matrix(), ldw, stride_tiles_per_pass(p, l.ldm_bits, l.matrix_bytes), l.iters, buf.sink(), buf.clk());
  } else {
    auto kernel = stride_shared_kernel<L, kMma>;
    const size_t smem = stride_smem_bytes(p, l.ldm_bits);
    BTC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    kernel<<<l.blocks, l.threads, smem, s>>>(buf.matrix(), ldw, l.iters, buf.sink(), buf.clk());
  }
  BTC_CUDA_CHECK_LAUNCH();
}

template <class L>
void launch_mode(const LoadPath& p, StrideMode mode, const StrideLaunch& l, const StrideBuffers& buf, cudaStream_t s) {
  if (mode == StrideMode::kMma) launch_one<L, true>(p, l, buf, s);
  else launch_one<L, false>(p, l, buf, s);
}

}  // namespace

const std::vector<LoadPath>& load_paths() {
  static const std::vector<LoadPath> paths = {
      {"wmma_global", "wmma", MemSpace::kGlobal, 8, 128, 75},
      {"wmma_shared", "wmma", MemSpace::kShared, 8, 128, 75},
      {"mma_global", "mma", MemSpace::kGlobal, 16, 256, 80},
      {"mma_shared", "mma", MemSpace::kShared, 16, 256, 80},
      {"ldmatrix_shared", "ldmatrix", MemSpace::kShared, 16, 256, 80},
  };
  return paths;
}

const LoadPath* find_load_path(const std::string& name) {
  for (const auto& p : load_paths())
    if (name == p.name) return &p;
  return nullptr;
}

long long stride_tiles_per_pass(const LoadPath& p, int ldm_bits, size_t matrix_bytes) {
  const size_t band_bytes = static_cast<size_t>(p.rows) * static_cast<size_t>(ldm_bits) / 8;
  return static_cast<long long>(matrix_bytes / band_bytes) * (ldm_bits / p.tile_k_bits);
}

size_t stride_smem_bytes(const LoadPath& p, int ldm_bits) {
  return p.space == MemSpace::kShared ? static_cast<size_t>(p.rows) * static_cast<size_t>(ldm_bits) / 8 : 0;
}

long long stride_tile_loads(const LoadPath& p, const StrideLaunch& l) {
  if (p.space == MemSpace::kGlobal) return stride_tiles_per_pass(p, l.ldm_bits, l.matrix_bytes) * l.iters;
  return static_cast<long long>(l.blocks) * (l.threads / 32) * l.iters;
}

void launch_stride(const LoadPath& p, StrideMode mode, const StrideLaunch& l, const StrideBuffers& buf,
                   cudaStream_t s) {
  if (l.ldm_bits < p.tile_k_bits || l.ldm_bits % p.tile_k_bits != 0)
    throw std::invalid_argument(std::string(p.name) + ": ldm must be a multiple of " +
                                std::to_string(p.tile_k_bits) + " bits, got " + std::to_string(l.ldm_bits));
  if (l.blocks < 1 || l.blocks > StrideBuffers::kMaxBlocks || l.threads < 32 || l.threads > StrideBuffers::kMaxThreads ||
      l.iters < 1 || (p.space == MemSpace::kGlobal && l.matrix_bytes > buf.matrix_bytes()) ||
      (p.space == MemSpace::kShared &&
       static_cast<size_t>(l.blocks) * stride_smem_bytes(p, l.ldm_bits) > buf.matrix_bytes()))
    throw std::invalid_argument(std::string("bad stride launch for ") + p.name);
  if (std::string(p.loader) == "wmma") launch_mode<WmmaLoader>(p, mode, l, buf, s);
  else if (std::string(p.loader) == "mma") launch_mode<MmaFragLoader>(p, mode, l, buf, s);
  else launch_mode<LdmatrixLoader>(p, mode, l, buf, s);
}

StrideBuffers::StrideBuffers(size_t matrix_bytes, uint32_t seed) : bytes_(matrix_bytes) {
  BTC_CUDA_CHECK(cudaMalloc(&matrix_, bytes_));
  BTC_CUDA_CHECK(cudaMalloc(&sink_, size_t(kMaxBlocks) * kMaxThreads * sizeof(int32_t)));
  BTC_CUDA_CHECK(cudaMalloc(&clk_, 2 * size_t(kMaxBlocks) * sizeof(long long)));
  // Random bits, generated on the host in slices (never zeros: see METHOD).
  std::mt19937 rng(seed);
  std::vector<uint32_t> slice(1 << 20);
  for (size_t off = 0; off < bytes_; off += slice.size() * 4) {
    for (auto& w : slice) w = static_cast<uint32_t>(rng());
    const size_t n = std::min(slice.size() * 4, bytes_ - off);
    BTC_CUDA_CHECK(cudaMemcpy(reinterpret_cast<char*>(matrix_) + off, slice.data(), n, cudaMemcpyHostToDevice));
  }
}

StrideBuffers::~StrideBuffers() {
  cudaFree(matrix_);
  cudaFree(sink_);
  cudaFree(clk_);
}

}  // namespace btc
