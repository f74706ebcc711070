// tile::split_k_shares, the rule the split-K BConv designs launch with
// (kernels/tile/split_k_rule.h): where it splits, by how much, and its bounds.
#include <gtest/gtest.h>

#include <algorithm>

#include "kernels/tile/split_k_rule.h"

namespace btc {
namespace {

using tile::split_k_shares;

TEST(SplitKRule, OneShareWhereTheTilesFillTheSms) {
  EXPECT_EQ(split_k_shares(132, 18, 132), 1);
  EXPECT_EQ(split_k_shares(6272, 3, 132), 1);  // 56^2 x 64 at batch 256, 128-row tiles
  EXPECT_EQ(split_k_shares(0, 18, 132), 1);
}

TEST(SplitKRule, ResNet18AtBatch1On132Sms) {
  // 64 x 64 tiles, 256-bit slabs: K slabs = 9 * C / 256.
  EXPECT_EQ(split_k_shares(1 * 8, 18, 132), 9);   // 7^2 x 512: 8 tiles, bounded by 2 slabs a share
  EXPECT_EQ(split_k_shares(4 * 4, 9, 132), 4);    // 14^2 x 256: 16 tiles, 9 slabs
  EXPECT_EQ(split_k_shares(13 * 2, 5, 132), 2);   // 28^2 x 128: 26 tiles, 4.5 -> 5 slabs
  EXPECT_EQ(split_k_shares(49 * 1, 3, 132), 1);   // 56^2 x 64: 3 slabs, no share of 2 twice
}

TEST(SplitKRule, EnoughBlocksForTheSmsWithinTheBounds) {
  for (int sms : {40, 80, 108, 132})
    for (int64_t tiles = 1; tiles < sms; ++tiles)
      for (int ktiles = 1; ktiles <= 200; ++ktiles) {
        const int s = split_k_shares(tiles, ktiles, sms);
        ASSERT_GE(s, 1);
        ASSERT_LE(s, 16);
        ASSERT_TRUE(s == 1 || ktiles / s >= 2) << tiles << " tiles, " << ktiles << " slabs: " << s << " shares";
        // Fewer shares only where a bound binds: slabs or the cap.
        if (tiles * s < sms) {
          ASSERT_TRUE(s == 16 || s == std::max(1, ktiles / 2)) << tiles << " " << ktiles << " " << s;
        }
        // No more shares than one block an SM needs.
        ASSERT_LT(tiles * (s - 1), sms);
      }
}

TEST(SplitKRule, ForcedSharesAtMostOneASlab) {
  EXPECT_EQ(split_k_shares(1000, 18, 132, 7), 7);
  EXPECT_EQ(split_k_shares(8, 3, 132, 7), 3);
  EXPECT_EQ(split_k_shares(8, 1, 132, 2), 1);
  tile::SplitKRule rule;
  rule.max_splits = 4;
  EXPECT_EQ(split_k_shares(1, 100, 132, 0, rule), 4);
}

TEST(SplitKRule, BlocksPerSmAimsAtThatManyBlocksAnSm) {
  tile::SplitKRule two;
  two.blocks_per_sm = 2;
  two.max_splits = 8;
  // 64 x 4096 x 25088 in 64 x 128 tiles of 512-bit slabs: 32 tiles, 49 slabs.
  EXPECT_EQ(split_k_shares(32, 49, 132), 5);
  EXPECT_EQ(split_k_shares(32, 49, 132, 0, two), 8);  // 9 wanted, the cluster's 8 at most
  two.max_splits = 16;
  EXPECT_EQ(split_k_shares(32, 49, 132, 0, two), 9);
  // Tiles between one and two an SM: one block an SM needs no shares, two do.
  EXPECT_EQ(split_k_shares(200, 49, 132), 1);
  EXPECT_EQ(split_k_shares(200, 49, 132, 0, two), 2);
  EXPECT_EQ(split_k_shares(264, 49, 132, 0, two), 1);
  // A share of one slab where the rule allows it: 1 x 4096 x 4096, 8 slabs.
  two.min_slabs_per_split = 1;
  EXPECT_EQ(split_k_shares(32, 8, 132, 0, two), 8);
  EXPECT_EQ(split_k_shares(32, 8, 132), 4);
}

TEST(SplitKRule, ForcingIsOneSettingForEveryDesignAndClears) {
  EXPECT_EQ(tile::forced_split_k_shares(), 0);
  EXPECT_FALSE(tile::forced_split_k_global_sums());
  tile::force_split_k(7, true);
  EXPECT_EQ(tile::forced_split_k_shares(), 7);
  EXPECT_TRUE(tile::forced_split_k_global_sums());
  tile::force_split_k(-3);  // negative counts are "not forced"
  EXPECT_EQ(tile::forced_split_k_shares(), 0);
  EXPECT_FALSE(tile::forced_split_k_global_sums());
}

}  // namespace
}  // namespace btc
