// The CPU's LAPACK kernels for rill::linalg (backend/cpu/linalg.cpp). Only the
// CPU computes these (the front ends refuse GPU streams), so they are called
// by their primitives directly rather than through the Kernels table.
// Internal.
//
// Inputs are float32 or float64 matrices in the last two dims, batched over
// the others, with any strides; each kernel allocates `out` row-major and
// writes every matrix's results one after the other. Several results of one
// matrix are packed into one row of `out` (`out` [..., P]); the front end
// views each part (core/linalg_primitives.h). A failure (a singular matrix,
// no convergence) throws std::runtime_error naming the matrix.
#pragma once

#include <cstdint>

#include "core/node.h"

namespace rill::detail::cpu {

// a [..., M, N] -> Q [M, K] then R [K, N], K = min(M, N).
void qr(const Node& a, Node& out);
// a [..., M, N] -> U [M, M], S [K], Vt [N, N]; S only without compute_uv.
void svd(const Node& a, bool compute_uv, Node& out);
// Square a -> its inverse (of the lower or upper triangle when triangular;
// the other triangle of out is zero).
void inverse(const Node& a, bool triangular, bool upper, Node& out);
// Square a -> its lower (upper) Cholesky factor, zero elsewhere.
void cholesky(const Node& a, bool upper, Node& out);
// Symmetric a (its upper or lower triangle) -> eigenvalues [N], ascending,
// then with `vectors` the eigenvectors as the columns of [N, N].
void eigh(const Node& a, bool upper, bool vectors, Node& out);
// General square a -> eigenvalues [N] (complex64, LAPACK's order), then with
// `vectors` the unit eigenvectors (complex64) as the columns of [N, N]; out is
// complex64.
void eig(const Node& a, bool vectors, Node& out);
// a [..., M, N] -> LU [M, N] (L's unit diagonal left out), then K pivots and
// M row indices as uint32 (their bytes), padded to a whole element of a's
// dtype: lu_factor_size elements of a's dtype in all.
void lu_factor(const Node& a, Node& out);
int64_t lu_factor_size(int64_t m, int64_t n, int elem_size);
// x with a x = b: a [..., N, N] (general, or its lower or upper triangle),
// b [..., N, R], both with out's batch dims.
enum class SolveKind { general, lower, upper };
void solve(const Node& a, const Node& b, SolveKind kind, Node& out);

}  // namespace rill::detail::cpu
