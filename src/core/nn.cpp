// Activation helpers, composed from ops; scalars take x's dtype.
#include "rill/nn.h"

#include <cmath>

#include "core/node.h"

namespace rill::nn {

array gelu(const array& x, StreamOrDevice s) {
  detail::OuterOp outer("gelu");
  array half_x = multiply(x, scalar_like(0.5, x), s);
  array e = erf(multiply(x, scalar_like(0.7071067811865476, x), s), s);
  return add(half_x, multiply(half_x, e, s), s);
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
