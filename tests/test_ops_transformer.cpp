// The ops transformer code needs beyond elementwise math, against plain
// reference loops: softmax, logsumexp, take, take_along_axis, concatenate,
// stack, split, pad, cumsum, sort, argsort, partition, argpartition, topk.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "ops_helpers.h"

namespace rill {
namespace {

using test::all_close;
using test::eps_of;
using test::for_each_index;
using test::kAllTypes;
using test::kFloatTypes;
using test::kNumericTypes;
using test::numel;
using test::random_array;
using test::str;
using test::throws_invalid;
using test::to_doubles;
using test::to_vector;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
const std::vector<Dtype> kIndexTypes = {uint8, uint32, int32, int64};

// ---------------------------------------------------------------- helpers

Strides row_major(const Shape& shape) {
  Strides s(shape.size());
  int64_t acc = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

int64_t offset_of(const std::vector<int>& idx, const Strides& strides) {
  int64_t off = 0;
  for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * strides[d];
  return off;
}

// For each element (row-major), the row-major index of its group: the
// element's index with `axes` zeroed, in the shape with `axes` set to 1.
std::vector<size_t> groups_of(const Shape& shape, const std::vector<int>& axes) {
  Shape kept = shape;
  for (int ax : axes) kept[ax < 0 ? ax + shape.size() : ax] = 1;
  Strides ks = row_major(kept);
  std::vector<size_t> g;
  for_each_index(shape, [&](const std::vector<int>& idx) {
    std::vector<int> k = idx;
    for (size_t d = 0; d < k.size(); ++d) {
      if (kept[d] == 1) k[d] = 0;
    }
    g.push_back(static_cast<size_t>(offset_of(k, ks)));
  });
  return g;
}

size_t group_count(const Shape& shape, const std::vector<int>& axes) {
  Shape kept = shape;
  for (int ax : axes) kept[ax < 0 ? ax + shape.size() : ax] = 1;
  return numel(kept);
}

std::vector<double> ref_softmax(const std::vector<double>& x, const Shape& shape,
                                const std::vector<int>& axes) {
  std::vector<size_t> g = groups_of(shape, axes);
  size_t ng = group_count(shape, axes);
  std::vector<double> m(ng, -kInf), s(ng, 0), out(x.size());
  for (size_t i = 0; i < x.size(); ++i) m[g[i]] = std::max(m[g[i]], x[i]);
  for (size_t i = 0; i < x.size(); ++i) s[g[i]] += std::exp(x[i] - m[g[i]]);
  for (size_t i = 0; i < x.size(); ++i) out[i] = std::exp(x[i] - m[g[i]]) / s[g[i]];
  return out;
}

std::vector<double> ref_logsumexp(const std::vector<double>& x, const Shape& shape,
                                  const std::vector<int>& axes) {
  std::vector<size_t> g = groups_of(shape, axes);
  size_t ng = group_count(shape, axes);
  std::vector<double> m(ng, -kInf), s(ng, 0);
  for (size_t i = 0; i < x.size(); ++i) m[g[i]] = std::max(m[g[i]], x[i]);
  for (size_t i = 0; i < x.size(); ++i) s[g[i]] += std::exp(x[i] - m[g[i]]);
  for (size_t k = 0; k < ng; ++k) s[k] = std::isinf(m[k]) ? m[k] : m[k] + std::log(s[k]);
  return s;
}

// A transposed view (last two axes swapped) holding `shape`'s random values,
// so that kernels see non-unit strides.
array transposed_input(const Shape& shape, Dtype t, uint32_t seed, double lo = -4,
                       double hi = 4) {
  Shape swapped = shape;
  std::swap(swapped[shape.size() - 1], swapped[shape.size() - 2]);
  return swapaxes(random_array(swapped, t, seed, lo, hi), -1, -2);
}

// Every second element along the last axis of a bigger array.
array sliced_input(const Shape& shape, Dtype t, uint32_t seed, double lo = -4,
                   double hi = 4) {
  Shape big = shape;
  big.back() = shape.back() * 2;
  array b = random_array(big, t, seed, lo, hi);
  Shape start(shape.size(), 0), stop = big, step(shape.size(), 1);
  step.back() = 2;
  return slice(b, start, stop, step);
}

std::string eval_error(array a) {
  try {
    a.eval();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// Lane j of the axis `axis` of a row-major `shape`: element k of lane j is at
// lane_start(j) + k * inner.
struct Lanes {
  int64_t outer = 1, n = 1, inner = 1;
  Lanes(const Shape& shape, int axis) {
    if (axis < 0) axis += static_cast<int>(shape.size());
    for (int d = 0; d < axis; ++d) outer *= shape[d];
    n = shape[axis];
    for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  }
  int64_t count() const { return outer * inner; }
  int64_t start(int64_t j) const { return (j / inner) * n * inner + j % inner; }
};

bool nan_last_less(double a, double b) {
  return a < b || (std::isnan(b) && !std::isnan(a));
}

// ---------------------------------------------------------------- softmax

double softmax_rtol(Dtype t) {
  return t == float32 ? 2e-6 : 2 * eps_of(t);
}

TEST(Softmax, LastAxisMatchesReference) {
  for (Dtype t : kFloatTypes) {
    for (Shape shape : {Shape{5}, Shape{3, 17}, Shape{2, 3, 64}, Shape{4, 1000}}) {
      SCOPED_TRACE(dtype_name(t) + " " + str(shape));
      array a = random_array(shape, t, 7, -10, 10);
      array y = softmax(a, -1);
      EXPECT_EQ(y.dtype(), t);
      EXPECT_EQ(y.shape(), shape);
      EXPECT_TRUE(all_close(to_doubles(y), ref_softmax(to_doubles(a), shape, {-1}),
                            softmax_rtol(t), 1e-7));
    }
  }
}

TEST(Softmax, AnyAxesIncludingNegativeAndAll) {
  Shape shape{3, 4, 5};
  for (Dtype t : {float32, bfloat16, float64}) {
    array a = random_array(shape, t, 3, -5, 5);
    std::vector<double> x = to_doubles(a);
    for (std::vector<int> axes : std::vector<std::vector<int>>{
             {0}, {1}, {-2}, {2}, {0, 2}, {-1, 0}, {1, 2}, {0, 1, 2}}) {
      SCOPED_TRACE(dtype_name(t) + " axes " + str(Shape(axes.begin(), axes.end())));
      array y = softmax(a, axes);
      EXPECT_EQ(y.shape(), shape);
      EXPECT_TRUE(
          all_close(to_doubles(y), ref_softmax(x, shape, axes), softmax_rtol(t), 1e-7));
    }
    EXPECT_TRUE(all_close(to_doubles(softmax(a)), ref_softmax(x, shape, {0, 1, 2}),
                          softmax_rtol(t), 1e-7));
    EXPECT_TRUE(all_close(to_doubles(softmax(a, 1, true)), ref_softmax(x, shape, {1}),
                          softmax_rtol(t), 1e-7));
  }
}

TEST(Softmax, NonContiguousInputs) {
  Shape shape{6, 33};
  for (Dtype t : {float32, float16}) {
    for (array a : {transposed_input(shape, t, 5), sliced_input(shape, t, 6)}) {
      ASSERT_EQ(a.shape(), shape);
      std::vector<double> x = to_doubles(a);
      EXPECT_TRUE(all_close(to_doubles(softmax(a, -1)), ref_softmax(x, shape, {-1}),
                            softmax_rtol(t), 1e-7));
      EXPECT_TRUE(all_close(to_doubles(softmax(a, 0)), ref_softmax(x, shape, {0}),
                            softmax_rtol(t), 1e-7));
    }
  }
  // A broadcast (stride 0) input.
  array b = broadcast_to(array({1.0f, 2.0f, 3.0f}), {4, 3});
  EXPECT_TRUE(all_close(to_doubles(softmax(b, 0)), std::vector<double>(12, 0.25), 1e-6));
}

TEST(Softmax, StableAndSpecialValues) {
  // Large values do not overflow; -inf (a mask) gives exactly 0.
  array a = array(std::vector<double>{1000, 1001, -kInf, 999}, {1, 4}, float32);
  std::vector<double> y = to_doubles(softmax(a, -1));
  double e0 = std::exp(-1.0), e2 = std::exp(-2.0);
  double s = e0 + 1 + e2;
  EXPECT_TRUE(all_close(y, {e0 / s, 1 / s, 0, e2 / s}, 2e-6));
  EXPECT_EQ(y[2], 0.0);
  // Very negative differences flush to 0 rather than to garbage.
  EXPECT_TRUE(all_close(to_doubles(softmax(array({0.0f, -200.0f}), 0)), {1, 0}));
  // A NaN poisons its row only.
  array n = array(std::vector<double>{1, kNaN, 2, 1, 2, 3}, {2, 3}, float32);
  std::vector<double> yn = to_doubles(softmax(n, -1));
  EXPECT_TRUE(std::isnan(yn[0]) && std::isnan(yn[1]) && std::isnan(yn[2]));
  EXPECT_TRUE(all_close({yn[3], yn[4], yn[5]}, ref_softmax({1, 2, 3}, {3}, {0}), 2e-6));
  // Rows sum to one.
  array r = random_array({8, 300}, float32, 9, -30, 30);
  EXPECT_TRUE(
      all_close(to_doubles(sum(softmax(r, -1), -1)), std::vector<double>(8, 1), 1e-5));
}

TEST(Softmax, IntegersComputeInFloat32AndEmptyArrays) {
  for (Dtype t : {bool_, uint8, int32, int64}) {
    array a = random_array({3, 4}, t, 2, 0, 3);
    array y = softmax(a, -1);
    EXPECT_EQ(y.dtype(), float32);
    EXPECT_TRUE(all_close(to_doubles(y), ref_softmax(to_doubles(a), {3, 4}, {-1}), 2e-6));
  }
  array e = softmax(zeros({0, 4}), -1);
  EXPECT_EQ(e.shape(), (Shape{0, 4}));
  EXPECT_EQ(to_doubles(e).size(), 0u);
  EXPECT_EQ(softmax(zeros({3, 0}), -1).size(), 0u);
  EXPECT_TRUE(all_close(to_doubles(softmax(array(5.0f))), {1.0}));
}

// ---------------------------------------------------------------- logsumexp

TEST(LogSumExp, AxesKeepdimsAndDtypes) {
  Shape shape{3, 4, 5};
  for (Dtype t : {float16, bfloat16, float32, float64, int32}) {
    array a = random_array(shape, t, 11, -6, 6);
    std::vector<double> x = to_doubles(a);
    Dtype out_t = is_floating_point(t) ? t : float32;
    double rtol = out_t == float32 ? 1e-6 : 2 * eps_of(out_t);
    for (std::vector<int> axes :
         std::vector<std::vector<int>>{{0}, {-1}, {1}, {0, 2}, {2, 0, 1}}) {
      SCOPED_TRACE(dtype_name(t) + " axes " + str(Shape(axes.begin(), axes.end())));
      array y = logsumexp(a, axes);
      EXPECT_EQ(y.dtype(), out_t);
      Shape want;
      Shape want_keep;
      for (int d = 0; d < 3; ++d) {
        bool reduced = false;
        for (int ax : axes) reduced |= (ax < 0 ? ax + 3 : ax) == d;
        if (!reduced) want.push_back(shape[d]);
        want_keep.push_back(reduced ? 1 : shape[d]);
      }
      EXPECT_EQ(y.shape(), want);
      std::vector<double> ref = ref_logsumexp(x, shape, axes);
      EXPECT_TRUE(all_close(to_doubles(y), ref, rtol, 1e-6));
      array k = logsumexp(a, axes, true);
      EXPECT_EQ(k.shape(), want_keep);
      EXPECT_TRUE(all_close(to_doubles(k), ref, rtol, 1e-6));
    }
    EXPECT_EQ(logsumexp(a).ndim(), 0);
    EXPECT_TRUE(
        all_close(to_doubles(logsumexp(a)), ref_logsumexp(x, shape, {0, 1, 2}), rtol));
    EXPECT_EQ(logsumexp(a, true).shape(), (Shape{1, 1, 1}));
    EXPECT_TRUE(all_close(to_doubles(logsumexp(a, 1, true)), ref_logsumexp(x, shape, {1}),
                          rtol, 1e-6));
  }
}

TEST(LogSumExp, StableSpecialValuesAndStrides) {
  EXPECT_TRUE(all_close(to_doubles(logsumexp(array({1000.0f, 1000.0f}))),
                        {1000 + std::log(2.0)}, 1e-6));
  array rows =
      array(std::vector<double>{-kInf, -kInf, kInf, 1, kNaN, 1, 0, 0}, {4, 2}, float32);
  std::vector<double> y = to_doubles(logsumexp(rows, -1));
  EXPECT_EQ(y[0], -kInf);
  EXPECT_EQ(y[1], kInf);
  EXPECT_TRUE(std::isnan(y[2]));
  EXPECT_NEAR(y[3], std::log(2.0), 1e-6);
  // Reducing an empty axis gives -inf; an empty result stays empty.
  EXPECT_TRUE(all_close(to_doubles(logsumexp(zeros({2, 0}), -1)), {-kInf, -kInf}));
  EXPECT_EQ(logsumexp(zeros({0, 3}), -1).shape(), (Shape{0}));
  Shape shape{5, 7};
  for (array a : {transposed_input(shape, float32, 4), sliced_input(shape, float32, 8)}) {
    std::vector<double> x = to_doubles(a);
    EXPECT_TRUE(
        all_close(to_doubles(logsumexp(a, -1)), ref_logsumexp(x, shape, {1}), 1e-6));
    EXPECT_TRUE(
        all_close(to_doubles(logsumexp(a, 0)), ref_logsumexp(x, shape, {0}), 1e-6));
  }
}

// ---------------------------------------------------------------- take

// Reference: a's shape with `axis` replaced by the indices' shape.
std::vector<double> ref_take(const std::vector<double>& a, const Shape& shape, int axis,
                             const std::vector<double>& idx) {
  Lanes L(shape, axis);
  std::vector<double> out;
  for (int64_t o = 0; o < L.outer; ++o) {
    for (double v : idx) {
      int64_t k = static_cast<int64_t>(v);
      if (k < 0) k += L.n;
      for (int64_t i = 0; i < L.inner; ++i) out.push_back(a[(o * L.n + k) * L.inner + i]);
    }
  }
  return out;
}

TEST(Take, EveryAxisDtypeAndIndexType) {
  Shape shape{4, 5, 3};
  for (Dtype t : kAllTypes) {
    array a = random_array(shape, t, 21);
    std::vector<double> x = to_doubles(a);
    for (Dtype it : kIndexTypes) {
      for (int axis : {0, 1, 2, -1, -3}) {
        SCOPED_TRACE(dtype_name(t) + " indices " + dtype_name(it) + " axis " +
                     std::to_string(axis));
        int n = shape[axis < 0 ? axis + 3 : axis];
        std::vector<double> iv{0, double(n - 1), 1, 0, double(n - 1), double(2 % n)};
        if (!is_unsigned(it)) iv.push_back(-1), iv.push_back(-n);
        Shape ishape{2, static_cast<int32_t>(iv.size()) / 2};
        array idx(iv, ishape, it);
        array y = take(a, idx, axis);
        Shape want = shape;
        int ax = axis < 0 ? axis + 3 : axis;
        want.erase(want.begin() + ax);
        want.insert(want.begin() + ax, ishape.begin(), ishape.end());
        EXPECT_EQ(y.shape(), want);
        EXPECT_EQ(y.dtype(), t);
        EXPECT_TRUE(all_close(to_doubles(y), ref_take(x, shape, axis, iv)));
      }
    }
  }
}

TEST(Take, NonContiguousArrayAndIndices) {
  Shape shape{6, 8};
  array a = transposed_input(shape, float32, 3);
  std::vector<double> x = to_doubles(a);
  // Indices as a transposed view too.
  array idx = transpose(array({5, -1, 0, 2, 3, 3}, {2, 3}, int64));
  std::vector<double> iv = to_doubles(idx);
  for (int axis : {0, 1}) {
    EXPECT_TRUE(all_close(to_doubles(take(a, idx, axis)), ref_take(x, shape, axis, iv)));
  }
  array s = sliced_input({3, 5}, int32, 4);
  EXPECT_TRUE(all_close(to_doubles(take(s, array({4, 0}), 1)),
                        ref_take(to_doubles(s), {3, 5}, 1, {4, 0})));
  // A gathered embedding table: rows of a [V, D] matrix.
  array table = random_array({50, 16}, bfloat16, 5);
  array tokens = array({7, 49, 0, 7}, {2, 2}, int32);
  array emb = take(table, tokens, 0);
  EXPECT_EQ(emb.shape(), (Shape{2, 2, 16}));
  EXPECT_TRUE(all_close(to_doubles(emb),
                        ref_take(to_doubles(table), {50, 16}, 0, {7, 49, 0, 7})));
}

TEST(Take, FlattenedAndScalarIndex) {
  array a = random_array({3, 4}, int32, 8, -50, 50);
  std::vector<double> x = to_doubles(a);
  array y = take(a, array({0, 11, -1, 5}, {2, 2}, int32));
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_TRUE(all_close(to_doubles(y), {x[0], x[11], x[11], x[5]}));
  // A scalar index removes the axis.
  array r = take(a, 1, 0);
  EXPECT_EQ(r.shape(), (Shape{4}));
  EXPECT_TRUE(all_close(to_doubles(r), {x[4], x[5], x[6], x[7]}));
  array c = take(a, -1, 1);
  EXPECT_EQ(c.shape(), (Shape{3}));
  EXPECT_TRUE(all_close(to_doubles(c), {x[3], x[7], x[11]}));
  array e = take(a, 7);
  EXPECT_EQ(e.ndim(), 0);
  EXPECT_EQ(e.item<int32_t>(), static_cast<int32_t>(x[7]));
  // A 0-d index array also removes the axis.
  EXPECT_EQ(take(a, array(2), 1).shape(), (Shape{3}));
}

TEST(Take, EmptyIndicesAndArrays) {
  array a = random_array({3, 4}, float32, 1);
  array none = array(std::vector<int32_t>{}, {0}, int32);
  EXPECT_EQ(take(a, none, 0).shape(), (Shape{0, 4}));
  EXPECT_EQ(take(a, none, 1).shape(), (Shape{3, 0}));
  EXPECT_EQ(to_doubles(take(a, none, 1)).size(), 0u);
  EXPECT_EQ(take(zeros({0, 4}), none, 0).shape(), (Shape{0, 4}));
  EXPECT_EQ(take(zeros({0, 4}), array({1, 2}), 1).shape(), (Shape{0, 2}));
}

TEST(Take, OutOfRangeIndexRaisesAtEval) {
  array a = random_array({3, 4}, float32, 1);
  struct Case {
    array y;
    std::string op, value;
  };
  std::vector<Case> cases = {
      {take(a, array({0, 3}), 0), "[take]", "index 3"},
      {take(a, array({-5}), 1), "[take]", "index -5"},
      {take(a, array({4000000000u}, uint32), 1), "[take]", "index 4000000000"},
      {take(a, array({int64_t(1) << 40}, int64), 0), "[take]", "index 1099511627776"},
      {take(a, array({12})), "[take]", "index 12"},
      {take(a, array({uint8_t(4)}, uint8), 1), "[take]", "index 4"},
      {take_along_axis(a, array({0, 1, 9, 2}, {1, 4}, int32), 0), "[take_along_axis]",
       "index 9"},
      {take_along_axis(a, array({-4}, {1, 1}, int64), 0), "[take_along_axis]",
       "index -4"},
  };
  for (Case& c : cases) {
    std::string msg = eval_error(c.y);
    EXPECT_NE(msg.find(c.op), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.value), std::string::npos) << msg;
    EXPECT_THROW(c.y.eval(), std::runtime_error);  // every observer sees it
    // Dependents fail too, with the same error.
    EXPECT_NE(eval_error(c.y + 1.0f).find(c.value), std::string::npos);
  }
}

// ---------------------------------------------------------------- take_along_axis

TEST(TakeAlongAxis, MatchesReferenceWithBroadcasting) {
  Shape shape{3, 4, 5};
  for (Dtype t : kAllTypes) {
    array a = random_array(shape, t, 31);
    std::vector<double> x = to_doubles(a);
    for (int axis : {0, 1, 2, -1}) {
      int ax = axis < 0 ? axis + 3 : axis;
      int n = shape[ax];
      for (bool broadcast : {false, true}) {
        SCOPED_TRACE(dtype_name(t) + " axis " + std::to_string(axis) +
                     (broadcast ? " broadcast" : ""));
        Shape ishape = shape;
        ishape[ax] = 6;
        if (broadcast) ishape[(ax + 1) % 3] = 1;
        array idx = random_array(ishape, int32, 40 + ax, -n, n - 1);
        std::vector<double> iv = to_doubles(idx);
        array y = take_along_axis(a, idx, axis);
        Shape oshape = shape;
        oshape[ax] = 6;
        EXPECT_EQ(y.shape(), oshape);
        std::vector<double> ref;
        Strides as = row_major(shape), is = row_major(ishape);
        for_each_index(oshape, [&](const std::vector<int>& o) {
          std::vector<int> ii = o;
          for (int d = 0; d < 3; ++d) {
            if (ishape[d] == 1) ii[d] = 0;
          }
          int64_t k = static_cast<int64_t>(iv[offset_of(ii, is)]);
          std::vector<int> ai = o;
          ai[ax] = static_cast<int>(k < 0 ? k + n : k);
          ref.push_back(x[offset_of(ai, as)]);
        });
        EXPECT_TRUE(all_close(to_doubles(y), ref));
      }
    }
  }
}

TEST(TakeAlongAxis, ArgsortRoundTripAndStridedInputs) {
  // take_along_axis(a, argsort(a)) == sort(a), on a transposed view.
  Shape shape{7, 9};
  array a = transposed_input(shape, float32, 12);
  for (int axis : {0, 1}) {
    EXPECT_TRUE(all_close(to_doubles(take_along_axis(a, argsort(a, axis), axis)),
                          to_doubles(sort(a, axis))));
  }
  // The array broadcasts against the indices too.
  array row = array({10, 20, 30}, {1, 3}, int32);
  array idx = array({2, 0, 1, 1, 1, 0}, {2, 3}, uint32);
  array y = take_along_axis(row, take(idx, array({0}), 1), 1);  // [2, 1] indices
  EXPECT_EQ(y.shape(), (Shape{2, 1}));
  EXPECT_TRUE(all_close(to_doubles(y), {30, 20}));
  array z = take_along_axis(broadcast_to(row, {2, 3}), idx, 1);
  EXPECT_TRUE(all_close(to_doubles(z), {30, 10, 20, 20, 20, 10}));
}

// ---------------------------------------------------------------- concatenate, stack

TEST(Concatenate, AlongEachAxisWithPromotion) {
  for (Dtype t : kAllTypes) {
    array a = random_array({2, 3}, t, 1), b = random_array({2, 5}, t, 2),
          c = random_array({2, 0}, t, 3);
    std::vector<double> xa = to_doubles(a), xb = to_doubles(b);
    array y = concatenate({a, b, c}, 1);
    EXPECT_EQ(y.dtype(), t);
    EXPECT_EQ(y.shape(), (Shape{2, 8}));
    std::vector<double> ref;
    for (int i = 0; i < 2; ++i) {
      ref.insert(ref.end(), xa.begin() + 3 * i, xa.begin() + 3 * i + 3);
      ref.insert(ref.end(), xb.begin() + 5 * i, xb.begin() + 5 * i + 5);
    }
    EXPECT_TRUE(all_close(to_doubles(y), ref));
    EXPECT_TRUE(all_close(to_doubles(concatenate({a, b}, -1)), ref));
    array v = concatenate({a, random_array({4, 3}, t, 4)}, 0);
    EXPECT_EQ(v.shape(), (Shape{6, 3}));
    std::vector<double> rv = xa, x4 = to_doubles(random_array({4, 3}, t, 4));
    rv.insert(rv.end(), x4.begin(), x4.end());
    EXPECT_TRUE(all_close(to_doubles(v), rv));
  }
  array p = concatenate({array({1, 2}, int32), array({0.5f}), array({true})});
  EXPECT_EQ(p.dtype(), float32);
  EXPECT_TRUE(all_close(to_doubles(p), {1, 2, 0.5, 1}));
  EXPECT_EQ(concatenate({array({1}, uint8), array({-1}, int32)}).dtype(), int32);
  EXPECT_EQ(concatenate({array({1}, float16), array({1}, bfloat16)}).dtype(), float32);
}

TEST(Concatenate, StridedInputsFlattenedAndEmpty) {
  array t1 = transposed_input({4, 3}, int64, 5);
  array s1 = sliced_input({4, 2}, int64, 6);
  // A broadcast (stride 0) input.
  array bt = broadcast_to(array({7, 8, 9, 6}, {4, 1}, int64), {4, 2});
  array y = concatenate({t1, s1, bt}, 1);
  std::vector<double> x1 = to_doubles(t1), x2 = to_doubles(s1), x4 = to_doubles(bt);
  std::vector<double> ref;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 3; ++j) ref.push_back(x1[i * 3 + j]);
    for (int j = 0; j < 2; ++j) ref.push_back(x2[i * 2 + j]);
    for (int j = 0; j < 2; ++j) ref.push_back(x4[i * 2 + j]);
  }
  EXPECT_EQ(y.shape(), (Shape{4, 7}));
  EXPECT_TRUE(all_close(to_doubles(y), ref));
  // Flattened: every input as 1-D, scalars included.
  array f = concatenate({t1, array(5, int64)});
  EXPECT_EQ(f.shape(), (Shape{13}));
  std::vector<double> rf = x1;
  rf.push_back(5);
  EXPECT_TRUE(all_close(to_doubles(f), rf));
  EXPECT_EQ(concatenate({zeros({0, 3}), zeros({0, 3})}, 0).shape(), (Shape{0, 3}));
  EXPECT_EQ(concatenate({zeros({2, 0}), zeros({2, 0})}, 1).shape(), (Shape{2, 0}));
  EXPECT_TRUE(all_close(to_doubles(concatenate({array({1.0f, 2.0f})}, 0)), {1, 2}));
}

TEST(Stack, NewAxisAnywhere) {
  for (Dtype t : {bool_, uint8, int32, float16, float64}) {
    array a = random_array({2, 3}, t, 1), b = transposed_input({2, 3}, t, 2);
    std::vector<double> xa = to_doubles(a), xb = to_doubles(b);
    array s0 = stack({a, b});
    EXPECT_EQ(s0.shape(), (Shape{2, 2, 3}));
    std::vector<double> r0 = xa;
    r0.insert(r0.end(), xb.begin(), xb.end());
    EXPECT_TRUE(all_close(to_doubles(s0), r0));
    for (int axis : {1, 2, -1, -2}) {
      int ax = axis < 0 ? axis + 3 : axis;
      array s = stack({a, b}, axis);
      Shape want{2, 3};
      want.insert(want.begin() + ax, 2);
      EXPECT_EQ(s.shape(), want);
      std::vector<double> ref;
      for_each_index(want, [&](const std::vector<int>& i) {
        std::vector<int> src = i;
        int which = src[ax];
        src.erase(src.begin() + ax);
        ref.push_back((which ? xb : xa)[src[0] * 3 + src[1]]);
      });
      EXPECT_TRUE(all_close(to_doubles(s), ref));
    }
  }
  EXPECT_EQ(stack({array(1), array(2.5f)}).dtype(), float32);
  EXPECT_EQ(stack({array(1), array(2)}).shape(), (Shape{2}));
  EXPECT_EQ(stack({zeros({0}), zeros({0})}, 1).shape(), (Shape{0, 2}));
}

// ---------------------------------------------------------------- split

TEST(Split, EqualPartsAndIndices) {
  array a = random_array({6, 4}, int32, 3, -100, 100);
  std::vector<double> x = to_doubles(a);
  std::vector<array> parts = split(a, 3);
  ASSERT_EQ(parts.size(), 3u);
  for (int p = 0; p < 3; ++p) {
    EXPECT_EQ(parts[p].shape(), (Shape{2, 4}));
    EXPECT_TRUE(all_close(to_doubles(parts[p]),
                          std::vector<double>(x.begin() + 8 * p, x.begin() + 8 * p + 8)));
  }
  std::vector<array> cols = split(a, 2, -1);
  ASSERT_EQ(cols.size(), 2u);
  EXPECT_EQ(cols[1].shape(), (Shape{6, 2}));
  EXPECT_TRUE(all_close(to_doubles(concatenate(cols, 1)), x));
  // At indices, with Python slice semantics (negative from the end, clamped).
  auto sizes = [&](const Shape& idx, int axis) {
    Shape out;
    for (const array& p : split(a, idx, axis)) out.push_back(p.shape(axis));
    return out;
  };
  EXPECT_EQ(sizes({1, 3}, 0), (Shape{1, 2, 3}));
  EXPECT_EQ(sizes({-2}, 0), (Shape{4, 2}));
  EXPECT_EQ(sizes({3, 1}, 1), (Shape{3, 0, 3}));
  EXPECT_EQ(sizes({10}, 1), (Shape{4, 0}));
  EXPECT_EQ(sizes({}, 0), (Shape{6}));
  std::vector<array> at = split(a, Shape{1, 3});
  EXPECT_TRUE(
      all_close(to_doubles(at[1]), std::vector<double>(x.begin() + 4, x.begin() + 12)));
  // Splitting a non-contiguous array, and an empty one.
  array tr = transpose(a);
  std::vector<array> tp = split(tr, 2, 1);
  EXPECT_TRUE(all_close(to_doubles(concatenate(tp, 1)), to_doubles(tr)));
  std::vector<array> ep = split(zeros({0, 4}), 2, 1);
  EXPECT_EQ(ep[0].shape(), (Shape{0, 2}));
}

// ---------------------------------------------------------------- pad

std::vector<double> ref_pad(const std::vector<double>& x, const Shape& shape,
                            const std::vector<std::pair<int, int>>& w, double value,
                            bool edge) {
  Shape oshape = shape;
  for (size_t d = 0; d < shape.size(); ++d) oshape[d] += w[d].first + w[d].second;
  Strides st = row_major(shape);
  std::vector<double> out;
  for_each_index(oshape, [&](const std::vector<int>& o) {
    std::vector<int> i(o.size());
    bool inside = true;
    for (size_t d = 0; d < o.size(); ++d) {
      int k = o[d] - w[d].first;
      if (k < 0 || k >= shape[d]) inside = false;
      i[d] = std::clamp(k, 0, shape[d] - 1);
    }
    out.push_back(inside || edge ? x[offset_of(i, st)] : value);
  });
  return out;
}

TEST(Pad, ConstantAndEdgeEveryDtype) {
  Shape shape{3, 4};
  std::vector<std::pair<int, int>> w{{1, 2}, {0, 3}};
  for (Dtype t : kAllTypes) {
    for (array a : {random_array(shape, t, 2), transposed_input(shape, t, 3)}) {
      SCOPED_TRACE(dtype_name(t));
      std::vector<double> x = to_doubles(a);
      array c = pad(a, w, array(1));
      EXPECT_EQ(c.shape(), (Shape{6, 7}));
      EXPECT_EQ(c.dtype(), t);
      EXPECT_TRUE(all_close(to_doubles(c), ref_pad(x, shape, w, 1, false)));
      EXPECT_TRUE(all_close(to_doubles(pad(a, w)), ref_pad(x, shape, w, 0, false)));
      array e = pad(a, w, array(0), "edge");
      EXPECT_TRUE(all_close(to_doubles(e), ref_pad(x, shape, w, 0, true)));
    }
  }
}

TEST(Pad, OverloadsAxesAndEdgeCases) {
  array a = random_array({2, 3, 2}, float32, 4);
  std::vector<double> x = to_doubles(a);
  std::vector<std::pair<int, int>> w{{0, 0}, {2, 1}, {0, 0}};
  // Only some axes, given by negative index.
  EXPECT_TRUE(all_close(to_doubles(pad(a, std::vector<int>{-2}, {2}, {1}, array(-1.5f))),
                        ref_pad(x, {2, 3, 2}, w, -1.5, false)));
  std::vector<std::pair<int, int>> all{{1, 2}, {1, 2}, {1, 2}};
  EXPECT_TRUE(all_close(to_doubles(pad(a, std::pair<int, int>{1, 2})),
                        ref_pad(x, {2, 3, 2}, all, 0, false)));
  std::vector<std::pair<int, int>> ones{{1, 1}, {1, 1}, {1, 1}};
  EXPECT_TRUE(all_close(to_doubles(pad(a, 1, array(0), "edge")),
                        ref_pad(x, {2, 3, 2}, ones, 0, true)));
  // The pad value takes the array's dtype.
  EXPECT_TRUE(
      all_close(to_doubles(pad(array({1, 2}, int32), 1, array(2.7f))), {2, 1, 2, 2}));
  // Zero padding is a copy; an empty axis pads with the value only.
  EXPECT_TRUE(all_close(to_doubles(pad(a, 0)), x));
  EXPECT_TRUE(all_close(to_doubles(pad(zeros({0}), 2, array(3.0f))), {3, 3, 3, 3}));
  EXPECT_EQ(pad(zeros({0, 2}), std::vector<int>{1}, {1}, {1}).shape(), (Shape{0, 4}));
  EXPECT_TRUE(
      all_close(to_doubles(pad(array(4.0f), std::vector<std::pair<int, int>>{})), {4}));
}

// ---------------------------------------------------------------- cumsum

std::vector<double> ref_cumsum(const std::vector<double>& x, const Shape& shape, int axis,
                               bool reverse, bool inclusive) {
  Lanes L(shape, axis);
  std::vector<double> out(x.size());
  for (int64_t j = 0; j < L.count(); ++j) {
    double acc = 0;
    for (int64_t k = 0; k < L.n; ++k) {
      int64_t kk = reverse ? L.n - 1 - k : k;
      int64_t i = L.start(j) + kk * L.inner;
      if (inclusive) acc += x[i];
      out[i] = acc;
      if (!inclusive) acc += x[i];
    }
  }
  return out;
}

TEST(Cumsum, AxesDirectionsAndDtypes) {
  Shape shape{3, 4, 5};
  for (Dtype t : kAllTypes) {
    array a = random_array(shape, t, 6);
    std::vector<double> x = to_doubles(a);
    Dtype want = t == bool_ ? int32 : t;  // MLX keeps uint8
    for (int axis : {0, 1, 2, -1}) {
      for (bool reverse : {false, true}) {
        for (bool inclusive : {true, false}) {
          SCOPED_TRACE(dtype_name(t) + " axis " + std::to_string(axis) +
                       (reverse ? " reverse" : "") + (inclusive ? "" : " exclusive"));
          array y = cumsum(a, axis, reverse, inclusive);
          EXPECT_EQ(y.dtype(), want);
          EXPECT_EQ(y.shape(), shape);
          EXPECT_TRUE(all_close(to_doubles(y),
                                ref_cumsum(x, shape, axis, reverse, inclusive), eps_of(t),
                                1e-6));
        }
      }
    }
  }
}

TEST(Cumsum, StridedInputsAccuracyAndWrap) {
  Shape shape{5, 9};
  for (array a : {transposed_input(shape, float32, 1), sliced_input(shape, int64, 2)}) {
    std::vector<double> x = to_doubles(a);
    for (int axis : {0, 1}) {
      EXPECT_TRUE(all_close(to_doubles(cumsum(a, axis, true, false)),
                            ref_cumsum(x, shape, axis, true, false), 3e-7, 1e-6));
    }
  }
  // Half types carry the running sum in higher precision: each output is one
  // rounding of the exact sum, however long the axis.
  for (Dtype t : {float16, bfloat16}) {
    array a = random_array({4000}, t, 3, 0, 1);
    EXPECT_TRUE(all_close(to_doubles(cumsum(a, 0)),
                          ref_cumsum(to_doubles(a), {4000}, 0, false, true), eps_of(t)));
  }
  // Integers wrap as in NumPy.
  int32_t big = std::numeric_limits<int32_t>::max();
  EXPECT_EQ(to_vector<int32_t>(cumsum(array({big, 1}, int32), 0)),
            (std::vector<int32_t>{big, std::numeric_limits<int32_t>::min()}));
  EXPECT_EQ(cumsum(zeros({0, 3}), 0).shape(), (Shape{0, 3}));
  EXPECT_EQ(cumsum(zeros({3, 0}), 0).shape(), (Shape{3, 0}));
}

// ---------------------------------------------------------------- sort, argsort

TEST(Sort, EveryDtypeAxisAndLayout) {
  Shape shape{4, 5, 6};
  for (Dtype t : kAllTypes) {
    for (array a : {random_array(shape, t, 9), transposed_input(shape, t, 10),
                    sliced_input(shape, t, 11)}) {
      std::vector<double> x = to_doubles(a);
      for (int axis : {0, 1, 2, -1, -3}) {
        SCOPED_TRACE(dtype_name(t) + " axis " + std::to_string(axis));
        Lanes L(shape, axis);
        std::vector<double> ref = x, ref_idx(x.size());
        for (int64_t j = 0; j < L.count(); ++j) {
          std::vector<std::pair<double, int>> lane;
          for (int k = 0; k < L.n; ++k) lane.push_back({x[L.start(j) + k * L.inner], k});
          std::stable_sort(lane.begin(), lane.end(), [](const auto& p, const auto& q) {
            return nan_last_less(p.first, q.first);
          });
          for (int k = 0; k < L.n; ++k) {
            ref[L.start(j) + k * L.inner] = lane[k].first;
            ref_idx[L.start(j) + k * L.inner] = lane[k].second;
          }
        }
        array s = sort(a, axis);
        EXPECT_EQ(s.dtype(), t);
        EXPECT_TRUE(all_close(to_doubles(s), ref));
        array i = argsort(a, axis);
        EXPECT_EQ(i.dtype(), uint32);
        EXPECT_EQ(i.shape(), shape);
        EXPECT_TRUE(all_close(to_doubles(i), ref_idx));
      }
    }
  }
}

TEST(Sort, StableNaNLastAndFlattened) {
  array a = array(std::vector<double>{3, kNaN, -1, 3, -kInf, kNaN, 0.0, -0.0, kInf, 3},
                  {10}, float32);
  std::vector<double> s = to_doubles(sort(a));
  std::vector<double> want{-kInf, -1, 0, 0, 3, 3, 3, kInf, kNaN, kNaN};
  EXPECT_TRUE(all_close(s, want));
  EXPECT_FALSE(std::signbit(s[2]));  // 0.0 came first: the sort is stable
  EXPECT_TRUE(std::signbit(s[3]));
  EXPECT_EQ(to_vector<uint32_t>(argsort(a)),
            (std::vector<uint32_t>{4, 2, 6, 7, 0, 3, 9, 8, 1, 5}));
  // Ties keep their order in every dtype.
  for (Dtype t : kAllTypes) {
    array ties = array({1, 0, 1, 0, 1, 0}, t);
    EXPECT_EQ(to_vector<uint32_t>(argsort(ties)),
              (std::vector<uint32_t>{1, 3, 5, 0, 2, 4}));
  }
  array m = random_array({3, 4}, int32, 2, -9, 9);
  std::vector<double> x = to_doubles(m);
  std::sort(x.begin(), x.end());
  EXPECT_EQ(sort(m).shape(), (Shape{12}));
  EXPECT_TRUE(all_close(to_doubles(sort(m)), x));
  EXPECT_EQ(sort(zeros({0, 3}), 0).shape(), (Shape{0, 3}));
  EXPECT_EQ(argsort(zeros({3, 0}), 1).shape(), (Shape{3, 0}));
  EXPECT_TRUE(all_close(to_doubles(sort(array(2.0f))), {2}));
}

// ---------------------------------------------------------------- partition, topk

// Checks that `got` is the lane partitioned at kth: a permutation of the
// lane's values, kth in its sorted place, nothing larger before nor smaller
// after.
::testing::AssertionResult is_partition(const std::vector<double>& lane,
                                        const std::vector<double>& got, int kth) {
  std::vector<double> sorted = lane, have = got;
  std::sort(sorted.begin(), sorted.end(), nan_last_less);
  std::sort(have.begin(), have.end(), nan_last_less);
  auto same = [](double p, double q) {
    return p == q || (std::isnan(p) && std::isnan(q));
  };
  if (!std::equal(sorted.begin(), sorted.end(), have.begin(), same)) {
    return ::testing::AssertionFailure() << "not a permutation of the input";
  }
  if (!same(got[kth], sorted[kth])) {
    return ::testing::AssertionFailure()
           << "element " << kth << " is " << got[kth] << ", expected " << sorted[kth];
  }
  for (size_t i = 0; i < got.size(); ++i) {
    bool bad = static_cast<int>(i) < kth ? nan_last_less(got[kth], got[i])
                                         : nan_last_less(got[i], got[kth]);
    if (bad && static_cast<int>(i) != kth) {
      return ::testing::AssertionFailure() << "element " << i << " (" << got[i]
                                           << ") is on the wrong side of " << got[kth];
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(Partition, ValuesAndIndicesEveryDtypeAndAxis) {
  Shape shape{4, 7, 5};
  for (Dtype t : kAllTypes) {
    for (array a : {random_array(shape, t, 13), transposed_input(shape, t, 14)}) {
      std::vector<double> x = to_doubles(a);
      for (int axis : {0, 1, -1}) {
        Lanes L(shape, axis);
        for (int kth : {0, 2, -1, static_cast<int>(L.n) - 2}) {
          SCOPED_TRACE(dtype_name(t) + " axis " + std::to_string(axis) + " kth " +
                       std::to_string(kth));
          int k = kth < 0 ? kth + static_cast<int>(L.n) : kth;
          std::vector<double> p = to_doubles(partition(a, kth, axis));
          array ia = argpartition(a, kth, axis);
          EXPECT_EQ(ia.dtype(), uint32);
          std::vector<double> pi = to_doubles(ia);
          for (int64_t j = 0; j < L.count(); ++j) {
            std::vector<double> lane, got, via_idx;
            for (int64_t q = 0; q < L.n; ++q) {
              int64_t i = L.start(j) + q * L.inner;
              lane.push_back(x[i]);
              got.push_back(p[i]);
            }
            for (int64_t q = 0; q < L.n; ++q) {
              via_idx.push_back(
                  lane.at(static_cast<size_t>(pi[L.start(j) + q * L.inner])));
            }
            ASSERT_TRUE(is_partition(lane, got, k));
            ASSERT_TRUE(is_partition(lane, via_idx, k));
          }
        }
      }
    }
  }
  array f = array({5, 1, 4, 2, 3}, {5}, int32);
  std::vector<double> fp = to_doubles(partition(reshape(f, {1, 5}), 2));
  EXPECT_TRUE(is_partition({5, 1, 4, 2, 3}, fp, 2));
  EXPECT_EQ(to_doubles(argpartition(f, 2))[2], 4.0);  // the 3 sits at index 4
}

TEST(TopK, LargestInAscendingOrder) {
  Shape shape{3, 8, 4};
  for (Dtype t : kAllTypes) {
    for (array a : {random_array(shape, t, 17), sliced_input(shape, t, 18)}) {
      std::vector<double> x = to_doubles(a);
      for (int axis : {0, 1, -1}) {
        Lanes L(shape, axis);
        for (int k : {0, 1, 3, static_cast<int>(L.n)}) {
          SCOPED_TRACE(dtype_name(t) + " axis " + std::to_string(axis) + " k " +
                       std::to_string(k));
          array y = topk(a, k, axis);
          Shape want = shape;
          want[axis < 0 ? axis + 3 : axis] = k;
          EXPECT_EQ(y.shape(), want);
          EXPECT_EQ(y.dtype(), t);
          Lanes Lo(want, axis);
          std::vector<double> ref(numel(want));
          for (int64_t j = 0; j < L.count(); ++j) {
            std::vector<double> lane;
            for (int64_t q = 0; q < L.n; ++q) lane.push_back(x[L.start(j) + q * L.inner]);
            std::sort(lane.begin(), lane.end(), nan_last_less);
            for (int q = 0; q < k; ++q)
              ref[Lo.start(j) + q * Lo.inner] = lane[L.n - k + q];
          }
          EXPECT_TRUE(all_close(to_doubles(y), ref));
        }
      }
    }
  }
  array v = array(std::vector<double>{1, 9, kNaN, 4, 7}, {5}, float32);
  EXPECT_TRUE(all_close(to_doubles(topk(v, 2)), {9, kNaN}));  // NaN counts as largest
  EXPECT_TRUE(all_close(to_doubles(topk(reshape(array({3, 1, 2, 6}, int32), {2, 2}), 3)),
                        {2, 3, 6}));
  EXPECT_EQ(topk(zeros({0, 5}), 2, 1).shape(), (Shape{0, 2}));
}

// ---------------------------------------------------------------- errors

TEST(Errors, BadInputThrowsAtTheCallNamingTheOp) {
  array a = zeros({2, 3});
  array idx = array({0, 1});
  EXPECT_TRUE(throws_invalid([&] { softmax(a, 2); }, "[softmax]"));
  EXPECT_TRUE(throws_invalid([&] { softmax(a, {0, -2}); }, "[softmax]"));
  EXPECT_TRUE(throws_invalid([&] { logsumexp(a, -3); }, "[logsumexp]"));
  EXPECT_TRUE(throws_invalid([&] { logsumexp(a, {1, 1}); }, "[logsumexp]"));

  EXPECT_TRUE(throws_invalid([&] { take(a, idx, 2); }, "[take]"));
  EXPECT_TRUE(throws_invalid([&] { take(a, array({0.5f}), 0); }, "[take]"));
  EXPECT_TRUE(throws_invalid([&] { take(a, array({true}), 0); }, "[take]"));
  EXPECT_TRUE(throws_invalid([&] { take(a, array({1.0}), 0); }, "[take]"));
  EXPECT_TRUE(throws_invalid([&] { take(a, 2, 0); }, "[take]"));
  EXPECT_TRUE(throws_invalid([&] { take(a, -4, 1); }, "[take]"));
  EXPECT_TRUE(throws_invalid([&] { take(a, 6); }, "[take]"));
  EXPECT_TRUE(throws_invalid([&] { take(array(1.0f), idx, 0); }, "[take]"));
  EXPECT_TRUE(throws_invalid([&] { take(zeros({0, 3}), idx, 0); }, "[take]"));
  EXPECT_TRUE(throws_invalid([&] { take_along_axis(a, idx, 0); }, "[take_along_axis]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        take_along_axis(a, zeros({1, 3}), 0);
      },
      "[take_along_axis]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        take_along_axis(a, zeros({2, 2}, int32), 0);
      },
      "[take_along_axis]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        take_along_axis(a, zeros({1, 1}, int32), 2);
      },
      "[take_along_axis]"));

  EXPECT_TRUE(throws_invalid([&] { concatenate({}, 0); }, "[concatenate]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        concatenate({a, zeros({3, 3})}, 1);
      },
      "[concatenate]"));
  EXPECT_TRUE(throws_invalid([&] { concatenate({a, zeros({2})}, 0); }, "[concatenate]"));
  EXPECT_TRUE(throws_invalid([&] { concatenate({a, a}, 2); }, "[concatenate]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        concatenate({array(1), array(2)}, 0);
      },
      "[concatenate]"));
  EXPECT_TRUE(throws_invalid([&] { stack({}); }, "[stack]"));
  EXPECT_TRUE(throws_invalid([&] { stack({a, zeros({3, 2})}); }, "[stack]"));
  EXPECT_TRUE(throws_invalid([&] { stack({a, a}, 3); }, "[stack]"));
  EXPECT_TRUE(throws_invalid([&] { split(a, 2, 1); }, "[split]"));
  EXPECT_TRUE(throws_invalid([&] { split(a, 0, 0); }, "[split]"));
  EXPECT_TRUE(throws_invalid([&] { split(a, 2, 2); }, "[split]"));
  EXPECT_TRUE(throws_invalid([&] { split(a, Shape{1}, -3); }, "[split]"));

  EXPECT_TRUE(throws_invalid([&] { pad(a, -1); }, "[pad]"));
  EXPECT_TRUE(throws_invalid([&] { pad(a, std::vector<int>{0}, {1}, {-2}); }, "[pad]"));
  EXPECT_TRUE(throws_invalid([&] { pad(a, std::vector<int>{0, 1}, {1}, {1}); }, "[pad]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        pad(a, std::vector<int>{0, 0}, {1, 1}, {1, 1});
      },
      "[pad]"));
  EXPECT_TRUE(throws_invalid([&] { pad(a, std::vector<int>{2}, {1}, {1}); }, "[pad]"));
  EXPECT_TRUE(throws_invalid([&] { pad(a, 1, array(0), "wrap"); }, "[pad]"));
  EXPECT_TRUE(throws_invalid([&] { pad(a, 1, zeros({2})); }, "[pad]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        pad(a, std::vector<std::pair<int, int>>{{1, 1}});
      },
      "[pad]"));
  EXPECT_TRUE(throws_invalid([&] { pad(zeros({0, 2}), 1, array(0), "edge"); }, "[pad]"));

  EXPECT_TRUE(throws_invalid([&] { cumsum(a, 2); }, "[cumsum]"));
  EXPECT_TRUE(throws_invalid([&] { cumsum(array(1.0f), 0); }, "[cumsum]"));
  EXPECT_TRUE(throws_invalid([&] { sort(a, 2); }, "[sort]"));
  EXPECT_TRUE(throws_invalid([&] { argsort(a, -3); }, "[argsort]"));
  EXPECT_TRUE(throws_invalid([&] { partition(a, 3, 1); }, "[partition]"));
  EXPECT_TRUE(throws_invalid([&] { partition(a, -4, 1); }, "[partition]"));
  EXPECT_TRUE(throws_invalid([&] { argpartition(a, 6); }, "[argpartition]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        argpartition(zeros({2, 0}), 0, 1);
      },
      "[argpartition]"));
  EXPECT_TRUE(throws_invalid([&] { topk(a, 4, 1); }, "[topk]"));
  EXPECT_TRUE(throws_invalid([&] { topk(a, -1, 1); }, "[topk]"));
  EXPECT_TRUE(throws_invalid([&] { topk(a, 1, 2); }, "[topk]"));
  EXPECT_TRUE(throws_invalid([&] { topk(a, 7); }, "[topk]"));
}

TEST(Errors, MessagesNameTheValues) {
  auto message = [](auto fn) -> std::string {
    try {
      fn();
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  array a = zeros({2, 3});
  EXPECT_NE(message([&] { take(a, 5, 1); }).find("index 5"), std::string::npos);
  EXPECT_NE(message([&] { take(a, array({0.5f}), 0); }).find("float32"),
            std::string::npos);
  EXPECT_NE(message([&] { split(a, 2, 1); }).find("size 3"), std::string::npos);
  EXPECT_NE(message([&] { topk(a, 4, 1); }).find("k 4"), std::string::npos);
  EXPECT_NE(message([&] { pad(a, std::vector<int>{0}, {1}, {-2}); }).find("-2"),
            std::string::npos);
  EXPECT_NE(message([&] {
              concatenate({a, zeros({3, 3})}, 1);
            }).find("(3, 3)"),
            std::string::npos);
}

}  // namespace
}  // namespace rill
