#include <cstring>
#include <stdexcept>

#include "rill/dtype.h"

namespace rill {

uint16_t float16_t::from_float(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (ax < 0x38800000u) {
    // Subnormal or zero in half: round |f| * 2^24 to nearest even integer.
    float af;
    std::memcpy(&af, &ax, 4);
    float scaled = af * 16777216.0f;  // exact (power of two)
    uint32_t m = static_cast<uint32_t>(scaled);
    float rest = scaled - static_cast<float>(m);
    if (rest > 0.5f || (rest == 0.5f && (m & 1u))) ++m;
    return static_cast<uint16_t>(sign | m);
  }
  // Normal: rebias exponent, round mantissa to 10 bits, nearest even.
  uint32_t mant = ax & 0x7fffffu;
  uint32_t exp = (ax >> 23) - 127 + 15;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into exp: fine
  return static_cast<uint16_t>(sign | h);
}

float float16_t::to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0x1f) {
    x = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  } else if (mant == 0) {
    x = sign;
  } else {
    float f = static_cast<float>(mant) / 16777216.0f;  // mant * 2^-24
    std::memcpy(&x, &f, 4);
    x |= sign;
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

namespace {
// Promotion lattice, indexed by Dtype::Val: MLX's table (NumPy's, but for
// 64-bit integers of either sign together, which give float32 as in MLX).
constexpr Dtype kTypes[] = {bool_,   uint8,   uint32,  int32, int64, float16, bfloat16,
                            float32, float64, int8,    int16, uint16, uint64, complex64};
// Result of promote(row, col), by index into kTypes.
constexpr int kPromote[14][14] = {
    //        b  u8 u32 i32 i64 f16 bf16 f32 f64 i8 i16 u16 u64 c64
    /*b   */ {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13},
    /*u8  */ {1, 1, 2, 3, 4, 5, 6, 7, 8, 10, 10, 11, 12, 13},
    /*u32 */ {2, 2, 2, 4, 4, 5, 6, 7, 8, 4, 4, 2, 12, 13},
    /*i32 */ {3, 3, 4, 3, 4, 5, 6, 7, 8, 3, 3, 3, 7, 13},
    /*i64 */ {4, 4, 4, 4, 4, 5, 6, 7, 8, 4, 4, 4, 7, 13},
    /*f16 */ {5, 5, 5, 5, 5, 5, 7, 7, 8, 5, 5, 5, 5, 13},
    /*bf16*/ {6, 6, 6, 6, 6, 7, 6, 7, 8, 6, 6, 6, 6, 13},
    /*f32 */ {7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 7, 7, 7, 13},
    /*f64 */ {8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 13},
    /*i8  */ {9, 10, 4, 3, 4, 5, 6, 7, 8, 9, 10, 3, 7, 13},
    /*i16 */ {10, 10, 4, 3, 4, 5, 6, 7, 8, 10, 10, 3, 7, 13},
    /*u16 */ {11, 11, 2, 3, 4, 5, 6, 7, 8, 3, 3, 11, 12, 13},
    /*u64 */ {12, 12, 12, 7, 7, 5, 6, 7, 8, 7, 7, 12, 12, 13},
    /*c64 */ {13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13},
};
static_assert(sizeof(kTypes) / sizeof(kTypes[0]) == static_cast<int>(Dtype::Val::complex64) + 1);
}  // namespace

Dtype promote_types(Dtype a, Dtype b) {
  return kTypes[kPromote[static_cast<int>(a.val)][static_cast<int>(b.val)]];
}

std::string dtype_name(Dtype t) {
  switch (t.val) {
    case Dtype::Val::bool_: return "bool";
    case Dtype::Val::uint8: return "uint8";
    case Dtype::Val::uint32: return "uint32";
    case Dtype::Val::int32: return "int32";
    case Dtype::Val::int64: return "int64";
    case Dtype::Val::float16: return "float16";
    case Dtype::Val::bfloat16: return "bfloat16";
    case Dtype::Val::float32: return "float32";
    case Dtype::Val::float64: return "float64";
    case Dtype::Val::int8: return "int8";
    case Dtype::Val::int16: return "int16";
    case Dtype::Val::uint16: return "uint16";
    case Dtype::Val::uint64: return "uint64";
    case Dtype::Val::complex64: return "complex64";
  }
  return "unknown";
}

namespace {
Dtype::Category category_of(Dtype t) {
  if (t == complex64) return complexfloating;
  if (is_floating_point(t)) return floating;
  if (t == bool_) return generic;
  return is_unsigned(t) ? unsignedinteger : signedinteger;
}
// Whether category a lies under category b.
bool category_under(Dtype::Category a, Dtype::Category b) {
  if (a == b || b == generic) return true;
  switch (b) {
    case inexact: return a == floating || a == complexfloating;
    case integer: return a == signedinteger || a == unsignedinteger;
    case number:
      return a != generic;
    default: return false;
  }
}
}  // namespace

bool issubdtype(Dtype a, Dtype b) { return a == b; }
bool issubdtype(Dtype::Category a, Dtype b) {
  (void)a;
  (void)b;
  return false;
}
bool issubdtype(Dtype a, Dtype::Category b) {
  // bool is only a generic.
  if (a == bool_) return b == generic;
  return category_under(category_of(a), b);
}
bool issubdtype(Dtype::Category a, Dtype::Category b) { return category_under(a, b); }

std::ostream& operator<<(std::ostream& os, Dtype t) { return os << dtype_name(t); }

}  // namespace rill
