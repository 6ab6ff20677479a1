// The public memory figures: the sum over the backends' allocators. A GPU
// backend adds its own allocator's figures here.
#include "rill/memory.h"

#include "backend/cpu/allocator.h"

namespace rill {

size_t get_active_memory() { return detail::cpu::active_memory(); }
size_t get_peak_memory() { return detail::cpu::peak_memory(); }
void reset_peak_memory() { detail::cpu::reset_peak_memory(); }
size_t get_cache_memory() { return detail::cpu::cache_memory(); }
size_t set_cache_limit(size_t limit) { return detail::cpu::set_cache_limit(limit); }
void clear_cache() { detail::cpu::clear_cache(); }

}  // namespace rill
