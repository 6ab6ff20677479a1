// Memory held by arrays, and the cache of freed buffers that rill keeps for
// reuse. MLX's names. Figures are in bytes, summed over every device of every
// backend in this build; every function is thread-safe.
#pragma once

#include <cstddef>

namespace rill {

// Bytes of array data in use now (small arrays stored inline in their node,
// and arrays borrowing a mapped file, are not counted).
size_t get_active_memory();
// The most get_active_memory() has been since the start or the last
// reset_peak_memory().
size_t get_peak_memory();
void reset_peak_memory();

// Bytes of freed buffers kept for reuse (not counted as active).
size_t get_cache_memory();
// Sets the most the CPU's cache may keep and returns the previous limit; a
// cache above the new limit is trimmed now. 0 disables caching. (A GPU's cache
// of free blocks is returned to the device when an allocation would fail.)
size_t set_cache_limit(size_t limit);
// Returns every cached buffer to the system (the GPUs' too).
void clear_cache();

// GPU memory: the bytes of arrays each GPU may hold; an allocation past it
// raises std::runtime_error with the sizes (at the sync point of the op that
// asked). Returns the previous limit (of GPU 0). No limit by default, and none
// on the CPU.
size_t set_memory_limit(size_t limit);
size_t get_memory_limit();

}  // namespace rill
