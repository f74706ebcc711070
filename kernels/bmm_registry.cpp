// The one list of BMM designs: the tensor-core designs of bmm/ and the
// baselines of baselines/, in a stable order.
#include "kernels/bmm/bmm_designs.h"

namespace btc::bmm {

const std::vector<std::unique_ptr<Design>>& designs() {
  static const DesignList all = [] {
    DesignList d;
    add_btc_wmma_designs(d);
    add_mma_designs(d);
    add_wgmma_designs(d);
    add_popc_designs(d);
    add_cublas_designs(d);
    return d;
  }();
  return all;
}

const Design* find_design(const std::string& name) {
  for (const auto& d : designs())
    if (d->name() == name) return d.get();
  return nullptr;
}

}  // namespace btc::bmm
