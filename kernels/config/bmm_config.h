// A BMM kernel variant as data. analysis/select generates one set per
// architecture (kernels/generated/bmm_config_sm{75,80,90}.h) from the sweep
// results, plus the wgmma candidates it ranks from a `bmm` sweep; the designs
// derive every tile constant from these fields (kernels/bmm/bmm_tiles.h), and
// tests/select checks that changing any field changes what is built.
#pragma once
#include "formats/layout.h"

namespace btc::bmm {

struct BmmConfig {
  bits::Layout a_layout, b_layout;  // operand layouts (formats/)
  int block_m, block_n;             // C tile of one thread block (CTA)
  int block_k_bits;                 // K bits per main-loop step / pipeline stage
  int stages;                       // shared-memory pipeline depth (1: none)
  int warps;                        // warps per block (consumer warps for wgmma)
  int cluster_m, cluster_n;         // wgmma: CTAs per cluster sharing a B block (m) / an A block (n)
                                    // by multicast; 1, 1 otherwise
};

}  // namespace btc::bmm
