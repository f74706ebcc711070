// In situ capture files: what the observer's writer thread turns captured
// layer tensors into (docs/insitu.md is the contract with
// analysis/insitu_view.py). Pure C++ (no CUDA): CI tests the files against
// the vtk Python package.
//
// A capture directory:
//   capture.json                    the manifest, written last (atomically)
//   <layer>/<tensor>_<step6>.vti    VTK XML ImageData: x = W, y = H, z = C,
//                                   one point-data array per captured image
//                                   ("img<batch index>"), base64 binary
//   <layer>/<tensor>.pvd            that tensor's steps as a time series
//   <layer>/weights.vti             the layer's weights, once
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace btc::insitu {

struct CaptureError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What an observer may capture of a layer.
//   input:   the bits the layer reads (+-1), or the half/float tensor for a
//            real-valued layer
//   pre:     the value its sign compares: int32 y (z plus any residual), or
//            int32 z of a half-output bconv
//   output:  its output (+-1 bits as int8, or half values as float32, or logits)
//   weights: +-1 (int8) or real (float32), K x (R*S) x C as z x y x x
enum class TensorKind { kInput, kPre, kOutput, kWeights };
const char* tensor_name(TensorKind k);  // "input", "pre", "output", "weights"
// false for anything else (the caller says what is allowed)
bool parse_tensor_kind(const std::string& s, TensorKind* out);

enum class Dtype { kInt8, kInt32, kFloat32 };
int dtype_bytes(Dtype d);

// One captured tensor on the host: `images` consecutive blocks of h x w x c
// (NHWC, the runner's order; the writer transposes each to the .vti's
// x = W, y = H, z = C). Weights: one block of K x (R*S) x C (KRSC; an fc:
// K x 1 x in) with h = K, w = R*S, c = C, written untransposed as
// x = C, y = R*S, z = K.
struct TensorView {
  TensorKind kind = TensorKind::kOutput;
  Dtype dtype = Dtype::kInt8;
  int h = 1, w = 1, c = 1;
  int images = 1;
  const void* data = nullptr;  // images * h * w * c elements of dtype
};

// A layer as the manifest describes it.
struct LayerInfo {
  std::string name, op;  // op: net::op_name
  // Per output channel: the threshold on `pre` that the sign compares
  // against (bit layers: the folded integer threshold; half layers: 0), and
  // whether the comparison is flipped. Empty where the layer has no `pre`.
  std::vector<double> threshold;
  std::vector<uint8_t> flip;
  std::vector<TensorKind> tensors;  // what is captured of it
};

struct CaptureConfig {
  std::string model, command;  // command: the command line, for the manifest
  int batch = 1;               // the batch size
  int every = 1;               // capture every Nth batch
  std::vector<int> images;     // batch indices captured
};

// Per-channel statistics of one layer at one step, over the captured images
// and pixels. Vectors are empty where the tensor they need was not captured.
struct ChannelStats {
  std::vector<double> frac_plus;    // of `output`: fraction of +1 (real outputs: fraction >= 0)
  std::vector<double> pre_mean;     // of `pre`
  std::vector<double> pre_std;      // of `pre`, population (divide by count)
  std::vector<double> margin_mean;  // mean |pre - threshold|
};
// pre / output may be null. Throws CaptureError on shape disagreement.
ChannelStats channel_stats(const TensorView* pre, const TensorView* output, const std::vector<double>& threshold);

// What the observer counts, for the manifest and the run's summary.
struct CaptureSummary {
  int64_t batches = 0;          // forwards run while attached
  int64_t due = 0;              // batches the cadence selected
  int64_t captured = 0;         // written
  int64_t dropped = 0;          // due but skipped: the ring was full
  int ring_slots = 0;
  int64_t ring_slot_bytes = 0;
  int64_t bytes_written = 0;    // files, as the writer counted them
};

// Writes one capture directory. Not thread-safe: one writer thread owns it.
class CaptureWriter {
 public:
  // Creates `dir` (and parents); refuses (CaptureError) a path that is a
  // file or a directory that is not empty, so no earlier capture is lost.
  CaptureWriter(const std::string& dir, const CaptureConfig& config, const std::vector<LayerInfo>& layers);
  ~CaptureWriter();
  CaptureWriter(const CaptureWriter&) = delete;
  CaptureWriter& operator=(const CaptureWriter&) = delete;

  // Layer `layer` (index into `layers`) at capture step `step` (0, 1, ...)
  // of forward number `batch_index`: one .vti per tensor, and the step's
  // statistics kept for the manifest.
  void write_step(int step, int64_t batch_index, int layer, const std::vector<TensorView>& tensors);
  void write_weights(int layer, const TensorView& weights);
  // The .pvd collections and capture.json (with the statistics and the
  // summary). Nothing is complete before this.
  void finish(const CaptureSummary& summary);
  int64_t bytes_written() const;

 private:
  struct Impl;
  Impl* impl_;
};

// Writes one VTK XML ImageData file: extent (w, h, c) as (x, y, z), one
// point-data array per entry of `arrays`, each w*h*c values of `dtype` in
// VTK's x-fastest order (value (x, y, z) at x + w * (y + h * z): planar CHW
// for an image). Returns the bytes written. Used by CaptureWriter; exposed
// for tests.
struct VtiArray {
  std::string name;
  Dtype dtype;
  const void* data;
};
int64_t write_vti(const std::string& path, int w, int h, int c, const std::vector<VtiArray>& arrays);
// A .pvd collection: (timestep, relative file) pairs.
int64_t write_pvd(const std::string& path, const std::vector<std::pair<double, std::string>>& steps);

}  // namespace btc::insitu
