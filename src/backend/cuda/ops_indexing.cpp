// The GPU's gathers and joins (backend/kernels.h): take, take_along_axis,
// concatenate and pad. Indices on the host are checked there; on the device
// the kernel reports the first one out of range.
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

#include "common/strided_walk.h"
#include "core/dispatch.h"
#include "core/format.h"

namespace rill::detail::gpu {

namespace {

// Indices still on the host are checked there and copied to the device
// (stream-ordered, no wait); those on the device are checked by the kernel.
struct Indices {
  std::optional<array> dev;          // on the device
  std::shared_ptr<Buffer> flag;      // {flag, value} for the kernel, or null
  long long* bad() const { return flag ? static_cast<long long*>(flag->ptr) : nullptr; }
};

Indices indices_on_device(const Node& idx, int64_t n, int axis) {
  Indices r;
  if (idx.buffer && idx.buffer->device() >= 0) {
    r.dev = cu::proxy(idx, Node::Mirror{idx.buffer->device(), idx.buffer, idx.offset});
    r.flag = cu::allocate(16);
    RILL_CUDA(cudaMemsetAsync(r.flag->ptr, 0, 16, stream()));
    return r;
  }
  dispatch(idx.dtype, [&](auto tag) {
    using I = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<I> && !std::is_same_v<I, bool>) {
      const I* p = static_cast<const I*>(idx.data());
      for_each_row<1>(idx.shape, {idx.strides},
                           [&](const std::array<int64_t, 1>& off, int64_t m,
                               const std::array<int64_t, 1>& s) {
                             for (int64_t j = 0; j < m; ++j) {
                               const int64_t v = static_cast<int64_t>(p[off[0] + j * s[0]]);
                               if (v < -n || v >= n) throw_index_error(v, n, axis);
                             }
                           });
    } else {
      throw std::logic_error(cat("indices must be integers, got ", idx.dtype));
    }
  });
  auto [lo, hi] = cu::span(idx);
  const size_t bytes = static_cast<size_t>(hi - lo) * idx.dtype.size;
  auto buf = cu::allocate(bytes);
  if (bytes) {
    // A pageable source is staged before this returns.
    RILL_CUDA(cudaMemcpyAsync(buf->ptr, static_cast<const char*>(idx.buffer->ptr) +
                                            lo * idx.dtype.size,
                              bytes, cudaMemcpyHostToDevice, stream()));
  }
  r.dev = cu::proxy(idx, Node::Mirror{cu::launch().device, std::move(buf), idx.offset - lo});
  return r;
}

// After a kernel that checked device indices: waits for its verdict.
void check_indices(const Indices& r, int64_t n, int axis) {
  if (!r.flag) return;
  long long got[2] = {0, 0};
  RILL_CUDA(cudaMemcpyAsync(got, r.flag->ptr, sizeof got, cudaMemcpyDeviceToHost, stream()));
  RILL_CUDA(cudaStreamSynchronize(stream()));
  if (got[0]) throw_index_error(got[1], n, axis);
}

}  // namespace

void take(const Node& a, const Node& indices, int axis, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  const int64_t n = a.shape[axis];
  Indices idx = indices_on_device(indices, n, axis);
  const Node& in = node_of(*idx.dev);
  Shape pre(a.shape.begin(), a.shape.begin() + axis);
  Strides pre_st(a.strides.begin(), a.strides.begin() + axis);
  Shape post(a.shape.begin() + axis + 1, a.shape.end());
  Strides post_st(a.strides.begin() + axis + 1, a.strides.end());
  Iter ip = iterate(pre, {pre_st}), iq = iterate(post, {post_st}),
       ii = iterate(in.shape, {in.strides}, "index array");
  cu::TakeArgs t;
  t.pre = ip.dims;
  t.pre_st = ip.st[0];
  t.post = iq.dims;
  t.post_st = iq.st[0];
  t.idx = ii.dims;
  t.idx_st = ii.st[0];
  t.n_idx = n_of(in);
  t.n_post = 1;
  for (int32_t d : post) t.n_post *= d;
  t.axis_len = n;
  t.axis_st = a.strides[axis];
  cu::take(a.dtype.size, a.data(), dt(in.dtype), in.data(), out.mutable_data(), t, n_of(out),
           idx.bad(), stream());
  check_indices(idx, n, axis);
}

void take_along_axis(const Node& a, const Node& indices, int axis, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  const int64_t n = a.shape[axis];
  Indices idx = indices_on_device(indices, n, axis);
  const Node& in = node_of(*idx.dev);
  Strides ast = broadcast_strides(a, out.shape);
  ast[axis] = 0;  // the index gives the position along the axis
  Iter it = iterate(out.shape, {ast, broadcast_strides(in, out.shape), out.strides});
  cu::take_along_axis(a.dtype.size, a.data(), it.st[0], dt(in.dtype), in.data(), it.st[1],
                      out.mutable_data(), it.dims, n_of(out), n, a.strides[axis], idx.bad(),
                      stream());
  check_indices(idx, n, axis);
}

void concatenate(const std::vector<const Node*>& ins, int axis, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  const size_t es = out.dtype.size;
  char* po = static_cast<char*>(out.mutable_data());
  int64_t pos = 0;
  for (const Node* in : ins) {
    Shape shape = in->shape;
    Strides strides = in->strides;
    if (shape.size() < out.shape.size()) {  // stack: a slot of size 1
      shape.insert(shape.begin() + axis, 1);
      strides.insert(strides.begin() + axis, 0);
    }
    char* dst = po + pos * out.strides[axis] * static_cast<int64_t>(es);
    pos += shape[axis];
    if (in->size == 0) continue;
    Iter it = iterate(shape, {strides, out.strides});
    cu::move(es, in->data(), it.st[0], dst, it.st[1], it.dims, n_of(*in), stream());
  }
}

void pad(const Node& in, const Node& value, const std::vector<int>& low, bool edge,
         Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  const int nd = static_cast<int>(out.shape.size());
  if (nd > cu::kMaxDims) {
    throw std::runtime_error(cat("pad on the GPU takes at most ", cu::kMaxDims,
                                 " dimensions; this array has ", nd));
  }
  cu::PadArgs p{};
  p.ndim = nd;
  p.edge = edge;
  for (int d = 0; d < nd; ++d) {
    p.out_shape[d] = out.shape[d];
    p.in_shape[d] = in.shape[d];
    p.in_st[d] = in.strides[d];
    p.low[d] = low[d];
  }
  cu::pad(out.dtype.size, in.data(), value.data(), out.mutable_data(), p, n_of(out), stream());
}

// ---- gather and scatter ----

namespace {

// The index arrays on the device, with a slice-aware check on the host for
// those still there, and the kernel's arguments.
struct SliceIndices {
  std::vector<Indices> idx;
  cu::IndexPtrs ptrs{};
  cu::GatherArgs g{};
  DT type = DT::i32;
};

SliceIndices slice_indices(const std::vector<const Node*>& indices, const std::vector<int>& axes,
                           const Shape& a_shape, const Strides& a_strides, const Shape& idx_shape,
                           const Shape& slice) {
  if (indices.size() > static_cast<size_t>(cu::kMaxIndexArrays)) {
    throw std::runtime_error(cat("gather and scatter on the GPU take at most ",
                                 cu::kMaxIndexArrays, " index arrays, got ", indices.size()));
  }
  SliceIndices r;
  r.g.n_idx = static_cast<int>(indices.size());
  std::vector<Strides> ist;
  for (size_t k = 0; k < indices.size(); ++k) {
    const Node& idx = *indices[k];
    const int axis = axes[k];
    const int64_t n = a_shape[axis], room = n - slice[axis];
    if (!(idx.buffer && idx.buffer->device() >= 0)) {
      dispatch(idx.dtype, [&](auto tag) {
        using I = typename decltype(tag)::type;
        if constexpr (std::is_integral_v<I> && !std::is_same_v<I, bool>) {
          const I* p = static_cast<const I*>(idx.data());
          for_each_row<1>(idx.shape, {idx.strides},
                          [&](const std::array<int64_t, 1>& off, int64_t m,
                              const std::array<int64_t, 1>& st) {
                            for (int64_t j = 0; j < m; ++j) {
                              const int64_t v = static_cast<int64_t>(p[off[0] + j * st[0]]);
                              const int64_t w = v < 0 ? v + n : v;
                              if (w < 0 || w > room) throw_index_error(v, n, axis);
                            }
                          });
        }
      });
    }
    r.idx.push_back(indices_on_device(idx, n, axis));
    const Node& dev = node_of(*r.idx.back().dev);
    ist.push_back(broadcast_strides(dev, idx_shape));
    r.ptrs.p[k] = dev.data();
    r.ptrs.bad[k] = r.idx.back().bad();
    r.g.axis_len[k] = n;
    r.g.room[k] = room;
    r.g.axis_st[k] = a_strides[axis];
    r.type = dt(idx.dtype);
  }
  if (!indices.empty()) {
    Iter it = iterate(idx_shape, ist, "index array");
    r.g.idx = it.dims;
    for (size_t k = 0; k < indices.size(); ++k) r.g.idx_st[k] = it.st[k];
  }
  Iter sl = iterate(slice, {a_strides});
  r.g.slice = sl.dims;
  r.g.slice_st = sl.st[0];
  r.g.n_slice = 1;
  for (int32_t d : slice) r.g.n_slice *= d;
  return r;
}

void check_all(const SliceIndices& r, const std::vector<int>& axes, const Shape& a_shape) {
  for (size_t k = 0; k < r.idx.size(); ++k) check_indices(r.idx[k], a_shape[axes[k]], axes[k]);
}

}  // namespace

void gather(const Node& a, const std::vector<const Node*>& indices, const std::vector<int>& axes,
            Node& out) {
  const size_t nd = a.shape.size();
  const Shape idx_shape(out.shape.begin(), out.shape.end() - nd);
  const Shape slice(out.shape.end() - nd, out.shape.end());
  SliceIndices r = slice_indices(indices, axes, a.shape, a.strides, idx_shape, slice);
  gpu::allocate(out);
  if (out.size == 0) return;
  cu::gather(a.dtype.size, a.data(), r.type, r.ptrs, out.mutable_data(), r.g, n_of(out),
             stream());
  check_all(r, axes, a.shape);
}

void scatter(ScatterOp op, const Node& a, const std::vector<const Node*>& indices,
             const Node& updates, const std::vector<int>& axes, Node& out) {
  const size_t nd = a.shape.size();
  const Shape idx_shape(updates.shape.begin(), updates.shape.end() - nd);
  const Shape slice(updates.shape.end() - nd, updates.shape.end());
  // Positions in out, which copy() makes row-major.
  SliceIndices r =
      slice_indices(indices, axes, a.shape, row_major_strides(a.shape), idx_shape, slice);
  gpu::copy(a, out);
  if (updates.size == 0) return;
  Iter u = iterate(updates.shape, {updates.strides});
  cu::scatter(op, dt(storage_dtype(out.dtype)), out.mutable_data(), updates.data(), u.dims, u.st[0], r.type,
              r.ptrs, r.g, n_of(updates), stream());
  check_all(r, axes, a.shape);
}

void slice_update(ScatterOp op, const Node& a, const Node& update, const Shape& start,
                  const Shape& step, Node& out) {
  gpu::copy(a, out);
  if (update.size == 0) return;
  int64_t base = 0;
  Strides region(out.strides.size());
  for (size_t d = 0; d < out.strides.size(); ++d) {
    base += int64_t(start[d]) * out.strides[d];
    region[d] = out.strides[d] * step[d];
  }
  Iter it = iterate(update.shape, {region, update.strides});
  cu::slice_update(op, dt(storage_dtype(out.dtype)), out.mutable_data(), base, it.st[0], update.data(),
                   it.st[1], it.dims, n_of(update), stream());
}

}  // namespace rill::detail::gpu
