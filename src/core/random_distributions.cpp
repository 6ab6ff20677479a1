// The distributions MLX builds from uniform and normal draws: normal with
// array parameters, randint, bernoulli, truncated_normal, gumbel,
// categorical, laplace, permutation and multivariate_normal. Each takes one
// key (or the thread's next one) and splits it where it needs several draws.
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "core/format.h"
#include "core/node.h"
#include "rill/linalg.h"
#include "rill/ops.h"
#include "rill/random.h"

namespace rill::random {

using detail::cat;
using detail::tuple_str;

namespace {

[[noreturn]] void fail(const char* op, const std::string& what) {
  throw std::invalid_argument(cat("[", detail::OuterOp::name(op), "] ", what));
}

void check_floating(Dtype t, const char* op) {
  if (!is_floating_point(t)) fail(op, cat("dtype must be floating point, got ", t, "."));
}

}  // namespace

array normal(const Shape& shape, Dtype dtype, const std::optional<array>& loc,
             const std::optional<array>& scale, const std::optional<array>& key,
             StreamOrDevice s) {
  detail::OuterOp outer("normal");
  check_floating(dtype, "normal");
  array z = normal(shape, dtype, key, s);
  if (scale) z = multiply(z, astype(*scale, dtype, s), s);
  if (loc) z = add(z, astype(*loc, dtype, s), s);
  if (z.shape() != shape) {
    fail("normal", cat("loc and scale must broadcast to shape ", tuple_str(shape), ", got ",
                       tuple_str(z.shape()), "."));
  }
  return z;
}

array randint(const array& low, const array& high, const Shape& shape, Dtype dtype,
              const std::optional<array>& key, StreamOrDevice s) {
  detail::OuterOp outer("randint");
  if (!is_integral(dtype) || dtype == bool_) {
    fail("randint", cat("dtype must be an integer type, got ", dtype, "."));
  }
  // floor of a uniform draw in [low, high), kept inside [low, high - 1]
  // where float32 rounding reaches high.
  array lo = astype(low, float32, s), hi = astype(high, float32, s);
  array u = uniform(lo, hi, shape, float32, key, s);
  array v = minimum(floor(u, s), subtract(hi, array(1.0f), s), s);
  return astype(maximum(v, lo, s), dtype, s);
}

array bernoulli(const array& p, const Shape& shape, const std::optional<array>& key,
                StreamOrDevice s) {
  detail::OuterOp outer("bernoulli");
  if (!is_floating_point(p.dtype())) {
    fail("bernoulli", cat("p must be floating point, got ", p.dtype(), "."));
  }
  if (broadcast_shapes(p.shape(), shape) != shape) {
    fail("bernoulli", cat("p of shape ", tuple_str(p.shape()), " does not broadcast to shape ",
                          tuple_str(shape), "."));
  }
  return less(uniform(shape, p.dtype(), key, s), p, s);
}
array bernoulli(const array& p, const std::optional<array>& key, StreamOrDevice s) {
  return bernoulli(p, p.shape(), key, s);
}
array bernoulli(const std::optional<array>& key, StreamOrDevice s) {
  return bernoulli(array(0.5f), Shape{}, key, s);
}

array truncated_normal(const array& lower, const array& upper, const Shape& shape, Dtype dtype,
                       const std::optional<array>& key, StreamOrDevice s) {
  detail::OuterOp outer("truncated_normal");
  check_floating(dtype, "truncated_normal");
  // Inverse-CDF sampling: sqrt(2) erfinv(u) with u uniform between the
  // bounds' images under erf(x / sqrt(2)), computed in float32.
  const float r2 = std::sqrt(2.0f);
  array lo = astype(lower, float32, s), hi = astype(upper, float32, s);
  array a = erf(divide(lo, array(r2), s), s), b = erf(divide(hi, array(r2), s), s);
  array u = uniform(a, b, shape, float32, key, s);
  array x = multiply(erfinv(u, s), array(r2), s);
  return astype(clip(x, lo, hi, s), dtype, s);
}
array truncated_normal(const array& lower, const array& upper, Dtype dtype,
                       const std::optional<array>& key, StreamOrDevice s) {
  return truncated_normal(lower, upper, broadcast_shapes(lower.shape(), upper.shape()), dtype,
                          key, s);
}

array gumbel(const Shape& shape, Dtype dtype, const std::optional<array>& key,
             StreamOrDevice s) {
  detail::OuterOp outer("gumbel");
  check_floating(dtype, "gumbel");
  // -log(-log(u)) with u in (0, 1): the smallest float32 above 0 keeps it finite.
  array u = uniform(array(std::numeric_limits<float>::min()), array(1.0f), shape, float32, key, s);
  return astype(negative(log(negative(log(u, s), s), s), s), dtype, s);
}

array categorical(const array& logits, int axis, const Shape& shape,
                  const std::optional<array>& key, StreamOrDevice s) {
  detail::OuterOp outer("categorical");
  if (logits.ndim() == 0) fail("categorical", "logits must have at least one dimension.");
  const int ax = axis < 0 ? axis + logits.ndim() : axis;
  if (ax < 0 || ax >= logits.ndim()) {
    fail("categorical", cat("axis ", axis, " is out of range for logits of shape ",
                            tuple_str(logits.shape()), "."));
  }
  array l = moveaxis(logits, ax, -1, s);
  Shape batch = l.shape();
  batch.pop_back();
  if (broadcast_shapes(batch, shape) != shape) {
    fail("categorical", cat("shape ", tuple_str(shape), " is not compatible with logits of shape ",
                            tuple_str(logits.shape()), " along axis ", axis, "."));
  }
  // The Gumbel-max trick: argmax of logits plus Gumbel noise.
  Shape noise = shape;
  noise.push_back(logits.shape(ax));
  array g = gumbel(noise, float32, key, s);
  return argmax(add(astype(l, float32, s), g, s), -1, false, s);
}
array categorical(const array& logits, int axis, int num_samples,
                  const std::optional<array>& key, StreamOrDevice s) {
  detail::OuterOp outer("categorical");
  if (num_samples < 0) {
    fail("categorical", cat("num_samples must be non-negative, got ", num_samples, "."));
  }
  const int ax = axis < 0 ? axis + logits.ndim() : axis;
  if (logits.ndim() == 0 || ax < 0 || ax >= logits.ndim()) {
    fail("categorical", cat("axis ", axis, " is out of range for logits of shape ",
                            tuple_str(logits.shape()), "."));
  }
  Shape shape = logits.shape();
  shape.erase(shape.begin() + ax);
  shape.push_back(num_samples);
  return categorical(expand_dims(logits, ax == logits.ndim() - 1 ? -2 : -1, s),
                     ax == logits.ndim() - 1 ? -1 : ax, shape, key, s);
}
array categorical(const array& logits, int axis, const std::optional<array>& key,
                  StreamOrDevice s) {
  detail::OuterOp outer("categorical");
  const int ax = axis < 0 ? axis + logits.ndim() : axis;
  if (logits.ndim() == 0 || ax < 0 || ax >= logits.ndim()) {
    fail("categorical", cat("axis ", axis, " is out of range for logits of shape ",
                            tuple_str(logits.shape()), "."));
  }
  Shape shape = logits.shape();
  shape.erase(shape.begin() + ax);
  return categorical(logits, ax, shape, key, s);
}

array laplace(const Shape& shape, Dtype dtype, const float loc, const float scale,
              const std::optional<array>& key, StreamOrDevice s) {
  detail::OuterOp outer("laplace");
  check_floating(dtype, "laplace");
  // loc - scale sign(u) log(1 - |u|) with u in (-1, 1).
  array u = uniform(array(std::nextafter(-1.0f, 0.0f)), array(1.0f), shape, float32, key, s);
  array x = multiply(sign(u, s), log1p(negative(abs(u, s), s), s), s);
  return astype(subtract(array(loc), multiply(array(scale), x, s), s), dtype, s);
}

array permutation(const array& x, int axis, const std::optional<array>& key, StreamOrDevice s) {
  detail::OuterOp outer("permutation");
  if (x.ndim() == 0) fail("permutation", "needs an array of at least one dimension.");
  const int ax = axis < 0 ? axis + x.ndim() : axis;
  if (ax < 0 || ax >= x.ndim()) {
    fail("permutation", cat("axis ", axis, " is out of range for shape ", tuple_str(x.shape()),
                            "."));
  }
  // Sorting random keys gives a uniformly random order (ties are rare and
  // broken by position).
  array order = argsort(bits({x.shape(ax)}, 4, key, s), 0, s);
  return take(x, order, ax, s);
}
array permutation(int x, const std::optional<array>& key, StreamOrDevice s) {
  detail::OuterOp outer("permutation");
  if (x < 0) fail("permutation", cat("size must be non-negative, got ", x, "."));
  return permutation(arange(0, x, s), 0, key, s);
}


array multivariate_normal(const array& mean, const array& cov, const Shape& shape, Dtype dtype,
                          const std::optional<array>& key, StreamOrDevice s) {
  auto bad = [](const std::string& what) {
    throw std::invalid_argument("[multivariate_normal] " + what);
  };
  if (dtype != float32) bad("dtype must be float32.");
  if (mean.ndim() < 1) bad("mean must have at least one dimension.");
  if (cov.ndim() < 2) bad("cov must have at least two dimensions.");
  const int n = mean.shape(-1);
  if (cov.shape(-1) != cov.shape(-2)) bad("last two dimensions of cov must be equal.");
  if (n != cov.shape(-1)) bad("mean and cov must have compatible shapes.");
  Shape out = broadcast_shapes(Shape(cov.shape().begin(), cov.shape().end() - 2),
                               Shape(mean.shape().begin(), mean.shape().end() - 1));
  out = broadcast_shapes(out, shape);
  out.push_back(n);
  // cov = U diag(S) V^T; U diag(sqrt S) V^T is its square root for a
  // symmetric positive semi-definite cov.
  auto usv = linalg::svd(astype(cov, float32, s), true, s);
  array root = matmul(multiply(usv[0], expand_dims(sqrt(usv[1], s), -2, s), s), usv[2], s);
  array z = normal(out, dtype, key, s);
  return add(mean, squeeze(matmul(expand_dims(z, -2, s), root, s), -2, s), s);
}

}  // namespace rill::random
