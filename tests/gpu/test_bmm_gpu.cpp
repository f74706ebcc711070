// GPU tests of every production BMM design in the registry (label: gpu):
// for each design x problem size, both epilogues equal the CPU reference
// (reference_dots / reference_bits) bit for bit, on fresh random signs packed
// into the design's own operand shapes (rows a design adds past M / N hold
// random signs too: they must not matter), with poisoned outputs and guard
// words past their ends, and a poisoned workspace before every prepare() (a
// design must not count on zeroed scratch: the sweep reuses it). A design's
// skip_reason skips it; std::invalid_argument from a design ("a shape it
// cannot run") skips that size and says why, but every design that is not
// skipped must run at least one size (BmmGpuCoverage): one that refuses them
// all fails. BTC_TEST_SMALL=1 keeps the small sizes only (compute-sanitizer).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/bmm/bmm.h"
#include "kernels/tile/split_k_rule.h"
#include "harness/core/check.h"
#include "harness/core/device_info.h"
#include "tests/common/device_buffer.h"
#include "tests/common/gpu_test.h"
#include "harness/core/code_target.h"
#include "formats/pack_cpu.h"
#include "tests/common/operands.h"
#include "tests/common/test_random.h"

namespace btc {
namespace {

using bits::BitMatrix;
using bmm::Design;
using bmm::Epilogue;
using bmm::Problem;

// BTC_TEST_SMALL=1: the small sizes only, for compute-sanitizer runs
// (scripts/gpu_checks.sh), which are 10-100x slower.
bool small_sizes_only() {
  const char* v = std::getenv("BTC_TEST_SMALL");
  return v != nullptr && std::string(v) != "" && std::string(v) != "0";
}

const std::vector<Problem>& sizes() {
  // 2200 x 4500 x 3000: more tiles than an H100 has SMs, several K stages
  // each, so the persistent designs wrap their rings and term buffers.
  static const std::vector<Problem> all = {
      {1000, 777, 1234}, {1, 4096, 4096}, {128, 128, 1024}, {65, 31, 97}, {2200, 4500, 3000}};
  static const std::vector<Problem> small = {{65, 31, 97}, {128, 128, 1024}, {1, 512, 384}};
  return small_sizes_only() ? small : all;
}

using test::DeviceBuffer;
using test::guard_intact;
using test::kGuardBytes;

std::string dims(const Problem& p) {
  return std::to_string(p.m) + "x" + std::to_string(p.n) + "x" + std::to_string(p.k);
}

using Param = std::tuple<int, int>;  // design index, size index

// A problem's operands, packed as the design reads them, on the host and the device.
struct Inputs {
  Problem p;
  bmm::Operands in;
  std::vector<uint32_t> a, b;
  std::vector<int32_t> dots;  // reference_dots: M x N
};

class BmmGpu : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    BTC_SKIP_WITHOUT_GPU();
    design_ = bmm::designs()[static_cast<size_t>(std::get<0>(GetParam()))].get();
    if (const std::string why = design_->skip_reason(code_target(0)); !why.empty())
      GTEST_SKIP() << design_->name() << ": " << why;
  }

  const Design* design_ = nullptr;
};

// One prepare() + run() with epilogue `e` (kBits: packed in the design's own
// layout over M x N when bits_in_design_layout, else row_u32) into a
// poisoned output, compared with the reference word for word. runs > 1:
// run() that many times after the one prepare() (split-K must leave its
// sums at zero for the next run).
void run_variant(const Design& d, std::mt19937& rng, uint32_t seed, const Inputs& x, DeviceBuffer& workspace,
                 Epilogue e, bool bits_in_design_layout, int runs = 1) {
  const Problem& p = x.p;
  const std::string what = d.name() + " " + dims(p) +
                           (e == Epilogue::kInt32 ? " int32" : bits_in_design_layout ? " bits (design layout)"
                                                                                     : " bits (row_u32, flips)");
  SCOPED_TRACE(what);

  bmm::Output out;
  out.epilogue = e;
  std::vector<int32_t> thr;
  std::vector<uint8_t> flip;
  std::vector<uint32_t> want_bits, flip_words;
  size_t out_bytes = 0;
  if (e == Epilogue::kInt32) {
    out_bytes = static_cast<size_t>(p.m) * static_cast<size_t>(p.n) * 4;
  } else {
    // The next layer's A: the design's own layout over M x N (its K padding
    // and segments included), or plain row_u32.
    if (bits_in_design_layout) out.bits_shape = d.a_shape(Problem{p.m, p.m, p.n});
    else out.bits_shape.layout = bits::Layout::kRowU32;
    out.bits_shape.rows = p.m;
    out.bits_shape.k = p.n;
    bits::check_shape(out.bits_shape);
    // Thresholds in [-K/4, K/4]; every 8th column sits exactly on one row's
    // dot (dot == threshold must give 1), and two in 8 are INT32_MAX /
    // INT32_MIN (never / always: the kernels' column terms must not overflow).
    std::uniform_int_distribution<int> u(-p.k / 4, p.k / 4);
    thr.resize(static_cast<size_t>(p.n));
    for (int j = 0; j < p.n; ++j)
      thr[static_cast<size_t>(j)] =
          j % 8 == 0   ? x.dots[static_cast<size_t>(j % p.m) * static_cast<size_t>(p.n) + static_cast<size_t>(j)]
          : j % 8 == 3 ? INT32_MAX
          : j % 8 == 5 ? INT32_MIN
                       : u(rng);
    // The row_u32 variant also flips random columns (negative batch-norm scale).
    if (!bits_in_design_layout) {
      flip.resize(static_cast<size_t>(p.n));
      flip_words.assign(static_cast<size_t>((p.n + 31) / 32), 0u);
      for (int j = 0; j < p.n; ++j) {
        flip[static_cast<size_t>(j)] = static_cast<uint8_t>(rng() & 1u);
        if (flip[static_cast<size_t>(j)]) flip_words[static_cast<size_t>(j / 32)] |= 1u << (j % 32);
      }
      // Bits past N are set: designs must ignore them.
      if (p.n % 32 != 0) flip_words.back() |= ~((1u << (p.n % 32)) - 1u);
    }
    want_bits = bmm::reference_bits(p, x.dots, thr, out.bits_shape, flip);
    out_bytes = want_bits.size() * 4;
  }
  DeviceBuffer dout(out_bytes + kGuardBytes), dthr(thr.size() * 4), dflip(flip_words.size() * 4);
  dout.poison();
  if (!thr.empty()) dthr.upload(thr.data(), thr.size() * 4);
  if (!flip_words.empty()) dflip.upload(flip_words.data(), flip_words.size() * 4);
  if (e == Epilogue::kInt32) {
    out.c = dout.as<int32_t>();
  } else {
    out.bits = dout.as<uint32_t>();
    out.threshold = dthr.as<int32_t>();
    if (!flip_words.empty()) out.flip = dflip.as<uint32_t>();
  }

  workspace.poison();  // whatever the last run left, or garbage: prepare() must set what run() reads
  d.prepare(p, x.in, workspace.as<void>(), nullptr);
  for (int r = 0; r < runs; ++r) d.run(p, x.in, out, workspace.as<void>(), nullptr);
  BTC_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<uint8_t> got = dout.download();
  EXPECT_TRUE(guard_intact(got, out_bytes)) << "wrote past the end of the output";

  int bad = 0;
  if (e == Epilogue::kInt32) {
    std::vector<int32_t> c(static_cast<size_t>(p.m) * static_cast<size_t>(p.n));
    std::memcpy(c.data(), got.data(), out_bytes);
    for (size_t i = 0; i < c.size(); ++i)
      if (c[i] != x.dots[i] && bad++ < 5)
        ADD_FAILURE() << "C(" << i / static_cast<size_t>(p.n) << "," << i % static_cast<size_t>(p.n) << ") got "
                      << c[i] << " want " << x.dots[i];
  } else {
    std::vector<uint32_t> w(want_bits.size());
    std::memcpy(w.data(), got.data(), out_bytes);
    for (size_t i = 0; i < w.size(); ++i)
      if (w[i] != want_bits[i] && bad++ < 5) {
        const bits::WordCoord wc = out.bits_shape.coords_of_word(static_cast<int64_t>(i));
        ADD_FAILURE() << bits::describe(out.bits_shape) << " word " << i << " (row " << wc.row << ", k word "
                      << wc.kw << (wc.row >= p.m || wc.kw >= out.bits_shape.used_kwords() ? ", padding" : "")
                      << ") got 0x" << std::hex << w[i] << " want 0x" << want_bits[i] << std::dec;
      }
  }
  EXPECT_EQ(bad, 0) << bad << " mismatches in " << what << " (seed " << seed << "; BTC_TEST_SEED=" << seed
                    << " replays)";
}

// Every check of one design on one problem. Throws std::invalid_argument
// when the design refuses the shape (before or during its runs).
void check_problem(const Design& d, const Problem& problem, std::mt19937& rng, uint32_t seed, int runs = 1) {
  Inputs x;
  x.p = problem;
  const Problem& p = x.p;
  SCOPED_TRACE(d.name() + " " + dims(p));
  x.in.a_shape = d.a_shape(p);
  x.in.b_shape = d.b_shape(p);
  ASSERT_EQ(x.in.a_shape.k, p.k) << "a_shape's k must be the true K";
  ASSERT_EQ(x.in.b_shape.k, p.k) << "b_shape's k must be the true K";
  ASSERT_GE(x.in.a_shape.rows, p.m);
  ASSERT_GE(x.in.b_shape.rows, p.n);
  // Every row the design reads gets random signs, rows past M / N included.
  x.a = test::random_packed(rng, x.in.a_shape);
  x.b = test::random_packed(rng, x.in.b_shape);
  x.dots = bmm::reference_dots(p, x.a, x.in.a_shape, x.b, x.in.b_shape);

  DeviceBuffer da(x.a.size() * 4), db(x.b.size() * 4), ws(d.workspace_bytes(p));
  da.upload(x.a.data(), x.a.size() * 4);
  db.upload(x.b.data(), x.b.size() * 4);
  x.in.a = da.as<uint32_t>();
  x.in.b = db.as<uint32_t>();
  // One workspace for all three runs (poisoned before each): a design must not depend on a fresh one.
  run_variant(d, rng, seed, x, ws, Epilogue::kInt32, false, runs);
  run_variant(d, rng, seed, x, ws, Epilogue::kBits, true, runs);
  run_variant(d, rng, seed, x, ws, Epilogue::kBits, false, runs);
}

TEST_P(BmmGpu, EqualsCpuReferenceBitExact) {
  BTC_SEEDED_RNG(rng);
  const Design& d = *design_;
  const Problem& p = sizes()[static_cast<size_t>(std::get<1>(GetParam()))];
  try {
    check_problem(d, p, rng, seed_rng);
    // The split-K design again with K forced into 2, 3 and 7 shares (up to
    // one slab each, uneven shares), reduced as the device's launches do
    // (sm_90: clusters over DSMEM) and through the workspace's global sums,
    // three runs after each prepare().
    if (d.name().find("splitk") != std::string::npos)
      for (const bool global_sums : {false, true})
        for (const int splits : {2, 3, 7}) {
          struct Force {
            Force(int n, bool global) { tile::force_split_k(n, global); }
            ~Force() { tile::force_split_k(0); }
          } force(splits, global_sums);
          SCOPED_TRACE("split-K forced to " + std::to_string(splits) + " shares" +
                       (global_sums ? " through global sums" : "") + ", 3 runs");
          check_problem(d, p, rng, seed_rng, 3);
        }
  } catch (const std::invalid_argument& ex) {
    // The interface's "a shape this design cannot run"; BmmGpuCoverage makes
    // sure it is not every shape.
    if (HasFailure()) throw;
    GTEST_SKIP() << d.name() << " refused " << dims(p) << ": " << ex.what();
  }
}

// A design that is not skipped by its skip_reason but refuses every size
// would pass above as all-skipped: here it fails. Sizes are tried smallest
// first, and the first one it runs gets every check again.
class BmmGpuCoverage : public ::testing::TestWithParam<int> {};

TEST_P(BmmGpuCoverage, RunsAtLeastOneSize) {
  BTC_SKIP_WITHOUT_GPU();
  const Design& d = *bmm::designs()[static_cast<size_t>(GetParam())];
  if (const std::string why = d.skip_reason(code_target(0)); !why.empty()) GTEST_SKIP() << d.name() << ": " << why;
  BTC_SEEDED_RNG(rng);
  std::vector<Problem> by_volume = sizes();
  std::sort(by_volume.begin(), by_volume.end(), [](const Problem& a, const Problem& b) {
    return double(a.m) * a.n * a.k < double(b.m) * b.n * b.k;
  });
  std::string refusals;
  for (const Problem& p : by_volume) {
    try {
      check_problem(d, p, rng, seed_rng);
      return;  // ran (its checks passed or failed above)
    } catch (const std::invalid_argument& ex) {
      if (HasFailure()) throw;
      refusals += "\n  " + dims(p) + ": " + ex.what();
    }
  }
  FAIL() << d.name() << " is not skipped on this code target (skip_reason is empty) but refused every size:"
         << refusals;
}

INSTANTIATE_TEST_SUITE_P(AllDesigns, BmmGpuCoverage, ::testing::Range(0, static_cast<int>(bmm::designs().size())),
                         [](const ::testing::TestParamInfo<int>& i) {
                           std::string n = bmm::designs()[static_cast<size_t>(i.param)]->name();
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(BmmGpuCoverage);

std::string param_name(const ::testing::TestParamInfo<Param>& i) {
  std::string n = bmm::designs()[static_cast<size_t>(std::get<0>(i.param))]->name() + "_" +
                  dims(sizes()[static_cast<size_t>(std::get<1>(i.param))]);
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(AllDesigns, BmmGpu,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(bmm::designs().size())),
                                            ::testing::Range(0, static_cast<int>(sizes().size()))),
                         param_name);
// The registry may be empty in a partial build.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(BmmGpu);

TEST(BmmRegistry, NamesAreUniqueAndFamiliesKnown) {
  std::vector<std::string> names;
  for (const auto& d : bmm::designs()) {
    EXPECT_EQ(std::count(names.begin(), names.end(), d->name()), 0) << "duplicate design " << d->name();
    names.push_back(d->name());
    const std::string f = d->family();
    EXPECT_TRUE(f == "btc_wmma" || f == "mma_and" || f == "wgmma_and" || f == "popc" || f == "cublas")
        << d->name() << ": family " << f;
    EXPECT_EQ(bmm::find_design(d->name()), d.get());
  }
  EXPECT_EQ(bmm::find_design("no_such_design"), nullptr);
}

// Host-side (runs without a GPU): every design's operand shapes are usable
// BitMatrix shapes over the true K with at least M / N rows. A design whose
// tile comes from the code target running on the device (btc_wmma: the
// generated configuration of that arch) cannot say without a GPU: it is
// named and left to the GPU run.
TEST(BmmRegistry, OperandShapesAreValid) {
  const bool have_gpu = test::no_gpu_reason().empty();
  std::vector<std::string> need_gpu;
  for (const auto& d : bmm::designs())
    for (const Problem& p : sizes()) {
      SCOPED_TRACE(d->name() + " " + dims(p));
      try {
        const BitMatrix a = d->a_shape(p), b = d->b_shape(p);
        EXPECT_EQ(bits::shape_error(a), "");
        EXPECT_EQ(bits::shape_error(b), "");
        EXPECT_EQ(a.k, p.k);
        EXPECT_EQ(b.k, p.k);
        EXPECT_GE(a.rows, p.m);
        EXPECT_GE(b.rows, p.n);
        EXPECT_TRUE(bits::same_k_map(a, b)) << bits::describe(a) << " vs " << bits::describe(b);
      } catch (const std::invalid_argument&) {
        // A shape the design cannot run: the GPU test reports it.
      } catch (const CudaError&) {
        if (have_gpu) throw;
        if (need_gpu.empty() || need_gpu.back() != d->name()) need_gpu.push_back(d->name());
      }
    }
  if (need_gpu.size() == bmm::designs().size()) GTEST_SKIP() << "every design's shapes depend on the GPU";
  if (!need_gpu.empty()) {
    std::string names;
    for (const auto& n : need_gpu) names += (names.empty() ? "" : ", ") + n;
    std::cout << "[ note     ] without a GPU, not checked here (their tiles follow the device's code target): "
              << names << "\n";
  }
}

}  // namespace
}  // namespace btc
