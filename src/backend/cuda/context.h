// The CUDA backend's runtime state, shared by its runtime files: the logical
// stream's binding, the per-device context (pool streams, events, memory, the
// cuBLASLt handle) and the helpers the runtime files call in one another.
// Host code only. Internal.
#pragma once

#include <atomic>
#include <limits>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "backend/cuda/common.h"

namespace rill::detail {

struct GpuStream {
  int device = -1;
  int slot = -1;                    // the pool stream bound to, -1 for none
  // When its last segment began (steady clock, ns): other streams' bind()
  // counts it as active for a while after, busy on the device or not.
  std::atomic<int64_t> began_ns{0};
  int64_t next_check_ns = 0;        // its runner's: when to consider moving again
  // After the last segment. Written by the segment runner under the device
  // context's mutex (other streams' bind() reads it there); the runner reads
  // it without the lock, since only runners of this stream write it.
  std::shared_ptr<GpuEvent> last;
  ~GpuStream();
};

namespace cu {

constexpr size_t kWorkspaceBytes = 32u << 20;  // cuBLASLt, per pool stream

struct DeviceContext {
  int index = 0;
  cudaDeviceProp props{};
  cudaMemPool_t pool = nullptr;
  cudaStream_t copy_stream = nullptr;  // host <-> device copies of mirrors

  // The pool of streams; `bound[i]` lists the logical streams bound to stream
  // i (guarded by mu).
  std::vector<cudaStream_t> streams;
  std::vector<std::vector<GpuStream*>> bound;
  // bound[i].size(), readable without `mu` (a hint: whether to rebind).
  std::unique_ptr<std::atomic<int>[]> load;
  std::vector<void*> workspaces;  // cuBLASLt, one per pool stream
  std::vector<std::unique_ptr<std::mutex>> workspace_mu;  // one per pool stream
  cublasLtHandle_t lt = nullptr;
  std::mutex mu;

  std::mutex events_mu;
  std::vector<cudaEvent_t> free_events;

  // Per pool stream: free blocks by capacity (guarded by cache_mu[i]).
  std::vector<std::unique_ptr<std::mutex>> cache_mu;
  std::vector<std::unordered_multimap<size_t, void*>> cache;
  std::atomic<size_t> cached{0};
  std::atomic<size_t> cache_limit{std::numeric_limits<size_t>::max()};

  std::atomic<size_t> active{0};
  std::atomic<size_t> peak{0};

  // Counters for testing::gpu_stream_stats (relaxed).
  std::atomic<uint64_t> n_segments{0}, n_binds{0}, n_moves{0}, n_handovers{0};
  std::atomic<uint64_t> n_pool_allocs{0}, n_cache_hits{0};
  std::atomic<size_t> limit{std::numeric_limits<size_t>::max()};
};

// ---- device.cpp ----
// Makes `device` current on this thread (a no-op when it already is).
void select_device(int device);
// The devices of the process, counted once.
struct Devices {
  int count = 0;
  std::string reason;
  std::vector<std::unique_ptr<DeviceContext>> contexts;
  std::vector<std::once_flag> once;
  Devices();
};
Devices& devices();

// ---- events.cpp ----
// An event from the device's free list (or a new one).
cudaEvent_t take_event(DeviceContext& c);
std::shared_ptr<GpuEvent> record_event(DeviceContext& c, cudaStream_t s);
// Waits on the host for `ev`; throws what the device reported.
void host_wait(GpuEvent& ev);
// Orders the launch's stream after `ev` (recorded on the same device), once
// per segment; an event the device is known to be past costs nothing.
void wait_for(const Launch& L, const std::shared_ptr<GpuEvent>& ev);
// A new segment: forgets the events the last one waited for.
void clear_waited();

// ---- allocator.cpp ----
// Frees every cached block (stream-ordered). Returns the bytes freed.
size_t drop_cache(DeviceContext& c);
// `slot`: the pool stream `s` is (its cache serves the allocation), or -1.
std::shared_ptr<Buffer> allocate_on(DeviceContext& c, size_t bytes, cudaStream_t s, int slot);
// Records that stream `s` of `device` uses `a` (its frees wait for them).
void note_user(GpuAlloc& a, cudaStream_t s, int device);
extern std::atomic<bool> g_poison;  // testing::poison_gpu_memory

// ---- graphs.cpp ----
// The arena serving this thread's allocations (backend/gpu.h), or null.
extern thread_local GpuArena* t_arena;
// A buffer from `a` if it serves `device`, else null (allocate_on's first
// question).
std::shared_ptr<Buffer> arena_take(GpuArena& a, int device, size_t bytes);

// ---- transfers.cpp ----
// The host copy of a device node's data, made on first use (a host read
// waits for the device).
Node::Mirror host_mirror(Node& n);
// The copy of a host or other device's node on the launch's device, made on
// first use and queued on the launch's stream.
Node::Mirror copy_in(Node& n, const Launch& L);

// ---- streams.cpp ----
extern thread_local Launch t_launch;
// Binds `g` to the least loaded pool stream of `c`, or keeps it where it is
// unless another is strictly less loaded (`now_ns`: steady clock).
void bind(DeviceContext& c, GpuStream& g, int64_t now_ns);

}  // namespace cu
}  // namespace rill::detail
