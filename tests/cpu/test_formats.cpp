// Bit-packing layouts (formats/): property tests over every layout and odd
// sizes with fresh random data each run (the seed is printed on failure; set
// BTC_TEST_SEED to replay one), plus hand-computed points of each layout.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "formats/layout.h"
#include "tests/common/layout_params.h"
#include "formats/pack_cpu.h"
#include "tests/common/test_random.h"
#include "formats/word_ops.h"

namespace btc::bits {
namespace {

using namespace test;  // tests/common/: layout parameters, random data

template <class T>
std::vector<int8_t> signs_of(const std::vector<T>& x) {
  std::vector<int8_t> s(x.size());
  for (size_t i = 0; i < x.size(); ++i) s[i] = x[i] >= T(0) ? 1 : -1;
  return s;
}

int reference_dot(const std::vector<int8_t>& a, int i, const std::vector<int8_t>& b, int j, int k) {
  int s = 0;
  for (int e = 0; e < k; ++e) s += a[static_cast<size_t>(i) * k + e] * b[static_cast<size_t>(j) * k + e];
  return s;
}

// ---------------------------------------------------------------------------
// Per layout and size.

class LayoutProps : public ::testing::TestWithParam<LayoutParam> {
 protected:
  BitMatrix shape() const { return make(std::get<0>(GetParam()), std::get<1>(GetParam())); }

  // Random float and int8 signs of shape(), each packed by the CPU packer.
  struct Packed {
    BitMatrix m;
    std::vector<float> xf;
    std::vector<int8_t> xi;
    std::vector<uint32_t> pf, pi;
  };
  Packed random_packed(std::mt19937& rng) const {
    Packed p;
    p.m = shape();
    const size_t n = static_cast<size_t>(p.m.rows) * p.m.k;
    p.xf = random_floats(rng, n);
    p.xi = random_int8(rng, n);
    p.pf = pack_signs(p.xf.data(), p.m.rows, p.m.k, p.m);
    p.pi = pack_signs(p.xi.data(), p.m.rows, p.m.k, p.m);
    return p;
  }
};

TEST_P(LayoutProps, PaddedShapeIsWholeBoxes) {
  const BitMatrix m = shape();
  ASSERT_EQ(shape_error(m), "");
  EXPECT_EQ(m.padded_rows() % m.tile_rows(), 0);
  EXPECT_EQ(m.padded_k() % m.tile_k(), 0);
  EXPECT_GE(m.padded_rows(), m.rows);
  EXPECT_LT(m.padded_rows() - m.rows, m.tile_rows());
  EXPECT_GE(m.padded_k(), m.stored_k());
  EXPECT_LT(m.padded_k() - m.stored_k(), m.tile_k());
  EXPECT_EQ(m.words() * 32, static_cast<int64_t>(m.padded_rows()) * m.padded_k());
  EXPECT_EQ(m.bytes(), m.words() * 4);
  EXPECT_EQ(m.words() % m.box_words(), 0);
}

TEST_P(LayoutProps, WordIndexIsABijectionAndCoordsOfWordItsInverse) {
  const BitMatrix m = shape();
  std::vector<uint8_t> seen(static_cast<size_t>(m.words()), 0);
  int64_t hits = 0;
  for (int r = 0; r < m.padded_rows(); ++r)
    for (int kw = 0; kw < m.kwords(); ++kw) {
      const int64_t w = m.word_index(r, kw);
      ASSERT_GE(w, 0) << r << "," << kw;
      ASSERT_LT(w, m.words()) << r << "," << kw;
      ASSERT_EQ(seen[static_cast<size_t>(w)], 0) << "word " << w << " hit twice, at " << r << "," << kw;
      seen[static_cast<size_t>(w)] = 1;
      ++hits;
      const WordCoord c = m.coords_of_word(w);
      ASSERT_EQ(c.row, r) << "word " << w;
      ASSERT_EQ(c.kw, kw) << "word " << w;
    }
  EXPECT_EQ(hits, m.words());
}

TEST_P(LayoutProps, PackUnpackRoundTripFloatAndInt8) {
  BTC_SEEDED_RNG(rng);
  const auto [m, xf, xi, pf, pi] = random_packed(rng);
  ASSERT_EQ(static_cast<int64_t>(pf.size()), m.words());
  ASSERT_EQ(static_cast<int64_t>(pi.size()), m.words());
  EXPECT_EQ(unpack_signs(pf, m), signs_of(xf));
  EXPECT_EQ(unpack_signs(pi, m), signs_of(xi));
  // get_bit agrees, at a sample of elements.
  std::uniform_int_distribution<int> rr(0, m.rows - 1), kk(0, m.k - 1);
  for (int t = 0; t < 500; ++t) {
    const int r = rr(rng), e = kk(rng);
    ASSERT_EQ(get_bit(pf, m, r, e), xf[static_cast<size_t>(r) * m.k + e] >= 0.f) << r << "," << e;
  }
}

TEST_P(LayoutProps, PaddingBitsAreZero) {
  BTC_SEEDED_RNG(rng);
  const BitMatrix m = shape();
  const size_t n = static_cast<size_t>(m.rows) * m.k;
  // All ones: every valid bit is 1, so each word must be exactly its valid mask.
  const std::vector<float> ones(n, 1.f);
  const auto p = pack_signs(ones.data(), m.rows, m.k, m);
  int64_t total = 0;
  for (int64_t w = 0; w < m.words(); ++w) {
    ASSERT_EQ(p[static_cast<size_t>(w)], valid_mask_of_word(m, w)) << "word " << w;
    total += __builtin_popcount(p[static_cast<size_t>(w)]);
  }
  EXPECT_EQ(total, static_cast<int64_t>(m.rows) * m.k);
  // Random data: nothing outside the valid masks.
  const auto x = random_floats(rng, n);
  const auto q = pack_signs(x.data(), m.rows, m.k, m);
  for (int64_t w = 0; w < m.words(); ++w)
    ASSERT_EQ(q[static_cast<size_t>(w)] & ~valid_mask_of_word(m, w), 0u) << "word " << w;
}

TEST_P(LayoutProps, SetBitBuildsWhatPackWrites) {
  BTC_SEEDED_RNG(rng);
  const BitMatrix m = shape();
  const auto x = random_floats(rng, static_cast<size_t>(m.rows) * m.k);
  std::vector<uint32_t> built(static_cast<size_t>(m.words()), 0u);
  for (int r = 0; r < m.rows; ++r)
    for (int e = 0; e < m.k; ++e) set_bit(built, m, r, e, x[static_cast<size_t>(r) * m.k + e] >= 0.f);
  EXPECT_EQ(built, pack_signs(x.data(), m.rows, m.k, m));
  if (m.rows > 0 && m.k > 0) {  // clearing works too
    set_bit(built, m, 0, 0, true);
    set_bit(built, m, 0, 0, false);
    EXPECT_FALSE(get_bit(built, m, 0, 0));
  }
}

TEST_P(LayoutProps, DotProductsEqualThePlusMinusOneDot) {
  BTC_SEEDED_RNG(rng);
  const BitMatrix a = shape();
  BitMatrix b = a;  // B: N x K, N different from M
  b.rows = 11;
  BitMatrix b_row = b;  // the same B in row_u32 without segments: mixed layouts
  b_row.layout = Layout::kRowU32;
  b_row.k_segment = b_row.k_segment_valid = 0;
  const auto xa = random_floats(rng, static_cast<size_t>(a.rows) * a.k);
  auto xb = random_floats(rng, static_cast<size_t>(b.rows) * b.k);
  for (int e = 0; e < b.k; ++e) xb[e] = 1.f;                               // row 0: all +1
  for (int e = 0; e < b.k; ++e) xb[static_cast<size_t>(b.k) + e] = -1.f;  // row 1: all -1
  const auto pa = pack_signs(xa.data(), a.rows, a.k, a);
  const auto pb = pack_signs(xb.data(), b.rows, b.k, b);
  const auto pb_row = pack_signs(xb.data(), b.rows, b.k, b_row);
  const auto sa = signs_of(xa), sb = signs_of(xb);
  std::vector<std::pair<int, int>> pairs;
  for (int i : {0, a.rows - 1})
    for (int j = 0; j < b.rows; ++j) pairs.emplace_back(i, j);
  std::uniform_int_distribution<int> ri(0, a.rows - 1), rj(0, b.rows - 1);
  for (int t = 0; t < 300; ++t) pairs.emplace_back(ri(rng), rj(rng));
  for (auto [i, j] : pairs) {
    const int want = reference_dot(sa, i, sb, j, a.k);
    ASSERT_EQ(dot_pm1_xor(pa, a, i, pb, b, j), want) << "xor " << i << "," << j;
    ASSERT_EQ(dot_pm1_and(pa, a, i, pb, b, j), want) << "and " << i << "," << j;
    ASSERT_EQ(dot_pm1_xor(pa, a, i, pb_row, b_row, j), want) << "xor vs row_u32 " << i << "," << j;
    ASSERT_EQ(dot_pm1_and(pb_row, b_row, j, pa, a, i), want) << "and vs row_u32 " << i << "," << j;
  }
}

TEST_P(LayoutProps, ConvertToEveryLayoutEqualsPackingDirectly) {
  BTC_SEEDED_RNG(rng);
  const BitMatrix src = shape();
  const auto x = random_floats(rng, static_cast<size_t>(src.rows) * src.k);
  const auto packed = pack_signs(x.data(), src.rows, src.k, src);
  const auto dirty = with_dirty_padding(packed, src);  // garbage in the padding must not reach the destination
  const Size sz = std::get<1>(GetParam());
  for (const Config& c : all_configs()) {
    const BitMatrix dst = make(c, sz);
    SCOPED_TRACE(describe(src) + " -> " + describe(dst));
    const auto want = pack_signs(x.data(), dst.rows, dst.k, dst);
    ASSERT_EQ(convert(packed, src, dst), want);
    ASSERT_EQ(convert(dirty, src, dst), want);
  }
  // And to plain row_u32 without segments (bit-by-bit path when segmented).
  BitMatrix flat = src;
  flat.layout = Layout::kRowU32;
  flat.k_segment = flat.k_segment_valid = 0;
  const auto flat_want = pack_signs(x.data(), flat.rows, flat.k, flat);
  EXPECT_EQ(convert(packed, src, flat), flat_want);
  EXPECT_EQ(convert(flat_want, flat, src), packed);
}

// The GPU kernels run pack_word / convert_word once per destination word:
// run them here, word by word, against the CPU packers.
TEST_P(LayoutProps, GpuKernelWordBodiesEqualTheCpuPackers) {
  BTC_SEEDED_RNG(rng);
  const auto [m, xf, xi, pf, pi] = random_packed(rng);
  for (int64_t w = 0; w < m.words(); ++w) {
    ASSERT_EQ(pack_word(xf.data(), m, w), pf[static_cast<size_t>(w)]) << "float, word " << w;
    ASSERT_EQ(pack_word(xi.data(), m, w), pi[static_cast<size_t>(w)]) << "int8, word " << w;
  }
  const auto dirty = with_dirty_padding(pf, m);  // padding garbage must be masked off
  std::vector<BitMatrix> dsts;
  for (const Config& c : all_configs()) dsts.push_back(make(c, std::get<1>(GetParam())));
  dsts.push_back(BitMatrix{Layout::kRowU32, m.rows, m.k});
  for (const BitMatrix& d : dsts) {
    SCOPED_TRACE(describe(m) + " -> " + describe(d));
    const auto want = convert(pf, m, d);
    const bool same = same_k_map(m, d);
    for (int64_t w = 0; w < d.words(); ++w)
      ASSERT_EQ(convert_word(dirty.data(), m, d, w, same), want[static_cast<size_t>(w)]) << "word " << w;
  }
}

INSTANTIATE_TEST_SUITE_P(AllLayouts, LayoutProps, ::testing::ValuesIn(test::layout_params(test::all_sizes())),
                         test::layout_param_name);

// ---------------------------------------------------------------------------
// Names and shape checks.

TEST(LayoutNames, ParseRoundTripsEveryName) {
  for (Layout l : kAllLayouts) EXPECT_EQ(parse_layout(name(l)), l) << name(l);
  EXPECT_EQ(layout_names(),
            "row_u32, row_u64, tile8x128, mma_frag_a16x256, mma_frag_b8x256, wgmma_interleave, wgmma_swizzle32, "
            "wgmma_swizzle64, wgmma_swizzle128");
}

TEST(LayoutNames, ParseErrorsListTheValidNames) {
  for (const char* bad : {"", "ROW_U32", "tile8x64", "wgmma_swizzle", "row_u32 "}) {
    try {
      parse_layout(bad);
      ADD_FAILURE() << "'" << bad << "' parsed";
    } catch (const std::invalid_argument& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("'" + std::string(bad) + "'"), std::string::npos) << msg;
      for (Layout l : kAllLayouts) EXPECT_NE(msg.find(name(l)), std::string::npos) << msg;
    }
  }
}

TEST(LayoutShapes, BadShapesAreRejected) {
  BitMatrix m{Layout::kWgmmaSwizzle128, 10, 10};
  EXPECT_EQ(shape_error(m), "");
  m.box_rows = 12;
  EXPECT_NE(shape_error(m), "");
  EXPECT_THROW(check_shape(m), std::invalid_argument);
  m.box_rows = 0;
  EXPECT_NE(shape_error(m), "");
  m.layout = Layout::kTile8x128;  // box_rows only matters to wgmma layouts
  EXPECT_EQ(shape_error(m), "");
  EXPECT_EQ(m.padded_rows(), 16);
  m = BitMatrix{Layout::kRowU32, -1, 5};
  EXPECT_NE(shape_error(m), "");
  m = BitMatrix{Layout::kRowU32, 3, 90, kDefaultBoxRows, 48, 45};  // segment not a multiple of 32
  EXPECT_NE(shape_error(m), "");
  m = BitMatrix{Layout::kRowU32, 3, 90, kDefaultBoxRows, 64, 70};  // valid > segment
  EXPECT_NE(shape_error(m), "");
  m = BitMatrix{Layout::kRowU32, 3, 91, kDefaultBoxRows, 64, 45};  // k not whole segments
  EXPECT_NE(shape_error(m), "");
  m = BitMatrix{Layout::kRowU32, 3, 90, kDefaultBoxRows, 0, 45};  // valid without segment
  EXPECT_NE(shape_error(m), "");
  m = BitMatrix{Layout::kRowU32, 3, 90, kDefaultBoxRows, 64, 45};
  EXPECT_EQ(shape_error(m), "");
  m.rows = 2147483640;
  m.layout = Layout::kTile8x128;
  EXPECT_NE(shape_error(m), "");
}

TEST(LayoutShapes, MismatchedArgumentsThrow) {
  const BitMatrix a{Layout::kRowU32, 4, 100}, b{Layout::kTile8x128, 4, 101}, c{Layout::kTile8x128, 5, 100};
  const std::vector<float> x(400, 1.f);
  const auto pa = pack_signs(x.data(), 4, 100, a);
  EXPECT_THROW(pack_signs(x.data(), 4, 99, a), std::invalid_argument);
  EXPECT_THROW(pack_signs(x.data(), 3, 100, a), std::invalid_argument);
  EXPECT_THROW(convert(pa, a, b), std::invalid_argument);
  EXPECT_THROW(convert(pa, a, c), std::invalid_argument);
  EXPECT_THROW(convert(std::vector<uint32_t>(3), a, a), std::invalid_argument);  // buffer too short
  const BitMatrix d{Layout::kRowU32, 4, 101};
  const auto pd = pack_signs(std::vector<float>(404, 1.f).data(), 4, 101, d);
  EXPECT_THROW(dot_pm1_xor(pa, a, 0, pd, d, 0), std::invalid_argument);
  EXPECT_THROW(dot_pm1_and(pa, a, 4, pa, a, 0), std::out_of_range);
  EXPECT_THROW(get_bit(pa, a, 0, 100), std::out_of_range);
  EXPECT_THROW(get_bit(pa, a, -1, 0), std::out_of_range);
  std::vector<uint32_t> q = pa;
  EXPECT_THROW(set_bit(q, a, 4, 0, true), std::out_of_range);
}

TEST(LayoutShapes, EmptyMatrices) {
  for (Layout l : kAllLayouts)
    for (auto [rows, k] : {std::pair{0, 0}, std::pair{0, 5}, std::pair{5, 0}}) {
      const BitMatrix m{l, rows, k};
      ASSERT_EQ(shape_error(m), "") << name(l);
      EXPECT_EQ(m.words(), 0) << name(l);
      const std::vector<float> x(static_cast<size_t>(rows) * k, 1.f);
      EXPECT_TRUE(pack_signs(x.data(), rows, k, m).empty());
      EXPECT_EQ(unpack_signs({}, m).size(), x.size());
      if (rows > 0) {
        EXPECT_EQ(dot_pm1_xor({}, m, 0, {}, m, rows - 1), 0);
      }
    }
}

// Padded sizes of 7 x 129 by hand.
TEST(LayoutShapes, PaddedSizesByHand) {
  struct Want {
    Layout l;
    int rows, k, words;
  };
  for (const Want& w : {Want{Layout::kRowU32, 7, 160, 35}, Want{Layout::kRowU64, 7, 192, 42},
                        Want{Layout::kTile8x128, 8, 256, 64}, Want{Layout::kMmaFragA16x256, 16, 256, 128},
                        Want{Layout::kMmaFragB8x256, 8, 256, 64}, Want{Layout::kWgmmaInterleave, 64, 256, 512},
                        Want{Layout::kWgmmaSwizzle32, 64, 256, 512}, Want{Layout::kWgmmaSwizzle64, 64, 512, 1024},
                        Want{Layout::kWgmmaSwizzle128, 64, 1024, 2048}}) {
    const BitMatrix m{w.l, 7, 129};
    EXPECT_EQ(m.padded_rows(), w.rows) << name(w.l);
    EXPECT_EQ(m.padded_k(), w.k) << name(w.l);
    EXPECT_EQ(m.words(), w.words) << name(w.l);
  }
}

// ---------------------------------------------------------------------------
// Hand-computed points of each layout.

TEST(LayoutPoints, RowU64IsLittleEndianU64Words) {
  BTC_SEEDED_RNG(rng);
  const BitMatrix m{Layout::kRowU64, 3, 100};
  const auto x = random_floats(rng, 300);
  const auto p = pack_signs(x.data(), 3, 100, m);
  ASSERT_EQ(p.size(), 12u);
  std::vector<uint64_t> u64(6);
  std::memcpy(u64.data(), p.data(), 48);  // the host is little-endian, as the GPU is
  for (int r = 0; r < 3; ++r)
    for (int e = 0; e < 100; ++e)
      ASSERT_EQ((u64[static_cast<size_t>(r * 2 + e / 64)] >> (e % 64)) & 1u, x[static_cast<size_t>(r * 100 + e)] >= 0.f);
  EXPECT_EQ(u64[1] >> 36, 0u);  // bits 100..127 of each row are padding
}

TEST(LayoutPoints, Tile8x128TilesAreContiguous128ByteBlocks) {
  const BitMatrix m{Layout::kTile8x128, 16, 384};  // 2 x 3 tiles
  for (int tr = 0; tr < 2; ++tr)
    for (int tk = 0; tk < 3; ++tk) {
      const int64_t base = (tr * 3 + tk) * 32;  // 32 words = 128 bytes, K tiles of a band adjacent
      for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 4; ++j) EXPECT_EQ(m.word_index(tr * 8 + i, tk * 4 + j), base + 4 * i + j);
    }
  // Rows 8..15 of a 129-bit matrix: tile (1, 0) at 256 bytes, its K neighbour right after.
  const BitMatrix n{Layout::kTile8x128, 16, 129};
  EXPECT_EQ(n.word_index(8, 0), 64);
  EXPECT_EQ(n.word_index(8, 4), 96);
  EXPECT_EQ(n.word_index(15, 7), 127);
}

TEST(LayoutPoints, MmaFragAEachLanesRegistersAreFourConsecutiveWords) {
  const BitMatrix m{Layout::kMmaFragA16x256, 32, 512};  // 2 x 2 boxes of 128 words
  for (int rb = 0; rb < 2; ++rb)
    for (int kb = 0; kb < 2; ++kb)
      for (int lane = 0; lane < 32; ++lane) {
        const int g = lane / 4, t = lane % 4;
        for (int i = 0; i < 4; ++i) {
          const int row = rb * 16 + g + 8 * (i % 2), kw = kb * 8 + t + 4 * (i / 2);
          EXPECT_EQ(m.word_index(row, kw), (rb * 2 + kb) * 128 + 4 * lane + i) << lane << " reg " << i;
        }
      }
  // By hand: lane 5 (g 1, t 1) register 3 = row 9, k word 5.
  EXPECT_EQ(m.word_index(9, 5), 23);
  EXPECT_EQ(m.coords_of_word(23).row, 9);
  EXPECT_EQ(m.coords_of_word(23).kw, 5);
}

TEST(LayoutPoints, MmaFragBEachLanesRegistersAreTwoConsecutiveWords) {
  const BitMatrix m{Layout::kMmaFragB8x256, 16, 512};  // 2 x 2 boxes of 64 words
  for (int rb = 0; rb < 2; ++rb)
    for (int kb = 0; kb < 2; ++kb)
      for (int lane = 0; lane < 32; ++lane)
        for (int i = 0; i < 2; ++i)
          EXPECT_EQ(m.word_index(rb * 8 + lane / 4, kb * 8 + lane % 4 + 4 * i), (rb * 2 + kb) * 64 + 2 * lane + i);
  EXPECT_EQ(m.word_index(7, 7), 63);  // lane 31 register 1
  EXPECT_EQ(m.word_index(2, 4), 17);  // lane 8 register 1
}

TEST(LayoutPoints, WgmmaInterleaveIsTheCoreMatrixFormula) {
  auto byte_of = [](const BitMatrix& m, int r, int kw) { return m.word_index(r, kw) * 4; };
  const BitMatrix m{Layout::kWgmmaInterleave, 128, 512};  // box 64 x 256: 2 x 2 boxes of 2048 B
  EXPECT_EQ(byte_of(m, 0, 0), 0);
  EXPECT_EQ(byte_of(m, 1, 0), 16);
  EXPECT_EQ(byte_of(m, 7, 3), 7 * 16 + 12);
  EXPECT_EQ(byte_of(m, 8, 0), 128);                       // next core matrix down: SBO = 128
  EXPECT_EQ(byte_of(m, 0, 4), 1024);                      // next along K: LBO = 64/8*128
  EXPECT_EQ(byte_of(m, 63, 7), 15 * 128 + 7 * 16 + 12);   // last word of box (0, 0)
  EXPECT_EQ(byte_of(m, 0, 8), 2048);                      // box (0, 1)
  EXPECT_EQ(byte_of(m, 64, 0), 4096);                     // box (1, 0)
  EXPECT_EQ(byte_of(m, 70, 13), 3 * 2048 + (1 * 8 + 0) * 128 + 6 * 16 + 4);
  // Every point, against the formula of microbench/instr_adapters.cuh, for a few box_rows.
  for (int br : {8, 24, 64, 128}) {
    BitMatrix b{Layout::kWgmmaInterleave, br, 256};
    b.box_rows = br;
    for (int r = 0; r < br; ++r)
      for (int kw = 0; kw < 8; ++kw) {
        const int chunk = kw / 4;
        const int64_t off = (chunk * (br / 8) + r / 8) * 128 + (r % 8) * 16 + (kw % 4) * 4;
        ASSERT_EQ(byte_of(b, r, kw), off) << "box_rows " << br << " at " << r << "," << kw;
      }
    if (br >= 16) {
      EXPECT_EQ(byte_of(b, 0, 4) - byte_of(b, 0, 0), br / 8 * 128);  // LBO
    }
  }
}

TEST(LayoutPoints, WgmmaSwizzle128ByHand) {
  const BitMatrix m{Layout::kWgmmaSwizzle128, 64, 1024};
  auto chunk_of = [&](int r, int c) { return (m.word_index(r, 4 * c) * 4 - r * 128) / 16; };
  EXPECT_EQ(chunk_of(0, 0), 0);
  EXPECT_EQ(chunk_of(1, 0), 1);  // row 1's chunk 0 at chunk 1
  EXPECT_EQ(chunk_of(7, 0), 7);  // row 7's chunk 0 at chunk 7
  EXPECT_EQ(chunk_of(8, 0), 0);  // repeats every 8 rows (1024 B)
  EXPECT_EQ(chunk_of(3, 5), 6);  // 5 ^ 3
  EXPECT_EQ(chunk_of(6, 7), 1);  // 7 ^ 6
  EXPECT_EQ(m.word_index(2, 17), 89);   // byte 2*128 + (4^2)*16 + 4 = 356
  EXPECT_EQ(m.word_index(7, 0), 252);   // byte 1008
  EXPECT_EQ(m.word_index(63, 31), 63 * 32 + (7 ^ 7) * 4 + 3);
}

TEST(LayoutPoints, WgmmaSwizzle64And32ByHand) {
  const BitMatrix m64{Layout::kWgmmaSwizzle64, 64, 512};  // bits 4-5 ^= bits 7-8: chunk ^= (r/2)%4
  EXPECT_EQ(m64.word_index(1, 0), 16);   // byte 64: rows 0-1 unswizzled
  EXPECT_EQ(m64.word_index(2, 0), 36);   // byte 128 + 16
  EXPECT_EQ(m64.word_index(7, 4), 120);  // chunk 1 ^ 3 = 2: byte 448 + 32
  EXPECT_EQ(m64.word_index(8, 0), 128);  // repeats every 8 rows (512 B)
  EXPECT_EQ(m64.word_index(5, 13), 5 * 16 + ((3 ^ 2) * 4) + 1);
  const BitMatrix m32{Layout::kWgmmaSwizzle32, 64, 256};  // bit 4 ^= bit 7: chunk ^= (r/4)%2
  EXPECT_EQ(m32.word_index(3, 0), 24);    // byte 96: rows 0-3 unswizzled
  EXPECT_EQ(m32.word_index(4, 0), 36);    // byte 128 + 16
  EXPECT_EQ(m32.word_index(5, 5), 41);    // chunk 1 ^ 1 = 0: byte 160 + 4
  EXPECT_EQ(m32.word_index(8, 0), 64);    // repeats every 8 rows (256 B)
  EXPECT_EQ(m32.word_index(12, 4), 96);   // chunk 1 ^ 1 = 0
}

TEST(LayoutPoints, SwizzlesPermuteWhole16ByteChunksWithinARow) {
  for (Layout l : {Layout::kWgmmaSwizzle32, Layout::kWgmmaSwizzle64, Layout::kWgmmaSwizzle128}) {
    const int w = swizzle_bytes(l);
    const BitMatrix m{l, 64, w * 8};
    for (int r = 0; r < 64; ++r)
      for (int kw = 0; kw < w / 4; ++kw) {
        const int64_t byte = m.word_index(r, kw) * 4;
        ASSERT_EQ(byte / w, r) << name(l);                  // stays in its row
        ASSERT_EQ(byte % 16, (kw % 4) * 4) << name(l);      // chunk intact
        const int64_t want_chunk = (kw / 4) ^ (((r * w) >> 7) & (w / 16 - 1));  // Swizzle<B,4,3>
        ASSERT_EQ((byte % w) / 16, want_chunk) << name(l) << " " << r << "," << kw;
      }
  }
}

// ---------------------------------------------------------------------------
// Convolution packing.

TEST(ConvPacking, ShapesOfActivationsAndWeights) {
  const BitMatrix a = nhwc_activations(2, 5, 3, 45, 64);
  EXPECT_EQ(a.layout, Layout::kRowU64);
  EXPECT_EQ(a.rows, 30);
  EXPECT_EQ(a.k, 45);
  EXPECT_EQ(a.k_segment, 64);
  EXPECT_EQ(a.padded_k(), 64);
  const BitMatrix w = krsc_weights(7, 3, 3, 45, 128);
  EXPECT_EQ(w.layout, Layout::kRowU32);
  EXPECT_EQ(w.rows, 7);
  EXPECT_EQ(w.k, 9 * 45);
  EXPECT_EQ(w.stored_k(), 9 * 128);
  EXPECT_EQ(w.kwords(), 36);
  const BitMatrix w32 = krsc_weights(4, 1, 1, 64, 32);
  EXPECT_TRUE(w32.identity_k());
  EXPECT_EQ(w32.stored_k(), 64);
  EXPECT_THROW(nhwc_activations(1, 1, 1, 8, 48), std::invalid_argument);
  EXPECT_THROW(krsc_weights(1, 3, 3, 0, 32), std::invalid_argument);
  EXPECT_THROW(nhwc_activations(65536, 65536, 2, 8, 32), std::invalid_argument);
}

TEST(ConvPacking, IndexHelpersAddressTheNaturalTensors) {
  BTC_SEEDED_RNG(rng);
  const KrscDims d{5, 3, 2, 45};
  for (int cwb : {32, 64, 128}) {
    const BitMatrix m = krsc_weights(d.k, d.r, d.s, d.c, cwb);
    const auto x = random_floats(rng, static_cast<size_t>(d.k) * d.r * d.s * d.c);  // float[K][R][S][C]
    const auto p = pack_signs(x.data(), m.rows, m.k, m);
    const int c_pad = (d.c + cwb - 1) / cwb * cwb;
    for (int k = 0; k < d.k; ++k)
      for (int r = 0; r < d.r; ++r)
        for (int s = 0; s < d.s; ++s)
          for (int c = 0; c < d.c; ++c) {
            const BitCoord bc = krsc_bit(d, k, r, s, c);
            const bool want = x[static_cast<size_t>(((k * d.r + r) * d.s + s) * d.c + c)] >= 0.f;
            ASSERT_EQ(get_bit(p, m, bc.row, bc.k), want);
            const int stored = (r * d.s + s) * c_pad + c;  // each (r, s) segment on a word boundary
            ASSERT_EQ(m.stored_bit(bc.k), stored);
            ASSERT_EQ((p[static_cast<size_t>(k * m.kwords() + stored / 32)] >> (stored % 32)) & 1u, want ? 1u : 0u);
          }
    // Segment tails are padding: all-ones weights have R*S*C bits set per row.
    const std::vector<float> ones(x.size(), 1.f);
    const auto q = pack_signs(ones.data(), m.rows, m.k, m);
    for (int k = 0; k < d.k; ++k) {
      int bits = 0;
      for (int kw = 0; kw < m.kwords(); ++kw) bits += __builtin_popcount(q[static_cast<size_t>(k * m.kwords() + kw)]);
      EXPECT_EQ(bits, d.r * d.s * d.c);
    }
  }
  const NhwcDims a{2, 4, 3, 45};
  EXPECT_EQ(nhwc_bit(a, 1, 2, 1, 7).row, (1 * 4 + 2) * 3 + 1);
  EXPECT_EQ(nhwc_bit(a, 1, 2, 1, 7).k, 7);
}

// An implicit-GEMM patch built from activation words, one segment per (r, s),
// dotted with a weight row: the +-1 convolution.
TEST(ConvPacking, WordGatheredPatchesGiveTheConvolution) {
  BTC_SEEDED_RNG(rng);
  const NhwcDims ad{2, 6, 5, 45};
  const KrscDims wd{4, 3, 3, 45};
  for (int cwb : {32, 64, 128}) {
    SCOPED_TRACE("c_word_bits " + std::to_string(cwb));
    const BitMatrix am = nhwc_activations(ad.n, ad.h, ad.w, ad.c, cwb);
    const BitMatrix wm = krsc_weights(wd.k, wd.r, wd.s, wd.c, cwb);
    const auto xa = random_floats(rng, static_cast<size_t>(am.rows) * am.k);
    const auto xw = random_floats(rng, static_cast<size_t>(wm.rows) * wm.k);
    const auto pa = pack_signs(xa.data(), am.rows, am.k, am);
    const auto pw = pack_signs(xw.data(), wm.rows, wm.k, wm);
    BitMatrix patch = wm;
    patch.rows = 1;
    const int seg_words = wm.k_segment / 32;
    for (int n = 0; n < ad.n; ++n)
      for (int p = 0; p + wd.r <= ad.h; ++p)
        for (int q = 0; q + wd.s <= ad.w; ++q) {
          std::vector<uint32_t> pp(static_cast<size_t>(patch.words()), 0u);
          for (int r = 0; r < wd.r; ++r)
            for (int s = 0; s < wd.s; ++s)
              for (int i = 0; i < seg_words; ++i)
                pp[static_cast<size_t>((r * wd.s + s) * seg_words + i)] =
                    pa[static_cast<size_t>(am.word_index(nhwc_bit(ad, n, p + r, q + s, 0).row, i))];
          for (int k = 0; k < wd.k; ++k) {
            int want = 0;
            for (int r = 0; r < wd.r; ++r)
              for (int s = 0; s < wd.s; ++s)
                for (int c = 0; c < ad.c; ++c) {
                  const float av = xa[static_cast<size_t>(nhwc_bit(ad, n, p + r, q + s, c).row) * ad.c + c];
                  const float wv = xw[static_cast<size_t>(krsc_bit(wd, k, r, s, c).k) + static_cast<size_t>(k) * wm.k];
                  want += (av >= 0.f ? 1 : -1) * (wv >= 0.f ? 1 : -1);
                }
            ASSERT_EQ(dot_pm1_xor(pp, patch, 0, pw, wm, k), want) << n << "," << p << "," << q << "," << k;
            ASSERT_EQ(dot_pm1_and(pp, patch, 0, pw, wm, k), want) << n << "," << p << "," << q << "," << k;
          }
        }
  }
}

TEST(ConvPacking, ConvertAcrossSegmentations) {
  BTC_SEEDED_RNG(rng);
  const BitMatrix w = krsc_weights(9, 3, 3, 45, 64);
  const auto x = random_floats(rng, static_cast<size_t>(w.rows) * w.k);
  const auto pw = pack_signs(x.data(), w.rows, w.k, w);
  BitMatrix w128 = krsc_weights(9, 3, 3, 45, 128);
  BitMatrix tile = w;  // same segments, tile layout: word path
  tile.layout = Layout::kTile8x128;
  BitMatrix flat{Layout::kMmaFragA16x256, w.rows, w.k};  // no segments: bit path
  for (const BitMatrix& dst : {w128, tile, flat}) {
    SCOPED_TRACE(describe(dst));
    const auto want = pack_signs(x.data(), dst.rows, dst.k, dst);
    const auto got = convert(pw, w, dst);
    EXPECT_EQ(got, want);
    EXPECT_EQ(convert(got, dst, w), pw);
    for (int i = 0; i < w.rows; ++i) EXPECT_EQ(dot_pm1_xor(pw, w, i, got, dst, (i + 1) % w.rows),
                                               dot_pm1_and(want, dst, i, pw, w, (i + 1) % w.rows));
  }
}

}  // namespace
}  // namespace btc::bits
