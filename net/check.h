// The GPU runner against the CPU reference, layer by layer, each layer on
// the inputs the GPU layer read: the reference is fed the runner's outputs
// of every earlier layer (net::LayerHook), so a reordered real layer's
// last-bit differences are judged where they arise instead of flipping signs
// downstream. Integer, bit and in-order fp16 layers must be equal; a
// reordered one (conv_cudnn; fc_cublas: its logits within logits_bound)
// within ReferenceLayer::half_bound everywhere,
// with its signs equal wherever the bound cannot reach zero, and at least
// kMinBitEqualFraction of its values bit-equal (a wrong tap or channel moves
// nearly all of them; reordering moves only those near a rounding boundary).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "net/runner.h"

namespace btc::net {

constexpr double kMinBitEqualFraction = 0.9;

struct LayerCheck {
  std::string layer, design;
  bool tolerance = false;   // a reordered real layer, judged against half_bound
  std::string differs;      // "" when the layer passes, else what differs
  int64_t half_values = 0, half_equal = 0;  // fp16 values (or logits) and how many are bit-equal
  double worst_over_bound = 0;              // max |gpu - ref| / bound (tolerance layers)
};

// r: planned with keep_outputs, after a forward of `images` (its batch).
std::vector<LayerCheck> check_against_reference(Runner& r, const Weights& w, const std::vector<float>& images);

// "equal", "within bound (...)" or "DIFFERS: ...", for a report line.
std::string describe(const LayerCheck& c);

}  // namespace btc::net
