// What quantize, dequantize and the quantized products compute, in MLX's
// formats, for the CPU's loops and the GPU's kernels alike. Internal.
//
// A matrix [..., K] is quantized along K in groups of `group_size` elements.
// Each element becomes a code of `bits` bits; the codes of a row are one
// little-endian bit stream stored as uint32 words (code j at bits
// [j bits, (j + 1) bits) of the stream), so a row of K codes takes
// K bits / 32 words and 32 codes always fill `bits` whole words.
//   affine (bits 2, 3, 4, 5, 6, 8; groups of 32, 64, 128): w ~ code * scale +
//       bias, scale and bias per group in w's dtype;
//   mxfp4 (4 bits, groups of 32): the code is an e2m1 float, the scale a
//       power of two stored as its biased exponent (uint8, e8m0);
//   mxfp8 (8 bits, groups of 32): the code is an e4m3 float, the scale as mxfp4;
//   nvfp4 (4 bits, groups of 16): e2m1 codes, the scale an e4m3 float (uint8),
//       optionally over a float32 global scale.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/host_device.h"

namespace rill::detail {

enum class QuantMode : int { affine, mxfp4, mxfp8, nvfp4 };

RILL_HD uint32_t float_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
#endif
}
RILL_HD float bits_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  memcpy(&f, &u, 4);
  return f;
#endif
}

// ---- affine ----

// A group's scale and bias from its smallest and largest element, in float32
// as MLX computes them: the edge farther from zero is hit exactly by a whole
// code (so a group of one sign keeps zero representable when it can).
struct AffineGroup {
  float scale, bias;
};
RILL_HD AffineGroup affine_group(float w_min, float w_max, int bits) {
  const float n_bins = static_cast<float>((1 << bits) - 1);
  const bool low_edge = fabsf(w_min) > fabsf(w_max);
  float scale = fmaxf((w_max - w_min) / n_bins, 1e-7f);
  scale = low_edge ? scale : -scale;
  const float edge = low_edge ? w_min : w_max;
  const float q0 = rintf(edge / scale);
  AffineGroup g{scale, 0.0f};
  if (q0 != 0.0f) {
    g.scale = edge / q0;
    g.bias = edge;
  }
  return g;
}

// The code of w under a group's float32 scale and bias (nearest, ties to even,
// clamped to [0, 2^bits - 1]).
RILL_HD uint32_t affine_code(float w, float scale, float bias, int bits) {
  float q = rintf((w - bias) / scale);
  q = fminf(fmaxf(q, 0.0f), static_cast<float>((1 << bits) - 1));
  return static_cast<uint32_t>(q);
}

// ---- the bit stream ----

// Code j of a row's stream.
RILL_HD uint32_t code_at(const uint32_t* words, int64_t j, int bits) {
  const int64_t bit = j * bits;
  const int64_t w = bit >> 5;
  const int off = static_cast<int>(bit & 31);
  uint64_t v = words[w] >> off;
  if (off + bits > 32) v |= static_cast<uint64_t>(words[w + 1]) << (32 - off);
  return static_cast<uint32_t>(v) & ((1u << bits) - 1u);
}

// The 32 codes of pack p (codes 32p .. 32p + 31, which fill `bits` words).
RILL_HD void unpack32(const uint32_t* words, int bits, uint32_t* codes) {
  uint64_t buf = 0;
  int have = 0, next = 0;
  const uint32_t mask = (1u << bits) - 1u;
  for (int j = 0; j < 32; ++j) {
    if (have < bits) {
      buf |= static_cast<uint64_t>(words[next++]) << have;
      have += 32;
    }
    codes[j] = static_cast<uint32_t>(buf) & mask;
    buf >>= bits;
    have -= bits;
  }
}

// Appends codes to a stream being written word by word.
struct CodeWriter {
  uint32_t* out;
  int bits;
  uint64_t buf = 0;
  int have = 0;
  RILL_HD CodeWriter(uint32_t* o, int b) : out(o), bits(b) {}
  RILL_HD void put(uint32_t code) {
    buf |= static_cast<uint64_t>(code) << have;
    have += bits;
    if (have >= 32) {
      *out++ = static_cast<uint32_t>(buf);
      buf >>= 32;
      have -= 32;
    }
  }
};

// ---- the float formats ----

// e2m1 (fp4) values by code: 0 0.5 1 1.5 2 3 4 6, then the same negated.
RILL_HD float fp4_value(uint32_t c) {
  const float mag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  return (c & 8u) ? -mag[c & 7u] : mag[c & 7u];
}

// The e4m3fn code nearest x (ties to even); past the largest finite value
// (448), infinities and NaN saturate to 0x7e, as rill's to_fp8 does.
RILL_HD uint32_t fp8_code(float x) {
  const uint32_t bits = float_bits(x);
  const uint32_t sign = bits & 0x80000000u, mag = bits ^ sign;
  uint32_t code;
  if (mag >= (543u << 21)) {
    code = 0x7Eu;
  } else if (mag < (121u << 23)) {
    // Below 2^-6: the float adder rounds x + 2^14 at e4m3's subnormal step.
    code = float_bits(bits_float(mag) + 16384.0f) - (141u << 23);
  } else {
    const uint32_t rebias = static_cast<uint32_t>(-(int64_t(120) << 23)) + 0x7FFFFu;
    code = (mag + rebias + ((mag >> 20) & 1u)) >> 20;
  }
  return (code & 0xFFu) | (sign >> 24);
}

// The value of e4m3fn code c (NaN at S.1111.111, no infinities).
RILL_HD float fp8_value(uint32_t c) {
  const uint32_t e = (c >> 3) & 15u, m = c & 7u;
  float v;
  if ((c & 0x7Fu) == 0x7Fu) {
    v = bits_float(0x7FC00000u);
  } else if (e == 0) {
    v = ldexpf(static_cast<float>(m), -9);
  } else {
    v = ldexpf(static_cast<float>(8 + m), static_cast<int>(e) - 10);
  }
  return (c & 0x80u) ? -v : v;
}

// The largest magnitude of a mode's element format.
RILL_HD float fp_max(QuantMode m) { return m == QuantMode::mxfp8 ? 448.0f : 6.0f; }

// One group of a float mode quantized as MLX does: mxfp4 and mxfp8 in
// float32; nvfp4's scale and its division rounded to the weight's dtype T as
// MLX computes them: `round_t` rounds a float to T (the identity for float32). Writes the group's codes through `put` and
// returns the stored scale byte. nvfp4's `scale_encode` is 448 * 6 / the
// global scale (1 without one).
template <typename Load, typename RoundT, typename Put>
RILL_HD uint32_t fp_quantize_group(QuantMode mode, int group_size, Load&& w,
                                          RoundT&& round_t, float scale_encode, Put&& put) {
  float amax = 0.0f;
  for (int j = 0; j < group_size; ++j) amax = fmaxf(amax, fabsf(w(j)));
  float div;       // what each element is divided by (in T)
  float mul = 1;   // then multiplied by (nvfp4: float32)
  uint32_t stored;
  bool in_float = false;  // nvfp4's elements are float32 from here on
  if (mode == QuantMode::nvfp4) {
    const float scale = round_t(amax / fp_max(mode));
    stored = fp8_code(scale * scale_encode);
    div = round_t(fp8_value(stored));
    mul = scale_encode;
    in_float = true;
  } else {
    // The smallest power of two 2^e with amax / 2^e within the element's
    // range (e = 0 for a group of zeros); e + 127 stored modulo 256.
    const float ratio = amax / fp_max(mode);
    const int e = amax == 0.0f ? 0 : static_cast<int>(ceilf(log2f(ratio)));
    div = exp2f(static_cast<float>(e));
    stored = static_cast<uint32_t>(e + 127) & 0xFFu;
  }
  for (int j = 0; j < group_size; ++j) {
    float v = in_float ? round_t(w(j) / div) : w(j) / div;
    if (in_float) v *= mul;
    if (mode == QuantMode::mxfp8) {
      put(fp8_code(v));
      continue;
    }
    // The nearest e2m1 value, the first of equals (+0 before -0).
    uint32_t best = 0;
    float best_d = 0;
    for (uint32_t c = 0; c < 16; ++c) {
      const float d = fabsf(v - fp4_value(c));
      if (c == 0 || d < best_d) {
        best = c;
        best_d = d;
      }
    }
    put(best);
  }
  return stored;
}

// The multiplier of a float mode's group from its stored scale byte, in the
// output dtype (round_t) as MLX computes it; nvfp4's `inv_scale_encode` is the
// global scale / (448 * 6) (1 without one).
template <typename RoundT>
RILL_HD float fp_group_scale(QuantMode mode, uint32_t stored, RoundT&& round_t,
                                    float inv_scale_encode) {
  if (mode == QuantMode::nvfp4) return round_t(fp8_value(stored)) * inv_scale_encode;
  return round_t(exp2f(static_cast<float>(static_cast<int>(stored) - 127)));
}

// A float mode's element value by code.
RILL_HD float fp_element(QuantMode mode, uint32_t code) {
  return mode == QuantMode::mxfp8 ? fp8_value(code) : fp4_value(code);
}

}  // namespace rill::detail
