// Random +-1 operands generated on the GPU in any layout (the sweep's sizes
// are too large to pack on the host).
#pragma once
#include <cstdint>

#include "formats/layout.h"

namespace btc::bmm {

class DeviceBits {
 public:
  DeviceBits(const bits::BitMatrix& shape, uint64_t seed);
  ~DeviceBits();
  DeviceBits(const DeviceBits&) = delete;
  DeviceBits& operator=(const DeviceBits&) = delete;
  const uint32_t* words() const { return words_; }
  const bits::BitMatrix& shape() const { return shape_; }

 private:
  bits::BitMatrix shape_;
  uint32_t* words_ = nullptr;
};

}  // namespace btc::bmm
