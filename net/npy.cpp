#include "net/npy.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace btc::net {
namespace {

float half_to_float(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float v;
  if (exp == 0) v = std::ldexp(static_cast<float>(man), -24);
  else if (exp == 31) v = man ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(man | 0x400), exp - 25);
  return sign ? -v : v;
}

}  // namespace

NpyImages load_npy_images(const std::string& path, const Shape& image) {
  auto fail = [&](const std::string& what) -> NpyError { return NpyError(path + ": " + what); };
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw fail("no such file");
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  const std::string b = ss.str();
  if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY") != 0) throw fail("not a .npy file (no \\x93NUMPY magic)");
  const int major = static_cast<unsigned char>(b[6]);
  size_t header_len = 0, at = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(b[8]) | (static_cast<unsigned char>(b[9]) << 8);
    at = 10;
  } else if (major == 2 || major == 3) {
    if (b.size() < 12) throw fail("truncated header");
    uint32_t len = 0;
    std::memcpy(&len, b.data() + 8, 4);
    header_len = len;
    at = 12;
  } else {
    throw fail("unknown .npy version " + std::to_string(major));
  }
  if (at + header_len > b.size()) throw fail("header runs past the end of the file");
  const std::string h = b.substr(at, header_len);
  std::smatch mm;
  if (!std::regex_search(h, mm, std::regex("'descr':\\s*'([^']*)'"))) throw fail("header has no descr");
  const std::string descr = mm[1];
  if (descr != "<f4" && descr != "<f2" && descr != "|f4")
    throw fail("dtype " + descr + ": the images must be float32 or float16 (little-endian)");
  const size_t elem = descr == "<f2" ? 2 : 4;
  if (std::regex_search(h, std::regex("'fortran_order':\\s*True"))) throw fail("Fortran order: save it C-contiguous");
  if (!std::regex_search(h, mm, std::regex("'shape':\\s*\\(([^)]*)\\)"))) throw fail("header has no shape");
  std::vector<long long> shape;
  std::stringstream dims(mm[1].str());
  for (std::string d; std::getline(dims, d, ',');) {
    d.erase(0, d.find_first_not_of(" "));
    if (d.find_first_not_of(" ") == std::string::npos) continue;
    shape.push_back(std::stoll(d));
  }
  if (shape.size() != 4) throw fail("rank " + std::to_string(shape.size()) + ": the images must be 4-d (N C H W or N H W C)");
  NpyImages out;
  out.batch = static_cast<int>(shape[0]);
  const bool nchw = shape[1] == image.c && shape[2] == image.h && shape[3] == image.w;
  const bool nhwc = shape[1] == image.h && shape[2] == image.w && shape[3] == image.c;
  if (!nchw && !nhwc)
    throw fail("shape (" + std::to_string(shape[0]) + ", " + std::to_string(shape[1]) + ", " + std::to_string(shape[2]) +
               ", " + std::to_string(shape[3]) + ") is neither N x " + std::to_string(image.c) + " x " +
               std::to_string(image.h) + " x " + std::to_string(image.w) + " nor N x H x W x C of the model input");
  if (out.batch < 1) throw fail("no images");
  const size_t count = static_cast<size_t>(out.batch) * image.elements();
  const size_t data = at + header_len;
  if (b.size() - data != count * elem)
    throw fail("holds " + std::to_string(b.size() - data) + " data bytes, the shape needs " + std::to_string(count * elem));
  std::vector<float> v(count);
  for (size_t i = 0; i < count; ++i) {
    if (elem == 4) std::memcpy(&v[i], b.data() + data + 4 * i, 4);
    else {
      uint16_t x;
      std::memcpy(&x, b.data() + data + 2 * i, 2);
      v[i] = half_to_float(x);
    }
  }
  out.was_nhwc = nhwc && !nchw;
  if (!out.was_nhwc) {
    out.nchw = std::move(v);
  } else {
    out.nchw.resize(count);
    const int C = image.c, H = image.h, W = image.w;
    for (int n = 0; n < out.batch; ++n)
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
          for (int c = 0; c < C; ++c)
            out.nchw[((size_t(n) * C + c) * H + y) * W + x] = v[((size_t(n) * H + y) * W + x) * C + c];
  }
  return out;
}

}  // namespace btc::net
