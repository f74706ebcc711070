#pragma once
#include "harness/core/cli.h"

namespace btc {
// 0: ran (and, with --check, every layer equal); 1: a check failed. Throws
// on bad input (model, weights, images) and NoGpuError without a GPU.
int run_network(const RunOptions& o);
}  // namespace btc
