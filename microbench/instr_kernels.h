// Host interface to the instruction microkernels. One InstrKernels object per
// instruction form, all built from the same three kernel templates.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>

#include "microbench/instr_forms.h"

namespace btc {

// Device buffers shared by every form: operand tiles big enough for the
// largest form, and the per-thread / per-block outputs.
struct InstrBuffers {
  static constexpr int kTileWords = 4096;   // 16 KiB: >= any form's M*K or N*K bits
  static constexpr int kMaxBlocks = 1024;
  static constexpr int kMaxThreads = 1024;
  uint32_t* a_tile = nullptr;               // M x K row-major operand tile
  uint32_t* b_tile = nullptr;               // N x K row-major (B column-major)
  int32_t* out = nullptr;                   // tile product / per-thread sink
  long long* clk = nullptr;                 // per block: clock64 cycles, globaltimer ns
  long long* cycles = nullptr;              // latency kernel result
  InstrBuffers();
  ~InstrBuffers();
  InstrBuffers(const InstrBuffers&) = delete;
  InstrBuffers& operator=(const InstrBuffers&) = delete;
};

struct TputLaunch {
  int blocks = 0;
  int threads_per_block = 0;  // a multiple of the form's threads_per_issue
  int ilp = 1;                // independent accumulators per issuing warp / warpgroup: 1, 2, 4, 8
  long long iters = 0;        // loop trips; each issues `ilp` instructions
};

class InstrKernels {
 public:
  virtual ~InstrKernels() = default;
  virtual const InstrForm& form() const = 0;
  // out (M x N int32, row-major) = A * B^T for one tile: the correctness path.
  virtual void tile_product(const InstrBuffers& buf, cudaStream_t s) const = 0;
  // `chain` dependent instructions (for wgmma: each committed and waited on) by
  // one warp / warpgroup; clock64 cycles of the chain land in buf.cycles[0].
  virtual void latency(const InstrBuffers& buf, int chain, cudaStream_t s) const = 0;
  virtual void throughput(const InstrBuffers& buf, const TputLaunch& l, cudaStream_t s) const = 0;
  virtual int max_ilp() const = 0;  // accumulator sets that fit in registers
  // Blocks of `threads_per_block` that fit on one SM at this ILP (0: does not fit).
  virtual int max_blocks_per_sm(int threads_per_block, int ilp) const = 0;
  static bool supports_ilp(int ilp) { return ilp == 1 || ilp == 2 || ilp == 4 || ilp == 8; }
};

// nullptr if the form has no kernels (unknown name).
const InstrKernels* instr_kernels(const std::string& form_name);

}  // namespace btc
