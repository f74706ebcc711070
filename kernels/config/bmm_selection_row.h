// One row of a generated BMM per-shape selection (kernels/generated/bmm_selection_sm<arch>.h):
// the problem M x N x K (batch x outputs x input bits of a binary FC layer)
// with one output, and the registry name of the design the `bmm` sweep found
// fastest for it.
#pragma once

namespace btc::bmm {

// The output a row was ranked on: the fused bits epilogue, or int32 (where
// the runner keeps the pre-activation: a float head, a residual).
enum class SelectedOutput { kBits, kInt32 };

struct SelectedBmm {
  int m, n, k;
  SelectedOutput out;
  const char* design;
};

}  // namespace btc::bmm
