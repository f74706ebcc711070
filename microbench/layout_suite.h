#pragma once
#include "harness/core/suite.h"

namespace btc {
// `btcbench sweep layout`: one BMM tile loop over each bit-packing layout with
// each instruction engine the arch has (TOPS, bytes moved, memory counters).
Suite layout_suite();
}  // namespace btc
