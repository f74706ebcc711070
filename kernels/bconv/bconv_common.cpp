// Argument checks every BConv design shares.
#include <stdexcept>

#include "kernels/bconv/bconv.h"

namespace btc::bconv {

void check_run_args(const Design& d, const Problem& p, const Operands& in, const Output* out) {
  const std::string who = d.name() + ": ";
  if (const std::string why = check_problem(p); !why.empty()) throw std::invalid_argument(who + why);
  if (const std::string why = d.unsupported(p); !why.empty()) throw std::invalid_argument(who + why);
  if (in.x == nullptr || in.w == nullptr) throw std::invalid_argument(who + "null operand");
  if (out == nullptr) return;
  const bool fused_extra = out->residual.data != nullptr || out->y_out != nullptr;
  if (fused_extra && !d.fuses_residual())
    throw std::invalid_argument(who + "does not fuse a residual add or a kept y into its epilogue");
  if (fused_extra && out->epilogue != Epilogue::kBits)
    throw std::invalid_argument(who + "a residual and y_out go with the kBits output");
  if (const auto& r = out->residual; r.data != nullptr) {
    const int want_h = r.pool2 ? 2 * p.p() : p.p(), want_w = r.pool2 ? 2 * p.q() : p.q();
    if (r.h != want_h || r.w != want_w || r.c < 1 || r.c > p.k || r.bound < 0)
      throw std::invalid_argument(who + "residual " + std::to_string(r.h) + "x" + std::to_string(r.w) + "x" +
                                  std::to_string(r.c) + " does not fit the " + std::to_string(p.p()) + "x" +
                                  std::to_string(p.q()) + "x" + std::to_string(p.k) + " output" +
                                  (r.pool2 ? " (after its 2x2 max)" : ""));
  }
  if (out->epilogue == Epilogue::kInt32) {
    if (out->c == nullptr) throw std::invalid_argument(who + "kInt32 output without a buffer");
    return;
  }
  if (out->bits == nullptr || out->threshold == nullptr)
    throw std::invalid_argument(who + "kBits output without a bits buffer or thresholds");
  const bits::BitMatrix want = output_bits_shape(p), got = out->bits_shape;
  if (got.layout != want.layout || got.rows != want.rows || got.k != want.k || got.k_segment != want.k_segment)
    throw std::invalid_argument(who + "kBits output is " + bits::describe(got) + ", must be " + bits::describe(want));
}

}  // namespace btc::bconv
