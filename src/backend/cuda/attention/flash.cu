// The register-tiled tensor-core kernel (float16, bfloat16; D = Dv in
// {64, 80, 96, 128}; unit inner strides, 16-byte aligned rows).
// A block of four warps takes 64 queries (16 per warp) and walks the keys in
// tiles of 64, staged in shared memory by asynchronous copies two tiles deep.
// Each warp keeps its queries (as matrix fragments), its 16 x 64 scores and
// its 16 x D output in registers: S = Q K^T and O += P V are m16n8k16 matrix
// instructions with float accumulation, and the accumulator layout of S is the
// operand layout P needs, so probabilities never leave registers. The online
// softmax works in base 2 on the scaled scores. P goes into P V as two parts,
// P = hi + lo, each rounded to the input type, so it keeps about float
// precision. Rows that see no key give zeros.
#include "backend/cuda/attention/common.cuh"
#include "backend/cuda/attention/kernels.h"

namespace rill::detail::cu {

namespace fa {

constexpr int kQ = 64;    // queries per block
constexpr int kK = 64;    // keys per tile
constexpr int kPad = 8;   // halves of padding per staged row: conflict-free reads

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

// Q fragments (A operand), D / 16 of them, for rows r0 and r1 of this warp
// (zeros past the last query).
template <typename T, int D>
__device__ __forceinline__ void load_queries(uint32_t (&qa)[D / 16][4], const T* qb, int64_t r0,
                                             int64_t r1, int t, const AttentionArgs& a) {
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

  const int64_t kend = keys_seen(a, q0, kQ);
  const int tiles = static_cast<int>((kend + kK - 1) / kK);
  if (tiles > 0) {
    stage<T, D>(ks0, kb, 0, a.Lk, a.ks[2]);
    stage<T, D>(vs0, vb, 0, a.Lk, a.vs[2]);
  }
  cp_commit();

  // This warp's rows: r0 = row g, r1 = row g + 8 of its 16.
  const int64_t r0 = q0 + warp * 16 + g, r1 = r0 + 8;
  uint32_t qa[D / 16][4];
  load_queries<T, D>(qa, qb, r0, r1, t, a);
  float o[D / 8][4];
  zero_fragments(o);
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
    zero_fragments(sc);
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
#pragma unroll
    for (int n = 0; n < kK / 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t j = j0 + n * 8 + 2 * t + (e & 1);
        const int64_t qi = e < 2 ? r0 : r1;
        sc[n][e] = masked_score<T>(a, sc[n][e] * sl2, j < a.Lk, qi < a.Lq, b, h, qi, j, kLog2e);
      }
    }
    float mx0, mx1;
    row_max(sc, mx0, mx1);
    quad_max(mx0, mx1);
    const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
    const float c0 = n0 == -INFINITY ? 1.0f : exp2f(m0 - n0);
    const float c1 = n1 == -INFINITY ? 1.0f : exp2f(m1 - n1);
    m0 = n0;
    m1 = n1;
    float s0 = 0.0f, s1 = 0.0f;
    exp2_rows(sc, n0, n1, s0, s1);
    l0 = l0 * c0 + s0;
    l1 = l1 * c1 + s1;
    scale_rows(o, c0, c1);
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
        uint32_t b0, b1, b2, b3;
        load_matrices<true>(vs + vrow * LD + n * 8 + (lane >> 4) * 8, b0, b1, b2, b3);
        mma<T>(o[n], hi, b0, b1);
        mma<T>(o[n], lo, b0, b1);
        mma<T>(o[n + 1], hi, b2, b3);
        mma<T>(o[n + 1], lo, b2, b3);
      }
    }
    __syncthreads();  // this stage is refilled two tiles on
  }
  quad_sum(l0, l1);
  const float i0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, i1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
  T* ob = out + b * a.os[0] + h * a.os[1];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) {
    const int c = n * 8 + 2 * t;
    float unused;
    if (r0 < a.Lq) {
      *reinterpret_cast<uint32_t*>(ob + r0 * a.os[2] + c) =
          pack2<T>(o[n][0] * i0, o[n][1] * i0, unused, unused);
    }
    if (r1 < a.Lq) {
      *reinterpret_cast<uint32_t*>(ob + r1 * a.os[2] + c) =
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
bool fits(const void* q, const void* k, const void* v, const void* out,
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
void run_typed(const void* q, const void* k, const void* v, void* out, const AttentionArgs& a,
               cudaStream_t s) {
  switch (a.D) {
    case 64: return launch<T, 64>(q, k, v, out, a, s);
    case 80: return launch<T, 80>(q, k, v, out, a, s);
    case 96: return launch<T, 96>(q, k, v, out, a, s);
    default: return launch<T, 128>(q, k, v, out, a, s);
  }
}

void run(DT t, const void* q, const void* k, const void* v, void* out, const AttentionArgs& a,
         cudaStream_t s) {
  if (t == DT::f16) {
    run_typed<__half>(q, k, v, out, a, s);
  } else {
    run_typed<__nv_bfloat16>(q, k, v, out, a, s);
  }
}

}  // namespace fa

}  // namespace rill::detail::cu
