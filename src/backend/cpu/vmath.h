// Branch-free float math that GCC vectorises (glibc's expf/erff are scalar
// calls), and the attribute that compiles a loop for wider vector units.
// Internal.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace rill::detail::cpu {

// Wider vectors where the CPU has them (not in sanitizer builds, whose runtimes
// and ifunc resolvers need not get along); the loops stay plain C++.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
#define RILL_VECTOR_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
// For loops built on lane_sum's eight partial sums: eight lanes are one AVX2
// register, while AVX-512 code for them shuffles halves around and runs slower.
#define RILL_AVX2_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define RILL_VECTOR_CLONES
#define RILL_AVX2_CLONES
#endif

// e^(v - k ln 2), with k = round(v / ln 2): Cephes' expf reduction (ln 2 in
// two parts) and polynomial; the callers scale by 2^k.
inline float exp_reduced(float v, int32_t k) {
  const float fk = static_cast<float>(k);
  float r = std::fma(fk, -0.693359375f, v);
  r = std::fma(fk, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  return std::fma(p, r * r, r) + 1.0f;
}

// exp(v) for v <= 88.7 (-inf and anything below -88 give 0, NaN stays NaN):
// Cephes' expf reduction and polynomial (about 1e-7 relative). Selects go
// through integer masks because GCC will not if-convert float selects under
// -ftrapping-math, and callers' loops must vectorise. The multiply-adds are
// explicit std::fma: exactly rounded wherever they run (an instruction in the
// wider clones, a libm call in the baseline one), so results do not depend on
// the vector unit, and they take half the instructions of a multiply and an add.
inline float vexp(float v0) {
  const uint32_t floor_bits = std::bit_cast<uint32_t>(-88.0f);
  const uint32_t v0_bits = std::bit_cast<uint32_t>(v0);
  const uint32_t low = -static_cast<uint32_t>(!(v0 >= -88.0f));  // or NaN
  const float v = std::bit_cast<float>((v0_bits & ~low) | (floor_bits & low));
  // k = round(v / ln 2) >= -127; 2^-127 has all-zero bits, so v < -88 gives 0.
  const int32_t k = static_cast<int32_t>(std::fma(v, 1.44269504088896341f, 128.5f)) - 128;
  const float p = exp_reduced(v, k);
  const float y = p * std::bit_cast<float>((k + 127) << 23);
  const uint32_t nan = -static_cast<uint32_t>(v0 != v0);
  return std::bit_cast<float>((std::bit_cast<uint32_t>(y) & ~nan) | (v0_bits & nan));
}

// c ? a : b without a branch (an integer mask: GCC does not if-convert float
// selects under -ftrapping-math, and the loops must vectorise).
inline float vselect(bool c, float a, float b) {
  const uint32_t m = -static_cast<uint32_t>(c);
  return std::bit_cast<float>((std::bit_cast<uint32_t>(a) & m) |
                              (std::bit_cast<uint32_t>(b) & ~m));
}

// exp(x) over all floats: overflow to inf past 88.72, gradual underflow to
// denormals and 0 below -87.3, NaN kept. exp_reduced, with 2^k applied as
// two factors so that both stay normal.
inline float vexp_full(float x) {
  const bool nan = x != x;
  float v = vselect((x < -104.0f) | nan, -104.0f, x);
  v = vselect(v > 88.73f, 88.73f, v);
  const int32_t k = static_cast<int32_t>(std::fma(v, 1.44269504088896341f, 256.5f)) - 256;
  const float p = exp_reduced(v, k);
  const int32_t k1 = k >> 1, k2 = k - k1;
  const float y = p * std::bit_cast<float>((k1 + 127) << 23) * std::bit_cast<float>((k2 + 127) << 23);
  return vselect(nan, x, y);
}

// log(x) (Cephes' logf: about 1e-7 relative): -inf at 0, NaN below 0 and for
// NaN, inf at inf; denormals scaled first.
inline float vlog(float x) {
  const bool den = x < 1.17549435e-38f;
  const float xs = vselect(den, x * 8388608.0f, x);
  const uint32_t b = std::bit_cast<uint32_t>(xs);
  int32_t e = static_cast<int32_t>((b >> 23) & 0xffu) - 126 - (den ? 23 : 0);
  float m = std::bit_cast<float>((b & 0x007fffffu) | 0x3f000000u);  // [0.5, 1)
  const bool small = m < 0.707106781186547524f;
  e -= small ? 1 : 0;
  m = vselect(small, m + m - 1.0f, m - 1.0f);
  const float z = m * m;
  float p = 7.0376836292e-2f;
  p = std::fma(p, m, -1.1514610310e-1f);
  p = std::fma(p, m, 1.1676998740e-1f);
  p = std::fma(p, m, -1.2420140846e-1f);
  p = std::fma(p, m, 1.4249322787e-1f);
  p = std::fma(p, m, -1.6668057665e-1f);
  p = std::fma(p, m, 2.0000714765e-1f);
  p = std::fma(p, m, -2.4999993993e-1f);
  p = std::fma(p, m, 3.3333331174e-1f);
  const float fe = static_cast<float>(e);
  float y = p * m * z;
  y = std::fma(fe, -2.12194440e-4f, y);
  y = std::fma(-0.5f, z, y);
  float r = std::fma(fe, 0.693359375f, m + y);
  r = vselect(x == 0.0f, -std::numeric_limits<float>::infinity(), r);
  r = vselect(x == std::numeric_limits<float>::infinity(), x, r);
  return vselect((x < 0.0f) | (x != x), std::numeric_limits<float>::quiet_NaN(), r);
}

// tanh(x) (Cephes' tanhf: a polynomial below 0.625, 1 - 2 / (e^2|x| + 1)
// above, with x's sign); NaN kept.
inline float vtanh(float x) {
  const float ax = std::fabs(x);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = std::fma(p, z, 2.06390887954e-2f);
  p = std::fma(p, z, -5.37397155531e-2f);
  p = std::fma(p, z, 1.33314422036e-1f);
  p = std::fma(p, z, -3.33332819422e-1f);
  const float near = std::fma(p * z, x, x);
  const float far = std::copysign(1.0f - 2.0f / (vexp_full(2.0f * ax) + 1.0f), x);
  return vselect(ax < 0.625f, near, far);
}

// 1 / (1 + e^-x), as e^x / (1 + e^x) for negative x (no overflow of e^-x
// where the result is still a denormal); NaN kept.
inline float vsigmoid(float x) {
  const float e = vexp_full(-std::fabs(x));
  const float s = 1.0f / (1.0f + e);
  return vselect(x < 0.0f, e * s, s);
}

// sin(x) or cos(x) (Cephes' sinf/cosf: reduction by pi/4 in three parts,
// about 1e-7 absolute) for |x| <= 8192; callers compute larger or non-finite
// arguments with libm.
template <bool Cos>
inline float vsincos(float x) {
  const float a0 = std::fabs(x);
  const float ax = vselect(a0 <= 8192.0f, a0, 0.0f);  // NaN, inf and beyond: the caller's
  int32_t j = static_cast<int32_t>(ax * 1.27323954473516f);  // 4 / pi
  j += j & 1;
  const float y = static_cast<float>(j);
  const float r = ((ax - y * 0.78515625f) - y * 2.4187564849853515625e-4f) -
                  y * 3.77489497744594108e-8f;
  const float z = r * r;
  float ps = -1.9515295891e-4f;
  ps = std::fma(ps, z, 8.3321608736e-3f);
  ps = std::fma(ps, z, -1.6666654611e-1f);
  ps = std::fma(ps * z, r, r);
  float pc = 2.443315711809948e-5f;
  pc = std::fma(pc, z, -1.388731625493765e-3f);
  pc = std::fma(pc, z, 4.166664568298827e-2f);
  pc = std::fma(pc * z, z, std::fma(-0.5f, z, 1.0f));
  // r's offset j pi / 4 (j even): sin takes pc at j = 2, 6 and flips at 4, 6;
  // cos takes ps at j = 2, 6 and flips at 2, 4.
  const bool other = (j & 2) != 0;
  float v = Cos ? vselect(other, ps, pc) : vselect(other, pc, ps);
  const bool flip = Cos ? ((j + 2) & 4) != 0 : (j & 4) != 0;
  v = vselect(flip, -v, v);
  if constexpr (!Cos) v = std::copysign(1.0f, x) * v;
  return v;
}

// erf(x) within 1.5e-7 absolute (Abramowitz and Stegun 7.1.26), odd by
// construction; NaN stays NaN.
inline float verf(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const float ax = std::bit_cast<float>(bits & 0x7fffffffu);
  const float t = 1.0f / std::fma(0.3275911f, ax, 1.0f);
  float p = 1.061405429f;
  p = std::fma(p, t, -1.453152027f);
  p = std::fma(p, t, 1.421413741f);
  p = std::fma(p, t, -0.284496736f);
  p = std::fma(p, t, 0.254829592f);
  const float y = std::fma(-(p * t), vexp(-ax * ax), 1.0f);
  return std::bit_cast<float>(std::bit_cast<uint32_t>(y) | (bits & 0x80000000u));
}

// Eight independent partial sums: vectorisable without reassociating, and
// more accurate than one running sum.
template <typename C>
C lane_sum(const C* x, int64_t n) {
  C acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += x[i + k];
  }
  C s = 0;
  for (; i < n; ++i) s += x[i];
  return s + ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
         ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

}  // namespace rill::detail::cpu
