// Fused attention: softmax(q k^T * scale + mask) v in one pass over the keys
// with an online softmax, never materialising the score matrix. A block takes
// kQueries queries of one (batch, head); key and value tiles of 32 rows are
// staged in shared memory (as float, double for float64) and shared by its
// warps. Within a warp, lane j scores key j of the tile; the tile's
// probabilities are then broadcast lane by lane while each lane accumulates
// its share of the output features. Grouped-query heads read key/value head
// h / (Hq / Hkv). Rows that see no key give zeros.
//
// This is the general kernel: every head dim and dtype, on CUDA cores. Half
// types with head dims that are multiples of 16 take the tensor-core kernel
// below instead.
#include <mma.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <cmath>

#include "backend/cuda/attention_sm90.h"
#include "backend/cuda/device.cuh"
#include "runtime/config.h"

namespace rill::detail::cu {
namespace {

constexpr int kWarps = 4;
constexpr int kQueries = 16;  // per block; kQueries / kWarps per warp
constexpr int kKeys = 32;     // per tile, one per lane
constexpr int kMaxDv = 256;   // output features per row: kMaxDv / 32 per lane

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

template <typename T>
__global__ void attention_kernel(const T* q, const T* k, const T* v, T* out, AttentionArgs a) {
  using A = att_t<T>;
  extern __shared__ unsigned char smem_raw[];
  A* smem = reinterpret_cast<A*>(smem_raw);
  const int64_t D = a.D, Dv = a.Dv;
  const int64_t kstride = D + 1;  // padded rows: lanes read different banks
  A* ks = smem;                       // kKeys x (D + 1)
  A* vs = ks + kKeys * kstride;       // kKeys x Dv
  A* qs = vs + kKeys * Dv;            // kQueries x D

  const BlockHeads<T> bh = block_heads(q, k, v, a);
  const int64_t b = bh.b, h = bh.h;
  const T *qb = bh.q, *kb = bh.k, *vb = bh.v;
  const int64_t q0 = int64_t(blockIdx.x) * kQueries;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t shift = a.Lk - a.Lq;  // causal: query i sees keys j <= i + shift

  for (int64_t idx = threadIdx.x; idx < kQueries * D; idx += blockDim.x) {
    const int64_t r = idx / D, d = idx % D;
    qs[idx] = q0 + r < a.Lq ? static_cast<A>(widen(qb[(q0 + r) * a.qs[2] + d * a.qs[3]])) : A(0);
  }

  constexpr int kPer = kQueries / kWarps;
  A m[kPer], l[kPer], o[kPer][kMaxDv / 32];
#pragma unroll
  for (int r = 0; r < kPer; ++r) {
    m[r] = -A(INFINITY);
    l[r] = 0;
#pragma unroll
    for (int i = 0; i < kMaxDv / 32; ++i) o[r][i] = 0;
  }

  const int64_t kend = keys_seen(a, q0, kQueries);
  for (int64_t j0 = 0; j0 < kend; j0 += kKeys) {
    __syncthreads();  // the previous tile is no longer read
    for (int64_t idx = threadIdx.x; idx < kKeys * D; idx += blockDim.x) {
      const int64_t r = idx / D, d = idx % D;
      ks[r * kstride + d] =
          j0 + r < a.Lk ? static_cast<A>(widen(kb[(j0 + r) * a.ks[2] + d * a.ks[3]])) : A(0);
    }
    for (int64_t idx = threadIdx.x; idx < kKeys * Dv; idx += blockDim.x) {
      const int64_t r = idx / Dv, d = idx % Dv;
      vs[idx] = j0 + r < a.Lk ? static_cast<A>(widen(vb[(j0 + r) * a.vs[2] + d * a.vs[3]])) : A(0);
    }
    __syncthreads();
    const int64_t j = j0 + lane;
#pragma unroll
    for (int r = 0; r < kPer; ++r) {
      const int64_t qi = q0 + warp * kPer + r;
      if (qi >= a.Lq) continue;  // uniform across the warp
      const A* qrow = qs + (warp * kPer + r) * D;
      bool visible = j < a.Lk && (!a.causal || j <= qi + shift);
      A s = -A(INFINITY);
      if (visible && a.mask) {
        const int64_t mo = b * a.ms[0] + h * a.ms[1] + qi * a.ms[2] + j * a.ms[3];
        if (a.mask_is_bool) {
          visible = static_cast<const bool*>(a.mask)[mo];
        } else {
          s = static_cast<A>(widen(static_cast<const T*>(a.mask)[mo]));
        }
      }
      if (visible) {
        A dot = 0;
        const A* krow = ks + lane * kstride;
        for (int64_t d = 0; d < D; ++d) dot += qrow[d] * krow[d];
        s = dot * static_cast<A>(a.scale) + (a.mask && !a.mask_is_bool ? s : A(0));
      }
      const A tile_max = warp_max(s);
      const A new_m = fmax(m[r], tile_max);
      if (new_m == -A(INFINITY)) continue;  // nothing visible yet
      const A p = s == -A(INFINITY) ? A(0) : exp(s - new_m);
      const A corr = m[r] == -A(INFINITY) ? A(0) : exp(m[r] - new_m);
      l[r] = l[r] * corr + warp_sum(p);
#pragma unroll
      for (int i = 0; i < kMaxDv / 32; ++i) o[r][i] *= corr;
      for (int jj = 0; jj < kKeys; ++jj) {
        const A pj = __shfl_sync(0xffffffffu, p, jj);
        if (pj == A(0)) continue;  // uniform across the warp
        const A* vrow = vs + jj * Dv;
#pragma unroll
        for (int i = 0; i < kMaxDv / 32; ++i) {
          const int64_t d = lane + 32 * i;
          if (d < Dv) o[r][i] += pj * vrow[d];
        }
      }
      m[r] = new_m;
    }
  }
#pragma unroll
  for (int r = 0; r < kPer; ++r) {
    const int64_t qi = q0 + warp * kPer + r;
    if (qi >= a.Lq) continue;
    T* orow = out + ((b * a.Hq + h) * a.Lq + qi) * Dv;
    const A inv = l[r] > A(0) ? A(1) / l[r] : A(0);
#pragma unroll
    for (int i = 0; i < kMaxDv / 32; ++i) {
      const int64_t d = lane + 32 * i;
      if (d < Dv) orow[d] = narrow<T>(static_cast<acc_t<T>>(o[r][i] * inv));
    }
  }
}

// ---- The tensor-core kernel (float16, bfloat16; D, Dv multiples of 16) ----
// A block takes 64 queries (16 per warp) and walks the keys in tiles of 64.
// Per tile, each warp computes its 16 x 64 scores with WMMA (16x16x16, float
// accumulation) into shared memory, updates the online softmax there (two
// lanes per row), rescales its 16 x Dv output rows, and adds P V with WMMA.
// The output accumulates in float in shared memory. The probabilities go into
// P V as two half-precision parts, P = hi + lo, so that P keeps about float
// precision (rounding P to one half type would cost ~3 digits).
namespace wm = nvcuda::wmma;
constexpr int kTQ = 64;   // queries per block
constexpr int kTK = 64;   // keys per tile
constexpr int kTWarps = 4;

template <typename T>
size_t tc_smem_bytes(int64_t D, int64_t Dv) {
  return sizeof(T) * (kTQ * D + kTK * D + kTK * Dv) +
         kTWarps * (16 * kTK * sizeof(float) + 2 * 16 * kTK * sizeof(T) +
                    16 * Dv * sizeof(float) + 3 * 16 * sizeof(float));
}

// Copies rows [r0, r0 + rows) of a [len, d] matrix (strides rs, ds) into
// shared memory as rows x d, zero past `len`.
template <typename T>
__device__ void load_tile(T* dst, const T* src, int64_t r0, int rows, int64_t len, int64_t d,
                          int64_t rs, int64_t ds) {
  // Rows of 8 contiguous, 16-byte aligned elements move as one 16-byte load.
  const bool vec = ds == 1 && d % 8 == 0 && rs % 8 == 0 &&
                   reinterpret_cast<uintptr_t>(src) % 16 == 0;
  if (vec) {
    const int64_t per_row = d / 8;
    for (int64_t idx = threadIdx.x; idx < rows * per_row; idx += blockDim.x) {
      const int64_t r = idx / per_row, c = (idx - r * per_row) * 8;
      uint4 val = make_uint4(0, 0, 0, 0);
      if (r0 + r < len) val = *reinterpret_cast<const uint4*>(src + (r0 + r) * rs + c);
      *reinterpret_cast<uint4*>(dst + r * d + c) = val;
    }
    return;
  }
  for (int64_t idx = threadIdx.x; idx < rows * d; idx += blockDim.x) {
    const int64_t r = idx / d, c = idx - r * d;
    dst[idx] = r0 + r < len ? src[(r0 + r) * rs + c * ds] : narrow<T>(0.0f);
  }
}

template <typename T>
__global__ void attention_tc(const T* q, const T* k, const T* v, T* out, AttentionArgs a) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  const int64_t D = a.D, Dv = a.Dv;
  T* qs = reinterpret_cast<T*>(smem_raw);  // kTQ x D
  T* ks = qs + kTQ * D;                     // kTK x D
  T* vs = ks + kTK * D;                     // kTK x Dv
  unsigned char* wbase = reinterpret_cast<unsigned char*>(vs + kTK * Dv);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const size_t wbytes = 16 * kTK * sizeof(float) + 2 * 16 * kTK * sizeof(T) +
                        16 * Dv * sizeof(float) + 3 * 16 * sizeof(float);
  float* S = reinterpret_cast<float*>(wbase + warp * wbytes);  // 16 x kTK
  float* O = S + 16 * kTK;                                     // 16 x Dv
  float* m_s = O + 16 * Dv;                                    // 16
  float* l_s = m_s + 16;                                       // 16
  float* c_s = l_s + 16;                                       // 16
  T* P = reinterpret_cast<T*>(c_s + 16);                       // 16 x kTK, hi
  T* Plo = P + 16 * kTK;                                       // 16 x kTK, lo

  const BlockHeads<T> bh = block_heads(q, k, v, a);
  const int64_t b = bh.b, h = bh.h;
  const T *qb = bh.q, *kb = bh.k, *vb = bh.v;
  const int64_t q0 = int64_t(blockIdx.x) * kTQ;
  const int64_t shift = a.Lk - a.Lq;

  load_tile(qs, qb, q0, kTQ, a.Lq, D, a.qs[2], a.qs[3]);
  for (int64_t i = lane; i < 16 * Dv; i += 32) O[i] = 0.0f;
  if (lane < 16) {
    m_s[lane] = -INFINITY;
    l_s[lane] = 0.0f;
  }
  const int64_t kend = keys_seen(a, q0, kTQ);
  const float scale = a.scale;
  const int row = lane / 2, half = lane % 2;  // two lanes per score row
  const int64_t qi = q0 + warp * 16 + row;
  for (int64_t j0 = 0; j0 < kend; j0 += kTK) {
    __syncthreads();  // everyone is done with the previous tile
    load_tile(ks, kb, j0, kTK, a.Lk, D, a.ks[2], a.ks[3]);
    load_tile(vs, vb, j0, kTK, a.Lk, Dv, a.vs[2], a.vs[3]);
    __syncthreads();
    // S = Q_w K^T
    for (int n = 0; n < kTK / 16; ++n) {
      wm::fragment<wm::accumulator, 16, 16, 16, float> acc;
      wm::fill_fragment(acc, 0.0f);
      for (int64_t kk = 0; kk < D; kk += 16) {
        wm::fragment<wm::matrix_a, 16, 16, 16, T, wm::row_major> fa;
        wm::fragment<wm::matrix_b, 16, 16, 16, T, wm::col_major> fb;
        wm::load_matrix_sync(fa, qs + warp * 16 * D + kk, static_cast<unsigned>(D));
        wm::load_matrix_sync(fb, ks + n * 16 * D + kk, static_cast<unsigned>(D));
        wm::mma_sync(acc, fa, fb, acc);
      }
      wm::store_matrix_sync(S + n * 16, acc, kTK, wm::mem_row_major);
    }
    __syncwarp();
    // Online softmax on row `row`, columns [32 half, 32 half + 32).
    {
      float* srow = S + row * kTK;
      float mx = -INFINITY;
      for (int c = half * 32; c < half * 32 + 32; ++c) {
        const int64_t j = j0 + c;
        bool visible = j < a.Lk && qi < a.Lq && (!a.causal || j <= qi + shift);
        float x = -INFINITY;
        if (visible) {
          x = srow[c] * scale;
          if (a.mask) {
            const int64_t mo = b * a.ms[0] + h * a.ms[1] + qi * a.ms[2] + j * a.ms[3];
            if (a.mask_is_bool) {
              if (!static_cast<const bool*>(a.mask)[mo]) x = -INFINITY;
            } else {
              x += static_cast<float>(widen(static_cast<const T*>(a.mask)[mo]));
            }
          }
        }
        srow[c] = x;
        mx = fmaxf(mx, x);
      }
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      const float m_old = m_s[row];
      const float m_new = fmaxf(m_old, mx);
      float sum = 0.0f;
      T* prow = P + row * kTK;
      T* lrow = Plo + row * kTK;
      for (int c = half * 32; c < half * 32 + 32; ++c) {
        const float p = m_new == -INFINITY || srow[c] == -INFINITY ? 0.0f : expf(srow[c] - m_new);
        const T hi = narrow<T>(p);
        prow[c] = hi;
        lrow[c] = narrow<T>(p - static_cast<float>(widen(hi)));
        sum += p;
      }
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      __syncwarp();
      if (half == 0) {
        const float corr = m_old == -INFINITY ? 0.0f : expf(m_old - m_new);
        c_s[row] = corr;
        l_s[row] = l_s[row] * corr + sum;
        m_s[row] = m_new;
      }
    }
    __syncwarp();
    for (int64_t i = lane; i < 16 * Dv; i += 32) O[i] *= c_s[i / Dv];
    __syncwarp();
    // O_w += P V
    for (int64_t n = 0; n < Dv; n += 16) {
      wm::fragment<wm::accumulator, 16, 16, 16, float> acc;
      wm::load_matrix_sync(acc, O + n, static_cast<unsigned>(Dv), wm::mem_row_major);
      for (int kk = 0; kk < kTK; kk += 16) {
        wm::fragment<wm::matrix_a, 16, 16, 16, T, wm::row_major> fa;
        wm::fragment<wm::matrix_b, 16, 16, 16, T, wm::row_major> fb;
        wm::load_matrix_sync(fb, vs + kk * Dv + n, static_cast<unsigned>(Dv));
        wm::load_matrix_sync(fa, P + kk, kTK);
        wm::mma_sync(acc, fa, fb, acc);
        wm::load_matrix_sync(fa, Plo + kk, kTK);
        wm::mma_sync(acc, fa, fb, acc);
      }
      wm::store_matrix_sync(O + n, acc, static_cast<unsigned>(Dv), wm::mem_row_major);
    }
    __syncwarp();
  }
  // Write the warp's 16 rows.
  for (int64_t i = lane; i < 16 * Dv; i += 32) {
    const int64_t r = i / Dv, d = i - r * Dv;
    const int64_t qr = q0 + warp * 16 + r;
    if (qr >= a.Lq) continue;
    const float l = l_s[r];
    out[((b * a.Hq + h) * a.Lq + qr) * Dv + d] = narrow<T>(l > 0.0f ? O[i] / l : 0.0f);
  }
}

// ---- The register-tiled tensor-core kernel (float16, bfloat16; D = Dv in
// {64, 80, 96, 128}; unit inner strides, 16-byte aligned rows) ----
// A block of four warps takes 64 queries (16 per warp) and walks the keys in
// tiles of 64, staged in shared memory by asynchronous copies two tiles deep.
// Each warp keeps its queries (as matrix fragments), its 16 x 64 scores and
// its 16 x D output in registers: S = Q K^T and O += P V are m16n8k16 matrix
// instructions with float accumulation, and the accumulator layout of S is the
// operand layout P needs, so probabilities never leave registers. The online
// softmax works in base 2 on the scaled scores. P goes into P V as two parts,
// P = hi + lo, each rounded to the input type, so it keeps about float
// precision. Rows that see no key give zeros.
namespace fa {

constexpr int kQ = 64;    // queries per block
constexpr int kK = 64;    // keys per tile
constexpr int kPad = 8;   // halves of padding per staged row: conflict-free reads

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

// Stages rows [j0, j0 + kK) of a [len, D] matrix (row stride rs, unit inner
// stride) as kK x (D + kPad); rows past `len` are zeros.
template <typename T, int D>
__device__ __forceinline__ void stage(T* dst, const T* src, int64_t j0, int64_t len,
                                      int64_t rs) {
  constexpr int kChunks = D / 8;  // 16-byte chunks per row
  for (int idx = threadIdx.x; idx < kK * kChunks; idx += blockDim.x) {
    const int r = idx / kChunks, c = (idx - r * kChunks) * 8;
    const bool valid = j0 + r < len;
    cp_async16(dst + r * (D + kPad) + c, valid ? src + (j0 + r) * rs + c : src, valid);
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(128) kernel(const T* q, const T* k, const T* v, T* out,
                                              AttentionArgs a) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  constexpr int LD = D + kPad;
  T* ks0 = reinterpret_cast<T*>(smem_raw);  // two stages of K, then two of V
  T* vs0 = ks0 + 2 * kK * LD;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;  // fragment row group, thread in group

  const BlockHeads<T> bh = block_heads(q, k, v, a);
  const int64_t b = bh.b, h = bh.h;
  const T *qb = bh.q, *kb = bh.k, *vb = bh.v;
  const int64_t q0 = int64_t(blockIdx.x) * kQ;
  const int64_t shift = a.Lk - a.Lq;

  const int64_t kend = keys_seen(a, q0, kQ);
  const int tiles = static_cast<int>((kend + kK - 1) / kK);
  if (tiles > 0) {
    stage<T, D>(ks0, kb, 0, a.Lk, a.ks[2]);
    stage<T, D>(vs0, vb, 0, a.Lk, a.vs[2]);
  }
  cp_commit();

  // This warp's rows: r0 = row g, r1 = row g + 8 of its 16.
  const int64_t r0 = q0 + warp * 16 + g, r1 = r0 + 8;
  // Q fragments (A operand), D / 16 of them.
  uint32_t qa[D / 16][4];
  {
    const uint32_t zero = 0;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      const int c = kk * 16 + 2 * t;
      auto at = [&](int64_t r, int col) {
        return r < a.Lq ? *reinterpret_cast<const uint32_t*>(qb + r * a.qs[2] + col) : zero;
      };
      qa[kk][0] = at(r0, c);
      qa[kk][1] = at(r1, c);
      qa[kk][2] = at(r0, c + 8);
      qa[kk][3] = at(r1, c + 8);
    }
  }
  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
  const float sl2 = a.scale * 1.4426950408889634f;  // scale * log2(e)
  constexpr float kLog2e = 1.4426950408889634f;

  for (int it = 0; it < tiles; ++it) {
    const int64_t j0 = int64_t(it) * kK;
    if (it + 1 < tiles) {
      T* kn = ks0 + ((it + 1) & 1) * kK * LD;
      T* vn = vs0 + ((it + 1) & 1) * kK * LD;
      stage<T, D>(kn, kb, j0 + kK, a.Lk, a.ks[2]);
      stage<T, D>(vn, vb, j0 + kK, a.Lk, a.vs[2]);
      cp_commit();
      cp_wait<1>();
    } else {
      cp_wait<0>();
    }
    __syncthreads();
    const T* ks = ks0 + (it & 1) * kK * LD;
    const T* vs = vs0 + (it & 1) * kK * LD;

    // S = Q K^T: 8 tiles of 16 x 8 keys.
    float sc[kK / 8][4];
#pragma unroll
    for (int n = 0; n < kK / 8; ++n) sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
      for (int n = 0; n < kK / 8; ++n) {
        const T* kr = ks + (n * 8 + g) * LD + kk * 16 + 2 * t;
        mma<T>(sc[n], qa[kk], *reinterpret_cast<const uint32_t*>(kr),
               *reinterpret_cast<const uint32_t*>(kr + 8));
      }
    }
    // Scale (base 2) and mask. Element e of tile n: row e < 2 ? r0 : r1,
    // key j0 + 8 n + 2 t + (e & 1).
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int n = 0; n < kK / 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t j = j0 + n * 8 + 2 * t + (e & 1);
        const int64_t qi = e < 2 ? r0 : r1;
        float x = sc[n][e] * sl2;
        bool visible = j < a.Lk && (!a.causal || j <= qi + shift);
        if (visible && a.mask && qi < a.Lq) {
          const int64_t mo = b * a.ms[0] + h * a.ms[1] + qi * a.ms[2] + j * a.ms[3];
          if (a.mask_is_bool) {
            visible = static_cast<const bool*>(a.mask)[mo];
          } else {
            x += static_cast<float>(widen(static_cast<const T*>(a.mask)[mo])) * kLog2e;
          }
        }
        x = visible ? x : -INFINITY;
        sc[n][e] = x;
        if (e < 2) {
          mx0 = fmaxf(mx0, x);
        } else {
          mx1 = fmaxf(mx1, x);
        }
      }
    }
#pragma unroll
    for (int d = 1; d < 4; d *= 2) {
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, d));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, d));
    }
    const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
    const float c0 = n0 == -INFINITY ? 1.0f : exp2f(m0 - n0);
    const float c1 = n1 == -INFINITY ? 1.0f : exp2f(m1 - n1);
    m0 = n0;
    m1 = n1;
    float s0 = 0.0f, s1 = 0.0f;
#pragma unroll
    for (int n = 0; n < kK / 8; ++n) {
      sc[n][0] = sc[n][0] == -INFINITY ? 0.0f : exp2f(sc[n][0] - n0);
      sc[n][1] = sc[n][1] == -INFINITY ? 0.0f : exp2f(sc[n][1] - n0);
      sc[n][2] = sc[n][2] == -INFINITY ? 0.0f : exp2f(sc[n][2] - n1);
      sc[n][3] = sc[n][3] == -INFINITY ? 0.0f : exp2f(sc[n][3] - n1);
      s0 += sc[n][0] + sc[n][1];
      s1 += sc[n][2] + sc[n][3];
    }
    l0 = l0 * c0 + s0;
    l1 = l1 * c1 + s1;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      o[n][0] *= c0;
      o[n][1] *= c0;
      o[n][2] *= c1;
      o[n][3] *= c1;
    }
    // O += P V, 16 keys at a time.
#pragma unroll
    for (int kc = 0; kc < kK / 16; ++kc) {
      uint32_t hi[4], lo[4];
      const float* pa = sc[2 * kc];
      const float* pb = sc[2 * kc + 1];
      float r[8];
      hi[0] = pack2<T>(pa[0], pa[1], r[0], r[1]);
      hi[1] = pack2<T>(pa[2], pa[3], r[2], r[3]);
      hi[2] = pack2<T>(pb[0], pb[1], r[4], r[5]);
      hi[3] = pack2<T>(pb[2], pb[3], r[6], r[7]);
      float unused;
      lo[0] = pack2<T>(pa[0] - r[0], pa[1] - r[1], unused, unused);
      lo[1] = pack2<T>(pa[2] - r[2], pa[3] - r[3], unused, unused);
      lo[2] = pack2<T>(pb[0] - r[4], pb[1] - r[5], unused, unused);
      lo[3] = pack2<T>(pb[2] - r[6], pb[3] - r[7], unused, unused);
      // V B fragments with transposing matrix loads: lanes 0-15 address keys
      // kc*16 + (lane % 16) at feature column n0, lanes 16-31 at n0 + 8.
      const int vrow = kc * 16 + (lane & 15);
#pragma unroll
      for (int n = 0; n < D / 8; n += 2) {
        const T* addr = vs + vrow * LD + n * 8 + (lane >> 4) * 8;
        const unsigned sa = static_cast<unsigned>(__cvta_generic_to_shared(addr));
        uint32_t b0, b1, b2, b3;
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                     : "=r"(b0), "=r"(b1), "=r"(b2), "=r"(b3)
                     : "r"(sa));
        mma<T>(o[n], hi, b0, b1);
        mma<T>(o[n], lo, b0, b1);
        mma<T>(o[n + 1], hi, b2, b3);
        mma<T>(o[n + 1], lo, b2, b3);
      }
    }
    __syncthreads();  // this stage is refilled two tiles on
  }
#pragma unroll
  for (int d = 1; d < 4; d *= 2) {
    l0 += __shfl_xor_sync(0xffffffffu, l0, d);
    l1 += __shfl_xor_sync(0xffffffffu, l1, d);
  }
  const float i0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, i1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
  T* ob = out + (b * a.Hq + h) * a.Lq * D;
#pragma unroll
  for (int n = 0; n < D / 8; ++n) {
    const int c = n * 8 + 2 * t;
    float unused;
    if (r0 < a.Lq) {
      *reinterpret_cast<uint32_t*>(ob + r0 * D + c) =
          pack2<T>(o[n][0] * i0, o[n][1] * i0, unused, unused);
    }
    if (r1 < a.Lq) {
      *reinterpret_cast<uint32_t*>(ob + r1 * D + c) =
          pack2<T>(o[n][2] * i1, o[n][3] * i1, unused, unused);
    }
  }
}

template <typename T, int D>
size_t smem_bytes() {
  return sizeof(T) * 4 * kK * (D + kPad);
}

// Whether the layout suits this kernel: unit inner strides, rows and bases
// aligned to 16 bytes (K, V) and 4 bytes (Q; its pairs load as one word).
inline bool fits(const void* q, const void* k, const void* v, const void* out,
                 const AttentionArgs& a) {
  if (a.D != a.Dv || !(a.D == 64 || a.D == 80 || a.D == 96 || a.D == 128)) return false;
  if (a.qs[3] != 1 || a.ks[3] != 1 || a.vs[3] != 1) return false;
  auto aligned = [](const void* p, int64_t bytes) {
    return reinterpret_cast<uintptr_t>(p) % bytes == 0;
  };
  for (int i = 0; i < 3; ++i) {
    if (a.ks[i] % 8 || a.vs[i] % 8 || a.qs[i] % 2) return false;
  }
  return aligned(k, 16) && aligned(v, 16) && aligned(q, 4) && aligned(out, 4);
}

template <typename T, int D>
void launch(const void* q, const void* k, const void* v, void* out, const AttentionArgs& a,
            cudaStream_t s) {
  const size_t smem = smem_bytes<T, D>();
  auto kern = kernel<T, D>;
  allow_shared_memory(kern, smem);
  dim3 grid(static_cast<unsigned>((a.Lq + kQ - 1) / kQ), static_cast<unsigned>(a.Hq),
            static_cast<unsigned>(a.B));
  kern<<<grid, 128, smem, s>>>(static_cast<const T*>(q), static_cast<const T*>(k),
                               static_cast<const T*>(v), static_cast<T*>(out), a);
}

template <typename T>
void run(const void* q, const void* k, const void* v, void* out, const AttentionArgs& a,
         cudaStream_t s) {
  switch (a.D) {
    case 64: return launch<T, 64>(q, k, v, out, a, s);
    case 80: return launch<T, 80>(q, k, v, out, a, s);
    case 96: return launch<T, 96>(q, k, v, out, a, s);
    default: return launch<T, 128>(q, k, v, out, a, s);
  }
}

}  // namespace fa

// ---- Decoding: few queries (Lq <= 8), long keys, split across the chip ----
// Block (split, h, b) takes the keys of one chunk; its four warps take four
// keys at a time each, lanes holding D / 32 features of every query, key and
// value row (one vector load per row). Each block leaves its partial softmax
// (max, sum, unnormalised output, float) in scratch and a second kernel
// combines the chunks. Every key and value row is read once.
namespace dec {

constexpr int kWarps = 4;
constexpr int kMaxQueries = 8;
constexpr int kGroup = 4;  // keys per warp per step (RILL_SDPA_DECODE=2: 8 for one query)

template <typename T, int E>
struct alignas(E * sizeof(T) >= 16 ? 16 : E * sizeof(T)) Vec {
  T v[E];
};

template <typename T, int E>
__device__ __forceinline__ void load(const T* p, float* f) {
  const Vec<T, E> x = *reinterpret_cast<const Vec<T, E>*>(p);
#pragma unroll
  for (int e = 0; e < E; ++e) f[e] = static_cast<float>(widen(x.v[e]));
}

// Per (b, h, split, query): max and sum (base 2), then D floats of output.
struct Part {
  float* ml;
  float* o;
};
__host__ __device__ inline Part part_of(float* scratch, const AttentionArgs& a, int splits) {
  const int64_t rows = a.B * a.Hq * splits * a.Lq;
  return {scratch, scratch + 2 * rows};
}

template <typename T, int E, int kMaxQ, int kGroup = dec::kGroup>
__global__ void __launch_bounds__(kWarps * 32) split_kernel(const T* q, const T* k, const T* v,
                                                           float* scratch, AttentionArgs a,
                                                           int splits, int64_t chunk) {
  constexpr int D = 32 * E;
  __shared__ float sm_ml[kWarps][kMaxQ][2];
  __shared__ float sm_o[kWarps][kMaxQ][D];
  const int64_t b = blockIdx.z, h = blockIdx.y, sp = blockIdx.x;
  const int64_t hk = h / (a.Hq / a.Hkv);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int Lq = static_cast<int>(a.Lq);
  const int64_t shift = a.Lk - a.Lq;
  const int64_t j_begin = sp * chunk;
  int64_t j_end = j_begin + chunk < a.Lk ? j_begin + chunk : a.Lk;
  const int64_t seen = keys_seen(a, 0, a.Lq);
  if (j_end > seen) j_end = seen;

  const T* qb = q + b * a.qs[0] + h * a.qs[1] + lane * E;
  const T* kb = k + b * a.ks[0] + hk * a.ks[1] + lane * E;
  const T* vb = v + b * a.vs[0] + hk * a.vs[1] + lane * E;
  const float sl2 = a.scale * 1.4426950408889634f;

  float qv[kMaxQ][E], m[kMaxQ], l[kMaxQ], o[kMaxQ][E];
#pragma unroll
  for (int i = 0; i < kMaxQ; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int e = 0; e < E; ++e) o[i][e] = qv[i][e] = 0.0f;
    if (i < Lq) {
      load<T, E>(qb + i * a.qs[2], qv[i]);
#pragma unroll
      for (int e = 0; e < E; ++e) qv[i][e] *= sl2;
    }
  }

  for (int64_t j = j_begin + warp * kGroup; j < j_end; j += kWarps * kGroup) {
    float kf[kGroup][E], vf[kGroup][E];
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      if (j + g < j_end) {
        load<T, E>(kb + (j + g) * a.ks[2], kf[g]);
        load<T, E>(vb + (j + g) * a.vs[2], vf[g]);
      } else {
#pragma unroll
        for (int e = 0; e < E; ++e) kf[g][e] = vf[g][e] = 0.0f;
      }
    }
#pragma unroll
    for (int i = 0; i < kMaxQ; ++i) {
      if (i >= Lq) break;
      float s[kGroup];
#pragma unroll
      for (int g = 0; g < kGroup; ++g) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < E; ++e) dot += qv[i][e] * kf[g][e];
        s[g] = dot;
      }
#pragma unroll
      for (int d = 16; d > 0; d /= 2) {
#pragma unroll
        for (int g = 0; g < kGroup; ++g) s[g] += __shfl_xor_sync(0xffffffffu, s[g], d);
      }
      float mx = -INFINITY;
#pragma unroll
      for (int g = 0; g < kGroup; ++g) {
        const int64_t jj = j + g;
        bool visible = jj < j_end && (!a.causal || jj <= i + shift);
        if (visible && a.mask) {
          const int64_t mo = b * a.ms[0] + h * a.ms[1] + i * a.ms[2] + jj * a.ms[3];
          if (a.mask_is_bool) {
            visible = static_cast<const bool*>(a.mask)[mo];
          } else {
            s[g] += static_cast<float>(widen(static_cast<const T*>(a.mask)[mo])) *
                    1.4426950408889634f;
          }
        }
        s[g] = visible ? s[g] : -INFINITY;
        mx = fmaxf(mx, s[g]);
      }
      const float mn = fmaxf(m[i], mx);
      if (mn == -INFINITY) continue;  // nothing visible yet (uniform across the warp)
      const float corr = exp2f(m[i] - mn);
      float psum = 0.0f;
#pragma unroll
      for (int g = 0; g < kGroup; ++g) {
        s[g] = s[g] == -INFINITY ? 0.0f : exp2f(s[g] - mn);
        psum += s[g];
      }
      l[i] = l[i] * corr + psum;
#pragma unroll
      for (int e = 0; e < E; ++e) {
        float acc = o[i][e] * corr;
#pragma unroll
        for (int g = 0; g < kGroup; ++g) acc += s[g] * vf[g][e];
        o[i][e] = acc;
      }
      m[i] = mn;
    }
  }
  // Combine the warps, then leave the block's partial result.
#pragma unroll
  for (int i = 0; i < kMaxQ; ++i) {
    if (i >= Lq) break;
    if (lane == 0) {
      sm_ml[warp][i][0] = m[i];
      sm_ml[warp][i][1] = l[i];
    }
#pragma unroll
    for (int e = 0; e < E; ++e) sm_o[warp][i][lane * E + e] = o[i][e];
  }
  __syncthreads();
  const Part part = part_of(scratch, a, splits);
  for (int idx = threadIdx.x; idx < Lq * D; idx += blockDim.x) {
    const int i = idx / D, d = idx - i * D;
    float mm = -INFINITY;
    for (int w = 0; w < kWarps; ++w) mm = fmaxf(mm, sm_ml[w][i][0]);
    float ll = 0.0f, oo = 0.0f;
    if (mm != -INFINITY) {
      for (int w = 0; w < kWarps; ++w) {
        const float f = exp2f(sm_ml[w][i][0] - mm);
        ll += sm_ml[w][i][1] * f;
        oo += sm_o[w][i][d] * f;
      }
    }
    const int64_t row = ((b * a.Hq + h) * splits + sp) * a.Lq + i;
    part.o[row * D + d] = oo;
    if (d == 0) {
      part.ml[2 * row] = mm;
      part.ml[2 * row + 1] = ll;
    }
  }
}

// out[b, h, i, :] from the splits' partial results.
template <typename T, int E>
__global__ void combine_kernel(float* scratch, T* out, AttentionArgs a, int splits) {
  constexpr int D = 32 * E;
  const int64_t i = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const Part part = part_of(scratch, a, splits);
  const int64_t base = (b * a.Hq + h) * splits * a.Lq + i;  // split sp: base + sp * Lq
  float mm = -INFINITY;
  for (int sp = 0; sp < splits; ++sp) mm = fmaxf(mm, part.ml[2 * (base + sp * a.Lq)]);
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float ll = 0.0f, oo = 0.0f;
    if (mm != -INFINITY) {
      for (int sp = 0; sp < splits; ++sp) {
        const int64_t row = base + sp * a.Lq;
        const float f = exp2f(part.ml[2 * row] - mm);
        ll += part.ml[2 * row + 1] * f;
        oo += part.o[row * D + d] * f;
      }
    }
    out[((b * a.Hq + h) * a.Lq + i) * D + d] = narrow<T>(ll > 0.0f ? oo / ll : 0.0f);
  }
}

inline int sm_count() {
  static std::atomic<int> cached[64] = {};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return 132;
  int n = cached[dev].load(std::memory_order_relaxed);
  if (n == 0) {
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0) {
      (void)cudaGetLastError();
      n = 132;
    }
    cached[dev].store(n, std::memory_order_relaxed);
  }
  return n;
}

// RILL_SDPA_DECODE=2: the one-query FMA kernel loads 8 keys per warp per step
// (measured 17% slower than 4; kept for comparisons).
inline bool wide_decode() {
  static const bool on = setting_int(Setting::sdpa_decode) == 2;
  return on;
}

// RILL_SDPA_DECODE_SPLITS=N: N chunks of keys per head (for measuring how
// the split count matters); 0 or unset: splits_for's choice.
inline int forced_splits() {
  static const int n = static_cast<int>(setting_int(Setting::sdpa_decode_splits));
  return n;
}

// The split: enough blocks to fill the chip a few times over, chunks of at
// least 256 keys.
inline int splits_for(const AttentionArgs& a) {
  if (const int n = forced_splits()) return static_cast<int>(n < a.Lk ? n : a.Lk);
  const int64_t heads = a.B * a.Hq;
  const int64_t want = (4 * int64_t(sm_count()) + heads - 1) / heads;
  const int64_t most = (a.Lk + 255) / 256;
  int64_t s = want < most ? want : most;
  return static_cast<int>(s < 1 ? 1 : s);
}

inline bool fits(DT t, const void* q, const void* k, const void* v, const AttentionArgs& a) {
  if (!(t == DT::f16 || t == DT::bf16 || t == DT::f32)) return false;
  if (a.Lq > kMaxQueries || a.Lq < 1 || a.Lk < 1 || a.D != a.Dv) return false;
  if (!(a.D == 64 || a.D == 128 || a.D == 256)) return false;
  if (a.qs[3] != 1 || a.ks[3] != 1 || a.vs[3] != 1) return false;
  const int64_t E = a.D / 32;
  const int64_t esize = t == DT::f32 ? 4 : 2;
  const int64_t align = E * esize >= 16 ? 16 : E * esize;
  for (int i = 0; i < 3; ++i) {
    if (a.qs[i] % E || a.ks[i] % E || a.vs[i] % E) return false;
  }
  for (const void* p : {q, k, v}) {
    if (reinterpret_cast<uintptr_t>(p) % align) return false;
  }
  return true;
}

template <typename T, int E>
void run(const void* q, const void* k, const void* v, void* out, float* scratch,
         const AttentionArgs& a, cudaStream_t s) {
  const int splits = splits_for(a);
  const int64_t chunk = (a.Lk + splits - 1) / splits;
  dim3 grid(static_cast<unsigned>(splits), static_cast<unsigned>(a.Hq),
            static_cast<unsigned>(a.B));
  // One query (the common decode step) keeps a fraction of the registers;
  // RILL_SDPA_DECODE=2 spends them on twice the rows in flight per warp.
  auto kern = a.Lq == 1 ? (wide_decode() ? split_kernel<T, E, 1, 8> : split_kernel<T, E, 1>)
                        : split_kernel<T, E, kMaxQueries>;
  kern<<<grid, kWarps * 32, 0, s>>>(static_cast<const T*>(q), static_cast<const T*>(k),
                                    static_cast<const T*>(v), scratch, a, splits, chunk);
  check_launch("scaled_dot_product_attention (decode)");
  dim3 grid2(static_cast<unsigned>(a.Lq), static_cast<unsigned>(a.Hq),
             static_cast<unsigned>(a.B));
  combine_kernel<T, E><<<grid2, 32 * E < 128 ? 32 * E : 128, 0, s>>>(scratch, static_cast<T*>(out),
                                                                      a, splits);
}

template <typename T>
void run_t(const void* q, const void* k, const void* v, void* out, float* scratch,
           const AttentionArgs& a, cudaStream_t s) {
  switch (a.D) {
    case 64: return run<T, 2>(q, k, v, out, scratch, a, s);
    case 128: return run<T, 4>(q, k, v, out, scratch, a, s);
    default: return run<T, 8>(q, k, v, out, scratch, a, s);
  }
}

}  // namespace dec

// ---- Decoding on the tensor cores (float16, bfloat16; D in {64, 128}) ----
// The FMA kernel above spends about forty instructions per key and lane on
// conversions, dot products, shuffles and index arithmetic; at 8192 keys a
// head that is what limits it, not the memory. This one moves the products
// to m16n8k16 matrix instructions: a block takes up to 16 rows (the queries
// of one or more query heads that share a key/value head, so grouped heads
// read K and V once), each of its four warps walks its own tiles of 16 keys,
// staged by asynchronous copies kStages deep in its own slice of shared
// memory, with no block-wide barrier until the end. S = Q K^T and O += P V
// run as in the prefill kernel (P rounded once to the input type); the
// block then combines its warps and leaves the same partial softmax as the
// FMA kernel, which combine_kernel merges across the splits.
namespace tc {

constexpr int kWarps = 4;
constexpr int kT = 16;       // keys per warp tile
constexpr int kStages = 3;   // tiles in flight per warp
constexpr int kPadH = 8;     // halves of padding per staged row: conflict-free reads

template <int D>
constexpr size_t smem_bytes() {
  return 2 /* bytes per half */ * size_t(kWarps) * kStages * 2 * kT * (D + kPadH);
}

template <typename T>
__device__ __forceinline__ uint32_t pair_bits(T lo, T hi) {
  uint16_t a, b;
  memcpy(&a, &lo, 2);
  memcpy(&b, &hi, 2);
  return uint32_t(a) | (uint32_t(b) << 16);
}

// Query heads per block: the most of a group of G that share a key/value
// head whose queries fit in 16 rows and divide G.
inline int heads_per_block(const AttentionArgs& a) {
  const int64_t G = a.Hq / a.Hkv;
  int best = 1;
  for (int64_t c = 1; c <= G && c * a.Lq <= 16; ++c) {
    if (G % c == 0) best = static_cast<int>(c);
  }
  return best;
}

inline bool fits(DT t, const void* k, const void* v, const AttentionArgs& a) {
  if (!(t == DT::f16 || t == DT::bf16)) return false;
  if (a.Lq < 1 || a.Lq > dec::kMaxQueries || a.Lk < 1 || a.D != a.Dv) return false;
  if (!(a.D == 64 || a.D == 128)) return false;
  if (a.ks[3] != 1 || a.vs[3] != 1) return false;
  for (int i = 0; i < 3; ++i) {
    if (a.ks[i] % 8 || a.vs[i] % 8) return false;
  }
  for (const void* p : {k, v}) {
    if (reinterpret_cast<uintptr_t>(p) % 16) return false;
  }
  return true;
}

template <typename T, int D, bool kPlain>
__global__ void __launch_bounds__(kWarps * 32) kernel(const T* q, const T* k, const T* v,
                                                     float* scratch, AttentionArgs a, int splits,
                                                     int64_t chunk, int hpb) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  constexpr int LD = D + kPadH;
  constexpr int kTile = kT * LD;      // halves per staged tile of K or V
  constexpr int kChunks = D / 8;      // 16-byte pieces per row
  constexpr int kRowsPerPass = 32 / kChunks;
  static_assert(kWarps * 16 * (D + 2) * sizeof(float) <= smem_bytes<D>(), "combine space");
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  T* ks = reinterpret_cast<T*>(smem_raw) + warp * (2 * kStages * kTile);
  T* vs = ks + kStages * kTile;

  const int64_t b = blockIdx.z, sp = blockIdx.x;
  const int64_t h0 = int64_t(blockIdx.y) * hpb;
  const int64_t hk = h0 / (a.Hq / a.Hkv);
  const int Lq = static_cast<int>(a.Lq);
  const int R = hpb * Lq;  // rows in use
  const int64_t j_begin = sp * chunk;
  int64_t j_end = j_begin + chunk < a.Lk ? j_begin + chunk : a.Lk;
  const int64_t seen = keys_seen(a, 0, a.Lq);
  if (j_end > seen) j_end = seen;
  const int tiles = j_end > j_begin ? static_cast<int>((j_end - j_begin + kT - 1) / kT) : 0;
  const int mine = tiles > warp ? (tiles - warp + kWarps - 1) / kWarps : 0;

  // This lane's share of every staged tile: rows lane / kChunks + kRowsPerPass u,
  // 16 bytes at column (lane % kChunks) * 8.
  const int lrow = lane / kChunks, lcol = (lane % kChunks) * 8;
  const T* kl = k + b * a.ks[0] + hk * a.ks[1] + lrow * a.ks[2] + lcol;
  const T* vl = v + b * a.vs[0] + hk * a.vs[1] + lrow * a.vs[2] + lcol;
  auto stage = [&](int slot, int64_t j0) {
    T* kd = ks + slot * kTile + lrow * LD + lcol;
    T* vd = vs + slot * kTile + lrow * LD + lcol;
#pragma unroll
    for (int u = 0; u < kT / kRowsPerPass; ++u) {
      const int64_t j = j0 + u * kRowsPerPass;
      const bool valid = j + lrow < j_end;
      fa::cp_async16(kd + u * kRowsPerPass * LD, valid ? kl + j * a.ks[2] : kl, valid);
      fa::cp_async16(vd + u * kRowsPerPass * LD, valid ? vl + j * a.vs[2] : vl, valid);
    }
  };
  auto tile_start = [&](int n) { return j_begin + int64_t(warp + n * kWarps) * kT; };
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < mine) stage(s, tile_start(s));
    fa::cp_commit();
  }

  // Rows g and g + 8 of the 16: query head h0 + r / Lq, query r % Lq.
  const int r0 = g, r1 = g + 8;
  uint32_t qa[D / 16][4];
  {
    auto at = [&](int r, int col) -> T {
      if (r >= R) return T(0.0f);
      const int64_t h = h0 + r / Lq, i = r % Lq;
      return q[b * a.qs[0] + h * a.qs[1] + i * a.qs[2] + col * a.qs[3]];
    };
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      const int c = kk * 16 + 2 * t;
      qa[kk][0] = pair_bits(at(r0, c), at(r0, c + 1));
      qa[kk][1] = pair_bits(at(r1, c), at(r1, c + 1));
      qa[kk][2] = pair_bits(at(r0, c + 8), at(r0, c + 9));
      qa[kk][3] = pair_bits(at(r1, c + 8), at(r1, c + 9));
    }
  }
  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
  const float sl2 = a.scale * 1.4426950408889634f;
  constexpr float kLog2e = 1.4426950408889634f;
  const int64_t shift = a.Lk - a.Lq;

  for (int it = 0; it < mine; ++it) {
    if (it + kStages - 1 < mine) stage((it + kStages - 1) % kStages, tile_start(it + kStages - 1));
    fa::cp_commit();
    fa::cp_wait<kStages - 1>();
    __syncwarp();
    const T* kt = ks + (it % kStages) * kTile;
    const T* vt = vs + (it % kStages) * kTile;
    const int64_t j0 = tile_start(it);

    // S = Q K^T: two tiles of 16 x 8 keys; K fragments by matrix loads, lanes
    // 8m..8m+7 address matrix m (keys (m / 2) * 8 + lane % 8, features + (m % 2) * 8).
    float sc[kT / 8][4];
#pragma unroll
    for (int n = 0; n < kT / 8; ++n) sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.0f;
    const T* krow = kt + ((lane >> 4) * 8 + (lane & 7)) * LD + ((lane >> 3) & 1) * 8;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      const unsigned sa = static_cast<unsigned>(__cvta_generic_to_shared(krow + kk * 16));
      uint32_t b0, b1, b2, b3;
      asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                   : "=r"(b0), "=r"(b1), "=r"(b2), "=r"(b3)
                   : "r"(sa));
      fa::mma<T>(sc[0], qa[kk], b0, b1);
      fa::mma<T>(sc[1], qa[kk], b2, b3);
    }
    // Element e of tile n: row e < 2 ? r0 : r1, key j0 + 8 n + 2 t + (e & 1).
    float mx0 = -INFINITY, mx1 = -INFINITY;
    const bool ragged = j0 + kT > j_end;
#pragma unroll
    for (int n = 0; n < kT / 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float x = sc[n][e] * sl2;
        if (!kPlain || ragged) {
          const int64_t j = j0 + n * 8 + 2 * t + (e & 1);
          const int r = e < 2 ? r0 : r1;
          bool visible = j < j_end;
          if constexpr (!kPlain) {
            const int64_t i = r % Lq;
            visible = visible && (!a.causal || j <= i + shift);
            if (visible && a.mask && r < R) {
              const int64_t h = h0 + r / Lq;
              const int64_t mo = b * a.ms[0] + h * a.ms[1] + i * a.ms[2] + j * a.ms[3];
              if (a.mask_is_bool) {
                visible = static_cast<const bool*>(a.mask)[mo];
              } else {
                x += static_cast<float>(widen(static_cast<const T*>(a.mask)[mo])) * kLog2e;
              }
            }
          }
          x = visible ? x : -INFINITY;
        }
        sc[n][e] = x;
        if (e < 2) {
          mx0 = fmaxf(mx0, x);
        } else {
          mx1 = fmaxf(mx1, x);
        }
      }
    }
#pragma unroll
    for (int d = 1; d < 4; d *= 2) {
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, d));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, d));
    }
    const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
    // Past the first tiles the maxima rarely move: rescale only when one did.
    if (__any_sync(0xffffffffu, n0 != m0 || n1 != m1)) {
      const float c0 = n0 == -INFINITY ? 1.0f : exp2f(m0 - n0);
      const float c1 = n1 == -INFINITY ? 1.0f : exp2f(m1 - n1);
      l0 *= c0;
      l1 *= c1;
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        o[n][0] *= c0;
        o[n][1] *= c0;
        o[n][2] *= c1;
        o[n][3] *= c1;
      }
      m0 = n0;
      m1 = n1;
    }
#pragma unroll
    for (int n = 0; n < kT / 8; ++n) {
      sc[n][0] = sc[n][0] == -INFINITY ? 0.0f : exp2f(sc[n][0] - n0);
      sc[n][1] = sc[n][1] == -INFINITY ? 0.0f : exp2f(sc[n][1] - n0);
      sc[n][2] = sc[n][2] == -INFINITY ? 0.0f : exp2f(sc[n][2] - n1);
      sc[n][3] = sc[n][3] == -INFINITY ? 0.0f : exp2f(sc[n][3] - n1);
      l0 += sc[n][0] + sc[n][1];
      l1 += sc[n][2] + sc[n][3];
    }
    // O += P V: P as the A operand (the accumulator layout of S), V fragments
    // by transposing matrix loads (lanes 0-15 keys lane, features n * 8;
    // lanes 16-31 the same keys, features n * 8 + 8).
    uint32_t pa[4];
    float unused0, unused1;
    pa[0] = fa::pack2<T>(sc[0][0], sc[0][1], unused0, unused1);
    pa[1] = fa::pack2<T>(sc[0][2], sc[0][3], unused0, unused1);
    pa[2] = fa::pack2<T>(sc[1][0], sc[1][1], unused0, unused1);
    pa[3] = fa::pack2<T>(sc[1][2], sc[1][3], unused0, unused1);
    const T* vrow = vt + (lane & 15) * LD + (lane >> 4) * 8;
#pragma unroll
    for (int n = 0; n < D / 8; n += 2) {
      const unsigned sa = static_cast<unsigned>(__cvta_generic_to_shared(vrow + n * 8));
      uint32_t b0, b1, b2, b3;
      asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                   : "=r"(b0), "=r"(b1), "=r"(b2), "=r"(b3)
                   : "r"(sa));
      fa::mma<T>(o[n], pa, b0, b1);
      fa::mma<T>(o[n + 1], pa, b2, b3);
    }
    __syncwarp();  // every lane is done with this stage before it is refilled
  }
  fa::cp_wait<0>();
#pragma unroll
  for (int d = 1; d < 4; d *= 2) {
    l0 += __shfl_xor_sync(0xffffffffu, l0, d);
    l1 += __shfl_xor_sync(0xffffffffu, l1, d);
  }
  // Combine the four warps through shared memory (the stages are free now).
  __syncthreads();
  float* cm = reinterpret_cast<float*>(smem_raw);  // [warp][16][2]
  float* co = cm + kWarps * 16 * 2;                 // [warp][16][D]
  if (t == 0) {
    cm[(warp * 16 + r0) * 2] = m0;
    cm[(warp * 16 + r0) * 2 + 1] = l0;
    cm[(warp * 16 + r1) * 2] = m1;
    cm[(warp * 16 + r1) * 2 + 1] = l1;
  }
#pragma unroll
  for (int n = 0; n < D / 8; ++n) {
    const int c = n * 8 + 2 * t;
    co[(warp * 16 + r0) * D + c] = o[n][0];
    co[(warp * 16 + r0) * D + c + 1] = o[n][1];
    co[(warp * 16 + r1) * D + c] = o[n][2];
    co[(warp * 16 + r1) * D + c + 1] = o[n][3];
  }
  __syncthreads();
  const dec::Part part = dec::part_of(scratch, a, splits);
  for (int idx = threadIdx.x; idx < R * D; idx += blockDim.x) {
    const int r = idx / D, d = idx - r * D;
    float mm = -INFINITY;
    for (int w = 0; w < kWarps; ++w) mm = fmaxf(mm, cm[(w * 16 + r) * 2]);
    float ll = 0.0f, oo = 0.0f;
    if (mm != -INFINITY) {
      for (int w = 0; w < kWarps; ++w) {
        const float wm = cm[(w * 16 + r) * 2];
        const float f = wm == -INFINITY ? 0.0f : exp2f(wm - mm);
        ll += cm[(w * 16 + r) * 2 + 1] * f;
        oo += co[(w * 16 + r) * D + d] * f;
      }
    }
    const int64_t h = h0 + r / Lq, i = r % Lq;
    const int64_t row = ((b * a.Hq + h) * splits + sp) * a.Lq + i;
    part.o[row * D + d] = oo;
    if (d == 0) {
      part.ml[2 * row] = mm;
      part.ml[2 * row + 1] = ll;
    }
  }
}

// Keys per split: a multiple of kWarps tiles.
inline int64_t chunk_for(const AttentionArgs& a, int64_t splits) {
  constexpr int64_t kStep = kWarps * kT;
  return ((a.Lk + splits - 1) / splits + kStep - 1) / kStep * kStep;
}

// Splits per head: about sixteen blocks per multiprocessor in all, chunks of
// at least 512 keys.
inline int splits_for(const AttentionArgs& a, int hpb) {
  const int64_t row_blocks = a.B * (a.Hq / hpb);
  int64_t s = (16 * int64_t(dec::sm_count()) + row_blocks - 1) / row_blocks;
  const int64_t most = (a.Lk + 511) / 512;
  if (s > most) s = most;
  if (const int n = dec::forced_splits()) s = n;
  if (s < 1) s = 1;
  const int64_t chunk = chunk_for(a, s);
  return static_cast<int>((a.Lk + chunk - 1) / chunk);
}

template <typename T, int D>
void run(const void* q, const void* k, const void* v, void* out, float* scratch,
         const AttentionArgs& a, cudaStream_t s) {
  const int hpb = heads_per_block(a);
  const int splits = splits_for(a, hpb);
  const int64_t chunk = chunk_for(a, splits);
  const bool plain = !a.causal && a.mask == nullptr;
  auto kern = plain ? kernel<T, D, true> : kernel<T, D, false>;
  constexpr size_t smem = smem_bytes<D>();
  allow_shared_memory(kern, smem);
  dim3 grid(static_cast<unsigned>(splits), static_cast<unsigned>(a.Hq / hpb),
            static_cast<unsigned>(a.B));
  kern<<<grid, kWarps * 32, smem, s>>>(static_cast<const T*>(q), static_cast<const T*>(k),
                                        static_cast<const T*>(v), scratch, a, splits, chunk, hpb);
  check_launch("scaled_dot_product_attention (decode)");
  constexpr int E = D / 32;
  dim3 grid2(static_cast<unsigned>(a.Lq), static_cast<unsigned>(a.Hq),
             static_cast<unsigned>(a.B));
  dec::combine_kernel<T, E><<<grid2, D < 128 ? D : 128, 0, s>>>(scratch, static_cast<T*>(out),
                                                                 a, splits);
}

template <typename T>
void run_t(const void* q, const void* k, const void* v, void* out, float* scratch,
           const AttentionArgs& a, cudaStream_t s) {
  if (a.D == 64) return run<T, 64>(q, k, v, out, scratch, a, s);
  return run<T, 128>(q, k, v, out, scratch, a, s);
}

}  // namespace tc

// Which decoding kernel takes a call: the tensor-core one where it fits
// (RILL_SDPA_DECODE=1 or 2 choose the FMA kernel instead, for comparisons),
// else the FMA one where it fits, else none.
enum class Decode { none, fma, tensor_cores };
inline Decode decode_kernel(DT t, const void* q, const void* k, const void* v,
                            const AttentionArgs& a) {
  static const bool fma_only = setting_int(Setting::sdpa_decode) != 0;
  if (!fma_only && tc::fits(t, k, v, a)) return Decode::tensor_cores;
  return dec::fits(t, q, k, v, a) ? Decode::fma : Decode::none;
}

}  // namespace

size_t attention_scratch(DT t, const void* q, const void* k, const void* v,
                         const AttentionArgs& a) {
  const Decode kind = decode_kernel(t, q, k, v, a);
  if (kind == Decode::none) return 0;
  const int64_t splits = kind == Decode::tensor_cores
                             ? tc::splits_for(a, tc::heads_per_block(a))
                             : dec::splits_for(a);
  return sizeof(float) * static_cast<size_t>(a.B * a.Hq * splits * a.Lq) *
         static_cast<size_t>(2 + a.D);
}

void attention(DT t, const void* q, const void* k, const void* v, void* out, void* scratch,
               const AttentionArgs& a, cudaStream_t s) {
  const Decode kind = scratch ? decode_kernel(t, q, k, v, a) : Decode::none;
  if (kind == Decode::tensor_cores) {
    float* sc = static_cast<float*>(scratch);
    if (t == DT::f16) {
      tc::run_t<__half>(q, k, v, out, sc, a, s);
    } else {
      tc::run_t<__nv_bfloat16>(q, k, v, out, sc, a, s);
    }
    check_launch("scaled_dot_product_attention (decode)");
    return;
  }
  if (kind == Decode::fma) {
    float* sc = static_cast<float*>(scratch);
    if (t == DT::f16) {
      dec::run_t<__half>(q, k, v, out, sc, a, s);
    } else if (t == DT::bf16) {
      dec::run_t<__nv_bfloat16>(q, k, v, out, sc, a, s);
    } else {
      dec::run_t<float>(q, k, v, out, sc, a, s);
    }
    check_launch("scaled_dot_product_attention (decode)");
    return;
  }
  if (a.Dv > kMaxDv) {
    throw std::runtime_error("scaled_dot_product_attention on the GPU takes value head dims up "
                             "to " + std::to_string(kMaxDv) + ", got " + std::to_string(a.Dv));
  }
  const bool tensor_cores = (t == DT::f16 || t == DT::bf16) && a.D % 16 == 0 && a.Dv % 16 == 0 &&
                            a.D <= 256 && a.Dv <= 256;
  if (sm90::fits(t, q, k, v, out, a)) {
    sm90::run(t, q, k, v, out, a, s);
    return;
  }
  if (tensor_cores && fa::fits(q, k, v, out, a)) {
    if (t == DT::f16) {
      fa::run<__half>(q, k, v, out, a, s);
    } else {
      fa::run<__nv_bfloat16>(q, k, v, out, a, s);
    }
    check_launch("scaled_dot_product_attention");
    return;
  }
  if (tensor_cores) {
    auto run = [&](auto tag) {
      using T = typename decltype(tag)::type;
      const size_t smem = tc_smem_bytes<T>(a.D, a.Dv);
      auto kernel = attention_tc<T>;
      allow_shared_memory(kernel, smem);
      dim3 grid(static_cast<unsigned>((a.Lq + kTQ - 1) / kTQ), static_cast<unsigned>(a.Hq),
                static_cast<unsigned>(a.B));
      kernel<<<grid, kTWarps * 32, smem, s>>>(static_cast<const T*>(q), static_cast<const T*>(k),
                                              static_cast<const T*>(v), static_cast<T*>(out), a);
    };
    if (t == DT::f16) {
      run(Tag<__half>{});
    } else {
      run(Tag<__nv_bfloat16>{});
    }
    check_launch("scaled_dot_product_attention");
    return;
  }
  dispatch_float(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = att_t<T>;
    const size_t smem = sizeof(A) * (kKeys * (a.D + 1) + kKeys * a.Dv + kQueries * a.D);
    auto kernel = attention_kernel<T>;
    allow_shared_memory(kernel, smem);
    dim3 grid(static_cast<unsigned>((a.Lq + kQueries - 1) / kQueries),
              static_cast<unsigned>(a.Hq), static_cast<unsigned>(a.B));
    kernel<<<grid, kWarps * 32, smem, s>>>(static_cast<const T*>(q), static_cast<const T*>(k),
                                           static_cast<const T*>(v), static_cast<T*>(out), a);
  });
  check_launch("scaled_dot_product_attention");
}

}  // namespace rill::detail::cu
