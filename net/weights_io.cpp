#include "net/weights_io.h"

#include <cmath>
#include <string>

#include "net/safetensors.h"
#include "net/weights.h"

namespace btc::net {
namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// ints_ok: +-1 weights may be stored as integers (I8: a quarter of the bytes).
const TensorView& need(const SafetensorsFile& f, const std::string& name, const std::vector<int64_t>& shape,
                       bool ints_ok = false) {
  const TensorView* t = f.find(name);
  if (t == nullptr) throw SafetensorsError(f.path() + ": no tensor '" + name + "' (shape " + shape_str(shape) + ")");
  if (t->shape != shape)
    throw SafetensorsError(f.path() + ": tensor '" + name + "' is " + shape_str(t->shape) + ", the model needs " +
                           shape_str(shape));
  const bool is_float = t->dtype == Dtype::F32 || t->dtype == Dtype::F16 || t->dtype == Dtype::BF16 || t->dtype == Dtype::F64;
  const bool is_int = t->dtype == Dtype::I8 || t->dtype == Dtype::I16 || t->dtype == Dtype::I32;
  if (!is_float && !(ints_ok && is_int))
    throw SafetensorsError(f.path() + ": tensor '" + name + "' has dtype " + dtype_name(t->dtype) + (ints_ok ? ", a float (F32, F16, BF16, F64) or I8/I16/I32 is needed" : ", a float (F32, F16, BF16, F64) is needed"));
  return *t;
}

}  // namespace

Weights load_weights(const Model& m, const std::string& path) {
  const SafetensorsFile f = SafetensorsFile::open(path);
  if (const auto it = f.metadata().find("btcbench_model"); it != f.metadata().end() && it->second != m.name)
    throw SafetensorsError(path + ": weights for model '" + it->second + "', not '" + m.name + "'");
  Weights w;
  w.source = path;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    const LayerShapes& sh = m.shapes[i];
    LayerWeights lw;
    const int cin = sh.in.c;
    std::vector<float> raw;
    // Real weights (conv, fc) are rounded to half on load, and must stay finite.
    auto to_half = [&](float v, const char* what, size_t at) {
      const float h = round_half(v);
      if (!std::isfinite(h))
        throw SafetensorsError(path + ": layer '" + l.name + "' " + what + " [" + std::to_string(at) + "] = " +
                               std::to_string(v) + " is not finite in fp16 (NaN, inf, or |v| >= 65520)");
      return h;
    };
    if (l.op == Op::kFc) {
      // PyTorch's Linear on the flattened NCHW input, (c, h, w); we read the
      // NHWC values in (h, w, c) order. With prepool=avg the input is C values.
      const Shape& pin = sh.pooled_in;
      raw = f.to_f32(need(f, l.name + ".weight", {l.out, sh.dot_bits}));
      lw.wf.resize(raw.size());
      const int H = pin.h, W = pin.w, C = pin.c;
      for (int o = 0; o < l.out; ++o)
        for (int c = 0; c < C; ++c)
          for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x) {
              const size_t from = size_t(o) * sh.dot_bits + (size_t(c) * H + y) * W + x;
              lw.wf[size_t(o) * sh.dot_bits + (size_t(y) * W + x) * C + c] = to_half(raw[from], "weight", from);
            }
      const std::vector<float> bias = f.to_f32(need(f, l.name + ".bias", {l.out}));
      for (size_t k = 0; k < bias.size(); ++k) lw.bias.push_back(to_half(bias[k], "bias", k));
      w.layers.push_back(std::move(lw));
      continue;
    }
    if (l.op == Op::kConv) {
      const int r = l.kernel;
      const int pc = sh.pooled_in.c;  // = cin: prepool=avg2 keeps the channels
      raw = f.to_f32(need(f, l.name + ".weight", {l.out, pc, r, r}));  // PyTorch OIHW
      lw.wf.resize(raw.size());
      for (int o = 0; o < l.out; ++o)
        for (int c = 0; c < pc; ++c)
          for (int y = 0; y < r; ++y)
            for (int x = 0; x < r; ++x) {
              const size_t from = ((size_t(o) * pc + c) * r + y) * r + x;
              lw.wf[((size_t(o) * r + y) * r + x) * pc + c] = to_half(raw[from], "weight", from);
            }
    } else if (l.op == Op::kBfc) {
      raw = f.to_f32(need(f, l.name + ".weight", {l.out, sh.dot_bits}, true));
      lw.w.resize(raw.size());
      if (l.input == "input") {
        for (size_t e = 0; e < raw.size(); ++e) lw.w[e] = raw[e] >= 0 ? 1 : -1;
      } else {
        // PyTorch flattens NCHW as (c, h, w); our bits are (h, w, c).
        const int H = sh.in.h, W = sh.in.w, C = sh.in.c;
        for (int o = 0; o < l.out; ++o)
          for (int c = 0; c < C; ++c)
            for (int y = 0; y < H; ++y)
              for (int x = 0; x < W; ++x) {
                const float v = raw[size_t(o) * sh.dot_bits + (size_t(c) * H + y) * W + x];
                lw.w[size_t(o) * sh.dot_bits + (size_t(y) * W + x) * C + c] = v >= 0 ? 1 : -1;
              }
      }
    } else {
      const int r = l.kernel;
      raw = f.to_f32(need(f, l.name + ".weight", {l.out, cin, r, r}, true));  // PyTorch OIHW
      lw.w.resize(raw.size());
      for (int o = 0; o < l.out; ++o)
        for (int c = 0; c < cin; ++c)
          for (int y = 0; y < r; ++y)
            for (int x = 0; x < r; ++x)
              lw.w[((size_t(o) * r + y) * r + x) * cin + c] = raw[((size_t(o) * cin + c) * r + y) * r + x] >= 0 ? 1 : -1;
    }
    lw.gamma = f.to_f32(need(f, l.name + ".bn.weight", {l.out}));
    lw.beta = f.to_f32(need(f, l.name + ".bn.bias", {l.out}));
    lw.mean = f.to_f32(need(f, l.name + ".bn.running_mean", {l.out}));
    lw.var = f.to_f32(need(f, l.name + ".bn.running_var", {l.out}));
    for (size_t k = 0; k < lw.var.size(); ++k)
      if (!(lw.var[k] >= 0) || !std::isfinite(lw.gamma[k]) || !std::isfinite(lw.beta[k]) || !std::isfinite(lw.mean[k]))
        throw SafetensorsError(path + ": layer '" + l.name + "' channel " + std::to_string(k) +
                               ": batch norm statistics must be finite with var >= 0");
    w.layers.push_back(std::move(lw));
  }
  return w;
}

}  // namespace btc::net
