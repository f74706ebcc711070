#include "insitu/observer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <sstream>

#include "harness/core/check.h"
#include "net/weights.h"

namespace btc::insitu {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  if (!s.empty() && s.back() == ',') out.push_back("");
  return out;
}

constexpr int64_t kPieceAlign = 256;  // cudaMemcpy D2D at full speed, and every view aligned

TensorKind tensor_of(net::TapKind k) {
  switch (k) {
    case net::TapKind::kInput: return TensorKind::kInput;
    case net::TapKind::kPre: return TensorKind::kPre;
    case net::TapKind::kOutput: return TensorKind::kOutput;
  }
  return TensorKind::kOutput;
}

bool has(const std::vector<TensorKind>& v, TensorKind k) { return std::find(v.begin(), v.end(), k) != v.end(); }

// A tap's bytes of one image as the manifest's tensor: bits -> +-1 int8,
// half -> float, the NCHW image -> NHWC float; int32 and float as they are.
struct Converted {
  Dtype dtype = Dtype::kInt8;
  std::vector<unsigned char> bytes;
};
Converted convert(const net::Tap& t, const unsigned char* src) {
  Converted c;
  const int64_t n = int64_t(t.h) * t.w * t.c;
  switch (t.format) {
    case net::TapFormat::kBits: {
      c.dtype = Dtype::kInt8;
      c.bytes.resize(n);
      const uint32_t* words = reinterpret_cast<const uint32_t*>(src);
      for (int64_t px = 0; px < int64_t(t.h) * t.w; ++px)
        for (int ch = 0; ch < t.c; ++ch) {
          const uint32_t word = words[px * t.kwords + ch / 32];
          c.bytes[px * t.c + ch] = static_cast<unsigned char>(((word >> (ch % 32)) & 1u) ? int8_t{1} : int8_t{-1});
        }
      break;
    }
    case net::TapFormat::kInt32:
    case net::TapFormat::kFloat32:
      c.dtype = t.format == net::TapFormat::kInt32 ? Dtype::kInt32 : Dtype::kFloat32;
      c.bytes.assign(src, src + n * 4);
      break;
    case net::TapFormat::kHalf: {
      c.dtype = Dtype::kFloat32;
      c.bytes.resize(n * 4);
      float* out = reinterpret_cast<float*>(c.bytes.data());
      for (int64_t e = 0; e < n; ++e) {
        uint16_t h;
        std::memcpy(&h, src + e * 2, 2);
        out[e] = net::half_bits_to_float(h);
      }
      break;
    }
    case net::TapFormat::kImageNchw: {
      c.dtype = Dtype::kFloat32;
      c.bytes.resize(n * 4);
      const float* in = reinterpret_cast<const float*>(src);
      float* out = reinterpret_cast<float*>(c.bytes.data());
      for (int ch = 0; ch < t.c; ++ch)
        for (int y = 0; y < t.h; ++y)
          for (int x = 0; x < t.w; ++x) out[(int64_t(y) * t.w + x) * t.c + ch] = in[(int64_t(ch) * t.h + y) * t.w + x];
      break;
    }
    case net::TapFormat::kNone: break;
  }
  return c;
}

class FilesSink final : public StepSink {
 public:
  FilesSink(std::string dir, CaptureConfig config) : dir_(std::move(dir)), config_(std::move(config)) {}
  void begin(const std::vector<LayerInfo>& layers) override {
    writer_ = std::make_unique<CaptureWriter>(dir_, config_, layers);
  }
  void weights(int layer, const TensorView& w) override { writer_->write_weights(layer, w); }
  void step(int step, int64_t batch_index, int layer, const std::vector<TensorView>& tensors) override {
    writer_->write_step(step, batch_index, layer, tensors);
  }
  void finish(const CaptureSummary& summary) override {
    CaptureSummary s = summary;
    s.bytes_written = writer_->bytes_written();
    writer_->finish(s);
  }

 private:
  std::string dir_;
  CaptureConfig config_;
  std::unique_ptr<CaptureWriter> writer_;
};

}  // namespace

std::vector<std::string> parse_layer_list(const std::string& s, const net::Model& m) {
  if (s.empty() || s == "all") return {};
  std::vector<std::string> out;
  for (const std::string& name : split_list(s)) {
    if (m.find(name) == nullptr) {
      std::string known;
      for (const net::Layer& l : m.layers) known += (known.empty() ? "" : ", ") + l.name;
      throw CaptureError("--insitu-layers: model " + m.name + " has no layer '" + name + "' (it has: " + known + ")");
    }
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

std::vector<TensorKind> parse_tensor_list(const std::string& s) {
  std::vector<TensorKind> out;
  for (const std::string& item : split_list(s)) {
    TensorKind k;
    if (!parse_tensor_kind(item, &k))
      throw CaptureError("--insitu-tensors: unknown tensor '" + item + "' (input, pre, output, weights)");
    if (!has(out, k)) out.push_back(k);
  }
  if (out.empty()) throw CaptureError("--insitu-tensors: empty list (input, pre, output, weights)");
  return out;
}

std::vector<int> parse_image_list(const std::string& s, int batch) {
  std::vector<int> out;
  for (const std::string& item : split_list(s)) {
    size_t used = 0;
    long v = -1;
    try {
      v = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || v < 0)
      throw CaptureError("--insitu-images: '" + item + "' is not an image index (0, 1, ...)");
    if (v >= batch)
      throw CaptureError("--insitu-images: image " + item + " is outside the batch of " + std::to_string(batch));
    if (std::find(out.begin(), out.end(), int(v)) == out.end()) out.push_back(int(v));
  }
  if (out.empty()) throw CaptureError("--insitu-images: empty list");
  return out;
}

LayerInfo describe_layer(const net::Model& m, const net::Weights& w, int i, const std::vector<TensorKind>& captured) {
  const net::Layer& l = m.layers[i];
  LayerInfo li;
  li.name = l.name;
  li.op = net::op_name(l.op);
  li.tensors = captured;
  // The threshold the sign compares `pre` with: the folded batch norm of a
  // bit layer. A half layer's sign is of its output, not of z.
  const bool bit_layer = !l.half_out && !l.float_out && l.op != net::Op::kConv && l.op != net::Op::kFc;
  if (has(captured, TensorKind::kPre) && bit_layer) {
    const net::FoldedLayer f = net::fold_layer(m, w, i);
    li.threshold.assign(f.threshold.begin(), f.threshold.end());
    li.flip = f.flip;
  }
  return li;
}

bool has_weights(const net::Weights& w, int i) { return !w.layers.at(i).w.empty() || !w.layers.at(i).wf.empty(); }

TensorView weights_view(const net::Model& m, const net::Weights& w, int i) {
  const net::Layer& l = m.layers[i];
  const net::LayerWeights& lw = w.layers[i];
  TensorView v;
  v.kind = TensorKind::kWeights;
  v.images = 1;
  v.h = l.out;
  const int64_t per_out = int64_t(lw.w.empty() ? lw.wf.size() : lw.w.size()) / l.out;
  v.w = l.op == net::Op::kBfc || l.op == net::Op::kFc ? 1 : l.kernel * l.kernel;
  v.c = int(per_out / v.w);
  v.dtype = lw.w.empty() ? Dtype::kFloat32 : Dtype::kInt8;
  v.data = lw.w.empty() ? static_cast<const void*>(lw.wf.data()) : static_cast<const void*>(lw.w.data());
  return v;
}

CaptureSummary capture_cpu(const net::Model& m, const net::Weights& w, const ObserverOptions& o,
                           const std::vector<CpuLayer>& layers, const std::vector<float>& images, int batch,
                           StepSink& sink) {
  for (int b : o.images)
    if (b < 0 || b >= batch) throw CaptureError("image " + std::to_string(b) + " is outside the batch of " + std::to_string(batch));
  // Per layer, the captured tensors: host copies of the chosen images' blocks.
  struct Held {
    TensorKind kind;
    Dtype dtype;
    net::Shape shape;
    std::vector<unsigned char> bytes;
  };
  std::vector<LayerInfo> infos;
  std::vector<std::vector<Held>> held;
  std::vector<int> layer_of;
  auto blocks = [&](const void* data, size_t elem_bytes, int64_t per_image) {
    std::vector<unsigned char> out;
    for (int b : o.images) {
      const unsigned char* src = static_cast<const unsigned char*>(data) + size_t(b) * per_image * elem_bytes;
      out.insert(out.end(), src, src + per_image * elem_bytes);
    }
    return out;
  };
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const net::Layer& l = m.layers[i];
    if (!o.layers.empty() && std::find(o.layers.begin(), o.layers.end(), l.name) == o.layers.end()) continue;
    const net::LayerShapes& sh = m.shapes[i];
    std::vector<Held> h;
    if (has(o.tensors, TensorKind::kInput)) {
      if (l.input == "input") {
        std::vector<float> nhwc(size_t(batch) * m.input.elements());
        const net::Shape& s = m.input;
        for (int n = 0; n < batch; ++n)
          for (int c = 0; c < s.c; ++c)
            for (int y = 0; y < s.h; ++y)
              for (int x = 0; x < s.w; ++x)
                nhwc[((size_t(n) * s.h + y) * s.w + x) * s.c + c] = images[((size_t(n) * s.c + c) * s.h + y) * s.w + x];
        h.push_back({TensorKind::kInput, Dtype::kFloat32, s, blocks(nhwc.data(), 4, s.elements())});
      } else {
        const int j = m.index_of(l.input);
        const net::Shape& s = m.shapes[j].out;
        // A real layer reads its source's fp16 values (as the GPU observer's
        // taps), a binary layer its bits.
        const bool real = l.op == net::Op::kConv || l.op == net::Op::kFc;
        if (real && layers[j].half && !layers[j].half->empty())
          h.push_back({TensorKind::kInput, Dtype::kFloat32, s, blocks(layers[j].half->data(), 4, s.elements())});
        else
          h.push_back({TensorKind::kInput, Dtype::kInt8, s, blocks(layers[j].act->data(), 1, s.elements())});
      }
    }
    if (has(o.tensors, TensorKind::kPre) && layers[i].y && !layers[i].y->empty())
      h.push_back({TensorKind::kPre, Dtype::kInt32, sh.conv_out, blocks(layers[i].y->data(), 4, sh.conv_out.elements())});
    if (has(o.tensors, TensorKind::kOutput)) {
      if (layers[i].logits && !layers[i].logits->empty())
        h.push_back({TensorKind::kOutput, Dtype::kFloat32, net::Shape{1, 1, m.classes},
                     blocks(layers[i].logits->data(), 4, m.classes)});
      else if (layers[i].half && !layers[i].half->empty())
        h.push_back({TensorKind::kOutput, Dtype::kFloat32, sh.out, blocks(layers[i].half->data(), 4, sh.out.elements())});
      else
        h.push_back({TensorKind::kOutput, Dtype::kInt8, sh.out, blocks(layers[i].act->data(), 1, sh.out.elements())});
    }
    std::vector<TensorKind> kinds;
    for (const Held& x : h) kinds.push_back(x.kind);
    if (has(o.tensors, TensorKind::kWeights) && has_weights(w, int(i))) kinds.push_back(TensorKind::kWeights);
    infos.push_back(describe_layer(m, w, int(i), kinds));
    held.push_back(std::move(h));
    layer_of.push_back(int(i));
  }
  sink.begin(infos);
  for (size_t k = 0; k < infos.size(); ++k) {
    if (has(infos[k].tensors, TensorKind::kWeights)) sink.weights(int(k), weights_view(m, w, layer_of[k]));
    std::vector<TensorView> views;
    for (const Held& x : held[k]) {
      TensorView v;
      v.kind = x.kind, v.dtype = x.dtype, v.h = x.shape.h, v.w = x.shape.w, v.c = x.shape.c;
      v.images = int(o.images.size());
      v.data = x.bytes.data();
      views.push_back(v);
    }
    if (!views.empty()) sink.step(0, 0, int(k), views);
  }
  CaptureSummary s;
  s.batches = s.due = s.captured = 1;
  sink.finish(s);
  return s;
}

std::unique_ptr<StepSink> files_sink(const std::string& dir, const CaptureConfig& config) {
  return std::make_unique<FilesSink>(dir, config);
}

Observer::Observer(const net::Model& m, const net::Weights& w, const ObserverOptions& o, StepSink& sink)
    : m_(m), w_(w), o_(o), sink_(sink) {
  if (o_.every < 1) throw CaptureError("--insitu-every must be at least 1");
  if (o_.ring_slots < 1) throw CaptureError("the capture ring needs at least 1 slot");
  if (o_.images.empty()) throw CaptureError("no image to capture");
  if (o_.tensors.empty()) throw CaptureError("no tensor to capture");
  info_of_layer_.assign(m.layers.size(), -1);
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const net::Layer& l = m.layers[i];
    if (!o_.layers.empty() && std::find(o_.layers.begin(), o_.layers.end(), l.name) == o_.layers.end()) continue;
    info_of_layer_[i] = int(infos_.size());
    layer_of_info_.push_back(int(i));
    LayerInfo info;
    info.name = l.name;
    info.op = net::op_name(l.op);
    infos_.push_back(info);
  }
  for (const std::string& name : o_.layers)
    if (m.find(name) == nullptr) throw CaptureError("in situ: model " + m.name + " has no layer '" + name + "'");
}

Observer::~Observer() {
  try {
    finish();
  } catch (...) {
  }
  if (side_) cudaStreamDestroy(side_);
  if (forward_done_) cudaEventDestroy(forward_done_);
  for (cudaEvent_t e : slot_ready_) cudaEventDestroy(e);
  if (staging_) cudaFree(staging_);
  if (slot_dev_) cudaFree(slot_dev_);
  if (ring_) cudaFreeHost(ring_);
}

std::vector<std::vector<net::TapKind>> Observer::plan(const std::vector<net::LayerTaps>& taps) {
  if (planned_) throw std::logic_error("Observer::plan called twice");
  std::vector<std::vector<net::TapKind>> wanted(taps.size());
  const net::TapKind kinds[] = {net::TapKind::kInput, net::TapKind::kPre, net::TapKind::kOutput};
  for (size_t info = 0; info < infos_.size(); ++info) {
    const int i = layer_of_info_[info];
    LayerInfo& li = infos_[info];
    for (net::TapKind k : kinds) {
      const net::Tap& t = taps[i].tap[int(k)];
      if (!has(o_.tensors, tensor_of(k)) || t.format == net::TapFormat::kNone) continue;
      wanted[i].push_back(k);
      li.tensors.push_back(tensor_of(k));
      for (size_t img = 0; img < o_.images.size(); ++img) {
        Piece p;
        p.info = int(info), p.kind = k, p.tap = t, p.image = int(img);
        p.bytes = t.image_bytes;
        p.offset = slot_bytes_;
        slot_bytes_ += (p.bytes + kPieceAlign - 1) / kPieceAlign * kPieceAlign;
        pieces_.push_back(p);
      }
    }
    if (has(o_.tensors, TensorKind::kWeights) && has_weights(w_, i)) li.tensors.push_back(TensorKind::kWeights);
    li = describe_layer(m_, w_, i, li.tensors);
  }
  sink_.begin(infos_);
  for (size_t info = 0; info < infos_.size(); ++info)
    if (has(infos_[info].tensors, TensorKind::kWeights)) sink_.weights(int(info), weights_view(m_, w_, layer_of_info_[info]));

  summary_.ring_slots = o_.ring_slots;
  summary_.ring_slot_bytes = slot_bytes_;
  if (slot_bytes_ > 0) {
    BTC_CUDA_CHECK(cudaMalloc(&staging_, size_t(slot_bytes_)));
    BTC_CUDA_CHECK(cudaMalloc(&slot_dev_, size_t(slot_bytes_) * o_.ring_slots));
    BTC_CUDA_CHECK(cudaHostAlloc(&ring_, size_t(slot_bytes_) * o_.ring_slots, cudaHostAllocDefault));
  }
  BTC_CUDA_CHECK(cudaStreamCreateWithFlags(&side_, cudaStreamNonBlocking));
  BTC_CUDA_CHECK(cudaEventCreateWithFlags(&forward_done_, cudaEventDisableTiming));
  slot_ready_.resize(o_.ring_slots);
  for (cudaEvent_t& e : slot_ready_) BTC_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  slot_busy_.assign(o_.ring_slots, false);
  planned_ = true;
  writer_ = std::thread([this] { writer_loop(); });
  return wanted;
}

void Observer::record_layer(int layer, const net::LayerTaps& taps, cudaStream_t s) {
  const int info = info_of_layer_.at(layer);
  if (info < 0) return;
  for (Piece& p : pieces_) {
    if (p.info != info) continue;
    const net::Tap& t = taps.tap[int(p.kind)];
    p.tap.per_observed_image = t.per_observed_image;
    const int block = t.per_observed_image ? p.image : o_.images[p.image];
    const unsigned char* src = static_cast<const unsigned char*>(t.base) + int64_t(block) * t.image_bytes;
    BTC_CUDA_CHECK(cudaMemcpyAsync(staging_ + p.offset, src, size_t(p.bytes), cudaMemcpyDeviceToDevice, s));
  }
}

bool Observer::begin_batch(int64_t batch_index) {
  std::lock_guard<std::mutex> lock(mu_);
  ++summary_.batches;
  if (!planned_ || finished_ || batch_index % o_.every != 0) return false;
  ++summary_.due;
  int slot = -1;
  if (!writer_error_)
    for (int k = 0; k < o_.ring_slots && slot < 0; ++k)
      if (!slot_busy_[k]) slot = k;
  if (slot < 0) {
    ++summary_.dropped;
    return false;
  }
  slot_busy_[slot] = true;
  reserved_slot_ = slot;
  return true;
}

void Observer::end_batch(int64_t batch_index, cudaStream_t s) {
  int slot;
  {
    std::lock_guard<std::mutex> lock(mu_);
    slot = reserved_slot_;
    reserved_slot_ = -1;
  }
  if (slot < 0) throw std::logic_error("Observer::end_batch without begin_batch");
  unsigned char* dev = slot_dev_ + int64_t(slot) * slot_bytes_;
  if (slot_bytes_ > 0)
    BTC_CUDA_CHECK(cudaMemcpyAsync(dev, staging_, size_t(slot_bytes_), cudaMemcpyDeviceToDevice, s));
  BTC_CUDA_CHECK(cudaEventRecord(forward_done_, s));
  BTC_CUDA_CHECK(cudaStreamWaitEvent(side_, forward_done_, 0));
  if (slot_bytes_ > 0)
    BTC_CUDA_CHECK(cudaMemcpyAsync(ring_ + int64_t(slot) * slot_bytes_, dev, size_t(slot_bytes_),
                                   cudaMemcpyDeviceToHost, side_));
  BTC_CUDA_CHECK(cudaEventRecord(slot_ready_[slot], side_));
  std::lock_guard<std::mutex> lock(mu_);
  jobs_.push_back({slot, int(summary_.captured), batch_index});
  ++summary_.captured;
  cv_.notify_one();
}

void Observer::writer_loop() {
  for (;;) {
    Job j;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      j = jobs_.front();
      jobs_.pop_front();
    }
    try {
      BTC_CUDA_CHECK(cudaEventSynchronize(slot_ready_[j.slot]));
      const auto t0 = std::chrono::steady_clock::now();
      write_job(j);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::lock_guard<std::mutex> lock(mu_);
      writer_seconds_ += s;
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!writer_error_) writer_error_ = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mu_);
    slot_busy_[j.slot] = false;
  }
}

void Observer::write_job(const Job& j) {
  const unsigned char* slot = ring_ + int64_t(j.slot) * slot_bytes_;
  for (size_t info = 0; info < infos_.size(); ++info) {
    // Per tensor, the images' blocks back to back.
    std::vector<Converted> data;
    std::vector<TensorView> views;
    for (const TensorKind kind : infos_[info].tensors) {
      if (kind == TensorKind::kWeights) continue;
      Converted all;
      const net::Tap* tap = nullptr;
      for (const Piece& p : pieces_) {
        if (p.info != int(info) || tensor_of(p.kind) != kind) continue;
        Converted c = convert(p.tap, slot + p.offset);
        all.dtype = c.dtype;
        all.bytes.insert(all.bytes.end(), c.bytes.begin(), c.bytes.end());
        tap = &p.tap;
      }
      if (tap == nullptr) continue;
      TensorView v;
      v.kind = kind;
      v.dtype = all.dtype;
      v.h = tap->h, v.w = tap->w, v.c = tap->c;
      v.images = int(o_.images.size());
      data.push_back(std::move(all));
      views.push_back(v);
    }
    for (size_t k = 0; k < views.size(); ++k) views[k].data = data[k].bytes.data();
    if (!views.empty()) sink_.step(j.step, j.batch_index, int(info), views);
  }
}

double Observer::writer_seconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return writer_seconds_;
}

CaptureSummary Observer::summary() const {
  std::lock_guard<std::mutex> lock(mu_);
  return summary_;
}

CaptureSummary Observer::finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) {
      if (writer_error_) std::rethrow_exception(writer_error_);
      return summary_;
    }
    finished_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (writer_error_) std::rethrow_exception(writer_error_);
  if (planned_) sink_.finish(summary_);
  return summary_;
}

}  // namespace btc::insitu
