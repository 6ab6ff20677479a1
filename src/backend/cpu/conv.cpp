// The CPU's convolution (backend/kernels.h): im2col and one batched product
// (conv_im2col over the CPU's own kernels: BLAS, or the packed kernel for
// float32 weights).
#include "backend/cpu/kernels.h"

namespace rill::detail::cpu {

void conv(const Node& in, const Node& w, const Node& zero, const ConvParams& p,
          Node& out) {
  conv_im2col(cpu_backend, in, w, zero, p, out);
}

}  // namespace rill::detail::cpu
