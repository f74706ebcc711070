#include "harness/suites/net_suite.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <unistd.h>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "harness/core/bench_util.h"
#include "harness/core/check.h"
#include "harness/core/metrics.h"
#include "insitu/observer.h"
#include "net/runner.h"

namespace btc {
namespace {

// Each repetition replays the forward for at least this long (Google
// Benchmark picks the count from the manual time): tens of replays for a
// p99 at small batches, a few for a software-popcount VGG-16 at batch 1024.
constexpr double kMinSecondsPerRepetition = 0.1;
constexpr int kStepLaunches = 10;  // per step in the layer breakdown
constexpr int kStepGraphRuns = 20;  // back-to-back launches of a step in its graph
constexpr uint64_t kSeed = 1;

struct Impl {
  const char* label;    // in the benchmark name
  const char* designs;  // RunnerOptions::designs
};
// The tensor-core network (the generated configuration's designs) and the
// software-popcount one (SBNN's BConv-64 / BMM-64) on the same model; the
// real layers of either on cuDNN (conv_cudnn) where it loads.
constexpr Impl kImpls[] = {{"btc", "auto"}, {"popc", "popc"}};
// A model with no binary layer (resnet18-fp16, the full-precision
// baseline): one network, its convs on cuDNN and its fc on cuBLAS (fc auto).
constexpr Impl kFullPrecision[] = {{"cudnn", "auto,conv=conv_cudnn"}};

const std::vector<std::string>& sweep_models(bool quick) {
  static const std::vector<std::string> all = {"resnet18-bireal", "resnet18-fp16", "resnet18-tcbnn", "alexnet",
                                               "vgg16",           "cifar10-vgg",   "cifar10-resnet14", "mnist-mlp"};
  static const std::vector<std::string> few = {"resnet18-bireal", "resnet18-fp16", "resnet18-tcbnn", "mnist-mlp"};
  return quick ? few : all;
}
// The batches of a model: the sweep's, and the model file's own (its
// paper's: mnist-mlp's 32768) where that is another.
std::vector<int> sweep_batches(bool quick, int model_batch) {
  std::vector<int> b = quick ? std::vector<int>{1, 256} : std::vector<int>{1, 8, 32, 128, 256, 512, 1024};
  if (!quick && model_batch > 0 && std::find(b.begin(), b.end(), model_batch) == b.end()) b.push_back(model_batch);
  std::sort(b.begin(), b.end());
  return b;
}

// The in situ observer's overhead (docs/insitu.md): every layer of one
// image every kObserveEvery-th forward, against no observer, both timed as
// windows of kObserveEvery back-to-back replays (one observed per window).
constexpr int kObserveEvery = 10;
constexpr int kInsituBatch = 256;
const std::vector<std::string>& insitu_models(bool quick) {
  static const std::vector<std::string> all = {"resnet18-bireal", "resnet18-tcbnn"};
  static const std::vector<std::string> few = {"resnet18-bireal"};
  return quick ? few : all;
}

struct NetState {
  SuiteContext* ctx = nullptr;
  std::string models_dir = "models";
  double dram_bytes_per_s = 0;
  // One planned network at a time (a VGG-16 at batch 1024 holds gigabytes).
  std::string key;
  std::unique_ptr<net::Model> model;
  std::unique_ptr<net::Weights> weights;
  std::unique_ptr<net::Runner> runner;
  // With an observer (insitu points): it writes into a temporary capture
  // directory, removed when the next point is planned.
  std::unique_ptr<insitu::StepSink> sink;
  std::unique_ptr<insitu::Observer> observer;
  std::string capture_dir;
  std::string error;  // why `key` could not be planned
  cudaStream_t stream = nullptr;
  CounterCache counters;

  bool dram_measured = false;
  void measure_dram() {  // once per sweep, before the first point
    if (dram_measured) return;
    dram_measured = true;
    dram_bytes_per_s = record_dram_copy_bandwidth(ctx->peaks);
  }

  // The runner for (model, batch, impl), planned on first use; "" or why not.
  void drop_runner() {
    runner.reset();  // before the observer it calls
    observer.reset();
    sink.reset();
    if (!capture_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(capture_dir, ec);
      capture_dir.clear();
    }
  }

  std::string plan(const std::string& model_name, int batch, const Impl& impl, int observe_every = 0) {
    const std::string k = fmt::format("{}/{}/{}/{}", model_name, batch, impl.label, observe_every);
    if (k == key) return error;
    drop_runner();
    key = k;
    error.clear();
    if (!stream) BTC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    try {
      model = std::make_unique<net::Model>(net::load_model(model_name, models_dir));
      weights = std::make_unique<net::Weights>(net::random_weights(*model, kSeed));
      net::RunnerOptions o;
      o.batch = batch;
      o.designs = impl.designs;
      runner = std::make_unique<net::Runner>(*model, *weights, o, ctx->code, stream);
      runner->set_input(net::random_images(*model, batch, kSeed));
      runner->forward();
      runner->sync();
      if (observe_every > 0) {
        capture_dir = (std::filesystem::temp_directory_path() /
                       fmt::format("btcbench-insitu-{}-{}", static_cast<long>(getpid()), model_name))
                          .string();
        std::error_code ec;
        std::filesystem::remove_all(capture_dir, ec);
        insitu::ObserverOptions oo;
        oo.every = observe_every;
        insitu::CaptureConfig cc;
        cc.model = model_name;
        cc.batch = batch;
        cc.every = observe_every;
        cc.images = oo.images;
        cc.command = "btcbench sweep net (in situ overhead)";
        sink = insitu::files_sink(capture_dir, cc);
        observer = std::make_unique<insitu::Observer>(*model, *weights, oo, *sink);
        runner->attach(observer.get());
      }
      if (ctx->profiler == nullptr) runner->capture_graph();
      if (observe_every == 0) record_form(model_name, batch, impl);
    } catch (const CudaError& e) {
      drop_runner();
      cudaGetLastError();  // an allocation failure is not sticky: clear it and go on
      error = std::string("not planned: ") + e.what();
    } catch (const std::invalid_argument& e) {
      drop_runner();
      error = std::string("not planned: ") + e.what();
    } catch (const insitu::CaptureError& e) {
      drop_runner();
      error = std::string("not planned: ") + e.what();
    } catch (const net::ModelError& e) {
      drop_runner();
      error = std::string("not planned: ") + e.what();
    }
    return error;
  }

  void record_form(const std::string& model_name, int batch, const Impl& impl) {
    json::Value f = json::Value::object();
    f.set("status", "measured");
    f.set("model", model_name);
    f.set("batch", batch);
    f.set("impl", impl.label);
    f.set("designs", impl.designs);
    f.set("device_bytes", runner->device_bytes());
    f.set("binary_ops_per_image", model->binary_ops_per_image());
    f.set("stem_macs_per_image", model->stem_macs_per_image());
    json::Value layers = json::Value::array();
    for (size_t i = 0; i < model->layers.size(); ++i) {
      json::Value l = json::Value::object();
      l.set("name", model->layers[i].name);
      l.set("op", net::op_name(model->layers[i].op));
      l.set("design", runner->layer_designs()[i]);
      layers.push_back(std::move(l));
    }
    f.set("layers", std::move(layers));
    json::Value steps = json::Value::array();
    double floor_s = 0;
    for (const net::Step& s : runner->steps()) {
      json::Value j = json::Value::object();
      j.set("name", s.name);
      j.set("layer", s.layer);
      j.set("design", s.design);
      j.set("bytes_moved", s.bytes_moved);
      j.set("ops", s.ops);
      if (dram_bytes_per_s > 0) j.set("floor_us", s.bytes_moved / dram_bytes_per_s * 1e6);
      floor_s += s.bytes_moved / std::max(dram_bytes_per_s, 1.0);
      steps.push_back(std::move(j));
    }
    f.set("steps", std::move(steps));
    if (dram_bytes_per_s > 0) f.set("floor_us", floor_s * 1e6);
    ctx->forms.set(fmt::format("{}/batch:{}/impl:{}", model_name, batch, impl.label), std::move(f));
  }
};
NetState& state() {
  static NetState s;
  return s;
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(std::ceil(q * static_cast<double>(v.size()))) - 1);
  return v[i];
}

// Per iteration, `per_window` launches back to back between one pair of
// events; the iteration's time and the returned seconds are per launch.
std::vector<double> time_forwards(benchmark::State& st, cudaStream_t stream, int per_window,
                                  const std::function<void()>& launch) {
  cudaEvent_t a, b;
  BTC_CUDA_CHECK(cudaEventCreate(&a));
  BTC_CUDA_CHECK(cudaEventCreate(&b));
  std::vector<double> secs;
  for (auto _ : st) {
    BTC_CUDA_CHECK(cudaEventRecord(a, stream));
    for (int i = 0; i < per_window; ++i) launch();
    BTC_CUDA_CHECK(cudaEventRecord(b, stream));
    BTC_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    BTC_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    st.SetIterationTime(ms * 1e-3 / per_window);
    secs.push_back(ms * 1e-3 / per_window);
  }
  BTC_CUDA_CHECK(cudaEventDestroy(a));
  BTC_CUDA_CHECK(cudaEventDestroy(b));
  return secs;
}

// The whole forward: a graph replay per iteration (stream launches when
// counters are on; see bconv_suite.cpp on CUPTI after graph replays).
void run_forward(benchmark::State& st, const std::string& model_name, int batch, const Impl& impl,
                 const std::string& name) {
  NetState& s = state();
  s.measure_dram();
  if (const std::string why = s.plan(model_name, batch, impl); !why.empty()) {
    st.SkipWithError(why.c_str());
    return;
  }
  net::Runner& r = *s.runner;
  const bool graph = s.ctx->profiler == nullptr;
  auto launch = [&] { graph ? r.replay() : r.forward(); };
  launch();
  r.sync();
  const std::vector<double> secs = time_forwards(st, s.stream, 1, launch);
  record_gpu_conditions(st);
  const double med = percentile(secs, 0.5);
  st.counters["images_per_s"] = batch / med;
  st.counters["latency_median_us"] = med * 1e6;
  st.counters["latency_p99_us"] = percentile(secs, 0.99) * 1e6;
  st.counters["graph"] = graph ? 1 : 0;
  st.counters["batch"] = batch;
  st.counters["device_bytes"] = static_cast<double>(r.device_bytes());
  double bytes = 0;
  for (const net::Step& step : r.steps()) bytes += step.bytes_moved;
  st.counters["bytes_moved"] = bytes;
  if (s.dram_bytes_per_s > 0) {
    st.counters["floor_us"] = bytes / s.dram_bytes_per_s * 1e6;
    st.counters["time_over_floor"] = med / (bytes / s.dram_bytes_per_s);
  }
  s.counters.attach(st, s.ctx->profiler, name, [&] { r.forward(); });
}

// The per-layer breakdown, untimed overall: each step launched on its own
// between CUDA events, kStepLaunches times; the median per step as a
// counter "step_us/<step>". Then each step's kernel time from CUDA-graph
// replays of kStepGraphRuns back-to-back launches, "step_graph_us/<step>":
// at batch 1 an event pair around one launch also counts the host's launch
// gap (~8 us on the H200, more than most batch-1 steps), which the forward's
// graph does not pay. Steps that update in place (a residual add) change
// their buffers' values, not their cost.
void run_layers(benchmark::State& st, const std::string& model_name, int batch, const Impl& impl) {
  NetState& s = state();
  if (const std::string why = s.plan(model_name, batch, impl); !why.empty()) {
    st.SkipWithError(why.c_str());
    return;
  }
  net::Runner& r = *s.runner;
  cudaEvent_t a, b;
  BTC_CUDA_CHECK(cudaEventCreate(&a));
  BTC_CUDA_CHECK(cudaEventCreate(&b));
  std::vector<std::vector<double>> per(r.steps().size());
  double total = 0;
  for (auto _ : st) {
    double iter = 0;
    for (size_t i = 0; i < r.steps().size(); ++i) {
      BTC_CUDA_CHECK(cudaEventRecord(a, s.stream));
      r.steps()[i].launch(s.stream);
      BTC_CUDA_CHECK(cudaEventRecord(b, s.stream));
      BTC_CUDA_CHECK(cudaEventSynchronize(b));
      float ms = 0;
      BTC_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
      per[i].push_back(ms * 1e-3);
      iter += ms * 1e-3;
    }
    st.SetIterationTime(iter);
    total += iter;
  }
  BTC_CUDA_CHECK(cudaEventDestroy(a));
  BTC_CUDA_CHECK(cudaEventDestroy(b));
  for (size_t i = 0; i < per.size(); ++i)
    st.counters["step_us/" + r.steps()[i].name] = percentile(per[i], 0.5) * 1e6;
  if (s.ctx->profiler == nullptr)  // graphs stay off under counters (bench_util.h)
    for (const net::Step& step : r.steps()) {
      const GraphTiming g = time_graph_replays([&](int, cudaStream_t gs) { step.launch(gs); }, kStepGraphRuns);
      if (g.error.empty()) st.counters["step_graph_us/" + step.name] = g.seconds_per_run * 1e6;
      else s.ctx->skip(step.name, "graph replay: " + g.error, fmt::format("layers/{}/batch:{}/graph", model_name, batch));
    }
  st.counters["batch"] = batch;
}

// Windows of kObserveEvery back-to-back replays in one event pair, with the
// observer (every kObserveEvery-th forward: one per window) or without.
void run_insitu(benchmark::State& st, const std::string& model_name, bool observed) {
  NetState& s = state();
  if (s.ctx->profiler != nullptr) {
    st.SkipWithError("timing only: the in situ overhead is not a counter run");
    return;
  }
  if (const std::string why = s.plan(model_name, kInsituBatch, kImpls[0], observed ? kObserveEvery : 0); !why.empty()) {
    st.SkipWithError(why.c_str());
    return;
  }
  net::Runner& r = *s.runner;
  for (int i = 0; i < kObserveEvery; ++i) r.replay();  // warm, and the observer's first step
  r.sync();
  const std::vector<double> secs = time_forwards(st, s.stream, kObserveEvery, [&] { r.replay(); });
  record_gpu_conditions(st);
  const double med = percentile(secs, 0.5);
  st.counters["images_per_s"] = kInsituBatch / med;
  st.counters["forward_us"] = med * 1e6;
  st.counters["batch"] = kInsituBatch;
  st.counters["observe_every"] = observed ? kObserveEvery : 0;
  if (observed) {
    const insitu::CaptureSummary c = s.observer->summary();
    st.counters["forwards"] = static_cast<double>(c.batches);
    st.counters["due"] = static_cast<double>(c.due);
    st.counters["captured"] = static_cast<double>(c.captured);
    st.counters["dropped"] = static_cast<double>(c.dropped);
    st.counters["ring_slot_bytes"] = static_cast<double>(c.ring_slot_bytes);
    if (c.captured > 0) st.counters["writer_ms_per_step"] = s.observer->writer_seconds() * 1e3 / double(c.captured);
  }
}

void register_net(SuiteContext& ctx) {
  state().ctx = &ctx;
  const bool quick = ctx.options.quick;
  for (const auto& model : sweep_models(quick)) {
    // The implementations a model has: binary layers or not (read from its file).
    bool binary = true;
    int model_batch = 0;
    try {
      const net::Model m = net::load_model(model, state().models_dir);
      binary = m.binary_ops_per_image() > 0;
      model_batch = m.batch;
    } catch (const net::ModelError&) {
      // planned per point, where the error is recorded
    }
    const Impl* impls_begin = binary ? std::begin(kImpls) : std::begin(kFullPrecision);
    const Impl* impls_end = binary ? std::end(kImpls) : std::end(kFullPrecision);
    for (int batch : sweep_batches(quick, model_batch))
      for (const Impl* ip = impls_begin; ip != impls_end; ++ip) {
        // The naming grammar's form is [a-z0-9_]: the model name with '_'
        // for '-' (the label and the forms key keep the model's own name).
        std::string form = model;
        std::replace(form.begin(), form.end(), '-', '_');
        const std::string point = fmt::format("{}/batch:{}/impl:{}", form, batch, ip->label);
        const std::string base = "net/" + point;
        benchmark::RegisterBenchmark(base.c_str(),
                                     [model, batch, ip, base](benchmark::State& st) {
                                       st.SetLabel(model);
                                       run_forward(st, model, batch, *ip, base);
                                     })
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond)
            ->MinTime(kMinSecondsPerRepetition)
            ->Repetitions(ctx.options.repetitions)
            ->ComputeStatistics("min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); })
            ->ComputeStatistics("max", [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); });
        const std::string layers = "layers/" + point;
        benchmark::RegisterBenchmark(layers.c_str(),
                                     [model, batch, ip](benchmark::State& st) {
                                       st.SetLabel(model);
                                       run_layers(st, model, batch, *ip);
                                     })
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond)
            ->Iterations(kStepLaunches)
            ->Repetitions(1);
      }
  }
  for (const auto& model : insitu_models(quick))
    for (const bool observed : {false, true}) {
      std::string form = model;
      std::replace(form.begin(), form.end(), '-', '_');
      const std::string name = fmt::format("insitu/{}/batch:{}/observer:{}", form, kInsituBatch,
                                           observed ? fmt::format("every{}", kObserveEvery) : std::string("none"));
      benchmark::RegisterBenchmark(name.c_str(),
                                   [model, observed](benchmark::State& st) {
                                     st.SetLabel(model);
                                     run_insitu(st, model, observed);
                                   })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond)
          ->MinTime(kMinSecondsPerRepetition * 3)
          ->Repetitions(ctx.options.repetitions)
          ->ComputeStatistics("min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); })
          ->ComputeStatistics("max", [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); });
    }
}

}  // namespace

Suite net_suite() {
  return {"net", "binarized networks end to end (models/): tensor-core and software-popcount designs, per-layer breakdown",
          default_net_metrics, register_net};
}

}  // namespace btc
