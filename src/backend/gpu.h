// What the runtime asks of a GPU backend. Without one (no CUDA build) there
// are no GPU devices, so no GPU stream, buffer or event ever exists and only
// the first three functions are ever called. Internal.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <unordered_map>
#include <variant>

namespace rill::detail {

struct Node;
struct StreamState;

int gpu_device_count();
// Why there is no GPU device ("built without a GPU backend", ...).
std::string gpu_unavailable_reason();
const std::unordered_map<std::string, std::variant<std::string, size_t>>& gpu_device_info(
    int index);

// ---- Defined by the backend ----
// A device allocation (Buffer::gpu): where it lives, which streams used it.
struct GpuAlloc;
// A point in a device stream: the end of the segment that computed a node.
struct GpuEvent;
// A logical GPU stream's binding to a device stream (StreamState::gpu).
struct GpuStream;

// Frees a device allocation once every stream that used it is past its uses.
// Never throws.
void gpu_release(GpuAlloc* a) noexcept;
int gpu_alloc_device(const GpuAlloc* a) noexcept;

// Running a segment of a GPU stream, on whichever host thread runs it:
//   gpu_begin        selects the device and the stream's device stream;
//   gpu_prepare      before each node: orders the device stream after its
//                    inputs from other device streams and copies host (or
//                    other devices') inputs to the device;
//   gpu_end          records one event after the segment and gives it to each
//                    node computed (`ready`), before they are published.
// gpu_begin and gpu_prepare throw on errors; gpu_end returns the error.
void gpu_begin(StreamState& s);
void gpu_prepare(Node& n);
std::exception_ptr gpu_end(StreamState& s, Node* const* nodes, size_t count) noexcept;

// Before a CPU kernel: inputs held on a device are replaced by host copies
// (after the device has computed them).
void host_prepare(Node& n);
// Host-readable data of a computed node (array::data, item, printing): the
// node's own for a host buffer, else a host copy of the elements it spans,
// made once and kept with the node.
const void* host_data(Node& n);
// Blocks until the device has computed `n` (eval of a GPU array); throws what
// the device reported (a kernel fault).
void gpu_wait(Node& n);
// Blocks until the device has run everything submitted to `s` so far.
void gpu_synchronize(StreamState& s);

// Memory of a GPU's arrays (bytes): in use, the most in use since the last
// reset, freed blocks kept for reuse, and the limit past which allocations
// fail with an exception.
struct GpuMemory {
  size_t active, peak, cache, limit;
  size_t kept;  // the part of `cache` in rill's per-stream caches of free blocks
};
GpuMemory gpu_memory(int device);
void gpu_reset_peak_memory(int device);
size_t gpu_set_memory_limit(int device, size_t limit);  // returns the previous one
void gpu_clear_cache(int device);
// The most a GPU keeps in freed blocks (set_cache_limit): rill's per-stream
// caches stop taking blocks past it, and the device's memory pool returns what
// it holds beyond it at the next synchronisation.
void gpu_set_cache_limit(int device, size_t limit);
// testing::poison_gpu_memory: fill every GPU buffer allocated from now on
// with 0xFF bytes (NaN for the floating types) before its first writer.
void gpu_set_poison(bool on);
// testing::gpu_stream_stats: counters of a device's pool since it started.
struct GpuStreamStats {
  int pool_streams;
  uint64_t segments, binds, moves, handovers, pool_allocs, cache_hits;
};
GpuStreamStats gpu_stream_stats(int device);

}  // namespace rill::detail
