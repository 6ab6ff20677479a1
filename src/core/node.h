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

namespace rill::detail {

class Primitive;
struct StreamState;

// Host memory for array data: owned and 64-byte aligned, or borrowed from
// `owner` (a mapped file) and kept alive with it.
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
};

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

  std::atomic<Status> status;
  // Token of the eval that claimed the node. Relaxed: only ever compared with
  // the reader's own token, which the reader itself wrote.
  std::atomic<uint64_t> claim{0};
  // Per-eval scratch, owned by the claiming eval: the node's segment, and
  // whether it (transitively) reads a node another eval has yet to compute.
  uint32_t segment = 0;
  bool tainted = false;

  std::mutex mu;                              // guards waiters and error
  std::vector<std::function<void()>> waiters;  // run once computed or failed
  std::exception_ptr error;

  bool done(std::memory_order mo = std::memory_order_acquire) const {
    Status st = status.load(mo);
    return st == Status::available || st == Status::failed;
  }
  const void* data() const;
  void* mutable_data();
};

// Publishes a node as computed (err == nullptr) or failed, then runs the
// callbacks waiting for it. Drops the node's graph references first.
void complete(Node& n, std::exception_ptr err);
// Runs `fn` once `n` is done: later on the completing thread, or now on the
// calling thread if it already is.
void when_done(Node& n, std::function<void()> fn);

// ---- Output helpers for kernels ----
Strides row_major_strides(const Shape& shape);
// Gives `out` a fresh row-major buffer.
void allocate(Node& out);
// Makes `out` a view of `in`'s buffer with the given strides and offset.
void set_view(Node& out, const Node& in, Strides strides, int64_t offset);

// Makes a lazy node; `s` is resolved and validated for `op`.
array make_array(Shape shape, Dtype dtype, std::shared_ptr<Primitive> primitive,
                 std::vector<array> inputs, const StreamOrDevice& s, const char* op);

inline Node& node_of(const array& a) { return *a.node(); }

}  // namespace rill::detail
