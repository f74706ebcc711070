// The CPU reference forward against a PyTorch forward of the same model file
// and weights: tests/fixtures/net/tiny-resnet-torch.safetensors was written on
// the lent GPU machine by `python3 -m analysis.net_torch forward` (float64
// PyTorch on the CPU; see the file's metadata) and holds the weights, the
// input and every layer's y, +-1 output and the logits. The reference must
// reproduce every integer exactly and the logits bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "net/model.h"
#include "net/reference.h"
#include "net/safetensors.h"
#include "net/weights_io.h"

namespace btc::net {
namespace {

const std::string kFixture = std::string(BTC_SOURCE_DIR) + "/tests/fixtures/net/tiny-resnet-torch.safetensors";

template <class T>
std::vector<T> read_as(const SafetensorsFile& f, const std::string& name, Dtype want) {
  const TensorView& t = f.get(name);
  EXPECT_EQ(t.dtype, want) << name;
  std::vector<T> v(t.bytes / sizeof(T));
  std::memcpy(v.data(), t.data, t.bytes);
  return v;
}

TEST(NetFixture, CpuReferenceReproducesPyTorchForward) {
  const Model m = load_model("tiny-resnet", std::string(BTC_SOURCE_DIR) + "/models");
  const Weights w = load_weights(m, kFixture);
  const SafetensorsFile f = SafetensorsFile::open(kFixture);
  const TensorView& in = f.get("input");
  ASSERT_EQ(in.shape.size(), 4u);
  const int batch = static_cast<int>(in.shape[0]);
  const std::vector<float> images = f.read_f32("input", {batch, m.input.c, m.input.h, m.input.w});
  const auto ref = reference_forward(m, w, images, batch);
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const std::string& name = m.layers[i].name;
    SCOPED_TRACE(name);
    EXPECT_EQ(ref[i].y, read_as<int32_t>(f, name + ".y", Dtype::I32));
    if (m.layers[i].float_out) {
      const auto torch = read_as<float>(f, "logits", Dtype::F32);
      ASSERT_EQ(ref[i].logits.size(), torch.size());
      EXPECT_EQ(0, std::memcmp(ref[i].logits.data(), torch.data(), torch.size() * sizeof(float))) << "logits bits";
    } else {
      EXPECT_EQ(ref[i].act, read_as<int8_t>(f, name + ".act", Dtype::I8));
    }
  }
}

}  // namespace
}  // namespace btc::net
