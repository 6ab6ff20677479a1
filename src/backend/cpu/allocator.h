// Host memory for array buffers, with a bounded cache of freed blocks so that
// a workload allocating the same sizes over and over (every forward pass of a
// model) reuses warm, already-mapped memory instead of going back to malloc,
// which for blocks of a few hundred KiB means mmap, page faults and munmap.
// Internal; the public face is include/rill/memory.h.
#pragma once

#include <cstddef>

namespace rill::detail::cpu {

// At least `nbytes` (> 0) of 64-byte aligned memory. Thread-safe. Throws
// OutOfMemory (runtime/failure.h, a std::bad_alloc) when the arrays would pass
// the memory limit, or when the system has none left after the cache was
// emptied; a new block first trims the cache so that arrays and cache stay
// within the limit together.
void* allocate(size_t nbytes);
// Gives back memory from allocate(nbytes) (the same nbytes). Thread-safe,
// from any thread; never throws.
void release(void* p, size_t nbytes) noexcept;

// Bytes handed out and not yet released (rounded up to the block sizes).
size_t active_memory() noexcept;
// The highest active_memory() since the start or the last reset_peak_memory().
size_t peak_memory() noexcept;
void reset_peak_memory() noexcept;
// Bytes of released blocks kept for reuse.
size_t cache_memory() noexcept;
// Sets the most the cache may keep and returns the previous limit; trims the
// cache to it now.
size_t set_cache_limit(size_t limit) noexcept;
// Frees every cached block.
void clear_cache() noexcept;
// The most the arrays may hold (active_memory()); returns the previous limit.
// Defaults to the smaller of the machine's memory and its cgroup's limit.
size_t set_memory_limit(size_t limit) noexcept;
size_t memory_limit() noexcept;

}  // namespace rill::detail::cpu
