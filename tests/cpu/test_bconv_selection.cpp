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
    const Selection s = selected_design(p, row.out, 90);
    EXPECT_EQ(s.design, row.design) << row.hw << "x" << row.c << " k" << row.k << " batch " << row.n
                                    << " output " << static_cast<int>(row.out);
    EXPECT_EQ(s.batch, row.n);
  }
}

TEST(BconvSelection, BetweenBatchesTheLargestBelowElseTheSmallest) {
  const SelectedDesign& first = generated::sm90::kSelection[0];
  int smallest = 1 << 30, largest = 0;
  for (const SelectedDesign& row : generated::sm90::kSelection)
    if (row.hw == first.hw && row.c == first.c && row.k == first.k && row.rs == first.rs &&
        row.stride == first.stride && row.pad == first.pad && row.out == first.out) {
      smallest = std::min(smallest, row.n);
      largest = std::max(largest, row.n);
    }
  ASSERT_LT(smallest, largest) << "the first shape was swept at one batch only";
  EXPECT_EQ(selected_design(problem_of(first, largest * 4), first.out, 90).batch, largest);
  const int below_largest = selected_design(problem_of(first, largest - 1), first.out, 90).batch;
  EXPECT_LT(below_largest, largest);
  EXPECT_GE(below_largest, smallest);
  if (smallest > 1) {
    EXPECT_EQ(selected_design(problem_of(first, 1), first.out, 90).batch, smallest);
  }
}

TEST(BconvSelection, EachOutputHasItsOwnRows) {
  int bits = 0, int32 = 0;
  for (const SelectedDesign& row : generated::sm90::kSelection) {
    if (row.out == SelectedOutput::kBits) ++bits;
    if (row.out == SelectedOutput::kInt32) ++int32;
  }
  EXPECT_GT(bits, 0);
  EXPECT_GT(int32, 0);
  // A row is found under its own output only: the bits and int32 rows of one
  // problem may name different designs, and each lookup returns its own.
  for (const SelectedDesign& row : generated::sm90::kSelection) {
    for (const SelectedOutput other : {SelectedOutput::kBits, SelectedOutput::kInt32, SelectedOutput::kHalf}) {
      if (other == row.out) continue;
      const Selection s = selected_design(problem_of(row, row.n), other, 90);
      if (s.design.empty()) continue;  // the sweep ran that output elsewhere only
      for (const SelectedDesign& twin : generated::sm90::kSelection)
        if (twin.out == other && twin.n == s.batch && twin.hw == row.hw && twin.c == row.c && twin.k == row.k &&
            twin.rs == row.rs && twin.stride == row.stride && twin.pad == row.pad) {
          EXPECT_EQ(s.design, twin.design);
        }
    }
  }
}

TEST(BconvSelection, NoRowForAnotherShapeOrArch) {
  const SelectedDesign& first = generated::sm90::kSelection[0];
  Problem p = problem_of(first, first.n);
  EXPECT_EQ(selected_design(p, first.out, 80).design, "");  // selections exist for the arches swept: sm_90
  EXPECT_EQ(selected_design(p, first.out, 75).design, "");
  p.c += 32;
  EXPECT_EQ(selected_design(p, first.out, 90).design, "");
  p = problem_of(first, first.n);
  p.pad = 1 - first.pad;
  EXPECT_EQ(selected_design(p, first.out, 90).design, "");
}

}  // namespace
}  // namespace btc::bconv
