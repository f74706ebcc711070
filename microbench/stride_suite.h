#pragma once
#include "harness/core/suite.h"

namespace btc {
// `btcbench sweep stride`: fragment-load throughput against the row stride
// (ldm) of the matrix it reads, per load path and memory space, alone and
// feeding the b1 MMA, with the memory counters that explain it.
Suite stride_suite();
}  // namespace btc
