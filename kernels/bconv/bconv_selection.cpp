#include "kernels/bconv/bconv_selection.h"

#include <iterator>

#include "kernels/config/selection_lookup.h"
#include "kernels/generated/bconv_selection_sm90.h"

namespace btc::bconv {

namespace {

struct Table {
  const SelectedDesign* rows = nullptr;
  size_t count = 0;
};

// The arches a selection was generated for (a bconv sweep on that GPU).
Table table_for(int code_arch) {
  if (code_arch == 90) return {generated::sm90::kSelection, std::size(generated::sm90::kSelection)};
  return {};
}

}  // namespace

Selection selected_design(const Problem& p, SelectedOutput out, int code_arch) {
  const Table t = table_for(code_arch);
  const SelectedDesign* pick = config::row_for_batch(
      t.rows, t.count, p.n,
      [&](const SelectedDesign& row) {
        return row.hw == p.h && row.hw == p.w && row.c == p.c && row.k == p.k && row.rs == p.r && row.rs == p.s &&
               row.stride == p.stride && row.pad == p.pad && row.out == out;
      },
      [](const SelectedDesign& row) { return row.n; });
  if (pick == nullptr) return {};
  return {pick->design, pick->n};
}

}  // namespace btc::bconv
