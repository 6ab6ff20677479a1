// rill::linalg against NumPy's values and the identities each factorization
// promises (Q R = A, U S Vt = A, A inv(A) = I, L L^T = A, A v = w v, ...),
// checked with plain double loops; batched, non-contiguous and float64
// inputs; empty matrices; and the documented errors. The LAPACK ops are asked
// for the CPU explicitly (the default device is the GPU in a suite run with
// RILL_DEVICE=gpu); norm and cross run on the default device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <thread>

#include "ops_helpers.h"
#include "rill/rill.h"

namespace rill::test {
namespace {

const Device kCpu = Device::cpu;

// A batch of matrices read back as doubles: count matrices of m x n.
struct Mats {
  std::vector<double> v;
  int64_t count;
  int m, n;
  double operator()(int64_t b, int i, int j) const { return v[(b * m + i) * n + j]; }
};
Mats mats(const array& a) {
  const int m = a.shape(-2), n = a.shape(-1);
  const int64_t per = int64_t(m) * n;
  return {to_doubles(a), per ? int64_t(a.size()) / per : 0, m, n};
}

// x @ y per matrix (y may be one matrix for all), row-major.
std::vector<double> product(const Mats& x, const Mats& y) {
  std::vector<double> out;
  for (int64_t b = 0; b < x.count; ++b) {
    const int64_t yb = y.count == 1 ? 0 : b;
    for (int i = 0; i < x.m; ++i) {
      for (int j = 0; j < y.n; ++j) {
        double acc = 0;
        for (int k = 0; k < x.n; ++k) acc += x(b, i, k) * y(yb, k, j);
        out.push_back(acc);
      }
    }
  }
  return out;
}
Mats transposed(const Mats& x) {
  Mats t{{}, x.count, x.n, x.m};
  for (int64_t b = 0; b < x.count; ++b) {
    for (int i = 0; i < x.n; ++i) {
      for (int j = 0; j < x.m; ++j) t.v.push_back(x(b, j, i));
    }
  }
  return t;
}
std::vector<double> identities(int64_t count, int n) {
  std::vector<double> out;
  for (int64_t b = 0; b < count; ++b) {
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) out.push_back(i == j ? 1 : 0);
    }
  }
  return out;
}

double tol(Dtype t) {
  return t == float64 ? 1e-10 : 2e-4;
}

// Symmetric positive definite: X X^T + n I.
array spd(const Shape& shape, Dtype t, uint32_t seed) {
  array x = random_array(shape, t, seed, -1, 1);
  const int n = shape.back();
  return add(matmul(x, swapaxes(x, -1, -2, kCpu), kCpu),
             multiply(eye(n, t, kCpu), array(double(n), t), kCpu), kCpu);
}

// A random array of `shape` whose last two axes are a transposed view.
array strided(const Shape& shape, Dtype t, uint32_t seed) {
  Shape s = shape;
  std::swap(s[s.size() - 1], s[s.size() - 2]);
  return swapaxes(random_array(s, t, seed), -1, -2);
}

// Expects evaluating `a` to fail with a message holding every one of `parts`.
::testing::AssertionResult fails_at_eval(array a, std::vector<std::string> parts) {
  try {
    a.eval();
  } catch (const std::exception& e) {
    const std::string what = e.what();
    for (const std::string& p : parts) {
      if (what.find(p) == std::string::npos) {
        return ::testing::AssertionFailure() << "message lacks '" << p << "': " << what;
      }
    }
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "eval did not fail";
}

const std::vector<Dtype> kLapackTypes = {float32, float64};

// ---------------------------------------------------------------- qr

TEST(Linalg, QrMatchesNumpy) {
  array a({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {3, 2}, float64);
  auto [q, r] = linalg::qr(a, kCpu);
  EXPECT_EQ(q.shape(), Shape({3, 2}));
  EXPECT_EQ(r.shape(), Shape({2, 2}));
  EXPECT_TRUE(all_close(to_doubles(q),
                        {-0.16903085094570325, 0.8970852271450607, -0.50709255283711,
                         0.27602622373694136, -0.8451542547285166, -0.345032779671177},
                        1e-12, 1e-12));
  EXPECT_TRUE(all_close(to_doubles(r),
                        {-5.916079783099616, -7.437357441610946, 0.0, 0.8280786712108248},
                        1e-12, 1e-12));
}

TEST(Linalg, QrReconstructsBatchedAndStridedInputs) {
  for (Dtype t : kLapackTypes) {
    for (const Shape& shape :
         {Shape{4, 3}, Shape{3, 5}, Shape{2, 3, 4, 4}, Shape{5, 1}}) {
      array a = random_array(shape, t, 7);
      for (bool view : {false, true}) {
        array in = view ? strided(shape, t, 8) : a;
        auto [q, r] = linalg::qr(in, kCpu);
        const int m = shape[shape.size() - 2], n = shape.back(), k = std::min(m, n);
        EXPECT_EQ(q.shape().back(), k);
        EXPECT_EQ(r.shape()[r.ndim() - 2], k);
        EXPECT_EQ(q.dtype(), t);
        Mats mq = mats(q), mr = mats(r), ma = mats(in);
        EXPECT_TRUE(all_close(product(mq, mr), ma.v, tol(t), tol(t))) << str(shape);
        EXPECT_TRUE(
            all_close(product(transposed(mq), mq), identities(mq.count, k), 0, tol(t)));
        for (int64_t b = 0; b < mr.count; ++b) {
          for (int i = 0; i < k; ++i) {
            for (int j = 0; j < std::min(i, n); ++j) EXPECT_EQ(mr(b, i, j), 0.0);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------- svd

TEST(Linalg, SvdReconstructs) {
  for (Dtype t : kLapackTypes) {
    for (const Shape& shape : {Shape{3, 2}, Shape{2, 4}, Shape{3, 4, 4}}) {
      array a = random_array(shape, t, 11);
      std::vector<array> usv = linalg::svd(a, kCpu);
      ASSERT_EQ(usv.size(), 3u);
      const int m = shape[shape.size() - 2], n = shape.back(), k = std::min(m, n);
      Mats u = mats(usv[0]), vt = mats(usv[2]);
      EXPECT_EQ(u.m, m);
      EXPECT_EQ(u.n, m);
      EXPECT_EQ(vt.m, n);
      EXPECT_EQ(usv[1].shape().back(), k);
      std::vector<double> s = to_doubles(usv[1]);
      // U[:, :k] diag(S) Vt[:k, :]
      std::vector<double> rebuilt;
      for (int64_t b = 0; b < u.count; ++b) {
        for (int i = 0; i < m; ++i) {
          for (int j = 0; j < n; ++j) {
            double acc = 0;
            for (int l = 0; l < k; ++l) acc += u(b, i, l) * s[b * k + l] * vt(b, l, j);
            rebuilt.push_back(acc);
          }
        }
        for (int l = 0; l + 1 < k; ++l) EXPECT_GE(s[b * k + l], s[b * k + l + 1]);
      }
      EXPECT_TRUE(all_close(rebuilt, to_doubles(a), tol(t), tol(t)));
      EXPECT_TRUE(
          all_close(product(transposed(u), u), identities(u.count, m), 0, tol(t)));
      EXPECT_TRUE(
          all_close(product(vt, transposed(vt)), identities(vt.count, n), 0, tol(t)));
      std::vector<array> only_s = linalg::svd(a, false, kCpu);
      ASSERT_EQ(only_s.size(), 1u);
      EXPECT_TRUE(all_close(to_doubles(only_s[0]), s, tol(t), tol(t)));
    }
  }
  array a({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, {3, 2});
  EXPECT_TRUE(all_close(to_doubles(linalg::svd(transpose(a), false, kCpu)[0]),
                        {9.525518091565107, 0.514300580658644}, 1e-5));
}

// ---------------------------------------------------------------- inverses

TEST(Linalg, InvMatchesNumpyAndInverts) {
  array a({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2});
  EXPECT_TRUE(
      all_close(to_doubles(linalg::inv(a, kCpu)), {-2, 1, 1.5, -0.5}, 1e-6, 1e-6));
  for (Dtype t : kLapackTypes) {
    array x = add(random_array({3, 5, 5}, t, 3), multiply(eye(5, t), array(4.0, t)));
    for (array in : {x, swapaxes(x, -1, -2)}) {
      array xi = linalg::inv(in, kCpu);
      EXPECT_EQ(xi.dtype(), t);
      EXPECT_TRUE(all_close(product(mats(in), mats(xi)), identities(3, 5), 0, tol(t)));
    }
  }
}

TEST(Linalg, SingularInverseFailsAtEval) {
  array z = zeros({2, 2}, float32);
  array zi = linalg::inv(z, kCpu);  // building it is fine
  EXPECT_TRUE(fails_at_eval(zi, {"[linalg::inv]", "singular"}));
  array batch = stack({eye(2, float32), zeros({2, 2}, float32)});
  EXPECT_TRUE(
      fails_at_eval(linalg::inv(batch, kCpu), {"singular", "matrix 1 of the batch"}));
  EXPECT_TRUE(
      fails_at_eval(linalg::tri_inv(z, false, kCpu), {"[linalg::tri_inv]", "singular"}));
}

TEST(Linalg, TriInvReadsOneTriangle) {
  array a({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2});
  EXPECT_TRUE(
      all_close(to_doubles(linalg::tri_inv(a, false, kCpu)), {1, 0, -0.75, 0.25}, 1e-6));
  EXPECT_TRUE(
      all_close(to_doubles(linalg::tri_inv(a, true, kCpu)), {1, -0.5, 0, 0.25}, 1e-6));
  for (Dtype t : kLapackTypes) {
    array l =
        add(tril(random_array({2, 4, 4}, t, 5)), multiply(eye(4, t), array(3.0, t)));
    array li = linalg::tri_inv(l, false, kCpu);
    EXPECT_TRUE(all_close(product(mats(l), mats(li)), identities(2, 4), 0, tol(t)));
    array u = swapaxes(l, -1, -2);  // a strided upper triangle
    array ui = linalg::tri_inv(u, true, kCpu);
    EXPECT_TRUE(all_close(product(mats(ui), mats(u)), identities(2, 4), 0, tol(t)));
  }
}

TEST(Linalg, CholeskyMatchesNumpyAndReconstructs) {
  array a({4.0f, 2.0f, 2.0f, 3.0f}, {2, 2});
  EXPECT_TRUE(all_close(to_doubles(linalg::cholesky(a, false, kCpu)),
                        {2, 0, 1, std::sqrt(2.0)}, 1e-6));
  EXPECT_TRUE(all_close(to_doubles(linalg::cholesky(a, true, kCpu)),
                        {2, 1, 0, std::sqrt(2.0)}, 1e-6));
  for (Dtype t : kLapackTypes) {
    array x = spd({3, 4, 4}, t, 9);
    Mats l = mats(linalg::cholesky(x, false, kCpu));
    EXPECT_TRUE(all_close(product(l, transposed(l)), to_doubles(x), tol(t), tol(t)));
    Mats u = mats(linalg::cholesky(x, true, kCpu));
    EXPECT_TRUE(all_close(product(transposed(u), u), to_doubles(x), tol(t), tol(t)));
    // Only the lower triangle is read by default.
    array garbled = add(tril(x), triu(full({4, 4}, 100.0, t), 1));
    EXPECT_TRUE(all_close(to_doubles(linalg::cholesky(garbled, false, kCpu)), l.v, tol(t),
                          tol(t)));
  }
}

TEST(Linalg, CholeskyOfIndefiniteMatrixFailsAtEval) {
  array a({1.0f, 2.0f, 2.0f, 1.0f}, {2, 2});
  EXPECT_TRUE(fails_at_eval(linalg::cholesky(a, false, kCpu),
                            {"[linalg::cholesky]", "not positive definite"}));
}

TEST(Linalg, CholeskyInv) {
  array l({2.0f, 0.0f, 1.0f, 3.0f}, {2, 2});
  EXPECT_TRUE(all_close(to_doubles(linalg::cholesky_inv(l, false, kCpu)),
                        {0.2777778, -0.05555556, -0.05555556, 0.11111112}, 1e-5));
  for (Dtype t : kLapackTypes) {
    array x = spd({2, 3, 3}, t, 4);
    for (bool upper : {false, true}) {
      array xi = linalg::cholesky_inv(linalg::cholesky(x, upper, kCpu), upper, kCpu);
      EXPECT_TRUE(all_close(product(mats(x), mats(xi)), identities(2, 3), 0, tol(t)));
    }
  }
}

TEST(Linalg, PinvMatchesNumpy) {
  array a({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {3, 2}, float64);
  array p = linalg::pinv(a, kCpu);
  EXPECT_EQ(p.shape(), Shape({2, 3}));
  EXPECT_TRUE(all_close(to_doubles(p),
                        {-1.3333333333333337, -0.3333333333333329, 0.6666666666666666,
                         1.083333333333334, 0.33333333333333304, -0.4166666666666667},
                        1e-10, 1e-10));
  // Rank deficient: A pinv(A) A = A.
  array ones3 = ones({2, 3, 2}, float32);
  array po = linalg::pinv(ones3, kCpu);
  EXPECT_TRUE(all_close(to_doubles(po), std::vector<double>(12, 1.0 / 6), 1e-5, 1e-6));
  array empty = linalg::pinv(zeros({0, 2}, float32), kCpu);
  EXPECT_EQ(empty.shape(), Shape({2, 0}));
}

// ---------------------------------------------------------------- solvers

TEST(Linalg, SolveMatchesNumpyAndBroadcasts) {
  array a({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2});
  array x = linalg::solve(a, array({1.0f, 2.0f}), kCpu);
  EXPECT_EQ(x.shape(), Shape({2}));
  EXPECT_TRUE(all_close(to_doubles(x), {0, 0.5}, 1e-6, 1e-6));
  for (Dtype t : kLapackTypes) {
    array m = add(random_array({3, 4, 4}, t, 21), multiply(eye(4, t), array(4.0, t)));
    array b = random_array({4, 2}, t, 22);
    array xs = linalg::solve(m, b, kCpu);  // b broadcast over the batch
    EXPECT_EQ(xs.shape(), Shape({3, 4, 2}));
    EXPECT_TRUE(all_close(product(mats(m), mats(xs)),
                          to_doubles(broadcast_to(b, {3, 4, 2})), tol(t), tol(t)));
    // A vector right-hand side with a batch of matrices, and a transposed a.
    array v = random_array({4}, t, 23);
    array mt = swapaxes(m, -1, -2);
    array xv = linalg::solve(mt, v, kCpu);
    EXPECT_EQ(xv.shape(), Shape({3, 4}));
    std::vector<double> want;
    for (int i = 0; i < 3; ++i) {
      for (double e : to_doubles(v)) want.push_back(e);
    }
    EXPECT_TRUE(
        all_close(product(mats(mt), mats(reshape(xv, {3, 4, 1}))), want, tol(t), tol(t)));
  }
  // Mixed dtypes promote; float64 wins.
  EXPECT_EQ(linalg::solve(a, array({1.0, 2.0}, float64), kCpu).dtype(), float64);
}

TEST(Linalg, SingularSolveFailsAtEval) {
  EXPECT_TRUE(
      fails_at_eval(linalg::solve(zeros({2, 2}, float32), array({1.0f, 2.0f}), kCpu),
                    {"[linalg::solve]", "singular"}));
  EXPECT_TRUE(fails_at_eval(
      linalg::solve_triangular(zeros({2, 2}, float32), array({1.0f, 2.0f}), false, kCpu),
      {"[linalg::solve_triangular]", "singular"}));
}

TEST(Linalg, SolveTriangular) {
  array a({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2});
  EXPECT_TRUE(
      all_close(to_doubles(linalg::solve_triangular(a, array({1.0f, 2.0f}), false, kCpu)),
                {1, -0.25}, 1e-6, 1e-6));
  EXPECT_TRUE(
      all_close(to_doubles(linalg::solve_triangular(a, array({1.0f, 2.0f}), true, kCpu)),
                {0, 0.5}, 1e-6, 1e-6));
  for (Dtype t : kLapackTypes) {
    array l =
        add(tril(random_array({2, 5, 5}, t, 31)), multiply(eye(5, t), array(3.0, t)));
    array b = random_array({2, 5, 3}, t, 32);
    array x = linalg::solve_triangular(l, b, false, kCpu);
    EXPECT_TRUE(all_close(product(mats(l), mats(x)), to_doubles(b), tol(t), tol(t)));
    array u = swapaxes(l, -1, -2);
    array xu = linalg::solve_triangular(u, b, true, kCpu);
    EXPECT_TRUE(all_close(product(mats(u), mats(xu)), to_doubles(b), tol(t), tol(t)));
  }
}

// ---------------------------------------------------------------- lu

TEST(Linalg, LuMatchesMlx) {
  array a({1.0f, 2.0f, 0.0f, 3.0f, 4.0f, 1.0f, 0.0f, 1.0f, 5.0f}, {3, 3});
  std::vector<array> plu = linalg::lu(a, kCpu);
  ASSERT_EQ(plu.size(), 3u);
  EXPECT_EQ(plu[0].dtype(), uint32);
  EXPECT_TRUE(all_close(to_doubles(plu[0]), {2, 0, 1}));
  EXPECT_TRUE(
      all_close(to_doubles(plu[1]), {1, 0, 0, 0, 1, 0, 1.0 / 3, 2.0 / 3, 1}, 1e-6));
  EXPECT_TRUE(
      all_close(to_doubles(plu[2]), {3, 4, 1, 0, 1, 5, 0, 0, -11.0 / 3}, 1e-6, 1e-6));
  auto [lu, pivots] = linalg::lu_factor(a, kCpu);
  EXPECT_EQ(pivots.dtype(), uint32);
  EXPECT_TRUE(all_close(to_doubles(pivots), {1, 2, 2}));
  EXPECT_TRUE(all_close(to_doubles(lu), {3, 4, 1, 0, 1, 5, 1.0 / 3, 2.0 / 3, -11.0 / 3},
                        1e-6, 1e-6));
}

TEST(Linalg, LuReconstructsEveryShape) {
  for (Dtype t : kLapackTypes) {
    for (const Shape& shape :
         {Shape{4, 4}, Shape{5, 3}, Shape{3, 5}, Shape{2, 3, 4, 4}}) {
      array a = strided(shape, t, 41);
      std::vector<array> plu = linalg::lu(a, kCpu);
      const int m = shape[shape.size() - 2], n = shape.back(), k = std::min(m, n);
      EXPECT_EQ(plu[1].shape().back(), k);
      EXPECT_EQ(plu[2].shape()[plu[2].ndim() - 2], k);
      // Row i of a is row P[i] of L U.
      Mats lu{product(mats(plu[1]), mats(plu[2])), 0, m, n};
      lu.count = int64_t(lu.v.size()) / (int64_t(m) * n);
      std::vector<double> p = to_doubles(plu[0]), rebuilt;
      for (int64_t b = 0; b < lu.count; ++b) {
        for (int i = 0; i < m; ++i) {
          for (int j = 0; j < n; ++j) rebuilt.push_back(lu(b, int(p[b * m + i]), j));
        }
      }
      EXPECT_TRUE(all_close(rebuilt, to_doubles(a), tol(t), tol(t))) << str(shape);
    }
  }
  // A singular matrix still has an LU factorization.
  std::vector<array> z = linalg::lu(zeros({3, 3}, float32), kCpu);
  EXPECT_TRUE(all_close(to_doubles(z[2]), std::vector<double>(9, 0.0)));
}

// ---------------------------------------------------------------- eigh

TEST(Linalg, EighMatchesNumpyAndSolvesTheEigenEquation) {
  array e({4.0, 1.0, 2.0, 1.0, 3.0, 0.0, 2.0, 0.0, 5.0}, {3, 3}, float64);
  EXPECT_TRUE(all_close(to_doubles(linalg::eigvalsh(e, "L", kCpu)),
                        {1.854897308799576, 3.4760236029181333, 6.669079088282287},
                        1e-12));
  for (Dtype t : kLapackTypes) {
    array x = random_array({2, 5, 5}, t, 51);
    array sym = add(x, swapaxes(x, -1, -2));
    for (const char* uplo : {"L", "U"}) {
      auto [w, v] = linalg::eigh(sym, uplo, kCpu);
      EXPECT_EQ(w.shape(), Shape({2, 5}));
      EXPECT_EQ(v.shape(), Shape({2, 5, 5}));
      Mats mv = mats(v);
      std::vector<double> wv = to_doubles(w), vw;
      for (int64_t b = 0; b < 2; ++b) {
        for (int i = 0; i < 5; ++i) {
          for (int j = 0; j < 5; ++j) vw.push_back(mv(b, i, j) * wv[b * 5 + j]);
        }
        for (int j = 0; j + 1 < 5; ++j) EXPECT_LE(wv[b * 5 + j], wv[b * 5 + j + 1]);
      }
      EXPECT_TRUE(all_close(product(mats(sym), mv), vw, tol(t), 10 * tol(t)));
      EXPECT_TRUE(all_close(product(transposed(mv), mv), identities(2, 5), 0, tol(t)));
      EXPECT_TRUE(
          all_close(to_doubles(linalg::eigvalsh(sym, uplo, kCpu)), wv, tol(t), tol(t)));
    }
  }
  // Which triangle is read.
  array a({2.0f, 1.0f, 7.0f, 2.0f}, {2, 2});
  EXPECT_TRUE(all_close(to_doubles(linalg::eigvalsh(a, "U", kCpu)), {1, 3}, 1e-6));
  EXPECT_TRUE(all_close(to_doubles(linalg::eigvalsh(a, "L", kCpu)), {-5, 9}, 1e-6));
}

// ---------------------------------------------------------------- det

TEST(Linalg, DetAndSlogdetMatchNumpy) {
  array d(
      {2.0, 1.0, 0.0, 3.0, 1.0, -1.0, 2.0, 0.0, 0.0, 4.0, 1.0, 1.0, 3.0, 0.0, 1.0, -2.0},
      {4, 4}, float64);
  EXPECT_NEAR(linalg::det(d, kCpu).item<double>(), 104.0, 1e-10);
  auto [sign, logabs] = linalg::slogdet(d, kCpu);
  EXPECT_EQ(sign.item<double>(), 1.0);
  EXPECT_NEAR(logabs.item<double>(), 4.6443908991413725, 1e-12);
  // Integers give float32; small matrices by cofactors.
  array i2({1, 2, 3, 4}, Shape{2, 2}, int32);
  array d2 = linalg::det(i2, kCpu);
  EXPECT_EQ(d2.dtype(), float32);
  EXPECT_EQ(d2.item<float>(), -2.0f);
  array i3({2.0f, 0.0f, 1.0f, 1.0f, 3.0f, 2.0f, 1.0f, 1.0f, 2.0f}, {3, 3});
  EXPECT_NEAR(linalg::det(i3, kCpu).item<float>(), 6.0f, 1e-5);
  // Batched, strided, and a singular matrix among them.
  array batch =
      stack({transpose(d), multiply(d, array(-1.0, float64)), zeros({4, 4}, float64)});
  EXPECT_TRUE(
      all_close(to_doubles(linalg::det(batch, kCpu)), {104, 104, 0}, 1e-10, 1e-9));
  auto [sg, la] = linalg::slogdet(batch, kCpu);
  EXPECT_TRUE(all_close(to_doubles(sg), {1, 1, 0}));
  std::vector<double> l = to_doubles(la);
  EXPECT_TRUE(std::isinf(l[2]) && l[2] < 0);
  // The empty product.
  EXPECT_EQ(linalg::det(zeros({0, 0}, float32), kCpu).item<float>(), 1.0f);
  auto [neg, neg_log] = linalg::slogdet(multiply(eye(5, float32), array(-2.0f)), kCpu);
  EXPECT_EQ(neg.item<float>(), -1.0f);
  EXPECT_NEAR(neg_log.item<float>(), 5 * std::log(2.0), 1e-5);
}

// ---------------------------------------------------------------- norm (any device)

TEST(Linalg, MatrixNormsMatchNumpy) {
  array x({1.0f, -2.0f, 3.0f, -4.0f, 5.0f, -6.0f}, {2, 3});
  auto near = [](array a, double want) {
    EXPECT_EQ(a.ndim(), 0);
    EXPECT_NEAR(a.item<float>(), want, 1e-5 * std::max(1.0, std::abs(want)));
  };
  near(linalg::norm(x), 9.539392014169456);
  near(linalg::norm(x, "fro"), 9.539392014169456);
  near(linalg::norm(x, 1.0), 9.0);
  near(linalg::norm(x, -1.0), 5.0);
  near(linalg::norm(x, std::numeric_limits<double>::infinity()), 15.0);
  near(linalg::norm(x, -std::numeric_limits<double>::infinity()), 6.0);
  // Through the SVD: CPU only.
  near(linalg::norm(x, "nuc", std::nullopt, false, kCpu), 10.280901636369208);
  near(linalg::norm(x, 2.0, std::nullopt, false, kCpu), 9.508032000695724);
  near(linalg::norm(x, -2.0, std::nullopt, false, kCpu), 0.7728696356734843);
  // Axes reversed: the transposed matrix's norm.
  near(linalg::norm(x, 1.0, std::vector<int>{1, 0}), 15.0);
  near(linalg::norm(x, 2.0, std::vector<int>{-1, -2}, false, kCpu), 9.508032000695724);
  // keepdims keeps both axes.
  EXPECT_EQ(linalg::norm(x, 1.0, std::vector<int>{0, 1}, true).shape(), Shape({1, 1}));
  EXPECT_EQ(linalg::norm(x, "nuc", std::vector<int>{0, 1}, true, kCpu).shape(),
            Shape({1, 1}));
  EXPECT_EQ(linalg::norm(x, std::nullopt, true).shape(), Shape({1, 1}));
  // A batch of matrices in axes 1 and 2.
  array b = stack({x, multiply(x, array(2.0f))});
  EXPECT_TRUE(
      all_close(to_doubles(linalg::norm(b, -1.0, std::vector<int>{1, 2})), {5, 10}));
  EXPECT_TRUE(
      all_close(to_doubles(linalg::norm(b, 2.0, std::vector<int>{1, 2}, false, kCpu)),
                {9.508032000695724, 2 * 9.508032000695724}, 1e-5));
}

TEST(Linalg, VectorNormsMatchNumpy) {
  array x({1.0f, -2.0f, 3.0f, -4.0f, 5.0f, -6.0f}, {2, 3});
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    double ord;
    std::vector<double> axis1, axis0;
  };
  for (const Case& c :
       std::vector<Case>{{0, {3, 3}, {2, 2, 2}},
                         {1, {6, 15}, {5, 7, 9}},
                         {2,
                          {3.7416573867739413, 8.774964387392123},
                          {4.123105625617661, 5.385164807134504, 6.708203932499369}},
                         {inf, {3, 6}, {4, 5, 6}},
                         {-inf, {1, 4}, {1, 2, 3}},
                         {0.5,
                          {17.191508225450303, 44.69668203123519},
                          {9.0, 13.324555320336758, 17.48528137423857}},
                         {3,
                          {3.3019272488946263, 7.398636222991409},
                          {4.020725758589058, 5.104468722001463, 6.240251469155711}}}) {
    EXPECT_TRUE(all_close(to_doubles(linalg::norm(x, c.ord, 1)), c.axis1, 1e-5)) << c.ord;
    EXPECT_TRUE(all_close(to_doubles(linalg::norm(x, c.ord, -2)), c.axis0, 1e-5))
        << c.ord;
  }
  EXPECT_EQ(linalg::norm(x, 2.0, 1, true).shape(), Shape({2, 1}));
  // Without ord: the 2-norm over the axes given.
  EXPECT_TRUE(all_close(to_doubles(linalg::norm(x, 1)),
                        {3.7416573867739413, 8.774964387392123}, 1e-6));
  // dtypes: integers give float32, float16 stays.
  array i({3, 4}, int32);
  EXPECT_EQ(linalg::norm(i).dtype(), float32);
  EXPECT_EQ(linalg::norm(i).item<float>(), 5.0f);
  EXPECT_EQ(linalg::norm(i, 0.0).dtype(), float32);
  EXPECT_EQ(linalg::norm(astype(i, float16)).dtype(), float16);
  // Strided input.
  EXPECT_TRUE(all_close(to_doubles(linalg::norm(transpose(x), 1.0, 0)), {6, 15}));
}

TEST(Linalg, NormErrors) {
  array x = ones({2, 2, 2});
  EXPECT_TRUE(throws_invalid([&] { linalg::norm(x, 1.0); }, "[linalg::norm]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        linalg::norm(x, std::vector<int>{0, 1, 2});
      },
      "[linalg::norm]"));
  EXPECT_TRUE(throws_invalid([&] { linalg::norm(ones({3}), "fro"); }, "[linalg::norm]"));
  EXPECT_TRUE(throws_invalid([&] { linalg::norm(ones({3, 3}), 3.0); }, "[linalg::norm]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        linalg::norm(ones({3, 3}), "foo");
      },
      "[linalg::norm]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        linalg::norm(ones({3, 3}), 1.0, 2);
      },
      "[linalg::norm]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        linalg::norm(ones({3, 3}), 1.0, std::vector<int>{0, -2});
      },
      "[linalg::norm]"));
}

// ---------------------------------------------------------------- cross (any device)

TEST(Linalg, CrossMatchesNumpy) {
  array a({1.0f, 2.0f, 3.0f}), b({4.0f, 5.0f, 6.0f});
  EXPECT_TRUE(all_close(to_doubles(linalg::cross(a, b)), {-3, 6, -3}));
  array ai({1, 2, 3}, int32), bi({4, 5, 6}, int32);
  array ci = linalg::cross(ai, bi);
  EXPECT_EQ(ci.dtype(), int32);
  EXPECT_TRUE(all_close(to_doubles(ci), {-3, 6, -3}));
  EXPECT_TRUE(
      all_close(to_doubles(linalg::cross(array({1, 2}, int32), bi)), {12, -6, -3}));
  EXPECT_TRUE(
      all_close(to_doubles(linalg::cross(ai, array({4, 5}, int32))), {-15, 12, -3}));
  EXPECT_TRUE(all_close(
      to_doubles(linalg::cross(array({1, 2}, int32), array({4, 5}, int32))), {0, 0, -3}));
  // Vectors along axis 0 of a [3, 2] array, broadcast against one vector.
  array cols = transpose(array({1.0f, 2.0f, 3.0f, 0.0f, 0.0f, 1.0f}, {2, 3}));
  array c = linalg::cross(cols, reshape(b, {3, 1}), 0);
  EXPECT_EQ(c.shape(), Shape({3, 2}));
  EXPECT_TRUE(all_close(to_doubles(c), {-3, -5, 6, 4, -3, 0}));
  EXPECT_TRUE(throws_invalid(
      [&] {
        linalg::cross(array({1.0f, 2.0f, 3.0f, 4.0f}), b);
      },
      "[linalg::cross]"));
  EXPECT_TRUE(throws_invalid([&] { linalg::cross(a, b, 1); }, "[linalg::cross]"));
}

// ---------------------------------------------------------------- empty inputs

// ---------------------------------------------------------------- threads

TEST(Linalg, ManyThreadsFactorAtOnce) {
  // LAPACK runs on the workers of many streams at once, each call on its own
  // scratch.
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::vector<int> ok(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &ok] {
      const Stream s = new_stream(kCpu);
      bool good = true;
      for (int round = 0; round < 5; ++round) {
        array x = spd({4, 6, 6}, float64, 100 + t * 10 + round);
        array xi = linalg::inv(x, s);
        Mats l = mats(linalg::cholesky(x, false, s));
        good = good &&
               all_close(product(mats(x), mats(xi)), identities(4, 6), 0, 1e-10) &&
               all_close(product(l, transposed(l)), to_doubles(x), 1e-10, 1e-10);
      }
      ok[t] = good;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_TRUE(ok[t]) << "thread " << t;
}

TEST(Linalg, EmptyMatrices) {
  auto [q, r] = linalg::qr(zeros({0, 3}, float32), kCpu);
  EXPECT_EQ(q.shape(), Shape({0, 0}));
  EXPECT_EQ(r.shape(), Shape({0, 3}));
  r.eval();
  std::vector<array> usv = linalg::svd(zeros({3, 0}, float32), kCpu);
  EXPECT_TRUE(all_close(to_doubles(usv[0]), identities(1, 3)));
  EXPECT_EQ(usv[1].shape(), Shape({0}));
  EXPECT_EQ(linalg::inv(zeros({0, 0}, float32), kCpu).shape(), Shape({0, 0}));
  EXPECT_EQ(linalg::inv(zeros({0, 2, 2}, float32), kCpu).shape(), Shape({0, 2, 2}));
  linalg::inv(zeros({0, 2, 2}, float32), kCpu).eval();
  auto [w, v] = linalg::eigh(zeros({0, 0}, float64), "L", kCpu);
  w.eval();
  EXPECT_EQ(v.shape(), Shape({0, 0}));
  auto [lu, piv] = linalg::lu_factor(zeros({0, 0}, float32), kCpu);
  EXPECT_EQ(piv.shape(), Shape({0}));
  lu.eval();
  array x = linalg::solve(zeros({0, 0}, float32), zeros({0}, float32), kCpu);
  EXPECT_EQ(x.shape(), Shape({0}));
  x.eval();
  EXPECT_EQ(linalg::cholesky(zeros({2, 0, 0}, float32), false, kCpu).size(), 0u);
}

// ---------------------------------------------------------------- errors at the call

TEST(Linalg, BadArgumentsThrowAtTheCall) {
  array v = ones({3});
  array rect = ones({2, 3});
  array ints = ones({2, 2}, int32);
  array halves = ones({2, 2}, float16);
  // Wrong rank.
  EXPECT_TRUE(throws_invalid([&] { linalg::qr(v, kCpu); }, "[linalg::qr]"));
  EXPECT_TRUE(throws_invalid([&] { linalg::svd(v, kCpu); }, "[linalg::svd]"));
  EXPECT_TRUE(throws_invalid([&] { linalg::inv(v, kCpu); }, "[linalg::inv]"));
  EXPECT_TRUE(throws_invalid([&] { linalg::lu(v, kCpu); }, "[linalg::lu]"));
  EXPECT_TRUE(throws_invalid([&] { linalg::det(v, kCpu); }, "[linalg::det]"));
  EXPECT_TRUE(throws_invalid([&] { linalg::solve(v, v, kCpu); }, "[linalg::solve]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        linalg::solve(ones({3, 3}), array(1.0f), kCpu);
      },
      "[linalg::solve]"));
  // Not square.
  EXPECT_TRUE(throws_invalid([&] { linalg::inv(rect, kCpu); }, "[linalg::inv]"));
  EXPECT_TRUE(
      throws_invalid([&] { linalg::tri_inv(rect, false, kCpu); }, "[linalg::tri_inv]"));
  EXPECT_TRUE(
      throws_invalid([&] { linalg::cholesky(rect, false, kCpu); }, "[linalg::cholesky]"));
  EXPECT_TRUE(throws_invalid([&] { linalg::cholesky_inv(rect, false, kCpu); },
                             "[linalg::cholesky_inv]"));
  EXPECT_TRUE(throws_invalid([&] { linalg::eigh(rect, "L", kCpu); }, "[linalg::eigh]"));
  EXPECT_TRUE(
      throws_invalid([&] { linalg::eigvalsh(rect, "L", kCpu); }, "[linalg::eigvalsh]"));
  EXPECT_TRUE(throws_invalid([&] { linalg::det(rect, kCpu); }, "[linalg::det]"));
  EXPECT_TRUE(throws_invalid([&] { linalg::slogdet(rect, kCpu); }, "[linalg::slogdet]"));
  EXPECT_TRUE(throws_invalid([&] { linalg::solve(rect, v, kCpu); }, "[linalg::solve]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        linalg::solve(ones({3, 3}), ones({2}), kCpu);
      },
      "[linalg::solve]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        linalg::solve_triangular(ones({3, 3}), ones({2, 1}), false, kCpu);
      },
      "[linalg::solve_triangular]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        linalg::solve(ones({2, 3, 3}), ones({4, 3, 1}), kCpu);
      },
      "[linalg::solve]"));
  // Wrong dtype: float32 and float64 only.
  for (const array& bad : {ints, halves}) {
    EXPECT_TRUE(throws_invalid([&] { linalg::qr(bad, kCpu); }, "[linalg::qr]"));
    EXPECT_TRUE(throws_invalid([&] { linalg::svd(bad, kCpu); }, "[linalg::svd]"));
    EXPECT_TRUE(throws_invalid([&] { linalg::inv(bad, kCpu); }, "[linalg::inv]"));
    EXPECT_TRUE(throws_invalid([&] { linalg::cholesky(bad, false, kCpu); },
                               "[linalg::cholesky]"));
    EXPECT_TRUE(throws_invalid([&] { linalg::pinv(bad, kCpu); }, "[linalg::pinv]"));
    EXPECT_TRUE(throws_invalid([&] { linalg::eigh(bad, "L", kCpu); }, "[linalg::eigh]"));
    EXPECT_TRUE(
        throws_invalid([&] { linalg::lu_factor(bad, kCpu); }, "[linalg::lu_factor]"));
    EXPECT_TRUE(
        throws_invalid([&] { linalg::solve(bad, bad, kCpu); }, "[linalg::solve]"));
  }
  EXPECT_TRUE(throws_invalid(
      [&] { linalg::norm(ints, "nuc", std::nullopt, false, kCpu); }, "[linalg::norm]"));
  // det of a larger float16 matrix needs the LU factorization: float32 or float64.
  EXPECT_TRUE(throws_invalid(
      [&] {
        linalg::det(ones({4, 4}, float16), kCpu);
      },
      "[linalg::det]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        linalg::eigh(ones({2, 2}), "X", kCpu);
      },
      "[linalg::eigh]"));
}

TEST(Linalg, GpuStreamsAreRefusedAtTheCall) {
  const Device gpu = Device::gpu;
  array a = ones({2, 2});
  std::vector<std::pair<const char*, std::function<void()>>> calls = {
      {"[linalg::qr]", [&] { linalg::qr(a, gpu); }},
      {"[linalg::svd]", [&] { linalg::svd(a, gpu); }},
      {"[linalg::inv]", [&] { linalg::inv(a, gpu); }},
      {"[linalg::tri_inv]", [&] { linalg::tri_inv(a, false, gpu); }},
      {"[linalg::cholesky]", [&] { linalg::cholesky(a, false, gpu); }},
      {"[linalg::cholesky_inv]", [&] { linalg::cholesky_inv(a, false, gpu); }},
      {"[linalg::pinv]", [&] { linalg::pinv(a, gpu); }},
      {"[linalg::lu]", [&] { linalg::lu(a, gpu); }},
      {"[linalg::lu_factor]", [&] { linalg::lu_factor(a, gpu); }},
      {"[linalg::solve]", [&] { linalg::solve(a, a, gpu); }},
      {"[linalg::solve_triangular]", [&] { linalg::solve_triangular(a, a, false, gpu); }},
      {"[linalg::eigh]", [&] { linalg::eigh(a, "L", gpu); }},
      {"[linalg::eigvalsh]", [&] { linalg::eigvalsh(a, "L", gpu); }},
      {"[linalg::det]", [&] { linalg::det(a, gpu); }},
      {"[linalg::slogdet]", [&] { linalg::slogdet(a, gpu); }},
      {"[linalg::norm]", [&] { linalg::norm(a, 2.0, std::nullopt, false, gpu); }},
  };
  for (auto& [tag, call] : calls) {
    EXPECT_TRUE(throws_invalid(call, tag));
    if (is_available(gpu)) {
      try {
        call();
      } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("not supported on the GPU"),
                  std::string::npos)
            << e.what();
      }
    }
  }
  if (is_available(gpu)) {
    // With the GPU as the default device, a call without a stream is refused
    // too; one with the CPU runs, whichever device made its input.
    StreamContext ctx(gpu);
    EXPECT_TRUE(throws_invalid([&] { linalg::inv(a); }, "[linalg::inv]"));
    array on_gpu = add(a, eye(2));
    EXPECT_TRUE(all_close(to_doubles(linalg::inv(on_gpu, kCpu)),
                          {2.0 / 3, -1.0 / 3, -1.0 / 3, 2.0 / 3}, 1e-6, 1e-6));
    EXPECT_TRUE(all_close(to_doubles(linalg::norm(on_gpu)), {std::sqrt(10.0)}, 1e-6));
  }
}

}  // namespace
}  // namespace rill::test
