// The per-word bodies of the GPU packers (pack_gpu.cu runs one thread per
// destination word through these), host and device, so the CPU tests run the
// very code the kernels run against the CPU packers.
#pragma once
#include <cstdint>

#include "formats/layout.h"

namespace btc::bits {

// Word w of m packed from x (m.rows x m.k row-major): bit = (x >= 0); padding 0.
template <class T>
BTC_BITS_HD inline uint32_t pack_word(const T* __restrict__ x, const BitMatrix& m, int64_t w) {
  const WordCoord c = m.coords_of_word(w);
  if (c.row >= m.rows) return 0u;
  const BitSpan sp = m.word_span(c.kw);
  const T* p = x + static_cast<int64_t>(c.row) * m.k + sp.first;
  uint32_t word = 0;
  for (int j = 0; j < sp.count; ++j) word |= static_cast<uint32_t>(p[j] >= T(0)) << j;
  return word;
}

// Word w of d converted from src in layout s (same rows and k); same_map =
// same_k_map(s, d): a masked word copy, else a gather bit by bit. Padding 0.
BTC_BITS_HD inline uint32_t convert_word(const uint32_t* __restrict__ src, const BitMatrix& s, const BitMatrix& d,
                                         int64_t w, bool same_map) {
  const WordCoord c = d.coords_of_word(w);
  if (c.row >= d.rows) return 0u;
  if (same_map) return c.kw < d.used_kwords() ? src[s.word_index(c.row, c.kw)] & d.word_mask(c.kw) : 0u;
  const BitSpan sp = d.word_span(c.kw);
  uint32_t word = 0;
  for (int j = 0; j < sp.count; ++j) {
    const BitLocation loc = s.locate(c.row, sp.first + j);
    word |= ((src[loc.word] >> loc.bit) & 1u) << j;
  }
  return word;
}

}  // namespace btc::bits
