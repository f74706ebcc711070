// GPU tests of the stride microkernels (label: gpu). Each fragment delivers
// every word of its tile to exactly one lane, so the XOR of a warp's lane
// checksums (load mode, one pass) equals the XOR of all words of the tiles
// that warp read: a check of each path's addressing at every stride that
// does not depend on the opaque WMMA fragment layout. The matrix holds fresh
// random bits each run (the seed is printed; BTC_TEST_SEED replays it).
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>

#include "harness/core/bench_util.h"
#include "harness/core/check.h"
#include "harness/core/code_target.h"
#include "harness/core/device_info.h"
#include "tests/common/gpu_test.h"
#include "harness/core/cupti_profiler.h"
#include "microbench/stride_kernels.h"
#include "tests/common/test_random.h"

namespace btc {
namespace {

constexpr size_t kMatrixBytes = size_t(4) << 20;

struct Case {
  std::string path;
  int ldm_bits;
};

class StrideGpu : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    BTC_SKIP_WITHOUT_GPU();
    path_ = find_load_path(GetParam().path);
    ASSERT_NE(path_, nullptr);
    if (const std::string why = arch_skip_reason(code_target(0), path_->min_sm, false, path_->name); !why.empty())
      GTEST_SKIP() << why;
  }
  const LoadPath* path_ = nullptr;
};

// XOR of the words of tile (band, kt) of a row-major matrix with ldw words per row.
uint32_t tile_xor(const std::vector<uint32_t>& m, const LoadPath& p, int ldw, long long band, long long kt) {
  uint32_t x = 0;
  const int words = p.tile_k_bits / 32;
  for (int r = 0; r < p.rows; ++r)
    for (int w = 0; w < words; ++w) x ^= m[static_cast<size_t>((band * p.rows + r) * ldw + kt * words + w)];
  return x;
}

TEST_P(StrideGpu, WarpChecksumsMatchTheTilesRead) {
  const LoadPath& p = *path_;
  const int ldm = GetParam().ldm_bits;
  const int ldw = ldm / 32;
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (BTC_TEST_SEED replays)");
  std::cout << "[ seed     ] " << seed << "\n";
  StrideBuffers buf(kMatrixBytes, seed);
  std::vector<uint32_t> m(kMatrixBytes / 4);
  BTC_CUDA_CHECK(cudaMemcpy(m.data(), buf.matrix(), kMatrixBytes, cudaMemcpyDeviceToHost));

  StrideLaunch l;
  l.ldm_bits = ldm;
  l.matrix_bytes = kMatrixBytes;
  l.blocks = 3;
  l.threads = 128;
  l.iters = p.space == MemSpace::kGlobal ? 1 : 7;  // global: one pass; shared: 7 loads per warp
  const int warps = l.blocks * l.threads / 32;
  BTC_CUDA_CHECK(cudaMemset(buf.sink(), 0xA5, size_t(warps) * 32 * sizeof(int32_t)));
  launch_stride(p, StrideMode::kLoad, l, buf, nullptr);
  BTC_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<int32_t> sink(size_t(warps) * 32);
  BTC_CUDA_CHECK(cudaMemcpy(sink.data(), buf.sink(), sink.size() * 4, cudaMemcpyDeviceToHost));

  const long long tiles_per_band = ldm / p.tile_k_bits;
  const long long tiles = stride_tiles_per_pass(p, ldm, kMatrixBytes);
  for (int w = 0; w < warps; ++w) {
    uint32_t got = 0;
    for (int lane = 0; lane < 32; ++lane) got ^= static_cast<uint32_t>(sink[size_t(w) * 32 + lane]);
    uint32_t want = 0;
    if (p.space == MemSpace::kGlobal) {
      const long long chunk = (tiles + warps - 1) / warps;
      for (long long t = w * chunk; t < std::min(tiles, (w + 1) * chunk); ++t)
        want ^= tile_xor(m, p, ldw, t / tiles_per_band, t % tiles_per_band);
    } else {
      const int block = w / (l.threads / 32);
      long long kt = (w % (l.threads / 32)) % tiles_per_band;
      for (long long i = 0; i < l.iters; ++i, kt = (kt + 1) % tiles_per_band)
        want ^= tile_xor(m, p, ldw, block, kt);
    }
    ASSERT_EQ(got, want) << p.name << " ldm " << ldm << " warp " << w << " (seed " << seed << ")";
  }
}

// The L2 flush between counter passes (L2Flusher, as the sweep's default
// --cache-control all installs it): a matrix that fits in L2, read once per
// pass, comes from DRAM on every pass when flushed, and from L2 when warm.
TEST(StrideCounters, L2FlushMakesEveryPassReadFromDram) {
  BTC_SKIP_WITHOUT_GPU();
  const cupti::Availability avail = cupti::counter_availability(0);
  if (!avail.available) GTEST_SKIP() << "CUPTI counters unavailable: " << avail.reason;
  const std::vector<std::string> metrics = {"dram__bytes_read.sum", "lts__t_sector_hit_rate.pct"};
  if (!cupti::invalid_metrics(cupti::chip_name(0), metrics).empty()) GTEST_SKIP() << "no DRAM counters on this chip";
  const DeviceInfo dev = query_device(0);
  const LoadPath* p = find_load_path("wmma_global");
  ASSERT_NE(p, nullptr);
  if (const std::string why = arch_skip_reason(code_target(0), p->min_sm, false, p->name); !why.empty())
    GTEST_SKIP() << why;
  // A quarter of L2 (and at most 4 MiB): it fits, so a warm pass finds it all there.
  const size_t bytes = std::min<size_t>(kMatrixBytes, static_cast<size_t>(dev.l2_bytes) / 4) & ~size_t(4095);
  StrideBuffers buf(bytes, test::fresh_seed());
  StrideLaunch l;
  l.ldm_bits = 1024;
  l.matrix_bytes = bytes;
  l.blocks = dev.sm_count;
  l.threads = 128;
  l.iters = 1;
  auto launch = [&] { launch_stride(*p, StrideMode::kLoad, l, buf, nullptr); };
  const double read_bytes = static_cast<double>(stride_tiles_per_pass(*p, l.ldm_bits, bytes)) * p->tile_bytes();

  cupti::RangeProfiler prof(0, metrics);
  launch();  // warm L2
  BTC_CUDA_CHECK(cudaDeviceSynchronize());
  const auto warm = prof.profile("warm", launch);
  L2Flusher flusher(dev.l2_bytes);
  prof.set_before_pass([&] { flusher.flush(); });
  const auto cold = prof.profile("cold", launch);
  std::cout << "[ counters ] " << read_bytes << " bytes read by construction; warm: dram " << warm[0] << " B, hit "
            << warm[1] << "%; flushed: dram " << cold[0] << " B, hit " << cold[1] << "%\n";
  EXPECT_GE(cold[0], 0.9 * read_bytes) << "a flushed pass must read the matrix from DRAM";
  EXPECT_LT(warm[0], 0.5 * read_bytes) << "a warm pass should find the matrix in L2";
  EXPECT_LT(cold[1], warm[1]);
  EXPECT_LE(cold[1], 100.0);
}

std::vector<Case> cases() {
  std::vector<Case> c;
  for (const auto& p : load_paths())
    for (int ldm : {128, 256, 384, 1024, 1152, 8192, 65536})
      if (ldm % p.tile_k_bits == 0) c.push_back({p.name, ldm});
  return c;
}

INSTANTIATE_TEST_SUITE_P(AllPaths, StrideGpu, ::testing::ValuesIn(cases()),
                         [](const auto& p) { return p.param.path + "_ldm" + std::to_string(p.param.ldm_bits); });

}  // namespace
}  // namespace btc
