// kernels/atoms/launch_env.h: which values of an environment flag (BTC_NO_PDL) mean "set".
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace btc
