// What the runtime asks of a GPU backend. Without one (no CUDA build) there
// are no GPU devices, so no GPU stream, buffer or event ever exists and only
// the first three functions are ever called. Internal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace rill::detail {

struct Buffer;
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

// ---- CUDA graphs (compile's graph step, core/graph_step.h) ----
// Called while a GPU segment runs (after gpu_begin), on its thread; all of it
// queued on the segment's device stream.
struct GpuArena;  // the blocks a captured sequence's buffers live in
struct GpuGraph;  // an executable graph
// The segment's device stream: (device, its index in the device's pool).
std::pair<int, int> gpu_segment_stream();
// A fresh device buffer of `bytes` bytes, in the segment stream's order.
std::shared_ptr<Buffer> gpu_buffer(size_t bytes);
// Copies `bytes` bytes from device to device, queued on the segment's stream.
void gpu_copy(void* dst, const void* src, size_t bytes);
// While a thread is between gpu_arena_enter and gpu_arena_leave, every device
// allocation it makes comes from the arena, on the device the arena was made
// for. Recording (the first run), the arena serves each allocation from a
// free block of its own (one at least as large, the smallest), else takes a
// new block from the device and keeps it; a buffer's block is free again
// once the buffer dies. Replaying, the k-th allocation gets the block the
// recording's k-th got, and an allocation of another size or a block still in
// use throws: the same ops in the same order reuse the same addresses.
std::shared_ptr<GpuArena> gpu_arena_new();
GpuArena* gpu_arena_enter(GpuArena* arena, bool replay);  // returns the previous one
void gpu_arena_leave(GpuArena* previous);
// Runs `body`, which queues work on the segment's stream as kernels do, with
// that work captured instead of run (on a private stream meanwhile), and
// returns it as an executable graph. Throws what went wrong (a call that
// cannot be captured, such as a host wait), with the capture ended.
std::shared_ptr<GpuGraph> gpu_capture(const std::function<void()>& body);
// Queues a captured graph on the segment's stream.
void gpu_launch(GpuGraph& graph);
// testing::gpu_graph_stats: graphs captured and launched, and calls of a
// capturable compiled function that ran without one (process-wide).
struct GpuGraphStats {
  uint64_t captures, launches, fallbacks;
};
GpuGraphStats gpu_graph_stats();
void gpu_count_graph_fallback();

// ---- Generated kernels (compile's fused chains, core/fused.h) ----
struct FusedOp;
enum class JitInput : uint8_t;
struct GpuKernel;  // a chain's kernel, generated, compiled with NVRTC and loaded
// The kernel of `ops` over inputs of dtypes `dtypes` (Dtype::Val values) read
// as `kinds`, for GPU `device`'s architecture: built once per process and
// kept on disk (jit_cache_dir()/cuda). Null when the chain has an op or dtype
// the generator does not write, when RILL_JIT=0, or when NVRTC or the loading
// fails (RILL_DEBUG=1 says why): the chain then runs through the kernels.
// Thread-safe.
const GpuKernel* gpu_fused_kernel(int device, const std::vector<FusedOp>& ops,
                                  const std::vector<JitInput>& kinds,
                                  const std::vector<int>& dtypes);
// Runs it into `out` on the segment's stream (after gpu_begin), with the
// kinds it was made for; false, with nothing done, when an input's layout is
// not what its kind says.
bool gpu_fused_run(const GpuKernel& kernel, const std::vector<JitInput>& kinds,
                   const std::vector<const Node*>& inputs, Node& out);
// testing::gpu_jit_stats: generated kernels compiled by NVRTC and loaded
// from the disk cache (process-wide).
struct GpuJitStats {
  uint64_t compiled, loaded;
};
GpuJitStats gpu_jit_stats();

}  // namespace rill::detail
