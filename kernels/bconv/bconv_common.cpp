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
