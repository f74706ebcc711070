// CPU reference of the BMM (bmm.h): both operands to plain row_u32, then the
// XOR form over the words with the true K; the fused epilogue packs
// dot >= threshold with formats' set_bit. Plain C++ (no GPU).
#include <stdexcept>
#include <string>

#include "kernels/bmm/bmm.h"
#include "formats/pack_cpu.h"

namespace btc::bmm {
namespace {

bits::BitMatrix row_u32(int rows, int k) {
  bits::BitMatrix m;
  m.layout = bits::Layout::kRowU32;
  m.rows = rows;
  m.k = k;
  return m;
}

std::string dims(const Problem& p) {
  return std::to_string(p.m) + "x" + std::to_string(p.n) + "x" + std::to_string(p.k);
}

}  // namespace

std::vector<int32_t> reference_dots(const Problem& p, const std::vector<uint32_t>& a, const bits::BitMatrix& a_shape,
                                    const std::vector<uint32_t>& b, const bits::BitMatrix& b_shape) {
  if (p.m < 0 || p.n < 0 || p.k < 0) throw std::invalid_argument("reference_dots: negative problem " + dims(p));
  // Designs may round their operands' rows up to a tile: rows past M / N are read, not used.
  if (a_shape.k != p.k || b_shape.k != p.k || a_shape.rows < p.m || b_shape.rows < p.n)
    throw std::invalid_argument("reference_dots: problem " + dims(p) + " with A " + bits::describe(a_shape) +
                                " and B " + bits::describe(b_shape));
  const bits::BitMatrix ra = row_u32(a_shape.rows, p.k), rb = row_u32(b_shape.rows, p.k);
  const std::vector<uint32_t> ar = bits::convert(a, a_shape, ra);  // checks buffer sizes and shapes
  const std::vector<uint32_t> br = bits::convert(b, b_shape, rb);
  const size_t kw = static_cast<size_t>(ra.kwords());
  std::vector<int32_t> dots(static_cast<size_t>(p.m) * static_cast<size_t>(p.n));
  for (size_t i = 0; i < static_cast<size_t>(p.m); ++i) {
    const uint32_t* x = ar.data() + i * kw;
    for (size_t j = 0; j < static_cast<size_t>(p.n); ++j) {
      const uint32_t* y = br.data() + j * kw;
      int pc = 0;
      for (size_t w = 0; w < kw; ++w) pc += __builtin_popcount(x[w] ^ y[w]);
      dots[i * static_cast<size_t>(p.n) + j] = p.k - 2 * pc;  // padding is 0 in both: adds nothing
    }
  }
  return dots;
}

std::vector<uint32_t> reference_bits(const Problem& p, const std::vector<int32_t>& dots,
                                     const std::vector<int32_t>& threshold, const bits::BitMatrix& bits_shape,
                                     const std::vector<uint8_t>& flip) {
  bits::check_shape(bits_shape);
  if (p.m < 0 || p.n < 0) throw std::invalid_argument("reference_bits: negative problem " + dims(p));
  if (bits_shape.rows != p.m || bits_shape.k != p.n)
    throw std::invalid_argument("reference_bits: output " + bits::describe(bits_shape) + " for problem " + dims(p) +
                                " (must be M x N)");
  if (dots.size() != static_cast<size_t>(p.m) * static_cast<size_t>(p.n) ||
      threshold.size() != static_cast<size_t>(p.n))
    throw std::invalid_argument("reference_bits: " + std::to_string(dots.size()) + " dots and " +
                                std::to_string(threshold.size()) + " thresholds for problem " + dims(p));
  if (!flip.empty() && flip.size() != static_cast<size_t>(p.n))
    throw std::invalid_argument("reference_bits: " + std::to_string(flip.size()) + " flip flags for N = " +
                                std::to_string(p.n));
  std::vector<uint32_t> out(static_cast<size_t>(bits_shape.words()), 0u);  // padding stays 0
  for (int i = 0; i < p.m; ++i)
    for (int j = 0; j < p.n; ++j) {
      const int32_t d = dots[static_cast<size_t>(i) * static_cast<size_t>(p.n) + static_cast<size_t>(j)];
      const int32_t t = threshold[static_cast<size_t>(j)];
      if (!flip.empty() && flip[static_cast<size_t>(j)] ? d <= t : d >= t) bits::set_bit(out, bits_shape, i, j, true);
    }
  return out;
}

}  // namespace btc::bmm
