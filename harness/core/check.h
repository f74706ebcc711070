// Every CUDA call is checked; a failure names the call, file and line.
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace btc {

struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline void cuda_check(cudaError_t e, const char* what, const char* file, int line) {
  if (e != cudaSuccess)
    throw CudaError(std::string(what) + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ") at " +
                    file + ":" + std::to_string(line));
}

}  // namespace btc

#define BTC_CUDA_CHECK(call) ::btc::cuda_check((call), #call, __FILE__, __LINE__)
// After a launch: catches bad launch configurations now and faults at the next sync.
#define BTC_CUDA_CHECK_LAUNCH() BTC_CUDA_CHECK(cudaGetLastError())
