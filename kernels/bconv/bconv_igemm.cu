// Tensor-core implicit-GEMM BConv designs: placeholder.
#include "kernels/bconv/bconv_designs.h"

namespace btc::bconv {

void add_implicit_gemm_designs(DesignList&) {}

}  // namespace btc::bconv
