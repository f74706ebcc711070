// The generated BConv selection as the runner looks it up, without a GPU:
// every row names a registered design of its arch and is found again from its
// own problem; between the swept batches the largest batch below wins.
#include <gtest/gtest.h>

#include <string>

#include "kernels/bconv/bconv.h"
#include "kernels/bconv/bconv_selection.h"
#include "kernels/generated/bconv_selection_sm90.h"

namespace btc::bconv {
namespace {

Problem problem_of(const SelectedDesign& row, int n) {
  Problem p;
  p.n = n;
  p.h = p.w = row.hw;
  p.c = row.c;
  p.k = row.k;
  p.r = p.s = row.rs;
  p.stride = row.stride;
  p.pad = row.pad;
  return p;
}

TEST(BconvSelection, EveryRowIsARegisteredTensorCoreDesignFoundFromItsProblem) {
  ASSERT_GT(std::size(generated::sm90::kSelection), 0u);
  for (const SelectedDesign& row : generated::sm90::kSelection) {
    const Design* d = find_design(row.design);
    ASSERT_NE(d, nullptr) << row.design << " is not in the registry";
    EXPECT_TRUE(d->tensor_core()) << row.design;
    EXPECT_TRUE(d->config_arch() == 90 || d->config_arch() == 80) << row.design;
    const Problem p = problem_of(row, row.n);
    EXPECT_EQ(check_problem(p), "") << row.design;
    const Selection s = selected_design(p, row.int32_out, 90);
    EXPECT_EQ(s.design, row.design) << row.hw << "x" << row.c << " k" << row.k << " batch " << row.n
                                    << (row.int32_out ? " int32" : " bits");
    EXPECT_EQ(s.batch, row.n);
  }
}

TEST(BconvSelection, BetweenBatchesTheLargestBelowElseTheSmallest) {
  const SelectedDesign& first = generated::sm90::kSelection[0];
  int smallest = 1 << 30, largest = 0;
  for (const SelectedDesign& row : generated::sm90::kSelection)
    if (row.hw == first.hw && row.c == first.c && row.k == first.k && row.rs == first.rs &&
        row.stride == first.stride && row.pad == first.pad && row.int32_out == first.int32_out) {
      smallest = std::min(smallest, row.n);
      largest = std::max(largest, row.n);
    }
  ASSERT_LT(smallest, largest) << "the first shape was swept at one batch only";
  EXPECT_EQ(selected_design(problem_of(first, largest * 4), first.int32_out, 90).batch, largest);
  const int below_largest = selected_design(problem_of(first, largest - 1), first.int32_out, 90).batch;
  EXPECT_LT(below_largest, largest);
  EXPECT_GE(below_largest, smallest);
  if (smallest > 1) {
    EXPECT_EQ(selected_design(problem_of(first, 1), first.int32_out, 90).batch, smallest);
  }
}

TEST(BconvSelection, EachOutputHasItsOwnRows) {
  int bits = 0, int32 = 0;
  for (const SelectedDesign& row : generated::sm90::kSelection) (row.int32_out ? int32 : bits) += 1;
  EXPECT_GT(bits, 0);
  EXPECT_GT(int32, 0);
  // A row of one output is not found under the other where the two differ.
  for (const SelectedDesign& row : generated::sm90::kSelection) {
    const Selection other = selected_design(problem_of(row, row.n), !row.int32_out, 90);
    if (other.design.empty()) continue;  // the sweep ran that output elsewhere only
    EXPECT_EQ(other.batch, row.n);
  }
}

TEST(BconvSelection, NoRowForAnotherShapeOrArch) {
  const SelectedDesign& first = generated::sm90::kSelection[0];
  Problem p = problem_of(first, first.n);
  EXPECT_EQ(selected_design(p, first.int32_out, 80).design, "");  // selections exist for the arches swept: sm_90
  EXPECT_EQ(selected_design(p, first.int32_out, 75).design, "");
  p.c += 32;
  EXPECT_EQ(selected_design(p, first.int32_out, 90).design, "");
  p = problem_of(first, first.n);
  p.pad = 1 - first.pad;
  EXPECT_EQ(selected_design(p, first.int32_out, 90).design, "");
}

}  // namespace
}  // namespace btc::bconv
