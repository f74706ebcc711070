// The BMM per-shape selection as the network runner reads it: per problem,
// the design `analysis.select.bmm_shapes` found fastest in a `bmm` sweep
// (kernels/generated/bmm_selection_sm<arch>.{h,md}, generated, not edited).
// Each design's tile is the generated configuration's (bmm_generated.h);
// this picks the design per shape.
#pragma once

#include <string>

#include "kernels/bmm/bmm.h"
#include "kernels/config/bmm_selection_row.h"

namespace btc::bmm {

struct Selection {
  std::string design;  // "" where the selection has no row for the problem
  int m = 0;           // the M (batch) of the row it took
};

// The selection's design for p with output `out` on code built for
// code_arch: among the rows of p's N, K and output, the one of the largest
// M <= p.m, else of the smallest M (kernels/config/selection_lookup.h). No
// such row, or no selection for the arch: "".
Selection selected_design(const Problem& p, SelectedOutput out, int code_arch);

}  // namespace btc::bmm
