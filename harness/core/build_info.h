#pragma once
#include <string>

namespace btc {
struct BuildInfo {
  std::string git_commit;    // 40 hex, or "unknown" outside a git checkout
  std::string git_describe;  // e.g. "0123abc-dirty"
  bool git_dirty;
  std::string cuda_toolkit;  // nvcc version the kernels were built with
  std::string cuda_archs;    // CMAKE_CUDA_ARCHITECTURES
  std::string compiler;
};
const BuildInfo& build_info();  // generated at build time, see cmake/write_build_info.cmake
}  // namespace btc
