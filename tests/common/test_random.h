// Fresh random test data each run. The seed is printed on failure (through
// SCOPED_TRACE); set BTC_TEST_SEED to replay one.
#pragma once
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace btc::test {

// BTC_TEST_SEED when set, else a fresh seed.
inline uint32_t fresh_seed() {
  if (const char* s = std::getenv("BTC_TEST_SEED")) return static_cast<uint32_t>(std::strtoul(s, nullptr, 0));
  return std::random_device{}();
}

// Signs with exact zeros (both signs) mixed in: x >= 0 packs as 1.
inline std::vector<float> random_floats(std::mt19937& rng, size_t n) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::uniform_int_distribution<int> pick(0, 15);
  std::vector<float> x(n);
  for (auto& v : x) {
    const int p = pick(rng);
    v = p == 0 ? 0.0f : p == 1 ? -0.0f : u(rng);
  }
  return x;
}

inline std::vector<int8_t> random_int8(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<int> u(-128, 127);
  std::vector<int8_t> x(n);
  for (auto& v : x) v = static_cast<int8_t>(u(rng));
  return x;
}

}  // namespace btc::test

// Declares std::mt19937 `rng` seeded by fresh_seed(), the seed traced for failures.
#define BTC_SEEDED_RNG(rng)                                                      \
  const uint32_t seed_##rng = ::btc::test::fresh_seed();                         \
  SCOPED_TRACE("seed " + std::to_string(seed_##rng) + " (BTC_TEST_SEED replays)"); \
  std::mt19937 rng(seed_##rng)
