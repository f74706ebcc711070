// The BConv baselines' host-side rules, without a GPU: they are registered
// with their families, and each refuses exactly the problems it cannot run,
// with the reason, before touching the device (prepare / workspace_bytes throw
// std::invalid_argument first); and the implicit-GEMM designs' indexing limits.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "kernels/bconv/bconv.h"

namespace btc::bconv {
namespace {

const Design& design(const std::string& name) {
  const Design* d = find_design(name);
  if (d == nullptr) throw std::runtime_error(name + " is not registered");
  return *d;
}

Problem layer(int c, PadValue pad_value, int pad) {
  Problem p;
  p.n = 2;
  p.h = p.w = 9;
  p.c = c;
  p.k = 40;
  p.r = p.s = 3;
  p.pad = pad;
  p.pad_value = pad_value;
  return p;
}

// Non-null operand pointers that are never dereferenced: every call below throws first.
Operands fake_operands() {
  static const uint32_t word = 0;
  return Operands{&word, &word};
}

TEST(BconvBaselines, AreRegisteredWithTheirFamilies) {
  for (const char* name : {"bconv_popc_u32", "bconv_popc_u64"}) {
    EXPECT_EQ(design(name).family(), "popc") << name;
    EXPECT_FALSE(design(name).tensor_core()) << name;
    EXPECT_EQ(design(name).workspace_bytes(layer(64, PadValue::kZero, 1)), 0u) << name;
  }
  for (const char* name : {"bconv_cudnn_f16", "bconv_cudnn_s8"}) {
    EXPECT_EQ(design(name).family(), "cudnn") << name;
    EXPECT_FALSE(design(name).tensor_core()) << name;  // as the cuBLAS BMM baselines
  }
}

TEST(BconvBaselines, PopcU32RunsEveryChannelCountAndPadding) {
  const Design& d = design("bconv_popc_u32");
  for (int c : {1, 31, 32, 33, 96, 100, 2048})
    for (PadValue pv : {PadValue::kZero, PadValue::kPlusOne, PadValue::kMinusOne})
      EXPECT_EQ(d.unsupported(layer(c, pv, 1)), "") << "C = " << c;
}

TEST(BconvBaselines, PopcU64NeedsAnEvenNumberOfChannelWords) {
  const Design& d = design("bconv_popc_u64");
  for (int c : {33, 64, 100, 128, 2048}) EXPECT_EQ(d.unsupported(layer(c, PadValue::kZero, 1)), "") << "C = " << c;
  for (int c : {1, 32, 65, 96}) {
    const std::string why = d.unsupported(layer(c, PadValue::kZero, 1));
    EXPECT_NE(why.find("C_pad/32 odd"), std::string::npos) << "C = " << c << ": " << why;
    EXPECT_THROW(d.prepare(layer(c, PadValue::kZero, 1), fake_operands(), nullptr, nullptr), std::invalid_argument);
  }
}

TEST(BconvBaselines, CudnnPadsWithZeroOnly) {
  for (const char* name : {"bconv_cudnn_f16", "bconv_cudnn_s8"}) {
    const Design& d = design(name);
    EXPECT_EQ(d.unsupported(layer(64, PadValue::kZero, 1)), "") << name;
    EXPECT_EQ(d.unsupported(layer(3, PadValue::kZero, 1)), "") << name;  // C padded internally
    EXPECT_EQ(d.unsupported(layer(64, PadValue::kPlusOne, 0)), "") << name;  // no tap outside the image
    for (PadValue pv : {PadValue::kPlusOne, PadValue::kMinusOne}) {
      const Problem p = layer(64, pv, 1);
      EXPECT_EQ(d.unsupported(p), "cuDNN pads with 0; pad_value ±1 is not expressible") << name;
      EXPECT_THROW(d.workspace_bytes(p), std::invalid_argument) << name;
      EXPECT_THROW(d.prepare(p, fake_operands(), nullptr, nullptr), std::invalid_argument) << name;
    }
  }
}

TEST(BconvBaselines, BadProblemsAreRefusedBeforeTheDevice) {
  Problem p = layer(64, PadValue::kZero, 1);
  p.stride = 0;
  for (const char* name : {"bconv_popc_u32", "bconv_popc_u64", "bconv_cudnn_f16", "bconv_cudnn_s8"}) {
    EXPECT_THROW(design(name).prepare(p, fake_operands(), nullptr, nullptr), std::invalid_argument) << name;
    EXPECT_THROW(design(name).prepare(layer(64, PadValue::kZero, 1), Operands{}, nullptr, nullptr),
                 std::invalid_argument)
        << name << ": null operands";
  }
  EXPECT_THROW(design("bconv_cudnn_f16").workspace_bytes(p), std::invalid_argument);
}

// The implicit-GEMM designs' indexing limits, on shapes no test allocates:
// a large image is not refused for its size alone (its padding-excess table
// has 3 x 3 rows), but more than 2^32 - 1 input words is (the gather's
// uint32 word offsets).
TEST(BconvImplicitGemm, RefusesOnlyWhatItsIndexingCannotHold) {
  Problem big = layer(1024, PadValue::kZero, 1);
  big.n = 1;
  big.h = big.w = 8192;  // 2^26 pixels x 32 words: 2^31 words
  Problem huge = big;
  huge.c = 2048;  // 2^32 words
  int checked = 0;
  for (const auto& d : designs()) {
    if (!d->tensor_core() || d->family() == "cudnn") continue;
    EXPECT_EQ(d->unsupported(big), "") << d->name();
    EXPECT_EQ(d->unsupported(huge), "more than 2^32 - 1 input words") << d->name();
    EXPECT_THROW(d->prepare(huge, fake_operands(), nullptr, nullptr), std::invalid_argument) << d->name();
    ++checked;
  }
  EXPECT_GE(checked, 3) << "btc_wmma, mma_and sm80 and the sm90 tiles";
}

}  // namespace
}  // namespace btc::bconv
