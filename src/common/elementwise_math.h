// What each elementwise op computes on one element, for the CPU's loops and
// the GPU's kernels alike: their one definition. C is the type arithmetic is
// done in (float for the half types). Kernels call these with a constant op
// (the CPU's loops are instantiated per op) or a grid-uniform one (the GPU's),
// so the switches fold or stay uniform. erf and gelu on floats are each
// backend's own (a vectorised erf on the CPU; rounding without contraction on
// the GPU). Internal.
#pragma once

#include <math.h>

#include <cmath>
#include <type_traits>

#include "common/host_device.h"
#include "common/op_kinds.h"

// The C library's overloads for float and double: the device's on the GPU,
// std:: on the host.
#if defined(__CUDA_ARCH__)
#define RILL_MATH(f) ::f
#else
#define RILL_MATH(f) std::f
#endif

namespace rill::detail {

// Unary ops on bool and integers: the ops of the rule `same` (the others
// compute in float32). Anything else leaves x.
template <typename C>
RILL_HD_INLINE C unary_integral(UnaryOp op, C x) {
  if constexpr (std::is_same_v<C, bool>) {
    // abs, sign, square, floor, ceil, round, trunc: x
    return op == UnaryOp::logical_not || op == UnaryOp::bitwise_invert ? !x : x;
  } else {
    switch (op) {
      case UnaryOp::negative: return static_cast<C>(C(0) - x);
      case UnaryOp::abs:
        if constexpr (std::is_signed_v<C>) return x < 0 ? static_cast<C>(-x) : x;
        return x;
      case UnaryOp::sign:
        if constexpr (std::is_signed_v<C>) return static_cast<C>((x > 0) - (x < 0));
        return static_cast<C>(x > 0);
      case UnaryOp::square: return static_cast<C>(x * x);
      case UnaryOp::logical_not: return !x;
      case UnaryOp::bitwise_invert: return static_cast<C>(~x);
      default: return x;  // floor, ceil, round, trunc
    }
  }
}

// erfinv: the device's own on the GPU. The host's C library has none: a
// rational first guess (M. Giles, "Approximating the erfinv function", 2010)
// refined by two Newton steps on erf in double.
template <typename C>
RILL_HD C inverse_erf(C y) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<C, float>) {
    return ::erfinvf(y);
  } else {
    return ::erfinv(y);
  }
#else
  const double x = static_cast<double>(y);
  if (!(x > -1.0 && x < 1.0)) {
    if (x == 1.0) return C(HUGE_VAL);
    if (x == -1.0) return C(-HUGE_VAL);
    return C(NAN);
  }
  double w = -std::log((1.0 - x) * (1.0 + x)), p;
  if (w < 5.0) {
    w -= 2.5;
    p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = std::sqrt(w) - 3.0;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  double r = p * x;
  for (int i = 0; i < 2; ++i) {
    r -= (std::erf(r) - x) / (1.1283791670955126 * std::exp(-r * r));
  }
  return static_cast<C>(r);
#endif
}

// Unary ops on float and double, but erf and gelu (see above).
template <typename C>
RILL_HD_INLINE C unary_floating(UnaryOp op, C x, int decimals) {
  switch (op) {
    case UnaryOp::negative: return -x;
    case UnaryOp::abs: return RILL_MATH(fabs)(x);
    case UnaryOp::sign: return static_cast<C>((x > 0) - (x < 0));
    case UnaryOp::exp: return RILL_MATH(exp)(x);
    case UnaryOp::log: return RILL_MATH(log)(x);
    case UnaryOp::log1p: return RILL_MATH(log1p)(x);
    case UnaryOp::expm1: return RILL_MATH(expm1)(x);
    case UnaryOp::sqrt: return RILL_MATH(sqrt)(x);
    case UnaryOp::rsqrt: return C(1) / RILL_MATH(sqrt)(x);
    case UnaryOp::square: return x * x;
    case UnaryOp::sin: return RILL_MATH(sin)(x);
    case UnaryOp::cos: return RILL_MATH(cos)(x);
    case UnaryOp::tanh: return RILL_MATH(tanh)(x);
    case UnaryOp::sigmoid: return C(1) / (C(1) + RILL_MATH(exp)(-x));
    case UnaryOp::floor: return RILL_MATH(floor)(x);
    case UnaryOp::ceil: return RILL_MATH(ceil)(x);
    case UnaryOp::round: {  // half to even
      if (decimals == 0) return RILL_MATH(nearbyint)(x);
      const C scale = RILL_MATH(pow)(C(10), C(decimals));
      return RILL_MATH(nearbyint)(x * scale) / scale;
    }
    case UnaryOp::logical_not: return x == C(0);
    case UnaryOp::arccos: return RILL_MATH(acos)(x);
    case UnaryOp::arccosh: return RILL_MATH(acosh)(x);
    case UnaryOp::arcsin: return RILL_MATH(asin)(x);
    case UnaryOp::arcsinh: return RILL_MATH(asinh)(x);
    case UnaryOp::arctan: return RILL_MATH(atan)(x);
    case UnaryOp::arctanh: return RILL_MATH(atanh)(x);
    case UnaryOp::cosh: return RILL_MATH(cosh)(x);
    case UnaryOp::sinh: return RILL_MATH(sinh)(x);
    case UnaryOp::tan: return RILL_MATH(tan)(x);
    case UnaryOp::log2: return RILL_MATH(log2)(x);
    case UnaryOp::log10: return RILL_MATH(log10)(x);
    case UnaryOp::degrees: return x * C(57.29577951308232);
    case UnaryOp::radians: return x * C(0.017453292519943295);
    case UnaryOp::reciprocal: return C(1) / x;
    case UnaryOp::trunc: return RILL_MATH(trunc)(x);
    case UnaryOp::erfinv: return inverse_erf(x);
    default: return x;  // erf, gelu: the backends'
  }
}

// Binary ops of the rules arith and custom (subtract, divide). Integer
// division and remainder floor, as Python's do, and give 0 for a zero
// divisor; maximum and minimum propagate NaN.
template <typename C>
RILL_HD_INLINE C binary_value(BinaryOp op, C a, C b) {
  switch (op) {
    case BinaryOp::add:
      if constexpr (std::is_same_v<C, bool>) return a || b;
      else return static_cast<C>(a + b);
    case BinaryOp::subtract:
      if constexpr (std::is_same_v<C, bool>) return a != b;
      else return static_cast<C>(a - b);
    case BinaryOp::multiply:
      if constexpr (std::is_same_v<C, bool>) return a && b;
      else return static_cast<C>(a * b);
    case BinaryOp::divide:
      if constexpr (std::is_same_v<C, bool>) {
        return a;
      } else if constexpr (std::is_integral_v<C>) {
        if (b == C(0)) return C(0);
        if constexpr (std::is_signed_v<C>) {
          C q = static_cast<C>(a / b);
          if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
          return q;
        }
        return static_cast<C>(a / b);
      } else {
        return a / b;
      }
    case BinaryOp::maximum:
      if constexpr (std::is_floating_point_v<C>) {
        if (a != a || b != b) return a != a ? a : b;
      }
      return a > b ? a : b;
    case BinaryOp::minimum:
      if constexpr (std::is_floating_point_v<C>) {
        if (a != a || b != b) return a != a ? a : b;
      }
      return a < b ? a : b;
    case BinaryOp::power:
      if constexpr (std::is_same_v<C, bool>) {
        return a || !b;
      } else if constexpr (std::is_integral_v<C>) {
        if constexpr (std::is_signed_v<C>) {
          if (b < 0) return a == 1 ? C(1) : (a == -1 ? (b % 2 ? C(-1) : C(1)) : C(0));
        }
        using U = std::make_unsigned_t<C>;
        U r = 1, base = static_cast<U>(a);
        for (C e = b; e > 0; e = static_cast<C>(e >> 1)) {
          if (e & 1) r = static_cast<U>(r * base);
          base = static_cast<U>(base * base);
        }
        return static_cast<C>(r);
      } else {
        return RILL_MATH(pow)(a, b);
      }
    case BinaryOp::remainder:
      if constexpr (std::is_same_v<C, bool>) {
        return false;
      } else if constexpr (std::is_integral_v<C>) {
        if (b == C(0)) return C(0);
        C r = static_cast<C>(a % b);
        if constexpr (std::is_signed_v<C>) {
          if (r != 0 && ((r < 0) != (b < 0))) r = static_cast<C>(r + b);
        }
        return r;
      } else {
        C r = RILL_MATH(fmod)(a, b);
        if (r != C(0) && ((r < 0) != (b < 0))) r += b;
        return r;
      }
    case BinaryOp::floor_divide:
      if constexpr (std::is_floating_point_v<C>) {
        return RILL_MATH(floor)(a / b);
      } else {
        return binary_value(BinaryOp::divide, a, b);  // integers divide with floor
      }
    case BinaryOp::arctan2:
      if constexpr (std::is_floating_point_v<C>) return RILL_MATH(atan2)(a, b);
      return a;
    case BinaryOp::logaddexp:
      if constexpr (std::is_floating_point_v<C>) {
        if (a != a || b != b) return a != a ? a : b;
        const C hi = a > b ? a : b, lo = a > b ? b : a;
        // +inf wins; two -inf stay -inf (their difference would be NaN).
        if (hi == C(INFINITY) || lo == -C(INFINITY)) return hi;
        return hi + RILL_MATH(log1p)(RILL_MATH(exp)(lo - hi));
      }
      return a;
    case BinaryOp::bitwise_and:
      if constexpr (std::is_integral_v<C>) return static_cast<C>(a & b);
      return a;
    case BinaryOp::bitwise_or:
      if constexpr (std::is_integral_v<C>) return static_cast<C>(a | b);
      return a;
    case BinaryOp::bitwise_xor:
      if constexpr (std::is_integral_v<C>) return static_cast<C>(a ^ b);
      return a;
    case BinaryOp::left_shift:
    case BinaryOp::right_shift:
      if constexpr (std::is_integral_v<C> && !std::is_same_v<C, bool>) {
        constexpr int kBits = 8 * sizeof(C);
        const bool left = op == BinaryOp::left_shift;
        if (b < C(0) || b >= C(kBits)) {
          if constexpr (std::is_signed_v<C>) {
            if (!left && b >= C(kBits) && a < C(0)) return C(-1);
          }
          return C(0);
        }
        using U = std::make_unsigned_t<C>;
        if (left) return static_cast<C>(static_cast<U>(a) << static_cast<int>(b));
        return static_cast<C>(a >> static_cast<int>(b));
      }
      return a;
    default: return a;  // the predicates: compare_value
  }
}

// The ops with a bool result (is_predicate): comparisons and logic.
template <typename C>
RILL_HD_INLINE bool compare_value(BinaryOp op, C a, C b) {
  switch (op) {
    case BinaryOp::equal: return a == b;
    case BinaryOp::not_equal: return a != b;
    case BinaryOp::less: return a < b;
    case BinaryOp::less_equal: return a <= b;
    case BinaryOp::greater: return a > b;
    case BinaryOp::greater_equal: return a >= b;
    case BinaryOp::logical_and: return (a != C(0)) && (b != C(0));
    case BinaryOp::logical_or: return (a != C(0)) || (b != C(0));
    case BinaryOp::logical_xor: return (a != C(0)) != (b != C(0));
    default: return false;
  }
}

}  // namespace rill::detail
