// The public memory figures: the sum over the backends' allocators (the CPU's,
// then every GPU's).
#include "rill/memory.h"

#include <limits>

#include "backend/cpu/allocator.h"
#include "rill/device.h"
#include "runtime/gpu.h"

namespace rill {

namespace {
template <typename F>
size_t sum_gpus(F&& f) {
  size_t total = 0;
  for (int d = 0; d < device_count(Device::gpu); ++d) total += f(detail::gpu_memory(d));
  return total;
}
}  // namespace

size_t get_active_memory() {
  return detail::cpu::active_memory() + sum_gpus([](auto m) { return m.active; });
}
size_t get_peak_memory() {
  return detail::cpu::peak_memory() + sum_gpus([](auto m) { return m.peak; });
}
void reset_peak_memory() {
  detail::cpu::reset_peak_memory();
  for (int d = 0; d < device_count(Device::gpu); ++d) detail::gpu_reset_peak_memory(d);
}
size_t get_cache_memory() {
  return detail::cpu::cache_memory() + sum_gpus([](auto m) { return m.cache; });
}
size_t set_cache_limit(size_t limit) {
  for (int d = 0; d < device_count(Device::gpu); ++d) detail::gpu_set_cache_limit(d, limit);
  return detail::cpu::set_cache_limit(limit);
}
void clear_cache() {
  detail::cpu::clear_cache();
  for (int d = 0; d < device_count(Device::gpu); ++d) detail::gpu_clear_cache(d);
}
size_t set_memory_limit(size_t limit) {
  size_t previous = std::numeric_limits<size_t>::max();
  for (int d = 0; d < device_count(Device::gpu); ++d) {
    size_t p = detail::gpu_set_memory_limit(d, limit);
    if (d == 0) previous = p;
  }
  return previous;
}
size_t get_memory_limit() {
  return device_count(Device::gpu) > 0 ? detail::gpu_memory(0).limit
                                        : std::numeric_limits<size_t>::max();
}

}  // namespace rill
