// GPU packers of formats/ against the CPU packers, bit for bit (label: gpu).
// Output buffers are poisoned (0xA5) before each run, with a guard zone past
// the end that must stay poisoned. Without a GPU each test skips and says why.
// Fresh random data each run; the seed is printed on failure (BTC_TEST_SEED replays).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <ostream>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "check.h"
#include "device_info.h"
#include "layout.h"
#include "pack_cpu.h"
#include "pack_gpu.cuh"

namespace btc::bits {
namespace {

std::string no_gpu_reason() {
  try {
    device_count_or_throw();
    return "";
  } catch (const NoGpuError& e) {
    return e.what();
  }
}

uint32_t fresh_seed() {
  if (const char* s = std::getenv("BTC_TEST_SEED")) return static_cast<uint32_t>(std::strtoul(s, nullptr, 0));
  return std::random_device{}();
}
#define BTC_SEEDED_RNG(rng)                                                      \
  const uint32_t seed_##rng = fresh_seed();                                      \
  SCOPED_TRACE("seed " + std::to_string(seed_##rng) + " (BTC_TEST_SEED replays)"); \
  std::mt19937 rng(seed_##rng)

std::vector<float> random_floats(std::mt19937& rng, size_t n) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::uniform_int_distribution<int> pick(0, 15);
  std::vector<float> x(n);
  for (auto& v : x) {
    const int p = pick(rng);
    v = p == 0 ? 0.0f : p == 1 ? -0.0f : u(rng);
  }
  return x;
}
std::vector<int8_t> random_int8(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<int> u(-128, 127);
  std::vector<int8_t> x(n);
  for (auto& v : x) v = static_cast<int8_t>(u(rng));
  return x;
}

template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) {
    if (n_ > 0) BTC_CUDA_CHECK(cudaMalloc(&p_, n_ * sizeof(T)));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (p_ != nullptr) cudaFree(p_);
  }
  T* get() const { return p_; }
  void upload(const std::vector<T>& v) {
    if (!v.empty()) BTC_CUDA_CHECK(cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> v(n_);
    if (n_ > 0) BTC_CUDA_CHECK(cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return v;
  }
  void poison() {
    if (n_ > 0) BTC_CUDA_CHECK(cudaMemset(p_, 0xA5, n_ * sizeof(T)));
  }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

constexpr size_t kGuardWords = 64;
constexpr uint32_t kPoison = 0xA5A5A5A5u;

struct Config {
  Layout layout;
  int box_rows;
};
struct Size {
  int rows, k;
  int k_segment = 0, k_segment_valid = 0;
};

std::vector<Config> all_configs() {
  std::vector<Config> v;
  for (Layout l : kAllLayouts) v.push_back({l, kDefaultBoxRows});
  for (Layout l : kAllLayouts)
    if (is_wgmma(l))
      for (int br : {8, 24}) v.push_back({l, br});
  return v;
}
const std::vector<Size> kPackSizes = {
    {1000, 777}, {23, 1234}, {1, 1}, {7, 129}, {65, 257}, {37, 9 * 45, 64, 45}, {5, 3 * 100, 128, 100},
};
const std::vector<Size> kConvertSizes = {{1, 1}, {7, 129}, {65, 257}, {37, 9 * 45, 64, 45}};

// Readable parameters in test listings and failures.
void PrintTo(const Config& c, std::ostream* os) {
  *os << name(c.layout);
  if (is_wgmma(c.layout)) *os << " box_rows " << c.box_rows;
}
void PrintTo(const Size& s, std::ostream* os) {
  *os << s.rows << "x" << s.k;
  if (s.k_segment) *os << " segments " << s.k_segment_valid << "/" << s.k_segment;
}

BitMatrix make(const Config& c, const Size& s) {
  BitMatrix m;
  m.layout = c.layout;
  m.rows = s.rows;
  m.k = s.k;
  m.box_rows = c.box_rows;
  m.k_segment = s.k_segment;
  m.k_segment_valid = s.k_segment_valid;
  return m;
}
std::string param_name(const Config& c, const Size& s) {
  std::string n = name(c.layout);
  if (is_wgmma(c.layout)) n += "_b" + std::to_string(c.box_rows);
  n += "_" + std::to_string(s.rows) + "x" + std::to_string(s.k);
  if (s.k_segment) n += "_seg" + std::to_string(s.k_segment_valid) + "of" + std::to_string(s.k_segment);
  return n;
}

// First mismatch (and how many), or "" when `got` is `want` followed by an intact guard zone.
std::string compare(const std::vector<uint32_t>& got, const std::vector<uint32_t>& want) {
  std::string first;
  size_t bad = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (got[i] != want[i] && bad++ == 0)
      first = "word " + std::to_string(i) + ": gpu " + std::to_string(got[i]) + ", cpu " + std::to_string(want[i]);
  for (size_t i = want.size(); i < got.size(); ++i)
    if (got[i] != kPoison && bad++ == 0) first = "guard word " + std::to_string(i - want.size()) + " overwritten";
  return bad == 0 ? "" : std::to_string(bad) + " bad words, first " + first;
}

class FormatsGpu : public ::testing::TestWithParam<std::tuple<Config, Size>> {
 protected:
  void SetUp() override {
    if (const std::string why = no_gpu_reason(); !why.empty()) GTEST_SKIP() << why;
    BTC_CUDA_CHECK(cudaStreamCreate(&stream_));
  }
  void TearDown() override {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }
  BitMatrix shape() const { return make(std::get<0>(GetParam()), std::get<1>(GetParam())); }

  template <class T>
  void expect_pack_matches_cpu(const std::vector<T>& x, const BitMatrix& m) {
    DeviceBuffer<T> dx(x.size());
    dx.upload(x);
    DeviceBuffer<uint32_t> out(static_cast<size_t>(m.words()) + kGuardWords);
    for (int run = 0; run < 2; ++run) {  // twice: a second run over the first's output changes nothing
      if (run == 0) out.poison();
      pack_signs_gpu(dx.get(), m.rows, m.k, m, out.get(), stream_);
      BTC_CUDA_CHECK(cudaStreamSynchronize(stream_));
      EXPECT_EQ(compare(out.download(), pack_signs(x.data(), m.rows, m.k, m)), "") << describe(m) << " run " << run;
    }
  }
  cudaStream_t stream_ = nullptr;
};

using PackGpu = FormatsGpu;
using ConvertGpu = FormatsGpu;

TEST_P(PackGpu, FloatEqualsCpuPacker) {
  BTC_SEEDED_RNG(rng);
  const BitMatrix m = shape();
  expect_pack_matches_cpu(random_floats(rng, static_cast<size_t>(m.rows) * m.k), m);
  expect_pack_matches_cpu(std::vector<float>(static_cast<size_t>(m.rows) * m.k, 1.f), m);  // padding stays 0
}

TEST_P(PackGpu, Int8EqualsCpuPacker) {
  BTC_SEEDED_RNG(rng);
  const BitMatrix m = shape();
  expect_pack_matches_cpu(random_int8(rng, static_cast<size_t>(m.rows) * m.k), m);
  expect_pack_matches_cpu(std::vector<int8_t>(static_cast<size_t>(m.rows) * m.k, int8_t{0}), m);
}

TEST_P(ConvertGpu, ToEveryLayoutEqualsCpuConvert) {
  BTC_SEEDED_RNG(rng);
  const BitMatrix src = shape();
  const auto x = random_floats(rng, static_cast<size_t>(src.rows) * src.k);
  auto packed = pack_signs(x.data(), src.rows, src.k, src);
  // Garbage in the source's padding: both converters must mask it off.
  for (int64_t w = 0; w < src.words(); ++w) {
    const WordCoord c = src.coords_of_word(w);
    packed[static_cast<size_t>(w)] |= ~(c.row < src.rows ? src.word_mask(c.kw) : 0u);
  }
  DeviceBuffer<uint32_t> dsrc(packed.size());
  dsrc.upload(packed);
  std::vector<BitMatrix> dsts;
  for (const Config& c : all_configs()) dsts.push_back(make(c, std::get<1>(GetParam())));
  BitMatrix flat{Layout::kRowU32, src.rows, src.k};  // no segments: bit-by-bit when src has them
  dsts.push_back(flat);
  for (const BitMatrix& dst : dsts) {
    DeviceBuffer<uint32_t> out(static_cast<size_t>(dst.words()) + kGuardWords);
    out.poison();
    convert_gpu(dsrc.get(), src, dst, out.get(), stream_);
    BTC_CUDA_CHECK(cudaStreamSynchronize(stream_));
    const auto want = convert(packed, src, dst);
    EXPECT_EQ(want, pack_signs(x.data(), dst.rows, dst.k, dst));
    EXPECT_EQ(compare(out.download(), want), "") << describe(src) << " -> " << describe(dst);
  }
}

std::vector<std::tuple<Config, Size>> params(const std::vector<Size>& sizes) {
  std::vector<std::tuple<Config, Size>> v;
  for (const Config& c : all_configs())
    for (const Size& s : sizes) v.emplace_back(c, s);
  return v;
}
std::string name_of(const ::testing::TestParamInfo<std::tuple<Config, Size>>& p) {
  return param_name(std::get<0>(p.param), std::get<1>(p.param));
}

INSTANTIATE_TEST_SUITE_P(AllLayouts, PackGpu, ::testing::ValuesIn(params(kPackSizes)), name_of);
INSTANTIATE_TEST_SUITE_P(AllLayouts, ConvertGpu, ::testing::ValuesIn(params(kConvertSizes)), name_of);

TEST(FormatsGpuShapes, BadShapesThrowBeforeLaunchingAndEmptyIsANoOp) {
  if (const std::string why = no_gpu_reason(); !why.empty()) GTEST_SKIP() << why;
  const BitMatrix a{Layout::kTile8x128, 4, 100}, b{Layout::kRowU32, 4, 101};
  DeviceBuffer<uint32_t> buf(static_cast<size_t>(a.words()));
  DeviceBuffer<float> x(400);
  EXPECT_THROW(pack_signs_gpu(x.get(), 4, 99, a, buf.get()), std::invalid_argument);
  EXPECT_THROW(convert_gpu(buf.get(), a, b, buf.get()), std::invalid_argument);
  BitMatrix bad = a;
  bad.layout = Layout::kWgmmaSwizzle64;
  bad.box_rows = 4;
  EXPECT_THROW(pack_signs_gpu(x.get(), 4, 100, bad, buf.get()), std::invalid_argument);
  const BitMatrix empty{Layout::kMmaFragA16x256, 0, 77};
  EXPECT_NO_THROW(pack_signs_gpu(static_cast<const float*>(nullptr), 0, 77, empty, nullptr));
  EXPECT_NO_THROW(convert_gpu(nullptr, empty, empty, nullptr));
  BTC_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace
}  // namespace btc::bits
