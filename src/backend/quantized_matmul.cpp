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
  const int32_t Bw = w.shape[0], rows = w.shape[1];
  const int32_t cols = static_cast<int32_t>(int64_t(w.shape[2]) * 32 / p.bits);
  Node wd({Bw, rows, cols}, out.dtype, nullptr, out.stream_id);
  k.dequantize(w, scales, biases, nullptr, p, wd);
  matmul_dequantized(k, x, wd, transpose, out);
}

void matmul_dequantized(const Kernels& k, const Node& x, const Node& wd, bool transpose,
                        Node& out) {
  const int32_t Bw = wd.shape[0], rows = wd.shape[1], cols = wd.shape[2];
  // b [B, K, N] over wd [Bw, rows, cols].
  const int64_t batch_stride = Bw == 1 ? 0 : int64_t(rows) * cols;
  Node b({x.shape[0], transpose ? cols : rows, transpose ? rows : cols}, wd.dtype, nullptr,
         out.stream_id);
  set_view(b, wd, transpose ? Strides{batch_stride, 1, cols} : Strides{batch_stride, cols, 1},
           wd.offset);
  k.matmul(x, b, out);
}

}  // namespace rill::detail
