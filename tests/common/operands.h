// Test operands shared by the GPU tests of the designs: random signs packed
// into a design's operand shape, and a BConv layer in one line.
#pragma once
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "formats/layout.h"
#include "formats/pack_cpu.h"
#include "kernels/bconv/bconv.h"
#include "tests/common/test_random.h"

namespace btc::test {

// Random signs (exact zeros of both signs mixed in) for all of `shape`'s
// rows, padding rows included, packed into it.
inline std::vector<uint32_t> random_packed(std::mt19937& rng, const bits::BitMatrix& shape) {
  const auto x = random_floats(rng, static_cast<size_t>(shape.rows) * static_cast<size_t>(shape.k));
  return bits::pack_signs(x.data(), shape.rows, shape.k, shape);
}

// An n x h x w x c input, k square rs x rs filters.
inline bconv::Problem bconv_layer(int n, int h, int w, int c, int k, int rs, int stride, int pad,
                                  bconv::PadValue pv = bconv::PadValue::kZero) {
  bconv::Problem p;
  p.n = n; p.h = h; p.w = w; p.c = c; p.k = k; p.r = rs; p.s = rs; p.stride = stride; p.pad = pad; p.pad_value = pv;
  return p;
}

}  // namespace btc::test
