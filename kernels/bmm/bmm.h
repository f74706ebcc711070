// Production BMM: C = A * B^T over +-1 values stored as bits (bit 1 = +1,
// bit 0 = -1; formats/ packs them). A: M x K, B: N x K, both in a layout of
// formats/layout.h. Every design computes the same function:
//   dot(i, j) = sum_k a_ik * b_jk = K - 2 popc(a XOR b)                 (XOR form)
//             = K - 2 popc(a) - 2 popc(b) + 4 popc(a AND b)            (AND form)
// with K the true (logical) K; padding bits are zero in both operands.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/layout.h"
#include "harness/core/code_target.h"
#include "kernels/config/bmm_config.h"

namespace btc::bmm {

// What a design writes.
//   kInt32: C[i * ldc + j] = dot(i, j), int32 row-major, ldc = N.
//   kBits:  the fused epilogue of a binarized layer (a folded batch norm):
//           bit (i, j) = dot(i, j) >= threshold[j], or dot(i, j) <= threshold[j]
//           for a column whose flip bit is set (negative batch-norm scale),
//           packed into `bits_shape` (rows = M, k = N) - the layout the next
//           layer reads as its A.
//   kHalf:  a Bi-Real layer's batch norm and fp16 shortcut (BConv designs
//           whose writes_half() is true; docs/models.md "bconv out=half"):
//           y(i, j) = half(fmaf(scale[j], dot, shift[j]) + shortcut(i, j)),
//           the add only with a shortcut, fp16 row-major M x N, and its signs
//           (y >= 0, -0 included) packed into `bits_shape`, row_u32 with N a
//           multiple of 32.
enum class Epilogue { kInt32, kBits, kHalf };

struct Problem {
  int m = 0, n = 0, k = 0;
};

struct Operands {
  const uint32_t* a = nullptr;  // device, packed as a_shape
  const uint32_t* b = nullptr;  // device, packed as b_shape
  bits::BitMatrix a_shape, b_shape;
};

struct Output {
  Epilogue epilogue = Epilogue::kInt32;
  int32_t* c = nullptr;              // kInt32: M x N
  uint32_t* bits = nullptr;          // kBits: packed as bits_shape
  bits::BitMatrix bits_shape;        // kBits: rows = M, k = N
  const int32_t* threshold = nullptr;  // kBits: N per-column thresholds
  // kBits, optional: N bits packed 32 per word (bit j of word j / 32);
  // set = the comparison is dot <= threshold. nullptr = none flipped.
  const uint32_t* flip = nullptr;
  // kHalf (fp16 values as their 16 bits: no cuda_fp16.h in the interface);
  // also bits and bits_shape above.
  uint16_t* half = nullptr;                // M x N
  const uint16_t* shortcut = nullptr;      // M x N, or nullptr: none
  const float* scale = nullptr;            // N
  const float* shift = nullptr;            // N
};

// The flip bit of column j (device and host).
__host__ __device__ inline bool flipped(const Output& o, int j) {
  return o.flip != nullptr && ((o.flip[j / 32] >> (j % 32)) & 1u);
}
// The fused bit of one dot product, by definition (the per-element paths).
__host__ __device__ inline bool fused_bit(const Output& o, int j, int32_t dot) {
  return flipped(o, j) ? dot <= o.threshold[j] : dot >= o.threshold[j];
}

// Warp-level instructions one run() issues on the tensor pipes, as a
// design's tiling implies: CUPTI's sm__inst_executed_pipe_tensor_op_imma.sum
// (mma.sync and WMMA, b1 XOR x atom::b1_xor_tensor_insts; on GH100 also
// every b1 wgmma) and sm__inst_executed_pipe_tensor_op_gmma.sum (wgmma,
// counted per warp: 4 per warpgroup instruction). tests/gpu/test_tensor_counts_gpu.cpp holds every
// design to it. BConv designs report the same.
struct TensorInsts {
  double imma = 0, gmma = 0;
};

// A BMM design: how it wants its operands laid out and how it runs. Designs
// are variants of a few kernels described by data (instruction, tile,
// layout, stages), not copied kernels.
class Design {
 public:
  virtual ~Design() = default;
  virtual std::string name() const = 0;        // e.g. "mma_and_frag_s4"
  virtual std::string family() const = 0;      // btc_wmma | mma_and | wgmma_and | popc | cublas
  virtual bool tensor_core() const = 0;
  // "" if it runs on the code target (the device and the binary's pass for
  // it: harness/core/code_target.h); else why not.
  virtual std::string skip_reason(const CodeTarget& code) const = 0;
  // The generated configuration its kernel is built from (nullptr for the
  // baselines), that configuration's arch (75, 80 or 90; 0 for none), and
  // whether it is a candidate analysis/select ranks (BTC_BMM_CANDIDATES builds).
  virtual const BmmConfig* config() const { return nullptr; }
  virtual int config_arch() const { return 0; }
  virtual bool candidate() const { return false; }
  // The operand shapes it reads (layout, padding) for a problem.
  virtual bits::BitMatrix a_shape(const Problem& p) const = 0;
  virtual bits::BitMatrix b_shape(const Problem& p) const = 0;
  // Scratch bytes it needs (row popcounts, unpacked operands for cuBLAS, ...).
  virtual size_t workspace_bytes(const Problem& p) const = 0;
  // One-time, untimed per problem: e.g. unpack bits to int8 for cuBLAS.
  virtual void prepare(const Problem& p, const Operands& in, void* workspace, cudaStream_t s) const = 0;
  // The timed part. Throws std::invalid_argument on shapes it cannot run.
  virtual void run(const Problem& p, const Operands& in, const Output& out, void* workspace,
                   cudaStream_t s) const = 0;
  // What run() issues on the tensor pipes for p on a device of compute
  // capability device_sm (the SASS the driver runs there); nullopt where
  // nothing implies it (a library's own kernels).
  virtual std::optional<TensorInsts> tensor_insts(const Problem& p, int device_sm) const = 0;
};

// Every design this build has, in a stable order.
const std::vector<std::unique_ptr<Design>>& designs();
const Design* find_design(const std::string& name);

// CPU reference (any layouts): dot products, and the fused epilogue.
std::vector<int32_t> reference_dots(const Problem& p, const std::vector<uint32_t>& a, const bits::BitMatrix& a_shape,
                                    const std::vector<uint32_t>& b, const bits::BitMatrix& b_shape);
// flip: empty, or N flags (1 = the column's bit is dot <= threshold).
std::vector<uint32_t> reference_bits(const Problem& p, const std::vector<int32_t>& dots,
                                     const std::vector<int32_t>& threshold, const bits::BitMatrix& bits_shape,
                                     const std::vector<uint8_t>& flip = {});

}  // namespace btc::bmm
