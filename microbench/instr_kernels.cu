#include <map>

#include "harness/core/check.h"
#include "microbench/instr_kernels.h"
#include "microbench/bench_device.cuh"
#include "microbench/instr_adapters.cuh"

namespace btc {
namespace {

using dev::consume;

template <class Op>
__global__ void tile_product_kernel(const uint32_t* a, const uint32_t* b, int32_t* out) {
  extern __shared__ __align__(128) uint8_t smem[];
  typename Op::Frags f;
  Op::load(f, a, b, smem, static_cast<int>(threadIdx.x));
  typename Op::Acc acc;
  Op::zero(acc);
  Op::mma(acc, f);
  Op::commit();
  Op::wait_all();
  Op::store(acc, out, static_cast<int>(threadIdx.x));
}

template <class Op>
__global__ void latency_kernel(const uint32_t* a, const uint32_t* b, int chain, long long* cycles, int32_t* sink) {
  extern __shared__ __align__(128) uint8_t smem[];
  typename Op::Frags f;
  Op::load(f, a, b, smem, static_cast<int>(threadIdx.x));
  typename Op::Acc acc;
  Op::zero(acc);
  const long long t0 = clock64();
#pragma unroll 8
  for (int i = 0; i < chain; ++i) {
    Op::mma(acc, f);  // each depends on the last through the accumulators
    Op::commit();
    Op::wait_all();
  }
  const int32_t folded = Op::fold(acc);
  consume(folded);
  const long long t1 = clock64();
  if (threadIdx.x == 0) *cycles = t1 - t0;
  sink[threadIdx.x] = folded;
}

template <class Op, int ILP>
__global__ void throughput_kernel(const uint32_t* a, const uint32_t* b, long long iters, int32_t* sink,
                                  long long* clk) {
  extern __shared__ __align__(128) uint8_t smem[];
  const int unit = static_cast<int>(threadIdx.x) / Op::kThreads;
  const int utid = static_cast<int>(threadIdx.x) % Op::kThreads;
  typename Op::Frags f;
  Op::load(f, a, b, smem + unit * Op::kSmemBytes, utid);
  typename Op::Acc acc[ILP];
#pragma unroll
  for (int j = 0; j < ILP; ++j) Op::zero(acc[j]);
  __syncthreads();
  dev::BlockClock clock;
  clock.start();
  // Not unrolled: an unrolled loop gets a remainder trip whose MMAs are
  // predicated off when unused, and CUPTI's inst_executed counts those too
  // (seen in SASS on sm_90a: one extra per accumulator and warp).
#pragma unroll 1
  for (long long it = 0; it < iters; ++it) {
#pragma unroll
    for (int j = 0; j < ILP; ++j) Op::mma(acc[j], f);
    Op::commit();
  }
  Op::wait_all();
  int32_t folded = 0;
#pragma unroll
  for (int j = 0; j < ILP; ++j) folded ^= Op::fold(acc[j]);
  consume(folded);
  clock.stop(clk);
  sink[blockIdx.x * blockDim.x + threadIdx.x] = folded;
}

template <class Op>
class InstrKernelsImpl final : public InstrKernels {
 public:
  explicit InstrKernelsImpl(const char* name) : form_(*find_instr_form(name)) {}
  const InstrForm& form() const override { return form_; }

  void tile_product(const InstrBuffers& buf, cudaStream_t s) const override {
    tile_product_kernel<Op><<<1, Op::kThreads, Op::kSmemBytes, s>>>(buf.a_tile, buf.b_tile, buf.out);
    BTC_CUDA_CHECK_LAUNCH();
  }
  void latency(const InstrBuffers& buf, int chain, cudaStream_t s) const override {
    latency_kernel<Op><<<1, Op::kThreads, Op::kSmemBytes, s>>>(buf.a_tile, buf.b_tile, chain, buf.cycles, buf.out);
    BTC_CUDA_CHECK_LAUNCH();
  }
  void throughput(const InstrBuffers& buf, const TputLaunch& l, cudaStream_t s) const override {
    check_launch(l);
    const int smem = l.threads_per_block / Op::kThreads * Op::kSmemBytes;
    dispatch_ilp(l.ilp, [&](auto kernel) {
      kernel<<<l.blocks, l.threads_per_block, smem, s>>>(buf.a_tile, buf.b_tile, l.iters, buf.out, buf.clk);
    });
    BTC_CUDA_CHECK_LAUNCH();
  }
  int max_ilp() const override { return Op::kMaxIlp; }
  int max_blocks_per_sm(int threads_per_block, int ilp) const override {
    int n = 0;
    const int smem = threads_per_block / Op::kThreads * Op::kSmemBytes;
    dispatch_ilp(ilp, [&](auto kernel) {
      BTC_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, threads_per_block, smem));
    });
    return n;
  }

 private:
  template <class F>
  static void dispatch_ilp(int ilp, F&& f) {
    if (ilp > Op::kMaxIlp || !supports_ilp(ilp))
      throw std::invalid_argument(std::string("ilp ") + std::to_string(ilp) + " not built for this form (max " +
                                  std::to_string(Op::kMaxIlp) + ")");
    // Only ILPs that fit in registers are instantiated.
    if constexpr (Op::kMaxIlp >= 8) if (ilp == 8) return f(throughput_kernel<Op, 8>);
    if constexpr (Op::kMaxIlp >= 4) if (ilp == 4) return f(throughput_kernel<Op, 4>);
    if constexpr (Op::kMaxIlp >= 2) if (ilp == 2) return f(throughput_kernel<Op, 2>);
    f(throughput_kernel<Op, 1>);
  }
  void check_launch(const TputLaunch& l) const {
    if (l.blocks < 1 || l.blocks > InstrBuffers::kMaxBlocks || l.threads_per_block < Op::kThreads ||
        l.threads_per_block > InstrBuffers::kMaxThreads || l.threads_per_block % Op::kThreads != 0 || l.iters < 1)
      throw std::invalid_argument(std::string("bad throughput launch for ") + form_.name);
  }
  const InstrForm& form_;
};

// The kernel variants: a form name (its row in instr_forms.cpp) and the op type.
using dev::BitOp;
using dev::WgmmaKind;
using wmma_xor_m8n8k128 = dev::WmmaB1<BitOp::kXor>;
using wmma_and_m8n8k128 = dev::WmmaB1<BitOp::kAnd>;
using mma_xor_m8n8k128 = dev::MmaB1<8, 8, 128, BitOp::kXor>;
using mma_and_m8n8k128 = dev::MmaB1<8, 8, 128, BitOp::kAnd>;
using mma_xor_m16n8k128 = dev::MmaB1<16, 8, 128, BitOp::kXor>;
using mma_and_m16n8k128 = dev::MmaB1<16, 8, 128, BitOp::kAnd>;
using mma_xor_m16n8k256 = dev::MmaB1<16, 8, 256, BitOp::kXor>;
using mma_and_m16n8k256 = dev::MmaB1<16, 8, 256, BitOp::kAnd>;
template <int N> using wgmma_and_ss = dev::Wgmma<WgmmaKind::B1And, N, false>;
template <int N> using wgmma_and_rs = dev::Wgmma<WgmmaKind::B1And, N, true>;
using mma_s8_m16n8k32 = dev::MmaRef<false>;
using mma_f16_m16n8k16 = dev::MmaRef<true>;

const std::map<std::string, std::unique_ptr<InstrKernels>>& registry() {
  static const auto* kRegistry = [] {
    auto* r = new std::map<std::string, std::unique_ptr<InstrKernels>>;
    auto add = [r](const char* name, InstrKernels* k) { r->emplace(name, std::unique_ptr<InstrKernels>(k)); };
#define BTC_ADD(NAME, ...) add(NAME, new InstrKernelsImpl<__VA_ARGS__>(NAME))
    BTC_ADD("wmma_xor_m8n8k128", wmma_xor_m8n8k128);
    BTC_ADD("wmma_and_m8n8k128", wmma_and_m8n8k128);
    BTC_ADD("mma_xor_m8n8k128", mma_xor_m8n8k128);
    BTC_ADD("mma_and_m8n8k128", mma_and_m8n8k128);
    BTC_ADD("mma_xor_m16n8k128", mma_xor_m16n8k128);
    BTC_ADD("mma_and_m16n8k128", mma_and_m16n8k128);
    BTC_ADD("mma_xor_m16n8k256", mma_xor_m16n8k256);
    BTC_ADD("mma_and_m16n8k256", mma_and_m16n8k256);
    BTC_ADD("wgmma_and_m64n8k256_ss", wgmma_and_ss<8>);
    BTC_ADD("wgmma_and_m64n16k256_ss", wgmma_and_ss<16>);
    BTC_ADD("wgmma_and_m64n32k256_ss", wgmma_and_ss<32>);
    BTC_ADD("wgmma_and_m64n64k256_ss", wgmma_and_ss<64>);
    BTC_ADD("wgmma_and_m64n128k256_ss", wgmma_and_ss<128>);
    BTC_ADD("wgmma_and_m64n256k256_ss", wgmma_and_ss<256>);
    BTC_ADD("wgmma_and_m64n8k256_rs", wgmma_and_rs<8>);
    BTC_ADD("wgmma_and_m64n16k256_rs", wgmma_and_rs<16>);
    BTC_ADD("wgmma_and_m64n32k256_rs", wgmma_and_rs<32>);
    BTC_ADD("wgmma_and_m64n64k256_rs", wgmma_and_rs<64>);
    BTC_ADD("wgmma_and_m64n128k256_rs", wgmma_and_rs<128>);
    BTC_ADD("wgmma_and_m64n256k256_rs", wgmma_and_rs<256>);
    BTC_ADD("mma_s8_m16n8k32", mma_s8_m16n8k32);
    BTC_ADD("mma_f16_m16n8k16", mma_f16_m16n8k16);
    BTC_ADD("wgmma_s8_m64n128k32_ss", dev::Wgmma<WgmmaKind::S8, 128, false>);
    BTC_ADD("wgmma_s8_m64n256k32_ss", dev::Wgmma<WgmmaKind::S8, 256, false>);
#undef BTC_ADD
    return r;
  }();
  return *kRegistry;
}

}  // namespace

const InstrKernels* instr_kernels(const std::string& form_name) {
  auto it = registry().find(form_name);
  return it == registry().end() ? nullptr : it->second.get();
}

InstrBuffers::InstrBuffers() {
  BTC_CUDA_CHECK(cudaMalloc(&a_tile, kTileWords * sizeof(uint32_t)));
  BTC_CUDA_CHECK(cudaMalloc(&b_tile, kTileWords * sizeof(uint32_t)));
  BTC_CUDA_CHECK(cudaMalloc(&out, size_t(kMaxBlocks) * kMaxThreads * sizeof(int32_t)));
  BTC_CUDA_CHECK(cudaMalloc(&clk, 2 * kMaxBlocks * sizeof(long long)));
  BTC_CUDA_CHECK(cudaMalloc(&cycles, sizeof(long long)));
}

InstrBuffers::~InstrBuffers() {
  cudaFree(a_tile);
  cudaFree(b_tile);
  cudaFree(out);
  cudaFree(clk);
  cudaFree(cycles);
}

}  // namespace btc
