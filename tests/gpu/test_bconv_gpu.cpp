// GPU tests of every BConv design in the registry (label: gpu): for each
// design x layer, int32 pre-activations and the fused bits epilogue (random
// thresholds, some exactly on a z, INT32_MAX / MIN, random flipped channels)
// equal the CPU reference (bconv::reference_dots / reference_bits, on ±1
// integers) bit for bit, on fresh random signs, with poisoned outputs, guard
// words past them, and a poisoned workspace before every prepare(). Layers
// cover every padding mode, strides 1 and 2, filters 1/3/5/7, C not a
// multiple of 32 or 128, odd H and W, K not a multiple of a block. A design's
// skip_reason skips it; a layer it reports unsupported skips with the reason,
// but every design not skipped must run at least one layer (BconvGpuCoverage).
// BTC_TEST_SMALL=1 keeps the small layers (compute-sanitizer runs).
// BTC_BCONV_DUMP=DIR writes each int32 run's ±1 tensors and z as raw files
// for scripts/bconv_torch_check.py (PyTorch conv2d on the same tensors).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "formats/pack_cpu.h"
#include "harness/core/code_target.h"
#include "kernels/bconv/bconv.h"
#include "kernels/tile/split_k_rule.h"
#include "kernels/bmm/bmm_designs.h"
#include "net/weights.h"
#include "tests/common/device_buffer.h"
#include "tests/common/gpu_test.h"
#include "tests/common/operands.h"
#include "tests/common/test_random.h"

namespace btc {
namespace {

using bconv::Design;
using bconv::Epilogue;
using bconv::PadValue;
using bconv::Problem;
using test::DeviceBuffer;

bool small_only() {
  const char* v = std::getenv("BTC_TEST_SMALL");
  return v != nullptr && std::string(v) != "" && std::string(v) != "0";
}

using test::bconv_layer;

const std::vector<Problem>& layers() {
  static const std::vector<Problem> small = {
      bconv_layer(2, 7, 9, 64, 40, 3, 1, 1),                       // C words 2, K < one block
      bconv_layer(1, 13, 11, 96, 70, 3, 2, 1),                     // C words 3 (odd), stride 2, K past a block
      bconv_layer(3, 8, 8, 33, 64, 5, 1, 2, PadValue::kPlusOne),   // C tail bits, larq pad +1
  };
  static const std::vector<Problem> all = [] {
    std::vector<Problem> v = small;
    v.push_back(bconv_layer(2, 10, 10, 128, 130, 1, 2, 0));                    // 1x1 s2 downsample
    v.push_back(bconv_layer(1, 9, 9, 256, 64, 7, 1, 3, PadValue::kMinusOne));  // 7x7, larq pad -1
    v.push_back(bconv_layer(2, 14, 14, 128, 64, 3, 1, 1));                     // several K slabs
    v.push_back(bconv_layer(8, 12, 12, 64, 64, 3, 1, 1));                      // many pixel blocks
    v.push_back(bconv_layer(1, 15, 17, 512, 32, 3, 2, 1));                     // C words 16, odd H, W
    return v;
  }();
  return small_only() ? small : all;
}

std::string describe(const Problem& p) {
  const char* pv = p.pad_value == PadValue::kZero ? "z" : p.pad_value == PadValue::kPlusOne ? "p1" : "m1";
  return std::to_string(p.n) + "x" + std::to_string(p.h) + "x" + std::to_string(p.w) + "x" + std::to_string(p.c) +
         "_k" + std::to_string(p.k) + "_rs" + std::to_string(p.r) + "_s" + std::to_string(p.stride) + "_p" +
         std::to_string(p.pad) + pv;
}

// Random ±1 values of a natural (row-major) tensor, packed into `shape`.
struct Packed {
  std::vector<int8_t> pm1;    // the ±1 values, rows x logical k
  std::vector<uint32_t> bits; // packed as shape
};
Packed random_tensor(std::mt19937& rng, const bits::BitMatrix& shape) {
  Packed t;
  t.pm1.resize(static_cast<size_t>(shape.rows) * shape.k);
  for (auto& v : t.pm1) v = (rng() & 1u) ? 1 : -1;
  t.bits = bits::pack_signs(t.pm1.data(), shape.rows, shape.k, shape);
  return t;
}

void dump(const Design& d, const Problem& p, const Packed& x, const Packed& w, const std::vector<int32_t>& z) {
  const char* dir = std::getenv("BTC_BCONV_DUMP");
  if (dir == nullptr || *dir == '\0') return;
  const std::string base = std::string(dir) + "/" + d.name() + "_" + describe(p);
  auto write = [&](const std::string& path, const void* data, size_t bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
    if (!f) ADD_FAILURE() << "BTC_BCONV_DUMP: cannot write " << path;
  };
  write(base + ".x.i8", x.pm1.data(), x.pm1.size());
  write(base + ".w.i8", w.pm1.data(), w.pm1.size());
  write(base + ".z.i32", z.data(), z.size() * 4);
  std::ofstream meta(base + ".json");
  meta << "{\"n\":" << p.n << ",\"h\":" << p.h << ",\"w\":" << p.w << ",\"c\":" << p.c << ",\"k\":" << p.k
       << ",\"r\":" << p.r << ",\"s\":" << p.s << ",\"stride\":" << p.stride << ",\"pad\":" << p.pad
       << ",\"pad_value\":" << (p.pad_value == PadValue::kZero ? 0 : p.pad_value == PadValue::kPlusOne ? 1 : -1)
       << "}\n";
}

// The kHalf output (a Bi-Real layer's batch norm + fp16 shortcut, fused) of
// one design on one layer against the reference's arithmetic on the CPU
// reference's z (docs/models.md: y = half(fmaf(scale, z, shift) + shortcut),
// bits y >= 0 with -0 as +1), every fp16 value and bit word equal. Scales and
// shifts are random of both signs; channels 0 and 2 give +-0 (scale 0,
// shift -0 / +0; both bit 1), channel 1 overflows to +-inf.
void check_half(const Design& d, const Problem& p, const bconv::Operands& in, DeviceBuffer& ws,
                const std::vector<int32_t>& z, bool with_shortcut, std::mt19937& rng) {
  SCOPED_TRACE(with_shortcut ? "fp16 + shortcut" : "fp16, no shortcut");
  const int64_t m = p.out_pixels();
  const size_t n_out = static_cast<size_t>(m) * p.k;
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  std::vector<float> scale(static_cast<size_t>(p.k)), shift(static_cast<size_t>(p.k));
  for (int j = 0; j < p.k; ++j) {
    scale[static_cast<size_t>(j)] = u(rng) / 64.0f;
    shift[static_cast<size_t>(j)] = u(rng);
  }
  scale[0] = 0.0f, shift[0] = -0.0f;
  scale[1] = 1e4f, shift[1] = 0.5f;
  scale[2] = 0.0f, shift[2] = 0.0f;
  std::vector<uint16_t> shortcut;
  if (with_shortcut) {
    shortcut.resize(n_out);
    for (auto& h : shortcut) h = net::float_to_half_bits(4.0f * u(rng));
    for (int64_t i = 0; i < m; ++i) shortcut[static_cast<size_t>(i) * p.k] = net::float_to_half_bits(-0.0f);
  }
  const bits::BitMatrix bs = bconv::output_bits_shape(p);
  std::vector<uint16_t> want_y(n_out);
  std::vector<uint32_t> want_bits(static_cast<size_t>(bs.words()), 0u);
  for (int64_t i = 0; i < m; ++i)
    for (int j = 0; j < p.k; ++j) {
      const size_t e = static_cast<size_t>(i) * p.k + static_cast<size_t>(j);
      float v = std::fmaf(scale[static_cast<size_t>(j)], static_cast<float>(z[e]), shift[static_cast<size_t>(j)]);
      if (with_shortcut) v = v + net::half_bits_to_float(shortcut[e]);
      want_y[e] = net::float_to_half_bits(v);
      if (net::half_bits_to_float(want_y[e]) >= 0.0f) want_bits[static_cast<size_t>(bs.word_index(static_cast<int>(i), j / 32))] |= 1u << (j % 32);
    }
  DeviceBuffer dy(n_out * 2 + test::kGuardBytes), dbits(want_bits.size() * 4 + test::kGuardBytes);
  DeviceBuffer dscale(scale.size() * 4), dshift(shift.size() * 4), dsc(std::max<size_t>(shortcut.size() * 2, 4));
  dy.poison();
  dbits.poison();
  dscale.upload(scale.data(), scale.size() * 4);
  dshift.upload(shift.data(), shift.size() * 4);
  if (with_shortcut) dsc.upload(shortcut.data(), shortcut.size() * 2);
  bconv::Output out;
  out.epilogue = Epilogue::kHalf;
  out.bits_shape = bs;
  out.bits = dbits.as<uint32_t>();
  out.half = dy.as<uint16_t>();
  out.scale = dscale.as<float>();
  out.shift = dshift.as<float>();
  out.shortcut = with_shortcut ? dsc.as<uint16_t>() : nullptr;
  ws.poison();
  d.prepare(p, in, ws.as<void>(), nullptr);
  d.run(p, in, out, ws.as<void>(), nullptr);
  BTC_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<uint8_t> got_y = dy.download(), got_bits = dbits.download();
  EXPECT_TRUE(test::guard_intact(got_y, n_out * 2)) << "wrote past the end of the fp16 output";
  EXPECT_TRUE(test::guard_intact(got_bits, want_bits.size() * 4)) << "wrote past the end of the bits";
  int bad = 0;
  for (size_t e = 0; e < n_out; ++e) {
    uint16_t y;
    std::memcpy(&y, got_y.data() + 2 * e, 2);
    if (y != want_y[e] && bad++ < 5)
      ADD_FAILURE() << "y(pixel " << e / p.k << ", k " << e % p.k << ") got 0x" << std::hex << y << " want 0x"
                    << want_y[e] << std::dec << " (z " << z[e] << ")";
  }
  for (size_t i = 0; i < want_bits.size(); ++i) {
    uint32_t b;
    std::memcpy(&b, got_bits.data() + 4 * i, 4);
    if (b != want_bits[i] && bad++ < 10)
      ADD_FAILURE() << "bits word " << i << " got 0x" << std::hex << b << " want 0x" << want_bits[i] << std::dec;
  }
  EXPECT_EQ(bad, 0) << bad << " mismatches";
}

// One design on one layer: int32, then bits with thresholds and flips, one
// workspace poisoned before each prepare(). Throws std::invalid_argument
// when the design refuses the layer. runs > 1: run() that many times after
// one prepare() into the same output (split-K must leave its sums at zero).
void check_layer(const Design& d, const Problem& p, std::mt19937& rng, int runs = 1) {
  SCOPED_TRACE(d.name() + " " + describe(p));
  if (const std::string why = d.unsupported(p); !why.empty()) throw std::invalid_argument(why);
  const Packed x = random_tensor(rng, bconv::activation_shape(p));
  const Packed w = random_tensor(rng, bconv::weight_shape(p));
  const std::vector<int32_t> z = bconv::reference_dots(p, x.bits, w.bits);
  const int64_t m = p.out_pixels();

  DeviceBuffer dx(x.bits.size() * 4), dw(w.bits.size() * 4), ws(d.workspace_bytes(p));
  dx.upload(x.bits.data(), x.bits.size() * 4);
  dw.upload(w.bits.data(), w.bits.size() * 4);
  const bconv::Operands in{dx.as<uint32_t>(), dw.as<uint32_t>()};

  for (const Epilogue e : {Epilogue::kInt32, Epilogue::kBits}) {
    const bool bits_out = e == Epilogue::kBits;
    SCOPED_TRACE(bits_out ? "bits" : "int32");
    bconv::Output out;
    out.epilogue = e;
    std::vector<int32_t> thr;
    std::vector<uint8_t> flip;
    std::vector<uint32_t> want_bits, flip_words;
    size_t out_bytes = static_cast<size_t>(m) * p.k * 4;
    if (bits_out) {
      out.bits_shape = bconv::output_bits_shape(p);
      const int dot = static_cast<int>(p.dot_bits());
      std::uniform_int_distribution<int> u(-dot / 4, dot / 4);
      thr.resize(static_cast<size_t>(p.k));
      flip.resize(static_cast<size_t>(p.k));
      flip_words.assign(static_cast<size_t>((p.k + 31) / 32), 0u);
      for (int j = 0; j < p.k; ++j) {
        const size_t jj = static_cast<size_t>(j);
        // Every 8th channel exactly on some pixel's z (z == threshold gives 1 either way).
        thr[jj] = j % 8 == 0 ? z[static_cast<size_t>(j % m) * p.k + jj] : j % 8 == 3 ? INT32_MAX
                  : j % 8 == 5 ? INT32_MIN : u(rng);
        flip[jj] = static_cast<uint8_t>(rng() & 1u);
        if (flip[jj]) flip_words[jj / 32] |= 1u << (j % 32);
      }
      if (p.k % 32 != 0) flip_words.back() |= ~((1u << (p.k % 32)) - 1u);  // bits past K: must be ignored
      want_bits = bconv::reference_bits(p, z, thr, flip);
      out_bytes = want_bits.size() * 4;
    }
    DeviceBuffer dout(out_bytes + test::kGuardBytes), dthr(thr.size() * 4), dflip(flip_words.size() * 4);
    dout.poison();
    if (bits_out) {
      dthr.upload(thr.data(), thr.size() * 4);
      dflip.upload(flip_words.data(), flip_words.size() * 4);
      out.bits = dout.as<uint32_t>();
      out.threshold = dthr.as<int32_t>();
      out.flip = dflip.as<uint32_t>();
    } else {
      out.c = dout.as<int32_t>();
    }
    ws.poison();
    d.prepare(p, in, ws.as<void>(), nullptr);
    for (int r = 0; r < runs; ++r) d.run(p, in, out, ws.as<void>(), nullptr);
    BTC_CUDA_CHECK(cudaDeviceSynchronize());
    const std::vector<uint8_t> got = dout.download();
    EXPECT_TRUE(test::guard_intact(got, out_bytes)) << "wrote past the end of the output";
    int bad = 0;
    if (!bits_out) {
      std::vector<int32_t> c(static_cast<size_t>(m) * p.k);
      std::memcpy(c.data(), got.data(), out_bytes);
      for (size_t i = 0; i < c.size(); ++i)
        if (c[i] != z[i] && bad++ < 5)
          ADD_FAILURE() << "z(pixel " << i / p.k << ", k " << i % p.k << ") got " << c[i] << " want " << z[i];
      if (bad == 0) dump(d, p, x, w, c);
    } else {
      std::vector<uint32_t> b(want_bits.size());
      std::memcpy(b.data(), got.data(), out_bytes);
      for (size_t i = 0; i < b.size(); ++i)
        if (b[i] != want_bits[i] && bad++ < 5)
          ADD_FAILURE() << "bits word " << i << " (pixel " << i / out.bits_shape.kwords() << ") got 0x" << std::hex
                        << b[i] << " want 0x" << want_bits[i] << std::dec;
    }
    EXPECT_EQ(bad, 0) << bad << " mismatches";
  }
  if (d.writes_half() && p.k % 32 == 0)
    for (const bool with_shortcut : {false, true}) check_half(d, p, in, ws, z, with_shortcut, rng);
}

using Param = std::tuple<int, int>;  // design, layer

class BconvGpu : public ::testing::TestWithParam<Param> {};

TEST_P(BconvGpu, EqualsCpuReferenceBitExact) {
  BTC_SKIP_WITHOUT_GPU();
  const Design& d = *bconv::designs()[static_cast<size_t>(std::get<0>(GetParam()))];
  if (const std::string why = d.skip_reason(code_target(0)); !why.empty()) GTEST_SKIP() << d.name() << ": " << why;
  const Problem& p = layers()[static_cast<size_t>(std::get<1>(GetParam()))];
  BTC_SEEDED_RNG(rng);
  try {
    check_layer(d, p, rng);
    // A persistent design again with 2 blocks per filter block: every block
    // of a layer past 2 tiles takes several, and the ring crosses tiles.
    if (d.name().find("_persistent") != std::string::npos) {
      struct Cap {
        Cap() { bconv::set_persistent_blocks_cap(2); }
        ~Cap() { bconv::set_persistent_blocks_cap(0); }
      } cap;
      SCOPED_TRACE("persistent blocks capped at 2 per filter block");
      check_layer(d, p, rng);
    }
    // A split-K design again with K forced into 2, 3 and 7 shares (up to one
    // slab each, uneven shares), three runs after one prepare(), reduced as
    // the device's launches do (sm_90: clusters over DSMEM) and through the
    // workspace's global sums: a tile's sums must be whole, and the global
    // ones left at zero for the next run.
    if (d.name().find("_splitk") != std::string::npos)
      for (const bool global_sums : {false, true})
        for (const int splits : {2, 3, 7}) {
          struct Force {
            Force(int n, bool global) { tile::force_split_k(n, global); }
            ~Force() { tile::force_split_k(0); }
          } force(splits, global_sums);
          SCOPED_TRACE("split-K forced to " + std::to_string(splits) + " shares" +
                       (global_sums ? " through global sums" : "") + ", 3 runs");
          check_layer(d, p, rng, 3);
        }
  } catch (const std::invalid_argument& ex) {
    if (HasFailure()) throw;
    GTEST_SKIP() << d.name() << " refused " << describe(p) << ": " << ex.what();
  }
}

std::string param_name(const ::testing::TestParamInfo<Param>& i) {
  std::string n = bconv::designs()[static_cast<size_t>(std::get<0>(i.param))]->name() + "_" +
                  describe(layers()[static_cast<size_t>(std::get<1>(i.param))]);
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(AllDesigns, BconvGpu,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(bconv::designs().size())),
                                            ::testing::Range(0, static_cast<int>(layers().size()))),
                         param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(BconvGpu);

// A design its skip_reason lets run but that refuses every layer fails here.
class BconvGpuCoverage : public ::testing::TestWithParam<int> {};

TEST_P(BconvGpuCoverage, RunsAtLeastOneLayer) {
  BTC_SKIP_WITHOUT_GPU();
  const Design& d = *bconv::designs()[static_cast<size_t>(GetParam())];
  if (const std::string why = d.skip_reason(code_target(0)); !why.empty()) GTEST_SKIP() << d.name() << ": " << why;
  std::string refusals;
  for (const Problem& p : layers()) {
    const std::string why = d.unsupported(p);
    if (why.empty()) return;
    refusals += "\n  " + describe(p) + ": " + why;
  }
  FAIL() << d.name() << " runs on this code target but refuses every layer:" << refusals;
}

INSTANTIATE_TEST_SUITE_P(AllDesigns, BconvGpuCoverage,
                         ::testing::Range(0, static_cast<int>(bconv::designs().size())),
                         [](const ::testing::TestParamInfo<int>& i) {
                           std::string n = bconv::designs()[static_cast<size_t>(i.param)]->name();
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(BconvGpuCoverage);

// Host-side: names unique, families known, find_design round-trips, and the
// arguments are checked before any launch.
// Host-side (no GPU): a kHalf output is taken only by a design that writes
// it, only with K a multiple of 32, and only complete (fp16 buffer, scale,
// shift, bits buffer, the bits in output_bits_shape); the mma_and and
// wgmma_and designs write it, and BMM designs refuse it.
TEST(BconvRegistry, HalfOutputArgumentsChecked) {
  const Problem p = bconv_layer(1, 6, 6, 64, 64, 3, 1, 1), odd_k = bconv_layer(1, 6, 6, 64, 48, 3, 1, 1);
  const uint32_t word = 0;
  uint32_t bits = 0;
  uint16_t half = 0;
  const float affine = 1.0f;
  auto complete = [&](const Problem& q) {
    bconv::Output o;
    o.epilogue = Epilogue::kHalf;
    o.half = &half;
    o.scale = &affine;
    o.shift = &affine;
    o.bits = &bits;
    o.bits_shape = bconv::output_bits_shape(q);
    return o;
  };
  int writers = 0;
  for (const auto& d : bconv::designs()) {
    SCOPED_TRACE(d->name());
    EXPECT_EQ(d->writes_half(), d->family() == "mma_and" || d->family() == "wgmma_and");
    const bconv::Output ok = complete(p);
    if (!d->writes_half()) {
      EXPECT_THROW(bconv::check_run_args(*d, p, {&word, &word}, &ok), std::invalid_argument);
      continue;
    }
    ++writers;
    EXPECT_NO_THROW(bconv::check_run_args(*d, p, {&word, &word}, &ok));
    const bconv::Output odd = complete(odd_k);
    EXPECT_THROW(bconv::check_run_args(*d, odd_k, {&word, &word}, &odd), std::invalid_argument);
    for (int missing = 0; missing < 4; ++missing) {
      bconv::Output o = complete(p);
      if (missing == 0) o.half = nullptr;
      if (missing == 1) o.scale = nullptr;
      if (missing == 2) o.shift = nullptr;
      if (missing == 3) o.bits = nullptr;
      EXPECT_THROW(bconv::check_run_args(*d, p, {&word, &word}, &o), std::invalid_argument) << "missing " << missing;
    }
    bconv::Output wrong_shape = complete(p);
    wrong_shape.bits_shape = bconv::output_bits_shape(bconv_layer(2, 6, 6, 64, 64, 3, 1, 1));
    EXPECT_THROW(bconv::check_run_args(*d, p, {&word, &word}, &wrong_shape), std::invalid_argument);
  }
  EXPECT_GT(writers, 0);
  bmm::Output half_bmm;
  half_bmm.epilogue = Epilogue::kHalf;
  const bmm::Design& any = *bmm::find_design("popc_u32");  // its shapes need no GPU
  const bmm::Problem bp{8, 8, 64};
  bmm::Operands in{&word, &word, any.a_shape(bp), any.b_shape(bp)};
  EXPECT_THROW(bmm::check_run_args(any, bp, in, &half_bmm), std::invalid_argument);
}

TEST(BconvRegistry, NamesUniqueFamiliesKnownArgumentsChecked) {
  std::vector<std::string> names;
  for (const auto& d : bconv::designs()) {
    EXPECT_EQ(std::count(names.begin(), names.end(), d->name()), 0) << "duplicate " << d->name();
    names.push_back(d->name());
    const std::string f = d->family();
    EXPECT_TRUE(f == "btc_wmma" || f == "mma_and" || f == "wgmma_and" || f == "popc" || f == "cudnn") << f;
    EXPECT_EQ(bconv::find_design(d->name()), d.get());
    Problem bad = bconv_layer(1, 4, 4, 32, 8, 3, 1, 3);  // pad >= filter
    bconv::Output out;
    int32_t dummy = 0;
    out.c = &dummy;
    const uint32_t word = 0;
    EXPECT_THROW(bconv::check_run_args(*d, bad, {&word, &word}, &out), std::invalid_argument);
    EXPECT_THROW(bconv::check_run_args(*d, bconv_layer(1, 4, 4, 32, 8, 3, 1, 1), {nullptr, &word}, &out),
                 std::invalid_argument);
  }
  EXPECT_EQ(bconv::find_design("no_such_design"), nullptr);
}

// Host-side: the implicit-GEMM designs refuse inputs whose pixel index would
// overflow their int32 gather arithmetic, instead of reading out of bounds.
TEST(BconvRegistry, ImplicitGemmRefusesInputsPastInt32Pixels) {
  const Problem huge = bconv_layer(1 << 16, 256, 256, 32, 1, 1, 64, 0);  // 2^32 input pixels, 2^20 output pixels
  ASSERT_EQ(bconv::check_problem(huge), "");
  int checked = 0;
  for (const auto& d : bconv::designs()) {
    if (d->family() != "mma_and" && d->family() != "wgmma_and" && d->family() != "btc_wmma") continue;
    EXPECT_NE(d->unsupported(huge), "") << d->name();
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace btc
