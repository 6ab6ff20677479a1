// Calling a template with the C++ type of a Dtype, and value conversion between
// element types. Internal.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "rill/dtype.h"

namespace rill::detail {

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<T>{}) with T the element type of `t`, a real type:
// complex64 reaches only the kernels of primitives that accept it
// (Primitive::accepts_complex), which handle it before dispatching.
template <typename F>
decltype(auto) dispatch(Dtype t, F&& f) {
  switch (t.val) {
    case Dtype::Val::bool_: return f(TypeTag<bool>{});
    case Dtype::Val::uint8: return f(TypeTag<uint8_t>{});
    case Dtype::Val::uint32: return f(TypeTag<uint32_t>{});
    case Dtype::Val::int32: return f(TypeTag<int32_t>{});
    case Dtype::Val::int64: return f(TypeTag<int64_t>{});
    case Dtype::Val::float16: return f(TypeTag<float16_t>{});
    case Dtype::Val::bfloat16: return f(TypeTag<bfloat16_t>{});
    case Dtype::Val::float32: return f(TypeTag<float>{});
    case Dtype::Val::float64: return f(TypeTag<double>{});
    case Dtype::Val::int8: return f(TypeTag<int8_t>{});
    case Dtype::Val::int16: return f(TypeTag<int16_t>{});
    case Dtype::Val::uint16: return f(TypeTag<uint16_t>{});
    case Dtype::Val::uint64: return f(TypeTag<uint64_t>{});
    case Dtype::Val::complex64: break;
  }
  throw std::logic_error(std::string("a real-valued kernel was given ") + dtype_name(t));
}

// dispatch, and complex64_t for complex64.
template <typename F>
decltype(auto) dispatch_any(Dtype t, F&& f) {
  if (t == complex64) return f(TypeTag<complex64_t>{});
  return dispatch(t, std::forward<F>(f));
}

// The type of `t`'s bits, for kernels that only move elements (complex64 is
// moved as a uint64).
inline Dtype storage_dtype(Dtype t) { return t == complex64 ? uint64 : t; }

template <typename T>
inline constexpr bool is_half_v =
    std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>;

// The type arithmetic on T is done in: float for the half types, T otherwise.
template <typename T>
using compute_t = std::conditional_t<is_half_v<T>, float, T>;

// Converts one value, defined for every pair of element types: floats to
// integers truncate toward zero and saturate (NaN gives 0), anything to bool
// is "not zero".
template <typename To, typename From>
inline To convert(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<From, complex64_t>) {
    // complex64 to a real type: the real part (bool: either part non-zero).
    if constexpr (std::is_same_v<To, bool>) return v.real() != 0.0f || v.imag() != 0.0f;
    else return convert<To>(v.real());
  } else if constexpr (std::is_same_v<To, complex64_t>) {
    return complex64_t(static_cast<float>(static_cast<compute_t<From>>(v)), 0.0f);
  } else if constexpr (std::is_same_v<To, bool>) {
    return static_cast<compute_t<From>>(v) != compute_t<From>(0);
  } else if constexpr (is_half_v<To>) {
    return To(static_cast<float>(static_cast<compute_t<From>>(v)));
  } else if constexpr (std::is_floating_point_v<To>) {
    return static_cast<To>(static_cast<compute_t<From>>(v));
  } else if constexpr (std::is_floating_point_v<compute_t<From>>) {
    // Float to integer.
    double d = static_cast<double>(static_cast<compute_t<From>>(v));
    if (std::isnan(d)) return To(0);
    constexpr double lo = static_cast<double>(std::numeric_limits<To>::min());
    constexpr double hi = static_cast<double>(std::numeric_limits<To>::max());
    if (d <= lo) return std::numeric_limits<To>::min();
    if (d >= hi) return std::numeric_limits<To>::max();
    return static_cast<To>(d);
  } else {
    // Integer to integer: two's complement wrap, as NumPy does.
    return static_cast<To>(v);
  }
}

}  // namespace rill::detail
