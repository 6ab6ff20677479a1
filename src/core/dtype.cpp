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
// Promotion lattice index: bool, uint8, uint32, int32, int64, f16, bf16, f32, f64.
constexpr Dtype kTypes[] = {bool_, uint8, uint32, int32, int64, float16, bfloat16, float32, float64};
// Result of promote(row, col), by index into kTypes.
constexpr int kPromote[9][9] = {
    //        b  u8 u32 i32 i64 f16 bf16 f32 f64
    /*b   */ {0, 1, 2, 3, 4, 5, 6, 7, 8},
    /*u8  */ {1, 1, 2, 3, 4, 5, 6, 7, 8},
    /*u32 */ {2, 2, 2, 4, 4, 5, 6, 7, 8},
    /*i32 */ {3, 3, 4, 3, 4, 5, 6, 7, 8},
    /*i64 */ {4, 4, 4, 4, 4, 5, 6, 7, 8},
    /*f16 */ {5, 5, 5, 5, 5, 5, 7, 7, 8},
    /*bf16*/ {6, 6, 6, 6, 6, 7, 6, 7, 8},
    /*f32 */ {7, 7, 7, 7, 7, 7, 7, 7, 8},
    /*f64 */ {8, 8, 8, 8, 8, 8, 8, 8, 8},
};
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
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& os, Dtype t) { return os << dtype_name(t); }

}  // namespace rill
