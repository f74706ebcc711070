#pragma once
#include "harness/core/suite.h"

namespace btc {
// `btcbench sweep bconv`: every BConv design and baseline the GPU supports on
// ResNet-18's binary convolution layers and the TCBNN paper's sweeps (input
// size, filter size, batch, channels), int32 and fused 1-bit output, with
// each point's DRAM floor from a measured copy bandwidth.
Suite bconv_suite();
}  // namespace btc
