// insitu/capture.h on the CPU: the per-channel statistics against
// hand-computed values, the writer's refusals, the .vti / .pvd text, and
// capture.json read back with the repo's JSON parser.
// (tests/analysis/test_insitu_view.py checks the files against the vtk package.)
#include "insitu/capture.h"

#include <gtest/gtest.h>

#include <limits>
#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/core/json.h"
#include "tests/common/temp_dir.h"

namespace btc::insitu {
namespace {
namespace fs = std::filesystem;

using test::slurp;

using test::TempDir;


std::vector<uint8_t> base64_decode(const std::string& text) {
  auto value = [](char ch) -> int {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
  };
  std::vector<uint8_t> out;
  unsigned acc = 0;
  int bits = 0;
  for (char ch : text) {
    const int v = value(ch);
    if (v < 0) continue;  // whitespace and '=' padding
    acc = (acc << 6) | unsigned(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(uint8_t((acc >> bits) & 0xFF));
    }
  }
  return out;
}

// The decoded contents of each <DataArray ...>BASE64</DataArray> of a .vti, in order.
std::vector<std::vector<uint8_t>> data_arrays(const std::string& vti) {
  std::vector<std::vector<uint8_t>> out;
  size_t pos = 0;
  while ((pos = vti.find("<DataArray", pos)) != std::string::npos) {
    const size_t start = vti.find('>', pos) + 1;
    const size_t end = vti.find("</DataArray>", start);
    out.push_back(base64_decode(vti.substr(start, end - start)));
    pos = end;
  }
  return out;
}

template <class T>
TensorView view(TensorKind kind, Dtype dtype, int images, int h, int w, int c, const std::vector<T>& v) {
  EXPECT_EQ(v.size(), size_t(images) * size_t(h) * size_t(w) * size_t(c));
  return TensorView{kind, dtype, h, w, c, images, v.data()};
}

// ---------------------------------------------------------------- stats

// 2 images of 1 x 2 pixels x 2 channels, NHWC: per channel 4 values.
const std::vector<int32_t> kPre = {1, -2, 3, 4,    // image 0: pixel 0 (k0, k1), pixel 1 (k0, k1)
                                   5, 0, -1, 2};   // image 1
const std::vector<int8_t> kOut = {1, -1, 1, 1,
                                  -1, -1, 1, 1};

TEST(InsituStats, HandComputed) {
  const TensorView pre = view(TensorKind::kPre, Dtype::kInt32, 2, 1, 2, 2, kPre);
  const TensorView out = view(TensorKind::kOutput, Dtype::kInt8, 2, 1, 2, 2, kOut);
  const ChannelStats s = channel_stats(&pre, &out, {0.5, 1.0});
  // k0: output 1, 1, -1, 1; k1: -1, 1, -1, 1.
  EXPECT_EQ(s.frac_plus, (std::vector<double>{0.75, 0.5}));
  // k0: pre 1, 3, 5, -1: mean 2, squared deviations 1 + 1 + 9 + 9 = 20, / 4 = 5.
  // k1: pre -2, 4, 0, 2: mean 1, squared deviations 9 + 9 + 1 + 1 = 20, / 4 = 5.
  EXPECT_EQ(s.pre_mean, (std::vector<double>{2.0, 1.0}));
  ASSERT_EQ(s.pre_std.size(), 2u);
  EXPECT_DOUBLE_EQ(s.pre_std[0], std::sqrt(5.0));
  EXPECT_DOUBLE_EQ(s.pre_std[1], std::sqrt(5.0));
  // k0: |1-.5| + |3-.5| + |5-.5| + |-1-.5| = .5 + 2.5 + 4.5 + 1.5 = 9, / 4;
  // k1: |-2-1| + |4-1| + |0-1| + |2-1| = 3 + 3 + 1 + 1 = 8, / 4.
  EXPECT_EQ(s.margin_mean, (std::vector<double>{2.25, 2.0}));
}

TEST(InsituStats, RealOutputCountsZeroAndNegativeZeroAsPlus) {
  // k0: 0, 2, -1, -0 -> 3 of 4 are >= 0; k1: -0.5, 0.25, -3, 1 -> 2 of 4.
  const std::vector<float> v = {0.0f, -0.5f, 2.0f, 0.25f, -1.0f, -3.0f, -0.0f, 1.0f};
  const TensorView out = view(TensorKind::kOutput, Dtype::kFloat32, 2, 1, 2, 2, v);
  const ChannelStats s = channel_stats(nullptr, &out, {});
  EXPECT_EQ(s.frac_plus, (std::vector<double>{0.75, 0.5}));
  EXPECT_TRUE(s.pre_mean.empty());
  EXPECT_TRUE(s.pre_std.empty());
  EXPECT_TRUE(s.margin_mean.empty());
}

TEST(InsituStats, PooledOutputIsCountedOnItsOwnPixels) {
  // Output max-pooled to 1 x 1: frac_plus from its 2 values, pre stats from pre's 4.
  const TensorView pre = view(TensorKind::kPre, Dtype::kInt32, 2, 1, 2, 2, kPre);
  const std::vector<int8_t> pooled = {1, -1, 1, 1};  // image 0 (k0, k1), image 1 (k0, k1)
  const TensorView out = view(TensorKind::kOutput, Dtype::kInt8, 2, 1, 1, 2, pooled);
  const ChannelStats s = channel_stats(&pre, &out, {0.5, 1.0});
  EXPECT_EQ(s.frac_plus, (std::vector<double>{1.0, 0.5}));
  EXPECT_EQ(s.pre_mean, (std::vector<double>{2.0, 1.0}));
  EXPECT_EQ(s.margin_mean, (std::vector<double>{2.25, 2.0}));
}

TEST(InsituStats, PreWithoutThresholdHasNoMargin) {
  const TensorView pre = view(TensorKind::kPre, Dtype::kInt32, 2, 1, 2, 2, kPre);
  const ChannelStats s = channel_stats(&pre, nullptr, {});
  EXPECT_TRUE(s.frac_plus.empty());
  EXPECT_EQ(s.pre_mean, (std::vector<double>{2.0, 1.0}));
  EXPECT_TRUE(s.margin_mean.empty());
  const ChannelStats none = channel_stats(nullptr, nullptr, {});
  EXPECT_TRUE(none.frac_plus.empty() && none.pre_mean.empty());
}

TEST(InsituStats, RefusesShapeDisagreement) {
  const TensorView pre = view(TensorKind::kPre, Dtype::kInt32, 2, 1, 2, 2, kPre);
  const std::vector<int8_t> three(12, 1);
  const TensorView out3 = view(TensorKind::kOutput, Dtype::kInt8, 2, 1, 2, 3, three);   // 3 channels
  EXPECT_THROW(channel_stats(&pre, &out3, {}), CaptureError);
  const std::vector<int8_t> one_image(4, 1);
  const TensorView out1 = view(TensorKind::kOutput, Dtype::kInt8, 1, 1, 2, 2, one_image);  // 1 image
  EXPECT_THROW(channel_stats(&pre, &out1, {}), CaptureError);
  EXPECT_THROW(channel_stats(&pre, nullptr, {1.0, 2.0, 3.0}), CaptureError);  // 3 thresholds, 2 channels
  EXPECT_THROW(channel_stats(nullptr, &out3, {1.0, 2.0}), CaptureError);
  const TensorView swapped = view(TensorKind::kOutput, Dtype::kInt32, 2, 1, 2, 2, kPre);
  EXPECT_THROW(channel_stats(&swapped, nullptr, {}), CaptureError);  // an output view passed as pre
  TensorView empty = pre;
  empty.h = 0;
  EXPECT_THROW(channel_stats(&empty, nullptr, {}), CaptureError);
  try {
    channel_stats(&pre, &out3, {});
  } catch (const CaptureError& e) {
    EXPECT_NE(std::string(e.what()).find("channels"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------- files

TEST(InsituFiles, VtiTextStructure) {
  TempDir dir;
  const std::vector<int8_t> a = {1, -1, 1, -1, -1, 1};  // w 3 x h 2 x c 1
  const std::vector<int32_t> b = {0, 1, 2, 3, 4, -5};
  const std::vector<float> c = {0.5f, -1.25f, 2, 3, 4, 5};
  const std::string path = dir.file("t.vti");
  const int64_t n = write_vti(path, 3, 2, 1, {{"a", Dtype::kInt8, a.data()}, {"b", Dtype::kInt32, b.data()},
                                              {"c", Dtype::kFloat32, c.data()}});
  const std::string text = slurp(path);
  EXPECT_EQ(n, int64_t(text.size()));
  EXPECT_EQ(text.rfind("<?xml version=\"1.0\"?>\n", 0), 0u);
  EXPECT_NE(text.find("<VTKFile type=\"ImageData\" version=\"1.0\" byte_order=\"LittleEndian\" "
                      "header_type=\"UInt64\">"), std::string::npos);
  EXPECT_NE(text.find("<ImageData WholeExtent=\"0 2 0 1 0 0\" Origin=\"0 0 0\" Spacing=\"1 1 1\">"),
            std::string::npos);
  EXPECT_NE(text.find("<Piece Extent=\"0 2 0 1 0 0\">"), std::string::npos);
  EXPECT_NE(text.find("<PointData Scalars=\"a\">"), std::string::npos);
  EXPECT_NE(text.find("<DataArray type=\"Int8\" Name=\"a\" NumberOfComponents=\"1\" format=\"binary\">"),
            std::string::npos);
  EXPECT_NE(text.find("<DataArray type=\"Int32\" Name=\"b\""), std::string::npos);
  EXPECT_NE(text.find("<DataArray type=\"Float32\" Name=\"c\""), std::string::npos);
  EXPECT_NE(text.find("</VTKFile>\n"), std::string::npos);
  const auto arrays = data_arrays(text);
  ASSERT_EQ(arrays.size(), 3u);
  // One base64 stream each: [UInt64 byte count][the values].
  const std::vector<size_t> sizes = {6, 24, 24};
  const std::vector<const void*> values = {a.data(), b.data(), c.data()};
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(arrays[i].size(), 8 + sizes[i]);
    uint64_t header = 0;
    std::memcpy(&header, arrays[i].data(), 8);
    EXPECT_EQ(header, sizes[i]);
    EXPECT_EQ(0, std::memcmp(arrays[i].data() + 8, values[i], sizes[i]));
  }
  // One stream: '=' padding at its end only (a separately encoded 8-byte header would end in '=' itself).
  const size_t a_start = text.find('>', text.find("Name=\"a\"")) + 1;
  const std::string a_text = text.substr(a_start, text.find("</DataArray>", a_start) - a_start);
  const std::string a_b64 = a_text.substr(a_text.find_first_not_of(" \n"), 20);
  // 14 bytes -> 20 characters, one '=' at the end; header apart would be "BgAAAAAAAAA=" then 8 characters.
  EXPECT_EQ(a_b64, "BgAAAAAAAAAB/wH//wE=");
  EXPECT_THROW(write_vti(dir.file("bad.vti"), 3, 2, 1, {{"a b", Dtype::kInt8, a.data()}}), CaptureError);
  EXPECT_THROW(write_vti(dir.file("bad.vti"), 0, 2, 1, {{"a", Dtype::kInt8, a.data()}}), CaptureError);
  EXPECT_THROW(write_vti(dir.file("bad.vti"), 3, 2, 1, {}), CaptureError);
  EXPECT_THROW(write_vti(path, 3, 2, 1, {{"a", Dtype::kInt8, a.data()}}), CaptureError);  // never replaces a file
  EXPECT_FALSE(fs::exists(dir.file("bad.vti")));
}

TEST(InsituFiles, PvdText) {
  TempDir dir;
  const std::string path = dir.file("output.pvd");
  const int64_t n = write_pvd(path, {{0, "output_000000.vti"}, {2, "output_000001.vti"}});
  const std::string text = slurp(path);
  EXPECT_EQ(n, int64_t(text.size()));
  EXPECT_EQ(text,
            "<?xml version=\"1.0\"?>\n"
            "<VTKFile type=\"Collection\" version=\"0.1\" byte_order=\"LittleEndian\">\n"
            "  <Collection>\n"
            "    <DataSet timestep=\"0\" group=\"\" part=\"0\" file=\"output_000000.vti\"/>\n"
            "    <DataSet timestep=\"2\" group=\"\" part=\"0\" file=\"output_000001.vti\"/>\n"
            "  </Collection>\n"
            "</VTKFile>\n");
}

TEST(InsituFiles, TensorNamesRoundTrip) {
  for (TensorKind k : {TensorKind::kInput, TensorKind::kPre, TensorKind::kOutput, TensorKind::kWeights}) {
    TensorKind back = TensorKind::kInput;
    ASSERT_TRUE(parse_tensor_kind(tensor_name(k), &back));
    EXPECT_EQ(back, k);
  }
  EXPECT_FALSE(parse_tensor_kind("y", nullptr));
  EXPECT_EQ(dtype_bytes(Dtype::kInt8), 1);
  EXPECT_EQ(dtype_bytes(Dtype::kInt32), 4);
  EXPECT_EQ(dtype_bytes(Dtype::kFloat32), 4);
}

// ---------------------------------------------------------------- the writer

CaptureConfig config() {
  CaptureConfig cfg;
  cfg.model = "tiny";
  cfg.command = "btcbench run --model tiny --capture out";
  cfg.batch = 4;
  cfg.every = 2;
  cfg.images = {0, 3};
  return cfg;
}

LayerInfo layer(const std::string& name) {
  LayerInfo l;
  l.name = name;
  l.op = "bconv";
  l.threshold = {0.5, 1.0};
  l.flip = {0, 1};
  l.tensors = {TensorKind::kPre, TensorKind::kOutput};
  return l;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const CaptureError& e) {
    return e.what();
  }
  return "";
}

TEST(InsituWriter, RefusesNonEmptyDirectoryAndFile) {
  TempDir dir;
  fs::create_directories(dir.file("old"));
  std::ofstream(dir.file("old/capture.json")) << "{}";
  const std::string msg = error_of([&] { CaptureWriter w(dir.file("old"), config(), {layer("conv1")}); });
  EXPECT_NE(msg.find("not empty"), std::string::npos) << msg;
  EXPECT_EQ(slurp(dir.file("old/capture.json")), "{}");
  EXPECT_FALSE(fs::exists(dir.file("old/conv1")));

  std::ofstream(dir.file("plain")) << "x";
  const std::string msg2 = error_of([&] { CaptureWriter w(dir.file("plain"), config(), {layer("conv1")}); });
  EXPECT_NE(msg2.find("not a directory"), std::string::npos) << msg2;
  EXPECT_EQ(slurp(dir.file("plain")), "x");

  fs::create_directories(dir.file("empty"));  // an empty directory is fine, and parents are made
  EXPECT_NO_THROW(CaptureWriter(dir.file("empty"), config(), {layer("conv1")}));
  EXPECT_NO_THROW(CaptureWriter(dir.file("a/b/c"), config(), {layer("conv1")}));
  EXPECT_TRUE(fs::is_directory(dir.file("a/b/c/conv1")));
}

TEST(InsituWriter, RefusesBadLayerNamesAndConfig) {
  TempDir dir;
  for (const std::string name : {"layer1.0.conv2", "a b", "", "x/y", "view", "conv-1"}) {
    const std::string msg = error_of([&] { CaptureWriter w(dir.file("c"), config(), {layer(name)}); });
    EXPECT_FALSE(msg.empty()) << name;
    EXPECT_NE(msg.find("'" + name + "'"), std::string::npos) << msg;
  }
  EXPECT_FALSE(error_of([&] { CaptureWriter w(dir.file("c"), config(), {layer("a"), layer("a")}); }).empty());
  CaptureConfig cfg = config();
  cfg.images = {4};  // outside the batch of 4
  EXPECT_FALSE(error_of([&] { CaptureWriter w(dir.file("c"), cfg, {layer("a")}); }).empty());
  cfg.images = {};
  EXPECT_FALSE(error_of([&] { CaptureWriter w(dir.file("c"), cfg, {layer("a")}); }).empty());
  LayerInfo l = layer("a");
  l.flip = {1};
  EXPECT_FALSE(error_of([&] { CaptureWriter w(dir.file("c"), config(), {l}); }).empty());
  EXPECT_FALSE(fs::exists(dir.file("c")));  // nothing made before the checks pass
}

TEST(InsituWriter, RefusesShapeMismatchBeforeWritingAFile) {
  TempDir dir;
  CaptureWriter w(dir.file("c"), config(), {layer("conv1")});
  const std::vector<int32_t> pre(2 * 1 * 2 * 2, 3);
  const std::vector<int8_t> out(2 * 1 * 2 * 2, 1);
  const std::vector<int8_t> out3(2 * 1 * 2 * 3, 1);
  const TensorView p = view(TensorKind::kPre, Dtype::kInt32, 2, 1, 2, 2, pre);
  const TensorView o = view(TensorKind::kOutput, Dtype::kInt8, 2, 1, 2, 2, out);
  const TensorView o3 = view(TensorKind::kOutput, Dtype::kInt8, 2, 1, 2, 3, out3);
  EXPECT_NE(error_of([&] { w.write_step(0, 0, 0, {p, o3}); }).find("channels"), std::string::npos);
  EXPECT_NE(error_of([&] { w.write_step(0, 0, 0, {p}); }).find("'output' is missing"), std::string::npos);
  TensorView one_image = o;
  one_image.images = 1;
  EXPECT_NE(error_of([&] { w.write_step(0, 0, 0, {p, one_image}); }).find("images"), std::string::npos);
  TensorView input = o;
  input.kind = TensorKind::kInput;
  EXPECT_NE(error_of([&] { w.write_step(0, 0, 0, {p, o, input}); }).find("not one the layer captures"),
            std::string::npos);
  EXPECT_NE(error_of([&] { w.write_step(0, 0, 1, {p, o}); }).find("layer index 1"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(dir.file("c/conv1")));  // no file of a refused step
  w.write_step(0, 0, 0, {p, o});
  const std::vector<int32_t> pre_big(2 * 2 * 2 * 2, 3);
  const TensorView p_big = view(TensorKind::kPre, Dtype::kInt32, 2, 2, 2, 2, pre_big);
  EXPECT_NE(error_of([&] { w.write_step(1, 2, 0, {p_big, o}); }).find("earlier steps"), std::string::npos);
  EXPECT_NE(error_of([&] { w.write_step(0, 0, 0, {p, o}); }).find("written already"), std::string::npos);
  EXPECT_NE(error_of([&] { w.write_step(1, 0, 0, {p, o}); }).find("out of order"), std::string::npos);
  w.finish({});
  EXPECT_NE(error_of([&] { w.write_step(1, 2, 0, {p, o}); }).find("finished"), std::string::npos);
  EXPECT_NE(error_of([&] { w.finish({}); }).find("finished"), std::string::npos);
}

// The step's files are written a thread a tensor while its statistics are
// computed: a step whose statistics fail keeps none of its files, and the
// same step then writes in full.
TEST(InsituWriter, AStepRefusedForItsStatisticsKeepsNoFile) {
  TempDir dir;
  CaptureWriter w(dir.file("c"), config(), {layer("conv1")});
  std::vector<float> pre(2 * 1 * 2 * 2, 3.0f);
  const std::vector<int8_t> out(2 * 1 * 2 * 2, 1);
  pre[5] = std::numeric_limits<float>::quiet_NaN();
  const TensorView p = view(TensorKind::kPre, Dtype::kFloat32, 2, 1, 2, 2, pre);
  const TensorView o = view(TensorKind::kOutput, Dtype::kInt8, 2, 1, 2, 2, out);
  EXPECT_NE(error_of([&] { w.write_step(0, 0, 0, {p, o}); }).find("not finite"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(dir.file("c/conv1")));
  EXPECT_EQ(w.bytes_written(), 0);
  pre[5] = 2.0f;
  w.write_step(0, 0, 0, {p, o});
  EXPECT_TRUE(fs::exists(dir.file("c/conv1/pre_000000.vti")));
  EXPECT_TRUE(fs::exists(dir.file("c/conv1/output_000000.vti")));
  EXPECT_EQ(w.bytes_written(), int64_t(fs::file_size(dir.file("c/conv1/pre_000000.vti")) +
                                       fs::file_size(dir.file("c/conv1/output_000000.vti"))));
}

TEST(InsituWriter, TransposesAndWritesTheManifest) {
  TempDir dir;
  const std::string cap = dir.file("cap");
  LayerInfo l = layer("conv1");
  l.tensors.push_back(TensorKind::kWeights);
  LayerInfo plain;
  plain.name = "fc";
  plain.op = "bfc";
  plain.tensors = {TensorKind::kOutput};
  CaptureWriter w(cap, config(), {l, plain});
  // 2 images of h 2 x w 3 x c 2, NHWC value = 100 * image + 10 * (y * 3 + x) + k.
  std::vector<int32_t> pre(2 * 2 * 3 * 2);
  for (int b = 0; b < 2; ++b)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 3; ++x)
        for (int k = 0; k < 2; ++k) pre[size_t(((b * 2 + y) * 3 + x) * 2 + k)] = 100 * b + 10 * (y * 3 + x) + k;
  std::vector<int8_t> out(pre.size());
  for (size_t i = 0; i < pre.size(); ++i) out[i] = (pre[i] % 3 == 0) ? 1 : -1;
  const TensorView p = view(TensorKind::kPre, Dtype::kInt32, 2, 2, 3, 2, pre);
  const TensorView o = view(TensorKind::kOutput, Dtype::kInt8, 2, 2, 3, 2, out);
  const std::vector<float> logits = {0.5f, -0.25f, 1.0f, -2.0f};
  const TensorView fo = view(TensorKind::kOutput, Dtype::kFloat32, 2, 1, 1, 2, logits);
  // Step 1 first: the manifest lists them by step either way.
  w.write_step(1, 2, 0, {o, p});
  w.write_step(0, 0, 0, {p, o});
  w.write_step(0, 0, 1, {fo});
  const std::vector<int8_t> weights(2 * 9 * 4, -1);
  w.write_weights(0, TensorView{TensorKind::kWeights, Dtype::kInt8, 2, 9, 4, 1, weights.data()});
  EXPECT_FALSE(error_of([&] { w.write_weights(0, TensorView{TensorKind::kWeights, Dtype::kInt8, 2, 9, 4, 1,
                                                              weights.data()}); }).empty());
  EXPECT_FALSE(fs::exists(cap + "/capture.json"));  // nothing is complete before finish
  CaptureSummary sum;
  sum.batches = 4;
  sum.due = 2;
  sum.captured = 2;
  sum.dropped = 1;
  sum.ring_slots = 3;
  sum.ring_slot_bytes = 4096;
  w.finish(sum);

  // x = W, y = H, z = C planar: value (x, y, z) at x + 3 * (y + 2 * z).
  const auto arrays = data_arrays(slurp(cap + "/conv1/pre_000000.vti"));
  ASSERT_EQ(arrays.size(), 2u);
  for (int b = 0; b < 2; ++b) {
    ASSERT_EQ(arrays[size_t(b)].size(), 8u + 12 * 4);
    for (int z = 0; z < 2; ++z)
      for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 3; ++x) {
          int32_t v = 0;
          std::memcpy(&v, arrays[size_t(b)].data() + 8 + 4 * (x + 3 * (y + 2 * z)), 4);
          EXPECT_EQ(v, 100 * b + 10 * (y * 3 + x) + z);
        }
  }
  const std::string vti = slurp(cap + "/conv1/pre_000000.vti");
  EXPECT_NE(vti.find("WholeExtent=\"0 2 0 1 0 1\""), std::string::npos);
  EXPECT_NE(vti.find("Name=\"img0\""), std::string::npos);
  EXPECT_NE(vti.find("Name=\"img3\""), std::string::npos);
  EXPECT_NE(slurp(cap + "/conv1/weights.vti").find("WholeExtent=\"0 3 0 8 0 1\""), std::string::npos);

  const json::Value m = json::parse(slurp(cap + "/capture.json"));
  EXPECT_EQ(m.find("schema")->as_string(), "btcbench.insitu/1");
  EXPECT_EQ(m.find("model")->as_string(), "tiny");
  EXPECT_EQ(m.find("command")->as_string(), "btcbench run --model tiny --capture out");
  EXPECT_EQ(m.find("batch")->as_number(), 4);
  EXPECT_EQ(m.find("every")->as_number(), 2);
  ASSERT_EQ(m.find("images")->as_array().size(), 2u);
  EXPECT_EQ(m.find("images")->as_array()[1].as_number(), 3);

  const auto& layers = m.find("layers")->as_array();
  ASSERT_EQ(layers.size(), 2u);
  const json::Value& c1 = layers[0];
  EXPECT_EQ(c1.find("name")->as_string(), "conv1");
  EXPECT_EQ(c1.find("op")->as_string(), "bconv");
  const json::Value* tensors = c1.find("tensors");
  ASSERT_TRUE(tensors && tensors->is_object());
  ASSERT_EQ(tensors->as_object().size(), 2u);  // pre, output (weights apart)
  EXPECT_EQ(tensors->as_object()[0].first, "pre");
  const json::Value* tp = tensors->find("pre");
  EXPECT_EQ(tp->find("dtype")->as_string(), "int32");
  const auto& shape = tp->find("shape")->as_array();
  ASSERT_EQ(shape.size(), 3u);
  EXPECT_EQ(shape[0].as_number(), 2);
  EXPECT_EQ(shape[1].as_number(), 3);
  EXPECT_EQ(shape[2].as_number(), 2);
  EXPECT_EQ(tp->find("pvd")->as_string(), "conv1/pre.pvd");
  const auto& files = tp->find("files")->as_array();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].as_string(), "conv1/pre_000000.vti");
  EXPECT_EQ(files[1].as_string(), "conv1/pre_000001.vti");
  const auto& bytes = tp->find("bytes")->as_array();
  ASSERT_EQ(bytes.size(), 2u);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_EQ(bytes[i].as_number(), double(fs::file_size(cap + "/" + files[i].as_string())));
  EXPECT_EQ(tensors->find("output")->find("dtype")->as_string(), "int8");
  const json::Value* weights_entry = c1.find("weights");
  ASSERT_TRUE(weights_entry && weights_entry->is_object());
  EXPECT_EQ(weights_entry->find("file")->as_string(), "conv1/weights.vti");
  EXPECT_EQ(weights_entry->find("dtype")->as_string(), "int8");
  EXPECT_EQ(weights_entry->find("shape")->as_array()[2].as_number(), 4);
  EXPECT_EQ(c1.find("threshold")->as_array()[0].as_number(), 0.5);
  EXPECT_EQ(c1.find("flip")->as_array()[1].as_bool(), true);
  EXPECT_TRUE(layers[1].find("weights")->is_null());
  EXPECT_EQ(layers[1].find("threshold"), nullptr);
  EXPECT_EQ(layers[1].find("tensors")->find("output")->find("dtype")->as_string(), "float32");

  const auto& steps = m.find("steps")->as_array();
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].find("step")->as_number(), 0);
  EXPECT_EQ(steps[1].find("step")->as_number(), 1);
  EXPECT_EQ(steps[1].find("batch")->as_number(), 2);

  const json::Value* stats = m.find("stats");
  const auto& s1 = stats->find("conv1")->as_array();
  ASSERT_EQ(s1.size(), 2u);
  const ChannelStats want = channel_stats(&p, &o, l.threshold);
  for (const auto& [key, vec] : std::vector<std::pair<std::string, std::vector<double>>>{
           {"frac_plus", want.frac_plus}, {"pre_mean", want.pre_mean}, {"pre_std", want.pre_std},
           {"margin_mean", want.margin_mean}}) {
    const auto& got = s1[0].find(key)->as_array();
    ASSERT_EQ(got.size(), vec.size()) << key;
    for (size_t k = 0; k < vec.size(); ++k) EXPECT_NEAR(got[k].as_number(), vec[k], 1e-9 * std::fabs(vec[k])) << key;
  }
  EXPECT_EQ(s1[1].find("batch")->as_number(), 2);
  const auto& s2 = stats->find("fc")->as_array();
  ASSERT_EQ(s2.size(), 1u);
  EXPECT_EQ(s2[0].find("frac_plus")->as_array().size(), 2u);
  EXPECT_TRUE(s2[0].find("pre_mean")->as_array().empty());

  const json::Value* summary = m.find("summary");
  EXPECT_EQ(summary->find("batches")->as_number(), 4);
  EXPECT_EQ(summary->find("due")->as_number(), 2);
  EXPECT_EQ(summary->find("captured")->as_number(), 2);
  EXPECT_EQ(summary->find("dropped")->as_number(), 1);
  EXPECT_EQ(summary->find("ring_slots")->as_number(), 3);
  EXPECT_EQ(summary->find("ring_slot_bytes")->as_number(), 4096);
  // Every .vti and .pvd, as the writer counted them (capture.json itself not counted).
  uintmax_t on_disk = 0;
  for (const auto& e : fs::recursive_directory_iterator(cap))
    if (e.is_regular_file() && e.path().filename() != "capture.json") on_disk += e.file_size();
  EXPECT_EQ(summary->find("bytes_written")->as_number(), double(on_disk));
  EXPECT_EQ(w.bytes_written(), int64_t(on_disk));

  const std::string pvd = slurp(cap + "/conv1/output.pvd");
  EXPECT_NE(pvd.find("timestep=\"0\" group=\"\" part=\"0\" file=\"output_000000.vti\""), std::string::npos);
  EXPECT_LT(pvd.find("output_000000.vti"), pvd.find("timestep=\"2\" group=\"\" part=\"0\" file=\"output_000001.vti\""));
  for (const auto& e : fs::recursive_directory_iterator(cap))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
}

}  // namespace
}  // namespace btc::insitu
