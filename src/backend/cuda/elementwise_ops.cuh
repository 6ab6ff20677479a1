// The value of each elementwise op on one element on the GPU, for the
// elementwise kernels (elementwise.cu) and the kernels compile generates for
// fused chains (fused.cpp embeds this file in their source, so both compute
// alike, bit for bit). Includes nothing but common/elementwise_math.h: NVRTC
// compiles it without the host's headers. Internal.
#pragma once

#include "common/elementwise_math.h"

namespace rill::detail::cu {

// The op's value (common/elementwise_math.h); erf and gelu on floats are the
// GPU's own: gelu rounded at each step like the ops it replaced (no
// contraction into an fma).
template <typename C>
__device__ __forceinline__ C apply_unary(UnaryOp op, C x, int decimals) {
  if constexpr (!std::is_floating_point_v<C>) {
    return unary_integral(op, x);
  } else {
    if (op == UnaryOp::erf) return erf(x);
    if (op == UnaryOp::gelu) {
      // 0.5 x + 0.5 x erf(x / sqrt 2).
      const C half_x = x * C(0.5);
      const C e = erf(x * C(0.7071067811865476));
      if constexpr (std::is_same_v<C, float>) return __fadd_rn(half_x, __fmul_rn(half_x, e));
      return __dadd_rn(half_x, __dmul_rn(half_x, e));
    }
    return unary_floating(op, x, decimals);
  }
}

template <typename C>
__device__ __forceinline__ C apply_binary(BinaryOp op, C a, C b) {
  return binary_value(op, a, b);
}

template <typename C>
__device__ __forceinline__ bool apply_compare(BinaryOp op, C a, C b) {
  return compare_value(op, a, b);
}

}  // namespace rill::detail::cu
