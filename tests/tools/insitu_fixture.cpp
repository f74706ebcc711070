// btc_insitu_fixture OUTDIR [EXPECTED]: a capture directory of deterministic
// synthetic tensors, written by insitu::CaptureWriter, and the same tensors
// (NHWC, as the writer was handed them) in a safetensors file, EXPECTED or
// else OUTDIR/../expected.safetensors. tests/analysis/test_insitu_view.py
// reads both (ctest passes this binary as BTC_INSITU_FIXTURE).
//
// Two layers of different shapes, 2 images (batch indices 1 and 3 of a batch
// of 4), 3 steps (every 2nd forward: batches 0, 2, 4):
//   conv1 (bconv): input int8 +-1 5x7x3, pre int32 5x7x10, output int8 +-1
//                  5x7x10 (H != W, odd, C = 10 not a multiple of 8; output
//                  channel 0 always +1, channel 1 all -1 at step 2: saturated);
//                  thresholds with halves, some flipped; int8 +-1 weights 10x9x3
//   conv2 (bconv out=half, max-pooled): pre int32 6x6x12, output float32
//                  3x3x12 (negative and fractional values); thresholds 0;
//                  float32 weights 12x9x10
// Safetensors names: <layer>/<tensor>/step<k>/img<b> ([h, w, c]) and
// <layer>/weights ([K, R*S, C]).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "insitu/capture.h"
#include "net/safetensors.h"

namespace fs = std::filesystem;
using namespace btc;

namespace {

// splitmix64: the same numbers on every machine.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
uint64_t seed_of(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

struct Tensor {
  insitu::TensorKind kind;
  insitu::Dtype dtype;
  int h, w, c, images;
  std::vector<uint8_t> bytes;  // images blocks of h x w x c, NHWC
  insitu::TensorView view() const { return {kind, dtype, h, w, c, images, bytes.data()}; }
};

// Values per dtype: int8 +-1; int32 in [-40, 40]; float32 in [-4, 4) in
// steps of 1/64 plus a non-dyadic part (so the decimal text is not short).
Tensor make(const std::string& name, insitu::TensorKind kind, insitu::Dtype dtype, int h, int w, int c, int images) {
  Tensor t{kind, dtype, h, w, c, images, {}};
  const size_t n = size_t(images) * size_t(h) * size_t(w) * size_t(c);
  t.bytes.resize(n * size_t(insitu::dtype_bytes(dtype)));
  const uint64_t seed = seed_of(name);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t r = mix(seed + i);
    switch (dtype) {
      case insitu::Dtype::kInt8: {
        const int8_t v = (r & 1) ? 1 : -1;
        std::memcpy(t.bytes.data() + i, &v, 1);
        break;
      }
      case insitu::Dtype::kInt32: {
        const int32_t v = int32_t(r % 81) - 40;
        std::memcpy(t.bytes.data() + 4 * i, &v, 4);
        break;
      }
      case insitu::Dtype::kFloat32: {
        const float v = float(int(r % 512) - 256) / 64.0f + float((r >> 20) % 1000) * 1e-4f / 3.0f;
        std::memcpy(t.bytes.data() + 4 * i, &v, 4);
        break;
      }
    }
  }
  return t;
}

net::Dtype st_dtype(insitu::Dtype d) {
  switch (d) {
    case insitu::Dtype::kInt8: return net::Dtype::I8;
    case insitu::Dtype::kInt32: return net::Dtype::I32;
    case insitu::Dtype::kFloat32: return net::Dtype::F32;
  }
  return net::Dtype::F32;
}

// One image's block of t as a safetensors tensor of shape [h, w, c].
net::OwnedTensor block(const Tensor& t, int image) {
  const size_t bytes = size_t(t.h) * size_t(t.w) * size_t(t.c) * size_t(insitu::dtype_bytes(t.dtype));
  net::OwnedTensor o;
  o.dtype = st_dtype(t.dtype);
  o.shape = {t.h, t.w, t.c};
  o.bytes.assign(t.bytes.begin() + std::ptrdiff_t(bytes * size_t(image)),
                 t.bytes.begin() + std::ptrdiff_t(bytes * size_t(image + 1)));
  return o;
}

struct LayerSpec {
  insitu::LayerInfo info;
  struct T {
    insitu::TensorKind kind;
    insitu::Dtype dtype;
    int h, w, c;
  };
  std::vector<T> tensors;
  T weights;
};

int run(const fs::path& out_dir, const fs::path& expected) {
  insitu::CaptureConfig cfg;
  cfg.model = "insitu-fixture";
  cfg.command = "btc_insitu_fixture " + out_dir.string();
  cfg.batch = 4;
  cfg.every = 2;
  cfg.images = {1, 3};
  const int images = int(cfg.images.size());
  const int steps = 3;

  using K = insitu::TensorKind;
  using D = insitu::Dtype;
  std::vector<LayerSpec> specs(2);
  specs[0].info.name = "conv1";
  specs[0].info.op = "bconv";
  for (int k = 0; k < 10; ++k) {
    specs[0].info.threshold.push_back(k * 1.5 - 6.5);  // -6.5 .. 7
    specs[0].info.flip.push_back(uint8_t(k % 3 == 2));
  }
  specs[0].info.tensors = {K::kInput, K::kPre, K::kOutput, K::kWeights};
  specs[0].tensors = {{K::kInput, D::kInt8, 5, 7, 3}, {K::kPre, D::kInt32, 5, 7, 10}, {K::kOutput, D::kInt8, 5, 7, 10}};
  specs[0].weights = {K::kWeights, D::kInt8, 10, 9, 3};
  specs[1].info.name = "conv2";
  specs[1].info.op = "bconv";
  specs[1].info.threshold.assign(12, 0.0);
  specs[1].info.flip.assign(12, 0);
  specs[1].info.tensors = {K::kPre, K::kOutput};
  specs[1].tensors = {{K::kPre, D::kInt32, 6, 6, 12}, {K::kOutput, D::kFloat32, 3, 3, 12}};
  specs[1].weights = {K::kWeights, D::kFloat32, 12, 9, 10};

  std::vector<insitu::LayerInfo> infos;
  for (const auto& s : specs) infos.push_back(s.info);
  insitu::CaptureWriter writer(out_dir.string(), cfg, infos);
  std::vector<std::pair<std::string, net::OwnedTensor>> all;

  for (size_t li = 0; li < specs.size(); ++li) {
    const LayerSpec& s = specs[li];
    const std::string name = s.info.name + "/weights";
    const Tensor w = make(name, K::kWeights, s.weights.dtype, s.weights.h, s.weights.w, s.weights.c, 1);
    writer.write_weights(int(li), w.view());
    all.emplace_back(name, block(w, 0));
  }
  for (int step = 0; step < steps; ++step) {
    const int64_t batch_index = int64_t(step) * cfg.every;
    for (size_t li = 0; li < specs.size(); ++li) {
      const LayerSpec& s = specs[li];
      std::vector<Tensor> held;
      for (const auto& t : s.tensors) {
        const std::string base = s.info.name + "/" + insitu::tensor_name(t.kind) + "/step" + std::to_string(step);
        held.push_back(make(base, t.kind, t.dtype, t.h, t.w, t.c, images));
        if (li == 0 && t.kind == K::kOutput) {
          // Saturated channels for the view's saturation figure: c0 always +1, c1 -1 at step 2.
          auto* v = reinterpret_cast<int8_t*>(held.back().bytes.data());
          for (size_t p = 0; p < size_t(images) * size_t(t.h) * size_t(t.w); ++p) {
            v[p * size_t(t.c)] = 1;
            if (step == 2) v[p * size_t(t.c) + 1] = -1;
          }
        }
        for (int b = 0; b < images; ++b)
          all.emplace_back(base + "/img" + std::to_string(cfg.images[size_t(b)]), block(held.back(), b));
      }
      std::vector<insitu::TensorView> views;
      for (const auto& t : held) views.push_back(t.view());
      writer.write_step(step, batch_index, int(li), views);
    }
  }
  insitu::CaptureSummary summary;
  summary.batches = 5;
  summary.due = 3;
  summary.captured = 3;
  summary.dropped = 0;
  summary.ring_slots = 2;
  summary.ring_slot_bytes = 65536;
  writer.finish(summary);
  net::write_safetensors(expected.string(), all, {{"format", "btcbench insitu fixture (NHWC blocks per image)"}});
  std::printf("wrote %s (%lld bytes) and %s (%zu tensors)\n", out_dir.string().c_str(),
              static_cast<long long>(writer.bytes_written()), expected.string().c_str(), all.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: btc_insitu_fixture OUTDIR [EXPECTED.safetensors]\n");
    return 2;
  }
  fs::path out = fs::absolute(argv[1]).lexically_normal();
  if (!out.has_filename()) out = out.parent_path();  // "dir/" -> "dir"
  const fs::path expected = argc == 3 ? fs::path(argv[2]) : out.parent_path() / "expected.safetensors";
  try {
    return run(out, expected);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "btc_insitu_fixture: %s\n", e.what());
    return 1;
  }
}
