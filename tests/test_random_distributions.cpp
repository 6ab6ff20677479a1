// The distributions built on uniform and normal draws (random_distributions.cpp):
// ranges, moments within a few standard errors over many draws with fixed
// keys, shapes of every overload, determinism per key, and the errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ops_helpers.h"
#include "rill/rill.h"

namespace rill::test {
namespace {

double mean_of(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}

TEST(RandomDistributions, RandintCoversTheRangeOnly) {
  array r = random::randint(-3, 5, {20000}, int32, random::key(1));
  EXPECT_EQ(r.dtype(), int32);
  std::vector<double> v = to_doubles(r);
  EXPECT_EQ(*std::min_element(v.begin(), v.end()), -3);
  EXPECT_EQ(*std::max_element(v.begin(), v.end()), 4);
  EXPECT_NEAR(mean_of(v), 0.5, 0.1);
  // Array bounds broadcast; the same key gives the same draw.
  array lo = array({0, 100}, int32), hi = array({2, 103}, int32);
  array b = random::randint(lo, hi, {1000, 2}, int64, random::key(2));
  EXPECT_EQ(b.dtype(), int64);
  std::vector<double> w = to_doubles(b);
  for (size_t i = 0; i < w.size(); ++i) {
    if (i % 2 == 0) EXPECT_TRUE(w[i] >= 0 && w[i] <= 1) << w[i];
    else EXPECT_TRUE(w[i] >= 100 && w[i] <= 102) << w[i];
  }
  EXPECT_EQ(to_doubles(random::randint(0, 1000, {50}, int32, random::key(9))),
            to_doubles(random::randint(0, 1000, {50}, int32, random::key(9))));
  EXPECT_TRUE(throws_invalid([] { random::randint(0, 5, {3}, float32); }, "[randint]"));
}

TEST(RandomDistributions, BernoulliFrequency) {
  array b = random::bernoulli(0.3f, Shape{40000}, random::key(3));
  EXPECT_EQ(b.dtype(), bool_);
  // 0.3 within 5 standard errors (sqrt(0.21 / 40000) = 0.0023).
  EXPECT_NEAR(mean_of(to_doubles(b)), 0.3, 0.0115);
  array p = array({0.0f, 1.0f});
  std::vector<double> v = to_doubles(random::bernoulli(p, Shape{100, 2}, random::key(4)));
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(v[i], i % 2 ? 1 : 0);
  EXPECT_EQ(random::bernoulli(p, random::key(4)).shape(), Shape({2}));
  EXPECT_EQ(random::bernoulli(std::optional<array>(random::key(4))).shape(), Shape({}));
  EXPECT_TRUE(throws_invalid([&] { random::bernoulli(p, Shape{3}); }, "[bernoulli]"));
  EXPECT_TRUE(throws_invalid([] { random::bernoulli(array(1, int32)); }, "[bernoulli]"));
}

TEST(RandomDistributions, TruncatedNormalStaysInBounds) {
  array t = random::truncated_normal(array(-1.0f), array(2.0f), {20000}, float32,
                                     random::key(5));
  std::vector<double> v = to_doubles(t);
  EXPECT_GE(*std::min_element(v.begin(), v.end()), -1.0);
  EXPECT_LE(*std::max_element(v.begin(), v.end()), 2.0);
  // The mean of N(0, 1) truncated to [-1, 2]: (phi(-1) - phi(2)) / (Phi(2) - Phi(-1)).
  const double phi = [](double x) { return std::exp(-x * x / 2) / std::sqrt(2 * M_PI); }(-1.0) -
                     std::exp(-2.0) / std::sqrt(2 * M_PI);
  const double Z = 0.5 * (std::erf(2 / std::sqrt(2.0)) - std::erf(-1 / std::sqrt(2.0)));
  EXPECT_NEAR(mean_of(v), phi / Z, 0.02);
  array lo = array({0.0f, -3.0f}), hi = array({0.5f, -2.0f});
  array two = random::truncated_normal(lo, hi, bfloat16, random::key(6));
  EXPECT_EQ(two.shape(), Shape({2}));
  EXPECT_EQ(two.dtype(), bfloat16);
  std::vector<double> w = to_doubles(two);
  EXPECT_TRUE(w[0] >= 0 && w[0] <= 0.5);
  EXPECT_TRUE(w[1] >= -3 && w[1] <= -2);
}

TEST(RandomDistributions, GumbelLaplaceMoments) {
  std::vector<double> g = to_doubles(random::gumbel({40000}, float32, random::key(7)));
  for (double x : g) ASSERT_TRUE(std::isfinite(x));
  EXPECT_NEAR(mean_of(g), 0.5772156649, 0.04);  // Euler's constant; sd pi / sqrt(6)
  std::vector<double> l = to_doubles(random::laplace({40000}, float32, 2.0f, 0.5f, random::key(8)));
  EXPECT_NEAR(mean_of(l), 2.0, 0.02);
  double mad = 0;
  for (double x : l) mad += std::abs(x - 2.0) / l.size();
  EXPECT_NEAR(mad, 0.5, 0.02);
  EXPECT_EQ(random::laplace({3}, float16).dtype(), float16);
  EXPECT_TRUE(throws_invalid([] { random::gumbel({2}, int32); }, "[gumbel]"));
}

TEST(RandomDistributions, CategoricalFrequenciesAndShapes) {
  std::vector<double> p = {0.1, 0.2, 0.7};
  array logits = log(array(p, {1, 3}, float32));
  array draws = random::categorical(logits, -1, 30000, random::key(10));
  EXPECT_EQ(draws.shape(), Shape({1, 30000}));
  EXPECT_EQ(draws.dtype(), uint32);
  std::vector<double> v = to_doubles(draws);
  for (int k = 0; k < 3; ++k) {
    double f = std::count(v.begin(), v.end(), double(k)) / double(v.size());
    EXPECT_NEAR(f, p[k], 0.015) << k;
  }
  // Along axis 0, and the shape form.
  array cols = transpose(logits);  // [3, 1]
  EXPECT_EQ(random::categorical(cols, 0).shape(), Shape({1}));
  EXPECT_EQ(random::categorical(cols, 0, 5, random::key(1)).shape(), Shape({1, 5}));
  array certain = array({-INFINITY, 0.0f, -INFINITY}, {3});
  array s = random::categorical(certain, 0, Shape{4, 2}, random::key(2));
  EXPECT_EQ(s.shape(), Shape({4, 2}));
  for (double x : to_doubles(s)) EXPECT_EQ(x, 1);
  EXPECT_TRUE(throws_invalid([&] { random::categorical(logits, 2); }, "[categorical]"));
  EXPECT_TRUE(throws_invalid([&] { random::categorical(zeros({2, 3}), -1, Shape{3}); },
                             "[categorical]"));
}

TEST(RandomDistributions, PermutationIsAShuffle) {
  array p = random::permutation(100, random::key(11));
  std::vector<double> v = to_doubles(p);
  std::vector<double> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sorted[i], i);
  EXPECT_NE(v, sorted);
  EXPECT_NE(v, to_doubles(random::permutation(100, random::key(12))));
  // Rows of a matrix move together.
  array m = reshape(arange(0, 12, int32), {4, 3});
  array q = random::permutation(m, 0, random::key(13));
  std::vector<double> w = to_doubles(q);
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(w[r * 3 + 1], w[r * 3] + 1);
    EXPECT_EQ(static_cast<int>(w[r * 3]) % 3, 0);
  }
  EXPECT_EQ(random::permutation(m, 1, random::key(13)).shape(), Shape({4, 3}));
  EXPECT_TRUE(throws_invalid([] { random::permutation(-1); }, "[permutation]"));
}

TEST(RandomDistributions, NormalWithArrayParameters) {
  array loc = array({-5.0f, 5.0f}), scale = array({0.1f, 2.0f});
  array n = random::normal({20000, 2}, float32, loc, scale, random::key(14));
  std::vector<double> v = to_doubles(n);
  double m0 = 0, m1 = 0;
  for (size_t i = 0; i < v.size(); i += 2) {
    m0 += v[i] / 20000;
    m1 += v[i + 1] / 20000;
  }
  EXPECT_NEAR(m0, -5.0, 0.01);
  EXPECT_NEAR(m1, 5.0, 0.06);
  array scalar = random::normal({1000}, 3.0f, 0.5f, random::key(15));
  EXPECT_NEAR(mean_of(to_doubles(scalar)), 3.0, 0.08);
  array u = random::uniform(2, 3.5, {1000}, float32, random::key(16));
  for (double x : to_doubles(u)) ASSERT_TRUE(x >= 2 && x < 3.5);
  EXPECT_TRUE(throws_invalid([&] { random::normal({3}, float32, loc, std::nullopt, std::nullopt); },
                             "[normal]"));
}

}  // namespace
}  // namespace rill::test
