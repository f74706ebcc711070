#include "harness/suites/bconv_suite.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/core/bench_util.h"
#include "harness/core/check.h"
#include "harness/core/metrics.h"
#include "harness/suites/bmm_suite.h"
#include "kernels/bconv/bconv.h"
#include "kernels/bmm/bmm_data.h"

namespace btc {
namespace {

using bconv::Design;
using bconv::Epilogue;
using bconv::Problem;

constexpr int kTimedLaunches = 5;
// The timed launches rotate through copies of a point's buffers
// (rotation_copies, harness/core/bench_util.h).
// Points of at most this many ops also get CUDA-graph replay timing: a
// tensor-core launch of 20 G ops takes tens of microseconds, where the gap
// between two event-timed launches is a visible share of the time.
constexpr double kGraphMaxOps = 2e10;
constexpr uint64_t kSeedX = 1, kSeedW = 2, kSeedThreshold = 3, kSeedAffine = 4;

// Sweep groups, as each point's label names them (comma-separated).
constexpr const char* kGroupResnet18 = "resnet18";
constexpr const char* kGroupInputSize = "paper_input_size";
constexpr const char* kGroupFilter = "paper_filter";
constexpr const char* kGroupBatch = "paper_batch";
constexpr const char* kGroupChannels = "paper_channels";

const char* out_name(Epilogue e) {
  return e == Epilogue::kInt32 ? "int32" : e == Epilogue::kHalf ? "half" : "bits";
}
// The outputs a design is timed with on a problem: int32 and the fused bits
// for every design; the fused Bi-Real output (BN + fp16 shortcut, kHalf)
// where the design writes it and K is whole 32-bit words.
std::vector<Epilogue> outputs_of(const Design& d, const Problem& p) {
  std::vector<Epilogue> e = {Epilogue::kInt32, Epilogue::kBits};
  if (d.writes_half() && p.k % 32 == 0) e.push_back(Epilogue::kHalf);
  return e;
}

// n x hw x hw x c input, k filters of rs x rs, zero padding rs/2 (the output
// keeps the input's size at stride 1 for odd rs).
Problem layer(int n, int hw, int c, int k, int rs, int stride) {
  Problem p;
  p.n = n;
  p.h = p.w = hw;
  p.c = c;
  p.k = k;
  p.r = p.s = rs;
  p.stride = stride;
  p.pad = rs / 2;
  p.pad_value = bconv::PadValue::kZero;
  if (const std::string why = bconv::check_problem(p); !why.empty())
    throw std::invalid_argument("bconv sweep: " + why);
  return p;
}

// The point's part of a benchmark name; the sweep's problems are square (h = w, r = s).
std::string config_of(const Problem& p) {
  return fmt::format("n:{}/hw:{}/c:{}/k:{}/rs:{}/stride:{}", p.n, p.h, p.c, p.k, p.r, p.stride);
}

struct SweepPoint {
  Problem problem;
  std::vector<std::string> groups;  // every sweep that has this problem, in sweep order
};

// Points in first-added order; a problem that two sweeps share runs once, with both groups.
class PointList {
 public:
  void add(const Problem& p, const char* group) {
    const std::string key = config_of(p);
    for (SweepPoint& pt : points_) {
      if (config_of(pt.problem) != key) continue;
      if (std::find(pt.groups.begin(), pt.groups.end(), group) == pt.groups.end()) pt.groups.push_back(group);
      return;
    }
    points_.push_back({p, {group}});
  }
  const std::vector<SweepPoint>& points() const { return points_; }

 private:
  std::vector<SweepPoint> points_;
};

struct LayerShape {
  int hw, c, k, rs, stride;
};
// ResNet-18's binary convolutions after the 56x56 stem: the 3x3 stride-1
// layers of the four stages, the stage entries (3x3 stride 2) and the 1x1
// stride-2 downsamples of the shortcuts.
constexpr LayerShape kResnet18Layers[] = {
    {56, 64, 64, 3, 1},   {28, 128, 128, 3, 1}, {14, 256, 256, 3, 1}, {7, 512, 512, 3, 1},
    {56, 64, 128, 3, 2},  {28, 128, 256, 3, 2}, {14, 256, 512, 3, 2},
    {56, 64, 128, 1, 2},  {28, 128, 256, 1, 2}, {14, 256, 512, 1, 2},
};
constexpr int kResnet18Batches[] = {1, 16, 64, 256};
// The TCBNN paper's BConv sweeps (its run_conv.py; /work/shared/notes/tcbnn-sbnn-facts.md)
// around one layer: 64 x 64 input, 3x3, C = K = 128, batch 16.
constexpr int kPaperHw = 64, kPaperChannels = 128, kPaperRs = 3, kPaperBatch = 16;

std::vector<SweepPoint> sweep_points(bool quick) {
  PointList list;
  auto resnet = [&](const LayerShape& l, int n) { list.add(layer(n, l.hw, l.c, l.k, l.rs, l.stride), kGroupResnet18); };
  if (quick) {
    for (int i = 0; i < 4; ++i)
      for (int n : {16, 256}) resnet(kResnet18Layers[i], n);
    resnet(kResnet18Layers[4], 256);  // a stride-2 stage entry
    resnet(kResnet18Layers[7], 256);  // a 1x1 downsample
    return list.points();
  }
  for (const LayerShape& l : kResnet18Layers)
    for (int n : kResnet18Batches) resnet(l, n);
  for (int hw = 32; hw <= 256; hw += 32)  // the paper's points: 32 to 256 in steps of 32
    list.add(layer(kPaperBatch, hw, kPaperChannels, kPaperChannels, kPaperRs, 1), kGroupInputSize);
  for (int rs : {3, 5, 7, 9, 11})
    list.add(layer(kPaperBatch, kPaperHw, kPaperChannels, kPaperChannels, rs, 1), kGroupFilter);
  for (int n = 8; n <= 512; n *= 2)
    list.add(layer(n, kPaperHw, kPaperChannels, kPaperChannels, kPaperRs, 1), kGroupBatch);
  for (int c = 128; c <= 2048; c *= 2) list.add(layer(kPaperBatch, kPaperHw, c, c, kPaperRs, 1), kGroupChannels);
  return list.points();
}

// Where one copy ("slot") of a point's buffers lies. Inputs (activations,
// weights, the design's workspace, which prepare() fills from them) sit in
// one arena and outputs in another, so the int32 and bits runs of a problem
// share the prepared inputs. A kHalf slot holds y (fp16), the shortcut it
// reads (fp16, rotated with y) and the bits.
struct SlotLayout {
  size_t x_bytes = 0, w_bytes = 0, ws_bytes = 0;  // as the layer has them (bytes_moved counts x and w)
  size_t w_offset = 0, ws_offset = 0, in_slot = 0;
  size_t int32_out = 0, bits_out = 0, half_bytes = 0;  // half_bytes: y, and the shortcut apart

  SlotLayout(const Design& d, const Problem& p)
      : x_bytes(static_cast<size_t>(bconv::activation_shape(p).bytes())),
        w_bytes(static_cast<size_t>(bconv::weight_shape(p).bytes())),
        ws_bytes(d.workspace_bytes(p)),
        int32_out(static_cast<size_t>(p.out_pixels()) * p.k * sizeof(int32_t)),
        bits_out(static_cast<size_t>(bconv::output_bits_shape(p).bytes())),
        half_bytes(static_cast<size_t>(p.out_pixels()) * p.k * 2) {
    w_offset = align_up(x_bytes);
    ws_offset = w_offset + align_up(w_bytes);
    in_slot = ws_offset + align_up(ws_bytes);
  }
  // What a run moves past its inputs: kHalf writes y and the bits and reads the shortcut.
  size_t out_bytes(Epilogue e) const {
    return e == Epilogue::kInt32 ? int32_out : e == Epilogue::kHalf ? 2 * half_bytes + bits_out : bits_out;
  }
  size_t out_slot(Epilogue e) const {
    return e == Epilogue::kHalf ? 2 * align_up(half_bytes) + align_up(bits_out) : align_up(out_bytes(e));
  }
};

struct BconvState {
  SuiteContext* ctx = nullptr;
  CounterCache counters;
  DeviceArena inputs, outputs, threshold, flip, affine;
  std::string prepared;  // "<design>/<config>" whose inputs the slots hold, prepared
  int prepared_copies = 0;
  std::string thresholds_for;  // the config whose thresholds the device holds
  std::string affine_for;      // the config whose kHalf scale and shift the device holds
  bool dram_measured = false;
  double dram_bytes_per_s = 0;  // 0: not measured, no floors
  // The ring of slots continues across a benchmark's repetitions, so no slot
  // comes back before the whole ring has run.
  SlotRotation rotation;

  // Once per sweep, before the first point: the floors' bandwidth, into btcbench.peaks.
  void measure_dram() {
    if (dram_measured) return;
    dram_measured = true;
    dram_bytes_per_s = record_dram_copy_bandwidth(ctx->peaks);
  }

  bconv::Operands operands(const SlotLayout& l, int slot) const {
    const char* base = inputs.at(static_cast<size_t>(slot) * l.in_slot);
    return {reinterpret_cast<const uint32_t*>(base), reinterpret_cast<const uint32_t*>(base + l.w_offset)};
  }
  void* workspace(const SlotLayout& l, int slot) const {
    return l.ws_bytes ? inputs.at(static_cast<size_t>(slot) * l.in_slot + l.ws_offset) : nullptr;
  }
  bconv::Output output(const SlotLayout& l, const Problem& p, Epilogue e, int slot) const {
    char* base = outputs.at(static_cast<size_t>(slot) * l.out_slot(e));
    bconv::Output o;
    o.epilogue = e;
    if (e == Epilogue::kInt32) {
      o.c = reinterpret_cast<int32_t*>(base);
    } else if (e == Epilogue::kHalf) {
      o.half = reinterpret_cast<uint16_t*>(base);
      o.shortcut = reinterpret_cast<const uint16_t*>(base + align_up(l.half_bytes));
      o.bits = reinterpret_cast<uint32_t*>(base + 2 * align_up(l.half_bytes));
      o.bits_shape = bconv::output_bits_shape(p);
      o.scale = reinterpret_cast<const float*>(affine.at(0));
      o.shift = reinterpret_cast<const float*>(affine.at(static_cast<size_t>(p.k) * sizeof(float)));
    } else {
      o.bits = reinterpret_cast<uint32_t*>(base);
      o.bits_shape = bconv::output_bits_shape(p);
      o.threshold = reinterpret_cast<const int32_t*>(threshold.at(0));
      o.flip = reinterpret_cast<const uint32_t*>(flip.at(0));
    }
    return o;
  }

  // Random operands in `copies` input slots, each prepared (untimed); kept
  // while the next benchmark is the same design and problem.
  std::string prepare_inputs(const Design& d, const Problem& p, const SlotLayout& l, int copies) {
    const std::string key = d.name() + "/" + config_of(p);
    if (key == prepared && copies <= prepared_copies) return "";
    prepared.clear();
    if (!inputs.reserve(static_cast<size_t>(copies) * l.in_slot))
      return fmt::format("out of device memory for {} x {} B of inputs and workspace", copies, l.in_slot);
    {
      const bmm::DeviceBits x(bconv::activation_shape(p), kSeedX), w(bconv::weight_shape(p), kSeedW);
      for (int i = 0; i < copies; ++i) {
        const bconv::Operands in = operands(l, i);
        BTC_CUDA_CHECK(cudaMemcpyAsync(const_cast<uint32_t*>(in.x), x.words(), l.x_bytes, cudaMemcpyDeviceToDevice));
        BTC_CUDA_CHECK(cudaMemcpyAsync(const_cast<uint32_t*>(in.w), w.words(), l.w_bytes, cudaMemcpyDeviceToDevice));
      }
      BTC_CUDA_CHECK(cudaDeviceSynchronize());
    }
    for (int i = 0; i < copies; ++i) d.prepare(p, operands(l, i), workspace(l, i), nullptr);
    BTC_CUDA_CHECK(cudaDeviceSynchronize());
    prepared = key;
    prepared_copies = copies;
    return "";
  }

  // Thresholds uniform in [-RSC/4, RSC/4] (RSC: the dot product's length),
  // a quarter of the channels flipped (negative batch-norm scale).
  void set_thresholds(const Problem& p) {
    const std::string key = config_of(p);
    if (key == thresholds_for) return;
    std::mt19937_64 rng(kSeedThreshold);
    const int span = static_cast<int>(p.dot_bits() / 4);
    std::uniform_int_distribution<int> value(-span, span);
    std::bernoulli_distribution flipped(0.25);
    std::vector<int32_t> t(static_cast<size_t>(p.k));
    std::vector<uint32_t> f(static_cast<size_t>(p.k + 31) / 32, 0u);
    for (int j = 0; j < p.k; ++j) {
      t[static_cast<size_t>(j)] = value(rng);
      if (flipped(rng)) f[static_cast<size_t>(j / 32)] |= 1u << (j % 32);
    }
    if (!threshold.reserve(t.size() * sizeof(int32_t)) || !flip.reserve(f.size() * sizeof(uint32_t)))
      throw CudaError("bconv sweep: out of device memory for " + std::to_string(p.k) + " thresholds");
    BTC_CUDA_CHECK(cudaMemcpy(threshold.at(0), t.data(), t.size() * sizeof(int32_t), cudaMemcpyHostToDevice));
    BTC_CUDA_CHECK(cudaMemcpy(flip.at(0), f.data(), f.size() * sizeof(uint32_t), cudaMemcpyHostToDevice));
    thresholds_for = key;
  }

  // kHalf: a folded batch norm of either sign per channel (scale of the
  // order of 1 / RSC, shift of the order of 1), K scales then K shifts.
  void set_affine(const Problem& p) {
    const std::string key = config_of(p);
    if (key == affine_for) return;
    std::mt19937_64 rng(kSeedAffine);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> a(2 * static_cast<size_t>(p.k));
    for (int j = 0; j < p.k; ++j) {
      a[static_cast<size_t>(j)] = u(rng) * 4.0f / static_cast<float>(p.dot_bits());
      a[static_cast<size_t>(p.k + j)] = u(rng);
    }
    if (!affine.reserve(a.size() * sizeof(float)))
      throw CudaError("bconv sweep: out of device memory for " + std::to_string(p.k) + " scales and shifts");
    BTC_CUDA_CHECK(cudaMemcpy(affine.at(0), a.data(), a.size() * sizeof(float), cudaMemcpyHostToDevice));
    affine_for = key;
  }
};
BconvState& state() {
  static BconvState s;
  return s;
}

void run_point(benchmark::State& st, const Design& d, const Problem& p, Epilogue e, const std::string& name,
               const std::string& config) {
  BconvState& s = state();
  s.measure_dram();
  const SlotLayout l(d, p);
  const long long l2 = s.ctx->device.l2_bytes;
  const int copies = rotation_copies(l.in_slot + l.out_slot(e), l2);
  // The bits run, with the smaller output, rotates through more copies: prepare those for both.
  const int in_copies = std::max(rotation_copies(l.in_slot + l.out_slot(Epilogue::kBits), l2),
                                 rotation_copies(l.in_slot + l.out_slot(Epilogue::kInt32), l2));
  if (std::string why = s.prepare_inputs(d, p, l, in_copies); !why.empty()) {
    st.SkipWithError(why.c_str());
    return;
  }
  if (!s.outputs.reserve(static_cast<size_t>(copies) * l.out_slot(e))) {
    st.SkipWithError(fmt::format("out of device memory for {} x {} B of output", copies, l.out_slot(e)).c_str());
    return;
  }
  if (e == Epilogue::kBits) s.set_thresholds(p);
  if (e == Epilogue::kHalf) {
    s.set_affine(p);
    // The shortcuts the slots read: zeros (+0.0 fp16), set untimed; the values do not change the work.
    BTC_CUDA_CHECK(cudaMemset(s.outputs.at(0), 0, static_cast<size_t>(copies) * l.out_slot(e)));
  }

  auto run_slot = [&](int slot, cudaStream_t stream) {
    d.run(p, s.operands(l, slot), s.output(l, p, e, slot), s.workspace(l, slot), stream);
  };
  const RotatedTiming t =
      time_rotated_launches(st, s.rotation, name, copies, run_slot, p.ops(), kGraphMaxOps, s.ctx->profiler != nullptr,
                            [&](const std::string& why) { s.ctx->skip(d.name(), why, config + "/graph"); });
  const double sec = t.seconds_per_launch;

  const double bytes_moved = static_cast<double>(l.x_bytes + l.w_bytes + l.out_bytes(e));
  st.counters["tops"] = p.ops() / sec / 1e12;
  st.counters["bytes_moved"] = bytes_moved;
  if (s.dram_bytes_per_s > 0) {
    const double floor_s = bytes_moved / s.dram_bytes_per_s;
    st.counters["floor_us"] = floor_s * 1e6;
    st.counters["time_over_floor"] = sec / floor_s;
  }
  const int counter_slot = t.last_slot;
  s.counters.attach(st, s.ctx->profiler, name, [&] { run_slot(counter_slot, nullptr); });
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : ",") + part;
  return out;
}

void register_bconv(SuiteContext& ctx) {
  state().ctx = &ctx;
  const std::vector<SweepPoint> points = sweep_points(ctx.options.quick);
  for (const auto& d : bconv::designs()) {
    json::Value f = json::Value::object();
    f.set("family", d->family());
    f.set("tensor_core", d->tensor_core());
    const std::string why = d->skip_reason(ctx.code);
    f.set("status", why.empty() ? "measured" : "skipped");
    if (why.empty()) {
      f.set("arch", d->config_arch());
      f.set("config", d->config() ? bmm_config_json(*d->config()) : json::Value());
    }
    ctx.forms.set(d->name(), std::move(f));
    if (!why.empty()) {
      ctx.skip(d->name(), why);
      continue;
    }
    for (const SweepPoint& pt : points) {
      const Problem p = pt.problem;
      const std::string unsupported = d->unsupported(p);
      const std::string groups = join(pt.groups);
      for (Epilogue e : outputs_of(*d, p)) {
        const std::string config = fmt::format("{}/out:{}", config_of(p), out_name(e));
        if (!unsupported.empty()) {
          ctx.skip(d->name(), unsupported, config);
          continue;
        }
        const std::string name = fmt::format("bconv/{}/{}", d->name(), config);
        const Design* dp = d.get();
        auto bench = [dp, p, e, name, config, groups](benchmark::State& st) {
          st.SetLabel(groups);  // the analysis groups the points by it
          try {
            run_point(st, *dp, p, e, name, config);
          } catch (const std::invalid_argument& ex) {  // the design refused the problem after all
            st.SkipWithError(ex.what());
          }
        };
        configure_manual_time(benchmark::RegisterBenchmark(name.c_str(), bench), ctx.options.repetitions,
                              kTimedLaunches);
      }
    }
  }
}

}  // namespace

Suite bconv_suite() {
  return {"bconv", "production BConv designs and baselines over ResNet-18 layers and the TCBNN paper's sweeps",
          default_bconv_metrics, register_bconv};
}

}  // namespace btc
