// Matrix products through OpenBLAS. Operands whose matrices are row- or
// column-major (any leading dimension) go to BLAS as they are; others, and
// the half types, are copied into float scratch first.
#include <cblas.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <mutex>
#include <type_traits>

#include "backend/cpu/kernels.h"
#include "backend/cpu/packed_gemm.h"
#include "runtime/cpu_executor.h"
#include "common/strided_walk.h"
#include "core/dispatch.h"

namespace rill::detail::cpu {

void single_threaded_blas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

namespace {

constexpr int64_t kMaxBlasInt = std::numeric_limits<int>::max();

// How BLAS can read a rows x cols matrix with these strides, if it can.
struct Layout {
  CBLAS_TRANSPOSE trans = CblasNoTrans;
  int ld = 0;
};
bool blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, Layout& l) {
  // A dimension of size 1 has no stride to respect.
  if ((cs == 1 || cols == 1) && (rows == 1 || rs >= std::max<int64_t>(1, cols))) {
    int64_t ld = rows == 1 ? std::max<int64_t>(1, cols) : rs;
    if (ld > kMaxBlasInt) return false;
    l = {CblasNoTrans, static_cast<int>(ld)};
    return true;
  }
  if ((rs == 1 || rows == 1) && (cols == 1 || cs >= std::max<int64_t>(1, rows))) {
    int64_t ld = cols == 1 ? std::max<int64_t>(1, rows) : cs;
    if (ld > kMaxBlasInt) return false;
    l = {CblasTrans, static_cast<int>(ld)};
    return true;
  }
  return false;
}

// Copies a strided rows x cols matrix into row-major `dst` as S.
template <typename S, typename T>
void pack(const T* src, int64_t rows, int64_t cols, int64_t rs, int64_t cs, S* dst) {
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j)
      dst[i * cols + j] = convert<S>(src[i * rs + j * cs]);
  }
}

// Copies a strided rows x cols matrix as float32 in the order its memory
// runs: row-major, or column-major for a transposed view (a linear layer's
// W^T), read contiguously either way; returns how BLAS reads the copy.
template <typename T>
Layout pack_in_order(const T* src, int64_t rows, int64_t cols, int64_t rs, int64_t cs,
                     float* dst) {
  if (rs == 1 && cs != 1 && cols > 1) {
    for (int64_t j = 0; j < cols; ++j) {
      const T* col = src + j * cs;
      float* d = dst + j * rows;
      for (int64_t i = 0; i < rows; ++i) d[i] = convert<float>(col[i]);
    }
    return {CblasTrans, static_cast<int>(std::max<int64_t>(1, rows))};
  }
  pack(src, rows, cols, rs, cs, dst);
  return {CblasNoTrans, static_cast<int>(std::max<int64_t>(1, cols))};
}

// c = alpha * a b + beta * c (c row-major, m x n; with beta 0 c is only written).
template <typename S>
void gemm(Layout la, Layout lb, int m, int n, int k, S alpha, const S* a, const S* b,
          S beta, S* c) {
  if constexpr (std::is_same_v<S, float>) {
    cblas_sgemm(CblasRowMajor, la.trans, lb.trans, m, n, k, alpha, a, la.ld, b, lb.ld,
                beta, c, n);
  } else {
    cblas_dgemm(CblasRowMajor, la.trans, lb.trans, m, n, k, alpha, a, la.ld, b, lb.ld,
                beta, c, n);
  }
}

// One operand's matrix geometry (the last two dims) and batch strides.
struct Operand {
  int64_t rows, cols, rs, cs;
  Strides batch;
};
Operand operand(const Node& x) {
  size_t nd = x.shape.size();
  return {x.shape[nd - 2], x.shape[nd - 1], x.strides[nd - 2], x.strides[nd - 1],
          Strides(x.strides.begin(), x.strides.end() - 2)};
}

// Calls f(a_offset, b_offset, batch_index) for each matrix of the batch.
template <typename F>
void for_each_batch(const Shape& batch, const Operand& a, const Operand& b, F&& f) {
  int64_t i = 0;
  for_each_row<2>(
      batch, {a.batch, b.batch},
      [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& s) {
        for (int64_t j = 0; j < n; ++j) f(off[0] + j * s[0], off[1] + j * s[1], i++);
      });
}

// If every matrix of b is the same one and a's batch dims stack its rows
// evenly (a [B, M, K] row-major-like, b broadcast), the batch is one product of
// (B * M) x K by K x N. Returns B * M and the row stride, or 0.
int64_t stacked_rows(const Shape& batch, const Operand& a, const Operand& b,
                     int64_t& row_stride) {
  if (batch.empty()) return 0;
  for (int64_t s : b.batch) {
    if (s != 0) return 0;
  }
  // With one row per matrix, the rows are spaced by the innermost real batch dim.
  row_stride = a.rs;
  if (a.rows == 1) {
    for (int d = static_cast<int>(batch.size()) - 1; d >= 0; --d) {
      if (batch[d] != 1) {
        row_stride = a.batch[d];
        break;
      }
    }
  }
  int64_t rows = a.rows, expect = row_stride * a.rows;
  for (int d = static_cast<int>(batch.size()) - 1; d >= 0; --d) {
    if (batch[d] != 1 && a.batch[d] != expect) return 0;
    expect *= batch[d];
    rows *= batch[d];
  }
  return rows <= kMaxBlasInt ? rows : 0;
}

// float32 products whose right-hand side is one matrix (no batch, or
// broadcast over it) and whose left rows have unit column stride go to the
// packed kernel: B is packed once per node and kept from its second use on
// (first uses pack into a temporary, so results never depend on caching).
// Returns false where the kernel does not apply. `addend`: see packed_gemm.
bool packed_product(const Node& an, const Node& bn, Node& out, const Shape& batch,
                    float alpha, float beta, const float* addend = nullptr) {
  const Operand a = operand(an), b = operand(bn);
  const int64_t k = a.cols, n = b.cols;
  if (!packed_gemm_supported() || k < 16 || n < 16) return false;
  for (int64_t s : b.batch) {
    if (s != 0) return false;
  }
  int64_t rows = a.rows, lda = a.rs;
  if (!batch.empty()) {
    rows = stacked_rows(batch, a, b, lda);
    if (rows == 0) return false;
  }
  if (a.cs != 1 && k > 1) return false;
  const float* pa = static_cast<const float*>(an.data());
  const float* pb = static_cast<const float*>(bn.data());
  float* po = static_cast<float*>(out.mutable_data());
  // The kept copy is the buffer's: views of the same matrix (a weight
  // broadcast over the batch, made afresh by every call) find it.
  const Buffer& buf = *bn.buffer;
  auto same = [&](const PackedB* p) {
    return p && p->offset == bn.offset && p->k == k && p->n == n && p->rs == b.rs &&
           p->cs == b.cs;
  };
  PackedB* packed = dynamic_cast<PackedB*>(buf.cache.load(std::memory_order_acquire));
  std::unique_ptr<PackedB> temp;
  if (!same(packed)) {
    temp = pack_rhs(pb, k, n, b.rs, b.cs);
    temp->offset = bn.offset;
    packed = temp.get();
    BufferCache* expected = nullptr;
    if (buf.cache_uses.fetch_add(1, std::memory_order_relaxed) >= 1 &&
        buf.cache.compare_exchange_strong(expected, packed, std::memory_order_acq_rel)) {
      temp.release();  // the buffer owns it now
    }
  }
  // Rows split among idle workers (each row's sums are the same whoever
  // computes it), in blocks of 16 rows and at least ~2 MFLOP each.
  const int64_t min_rows = ((int64_t{1} << 20) / std::max<int64_t>(1, k * n) + 16) / 16 * 16;
  const int64_t grain = std::max<int64_t>(16, min_rows);
  cpu_parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    packed_gemm(r1 - r0, pa + r0 * lda, lda, *packed, alpha, beta, po + r0 * n, n, addend);
  });
  return true;
}

// out = alpha * a b + beta * out (out already holds the addend when beta != 0).
template <typename T>
void matmul_blas(const Node& an, const Node& bn, Node& out, const Shape& batch, T alpha,
                 T beta) {
  const Operand a = operand(an), b = operand(bn);
  const int64_t m = a.rows, k = a.cols, n = b.cols;
  const T* pa = static_cast<const T*>(an.data());
  const T* pb = static_cast<const T*>(bn.data());
  T* po = static_cast<T*>(out.mutable_data());
  Layout la, lb;
  int64_t row_stride = 0;
  if (int64_t rows = stacked_rows(batch, a, b, row_stride);
      rows > 0 && blas_layout(rows, k, row_stride, a.cs, la) &&
      la.trans == CblasNoTrans && blas_layout(k, n, b.rs, b.cs, lb)) {
    gemm<T>(la, lb, static_cast<int>(rows), static_cast<int>(n), static_cast<int>(k),
            alpha, pa, pb, beta, po);
    return;
  }
  const bool direct_a = blas_layout(m, k, a.rs, a.cs, la);
  const bool direct_b = blas_layout(k, n, b.rs, b.cs, lb);
  std::vector<T> scratch_a(direct_a ? 0 : m * k), scratch_b(direct_b ? 0 : k * n);
  if (!direct_a) la = {CblasNoTrans, static_cast<int>(std::max<int64_t>(1, k))};
  if (!direct_b) lb = {CblasNoTrans, static_cast<int>(std::max<int64_t>(1, n))};
  for_each_batch(batch, a, b, [&](int64_t oa, int64_t ob, int64_t i) {
    const T* x = pa + oa;
    const T* y = pb + ob;
    if (!direct_a) {
      pack(x, m, k, a.rs, a.cs, scratch_a.data());
      x = scratch_a.data();
    }
    if (!direct_b) {
      pack(y, k, n, b.rs, b.cs, scratch_b.data());
      y = scratch_b.data();
    }
    gemm<T>(la, lb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha,
            x, y, beta, po + i * m * n);
  });
}

// float16 / bfloat16: float32 products of float32 copies (of the addend too).
template <typename T>
void matmul_half(const Node& an, const Node& bn, Node& out, const Shape& batch,
                 float alpha, float beta) {
  const Operand a = operand(an), b = operand(bn);
  const int64_t m = a.rows, k = a.cols, n = b.cols;
  const T* pa = static_cast<const T*>(an.data());
  const T* pb = static_cast<const T*>(bn.data());
  T* po = static_cast<T*>(out.mutable_data());
  if (m <= 16 && b.rs == 1 && b.cs >= k && n > 1) {
    // Few rows against a transposed view (x W^T, W [n, k] row-major: a
    // linear layer in decoding): dot products over W's rows, each converted
    // into a small buffer, rather than a float32 copy of all of W per call.
    std::vector<float> fa(m * k), row(k);
    for_each_batch(batch, a, b, [&](int64_t oa, int64_t ob, int64_t i) {
      pack(pa + oa, m, k, a.rs, a.cs, fa.data());
      T* c = po + i * m * n;
      for (int64_t j = 0; j < n; ++j) {
        const T* w = pb + ob + j * b.cs;
        for (int64_t t = 0; t < k; ++t) row[t] = static_cast<float>(w[t]);
        for (int64_t r = 0; r < m; ++r) {
          const float* x = fa.data() + r * k;
          float part[8] = {};
          int64_t t = 0;
          for (; t + 8 <= k; t += 8) {
            for (int u = 0; u < 8; ++u) part[u] += x[t + u] * row[t + u];
          }
          float sum = ((part[0] + part[1]) + (part[2] + part[3])) +
                      ((part[4] + part[5]) + (part[6] + part[7]));
          for (; t < k; ++t) sum += x[t] * row[t];
          float v = alpha * sum;
          if (beta != 0.0f) v += beta * static_cast<float>(c[r * n + j]);
          c[r * n + j] = T(v);
        }
      }
    });
    return;
  }
  std::vector<float> fa(m * k), fb(k * n), fc(m * n);
  Layout la, lb;
  for_each_batch(batch, a, b, [&](int64_t oa, int64_t ob, int64_t i) {
    la = pack_in_order(pa + oa, m, k, a.rs, a.cs, fa.data());
    lb = pack_in_order(pb + ob, k, n, b.rs, b.cs, fb.data());
    T* c = po + i * m * n;
    if (beta != 0.0f) {
      for (int64_t j = 0; j < m * n; ++j) fc[j] = static_cast<float>(c[j]);
    }
    gemm<float>(la, lb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
                alpha, fa.data(), fb.data(), beta, fc.data());
    for (int64_t j = 0; j < m * n; ++j) c[j] = T(fc[j]);
  });
}

// The row a float32 addend c (already broadcast to out's shape) repeats over
// every other dim, as a linear layer's bias does; null if it is not one.
const float* addend_row(const Node& c, const Node& out) {
  if (c.dtype != float32 || out.dtype != float32 || c.shape != out.shape) return nullptr;
  const size_t nd = c.shape.size();
  bool row = c.strides[nd - 1] == 1 || c.shape[nd - 1] == 1;
  for (size_t d = 0; d + 1 < nd; ++d) row = row && (c.strides[d] == 0 || c.shape[d] == 1);
  return row ? static_cast<const float*>(c.data()) : nullptr;
}

// out = alpha * a b + beta * c, where out is allocated; without c (or with beta
// 0), out = alpha * a b.
void product(const Node& a, const Node& b, Node& out, float alpha, float beta,
             const Node* c = nullptr) {
  if (out.size == 0) return;
  size_t nd = out.shape.size();
  const int64_t m = out.shape[nd - 2], n = out.shape[nd - 1], k = a.shape[nd - 1];
  if (m > kMaxBlasInt || n > kMaxBlasInt || k > kMaxBlasInt) {
    throw std::invalid_argument("matrix dimensions exceed the BLAS integer range");
  }
  Shape batch(out.shape.begin(), out.shape.end() - 2);
  if (beta == 0.0f) c = nullptr;
  // A row addend goes into the packed kernel's epilogue as it writes each
  // block, instead of a copy of it per row that the kernel then reads back.
  if (c && k > 0) {
    if (const float* row = addend_row(*c, out)) {
      if (packed_product(a, b, out, batch, alpha, beta, row)) return;
    }
  }
  // Every other path reads the addend from out.
  if (c) copy_into(*c, out);
  dispatch(out.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      T* po = static_cast<T*>(out.mutable_data());
      if (k == 0) {  // no products: beta * out
        for (size_t j = 0; j < out.size; ++j) {
          po[j] = beta == 0.0f ? T(0) : T(beta) * po[j];
        }
        return;
      }
      if constexpr (std::is_same_v<T, float>) {
        if (packed_product(a, b, out, batch, alpha, beta)) return;
      }
      single_threaded_blas();
      matmul_blas<T>(a, b, out, batch, T(alpha), T(beta));
    } else if constexpr (is_half_v<T>) {
      T* po = static_cast<T*>(out.mutable_data());
      if (k == 0) {
        for (size_t j = 0; j < out.size; ++j) {
          po[j] = beta == 0.0f ? T(0.0f) : T(beta * static_cast<float>(po[j]));
        }
        return;
      }
      single_threaded_blas();
      matmul_half<T>(a, b, out, batch, alpha, beta);
    } else {
      throw std::invalid_argument("only floating point types are supported");
    }
  });
}

}  // namespace

void matmul(const Node& a, const Node& b, Node& out) {
  allocate(out);
  product(a, b, out, 1.0f, 0.0f);
}

void addmm(const Node& c, const Node& a, const Node& b, float alpha, float beta,
           Node& out) {
  allocate(out);
  product(a, b, out, alpha, beta, &c);
}

}  // namespace rill::detail::cpu
