// The LAPACK kernels of rill::linalg (backend/cpu/linalg.h), through the
// Fortran entry points of the LAPACK that OpenBLAS ships. LAPACK wants
// column-major matrices: each matrix is copied into column-major scratch
// (which also lets the input have any strides), factorized there, and its
// results written row-major into the output.
#include "backend/cpu/linalg.h"
#include "backend/cpu/kernels.h"

#include <cblas.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/strided_walk.h"
#include "core/format.h"

// gfortran's calling convention: every argument by address, and the length of
// each character argument appended at the end.
#define RILL_LAPACK_DECLARE(T, p)                                                        \
  void p##geqrf_(const int* m, const int* n, T* a, const int* lda, T* tau, T* work,      \
                 const int* lwork, int* info);                                           \
  void p##orgqr_(const int* m, const int* n, const int* k, T* a, const int* lda,         \
                 const T* tau, T* work, const int* lwork, int* info);                    \
  void p##gesdd_(const char* jobz, const int* m, const int* n, T* a, const int* lda,     \
                 T* s, T* u, const int* ldu, T* vt, const int* ldvt, T* work,            \
                 const int* lwork, int* iwork, int* info, size_t);                       \
  void p##getrf_(const int* m, const int* n, T* a, const int* lda, int* ipiv,            \
                 int* info);                                                             \
  void p##getri_(const int* n, T* a, const int* lda, const int* ipiv, T* work,           \
                 const int* lwork, int* info);                                           \
  void p##getrs_(const char* trans, const int* n, const int* nrhs, const T* a,           \
                 const int* lda, const int* ipiv, T* b, const int* ldb, int* info,       \
                 size_t);                                                                \
  void p##trtri_(const char* uplo, const char* diag, const int* n, T* a, const int* lda, \
                 int* info, size_t, size_t);                                             \
  void p##trtrs_(const char* uplo, const char* trans, const char* diag, const int* n,    \
                 const int* nrhs, const T* a, const int* lda, T* b, const int* ldb,      \
                 int* info, size_t, size_t, size_t);                                     \
  void p##potrf_(const char* uplo, const int* n, T* a, const int* lda, int* info,        \
                 size_t);                                                                \
  void p##syevd_(const char* jobz, const char* uplo, const int* n, T* a, const int* lda, \
                 T* w, T* work, const int* lwork, int* iwork, const int* liwork,         \
                 int* info, size_t, size_t);                                               \
  void p##geev_(const char* jobvl, const char* jobvr, const int* n, T* a, const int* lda,   \
                T* wr, T* wi, T* vl, const int* ldvl, T* vr, const int* ldvr, T* work,       \
                const int* lwork, int* info, size_t, size_t);
extern "C" {
RILL_LAPACK_DECLARE(float, s)
RILL_LAPACK_DECLARE(double, d)
}
#undef RILL_LAPACK_DECLARE

namespace rill::detail::cpu {
namespace {

template <typename T>
struct Lapack;
#define RILL_LAPACK_BIND(T, p)                \
  template <>                                 \
  struct Lapack<T> {                          \
    static constexpr auto geqrf = &p##geqrf_; \
    static constexpr auto orgqr = &p##orgqr_; \
    static constexpr auto gesdd = &p##gesdd_; \
    static constexpr auto getrf = &p##getrf_; \
    static constexpr auto getri = &p##getri_; \
    static constexpr auto getrs = &p##getrs_; \
    static constexpr auto trtri = &p##trtri_; \
    static constexpr auto trtrs = &p##trtrs_; \
    static constexpr auto potrf = &p##potrf_; \
    static constexpr auto syevd = &p##syevd_; \
    static constexpr auto geev = &p##geev_;   \
  };
RILL_LAPACK_BIND(float, s)
RILL_LAPACK_BIND(double, d)
#undef RILL_LAPACK_BIND

template <typename F>
void with_float_type(Dtype t, F&& f) {
  if (t == float32) {
    f(float{});
  } else if (t == float64) {
    f(double{});
  } else {
    throw std::logic_error(cat("LAPACK kernels take float32 or float64, got ", t, "."));
  }
}

// A workspace size from a query's answer (a float, which may round down).
template <typename T>
int work_size(T answer) {
  double w = std::ceil(static_cast<double>(answer) * (1 + 1e-6));
  return static_cast<int>(std::clamp(w, 1.0, static_cast<double>(INT_MAX)));
}

// An argument LAPACK refused is a bug here, not bad input (the front ends
// checked it).
void check_arguments(int info, const char* routine) {
  if (info < 0) {
    throw std::logic_error(
        cat("LAPACK's ", routine, " refused its argument ", -info, "."));
  }
}

// The last two dims of x: an m x n matrix with row and column strides.
struct Matrix {
  int m, n;
  int64_t rs, cs;
};
Matrix matrix_of(const Node& x) {
  const size_t nd = x.shape.size();
  return {x.shape[nd - 2], x.shape[nd - 1], x.strides[nd - 2], x.strides[nd - 1]};
}

int64_t batch_count(const Node& x) {
  int64_t count = 1;
  for (size_t d = 0; d + 2 < x.shape.size(); ++d) count *= x.shape[d];
  return count;
}

// Calls f(offsets, index) for each matrix of the batch: offsets[k] is where
// the matrix starts in input k, whose batch dims are `batch` with the
// strides of `inputs[k]`.
template <size_t N, typename F>
void for_each_matrix(const Shape& batch, const std::array<const Node*, N>& inputs,
                     F&& f) {
  std::array<Strides, N> strides;
  for (size_t k = 0; k < N; ++k) {
    strides[k].assign(inputs[k]->strides.begin(), inputs[k]->strides.end() - 2);
  }
  int64_t index = 0;
  for_each_row<N>(batch, strides,
                  [&](const std::array<int64_t, N>& off, int64_t n,
                      const std::array<int64_t, N>& step) {
                    for (int64_t j = 0; j < n; ++j) {
                      std::array<int64_t, N> at;
                      for (size_t k = 0; k < N; ++k) at[k] = off[k] + j * step[k];
                      f(at, index++);
                    }
                  });
}
template <typename F>
void for_each_matrix(const Node& x, F&& f) {
  const Shape batch(x.shape.begin(), x.shape.end() - 2);
  for_each_matrix<1>(batch, {&x},
                     [&](const std::array<int64_t, 1>& off, int64_t i) { f(off[0], i); });
}

// Copies matrix `g` at `src` into column-major `dst` (leading dimension ld).
template <typename T>
void load(const T* src, const Matrix& g, T* dst, int ld) {
  for (int j = 0; j < g.n; ++j) {
    for (int i = 0; i < g.m; ++i) dst[i + int64_t(j) * ld] = src[i * g.rs + j * g.cs];
  }
}

// Writes column-major m x n `src` row-major into `dst`; with `keep`, elements
// (i, j) it refuses become zeros.
template <typename T, typename Keep>
void store(const T* src, int ld, int m, int n, T* dst, Keep&& keep) {
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      dst[int64_t(i) * n + j] = keep(i, j) ? src[i + int64_t(j) * ld] : T(0);
    }
  }
}
template <typename T>
void store(const T* src, int ld, int m, int n, T* dst) {
  store(src, ld, m, n, dst, [](int, int) { return true; });
}

template <typename T>
void identity(int n, T* dst) {
  std::fill(dst, dst + int64_t(n) * n, T(0));
  for (int i = 0; i < n; ++i) dst[int64_t(i) * n + i] = T(1);
}

// A failure of matrix `index` of `count`, for the op's error.
[[noreturn]] void fail_matrix(const std::string& what, int64_t index, int64_t count) {
  throw std::runtime_error(count > 1 ? cat(what, " (matrix ", index, " of the batch).")
                                     : what + ".");
}

template <typename T>
void qr_impl(const Node& an, Node& out) {
  const Matrix g = matrix_of(an);
  const int m = g.m, n = g.n, k = std::min(m, n), lda = std::max(1, m);
  if (k == 0) return;  // Q and R are empty
  const int64_t per = int64_t(m) * k + int64_t(k) * n;
  const T* a = static_cast<const T*>(an.data());
  T* o = static_cast<T*>(out.mutable_data());
  std::vector<T> w(size_t(lda) * n), tau(k);
  int info = 0, query = -1;
  T q1{}, q2{};
  Lapack<T>::geqrf(&m, &n, w.data(), &lda, tau.data(), &q1, &query, &info);
  Lapack<T>::orgqr(&m, &k, &k, w.data(), &lda, tau.data(), &q2, &query, &info);
  const int lwork = std::max(work_size(q1), work_size(q2));
  std::vector<T> work(lwork);
  for_each_matrix(an, [&](int64_t off, int64_t index) {
    T* q = o + index * per;
    T* r = q + int64_t(m) * k;
    load(a + off, g, w.data(), lda);
    Lapack<T>::geqrf(&m, &n, w.data(), &lda, tau.data(), work.data(), &lwork, &info);
    check_arguments(info, "geqrf");
    store(w.data(), lda, k, n, r, [](int i, int j) { return j >= i; });
    Lapack<T>::orgqr(&m, &k, &k, w.data(), &lda, tau.data(), work.data(), &lwork, &info);
    check_arguments(info, "orgqr");
    store(w.data(), lda, m, k, q);
  });
}

template <typename T>
void svd_impl(const Node& an, bool uv, Node& out) {
  const Matrix g = matrix_of(an);
  const int m = g.m, n = g.n, k = std::min(m, n), lda = std::max(1, m);
  const int ldu = uv ? std::max(1, m) : 1, ldvt = uv ? std::max(1, n) : 1;
  const int64_t per = uv ? int64_t(m) * m + k + int64_t(n) * n : k;
  const char jobz = uv ? 'A' : 'N';
  const T* a = static_cast<const T*>(an.data());
  T* o = static_cast<T*>(out.mutable_data());
  std::vector<T> w(size_t(lda) * n), u(uv ? size_t(ldu) * m : 1),
      vt(uv ? size_t(ldvt) * n : 1);
  std::vector<int> iwork(8 * size_t(k));
  int info = 0, lwork = 1;
  if (k > 0) {
    int query = -1;
    T size{};
    Lapack<T>::gesdd(&jobz, &m, &n, w.data(), &lda, o, u.data(), &ldu, vt.data(), &ldvt,
                     &size, &query, iwork.data(), &info, 1);
    check_arguments(info, "gesdd");
    lwork = work_size(size);
  }
  std::vector<T> work(lwork);
  const int64_t count = batch_count(an);
  for_each_matrix(an, [&](int64_t off, int64_t index) {
    T* pu = o + index * per;
    T* ps = uv ? pu + int64_t(m) * m : pu;
    T* pvt = ps + k;
    if (k == 0) {  // no singular values; U and Vt are identities, as in NumPy
      if (uv) {
        identity(m, pu);
        identity(n, pvt);
      }
      return;
    }
    load(a + off, g, w.data(), lda);
    Lapack<T>::gesdd(&jobz, &m, &n, w.data(), &lda, ps, u.data(), &ldu, vt.data(), &ldvt,
                     work.data(), &lwork, iwork.data(), &info, 1);
    check_arguments(info, "gesdd");
    if (info > 0) fail_matrix("the SVD did not converge", index, count);
    if (uv) {
      store(u.data(), ldu, m, m, pu);
      store(vt.data(), ldvt, n, n, pvt);
    }
  });
}

template <typename T>
void inverse_impl(const Node& an, bool tri, bool upper, Node& out) {
  const Matrix g = matrix_of(an);
  const int n = g.n, lda = std::max(1, n);
  if (n == 0) return;
  const T* a = static_cast<const T*>(an.data());
  T* o = static_cast<T*>(out.mutable_data());
  std::vector<T> w(size_t(lda) * n);
  std::vector<int> ipiv(n);
  int info = 0, lwork = 1;
  if (!tri) {
    int query = -1;
    T size{};
    Lapack<T>::getri(&n, w.data(), &lda, ipiv.data(), &size, &query, &info);
    lwork = work_size(size);
  }
  std::vector<T> work(lwork);
  const char uplo = upper ? 'U' : 'L', diag = 'N';
  const int64_t count = batch_count(an);
  for_each_matrix(an, [&](int64_t off, int64_t index) {
    load(a + off, g, w.data(), lda);
    if (tri) {
      Lapack<T>::trtri(&uplo, &diag, &n, w.data(), &lda, &info, 1, 1);
      check_arguments(info, "trtri");
      if (info > 0) {
        fail_matrix(
            cat("the matrix is singular: its diagonal element ", info - 1, " is zero"),
            index, count);
      }
    } else {
      Lapack<T>::getrf(&n, &n, w.data(), &lda, ipiv.data(), &info);
      check_arguments(info, "getrf");
      if (info > 0) {
        fail_matrix(cat("the matrix is singular: U[", info - 1, ", ", info - 1,
                        "] of its LU factorization is zero"),
                    index, count);
      }
      Lapack<T>::getri(&n, w.data(), &lda, ipiv.data(), work.data(), &lwork, &info);
      check_arguments(info, "getri");
    }
    T* dst = o + index * int64_t(n) * n;
    if (!tri) {
      store(w.data(), lda, n, n, dst);
    } else if (upper) {
      store(w.data(), lda, n, n, dst, [](int i, int j) { return j >= i; });
    } else {
      store(w.data(), lda, n, n, dst, [](int i, int j) { return j <= i; });
    }
  });
}

template <typename T>
void cholesky_impl(const Node& an, bool upper, Node& out) {
  const Matrix g = matrix_of(an);
  const int n = g.n, lda = std::max(1, n);
  if (n == 0) return;
  const T* a = static_cast<const T*>(an.data());
  T* o = static_cast<T*>(out.mutable_data());
  std::vector<T> w(size_t(lda) * n);
  const char uplo = upper ? 'U' : 'L';
  const int64_t count = batch_count(an);
  for_each_matrix(an, [&](int64_t off, int64_t index) {
    load(a + off, g, w.data(), lda);
    int info = 0;
    Lapack<T>::potrf(&uplo, &n, w.data(), &lda, &info, 1);
    check_arguments(info, "potrf");
    if (info > 0) {
      fail_matrix(cat("the matrix is not positive definite: its leading minor of order ",
                      info, " is not"),
                  index, count);
    }
    T* dst = o + index * int64_t(n) * n;
    if (upper) {
      store(w.data(), lda, n, n, dst, [](int i, int j) { return j >= i; });
    } else {
      store(w.data(), lda, n, n, dst, [](int i, int j) { return j <= i; });
    }
  });
}

template <typename T>
void eigh_impl(const Node& an, bool upper, bool vectors, Node& out) {
  const Matrix g = matrix_of(an);
  const int n = g.n, lda = std::max(1, n);
  if (n == 0) return;
  const int64_t per = n + (vectors ? int64_t(n) * n : 0);
  const T* a = static_cast<const T*>(an.data());
  T* o = static_cast<T*>(out.mutable_data());
  std::vector<T> w(size_t(lda) * n);
  const char jobz = vectors ? 'V' : 'N', uplo = upper ? 'U' : 'L';
  int info = 0, query = -1, iquery = 0;
  T size{};
  Lapack<T>::syevd(&jobz, &uplo, &n, w.data(), &lda, o, &size, &query, &iquery, &query,
                   &info, 1, 1);
  check_arguments(info, "syevd");
  const int lwork = work_size(size), liwork = std::max(1, iquery);
  std::vector<T> work(lwork);
  std::vector<int> iwork(liwork);
  const int64_t count = batch_count(an);
  for_each_matrix(an, [&](int64_t off, int64_t index) {
    T* values = o + index * per;
    load(a + off, g, w.data(), lda);
    Lapack<T>::syevd(&jobz, &uplo, &n, w.data(), &lda, values, work.data(), &lwork,
                     iwork.data(), &liwork, &info, 1, 1);
    check_arguments(info, "syevd");
    if (info > 0) fail_matrix("the eigensolver did not converge", index, count);
    if (vectors) store(w.data(), lda, n, n, values + n);
  });
}

template <typename T>
void eig_impl(const Node& an, bool vectors, Node& out) {
  const Matrix g = matrix_of(an);
  const int n = g.n, lda = std::max(1, n);
  if (n == 0) return;
  const int64_t per = n + (vectors ? int64_t(n) * n : 0);
  const T* a = static_cast<const T*>(an.data());
  complex64_t* o = static_cast<complex64_t*>(out.mutable_data());
  std::vector<T> w(size_t(lda) * n), wr(n), wi(n), vr(vectors ? size_t(lda) * n : 1);
  const char no = 'N', jobvr = vectors ? 'V' : 'N';
  const int one = 1, ldvr = vectors ? lda : 1;
  int info = 0, query = -1;
  T size{};
  Lapack<T>::geev(&no, &jobvr, &n, w.data(), &lda, wr.data(), wi.data(), nullptr, &one,
                  vr.data(), &ldvr, &size, &query, &info, 1, 1);
  check_arguments(info, "geev");
  const int lwork = work_size(size);
  std::vector<T> work(lwork);
  const int64_t count = batch_count(an);
  for_each_matrix(an, [&](int64_t off, int64_t index) {
    complex64_t* values = o + index * per;
    load(a + off, g, w.data(), lda);
    Lapack<T>::geev(&no, &jobvr, &n, w.data(), &lda, wr.data(), wi.data(), nullptr, &one,
                    vr.data(), &ldvr, work.data(), &lwork, &info, 1, 1);
    check_arguments(info, "geev");
    if (info > 0) fail_matrix("the eigensolver did not converge", index, count);
    for (int j = 0; j < n; ++j) {
      values[j] = complex64_t(static_cast<float>(wr[j]), static_cast<float>(wi[j]));
    }
    if (!vectors) return;
    // Column j of vr is a real eigenvector; a conjugate pair (wi[j] > 0) has
    // its real part in column j and its imaginary part in column j + 1.
    complex64_t* v = values + n;
    for (int j = 0; j < n; ++j) {
      const bool pair = wi[j] != T(0) && j + 1 < n;
      for (int i = 0; i < n; ++i) {
        const T re = vr[size_t(j) * ldvr + i];
        const T im = pair ? vr[size_t(j + 1) * ldvr + i] : T(0);
        v[int64_t(i) * n + j] = complex64_t(static_cast<float>(re), static_cast<float>(im));
        if (pair) {
          v[int64_t(i) * n + j + 1] = complex64_t(static_cast<float>(re), static_cast<float>(-im));
        }
      }
      if (pair) ++j;
    }
  });
}

template <typename T>
void lu_factor_impl(const Node& an, Node& out) {
  const Matrix g = matrix_of(an);
  const int m = g.m, n = g.n, k = std::min(m, n), lda = std::max(1, m);
  const int64_t per = lu_factor_size(m, n, sizeof(T));
  const T* a = static_cast<const T*>(an.data());
  T* o = static_cast<T*>(out.mutable_data());
  std::vector<T> w(size_t(lda) * n);
  std::vector<int> ipiv(std::max(1, k));
  std::vector<uint32_t> idx(size_t(k) + m);
  for_each_matrix(an, [&](int64_t off, int64_t index) {
    T* lu = o + index * per;
    if (k > 0) {
      load(a + off, g, w.data(), lda);
      int info = 0;
      Lapack<T>::getrf(&m, &n, w.data(), &lda, ipiv.data(), &info);
      check_arguments(info, "getrf");  // info > 0: U is singular, still a factorization
      store(w.data(), lda, m, n, lu);
    }
    uint32_t* pivots = idx.data();
    uint32_t* rows = pivots + k;
    for (int j = 0; j < k; ++j) pivots[j] = static_cast<uint32_t>(ipiv[j] - 1);
    // Row i of a is row rows[i] of L U: the swaps undone, last first.
    std::iota(rows, rows + m, 0u);
    for (int j = k - 1; j >= 0; --j) std::swap(rows[j], rows[pivots[j]]);
    std::memcpy(lu + int64_t(m) * n, idx.data(), idx.size() * sizeof(uint32_t));
  });
}

template <typename T>
void solve_impl(const Node& an, const Node& bn, SolveKind kind, Node& out) {
  const Matrix ga = matrix_of(an), gb = matrix_of(bn);
  const int n = ga.n, r = gb.n, lda = std::max(1, n);
  if (n == 0 || r == 0) return;
  const T* a = static_cast<const T*>(an.data());
  const T* b = static_cast<const T*>(bn.data());
  T* o = static_cast<T*>(out.mutable_data());
  std::vector<T> wa(size_t(lda) * n), wb(size_t(lda) * r);
  std::vector<int> ipiv(n);
  const char no = 'N', uplo = kind == SolveKind::upper ? 'U' : 'L';
  const int64_t count = batch_count(out);
  const Shape batch(out.shape.begin(), out.shape.end() - 2);
  for_each_matrix<2>(
      batch, {&an, &bn}, [&](const std::array<int64_t, 2>& off, int64_t index) {
        load(a + off[0], ga, wa.data(), lda);
        load(b + off[1], gb, wb.data(), lda);
        int info = 0;
        if (kind == SolveKind::general) {
          Lapack<T>::getrf(&n, &n, wa.data(), &lda, ipiv.data(), &info);
          check_arguments(info, "getrf");
          if (info > 0) {
            fail_matrix(cat("the matrix is singular: U[", info - 1, ", ", info - 1,
                            "] of its LU factorization is zero"),
                        index, count);
          }
          Lapack<T>::getrs(&no, &n, &r, wa.data(), &lda, ipiv.data(), wb.data(), &lda,
                           &info, 1);
          check_arguments(info, "getrs");
        } else {
          Lapack<T>::trtrs(&uplo, &no, &no, &n, &r, wa.data(), &lda, wb.data(), &lda,
                           &info, 1, 1, 1);
          check_arguments(info, "trtrs");
          if (info > 0) {
            fail_matrix(cat("the matrix is singular: its diagonal element ", info - 1,
                            " is zero"),
                        index, count);
          }
        }
        store(wb.data(), lda, n, r, o + index * int64_t(n) * r);
      });
}

}  // namespace

int64_t lu_factor_size(int64_t m, int64_t n, int elem_size) {
  const int64_t index_bytes = (std::min(m, n) + m) * int64_t(sizeof(uint32_t));
  return m * n + (index_bytes + elem_size - 1) / elem_size;
}

void qr(const Node& a, Node& out) {
  single_threaded_blas();
  allocate(out);
  if (out.size == 0) return;
  with_float_type(a.dtype, [&](auto t) { qr_impl<decltype(t)>(a, out); });
}

void svd(const Node& a, bool compute_uv, Node& out) {
  single_threaded_blas();
  allocate(out);
  if (out.size == 0) return;
  with_float_type(a.dtype, [&](auto t) { svd_impl<decltype(t)>(a, compute_uv, out); });
}

void inverse(const Node& a, bool triangular, bool upper, Node& out) {
  single_threaded_blas();
  allocate(out);
  if (out.size == 0) return;
  with_float_type(a.dtype,
                  [&](auto t) { inverse_impl<decltype(t)>(a, triangular, upper, out); });
}

void cholesky(const Node& a, bool upper, Node& out) {
  single_threaded_blas();
  allocate(out);
  if (out.size == 0) return;
  with_float_type(a.dtype, [&](auto t) { cholesky_impl<decltype(t)>(a, upper, out); });
}

void eigh(const Node& a, bool upper, bool vectors, Node& out) {
  single_threaded_blas();
  allocate(out);
  if (out.size == 0) return;
  with_float_type(a.dtype,
                  [&](auto t) { eigh_impl<decltype(t)>(a, upper, vectors, out); });
}

void eig(const Node& a, bool vectors, Node& out) {
  single_threaded_blas();
  allocate(out);
  if (out.size == 0) return;
  with_float_type(a.dtype, [&](auto t) { eig_impl<decltype(t)>(a, vectors, out); });
}

void lu_factor(const Node& a, Node& out) {
  single_threaded_blas();
  allocate(out);
  if (out.size == 0) return;
  with_float_type(a.dtype, [&](auto t) { lu_factor_impl<decltype(t)>(a, out); });
}

void solve(const Node& a, const Node& b, SolveKind kind, Node& out) {
  single_threaded_blas();
  allocate(out);
  if (out.size == 0) return;
  with_float_type(a.dtype, [&](auto t) { solve_impl<decltype(t)>(a, b, kind, out); });
}

}  // namespace rill::detail::cpu
