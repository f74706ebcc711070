#pragma once
#include "harness/core/suite.h"

namespace btc {
// `btcbench sweep bmm`: every BMM design and baseline the GPU supports, on
// square sizes and BNN fully-connected shapes, int32 and fused 1-bit output.
Suite bmm_suite();
}  // namespace btc
