// Elementwise ops: unary, binary (with type promotion and broadcasting),
// where, and the comparisons built from them (isclose, allclose,
// array_equal).
#include "rill/ops.h"

#include <atomic>
#include <limits>
#include <memory>
#include <stdexcept>

#include "core/format.h"
#include "core/op_checks.h"
#include "core/primitives.h"

namespace rill {

using detail::broadcast_or_fail;
using detail::BinaryOp;
using detail::UnaryOp;

namespace {

// Binary primitives hold no per-node state, so every node of one op shares a
// static instance through a non-owning shared_ptr (aliasing an empty owner):
// no allocation per node, and no reference count for threads to contend on.
std::shared_ptr<detail::Primitive> shared_binary(BinaryOp op) {
  static std::atomic<detail::Binary*> table[detail::kBinaryOps];  // made once each, never freed
  auto& slot = table[static_cast<int>(op)];
  detail::Binary* p = slot.load(std::memory_order_acquire);
  if (!p) {
    auto* made = new detail::Binary(op);
    if (slot.compare_exchange_strong(p, made, std::memory_order_acq_rel)) {
      p = made;
    } else {
      delete made;  // another thread won; `p` is its instance
    }
  }
  return std::shared_ptr<detail::Primitive>(std::shared_ptr<void>(), p);
}

array unary_op(const array& a, UnaryOp op, Dtype out_type, const StreamOrDevice& s,
               int decimals = 0) {
  const char* name = detail::op_name(op);
  OuterOp outer(name);
  array in = a.dtype() == out_type || op == UnaryOp::logical_not
                 ? a
                 : astype(a, out_type, s);
  return make_array(a.shape(), out_type,
                    std::make_shared<detail::Unary>(op, decimals), {in}, s, name);
}

// The rules of rill/op_list.h. same: the input's dtype.
array unary_same(const array& a, UnaryOp op, const StreamOrDevice& s) {
  return unary_op(a, op, a.dtype(), s);
}
// floating: integer and bool inputs compute in float32.
array unary_floating(const array& a, UnaryOp op, const StreamOrDevice& s) {
  Dtype t = is_floating_point(a.dtype()) || is_complex(a.dtype()) ? a.dtype() : float32;
  return unary_op(a, op, t, s);
}

// add, multiply, ...: inputs promoted to a common dtype; `out` overrides the
// result dtype (bool for comparisons).
array binary_op(const array& a, const array& b, BinaryOp op, const StreamOrDevice& s,
                Dtype common, Dtype out) {
  const char* name = detail::op_name(op);
  OuterOp outer(name);
  Shape shape = broadcast_or_fail(a.shape(), b.shape(), name);
  array x = a.dtype() == common ? a : astype(a, common, s);
  array y = b.dtype() == common ? b : astype(b, common, s);
  return make_array(std::move(shape), out, shared_binary(op),
                    {std::move(x), std::move(y)}, s, name);
}

// The rules of rill/op_list.h. arith: the common dtype in and out.
array binary_arith(const array& a, const array& b, BinaryOp op, const StreamOrDevice& s) {
  Dtype t = promote_types(a.dtype(), b.dtype());
  return binary_op(a, b, op, s, t, t);
}
// compare: the common dtype in, bool out.
array binary_compare(const array& a, const array& b, BinaryOp op, const StreamOrDevice& s) {
  return binary_op(a, b, op, s, promote_types(a.dtype(), b.dtype()), bool_);
}
// floating: the common dtype in and out, float32 if it is not floating.
array binary_floating(const array& a, const array& b, BinaryOp op, const StreamOrDevice& s) {
  Dtype t = promote_types(a.dtype(), b.dtype());
  if (!is_floating_point(t) && !is_complex(t)) t = float32;
  return binary_op(a, b, op, s, t, t);
}
// bitwise, shift: integers and bool only; two bools shift as uint8.
Dtype bitwise_type(const array& a, const array& b, BinaryOp op, bool shift) {
  Dtype t = promote_types(a.dtype(), b.dtype());
  if (is_floating_point(t)) {
    fail(detail::op_name(op), cat("takes integer or bool arrays, got ", a.dtype(), " and ",
                                  b.dtype(), "."));
  }
  return shift && t == bool_ ? uint8 : t;
}
array binary_bitwise(const array& a, const array& b, BinaryOp op, const StreamOrDevice& s) {
  Dtype t = bitwise_type(a, b, op, false);
  return binary_op(a, b, op, s, t, t);
}
array binary_shift(const array& a, const array& b, BinaryOp op, const StreamOrDevice& s) {
  Dtype t = bitwise_type(a, b, op, true);
  return binary_op(a, b, op, s, t, t);
}
// logical: bool in and out.
array binary_logical(const array& a, const array& b, BinaryOp op, const StreamOrDevice& s) {
  return binary_op(a, b, op, s, bool_, bool_);
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  return broadcast_or_fail(a, b, "broadcast_shapes");
}

// ---------------------------------------------------------------- unary

// One function per op of rill/op_list.h with a generic rule.
#define RILL_UNARY_RULE_same(name) \
  array name(const array& a, StreamOrDevice s) { return unary_same(a, UnaryOp::name, s); }
#define RILL_UNARY_RULE_floating(name) \
  array name(const array& a, StreamOrDevice s) { return unary_floating(a, UnaryOp::name, s); }
#define RILL_UNARY_RULE_bitwise(name)                                       \
  array name(const array& a, StreamOrDevice s) {                            \
    if (is_floating_point(a.dtype())) {                                     \
      fail(#name, cat("takes an integer or bool array, got ", a.dtype(), "."));  \
    }                                                                       \
    return unary_same(a, UnaryOp::name, s);                                 \
  }
#define RILL_UNARY_RULE_custom(name)
#define RILL_UNARY_RULE_internal(name)
#define RILL_UNARY_DEFINE(name, rule) RILL_UNARY_RULE_##rule(name)
RILL_UNARY_OPS(RILL_UNARY_DEFINE)
#undef RILL_UNARY_DEFINE
#undef RILL_UNARY_RULE_internal
#undef RILL_UNARY_RULE_custom
#undef RILL_UNARY_RULE_bitwise
#undef RILL_UNARY_RULE_floating
#undef RILL_UNARY_RULE_same

array negative(const array& a, StreamOrDevice s) {
  if (a.dtype() == bool_) fail("negative", "not supported for bool; use logical_not.");
  return unary_same(a, UnaryOp::negative, s);
}
array abs(const array& a, StreamOrDevice s) {
  if (!is_complex(a.dtype())) return unary_same(a, UnaryOp::abs, s);
  OuterOp outer("abs");
  return astype(unary_same(a, UnaryOp::abs, s), float32, s);
}
array conjugate(const array& a, StreamOrDevice s) {
  if (!is_complex(a.dtype())) return a;
  return unary_same(a, UnaryOp::conjugate, s);
}
// real and imag: complex64 in, float32 out (the unary kernels' one exception
// to "out has in's dtype" besides logical_not).
array real(const array& a, StreamOrDevice s) {
  if (!is_complex(a.dtype())) return a;
  return make_array(a.shape(), float32, std::make_shared<detail::Unary>(UnaryOp::real), {a},
                    s, "real");
}
array imag(const array& a, StreamOrDevice s) {
  if (!is_complex(a.dtype())) return zeros_like(a, s);
  return make_array(a.shape(), float32, std::make_shared<detail::Unary>(UnaryOp::imag), {a},
                    s, "imag");
}
namespace detail {
array make_complex(const array& re, const array& im, const StreamOrDevice& s) {
  Shape shape = broadcast_or_fail(re.shape(), im.shape(), "complex");
  array r = re.dtype() == float32 ? re : astype(re, float32, s);
  array i = im.dtype() == float32 ? im : astype(im, float32, s);
  return make_array(std::move(shape), complex64, std::make_shared<MakeComplex>(), {r, i}, s,
                    "complex");
}
}  // namespace detail

array round(const array& a, int decimals, StreamOrDevice s) {
  if (!is_floating_point(a.dtype()) && decimals < 0) {
    fail("round", cat("negative decimals (", decimals, ") need a floating point array, got ",
                      a.dtype(), "."));
  }
  return unary_op(a, UnaryOp::round, a.dtype(), s, decimals);
}
array round(const array& a, StreamOrDevice s) { return round(a, 0, s); }
array logical_not(const array& a, StreamOrDevice s) {
  return unary_op(a, UnaryOp::logical_not, bool_, s);
}

// ---------------------------------------------------------------- binary

// One function per op of rill/op_list.h with a generic rule: it calls the
// rule's binary_<rule> above. `custom` ops are written by hand below.
#define RILL_BINARY_GENERIC(name, rule)                          \
  array name(const array& a, const array& b, StreamOrDevice s) { \
    return binary_##rule(a, b, BinaryOp::name, s);               \
  }
#define RILL_BINARY_SKIP(name, rule)
#define RILL_BINARY_PICK_arith RILL_BINARY_GENERIC
#define RILL_BINARY_PICK_compare RILL_BINARY_GENERIC
#define RILL_BINARY_PICK_floating RILL_BINARY_GENERIC
#define RILL_BINARY_PICK_logical RILL_BINARY_GENERIC
#define RILL_BINARY_PICK_bitwise RILL_BINARY_GENERIC
#define RILL_BINARY_PICK_shift RILL_BINARY_GENERIC
#define RILL_BINARY_PICK_custom RILL_BINARY_SKIP
#define RILL_BINARY_DEFINE(name, rule) RILL_BINARY_PICK_##rule(name, rule)
RILL_BINARY_OPS(RILL_BINARY_DEFINE)
#undef RILL_BINARY_DEFINE
#undef RILL_BINARY_PICK_custom
#undef RILL_BINARY_PICK_shift
#undef RILL_BINARY_PICK_bitwise
#undef RILL_BINARY_PICK_logical
#undef RILL_BINARY_PICK_floating
#undef RILL_BINARY_PICK_compare
#undef RILL_BINARY_PICK_arith
#undef RILL_BINARY_SKIP
#undef RILL_BINARY_GENERIC

array subtract(const array& a, const array& b, StreamOrDevice s) {
  if (a.dtype() == bool_ && b.dtype() == bool_) {
    fail("subtract", "not supported for two bool arrays; use logical ops.");
  }
  return binary_arith(a, b, BinaryOp::subtract, s);
}
array divide(const array& a, const array& b, StreamOrDevice s) {
  Dtype t = promote_types(a.dtype(), b.dtype());
  if (!is_floating_point(t) && !is_complex(t)) t = float32;  // true division
  return binary_op(a, b, BinaryOp::divide, s, t, t);
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

namespace {
array inf_like(const array& a, double sign) {
  return array(sign * std::numeric_limits<double>::infinity(), a.dtype());
}
}  // namespace

// NaN is the one value unequal to itself; integers never are.
array isnan(const array& a, StreamOrDevice s) {
  OuterOp outer("isnan");
  return not_equal(a, a, s);
}
array isinf(const array& a, StreamOrDevice s) {
  OuterOp outer("isinf");
  if (!is_floating_point(a.dtype())) return not_equal(a, a, s);  // all false
  return equal(abs(a, s), inf_like(a, 1), s);
}
array isfinite(const array& a, StreamOrDevice s) {
  OuterOp outer("isfinite");
  if (!is_floating_point(a.dtype())) return equal(a, a, s);  // all true
  return less(abs(a, s), inf_like(a, 1), s);  // false for NaN too
}
array isposinf(const array& a, StreamOrDevice s) {
  OuterOp outer("isposinf");
  if (!is_floating_point(a.dtype())) return not_equal(a, a, s);
  return equal(a, inf_like(a, 1), s);
}
namespace {
// The largest finite value of a floating dtype.
double max_finite(Dtype t) {
  if (t == float16) return 65504.0;
  if (t == bfloat16) return 3.3895313892515355e38;
  if (t == float32) return std::numeric_limits<float>::max();
  return std::numeric_limits<double>::max();
}
}  // namespace

array nan_to_num(const array& a, float nan, std::optional<float> posinf,
                 std::optional<float> neginf, StreamOrDevice s) {
  OuterOp outer("nan_to_num");
  detail::check_stream(s, "nan_to_num");
  if (!is_floating_point(a.dtype())) return a;
  const Dtype t = a.dtype();
  const double hi = posinf ? double(*posinf) : max_finite(t);
  const double lo = neginf ? double(*neginf) : -max_finite(t);
  array out = where(isnan(a, s), array(double(nan), t), a, s);
  out = where(isposinf(a, s), array(hi, t), out, s);
  return where(isneginf(a, s), array(lo, t), out, s);
}

array clip(const array& a, const std::optional<array>& a_min, const std::optional<array>& a_max,
           StreamOrDevice s) {
  OuterOp outer("clip");
  if (!a_min && !a_max) fail("clip", "needs a_min or a_max (or both), got neither.");
  Dtype t = a.dtype();
  Shape shape = a.shape();
  for (const auto* b : {&a_min, &a_max}) {
    if (!*b) continue;
    t = promote_types(t, (*b)->dtype());
    shape = broadcast_or_fail(shape, (*b)->shape(), "clip");
  }
  if (is_complex(t)) {  // ordered by the real part, as maximum and minimum are
    array out = a;
    if (a_min) out = maximum(out, *a_min, s);
    if (a_max) out = minimum(out, *a_max, s);
    return out;
  }
  // maximum then minimum, in one pass over the elements.
  std::vector<array> in{a.dtype() == t ? a : astype(a, t, s)};
  for (const auto* b : {&a_min, &a_max}) {
    if (*b) in.push_back((*b)->dtype() == t ? **b : astype(**b, t, s));
  }
  return make_array(std::move(shape), t,
                    std::make_shared<detail::Clip>(a_min.has_value(), a_max.has_value()),
                    std::move(in), s, "clip");
}

std::vector<array> divmod(const array& a, const array& b, StreamOrDevice s) {
  OuterOp outer("divmod");
  return {floor_divide(a, b, s), remainder(a, b, s)};
}

array isneginf(const array& a, StreamOrDevice s) {
  OuterOp outer("isneginf");
  if (!is_floating_point(a.dtype())) return not_equal(a, a, s);
  return equal(a, inf_like(a, -1), s);
}

array isclose(const array& a, const array& b, double rtol, double atol, bool equal_nan,
              StreamOrDevice s) {
  OuterOp outer("isclose");
  Dtype t = promote_types(promote_types(a.dtype(), b.dtype()), float32);
  array x = astype(a, t, s), y = astype(b, t, s);
  array tol = add(array(atol, t), multiply(array(rtol, t), abs(y, s), s), s);
  // Within the tolerance where both are finite (an infinity's tolerance is
  // infinite too), or equal: infinities are close only to themselves, as in MLX.
  array finite = logical_not(logical_or(isinf(x, s), isinf(y, s), s), s);
  array close = logical_or(logical_and(less_equal(abs(subtract(x, y, s), s), tol, s), finite, s),
                           equal(x, y, s), s);
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

namespace rill {
array positive(const array& a, StreamOrDevice s) {
  // +a: the array itself, as MLX returns it.
  detail::check_stream(s, "positive");
  return a;
}
}  // namespace rill
