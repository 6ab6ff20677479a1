// Branch-free float math that GCC vectorises (glibc's expf/erff are scalar
// calls), and the attribute that compiles a loop for wider vector units.
// Internal.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

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
  const float fk = static_cast<float>(k);
  float r = std::fma(fk, -0.693359375f, v);
  r = std::fma(fk, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p, r * r, r) + 1.0f;
  const float y = p * std::bit_cast<float>((k + 127) << 23);
  const uint32_t nan = -static_cast<uint32_t>(v0 != v0);
  return std::bit_cast<float>((std::bit_cast<uint32_t>(y) & ~nan) | (v0_bits & nan));
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
