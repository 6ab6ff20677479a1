// MLX's rearranging, statistics and product ops built on the core kernels
// (ops_arrange.cpp, ops_stats.cpp, ops_linalg.cpp, ops_creation.cpp), against
// plain loops and NumPy's values, on the default device (the GPU in a suite
// run with RILL_DEVICE=gpu), with non-contiguous inputs and the documented
// errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <functional>
#include <numeric>

#include "ops_helpers.h"
#include "rill/rill.h"

namespace rill::test {
namespace {

std::vector<double> iota_values(size_t n, double from = 0) {
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), from);
  return v;
}

array iota(const Shape& shape, Dtype t = float32) {
  return array(iota_values(numel(shape)), shape, t);
}

// The element of `a` (row-major values `v`, shape `shape`) at `idx`.
double at(const std::vector<double>& v, const Shape& shape, const std::vector<int>& idx) {
  int64_t off = 0;
  for (size_t d = 0; d < shape.size(); ++d) off = off * shape[d] + idx[d];
  return v[off];
}

TEST(Arrange, AtleastNdShapes) {
  array s(3.0f);
  EXPECT_EQ(atleast_1d(s).shape(), Shape({1}));
  EXPECT_EQ(atleast_2d(s).shape(), Shape({1, 1}));
  EXPECT_EQ(atleast_3d(s).shape(), Shape({1, 1, 1}));
  array v = iota({4});
  EXPECT_EQ(atleast_2d(v).shape(), Shape({1, 4}));
  EXPECT_EQ(atleast_3d(v).shape(), Shape({1, 4, 1}));
  EXPECT_EQ(atleast_3d(iota({2, 3})).shape(), Shape({2, 3, 1}));
  EXPECT_EQ(atleast_1d(iota({2, 3})).shape(), Shape({2, 3}));
  auto many = atleast_2d(std::vector<array>{s, v});
  ASSERT_EQ(many.size(), 2u);
  EXPECT_EQ(many[1].shape(), Shape({1, 4}));
  EXPECT_TRUE(all_close(to_doubles(atleast_3d(v)), iota_values(4)));
}

TEST(Arrange, BroadcastArrays) {
  auto out = broadcast_arrays({iota({3, 1}), iota({4}), array(1.0f)});
  for (const array& x : out) EXPECT_EQ(x.shape(), Shape({3, 4}));
  EXPECT_TRUE(all_close(to_doubles(out[0]), {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}));
  EXPECT_TRUE(throws_invalid([] { broadcast_arrays({iota({3}), iota({4})}); },
                             "[broadcast_arrays]"));
}

TEST(Arrange, DiagonalIsAViewOfEveryPlane) {
  const Shape shape{3, 4, 5};
  array a = iota(shape);
  std::vector<double> v = iota_values(60);
  for (int offset : {-2, -1, 0, 1, 3, 7}) {
    for (auto [a1, a2] : {std::pair{0, 1}, {1, 2}, {2, 0}, {-1, -3}}) {
      array d = diagonal(a, offset, a1, a2);
      int x1 = (a1 + 3) % 3, x2 = (a2 + 3) % 3, other = 3 - x1 - x2;
      int len = std::max(0, std::min(shape[x1] - std::max(0, -offset),
                                     shape[x2] - std::max(0, offset)));
      ASSERT_EQ(d.shape(), Shape({shape[other], len})) << offset << " " << a1 << " " << a2;
      std::vector<double> want;
      for (int o = 0; o < shape[other]; ++o) {
        for (int i = 0; i < len; ++i) {
          std::vector<int> idx(3);
          idx[other] = o;
          idx[x1] = i + std::max(0, -offset);
          idx[x2] = i + std::max(0, offset);
          want.push_back(at(v, shape, idx));
        }
      }
      EXPECT_TRUE(all_close(to_doubles(d), want)) << offset << " " << a1 << " " << a2;
    }
  }
  // Of a transposed input, and the trace over it.
  array t = transpose(iota({4, 3}));
  EXPECT_TRUE(all_close(to_doubles(diagonal(t)), {0, 4, 8}));
  EXPECT_TRUE(throws_invalid([] { diagonal(iota({3})); }, "[diagonal]"));
  EXPECT_TRUE(throws_invalid([] { diagonal(iota({3, 3}), 0, 1, -1); }, "[diagonal]"));
}

TEST(Arrange, DiagMakesAndReadsDiagonals) {
  array v = array({1, 2}, int32);
  EXPECT_TRUE(all_close(to_doubles(diag(v)), {1, 0, 0, 2}));
  array lower = diag(v, -1);
  EXPECT_EQ(lower.shape(), Shape({3, 3}));
  EXPECT_EQ(lower.dtype(), int32);
  EXPECT_TRUE(all_close(to_doubles(lower), {0, 0, 0, 1, 0, 0, 0, 2, 0}));
  EXPECT_TRUE(all_close(to_doubles(diag(v, 1)), {0, 1, 0, 0, 0, 2, 0, 0, 0}));
  EXPECT_TRUE(all_close(to_doubles(diag(iota({3, 3}), 1)), {1, 5}));
  EXPECT_TRUE(throws_invalid([] { diag(iota({2, 2, 2})); }, "[diag]"));
}

TEST(Arrange, FlipReversesAxes) {
  array a = iota({2, 3});
  EXPECT_TRUE(all_close(to_doubles(flip(a)), {5, 4, 3, 2, 1, 0}));
  EXPECT_TRUE(all_close(to_doubles(flip(a, 1)), {2, 1, 0, 5, 4, 3}));
  EXPECT_TRUE(all_close(to_doubles(flip(a, std::vector<int>{0})), {3, 4, 5, 0, 1, 2}));
  // Of a strided view, and of an empty axis.
  EXPECT_TRUE(all_close(to_doubles(flip(transpose(a), 0)), {2, 5, 1, 4, 0, 3}));
  EXPECT_EQ(flip(zeros({0, 2})).shape(), Shape({0, 2}));
  EXPECT_TRUE(throws_invalid([&] { flip(a, 2); }, "[flip]"));
}

TEST(Arrange, MoveaxisAndMatrixTranspose) {
  array a = iota({2, 3, 4});
  EXPECT_EQ(moveaxis(a, 0, -1).shape(), Shape({3, 4, 2}));
  EXPECT_EQ(moveaxis(a, -1, 0).shape(), Shape({4, 2, 3}));
  array m = matrix_transpose(a);
  EXPECT_EQ(m.shape(), Shape({2, 4, 3}));
  EXPECT_TRUE(all_close(to_doubles(take(take(m, 1, 0), 3, 0)), {15, 19, 23}));
  EXPECT_TRUE(all_close(to_doubles(matrix_transpose(iota({2, 2}))), {0, 2, 1, 3}));
  EXPECT_TRUE(throws_invalid([] { matrix_transpose(iota({3})); }, "[matrix_transpose]"));
  EXPECT_TRUE(throws_invalid([&] { moveaxis(a, 3, 0); }, "[moveaxis]"));
}

TEST(Arrange, RepeatAndTile) {
  array a = array({1, 0, 2, 0, 3, 0}, {2, 3}, int32);
  EXPECT_TRUE(all_close(to_doubles(repeat(a, 2, 1)),
                        {1, 1, 0, 0, 2, 2, 0, 0, 3, 3, 0, 0}));
  EXPECT_TRUE(all_close(to_doubles(repeat(a, 2, 0)), {1, 0, 2, 1, 0, 2, 0, 3, 0, 0, 3, 0}));
  EXPECT_TRUE(all_close(to_doubles(repeat(a, 2)), {1, 1, 0, 0, 2, 2, 0, 0, 3, 3, 0, 0}));
  EXPECT_EQ(repeat(a, 0, 1).shape(), Shape({2, 0}));
  EXPECT_TRUE(throws_invalid([&] { repeat(a, -1, 0); }, "[repeat]"));

  array v = array({1, 2}, int32);
  array t = tile(v, {2, 2});
  EXPECT_EQ(t.shape(), Shape({2, 4}));
  EXPECT_TRUE(all_close(to_doubles(t), {1, 2, 1, 2, 1, 2, 1, 2}));
  // reps shorter than the rank apply to the last axes.
  array t2 = tile(a, {2});
  EXPECT_EQ(t2.shape(), Shape({2, 6}));
  EXPECT_TRUE(all_close(to_doubles(t2), {1, 0, 2, 1, 0, 2, 0, 3, 0, 0, 3, 0}));
  EXPECT_TRUE(throws_invalid([&] { tile(v, {-1}); }, "[tile]"));
}

TEST(Arrange, RollEveryForm) {
  array a = iota({2, 3}, int32);
  EXPECT_TRUE(all_close(to_doubles(roll(a, 1)), {5, 0, 1, 2, 3, 4}));
  EXPECT_TRUE(all_close(to_doubles(roll(a, -7)), {1, 2, 3, 4, 5, 0}));
  EXPECT_TRUE(all_close(to_doubles(roll(a, 1, 1)), {2, 0, 1, 5, 3, 4}));
  EXPECT_TRUE(all_close(to_doubles(roll(a, Shape{1, 2}, std::vector<int>{0, 1})),
                        {4, 5, 3, 1, 2, 0}));
  EXPECT_TRUE(all_close(to_doubles(roll(a, 1, std::vector<int>{0, 1})), {5, 3, 4, 2, 0, 1}));
  // Of a transposed view.
  EXPECT_TRUE(all_close(to_doubles(roll(transpose(a), 1, 0)), {2, 5, 0, 3, 1, 4}));
  EXPECT_TRUE(throws_invalid([&] { roll(a, Shape{1}, std::vector<int>{0, 1}); }, "[roll]"));
  EXPECT_TRUE(throws_invalid([&] { roll(a, 1, 2); }, "[roll]"));
}

TEST(Arrange, UnflattenUnstackMeshgrid) {
  array a = iota({2, 6});
  EXPECT_EQ(unflatten(a, 1, {2, 3}).shape(), Shape({2, 2, 3}));
  EXPECT_EQ(unflatten(a, -1, {3, -1}).shape(), Shape({2, 3, 2}));
  EXPECT_TRUE(throws_invalid([&] { unflatten(a, 1, {4, -1}); }, "[unflatten]"));
  EXPECT_TRUE(throws_invalid([&] { unflatten(a, 1, {}); }, "[unflatten]"));

  auto rows = unstack(a);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(all_close(to_doubles(rows[1]), {6, 7, 8, 9, 10, 11}));
  auto cols = unstack(a, 1);
  ASSERT_EQ(cols.size(), 6u);
  EXPECT_TRUE(all_close(to_doubles(cols[4]), {4, 10}));
  EXPECT_TRUE(throws_invalid([] { unstack(array(1.0f)); }, "[unstack]"));

  array x = array({1, 2, 3}, int32), y = array({4, 5}, int32);
  auto xy = meshgrid({x, y});
  EXPECT_EQ(xy[0].shape(), Shape({2, 3}));
  EXPECT_TRUE(all_close(to_doubles(xy[0]), {1, 2, 3, 1, 2, 3}));
  EXPECT_TRUE(all_close(to_doubles(xy[1]), {4, 4, 4, 5, 5, 5}));
  auto ij = meshgrid({x, y}, false, "ij");
  EXPECT_EQ(ij[0].shape(), Shape({3, 2}));
  EXPECT_TRUE(all_close(to_doubles(ij[1]), {4, 5, 4, 5, 4, 5}));
  auto sparse = meshgrid({x, y}, true);
  EXPECT_EQ(sparse[0].shape(), Shape({1, 3}));
  EXPECT_EQ(sparse[1].shape(), Shape({2, 1}));
  EXPECT_TRUE(throws_invalid([&] { meshgrid({x}, false, "yx"); }, "[meshgrid]"));
}

TEST(Arrange, TriTrilTriu) {
  EXPECT_TRUE(all_close(to_doubles(tri(2, 3, 1, float32)), {1, 1, 0, 1, 1, 1}));
  EXPECT_EQ(tri(3, int32).dtype(), int32);
  EXPECT_TRUE(all_close(to_doubles(tri(3, int32)), {1, 0, 0, 1, 1, 0, 1, 1, 1}));
  array m = iota({2, 3}) + 1.0f;
  EXPECT_TRUE(all_close(to_doubles(tril(m)), {1, 0, 0, 4, 5, 0}));
  EXPECT_TRUE(all_close(to_doubles(triu(m, 1)), {0, 2, 3, 0, 0, 6}));
  EXPECT_TRUE(all_close(to_doubles(triu(m, -1)), {1, 2, 3, 4, 5, 6}));
  // Batched, over a transposed view.
  array b = transpose(reshape(iota({8}) + 1.0f, {2, 2, 2}), {0, 2, 1});
  EXPECT_TRUE(all_close(to_doubles(tril(b)), {1, 0, 2, 4, 5, 0, 6, 8}));
  EXPECT_TRUE(throws_invalid([] { tril(iota({3})); }, "[tril]"));
  EXPECT_TRUE(throws_invalid([] { tri(-1, 2, 0, float32); }, "[tri]"));
}

TEST(Arrange, AsStridedViewsAndBounds) {
  array a = iota({3, 4});
  // Overlapping windows of 2 along the rows.
  array w = as_strided(a, {2, 2, 4}, {4, 4, 1}, 0);
  EXPECT_TRUE(all_close(to_doubles(w), {0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7, 8, 9, 10, 11}));
  // Of a non-contiguous input: strides count in its row-major order.
  array t = as_strided(transpose(a), {3}, {1}, 4);
  EXPECT_TRUE(all_close(to_doubles(t), {5, 9, 2}));
  EXPECT_TRUE(all_close(to_doubles(as_strided(a, {3}, {-4}, 11)), {11, 7, 3}));
  EXPECT_EQ(as_strided(a, {0, 5}, {100, 100}, 0).shape(), Shape({0, 5}));
  EXPECT_TRUE(throws_invalid([&] { as_strided(a, {2, 2}, {4, 9}, 0); }, "[as_strided]"));
  EXPECT_TRUE(throws_invalid([&] { as_strided(a, {2}, {-1}, 0); }, "[as_strided]"));
  EXPECT_TRUE(throws_invalid([&] { as_strided(a, {2}, {1, 1}, 0); }, "[as_strided]"));
}

TEST(Arrange, DependsEvaluatesDependenciesFirst) {
  array x = iota({3});
  array side = exp(iota({2}));
  auto out = depends({x * 2.0f}, {side});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(all_close(to_doubles(out[0]), {0, 2, 4}));
  EXPECT_TRUE(side.is_available());
  EXPECT_TRUE(all_close(to_doubles(stop_gradient(x)), {0, 1, 2}));
  EXPECT_TRUE(all_close(to_doubles(positive(x)), {0, 1, 2}));
}

TEST(Creation, IdentityLinspaceWindows) {
  EXPECT_TRUE(all_close(to_doubles(identity(2, int32)), {1, 0, 0, 1}));
  EXPECT_TRUE(all_close(to_doubles(linspace(0, 1, 5)), {0, 0.25, 0.5, 0.75, 1}));
  EXPECT_TRUE(all_close(to_doubles(linspace(0, 1, 4, false)), {0, 0.25, 0.5, 0.75}));
  EXPECT_TRUE(all_close(to_doubles(linspace(2, 3, 1)), {2}));
  EXPECT_EQ(linspace(0, 1, 0).shape(), Shape({0}));
  EXPECT_EQ(linspace(0, 10, 3, int32).dtype(), int32);
  EXPECT_TRUE(all_close(to_doubles(linspace(-1, 1, 3, float64)), {-1, 0, 1}));
  EXPECT_TRUE(throws_invalid([] { linspace(0, 1, -1); }, "[linspace]"));
  // NumPy's windows.
  EXPECT_TRUE(all_close(to_doubles(hanning(5)), {0, 0.5, 1, 0.5, 0}, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(to_doubles(hamming(3)), {0.08, 1, 0.08}, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(to_doubles(blackman(4)), {-1.3877788e-17, 0.63, 0.63, -1.3877788e-17},
                        1e-6, 1e-6));
  EXPECT_TRUE(all_close(to_doubles(bartlett(5)), {0, 0.5, 1, 0.5, 0}, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(to_doubles(hanning(1)), {1}));
  EXPECT_EQ(hamming(0).shape(), Shape({0}));
  EXPECT_TRUE(throws_invalid([] { blackman(-1); }, "[blackman]"));
}

TEST(Stats, VarStdAgainstLoops) {
  const Shape shape{3, 5};
  for (Dtype t : {float32, float16, int32}) {
    std::vector<double> v = random_values(15, t, 7);
    array a = array(v, shape, t);
    for (int ddof : {0, 1}) {
      array got = var(a, 1, false, ddof);
      EXPECT_EQ(got.dtype(), t == int32 ? float32 : t);
      std::vector<double> want;
      for (int r = 0; r < 3; ++r) {
        double m = 0, ss = 0;
        for (int c = 0; c < 5; ++c) m += v[r * 5 + c] / 5;
        for (int c = 0; c < 5; ++c) ss += (v[r * 5 + c] - m) * (v[r * 5 + c] - m);
        want.push_back(ss / (5 - ddof));
      }
      double tol = t == float16 ? 4e-3 : 1e-5;
      EXPECT_TRUE(all_close(to_doubles(got), want, tol, tol)) << t << " ddof " << ddof;
      std::vector<double> sd;
      for (double w : want) sd.push_back(std::sqrt(w));
      EXPECT_TRUE(all_close(to_doubles(std(a, 1, false, ddof)), sd, tol, tol));
    }
  }
  array x = array({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2});
  EXPECT_NEAR(var(x).item<float>(), 1.25f, 1e-6);
  EXPECT_EQ(var(x, true).shape(), Shape({1, 1}));
  EXPECT_TRUE(all_close(to_doubles(std(transpose(x), 0)), {0.5, 0.5}, 1e-6, 1e-6));
  EXPECT_TRUE(std::isnan(var(array({1.0f}), false, 1).item<float>()));
  EXPECT_TRUE(throws_invalid([&] { var(x, 2); }, "[var]"));
}

TEST(Stats, MedianOddEvenNaNAndAxes) {
  EXPECT_FLOAT_EQ(median(array({3, 1, 2}, int32)).item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(median(array({1, 2, 3, 4}, int32)).item<float>(), 2.5f);
  EXPECT_TRUE(std::isnan(median(array({1.0f, NAN, 3.0f})).item<float>()));
  array m = array({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2});
  array c = median(m, 0, true);
  EXPECT_EQ(c.shape(), Shape({1, 2}));
  EXPECT_TRUE(all_close(to_doubles(c), {2, 3}));
  array r = median(transpose(m), std::vector<int>{0});
  EXPECT_TRUE(all_close(to_doubles(r), {1.5, 3.5}));
  EXPECT_EQ(median(array({1.0f, 2.0f}, bfloat16)).dtype(), bfloat16);
  // Over several axes of a random 3-D array, against a loop.
  std::vector<double> v = random_values(24, float32, 3);
  array a = array(v, {2, 3, 4}, float32);
  array got = median(a, std::vector<int>{0, 2});
  std::vector<double> want;
  for (int j = 0; j < 3; ++j) {
    std::vector<double> vals;
    for (int i = 0; i < 2; ++i) {
      for (int k = 0; k < 4; ++k) vals.push_back(v[(i * 3 + j) * 4 + k]);
    }
    std::sort(vals.begin(), vals.end());
    want.push_back((vals[3] + vals[4]) / 2);
  }
  EXPECT_TRUE(all_close(to_doubles(got), want, 1e-6, 1e-6));
}

TEST(Stats, CountNonzeroMinmaxDiff) {
  array a = array({1, 0, 2, 0, 3, 0}, {2, 3}, int32);
  EXPECT_EQ(count_nonzero(a).item<int32_t>(), 3);
  EXPECT_EQ(count_nonzero(a).dtype(), int32);
  EXPECT_TRUE(all_close(to_doubles(count_nonzero(a, 0)), {1, 1, 1}));
  EXPECT_TRUE(all_close(to_doubles(count_nonzero(array({NAN, 0.0f, -0.0f}))), {1}));
  auto [lo, hi] = minmax(a, 1);
  EXPECT_TRUE(all_close(to_doubles(lo), {0, 0}));
  EXPECT_TRUE(all_close(to_doubles(hi), {2, 3}));

  EXPECT_TRUE(all_close(to_doubles(diff(array({1, 4, 9, 16}, int32))), {3, 5, 7}));
  EXPECT_TRUE(all_close(to_doubles(diff(array({1, 4, 9, 16}, int32), 2)), {2, 2}));
  EXPECT_EQ(diff(array({1, 2}, int32), 5).shape(), Shape({0}));
  EXPECT_TRUE(all_close(to_doubles(diff(a, 1, 0)), {-1, 3, -2}));
  array b = diff(array({true, false, false}));
  EXPECT_EQ(b.dtype(), bool_);
  EXPECT_TRUE(all_close(to_doubles(b), {1, 0}));
  EXPECT_TRUE(throws_invalid([] { diff(array(1.0f)); }, "[diff]"));
  EXPECT_TRUE(throws_invalid([&] { diff(a, -1); }, "[diff]"));
  EXPECT_EQ(number_of_elements(a, {0, 1}, false).item<int32_t>(), 6);
  EXPECT_NEAR(number_of_elements(a, {1}, true, float32).item<float>(), 1.0f / 3, 1e-7);
}

TEST(Products, TensordotAgainstLoops) {
  std::vector<double> va = random_values(24, float32, 1), vb = random_values(60, float32, 2);
  array a = array(va, {2, 3, 4}, float32), b = array(vb, {3, 4, 5}, float32);
  array c = tensordot(a, b);
  ASSERT_EQ(c.shape(), Shape({2, 5}));
  std::vector<double> want(10, 0);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k)
        for (int l = 0; l < 5; ++l) want[i * 5 + l] += va[(i * 3 + j) * 4 + k] * vb[(j * 4 + k) * 5 + l];
  EXPECT_TRUE(all_close(to_doubles(c), want, 1e-5, 1e-4));
  // Contracting axes given out of order: a's (2, 1) with b's (1, 0).
  array d = tensordot(a, transpose(b, {1, 0, 2}), {2, 1}, {0, 1});
  EXPECT_TRUE(all_close(to_doubles(d), want, 1e-5, 1e-4));
  EXPECT_EQ(tensordot(a, b, 0).shape(), Shape({2, 3, 4, 3, 4, 5}));
  EXPECT_TRUE(throws_invalid([&] { tensordot(a, b, {0}, {0}); }, "[tensordot]"));
  EXPECT_TRUE(throws_invalid([&] { tensordot(a, b, 4); }, "[tensordot]"));
  EXPECT_TRUE(throws_invalid([&] { tensordot(a, b, {1}, {0, 1}); }, "[tensordot]"));
}

TEST(Products, InnerOuterKronTraceVecdot) {
  array x = array({1.0f, 2.0f, 3.0f}), y = array({4.0f, 5.0f, 6.0f});
  EXPECT_FLOAT_EQ(inner(x, y).item<float>(), 32.0f);
  EXPECT_TRUE(all_close(to_doubles(inner(array(2, int32), array({1, 2}, int32))), {2, 4}));
  array m = array({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2});
  EXPECT_TRUE(all_close(to_doubles(inner(m, m)), {5, 11, 11, 25}));
  EXPECT_TRUE(throws_invalid([&] { inner(x, m); }, "[inner]"));

  array o = outer(array({1, 2}, {1, 2}, int32), array({3.0f, 4.0f}));
  EXPECT_EQ(o.shape(), Shape({2, 2}));
  EXPECT_TRUE(all_close(to_doubles(o), {3, 4, 6, 8}));

  array k = kron(array({1, 2}, int32), array({1, 3}, {2, 1}, int32));
  EXPECT_EQ(k.shape(), Shape({2, 2}));
  EXPECT_TRUE(all_close(to_doubles(k), {1, 2, 3, 6}));
  array k2 = kron(m, eye(2));
  EXPECT_EQ(k2.shape(), Shape({4, 4}));
  EXPECT_TRUE(all_close(to_doubles(k2), {1, 0, 2, 0, 0, 1, 0, 2, 3, 0, 4, 0, 0, 3, 0, 4}));

  array b = ones({2, 3, 3});
  EXPECT_TRUE(all_close(to_doubles(trace(b, 0, 1, 2)), {3, 3}));
  EXPECT_FLOAT_EQ(trace(m).item<float>(), 5.0f);
  EXPECT_EQ(trace(array({true, false}, {1, 2})).dtype(), int32);
  EXPECT_EQ(trace(m, 1, 0, 1, int32).dtype(), int32);

  EXPECT_TRUE(all_close(to_doubles(vecdot(m, array({1.0f, 1.0f}))), {3, 7}));
  EXPECT_TRUE(all_close(to_doubles(vecdot(m, m, 0)), {10, 20}));
}

}  // namespace
}  // namespace rill::test

namespace rill::test {
namespace {

// Scan `op` of row-major `x` of `shape` along `axis`, in double.
std::vector<double> ref_scan(const std::string& op, const std::vector<double>& x,
                             const Shape& shape, int axis, bool reverse, bool inclusive) {
  int64_t inner = 1, n = shape[axis];
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  const int64_t outer = static_cast<int64_t>(x.size()) / std::max<int64_t>(n * inner, 1);
  const double inf = std::numeric_limits<double>::infinity();
  const double id = op == "sum" ? 0 : op == "prod" ? 1 : op == "min" ? inf : -inf;
  auto combine = [&](double a, double b) {
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
    if (op == "sum") return a + b;
    if (op == "prod") return a * b;
    if (op == "max") return std::max(a, b);
    if (op == "min") return std::min(a, b);
    double hi = std::max(a, b), lo = std::min(a, b);
    return hi == -inf ? hi : hi + std::log1p(std::exp(lo - hi));
  };
  std::vector<double> out(x.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      double acc = id;
      for (int64_t k = 0; k < n; ++k) {
        int64_t i = (o * n + (reverse ? n - 1 - k : k)) * inner + j;
        double before = acc;
        acc = combine(acc, x[i]);
        out[i] = inclusive ? acc : before;
      }
    }
  }
  return out;
}

TEST(Scans, EveryOpAxisDirectionAndDtype) {
  const Shape shape{3, 4, 5};
  struct Case {
    const char* op;
    std::function<array(const array&, int, bool, bool)> fn;
  };
  std::vector<Case> cases = {
      {"prod", [](const array& a, int ax, bool r, bool i) { return cumprod(a, ax, r, i); }},
      {"max", [](const array& a, int ax, bool r, bool i) { return cummax(a, ax, r, i); }},
      {"min", [](const array& a, int ax, bool r, bool i) { return cummin(a, ax, r, i); }},
      {"lse", [](const array& a, int ax, bool r, bool i) { return logcumsumexp(a, ax, r, i); }},
  };
  for (const Case& c : cases) {
    for (Dtype t : {float32, float16, bfloat16, float64, int32, int64, uint8}) {
      // Products of small values stay exact in every dtype.
      array a = std::string(c.op) == "prod" ? random_array(shape, t, 9, -2, 2)
                                            : random_array(shape, t, 9);
      std::vector<double> x = to_doubles(a);
      for (int axis : {0, 1, 2}) {
        for (bool reverse : {false, true}) {
          for (bool inclusive : {true, false}) {
            SCOPED_TRACE(std::string(c.op) + " " + dtype_name(t) + " axis " +
                         std::to_string(axis) + (reverse ? " reverse" : "") +
                         (inclusive ? "" : " exclusive"));
            array y = c.fn(a, axis, reverse, inclusive);
            Dtype want = std::string(c.op) == "lse" && !is_floating_point(t) ? float32 : t;
            EXPECT_EQ(y.dtype(), want);
            std::vector<double> ref = ref_scan(c.op, x, shape, axis, reverse, inclusive);
            if (!inclusive && !is_floating_point(t) && (std::string(c.op) == "max" ||
                                                        std::string(c.op) == "min")) {
              // The identity of an integer max (min) is the dtype's lowest (highest).
              for (double& v : ref) {
                if (std::isinf(v)) v = v < 0 ? (t == uint8 ? 0 : (t == int32 ? -2147483648.0 : -9223372036854775808.0))
                                             : (t == uint8 ? 255 : (t == int32 ? 2147483647.0 : 9223372036854775807.0));
              }
            }
            double tol = std::max(eps_of(want) * 4, 1e-6);
            EXPECT_TRUE(all_close(to_doubles(y), ref, tol, tol));
          }
        }
      }
    }
  }
}

TEST(Scans, LongRowsNonContiguousAndNaN) {
  // Rows long enough for the GPU's block scan, through a transposed view.
  const int n = 1000;
  std::vector<double> v = random_values(2 * n, float32, 4, -1, 1);
  array a = transpose(array(v, {n, 2}, float32));
  std::vector<double> x = to_doubles(a);
  for (bool inclusive : {true, false}) {
    EXPECT_TRUE(all_close(to_doubles(cummax(a, 1, false, inclusive)),
                          ref_scan("max", x, {2, n}, 1, false, inclusive)));
    EXPECT_TRUE(all_close(to_doubles(cummin(a, 1, true, inclusive)),
                          ref_scan("min", x, {2, n}, 1, true, inclusive)));
    EXPECT_TRUE(all_close(to_doubles(logcumsumexp(a, 1, false, inclusive)),
                          ref_scan("lse", x, {2, n}, 1, false, inclusive), 1e-5, 1e-5));
  }
  array nan = array({1.0f, NAN, 3.0f, 0.0f});
  EXPECT_TRUE(all_close(to_doubles(cummax(nan)), {1, NAN, NAN, NAN}));
  EXPECT_TRUE(all_close(to_doubles(cummin(nan, 0, true)), {NAN, NAN, 0, 0}));
  EXPECT_TRUE(all_close(to_doubles(logcumsumexp(array({-INFINITY, -INFINITY}))),
                        {-INFINITY, -INFINITY}));
}

TEST(Scans, RowsOfManyTilesInOnePass) {
  // Rows past the GPU's one-pass threshold (2^16 elements, at most 256 rows):
  // their tiles find their carries from the tiles before them. Integer sums
  // are exact; an odd length leaves a partial last tile.
  const int n = (1 << 17) + 3;
  const Shape shape{3, n};
  array ints = random_array(shape, int32, 21, -3, 3);
  std::vector<double> xi = to_doubles(ints);
  array floats = random_array(shape, float32, 22, -1, 1);
  std::vector<double> xf = to_doubles(floats);
  for (bool reverse : {false, true}) {
    for (bool inclusive : {true, false}) {
      SCOPED_TRACE(std::string(reverse ? "reverse" : "forward") + (inclusive ? "" : " exclusive"));
      EXPECT_EQ(to_doubles(cumsum(ints, 1, reverse, inclusive)),
                ref_scan("sum", xi, shape, 1, reverse, inclusive));
      EXPECT_TRUE(all_close(to_doubles(cumsum(floats, 1, reverse, inclusive)),
                            ref_scan("sum", xf, shape, 1, reverse, inclusive), 1e-5, 1e-4));
      EXPECT_EQ(to_doubles(cummax(floats, 1, reverse, inclusive)),
                ref_scan("max", xf, shape, 1, reverse, inclusive));
    }
  }
  // One long row, the flattened form, and a sum of bools (int32 counts).
  array flat = reshape(ints, {-1});
  std::vector<double> want = ref_scan("sum", xi, {3 * n}, 0, false, true);
  EXPECT_EQ(to_doubles(cumsum(flat)), want);
  array positive = greater(ints, array(0));
  std::vector<double> bits = to_doubles(positive);
  EXPECT_EQ(to_doubles(cumsum(positive, 1)), ref_scan("sum", bits, shape, 1, false, true));
}

TEST(Scans, MlxDtypeRulesAndFlattenedForms) {
  array m = array({1, 2, 3, 4}, {2, 2}, int32);
  array flat = cumsum(m);
  EXPECT_EQ(flat.shape(), Shape({4}));
  EXPECT_TRUE(all_close(to_doubles(flat), {1, 3, 6, 10}));
  EXPECT_TRUE(all_close(to_doubles(cumprod(m, true)), {24, 24, 12, 4}));
  EXPECT_EQ(cumsum(m, false, true, float32).dtype(), float32);
  // dtype converts the input first.
  EXPECT_TRUE(all_close(to_doubles(cumsum(array({1.5f, 2.5f}), 0, false, true, int32)), {1, 3}));
  EXPECT_EQ(cumsum(array({true, true})).dtype(), int32);
  EXPECT_EQ(cumsum(array({1, 2}, uint8)).dtype(), uint8);
  array b = cumprod(array({true, false, true}));
  EXPECT_EQ(b.dtype(), bool_);
  EXPECT_TRUE(all_close(to_doubles(b), {1, 0, 0}));
  EXPECT_TRUE(all_close(to_doubles(cummax(array({false, true, false}))), {0, 1, 1}));
  EXPECT_TRUE(all_close(to_doubles(cummax(array({1, 2}, uint8), 0, false, false)), {0, 1}));
  EXPECT_TRUE(all_close(to_doubles(cummin(array({1, 2}, int32), 0, false, false)),
                        {2147483647, 1}));
  EXPECT_EQ(logcumsumexp(m, 1).dtype(), float32);
  EXPECT_EQ(cummax(zeros({0, 3}), 0).shape(), Shape({0, 3}));
  EXPECT_TRUE(throws_invalid([&] { cummax(m, 2); }, "[cummax]"));
  EXPECT_TRUE(throws_invalid([&] { logcumsumexp(array(1.0f), 0); }, "[logcumsumexp]"));
}

TEST(Unary, ErfinvInvertsErf) {
  std::vector<double> ys;
  for (double y = -0.999; y < 1; y += 0.0371) ys.push_back(y);
  ys.insert(ys.end(), {-0.9999999, 0.9999999, 1e-8, 0});
  for (Dtype t : {float32, float64}) {
    array x = erfinv(array(ys, {static_cast<int>(ys.size())}, t));
    std::vector<double> got = to_doubles(x);
    for (size_t i = 0; i < ys.size(); ++i) {
      double back = std::erf(got[i]);
      EXPECT_NEAR(back, ys[i], t == float64 ? 1e-14 : 2e-7) << ys[i];
    }
  }
  array edge = erfinv(array({1.0f, -1.0f, 1.5f, NAN}));
  EXPECT_TRUE(all_close(to_doubles(edge), {INFINITY, -INFINITY, NAN, NAN}));
  EXPECT_EQ(erfinv(array({0, 1}, int32)).dtype(), float32);
  EXPECT_NEAR(erfinv(array(0.5f, bfloat16)).item<bfloat16_t>(), 0.4769f, 4e-3);
}

}  // namespace
}  // namespace rill::test
