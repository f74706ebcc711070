// Operand shapes as the blocked kernels read them. Host and device (plain
// C++ too: the BTC_BITS_HD qualifiers of formats/layout.h).
#pragma once
#include "formats/layout.h"

namespace btc::tile {

// The wgmma layouts' boxes are as tall as the block tile (a box is
// contiguous, so wgmma reads a whole operand through one descriptor and a
// smaller block never straddles boxes); other layouts have fixed boxes.
BTC_BITS_HD constexpr int box_rows_for(bits::Layout l, int block_rows) {
  return bits::is_wgmma(l) ? block_rows : bits::kDefaultBoxRows;
}

// A rows x k matrix in layout l, as blocks of `block_rows` rows tile it.
BTC_BITS_HD inline bits::BitMatrix shape(bits::Layout l, int rows, int k, int block_rows) {
  bits::BitMatrix m{};
  m.layout = l;
  m.rows = rows;
  m.k = k;
  m.box_rows = box_rows_for(l, block_rows);
  return m;
}

BTC_BITS_HD constexpr int round_up(int x, int m) { return (x + m - 1) / m * m; }

// An operand of a blocked BMM: rows padded to whole blocks (extra rows are
// computed and dropped by the epilogue), the stored K padded with zero bits
// to a multiple of block_k (one k segment, where the layout's own box does
// not already pad that far); dot products use the true K.
BTC_BITS_HD inline bits::BitMatrix operand_shape(bits::Layout l, int rows, int k, int block_rows, int block_k) {
  bits::BitMatrix m = shape(l, round_up(rows, block_rows), k, block_rows);
  if (k % block_k != 0 && block_k > bits::box_k_of(l)) {
    m.k_segment = round_up(k, block_k);
    m.k_segment_valid = k;
  }
  return m;
}

}  // namespace btc::tile
