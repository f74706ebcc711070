// kernels/atoms/launch_env.h: which values of an environment flag (BTC_NO_PDL)
// mean "set", and why a device launches without programmatic dependent launch.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "kernels/atoms/launch_env.h"

namespace btc {
namespace {

TEST(LaunchEnv, FlagSetUnlessNullEmptyOrZero) {
  EXPECT_FALSE(atom::env_flag_set(nullptr));
  EXPECT_FALSE(atom::env_flag_set(""));
  EXPECT_FALSE(atom::env_flag_set("0"));
  EXPECT_TRUE(atom::env_flag_set("1"));
  EXPECT_TRUE(atom::env_flag_set("yes"));
  EXPECT_TRUE(atom::env_flag_set("00"));  // only "0" itself is off
}

TEST(LaunchEnv, OffReasonNamesTheArchThenTheEnvironment) {
  EXPECT_STREQ(atom::programmatic_launch_off_reason(7), "needs compute capability 9.0");
  EXPECT_STREQ(atom::programmatic_launch_off_reason(8), "needs compute capability 9.0");
  const std::string want = atom::env_flag_set(std::getenv("BTC_NO_PDL")) ? "BTC_NO_PDL is set" : "";
  EXPECT_EQ(atom::programmatic_launch_off_reason(9), want);
  EXPECT_EQ(atom::programmatic_launch_off_reason(10), want);
}

}  // namespace
}  // namespace btc
