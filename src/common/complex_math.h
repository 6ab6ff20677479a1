// complex64 arithmetic for the CPU's loops and the GPU's kernels alike: one
// definition of what each elementwise op computes on a complex element, and
// which ops have one (complex_ok: the primitives refuse the rest at the call).
// Values are two floats, real then imaginary, laid out as std::complex<float>
// (rill::complex64_t) and cuComplex. Internal.
#pragma once

#include <math.h>

#include "common/host_device.h"
#include "common/op_kinds.h"

namespace rill::detail {

struct alignas(8) cfloat {
  float re, im;
};

// The C library's float functions: the device's on the GPU, the host's on it.
#define RILL_CMATH(f) ::f

RILL_HD cfloat c_add(cfloat a, cfloat b) { return {a.re + b.re, a.im + b.im}; }
RILL_HD cfloat c_sub(cfloat a, cfloat b) { return {a.re - b.re, a.im - b.im}; }
RILL_HD cfloat c_mul(cfloat a, cfloat b) {
  return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}
// Smith's division: scales by the larger part of the divisor so that neither
// product overflows where the quotient does not.
RILL_HD cfloat c_div(cfloat a, cfloat b) {
  if (RILL_CMATH(fabsf)(b.re) >= RILL_CMATH(fabsf)(b.im)) {
    if (b.re == 0.0f && b.im == 0.0f) return {a.re / 0.0f, a.im / 0.0f};
    const float r = b.im / b.re, d = b.re + b.im * r;
    return {(a.re + a.im * r) / d, (a.im - a.re * r) / d};
  }
  const float r = b.re / b.im, d = b.re * r + b.im;
  return {(a.re * r + a.im) / d, (a.im * r - a.re) / d};
}
RILL_HD float c_abs(cfloat z) { return RILL_CMATH(hypotf)(z.re, z.im); }

RILL_HD cfloat c_exp(cfloat z) {
  const float m = RILL_CMATH(expf)(z.re);
  if (z.im == 0.0f) return {m, z.im};  // exp of a real stays real (no inf * 0)
  return {m * RILL_CMATH(cosf)(z.im), m * RILL_CMATH(sinf)(z.im)};
}
RILL_HD cfloat c_log(cfloat z) {
  return {RILL_CMATH(logf)(c_abs(z)), RILL_CMATH(atan2f)(z.im, z.re)};
}
// The principal root (real part >= 0), without cancellation on either side.
RILL_HD cfloat c_sqrt(cfloat z) {
  if (z.re == 0.0f && z.im == 0.0f) return {0.0f, z.im};
  const float r = c_abs(z);
  if (z.re >= 0.0f) {
    const float t = RILL_CMATH(sqrtf)(0.5f * (r + z.re));
    return {t, z.im / (2.0f * t)};
  }
  const float t = RILL_CMATH(sqrtf)(0.5f * (r - z.re));
  return {RILL_CMATH(fabsf)(z.im) / (2.0f * t), RILL_CMATH(copysignf)(t, z.im)};
}
RILL_HD cfloat c_sin(cfloat z) {
  return {RILL_CMATH(sinf)(z.re) * RILL_CMATH(coshf)(z.im),
          RILL_CMATH(cosf)(z.re) * RILL_CMATH(sinhf)(z.im)};
}
RILL_HD cfloat c_cos(cfloat z) {
  return {RILL_CMATH(cosf)(z.re) * RILL_CMATH(coshf)(z.im),
          -RILL_CMATH(sinf)(z.re) * RILL_CMATH(sinhf)(z.im)};
}
RILL_HD cfloat c_sinh(cfloat z) {
  return {RILL_CMATH(sinhf)(z.re) * RILL_CMATH(cosf)(z.im),
          RILL_CMATH(coshf)(z.re) * RILL_CMATH(sinf)(z.im)};
}
RILL_HD cfloat c_cosh(cfloat z) {
  return {RILL_CMATH(coshf)(z.re) * RILL_CMATH(cosf)(z.im),
          RILL_CMATH(sinhf)(z.re) * RILL_CMATH(sinf)(z.im)};
}
// tanh(a + ib) = (sinh 2a + i sin 2b) / (cosh 2a + cos 2b); for large |a| the
// value is +-1 + 0i (the quotient would be inf / inf).
RILL_HD cfloat c_tanh(cfloat z) {
  if (RILL_CMATH(fabsf)(z.re) > 20.0f) {
    return {RILL_CMATH(copysignf)(1.0f, z.re),
            RILL_CMATH(copysignf)(0.0f, z.im) *
                (RILL_CMATH(sinf)(2.0f * z.im) == 0.0f ? 0.0f : 1.0f)};
  }
  const float d = RILL_CMATH(coshf)(2.0f * z.re) + RILL_CMATH(cosf)(2.0f * z.im);
  return {RILL_CMATH(sinhf)(2.0f * z.re) / d, RILL_CMATH(sinf)(2.0f * z.im) / d};
}
// tan z = -i tanh(i z).
RILL_HD cfloat c_tan(cfloat z) {
  const cfloat t = c_tanh({-z.im, z.re});
  return {t.im, -t.re};
}

// Whether a unary op is defined on complex64 (real and imag give float32).
constexpr bool complex_ok(UnaryOp op) {
  switch (op) {
    case UnaryOp::negative:
    case UnaryOp::abs:
    case UnaryOp::sign:
    case UnaryOp::exp:
    case UnaryOp::log:
    case UnaryOp::log2:
    case UnaryOp::log10:
    case UnaryOp::sqrt:
    case UnaryOp::rsqrt:
    case UnaryOp::square:
    case UnaryOp::sin:
    case UnaryOp::cos:
    case UnaryOp::tan:
    case UnaryOp::sinh:
    case UnaryOp::cosh:
    case UnaryOp::tanh:
    case UnaryOp::reciprocal:
    case UnaryOp::conjugate:
    case UnaryOp::real:
    case UnaryOp::imag: return true;
    default: return false;
  }
}
constexpr bool complex_ok(BinaryOp op) {
  switch (op) {
    case BinaryOp::add:
    case BinaryOp::subtract:
    case BinaryOp::multiply:
    case BinaryOp::divide:
    case BinaryOp::power:
    case BinaryOp::equal:
    case BinaryOp::not_equal: return true;
    default: return false;
  }
}

// A complex_ok unary op (real and imag: the part, imaginary 0). abs gives
// |z| + 0i; the front end converts it to float32, as MLX does.
RILL_HD cfloat complex_unary(UnaryOp op, cfloat z) {
  switch (op) {
    case UnaryOp::negative: return {-z.re, -z.im};
    case UnaryOp::abs: return {c_abs(z), 0.0f};
    case UnaryOp::sign: {
      const float r = c_abs(z);
      return r == 0.0f ? cfloat{0.0f, 0.0f} : cfloat{z.re / r, z.im / r};
    }
    case UnaryOp::exp: return c_exp(z);
    case UnaryOp::log: return c_log(z);
    case UnaryOp::log2: {
      const cfloat l = c_log(z);
      return {l.re * 1.4426950408889634f, l.im * 1.4426950408889634f};
    }
    case UnaryOp::log10: {
      const cfloat l = c_log(z);
      return {l.re * 0.4342944819032518f, l.im * 0.4342944819032518f};
    }
    case UnaryOp::sqrt: return c_sqrt(z);
    case UnaryOp::rsqrt: return c_div({1.0f, 0.0f}, c_sqrt(z));
    case UnaryOp::square: return c_mul(z, z);
    case UnaryOp::sin: return c_sin(z);
    case UnaryOp::cos: return c_cos(z);
    case UnaryOp::tan: return c_tan(z);
    case UnaryOp::sinh: return c_sinh(z);
    case UnaryOp::cosh: return c_cosh(z);
    case UnaryOp::tanh: return c_tanh(z);
    case UnaryOp::reciprocal: return c_div({1.0f, 0.0f}, z);
    case UnaryOp::conjugate: return {z.re, -z.im};
    case UnaryOp::real: return {z.re, 0.0f};
    case UnaryOp::imag: return {z.im, 0.0f};
    default: return z;
  }
}

// a ** b = exp(b log a), with 0 ** b = 0 for Re b > 0 and 1 for b = 0.
RILL_HD cfloat c_pow(cfloat a, cfloat b) {
  if (b.re == 0.0f && b.im == 0.0f) return {1.0f, 0.0f};
  if (a.re == 0.0f && a.im == 0.0f && b.im == 0.0f && b.re > 0.0f) return {0.0f, 0.0f};
  return c_exp(c_mul(b, c_log(a)));
}

// A complex_ok binary op with a complex result.
RILL_HD cfloat complex_binary(BinaryOp op, cfloat a, cfloat b) {
  switch (op) {
    case BinaryOp::add: return c_add(a, b);
    case BinaryOp::subtract: return c_sub(a, b);
    case BinaryOp::multiply: return c_mul(a, b);
    case BinaryOp::divide: return c_div(a, b);
    case BinaryOp::power: return c_pow(a, b);
    default: return a;
  }
}
RILL_HD bool complex_compare(BinaryOp op, cfloat a, cfloat b) {
  const bool eq = a.re == b.re && a.im == b.im;
  return op == BinaryOp::equal ? eq : !eq;
}

#undef RILL_CMATH

}  // namespace rill::detail
