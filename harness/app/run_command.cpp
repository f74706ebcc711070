// btcbench run MODEL: one network on the GPU (or the CPU reference with
// --cpu): the design of each layer, the device memory it planned, images/s
// from CUDA-graph replays, and the top-5 of the first images.
#include "harness/app/run_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>

#include "harness/core/check.h"
#include "harness/core/code_target.h"
#include "harness/core/device_info.h"
#include "insitu/observer.h"
#include "net/check.h"
#include "net/npy.h"
#include "net/reference.h"
#include "net/runner.h"
#include "net/weights_io.h"

namespace btc {
namespace {

constexpr int kShownImages = 4;

void print_top5(const std::vector<float>& logits, int batch, int classes) {
  const auto top = net::top5(logits, batch, classes);
  for (int n = 0; n < std::min(batch, kShownImages); ++n) {
    std::string line = fmt::format("  image {}: top-5", n);
    for (int c : top[n]) line += fmt::format("  {} ({:.4g})", c, logits[size_t(n) * classes + c]);
    std::cout << line << "\n";
  }
  if (batch > kShownImages) std::cout << "  (" << batch - kShownImages << " more images)\n";
}

insitu::ObserverOptions observer_options(const RunOptions& o, const net::Model& m, int batch) {
  insitu::ObserverOptions io;
  io.layers = insitu::parse_layer_list(o.insitu_layers, m);
  io.tensors = insitu::parse_tensor_list(o.insitu_tensors);
  io.images = insitu::parse_image_list(o.insitu_images, batch);
  io.every = o.insitu_every;
  io.ring_slots = o.insitu_ring;
  return io;
}

insitu::CaptureConfig capture_config(const RunOptions& o, const net::Model& m, int batch, const std::vector<int>& images) {
  insitu::CaptureConfig c;
  c.model = m.name;
  c.command = o.command_line;
  c.batch = batch;
  c.every = o.insitu_every;
  c.images = images;
  return c;
}

void print_capture(const std::string& dir, const insitu::CaptureSummary& s) {
  std::cout << fmt::format("in situ: {} forwards, {} due, {} captured, {} dropped (ring of {} x {:.2f} MiB) -> {}\n",
                           s.batches, s.due, s.captured, s.dropped, s.ring_slots, double(s.ring_slot_bytes) / 1048576.0,
                           dir);
}

}  // namespace

int run_network(const RunOptions& o) {
  const net::Model m = net::load_model(o.model, o.models_dir);
  const int batch = o.batch > 0 ? o.batch : m.batch;
  const net::Weights w = o.weights.empty() ? net::random_weights(m, o.seed) : net::load_weights(m, o.weights);
  std::vector<float> images;
  int use_batch = batch;
  if (!o.input.empty()) {
    net::NpyImages in = net::load_npy_images(o.input, m.input);
    if (o.batch > 0 && o.batch != in.batch)
      throw std::invalid_argument(fmt::format("--batch {} but {} holds {} images", o.batch, o.input, in.batch));
    use_batch = in.batch;
    images = std::move(in.nchw);
  } else {
    images = net::random_images(m, use_batch, o.seed);
  }
  // The real-valued (fp16) conv and fc MACs, for models that have them.
  const std::string real_macs =
      m.real_macs_per_image() > 0 ? fmt::format(", {:.3g} G real MACs/image", m.real_macs_per_image() / 1e9) : "";
  std::cout << fmt::format("btcbench run {}: {} layers, batch {}, {:.3g} G binary ops/image{}, weights {}\n", m.name,
                           m.layers.size(), use_batch, m.binary_ops_per_image() / 1e9, real_macs, w.source);
  const bool insitu = !o.insitu_dir.empty();
  // Checked before any work: an unknown layer or image fails now.
  const insitu::ObserverOptions io = insitu ? observer_options(o, m, use_batch) : insitu::ObserverOptions{};
  if (o.cpu) {
    std::cout << "CPU reference forward (no GPU used)\n";
    const auto ref = net::reference_forward(m, w, images, use_batch);
    print_top5(ref.back().logits, use_batch, m.classes);
    if (insitu) {
      std::vector<insitu::CpuLayer> layers;
      for (const auto& r : ref) layers.push_back({&r.y, &r.act, &r.half, &r.logits});
      auto sink = insitu::files_sink(o.insitu_dir, capture_config(o, m, use_batch, io.images));
      print_capture(o.insitu_dir, insitu::capture_cpu(m, w, io, layers, images, use_batch, *sink));
    }
    return 0;
  }
  const DeviceInfo dev = query_device(o.device);  // NoGpuError without a GPU
  BTC_CUDA_CHECK(cudaSetDevice(o.device));
  const CodeTarget code = code_target(o.device);
  std::cout << describe(dev) << "  machine code: " << describe(code) << "\n";
  cudaStream_t s = nullptr;
  BTC_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  int rc = 0;
  {
    net::RunnerOptions ro;
    ro.batch = use_batch;
    ro.designs = o.designs;
    ro.keep_outputs = o.check;
    net::Runner r(m, w, ro, code, s);
    std::unique_ptr<insitu::StepSink> sink;
    std::unique_ptr<insitu::Observer> observer;
    if (insitu) {
      sink = insitu::files_sink(o.insitu_dir, capture_config(o, m, use_batch, io.images));
      observer = std::make_unique<insitu::Observer>(m, w, io, *sink);
    }
    std::cout << fmt::format("planned {:.1f} MiB of device memory; designs per layer:\n", static_cast<double>(r.device_bytes()) / 1048576.0);
    for (size_t i = 0; i < m.layers.size(); ++i)
      std::cout << fmt::format("  {:<8} {:<5} {}\n", m.layers[i].name, net::op_name(m.layers[i].op), r.layer_designs()[i]);
    r.set_input(images);
    r.forward();
    r.sync();
    const std::vector<float> logits = r.logits();
    if (o.check) {
      // Each layer on the inputs the GPU layer read (net/check.h).
      int bad = 0, within = 0;
      for (const net::LayerCheck& c : net::check_against_reference(r, w, images)) {
        std::cout << fmt::format("  check {:<8} {}\n", c.layer, net::describe(c));
        bad += c.differs.empty() ? 0 : 1;
        within += c.differs.empty() && c.tolerance ? 1 : 0;
      }
      std::cout << (bad != 0 ? fmt::format("check: {} layers differ from the CPU reference\n", bad)
                    : within == 0
                        ? std::string("check: every layer equals the CPU reference\n")
                        : fmt::format("check: every layer equals the CPU reference, {} reordered fp16 layers within "
                                      "their bound\n",
                                      within));
      if (bad) rc = 1;
    }
    if (observer) r.attach(observer.get());
    r.capture_graph();
    r.replay();
    r.sync();
    cudaEvent_t a, b;
    BTC_CUDA_CHECK(cudaEventCreate(&a));
    BTC_CUDA_CHECK(cudaEventCreate(&b));
    std::vector<double> ms;
    for (int i = 0; i < o.repetitions; ++i) {
      BTC_CUDA_CHECK(cudaEventRecord(a, s));
      r.replay();
      BTC_CUDA_CHECK(cudaEventRecord(b, s));
      BTC_CUDA_CHECK(cudaEventSynchronize(b));
      float t = 0;
      BTC_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
      ms.push_back(t);
    }
    if (observer) {
      // Throughput with the observer attached: back-to-back replays, the
      // observed ones among them, in one event pair.
      const int forwards = o.forwards > 0 ? o.forwards : 3 * o.insitu_every;
      BTC_CUDA_CHECK(cudaEventRecord(a, s));
      for (int i = 0; i < forwards; ++i) r.replay();
      BTC_CUDA_CHECK(cudaEventRecord(b, s));
      BTC_CUDA_CHECK(cudaEventSynchronize(b));
      float t = 0;
      BTC_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
      std::cout << fmt::format("observed: {} back-to-back replays, {:.3f} ms each, {:.0f} images/s\n", forwards,
                               double(t) / forwards, double(use_batch) * forwards / (double(t) * 1e-3));
      print_capture(o.insitu_dir, observer->finish());
      std::cout << fmt::format("in situ writer: {:.1f} ms of files per captured step\n",
                               observer->writer_seconds() * 1e3 / std::max<double>(1.0, double(observer->summary().captured)));
    }
    BTC_CUDA_CHECK(cudaEventDestroy(a));
    BTC_CUDA_CHECK(cudaEventDestroy(b));
    std::sort(ms.begin(), ms.end());
    const double med = ms[ms.size() / 2];
    std::cout << fmt::format("forward (CUDA graph, {} replays): median {:.3f} ms [min {:.3f}, max {:.3f}], {:.0f} images/s\n",
                             ms.size(), med, ms.front(), ms.back(), use_batch / (med * 1e-3));
    if (r.logits() != logits) {
      std::cout << "error: the graph replays' logits differ from the first forward's\n";
      rc = 1;
    }
    print_top5(logits, use_batch, m.classes);
  }
  BTC_CUDA_CHECK(cudaStreamDestroy(s));
  return rc;
}

}  // namespace btc
