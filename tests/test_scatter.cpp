// MLX's gather and scatter (every combining form), put_along_axis,
// scatter_add_axis, masked_scatter, slice_update (static and with array
// starts) and the dynamic slice, against plain loops, on the default device
// (the GPU in a suite run with RILL_DEVICE=gpu): repeated positions, negative
// and out-of-range indices, non-contiguous inputs, empty updates.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "ops_helpers.h"
#include "rill/rill.h"

namespace rill::test {
namespace {

std::vector<double> range(size_t n, double from = 0) {
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), from);
  return v;
}

// Expects evaluating `fn()` to fail with an error naming `what` (the kernel's
// std::out_of_range, raised at the sync point as E2 says).
template <typename F>
::testing::AssertionResult fails_at_eval(F&& fn, const std::string& what) {
  try {
    array r = fn();
    r.eval();
  } catch (const std::invalid_argument& e) {
    return ::testing::AssertionFailure() << "failed at the call, not at eval: " << e.what();
  } catch (const std::exception& e) {
    if (std::string(e.what()).find(what) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "message lacks " << what << ": " << e.what();
  }
  return ::testing::AssertionFailure() << "nothing thrown";
}

TEST(Gather, SlicesAtIndexPositions) {
  // a[4, 5]; rows 3, 0 and -1, slices of 1 x 3 from column 1 and 2.
  array a = array(range(20), {4, 5}, float32);
  array rows = array({3, 0, -1}, int32), cols = array({1, 2, 2}, int64);
  array g = gather(a, {rows, cols}, {0, 1}, {1, 3});
  ASSERT_EQ(g.shape(), Shape({3, 1, 3}));
  EXPECT_TRUE(all_close(to_doubles(g), {16, 17, 18, 2, 3, 4, 17, 18, 19}));
  // One index array of shape [2, 1] broadcast with one of [3]: index shape [2, 3].
  array r2 = array({0, 2}, {2, 1}, int32), c2 = array({0, 1, 4}, int32);
  array g2 = gather(a, {r2, c2}, {0, 1}, {1, 1});
  ASSERT_EQ(g2.shape(), Shape({2, 3, 1, 1}));
  EXPECT_TRUE(all_close(to_doubles(g2), {0, 1, 4, 10, 11, 14}));
  // A single axis, whole rows, of a transposed (non-contiguous) array.
  array t = transpose(a);  // [5, 4]
  array g3 = gather(t, array({4, 0}, uint8), 0, {1, 4});
  EXPECT_TRUE(all_close(to_doubles(g3), {4, 9, 14, 19, 0, 5, 10, 15}));
  // No index arrays: one slice from the origin.
  EXPECT_TRUE(all_close(to_doubles(gather(a, std::vector<array>{}, {}, {2, 2})), {0, 1, 5, 6}));
  // Starts whose slice leaves the axis fail when evaluated, naming the index.
  EXPECT_TRUE(fails_at_eval([&] { return gather(a, {array({4}, int32)}, {0}, {1, 5}); },
                            "index 4"));
  EXPECT_TRUE(fails_at_eval([&] { return gather(a, {array({3}, int32)}, {1}, {4, 3}); },
                            "index 3"));
  EXPECT_TRUE(fails_at_eval([&] { return gather(a, {array({-5}, int32)}, {0}, {1, 5}); },
                            "index -5"));
  // Errors at the call.
  EXPECT_TRUE(throws_invalid([&] { gather(a, {rows}, {0, 1}, {1, 5}); }, "[gather]"));
  EXPECT_TRUE(throws_invalid([&] { gather(a, {rows}, {0}, {1}); }, "[gather]"));
  EXPECT_TRUE(throws_invalid([&] { gather(a, {rows}, {0}, {1, 6}); }, "[gather]"));
  EXPECT_TRUE(throws_invalid([&] { gather(a, {array({0.5f})}, {0}, {1, 5}); }, "[gather]"));
  EXPECT_TRUE(throws_invalid([&] { gather(a, {rows, rows}, {0, 0}, {1, 1}); }, "[gather]"));
}

// scatter's result by a loop: a copy of a with each update combined in order.
std::vector<double> ref_scatter(const std::string& op, std::vector<double> a, int cols,
                                const std::vector<int>& rows, const std::vector<double>& upd) {
  for (size_t i = 0; i < rows.size(); ++i) {
    int r = rows[i] < 0 ? rows[i] + static_cast<int>(a.size()) / cols : rows[i];
    for (int c = 0; c < cols; ++c) {
      double& x = a[r * cols + c];
      double v = upd[i * cols + c];
      if (op == "assign") x = v;
      else if (op == "add") x += v;
      else if (op == "prod") x *= v;
      else if (op == "max") x = std::max(x, v);
      else x = std::min(x, v);
    }
  }
  return a;
}

TEST(Scatter, EveryFormWithRepeatedPositions) {
  // Rows 1, 3, 1 (repeated) and -4 (= 0) of a [4, 3] array, whole rows.
  std::vector<int> rows = {1, 3, 1, -4};
  std::vector<double> av = random_values(12, float32, 1, -3, 3);
  std::vector<double> uv = random_values(12, float32, 2, -3, 3);
  for (Dtype t : {float32, int32, float16, int64, uint8}) {
    std::vector<double> a0 = av, u0 = uv;
    if (t == uint8) {
      for (double& x : a0) x = std::abs(std::round(x));
      for (double& x : u0) x = std::abs(std::round(x));
    } else if (!is_floating_point(t)) {
      for (double& x : a0) x = std::round(x);
      for (double& x : u0) x = std::round(x);
    }
    array a = array(a0, {4, 3}, t);
    array idx = array(std::vector<double>(rows.begin(), rows.end()), {4}, int32);
    array upd = array(u0, {4, 1, 3}, t);
    SCOPED_TRACE(dtype_name(t));
    EXPECT_TRUE(all_close(to_doubles(scatter_add(a, idx, upd, 0)),
                          ref_scatter("add", a0, 3, rows, u0), 4 * eps_of(t), 1e-6));
    EXPECT_TRUE(all_close(to_doubles(scatter_prod(a, idx, upd, 0)),
                          ref_scatter("prod", a0, 3, rows, u0), 4 * eps_of(t), 1e-6));
    EXPECT_TRUE(all_close(to_doubles(scatter_max(a, idx, upd, 0)),
                          ref_scatter("max", a0, 3, rows, u0), eps_of(t)));
    EXPECT_TRUE(all_close(to_doubles(scatter_min(a, idx, upd, 0)),
                          ref_scatter("min", a0, 3, rows, u0), eps_of(t)));
    // Assign: row 1 takes one of its two updates; the others are exact.
    std::vector<double> got = to_doubles(scatter(a, idx, upd, 0));
    std::vector<double> first = ref_scatter("assign", a0, 3, {1, 3, -4}, {u0[0], u0[1], u0[2],
                                            u0[3], u0[4], u0[5], u0[9], u0[10], u0[11]});
    std::vector<double> second = ref_scatter("assign", a0, 3, rows, u0);
    bool ok = all_close(got, first, eps_of(t)) || all_close(got, second, eps_of(t));
    EXPECT_TRUE(ok);
    EXPECT_EQ(scatter(a, idx, upd, 0).dtype(), t);
  }
}

TEST(Scatter, ManyCollisionsAddExactly) {
  // 4096 updates onto 8 positions: every one must land (atomics on a GPU).
  const int n = 4096;
  std::vector<double> pos(n);
  for (int i = 0; i < n; ++i) pos[i] = i % 8;
  array idx = array(pos, {n}, int32);
  for (Dtype t : {int32, float32, int64, float64, uint8, int32}) {
    array a = zeros({8}, t);
    array upd = ones({n, 1}, t);
    std::vector<double> want(8, t == uint8 ? double(uint8_t(n / 8)) : n / 8);
    EXPECT_TRUE(all_close(to_doubles(scatter_add(a, idx, upd, 0)), want)) << t;
  }
  array m = scatter_max(full({8}, -1.0f), idx, reshape(array(range(n), {n}, float32), {n, 1}), 0);
  std::vector<double> mw(8);
  for (int k = 0; k < 8; ++k) mw[k] = n - 8 + k;
  EXPECT_TRUE(all_close(to_doubles(m), mw));
}

TEST(Scatter, SlicesNonContiguousAndErrors) {
  // Two index arrays into a [3, 4], 1 x 2 slices; a given as a transposed view.
  array a = transpose(array(range(12), {4, 3}, float32));  // [3, 4]
  std::vector<double> av = to_doubles(a);
  array r = array({0, 2}, int32), c = array({1, 2}, int32);
  array upd = array({100.0f, 101.0f, 200.0f, 201.0f}, {2, 1, 2});
  std::vector<double> want = av;
  want[0 * 4 + 1] = 100;
  want[0 * 4 + 2] = 101;
  want[2 * 4 + 2] = 200;
  want[2 * 4 + 3] = 201;
  EXPECT_TRUE(all_close(to_doubles(scatter(a, {r, c}, upd, {0, 1})), want));
  // Updates convert to a's dtype; empty updates leave a as it was.
  array s = scatter(a, {array(std::vector<int>{}, {0}, int32)}, zeros({0, 1, 4}), {0});
  EXPECT_TRUE(all_close(to_doubles(s), av));
  EXPECT_TRUE(fails_at_eval([&] { return scatter(a, {array({3}, int32)}, zeros({1, 1, 4}), {0}); },
                            "index 3"));
  EXPECT_TRUE(throws_invalid([&] { scatter(a, {r}, zeros({2, 4}), {0}); }, "[scatter]"));
  EXPECT_TRUE(throws_invalid([&] { scatter_add(a, {r}, zeros({2, 1, 5}), {0}); }, "[scatter_add]"));
  EXPECT_TRUE(throws_invalid([&] { scatter(a, {r}, zeros({3, 1, 4}), {0}); }, "[scatter]"));
}

TEST(Scatter, PutAlongAxisAndScatterAddAxis) {
  array a = zeros({2, 3}, int32);
  array idx = array({2, 0}, {2, 1}, int32);
  array p = put_along_axis(a, idx, array(7, int32), 1);
  EXPECT_TRUE(all_close(to_doubles(p), {0, 0, 7, 7, 0, 0}));
  array q = scatter_add_axis(a, array({0, 0, 1, 2, 2, 2}, {2, 3}, int32),
                             array({1, 2, 3, 4, 5, 6}, {2, 3}, int32), 1);
  EXPECT_TRUE(all_close(to_doubles(q), {3, 3, 0, 0, 0, 15}));
  // Along axis 0 with a negative index.
  array r = put_along_axis(zeros({3, 2}), array({-1, 0}, {1, 2}, int32),
                           array({1.0f, 2.0f}, {1, 2}), 0);
  EXPECT_TRUE(all_close(to_doubles(r), {0, 2, 0, 0, 1, 0}));
  EXPECT_TRUE(throws_invalid([&] { put_along_axis(a, array({0}, int32), array(1), 1); },
                             "[put_along_axis]"));
}

TEST(Scatter, MaskedScatterFillsInOrder) {
  array a = array(range(6), {2, 3}, float32);
  array mask = array({true, false, true, false, true, true}, {2, 3});
  array m = masked_scatter(a, mask, array({10.0f, 20.0f, 30.0f, 40.0f, 50.0f}));
  EXPECT_TRUE(all_close(to_doubles(m), {10, 1, 20, 3, 30, 40}));
  // A broadcast mask: one row for both.
  array m2 = masked_scatter(a, array({false, true, false}), array({7.0f, 8.0f}, {2, 1}));
  EXPECT_TRUE(all_close(to_doubles(m2), {0, 7, 2, 3, 8, 5}));
  EXPECT_TRUE(fails_at_eval([&] { return masked_scatter(a, mask, array({1.0f, 2.0f})); },
                            "out of range"));
  EXPECT_TRUE(throws_invalid([&] { masked_scatter(a, array({1, 0, 1}, int32), a); },
                             "[masked_scatter]"));
}

TEST(SliceUpdate, StaticRegionsEveryForm) {
  array a = array(range(12), {3, 4}, float32);
  array u = array({100.0f, 200.0f}, {1, 2});
  // Rows 0 and 2, columns 1 and 3 (steps of 2), the update broadcast.
  array s = slice_update(a, u, {0, 1}, {3, 4}, {2, 2});
  EXPECT_TRUE(all_close(to_doubles(s), {0, 100, 2, 200, 4, 5, 6, 7, 8, 100, 10, 200}));
  array add = slice_update_add(a, array(1.0f), {1, 0}, {2, 4});
  EXPECT_TRUE(all_close(to_doubles(add), {0, 1, 2, 3, 5, 6, 7, 8, 8, 9, 10, 11}));
  array mx = slice_update_max(a, array(5.0f), {0, 0}, {2, 4});
  EXPECT_TRUE(all_close(to_doubles(mx), {5, 5, 5, 5, 5, 5, 6, 7, 8, 9, 10, 11}));
  array mn = slice_update_min(a, array(5.0f), {1, 0}, {3, 4});
  EXPECT_TRUE(all_close(to_doubles(mn), {0, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5}));
  array pr = slice_update_prod(a, array(2.0f), {2, 2}, {3, 4});
  EXPECT_TRUE(all_close(to_doubles(pr), {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 22}));
  // Negative steps and starts, a transposed source, an integer update.
  array t = transpose(a);  // [4, 3]
  array r = slice_update(t, array({-1, -2}, {2, 1}, int32), {-1, 0}, {-5, 1}, {-3, 1});
  std::vector<double> want = to_doubles(t);
  want[3 * 3 + 0] = -1;
  want[0 * 3 + 0] = -2;
  EXPECT_TRUE(all_close(to_doubles(r), want));
  // An empty region leaves src as it was; the source itself is unchanged.
  EXPECT_TRUE(all_close(to_doubles(slice_update(a, u, {1, 1}, {1, 3})), range(12)));
  EXPECT_TRUE(all_close(to_doubles(a), range(12)));
  EXPECT_TRUE(throws_invalid([&] { slice_update(a, array({1.0f, 2.0f, 3.0f}), {0, 0}, {1, 2}); },
                             "[slice_update]"));
  EXPECT_TRUE(throws_invalid([&] { slice_update_add(a, u, {0}, {1}); }, "[slice_update_add]"));
}

TEST(SliceUpdate, GrowsACacheInPlaceWithArrayStarts) {
  // A KV cache: each step writes one row at a position known only as an array.
  array cache = zeros({6, 2});
  for (int step = 0; step < 6; ++step) {
    array row = full({1, 2}, float(step + 1));
    cache = slice_update(cache, row, array({step}, int32), {0});
  }
  EXPECT_TRUE(all_close(to_doubles(cache), {1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6}));
  array d = slice(cache, array({2, 1}, int32), {0, 1}, {3, 1});
  EXPECT_TRUE(all_close(to_doubles(d), {3, 4, 5}));
  EXPECT_TRUE(fails_at_eval([&] { return slice(cache, array({4}, int32), {0}, {3, 2}); },
                            "index 4"));
  EXPECT_TRUE(throws_invalid([&] { slice(cache, array({1, 2}, int32), {0}, {1, 2}); }, "[slice]"));
  EXPECT_TRUE(throws_invalid([&] { slice_update(cache, zeros({2}), array({0}, int32), {0}); },
                             "[slice_update]"));
}

}  // namespace
}  // namespace rill::test
