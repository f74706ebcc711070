// The generated BMM per-shape selection as the runner looks it up, without a
// GPU: every row names a registered tensor-core design and is found again
// from its own problem; between the swept batches the largest M below wins;
// a shape the sweep did not time has no row.
#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <string>

#include "kernels/bmm/bmm.h"
#include "kernels/bmm/bmm_selection.h"
#include "kernels/generated/bmm_selection_sm90.h"

namespace btc::bmm {
namespace {

TEST(BmmSelection, EveryRowIsARegisteredTensorCoreDesignFoundFromItsProblem) {
  ASSERT_GT(std::size(generated::sm90::kSelection), 0u);
  for (const SelectedBmm& row : generated::sm90::kSelection) {
    const Design* d = find_design(row.design);
    ASSERT_NE(d, nullptr) << row.design << " is not in the registry";
    EXPECT_TRUE(d->tensor_core()) << row.design;
    EXPECT_FALSE(d->candidate()) << row.design << ": a candidates build's row, not a production design";
    const Selection s = selected_design({row.m, row.n, row.k}, row.out, 90);
    EXPECT_EQ(s.design, row.design) << row.m << "x" << row.n << "x" << row.k << " output " << static_cast<int>(row.out);
    EXPECT_EQ(s.m, row.m);
  }
}

TEST(BmmSelection, BetweenBatchesTheLargestBelowElseTheSmallest) {
  const SelectedBmm& first = generated::sm90::kSelection[0];
  int smallest = 1 << 30, largest = 0;
  for (const SelectedBmm& row : generated::sm90::kSelection)
    if (row.n == first.n && row.k == first.k && row.out == first.out) {
      smallest = std::min(smallest, row.m);
      largest = std::max(largest, row.m);
    }
  ASSERT_LT(smallest, largest) << "the first shape was swept at one M only";
  EXPECT_EQ(selected_design({largest * 4, first.n, first.k}, first.out, 90).m, largest);
  const int below_largest = selected_design({largest - 1, first.n, first.k}, first.out, 90).m;
  EXPECT_LT(below_largest, largest);
  EXPECT_GE(below_largest, smallest);
  if (smallest > 1) {
    EXPECT_EQ(selected_design({1, first.n, first.k}, first.out, 90).m, smallest);
  }
}

TEST(BmmSelection, OtherShapesOutputsAndArchesHaveNoRow) {
  const SelectedBmm& first = generated::sm90::kSelection[0];
  // N and K are matched exactly: a neighbouring layer width is another regime.
  EXPECT_EQ(selected_design({first.m, first.n + 32, first.k}, first.out, 90).design, "");
  EXPECT_EQ(selected_design({first.m, first.n, first.k + 128}, first.out, 90).design, "");
  // No selection was generated for sm_75 or sm_80 code (no bmm sweep there).
  EXPECT_EQ(selected_design({first.m, first.n, first.k}, first.out, 80).design, "");
  EXPECT_EQ(selected_design({first.m, first.n, first.k}, first.out, 75).design, "");
  // Each output is looked up under its own rows.
  for (const SelectedBmm& row : generated::sm90::kSelection) {
    const SelectedOutput other = row.out == SelectedOutput::kBits ? SelectedOutput::kInt32 : SelectedOutput::kBits;
    const Selection s = selected_design({row.m, row.n, row.k}, other, 90);
    for (const SelectedBmm& twin : generated::sm90::kSelection)
      if (twin.out == other && twin.m == s.m && twin.n == row.n && twin.k == row.k) {
        EXPECT_EQ(s.design, twin.design);
      }
  }
}

}  // namespace
}  // namespace btc::bmm
