// Array operations. Each validates its arguments when called (throwing
// std::invalid_argument naming the op and the values) and records a node;
// nothing is computed until the result is evaluated.
#pragma once

#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "rill/array.h"
#include "rill/op_list.h"
#include "rill/stream.h"

namespace rill {

// ---- Creation ----
array zeros(const Shape& shape, Dtype dtype, StreamOrDevice s = {});
array zeros(const Shape& shape, StreamOrDevice s = {});
array ones(const Shape& shape, Dtype dtype, StreamOrDevice s = {});
array ones(const Shape& shape, StreamOrDevice s = {});
array full(Shape shape, array vals, Dtype dtype, StreamOrDevice s = {});
array full(Shape shape, array vals, StreamOrDevice s = {});
template <typename T>
array full(Shape shape, T val, Dtype dtype, StreamOrDevice s = {}) {
  return full(std::move(shape), array(val, dtype), dtype, s);
}
template <typename T>
array full(Shape shape, T val, StreamOrDevice s = {}) {
  return full(std::move(shape), array(val), s);
}
array zeros_like(const array& a, StreamOrDevice s = {});
array ones_like(const array& a, StreamOrDevice s = {});
template <typename T>
array full_like(const array& a, T val, StreamOrDevice s = {}) {
  return full(a.shape(), array(val, a.dtype()), a.dtype(), s);
}

array arange(double start, double stop, double step, Dtype dtype, StreamOrDevice s = {});
array arange(double start, double stop, double step, StreamOrDevice s = {});
array arange(double start, double stop, Dtype dtype, StreamOrDevice s = {});
array arange(double start, double stop, StreamOrDevice s = {});
array arange(double stop, Dtype dtype, StreamOrDevice s = {});
array arange(double stop, StreamOrDevice s = {});
array arange(int start, int stop, int step, StreamOrDevice s = {});
array arange(int start, int stop, StreamOrDevice s = {});
array arange(int stop, StreamOrDevice s = {});

array eye(int n, int m, int k, Dtype dtype, StreamOrDevice s = {});
array eye(int n, Dtype dtype, StreamOrDevice s = {});
array eye(int n, int m, StreamOrDevice s = {});
array eye(int n, int m, int k, StreamOrDevice s = {});
array eye(int n, StreamOrDevice s = {});

array astype(array a, Dtype dtype, StreamOrDevice s = {});
// A copy with its own buffer.
array copy(array a, StreamOrDevice s = {});

// ---- Unary and binary: one function per line of rill/op_list.h ----
//   array NAME(const array& a, StreamOrDevice s = {});                  (unary)
//   array NAME(const array& a, const array& b, StreamOrDevice s = {});  (binary,
//       NumPy broadcasting and type promotion)
// rill/op_list.h lists them with the dtype rule of each (divide is true
// division; comparisons and logic give bool).
#define RILL_UNARY_DECLARE_same(name) array name(const array& a, StreamOrDevice s = {});
#define RILL_UNARY_DECLARE_floating(name) RILL_UNARY_DECLARE_same(name)
#define RILL_UNARY_DECLARE_custom(name) RILL_UNARY_DECLARE_same(name)
#define RILL_UNARY_DECLARE_bitwise(name) RILL_UNARY_DECLARE_same(name)
#define RILL_UNARY_DECLARE_internal(name)
#define RILL_UNARY_DECLARE(name, rule) RILL_UNARY_DECLARE_##rule(name)
RILL_UNARY_OPS(RILL_UNARY_DECLARE)
#undef RILL_UNARY_DECLARE
#undef RILL_UNARY_DECLARE_internal
#undef RILL_UNARY_DECLARE_custom
#undef RILL_UNARY_DECLARE_bitwise
#undef RILL_UNARY_DECLARE_floating
#undef RILL_UNARY_DECLARE_same
// Rounds half to even at `decimals` places (negative: tens, hundreds, ...).
array round(const array& a, int decimals, StreamOrDevice s = {});

#define RILL_BINARY_DECLARE(name, rule) \
  array name(const array& a, const array& b, StreamOrDevice s = {});
RILL_BINARY_OPS(RILL_BINARY_DECLARE)
#undef RILL_BINARY_DECLARE

// Which elements are NaN, +-inf, finite, +inf, -inf (bool; integers and bool
// are finite).
array isnan(const array& a, StreamOrDevice s = {});
array isinf(const array& a, StreamOrDevice s = {});
array isfinite(const array& a, StreamOrDevice s = {});
array isposinf(const array& a, StreamOrDevice s = {});
array isneginf(const array& a, StreamOrDevice s = {});

// NaN -> nan, +inf -> posinf, -inf -> neginf (by default the dtype's largest
// and lowest finite values) in a floating array; other dtypes unchanged.
array nan_to_num(const array& a, float nan = 0.0f, std::optional<float> posinf = std::nullopt,
                 std::optional<float> neginf = std::nullopt, StreamOrDevice s = {});
// a limited to [a_min, a_max] (either may be absent, not both), broadcasting,
// with maximum's and minimum's promotion.
array clip(const array& a, const std::optional<array>& a_min, const std::optional<array>& a_max,
           StreamOrDevice s = {});
// {floor_divide(a, b), remainder(a, b)}.
std::vector<array> divmod(const array& a, const array& b, StreamOrDevice s = {});

// Picks x where condition is true, else y (all three broadcast).
array where(const array& condition, const array& x, const array& y, StreamOrDevice s = {});

// The shape that NumPy broadcasting gives; throws std::invalid_argument if none.
Shape broadcast_shapes(const Shape& a, const Shape& b);

// A C++ scalar next to an array takes the array's dtype when it fits its kind
// (an integer with any numeric array, a float with a floating array), as MLX's
// weakly typed Python scalars do; otherwise the usual promotion applies.
array scalar_like(double val, const array& other);
array scalar_like(long long val, const array& other);
array scalar_like(bool val, const array& other);

namespace detail {
template <typename T>
array scalar_for(T val, const array& other) {
  if constexpr (std::is_same_v<T, bool>) {
    return scalar_like(val, other);
  } else if constexpr (std::is_integral_v<T>) {
    return scalar_like(static_cast<long long>(val), other);
  } else {
    return scalar_like(static_cast<double>(val), other);
  }
}
template <typename T>
inline constexpr bool is_scalar_v = std::is_arithmetic_v<T>;
}  // namespace detail

#define RILL_BINARY_OPERATOR(OP, FN)                                              \
  inline array operator OP(const array& a, const array& b) { return FN(a, b); }   \
  template <typename T, std::enable_if_t<detail::is_scalar_v<T>, int> = 0>        \
  array operator OP(const array& a, T b) {                                        \
    return FN(a, detail::scalar_for(b, a));                                       \
  }                                                                               \
  template <typename T, std::enable_if_t<detail::is_scalar_v<T>, int> = 0>        \
  array operator OP(T a, const array& b) {                                        \
    return FN(detail::scalar_for(a, b), b);                                       \
  }
RILL_BINARY_OPERATOR(+, add)
RILL_BINARY_OPERATOR(-, subtract)
RILL_BINARY_OPERATOR(*, multiply)
RILL_BINARY_OPERATOR(/, divide)
RILL_BINARY_OPERATOR(%, remainder)
RILL_BINARY_OPERATOR(==, equal)
RILL_BINARY_OPERATOR(!=, not_equal)
RILL_BINARY_OPERATOR(<, less)
RILL_BINARY_OPERATOR(<=, less_equal)
RILL_BINARY_OPERATOR(>, greater)
RILL_BINARY_OPERATOR(>=, greater_equal)
RILL_BINARY_OPERATOR(&&, logical_and)
RILL_BINARY_OPERATOR(||, logical_or)
RILL_BINARY_OPERATOR(&, bitwise_and)
RILL_BINARY_OPERATOR(|, bitwise_or)
RILL_BINARY_OPERATOR(^, bitwise_xor)
RILL_BINARY_OPERATOR(<<, left_shift)
RILL_BINARY_OPERATOR(>>, right_shift)
#undef RILL_BINARY_OPERATOR
inline array operator-(const array& a) { return negative(a); }
inline array operator!(const array& a) { return logical_not(a); }
inline array operator~(const array& a) { return bitwise_invert(a); }

// ---- Reductions (negative axes count from the end) ----
#define RILL_REDUCTION(NAME)                                                       \
  array NAME(const array& a, bool keepdims, StreamOrDevice s = {});                \
  array NAME(const array& a, StreamOrDevice s = {});                               \
  array NAME(const array& a, const std::vector<int>& axes, bool keepdims = false,  \
             StreamOrDevice s = {});                                               \
  array NAME(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
RILL_REDUCTION(sum)
RILL_REDUCTION(mean)
RILL_REDUCTION(prod)
RILL_REDUCTION(max)
RILL_REDUCTION(min)
RILL_REDUCTION(all)
RILL_REDUCTION(any)
#undef RILL_REDUCTION

// Index (uint32) of the first largest / smallest element, over the flattened
// array or along one axis.
array argmax(const array& a, bool keepdims, StreamOrDevice s = {});
array argmax(const array& a, StreamOrDevice s = {});
array argmax(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array argmin(const array& a, bool keepdims, StreamOrDevice s = {});
array argmin(const array& a, StreamOrDevice s = {});
array argmin(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});

// ---- Linear algebra ----
// Matrix product with NumPy semantics: 1-D operands are promoted and the
// added axis removed, batch dimensions broadcast.
array matmul(const array& a, const array& b, StreamOrDevice s = {});
// alpha * matmul(a, b) + beta * c, with c broadcast to the product's shape: a
// linear layer's bias added by the matrix product itself.
array addmm(array c, array a, array b, const float& alpha = 1.f, const float& beta = 1.f,
            StreamOrDevice s = {});

// ---- Shape and views ----
array reshape(const array& a, Shape shape, StreamOrDevice s = {});
array flatten(const array& a, int start_axis, int end_axis = -1, StreamOrDevice s = {});
array flatten(const array& a, StreamOrDevice s = {});
array transpose(const array& a, std::vector<int> axes, StreamOrDevice s = {});
array transpose(const array& a, StreamOrDevice s = {});
array swapaxes(const array& a, int axis1, int axis2, StreamOrDevice s = {});
array expand_dims(const array& a, int axis, StreamOrDevice s = {});
array expand_dims(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
array squeeze(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
array squeeze(const array& a, int axis, StreamOrDevice s = {});
array squeeze(const array& a, StreamOrDevice s = {});
array broadcast_to(const array& a, const Shape& shape, StreamOrDevice s = {});
// Elements start, start + step, ... below stop along each axis (negative
// starts and stops count from the end, as in Python).
array slice(const array& a, Shape start, Shape stop, Shape strides, StreamOrDevice s = {});
array slice(const array& a, Shape start, Shape stop, StreamOrDevice s = {});
// A row-major copy unless already row-major (or column-major when allowed).
array contiguous(const array& a, bool allow_col_major = false, StreamOrDevice s = {});

// ---- Comparison helpers ----
array isclose(const array& a, const array& b, double rtol = 1e-5, double atol = 1e-8,
              bool equal_nan = false, StreamOrDevice s = {});
array allclose(const array& a, const array& b, double rtol = 1e-5, double atol = 1e-8,
               bool equal_nan = false, StreamOrDevice s = {});
array array_equal(const array& a, const array& b, bool equal_nan = false,
                  StreamOrDevice s = {});

// ---- Softmax and friends (float32 accumulation for half types) ----
array softmax(const array& a, const std::vector<int>& axes, bool precise = false,
              StreamOrDevice s = {});
array softmax(const array& a, int axis, bool precise = false, StreamOrDevice s = {});
array softmax(const array& a, bool precise = false, StreamOrDevice s = {});
array logsumexp(const array& a, const std::vector<int>& axes, bool keepdims = false,
                StreamOrDevice s = {});
array logsumexp(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array logsumexp(const array& a, bool keepdims, StreamOrDevice s = {});
array logsumexp(const array& a, StreamOrDevice s = {});

// ---- Indexing, joining, splitting ----
// Elements of `a` at `indices` (integer, negative counts from the end) along
// `axis`, or of the flattened array. An index out of range fails the op when it
// is evaluated (the error names the index).
array take(const array& a, const array& indices, int axis, StreamOrDevice s = {});
array take(const array& a, const array& indices, StreamOrDevice s = {});
array take(const array& a, int index, int axis, StreamOrDevice s = {});
array take(const array& a, int index, StreamOrDevice s = {});
array take_along_axis(const array& a, const array& indices, int axis, StreamOrDevice s = {});
array concatenate(std::vector<array> arrays, int axis, StreamOrDevice s = {});
array concatenate(std::vector<array> arrays, StreamOrDevice s = {});
array stack(const std::vector<array>& arrays, int axis, StreamOrDevice s = {});
array stack(const std::vector<array>& arrays, StreamOrDevice s = {});
std::vector<array> split(const array& a, int num_splits, int axis, StreamOrDevice s = {});
std::vector<array> split(const array& a, int num_splits, StreamOrDevice s = {});
std::vector<array> split(const array& a, const Shape& indices, int axis, StreamOrDevice s = {});
std::vector<array> split(const array& a, const Shape& indices, StreamOrDevice s = {});
// Pads with `pad_value` (mode "constant") or the edge values (mode "edge").
array pad(const array& a, const std::vector<int>& axes, const Shape& low_pad_size,
          const Shape& high_pad_size, const array& pad_value = array(0),
          const std::string& mode = "constant", StreamOrDevice s = {});
array pad(const array& a, const std::vector<std::pair<int, int>>& pad_width,
          const array& pad_value = array(0), const std::string& mode = "constant",
          StreamOrDevice s = {});
array pad(const array& a, const std::pair<int, int>& pad_width,
          const array& pad_value = array(0), const std::string& mode = "constant",
          StreamOrDevice s = {});
array pad(const array& a, int pad_width, const array& pad_value = array(0),
          const std::string& mode = "constant", StreamOrDevice s = {});
array cumsum(const array& a, int axis, bool reverse = false, bool inclusive = true,
             StreamOrDevice s = {});

// ---- Sorting and selection (stable; NaN sorts last) ----
array sort(const array& a, int axis, StreamOrDevice s = {});
array sort(const array& a, StreamOrDevice s = {});
array argsort(const array& a, int axis, StreamOrDevice s = {});
array argsort(const array& a, StreamOrDevice s = {});
// Elements (indices) with the kth smallest in place, smaller before, larger after.
array partition(const array& a, int kth, int axis, StreamOrDevice s = {});
array partition(const array& a, int kth, StreamOrDevice s = {});
array argpartition(const array& a, int kth, int axis, StreamOrDevice s = {});
array argpartition(const array& a, int kth, StreamOrDevice s = {});
// The k largest elements along `axis`, in ascending order (MLX leaves the
// order unspecified).
array topk(const array& a, int k, int axis, StreamOrDevice s = {});
array topk(const array& a, int k, StreamOrDevice s = {});

}  // namespace rill
