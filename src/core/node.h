// The graph node behind an array, and the helpers kernels use to read inputs and
// write outputs. Internal.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "rill/array.h"
#include "runtime/failure.h"
#include "backend/gpu.h"

namespace rill::detail {

class Primitive;
struct StreamState;

// A copy of a buffer's data derived by a backend and kept with the buffer (the
// CPU product's packed weights: backend/cpu/packed_gemm.h). Freed with the
// buffer, or when the buffer passes to another node (take_buffer).
struct BufferCache {
  virtual ~BufferCache() = default;
};

// Memory for array data. On the host: owned and 64-byte aligned (from the CPU
// allocator, which recycles freed blocks: backend/cpu/allocator.h), or
// borrowed from `owner` (a mapped file) and kept alive with it. On a GPU: `gpu`
// is set (by the GPU backend, which frees it) and `ptr` is a device address.
struct Buffer {
  explicit Buffer(size_t nbytes);
  Buffer(void* ptr, size_t nbytes, std::shared_ptr<const void> owner)
      : ptr(ptr), nbytes(nbytes), owner(std::move(owner)) {}
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  void* ptr;
  size_t nbytes;
  std::shared_ptr<const void> owner;
  GpuAlloc* gpu = nullptr;
  // One BufferCache slot, and how many times a backend has asked to fill it: a
  // backend keeps a copy from the buffer's second use on, since a model's
  // weights are used again and again (through a fresh view each time) and
  // activations mostly once.
  mutable std::atomic<int> cache_uses{0};
  mutable std::atomic<BufferCache*> cache{nullptr};
  int device() const { return gpu ? gpu_alloc_device(gpu) : -1; }  // -1: host
  // Small arrays (scalars, the constants of `x + 1`) live here: one
  // allocation for the buffer and its data instead of two.
  static constexpr size_t kInline = 64;
  alignas(64) unsigned char small[kInline];
};

// testing::fail_allocation: the k-th owned Buffer allocated from now on throws
// std::bad_alloc (k = 0 disarms).
void arm_allocation_failure(int k);

enum class Status : uint8_t {
  unscheduled,  // built, nobody has claimed it
  scheduled,    // claimed by one eval; will be computed exactly once
  available,    // computed
  failed,       // its op (or an input's) failed; `error` says why
};

struct Node {
  Node(Shape shape, Dtype dtype, std::shared_ptr<Primitive> primitive,
       std::vector<array> inputs, std::shared_ptr<StreamState> stream);
  // A computed constant.
  Node(Shape shape, Dtype dtype, std::shared_ptr<Buffer> buffer, Stream stream);
  ~Node();

  // Immutable after construction.
  const Shape shape;
  const Dtype dtype;
  const size_t size;
  const Stream stream_id;
  // Longest path of ops below the node when it was built (0: a constant);
  // eval's claim visits the shallower input first (eval.cpp).
  const uint32_t depth;

  // Written by the task that computes the node, before `status` is published
  // with release; read by anyone after observing `available` with acquire.
  Strides strides;
  std::shared_ptr<Buffer> buffer;
  int64_t offset = 0;  // in elements, into buffer
  bool row_contiguous = false;
  bool col_contiguous = false;

  // Read by the one eval that claims the node (status unscheduled -> scheduled)
  // and by the task that computes it; dropped by that task once done, so that
  // computed graphs free their intermediates.
  std::shared_ptr<Primitive> primitive;
  std::vector<array> inputs;
  std::shared_ptr<StreamState> stream;

  // Built by a function being compiled from its inputs' stand-ins (compile):
  // never evaluated. Set by the building thread before the node is shared.
  bool tracer = false;

  std::atomic<Status> status;
  // Token of the eval that claimed the node. Relaxed: only ever compared with
  // the reader's own token, which the reader itself wrote.
  std::atomic<uint64_t> claim{0};
  // Per-eval scratch, owned by the claiming eval: the node's segment, its
  // place in it, and whether it (transitively) reads a node another eval has
  // yet to compute.
  uint32_t segment = 0;
  uint32_t seg_pos = 0;
  bool tainted = false;

  // GPU nodes: the end of the segment that computed the node on its device
  // stream. Written and read like `buffer`.
  std::shared_ptr<GpuEvent> ready;

  std::mutex mu;                              // guards waiters, error, mirrors
  std::vector<std::function<void()>> waiters;  // run once computed or failed
  FailureRef error;
  // Copies of a computed node's data elsewhere (-1: the host, i: GPU i), made on
  // demand by the GPU backend and kept while the node lives. A mirror holds
  // the elements the node spans; `offset` is the node's offset into it.
  struct Mirror {
    int device;
    std::shared_ptr<Buffer> buffer;
    int64_t offset;
    // A device copy of host data is queued on the stream that first needed
    // it: the point past which it exists (null: it existed when made).
    std::shared_ptr<GpuEvent> ready = nullptr;
  };
  std::vector<Mirror> mirrors;

  bool done(std::memory_order mo = std::memory_order_acquire) const {
    Status st = status.load(mo);
    return st == Status::available || st == Status::failed;
  }
  const void* data() const;
  void* mutable_data();
};

// Publishes a node as computed (err == nullptr) or failed, then runs the
// callbacks waiting for it. Drops the node's graph references first.
void complete(Node& n, FailureRef err);
// Drops references to graph nodes (an input list, or a node's inputs once its
// kernel has run), destroying what nobody else holds without recursing.
void release_inputs(std::vector<array>& inputs);
// Runs `fn` once `n` is done: later on the completing thread, or now on the
// calling thread if it already is.
void when_done(Node& n, std::function<void()> fn);

// ---- Output helpers for kernels ----
Strides row_major_strides(const Shape& shape);
// Strides of `in` seen as an array of shape `out` (NumPy broadcasting: aligned
// on the right, 0 where `in` has size 1 or lacks the dimension).
Strides broadcast_strides(const Node& in, const Shape& out);
// Gives `out` a fresh row-major buffer.
void allocate(Node& out);
// Makes `out` a view of `in`'s buffer with the given strides and offset.
void set_view(Node& out, const Node& in, Strides strides, int64_t offset);

// compile's trace (core/compile.cpp): while a thread traces a function,
// every node built on it is noted there (note_traced, called by make_array
// and by a replay), and marked a tracer when it reads one.
struct TraceRecorder;
inline thread_local constinit TraceRecorder* t_recorder = nullptr;
void note_traced(Node& n);

// Donation (MLX's): whether the kernel computing `out` may write it into the
// buffer of its input `in`, because nothing else can observe that buffer: the
// only references to `in` are `out`'s own inputs, `in` is the buffer's only
// user (no view, no mapped file), and the buffer is exactly out's bytes,
// row-major from its start with out's element width, so that element j of
// the input is element j of the output. `elementwise`: the kernel reads each
// input element only to write the output element at its index, so one node
// read twice (x * x) may donate; other kernels (a row's norm reads the whole
// row first) need `in` to be read once. Which device the buffer is on is the
// backend's to check. Called by the kernel computing `out`, before it writes.
bool donatable(const Node& out, const Node& in, bool elementwise);
// Gives `out` `in`'s buffer, row-major (after donatable()). A packed copy of
// the old contents kept for products goes with them.
void take_buffer(Node& out, const Node& in);

// While a public op is built from other ops (add promoting with astype, sort
// flattening first), errors about its stream or its arguments name the op the
// caller called, not the inner one that found them. The outermost scope on the
// thread wins.
class OuterOp {
 public:
  explicit OuterOp(const char* op) noexcept : prev_(current_) {
    if (!current_) current_ = op;
  }
  ~OuterOp() { current_ = prev_; }
  OuterOp(const OuterOp&) = delete;
  OuterOp& operator=(const OuterOp&) = delete;
  // The outermost op being built on this thread, else `op`.
  static const char* name(const char* op) noexcept { return current_ ? current_ : op; }

 private:
  const char* prev_;
  // constinit: read directly, without the lazy-init wrapper of a thread_local
  // with dynamic initialisation.
  static inline constinit thread_local const char* current_ = nullptr;
};

// Throws std::invalid_argument "[op] ..." unless every byte of an array of
// this shape and dtype is addressable with int64 strides. Empty axes are
// skipped: a view may still stride over the others.
void check_extent(const Shape& shape, Dtype dtype, const char* op);

// Validates `s` for `op` (for ops that return an input unchanged).
void check_stream(const StreamOrDevice& s, const char* op);

// Makes a lazy node; `s` is resolved and validated for `op`.
array make_array(Shape shape, Dtype dtype, std::shared_ptr<Primitive> primitive,
                 std::vector<array> inputs, const StreamOrDevice& s, const char* op);

inline Node& node_of(const array& a) { return *a.node(); }

}  // namespace rill::detail
