// The CPU reference forward (net/reference.h) on tiny models whose every
// value is worked out by hand from the semantics in net/model.h, the seeded
// weights (net/weights.h), and properties of a whole random forward.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <string>

#include "kernels/bconv/bn_threshold.h"
#include "net/model.h"
#include "net/reference.h"
#include "net/safetensors.h"
#include "net/weights.h"
#include "net/weights_io.h"
#include "tests/common/test_random.h"

namespace btc::net {
namespace {

Model parse(const std::string& text) { return parse_model(text, "t.model"); }

// +1 weights and the identity batch norm (gamma 1, beta 0, mean 0, var 1):
// every bit is y >= 0.
Weights plain_weights(const Model& m) {
  Weights w;
  w.source = "test";
  for (size_t i = 0; i < m.layers.size(); ++i) {
    LayerWeights lw;
    const size_t out = static_cast<size_t>(m.layers[i].out);
    lw.w.assign(out * static_cast<size_t>(m.shapes[i].dot_bits), 1);
    lw.gamma.assign(out, 1.0f);
    lw.beta.assign(out, 0.0f);
    lw.mean.assign(out, 0.0f);
    lw.var.assign(out, 1.0f);
    w.layers.push_back(lw);
  }
  return w;
}

// +1 for even channels, -1 for odd: the per-channel sign the 1x1 stems below
// give their single image channel, so the activations differ across channels.
int8_t alt(int c) { return c % 2 == 0 ? 1 : -1; }

void alternating_stem(LayerWeights& lw, int out) {
  for (int o = 0; o < out; ++o) lw.w[o] = alt(o);
}

// KRSC index of a stem or bconv weight.
size_t krsc(int o, int r, int s, int c, int k, int channels) {
  return ((static_cast<size_t>(o) * k + r) * k + s) * channels + c;
}

TEST(NetReference, QuantizeInputTiesToEven) {
  const float scale = 1.0f / 64;
  EXPECT_EQ(quantize_input(0.5f * scale, scale), 0);
  EXPECT_EQ(quantize_input(1.5f * scale, scale), 2);
  EXPECT_EQ(quantize_input(2.5f * scale, scale), 2);
  EXPECT_EQ(quantize_input(-0.5f * scale, scale), 0);
  EXPECT_EQ(quantize_input(-1.5f * scale, scale), -2);
  EXPECT_EQ(quantize_input(0.51f * scale, scale), 1);
  EXPECT_EQ(quantize_input(126.5f * scale, scale), 126);
  EXPECT_EQ(quantize_input(127.4f * scale, scale), 127);
  EXPECT_EQ(quantize_input(1000.0f, scale), 127);  // clamped, symmetric: never -128
  EXPECT_EQ(quantize_input(-1000.0f, scale), -127);
  EXPECT_EQ(quantize_input(INFINITY, scale), 127);
  EXPECT_EQ(quantize_input(-INFINITY, scale), -127);
  EXPECT_EQ(quantize_input(NAN, scale), 0);
}

// A 2x2x2 image (NCHW) under one 2x2 filter: one output pixel per channel.
TEST(NetReference, StemOnA2x2Image) {
  const Model m = parse("model t\ninput 2 2 2\ninput_scale 0.25\nc1 stem input 32 2 1 0\nfc bfc c1 10 - - - out=float\n");
  Weights w = plain_weights(m);
  auto& sw = w.layers[0].w;
  std::fill(sw.begin(), sw.end(), int8_t{-1});
  for (int r = 0; r < 2; ++r)
    for (int s = 0; s < 2; ++s) {
      sw[krsc(0, r, s, 0, 2, 2)] = sw[krsc(0, r, s, 1, 2, 2)] = 1;  // channel 0: all +1
      sw[krsc(1, r, s, 0, 2, 2)] = 1;                               // channel 1: +1 on c0, -1 on c1
      sw[krsc(2, r, s, 0, 2, 2)] = r == s ? 1 : -1;                 // channel 2: a diagonal on c0,
    }
  sw[krsc(2, 1, 0, 1, 2, 2)] = 1;  // and one +1 tap on c1; channel 3 on: all -1
  // c0 quantizes to 2 (2.5 ties to even), -2, 127 (clamped), 1; c1 to 1, 1, 1, 1.
  const std::vector<float> image = {0.625f, -0.5f, 100.0f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f};
  const auto out = reference_forward(m, w, image, 1);
  ASSERT_EQ(out[0].y.size(), 32u);
  EXPECT_EQ(out[0].y[0], 2 - 2 + 127 + 1 + 4);
  EXPECT_EQ(out[0].y[1], 128 - 4);
  EXPECT_EQ(out[0].y[2], (2 + 2 - 127 + 1) + (-1 - 1 + 1 - 1));
  EXPECT_EQ(out[0].y[3], -132);
  EXPECT_EQ(out[0].act[0], 1);
  EXPECT_EQ(out[0].act[1], 1);
  EXPECT_EQ(out[0].act[2], -1);
  EXPECT_EQ(out[0].act[3], -1);
}

// A 3x3 bconv, pad 1, on 3x3 bits act(h, w, c) = alt(c) t(h, w).
//   channel 0, weights alt(c): z = 32 * (sum of t over the valid taps); its
//     padded taps add sum_c alt(c) * pad = 0 whatever the pad value;
//   channel 1, weights +1: the valid taps add sum_c alt(c) = 0, each padded
//     tap 32 * pad;
//   channel 2, weights alt(c) at tap (0, 0) and -alt(c) elsewhere.
class NetReferencePadding : public ::testing::TestWithParam<std::pair<std::string, int>> {};

TEST_P(NetReferencePadding, BorderOutputsSumTheValidTaps) {
  const auto& [option, pad] = GetParam();
  const Model m = parse("model t\ninput 1 3 3\ninput_scale 1\nc1 stem input 32 1 1 0\nb bconv c1 32 3 1 1" + option +
                        "\nfc bfc b 10 - - - out=float\n");
  Weights w = plain_weights(m);
  alternating_stem(w.layers[0], 32);
  auto& bw = w.layers[1].w;
  for (int r = 0; r < 3; ++r)
    for (int s = 0; s < 3; ++s)
      for (int c = 0; c < 32; ++c) {
        bw[krsc(0, r, s, c, 3, 32)] = alt(c);
        bw[krsc(2, r, s, c, 3, 32)] = static_cast<int8_t>(r == 0 && s == 0 ? alt(c) : -alt(c));
      }
  const std::vector<float> t = {1, -1, 1, 1, 1, -1, -1, 1, 1};
  const auto out = reference_forward(m, w, t, 1);
  const auto& y = out[1].y;
  auto at = [&](int p, int q, int c) { return y[(static_cast<size_t>(p) * 3 + q) * 32 + c]; };
  const int window_sum[9] = {2, 2, 0, 2, 3, 2, 2, 2, 2};  // t over each output's valid taps
  const int padded_taps[9] = {5, 3, 5, 3, 0, 3, 5, 3, 5};
  for (int p = 0; p < 3; ++p)
    for (int q = 0; q < 3; ++q) {
      SCOPED_TRACE("output " + std::to_string(p) + "," + std::to_string(q));
      EXPECT_EQ(at(p, q, 0), 32 * window_sum[p * 3 + q]);
      EXPECT_EQ(at(p, q, 1), 32 * pad * padded_taps[p * 3 + q]);
    }
  EXPECT_EQ(at(0, 0, 2), -32 * 2);      // tap (0, 0) is outside: only the -alt taps count
  EXPECT_EQ(at(1, 1, 2), 32 - 32 * 2);  // t(0, 0) = +1, the other eight sum to 2
  EXPECT_EQ(out[1].act[0], 1);          // 64 >= 0
}

INSTANTIATE_TEST_SUITE_P(PadValues, NetReferencePadding,
                         ::testing::Values(std::make_pair(std::string(""), 0), std::make_pair(std::string(" padval=zero"), 0),
                                           std::make_pair(std::string(" padval=+1"), 1),
                                           std::make_pair(std::string(" padval=-1"), -1)));

// q(h, w) = 4h + w - 5 on a 4x4 image; the stem's y0(h, w, c) = alt(c) q.
// A 1x1 stride-2 bconv of +1 weights sees sum_c alt(c) sign(q) = 0, so its y
// is the residual alone: the 2x2 max of y0 (even c: max q, odd c: -min q) on
// the 32 saved channels, 0 on channels 32..63.
TEST(NetReference, ResidualPool2AndChannelExtension) {
  const Model m = parse("model t\ninput 1 4 4\ninput_scale 1\nc1 stem input 32 1 1 0 save=r0\n"
                        "b bconv c1 64 1 2 0 add=r0:pool2\nfc bfc b 10 - - - out=float\n");
  Weights w = plain_weights(m);
  alternating_stem(w.layers[0], 32);
  std::vector<float> image(16);
  for (int e = 0; e < 16; ++e) image[e] = static_cast<float>(e - 5);
  const auto out = reference_forward(m, w, image, 1);
  ASSERT_EQ(out[1].y.size(), 2u * 2 * 64);
  const int max_q[4] = {0, 2, 8, 10}, neg_min_q[4] = {5, 3, -3, -5};  // blocks (0,0) (0,1) (1,0) (1,1)
  for (int b = 0; b < 4; ++b)
    for (int c = 0; c < 64; ++c) {
      const int want = c >= 32 ? 0 : c % 2 == 0 ? max_q[b] : neg_min_q[b];
      EXPECT_EQ(out[1].y[static_cast<size_t>(b) * 64 + c], want) << "block " << b << " channel " << c;
      EXPECT_EQ(out[1].act[static_cast<size_t>(b) * 64 + c], want >= 0 ? 1 : -1);
    }
}

// The same without :pool2, stride 1: y = z + y0 pixel by pixel. z = 0 where
// q != 0; at q(1, 1) = 0 every stem bit is +1 (y >= 0), so z = 32 there.
TEST(NetReference, ResidualSameSize) {
  const Model m = parse("model t\ninput 1 4 4\ninput_scale 1\nc1 stem input 32 1 1 0 save=r0\n"
                        "b bconv c1 64 1 1 0 add=r0\nfc bfc b 10 - - - out=float\n");
  Weights w = plain_weights(m);
  alternating_stem(w.layers[0], 32);
  std::vector<float> image(16);
  for (int e = 0; e < 16; ++e) image[e] = static_cast<float>(e - 5);
  const auto out = reference_forward(m, w, image, 1);
  for (int e = 0; e < 16; ++e)
    for (int c = 0; c < 64; ++c) {
      const int z = e == 5 ? 32 : 0, res = c < 32 ? alt(c) * (e - 5) : 0;
      EXPECT_EQ(out[1].y[static_cast<size_t>(e) * 64 + c], z + res) << "pixel " << e << " channel " << c;
    }
}

// pool=max2 on bits is an OR, over the floor-size windows: a 3x3 output
// pools to 1x1 from its top-left 2x2 only. Two images, to see the batch.
TEST(NetReference, MaxPoolIsOr) {
  const Model m =
      parse("model t\ninput 1 3 3\ninput_scale 1\nc1 stem input 32 1 1 0 pool=max2\nfc bfc c1 10 - - - out=float\n");
  Weights w = plain_weights(m);
  alternating_stem(w.layers[0], 32);
  const std::vector<float> images = {-1, -1, 5, -1, 2, 5, 5, 5, 5,    // one +1 in the window (even c)
                                     -1, -1, 5, -1, -1, 5, 5, 5, 5};  // +1s only outside it
  const auto out = reference_forward(m, w, images, 2);
  ASSERT_EQ(out[0].y.size(), 2u * 3 * 3 * 32);  // y before the pool
  ASSERT_EQ(out[0].act.size(), 2u * 32);
  for (int c = 0; c < 32; ++c) {
    EXPECT_EQ(out[0].act[c], 1) << c;                    // even c: one +1; odd c: three
    EXPECT_EQ(out[0].act[32 + c], alt(c) > 0 ? -1 : 1);  // even c: all four are -1
    EXPECT_EQ(out[0].y[(9 + 8) * 32 + c], alt(c) * 5);   // image 1, pixel (2, 2)
  }
}

// A bfc on the image binarizes it (x >= 0, so -0 is +1) in (c, h, w) order,
// and the float head is BN(y) as bconv::batch_norm_f32 evaluates it.
TEST(NetReference, BfcOnTheImageAndFloatLogits) {
  const Model m = parse("model t\ninput 2 1 2\nbn_eps 0.001\nfc bfc input 4 - - - out=float\n");
  Weights w = plain_weights(m);
  LayerWeights& lw = w.layers[0];
  lw.w = {1, -1, 1, -1,  1, 1, -1, -1,  1, 1, 1, 1,  -1, 1, -1, -1};
  lw.gamma = {1.5f, -0.75f, 0.3f, 2.0f};
  lw.beta = {0.1f, -0.2f, 0.05f, 0.0f};
  lw.mean = {0.5f, -1.0f, 2.0f, 0.25f};
  lw.var = {2.0f, 0.5f, 1.5f, 3.0f};
  // Image 0: c0 = (0.5, -1), c1 = (-0, -2): bits +1 -1 +1 -1 in (c, h, w) order
  // (in (h, w, c) order they would be +1 +1 -1 -1). Image 1: all negative.
  const std::vector<float> images = {0.5f, -1.0f, -0.0f, -2.0f, -1.0f, -1.0f, -1.0f, -1.0f};
  const auto out = reference_forward(m, w, images, 2);
  const std::vector<int32_t> want_y = {4, 0, 0, -2, 0, 0, -4, 2};
  EXPECT_EQ(out[0].y, want_y);
  EXPECT_TRUE(out[0].act.empty());
  ASSERT_EQ(out[0].logits.size(), 8u);
  for (int e = 0; e < 8; ++e) {
    const int c = e % 4;
    EXPECT_EQ(out[0].logits[e], bconv::batch_norm_f32(want_y[e], lw.gamma[c], lw.beta[c], lw.mean[c], lw.var[c], 0.001f));
    const double bn = (static_cast<double>(want_y[e]) - lw.mean[c]) / std::sqrt(lw.var[c] + 0.001) * lw.gamma[c] + lw.beta[c];
    EXPECT_NEAR(out[0].logits[e], bn, 1e-5);
  }
}

// A bfc on a layer reads its NHWC bits in (h, w, c) order: here a 1x2x32
// activation act(w, c) = alt(c) q(w), q = (1, -1).
TEST(NetReference, BfcOnALayerFlattensHwc) {
  const Model m = parse("model t\ninput 1 1 2\ninput_scale 1\nc1 stem input 32 1 1 0\nfc bfc c1 2 - - - out=float\n");
  Weights w = plain_weights(m);
  alternating_stem(w.layers[0], 32);
  auto& fw = w.layers[1].w;
  for (int x = 0; x < 2; ++x)
    for (int c = 0; c < 32; ++c) {
      const int8_t bit = static_cast<int8_t>(alt(c) * (x == 0 ? 1 : -1));
      fw[static_cast<size_t>(x) * 32 + c] = bit;      // output 0: the bits in (h, w, c) order
      fw[64 + static_cast<size_t>(c) * 2 + x] = bit;  // output 1: the same bits in (c, h, w) order
    }
  const auto out = reference_forward(m, w, {1.0f, -1.0f}, 1);
  EXPECT_EQ(out[1].y[0], 64);
  EXPECT_EQ(out[1].y[1], 0);
}

// gamma < 0 flips the comparison: bit = y <= t. y = 3 and -3 at two pixels.
TEST(NetReference, ThresholdFlip) {
  const Model m = parse("model t\ninput 1 1 2\ninput_scale 1\nc1 stem input 32 1 1 0\nfc bfc c1 10 - - - out=float\n");
  Weights w = plain_weights(m);
  LayerWeights& lw = w.layers[0];
  lw.gamma[0] = -1.0f;  // +1 iff y <= 0
  lw.gamma[1] = -1.0f;  // +1 iff y <= 3 (BN(3) = -0 counts as >= 0)
  lw.mean[1] = 3.0f;
  lw.mean[2] = 3.0f;    // +1 iff y >= 3
  lw.beta[3] = 1e9f;    // always +1
  lw.gamma[4] = -1.0f;  // never: BN(y) < 0 for every y
  lw.beta[4] = -1e9f;
  lw.gamma[5] = 0.0f;  // BN = beta < 0: never
  lw.beta[5] = -1.0f;
  const auto out = reference_forward(m, w, {3.0f, -3.0f}, 1);
  const FoldedLayer f = fold_layer(m, w, 0);
  EXPECT_EQ(f.threshold[0], 0);
  EXPECT_EQ(f.flip[0], 1);
  EXPECT_EQ(f.threshold[1], 3);
  EXPECT_EQ(f.flip[1], 1);
  EXPECT_EQ(f.threshold[2], 3);
  EXPECT_EQ(f.flip[2], 0);
  EXPECT_EQ(f.threshold[3], INT32_MIN);
  EXPECT_EQ(f.flip[3], 0);
  for (int c = 0; c < 32; ++c) {
    const auto t = bconv::fold_batch_norm(lw.gamma[c], lw.beta[c], lw.mean[c], lw.var[c], m.bn_eps, 127);
    EXPECT_EQ(f.threshold[c], t.value) << c;
    EXPECT_EQ(f.flip[c], t.flip ? 1 : 0) << c;
  }
  const auto& a = out[0].act;  // pixel 0 (y = 3) at [c], pixel 1 (y = -3) at [32 + c]
  const int want0[6] = {-1, 1, 1, 1, -1, -1}, want1[6] = {1, 1, -1, 1, -1, -1};
  for (int c = 0; c < 6; ++c) {
    EXPECT_EQ(a[c], want0[c]) << c;
    EXPECT_EQ(a[32 + c], want1[c]) << c;
  }
}

TEST(NetReference, Top5) {
  const std::vector<float> logits = {1, 3, 3, 2, 0, 3, -1, NAN,  // ties to the lower index, NaN last
                                     0, 0, 0, 0, 0, 0, 0, 0};
  const auto best = top5(logits, 2, 8);
  ASSERT_EQ(best.size(), 2u);
  EXPECT_EQ(best[0], (std::vector<int>{1, 2, 5, 3, 0}));
  EXPECT_EQ(best[1], (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(top5({0.5f, 2.0f, 1.0f}, 1, 3)[0], (std::vector<int>{1, 2, 0}));  // fewer than 5 classes
  EXPECT_THROW(top5(logits, 3, 8), std::invalid_argument);
}

TEST(NetReference, RefusesMismatchedInputs) {
  const Model m = parse("model t\ninput 1 1 2\ninput_scale 1\nc1 stem input 32 1 1 0\nfc bfc c1 10 - - - out=float\n");
  Weights w = plain_weights(m);
  EXPECT_THROW(reference_forward(m, w, {1.0f}, 1), std::invalid_argument);
  EXPECT_THROW(reference_forward(m, w, {1.0f, 1.0f}, 0), std::invalid_argument);
  w.layers[1].w[7] = 0;
  EXPECT_THROW(reference_forward(m, w, {1.0f, 1.0f}, 1), std::invalid_argument);
  w.layers[1].w.pop_back();
  EXPECT_THROW(reference_forward(m, w, {1.0f, 1.0f}, 1), std::invalid_argument);
  w.layers.pop_back();
  EXPECT_THROW(reference_forward(m, w, {1.0f, 1.0f}, 1), std::invalid_argument);
}

const std::string kModels = std::string(BTC_SOURCE_DIR) + "/models";

std::vector<float> normal_images(std::mt19937& rng, const Model& m, int batch) {
  std::normal_distribution<float> n01(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(batch) * m.input.elements());
  for (auto& v : x) v = n01(rng);
  return x;
}

TEST(NetRandomWeights, SameSeedSameWeights) {
  const Model m = load_model("tiny-resnet", kModels);
  const Weights a = random_weights(m, 7), b = random_weights(m, 7), c = random_weights(m, 8);
  EXPECT_EQ(a.source, "random(seed=7)");
  ASSERT_EQ(a.layers.size(), m.layers.size());
  for (size_t i = 0; i < m.layers.size(); ++i) {
    SCOPED_TRACE(m.layers[i].name);
    const size_t out = static_cast<size_t>(m.layers[i].out);
    EXPECT_EQ(a.layers[i].w.size(), out * static_cast<size_t>(m.shapes[i].dot_bits));
    EXPECT_EQ(a.layers[i].gamma.size(), out);
    EXPECT_EQ(a.layers[i].w, b.layers[i].w);
    EXPECT_EQ(a.layers[i].gamma, b.layers[i].gamma);
    EXPECT_EQ(a.layers[i].beta, b.layers[i].beta);
    EXPECT_EQ(a.layers[i].mean, b.layers[i].mean);
    EXPECT_EQ(a.layers[i].var, b.layers[i].var);
    EXPECT_NE(a.layers[i].w, c.layers[i].w);
    EXPECT_NE(a.layers[i].gamma, c.layers[i].gamma);
  }
  EXPECT_NE(a.layers[1].w, a.layers[2].w);  // two same-shape layers draw differently
}

TEST(NetRandomWeights, Distribution) {
  const Model m = load_model("resnet18-tcbnn", kModels);
  const Weights w = random_weights(m, 1);
  size_t plus = 0, weights = 0, negative = 0, channels = 0;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const LayerWeights& lw = w.layers[i];
    plus += static_cast<size_t>(std::count(lw.w.begin(), lw.w.end(), int8_t{1}));
    weights += lw.w.size();
    for (size_t c = 0; c < lw.gamma.size(); ++c) {
      negative += lw.gamma[c] < 0;
      ++channels;
      EXPECT_GE(std::fabs(lw.gamma[c]), 0.5f);
      EXPECT_LE(std::fabs(lw.gamma[c]), 1.5f);
      EXPECT_LE(std::fabs(lw.beta[c]), 0.5f);
      EXPECT_GT(lw.var[c], 0.0f);
      // The mean sits within half the value scale, the spread within 0.7..1.3 of it
      // (no max-pool here: those thresholds sit one spread off the centre).
      EXPECT_LE(std::fabs(lw.mean[c]), 0.5f * std::sqrt(lw.var[c]) / 0.7f * 1.0001f);
    }
  }
  EXPECT_NEAR(static_cast<double>(plus) / static_cast<double>(weights), 0.5, 0.001);
  EXPECT_NEAR(static_cast<double>(negative) / static_cast<double>(channels), 1.0 / 8, 0.02);
  // The stem's value scale: sqrt(147) * 48 at input_scale 1/64.
  const float sd0 = std::sqrt(w.layers[0].var[0]);
  EXPECT_GE(sd0, 0.7f * std::sqrt(147.0f) * 48 * 0.9999f);
  EXPECT_LE(sd0, 1.3f * std::sqrt(147.0f) * 48 * 1.0001f);
}

// A layer's draws depend on the seed, its name and its shapes only.
TEST(NetRandomWeights, AddingALayerChangesNoOther) {
  const std::string head = "model t\ninput 3 8 8\nc1 stem input 32 3 1 1 save=r0\n";
  const std::string tail = "b1 bconv c1 32 3 1 1 add=r0\nfc bfc b1 10 - - - out=float\n";
  const Model a = parse(head + tail);
  const Model b = parse(head + "side bconv c1 64 3 2 1\n" + tail);
  const Weights wa = random_weights(a, 99), wb = random_weights(b, 99);
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const int j = b.index_of(a.layers[i].name);
    SCOPED_TRACE(a.layers[i].name);
    ASSERT_GE(j, 0);
    EXPECT_EQ(wa.layers[i].w, wb.layers[j].w);
    EXPECT_EQ(wa.layers[i].gamma, wb.layers[j].gamma);
    EXPECT_EQ(wa.layers[i].beta, wb.layers[j].beta);
    EXPECT_EQ(wa.layers[i].mean, wb.layers[j].mean);
    EXPECT_EQ(wa.layers[i].var, wb.layers[j].var);
  }
}

// Each bit layer's +1 fraction, with the weights seeded random: neither all +1
// nor all -1 (the thresholds are centred on the values, the max-pools too).
void expect_balanced(const Model& m, const std::vector<ReferenceLayer>& out, uint64_t seed) {
  for (size_t i = 0; i < m.layers.size(); ++i) {
    if (m.layers[i].float_out) continue;
    const auto& act = out[i].act;
    const double frac = static_cast<double>(std::count(act.begin(), act.end(), int8_t{1})) / static_cast<double>(act.size());
    EXPECT_GE(frac, 0.1) << m.layers[i].name << ", weights seed " << seed;
    EXPECT_LE(frac, 0.9) << m.layers[i].name << ", weights seed " << seed;
  }
}

TEST(NetRandomForward, TinyResnet) {
  BTC_SEEDED_RNG(rng);
  const Model m = load_model("tiny-resnet", kModels);
  const int batch = 8;
  const uint64_t seed = rng();
  const Weights w = random_weights(m, seed);
  const auto images = normal_images(rng, m, batch);
  const auto a = reference_forward(m, w, images, batch);
  const auto b = reference_forward(m, w, images, batch);
  ASSERT_EQ(a.size(), m.layers.size());
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    const LayerShapes& sh = m.shapes[i];
    SCOPED_TRACE(l.name);
    EXPECT_EQ(a[i].y, b[i].y);
    EXPECT_EQ(a[i].act, b[i].act);
    ASSERT_EQ(a[i].y.size(), static_cast<size_t>(batch) * sh.conv_out.elements());
    for (const int32_t v : a[i].y) ASSERT_LE(std::abs(static_cast<int64_t>(v)), sh.value_bound);
    if (l.float_out) {
      EXPECT_EQ(a[i].logits, b[i].logits);
      EXPECT_EQ(a[i].logits.size(), static_cast<size_t>(batch) * m.classes);
      for (const float v : a[i].logits) EXPECT_TRUE(std::isfinite(v));
      EXPECT_TRUE(a[i].act.empty());
      continue;
    }
    ASSERT_EQ(a[i].act.size(), static_cast<size_t>(batch) * sh.out.elements());
    for (const int8_t v : a[i].act) ASSERT_TRUE(v == 1 || v == -1);
  }
  expect_balanced(m, a, seed);
  // Another seed, other logits; the top-5 of each image are 5 distinct classes.
  const auto c = reference_forward(m, random_weights(m, seed + 1), images, batch);
  EXPECT_NE(a.back().logits, c.back().logits);
  for (const auto& best : top5(a.back().logits, batch, m.classes)) {
    ASSERT_EQ(best.size(), 5u);
    EXPECT_EQ(std::set<int>(best.begin(), best.end()).size(), 5u);
  }
}

// The same balance on the paper's networks (vgg16 left out: 15 G MACs an image).
class NetRandomForwardShipped : public ::testing::TestWithParam<std::string> {};

TEST_P(NetRandomForwardShipped, ActivationsStayBalanced) {
  BTC_SEEDED_RNG(rng);
  const Model m = load_model(GetParam(), kModels);
  const int batch = m.shapes[0].conv_out.elements() > 100000 ? 1 : 2;
  const uint64_t seed = rng();
  const auto out = reference_forward(m, random_weights(m, seed), normal_images(rng, m, batch), batch);
  expect_balanced(m, out, seed);
}

INSTANTIATE_TEST_SUITE_P(Models, NetRandomForwardShipped,
                         ::testing::Values("alexnet", "cifar10-resnet14", "cifar10-vgg", "mnist-mlp", "resnet18-tcbnn"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string name = p.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });


// ---- half precision (net/weights.h): IEEE binary16, round to nearest even

uint32_t float_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
float bits_float(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// The value of a half bit pattern, from the definition (double arithmetic).
double half_value(uint16_t h) {
  const int e = (h >> 10) & 0x1f, mant = h & 0x3ff;
  const double mag = e == 0 ? std::ldexp(mant, -24) : std::ldexp(1024 + mant, e - 25);
  return (h & 0x8000) ? -mag : mag;
}

TEST(NetHalf, EveryHalfRoundTrips) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const uint16_t h = static_cast<uint16_t>(b);
    const float f = half_bits_to_float(h);
    const int e = (h >> 10) & 0x1f;
    SCOPED_TRACE(::testing::Message() << "half 0x" << std::hex << b);
    // The independent decoder of the safetensors reader agrees bit for bit.
    ASSERT_EQ(float_bits(f), float_bits(f16_to_f32(h)));
    if (e == 0x1f && (h & 0x3ff) != 0) {  // NaN stays NaN, and comes back a quiet NaN
      ASSERT_TRUE(std::isnan(f));
      const uint16_t back = float_to_half_bits(f);
      ASSERT_EQ(back & 0x7c00, 0x7c00);
      ASSERT_NE(back & 0x3ff, 0);
      ASSERT_NE(back & 0x200, 0);  // quiet
      ASSERT_EQ(back & 0x8000, h & 0x8000);
      continue;
    }
    if (e == 0x1f) {
      ASSERT_TRUE(std::isinf(f));
    } else {
      ASSERT_EQ(static_cast<double>(f), half_value(h));
    }
    ASSERT_EQ(float_to_half_bits(f), h);  // -0 too
    ASSERT_EQ(float_bits(round_half(f)), float_bits(f));
  }
}

// Every midpoint between neighbouring halves goes to the even one, and the
// floats just either side of it to the nearer one: the whole rounding rule,
// normals and subnormals, and the overflow at 65520 (halfway from 65504 to 2^16).
TEST(NetHalf, RoundToNearestEvenAtEveryMidpoint) {
  for (uint32_t b = 0; b < 0x7c00; ++b) {
    const uint16_t lo = static_cast<uint16_t>(b), hi = static_cast<uint16_t>(b + 1);
    const double vlo = half_value(lo), vhi = b + 1 == 0x7c00 ? 65536.0 : half_value(hi);
    const float mid = static_cast<float>((vlo + vhi) / 2);  // exact: 12 significant bits
    ASSERT_EQ(static_cast<double>(mid), (vlo + vhi) / 2);
    SCOPED_TRACE(::testing::Message() << "between 0x" << std::hex << b << " and 0x" << b + 1);
    const uint16_t even = (b & 1) ? hi : lo;
    for (const float sign : {1.0f, -1.0f}) {
      const uint16_t s = sign < 0 ? 0x8000 : 0;
      ASSERT_EQ(float_to_half_bits(sign * mid), s | even);
      ASSERT_EQ(float_to_half_bits(sign * std::nextafter(mid, INFINITY)), s | hi);
      ASSERT_EQ(float_to_half_bits(sign * std::nextafter(mid, 0.0f)), s | lo);
    }
  }
}

TEST(NetHalf, NamedCases) {
  EXPECT_EQ(float_to_half_bits(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half_bits(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half_bits(0.0f), 0x0000);
  EXPECT_EQ(float_to_half_bits(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half_bits(1.0f + 0x1p-11f), 0x3c00);         // a tie: to even (1)
  EXPECT_EQ(float_to_half_bits(1.0f + 3 * 0x1p-11f), 0x3c02);     // a tie: to even (1 + 2^-9)
  EXPECT_EQ(float_to_half_bits(1.0f + 0x1p-11f + 0x1p-23f), 0x3c01);  // past the tie
  EXPECT_EQ(float_to_half_bits(0.1f), 0x2e66);
  EXPECT_EQ(float_to_half_bits(65504.0f), 0x7bff);   // the largest half
  EXPECT_EQ(float_to_half_bits(65519.996f), 0x7bff);
  EXPECT_EQ(float_to_half_bits(65520.0f), 0x7c00);   // overflow: a tie, to even = inf
  EXPECT_EQ(float_to_half_bits(1e9f), 0x7c00);
  EXPECT_EQ(float_to_half_bits(-1e30f), 0xfc00);
  EXPECT_EQ(float_to_half_bits(INFINITY), 0x7c00);
  EXPECT_EQ(float_to_half_bits(-INFINITY), 0xfc00);
  EXPECT_EQ(float_to_half_bits(0x1p-14f), 0x0400);   // the smallest normal
  EXPECT_EQ(float_to_half_bits(0x1p-24f), 0x0001);   // the smallest subnormal
  EXPECT_EQ(float_to_half_bits(0x1p-25f), 0x0000);   // half of it: a tie, to even = 0
  EXPECT_EQ(float_to_half_bits(-0x1p-25f), 0x8000);
  EXPECT_EQ(float_to_half_bits(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
  EXPECT_EQ(float_to_half_bits(3 * 0x1p-25f), 0x0002);  // 1.5 units: to even (2)
  EXPECT_EQ(float_to_half_bits(5 * 0x1p-25f), 0x0002);  // 2.5 units: to even (2)
  EXPECT_EQ(float_to_half_bits(1023.5f * 0x1p-24f), 0x0400);  // the largest subnormal's tie rounds up to a normal
  EXPECT_EQ(float_to_half_bits(1e-30f), 0x0000);
  EXPECT_EQ(float_to_half_bits(0x1p-149f), 0x0000);  // the smallest float subnormal
  EXPECT_EQ(float_to_half_bits(bits_float(0x7fc00000u)), 0x7e00);   // quiet NaN
  EXPECT_EQ(float_to_half_bits(bits_float(0x7f800001u)), 0x7e00);   // signalling NaN: quieted
  EXPECT_EQ(float_to_half_bits(bits_float(0xffc02000u)), 0xfe01);   // sign and top payload kept
  EXPECT_TRUE(std::isnan(round_half(NAN)));
  EXPECT_EQ(round_half(0.1f), 0.0999755859375f);
  EXPECT_EQ(half_bits_to_float(0x0001), 0x1p-24f);
  EXPECT_EQ(half_bits_to_float(0x03ff), 1023 * 0x1p-24f);
  EXPECT_EQ(half_bits_to_float(0x7bff), 65504.0f);
  EXPECT_EQ(half_bits_to_float(0xfc00), -INFINITY);
}

// Random floats against the compiler's own conversion where it has one
// (_Float16: libgcc's RNE __truncsfhf2), or against the nearest half by value.
TEST(NetHalf, RandomFloatsRoundToTheNearest) {
  BTC_SEEDED_RNG(rng);
  std::uniform_int_distribution<uint32_t> bits;
  for (int t = 0; t < 2000000; ++t) {
    uint32_t u = bits(rng);
    if (t % 2) u = (u & 0x807fffffu) | ((100u + u % 45u) << 23);  // half the draws near the half range
    const float x = bits_float(u);
    if (std::isnan(x)) continue;
    const uint16_t h = float_to_half_bits(x);
#if defined(__FLT16_MAX__)
    const _Float16 c = static_cast<_Float16>(x);
    uint16_t want;
    std::memcpy(&want, &c, sizeof want);
    ASSERT_EQ(h, want) << "x = " << x << " (0x" << std::hex << u << ")";
#endif
    // No half is nearer (ties: the even one).
    const double v = static_cast<double>(x);
    if (std::fabs(v) >= 65520.0) {
      ASSERT_EQ(h & 0x7fff, 0x7c00) << x;
      continue;
    }
    const double got = std::fabs(half_value(h) - v);
    for (const int d : {-1, 1}) {
      const int nb = static_cast<int>(h & 0x7fff) + d;
      if (nb < 0 || nb > 0x7bff) continue;
      const double other = std::fabs(half_value(static_cast<uint16_t>((h & 0x8000) | nb)) - v);
      ASSERT_TRUE(got < other || (got == other && (h & 1) == 0)) << "x = " << x;
    }
  }
}

// scale = gamma / sqrtf(var + eps), shift = beta - mean * scale, in fp32.
TEST(NetHalf, FoldAffine) {
  const Model m = parse("model t\ninput 3 4 4\nbn_eps 1\nc conv input 32 1 1 0\nfc fc c 10 - - - out=float\n");
  Weights w = random_weights(m, 3);
  LayerWeights& lw = w.layers[0];
  lw.gamma[0] = 2.0f, lw.var[0] = 3.0f, lw.mean[0] = 0.5f, lw.beta[0] = 0.25f;  // sqrt(4) = 2: scale 1
  lw.gamma[1] = -3.0f, lw.var[1] = 8.0f, lw.mean[1] = -1.0f, lw.beta[1] = 0.0f;  // sqrt(9) = 3: scale -1
  const AffineLayer a = fold_affine(m, w, 0);
  ASSERT_EQ(a.scale.size(), 32u);
  EXPECT_EQ(a.scale[0], 1.0f);
  EXPECT_EQ(a.shift[0], -0.25f);
  EXPECT_EQ(a.scale[1], -1.0f);
  EXPECT_EQ(a.shift[1], -1.0f);
  for (int c = 0; c < 32; ++c) {
    const float scale = lw.gamma[c] / std::sqrt(lw.var[c] + 1.0f);
    const float prod = lw.mean[c] * scale;
    EXPECT_EQ(a.scale[c], scale) << c;
    EXPECT_EQ(a.shift[c], lw.beta[c] - prod) << c;
  }
  EXPECT_THROW(fold_affine(m, w, 1), std::invalid_argument);  // an fc has no batch norm
  EXPECT_THROW(fold_affine(m, w, 2), std::invalid_argument);
}

// ---- the half-precision layers in the reference (docs/models.md)

// A 1x1 image of 2 channels into a 1x1 conv of +1 weights, scale 1 and
// shift 0 (gamma 1, var 1 - eps is not exact: set var and eps so sqrt is 1).
Weights identity_conv_weights(const Model& m) {
  Weights w = random_weights(m, 1);
  for (size_t i = 0; i < m.layers.size(); ++i) {
    LayerWeights& lw = w.layers[i];
    std::fill(lw.wf.begin(), lw.wf.end(), 1.0f);
    std::fill(lw.bias.begin(), lw.bias.end(), 0.0f);
    std::fill(lw.gamma.begin(), lw.gamma.end(), 1.0f);
    std::fill(lw.beta.begin(), lw.beta.end(), 0.0f);
    std::fill(lw.mean.begin(), lw.mean.end(), 0.0f);
    std::fill(lw.var.begin(), lw.var.end(), 0.75f);  // + eps 0.25: sqrt(1) = 1
  }
  return w;
}

// The image is rounded to half before the conv: 1 + 2^-11 is 1 in half, so
// acc = 1 + 2^-11 and y = half(1 + 2^-11) = 1 (a tie, to even); from the
// unrounded pixels acc would be 1 + 2^-10, a half of its own.
TEST(NetHalfReference, TheImageIsRoundedToHalf) {
  const Model m = parse("model t\ninput 2 1 1\nbn_eps 0.25\nc conv input 32 1 1 0\nfc fc c 1 - - - out=float\n");
  const Weights w = identity_conv_weights(m);
  const auto out = reference_forward(m, w, {1.0f + 0x1p-11f, 0x1p-11f}, 1);
  ASSERT_EQ(out[0].half.size(), 32u);
  EXPECT_EQ(out[0].half[0], 1.0f);
  EXPECT_TRUE(out[0].y.empty());
  EXPECT_EQ(out[0].act, std::vector<int8_t>(32, 1));
  // fc: the mean of one value is itself; logit = half(32 * 1 + 0).
  EXPECT_EQ(out[1].logits, std::vector<float>{32.0f});
}

// prepool=avg2: half((((a + b) + c) + d) * 0.25f); the 2x2 image holds
// 1, 1, 1, 1 + 3 * 2^-10: the mean 1 + 3 * 2^-12 rounds to 1 + 2^-10.
// pool=max3 keeps the larger of +0 and -0 as +0 (as __hmax), and a window
// of -0 only stays -0 (its sign bit still reads +1).
TEST(NetHalfReference, Avg2AndMax3) {
  const Model a = parse("model t\ninput 1 2 2\nbn_eps 0.25\nc conv input 32 1 1 0 prepool=avg2\nfc fc c 1 - - - out=float\n");
  const auto oa = reference_forward(a, identity_conv_weights(a), {1.0f, 1.0f, 1.0f, 1.0f + 3 * 0x1p-10f}, 1);
  EXPECT_EQ(oa[0].half[0], 1.0f + 0x1p-10f);
  // y = half(fma(scale, x, shift)) with scale ~ 2e-10, shift = -1e-10: x = 1
  // gives +1e-10 -> +0, x = 0 gives -1e-10 -> -0. A 5x5 map pools to 3x3.
  const Model m = parse("model t\ninput 1 5 5\nc conv input 32 1 1 0 pool=max3\nfc fc c 1 - - - out=float\n");
  Weights w = identity_conv_weights(m);
  LayerWeights& lw = w.layers[0];
  std::fill(lw.var.begin(), lw.var.end(), 1.0f);
  std::fill(lw.gamma.begin(), lw.gamma.end(), 2e-10f);
  std::fill(lw.beta.begin(), lw.beta.end(), -1e-10f);
  std::vector<float> image(25, 0.0f);
  image[0] = 1.0f;           // (0, 0): in windows (0, 0) only
  image[2 * 5 + 4] = 5.0f;  // (2, 4): in window (1, 2) only (rows 1-3, columns 3-4)
  const auto out = reference_forward(m, w, image, 1);
  ASSERT_EQ(out[0].half.size(), 9u * 32);
  auto at = [&](int i, int j) { return out[0].half[(static_cast<size_t>(i) * 3 + j) * 32]; };
  EXPECT_EQ(float_bits(at(0, 0)), float_bits(0.0f));  // +0 beats -0
  EXPECT_EQ(float_bits(at(1, 1)), float_bits(-0.0f));  // rows 1-3, cols 1-3: all -0
  EXPECT_EQ(float_bits(at(2, 0)), float_bits(-0.0f));
  // Output (i, j) pools rows 2i-1..2i+1 and columns 2j-1..2j+1 that are in the map.
  const float big = round_half(std::fma(fold_affine(m, w, 0).scale[0], 5.0f, -1e-10f));
  EXPECT_EQ(big, 0.0f);  // still below half's range: +0
  EXPECT_EQ(float_bits(at(1, 2)), float_bits(0.0f));
  EXPECT_EQ(float_bits(at(2, 2)), float_bits(-0.0f));  // rows 3-4
  EXPECT_EQ(float_bits(at(0, 2)), float_bits(-0.0f));  // rows 0-1
  for (const int8_t v : out[0].act) EXPECT_EQ(v, 1);  // -0 >= 0
}

// Layer i of identity_conv_weights reading only input channel 0: acc = x_0.
void read_channel_0(Weights& w, int i, int c) {
  LayerWeights& lw = w.layers[static_cast<size_t>(i)];
  std::fill(lw.wf.begin(), lw.wf.end(), 0.0f);
  for (size_t o = 0; o < lw.wf.size() / static_cast<size_t>(c); ++o) lw.wf[o * static_cast<size_t>(c)] = 1.0f;
}

// A conv's shortcut and ReLU: v = half(fma(scale, acc, shift) + s), then
// v > 0 ? v : +0 (so -0 and a negative value become +0).
TEST(NetHalfReference, ConvShortcutAndRelu) {
  const std::string head = "model t\ninput 1 2 1\nbn_eps 0.25\na conv input 32 1 1 0\n";
  const std::string tail = "fc fc b 1 - - - out=float\n";
  const Model m = parse(head + "b conv a 32 1 1 0 shortcut=a act=relu\n" + tail);
  Weights w = identity_conv_weights(m);
  read_channel_0(w, 1, 32);
  // b: scale 1, shift -3: from a = x, v = (x - 3) + x.
  std::fill(w.layers[1].beta.begin(), w.layers[1].beta.end(), -3.0f);
  const auto out = reference_forward(m, w, {2.5f, 1.0f}, 1);
  ASSERT_EQ(out[1].half.size(), 2u * 32);
  EXPECT_EQ(out[1].half[0], 2.0f);                           // (2.5 - 3) + 2.5
  EXPECT_EQ(float_bits(out[1].half[32]), float_bits(0.0f));  // (1 - 3) + 1 = -1 -> +0
  // Without the ReLU the same layer keeps the sign.
  const Model n = parse(head + "b conv a 32 1 1 0 shortcut=a\n" + tail);
  Weights wn = identity_conv_weights(n);
  read_channel_0(wn, 1, 32);
  std::fill(wn.layers[1].beta.begin(), wn.layers[1].beta.end(), -3.0f);
  EXPECT_EQ(reference_forward(n, wn, {2.5f, 1.0f}, 1)[1].half[32], -1.0f);
  // A -0 becomes +0: scale -1 and shift -0 (beta -0 - mean -0 * -1) on acc
  // = +0 give fma = -0.
  const Model z = parse(head + "b conv a 32 1 1 0 act=relu\n" + tail);
  const Model zn = parse(head + "b conv a 32 1 1 0\n" + tail);
  for (const Model* mm : {&z, &zn}) {
    Weights wz = identity_conv_weights(*mm);
    read_channel_0(wz, 1, 32);
    std::fill(wz.layers[1].gamma.begin(), wz.layers[1].gamma.end(), -1.0f);
    std::fill(wz.layers[1].beta.begin(), wz.layers[1].beta.end(), -0.0f);
    std::fill(wz.layers[1].mean.begin(), wz.layers[1].mean.end(), -0.0f);
    const auto oz = reference_forward(*mm, wz, {0.0f, 0.0f}, 1);
    EXPECT_EQ(float_bits(oz[1].half[0]), float_bits(mm == &z ? 0.0f : -0.0f));
  }
}

// half_bound covers the same products summed in another order: the
// reference's conv against the reversed-order sum of every output, for a
// conv with a long K (3x3x256) on random half inputs.
TEST(NetHalfReference, HalfBoundCoversAReorderedSum) {
  const Model m = parse("model t\ninput 256 5 5\nc conv input 32 3 1 1 act=relu\nfc fc c 1 - - - out=float\n");
  const Weights w = random_weights(m, 3);
  const std::vector<float> images = random_images(m, 1, 4);
  const auto out = reference_forward(m, w, images, 1);
  const AffineLayer a = fold_affine(m, w, 0);
  ASSERT_EQ(out[0].half_bound.size(), out[0].half.size());
  int64_t equal = 0;
  for (int p = 0; p < 5; ++p)
    for (int q = 0; q < 5; ++q)
      for (int o = 0; o < 32; ++o) {
        float acc = 0.0f;  // c descending, then s, then r: the reverse order
        for (int r = 2; r >= 0; --r)
          for (int s2 = 2; s2 >= 0; --s2) {
            const int h = p - 1 + r, x = q - 1 + s2;
            if (h < 0 || h >= 5 || x < 0 || x >= 5) continue;
            for (int c = 255; c >= 0; --c) {
              const float xv = round_half(images[(static_cast<size_t>(c) * 5 + h) * 5 + x]);
              acc += xv * w.layers[0].wf[((static_cast<size_t>(o) * 3 + r) * 3 + s2) * 256 + c];
            }
          }
        float v = round_half(a.scale[o] * acc + a.shift[o]);
        if (!(v > 0.0f)) v = 0.0f;
        const size_t e = (static_cast<size_t>(p) * 5 + q) * 32 + o;
        EXPECT_LE(std::fabs(v - out[0].half[e]), out[0].half_bound[e]) << e;
        EXPECT_GT(out[0].half_bound[e], 0.0f);
        equal += v == out[0].half[e];
      }
  EXPECT_GT(equal, 5 * 5 * 32 * 9 / 10);  // the check's bit-equal floor holds for a mere reordering
  EXPECT_TRUE(out[1].half_bound.empty());  // an fc has logits_bound instead
  // The fc (K = 800 = 5 x 5 x 32, flattened h, w, c) summed backwards.
  ASSERT_EQ(out[1].logits_bound.size(), 1u);
  float acc = 0.0f;
  for (int e = 5 * 5 * 32 - 1; e >= 0; --e) acc += out[0].half[static_cast<size_t>(e)] * w.layers[1].wf[static_cast<size_t>(e)];
  const float logit = round_half(acc + w.layers[1].bias[0]);
  EXPECT_LE(std::fabs(logit - out[1].logits[0]), out[1].logits_bound[0]);
  EXPECT_GT(out[1].logits_bound[0], 0.0f);
}

// The hook sees each layer's result and what it writes is what the next
// layer reads (the GPU check feeds the runner's outputs forward this way).
TEST(NetHalfReference, HookFeedsItsValuesForward) {
  const Model m = parse(
      "model t\ninput 1 1 1\nbn_eps 0.25\na conv input 32 1 1 0\nb conv a 32 1 1 0\nfc fc b 1 - - - out=float\n");
  Weights w = identity_conv_weights(m);
  read_channel_0(w, 1, 32);
  std::vector<int> seen;
  const auto out = reference_forward(m, w, {1.0f}, 1, [&](int i, ReferenceLayer& r) {
    seen.push_back(i);
    if (i == 0) std::fill(r.half.begin(), r.half.end(), 3.0f);
  });
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(out[0].half[0], 3.0f);
  EXPECT_EQ(out[1].half[0], 3.0f);  // b = a, read after the hook
}

const std::string kModelsDir = std::string(BTC_SOURCE_DIR) + "/models";

// Every value of tiny-bireal's forward recomputed here, naively, from the
// formulas of docs/models.md "Half-precision layers", from each layer's
// input as the reference gives it: the conv (its 3x3 max-pool too), the
// avg2 downsample, the 3x3 conv on half values, each half bconv (with and
// without a shortcut, +1 and -1 padding), the bit bconv on a half layer's
// signs, and the fc logits.
class TinyBireal : public ::testing::Test {
 protected:
  void SetUp() override {
    m = load_model("tiny-bireal", kModelsDir);
    seed = rng();
    w = random_weights(m, seed);
    images = random_images(m, batch, seed + 1);
    out = reference_forward(m, w, images, batch);
  }
  const std::vector<float>& half_of(const std::string& layer) { return out[m.index_of(layer)].half; }
  size_t idx(const Shape& s, int n, int h, int x, int c) const {
    return ((static_cast<size_t>(n) * s.h + h) * s.w + x) * s.c + c;
  }
  // One conv output before any pool, from x (the pooled input, NHWC half values).
  float conv_at(int li, const std::vector<float>& x, int n, int p, int q, int k) const {
    const Layer& l = m.layers[li];
    const LayerShapes& sh = m.shapes[li];
    const Shape& in = sh.pooled_in;
    const AffineLayer a = fold_affine(m, w, li);
    float acc = 0.0f;
    for (int r = 0; r < l.kernel; ++r)
      for (int s = 0; s < l.kernel; ++s) {
        const int h = p * l.stride - l.pad + r, wx = q * l.stride - l.pad + s;
        if (h < 0 || h >= in.h || wx < 0 || wx >= in.w) continue;
        for (int c = 0; c < in.c; ++c)
          acc = std::fma(x[idx(in, n, h, wx, c)],
                         w.layers[li].wf[((static_cast<size_t>(k) * l.kernel + r) * l.kernel + s) * in.c + c], acc);
      }
    return round_half(std::fma(a.scale[k], acc, a.shift[k]));
  }
  // z of a bconv from its input's +-1 act, with its padding value.
  int32_t z_at(int li, const std::vector<int8_t>& act, int n, int p, int q, int k) const {
    const Layer& l = m.layers[li];
    const Shape& in = m.shapes[li].in;
    const int pad = l.pad_value == Pad::kPlusOne ? 1 : l.pad_value == Pad::kMinusOne ? -1 : 0;
    int32_t z = 0;
    for (int r = 0; r < l.kernel; ++r)
      for (int s = 0; s < l.kernel; ++s) {
        const int h = p * l.stride - l.pad + r, wx = q * l.stride - l.pad + s;
        const bool inside = h >= 0 && h < in.h && wx >= 0 && wx < in.w;
        for (int c = 0; c < in.c; ++c)
          z += w.layers[li].w[((static_cast<size_t>(k) * l.kernel + r) * l.kernel + s) * in.c + c] *
               (inside ? act[idx(in, n, h, wx, c)] : pad);
      }
    return z;
  }

  std::mt19937 rng{::btc::test::fresh_seed()};
  Model m;
  uint64_t seed = 0;
  Weights w;
  const int batch = 3;
  std::vector<float> images;
  std::vector<ReferenceLayer> out;
};

TEST_F(TinyBireal, ConvWithMaxPool3) {
  SCOPED_TRACE("weights seed " + std::to_string(seed));
  const int li = m.index_of("conv1");
  const LayerShapes& sh = m.shapes[li];
  // The image as half NHWC, by hand.
  std::vector<float> x(static_cast<size_t>(batch) * m.input.elements());
  for (int n = 0; n < batch; ++n)
    for (int c = 0; c < 3; ++c)
      for (int h = 0; h < 16; ++h)
        for (int wx = 0; wx < 16; ++wx)
          x[idx(m.input, n, h, wx, c)] = round_half(images[((static_cast<size_t>(n) * 3 + c) * 16 + h) * 16 + wx]);
  const auto& got = out[li].half;
  ASSERT_EQ(got.size(), static_cast<size_t>(batch) * sh.out.elements());
  for (int n = 0; n < batch; ++n)
    for (int i = 0; i < sh.out.h; ++i)
      for (int j = 0; j < sh.out.w; ++j)
        for (int k = 0; k < 32; ++k) {
          float v = -INFINITY;
          for (int h = std::max(0, 2 * i - 1); h <= std::min(sh.conv_out.h - 1, 2 * i + 1); ++h)
            for (int wx = std::max(0, 2 * j - 1); wx <= std::min(sh.conv_out.w - 1, 2 * j + 1); ++wx) {
              const float y = conv_at(li, x, n, h, wx, k);
              if (y > v || (y == v && !std::signbit(y))) v = y;
            }
          ASSERT_EQ(float_bits(got[idx(sh.out, n, i, j, k)]), float_bits(v)) << n << " " << i << " " << j << " " << k;
          ASSERT_EQ(out[li].act[idx(sh.out, n, i, j, k)], v >= 0.0f ? 1 : -1);
        }
  EXPECT_TRUE(out[li].y.empty());
}

TEST_F(TinyBireal, DownsampleAndConvOnHalfValues) {
  SCOPED_TRACE("weights seed " + std::to_string(seed));
  // down2: the 2x2 average of b1b (8x8x32 -> 4x4x32), then a 1x1 conv to 64.
  const int di = m.index_of("down2");
  const auto& b1b = half_of("b1b");
  const Shape& in = m.shapes[di].in;
  const Shape& pooled = m.shapes[di].pooled_in;
  std::vector<float> p(static_cast<size_t>(batch) * pooled.elements());
  for (int n = 0; n < batch; ++n)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j)
        for (int c = 0; c < 32; ++c) {
          const float a = b1b[idx(in, n, 2 * i, 2 * j, c)], b = b1b[idx(in, n, 2 * i, 2 * j + 1, c)];
          const float cc = b1b[idx(in, n, 2 * i + 1, 2 * j, c)], d = b1b[idx(in, n, 2 * i + 1, 2 * j + 1, c)];
          p[idx(pooled, n, i, j, c)] = round_half((((a + b) + cc) + d) * 0.25f);
        }
  for (int n = 0; n < batch; ++n)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j)
        for (int k = 0; k < 64; ++k)
          ASSERT_EQ(float_bits(half_of("down2")[idx(m.shapes[di].out, n, i, j, k)]), float_bits(conv_at(di, p, n, i, j, k)));
  // mix: a 3x3 pad-1 conv on b2c's values (borders skip their outside taps).
  const int xi = m.index_of("mix");
  for (int n = 0; n < batch; ++n)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j)
        for (int k = 0; k < 64; ++k)
          ASSERT_EQ(float_bits(half_of("mix")[idx(m.shapes[xi].out, n, i, j, k)]),
                    float_bits(conv_at(xi, half_of("b2c"), n, i, j, k)));
}

TEST_F(TinyBireal, HalfBconvs) {
  SCOPED_TRACE("weights seed " + std::to_string(seed));
  for (const char* name : {"b1a", "b1b", "b2a", "b2b", "b2c"}) {
    SCOPED_TRACE(name);
    const int li = m.index_of(name);
    const Layer& l = m.layers[li];
    const LayerShapes& sh = m.shapes[li];
    const auto& in_act = out[m.index_of(l.input)].act;
    const AffineLayer a = fold_affine(m, w, li);
    const std::vector<float>* shortcut = l.shortcut.empty() ? nullptr : &half_of(l.shortcut);
    ASSERT_EQ(out[li].y.size(), static_cast<size_t>(batch) * sh.conv_out.elements());
    ASSERT_EQ(out[li].half.size(), out[li].y.size());
    for (int n = 0; n < batch; ++n)
      for (int p = 0; p < sh.conv_out.h; ++p)
        for (int q = 0; q < sh.conv_out.w; ++q)
          for (int k = 0; k < l.out; ++k) {
            const size_t e = idx(sh.conv_out, n, p, q, k);
            const int32_t z = z_at(li, in_act, n, p, q, k);
            ASSERT_EQ(out[li].y[e], z);
            const float bn = std::fma(a.scale[k], static_cast<float>(z), a.shift[k]);
            const float want = round_half(shortcut ? bn + (*shortcut)[e] : bn);
            ASSERT_EQ(float_bits(out[li].half[e]), float_bits(want));
            ASSERT_EQ(out[li].act[e], want >= 0.0f ? 1 : -1);
          }
  }
  // The bit layer on b2b's signs: the usual threshold on z.
  const int bi = m.index_of("bits");
  const FoldedLayer f = fold_layer(m, w, bi);
  const LayerShapes& sh = m.shapes[bi];
  EXPECT_TRUE(out[bi].half.empty());
  for (int n = 0; n < batch; ++n)
    for (int p = 0; p < 4; ++p)
      for (int q = 0; q < 4; ++q)
        for (int k = 0; k < 64; ++k) {
          const size_t e = idx(sh.conv_out, n, p, q, k);
          const int32_t z = z_at(bi, out[m.index_of("b2b")].act, n, p, q, k);
          ASSERT_EQ(out[bi].y[e], z);
          ASSERT_EQ(out[bi].act[e], (f.flip[k] ? z <= f.threshold[k] : z >= f.threshold[k]) ? 1 : -1);
        }
}

TEST_F(TinyBireal, FcLogits) {
  SCOPED_TRACE("weights seed " + std::to_string(seed));
  const int fi = m.index_of("fc");
  const auto& mix = half_of("mix");  // 4x4x64
  const LayerWeights& lw = w.layers[fi];
  ASSERT_EQ(out[fi].logits.size(), static_cast<size_t>(batch) * 10);
  EXPECT_TRUE(out[fi].act.empty());
  EXPECT_TRUE(out[fi].y.empty());
  for (int n = 0; n < batch; ++n) {
    float avg[64];
    for (int c = 0; c < 64; ++c) {
      float sum = 0.0f;
      for (int h = 0; h < 4; ++h)
        for (int x = 0; x < 4; ++x) sum += mix[idx(m.shapes[fi].in, n, h, x, c)];
      avg[c] = round_half(sum / 16.0f);
    }
    for (int k = 0; k < 10; ++k) {
      float acc = 0.0f;
      for (int c = 0; c < 64; ++c) acc = std::fma(avg[c], lw.wf[static_cast<size_t>(k) * 64 + c], acc);
      EXPECT_EQ(float_bits(out[fi].logits[static_cast<size_t>(n) * 10 + k]), float_bits(round_half(acc + lw.bias[k])));
    }
  }
  for (const auto& best : top5(out[fi].logits, batch, 10)) EXPECT_EQ(std::set<int>(best.begin(), best.end()).size(), 5u);
}

// fc without prepool: the half input flattened in (h, w, c) order.
TEST(NetHalfReference, FcFlattensHwc) {
  const Model m = parse("model t\ninput 1 1 2\nbn_eps 0.25\nc conv input 32 1 1 0\nfc fc c 2 - - - out=float\n");
  Weights w = identity_conv_weights(m);
  auto& fw = w.layers[1].wf;  // 2 x 64
  std::fill(fw.begin(), fw.end(), 0.0f);
  fw[0] = 1.0f;        // output 0: (w 0, c 0)
  fw[32 + 5] = 0.5f;   // and (w 1, c 5)
  fw[64 + 1] = -2.0f;  // output 1: (w 0, c 1)
  w.layers[1].bias = {0.25f, 0.0f};
  const auto out = reference_forward(m, w, {3.0f, -1.0f}, 1);  // conv: every channel = the pixel
  EXPECT_EQ(out[1].logits, (std::vector<float>{3.0f - 0.5f + 0.25f, -6.0f}));
}

TEST(NetHalfReference, RefusesWeightsItCannotMean) {
  const Model m = parse("model t\ninput 3 2 2\nc conv input 32 1 1 0\nfc fc c 2 - - - out=float\n");
  const std::vector<float> image(12, 1.0f);
  Weights w = random_weights(m, 1);
  EXPECT_NO_THROW(reference_forward(m, w, image, 1));
  Weights bad = w;
  bad.layers[0].wf[3] = 0.1f;  // not a half
  EXPECT_THROW(reference_forward(m, bad, image, 1), std::invalid_argument);
  bad = w;
  bad.layers[0].wf.pop_back();
  EXPECT_THROW(reference_forward(m, bad, image, 1), std::invalid_argument);
  bad = w;
  bad.layers[1].bias.pop_back();
  EXPECT_THROW(reference_forward(m, bad, image, 1), std::invalid_argument);
  bad = w;
  bad.layers[1].bias[0] = INFINITY;
  EXPECT_THROW(reference_forward(m, bad, image, 1), std::invalid_argument);
  bad = w;
  bad.layers[0].w.assign(32 * 3, 1);  // a conv has real weights only
  EXPECT_THROW(reference_forward(m, bad, image, 1), std::invalid_argument);
  bad = w;
  bad.layers[0].gamma.pop_back();
  EXPECT_THROW(reference_forward(m, bad, image, 1), std::invalid_argument);
}

// ---- seeded weights of the half layers, and whole forwards

TEST(NetRandomWeights, HalfLayers) {
  const Model m = load_model("resnet18-bireal", kModelsDir);
  const Weights w = random_weights(m, 5), again = random_weights(m, 5), other = random_weights(m, 6);
  size_t negative = 0, channels = 0;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    const LayerWeights& lw = w.layers[i];
    SCOPED_TRACE(l.name);
    EXPECT_EQ(lw.wf, again.layers[i].wf);
    EXPECT_EQ(lw.gamma, again.layers[i].gamma);
    EXPECT_EQ(lw.bias, again.layers[i].bias);
    const size_t n = static_cast<size_t>(l.out) * static_cast<size_t>(m.shapes[i].dot_bits);
    if (l.op == Op::kConv || l.op == Op::kFc) {
      EXPECT_NE(lw.wf, other.layers[i].wf);
      ASSERT_EQ(lw.wf.size(), n);
      EXPECT_TRUE(lw.w.empty());
      const float range = std::sqrt(3.0f / static_cast<float>(m.shapes[i].dot_bits));
      double sq = 0;
      for (const float v : lw.wf) {
        ASSERT_EQ(round_half(v), v);
        ASSERT_LE(std::fabs(v), range * 1.001f);
        sq += static_cast<double>(v) * v;
      }
      EXPECT_NEAR(sq / static_cast<double>(n) * static_cast<double>(m.shapes[i].dot_bits), 1.0, 0.1);  // E[w^2] = 1/K
    } else {
      ASSERT_EQ(lw.w.size(), n);
      EXPECT_TRUE(lw.wf.empty());
    }
    if (l.op == Op::kFc) {
      ASSERT_EQ(lw.bias.size(), static_cast<size_t>(l.out));
      EXPECT_TRUE(lw.gamma.empty());
      for (const float b : lw.bias) {
        EXPECT_EQ(round_half(b), b);
        EXPECT_LE(std::fabs(b), 0.05f);
      }
      continue;
    }
    ASSERT_EQ(lw.gamma.size(), static_cast<size_t>(l.out));
    for (int c = 0; c < l.out; ++c) {
      EXPECT_GE(std::fabs(lw.gamma[c]), 0.5f);
      EXPECT_LE(std::fabs(lw.gamma[c]), 1.5f);
      EXPECT_LE(std::fabs(lw.beta[c]), 0.5f);
      EXPECT_GT(lw.var[c], 0.0f);
      if (l.op == Op::kConv) {
        EXPECT_GT(lw.gamma[c], 0.0f);  // no flips on the real convs
      }
      if (l.op == Op::kBconv) {
        negative += lw.gamma[c] < 0;
        ++channels;
        // s = sqrt(K): the mean within 0.1 s of 0, the spread 0.7..1.3 s
        const float s = std::sqrt(static_cast<float>(m.shapes[i].dot_bits));
        EXPECT_LE(std::fabs(lw.mean[c]), 0.1f * s * 1.0001f);
        EXPECT_GE(std::sqrt(lw.var[c]), 0.7f * s * 0.9999f);
        EXPECT_LE(std::sqrt(lw.var[c]), 1.3f * s * 1.0001f);
      }
    }
  }
  EXPECT_NEAR(static_cast<double>(negative) / static_cast<double>(channels), 1.0 / 8, 0.02);
}

// Adding a half layer changes no other layer's draws.
TEST(NetRandomWeights, AddingAHalfLayerChangesNoOther) {
  const std::string head = "model t\ninput 3 8 8\nc1 conv input 32 3 1 1\n";
  const std::string tail = "b1 bconv c1 32 3 1 1 out=half shortcut=c1\nfc fc b1 10 - - - prepool=avg out=float\n";
  const Model a = parse(head + tail);
  const Model b = parse(head + "side conv c1 64 1 1 0 prepool=avg2\nside2 bconv c1 32 3 1 1 out=half\n" + tail);
  const Weights wa = random_weights(a, 99), wb = random_weights(b, 99);
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const int j = b.index_of(a.layers[i].name);
    SCOPED_TRACE(a.layers[i].name);
    EXPECT_EQ(wa.layers[i].w, wb.layers[j].w);
    EXPECT_EQ(wa.layers[i].wf, wb.layers[j].wf);
    EXPECT_EQ(wa.layers[i].bias, wb.layers[j].bias);
    EXPECT_EQ(wa.layers[i].gamma, wb.layers[j].gamma);
    EXPECT_EQ(wa.layers[i].mean, wb.layers[j].mean);
    EXPECT_EQ(wa.layers[i].var, wb.layers[j].var);
  }
}

// Every layer's +1 fraction, and each half layer's values: half and finite,
// of order 1, its signs its act. `fractions`: the +1 fraction per layer (-1: the logits).
void expect_half_forward_sane(const Model& m, const std::vector<ReferenceLayer>& out, int batch, uint64_t seed,
                              std::vector<double>* fractions = nullptr) {
  std::vector<double> frac_of;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    const LayerShapes& sh = m.shapes[i];
    SCOPED_TRACE(l.name + ", weights seed " + std::to_string(seed));
    if (l.float_out) {
      EXPECT_EQ(out[i].logits.size(), static_cast<size_t>(batch) * m.classes);
      for (const float v : out[i].logits) EXPECT_TRUE(std::isfinite(v) && round_half(v) == v);
      frac_of.push_back(-1);
      continue;
    }
    const auto& act = out[i].act;
    EXPECT_EQ(act.size(), static_cast<size_t>(batch) * sh.out.elements());
    if (l.half_out) {
      EXPECT_EQ(out[i].half.size(), act.size());
      EXPECT_EQ(out[i].y.size(), l.op == Op::kBconv ? static_cast<size_t>(batch) * sh.conv_out.elements() : 0u);
      double sq = 0;
      for (size_t e = 0; e < act.size(); ++e) {
        const float v = out[i].half[e];
        ASSERT_TRUE(std::isfinite(v) && round_half(v) == v) << e;
        ASSERT_EQ(act[e], v >= 0.0f ? 1 : -1) << e;
        sq += static_cast<double>(v) * v;
      }
      const double rms = std::sqrt(sq / static_cast<double>(act.size()));
      EXPECT_GT(rms, 0.2);
      EXPECT_LT(rms, 8.0);
    } else {
      EXPECT_TRUE(out[i].half.empty());
    }
    const double frac = static_cast<double>(std::count(act.begin(), act.end(), int8_t{1})) / static_cast<double>(act.size());
    EXPECT_GE(frac, 0.1);
    EXPECT_LE(frac, 0.9);
    frac_of.push_back(frac);
  }
  if (fractions) *fractions = frac_of;
}

TEST(NetRandomForward, TinyBireal) {
  BTC_SEEDED_RNG(rng);
  const Model m = load_model("tiny-bireal", kModelsDir);
  const int batch = 8;
  const uint64_t seed = rng();
  const Weights w = random_weights(m, seed);
  const auto images = normal_images(rng, m, batch);
  const auto a = reference_forward(m, w, images, batch);
  const auto b = reference_forward(m, w, images, batch);
  for (size_t i = 0; i < m.layers.size(); ++i) {
    EXPECT_EQ(a[i].y, b[i].y);
    EXPECT_EQ(a[i].act, b[i].act);
    EXPECT_EQ(a[i].half, b[i].half);
    EXPECT_EQ(a[i].logits, b[i].logits);
  }
  expect_half_forward_sane(m, a, batch, seed);
  const auto c = reference_forward(m, random_weights(m, seed + 1), images, batch);
  EXPECT_NE(a.back().logits, c.back().logits);
}

TEST(NetRandomForward, Resnet18BirealOneImage) {
  BTC_SEEDED_RNG(rng);
  const Model m = load_model("resnet18-bireal", kModelsDir);
  const uint64_t seed = rng();
  const auto t0 = std::chrono::steady_clock::now();
  const auto out = reference_forward(m, random_weights(m, seed), normal_images(rng, m, 1), 1);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> fractions;
  expect_half_forward_sane(m, out, 1, seed, &fractions);
  std::string line;
  for (size_t i = 0; i < m.layers.size(); ++i)
    if (fractions[i] >= 0) line += " " + m.layers[i].name + " " + std::to_string(fractions[i]).substr(0, 5);
  std::printf("resnet18-bireal, one image: %.2f s; +1 fractions:%s\n", s, line.c_str());
}

// ---- weights files: tiny-bireal through the safetensors writer and back

// The tensors a PyTorch export of w holds (docs/weights.md): OIHW conv
// weights, fc weights in (c, h, w) order, each layer's batch norm; conv
// weights as F16 (what a half checkpoint holds), the rest F32.
std::vector<std::pair<std::string, OwnedTensor>> torch_tensors(const Model& m, const Weights& w) {
  std::vector<std::pair<std::string, OwnedTensor>> t;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    const LayerShapes& sh = m.shapes[i];
    const LayerWeights& lw = w.layers[i];
    if (l.op == Op::kFc) {
      const Shape& p = sh.pooled_in;
      std::vector<float> v(lw.wf.size());
      for (int o = 0; o < l.out; ++o)
        for (int c = 0; c < p.c; ++c)
          for (int h = 0; h < p.h; ++h)
            for (int x = 0; x < p.w; ++x)
              v[static_cast<size_t>(o) * sh.dot_bits + (static_cast<size_t>(c) * p.h + h) * p.w + x] =
                  lw.wf[static_cast<size_t>(o) * sh.dot_bits + (static_cast<size_t>(h) * p.w + x) * p.c + c];
      t.emplace_back(l.name + ".weight", f32_tensor({l.out, sh.dot_bits}, v));
      t.emplace_back(l.name + ".bias", f32_tensor({l.out}, lw.bias));
      continue;
    }
    const int k = l.kernel, cin = sh.pooled_in.c;
    std::vector<float> v(static_cast<size_t>(l.out) * cin * k * k);
    for (int o = 0; o < l.out; ++o)
      for (int c = 0; c < cin; ++c)
        for (int r = 0; r < k; ++r)
          for (int s = 0; s < k; ++s) {
            const size_t krsc_at = ((static_cast<size_t>(o) * k + r) * k + s) * cin + c;
            v[((static_cast<size_t>(o) * cin + c) * k + r) * k + s] =
                l.op == Op::kConv ? lw.wf[krsc_at] : static_cast<float>(lw.w[krsc_at]) * 0.5f;  // any +- value
          }
    if (l.op == Op::kConv) {
      OwnedTensor h{Dtype::F16, {l.out, cin, k, k}, {}};
      for (const float x : v) {
        const uint16_t b = float_to_half_bits(x);
        h.bytes.push_back(static_cast<uint8_t>(b & 0xff));
        h.bytes.push_back(static_cast<uint8_t>(b >> 8));
      }
      t.emplace_back(l.name + ".weight", h);
    } else {
      t.emplace_back(l.name + ".weight", f32_tensor({l.out, cin, k, k}, v));
    }
    t.emplace_back(l.name + ".bn.weight", f32_tensor({l.out}, lw.gamma));
    t.emplace_back(l.name + ".bn.bias", f32_tensor({l.out}, lw.beta));
    t.emplace_back(l.name + ".bn.running_mean", f32_tensor({l.out}, lw.mean));
    t.emplace_back(l.name + ".bn.running_var", f32_tensor({l.out}, lw.var));
  }
  return t;
}

std::string temp_file(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("btc_net_test_" + std::to_string(::btc::test::fresh_seed()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

void expect_same_weights(const Weights& a, const Weights& b) {
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    SCOPED_TRACE("layer " + std::to_string(i));
    EXPECT_EQ(a.layers[i].w, b.layers[i].w);
    EXPECT_EQ(a.layers[i].wf, b.layers[i].wf);
    EXPECT_EQ(a.layers[i].bias, b.layers[i].bias);
    EXPECT_EQ(a.layers[i].gamma, b.layers[i].gamma);
    EXPECT_EQ(a.layers[i].beta, b.layers[i].beta);
    EXPECT_EQ(a.layers[i].mean, b.layers[i].mean);
    EXPECT_EQ(a.layers[i].var, b.layers[i].var);
  }
}

TEST(NetWeightsFile, TinyBirealRoundTrip) {
  const Model m = load_model("tiny-bireal", kModelsDir);
  const Weights w = random_weights(m, 17);
  const std::string path = temp_file("tiny-bireal.safetensors");
  write_safetensors(path, torch_tensors(m, w), {{"btcbench_model", "tiny-bireal"}});
  const Weights back = load_weights(m, path);
  expect_same_weights(w, back);
  const auto images = random_images(m, 2, 3);
  const auto a = reference_forward(m, w, images, 2), b = reference_forward(m, back, images, 2);
  EXPECT_EQ(a.back().logits, b.back().logits);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

// An fc without prepool reads its input's (h, w, c) values; the file is in
// PyTorch's (c, h, w) flatten order.
TEST(NetWeightsFile, FcColumnsReordered) {
  const Model m = parse("model t\ninput 3 4 4\nc conv input 32 3 2 1\nfc fc c 5 - - - out=float\n");  // fc on 2x2x32
  const Weights w = random_weights(m, 4);
  const std::string path = temp_file("fc.safetensors");
  write_safetensors(path, torch_tensors(m, w));
  expect_same_weights(w, load_weights(m, path));
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(NetWeightsFile, HalfLayerErrors) {
  const Model m = load_model("tiny-bireal", kModelsDir);
  const Weights w = random_weights(m, 17);
  const std::string path = temp_file("bad.safetensors");
  auto message = [&](std::vector<std::pair<std::string, OwnedTensor>> t) {
    write_safetensors(path, t);
    try {
      load_weights(m, path);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("loaded");
  };
  auto without = [&](const std::string& name) {
    auto t = torch_tensors(m, w);
    t.erase(std::remove_if(t.begin(), t.end(), [&](const auto& p) { return p.first == name; }), t.end());
    return t;
  };
  auto replaced = [&](const std::string& name, OwnedTensor x) {
    auto t = without(name);
    t.emplace_back(name, std::move(x));
    return t;
  };
  EXPECT_NE(message(without("fc.bias")).find("no tensor 'fc.bias' (shape [10])"), std::string::npos);
  EXPECT_NE(message(without("down2.bn.running_var")).find("no tensor 'down2.bn.running_var'"), std::string::npos);
  EXPECT_NE(message(replaced("conv1.weight", f32_tensor({32, 3, 3, 1}, std::vector<float>(288, 0.5f))))
                .find("tensor 'conv1.weight' is [32, 3, 3, 1], the model needs [32, 3, 3, 3]"),
            std::string::npos);
  EXPECT_NE(message(replaced("fc.weight", f32_tensor({10, 1024}, std::vector<float>(10240, 0.5f))))
                .find("tensor 'fc.weight' is [10, 1024], the model needs [10, 64]"),
            std::string::npos);
  std::vector<float> big(10 * 64, 0.5f);
  big[7] = 70000.0f;  // past fp16
  EXPECT_NE(message(replaced("fc.weight", f32_tensor({10, 64}, big))).find("layer 'fc' weight [7]"), std::string::npos);
  EXPECT_NE(message(replaced("fc.bias", OwnedTensor{Dtype::I32, {10}, std::vector<uint8_t>(40, 0)}))
                .find("tensor 'fc.bias' has dtype I32, a float"),
            std::string::npos);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

}  // namespace
}  // namespace btc::net
