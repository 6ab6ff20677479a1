// Ops against plain reference loops: creation, conversion, elementwise,
// reductions, arg reductions, matmul, errors and printing.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <thread>

#include "backend/cpu/packed_gemm.h"
#include "core/node.h"
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
using test::throws_invalid;
using test::to_doubles;
using test::to_vector;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// The packed copy of a matrix that the CPU product keeps with its buffer.
const detail::cpu::PackedB* kept_copy(const array& a) {
  return dynamic_cast<const detail::cpu::PackedB*>(a.node()->buffer->cache.load());
}

// ---------------------------------------------------------------- creation

TEST(Creation, ZerosOnesFullOfEveryDtype) {
  for (Dtype t : kAllTypes) {
    SCOPED_TRACE(dtype_name(t));
    array z = zeros({2, 3}, t);
    EXPECT_EQ(z.dtype(), t);
    EXPECT_EQ(z.shape(), (Shape{2, 3}));
    EXPECT_TRUE(all_close(to_doubles(z), std::vector<double>(6, 0.0)));
    EXPECT_TRUE(all_close(to_doubles(ones({4}, t)), std::vector<double>(4, 1.0)));
    EXPECT_TRUE(all_close(to_doubles(full({3, 1}, 1, t)), std::vector<double>(3, 1.0)));
  }
  EXPECT_EQ(zeros({2}).dtype(), float32);
  EXPECT_EQ(ones({2}).dtype(), float32);
  EXPECT_TRUE(all_close(to_doubles(full({2, 2}, 2.5f)), {2.5, 2.5, 2.5, 2.5}));
  EXPECT_EQ(full({2}, 7).dtype(), int32);
  EXPECT_EQ(full({2}, 7.5, float16).dtype(), float16);
  EXPECT_TRUE(all_close(to_doubles(full({2}, 7.5, float16)), {7.5, 7.5}));
  // Values broadcast along the shape.
  array row = array({1, 2, 3});
  EXPECT_TRUE(all_close(to_doubles(full({2, 3}, row)), {1, 2, 3, 1, 2, 3}));
  EXPECT_TRUE(all_close(to_doubles(full({2, 3}, row, float64)), {1, 2, 3, 1, 2, 3}));
  EXPECT_EQ(full({2, 3}, row, float64).dtype(), float64);
  EXPECT_EQ(zeros({0, 3}).size(), 0u);
  EXPECT_TRUE(all_close(to_doubles(zeros({})), {0.0}));
}

TEST(Creation, LikeKeepsShapeAndDtype) {
  array a = random_array({3, 2}, int64, 1);
  for (array z : {zeros_like(a), ones_like(a), full_like(a, 9)}) {
    EXPECT_EQ(z.shape(), a.shape());
    EXPECT_EQ(z.dtype(), int64);
  }
  EXPECT_EQ(to_vector<int64_t>(zeros_like(a)), std::vector<int64_t>(6, 0));
  EXPECT_EQ(to_vector<int64_t>(ones_like(a)), std::vector<int64_t>(6, 1));
  EXPECT_EQ(to_vector<int64_t>(full_like(a, 9)), std::vector<int64_t>(6, 9));
  array h = ones({2}, bfloat16);
  EXPECT_TRUE(all_close(to_doubles(full_like(h, 0.5)), {0.5, 0.5}));
}

TEST(Creation, ArangeMatchesPythonRange) {
  EXPECT_EQ(to_vector<int32_t>(arange(5)), (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(to_vector<int32_t>(arange(2, 11, 3)), (std::vector<int32_t>{2, 5, 8}));
  EXPECT_EQ(to_vector<int32_t>(arange(5, -1, -2)), (std::vector<int32_t>{5, 3, 1}));
  EXPECT_EQ(arange(3, 3).size(), 0u);
  EXPECT_EQ(arange(3, 0).size(), 0u);
  array f = arange(0.0, 1.0, 0.25);
  EXPECT_EQ(f.dtype(), float32);
  EXPECT_TRUE(all_close(to_doubles(f), {0, 0.25, 0.5, 0.75}));
  EXPECT_TRUE(all_close(to_doubles(arange(1.5, 4.0)), {1.5, 2.5, 3.5}));
  EXPECT_TRUE(all_close(to_doubles(arange(3.0)), {0, 1, 2}));
  array d = arange(-1.0, 1.0, 0.5, float64);
  EXPECT_EQ(d.dtype(), float64);
  EXPECT_TRUE(all_close(to_doubles(d), {-1, -0.5, 0, 0.5}));
  EXPECT_EQ(arange(4.0, int64).dtype(), int64);
  EXPECT_EQ(to_vector<int64_t>(arange(4.0, int64)), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_TRUE(all_close(to_doubles(arange(0.0, 3.0, uint8)), {0, 1, 2}));
  EXPECT_TRUE(all_close(to_doubles(arange(0.0, 2.0, 0.5, bfloat16)), {0, 0.5, 1, 1.5}));
}

TEST(Creation, EyeDiagonals) {
  auto ref = [](int n, int m, int k) {
    std::vector<double> v;
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < m; ++j) v.push_back(j - i == k ? 1 : 0);
    }
    return v;
  };
  EXPECT_TRUE(all_close(to_doubles(eye(3)), ref(3, 3, 0)));
  EXPECT_TRUE(all_close(to_doubles(eye(2, 4)), ref(2, 4, 0)));
  EXPECT_TRUE(all_close(to_doubles(eye(3, 4, 1)), ref(3, 4, 1)));
  EXPECT_TRUE(all_close(to_doubles(eye(4, 3, -2)), ref(4, 3, -2)));
  EXPECT_TRUE(all_close(to_doubles(eye(3, 3, 5)), ref(3, 3, 5)));
  EXPECT_EQ(eye(3, int32).dtype(), int32);
  EXPECT_TRUE(all_close(to_doubles(eye(3, bool_)), ref(3, 3, 0)));
  EXPECT_EQ(eye(0).size(), 0u);
}

TEST(Creation, FromHostData) {
  std::vector<double> v{1.5, -2, 3};
  array a(v, {3}, float32);
  EXPECT_TRUE(all_close(to_doubles(a), {1.5, -2, 3}));
  array b(v.begin(), {1, 3}, int32);  // truncates toward zero
  EXPECT_EQ(to_vector<int32_t>(b), (std::vector<int32_t>{1, -2, 3}));
  array c(std::vector<bool>{true, false, true}, {3});
  EXPECT_EQ(c.dtype(), bool_);
  EXPECT_EQ(to_vector<bool>(c), (std::vector<bool>{true, false, true}));
  array s(2.5f);
  EXPECT_EQ(s.ndim(), 0);
  EXPECT_EQ(s.item<float>(), 2.5f);
  array h({1, 2, 3, 4}, {2, 2}, float16);
  EXPECT_EQ(h.shape(), (Shape{2, 2}));
  EXPECT_TRUE(all_close(to_doubles(h), {1, 2, 3, 4}));
  EXPECT_EQ(array({1.0, 2.0}).dtype(), float32);  // double literals: float32, as in MLX
  EXPECT_EQ(array({1.0, 2.0}, float64).dtype(), float64);
  EXPECT_EQ(array({1.0f, 2.0f}).dtype(), float32);
  EXPECT_EQ(array({1, 2}).dtype(), int32);
}

// ---------------------------------------------------------------- astype

// The documented conversion: floats truncate toward zero and saturate (NaN
// gives 0), integers wrap, anything to bool is "not zero".
double ref_convert(double v, bool from_float, Dtype to) {
  if (to == bool_) return v != 0 ? 1 : 0;
  if (is_floating_point(to)) {
    if (to == float16 && std::abs(v) > 65504) return v > 0 ? kInf : -kInf;
    return v;  // the test values are exact in every float type
  }
  double lo = 0, hi = 0;
  test::with_type(to, [&](auto tag) {
    using T = decltype(tag);
    lo = static_cast<double>(std::numeric_limits<T>::min());
    hi = static_cast<double>(std::numeric_limits<T>::max());
  });
  if (from_float) {
    if (std::isnan(v)) return 0;
    return std::clamp(std::trunc(v), lo, hi);
  }
  double out = 0;
  test::with_type(to, [&](auto tag) {
    using T = decltype(tag);
    out = static_cast<double>(static_cast<T>(static_cast<int64_t>(v)));
  });
  return out;
}

TEST(Astype, EveryPairOfDtypes) {
  const std::vector<double> values{0,   1,   -1,   2.5,    -2.5, 100,
                                   255, 300, -300, 131072, kNaN};
  for (Dtype from : kAllTypes) {
    std::vector<double> src;
    for (double v : values) {
      // Integers hold the values in their range.
      const double hi = from == bool_ ? 1 : from == uint8 ? 255 : from == int8 ? 127
                        : from == int16 ? 32767 : from == uint16 ? 65535 : 1e18;
      bool ok = is_floating_point(from) ||
                (!std::isnan(v) && v == std::trunc(v) && (!is_unsigned(from) || v >= 0) &&
                 v <= hi && (from != int8 || v >= -128));
      if (ok) src.push_back(v);
    }
    array a(src, {static_cast<int32_t>(src.size())}, from);
    std::vector<double> exact = to_doubles(a);  // as stored (float16 overflows to inf)
    for (Dtype to : kAllTypes) {
      SCOPED_TRACE(dtype_name(from) + " -> " + dtype_name(to));
      array b = astype(a, to);
      EXPECT_EQ(b.dtype(), to);
      std::vector<double> want;
      for (double v : exact) want.push_back(ref_convert(v, is_floating_point(from), to));
      EXPECT_TRUE(all_close(to_doubles(b), want));
    }
  }
}

TEST(Astype, CopyOwnsItsBuffer) {
  array a = arange(6);
  array c = copy(a);
  EXPECT_EQ(to_vector<int32_t>(c), to_vector<int32_t>(a));
  EXPECT_NE(c.data<int32_t>(), a.data<int32_t>());
  EXPECT_EQ(astype(a, int32).node(), a.node());  // same dtype: no new node
}

// ---------------------------------------------------------------- unary

struct UnaryCase {
  const char* name;
  std::function<array(const array&)> op;
  std::function<double(double)> ref;
  double lo, hi;
};

std::vector<UnaryCase> float_unary_cases() {
  return {
      {"negative", [](const array& a) { return negative(a); },
       [](double x) { return -x; }, -4, 4},
      {"operator-", [](const array& a) { return -a; }, [](double x) { return -x; }, -4,
       4},
      {"abs", [](const array& a) { return abs(a); }, [](double x) { return std::abs(x); },
       -4, 4},
      {"sign", [](const array& a) { return sign(a); },
       [](double x) { return double((x > 0) - (x < 0)); }, -4, 4},
      {"exp", [](const array& a) { return exp(a); }, [](double x) { return std::exp(x); },
       -4, 4},
      {"log", [](const array& a) { return log(a); }, [](double x) { return std::log(x); },
       0.1, 8},
      {"log1p", [](const array& a) { return log1p(a); },
       [](double x) { return std::log1p(x); }, -0.9, 8},
      {"expm1", [](const array& a) { return expm1(a); },
       [](double x) { return std::expm1(x); }, -4, 4},
      {"sqrt", [](const array& a) { return sqrt(a); },
       [](double x) { return std::sqrt(x); }, 0, 9},
      {"rsqrt", [](const array& a) { return rsqrt(a); },
       [](double x) { return 1 / std::sqrt(x); }, 0.1, 9},
      {"square", [](const array& a) { return square(a); }, [](double x) { return x * x; },
       -4, 4},
      {"sin", [](const array& a) { return sin(a); }, [](double x) { return std::sin(x); },
       -4, 4},
      {"cos", [](const array& a) { return cos(a); }, [](double x) { return std::cos(x); },
       -4, 4},
      {"tanh", [](const array& a) { return tanh(a); },
       [](double x) { return std::tanh(x); }, -4, 4},
      {"sigmoid", [](const array& a) { return sigmoid(a); },
       [](double x) { return 1 / (1 + std::exp(-x)); }, -6, 6},
      {"erf", [](const array& a) { return erf(a); }, [](double x) { return std::erf(x); },
       -3, 3},
      {"floor", [](const array& a) { return floor(a); },
       [](double x) { return std::floor(x); }, -4, 4},
      {"ceil", [](const array& a) { return ceil(a); },
       [](double x) { return std::ceil(x); }, -4, 4},
      {"round", [](const array& a) { return round(a); },
       [](double x) { return std::nearbyint(x); }, -4, 4},
      {"round(2)", [](const array& a) { return round(a, 2); },
       [](double x) { return std::nearbyint(x * 100) / 100; }, -4, 4},
      {"logical_not", [](const array& a) { return logical_not(a); },
       [](double x) { return x == 0 ? 1.0 : 0.0; }, -1, 1},
      {"arccos", [](const array& a) { return arccos(a); },
       [](double x) { return std::acos(x); }, -0.9, 0.9},
      {"arccosh", [](const array& a) { return arccosh(a); },
       [](double x) { return std::acosh(x); }, 1.1, 8},
      {"arcsin", [](const array& a) { return arcsin(a); },
       [](double x) { return std::asin(x); }, -0.9, 0.9},
      {"arcsinh", [](const array& a) { return arcsinh(a); },
       [](double x) { return std::asinh(x); }, -4, 4},
      {"arctan", [](const array& a) { return arctan(a); },
       [](double x) { return std::atan(x); }, -4, 4},
      {"arctanh", [](const array& a) { return arctanh(a); },
       [](double x) { return std::atanh(x); }, -0.9, 0.9},
      {"cosh", [](const array& a) { return cosh(a); }, [](double x) { return std::cosh(x); },
       -3, 3},
      {"sinh", [](const array& a) { return sinh(a); }, [](double x) { return std::sinh(x); },
       -3, 3},
      {"tan", [](const array& a) { return tan(a); }, [](double x) { return std::tan(x); },
       -1.2, 1.2},
      {"log2", [](const array& a) { return log2(a); }, [](double x) { return std::log2(x); },
       0.1, 8},
      {"log10", [](const array& a) { return log10(a); },
       [](double x) { return std::log10(x); }, 0.1, 8},
      {"degrees", [](const array& a) { return degrees(a); },
       [](double x) { return x * 180 / 3.141592653589793; }, -4, 4},
      {"radians", [](const array& a) { return radians(a); },
       [](double x) { return x * 3.141592653589793 / 180; }, -400, 400},
      {"reciprocal", [](const array& a) { return reciprocal(a); },
       [](double x) { return 1 / x; }, 0.25, 4},
      {"trunc", [](const array& a) { return trunc(a); },
       [](double x) { return std::trunc(x); }, -4, 4},
  };
}

TEST(Unary, FloatOpsMatchReference) {
  for (Dtype t : kFloatTypes) {
    for (const UnaryCase& c : float_unary_cases()) {
      SCOPED_TRACE(std::string(c.name) + " " + dtype_name(t));
      std::vector<double> in = test::random_values(63, t, 11, c.lo, c.hi);
      in[3] = c.lo <= 0 && c.hi >= 0 ? 0 : in[3];
      array x(in, {7, 9}, t);
      in = to_doubles(x);  // as rounded to t
      array y = c.op(x);
      EXPECT_EQ(y.shape(), x.shape());
      EXPECT_EQ(y.dtype(), std::string(c.name) == "logical_not" ? bool_ : t);
      std::vector<double> want;
      for (double v : in) want.push_back(c.ref(v));
      // Results are rounded to t once; rounding-type ops land exactly (or one
      // ulp away after the scaling of round(2)).
      double eps = eps_of(t);
      EXPECT_TRUE(all_close(to_doubles(y), want, 4 * eps, 4 * eps));
    }
  }
}

// float32 exp, log, tanh, sigmoid, sin and cos run the CPU's vectorised
// polynomials over contiguous arrays: within a few ulps of the exact value
// across each function's whole range, denormals, overflow and the special
// values included (sin and cos past 8192 through libm).
TEST(Unary, Float32TranscendentalsAcrossTheirRange) {
  struct Case {
    const char* name;
    std::function<array(const array&)> op;
    std::function<double(double)> ref;
    double lo, hi;
    bool absolute;  // error relative to max(|ref|, 1): sin and cos near their zeros
  };
  const std::vector<Case> cases = {
      {"exp", [](const array& a) { return exp(a); }, [](double x) { return std::exp(x); }, -110, 95, false},
      {"log", [](const array& a) { return log(a); }, [](double x) { return std::log(x); }, -1, 1e6, false},
      {"tanh", [](const array& a) { return tanh(a); }, [](double x) { return std::tanh(x); }, -12, 12, false},
      {"sigmoid", [](const array& a) { return sigmoid(a); },
       [](double x) { return 1 / (1 + std::exp(-x)); }, -120, 120, false},
      {"sin", [](const array& a) { return sin(a); }, [](double x) { return std::sin(x); }, -2e4, 2e4, true},
      {"cos", [](const array& a) { return cos(a); }, [](double x) { return std::cos(x); }, -2e4, 2e4, true},
  };
  const float inf = std::numeric_limits<float>::infinity();
  const float specials[] = {0.0f, -0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(),
                            1e-45f, 1e-40f, 1.17549435e-38f, 3.4e38f, -3.4e38f, 88.72f,
                            88.73f, -87.33f, -103.9f, 0.625f, -0.624f, 8192.0f, 8193.5f};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<float> in;
    const int n = 200000;
    for (int i = 0; i < n; ++i) in.push_back(float(c.lo + (c.hi - c.lo) * (i + 0.5) / n));
    if (std::string(c.name) == "log") {  // every binade, denormals too
      for (int i = 0; i < 30000; ++i) in.push_back(std::ldexp(1.0f + (i % 977) / 977.0f, -149 + i % 277));
    }
    for (float v : specials) in.push_back(v);
    std::vector<float> got = to_vector<float>(c.op(array(in.data(), {int(in.size())}, float32)));
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      const double want = float(c.ref(double(in[i])));  // the exact value rounded to float
      const double g = got[i];
      if (std::isnan(want) || std::isinf(want) || want == 0) {
        const bool same = std::isnan(want) ? std::isnan(g) : (g == want || std::fabs(g - want) < 1e-44);
        EXPECT_TRUE(same) << c.name << "(" << in[i] << ") = " << g << ", want " << want;
        continue;
      }
      if (std::fabs(want) < 1.2e-38) {
        // Denormal results: within two of the smallest steps on the CPU; a
        // GPU's kernels may flush them to zero.
        EXPECT_LE(std::fabs(g - want), default_device() == Device::gpu ? 1.2e-38 : 2.9e-45)
            << c.name << "(" << in[i] << ") = " << g;
        continue;
      }
      const double scale = c.absolute ? std::max(std::fabs(want), 1.0) : std::fabs(want);
      const double err = std::fabs(g - want) / scale;
      if (err > worst) worst = err, at = i;
    }
    EXPECT_LE(worst, 4 * 1.19e-7) << c.name << " at " << in[at] << ": " << got[at];
  }
}

TEST(Unary, IntegerAndBoolInputs) {
  array i = array({-3, -1, 0, 2, 5});
  EXPECT_EQ(to_vector<int32_t>(negative(i)), (std::vector<int32_t>{3, 1, 0, -2, -5}));
  EXPECT_EQ(to_vector<int32_t>(abs(i)), (std::vector<int32_t>{3, 1, 0, 2, 5}));
  EXPECT_EQ(to_vector<int32_t>(sign(i)), (std::vector<int32_t>{-1, -1, 0, 1, 1}));
  EXPECT_EQ(to_vector<int32_t>(square(i)), (std::vector<int32_t>{9, 1, 0, 4, 25}));
  EXPECT_EQ(to_vector<int32_t>(floor(i)), to_vector<int32_t>(i));
  EXPECT_EQ(to_vector<int32_t>(ceil(i)), to_vector<int32_t>(i));
  EXPECT_EQ(to_vector<int32_t>(round(i)), to_vector<int32_t>(i));
  EXPECT_EQ(to_vector<bool>(logical_not(i)),
            (std::vector<bool>{false, false, true, false, false}));
  EXPECT_EQ(to_vector<bool>(!i), to_vector<bool>(logical_not(i)));
  // Transcendental ops compute integers in float32.
  array e = exp(i);
  EXPECT_EQ(e.dtype(), float32);
  std::vector<double> want;
  for (double v : {-3, -1, 0, 2, 5}) want.push_back(std::exp(v));
  EXPECT_TRUE(all_close(to_doubles(e), want, 1e-6));
  EXPECT_EQ(sqrt(array({4, 9}, uint8)).dtype(), float32);
  EXPECT_TRUE(all_close(to_doubles(sqrt(array({4, 9}, uint8))), {2, 3}));
  EXPECT_EQ(to_vector<uint32_t>(sign(array({0, 7}, uint32))),
            (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(to_vector<int64_t>(abs(array({-5, 5}, int64))), (std::vector<int64_t>{5, 5}));
  array b(std::vector<bool>{true, false}, {2});
  EXPECT_EQ(to_vector<bool>(logical_not(b)), (std::vector<bool>{false, true}));
  EXPECT_EQ(to_vector<bool>(abs(b)), (std::vector<bool>{true, false}));
  EXPECT_EQ(cos(b).dtype(), float32);
  EXPECT_TRUE(all_close(to_doubles(cos(b)), {std::cos(1.0), 1.0}, 1e-6));
}

TEST(Unary, SpecialValues) {
  array x = array({0.0f, -0.0f, 1.0f, -1.0f, std::numeric_limits<float>::infinity(),
                   std::numeric_limits<float>::quiet_NaN()});
  EXPECT_TRUE(all_close(to_doubles(log(x)), {-kInf, -kInf, 0, kNaN, kInf, kNaN}));
  EXPECT_TRUE(all_close(to_doubles(sqrt(x)), {0, 0, 1, kNaN, kInf, kNaN}));
  EXPECT_TRUE(all_close(
      to_doubles(sigmoid(x)),
      {0.5, 0.5, 1 / (1 + std::exp(-1.0)), 1 / (1 + std::exp(1.0)), 1, kNaN}, 1e-6));
  // Round half to even, as NumPy.
  EXPECT_TRUE(all_close(to_doubles(round(array({0.5f, 1.5f, 2.5f, -0.5f, -2.5f}))),
                        {0, 2, 2, -0, -2}));
  EXPECT_TRUE(all_close(to_doubles(round(array({1234.5678}), -2)), {1200}, 1e-12));
}

// ---------------------------------------------------------------- binary

// Reference broadcasting: out element at `idx` reads a at the aligned index
// with size-1 dims pinned to 0.
std::vector<double> ref_binary(const array& a, const array& b, const Shape& out,
                               const std::function<double(double, double)>& f) {
  std::vector<double> va = to_doubles(a), vb = to_doubles(b);
  auto flat = [](const Shape& s, const std::vector<int>& idx) {
    int64_t f = 0;
    size_t lead = idx.size() - s.size();
    for (size_t d = 0; d < s.size(); ++d) f = f * s[d] + (s[d] == 1 ? 0 : idx[lead + d]);
    return f;
  };
  std::vector<double> r;
  for_each_index(out, [&](const std::vector<int>& idx) {
    r.push_back(f(va[flat(a.shape(), idx)], vb[flat(b.shape(), idx)]));
  });
  return r;
}

double py_mod(double a, double b) {
  double r = std::fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

struct BinaryCase {
  const char* name;
  std::function<array(const array&, const array&)> op;
  std::function<double(double, double)> ref;
  bool predicate;
};

std::vector<BinaryCase> binary_cases() {
  auto nan_max = [](double a, double b) {
    return std::isnan(a) || std::isnan(b) ? kNaN : std::max(a, b);
  };
  auto nan_min = [](double a, double b) {
    return std::isnan(a) || std::isnan(b) ? kNaN : std::min(a, b);
  };
  return {
      {"add", [](auto& a, auto& b) { return add(a, b); }, std::plus<double>(), false},
      {"operator+", [](auto& a, auto& b) { return a + b; }, std::plus<double>(), false},
      {"subtract", [](auto& a, auto& b) { return subtract(a, b); }, std::minus<double>(),
       false},
      {"operator-", [](auto& a, auto& b) { return a - b; }, std::minus<double>(), false},
      {"multiply", [](auto& a, auto& b) { return multiply(a, b); },
       std::multiplies<double>(), false},
      {"operator*", [](auto& a, auto& b) { return a * b; }, std::multiplies<double>(),
       false},
      {"maximum", [](auto& a, auto& b) { return maximum(a, b); }, nan_max, false},
      {"minimum", [](auto& a, auto& b) { return minimum(a, b); }, nan_min, false},
      {"remainder", [](auto& a, auto& b) { return remainder(a, b); }, py_mod, false},
      {"operator%", [](auto& a, auto& b) { return a % b; }, py_mod, false},
      {"equal", [](auto& a, auto& b) { return equal(a, b); },
       [](double a, double b) { return double(a == b); }, true},
      {"operator==", [](auto& a, auto& b) { return a == b; },
       [](double a, double b) { return double(a == b); }, true},
      {"not_equal", [](auto& a, auto& b) { return not_equal(a, b); },
       [](double a, double b) { return double(a != b); }, true},
      {"operator!=", [](auto& a, auto& b) { return a != b; },
       [](double a, double b) { return double(a != b); }, true},
      {"less", [](auto& a, auto& b) { return less(a, b); },
       [](double a, double b) { return double(a < b); }, true},
      {"operator<", [](auto& a, auto& b) { return a < b; },
       [](double a, double b) { return double(a < b); }, true},
      {"less_equal", [](auto& a, auto& b) { return less_equal(a, b); },
       [](double a, double b) { return double(a <= b); }, true},
      {"operator<=", [](auto& a, auto& b) { return a <= b; },
       [](double a, double b) { return double(a <= b); }, true},
      {"greater", [](auto& a, auto& b) { return greater(a, b); },
       [](double a, double b) { return double(a > b); }, true},
      {"operator>", [](auto& a, auto& b) { return a > b; },
       [](double a, double b) { return double(a > b); }, true},
      {"greater_equal", [](auto& a, auto& b) { return greater_equal(a, b); },
       [](double a, double b) { return double(a >= b); }, true},
      {"operator>=", [](auto& a, auto& b) { return a >= b; },
       [](double a, double b) { return double(a >= b); }, true},
      {"logical_and", [](auto& a, auto& b) { return logical_and(a, b); },
       [](double a, double b) { return double(a != 0 && b != 0); }, true},
      {"operator&&", [](auto& a, auto& b) { return a && b; },
       [](double a, double b) { return double(a != 0 && b != 0); }, true},
      {"logical_or", [](auto& a, auto& b) { return logical_or(a, b); },
       [](double a, double b) { return double(a != 0 || b != 0); }, true},
      {"operator||", [](auto& a, auto& b) { return a || b; },
       [](double a, double b) { return double(a != 0 || b != 0); }, true},
      {"logical_xor", [](auto& a, auto& b) { return logical_xor(a, b); },
       [](double a, double b) { return double((a != 0) != (b != 0)); }, true},
      {"floor_divide", [](auto& a, auto& b) { return floor_divide(a, b); },
       [](double a, double b) { return std::floor(a / b); }, false},
  };
}

TEST(Binary, EveryOpAndDtypeWithBroadcasting) {
  for (Dtype t : kNumericTypes) {
    // Divisors stay away from 0; unsigned subtraction needs a >= b.
    array a = random_array({3, 1, 4}, t, 21, 5, 9);
    array b = random_array({5, 1}, t, 22, 1, 4);
    for (const BinaryCase& c : binary_cases()) {
      SCOPED_TRACE(std::string(c.name) + " " + dtype_name(t));
      array y = c.op(a, b);
      EXPECT_EQ(y.shape(), (Shape{3, 5, 4}));
      EXPECT_EQ(y.dtype(), c.predicate ? bool_ : t);
      std::vector<double> want = ref_binary(a, b, y.shape(), c.ref);
      double eps = eps_of(t);
      EXPECT_TRUE(all_close(to_doubles(y), want, 2 * eps));
    }
  }
}

// arctan2 and logaddexp: floating results, integers computed in float32.
TEST(Binary, FloatingRuleOps) {
  for (Dtype t : kFloatTypes) {
    SCOPED_TRACE(dtype_name(t));
    array a = random_array({3, 1, 4}, t, 41, -4, 4);
    array b = random_array({5, 1}, t, 42, -4, 4);
    array y = arctan2(a, b);
    EXPECT_EQ(y.dtype(), t);
    EXPECT_TRUE(all_close(to_doubles(y),
                          ref_binary(a, b, y.shape(), [](double p, double q) {
                            return std::atan2(p, q);
                          }),
                          4 * eps_of(t), 4 * eps_of(t)));
    array z = logaddexp(a, b);
    EXPECT_EQ(z.dtype(), t);
    EXPECT_TRUE(all_close(to_doubles(z),
                          ref_binary(a, b, z.shape(), [](double p, double q) {
                            return std::log(std::exp(p) + std::exp(q));
                          }),
                          4 * eps_of(t), 4 * eps_of(t)));
  }
  array i = arctan2(array({1, -1, 0}), array({0, 2, -3}));
  EXPECT_EQ(i.dtype(), float32);
  EXPECT_TRUE(all_close(to_doubles(i), {std::atan2(1.0, 0.0), std::atan2(-1.0, 2.0),
                                        std::atan2(0.0, -3.0)},
                        1e-6));
  // Without overflow, and the infinities and NaN of the definition.
  array big = logaddexp(astype(array({1000.0, -kInf, kInf, kNaN, -kInf}), float32),
                        astype(array({1000.0, -kInf, 1.0, 1.0, 2.0}), float32));
  EXPECT_TRUE(all_close(to_doubles(big), {1000 + std::log(2.0), -kInf, kInf, kNaN, 2.0},
                        1e-6));
}

TEST(Binary, FloorDivideFloorsEveryKind) {
  EXPECT_EQ(to_vector<int32_t>(floor_divide(array({7, -7, 7, -7, 5}), array({2, 2, -2, -2, 0}))),
            (std::vector<int32_t>{3, -4, -4, 3, 0}));
  EXPECT_TRUE(all_close(to_doubles(floor_divide(array({7.0f, -7.0f, 7.5f}), array({2.0f, 2.0f, -2.0f}))),
                        {3, -4, -4}));
  EXPECT_EQ(floor_divide(array({7}), array({2.0f})).dtype(), float32);
}

TEST(Binary, BitwiseOpsAndShifts) {
  array a = array({12, -7, 0, 255}), b = array({10, 3, 5, 1});
  EXPECT_EQ(to_vector<int32_t>(a & b), (std::vector<int32_t>{12 & 10, -7 & 3, 0, 255 & 1}));
  EXPECT_EQ(to_vector<int32_t>(a | b), (std::vector<int32_t>{12 | 10, -7 | 3, 5, 255}));
  EXPECT_EQ(to_vector<int32_t>(a ^ b), (std::vector<int32_t>{12 ^ 10, -7 ^ 3, 5, 254}));
  EXPECT_EQ(to_vector<int32_t>(~a), (std::vector<int32_t>{~12, ~-7, ~0, ~255}));
  EXPECT_EQ(to_vector<int32_t>(a << b), (std::vector<int32_t>{12 << 10, -56, 0, 510}));
  EXPECT_EQ(to_vector<int32_t>(a >> b), (std::vector<int32_t>{0, -1, 0, 127}));
  // Past the width or negative: 0, and -1 for a negative value shifted right.
  EXPECT_EQ(to_vector<int32_t>(left_shift(array({1, 1, -1}), array({32, -1, 40}))),
            (std::vector<int32_t>{0, 0, 0}));
  EXPECT_EQ(to_vector<int32_t>(right_shift(array({1, -1, 8}), array({32, 40, -2}))),
            (std::vector<int32_t>{0, -1, 0}));
  EXPECT_EQ(to_vector<uint8_t>(left_shift(array({200}, uint8), array({1}, uint8))),
            (std::vector<uint8_t>{144}));
  // Scalars take the array's dtype; bools stay bool, and shift as uint8.
  EXPECT_EQ((array({6}, uint8) & 3).dtype(), uint8);
  array t(std::vector<bool>{true, false, true}, {3}), f(std::vector<bool>{true, true, false}, {3});
  EXPECT_EQ(to_vector<bool>(t & f), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(to_vector<bool>(t ^ f), (std::vector<bool>{false, true, true}));
  EXPECT_EQ(to_vector<bool>(~t), (std::vector<bool>{false, true, false}));
  EXPECT_EQ((t << f).dtype(), uint8);
  EXPECT_EQ(to_vector<uint8_t>(t << f), (std::vector<uint8_t>{2, 0, 1}));
  // Floating inputs are an error naming the op and the dtypes.
  EXPECT_TRUE(throws_invalid([] { bitwise_and(array({1.0f}), array({1})); },
                             "[bitwise_and] takes integer or bool arrays, got float32 and int32."));
  EXPECT_TRUE(throws_invalid([] { left_shift(array({1}), array({1.5f})); }, "[left_shift]"));
  EXPECT_TRUE(throws_invalid([] { bitwise_invert(array({1.0f})); },
                             "[bitwise_invert] takes an integer or bool array, got float32."));
}

TEST(Binary, NanToNumClipDivmod) {
  array x = astype(array({1.5, kNaN, kInf, -kInf}), float32);
  EXPECT_TRUE(all_close(to_doubles(nan_to_num(x)),
                        {1.5, 0, std::numeric_limits<float>::max(),
                         -double(std::numeric_limits<float>::max())}));
  EXPECT_TRUE(all_close(to_doubles(nan_to_num(x, 7.0f, 9.0f, -9.0f)), {1.5, 7, 9, -9}));
  EXPECT_TRUE(all_close(to_doubles(nan_to_num(astype(x, float16))), {1.5, 0, 65504, -65504}));
  EXPECT_EQ(to_vector<int32_t>(nan_to_num(array({3, -4}))), (std::vector<int32_t>{3, -4}));
  array v = array({-3.0f, 0.5f, 4.0f, kNaN});
  EXPECT_TRUE(all_close(to_doubles(clip(v, array(-1.0f), array(2.0f))), {-1, 0.5, 2, kNaN}));
  EXPECT_TRUE(all_close(to_doubles(clip(v, std::nullopt, array(0.0f))), {-3, 0, 0, kNaN}));
  EXPECT_TRUE(all_close(to_doubles(clip(v, array({0.0f, 1.0f, 0.0f, 0.0f}), std::nullopt)),
                        {0, 1, 4, kNaN}));
  EXPECT_TRUE(throws_invalid([&] { clip(v, std::nullopt, std::nullopt); },
                             "[clip] needs a_min or a_max"));
  std::vector<array> qr = divmod(array({7, -7}), array({2, 2}));
  ASSERT_EQ(qr.size(), 2u);
  EXPECT_EQ(to_vector<int32_t>(qr[0]), (std::vector<int32_t>{3, -4}));
  EXPECT_EQ(to_vector<int32_t>(qr[1]), (std::vector<int32_t>{1, 1}));
}

// clip runs in one pass: equal, bit for bit, to maximum then minimum in every
// real dtype, with bounds that broadcast (rows, columns, one value), NaN in
// the values and in the bounds, one bound or both, a transposed input, the
// dtype promoted from the bounds', and an empty array.
TEST(Binary, OnePassClipEqualsMaximumThenMinimum) {
  std::vector<double> vals(6 * 7);
  for (size_t i = 0; i < vals.size(); ++i) vals[i] = (double(i % 13) - 6.0) * 0.75;
  vals[3] = kNaN;
  vals[10] = kInf;
  vals[11] = -kInf;
  const array base(vals, {6, 7}, float64);
  const array lo_row = astype(array({-2.0, -1.0, kNaN, -3.0, 0.0, -0.5, -1.5}), float64);
  const array hi_col = reshape(astype(array({1.0, 2.0, 0.5, kNaN, 3.0, 1.5}), float64), {6, 1});
  for (Dtype t : {float32, float64, bfloat16, float16, int32, uint8, int64, int16}) {
    SCOPED_TRACE(dtype_name(t));
    const bool floating = is_floating_point(t);
    const array x = astype(floating ? base : abs(nan_to_num(base, 0.0f, 9.0f, -9.0f)) * 3.0, t);
    const array lo = astype(floating ? lo_row : abs(nan_to_num(lo_row)) * 2.0, t);
    const array hi = astype(floating ? hi_col : abs(nan_to_num(hi_col, 4.0f)) * 4.0 + 1.0, t);
    auto same = [&](const array& got, const array& want) {
      EXPECT_EQ(got.dtype(), want.dtype());
      EXPECT_EQ(got.shape(), want.shape());
      EXPECT_TRUE(array_equal(got, want, true).item<bool>());
    };
    same(clip(x, lo, hi), minimum(maximum(x, lo), hi));
    same(clip(x, lo, std::nullopt), maximum(x, lo));
    same(clip(x, std::nullopt, hi), minimum(x, hi));
    same(clip(x, astype(array(1), t), astype(array(2), t)),
         minimum(maximum(x, astype(array(1), t)), astype(array(2), t)));
    same(clip(transpose(x), transpose(hi), std::nullopt), maximum(transpose(x), transpose(hi)));
  }
  // The bounds' dtype wins where it is wider; the shape grows to theirs.
  const array x16 = astype(base, float16);
  const array got = clip(x16, std::nullopt, hi_col);
  EXPECT_EQ(got.dtype(), float64);
  EXPECT_TRUE(array_equal(got, minimum(x16, hi_col), true).item<bool>());
  EXPECT_EQ(clip(array({1.0f}), zeros({3, 1}, float32), std::nullopt).shape(), (Shape{3, 1}));
  EXPECT_EQ(clip(zeros({0, 4}, float32), array(0.0f), array(1.0f)).shape(), (Shape{0, 4}));
  EXPECT_TRUE(throws_invalid([&] { clip(zeros({2, 3}), zeros({4}), std::nullopt); }, "[clip]"));
}

TEST(Unary, NanInfFinitePredicates) {
  for (Dtype t : kFloatTypes) {
    SCOPED_TRACE(dtype_name(t));
    array x = astype(array({0.0, -1.5, kInf, -kInf, kNaN}), t);
    EXPECT_EQ(to_vector<bool>(isnan(x)), (std::vector<bool>{false, false, false, false, true}));
    EXPECT_EQ(to_vector<bool>(isinf(x)), (std::vector<bool>{false, false, true, true, false}));
    EXPECT_EQ(to_vector<bool>(isfinite(x)), (std::vector<bool>{true, true, false, false, false}));
    EXPECT_EQ(to_vector<bool>(isposinf(x)), (std::vector<bool>{false, false, true, false, false}));
    EXPECT_EQ(to_vector<bool>(isneginf(x)), (std::vector<bool>{false, false, false, true, false}));
  }
  array i = array({3, -2});
  EXPECT_EQ(to_vector<bool>(isnan(i)), (std::vector<bool>{false, false}));
  EXPECT_EQ(to_vector<bool>(isinf(i)), (std::vector<bool>{false, false}));
  EXPECT_EQ(to_vector<bool>(isfinite(i)), (std::vector<bool>{true, true}));
  EXPECT_EQ(isnan(i).dtype(), bool_);
}

TEST(Binary, NegativeOperandsAndRemainderSigns) {
  for (Dtype t : {int32, int64, float32, float64, float16, bfloat16}) {
    SCOPED_TRACE(dtype_name(t));
    array a = random_array({6, 5}, t, 31, -9, 9);
    array b = random_array({5}, t, 32, 1, 4);
    array nb = negative(b);
    for (const array& d : {b, nb}) {
      EXPECT_TRUE(all_close(to_doubles(remainder(a, d)), ref_binary(a, d, {6, 5}, py_mod),
                            2 * eps_of(t), 2 * eps_of(t) * 9));
      EXPECT_TRUE(all_close(to_doubles(subtract(a, d)),
                            ref_binary(a, d, {6, 5}, std::minus<double>()),
                            2 * eps_of(t)));
    }
  }
  // Integer remainder by zero gives 0 instead of trapping.
  EXPECT_EQ(to_vector<int32_t>(remainder(array({5, -5}), array({0, 0}))),
            (std::vector<int32_t>{0, 0}));
}

TEST(Binary, DivideIsTrueDivision) {
  array a = array({7, -7, 1});
  array b = array({2, 2, 3});
  array q = divide(a, b);
  EXPECT_EQ(q.dtype(), float32);
  EXPECT_TRUE(all_close(to_doubles(q), {3.5, -3.5, 1.0 / 3}, 1e-7));
  EXPECT_TRUE(all_close(to_doubles(a / b), to_doubles(q)));
  for (Dtype t : kFloatTypes) {
    SCOPED_TRACE(dtype_name(t));
    array x = random_array({4, 3}, t, 41);
    array y = random_array({3}, t, 42, 0.5, 3);
    array z = divide(x, y);
    EXPECT_EQ(z.dtype(), t);
    EXPECT_TRUE(all_close(to_doubles(z), ref_binary(x, y, {4, 3}, std::divides<double>()),
                          2 * eps_of(t)));
  }
  EXPECT_TRUE(all_close(to_doubles(divide(array({1.0f, -1.0f, 0.0f}), array(0.0f))),
                        {kInf, -kInf, kNaN}));
}

TEST(Binary, Power) {
  for (Dtype t : kFloatTypes) {
    SCOPED_TRACE(dtype_name(t));
    array x = random_array({3, 4}, t, 51, 0.5, 3);
    array y = random_array({4}, t, 52, -2, 2);
    EXPECT_TRUE(all_close(
        to_doubles(power(x, y)),
        ref_binary(x, y, {3, 4}, [](double a, double b) { return std::pow(a, b); }),
        4 * eps_of(t)));
  }
  EXPECT_EQ(to_vector<int32_t>(
                power(array({2, -3, 5, 1, -1, 2}), array({10, 3, 0, -2, -3, -1}))),
            (std::vector<int32_t>{1024, -27, 1, 1, -1, 0}));
  EXPECT_EQ(to_vector<int64_t>(power(array({3}, int64), array({39}, int64))),
            (std::vector<int64_t>{4052555153018976267LL}));
  EXPECT_EQ(to_vector<uint8_t>(power(array({2, 3}, uint8), array({7, 5}, uint8))),
            (std::vector<uint8_t>{128, 243}));
}

TEST(Binary, MaximumMinimumPropagateNaN) {
  array a = array({1.0f, NAN, 3.0f, NAN});
  array b = array({2.0f, 0.0f, NAN, NAN});
  EXPECT_TRUE(all_close(to_doubles(maximum(a, b)), {2, kNaN, kNaN, kNaN}));
  EXPECT_TRUE(all_close(to_doubles(minimum(a, b)), {1, kNaN, kNaN, kNaN}));
  EXPECT_EQ(to_vector<bool>(equal(a, a)), (std::vector<bool>{true, false, true, false}));
  EXPECT_EQ(to_vector<bool>(not_equal(a, a)),
            (std::vector<bool>{false, true, false, true}));
}

TEST(Binary, BoolArithmetic) {
  array t(std::vector<bool>{true, true, false, false}, {4});
  array f(std::vector<bool>{true, false, true, false}, {4});
  EXPECT_EQ(add(t, f).dtype(), bool_);
  EXPECT_EQ(to_vector<bool>(add(t, f)), (std::vector<bool>{true, true, true, false}));
  EXPECT_EQ(to_vector<bool>(multiply(t, f)),
            (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(to_vector<bool>(maximum(t, f)), (std::vector<bool>{true, true, true, false}));
  EXPECT_EQ(to_vector<bool>(minimum(t, f)),
            (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(to_vector<bool>(equal(t, f)), (std::vector<bool>{true, false, false, true}));
  EXPECT_EQ(to_vector<bool>(less(t, f)), (std::vector<bool>{false, false, true, false}));
  EXPECT_EQ(to_vector<bool>(logical_and(t, f)),
            (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(to_vector<bool>(logical_or(t, f)),
            (std::vector<bool>{true, true, true, false}));
  // Logical ops take any dtype and treat non-zero as true.
  EXPECT_EQ(to_vector<bool>(logical_and(array({0.0f, 0.5f, 2.0f}), array({3, 0, 1}))),
            (std::vector<bool>{false, false, true}));
}

TEST(Binary, ScalarOperandsKeepTheArrayDtype) {
  array i = array({1, 2, 3});
  array h = array({1, 2, 3}, float16);
  array u = array({250, 3}, uint8);
  array b(std::vector<bool>{true, false}, {2});
  EXPECT_EQ((i + 1).dtype(), int32);
  EXPECT_EQ(to_vector<int32_t>(i + 1), (std::vector<int32_t>{2, 3, 4}));
  EXPECT_EQ(to_vector<int32_t>(10 - i), (std::vector<int32_t>{9, 8, 7}));
  EXPECT_EQ(to_vector<int32_t>(i * 3), (std::vector<int32_t>{3, 6, 9}));
  EXPECT_EQ(to_vector<int32_t>(7 % i), (std::vector<int32_t>{0, 1, 1}));
  EXPECT_EQ((i + 1.5).dtype(), float32);
  EXPECT_TRUE(all_close(to_doubles(i + 1.5), {2.5, 3.5, 4.5}));
  EXPECT_EQ((h * 2.0).dtype(), float16);
  EXPECT_EQ((h * 2).dtype(), float16);
  EXPECT_TRUE(all_close(to_doubles(h * 2.0), {2, 4, 6}));
  EXPECT_TRUE(all_close(to_doubles(1.0 / h), {1, 0.5, 1.0 / 3}, 1e-3));
  EXPECT_EQ((u + 1).dtype(), uint8);
  EXPECT_EQ(to_vector<uint8_t>(u + 10), (std::vector<uint8_t>{4, 13}));  // wraps
  EXPECT_EQ((b + 1).dtype(), int32);
  EXPECT_EQ(to_vector<int32_t>(b + 1), (std::vector<int32_t>{2, 1}));
  EXPECT_EQ((b * 1.5).dtype(), float32);
  EXPECT_EQ(to_vector<bool>(i > 1), (std::vector<bool>{false, true, true}));
  EXPECT_EQ(to_vector<bool>(2 >= i), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(to_vector<bool>(h == 2), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(to_vector<bool>(i != 2), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(to_vector<bool>(i < 2.5), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(to_vector<bool>(i <= 1), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(to_vector<bool>(b && true), (std::vector<bool>{true, false}));
  EXPECT_EQ(to_vector<bool>(false || b), (std::vector<bool>{true, false}));
  EXPECT_TRUE(all_close(to_doubles(i / 2), {0.5, 1, 1.5}));
}

TEST(Binary, PromotionTable) {
  struct Case {
    Dtype a, b, want;
  };
  const std::vector<Case> cases = {
      {bool_, bool_, bool_},        {bool_, uint8, uint8},
      {bool_, int32, int32},        {bool_, float16, float16},
      {uint8, uint8, uint8},        {uint8, uint32, uint32},
      {uint8, int32, int32},        {uint32, int32, int64},
      {uint32, int64, int64},       {int32, int64, int64},
      {int64, float16, float16},    {uint32, bfloat16, bfloat16},
      {float16, bfloat16, float32}, {float16, float32, float32},
      {bfloat16, float64, float64}, {int64, float32, float32},
      {float32, float64, float64},  {int32, float64, float64},
  };
  for (const Case& c : cases) {
    for (bool swap : {false, true}) {
      Dtype x = swap ? c.b : c.a, y = swap ? c.a : c.b;
      SCOPED_TRACE(dtype_name(x) + " + " + dtype_name(y));
      EXPECT_EQ(promote_types(x, y), c.want);
      array s = add(ones({2}, x), ones({2}, y));
      EXPECT_EQ(s.dtype(), c.want);
      double two = c.want == bool_ ? 1 : 2;
      EXPECT_TRUE(all_close(to_doubles(s), {two, two}));
    }
  }
  EXPECT_EQ(to_vector<int64_t>(add(array({4000000000u}, uint32), array({-1}))),
            (std::vector<int64_t>{3999999999LL}));
}

TEST(Broadcast, ShapesOfEveryKind) {
  struct Case {
    Shape a, b, out;
  };
  const std::vector<Case> cases = {
      {{}, {}, {}},
      {{}, {3}, {3}},
      {{2, 3}, {}, {2, 3}},
      {{2, 3}, {3}, {2, 3}},
      {{2, 1}, {1, 3}, {2, 3}},
      {{4, 1, 3}, {2, 1}, {4, 2, 3}},
      {{1}, {5, 4}, {5, 4}},
      {{3, 1, 1}, {1, 4, 1}, {3, 4, 1}},
      {{0, 3}, {1, 3}, {0, 3}},
      {{2, 0}, {1}, {2, 0}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(test::str(c.a) + " with " + test::str(c.b));
    EXPECT_EQ(broadcast_shapes(c.a, c.b), c.out);
    array a = random_array(c.a, float32, 61);
    array b = random_array(c.b, float32, 62);
    array y = a * b;
    EXPECT_EQ(y.shape(), c.out);
    EXPECT_TRUE(all_close(to_doubles(y),
                          ref_binary(a, b, c.out, std::multiplies<double>()), 1e-6));
  }
  EXPECT_TRUE(throws_invalid(
      [] {
        broadcast_shapes({2, 3}, {4});
      },
      "[broadcast_shapes]"));
  EXPECT_TRUE(throws_invalid(
      [] {
        broadcast_shapes({2, 3}, {3, 3});
      },
      "[broadcast_shapes]"));
}

TEST(Where, BroadcastsAndPromotes) {
  array cond(std::vector<bool>{true, false, true}, {3, 1});
  array x = arange(4);     // int32 [4]
  array y = array(-1.5f);  // float32 scalar
  array w = where(cond, x, y);
  EXPECT_EQ(w.shape(), (Shape{3, 4}));
  EXPECT_EQ(w.dtype(), float32);
  EXPECT_TRUE(all_close(to_doubles(w), {0, 1, 2, 3, -1.5, -1.5, -1.5, -1.5, 0, 1, 2, 3}));
  // A non-bool condition counts non-zero as true.
  array c2 = array({0.0, 2.0, -1.0});
  EXPECT_TRUE(
      all_close(to_doubles(where(c2, array({1, 2, 3}), array({7, 8, 9}))), {7, 2, 3}));
  for (Dtype t : kAllTypes) {
    SCOPED_TRACE(dtype_name(t));
    array a = random_array({2, 3}, t, 71), b = random_array({2, 3}, t, 72);
    array c = random_array({3}, bool_, 73);
    std::vector<double> va = to_doubles(a), vb = to_doubles(b), vc = to_doubles(c);
    std::vector<double> want;
    for (int i = 0; i < 6; ++i) want.push_back(vc[i % 3] != 0 ? va[i] : vb[i]);
    EXPECT_TRUE(all_close(to_doubles(where(c, a, b)), want));
  }
}

TEST(Compare, IscloseAllcloseArrayEqual) {
  const float inf = std::numeric_limits<float>::infinity();
  array a = array({1.0f, 2.0f, NAN, 1e-9f, inf});
  array b = array({1.0f + 1e-6f, 2.1f, NAN, 0.0f, inf});
  EXPECT_EQ(to_vector<bool>(isclose(a, b)),
            (std::vector<bool>{true, false, false, true, true}));
  EXPECT_EQ(to_vector<bool>(isclose(a, b, 0.1)),
            (std::vector<bool>{true, true, false, true, true}));
  EXPECT_EQ(to_vector<bool>(isclose(a, b, 1e-5, 1e-8, true)),
            (std::vector<bool>{true, false, true, true, true}));
  EXPECT_FALSE(allclose(a, b).item<bool>());
  EXPECT_TRUE(allclose(a, b, 0.1, 1e-8, true).item<bool>());
  EXPECT_TRUE(allclose(array({1, 2}), array({1.0, 2.0})).item<bool>());
  EXPECT_TRUE(array_equal(array({1, 2}), array({1.0f, 2.0f})).item<bool>());
  EXPECT_FALSE(array_equal(array({1, 2}), array({1, 3})).item<bool>());
  EXPECT_FALSE(array_equal(array({1, 2}), array({1, 2, 3})).item<bool>());
  EXPECT_FALSE(array_equal(array({1.0f, NAN}), array({1.0f, NAN})).item<bool>());
  EXPECT_TRUE(array_equal(array({1.0f, NAN}), array({1.0f, NAN}), true).item<bool>());
}

// ---------------------------------------------------------------- reductions

// Reduces the doubles of `a` over `axes` (non-negative) in the reference way:
// every input element goes to the output slot named by its kept indices.
std::vector<double> ref_reduce(const array& a, std::vector<int> axes,
                               const std::function<double(double, double)>& f,
                               double init) {
  std::vector<double> v = to_doubles(a);
  const Shape& s = a.shape();
  size_t out_n = 1;
  for (int d = 0; d < a.ndim(); ++d) {
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) out_n *= s[d];
  }
  std::vector<double> out(out_n, init);
  size_t i = 0;
  for_each_index(s, [&](const std::vector<int>& idx) {
    size_t o = 0;
    for (int d = 0; d < a.ndim(); ++d) {
      if (std::find(axes.begin(), axes.end(), d) == axes.end()) o = o * s[d] + idx[d];
    }
    out[o] = f(out[o], v[i++]);
  });
  return out;
}

struct ReduceCase {
  const char* name;
  std::function<array(const array&, const std::vector<int>&, bool)> op;
  std::function<double(double, double)> f;
  double init;
};

double ref_max(double acc, double x) {
  if (std::isnan(acc)) return acc;
  return std::isnan(x) || x > acc ? x : acc;
}
double ref_min(double acc, double x) {
  if (std::isnan(acc)) return acc;
  return std::isnan(x) || x < acc ? x : acc;
}

std::vector<ReduceCase> reduce_cases() {
  return {
      {"sum", [](auto& a, auto& ax, bool k) { return sum(a, ax, k); },
       std::plus<double>(), 0},
      {"prod", [](auto& a, auto& ax, bool k) { return prod(a, ax, k); },
       std::multiplies<double>(), 1},
      {"max", [](auto& a, auto& ax, bool k) { return max(a, ax, k); }, ref_max, -kInf},
      {"min", [](auto& a, auto& ax, bool k) { return min(a, ax, k); }, ref_min, kInf},
      {"all", [](auto& a, auto& ax, bool k) { return all(a, ax, k); },
       [](double acc, double x) { return double(acc != 0 && x != 0); }, 1},
      {"any", [](auto& a, auto& ax, bool k) { return any(a, ax, k); },
       [](double acc, double x) { return double(acc != 0 || x != 0); }, 0},
  };
}

Dtype reduced_dtype(const std::string& op, Dtype in) {
  if (op == "all" || op == "any") return bool_;
  if (op == "sum" || op == "prod") {
    if (in == bool_) return int32;
    if (in == uint8) return uint32;
  }
  return in;
}

Shape reduced_shape(const Shape& in, const std::vector<int>& axes, bool keepdims) {
  Shape out;
  for (int d = 0; d < static_cast<int>(in.size()); ++d) {
    bool r = std::find(axes.begin(), axes.end(), d) != axes.end();
    if (!r)
      out.push_back(in[d]);
    else if (keepdims)
      out.push_back(1);
  }
  return out;
}

// `v` as it lands in t: beyond the largest finite value, an infinity.
double overflowed(double v, Dtype t) {
  double big = t == float16    ? 65504.0
               : t == bfloat16 ? 3.3895313892515355e38
               : t == float32  ? 3.4028234663852886e38
                               : kInf;
  return is_floating_point(t) && std::abs(v) > big ? std::copysign(kInf, v) : v;
}

// Every subset of the axes of `x` (and negative spellings), with and without
// keepdims, against ref_reduce.
void check_all_reductions(const array& x, const std::string& what) {
  int nd = x.ndim();
  for (const ReduceCase& c : reduce_cases()) {
    for (int mask = 0; mask < (1 << nd); ++mask) {
      std::vector<int> axes, spelled;
      for (int d = 0; d < nd; ++d) {
        if (mask & (1 << d)) {
          axes.push_back(d);
          spelled.push_back(d % 2 ? d - nd : d);  // mix negative spellings in
        }
      }
      std::reverse(spelled.begin(), spelled.end());
      for (bool keepdims : {false, true}) {
        SCOPED_TRACE(what + " " + c.name + " axes mask " + std::to_string(mask) +
                     (keepdims ? " keepdims" : ""));
        array y = c.op(x, spelled, keepdims);
        EXPECT_EQ(y.shape(), reduced_shape(x.shape(), axes, keepdims));
        Dtype t = reduced_dtype(c.name, x.dtype());
        EXPECT_EQ(y.dtype(), t);
        std::vector<double> want = ref_reduce(x, axes, c.f, c.init);
        for (double& w : want) w = overflowed(w, t);
        std::vector<double> mag = ref_reduce(
            x, axes, [](double acc, double v) { return acc + std::abs(v); }, 0);
        double eps = eps_of(t);
        std::vector<double> got = to_doubles(y);
        // Accumulation is at least float32; the result is rounded to t once.
        bool ok = got.size() == want.size();
        for (size_t i = 0; ok && i < got.size(); ++i) {
          double tol = c.name == std::string("prod")
                           ? 4 * eps * std::abs(want[i])
                           : 2 * eps * (std::abs(want[i]) + mag[i]);
          ok = got[i] == want[i] || (std::isnan(want[i]) && std::isnan(got[i])) ||
               std::abs(got[i] - want[i]) <= tol;
          EXPECT_TRUE(ok) << "element " << i << ": got " << got[i] << ", expected "
                          << want[i];
        }
        EXPECT_EQ(got.size(), want.size());
      }
    }
  }
}

TEST(Reduce, EveryOpAxesSubsetAndDtype) {
  for (Dtype t : kAllTypes) {
    // Small magnitudes keep integer products in range; zeros exercise all/any.
    check_all_reductions(random_array({2, 3, 4}, t, 81, -2, 2), dtype_name(t));
  }
  check_all_reductions(random_array({5, 17}, float32, 82), "float32 5x17");
  check_all_reductions(random_array({33}, int32, 83, -3, 3), "int32 33");
  check_all_reductions(random_array({}, float32, 84), "scalar");
  check_all_reductions(random_array({3, 1, 2, 1}, float64, 85), "unit dims");
}

TEST(Reduce, NonContiguousInputs) {
  array base = random_array({6, 4, 10}, float32, 91);
  array base_i = random_array({6, 4, 10}, int32, 92, -2, 2);
  for (const array& b : {base, base_i}) {
    std::string d = dtype_name(b.dtype());
    check_all_reductions(transpose(b, {2, 0, 1}), d + " transposed");
    check_all_reductions(swapaxes(b, 0, 2), d + " swapaxes");
    check_all_reductions(slice(b, {5, 0, 1}, {-7, 4, 10}, {-2, 1, 3}),
                         d + " neg-step slice");
    check_all_reductions(slice(b, {0, 3, 9}, {6, -5, -11}, {1, -1, -1}),
                         d + " reversed slice");
    check_all_reductions(slice(b, {1, 1, 2}, {5, 3, 8}), d + " inner slice");
    check_all_reductions(broadcast_to(slice(b, {0, 0, 0}, {1, 4, 1}), {3, 4, 5}),
                         d + " broadcast");
    check_all_reductions(broadcast_to(slice(b, {0, 0, 0}, {6, 1, 10}), {2, 6, 3, 10}),
                         d + " broadcast middle");
  }
  check_all_reductions(transpose(random_array({3, 4, 5}, float16, 93)),
                       "float16 transposed");
  check_all_reductions(transpose(random_array({3, 4, 5}, bool_, 94)), "bool transposed");
}

TEST(Reduce, LongRunsAndColumns) {
  // Long enough for the lane loops and the column blocks to matter.
  for (Dtype t : {float32, float16, bfloat16, int32, int64, uint8, bool_}) {
    SCOPED_TRACE(dtype_name(t));
    array x = random_array({37, 2100}, t, 101, -3, 3);
    for (int axis : {0, 1}) {
      for (const ReduceCase& c : reduce_cases()) {
        if (c.name == std::string("prod")) continue;
        SCOPED_TRACE(std::string(c.name) + " axis " + std::to_string(axis));
        std::vector<double> want = ref_reduce(x, {axis}, c.f, c.init);
        double eps = eps_of(reduced_dtype(c.name, t));
        EXPECT_TRUE(
            all_close(to_doubles(c.op(x, {axis}, false)), want, 2 * eps, 2 * eps));
      }
    }
  }
}

TEST(Reduce, Float32SumIsAccurate) {
  // A float accumulator would stall at 2^21 here; the reference is exact.
  const int n = 1 << 24;
  array x = full({n}, 0.1f);
  double want = static_cast<double>(0.1f) * n;
  EXPECT_NEAR(sum(x).item<float>(), want, want * 1e-7);
  array cols = full({1 << 20, 4}, 0.1f);
  std::vector<double> got = to_doubles(sum(cols, 0));
  for (double g : got) EXPECT_NEAR(g, static_cast<double>(0.1f) * (1 << 20), 1e-2);
  // Half types accumulate in (at least) float32: 4096 ones in float16 is exact.
  EXPECT_EQ(static_cast<float>(sum(ones({4096}, float16)).item<float16_t>()), 4096.0f);
  EXPECT_EQ(static_cast<float>(sum(ones({3000}, float16)).item<float16_t>()), 3000.0f);
  EXPECT_NEAR(mean(full({100000}, 0.1, bfloat16)).item<bfloat16_t>(), 0.1, 1e-3);
}

TEST(Reduce, EmptyAxesGiveIdentity) {
  array e = zeros({0, 3});
  EXPECT_TRUE(all_close(to_doubles(sum(e, 0)), {0, 0, 0}));
  EXPECT_TRUE(all_close(to_doubles(prod(e, 0)), {1, 1, 1}));
  EXPECT_TRUE(all_close(to_doubles(all(e, 0)), {1, 1, 1}));
  EXPECT_TRUE(all_close(to_doubles(any(e, 0)), {0, 0, 0}));
  EXPECT_EQ(sum(e, 1).shape(), (Shape{0}));
  EXPECT_EQ(sum(e, 1).size(), 0u);
  EXPECT_EQ(sum(e).item<float>(), 0.0f);
  EXPECT_EQ(sum(zeros({0}, int32)).item<int32_t>(), 0);
  EXPECT_EQ(prod(zeros({0}, int64)).item<int64_t>(), 1);
  EXPECT_TRUE(throws_invalid([&] { max(e, 0); }, "[max]"));
  EXPECT_TRUE(throws_invalid([&] { min(e); }, "[min]"));
  EXPECT_TRUE(all_close(to_doubles(max(e, 1)), {}));
  // Reducing over no axes keeps the values (and the dtype rules).
  array x = array({1, 2, 3}, uint8);
  array s = sum(x, std::vector<int>{});
  EXPECT_EQ(s.dtype(), uint32);
  EXPECT_TRUE(all_close(to_doubles(s), {1, 2, 3}));
}

TEST(Reduce, MaxMinPropagateNaN) {
  std::vector<double> v(100);
  for (int i = 0; i < 100; ++i) v[i] = i % 7 - 3.0;
  v[57] = kNaN;
  for (Dtype t : kFloatTypes) {
    SCOPED_TRACE(dtype_name(t));
    array x(v, {100}, t);
    EXPECT_TRUE(std::isnan(to_doubles(max(x))[0]));
    EXPECT_TRUE(std::isnan(to_doubles(min(x))[0]));
    array m = reshape(x, {10, 10});
    // Rows (row loop) and columns (column loop): only row 5 / column 7 see it.
    std::vector<double> rmax = to_doubles(max(m, 1)), cmin = to_doubles(min(m, 0));
    for (int i = 0; i < 10; ++i) {
      EXPECT_EQ(std::isnan(rmax[i]), i == 5) << i;
      EXPECT_EQ(std::isnan(cmin[i]), i == 7) << i;
    }
    EXPECT_FALSE(std::isnan(to_doubles(sum(slice(x, {0}, {50})))[0]));
    EXPECT_TRUE(std::isnan(to_doubles(sum(x))[0]));
  }
  array inf = array({-kInf, -kInf}, float64);
  EXPECT_EQ(max(inf).item<double>(), -kInf);
  EXPECT_EQ(min(array({kInf}, float64)).item<double>(), kInf);
}

TEST(Reduce, MeanAndScalarOverloads) {
  array x = random_array({4, 6}, int32, 111, -5, 5);
  array m = mean(x, 1);
  EXPECT_EQ(m.dtype(), float32);
  std::vector<double> s = ref_reduce(x, {1}, std::plus<double>(), 0);
  for (double& v : s) v /= 6;
  EXPECT_TRUE(all_close(to_doubles(m), s, 1e-6, 1e-6));
  EXPECT_EQ(mean(x, -1, true).shape(), (Shape{4, 1}));
  EXPECT_EQ(mean(x, true).shape(), (Shape{1, 1}));
  double total = 0;
  for (double v : to_doubles(x)) total += v;
  EXPECT_NEAR(mean(x).item<float>(), total / 24, 1e-6);
  EXPECT_EQ(mean(random_array({3}, float16, 1)).dtype(), float16);
  EXPECT_EQ(mean(random_array({3}, float64, 1)).dtype(), float64);
  // The bool-keepdims overloads reduce everything.
  EXPECT_EQ(sum(x, true).shape(), (Shape{1, 1}));
  EXPECT_EQ(sum(x, true).item<int32_t>(), static_cast<int32_t>(total));
  EXPECT_EQ(prod(array({2, 3, 4}), false).item<int32_t>(), 24);
  EXPECT_EQ(max(array({2, 9, 4})).item<int32_t>(), 9);
  EXPECT_EQ(min(array({2, 9, 4}), 0).item<int32_t>(), 2);
  EXPECT_FALSE(all(array({1, 0})).item<bool>());
  EXPECT_TRUE(any(array({1, 0}), true).item<bool>());
}

// ---------------------------------------------------------------- argmax / argmin

std::vector<double> ref_arg(const array& a, int axis, bool is_max) {
  std::vector<double> v = to_doubles(a);
  const Shape& s = a.shape();
  int64_t inner = 1;
  for (int d = axis + 1; d < a.ndim(); ++d) inner *= s[d];
  int64_t n = s[axis],
          outer = static_cast<int64_t>(v.size()) / std::max<int64_t>(1, n * inner);
  std::vector<double> out;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      int64_t best = 0;
      for (int64_t k = 1; k < n; ++k) {
        double x = v[(o * n + k) * inner + i], b = v[(o * n + best) * inner + i];
        if (std::isnan(b)) break;
        if (std::isnan(x) || (is_max ? x > b : x < b)) best = k;
      }
      out.push_back(static_cast<double>(best));
    }
  }
  return out;
}

void check_arg_reductions(const array& x, const std::string& what) {
  for (bool is_max : {true, false}) {
    for (int axis = 0; axis < x.ndim(); ++axis) {
      for (bool keepdims : {false, true}) {
        SCOPED_TRACE(what + (is_max ? " argmax" : " argmin") + " axis " +
                     std::to_string(axis) + (keepdims ? " keepdims" : ""));
        int spelled = axis % 2 ? axis - x.ndim() : axis;
        array y = is_max ? argmax(x, spelled, keepdims) : argmin(x, spelled, keepdims);
        EXPECT_EQ(y.dtype(), uint32);
        EXPECT_EQ(y.shape(), reduced_shape(x.shape(), {axis}, keepdims));
        EXPECT_TRUE(all_close(to_doubles(y), ref_arg(x, axis, is_max)));
      }
    }
  }
}

TEST(ArgReduce, FirstExtremeAlongEachAxis) {
  for (Dtype t : kAllTypes) {
    // A narrow range makes ties common: the first index must win.
    check_arg_reductions(random_array({4, 5, 6}, t, 121, -2, 2), dtype_name(t));
  }
  array f = random_array({7, 1300}, float32, 122);
  check_arg_reductions(f, "wide");
  check_arg_reductions(transpose(f), "wide transposed");
  array b = random_array({5, 4, 6}, int32, 123, -3, 3);
  check_arg_reductions(transpose(b, {1, 2, 0}), "transposed");
  check_arg_reductions(slice(b, {4, 0, 5}, {-6, 4, -7}, {-1, 2, -2}), "neg-step slice");
  check_arg_reductions(broadcast_to(slice(b, {0, 0, 0}, {1, 4, 6}), {3, 4, 6}),
                       "broadcast");
}

TEST(ArgReduce, NaNCountsAsExtremeFirstWins) {
  for (Dtype t : kFloatTypes) {
    SCOPED_TRACE(dtype_name(t));
    array x(std::vector<double>{1, 5, kNaN, 7, kNaN, -9}, {6}, t);
    EXPECT_EQ(argmax(x).item<uint32_t>(), 2u);
    EXPECT_EQ(argmin(x).item<uint32_t>(), 2u);
    array m = reshape(x, {3, 2});  // columns {1, nan, nan}, {5, 7, -9}
    EXPECT_EQ(to_vector<uint32_t>(argmax(m, 0)), (std::vector<uint32_t>{1, 1}));
    EXPECT_EQ(to_vector<uint32_t>(argmin(m, 0)), (std::vector<uint32_t>{1, 2}));
    EXPECT_EQ(to_vector<uint32_t>(argmax(m, 1)), (std::vector<uint32_t>{1, 0, 0}));
    EXPECT_EQ(to_vector<uint32_t>(argmin(m, 1)), (std::vector<uint32_t>{0, 0, 0}));
  }
}

TEST(ArgReduce, FlattenedOverloads) {
  array x = array({3, 9, 1, 9, 0, 1}, {2, 3});
  EXPECT_EQ(argmax(x).item<uint32_t>(), 1u);
  EXPECT_EQ(argmin(x).item<uint32_t>(), 4u);
  EXPECT_EQ(argmax(x, true).shape(), (Shape{1, 1}));
  EXPECT_EQ(argmin(x, true).item<uint32_t>(), 4u);
  // Flattened in logical order: 3, 9, 9, 0, 1, 1.
  EXPECT_EQ(argmax(transpose(x)).item<uint32_t>(), 1u);
  EXPECT_EQ(argmin(transpose(x)).item<uint32_t>(), 3u);
  EXPECT_EQ(argmax(array(5.0f)).item<uint32_t>(), 0u);
}

// ---------------------------------------------------------------- matmul

// NumPy matmul in double: 1-D operands promoted, batch dims broadcast.
// With `magnitudes`, the products are of absolute values (an error scale).
std::vector<double> ref_matmul(const array& a, const array& b, Shape* out_shape,
                               bool magnitudes = false) {
  Shape sa = a.shape(), sb = b.shape();
  if (sa.size() == 1) sa.insert(sa.begin(), 1);
  if (sb.size() == 1) sb.push_back(1);
  int m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  Shape batch = broadcast_shapes(ba, bb);
  std::vector<double> va = to_doubles(a), vb = to_doubles(b);
  if (magnitudes) {
    for (double& v : va) v = std::abs(v);
    for (double& v : vb) v = std::abs(v);
  }
  auto batch_index = [](const Shape& s, const std::vector<int>& idx) {
    int64_t f = 0;
    size_t lead = idx.size() - s.size();
    for (size_t d = 0; d < s.size(); ++d) f = f * s[d] + (s[d] == 1 ? 0 : idx[lead + d]);
    return f;
  };
  std::vector<double> out;
  auto one = [&](const std::vector<int>& idx) {
    int64_t ia = batch_index(ba, idx) * m * k, ib = batch_index(bb, idx) * k * n;
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < n; ++j) {
        double acc = 0;
        for (int p = 0; p < k; ++p) acc += va[ia + i * k + p] * vb[ib + p * n + j];
        out.push_back(acc);
      }
    }
  };
  if (batch.empty()) {
    one({});
  } else {
    for_each_index(batch, one);
  }
  *out_shape = batch;
  if (a.ndim() != 1) out_shape->push_back(m);
  if (b.ndim() != 1) out_shape->push_back(n);
  return out;
}

void check_matmul(const array& a, const array& b, const std::string& what) {
  SCOPED_TRACE(what + " " + test::str(a.shape()) + " @ " + test::str(b.shape()));
  Shape shape;
  std::vector<double> want = ref_matmul(a, b, &shape);
  std::vector<double> mag = ref_matmul(a, b, &shape, true);
  array c = matmul(a, b);
  EXPECT_EQ(c.shape(), shape);
  Dtype t = promote_types(a.dtype(), b.dtype());
  EXPECT_EQ(c.dtype(), t);
  // Accumulation error (float32 for the half types) grows with k at most
  // linearly; the result is then rounded to t once.
  int k = a.shape(-1);
  double step = (t == float64 ? 1.2e-16 : 6e-8) * (k + 1);
  std::vector<double> got = to_doubles(c);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    double tol = 2 * eps_of(t) * std::abs(want[i]) + step * mag[i];
    EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
  }
}

TEST(Matmul, TwoDimensional) {
  for (Dtype t : kFloatTypes) {
    for (auto [m, k, n] : std::vector<std::array<int, 3>>{
             {3, 4, 5}, {1, 7, 1}, {5, 1, 6}, {1, 1, 1}, {33, 65, 17}, {2, 300, 3}}) {
      array a = random_array({m, k}, t, 131 + m), b = random_array({k, n}, t, 132 + n);
      check_matmul(a, b, dtype_name(t));
    }
  }
}

TEST(Matmul, BatchedWithBroadcasting) {
  for (Dtype t : {float32, float64, bfloat16}) {
    std::string d = dtype_name(t);
    check_matmul(random_array({2, 3, 4}, t, 1), random_array({2, 4, 5}, t, 2), d);
    check_matmul(random_array({2, 1, 3, 4}, t, 3), random_array({5, 4, 6}, t, 4), d);
    check_matmul(random_array({2, 3, 4}, t, 5), random_array({4, 5}, t, 6),
                 d);  // stacked
    check_matmul(random_array({2, 3, 1, 4}, t, 5), random_array({4, 5}, t, 6), d);
    check_matmul(random_array({3, 4}, t, 7), random_array({2, 4, 5}, t, 8), d);
    check_matmul(random_array({1, 3, 4}, t, 9), random_array({3, 1, 4, 2}, t, 10), d);
    check_matmul(random_array({4, 1, 2, 3}, t, 11), random_array({1, 5, 3, 2}, t, 12), d);
  }
}

TEST(Matmul, OneDimensionalOperands) {
  for (Dtype t : {float32, float16}) {
    std::string d = dtype_name(t);
    check_matmul(random_array({4}, t, 1), random_array({4, 5}, t, 2), d);
    check_matmul(random_array({3, 4}, t, 3), random_array({4}, t, 4), d);
    check_matmul(random_array({4}, t, 5), random_array({4}, t, 6), d);
    check_matmul(random_array({4}, t, 7), random_array({2, 4, 5}, t, 8), d);
    check_matmul(random_array({2, 3, 4}, t, 9), random_array({4}, t, 10), d);
  }
  EXPECT_EQ(matmul(ones({4}), ones({4})).ndim(), 0);
  EXPECT_EQ(matmul(ones({4}), ones({4})).item<float>(), 4.0f);
}

TEST(Matmul, StridedAndTransposedViews) {
  for (Dtype t : {float32, float64, float16, bfloat16}) {
    std::string d = dtype_name(t);
    array a = random_array({6, 8}, t, 141), b = random_array({8, 10}, t, 142);
    array at = random_array({8, 6}, t, 143), bt = random_array({10, 8}, t, 144);
    check_matmul(transpose(at), b, d + " a^T");
    check_matmul(a, transpose(bt), d + " b^T");
    check_matmul(transpose(at), transpose(bt), d + " a^T b^T");
    // Row-major with a leading dimension larger than the row.
    check_matmul(slice(a, {0, 1}, {6, 6}), slice(b, {2, 0}, {7, 9}), d + " sub-blocks");
    check_matmul(slice(transpose(at), {1, 0}, {5, 8}), b, d + " sub-block of a^T");
    // Neither layout: copied.
    check_matmul(slice(a, {0, 0}, {6, 8}, {2, 2}), slice(b, {0, 0}, {8, 10}, {2, 1}),
                 d + " stepped");
    check_matmul(slice(a, {5, 7}, {-7, -9}, {-1, -1}),
                 slice(b, {7, 9}, {-9, -11}, {-1, -1}), d + " reversed");
    // Broadcast rows or columns (0 strides).
    check_matmul(broadcast_to(slice(a, {2, 0}, {3, 8}), {4, 8}), b,
                 d + " broadcast rows");
    check_matmul(a, broadcast_to(slice(b, {0, 3}, {8, 4}), {8, 5}),
                 d + " broadcast cols");
    // Batched views: swapped batch axes and a single-row matrix.
    array x = random_array({3, 4, 5}, t, 145), y = random_array({5, 4, 2}, t, 146);
    check_matmul(swapaxes(x, 0, 1), swapaxes(y, 0, 1), d + " swapped batch");
    check_matmul(transpose(x, {0, 2, 1}), random_array({4, 2}, t, 147),
                 d + " batched a^T");
    // b shared by the batch, but a's matrices are not stacked rows.
    check_matmul(swapaxes(x, 0, 1), random_array({5, 2}, t, 151), d + " unstacked batch");
    check_matmul(slice(x, {0, 0, 0}, {3, 4, 5}, {2, 1, 1}), random_array({5, 2}, t, 152),
                 d + " gapped batch");
    check_matmul(slice(x, {0, 2, 0}, {3, 3, 5}), random_array({5, 2}, t, 148),
                 d + " M=1 rows");
    check_matmul(broadcast_to(random_array({1, 4, 5}, t, 149), {3, 4, 5}),
                 random_array({3, 5, 2}, t, 150), d + " broadcast batch a");
  }
}

void check_addmm(const array& c, const array& a, const array& b, float alpha, float beta,
                 const std::string& what);

// float32 products whose right operand is one matrix with k, n >= 16 take the
// packed kernel (where the CPU has it): rows in blocks of 12, columns in
// panels of 32, k in slices of 256, so these shapes leave remainders of each.
// The first use packs into a temporary and later ones reuse a kept copy: both
// must give the same bits.
TEST(Matmul, PackedRightOperandEveryLayout) {
  const Device cpu(Device::cpu);
  for (auto [m, k, n] : std::vector<std::array<int, 3>>{
           {1, 16, 16}, {5, 17, 33}, {13, 300, 70}, {24, 256, 32}, {30, 513, 65}, {128, 256, 96}}) {
    std::string d = std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n);
    array w = random_array({k, n}, float32, 300 + k);
    array wt = random_array({n, k}, float32, 301 + n);
    array a = random_array({m, k}, float32, 302 + m);
    std::vector<std::pair<array, std::string>> lefts = {
        {a, "plain"},
        {slice(random_array({m, k + 5}, float32, 303), {0, 2}, {m, k + 2}, cpu), "row stride"},
        {broadcast_to(slice(a, {0, 0}, {1, k}, cpu), {m, k}, cpu), "broadcast rows"},
        {random_array({2, 3, m, k}, float32, 304), "stacked batch"}};
    for (const auto& [x, how] : lefts) {
      for (const array& y : {w, transpose(wt, cpu), slice(random_array({k + 3, n}, float32, 305),
                                                          {3, 0}, {k + 3, n}, cpu)}) {
        SCOPED_TRACE(d + " " + how);
        check_matmul(x, y, d + " " + how);
        array first = matmul(x, y, cpu), again = matmul(x, y, cpu);
        EXPECT_EQ(to_doubles(first), to_doubles(again)) << "kept copy differs";
      }
    }
    // addmm: alpha on the product, beta on the bias once (k spans slices).
    StreamContext on_cpu(cpu);
    array bias = random_array({n}, float32, 306);
    check_addmm(bias, a, w, 2.0f, 0.5f, d + " addmm");
    check_addmm(random_array({m, 1}, float32, 307), a, w, 2.0f, 0.5f, d + " column addend");
    check_addmm(bias, random_array({2, 3, m, k}, float32, 304), w, 1.0f, 1.0f,
                d + " stacked rows");
    // A row bias is added in the kernel, never copied out per row; a full
    // addend holding the same rows is read from the output: the same bits.
    array full = copy(broadcast_to(bias, {m, n}));
    EXPECT_EQ(to_doubles(addmm(bias, a, w, 2.0f, 0.5f)), to_doubles(addmm(full, a, w, 2.0f, 0.5f)))
        << d << ": row bias and full addend differ";
  }
}

// Threads using a fresh right operand at once race to keep its packed copy;
// every result must equal the one-thread result bit for bit.
TEST(Matmul, PackedRightOperandSharedByThreads) {
  const Device cpu(Device::cpu);
  array x = random_array({40, 300}, float32, 310);
  array want = matmul(x, random_array({300, 50}, float32, 311), cpu);
  std::vector<double> expect = to_doubles(want);
  for (int round = 0; round < 5; ++round) {
    array w = random_array({300, 50}, float32, 311);  // a new node each round
    eval(w);
    std::vector<std::vector<double>> got(8);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 3; ++i) got[t] = to_doubles(matmul(x, w, cpu));
      });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < 8; ++t) EXPECT_EQ(got[t], expect) << "round " << round << " thread " << t;
    // Used again and again: kept packed, where the kernel runs here.
    EXPECT_EQ(kept_copy(w) != nullptr,
              detail::cpu::packed_gemm_supported());
  }
}

// The tile kernel's products (on CPUs with AMX; elsewhere on its software
// model, forced here): each float split into three bfloat16 parts, six part
// products accumulated in float32, so within float32's accumulation bound.
// Shapes leave remainders of 32 in m, k and n; rows with an infinity or NaN
// take float32 arithmetic; a matrix with one is packed for the vector kernel.
// A's rows split into tiles both ways (element by element; AVX512-BF16's
// conversion) give the same tiles bit for bit, padding
// included, and the same rows marked as holding an infinity or NaN, over
// every float32 magnitude: zeros, subnormals (parts that would be subnormal
// are zeros), tiny normals, values near the largest float (where rounding to
// bfloat16 would overflow).
TEST(Matmul, Bf16x3RowSplitsAgree) {
  struct Reset {
    ~Reset() { detail::cpu::set_lhs_split_for_testing(-1); }
  } reset;
  const int64_t m = 45, k = 70, lda = 75;
  std::vector<float> a(static_cast<size_t>(m * lda), 0.0f);
  uint32_t state = 12345;
  auto next = [&] {
    state = state * 1664525u + 1013904223u;
    return state;
  };
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t i = 0; i < k; ++i) {
      float& x = a[static_cast<size_t>(r * lda + i)];
      const uint32_t u = next();
      switch (r % 6) {
        case 0: x = static_cast<float>(static_cast<int32_t>(u)) * 1e-9f; break;
        case 1: {  // any finite bit pattern
          uint32_t bits = u;
          if ((bits & 0x7F800000u) == 0x7F800000u) bits &= 0xFF7FFFFFu;
          x = std::bit_cast<float>(bits);
          break;
        }
        case 2: x = (u % 3 == 0) ? 0.0f : std::ldexp(1.0f + (u % 1000) * 1e-3f, -100 - int(u % 3)); break;
        case 3: x = std::ldexp(1.0f + (u % 1000) * 1e-3f, 126 + int(u % 2)); break;
        case 4: {  // subnormal, or normal below 2^-100
          const uint32_t sign = u & 0x80000000u;
          x = (u & 1) ? std::bit_cast<float>(sign | ((u >> 1) & 0x007FFFFFu))
                      : std::ldexp(1.0f + static_cast<float>((u >> 8) % 1000) * 1e-3f,
                                   -126 + static_cast<int>((u >> 20) % 26));
          break;
        }
        default: x = static_cast<float>(u % 100) - 50.0f; break;
      }
    }
  }
  a[static_cast<size_t>(5 * lda + 3)] = std::numeric_limits<float>::infinity();
  a[static_cast<size_t>(11 * lda + 69)] = std::numeric_limits<float>::quiet_NaN();
  std::vector<uint16_t> reference;
  ASSERT_TRUE(detail::cpu::set_lhs_split_for_testing(0));
  const std::vector<int64_t> special = detail::cpu::pack_lhs_for_testing(m, a.data(), lda, k, reference);
  EXPECT_EQ(special, (std::vector<int64_t>{5, 11}));
  int ran = 0;
  for (int how : {1}) {
    if (!detail::cpu::set_lhs_split_for_testing(how)) continue;
    ++ran;
    std::vector<uint16_t> tiles;
    EXPECT_EQ(detail::cpu::pack_lhs_for_testing(m, a.data(), lda, k, tiles), special) << how;
    EXPECT_EQ(tiles, reference) << "split " << how;
  }
  if (ran == 0) GTEST_SKIP() << "only the element-by-element split runs on this CPU";
}

TEST(Matmul, Bf16x3TileKernel) {
  if (!detail::cpu::packed_gemm_supported()) GTEST_SKIP() << "no packed kernel on this CPU";
  struct Force {
    Force() { detail::cpu::force_bf16x3_for_testing(true); }
    ~Force() { detail::cpu::force_bf16x3_for_testing(false); }
  } force;
  const Device cpu(Device::cpu);
  StreamContext on_cpu(cpu);
  for (auto [m, k, n] : std::vector<std::array<int, 3>>{
           {1, 16, 16}, {17, 33, 40}, {33, 300, 70}, {64, 64, 64}, {70, 1024, 100}}) {
    std::string d = std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n);
    array w = random_array({k, n}, float32, 400 + k);
    array a = random_array({m, k}, float32, 401 + m);
    check_matmul(a, w, d);
    check_matmul(a, transpose(random_array({n, k}, float32, 402), cpu), d + " b^T");
    array bias = random_array({n}, float32, 403);
    check_addmm(bias, a, w, 2.0f, 0.5f, d + " addmm");
    EXPECT_EQ(to_doubles(addmm(bias, a, w, 2.0f, 0.5f)),
              to_doubles(addmm(copy(broadcast_to(bias, {m, n})), a, w, 2.0f, 0.5f)))
        << d << ": row bias and full addend differ";
    array first = matmul(a, w), again = matmul(a, w);
    EXPECT_EQ(to_doubles(first), to_doubles(again)) << d << ": kept copy differs";
    const detail::cpu::PackedB* kept = kept_copy(w);
    ASSERT_NE(kept, nullptr) << d;
    EXPECT_EQ(kept->format, detail::cpu::PackedB::Format::bf16x3_tiles) << d;
    // A row's result does not depend on the rows around it.
    array row = matmul(slice(a, {m - 1, 0}, {m, k}), w);
    std::vector<double> all = to_doubles(first), one = to_doubles(row);
    EXPECT_EQ(std::vector<double>(all.end() - n, all.end()), one) << d << ": last row alone";
  }
  // The two ways of packing B (rows of unit stride with AVX-512; any strides
  // element by element) write the same tiles, padding included.
  for (auto [k, n] : std::vector<std::pair<int, int>>{{33, 40}, {64, 16}, {300, 70}, {7, 100}}) {
    std::vector<float> b(static_cast<size_t>(k) * n), bt(b.size());
    for (int i = 0; i < k; ++i) {
      for (int j = 0; j < n; ++j) {
        const float x = std::ldexp(std::sin(0.37f * static_cast<float>(i * n + j)) + 0.01f,
                                   (i * 7 + j * 3) % 41 - 20);
        b[static_cast<size_t>(i) * n + j] = bt[static_cast<size_t>(j) * k + i] = x;
      }
    }
    std::vector<uint16_t> rows(detail::cpu::bf16x3_rhs_elements(k, n), 0xFFFF);
    std::vector<uint16_t> any(rows.size(), 0x1234);
    detail::cpu::pack_rhs_bf16x3(b.data(), k, n, n, 1, rows.data());
    detail::cpu::pack_rhs_bf16x3(bt.data(), k, n, 1, k, any.data());
    EXPECT_EQ(rows, any) << k << "x" << n;
  }
  // Infinities and NaN: float32's results, not NaN from inf times a zero part.
  {
    const float inf = std::numeric_limits<float>::infinity();
    array w = random_array({40, 20}, float32, 410, 0.5, 2.0);  // positive
    std::vector<float> av(3 * 40, 1.0f);
    av[40 + 7] = inf;
    av[80 + 3] = std::numeric_limits<float>::quiet_NaN();
    array a = array(av, {3, 40});
    std::vector<double> got = to_doubles(matmul(a, w));
    for (int j = 0; j < 20; ++j) {
      EXPECT_TRUE(std::isfinite(got[j])) << j;
      EXPECT_EQ(got[20 + j], std::numeric_limits<double>::infinity()) << j;
      EXPECT_TRUE(std::isnan(got[40 + j])) << j;
    }
    std::vector<float> wv(40 * 20, 0.5f);
    wv[5 * 20 + 2] = -inf;
    array wi = array(wv, {40, 20});
    got = to_doubles(matmul(ones({2, 40}), wi));
    got = to_doubles(matmul(ones({2, 40}), wi));  // the kept copy
    EXPECT_EQ(kept_copy(wi)->format,
              detail::cpu::PackedB::Format::f32_panels);
    for (int j = 0; j < 20; ++j) {
      EXPECT_EQ(got[j], j == 2 ? -std::numeric_limits<double>::infinity() : 20.0) << j;
    }
  }
}

TEST(Matmul, EmptyDimensions) {
  array k0 = matmul(zeros({3, 0}), zeros({0, 4}));
  EXPECT_EQ(k0.shape(), (Shape{3, 4}));
  EXPECT_TRUE(all_close(to_doubles(k0), std::vector<double>(12, 0.0)));
  EXPECT_TRUE(
      all_close(to_doubles(matmul(zeros({2, 3, 0}, float16), zeros({0, 2}, float16))),
                std::vector<double>(12, 0.0)));
  EXPECT_EQ(matmul(zeros({0, 3}), ones({3, 4})).shape(), (Shape{0, 4}));
  EXPECT_EQ(matmul(zeros({0, 3}), ones({3, 4})).size(), 0u);
  EXPECT_EQ(matmul(ones({2, 3}), ones({3, 0})).shape(), (Shape{2, 0}));
  EXPECT_EQ(matmul(ones({0, 2, 3}), ones({3, 4})).shape(), (Shape{0, 2, 4}));
  to_doubles(matmul(ones({0, 2, 3}), ones({3, 4})));
}

TEST(Matmul, MixedDtypesPromote) {
  check_matmul(random_array({3, 4}, float16, 1), random_array({4, 2}, float32, 2),
               "f16@f32");
  check_matmul(random_array({3, 4}, bfloat16, 1), random_array({4, 2}, float16, 2),
               "bf16@f16");
  check_matmul(random_array({3, 4}, int32, 1), random_array({4, 2}, float32, 2),
               "i32@f32");
}

// ---------------------------------------------------------------- addmm

// alpha * (a @ b) + beta * c against plain loops in double: c read through
// its own broadcast onto the product's shape.
void check_addmm(const array& c, const array& a, const array& b, float alpha, float beta,
                 const std::string& what) {
  SCOPED_TRACE(what + " " + test::str(c.shape()) + " + " + test::str(a.shape()) + " @ " +
               test::str(b.shape()) + " alpha " + std::to_string(alpha) + " beta " +
               std::to_string(beta));
  Shape shape;
  std::vector<double> prod = ref_matmul(a, b, &shape);
  std::vector<double> mag = ref_matmul(a, b, &shape, true);
  std::vector<double> cv = to_doubles(broadcast_to(c, shape));
  array out = addmm(c, a, b, alpha, beta);
  EXPECT_EQ(out.shape(), shape);
  Dtype t = promote_types(promote_types(a.dtype(), b.dtype()), c.dtype());
  EXPECT_EQ(out.dtype(), t);
  int k = a.shape(-1);
  double step = (t == float64 ? 1.2e-16 : 6e-8) * (k + 2);
  std::vector<double> got = to_doubles(out);
  ASSERT_EQ(got.size(), prod.size());
  for (size_t i = 0; i < got.size(); ++i) {
    double want = alpha * prod[i] + (beta == 0 ? 0.0 : beta * cv[i]);
    double tol = 2 * eps_of(t) * std::abs(want) +
                 step * (std::abs(alpha) * mag[i] + std::abs(beta * cv[i]));
    EXPECT_NEAR(got[i], want, tol) << "element " << i;
  }
}

TEST(Addmm, MatchesLoops) {
  for (Dtype t : kFloatTypes) {
    std::string d = dtype_name(t);
    array a = random_array({5, 7}, t, 1), b = random_array({7, 6}, t, 2);
    check_addmm(random_array({6}, t, 3), a, b, 1.0f, 1.0f, d + " row bias");
    check_addmm(random_array({5, 1}, t, 4), a, b, 1.0f, 1.0f, d + " column bias");
    check_addmm(random_array({5, 6}, t, 5), a, b, 0.5f, 2.0f, d + " full c");
    check_addmm(array(1.5f), a, b, -1.0f, 0.25f, d + " scalar c");
    check_addmm(random_array({6}, t, 6), a, b, 2.0f, 0.0f, d + " beta 0");
  }
}

TEST(Addmm, LinearLayerShapes) {
  // x [B, S, in] @ w^T ([out, in] transposed: a view BLAS reads as such) + bias.
  for (Dtype t : {float32, float64, bfloat16}) {
    std::string d = dtype_name(t);
    array x = random_array({2, 9, 16}, t, 11), w = random_array({12, 16}, t, 12);
    array bias = random_array({12}, t, 13);
    check_addmm(bias, x, transpose(w), 1.0f, 1.0f, d + " stacked rows");
    check_addmm(bias, swapaxes(x, 0, 1), transpose(w), 1.0f, 1.0f, d + " swapped batch");
    check_addmm(random_array({2, 1, 12}, t, 14), x, transpose(w), 1.0f, 1.0f,
                d + " per-batch c");
    check_addmm(random_array({9, 1}, t, 15), x, transpose(w), 1.0f, 1.0f,
                d + " per-row c");
  }
}

TEST(Addmm, OneDimensionalAndEmpty) {
  check_addmm(random_array({6}, float32, 1), random_array({7}, float32, 2),
              random_array({7, 6}, float32, 3), 1.0f, 1.0f, "vector @ matrix");
  check_addmm(array(2.0f), random_array({7}, float32, 4), random_array({7}, float32, 5),
              1.0f, 1.0f, "dot");
  check_addmm(random_array({3}, float64, 6), random_array({3, 7}, float64, 7),
              random_array({7}, float64, 8), 1.0f, 1.0f, "matrix @ vector");
  // k = 0: no products, beta * c.
  array k0 = addmm(array({1.0f, 2.0f}), zeros({3, 0}), zeros({0, 2}), 1.0f, 3.0f);
  EXPECT_TRUE(all_close(to_doubles(k0), {3, 6, 3, 6, 3, 6}));
  array k0h = addmm(array({1.0f, 2.0f}, {2}, float16), zeros({1, 0}, float16),
                    zeros({0, 2}, float16), 1.0f, 0.5f);
  EXPECT_TRUE(all_close(to_doubles(k0h), {0.5, 1}));
  EXPECT_EQ(addmm(ones({4}), zeros({0, 3}), ones({3, 4})).shape(), (Shape{0, 4}));
}

TEST(Addmm, BetaZeroIgnoresC) {
  array c = full({2, 2}, array(std::nanf("")));
  array out = addmm(c, ones({2, 3}), ones({3, 2}), 1.0f, 0.0f);
  EXPECT_TRUE(all_close(to_doubles(out), {3, 3, 3, 3}));
}

TEST(Addmm, MixedDtypesPromote) {
  check_addmm(random_array({2}, float64, 1), random_array({3, 4}, float32, 2),
              random_array({4, 2}, float32, 3), 1.0f, 1.0f, "f64 c");
  check_addmm(random_array({2}, int32, 1), random_array({3, 4}, float16, 2),
              random_array({4, 2}, float16, 3), 1.0f, 1.0f, "i32 c");
}

// ---------------------------------------------------------------- errors

TEST(Errors, BadInputThrowsNamingTheOp) {
  array x = ones({2, 3});
  array xi = ones({2, 3}, int32);
  std::vector<std::pair<std::function<void()>, std::string>> cases = {
      {[&] {
         zeros({2, -1});
       },
       "[zeros]"},
      {[&] { ones({-3}); }, "[ones]"},
      {[&] { full({-1}, 1.0f); }, "[full]"},
      {[&] {
         full({2, 2}, array({1, 2, 3}));
       },
       "[full]"},
      {[&] { arange(0.0, 1.0, 0.0); }, "[arange]"},
      {[&] { arange(0.0, kInf); }, "[arange]"},
      {[&] { arange(0.0, 3.0, bool_); }, "[arange]"},
      {[&] { arange(0.0, 1e10, 1e-3); }, "[arange]"},
      {[&] { eye(-1); }, "[eye]"},
      {[&] { eye(2, -2); }, "[eye]"},
      {[&] {
         array(std::vector<float>{1, 2, 3}, Shape{2, 2});
       },
       "[array]"},
      {[&] { negative(array(std::vector<bool>{true}, {1})); }, "[negative]"},
      {[&] { round(xi, -1); }, "[round]"},
      {[&] {
         add(x, ones({3, 2}));
       },
       "[add]"},
      {[&] { subtract(x, ones({4})); }, "[subtract]"},
      {[&] { subtract(array(true), array(false)); }, "[subtract]"},
      {[&] {
         multiply(x, ones({2, 2}));
       },
       "[multiply]"},
      {[&] { divide(x, ones({5})); }, "[divide]"},
      {[&] {
         maximum(x, ones({4, 3, 2}));
       },
       "[maximum]"},
      {[&] {
         minimum(x, ones({2, 4}));
       },
       "[minimum]"},
      {[&] {
         power(x, ones({2, 2}));
       },
       "[power]"},
      {[&] { remainder(x, ones({7})); }, "[remainder]"},
      {[&] { equal(x, ones({7})); }, "[equal]"},
      {[&] { not_equal(x, ones({7})); }, "[not_equal]"},
      {[&] { less(x, ones({7})); }, "[less]"},
      {[&] { less_equal(x, ones({7})); }, "[less_equal]"},
      {[&] { greater(x, ones({7})); }, "[greater]"},
      {[&] { greater_equal(x, ones({7})); }, "[greater_equal]"},
      {[&] { logical_and(x, ones({7})); }, "[logical_and]"},
      {[&] { logical_or(x, ones({7})); }, "[logical_or]"},
      {[&] { (void)(x + ones({7})); }, "[add]"},
      {[&] { where(ones({2}, bool_), x, x); }, "[where]"},
      {[&] {
         where(ones({3}, bool_), x, ones({2, 1, 2}));
       },
       "[where]"},
      {[&] { sum(x, 2); }, "[sum]"},
      {[&] {
         sum(x, {0, -2});
       },
       "[sum]"},
      {[&] { prod(x, -3); }, "[prod]"},
      {[&] { max(x, 5); }, "[max]"},
      {[&] {
         min(x, {1, 1});
       },
       "[min]"},
      {[&] { all(x, 3); }, "[all]"},
      {[&] { any(x, -4); }, "[any]"},
      {[&] { mean(x, 2); }, "[mean]"},
      {[&] {
         max(zeros({2, 0}), 1);
       },
       "[max]"},
      {[&] { argmax(x, 2); }, "[argmax]"},
      {[&] { argmin(x, -3); }, "[argmin]"},
      {[&] { argmax(zeros({0})); }, "[argmax]"},
      {[&] {
         argmin(zeros({3, 0}), 1);
       },
       "[argmin]"},
      {[&] { matmul(x, x); }, "[matmul]"},
      {[&] { matmul(xi, transpose(xi)); }, "[matmul]"},
      {[&] { matmul(array(1.0f), x); }, "[matmul]"},
      {[&] {
         matmul(ones({2, 2, 3}), ones({3, 3, 4}));
       },
       "[matmul]"},
      {[&] { matmul(ones({4}), ones({3})); }, "[matmul]"},
      {[&] {
         reshape(x, {4, 2});
       },
       "[reshape]"},
      {[&] {
         reshape(x, {-1, -1});
       },
       "[reshape]"},
      {[&] {
         reshape(x, {-1, 4});
       },
       "[reshape]"},
      {[&] {
         reshape(x, {-2, -3});
       },
       "[reshape]"},
      {[&] { flatten(x, 2); }, "[flatten]"},
      {[&] { flatten(x, 1, 0); }, "[flatten]"},
      {[&] { transpose(x, {0}); }, "[transpose]"},
      {[&] {
         transpose(x, {0, 0});
       },
       "[transpose]"},
      {[&] {
         transpose(x, {0, 2});
       },
       "[transpose]"},
      {[&] { swapaxes(x, 0, 2); }, "[swapaxes]"},
      {[&] { expand_dims(x, 3); }, "[expand_dims]"},
      {[&] {
         expand_dims(x, {0, 0});
       },
       "[expand_dims]"},
      {[&] { squeeze(x, 0); }, "[squeeze]"},
      {[&] {
         squeeze(ones({1, 2}), 2);
       },
       "[squeeze]"},
      {[&] {
         broadcast_to(x, {3, 3});
       },
       "[broadcast_to]"},
      {[&] { broadcast_to(x, {3}); }, "[broadcast_to]"},
      {[&] {
         broadcast_to(x, {2, -3});
       },
       "[broadcast_to]"},
      {[&] { slice(x, {0}, {1}); }, "[slice]"},
      {[&] {
         slice(x, {0, 0}, {1, 1}, {1, 0});
       },
       "[slice]"},
      {[&] { x.shape(2); }, "[shape]"},
      {[&] { x.item<float>(); }, "[item]"},
      {[&] { ones({1}).item<double>(); }, "[item]"},
      {[&] { x.data<int32_t>(); }, "[data]"},
  };
  for (auto& [fn, tag] : cases) {
    EXPECT_TRUE(throws_invalid(fn, tag));
  }
}

// ---------------------------------------------------------------- printing

std::string printed(const array& a) {
  std::ostringstream os;
  os << a;
  return os.str();
}

TEST(Printing, ValuesShapesAndDtype) {
  EXPECT_EQ(printed(array({1, 2, 3})), "array([1, 2, 3], dtype=int32)");
  EXPECT_EQ(printed(array(2.5f)), "array(2.5, dtype=float32)");
  EXPECT_EQ(printed(array({1.5f, -2.0f}, {2, 1})),
            "array([[1.5],\n       [-2]], dtype=float32)");
  EXPECT_EQ(printed(reshape(arange(6), {2, 3})),
            "array([[0, 1, 2],\n       [3, 4, 5]], dtype=int32)");
  EXPECT_EQ(printed(array(std::vector<bool>{true, false}, {2})),
            "array([true, false], dtype=bool)");
  EXPECT_EQ(printed(array({200, 7}, uint8)), "array([200, 7], dtype=uint8)");
  EXPECT_EQ(printed(array({0.5, 1.0}, float16)), "array([0.5, 1], dtype=float16)");
  EXPECT_EQ(printed(array({0.5, 1.0}, bfloat16)), "array([0.5, 1], dtype=bfloat16)");
  EXPECT_EQ(printed(zeros({0}, int64)), "array([], dtype=int64)");
  // Views print in their logical order; printing evaluates a lazy graph.
  EXPECT_EQ(printed(transpose(reshape(arange(4), {2, 2}))),
            "array([[0, 2],\n       [1, 3]], dtype=int32)");
  EXPECT_EQ(printed(slice(arange(5), {4}, {-6}, {-2})), "array([4, 2, 0], dtype=int32)");
  std::string three = printed(zeros({2, 1, 2}, int32));
  EXPECT_EQ(three, "array([[[0, 0]],\n       [[0, 0]]], dtype=int32)");
}

}  // namespace
}  // namespace rill
