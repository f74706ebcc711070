// cuDNN fp16 / int8 convolution baselines on the ±1 values: placeholder
// until the designs land.
#include "kernels/bconv/bconv_designs.h"

namespace btc::bconv {

void add_cudnn_designs(DesignList&) {}

}  // namespace btc::bconv
