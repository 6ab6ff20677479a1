// What the attention kernels share (one file per kernel family beside this
// one; dispatch.cu picks the kernel): warp reductions, the grid's heads, the
// causal key range, the masked-score rule, and the m16n8k16 matrix and
// asynchronous-copy instructions. Device code; included by .cu files only.
// Internal.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "backend/cuda/device.cuh"

namespace rill::detail::cu {

template <typename T>
using att_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <typename A>
__device__ __forceinline__ A warp_max(A v) {
  for (int d = 16; d > 0; d /= 2) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, d));
  return v;
}
template <typename A>
__device__ __forceinline__ A warp_sum(A v) {
  for (int d = 16; d > 0; d /= 2) v += __shfl_xor_sync(0xffffffffu, v, d);
  return v;
}

// Lets `kernel` use `bytes` of dynamic shared memory (past the default 48 KiB).
template <typename K>
void allow_shared_memory(K kernel, size_t bytes) {
  if (bytes <= 48 * 1024) return;
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(bytes)) != cudaSuccess) {
    check_launch("scaled_dot_product_attention (shared memory)");
  }
}

// Keys [0, end) that some query of [q0, q0 + count) may see: all of them, or
// with a causal mask those up to the last query's diagonal; later key tiles
// are skipped.
__device__ __forceinline__ int64_t keys_seen(const AttentionArgs& a, int64_t q0, int64_t count) {
  if (!a.causal) return a.Lk;
  const int64_t last_q = q0 + count - 1 < a.Lq - 1 ? q0 + count - 1 : a.Lq - 1;
  const int64_t end = last_q + (a.Lk - a.Lq) + 1;
  return end > a.Lk ? a.Lk : (end < 0 ? 0 : end);
}

// The batch and query head of a block of a (query tiles, Hq, B) grid, the
// key/value head it reads (grouped-query heads share one), and where its
// rows of q, k and v start.
template <typename T>
struct BlockHeads {
  int64_t b, h;
  const T* q;
  const T* k;
  const T* v;
};
template <typename T>
__device__ __forceinline__ BlockHeads<T> block_heads(const T* q, const T* k, const T* v,
                                                     const AttentionArgs& a) {
  const int64_t b = blockIdx.z, h = blockIdx.y, hk = h / (a.Hq / a.Hkv);
  return {b, h, q + b * a.qs[0] + h * a.qs[1], k + b * a.ks[0] + hk * a.ks[1],
          v + b * a.vs[0] + hk * a.vs[1]};
}

// The masked-score rule, once for every kernel: score x of query i (of head h
// in batch b) against key j, or -inf where the key is hidden. A key is hidden
// when `in_range` is false, when a causal call puts it past the query's
// diagonal (j > i + Lk - Lq), or when a bool mask says false; an additive
// mask adds its value times `mask_scale` (log2 e in the kernels that work in
// base 2). The mask is read only where `read_mask` allows (rows that exist).
template <typename T, typename A>
__device__ __forceinline__ A masked_score(const AttentionArgs& a, A x, bool in_range,
                                          bool read_mask, int64_t b, int64_t h, int64_t i,
                                          int64_t j, A mask_scale) {
  bool visible = in_range && (!a.causal || j <= i + (a.Lk - a.Lq));
  if (visible && read_mask && a.mask) {
    const int64_t mo = b * a.ms[0] + h * a.ms[1] + i * a.ms[2] + j * a.ms[3];
    if (a.mask_is_bool) {
      visible = static_cast<const bool*>(a.mask)[mo];
    } else {
      x += static_cast<A>(widen(static_cast<const T*>(a.mask)[mo])) * mask_scale;
    }
  }
  return visible ? x : -A(INFINITY);
}

// Rounds (a, b) to a pair of T, returns the pair as one word and the rounded
// values as floats.
template <typename T>
__device__ __forceinline__ uint32_t pack2(float a, float b, float& ra, float& rb) {
  std::conditional_t<std::is_same_v<T, __half>, __half2, __nv_bfloat162> h;
  if constexpr (std::is_same_v<T, __half>) {
    h = __floats2half2_rn(a, b);
  } else {
    h = __floats2bfloat162_rn(a, b);
  }
  ra = __low2float(h);
  rb = __high2float(h);
  return *reinterpret_cast<uint32_t*>(&h);
}

// c += a b for one m16n8k16 tile (a: 16 x 16 row-major, b: 16 x 8 column-major).
template <typename T>
__device__ __forceinline__ void mma(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  const int bytes = valid ? 16 : 0;  // 0: fill with zeros, read nothing
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// ---- The m16n8k16 fragments of the tensor-core kernels (flash.cu, decode.cu).
// A thread holds rows r0 = g and r1 = g + 8 of a 16-row tile (g: lane / 4);
// element e of an accumulator fragment is row e < 2 ? r0 : r1.

template <int N>
__device__ __forceinline__ void zero_fragments(float (&x)[N][4]) {
#pragma unroll
  for (int n = 0; n < N; ++n) x[n][0] = x[n][1] = x[n][2] = x[n][3] = 0.0f;
}

// The maxima of rows r0 and r1 over this thread's elements.
template <int N>
__device__ __forceinline__ void row_max(const float (&sc)[N][4], float& mx0, float& mx1) {
  mx0 = -INFINITY;
  mx1 = -INFINITY;
#pragma unroll
  for (int n = 0; n < N; ++n) {
    mx0 = fmaxf(fmaxf(mx0, sc[n][0]), sc[n][1]);
    mx1 = fmaxf(fmaxf(mx1, sc[n][2]), sc[n][3]);
  }
}

// Across the four lanes that share rows r0 and r1.
__device__ __forceinline__ void quad_max(float& x0, float& x1) {
#pragma unroll
  for (int d = 1; d < 4; d *= 2) {
    x0 = fmaxf(x0, __shfl_xor_sync(0xffffffffu, x0, d));
    x1 = fmaxf(x1, __shfl_xor_sync(0xffffffffu, x1, d));
  }
}
__device__ __forceinline__ void quad_sum(float& x0, float& x1) {
#pragma unroll
  for (int d = 1; d < 4; d *= 2) {
    x0 += __shfl_xor_sync(0xffffffffu, x0, d);
    x1 += __shfl_xor_sync(0xffffffffu, x1, d);
  }
}

// Base-2 probabilities of masked scores against their rows' maxima n0 and n1
// (-inf gives 0), each added to s0 / s1 in order.
template <int N>
__device__ __forceinline__ void exp2_rows(float (&sc)[N][4], float n0, float n1, float& s0,
                                          float& s1) {
#pragma unroll
  for (int n = 0; n < N; ++n) {
    sc[n][0] = sc[n][0] == -INFINITY ? 0.0f : exp2f(sc[n][0] - n0);
    sc[n][1] = sc[n][1] == -INFINITY ? 0.0f : exp2f(sc[n][1] - n0);
    sc[n][2] = sc[n][2] == -INFINITY ? 0.0f : exp2f(sc[n][2] - n1);
    sc[n][3] = sc[n][3] == -INFINITY ? 0.0f : exp2f(sc[n][3] - n1);
    s0 += sc[n][0] + sc[n][1];
    s1 += sc[n][2] + sc[n][3];
  }
}

// Rows r0 and r1 of an accumulator times c0 and c1.
template <int N>
__device__ __forceinline__ void scale_rows(float (&o)[N][4], float c0, float c1) {
#pragma unroll
  for (int n = 0; n < N; ++n) {
    o[n][0] *= c0;
    o[n][1] *= c0;
    o[n][2] *= c1;
    o[n][3] *= c1;
  }
}

// Four 8 x 8 matrices of 16-bit elements from shared memory, each lane giving
// one row's address (ldmatrix), as B fragments; `Trans` transposes them.
template <bool Trans>
__device__ __forceinline__ void load_matrices(const void* row, uint32_t& b0, uint32_t& b1,
                                              uint32_t& b2, uint32_t& b3) {
  const unsigned sa = static_cast<unsigned>(__cvta_generic_to_shared(row));
  if constexpr (Trans) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(b0), "=r"(b1), "=r"(b2), "=r"(b3)
                 : "r"(sa));
  } else {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(b0), "=r"(b1), "=r"(b2), "=r"(b3)
                 : "r"(sa));
  }
}

}  // namespace rill::detail::cu
