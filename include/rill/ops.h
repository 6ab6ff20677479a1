// Array operations. Each validates its arguments when called (throwing
// std::invalid_argument naming the op and the values) and records a node;
// nothing is computed until the result is evaluated.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <tuple>
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

// The n x n identity matrix.
array identity(int n, Dtype dtype, StreamOrDevice s = {});
array identity(int n, StreamOrDevice s = {});
// `num` evenly spaced values from start to stop (stop left out unless
// endpoint), computed in float32 (float64 when asked) and cast to dtype.
array linspace(double start, double stop, int num, bool endpoint, Dtype dtype = float32,
               StreamOrDevice s = {});
array linspace(double start, double stop, int num = 50, Dtype dtype = float32,
               StreamOrDevice s = {});
// Lower-triangular ones: element (i, j) is 1 where j - i <= k.
array tri(int n, int m, int k, Dtype type, StreamOrDevice s = {});
array tri(int n, Dtype type, StreamOrDevice s = {});
// Windows of length M (float32; [1] for M == 1), as NumPy defines them.
array hanning(int M, StreamOrDevice s = {});
array hamming(int M, StreamOrDevice s = {});
array blackman(int M, StreamOrDevice s = {});
array bartlett(int M, StreamOrDevice s = {});

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
// +a (the array itself).
array positive(const array& a, StreamOrDevice s = {});
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

// ---- Statistics (floating results: float32 for integer inputs) ----
// Variance and standard deviation, divided by n - ddof.
#define RILL_STAT(NAME)                                                                   \
  array NAME(const array& a, bool keepdims, int ddof = 0, StreamOrDevice s = {});          \
  array NAME(const array& a, StreamOrDevice s = {});                                       \
  array NAME(const array& a, const std::vector<int>& axes, bool keepdims = false,          \
             int ddof = 0, StreamOrDevice s = {});                                         \
  array NAME(const array& a, int axis, bool keepdims = false, int ddof = 0,                \
             StreamOrDevice s = {});
RILL_STAT(var)
RILL_STAT(std)
#undef RILL_STAT
// The middle value (the mean of the two middle ones for an even count; NaN
// when a NaN is among them).
array median(const array& a, bool keepdims, StreamOrDevice s = {});
array median(const array& a, StreamOrDevice s = {});
array median(const array& a, const std::vector<int>& axes, bool keepdims = false,
             StreamOrDevice s = {});
array median(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
// How many elements are not zero (int32).
array count_nonzero(const array& a, bool keepdims = false, StreamOrDevice s = {});
array count_nonzero(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array count_nonzero(const array& a, const std::vector<int>& axes, bool keepdims = false,
                    StreamOrDevice s = {});
// {min, max} in one call.
std::tuple<array, array> minmax(const array& a, bool keepdims, StreamOrDevice s = {});
std::tuple<array, array> minmax(const array& a, StreamOrDevice s = {});
std::tuple<array, array> minmax(const array& a, const std::vector<int>& axes,
                                bool keepdims = false, StreamOrDevice s = {});
std::tuple<array, array> minmax(const array& a, int axis, bool keepdims = false,
                                StreamOrDevice s = {});
// The n-th difference along `axis` (booleans: not_equal).
array diff(const array& a, int n = 1, int axis = -1, StreamOrDevice s = {});
// The number of elements over `axes` (its reciprocal when inverted) in dtype.
array number_of_elements(const array& a, std::vector<int> axes, bool inverted,
                         Dtype dtype = int32, StreamOrDevice s = {});

// ---- Linear algebra ----
// Matrix product with NumPy semantics: 1-D operands are promoted and the
// added axis removed, batch dimensions broadcast.
array matmul(const array& a, const array& b, StreamOrDevice s = {});
// alpha * matmul(a, b) + beta * c, with c broadcast to the product's shape: a
// linear layer's bias added by the matrix product itself.
array addmm(array c, array a, array b, const float& alpha = 1.f, const float& beta = 1.f,
            StreamOrDevice s = {});

// Sums of products over axes_a of a and axes_b of b (the last `axis` of a
// with the first `axis` of b); floating dtypes, as matmul.
array tensordot(const array& a, const array& b, const int axis = 2, StreamOrDevice s = {});
array tensordot(const array& a, const array& b, const std::vector<int>& axes_a,
                const std::vector<int>& axes_b, StreamOrDevice s = {});
// Over the last axes of both (a scalar operand multiplies).
array inner(const array& a, const array& b, StreamOrDevice s = {});
// Every element of a (flattened) times every element of b.
array outer(const array& a, const array& b, StreamOrDevice s = {});
// The Kronecker product.
array kron(const array& a, const array& b, StreamOrDevice s = {});
// The sum of diagonal `offset` of the axis1 x axis2 planes.
array trace(const array& a, int offset, int axis1, int axis2, Dtype dtype, StreamOrDevice s = {});
array trace(const array& a, int offset, int axis1, int axis2, StreamOrDevice s = {});
array trace(const array& a, StreamOrDevice s = {});
// sum(a * b, axis), broadcasting.
array vecdot(const array& a, const array& b, int axis = -1, StreamOrDevice s = {});

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
// Braced starts are a Shape, not an array of starts (as in MLX).
inline array slice(const array& a, std::initializer_list<int> start, Shape stop, Shape strides,
                   StreamOrDevice s = {}) {
  return slice(a, Shape(start), std::move(stop), std::move(strides), s);
}
array slice(const array& a, Shape start, Shape stop, StreamOrDevice s = {});
// A row-major copy unless already row-major (or column-major when allowed).
array contiguous(const array& a, bool allow_col_major = false, StreamOrDevice s = {});

// A view with the given element strides and offset over a's elements in
// row-major order (a copy is made first if a is not row-contiguous). Every
// element reached must be one of a's, else std::invalid_argument.
array as_strided(array a, Shape shape, Strides strides, size_t offset, StreamOrDevice s = {});
array atleast_1d(const array& a, StreamOrDevice s = {});
std::vector<array> atleast_1d(const std::vector<array>& a, StreamOrDevice s = {});
array atleast_2d(const array& a, StreamOrDevice s = {});
std::vector<array> atleast_2d(const std::vector<array>& a, StreamOrDevice s = {});
array atleast_3d(const array& a, StreamOrDevice s = {});
std::vector<array> atleast_3d(const std::vector<array>& a, StreamOrDevice s = {});
std::vector<array> broadcast_arrays(const std::vector<array>& inputs, StreamOrDevice s = {});
// Diagonal `offset` of the axis1 x axis2 planes as the last axis (a view).
array diagonal(const array& a, int offset = 0, int axis1 = 0, int axis2 = 1,
               StreamOrDevice s = {});
// A 1-D array's values on diagonal k of a square matrix, or diagonal k of a
// matrix.
array diag(const array& a, int k = 0, StreamOrDevice s = {});
// Reversed along the axes (all when none are given): a view.
array flip(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
array flip(const array& a, int axis, StreamOrDevice s = {});
array flip(const array& a, StreamOrDevice s = {});
array moveaxis(const array& a, int source, int destination, StreamOrDevice s = {});
// The last two axes swapped.
array matrix_transpose(const array& a, StreamOrDevice s = {});
// Each element `repeats` times along `axis` (of the flattened array without).
array repeat(const array& arr, int repeats, int axis, StreamOrDevice s = {});
array repeat(const array& arr, int repeats, StreamOrDevice s = {});
// Rolled by `shift` along each axis (of the flattened array without axes).
array roll(const array& a, int shift, StreamOrDevice s = {});
array roll(const array& a, const Shape& shift, StreamOrDevice s = {});
array roll(const array& a, int shift, int axis, StreamOrDevice s = {});
array roll(const array& a, int shift, const std::vector<int>& axes, StreamOrDevice s = {});
array roll(const array& a, const Shape& shift, int axis, StreamOrDevice s = {});
array roll(const array& a, const Shape& shift, const std::vector<int>& axes, StreamOrDevice s = {});
// The array repeated reps[i] times along axis i (NumPy's tile).
array tile(const array& arr, std::vector<int> reps, StreamOrDevice s = {});
// Axis `axis` split into `shape` (one entry may be -1).
array unflatten(const array& a, int axis, Shape shape, StreamOrDevice s = {});
// The slices along `axis`, each without it.
std::vector<array> unstack(const array& a, int axis, StreamOrDevice s = {});
std::vector<array> unstack(const array& a, StreamOrDevice s = {});
// Coordinate grids ("xy": Cartesian, "ij": matrix indexing).
std::vector<array> meshgrid(const std::vector<array>& arrays, bool sparse = false,
                            const std::string& indexing = "xy", StreamOrDevice s = {});
// The lower (upper) triangle from diagonal k of the last two axes, zeros elsewhere.
array tril(array x, int k = 0, StreamOrDevice s = {});
array triu(array x, int k = 0, StreamOrDevice s = {});
// The inputs, each evaluated only after every dependency has been.
std::vector<array> depends(const std::vector<array>& inputs,
                           const std::vector<array>& dependencies);
// The array itself (rill has no gradients to stop).
array stop_gradient(const array& a, StreamOrDevice s = {});

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
// MLX's gather: for each position i of the index arrays (broadcast
// together), the slice of `slice_sizes` of `a` starting at indices[k][i]
// along axes[k] (0 along the others); the result is [index shape...,
// slice_sizes...]. A start whose slice leaves its axis fails at evaluation.
array gather(const array& a, const std::vector<array>& indices, const std::vector<int>& axes,
             const Shape& slice_sizes, StreamOrDevice s = {});
inline array gather(const array& a, const array& indices, int axis, const Shape& slice_sizes,
                    StreamOrDevice s = {}) {
  return gather(a, {indices}, std::vector<int>{axis}, slice_sizes, s);
}
// MLX's scatter: a with `updates` ([index shape..., slice...]) written at the
// positions gather would read (assign: one of equal positions wins) or
// combined with what is there (add, prod, max, min).
#define RILL_SCATTER_DECLARE(name, rule)                                                   \
  array name(const array& a, const std::vector<array>& indices, const array& updates,     \
             const std::vector<int>& axes, StreamOrDevice s = {});                        \
  inline array name(const array& a, const array& indices, const array& updates, int axis, \
                    StreamOrDevice s = {}) {                                               \
    return name(a, {indices}, updates, std::vector<int>{axis}, s);                         \
  }
RILL_SCATTER_OPS(RILL_SCATTER_DECLARE)
#undef RILL_SCATTER_DECLARE
// a with values (broadcast to the indices' shape) put at `indices` along
// `axis` (take_along_axis's positions); scatter_add_axis adds them.
array put_along_axis(const array& a, const array& indices, const array& values, int axis,
                     StreamOrDevice s = {});
array scatter_add_axis(const array& a, const array& indices, const array& values, int axis,
                       StreamOrDevice s = {});
// a with its elements where mask (bool, broadcast to a) is true replaced, in
// row-major order, by src's first elements.
array masked_scatter(const array& a, const array& mask, const array& src, StreamOrDevice s = {});

// src with the region slice(src, start, stop, strides) replaced by update
// (broadcast to the region), or combined with it (add, prod, max, min).
#define RILL_SLICE_UPDATE_DECLARE(NAME)                                                      \
  array NAME(const array& src, const array& update, Shape start, Shape stop, Shape strides, \
             StreamOrDevice s = {});                                                         \
  array NAME(const array& src, const array& update, Shape start, Shape stop,                \
             StreamOrDevice s = {});
RILL_SLICE_UPDATE_DECLARE(slice_update)
RILL_SLICE_UPDATE_DECLARE(slice_update_add)
RILL_SLICE_UPDATE_DECLARE(slice_update_prod)
RILL_SLICE_UPDATE_DECLARE(slice_update_max)
RILL_SLICE_UPDATE_DECLARE(slice_update_min)
#undef RILL_SLICE_UPDATE_DECLARE
// Braced starts are a Shape, not an array of starts.
inline array slice_update(const array& src, const array& update, std::initializer_list<int> start,
                          Shape stop, StreamOrDevice s = {}) {
  return slice_update(src, update, Shape(start), std::move(stop), s);
}
// With starts known only when evaluated: `start` (integer, one per axis in
// `axes`) gives the region's first index along those axes (0 along others).
array slice(const array& a, const array& start, std::vector<int> axes, Shape slice_size,
            StreamOrDevice s = {});
array slice_update(const array& src, const array& update, const array& start,
                   std::vector<int> axes, StreamOrDevice s = {});

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
// ---- Scans along an axis (of the flattened array without one) ----
// cumsum and cumprod convert to `dtype` first (a bool sum counts in int32);
// cummax and cummin propagate NaN; logcumsumexp computes integers in float32.
// Exclusive scans start from the identity (0, 1, the lowest, the highest, -inf).
#define RILL_SCAN_DTYPE(NAME)                                                              \
  array NAME(const array& a, bool reverse = false, bool inclusive = true,                 \
             std::optional<Dtype> dtype = std::nullopt, StreamOrDevice s = {});            \
  inline array NAME(const array& a, bool reverse, bool inclusive, StreamOrDevice s) {     \
    return NAME(a, reverse, inclusive, std::nullopt, s);                                   \
  }                                                                                        \
  array NAME(const array& a, int axis, bool reverse = false, bool inclusive = true,       \
             std::optional<Dtype> dtype = std::nullopt, StreamOrDevice s = {});            \
  inline array NAME(const array& a, int axis, bool reverse, bool inclusive,                \
                    StreamOrDevice s) {                                                    \
    return NAME(a, axis, reverse, inclusive, std::nullopt, s);                             \
  }
RILL_SCAN_DTYPE(cumsum)
RILL_SCAN_DTYPE(cumprod)
#undef RILL_SCAN_DTYPE
#define RILL_SCAN(NAME)                                                                    \
  array NAME(const array& a, bool reverse = false, bool inclusive = true,                 \
             StreamOrDevice s = {});                                                       \
  array NAME(const array& a, int axis, bool reverse = false, bool inclusive = true,       \
             StreamOrDevice s = {});
RILL_SCAN(cummax)
RILL_SCAN(cummin)
RILL_SCAN(logcumsumexp)
#undef RILL_SCAN

// ---- Convolution (channels last: input [N, spatial..., C_in], weight
// [C_out, kernel spatial..., C_in / groups], output [N, spatial..., C_out];
// floating input, the weight promoted with it) ----
// The general form: the input dilated by input_dilation and padded by
// padding_lo / padding_hi (a negative side crops), the kernel dilated by
// kernel_dilation (and flipped along its spatial axes when `flip`), applied
// every `stride` elements, channels split into `groups`. Each per-axis setting
// may be empty (its default), one value for every axis, or one per axis.
array conv_general(array input, array weight, std::vector<int> stride = {},
                   std::vector<int> padding_lo = {}, std::vector<int> padding_hi = {},
                   std::vector<int> kernel_dilation = {}, std::vector<int> input_dilation = {},
                   int groups = 1, bool flip = false, StreamOrDevice s = {});
// The same padding on both sides.
inline array conv_general(const array& input, const array& weight, std::vector<int> stride = {},
                          std::vector<int> padding = {}, std::vector<int> kernel_dilation = {},
                          std::vector<int> input_dilation = {}, int groups = 1,
                          bool flip = false, StreamOrDevice s = {}) {
  return conv_general(input, weight, std::move(stride), padding, padding,
                      std::move(kernel_dilation), std::move(input_dilation), groups, flip, s);
}
array conv1d(const array& input, const array& weight, int stride = 1, int padding = 0,
             int dilation = 1, int groups = 1, StreamOrDevice s = {});
array conv2d(const array& input, const array& weight,
             const std::pair<int, int>& stride = {1, 1},
             const std::pair<int, int>& padding = {0, 0},
             const std::pair<int, int>& dilation = {1, 1}, int groups = 1,
             StreamOrDevice s = {});
array conv3d(const array& input, const array& weight,
             const std::tuple<int, int, int>& stride = {1, 1, 1},
             const std::tuple<int, int, int>& padding = {0, 0, 0},
             const std::tuple<int, int, int>& dilation = {1, 1, 1}, int groups = 1,
             StreamOrDevice s = {});
// Transposed convolutions (the gradient of conv*d with respect to its input),
// with the weight laid out as conv*d's: output size (in - 1) * stride -
// 2 * padding + dilation * (kernel - 1) + 1 + output_padding per axis.
array conv_transpose1d(const array& input, const array& weight, int stride = 1,
                       int padding = 0, int dilation = 1, int output_padding = 0,
                       int groups = 1, StreamOrDevice s = {});
array conv_transpose2d(const array& input, const array& weight,
                       const std::pair<int, int>& stride = {1, 1},
                       const std::pair<int, int>& padding = {0, 0},
                       const std::pair<int, int>& dilation = {1, 1},
                       const std::pair<int, int>& output_padding = {0, 0}, int groups = 1,
                       StreamOrDevice s = {});
array conv_transpose3d(const array& input, const array& weight,
                       const std::tuple<int, int, int>& stride = {1, 1, 1},
                       const std::tuple<int, int, int>& padding = {0, 0, 0},
                       const std::tuple<int, int, int>& dilation = {1, 1, 1},
                       const std::tuple<int, int, int>& output_padding = {0, 0, 0},
                       int groups = 1, StreamOrDevice s = {});

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

// ---- Bit-level views and float8 ----
// The same bytes read as `dtype`: the last axis scales by the ratio of the
// sizes (a scalar only between dtypes of one size). A view when the layout
// allows, else a copy first.
array view(const array& a, const Dtype& dtype, StreamOrDevice s = {});
// float8 e4m3fn codes (uint8) of a floating array: round to nearest even,
// saturating at +-448 (NaN gives the saturated code too), as MLX does.
array to_fp8(array x, StreamOrDevice s = {});
// The values of e4m3fn codes (uint8) in a floating dtype (0x7f, 0xff: NaN).
array from_fp8(array x, Dtype dtype, StreamOrDevice s = {});

// ---- Searching ----
// For each value, the index (uint32) where it would go in the 1-D sorted
// sequence: before equal elements ("left") or after them ("right"); NaN
// sorts last.
array searchsorted(const array& sorted_sequence, const array& values,
                   const std::string& side = "left", StreamOrDevice s = {});
// The sorted unique elements of the flattened array, `size` of them
// (truncated, or padded with fill_value, else the smallest unique value),
// then as asked: the index (uint32) of each one's first occurrence, the
// inverse indices (uint32, a's shape; clamped to size - 1) and the counts
// (int32, 0 for padding). NaNs are each their own value.
std::vector<array> unique(const array& a, int size, bool return_index = false,
                          bool return_inverse = false, bool return_counts = false,
                          const std::optional<array>& fill_value = std::nullopt,
                          StreamOrDevice s = {});

// ---- Structured products ----
// The last axis times the Hadamard matrix of its size n (n = m 2^k, m in
// {1, 12, 20, 28}), times scale (default 1 / sqrt(n)). Half types compute in
// float32; integers give float32.
array hadamard_transform(const array& a, std::optional<float> scale = std::nullopt,
                         StreamOrDevice s = {});
// matmul with block_size x block_size blocks (32 or 64) of the operands and
// the output masked: bool masks keep or zero a block, others scale it.
array block_masked_mm(array a, array b, int block_size,
                      std::optional<array> mask_out = std::nullopt,
                      std::optional<array> mask_lhs = std::nullopt,
                      std::optional<array> mask_rhs = std::nullopt, StreamOrDevice s = {});
// out[i] = a[lhs_indices[i]] @ b[rhs_indices[i]], the indices (broadcast
// together) numbering the matrices of a's and b's flattened batch.
array gather_mm(array a, array b, std::optional<array> lhs_indices = std::nullopt,
                std::optional<array> rhs_indices = std::nullopt, bool sorted_indices = false,
                StreamOrDevice s = {});
// For each (start, end) pair in segments [..., 2]: a[:, start:end] @
// b[start:end, :] (zeros for an empty segment).
array segmented_mm(array a, array b, array segments, StreamOrDevice s = {});

// ---- Quantization (MLX's formats) ----
// Modes: "affine" (bits 2, 3, 4, 5, 6, 8; groups of 32, 64, 128 along the
// last axis; defaults 4 bits, 64), "mxfp4" (4 bits, 32), "mxfp8" (8 bits,
// 32), "nvfp4" (4 bits, 16, optionally over a float32 global scale). The
// codes of a row are packed little-endian into uint32 words; scales (and
// affine's biases) hold one value per group, in w's dtype (affine) or as
// uint8 (the float modes). quantize returns {codes, scales[, biases]}.
std::vector<array> quantize(const array& w, std::optional<int> group_size = std::nullopt,
                            std::optional<int> bits = std::nullopt,
                            const std::string& mode = "affine",
                            const std::optional<array>& global_scale = std::nullopt,
                            StreamOrDevice s = {});
// The matrix back (in `dtype`; default: the scales' and biases' type for
// affine, bfloat16 for the float modes).
array dequantize(const array& w, const array& scales,
                 const std::optional<array>& biases = std::nullopt,
                 std::optional<int> group_size = std::nullopt,
                 std::optional<int> bits = std::nullopt, const std::string& mode = "affine",
                 const std::optional<array>& global_scale = std::nullopt,
                 std::optional<Dtype> dtype = std::nullopt, StreamOrDevice s = {});
// x @ dequantize(w).T (transpose) or x @ dequantize(w), without materialising
// the dequantized matrix where it need not.
array quantized_matmul(const array& x, const array& w, const array& scales,
                       const std::optional<array>& biases = std::nullopt, bool transpose = true,
                       std::optional<int> group_size = std::nullopt,
                       std::optional<int> bits = std::nullopt,
                       const std::string& mode = "affine", StreamOrDevice s = {});
// quantized_matmul with the matrices of x's and w's batches picked by the
// indices (gather_mm's rules).
array gather_qmm(const array& x, const array& w, const array& scales,
                 const std::optional<array>& biases = std::nullopt,
                 std::optional<array> lhs_indices = std::nullopt,
                 std::optional<array> rhs_indices = std::nullopt, bool transpose = true,
                 std::optional<int> group_size = std::nullopt,
                 std::optional<int> bits = std::nullopt, const std::string& mode = "affine",
                 const std::optional<array>& global_scale = std::nullopt,
                 bool sorted_indices = false, StreamOrDevice s = {});
// Both operands in a float mode: x rounded through the format, w quantized
// (uint32 with w_scales) or rounded through it too; x @ w.T.
array qqmm(const array& x, const array& w, const std::optional<array>& w_scales = std::nullopt,
           std::optional<int> group_size = std::nullopt, std::optional<int> bits = std::nullopt,
           const std::string& mode = "nvfp4",
           const std::optional<array>& global_scale_x = std::nullopt,
           const std::optional<array>& global_scale_w = std::nullopt, StreamOrDevice s = {});
array gather_qqmm(const array& x, const array& w,
                  const std::optional<array>& scales_w = std::nullopt,
                  const std::optional<array>& lhs_indices = std::nullopt,
                  const std::optional<array>& rhs_indices = std::nullopt,
                  std::optional<int> group_size = std::nullopt,
                  std::optional<int> bits = std::nullopt, const std::string& mode = "nvfp4",
                  const std::optional<array>& global_scale_x = std::nullopt,
                  const std::optional<array>& global_scale_w = std::nullopt,
                  bool sorted_indices = false, StreamOrDevice s = {});

}  // namespace rill
