#include "net/weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
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

// The spread of each half layer's output values on N(0, 1) images, the scale
// its successors' statistics are drawn on: a conv's BN output is about
// N(beta, gamma^2), spread ~1 (after pool=max3 too, its mean shift keeps it
// there); a bconv out=half adds that to its shortcut's values (in quadrature).
// The image itself has spread 1. 0 for a layer without half output.
std::vector<double> half_std(const Model& m) {
  std::vector<double> sd(m.layers.size(), 0.0);
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    if (!l.half_out) continue;
    sd[i] = 1.0;
    if (!l.shortcut.empty()) sd[i] = std::hypot(1.0, sd[m.index_of(l.shortcut)]);
  }
  return sd;
}

// The spread of a conv's accumulator: its input's spread (the image: 1),
// times 0.7 after prepool=avg2 (a 2x2 mean of partly correlated values:
// between 1/2 and 1 of it), times sqrt(fan_in E[w^2]) = 1 for the weights
// drawn below.
double conv_acc_std(const Model& m, const std::vector<double>& sd, size_t i) {
  const Layer& l = m.layers[i];
  double s = l.input == "input" ? 1.0 : sd[m.index_of(l.input)];
  if (l.prepool == Layer::Prepool::kAvg2) s *= 0.7;
  return s;
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
// The half-precision layers (docs/models.md "Weights" has the list):
//   bconv out=half: the +-1 weights as above; per channel u0..u4 with
//     s = sqrt(K): gamma, beta as above, mean = (u3 - 0.5) * 0.2 s,
//     var = (s (0.7 + 0.6 u4))^2.
//   conv: weights KRSC, one U[0, 1) u each: half((2u - 1) sqrt(3 / K)); then
//     per channel u0..u4 (u1 drawn, unused: no flips), s = conv_acc_std:
//     gamma = 0.5 + u0, beta = u2 - 0.5, mean = (u3 - 0.5) * 0.2 s
//     (+ 1.5 s with pool=max3), var = (s (0.7 + 0.6 u4))^2.
//   fc: weights [out][in] as a conv's (in in the (h, w, c) order it reads),
//     then per output bias = half((u - 0.5) * 0.1); no batch norm.
Weights random_weights(const Model& m, uint64_t seed) {
  Weights w;
  w.source = "random(seed=" + std::to_string(seed) + ")";
  const auto std_y = value_std(m);
  const auto sd_half = half_std(m);
  w.layers.resize(m.layers.size());
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    LayerWeights& lw = w.layers[i];
    std::mt19937_64 gen(seed ^ fnv1a64(l.name));
    const size_t n_weights = static_cast<size_t>(l.out) * static_cast<size_t>(m.shapes[i].dot_bits);
    if (l.op == Op::kConv || l.op == Op::kFc) {
      // Real weights, uniform with E[w^2] = 1 / K, so acc keeps its input's spread.
      const double range = std::sqrt(3.0 / static_cast<double>(m.shapes[i].dot_bits));
      lw.wf.resize(n_weights);
      for (float& v : lw.wf) v = round_half(static_cast<float>((2.0 * uniform01(gen) - 1.0) * range));
      if (l.op == Op::kFc) {
        for (int c = 0; c < l.out; ++c) lw.bias.push_back(round_half(static_cast<float>((uniform01(gen) - 0.5) * 0.1)));
        continue;
      }
      const double s = conv_acc_std(m, sd_half, i);
      // A 3x3 max-pool takes the largest of 9: P(y >= 0) of about 7% before it
      // (a threshold 1.5 spreads above the centre) gives about half after.
      const double pool_shift = l.maxpool3 ? 1.5 : 0.0;
      for (int c = 0; c < l.out; ++c) {
        double u[5];
        for (double& x : u) x = uniform01(gen);
        const double v = s * (0.7 + 0.6 * u[4]);
        lw.gamma.push_back(static_cast<float>(0.5 + u[0]));
        lw.beta.push_back(static_cast<float>(u[2] - 0.5));
        lw.mean.push_back(static_cast<float>(((u[3] - 0.5) * 0.2 + pool_shift) * s));
        lw.var.push_back(static_cast<float>(v * v));
      }
      continue;
    }
    // out x dot_bits: KRSC for a stem or bconv (K = kernel^2 C), out x in for a bfc.
    lw.w.resize(n_weights);
    for (size_t k = 0; k < lw.w.size(); k += 64) {
      const uint64_t bits = gen();
      for (size_t b = 0; b < 64 && k + b < lw.w.size(); ++b) lw.w[k + b] = (bits >> b) & 1 ? 1 : -1;
    }
    // A 2x2 max-pool ORs four bits: P(+1) = 1/2 after it needs about 0.16
    // before it, a threshold one spread past the centre on the +1 side
    // (above it for gamma > 0, below for gamma < 0).
    const double pool_shift = l.maxpool2 ? 1.0 : 0.0;
    // A half-output bconv's mean sits close to the centre (0.2 of the
    // spread): its values are summed along the shortcuts, not thresholded.
    const double mean_spread = l.half_out ? 0.2 : 1.0;
    for (int c = 0; c < l.out; ++c) {
      double u[5];
      for (double& x : u) x = uniform01(gen);
      const double s = std_y[i][c], v = s * (0.7 + 0.6 * u[4]);
      const double sign = u[1] < 0.125 ? -1.0 : 1.0;
      lw.gamma.push_back(static_cast<float>((0.5 + u[0]) * sign));
      lw.beta.push_back(static_cast<float>(u[2] - 0.5));
      lw.mean.push_back(static_cast<float>(((u[3] - 0.5) * mean_spread + sign * pool_shift) * s));
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

AffineLayer fold_affine(const Model& m, const Weights& w, int i) {
  if (i < 0 || i >= static_cast<int>(m.layers.size()) || w.layers.size() != m.layers.size())
    throw std::invalid_argument("fold_affine: layer " + std::to_string(i) + " of a " + std::to_string(m.layers.size()) +
                                "-layer model, weights (" + w.source + ") for " + std::to_string(w.layers.size()));
  const Layer& l = m.layers[i];
  const LayerWeights& lw = w.layers[i];
  const size_t out = static_cast<size_t>(l.out);
  if (lw.gamma.size() != out || lw.beta.size() != out || lw.mean.size() != out || lw.var.size() != out)
    throw std::invalid_argument("fold_affine: layer '" + l.name + "' has " + std::to_string(out) +
                                " channels, its batch-norm statistics (" + w.source + ") do not");
  AffineLayer a;
  a.scale.resize(out);
  a.shift.resize(out);
  for (size_t c = 0; c < out; ++c) {
    // fp32 throughout, each operation rounded on its own: std::sqrt of a
    // float is the correctly rounded sqrtf, and `mean * scale` must not be
    // contracted into an FMA with the subtraction. The x86-64 baseline build
    // has no FMA instruction, and net/CMakeLists.txt compiles this library
    // with -ffp-contract=off besides, so the plain expression is exact to
    // the formula.
    const float scale = lw.gamma[c] / std::sqrt(lw.var[c] + m.bn_eps);
    const float prod = lw.mean[c] * scale;
    a.scale[c] = scale;
    a.shift[c] = lw.beta[c] - prod;
  }
  return a;
}

uint16_t float_to_half_bits(float x) {
  uint32_t f;
  std::memcpy(&f, &x, sizeof f);
  const uint16_t sign = static_cast<uint16_t>((f >> 16) & 0x8000u);
  const uint32_t a = f & 0x7fffffffu;
  if (a > 0x7f800000u)  // NaN: quiet, the sign and the top 9 payload bits kept
    return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x477ff000u)  // |x| >= 65520, halfway from 65504 (odd) to 2^16: +-inf
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (a >= 0x38800000u) {  // |x| >= 2^-14: a normal half
    // Round the 23-bit mantissa to 10 bits, ties to even: add just under half
    // an ulp, plus one where the kept part is odd; a carry bumps the exponent.
    const uint32_t odd = (a >> 13) & 1u;
    const uint32_t r = a + 0xfffu + odd;
    return static_cast<uint16_t>(sign | ((r - 0x38000000u) >> 13));  // rebias 127 -> 15
  }
  if (a <= 0x33000000u) return sign;  // |x| <= 2^-25 (half the smallest subnormal): +-0, ties to even
  // A subnormal half: |x| / 2^-24 rounded to an integer, ties to even
  // (the carry out of 0x3ff gives 0x400, the smallest normal, as it should).
  const uint32_t e = a >> 23;  // 102..112
  const uint32_t mant = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - e;  // 14..24
  uint32_t q = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
  if (rem > halfway || (rem == halfway && (q & 1u))) ++q;
  return static_cast<uint16_t>(sign | q);
}

float half_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  uint32_t f;
  if (e == 0x1fu) {
    f = sign | 0x7f800000u | (mant << 13);  // inf, or NaN with its payload (quiet stays quiet)
  } else if (e != 0) {
    f = sign | ((e + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {
    f = sign;
  } else {  // subnormal: mant * 2^-24, a normal float
    uint32_t mm = mant, ee = 113u;  // the exponent of 2^-14, lowered per shift
    while ((mm & 0x400u) == 0) {
      mm <<= 1;
      --ee;
    }
    f = sign | (ee << 23) | ((mm & 0x3ffu) << 13);
  }
  float x;
  std::memcpy(&x, &f, sizeof x);
  return x;
}

std::vector<float> random_images(const Model& m, int batch, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(batch) * static_cast<size_t>(m.input.elements()));
  for (float& x : v) x = normal(g);
  return v;
}

}  // namespace btc::net
