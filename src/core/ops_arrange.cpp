// Ops that rearrange elements, built from views and the existing kernels:
// atleast_nd, broadcast_arrays, as_strided, diag, diagonal, flip, moveaxis,
// matrix_transpose, repeat, roll, tile, unflatten, unstack, meshgrid, tri,
// tril, triu, depends, stop_gradient.
#include "rill/ops.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <string>

#include "core/format.h"
#include "core/op_checks.h"
#include "core/primitives.h"

namespace rill {

using detail::normalize_axes;
using detail::normalize_axis;
using detail::OuterOp;

// ---------------------------------------------------------------- rank

array atleast_1d(const array& a, StreamOrDevice s) {
  OuterOp outer("atleast_1d");
  return a.ndim() == 0 ? reshape(a, {1}, s) : a;
}
array atleast_2d(const array& a, StreamOrDevice s) {
  OuterOp outer("atleast_2d");
  if (a.ndim() == 0) return reshape(a, {1, 1}, s);
  if (a.ndim() == 1) return reshape(a, {1, a.shape(0)}, s);
  return a;
}
array atleast_3d(const array& a, StreamOrDevice s) {
  OuterOp outer("atleast_3d");
  if (a.ndim() == 0) return reshape(a, {1, 1, 1}, s);
  if (a.ndim() == 1) return reshape(a, {1, a.shape(0), 1}, s);
  if (a.ndim() == 2) return reshape(a, {a.shape(0), a.shape(1), 1}, s);
  return a;
}

namespace {
template <typename F>
std::vector<array> each(const std::vector<array>& a, F&& f) {
  std::vector<array> out;
  out.reserve(a.size());
  for (const array& x : a) out.push_back(f(x));
  return out;
}
}  // namespace

std::vector<array> atleast_1d(const std::vector<array>& a, StreamOrDevice s) {
  return each(a, [&](const array& x) { return atleast_1d(x, s); });
}
std::vector<array> atleast_2d(const std::vector<array>& a, StreamOrDevice s) {
  return each(a, [&](const array& x) { return atleast_2d(x, s); });
}
std::vector<array> atleast_3d(const std::vector<array>& a, StreamOrDevice s) {
  return each(a, [&](const array& x) { return atleast_3d(x, s); });
}

std::vector<array> broadcast_arrays(const std::vector<array>& inputs, StreamOrDevice s) {
  OuterOp outer("broadcast_arrays");
  Shape shape;
  for (const array& x : inputs) shape = detail::broadcast_or_fail(shape, x.shape(), "broadcast_arrays");
  return each(inputs, [&](const array& x) { return broadcast_to(x, shape, s); });
}

// ---------------------------------------------------------------- views

array as_strided(array a, Shape shape, Strides strides, size_t offset, StreamOrDevice s) {
  OuterOp outer("as_strided");
  detail::check_shape(shape, "as_strided");
  if (strides.size() != shape.size()) {
    fail("as_strided", cat("shape ", tuple_str(shape), " and strides ", tuple_str(strides),
                           " must have the same length."));
  }
  // Every element the view reaches must lie in a's elements: MLX leaves this
  // unchecked and reads past the buffer.
  bool empty = false;
  int64_t lo = static_cast<int64_t>(offset), hi = lo;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) empty = true;
    int64_t span = int64_t(std::max(shape[i] - 1, 0)) * strides[i];
    (span < 0 ? lo : hi) += span;
  }
  if (!empty && (lo < 0 || hi >= static_cast<int64_t>(a.size()))) {
    fail("as_strided", cat("shape ", tuple_str(shape), ", strides ", tuple_str(strides),
                           " and offset ", offset, " reach elements [", lo, ", ", hi,
                           "], outside the ", a.size(), " elements of the input."));
  }
  array in = contiguous(a, false, s);
  return make_array(std::move(shape), a.dtype(),
                    std::make_shared<detail::View>(std::move(strides), static_cast<int64_t>(offset)),
                    {in}, s, "as_strided");
}

array diagonal(const array& a, int offset, int axis1, int axis2, StreamOrDevice s) {
  if (a.ndim() < 2) {
    fail("diagonal", cat("needs an array of at least 2 dimensions, got shape ",
                         tuple_str(a.shape()), "."));
  }
  int ax1 = normalize_axis(axis1, a.ndim(), "diagonal");
  int ax2 = normalize_axis(axis2, a.ndim(), "diagonal");
  if (ax1 == ax2) {
    fail("diagonal", cat("axis1 (", axis1, ") and axis2 (", axis2, ") are the same axis."));
  }
  const int64_t n1 = a.shape(ax1), n2 = a.shape(ax2);
  const int64_t start1 = std::max(0, -offset), start2 = std::max(0, offset);
  const int64_t len = std::max<int64_t>(0, std::min(n1 - start1, n2 - start2));
  Shape shape;
  for (int i = 0; i < a.ndim(); ++i) {
    if (i != ax1 && i != ax2) shape.push_back(a.shape(i));
  }
  shape.push_back(static_cast<int32_t>(len));
  return make_array(std::move(shape), a.dtype(),
                    std::make_shared<detail::View>(
                        detail::View::Kind::diagonal, "diagonal", std::vector<int>{ax1, ax2},
                        Shape{static_cast<int32_t>(start1), static_cast<int32_t>(start2)}),
                    {a}, s, "diagonal");
}

array diag(const array& a, int k, StreamOrDevice s) {
  OuterOp outer("diag");
  if (a.ndim() == 2) return diagonal(a, k, 0, 1, s);
  if (a.ndim() != 1) {
    fail("diag", cat("needs a 1- or 2-dimensional array, got shape ", tuple_str(a.shape()), "."));
  }
  // Row i of the square result holds a[i] (k >= 0) or a[i + k] (k < 0) on
  // diagonal k.
  const int n = a.shape(0) + std::abs(k);
  array col = pad(a, {{std::max(0, -k), std::max(0, k)}}, array(0, a.dtype()), "constant", s);
  col = reshape(col, {n, 1}, s);
  return where(eye(n, n, k, bool_, s), col, zeros({1}, a.dtype(), s), s);
}

array flip(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  OuterOp outer("flip");
  std::vector<int> ax = normalize_axes(axes, a.ndim(), "flip");
  Shape start(a.ndim(), 0), stop(a.shape()), step(a.ndim(), 1);
  for (int i : ax) {
    start[i] = -1;
    stop[i] = -a.shape(i) - 1;
    step[i] = -1;
  }
  return slice(a, std::move(start), std::move(stop), std::move(step), s);
}
array flip(const array& a, int axis, StreamOrDevice s) {
  return flip(a, std::vector<int>{axis}, s);
}
array flip(const array& a, StreamOrDevice s) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  return flip(a, axes, s);
}

array moveaxis(const array& a, int source, int destination, StreamOrDevice s) {
  OuterOp outer("moveaxis");
  int from = normalize_axis(source, a.ndim(), "moveaxis");
  int to = normalize_axis(destination, a.ndim(), "moveaxis");
  std::vector<int> perm(a.ndim());
  std::iota(perm.begin(), perm.end(), 0);
  perm.erase(perm.begin() + from);
  perm.insert(perm.begin() + to, from);
  return transpose(a, perm, s);
}

array matrix_transpose(const array& a, StreamOrDevice s) {
  OuterOp outer("matrix_transpose");
  if (a.ndim() < 2) {
    fail("matrix_transpose", cat("needs at least 2 dimensions, got shape ",
                                 tuple_str(a.shape()), "."));
  }
  return swapaxes(a, -1, -2, s);
}

// ---------------------------------------------------------------- repeating

array repeat(const array& arr, int repeats, int axis, StreamOrDevice s) {
  OuterOp outer("repeat");
  int ax = normalize_axis(axis, arr.ndim(), "repeat");
  if (repeats < 0) fail("repeat", cat("repeats must be non-negative, got ", repeats, "."));
  array x = expand_dims(arr, ax + 1, s);
  Shape wide = x.shape();
  wide[ax + 1] = repeats;
  return flatten(broadcast_to(x, wide, s), ax, ax + 1, s);
}
array repeat(const array& arr, int repeats, StreamOrDevice s) {
  OuterOp outer("repeat");
  return repeat(flatten(arr, s), repeats, 0, s);
}

array tile(const array& arr, std::vector<int> reps, StreamOrDevice s) {
  OuterOp outer("tile");
  for (int r : reps) {
    if (r < 0) fail("tile", cat("reps must be non-negative, got ", tuple_str(reps), "."));
  }
  const int nd = std::max<int>(arr.ndim(), static_cast<int>(reps.size()));
  reps.insert(reps.begin(), nd - reps.size(), 1);
  Shape in = arr.shape();
  in.insert(in.begin(), nd - in.size(), 1);
  // [1, n0, 1, n1, ...] broadcast to [r0, n0, r1, n1, ...], then merged pairwise.
  Shape split, wide, result;
  for (int i = 0; i < nd; ++i) {
    split.insert(split.end(), {1, in[i]});
    wide.insert(wide.end(), {reps[i], in[i]});
    result.push_back(reps[i] * in[i]);
  }
  return reshape(broadcast_to(reshape(arr, split, s), wide, s), result, s);
}

// ---------------------------------------------------------------- roll

array roll(const array& a, const Shape& shift, const std::vector<int>& axes, StreamOrDevice s) {
  OuterOp outer("roll");
  if (shift.size() != axes.size()) {
    fail("roll", cat("shift ", tuple_str(shift), " and axes ", tuple_str(axes),
                     " must have the same length."));
  }
  array out = a;
  for (size_t i = 0; i < axes.size(); ++i) {
    int ax = normalize_axis(axes[i], a.ndim(), "roll");
    const int n = a.shape(ax);
    if (n == 0) continue;
    const int k = ((shift[i] % n) + n) % n;
    if (k == 0) continue;
    auto parts = split(out, Shape{n - k}, ax, s);
    out = concatenate({parts[1], parts[0]}, ax, s);
  }
  return out;
}
array roll(const array& a, int shift, StreamOrDevice s) {
  OuterOp outer("roll");
  return reshape(roll(flatten(a, s), Shape{shift}, std::vector<int>{0}, s), a.shape(), s);
}
array roll(const array& a, const Shape& shift, StreamOrDevice s) {
  OuterOp outer("roll");
  int64_t total = 0;
  for (int32_t v : shift) total += v;
  const int64_t n = std::max<int64_t>(a.size(), 1);
  return roll(a, static_cast<int>(total % n), s);
}
array roll(const array& a, int shift, int axis, StreamOrDevice s) {
  return roll(a, Shape{shift}, std::vector<int>{axis}, s);
}
array roll(const array& a, int shift, const std::vector<int>& axes, StreamOrDevice s) {
  return roll(a, Shape(axes.size(), shift), axes, s);
}
array roll(const array& a, const Shape& shift, int axis, StreamOrDevice s) {
  OuterOp outer("roll");
  array out = a;
  for (int32_t v : shift) out = roll(out, Shape{v}, std::vector<int>{axis}, s);
  return out;
}

// ---------------------------------------------------------------- splitting

array unflatten(const array& a, int axis, Shape shape, StreamOrDevice s) {
  OuterOp outer("unflatten");
  int ax = normalize_axis(axis, a.ndim(), "unflatten");
  if (shape.empty()) fail("unflatten", "needs a non-empty shape.");
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) fail("unflatten", cat("only one dimension can be -1, got ", tuple_str(shape), "."));
      infer = static_cast<int>(i);
    } else if (shape[i] < 0) {
      fail("unflatten", cat("negative dimension in shape ", tuple_str(shape), "."));
    } else {
      known *= shape[i];
    }
  }
  const int64_t n = a.shape(ax);
  if (infer >= 0 && known > 0 && n % known == 0) shape[infer] = static_cast<int32_t>(n / known);
  if ((infer >= 0 && (known == 0 || n % known != 0)) || (infer < 0 && known != n)) {
    fail("unflatten", cat("cannot split axis ", axis, " of size ", n, " into ",
                          tuple_str(shape), "."));
  }
  Shape out = a.shape();
  out.erase(out.begin() + ax);
  out.insert(out.begin() + ax, shape.begin(), shape.end());
  return reshape(a, out, s);
}

std::vector<array> unstack(const array& a, int axis, StreamOrDevice s) {
  OuterOp outer("unstack");
  if (a.ndim() == 0) fail("unstack", "cannot unstack a scalar.");
  int ax = normalize_axis(axis, a.ndim(), "unstack");
  std::vector<array> out;
  out.reserve(a.shape(ax));
  for (int i = 0; i < a.shape(ax); ++i) out.push_back(take(a, i, ax, s));
  return out;
}
std::vector<array> unstack(const array& a, StreamOrDevice s) { return unstack(a, 0, s); }

std::vector<array> meshgrid(const std::vector<array>& arrays, bool sparse,
                            const std::string& indexing, StreamOrDevice s) {
  OuterOp outer("meshgrid");
  if (indexing != "xy" && indexing != "ij") {
    fail("meshgrid", cat("indexing must be \"xy\" or \"ij\", got \"", indexing, "\"."));
  }
  const int n = static_cast<int>(arrays.size());
  Shape full;
  for (const array& x : arrays) full.push_back(static_cast<int32_t>(x.size()));
  if (indexing == "xy" && n > 1) std::swap(full[0], full[1]);
  std::vector<array> out;
  for (int i = 0; i < n; ++i) {
    int at = (indexing == "xy" && n > 1 && i < 2) ? 1 - i : i;
    Shape shape(n, 1);
    shape[at] = static_cast<int32_t>(arrays[i].size());
    array x = reshape(arrays[i], shape, s);
    out.push_back(sparse ? x : broadcast_to(x, full, s));
  }
  return out;
}

// ---------------------------------------------------------------- triangles

array tri(int n, int m, int k, Dtype type, StreamOrDevice s) {
  OuterOp outer("tri");
  if (n < 0 || m < 0) fail("tri", cat("sizes must be non-negative, got ", n, " and ", m, "."));
  array rows = reshape(arange(0, n, int32, s), {n, 1}, s);
  array cols = reshape(arange(0, m, int32, s), {1, m}, s);
  return astype(less_equal(subtract(cols, rows, s), array(k), s), type, s);
}
array tri(int n, Dtype type, StreamOrDevice s) { return tri(n, n, 0, type, s); }

array tril(array x, int k, StreamOrDevice s) {
  OuterOp outer("tril");
  if (x.ndim() < 2) fail("tril", cat("needs at least 2 dimensions, got shape ", tuple_str(x.shape()), "."));
  array mask = tri(x.shape(-2), x.shape(-1), k, bool_, s);
  return where(mask, x, zeros({1}, x.dtype(), s), s);
}
array triu(array x, int k, StreamOrDevice s) {
  OuterOp outer("triu");
  if (x.ndim() < 2) fail("triu", cat("needs at least 2 dimensions, got shape ", tuple_str(x.shape()), "."));
  array mask = tri(x.shape(-2), x.shape(-1), k - 1, bool_, s);
  return where(mask, zeros({1}, x.dtype(), s), x, s);
}

// ---------------------------------------------------------------- graph

std::vector<array> depends(const std::vector<array>& inputs,
                           const std::vector<array>& dependencies) {
  std::vector<array> out;
  out.reserve(inputs.size());
  for (const array& x : inputs) {
    std::vector<array> in{x};
    in.insert(in.end(), dependencies.begin(), dependencies.end());
    out.push_back(make_array(x.shape(), x.dtype(), std::make_shared<detail::Depends>(),
                             std::move(in), {}, "depends"));
  }
  return out;
}

array stop_gradient(const array& a, StreamOrDevice s) {
  // rill has no gradients, so there is nothing to stop; the array itself.
  detail::check_stream(s, "stop_gradient");
  return a;
}

}  // namespace rill
