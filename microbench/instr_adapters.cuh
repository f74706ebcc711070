// Instruction adapters: each tensor-core atom (kernels/atoms/) behind one
// interface, so the latency and throughput kernels (and the correctness
// tests) are written once:
//
//   struct Op {
//     kM, kN, kK, kThreads (32: one warp issues; 128: a warpgroup), kSmemBytes
//     Frags  - operands as the instruction reads them (registers / smem descriptors)
//     Acc    - accumulators
//     load(Frags&, a_tile, b_tile, smem, tid)  a_tile: M x K row-major, b_tile: N x K
//                                              row-major (i.e. B col-major), both as
//                                              32-bit words, K/32 words per b1 row
//     zero(Acc&); mma(Acc&, const Frags&) (acc += A*B^T); commit(); wait_all();
//     store(const Acc&, int32_t* out, tid)     out: M x N row-major (b1/s8 results)
//     fold(const Acc&) -> int32_t              keeps the work observable
//     kMaxIlp                                  independent accumulator sets that fit
//                                              in registers without spilling
//   };
#pragma once
#include <cstdint>

#include "kernels/atoms/copy_sm80.cuh"
#include "kernels/atoms/copy_sm90.cuh"
#include "kernels/atoms/mma_sm75.cuh"
#include "kernels/atoms/mma_sm80.cuh"
#include "kernels/atoms/mma_sm90.cuh"
#include "kernels/tile/tile_io.cuh"

namespace btc::dev {

// Atoms' bodies trap in passes without their instruction; the host never
// launches them there (see instr_skip_reason).
using atom::BitOp;
using atom::WgmmaKind;

__device__ __forceinline__ int lane_id() { return static_cast<int>(threadIdx.x) & 31; }

// ---------------------------------------------------------------------------
// mma.sync b1: fragments in the atom's register layout (kernels/atoms/mma_sm80.cuh).
template <int M, int N, int K, BitOp Op>
struct MmaB1 {
  using Atom = atom::MmaB1<M, N, K, Op>;
  static constexpr int kM = M, kN = N, kK = K, kThreads = 32;
  static constexpr int kSmemBytes = 0;
  static constexpr int kARegs = (M / 8) * (K / 128), kBRegs = K / 128, kCRegs = (M / 8) * 2;
  static constexpr int kMaxIlp = 8;
  static constexpr int kWordsPerRow = K / 32;
  struct Frags { uint32_t a[kARegs]; uint32_t b[kBRegs]; };
  struct Acc { int32_t c[kCRegs]; };

  __device__ static void load(Frags& f, const uint32_t* a_tile, const uint32_t* b_tile, uint8_t*, int) {
    const int g = lane_id() >> 2, t = lane_id() & 3;
#pragma unroll
    for (int i = 0; i < kARegs; ++i)
      f.a[i] = a_tile[(g + 8 * (i % (M / 8))) * kWordsPerRow + t + 4 * (i / (M / 8))];
#pragma unroll
    for (int i = 0; i < kBRegs; ++i) f.b[i] = b_tile[g * kWordsPerRow + t + 4 * i];
  }
  __device__ static void zero(Acc& acc) {
#pragma unroll
    for (int i = 0; i < kCRegs; ++i) acc.c[i] = 0;
  }
  __device__ static void mma(Acc& acc, const Frags& f);
  __device__ static void commit() {}
  __device__ static void wait_all() {}
  __device__ static void store(const Acc& acc, int32_t* out, int) {
    const int g = lane_id() >> 2, t = lane_id() & 3;
#pragma unroll
    for (int i = 0; i < kCRegs; ++i) out[(g + 8 * (i / 2)) * N + 2 * t + (i % 2)] = acc.c[i];
  }
  __device__ static int32_t fold(const Acc& acc) {
    int32_t s = 0;
#pragma unroll
    for (int i = 0; i < kCRegs; ++i) s ^= acc.c[i];
    return s;
  }
};

template <int M, int N, int K, BitOp Op>
__device__ void MmaB1<M, N, K, Op>::mma(Acc& acc, const Frags& f) {
  Atom::fma(acc.c, f.a, f.b);
}

// ---------------------------------------------------------------------------
// WMMA 8x8x128 b1: the paper's instruction. Fragments are opaque, so loads go
// through load_matrix_sync (ldm in bits: 128 = one packed row).
template <BitOp Op>
struct WmmaB1 {
  using Atom = atom::WmmaB1M8N8K128<Op>;
  static constexpr int kM = 8, kN = 8, kK = 128, kThreads = 32;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMaxIlp = 8;
  struct Frags { typename Atom::FragA a; typename Atom::FragB b; };
  struct Acc { typename Atom::FragC c; };

  __device__ static void load(Frags& f, const uint32_t* a_tile, const uint32_t* b_tile, uint8_t*, int) {
    Atom::load_a(f.a, a_tile, 128);
    Atom::load_b(f.b, b_tile, 128);
  }
  __device__ static void zero(Acc& acc) { Atom::zero(acc.c); }
  __device__ static void mma(Acc& acc, const Frags& f) { Atom::fma(acc.c, f.a, f.b); }
  __device__ static void commit() {}
  __device__ static void wait_all() {}
  __device__ static void store(const Acc& acc, int32_t* out, int) { Atom::store(out, acc.c, 8); }
  __device__ static int32_t fold(const Acc& acc) {
    int32_t s = 0;
    for (int i = 0; i < acc.c.num_elements; ++i) s ^= acc.c.x[i];
    return s;
  }
};

// ---------------------------------------------------------------------------
// Reference forms: s8 m16n8k32 and f16 m16n8k16 (f32 accumulate). Only their
// rate matters, so operands are taken from the tile by plain indexing.
template <bool kF16>
struct MmaRef {
  static constexpr int kM = 16, kN = 8, kK = kF16 ? 16 : 32, kThreads = 32;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMaxIlp = 8;
  struct Frags { uint32_t a[4]; uint32_t b[2]; };
  struct Acc { uint32_t c[4]; };  // s32, or f32 bits

  __device__ static void load(Frags& f, const uint32_t* a_tile, const uint32_t* b_tile, uint8_t*, int) {
#pragma unroll
    for (int i = 0; i < 4; ++i) f.a[i] = a_tile[lane_id() * 4 + i];
#pragma unroll
    for (int i = 0; i < 2; ++i) f.b[i] = b_tile[lane_id() * 2 + i];
  }
  __device__ static void zero(Acc& acc) {
#pragma unroll
    for (int i = 0; i < 4; ++i) acc.c[i] = 0;
  }
  __device__ static void mma(Acc& acc, const Frags& f) {
    if constexpr (kF16) atom::MmaF16M16N8K16::fma(acc.c, f.a, f.b);
    else atom::MmaS8M16N8K32::fma(acc.c, f.a, f.b);
  }
  __device__ static void commit() {}
  __device__ static void wait_all() {}
  __device__ static void store(const Acc& acc, int32_t* out, int) {
#pragma unroll
    for (int i = 0; i < 4; ++i) out[lane_id() * 4 + i] = static_cast<int32_t>(acc.c[i]);
  }
  __device__ static int32_t fold(const Acc& acc) {
    return static_cast<int32_t>(acc.c[0] ^ acc.c[1] ^ acc.c[2] ^ acc.c[3]);
  }
};

// ---------------------------------------------------------------------------
// wgmma (sm_90a): one warpgroup issues m64nNk256 b1 (or m64nNk32 s8: the
// same 32 bytes per row). Shared-memory tiles are K-major with no swizzle:
// 8-row x 16-byte "core matrices" stored contiguously (128 B); the next core
// matrix down M/N is SBO = 128 B away, the next along K is LBO = rows/8 * 128 B.
// The K-major, no-swizzle tile is formats' wgmma_interleave layout over a
// rows x 256-bit matrix (one box): the word offset of (row, 16-byte chunk).
__device__ __forceinline__ int interleave_word(int row, int chunk, int rows) {
  return static_cast<int>(tile::shape(bits::Layout::kWgmmaInterleave, rows, 256, rows).word_index(row, 4 * chunk));
}

template <WgmmaKind Kind, int N, bool kARegs>
struct Wgmma {
  static constexpr int kM = 64, kN = N, kK = Kind == WgmmaKind::S8 ? 32 : 256, kThreads = 128;
  static constexpr int kRowBytes = 32;
  static constexpr int kABytes = kARegs ? 0 : kM * kRowBytes;
  static constexpr int kSmemBytes = kABytes + N * kRowBytes;
  static constexpr int kCRegs = N / 2;
  // At most 128 accumulator registers per thread: more spills to local memory.
  static constexpr int kMaxIlp = N >= 256 ? 1 : N >= 32 ? 128 / kCRegs : 8;
  struct Frags { uint64_t desc_a, desc_b; uint32_t a[4]; };
  struct Acc { int32_t c[kCRegs]; };

  // Whole warpgroup: copy both tiles into the core-matrix layout.
  __device__ static void load(Frags& f, const uint32_t* a_tile, const uint32_t* b_tile, uint8_t* smem, int tid) {
    uint8_t* sa = smem;
    uint8_t* sb = smem + kABytes;
    const uint4* a16 = reinterpret_cast<const uint4*>(a_tile);
    const uint4* b16 = reinterpret_cast<const uint4*>(b_tile);
    if constexpr (!kARegs)
      for (int i = tid; i < kM * 2; i += kThreads)
        *reinterpret_cast<uint4*>(sa + 4 * interleave_word(i / 2, i % 2, kM)) = a16[i];
    for (int i = tid; i < N * 2; i += kThreads)
      *reinterpret_cast<uint4*>(sb + 4 * interleave_word(i / 2, i % 2, N)) = b16[i];
    if constexpr (kARegs) {
      // The m16n8k256 A fragment, warp w of the warpgroup taking rows 16w..16w+15.
      const int w = tid / 32, g = lane_id() >> 2, t = lane_id() & 3;
#pragma unroll
      for (int i = 0; i < 4; ++i) f.a[i] = a_tile[(16 * w + g + 8 * (i % 2)) * 8 + t + 4 * (i / 2)];
    }
    // Ordinary stores must be made visible to the tensor core's (async proxy) reads.
    atom::fence_proxy_async_smem();
    atom::named_barrier_sync(1 + tid_warpgroup_barrier_id(), 128);
    using L = bits::Layout;
    f.desc_a = kARegs ? 0 : tile::wgmma_slab_desc<L::kWgmmaInterleave>(reinterpret_cast<uint32_t*>(sa), kM, 256, 0, 0);
    f.desc_b = tile::wgmma_slab_desc<L::kWgmmaInterleave>(reinterpret_cast<uint32_t*>(sb), N, 256, 0, 0);
  }
  __device__ static int tid_warpgroup_barrier_id() { return static_cast<int>(threadIdx.x) / 128; }
  __device__ static void zero(Acc& acc) {
#pragma unroll
    for (int i = 0; i < kCRegs; ++i) acc.c[i] = 0;
    fence();
  }
  // Orders our register writes (zeroed accumulators, A fragments) before wgmma reads them.
  __device__ static void fence() { atom::wgmma_fence(); }
  __device__ static void mma(Acc& acc, const Frags& f) {
    if constexpr (kARegs) atom::wgmma_rs<Kind, N>(acc.c, f.a, f.desc_b);
    else atom::wgmma_ss<Kind, N>(acc.c, f.desc_a, f.desc_b);
  }
  __device__ static void commit() { atom::wgmma_commit(); }
  __device__ static void wait_all() { atom::wgmma_wait<0>(); }
  // Accumulator j*4+i of warp w: row 16w + g + 8*(i/2), column 8j + 2t + i%2.
  __device__ static void store(const Acc& acc, int32_t* out, int tid, int ldc = N) {
    const int w = tid / 32, g = lane_id() >> 2, t = lane_id() & 3;
#pragma unroll
    for (int r = 0; r < kCRegs; ++r) {
      const int j = r / 4, i = r % 4;
      out[(16 * w + g + 8 * (i / 2)) * ldc + 8 * j + 2 * t + (i % 2)] = acc.c[r];
    }
  }
  __device__ static int32_t fold(const Acc& acc) {
    int32_t s = 0;
#pragma unroll
    for (int i = 0; i < kCRegs; ++i) s ^= acc.c[i];
    return s;
  }
};

}  // namespace btc::dev
