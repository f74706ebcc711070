// How many shares of K a split-K grid takes (tile/split_k.cuh): plain C++,
// so the CPU tests check the rule the kernels launch with.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>

namespace btc::tile {

struct SplitKRule {
  int max_splits = 16;         // shares of one tile's K, at most
  int min_slabs_per_split = 2; // a share's K slabs (pipeline stages), at least
  int blocks_per_sm = 1;       // the blocks the shares aim to put on each SM
};

// tiles: output tiles of the grid; ktiles: K slabs of a tile; sms: the
// device's SMs; forced > 0 (tests): that many shares, at most one a slab.
// Enough shares for rule.blocks_per_sm blocks an SM where the tiles alone
// fill fewer, 1 where they fill them.
inline int split_k_shares(int64_t tiles, int ktiles, int sms, int forced = 0, SplitKRule rule = {}) {
  if (forced > 0) return std::max(1, std::min(forced, ktiles));
  const int64_t slots = int64_t{sms} * std::max(1, rule.blocks_per_sm);
  if (tiles <= 0 || tiles >= slots) return 1;
  const int64_t want = (slots + tiles - 1) / tiles;
  const int64_t most = std::min<int64_t>(ktiles / std::max(1, rule.min_slabs_per_split), rule.max_splits);
  return static_cast<int>(std::max<int64_t>(1, std::min(want, most)));
}

// Tests: every split-K design (the BConv `_splitk` ones, mma_and_splitk)
// takes `splits` shares (at most one a slab; 0, the default: the rule
// above) and, with global_sums, reduces them through the workspace's sums
// even on sm_90, whose launches otherwise make a tile's shares one cluster.
namespace detail {
inline std::atomic<int> forced_splits{0};
inline std::atomic<bool> forced_global_sums{false};
}  // namespace detail
inline void force_split_k(int splits, bool global_sums = false) {
  detail::forced_splits.store(std::max(0, splits));
  detail::forced_global_sums.store(global_sums);
}
inline int forced_split_k_shares() { return detail::forced_splits.load(); }
inline bool forced_split_k_global_sums() { return detail::forced_global_sums.load(); }

}  // namespace btc::tile
