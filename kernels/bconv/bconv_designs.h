// Each BConv design family adds its variants to the registry
// (kernels/bconv_registry.cpp), as the BMM families do.
#pragma once
#include <memory>
#include <vector>

#include "kernels/bconv/bconv.h"

namespace btc::bconv {

using DesignList = std::vector<std::unique_ptr<Design>>;

void add_implicit_gemm_designs(DesignList& out);  // tensor-core implicit GEMM: mma.sync AND, WMMA XOR (bconv_igemm.cu)
void add_popc_designs(DesignList& out);           // software popcount, 32/64-bit words (baselines/popc_bconv.cu)
void add_cudnn_designs(DesignList& out);          // cuDNN fp16 / int8 on the ±1 values (baselines/cudnn_bconv.cpp)

}  // namespace btc::bconv
