// Which replay pass CUPTI's range profiler puts each raw counter of a metric
// list in, offline (no GPU: the host API with a chip name, as
// btc::cupti::invalid_metrics validates). Evidence for README.md: the two
// counters of lts__t_sector_hit_rate.pct never share a pass.
//
//   g++ -std=c++17 docs/profiles/ncu-compare/cupti_pass_map.cpp -I/usr/local/cuda/include
//       -L/usr/local/cuda/lib64 -lcupti -lnvperf_host -Wl,-rpath,/usr/local/cuda/lib64 -o /tmp/cupti_pass_map
//   /tmp/cupti_pass_map GH100 lts__t_sector_hit_rate.pct dram__bytes_read.sum ...
//
// The config image is the one RangeProfiler builds (cuptiProfilerHostConfigAddMetrics);
// NVPW_Config_GetRawCounterInfo reads a raw counter's pass indices from it and
// NVPW_MetricsEvaluator_GetMetricRawDependencies names a metric's raw counters
// (CUPTI 13 prints them as hashes, e.g. 0xa5cb49d0c2b35a0d).
#include <cupti.h>
#include <cupti_profiler_host.h>
#include <cupti_profiler_target.h>
#include <nvperf_cuda_host.h>
#include <nvperf_host.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

void check(bool ok, const char* call) {
  if (!ok) throw std::runtime_error(std::string(call) + " failed");
}
// A CUPTI / NVPW params struct, zeroed, with structSize set.
template <class Params>
Params make(std::size_t struct_size) {
  Params p{};
  p.structSize = struct_size;
  return p;
}
#define PARAMS(Type) make<Type>(Type##_STRUCT_SIZE)
#define CUPTI_OK(call) check((call) == CUPTI_SUCCESS, #call)
#define NVPW_OK(call) check((call) == NVPA_STATUS_SUCCESS, #call)

std::vector<uint8_t> config_image(const char* chip, std::vector<const char*>& names, CUpti_Profiler_Host_Object** host) {
  auto init = PARAMS(CUpti_Profiler_Host_Initialize_Params);
  init.profilerType = CUPTI_PROFILER_TYPE_RANGE_PROFILER;
  init.pChipName = chip;
  CUPTI_OK(cuptiProfilerHostInitialize(&init));
  *host = init.pHostObject;
  auto add = PARAMS(CUpti_Profiler_Host_ConfigAddMetrics_Params);
  add.pHostObject = *host;
  add.ppMetricNames = names.data();
  add.numMetrics = names.size();
  CUPTI_OK(cuptiProfilerHostConfigAddMetrics(&add));
  auto size = PARAMS(CUpti_Profiler_Host_GetConfigImageSize_Params);
  size.pHostObject = *host;
  CUPTI_OK(cuptiProfilerHostGetConfigImageSize(&size));
  std::vector<uint8_t> image(size.configImageSize);
  auto get = PARAMS(CUpti_Profiler_Host_GetConfigImage_Params);
  get.pHostObject = *host;
  get.configImageSize = image.size();
  get.pConfigImage = image.data();
  CUPTI_OK(cuptiProfilerHostGetConfigImage(&get));
  return image;
}

std::vector<const char*> raw_dependencies(NVPW_MetricsEvaluator* ev, const char* metric) {
  NVPW_MetricEvalRequest req{};
  auto cv = PARAMS(NVPW_MetricsEvaluator_ConvertMetricNameToMetricEvalRequest_Params);
  cv.pMetricsEvaluator = ev;
  cv.pMetricName = metric;
  cv.pMetricEvalRequest = &req;
  cv.metricEvalRequestStructSize = NVPW_MetricEvalRequest_STRUCT_SIZE;
  NVPW_OK(NVPW_MetricsEvaluator_ConvertMetricNameToMetricEvalRequest(&cv));
  auto deps = PARAMS(NVPW_MetricsEvaluator_GetMetricRawDependencies_Params);
  deps.pMetricsEvaluator = ev;
  deps.pMetricEvalRequests = &req;
  deps.numMetricEvalRequests = 1;
  deps.metricEvalRequestStructSize = NVPW_MetricEvalRequest_STRUCT_SIZE;
  deps.metricEvalRequestStrideSize = sizeof(req);
  NVPW_OK(NVPW_MetricsEvaluator_GetMetricRawDependencies(&deps));  // the count
  std::vector<const char*> names(deps.numRawDependencies);
  std::vector<const char*> optional(deps.numOptionalRawDependencies);
  deps.ppRawDependencies = names.data();
  deps.ppOptionalRawDependencies = optional.data();
  NVPW_OK(NVPW_MetricsEvaluator_GetMetricRawDependencies(&deps));
  return names;
}

std::string passes_of(const std::vector<uint8_t>& image, const char* raw) {
  auto info = PARAMS(NVPW_Config_GetRawCounterInfo_Params);
  info.pConfig = image.data();
  info.configSize = image.size();
  info.pRawCounterName = raw;
  NVPW_OK(NVPW_Config_GetRawCounterInfo(&info));  // the count
  std::vector<size_t> passes(info.numPassIndices);
  info.pPassIndices = passes.data();
  NVPW_OK(NVPW_Config_GetRawCounterInfo(&info));
  std::string out;
  for (size_t p : passes) out += (out.empty() ? "" : ",") + std::to_string(p);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CHIP METRIC...\n", argv[0]);
    return 2;
  }
  try {
    const char* chip = argv[1];
    std::vector<const char*> names(argv + 2, argv + argc);
    auto pi = PARAMS(CUpti_Profiler_Initialize_Params);
    cuptiProfilerInitialize(&pi);  // fails without a driver; the host API works regardless
    CUpti_Profiler_Host_Object* host = nullptr;
    const std::vector<uint8_t> image = config_image(chip, names, &host);
    auto np = PARAMS(CUpti_Profiler_Host_GetNumOfPasses_Params);
    np.configImageSize = image.size();
    np.pConfigImage = const_cast<uint8_t*>(image.data());
    CUPTI_OK(cuptiProfilerHostGetNumOfPasses(&np));
    uint32_t version = 0;
    cuptiGetVersion(&version);
    std::printf("%s, CUPTI API %u: %zu metrics in %zu passes\n", chip, version, names.size(), np.numOfPasses);

    auto nh = PARAMS(NVPW_InitializeHost_Params);
    NVPW_OK(NVPW_InitializeHost(&nh));
    auto sb = PARAMS(NVPW_CUDA_MetricsEvaluator_CalculateScratchBufferSize_Params);
    sb.pChipName = chip;
    NVPW_OK(NVPW_CUDA_MetricsEvaluator_CalculateScratchBufferSize(&sb));
    std::vector<uint8_t> scratch(sb.scratchBufferSize);
    auto ei = PARAMS(NVPW_CUDA_MetricsEvaluator_Initialize_Params);
    ei.pScratchBuffer = scratch.data();
    ei.scratchBufferSize = scratch.size();
    ei.pChipName = chip;
    NVPW_OK(NVPW_CUDA_MetricsEvaluator_Initialize(&ei));

    for (const char* metric : names) {
      std::printf("  %s\n", metric);
      for (const char* raw : raw_dependencies(ei.pMetricsEvaluator, metric))
        std::printf("      raw %s  pass %s\n", raw, passes_of(image, raw).c_str());
    }
    auto ed = PARAMS(NVPW_MetricsEvaluator_Destroy_Params);
    ed.pMetricsEvaluator = ei.pMetricsEvaluator;
    NVPW_MetricsEvaluator_Destroy(&ed);
    auto hd = PARAMS(CUpti_Profiler_Host_Deinitialize_Params);
    hd.pHostObject = host;
    cuptiProfilerHostDeinitialize(&hd);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cupti_pass_map: %s\n", e.what());
    return 1;
  }
  return 0;
}
