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
  auto pm1 = [](bool bit) { return bit ? 1 : -1; };
  const int pad_input = p.pad_value == PadValue::kPlusOne ? 1 : p.pad_value == PadValue::kMinusOne ? -1 : 0;
  const int P = p.p(), Q = p.q();
  std::vector<int32_t> z(static_cast<size_t>(p.out_pixels()) * p.k);
  for (int n = 0; n < p.n; ++n)
    for (int op = 0; op < P; ++op)
      for (int oq = 0; oq < Q; ++oq)
        for (int k = 0; k < p.k; ++k) {
          int32_t sum = 0;
          for (int r = 0; r < p.r; ++r)
            for (int s = 0; s < p.s; ++s) {
              const int ih = op * p.stride - p.pad + r, iw = oq * p.stride - p.pad + s;
              const bool inside = ih >= 0 && ih < p.h && iw >= 0 && iw < p.w;
              for (int c = 0; c < p.c; ++c) {
                const bits::BitCoord wb = bits::krsc_bit(wd, k, r, s, c);
                const int wv = pm1(bits::get_bit(w, ws, wb.row, wb.k));
                int xv = pad_input;
                if (inside) {
                  const bits::BitCoord xb = bits::nhwc_bit(xd, n, ih, iw, c);
                  xv = pm1(bits::get_bit(x, xs, xb.row, xb.k));
                }
                sum += xv * wv;
              }
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
