#include "kernels/bmm/bmm_selection.h"

#include <iterator>

#include "kernels/config/selection_lookup.h"
#include "kernels/generated/bmm_selection_sm90.h"

namespace btc::bmm {

Selection selected_design(const Problem& p, SelectedOutput out, int code_arch) {
  if (code_arch != 90) return {};  // the arches a selection was generated for (a bmm sweep on that GPU)
  const SelectedBmm* pick = config::row_for_batch(
      generated::sm90::kSelection, std::size(generated::sm90::kSelection), p.m,
      [&](const SelectedBmm& row) { return row.n == p.n && row.k == p.k && row.out == out; },
      [](const SelectedBmm& row) { return row.m; });
  if (pick == nullptr) return {};
  return {pick->design, pick->m};
}

}  // namespace btc::bmm
