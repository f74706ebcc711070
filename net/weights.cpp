#include "net/weights.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

#include "kernels/bconv/bn_threshold.h"

namespace btc::net {
namespace {

// A stable hash of the layer name (std::hash may differ between libraries).
uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

// U[0, 1) from the top 53 bits of one draw. The raw mt19937_64 stream is fixed
// by the standard, std::uniform_real_distribution's algorithm is not: this
// way the same seed gives the same weights under every standard library.
double uniform01(std::mt19937_64& gen) { return static_cast<double>(gen() >> 11) * 0x1.0p-53; }

// The spread of the stem's quantized input q per tap: 0.75 / scale, 48 at the
// default 1/64 (clamped N(0, 1) pixels give about 61: the estimate only has to
// be close, the means sit within half of it), and at most 127.
double stem_input_std(float input_scale) { return std::min(0.75 / static_cast<double>(input_scale), 127.0); }

// Per channel, the spread of y the layer's threshold sees: sqrt(K) for +-1
// inputs (times the input's spread for the stem), plus the added residual's
// own spread in quadrature where it adds (channels past its count add 0).
std::vector<std::vector<double>> value_std(const Model& m) {
  std::vector<std::vector<double>> std_y(m.layers.size());
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    const LayerShapes& sh = m.shapes[i];
    double std_z = std::sqrt(static_cast<double>(sh.dot_bits));
    if (l.op == Op::kStem) std_z *= stem_input_std(m.input_scale);
    std_y[i].assign(l.out, std_z);
    if (!l.add.empty()) {
      const auto& r = std_y[m.saver_of(l.add)];
      for (size_t c = 0; c < r.size(); ++c) std_y[i][c] = std::hypot(std_z, r[c]);
    }
  }
  return std_y;
}

}  // namespace

// Per layer, one std::mt19937_64 seeded with seed ^ fnv1a64(name), drawn in
// this order: the weights, 64 per draw (bit b of the draw -> weight b of the
// 64, set = +1); then per channel five U[0, 1) u0..u4:
//   gamma = (0.5 + u0) * sign, sign = (u1 < 1/8 ? -1 : +1), beta = u2 - 0.5,
//   mean = (u3 - 0.5 + sign * (pool=max2 ? 1 : 0)) * std_y,
//   var = (std_y * (0.7 + 0.6 u4))^2.
// A layer's draws depend only on the seed, its name, its shapes and those of
// the residual it adds: adding another layer to the model changes none.
Weights random_weights(const Model& m, uint64_t seed) {
  Weights w;
  w.source = "random(seed=" + std::to_string(seed) + ")";
  const auto std_y = value_std(m);
  w.layers.resize(m.layers.size());
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    LayerWeights& lw = w.layers[i];
    std::mt19937_64 gen(seed ^ fnv1a64(l.name));
    // out x dot_bits: KRSC for a stem or bconv (K = kernel^2 C), out x in for a bfc.
    lw.w.resize(static_cast<size_t>(l.out) * static_cast<size_t>(m.shapes[i].dot_bits));
    for (size_t k = 0; k < lw.w.size(); k += 64) {
      const uint64_t bits = gen();
      for (size_t b = 0; b < 64 && k + b < lw.w.size(); ++b) lw.w[k + b] = (bits >> b) & 1 ? 1 : -1;
    }
    // A 2x2 max-pool ORs four bits: P(+1) = 1/2 after it needs about 0.16
    // before it, a threshold one spread past the centre on the +1 side
    // (above it for gamma > 0, below for gamma < 0).
    const double pool_shift = l.maxpool2 ? 1.0 : 0.0;
    for (int c = 0; c < l.out; ++c) {
      double u[5];
      for (double& x : u) x = uniform01(gen);
      const double s = std_y[i][c], v = s * (0.7 + 0.6 * u[4]);
      const double sign = u[1] < 0.125 ? -1.0 : 1.0;
      lw.gamma.push_back(static_cast<float>((0.5 + u[0]) * sign));
      lw.beta.push_back(static_cast<float>(u[2] - 0.5));
      lw.mean.push_back(static_cast<float>((u[3] - 0.5 + sign * pool_shift) * s));
      lw.var.push_back(static_cast<float>(v * v));
    }
  }
  return w;
}

FoldedLayer fold_layer(const Model& m, const Weights& w, int i) {
  if (i < 0 || i >= static_cast<int>(m.layers.size()) || w.layers.size() != m.layers.size())
    throw std::invalid_argument("fold_layer: layer " + std::to_string(i) + " of a " + std::to_string(m.layers.size()) +
                                "-layer model, weights (" + w.source + ") for " + std::to_string(w.layers.size()));
  const LayerWeights& lw = w.layers[i];
  const size_t out = static_cast<size_t>(m.layers[i].out);
  if (lw.gamma.size() != out || lw.beta.size() != out || lw.mean.size() != out || lw.var.size() != out)
    throw std::invalid_argument("fold_layer: layer '" + m.layers[i].name + "' has " + std::to_string(out) +
                                " channels, its batch-norm statistics (" + w.source + ") do not");
  FoldedLayer f;
  f.threshold.resize(out);
  f.flip.resize(out);
  for (size_t c = 0; c < out; ++c) {
    const bconv::Threshold t =
        bconv::fold_batch_norm(lw.gamma[c], lw.beta[c], lw.mean[c], lw.var[c], m.bn_eps, m.shapes[i].value_bound);
    f.threshold[c] = t.value;
    f.flip[c] = t.flip ? 1 : 0;
  }
  return f;
}

std::vector<float> random_images(const Model& m, int batch, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(batch) * static_cast<size_t>(m.input.elements()));
  for (float& x : v) x = normal(g);
  return v;
}

}  // namespace btc::net
