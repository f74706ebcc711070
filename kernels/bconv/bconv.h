// Production BConv: a binary 2-D convolution over ±1 values stored as bits
// (bit 1 = +1), NHWC activations and KRSC weights with C packed into 32-bit
// words (formats/layout.h nhwc_activations / krsc_weights). Every design
// computes the function docs/bconv.md defines; the CPU reference below is
// written on ±1 integers, independently of the bit tricks the kernels use.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/layout.h"
#include "harness/core/code_target.h"
#include "kernels/bmm/bmm.h"
#include "kernels/config/bmm_config.h"

namespace btc::bconv {

// What an out-of-image tap contributes: 0 (PyTorch's zero padding of ±1
// tensors, larq pad_values = 0), or a real +1 / -1 input (larq pad_values).
enum class PadValue { kZero, kPlusOne, kMinusOne };

// One layer's shape, larq-style: a small parameter struct.
struct Problem {
  int n = 1, h = 1, w = 1, c = 1;  // input N x H x W x C
  int k = 1, r = 1, s = 1;         // K filters of R x S x C
  int stride = 1, pad = 0;         // both spatial dims
  PadValue pad_value = PadValue::kZero;

  int p() const { return (h + 2 * pad - r) / stride + 1; }  // output height
  int q() const { return (w + 2 * pad - s) / stride + 1; }  // output width
  int64_t out_pixels() const { return static_cast<int64_t>(n) * p() * q(); }  // GEMM M
  int64_t dot_bits() const { return static_cast<int64_t>(r) * s * c; }        // GEMM K
  // 2 N P Q K R S C: the TOPS convention of the paper and of cuDNN.
  double ops() const { return 2.0 * static_cast<double>(out_pixels()) * k * static_cast<double>(dot_bits()); }
};

// "" if p is a valid problem, else why not (sizes, padding, stride).
std::string check_problem(const Problem& p);

// The packed operand shapes every design reads and the fused output's.
bits::BitMatrix activation_shape(const Problem& p);  // N*H*W rows, C bits (C_pad = C rounded up to 32)
bits::BitMatrix weight_shape(const Problem& p);      // K rows, R*S*C bits, each tap in a C_pad segment
bits::BitMatrix output_bits_shape(const Problem& p); // N*P*Q rows, K bits: the next layer's activations

// The outputs are BMM's (the GEMM view: M = N*P*Q pixels, N = K channels),
// so every design shares its epilogue (kernels/bmm/bmm_epilogue.cuh):
//   kInt32: out.c, N*P*Q x K int32 row-major (NHWC);
//   kBits:  out.bits in out.bits_shape = output_bits_shape(p) (the next
//           layer's activations), bit = z >= threshold[k], or z <= threshold[k]
//           where out.flip has bit k set (negative batch-norm scale).
using bmm::Epilogue;
using bmm::Output;
using bmm::TensorInsts;

struct Operands {
  const uint32_t* x = nullptr;  // device, activation_shape
  const uint32_t* w = nullptr;  // device, weight_shape
};

class Design {
 public:
  virtual ~Design() = default;
  virtual std::string name() const = 0;    // e.g. "bconv_mma_and_sm80"
  virtual std::string family() const = 0;  // btc_wmma | mma_and | wgmma_and | popc | cudnn
  virtual bool tensor_core() const = 0;
  // "" if it runs on the code target (harness/core/code_target.h), else why not.
  virtual std::string skip_reason(const CodeTarget& code) const = 0;
  // The generated configuration its kernel is built from (nullptr for the
  // baselines) and that configuration's arch (0 for none).
  virtual const bmm::BmmConfig* config() const { return nullptr; }
  virtual int config_arch() const { return 0; }
  // "" if it runs this problem, else why not (run() then throws it).
  virtual std::string unsupported(const Problem& p) const = 0;
  // Whether run() takes a kHalf output (bmm::Epilogue): the Bi-Real layer's
  // batch norm and shortcut fused, with no int32 round trip.
  virtual bool writes_half() const { return false; }
  virtual size_t workspace_bytes(const Problem& p) const = 0;
  // Untimed, once per layer: the weights' popcounts, repacked or unpacked copies.
  virtual void prepare(const Problem& p, const Operands& in, void* workspace, cudaStream_t s) const = 0;
  // The timed part. Throws std::invalid_argument on problems it cannot run.
  virtual void run(const Problem& p, const Operands& in, const Output& out, void* workspace,
                   cudaStream_t s) const = 0;
  // What run() issues on the tensor pipes for p on a device of compute
  // capability device_sm (bmm::TensorInsts); nullopt where nothing implies it.
  virtual std::optional<TensorInsts> tensor_insts(const Problem& p, int device_sm) const = 0;
};

// Every design this build has, in a stable order (kernels/bconv_registry.cpp).
const std::vector<std::unique_ptr<Design>>& designs();

// Tests: at most this many pixel blocks per filter block for the persistent
// designs (0, the default: as many as the device holds), so that small layers
// give each block several tiles and the ring crosses tile boundaries.
void set_persistent_blocks_cap(int blocks);
int persistent_blocks_cap();
const Design* find_design(const std::string& name);

// Throws std::invalid_argument (naming the design) unless p is valid, the
// design runs it, the operands are set, and `out` (when given) is complete:
// kInt32 a buffer; kBits a buffer, thresholds and bits_shape =
// output_bits_shape(p).
void check_run_args(const Design& d, const Problem& p, const Operands& in, const Output* out);

// CPU reference on ±1 integers (x, w unpacked from the packed operands by
// their logical coordinates): z for every (n, p, q, k), NPQ x K row-major.
std::vector<int32_t> reference_dots(const Problem& p, const std::vector<uint32_t>& x, const std::vector<uint32_t>& w);
// The fused epilogue on z: packed as output_bits_shape, padding bits 0.
std::vector<uint32_t> reference_bits(const Problem& p, const std::vector<int32_t>& z,
                                     const std::vector<int32_t>& threshold, const std::vector<uint8_t>& flip);

}  // namespace btc::bconv
