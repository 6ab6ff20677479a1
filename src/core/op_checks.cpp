// Argument checks shared by the ops (core/op_checks.h).
#include "core/op_checks.h"

#include <algorithm>
#include <stdexcept>

#include "backend/kernels.h"
#include "core/format.h"
#include "core/node.h"
#include "rill/ops.h"

namespace rill::detail {

[[noreturn]] void fail(const char* op, const std::string& what) {
  throw std::invalid_argument(cat("[", detail::OuterOp::name(op), "] ", what));
}

void throw_index_error(int64_t index, int64_t n, int axis) {
  throw std::out_of_range(
      cat("index ", index, " is out of range for axis ", axis, " of size ", n, "."));
}

int normalize_axis(int axis, int ndim, const char* op) {
  if (axis < -ndim || axis >= ndim) {
    fail(op, cat("axis ", axis, " is out of range for an array of ", ndim, " dimensions."));
  }
  return axis < 0 ? axis + ndim : axis;
}

void check_shape(const Shape& shape, const char* op) {
  for (int32_t d : shape) {
    if (d < 0) fail(op, cat("negative dimension in shape ", tuple_str(shape), "."));
  }
}

std::pair<Shape, Shape> slice_region(const Shape& in, const Shape& start_in, const Shape& stop,
                                     const Shape& strides, const char* op) {
  const int nd = static_cast<int>(in.size());
  if (static_cast<int>(start_in.size()) != nd || static_cast<int>(stop.size()) != nd ||
      static_cast<int>(strides.size()) != nd) {
    fail(op, cat("start ", tuple_str(start_in), ", stop ", tuple_str(stop), " and strides ",
                 tuple_str(strides), " must each have one entry per dimension (", nd, ")."));
  }
  Shape start(nd), shape(nd);
  for (int i = 0; i < nd; ++i) {
    int64_t n = in[i], step = strides[i];
    if (step == 0) fail(op, cat("step of axis ", i, " is 0."));
    int64_t b = start_in[i], e = stop[i];
    if (b < 0) b += n;
    if (e < 0) e += n;
    int64_t len;
    if (step > 0) {
      b = std::clamp<int64_t>(b, 0, n);
      e = std::clamp<int64_t>(e, 0, n);
      len = e > b ? (e - b + step - 1) / step : 0;
    } else {
      b = std::clamp<int64_t>(b, -1, n - 1);
      e = std::clamp<int64_t>(e, -1, n - 1);
      len = b > e ? (b - e - step - 1) / (-step) : 0;
    }
    start[i] = static_cast<int32_t>(len > 0 ? b : 0);
    shape[i] = static_cast<int32_t>(len);
  }
  return {std::move(start), std::move(shape)};
}

Shape broadcast_or_fail(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int32_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int32_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) {
      fail(op, cat("shapes ", tuple_str(a), " and ", tuple_str(b), " cannot be broadcast."));
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int> normalize_axes(const std::vector<int>& axes, int ndim, const char* op) {
  std::vector<int> out;
  out.reserve(axes.size());
  for (int a : axes) out.push_back(normalize_axis(a, ndim, op));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end()) {
    fail(op, cat("repeated axis in ", tuple_str(axes), "."));
  }
  return out;
}

// The indices given (as uint32) or, without, one per matrix of x's batch.
array indices_or_all(const std::optional<array>& indices, const array& x, const char* op,
                     const StreamOrDevice& s) {
  if (x.ndim() < 2) {
    fail(op, cat("input must have at least two dimensions but got input with shape ",
                 tuple_str(x.shape()), "."));
  }
  if (indices) {
    if (!is_integral(indices->dtype())) {
      fail(op, "got indices with invalid dtype. Indices must be integral.");
    }
    return astype(*indices, uint32, s);
  }
  Shape batch(x.shape().begin(), x.shape().end() - 2);
  int64_t total = 1;
  for (int d : batch) total *= d;
  return reshape(arange(0, static_cast<int>(total), s), batch, s);
}


}  // namespace rill::detail
