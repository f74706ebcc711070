// The BConv selection as the network runner reads it: per problem and batch,
// the design `analysis.select.bconv` found fastest in a `bconv` sweep
// (kernels/generated/bconv_selection_sm<arch>.{h,md}, generated, not edited).
#pragma once

#include <string>

#include "kernels/bconv/bconv.h"
#include "kernels/config/bconv_selection_row.h"

namespace btc::bconv {

struct Selection {
  std::string design;  // "" where the selection has no row for the problem
  int batch = 0;       // the batch of the row it took
};

// The selection's design for p with output `out` on code built for
// code_arch: among the rows of p's shape and output (any batch), the one of
// the largest batch <= p.n, else of the smallest batch
// (kernels/config/selection_lookup.h). No row for that shape and output, or
// no selection for the arch: "".
Selection selected_design(const Problem& p, SelectedOutput out, int code_arch);

}  // namespace btc::bconv
