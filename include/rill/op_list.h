// The elementwise, reduction and sort ops, one line each: the one description
// from which rill's op enums, primitive names, public declarations (ops.h) and
// front ends come. Plain macros with no includes, so that both the C++
// compiler and nvcc read it (ARCHITECTURE.md, "Adding an op").
//
// Each list calls X(name, rule) once per op, in the order of the op's enum.
#pragma once

// Unary ops: array name(const array& a, StreamOrDevice s = {}). The rule says
// what the front end does:
//   same      result in the input's dtype, any dtype
//   floating  floating inputs keep their dtype, integers and bool compute in
//             float32
//   custom    a front end written by hand (ops_elementwise.cpp), declared in
//             ops.h with the others
//   internal  no public function of its own (nn::gelu)
//   bitwise   integers and bool only (others are an error), the input's dtype
#define RILL_UNARY_OPS(X)   \
  X(negative, custom)       \
  /* complex64: |z| as float32 */ \
  X(abs, custom)            \
  X(sign, same)             \
  X(exp, floating)          \
  X(log, floating)          \
  X(log1p, floating)        \
  X(expm1, floating)        \
  X(sqrt, floating)         \
  X(rsqrt, floating)        \
  X(square, same)           \
  X(sin, floating)          \
  X(cos, floating)          \
  X(tanh, floating)         \
  X(sigmoid, floating)      \
  X(erf, floating)          \
  X(floor, same)            \
  X(ceil, same)             \
  X(round, custom)          \
  X(logical_not, custom)    \
  X(arccos, floating)       \
  X(arccosh, floating)      \
  X(arcsin, floating)       \
  X(arcsinh, floating)      \
  X(arctan, floating)       \
  X(arctanh, floating)      \
  X(cosh, floating)         \
  X(sinh, floating)         \
  X(tan, floating)          \
  X(log2, floating)         \
  X(log10, floating)        \
  /* x * 180 / pi, x * pi / 180 */ \
  X(degrees, floating)      \
  X(radians, floating)      \
  X(reciprocal, floating)   \
  /* toward zero; integers unchanged */ \
  X(trunc, same)            \
  /* the inverse of erf on (-1, 1); +-inf at +-1 */ \
  X(erfinv, floating)       \
  /* ~x on integers, logical not on bool (operator~) */ \
  X(bitwise_invert, bitwise) \
  /* complex64: the conjugate; other dtypes unchanged */ \
  X(conjugate, custom)      \
  /* complex64: the real or imaginary part (float32); other dtypes: the */ \
  /* array, or zeros */ \
  X(real, custom)           \
  X(imag, custom)           \
  /* x (1 + erf(x / sqrt 2)) / 2, each step rounded: nn::gelu */ \
  X(gelu, internal)

// Binary ops: array name(const array& a, const array& b, StreamOrDevice s = {}),
// with NumPy broadcasting. Rules:
//   arith    both promoted to their common dtype, the result in it
//   floating both promoted to their common dtype, float32 when that is not
//            floating, the result in it
//   compare  both promoted to their common dtype, a bool result
//   logical  both converted to bool, a bool result
//   bitwise  integers and bool only, promoted to their common dtype
//   shift    integers and bool only, promoted to their common dtype (uint8
//            for two bools)
//   custom   a front end written by hand (ops_elementwise.cpp)
#define RILL_BINARY_OPS(X)  \
  X(add, arith)             \
  X(subtract, custom)       \
  X(multiply, arith)        \
  X(divide, custom)         \
  X(maximum, arith)         \
  X(minimum, arith)         \
  X(power, arith)           \
  X(remainder, arith)       \
  X(equal, compare)         \
  X(not_equal, compare)     \
  X(less, compare)          \
  X(less_equal, compare)    \
  X(greater, compare)       \
  X(greater_equal, compare) \
  X(logical_and, logical)   \
  X(logical_or, logical)    \
  X(logical_xor, logical)   \
  /* atan2(a, b): the angle of the point (b, a) */ \
  X(arctan2, floating)      \
  /* log(exp(a) + exp(b)), without overflow */ \
  X(logaddexp, floating)    \
  /* floor(a / b); integers divide exactly, 0 for a zero divisor */ \
  X(floor_divide, arith)    \
  /* operators & | ^ */     \
  X(bitwise_and, bitwise)   \
  X(bitwise_or, bitwise)    \
  X(bitwise_xor, bitwise)   \
  /* operators << >>; a shift past the width gives 0 (-1 for a negative */ \
  /* value shifted right), a negative shift 0 */ \
  X(left_shift, shift)      \
  X(right_shift, shift)

// Reductions over axes (their overloads are in ops.h); the rule is the
// result: same (the input's dtype, bool promoted for sum and prod) or bool.
#define RILL_REDUCE_OPS(X) \
  X(sum, same)             \
  X(prod, same)            \
  X(max, same)             \
  X(min, same)             \
  X(all, bool)             \
  X(any, bool)

// Index of the largest / smallest element along an axis (uint32).
#define RILL_ARG_REDUCE_OPS(X) \
  X(argmax, index)             \
  X(argmin, index)

// Running combinations along one axis (forwards or reversed, inclusive or
// not); the rule is the combining function: sum, prod, max and min (both
// propagate NaN), logaddexp.
#define RILL_SCAN_OPS(X)     \
  X(cumsum, sum)             \
  X(cumprod, prod)           \
  X(cummax, max)             \
  X(cummin, min)             \
  X(logcumsumexp, logaddexp)

// How scatter and slice_update combine an update with the element it lands
// on (equal positions combine in any order; assign keeps one of them).
#define RILL_SCATTER_OPS(X) \
  X(scatter, assign)        \
  X(scatter_add, sum)       \
  X(scatter_prod, prod)     \
  X(scatter_max, max)       \
  X(scatter_min, min)

// Along one axis, NaN last, ties in input order: values keep the dtype,
// indices are uint32.
#define RILL_SORT_OPS(X) \
  X(sort, values)        \
  X(argsort, indices)    \
  X(partition, values)   \
  X(argpartition, indices) \
  X(topk, values)
