// The GPU kernels that work along axes (backend/kernels.h): reductions,
// arg-reductions, cumulative sums and sorts.
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

void reduce(ReduceOp op, const Node& in, const std::vector<int>& axes, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  Shape keep_shape, red_shape;
  Strides keep_st, red_st;
  for (size_t d = 0; d < in.shape.size(); ++d) {
    bool r = std::find(axes.begin(), axes.end(), static_cast<int>(d)) != axes.end();
    (r ? red_shape : keep_shape).push_back(in.shape[d]);
    (r ? red_st : keep_st).push_back(in.strides[d]);
  }
  int64_t reduced = 1;
  for (int32_t d : red_shape) reduced *= d;
  Iter keep = iterate(keep_shape, {keep_st});
  Iter red = iterate(red_shape, {red_st});
  const int64_t splits = cu::reduce_splits(n_of(out), reduced);
  std::shared_ptr<Buffer> scratch;
  if (splits > 1) scratch = cu::allocate(static_cast<size_t>(n_of(out) * splits * 8));
  cu::reduce(op, dt(in.dtype), in.data(), keep.dims, keep.st[0], red.dims,
             red.st[0], dt(out.dtype), out.mutable_data(), n_of(out), reduced,
             scratch ? scratch->ptr : nullptr, static_cast<int>(splits), stream());
}

void arg_reduce(ArgReduceOp op, const Node& in, int axis, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  Shape keep_shape;
  Strides keep_st;
  for (size_t d = 0; d < in.shape.size(); ++d) {
    if (static_cast<int>(d) == axis) continue;
    keep_shape.push_back(in.shape[d]);
    keep_st.push_back(in.strides[d]);
  }
  Iter keep = iterate(keep_shape, {keep_st});
  cu::arg_reduce(op, dt(in.dtype), in.data(), keep.dims, keep.st[0],
                 in.shape[axis], in.strides[axis], static_cast<uint32_t*>(out.mutable_data()),
                 n_of(out), stream());
}

void scan(ScanOp op, const Node& in, int axis, bool reverse, bool inclusive, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  Node tmp(in.shape, in.dtype, nullptr, in.stream_id);
  const Node& x = rows_of(in, tmp);
  const int64_t len = in.shape[axis];
  int64_t inner = 1;
  for (size_t d = axis + 1; d < in.shape.size(); ++d) inner *= in.shape[d];
  const int64_t outer = n_of(in) / (len * inner);
  std::shared_ptr<Buffer> scratch;
  if (const size_t bytes = cu::scan_scratch(outer, len, inner)) scratch = cu::allocate(bytes);
  cu::scan(op, dt(in.dtype), x.data(), out.mutable_data(), outer, len, inner, reverse, inclusive,
           scratch ? scratch->ptr : nullptr, stream());
}

void sort(SortOp op, const Node& in, int axis, int kth, Node& out) {
  (void)kth;  // partitions come out fully sorted; topk's k is out's axis
  gpu::allocate(out);
  if (out.size == 0 || in.size == 0) return;
  Shape keep;
  Strides kin, kout;
  for (size_t d = 0; d < in.shape.size(); ++d) {
    if (static_cast<int>(d) == axis) continue;
    keep.push_back(in.shape[d]);
    kin.push_back(in.strides[d]);
    kout.push_back(out.strides[d]);
  }
  Iter it = iterate(keep, {kin, kout});
  cu::SortArgs a;
  a.op = op;
  a.len = in.shape[axis];
  a.rows = n_of(in) / a.len;
  a.axis_st = in.strides[axis];
  a.m = out.shape[axis];
  a.out_axis_st = out.strides[axis];
  a.keep = it.dims;
  a.kst = it.st[0];
  a.ost = it.st[1];
  const size_t bytes = cu::sort_scratch(dt(in.dtype), a);
  auto scratch = cu::allocate(bytes);
  cu::sort(dt(in.dtype), in.data(), out.mutable_data(), scratch->ptr, bytes, a, stream());
}

}  // namespace rill::detail::gpu
