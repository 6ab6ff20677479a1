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
// Sets the most the cache may keep, per backend, and returns the previous
// limit; a cache above the new limit is trimmed now. 0 disables caching.
size_t set_cache_limit(size_t limit);
// Returns every cached buffer to the system.
void clear_cache();

}  // namespace rill
