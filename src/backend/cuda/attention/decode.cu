// Decode attention: few queries (Lq <= 8) over long keys, split across the
// chip, on the FMA pipes (dec) or the tensor cores (tc); both leave partial
// softmaxes that one combine kernel merges.
#include <atomic>

#include "backend/cuda/attention/common.cuh"
#include "backend/cuda/attention/kernels.h"
#include "runtime/config.h"

namespace rill::detail::cu {

// Decoding on the FMA pipes.
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

// Feature d of query i of head h in split sp: its output, and with d = 0 the
// row's max and sum.
__device__ __forceinline__ void write_partial(const Part& part, const AttentionArgs& a,
                                              int splits, int64_t b, int64_t h, int64_t sp,
                                              int64_t i, int D, int d, float mm, float ll,
                                              float oo) {
  const int64_t row = ((b * a.Hq + h) * splits + sp) * a.Lq + i;
  part.o[row * D + d] = oo;
  if (d == 0) {
    part.ml[2 * row] = mm;
    part.ml[2 * row + 1] = ll;
  }
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
        s[g] = masked_score<T>(a, s[g], jj < j_end, true, b, h, i, jj, 1.4426950408889634f);
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
    write_partial(part, a, splits, b, h, sp, i, D, d, mm, ll, oo);
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
    out[b * a.os[0] + h * a.os[1] + i * a.os[2] + d] = narrow<T>(ll > 0.0f ? oo / ll : 0.0f);
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
int splits_for(const AttentionArgs& a) {
  if (const int n = forced_splits()) return static_cast<int>(n < a.Lk ? n : a.Lk);
  const int64_t heads = a.B * a.Hq;
  const int64_t want = (4 * int64_t(sm_count()) + heads - 1) / heads;
  const int64_t most = (a.Lk + 255) / 256;
  int64_t s = want < most ? want : most;
  return static_cast<int>(s < 1 ? 1 : s);
}

bool fits(DT t, const void* q, const void* k, const void* v, const AttentionArgs& a) {
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
void run_e(const void* q, const void* k, const void* v, void* out, float* scratch,
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
    case 64: return run_e<T, 2>(q, k, v, out, scratch, a, s);
    case 128: return run_e<T, 4>(q, k, v, out, scratch, a, s);
    default: return run_e<T, 8>(q, k, v, out, scratch, a, s);
  }
}

void run(DT t, const void* q, const void* k, const void* v, void* out, float* scratch,
         const AttentionArgs& a, cudaStream_t s) {
  if (t == DT::f16) {
    run_t<__half>(q, k, v, out, scratch, a, s);
  } else if (t == DT::bf16) {
    run_t<__nv_bfloat16>(q, k, v, out, scratch, a, s);
  } else {
    run_t<float>(q, k, v, out, scratch, a, s);
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
int heads_per_block(const AttentionArgs& a) {
  const int64_t G = a.Hq / a.Hkv;
  int best = 1;
  for (int64_t c = 1; c <= G && c * a.Lq <= 16; ++c) {
    if (G % c == 0) best = static_cast<int>(c);
  }
  return best;
}

bool fits(DT t, const void* k, const void* v, const AttentionArgs& a) {
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

// The block's partial softmax of rows [0, R), in scratch for combine_kernel:
// the four warps' rows (max, sum, output) combined through shared memory `cm`.
template <int D>
__device__ __forceinline__ void leave_partial(float* cm, const float (&o)[D / 8][4], float m0,
                                              float l0, float m1, float l1, int warp, int g,
                                              int t, int R, int Lq, float* scratch,
                                              const AttentionArgs& a, int splits, int64_t b,
                                              int64_t sp, int64_t h0) {
  const int r0 = g, r1 = g + 8;
  float* co = cm + kWarps * 16 * 2;  // cm: [warp][16][2], co: [warp][16][D]
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
    write_partial(part, a, splits, b, h0 + r / Lq, sp, r % Lq, D, d, mm, ll, oo);
  }
}

// Q fragments for rows r0 and r1 of the block's R rows: row r is query r % Lq
// of query head h0 + r / Lq (zeros past R).
template <typename T, int D>
__device__ __forceinline__ void gather_queries(uint32_t (&qa)[D / 16][4], const T* q, int r0,
                                               int r1, int t, int R, int Lq, int64_t b,
                                               int64_t h0, const AttentionArgs& a) {
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
      cp_async16(kd + u * kRowsPerPass * LD, valid ? kl + j * a.ks[2] : kl, valid);
      cp_async16(vd + u * kRowsPerPass * LD, valid ? vl + j * a.vs[2] : vl, valid);
    }
  };
  auto tile_start = [&](int n) { return j_begin + int64_t(warp + n * kWarps) * kT; };
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < mine) stage(s, tile_start(s));
    cp_commit();
  }

  // Rows g and g + 8 of the 16: query head h0 + r / Lq, query r % Lq.
  const int r0 = g, r1 = g + 8;
  uint32_t qa[D / 16][4];
  gather_queries<T, D>(qa, q, r0, r1, t, R, Lq, b, h0, a);
  float o[D / 8][4];
  zero_fragments(o);
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
  const float sl2 = a.scale * 1.4426950408889634f;
  constexpr float kLog2e = 1.4426950408889634f;

  for (int it = 0; it < mine; ++it) {
    if (it + kStages - 1 < mine) stage((it + kStages - 1) % kStages, tile_start(it + kStages - 1));
    cp_commit();
    cp_wait<kStages - 1>();
    __syncwarp();
    const T* kt = ks + (it % kStages) * kTile;
    const T* vt = vs + (it % kStages) * kTile;
    const int64_t j0 = tile_start(it);

    // S = Q K^T: two tiles of 16 x 8 keys; K fragments by matrix loads, lanes
    // 8m..8m+7 address matrix m (keys (m / 2) * 8 + lane % 8, features + (m % 2) * 8).
    float sc[kT / 8][4];
    zero_fragments(sc);
    const T* krow = kt + ((lane >> 4) * 8 + (lane & 7)) * LD + ((lane >> 3) & 1) * 8;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t b0, b1, b2, b3;
      load_matrices<false>(krow + kk * 16, b0, b1, b2, b3);
      mma<T>(sc[0], qa[kk], b0, b1);
      mma<T>(sc[1], qa[kk], b2, b3);
    }
    // Element e of tile n: row e < 2 ? r0 : r1, key j0 + 8 n + 2 t + (e & 1).
    const bool ragged = j0 + kT > j_end;
#pragma unroll
    for (int n = 0; n < kT / 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float x = sc[n][e] * sl2;
        if (!kPlain || ragged) {
          const int64_t j = j0 + n * 8 + 2 * t + (e & 1);
          const int r = e < 2 ? r0 : r1;
          if constexpr (kPlain) {
            x = j < j_end ? x : -INFINITY;
          } else {
            x = masked_score<T>(a, x, j < j_end, r < R, b, h0 + r / Lq, r % Lq, j, kLog2e);
          }
        }
        sc[n][e] = x;
      }
    }
    float mx0, mx1;
    row_max(sc, mx0, mx1);
    quad_max(mx0, mx1);
    const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
    // Past the first tiles the maxima rarely move: rescale only when one did.
    if (__any_sync(0xffffffffu, n0 != m0 || n1 != m1)) {
      const float c0 = n0 == -INFINITY ? 1.0f : exp2f(m0 - n0);
      const float c1 = n1 == -INFINITY ? 1.0f : exp2f(m1 - n1);
      l0 *= c0;
      l1 *= c1;
      scale_rows(o, c0, c1);
      m0 = n0;
      m1 = n1;
    }
    exp2_rows(sc, n0, n1, l0, l1);
    // O += P V: P as the A operand (the accumulator layout of S), V fragments
    // by transposing matrix loads (lanes 0-15 keys lane, features n * 8;
    // lanes 16-31 the same keys, features n * 8 + 8).
    uint32_t pa[4];
    float unused0, unused1;
    pa[0] = pack2<T>(sc[0][0], sc[0][1], unused0, unused1);
    pa[1] = pack2<T>(sc[0][2], sc[0][3], unused0, unused1);
    pa[2] = pack2<T>(sc[1][0], sc[1][1], unused0, unused1);
    pa[3] = pack2<T>(sc[1][2], sc[1][3], unused0, unused1);
    const T* vrow = vt + (lane & 15) * LD + (lane >> 4) * 8;
#pragma unroll
    for (int n = 0; n < D / 8; n += 2) {
      uint32_t b0, b1, b2, b3;
      load_matrices<true>(vrow + n * 8, b0, b1, b2, b3);
      mma<T>(o[n], pa, b0, b1);
      mma<T>(o[n + 1], pa, b2, b3);
    }
    __syncwarp();  // every lane is done with this stage before it is refilled
  }
  cp_wait<0>();
  quad_sum(l0, l1);
  __syncthreads();  // the stages are free now
  leave_partial<D>(reinterpret_cast<float*>(smem_raw), o, m0, l0, m1, l1, warp, g, t, R, Lq,
                   scratch, a, splits, b, sp, h0);
}


// Keys per split: a multiple of kWarps tiles.
inline int64_t chunk_for(const AttentionArgs& a, int64_t splits) {
  constexpr int64_t kStep = kWarps * kT;
  return ((a.Lk + splits - 1) / splits + kStep - 1) / kStep * kStep;
}

// Splits per head: about sixteen blocks per multiprocessor in all, chunks of
// at least 512 keys.
int splits_for(const AttentionArgs& a, int hpb) {
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
void run_d(const void* q, const void* k, const void* v, void* out, float* scratch,
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

void run(DT t, const void* q, const void* k, const void* v, void* out, float* scratch,
         const AttentionArgs& a, cudaStream_t s) {
  auto typed = [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (a.D == 64) return run_d<T, 64>(q, k, v, out, scratch, a, s);
    run_d<T, 128>(q, k, v, out, scratch, a, s);
  };
  if (t == DT::f16) {
    typed(Tag<__half>{});
  } else {
    typed(Tag<__nv_bfloat16>{});
  }
}

}  // namespace tc

}  // namespace rill::detail::cu
