// Test-only hooks. Not for production code: they exist so that tests can
// observe scheduling and inject failures into asynchronous work.
#pragma once

#include <functional>
#include <string>

#include "rill/array.h"

namespace rill::testing {

// An identity op whose task first calls `fn` on the worker that runs it. If
// `fn` throws, the op fails as a kernel would: the error is kept with the
// stream and raised at the sync points that observe the result.
array on_eval(const array& x, std::function<void()> fn, StreamOrDevice s = {});

// Fault injection. Each makes one later operation fail as a real fault would,
// so that tests can check E2 (the failure is kept, raised at every observer,
// never escapes a worker) without a broken kernel. Unarmed, they cost one
// relaxed atomic load per node computed or buffer allocated.
//
// fail_task: the k-th node computed on stream `s` from now on (k = 1: the
// next) throws std::runtime_error(message) in place of its kernel. Counts
// only nodes whose inputs did not fail. k = 0 disarms. Thread-safe; throws
// std::invalid_argument for k < 0 or a stream that does not exist.
void fail_task(Stream s, int k, std::string message = "injected task failure");

// fail_allocation: the k-th array buffer allocated from now on, by any thread
// (a kernel's output, or an array built from host values), throws
// std::bad_alloc. Mapped buffers (load_safetensors) do not count. k = 0
// disarms. Thread-safe; throws std::invalid_argument for k < 0.
void fail_allocation(int k);

// device_fault: an op that returns `x` on a GPU stream, but whose kernel also
// writes through a wild device address, so that the device reports an
// illegal memory access asynchronously, as a broken kernel would. The CUDA
// context is unusable afterwards: use it in a child process. Throws
// std::invalid_argument at the call for a CPU stream.
array device_fault(const array& x, StreamOrDevice s = {});

// poison_gpu_memory: while on, every GPU buffer allocated (an op's output
// included) is first filled with 0xFF bytes, NaN in every floating type, in
// stream order before the kernel that writes it: an element a kernel leaves
// unwritten reads as NaN. Thread-safe; does nothing without a GPU.
void poison_gpu_memory(bool on);

// Counters of a GPU's pool of CUDA streams since the device started (all
// threads): segments run, binding decisions taken (first binds and looks at
// moving), moves of a logical stream to another pool stream, donated buffers
// handed over from one pool stream to another, allocations that reached the
// device's memory pool, and allocations served by a pool stream's cache of
// free blocks. Throws std::invalid_argument for a device that does not exist.
struct GpuStreamStats {
  int pool_streams = 0;
  uint64_t segments = 0, binds = 0, moves = 0, handovers = 0;
  uint64_t pool_allocs = 0, cache_hits = 0;
};
GpuStreamStats gpu_stream_stats(int device = 0);

// CUDA graphs of compiled functions, process-wide: graphs captured, graph
// launches, and calls of a capturable compiled function that ran as
// launches instead (an input not row-major, a failed capture).
struct GpuGraphStats {
  uint64_t captures, launches, fallbacks;
};
GpuGraphStats gpu_graph_stats();
// compile's generated GPU kernels, process-wide: compiled by NVRTC, and
// loaded from the disk cache instead.
struct GpuJitStats {
  uint64_t compiled, loaded;
};
GpuJitStats gpu_jit_stats();
// Compiled functions traced from now on run as one graph node on the CPU too
// (step by step there), so that CPU tests reach that node's logic.
void compile_graph_steps_on_cpu(bool on);

// Number of CPU worker threads the executor runs (0 until first used).
int cpu_worker_count();

}  // namespace rill::testing
