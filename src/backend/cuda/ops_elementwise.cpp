// The GPU kernels of the elementwise family (backend/kernels.h): copy and
// convert, unary, binary, where, arange, eye, the random generators, and the
// fault testing injects. Each turns nodes into pointers and layouts,
// allocates (or takes a donated) output on the segment's stream and launches.
#include "backend/cuda/host.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <tuple>

#include "core/dispatch.h"
#include "core/format.h"

namespace rill::detail::gpu {

// ---- elementwise ----

void copy(const Node& in, Node& out) {
  // Once: addmm copies its addend into out and then also reads its factors.
  allocate_or_donate(out, {&in}, false);
  if (out.size == 0) return;
  // A donated buffer of the same dtype already holds the copy.
  if (out.buffer == in.buffer && out.dtype == in.dtype) return;
  Iter it = iterate(out.shape, {broadcast_strides(in, out.shape)});
  cu::copy(dt(in.dtype), in.data(), it.st[0], dt(out.dtype), out.mutable_data(), it.dims,
           n_of(out), stream());
}

void unary(UnaryOp op, const Node& in, Node& out, int decimals) {
  allocate_or_donate(out, {&in});
  if (out.size == 0) return;
  Iter it = iterate(out.shape, {in.strides});
  cu::unary(op, dt(in.dtype), in.data(), it.st[0], dt(out.dtype),
            out.mutable_data(), it.dims, n_of(out), decimals, stream());
}

void binary(BinaryOp op, const Node& a, const Node& b, Node& out) {
  allocate_or_donate(out, {&a, &b});
  if (out.size == 0) return;
  Iter it = iterate(out.shape, {broadcast_strides(a, out.shape), broadcast_strides(b, out.shape)});
  cu::binary(op, dt(a.dtype), a.data(), it.st[0], b.data(), it.st[1],
             dt(out.dtype), out.mutable_data(), it.dims, n_of(out), stream());
}

void where(const Node& cond, const Node& x, const Node& y, Node& out) {
  allocate_or_donate(out, {&x, &y, &cond});
  if (out.size == 0) return;
  Iter it = iterate(out.shape, {broadcast_strides(cond, out.shape),
                                broadcast_strides(x, out.shape), broadcast_strides(y, out.shape)});
  cu::where(cond.data(), it.st[0], dt(storage_dtype(out.dtype)), x.data(), it.st[1], y.data(), it.st[2],
            out.mutable_data(), it.dims, n_of(out), stream());
}

void clip(const Node& x, const Node* lo, const Node* hi, Node& out) {
  allocate_or_donate(out, {&x});
  if (out.size == 0) return;
  const Strides none(out.shape.size(), 0);
  Iter it = iterate(out.shape, {broadcast_strides(x, out.shape),
                                lo ? broadcast_strides(*lo, out.shape) : none,
                                hi ? broadcast_strides(*hi, out.shape) : none});
  cu::clip(dt(out.dtype), x.data(), it.st[0], lo ? lo->data() : nullptr, it.st[1],
           hi ? hi->data() : nullptr, it.st[2], out.mutable_data(), it.dims, n_of(out), stream());
}

void arange(double start, double step, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  cu::arange(dt(out.dtype), start, step, out.mutable_data(), n_of(out), stream());
}

void eye(int k, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  cu::eye(dt(out.dtype), k, out.mutable_data(), out.shape[0], out.shape[1], stream());
}

// ---- reductions ----

// ---- testing ----

void wild_write(const Node& in, Node& out) {
  copy(in, out);
  cu::wild_write(stream());
}

void random_floats(const Node& key, const Node* lo, const Node* hi, bool normal, double scale,
                   double loc, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  const int64_t step = key.strides.empty() ? 1 : key.strides.back();
  cu::random_floats(static_cast<const uint32_t*>(key.data()), step, normal,
                    lo ? static_cast<const float*>(lo->data()) : nullptr,
                    hi ? static_cast<const float*>(hi->data()) : nullptr, scale, loc,
                    dt(out.dtype), out.mutable_data(), n_of(out), stream());
}

void random_bits(const Node& key, int width, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  const int64_t step = key.strides.empty() ? 1 : key.strides.back();
  cu::random_bits(static_cast<const uint32_t*>(key.data()), step, width, out.mutable_data(),
                  n_of(out), stream());
}

}  // namespace rill::detail::gpu
