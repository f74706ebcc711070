// Fragment-load stride microkernels: the TCBNN paper's central experiment.
// A b1 operand tile is read from a row-major bit matrix whose row stride is
// `ldm_bits`; the stride alone decides how many sectors and banks one
// fragment load touches.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

namespace btc {

enum class MemSpace { kGlobal, kShared };

// How a warp gets one operand fragment. Rows x tile_k_bits is the tile one
// load delivers: WMMA 8x128 (load_matrix_sync), mma.sync m16n8k256 A by
// plain 32-bit loads, or by ldmatrix.x4 (shared memory only).
struct LoadPath {
  const char* name;     // "wmma_global", ...
  const char* loader;   // "wmma" | "mma" | "ldmatrix"
  MemSpace space;
  int rows, tile_k_bits;
  int min_sm;
  int tile_bytes() const { return rows * tile_k_bits / 8; }
};
const std::vector<LoadPath>& load_paths();
const LoadPath* find_load_path(const std::string& name);

// load: fragments folded into a checksum; mma: each loaded fragment feeds a
// b1 MMA (AND where the arch has it, XOR on sm_75), B held in registers.
enum class StrideMode { kLoad, kMma };

struct StrideLaunch {
  int blocks = 0, threads = 0;
  int ldm_bits = 128;         // row stride of the matrix, a multiple of 128
  long long iters = 1;        // global: passes over the matrix; shared: tile loads per warp
  size_t matrix_bytes = 0;    // global: the matrix streamed (>> L2)
};

class StrideBuffers {
 public:
  static constexpr uint32_t kDefaultSeed = 0x5791DE;  // the sweep's matrix: the same bits every run
  // The matrix holds random bits from `seed` (tests pass a fresh one).
  explicit StrideBuffers(size_t matrix_bytes, uint32_t seed = kDefaultSeed);
  ~StrideBuffers();
  StrideBuffers(const StrideBuffers&) = delete;
  StrideBuffers& operator=(const StrideBuffers&) = delete;
  const uint32_t* matrix() const { return matrix_; }
  int32_t* sink() const { return sink_; }
  long long* clk() const { return clk_; }
  size_t matrix_bytes() const { return bytes_; }
  static constexpr int kMaxBlocks = 4096, kMaxThreads = 1024;

 private:
  uint32_t* matrix_ = nullptr;
  int32_t* sink_ = nullptr;
  long long* clk_ = nullptr;
  size_t bytes_ = 0;
};

// Tiles one launch reads (global: per pass; shared: 0, see stride_tile_loads).
long long stride_tiles_per_pass(const LoadPath& p, int ldm_bits, size_t matrix_bytes);
// Dynamic shared memory a block needs: one row band of the matrix.
size_t stride_smem_bytes(const LoadPath& p, int ldm_bits);
// Total fragment loads of one launch.
long long stride_tile_loads(const LoadPath& p, const StrideLaunch& l);

void launch_stride(const LoadPath& p, StrideMode mode, const StrideLaunch& l, const StrideBuffers& buf,
                   cudaStream_t s);

}  // namespace btc
