// PLACEHOLDER until analysis/select emits it.
#pragma once
#include "kernels/bmm/bmm_config.h"

namespace btc::bmm::generated::sm90 {
inline constexpr BmmConfig kWgmmaAndCandidates[] = {
    {bits::Layout::kWgmmaSwizzle64, bits::Layout::kWgmmaSwizzle64, 128, 256, 512, 8, 8, 1, 1},
    {bits::Layout::kWgmmaSwizzle64, bits::Layout::kWgmmaSwizzle64, 128, 256, 512, 8, 8, 2, 1},
};
}
