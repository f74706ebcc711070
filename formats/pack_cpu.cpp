#include "formats/pack_cpu.h"

#include <stdexcept>
#include <string>

namespace btc::bits {
namespace {

void check_buffer(const std::vector<uint32_t>& v, const BitMatrix& m, const char* what) {
  check_shape(m);
  if (static_cast<int64_t>(v.size()) < m.words())
    throw std::invalid_argument(std::string(what) + ": buffer of " + std::to_string(v.size()) + " words, " +
                                describe(m) + " needs " + std::to_string(m.words()));
}

void check_row(const BitMatrix& m, int row, const char* what) {
  if (row < 0 || row >= m.rows)
    throw std::out_of_range(std::string(what) + ": row " + std::to_string(row) + " outside [0, " +
                            std::to_string(m.rows) + ")");
}

template <class T>
std::vector<uint32_t> pack_impl(const T* x, int rows, int k, const BitMatrix& dst) {
  check_shape(dst);
  if (rows != dst.rows || k != dst.k)
    throw std::invalid_argument("pack_signs: input is " + std::to_string(rows) + " x " + std::to_string(k) +
                                ", destination is " + describe(dst));
  if (x == nullptr && rows > 0 && k > 0) throw std::invalid_argument("pack_signs: null input");
  std::vector<uint32_t> out(static_cast<size_t>(dst.words()), 0u);
  const int used = dst.used_kwords();
  for (int r = 0; r < rows; ++r) {
    const T* row = x + static_cast<int64_t>(r) * k;
    for (int kw = 0; kw < used; ++kw) {
      const BitSpan sp = dst.word_span(kw);
      uint32_t w = 0;
      for (int j = 0; j < sp.count; ++j) w |= static_cast<uint32_t>(row[sp.first + j] >= T(0)) << j;
      out[static_cast<size_t>(dst.word_index(r, kw))] = w;
    }
  }
  return out;
}

bool bit_at(const std::vector<uint32_t>& v, const BitMatrix& m, int row, int e) {
  const BitLocation loc = m.locate(row, e);
  return (v[static_cast<size_t>(loc.word)] >> loc.bit) & 1u;
}

struct Popcounts {
  int x = 0, a = 0, b = 0, both = 0;  // popc(a^b), popc(a), popc(b), popc(a&b)
};

Popcounts popcounts(const std::vector<uint32_t>& a, const BitMatrix& as, int i, const std::vector<uint32_t>& b,
                    const BitMatrix& bs, int j, const char* what) {
  check_buffer(a, as, what);
  check_buffer(b, bs, what);
  check_row(as, i, what);
  check_row(bs, j, what);
  if (as.k != bs.k)
    throw std::invalid_argument(std::string(what) + ": k differs (" + describe(as) + " vs " + describe(bs) + ")");
  Popcounts p;
  if (same_k_map(as, bs)) {
    for (int kw = 0, n = as.used_kwords(); kw < n; ++kw) {
      const uint32_t x = a[static_cast<size_t>(as.word_index(i, kw))];
      const uint32_t y = b[static_cast<size_t>(bs.word_index(j, kw))];
      p.x += __builtin_popcount(x ^ y);
      p.a += __builtin_popcount(x);
      p.b += __builtin_popcount(y);
      p.both += __builtin_popcount(x & y);
    }
  } else {
    for (int e = 0; e < as.k; ++e) {
      const int x = bit_at(a, as, i, e), y = bit_at(b, bs, j, e);
      p.x += x ^ y;
      p.a += x;
      p.b += y;
      p.both += x & y;
    }
  }
  return p;
}

}  // namespace

std::vector<uint32_t> pack_signs(const float* x, int rows, int k, const BitMatrix& dst) {
  return pack_impl(x, rows, k, dst);
}
std::vector<uint32_t> pack_signs(const int8_t* x, int rows, int k, const BitMatrix& dst) {
  return pack_impl(x, rows, k, dst);
}

std::vector<int8_t> unpack_signs(const std::vector<uint32_t>& src, const BitMatrix& shape) {
  check_buffer(src, shape, "unpack_signs");
  std::vector<int8_t> out(static_cast<size_t>(shape.rows) * static_cast<size_t>(shape.k));
  const int used = shape.used_kwords();
  for (int r = 0; r < shape.rows; ++r)
    for (int kw = 0; kw < used; ++kw) {
      const BitSpan sp = shape.word_span(kw);
      const uint32_t w = src[static_cast<size_t>(shape.word_index(r, kw))];
      for (int j = 0; j < sp.count; ++j)
        out[static_cast<size_t>(r) * shape.k + static_cast<size_t>(sp.first + j)] = ((w >> j) & 1u) ? 1 : -1;
    }
  return out;
}

std::vector<uint32_t> convert(const std::vector<uint32_t>& src, const BitMatrix& src_shape,
                              const BitMatrix& dst_shape) {
  check_buffer(src, src_shape, "convert");
  check_shape(dst_shape);
  if (src_shape.rows != dst_shape.rows || src_shape.k != dst_shape.k)
    throw std::invalid_argument("convert: shapes differ (" + describe(src_shape) + " -> " + describe(dst_shape) +
                                ")");
  std::vector<uint32_t> out(static_cast<size_t>(dst_shape.words()), 0u);
  const int used = dst_shape.used_kwords();
  const bool words = same_k_map(src_shape, dst_shape);
  for (int r = 0; r < dst_shape.rows; ++r)
    for (int kw = 0; kw < used; ++kw) {
      uint32_t w = 0;
      if (words) {
        w = src[static_cast<size_t>(src_shape.word_index(r, kw))] & dst_shape.word_mask(kw);
      } else {
        const BitSpan sp = dst_shape.word_span(kw);
        for (int j = 0; j < sp.count; ++j) w |= static_cast<uint32_t>(bit_at(src, src_shape, r, sp.first + j)) << j;
      }
      out[static_cast<size_t>(dst_shape.word_index(r, kw))] = w;
    }
  return out;
}

int dot_pm1_xor(const std::vector<uint32_t>& a, const BitMatrix& a_shape, int i, const std::vector<uint32_t>& b,
                const BitMatrix& b_shape, int j) {
  const Popcounts p = popcounts(a, a_shape, i, b, b_shape, j, "dot_pm1_xor");
  return a_shape.k - 2 * p.x;
}

int dot_pm1_and(const std::vector<uint32_t>& a, const BitMatrix& a_shape, int i, const std::vector<uint32_t>& b,
                const BitMatrix& b_shape, int j) {
  const Popcounts p = popcounts(a, a_shape, i, b, b_shape, j, "dot_pm1_and");
  return a_shape.k - 2 * p.a - 2 * p.b + 4 * p.both;
}

namespace {
void check_element(const std::vector<uint32_t>& m, const BitMatrix& shape, int row, int k, const char* what) {
  check_buffer(m, shape, what);
  check_row(shape, row, what);
  if (k < 0 || k >= shape.k)
    throw std::out_of_range(std::string(what) + ": k " + std::to_string(k) + " outside [0, " +
                            std::to_string(shape.k) + ")");
}
}  // namespace

bool get_bit(const std::vector<uint32_t>& m, const BitMatrix& shape, int row, int k) {
  check_element(m, shape, row, k, "get_bit");
  return bit_at(m, shape, row, k);
}

void set_bit(std::vector<uint32_t>& m, const BitMatrix& shape, int row, int k, bool value) {
  check_element(m, shape, row, k, "set_bit");
  const BitLocation loc = shape.locate(row, k);
  uint32_t& w = m[static_cast<size_t>(loc.word)];
  w = value ? (w | (1u << loc.bit)) : (w & ~(1u << loc.bit));
}

}  // namespace btc::bits
