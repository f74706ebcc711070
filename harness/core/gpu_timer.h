// CUDA-event timing of one region of a stream. Events resolve ~0.5 us, so
// callers size their kernels to run for milliseconds.
#pragma once
#include <cuda_runtime.h>

#include "harness/core/check.h"

namespace btc {

class EventTimer {
 public:
  EventTimer() {
    BTC_CUDA_CHECK(cudaEventCreate(&start_));
    BTC_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~EventTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;

  void start(cudaStream_t s = nullptr) { BTC_CUDA_CHECK(cudaEventRecord(start_, s)); }
  // Waits for the region to finish; returns its device time in seconds.
  double stop_seconds(cudaStream_t s = nullptr) {
    BTC_CUDA_CHECK(cudaEventRecord(stop_, s));
    BTC_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    BTC_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return ms * 1e-3;
  }

  // Times `launch()` once, synchronously.
  template <class F>
  double time_seconds(F&& launch, cudaStream_t s = nullptr) {
    start(s);
    launch();
    return stop_seconds(s);
  }

 private:
  cudaEvent_t start_{}, stop_{};
};

}  // namespace btc
