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

#include <cmath>

#include "backend/cuda/device.cuh"

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

// Keys [0, end) that some query of [q0, q0 + count) may see: all of them, or
// with a causal mask those up to the last query's diagonal; later key tiles
// are skipped.
__device__ __forceinline__ int64_t keys_seen(const AttentionArgs& a, int64_t q0, int64_t count) {
  if (!a.causal) return a.Lk;
  const int64_t last_q = q0 + count - 1 < a.Lq - 1 ? q0 + count - 1 : a.Lq - 1;
  const int64_t end = last_q + (a.Lk - a.Lq) + 1;
  return end > a.Lk ? a.Lk : (end < 0 ? 0 : end);
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

  const int64_t b = blockIdx.z, h = blockIdx.y;
  const int64_t hk = h / (a.Hq / a.Hkv);
  const int64_t q0 = int64_t(blockIdx.x) * kQueries;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t shift = a.Lk - a.Lq;  // causal: query i sees keys j <= i + shift

  const T* qb = q + b * a.qs[0] + h * a.qs[1];
  const T* kb = k + b * a.ks[0] + hk * a.ks[1];
  const T* vb = v + b * a.vs[0] + hk * a.vs[1];

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

  const int64_t b = blockIdx.z, h = blockIdx.y;
  const int64_t hk = h / (a.Hq / a.Hkv);
  const int64_t q0 = int64_t(blockIdx.x) * kTQ;
  const int64_t shift = a.Lk - a.Lq;
  const T* qb = q + b * a.qs[0] + h * a.qs[1];
  const T* kb = k + b * a.ks[0] + hk * a.ks[1];
  const T* vb = v + b * a.vs[0] + hk * a.vs[1];

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

}  // namespace

void attention(DT t, const void* q, const void* k, const void* v, void* out,
               const AttentionArgs& a, cudaStream_t s) {
  if (a.Dv > kMaxDv) {
    throw std::runtime_error("scaled_dot_product_attention on the GPU takes value head dims up "
                             "to " + std::to_string(kMaxDv) + ", got " + std::to_string(a.Dv));
  }
  const bool tensor_cores = (t == DT::f16 || t == DT::bf16) && a.D % 16 == 0 && a.Dv % 16 == 0 &&
                            a.D <= 256 && a.Dv <= 256;
  if (tensor_cores) {
    auto run = [&](auto tag) {
      using T = typename decltype(tag)::type;
      const size_t smem = tc_smem_bytes<T>(a.D, a.Dv);
      auto kernel = attention_tc<T>;
      if (smem > 48 * 1024) {
        cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(smem));
        if (e != cudaSuccess) check_launch("scaled_dot_product_attention (shared memory)");
      }
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
    if (smem > 48 * 1024) {
      cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(smem));
      if (e != cudaSuccess) check_launch("scaled_dot_product_attention (shared memory)");
    }
    dim3 grid(static_cast<unsigned>((a.Lq + kQueries - 1) / kQueries),
              static_cast<unsigned>(a.Hq), static_cast<unsigned>(a.B));
    kernel<<<grid, kWarps * 32, smem, s>>>(static_cast<const T*>(q), static_cast<const T*>(k),
                                           static_cast<const T*>(v), static_cast<T*>(out), a);
  });
  check_launch("scaled_dot_product_attention");
}

}  // namespace rill::detail::cu
