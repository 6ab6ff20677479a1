// Activation helpers used by transformer code, composed from ops.
#pragma once

#include "rill/array.h"
#include "rill/ops.h"

namespace rill::nn {

// GELU, exact: x * (1 + erf(x / sqrt(2))) / 2.
array gelu(const array& x, StreamOrDevice s = {});
// GELU, tanh approximation.
array gelu_approx(const array& x, StreamOrDevice s = {});
array silu(const array& x, StreamOrDevice s = {});
array relu(const array& x, StreamOrDevice s = {});

}  // namespace rill::nn
