// The public memory figures: the sum over the backends' allocators (the CPU's,
// then every GPU's).
#include "rill/memory.h"

#include <stdexcept>
#include <unordered_set>

#include "backend/cpu/allocator.h"
#include "core/node.h"
#include "rill/device.h"
#include "backend/gpu.h"
#include "runtime/stream_state.h"

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
size_t get_array_buffer_size(const std::vector<array>& arrays) {
  std::unordered_set<const detail::Buffer*> seen;
  size_t total = 0;
  for (const array& a : arrays) {
    if (!a.is_available()) {
      throw std::invalid_argument(
          "[get_array_buffer_size] Arrays must be evaluated before querying buffer size.");
    }
    const detail::Buffer* b = a.node()->buffer.get();
    if (b && seen.insert(b).second) total += b->nbytes;
  }
  return total;
}
size_t set_wired_limit(size_t) { return 0; }
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
size_t set_memory_limit(size_t limit, Device d) {
  detail::check_device(d, "set_memory_limit");
  return d.type == Device::cpu ? detail::cpu::set_memory_limit(limit)
                               : detail::gpu_set_memory_limit(d.index, limit);
}
size_t get_memory_limit(Device d) {
  detail::check_device(d, "get_memory_limit");
  return d.type == Device::cpu ? detail::cpu::memory_limit() : detail::gpu_memory(d.index).limit;
}
size_t set_memory_limit(size_t limit) { return set_memory_limit(limit, default_device()); }
size_t get_memory_limit() { return get_memory_limit(default_device()); }

}  // namespace rill
