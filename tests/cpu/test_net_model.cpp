// The model files (models/*.model, docs/models.md): every shipped model parses
// with the shapes its source network has, and every malformed file is refused
// with file:line and the fact that is wrong.
#include <gtest/gtest.h>

#include <string>

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
  const std::vector<std::string> want = {"alexnet",         "cifar10-resnet14", "cifar10-vgg", "mnist-mlp",
                                         "resnet18-tcbnn",  "tiny-resnet",      "vgg16"};
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
      EXPECT_GE(m.shapes[i].value_bound, m.shapes[i].dot_bits) << m.layers[i].name;
    }
  }
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
  expect_error(kHead + "c1 conv input 32 3 1 1\n" + kLogits, 3, "unknown op 'conv'");
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

}  // namespace
}  // namespace btc::net
