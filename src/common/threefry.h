// rill's random numbers, for the CPU and the GPU alike: Threefry-2x32 bits and
// the two uniforms or normals drawn from one counter. Both backends call these,
// so they give the same bits and, up to their libm, the same values. Internal.
#pragma once

#include <math.h>
#include <stdint.h>

#include "common/host_device.h"

namespace rill::detail {

RILL_HD uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

// Threefry-2x32 with 20 rounds: the key (k0, k1) encrypts the counter (c0, c1)
// into (o0, o1).
RILL_HD void threefry(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1, uint32_t& o0,
                      uint32_t& o1) {
  const int rot[8] = {13, 15, 26, 6, 17, 29, 16, 24};
  const uint32_t ks[3] = {k0, k1, 0x1BD11BDAu ^ k0 ^ k1};
  uint32_t x0 = c0 + ks[0], x1 = c1 + ks[1];
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int i = 0; i < 20; ++i) {
    x0 += x1;
    x1 = rotl32(x1, rot[i % 8]);
    x1 ^= x0;
    if (i % 4 == 3) {
      const uint32_t j = static_cast<uint32_t>(i / 4 + 1);
      x0 += ks[j % 3];
      x1 += ks[(j + 1) % 3] + j;
    }
  }
  o0 = x0;
  o1 = x1;
}

// Counter c of a 64-bit position, split into Threefry's two words.
RILL_HD void threefry_at(uint32_t k0, uint32_t k1, uint64_t c, uint32_t& o0, uint32_t& o1) {
  threefry(k0, k1, static_cast<uint32_t>(c), static_cast<uint32_t>(c >> 32), o0, o1);
}

// A uniform float in [0, 1) from a 32-bit word: its top 23 bits over 2^23,
// exact.
// random::bits' words in MLX's order: a key's `words` words are hashed in
// pairs, counter (i, half + odd + i) giving word i and word half + odd + i
// (half = words / 2, odd = words % 2), and an odd middle word half is the
// first word of counter (half, 0). Word j of the output, for any j < words.
RILL_HD uint32_t mlx_bits_word(uint32_t k0, uint32_t k1, uint64_t words, uint64_t j) {
  const uint64_t half = words / 2, odd = words % 2;
  uint32_t a, b;
  if (odd && j == half) {
    threefry(k0, k1, static_cast<uint32_t>(half), 0u, a, b);
    return a;
  }
  const uint64_t i = j < half ? j : j - half - odd;
  threefry(k0, k1, static_cast<uint32_t>(i), static_cast<uint32_t>(half + odd + i), a, b);
  return j < half ? a : b;
}

RILL_HD float unit_float(uint32_t w) { return static_cast<float>(w >> 9) * 0x1p-23f; }

// The two numbers of counter words (a, b), before conversion to the output
// dtype:
//   uniform: u = unit_float(word) in [0, 1), then lo + u (hi - lo) rounded as
//            float32 arithmetic rounds it (each step; a product of two floats
//            and a sum of two are exact in double before the rounding);
//   normal:  a Box-Muller pair in double, then loc + scale z as one fused
//            multiply-add, rounded once.
RILL_HD void random_pair(uint32_t a, uint32_t b, bool normal, float lo, float hi, double scale,
                         double loc, double& v0, double& v1) {
  if (normal) {
    const double r = sqrt(-2.0 * log(1.0 - static_cast<double>(unit_float(a))));
    const double t = 6.283185307179586 * static_cast<double>(unit_float(b));
    v0 = fma(scale, r * cos(t), loc);
    v1 = fma(scale, r * sin(t), loc);
  } else {
    const float d = hi - lo;
    const float m0 = static_cast<float>(static_cast<double>(unit_float(a)) * static_cast<double>(d));
    const float m1 = static_cast<float>(static_cast<double>(unit_float(b)) * static_cast<double>(d));
    v0 = static_cast<float>(static_cast<double>(lo) + static_cast<double>(m0));
    v1 = static_cast<float>(static_cast<double>(lo) + static_cast<double>(m1));
  }
}

}  // namespace rill::detail
