// The batch rule both per-shape selections (BConv: kernels/bconv/bconv_selection.h,
// BMM: kernels/bmm/bmm_selection.h) apply to their generated rows: among the
// rows of a layer's shape and output, the one of the largest batch <= the
// layer's, else the one of the smallest batch. The sweeps time a few batches
// (1, 16, 64, 256); a layer between two takes the choice measured below it.
#pragma once

#include <cstddef>

namespace btc::config {

// nullptr where no row matches. Matches: bool(const Row&); BatchOf: int(const Row&).
template <class Row, class Matches, class BatchOf>
const Row* row_for_batch(const Row* rows, size_t count, int batch, Matches matches, BatchOf batch_of) {
  const Row* below = nullptr;
  const Row* smallest = nullptr;
  for (size_t i = 0; i < count; ++i) {
    const Row& row = rows[i];
    if (!matches(row)) continue;
    const int b = batch_of(row);
    if (b <= batch && (below == nullptr || b > batch_of(*below))) below = &row;
    if (smallest == nullptr || b < batch_of(*smallest)) smallest = &row;
  }
  return below != nullptr ? below : smallest;
}

}  // namespace btc::config
