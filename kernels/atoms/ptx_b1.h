// The PTX mnemonics of every tensor-core form the suite issues, spelled once.
// Plain C preprocessor strings, so the device atoms (mma_sm*.cuh) paste them
// into their asm and the host tables (microbench/instr_forms.cpp) print the
// same text. The wgmma wrappers in wgmma_asm.cuh are generated from the same
// grammar (scripts/gen_wgmma_asm.py).
#pragma once

// mma.sync b1, SHAPE in {m8n8k128, m16n8k128, m16n8k256}, OP in {xor, and}.
#define BTC_PTX_MMA_B1(SHAPE, OP) "mma.sync.aligned." #SHAPE ".row.col.s32.b1.b1.s32." #OP ".popc"
// WMMA b1 8x8x128: what nvcuda::wmma::bmma_sync compiles to (OP in {xor, and}).
#define BTC_PTX_WMMA_B1(OP) "wmma.mma.sync.aligned.row.col.m8n8k128.s32.b1.b1.s32." #OP ".popc"
// wgmma b1 AND, m64nNk256 (N in 8 ... 256).
#define BTC_PTX_WGMMA_B1_AND(N) "wgmma.mma_async.sync.aligned.m64n" #N "k256.s32.b1.b1.and.popc"
// Reference rows of the instr suite (not b1): their rate sets the b1 figures in context.
#define BTC_PTX_MMA_S8_M16N8K32 "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32"
#define BTC_PTX_MMA_F16_M16N8K16 "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"
#define BTC_PTX_WGMMA_S8(N) "wgmma.mma_async.sync.aligned.m64n" #N "k32.s32.s8.s8"

#ifdef __cplusplus
namespace btc::atom {
// Warp-level tensor instructions per b1 XOR mma / WMMA on a device: Hopper
// has no XOR datapath, so each one issues as 2 (CUPTI counts both;
// docs/findings-instr.md, finding 3). AND and wgmma issue as 1.
constexpr int b1_xor_tensor_insts(int device_sm) { return device_sm >= 90 ? 2 : 1; }
}  // namespace btc::atom
#endif
