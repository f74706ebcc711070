// Images from a NumPy .npy file (format 1.0-3.0: '<f4' or '<f2', C order,
// 4-d), as the runner's NCHW fp32 batch. Pure C++.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include "net/model.h"

namespace btc::net {

struct NpyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct NpyImages {
  int batch = 0;
  bool was_nhwc = false;      // the file held N x H x W x C (transposed on load)
  std::vector<float> nchw;    // batch x C x H x W
};

// Throws NpyError naming the file and what is wrong: not .npy, dtype not
// float32/float16, Fortran order, rank not 4, or a shape that is neither
// N x C x H x W nor N x H x W x C of the model's input.
NpyImages load_npy_images(const std::string& path, const Shape& image);

}  // namespace btc::net
