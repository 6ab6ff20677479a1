// MLX's view, float8 conversions, searchsorted, unique, hadamard_transform,
// block_masked_mm, gather_mm, segmented_mm, einsum and the memory queries,
// against plain loops and hand-computed values, on the default device (the
// GPU in a suite run with RILL_DEVICE=gpu), with non-contiguous inputs,
// empty arrays and the documented errors.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "ops_helpers.h"
#include "rill/rill.h"

namespace rill::test {
namespace {

array iota(const Shape& shape, Dtype t = float32, double from = 0) {
  std::vector<double> v(numel(shape));
  std::iota(v.begin(), v.end(), from);
  return array(v, shape, t);
}

template <typename F>
bool throws_with(F&& f, const std::string& what) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return std::string(e.what()).find(what) != std::string::npos;
  }
  return false;
}

// ---------------------------------------------------------------- view

TEST(View, ReinterpretsBytes) {
  std::vector<float> f = {1.0f, -2.5f, 0.0f, 3.0e9f};
  array a(f, Shape{2, 2}, float32);
  array u = view(a, uint32);
  EXPECT_EQ(u.shape(), Shape({2, 2}));
  auto got = to_vector<uint32_t>(u);
  for (size_t i = 0; i < f.size(); ++i) EXPECT_EQ(got[i], std::bit_cast<uint32_t>(f[i]));
  // Smaller: the last axis grows (little-endian halves).
  array h = view(a, uint16);
  EXPECT_EQ(h.shape(), Shape({2, 4}));
  auto hv = to_vector<uint16_t>(h);
  for (size_t i = 0; i < f.size(); ++i) {
    uint32_t b = std::bit_cast<uint32_t>(f[i]);
    EXPECT_EQ(hv[2 * i], b & 0xffff);
    EXPECT_EQ(hv[2 * i + 1], b >> 16);
  }
  // Larger: the last axis shrinks; back to float32 gives the values.
  EXPECT_TRUE(all_close(to_doubles(view(h, float32)), {1.0, -2.5, 0.0, 3.0e9}));
  array same = view(a, float32);
  EXPECT_EQ(same.dtype(), float32);
  // A scalar between dtypes of one size.
  EXPECT_EQ(view(array(1.0f), int32).item<int32_t>(), std::bit_cast<int32_t>(1.0f));
}

TEST(View, NonContiguousAndEmpty) {
  array a = iota({3, 4}, int32);
  array t = transpose(a);  // [4, 3], not row-major
  array b = view(t, uint8);
  EXPECT_EQ(b.shape(), Shape({4, 12}));
  auto v = to_vector<uint8_t>(b);
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 3; ++j) {
      int32_t x = j * 4 + i;
      for (int k = 0; k < 4; ++k) EXPECT_EQ(v[i * 12 + j * 4 + k], (x >> (8 * k)) & 0xff);
    }
  }
  // Same size: keeps the strides.
  auto w = to_vector<uint32_t>(view(t, uint32));
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 3; ++j) EXPECT_EQ(w[i * 3 + j], uint32_t(j * 4 + i));
  }
  // A slice at an odd byte offset viewed as a wider type is copied first.
  array bytes = iota({9}, uint8);
  auto s = to_vector<uint16_t>(view(slice(bytes, {1}, {9}), uint16));
  ASSERT_EQ(s.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(s[i], uint16_t((2 * i + 1) | ((2 * i + 2) << 8)));
  EXPECT_EQ(view(zeros({0, 4}, float32), uint8).shape(), Shape({0, 16}));
}

TEST(View, Errors) {
  EXPECT_TRUE(throws_with([] { view(array(1.0f), uint8); },
                          "[view] changing the type of a scalar"));
  EXPECT_TRUE(throws_with([] { view(zeros({2, 3}, uint8), int32); },
                          "[view] when viewing as a larger dtype"));
}

// ---------------------------------------------------------------- float8

float fp8_ref_value(unsigned c) {
  unsigned e = (c >> 3) & 15, m = c & 7;
  float v = (c & 0x7f) == 0x7f ? NAN : e == 0 ? m / 512.0f : (1 + m / 8.0f) * std::ldexp(1.0f, int(e) - 7);
  return (c & 0x80) ? -v : v;
}

// Nearest code by search, ties to the even code, saturating at 448; NaN
// gives 0x7e (with its sign), as MLX's conversion does.
uint8_t fp8_ref_code(float x) {
  unsigned sign = std::signbit(x) ? 0x80 : 0;
  float a = std::fabs(x);
  if (std::isnan(x) || a >= 464.0f) return uint8_t(0x7e | sign);
  unsigned best = 0;
  for (unsigned c = 1; c < 0x7f; ++c) {
    float d = std::fabs(fp8_ref_value(c) - a), bd = std::fabs(fp8_ref_value(best) - a);
    if (d < bd || (d == bd && (c & 1) == 0)) best = c;
  }
  return uint8_t(best | sign);
}

TEST(Fp8, FromFp8EveryCode) {
  std::vector<uint8_t> codes(256);
  std::iota(codes.begin(), codes.end(), 0);
  array c(codes, Shape{16, 16}, uint8);
  for (Dtype t : kFloatTypes) {
    array v = from_fp8(c, t);
    EXPECT_EQ(v.dtype(), t);
    auto got = to_doubles(v);
    for (unsigned i = 0; i < 256; ++i) {
      double want = fp8_ref_value(i);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got[i])) << i;
      } else {
        EXPECT_EQ(got[i], want) << i << " " << dtype_name(t);
      }
    }
  }
  EXPECT_EQ(from_fp8(c, float32).shape(), Shape({16, 16}));
  EXPECT_EQ(from_fp8(zeros({0}, uint8), float16).shape(), Shape({0}));
}

TEST(Fp8, ToFp8RoundsToNearestEvenAndSaturates) {
  std::vector<float> xs = {0.0f, -0.0f, 1.0f, 448.0f, 449.0f, 463.9f, 464.0f, 1e9f,
                           INFINITY, -INFINITY, NAN, 0.0009765625f, 0.00146484375f,
                           1e-4f, 17.0f, 18.0f, 19.0f, -3.3f, 0.001953125f, 0.0029296875f};
  // Every code's value, and the midpoints between neighbours.
  for (unsigned c = 0; c < 0x7e; ++c) {
    xs.push_back(fp8_ref_value(c));
    xs.push_back(-0.5f * (fp8_ref_value(c) + fp8_ref_value(c + 1)));
    xs.push_back(0.75f * fp8_ref_value(c) + 0.25f * fp8_ref_value(c + 1));
  }
  array x(xs, Shape{int(xs.size())}, float32);
  auto got = to_vector<uint8_t>(to_fp8(x));
  for (size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(got[i], fp8_ref_code(xs[i])) << xs[i];
  // Values MLX gives for some of them.
  EXPECT_EQ(got[2], 56);
  EXPECT_EQ(got[4], 126);
  EXPECT_EQ(got[9], 254);
  EXPECT_EQ(got[14], 88);
  EXPECT_EQ(got[16], 90);
  EXPECT_EQ(got[17], 197);
  // Other floating dtypes go through float32; a strided input.
  for (Dtype t : {float16, bfloat16, float64}) {
    auto g = to_vector<uint8_t>(to_fp8(astype(array({1.0f, 2.0f, -0.5f, 300.0f}), t)));
    EXPECT_EQ(g, (std::vector<uint8_t>{56, 64, 0xb0, 0x79})) << dtype_name(t);
  }
  array m = transpose(reshape(array({1.0f, 2.0f, 3.0f, 4.0f}), {2, 2}));
  EXPECT_EQ(to_vector<uint8_t>(to_fp8(m)), (std::vector<uint8_t>{56, 68, 64, 72}));
  // Round trip of every finite code.
  std::vector<uint8_t> codes;
  for (unsigned c = 0; c < 256; ++c) {
    if ((c & 0x7f) != 0x7f) codes.push_back(uint8_t(c));
  }
  array cs(codes, Shape{int(codes.size())}, uint8);
  EXPECT_EQ(to_vector<uint8_t>(to_fp8(from_fp8(cs, float32))), codes);
}

TEST(Fp8, Errors) {
  EXPECT_TRUE(throws_with([] { to_fp8(array({1, 2}, int32)); },
                          "[to_fp8] only real floating types"));
  EXPECT_TRUE(throws_with([] { from_fp8(array({1.0f}), float32); },
                          "[from_fp8] input must have type uint8"));
  EXPECT_TRUE(throws_with([] { from_fp8(zeros({2}, uint8), int32); },
                          "[from_fp8] only real floating types"));
}

// ---------------------------------------------------------------- searchsorted

TEST(SearchSorted, LeftRightAndNaN) {
  std::vector<float> seq = {1, 2, 2, 3, NAN};
  array s(seq, Shape{5}, float32);
  array v(std::vector<float>{NAN, 0, 2, 2.5f, 3, 9}, Shape{2, 3}, float32);
  array l = searchsorted(s, v);
  EXPECT_EQ(l.dtype(), uint32);
  EXPECT_EQ(l.shape(), Shape({2, 3}));
  EXPECT_EQ(to_vector<uint32_t>(l), (std::vector<uint32_t>{4, 0, 1, 3, 3, 4}));
  EXPECT_EQ(to_vector<uint32_t>(searchsorted(s, v, "right")),
            (std::vector<uint32_t>{5, 0, 3, 3, 4, 4}));
}

TEST(SearchSorted, AgainstLoopsOverDtypes) {
  for (Dtype t : {int32, uint8, float16, float32, int64}) {
    std::vector<double> seq = {0, 1, 1, 4, 4, 4, 7, 10};
    std::vector<double> vals = {0, 1, 2, 4, 5, 10, 11, 3};
    array s = astype(array(seq, Shape{8}, float64), t);
    // Values through a transposed view.
    array v = transpose(reshape(astype(array(vals, Shape{8}, float64), t), {2, 4}));
    std::vector<double> vt;
    for (int j = 0; j < 4; ++j) {
      for (int i = 0; i < 2; ++i) vt.push_back(vals[i * 4 + j]);
    }
    for (std::string side : {"left", "right"}) {
      auto got = to_vector<uint32_t>(searchsorted(s, v, side));
      for (size_t i = 0; i < vt.size(); ++i) {
        uint32_t want = 0;
        for (double x : seq) want += side == "left" ? x < vt[i] : x <= vt[i];
        EXPECT_EQ(got[i], want) << dtype_name(t) << side << vt[i];
      }
    }
  }
  // Promotion: float values in an int sequence; a scalar; empties.
  EXPECT_EQ(to_vector<uint32_t>(searchsorted(array({1, 2, 3}, int32), array({1.5f, 2.0f}))),
            (std::vector<uint32_t>{1, 1}));
  array sc = searchsorted(array({1, 2, 3}, int32), array(2));
  EXPECT_EQ(sc.ndim(), 0);
  EXPECT_EQ(sc.item<uint32_t>(), 1u);
  EXPECT_EQ(to_vector<uint32_t>(searchsorted(zeros({0}, float32), array({1.0f, 2.0f}))),
            (std::vector<uint32_t>{0, 0}));
  EXPECT_EQ(searchsorted(array({1.0f}), zeros({0, 3}, float32)).shape(), Shape({0, 3}));
}

TEST(SearchSorted, Errors) {
  EXPECT_TRUE(throws_with([] { searchsorted(array({1.0f}), array({1.0f}), "middle"); },
                          "[searchsorted] invalid side 'middle'"));
  EXPECT_TRUE(throws_with([] { searchsorted(zeros({2, 2}, float32), array({1.0f})); },
                          "[searchsorted] the sorted sequence must be 1-D but has 2"));
}

// ---------------------------------------------------------------- unique

TEST(Unique, ValuesIndexInverseCounts) {
  array a = array({3, 1, 2, 3, 1, 5}, Shape{3, 2}, int32);
  auto r = unique(a, 4, true, true, true);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(to_vector<int32_t>(r[0]), (std::vector<int32_t>{1, 2, 3, 5}));
  EXPECT_EQ(r[1].dtype(), uint32);
  EXPECT_EQ(to_vector<uint32_t>(r[1]), (std::vector<uint32_t>{1, 2, 0, 5}));
  EXPECT_EQ(r[2].shape(), Shape({3, 2}));
  EXPECT_EQ(to_vector<uint32_t>(r[2]), (std::vector<uint32_t>{2, 0, 1, 2, 0, 3}));
  EXPECT_EQ(r[3].dtype(), int32);
  EXPECT_EQ(to_vector<int32_t>(r[3]), (std::vector<int32_t>{2, 1, 2, 1}));
  // Truncated: counts of the kept values, inverse clamped.
  r = unique(a, 2, true, true, true);
  EXPECT_EQ(to_vector<int32_t>(r[0]), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(to_vector<uint32_t>(r[1]), (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(to_vector<uint32_t>(r[2]), (std::vector<uint32_t>{1, 0, 1, 1, 0, 1}));
  EXPECT_EQ(to_vector<int32_t>(r[3]), (std::vector<int32_t>{2, 1}));
  // Padded: the smallest value (and its index) by default, counts 0.
  r = unique(a, 6, true, false, true);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(to_vector<int32_t>(r[0]), (std::vector<int32_t>{1, 2, 3, 5, 1, 1}));
  EXPECT_EQ(to_vector<uint32_t>(r[1]), (std::vector<uint32_t>{1, 2, 0, 5, 1, 1}));
  EXPECT_EQ(to_vector<int32_t>(r[2]), (std::vector<int32_t>{2, 1, 2, 1, 0, 0}));
  // A fill value takes a's dtype.
  r = unique(a, 6, false, false, false, array(-1.5f));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(to_vector<int32_t>(r[0]), (std::vector<int32_t>{1, 2, 3, 5, -1, -1}));
}

TEST(Unique, NaNZeroesAndLayouts) {
  std::vector<float> x = {NAN, 1.0f, NAN, -0.0f, 0.0f};
  auto r = unique(array(x, Shape{5}, float32), 4, false, false, true);
  auto v = to_vector<float>(r[0]);
  EXPECT_EQ(v[0], 0.0f);
  EXPECT_EQ(v[1], 1.0f);
  EXPECT_TRUE(std::isnan(v[2]) && std::isnan(v[3]));
  EXPECT_EQ(to_vector<int32_t>(r[1]), (std::vector<int32_t>{2, 1, 1, 1}));
  // A transposed input is flattened in its logical order.
  array t = transpose(array({5, 4, 4, 5, 6, 4}, Shape{2, 3}, int32));  // 5 5 4 6 4 4
  r = unique(t, 3, true, true, false);
  EXPECT_EQ(to_vector<int32_t>(r[0]), (std::vector<int32_t>{4, 5, 6}));
  EXPECT_EQ(to_vector<uint32_t>(r[1]), (std::vector<uint32_t>{2, 0, 3}));
  EXPECT_EQ(to_vector<uint32_t>(r[2]), (std::vector<uint32_t>{1, 1, 0, 2, 0, 0}));
  // Random data against a plain loop.
  std::mt19937 rng(7);
  std::vector<int32_t> d(200);
  for (auto& e : d) e = int32_t(rng() % 37) - 10;
  std::vector<int32_t> sorted = d;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  r = unique(array(d, Shape{10, 20}, int32), int(sorted.size()), false, false, true);
  EXPECT_EQ(to_vector<int32_t>(r[0]), sorted);
  auto counts = to_vector<int32_t>(r[1]);
  for (size_t i = 0; i < sorted.size(); ++i) {
    EXPECT_EQ(counts[i], std::count(d.begin(), d.end(), sorted[i]));
  }
}

TEST(Unique, EmptyAndSizeZero) {
  auto r = unique(zeros({0}, int32), 2, true, true, true, array(7));
  EXPECT_EQ(to_vector<int32_t>(r[0]), (std::vector<int32_t>{7, 7}));
  EXPECT_EQ(to_vector<uint32_t>(r[1]), (std::vector<uint32_t>{0, 0}));
  EXPECT_EQ(r[2].shape(), Shape({0}));
  EXPECT_EQ(to_vector<int32_t>(r[3]), (std::vector<int32_t>{0, 0}));
  r = unique(array({5, 3, 3}, int32), 0, true, true, true);
  EXPECT_EQ(r[0].shape(), Shape({0}));
  EXPECT_EQ(to_vector<uint32_t>(r[2]), (std::vector<uint32_t>{0, 0, 0}));
  EXPECT_EQ(unique(zeros({0}, float32), 0)[0].shape(), Shape({0}));
  r = unique(array(4), 2, false, true);
  EXPECT_EQ(to_vector<int32_t>(r[0]), (std::vector<int32_t>{4, 4}));
  EXPECT_EQ(r[1].ndim(), 0);
}

TEST(Unique, Errors) {
  EXPECT_TRUE(throws_with([] { unique(zeros({0}, float32), 2); },
                          "[unique] a fill value is required for an empty input"));
  EXPECT_TRUE(throws_with([] { unique(array({1, 2}, int32), -1); },
                          "[unique] received negative size -1"));
}

// ---------------------------------------------------------------- hadamard

// The Sylvester matrix entry (H_p)[i][j] = (-1)^popcount(i & j).
double sylvester(int i, int j) { return std::popcount(unsigned(i & j)) % 2 ? -1.0 : 1.0; }

TEST(Hadamard, PowersOfTwoAgainstLoops) {
  for (int n : {2, 4, 8, 64}) {
    array x = random_array({3, n}, float32, 11);
    auto xv = to_doubles(x);
    auto got = to_doubles(hadamard_transform(x));
    std::vector<double> want(3 * n);
    for (int b = 0; b < 3; ++b) {
      for (int j = 0; j < n; ++j) {
        double acc = 0;
        for (int i = 0; i < n; ++i) acc += xv[b * n + i] * sylvester(i, j);
        want[b * n + j] = acc / std::sqrt(double(n));
      }
    }
    EXPECT_TRUE(all_close(got, want, 1e-5, 1e-5)) << n;
  }
  // A scale, integers (float32 out), a non-contiguous input, half types.
  array i = array({1, 2, 3, 4}, Shape{1, 4}, int32);
  array hi = hadamard_transform(i, 1.0f);
  EXPECT_EQ(hi.dtype(), float32);
  EXPECT_TRUE(all_close(to_doubles(hi), {10, -2, -4, 0}));
  array t = transpose(reshape(iota({8}), {2, 4}));  // [4, 2]: rows (0 4) (1 5) ...
  EXPECT_TRUE(all_close(to_doubles(hadamard_transform(t, 2.0f)),
                        {8, -8, 12, -8, 16, -8, 20, -8}));
  array h = hadamard_transform(astype(i, float16), 0.5f);
  EXPECT_EQ(h.dtype(), float16);
  EXPECT_TRUE(all_close(to_doubles(h), {5, -1, -2, 0}));
}

TEST(Hadamard, NonPowerOfTwoSizesAreOrthogonal) {
  // H H^T = n I for n = 12, 20, 28 and 24 (12 * 2), and the first row of H_12
  // is Sloane's +-++++++++++.
  for (int n : {12, 20, 28, 24}) {
    array h = hadamard_transform(eye(n), 1.0f);
    auto hv = to_doubles(h);
    for (double e : hv) EXPECT_EQ(std::fabs(e), 1.0);
    auto g = to_doubles(matmul(h, transpose(h)));
    for (int r = 0; r < n; ++r) {
      for (int c = 0; c < n; ++c) EXPECT_EQ(g[r * n + c], r == c ? n : 0) << n;
    }
    if (n == 12) {
      std::vector<double> first = {1, -1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
      EXPECT_EQ(std::vector<double>(hv.begin(), hv.begin() + 12), first);
    }
  }
  // n = 24 is H_12 (x) H_2.
  auto h12 = to_doubles(hadamard_transform(eye(12), 1.0f));
  auto h24 = to_doubles(hadamard_transform(eye(24), 1.0f));
  for (int r = 0; r < 24; ++r) {
    for (int c = 0; c < 24; ++c) {
      EXPECT_EQ(h24[r * 24 + c], h12[(r / 2) * 12 + c / 2] * sylvester(r % 2, c % 2));
    }
  }
}

TEST(Hadamard, ScalarsAndErrors) {
  array s = hadamard_transform(array(3.0f));
  EXPECT_EQ(s.item<float>(), 3.0f);
  EXPECT_EQ(hadamard_transform(array(3)).dtype(), int32);  // n = 1, scale 1: a itself
  EXPECT_TRUE(throws_with([] { hadamard_transform(zeros({0, 4}, float32)); },
                          "[hadamard_transform] does not support empty arrays"));
  EXPECT_TRUE(throws_with([] { hadamard_transform(ones({2, 6}, float32)); },
                          "only supports n = m*2^k where m in (1, 12, 20, 28)"));
}

// ---------------------------------------------------------------- masked and gathered products

std::vector<double> matmul_ref(const std::vector<double>& a, const std::vector<double>& b,
                               int M, int K, int N) {
  std::vector<double> c(M * N, 0.0);
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) {
      for (int k = 0; k < K; ++k) c[i * N + j] += a[i * K + k] * b[k * N + j];
    }
  }
  return c;
}

TEST(BlockMaskedMM, MasksBlocks) {
  const int M = 40, K = 70, N = 33, bs = 32;  // 2 x 3 x 2 blocks, ragged edges
  array a = random_array({M, K}, float32, 1);
  array b = random_array({K, N}, float32, 2);
  std::vector<bool> lm = {true, false, true, true, true, false};  // [2, 3]
  std::vector<float> rm = {1.0f, 2.0f, 0.5f, 0.0f, 1.0f, -1.0f};  // [3, 2]
  std::vector<bool> om = {true, true, false, true};               // [2, 2]
  array out = block_masked_mm(a, b, bs, array(om.begin(), Shape{2, 2}, bool_),
                              array(lm.begin(), Shape{2, 3}, bool_),
                              array(rm, Shape{3, 2}, float32));
  auto av = to_doubles(a), bv = to_doubles(b);
  for (int i = 0; i < M; ++i) {
    for (int k = 0; k < K; ++k) av[i * K + k] *= lm[(i / bs) * 3 + k / bs];
  }
  for (int k = 0; k < K; ++k) {
    for (int j = 0; j < N; ++j) bv[k * N + j] *= rm[(k / bs) * 2 + j / bs];
  }
  auto want = matmul_ref(av, bv, M, K, N);
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) want[i * N + j] *= om[(i / bs) * 2 + j / bs];
  }
  EXPECT_TRUE(all_close(to_doubles(out), want, 1e-4, 1e-4));
  // No masks: a plain product.
  EXPECT_TRUE(all_close(to_doubles(block_masked_mm(a, b, 64)),
                        matmul_ref(to_doubles(a), to_doubles(b), M, K, N), 1e-4, 1e-4));
}

TEST(BlockMaskedMM, Errors) {
  array m = array({true}, Shape{1, 1}, bool_);
  EXPECT_TRUE(throws_with([&] { block_masked_mm(ones({4, 4}), ones({4, 4}), 16, m); },
                          "[block_masked_mm] only block_sizes 32, 64 are supported"));
  EXPECT_TRUE(throws_with([&] { block_masked_mm(ones({4, 4}), ones({3, 4}), 32, m); },
                          "[block_masked_mm] last dimension of first input"));
  EXPECT_TRUE(throws_with(
      [&] { block_masked_mm(ones({4, 4}, int32), ones({4, 4}, int32), 32, m); },
      "[block_masked_mm] only real floating point types"));
  EXPECT_TRUE(throws_with([&] { block_masked_mm(array(1.0f), ones({4, 4}), 32, m); },
                          "[block_masked_mm] got 0 dimension input"));
}

TEST(GatherMM, PicksMatrices) {
  array a = random_array({3, 2, 4}, float32, 3);  // 3 matrices 2x4
  array b = random_array({2, 4, 5}, float32, 4);  // 2 matrices 4x5
  array li = array({2, 0, 1, 2}, Shape{2, 2}, uint32);
  array ri = array({1, 0}, Shape{1, 2}, int32);  // broadcast against li
  array out = gather_mm(a, b, li, ri);
  EXPECT_EQ(out.shape(), Shape({2, 2, 2, 5}));
  auto av = to_doubles(a), bv = to_doubles(b), ov = to_doubles(out);
  int lv[4] = {2, 0, 1, 2}, rv[4] = {1, 0, 1, 0};
  for (int p = 0; p < 4; ++p) {
    std::vector<double> am(av.begin() + lv[p] * 8, av.begin() + lv[p] * 8 + 8);
    std::vector<double> bm(bv.begin() + rv[p] * 20, bv.begin() + rv[p] * 20 + 20);
    auto want = matmul_ref(am, bm, 2, 4, 5);
    EXPECT_TRUE(all_close(std::vector<double>(ov.begin() + p * 10, ov.begin() + p * 10 + 10),
                          want, 1e-5, 1e-5));
  }
  // Only rhs indices: lhs defaults to every matrix of a's batch.
  EXPECT_EQ(gather_mm(a, b, std::nullopt, array({0, 1, 1}, int32)).shape(),
            Shape({3, 2, 5}));
  EXPECT_TRUE(throws_with([&] { gather_mm(a, b, array({0.5f})); },
                          "[gather_mm] got indices with invalid dtype"));
  // A vector operand is a one-row matrix, dropped from the result (as MLX).
  EXPECT_EQ(gather_mm(ones({4}), b, array({0}, int32)).shape(), Shape({2, 5}));
}

TEST(SegmentedMM, SegmentsOfTheInnerAxis) {
  array a = random_array({3, 6}, float32, 5);
  array b = random_array({6, 2}, float32, 6);
  array seg = array({0, 2, 2, 6, 3, 3, 1, 5}, Shape{2, 2, 2}, int32);
  array out = segmented_mm(a, b, seg);
  EXPECT_EQ(out.shape(), Shape({2, 2, 3, 2}));
  auto av = to_doubles(a), bv = to_doubles(b), ov = to_doubles(out);
  int bounds[4][2] = {{0, 2}, {2, 6}, {3, 3}, {1, 5}};
  for (int sIdx = 0; sIdx < 4; ++sIdx) {
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 2; ++j) {
        double acc = 0;
        for (int k = bounds[sIdx][0]; k < bounds[sIdx][1]; ++k) acc += av[i * 6 + k] * bv[k * 2 + j];
        EXPECT_NEAR(ov[sIdx * 6 + i * 2 + j], acc, 1e-5);
      }
    }
  }
  EXPECT_TRUE(throws_with([&] { segmented_mm(ones({2, 3, 3}), b, seg); },
                          "[segmented_mm] batched matmul not supported"));
  EXPECT_TRUE(throws_with([&] { segmented_mm(a, b, array({0, 1, 2}, int32)); },
                          "[segmented_mm] the segments should have shape (..., 2)"));
  EXPECT_TRUE(throws_with([&] { segmented_mm(a, b, array({0.0f, 1.0f})); },
                          "[segmented_mm] got segments with invalid dtype"));
}

// ---------------------------------------------------------------- einsum

TEST(Einsum, AgainstLoops) {
  array a = random_array({2, 3}, float32, 7), b = random_array({3, 4}, float32, 8);
  auto av = to_doubles(a), bv = to_doubles(b);
  EXPECT_TRUE(all_close(to_doubles(einsum("ij,jk->ik", {a, b})), matmul_ref(av, bv, 2, 3, 4),
                        1e-5, 1e-5));
  EXPECT_TRUE(all_close(to_doubles(einsum("ij,jk", {a, b})), matmul_ref(av, bv, 2, 3, 4),
                        1e-5, 1e-5));
  // Transposed output, traces, diagonals, outer products, sums.
  auto tr = to_doubles(einsum("ij->ji", {a}));
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) EXPECT_EQ(tr[j * 2 + i], av[i * 3 + j]);
  }
  array sq = random_array({3, 3}, float32, 9);
  auto sv = to_doubles(sq);
  EXPECT_NEAR(einsum("ii", {sq}).item<float>(), sv[0] + sv[4] + sv[8], 1e-5);
  EXPECT_TRUE(all_close(to_doubles(einsum("ii->i", {sq})), {sv[0], sv[4], sv[8]}));
  EXPECT_NEAR(einsum("ij->", {a}).item<float>(), std::accumulate(av.begin(), av.end(), 0.0),
              1e-5);
  array a0 = reshape(slice(a, {0, 0}, {1, 3}), {3}), b0 = reshape(slice(b, {0, 0}, {1, 4}), {4});
  auto outer = to_doubles(einsum("i,j->ij", {a0, b0}));
  ASSERT_EQ(outer.size(), 12u);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 4; ++j) EXPECT_NEAR(outer[i * 4 + j], av[i] * bv[j], 1e-6);
  }
  EXPECT_EQ(einsum("i,jk->ijk", {reshape(slice(a, {0, 0}, {1, 3}), {3}), b}).shape(),
            Shape({3, 3, 4}));
  // Three operands: a greedy path; compare with two matmuls.
  array c = random_array({4, 5}, float32, 10);
  auto abc = to_doubles(einsum("ij,jk,kl->il", {a, b, c}));
  auto want = matmul_ref(matmul_ref(av, bv, 2, 3, 4), to_doubles(c), 2, 4, 5);
  EXPECT_TRUE(all_close(abc, want, 1e-4, 1e-4));
  // Batched with an ellipsis and broadcasting, a non-contiguous operand.
  array x = random_array({2, 1, 3, 4}, float32, 12);
  array y = transpose(random_array({5, 4, 3}, float32, 13), {0, 2, 1});  // [5, 3, 4]
  array r = einsum("...ij,...ij->...i", {x, y});
  EXPECT_EQ(r.shape(), Shape({2, 5, 3}));
  auto xv = to_doubles(x), yv = to_doubles(y), rv = to_doubles(r);
  for (int p = 0; p < 2; ++p) {
    for (int q = 0; q < 5; ++q) {
      for (int i = 0; i < 3; ++i) {
        double acc = 0;
        for (int j = 0; j < 4; ++j) acc += xv[p * 12 + i * 4 + j] * yv[q * 12 + i * 4 + j];
        EXPECT_NEAR(rv[(p * 5 + q) * 3 + i], acc, 1e-5);
      }
    }
  }
  // Integers take the products-and-sums route.
  array ia = array({1, 2, 3, 4}, Shape{2, 2}, int32);
  array ir = einsum("ij,jk->ik", {ia, ia});
  EXPECT_EQ(ir.dtype(), int32);
  EXPECT_EQ(to_vector<int32_t>(ir), (std::vector<int32_t>{7, 10, 15, 22}));
  // Empty operands.
  EXPECT_EQ(einsum("ij,jk->ik", {zeros({0, 3}), b}).shape(), Shape({0, 4}));
  EXPECT_TRUE(all_close(to_doubles(einsum("ij,jk->ik", {zeros({2, 0}), zeros({0, 4})})),
                        std::vector<double>(8, 0.0)));
}

TEST(Einsum, PathAndErrors) {
  array a = ones({2, 3}), b = ones({3, 4}), c = ones({4, 5});
  auto [path, text] = einsum_path("ij,jk,kl->il", {a, b, c});
  ASSERT_EQ(path.size(), 2u);
  // MLX's (and NumPy's greedy) order: b and c first.
  EXPECT_EQ(path[0], (std::vector<int>{1, 2}));
  EXPECT_EQ(path[1], (std::vector<int>{0, 1}));
  EXPECT_NE(text.find("Complete contraction:  ij,jk,kl->il"), std::string::npos);
  EXPECT_NE(text.find("Naive scaling:  4"), std::string::npos);
  auto p2 = einsum_path("ij,jk", {a, b}).first;
  ASSERT_EQ(p2.size(), 1u);
  EXPECT_EQ(p2[0], (std::vector<int>{0, 1}));
  EXPECT_TRUE(throws_with([] { einsum("", {}); }, "[einsum] at least one operand"));
  EXPECT_TRUE(throws_with([&] { einsum("ij,jk->ik", {a}); },
                          "[einsum] number of operands, 1, does not match"));
  EXPECT_TRUE(throws_with([&] { einsum("i1->i", {a}); }, "subscripts must be letters"));
  EXPECT_TRUE(throws_with([&] { einsum("ij->ii", {a}); }, "repeat indices not allowed"));
  EXPECT_TRUE(throws_with([&] { einsum("ijk->i", {a}); }, "invalid number of subscripts 3"));
  EXPECT_TRUE(throws_with([&] { einsum("ii->i", {a}); },
                          "dimensions of repeated subscripts do not have the same size"));
  EXPECT_TRUE(throws_with([&] { einsum("ij,ij->i", {a, b}); }, "cannot broadcast dimension"));
  EXPECT_TRUE(throws_with([&] { einsum("...i...->i", {a}); }, "only one ellipsis"));
  EXPECT_TRUE(throws_with([&] { einsum("...ijk->i", {a}); }, "has insufficient dimensions"));
  EXPECT_TRUE(throws_with([&] { einsum_path("ij->", {}); }, "[einsum_path] at least one"));
}

// ---------------------------------------------------------------- multivariate normal

// linalg::svd runs on the CPU only, so (as in MLX) this uses a CPU stream.
TEST(MultivariateNormal, MomentsShapesAndErrors) {
  const Device cpu = Device::cpu;
  array mean = array({1.0f, -2.0f});
  array cov = array({2.0f, 0.6f, 0.6f, 1.0f}, Shape{2, 2});
  const int N = 20000;
  array x = random::multivariate_normal(mean, cov, {N}, float32, random::key(3), cpu);
  EXPECT_EQ(x.shape(), Shape({N, 2}));
  auto v = to_doubles(x);
  double m0 = 0, m1 = 0;
  for (int i = 0; i < N; ++i) {
    m0 += v[2 * i];
    m1 += v[2 * i + 1];
  }
  m0 /= N;
  m1 /= N;
  double c00 = 0, c01 = 0, c11 = 0;
  for (int i = 0; i < N; ++i) {
    double a = v[2 * i] - m0, b = v[2 * i + 1] - m1;
    c00 += a * a;
    c01 += a * b;
    c11 += b * b;
  }
  EXPECT_NEAR(m0, 1.0, 0.05);
  EXPECT_NEAR(m1, -2.0, 0.05);
  EXPECT_NEAR(c00 / N, 2.0, 0.1);
  EXPECT_NEAR(c01 / N, 0.6, 0.05);
  EXPECT_NEAR(c11 / N, 1.0, 0.05);
  // Batch shapes broadcast with `shape`.
  array bm = zeros({3, 1, 2});
  EXPECT_EQ(random::multivariate_normal(bm, cov, {4}, float32, random::key(1), cpu).shape(),
            Shape({3, 4, 2}));
  auto err = [&](auto f, const char* what) { EXPECT_TRUE(throws_with(f, what)) << what; };
  err([&] { random::multivariate_normal(mean, cov, {2}, float16, std::nullopt, cpu); },
      "[multivariate_normal] dtype must be float32");
  err([&] { random::multivariate_normal(array(1.0f), cov, {2}, float32, std::nullopt, cpu); },
      "mean must have at least one dimension");
  err([&] { random::multivariate_normal(mean, array({1.0f, 2.0f}), {2}, float32, std::nullopt, cpu); },
      "cov must have at least two dimensions");
  err([&] { random::multivariate_normal(mean, zeros({2, 3}), {2}, float32, std::nullopt, cpu); },
      "last two dimensions of cov must be equal");
  err([&] { random::multivariate_normal(mean, zeros({3, 3}), {2}, float32, std::nullopt, cpu); },
      "mean and cov must have compatible shapes");
}

// ---------------------------------------------------------------- fast::cross_entropy

TEST(CrossEntropy, AgainstLoops) {
  array l = array({1.0f, 2.0f, 3.0f, 0.0f, 0.0f, 0.0f}, Shape{2, 3});
  array t = array({2, 0}, int32);
  array out = fast::cross_entropy(l, t);
  EXPECT_EQ(out.dtype(), float32);
  EXPECT_TRUE(all_close(to_doubles(out), {0.40760596, 1.09861229}, 1e-6));
  // Half logits give float32; a transposed input; uint8 targets.
  array lt = transpose(astype(random_array({5, 4}, float32, 21), float16));  // [4, 5]
  array tt = array({4, 0, 2, 3}, uint8);
  auto got = to_doubles(fast::cross_entropy(lt, tt));
  auto lv = to_doubles(lt);
  uint8_t tv[4] = {4, 0, 2, 3};
  for (int r = 0; r < 4; ++r) {
    double mx = -INFINITY, acc = 0;
    for (int c = 0; c < 5; ++c) mx = std::max(mx, lv[r * 5 + c]);
    for (int c = 0; c < 5; ++c) acc += std::exp(lv[r * 5 + c] - mx);
    EXPECT_NEAR(got[r], mx + std::log(acc) - lv[r * 5 + tv[r]], 1e-5);
  }
  EXPECT_EQ(fast::cross_entropy(zeros({0, 3}), zeros({0}, int32)).shape(), Shape({0}));
  EXPECT_TRUE(throws_with([&] { fast::cross_entropy(l, array({1.0f, 2.0f})); },
                          "[cross_entropy] targets must be integer class indices"));
  EXPECT_TRUE(throws_with([&] { fast::cross_entropy(l, array({1, 2}, Shape{1, 2}, int32)); },
                          "[cross_entropy] targets shape"));
  EXPECT_TRUE(throws_with([&] { fast::cross_entropy(array(1.0f), array(1)); },
                          "[cross_entropy] logits must have at least 1 dimension"));
  EXPECT_TRUE(throws_with([&] { fast::cross_entropy(astype(l, int32), t); },
                          "[cross_entropy] Received unsupported logits type int32"));
}

TEST(GatedDeltaUpdate, AgainstLoop) {
  const int B = 1, T = 3, Hk = 1, Hv = 2, Dk = 4, Dv = 3;
  array q = random_array({B, T, Hk, Dk}, float32, 31), k = random_array({B, T, Hk, Dk}, float32, 32);
  array v = random_array({B, T, Hv, Dv}, float32, 33);
  array g = random_array({B, T, Hv}, float32, 34, 0, 1), b = random_array({B, T, Hv}, float32, 35, 0, 1);
  array mask = array({true, false, true}, Shape{1, 3}, bool_);
  auto r = fast::gated_delta_update(q, k, v, g, b, std::nullopt, mask);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].shape(), Shape({B, T, Hv, Dv}));
  EXPECT_EQ(r[1].shape(), Shape({B, Hv, Dv, Dk}));
  auto qv = to_doubles(q), kv = to_doubles(k), vv = to_doubles(v), gv = to_doubles(g),
       bv = to_doubles(b), ov = to_doubles(r[0]), sv = to_doubles(r[1]);
  std::vector<double> S(Hv * Dv * Dk, 0.0);
  bool mk[3] = {true, false, true};
  for (int t = 0; t < T; ++t) {
    for (int h = 0; h < Hv; ++h) {
      int hk = h * Hk / Hv;
      const double* kt = &kv[(t * Hk + hk) * Dk];
      const double* qt = &qv[(t * Hk + hk) * Dk];
      std::vector<double> Sn(S.begin() + h * Dv * Dk, S.begin() + (h + 1) * Dv * Dk);
      for (double& e : Sn) e *= gv[t * Hv + h];
      for (int i = 0; i < Dv; ++i) {
        double mem = 0;
        for (int j = 0; j < Dk; ++j) mem += Sn[i * Dk + j] * kt[j];
        double d = (vv[(t * Hv + h) * Dv + i] - mem) * bv[t * Hv + h];
        for (int j = 0; j < Dk; ++j) Sn[i * Dk + j] += d * kt[j];
      }
      for (int i = 0; i < Dv; ++i) {
        double o = 0;
        for (int j = 0; j < Dk; ++j) o += Sn[i * Dk + j] * qt[j];
        EXPECT_NEAR(ov[(t * Hv + h) * Dv + i], mk[t] ? o : 0.0, 1e-4);
      }
      if (mk[t]) std::copy(Sn.begin(), Sn.end(), S.begin() + h * Dv * Dk);
    }
  }
  EXPECT_TRUE(all_close(sv, S, 1e-4, 1e-4));
}

// ---------------------------------------------------------------- memory

TEST(Memory, ArrayBufferSizeCountsEachBufferOnce) {
  array a = ones({1000}, float32);
  a.eval();
  array v = slice(a, {2}, {10});
  v.eval();
  size_t one = get_array_buffer_size({a});
  EXPECT_GE(one, 4000u);
  EXPECT_EQ(get_array_buffer_size({a, v}), one);
  EXPECT_EQ(get_array_buffer_size({}), 0u);
  EXPECT_TRUE(throws_with([] { get_array_buffer_size({ones({3}) + 1}); },
                          "[get_array_buffer_size] Arrays must be evaluated"));
  EXPECT_EQ(set_wired_limit(1 << 20), 0u);
  EXPECT_EQ(set_wired_limit(0), 0u);
}

}  // namespace
}  // namespace rill::test

namespace rill::test {
namespace {

// Behaviours MLX's own tests pin down and rill once did differently.
TEST(MlxSemantics, DoubleLiteralsMakeFloat32) {
  EXPECT_EQ(array(1.0).dtype(), float32);
  EXPECT_EQ(array({1.0, 2.0}).dtype(), float32);
  EXPECT_EQ(array(std::vector<double>{1.0, 2.0}, Shape{2}).dtype(), float32);
  // Asked for, float64 keeps every bit and reads back as double.
  array d(0.1, float64);
  EXPECT_EQ(d.dtype(), float64);
  EXPECT_EQ(d.item<double>(), 0.1);
  EXPECT_EQ(array(0.1).item<float>(), 0.1f);
}

TEST(MlxSemantics, IscloseKeepsInfinitiesApart) {
  const float inf = std::numeric_limits<float>::infinity();
  array a = array({inf, inf, -inf, 1.0f, inf});
  array b = array({-inf, inf, -inf, inf, 1e30f});
  EXPECT_EQ(to_vector<bool>(isclose(a, b)), std::vector<bool>({false, true, true, false, false}));
  EXPECT_FALSE(allclose(array(inf), array(-inf)).item<bool>());
}

TEST(MlxSemantics, FlattenClampsItsAxes) {
  array a = zeros({2, 3, 4});
  EXPECT_EQ(flatten(a, 1, 10).shape(), Shape({2, 12}));
  EXPECT_EQ(flatten(a, -10, 1).shape(), Shape({6, 4}));
  EXPECT_EQ(flatten(a, 2, 2).shape(), Shape({2, 3, 4}));
  EXPECT_TRUE(throws_with([&] { flatten(a, 3); }, "[flatten] start_axis 3 is out of range"));
  EXPECT_TRUE(throws_with([&] { flatten(a, 0, -4); }, "[flatten] end_axis -4 is out of range"));
  EXPECT_TRUE(throws_with([&] { flatten(a, 2, 1); }, "[flatten] start_axis 2 is after end_axis 1"));
}

}  // namespace
}  // namespace rill::test
