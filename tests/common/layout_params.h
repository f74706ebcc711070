// Parameters shared by the CPU and GPU tests of formats/: every layout (and
// wgmma box heights other than the default) crossed with odd sizes, some of
// them with K segments as convolution packing makes them.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "formats/layout.h"

namespace btc::test {

struct Config {
  bits::Layout layout;
  int box_rows;
};
struct Size {
  int rows, k;
  int k_segment = 0, k_segment_valid = 0;
};
using LayoutParam = std::tuple<Config, Size>;

// Every layout at the default box height, and the wgmma ones at 8 and 24 rows too.
inline std::vector<Config> all_configs() {
  std::vector<Config> v;
  for (bits::Layout l : bits::kAllLayouts) v.push_back({l, bits::kDefaultBoxRows});
  for (bits::Layout l : bits::kAllLayouts)
    if (bits::is_wgmma(l))
      for (int br : {8, 24}) v.push_back({l, br});
  return v;
}

inline std::vector<Size> all_sizes() {
  return {
      {1000, 777}, {23, 1234}, {1, 1}, {7, 129}, {65, 257},
      {37, 9 * 45, 64, 45},     // KRSC-like: 9 segments of 45 bits stored in 64
      {5, 3 * 100, 128, 100},   // 3 segments of 100 bits stored in 128
  };
}

// Readable parameters in test listings and failures.
inline void PrintTo(const Config& c, std::ostream* os) {
  *os << bits::name(c.layout);
  if (bits::is_wgmma(c.layout)) *os << " box_rows " << c.box_rows;
}
inline void PrintTo(const Size& s, std::ostream* os) {
  *os << s.rows << "x" << s.k;
  if (s.k_segment) *os << " segments " << s.k_segment_valid << "/" << s.k_segment;
}

inline bits::BitMatrix make(const Config& c, const Size& s) {
  bits::BitMatrix m;
  m.layout = c.layout;
  m.rows = s.rows;
  m.k = s.k;
  m.box_rows = c.box_rows;
  m.k_segment = s.k_segment;
  m.k_segment_valid = s.k_segment_valid;
  return m;
}

inline std::string config_name(const Config& c) {
  std::string n = bits::name(c.layout);
  if (bits::is_wgmma(c.layout)) n += "_b" + std::to_string(c.box_rows);
  return n;
}
inline std::string size_name(const Size& s) {
  std::string n = std::to_string(s.rows) + "x" + std::to_string(s.k);
  if (s.k_segment) n += "_seg" + std::to_string(s.k_segment_valid) + "of" + std::to_string(s.k_segment);
  return n;
}

// Every config crossed with `sizes`, and their test names.
inline std::vector<LayoutParam> layout_params(const std::vector<Size>& sizes) {
  std::vector<LayoutParam> v;
  for (const Config& c : all_configs())
    for (const Size& s : sizes) v.emplace_back(c, s);
  return v;
}
inline std::string layout_param_name(const ::testing::TestParamInfo<LayoutParam>& p) {
  return config_name(std::get<0>(p.param)) + "_" + size_name(std::get<1>(p.param));
}

// The valid-bit mask of the word at index w: what an all-ones input packs to.
inline uint32_t valid_mask_of_word(const bits::BitMatrix& m, int64_t w) {
  const bits::WordCoord c = m.coords_of_word(w);
  return c.row < m.rows ? m.word_mask(c.kw) : 0u;
}

// `packed` with every padding bit set: garbage that converters must mask off.
inline std::vector<uint32_t> with_dirty_padding(std::vector<uint32_t> packed, const bits::BitMatrix& m) {
  for (int64_t w = 0; w < m.words(); ++w) packed[static_cast<size_t>(w)] |= ~valid_mask_of_word(m, w);
  return packed;
}

}  // namespace btc::test
