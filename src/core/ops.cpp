// Ops: validate the arguments (throwing "[op] what was wrong (values)") and
// record a node. Nothing here computes.
#include "rill/ops.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "core/format.h"
#include "core/primitives.h"

namespace rill {

using detail::cat;
using detail::make_array;
using detail::OuterOp;
using detail::tuple_str;
namespace cpu = detail::cpu;

namespace {

// Binary primitives hold no per-node state, so every node of one op shares a
// static instance through a non-owning shared_ptr (aliasing an empty owner):
// no allocation per node, and no reference count for threads to contend on.
std::shared_ptr<detail::Primitive> shared_binary(cpu::BinaryOp op, const char* name) {
  static constexpr int kOps = static_cast<int>(cpu::BinaryOp::logical_or) + 1;
  static std::atomic<detail::Binary*> table[kOps];  // made once each, never freed
  auto& slot = table[static_cast<int>(op)];
  detail::Binary* p = slot.load(std::memory_order_acquire);
  if (!p) {
    auto* made = new detail::Binary(op, name);
    if (slot.compare_exchange_strong(p, made, std::memory_order_acq_rel)) {
      p = made;
    } else {
      delete made;  // another thread won; `p` is its instance
    }
  }
  return std::shared_ptr<detail::Primitive>(std::shared_ptr<void>(), p);
}

[[noreturn]] void fail(const char* op, const std::string& what) {
  throw std::invalid_argument(cat("[", detail::OuterOp::name(op), "] ", what));
}

int normalize_axis(int axis, int ndim, const char* op) {
  if (axis < -ndim || axis >= ndim) {
    fail(op, cat("axis ", axis, " is out of range for an array of ", ndim, " dimensions."));
  }
  return axis < 0 ? axis + ndim : axis;
}

void check_shape(const Shape& shape, const char* op) {
  for (int32_t d : shape) {
    if (d < 0) fail(op, cat("negative dimension in shape ", tuple_str(shape), "."));
  }
}

Shape broadcast_or_fail(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int32_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int32_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) {
      fail(op, cat("shapes ", tuple_str(a), " and ", tuple_str(b), " cannot be broadcast."));
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

array unary_op(const array& a, cpu::UnaryOp op, const char* name, Dtype out_type,
               const StreamOrDevice& s, int decimals = 0) {
  OuterOp outer(name);
  array in = a.dtype() == out_type || op == cpu::UnaryOp::logical_not
                 ? a
                 : astype(a, out_type, s);
  return make_array(a.shape(), out_type,
                    std::make_shared<detail::Unary>(op, name, decimals), {in}, s, name);
}

// exp, log, ...: integer and bool inputs compute in float32.
array float_unary(const array& a, cpu::UnaryOp op, const char* name, const StreamOrDevice& s) {
  Dtype t = is_floating_point(a.dtype()) ? a.dtype() : float32;
  return unary_op(a, op, name, t, s);
}

// add, multiply, ...: inputs promoted to a common dtype; `out` overrides the
// result dtype (bool for comparisons).
array binary_op(const array& a, const array& b, cpu::BinaryOp op, const char* name,
                const StreamOrDevice& s, Dtype common, Dtype out) {
  OuterOp outer(name);
  Shape shape = broadcast_or_fail(a.shape(), b.shape(), name);
  array x = a.dtype() == common ? a : astype(a, common, s);
  array y = b.dtype() == common ? b : astype(b, common, s);
  return make_array(std::move(shape), out, shared_binary(op, name),
                    {std::move(x), std::move(y)}, s, name);
}

array arith(const array& a, const array& b, cpu::BinaryOp op, const char* name,
            const StreamOrDevice& s) {
  Dtype t = promote_types(a.dtype(), b.dtype());
  return binary_op(a, b, op, name, s, t, t);
}

array compare(const array& a, const array& b, cpu::BinaryOp op, const char* name,
              const StreamOrDevice& s) {
  return binary_op(a, b, op, name, s, promote_types(a.dtype(), b.dtype()), bool_);
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  return broadcast_or_fail(a, b, "broadcast_shapes");
}

// ---------------------------------------------------------------- creation

array full(Shape shape, array vals, Dtype dtype, StreamOrDevice s) {
  check_shape(shape, "full");
  Shape b = broadcast_or_fail(vals.shape(), shape, "full");
  if (b != shape) {
    fail("full", cat("values of shape ", tuple_str(vals.shape()),
                     " cannot be broadcast to shape ", tuple_str(shape), "."));
  }
  return make_array(std::move(shape), dtype, std::make_shared<detail::Full>(),
                    {std::move(vals)}, s, "full");
}
array full(Shape shape, array vals, StreamOrDevice s) {
  Dtype t = vals.dtype();
  return full(std::move(shape), std::move(vals), t, s);
}
array zeros(const Shape& shape, Dtype dtype, StreamOrDevice s) {
  OuterOp outer("zeros");
  check_shape(shape, "zeros");
  return full(shape, array(false, dtype), dtype, s);
}
array zeros(const Shape& shape, StreamOrDevice s) { return zeros(shape, float32, s); }
array ones(const Shape& shape, Dtype dtype, StreamOrDevice s) {
  OuterOp outer("ones");
  check_shape(shape, "ones");
  return full(shape, array(true, dtype), dtype, s);
}
array ones(const Shape& shape, StreamOrDevice s) { return ones(shape, float32, s); }
array zeros_like(const array& a, StreamOrDevice s) {
  OuterOp outer("zeros_like");
  return zeros(a.shape(), a.dtype(), s);
}
array ones_like(const array& a, StreamOrDevice s) {
  OuterOp outer("ones_like");
  return ones(a.shape(), a.dtype(), s);
}

array arange(double start, double stop, double step, Dtype dtype, StreamOrDevice s) {
  if (!std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step)) {
    fail("arange", cat("start, stop and step must be finite, got ", start, ", ", stop, ", ",
                       step, "."));
  }
  if (step == 0) fail("arange", cat("step must not be 0 (start ", start, ", stop ", stop, ")."));
  if (dtype == bool_) fail("arange", "dtype bool is not supported.");
  double n = std::ceil((stop - start) / step);
  if (n > std::numeric_limits<int32_t>::max()) {
    fail("arange", cat("too many elements (", n, ") for start ", start, ", stop ", stop,
                       ", step ", step, "."));
  }
  int32_t size = n > 0 ? static_cast<int32_t>(n) : 0;
  return make_array({size}, dtype, std::make_shared<detail::Arange>(start, step), {}, s,
                    "arange");
}
array arange(double start, double stop, double step, StreamOrDevice s) {
  return arange(start, stop, step, float32, s);
}
array arange(double start, double stop, Dtype dtype, StreamOrDevice s) {
  return arange(start, stop, 1.0, dtype, s);
}
array arange(double start, double stop, StreamOrDevice s) {
  return arange(start, stop, 1.0, float32, s);
}
array arange(double stop, Dtype dtype, StreamOrDevice s) {
  return arange(0.0, stop, 1.0, dtype, s);
}
array arange(double stop, StreamOrDevice s) { return arange(0.0, stop, 1.0, float32, s); }
array arange(int start, int stop, int step, StreamOrDevice s) {
  return arange(static_cast<double>(start), static_cast<double>(stop),
                static_cast<double>(step), int32, s);
}
array arange(int start, int stop, StreamOrDevice s) { return arange(start, stop, 1, s); }
array arange(int stop, StreamOrDevice s) { return arange(0, stop, 1, s); }

array eye(int n, int m, int k, Dtype dtype, StreamOrDevice s) {
  if (n < 0 || m < 0) fail("eye", cat("n and m must be non-negative, got ", n, " and ", m, "."));
  return make_array({n, m}, dtype, std::make_shared<detail::Eye>(k), {}, s, "eye");
}
array eye(int n, Dtype dtype, StreamOrDevice s) { return eye(n, n, 0, dtype, s); }
array eye(int n, int m, StreamOrDevice s) { return eye(n, m, 0, float32, s); }
array eye(int n, int m, int k, StreamOrDevice s) { return eye(n, m, k, float32, s); }
array eye(int n, StreamOrDevice s) { return eye(n, n, 0, float32, s); }

array astype(array a, Dtype dtype, StreamOrDevice s) {
  if (a.dtype() == dtype) {
    detail::check_stream(s, "astype");
    return a;
  }
  Shape shape = a.shape();
  return make_array(std::move(shape), dtype, std::make_shared<detail::Copy>("astype"),
                    {std::move(a)}, s, "astype");
}

array copy(array a, StreamOrDevice s) {
  Shape shape = a.shape();
  Dtype t = a.dtype();
  return make_array(std::move(shape), t, std::make_shared<detail::Copy>("copy"),
                    {std::move(a)}, s, "copy");
}

array scalar_like(double val, const array& other) {
  return array(val, is_floating_point(other.dtype()) ? other.dtype() : float32);
}
array scalar_like(long long val, const array& other) {
  Dtype t = other.dtype() == bool_ ? int32 : other.dtype();
  return array(static_cast<int64_t>(val), t);
}
array scalar_like(bool val, const array&) { return array(val); }

// ---------------------------------------------------------------- unary

array negative(const array& a, StreamOrDevice s) {
  if (a.dtype() == bool_) fail("negative", "not supported for bool; use logical_not.");
  return unary_op(a, cpu::UnaryOp::negative, "negative", a.dtype(), s);
}
array abs(const array& a, StreamOrDevice s) {
  return unary_op(a, cpu::UnaryOp::abs, "abs", a.dtype(), s);
}
array sign(const array& a, StreamOrDevice s) {
  return unary_op(a, cpu::UnaryOp::sign, "sign", a.dtype(), s);
}
array square(const array& a, StreamOrDevice s) {
  return unary_op(a, cpu::UnaryOp::square, "square", a.dtype(), s);
}
array floor(const array& a, StreamOrDevice s) {
  return unary_op(a, cpu::UnaryOp::floor, "floor", a.dtype(), s);
}
array ceil(const array& a, StreamOrDevice s) {
  return unary_op(a, cpu::UnaryOp::ceil, "ceil", a.dtype(), s);
}
array round(const array& a, int decimals, StreamOrDevice s) {
  if (!is_floating_point(a.dtype()) && decimals < 0) {
    fail("round", cat("negative decimals (", decimals, ") need a floating point array, got ",
                      a.dtype(), "."));
  }
  return unary_op(a, cpu::UnaryOp::round, "round", a.dtype(), s, decimals);
}
array round(const array& a, StreamOrDevice s) { return round(a, 0, s); }
array logical_not(const array& a, StreamOrDevice s) {
  return unary_op(a, cpu::UnaryOp::logical_not, "logical_not", bool_, s);
}
array exp(const array& a, StreamOrDevice s) { return float_unary(a, cpu::UnaryOp::exp, "exp", s); }
array log(const array& a, StreamOrDevice s) { return float_unary(a, cpu::UnaryOp::log, "log", s); }
array log1p(const array& a, StreamOrDevice s) {
  return float_unary(a, cpu::UnaryOp::log1p, "log1p", s);
}
array sqrt(const array& a, StreamOrDevice s) {
  return float_unary(a, cpu::UnaryOp::sqrt, "sqrt", s);
}
array rsqrt(const array& a, StreamOrDevice s) {
  return float_unary(a, cpu::UnaryOp::rsqrt, "rsqrt", s);
}
array sin(const array& a, StreamOrDevice s) { return float_unary(a, cpu::UnaryOp::sin, "sin", s); }
array cos(const array& a, StreamOrDevice s) { return float_unary(a, cpu::UnaryOp::cos, "cos", s); }
array tanh(const array& a, StreamOrDevice s) {
  return float_unary(a, cpu::UnaryOp::tanh, "tanh", s);
}
array sigmoid(const array& a, StreamOrDevice s) {
  return float_unary(a, cpu::UnaryOp::sigmoid, "sigmoid", s);
}
array erf(const array& a, StreamOrDevice s) { return float_unary(a, cpu::UnaryOp::erf, "erf", s); }

// ---------------------------------------------------------------- binary

array add(const array& a, const array& b, StreamOrDevice s) {
  return arith(a, b, cpu::BinaryOp::add, "add", s);
}
array subtract(const array& a, const array& b, StreamOrDevice s) {
  if (a.dtype() == bool_ && b.dtype() == bool_) {
    fail("subtract", "not supported for two bool arrays; use logical ops.");
  }
  return arith(a, b, cpu::BinaryOp::subtract, "subtract", s);
}
array multiply(const array& a, const array& b, StreamOrDevice s) {
  return arith(a, b, cpu::BinaryOp::multiply, "multiply", s);
}
array divide(const array& a, const array& b, StreamOrDevice s) {
  Dtype t = promote_types(a.dtype(), b.dtype());
  if (!is_floating_point(t)) t = float32;  // true division
  return binary_op(a, b, cpu::BinaryOp::divide, "divide", s, t, t);
}
array maximum(const array& a, const array& b, StreamOrDevice s) {
  return arith(a, b, cpu::BinaryOp::maximum, "maximum", s);
}
array minimum(const array& a, const array& b, StreamOrDevice s) {
  return arith(a, b, cpu::BinaryOp::minimum, "minimum", s);
}
array power(const array& a, const array& b, StreamOrDevice s) {
  return arith(a, b, cpu::BinaryOp::power, "power", s);
}
array remainder(const array& a, const array& b, StreamOrDevice s) {
  return arith(a, b, cpu::BinaryOp::remainder, "remainder", s);
}
array equal(const array& a, const array& b, StreamOrDevice s) {
  return compare(a, b, cpu::BinaryOp::equal, "equal", s);
}
array not_equal(const array& a, const array& b, StreamOrDevice s) {
  return compare(a, b, cpu::BinaryOp::not_equal, "not_equal", s);
}
array less(const array& a, const array& b, StreamOrDevice s) {
  return compare(a, b, cpu::BinaryOp::less, "less", s);
}
array less_equal(const array& a, const array& b, StreamOrDevice s) {
  return compare(a, b, cpu::BinaryOp::less_equal, "less_equal", s);
}
array greater(const array& a, const array& b, StreamOrDevice s) {
  return compare(a, b, cpu::BinaryOp::greater, "greater", s);
}
array greater_equal(const array& a, const array& b, StreamOrDevice s) {
  return compare(a, b, cpu::BinaryOp::greater_equal, "greater_equal", s);
}
array logical_and(const array& a, const array& b, StreamOrDevice s) {
  return binary_op(a, b, cpu::BinaryOp::logical_and, "logical_and", s, bool_, bool_);
}
array logical_or(const array& a, const array& b, StreamOrDevice s) {
  return binary_op(a, b, cpu::BinaryOp::logical_or, "logical_or", s, bool_, bool_);
}

array where(const array& condition, const array& x, const array& y, StreamOrDevice s) {
  OuterOp outer("where");
  Shape shape = broadcast_or_fail(broadcast_or_fail(condition.shape(), x.shape(), "where"),
                                  y.shape(), "where");
  Dtype t = promote_types(x.dtype(), y.dtype());
  array c = condition.dtype() == bool_ ? condition : astype(condition, bool_, s);
  array xx = x.dtype() == t ? x : astype(x, t, s);
  array yy = y.dtype() == t ? y : astype(y, t, s);
  return make_array(std::move(shape), t, std::make_shared<detail::Where>(),
                    {std::move(c), std::move(xx), std::move(yy)}, s, "where");
}

// ---------------------------------------------------------------- reductions

namespace {

std::vector<int> normalize_axes(const std::vector<int>& axes, int ndim, const char* op) {
  std::vector<int> out;
  out.reserve(axes.size());
  for (int a : axes) out.push_back(normalize_axis(a, ndim, op));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end()) {
    fail(op, cat("repeated axis in ", tuple_str(axes), "."));
  }
  return out;
}

std::vector<int> all_axes(const array& a) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  return axes;
}

Shape reduced_shape(const Shape& in, const std::vector<int>& axes, bool keepdims) {
  Shape out;
  for (int i = 0; i < static_cast<int>(in.size()); ++i) {
    bool reduced = std::binary_search(axes.begin(), axes.end(), i);
    if (!reduced) {
      out.push_back(in[i]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  return out;
}

array reduce_op(const array& a, const std::vector<int>& axes_in, bool keepdims,
                cpu::ReduceOp op, const char* name, const StreamOrDevice& s) {
  OuterOp outer(name);
  std::vector<int> axes = normalize_axes(axes_in, a.ndim(), name);
  if (op == cpu::ReduceOp::max || op == cpu::ReduceOp::min) {
    for (int ax : axes) {
      if (a.shape()[ax] == 0) {
        fail(name, cat("cannot reduce over axis ", ax, " of size 0 (shape ",
                       tuple_str(a.shape()), ")."));
      }
    }
  }
  Dtype t = a.dtype();
  array in = a;
  switch (op) {
    case cpu::ReduceOp::all:
    case cpu::ReduceOp::any:
      t = bool_;
      if (a.dtype() != bool_) in = astype(a, bool_, s);
      break;
    case cpu::ReduceOp::sum:
    case cpu::ReduceOp::prod:
      if (t == bool_) t = int32;
      if (t == uint8) t = uint32;
      if (t != a.dtype()) in = astype(a, t, s);
      break;
    default: break;
  }
  return make_array(reduced_shape(a.shape(), axes, keepdims), t,
                    std::make_shared<detail::Reduce>(op, name, axes), {std::move(in)}, s,
                    name);
}

}  // namespace

#define RILL_DEFINE_REDUCTION(NAME)                                                      \
  array NAME(const array& a, bool keepdims, StreamOrDevice s) {                          \
    return NAME(a, all_axes(a), keepdims, s);                                            \
  }                                                                                      \
  array NAME(const array& a, StreamOrDevice s) { return NAME(a, all_axes(a), false, s); } \
  array NAME(const array& a, int axis, bool keepdims, StreamOrDevice s) {                \
    return NAME(a, std::vector<int>{axis}, keepdims, s);                                 \
  }
RILL_DEFINE_REDUCTION(sum)
RILL_DEFINE_REDUCTION(mean)
RILL_DEFINE_REDUCTION(prod)
RILL_DEFINE_REDUCTION(max)
RILL_DEFINE_REDUCTION(min)
RILL_DEFINE_REDUCTION(all)
RILL_DEFINE_REDUCTION(any)
#undef RILL_DEFINE_REDUCTION

array sum(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return reduce_op(a, axes, keepdims, cpu::ReduceOp::sum, "sum", s);
}
array prod(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return reduce_op(a, axes, keepdims, cpu::ReduceOp::prod, "prod", s);
}
array max(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return reduce_op(a, axes, keepdims, cpu::ReduceOp::max, "max", s);
}
array min(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return reduce_op(a, axes, keepdims, cpu::ReduceOp::min, "min", s);
}
array all(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return reduce_op(a, axes, keepdims, cpu::ReduceOp::all, "all", s);
}
array any(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return reduce_op(a, axes, keepdims, cpu::ReduceOp::any, "any", s);
}
array mean(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  OuterOp outer("mean");
  std::vector<int> norm = normalize_axes(axes, a.ndim(), "mean");
  double count = 1;
  for (int ax : norm) count *= a.shape()[ax];
  Dtype t = is_floating_point(a.dtype()) ? a.dtype() : float32;
  // Half types sum and divide in float32: rounding the sum first loses bits.
  Dtype acc = t.size < 4 ? float32 : t;
  array in = a.dtype() == acc ? a : astype(a, acc, s);
  array total = reduce_op(in, norm, keepdims, cpu::ReduceOp::sum, "mean", s);
  return astype(divide(total, array(count, acc), s), t, s);
}

namespace {

array arg_reduce_op(const array& a, int axis, bool keepdims, cpu::ArgReduceOp op,
                    const char* name, const StreamOrDevice& s) {
  int ax = normalize_axis(axis, a.ndim(), name);
  if (a.shape()[ax] == 0) {
    fail(name, cat("cannot reduce over axis ", ax, " of size 0 (shape ", tuple_str(a.shape()),
                   ")."));
  }
  return make_array(reduced_shape(a.shape(), {ax}, keepdims), uint32,
                    std::make_shared<detail::ArgReduce>(op, name, ax), {a}, s, name);
}

array arg_reduce_flat(const array& a, bool keepdims, cpu::ArgReduceOp op, const char* name,
                      const StreamOrDevice& s) {
  OuterOp outer(name);
  if (a.size() == 0) fail(name, cat("cannot reduce an empty array (shape ",
                                    tuple_str(a.shape()), ")."));
  array flat = reshape(a, {static_cast<int32_t>(a.size())}, s);
  array out = arg_reduce_op(flat, 0, false, op, name, s);
  if (keepdims) out = reshape(out, Shape(a.ndim(), 1), s);
  return out;
}

}  // namespace

array argmax(const array& a, bool keepdims, StreamOrDevice s) {
  return arg_reduce_flat(a, keepdims, cpu::ArgReduceOp::argmax, "argmax", s);
}
array argmax(const array& a, StreamOrDevice s) { return argmax(a, false, s); }
array argmax(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return arg_reduce_op(a, axis, keepdims, cpu::ArgReduceOp::argmax, "argmax", s);
}
array argmin(const array& a, bool keepdims, StreamOrDevice s) {
  return arg_reduce_flat(a, keepdims, cpu::ArgReduceOp::argmin, "argmin", s);
}
array argmin(const array& a, StreamOrDevice s) { return argmin(a, false, s); }
array argmin(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return arg_reduce_op(a, axis, keepdims, cpu::ArgReduceOp::argmin, "argmin", s);
}

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

// ---------------------------------------------------------------- views

namespace {

array view(const array& a, Shape shape, detail::View::Kind kind, const char* name,
           const StreamOrDevice& s, std::vector<int> axes = {}, Shape start = {},
           Shape step = {}) {
  return make_array(std::move(shape), a.dtype(),
                    std::make_shared<detail::View>(kind, name, std::move(axes), std::move(start),
                                                   std::move(step)),
                    {a}, s, name);
}

}  // namespace

array reshape(const array& a, Shape shape, StreamOrDevice s) {
  int infer = -1;
  size_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) fail("reshape", cat("only one dimension can be -1, got ", tuple_str(shape), "."));
      infer = static_cast<int>(i);
    } else if (shape[i] < 0) {
      fail("reshape", cat("negative dimension in shape ", tuple_str(shape), "."));
    } else {
      known *= static_cast<size_t>(shape[i]);
    }
  }
  if (infer >= 0) {
    if (known == 0 || a.size() % known != 0) {
      fail("reshape", cat("cannot reshape array of shape ", tuple_str(a.shape()), " into ",
                          tuple_str(shape), "."));
    }
    shape[infer] = static_cast<int32_t>(a.size() / known);
  } else if (known != a.size()) {
    fail("reshape", cat("cannot reshape array of size ", a.size(), " (shape ",
                        tuple_str(a.shape()), ") into shape ", tuple_str(shape), "."));
  }
  if (shape == a.shape()) {
    detail::check_stream(s, "reshape");
    return a;
  }
  return view(a, std::move(shape), detail::View::Kind::reshape, "reshape", s);
}

array flatten(const array& a, int start_axis, int end_axis, StreamOrDevice s) {
  OuterOp outer("flatten");
  if (a.ndim() == 0) return reshape(a, {1}, s);
  int start = normalize_axis(start_axis, a.ndim(), "flatten");
  int end = normalize_axis(end_axis, a.ndim(), "flatten");
  if (start > end) {
    fail("flatten", cat("start_axis ", start_axis, " is after end_axis ", end_axis,
                        " for an array of ", a.ndim(), " dimensions."));
  }
  Shape shape(a.shape().begin(), a.shape().begin() + start);
  int32_t n = 1;
  for (int i = start; i <= end; ++i) n *= a.shape()[i];
  shape.push_back(n);
  shape.insert(shape.end(), a.shape().begin() + end + 1, a.shape().end());
  return reshape(a, std::move(shape), s);
}
array flatten(const array& a, StreamOrDevice s) { return flatten(a, 0, -1, s); }

array transpose(const array& a, std::vector<int> axes, StreamOrDevice s) {
  if (static_cast<int>(axes.size()) != a.ndim()) {
    fail("transpose", cat("axes ", tuple_str(axes), " do not match an array of ", a.ndim(),
                          " dimensions."));
  }
  std::vector<bool> seen(a.ndim(), false);
  Shape shape(a.ndim());
  for (size_t i = 0; i < axes.size(); ++i) {
    int ax = normalize_axis(axes[i], a.ndim(), "transpose");
    if (seen[ax]) fail("transpose", cat("repeated axis in ", tuple_str(axes), "."));
    seen[ax] = true;
    axes[i] = ax;
    shape[i] = a.shape()[ax];
  }
  return view(a, std::move(shape), detail::View::Kind::transpose, "transpose", s,
              std::move(axes));
}
array transpose(const array& a, StreamOrDevice s) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.rbegin(), axes.rend(), 0);
  return transpose(a, std::move(axes), s);
}

array swapaxes(const array& a, int axis1, int axis2, StreamOrDevice s) {
  OuterOp outer("swapaxes");
  int a1 = normalize_axis(axis1, a.ndim(), "swapaxes");
  int a2 = normalize_axis(axis2, a.ndim(), "swapaxes");
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  std::swap(axes[a1], axes[a2]);
  return transpose(a, std::move(axes), s);
}

array expand_dims(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  OuterOp outer("expand_dims");
  int out_ndim = a.ndim() + static_cast<int>(axes.size());
  std::vector<int> norm = normalize_axes(axes, out_ndim, "expand_dims");
  Shape shape;
  size_t src = 0, k = 0;
  for (int i = 0; i < out_ndim; ++i) {
    if (k < norm.size() && norm[k] == i) {
      shape.push_back(1);
      ++k;
    } else {
      shape.push_back(a.shape()[src++]);
    }
  }
  return reshape(a, std::move(shape), s);
}
array expand_dims(const array& a, int axis, StreamOrDevice s) {
  return expand_dims(a, std::vector<int>{axis}, s);
}

array squeeze(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  OuterOp outer("squeeze");
  std::vector<int> norm = normalize_axes(axes, a.ndim(), "squeeze");
  Shape shape;
  for (int i = 0; i < a.ndim(); ++i) {
    if (std::binary_search(norm.begin(), norm.end(), i)) {
      if (a.shape()[i] != 1) {
        fail("squeeze", cat("cannot squeeze axis ", i, " of size ", a.shape()[i],
                            " (shape ", tuple_str(a.shape()), ")."));
      }
    } else {
      shape.push_back(a.shape()[i]);
    }
  }
  return reshape(a, std::move(shape), s);
}
array squeeze(const array& a, int axis, StreamOrDevice s) {
  return squeeze(a, std::vector<int>{axis}, s);
}
array squeeze(const array& a, StreamOrDevice s) {
  std::vector<int> axes;
  for (int i = 0; i < a.ndim(); ++i) {
    if (a.shape()[i] == 1) axes.push_back(i);
  }
  return squeeze(a, axes, s);
}

array broadcast_to(const array& a, const Shape& shape, StreamOrDevice s) {
  check_shape(shape, "broadcast_to");
  bool ok = shape.size() >= a.shape().size();
  for (size_t i = 0; ok && i < a.shape().size(); ++i) {
    int32_t from = a.shape()[i];
    int32_t to = shape[shape.size() - a.shape().size() + i];
    ok = from == to || from == 1;
  }
  if (!ok) {
    fail("broadcast_to", cat("cannot broadcast shape ", tuple_str(a.shape()), " to ",
                             tuple_str(shape), "."));
  }
  if (shape == a.shape()) {
    detail::check_stream(s, "broadcast_to");
    return a;
  }
  return view(a, shape, detail::View::Kind::broadcast, "broadcast_to", s);
}

array slice(const array& a, Shape start, Shape stop, Shape strides, StreamOrDevice s) {
  int nd = a.ndim();
  if (static_cast<int>(start.size()) != nd || static_cast<int>(stop.size()) != nd ||
      static_cast<int>(strides.size()) != nd) {
    fail("slice", cat("start ", tuple_str(start), ", stop ", tuple_str(stop), " and strides ",
                      tuple_str(strides), " must each have one entry per dimension (",
                      nd, ")."));
  }
  Shape shape(nd);
  for (int i = 0; i < nd; ++i) {
    int64_t n = a.shape()[i], step = strides[i];
    if (step == 0) fail("slice", cat("step of axis ", i, " is 0."));
    int64_t b = start[i], e = stop[i];
    if (b < 0) b += n;
    if (e < 0) e += n;
    int64_t len;
    if (step > 0) {
      b = std::clamp<int64_t>(b, 0, n);
      e = std::clamp<int64_t>(e, 0, n);
      len = e > b ? (e - b + step - 1) / step : 0;
    } else {
      b = std::clamp<int64_t>(b, -1, n - 1);
      e = std::clamp<int64_t>(e, -1, n - 1);
      len = b > e ? (b - e - step - 1) / (-step) : 0;
    }
    start[i] = static_cast<int32_t>(len > 0 ? b : 0);
    shape[i] = static_cast<int32_t>(len);
  }
  return view(a, std::move(shape), detail::View::Kind::slice, "slice", s, {}, std::move(start),
              std::move(strides));
}
array slice(const array& a, Shape start, Shape stop, StreamOrDevice s) {
  Shape steps(a.ndim(), 1);
  return slice(a, std::move(start), std::move(stop), std::move(steps), s);
}

array contiguous(const array& a, bool allow_col_major, StreamOrDevice s) {
  return make_array(a.shape(), a.dtype(), std::make_shared<detail::Contiguous>(allow_col_major),
                    {a}, s, "contiguous");
}

// ---------------------------------------------------------------- comparisons

array isclose(const array& a, const array& b, double rtol, double atol, bool equal_nan,
              StreamOrDevice s) {
  OuterOp outer("isclose");
  Dtype t = promote_types(promote_types(a.dtype(), b.dtype()), float32);
  array x = astype(a, t, s), y = astype(b, t, s);
  array tol = add(array(atol, t), multiply(array(rtol, t), abs(y, s), s), s);
  array close = logical_or(less_equal(abs(subtract(x, y, s), s), tol, s), equal(x, y, s), s);
  if (equal_nan) {
    array both_nan = logical_and(not_equal(x, x, s), not_equal(y, y, s), s);
    close = logical_or(close, both_nan, s);
  }
  return close;
}

array allclose(const array& a, const array& b, double rtol, double atol, bool equal_nan,
               StreamOrDevice s) {
  OuterOp outer("allclose");
  return all(isclose(a, b, rtol, atol, equal_nan, s), s);
}

array array_equal(const array& a, const array& b, bool equal_nan, StreamOrDevice s) {
  OuterOp outer("array_equal");
  if (a.shape() != b.shape()) {
    detail::check_stream(s, "array_equal");
    return array(false);
  }
  array eq = equal(a, b, s);
  if (equal_nan && is_floating_point(promote_types(a.dtype(), b.dtype()))) {
    eq = logical_or(eq, logical_and(not_equal(a, a, s), not_equal(b, b, s), s), s);
  }
  return all(eq, s);
}

// ---------------------------------------------------------------- softmax

namespace {

// The floating dtype an op computes in: integers and bool become float32.
Dtype at_least_float(Dtype t) {
  return is_floating_point(t) ? t : float32;
}

// The permutation that keeps the other axes in order and puts `axes` (sorted)
// last.
std::vector<int> axes_last(int ndim, const std::vector<int>& axes) {
  std::vector<int> perm;
  for (int i = 0; i < ndim; ++i) {
    if (!std::binary_search(axes.begin(), axes.end(), i)) perm.push_back(i);
  }
  perm.insert(perm.end(), axes.begin(), axes.end());
  return perm;
}

bool is_identity(const std::vector<int>& perm) {
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] != static_cast<int>(i)) return false;
  }
  return true;
}

std::vector<int> inverse(const std::vector<int>& perm) {
  std::vector<int> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<int>(i);
  return inv;
}

}  // namespace

// Always accumulates in float32 (float64 for float64), so `precise` changes
// nothing.
array softmax(const array& a, const std::vector<int>& axes, bool /*precise*/,
              StreamOrDevice s) {
  OuterOp outer("softmax");
  std::vector<int> ax = normalize_axes(axes, a.ndim(), "softmax");
  array in = astype(a, at_least_float(a.dtype()), s);
  std::vector<int> perm = axes_last(a.ndim(), ax);
  const bool moved = !is_identity(perm);
  if (moved) in = transpose(in, perm, s);
  Shape shape = in.shape();
  array out = make_array(std::move(shape), in.dtype(),
                         std::make_shared<detail::Softmax>(static_cast<int>(ax.size())),
                         {in}, s, "softmax");
  return moved ? transpose(out, inverse(perm), s) : out;
}
array softmax(const array& a, int axis, bool precise, StreamOrDevice s) {
  return softmax(a, std::vector<int>{axis}, precise, s);
}
array softmax(const array& a, bool precise, StreamOrDevice s) {
  return softmax(a, all_axes(a), precise, s);
}

// A reduction over an empty axis gives -inf (the log of an empty sum).
array logsumexp(const array& a, const std::vector<int>& axes, bool keepdims,
                StreamOrDevice s) {
  OuterOp outer("logsumexp");
  std::vector<int> ax = normalize_axes(axes, a.ndim(), "logsumexp");
  array in = astype(a, at_least_float(a.dtype()), s);
  std::vector<int> perm = axes_last(a.ndim(), ax);
  if (!is_identity(perm)) in = transpose(in, perm, s);
  array out = make_array(reduced_shape(a.shape(), ax, false), in.dtype(),
                         std::make_shared<detail::LogSumExp>(static_cast<int>(ax.size())),
                         {in}, s, "logsumexp");
  return keepdims ? reshape(out, reduced_shape(a.shape(), ax, true), s) : out;
}
array logsumexp(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return logsumexp(a, std::vector<int>{axis}, keepdims, s);
}
array logsumexp(const array& a, bool keepdims, StreamOrDevice s) {
  return logsumexp(a, all_axes(a), keepdims, s);
}
array logsumexp(const array& a, StreamOrDevice s) {
  return logsumexp(a, all_axes(a), false, s);
}

// ---------------------------------------------------------------- indexing

namespace {

void check_indices(const array& indices, const char* op) {
  if (!is_integral(indices.dtype())) {
    fail(op, cat("indices must be integers, got ", indices.dtype(), "."));
  }
}

}  // namespace

// Indices are checked when the op runs (their values are not known before):
// one outside [-n, n) fails the op with its value.
array take(const array& a, const array& indices, int axis, StreamOrDevice s) {
  int ax = normalize_axis(axis, a.ndim(), "take");
  check_indices(indices, "take");
  if (a.shape(ax) == 0 && indices.size() > 0) {
    fail("take", cat("cannot take from axis ", ax, " of size 0 (shape ",
                     tuple_str(a.shape()), ")."));
  }
  Shape shape(a.shape().begin(), a.shape().begin() + ax);
  shape.insert(shape.end(), indices.shape().begin(), indices.shape().end());
  shape.insert(shape.end(), a.shape().begin() + ax + 1, a.shape().end());
  return make_array(std::move(shape), a.dtype(),
                    std::make_shared<detail::Take>(ax, false), {a, indices}, s, "take");
}
array take(const array& a, const array& indices, StreamOrDevice s) {
  OuterOp outer("take");
  return take(flatten(a, s), indices, 0, s);
}
array take(const array& a, int index, int axis, StreamOrDevice s) {
  OuterOp outer("take");
  int ax = normalize_axis(axis, a.ndim(), "take");
  int n = a.shape(ax);
  if (index < -n || index >= n) {
    fail("take", cat("index ", index, " is out of range for axis ", ax, " of size ", n,
                     " (shape ", tuple_str(a.shape()), ")."));
  }
  return take(a, array(index), ax, s);
}
array take(const array& a, int index, StreamOrDevice s) {
  OuterOp outer("take");
  return take(flatten(a, s), index, 0, s);
}

array take_along_axis(const array& a, const array& indices, int axis, StreamOrDevice s) {
  const char* op = "take_along_axis";
  int ax = normalize_axis(axis, a.ndim(), op);
  check_indices(indices, op);
  if (indices.ndim() != a.ndim()) {
    fail(op, cat("indices of shape ", tuple_str(indices.shape()),
                 " must have as many dimensions as the array, of shape ",
                 tuple_str(a.shape()), "."));
  }
  Shape shape(a.ndim());
  for (int d = 0; d < a.ndim(); ++d) {
    int32_t da = a.shape(d), di = indices.shape(d);
    if (d != ax && da != di && da != 1 && di != 1) {
      fail(op, cat("indices of shape ", tuple_str(indices.shape()),
                   " do not broadcast with the array's shape ", tuple_str(a.shape()),
                   " off axis ", ax, "."));
    }
    shape[d] = d == ax ? di : (da == 1 ? di : da);
  }
  size_t count = 1;
  for (int32_t d : shape) count *= static_cast<size_t>(d);
  if (a.shape(ax) == 0 && count > 0) {
    fail(op, cat("cannot take from axis ", ax, " of size 0 (shape ", tuple_str(a.shape()),
                 ")."));
  }
  return make_array(std::move(shape), a.dtype(), std::make_shared<detail::Take>(ax, true),
                    {a, indices}, s, op);
}

// ---------------------------------------------------------------- joining

array concatenate(std::vector<array> arrays, int axis, StreamOrDevice s) {
  const char* op = "concatenate";
  OuterOp outer(op);
  if (arrays.empty()) fail(op, "no arrays given.");
  const Shape first = arrays[0].shape();
  const int nd = arrays[0].ndim();
  if (nd == 0) fail(op, "cannot concatenate 0-dimensional arrays.");
  int ax = normalize_axis(axis, nd, op);
  Dtype t = arrays[0].dtype();
  int64_t total = 0;
  for (size_t i = 0; i < arrays.size(); ++i) {
    const Shape& sh = arrays[i].shape();
    bool ok = sh.size() == first.size();
    for (int d = 0; ok && d < nd; ++d) ok = d == ax || sh[d] == first[d];
    if (!ok) {
      fail(op, cat("array ", i, " of shape ", tuple_str(sh),
                   " does not match array 0 of shape ", tuple_str(first), " off axis ",
                   ax, "."));
    }
    total += sh[ax];
    t = promote_types(t, arrays[i].dtype());
  }
  if (total > std::numeric_limits<int32_t>::max()) {
    fail(op, cat("the result would have ", total, " elements along axis ", ax, "."));
  }
  if (arrays.size() == 1) return astype(arrays[0], t, s);
  for (array& x : arrays) {
    if (x.dtype() != t) x = astype(x, t, s);
  }
  Shape shape = first;
  shape[ax] = static_cast<int32_t>(total);
  return make_array(std::move(shape), t, std::make_shared<detail::Concatenate>(ax, op),
                    std::move(arrays), s, op);
}
array concatenate(std::vector<array> arrays, StreamOrDevice s) {
  OuterOp outer("concatenate");
  for (array& x : arrays) x = flatten(x, s);
  return concatenate(std::move(arrays), 0, s);
}

array stack(const std::vector<array>& arrays, int axis, StreamOrDevice s) {
  const char* op = "stack";
  OuterOp outer(op);
  if (arrays.empty()) fail(op, "no arrays given.");
  const Shape& first = arrays[0].shape();
  int ax = normalize_axis(axis, arrays[0].ndim() + 1, op);
  Dtype t = arrays[0].dtype();
  for (size_t i = 0; i < arrays.size(); ++i) {
    if (arrays[i].shape() != first) {
      fail(op, cat("array ", i, " has shape ", tuple_str(arrays[i].shape()),
                   ", array 0 has shape ", tuple_str(first), "; all must match."));
    }
    t = promote_types(t, arrays[i].dtype());
  }
  std::vector<array> inputs;
  inputs.reserve(arrays.size());
  for (const array& x : arrays) inputs.push_back(astype(x, t, s));
  Shape shape = first;
  shape.insert(shape.begin() + ax, static_cast<int32_t>(arrays.size()));
  return make_array(std::move(shape), t, std::make_shared<detail::Concatenate>(ax, op),
                    std::move(inputs), s, op);
}
array stack(const std::vector<array>& arrays, StreamOrDevice s) {
  return stack(arrays, 0, s);
}

// ---------------------------------------------------------------- splitting

// Parts a[..., prev:index, ...] with Python's slice semantics, as NumPy's
// array_split: negative indices count from the end, others are clamped.
std::vector<array> split(const array& a, const Shape& indices, int axis,
                         StreamOrDevice s) {
  OuterOp outer("split");
  int ax = normalize_axis(axis, a.ndim(), "split");
  std::vector<array> parts;
  parts.reserve(indices.size() + 1);
  Shape start(a.ndim(), 0), stop = a.shape();
  for (size_t i = 0; i <= indices.size(); ++i) {
    stop[ax] = i < indices.size() ? indices[i] : a.shape(ax);
    parts.push_back(slice(a, start, stop, s));
    start[ax] = stop[ax];
  }
  return parts;
}
std::vector<array> split(const array& a, const Shape& indices, StreamOrDevice s) {
  return split(a, indices, 0, s);
}
std::vector<array> split(const array& a, int num_splits, int axis, StreamOrDevice s) {
  int ax = normalize_axis(axis, a.ndim(), "split");
  if (num_splits <= 0)
    fail("split", cat("num_splits must be positive, got ", num_splits, "."));
  int n = a.shape(ax);
  if (n % num_splits != 0) {
    fail("split", cat("axis ", ax, " of size ", n, " (shape ", tuple_str(a.shape()),
                      ") cannot be split into ", num_splits, " equal parts."));
  }
  Shape indices;
  for (int i = 1; i < num_splits; ++i) indices.push_back(i * (n / num_splits));
  return split(a, indices, ax, s);
}
std::vector<array> split(const array& a, int num_splits, StreamOrDevice s) {
  return split(a, num_splits, 0, s);
}

// ---------------------------------------------------------------- pad

array pad(const array& a, const std::vector<int>& axes, const Shape& low_pad_size,
          const Shape& high_pad_size, const array& pad_value, const std::string& mode,
          StreamOrDevice s) {
  const char* op = "pad";
  OuterOp outer(op);
  if (axes.size() != low_pad_size.size() || axes.size() != high_pad_size.size()) {
    fail(op, cat("axes ", tuple_str(axes), ", low pad sizes ", tuple_str(low_pad_size),
                 " and high pad sizes ", tuple_str(high_pad_size),
                 " must have the same length."));
  }
  if (mode != "constant" && mode != "edge") {
    fail(op, cat("mode must be \"constant\" or \"edge\", got \"", mode, "\"."));
  }
  if (pad_value.size() != 1) {
    fail(op, cat("pad_value must be a single value, got shape ",
                 tuple_str(pad_value.shape()), "."));
  }
  const bool edge = mode == "edge";
  std::vector<int> low(a.ndim(), 0);
  std::vector<bool> seen(a.ndim(), false);
  Shape shape = a.shape();
  for (size_t i = 0; i < axes.size(); ++i) {
    int ax = normalize_axis(axes[i], a.ndim(), op);
    if (seen[ax]) fail(op, cat("repeated axis in ", tuple_str(axes), "."));
    seen[ax] = true;
    int lo = low_pad_size[i], hi = high_pad_size[i];
    if (lo < 0 || hi < 0) {
      fail(op, cat("pad sizes must be non-negative, got low ", lo, " and high ", hi,
                   " for axis ", axes[i], "."));
    }
    if (edge && a.shape(ax) == 0 && lo + hi > 0) {
      fail(op, cat("cannot edge-pad axis ", ax, " of size 0 (shape ",
                   tuple_str(a.shape()), ")."));
    }
    int64_t n = int64_t(shape[ax]) + lo + hi;
    if (n > std::numeric_limits<int32_t>::max()) {
      fail(op, cat("axis ", ax, " would have ", n, " elements."));
    }
    shape[ax] = static_cast<int32_t>(n);
    low[ax] = lo;
  }
  array value = astype(reshape(pad_value, {}, s), a.dtype(), s);
  return make_array(std::move(shape), a.dtype(), std::make_shared<detail::Pad>(low, edge),
                    {a, value}, s, op);
}
array pad(const array& a, const std::vector<std::pair<int, int>>& pad_width,
          const array& pad_value, const std::string& mode, StreamOrDevice s) {
  if (static_cast<int>(pad_width.size()) != a.ndim()) {
    fail("pad", cat("got ", pad_width.size(), " (low, high) pairs for an array of ",
                    a.ndim(), " dimensions."));
  }
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  Shape low, high;
  for (const auto& [lo, hi] : pad_width) {
    low.push_back(lo);
    high.push_back(hi);
  }
  return pad(a, axes, low, high, pad_value, mode, s);
}
array pad(const array& a, const std::pair<int, int>& pad_width, const array& pad_value,
          const std::string& mode, StreamOrDevice s) {
  return pad(a, std::vector<std::pair<int, int>>(a.ndim(), pad_width), pad_value, mode,
             s);
}
array pad(const array& a, int pad_width, const array& pad_value, const std::string& mode,
          StreamOrDevice s) {
  return pad(a, std::pair<int, int>(pad_width, pad_width), pad_value, mode, s);
}

// ---------------------------------------------------------------- cumsum

// bool and uint8 promote as in sum; floats accumulate in double.
array cumsum(const array& a, int axis, bool reverse, bool inclusive, StreamOrDevice s) {
  OuterOp outer("cumsum");
  int ax = normalize_axis(axis, a.ndim(), "cumsum");
  Dtype t = a.dtype() == bool_ ? int32 : (a.dtype() == uint8 ? uint32 : a.dtype());
  return make_array(a.shape(), t,
                    std::make_shared<detail::Cumsum>(ax, reverse, inclusive),
                    {astype(a, t, s)}, s, "cumsum");
}

// ---------------------------------------------------------------- sorting

namespace {

array sort_op(const array& a, int axis, cpu::SortOp op, const char* name, int kth,
              const StreamOrDevice& s) {
  int ax = normalize_axis(axis, a.ndim(), name);
  Shape shape = a.shape();
  int n = shape[ax];
  if (op == cpu::SortOp::partition || op == cpu::SortOp::argpartition) {
    int k = kth < 0 ? kth + n : kth;
    if (k < 0 || k >= n) {
      fail(name, cat("kth ", kth, " is out of range for axis ", ax, " of size ", n,
                     " (shape ", tuple_str(a.shape()), ")."));
    }
    kth = k;
  } else if (op == cpu::SortOp::topk) {
    if (kth < 0 || kth > n) {
      fail(name, cat("k ", kth, " is out of range for axis ", ax, " of size ", n,
                     " (shape ", tuple_str(a.shape()), ")."));
    }
    shape[ax] = kth;
  }
  bool arg = op == cpu::SortOp::argsort || op == cpu::SortOp::argpartition;
  return make_array(std::move(shape), arg ? uint32 : a.dtype(),
                    std::make_shared<detail::Sort>(op, ax, kth), {a}, s, name);
}

}  // namespace

array sort(const array& a, int axis, StreamOrDevice s) {
  return sort_op(a, axis, cpu::SortOp::sort, "sort", 0, s);
}
array sort(const array& a, StreamOrDevice s) {
  OuterOp outer("sort");
  return sort(flatten(a, s), 0, s);
}
array argsort(const array& a, int axis, StreamOrDevice s) {
  return sort_op(a, axis, cpu::SortOp::argsort, "argsort", 0, s);
}
array argsort(const array& a, StreamOrDevice s) {
  OuterOp outer("argsort");
  return argsort(flatten(a, s), 0, s);
}
array partition(const array& a, int kth, int axis, StreamOrDevice s) {
  return sort_op(a, axis, cpu::SortOp::partition, "partition", kth, s);
}
array partition(const array& a, int kth, StreamOrDevice s) {
  OuterOp outer("partition");
  return partition(flatten(a, s), kth, 0, s);
}
array argpartition(const array& a, int kth, int axis, StreamOrDevice s) {
  return sort_op(a, axis, cpu::SortOp::argpartition, "argpartition", kth, s);
}
array argpartition(const array& a, int kth, StreamOrDevice s) {
  OuterOp outer("argpartition");
  return argpartition(flatten(a, s), kth, 0, s);
}
// The k largest in ascending order (MLX leaves the order unspecified).
array topk(const array& a, int k, int axis, StreamOrDevice s) {
  return sort_op(a, axis, cpu::SortOp::topk, "topk", k, s);
}
array topk(const array& a, int k, StreamOrDevice s) {
  OuterOp outer("topk");
  return topk(flatten(a, s), k, 0, s);
}

}  // namespace rill
