// Programmatic dependent launch (sm_90+). A kernel launched with
// cudaLaunchAttributeProgrammaticStreamSerialization may start while the
// kernel before it in the stream is still running, once every block of that
// kernel has called launch_dependents() (or exited): its set-up (index math,
// constant tables) then overlaps the other's tail and the launch latency,
// which at batch 1 is most of a BNN layer's time (the ~5-10 us graph times
// of the 3x3 BConvs at d451874). It must call grid_dependency_wait() before
// it reads the other kernel's output or writes anything: the wait returns
// once the kernels before it have completed and their writes are visible.
// Both are no-ops before sm_90 and in a kernel launched without the attribute.
// launch_programmatic() is the host side: the launch with the attribute,
// where the device has it.
#pragma once
#include <cuda_runtime.h>

#include <atomic>
#include <utility>

#include "harness/core/check.h"
#include "kernels/atoms/arch.cuh"
#include "kernels/atoms/launch_env.h"

namespace btc::atom {

__device__ __forceinline__ void grid_dependency_wait() {
#if BTC_HAS_SM90
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void launch_dependents() {
#if BTC_HAS_SM90
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// A kernel with nothing to set up before it reads its inputs (the network's
// elementwise steps): it waits for the kernels before it, then lets the next
// one start its own set-up.
__device__ __forceinline__ void begin_dependent_kernel() {
  grid_dependency_wait();
  launch_dependents();
}

// Host: the current device's SMs and major compute capability, asked once
// per device (launch code reads them on every call: split-K's shares, and
// whether the attributes below exist).
struct DeviceLaunchFacts {
  int sms = 0, cc_major = 0;
};
inline DeviceLaunchFacts device_launch_facts() {
  static std::atomic<int> packed_of[64] = {};  // cc_major << 16 | sms, 0 until asked
  int dev = 0;
  BTC_CUDA_CHECK(cudaGetDevice(&dev));
  int packed = dev >= 0 && dev < 64 ? packed_of[dev].load(std::memory_order_relaxed) : 0;
  if (packed == 0) {
    int sms = 0, major = 0;
    BTC_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    BTC_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    packed = major << 16 | sms;
    if (dev >= 0 && dev < 64) packed_of[dev].store(packed, std::memory_order_relaxed);
  }
  return {packed & 0xFFFF, packed >> 16};
}
// Programmatic dependent launch: compute capability 9.0 and up, unless
// BTC_NO_PDL says not to (launch_env.h).
inline bool programmatic_launch_supported() {
  return *programmatic_launch_off_reason(device_launch_facts().cc_major) == '\0';
}

// Host: kernel<<<grid, block, smem_bytes, stream>>>(args...) as a
// programmatic dependent of the kernel before it in the stream where the
// device has it (the kernel must call grid_dependency_wait() before touching
// memory the kernels before it use), and with clusters of `cluster` blocks
// when that is not 1 x 1 x 1 (sm_90). Checks the launch.
struct LaunchShape {
  dim3 grid, block;
  size_t smem_bytes = 0;
  cudaStream_t stream = nullptr;
  dim3 cluster = dim3(1, 1, 1);
};
template <class... Params, class... Args>
void launch_programmatic(const LaunchShape& l, void (*kernel)(Params...), Args&&... args) {
  cudaLaunchAttribute attrs[2] = {};
  unsigned n = 0;
  if (programmatic_launch_supported()) {
    attrs[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attrs[n++].val.programmaticStreamSerializationAllowed = 1;
  }
  if (l.cluster.x * l.cluster.y * l.cluster.z > 1) {
    attrs[n].id = cudaLaunchAttributeClusterDimension;
    attrs[n].val.clusterDim.x = l.cluster.x;
    attrs[n].val.clusterDim.y = l.cluster.y;
    attrs[n++].val.clusterDim.z = l.cluster.z;
  }
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = l.grid;
  cfg.blockDim = l.block;
  cfg.dynamicSmemBytes = l.smem_bytes;
  cfg.stream = l.stream;
  cfg.attrs = attrs;
  cfg.numAttrs = n;
  BTC_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, static_cast<Params>(std::forward<Args>(args))...));
}

}  // namespace btc::atom
