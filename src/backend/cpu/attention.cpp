// Fused attention: for each head, blocks of queries against blocks of keys with
// an online softmax (running row max and sum, rescaling the accumulator), so
// scratch is one block of scores and one block of outputs whatever the
// sequence lengths. Block products in float32 run on the register-blocked
// AVX-512 kernel below where the CPU has it (S = Q K^T as Q times a transposed
// copy of the key block), else on BLAS, as do double's; heads whose layout
// cannot be read directly (or of half types) are converted once per head,
// which is linear in the sequence length.
#include <cblas.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/vmath.h"
#include "common/strided_walk.h"
#include "core/dispatch.h"
#include "runtime/config.h"
#include "runtime/cpu_executor.h"

namespace rill::detail::cpu {
namespace {

// W1's sequences (128) fit one block each way: one pass, two products.
constexpr int64_t kBlockQ = 128;
constexpr int64_t kBlockK = 128;

// ---- float32 block products with AVX-512 ----
// The attention's products are small (W1: 128 x 128 over 64, then 128 x 64
// over 128) and many threads run them at once; a BLAS call per block costs
// its own packing and dispatch, and OpenBLAS builds that do not recognise the
// CPU fall back to slow generic kernels (25 GFLOP/s per core measured on a
// Xeon with AVX-512 and AMX). This kernel reads both operands in place:
// c = alpha a b (+ c), a m x k with row stride lda, b k x n with row stride
// ldb, in tiles of up to 8 rows x 32 columns held in sixteen registers, each
// element summed over k in order.
#if defined(__x86_64__)
std::atomic<bool> g_blas_forced{false};

bool use_avx512_products() {
  static const bool on = setting_int(Setting::cpu_attention_blas) == 0 &&
                         static_cast<bool>(__builtin_cpu_supports("avx512f"));
  return on && !g_blas_forced.load(std::memory_order_relaxed);
}

template <bool kFull>
__attribute__((target("avx512f"))) inline __m512 load16(const float* p, __mmask16 m) {
  if constexpr (kFull) {
    return _mm512_loadu_ps(p);
  } else {
    return _mm512_maskz_loadu_ps(m, p);
  }
}

// kFull: all 32 columns exist, so plain loads and stores; a masked loop
// reloads its masks every step on GCC, and on Intel cores those moves share
// a port with the multiply-adds.
template <int MR, bool kFull>
__attribute__((target("avx512f"))) inline void tile_nn(int64_t k, float alpha, const float* a,
                                                      int64_t lda, const float* b, int64_t ldb,
                                                      __mmask16 m0, __mmask16 m1, bool accumulate,
                                                      float* c, int64_t ldc) {
  // Every loop over r unrolled, so that acc lives in registers.
  __m512 acc[MR][2];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m512 b0 = load16<kFull>(b + p * ldb, m0);
    const __m512 b1 = load16<kFull>(b + p * ldb + 16, m1);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * lda + p]);
      acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
    }
  }
  const __m512 al = _mm512_set1_ps(alpha);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    __m512 x0 = _mm512_mul_ps(acc[r][0], al), x1 = _mm512_mul_ps(acc[r][1], al);
    if (accumulate) {
      x0 = _mm512_add_ps(x0, load16<kFull>(cr, m0));
      x1 = _mm512_add_ps(x1, load16<kFull>(cr + 16, m1));
    }
    if constexpr (kFull) {
      _mm512_storeu_ps(cr, x0);
      _mm512_storeu_ps(cr + 16, x1);
    } else {
      _mm512_mask_storeu_ps(cr, m0, x0);
      _mm512_mask_storeu_ps(cr + 16, m1, x1);
    }
  }
}

// Rows of a 32-column strip: tiles of kRows rows, then one of the rest.
constexpr int64_t kRows = 8;
template <bool kFull>
__attribute__((target("avx512f"))) void strip_nn(int64_t m, int64_t k, float alpha,
                                                const float* a, int64_t lda, const float* b,
                                                int64_t ldb, __mmask16 m0, __mmask16 m1,
                                                bool accumulate, float* c, int64_t ldc) {
  int64_t i0 = 0;
  for (; i0 + kRows <= m; i0 += kRows) {
    tile_nn<kRows, kFull>(k, alpha, a + i0 * lda, lda, b, ldb, m0, m1, accumulate, c + i0 * ldc,
                          ldc);
  }
  const float* ai = a + i0 * lda;
  float* ci = c + i0 * ldc;
  switch (m - i0) {
#define RILL_TILE_CASE(r) \
  case r: tile_nn<r, kFull>(k, alpha, ai, lda, b, ldb, m0, m1, accumulate, ci, ldc); break;
    RILL_TILE_CASE(7) RILL_TILE_CASE(6) RILL_TILE_CASE(5) RILL_TILE_CASE(4)
    RILL_TILE_CASE(3) RILL_TILE_CASE(2) RILL_TILE_CASE(1)
#undef RILL_TILE_CASE
    default: static_assert(kRows == 8, "a case for every remainder"); break;
  }
}

__attribute__((target("avx512f"))) void gemm_nn_avx512(int64_t m, int64_t n, int64_t k,
                                                      float alpha, const float* a, int64_t lda,
                                                      const float* b, int64_t ldb,
                                                      bool accumulate, float* c, int64_t ldc) {
  for (int64_t j0 = 0; j0 < n; j0 += 32) {
    const int64_t left = n - j0;
    if (left >= 32) {
      strip_nn<true>(m, k, alpha, a, lda, b + j0, ldb, 0xFFFF, 0xFFFF, accumulate, c + j0, ldc);
      continue;
    }
    const __mmask16 m0 = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
    const __mmask16 m1 = left > 16 ? __mmask16((1u << (left - 16)) - 1) : __mmask16(0);
    strip_nn<false>(m, k, alpha, a, lda, b + j0, ldb, m0, m1, accumulate, c + j0, ldc);
  }
}
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own
// placeholder operands when inlined under a target attribute.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// bt (k x n, row stride n) = b^T for b (n x k, row stride ldb): 16 x 16
// blocks transposed in registers (unpack pairs, then quads, then 128-bit
// lanes twice), the edges element by element.
__attribute__((target("avx512f"))) void transpose_avx512(int64_t n, int64_t k, const float* b,
                                                        int64_t ldb, float* bt) {
  int64_t j0 = 0;
  for (; j0 + 16 <= n; j0 += 16) {
    int64_t p0 = 0;
    for (; p0 + 16 <= k; p0 += 16) {
      __m512 r[16], t[16];
      for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(b + (j0 + i) * ldb + p0);
      for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
      }
      for (int i = 0; i < 16; i += 4) {
        for (int h = 0; h < 2; ++h) {
          const __m512d a = _mm512_castps_pd(t[i + h]), c = _mm512_castps_pd(t[i + h + 2]);
          r[i + h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
          r[i + h + 2] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        }
      }
      // Each 128-bit lane now holds four rows of one column; gather the
      // lanes of a column: pairs (0, 4), (1, 5) ... (8, 12) ..., then (0, 8)
      // ... (7, 15).
      for (int i = 0; i < 8; ++i) {
        const int q = i / 4 * 8 + i % 4;
        t[q] = _mm512_shuffle_f32x4(r[q], r[q + 4], 0x88);
        t[q + 4] = _mm512_shuffle_f32x4(r[q], r[q + 4], 0xDD);
      }
      for (int q = 0; q < 8; ++q) {
        r[q] = _mm512_shuffle_f32x4(t[q], t[q + 8], 0x88);
        r[q + 8] = _mm512_shuffle_f32x4(t[q], t[q + 8], 0xDD);
      }
      // r[x] is column kColumn[x] of the block, its 16 rows in order (the
      // unpacks leave columns 1 and 2 of each four swapped).
      static constexpr int kColumn[16] = {0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15};
      for (int x = 0; x < 16; ++x) _mm512_storeu_ps(bt + (p0 + kColumn[x]) * n + j0, r[x]);
    }
    for (; p0 < k; ++p0) {
      for (int64_t j = j0; j < j0 + 16; ++j) bt[p0 * n + j] = b[j * ldb + p0];
    }
  }
  for (; j0 < n; ++j0) {
    for (int64_t p = 0; p < k; ++p) bt[p * n + j0] = b[j0 * ldb + p];
  }
}
#pragma GCC diagnostic pop
#else
std::atomic<bool> g_blas_forced{false};
bool use_avx512_products() { return false; }
void transpose_avx512(int64_t, int64_t, const float*, int64_t, float*) {}
void gemm_nn_avx512(int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                    int64_t, bool, float*, int64_t) {}
#endif

// Per-thread scratch for a transposed key block.
std::vector<float>& key_block_scratch() {
  thread_local std::vector<float> kt;
  return kt;
}

// c = alpha * a * b^T (a: m x k, b: n x k, row-major).
template <typename C>
void gemm_abt(int64_t m, int64_t n, int64_t k, C alpha, const C* a, int64_t lda,
              const C* b, int64_t ldb, C* c, int64_t ldc) {
  if (k == 0) {
    std::fill(c, c + m * ldc, C(0));
    return;
  }
  if constexpr (std::is_same_v<C, float>) {
    if (use_avx512_products()) {
      std::vector<float>& bt = key_block_scratch();
      bt.resize(static_cast<size_t>(k * n));
      transpose_avx512(n, k, b, ldb, bt.data());
      gemm_nn_avx512(m, n, k, alpha, a, lda, bt.data(), n, false, c, ldc);
      return;
    }
  }
  int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  if constexpr (std::is_same_v<C, float>) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, im, in, ik, alpha, a,
                static_cast<int>(lda), b, static_cast<int>(ldb), 0.0f, c,
                static_cast<int>(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, im, in, ik, alpha, a,
                static_cast<int>(lda), b, static_cast<int>(ldb), 0.0, c,
                static_cast<int>(ldc));
  }
}

// c += a * b (a: m x k, b: k x n, row-major).
template <typename C>
void gemm_ab_acc(int64_t m, int64_t n, int64_t k, const C* a, int64_t lda, const C* b,
                 int64_t ldb, C* c, int64_t ldc) {
  if constexpr (std::is_same_v<C, float>) {
    if (use_avx512_products()) {
      gemm_nn_avx512(m, n, k, 1.0f, a, lda, b, ldb, true, c, ldc);
      return;
    }
  }
  int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  if constexpr (std::is_same_v<C, float>) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, im, in, ik, 1.0f, a,
                static_cast<int>(lda), b, static_cast<int>(ldb), 1.0f, c,
                static_cast<int>(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, im, in, ik, 1.0, a,
                static_cast<int>(lda), b, static_cast<int>(ldb), 1.0, c,
                static_cast<int>(ldc));
  }
}

// x[i] = exp(x[i] - shift) for x <= shift.
RILL_VECTOR_CLONES
void exp_shifted(float* x, int64_t n, float shift) {
  for (int64_t i = 0; i < n; ++i) x[i] = vexp(x[i] - shift);
}
void exp_shifted(double* x, int64_t n, double shift) {
  for (int64_t i = 0; i < n; ++i) x[i] = std::exp(x[i] - shift);
}

// Float compare-selects do not vectorise (as above); integers do, and this
// map from float bits to int32 keeps the order (NaN with sign 0 ranks above
// +inf, which is fine: it then propagates through exp).
RILL_VECTOR_CLONES
float row_max(const float* x, int64_t n, float init) {
  auto key = [](float f) {
    const int32_t b = std::bit_cast<int32_t>(f);
    return b ^ ((b >> 31) & 0x7fffffff);  // its own inverse
  };
  int32_t m = key(init);
  for (int64_t i = 0; i < n; ++i) m = std::max(m, key(x[i]));
  return std::bit_cast<float>(key(std::bit_cast<float>(m)));
}
double row_max(const double* x, int64_t n, double init) {
  double m = init;
  for (int64_t i = 0; i < n; ++i) m = m < x[i] ? x[i] : m;
  return m;
}


// One head's rows x cols matrix (the last two dims of a 4-D node at [b, h]) as
// something BLAS reads: the input itself when it is of type C with unit
// column stride, else a row-major copy in `scratch`.
template <typename T, typename C>
const C* head_matrix(const Node& x, int64_t b, int64_t h, std::vector<C>& scratch,
                     int64_t& ld) {
  const int64_t rows = x.shape[2], cols = x.shape[3];
  const int64_t rs = x.strides[2], cs = x.strides[3];
  const T* p = static_cast<const T*>(x.data()) + b * x.strides[0] + h * x.strides[1];
  if constexpr (std::is_same_v<T, C>) {
    bool unit_cols = cs == 1 || cols <= 1;
    bool rows_ok = rows <= 1 || (rs >= std::max<int64_t>(cols, 1) &&
                                 rs <= std::numeric_limits<int>::max());
    if (unit_cols && rows_ok) {
      ld = rows <= 1 ? std::max<int64_t>(cols, 1) : rs;
      return p;
    }
  }
  scratch.resize(rows * cols);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j)
      scratch[i * cols + j] = convert<C>(p[i * rs + j * cs]);
  }
  ld = std::max<int64_t>(cols, 1);
  return scratch.data();
}

template <typename T>
void attention(const Node& q, const Node& k, const Node& v, const Node* mask, float scale,
               bool causal, Node& out) {
  using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
  constexpr C kNegInf = -std::numeric_limits<C>::infinity();
  const int64_t batch = q.shape[0], hq = q.shape[1], lq = q.shape[2], d = q.shape[3];
  const int64_t hkv = k.shape[1], lk = k.shape[2], dv = v.shape[3];
  allocate(out);
  if (out.size == 0) return;
  single_threaded_blas();
  const int64_t group = hq / hkv;
  // Causal: query i sees keys j <= i + shift (queries aligned to the end).
  const int64_t shift = lk - lq;

  Strides ms;
  if (mask)
    ms = broadcast_strides(*mask, {q.shape[0], q.shape[1], q.shape[2], k.shape[2]});
  const bool bool_mask = mask && mask->dtype == bool_;

  const int64_t bq = std::min(kBlockQ, lq),
                bk = std::min(kBlockK, std::max<int64_t>(lk, 1));
  T* o = static_cast<T*>(out.mutable_data());

  // The (batch, key head) pairs are independent: split among idle workers,
  // each with its own scratch.
  cpu_parallel_for(batch * hkv, 1, [&](int64_t p0, int64_t p1) {
    std::vector<C> s(bq * bk), acc(bq * dv), row_m(bq), row_l(bq);
    std::vector<C> qbuf, kbuf, vbuf;
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t b = p / hkv, hk = p % hkv;
      int64_t ldk = 0, ldv = 0;
      const C* kp = head_matrix<T, C>(k, b, hk, kbuf, ldk);
      const C* vp = head_matrix<T, C>(v, b, hk, vbuf, ldv);
      for (int64_t g = 0; g < group; ++g) {
        const int64_t h = hk * group + g;
        int64_t ldq = 0;
        const C* qp = head_matrix<T, C>(q, b, h, qbuf, ldq);
        T* oh = o + (b * hq + h) * lq * dv;
        for (int64_t i0 = 0; i0 < lq; i0 += bq) {
          const int64_t nq = std::min(bq, lq - i0);
          std::fill(row_m.begin(), row_m.end(), kNegInf);
          std::fill(row_l.begin(), row_l.end(), C(0));
          std::fill(acc.begin(), acc.end(), C(0));
          // Key blocks past the last query's horizon are fully masked.
          const int64_t kend = causal ? std::clamp<int64_t>(i0 + nq + shift, 0, lk) : lk;
          for (int64_t j0 = 0; j0 < kend; j0 += bk) {
            const int64_t nk = std::min(bk, kend - j0);
            gemm_abt<C>(nq, nk, d, static_cast<C>(scale), qp + i0 * ldq, ldq,
                        kp + j0 * ldk, ldk, s.data(), nk);
            if (mask) {
              const int64_t mbase = b * ms[0] + h * ms[1] + j0 * ms[3];
              for (int64_t r = 0; r < nq; ++r) {
                C* sr = s.data() + r * nk;
                const int64_t mrow = mbase + (i0 + r) * ms[2];
                if (bool_mask) {
                  const bool* mp = static_cast<const bool*>(mask->data()) + mrow;
                  for (int64_t c = 0; c < nk; ++c) {
                    if (!mp[c * ms[3]]) sr[c] = kNegInf;
                  }
                } else {
                  const T* mp = static_cast<const T*>(mask->data()) + mrow;
                  for (int64_t c = 0; c < nk; ++c) sr[c] += convert<C>(mp[c * ms[3]]);
                }
              }
            }
            if (causal && j0 + nk - 1 > i0 + shift) {
              for (int64_t r = 0; r < nq; ++r) {
                const int64_t first_hidden =
                    std::max<int64_t>(i0 + r + shift + 1 - j0, 0);
                C* sr = s.data() + r * nk;
                for (int64_t c = first_hidden; c < nk; ++c) sr[c] = kNegInf;
              }
            }
            for (int64_t r = 0; r < nq; ++r) {
              C* sr = s.data() + r * nk;
              const C m_old = row_m[r];
              const C m_new = row_max(sr, nk, m_old);
              if (m_new == kNegInf) {  // nothing visible yet
                std::fill(sr, sr + nk, C(0));
                continue;
              }
              exp_shifted(sr, nk, m_new);
              const C alpha = std::exp(m_old - m_new);
              row_l[r] = row_l[r] * alpha + lane_sum(sr, nk);
              row_m[r] = m_new;
              if (alpha != C(1) && m_old != kNegInf) {  // acc is still 0 until then
                C* ar = acc.data() + r * dv;
                for (int64_t j = 0; j < dv; ++j) ar[j] *= alpha;
              }
            }
            gemm_ab_acc<C>(nq, dv, nk, s.data(), nk, vp + j0 * ldv, ldv, acc.data(), dv);
          }
          for (int64_t r = 0; r < nq; ++r) {
            const C inv = row_l[r] > C(0) ? C(1) / row_l[r] : C(0);
            const C* ar = acc.data() + r * dv;
            T* dst = oh + (i0 + r) * dv;
            for (int64_t j = 0; j < dv; ++j) dst[j] = convert<T>(ar[j] * inv);
          }
        }
      }
    }
  });
}

}  // namespace

void attention_products_on_blas_for_testing(bool on) {
  g_blas_forced.store(on, std::memory_order_relaxed);
}

void scaled_dot_product_attention(const Node& q, const Node& k, const Node& v,
                                  const Node* mask, float scale, bool causal, Node& out) {
  dispatch(q.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<compute_t<T>>) {
      attention<T>(q, k, v, mask, scale, causal, out);
    } else {
      throw std::logic_error("attention of a non-floating dtype");
    }
  });
}

}  // namespace rill::detail::cpu
