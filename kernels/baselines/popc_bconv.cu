// Software-popcount BConv baselines (SBNN's BConv-32 / BConv-64): placeholder
// until the designs land.
#include "kernels/bconv/bconv_designs.h"

namespace btc::bconv {

void add_popc_designs(DesignList&) {}

}  // namespace btc::bconv
