// The model files (models/*.model, docs/models.md): every shipped model parses
// with the shapes its source network has, and every malformed file is refused
// with file:line and the fact that is wrong.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "harness/suites/bmm_network_shapes.h"
#include "net/model.h"

namespace btc::net {
namespace {

const std::string kModels = std::string(BTC_SOURCE_DIR) + "/models";

Model load(const std::string& name) { return load_model(name, kModels); }

const LayerShapes& shapes_of(const Model& m, const std::string& layer) {
  const int i = m.index_of(layer);
  EXPECT_GE(i, 0) << layer;
  return m.shapes.at(static_cast<size_t>(i));
}

// The message of the ModelError that parsing `text` as "t.model" throws, or "".
std::string error_of(const std::string& text) {
  try {
    parse_model(text, "t.model");
  } catch (const ModelError& e) {
    return e.what();
  }
  ADD_FAILURE() << "parsed without an error:\n" << text;
  return "";
}

// The message starts with t.model:<line>: and names `fact`.
void expect_error(const std::string& text, int line, const std::string& fact) {
  const std::string msg = error_of(text);
  const std::string where = "t.model:" + std::to_string(line) + ": ";
  EXPECT_EQ(msg.rfind(where, 0), 0u) << "want " << where << " in: " << msg;
  EXPECT_NE(msg.find(fact), std::string::npos) << "want '" << fact << "' in: " << msg;
}

// Lines 1-2; a valid head for the rows that follow (line 3 on).
const std::string kHead = "model t\ninput 3 8 8\n";
const std::string kLogits = "fc bfc c1 10 - - - out=float\n";

TEST(NetModel, EveryShippedModelParses) {
  const auto names = model_names(kModels);
  const std::vector<std::string> want = {"alexnet",        "cifar10-resnet14", "cifar10-vgg", "mnist-mlp",
                                         "resnet18-bireal", "resnet18-fp16",    "resnet18-tcbnn", "tiny-bireal",
                                         "tiny-resnet",    "vgg16"};
  EXPECT_EQ(names, want);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    Model m;
    ASSERT_NO_THROW(m = load(name));
    EXPECT_EQ(m.name, name);
    EXPECT_FALSE(m.description.empty());
    ASSERT_EQ(m.shapes.size(), m.layers.size());
    EXPECT_TRUE(m.layers.back().float_out);
    EXPECT_EQ(m.classes, m.layers.back().out);
    for (size_t i = 0; i < m.layers.size(); ++i) {
      EXPECT_GT(m.shapes[i].dot_bits, 0) << m.layers[i].name;
      const bool real = m.layers[i].op == Op::kConv || m.layers[i].op == Op::kFc;  // no integer bound
      EXPECT_EQ(m.shapes[i].value_bound >= m.shapes[i].dot_bits, !real) << m.layers[i].name;
    }
  }
}

// The bmm sweep's network FC table (harness/suites/bmm_network_shapes.h) is
// every bfc of the shipped models (the tiny test models aside), with its N,
// K and the model's batch, and nothing else.
TEST(NetModel, BmmSweepHasEveryShippedBinaryFc) {
  std::vector<std::string> in_models, in_table;
  for (const auto& name : model_names(kModels)) {
    if (name.rfind("tiny-", 0) == 0) continue;
    const Model m = load(name);
    for (size_t i = 0; i < m.layers.size(); ++i)
      if (m.layers[i].op == Op::kBfc)
        in_models.push_back(name + "/" + m.layers[i].name + " " + std::to_string(m.layers[i].out) + "x" +
                            std::to_string(m.shapes[i].dot_bits) + " batch " + std::to_string(m.batch));
  }
  for (const auto& fc : bmm_sweep::kNetworkFcs)
    in_table.push_back(std::string(fc.model) + "/" + fc.layer + " " + std::to_string(fc.n) + "x" +
                       std::to_string(fc.k) + " batch " + std::to_string(fc.batch));
  std::sort(in_models.begin(), in_models.end());
  std::sort(in_table.begin(), in_table.end());
  EXPECT_EQ(in_table, in_models);
}

TEST(NetModel, Resnet18Shapes) {
  const Model m = load("resnet18-tcbnn");
  EXPECT_EQ(m.input, (Shape{224, 224, 3}));
  EXPECT_EQ(m.batch, 512);
  EXPECT_FLOAT_EQ(m.input_scale, 1.0f / 64);
  EXPECT_EQ(m.classes, 1000);
  ASSERT_EQ(m.layers.size(), 19u);  // stem, 16 binary convs, 2 binary FCs
  const LayerShapes& conv1 = shapes_of(m, "conv1");
  EXPECT_EQ(conv1.conv_out, (Shape{56, 56, 64}));  // (224 + 2*3 - 7) / 4 + 1
  EXPECT_EQ(conv1.dot_bits, 7 * 7 * 3);
  EXPECT_EQ(conv1.value_bound, 7 * 7 * 3 * 127);
  EXPECT_EQ(shapes_of(m, "l1b1b").value_bound, 3 * 3 * 64 + 7 * 7 * 3 * 127);  // z plus the stem's y
  EXPECT_EQ(shapes_of(m, "l2b1a").conv_out, (Shape{28, 28, 128}));
  EXPECT_EQ(shapes_of(m, "l2b1b").residual, (Shape{56, 56, 64}));  // before :pool2, 64 of 128 channels
  EXPECT_EQ(shapes_of(m, "l4b2b").conv_out, (Shape{7, 7, 512}));
  EXPECT_EQ(shapes_of(m, "l4b2b").dot_bits, 3 * 3 * 512);
  EXPECT_EQ(shapes_of(m, "fc1").dot_bits, 25088);
  EXPECT_EQ(shapes_of(m, "fc1").out, (Shape{1, 1, 512}));
  EXPECT_EQ(shapes_of(m, "fc2").dot_bits, 512);
}

TEST(NetModel, Resnet18Operations) {
  const Model m = load("resnet18-tcbnn");
  // Binary MACs, per stage: the stage-entry conv reads the previous width.
  const double conv_macs = 4.0 * (3 * 3 * 64) * (56 * 56 * 64) +
                           (3.0 * 3 * 64 + 3 * (3.0 * 3 * 128)) * (28 * 28 * 128) +
                           (3.0 * 3 * 128 + 3 * (3.0 * 3 * 256)) * (14 * 14 * 256) +
                           (3.0 * 3 * 256 + 3 * (3.0 * 3 * 512)) * (7 * 7 * 512);
  const double fc_macs = 25088.0 * 512 + 512.0 * 1000;
  EXPECT_EQ(conv_macs, 1676279808.0);  // tcbnn-sbnn-facts: 1.676 G
  EXPECT_EQ(fc_macs, 13357056.0);      // and 13.4 M
  EXPECT_EQ(m.binary_ops_per_image(), 2 * (conv_macs + fc_macs));
  EXPECT_EQ(m.binary_ops_per_image(), 3379273728.0);
  EXPECT_NEAR(m.binary_ops_per_image(), 3.38e9, 0.01 * 3.38e9);
  EXPECT_EQ(m.stem_macs_per_image(), 147.0 * 56 * 56 * 64);  // 29.5 M
}

TEST(NetModel, OtherShippedShapes) {
  const Model alex = load("alexnet");
  EXPECT_EQ(shapes_of(alex, "conv1").conv_out, (Shape{55, 55, 64}));
  EXPECT_EQ(shapes_of(alex, "conv1").out, (Shape{27, 27, 64}));
  EXPECT_EQ(shapes_of(alex, "conv5").out, (Shape{6, 6, 256}));
  EXPECT_EQ(shapes_of(alex, "fc1").dot_bits, 9216);
  const Model vgg = load("vgg16");
  EXPECT_EQ(shapes_of(vgg, "conv13").out, (Shape{7, 7, 512}));
  EXPECT_EQ(shapes_of(vgg, "fc1").dot_bits, 25088);
  EXPECT_EQ(shapes_of(load("cifar10-vgg"), "fc1").dot_bits, 4 * 4 * 512);
  const Model r14 = load("cifar10-resnet14");
  EXPECT_EQ(shapes_of(r14, "l3b2b").conv_out, (Shape{8, 8, 512}));
  EXPECT_EQ(r14.classes, 10);
  const Model mlp = load("mnist-mlp");
  EXPECT_EQ(shapes_of(mlp, "fc1").in, (Shape{28, 28, 1}));
  EXPECT_EQ(shapes_of(mlp, "fc1").dot_bits, 784);
  EXPECT_EQ(mlp.batch, 32768);
  EXPECT_FLOAT_EQ(mlp.input_scale, 1.0f / 64);  // the default (no stem reads it)
  const Model tiny = load("tiny-resnet");
  EXPECT_EQ(shapes_of(tiny, "b2a").conv_out, (Shape{4, 4, 64}));
  EXPECT_EQ(shapes_of(tiny, "b2b").residual, (Shape{8, 8, 32}));
  EXPECT_EQ(shapes_of(tiny, "b2b").out, (Shape{2, 2, 64}));
  EXPECT_EQ(shapes_of(tiny, "fc1").dot_bits, 256);
  EXPECT_EQ(tiny.layers[1].pad_value, Pad::kPlusOne);
  EXPECT_EQ(tiny.layers[3].pad_value, Pad::kMinusOne);
  EXPECT_TRUE(tiny.layers[4].add_pool2);
  EXPECT_TRUE(tiny.layers[4].maxpool2);
}

TEST(NetModel, HeaderAndRowFields) {
  const Model m = parse_model(
      "# a comment\n"
      "model t   # trailing comment\n"
      "description  a test  model \n"
      "input 3 8 8\ninput_scale 0.25\nbatch 7\nbn_eps 0.001\n"
      "c1 stem input 32 3 1 1 save=r0 pool=max2\n" +
          kLogits,
      "t.model");
  EXPECT_EQ(m.description, "a test  model");
  EXPECT_EQ(m.input, (Shape{8, 8, 3}));  // the file says C H W
  EXPECT_FLOAT_EQ(m.input_scale, 0.25f);
  EXPECT_EQ(m.batch, 7);
  EXPECT_FLOAT_EQ(m.bn_eps, 0.001f);
  EXPECT_EQ(m.layers[0].line, 8);
  EXPECT_EQ(m.layers[0].save, "r0");
  EXPECT_EQ(m.shapes[0].out, (Shape{4, 4, 32}));
  EXPECT_EQ(m.saver_of("r0"), 0);
  EXPECT_EQ(m.saver_of("r9"), -1);
}

TEST(NetModel, LoadByNameOrPath) {
  EXPECT_EQ(load_model(kModels + "/tiny-resnet.model", "/nonexistent").name, "tiny-resnet");
  try {
    load("no-such-net");
    FAIL() << "loaded a missing model";
  } catch (const ModelError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("no-such-net.model"), std::string::npos) << msg;
    EXPECT_NE(msg.find("resnet18-tcbnn"), std::string::npos) << msg;  // lists what there is
  }
}

TEST(NetModelErrors, UnknownOp) {
  expect_error(kHead + "c1 dwconv input 32 3 1 1\n" + kLogits, 3, "unknown op 'dwconv' (stem, bconv, bfc, conv, fc)");
}

TEST(NetModelErrors, BadOption) {
  expect_error(kHead + "c1 stem input 32 3 1 1 padval=+1\n" + kLogits, 3, "option 'padval' does not apply to a stem");
  expect_error(kHead + "c1 stem input 32 3 1 1 pool=max3\n" + kLogits, 3, "pool takes 'max2', got 'max3'");
  expect_error(kHead + "c1 stem input 32 3 1 1 pool\n" + kLogits, 3, "option 'pool' is not key=value");
  expect_error(kHead + "c1 stem input 32 3 1 1 save=r0\nb bconv c1 32 3 1 1 add=r0:pool4\n" + kLogits, 4,
               "add=R takes only ':pool2'");
  expect_error(kHead + "c1 stem input 32 3 1 1\nb bconv c1 32 3 1 1 padval=0\n" + kLogits, 4,
               "padval takes zero, +1 or -1");
  expect_error(kHead + "c1 stem input 32 3 1 1\nfc bfc c1 10 - - - out=int\n", 4, "out takes bits or float");
  expect_error(kHead + "c1 stem input 32 3 1 1 pool=max2 pool=max2\n" + kLogits, 3, "option 'pool' given twice");
  expect_error(kHead + "c1 stem input 32 3 1 1\nfc bfc c1 10 1 1 0 out=float\n", 4,
               "a bfc has no kernel, stride or pad");
}

TEST(NetModelErrors, ForwardReference) {
  expect_error(kHead + "c1 stem input 32 3 1 1\nb1 bconv b2 32 3 1 1\nb2 bconv c1 32 3 1 1\nfc bfc b1 10 - - - out=float\n",
               4, "layer 'b1' reads 'b2', which is not an earlier layer");
  expect_error(kHead + "c1 stem input 32 3 1 1\nb1 bconv c1 32 3 1 1 add=r1\nb2 bconv b1 32 3 1 1 save=r1\n" + kLogits, 4,
               "'b1' adds residual 'r1', which no earlier layer saves");
  expect_error(kHead + "c1 stem input 32 3 1 1\nb1 bconv c1 32 3 1 1 add=r1 save=r1\n" + kLogits, 4,
               "which no earlier layer saves");
}

TEST(NetModelErrors, ResidualSizeMismatch) {
  expect_error(kHead + "c1 stem input 32 3 1 1 save=r0\nb1 bconv c1 32 3 2 1 add=r0\n" + kLogits, 4,
               "residual 'r0' is 8x8, the output 4x4");
  expect_error(kHead + "c1 stem input 32 3 1 1 save=r0\nb1 bconv c1 32 3 1 1 add=r0:pool2\n" + kLogits, 4,
               "(after :pool2 it must be twice that)");
}

TEST(NetModelErrors, ResidualWithMoreChannels) {
  expect_error(kHead + "c1 stem input 64 3 1 1 save=r0\nb1 bconv c1 32 3 1 1 add=r0\n" + kLogits, 4,
               "residual 'r0' has more channels (64) than the layer (32)");
}

TEST(NetModelErrors, ChannelsNotAMultipleOf32) {
  // Only a bfc's output can hand a bconv such a width: stem and bconv outs are checked.
  expect_error(kHead + "c1 stem input 32 3 1 1\nf bfc c1 48 - - -\nb bconv f 32 1 1 0\nfc bfc b 10 - - - out=float\n", 5,
               "input channels 48 are not a multiple of 32");
  expect_error(kHead + "c1 stem input 40 3 1 1\n" + kLogits, 3, "out 40 is not a multiple of 32");
}

TEST(NetModelErrors, FilterLargerThanInput) {
  expect_error("model t\ninput 3 4 4\nc1 stem input 32 7 1 1\n" + kLogits, 3,
               "a 7x7 filter does not fit the 4x4 input with padding 1");
  expect_error(kHead + "c1 stem input 32 3 1 3\n" + kLogits, 3, "padding must be smaller than the filter");
}

TEST(NetModelErrors, LastLayerNotFloat) {
  expect_error(kHead + "c1 stem input 32 3 1 1\nfc bfc c1 10 - - -\n", 4,
               "the last layer must be a bfc with out=float");
  expect_error(kHead + "c1 stem input 32 3 1 1\n", 3, "the last layer must be a bfc with out=float");
  expect_error(kHead + "c1 stem input 32 3 1 1\nf bfc c1 10 - - - out=float\nfc bfc f 10 - - - out=float\n", 4,
               "only the last layer may have out=float");
}

TEST(NetModelErrors, DuplicateNames) {
  expect_error(kHead + "c1 stem input 32 3 1 1\nc1 bconv c1 32 3 1 1\n" + kLogits, 4, "layer 'c1' is defined twice");
  expect_error(kHead + "c1 stem input 32 3 1 1 save=r0\nb bconv c1 32 3 1 1 save=r0\n" + kLogits, 4,
               "residual 'r0' is saved twice");
  expect_error(kHead + "model u\nc1 stem input 32 3 1 1\n" + kLogits, 3, "'model' given twice (first at line 1)");
  expect_error(kHead + "input bad\n", 3, "given twice");  // caught before the values are read
}

TEST(NetModelErrors, HeaderAfterLayers) {
  expect_error(kHead + "c1 stem input 32 3 1 1\nbatch 4\n" + kLogits, 4,
               "'batch' after the first layer row: header lines come first");
}

TEST(NetModelErrors, MissingHeaderLines) {
  expect_error("model t\nc1 stem input 32 3 1 1\n" + kLogits, 1, "no 'input C H W' line");
  expect_error("input 3 8 8\nc1 stem input 32 3 1 1\n" + kLogits, 1, "no 'model NAME' line");
  expect_error(kHead + "\n# nothing\n", 4, "no layers");
}

TEST(NetModelErrors, GarbageNumbers) {
  expect_error(kHead + "c1 stem input 3x 3 1 1\n" + kLogits, 3, "out must be an integer in [1, 65536], got '3x'");
  expect_error(kHead + "c1 stem input 32 3.5 1 1\n" + kLogits, 3, "kernel must be an integer in [1, 15], got '3.5'");
  expect_error(kHead + "c1 stem input 32 3 0 1\n" + kLogits, 3, "stride must be an integer in [1, 8], got '0'");
  expect_error(kHead + "c1 stem input 32 3 1 -1\n" + kLogits, 3, "pad must be an integer in [0, 7], got '-1'");
  expect_error(kHead + "c1 stem input 99999999999999999999 3 1 1\n" + kLogits, 3, "out must be an integer");
  expect_error("model t\ninput 3 eight 8\n", 2, "input H must be an integer in [1, 4096], got 'eight'");
  expect_error("model t\ninput 3 8\n", 2, "'input' takes 3 value(s)");
  expect_error(kHead + "input_scale abc\n", 3, "input_scale must be a positive number, got 'abc'");
  expect_error(kHead + "bn_eps nan\n", 3, "bn_eps must be a positive number, got 'nan'");
  expect_error(kHead + "input_scale -0.5\n", 3, "input_scale must be a positive number");
  expect_error(kHead + "batch 0\n", 3, "batch must be an integer in [1, 1048576], got '0'");
}

TEST(NetModelErrors, OtherRowRules) {
  expect_error(kHead + "c1 stem input 32 3 1\n" + kLogits, 3, "a layer row is 'name op from out kernel stride pad");
  expect_error(kHead + "c-1 stem input 32 3 1 1\n" + kLogits, 3, "bad layer name 'c-1'");
  expect_error(kHead + "c1 bconv input 32 3 1 1\n" + kLogits, 3, "a bconv reads bits");
  expect_error(kHead + "c1 stem input 32 3 1 1\nc2 stem c1 32 3 1 1\n" + kLogits, 4, "a stem reads the image");
  expect_error(kHead + "c1 stem input 32 3 1 1\nc2 bconv c1 32 3 1 1 pool=max2\nc3 bconv c2 32 3 1 1 pool=max2\n"
                        "c4 bconv c3 32 3 1 1 pool=max2\nc5 bconv c4 32 3 1 1 pool=max2\n" + kLogits,
               7, "pool=max2 needs at least 2x2");
}


// ---- the half-precision layers (conv, fc, bconv out=half)

TEST(NetModel, BirealShapes) {
  const Model m = load("resnet18-bireal");
  EXPECT_EQ(m.input, (Shape{224, 224, 3}));
  EXPECT_EQ(m.batch, 256);
  EXPECT_EQ(m.classes, 1000);
  ASSERT_EQ(m.layers.size(), 21u);  // conv1, 16 binary convs, 3 downsample convs, the fc
  const LayerShapes& conv1 = shapes_of(m, "conv1");
  EXPECT_EQ(m.layers[0].op, Op::kConv);
  EXPECT_TRUE(m.layers[0].half_out);
  EXPECT_TRUE(m.layers[0].maxpool3);
  EXPECT_EQ(conv1.pooled_in, (Shape{224, 224, 3}));
  EXPECT_EQ(conv1.conv_out, (Shape{112, 112, 64}));  // (224 + 2*3 - 7) / 2 + 1
  EXPECT_EQ(conv1.out, (Shape{56, 56, 64}));         // (112 - 1) / 2 + 1
  EXPECT_EQ(conv1.dot_bits, 7 * 7 * 3);
  EXPECT_EQ(conv1.value_bound, 0);
  const LayerShapes& l1b1a = shapes_of(m, "l1b1a");
  EXPECT_EQ(l1b1a.in, (Shape{56, 56, 64}));
  EXPECT_EQ(l1b1a.conv_out, (Shape{56, 56, 64}));
  EXPECT_EQ(l1b1a.dot_bits, 3 * 3 * 64);
  EXPECT_EQ(l1b1a.value_bound, 3 * 3 * 64);  // |z|: the shortcut adds fp16 values, not to y
  const Layer* b = m.find("l1b1a");
  EXPECT_TRUE(b->half_out);
  EXPECT_EQ(b->shortcut, "conv1");
  EXPECT_EQ(m.find("l1b1b")->shortcut, "l1b1a");  // a shortcut around every binary conv
  const LayerShapes& down = shapes_of(m, "l2down");
  EXPECT_EQ(m.find("l2down")->prepool, Layer::Prepool::kAvg2);
  EXPECT_EQ(down.in, (Shape{56, 56, 64}));
  EXPECT_EQ(down.pooled_in, (Shape{28, 28, 64}));
  EXPECT_EQ(down.conv_out, (Shape{28, 28, 128}));
  EXPECT_EQ(down.dot_bits, 64);
  EXPECT_EQ(shapes_of(m, "l2b1a").conv_out, (Shape{28, 28, 128}));
  EXPECT_EQ(m.find("l2b1a")->shortcut, "l2down");
  EXPECT_EQ(m.find("l2b1a")->input, "l1b2b");
  EXPECT_EQ(shapes_of(m, "l4down").conv_out, (Shape{7, 7, 512}));
  EXPECT_EQ(shapes_of(m, "l4b2b").out, (Shape{7, 7, 512}));
  const LayerShapes& fc = shapes_of(m, "fc");
  EXPECT_EQ(m.layers.back().op, Op::kFc);
  EXPECT_TRUE(m.layers.back().float_out);
  EXPECT_EQ(m.layers.back().prepool, Layer::Prepool::kGlobalAvg);
  EXPECT_EQ(fc.in, (Shape{7, 7, 512}));
  EXPECT_EQ(fc.pooled_in, (Shape{1, 1, 512}));
  EXPECT_EQ(fc.dot_bits, 512);
  EXPECT_EQ(fc.conv_out, (Shape{1, 1, 1000}));
  for (size_t i = 0; i < m.layers.size(); ++i)
    if (m.layers[i].op == Op::kBconv) {
      SCOPED_TRACE(m.layers[i].name);
      EXPECT_TRUE(m.layers[i].half_out);
      EXPECT_EQ(m.layers[i].shortcut.empty(), false);
      EXPECT_EQ(m.shapes[i].pooled_in, m.shapes[i].in);
    }
}

TEST(NetModel, BirealOperations) {
  const Model m = load("resnet18-bireal");
  // The binary convs are ResNet-18's (resnet18-tcbnn's 16, at the same sizes); no binary FC.
  const double conv_macs = 4.0 * (3 * 3 * 64) * (56 * 56 * 64) +
                           (3.0 * 3 * 64 + 3 * (3.0 * 3 * 128)) * (28 * 28 * 128) +
                           (3.0 * 3 * 128 + 3 * (3.0 * 3 * 256)) * (14 * 14 * 256) +
                           (3.0 * 3 * 256 + 3 * (3.0 * 3 * 512)) * (7 * 7 * 512);
  EXPECT_EQ(conv_macs, 1676279808.0);  // Bi-Real Net's 1.68e9 BOPs (Table 4)
  EXPECT_EQ(m.binary_ops_per_image(), 2 * conv_macs);
  EXPECT_EQ(m.binary_ops_per_image(), 3352559616.0);
  EXPECT_EQ(m.stem_macs_per_image(), 0.0);
  // Real MACs: the 7x7/2 conv, three 1x1 downsamples (each C_in x 28*28*128,
  // 14*14*256, 7*7*512: 6.4 M) and the 512 x 1000 FC.
  const double conv1 = 147.0 * 112 * 112 * 64;
  const double downs = 64.0 * 28 * 28 * 128 + 128.0 * 14 * 14 * 256 + 256.0 * 7 * 7 * 512;
  const double fc = 512.0 * 1000;
  EXPECT_EQ(conv1, 118013952.0);
  EXPECT_EQ(downs, 3 * 6422528.0);
  EXPECT_EQ(m.real_macs_per_image(), conv1 + downs + fc);
  EXPECT_EQ(m.real_macs_per_image(), 137793536.0);  // Bi-Real Net's 1.39e8 FLOPs
  // The binary-only models have none.
  EXPECT_EQ(load("resnet18-tcbnn").real_macs_per_image(), 0.0);
}

TEST(NetModel, TinyBirealShapes) {
  const Model m = load("tiny-bireal");
  EXPECT_EQ(m.classes, 10);
  EXPECT_EQ(shapes_of(m, "conv1").conv_out, (Shape{16, 16, 32}));
  EXPECT_EQ(shapes_of(m, "conv1").out, (Shape{8, 8, 32}));
  EXPECT_EQ(shapes_of(m, "conv1").dot_bits, 27);
  EXPECT_EQ(m.find("b1a")->pad_value, Pad::kPlusOne);
  EXPECT_EQ(m.find("b2a")->pad_value, Pad::kMinusOne);
  EXPECT_EQ(shapes_of(m, "down2").pooled_in, (Shape{4, 4, 32}));
  EXPECT_EQ(shapes_of(m, "down2").conv_out, (Shape{4, 4, 64}));
  EXPECT_EQ(shapes_of(m, "b2a").conv_out, (Shape{4, 4, 64}));
  EXPECT_TRUE(m.find("b2b")->half_out);
  EXPECT_TRUE(m.find("b2b")->shortcut.empty());
  EXPECT_FALSE(m.find("bits")->half_out);  // bits from a half layer's signs
  EXPECT_EQ(m.find("b2c")->input, "bits");
  EXPECT_EQ(shapes_of(m, "mix").dot_bits, 9 * 64);
  EXPECT_EQ(shapes_of(m, "fc").dot_bits, 64);
  EXPECT_TRUE(m.layers.back().half_out);  // conv and fc always (net/model.h)
}

TEST(NetModel, HalfLayerShapeRules) {
  // pool=max3: (P - 1) / 2 + 1 per axis, odd and even P; an fc without
  // prepool flattens H x W x C.
  const Model m = parse_model(
      "model t\ninput 3 7 6\n"
      "c1 conv input 32 3 1 1 pool=max3\n"  // 7x6 -> 4x3
      "c2 conv c1 32 1 1 0\n"
      "b bconv c2 32 3 1 1 out=half\n"
      "fc fc b 10 - - - out=float\n",
      "t.model");
  EXPECT_EQ(m.shapes[0].conv_out, (Shape{7, 6, 32}));
  EXPECT_EQ(m.shapes[0].out, (Shape{4, 3, 32}));
  EXPECT_EQ(m.shapes[1].pooled_in, (Shape{4, 3, 32}));
  EXPECT_EQ(m.shapes[3].pooled_in, (Shape{4, 3, 32}));
  EXPECT_EQ(m.shapes[3].dot_bits, 4 * 3 * 32);
  EXPECT_EQ(m.layers[3].prepool, Layer::Prepool::kNone);
  EXPECT_EQ(m.real_macs_per_image(), 27.0 * 7 * 6 * 32 + 32.0 * 4 * 3 * 32 + 384.0 * 10);
  EXPECT_EQ(m.binary_ops_per_image(), 2.0 * 288 * 4 * 3 * 32);
  // A 1x1 map pools to 1x1; every stage of a 1x1 input works.
  const Model one = parse_model("model t\ninput 3 1 1\nc conv input 32 1 1 0 pool=max3\nfc fc c 2 - - - out=float\n", "t");
  EXPECT_EQ(one.shapes[0].out, (Shape{1, 1, 32}));
}

TEST(NetModel, HalfLayersFeedTheBitLayers) {
  // A half layer's bits (v >= 0) feed an int-path bconv (save=, add=) and a
  // bfc; the bfc head reads them too.
  const Model m = parse_model(
      "model t\ninput 3 8 8\n"
      "c conv input 32 3 1 1\n"
      "b1 bconv c 32 3 1 1 save=r0\n"
      "b2 bconv b1 32 3 1 1 add=r0 out=bits\n"
      "h bconv b2 32 3 1 1 out=half shortcut=c\n"
      "f bfc h 64 - - -\n"
      "fc bfc f 10 - - - out=float\n",
      "t.model");
  EXPECT_EQ(m.shapes[4].dot_bits, 8 * 8 * 32);
  EXPECT_FALSE(m.layers[2].half_out);
  EXPECT_TRUE(m.layers[3].half_out);
  const Model direct = parse_model("model t\ninput 3 8 8\nc conv input 32 3 1 1\nfc bfc c 10 - - - out=float\n", "t");
  EXPECT_EQ(direct.shapes[1].dot_bits, 8 * 8 * 32);
}

// Lines 1-2, then a conv on the image (line 3): a valid half head.
const std::string kConvHead = kHead + "c1 conv input 32 3 1 1\n";
const std::string kFcLogits = "fc fc c1 10 - - - prepool=avg out=float\n";

TEST(NetModelErrors, HalfLayerReads) {
  expect_error(kHead + "s stem input 32 3 1 1\nc conv s 32 3 1 1\n" + kLogits, 4,
               "'c': a conv reads fp16 values: 's' writes bits");
  expect_error(kConvHead + "b bconv c1 32 3 1 1\nc2 conv b 32 3 1 1\n" + kLogits, 5,
               "a conv reads fp16 values: 'b' writes bits");
  expect_error(kHead + "s stem input 32 3 1 1\nfc fc s 10 - - - out=float\n", 4,
               "an fc reads fp16 values: 's' writes bits");
  expect_error(kHead + "fc fc input 10 - - - out=float\n", 3, "an fc reads fp16 values: 'input' is the image");
  expect_error(kConvHead + "s stem c1 32 3 1 1\n" + kLogits, 4, "a stem reads the image");
  expect_error(kHead + "b bconv input 32 3 1 1 out=half\n" + kLogits, 3, "a bconv reads bits");
  expect_error(kConvHead + "c2 conv zz 32 3 1 1\n" + kFcLogits, 4, "layer 'c2' reads 'zz', which is not an earlier layer");
}

TEST(NetModelErrors, HalfLayerOptions) {
  expect_error(kHead + "c1 conv input 40 3 1 1\n" + kFcLogits, 3, "'c1': out 40 is not a multiple of 32");
  expect_error(kHead + "c1 conv input 32 3 1 1 pool=max2\n" + kFcLogits, 3, "a conv's pool takes 'max3', got 'max2'");
  expect_error(kHead + "c1 conv input 32 3 1 1 prepool=avg\n" + kFcLogits, 3, "a conv's prepool takes 'avg2', got 'avg'");
  expect_error(kHead + "c1 conv input 32 3 1 1 save=r0\n" + kFcLogits, 3, "option 'save' does not apply to a conv");
  expect_error(kHead + "c1 conv input 32 3 1 1 add=r0\n" + kFcLogits, 3, "option 'add' does not apply to a conv");
  expect_error(kHead + "c1 conv input 32 3 1 1 padval=+1\n" + kFcLogits, 3, "option 'padval' does not apply to a conv");
  expect_error(kHead + "c1 conv input 32 3 1 1 out=half\n" + kFcLogits, 3, "option 'out' does not apply to a conv");
  expect_error(kHead + "c1 conv input 32 3 1 1 shortcut=c0\n" + kFcLogits, 3,
               "'c1': shortcut 'c0' is not an earlier layer");
  expect_error(kHead + "c1 conv input 32 3 1 1 act=sigmoid\n" + kFcLogits, 3, "a conv's act takes 'relu', got 'sigmoid'");
  expect_error(kConvHead + "b bconv c1 32 3 1 1 act=relu\n" + kFcLogits, 4, "option 'act' does not apply to a bconv");
  expect_error(kConvHead + "fc fc c1 10 - - - out=float act=relu\n", 4, "option 'act' does not apply to an fc");
  expect_error(kHead + "c1 stem input 32 3 1 1 act=relu\n" + kLogits, 3, "option 'act' does not apply to a stem");
  expect_error(kHead + "c1 stem input 32 3 1 1 prepool=avg2\n" + kLogits, 3, "option 'prepool' does not apply to a stem");
  expect_error(kHead + "c1 stem input 32 3 1 1 shortcut=c0\n" + kLogits, 3, "option 'shortcut' does not apply to a stem");
  expect_error(kConvHead + "f bfc c1 64 - - - shortcut=c1\n" + kLogits, 4, "option 'shortcut' does not apply to a bfc");
  expect_error(kConvHead + "b bconv c1 32 3 1 1 prepool=avg2\n" + kFcLogits, 4,
               "option 'prepool' does not apply to a bconv");
  expect_error(kConvHead + "fc fc c1 10 - - - prepool=avg2 out=float\n", 4, "an fc's prepool takes 'avg', got 'avg2'");
  expect_error(kConvHead + "fc fc c1 10 - - - out=bits\n", 4, "an fc's out takes float (its logits), got 'bits'");
  expect_error(kConvHead + "fc fc c1 10 - - - prepool=avg\n", 4, "an fc writes the logits: write out=float");
  expect_error(kConvHead + "fc fc c1 10 - - - out=float pool=max3\n", 4, "option 'pool' does not apply to an fc");
  expect_error(kConvHead + "fc fc c1 10 - - - out=float save=r\n", 4, "option 'save' does not apply to an fc");
  expect_error(kConvHead + "fc fc c1 10 3 1 1 out=float\n", 4, "an fc has no kernel, stride or pad: write '-'");
  expect_error(kConvHead + "fc fc c1 10 - - - out=float\nfc2 bfc c1 10 - - - out=float\n", 4,
               "an fc must be the last layer (it writes the logits)");
  expect_error(kConvHead + "b bconv c1 32 3 1 1 out=float\n" + kFcLogits, 4, "a bconv's out takes bits or half, got 'float'");
}

// torchvision's ResNet-18 topology in fp16: every layer real, ReLU after each
// block's shortcut add, 1x1/2 conv downsamples.
TEST(NetModel, Resnet18Fp16Shapes) {
  const Model m = load_model("resnet18-fp16", std::string(BTC_SOURCE_DIR) + "/models");
  ASSERT_EQ(m.layers.size(), 21u);
  EXPECT_EQ(m.classes, 1000);
  EXPECT_EQ(m.binary_ops_per_image(), 0.0);
  // 1.81 G MACs: torchvision's count for resnet18 (1.814 GMACs).
  EXPECT_NEAR(m.real_macs_per_image(), 1.814e9, 0.005e9);
  const Layer* c1 = m.find("conv1");
  EXPECT_TRUE(c1->relu && c1->maxpool3);
  EXPECT_EQ(m.shapes[0].out, (Shape{56, 56, 64}));
  const int down = m.index_of("l2down");
  EXPECT_FALSE(m.layers[down].relu);
  EXPECT_EQ(m.shapes[down].conv_out, (Shape{28, 28, 128}));
  EXPECT_EQ(m.shapes[down].dot_bits, 64);
  const Layer* b = m.find("l2b1b");
  EXPECT_EQ(b->shortcut, "l2down");
  EXPECT_TRUE(b->relu);
  EXPECT_TRUE(m.find("l2b2b")->shortcut == "l2b1b");
  EXPECT_FALSE(m.find("l2b1a")->relu == false);
  EXPECT_TRUE(m.find("l4b2a")->shortcut.empty());
  EXPECT_EQ(m.shapes.back().dot_bits, 512);
}

TEST(NetModelErrors, HalfBconvRules) {
  expect_error(kConvHead + "b bconv c1 32 3 1 1 shortcut=c1\n" + kFcLogits, 4, "shortcut= needs out=half");
  expect_error(kConvHead + "b bconv c1 32 3 1 1 shortcut=c1 out=bits\n" + kFcLogits, 4, "shortcut= needs out=half");
  expect_error(kHead + "s stem input 32 3 1 1 save=r0\nb bconv s 32 3 1 1 out=half add=r0\n" + kLogits, 4,
               "a bconv with out=half has no add=");
  expect_error(kConvHead + "b bconv c1 32 3 1 1 save=r1 out=half\n" + kFcLogits, 4, "a bconv with out=half has no save=");
  expect_error(kConvHead + "b bconv c1 32 3 1 1 out=half pool=max2\n" + kFcLogits, 4,
               "a bconv with out=half has no pool=max2");
  // The shortcut: an earlier half layer of exactly the output's shape.
  expect_error(kConvHead + "b bconv c1 32 3 2 1 out=half shortcut=c1\n" + kFcLogits, 4,
               "'b': shortcut 'c1' is 8x8x32, the output 4x4x32 (they must be equal)");
  expect_error(kConvHead + "b bconv c1 64 3 1 1 out=half shortcut=c1\n" + kFcLogits, 4,
               "shortcut 'c1' is 8x8x32, the output 8x8x64");
  expect_error(kConvHead + "b bconv c1 32 3 1 1\nh bconv b 32 3 1 1 out=half shortcut=b\n" + kFcLogits, 5,
               "'h': shortcut 'b' writes bits, not fp16 values");
  expect_error(kConvHead + "h bconv c1 32 3 1 1 out=half shortcut=h2\nh2 bconv h 32 3 1 1 out=half\n" + kFcLogits, 4,
               "'h': shortcut 'h2' is not an earlier layer");
  expect_error(kConvHead + "h bconv c1 32 3 1 1 out=half shortcut=h\n" + kFcLogits, 4, "shortcut 'h' is not an earlier layer");
  expect_error(kConvHead + "h bconv c1 32 3 1 1 out=half shortcut=a-b\n" + kFcLogits, 4, "bad shortcut layer name 'a-b'");
}

TEST(NetModelErrors, Prepool) {
  expect_error("model t\ninput 3 7 7\nc1 conv input 32 1 1 0 prepool=avg2\n" + kFcLogits, 3,
               "'c1': prepool=avg2 needs an even input height and width, got 7x7");
  expect_error("model t\ninput 3 8 6\nc0 conv input 32 3 2 1\nc1 conv c0 32 1 1 0 prepool=avg2\n" + kFcLogits, 4,
               "got 4x3");
  // The filter must fit the pooled input.
  expect_error("model t\ninput 3 4 4\nc1 conv input 32 3 1 0 prepool=avg2\n" + kFcLogits, 3,
               "a 3x3 filter does not fit the 2x2 input with padding 0");
}

}  // namespace
}  // namespace btc::net
