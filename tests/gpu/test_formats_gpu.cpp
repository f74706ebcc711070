// GPU packers of formats/ against the CPU packers, bit for bit (label: gpu).
// Output buffers are poisoned (0xA5) before each run, with a guard zone past
// the end that must stay poisoned. Without a GPU each test skips and says why.
// Fresh random data each run; the seed is printed on failure (BTC_TEST_SEED replays).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "harness/core/check.h"
#include "tests/common/gpu_test.h"
#include "formats/layout.h"
#include "tests/common/layout_params.h"
#include "formats/pack_cpu.h"
#include "formats/pack_gpu.cuh"
#include "tests/common/test_random.h"

namespace btc::bits {
namespace {

using namespace test;  // tests/common/: layout parameters, random data

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

const std::vector<Size> kConvertSizes = {{1, 1}, {7, 129}, {65, 257}, {37, 9 * 45, 64, 45}};

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

class FormatsGpu : public ::testing::TestWithParam<LayoutParam> {
 protected:
  void SetUp() override {
    BTC_SKIP_WITHOUT_GPU();
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
  // Garbage in the source's padding: both converters must mask it off.
  const auto packed = with_dirty_padding(pack_signs(x.data(), src.rows, src.k, src), src);
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

INSTANTIATE_TEST_SUITE_P(AllLayouts, PackGpu, ::testing::ValuesIn(test::layout_params(test::all_sizes())),
                         test::layout_param_name);
INSTANTIATE_TEST_SUITE_P(AllLayouts, ConvertGpu, ::testing::ValuesIn(test::layout_params(kConvertSizes)),
                         test::layout_param_name);

TEST(FormatsGpuShapes, BadShapesThrowBeforeLaunchingAndEmptyIsANoOp) {
  BTC_SKIP_WITHOUT_GPU();
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
