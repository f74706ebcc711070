// The CPU reference forward: naive loops on +-1 integers, written from the
// semantics in net/model.h and independently of every kernel (no bit
// packing, no popcount). The GPU runner must equal it exactly, layer by layer.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "net/model.h"
#include "net/weights.h"

namespace btc::net {

struct ReferenceLayer {
  // batch x conv_out (NHWC), the integer each threshold sees: z plus the
  // added residual (a bfc: batch x out).
  std::vector<int32_t> y;
  // batch x out (NHWC) +-1 values after the threshold and any max-pool;
  // empty for the float-output layer.
  std::vector<int8_t> act;
  // float-output layer: batch x classes, BN(y) as bconv::batch_norm_f32
  // (an fc: float(half(acc + bias))).
  std::vector<float> logits;
  // half-output layer (conv, bconv out=half): batch x out (NHWC, after any
  // pool) fp16 values as float; `act` then holds their signs (v >= 0 -> +1)
  // and `y` (bconv) the int32 z.
  std::vector<float> half;
  // conv layers: per element of `half`, how far an implementation that sums
  // the same fp32 products in another order (cuDNN, tensor cores) may be
  // from it (docs/models.md "Tolerance of reordered real layers"); empty
  // for every other op.
  std::vector<float> half_bound;
  // an fc: per logit, the same bound for a GEMM that sums in another order (cuBLAS).
  std::vector<float> logits_bound;
};

// Called after each layer with its result, which it may overwrite: a test
// puts the GPU's outputs there, so each layer is checked on the inputs the
// GPU layer read (a reordered real layer's last-bit differences would
// otherwise flip signs downstream).
using LayerHook = std::function<void(int layer, ReferenceLayer& result)>;

// The stem's input: q = clamp(rint(x / input_scale), -127, 127), ties to even.
int8_t quantize_input(float x, float input_scale);

// images: batch x C x H x W fp32 (NCHW, PyTorch's order).
std::vector<ReferenceLayer> reference_forward(const Model& m, const Weights& w, const std::vector<float>& images,
                                              int batch, const LayerHook& after_layer = {});

// The 5 best classes per image, best first (ties: the lower class index).
std::vector<std::vector<int>> top5(const std::vector<float>& logits, int batch, int classes);

}  // namespace btc::net
