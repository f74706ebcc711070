// A BMM kernel variant as data. formats/select_config.py generates one set
// per architecture (kernels/generated/bmm_config_sm{75,80,90}.h) from the
// sweep results; the designs instantiate their kernels from these constants.
#pragma once
#include "formats/layout.h"

namespace btc::bmm {

struct BmmConfig {
  const char* design;        // btc_wmma | mma_and | wgmma_and
  const char* instruction;   // the instr-suite form it issues, e.g. "mma_and_m16n8k256"
  bits::Layout a_layout;     // operand layouts (formats/)
  bits::Layout b_layout;
  int block_m, block_n;      // C tile of one thread block
  int block_k_bits;          // K bits per pipeline stage
  int stages;                // shared-memory pipeline depth (1: no pipelining)
  int warps;                 // warps per block (consumer warps for wgmma)
};

}  // namespace btc::bmm
