// Activation helpers: gelu is one elementwise kernel, the others are composed
// from ops (scalars take x's dtype).
#include "rill/nn.h"

#include <cmath>

#include "core/primitives.h"

namespace rill::nn {

// One pass over x instead of five (multiply, erf, multiply, multiply, add);
// computed in float32 for the half types, rounded once. Integer and bool
// inputs compute in float32, like erf.
array gelu(const array& x, StreamOrDevice s) {
  detail::OuterOp outer("gelu");
  Dtype t = is_floating_point(x.dtype()) ? x.dtype() : float32;
  array in = x.dtype() == t ? x : astype(x, t, s);
  return detail::make_array(x.shape(), t,
                            std::make_shared<detail::Unary>(detail::UnaryOp::gelu),
                            {in}, s, "gelu");
}

array gelu_approx(const array& x, StreamOrDevice s) {
  detail::OuterOp outer("gelu_approx");
  // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
  array x3 = multiply(multiply(x, x, s), x, s);
  array inner = multiply(add(x, multiply(x3, scalar_like(0.044715, x), s), s),
                         scalar_like(0.7978845608028654, x), s);
  array half_x = multiply(x, scalar_like(0.5, x), s);
  return add(half_x, multiply(half_x, tanh(inner, s), s), s);
}

array silu(const array& x, StreamOrDevice s) {
  detail::OuterOp outer("silu");
  return multiply(x, sigmoid(x, s), s);
}

array relu(const array& x, StreamOrDevice s) {
  detail::OuterOp outer("relu");
  return maximum(x, scalar_like(0LL, x), s);
}

}  // namespace rill::nn
