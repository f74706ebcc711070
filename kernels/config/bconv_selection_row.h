// One row of a generated BConv selection (kernels/generated/bconv_selection_sm<arch>.h):
// the problem (input hw x hw x c, k filters of rs x rs, stride, pad) at batch
// n with one output, and the registry name of the design the `bconv` sweep
// found fastest for it.
#pragma once

namespace btc::bconv {

// The output a row was ranked on: the fused bits epilogue, int32 (where the
// runner keeps z: a residual), or half (a Bi-Real layer's fused BN + fp16
// shortcut, Epilogue::kHalf).
enum class SelectedOutput { kBits, kInt32, kHalf };

struct SelectedDesign {
  int n, hw, c, k, rs, stride, pad;
  SelectedOutput out;
  const char* design;
};

}  // namespace btc::bconv
