// A network as data: a model file (models/<name>.model, docs/models.md) with
// one row per layer, parsed into this description. Nothing per network lives
// in C++. Pure C++ (no CUDA), so CI tests the parser and the shape rules.
//
// The value semantics every implementation computes (the CPU reference
// net/reference.h, the GPU runner net/runner.h, the PyTorch module
// analysis/net_torch.py):
//   - Activations are +-1 bits (bit 1 = +1), NHWC, C packed 32 per word.
//   - stem: the image (fp32) quantized to int8, q = clamp(rint(x / input_scale),
//     -127, 127) (ties to even), convolved with +-1 weights into an exact
//     int32 z (zero padding); so the first layer is integer-exact too.
//   - bconv: a binary convolution with exact zero padding: z in [-K, K].
//   - bfc: a binary fully connected layer on the flattened (h, w, c) bits.
//   - add=R[:pool2]: y = z + R, R an earlier layer's saved y (int32 NHWC);
//     :pool2 takes R's 2x2 max (stride 2); channels past R's count add 0.
//   - save=R: keeps y (int32) for a later add.
//   - the output: bits = sign(BN(y)) (bconv::fold_batch_norm's exact integer
//     threshold, flipped for negative gamma), or, with out=float (the last
//     bfc), the fp32 logits BN(y) as bconv::batch_norm_f32 evaluates it.
//   - pool=max2: a 2x2 stride-2 max-pool of the output bits (OR of +-1).
// The half-precision ops (Bi-Real / ReActNet networks; docs/models.md
// "Half-precision layers" has every rounding step):
//   - half(x): IEEE fp16, round to nearest even, of an fp32 x. A half
//     layer's output is fp16 NHWC, and its bits are (v >= 0) of those values.
//   - conv: a real-valued convolution of half inputs (the image rounded to
//     half, or a half layer) and half weights, fp32 accumulation in the fixed
//     order r, s, c (fmaf), then y = half(fmaf(scale, acc, shift)) with the
//     batch norm as one per-channel affine (net::fold_affine). Options
//     prepool=avg2 (the input's 2x2 average first) and pool=max3 (a 3x3
//     stride-2 pad-1 max-pool of y), shortcut=L (y = half(fmaf(scale, acc,
//     shift) + L's value), as a bconv's) and act=relu (y = y > 0 ? y : +0,
//     after the shortcut, before the pool: torchvision's ResNet block).
//   - bconv out=half: z as for any bconv (its input: a layer's bits), then
//     y = half(fmaf(scale, z, shift) + shortcut), shortcut=L the half output
//     of layer L (0 without it).
//   - fc: a real-valued fully connected layer on a half layer (prepool=avg:
//     its global average first), y = half(acc + bias); out=float.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace btc::net {

struct ModelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Op { kStem, kBconv, kBfc, kConv, kFc };
const char* op_name(Op op);

// Padding value of out-of-image taps of a bconv (the stem always pads with 0).
enum class Pad { kZero, kPlusOne, kMinusOne };

struct Layer {
  std::string name;
  Op op = Op::kBconv;
  std::string input;  // "input" (the image) or an earlier layer's name
  int out = 0;        // output channels (stem, bconv) or features (bfc)
  int kernel = 1, stride = 1, pad = 0;  // stem, bconv: square filters
  Pad pad_value = Pad::kZero;
  std::string add;    // residual added before the threshold ("" = none)
  bool add_pool2 = false;
  std::string save;   // residual name this layer's y is kept under
  bool maxpool2 = false;
  bool float_out = false;  // bfc, fc: fp32 logits instead of bits
  // Half-precision layers (conv and fc always; bconv with out=half).
  bool half_out = false;   // y is fp16 (its bits: v >= 0)
  std::string shortcut;    // bconv out=half, conv: the half layer added to BN(z) / BN(acc)
  enum class Prepool { kNone, kAvg2, kGlobalAvg };
  Prepool prepool = Prepool::kNone;  // conv: prepool=avg2; fc: prepool=avg
  bool maxpool3 = false;   // conv: pool=max3 (3x3, stride 2, pad 1)
  bool relu = false;       // conv: act=relu (after the shortcut add, before the pool)
  int line = 0;            // in the model file, for messages
};

// One image's tensor: H x W x C (a bfc's output is 1 x 1 x out).
struct Shape {
  int h = 1, w = 1, c = 1;
  int64_t elements() const { return static_cast<int64_t>(h) * w * c; }
  bool operator==(const Shape& o) const { return h == o.h && w == o.w && c == o.c; }
};

// What a layer reads and writes, per image, derived from the rows.
struct LayerShapes {
  Shape in;         // the input tensor (the image for a stem or a bfc on "input")
  Shape pooled_in;  // what the dot product reads: `in` after any prepool (= in without one)
  Shape conv_out;   // P x Q x out before the max-pool (bfc: 1 x 1 x out)
  Shape out;        // after the max-pool
  int64_t dot_bits = 0;   // K of the dot product: kernel^2 * C, or h*w*c for a bfc
  // |y| never exceeds this: |z| (K, or K * 127 for the stem) plus the bound
  // of an added residual. The threshold search and the integer widths use it.
  int64_t value_bound = 0;
  Shape residual;   // add: the saved tensor read (before its :pool2)
};

struct Model {
  std::string name, description;
  Shape input;               // one image, H x W x C (the file says C H W)
  float input_scale = 1.0f / 64;  // stem quantization step
  int batch = 1;             // the default batch (the paper's)
  int classes = 0;           // the last layer's outputs
  float bn_eps = 1e-5f;
  std::vector<Layer> layers;
  std::vector<LayerShapes> shapes;  // one per layer, filled by the parser

  const Layer* find(const std::string& layer_name) const;
  int index_of(const std::string& layer_name) const;  // -1 if none
  // The layer whose save= is `residual`, -1 if none.
  int saver_of(const std::string& residual) const;
  // Binary operations per image: 2 K * outputs summed over bconv and bfc
  // layers (the TOPS convention), and the stem's int8 MACs.
  double binary_ops_per_image() const;
  double stem_macs_per_image() const;
  // Real-valued MACs per image of the conv and fc layers.
  double real_macs_per_image() const;
};

// Parses a model file's text; `source` names it in messages. Throws
// ModelError("<source>:<line>: <what>") on any unknown keyword, op, option,
// bad number, missing or forward reference, or shape that does not work out
// (e.g. a residual whose size does not match, a bconv C not a multiple of 32).
Model parse_model(const std::string& text, const std::string& source);

// A model by path (anything with a '/' or ending in .model) or by name from
// `models_dir` (models/<name>.model). ModelError names what was tried.
Model load_model(const std::string& name_or_path, const std::string& models_dir);

// The model names in models_dir, sorted.
std::vector<std::string> model_names(const std::string& models_dir);

}  // namespace btc::net
