// Statistics built on the reductions and sort: var, std, median,
// count_nonzero, minmax, and diff.
#include "rill/ops.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "core/format.h"
#include "core/op_checks.h"

namespace rill {

using detail::normalize_axes;
using detail::normalize_axis;

namespace {

std::vector<int> every_axis(const array& a) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  return axes;
}

// The floating dtype a statistic of `t` is given in, and the one it is
// computed in (float32 for the half types).
Dtype result_type(Dtype t) { return is_floating_point(t) ? t : float32; }
Dtype work_type(Dtype t) {
  Dtype r = result_type(t);
  return r.size < 4 ? float32 : r;
}

}  // namespace

// ---------------------------------------------------------------- var, std

array var(const array& a, const std::vector<int>& axes, bool keepdims, int ddof,
          StreamOrDevice s) {
  OuterOp outer("var");
  std::vector<int> ax = normalize_axes(axes, a.ndim(), "var");
  double n = 1;
  for (int i : ax) n *= a.shape(i);
  const Dtype w = work_type(a.dtype());
  array x = astype(a, w, s);
  array dev = subtract(x, mean(x, ax, true, s), s);
  array ss = sum(square(dev, s), ax, keepdims, s);
  // n - ddof <= 0 gives NaN (0 / 0) or inf, as NumPy and MLX do.
  array out = divide(ss, array(std::max(n - ddof, 0.0), w), s);
  return astype(out, result_type(a.dtype()), s);
}
array var(const array& a, bool keepdims, int ddof, StreamOrDevice s) {
  return var(a, every_axis(a), keepdims, ddof, s);
}
array var(const array& a, StreamOrDevice s) { return var(a, false, 0, s); }
array var(const array& a, int axis, bool keepdims, int ddof, StreamOrDevice s) {
  return var(a, std::vector<int>{axis}, keepdims, ddof, s);
}

array std(const array& a, const std::vector<int>& axes, bool keepdims, int ddof,
          StreamOrDevice s) {
  OuterOp outer("std");
  return sqrt(var(a, axes, keepdims, ddof, s), s);
}
array std(const array& a, bool keepdims, int ddof, StreamOrDevice s) {
  return std(a, every_axis(a), keepdims, ddof, s);
}
array std(const array& a, StreamOrDevice s) { return std(a, false, 0, s); }
array std(const array& a, int axis, bool keepdims, int ddof, StreamOrDevice s) {
  return std(a, std::vector<int>{axis}, keepdims, ddof, s);
}

// ---------------------------------------------------------------- median

array median(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  OuterOp outer("median");
  std::vector<int> ax = normalize_axes(axes, a.ndim(), "median");
  // The reduced axes moved last and merged into one.
  std::vector<int> perm;
  Shape kept, kept_dims = a.shape();
  for (int i = 0; i < a.ndim(); ++i) {
    if (!std::binary_search(ax.begin(), ax.end(), i)) {
      perm.push_back(i);
      kept.push_back(a.shape(i));
    }
  }
  for (int i : ax) kept_dims[i] = 1;
  perm.insert(perm.end(), ax.begin(), ax.end());
  int64_t n = 1;
  for (int i : ax) n *= a.shape(i);
  Shape flat = kept;
  flat.push_back(static_cast<int32_t>(n));
  const Dtype rt = result_type(a.dtype()), w = work_type(a.dtype());
  array out = [&] {
    if (n == 0) return full(kept, std::numeric_limits<double>::quiet_NaN(), w, s);
    array sorted = sort(reshape(transpose(a, perm, s), flat, s), -1, s);
    array mid = astype(take(sorted, static_cast<int>(n / 2), -1, s), w, s);
    if (n % 2 == 0) {
      array lo = astype(take(sorted, static_cast<int>(n / 2 - 1), -1, s), w, s);
      mid = multiply(add(lo, mid, s), array(0.5, w), s);
    }
    if (!is_floating_point(a.dtype())) return mid;
    // NaN sorts last: a slice holding one has NaN as its median.
    array last = take(sorted, static_cast<int>(n - 1), -1, s);
    return where(isnan(last, s), array(std::numeric_limits<double>::quiet_NaN(), w), mid, s);
  }();
  if (keepdims) out = reshape(out, kept_dims, s);
  return astype(out, rt, s);
}
array median(const array& a, bool keepdims, StreamOrDevice s) {
  return median(a, every_axis(a), keepdims, s);
}
array median(const array& a, StreamOrDevice s) { return median(a, false, s); }
array median(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return median(a, std::vector<int>{axis}, keepdims, s);
}

// ---------------------------------------------------------------- counting

array count_nonzero(const array& a, const std::vector<int>& axes, bool keepdims,
                    StreamOrDevice s) {
  OuterOp outer("count_nonzero");
  // A sum of bools counts in int32 (no int32 copy of the mask first).
  return sum(not_equal(a, zeros({}, a.dtype(), s), s), axes, keepdims, s);
}
array count_nonzero(const array& a, bool keepdims, StreamOrDevice s) {
  return count_nonzero(a, every_axis(a), keepdims, s);
}
array count_nonzero(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return count_nonzero(a, std::vector<int>{axis}, keepdims, s);
}

std::tuple<array, array> minmax(const array& a, const std::vector<int>& axes, bool keepdims,
                                StreamOrDevice s) {
  OuterOp outer("minmax");
  return {min(a, axes, keepdims, s), max(a, axes, keepdims, s)};
}
std::tuple<array, array> minmax(const array& a, bool keepdims, StreamOrDevice s) {
  return minmax(a, every_axis(a), keepdims, s);
}
std::tuple<array, array> minmax(const array& a, StreamOrDevice s) { return minmax(a, false, s); }
std::tuple<array, array> minmax(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return minmax(a, std::vector<int>{axis}, keepdims, s);
}

// ---------------------------------------------------------------- diff

array diff(const array& a, int n, int axis, StreamOrDevice s) {
  OuterOp outer("diff");
  if (a.ndim() == 0) fail("diff", "needs an array of at least one dimension, got a scalar.");
  if (n < 0) fail("diff", cat("order n must be non-negative, got ", n, "."));
  int ax = normalize_axis(axis, a.ndim(), "diff");
  array out = a;
  for (int i = 0; i < n && out.shape(ax) > 0; ++i) {
    const int len = out.shape(ax);
    Shape start(out.ndim(), 0), stop = out.shape();
    start[ax] = 1;
    array hi = slice(out, start, stop, s);
    start[ax] = 0;
    stop[ax] = len - 1;
    array lo = slice(out, start, stop, s);
    // Booleans differ or not, as NumPy's diff has it.
    out = out.dtype() == bool_ ? not_equal(hi, lo, s) : subtract(hi, lo, s);
  }
  return out;
}

}  // namespace rill
