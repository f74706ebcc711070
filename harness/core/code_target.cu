#include <mutex>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/code_target.h"

namespace btc {
namespace {

// out[0] = __CUDA_ARCH__ of the pass the driver picked, out[1] = 1 in the sm_90a pass.
__global__ void probe_code_target_kernel(int* out) {
#if defined(__CUDA_ARCH__)
  out[0] = __CUDA_ARCH__;
#endif
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  out[1] = 1;
#else
  out[1] = 0;
#endif
}

}  // namespace

CodeTarget code_target(int device) {
  static std::mutex mu;
  static std::vector<std::pair<int, CodeTarget>> cache;
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& [d, t] : cache)
    if (d == device) return t;
  int prev = 0;
  BTC_CUDA_CHECK(cudaGetDevice(&prev));
  BTC_CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop{};
  BTC_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  int* d_out = nullptr;
  int h[2] = {0, 0};
  BTC_CUDA_CHECK(cudaMalloc(&d_out, sizeof(h)));
  probe_code_target_kernel<<<1, 1>>>(d_out);
  BTC_CUDA_CHECK_LAUNCH();
  BTC_CUDA_CHECK(cudaMemcpy(h, d_out, sizeof(h), cudaMemcpyDeviceToHost));
  BTC_CUDA_CHECK(cudaFree(d_out));
  BTC_CUDA_CHECK(cudaSetDevice(prev));
  CodeTarget t;
  t.device_sm = prop.major * 10 + prop.minor;
  t.code_arch = h[0] / 10;
  t.sm90a = h[1] == 1;
  cache.emplace_back(device, t);
  return t;
}

CodeTarget current_code_target() {
  int device = 0;
  BTC_CUDA_CHECK(cudaGetDevice(&device));
  return code_target(device);
}

}  // namespace btc
