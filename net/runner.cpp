#include "net/runner.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include "formats/pack_cpu.h"
#include "formats/pack_gpu.cuh"
#include "harness/core/check.h"
#include "kernels/baselines/cublas_fc_half.h"
#include "kernels/baselines/cudnn_conv_half.h"
#include "kernels/bconv/bconv.h"
#include "kernels/bconv/bconv_selection.h"
#include "kernels/bmm/bmm.h"
#include "kernels/bmm/bmm_generated.h"
#include "kernels/bmm/bmm_selection.h"
#include "net/half_kernels.cuh"
#include "net/net_kernels.cuh"
#include "net/stem_tc.cuh"

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

// A Bi-Real bconv's batch norm and fp16 shortcut fused into its epilogue:
// y = half(fmaf(scale, z, shift) + shortcut) and y's signs.
bmm::Output half_output(__half* y, const __half* shortcut, const float* scale, const float* shift, uint32_t* bits,
                        const BitMatrix& shape) {
  bmm::Output o;
  o.epilogue = bmm::Epilogue::kHalf;
  o.half = reinterpret_cast<uint16_t*>(y);
  o.shortcut = reinterpret_cast<const uint16_t*>(shortcut);
  o.scale = scale;
  o.shift = shift;
  o.bits = bits;
  o.bits_shape = shape;
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

// "auto", a family, and op=NAME items, comma-separated (net/runner.h).
struct DesignWish {
  std::string family = "auto";
  std::string bconv, bfc;
  std::string conv;  // "", conv_half, conv_cudnn or conv_tc
  std::string fc;    // "", fc_half or fc_cublas
};

// The cuBLAS and cuDNN baselines unpack both operands to int8/fp16 once,
// in prepare() (a microbenchmark's static inputs): inside a network their
// activations would be the previous batch's. The full-precision network
// (resnet18-fp16) is the baseline that runs: its real layers on conv_cudnn.
void refuse_static_operand_family(const std::string& family) {
  if (family == "cublas" || family == "cudnn")
    throw std::invalid_argument("--designs " + family + ": the " + family +
                                " baselines unpack their operands once in prepare(), so they cannot run a network "
                                "(use auto, btc_wmma, mma_and, wgmma_and or popc)");
}

// The real layers' designs: conv_half (CUDA cores, the reference's order,
// exact), conv_cudnn (cuDNN's fused conv, within half_bound) and conv_tc (a
// conv on the image only: net/stem_tc.cuh, BN, ReLU and max-pool fused,
// within half_bound).
const char* kConvDesigns[] = {"conv_half", "conv_cudnn", "conv_tc"};
// The real fc's: fc_half (CUDA cores, the reference's order) and fc_cublas
// (cuBLAS, within logits_bound).
const char* kFcDesigns[] = {"fc_half", "fc_cublas"};

// name if it is one of an op's real-layer designs, else the error that lists them.
template <size_t N>
std::string real_design(const char* op, const std::string& name, const char* const (&designs)[N]) {
  std::string listed;
  for (const char* d : designs) {
    if (name == d) return name;
    listed += (listed.empty() ? "" : ", ") + std::string(d);
  }
  throw std::invalid_argument(std::string("--designs: no ") + op + " design '" + name + "' (" + listed + ")");
}

DesignWish parse_wish(const std::string& s) {
  DesignWish w;
  bool have_family = false;
  size_t at = 0;
  while (at <= s.size()) {
    const size_t comma = std::min(s.find(',', at), s.size());
    const std::string item = s.substr(at, comma - at);
    at = comma + 1;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      if (have_family) throw std::invalid_argument("--designs: two families ('" + w.family + "', '" + item + "')");
      have_family = true;
      w.family = item.empty() ? "auto" : item;
      refuse_static_operand_family(w.family);
      static const char* known[] = {"auto", "btc_wmma", "mma_and", "wgmma_and", "popc"};
      if (std::find(std::begin(known), std::end(known), w.family) == std::end(known))
        throw std::invalid_argument("--designs: unknown family '" + w.family +
                                    "' (auto, btc_wmma, mma_and, wgmma_and, popc; then bconv=, bfc=, conv=, fc=NAME)");
      continue;
    }
    const std::string op = item.substr(0, eq), name = item.substr(eq + 1);
    if (op == "bconv") w.bconv = name;
    else if (op == "bfc") w.bfc = name;
    else if (op == "conv") w.conv = real_design("conv", name, kConvDesigns);
    else if (op == "fc") w.fc = real_design("fc", name, kFcDesigns);
    else throw std::invalid_argument("--designs: unknown op '" + op + "' (bconv, bfc, conv, fc)");
  }
  return w;
}

// A binary layer writes its int32 pre-activation (and thresholds in a step
// of its own) where it is kept or added to: a residual, a Bi-Real layer's BN
// + shortcut, the logits; else its design writes the bits (fused epilogue).
bool writes_int32(const Layer& l) {
  return l.op != Op::kStem && (!l.add.empty() || !l.save.empty() || l.float_out || l.half_out);
}

// The tensor-core family order a layer tries under "auto": the newest
// instruction the code target has first.
const char* kAutoFamilies[] = {"wgmma_and", "mma_and", "btc_wmma"};

// The selection's output a binary conv is looked up by: half for a Bi-Real
// layer (its fused BN + shortcut; the int32 rows stand in where the sweep did
// not time half), int32 where z is kept, else the fused bits.
std::vector<bconv::SelectedOutput> selection_outputs(const Layer& l) {
  if (l.half_out) return {bconv::SelectedOutput::kHalf, bconv::SelectedOutput::kInt32};
  return {writes_int32(l) ? bconv::SelectedOutput::kInt32 : bconv::SelectedOutput::kBits};
}

// *selection_batch: the batch of the selection's row when that is the pick, else 0.
const bconv::Design* pick_bconv(const bconv::Problem& p, const std::vector<bconv::SelectedOutput>& outputs,
                                const DesignWish& wish,
                                const CodeTarget& code, int* selection_batch) {
  *selection_batch = 0;
  auto runs = [&](const bconv::Design& d) { return d.skip_reason(code).empty() && d.unsupported(p).empty(); };
  if (!wish.bconv.empty()) {
    const bconv::Design* d = bconv::find_design(wish.bconv);
    if (d == nullptr) throw std::invalid_argument("--designs: no BConv design '" + wish.bconv + "'");
    refuse_static_operand_family(d->family());
    if (const std::string why = d->skip_reason(code); !why.empty()) throw std::invalid_argument(wish.bconv + ": " + why);
    if (const std::string why = d->unsupported(p); !why.empty()) throw std::invalid_argument(wish.bconv + ": " + why);
    return d;
  }
  // The generated selection's design for this shape and batch first, where
  // it is of the family asked for (kernels/bconv/bconv_selection.h).
  bconv::Selection chosen;
  for (size_t o = 0; o < outputs.size() && chosen.design.empty(); ++o)
    chosen = bconv::selected_design(p, outputs[o], code.code_arch);
  const bconv::Design* selected = chosen.design.empty() ? nullptr : bconv::find_design(chosen.design);
  if (selected && !runs(*selected)) selected = nullptr;
  if (selected && wish.family == "auto") {  // measured fastest of the tensor-core designs
    *selection_batch = chosen.batch;
    return selected;
  }
  auto first_of = [&](const std::string& family) -> const bconv::Design* {
    if (selected && selected->family() == family) {
      *selection_batch = chosen.batch;
      return selected;
    }
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
// `selected`: the per-shape selection's design for the layer ("" if none),
// first under auto or where it is of the family asked for.
std::vector<const bmm::Design*> bmm_candidates(const DesignWish& wish, const CodeTarget& code,
                                               const std::string& selected_for_shape) {
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
  if (!selected_for_shape.empty())
    if (const bmm::Design* d = bmm::find_design(selected_for_shape); d && (wish.family == "auto" || d->family() == wish.family))
      add(d);
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
      BTC_CUDA_CHECK(cudaMemsetAsync(q, 0, std::max<size_t>(bytes, 4), s));  // ordered before prepare() on s
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
  std::vector<__half*> half;       // half-output layers: fp16 y NHWC (after any pool)
  __half* image_half = nullptr;    // the image as fp16 NHWC, for a conv on "input"
  int image_half_c = 0;            // its channels: the image's, or padded to 8 for cuDNN
  __half* image_s2d = nullptr;     // the image space-to-depth by 2, 16 channels (cuDNN's stride-2 stem)
  std::vector<std::unique_ptr<cudnn::ConvHalf>> cudnn_convs;  // the conv_cudnn layers' plans
  std::vector<std::unique_ptr<cublas::FcHalf>> cublas_fcs;    // the fc_cublas layers' GEMMs
  // What a fused bconv needs to rerun one image with int32 output, for an
  // observer that asks for its pre-activation.
  struct ConvPlan {
    const bconv::Design* design = nullptr;
    bconv::Problem problem;
    bconv::Operands in;
  };
  std::vector<ConvPlan> conv;
  int32_t* observed_pre = nullptr;  // the observer's rerun pre-activations
  // A layer that adds a residual without keeping y: its threshold step with
  // y written back (z + R), for the observed graph when its pre is wanted.
  std::vector<std::function<void(cudaStream_t)>> threshold_keeping_y;
  cudaGraphExec_t observed_graph = nullptr;

  // The runner's stream. Set-up goes through it, not the legacy default
  // stream: a non-blocking stream (the tests', the harness's) is not ordered
  // after cudaMemset or a pageable cudaMemcpy, so a design's prepare() on it
  // read weights and workspaces before they landed (cifar10-vgg's fc1, H100
  // at ba90984: 20 of 20 repeats wrong, 0 of 20 with CUDA_LAUNCH_BLOCKING=1).
  cudaStream_t stream = nullptr;

  template <class T>
  T* alloc(int64_t count, int64_t& total) {
    void* p = nullptr;
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(T);
    BTC_CUDA_CHECK(cudaMalloc(&p, bytes));
    allocations.push_back(p);
    BTC_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream));  // padding words stay 0 (formats/layout.h)
    total += static_cast<int64_t>(bytes);
    return static_cast<T*>(p);
  }
  // v may be a temporary: the copy is complete when this returns.
  template <class T>
  T* upload(const std::vector<T>& v, int64_t& total) {
    T* p = alloc<T>(static_cast<int64_t>(v.size()), total);
    BTC_CUDA_CHECK(cudaMemcpyAsync(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice, stream));
    BTC_CUDA_CHECK(cudaStreamSynchronize(stream));
    return p;
  }
};

Runner::Runner(const Model& m, const Weights& w, const RunnerOptions& o, const CodeTarget& code, cudaStream_t s)
    : m_(m), o_(o), s_(s), impl_(std::make_unique<Impl>()) {
  impl_->stream = s;
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
  im.conv.assign(L, Impl::ConvPlan{});
  im.half.assign(L, nullptr);
  im.threshold_keeping_y.assign(L, nullptr);
  layer_designs_.assign(L, "");
  reordered_.assign(L, false);
  int64_t& total = device_bytes_;

  im.image_floats = int64_t(n) * m.input.elements();

  // Per layer: its output's shape and, for a bconv or a bfc, its design.
  std::vector<const bmm::Design*> fc_design(L, nullptr);
  std::vector<const bconv::Design*> conv_design(L, nullptr);
  std::vector<int> conv_selection_batch(L, 0);  // the selection row's batch where it chose the design
  std::vector<int> fc_selection_m(L, 0);         // the same for a bfc: its row's M
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
      conv_design[i] = pick_bconv(p, selection_outputs(l), wish, code, &conv_selection_batch[i]);
    } else if (l.op == Op::kBfc) {
      fc_problem[i] = {n, l.out, static_cast<int>(sh.dot_bits)};
      const bmm::SelectedOutput out = writes_int32(l) ? bmm::SelectedOutput::kInt32 : bmm::SelectedOutput::kBits;
      const bmm::Selection chosen =
          wish.bfc.empty() ? bmm::selected_design(fc_problem[i], out, code.code_arch) : bmm::Selection{};
      fc_design[i] = first_runnable(fc_problem[i], bmm_candidates(wish, code, chosen.design), s_);
      if (!chosen.design.empty() && fc_design[i]->name() == chosen.design) fc_selection_m[i] = chosen.m;
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

  // Which layers' bits a binary layer reads (a real layer writes them only then
  // where its kernel does not anyway).
  std::vector<bool> bits_read(L, false);
  for (size_t i = 0; i < L; ++i)
    if ((m.layers[i].op == Op::kBconv || m.layers[i].op == Op::kBfc) && m.layers[i].input != "input")
      bits_read[m.index_of(m.layers[i].input)] = true;

  // The real convs' design: conv=NAME, else cuDNN where it loads (fused, fp16
  // tensor cores), else conv_half (CUDA cores, exact). A conv on the image
  // runs on conv_tc by default where stem_tc takes it (Bi-Real's 7x7/2 stem
  // and its 3x3/2 max-pool: cuDNN 3.85 ms + maxpool3_half 0.94 ms at batch
  // 1024 on the H200, net-20261203T054827Z-c13e978); conv=conv_tc asks for it
  // on every conv on the image, and the full-precision baseline keeps cuDNN
  // (conv=conv_cudnn).
  const std::string cudnn_unavailable = cudnn::ConvHalf::unavailable_reason();
  if (wish.conv == "conv_cudnn" && !cudnn_unavailable.empty())
    throw std::invalid_argument("--designs conv=conv_cudnn: " + cudnn_unavailable);
  const bool want_cudnn = wish.conv.empty() ? cudnn_unavailable.empty() : wish.conv == "conv_cudnn";
  const std::string tc_unavailable = stem_tc_skip_reason(code);
  if (wish.conv == "conv_tc" && !tc_unavailable.empty())
    throw std::invalid_argument("--designs conv=conv_tc: " + tc_unavailable);
  // "" when layer i runs on conv_tc, else why not (a reason only where asked).
  auto tc_refusal = [&](int i) -> std::string {
    const Layer& l = m.layers[i];
    if (l.op != Op::kConv || l.input != "input") return "conv_tc runs convs on the image only";
    if (!wish.conv.empty() && wish.conv != "conv_tc") return "--designs conv=" + wish.conv;
    if (!tc_unavailable.empty()) return tc_unavailable;
    if (l.prepool != Layer::Prepool::kNone) return "conv_tc has no pool before the conv";
    if (!l.shortcut.empty()) return "conv_tc adds no shortcut";
    StemTcArgs a;
    a.relu = l.relu, a.pool = l.maxpool3;
    a.n = n, a.h = m.input.h, a.wd = m.input.w, a.c = m.input.c, a.xc = (m.input.c + 3) / 4 * 4;
    a.k = l.out, a.r = l.kernel, a.stride = l.stride, a.pad = l.pad;
    if (std::string why = stem_tc_unsupported_shape(a); !why.empty()) return why;
    const StemTcShape shape = stem_tc_shape(a);
    if (shape.oh != m.shapes[i].out.h || shape.ow != m.shapes[i].out.w) return "conv_tc's output shape is not the layer's";
    return "";
  };
  std::vector<bool> on_tc(L, false);
  bool image_off_tc = false;  // a conv on the image runs elsewhere
  for (size_t i = 0; i < L; ++i) {
    if (m.layers[i].input != "input" || m.layers[i].op != Op::kConv) continue;
    const std::string why = tc_refusal(int(i));
    if (!why.empty() && wish.conv == "conv_tc") throw std::invalid_argument(m.layers[i].name + ": conv_tc: " + why);
    on_tc[i] = why.empty();
    image_off_tc = image_off_tc || !on_tc[i];
  }
  // The image as the real layers read it: cuDNN's fp16 tensor-core convs
  // want 8 channels, stem_tc a multiple of 4 (zero channels add 0, exactly,
  // in conv_half too).
  const int image_c = want_cudnn && image_off_tc ? (m.input.c + 7) / 8 * 8
                      : image_off_tc             ? m.input.c
                                                 : (m.input.c + 3) / 4 * 4;
  const bool want_cublas = wish.fc != "fc_half";  // cuBLAS comes with every CUDA install

  // A real-valued layer (conv, fc): fp16 in and out, on cuDNN (conv) or the
  // CUDA cores in the reference's order (net/half_kernels.cuh).
  // A stride-2 conv on the image on cuDNN: a stride-1 conv on the image's
  // space-to-depth copy (4x the channels, the filter rearranged; the same
  // products, plus zeros). cuDNN ran Bi-Real's 7x7/2 stem on 8 padded
  // channels at 2.41 ms for batch 256 on the H200, 18x the time of a 3x3
  // stage-1 conv of the same MACs.
  struct SpaceToDepth {
    bool on = false;
    int kernel = 0, pad = 0, pad_after = 0, shift = 0;  // the stride-1 conv's; input row 2 b + sh = tap 2 rb + sh - shift
  };
  auto space_to_depth = [&](const Layer& l, const LayerShapes& sh) -> SpaceToDepth {
    if (!want_cudnn || l.input != "input" || l.stride != 2 || l.prepool != Layer::Prepool::kNone ||
        m.input.h % 2 != 0 || m.input.w % 2 != 0 || 4 * m.input.c > 16)
      return {};
    SpaceToDepth d;
    d.on = true;
    d.pad = (l.pad + 1) / 2;
    d.shift = 2 * d.pad - l.pad;
    d.kernel = (l.kernel + d.shift + 1) / 2;
    d.pad_after = sh.conv_out.h - 1 + d.kernel - m.input.h / 2 - d.pad;
    if (d.pad_after < 0 || sh.conv_out.w - 1 + d.kernel - m.input.w / 2 - d.pad != d.pad_after) return {};
    return d;
  };

  // false: cuDNN refused the space-to-depth conv; plan again without it.
  auto plan_real_once = [&](int i, bool allow_s2d) -> bool {
    const Layer& l = m.layers[i];
    const LayerShapes& sh = m.shapes[i];
    const SpaceToDepth s2d = allow_s2d && !on_tc[i] ? space_to_depth(l, sh) : SpaceToDepth{};
    const __half* src = nullptr;
    Shape in = sh.in;
    size_t s2d_step = SIZE_MAX;  // its input step, taken back if cuDNN refuses
    if (s2d.on) {
      if (im.image_s2d == nullptr) {
        const Shape img = m.input;
        const int64_t elements = int64_t(n) * (img.h / 2) * (img.w / 2) * 16;
        im.image_s2d = im.alloc<__half>(elements, total);
        const float* x = im.images;
        __half* dst = im.image_s2d;
        s2d_step = steps_.size();
        steps_.push_back({-1, "input/to_half_s2d", "images_to_half_s2d", double(im.image_floats) * 4 + double(elements) * 2,
                          0, [=](cudaStream_t st) { images_to_half_s2d(x, n, img.c, img.h, img.w, 16, dst, st); }});
      }
      src = im.image_s2d;
      in = {m.input.h / 2, m.input.w / 2, 16};
    } else if (l.input == "input") {
      if (im.image_half == nullptr) {
        im.image_half_c = image_c;
        const int64_t elements = int64_t(n) * m.input.h * m.input.w * image_c;
        im.image_half = im.alloc<__half>(elements, total);
        const float* x = im.images;
        __half* dst = im.image_half;
        const Shape img = m.input;
        steps_.push_back({-1, "input/to_half", "images_to_half", double(im.image_floats) * 4 + double(elements) * 2, 0,
                          [=](cudaStream_t st) { images_to_half(x, n, img.c, img.h, img.w, image_c, dst, st); }});
      }
      src = im.image_half;
      in.c = im.image_half_c;
    } else {
      src = im.half[m.index_of(l.input)];
    }
    Shape pin = s2d.on ? in : sh.pooled_in;
    pin.c = in.c;
    if (l.prepool != Layer::Prepool::kNone) {
      __half* pooled = im.alloc<__half>(int64_t(n) * pin.elements(), total);
      const double bytes = double(n) * double(in.elements() + pin.elements()) * 2;
      if (l.prepool == Layer::Prepool::kAvg2)
        steps_.push_back({i, l.name + "/avgpool2", "avgpool2_half", bytes, 0,
                          [=](cudaStream_t st) { avgpool2_half(src, n, in.h, in.w, in.c, pooled, st); }});
      else
        steps_.push_back({i, l.name + "/global_avg", "global_avg_half", bytes, 0,
                          [=](cudaStream_t st) { global_avg_half(src, n, in.h * in.w, in.c, pooled, st); }});
      src = pooled;
    }
    const LayerWeights& lw = w.layers[i];
    if (l.op == Op::kFc) {
      const int k_in = static_cast<int>(sh.dot_bits), k_out = l.out;
      std::vector<float> wt(size_t(k_in) * k_out);
      for (int k = 0; k < k_out; ++k)
        for (int e = 0; e < k_in; ++e) wt[size_t(e) * k_out + k] = lw.wf[size_t(k) * k_in + e];
      const float* d_bias = im.upload(lw.bias, total);
      float* lg = im.logits;
      const double ops = 2.0 * double(n) * k_in * k_out;
      if (want_cublas) {
        std::vector<uint16_t> wt_half(wt.size());
        for (size_t e = 0; e < wt.size(); ++e) wt_half[e] = float_to_half_bits(wt[e]);
        const uint16_t* d_wt = im.upload(wt_half, total);
        float* acc = im.alloc<float>(int64_t(n) * k_out, total);
        im.cublas_fcs.push_back(std::make_unique<cublas::FcHalf>(n, k_in, k_out, src, d_wt, acc));
        const cublas::FcHalf* f = im.cublas_fcs.back().get();
        total += int64_t(f->device_bytes());
        steps_.push_back({i, l.name, "fc_cublas",
                          double(n) * k_in * 2 + double(wt.size()) * 2 + double(n) * k_out * 12, ops,
                          [=](cudaStream_t st) {
                            f->run(st);
                            bias_logits(acc, n, k_out, d_bias, lg, st);
                          }});
        layer_designs_[i] = "fc_cublas (fp16 GEMM, fp32 accumulation) + bias_logits -> float";
        reordered_[i] = true;
        return true;
      }
      const float* d_wt = im.upload(wt, total);
      steps_.push_back({i, l.name, "fc_half", double(n) * k_in * 2 + double(wt.size()) * 4 + double(n) * k_out * 4, ops,
                        [=](cudaStream_t st) { fc_half(src, n, k_in, k_out, d_wt, d_bias, lg, st); }});
      layer_designs_[i] = "fc_half (fp32 accumulation, CUDA cores) -> float";
      return true;
    }
    // KRSC weights with the input's channel count (the image's padded ones
    // 0), or rearranged for the space-to-depth input.
    std::vector<float> wf = lw.wf;
    if (s2d.on) {
      const int c0 = m.input.c, r0 = l.kernel, rk = s2d.kernel;
      wf.assign(size_t(l.out) * rk * rk * 16, 0.0f);
      for (int k = 0; k < l.out; ++k)
        for (int rb = 0; rb < rk; ++rb)
          for (int sb = 0; sb < rk; ++sb)
            for (int sub = 0; sub < 4; ++sub) {
              const int r = 2 * rb + sub / 2 - s2d.shift, t = 2 * sb + sub % 2 - s2d.shift;
              if (r < 0 || r >= r0 || t < 0 || t >= r0) continue;
              for (int c = 0; c < c0; ++c)
                wf[((size_t(k) * rk + rb) * rk + sb) * 16 + size_t(sub) * c0 + c] =
                    lw.wf[((size_t(k) * r0 + r) * r0 + t) * c0 + c];
            }
    } else if (pin.c != sh.pooled_in.c) {
      const int c0 = sh.pooled_in.c, taps = l.out * l.kernel * l.kernel;
      wf.assign(size_t(taps) * pin.c, 0.0f);
      for (int t = 0; t < taps; ++t)
        std::copy(&lw.wf[size_t(t) * c0], &lw.wf[size_t(t) * c0] + c0, &wf[size_t(t) * pin.c]);
    }
    const AffineLayer af = fold_affine(m, w, i);
    const float* scale = im.upload(af.scale, total);
    const float* shift = im.upload(af.shift, total);
    const __half* shortcut = l.shortcut.empty() ? nullptr : im.half[m.index_of(l.shortcut)];
    im.half[i] = im.alloc<__half>(int64_t(n) * sh.out.elements(), total);
    const int64_t rows = int64_t(n) * sh.conv_out.h * sh.conv_out.w;
    const double conv_out = double(rows) * l.out;
    if (on_tc[i]) {  // conv, BN, ReLU and max-pool in one kernel; the weights as they are (k, r, s, c)
      std::vector<uint16_t> wh(lw.wf.size());
      for (size_t e = 0; e < wh.size(); ++e) wh[e] = float_to_half_bits(lw.wf[e]);
      StemTcArgs a;
      a.x = src;
      a.w = reinterpret_cast<const __half*>(im.upload(wh, total));
      a.scale = scale, a.shift = shift, a.relu = l.relu, a.pool = l.maxpool3;
      a.out = im.half[i];
      a.bits = bits_read[i] || o_.keep_outputs ? im.act[i] : nullptr;
      a.n = n, a.h = m.input.h, a.wd = m.input.w, a.c = m.input.c, a.xc = in.c;
      a.k = l.out, a.r = l.kernel, a.stride = l.stride, a.pad = l.pad;
      if (const std::string why = stem_tc_unsupported(a); !why.empty())
        throw std::logic_error(l.name + ": conv_tc refused what its shape check took: " + why);
      const double out_elements = double(n) * double(sh.out.elements());
      steps_.push_back({i, l.name, "conv_tc",
                        double(n) * double(in.elements()) * 2 + double(wh.size()) * 2 +
                            out_elements * (a.bits ? 2.125 : 2),
                        2.0 * conv_out * double(sh.dot_bits), [=](cudaStream_t st) { stem_tc(a, st); }});
      layer_designs_[i] = std::string("conv_tc (mma.sync f16, fp32 accumulation) -> fp16") + (a.bits ? " + bits" : "") +
                          " (BN" + (l.relu ? ", ReLU" : "") + (l.maxpool3 ? ", maxpool3" : "") + " fused)";
      reordered_[i] = true;
      return true;
    }
    __half* y = l.maxpool3 ? im.alloc<__half>(int64_t(conv_out), total) : im.half[i];
    // The pool writes the bits; without one the conv's kernel or a signs step does.
    uint32_t* bits = l.maxpool3 ? nullptr : im.act[i];
    const double in_bytes = double(n) * double(pin.elements()) * 2 + (shortcut ? conv_out * 2 : 0);
    const double ops = 2.0 * conv_out * double(sh.dot_bits);
    std::string why_not_cudnn;
    if (want_cudnn) {
      cudnn::ConvHalfProblem p;
      p.n = n, p.h = pin.h, p.w = pin.w, p.c = pin.c, p.k = l.out, p.r = l.kernel, p.stride = l.stride, p.pad = l.pad;
      if (s2d.on) p.r = s2d.kernel, p.stride = 1, p.pad = s2d.pad, p.pad_after = s2d.pad_after;
      p.shortcut = shortcut != nullptr, p.relu = l.relu;
      std::vector<uint16_t> wh(wf.size());
      for (size_t e = 0; e < wf.size(); ++e) wh[e] = float_to_half_bits(wf[e]);
      cudnn::ConvHalfBuffers b;
      b.x = src, b.w = im.upload(wh, total), b.scale = scale, b.shift = shift, b.shortcut = shortcut, b.y = y;
      // The unfused path's epilogue (it competes with the fused graph); it
      // writes the bits where they are wanted, as the fused path's signs step.
      const int k = l.out;
      const bool relu = l.relu;
      uint32_t* epilogue_bits = bits != nullptr && (bits_read[i] || o_.keep_outputs) ? bits : nullptr;
      auto epilogue = [=](const float* acc, cudaStream_t st) {
        affine_half(acc, rows, k, scale, shift, shortcut, relu, y, epilogue_bits, st);
      };
      try {
        im.cudnn_convs.push_back(std::make_unique<cudnn::ConvHalf>(p, b, epilogue, s_));
      } catch (const std::invalid_argument& e) {
        if (s2d.on) {  // the plain image then (this try's buffers stay allocated, unused)
          if (s2d_step != SIZE_MAX) {
            steps_.erase(steps_.begin() + static_cast<std::ptrdiff_t>(s2d_step));
            im.image_s2d = nullptr;
          }
          return false;
        }
        if (wish.conv == "conv_cudnn") throw std::invalid_argument(l.name + ": " + e.what());
        why_not_cudnn = e.what();
      }
    }
    if (want_cudnn && why_not_cudnn.empty()) {
      const cudnn::ConvHalf* c = im.cudnn_convs.back().get();
      total += int64_t(c->device_bytes());
      steps_.push_back({i, l.name, "conv_cudnn",
                        in_bytes + double(wf.size()) * 2 + conv_out * (c->fused() ? 2 : 2 + 8), ops,
                        [=](cudaStream_t st) { c->run(st); }});
      layer_designs_[i] = std::string("conv_cudnn (") + (s2d.on ? "space-to-depth, " : "") + c->algorithm() + ") -> fp16" +
                          (c->fused() ? "" : " (unfused: conv -> fp32, affine_half)");
      reordered_[i] = true;
      if (c->fused() && bits != nullptr && (bits_read[i] || o_.keep_outputs)) {
        const int k = l.out;
        steps_.push_back({i, l.name + "/signs", "half_signs", conv_out * 2.125, 0,
                          [=](cudaStream_t st) { half_signs(y, rows, k, bits, st); }});
        layer_designs_[i] += " + half_signs";
      }
    } else {
      if (conv_half_smem_bytes(l.kernel, pin.c) > 227 * 1024)
        throw std::invalid_argument(l.name + ": conv_half holds a tap of 32 filters in shared memory: " +
                                    std::to_string(conv_half_smem_bytes(l.kernel, pin.c)) + " bytes is past 227 KiB");
      ConvHalfArgs a;
      a.x = src;
      a.w = im.upload(wf, total);
      a.scale = scale, a.shift = shift, a.shortcut = shortcut, a.relu = l.relu;
      a.n = n, a.h = pin.h, a.wd = pin.w, a.c = pin.c, a.k = l.out, a.r = l.kernel, a.stride = l.stride, a.pad = l.pad;
      a.p = sh.conv_out.h, a.q = sh.conv_out.w;
      a.y = y;
      a.bits = bits;
      steps_.push_back({i, l.name, "conv_half", in_bytes + double(wf.size()) * 4 + conv_out * 2.125, ops,
                        [=](cudaStream_t st) { conv_half(a, st); }});
      layer_designs_[i] = "conv_half (fp32 accumulation, CUDA cores) -> fp16";
      if (!why_not_cudnn.empty()) layer_designs_[i] += " [cuDNN refused: " + why_not_cudnn + "]";
    }
    if (l.maxpool3) {
      __half* out = im.half[i];
      uint32_t* pool_bits = im.act[i];
      const Shape co = sh.conv_out, po = sh.out;
      steps_.push_back({i, l.name + "/maxpool3", "maxpool3_half", conv_out * 2 + double(n) * double(po.elements()) * 2.125, 0,
                        [=](cudaStream_t st) { maxpool3_half(y, n, co.h, co.w, co.c, po.h, po.w, out, pool_bits, st); }});
      layer_designs_[i] += " + maxpool3_half";
    }
    return true;
  };
  auto plan_real = [&](int i) {
    if (!plan_real_once(i, true)) plan_real_once(i, false);
  };

  // Steps. The stem's quantized image is shared by every stem.
  int8_t* quantized = nullptr;
  const int cp = (m.input.c + 3) / 4 * 4;
  for (size_t i = 0; i < L; ++i) {
    const Layer& l = m.layers[i];
    const LayerShapes& sh = m.shapes[i];
    const int64_t rows_out = int64_t(n) * sh.conv_out.h * sh.conv_out.w;  // before the pool
    if (l.op == Op::kConv || l.op == Op::kFc) {
      plan_real(static_cast<int>(i));
      continue;
    }
    // Bit layers: the folded batch norm (a half bconv: its affine).
    const int32_t* d_thr = nullptr;
    const uint32_t* d_flip = nullptr;
    if (!l.half_out) {
      const FoldedLayer f = fold_layer(m, w, static_cast<int>(i));
      std::vector<uint32_t> flip_words((l.out + 31) / 32, 0);
      for (int k = 0; k < l.out; ++k)
        if (f.flip[k]) flip_words[k / 32] |= 1u << (k % 32);
      d_thr = im.upload(f.threshold, total);
      d_flip = im.upload(flip_words, total);
    }
    // A Bi-Real bconv: BN(z) + the fp16 shortcut, and its bits, in the
    // design's epilogue where it writes kHalf (no int32 z in memory), else in
    // a step of its own after z.
    const float* half_scale = nullptr;
    const float* half_shift = nullptr;
    const __half* half_shortcut = nullptr;
    if (l.half_out) {
      const AffineLayer af = fold_affine(m, w, static_cast<int>(i));
      half_scale = im.upload(af.scale, total);
      half_shift = im.upload(af.shift, total);
      im.half[i] = im.alloc<__half>(rows_out * l.out, total);
      if (!l.shortcut.empty()) half_shortcut = im.half[m.index_of(l.shortcut)];
    }
    const bool fused_half = l.half_out && l.op == Op::kBconv && !l.maxpool2 && l.out % 32 == 0 &&
                            l.add.empty() && l.save.empty() && conv_design[i]->writes_half();
    // The stem thresholds in its own kernel; it writes y only when kept.
    const bool stem_y = l.op == Op::kStem && (!l.save.empty() || o_.keep_outputs);
    const bool int_path = writes_int32(l) && !fused_half;
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
      im.conv[i] = {d, p, in};
      const bmm::Output out =
          fused_half ? half_output(im.half[i], half_shortcut, half_scale, half_shift, bits_out, bconv::output_bits_shape(p))
          : int_path ? int32_output(im.y[i])
                     : bits_output(bits_out, bconv::output_bits_shape(p), d_thr, d_flip);
      const double in_bytes = double(bconv::activation_shape(p).bytes()) + double(bconv::weight_shape(p).bytes());
      const double out_bytes = fused_half ? double(rows_out) * l.out * (2 + (half_shortcut ? 2 : 0)) + out_bytes_bits
                               : int_path ? double(rows_out) * l.out * 4
                                          : out_bytes_bits;
      steps_.push_back({int(i), l.name, d->name(), in_bytes + out_bytes, p.ops(),
                        [=](cudaStream_t st) { d->run(p, in, out, ws, st); }});
      layer_designs_[i] = d->name() + (fused_half ? " -> fp16 + bits (BN + shortcut fused)"
                                       : int_path ? " -> int32"
                                                  : " -> bits (fused)");
      if (conv_selection_batch[i] > 0)
        layer_designs_[i] += " (the selection's, batch " + std::to_string(conv_selection_batch[i]) + ")";
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
      if (fc_selection_m[i] > 0) layer_designs_[i] += " (the selection's, M " + std::to_string(fc_selection_m[i]) + ")";
    }

    if (l.half_out && !fused_half) {  // BN(z) + the fp16 shortcut, and its bits, after z
      const float* scale = half_scale;
      const float* shift = half_shift;
      const __half* sc = half_shortcut;
      const int32_t* z = im.y[i];
      __half* hy = im.half[i];
      uint32_t* bits = im.act[i];
      const int k = l.out;
      steps_.push_back({int(i), l.name + "/bn_shortcut", "bn_shortcut_half",
                        double(rows_out) * k * (4 + 2 + (sc ? 2 : 0)) + out_bytes_bits, 0,
                        [=](cudaStream_t st) { bn_shortcut_half(z, rows_out, k, scale, shift, sc, hy, bits, st); }});
      layer_designs_[i] += " + bn_shortcut_half (fp16)";
    } else if (l.float_out) {
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
      if (!t.write_y && t.res) {
        ThresholdArgs keep = t;
        keep.write_y = true;
        im.threshold_keeping_y[i] = [=](cudaStream_t st) { residual_threshold(keep, st); };
      }
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
  if (impl_->observed_graph) cudaGraphExecDestroy(impl_->observed_graph);
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
    if (im.half[i])
      BTC_CUDA_CHECK(cudaMemsetAsync(im.half[i], byte, size_t(o_.batch) * m_.shapes[i].out.elements() * 2, s_));
  }
  BTC_CUDA_CHECK(cudaMemsetAsync(im.logits, byte, size_t(o_.batch) * m_.classes * sizeof(float), s_));
}

void Runner::launch(const std::vector<Step>& steps) {
  for (const Step& st : steps) st.launch(s_);
}

bool Runner::observe_this_forward() { return observer_ != nullptr && observer_->begin_batch(forwards_); }

void Runner::forward() {
  if (observe_this_forward()) {
    launch(observed_steps_);
    observer_->end_batch(forwards_, s_);
  } else {
    launch(steps_);
  }
  ++forwards_;
}

namespace {
cudaGraphExec_t capture(const std::function<void()>& enqueue, cudaStream_t s) {
  cudaGraph_t g = nullptr;
  BTC_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  try {
    enqueue();
  } catch (...) {
    cudaStreamEndCapture(s, &g);
    if (g) cudaGraphDestroy(g);
    throw;
  }
  BTC_CUDA_CHECK(cudaStreamEndCapture(s, &g));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
  cudaGraphDestroy(g);
  BTC_CUDA_CHECK(e);
  return exec;
}
}  // namespace

void Runner::capture_graph() {
  if (impl_->graph) return;
  impl_->graph = capture([&] { launch(steps_); }, s_);
  if (observer_) impl_->observed_graph = capture([&] { launch(observed_steps_); }, s_);
}

void Runner::replay() {
  if (!impl_->graph) throw std::logic_error("replay before capture_graph");
  if (observe_this_forward()) {
    BTC_CUDA_CHECK(cudaGraphLaunch(impl_->observed_graph, s_));
    observer_->end_batch(forwards_, s_);
  } else {
    BTC_CUDA_CHECK(cudaGraphLaunch(impl_->graph, s_));
  }
  ++forwards_;
}

LayerTaps Runner::taps_of(int i) const {
  const Impl& im = *impl_;
  const Layer& l = m_.layers[i];
  const LayerShapes& sh = m_.shapes[i];
  LayerTaps t;
  auto bits_tap = [&](int j, const Shape& s) {
    Tap b;
    b.format = TapFormat::kBits;
    b.base = im.act[j];
    b.h = s.h, b.w = s.w, b.c = s.c;
    b.kwords = im.act_shape[j].kwords();
    b.image_bytes = int64_t(s.h) * s.w * b.kwords * 4;
    return b;
  };
  auto half_tap = [&](const __half* p, const Shape& s) {
    Tap h;
    h.format = TapFormat::kHalf;
    h.base = p;
    h.h = s.h, h.w = s.w, h.c = s.c;
    h.image_bytes = s.elements() * 2;
    return h;
  };
  const bool real_op = l.op == Op::kConv || l.op == Op::kFc;
  Tap& in = t.tap[int(TapKind::kInput)];
  if (real_op && l.input != "input") {
    const int j = m_.index_of(l.input);
    in = half_tap(im.half[j], m_.shapes[j].out);
  } else if (l.input == "input") {
    in.format = TapFormat::kImageNchw;
    in.base = im.images;
    in.h = m_.input.h, in.w = m_.input.w, in.c = m_.input.c;
    in.image_bytes = m_.input.elements() * 4;
  } else {
    const int j = m_.index_of(l.input);
    in = bits_tap(j, m_.shapes[j].out);
  }
  Tap& pre = t.tap[int(TapKind::kPre)];
  pre.format = TapFormat::kInt32;
  pre.h = sh.conv_out.h, pre.w = sh.conv_out.w, pre.c = sh.conv_out.c;
  pre.image_bytes = sh.conv_out.elements() * 4;
  pre.base = im.y[i];
  // A fused layer has no y: a bconv's can be made for the observer (one
  // image at a time, the observed graph only); a stem's or a bfc's cannot.
  if (pre.base == nullptr && im.conv[i].design == nullptr) pre.format = TapFormat::kNone;
  Tap& out = t.tap[int(TapKind::kOutput)];
  if (l.float_out) {
    out.format = TapFormat::kFloat32;
    out.base = im.logits;
    out.c = m_.classes;
    out.image_bytes = int64_t(m_.classes) * 4;
  } else if (im.half[i] != nullptr) {
    out = half_tap(im.half[i], sh.out);
  } else {
    out = bits_tap(i, sh.out);
  }
  return t;
}

void Runner::attach(LayerObserver* observer) {
  if (observer_) throw std::logic_error("Runner::attach: an observer is attached already");
  if (impl_->graph) throw std::logic_error("Runner::attach after capture_graph");
  Impl& im = *impl_;
  const size_t L = m_.layers.size();
  std::vector<LayerTaps> taps(L);
  for (size_t i = 0; i < L; ++i) taps[i] = taps_of(int(i));
  const std::vector<std::vector<TapKind>> wanted = observer->plan(taps);
  if (wanted.size() != L) throw std::logic_error("LayerObserver::plan: one entry per layer expected");
  const std::vector<int> images = observer->images();
  for (int b : images)
    if (b < 0 || b >= o_.batch)
      throw std::invalid_argument("observed image " + std::to_string(b) + " is outside the batch of " +
                                  std::to_string(o_.batch));

  // Reruns for fused bconvs whose pre-activation the observer wants: the
  // layer's design at batch 1 on each observed image, int32 out.
  std::vector<int64_t> pre_offset(L, -1);
  int64_t pre_ints = 0;
  for (size_t i = 0; i < L; ++i) {
    const bool wants_pre = std::find(wanted[i].begin(), wanted[i].end(), TapKind::kPre) != wanted[i].end();
    if (!wants_pre || im.y[i] != nullptr) continue;
    if (im.conv[i].design == nullptr)
      throw std::invalid_argument("layer " + m_.layers[i].name + ": its pre-activation is not available (fused)");
    pre_offset[i] = pre_ints;
    pre_ints += int64_t(images.size()) * m_.shapes[i].conv_out.elements();
  }
  if (pre_ints > 0) im.observed_pre = im.alloc<int32_t>(pre_ints, device_bytes_);

  observed_steps_.clear();
  int last_layer = -1;
  auto close_layer = [&](int i) {
    if (i < 0) return;
    LayerTaps t = taps[i];
    if (pre_offset[i] >= 0) {
      const Impl::ConvPlan& c = im.conv[i];
      bconv::Problem p1 = c.problem;
      p1.n = 1;
      void* ws = im.alloc<uint8_t>(int64_t(c.design->workspace_bytes(p1)), device_bytes_);
      c.design->prepare(p1, c.in, ws, s_);
      const int64_t in_words = int64_t(c.problem.h) * c.problem.w * bconv::activation_shape(c.problem).kwords();
      const int64_t out_ints = m_.shapes[i].conv_out.elements();
      for (size_t k = 0; k < images.size(); ++k) {
        bconv::Operands in1 = c.in;
        in1.x = c.in.x + images[k] * in_words;
        const bmm::Output out = int32_output(im.observed_pre + pre_offset[i] + int64_t(k) * out_ints);
        const bconv::Design* d = c.design;
        observed_steps_.push_back({i, m_.layers[i].name + "/observed_pre", d->name(), 0, 0,
                                   [=](cudaStream_t st) { d->run(p1, in1, out, ws, st); }});
      }
      Tap& pre = t.tap[int(TapKind::kPre)];
      pre.base = im.observed_pre + pre_offset[i];
      pre.per_observed_image = true;
    }
    LayerObserver* o = observer;
    observed_steps_.push_back({i, m_.layers[i].name + "/observe", "observer", 0, 0,
                               [=](cudaStream_t st) { o->record_layer(i, t, st); }});
  };
  auto wants = [&](int i, TapKind k) { return std::find(wanted[i].begin(), wanted[i].end(), k) != wanted[i].end(); };
  for (const Step& st : steps_) {
    if (st.layer != last_layer && st.layer >= 0) {
      close_layer(last_layer);
      last_layer = st.layer;
    }
    observed_steps_.push_back(st);
    if (st.layer >= 0 && st.name == m_.layers[st.layer].name + "/threshold" && im.threshold_keeping_y[st.layer] &&
        wants(st.layer, TapKind::kPre))
      observed_steps_.back().launch = im.threshold_keeping_y[st.layer];
  }
  close_layer(last_layer);
  BTC_CUDA_CHECK(cudaStreamSynchronize(s_));
  observer_ = observer;
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

std::vector<float> Runner::layer_half(int i) {
  const __half* h = impl_->half.at(i);
  if (h == nullptr) return {};
  std::vector<uint16_t> raw(size_t(o_.batch) * m_.shapes[i].out.elements());
  BTC_CUDA_CHECK(cudaMemcpyAsync(raw.data(), h, raw.size() * 2, cudaMemcpyDeviceToHost, s_));
  sync();
  std::vector<float> out(raw.size());
  for (size_t e = 0; e < raw.size(); ++e) out[e] = half_bits_to_float(raw[e]);
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
