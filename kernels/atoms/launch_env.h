// Host-only, plain C++: the environment's say over how kernels launch.
//   BTC_NO_PDL=1 (any value but empty and "0"): launch without programmatic
//   dependent launch (atoms/grid_dependency.cuh), for A/B runs and for a
//   driver or GPU that misbehaves with it. Results files record it
//   (btcbench.launch).
#pragma once
#include <cstdlib>
#include <cstring>

namespace btc::atom {

// An environment flag's value: set unless null, empty or "0".
inline bool env_flag_set(const char* value) { return value != nullptr && *value != '\0' && std::strcmp(value, "0") != 0; }

inline bool programmatic_launch_disabled_by_env() {
  static const bool off = env_flag_set(std::getenv("BTC_NO_PDL"));
  return off;
}

// Why kernels launch plainly, without programmatic dependent launch, on a
// device of compute capability cc_major.x; "" where they launch with it.
inline const char* programmatic_launch_off_reason(int cc_major) {
  if (cc_major < 9) return "needs compute capability 9.0";
  if (programmatic_launch_disabled_by_env()) return "BTC_NO_PDL is set";
  return "";
}

}  // namespace btc::atom
