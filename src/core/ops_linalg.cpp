// Linear algebra: matmul and addmm (NumPy's rules for 1-D operands and
// batch broadcasting), and the products built on them: tensordot, inner,
// outer, kron, trace, vecdot.
#include "rill/ops.h"

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "core/format.h"
#include "core/op_checks.h"
#include "core/primitives.h"

namespace rill {

using detail::broadcast_or_fail;

// ---------------------------------------------------------------- matmul

namespace {

// matmul's operands made ready for the kernel: promoted to one floating dtype,
// 1-D operands made matrices, batch dims broadcast. `result` is the shape the
// caller sees (without the axes added for 1-D operands).
struct MatmulOperands {
  array a, b;
  Shape out;     // batch + (M, N)
  Shape result;  // NumPy's matmul shape
  Dtype dtype;
};

void check_matmul_ranks(const array& a, const array& b, const char* name) {
  if (a.ndim() == 0 || b.ndim() == 0) {
    fail(name, cat("operands must have at least one dimension, got shapes ",
                   tuple_str(a.shape()), " and ", tuple_str(b.shape()), "."));
  }
}

MatmulOperands matmul_operands(const array& a_in, const array& b_in, Dtype t,
                               const StreamOrDevice& s, const char* name) {
  array a = a_in.ndim() == 1 ? reshape(a_in, {1, a_in.shape(0)}, s) : a_in;
  array b = b_in.ndim() == 1 ? reshape(b_in, {b_in.shape(0), 1}, s) : b_in;
  int K = a.shape(-1);
  if (b.shape(-2) != K) {
    fail(name, cat("inner dimensions differ: shapes ", tuple_str(a_in.shape()), " and ",
                   tuple_str(b_in.shape()), "."));
  }
  int M = a.shape(-2), N = b.shape(-1);
  Shape batch_a(a.shape().begin(), a.shape().end() - 2);
  Shape batch_b(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_or_fail(batch_a, batch_b, name);
  Shape sa = batch, sb = batch, so = batch;
  sa.insert(sa.end(), {M, K});
  sb.insert(sb.end(), {K, N});
  so.insert(so.end(), {M, N});
  if (a.dtype() != t) a = astype(a, t, s);
  if (b.dtype() != t) b = astype(b, t, s);
  if (a.shape() != sa) a = broadcast_to(a, sa, s);
  if (b.shape() != sb) b = broadcast_to(b, sb, s);
  Shape result = batch;
  if (a_in.ndim() != 1) result.push_back(M);
  if (b_in.ndim() != 1) result.push_back(N);
  return {std::move(a), std::move(b), std::move(so), std::move(result), t};
}

}  // namespace

array matmul(const array& a_in, const array& b_in, StreamOrDevice s) {
  OuterOp outer("matmul");
  check_matmul_ranks(a_in, b_in, "matmul");
  Dtype t = promote_types(a_in.dtype(), b_in.dtype());
  if (t == complex64) {
    // Four real products: (ar + i ai)(br + i bi) = (ar br - ai bi) + i (ar bi + ai br).
    array ar = real(a_in, s), ai = imag(a_in, s), br = real(b_in, s), bi = imag(b_in, s);
    if (!is_complex(a_in.dtype())) ar = astype(ar, float32, s), ai = astype(ai, float32, s);
    if (!is_complex(b_in.dtype())) br = astype(br, float32, s), bi = astype(bi, float32, s);
    return detail::make_complex(subtract(matmul(ar, br, s), matmul(ai, bi, s), s),
                                add(matmul(ar, bi, s), matmul(ai, br, s), s), s);
  }
  if (!is_floating_point(t)) {
    fail("matmul", cat("only floating point types are supported, got ", a_in.dtype(),
                       " and ", b_in.dtype(), "."));
  }
  MatmulOperands m = matmul_operands(a_in, b_in, t, s, "matmul");
  array out =
      make_array(m.out, t, std::make_shared<detail::Matmul>(), {m.a, m.b}, s, "matmul");
  return m.result == m.out ? out : reshape(out, m.result, s);
}

array addmm(array c, array a_in, array b_in, const float& alpha, const float& beta,
            StreamOrDevice s) {
  OuterOp outer("addmm");
  check_matmul_ranks(a_in, b_in, "addmm");
  Dtype t = promote_types(promote_types(a_in.dtype(), b_in.dtype()), c.dtype());
  if (!is_floating_point(t)) {
    fail("addmm", cat("only floating point types are supported, got ", c.dtype(), ", ",
                      a_in.dtype(), " and ", b_in.dtype(), "."));
  }
  MatmulOperands m = matmul_operands(a_in, b_in, t, s, "addmm");
  // c takes the product's shape: it may broadcast up to it, never widen it.
  Shape cs = broadcast_or_fail(c.shape(), m.result, "addmm");
  if (cs != m.result) {
    fail("addmm", cat("c of shape ", tuple_str(c.shape()), " cannot be broadcast to the "
                      "product's shape ", tuple_str(m.result), "."));
  }
  if (c.dtype() != t) c = astype(c, t, s);
  if (c.shape() != m.result) c = broadcast_to(c, m.result, s);
  if (m.result != m.out) c = reshape(c, m.out, s);
  array out = make_array(m.out, t, std::make_shared<detail::AddMM>(alpha, beta),
                         {std::move(c), std::move(m.a), std::move(m.b)}, s, "addmm");
  return m.result == m.out ? out : reshape(out, m.result, s);
}

}  // namespace rill

// ---------------------------------------------------------------- products built on matmul

namespace rill {

array tensordot(const array& a, const array& b, const std::vector<int>& axes_a,
                const std::vector<int>& axes_b, StreamOrDevice s) {
  OuterOp outer("tensordot");
  if (axes_a.size() != axes_b.size()) {
    fail("tensordot", cat("axes_a ", tuple_str(axes_a), " and axes_b ", tuple_str(axes_b),
                          " must have the same length."));
  }
  std::vector<int> ca, cb;
  for (size_t i = 0; i < axes_a.size(); ++i) {
    ca.push_back(detail::normalize_axis(axes_a[i], a.ndim(), "tensordot"));
    cb.push_back(detail::normalize_axis(axes_b[i], b.ndim(), "tensordot"));
    if (a.shape(ca.back()) != b.shape(cb.back())) {
      fail("tensordot", cat("axis ", axes_a[i], " of a (size ", a.shape(ca.back()),
                            ") and axis ", axes_b[i], " of b (size ", b.shape(cb.back()),
                            ") must have the same size."));
    }
  }
  detail::normalize_axes(ca, a.ndim(), "tensordot");  // rejects a repeated axis
  detail::normalize_axes(cb, b.ndim(), "tensordot");
  // a as [free_a, contracted], b as [contracted, free_b]: one matrix product.
  std::vector<int> pa, pb;
  Shape out;
  int64_t fa = 1, fb = 1, k = 1;
  for (int i = 0; i < a.ndim(); ++i) {
    if (std::find(ca.begin(), ca.end(), i) == ca.end()) {
      pa.push_back(i);
      out.push_back(a.shape(i));
      fa *= a.shape(i);
    }
  }
  for (int i : ca) {
    pa.push_back(i);
    k *= a.shape(i);
  }
  pb = cb;
  for (int i = 0; i < b.ndim(); ++i) {
    if (std::find(cb.begin(), cb.end(), i) == cb.end()) {
      pb.push_back(i);
      out.push_back(b.shape(i));
      fb *= b.shape(i);
    }
  }
  array x = reshape(transpose(a, pa, s), {static_cast<int32_t>(fa), static_cast<int32_t>(k)}, s);
  array y = reshape(transpose(b, pb, s), {static_cast<int32_t>(k), static_cast<int32_t>(fb)}, s);
  return reshape(matmul(x, y, s), out, s);
}

array tensordot(const array& a, const array& b, const int axis, StreamOrDevice s) {
  OuterOp outer("tensordot");
  if (axis < 0 || axis > a.ndim() || axis > b.ndim()) {
    fail("tensordot", cat("axis ", axis, " must be in [0, ", std::min(a.ndim(), b.ndim()),
                          "] for shapes ", tuple_str(a.shape()), " and ", tuple_str(b.shape()),
                          "."));
  }
  std::vector<int> xa, xb;
  for (int i = 0; i < axis; ++i) {
    xa.push_back(a.ndim() - axis + i);
    xb.push_back(i);
  }
  return tensordot(a, b, xa, xb, s);
}

array inner(const array& a, const array& b, StreamOrDevice s) {
  OuterOp outer("inner");
  if (a.ndim() == 0 || b.ndim() == 0) return multiply(a, b, s);
  if (a.shape(-1) != b.shape(-1)) {
    fail("inner", cat("last dimensions must agree, got shapes ", tuple_str(a.shape()), " and ",
                      tuple_str(b.shape()), "."));
  }
  return tensordot(a, b, {-1}, {-1}, s);
}

array outer(const array& a, const array& b, StreamOrDevice s) {
  OuterOp outer("outer");
  return multiply(reshape(a, {-1, 1}, s), reshape(b, {-1}, s), s);
}

array kron(const array& a, const array& b, StreamOrDevice s) {
  OuterOp outer("kron");
  if (a.size() == 0 || b.size() == 0) {
    fail("kron", cat("inputs must be non-empty, got shapes ", tuple_str(a.shape()), " and ",
                     tuple_str(b.shape()), "."));
  }
  const int nd = std::max(a.ndim(), b.ndim());
  Shape sa = a.shape(), sb = b.shape();
  sa.insert(sa.begin(), nd - sa.size(), 1);
  sb.insert(sb.begin(), nd - sb.size(), 1);
  // a as [a0, 1, a1, 1, ...] times b as [1, b0, 1, b1, ...], then merged pairwise.
  Shape ea, eb, out;
  for (int i = 0; i < nd; ++i) {
    ea.insert(ea.end(), {sa[i], 1});
    eb.insert(eb.end(), {1, sb[i]});
    out.push_back(sa[i] * sb[i]);
  }
  return reshape(multiply(reshape(a, ea, s), reshape(b, eb, s), s), out, s);
}

array trace(const array& a, int offset, int axis1, int axis2, Dtype dtype, StreamOrDevice s) {
  OuterOp outer("trace");
  return sum(astype(diagonal(a, offset, axis1, axis2, s), dtype, s), -1, false, s);
}
array trace(const array& a, int offset, int axis1, int axis2, StreamOrDevice s) {
  // Integers and bool sum in int32 or wider, as MLX does.
  Dtype t = a.dtype();
  if (t == bool_ || (!is_floating_point(t) && t.size < 4)) t = int32;
  return trace(a, offset, axis1, axis2, t, s);
}
array trace(const array& a, StreamOrDevice s) { return trace(a, 0, 0, 1, s); }

array vecdot(const array& a, const array& b, int axis, StreamOrDevice s) {
  OuterOp outer("vecdot");
  array prod = multiply(a, b, s);
  return sum(prod, detail::normalize_axis(axis, prod.ndim(), "vecdot"), false, s);
}

}  // namespace rill
