// The layout sweep: one BMM tile loop (global -> shared -> fragments -> b1
// MMA) over each bit-packing layout, with each instruction engine the arch
// has. C (M x N int32) = popc(A op B^T) summed over K, A: M x K, B: N x K bits.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "formats/layout.h"
#include "harness/core/code_target.h"

namespace btc {

// An engine is how fragments reach the tensor core:
//   wmma_xor / wmma_and  WMMA 8x8x128 via load_matrix_sync (row-stride layouts only)
//   mma_and              mma.sync m16n8k256 AND; fragments by ldmatrix, or one
//                        16-byte (A) / 8-byte (B) load per lane from the
//                        fragment-native layouts
//   wgmma_and            wgmma m64n128k256 AND, both operands by shared-memory descriptor
struct LayoutCase {
  std::string engine;    // wmma_xor | wmma_and | mma_and | wgmma_and
  bits::Layout a, b;     // B differs from A only for the fragment-native pair
  int block_m, block_n;  // C tile of one block
  int threads;
  int min_sm;
  bool needs_sm90a;
  std::string name() const;  // "<engine>/<layout>", the layout named by A
};
const std::vector<LayoutCase>& layout_cases();

// Block K slab in bits: 1024 (one 128-byte row), the widest box (swizzle128).
inline constexpr int kLayoutSlabK = 1024;

struct LayoutProblem {
  int m = 0, n = 0, k = 0;  // multiples of the block tile and of kLayoutSlabK
};

bits::BitMatrix layout_a_shape(const LayoutCase& c, const LayoutProblem& p);
bits::BitMatrix layout_b_shape(const LayoutCase& c, const LayoutProblem& p);
// Bytes one launch moves through global memory by construction: every block
// reads its A and B slabs once per K slab, and writes its C tile.
double layout_bytes_moved(const LayoutCase& c, const LayoutProblem& p);
// "" when the case runs on this device/binary; else why not.
std::string layout_skip_reason(const LayoutCase& c, const CodeTarget& code);

// d_a, d_b packed in the case's layouts (formats/), d_c: M x N int32 row-major.
void launch_layout_bmm(const LayoutCase& c, const LayoutProblem& p, const uint32_t* d_a, const uint32_t* d_b,
                       int32_t* d_c, cudaStream_t s);

}  // namespace btc
