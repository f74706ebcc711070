#include "net/runner.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include "formats/pack_cpu.h"
#include "formats/pack_gpu.cuh"
#include "harness/core/check.h"
#include "kernels/bconv/bconv.h"
#include "kernels/bmm/bmm.h"
#include "kernels/bmm/bmm_generated.h"
#include "net/net_kernels.cuh"

namespace btc::net {
namespace {

using bits::BitMatrix;
using bits::Layout;

BitMatrix row_bits(int64_t rows, int64_t k) {
  BitMatrix b;
  b.layout = Layout::kRowU32;
  b.rows = static_cast<int>(rows);
  b.k = static_cast<int>(k);
  return b;
}

bconv::PadValue pad_of(Pad p) {
  switch (p) {
    case Pad::kZero: return bconv::PadValue::kZero;
    case Pad::kPlusOne: return bconv::PadValue::kPlusOne;
    case Pad::kMinusOne: return bconv::PadValue::kMinusOne;
  }
  return bconv::PadValue::kZero;
}

bmm::Output int32_output(int32_t* y) {
  bmm::Output o;
  o.epilogue = bmm::Epilogue::kInt32;
  o.c = y;
  return o;
}

// The fused batch-norm epilogue: bits = y >= threshold (<= where flipped).
bmm::Output bits_output(uint32_t* bits, const BitMatrix& shape, const int32_t* threshold, const uint32_t* flip) {
  bmm::Output o;
  o.epilogue = bmm::Epilogue::kBits;
  o.bits = bits;
  o.bits_shape = shape;
  o.threshold = threshold;
  o.flip = flip;
  return o;
}

// "auto", a family, or "bconv=NAME,bfc=NAME" (net/runner.h).
struct DesignWish {
  std::string family = "auto";
  std::string bconv, bfc;
};

// The cuBLAS and cuDNN baselines unpack both operands to int8/fp16 once,
// in prepare() (a microbenchmark's static inputs): inside a network their
// activations would be the previous batch's. The full-precision network is
// its own baseline, not these designs.
void refuse_static_operand_family(const std::string& family) {
  if (family == "cublas" || family == "cudnn")
    throw std::invalid_argument("--designs " + family + ": the " + family +
                                " baselines unpack their operands once in prepare(), so they cannot run a network "
                                "(use auto, btc_wmma, mma_and, wgmma_and or popc)");
}

DesignWish parse_wish(const std::string& s) {
  DesignWish w;
  if (s.find('=') == std::string::npos) {
    w.family = s.empty() ? "auto" : s;
    refuse_static_operand_family(w.family);
    static const char* known[] = {"auto", "btc_wmma", "mma_and", "wgmma_and", "popc"};
    if (std::find(std::begin(known), std::end(known), w.family) == std::end(known))
      throw std::invalid_argument("--designs: unknown family '" + w.family +
                                  "' (auto, btc_wmma, mma_and, wgmma_and, popc, or bconv=NAME,bfc=NAME)");
    return w;
  }
  size_t at = 0;
  while (at <= s.size()) {
    const size_t comma = std::min(s.find(',', at), s.size());
    const std::string item = s.substr(at, comma - at);
    const size_t eq = item.find('=');
    if (eq == std::string::npos) throw std::invalid_argument("--designs: '" + item + "' is not op=NAME");
    const std::string op = item.substr(0, eq), name = item.substr(eq + 1);
    if (op == "bconv") w.bconv = name;
    else if (op == "bfc") w.bfc = name;
    else throw std::invalid_argument("--designs: unknown op '" + op + "' (bconv, bfc)");
    at = comma + 1;
  }
  return w;
}

// The tensor-core family order a layer tries under "auto": the newest
// instruction the code target has first.
const char* kAutoFamilies[] = {"wgmma_and", "mma_and", "btc_wmma"};

const bconv::Design* pick_bconv(const bconv::Problem& p, const DesignWish& wish, const CodeTarget& code) {
  auto runs = [&](const bconv::Design& d) { return d.skip_reason(code).empty() && d.unsupported(p).empty(); };
  if (!wish.bconv.empty()) {
    const bconv::Design* d = bconv::find_design(wish.bconv);
    if (d == nullptr) throw std::invalid_argument("--designs: no BConv design '" + wish.bconv + "'");
    refuse_static_operand_family(d->family());
    if (const std::string why = d->skip_reason(code); !why.empty()) throw std::invalid_argument(wish.bconv + ": " + why);
    if (const std::string why = d->unsupported(p); !why.empty()) throw std::invalid_argument(wish.bconv + ": " + why);
    return d;
  }
  auto first_of = [&](const std::string& family) -> const bconv::Design* {
    const bconv::Design* any = nullptr;
    for (const auto& d : bconv::designs()) {
      if (d->family() != family || !runs(*d)) continue;
      // The tile built for this arch first (the generated configuration's).
      if (d->config_arch() == code.code_arch || d->config_arch() == 0) return d.get();
      if (any == nullptr) any = d.get();
    }
    return any;
  };
  if (wish.family != "auto")
    if (const bconv::Design* d = first_of(wish.family)) {
      if (wish.family == "popc")  // SBNN's stronger BConv-64 over BConv-32
        if (const bconv::Design* d64 = bconv::find_design("bconv_popc_u64"); d64 && runs(*d64)) return d64;
      return d;
    }
  for (const char* f : kAutoFamilies)
    if (const bconv::Design* d = first_of(f)) return d;
  throw std::invalid_argument("no BConv design runs this layer on " + describe(code));
}

// The BMM designs to try for a bfc, best first. BMM designs refuse shapes
// only in run(), so the planner tries each (prepare + one run) in order.
std::vector<const bmm::Design*> bmm_candidates(const DesignWish& wish, const CodeTarget& code) {
  std::vector<const bmm::Design*> out;
  auto add = [&](const bmm::Design* d) {
    if (d && d->skip_reason(code).empty() && std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  };
  if (!wish.bfc.empty()) {
    const bmm::Design* d = bmm::find_design(wish.bfc);
    if (d == nullptr) throw std::invalid_argument("--designs: no BMM design '" + wish.bfc + "'");
    refuse_static_operand_family(d->family());
    if (const std::string why = d->skip_reason(code); !why.empty()) throw std::invalid_argument(wish.bfc + ": " + why);
    return {d};
  }
  const std::vector<std::string> selected = bmm::selected_designs(code.code_arch);
  if (wish.family != "auto") {
    if (wish.family == "popc") add(bmm::find_design("popc_u64"));  // SBNN's BMM-64 first
    for (const auto& name : selected)
      if (const bmm::Design* d = bmm::find_design(name); d && d->family() == wish.family) add(d);
    for (const auto& d : bmm::designs())
      if (d->family() == wish.family) add(d.get());
  }
  // The generated configuration's selection, newest family first.
  for (const char* f : kAutoFamilies)
    for (const auto& name : selected)
      if (const bmm::Design* d = bmm::find_design(name); d && d->family() == f) add(d);
  if (out.empty()) throw std::invalid_argument("no BMM design runs on " + describe(code));
  return out;
}

// The first candidate that runs p: prepare and one int32 run on zeroed
// scratch (a design refuses a shape with std::invalid_argument).
const bmm::Design* first_runnable(const bmm::Problem& p, const std::vector<const bmm::Design*>& candidates,
                                  cudaStream_t s) {
  std::string refusals;
  for (const bmm::Design* d : candidates) {
    const BitMatrix a = d->a_shape(p), b = d->b_shape(p);
    std::vector<void*> scratch;
    auto get = [&](size_t bytes) {
      void* q = nullptr;
      BTC_CUDA_CHECK(cudaMalloc(&q, std::max<size_t>(bytes, 4)));
      scratch.push_back(q);
      BTC_CUDA_CHECK(cudaMemset(q, 0, std::max<size_t>(bytes, 4)));
      return q;
    };
    bool ok = false;
    try {
      bmm::Operands in{static_cast<uint32_t*>(get(a.bytes())), static_cast<uint32_t*>(get(b.bytes())), a, b};
      void* ws = get(d->workspace_bytes(p));
      bmm::Output out;
      out.c = static_cast<int32_t*>(get(size_t(p.m) * p.n * 4));
      d->prepare(p, in, ws, s);
      d->run(p, in, out, ws, s);
      BTC_CUDA_CHECK(cudaStreamSynchronize(s));
      ok = true;
    } catch (const std::invalid_argument& e) {
      refusals += std::string(refusals.empty() ? "" : "; ") + e.what();
    }
    for (void* q : scratch) BTC_CUDA_CHECK(cudaFree(q));
    if (ok) return d;
  }
  throw std::invalid_argument("no BMM design runs " + std::to_string(p.m) + "x" + std::to_string(p.n) + "x" +
                              std::to_string(p.k) + ": " + refusals);
}

}  // namespace

struct Runner::Impl {
  std::vector<void*> allocations;
  cudaGraphExec_t graph = nullptr;
  float* images = nullptr;
  int64_t image_floats = 0;
  float* logits = nullptr;
  // per layer
  std::vector<int32_t*> y;         // int32 y (nullptr: fused bits)
  std::vector<uint32_t*> act;      // output bits (after any pool)
  std::vector<BitMatrix> act_shape;

  template <class T>
  T* alloc(int64_t count, int64_t& total) {
    void* p = nullptr;
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(T);
    BTC_CUDA_CHECK(cudaMalloc(&p, bytes));
    allocations.push_back(p);
    BTC_CUDA_CHECK(cudaMemset(p, 0, bytes));  // padding words stay 0 (formats/layout.h)
    total += static_cast<int64_t>(bytes);
    return static_cast<T*>(p);
  }
  template <class T>
  T* upload(const std::vector<T>& v, int64_t& total) {
    T* p = alloc<T>(static_cast<int64_t>(v.size()), total);
    BTC_CUDA_CHECK(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
    return p;
  }
};

Runner::Runner(const Model& m, const Weights& w, const RunnerOptions& o, const CodeTarget& code, cudaStream_t s)
    : m_(m), o_(o), s_(s), impl_(std::make_unique<Impl>()) {
  if (o.batch < 1) throw std::invalid_argument("batch must be at least 1");
  if (w.layers.size() != m.layers.size())
    throw std::invalid_argument("weights for " + std::to_string(w.layers.size()) + " layers, the model has " +
                                std::to_string(m.layers.size()));
  const DesignWish wish = parse_wish(o.designs);
  Impl& im = *impl_;
  const int n = o.batch;
  const size_t L = m.layers.size();
  im.y.assign(L, nullptr);
  im.act.assign(L, nullptr);
  im.act_shape.assign(L, BitMatrix{});
  layer_designs_.assign(L, "");
  int64_t& total = device_bytes_;

  im.image_floats = int64_t(n) * m.input.elements();

  // Per layer: its output's shape and, for a bconv or a bfc, its design.
  std::vector<const bmm::Design*> fc_design(L, nullptr);
  std::vector<const bconv::Design*> conv_design(L, nullptr);
  std::vector<bconv::Problem> conv_problem(L);
  std::vector<bmm::Problem> fc_problem(L);
  std::vector<int64_t> act_words(L, 0);
  for (size_t i = 0; i < L; ++i) {
    const Layer& l = m.layers[i];
    const LayerShapes& sh = m.shapes[i];
    im.act_shape[i] = l.op == Op::kBfc ? row_bits(n, l.out) : row_bits(int64_t(n) * sh.out.h * sh.out.w, sh.out.c);
    act_words[i] = im.act_shape[i].words();
    if (l.op == Op::kBconv) {
      bconv::Problem p;
      p.n = n, p.h = sh.in.h, p.w = sh.in.w, p.c = sh.in.c, p.k = l.out, p.r = p.s = l.kernel;
      p.stride = l.stride, p.pad = l.pad, p.pad_value = pad_of(l.pad_value);
      if (const std::string why = bconv::check_problem(p); !why.empty()) throw std::invalid_argument(l.name + ": " + why);
      conv_problem[i] = p;
      conv_design[i] = pick_bconv(p, wish, code);
    } else if (l.op == Op::kBfc) {
      fc_problem[i] = {n, l.out, static_cast<int>(sh.dot_bits)};
      fc_design[i] = first_runnable(fc_problem[i], bmm_candidates(wish, code), s_);
    }
  }
  // A bfc reads its input's bits in place when its A is their row_u32 view
  // (rows padded to the tile: the producer's buffer grows to hold them, 0),
  // else through a relayout from that view. On the image it binarizes
  // straight into A: the image buffer has A's padded rows too, -1 (bit 0).
  std::vector<bool> fc_alias(L, false);
  int64_t image_rows = n;
  for (size_t i = 0; i < L; ++i) {
    if (!fc_design[i]) continue;
    const BitMatrix a = fc_design[i]->a_shape(fc_problem[i]);
    if (m.layers[i].input == "input") {
      image_rows = std::max<int64_t>(image_rows, a.rows);
      continue;
    }
    const int j = m.index_of(m.layers[i].input);
    fc_alias[i] = a.layout == Layout::kRowU32 && a.identity_k() && a.k % 32 == 0 && a.kwords() == a.k / 32;
    act_words[j] = std::max(act_words[j], fc_alias[i] ? a.words() : row_bits(a.rows, a.k).words());
  }
  im.images = im.upload(std::vector<float>(size_t(image_rows) * m.input.elements(), -1.0f), total);
  for (size_t i = 0; i < L; ++i)
    if (!m.layers[i].float_out) im.act[i] = im.alloc<uint32_t>(act_words[i], total);
  im.logits = im.alloc<float>(int64_t(n) * m.classes, total);

  // Steps. The stem's quantized image is shared by every stem.
  int8_t* quantized = nullptr;
  const int cp = (m.input.c + 3) / 4 * 4;
  for (size_t i = 0; i < L; ++i) {
    const Layer& l = m.layers[i];
    const LayerShapes& sh = m.shapes[i];
    const FoldedLayer f = fold_layer(m, w, static_cast<int>(i));
    std::vector<uint32_t> flip_words((l.out + 31) / 32, 0);
    for (int k = 0; k < l.out; ++k)
      if (f.flip[k]) flip_words[k / 32] |= 1u << (k % 32);
    const int32_t* d_thr = im.upload(f.threshold, total);
    const uint32_t* d_flip = im.upload(flip_words, total);
    const int64_t rows_out = int64_t(n) * sh.conv_out.h * sh.conv_out.w;  // before the pool
    // The stem thresholds in its own kernel; it writes y only when kept.
    const bool stem_y = l.op == Op::kStem && (!l.save.empty() || o_.keep_outputs);
    const bool int_path = l.op != Op::kStem && (!l.add.empty() || !l.save.empty() || l.float_out);
    if (int_path || stem_y) im.y[i] = im.alloc<int32_t>(rows_out * sh.conv_out.c, total);
    // Where the thresholded bits go: act, or a pre-pool buffer.
    uint32_t* bits_out = im.act[i];
    if (l.maxpool2) bits_out = im.alloc<uint32_t>(row_bits(rows_out, sh.conv_out.c).words(), total);
    const double out_bytes_bits = double(rows_out) * sh.conv_out.c / 8;

    if (l.op == Op::kStem) {
      if (quantized == nullptr) {
        quantized = im.alloc<int8_t>(int64_t(n) * m.input.h * m.input.w * cp, total);
        float* src = im.images;
        int8_t* dst = quantized;
        const Model* mm = &m_;
        steps_.push_back({-1, "input/quantize", "quantize_images", double(im.image_floats) * 5, 0,
                          [=](cudaStream_t st) {
                            quantize_images(src, n, mm->input.c, mm->input.h, mm->input.w, mm->input_scale, cp, dst, st);
                          }});
      }
      std::vector<int8_t> wq(size_t(l.out) * l.kernel * l.kernel * cp, 0);
      const int c = m.input.c;
      for (int k = 0; k < l.out; ++k)
        for (int t = 0; t < l.kernel * l.kernel; ++t)
          for (int ch = 0; ch < c; ++ch) wq[(size_t(k) * l.kernel * l.kernel + t) * cp + ch] = w.layers[i].w[(size_t(k) * l.kernel * l.kernel + t) * c + ch];
      StemArgs a;
      a.x = quantized, a.w = im.upload(wq, total), a.y = im.y[i];
      a.threshold = d_thr, a.flip = d_flip, a.bits = bits_out;
      a.n = n, a.h = m.input.h, a.wd = m.input.w, a.cp = cp, a.k = l.out, a.r = l.kernel, a.stride = l.stride;
      a.pad = l.pad, a.p = sh.conv_out.h, a.q = sh.conv_out.w;
      steps_.push_back({int(i), l.name, "stem_conv_dp4a",
                        double(n) * m.input.h * m.input.w * cp + (stem_y ? double(rows_out) * l.out * 4 : 0) + out_bytes_bits,
                        2.0 * double(rows_out) * l.out * double(sh.dot_bits), [=](cudaStream_t st) { stem_conv(a, st); }});
      layer_designs_[i] = std::string("stem_conv_dp4a (int8, CUDA cores) -> bits (fused)") + (stem_y ? " + int32" : "");
    } else if (l.op == Op::kBconv) {
      const bconv::Problem& p = conv_problem[i];
      const bconv::Design* d = conv_design[i];
      const std::vector<uint32_t> wpacked = bits::pack_signs(w.layers[i].w.data(), p.k, int(p.dot_bits()), bconv::weight_shape(p));
      bconv::Operands in{im.act[m.index_of(l.input)], im.upload(wpacked, total)};
      void* ws = im.alloc<uint8_t>(int64_t(d->workspace_bytes(p)), total);
      d->prepare(p, in, ws, s_);
      const bmm::Output out = int_path ? int32_output(im.y[i]) : bits_output(bits_out, bconv::output_bits_shape(p), d_thr, d_flip);
      const double in_bytes = double(bconv::activation_shape(p).bytes()) + double(bconv::weight_shape(p).bytes());
      steps_.push_back({int(i), l.name, d->name(), in_bytes + (int_path ? double(rows_out) * l.out * 4 : out_bytes_bits),
                        p.ops(), [=](cudaStream_t st) { d->run(p, in, out, ws, st); }});
      layer_designs_[i] = d->name() + (int_path ? " -> int32" : " -> bits (fused)");
    } else {  // bfc
      const bmm::Problem& p = fc_problem[i];
      const bmm::Design* d = fc_design[i];
      const BitMatrix a_shape = d->a_shape(p), b_shape = d->b_shape(p);
      const uint32_t* a = nullptr;
      if (l.input == "input") {
        uint32_t* abuf = im.alloc<uint32_t>(a_shape.words(), total);
        const float* src = im.images;
        const int rows = a_shape.rows, k = p.k;
        steps_.push_back({int(i), l.name + "/binarize", "pack_signs_gpu", double(im.image_floats) * 4, 0,
                          [=](cudaStream_t st) { bits::pack_signs_gpu(src, rows, k, a_shape, abuf, st); }});
        a = abuf;
      } else if (fc_alias[i]) {
        a = im.act[m.index_of(l.input)];
      } else {
        uint32_t* abuf = im.alloc<uint32_t>(a_shape.words(), total);
        const uint32_t* src = im.act[m.index_of(l.input)];
        const BitMatrix src_shape = row_bits(a_shape.rows, p.k);
        steps_.push_back({int(i), l.name + "/relayout", "convert_gpu", double(src_shape.bytes() + a_shape.bytes()), 0,
                          [=](cudaStream_t st) { bits::convert_gpu(src, src_shape, a_shape, abuf, st); }});
        a = abuf;
      }
      // The design's B has its rows padded to the tile: padding rows are -1 (bit 0).
      std::vector<int8_t> wpad(size_t(b_shape.rows) * p.k, int8_t{-1});
      std::copy(w.layers[i].w.begin(), w.layers[i].w.end(), wpad.begin());
      const std::vector<uint32_t> wpacked = bits::pack_signs(wpad.data(), b_shape.rows, p.k, b_shape);
      bmm::Operands in{a, im.upload(wpacked, total), a_shape, b_shape};
      void* ws = im.alloc<uint8_t>(int64_t(d->workspace_bytes(p)), total);
      d->prepare(p, in, ws, s_);
      const bmm::Output out = int_path ? int32_output(im.y[i]) : bits_output(im.act[i], im.act_shape[i], d_thr, d_flip);
      steps_.push_back({int(i), l.name, d->name(),
                        double(p.m) * p.k / 8 + double(p.n) * p.k / 8 + (int_path ? double(p.m) * p.n * 4 : double(p.m) * p.n / 8),
                        2.0 * double(p.m) * p.n * p.k, [=](cudaStream_t st) { d->run(p, in, out, ws, st); }});
      layer_designs_[i] = d->name() + (int_path ? " -> int32" : " -> bits (fused)");
    }

    if (l.float_out) {
      std::vector<float> invstd(l.out);
      for (int k = 0; k < l.out; ++k) invstd[k] = 1.0f / std::sqrt(w.layers[i].var[k] + m.bn_eps);
      const float* mean = im.upload(w.layers[i].mean, total);
      const float* inv = im.upload(invstd, total);
      const float* gamma = im.upload(w.layers[i].gamma, total);
      const float* beta = im.upload(w.layers[i].beta, total);
      const int32_t* y = im.y[i];
      float* lg = im.logits;
      const int classes = l.out;
      steps_.push_back({int(i), l.name + "/bn", "bn_logits", double(n) * classes * 8, 0,
                        [=](cudaStream_t st) { bn_logits(y, n, classes, mean, inv, gamma, beta, lg, st); }});
    } else if (int_path) {
      ThresholdArgs t;
      t.y = im.y[i], t.n = n, t.p = sh.conv_out.h, t.q = sh.conv_out.w, t.k = l.out;
      if (!l.add.empty()) {
        const int j = m.saver_of(l.add);
        t.res = im.y[j], t.rh = sh.residual.h, t.rw = sh.residual.w, t.rc = sh.residual.c, t.pool2 = l.add_pool2;
      }
      t.write_y = !l.save.empty() || o_.keep_outputs;
      t.threshold = d_thr, t.flip = d_flip, t.bits = bits_out;
      const double bytes = double(rows_out) * l.out * 4 * (t.write_y ? 2 : 1) +
                           (t.res ? double(n) * double(sh.residual.elements()) * 4 : 0) + out_bytes_bits;
      steps_.push_back({int(i), l.name + "/threshold", "residual_threshold", bytes, 0,
                        [=](cudaStream_t st) { residual_threshold(t, st); }});
    }
    if (l.maxpool2) {
      const uint32_t* src = bits_out;
      uint32_t* dst = im.act[i];
      const int p = sh.conv_out.h, q = sh.conv_out.w, kw = sh.conv_out.c / 32;
      steps_.push_back({int(i), l.name + "/maxpool2", "maxpool2_bits", out_bytes_bits * 1.25, 0,
                        [=](cudaStream_t st) { maxpool2_bits(src, n, p, q, kw, dst, st); }});
    }
  }
  BTC_CUDA_CHECK(cudaStreamSynchronize(s_));
}

Runner::~Runner() {
  if (impl_->graph) cudaGraphExecDestroy(impl_->graph);
  for (void* p : impl_->allocations) cudaFree(p);  // no throw from a destructor
}

void Runner::set_input(const std::vector<float>& images) {
  if (static_cast<int64_t>(images.size()) != impl_->image_floats)
    throw std::invalid_argument("input: " + std::to_string(images.size()) + " floats, the batch needs " +
                                std::to_string(impl_->image_floats));
  BTC_CUDA_CHECK(cudaMemcpyAsync(impl_->images, images.data(), images.size() * sizeof(float), cudaMemcpyHostToDevice, s_));
  BTC_CUDA_CHECK(cudaStreamSynchronize(s_));
}

void Runner::poison(unsigned char byte) {
  Impl& im = *impl_;
  for (size_t i = 0; i < m_.layers.size(); ++i) {
    if (im.y[i])
      BTC_CUDA_CHECK(cudaMemsetAsync(im.y[i], byte, size_t(o_.batch) * m_.shapes[i].conv_out.elements() * 4, s_));
    if (im.act[i]) BTC_CUDA_CHECK(cudaMemsetAsync(im.act[i], byte, size_t(im.act_shape[i].words()) * 4, s_));
  }
  BTC_CUDA_CHECK(cudaMemsetAsync(im.logits, byte, size_t(o_.batch) * m_.classes * sizeof(float), s_));
}

void Runner::forward() {
  for (const Step& st : steps_) st.launch(s_);
}

void Runner::capture_graph() {
  if (impl_->graph) return;
  cudaGraph_t g = nullptr;
  BTC_CUDA_CHECK(cudaStreamBeginCapture(s_, cudaStreamCaptureModeThreadLocal));
  try {
    forward();
  } catch (...) {
    cudaStreamEndCapture(s_, &g);
    if (g) cudaGraphDestroy(g);
    throw;
  }
  BTC_CUDA_CHECK(cudaStreamEndCapture(s_, &g));
  const cudaError_t e = cudaGraphInstantiate(&impl_->graph, g, 0);
  cudaGraphDestroy(g);
  BTC_CUDA_CHECK(e);
}

void Runner::replay() {
  if (!impl_->graph) throw std::logic_error("replay before capture_graph");
  BTC_CUDA_CHECK(cudaGraphLaunch(impl_->graph, s_));
}

void Runner::sync() { BTC_CUDA_CHECK(cudaStreamSynchronize(s_)); }

std::vector<float> Runner::logits() {
  std::vector<float> out(size_t(o_.batch) * m_.classes);
  BTC_CUDA_CHECK(cudaMemcpyAsync(out.data(), impl_->logits, out.size() * sizeof(float), cudaMemcpyDeviceToHost, s_));
  sync();
  return out;
}

std::vector<int32_t> Runner::layer_y(int i) {
  const int32_t* y = impl_->y.at(i);
  if (y == nullptr) return {};
  std::vector<int32_t> out(size_t(o_.batch) * m_.shapes[i].conv_out.elements());
  BTC_CUDA_CHECK(cudaMemcpyAsync(out.data(), y, out.size() * sizeof(int32_t), cudaMemcpyDeviceToHost, s_));
  sync();
  return out;
}

std::vector<int8_t> Runner::layer_act(int i) {
  if (m_.layers.at(i).float_out) return {};
  const BitMatrix& shape = impl_->act_shape[i];
  std::vector<uint32_t> words(shape.words());
  BTC_CUDA_CHECK(cudaMemcpyAsync(words.data(), impl_->act[i], words.size() * 4, cudaMemcpyDeviceToHost, s_));
  sync();
  return bits::unpack_signs(words, shape);
}

}  // namespace btc::net
