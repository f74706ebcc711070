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
  const char* kind = out->epilogue == Epilogue::kHalf ? "kHalf" : "kBits";
  if (out->epilogue == Epilogue::kHalf) {
    if (!d.writes_half()) throw std::invalid_argument(who + "does not write kHalf outputs");
    if (p.k % 32 != 0)
      throw std::invalid_argument(who + "kHalf needs K a multiple of 32 (whole bit words), K = " + std::to_string(p.k));
    if (out->half == nullptr || out->scale == nullptr || out->shift == nullptr || out->bits == nullptr)
      throw std::invalid_argument(who + "kHalf output without its fp16 buffer, scale, shift or bits buffer");
  } else if (out->bits == nullptr || out->threshold == nullptr) {
    throw std::invalid_argument(who + "kBits output without a bits buffer or thresholds");
  }
  const bits::BitMatrix want = output_bits_shape(p), got = out->bits_shape;
  if (got.layout != want.layout || got.rows != want.rows || got.k != want.k || got.k_segment != want.k_segment)
    throw std::invalid_argument(who + kind + " output is " + bits::describe(got) + ", must be " + bits::describe(want));
}

}  // namespace btc::bconv
