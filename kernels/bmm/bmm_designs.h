// Each design family adds its variants to the registry (bmm_registry.cpp).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels/bmm/bmm.h"
#include "kernels/config/bmm_config.h"
#include "formats/tile_shape.h"

namespace btc::bmm {

using DesignList = std::vector<std::unique_ptr<Design>>;

void add_btc_wmma_designs(DesignList& out);   // the paper's design (btc_wmma.cu)
void add_mma_designs(DesignList& out);        // mma.sync m16n8k256 AND (mma_and.cu), plain and split-K
void add_wgmma_designs(DesignList& out);      // wgmma AND (wgmma_and.cu)
void add_popc_designs(DesignList& out);       // software popcount baselines (popc_baseline.cu)
void add_cublas_designs(DesignList& out);     // cuBLAS int8 / fp16 baselines (cublas_baseline.cpp)

// Row popcounts of a packed operand (valid bits only): the AND form's
// correction terms, computed once per operand.
void row_popcounts(const uint32_t* d_m, const bits::BitMatrix& shape, int32_t* d_popc, cudaStream_t s);

// Zeroes a kBits output when the design's grid does not cover all of its
// padded rows, so padding stays 0 (formats' rule).
void clear_uncovered_bits(const Output& out, int rows_covered, cudaStream_t s);
// The same when the grid also leaves padded words of a row (past the last
// block column) unwritten.
void clear_uncovered_bits_2d(const Output& out, int rows_covered, int words_covered, cudaStream_t s);

// Host-side launch set-up done once per (kernel, device), not per run:
// cudaFuncSetAttribute and the cluster occupancy query each cost host time
// that small problems (BNN fully connected layers) would otherwise pay on
// every call, with the GPU idle between the timed events.
//   allow_dynamic_smem: raises the kernel's dynamic shared-memory limit.
//   max_active_clusters: cudaOccupancyMaxActiveClusters of `cfg` (its
//   gridDim one cluster), after allow_dynamic_smem(cfg.dynamicSmemBytes).
//   resident_blocks: how many blocks of `threads` and `smem_bytes` the
//   device holds at once (blocks per SM x SMs), after allow_dynamic_smem:
//   the grid of a persistent kernel.
void allow_dynamic_smem(const void* kernel, int bytes);
int max_active_clusters(const void* kernel, const cudaLaunchConfig_t& cfg);
int resident_blocks(const void* kernel, int threads, int smem_bytes);

// Throws std::invalid_argument unless the operands (and the output, when
// given) have the shapes the design reads and writes.
void check_run_args(const Design& d, const Problem& p, const Operands& in, const Output* out);

// The full-precision baselines' small kernels: +-1 operands unpacked from any
// layout into int8 / half rows of `ld` elements, and a dense int32 / float C
// (ldc) turned into the design's output (int32 copy, or threshold -> bits).
void unpack_pm1_s8(const uint32_t* d_m, const bits::BitMatrix& shape, int rows, int ld, int8_t* d_out,
                   cudaStream_t s);
void unpack_pm1_f16(const uint32_t* d_m, const bits::BitMatrix& shape, int rows, int ld, void* d_out, cudaStream_t s);
void dense_epilogue_s32(const int32_t* d_c, int ldc, const Output& out, int m, int n, cudaStream_t s);
void dense_epilogue_f32(const float* d_c, int ldc, const Output& out, int m, int n, cudaStream_t s);

// The common start of a blocked design's run(): checks the arguments, and
// returns the grid of bm x bn blocks covering M x N after zeroing the fused
// output words that grid leaves unwritten.
dim3 begin_blocked_run(const Design& d, const Problem& p, const Operands& in, const Output& out, int bm, int bn,
                       cudaStream_t s);

// Designs with a fixed block tile, one layout for both operands and no
// workspace (the baselines and the paper's design): operands padded to whole
// blocks and to a multiple of k_align bits.
class FixedTileDesign : public Design {
 public:
  FixedTileDesign(std::string name, bits::Layout layout, int block_m, int block_n, int k_align)
      : name_(std::move(name)), layout_(layout), bm_(block_m), bn_(block_n), k_align_(k_align) {}
  std::string name() const override { return name_; }
  bits::BitMatrix a_shape(const Problem& p) const override {
    return tile::operand_shape(layout_, p.m, p.k, bm_, k_align_);
  }
  bits::BitMatrix b_shape(const Problem& p) const override {
    return tile::operand_shape(layout_, p.n, p.k, bn_, k_align_);
  }
  size_t workspace_bytes(const Problem&) const override { return 0; }
  void prepare(const Problem& p, const Operands& in, void*, cudaStream_t) const override {
    check_run_args(*this, p, in, nullptr);
  }

 protected:
  dim3 begin_run(const Problem& p, const Operands& in, const Output& out, cudaStream_t s) const {
    return begin_blocked_run(*this, p, in, out, bm_, bn_, s);
  }
  std::string name_;
  bits::Layout layout_;
  int bm_, bn_, k_align_;
};

// The AND-form designs: operands shaped by their generated configuration,
// and the row popcounts of the +-1 correction in the workspace - B's once in
// prepare() (the layer's weights), A's on every run (the activations).
class AndDesign : public Design {
 public:
  explicit AndDesign(const BmmConfig& c) : c_(c) {}
  bool tensor_core() const override { return true; }
  const BmmConfig* config() const override { return &c_; }
  bits::BitMatrix a_shape(const Problem& p) const override {
    return tile::operand_shape(c_.a_layout, p.m, p.k, c_.block_m, c_.block_k_bits);
  }
  bits::BitMatrix b_shape(const Problem& p) const override {
    return tile::operand_shape(c_.b_layout, p.n, p.k, c_.block_n, c_.block_k_bits);
  }
  size_t workspace_bytes(const Problem& p) const override {
    return (static_cast<size_t>(a_shape(p).padded_rows()) + b_shape(p).padded_rows()) * sizeof(int32_t);
  }
  void prepare(const Problem& p, const Operands& in, void* ws, cudaStream_t s) const override {
    check_run_args(*this, p, in, nullptr);
    row_popcounts(in.b, in.b_shape, popc_b(ws, p), s);
  }

 protected:
  // Checks, computes A's popcounts, clears uncovered output: returns the grid.
  dim3 begin_and_run(const Problem& p, const Operands& in, const Output& out, void* ws, cudaStream_t s) const {
    const dim3 grid = begin_blocked_run(*this, p, in, out, c_.block_m, c_.block_n, s);
    row_popcounts(in.a, in.a_shape, popc_a(ws), s);
    return grid;
  }
  static int32_t* popc_a(void* ws) { return static_cast<int32_t*>(ws); }
  int32_t* popc_b(void* ws, const Problem& p) const { return popc_a(ws) + a_shape(p).padded_rows(); }
  const BmmConfig& c_;
};

}  // namespace btc::bmm
