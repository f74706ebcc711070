#pragma once
#include "harness/core/json.h"
#include "harness/core/suite.h"
#include "kernels/config/bmm_config.h"

namespace btc {
// `btcbench sweep bmm`: every BMM design and baseline the GPU supports, on
// square sizes and BNN fully-connected shapes, int32 and fused 1-bit output.
Suite bmm_suite();
// A generated configuration's fields as the results' forms[name].config
// (what analysis/select reads back); the bconv sweep records its designs' too.
json::Value bmm_config_json(const bmm::BmmConfig& c);
}  // namespace btc
