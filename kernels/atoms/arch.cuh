// Compile-time arch guards of the atoms. Each atom's body exists only in the
// passes that have its instruction; in the others it traps, and the host
// never launches it there: harness/core/code_target.h says which pass the
// driver picked for the device, and every skip reason is computed from that.
#pragma once

#if defined(__CUDA_ARCH__)
#define BTC_CODE_ARCH (__CUDA_ARCH__ / 10)
#else
#define BTC_CODE_ARCH 0
#endif
// sm_75: WMMA / mma.sync m8n8k128 b1 XOR. sm_80: the AND forms, m16n8k*,
// cp.async, ldmatrix of b16. sm_90a: wgmma, setmaxnreg (the "a" target only).
#define BTC_HAS_SM75 (BTC_CODE_ARCH >= 75)
#define BTC_HAS_SM80 (BTC_CODE_ARCH >= 80)
#define BTC_HAS_SM90 (BTC_CODE_ARCH >= 90)
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define BTC_HAS_SM90A 1
#else
#define BTC_HAS_SM90A 0
#endif
