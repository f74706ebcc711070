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

bool is_half_value(float v) { return std::isfinite(v) && round_half(v) == v; }

void check_weights(const Model& m, const Weights& w) {
  if (w.layers.size() != m.layers.size())
    throw std::invalid_argument("weights " + w.source + ": " + std::to_string(w.layers.size()) + " layers, model " +
                                m.name + " has " + std::to_string(m.layers.size()));
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    const LayerWeights& lw = w.layers[i];
    const size_t want = static_cast<size_t>(l.out) * static_cast<size_t>(m.shapes[i].dot_bits);
    if (l.op == Op::kConv || l.op == Op::kFc) {
      if (lw.wf.size() != want || !lw.w.empty())
        throw std::invalid_argument("weights " + w.source + ": layer '" + l.name + "' has " +
                                    std::to_string(lw.wf.size()) + " real weights (and " + std::to_string(lw.w.size()) +
                                    " +-1 ones), the model needs " + std::to_string(want) + " real weights");
      if (!std::all_of(lw.wf.begin(), lw.wf.end(), is_half_value))
        throw std::invalid_argument("weights " + w.source + ": layer '" + l.name +
                                    "' has a weight that is not a finite fp16 value");
      if (l.op == Op::kFc && (lw.bias.size() != static_cast<size_t>(l.out) ||
                              !std::all_of(lw.bias.begin(), lw.bias.end(), is_half_value)))
        throw std::invalid_argument("weights " + w.source + ": fc '" + l.name + "' needs " + std::to_string(l.out) +
                                    " finite fp16 biases, has " + std::to_string(lw.bias.size()));
      continue;
    }
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

// ---- the half-precision layers (docs/models.md "Half-precision layers")

// The sign of a half value: +1 iff v >= 0 (so -0 is +1).
std::vector<int8_t> signs(const std::vector<float>& v) {
  std::vector<int8_t> a(v.size());
  for (size_t e = 0; e < v.size(); ++e) a[e] = v[e] >= 0.0f ? 1 : -1;
  return a;
}

// The image as a conv reads it: each fp32 pixel rounded to half, NCHW -> NHWC.
std::vector<float> image_as_half(const Shape& in, const std::vector<float>& images, int batch) {
  std::vector<float> x(images.size());
  for (int n = 0; n < batch; ++n)
    for (int c = 0; c < in.c; ++c)
      for (int h = 0; h < in.h; ++h)
        for (int w = 0; w < in.w; ++w)
          x[nhwc(in, n, h, w, c)] = round_half(images[((static_cast<size_t>(n) * in.c + c) * in.h + h) * in.w + w]);
  return x;
}

// prepool=avg2: half((((a + b) + c) + d) * 0.25f) over each 2x2 block, in fp32,
// a = (2i, 2j), b = (2i, 2j+1), c = (2i+1, 2j), d = (2i+1, 2j+1).
std::vector<float> avg2(const Shape& in, const Shape& out, const std::vector<float>& x, int batch) {
  std::vector<float> p(static_cast<size_t>(batch) * out.elements());
  for (int n = 0; n < batch; ++n)
    for (int i = 0; i < out.h; ++i)
      for (int j = 0; j < out.w; ++j)
        for (int c = 0; c < out.c; ++c) {
          const float a = x[nhwc(in, n, 2 * i, 2 * j, c)], b = x[nhwc(in, n, 2 * i, 2 * j + 1, c)];
          const float cc = x[nhwc(in, n, 2 * i + 1, 2 * j, c)], d = x[nhwc(in, n, 2 * i + 1, 2 * j + 1, c)];
          float sum = a + b;
          sum = sum + cc;
          sum = sum + d;
          p[nhwc(out, n, i, j, c)] = round_half(sum * 0.25f);
        }
  return p;
}

// One fp16 ulp at |x| (2^-24 below the normal range, inf past the largest half).
double ulp_half(double x) {
  x = std::fabs(x);
  if (x < 0x1p-14) return 0x1p-24;
  if (x >= 65520.0) return INFINITY;
  return std::ldexp(1.0, std::ilogb(x) - 10);
}

// conv: acc = 0; for r, for s (out-of-image taps skipped: zero padding), for
// c ascending: acc = fmaf(x, w, acc); v = fmaf(scale, acc, shift), plus the
// shortcut's value s; y = half(v); act=relu: y > 0 ? y : +0. `bound` gets,
// per element, how far an fp32-accumulating implementation in another order
// may be from y (docs/models.md "Tolerance of reordered real layers").
std::vector<float> conv(const Layer& l, const LayerShapes& sh, const std::vector<float>& wf, const AffineLayer& a,
                        const std::vector<float>& x, const std::vector<float>* shortcut, int batch,
                        std::vector<float>& bound) {
  const Shape& in = sh.pooled_in;
  const int k = l.kernel;
  const double terms = static_cast<double>(sh.dot_bits);
  std::vector<float> y(static_cast<size_t>(batch) * sh.conv_out.elements());
  bound.assign(y.size(), 0.0f);
  for (int n = 0; n < batch; ++n)
    for (int p = 0; p < sh.conv_out.h; ++p)
      for (int q = 0; q < sh.conv_out.w; ++q)
        for (int o = 0; o < l.out; ++o) {
          float acc = 0.0f;
          double magnitude = 0;  // sum of |x w|
          for (int r = 0; r < k; ++r) {
            const int h = p * l.stride - l.pad + r;
            if (h < 0 || h >= in.h) continue;
            for (int s = 0; s < k; ++s) {
              const int w = q * l.stride - l.pad + s;
              if (w < 0 || w >= in.w) continue;
              const float* xv = &x[nhwc(in, n, h, w, 0)];
              const float* wo = &wf[((static_cast<size_t>(o) * k + r) * k + s) * in.c];
              for (int c = 0; c < in.c; ++c) {
                acc = std::fma(xv[c], wo[c], acc);
                magnitude += std::fabs(static_cast<double>(xv[c]) * wo[c]);
              }
            }
          }
          const size_t e = nhwc(sh.conv_out, n, p, q, o);
          const float bn = std::fma(a.scale[o], acc, a.shift[o]);
          const float sc = shortcut ? (*shortcut)[e] : 0.0f;
          float v = round_half(shortcut ? bn + sc : bn);
          if (l.relu && !(v > 0.0f)) v = 0.0f;
          y[e] = v;
          // Two fp32 sums of the same terms in any order, each add allowed an
          // error of 2^-22 of the terms' magnitude (covers tensor-core
          // accumulation that truncates), then the affine and shortcut adds
          // in fp32 (4 roundings), then one fp16 rounding on each side.
          const double d_acc = 2.0 * terms * 0x1p-22 * magnitude;
          const double d_pre = std::fabs(a.scale[o]) * d_acc +
                               4 * 0x1p-24 * (std::fabs(double(a.scale[o]) * acc) + std::fabs(a.shift[o]) + std::fabs(sc));
          const double pre = std::fabs(static_cast<double>(bn) + sc) + d_pre;
          bound[e] = static_cast<float>(d_pre + ulp_half(pre));
        }
  return y;
}

// The larger of two half values, +0 above -0 (as CUDA's __hmax).
float max_half(float v, float x) {
  if (x > v || (x == v && std::signbit(v) && !std::signbit(x))) return x;
  return v;
}

// pool=max3: a 3x3 stride-2 pad-1 max over the in-image positions of each window.
std::vector<float> maxpool3(const Shape& in, const Shape& out, const std::vector<float>& y, int batch) {
  std::vector<float> p(static_cast<size_t>(batch) * out.elements());
  for (int n = 0; n < batch; ++n)
    for (int i = 0; i < out.h; ++i)
      for (int j = 0; j < out.w; ++j)
        for (int c = 0; c < out.c; ++c) {
          bool first = true;
          float v = 0.0f;
          for (int h = 2 * i - 1; h <= 2 * i + 1; ++h)
            for (int w = 2 * j - 1; w <= 2 * j + 1; ++w) {
              if (h < 0 || h >= in.h || w < 0 || w >= in.w) continue;
              const float x = y[nhwc(in, n, h, w, c)];
              v = first ? x : max_half(v, x);
              first = false;
            }
          p[nhwc(out, n, i, j, c)] = v;
        }
  return p;
}

// bconv out=half: half(fmaf(scale, float(z), shift) + shortcut), the shortcut
// layer's value at the same (n, p, q, k); half(fmaf(...)) without one.
std::vector<float> half_bconv_output(const Layer& l, const AffineLayer& a, const std::vector<int32_t>& z,
                                     const std::vector<float>* shortcut) {
  std::vector<float> v(z.size());
  const size_t out = static_cast<size_t>(l.out);
  for (size_t e = 0; e < z.size(); ++e) {
    const size_t c = e % out;
    const float bn = std::fma(a.scale[c], static_cast<float>(z[e]), a.shift[c]);
    v[e] = round_half(shortcut ? bn + (*shortcut)[e] : bn);
  }
  return v;
}

// fc: x = the input's half values in (h, w, c) order, or with prepool=avg
// per channel half(sum / float(H W)), the sum in fp32 over h, then w; then
// acc = 0; for i ascending acc = fmaf(x_i, w_i, acc); logit = half(acc + bias).
std::vector<float> fc(const Layer& l, const LayerShapes& sh, const LayerWeights& lw, const std::vector<float>& in,
                      int batch, std::vector<float>& bound) {
  const size_t d = static_cast<size_t>(sh.dot_bits);
  const size_t per_image = static_cast<size_t>(sh.in.elements());
  std::vector<float> x(d), logits(static_cast<size_t>(batch) * l.out);
  bound.assign(logits.size(), 0.0f);
  for (int n = 0; n < batch; ++n) {
    const float* v = &in[static_cast<size_t>(n) * per_image];
    if (l.prepool == Layer::Prepool::kGlobalAvg) {
      const float count = static_cast<float>(sh.in.h * sh.in.w);
      for (int c = 0; c < sh.in.c; ++c) {
        float sum = 0.0f;
        for (int h = 0; h < sh.in.h; ++h)
          for (int w = 0; w < sh.in.w; ++w) sum += v[(static_cast<size_t>(h) * sh.in.w + w) * sh.in.c + c];
        x[c] = round_half(sum / count);
      }
    } else {
      std::copy(v, v + d, x.begin());
    }
    for (int o = 0; o < l.out; ++o) {
      const float* wo = &lw.wf[static_cast<size_t>(o) * d];
      float acc = 0.0f;
      double magnitude = 0;  // sum of |x w|
      for (size_t e = 0; e < d; ++e) {
        acc = std::fma(x[e], wo[e], acc);
        magnitude += std::fabs(static_cast<double>(x[e]) * wo[e]);
      }
      const size_t at = static_cast<size_t>(n) * l.out + o;
      logits[at] = round_half(acc + lw.bias[o]);
      // As a conv's half_bound: two sums of the terms, then the bias add, then fp16.
      const double d_pre = 2.0 * static_cast<double>(d) * 0x1p-22 * magnitude +
                           2 * 0x1p-24 * (std::fabs(acc) + std::fabs(lw.bias[o]));
      bound[at] = static_cast<float>(d_pre + ulp_half(std::fabs(double(acc) + lw.bias[o]) + d_pre));
    }
  }
  return logits;
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
                                              int batch, const LayerHook& after_layer) {
  if (batch < 1) throw std::invalid_argument("reference_forward: batch " + std::to_string(batch));
  const size_t image_elements = static_cast<size_t>(m.input.elements());
  if (images.size() != static_cast<size_t>(batch) * image_elements)
    throw std::invalid_argument("reference_forward: " + std::to_string(images.size()) + " floats for " +
                                std::to_string(batch) + " images of " + std::to_string(image_elements));
  check_weights(m, w);
  std::vector<ReferenceLayer> out(m.layers.size());
  std::vector<float> image_half;  // the image as a conv reads it, made on first use
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    const LayerShapes& sh = m.shapes[i];
    const LayerWeights& lw = w.layers[i];
    ReferenceLayer& r = out[i];
    const bool from_image = l.input == "input";
    const int src = from_image ? -1 : m.index_of(l.input);
    const std::vector<int8_t>* act = from_image ? nullptr : &out[src].act;
    if (l.op == Op::kConv) {
      if (from_image && image_half.empty()) image_half = image_as_half(m.input, images, batch);
      const std::vector<float>& x = from_image ? image_half : out[src].half;
      const std::vector<float>* shortcut = l.shortcut.empty() ? nullptr : &out[m.index_of(l.shortcut)].half;
      std::vector<float> bound;
      const std::vector<float> y =
          conv(l, sh, lw.wf, fold_affine(m, w, static_cast<int>(i)),
               l.prepool == Layer::Prepool::kAvg2 ? avg2(sh.in, sh.pooled_in, x, batch) : x, shortcut, batch, bound);
      // The max is 1-Lipschitz: a pooled value is off by at most its window's largest bound.
      r.half = l.maxpool3 ? maxpool3(sh.conv_out, sh.out, y, batch) : y;
      r.half_bound = l.maxpool3 ? maxpool3(sh.conv_out, sh.out, bound, batch) : bound;
      r.act = signs(r.half);
      if (after_layer) after_layer(static_cast<int>(i), r);
      continue;
    }
    if (l.op == Op::kFc) {
      r.logits = fc(l, sh, lw, out[src].half, batch, r.logits_bound);
      if (after_layer) after_layer(static_cast<int>(i), r);
      continue;
    }
    r.y.assign(static_cast<size_t>(batch) * sh.conv_out.elements(), 0);
    switch (l.op) {
      case Op::kStem: stem(m, l, sh, lw.w, images, batch, r.y); break;
      case Op::kBconv: bconv(l, sh, lw.w, *act, batch, r.y); break;
      case Op::kBfc: bfc(l, sh, lw.w, from_image ? &images : nullptr, act, batch, r.y); break;
      case Op::kConv:
      case Op::kFc: break;  // above
    }
    if (l.half_out) {  // bconv out=half
      const std::vector<float>* shortcut = l.shortcut.empty() ? nullptr : &out[m.index_of(l.shortcut)].half;
      r.half = half_bconv_output(l, fold_affine(m, w, static_cast<int>(i)), r.y, shortcut);
      r.act = signs(r.half);
      if (after_layer) after_layer(static_cast<int>(i), r);
      continue;
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
    if (after_layer) after_layer(static_cast<int>(i), r);
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
