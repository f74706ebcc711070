// A batch norm after a binary conv (or FC), folded into the integer test the
// fused epilogue makes on z, exactly: bit = sign(BN(z)) >= 0 with
//   BN(z) = ((z - mean) * invstd) * gamma + beta,  invstd = 1 / sqrt(var + eps)
// in float, the formula PyTorch's CUDA eval batch norm evaluates. BN is
// monotone in z (increasing for gamma > 0, decreasing for gamma < 0: the
// comparison flips), so a search over the K + 1 possible z finds the exact
// integer threshold, including z where BN(z) rounds to 0 (bnn-layer-semantics §4).
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

namespace btc::bconv {

struct Threshold {
  int32_t value = 0;
  bool flip = false;  // false: bit = z >= value; true: bit = z <= value
};

inline float batch_norm_f32(int32_t z, float gamma, float beta, float mean, float var, float eps) {
  const float invstd = 1.0f / std::sqrt(var + eps);
  return ((static_cast<float>(z) - mean) * invstd) * gamma + beta;
}

// dot_bits: K, so z is in [-K, K].
inline Threshold fold_batch_norm(float gamma, float beta, float mean, float var, float eps, int64_t dot_bits) {
  constexpr int32_t kNever = std::numeric_limits<int32_t>::max(), kAlways = std::numeric_limits<int32_t>::min();
  const int32_t lo = static_cast<int32_t>(-dot_bits), hi = static_cast<int32_t>(dot_bits);
  auto plus = [&](int32_t z) { return batch_norm_f32(z, gamma, beta, mean, var, eps) >= 0.0f; };
  if (gamma == 0.0f) return {beta >= 0.0f ? kAlways : kNever, false};
  if (gamma > 0.0f) {  // the first z whose BN is >= 0
    if (!plus(hi)) return {kNever, false};
    if (plus(lo)) return {kAlways, false};
    int32_t a = lo, b = hi;  // plus(a) false, plus(b) true
    while (b - a > 1) {
      const int32_t m = a + (b - a) / 2;
      (plus(m) ? b : a) = m;
    }
    return {b, false};
  }
  // gamma < 0: the last z whose BN is >= 0; bit = z <= that
  if (!plus(lo)) return {kAlways, true};  // z <= INT32_MIN: never true
  if (plus(hi)) return {kNever, true};    // z <= INT32_MAX: always true
  int32_t a = lo, b = hi;  // plus(a) true, plus(b) false
  while (b - a > 1) {
    const int32_t m = a + (b - a) / 2;
    (plus(m) ? a : b) = m;
  }
  return {a, true};
}

}  // namespace btc::bconv
