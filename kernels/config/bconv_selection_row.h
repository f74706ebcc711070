// One row of a generated BConv selection (kernels/generated/bconv_selection_sm<arch>.h):
// the problem (input hw x hw x c, k filters of rs x rs, stride, pad) at batch
// n with int32 or fused bits output, and the registry name of the design the
// `bconv` sweep found fastest for it.
#pragma once

namespace btc::bconv {

struct SelectedDesign {
  int n, hw, c, k, rs, stride, pad;
  bool int32_out;
  const char* design;
};

}  // namespace btc::bconv
