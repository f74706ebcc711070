// A device allocation the GPU tests poison, fill and read back, and the
// guard-word check: bytes past a payload must still hold the poison.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "harness/core/check.h"

namespace btc::test {

constexpr uint8_t kPoison = 0xA5;
constexpr size_t kGuardBytes = 256;  // poisoned bytes past each output: must survive the run

class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes > 0) BTC_CUDA_CHECK(cudaMalloc(&p_, bytes));
  }
  ~DeviceBuffer() {
    if (p_ != nullptr) cudaFree(p_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(p_);
  }
  void upload(const void* src, size_t bytes) { BTC_CUDA_CHECK(cudaMemcpy(p_, src, bytes, cudaMemcpyHostToDevice)); }
  void poison() {
    if (bytes_ > 0) BTC_CUDA_CHECK(cudaMemset(p_, kPoison, bytes_));
  }
  std::vector<uint8_t> download() const {
    std::vector<uint8_t> h(bytes_);
    if (bytes_ > 0) BTC_CUDA_CHECK(cudaMemcpy(h.data(), p_, bytes_, cudaMemcpyDeviceToHost));
    return h;
  }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

inline bool guard_intact(const std::vector<uint8_t>& h, size_t payload_bytes) {
  for (size_t i = payload_bytes; i < h.size(); ++i)
    if (h[i] != kPoison) return false;
  return true;
}

}  // namespace btc::test
