// Division by a run-time constant for the implicit-GEMM index math: n / d for
// 0 <= n < 2^31 as one 32 x 32 -> 64-bit multiply and a shift. With
// l = ceil(log2 d), s = 31 + l and m = ceil(2^s / d) (< 2^32), the error
// n (m - 2^s / d) / 2^s < 2^31 / 2^s <= 1 / d, so floor(n m / 2^s) = floor(n / d).
// A hardware-free integer divide costs ~20 instructions on the SM (IABS,
// MUFU.RCP, IMAD.HI, fix-ups); the 56^2 x 64 BConv ran 10 of them per thread
// per tile (ncu at 1c7f99d: the gather set-up was a quarter of its instructions).
#pragma once
#include <cstdint>
#include <stdexcept>

#include "formats/layout.h"  // BTC_BITS_HD

namespace btc::bconv {

struct FastDiv {
  uint32_t d = 1, mul = 1u << 31;
  int shift = 31;

  BTC_BITS_HD int div(int n) const {
    return static_cast<int>((static_cast<uint64_t>(static_cast<uint32_t>(n)) * mul) >> shift);
  }
};

inline FastDiv make_fast_div(int d) {
  if (d < 1) throw std::invalid_argument("FastDiv: the divisor must be positive");
  int l = 0;
  while ((uint64_t{1} << l) < static_cast<uint64_t>(d)) ++l;
  FastDiv f;
  f.d = static_cast<uint32_t>(d);
  f.shift = 31 + l;
  const uint64_t m = ((uint64_t{1} << f.shift) + f.d - 1) / f.d;
  if (m > 0xFFFFFFFFull) throw std::logic_error("FastDiv: multiplier overflow");
  f.mul = static_cast<uint32_t>(m);
  return f;
}

}  // namespace btc::bconv
