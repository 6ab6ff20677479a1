// MLX's convolutions (ops_conv.cpp) against plain double-precision loops, on
// the default device (the GPU in a suite run with RILL_DEVICE=gpu): 1D, 2D and
// 3D, stride, asymmetric and negative padding, kernel and input dilation,
// groups, flip, transposed convolutions with output_padding, every floating
// dtype, strided inputs, an empty batch, and the documented errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "backend/gpu.h"
#include "core/ops_conv.h"
#include "ops_helpers.h"
#include "rill/rill.h"
#include "test_util.h"

namespace rill::test {
namespace {

// One convolution's settings, one entry per spatial axis.
struct Setting {
  std::vector<int> stride, lo, hi, kdil, idil;
  int groups = 1;
  bool flip = false;
};

// Values of the result and the sums of |terms| (to scale the tolerance).
struct Expected {
  Shape shape;
  std::vector<double> value, magnitude;
};

int64_t offset_of(const Shape& shape, const std::vector<int>& idx) {
  int64_t off = 0;
  for (size_t d = 0; d < shape.size(); ++d) off = off * shape[d] + idx[d];
  return off;
}

int64_t dilated(int64_t n, int64_t d) {
  return n > 0 ? 1 + d * (n - 1) : 0;
}

// The convolution by its definition: output (n, o..., oc) sums in[n, x..., g
// Cg + c] w[oc, k..., c] over the kernel taps whose position o * stride + k *
// kdil - lo in the dilated input falls on an input element.
Expected reference_conv(const std::vector<double>& x, const Shape& xs,
                        const std::vector<double>& w, const Shape& ws, const Setting& p) {
  const int nd = static_cast<int>(xs.size()) - 2;
  const int C = xs.back(), O = ws[0], Cg = ws.back(), G = p.groups;
  Expected e;
  e.shape.push_back(xs[0]);
  for (int i = 0; i < nd; ++i) {
    int64_t span = dilated(xs[i + 1], p.idil[i]) + p.lo[i] + p.hi[i];
    int64_t window = 1 + int64_t(p.kdil[i]) * (ws[i + 1] - 1);
    e.shape.push_back(static_cast<int32_t>((span - window) / p.stride[i] + 1));
  }
  e.shape.push_back(O);
  Shape kshape(ws.begin() + 1, ws.end() - 1);
  for_each_index(e.shape, [&](const std::vector<int>& o) {
    const int oc = o.back(), g = oc / (O / G);
    double sum = 0, mag = 0;
    for_each_index(kshape, [&](const std::vector<int>& k) {
      std::vector<int> xi(nd + 2), wi(nd + 2);
      xi[0] = o[0];
      wi[0] = oc;
      for (int i = 0; i < nd; ++i) {
        int64_t q = int64_t(o[i + 1]) * p.stride[i] + int64_t(k[i]) * p.kdil[i] - p.lo[i];
        if (q < 0 || q >= dilated(xs[i + 1], p.idil[i]) || q % p.idil[i] != 0) return;
        xi[i + 1] = static_cast<int>(q / p.idil[i]);
        wi[i + 1] = p.flip ? ws[i + 1] - 1 - k[i] : k[i];
      }
      for (int c = 0; c < Cg; ++c) {
        xi[nd + 1] = g * Cg + c;
        wi[nd + 1] = c;
        double t = x[offset_of(xs, xi)] * w[offset_of(ws, wi)];
        sum += t;
        mag += std::abs(t);
      }
    });
    (void)C;
    e.value.push_back(sum);
    e.magnitude.push_back(mag);
  });
  return e;
}

// The transposed convolution by its definition (PyTorch's): input element x
// adds in[n, x..., ic] w[oc, k..., c] to output position x * stride + k *
// dilation - padding, for ic = g Cg + c in output channel oc's group g.
Expected reference_conv_transpose(const std::vector<double>& x, const Shape& xs,
                                  const std::vector<double>& w, const Shape& ws,
                                  const std::vector<int>& stride,
                                  const std::vector<int>& padding,
                                  const std::vector<int>& dilation,
                                  const std::vector<int>& output_padding, int G) {
  const int nd = static_cast<int>(xs.size()) - 2;
  const int O = ws[0], Cg = ws.back();
  Expected e;
  e.shape.push_back(xs[0]);
  for (int i = 0; i < nd; ++i) {
    e.shape.push_back((xs[i + 1] - 1) * stride[i] - 2 * padding[i] +
                      dilation[i] * (ws[i + 1] - 1) + 1 + output_padding[i]);
  }
  e.shape.push_back(O);
  e.value.assign(numel(e.shape), 0);
  e.magnitude.assign(numel(e.shape), 0);
  Shape kshape(ws.begin() + 1, ws.end() - 1);
  Shape xspatial(xs.begin(), xs.end() - 1);
  for_each_index(xspatial, [&](const std::vector<int>& xi) {
    for_each_index(kshape, [&](const std::vector<int>& k) {
      std::vector<int> oi(nd + 2);
      oi[0] = xi[0];
      for (int i = 0; i < nd; ++i) {
        int y = xi[i + 1] * stride[i] + k[i] * dilation[i] - padding[i];
        if (y < 0 || y >= e.shape[i + 1]) return;
        oi[i + 1] = y;
      }
      for (int oc = 0; oc < O; ++oc) {
        const int g = oc / (O / G);
        oi[nd + 1] = oc;
        std::vector<int> wi(nd + 2), xf(xi);
        wi[0] = oc;
        for (int i = 0; i < nd; ++i) wi[i + 1] = k[i];
        xf.push_back(0);
        for (int c = 0; c < Cg; ++c) {
          wi[nd + 1] = c;
          xf[nd + 1] = g * Cg + c;
          double t = x[offset_of(xs, xf)] * w[offset_of(ws, wi)];
          e.value[offset_of(e.shape, oi)] += t;
          e.magnitude[offset_of(e.shape, oi)] += std::abs(t);
        }
      }
    });
  });
  return e;
}

// got agrees with e to a few roundings of `t` relative to the sum of |terms|
// (a half-precision result is rounded once to its dtype).
::testing::AssertionResult matches(const array& got, const Expected& e, Dtype t,
                                   double slack = 1) {
  if (got.shape() != e.shape) {
    return ::testing::AssertionFailure()
           << "shape " << str(got.shape()) << ", expected " << str(e.shape);
  }
  if (got.dtype() != t) return ::testing::AssertionFailure() << "dtype " << got.dtype();
  const double rel = slack * (t == float32 ? 1e-5 : t == float64 ? 1e-12 : 4 * eps_of(t));
  std::vector<double> g = to_doubles(got);
  for (size_t i = 0; i < g.size(); ++i) {
    double tol = rel * e.magnitude[i] + 1e-30;
    if (!(std::abs(g[i] - e.value[i]) <= tol)) {
      return ::testing::AssertionFailure()
             << "element " << i << ": got " << g[i] << ", expected " << e.value[i]
             << " (tol " << tol << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

std::vector<int> ones_v(int n) {
  return std::vector<int>(n, 1);
}
std::vector<int> zeros_v(int n) {
  return std::vector<int>(n, 0);
}

// conv_general on random inputs of dtype t against the loops.
::testing::AssertionResult check_general(const Shape& xs, const Shape& ws,
                                         const Setting& p, Dtype t = float32,
                                         uint32_t seed = 1) {
  array x = random_array(xs, t, seed, -1, 1);
  array w = random_array(ws, t, seed + 100, -1, 1);
  array y = conv_general(x, w, p.stride, p.lo, p.hi, p.kdil, p.idil, p.groups, p.flip);
  return matches(y, reference_conv(to_doubles(x), xs, to_doubles(w), ws, p), t);
}

TEST(Conv, Conv1dMatchesLoops) {
  struct Case {
    Shape xs, ws;
    int stride, padding, dilation, groups;
  };
  for (const Case& c :
       std::vector<Case>{{{1, 9, 3}, {4, 3, 3}, 1, 0, 1, 1},
                         {{2, 16, 5}, {6, 4, 5}, 2, 1, 1, 1},
                         {{3, 20, 4}, {8, 3, 4}, 3, 2, 2, 1},
                         {{2, 12, 6}, {6, 3, 2}, 1, 1, 1, 3},
                         {{2, 11, 8}, {8, 5, 1}, 2, 2, 1, 8},  // depthwise
                         {{1, 7, 4}, {2, 7, 4}, 1, 0, 1, 1},   // one output
                         {{2, 10, 4}, {6, 1, 4}, 1, 0, 1, 1}}) {
    array x = random_array(c.xs, float32, 3, -1, 1);
    array w = random_array(c.ws, float32, 4, -1, 1);
    array y = conv1d(x, w, c.stride, c.padding, c.dilation, c.groups);
    Setting p{{c.stride}, {c.padding}, {c.padding}, {c.dilation}, {1}, c.groups};
    EXPECT_TRUE(
        matches(y, reference_conv(to_doubles(x), c.xs, to_doubles(w), c.ws, p), float32))
        << str(c.xs) << " " << str(c.ws);
  }
  // Default arguments: stride 1, no padding.
  array x = random_array({1, 5, 2}, float32, 5, -1, 1),
        w = random_array({3, 2, 2}, float32, 6);
  EXPECT_TRUE(matches(conv1d(x, w),
                      reference_conv(to_doubles(x), {1, 5, 2}, to_doubles(w), {3, 2, 2},
                                     {{1}, {0}, {0}, {1}, {1}}),
                      float32));
}

TEST(Conv, Conv2dMatchesLoops) {
  struct Case {
    Shape xs, ws;
    std::pair<int, int> stride, padding, dilation;
    int groups;
  };
  for (const Case& c : std::vector<Case>{
           {{1, 6, 6, 3}, {4, 3, 3, 3}, {1, 1}, {0, 0}, {1, 1}, 1},
           {{2, 9, 7, 4}, {5, 3, 2, 4}, {2, 1}, {1, 0}, {1, 2}, 1},
           {{2, 8, 8, 6}, {4, 3, 3, 3}, {1, 2}, {1, 1}, {2, 1}, 2},
           {{2, 10, 9, 8}, {8, 3, 3, 1}, {2, 2}, {1, 1}, {1, 1}, 8},  // depthwise
           {{3, 5, 5, 8}, {16, 1, 1, 8}, {1, 1}, {0, 0}, {1, 1}, 1},  // pointwise
           {{1, 7, 7, 4}, {8, 2, 2, 1}, {1, 1}, {3, 2}, {3, 3}, 4}}) {
    array x = random_array(c.xs, float32, 7, -1, 1);
    array w = random_array(c.ws, float32, 8, -1, 1);
    array y = conv2d(x, w, c.stride, c.padding, c.dilation, c.groups);
    Setting p{{c.stride.first, c.stride.second},
              {c.padding.first, c.padding.second},
              {c.padding.first, c.padding.second},
              {c.dilation.first, c.dilation.second},
              {1, 1},
              c.groups};
    EXPECT_TRUE(
        matches(y, reference_conv(to_doubles(x), c.xs, to_doubles(w), c.ws, p), float32))
        << str(c.xs) << " " << str(c.ws);
  }
}

TEST(Conv, Conv3dMatchesLoops) {
  struct Case {
    Shape xs, ws;
    std::tuple<int, int, int> stride, padding, dilation;
  };
  for (const Case& c : std::vector<Case>{
           {{1, 4, 5, 6, 2}, {3, 2, 2, 3, 2}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}},
           {{2, 6, 5, 7, 3}, {4, 3, 2, 3, 3}, {2, 1, 2}, {1, 0, 2}, {1, 2, 1}}}) {
    array x = random_array(c.xs, float32, 9, -1, 1);
    array w = random_array(c.ws, float32, 10, -1, 1);
    array y = conv3d(x, w, c.stride, c.padding, c.dilation);
    auto v = [](const std::tuple<int, int, int>& t) {
      return std::vector<int>{std::get<0>(t), std::get<1>(t), std::get<2>(t)};
    };
    Setting p{v(c.stride), v(c.padding), v(c.padding), v(c.dilation), ones_v(3)};
    EXPECT_TRUE(
        matches(y, reference_conv(to_doubles(x), c.xs, to_doubles(w), c.ws, p), float32))
        << str(c.xs) << " " << str(c.ws);
  }
}

TEST(Conv, GeneralPaddingDilationAndFlip) {
  // Padding low != high, input dilation, flip, and a negative side that crops.
  EXPECT_TRUE(check_general({2, 9, 3}, {4, 3, 3}, {{2}, {0}, {2}, {1}, {1}}));
  EXPECT_TRUE(check_general({2, 7, 4}, {3, 3, 4}, {{1}, {2}, {1}, {2}, {3}, 1, true}));
  EXPECT_TRUE(check_general({1, 6, 5, 4}, {6, 3, 2, 2},
                            {{2, 1}, {1, 0}, {0, 2}, {1, 2}, {2, 1}, 2, true}));
  EXPECT_TRUE(check_general({2, 10, 3}, {2, 2, 3}, {{1}, {-2}, {1}, {1}, {1}}));
  EXPECT_TRUE(check_general({2, 10, 3}, {2, 2, 3}, {{2}, {1}, {-3}, {2}, {1}}));
  EXPECT_TRUE(check_general({1, 5, 6, 2}, {2, 2, 2, 2},
                            {{1, 1}, {-1, 2}, {1, -2}, {1, 1}, {2, 2}}));
  EXPECT_TRUE(
      check_general({1, 4, 5, 3, 2}, {2, 2, 3, 2, 2},
                    {{1, 2, 1}, {1, 0, 2}, {0, 1, 1}, {1, 1, 2}, {2, 1, 1}, 1, true}));

  // One value stands for every axis, none for the default; the inline overload
  // pads both sides alike.
  array x = random_array({1, 8, 7, 3}, float32, 11, -1, 1);
  array w = random_array({2, 3, 3, 3}, float32, 12, -1, 1);
  Setting p{{2, 2}, {1, 1}, {1, 1}, {1, 1}, {2, 2}};
  Expected e =
      reference_conv(to_doubles(x), {1, 8, 7, 3}, to_doubles(w), {2, 3, 3, 3}, p);
  std::vector<int> stride{2}, padding{1}, none{}, idil{2};
  EXPECT_TRUE(
      matches(conv_general(x, w, stride, padding, none, idil, 1, false), e, float32));
  EXPECT_TRUE(
      matches(conv_general(x, w, stride, padding, padding, none, idil), e, float32));
  Expected plain =
      reference_conv(to_doubles(x), {1, 8, 7, 3}, to_doubles(w), {2, 3, 3, 3},
                     {ones_v(2), zeros_v(2), zeros_v(2), ones_v(2), ones_v(2)});
  // (conv_general(x, w) alone is ambiguous between the two overloads, as in
  // MLX.)
  EXPECT_TRUE(matches(conv_general(x, w, none, none, none, none, none), plain, float32));
}

TEST(Conv, GroupsFlippedMatchesMlx) {
  // MLX's test_conv_1d_groups_flipped: two groups of one channel each.
  std::vector<double> xv, wv;
  for (int t = 0; t < 5; ++t) xv.insert(xv.end(), {double(t), double(t)});
  for (int o = 0; o < 2; ++o) {
    for (int k = 0; k < 4; ++k) wv.push_back(k);
  }
  array x(xv, {1, 5, 2}, float32), w(wv, {2, 4, 1}, float32);
  std::vector<int> none{};
  array y = conv_general(x, w, none, none, none, none, none, 2, true);
  EXPECT_EQ(y.shape(), Shape({1, 2, 2}));
  EXPECT_TRUE(all_close(to_doubles(y), {4, 4, 10, 10}));
}

TEST(Conv, TransposedMatchLoops) {
  struct Case {
    Shape xs, ws;
    std::vector<int> stride, padding, dilation, output_padding;
    int groups;
  };
  for (const Case& c :
       std::vector<Case>{{{1, 5, 3}, {4, 3, 3}, {1}, {0}, {1}, {0}, 1},
                         // Padding past the kernel's reach: the dilated input
                         // cropped (PyTorch's sizes; MLX crops the input
                         // before dilating it).
                         {{1, 5, 2}, {3, 3, 2}, {2}, {3}, {1}, {0}, 1},
                         {{2, 6, 4}, {3, 3, 4}, {2}, {1}, {1}, {1}, 1},
                         {{2, 7, 4}, {6, 4, 2}, {3}, {2}, {2}, {2}, 2},
                         {{2, 5, 6}, {6, 3, 1}, {2}, {0}, {1}, {0}, 6},
                         {{1, 4, 5, 3}, {2, 3, 2, 3}, {2, 1}, {1, 0}, {1, 2}, {1, 0}, 1},
                         {{2, 5, 4, 4}, {4, 3, 3, 2}, {2, 2}, {1, 1}, {1, 1}, {0, 1}, 2},
                         {{1, 3, 4, 3, 2},
                          {3, 2, 3, 2, 2},
                          {2, 1, 2},
                          {0, 1, 1},
                          {1, 1, 2},
                          {1, 0, 1},
                          1}}) {
    array x = random_array(c.xs, float32, 13, -1, 1);
    array w = random_array(c.ws, float32, 14, -1, 1);
    const int nd = static_cast<int>(c.stride.size());
    array y = [&] {
      if (nd == 1) {
        return conv_transpose1d(x, w, c.stride[0], c.padding[0], c.dilation[0],
                                c.output_padding[0], c.groups);
      }
      if (nd == 2) {
        auto v = [](const std::vector<int>& t) {
          return std::pair<int, int>{t[0], t[1]};
        };
        return conv_transpose2d(x, w, v(c.stride), v(c.padding), v(c.dilation),
                                v(c.output_padding), c.groups);
      }
      auto v = [](const std::vector<int>& t) {
        return std::tuple<int, int, int>{t[0], t[1], t[2]};
      };
      return conv_transpose3d(x, w, v(c.stride), v(c.padding), v(c.dilation),
                              v(c.output_padding), c.groups);
    }();
    Expected e =
        reference_conv_transpose(to_doubles(x), c.xs, to_doubles(w), c.ws, c.stride,
                                 c.padding, c.dilation, c.output_padding, c.groups);
    EXPECT_TRUE(matches(y, e, float32)) << str(c.xs) << " " << str(c.ws);
  }
  // Defaults.
  array x = random_array({1, 4, 2}, float32, 15, -1, 1),
        w = random_array({3, 2, 2}, float32, 16);
  EXPECT_EQ(conv_transpose1d(x, w).shape(), Shape({1, 5, 3}));
  EXPECT_EQ(conv_transpose2d(random_array({1, 3, 3, 2}, float32, 1),
                             random_array({3, 2, 2, 2}, float32, 2))
                .shape(),
            Shape({1, 4, 4, 3}));
}

TEST(Conv, HalfTypesAndPromotion) {
  for (Dtype t : {float16, bfloat16, float64}) {
    EXPECT_TRUE(check_general({2, 9, 8, 6}, {8, 3, 3, 6},
                              {{2, 1}, {1, 1}, {0, 1}, {1, 1}, {1, 1}}, t))
        << t;
    EXPECT_TRUE(check_general({2, 11, 8}, {8, 3, 2}, {{1}, {1}, {1}, {2}, {1}, 4}, t))
        << t;
    EXPECT_TRUE(
        check_general({1, 6, 4}, {2, 3, 4}, {{1}, {2}, {2}, {1}, {2}, 1, true}, t))
        << t;
  }
  // The weight promotes with the input: float16 and float32 give float32; an
  // integer weight takes the input's floating dtype.
  array x = random_array({1, 5, 2}, float16, 17, -1, 1);
  EXPECT_EQ(conv1d(x, random_array({3, 2, 2}, float32, 18)).dtype(), float32);
  array wi = random_array({3, 2, 2}, int32, 19, -2, 2);
  array y = conv1d(x, wi);
  EXPECT_EQ(y.dtype(), float16);
  EXPECT_TRUE(matches(y,
                      reference_conv(to_doubles(x), {1, 5, 2}, to_doubles(wi), {3, 2, 2},
                                     {{1}, {0}, {0}, {1}, {1}}),
                      float16));
}

TEST(Conv, StridedInputs) {
  // Input and weight as transposed and sliced views.
  array xt = random_array({3, 8, 2}, float32, 20, -1, 1);  // [C, W, N]
  array x = transpose(xt, {2, 1, 0});                      // [N, W, C]
  array wt = random_array({3, 3, 4}, float32, 21, -1, 1);  // [C, K, O]
  array w = transpose(wt, {2, 1, 0});                      // [O, K, C]
  Setting p{{2}, {1}, {1}, {1}, {1}};
  EXPECT_TRUE(matches(
      conv1d(x, w, 2, 1),
      reference_conv(to_doubles(x), {2, 8, 3}, to_doubles(w), {4, 3, 3}, p), float32));
  array big = random_array({2, 10, 12, 6}, float32, 22, -1, 1);
  array xs = slice(big, {0, 1, 0, 0}, {2, 10, 12, 6}, {1, 2, 3, 2});  // [2, 5, 4, 3]
  array w2 = random_array({4, 2, 2, 3}, float32, 23, -1, 1);
  Setting p2{{1, 1}, {1, 0}, {1, 0}, {1, 1}, {1, 1}};
  EXPECT_TRUE(matches(
      conv2d(xs, w2, {1, 1}, {1, 0}),
      reference_conv(to_doubles(xs), {2, 5, 4, 3}, to_doubles(w2), {4, 2, 2, 3}, p2),
      float32));
  EXPECT_TRUE(
      matches(conv_transpose2d(xs, w2, {2, 2}),
              reference_conv_transpose(to_doubles(xs), {2, 5, 4, 3}, to_doubles(w2),
                                       {4, 2, 2, 3}, {2, 2}, {0, 0}, {1, 1}, {0, 0}, 1),
              float32));
}

TEST(Conv, EmptyBatchAndChannels) {
  array y = conv2d(zeros({0, 5, 5, 3}), ones({4, 3, 3, 3}), {1, 1}, {1, 1});
  EXPECT_EQ(y.shape(), Shape({0, 5, 5, 4}));
  y.eval();
  EXPECT_EQ(conv_transpose1d(zeros({0, 4, 2}), ones({3, 2, 2}), 2).shape(),
            Shape({0, 8, 3}));
  array none = conv1d(ones({1, 4, 4}), zeros({0, 1, 4}));
  EXPECT_EQ(none.shape(), Shape({1, 4, 0}));
  none.eval();
}

TEST(Conv, ErrorsNameTheOpAndValues) {
  array x1 = zeros({1, 8, 4}), w1 = zeros({2, 3, 4});
  array x2 = zeros({1, 8, 8, 4}), w2 = zeros({2, 3, 3, 4});
  std::vector<int> none{};
  auto msg = [](auto&& f) { return error_of(f); };
  // Rank.
  EXPECT_TRUE(throws_invalid([&] { conv2d(x1, w2); }, "[conv2d]"));
  EXPECT_NE(msg([&] { conv2d(x2, w1); }).find("(2, 3, 4)"), std::string::npos);
  EXPECT_TRUE(throws_invalid(
      [&] {
        conv_general(zeros({4, 3}), zeros({2, 3}), none, none, none, none, none);
      },
      "[conv_general]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        conv_general(zeros({1, 2, 2, 2, 2, 3}), zeros({1, 1, 1, 1, 1, 3}), none, none,
                     none, none, none);
      },
      "spatial"));
  EXPECT_TRUE(throws_invalid([&] { conv_transpose1d(x2, w2); }, "[conv_transpose1d]"));
  EXPECT_TRUE(throws_invalid([&] { conv_transpose2d(x2, w1); }, "[conv_transpose2d]"));
  // Dtype.
  EXPECT_TRUE(throws_invalid([&] { conv1d(zeros({1, 8, 4}, int32), w1); }, "int32"));
  // Channels and groups.
  EXPECT_TRUE(throws_invalid([&] { conv1d(x1, zeros({2, 3, 3})); }, "(2, 3, 3)"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        conv1d(x1, zeros({2, 3, 2}), 1, 0, 1, 3);
      },
      "groups (3)"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        conv1d(x1, zeros({3, 3, 2}), 1, 0, 1, 2);
      },
      "output channels (3"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        conv1d(x1, zeros({4, 3, 1}), 1, 0, 1, 2);
      },
      "expects 2"));
  EXPECT_TRUE(
      throws_invalid([&] { conv1d(x1, w1, 1, 0, 1, 0); }, "groups must be positive"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        conv3d(zeros({1, 4, 4, 4, 4}), zeros({4, 1, 1, 1, 2}), {1, 1, 1}, {0, 0, 0},
               {1, 1, 1}, 2);
      },
      "[conv3d]"));
  // Settings.
  EXPECT_TRUE(
      throws_invalid([&] { conv1d(x1, w1, 0); }, "strides must be positive, got (0,)"));
  EXPECT_TRUE(throws_invalid([&] { conv2d(x2, w2, {1, -1}); }, "(1, -1)"));
  EXPECT_TRUE(throws_invalid([&] { conv1d(x1, w1, 1, 0, 0); },
                             "kernel dilation must be positive"));
  std::vector<int> zero{0};
  EXPECT_TRUE(
      throws_invalid([&] { conv_general(x1, w1, none, none, none, zero, 1, false); },
                     "input dilation must be positive"));
  std::vector<int> two{1, 1};
  EXPECT_TRUE(
      throws_invalid([&] { conv_general(x1, w1, two, none, none, none, 1, false); },
                     "stride (1, 1) has 2 entries"));
  EXPECT_TRUE(
      throws_invalid([&] { conv_transpose1d(x1, w1, 0); }, "strides must be positive"));
  // Output size.
  EXPECT_TRUE(throws_invalid(
      [&] {
        conv1d(x1, zeros({2, 9, 4}));
      },
      "smaller than the 9"));
  EXPECT_TRUE(throws_invalid([&] { conv1d(x1, w1, 1, 0, 4); }, "smaller than the 9"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        conv1d(zeros({1, 0, 4}), zeros({2, 1, 4}));
      },
      "[conv1d]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        conv_transpose1d(zeros({1, 4, 4}), w1, 1, 5);
      },
      "[conv_transpose1d]"));
}

// One case for comparing the Conv kernels with the composite.
struct KernelCase {
  Shape xs, ws;
  Setting p;
};

std::vector<KernelCase> kernel_cases() {
  return {
      {{2, 9, 8, 6}, {8, 3, 3, 6}, {{1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}},
      {{2, 12, 11, 8},
       {16, 3, 3, 8},
       {{2, 2}, {1, 0}, {0, 1}, {1, 1}, {1, 1}}},  // asymmetric
      {{1, 10, 10, 8}, {8, 3, 3, 2}, {{1, 2}, {2, 2}, {2, 2}, {2, 1}, {1, 1}, 4}},
      {{2, 9, 9, 16},
       {16, 3, 3, 1},
       {{1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 16}},  // depthwise
      {{3, 6, 7, 32},
       {24, 1, 1, 32},
       {{1, 1}, {0, 0}, {0, 0}, {1, 1}, {1, 1}}},             // pointwise
      {{2, 40, 16}, {24, 3, 16}, {{1}, {1}, {1}, {1}, {1}}},  // Whisper-like
      {{2, 40, 24}, {24, 3, 24}, {{2}, {1}, {1}, {1}, {1}}},
      {{1, 17, 6}, {4, 5, 6}, {{1}, {2}, {2}, {2}, {1}, 1, true}},  // flipped
      {{2, 7, 8}, {6, 3, 8}, {{1}, {2}, {2}, {1}, {2}, 1, true}},   // transposed
      {{1, 5, 6, 7, 4},
       {6, 3, 3, 3, 4},
       {{1, 2, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}}},
      {{1, 8, 4}, {4, 3, 4}, {{1}, {-1}, {2}, {1}, {1}}},  // crops
  };
}

// conv_general (one Conv node) and the composite on `dev`, each against the
// loops, for every case and floating dtype the GPU kernels take.
void check_kernel_against_composite(const Device& dev, double slack) {
  for (Dtype t : {float32, float16, bfloat16}) {
    uint32_t seed = 30;
    for (const KernelCase& c : kernel_cases()) {
      array x = random_array(c.xs, t, seed++, -1, 1);
      array w = random_array(c.ws, t, seed++, -1, 1);
      const Setting& p = c.p;
      Expected e = reference_conv(to_doubles(x), c.xs, to_doubles(w), c.ws, p);
      array k =
          conv_general(x, w, p.stride, p.lo, p.hi, p.kdil, p.idil, p.groups, p.flip, dev);
      array m = detail::conv_general_composite(x, w, p.stride, p.lo, p.hi, p.kdil, p.idil,
                                               p.groups, p.flip, dev);
      EXPECT_TRUE(matches(k, e, t, slack))
          << "kernel " << t << " " << str(c.xs) << " " << str(c.ws);
      EXPECT_TRUE(matches(m, e, t, slack))
          << "composite " << t << " " << str(c.xs) << " " << str(c.ws);
    }
  }
}

TEST(Conv, KernelMatchesCompositeOnTheDefaultDevice) {
  check_kernel_against_composite(default_device(), 1);
}

// The GPU's Conv kernel (cuDNN where the build has it) against the composite
// on the GPU and the loops; skipped without a GPU.
TEST(Conv, GpuKernelMatchesComposite) {
  const Device gpu(Device::gpu, 0);
  if (!is_available(gpu)) GTEST_SKIP() << "no GPU: " << detail::gpu_unavailable_reason();
  // cuDNN may pick Winograd or FFT algorithms: a little more rounding.
  check_kernel_against_composite(gpu, 4);
  // Larger, ResNet-like: kernel against composite only.
  for (Dtype t : {float32, bfloat16}) {
    array x = random_array({4, 28, 28, 64}, t, 50, -1, 1);
    array w = random_array({64, 3, 3, 64}, t, 51, -1, 1);
    array k = conv2d(x, w, {1, 1}, {1, 1}, {1, 1}, 1, gpu);
    std::vector<int> one{1};
    array m =
        detail::conv_general_composite(x, w, one, one, one, one, one, 1, false, gpu);
    std::vector<double> a = to_doubles(k), b = to_doubles(m);
    double worst = 0;
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
    // Sums of 576 products of values in [-1, 1]: about 8 in magnitude.
    EXPECT_LT(worst, t == float32 ? 1e-3 : 0.25) << t;
  }
}

// Threads converging on the cuDNN handles: each thread convolves on its own
// stream (Conv.GpuSharedPoolStream runs this with one CUDA stream in the
// pool, so that all share it and its handle), and every result equals the one
// computed alone.
TEST(Conv, GpuConvOnManyThreads) {
  const Device gpu(Device::gpu, 0);
  if (!is_available(gpu)) GTEST_SKIP() << "no GPU: " << detail::gpu_unavailable_reason();
  array x = random_array({2, 16, 16, 32}, bfloat16, 60, -1, 1);
  array w = random_array({32, 3, 3, 32}, bfloat16, 61, -1, 1);
  std::vector<double> want = to_doubles(conv2d(x, w, {1, 1}, {1, 1}, {1, 1}, 1, gpu));
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      Stream s = new_stream(gpu);
      for (int r = 0; r < 20; ++r) {
        // Alternate shapes so that the algorithm cache is written meanwhile.
        array y = conv2d(x, w, {1 + (r + i) % 2, 1}, {1, 1}, {1, 1}, 1, s);
        if ((r + i) % 2 == 0 && to_doubles(y) != want) ++wrong;
        if ((r + i) % 2 == 1) y.eval();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace rill::test
