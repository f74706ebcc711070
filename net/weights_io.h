// Weights from a safetensors file (docs/weights.md names the tensors).
#pragma once
#include <string>

#include "net/model.h"
#include "net/weights.h"

namespace btc::net {

// Throws std::runtime_error (SafetensorsError or ModelError) naming the file
// and the tensor for a file that is not safetensors, a missing or misshaped
// tensor, a dtype that is not a float, or weights written for another model.
Weights load_weights(const Model& m, const std::string& path);

}  // namespace btc::net
