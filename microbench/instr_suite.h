#pragma once
#include "harness/core/suite.h"

namespace btc {
// `btcbench sweep instr`: latency and throughput of every b1 instruction form
// (and the s8/f16 reference rows) the GPU has, with CUPTI counters beside each.
Suite instr_suite();
}  // namespace btc
