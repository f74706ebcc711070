// Hardware counters through CUPTI's range profiler (CUDA 13): one user range,
// user replay, one kernel launch per profile() call.
//
// The driver is reached only through the CUDA runtime (no libcuda link), so a
// program using this starts on a machine without a GPU; every call here then
// fails with Error (counter_availability() reports it instead).
//
// Not thread-safe: use one RangeProfiler from one thread at a time.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace btc::cupti {

// A failed CUPTI or CUDA call (the message names the call and CUPTI's or CUDA's
// error string, plus what to do for the usual permission/MIG/vGPU/tool cases),
// or a misuse caught here (bad metric names, unknown chip, dropped range...).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, int cupti_result = 0);
  // The CUptiResult that caused this (35 = CUPTI_ERROR_INSUFFICIENT_PRIVILEGES, ...),
  // or 0 when the failure came from CUDA or from the checks of this module.
  int cupti_result() const noexcept { return cupti_result_; }

 private:
  int cupti_result_;
};

struct Availability {
  bool available = false;
  std::string reason;  // not available: why, and how to enable it; available: a short confirmation
};

// For `btcbench info` and before a sweep: can counters be read on `device` now?
// Tries what a profile needs (device support, counter availability, enabling the
// range profiler on the device's primary context) and maps the failures
// (no GPU, privileges, vGPU, MIG, confidential computing, WSL, running under
// ncu/nsys...) to a reason. The current device is restored. Never throws.
Availability counter_availability(int device);

// CUPTI's chip name of `device`, e.g. "GH100", "TU102", "GA100". Throws Error.
std::string chip_name(int device);

// Offline validation, no GPU needed (host API with the chip name and no counter
// availability image): the subset of `metrics`, in order, that CUPTI rejects on
// `chip`. Names need their rollup ("sm__cycles_elapsed.max", not "sm__cycles_elapsed").
// Throws Error if CUPTI does not know the chip (the message lists the chips it knows).
std::vector<std::string> invalid_metrics(const std::string& chip, const std::vector<std::string>& metrics);

// Counters for one kernel launch at a time, on one device.
//
//   btc::cupti::RangeProfiler prof(dev, {"sm__inst_executed_pipe_tensor_op_imma.sum"});
//   std::vector<double> v = prof.profile("bmma_8x8x128", [&] { kernel<<<g, b>>>(args); });
//
// Construction makes the configuration once (host config image, range profiler
// enabled on the device's primary context); profile() can then be called any
// number of times. Only one RangeProfiler per device may exist at a time.
// Counter passes replay the kernel and run ~3x slower: never time them.
class RangeProfiler {
 public:
  // Validates the names on the device's chip first: invalid ones -> Error that
  // lists them and names the chip. Empty or duplicate names -> Error.
  RangeProfiler(int device, std::vector<std::string> metrics);
  ~RangeProfiler();  // disables the range profiler; never throws

  RangeProfiler(RangeProfiler&&) noexcept;
  RangeProfiler& operator=(RangeProfiler&&) noexcept;
  RangeProfiler(const RangeProfiler&) = delete;
  RangeProfiler& operator=(const RangeProfiler&) = delete;

  // Makes the profiler's device current, calls `launch` once per replay pass
  // (num_passes() times; it must be idempotent: same inputs, same work) inside
  // one user range named `range_name`, synchronizes, decodes and returns one
  // value per metric, in the order given to the constructor (a ratio with a
  // zero denominator comes back as NaN). The previous current device is
  // restored. Throws Error (also if CUPTI dropped the range, recorded none, or
  // submitted a different number of passes than scheduled); an exception from
  // `launch` propagates unchanged. After a failed pass the open replay is
  // finished with empty passes, so the profiler stays usable.
  std::vector<double> profile(const std::string& range_name, const std::function<void()>& launch);

  // Called before each replay pass, outside the profiled range (before
  // cuptiRangeProfilerStart), e.g. to flush L2 so every pass starts cold as
  // under ncu --cache-control all. Empty (the default): nothing runs between
  // passes. An exception from it propagates as one from `launch` does.
  void set_before_pass(std::function<void()> before_pass);

  int num_passes() const;  // replay passes per profile(), as CUPTI scheduled them
  const std::string& chip() const;
  const std::vector<std::string>& metrics() const;
  int device() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace btc::cupti
