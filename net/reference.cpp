#include "net/reference.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "kernels/bconv/bn_threshold.h"

namespace btc::net {
namespace {

// Element (n, h, w, c) of an NHWC tensor of per-image shape s.
size_t nhwc(const Shape& s, int n, int h, int w, int c) {
  return ((static_cast<size_t>(n) * s.h + h) * s.w + w) * s.c + c;
}

void check_weights(const Model& m, const Weights& w) {
  if (w.layers.size() != m.layers.size())
    throw std::invalid_argument("weights " + w.source + ": " + std::to_string(w.layers.size()) + " layers, model " +
                                m.name + " has " + std::to_string(m.layers.size()));
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    const LayerWeights& lw = w.layers[i];
    const size_t want = static_cast<size_t>(l.out) * static_cast<size_t>(m.shapes[i].dot_bits);
    if (lw.w.size() != want)
      throw std::invalid_argument("weights " + w.source + ": layer '" + l.name + "' has " + std::to_string(lw.w.size()) +
                                  " weights, the model needs " + std::to_string(want));
    // The reference is the ground truth: refuse anything it could not mean.
    if (std::any_of(lw.w.begin(), lw.w.end(), [](int8_t v) { return v != 1 && v != -1; }))
      throw std::invalid_argument("weights " + w.source + ": layer '" + l.name + "' has a weight other than +1/-1");
  }
}

// stem: the NCHW image quantized to int8, convolved with KRSC +-1 weights;
// out-of-image taps are skipped (zero padding adds 0).
void stem(const Model& m, const Layer& l, const LayerShapes& sh, const std::vector<int8_t>& wts,
          const std::vector<float>& images, int batch, std::vector<int32_t>& y) {
  const Shape& in = sh.in;
  const int k = l.kernel;
  std::vector<int8_t> q(images.size());
  for (size_t e = 0; e < images.size(); ++e) q[e] = quantize_input(images[e], m.input_scale);
  auto pixel = [&](int n, int c, int h, int w) {
    return static_cast<int32_t>(q[((static_cast<size_t>(n) * in.c + c) * in.h + h) * in.w + w]);
  };
  for (int n = 0; n < batch; ++n)
    for (int p = 0; p < sh.conv_out.h; ++p)
      for (int qx = 0; qx < sh.conv_out.w; ++qx)
        for (int o = 0; o < l.out; ++o) {
          int32_t z = 0;
          for (int r = 0; r < k; ++r) {
            const int h = p * l.stride - l.pad + r;
            if (h < 0 || h >= in.h) continue;
            for (int s = 0; s < k; ++s) {
              const int w = qx * l.stride - l.pad + s;
              if (w < 0 || w >= in.w) continue;
              const int8_t* wo = &wts[((static_cast<size_t>(o) * k + r) * k + s) * in.c];
              for (int c = 0; c < in.c; ++c) z += wo[c] * pixel(n, c, h, w);
            }
          }
          y[nhwc(sh.conv_out, n, p, qx, o)] = z;
        }
}

// bconv: +-1 NHWC activations against KRSC +-1 weights. An out-of-image tap
// is skipped under zero padding, and is a real +1 / -1 input otherwise.
void bconv(const Layer& l, const LayerShapes& sh, const std::vector<int8_t>& wts, const std::vector<int8_t>& act,
           int batch, std::vector<int32_t>& y) {
  const Shape& in = sh.in;
  const int k = l.kernel;
  const int8_t pad_value = l.pad_value == Pad::kPlusOne ? 1 : l.pad_value == Pad::kMinusOne ? -1 : 0;
  const std::vector<int8_t> pad_pixel(in.c, pad_value);
  std::vector<int32_t> z(l.out);
  for (int n = 0; n < batch; ++n)
    for (int p = 0; p < sh.conv_out.h; ++p)
      for (int qx = 0; qx < sh.conv_out.w; ++qx) {
        std::fill(z.begin(), z.end(), 0);
        for (int r = 0; r < k; ++r)
          for (int s = 0; s < k; ++s) {
            const int h = p * l.stride - l.pad + r, w = qx * l.stride - l.pad + s;
            const bool inside = h >= 0 && h < in.h && w >= 0 && w < in.w;
            if (!inside && pad_value == 0) continue;
            const int8_t* x = inside ? &act[nhwc(in, n, h, w, 0)] : pad_pixel.data();
            for (int o = 0; o < l.out; ++o) {
              const int8_t* wo = &wts[((static_cast<size_t>(o) * k + r) * k + s) * in.c];
              int32_t d = 0;
              for (int c = 0; c < in.c; ++c) d += wo[c] * x[c];
              z[o] += d;
            }
          }
        std::copy(z.begin(), z.end(), &y[nhwc(sh.conv_out, n, p, qx, 0)]);
      }
}

// bfc: [out][in] +-1 weights against the flattened input: the image binarized
// (x >= 0 -> +1) in its (c, h, w) order, or a layer's NHWC bits in (h, w, c)
// order, which is how both lie in memory per image.
void bfc(const Layer& l, const LayerShapes& sh, const std::vector<int8_t>& wts, const std::vector<float>* images,
         const std::vector<int8_t>* act, int batch, std::vector<int32_t>& y) {
  const size_t d = static_cast<size_t>(sh.dot_bits);
  std::vector<int8_t> x(d);
  for (int n = 0; n < batch; ++n) {
    for (size_t e = 0; e < d; ++e)
      x[e] = images ? ((*images)[n * d + e] >= 0.0f ? 1 : -1) : (*act)[n * d + e];
    for (int o = 0; o < l.out; ++o) {
      const int8_t* wo = &wts[static_cast<size_t>(o) * d];
      int32_t z = 0;
      for (size_t e = 0; e < d; ++e) z += wo[e] * x[e];
      y[static_cast<size_t>(n) * l.out + o] = z;
    }
  }
}

// y += R: R (NHWC, its own Cr channels) read at the same pixel, or its 2x2
// max at (2p, 2q) with :pool2; channels c >= Cr add 0.
void add_residual(const Layer& l, const LayerShapes& sh, const std::vector<int32_t>& res, int batch,
                  std::vector<int32_t>& y) {
  const Shape& rs = sh.residual;
  for (int n = 0; n < batch; ++n)
    for (int p = 0; p < sh.conv_out.h; ++p)
      for (int qx = 0; qx < sh.conv_out.w; ++qx)
        for (int c = 0; c < rs.c; ++c) {
          int32_t v;
          if (l.add_pool2) {
            v = res[nhwc(rs, n, 2 * p, 2 * qx, c)];
            for (int a = 0; a < 2; ++a)
              for (int b = 0; b < 2; ++b) v = std::max(v, res[nhwc(rs, n, 2 * p + a, 2 * qx + b, c)]);
          } else {
            v = res[nhwc(rs, n, p, qx, c)];
          }
          y[nhwc(sh.conv_out, n, p, qx, c)] += v;
        }
}

// The output bits: +1 iff (flip ? y <= t : y >= t) per channel, then the
// 2x2 stride-2 max-pool (floor size) with pool=max2.
std::vector<int8_t> threshold_and_pool(const Layer& l, const LayerShapes& sh, const FoldedLayer& f,
                                       const std::vector<int32_t>& y, int batch) {
  std::vector<int8_t> bits(y.size());
  const size_t out = static_cast<size_t>(l.out);
  for (size_t e = 0; e < y.size(); ++e) {
    const size_t c = e % out;
    bits[e] = (f.flip[c] ? y[e] <= f.threshold[c] : y[e] >= f.threshold[c]) ? 1 : -1;
  }
  if (!l.maxpool2) return bits;
  std::vector<int8_t> pooled(static_cast<size_t>(batch) * sh.out.elements());
  for (int n = 0; n < batch; ++n)
    for (int p = 0; p < sh.out.h; ++p)
      for (int qx = 0; qx < sh.out.w; ++qx)
        for (int c = 0; c < l.out; ++c) {
          int8_t v = -1;
          for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b) v = std::max(v, bits[nhwc(sh.conv_out, n, 2 * p + a, 2 * qx + b, c)]);
          pooled[nhwc(sh.out, n, p, qx, c)] = v;
        }
  return pooled;
}

}  // namespace

int8_t quantize_input(float x, float input_scale) {
  const float q = std::nearbyint(x / input_scale);  // the default rounding mode: ties to even
  if (q >= 127.0f) return 127;
  if (q <= -127.0f) return -127;
  if (std::isnan(q)) return 0;  // a NaN pixel has no integer: 0, like padding
  return static_cast<int8_t>(q);
}

std::vector<ReferenceLayer> reference_forward(const Model& m, const Weights& w, const std::vector<float>& images,
                                              int batch) {
  if (batch < 1) throw std::invalid_argument("reference_forward: batch " + std::to_string(batch));
  const size_t image_elements = static_cast<size_t>(m.input.elements());
  if (images.size() != static_cast<size_t>(batch) * image_elements)
    throw std::invalid_argument("reference_forward: " + std::to_string(images.size()) + " floats for " +
                                std::to_string(batch) + " images of " + std::to_string(image_elements));
  check_weights(m, w);
  std::vector<ReferenceLayer> out(m.layers.size());
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    const LayerShapes& sh = m.shapes[i];
    const LayerWeights& lw = w.layers[i];
    ReferenceLayer& r = out[i];
    const bool from_image = l.input == "input";
    const std::vector<int8_t>* act = from_image ? nullptr : &out[m.index_of(l.input)].act;
    r.y.assign(static_cast<size_t>(batch) * sh.conv_out.elements(), 0);
    switch (l.op) {
      case Op::kStem: stem(m, l, sh, lw.w, images, batch, r.y); break;
      case Op::kBconv: bconv(l, sh, lw.w, *act, batch, r.y); break;
      case Op::kBfc: bfc(l, sh, lw.w, from_image ? &images : nullptr, act, batch, r.y); break;
    }
    if (!l.add.empty()) add_residual(l, sh, out[m.saver_of(l.add)].y, batch, r.y);
    if (l.float_out) {
      // Exactly the function the GPU epilogue evaluates, so the logits match bit for bit.
      r.logits.resize(r.y.size());
      for (size_t e = 0; e < r.y.size(); ++e) {
        const size_t c = e % static_cast<size_t>(l.out);
        r.logits[e] = bconv::batch_norm_f32(r.y[e], lw.gamma[c], lw.beta[c], lw.mean[c], lw.var[c], m.bn_eps);
      }
    } else {
      r.act = threshold_and_pool(l, sh, fold_layer(m, w, static_cast<int>(i)), r.y, batch);
    }
  }
  return out;
}

std::vector<std::vector<int>> top5(const std::vector<float>& logits, int batch, int classes) {
  if (batch < 0 || classes < 1 || logits.size() != static_cast<size_t>(batch) * classes)
    throw std::invalid_argument("top5: " + std::to_string(logits.size()) + " logits for " + std::to_string(batch) +
                                " x " + std::to_string(classes));
  std::vector<std::vector<int>> best(batch);
  const int keep = std::min(5, classes);
  std::vector<int> idx(classes);
  for (int n = 0; n < batch; ++n) {
    const float* v = &logits[static_cast<size_t>(n) * classes];
    // Higher first, ties to the lower index; a NaN ranks below every number
    // (so the order stays a strict weak ordering).
    auto better = [v](int a, int b) {
      const bool na = std::isnan(v[a]), nb = std::isnan(v[b]);
      if (na != nb) return nb;
      if (!na && v[a] != v[b]) return v[a] > v[b];
      return a < b;
    };
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + keep, idx.end(), better);
    best[n].assign(idx.begin(), idx.begin() + keep);
  }
  return best;
}

}  // namespace btc::net
