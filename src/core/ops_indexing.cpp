// Gathers and scatters: take, take_along_axis, MLX's gather and scatter (and
// their add, prod, max and min forms), put_along_axis, scatter_add_axis,
// masked_scatter, slice_update (static and with array starts) and the
// dynamic slice.
#include "rill/ops.h"

#include <memory>
#include <stdexcept>

#include "core/format.h"
#include "core/op_checks.h"
#include "core/primitives.h"

namespace rill {

using detail::normalize_axis;

// ---------------------------------------------------------------- indexing

namespace {

void check_indices(const array& indices, const char* op) {
  if (!is_integral(indices.dtype())) {
    fail(op, cat("indices must be integers, got ", indices.dtype(), "."));
  }
}

}  // namespace

// Indices are checked when the op runs (their values are not known before):
// one outside [-n, n) fails the op with its value.
array take(const array& a, const array& indices, int axis, StreamOrDevice s) {
  int ax = normalize_axis(axis, a.ndim(), "take");
  check_indices(indices, "take");
  if (a.shape(ax) == 0 && indices.size() > 0) {
    fail("take", cat("cannot take from axis ", ax, " of size 0 (shape ",
                     tuple_str(a.shape()), ")."));
  }
  Shape shape(a.shape().begin(), a.shape().begin() + ax);
  shape.insert(shape.end(), indices.shape().begin(), indices.shape().end());
  shape.insert(shape.end(), a.shape().begin() + ax + 1, a.shape().end());
  return make_array(std::move(shape), a.dtype(),
                    std::make_shared<detail::Take>(ax, false), {a, indices}, s, "take");
}
array take(const array& a, const array& indices, StreamOrDevice s) {
  OuterOp outer("take");
  return take(flatten(a, s), indices, 0, s);
}
array take(const array& a, int index, int axis, StreamOrDevice s) {
  OuterOp outer("take");
  int ax = normalize_axis(axis, a.ndim(), "take");
  int n = a.shape(ax);
  if (index < -n || index >= n) {
    fail("take", cat("index ", index, " is out of range for axis ", ax, " of size ", n,
                     " (shape ", tuple_str(a.shape()), ")."));
  }
  return take(a, array(index), ax, s);
}
array take(const array& a, int index, StreamOrDevice s) {
  OuterOp outer("take");
  return take(flatten(a, s), index, 0, s);
}

array take_along_axis(const array& a, const array& indices, int axis, StreamOrDevice s) {
  const char* op = "take_along_axis";
  int ax = normalize_axis(axis, a.ndim(), op);
  check_indices(indices, op);
  if (indices.ndim() != a.ndim()) {
    fail(op, cat("indices of shape ", tuple_str(indices.shape()),
                 " must have as many dimensions as the array, of shape ",
                 tuple_str(a.shape()), "."));
  }
  Shape shape(a.ndim());
  for (int d = 0; d < a.ndim(); ++d) {
    int32_t da = a.shape(d), di = indices.shape(d);
    if (d != ax && da != di && da != 1 && di != 1) {
      fail(op, cat("indices of shape ", tuple_str(indices.shape()),
                   " do not broadcast with the array's shape ", tuple_str(a.shape()),
                   " off axis ", ax, "."));
    }
    shape[d] = d == ax ? di : (da == 1 ? di : da);
  }
  size_t count = 1;
  for (int32_t d : shape) count *= static_cast<size_t>(d);
  if (a.shape(ax) == 0 && count > 0) {
    fail(op, cat("cannot take from axis ", ax, " of size 0 (shape ", tuple_str(a.shape()),
                 ")."));
  }
  return make_array(std::move(shape), a.dtype(), std::make_shared<detail::Take>(ax, true),
                    {a, indices}, s, op);
}

}  // namespace rill

// ---------------------------------------------------------------- gather and scatter

namespace rill {

namespace {

// The index arrays as one integer dtype (int32 unless a value may need 64
// bits), broadcast to one shape, and the axes normalised and distinct.
struct IndexSet {
  std::vector<array> idx;
  std::vector<int> axes;
  Shape shape;
};

IndexSet index_set(const array& a, const std::vector<array>& indices,
                   const std::vector<int>& axes, const char* op, const StreamOrDevice& s) {
  if (indices.size() != axes.size()) {
    fail(op, cat("needs one axis per index array, got ", indices.size(), " index arrays and ",
                 "axes ", tuple_str(axes), "."));
  }
  IndexSet r;
  bool wide = false;
  for (const array& i : indices) {
    check_indices(i, op);
    if (i.dtype() == bool_) fail(op, "indices must be integers, got bool.");
    wide = wide || i.dtype().size == 8 || i.dtype() == uint32;
    r.shape = detail::broadcast_or_fail(r.shape, i.shape(), op);
  }
  for (int ax : axes) r.axes.push_back(normalize_axis(ax, a.ndim(), op));
  detail::normalize_axes(axes, a.ndim(), op);  // rejects a repeated axis
  for (const array& i : indices) r.idx.push_back(astype(i, wide ? int64 : int32, s));
  return r;
}

array scatter_op(const array& a, const std::vector<array>& indices, const array& updates,
                 const std::vector<int>& axes, detail::ScatterOp op, const StreamOrDevice& s) {
  const char* name = detail::op_name(op);
  OuterOp outer(name);
  IndexSet set = index_set(a, indices, axes, name, s);
  // updates: [index shape..., slice...] with a slice no larger than a.
  if (updates.ndim() != static_cast<int>(set.shape.size()) + a.ndim()) {
    fail(name, cat("updates of shape ", tuple_str(updates.shape()), " must have the index "
                   "shape ", tuple_str(set.shape), " followed by one dimension per axis of a (",
                   tuple_str(a.shape()), ")."));
  }
  Shape want = set.shape;
  for (int d = 0; d < a.ndim(); ++d) {
    int32_t sd = updates.shape(static_cast<int>(set.shape.size()) + d);
    if (sd > a.shape(d)) {
      fail(name, cat("updates of shape ", tuple_str(updates.shape()), " have a slice larger "
                     "than a of shape ", tuple_str(a.shape()), "."));
    }
    want.push_back(sd);
  }
  Shape ushape = detail::broadcast_or_fail(updates.shape(), want, name);
  if (ushape != want) {
    fail(name, cat("updates of shape ", tuple_str(updates.shape()), " do not match the index "
                   "shape ", tuple_str(set.shape), "."));
  }
  array u = broadcast_to(astype(updates, a.dtype(), s), want, s);
  std::vector<array> in{a, u};
  in.insert(in.end(), set.idx.begin(), set.idx.end());
  return make_array(a.shape(), a.dtype(), std::make_shared<detail::Scatter>(op, set.axes),
                    std::move(in), s, name);
}

}  // namespace

array gather(const array& a, const std::vector<array>& indices, const std::vector<int>& axes,
             const Shape& slice_sizes, StreamOrDevice s) {
  OuterOp outer("gather");
  IndexSet set = index_set(a, indices, axes, "gather", s);
  if (static_cast<int>(slice_sizes.size()) != a.ndim()) {
    fail("gather", cat("slice_sizes ", tuple_str(slice_sizes), " must have one entry per "
                       "dimension of a (shape ", tuple_str(a.shape()), ")."));
  }
  for (int d = 0; d < a.ndim(); ++d) {
    if (slice_sizes[d] < 0 || slice_sizes[d] > a.shape(d)) {
      fail("gather", cat("slice_sizes ", tuple_str(slice_sizes), " must lie within a's shape ",
                         tuple_str(a.shape()), "."));
    }
  }
  Shape shape = set.shape;
  shape.insert(shape.end(), slice_sizes.begin(), slice_sizes.end());
  std::vector<array> in{a};
  in.insert(in.end(), set.idx.begin(), set.idx.end());
  return make_array(std::move(shape), a.dtype(), std::make_shared<detail::Gather>(set.axes),
                    std::move(in), s, "gather");
}

#define RILL_SCATTER_FRONT(name, rule)                                                      \
  array name(const array& a, const std::vector<array>& indices, const array& updates,      \
             const std::vector<int>& axes, StreamOrDevice s) {                             \
    return scatter_op(a, indices, updates, axes, detail::ScatterOp::name, s);              \
  }
RILL_SCATTER_OPS(RILL_SCATTER_FRONT)
#undef RILL_SCATTER_FRONT

namespace {

// MLX's put_along_axis: one index array per dimension (positions along the
// other axes, `indices` along `axis`), values broadcast to the index shape.
array along_axis(const array& a, const array& indices, const array& values, int axis,
                 detail::ScatterOp op, const char* name, const StreamOrDevice& s) {
  OuterOp outer(name);
  int ax = normalize_axis(axis, a.ndim(), name);
  check_indices(indices, name);
  if (indices.ndim() != a.ndim()) {
    fail(name, cat("indices of shape ", tuple_str(indices.shape()), " must have as many "
                   "dimensions as a (shape ", tuple_str(a.shape()), ")."));
  }
  Shape other = a.shape();
  other[ax] = indices.shape(ax);
  Shape shape = detail::broadcast_or_fail(indices.shape(), other, name);
  std::vector<array> idx;
  std::vector<int> axes;
  for (int d = 0; d < a.ndim(); ++d) {
    Shape one(a.ndim(), 1);
    one[d] = shape[d];
    idx.push_back(d == ax ? broadcast_to(indices, shape, s)
                          : broadcast_to(reshape(arange(0, shape[d], s), one, s), shape, s));
    axes.push_back(d);
  }
  Shape ushape = shape;
  ushape.insert(ushape.end(), a.ndim(), 1);
  array u = reshape(broadcast_to(values, shape, s), ushape, s);
  return scatter_op(a, idx, u, axes, op, s);
}

}  // namespace

array put_along_axis(const array& a, const array& indices, const array& values, int axis,
                     StreamOrDevice s) {
  return along_axis(a, indices, values, axis, detail::ScatterOp::scatter, "put_along_axis", s);
}
array scatter_add_axis(const array& a, const array& indices, const array& values, int axis,
                       StreamOrDevice s) {
  return along_axis(a, indices, values, axis, detail::ScatterOp::scatter_add,
                    "scatter_add_axis", s);
}

array masked_scatter(const array& a, const array& mask, const array& src, StreamOrDevice s) {
  OuterOp outer("masked_scatter");
  if (mask.dtype() != bool_) fail("masked_scatter", cat("mask must be bool, got ", mask.dtype(), "."));
  Shape shape = detail::broadcast_or_fail(mask.shape(), a.shape(), "masked_scatter");
  if (shape != a.shape()) {
    fail("masked_scatter", cat("mask of shape ", tuple_str(mask.shape()),
                               " does not broadcast to a's shape ", tuple_str(a.shape()), "."));
  }
  // The k-th true position takes src's k-th element (row-major); src with
  // fewer elements than true positions fails at evaluation.
  array m = broadcast_to(mask, shape, s);
  array pos = subtract(cumsum(reshape(m, {-1}, s), 0, false, true, int32, s), array(1), s);
  pos = reshape(maximum(pos, array(0), s), shape, s);
  array vals = take(astype(flatten(src, s), a.dtype(), s), pos, s);
  return where(m, vals, a, s);
}

// ---------------------------------------------------------------- slice_update

namespace {

array slice_update_op(const array& src, const array& update, const Shape& start,
                      const Shape& stop, const Shape& strides, detail::ScatterOp op,
                      const char* name, const StreamOrDevice& s) {
  OuterOp outer(name);
  auto [first, shape] = detail::slice_region(src.shape(), start, stop, strides, name);
  Shape b = detail::broadcast_or_fail(update.shape(), shape, name);
  if (b != shape) {
    fail(name, cat("update of shape ", tuple_str(update.shape()),
                   " does not broadcast to the slice's shape ", tuple_str(shape), "."));
  }
  array u = broadcast_to(astype(update, src.dtype(), s), shape, s);
  return make_array(src.shape(), src.dtype(),
                    std::make_shared<detail::SliceUpdate>(op, std::move(first), strides),
                    {src, u}, s, name);
}

}  // namespace

#define RILL_SLICE_UPDATE(NAME, OP)                                                           \
  array NAME(const array& src, const array& update, Shape start, Shape stop, Shape strides,   \
             StreamOrDevice s) {                                                              \
    return slice_update_op(src, update, start, stop, strides, detail::ScatterOp::OP, #NAME, s); \
  }                                                                                           \
  array NAME(const array& src, const array& update, Shape start, Shape stop,                  \
             StreamOrDevice s) {                                                              \
    Shape strides(src.ndim(), 1);                                                             \
    return slice_update_op(src, update, start, stop, strides, detail::ScatterOp::OP, #NAME, s); \
  }
RILL_SLICE_UPDATE(slice_update, scatter)
RILL_SLICE_UPDATE(slice_update_add, scatter_add)
RILL_SLICE_UPDATE(slice_update_prod, scatter_prod)
RILL_SLICE_UPDATE(slice_update_max, scatter_max)
RILL_SLICE_UPDATE(slice_update_min, scatter_min)
#undef RILL_SLICE_UPDATE

namespace {

// The start array's entries as scalar index arrays, one per axis.
std::vector<array> start_indices(const array& start, const std::vector<int>& axes,
                                 const char* name, const StreamOrDevice& s) {
  check_indices(start, name);
  if (start.ndim() != 1 || start.shape(0) != static_cast<int>(axes.size())) {
    fail(name, cat("start of shape ", tuple_str(start.shape()), " must be 1-D with one entry "
                   "per axis in ", tuple_str(axes), "."));
  }
  std::vector<array> idx;
  for (size_t k = 0; k < axes.size(); ++k) idx.push_back(take(start, static_cast<int>(k), 0, s));
  return idx;
}

}  // namespace

array slice(const array& a, const array& start, std::vector<int> axes, Shape slice_size,
            StreamOrDevice s) {
  OuterOp outer("slice");
  return gather(a, start_indices(start, axes, "slice", s), axes, slice_size, s);
}

array slice_update(const array& src, const array& update, const array& start,
                   std::vector<int> axes, StreamOrDevice s) {
  OuterOp outer("slice_update");
  if (update.ndim() != src.ndim()) {
    fail("slice_update", cat("update of shape ", tuple_str(update.shape()), " must have as many "
                             "dimensions as src (shape ", tuple_str(src.shape()), ")."));
  }
  return scatter(src, start_indices(start, axes, "slice_update", s), update, axes, s);
}

}  // namespace rill
