#include "harness/core/code_target.h"

namespace btc {

std::string arch_skip_reason(const CodeTarget& t, int min_arch, bool needs_sm90a, std::string_view what) {
  const std::string w(what);
  const std::string dev = "device is sm_" + std::to_string(t.device_sm);
  if (t.device_sm < min_arch) return w + " needs sm_" + std::to_string(min_arch) + "+; " + dev;
  if (needs_sm90a && t.device_sm != 90)
    return w + " needs the sm_90a target (it exists on sm_90 only); " + dev;
  if (t.code_arch < min_arch)
    return "built for compute_" + std::to_string(t.code_arch) + "; " + w + " needs sm_" + std::to_string(min_arch) +
           " code (add " + std::to_string(min_arch) + " to CMAKE_CUDA_ARCHITECTURES)";
  if (needs_sm90a && !t.sm90a)
    return "binary not built for sm_90a; " + w + " needs it (add 90a to CMAKE_CUDA_ARCHITECTURES)";
  return "";
}

std::string describe(const CodeTarget& t) {
  const std::string code = t.sm90a ? "sm_90a" : "compute_" + std::to_string(t.code_arch);
  if (!t.emulated_arch()) return code + " code on sm_" + std::to_string(t.device_sm);
  return code + " code on an sm_" + std::to_string(t.device_sm) + " GPU: functional, not sm_" +
         std::to_string(t.code_arch) + " performance";
}

}  // namespace btc
