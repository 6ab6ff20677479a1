// quantized_matmul for many rows over any backend's own kernels
// (backend/kernels.h): w dequantized once into out's dtype, then one batched
// product, w read through a view (transposed when asked, its batch broadcast
// when it is one matrix for all).
#include <cstdint>

#include "backend/kernels.h"

namespace rill::detail {

void quantized_matmul_dequantized(const Kernels& k, const Node& x, const Node& w,
                                  const Node& scales, const Node* biases,
                                  const QuantParams& p, bool transpose, Node& out) {
  const Stream sid = out.stream_id;
  const int32_t B = x.shape[0], Bw = w.shape[0], rows = w.shape[1];
  const int32_t cols = static_cast<int32_t>(int64_t(w.shape[2]) * 32 / p.bits);
  Node wd({Bw, rows, cols}, out.dtype, nullptr, sid);
  k.dequantize(w, scales, biases, nullptr, p, wd);
  // b [B, K, N] over wd [Bw, rows, cols].
  const int64_t batch_stride = Bw == 1 ? 0 : int64_t(rows) * cols;
  Node b({B, transpose ? cols : rows, transpose ? rows : cols}, out.dtype, nullptr, sid);
  if (transpose) {
    set_view(b, wd, {batch_stride, 1, cols}, wd.offset);
  } else {
    set_view(b, wd, {batch_stride, cols, 1}, wd.offset);
  }
  k.matmul(x, b, out);
}

}  // namespace rill::detail
