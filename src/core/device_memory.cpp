#include "core/device_memory.h"

#if SORAGEN_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace soragen::core {

std::optional<int64_t> peak_device_memory(const c10::Device& device) {
#if SORAGEN_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
  }
#endif
  (void)device;
  return std::nullopt;
}

void reset_peak_device_memory(const c10::Device& device) {
#if SORAGEN_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
#endif
  (void)device;
}

}  // namespace soragen::core
