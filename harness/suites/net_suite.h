#pragma once
#include "harness/core/suite.h"

namespace btc {
// `btcbench sweep net`: every model of models/ (but the test model) at
// batch 1 ... 1024, on the tensor-core designs and on software popcount:
// images/s and latency (median, p99) from CUDA-graph replays, the DRAM floor
// of every step, and a per-layer breakdown in a separate run.
Suite net_suite();
}  // namespace btc
