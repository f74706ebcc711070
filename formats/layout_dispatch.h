// Run-time layout -> compile-time layout: kernels templated on the layout
// fold their index math; hosts pick the instantiation with with_layout().
#pragma once
#include <stdexcept>
#include <string>
#include <type_traits>

#include "formats/layout.h"

namespace btc::bits {

template <Layout L>
using LayoutTag = std::integral_constant<Layout, L>;

// Calls f(LayoutTag<l>{}); throws std::invalid_argument for a value that is no Layout.
template <class F>
void with_layout(Layout l, F&& f) {
  switch (l) {
    case Layout::kRowU32: f(LayoutTag<Layout::kRowU32>{}); return;
    case Layout::kRowU64: f(LayoutTag<Layout::kRowU64>{}); return;
    case Layout::kTile8x128: f(LayoutTag<Layout::kTile8x128>{}); return;
    case Layout::kMmaFragA16x256: f(LayoutTag<Layout::kMmaFragA16x256>{}); return;
    case Layout::kMmaFragB8x256: f(LayoutTag<Layout::kMmaFragB8x256>{}); return;
    case Layout::kWgmmaInterleave: f(LayoutTag<Layout::kWgmmaInterleave>{}); return;
    case Layout::kWgmmaSwizzle32: f(LayoutTag<Layout::kWgmmaSwizzle32>{}); return;
    case Layout::kWgmmaSwizzle64: f(LayoutTag<Layout::kWgmmaSwizzle64>{}); return;
    case Layout::kWgmmaSwizzle128: f(LayoutTag<Layout::kWgmmaSwizzle128>{}); return;
  }
  throw std::invalid_argument("not a Layout: " + std::to_string(static_cast<int>(l)));
}

}  // namespace btc::bits
