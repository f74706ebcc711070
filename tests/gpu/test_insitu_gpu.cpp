// The in situ observer on the GPU runner: what it captures equals the
// runner's buffers (and, for a fused layer's pre-activation, the CPU
// reference), for chosen images; and a ring that is full drops the due
// forwards and counts them without stalling the forward.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "harness/core/check.h"
#include "harness/core/code_target.h"
#include "insitu/observer.h"
#include "net/reference.h"
#include "net/runner.h"
#include "tests/common/gpu_test.h"

namespace btc {
namespace {

std::string models_dir() {
  std::error_code ec;
  return std::filesystem::is_directory("models", ec) ? "models" : std::string(BTC_SOURCE_DIR) + "/models";
}

// Keeps every step in memory; optionally blocks in step() until released.
class MemorySink final : public insitu::StepSink {
 public:
  struct Held {
    insitu::TensorView view;
    std::vector<unsigned char> bytes;
  };
  std::vector<insitu::LayerInfo> layers;
  std::map<std::pair<int, int>, std::vector<Held>> steps;  // (step, layer) -> tensors
  std::vector<int64_t> batches;                              // per step written
  insitu::CaptureSummary summary;
  bool finished = false;

  void block() { blocked_ = true; }
  void release() {
    std::lock_guard<std::mutex> l(mu_);
    blocked_ = false;
    cv_.notify_all();
  }
  void begin(const std::vector<insitu::LayerInfo>& l) override { layers = l; }
  void weights(int, const insitu::TensorView&) override {}
  void step(int step, int64_t batch_index, int layer, const std::vector<insitu::TensorView>& tensors) override {
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, std::chrono::seconds(20), [&] { return !blocked_; });
    }
    auto& out = steps[{step, layer}];
    for (const auto& v : tensors) {
      const size_t n = size_t(v.images) * v.h * v.w * v.c * insitu::dtype_bytes(v.dtype);
      const auto* p = static_cast<const unsigned char*>(v.data);
      out.push_back({v, std::vector<unsigned char>(p, p + n)});
    }
    if (layer == 0) batches.push_back(batch_index);
  }
  void finish(const insitu::CaptureSummary& s) override {
    summary = s;
    finished = true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool blocked_ = false;
};

template <class T>
std::vector<T> images_of(const std::vector<T>& all, int64_t per_image, const std::vector<int>& images) {
  std::vector<T> out;
  for (int b : images) out.insert(out.end(), all.begin() + b * per_image, all.begin() + (b + 1) * per_image);
  return out;
}

template <class T>
std::vector<T> as(const MemorySink::Held& h) {
  std::vector<T> v(h.bytes.size() / sizeof(T));
  std::memcpy(v.data(), h.bytes.data(), h.bytes.size());
  return v;
}

class InsituGpu : public ::testing::TestWithParam<const char*> {};

// keep_outputs off: the runner keeps only what the network needs, so the
// pre-activations the observer asks for (a fused bconv's rerun, a residual
// layer's z + R) are made for it; each must equal the reference's y.
TEST_P(InsituGpu, CapturedTensorsEqualTheRunnersBuffers) {
  BTC_SKIP_WITHOUT_GPU();
  const net::Model m = net::load_model(GetParam(), models_dir());
  constexpr int kBatch = 4;
  const net::Weights w = net::random_weights(m, 7);
  const std::vector<float> images = net::random_images(m, kBatch, 7);
  const auto ref = net::reference_forward(m, w, images, kBatch);
  cudaStream_t s = nullptr;
  BTC_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  {
    net::RunnerOptions ro;
    ro.batch = kBatch;
    ro.designs = "auto,conv=conv_half,fc=fc_half";  // the real layers in the reference's order: exact
    net::Runner r(m, w, ro, code_target(0), s);
    insitu::ObserverOptions oo;
    oo.images = {3, 1};
    oo.every = 2;
    MemorySink sink;
    insitu::Observer obs(m, w, oo, sink);
    r.attach(&obs);
    r.set_input(images);
    r.capture_graph();
    for (int i = 0; i < 5; ++i) {
      r.poison();
      r.replay();  // forwards 0, 2, 4 are due
    }
    r.sync();
    const insitu::CaptureSummary sum = obs.finish();
    EXPECT_EQ(sum.batches, 5);
    EXPECT_EQ(sum.due, 3);
    EXPECT_EQ(sum.captured + sum.dropped, 3);
    ASSERT_GE(sum.captured, 1);
    ASSERT_TRUE(sink.finished);
    ASSERT_EQ(sink.layers.size(), m.layers.size());
    int pre_seen = 0;
    for (size_t i = 0; i < m.layers.size(); ++i) {
      SCOPED_TRACE(m.layers[i].name);
      const auto& held = sink.steps.at({0, int(i)});
      const net::LayerShapes& sh = m.shapes[i];
      for (const auto& h : held) {
        SCOPED_TRACE(insitu::tensor_name(h.view.kind));
        EXPECT_EQ(h.view.images, 2);
        if (h.view.kind == insitu::TensorKind::kPre) {
          ++pre_seen;
          EXPECT_EQ(as<int32_t>(h), images_of(ref[i].y, sh.conv_out.elements(), oo.images));
        } else if (h.view.kind == insitu::TensorKind::kOutput) {
          if (m.layers[i].float_out) {
            EXPECT_EQ(as<float>(h), images_of(r.logits(), m.classes, oo.images));
          } else if (!ref[i].half.empty()) {
            EXPECT_EQ(as<float>(h), images_of(r.layer_half(int(i)), sh.out.elements(), oo.images));
          } else {
            EXPECT_EQ(as<int8_t>(h), images_of(r.layer_act(int(i)), sh.out.elements(), oo.images));
            EXPECT_EQ(as<int8_t>(h), images_of(ref[i].act, sh.out.elements(), oo.images));
          }
        } else if (h.view.kind == insitu::TensorKind::kInput && m.layers[i].input != "input") {
          const int j = m.index_of(m.layers[i].input);
          if (h.view.dtype == insitu::Dtype::kInt8)
            EXPECT_EQ(as<int8_t>(h), images_of(r.layer_act(j), m.shapes[j].out.elements(), oo.images));
          else
            EXPECT_EQ(as<float>(h), images_of(r.layer_half(j), m.shapes[j].out.elements(), oo.images));
        }
      }
    }
    EXPECT_GT(pre_seen, 0);
  }
  BTC_CUDA_CHECK(cudaStreamDestroy(s));
}

INSTANTIATE_TEST_SUITE_P(Models, InsituGpu, ::testing::Values("tiny-resnet", "tiny-bireal", "resnet18-tcbnn", "mnist-mlp"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (char& c : n) if (c == '-') c = '_';
                           return n;
                         });

// A writer that cannot keep up (blocked) with a one-slot ring: the first due
// forward takes the slot, every later one is dropped and counted, and the
// forwards and the stream finish while the writer is still blocked.
TEST(InsituGpuRing, FullRingDropsWithoutStalling) {
  BTC_SKIP_WITHOUT_GPU();
  const net::Model m = net::load_model("tiny-resnet", models_dir());
  const net::Weights w = net::random_weights(m, 3);
  cudaStream_t s = nullptr;
  BTC_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  {
    net::RunnerOptions ro;
    ro.batch = 2;
    net::Runner r(m, w, ro, code_target(0), s);
    insitu::ObserverOptions oo;
    oo.ring_slots = 1;
    MemorySink sink;
    sink.block();
    insitu::Observer obs(m, w, oo, sink);
    r.attach(&obs);
    r.set_input(net::random_images(m, 2, 3));
    r.capture_graph();
    constexpr int kForwards = 30;
    for (int i = 0; i < kForwards; ++i) r.replay();
    r.sync();  // returns while the writer is blocked: the forward never waits for it
    const insitu::CaptureSummary mid = obs.summary();
    EXPECT_EQ(mid.due, kForwards);
    EXPECT_EQ(mid.captured, 1);
    EXPECT_EQ(mid.dropped, kForwards - 1);
    sink.release();
    const insitu::CaptureSummary end = obs.finish();
    EXPECT_EQ(end.captured, 1);
    EXPECT_EQ(end.dropped, kForwards - 1);
    EXPECT_EQ(sink.batches, std::vector<int64_t>{0});
    EXPECT_EQ(sink.summary.dropped, kForwards - 1);
  }
  BTC_CUDA_CHECK(cudaStreamDestroy(s));
}

TEST(InsituGpuRing, RefusesUnknownLayersAndImagesOutsideTheBatch) {
  const net::Model m = net::load_model("tiny-resnet", models_dir());
  EXPECT_THROW(insitu::parse_layer_list("conv1,nope", m), insitu::CaptureError);
  EXPECT_THROW(insitu::parse_image_list("0,2", 2), insitu::CaptureError);
  EXPECT_THROW(insitu::parse_tensor_list("bits"), insitu::CaptureError);
}

}  // namespace
}  // namespace btc
