// Reductions and scans: sum, mean, prod, max, min, all, any, argmax,
// argmin, softmax, logsumexp, the scans (cumsum, cumprod, cummax, cummin,
// logcumsumexp), and the sorting family.
#include "rill/ops.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>

#include "core/format.h"
#include "core/op_checks.h"
#include "core/primitives.h"

namespace rill {

using detail::normalize_axes;
using detail::normalize_axis;

// ---------------------------------------------------------------- reductions

namespace {

std::vector<int> all_axes(const array& a) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  return axes;
}

Shape reduced_shape(const Shape& in, const std::vector<int>& axes, bool keepdims) {
  Shape out;
  for (int i = 0; i < static_cast<int>(in.size()); ++i) {
    bool reduced = std::binary_search(axes.begin(), axes.end(), i);
    if (!reduced) {
      out.push_back(in[i]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  return out;
}

array reduce_op(const array& a, const std::vector<int>& axes_in, bool keepdims,
                detail::ReduceOp op, const char* name, const StreamOrDevice& s) {
  OuterOp outer(name);
  std::vector<int> axes = normalize_axes(axes_in, a.ndim(), name);
  if (op == detail::ReduceOp::max || op == detail::ReduceOp::min) {
    for (int ax : axes) {
      if (a.shape()[ax] == 0) {
        fail(name, cat("cannot reduce over axis ", ax, " of size 0 (shape ",
                       tuple_str(a.shape()), ")."));
      }
    }
  }
  if (is_complex(a.dtype()) && op == detail::ReduceOp::sum) {
    // The parts' sums.
    return detail::make_complex(reduce_op(real(a, s), axes, keepdims, op, name, s),
                                reduce_op(imag(a, s), axes, keepdims, op, name, s), s);
  }
  Dtype t = a.dtype();
  array in = a;
  switch (op) {
    case detail::ReduceOp::all:
    case detail::ReduceOp::any:
      t = bool_;
      if (a.dtype() != bool_) in = astype(a, bool_, s);
      break;
    case detail::ReduceOp::sum:
    case detail::ReduceOp::prod:
      if (t == bool_) t = int32;
      if (t == uint8) t = uint32;
      if (t != a.dtype()) in = astype(a, t, s);
      break;
    default: break;
  }
  return make_array(reduced_shape(a.shape(), axes, keepdims), t,
                    std::make_shared<detail::Reduce>(op, name, axes), {std::move(in)}, s,
                    name);
}

}  // namespace

#define RILL_DEFINE_REDUCTION(NAME)                                                      \
  array NAME(const array& a, bool keepdims, StreamOrDevice s) {                          \
    return NAME(a, all_axes(a), keepdims, s);                                            \
  }                                                                                      \
  array NAME(const array& a, StreamOrDevice s) { return NAME(a, all_axes(a), false, s); } \
  array NAME(const array& a, int axis, bool keepdims, StreamOrDevice s) {                \
    return NAME(a, std::vector<int>{axis}, keepdims, s);                                 \
  }
RILL_DEFINE_REDUCTION(sum)
RILL_DEFINE_REDUCTION(mean)
RILL_DEFINE_REDUCTION(prod)
RILL_DEFINE_REDUCTION(max)
RILL_DEFINE_REDUCTION(min)
RILL_DEFINE_REDUCTION(all)
RILL_DEFINE_REDUCTION(any)
#undef RILL_DEFINE_REDUCTION

array sum(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return reduce_op(a, axes, keepdims, detail::ReduceOp::sum, "sum", s);
}
array prod(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return reduce_op(a, axes, keepdims, detail::ReduceOp::prod, "prod", s);
}
array max(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return reduce_op(a, axes, keepdims, detail::ReduceOp::max, "max", s);
}
array min(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return reduce_op(a, axes, keepdims, detail::ReduceOp::min, "min", s);
}
array all(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return reduce_op(a, axes, keepdims, detail::ReduceOp::all, "all", s);
}
array any(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return reduce_op(a, axes, keepdims, detail::ReduceOp::any, "any", s);
}
array mean(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  OuterOp outer("mean");
  std::vector<int> norm = normalize_axes(axes, a.ndim(), "mean");
  double count = 1;
  for (int ax : norm) count *= a.shape()[ax];
  Dtype t = is_floating_point(a.dtype()) || is_complex(a.dtype()) ? a.dtype() : float32;
  // Half types sum and divide in float32: rounding the sum first loses bits.
  Dtype acc = t.size < 4 ? float32 : t;
  array in = a.dtype() == acc ? a : astype(a, acc, s);
  array total = reduce_op(in, norm, keepdims, detail::ReduceOp::sum, "mean", s);
  return astype(divide(total, array(count, acc), s), t, s);
}

namespace {

array arg_reduce_op(const array& a, int axis, bool keepdims, detail::ArgReduceOp op,
                    const char* name, const StreamOrDevice& s) {
  int ax = normalize_axis(axis, a.ndim(), name);
  if (a.shape()[ax] == 0) {
    fail(name, cat("cannot reduce over axis ", ax, " of size 0 (shape ", tuple_str(a.shape()),
                   ")."));
  }
  return make_array(reduced_shape(a.shape(), {ax}, keepdims), uint32,
                    std::make_shared<detail::ArgReduce>(op, name, ax), {a}, s, name);
}

array arg_reduce_flat(const array& a, bool keepdims, detail::ArgReduceOp op, const char* name,
                      const StreamOrDevice& s) {
  OuterOp outer(name);
  if (a.size() == 0) fail(name, cat("cannot reduce an empty array (shape ",
                                    tuple_str(a.shape()), ")."));
  array flat = reshape(a, {static_cast<int32_t>(a.size())}, s);
  array out = arg_reduce_op(flat, 0, false, op, name, s);
  if (keepdims) out = reshape(out, Shape(a.ndim(), 1), s);
  return out;
}

}  // namespace

array argmax(const array& a, bool keepdims, StreamOrDevice s) {
  return arg_reduce_flat(a, keepdims, detail::ArgReduceOp::argmax, "argmax", s);
}
array argmax(const array& a, StreamOrDevice s) { return argmax(a, false, s); }
array argmax(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return arg_reduce_op(a, axis, keepdims, detail::ArgReduceOp::argmax, "argmax", s);
}
array argmin(const array& a, bool keepdims, StreamOrDevice s) {
  return arg_reduce_flat(a, keepdims, detail::ArgReduceOp::argmin, "argmin", s);
}
array argmin(const array& a, StreamOrDevice s) { return argmin(a, false, s); }
array argmin(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return arg_reduce_op(a, axis, keepdims, detail::ArgReduceOp::argmin, "argmin", s);
}

// ---------------------------------------------------------------- softmax

namespace {

// The floating dtype an op computes in: integers and bool become float32.
Dtype at_least_float(Dtype t) {
  return is_floating_point(t) ? t : float32;
}

// The permutation that keeps the other axes in order and puts `axes` (sorted)
// last.
std::vector<int> axes_last(int ndim, const std::vector<int>& axes) {
  std::vector<int> perm;
  for (int i = 0; i < ndim; ++i) {
    if (!std::binary_search(axes.begin(), axes.end(), i)) perm.push_back(i);
  }
  perm.insert(perm.end(), axes.begin(), axes.end());
  return perm;
}

bool is_identity(const std::vector<int>& perm) {
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] != static_cast<int>(i)) return false;
  }
  return true;
}

std::vector<int> inverse(const std::vector<int>& perm) {
  std::vector<int> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<int>(i);
  return inv;
}

}  // namespace

// Always accumulates in float32 (float64 for float64), so `precise` changes
// nothing.
array softmax(const array& a, const std::vector<int>& axes, bool /*precise*/,
              StreamOrDevice s) {
  OuterOp outer("softmax");
  std::vector<int> ax = normalize_axes(axes, a.ndim(), "softmax");
  array in = astype(a, at_least_float(a.dtype()), s);
  std::vector<int> perm = axes_last(a.ndim(), ax);
  const bool moved = !is_identity(perm);
  if (moved) in = transpose(in, perm, s);
  Shape shape = in.shape();
  array out = make_array(std::move(shape), in.dtype(),
                         std::make_shared<detail::Softmax>(static_cast<int>(ax.size())),
                         {in}, s, "softmax");
  return moved ? transpose(out, inverse(perm), s) : out;
}
array softmax(const array& a, int axis, bool precise, StreamOrDevice s) {
  return softmax(a, std::vector<int>{axis}, precise, s);
}
array softmax(const array& a, bool precise, StreamOrDevice s) {
  return softmax(a, all_axes(a), precise, s);
}

// A reduction over an empty axis gives -inf (the log of an empty sum).
array logsumexp(const array& a, const std::vector<int>& axes, bool keepdims,
                StreamOrDevice s) {
  OuterOp outer("logsumexp");
  std::vector<int> ax = normalize_axes(axes, a.ndim(), "logsumexp");
  array in = astype(a, at_least_float(a.dtype()), s);
  std::vector<int> perm = axes_last(a.ndim(), ax);
  if (!is_identity(perm)) in = transpose(in, perm, s);
  array out = make_array(reduced_shape(a.shape(), ax, false), in.dtype(),
                         std::make_shared<detail::LogSumExp>(static_cast<int>(ax.size())),
                         {in}, s, "logsumexp");
  return keepdims ? reshape(out, reduced_shape(a.shape(), ax, true), s) : out;
}
array logsumexp(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return logsumexp(a, std::vector<int>{axis}, keepdims, s);
}
array logsumexp(const array& a, bool keepdims, StreamOrDevice s) {
  return logsumexp(a, all_axes(a), keepdims, s);
}
array logsumexp(const array& a, StreamOrDevice s) {
  return logsumexp(a, all_axes(a), false, s);
}

// ---------------------------------------------------------------- scans

namespace {

// MLX's dtypes: `dtype` converts the input first; a bool sum counts in int32,
// logcumsumexp of integers computes in float32; otherwise the input's dtype.
array scan_op(const array& a, int axis, bool reverse, bool inclusive,
              std::optional<Dtype> dtype, detail::ScanOp op, const StreamOrDevice& s) {
  const char* name = detail::op_name(op);
  OuterOp outer(name);
  int ax = normalize_axis(axis, a.ndim(), name);
  Dtype t = dtype.value_or(a.dtype());
  if (op == detail::ScanOp::cumsum && t == bool_) t = int32;
  if (op == detail::ScanOp::logcumsumexp && !is_floating_point(t)) t = float32;
  return make_array(a.shape(), t,
                    std::make_shared<detail::Scan>(op, ax, reverse, inclusive),
                    {astype(a, t, s)}, s, name);
}

array scan_flat(const array& a, bool reverse, bool inclusive, std::optional<Dtype> dtype,
                detail::ScanOp op, const StreamOrDevice& s) {
  OuterOp outer(detail::op_name(op));
  return scan_op(flatten(a, s), 0, reverse, inclusive, dtype, op, s);
}

}  // namespace

array cumsum(const array& a, int axis, bool reverse, bool inclusive, std::optional<Dtype> dtype,
             StreamOrDevice s) {
  return scan_op(a, axis, reverse, inclusive, dtype, detail::ScanOp::cumsum, s);
}
array cumsum(const array& a, bool reverse, bool inclusive, std::optional<Dtype> dtype,
             StreamOrDevice s) {
  return scan_flat(a, reverse, inclusive, dtype, detail::ScanOp::cumsum, s);
}
array cumprod(const array& a, int axis, bool reverse, bool inclusive, std::optional<Dtype> dtype,
              StreamOrDevice s) {
  return scan_op(a, axis, reverse, inclusive, dtype, detail::ScanOp::cumprod, s);
}
array cumprod(const array& a, bool reverse, bool inclusive, std::optional<Dtype> dtype,
              StreamOrDevice s) {
  return scan_flat(a, reverse, inclusive, dtype, detail::ScanOp::cumprod, s);
}
array cummax(const array& a, int axis, bool reverse, bool inclusive, StreamOrDevice s) {
  return scan_op(a, axis, reverse, inclusive, std::nullopt, detail::ScanOp::cummax, s);
}
array cummax(const array& a, bool reverse, bool inclusive, StreamOrDevice s) {
  return scan_flat(a, reverse, inclusive, std::nullopt, detail::ScanOp::cummax, s);
}
array cummin(const array& a, int axis, bool reverse, bool inclusive, StreamOrDevice s) {
  return scan_op(a, axis, reverse, inclusive, std::nullopt, detail::ScanOp::cummin, s);
}
array cummin(const array& a, bool reverse, bool inclusive, StreamOrDevice s) {
  return scan_flat(a, reverse, inclusive, std::nullopt, detail::ScanOp::cummin, s);
}
array logcumsumexp(const array& a, int axis, bool reverse, bool inclusive, StreamOrDevice s) {
  return scan_op(a, axis, reverse, inclusive, std::nullopt, detail::ScanOp::logcumsumexp, s);
}
array logcumsumexp(const array& a, bool reverse, bool inclusive, StreamOrDevice s) {
  return scan_flat(a, reverse, inclusive, std::nullopt, detail::ScanOp::logcumsumexp, s);
}

// ---------------------------------------------------------------- sorting

namespace {

array sort_op(const array& a, int axis, detail::SortOp op, const char* name, int kth,
              const StreamOrDevice& s) {
  int ax = normalize_axis(axis, a.ndim(), name);
  Shape shape = a.shape();
  int n = shape[ax];
  if (op == detail::SortOp::partition || op == detail::SortOp::argpartition) {
    int k = kth < 0 ? kth + n : kth;
    if (k < 0 || k >= n) {
      fail(name, cat("kth ", kth, " is out of range for axis ", ax, " of size ", n,
                     " (shape ", tuple_str(a.shape()), ")."));
    }
    kth = k;
  } else if (op == detail::SortOp::topk) {
    if (kth < 0 || kth > n) {
      fail(name, cat("k ", kth, " is out of range for axis ", ax, " of size ", n,
                     " (shape ", tuple_str(a.shape()), ")."));
    }
    shape[ax] = kth;
  }
  bool arg = op == detail::SortOp::argsort || op == detail::SortOp::argpartition;
  return make_array(std::move(shape), arg ? uint32 : a.dtype(),
                    std::make_shared<detail::Sort>(op, ax, kth), {a}, s, name);
}

}  // namespace

array sort(const array& a, int axis, StreamOrDevice s) {
  return sort_op(a, axis, detail::SortOp::sort, "sort", 0, s);
}
array sort(const array& a, StreamOrDevice s) {
  OuterOp outer("sort");
  return sort(flatten(a, s), 0, s);
}
array argsort(const array& a, int axis, StreamOrDevice s) {
  return sort_op(a, axis, detail::SortOp::argsort, "argsort", 0, s);
}
array argsort(const array& a, StreamOrDevice s) {
  OuterOp outer("argsort");
  return argsort(flatten(a, s), 0, s);
}
array partition(const array& a, int kth, int axis, StreamOrDevice s) {
  return sort_op(a, axis, detail::SortOp::partition, "partition", kth, s);
}
array partition(const array& a, int kth, StreamOrDevice s) {
  OuterOp outer("partition");
  return partition(flatten(a, s), kth, 0, s);
}
array argpartition(const array& a, int kth, int axis, StreamOrDevice s) {
  return sort_op(a, axis, detail::SortOp::argpartition, "argpartition", kth, s);
}
array argpartition(const array& a, int kth, StreamOrDevice s) {
  OuterOp outer("argpartition");
  return argpartition(flatten(a, s), kth, 0, s);
}
// The k largest in ascending order (MLX leaves the order unspecified).
array topk(const array& a, int k, int axis, StreamOrDevice s) {
  return sort_op(a, axis, detail::SortOp::topk, "topk", k, s);
}
array topk(const array& a, int k, StreamOrDevice s) {
  OuterOp outer("topk");
  return topk(flatten(a, s), k, 0, s);
}

}  // namespace rill
