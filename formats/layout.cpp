#include "formats/layout.h"

#include <climits>
#include <stdexcept>

namespace btc::bits {

std::string layout_names() {
  std::string s;
  for (Layout l : kAllLayouts) {
    if (!s.empty()) s += ", ";
    s += name(l);
  }
  return s;
}

Layout parse_layout(const std::string& s) {
  for (Layout l : kAllLayouts)
    if (s == name(l)) return l;
  throw std::invalid_argument("unknown bit layout '" + s + "' (valid: " + layout_names() + ")");
}

std::string shape_error(const BitMatrix& m) {
  const int li = static_cast<int>(m.layout);
  if (li < 0 || li >= kNumLayouts) return "layout value " + std::to_string(li) + " is not a Layout";
  if (m.rows < 0 || m.k < 0)
    return "rows and k must be >= 0 (got " + std::to_string(m.rows) + " x " + std::to_string(m.k) + ")";
  if (is_wgmma(m.layout) && (m.box_rows < 8 || m.box_rows % 8 != 0 || m.box_rows > 65536))
    return std::string(name(m.layout)) + ": box_rows must be a positive multiple of 8 (got " +
           std::to_string(m.box_rows) + ")";
  if (m.k_segment == 0) {
    if (m.k_segment_valid != 0) return "k_segment_valid is set without k_segment";
  } else {
    if (m.k_segment < 0 || m.k_segment % 32 != 0)
      return "k_segment must be a positive multiple of 32 (got " + std::to_string(m.k_segment) + ")";
    if (m.k_segment_valid < 1 || m.k_segment_valid > m.k_segment)
      return "k_segment_valid must be in [1, k_segment] (got " + std::to_string(m.k_segment_valid) + ")";
    if (m.k % m.k_segment_valid != 0)
      return "k (" + std::to_string(m.k) + ") is not a whole number of segments of " +
             std::to_string(m.k_segment_valid) + " bits";
  }
  const long long tr = box_rows_of(m.layout, m.box_rows), tk = box_k_of(m.layout);
  const long long stored =
      m.k_segment == 0 ? m.k : static_cast<long long>(m.k / m.k_segment_valid) * m.k_segment;
  if (m.rows + tr > INT_MAX || stored + tk > INT_MAX) return "sizes past the int range";
  return "";
}

void check_shape(const BitMatrix& m) {
  if (const std::string e = shape_error(m); !e.empty()) throw std::invalid_argument("bad BitMatrix: " + e);
}

std::string describe(const BitMatrix& m) {
  std::string s = std::string(name(m.layout)) + " " + std::to_string(m.rows) + "x" + std::to_string(m.k);
  if (is_wgmma(m.layout)) s += " box_rows=" + std::to_string(m.box_rows);
  if (m.k_segment != 0)
    s += " segments=" + std::to_string(m.k_segment_valid) + "/" + std::to_string(m.k_segment);
  if (shape_error(m).empty())
    s += " (" + std::to_string(m.padded_rows()) + "x" + std::to_string(m.padded_k()) + " padded, " +
         std::to_string(m.words()) + " words)";
  return s;
}

namespace {

int checked_c_pad(int c, int c_word_bits) {
  if (c_word_bits != 32 && c_word_bits != 64 && c_word_bits != 128)
    throw std::invalid_argument("c_word_bits must be 32, 64 or 128 (got " + std::to_string(c_word_bits) + ")");
  if (c < 1) throw std::invalid_argument("channel count must be >= 1 (got " + std::to_string(c) + ")");
  if (c > INT_MAX - c_word_bits) throw std::invalid_argument("channel count too large");
  return detail::round_up(c, c_word_bits);
}

int checked_product(long long a, long long b, long long c, const char* what) {
  if (a < 0 || b < 0 || c < 0) throw std::invalid_argument(std::string(what) + ": negative dimension");
  const long long p = a * b;
  if (p > INT_MAX || p * c > INT_MAX) throw std::invalid_argument(std::string(what) + ": too large for int");
  return static_cast<int>(p * c);
}

}  // namespace

BitMatrix nhwc_activations(int n, int h, int w, int c, int c_word_bits) {
  BitMatrix m;
  m.k_segment = checked_c_pad(c, c_word_bits);
  m.k_segment_valid = c;
  m.layout = c_word_bits == 64 ? Layout::kRowU64 : Layout::kRowU32;
  m.rows = checked_product(n, h, w, "nhwc_activations");
  m.k = c;
  check_shape(m);
  return m;
}

BitMatrix krsc_weights(int k, int r, int s, int c, int c_word_bits) {
  BitMatrix m;
  m.k_segment = checked_c_pad(c, c_word_bits);
  m.k_segment_valid = c;
  m.layout = c_word_bits == 64 ? Layout::kRowU64 : Layout::kRowU32;
  if (k < 0) throw std::invalid_argument("krsc_weights: negative dimension");
  m.rows = k;
  m.k = checked_product(r, s, c, "krsc_weights");
  if (static_cast<long long>(r) * s * m.k_segment > INT_MAX - 128)
    throw std::invalid_argument("krsc_weights: too large for int");
  check_shape(m);
  return m;
}

}  // namespace btc::bits
