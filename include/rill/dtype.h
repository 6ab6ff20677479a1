// Element types, the half-precision value types and type promotion.
#pragma once

#include <cstdint>
#include <cstring>
#include <ostream>
#include <complex>
#include <string>
#include <type_traits>

namespace rill {

// IEEE binary16, stored as bits; arithmetic goes through float.
struct float16_t {
  uint16_t bits = 0;
  float16_t() = default;
  float16_t(float f) : bits(from_float(f)) {}  // NOLINT: implicit like a float
  operator float() const { return to_float(bits); }
  static float16_t from_bits(uint16_t b) {
    float16_t h;
    h.bits = b;
    return h;
  }
  static uint16_t from_float(float f);
  static float to_float(uint16_t h);
};

// bfloat16: the upper half of a float32, rounded to nearest even.
struct bfloat16_t {
  uint16_t bits = 0;
  bfloat16_t() = default;
  bfloat16_t(float f) : bits(from_float(f)) {}  // NOLINT: implicit like a float
  operator float() const {
    uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  static bfloat16_t from_bits(uint16_t b) {
    bfloat16_t h;
    h.bits = b;
    return h;
  }
  static uint16_t from_float(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
  }
};

// complex64: two float32s (real, imaginary), with std::complex<float>'s
// arithmetic; converts implicitly from any real value.
struct complex64_t : std::complex<float> {
  complex64_t() = default;
  complex64_t(float re, float im) : std::complex<float>(re, im) {}
  complex64_t(std::complex<float> v) : std::complex<float>(v) {}  // NOLINT
  template <typename T, typename = std::enable_if_t<!std::is_same_v<T, complex64_t> &&
                                                    std::is_convertible_v<T, float>>>
  complex64_t(T x) : std::complex<float>(static_cast<float>(x)) {}  // NOLINT
};
static_assert(sizeof(complex64_t) == 8);

struct Dtype {
  enum class Val : uint8_t {
    bool_,
    uint8,
    uint32,
    int32,
    int64,
    float16,
    bfloat16,
    float32,
    float64,
    int8,
    int16,
    uint16,
    uint64,
    complex64,
  };
  // MLX's kinds of dtypes, for issubdtype.
  enum class Category {
    complexfloating,
    floating,
    inexact,
    signedinteger,
    unsignedinteger,
    integer,
    number,
    generic,
  };
  Val val;
  uint8_t size;
  constexpr Dtype(Val val, uint8_t size) : val(val), size(size) {}
};

constexpr bool operator==(Dtype a, Dtype b) { return a.val == b.val; }
constexpr bool operator!=(Dtype a, Dtype b) { return a.val != b.val; }

inline constexpr Dtype bool_{Dtype::Val::bool_, 1};
inline constexpr Dtype uint8{Dtype::Val::uint8, 1};
inline constexpr Dtype uint32{Dtype::Val::uint32, 4};
inline constexpr Dtype int32{Dtype::Val::int32, 4};
inline constexpr Dtype int64{Dtype::Val::int64, 8};
inline constexpr Dtype float16{Dtype::Val::float16, 2};
inline constexpr Dtype bfloat16{Dtype::Val::bfloat16, 2};
inline constexpr Dtype float32{Dtype::Val::float32, 4};
inline constexpr Dtype float64{Dtype::Val::float64, 8};
inline constexpr Dtype int8{Dtype::Val::int8, 1};
inline constexpr Dtype int16{Dtype::Val::int16, 2};
inline constexpr Dtype uint16{Dtype::Val::uint16, 2};
inline constexpr Dtype uint64{Dtype::Val::uint64, 8};
inline constexpr Dtype complex64{Dtype::Val::complex64, 8};

inline constexpr Dtype::Category complexfloating = Dtype::Category::complexfloating;
inline constexpr Dtype::Category floating = Dtype::Category::floating;
inline constexpr Dtype::Category inexact = Dtype::Category::inexact;
inline constexpr Dtype::Category signedinteger = Dtype::Category::signedinteger;
inline constexpr Dtype::Category unsignedinteger = Dtype::Category::unsignedinteger;
inline constexpr Dtype::Category integer = Dtype::Category::integer;
inline constexpr Dtype::Category number = Dtype::Category::number;
inline constexpr Dtype::Category generic = Dtype::Category::generic;

inline constexpr int size_of(Dtype t) { return t.size; }
inline constexpr bool is_floating_point(Dtype t) {
  return t == float16 || t == bfloat16 || t == float32 || t == float64;
}
inline constexpr bool is_integral(Dtype t) {
  return t == uint8 || t == uint16 || t == uint32 || t == uint64 || t == int8 || t == int16 ||
         t == int32 || t == int64;
}
inline constexpr bool is_complex(Dtype t) { return t == complex64; }
inline constexpr bool is_unsigned(Dtype t) {
  return t == uint8 || t == uint16 || t == uint32 || t == uint64 || t == bool_;
}

// NumPy-style promotion: the smallest type that represents both (floats win
// over integers, float16 with bfloat16 gives float32, uint32 with int32 int64).
Dtype promote_types(Dtype a, Dtype b);

// MLX's subtype tests: a dtype is a subtype of itself and of its categories
// (float32 of floating, inexact, number, generic), a category of its parents.
bool issubdtype(Dtype a, Dtype b);
bool issubdtype(Dtype::Category a, Dtype b);
bool issubdtype(Dtype a, Dtype::Category b);
bool issubdtype(Dtype::Category a, Dtype::Category b);

std::string dtype_name(Dtype t);  // "float32", "bool", ...
std::ostream& operator<<(std::ostream& os, Dtype t);

template <typename T>
struct TypeToDtype;
template <> struct TypeToDtype<bool> { static constexpr Dtype value = bool_; };
template <> struct TypeToDtype<uint8_t> { static constexpr Dtype value = uint8; };
template <> struct TypeToDtype<uint32_t> { static constexpr Dtype value = uint32; };
template <> struct TypeToDtype<int32_t> { static constexpr Dtype value = int32; };
template <> struct TypeToDtype<int64_t> { static constexpr Dtype value = int64; };
template <> struct TypeToDtype<float16_t> { static constexpr Dtype value = float16; };
template <> struct TypeToDtype<bfloat16_t> { static constexpr Dtype value = bfloat16; };
template <> struct TypeToDtype<float> { static constexpr Dtype value = float32; };
template <> struct TypeToDtype<double> { static constexpr Dtype value = float64; };
template <> struct TypeToDtype<int8_t> { static constexpr Dtype value = int8; };
template <> struct TypeToDtype<int16_t> { static constexpr Dtype value = int16; };
template <> struct TypeToDtype<uint16_t> { static constexpr Dtype value = uint16; };
template <> struct TypeToDtype<uint64_t> { static constexpr Dtype value = uint64; };
template <> struct TypeToDtype<complex64_t> { static constexpr Dtype value = complex64; };
template <> struct TypeToDtype<std::complex<float>> { static constexpr Dtype value = complex64; };
template <> struct TypeToDtype<unsigned long long> { static constexpr Dtype value = uint64; };

template <> struct TypeToDtype<long long> { static constexpr Dtype value = int64; };

template <typename T>
inline constexpr Dtype dtype_of = TypeToDtype<T>::value;

// The dtype an array made from C++ values of type T gets unless one is given:
// T's own, but float32 for double, as in MLX (array(1.0) and {1.0, 2.0} are
// float32; pass float64 to keep doubles). Reading values back (data<T>,
// item<T>) uses dtype_of: a float64 array is read as double.
template <typename T>
inline constexpr Dtype default_dtype_of = std::is_same_v<T, double> ? float32 : dtype_of<T>;

// A C++ type that has a rill element type.
template <typename T>
concept ElementType = requires { TypeToDtype<T>::value; };

}  // namespace rill
