// WMMA 8x8x128 b1, the paper's instruction (Turing, sm_75): C += popc(A op B)
// over 8 x 8 x 128 bits. The fragments are opaque; load_matrix_sync takes the
// row stride in bits (128 = one packed row). XOR is native on sm_75/sm_80 and
// emulated on sm_90; AND needs sm_80 code.
#pragma once
#include <mma.h>

#include <cstdint>

#include "kernels/atoms/arch.cuh"

namespace btc::atom {

enum class BitOp { kXor, kAnd };

template <BitOp Op>
struct WmmaB1M8N8K128 {
  static constexpr int kM = 8, kN = 8, kK = 128;
  static constexpr int kMinArch = Op == BitOp::kXor ? 75 : 80;
  using FragA = nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 8, 8, 128, nvcuda::wmma::experimental::precision::b1,
                                       nvcuda::wmma::row_major>;
  using FragB = nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 8, 8, 128, nvcuda::wmma::experimental::precision::b1,
                                       nvcuda::wmma::col_major>;
  using FragC = nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 8, 8, 128, int>;

  __device__ static void load_a(FragA& f, const uint32_t* p, unsigned ldm_bits) {
    nvcuda::wmma::load_matrix_sync(f, p, ldm_bits);
  }
  __device__ static void load_b(FragB& f, const uint32_t* p, unsigned ldm_bits) {
    nvcuda::wmma::load_matrix_sync(f, p, ldm_bits);
  }
  __device__ static void zero(FragC& c) { nvcuda::wmma::fill_fragment(c, 0); }
  // d += popc(a op b)
  __device__ static void fma(FragC& d, const FragA& a, const FragB& b) {
    using namespace nvcuda::wmma::experimental;
    if constexpr (Op == BitOp::kXor) {
      nvcuda::wmma::bmma_sync(d, a, b, d, bmmaBitOpXOR, bmmaAccumulateOpPOPC);
    } else {
#if BTC_HAS_SM80
      nvcuda::wmma::bmma_sync(d, a, b, d, bmmaBitOpAND, bmmaAccumulateOpPOPC);
#else
      (void)d; (void)a; (void)b;
      __trap();
#endif
    }
  }
  __device__ static void store(int32_t* p, const FragC& c, unsigned ldm) {
    nvcuda::wmma::store_matrix_sync(p, c, ldm, nvcuda::wmma::mem_row_major);
  }
  // b1 fragments count bits in num_elements (32 here), but store one 32-bit
  // word per lane in x[]: fold the storage, never num_elements.
  template <class Frag>
  __device__ static int32_t fold_words(const Frag& f) {
    int32_t s = 0;
#pragma unroll
    for (size_t i = 0; i < sizeof(f.x) / sizeof(f.x[0]); ++i) s ^= static_cast<int32_t>(f.x[i]);
    return s;
  }
};

}  // namespace btc::atom
