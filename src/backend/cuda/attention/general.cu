// Fused attention: softmax(q k^T * scale + mask) v in one pass over the keys
// with an online softmax, never materialising the score matrix. A block takes
// kQueries queries of one (batch, head); key and value tiles of 32 rows are
// staged in shared memory (as float, double for float64) and shared by its
// warps. Within a warp, lane j scores key j of the tile; the tile's
// probabilities are then broadcast lane by lane while each lane accumulates
// its share of the output features. Grouped-query heads read key/value head
// h / (Hq / Hkv). Rows that see no key give zeros.
//
// This is the general kernel: every head dim and dtype, on CUDA cores; the
// others (dispatch.cu) take the half types where they fit.
#include "backend/cuda/attention/common.cuh"
#include "backend/cuda/attention/kernels.h"

namespace rill::detail::cu {
namespace {

constexpr int kWarps = 4;
constexpr int kQueries = 16;  // per block; kQueries / kWarps per warp
constexpr int kKeys = 32;     // per tile, one per lane
// Output features per row: kMaxDv (kernels.h) / 32 per lane.

}  // namespace

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
      const bool in_range = j < a.Lk;
      A dot = 0;
      if (in_range) {
        const A* krow = ks + lane * kstride;
        for (int64_t d = 0; d < D; ++d) dot += qrow[d] * krow[d];
      }
      const A s = masked_score<T>(a, dot * static_cast<A>(a.scale), in_range, true, b, h, qi, j,
                                  A(1));
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
    T* orow = out + b * a.os[0] + h * a.os[1] + qi * a.os[2];
    const A inv = l[r] > A(0) ? A(1) / l[r] : A(0);
#pragma unroll
    for (int i = 0; i < kMaxDv / 32; ++i) {
      const int64_t d = lane + 32 * i;
      if (d < Dv) orow[d] = narrow<T>(static_cast<acc_t<T>>(o[r][i] * inv));
    }
  }
}

void run_general(DT t, const void* q, const void* k, const void* v, void* out,
                 const AttentionArgs& a, cudaStream_t s) {
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
}

}  // namespace rill::detail::cu
