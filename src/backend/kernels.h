// What every backend implements: one kernel per primitive family, listed once
// in RILL_BACKEND_KERNELS. The list declares the kernels of each backend
// (rill::detail::cpu::name, rill::detail::gpu::name) and the table of entry
// points a primitive evaluates through (Kernels), so a primitive's body is
// written once for all backends (core/primitives.h). Internal.
//
// Every kernel computes one node `out` from its inputs and allocates, donates
// or views out's buffer on its backend: host memory for the CPU, the device
// stream of the segment being run for the GPU (backend/gpu.h), where the
// inputs already are (gpu_prepare saw to it). Inputs may have any strides.
#pragma once

#include <cstdint>
#include <vector>

#include "common/op_kinds.h"
#include "common/quantize_math.h"
#include "core/node.h"

namespace rill::detail {

// rope's scalar settings.
struct RopeParams {
  int dims;
  bool traditional;
  float base;  // used when there are no freqs
  float scale;
  int offset;  // used when there is no offset array
};

// conv's settings, one entry per spatial axis (the input needs no dilation:
// the front end dilates it).
struct ConvParams {
  std::vector<int> stride, pad_lo, pad_hi, kernel_dilation;  // pads >= 0
  int groups;
  bool flip;  // the kernel reversed along its spatial axes
};

// quantize's format (common/quantize_math.h).
struct QuantParams {
  int group_size;
  int bits;
  QuantMode mode;
};

// X(name, (parameters)) for each kernel, with its contract above it.
#define RILL_BACKEND_KERNELS(X)                                                            \
  /* out has in's shape; out.dtype is bool for logical_not, else in.dtype. */             \
  /* `decimals` is used by round only. */                                                 \
  X(unary, (UnaryOp op, const Node& in, Node& out, int decimals))                        \
  /* a and b have out's dtype (comparisons and logic: a common dtype, out */              \
  /* bool) and shapes that broadcast to out's. */                                         \
  X(binary, (BinaryOp op, const Node& a, const Node& b, Node& out))                      \
  /* out = cond ? x : y, broadcasting; x and y have out's dtype. */                       \
  X(where, (const Node& cond, const Node& x, const Node& y, Node& out))                  \
  /* out = minimum(maximum(x, lo), hi) in one pass, broadcasting; a bound */              \
  /* not given is null; x, lo and hi have out's dtype (not complex). */                  \
  X(clip, (const Node& x, const Node* lo, const Node* hi, Node& out))                    \
  /* Row-major copy of `in` (broadcast to out's shape), converted to out.dtype. */        \
  X(copy, (const Node& in, Node& out))                                                    \
  /* Reduces `axes` (sorted, non-negative, in in's dims); out has in's shape */          \
  /* with those axes set to 1 (keepdims) or removed. */                                   \
  X(reduce, (ReduceOp op, const Node& in, const std::vector<int>& axes, Node& out))      \
  X(arg_reduce, (ArgReduceOp op, const Node& in, int axis, Node& out))                   \
  /* Batched product: a [..., M, K], b [..., K, N], batch dims already */                 \
  /* broadcast to out's [..., M, N]; all three share one dtype. */                        \
  X(matmul, (const Node& a, const Node& b, Node& out))                                    \
  /* out = alpha (a @ b) + beta c, c (out's dtype) broadcast to out's shape */            \
  /* and not read when beta is 0. */                                                      \
  X(addmm, (const Node& c, const Node& a, const Node& b, float alpha, float beta,        \
            Node& out))                                                                   \
  /* out[i] = start + i step. */                                                          \
  X(arange, (double start, double step, Node& out))                                       \
  /* Ones on diagonal k of a 2-D out. */                                                  \
  X(eye, (int k, Node& out))                                                              \
  /* Over the last `axes` dims of a floating `in`, in float32 (float64 for */             \
  /* float64). softmax: out has in's shape; logsumexp: in's shape without */              \
  /* those dims, and -inf over empty ones. */                                             \
  X(softmax, (const Node& in, int axes, Node& out))                                       \
  X(logsumexp, (const Node& in, int axes, Node& out))                                     \
  /* out = a's shape with `axis` replaced by indices' shape. An index */                  \
  /* outside [-n, n) throws std::out_of_range (throw_index_error). On a GPU */            \
  /* the indices may be on the host (Primitive::host_input). */                           \
  X(take, (const Node& a, const Node& indices, int axis, Node& out))                     \
  /* a and indices have out's rank and broadcast to out's shape off `axis`. */           \
  X(take_along_axis, (const Node& a, const Node& indices, int axis, Node& out))          \
  /* Each input (out's dtype) into its slot along `axis`; an input one */                 \
  /* dimension short (stack) fills a slot of size 1. */                                   \
  X(concatenate, (const std::vector<const Node*>& ins, int axis, Node& out))             \
  /* `in` with low[d] elements before each dim d: the scalar `value` (out's */            \
  /* dtype) outside, or with `edge` the nearest element of `in`. */                       \
  X(pad, (const Node& in, const Node& value, const std::vector<int>& low, bool edge,     \
          Node& out))                                                                     \
  /* MLX's gather: out is [idx..., slice...] (indices broadcast to idx's */                 \
  /* shape, one per axis in `axes`); element (i, s) is a at s + start(i), */              \
  /* start(i)[axes[k]] = indices[k][i] (negative counts from the end). A */                \
  /* start whose slice leaves its axis throws std::out_of_range */                          \
  /* (throw_index_error). On a GPU the indices may be on the host. */                       \
  X(gather, (const Node& a, const std::vector<const Node*>& indices,                       \
             const std::vector<int>& axes, Node& out))                                       \
  /* MLX's scatter: out = a (a's dtype and shape), then each element (i, s) */             \
  /* of updates ([idx..., slice...], out's dtype) combined by `op` */                       \
  /* (common/scatter_math.h) into the element at s + start(i), as in gather. */              \
  X(scatter, (ScatterOp op, const Node& a, const std::vector<const Node*>& indices,         \
              const Node& updates, const std::vector<int>& axes, Node& out))                 \
  /* out = a, then out's elements start + step j (j over update's shape, */                 \
  /* which is the region's) combined with update (out's dtype) by `op`. */                  \
  X(slice_update, (ScatterOp op, const Node& a, const Node& update, const Shape& start,      \
                   const Shape& step, Node& out))                                            \
  /* Convolution, channels last: in [N, spatial..., C], w [O, kernel..., */                \
  /* C / groups] and zero (a scalar 0) of out's dtype, out [N, spatial..., O]. */           \
  X(conv, (const Node& in, const Node& w, const Node& zero, const ConvParams& p,            \
           Node& out))                                                                      \
  /* Scan `op` along `axis` (common/scan_math.h); in has out's dtype. */                 \
  X(scan, (ScanOp op, const Node& in, int axis, bool reverse, bool inclusive, Node& out)) \
  /* Along `axis` (op_list.h); partition puts the kth smallest at kth, topk */            \
  /* writes the `kth` largest, ascending, to an axis of that size. */                     \
  X(sort, (SortOp op, const Node& in, int axis, int kth, Node& out))                     \
  /* Normalise the last axis of x; w and b (may be null) are 1-D of x's last */           \
  /* size; float32 accumulation for the half types. */                                    \
  X(layer_norm, (const Node& x, const Node* w, const Node* b, float eps, Node& out))     \
  X(rms_norm, (const Node& x, const Node* w, float eps, Node& out))                      \
  /* Rotates the first p.dims features of x [..., L, D] by position * scale * */         \
  /* inv_freq; `offset` (integer, one value or one per index of x's first */              \
  /* axis) and `freqs` (dims / 2 periods) may be null. */                                 \
  X(rope, (const Node& x, const Node* offset, const Node* freqs, const RopeParams& p,    \
           Node& out))                                                                    \
  /* softmax(q k^T scale + mask) v: q [B, Hq, Lq, D], k [B, Hkv, Lk, D], */               \
  /* v [B, Hkv, Lk, Dv], all of out's dtype; mask (may be null) is bool or */             \
  /* out's dtype and broadcasts to [B, Hq, Lq, Lk]. Rows that see no key */               \
  /* give zeros. */                                                                       \
  X(scaled_dot_product_attention, (const Node& q, const Node& k, const Node& v,          \
                                   const Node* mask, float scale, bool causal,           \
                                   Node& out))                                            \
  /* random::bits: Threefry-2x32 (common/threefry.h) under the uint32 key */              \
  /* pair `key`, in MLX's word order: width 1, 2, 4 fill uint8, uint16, uint32. */ \
  X(random_bits, (const Node& key, int width, Node& out))                                 \
  /* random::uniform (lo, hi: float32 scalars, or null for [0, 1)) and */                 \
  /* random::normal (loc + scale z) in out's floating dtype. */                           \
  X(random_floats, (const Node& key, const Node* lo, const Node* hi, bool normal,        \
                    double scale, double loc, Node& out))                                 \
  /* complex64 from float32 parts, each broadcast to out's shape. */                    \
  X(make_complex, (const Node& re, const Node& im, Node& out))                           \
  /* Unnormalised discrete Fourier transforms over the last `axes` dims (at */          \
  /* most 3) of in, sign -1 (forward) or +1 (inverse). Complex to complex, */            \
  /* or with `real`: forward float32 in (n) to complex out (n / 2 + 1 on the */          \
  /* last axis), inverse complex in (n / 2 + 1) to float32 out (n). */                   \
  X(fft, (const Node& in, int axes, bool inverse, bool real, Node& out))                 \
  /* Quantization in MLX's formats (common/quantize_math.h); every input */               \
  /* row-major. quantize: w [..., K] floating; part 0 writes the codes */                 \
  /* (uint32 [..., K bits / 32]), 1 the scales (w's dtype, uint8 for the */               \
  /* float modes), 2 the biases (affine) [..., K / group]; global_scale */                \
  /* (nvfp4, float32 scalar) may be null. */                                              \
  X(quantize, (const Node& w, const Node* global_scale, const QuantParams& p, int part,  \
               Node& out))                                                                \
  /* dequantize: w uint32 [..., K bits / 32], scales [..., K / group], biases */          \
  /* (affine, scales' dtype) or null; out [..., K] floating. */                            \
  X(dequantize, (const Node& w, const Node& scales, const Node* biases,                  \
                 const Node* global_scale, const QuantParams& p, Node& out))              \
  /* x @ dequantize(w)^T (transpose) or x @ dequantize(w): x [B, M, K] (out's */         \
  /* dtype), w [Bw, N, K bits / 32] or [Bw, K, N bits / 32] with its scales */            \
  /* and biases (out's dtype for affine), Bw 1 (every batch) or B; out */                 \
  /* [B, M, N]. */                                                                        \
  X(quantized_matmul, (const Node& x, const Node& w, const Node& scales,                 \
                       const Node* biases, const QuantParams& p, bool transpose,         \
                       Node& out))                                                        \
  /* testing::device_fault: copies `in` to `out`, then writes through a wild */           \
  /* address. A GPU reports it asynchronously; the CPU refuses it. */                     \
  X(wild_write, (const Node& in, Node& out))

#define RILL_DECLARE_KERNEL(name, params) void name params;
namespace cpu {
RILL_BACKEND_KERNELS(RILL_DECLARE_KERNEL)
}
namespace gpu {
RILL_BACKEND_KERNELS(RILL_DECLARE_KERNEL)
}
#undef RILL_DECLARE_KERNEL

// One backend's entry points. cpu_backend holds cpu::*; gpu_backend holds
// gpu::* in a build with a GPU backend, and functions that throw
// std::logic_error in one without (no GPU stream exists there to run them).
struct Kernels {
#define RILL_KERNEL_ENTRY(name, params) void(*name) params;
  RILL_BACKEND_KERNELS(RILL_KERNEL_ENTRY)
#undef RILL_KERNEL_ENTRY
};
extern const Kernels cpu_backend;
extern const Kernels gpu_backend;

// conv through im2col and one batched product, with backend k's own kernels
// (backend/conv_im2col.cpp): the CPU's conv, and the GPU's without cuDNN.
void conv_im2col(const Kernels& k, const Node& in, const Node& w, const Node& zero,
                 const ConvParams& p, Node& out);

// quantized_matmul for many rows, over backend k's own kernels
// (backend/quantized_matmul.cpp): w dequantized into out's dtype, then one
// matmul (the GPU's tensor cores, the CPU's packed product).
void quantized_matmul_dequantized(const Kernels& k, const Node& x, const Node& w,
                                  const Node& scales, const Node* biases,
                                  const QuantParams& p, bool transpose, Node& out);
// out = x @ wd^T (transpose) or x @ wd for wd [Bw, rows, cols] (Bw 1: the
// same matrix for every batch of x), through k's matmul on a view of wd.
void matmul_dequantized(const Kernels& k, const Node& x, const Node& wd, bool transpose,
                        Node& out);

// The error of an index outside [-n, n) along `axis` (std::out_of_range), for
// every backend's gathers.
[[noreturn]] void throw_index_error(int64_t index, int64_t n, int axis);

}  // namespace rill::detail
