#include "net/check.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "net/reference.h"

namespace btc::net {
namespace {

template <class T>
std::string first_difference(const char* what, const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size()) return fmt::format(" {}: {} values, the reference {}", what, got.size(), want.size());
  for (size_t e = 0; e < got.size(); ++e)
    if (!(got[e] == want[e]) && !(std::isnan(double(got[e])) && std::isnan(double(want[e]))))
      return fmt::format(" {} differs first at {} ({} vs {})", what, e, double(got[e]), double(want[e]));
  return "";
}

// A reordered layer's values: each within its bound (NaN only against NaN),
// and at least kMinBitEqualFraction bit-equal; counts into c.
std::string within_bound(const char* what, const std::vector<float>& got, const std::vector<float>& want,
                         const std::vector<float>& bound, LayerCheck& c) {
  if (got.size() != want.size() || bound.size() != want.size())
    return fmt::format(" {}: {} values, the reference {} (bounds {})", what, got.size(), want.size(), bound.size());
  int64_t over = 0, equal = 0;
  size_t first_over = got.size();
  for (size_t e = 0; e < got.size(); ++e) {
    const double g = got[e], v = want[e], b = bound[e];
    if (std::isnan(g) || std::isnan(v)) {
      if (std::isnan(g) != std::isnan(v) && first_over == got.size()) first_over = e;
      over += std::isnan(g) != std::isnan(v) ? 1 : 0;
      continue;
    }
    equal += g == v ? 1 : 0;
    const double d = std::fabs(g - v);
    if (d > b) {
      ++over;
      if (first_over == got.size()) first_over = e;
    }
    if (b > 0) c.worst_over_bound = std::max(c.worst_over_bound, d / b);
  }
  c.half_equal += equal;
  std::string out;
  if (over > 0)
    out += fmt::format(" {} {} values past the bound, first at {} ({} vs {}, bound {})", over, what, first_over,
                       got[first_over], want[first_over], bound[first_over]);
  const double fraction = got.empty() ? 1.0 : double(equal) / double(got.size());
  if (fraction < kMinBitEqualFraction)
    out += fmt::format(" only {:.1f}% of the {} values bit-equal (at least {:.0f}%)", 100 * fraction, what,
                       100 * kMinBitEqualFraction);
  return out;
}

}  // namespace

std::vector<LayerCheck> check_against_reference(Runner& r, const Weights& w, const std::vector<float>& images) {
  const Model& m = r.model();
  std::vector<LayerCheck> out(m.layers.size());
  const std::vector<float> logits = r.logits();
  auto hook = [&](int i, ReferenceLayer& ref) {
    LayerCheck& c = out[static_cast<size_t>(i)];
    const Layer& l = m.layers[static_cast<size_t>(i)];
    c.layer = l.name;
    c.design = r.layer_designs()[static_cast<size_t>(i)];
    c.tolerance = r.layer_reordered(i);
    const std::vector<int32_t> y = r.layer_y(i);
    if (!y.empty()) c.differs += first_difference("y", y, ref.y);
    const std::vector<float> half = r.layer_half(i);
    std::vector<int8_t> act = l.float_out ? std::vector<int8_t>{} : r.layer_act(i);
    if (!half.empty() || !ref.half.empty()) {
      c.half_values = static_cast<int64_t>(ref.half.size());
      if (half.size() != ref.half.size()) {
        c.differs += fmt::format(" fp16: {} values, the reference {}", half.size(), ref.half.size());
      } else if (!c.tolerance) {
        c.differs += first_difference("fp16", half, ref.half);
        for (size_t e = 0; e < half.size(); ++e) c.half_equal += half[e] == ref.half[e] ? 1 : 0;
      } else {
        c.differs += within_bound("fp16", half, ref.half, ref.half_bound, c);
        int64_t sign_flips = 0;
        for (size_t e = 0; e < half.size() && !act.empty(); ++e)
          if (std::fabs(ref.half[e]) > ref.half_bound.at(e) && act[e] != ref.act.at(e)) ++sign_flips;
        if (sign_flips > 0) c.differs += fmt::format(" {} bits differ where the bound cannot reach 0", sign_flips);
      }
    }
    if (!c.tolerance && !l.float_out) c.differs += first_difference("bits", act, ref.act);
    if (l.float_out && c.tolerance) {
      c.half_values = static_cast<int64_t>(ref.logits.size());
      c.differs += within_bound("logits", logits, ref.logits, ref.logits_bound, c);
    } else if (l.float_out) {
      c.differs += first_difference("logits", logits, ref.logits);
    }
    // Downstream layers read what the GPU wrote.
    if (!y.empty()) ref.y = y;
    if (!half.empty()) ref.half = half;
    if (!act.empty()) ref.act = std::move(act);
  };
  (void)reference_forward(m, w, images, r.batch(), hook);
  return out;
}

std::string describe(const LayerCheck& c) {
  if (!c.differs.empty()) return "DIFFERS:" + c.differs;
  if (!c.tolerance) return "equal";
  return fmt::format("within bound ({:.2f}% of {} fp16 values bit-equal, worst {:.3f} of the bound)",
                     c.half_values ? 100.0 * double(c.half_equal) / double(c.half_values) : 100.0, c.half_values,
                     c.worst_over_bound);
}

}  // namespace btc::net
