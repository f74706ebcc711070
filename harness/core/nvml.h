// NVML, loaded at run time (the toolkit ships no nvml.h and the library comes
// with the driver, so nothing here needs a driver to start): the driver
// version and the GPU's clock, power, temperature and clock-event reasons.
#pragma once
#include <string>

#include "harness/core/gpu_conditions.h"

namespace btc::nvml {

// The driver version ("580.159.04"), or "" where NVML is absent.
std::string driver_version();

// One reading of CUDA device `ordinal` (matched to NVML by PCI bus id). The
// power and thermal violations are against the previous sample of the same
// device in this process (the first sample has none). `valid` false where
// NVML is absent or does not know the device; never throws.
GpuSample sample(int ordinal);

// "" when samples can be taken on `ordinal`, else why not.
std::string unavailable_reason(int ordinal);

}  // namespace btc::nvml
