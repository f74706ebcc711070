// net::stem_tc, the tensor-core stem (conv + affine + relu + max-pool): GPU
// tests (label gpu) against a CPU reference written here, and host-only tests
// of its argument rules and its K layout (these run without a GPU).
//
// The reference and its tolerance. acc_ref = sum of x * w in double (exact
// products; the sum's error is far below the bound), S = sum of |x * w|. The
// GPU's fp32 acc differs from the exact sum by the tensor cores' summation
// (products exact, sums aligned and truncated in blocks of a few products:
// about 2^-18 S over the 10 k16 steps of the 7x7x3 stem); the test allows
// E = 2^-15 S + 2^-126 (a few times that; 2^-15 S is about half an fp16 ulp of
// a typical acc, while one wrong tap moves acc by about S / 147). Every step
// after acc is monotone in acc in the order that ranks -0 below +0 (fmaf
// for a fixed scale, rounding to fp16, relu, the pool's max), so each output
// must lie, in that order, between the outputs of acc_ref - E and acc_ref + E
// run through the same fmaf / half / relu / pool rules: an exact check of
// everything but the accumulation, including the sign of zero the pool keeps
// (+0 above -0) wherever the interval determines it. A bit is checked where
// both ends of its interval give the same bit (|v_ref| past the bound from
// 0); every bit must also equal (out >= 0) of the GPU's own out.
//
// Inputs: fresh random fp16 values with exact +-0 mixed in (BTC_SEEDED_RNG),
// NaN in the channels past c (they must be ignored), per-channel scales and
// shifts random, plus channels that make +-0 (scale 0, shift -0 / +0), one
// that overflows to +-inf and one with a negative scale. Outputs are
// poisoned with 0xFF bytes (fp16 NaN), with guard bytes after out and bits
// that must keep the poison.
#include <gtest/gtest.h>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/code_target.h"
#include "net/stem_tc.cuh"
#include "tests/common/device_buffer.h"
#include "tests/common/gpu_test.h"
#include "tests/common/test_random.h"

namespace btc {
namespace {

using net::StemTcArgs;
using test::DeviceBuffer;

constexpr size_t kGuard = 256;       // bytes past out and bits that must keep the poison
constexpr uint16_t kNanBits = 0x7E00;

uint16_t half_bits(float f) { return __half_as_ushort(__float2half_rn(f)); }
double half_value(uint16_t b) { return static_cast<double>(__half2float(__ushort_as_half(b))); }

// fp16 bits -> an integer whose order is the values' order, -0 below +0.
int order_key(uint16_t h) { return (h & 0x8000u) != 0 ? -static_cast<int>(h & 0x7FFFu) - 1 : static_cast<int>(h); }
uint16_t from_key(int key) {
  return key < 0 ? static_cast<uint16_t>(0x8000u | static_cast<uint32_t>(-(key + 1))) : static_cast<uint16_t>(key);
}

float round_down(double v) {
  float f = static_cast<float>(v);
  if (static_cast<double>(f) > v) f = std::nextafter(f, -INFINITY);
  return f;
}
float round_up(double v) {
  float f = static_cast<float>(v);
  if (static_cast<double>(f) < v) f = std::nextafter(f, INFINITY);
  return f;
}

struct Case {
  const char* name;
  int n, h, w, c, xc, k, r, stride, pad;
  bool pool, relu, bits;
  int max_blocks;  // 0: all that fit
};

// 224 x 224: the Bi-Real / ResNet-18 stems (xc 4 and 8); odd sizes; one or
// a few CTAs for a whole batch (long walks across images: prefetch over
// image, strip and filter-group changes); wide images (two strips); k 32,
// 96, 128; c 1, 2, 4; the other filters and strides; a 1 x 1 conv output.
const Case kCases[] = {
    {"bireal_224", 1, 224, 224, 3, 4, 64, 7, 2, 3, true, false, true, 0},
    {"fp16_224_relu_xc8", 1, 224, 224, 3, 8, 64, 7, 2, 3, true, true, true, 0},
    {"bireal_224_batch4_5ctas", 4, 224, 224, 3, 4, 64, 7, 2, 3, true, false, true, 5},
    {"odd_pool", 2, 37, 41, 3, 4, 64, 7, 2, 3, true, false, true, 0},
    {"odd_pool_relu_xc8", 2, 37, 41, 3, 8, 64, 7, 2, 3, true, true, true, 0},
    {"odd_conv", 2, 37, 41, 3, 4, 64, 7, 2, 3, false, false, true, 0},
    {"odd_conv_relu_xc8_nobits", 2, 37, 41, 3, 8, 64, 7, 2, 3, false, true, false, 0},
    {"one_cta_pool", 3, 37, 41, 3, 4, 64, 7, 2, 3, true, false, true, 1},
    {"seven_ctas_pool", 3, 37, 41, 3, 4, 64, 7, 2, 3, true, false, true, 7},
    {"three_ctas_conv_relu", 5, 30, 28, 3, 4, 64, 7, 2, 3, false, true, true, 3},
    {"wide_pool", 1, 21, 300, 3, 4, 64, 7, 2, 3, true, false, true, 0},
    {"wide_conv_relu", 1, 21, 300, 3, 8, 64, 7, 2, 3, false, true, true, 0},
    {"wide_k96_two_ctas_pool_relu", 2, 20, 300, 3, 4, 96, 7, 2, 3, true, true, true, 2},
    {"wide_one_cta_conv", 1, 9, 250, 3, 4, 64, 7, 2, 3, false, false, true, 1},
    {"k32_pool", 2, 19, 23, 3, 4, 32, 7, 2, 3, true, false, true, 0},
    {"k128_conv", 1, 19, 23, 3, 4, 128, 7, 2, 3, false, false, true, 0},
    {"c4_pool_relu", 2, 37, 41, 4, 4, 64, 7, 2, 3, true, true, true, 0},
    {"c1_pool", 2, 37, 41, 1, 4, 64, 7, 2, 3, true, false, true, 0},
    {"c2_conv_xc8", 2, 25, 27, 2, 8, 64, 7, 2, 3, false, false, true, 0},
    {"r7s1_conv", 1, 20, 22, 3, 4, 64, 7, 1, 3, false, false, true, 0},
    {"r5s2_pool", 2, 29, 31, 3, 4, 64, 5, 2, 2, true, false, true, 0},
    {"r5s1_conv_relu", 1, 18, 20, 3, 4, 64, 5, 1, 2, false, true, true, 0},
    {"r3s2_conv_relu_k32", 2, 33, 35, 3, 4, 32, 3, 2, 1, false, true, true, 0},
    {"r3s1_pool_one_cta", 2, 17, 19, 3, 4, 64, 3, 1, 1, true, false, true, 1},
    {"r3s2_pad0_c4_xc8_pool_relu", 1, 16, 18, 4, 8, 64, 3, 2, 0, true, true, true, 0},
    {"tiny_pool", 3, 1, 2, 3, 4, 64, 7, 2, 3, true, false, true, 0},
};

StemTcArgs shape_args(const Case& cs) {
  StemTcArgs a;
  a.n = cs.n, a.h = cs.h, a.wd = cs.w, a.c = cs.c, a.xc = cs.xc, a.k = cs.k;
  a.r = cs.r, a.stride = cs.stride, a.pad = cs.pad, a.pool = cs.pool, a.relu = cs.relu;
  a.max_blocks = cs.max_blocks;
  return a;
}

struct Inputs {
  std::vector<uint16_t> x;  // n x h x w x xc (channels >= c: NaN)
  std::vector<uint16_t> w;  // k x r x r x c
  std::vector<float> scale, shift;
};

Inputs random_inputs(const Case& cs, std::mt19937& rng) {
  Inputs in;
  const size_t pixels = size_t(cs.n) * cs.h * cs.w;
  const std::vector<float> xv = test::random_floats(rng, pixels * cs.c);
  in.x.assign(pixels * cs.xc, kNanBits);
  for (size_t p = 0; p < pixels; ++p)
    for (int ch = 0; ch < cs.c; ++ch) in.x[p * cs.xc + ch] = half_bits(xv[p * cs.c + ch]);
  const std::vector<float> wv = test::random_floats(rng, size_t(cs.k) * cs.r * cs.r * cs.c);
  in.w.resize(wv.size());
  for (size_t i = 0; i < wv.size(); ++i) in.w[i] = half_bits(wv[i]);
  std::uniform_real_distribution<float> us(-2.f, 2.f), uh(-1.f, 1.f);
  in.scale.resize(cs.k);
  in.shift.resize(cs.k);
  for (int j = 0; j < cs.k; ++j) {
    in.scale[j] = us(rng);
    in.shift[j] = uh(rng);
  }
  // +-0 outputs (the pool's +0 above -0), +-inf, a negative scale; in both
  // filter halves of the first group and in the last group.
  for (int base : {0, 32, cs.k - 32}) {
    if (base + 4 > cs.k) continue;  // k 32: one group, one half
    in.scale[base + 0] = 0.0f, in.shift[base + 0] = -0.0f;  // -0 where acc < 0, +0 where acc > 0
    in.scale[base + 1] = 0.0f, in.shift[base + 1] = 0.0f;   // +0
    in.scale[base + 2] = 30000.0f;                           // |v| past 65504: +-inf
    in.scale[base + 3] = -1.0f;
  }
  return in;
}

// The reference's output interval (order keys, lo <= hi) of every element of
// out (n x oh x ow x k).
struct Expected {
  std::vector<int> lo, hi;
};

Expected reference(const Case& cs, const Inputs& in) {
  const net::StemTcShape sh = net::stem_tc_shape(shape_args(cs));
  const int taps = cs.r * cs.r * cs.c;
  const size_t conv_n = size_t(cs.n) * sh.p * sh.q * cs.k;
  std::vector<int> clo(conv_n), chi(conv_n);
  std::vector<double> patch(taps);
  std::vector<double> wd(in.w.size());
  for (size_t i = 0; i < wd.size(); ++i) wd[i] = half_value(in.w[i]);
  for (int img = 0; img < cs.n; ++img)
    for (int y = 0; y < sh.p; ++y)
      for (int xq = 0; xq < sh.q; ++xq) {
        for (int r = 0; r < cs.r; ++r)
          for (int s = 0; s < cs.r; ++s) {
            const int ih = y * cs.stride - cs.pad + r, iw = xq * cs.stride - cs.pad + s;
            const bool inside = ih >= 0 && ih < cs.h && iw >= 0 && iw < cs.w;
            for (int ch = 0; ch < cs.c; ++ch)
              patch[(r * cs.r + s) * cs.c + ch] =
                  inside ? half_value(in.x[((size_t(img) * cs.h + ih) * cs.w + iw) * cs.xc + ch]) : 0.0;
          }
        const size_t out_base = ((size_t(img) * sh.p + y) * sh.q + xq) * cs.k;
        for (int kf = 0; kf < cs.k; ++kf) {
          const double* wk = wd.data() + size_t(kf) * taps;
          double acc = 0.0, sum_abs = 0.0;
          for (int i = 0; i < taps; ++i) {
            acc += patch[i] * wk[i];
            sum_abs += std::fabs(patch[i] * wk[i]);
          }
          const double e = std::ldexp(sum_abs, -15) + std::ldexp(1.0, -126);
          const float a_lo = round_down(acc - e), a_hi = round_up(acc + e);
          int k1 = order_key(half_bits(std::fma(in.scale[kf], a_lo, in.shift[kf])));
          int k2 = order_key(half_bits(std::fma(in.scale[kf], a_hi, in.shift[kf])));
          if (k1 > k2) std::swap(k1, k2);
          if (cs.relu) k1 = std::max(k1, 0), k2 = std::max(k2, 0);  // y > 0 ? y : +0 (key 0)
          clo[out_base + kf] = k1;
          chi[out_base + kf] = k2;
        }
      }
  if (!cs.pool) return {clo, chi};
  Expected ex;
  const size_t out_n = size_t(cs.n) * sh.oh * sh.ow * cs.k;
  ex.lo.assign(out_n, INT32_MIN);
  ex.hi.assign(out_n, INT32_MIN);
  for (int img = 0; img < cs.n; ++img)
    for (int i = 0; i < sh.oh; ++i)
      for (int j = 0; j < sh.ow; ++j)
        for (int y = 2 * i - 1; y <= 2 * i + 1; ++y)
          for (int xq = 2 * j - 1; xq <= 2 * j + 1; ++xq) {
            if (y < 0 || y >= sh.p || xq < 0 || xq >= sh.q) continue;  // outside the conv output: ignored
            const size_t src = ((size_t(img) * sh.p + y) * sh.q + xq) * cs.k;
            const size_t dst = ((size_t(img) * sh.oh + i) * sh.ow + j) * cs.k;
            for (int kf = 0; kf < cs.k; ++kf) {
              ex.lo[dst + kf] = std::max(ex.lo[dst + kf], clo[src + kf]);
              ex.hi[dst + kf] = std::max(ex.hi[dst + kf], chi[src + kf]);
            }
          }
  return ex;
}

bool all_bytes(const std::vector<uint8_t>& h, size_t from, uint8_t v) {
  for (size_t i = from; i < h.size(); ++i)
    if (h[i] != v) return false;
  return true;
}

std::string where(const net::StemTcShape& sh, int k, size_t e) {
  const size_t ch = e % k, pix = e / k;
  const size_t col = pix % sh.ow, row = (pix / sh.ow) % sh.oh, img = pix / (size_t(sh.ow) * sh.oh);
  return "image " + std::to_string(img) + " row " + std::to_string(row) + " col " + std::to_string(col) + " ch " +
         std::to_string(ch);
}

class StemTcGpu : public ::testing::TestWithParam<Case> {};

TEST_P(StemTcGpu, MatchesCpuReference) {
  BTC_SKIP_WITHOUT_GPU();
  if (const std::string why = net::stem_tc_skip_reason(current_code_target()); !why.empty()) GTEST_SKIP() << why;
  const Case& cs = GetParam();
  BTC_SEEDED_RNG(rng);
  const Inputs in = random_inputs(cs, rng);
  StemTcArgs a = shape_args(cs);
  const net::StemTcShape sh = net::stem_tc_shape(a);
  const size_t out_n = size_t(cs.n) * sh.oh * sh.ow * cs.k;
  const size_t out_bytes = out_n * 2, bits_bytes = out_n / 8;

  DeviceBuffer dx(in.x.size() * 2), dw(in.w.size() * 2), dscale(cs.k * 4), dshift(cs.k * 4);
  DeviceBuffer dout(out_bytes + kGuard), dbits(bits_bytes + kGuard);
  dx.upload(in.x.data(), in.x.size() * 2);
  dw.upload(in.w.data(), in.w.size() * 2);
  dscale.upload(in.scale.data(), cs.k * 4);
  dshift.upload(in.shift.data(), cs.k * 4);
  BTC_CUDA_CHECK(cudaMemset(dout.as<void>(), 0xFF, out_bytes + kGuard));
  BTC_CUDA_CHECK(cudaMemset(dbits.as<void>(), 0xFF, bits_bytes + kGuard));
  a.x = dx.as<const __half>();
  a.w = dw.as<const __half>();
  a.scale = dscale.as<const float>();
  a.shift = dshift.as<const float>();
  a.out = dout.as<__half>();
  a.bits = cs.bits ? dbits.as<uint32_t>() : nullptr;
  ASSERT_EQ(net::stem_tc_unsupported(a), "");
  net::stem_tc(a, nullptr);
  BTC_CUDA_CHECK(cudaDeviceSynchronize());

  const std::vector<uint8_t> out_raw = dout.download(), bits_raw = dbits.download();
  EXPECT_TRUE(all_bytes(out_raw, out_bytes, 0xFF)) << "stem_tc wrote past out";
  EXPECT_TRUE(all_bytes(bits_raw, cs.bits ? bits_bytes : 0, 0xFF))
      << (cs.bits ? "stem_tc wrote past bits" : "stem_tc wrote bits with bits = nullptr");
  const Expected ex = reference(cs, in);

  int bad_values = 0, bad_bits = 0, bad_self = 0, checked_bits = 0;
  for (size_t e = 0; e < out_n; ++e) {
    const uint16_t y = static_cast<uint16_t>(out_raw[2 * e] | (out_raw[2 * e + 1] << 8));
    const bool is_nan = (y & 0x7C00u) == 0x7C00u && (y & 0x03FFu) != 0;
    const int key = order_key(y);
    if (is_nan || key < ex.lo[e] || key > ex.hi[e]) {
      if (++bad_values <= 8)
        ADD_FAILURE() << where(sh, cs.k, e) << ": out " << half_value(y) << " (0x" << std::hex << y << std::dec
                      << "), the reference allows [" << half_value(from_key(ex.lo[e])) << ", "
                      << half_value(from_key(ex.hi[e])) << "] (keys " << ex.lo[e] << ", " << ex.hi[e] << ")";
    }
    if (!cs.bits) continue;
    const uint32_t word = uint32_t(bits_raw[(e / 32) * 4]) | uint32_t(bits_raw[(e / 32) * 4 + 1]) << 8 |
                          uint32_t(bits_raw[(e / 32) * 4 + 2]) << 16 | uint32_t(bits_raw[(e / 32) * 4 + 3]) << 24;
    const bool bit = ((word >> (e % 32)) & 1u) != 0;
    if (bit != (!is_nan && half_value(y) >= 0.0)) {  // -0 is +1
      if (++bad_self <= 8) ADD_FAILURE() << where(sh, cs.k, e) << ": bit " << bit << " but out " << half_value(y);
    }
    const int neg_zero = order_key(0x8000);  // bit = key >= key(-0)
    if (ex.lo[e] >= neg_zero || ex.hi[e] < neg_zero) {
      ++checked_bits;
      const bool want = ex.lo[e] >= neg_zero;
      if (bit != want && ++bad_bits <= 8)
        ADD_FAILURE() << where(sh, cs.k, e) << ": bit " << bit << ", the reference's " << want;
    }
  }
  EXPECT_EQ(bad_values, 0) << "of " << out_n << " values";
  EXPECT_EQ(bad_bits, 0) << "of " << checked_bits << " determined bits";
  EXPECT_EQ(bad_self, 0) << "bits that are not (out >= 0)";
  if (cs.bits) {
    EXPECT_GT(checked_bits, static_cast<int>(out_n * 9 / 10)) << "too few bits determined to test";
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, StemTcGpu, ::testing::ValuesIn(kCases),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// The Bi-Real stem at batch 1024 (224 x 224 x 3 padded to 4, 7x7/2 pad 3, 64
// filters, pool): the median of 10 runs, printed with its DRAM bytes and MMA
// count (values are not checked here: MatchesCpuReference does). Skipped
// with BTC_TEST_SMALL=1 (compute-sanitizer runs).
TEST(StemTcGpuTiming, BirealStemBatch1024) {
  BTC_SKIP_WITHOUT_GPU();
  if (const char* v = std::getenv("BTC_TEST_SMALL"); v != nullptr && std::string(v) != "" && std::string(v) != "0")
    GTEST_SKIP() << "BTC_TEST_SMALL: no batch-1024 timing";
  if (const std::string why = net::stem_tc_skip_reason(current_code_target()); !why.empty()) GTEST_SKIP() << why;
  StemTcArgs a;
  a.n = 1024, a.h = 224, a.wd = 224, a.c = 3, a.xc = 4, a.k = 64, a.r = 7, a.stride = 2, a.pad = 3, a.pool = true;
  const net::StemTcShape sh = net::stem_tc_shape(a);
  const size_t x_n = size_t(a.n) * a.h * a.wd * a.xc, out_n = size_t(a.n) * sh.oh * sh.ow * a.k;
  DeviceBuffer dx(x_n * 2), dw(size_t(a.k) * 147 * 2), dscale(a.k * 4), dshift(a.k * 4), dout(out_n * 2),
      dbits(out_n / 8);
  BTC_CUDA_CHECK(cudaMemset(dx.as<void>(), 0x2C, x_n * 2));  // every value 0.0647
  BTC_CUDA_CHECK(cudaMemset(dw.as<void>(), 0x2C, size_t(a.k) * 147 * 2));
  const std::vector<float> ones(a.k, 1.0f), zeros(a.k, 0.0f);
  dscale.upload(ones.data(), a.k * 4);
  dshift.upload(zeros.data(), a.k * 4);
  a.x = dx.as<const __half>();
  a.w = dw.as<const __half>();
  a.scale = dscale.as<const float>();
  a.shift = dshift.as<const float>();
  a.out = dout.as<__half>();
  a.bits = dbits.as<uint32_t>();
  cudaEvent_t e0, e1;
  BTC_CUDA_CHECK(cudaEventCreate(&e0));
  BTC_CUDA_CHECK(cudaEventCreate(&e1));
  for (int i = 0; i < 2; ++i) net::stem_tc(a, nullptr);
  std::vector<float> ms;
  for (int i = 0; i < 10; ++i) {
    BTC_CUDA_CHECK(cudaEventRecord(e0));
    net::stem_tc(a, nullptr);
    BTC_CUDA_CHECK(cudaEventRecord(e1));
    BTC_CUDA_CHECK(cudaEventSynchronize(e1));
    float t = 0;
    BTC_CUDA_CHECK(cudaEventElapsedTime(&t, e0, e1));
    ms.push_back(t);
  }
  BTC_CUDA_CHECK(cudaEventDestroy(e0));
  BTC_CUDA_CHECK(cudaEventDestroy(e1));
  std::sort(ms.begin(), ms.end());
  const double bytes = double(x_n) * 2 + double(out_n) * 2 + double(out_n) / 8;
  const double mmas = double(a.n) * 112 * (112 / 16) * (64 / 8) * 10;  // 16-pixel tiles x n8 tiles x k16 steps
  std::cout << "  stem_tc bireal stem, batch 1024: median " << ms[ms.size() / 2] << " ms (min " << ms.front()
            << "); DRAM bytes " << bytes / 1e6 << " MB, " << mmas / 1e6 << " M mma.sync m16n8k16 ("
            << mmas * 4096 / 1e9 << " G FLOP issued)\n";
  RecordProperty("median_ms", std::to_string(ms[ms.size() / 2]));
  EXPECT_GT(ms.front(), 0.0f);
}

// Host only (no GPU): every refused argument says why; stem_tc throws on them
// before touching the device.
TEST(StemTc, RejectsBadArgumentsWithAReason) {
  alignas(16) static uint8_t storage[64];
  StemTcArgs ok;
  ok.x = reinterpret_cast<const __half*>(storage);
  ok.w = reinterpret_cast<const __half*>(storage);
  ok.scale = reinterpret_cast<const float*>(storage);
  ok.shift = reinterpret_cast<const float*>(storage);
  ok.out = reinterpret_cast<__half*>(storage);
  ok.bits = reinterpret_cast<uint32_t*>(storage);
  ok.n = 2, ok.h = 224, ok.wd = 224, ok.c = 3, ok.xc = 4, ok.k = 64, ok.r = 7, ok.stride = 2, ok.pad = 3;
  ok.pool = true;
  EXPECT_EQ(net::stem_tc_unsupported(ok), "");
  StemTcArgs nobits = ok;
  nobits.bits = nullptr;
  EXPECT_EQ(net::stem_tc_unsupported(nobits), "");

  struct Bad {
    const char* what;
    StemTcArgs a;
    const char* says;
  };
  std::vector<Bad> bad;
  auto add = [&](const char* what, const char* says, auto mutate) {
    StemTcArgs a = ok;
    mutate(a);
    bad.push_back({what, a, says});
  };
  add("k 48", "multiple of 32", [](StemTcArgs& a) { a.k = 48; });
  add("k 0", "multiple of 32", [](StemTcArgs& a) { a.k = 0; });
  add("c 9", "1 to 4 input channels", [](StemTcArgs& a) { a.c = 9, a.xc = 12; });
  add("c 5", "1 to 4 input channels", [](StemTcArgs& a) { a.c = 5, a.xc = 8; });
  add("c 0", "1 to 4 input channels", [](StemTcArgs& a) { a.c = 0; });
  add("xc 3", "multiple of 4", [](StemTcArgs& a) { a.xc = 3; });
  add("xc 6", "multiple of 4", [](StemTcArgs& a) { a.xc = 6; });
  add("xc < c", "multiple of 4 and >= c", [](StemTcArgs& a) { a.c = 4, a.xc = 0; });
  add("stride 3", "stride 1 or 2", [](StemTcArgs& a) { a.stride = 3; });
  add("stride 0", "stride 1 or 2", [](StemTcArgs& a) { a.stride = 0; });
  add("r 4", "3x3, 5x5 or 7x7", [](StemTcArgs& a) { a.r = 4; });
  add("r 9", "3x3, 5x5 or 7x7", [](StemTcArgs& a) { a.r = 9; });
  add("pad 7", "pad", [](StemTcArgs& a) { a.pad = 7; });
  add("pad -1", "pad", [](StemTcArgs& a) { a.pad = -1; });
  add("filter past the image", "larger than the padded", [](StemTcArgs& a) { a.h = 2, a.pad = 0; });
  add("n 0", "empty input", [](StemTcArgs& a) { a.n = 0; });
  add("w 0", "empty input", [](StemTcArgs& a) { a.wd = 0; });
  add("no x", "must be set", [](StemTcArgs& a) { a.x = nullptr; });
  add("no out", "must be set", [](StemTcArgs& a) { a.out = nullptr; });
  add("no scale", "must be set", [](StemTcArgs& a) { a.scale = nullptr; });
  add("image past int32", "2^31", [](StemTcArgs& a) { a.h = 30000, a.wd = 30000; });
  add("batch past int32", "int32", [](StemTcArgs& a) { a.n = 100000000; });
  add("x misaligned", "x must be 8-byte aligned",
      [](StemTcArgs& a) { a.x = reinterpret_cast<const __half*>(storage + 2); });
  add("out misaligned", "out must be 16-byte aligned",
      [](StemTcArgs& a) { a.out = reinterpret_cast<__half*>(storage + 8); });
  add("bits misaligned", "bits must be 4-byte aligned",
      [](StemTcArgs& a) { a.bits = reinterpret_cast<uint32_t*>(storage + 2); });
  add("max_blocks -1", "max_blocks", [](StemTcArgs& a) { a.max_blocks = -1; });
  for (const Bad& b : bad) {
    const std::string why = net::stem_tc_unsupported(b.a);
    EXPECT_NE(why.find(b.says), std::string::npos) << b.what << ": got \"" << why << "\", want it to say \"" << b.says
                                                   << "\"";
    EXPECT_THROW(net::stem_tc(b.a, nullptr), std::invalid_argument) << b.what;
  }
}

TEST(StemTc, ShapesOfTheStems) {
  StemTcArgs a;
  a.n = 1, a.h = 224, a.wd = 224, a.r = 7, a.stride = 2, a.pad = 3, a.pool = true;
  net::StemTcShape s = net::stem_tc_shape(a);
  EXPECT_EQ(s.p, 112);
  EXPECT_EQ(s.q, 112);
  EXPECT_EQ(s.oh, 56);
  EXPECT_EQ(s.ow, 56);
  a.h = 37, a.wd = 41;
  s = net::stem_tc_shape(a);
  EXPECT_EQ(s.p, 19);
  EXPECT_EQ(s.q, 21);
  EXPECT_EQ(s.oh, 10);
  EXPECT_EQ(s.ow, 11);
  a.pool = false;
  s = net::stem_tc_shape(a);
  EXPECT_EQ(s.oh, 19);
  EXPECT_EQ(s.ow, 21);
}

// Every tap (filter row r, run position q < r * cs) of the K layout is
// covered by exactly one lane half that the lane mask keeps, and nothing else
// is kept; the 7x7x3 stem takes 10 k16 steps (dense channels), not 13.
template <int R, int S, int CS>
void expect_layout_covers_every_tap_once() {
  using L = net::stem_tc_layout::KLayout<R, S, CS>;
  SCOPED_TRACE("r " + std::to_string(R) + " stride " + std::to_string(S) + " cs " + std::to_string(CS));
  std::vector<int> seen(static_cast<size_t>(R * L::kRun), 0);
  int kept = 0;
  for (int gi = 0; gi < 2 * L::kSteps; ++gi)
    for (int t = 0; t < 4; ++t) {
      const uint32_t mask = L::lane_mask(gi, t);
      for (int hf = 0; hf < 2; ++hf) {
        if (((mask >> (16 * hf)) & 0xFFFFu) == 0) continue;
        ++kept;
        const int r = L::lane_row(gi, t), q = 2 * L::lane_word(gi, t) + hf;
        ASSERT_LT(r, R);
        ASSERT_LT(q, L::kRun) << "group " << gi << " lane " << t;
        ++seen[size_t(r) * L::kRun + q];
      }
    }
  EXPECT_EQ(kept, R * L::kRun);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 1) << "tap " << i;
  EXPECT_GE(16 * L::kSteps, R * L::kRun);  // and at most one k16 step more than the taps need:
  EXPECT_LE(16 * L::kSteps, R * L::kRun + 31);
}

TEST(StemTc, KLayoutCoversEveryTapOnce) {
  expect_layout_covers_every_tap_once<7, 2, 3>();
  expect_layout_covers_every_tap_once<7, 2, 4>();
  expect_layout_covers_every_tap_once<7, 1, 4>();
  expect_layout_covers_every_tap_once<5, 2, 3>();
  expect_layout_covers_every_tap_once<5, 2, 4>();
  expect_layout_covers_every_tap_once<5, 1, 4>();
  expect_layout_covers_every_tap_once<3, 2, 3>();
  expect_layout_covers_every_tap_once<3, 2, 4>();
  expect_layout_covers_every_tap_once<3, 1, 4>();
  EXPECT_EQ((net::stem_tc_layout::KLayout<7, 2, 3>::kSteps), 10);
  EXPECT_EQ((net::stem_tc_layout::KLayout<7, 2, 4>::kSteps), 13);
}

}  // namespace
}  // namespace btc
