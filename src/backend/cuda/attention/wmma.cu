// Attention on the tensor cores through WMMA (float16, bfloat16; D and Dv
// multiples of 16, up to 256), for the shapes and layouts the register-tiled
// kernel (flash.cu) does not take.
// A block takes 64 queries (16 per warp) and walks the keys in tiles of 64.
// Per tile, each warp computes its 16 x 64 scores with WMMA (16x16x16, float
// accumulation) into shared memory, updates the online softmax there (two
// lanes per row), rescales its 16 x Dv output rows, and adds P V with WMMA.
// The output accumulates in float in shared memory. The probabilities go into
// P V as two half-precision parts, P = hi + lo, so that P keeps about float
// precision (rounding P to one half type would cost ~3 digits).
#include <mma.h>

#include "backend/cuda/attention/common.cuh"
#include "backend/cuda/attention/kernels.h"

namespace rill::detail::cu {

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
        const float x = masked_score<T>(a, srow[c] * scale, j < a.Lk && qi < a.Lq, true, b, h,
                                        qi, j, 1.0f);
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
    out[b * a.os[0] + h * a.os[1] + qr * a.os[2] + d] = narrow<T>(l > 0.0f ? O[i] / l : 0.0f);
  }
}

void run_wmma(DT t, const void* q, const void* k, const void* v, void* out,
              const AttentionArgs& a, cudaStream_t s) {
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
}

}  // namespace rill::detail::cu
