// The GPU's quantization kernels (backend/kernels.h): quantize and dequantize
// on quantized.cu's kernels; quantized_matmul through the vector kernels for
// up to 8 rows of x (decoding) and quantized_matmul_dequantized beyond.
#include "backend/cuda/host.h"

namespace rill::detail::gpu {

namespace {
const float* global_ptr(const Node* g) {
  return g ? static_cast<const float*>(g->data()) : nullptr;
}
}  // namespace

void quantize(const Node& w, const Node* global_scale, const QuantParams& p, int part,
              Node& out) {
  gpu::allocate(out);
  if (w.size == 0) return;
  const int64_t groups = n_of(w) / p.group_size;
  cu::quantize(dt(w.dtype), w.data(), global_ptr(global_scale), p.mode, p.group_size, p.bits,
               part, out.mutable_data(), groups, stream());
}

void dequantize(const Node& w, const Node& scales, const Node* biases,
                const Node* global_scale, const QuantParams& p, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  cu::dequantize(dt(out.dtype), static_cast<const uint32_t*>(w.data()), scales.data(),
                 biases ? biases->data() : nullptr, global_ptr(global_scale), p.mode,
                 p.group_size, p.bits, out.shape.back(), w.shape.back(), out.mutable_data(),
                 n_of(out), stream());
}

void quantized_matmul(const Node& x, const Node& w, const Node& scales, const Node* biases,
                      const QuantParams& p, bool transpose, Node& out) {
  const int64_t B = x.shape[0], M = x.shape[1], K = x.shape[2], N = out.shape[2];
  // The vector kernels decode 32 codes of one group at a time.
  const int64_t along = transpose ? K : N;
  if (M > 8 || B > 65535 || p.group_size % 32 != 0 || along % 32 != 0) {
    quantized_matmul_dequantized(gpu_backend, x, w, scales, biases, p, transpose, out);
    return;
  }
  gpu::allocate(out);
  if (out.size == 0) return;
  cu::quantized_matvec(dt(out.dtype), x.data(), static_cast<const uint32_t*>(w.data()),
                       scales.data(), biases ? biases->data() : nullptr, p.mode, p.group_size,
                       p.bits, transpose, B, M, K, N, w.shape[0] > 1, out.mutable_data(),
                       stream());
}

}  // namespace rill::detail::gpu
