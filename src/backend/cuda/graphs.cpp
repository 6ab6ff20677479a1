// CUDA graphs for compile's graph step (core/graph_step.h): the arena that
// gives a captured sequence fixed addresses, capture on a private stream, and
// launch. See backend/gpu.h for the contract.
//
// Why an arena: a graph holds the addresses its kernels were captured with,
// so every buffer those kernels write must be at the same address whenever
// the graph runs, and no other work may use it meanwhile. The first run of a
// sequence records which of the arena's blocks each allocation got (reusing
// a block once its buffer dies, so the arena holds about the sequence's peak,
// not its sum); the capture repeats the same allocations and gets the same
// blocks, and the graph owns them from then on. No allocation happens inside
// the capture, where the pool's stream-ordered allocator would add its own
// nodes.
#include "backend/cuda/context.h"

#include <algorithm>
#include <stdexcept>

#include "backend/gpu.h"
#include "core/format.h"

namespace rill::detail {

struct GpuArena : std::enable_shared_from_this<GpuArena> {
  struct Block {
    std::shared_ptr<Buffer> memory;  // from the device's pool; kept
    bool free = true;
  };
  int device = -1;
  std::mutex mu;  // guards the rest: a buffer may die on another thread
  std::vector<Block> blocks;
  std::vector<std::pair<size_t, size_t>> recorded;  // (bytes, block) per allocation
  size_t next = 0;
  bool replay = false;
};

struct GpuGraph {
  cudaGraphExec_t exec = nullptr;
  int device = -1;
  ~GpuGraph() {
    if (!exec) return;
    // Launches of it may still be queued: let the device finish them first.
    int prev = -1;
    if (cudaGetDevice(&prev) == cudaSuccess && prev != device) (void)cudaSetDevice(device);
    (void)cudaDeviceSynchronize();
    (void)cudaGraphExecDestroy(exec);
    (void)cudaGetLastError();
    if (prev >= 0 && prev != device) (void)cudaSetDevice(prev);
  }
};

namespace cu {

thread_local GpuArena* t_arena = nullptr;

namespace {
std::atomic<uint64_t> g_captures{0}, g_launches{0}, g_fallbacks{0};
}  // namespace

std::shared_ptr<Buffer> arena_take(GpuArena& a, int device, size_t bytes) {
  if (device != a.device) return nullptr;
  const Launch& L = t_launch;
  std::lock_guard lock(a.mu);
  size_t b = a.blocks.size();
  if (a.replay) {
    if (a.next >= a.recorded.size() || a.recorded[a.next].first != bytes ||
        !a.blocks[a.recorded[a.next].second].free) {
      throw std::runtime_error(cat("[compile] a captured sequence allocated ", bytes,
                                   " bytes where its first run allocated ",
                                   a.next < a.recorded.size() ? a.recorded[a.next].first : 0,
                                   " (allocation ", a.next, "): it is not repeatable"));
    }
    b = a.recorded[a.next].second;
  } else {
    for (size_t i = 0; i < a.blocks.size(); ++i) {
      const GpuArena::Block& k = a.blocks[i];
      if (k.free && k.memory->nbytes >= bytes &&
          (b == a.blocks.size() || k.memory->nbytes < a.blocks[b].memory->nbytes)) {
        b = i;
      }
    }
    if (b == a.blocks.size()) {
      GpuArena* self = std::exchange(t_arena, nullptr);  // a block from the pool itself
      try {
        a.blocks.push_back({allocate_on(*L.ctx, std::max<size_t>(bytes, 1), L.stream, L.slot),
                            true});
      } catch (...) {
        t_arena = self;
        throw;
      }
      t_arena = self;
    }
    a.recorded.emplace_back(bytes, b);
  }
  ++a.next;
  a.blocks[b].free = false;
  // The buffer borrows the block (an owner, so nothing donates it) and frees
  // it when it dies. Its GpuAlloc holds no memory of its own; it names the
  // stream that writes it, so that nothing records this stream as another
  // user whose work a free must wait for.
  std::shared_ptr<GpuArena> arena = a.shared_from_this();
  std::shared_ptr<const void> owner(static_cast<const void*>(&a), [arena, b](const void*) {
    std::lock_guard l(arena->mu);
    arena->blocks[b].free = true;
  });
  auto buf = std::make_shared<Buffer>(a.blocks[b].memory->ptr, bytes, std::move(owner));
  buf->gpu = new GpuAlloc{L.device, nullptr, 0, 0, L.stream, L.slot, {}, {}};
  return buf;
}

}  // namespace cu

std::pair<int, int> gpu_segment_stream() {
  return {cu::t_launch.device, cu::t_launch.slot};
}

std::shared_ptr<Buffer> gpu_buffer(size_t bytes) { return cu::allocate(bytes); }

void gpu_copy(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  RILL_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cu::t_launch.stream));
}

std::shared_ptr<GpuArena> gpu_arena_new() {
  auto a = std::make_shared<GpuArena>();
  a->device = cu::t_launch.device;
  return a;
}

GpuArena* gpu_arena_enter(GpuArena* arena, bool replay) {
  if (arena) {
    std::lock_guard lock(arena->mu);
    arena->replay = replay;
    arena->next = 0;
  }
  return std::exchange(cu::t_arena, arena);
}

void gpu_arena_leave(GpuArena* previous) { cu::t_arena = previous; }

std::shared_ptr<GpuGraph> gpu_capture(const std::function<void()>& body) {
  const cu::Launch saved = cu::t_launch;
  cudaStream_t s = nullptr;
  RILL_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  cudaError_t e = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  if (e != cudaSuccess) {
    (void)cudaStreamDestroy(s);
    cu::throw_error(e, "cudaStreamBeginCapture");
  }
  // Kernels queue on t_launch.stream; the slot (its cuBLASLt workspace) stays
  // the pool stream's, where the graph will run.
  cu::t_launch.stream = s;
  std::exception_ptr failed;
  try {
    body();
  } catch (...) {
    failed = std::current_exception();
  }
  cu::t_launch = saved;
  cudaGraph_t g = nullptr;
  e = cudaStreamEndCapture(s, &g);
  (void)cudaStreamDestroy(s);
  if (failed || e != cudaSuccess) {
    if (g) (void)cudaGraphDestroy(g);
    (void)cudaGetLastError();
    if (failed) std::rethrow_exception(failed);
    cu::throw_error(e, "cudaStreamEndCapture");
  }
  auto graph = std::make_shared<GpuGraph>();
  graph->device = saved.device;
  e = cudaGraphInstantiateWithFlags(&graph->exec, g, 0);
  (void)cudaGraphDestroy(g);
  if (e != cudaSuccess) {
    graph->exec = nullptr;
    cu::throw_error(e, "cudaGraphInstantiateWithFlags");
  }
  cu::g_captures.fetch_add(1, std::memory_order_relaxed);
  return graph;
}

void gpu_launch(GpuGraph& graph) {
  RILL_CUDA(cudaGraphLaunch(graph.exec, cu::t_launch.stream));
  cu::g_launches.fetch_add(1, std::memory_order_relaxed);
}

GpuGraphStats gpu_graph_stats() {
  return {cu::g_captures.load(), cu::g_launches.load(), cu::g_fallbacks.load()};
}

void gpu_count_graph_fallback() { cu::g_fallbacks.fetch_add(1, std::memory_order_relaxed); }

}  // namespace rill::detail
