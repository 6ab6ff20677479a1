// Prefill attention for Hopper (sm_90a): the tensor cores' warpgroup matrix
// instructions (wgmma) fed by the tensor-memory copy engine (TMA).
//
// A block owns 64 kC query rows of one (batch, head) (kC = 3 consumer
// warpgroups at D = 64, 2 at D = 128) and has kC + 1 warpgroups: the first
// only loads (one thread issues TMA copies of Q once and of K and V block
// after block into a two-stage ring, each stage guarded by "full" and
// "empty" barriers); the others each own 64 query rows and run, per block of
// 128 keys: S = Q K^T (wgmma, both operands in shared memory), the online
// softmax in registers (base-2 exponentials of one FMA each, running max and
// sum per row), P rounded to the input type and kept in registers as the A
// operand of O += P V (wgmma, V in shared memory read transposed); in the
// overlapped schedule (the default; RILL_SDPA_SM90=1 picks the plain one) a
// block's S and the previous block's P V are in flight together while the
// softmax runs. Shared memory tiles use the 128-byte swizzle the copy engine
// writes and the matrix instructions read; a tile row of 64 elements is one
// 128-byte "panel" line.
//
// Taken by fast::scaled_dot_product_attention on compute capability 9.0 for
// float16 / bfloat16, head dims 64 and 128 (D = Dv), a positive finite
// scale, no mask array, Lq > 8,
// rows 16-byte aligned with unit inner stride; everything else keeps the
// other kernels (attention.cu). Compiled for sm_90a only.
#include <cuda.h>
#include <cudaTypedefs.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "backend/cuda/attention/sm90.h"
#include "backend/cuda/device.cuh"
#include "runtime/config.h"

namespace rill::detail::cu::sm90 {
namespace {

// Query rows per block: 64 per consumer warpgroup, kC of them (3 at D = 64,
// 2 at D = 128, whose accumulators need more registers than three can have).
template <int kC>
constexpr int block_rows() { return 64 * kC; }
template <int kC>
constexpr int block_threads() { return 128 * (kC + 1); }
constexpr int kBN = 128;     // keys per step
constexpr int kStages = 2;   // K/V ring depth
constexpr int kPanel = 128;  // bytes of a swizzled tile line

// ---- PTX wrappers ----

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void bar_init(uint64_t* bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count));
}

__device__ __forceinline__ void bar_expect(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)),
               "r"(bytes)
               : "memory");
}

__device__ __forceinline__ void bar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}

// Waits until the barrier's phase with this parity has completed.
__device__ __forceinline__ void bar_wait(uint64_t* bar, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\n"
      "WAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=;\n}\n" ::"r"(smem_addr(bar)),
      "r"(parity)
      : "memory");
}

// One box of a 4-D tensor map into shared memory, completing on `bar`.
__device__ __forceinline__ void tma_load(void* dst, const CUtensorMap* map, int c0, int c1, int c2,
                                         int c3, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3, %4, %5}], [%6];\n" ::"r"(smem_addr(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3),
      "r"(smem_addr(bar))
      : "memory");
}

__device__ __forceinline__ void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_wait_all() {
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}

// A shared memory matrix descriptor: 128-byte swizzle, `lbo` between panels
// (ignored for K-major tiles), `sbo` between groups of 8 lines.
__device__ __forceinline__ uint64_t make_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return static_cast<uint64_t>((addr & 0x3FFFF) >> 4) |
         (static_cast<uint64_t>(lbo >> 4) << 16) | (static_cast<uint64_t>(sbo >> 4) << 32) |
         (1ull << 62);
}

template <typename T>
__device__ __forceinline__ uint32_t pack(float lo, float hi) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  } else {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
}

// ---- wgmma: m64n128k16 with both operands in shared memory (S = Q K^T), and
// m64nDk16 with A from registers, B transposed (O += P V). Accumulators f32.
// The accumulator operands of an m64nN instruction: N / 2 floats per thread.
#define RILL_ACC64_REGS                                                                          \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, "                 \
  "%17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "                  \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, "                  \
  "%47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, "                  \
  "%62, %63}"
#define RILL_ACC64_OUTS                                                                          \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),            \
  "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]),                     \
  "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]),                  \
  "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),                  \
  "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]),                  \
  "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]),                  \
  "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]),                  \
  "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]),                  \
  "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]),                  \
  "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]),                  \
  "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
#define RILL_ACC32_REGS                                                                          \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, "                 \
  "%17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define RILL_ACC32_OUTS                                                                          \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),            \
  "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]),                     \
  "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]),                  \
  "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),                  \
  "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]),                  \
  "+f"(d[31])

#define RILL_WGMMA_SS_N128(NAME, TY)                                                             \
  __device__ __forceinline__ void NAME(float (&d)[64], uint64_t a, uint64_t b, int accumulate) { \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                    \
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY "\n" RILL_ACC64_REGS   \
                 ", %64, %65, p, 1, 1, 0, 0;\n}\n"                                               \
                 : RILL_ACC64_OUTS                                                               \
                 : "l"(a), "l"(b), "r"(accumulate));                                             \
  }

#define RILL_WGMMA_RS_N128(NAME, TY)                                                             \
  __device__ __forceinline__ void NAME(float (&d)[64], const uint32_t (&a)[4], uint64_t b) {     \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"                                    \
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY "\n" RILL_ACC64_REGS   \
                 ", {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"                                 \
                 : RILL_ACC64_OUTS                                                               \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1));                  \
  }

#define RILL_WGMMA_RS_N64(NAME, TY)                                                              \
  __device__ __forceinline__ void NAME(float (&d)[32], const uint32_t (&a)[4], uint64_t b) {     \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"                                    \
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY "\n" RILL_ACC32_REGS    \
                 ", {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"                                 \
                 : RILL_ACC32_OUTS                                                               \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1));                  \
  }

RILL_WGMMA_SS_N128(wgmma_ss_n128_bf16, "bf16")
RILL_WGMMA_SS_N128(wgmma_ss_n128_f16, "f16")
RILL_WGMMA_RS_N128(wgmma_rs_n128_bf16, "bf16")
RILL_WGMMA_RS_N128(wgmma_rs_n128_f16, "f16")
RILL_WGMMA_RS_N64(wgmma_rs_n64_bf16, "bf16")
RILL_WGMMA_RS_N64(wgmma_rs_n64_f16, "f16")
#undef RILL_WGMMA_SS_N128
#undef RILL_WGMMA_RS_N128
#undef RILL_WGMMA_RS_N64
#undef RILL_ACC64_REGS
#undef RILL_ACC64_OUTS
#undef RILL_ACC32_REGS
#undef RILL_ACC32_OUTS


template <typename T>
constexpr bool is_bf16 = std::is_same_v<T, __nv_bfloat16>;

template <typename T>
__device__ __forceinline__ void mma_qk(float (&d)[64], uint64_t a, uint64_t b, int accumulate) {
  if constexpr (is_bf16<T>) {
    wgmma_ss_n128_bf16(d, a, b, accumulate);
  } else {
    wgmma_ss_n128_f16(d, a, b, accumulate);
  }
}

template <typename T, int D>
__device__ __forceinline__ void mma_pv(float (&d)[D / 2], const uint32_t (&a)[4], uint64_t b) {
  if constexpr (D == 128) {
    if constexpr (is_bf16<T>) {
      wgmma_rs_n128_bf16(d, a, b);
    } else {
      wgmma_rs_n128_f16(d, a, b);
    }
  } else {
    if constexpr (is_bf16<T>) {
      wgmma_rs_n64_bf16(d, a, b);
    } else {
      wgmma_rs_n64_f16(d, a, b);
    }
  }
}

__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// 2^x for x <= 0 without the special-function unit (whose 16 results per
// clock per SM the exponentials of a small head dim saturate): x = i + f with
// i rounded to nearest, f in [-0.5, 0.5]; 2^f by a cubic fitted to relative
// error (1.4e-4, under half a float16 unit in the last place), 2^i added to
// the exponent bits. Below -126 (and -inf): 0.
__device__ __forceinline__ float exp2_poly(float x) {
  const float xc = fmaxf(x, -126.0f);
  const float big = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float t = xc + big;
  const float f = xc - (t - big);
  float p = 0.0550290777f;
  p = fmaf(p, f, 0.242257781f);
  p = fmaf(p, f, 0.693253139f);
  p = fmaf(p, f, 0.999951301f);
  const int i = __float_as_int(t) - __float_as_int(big);
  const float y = __int_as_float(__float_as_int(p) + (i << 23));
  return x < -126.0f ? 0.0f : y;
}

__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// Shared memory of a block: tiles 1024-byte aligned (the swizzle repeats
// every 8 lines of 128 bytes), each a row of panels of 64 elements.
template <int D, int BM>
struct Tiles {
  alignas(1024) uint8_t q[BM * D * 2];
  alignas(1024) uint8_t k[kStages][kBN * D * 2];
  alignas(1024) uint8_t v[kStages][kBN * D * 2];
  uint64_t q_full;
  uint64_t k_full[kStages], v_full[kStages];
  // Freed stages: `empty` (K and V together) in the plain schedule; K and V
  // apart in the overlapped one, where K is done a block before V.
  uint64_t empty[kStages], k_empty[kStages], v_empty[kStages];
};

struct Params {
  int Lq, Lk, Hq, group;  // group: query heads per key/value head
  int64_t os_b, os_h, os_l;  // the output's element strides (d: 1)
  int off;                // causal: query i sees keys j <= i + off
  int causal;
  float scale_log2;       // softmax scale times log2(e)
};

// Keeps the compiler from moving an accumulator register across the wait for
// the matrix instructions that write it.
template <int N>
__device__ __forceinline__ void pin(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}

// A consumer warpgroup: query rows m0 + 64 g .. + 63 of head h, batch b. Each
// thread holds accumulator elements of rows r and r + 8 of the 64, columns
// 8 n + c and + 1 of each group of 8 (n counts the groups).
// kPoly: every other group of 8 keys takes its exponentials from exp2_poly,
// splitting them between the special-function unit and the FMA pipes.
template <typename T, int D, bool kPoly, int kBM>
struct Consumer {
  Tiles<D, kBM>& t;
  const Params& p;
  int g, m0;
  int lane, c;
  int qi[2];
  uint32_t q_base;
  float o[D / 2];
  float mx[2] = {-INFINITY, -INFINITY}, sum[2] = {0.0f, 0.0f};

  __device__ Consumer(Tiles<D, kBM>& tiles, const Params& params, int group, int row0)
      : t(tiles), p(params), g(group), m0(row0) {
    const int tid = threadIdx.x % 128, warp = tid / 32;
    lane = tid % 32;
    const int r = 16 * warp + lane / 4;
    c = 2 * (lane % 4);
    qi[0] = m0 + 64 * g + r;
    qi[1] = qi[0] + 8;
    q_base = smem_addr(t.q) + 64 * g * kPanel;
#pragma unroll
    for (int i = 0; i < D / 2; ++i) o[i] = 0.0f;
  }

  // Issues S = Q K^T for the K tile of stage s (no commit, no wait).
  __device__ __forceinline__ void issue_qk(float (&sc)[kBN / 2], int s) {
    const uint32_t k_base = smem_addr(t.k[s]);
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      // 16 elements (32 bytes) of D per step, 4 steps per panel.
      const uint64_t da = make_desc(q_base + (kk / 4) * kBM * kPanel + (kk % 4) * 32, 16, 1024);
      const uint64_t db = make_desc(k_base + (kk / 4) * kBN * kPanel + (kk % 4) * 32, 16, 1024);
      mma_qk<T>(sc, da, db, kk > 0);
    }
  }

  // Issues O += P V for the V tile of stage s (no commit, no wait).
  __device__ __forceinline__ void issue_pv(const uint32_t (&pa)[kBN / 16][4], int s) {
    const uint32_t v_base = smem_addr(t.v[s]);
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) {
      // V read transposed (N = D contiguous): 16 key lines per step, panels
      // of 64 columns kBN lines apart.
      const uint64_t db = make_desc(v_base + kk * 16 * kPanel, kBN * kPanel, 1024);
      mma_pv<T, D>(o, pa[kk], db);
    }
  }

  // The online softmax of key block j, in place: sc becomes the block's
  // probabilities against the new running max; returns in alpha the factor
  // that rescales what was accumulated before.
  __device__ __forceinline__ void softmax(float (&sc)[kBN / 2], int j, float (&alpha)[2]) {
    // Mask keys past the end and, when causal, past each row's diagonal. The
    // maxima are kept unscaled (the scale is positive), so each exponent is
    // one FMA: s * scale_log2 - max * scale_log2.
    const int k0 = j * kBN;
    const bool edge = k0 + kBN > p.Lk || (p.causal && k0 + kBN - 1 > m0 + 64 * g + p.off);
    if (edge) {
#pragma unroll
      for (int n = 0; n < kBN / 8; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = k0 + 8 * n + c + (e & 1);
          if (key >= p.Lk || (p.causal && key > qi[e >> 1] + p.off)) sc[4 * n + e] = -INFINITY;
        }
      }
    }
    const float sl = p.scale_log2;
    float base[2];
#pragma unroll
    for (int h2 = 0; h2 < 2; ++h2) {
      float m = mx[h2];
#pragma unroll
      for (int n = 0; n < kBN / 8; ++n) {
        m = fmaxf(m, fmaxf(sc[4 * n + 2 * h2], sc[4 * n + 2 * h2 + 1]));
      }
      m = quad_max(m);
      base[h2] = m == -INFINITY ? 0.0f : m * sl;  // nothing seen yet: exponents stay -inf
      alpha[h2] = exp2_approx(fmaf(mx[h2], sl, -base[h2]));
      mx[h2] = m;
    }
    float part[2] = {0.0f, 0.0f};
#pragma unroll
    for (int n = 0; n < kBN / 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float x = fmaf(sc[4 * n + e], sl, -base[e >> 1]);
        const float pe = (kPoly && (n & 1)) ? exp2_poly(x) : exp2_approx(x);
        sc[4 * n + e] = pe;
        part[e >> 1] += pe;
      }
    }
    sum[0] = sum[0] * alpha[0] + part[0];
    sum[1] = sum[1] * alpha[1] + part[1];
  }

  __device__ __forceinline__ void rescale(const float (&alpha)[2]) {
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      o[4 * n] *= alpha[0];
      o[4 * n + 1] *= alpha[0];
      o[4 * n + 2] *= alpha[1];
      o[4 * n + 3] *= alpha[1];
    }
  }

  // P in the input type, as the A operand: the accumulator layout of keys
  // 16 kk .. + 15 is the register layout of the k-step kk.
  __device__ __forceinline__ static void to_operand(const float (&sc)[kBN / 2],
                                                    uint32_t (&pa)[kBN / 16][4]) {
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) {
      pa[kk][0] = pack<T>(sc[8 * kk], sc[8 * kk + 1]);
      pa[kk][1] = pack<T>(sc[8 * kk + 2], sc[8 * kk + 3]);
      pa[kk][2] = pack<T>(sc[8 * kk + 4], sc[8 * kk + 5]);
      pa[kk][3] = pack<T>(sc[8 * kk + 6], sc[8 * kk + 7]);
    }
  }

  __device__ __forceinline__ void store(T* out, int h, int b) {
    float inv[2];
#pragma unroll
    for (int h2 = 0; h2 < 2; ++h2) {
      const float total = quad_sum(sum[h2]);
      inv[h2] = total > 0.0f ? 1.0f / total : 0.0f;
    }
    T* base_out = out + b * p.os_b + h * p.os_h;
#pragma unroll
    for (int h2 = 0; h2 < 2; ++h2) {
      if (qi[h2] >= p.Lq) continue;
      uint32_t* row =
          reinterpret_cast<uint32_t*>(base_out + qi[h2] * p.os_l + c);
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        row[4 * n] = pack<T>(o[4 * n + 2 * h2] * inv[h2], o[4 * n + 2 * h2 + 1] * inv[h2]);
      }
    }
  }

  // One block after the other: S, softmax, P V, each waited for.
  __device__ __forceinline__ void run_plain(int blocks) {
    bar_wait(&t.q_full, 0);
    for (int j = 0; j < blocks; ++j) {
      const int s = j % kStages;
      const uint32_t parity = (j / kStages) & 1;
      float sc[kBN / 2];
#pragma unroll
      for (int i = 0; i < kBN / 2; ++i) sc[i] = 0.0f;
      bar_wait(&t.k_full[s], parity);
      wgmma_fence();
      issue_qk(sc, s);
      wgmma_commit();
      wgmma_wait_all();
      float alpha[2];
      softmax(sc, j, alpha);
      rescale(alpha);
      uint32_t pa[kBN / 16][4];
      to_operand(sc, pa);
      bar_wait(&t.v_full[s], parity);
      wgmma_fence();
      issue_pv(pa, s);
      wgmma_commit();
      wgmma_wait_all();
      if (lane == 0) bar_arrive(&t.empty[s]);  // this warp is done with the stage
    }
  }

  // The tensor cores kept busy through the softmax: block j's S = Q K^T and
  // block j - 1's O += P V are in flight while block j's softmax runs; O is
  // rescaled once that product is done.
  __device__ __forceinline__ void run_overlapped(int blocks) {
    bar_wait(&t.q_full, 0);
    if (blocks == 0) return;
    float sc[kBN / 2];
    uint32_t pa[kBN / 16][4];
    float alpha[2];
#pragma unroll
    for (int i = 0; i < kBN / 2; ++i) sc[i] = 0.0f;
    bar_wait(&t.k_full[0], 0);
    wgmma_fence();
    issue_qk(sc, 0);
    wgmma_commit();
    wgmma_wait_all();
    pin(sc);
    if (lane == 0) bar_arrive(&t.k_empty[0]);
    softmax(sc, 0, alpha);  // O is still zero: nothing to rescale
    to_operand(sc, pa);
    for (int j = 1; j < blocks; ++j) {
      const int s = j % kStages, sp = (j - 1) % kStages;
#pragma unroll
      for (int i = 0; i < kBN / 2; ++i) sc[i] = 0.0f;
      bar_wait(&t.k_full[s], (j / kStages) & 1);
      wgmma_fence();
      issue_qk(sc, s);
      wgmma_commit();
      bar_wait(&t.v_full[sp], ((j - 1) / kStages) & 1);
      issue_pv(pa, sp);
      wgmma_commit();
      asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");  // S is done
      pin(sc);
      if (lane == 0) bar_arrive(&t.k_empty[s]);
      softmax(sc, j, alpha);
      wgmma_wait_all();  // P V of block j - 1 is done
      pin(o);
      if (lane == 0) bar_arrive(&t.v_empty[sp]);
      rescale(alpha);
      to_operand(sc, pa);
    }
    const int sl = (blocks - 1) % kStages;
    bar_wait(&t.v_full[sl], ((blocks - 1) / kStages) & 1);
    wgmma_fence();
    issue_pv(pa, sl);
    wgmma_commit();
    wgmma_wait_all();
    pin(o);
    if (lane == 0) bar_arrive(&t.v_empty[sl]);
  }
};

// kMode: 1 the plain schedule, 2 the overlapped one, 3 overlapped with half
// the exponentials on the FMA pipes.
template <typename T, int D, int kMode, int kC>
__global__ void __launch_bounds__(block_threads<kC>(), 1)
    prefill(const __grid_constant__ CUtensorMap tq, const __grid_constant__ CUtensorMap tk,
            const __grid_constant__ CUtensorMap tv, Params p, T* out) {
  constexpr int kBM = block_rows<kC>();
  // Registers per consumer thread: all but the producer's 24 of the 64 Ki.
  constexpr int kRegs = kC == 2 ? 240 : 160;
  extern __shared__ uint8_t raw[];
  Tiles<D, kBM>& t = *reinterpret_cast<Tiles<D, kBM>*>(
      (reinterpret_cast<uintptr_t>(raw) + 1023) & ~static_cast<uintptr_t>(1023));
  constexpr int kPanels = D / 64;
  constexpr uint32_t kTileBytes = kBN * D * 2;
  const int wg = threadIdx.x / 128;
  // Causal blocks nearer the end have more keys: those start first.
  const int mb = p.causal ? gridDim.x - 1 - blockIdx.x : blockIdx.x;
  const int m0 = mb * kBM, h = blockIdx.y, b = blockIdx.z;
  int key_end = p.Lk;
  if (p.causal) key_end = min(p.Lk, m0 + kBM + p.off);
  const int blocks = key_end > 0 ? (key_end + kBN - 1) / kBN : 0;
  if (threadIdx.x == 0) {
    bar_init(&t.q_full, 1);
    for (int s = 0; s < kStages; ++s) {
      bar_init(&t.k_full[s], 1);
      bar_init(&t.v_full[s], 1);
      bar_init(&t.empty[s], 4 * kC);  // one arrival per consumer warp
      bar_init(&t.k_empty[s], 4 * kC);
      bar_init(&t.v_empty[s], 4 * kC);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  if (wg == 0) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n" ::: "memory");
    if (threadIdx.x == 0) {
      bar_expect(&t.q_full, kBM * D * 2);
      for (int pn = 0; pn < kPanels; ++pn) {
        tma_load(t.q + pn * kBM * kPanel, &tq, 64 * pn, m0, h, b, &t.q_full);
      }
      const int hk = h / p.group;
      for (int j = 0; j < blocks; ++j) {
        const int s = j % kStages;
        const uint32_t freed = ((j / kStages) - 1) & 1;  // the stage's previous use
        if (j >= kStages) bar_wait(kMode >= 2 ? &t.k_empty[s] : &t.empty[s], freed);
        bar_expect(&t.k_full[s], kTileBytes);
        for (int pn = 0; pn < kPanels; ++pn) {
          tma_load(t.k[s] + pn * kBN * kPanel, &tk, 64 * pn, j * kBN, hk, b, &t.k_full[s]);
        }
        if (kMode >= 2 && j >= kStages) bar_wait(&t.v_empty[s], freed);
        bar_expect(&t.v_full[s], kTileBytes);
        for (int pn = 0; pn < kPanels; ++pn) {
          tma_load(t.v[s] + pn * kBN * kPanel, &tv, 64 * pn, j * kBN, hk, b, &t.v_full[s]);
        }
      }
    }
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegs) : "memory");
    Consumer<T, D, kMode == 3, kBM> cons(t, p, wg - 1, m0);
    if constexpr (kMode >= 2) {
      cons.run_overlapped(blocks);
    } else {
      cons.run_plain(blocks);
    }
    cons.store(out, h, b);
  }
}

// ---- host ----

PFN_cuTensorMapEncodeTiled_v12000 encoder() {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault,
                                         &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess) {
      (void)cudaGetLastError();
      f = nullptr;
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(f);
  }();
  return fn;
}

// A 4-D map (d, l, h, b) over one of q, k, v; boxes of 64 x `rows`.
CUtensorMap map_for(DT t, const void* base, int64_t D, int64_t L, int64_t H, int64_t B,
                    const int64_t (&st)[4], int rows) {
  const cuuint64_t line = static_cast<cuuint64_t>(st[2]) * 2;
  cuuint64_t dims[4] = {static_cast<cuuint64_t>(D), static_cast<cuuint64_t>(L),
                        static_cast<cuuint64_t>(H), static_cast<cuuint64_t>(B)};
  // Strides of size-1 dims are never used; any valid value does.
  cuuint64_t strides[3] = {line, H > 1 ? static_cast<cuuint64_t>(st[1]) * 2 : line * L,
                           B > 1 ? static_cast<cuuint64_t>(st[0]) * 2 : line * L * H};
  cuuint32_t box[4] = {64, static_cast<cuuint32_t>(rows), 1, 1};
  cuuint32_t elem[4] = {1, 1, 1, 1};
  CUtensorMap map;
  std::memset(&map, 0, sizeof map);
  const CUresult r = encoder()(
      &map, t == DT::bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 4,
      const_cast<void*>(base), dims, strides, box, elem, CU_TENSOR_MAP_INTERLEAVE_NONE,
      CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    throw std::runtime_error("scaled_dot_product_attention: cuTensorMapEncodeTiled failed (" +
                             std::to_string(static_cast<int>(r)) + ")");
  }
  return map;
}

bool aligned_strides(const int64_t (&st)[4], int64_t L, int64_t H, int64_t B) {
  return st[3] == 1 && st[2] % 8 == 0 && (H == 1 || st[1] % 8 == 0) &&
         (B == 1 || st[0] % 8 == 0) && st[2] > 0 && st[2] < (int64_t(1) << 36) && L > 0;
}

template <typename T, int D, int kMode, int kC>
void launch(const void* q, const void* k, const void* v, void* out, const AttentionArgs& a,
            cudaStream_t s) {
  constexpr int kBM = block_rows<kC>();
  const DT t = is_bf16<T> ? DT::bf16 : DT::f16;
  const CUtensorMap tq = map_for(t, q, D, a.Lq, a.Hq, a.B, a.qs, kBM);
  const CUtensorMap tk = map_for(t, k, D, a.Lk, a.Hkv, a.B, a.ks, kBN);
  const CUtensorMap tv = map_for(t, v, D, a.Lk, a.Hkv, a.B, a.vs, kBN);
  Params p;
  p.Lq = static_cast<int>(a.Lq);
  p.Lk = static_cast<int>(a.Lk);
  p.Hq = static_cast<int>(a.Hq);
  p.os_b = a.os[0];
  p.os_h = a.os[1];
  p.os_l = a.os[2];
  p.group = static_cast<int>(a.Hq / a.Hkv);
  p.off = static_cast<int>(a.Lk - a.Lq);
  p.causal = a.causal ? 1 : 0;
  p.scale_log2 = a.scale * 1.4426950408889634f;
  const size_t smem = sizeof(Tiles<D, kBM>) + 1024;
  auto kernel = prefill<T, D, kMode, kC>;
  check_call(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(smem)),
             "cudaFuncSetAttribute (attention, sm_90a)");
  dim3 grid(static_cast<unsigned>((a.Lq + kBM - 1) / kBM), static_cast<unsigned>(a.Hq),
            static_cast<unsigned>(a.B));
  kernel<<<grid, block_threads<kC>(), smem, s>>>(tq, tk, tv, p, static_cast<T*>(out));
  check_launch("scaled_dot_product_attention (sm_90a)");
}

// RILL_SDPA_SM90 (runtime/config.h): 0 off, 1 the plain schedule (v2), 2 the
// overlapped one (v3, the default since it was measured faster), 3 that with
// half the exponentials on the FMA pipes.
int mode() {
  static const int m = static_cast<int>(setting_int(Setting::sdpa_sm90));
  return m;
}

}  // namespace

bool enabled() { return mode() != 0; }

bool fits(DT t, const void* q, const void* k, const void* v, const void* out,
          const AttentionArgs& a) {
  // The softmax keeps maxima unscaled: a positive, finite scale only.
  if (!enabled() || !(a.scale > 0.0f) || !(a.scale < INFINITY) ||
      (t != DT::f16 && t != DT::bf16) || a.D != a.Dv ||
      (a.D != 64 && a.D != 128) || a.mask != nullptr || a.Lq <= 8 || a.Lk <= 0 ||
      (a.causal && a.Lq > a.Lk) || a.Hkv <= 0 || a.Hq % a.Hkv != 0 || a.Hq > 65535 ||
      a.B > 65535 || a.Lq > (int64_t(1) << 30) || a.Lk > (int64_t(1) << 30)) {
    return false;
  }
  for (const void* ptr : {q, k, v, out}) {
    if (reinterpret_cast<uintptr_t>(ptr) % 16 != 0) return false;
  }
  if (!aligned_strides(a.qs, a.Lq, a.Hq, a.B) || !aligned_strides(a.ks, a.Lk, a.Hkv, a.B) ||
      !aligned_strides(a.vs, a.Lk, a.Hkv, a.B)) {
    return false;
  }
  int device = 0, major = 0, minor = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return major == 9 && minor == 0 && encoder() != nullptr;
}

namespace {

// Consumer warpgroups at D = 64: three (192 query rows per block, 160
// registers each; 1.2x two on an H200), or two with RILL_SDPA_SM90_GROUPS=2.
int groups64() {
  static const int g = static_cast<int>(setting_int(Setting::sdpa_sm90_groups));
  return g;
}

template <int kMode>
void run_mode(DT t, const void* q, const void* k, const void* v, void* out,
              const AttentionArgs& a, cudaStream_t s) {
  if (t == DT::bf16) {
    if (a.D == 128) return launch<__nv_bfloat16, 128, kMode, 2>(q, k, v, out, a, s);
    groups64() == 3 ? launch<__nv_bfloat16, 64, kMode, 3>(q, k, v, out, a, s)
                    : launch<__nv_bfloat16, 64, kMode, 2>(q, k, v, out, a, s);
  } else {
    if (a.D == 128) return launch<__half, 128, kMode, 2>(q, k, v, out, a, s);
    groups64() == 3 ? launch<__half, 64, kMode, 3>(q, k, v, out, a, s)
                    : launch<__half, 64, kMode, 2>(q, k, v, out, a, s);
  }
}

}  // namespace

void run(DT t, const void* q, const void* k, const void* v, void* out, const AttentionArgs& a,
         cudaStream_t s) {
  switch (mode()) {
    case 1: return run_mode<1>(t, q, k, v, out, a, s);
    case 3: return run_mode<3>(t, q, k, v, out, a, s);
    default: return run_mode<2>(t, q, k, v, out, a, s);
  }
}

}  // namespace rill::detail::cu::sm90
