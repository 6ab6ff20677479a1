// rill::linalg (MLX's linalg.h): argument checks and graph building. The
// factorizations, inverses and solvers are LAPACK primitives
// (core/linalg_primitives.h) that only the CPU runs; norm, cross, pinv,
// cholesky_inv, lu, det and slogdet are built from other ops as MLX builds
// them.
#include "rill/linalg.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>

#include "core/linalg_primitives.h"
#include "core/op_checks.h"
#include "rill/ops.h"
#include "runtime/stream_state.h"

namespace rill::linalg {

using detail::normalize_axis;

namespace {

// MLX runs these on the CPU only; so does rill (its LAPACK is the CPU's).
void check_cpu_stream(const StreamOrDevice& s, const char* op) {
  const Stream stream = detail::resolve_stream(s, OuterOp::name(op))->stream;
  if (stream.device.type == Device::gpu) {
    fail(op, cat("This op is not supported on the GPU (got ", stream,
                 "); pass a CPU stream or device to run it."));
  }
}

void check_float(Dtype t, const char* op) {
  if (t != float32 && t != float64) {
    fail(op, cat("Arrays must have type float32 or float64. Received array with type ", t,
                 "."));
  }
}

void check_matrices(const array& a, const char* op) {
  if (a.ndim() < 2) {
    fail(op, cat("Arrays must have >= 2 dimensions. Received array with ", a.ndim(),
                 " dimensions."));
  }
}

void check_square(const array& a, const char* op, const char* what) {
  if (a.shape(-1) != a.shape(-2)) {
    fail(op, cat(what, " Received array with shape ", tuple_str(a.shape()), "."));
  }
}

// The input's batch dims followed by `tail`.
Shape batch_and(const array& a, std::initializer_list<int64_t> tail) {
  Shape s(a.shape().begin(), a.shape().end() - 2);
  for (int64_t d : tail) s.push_back(static_cast<int32_t>(d));
  return s;
}

// The node a multi-result factorization computes: [..., per], each matrix's
// results packed in one row (core/linalg_primitives.h).
array packed(const array& a, int64_t per, std::shared_ptr<detail::Primitive> p,
             const StreamOrDevice& s, const char* op) {
  if (per > std::numeric_limits<int32_t>::max()) {
    fail(op, cat("matrices of shape ", tuple_str(a.shape()),
                 " are too large: their results would exceed 2^31 - 1 elements each."));
  }
  return make_array(batch_and(a, {per}), a.dtype(), std::move(p), {a}, s, op);
}

// Result `tail` (dtype t) of the packed node p, `byte_offset` into each row.
array part(const array& p, std::initializer_list<int64_t> tail, Dtype t,
           int64_t byte_offset, const StreamOrDevice& s, const char* op) {
  Shape shape(p.shape().begin(), p.shape().end() - 1);
  for (int64_t d : tail) shape.push_back(static_cast<int32_t>(d));
  return make_array(std::move(shape), t,
                    std::make_shared<detail::LinalgPart>(OuterOp::name(op), byte_offset),
                    {p}, s, op);
}

Dtype at_least_float(Dtype t) {
  return is_floating_point(t) ? t : promote_types(t, float32);
}

}  // namespace

// ---------------------------------------------------------------- norm

namespace {

array l2_norm(const array& a, const std::vector<int>& axes, bool keepdims,
              StreamOrDevice s) {
  return sqrt(sum(square(a, s), axes, keepdims, s), s);
}

array vector_norm(const array& a, double ord, int axis, bool keepdims, StreamOrDevice s) {
  const Dtype t = at_least_float(a.dtype());
  const std::vector<int> axes{axis};
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (ord == 0.0) return astype(sum(not_equal(a, array(0), s), axes, keepdims, s), t, s);
  if (ord == 1.0) return astype(sum(abs(a, s), axes, keepdims, s), t, s);
  if (ord == 2.0) return l2_norm(a, axes, keepdims, s);
  if (ord == inf) return astype(max(abs(a, s), axes, keepdims, s), t, s);
  if (ord == -inf) return astype(min(abs(a, s), axes, keepdims, s), t, s);
  return power(sum(power(abs(a, s), array(ord, t), s), axes, keepdims, s),
               array(1.0 / ord, t), s);
}

// a with the matrix axes (row, col) moved last, in that order.
array matrix_last(const array& a, int row, int col, StreamOrDevice s) {
  return row > col ? moveaxis(moveaxis(a, row, -1, s), col, -1, s)
                   : moveaxis(moveaxis(a, col, -1, s), row, -2, s);
}

// The singular values' reduction `r` put back in place of the matrix axes.
array keep_matrix_dims(array r, int row, int col, bool keepdims, StreamOrDevice s) {
  if (!keepdims) return r;
  return expand_dims(r, {std::min(row, col), std::max(row, col)}, s);
}

array matrix_norm(const array& a, double ord, int row, int col, bool keepdims,
                  StreamOrDevice s) {
  const Dtype t = at_least_float(a.dtype());
  constexpr double inf = std::numeric_limits<double>::infinity();
  // The norm sums |a| along one axis, then takes the max or min along the
  // other, whose index drops by one when the first axis went before it.
  if (ord == 1.0 || ord == -1.0) {
    col -= (!keepdims && col > row) ? 1 : 0;
    array sums = sum(abs(a, s), row, keepdims, s);
    return astype(ord > 0 ? max(sums, col, keepdims, s) : min(sums, col, keepdims, s), t,
                  s);
  }
  if (ord == inf || ord == -inf) {
    row -= (!keepdims && row > col) ? 1 : 0;
    array sums = sum(abs(a, s), col, keepdims, s);
    return astype(ord > 0 ? max(sums, row, keepdims, s) : min(sums, row, keepdims, s), t,
                  s);
  }
  if (ord == 2.0 || ord == -2.0) {
    array sv = svd(matrix_last(a, row, col, s), false, s).at(0);
    sv = ord > 0 ? max(sv, -1, false, s) : min(sv, -1, false, s);
    return astype(keep_matrix_dims(sv, row, col, keepdims, s), t, s);
  }
  fail("linalg::norm", cat("Invalid ord ", ord, " for matrix norm."));
}

array matrix_norm(const array& a, const std::string& ord, int row, int col, bool keepdims,
                  StreamOrDevice s) {
  if (ord == "f" || ord == "fro") return l2_norm(a, {row, col}, keepdims, s);
  if (ord == "nuc") {
    array sv = sum(svd(matrix_last(a, row, col, s), false, s).at(0), -1, false, s);
    return keep_matrix_dims(sv, row, col, keepdims, s);
  }
  fail("linalg::norm", cat("Invalid ord value '", ord, "' for matrix norm."));
}

// The axes a norm reduces (all of a's without `axis`), normalized; one or two.
std::vector<int> norm_axes(const array& a, const std::optional<std::vector<int>>& axis) {
  std::vector<int> axes(a.ndim());
  if (axis) {
    axes = *axis;
  } else {
    std::iota(axes.begin(), axes.end(), 0);
  }
  if (axes.size() == 0 || axes.size() > 2) {
    fail("linalg::norm", cat("Received ", axes.size(), " axes ", tuple_str(axes),
                             " for an array of shape ", tuple_str(a.shape()),
                             ": a vector norm takes one, a matrix norm two."));
  }
  for (int& ax : axes) ax = normalize_axis(ax, a.ndim(), "linalg::norm");
  if (axes.size() == 2 && axes[0] == axes[1]) {
    fail("linalg::norm",
         cat("the two axes of a matrix norm must differ, got ", tuple_str(*axis), "."));
  }
  return axes;
}

}  // namespace

array norm(const array& a, const std::optional<std::vector<int>>& axis, bool keepdims,
           StreamOrDevice s) {
  OuterOp outer("linalg::norm");
  if (!axis) {
    array out = norm(flatten(a, s), std::vector<int>{0}, keepdims, s);
    return keepdims ? reshape(out, Shape(a.ndim(), 1), s) : out;
  }
  if (axis->size() > 2) {
    fail("linalg::norm", cat("Received too many axes for norm: ", tuple_str(*axis), "."));
  }
  return l2_norm(a, *axis, keepdims, s);
}

array norm(const array& a, const double ord, const std::optional<std::vector<int>>& axis,
           bool keepdims, StreamOrDevice s) {
  OuterOp outer("linalg::norm");
  std::vector<int> axes = norm_axes(a, axis);
  if (axes.size() == 1) return vector_norm(a, ord, axes[0], keepdims, s);
  return matrix_norm(a, ord, axes[0], axes[1], keepdims, s);
}

array norm(const array& a, const std::string& ord,
           const std::optional<std::vector<int>>& axis, bool keepdims, StreamOrDevice s) {
  OuterOp outer("linalg::norm");
  const size_t n = axis ? axis->size() : static_cast<size_t>(a.ndim());
  if (n != 2) {
    fail("linalg::norm",
         cat("Norm '", ord, "' only supported for matrices, but received ", n,
             " axis/axes."));
  }
  std::vector<int> axes = norm_axes(a, axis);
  return matrix_norm(a, ord, axes[0], axes[1], keepdims, s);
}

// ---------------------------------------------------------------- factorizations

std::pair<array, array> qr(const array& a, StreamOrDevice s) {
  const char* op = "linalg::qr";
  OuterOp outer(op);
  check_cpu_stream(s, op);
  check_float(a.dtype(), op);
  check_matrices(a, op);
  const int64_t m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  array p =
      packed(a, m * k + k * n, std::make_shared<detail::QRF>(OuterOp::name(op)), s, op);
  return {part(p, {m, k}, a.dtype(), 0, s, op),
          part(p, {k, n}, a.dtype(), m * k * a.dtype().size, s, op)};
}

std::vector<array> svd(const array& a, bool compute_uv, StreamOrDevice s) {
  const char* op = "linalg::svd";
  OuterOp outer(op);
  check_cpu_stream(s, op);
  check_float(a.dtype(), op);
  check_matrices(a, op);
  const int64_t m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  if (!compute_uv) {
    return {make_array(batch_and(a, {k}), a.dtype(),
                       std::make_shared<detail::SVD>(OuterOp::name(op), false), {a}, s,
                       op)};
  }
  array p = packed(a, m * m + k + n * n,
                   std::make_shared<detail::SVD>(OuterOp::name(op), true), s, op);
  const int64_t es = a.dtype().size;
  return {part(p, {m, m}, a.dtype(), 0, s, op),
          part(p, {k}, a.dtype(), m * m * es, s, op),
          part(p, {n, n}, a.dtype(), (m * m + k) * es, s, op)};
}

namespace {

array inverse(const array& a, bool triangular, bool upper, StreamOrDevice s,
              const char* op) {
  OuterOp outer(op);
  check_cpu_stream(s, op);
  check_float(a.dtype(), op);
  check_matrices(a, op);
  check_square(a, op, "Inverses are only defined for square matrices.");
  return make_array(
      a.shape(), a.dtype(),
      std::make_shared<detail::Inverse>(OuterOp::name(op), triangular, upper), {a}, s,
      op);
}

}  // namespace

array inv(const array& a, StreamOrDevice s) {
  return inverse(a, false, false, s, "linalg::inv");
}

array tri_inv(const array& a, bool upper, StreamOrDevice s) {
  return inverse(a, true, upper, s, "linalg::tri_inv");
}

array cholesky(const array& a, bool upper, StreamOrDevice s) {
  const char* op = "linalg::cholesky";
  OuterOp outer(op);
  check_cpu_stream(s, op);
  check_float(a.dtype(), op);
  check_matrices(a, op);
  check_square(a, op, "Cholesky decomposition is only defined for square matrices.");
  return make_array(a.shape(), a.dtype(),
                    std::make_shared<detail::Cholesky>(OuterOp::name(op), upper), {a}, s,
                    op);
}

array pinv(const array& a, StreamOrDevice s) {
  const char* op = "linalg::pinv";
  OuterOp outer(op);
  check_cpu_stream(s, op);
  check_float(a.dtype(), op);
  check_matrices(a, op);
  const int nd = a.ndim(), m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  if (a.size() == 0) {  // the transposed shape, as NumPy gives
    Shape shape = a.shape();
    std::swap(shape[nd - 1], shape[nd - 2]);
    return zeros(shape, a.dtype(), s);
  }
  std::vector<array> usv = svd(a, true, s);
  Shape start(nd, 0), stop = a.shape();
  stop[nd - 2] = m;
  stop[nd - 1] = k;
  array u = swapaxes(slice(usv[0], start, stop, s), -1, -2, s);
  stop[nd - 2] = k;
  stop[nd - 1] = n;
  array v = swapaxes(slice(usv[2], start, stop, s), -1, -2, s);
  array sv = expand_dims(usv[1], -2, s);
  // Singular values below this share of the largest count as zero (NumPy's
  // and MLX's rcond).
  const double eps = a.dtype() == float64 ? std::numeric_limits<double>::epsilon()
                                          : std::numeric_limits<float>::epsilon();
  const double rcond = 10.0 * std::max(m, n) * eps;
  array cutoff = multiply(array(rcond, a.dtype()), max(sv, -1, true, s), s);
  array rs = where(greater(sv, cutoff, s), reciprocal(sv, s), array(0.0, a.dtype()), s);
  return matmul(multiply(v, rs, s), u, s);
}

array cholesky_inv(const array& L, bool upper, StreamOrDevice s) {
  const char* op = "linalg::cholesky_inv";
  OuterOp outer(op);
  check_cpu_stream(s, op);
  check_float(L.dtype(), op);
  check_matrices(L, op);
  check_square(L, op, "Cholesky inverse is only defined for square matrices.");
  array inv_l = tri_inv(L, upper, s);
  return upper ? matmul(inv_l, swapaxes(inv_l, -1, -2, s), s)
               : matmul(swapaxes(inv_l, -1, -2, s), inv_l, s);
}

namespace {

// {LU, pivots, row indices} of lu_factor's packed node.
std::vector<array> lu_parts(const array& a, StreamOrDevice s, const char* op) {
  OuterOp outer(op);
  check_cpu_stream(s, op);
  check_float(a.dtype(), op);
  check_matrices(a, op);
  const int64_t m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  const int64_t es = a.dtype().size;
  array p = packed(a, detail::cpu::lu_factor_size(m, n, static_cast<int>(es)),
                   std::make_shared<detail::LUF>(OuterOp::name(op)), s, op);
  return {part(p, {m, n}, a.dtype(), 0, s, op), part(p, {k}, uint32, m * n * es, s, op),
          part(p, {m}, uint32, m * n * es + k * int64_t(sizeof(uint32_t)), s, op)};
}

}  // namespace

std::vector<array> lu(const array& a, StreamOrDevice s) {
  const char* op = "linalg::lu";
  OuterOp outer(op);
  std::vector<array> f = lu_parts(a, s, op);
  const int nd = a.ndim(), m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  array l = tril(f[0], -1, s);
  array u = triu(f[0], 0, s);
  Shape start(nd, 0), stop = a.shape();
  if (n != k) {
    stop[nd - 1] = k;
    l = slice(l, start, stop, s);
  } else if (m != k) {
    stop[nd - 2] = k;
    u = slice(u, start, stop, s);
  }
  l = add(l, eye(m, k, 0, a.dtype(), s), s);
  return {f[2], l, u};
}

std::pair<array, array> lu_factor(const array& a, StreamOrDevice s) {
  std::vector<array> f = lu_parts(a, s, "linalg::lu_factor");
  return {f[0], f[1]};
}

// ---------------------------------------------------------------- solvers

namespace {

array solve_impl(const array& a, const array& b, detail::cpu::SolveKind kind,
                 StreamOrDevice s, const char* op) {
  OuterOp outer(op);
  check_cpu_stream(s, op);
  if (a.ndim() < 2) {
    fail(op, cat("First input must have >= 2 dimensions. Received array with ", a.ndim(),
                 " dimensions."));
  }
  if (b.ndim() < 1) {
    fail(op, cat("Second input must have >= 1 dimensions. Received array with ", b.ndim(),
                 " dimensions."));
  }
  check_square(a, op, "First input must be a square matrix.");
  const bool vector = b.ndim() == 1;
  if (a.shape(-1) != b.shape(vector ? -1 : -2)) {
    fail(op, cat("Last dimension of first input with shape ", tuple_str(a.shape()),
                 " must match ", vector ? "the size" : "second to last dimension",
                 " of second input with shape ", tuple_str(b.shape()), "."));
  }
  const Dtype t = promote_types(a.dtype(), b.dtype());
  if (t != float32 && t != float64) {
    fail(
        op,
        cat("Input arrays must promote to float32 or float64. Received arrays with type ",
            a.dtype(), " and ", b.dtype(), "."));
  }
  const int n = a.shape(-1);
  array bm = vector ? reshape(b, {n, 1}, s) : b;
  const int r = bm.shape(-1);
  Shape batch =
      detail::broadcast_or_fail(Shape(a.shape().begin(), a.shape().end() - 2),
                                Shape(bm.shape().begin(), bm.shape().end() - 2), op);
  Shape sa = batch, sb = batch;
  sa.insert(sa.end(), {n, n});
  sb.insert(sb.end(), {n, r});
  array x = make_array(
      sb, t, std::make_shared<detail::Solve>(OuterOp::name(op), kind),
      {broadcast_to(astype(a, t, s), sa, s), broadcast_to(astype(bm, t, s), sb, s)}, s,
      op);
  if (!vector) return x;
  batch.push_back(n);
  return reshape(x, batch, s);
}

}  // namespace

array solve(const array& a, const array& b, StreamOrDevice s) {
  return solve_impl(a, b, detail::cpu::SolveKind::general, s, "linalg::solve");
}

array solve_triangular(const array& a, const array& b, bool upper, StreamOrDevice s) {
  return solve_impl(a, b,
                    upper ? detail::cpu::SolveKind::upper : detail::cpu::SolveKind::lower,
                    s, "linalg::solve_triangular");
}

// ---------------------------------------------------------------- cross

array cross(const array& a, const array& b, int axis, StreamOrDevice s) {
  const char* op = "linalg::cross";
  OuterOp outer(op);
  const int ax_a = normalize_axis(axis, a.ndim(), op);
  const int ax_b = normalize_axis(axis, b.ndim(), op);
  for (const array* x : {&a, &b}) {
    const int size = x->shape(x == &a ? ax_a : ax_b);
    if (size < 2 || size > 3) {
      fail(op, cat("The specified axis must have size 2 or 3, got shape ",
                   tuple_str(x->shape()), " and axis ", axis, "."));
    }
  }
  const bool a2 = a.shape(ax_a) == 2, b2 = b.shape(ax_b) == 2;
  const Dtype t = promote_types(a.dtype(), b.dtype());
  Shape sa = a.shape(), sb = b.shape();
  sa[ax_a] = 3;
  sb[ax_b] = 3;
  Shape out = detail::broadcast_or_fail(sa, sb, op);
  const int ax = axis < 0 ? axis + static_cast<int>(out.size()) : axis;
  out[ax] = a2 ? 2 : 3;
  std::vector<array> x = split(broadcast_to(astype(a, t, s), out, s), a2 ? 2 : 3, ax, s);
  out[ax] = b2 ? 2 : 3;
  std::vector<array> y = split(broadcast_to(astype(b, t, s), out, s), b2 ? 2 : 3, ax, s);
  // A 2-vector's third component is zero: the terms with it drop out.
  std::vector<array> parts;
  if (a2 && b2) {
    array z = zeros_like(x[0], s);
    parts = {z, z};
  } else if (b2) {
    parts = {negative(multiply(x[2], y[1], s), s), multiply(x[2], y[0], s)};
  } else if (a2) {
    parts = {multiply(x[1], y[2], s), negative(multiply(x[0], y[2], s), s)};
  } else {
    parts = {subtract(multiply(x[1], y[2], s), multiply(x[2], y[1], s), s),
             subtract(multiply(x[2], y[0], s), multiply(x[0], y[2], s), s)};
  }
  parts.push_back(subtract(multiply(x[0], y[1], s), multiply(x[1], y[0], s), s));
  return concatenate(parts, ax, s);
}

// ---------------------------------------------------------------- eigenvalues

namespace {

// Whether eigh reads the upper triangle.
bool check_eigh(const array& a, const std::string& uplo, const StreamOrDevice& s,
                const char* op) {
  check_cpu_stream(s, op);
  check_float(a.dtype(), op);
  check_matrices(a, op);
  check_square(a, op, "Only defined for square matrices.");
  if (uplo != "L" && uplo != "U") {
    fail(op, cat("UPLO must be \"L\" or \"U\", got \"", uplo, "\"."));
  }
  return uplo == "U";
}

}  // namespace

array eigvalsh(const array& a, std::string UPLO, StreamOrDevice s) {
  const char* op = "linalg::eigvalsh";
  OuterOp outer(op);
  const bool upper = check_eigh(a, UPLO, s, op);
  return make_array(batch_and(a, {a.shape(-1)}), a.dtype(),
                    std::make_shared<detail::Eigh>(OuterOp::name(op), upper, false), {a},
                    s, op);
}

std::pair<array, array> eigh(const array& a, std::string UPLO, StreamOrDevice s) {
  const char* op = "linalg::eigh";
  OuterOp outer(op);
  const bool upper = check_eigh(a, UPLO, s, op);
  const int64_t n = a.shape(-1);
  array p = packed(a, n + n * n,
                   std::make_shared<detail::Eigh>(OuterOp::name(op), upper, true), s, op);
  return {part(p, {n}, a.dtype(), 0, s, op),
          part(p, {n, n}, a.dtype(), n * a.dtype().size, s, op)};
}

namespace {
void check_eig(const array& a, const StreamOrDevice& s, const char* op) {
  check_cpu_stream(s, op);
  check_float(a.dtype(), op);
  check_matrices(a, op);
  check_square(a, op, "Only defined for square matrices.");
}
}  // namespace

array eigvals(const array& a, StreamOrDevice s) {
  const char* op = "linalg::eigvals";
  OuterOp outer(op);
  check_eig(a, s, op);
  return make_array(batch_and(a, {a.shape(-1)}), complex64,
                    std::make_shared<detail::Eig>(OuterOp::name(op), false), {a}, s, op);
}

std::pair<array, array> eig(const array& a, StreamOrDevice s) {
  const char* op = "linalg::eig";
  OuterOp outer(op);
  check_eig(a, s, op);
  const int64_t n = a.shape(-1);
  if (n + n * n > std::numeric_limits<int32_t>::max()) {
    fail(op, cat("matrices of shape ", tuple_str(a.shape()), " are too large."));
  }
  array p = make_array(batch_and(a, {n + n * n}), complex64,
                       std::make_shared<detail::Eig>(OuterOp::name(op), true), {a}, s, op);
  return {part(p, {n}, complex64, 0, s, op), part(p, {n, n}, complex64, n * 8, s, op)};
}

// ---------------------------------------------------------------- determinants

namespace {

void check_det(const array& a, const StreamOrDevice& s, const char* op) {
  check_cpu_stream(s, op);
  check_matrices(a, op);
  check_square(a, op, "Only defined for square matrices.");
}

// The determinant of matrices of at most 3 x 3, by cofactors.
array det_small(const array& a, StreamOrDevice s) {
  const int nd = a.ndim(), n = a.shape(-1);
  const Shape batch(a.shape().begin(), a.shape().end() - 2);
  if (n == 0) return broadcast_to(array(1.0, a.dtype()), batch, s);  // the empty product
  auto at = [&](int i, int j) {
    Shape start(nd, 0), stop = a.shape();
    start[nd - 2] = i;
    stop[nd - 2] = i + 1;
    start[nd - 1] = j;
    stop[nd - 1] = j + 1;
    return reshape(slice(a, start, stop, s), batch, s);
  };
  auto cofactor = [&](int i0, int j0, int i1, int j1) {
    return subtract(multiply(at(i0, j0), at(i1, j1), s),
                    multiply(at(i0, j1), at(i1, j0), s), s);
  };
  if (n == 1) return at(0, 0);
  if (n == 2) return cofactor(0, 0, 1, 1);
  return add(subtract(multiply(at(0, 0), cofactor(1, 1, 2, 2), s),
                      multiply(at(0, 1), cofactor(1, 0, 2, 2), s), s),
             multiply(at(0, 2), cofactor(1, 0, 2, 1), s), s);
}

// {sign, log |det|} of float matrices.
std::pair<array, array> slogdet_float(const array& a, StreamOrDevice s) {
  const Dtype t = a.dtype();
  const int n = a.shape(-1);
  if (n <= 3) {
    array d = det_small(a, s);
    return {sign(d, s), log(abs(d, s), s)};
  }
  auto [lu_mat, pivots] = lu_factor(a, s);
  array d = diagonal(lu_mat, 0, -2, -1, s);
  // Each row swap (pivots[i] != i) and each negative pivot flips the sign.
  array swaps = sum(not_equal(pivots, arange(0.0, n, uint32, s), s), -1, false, s);
  array negatives = sum(less(d, array(0.0, t), s), -1, false, s);
  array flips = add(astype(swaps, int32, s), astype(negatives, int32, s), s);
  array sgn = astype(
      subtract(array(1), multiply(array(2), remainder(flips, array(2), s), s), s), t, s);
  array logabs = sum(log(abs(d, s), s), -1, false, s);
  array singular = any(equal(d, array(0.0, t), s), -1, false, s);
  sgn = where(singular, array(0.0, t), sgn, s);
  logabs = where(singular, array(-std::numeric_limits<double>::infinity(), t), logabs, s);
  return {sgn, logabs};
}

}  // namespace

std::pair<array, array> slogdet(const array& a, StreamOrDevice s) {
  const char* op = "linalg::slogdet";
  OuterOp outer(op);
  check_det(a, s, op);
  return slogdet_float(astype(a, at_least_float(a.dtype()), s), s);
}

array det(const array& a, StreamOrDevice s) {
  const char* op = "linalg::det";
  OuterOp outer(op);
  check_det(a, s, op);
  array x = astype(a, at_least_float(a.dtype()), s);
  if (x.shape(-1) <= 3) return det_small(x, s);
  auto [sgn, logabs] = slogdet_float(x, s);
  return multiply(sgn, exp(logabs, s), s);
}

}  // namespace rill::linalg
