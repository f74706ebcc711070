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
#pragma once
#include "kernels/atoms/arch.cuh"

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

}  // namespace btc::atom
