// Shape ops and views: reshape, flatten, transpose, swapaxes, expand_dims,
// squeeze, broadcast_to, slice, contiguous, and the ones that move data
// between arrays (concatenate, stack, split, pad).
#include "rill/ops.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>

#include "core/format.h"
#include "core/op_checks.h"
#include "core/primitives.h"

namespace rill {

using detail::check_shape;
using detail::normalize_axes;
using detail::normalize_axis;

// ---------------------------------------------------------------- views

namespace {

array view(const array& a, Shape shape, detail::View::Kind kind, const char* name,
           const StreamOrDevice& s, std::vector<int> axes = {}, Shape start = {},
           Shape step = {}) {
  return make_array(std::move(shape), a.dtype(),
                    std::make_shared<detail::View>(kind, name, std::move(axes), std::move(start),
                                                   std::move(step)),
                    {a}, s, name);
}

}  // namespace

array reshape(const array& a, Shape shape, StreamOrDevice s) {
  int infer = -1;
  size_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) fail("reshape", cat("only one dimension can be -1, got ", tuple_str(shape), "."));
      infer = static_cast<int>(i);
    } else if (shape[i] < 0) {
      fail("reshape", cat("negative dimension in shape ", tuple_str(shape), "."));
    } else {
      known *= static_cast<size_t>(shape[i]);
    }
  }
  if (infer >= 0) {
    if (known == 0 || a.size() % known != 0) {
      fail("reshape", cat("cannot reshape array of shape ", tuple_str(a.shape()), " into ",
                          tuple_str(shape), "."));
    }
    shape[infer] = static_cast<int32_t>(a.size() / known);
  } else if (known != a.size()) {
    fail("reshape", cat("cannot reshape array of size ", a.size(), " (shape ",
                        tuple_str(a.shape()), ") into shape ", tuple_str(shape), "."));
  }
  if (shape == a.shape()) {
    detail::check_stream(s, "reshape");
    return a;
  }
  return view(a, std::move(shape), detail::View::Kind::reshape, "reshape", s);
}

array flatten(const array& a, int start_axis, int end_axis, StreamOrDevice s) {
  OuterOp outer("flatten");
  if (a.ndim() == 0) return reshape(a, {1}, s);
  const int ndim = a.ndim();
  // MLX's rule: negative axes count from the end, then start is clamped at 0
  // and end at the last axis; what stays outside the array is an error.
  int start = std::max(0, start_axis < 0 ? start_axis + ndim : start_axis);
  int end = std::min(ndim - 1, end_axis < 0 ? end_axis + ndim : end_axis);
  if (start >= ndim) {
    fail("flatten", cat("start_axis ", start_axis, " is out of range for an array of ", ndim,
                        " dimensions."));
  }
  if (end < 0) {
    fail("flatten", cat("end_axis ", end_axis, " is out of range for an array of ", ndim,
                        " dimensions."));
  }
  if (start > end) {
    fail("flatten", cat("start_axis ", start_axis, " is after end_axis ", end_axis,
                        " for an array of ", ndim, " dimensions."));
  }
  Shape shape(a.shape().begin(), a.shape().begin() + start);
  int32_t n = 1;
  for (int i = start; i <= end; ++i) n *= a.shape()[i];
  shape.push_back(n);
  shape.insert(shape.end(), a.shape().begin() + end + 1, a.shape().end());
  return reshape(a, std::move(shape), s);
}
array flatten(const array& a, StreamOrDevice s) { return flatten(a, 0, -1, s); }

array transpose(const array& a, std::vector<int> axes, StreamOrDevice s) {
  if (static_cast<int>(axes.size()) != a.ndim()) {
    fail("transpose", cat("axes ", tuple_str(axes), " do not match an array of ", a.ndim(),
                          " dimensions."));
  }
  std::vector<bool> seen(a.ndim(), false);
  Shape shape(a.ndim());
  for (size_t i = 0; i < axes.size(); ++i) {
    int ax = normalize_axis(axes[i], a.ndim(), "transpose");
    if (seen[ax]) fail("transpose", cat("repeated axis in ", tuple_str(axes), "."));
    seen[ax] = true;
    axes[i] = ax;
    shape[i] = a.shape()[ax];
  }
  return view(a, std::move(shape), detail::View::Kind::transpose, "transpose", s,
              std::move(axes));
}
array transpose(const array& a, StreamOrDevice s) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.rbegin(), axes.rend(), 0);
  return transpose(a, std::move(axes), s);
}

array swapaxes(const array& a, int axis1, int axis2, StreamOrDevice s) {
  OuterOp outer("swapaxes");
  int a1 = normalize_axis(axis1, a.ndim(), "swapaxes");
  int a2 = normalize_axis(axis2, a.ndim(), "swapaxes");
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  std::swap(axes[a1], axes[a2]);
  return transpose(a, std::move(axes), s);
}

array expand_dims(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  OuterOp outer("expand_dims");
  int out_ndim = a.ndim() + static_cast<int>(axes.size());
  std::vector<int> norm = normalize_axes(axes, out_ndim, "expand_dims");
  Shape shape;
  size_t src = 0, k = 0;
  for (int i = 0; i < out_ndim; ++i) {
    if (k < norm.size() && norm[k] == i) {
      shape.push_back(1);
      ++k;
    } else {
      shape.push_back(a.shape()[src++]);
    }
  }
  return reshape(a, std::move(shape), s);
}
array expand_dims(const array& a, int axis, StreamOrDevice s) {
  return expand_dims(a, std::vector<int>{axis}, s);
}

array squeeze(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  OuterOp outer("squeeze");
  std::vector<int> norm = normalize_axes(axes, a.ndim(), "squeeze");
  Shape shape;
  for (int i = 0; i < a.ndim(); ++i) {
    if (std::binary_search(norm.begin(), norm.end(), i)) {
      if (a.shape()[i] != 1) {
        fail("squeeze", cat("cannot squeeze axis ", i, " of size ", a.shape()[i],
                            " (shape ", tuple_str(a.shape()), ")."));
      }
    } else {
      shape.push_back(a.shape()[i]);
    }
  }
  return reshape(a, std::move(shape), s);
}
array squeeze(const array& a, int axis, StreamOrDevice s) {
  return squeeze(a, std::vector<int>{axis}, s);
}
array squeeze(const array& a, StreamOrDevice s) {
  std::vector<int> axes;
  for (int i = 0; i < a.ndim(); ++i) {
    if (a.shape()[i] == 1) axes.push_back(i);
  }
  return squeeze(a, axes, s);
}

array broadcast_to(const array& a, const Shape& shape, StreamOrDevice s) {
  check_shape(shape, "broadcast_to");
  bool ok = shape.size() >= a.shape().size();
  for (size_t i = 0; ok && i < a.shape().size(); ++i) {
    int32_t from = a.shape()[i];
    int32_t to = shape[shape.size() - a.shape().size() + i];
    ok = from == to || from == 1;
  }
  if (!ok) {
    fail("broadcast_to", cat("cannot broadcast shape ", tuple_str(a.shape()), " to ",
                             tuple_str(shape), "."));
  }
  if (shape == a.shape()) {
    detail::check_stream(s, "broadcast_to");
    return a;
  }
  return view(a, shape, detail::View::Kind::broadcast, "broadcast_to", s);
}

array slice(const array& a, Shape start, Shape stop, Shape strides, StreamOrDevice s) {
  auto [first, shape] = detail::slice_region(a.shape(), start, stop, strides, "slice");
  return view(a, std::move(shape), detail::View::Kind::slice, "slice", s, {}, std::move(first),
              std::move(strides));
}
array slice(const array& a, Shape start, Shape stop, StreamOrDevice s) {
  Shape steps(a.ndim(), 1);
  return slice(a, std::move(start), std::move(stop), std::move(steps), s);
}

array contiguous(const array& a, bool allow_col_major, StreamOrDevice s) {
  return make_array(a.shape(), a.dtype(), std::make_shared<detail::Contiguous>(allow_col_major),
                    {a}, s, "contiguous");
}

// ---------------------------------------------------------------- joining

array concatenate(std::vector<array> arrays, int axis, StreamOrDevice s) {
  const char* op = "concatenate";
  OuterOp outer(op);
  if (arrays.empty()) fail(op, "no arrays given.");
  const Shape first = arrays[0].shape();
  const int nd = arrays[0].ndim();
  if (nd == 0) fail(op, "cannot concatenate 0-dimensional arrays.");
  int ax = normalize_axis(axis, nd, op);
  Dtype t = arrays[0].dtype();
  int64_t total = 0;
  for (size_t i = 0; i < arrays.size(); ++i) {
    const Shape& sh = arrays[i].shape();
    bool ok = sh.size() == first.size();
    for (int d = 0; ok && d < nd; ++d) ok = d == ax || sh[d] == first[d];
    if (!ok) {
      fail(op, cat("array ", i, " of shape ", tuple_str(sh),
                   " does not match array 0 of shape ", tuple_str(first), " off axis ",
                   ax, "."));
    }
    total += sh[ax];
    t = promote_types(t, arrays[i].dtype());
  }
  if (total > std::numeric_limits<int32_t>::max()) {
    fail(op, cat("the result would have ", total, " elements along axis ", ax, "."));
  }
  if (arrays.size() == 1) return astype(arrays[0], t, s);
  for (array& x : arrays) {
    if (x.dtype() != t) x = astype(x, t, s);
  }
  Shape shape = first;
  shape[ax] = static_cast<int32_t>(total);
  return make_array(std::move(shape), t, std::make_shared<detail::Concatenate>(ax, op),
                    std::move(arrays), s, op);
}
array concatenate(std::vector<array> arrays, StreamOrDevice s) {
  OuterOp outer("concatenate");
  for (array& x : arrays) x = flatten(x, s);
  return concatenate(std::move(arrays), 0, s);
}

array stack(const std::vector<array>& arrays, int axis, StreamOrDevice s) {
  const char* op = "stack";
  OuterOp outer(op);
  if (arrays.empty()) fail(op, "no arrays given.");
  const Shape& first = arrays[0].shape();
  int ax = normalize_axis(axis, arrays[0].ndim() + 1, op);
  Dtype t = arrays[0].dtype();
  for (size_t i = 0; i < arrays.size(); ++i) {
    if (arrays[i].shape() != first) {
      fail(op, cat("array ", i, " has shape ", tuple_str(arrays[i].shape()),
                   ", array 0 has shape ", tuple_str(first), "; all must match."));
    }
    t = promote_types(t, arrays[i].dtype());
  }
  std::vector<array> inputs;
  inputs.reserve(arrays.size());
  for (const array& x : arrays) inputs.push_back(astype(x, t, s));
  Shape shape = first;
  shape.insert(shape.begin() + ax, static_cast<int32_t>(arrays.size()));
  return make_array(std::move(shape), t, std::make_shared<detail::Concatenate>(ax, op),
                    std::move(inputs), s, op);
}
array stack(const std::vector<array>& arrays, StreamOrDevice s) {
  return stack(arrays, 0, s);
}

// ---------------------------------------------------------------- splitting

// Parts a[..., prev:index, ...] with Python's slice semantics, as NumPy's
// array_split: negative indices count from the end, others are clamped.
std::vector<array> split(const array& a, const Shape& indices, int axis,
                         StreamOrDevice s) {
  OuterOp outer("split");
  int ax = normalize_axis(axis, a.ndim(), "split");
  std::vector<array> parts;
  parts.reserve(indices.size() + 1);
  Shape start(a.ndim(), 0), stop = a.shape();
  for (size_t i = 0; i <= indices.size(); ++i) {
    stop[ax] = i < indices.size() ? indices[i] : a.shape(ax);
    parts.push_back(slice(a, start, stop, s));
    start[ax] = stop[ax];
  }
  return parts;
}
std::vector<array> split(const array& a, const Shape& indices, StreamOrDevice s) {
  return split(a, indices, 0, s);
}
std::vector<array> split(const array& a, int num_splits, int axis, StreamOrDevice s) {
  int ax = normalize_axis(axis, a.ndim(), "split");
  if (num_splits <= 0)
    fail("split", cat("num_splits must be positive, got ", num_splits, "."));
  int n = a.shape(ax);
  if (n % num_splits != 0) {
    fail("split", cat("axis ", ax, " of size ", n, " (shape ", tuple_str(a.shape()),
                      ") cannot be split into ", num_splits, " equal parts."));
  }
  Shape indices;
  for (int i = 1; i < num_splits; ++i) indices.push_back(i * (n / num_splits));
  return split(a, indices, ax, s);
}
std::vector<array> split(const array& a, int num_splits, StreamOrDevice s) {
  return split(a, num_splits, 0, s);
}

// ---------------------------------------------------------------- pad

namespace {
// reflect (the edge element not repeated: 2 1 | 0 1 2 3 | 2 1) and symmetric
// (repeated: 1 0 | 0 1 2 3 | 3 2), continuing periodically past the array's
// length, as MLX and NumPy do: a gather of each padded axis by positions
// computed here. pad has checked the axes and sizes first.
array pad_mirrored(const array& a, const std::vector<int>& axes, const Shape& low,
                   const Shape& high, bool reflect, const StreamOrDevice& s) {
  const char* op = "pad";
  array out = a;
  for (size_t i = 0; i < axes.size(); ++i) {
    int ax = normalize_axis(axes[i], a.ndim(), op);
    const int64_t n = a.shape(ax);
    if (low[i] == 0 && high[i] == 0) continue;
    const int64_t total = n + low[i] + high[i];
    const int64_t period = reflect ? 2 * (n - 1) : 2 * n;
    std::vector<int32_t> pos(static_cast<size_t>(total));
    for (int64_t j = 0; j < total; ++j) {
      int64_t k = j - low[i];
      if (period == 0) {
        k = 0;  // reflecting one element repeats it
      } else {
        k %= period;
        if (k < 0) k += period;
        if (k >= n) k = reflect ? period - k : period - 1 - k;
      }
      pos[static_cast<size_t>(j)] = static_cast<int32_t>(k);
    }
    out = take(out, array(pos, Shape{static_cast<int32_t>(total)}), ax, s);
  }
  return out;
}
}  // namespace

array pad(const array& a, const std::vector<int>& axes, const Shape& low_pad_size,
          const Shape& high_pad_size, const array& pad_value, const std::string& mode,
          StreamOrDevice s) {
  const char* op = "pad";
  OuterOp outer(op);
  if (axes.size() != low_pad_size.size() || axes.size() != high_pad_size.size()) {
    fail(op, cat("axes ", tuple_str(axes), ", low pad sizes ", tuple_str(low_pad_size),
                 " and high pad sizes ", tuple_str(high_pad_size),
                 " must have the same length."));
  }
  if (mode != "constant" && mode != "edge" && mode != "reflect" && mode != "symmetric") {
    fail(op, cat("mode must be \"constant\", \"edge\", \"reflect\" or \"symmetric\", got \"",
                 mode, "\"."));
  }
  if (pad_value.size() != 1) {
    fail(op, cat("pad_value must be a single value, got shape ",
                 tuple_str(pad_value.shape()), "."));
  }
  const bool edge = mode == "edge";
  std::vector<int> low(a.ndim(), 0);
  std::vector<bool> seen(a.ndim(), false);
  Shape shape = a.shape();
  for (size_t i = 0; i < axes.size(); ++i) {
    int ax = normalize_axis(axes[i], a.ndim(), op);
    if (seen[ax]) fail(op, cat("repeated axis in ", tuple_str(axes), "."));
    seen[ax] = true;
    int lo = low_pad_size[i], hi = high_pad_size[i];
    if (lo < 0 || hi < 0) {
      fail(op, cat("pad sizes must be non-negative, got low ", lo, " and high ", hi,
                   " for axis ", axes[i], "."));
    }
    if (mode != "constant" && a.shape(ax) == 0 && lo + hi > 0) {
      fail(op, cat("cannot ", mode, "-pad axis ", ax, " of size 0 (shape ",
                   tuple_str(a.shape()), ")."));
    }
    int64_t n = int64_t(shape[ax]) + lo + hi;
    if (n > std::numeric_limits<int32_t>::max()) {
      fail(op, cat("axis ", ax, " would have ", n, " elements."));
    }
    shape[ax] = static_cast<int32_t>(n);
    low[ax] = lo;
  }
  if (mode == "reflect" || mode == "symmetric") {
    return pad_mirrored(a, axes, low_pad_size, high_pad_size, mode == "reflect", s);
  }
  array value = astype(reshape(pad_value, {}, s), a.dtype(), s);
  return make_array(std::move(shape), a.dtype(), std::make_shared<detail::Pad>(low, edge),
                    {a, value}, s, op);
}
array pad(const array& a, const std::vector<std::pair<int, int>>& pad_width,
          const array& pad_value, const std::string& mode, StreamOrDevice s) {
  if (static_cast<int>(pad_width.size()) != a.ndim()) {
    fail("pad", cat("got ", pad_width.size(), " (low, high) pairs for an array of ",
                    a.ndim(), " dimensions."));
  }
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  Shape low, high;
  for (const auto& [lo, hi] : pad_width) {
    low.push_back(lo);
    high.push_back(hi);
  }
  return pad(a, axes, low, high, pad_value, mode, s);
}
array pad(const array& a, const std::pair<int, int>& pad_width, const array& pad_value,
          const std::string& mode, StreamOrDevice s) {
  return pad(a, std::vector<std::pair<int, int>>(a.ndim(), pad_width), pad_value, mode,
             s);
}
array pad(const array& a, int pad_width, const array& pad_value, const std::string& mode,
          StreamOrDevice s) {
  return pad(a, std::pair<int, int>(pad_width, pad_width), pad_value, mode, s);
}

}  // namespace rill
