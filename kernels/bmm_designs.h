// Each design family adds its variants to the registry (bmm_registry.cpp).
#pragma once
#include <memory>
#include <vector>

#include "bmm.h"

namespace btc::bmm {

using DesignList = std::vector<std::unique_ptr<Design>>;

void add_btc_wmma_designs(DesignList& out);   // the paper's design (btc_wmma.cu)
void add_mma_designs(DesignList& out);        // mma.sync m16n8k256 AND (mma_and.cu)
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

// Throws std::invalid_argument unless the operands (and the output, when
// given) have the shapes the design reads and writes.
void check_run_args(const Design& d, const Problem& p, const Operands& in, const Output* out);

}  // namespace btc::bmm
