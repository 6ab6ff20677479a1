// Memory held by arrays, and the cache of freed buffers that rill keeps for
// reuse. MLX's names. Figures are in bytes, summed over every device of every
// backend in this build; every function is thread-safe.
#pragma once

#include <cstddef>

namespace rill {

// Bytes of array data in use now (small arrays stored inline in their node,
// and arrays borrowing a mapped file, are not counted). On the CPU this
// includes the packed copy kept of a float32 matrix used again as the right
// operand of products (a model's weights): as many bytes again as the matrix,
// until its buffer goes (RILL_PACKED_GEMM=0 turns that off).
size_t get_active_memory();
// The most get_active_memory() has been since the start or the last
// reset_peak_memory().
size_t get_peak_memory();
void reset_peak_memory();

// Bytes of freed buffers kept for reuse (not counted as active).
size_t get_cache_memory();
// Sets the most the cache may keep, on the CPU and on each GPU, and returns the
// CPU's previous limit; a cache above the new limit is trimmed now (a GPU's
// memory pool at its next synchronisation). 0 disables caching. The CPU's
// default is an eighth of the machine's memory, at most 2 GiB; a GPU keeps
// everything until set_cache_limit is called (its cache is returned to the
// device when an allocation would fail).
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
