// The interface between the CUDA backend's host code (ops*.cpp, compiled by the
// C++ compiler, which knows rill's nodes) and its kernels (*.cu, compiled by
// nvcc, which see only plain pointers, dtypes and layouts). Internal.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common/op_kinds.h"
#include "common/quantize_math.h"
#include "common/strided.h"

namespace rill::detail::cu {

// Element types, in rill's Dtype::Val order (checked in ops.cpp).
enum class DT : int { bool_, u8, u32, i32, i64, f16, bf16, f32, f64, i8, i16, u16, u64, c64 };

using detail::Dims;
using detail::kMaxDims;
using detail::Steps;

// ---- elementwise.cu ----
// out (row-major, `n` elements of out_t) = in converted, walking `dims`.
void copy(DT in_t, const void* in, Steps ist, DT out_t, void* out, Dims dims, int64_t n,
          cudaStream_t s);
// out_t is t, or bool for logical_not, or f32 for real and imag of c64.
void unary(UnaryOp op, DT t, const void* in, Steps ist, DT out_t, void* out, Dims dims,
           int64_t n, int decimals, cudaStream_t s);
// Operands of type t; out_t is t or bool.
void binary(BinaryOp op, DT t, const void* a, Steps as, const void* b, Steps bs, DT out_t,
            void* out, Dims dims, int64_t n, cudaStream_t s);
// out = minimum(maximum(x, lo), hi); a null bound is not applied.
void clip(DT t, const void* x, Steps xs, const void* lo, Steps ls, const void* hi, Steps hs,
          void* out, Dims dims, int64_t n, cudaStream_t s);
void where(const void* cond, Steps cs, DT t, const void* x, Steps xs, const void* y,
           Steps ys, void* out, Dims dims, int64_t n, cudaStream_t s);
// complex64 out (row-major) from float32 parts.
void make_complex(const void* re, Steps rs, const void* im, Steps is, void* out, Dims dims,
                  int64_t n, cudaStream_t s);
void arange(DT t, double start, double step, void* out, int64_t n, cudaStream_t s);
void eye(DT t, int k, void* out, int64_t rows, int64_t cols, cudaStream_t s);

// ---- reduce.cu ----
// Reduces `in` over `red` (the reduced dims, their strides in `rst`) for each
// of the `outputs` positions of `keep` (strides `kst`), writing out[i] for the
// i-th position of `keep` in row-major order.
// Few outputs over many elements split each output's work `splits` ways
// (reduce_splits), with partial results in `scratch` (outputs * splits * 8
// bytes).
int64_t reduce_splits(int64_t outputs, int64_t reduced);
void reduce(ReduceOp op, DT t, const void* in, Dims keep, Steps kst, Dims red, Steps rst,
            DT out_t, void* out, int64_t outputs, int64_t reduced, void* scratch, int splits,
            cudaStream_t s);
// argmax / argmin along one axis of length `len`, stride `ast`;
// uint32 indices.
void arg_reduce(ArgReduceOp op, DT t, const void* in, Dims keep, Steps kst, int64_t len,
                int64_t ast, uint32_t* out, int64_t outputs, cudaStream_t s);

// ---- rows.cu: row kernels over contiguous rows of length `len` ----
// softmax (log = false) or logsumexp (log = true, one value per row).
void softmax(DT t, const void* in, void* out, int64_t rows, int64_t len, bool log,
             cudaStream_t s);
// layer_norm (rms = false) or rms_norm; w and b may be null, with strides.
void norm(DT t, const void* x, const void* w, int64_t ws, const void* b, int64_t bs,
          void* out, int64_t rows, int64_t len, float eps, bool rms, cudaStream_t s);

struct RopeArgs {
  int64_t matrices;   // product of x's leading dims (all but the last two)
  int64_t per_first;  // matrices per index of the first axis (per-batch offsets)
  int64_t len, d;     // x's last two dims
  int64_t ls, ds;     // their strides
  Dims lead;          // the leading dims and x's strides over them
  Steps lead_st;
  int dims;           // features rotated
  bool traditional;
  double scale;
  const double* inv_freq;  // device, dims / 2 values
  const int64_t* offsets;  // device, 1 or x.shape[0] values
  int64_t n_offsets;
};
void rope(DT t, const void* x, void* out, const RopeArgs& a, cudaStream_t s);

// ---- gather.cu: element moves on words of the element's size `es` ----
// take along an axis: out (row-major) = a's dims before the axis (`pre`), the
// indices' dims, a's dims after it (`post`).
struct TakeArgs {
  Dims pre, idx, post;
  Steps pre_st, idx_st, post_st;
  int64_t n_idx, n_post;     // elements of the indices and of `post`
  int64_t axis_len, axis_st;  // a's axis
};
// `bad`: null when the indices were checked on the host, else a device
// {flag, value} pair (zeroed) that receives the first index out of range.
void take(size_t es, const void* a, DT it, const void* idx, void* out, const TakeArgs& t,
          int64_t n, long long* bad, cudaStream_t s);
// out (row-major over dims) = a[offset + index * axis_st], the index read at ist.
void take_along_axis(size_t es, const void* a, Steps ast, DT it, const void* idx, Steps ist,
                     void* out, Dims dims, int64_t n, int64_t axis_len, int64_t axis_st,
                     long long* bad, cudaStream_t s);
// out[ost] = in[ist] over dims (both strided): one slot of a concatenation.
void move(size_t es, const void* in, Steps ist, void* out, Steps ost, Dims dims, int64_t n,
          cudaStream_t s);
// ---- scatter.cu ----
// Index arrays gather and scatter take at most.
constexpr int kMaxIndexArrays = 8;
// Slices at positions given by index arrays (MLX's gather and scatter): the
// position i (row-major over `idx`) starts each axes[k] at index k's value
// there, read at idx_st[k]; a value outside [-axis_len, room] is bad (room:
// the last start the slice fits). The slice's element j sits at
// offset_of(j, slice, slice_st) in the sliced array.
struct GatherArgs {
  int n_idx;
  Dims idx;
  Steps idx_st[kMaxIndexArrays];
  int64_t axis_len[kMaxIndexArrays], room[kMaxIndexArrays], axis_st[kMaxIndexArrays];
  Dims slice;
  Steps slice_st;
  int64_t n_slice;  // elements of a slice
};
// Device pointers to the index arrays (all of dtype `it`), and the {flag,
// value} pairs (null: checked on the host) that receive each one's first bad
// value.
struct IndexPtrs {
  const void* p[kMaxIndexArrays];
  long long* bad[kMaxIndexArrays];
};
// out (row-major [idx..., slice...]) from a.
void gather(size_t es, const void* a, DT it, const IndexPtrs& idx, void* out,
            const GatherArgs& g, int64_t n, cudaStream_t s);
// Each element e of updates (row-major over `ud`, read at ust) combined by
// op into out (of dtype t) at its slice position; equal positions combine
// atomically.
void scatter(ScatterOp op, DT t, void* out, const void* upd, Dims ud, Steps ust, DT it,
             const IndexPtrs& idx, const GatherArgs& g, int64_t n, cudaStream_t s);
// out[base + offset_of(j, dims, ost)] combined by op with upd[offset_of(j,
// dims, ust)] for j < n: a region of distinct elements.
void slice_update(ScatterOp op, DT t, void* out, int64_t base, Steps ost, const void* upd,
                  Steps ust, Dims dims, int64_t n, cudaStream_t s);

struct PadArgs {
  int ndim;
  int64_t out_shape[kMaxDims], in_shape[kMaxDims], in_st[kMaxDims], low[kMaxDims];
  bool edge;
};
// out (row-major) = in shifted by `low`, with *value (device) outside, or
// with `edge` the nearest element of in.
void pad(size_t es, const void* in, const void* value, void* out, const PadArgs& a, int64_t n,
         cudaStream_t s);
// random::bits: Threefry-2x32 under key (key[0], key[key_step]), the CPU's
// (and MLX's) bits exactly: n elements of `width` bytes (uint8, uint16,
// uint32).
void random_bits(const uint32_t* key, int64_t key_step, int width, void* out, int64_t n,
                 cudaStream_t s);
// random::uniform / normal into `out` of floating type t: the CPU's values
// (core/random.cpp, RandomFloats). lo, hi: device float32 scalars (null: 0
// and 1).
void random_floats(const uint32_t* key, int64_t key_step, bool normal, const float* lo,
                   const float* hi, double scale, double loc, DT t, void* out, int64_t n,
                   cudaStream_t s);

// ---- quantized.cu ----
// (common/quantize_math.h; every operand row-major.) quantize: `groups`
// groups of w (T floating); part 0 the codes, 1 the scales, 2 the biases.
void quantize(DT t, const void* w, const float* global_scale, QuantMode mode, int group_size,
              int bits, int part, void* out, int64_t groups, cudaStream_t s);
// n elements of out (T floating) from rows of words_per_row code words, K
// values each; scales (and biases) of T for affine, uint8 otherwise.
void dequantize(DT t, const uint32_t* w, const void* scales, const void* biases,
                const float* global_scale, QuantMode mode, int group_size, int bits, int64_t K,
                int64_t words_per_row, void* out, int64_t n, cudaStream_t s);
// out [B, M, N] = x [B, M, K] times w's matrix ([N, K] codes when transpose,
// [K, N] otherwise; one for every batch unless w_batched), M at most 8.
void quantized_matvec(DT t, const void* x, const uint32_t* w, const void* scales,
                      const void* biases, QuantMode mode, int group_size, int bits,
                      bool transpose, int64_t B, int64_t M, int64_t K, int64_t N,
                      bool w_batched, void* out, cudaStream_t s);

// ---- sort.cu ----
// Scan `op` (common/scan_math.h) along the middle axis of a row-major
// [outer, len, inner] input into a row-major output of the same shape, with
// the CPU's accumulators.
// Long rows (inner 1, few rows) go through tiles in one pass, which needs
// scan_scratch(...) bytes of device scratch (0: none; `scratch` may be null).
size_t scan_scratch(int64_t outer, int64_t len, int64_t inner);
void scan(ScanOp op, DT t, const void* in, void* out, int64_t outer, int64_t len, int64_t inner,
          bool reverse, bool inclusive, void* scratch, cudaStream_t s);
// Sorting along one axis: `rows` lanes of `len` elements at `axis_st` apart,
// the lanes walked over `keep` with strides kst (input) and ost (output).
// The output's axis has `m` elements at out_axis_st
// (m < len for topk). NaN last, ties in input order.
struct SortArgs {
  SortOp op;
  int64_t rows, len, axis_st, m, out_axis_st;
  Dims keep;
  Steps kst, ost;
};
// Device scratch `sort` needs (bytes).
size_t sort_scratch(DT t, const SortArgs& a);
void sort(DT t, const void* in, void* out, void* scratch, size_t scratch_bytes,
          const SortArgs& a, cudaStream_t s);

// ---- attention.cu ----
struct AttentionArgs {
  int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
  // element strides: [b, h, l, d]
  int64_t qs[4], ks[4], vs[4];
  // the output's element strides of [b, h, l] (d: 1); even where Dv is
  int64_t os[3];
  const void* mask;  // null, or bool (mask_is_bool) / t, broadcast to [B, Hq, Lq, Lk]
  bool mask_is_bool;
  int64_t ms[4];
  float scale;
  bool causal;  // query i sees keys j <= i + (Lk - Lq)
};
// testing::device_fault: a kernel that stores through a wild address.
void wild_write(cudaStream_t s);

// Bytes of device scratch `attention` wants for these arguments (0: none);
// decoding (Lq <= 8) splits the keys across the chip and combines the parts.
size_t attention_scratch(DT t, const void* q, const void* k, const void* v,
                         const AttentionArgs& a);
// out: [B, Hq, Lq, Dv] at strides a.os. `scratch`: attention_scratch() bytes, or null.
void attention(DT t, const void* q, const void* k, const void* v, void* out, void* scratch,
               const AttentionArgs& a, cudaStream_t s);

}  // namespace rill::detail::cu
