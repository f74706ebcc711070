// The GPU runner against the CPU reference forward, every shipped model and
// design family (the real layers on conv_half and fc_half), layer by layer, exactly: each layer's int32 y (where the
// layer has one) and its output bits, and the logits bit for bit (the head's
// batch norm is evaluated in the same float operations on both sides), and
// the fp16 outputs of the half-precision layers bit for bit.
// Outputs are poisoned before the forward; the graph replay must give the
// same logits.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <tuple>

#include "harness/core/check.h"
#include "harness/core/code_target.h"
#include "kernels/baselines/cudnn_conv_half.h"
#include "net/half_kernels.cuh"
#include "net/stem_tc.cuh"
#include "net/check.h"
#include "net/reference.h"
#include "net/runner.h"
#include "tests/common/device_buffer.h"
#include "tests/common/gpu_test.h"
#include "tests/common/test_random.h"

namespace btc {
namespace {

const char* kModels[] = {"tiny-resnet", "tiny-bireal", "resnet18-bireal", "resnet18-tcbnn", "mnist-mlp",
                         "cifar10-vgg", "cifar10-resnet14", "alexnet", "vgg16", "resnet18-fp16"};
// Families the runner takes for every layer it can; "auto" for the rest.
// The real convs on conv_half, in the reference's order: exact.
const char* kDesigns[] = {"auto", "btc_wmma", "mma_and", "wgmma_and", "popc"};
// Models with real convs, for conv_cudnn (within half_bound, net/check.h).
const char* kRealModels[] = {"tiny-bireal", "resnet18-bireal", "resnet18-fp16"};
constexpr int kBatch = 2;
constexpr uint64_t kSeed = 20261202;

// models/ of the checkout the test runs in (the device copies the tree to a
// folder of its own), else of the one it was built from.
std::string models_dir() {
  std::error_code ec;
  return std::filesystem::is_directory("models", ec) ? "models" : std::string(BTC_SOURCE_DIR) + "/models";
}

struct Case {
  net::Model model;
  net::Weights weights;
  std::vector<float> images;
  std::vector<net::ReferenceLayer> ref;
};

// The forward captured in a CUDA graph and replayed on poisoned buffers
// gives the logits of the stream-launched forward.
void expect_graph_replay_gives(net::Runner& r, const std::vector<float>& logits) {
  r.poison();
  r.capture_graph();
  r.replay();
  r.sync();
  EXPECT_EQ(r.logits(), logits) << "graph replay";
}

// The CPU reference once per model (VGG-16 takes seconds).
const Case& reference_case(const std::string& name) {
  static std::map<std::string, Case> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  Case c;
  c.model = net::load_model(name, models_dir());
  c.weights = net::random_weights(c.model, kSeed);
  c.images = net::random_images(c.model, kBatch, kSeed);
  c.ref = net::reference_forward(c.model, c.weights, c.images, kBatch);
  return cache.emplace(name, std::move(c)).first->second;
}

class NetGpu : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(NetGpu, EveryLayerEqualsCpuReference) {
  BTC_SKIP_WITHOUT_GPU();
  const auto [model_name, designs] = GetParam();
  const Case& c = reference_case(model_name);
  const net::Model& m = c.model;
  cudaStream_t s = nullptr;
  BTC_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  {
    net::RunnerOptions o;
    o.batch = kBatch;
    o.designs = std::string(designs) + ",conv=conv_half,fc=fc_half";
    o.keep_outputs = true;
    net::Runner r(m, c.weights, o, code_target(0), s);
    r.set_input(c.images);
    r.poison();
    r.forward();
    r.sync();
    // Binary layers whose z is checked: in y, or (a Bi-Real bconv whose
    // design fuses BN + shortcut, no y) through its fp16 values.
    int binary_layers_checked = 0;
    for (size_t i = 0; i < m.layers.size(); ++i) {
      SCOPED_TRACE(m.layers[i].name + " on " + r.layer_designs()[i]);
      const auto y = r.layer_y(static_cast<int>(i));
      if (!y.empty()) {
        ++binary_layers_checked;
        EXPECT_EQ(y, c.ref[i].y);
      }
      if (!m.layers[i].float_out) {
        EXPECT_EQ(r.layer_act(static_cast<int>(i)), c.ref[i].act);
      }
      // fp16 layers: the same rounding steps in the same order, so exact too.
      const auto half = r.layer_half(static_cast<int>(i));
      EXPECT_EQ(half, c.ref[i].half);
      if (y.empty() && !half.empty() && m.layers[i].op == net::Op::kBconv) ++binary_layers_checked;
    }
    if (m.binary_ops_per_image() > 0) {
      EXPECT_GT(binary_layers_checked, 0);
    }
    const std::vector<float> logits = r.logits();
    EXPECT_EQ(logits, c.ref.back().logits);
    expect_graph_replay_gives(r, logits);
  }
  BTC_CUDA_CHECK(cudaStreamDestroy(s));
}

INSTANTIATE_TEST_SUITE_P(Models, NetGpu, ::testing::Combine(::testing::ValuesIn(kModels), ::testing::ValuesIn(kDesigns)),
                         [](const auto& param_info) {
                           std::string n = std::string(std::get<0>(param_info.param)) + "_" + std::get<1>(param_info.param);
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

// Each layer on the GPU's own inputs (teacher forcing, net/check.h): the
// reordered real layers within the reference's half_bound (the fc:
// logits_bound) with at least 90% of their values bit-equal, every other
// layer exact. Returns the reordered layers' designs.
std::vector<std::string> expect_layers_match_on_their_inputs(const Case& c, const std::string& designs) {
  std::vector<std::string> tolerant;
  cudaStream_t s = nullptr;
  BTC_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  {
    net::RunnerOptions o;
    o.batch = kBatch;
    o.designs = designs;
    o.keep_outputs = true;
    net::Runner r(c.model, c.weights, o, code_target(0), s);
    r.set_input(c.images);
    r.poison();
    r.forward();
    r.sync();
    for (const net::LayerCheck& lc : net::check_against_reference(r, c.weights, c.images)) {
      SCOPED_TRACE(lc.layer + " on " + lc.design);
      EXPECT_EQ(lc.differs, "");
      if (lc.tolerance) tolerant.push_back(lc.design);
      if (lc.tolerance) std::cout << "  " << lc.layer << ": " << net::describe(lc) << "\n";
    }
    const std::vector<float> logits = r.logits();
    expect_graph_replay_gives(r, logits);
  }
  BTC_CUDA_CHECK(cudaStreamDestroy(s));
  return tolerant;
}

// The real convs on cuDNN and the fc on cuBLAS.
class NetGpuCudnn : public ::testing::TestWithParam<const char*> {};

TEST_P(NetGpuCudnn, EveryLayerMatchesTheReferenceOnItsInputs) {
  BTC_SKIP_WITHOUT_GPU();
  if (const std::string why = cudnn::ConvHalf::unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  EXPECT_GT(expect_layers_match_on_their_inputs(reference_case(GetParam()), "auto,conv=conv_cudnn,fc=fc_cublas").size(),
            0u);
}

// The conv on the image on stem_tc (conv, BN, ReLU and max-pool in one
// kernel), every other real layer exact on the CUDA cores: the stem is the
// one reordered layer.
class NetGpuConvTc : public ::testing::TestWithParam<const char*> {};

TEST_P(NetGpuConvTc, TheStemIsWithinBoundAndEveryOtherLayerExact) {
  BTC_SKIP_WITHOUT_GPU();
  if (const std::string why = net::stem_tc_skip_reason(code_target(0)); !why.empty()) GTEST_SKIP() << why;
  const std::vector<std::string> tolerant =
      expect_layers_match_on_their_inputs(reference_case(GetParam()), "auto,conv=conv_tc,fc=fc_half");
  ASSERT_EQ(tolerant.size(), 1u);
  EXPECT_EQ(tolerant[0].rfind("conv_tc", 0), 0u) << tolerant[0];
}

std::string model_test_name(const ::testing::TestParamInfo<const char*>& param_info) {
  std::string n = param_info.param;
  for (char& ch : n)
    if (ch == '-') ch = '_';
  return n;
}
INSTANTIATE_TEST_SUITE_P(Models, NetGpuCudnn, ::testing::ValuesIn(kRealModels), model_test_name);
INSTANTIATE_TEST_SUITE_P(Models, NetGpuConvTc, ::testing::ValuesIn(kRealModels), model_test_name);

// images_to_half on each of its paths (4 pixels a thread: plane % 4 == 0 and
// 16-byte aligned buffers; a pixel a thread; an element a thread), fresh
// random fp32 images, against the host's round to nearest even, bit for bit,
// with channels past c +0, on a poisoned output whose guard bytes survive.
TEST(NetGpuKernels, ImagesToHalfRoundsEachPathToNearestEven) {
  BTC_SKIP_WITHOUT_GPU();
  struct Shape {
    int n, c, h, w, c_out, x_offset;  // x_offset: floats x starts past an aligned allocation
  };
  const Shape shapes[] = {{3, 3, 224, 224, 4, 0}, {2, 3, 12, 20, 8, 0}, {2, 3, 7, 9, 4, 0}, {2, 3, 8, 8, 4, 1},
                          {2, 1, 4, 4, 4, 0},     {2, 3, 5, 6, 6, 0},  {1, 4, 16, 16, 12, 0}};
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE("BTC_TEST_SEED=" + std::to_string(seed));
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  for (const Shape& sh : shapes) {
    const size_t plane = size_t(sh.h) * sh.w, in_floats = size_t(sh.n) * sh.c * plane;
    std::vector<float> x(in_floats + sh.x_offset);
    for (float& v : x) v = dist(rng);
    x[sh.x_offset] = -0.0f;  // signs of zero survive
    const size_t out_bytes = size_t(sh.n) * plane * sh.c_out * sizeof(__half);
    test::DeviceBuffer dx(x.size() * sizeof(float)), dout(out_bytes + test::kGuardBytes);
    dx.upload(x.data(), x.size() * sizeof(float));
    dout.poison();
    net::images_to_half(dx.as<float>() + sh.x_offset, sh.n, sh.c, sh.h, sh.w, sh.c_out, dout.as<__half>(), nullptr);
    BTC_CUDA_CHECK(cudaDeviceSynchronize());
    const std::vector<uint8_t> got = dout.download();
    EXPECT_TRUE(test::guard_intact(got, out_bytes)) << sh.n << "x" << sh.c << "x" << sh.h << "x" << sh.w;
    const auto* h = reinterpret_cast<const uint16_t*>(got.data());
    size_t wrong = 0;
    for (int img = 0; img < sh.n; ++img)
      for (size_t at = 0; at < plane; ++at)
        for (int ch = 0; ch < sh.c_out; ++ch) {
          const float v = ch < sh.c ? x[sh.x_offset + (size_t(img) * sh.c + ch) * plane + at] : 0.0f;
          const __half want = __float2half_rn(v);
          uint16_t want_bits = 0;
          std::memcpy(&want_bits, &want, sizeof(want_bits));
          wrong += h[(size_t(img) * plane + at) * sh.c_out + ch] != want_bits;
        }
    EXPECT_EQ(wrong, 0u) << sh.n << "x" << sh.c << "x" << sh.h << "x" << sh.w << " -> c_out " << sh.c_out
                         << ", x offset " << sh.x_offset;
  }
}

// The cuBLAS / cuDNN baselines unpack their operands in prepare(): a network
// on them would read stale activations, so the runner refuses them by name.
TEST(NetGpuDesigns, RefusesStaticOperandBaselines) {
  BTC_SKIP_WITHOUT_GPU();
  const Case& c = reference_case("tiny-resnet");
  for (const char* d : {"cublas", "cudnn", "bconv=bconv_cudnn_f16", "bfc=cublas_s8", "no_such_family", "auto,popc",
                        "conv=no_such_conv", "fc=no_such_fc", "pool=x"}) {
    net::RunnerOptions o;
    o.batch = kBatch;
    o.designs = d;
    EXPECT_THROW(net::Runner(c.model, c.weights, o, code_target(0), nullptr), std::invalid_argument) << d;
  }
}

}  // namespace
}  // namespace btc
