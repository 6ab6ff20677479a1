// Elementwise ops: unary, binary (with type promotion and broadcasting),
// where, and the comparisons built from them (isclose, allclose,
// array_equal).
#include "rill/ops.h"

#include <atomic>
#include <memory>
#include <stdexcept>

#include "core/format.h"
#include "core/op_checks.h"
#include "core/primitives.h"

namespace rill {

using detail::broadcast_or_fail;
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

}  // namespace rill
