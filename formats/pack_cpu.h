// CPU reference packers for the layouts of layout.h. Every function checks
// its shapes (std::invalid_argument on a bad or mismatched shape, a buffer
// shorter than words(); std::out_of_range on a bad coordinate) and writes
// every padding word and bit as 0.
#pragma once
#include <cstdint>
#include <vector>

#include "formats/layout.h"

namespace btc::bits {

// x: rows x k row-major (k = the logical k; for NHWC/KRSC tensors that is the
// natural tensor, see nhwc_activations / krsc_weights). Bit = (x >= 0):
// +0.0 and -0.0 give 1, NaN gives 0. rows and k must equal dst's.
std::vector<uint32_t> pack_signs(const float* x, int rows, int k, const BitMatrix& dst);
std::vector<uint32_t> pack_signs(const int8_t* x, int rows, int k, const BitMatrix& dst);

// rows x k row-major, +1 for bit 1 and -1 for bit 0.
std::vector<int8_t> unpack_signs(const std::vector<uint32_t>& src, const BitMatrix& shape);

// Any layout (and segmentation) to any other; rows and k must agree. Words are
// copied (masked to their valid bits) when both share the k map, else bit by bit.
std::vector<uint32_t> convert(const std::vector<uint32_t>& src, const BitMatrix& src_shape,
                              const BitMatrix& dst_shape);

// The +-1 dot product of row i of A and row j of B (B stored N x K), A and B in
// any layouts with the same k, from the XOR and the AND formula over the
// stored words with the true K (relies on zero padding, as the tensor cores do).
int dot_pm1_xor(const std::vector<uint32_t>& a, const BitMatrix& a_shape, int i,
                const std::vector<uint32_t>& b, const BitMatrix& b_shape, int j);
int dot_pm1_and(const std::vector<uint32_t>& a, const BitMatrix& a_shape, int i,
                const std::vector<uint32_t>& b, const BitMatrix& b_shape, int j);

// Logical element (row, k).
bool get_bit(const std::vector<uint32_t>& m, const BitMatrix& shape, int row, int k);
void set_bit(std::vector<uint32_t>& m, const BitMatrix& shape, int row, int k, bool value);

}  // namespace btc::bits
