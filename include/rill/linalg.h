// Linear algebra (MLX's linalg namespace). The factorizations, inverses and
// solvers run through LAPACK on the CPU only: called with a GPU stream or
// device (or with the GPU as the default device and none given) they throw
// std::invalid_argument. They take float32 and float64 matrices in the last
// two axes, batched over the leading ones. norm and cross are built from
// elementwise ops and reductions and run on any device.
//
// A failure found while computing (a singular matrix, a matrix that is not
// positive definite, no convergence) fails the result when it is evaluated.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rill/array.h"
#include "rill/stream.h"

namespace rill::linalg {

// Vector and matrix norms. With neither ord nor axis: the 2-norm of the
// flattened array. With ord and no axis: a must be 1-D (vector norm) or 2-D
// (matrix norm). With axis: one axis is a vector norm, two a matrix norm.
// Vector ords: any p (0 counts non-zeros, +-inf are max / min of |a|).
// Matrix ords: 1, -1, inf, -inf, 2, -2 (singular values: CPU only), "fro"
// (or "f") and "nuc" (CPU only). Integer inputs give float32.
array norm(const array& a, const double ord,
           const std::optional<std::vector<int>>& axis = std::nullopt,
           bool keepdims = false, StreamOrDevice s = {});
inline array norm(const array& a, const double ord, int axis, bool keepdims = false,
                  StreamOrDevice s = {}) {
  return norm(a, ord, std::vector<int>{axis}, keepdims, s);
}
array norm(const array& a, const std::string& ord,
           const std::optional<std::vector<int>>& axis = std::nullopt,
           bool keepdims = false, StreamOrDevice s = {});
inline array norm(const array& a, const std::string& ord, int axis, bool keepdims = false,
                  StreamOrDevice s = {}) {
  return norm(a, ord, std::vector<int>{axis}, keepdims, s);
}
array norm(const array& a, const std::optional<std::vector<int>>& axis = std::nullopt,
           bool keepdims = false, StreamOrDevice s = {});
inline array norm(const array& a, int axis, bool keepdims = false,
                  StreamOrDevice s = {}) {
  return norm(a, std::vector<int>{axis}, keepdims, s);
}

// Reduced QR of a [..., M, N]: Q [..., M, K] with orthonormal columns and R
// [..., K, N] upper triangular, K = min(M, N).
std::pair<array, array> qr(const array& a, StreamOrDevice s = {});

// Full SVD of a [..., M, N]: {U [..., M, M], S [..., K], Vt [..., N, N]} with
// a = U diag(S) Vt, S descending; {S} alone without compute_uv.
std::vector<array> svd(const array& a, bool compute_uv, StreamOrDevice s /* = {} */);
inline std::vector<array> svd(const array& a, StreamOrDevice s = {}) {
  return svd(a, true, s);
}

// The inverse of square matrices; an exactly singular one fails at eval.
array inv(const array& a, StreamOrDevice s = {});
// The inverse of lower (upper) triangular matrices, reading only that triangle.
array tri_inv(const array& a, bool upper = false, StreamOrDevice s = {});

// L with a = L L^T (upper: U with a = U^T U) of symmetric positive definite
// matrices, reading only the lower (upper) triangle of a. A matrix that is not
// positive definite fails at eval.
array cholesky(const array& a, bool upper = false, StreamOrDevice s = {});

// The Moore-Penrose pseudo-inverse, through the SVD (singular values below
// 10 max(M, N) eps times the largest count as zero).
array pinv(const array& a, StreamOrDevice s = {});

// The inverse of a = L L^T (upper: U^T U) from its Cholesky factor.
array cholesky_inv(const array& L, bool upper = false, StreamOrDevice s = {});

// LU with partial pivoting of a [..., M, N]: {P, L, U} with a = L[P] U, P
// (uint32 [..., M]) the row of L U that each row of a is, L [..., M, K] unit
// lower triangular, U [..., K, N] upper triangular.
std::vector<array> lu(const array& a, StreamOrDevice s = {});
// LAPACK's compact form: {LU [..., M, N], pivots (uint32 [..., K])}: row i
// was swapped with row pivots[i], in order.
std::pair<array, array> lu_factor(const array& a, StreamOrDevice s = {});

// x with a x = b: a [..., N, N], b [..., N] or [..., N, R], batch dims
// broadcast; an exactly singular a fails at eval.
array solve(const array& a, const array& b, StreamOrDevice s = {});
// The same for lower (upper) triangular a, reading only that triangle.
array solve_triangular(const array& a, const array& b, bool upper = false,
                       StreamOrDevice s = {});

// Cross product of 3-vectors (a 2-vector counts as one with a zero third
// component) along `axis`, broadcasting.
array cross(const array& a, const array& b, int axis = -1, StreamOrDevice s = {});

// Eigenvalues (ascending) and eigenvectors (columns) of real symmetric
// matrices, reading the lower ("L") or upper ("U") triangle.
array eigvalsh(const array& a, std::string UPLO = "L", StreamOrDevice s = {});
// A general square matrix's eigenvalues (complex64, in LAPACK's order) and
// unit eigenvectors (the columns, complex64). CPU only.
array eigvals(const array& a, StreamOrDevice s = {});
std::pair<array, array> eig(const array& a, StreamOrDevice s = {});
std::pair<array, array> eigh(const array& a, std::string UPLO = "L",
                             StreamOrDevice s = {});

// Determinant, and {sign, log |det|} (sign 0 and log -inf when singular).
// Integer inputs give float32.
array det(const array& a, StreamOrDevice s = {});
std::pair<array, array> slogdet(const array& a, StreamOrDevice s = {});

}  // namespace rill::linalg
