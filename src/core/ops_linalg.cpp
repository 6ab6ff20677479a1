// Linear algebra: matmul and addmm (NumPy's rules for 1-D operands and
// batch broadcasting).
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
