// Every tile constant of the tensor-core BMM designs, derived from a
// BmmConfig and checked at compile time. Plain constexpr (host compilers
// too), so tests/select can build this header against an edited generated
// configuration and see what each field changes.
#pragma once
#include <algorithm>

#include "formats/layout.h"
#include "kernels/config/bmm_config.h"

namespace btc::bmm {

// Kernels are templated on a config type, not on the config object: nvcc's
// host stubs cannot name a kernel templated on a reference.
//   struct Cfg { static constexpr const BmmConfig& c = ...; };

// The paper's design: 32 x 32 C per warp (4 x 4 WMMA 8x8 tiles), fragments
// loaded straight from global memory, block_k_bits of K per unrolled step.
template <class Cfg>
struct BtcWmmaTile {
  static constexpr int kWarpTile = 32;
  static constexpr int kBM = Cfg::c.block_m, kBN = Cfg::c.block_n;
  static constexpr int kWarpsM = kBM / kWarpTile, kWarpsN = kBN / kWarpTile;
  static constexpr int kWarps = Cfg::c.warps, kThreads = 32 * kWarps;
  static constexpr int kFrags = kWarpTile / 8;        // 4 x 4 fragments of 8 x 8 per warp
  static constexpr int kStepKw = Cfg::c.block_k_bits / 32;  // K words per main-loop step
  // Accumulator staging row stride (ints): 8 rows of a fragment store land in
  // two conflict-free wavefronts; a multiple of 4 as store_matrix_sync needs.
  static constexpr int kLdC = kBN + 8;
  static constexpr int kSmemBytes = kBM * kLdC * 4;   // + the epilogue's bits tile
  static_assert(kBM % kWarpTile == 0 && kBN % kWarpTile == 0 && kWarpsM * kWarpsN == kWarps,
                "btc_wmma: block_m/32 x block_n/32 warps of 32 x 32 tiles");
  static_assert(Cfg::c.block_k_bits % 128 == 0, "btc_wmma: K steps are whole 128-bit WMMA tiles");
  static_assert(Cfg::c.stages == 1, "btc_wmma: fragments load from global memory, no shared-memory pipeline");
  static_assert(Cfg::c.cluster_m == 1 && Cfg::c.cluster_n == 1, "btc_wmma: no clusters");
  static_assert(Cfg::c.a_layout == Cfg::c.b_layout, "btc_wmma: one layout for both operands");
};

// mma.sync m16n8k256 AND: warp tiles 64 rows tall, as wide as the block
// allows: at the b1 rate fragment reuse in registers bounds what shared
// memory must deliver (a 64 x 32 warp tile asks 192 bytes per MMA, 128 bytes
// per SM clock at the measured mma.sync peak; 64 x 64 asks 128). On the H100
// the wider tile paid only together with 1024-bit K stages (docs/findings-bmm.md).
template <class Cfg>
struct MmaTile {
  static constexpr int kBM = Cfg::c.block_m, kBN = Cfg::c.block_n, kSlabKw = Cfg::c.block_k_bits / 32;
  static constexpr int kStages = Cfg::c.stages;
  static constexpr int kBlockK = Cfg::c.block_k_bits, kWarps = Cfg::c.warps;
  static constexpr bits::Layout kLA = Cfg::c.a_layout, kLB = Cfg::c.b_layout;
  static constexpr int kWarpsM = kBM / 64, kWarpsN = kWarps / kWarpsM;
  static constexpr int kWarpM = 64, kWarpN = kBN / kWarpsN;
  static constexpr int kMI = kWarpM / 16, kNJ = kWarpN / 8;  // m16 / n8 tiles per warp
  static constexpr int kStageWords = (kBM + kBN) * kSlabKw;
  static constexpr int kSmemBytes = kStages * kStageWords * 4;
  static_assert(Cfg::c.block_k_bits % 256 == 0 && kBM % 64 == 0 && kWarps % kWarpsM == 0 &&
                    kBN % (8 * kWarpsN) == 0 && kNJ % 4 == 0 && kStages >= 2,
                "bad mma_and config");
  static_assert(Cfg::c.cluster_m == 1 && Cfg::c.cluster_n == 1, "mma_and: no clusters");
};

// wgmma AND: a feeder warpgroup and block_m/64 consumer warpgroups over an
// S-stage ring; clusters of cluster_m x cluster_n CTAs share operand blocks
// through multicast (the cluster_m CTAs of a cluster column read the same B
// block, the cluster_n of a row the same A block; each copies its share).
template <class Cfg>
struct WgTile {
  static constexpr int kBM = Cfg::c.block_m, kBN = Cfg::c.block_n, kSlabKw = Cfg::c.block_k_bits / 32;
  static constexpr int kStages = Cfg::c.stages;
  static constexpr int kConsumers = Cfg::c.warps / 4;  // consumer warpgroups, 64 rows each
  static constexpr int kBlockK = Cfg::c.block_k_bits;
  static constexpr bits::Layout kLA = Cfg::c.a_layout, kLB = Cfg::c.b_layout;
  static constexpr int kThreads = (kConsumers + 1) * 128;
  // setmaxnreg moves registers inside what the CTA holds at launch (the
  // launch bound's per-thread cap, a multiple of 8, times kThreads): the
  // feeders drop to kFeederRegs and the consumers take the rest. Asking for
  // more than the pool makes setmaxnreg.inc wait forever.
  static constexpr int kFeederRegs = 40;
  static constexpr int kLaunchRegs = (65536 / kThreads) & ~7;
  static constexpr int kConsumerRegs =
      std::min(240, ((kLaunchRegs * kThreads - 128 * kFeederRegs) / (kConsumers * 128)) & ~7);
  // ptxas compiles every branch under kLaunchRegs, whatever setmaxnreg grants
  // later: the consumers' N/2 accumulators plus descriptors must fit it
  // (512 threads: 128 registers, too few for N = 256; ptxas C7602).
  static_assert(kBN / 2 + 24 <= kLaunchRegs, "the consumers' accumulators do not fit the launch register cap");
  static constexpr int kABytes = kBM * kSlabKw * 4, kBBytes = kBN * kSlabKw * 4;
  static constexpr int kStageBytes = kABytes + kBBytes;
  static constexpr int kClusterM = Cfg::c.cluster_m, kClusterN = Cfg::c.cluster_n, kClusterSize = kClusterM * kClusterN;
  // A's row popcounts on the tensor core: each consumer warpgroup adds one
  // m64n8k256 per 256 K bits against an all-ones B, popc(a AND 1) = popc(a).
  // (Two feeder warps popcounting every A stage from shared memory measured
  // the same on squares and 9% slower on long K, where they lagged the ring.)
  static constexpr int kOnesBytes = 1024;  // 8 rows of ones at any swizzle's row pitch, 1024-aligned
  static_assert(8 * 128 <= kOnesBytes, "8 rows at the widest (128-byte) swizzle pitch");
  // Double-buffered epilogue column terms: 2 popc(b) - K (+ threshold).
  static constexpr int kTermBytes = 2 * kBN * 4;
  static constexpr int kBarriers = 2 * kStages + 4;
  static constexpr int kSmemBytes = kStages * kStageBytes + kOnesBytes + kTermBytes + kBarriers * 8 + 1024;  // + alignment
  static constexpr int kMaxSmemBytes = 232448;  // sm_90's opt-in limit per block
  static_assert(kSmemBytes <= kMaxSmemBytes, "the ring does not fit in shared memory");
  static_assert(kBM == 64 * kConsumers, "one 64-row wgmma per consumer warpgroup");
  static_assert(kBN % 32 == 0 && kBN >= 8 && kBN <= 256, "bit words are 32 columns; wgmma N is 8 .. 256");
  static_assert(kBlockK % 256 == 0 && bits::is_wgmma(kLA) && bits::is_wgmma(kLB), "wgmma reads wgmma layouts");
  static_assert(kABytes % 1024 == 0 && kBBytes % 1024 == 0, "swizzled stages start 1024-byte aligned");
  static_assert(kBlockK % bits::box_k_of(kLA) == 0 && kBlockK % bits::box_k_of(kLB) == 0,
                "a stage is whole boxes: one contiguous run per operand, stage k at k stage sizes from stage 0");
  static_assert(kClusterSize == 1 || (kClusterSize == 2 && bits::swizzle_bytes(kLA) > 0 &&
                                      bits::swizzle_bytes(kLB) > 0 && kBM % (8 * kClusterN) == 0 &&
                                      kBN % (8 * kClusterM) == 0),
                "multicast slices are whole 8-row swizzle atoms of row-contiguous (swizzled) boxes");
};

}  // namespace btc::bmm
