// mma.sync atoms, one struct per PTX instruction (PTX ISA "Matrix fragments
// for mma.m8n8k128 / m16n8k128 / m16n8k256"). Lane = 4g + t. A register i
// holds row g + 8 (i % (M/8)) at 32-bit K word t + 4 (i / (M/8)); B register
// i holds column g at K word t + 4i; C register i holds row g + 8 (i/2),
// column 2t + i%2. m8n8k128 XOR is sm_75; every other b1 form needs sm_80.
#pragma once
#include <cstdint>

#include "kernels/atoms/arch.cuh"
#include "kernels/atoms/mma_sm75.cuh"  // BitOp
#include "kernels/atoms/ptx_b1.h"

namespace btc::atom {

// b1: d += popc(a op b). One specialization per shape.
template <int M, int N, int K, BitOp Op>
struct MmaB1;

#define BTC_MMA_B1_M8N8K128(OP)                                                            \
  asm volatile(BTC_PTX_MMA_B1(m8n8k128, OP) " {%0,%1}, {%2}, {%3}, {%0,%1};"              \
               : "+r"(d[0]), "+r"(d[1])                                                    \
               : "r"(a[0]), "r"(b[0]))
#define BTC_MMA_B1_M16N8K128(OP)                                                           \
  asm volatile(BTC_PTX_MMA_B1(m16n8k128, OP) " {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};" \
               : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])                            \
               : "r"(a[0]), "r"(a[1]), "r"(b[0]))
#define BTC_MMA_B1_M16N8K256(OP)                                                                   \
  asm volatile(BTC_PTX_MMA_B1(m16n8k256, OP) " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};" \
               : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])                                    \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]))

template <BitOp Op>
struct MmaB1<8, 8, 128, Op> {
  static constexpr int kM = 8, kN = 8, kK = 128, kARegs = 1, kBRegs = 1, kCRegs = 2;
  static constexpr int kMinArch = Op == BitOp::kXor ? 75 : 80;
  __device__ static void fma(int32_t (&d)[2], const uint32_t (&a)[1], const uint32_t (&b)[1]) {
#if BTC_HAS_SM80
    if constexpr (Op == BitOp::kXor) BTC_MMA_B1_M8N8K128(xor); else BTC_MMA_B1_M8N8K128(and);
#elif BTC_HAS_SM75
    if constexpr (Op == BitOp::kXor) BTC_MMA_B1_M8N8K128(xor); else __trap();
#else
    (void)d; (void)a; (void)b;
    __trap();
#endif
  }
};

template <BitOp Op>
struct MmaB1<16, 8, 128, Op> {
  static constexpr int kM = 16, kN = 8, kK = 128, kARegs = 2, kBRegs = 1, kCRegs = 4;
  static constexpr int kMinArch = 80;
  __device__ static void fma(int32_t (&d)[4], const uint32_t (&a)[2], const uint32_t (&b)[1]) {
#if BTC_HAS_SM80
    if constexpr (Op == BitOp::kXor) BTC_MMA_B1_M16N8K128(xor); else BTC_MMA_B1_M16N8K128(and);
#else
    (void)d; (void)a; (void)b;
    __trap();
#endif
  }
};

template <BitOp Op>
struct MmaB1<16, 8, 256, Op> {
  static constexpr int kM = 16, kN = 8, kK = 256, kARegs = 4, kBRegs = 2, kCRegs = 4;
  static constexpr int kMinArch = 80;
  __device__ static void fma(int32_t (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if BTC_HAS_SM80
    if constexpr (Op == BitOp::kXor) BTC_MMA_B1_M16N8K256(xor); else BTC_MMA_B1_M16N8K256(and);
#else
    (void)d; (void)a; (void)b;
    __trap();
#endif
  }
};

#undef BTC_MMA_B1_M8N8K128
#undef BTC_MMA_B1_M16N8K128
#undef BTC_MMA_B1_M16N8K256

// The production designs' instruction: m16n8k256 AND (native on sm_80 and sm_90).
using MmaAndM16N8K256 = MmaB1<16, 8, 256, BitOp::kAnd>;

// Reference forms (not b1), same fragment shapes: s8 m16n8k32 (s32 accumulate)
// and f16 m16n8k16 (f32 accumulate, carried as its bits).
struct MmaS8M16N8K32 {
  static constexpr int kM = 16, kN = 8, kK = 32, kMinArch = 80;
  __device__ static void fma(uint32_t (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if BTC_HAS_SM80
    asm volatile(BTC_PTX_MMA_S8_M16N8K32 " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    (void)d; (void)a; (void)b;
    __trap();
#endif
  }
};
struct MmaF16M16N8K16 {
  static constexpr int kM = 16, kN = 8, kK = 16, kMinArch = 80;
  __device__ static void fma(uint32_t (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if BTC_HAS_SM80
    asm volatile(BTC_PTX_MMA_F16_M16N8K16 " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    (void)d; (void)a; (void)b;
    __trap();
#endif
  }
};

}  // namespace btc::atom
