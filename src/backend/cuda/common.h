// The CUDA backend's shared pieces: error checking, the per-device context and
// the launch context of the segment running on this thread. Host code only
// (compiled by the C++ compiler); kernels live in the .cu files. Internal.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/node.h"

namespace rill::detail {

struct GpuAlloc {
  int device;
  void* ptr;
  size_t bytes;         // asked for (counted as active)
  size_t capacity;      // the block's size (a size class)
  cudaStream_t stream;  // allocated (and freed) in this stream's order
  int slot;             // the pool stream's index, or -1 (copies)
  std::mutex mu;
  // Other streams that read or wrote it, with their devices (a peer copy
  // reads it from another device's stream).
  std::vector<std::pair<cudaStream_t, int>> users;
};

struct GpuEvent {
  cudaEvent_t event;
  cudaStream_t stream;  // where it was recorded
  int device;
  // Set once the device is known to be past the event (a host wait or a
  // query saw it): later readers need no wait at all. Relaxed: a stale false
  // only costs a redundant wait.
  std::atomic<bool> passed{false};
  ~GpuEvent();
};

namespace cu {

// "cudaErrorX (text)", and for errors that leave the context unusable, a
// sentence saying so.
std::string describe(cudaError_t e);
// Errors after which every later CUDA call of the process fails.
bool is_sticky(cudaError_t e);
[[noreturn]] void throw_error(cudaError_t e, const char* call);
[[noreturn]] void throw_error(cublasStatus_t e, const char* call);

#define RILL_CUDA(call)                                                             \
  do {                                                                              \
    cudaError_t rill_e_ = (call);                                                   \
    if (rill_e_ != cudaSuccess) ::rill::detail::cu::throw_error(rill_e_, #call);    \
  } while (0)
#define RILL_CUBLAS(call)                                                           \
  do {                                                                              \
    cublasStatus_t rill_s_ = (call);                                                \
    if (rill_s_ != CUBLAS_STATUS_SUCCESS) ::rill::detail::cu::throw_error(rill_s_, #call); \
  } while (0)
// After a kernel launch: a configuration or launch error.
#define RILL_CUDA_LAUNCHED() RILL_CUDA(cudaGetLastError())

struct DeviceContext;

// What a kernel needs to launch: set by gpu_begin for the segment that this
// thread is running.
struct Launch {
  int device = -1;
  cudaStream_t stream = nullptr;
  int slot = -1;  // index of `stream` in the device's pool
  DeviceContext* ctx = nullptr;
};
const Launch& launch();

// The elements a node spans in its buffer, [lo, hi).
std::pair<int64_t, int64_t> span(const Node& n);
// An array with `n`'s shape and layout over the mirror `m`.
array proxy(const Node& n, const Node::Mirror& m);

// Per device, made on first use and never destroyed (work may still be in
// flight at exit).
DeviceContext& device_context(int device);

// A device buffer of `bytes` ordered on the current launch's stream, counted
// in the memory statistics; throws OutOfMemory (runtime/failure.h) past the
// device's memory limit or when the device has no block left, with the sizes.
std::shared_ptr<Buffer> allocate(size_t bytes);

// Whether a kernel on the current launch's stream may write into `a` (a
// donated input, of which the caller holds the only reference): it lives in
// that stream's order and no other stream has used it, so every earlier
// reader is ordered before the write. A block of another pool stream that no
// third stream used is handed over to the launch's stream (which then waits
// for the old one) and is reusable too.
bool reusable(GpuAlloc& a);

// cuBLASLt: the handle of the current device and a workspace private to the
// current stream of its pool.
cublasLtHandle_t lt_handle();
void* lt_workspace(size_t* bytes);
// Held while a product runs its kernels: the workspace belongs to the pool
// stream, and two threads whose logical streams share that pool stream would
// otherwise interleave their kernels (cuBLASLt may launch several per
// product, all using the workspace).
std::unique_lock<std::mutex> lock_workspace();

// Memory statistics of a device (bytes).
size_t active_memory(int device);
size_t peak_memory(int device);
void reset_peak_memory(int device);
size_t cache_memory(int device);
size_t set_memory_limit(int device, size_t limit);
size_t memory_limit(int device);
void clear_cache(int device);

}  // namespace cu
}  // namespace rill::detail
