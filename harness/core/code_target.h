// Which machine code this binary runs on a device, and what that allows.
//
// A binary may hold code for several targets (SASS for sm_75/80/90a, or PTX
// the driver JIT-compiles). What a kernel can issue depends on the pass the
// driver picked for the device, not on the device alone: a compute_75 PTX
// build runs on an H200 with sm_75 code, whose AND-form atoms trap. So every
// form, layout case and design is gated on the code target, and says why it
// skips ("built for compute_75; needs sm_80 code").
#pragma once
#include <string>
#include <string_view>

namespace btc {

struct CodeTarget {
  int device_sm = 0;   // compute capability, e.g. 90
  int code_arch = 0;   // __CUDA_ARCH__ / 10 of the pass that runs there, e.g. 75 for compute_75 PTX
  bool sm90a = false;  // that pass is the arch-specific sm_90a target (wgmma, setmaxnreg)
  bool emulated_arch() const { return code_arch != device_sm; }  // older code, JIT-compiled or run forward
};

// "" when code that needs `min_arch` (and the sm_90a target, when needs_sm90a)
// runs on `t`; otherwise the reason, naming `what` (e.g. "mma.sync b1 AND").
std::string arch_skip_reason(const CodeTarget& t, int min_arch, bool needs_sm90a, std::string_view what);

// The code target of device `device` (a probe kernel reports the pass the
// driver picked; every library of the build is compiled for the same targets).
// Cached per device. Throws a CUDA error on failure.
CodeTarget code_target(int device = 0);
CodeTarget current_code_target();  // of the current device (cudaGetDevice)

// "sm_90a code on sm_90" / "compute_75 code on an sm_90 GPU: functional, not Turing performance".
std::string describe(const CodeTarget& t);

}  // namespace btc
