// Memory held by arrays, and the cache of freed buffers that rill keeps for
// reuse. MLX's names. Figures are in bytes; active, peak and cache memory are
// summed over every device of this build, the limits are per device. Every
// function is thread-safe.
#pragma once

#include <cstddef>
#include <vector>

#include "rill/array.h"
#include "rill/device.h"

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
// Bytes of the buffers behind `arrays`, each buffer counted once, at the size
// it was allocated with. The arrays must have been evaluated
// (std::invalid_argument otherwise).
size_t get_array_buffer_size(const std::vector<array>& arrays);
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

// The memory limit of a device: the most its arrays may hold. An allocation
// that would pass it first trims the cache (so that arrays and cache stay
// within the limit together), then fails: the op that asked fails as any
// asynchronous error does (raised at eval, item, data and the stream's next
// synchronize, with the op, the size and the limit in the message; the
// nested original is a std::bad_alloc), and the stream goes on. The CPU's
// default is the smaller of the machine's memory and its cgroup's limit, a
// GPU's its total memory. Without a device these act on the default device
// (default_device()). set_memory_limit returns the previous limit; both throw
// std::invalid_argument for a device that is not available.
size_t set_memory_limit(size_t limit);
size_t get_memory_limit();
size_t set_memory_limit(size_t limit, Device d);
size_t get_memory_limit(Device d);

// Wiring memory (keeping it resident) is a Metal notion: as MLX does on its
// other backends, this does nothing and returns 0.
size_t set_wired_limit(size_t limit);

}  // namespace rill
