// The in situ writer's time a step, on the CPU alone: CaptureWriter::write_step
// for one image of Bi-Real ResNet-18's 16 binary convs (input int8, pre int32,
// output float32 at 56^2x64 ... 7^2x512, 18 MB of .vti a step), as the
// observer's writer thread runs it. Not a results figure: a probe for the
// writer's own cost, run where it was built (see README.md beside it).
//
//   g++ -O3 -DNDEBUG -std=c++17 -I. -DFMT_HEADER_ONLY=1 docs/profiles/insitu-writer/writer_probe.cpp \
//       build/insitu/libbtc_insitu_files.a build/harness/libbtc_core.a -pthread -o writer_probe
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <random>
#include <vector>

#include "insitu/capture.h"

using namespace btc::insitu;

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "/tmp/btc_writer_probe";
  struct Shape { const char* name; int h, w, c; };
  const std::vector<Shape> layers = {
      {"l1b1a", 56, 56, 64},  {"l1b1b", 56, 56, 64},  {"l1b2a", 56, 56, 64},  {"l1b2b", 56, 56, 64},
      {"l2b1a", 28, 28, 128}, {"l2b1b", 28, 28, 128}, {"l2b2a", 28, 28, 128}, {"l2b2b", 28, 28, 128},
      {"l3b1a", 14, 14, 256}, {"l3b1b", 14, 14, 256}, {"l3b2a", 14, 14, 256}, {"l3b2b", 14, 14, 256},
      {"l4b1a", 7, 7, 512},   {"l4b1b", 7, 7, 512},   {"l4b2a", 7, 7, 512},   {"l4b2b", 7, 7, 512}};
  std::vector<LayerInfo> infos;
  for (const Shape& l : layers) {
    LayerInfo i;
    i.name = l.name;
    i.op = "bconv";
    i.threshold.assign(size_t(l.c), 0.5);
    i.flip.assign(size_t(l.c), 0);
    i.tensors = {TensorKind::kInput, TensorKind::kPre, TensorKind::kOutput};
    infos.push_back(i);
  }
  std::filesystem::remove_all(dir);
  CaptureConfig cfg;
  cfg.model = "probe";
  cfg.batch = 256;
  cfg.every = 10;
  cfg.images = {0};
  CaptureWriter w(dir, cfg, infos);
  std::mt19937 rng(1);
  std::vector<std::vector<int8_t>> in(layers.size());
  std::vector<std::vector<int32_t>> pre(layers.size());
  std::vector<std::vector<float>> out(layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    const size_t n = size_t(layers[i].h) * layers[i].w * layers[i].c;
    in[i].resize(n), pre[i].resize(n), out[i].resize(n);
    for (size_t e = 0; e < n; ++e) {
      in[i][e] = (rng() & 1) ? 1 : -1;
      pre[i][e] = int(rng() % 200) - 100;
      out[i][e] = float(int(rng() % 200) - 100) / 16;
    }
  }
  const int steps = 10;
  std::vector<double> wall_ms;
  const std::clock_t c0 = std::clock();
  for (int step = 0; step < steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < layers.size(); ++i) {
      const Shape& s = layers[i];
      w.write_step(step, step * 10, int(i),
                   {{TensorKind::kInput, Dtype::kInt8, s.h, s.w, s.c, 1, in[i].data()},
                    {TensorKind::kPre, Dtype::kInt32, s.h, s.w, s.c, 1, pre[i].data()},
                    {TensorKind::kOutput, Dtype::kFloat32, s.h, s.w, s.c, 1, out[i].data()}});
    }
    wall_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  const double cpu_ms = double(std::clock() - c0) / CLOCKS_PER_SEC * 1e3 / steps;
  std::sort(wall_ms.begin(), wall_ms.end());
  std::printf("write_step, a step of %zu layers: wall median %.1f ms [%.1f-%.1f] over %d steps, CPU %.1f ms a step, "
              "%lld bytes a step\n",
              layers.size(), wall_ms[steps / 2], wall_ms.front(), wall_ms.back(), steps, cpu_ms,
              static_cast<long long>(w.bytes_written() / steps));
  std::filesystem::remove_all(dir);
}
