// The one list of BConv designs: the tensor-core designs of bconv/ and the
// baselines of baselines/, in a stable order.
#include "kernels/bconv/bconv_designs.h"

namespace btc::bconv {

const std::vector<std::unique_ptr<Design>>& designs() {
  static const DesignList all = [] {
    DesignList d;
    add_implicit_gemm_designs(d);
    add_popc_designs(d);
    add_cudnn_designs(d);
    return d;
  }();
  return all;
}

const Design* find_design(const std::string& name) {
  for (const auto& d : designs())
    if (d->name() == name) return d.get();
  return nullptr;
}

}  // namespace btc::bconv
