// The naive CPU BConv: ±1 integers by their logical coordinates, one loop
// nest over (n, p, q, k, r, s, c). Written independently of the kernels'
// AND-form correction: a padded tap is 0, +1 or -1 by definition here.
#include <stdexcept>

#include "formats/pack_cpu.h"
#include "kernels/bconv/bconv.h"

namespace btc::bconv {

std::string check_problem(const Problem& p) {
  if (p.n < 1 || p.h < 1 || p.w < 1 || p.c < 1 || p.k < 1 || p.r < 1 || p.s < 1)
    return "every dimension must be at least 1";
  if (p.stride < 1) return "stride must be at least 1";
  if (p.pad < 0 || p.pad >= p.r || p.pad >= p.s) return "padding must be in [0, filter size)";
  if (p.h + 2 * p.pad < p.r || p.w + 2 * p.pad < p.s) return "the filter is larger than the padded input";
  if (p.out_pixels() * p.k > (int64_t{1} << 31) || p.dot_bits() > (int64_t{1} << 30))
    return "too large for int32 indexing";
  return "";
}

bits::BitMatrix activation_shape(const Problem& p) { return bits::nhwc_activations(p.n, p.h, p.w, p.c, 32); }
bits::BitMatrix weight_shape(const Problem& p) { return bits::krsc_weights(p.k, p.r, p.s, p.c, 32); }
bits::BitMatrix output_bits_shape(const Problem& p) { return bits::nhwc_activations(p.n, p.p(), p.q(), p.k, 32); }

std::vector<int32_t> reference_dots(const Problem& p, const std::vector<uint32_t>& x, const std::vector<uint32_t>& w) {
  if (const std::string why = check_problem(p); !why.empty()) throw std::invalid_argument("bconv: " + why);
  const bits::BitMatrix xs = activation_shape(p), ws = weight_shape(p);
  const bits::NhwcDims xd{p.n, p.h, p.w, p.c};
  const bits::KrscDims wd{p.k, p.r, p.s, p.c};
  auto pm1 = [](bool bit) { return static_cast<int8_t>(bit ? 1 : -1); };
  const int pad_input = p.pad_value == PadValue::kPlusOne ? 1 : p.pad_value == PadValue::kMinusOne ? -1 : 0;
  // Every bit read once through the layouts' coordinate maps into plain
  // (n, h, w, c) and (k, r, s, c) arrays of +-1, with the padding value in a
  // border of width pad; then the loop nest is a dense int8 dot (the same
  // definition, without a bit lookup per product: tests call this on every
  // design and layer).
  const int hp = p.h + 2 * p.pad, wp = p.w + 2 * p.pad, C = p.c;
  std::vector<int8_t> xv(static_cast<size_t>(p.n) * hp * wp * C, static_cast<int8_t>(pad_input));
  for (int n = 0; n < p.n; ++n)
    for (int h = 0; h < p.h; ++h)
      for (int iw = 0; iw < p.w; ++iw)
        for (int c = 0; c < C; ++c) {
          const bits::BitCoord xb = bits::nhwc_bit(xd, n, h, iw, c);
          xv[((static_cast<size_t>(n) * hp + h + p.pad) * wp + iw + p.pad) * C + c] = pm1(bits::get_bit(x, xs, xb.row, xb.k));
        }
  std::vector<int8_t> wv(static_cast<size_t>(p.k) * p.r * p.s * C);
  for (int k = 0; k < p.k; ++k)
    for (int r = 0; r < p.r; ++r)
      for (int s = 0; s < p.s; ++s)
        for (int c = 0; c < C; ++c) {
          const bits::BitCoord wb = bits::krsc_bit(wd, k, r, s, c);
          wv[((static_cast<size_t>(k) * p.r + r) * p.s + s) * C + c] = pm1(bits::get_bit(w, ws, wb.row, wb.k));
        }
  const int P = p.p(), Q = p.q();
  std::vector<int32_t> z(static_cast<size_t>(p.out_pixels()) * p.k);
  for (int n = 0; n < p.n; ++n)
    for (int op = 0; op < P; ++op)
      for (int oq = 0; oq < Q; ++oq)
        for (int k = 0; k < p.k; ++k) {
          int32_t sum = 0;
          for (int r = 0; r < p.r; ++r)
            for (int s = 0; s < p.s; ++s) {
              // Padded coordinates: input row op * stride - pad + r sits at op * stride + r.
              const int8_t* xr = &xv[((static_cast<size_t>(n) * hp + op * p.stride + r) * wp + oq * p.stride + s) * C];
              const int8_t* wr = &wv[((static_cast<size_t>(k) * p.r + r) * p.s + s) * C];
              for (int c = 0; c < C; ++c) sum += xr[c] * wr[c];
            }
          z[(static_cast<size_t>((n * P + op) * Q + oq)) * p.k + k] = sum;
        }
  return z;
}

std::vector<uint32_t> reference_bits(const Problem& p, const std::vector<int32_t>& z,
                                     const std::vector<int32_t>& threshold, const std::vector<uint8_t>& flip) {
  const bits::BitMatrix os = output_bits_shape(p);
  if (threshold.size() != static_cast<size_t>(p.k) || (!flip.empty() && flip.size() != static_cast<size_t>(p.k)))
    throw std::invalid_argument("bconv reference_bits: one threshold (and flip) per output channel");
  std::vector<uint32_t> out(static_cast<size_t>(os.words()), 0u);
  const int64_t rows = p.out_pixels();
  for (int64_t i = 0; i < rows; ++i)
    for (int k = 0; k < p.k; ++k) {
      const int32_t v = z[static_cast<size_t>(i) * p.k + k];
      const bool bit = !flip.empty() && flip[k] ? v <= threshold[k] : v >= threshold[k];
      bits::set_bit(out, os, static_cast<int>(i), k, bit);
    }
  return out;
}

}  // namespace btc::bconv
