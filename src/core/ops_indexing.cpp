// Gathers: take and take_along_axis.
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
