#include "core/node.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>

#include "backend/cpu/allocator.h"
#include "core/format.h"
#include "core/primitives.h"
#include "runtime/stream_state.h"

namespace rill::detail {

namespace {
// testing::fail_allocation: the number of owned allocations until one fails (0:
// none armed). Relaxed: one load on every allocation when unarmed; the
// decrement is a compare-exchange so that exactly one allocation fails.
std::atomic<int> g_alloc_countdown{0};

bool injected_allocation_failure() {
  int c = g_alloc_countdown.load(std::memory_order_relaxed);
  while (c > 0) {
    if (g_alloc_countdown.compare_exchange_weak(c, c - 1, std::memory_order_relaxed)) {
      return c == 1;
    }
  }
  return false;
}
}  // namespace

void arm_allocation_failure(int k) {
  g_alloc_countdown.store(k, std::memory_order_relaxed);
}

Buffer::Buffer(size_t n) : ptr(nullptr), nbytes(n) {
  if (g_alloc_countdown.load(std::memory_order_relaxed) > 0 &&
      injected_allocation_failure()) {
    throw std::bad_alloc();
  }
  if (n <= kInline) {
    ptr = small;
    return;
  }
  ptr = cpu::allocate(n);
}

Buffer::~Buffer() {
  delete cache.load(std::memory_order_acquire);
  if (gpu) {
    gpu_release(gpu);
  } else if (!owner && ptr != small) {
    cpu::release(ptr, nbytes);
  }
}

namespace {

size_t element_count(const Shape& shape) {
  size_t n = 1;
  for (int32_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

uint32_t depth_of(const std::vector<array>& inputs) {
  uint32_t d = 0;
  for (const array& a : inputs) d = std::max(d, a.node()->depth);
  return inputs.empty() ? 0 : d + 1;
}

}  // namespace

// Releases input references without recursing: dropping the last handle to a
// long unevaluated chain would otherwise destroy it one stack frame per node.
void release_inputs(std::vector<array>& inputs) {
  if (inputs.empty()) return;
  std::vector<std::shared_ptr<Node>> doomed;
  auto take = [&](std::vector<array>& v) {
    for (array& a : v) {
      std::shared_ptr<Node>& p = a.mutable_node();
      if (p && p.use_count() == 1 && !p->inputs.empty()) doomed.push_back(std::move(p));
    }
    v.clear();
  };
  take(inputs);
  while (!doomed.empty()) {
    std::shared_ptr<Node> n = std::move(doomed.back());
    doomed.pop_back();
    take(n->inputs);
  }
}

namespace {

void set_flags(Node& n) {
  bool row = true, col = true;
  int64_t expect = 1;
  for (int i = static_cast<int>(n.shape.size()) - 1; i >= 0; --i) {
    if (n.shape[i] == 1) continue;
    if (n.strides[i] != expect) row = false;
    expect *= n.shape[i];
  }
  expect = 1;
  for (size_t i = 0; i < n.shape.size(); ++i) {
    if (n.shape[i] == 1) continue;
    if (n.strides[i] != expect) col = false;
    expect *= n.shape[i];
  }
  n.row_contiguous = row;
  n.col_contiguous = col;
}

}  // namespace

Node::Node(Shape shp, Dtype dt, std::shared_ptr<Primitive> prim, std::vector<array> ins,
           std::shared_ptr<StreamState> st)
    : shape(std::move(shp)),
      dtype(dt),
      size(element_count(shape)),
      stream_id(st->stream),
      depth(depth_of(ins)),
      primitive(std::move(prim)),
      inputs(std::move(ins)),
      stream(std::move(st)),
      status(Status::unscheduled) {}

Node::Node(Shape shp, Dtype dt, std::shared_ptr<Buffer> buf, Stream s)
    : shape(std::move(shp)),
      dtype(dt),
      size(element_count(shape)),
      stream_id(s),
      depth(0),
      strides(row_major_strides(shape)),
      buffer(std::move(buf)),
      status(Status::available) {
  set_flags(*this);
}

Node::~Node() { release_inputs(inputs); }

const void* Node::data() const {
  return static_cast<const char*>(buffer->ptr) + offset * dtype.size;
}
void* Node::mutable_data() { return static_cast<char*>(buffer->ptr) + offset * dtype.size; }

void complete(Node& n, FailureRef err) {
  n.primitive.reset();
  release_inputs(n.inputs);
  n.stream.reset();
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(n.mu);
    if (err) n.error = std::move(err);
    n.status.store(n.error ? Status::failed : Status::available, std::memory_order_release);
    waiters.swap(n.waiters);
  }
  for (auto& w : waiters) w();
}

void when_done(Node& n, std::function<void()> fn) {
  {
    std::lock_guard lock(n.mu);
    if (!n.done(std::memory_order_relaxed)) {
      n.waiters.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

Strides broadcast_strides(const Node& in, const Shape& out) {
  Strides s(out.size(), 0);
  size_t lead = out.size() - in.shape.size();
  for (size_t i = 0; i < in.shape.size(); ++i) {
    s[lead + i] = in.shape[i] == 1 ? 0 : in.strides[i];
  }
  return s;
}

Strides row_major_strides(const Shape& shape) {
  Strides s(shape.size());
  int64_t acc = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

void allocate(Node& out) {
  const size_t bytes = out.size * out.dtype.size;
  // A node computed again into the buffer it holds alone (a fused chain's
  // per-chunk results, core/fused.cpp) keeps it; a graph node has none yet.
  const bool keep = out.buffer && out.buffer->nbytes == bytes && !out.buffer->owner &&
                    !out.buffer->gpu && out.buffer.use_count() == 1 &&
                    !out.buffer->cache.load(std::memory_order_relaxed);
  if (!keep) out.buffer = std::make_shared<Buffer>(bytes);
  out.offset = 0;
  out.strides = row_major_strides(out.shape);
  out.row_contiguous = true;
  set_flags(out);
}

void set_view(Node& out, const Node& in, Strides strides, int64_t offset) {
  out.buffer = in.buffer;
  out.offset = offset;
  out.strides = std::move(strides);
  set_flags(out);
}

namespace {
// Whether `p` has exactly `n` owners. A match is confirmed by taking one more
// reference: the increment is an acquire-release read-modify-write of the
// count, so everything another thread did before dropping its reference (a
// kernel reading the buffer, then its node letting go of the input) happens
// before the caller's writes. The relaxed use_count() alone would not order
// them.
template <typename T>
bool owners_are(const std::shared_ptr<T>& p, long n) {
  if (!p || p.use_count() != n) return false;
  std::shared_ptr<T> probe = p;
  return probe.use_count() == n + 1;
}
}  // namespace

bool donatable(const Node& out, const Node& in, bool elementwise) {
  if (!in.buffer || in.buffer->owner || in.offset != 0 || !in.row_contiguous ||
      in.size != out.size || in.dtype.size != out.dtype.size || out.size == 0 ||
      in.buffer->nbytes != out.size * out.dtype.size) {
    return false;
  }
  const std::shared_ptr<Node>* ref = nullptr;
  long uses = 0;
  for (const array& a : out.inputs) {
    if (a.node().get() == &in) {
      ref = &a.node();
      ++uses;
    }
  }
  if (!ref || (uses > 1 && !elementwise)) return false;
  return owners_are(*ref, uses) && owners_are(in.buffer, 1);
}

void take_buffer(Node& out, const Node& in) {
  out.buffer = in.buffer;
  delete out.buffer->cache.exchange(nullptr, std::memory_order_acq_rel);
  out.buffer->cache_uses.store(0, std::memory_order_relaxed);
  out.offset = 0;
  out.strides = row_major_strides(out.shape);
  set_flags(out);
}

void check_stream(const StreamOrDevice& s, const char* op) {
  resolve_stream(s, OuterOp::name(op));
}

void check_extent(const Shape& shape, Dtype dtype, const char* op) {
  int64_t bytes = dtype.size;
  for (int32_t d : shape) {
    if (d > 0 && __builtin_mul_overflow(bytes, static_cast<int64_t>(d), &bytes)) {
      throw std::invalid_argument(cat("[", OuterOp::name(op), "] shape ",
                                      tuple_str(shape), " has too many elements for ",
                                      dtype_name(dtype), "."));
    }
  }
}

array make_array(Shape shape, Dtype dtype, std::shared_ptr<Primitive> primitive,
                 std::vector<array> inputs, const StreamOrDevice& s, const char* op) {
  check_extent(shape, dtype, op);
  // complex64 reaches only the kernels whose primitive handles it.
  bool complex = is_complex(dtype);
  for (const array& in : inputs) complex |= is_complex(in.dtype());
  if (complex && !primitive->accepts_complex()) {
    throw std::invalid_argument(cat("[", OuterOp::name(op ? op : primitive->name()),
                                    "] complex64 is not supported."));
  }
  const StreamRef& st = resolve_stream(s, OuterOp::name(op));
  auto node = std::make_shared<Node>(std::move(shape), dtype, std::move(primitive),
                                     std::move(inputs), st);
  if (t_recorder) note_traced(*node);
  return array(std::move(node));
}

}  // namespace rill::detail
