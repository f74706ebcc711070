// The GPU runner: a model (net/model.h) with its weights, planned once for a
// batch: every activation, residual and workspace buffer allocated up front,
// each layer's design picked from the BMM / BConv registries, the weights
// packed and prepared, and the forward as a list of steps that a CUDA graph
// captures. It computes what net/reference.h computes, bit for bit.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "harness/core/code_target.h"
#include "net/model.h"
#include "net/observer.h"
#include "net/weights.h"

namespace btc::net {

// Which designs run the binary layers.
//   "auto": per layer, the design the generated configuration selects for
//           the code target (tensor cores);
//   a family (btc_wmma, mma_and, wgmma_and, popc, cudnn, cublas): that
//           family's design for every layer it runs, "auto" for the rest;
//   then, comma-separated, op=NAME items: bconv=NAME, bfc=NAME (those
//   designs), conv=conv_half|conv_cudnn (the real convs: CUDA cores in the
//   reference's order, or cuDNN; "auto" takes cuDNN where it loads),
//   conv=conv_tc (the convs on the image on stem_tc, net/stem_tc.cuh, with
//   BN, ReLU and max-pool fused; the other convs conv_half; "auto" takes it
//   for every conv on the image it runs),
//   fc=fc_half|fc_cublas (the real fc: likewise; "auto" takes cuBLAS).
//   E.g. "mma_and,conv=conv_half,fc=fc_half" (every layer exact).
struct RunnerOptions {
  int batch = 1;
  std::string designs = "auto";
  bool keep_outputs = false;  // keep every layer's y and bits for layer_y / layer_act (tests)
};

// One launch group of the forward, as the per-layer breakdown reports it.
struct Step {
  int layer = -1;            // model layer index; -1 for the input step
  std::string name;          // "conv1", "conv1/threshold", ...
  std::string design;        // design or kernel name
  double bytes_moved = 0;    // compulsory DRAM bytes: reads + writes, for the floor
  double ops = 0;            // 2 K per output, or the stem's 2 MACs
  std::function<void(cudaStream_t)> launch;
};

class Runner {
 public:
  Runner(const Model& m, const Weights& w, const RunnerOptions& o, const CodeTarget& code, cudaStream_t s);
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // images: batch x C x H x W fp32 (NCHW), copied to the device (not timed).
  void set_input(const std::vector<float>& images);
  void forward();              // every step, on the stream (no sync)
  // Fills every output the forward writes (each layer's y, bits and the
  // logits; not the zero padding a layer reads past its input) with a byte
  // pattern, so a test sees any element a step fails to write.
  void poison(unsigned char byte = 0xA5);
  // The forward as one CUDA graph; with an observer attached, also the
  // observed graph (the forward plus the observer's copies).
  void capture_graph();
  // One graph launch (capture_graph first): the observed graph where the
  // attached observer takes this forward (begin_batch), else the plain one.
  void replay();
  // Attaches an observer (net/observer.h) before capture_graph; it lives
  // past the runner's last forward. One observer per runner.
  void attach(LayerObserver* observer);
  int64_t forwards() const { return forwards_; }  // forward() + replay() calls
  void sync();
  std::vector<float> logits();  // batch x classes, after a forward

  // keep_outputs: layer i's y (batch x conv_out int32 NHWC; empty where the
  // layer writes bits straight from its fused epilogue) and its output
  // activations as +-1 (batch x out NHWC; empty for the logits layer).
  std::vector<int32_t> layer_y(int i);
  std::vector<int8_t> layer_act(int i);
  // A half-output layer's fp16 output (batch x out NHWC) as float; empty otherwise.
  std::vector<float> layer_half(int i);

  const std::vector<Step>& steps() const { return steps_; }
  // Per layer: the design it runs and how (for `btcbench run` and the results).
  const std::vector<std::string>& layer_designs() const { return layer_designs_; }
  // Layer i sums its real products in another order than the reference
  // (conv_cudnn, fc_cublas): its fp16 values are within
  // ReferenceLayer::half_bound (logits: logits_bound), not equal.
  bool layer_reordered(int i) const { return reordered_.at(static_cast<size_t>(i)); }
  int64_t device_bytes() const { return device_bytes_; }
  int batch() const { return o_.batch; }
  const Model& model() const { return m_; }

 private:
  struct Impl;
  const Model& m_;
  RunnerOptions o_;
  cudaStream_t s_;
  std::vector<Step> steps_;
  std::vector<std::string> layer_designs_;
  std::vector<bool> reordered_;
  int64_t device_bytes_ = 0;
  int64_t forwards_ = 0;
  LayerObserver* observer_ = nullptr;
  std::vector<Step> observed_steps_;  // steps_ plus the observer's, per layer
  std::unique_ptr<Impl> impl_;
  LayerTaps taps_of(int layer) const;
  void launch(const std::vector<Step>& steps);
  bool observe_this_forward();
};

}  // namespace btc::net
