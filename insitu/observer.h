// The in situ observer: a net::LayerObserver that copies chosen layers'
// tensors of chosen images, every Nth forward, into a pinned host ring on a
// side stream, and a writer thread that hands them to a sink (the capture
// files of insitu/capture.h, or memory for tests). It never blocks the
// forward: a due forward that finds every ring slot taken is dropped and
// counted. The observed graph copies into one device staging buffer; the
// forward's stream then moves it into the slot's device buffer (about 10 us
// for ResNet-18's every layer of one image), so the next observed forward
// may reuse the staging at once, and the side stream copies the slot out.
#pragma once
#include <cuda_runtime.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "insitu/capture.h"
#include "net/model.h"
#include "net/observer.h"
#include "net/weights.h"

namespace btc::insitu {

struct ObserverOptions {
  std::vector<std::string> layers;  // empty: every layer
  std::vector<TensorKind> tensors = {TensorKind::kInput, TensorKind::kPre, TensorKind::kOutput,
                                     TensorKind::kWeights};
  std::vector<int> images = {0};  // batch indices
  int every = 1;                  // observe forwards 0, every, 2 every, ...
  int ring_slots = 4;
};

// Parses --insitu-layers / --insitu-tensors / --insitu-images values
// ("a,b,c"); throws CaptureError naming the bad item and what is allowed.
std::vector<std::string> parse_layer_list(const std::string& s, const net::Model& m);
std::vector<TensorKind> parse_tensor_list(const std::string& s);
std::vector<int> parse_image_list(const std::string& s, int batch);

// A layer as the manifest describes it, given the tensors captured of it:
// the folded threshold and flip of a bit layer whose `pre` is captured.
LayerInfo describe_layer(const net::Model& m, const net::Weights& w, int layer, const std::vector<TensorKind>& captured);
// Whether layer i has weights to capture, and their view (h = K, w = R*S or 1, c = C or in).
bool has_weights(const net::Weights& w, int layer);
TensorView weights_view(const net::Model& m, const net::Weights& w, int layer);

// Where the writer thread puts what it copied out. begin() once before the
// first step, finish() once after the last.
class StepSink {
 public:
  virtual ~StepSink() = default;
  virtual void begin(const std::vector<LayerInfo>& layers) = 0;
  virtual void weights(int layer, const TensorView& w) = 0;  // layer: index into begin()'s layers
  virtual void step(int step, int64_t batch_index, int layer, const std::vector<TensorView>& tensors) = 0;
  virtual void finish(const CaptureSummary& summary) = 0;
};

// The capture directory (insitu/capture.h's CaptureWriter, made at begin()).
std::unique_ptr<StepSink> files_sink(const std::string& dir, const CaptureConfig& config);

// The CPU path (btcbench run --cpu --insitu): the reference forward's
// tensors of the chosen layers and images as step 0 of batch 0.
struct CpuLayer {  // what net::ReferenceLayer holds, by pointer
  const std::vector<int32_t>* y = nullptr;
  const std::vector<int8_t>* act = nullptr;
  const std::vector<float>* half = nullptr;
  const std::vector<float>* logits = nullptr;
};
CaptureSummary capture_cpu(const net::Model& m, const net::Weights& w, const ObserverOptions& o,
                           const std::vector<CpuLayer>& layers, const std::vector<float>& images, int batch,
                           StepSink& sink);

class Observer final : public net::LayerObserver {
 public:
  // Checks the options against the model (unknown layer names, an empty
  // list, every < 1, ring_slots < 1) with CaptureError.
  Observer(const net::Model& m, const net::Weights& w, const ObserverOptions& o, StepSink& sink);
  ~Observer() override;  // finish() if not yet called; never throws
  Observer(const Observer&) = delete;
  Observer& operator=(const Observer&) = delete;

  std::vector<std::vector<net::TapKind>> plan(const std::vector<net::LayerTaps>& taps) override;
  std::vector<int> images() const override { return o_.images; }
  void record_layer(int layer, const net::LayerTaps& taps, cudaStream_t s) override;
  bool begin_batch(int64_t batch_index) override;
  void end_batch(int64_t batch_index, cudaStream_t s) override;

  // Waits for the copies in flight and the writer, then the sink's finish.
  // Rethrows the writer thread's first error. Idempotent.
  CaptureSummary finish();
  CaptureSummary summary() const;
  // Seconds the writer thread spent turning steps into files (a writer
  // slower than the cadence fills the ring and drops steps).
  double writer_seconds() const;
  // The layers observed and, per layer, the tensors captured, in the
  // manifest's words (after plan()).
  const std::vector<LayerInfo>& layer_infos() const { return infos_; }

 private:
  struct Piece {  // one (layer, tap, image) block in a ring slot
    int info = 0;  // index into infos_
    net::TapKind kind;
    net::Tap tap;
    int image = 0;  // position in o_.images
    int64_t offset = 0, bytes = 0;
  };
  struct Job {
    int slot = 0, step = 0;
    int64_t batch_index = 0;
  };
  void writer_loop();
  void write_job(const Job& j);

  const net::Model& m_;
  const net::Weights& w_;
  ObserverOptions o_;
  StepSink& sink_;
  std::vector<int> layer_of_info_;  // model layer per infos_ entry
  std::vector<int> info_of_layer_;  // -1: not observed
  std::vector<LayerInfo> infos_;
  std::vector<Piece> pieces_;
  int64_t slot_bytes_ = 0;
  unsigned char* staging_ = nullptr;   // device, what the observed graph writes
  unsigned char* slot_dev_ = nullptr;  // device, ring_slots x slot_bytes
  unsigned char* ring_ = nullptr;      // pinned host, ring_slots x slot_bytes
  cudaStream_t side_ = nullptr;
  cudaEvent_t forward_done_ = nullptr;
  std::vector<cudaEvent_t> slot_ready_;
  int reserved_slot_ = -1;  // begin_batch -> end_batch

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::vector<bool> slot_busy_;
  bool stopping_ = false, finished_ = false, planned_ = false;
  std::exception_ptr writer_error_;
  double writer_seconds_ = 0;
  CaptureSummary summary_;
  std::thread writer_;
};

}  // namespace btc::insitu
