// Ops on the bits of elements: view (the same bytes as another dtype) and the
// float8 e4m3fn conversions, built on view and integer arithmetic so that
// every backend runs them with the kernels it has.
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "core/op_checks.h"
#include "core/primitives.h"
#include "rill/ops.h"

namespace rill {

array view(const array& a, const Dtype& dtype, StreamOrDevice s) {
  OuterOp outer("view");
  if (a.dtype() == dtype) return a;
  const int ib = size_of(a.dtype()), ob = size_of(dtype);
  Shape shape = a.shape();
  if (ib != ob) {
    if (a.ndim() == 0) {
      fail("view", cat("changing the type of a scalar is only allowed between types of the "
                       "same size (", a.dtype(), " to ", dtype, ")."));
    }
    if (ib < ob) {
      if (shape.back() % (ob / ib) != 0) {
        fail("view", cat("when viewing as a larger dtype, the size in bytes of the last axis "
                         "must be a multiple of the requested type size (shape ",
                         tuple_str(a.shape()), ", ", a.dtype(), " to ", dtype, ")."));
      }
      shape.back() /= ob / ib;
    } else {
      shape.back() *= ib / ob;
    }
  }
  return make_array(std::move(shape), dtype, std::make_shared<detail::Bitcast>(), {a}, s,
                    "view");
}

namespace {

// The value of the e4m3fn code `c`: 4 exponent bits (bias 7), 3 mantissa
// bits, subnormals at exponent 0, NaN at S.1111.111, no infinities.
float fp8_value(unsigned c) {
  const unsigned e = (c >> 3) & 15, m = c & 7;
  float v = (c & 0x7f) == 0x7f ? std::numeric_limits<float>::quiet_NaN()
            : e == 0          ? std::ldexp(float(m), -9)
                              : std::ldexp(float(8 + m), int(e) - 10);
  return (c & 0x80) ? -v : v;
}

array u32(uint32_t v) { return array(v, uint32); }

}  // namespace

array from_fp8(array x, Dtype dtype, StreamOrDevice s) {
  OuterOp outer("from_fp8");
  if (x.dtype() != uint8) {
    fail("from_fp8", cat("input must have type uint8 but x.dtype() == ", x.dtype(), "."));
  }
  if (!is_floating_point(dtype)) {
    fail("from_fp8",
         cat("only real floating types are supported but dtype == ", dtype, "."));
  }
  // Every code's value is exact in each floating dtype: a table lookup.
  static const std::vector<float> table = [] {
    std::vector<float> t(256);
    for (unsigned c = 0; c < 256; ++c) t[c] = fp8_value(c);
    return t;
  }();
  array values = take(array(table, Shape{256}, float32), astype(x, int32, s), s);
  return dtype == float32 ? values : astype(values, dtype, s);
}

array to_fp8(array x, StreamOrDevice s) {
  OuterOp outer("to_fp8");
  if (!is_floating_point(x.dtype())) {
    fail("to_fp8",
         cat("only real floating types are supported but x.dtype() == ", x.dtype(), "."));
  }
  // On the float32 bits: magnitudes below 2^-6 (the smallest normal e4m3)
  // are rounded by adding 2^14, whose ulp is e4m3's subnormal step, so the
  // float adder rounds to nearest even and the low bits are the code; larger
  // ones rebias the exponent and round the mantissa to 3 bits (half-ulp minus
  // one plus the kept lowest bit: ties to even). At and above 464 (halfway
  // past 448), and for inf and NaN, the code saturates to 0x7e.
  array bits = view(astype(x, float32, s), uint32, s);
  array sign = bitwise_and(bits, u32(0x80000000u), s);
  array mag = bitwise_xor(bits, sign, s);
  const uint32_t denorm = 141u << 23;  // 2^14 as float32 bits
  array low = subtract(
      view(add(view(mag, float32, s), array(16384.0f), s), uint32, s), u32(denorm), s);
  array odd = bitwise_and(right_shift(mag, u32(20), s), u32(1), s);
  const uint32_t rebias = static_cast<uint32_t>(int64_t(7 - 127) * (int64_t(1) << 23)) + 0x7FFFFu;
  array high = right_shift(add(add(mag, u32(rebias), s), odd, s), u32(20), s);
  array code = where(less(mag, u32(121u << 23), s), low, high, s);
  code = where(greater_equal(mag, u32(543u << 21), s), u32(0x7E), code, s);
  code = bitwise_or(bitwise_and(code, u32(0xFF), s), right_shift(sign, u32(24), s), s);
  return astype(code, uint8, s);
}

}  // namespace rill
