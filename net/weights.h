// A model's parameters: +-1 weights and batch-norm statistics per layer,
// seeded random (the default: a run needs no download) or read from a
// safetensors file named as docs/weights.md says. Pure C++, no CUDA.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "net/model.h"

namespace btc::net {

struct LayerWeights {
  // +-1 (int8). stem, bconv: [out][kernel][kernel][C] (KRSC, C of the input).
  // bfc: [out][in], `in` in the order the layer reads its input: (h, w, c) of
  // the NHWC activation, or (c, h, w) for a bfc on the image (NCHW flatten).
  std::vector<int8_t> w;
  std::vector<float> gamma, beta, mean, var;  // [out], eval batch norm
  // conv, fc (real-valued layers): half-representable fp32 weights, in the
  // layout of `w` (conv KRSC; fc [out][in], in = (h, w, c) of its input, or
  // C after prepool=avg); `w` is empty. fc: `bias` [out], no batch norm.
  std::vector<float> wf, bias;
};

struct Weights {
  std::string source;  // "random(seed=N)" or the file path
  std::vector<LayerWeights> layers;  // one per model layer
};

// Every weight and statistic drawn from a generator seeded by `seed` and the
// layer's name (so a layer's weights do not change when another is added).
// Batch-norm statistics are centred on the layer's value scale so outputs are
// neither all +1 nor all -1, and about one channel in eight has gamma < 0
// (the flipped comparison).
Weights random_weights(const Model& m, uint64_t seed);

// A seeded batch of images for runs without --input: batch x C x H x W
// fp32 (NCHW), N(0, 1) from std::mt19937_64(seed).
std::vector<float> random_images(const Model& m, int batch, uint64_t seed);

// The folded batch norm of layer i, shared by every implementation so they
// agree bit for bit: per channel the exact integer threshold on y and its
// flip (bconv::fold_batch_norm over [-value_bound, value_bound]).
struct FoldedLayer {
  std::vector<int32_t> threshold;
  std::vector<uint8_t> flip;  // 1: bit = y <= threshold
};
FoldedLayer fold_layer(const Model& m, const Weights& w, int i);

// The batch norm of a half-output layer (conv, bconv out=half) as one fp32
// affine per channel, shared by every implementation:
// scale = gamma / sqrtf(var + eps), shift = beta - mean * scale.
struct AffineLayer {
  std::vector<float> scale, shift;
};
AffineLayer fold_affine(const Model& m, const Weights& w, int i);

// IEEE fp16 (binary16) of an fp32, round to nearest even (overflow: +-inf),
// and back; the CPU's half arithmetic, the GPU's __float2half_rn.
uint16_t float_to_half_bits(float x);
float half_bits_to_float(uint16_t h);
inline float round_half(float x) { return half_bits_to_float(float_to_half_bits(x)); }

}  // namespace btc::net
