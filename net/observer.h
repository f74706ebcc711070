// The runner's observer hook: what a layer's tensors are on the device, and
// the interface an observer implements to copy them while the network runs
// (insitu/observer.h is one). The runner does not know who listens; with no
// observer attached it launches the plain graph, so there is no cost.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

namespace btc::net {

enum class TapKind { kInput, kPre, kOutput };
constexpr int kTapKinds = 3;

// How a tap's bytes read, per image.
enum class TapFormat {
  kNone,        // not available (e.g. the pre-activation of a fused bfc)
  kBits,        // +-1 bits, h*w pixels of `kwords` 32-bit words (bit j of word kw: channel 32 kw + j, 1 = +1)
  kInt32,       // h*w*c int32, NHWC
  kHalf,        // h*w*c fp16, NHWC
  kFloat32,     // h*w*c fp32, NHWC
  kImageNchw,   // the input image: c*h*w fp32, NCHW
};

struct Tap {
  TapFormat format = TapFormat::kNone;
  const void* base = nullptr;  // image 0 (device)
  int64_t image_bytes = 0;     // bytes of one image's block; image i at base + i * image_bytes
  int h = 1, w = 1, c = 1;
  int kwords = 0;              // kBits
  // The blocks are the observer's images() in order (block k = images()[k])
  // instead of the batch: a pre-activation the runner made for the observer.
  bool per_observed_image = false;
};

// A layer's taps, indexed by TapKind.
struct LayerTaps {
  Tap tap[kTapKinds];
};

class LayerObserver {
 public:
  virtual ~LayerObserver() = default;
  // Once, at Runner::attach: every layer's taps. The observer picks what it
  // wants and allocates its buffers; it returns, per layer, the kinds it
  // will copy (the runner materializes a fused layer's pre-activation only
  // where asked, and only in the observed graph).
  virtual std::vector<std::vector<TapKind>> plan(const std::vector<LayerTaps>& taps) = 0;
  // The batch indices it copies (each below the runner's batch).
  virtual std::vector<int> images() const = 0;
  // While the runner captures the observed graph, after layer `layer`'s
  // steps, on the forward's stream: enqueue this layer's copies (stream-
  // ordered: graph nodes). `taps` may differ from plan()'s for a pre-
  // activation the runner made for the observer (one image per block).
  virtual void record_layer(int layer, const LayerTaps& taps, cudaStream_t s) = 0;
  // Per forward, before it launches: whether this one is observed. Must not
  // block; an observer that cannot take a step drops it (and counts it).
  virtual bool begin_batch(int64_t batch_index) = 0;
  // After the observed graph is launched, on the forward's stream.
  virtual void end_batch(int64_t batch_index, cudaStream_t s) = 0;
};

}  // namespace btc::net
