// The CPU reference forward (net/reference.h) on tiny models whose every
// value is worked out by hand from the semantics in net/model.h, the seeded
// weights (net/weights.h), and properties of a whole random forward.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <random>
#include <set>
#include <string>

#include "kernels/bconv/bn_threshold.h"
#include "net/model.h"
#include "net/reference.h"
#include "net/weights.h"
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

}  // namespace
}  // namespace btc::net
