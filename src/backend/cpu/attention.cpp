// Fused attention: for each head, blocks of queries against blocks of keys with
// an online softmax (running row max and sum, rescaling the accumulator), so
// scratch is one block of scores and one block of outputs whatever the
// sequence lengths. Block products go to BLAS; heads whose layout BLAS cannot
// read (or of half types) are converted once per head, which is linear in the
// sequence length.
#include <cblas.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "backend/cpu/fast_kernels.h"
#include "backend/cpu/vmath.h"
#include "backend/cpu/strided.h"
#include "core/dispatch.h"

namespace rill::detail::cpu {
namespace {

// W1's sequences (128) fit one block each way: one pass, two products.
constexpr int64_t kBlockQ = 128;
constexpr int64_t kBlockK = 128;

// rill's workers already run one task per core; BLAS threads on top of them
// would oversubscribe the machine (SPEC X1).
void single_threaded_blas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// c = alpha * a * b^T (a: m x k, b: n x k, row-major).
template <typename C>
void gemm_abt(int64_t m, int64_t n, int64_t k, C alpha, const C* a, int64_t lda,
              const C* b, int64_t ldb, C* c, int64_t ldc) {
  if (k == 0) {
    std::fill(c, c + m * ldc, C(0));
    return;
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
  std::vector<C> s(bq * bk), acc(bq * dv), row_m(bq), row_l(bq);
  std::vector<C> qbuf, kbuf, vbuf;
  T* o = static_cast<T*>(out.mutable_data());

  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t hk = 0; hk < hkv; ++hk) {
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
  }
}

}  // namespace

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
