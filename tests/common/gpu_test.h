// GPU tests skip, and say why, on a machine without a usable GPU.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "harness/core/device_info.h"  // harness/: device_count_or_throw, NoGpuError

namespace btc::test {

// "" when a GPU is present, else what CUDA reported.
inline std::string no_gpu_reason() {
  try {
    device_count_or_throw();
    return "";
  } catch (const NoGpuError& e) {
    return e.what();
  }
}

}  // namespace btc::test

// In a test body or a fixture's SetUp(): skip the test, with the reason, when there is no GPU.
#define BTC_SKIP_WITHOUT_GPU()                                                    \
  do {                                                                            \
    const std::string btc_no_gpu_why_ = ::btc::test::no_gpu_reason();            \
    if (!btc_no_gpu_why_.empty()) GTEST_SKIP() << btc_no_gpu_why_;                \
  } while (false)
