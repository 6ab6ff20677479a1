// Ops that make arrays: full, zeros, ones, arange, linspace, eye, identity,
// the windows (hanning, hamming, blackman, bartlett), number_of_elements,
// astype, copy. They validate the arguments and record a node; nothing here
// computes (as in every core/ops_*.cpp).
#include "rill/ops.h"

#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>

#include "core/format.h"
#include "core/op_checks.h"
#include "core/primitives.h"

namespace rill {

using detail::broadcast_or_fail;
using detail::check_shape;

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

array identity(int n, Dtype dtype, StreamOrDevice s) {
  OuterOp outer("identity");
  return eye(n, n, 0, dtype, s);
}
array identity(int n, StreamOrDevice s) { return identity(n, float32, s); }

array linspace(double start, double stop, int num, bool endpoint, Dtype dtype, StreamOrDevice s) {
  OuterOp outer("linspace");
  if (num < 0) fail("linspace", cat("num must be non-negative, got ", num, "."));
  if (!std::isfinite(start) || !std::isfinite(stop)) {
    fail("linspace", cat("start and stop must be finite, got ", start, " and ", stop, "."));
  }
  // start (1 - t) + stop t in float32 (float64 when asked for): both ends exact.
  const Dtype t = dtype == float64 ? float64 : float32;
  const int den = endpoint ? std::max(num - 1, 1) : std::max(num, 1);
  array frac = divide(arange(0.0, num, 1.0, t, s), array(double(den), t), s);
  array out = add(multiply(array(start, t), subtract(array(1.0, t), frac, s), s),
                  multiply(array(stop, t), frac, s), s);
  return astype(out, dtype, s);
}
array linspace(double start, double stop, int num, Dtype dtype, StreamOrDevice s) {
  return linspace(start, stop, num, true, dtype, s);
}

// ---- Windows: float32, of length M, 1 for M == 1 ----
namespace {
// sum_j coef[j] cos(2 pi j n / (M - 1)) with alternating signs, n = 0..M-1.
array cosine_window(int M, std::initializer_list<double> coef, const char* name,
                    const StreamOrDevice& s) {
  OuterOp outer(name);
  if (M < 0) fail(name, cat("M must be non-negative, got ", M, "."));
  if (M <= 1) return ones({M}, float32, s);
  array n = arange(0.0, M, 1.0, float32, s);
  array out = zeros({M}, float32, s);
  double sign = 1, j = 0;
  for (double c : coef) {
    array phase = multiply(n, array(2.0 * M_PI * j / (M - 1), float32), s);
    out = add(out, multiply(array(sign * c, float32), cos(phase, s), s), s);
    sign = -sign;
    j += 1;
  }
  return out;
}
}  // namespace

array hanning(int M, StreamOrDevice s) { return cosine_window(M, {0.5, 0.5}, "hanning", s); }
array hamming(int M, StreamOrDevice s) { return cosine_window(M, {0.54, 0.46}, "hamming", s); }
array blackman(int M, StreamOrDevice s) {
  return cosine_window(M, {0.42, 0.5, 0.08}, "blackman", s);
}
array bartlett(int M, StreamOrDevice s) {
  OuterOp outer("bartlett");
  if (M < 0) fail("bartlett", cat("M must be non-negative, got ", M, "."));
  if (M <= 1) return ones({M}, float32, s);
  // 1 - |2n / (M - 1) - 1|
  array n = arange(0.0, M, 1.0, float32, s);
  array x = subtract(multiply(n, array(2.0 / (M - 1), float32), s), array(1.0f), s);
  return subtract(array(1.0f), abs(x, s), s);
}

array number_of_elements(const array& a, std::vector<int> axes, bool inverted, Dtype dtype,
                         StreamOrDevice s) {
  OuterOp outer("number_of_elements");
  std::vector<int> ax = detail::normalize_axes(axes, a.ndim(), "number_of_elements");
  double n = 1;
  for (int i : ax) n *= a.shape(i);
  detail::check_stream(s, "number_of_elements");
  return astype(array(inverted ? 1.0 / n : n, float64), dtype, s);
}

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

}  // namespace rill
