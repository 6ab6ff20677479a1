// complex64 (creation, conversion, arithmetic, reductions, products, I/O, the
// ops that refuse it) and rill::fft against double-precision DFT loops, on the
// default device (the GPU in a suite run with RILL_DEVICE=gpu), with
// non-contiguous inputs, every normalisation and the documented errors; pad's
// mirrored modes against NumPy's values.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <random>
#include <sstream>

#include "ops_helpers.h"
#include "rill/rill.h"
#include "test_util.h"

namespace rill::test {
namespace {

using cd = std::complex<double>;

// The message `expr` throws at the call (building the graph, not evaluating).
#define EXPECT_THAT_ERROR(expr, msg) EXPECT_EQ(error_of([&] { (void)(expr); }), std::string(msg))
constexpr double kPi = 3.14159265358979323846;

std::vector<cd> complex_values(const array& a) {
  std::vector<cd> out;
  if (a.dtype() == complex64) {
    for (complex64_t v : to_vector<complex64_t>(a)) out.emplace_back(v.real(), v.imag());
  } else {
    for (double v : to_doubles(a)) out.emplace_back(v, 0.0);
  }
  return out;
}

array complex_array(const std::vector<cd>& v, const Shape& shape) {
  std::vector<complex64_t> c;
  for (const cd& z : v) c.emplace_back(static_cast<float>(z.real()), static_cast<float>(z.imag()));
  return array(c, shape);
}

// Parts that are multiples of 1/256 in [-2, 2): exact in float32.
std::vector<cd> random_complex(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> u(-512, 511);
  std::vector<cd> v(n);
  for (cd& z : v) {
    const int re = u(gen);
    const int im = u(gen);
    z = cd(re / 256.0, im / 256.0);
  }
  return v;
}

::testing::AssertionResult close(const std::vector<cd>& got, const std::vector<cd>& want,
                                 double tol) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
  }
  double scale = 1;
  for (const cd& w : want) scale = std::max(scale, std::abs(w));
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::abs(got[i] - want[i]) > tol * scale) {
      return ::testing::AssertionFailure()
             << "element " << i << ": got " << got[i] << ", expected " << want[i];
    }
  }
  return ::testing::AssertionSuccess();
}

// The DFT of `x` (row-major, `shape`) along `axis`, length n (cropped or
// zero-padded), sign -1 forward, scaled by `scale`.
std::vector<cd> dft_axis(const std::vector<cd>& x, const Shape& shape, int axis, int n,
                         int sign, double scale, Shape* out_shape) {
  Shape os = shape;
  os[axis] = n;
  std::vector<cd> out(numel(os));
  int64_t inner = 1;
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  int64_t outer = numel(shape) / (inner * shape[axis]);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      for (int k = 0; k < n; ++k) {
        cd sum = 0;
        for (int j = 0; j < std::min(n, shape[axis]); ++j) {
          double ang = sign * 2 * kPi * double(j) * k / n;
          sum += x[(o * shape[axis] + j) * inner + i] * cd(std::cos(ang), std::sin(ang));
        }
        out[(o * n + k) * inner + i] = sum * scale;
      }
    }
  }
  *out_shape = os;
  return out;
}

TEST(Complex, CreationConversionAndPrinting) {
  array z(complex64_t(1.5f, -2.0f));
  EXPECT_EQ(z.dtype(), complex64);
  EXPECT_EQ(z.itemsize(), 8u);
  EXPECT_EQ(z.item<complex64_t>(), complex64_t(1.5f, -2.0f));
  array v({complex64_t(1, 2), complex64_t(-3, 0.5f)});
  EXPECT_EQ(v.shape(), Shape({2}));
  // Real to complex: imaginary 0; complex to real: the real part.
  array f = array({1.0f, -2.5f});
  EXPECT_TRUE(close(complex_values(astype(f, complex64)), {cd(1, 0), cd(-2.5, 0)}, 0));
  EXPECT_EQ(to_vector<float>(astype(v, float32)), std::vector<float>({1.0f, -3.0f}));
  EXPECT_EQ(to_vector<int32_t>(astype(v, int32)), std::vector<int32_t>({1, -3}));
  EXPECT_EQ(to_vector<bool>(astype(array({complex64_t(0, 1), complex64_t(0, 0)}), bool_)),
            std::vector<bool>({true, false}));
  // Any dtype with complex64 gives complex64, float64 included (MLX's table).
  for (Dtype t : kAllTypes) EXPECT_EQ(promote_types(t, complex64), complex64) << t;
  EXPECT_TRUE(issubdtype(complex64, complexfloating));
  EXPECT_TRUE(issubdtype(complex64, inexact));
  EXPECT_FALSE(issubdtype(complex64, floating));
  EXPECT_TRUE(issubdtype(float16, inexact));
  EXPECT_TRUE(issubdtype(uint8, unsignedinteger));
  EXPECT_TRUE(issubdtype(int8, integer));
  EXPECT_FALSE(issubdtype(bool_, number));
  EXPECT_TRUE(issubdtype(floating, inexact));
  std::ostringstream os;
  os << v;
  EXPECT_EQ(os.str(), "array([1+2j, -3+0.5j], dtype=complex64)");
}

TEST(Complex, ArithmeticAgainstStdComplex) {
  const Shape shape{3, 5};
  auto av = random_complex(15, 1), bv = random_complex(5, 2);
  array a = complex_array(av, shape), b = complex_array(bv, {5});
  // Broadcasting, and a non-contiguous operand.
  array at = transpose(complex_array(av, {5, 3}));
  auto check = [&](const array& got, auto f) {
    std::vector<cd> want;
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 5; ++j) want.push_back(f(av[i * 5 + j], bv[j]));
    }
    return close(complex_values(got), want, 2e-6);
  };
  EXPECT_TRUE(check(add(a, b), [](cd x, cd y) { return x + y; }));
  EXPECT_TRUE(check(subtract(a, b), [](cd x, cd y) { return x - y; }));
  EXPECT_TRUE(check(multiply(a, b), [](cd x, cd y) { return x * y; }));
  EXPECT_TRUE(check(divide(a, b), [](cd x, cd y) { return x / y; }));
  EXPECT_TRUE(check(power(a, b), [](cd x, cd y) { return std::pow(x, y); }));
  // A real operand is promoted.
  array r = multiply(a, array(2.0f));
  EXPECT_EQ(r.dtype(), complex64);
  EXPECT_TRUE(check(r, [](cd x, cd) { return x * 2.0; }));
  std::vector<cd> tv;  // at[i][j] = av as (5, 3) at [j][i]
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 5; ++j) tv.push_back(av[j * 3 + i]);
  }
  EXPECT_TRUE(close(complex_values(add(at, at)), [&] {
    std::vector<cd> w;
    for (cd z : tv) w.push_back(z + z);
    return w;
  }(), 1e-6));
  EXPECT_EQ(to_vector<bool>(equal(a, a)), std::vector<bool>(15, true));
  EXPECT_EQ(to_vector<bool>(not_equal(a, conjugate(a))), std::vector<bool>(15, true));
}

TEST(Complex, UnaryOpsAgainstStdComplex) {
  auto zv = random_complex(12, 3);
  array z = complex_array(zv, {3, 4});
  struct Case {
    const char* name;
    std::function<array(const array&)> op;
    std::function<cd(cd)> ref;
  };
  std::vector<Case> cases = {
      {"negative", [](const array& x) { return negative(x); }, [](cd x) { return -x; }},
      {"square", [](const array& x) { return square(x); }, [](cd x) { return x * x; }},
      {"exp", [](const array& x) { return exp(x); }, [](cd x) { return std::exp(x); }},
      {"log", [](const array& x) { return log(x); }, [](cd x) { return std::log(x); }},
      {"log10", [](const array& x) { return log10(x); }, [](cd x) { return std::log10(x); }},
      {"sqrt", [](const array& x) { return sqrt(x); }, [](cd x) { return std::sqrt(x); }},
      {"rsqrt", [](const array& x) { return rsqrt(x); },
       [](cd x) { return 1.0 / std::sqrt(x); }},
      {"sin", [](const array& x) { return sin(x); }, [](cd x) { return std::sin(x); }},
      {"cos", [](const array& x) { return cos(x); }, [](cd x) { return std::cos(x); }},
      {"tan", [](const array& x) { return tan(x); }, [](cd x) { return std::tan(x); }},
      {"sinh", [](const array& x) { return sinh(x); }, [](cd x) { return std::sinh(x); }},
      {"cosh", [](const array& x) { return cosh(x); }, [](cd x) { return std::cosh(x); }},
      {"tanh", [](const array& x) { return tanh(x); }, [](cd x) { return std::tanh(x); }},
      {"reciprocal", [](const array& x) { return reciprocal(x); },
       [](cd x) { return 1.0 / x; }},
      {"sign", [](const array& x) { return sign(x); }, [](cd x) { return x / std::abs(x); }},
      {"conjugate", [](const array& x) { return conjugate(x); },
       [](cd x) { return std::conj(x); }},
  };
  for (const Case& c : cases) {
    array got = c.op(z);
    EXPECT_EQ(got.dtype(), complex64) << c.name;
    std::vector<cd> want;
    for (cd x : zv) want.push_back(c.ref(x));
    EXPECT_TRUE(close(complex_values(got), want, 1e-5)) << c.name;
  }
  // abs, real and imag give float32.
  array m = abs(z), re = real(z), im = imag(z);
  EXPECT_EQ(m.dtype(), float32);
  EXPECT_EQ(re.dtype(), float32);
  EXPECT_EQ(im.dtype(), float32);
  std::vector<double> wm, wr, wi;
  for (cd x : zv) wm.push_back(std::abs(x)), wr.push_back(x.real()), wi.push_back(x.imag());
  EXPECT_TRUE(all_close(to_doubles(m), wm, 1e-6));
  EXPECT_TRUE(all_close(to_doubles(re), wr));
  EXPECT_TRUE(all_close(to_doubles(im), wi));
  // On real arrays: real is the array, imag zeros, conjugate the array.
  array f = array({1.0f, 2.0f});
  EXPECT_EQ(to_vector<float>(imag(f)), std::vector<float>({0.0f, 0.0f}));
  EXPECT_EQ(to_vector<float>(conjugate(f)), std::vector<float>({1.0f, 2.0f}));
  // exp of a real infinity stays (inf, 0), with no NaN from inf * 0.
  auto e = complex_values(exp(array(complex64_t(INFINITY, 0.0f))));
  EXPECT_TRUE(std::isinf(e[0].real()));
  EXPECT_EQ(e[0].imag(), 0.0);
}

TEST(Complex, ReductionsProductsAndMovement) {
  auto zv = random_complex(24, 4);
  array z = complex_array(zv, {2, 3, 4});
  std::vector<cd> want(6, 0);
  for (int i = 0; i < 24; ++i) want[i / 4] += zv[i];
  EXPECT_TRUE(close(complex_values(sum(z, 2)), want, 1e-6));
  cd total = 0;
  for (cd x : zv) total += x;
  EXPECT_TRUE(close(complex_values(sum(z)), {total}, 1e-6));
  EXPECT_TRUE(close(complex_values(mean(z)), {total / 24.0}, 1e-6));
  // Products: complex x complex, complex x real, batched.
  auto bv = random_complex(20, 5);
  array b = complex_array(bv, {4, 5});
  std::vector<cd> mm(2 * 3 * 5, 0);
  for (int n = 0; n < 6; ++n) {
    for (int j = 0; j < 5; ++j) {
      for (int k = 0; k < 4; ++k) mm[n * 5 + j] += zv[n * 4 + k] * bv[k * 5 + j];
    }
  }
  array p = matmul(z, b);
  EXPECT_EQ(p.shape(), Shape({2, 3, 5}));
  EXPECT_TRUE(close(complex_values(p), mm, 1e-5));
  array rb = real(b);
  std::vector<cd> mr(30, 0);
  for (int n = 0; n < 6; ++n) {
    for (int j = 0; j < 5; ++j) {
      for (int k = 0; k < 4; ++k) mr[n * 5 + j] += zv[n * 4 + k] * bv[k * 5 + j].real();
    }
  }
  EXPECT_TRUE(close(complex_values(matmul(z, rb)), mr, 1e-5));
  // Moving elements: transpose copies, slices, concatenation, take, where.
  array t = contiguous(transpose(z, {2, 0, 1}));
  auto tv = complex_values(t);
  EXPECT_EQ(tv[1], zv[4]);  // t[0, 0, 1] = z[0, 1, 0]
  array c = concatenate({z, z}, 0);
  EXPECT_EQ(complex_values(c)[24], zv[0]);
  array g = take(reshape(z, {24}), array({5, 0, 23}));
  EXPECT_TRUE(close(complex_values(g), {zv[5], zv[0], zv[23]}, 0));
  array w = where(array({true, false}), array(complex64_t(1, 1)), array(complex64_t(2, -2)));
  EXPECT_TRUE(close(complex_values(w), {cd(1, 1), cd(2, -2)}, 0));
  array zs = zeros({2}, complex64);
  EXPECT_TRUE(close(complex_values(zs), {cd(0, 0), cd(0, 0)}, 0));
}

TEST(Complex, RefusedOpsNameThemselves) {
  array z = array({complex64_t(1, 1), complex64_t(0, 2)});
  EXPECT_THAT_ERROR(maximum(z, z), "[maximum] complex64 is not supported.");
  EXPECT_THAT_ERROR(sort(z), "[sort] complex64 is not supported.");
  EXPECT_THAT_ERROR(floor(z), "[floor] complex64 is not supported.");
  EXPECT_THAT_ERROR(max(z), "[max] complex64 is not supported.");
  EXPECT_THAT_ERROR(cumsum(z), "[cumsum] complex64 is not supported.");
  EXPECT_THAT_ERROR(arange(0, 4, complex64), "[arange] complex64 is not supported.");
  EXPECT_THAT_ERROR(less(z, z), "[less] complex64 is not supported.");
}

TEST(Complex, NpyAndSafetensorsRoundTrip) {
  auto zv = random_complex(6, 6);
  array z = complex_array(zv, {2, 3});
  auto dir = std::filesystem::temp_directory_path();
  std::string npy = (dir / "rill_complex_test.npy").string();
  std::string st = (dir / "rill_complex_test.safetensors").string();
  save(npy, z);
  EXPECT_TRUE(close(complex_values(load(npy)), zv, 0));
  save_safetensors(st, {{"z", z}});
  auto loaded = load_safetensors(st);
  EXPECT_EQ(loaded.first.at("z").dtype(), complex64);
  EXPECT_TRUE(close(complex_values(loaded.first.at("z")), zv, 0));
  std::remove(npy.c_str());
  std::remove(st.c_str());
}

TEST(Complex, EigOfGeneralMatrices) {
  const Device cpu = Device::cpu;  // LAPACK: CPU only, as in MLX
  // A rotation: eigenvalues +-i.
  array rot = array({0.0f, -1.0f, 1.0f, 0.0f}, Shape{2, 2});
  auto vals = complex_values(linalg::eigvals(rot, cpu));
  ASSERT_EQ(vals.size(), 2u);
  EXPECT_NEAR(std::abs(vals[0] - cd(0, 1)) * std::abs(vals[0] - cd(0, -1)), 0.0, 1e-6);
  EXPECT_NEAR(std::abs(vals[0] - std::conj(vals[1])), 0.0, 1e-6);
  // A v = lambda v for each column, over a batch of random matrices.
  const int n = 5;
  std::vector<double> av = random_values(2 * n * n, float32, 70, -1, 1);
  array a = array(av, {2, n, n}, float32);
  auto [w, v] = linalg::eig(a, cpu);
  EXPECT_EQ(w.shape(), Shape({2, n}));
  EXPECT_EQ(v.shape(), Shape({2, n, n}));
  EXPECT_EQ(v.dtype(), complex64);
  auto wv = complex_values(w), vv = complex_values(v);
  for (int b = 0; b < 2; ++b) {
    for (int j = 0; j < n; ++j) {
      double norm = 0;
      for (int i = 0; i < n; ++i) {
        cd lhs = 0;
        for (int k = 0; k < n; ++k) lhs += av[b * n * n + i * n + k] * vv[b * n * n + k * n + j];
        EXPECT_LT(std::abs(lhs - wv[b * n + j] * vv[b * n * n + i * n + j]), 1e-5);
        norm += std::norm(vv[b * n * n + i * n + j]);
      }
      EXPECT_NEAR(norm, 1.0, 1e-5);
    }
  }
  EXPECT_THAT_ERROR(linalg::eig(ones({2, 3}), cpu),
                    "[linalg::eig] Only defined for square matrices. Received array with shape "
                    "(2, 3).");
  EXPECT_EQ(error_of([&] { (void)linalg::eigvals(ones({2, 2}, int32), cpu); })
                .rfind("[linalg::eigvals] ", 0),
            0u);
}

TEST(FFT, OneAxisAgainstDFT) {
  for (int n : {1, 2, 5, 8, 12, 17, 64, 100}) {
    auto xv = random_complex(3 * n, 10 + n);
    array x = complex_array(xv, {3, n});
    Shape os;
    auto want = dft_axis(xv, {3, n}, 1, n, -1, 1.0, &os);
    EXPECT_TRUE(close(complex_values(fft::fft(x)), want, 2e-6)) << "n=" << n;
    auto inv = dft_axis(xv, {3, n}, 1, n, 1, 1.0 / n, &os);
    EXPECT_TRUE(close(complex_values(fft::ifft(x)), inv, 2e-6)) << "n=" << n;
  }
  // Along axis 0 of a transposed (non-contiguous) array, with n cropping and
  // padding, and every normalisation.
  auto xv = random_complex(6 * 7, 20);
  array x = transpose(complex_array(xv, {7, 6}));  // shape (6, 7)
  std::vector<cd> xt(42);
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 7; ++j) xt[i * 7 + j] = xv[j * 6 + i];
  }
  for (int n : {4, 6, 9}) {
    Shape os;
    auto want = dft_axis(xt, {6, 7}, 0, n, -1, 1.0, &os);
    array got = fft::fft(x, n, 0);
    EXPECT_EQ(got.shape(), os);
    EXPECT_TRUE(close(complex_values(got), want, 2e-6)) << "n=" << n;
    auto ortho = dft_axis(xt, {6, 7}, 0, n, -1, 1.0 / std::sqrt(double(n)), &os);
    EXPECT_TRUE(close(complex_values(fft::fft(x, n, 0, fft::FFTNorm::Ortho)), ortho, 2e-6));
    auto fwd = dft_axis(xt, {6, 7}, 0, n, -1, 1.0 / n, &os);
    EXPECT_TRUE(close(complex_values(fft::fft(x, n, 0, fft::FFTNorm::Forward)), fwd, 2e-6));
    auto inv = dft_axis(xt, {6, 7}, 0, n, 1, 1.0, &os);
    EXPECT_TRUE(close(complex_values(fft::ifft(x, n, 0, fft::FFTNorm::Forward)), inv, 2e-6));
  }
  // Real input converts to complex64.
  array r = array({1.0f, 2.0f, 3.0f, 4.0f});
  EXPECT_TRUE(close(complex_values(fft::fft(r)), {cd(10, 0), cd(-2, 2), cd(-2, 0), cd(-2, -2)},
                    1e-6));
}

TEST(FFT, ManyAxesAgainstSuccessiveDFTs) {
  const Shape shape{2, 3, 4, 5};
  auto xv = random_complex(numel(shape), 30);
  array x = complex_array(xv, shape);
  // Every axis (four: two groups of transforms), fft2 and an axis order.
  std::vector<cd> want = xv;
  Shape s = shape;
  for (int ax = 0; ax < 4; ++ax) want = dft_axis(want, s, ax, shape[ax], -1, 1.0, &s);
  EXPECT_TRUE(close(complex_values(fft::fftn(x)), want, 5e-6));
  std::vector<cd> inv = xv;
  s = shape;
  for (int ax = 0; ax < 4; ++ax) inv = dft_axis(inv, s, ax, shape[ax], 1, 1.0 / shape[ax], &s);
  EXPECT_TRUE(close(complex_values(fft::ifftn(x)), inv, 5e-6));
  std::vector<cd> two = xv;
  s = shape;
  for (int ax : {2, 3}) two = dft_axis(two, s, ax, shape[ax], -1, 1.0, &s);
  EXPECT_TRUE(close(complex_values(fft::fft2(x)), two, 5e-6));
  std::vector<cd> some = xv;
  s = shape;
  for (int ax : {0, 2}) some = dft_axis(some, s, ax, ax == 0 ? 3 : 2, -1, 1.0, &s);
  array got = fft::fftn(x, {3, 2}, {0, 2});
  EXPECT_EQ(got.shape(), Shape({3, 3, 2, 5}));
  EXPECT_TRUE(close(complex_values(got), some, 5e-6));
  // Round trip.
  EXPECT_TRUE(close(complex_values(fft::ifftn(fft::fftn(x))), xv, 5e-6));
}

TEST(FFT, RealTransforms) {
  for (int n : {1, 2, 7, 8, 30}) {
    std::vector<double> rv = random_values(2 * n, float32, 40 + n, -2, 2);
    array x = array(rv, {2, n}, float32);
    std::vector<cd> xc(rv.begin(), rv.end());
    Shape os;
    auto full = dft_axis(xc, {2, n}, 1, n, -1, 1.0, &os);
    std::vector<cd> half;
    for (int i = 0; i < 2; ++i) {
      for (int k = 0; k < n / 2 + 1; ++k) half.push_back(full[i * n + k]);
    }
    array f = fft::rfft(x);
    EXPECT_EQ(f.shape(), Shape({2, n / 2 + 1}));
    EXPECT_TRUE(close(complex_values(f), half, 2e-6)) << "n=" << n;
    // irfft with the length given (odd lengths need it).
    array back = fft::irfft(f, n, -1);
    EXPECT_EQ(back.dtype(), float32);
    EXPECT_TRUE(all_close(to_doubles(back), rv, 1e-5, 1e-5)) << "n=" << n;
  }
  // 2-D and 3-D real transforms against the complex ones, and back.
  const Shape shape{3, 4, 6};
  std::vector<double> rv = random_values(numel(shape), float32, 50, -2, 2);
  array x = array(rv, shape, float32);
  array full = fft::fftn(astype(x, complex64));
  array half = slice(full, {0, 0, 0}, {3, 4, 4});
  EXPECT_TRUE(close(complex_values(fft::rfftn(x)), complex_values(half), 5e-6));
  EXPECT_TRUE(all_close(to_doubles(fft::irfftn(fft::rfftn(x))), rv, 1e-5, 1e-5));
  array f2 = fft::rfft2(x);
  EXPECT_EQ(f2.shape(), Shape({3, 4, 4}));
  EXPECT_TRUE(all_close(to_doubles(fft::irfft2(f2)), rv, 1e-5, 1e-5));
  // Four axes: the real axis in the last group.
  const Shape s4{2, 2, 3, 4};
  std::vector<double> r4 = random_values(numel(s4), float32, 51, -2, 2);
  array x4 = array(r4, s4, float32);
  array h4 = slice(fft::fftn(astype(x4, complex64)), {0, 0, 0, 0}, {2, 2, 3, 3});
  EXPECT_TRUE(close(complex_values(fft::rfftn(x4)), complex_values(h4), 5e-6));
  EXPECT_TRUE(all_close(to_doubles(fft::irfftn(fft::rfftn(x4), {2, 2, 3, 4}, {0, 1, 2, 3})), r4,
                        1e-5, 1e-5));
  // A complex input to rfft keeps its real part.
  array z = array({complex64_t(1, 5), complex64_t(2, 5)});
  EXPECT_TRUE(close(complex_values(fft::rfft(z)), {cd(3, 0), cd(-1, 0)}, 1e-6));
}

TEST(FFT, Errors) {
  array x = zeros({4, 4}, complex64);
  EXPECT_THAT_ERROR(fft::fft(array(1.0f)), "[fftn] needs an array with at least one dimension.");
  EXPECT_THAT_ERROR(fft::fft(x, 2), "[fftn] axis 2 is out of range for an array of 2 dimensions.");
  EXPECT_THAT_ERROR(fft::fftn(x, {0, -2}), "[fftn] repeated axis in (0, -2).");
  EXPECT_THAT_ERROR(fft::fft(x, 0, 1), "[fftn] transform sizes must be positive, got (0,).");
  EXPECT_THAT_ERROR(fft::fftn(x, {4}, {0, 1}),
                    "[fftn] got 1 sizes (4,) for 2 axes (0, 1).");
  EXPECT_THAT_ERROR(fft::irfft(x, -1, 0), "[irfftn] transform sizes must be positive, got (-1,).");
  EXPECT_THAT_ERROR(fft::fftfreq(0), "[fftfreq] n must be positive, got 0.");
  EXPECT_THAT_ERROR(fft::rfftfreq(4, 0.0), "[rfftfreq] d must not be zero.");
  EXPECT_THAT_ERROR(fft::fftshift(x, {3}), "[fftshift] axis 3 is out of range for an array of 2 dimensions.");
}

TEST(FFT, FrequenciesAndShifts) {
  EXPECT_TRUE(all_close(to_doubles(fft::fftfreq(5, 0.5)), {0, 0.4, 0.8, -0.8, -0.4}, 1e-7));
  EXPECT_TRUE(all_close(to_doubles(fft::fftfreq(4)), {0, 0.25, -0.5, -0.25}, 1e-7));
  EXPECT_TRUE(all_close(to_doubles(fft::rfftfreq(5, 2.0)), {0, 0.1, 0.2}, 1e-7));
  array a = arange(5);
  EXPECT_EQ(to_vector<int32_t>(fft::fftshift(a)), std::vector<int32_t>({3, 4, 0, 1, 2}));
  EXPECT_EQ(to_vector<int32_t>(fft::ifftshift(fft::fftshift(a))),
            std::vector<int32_t>({0, 1, 2, 3, 4}));
  array m = reshape(arange(6), {2, 3});
  EXPECT_EQ(to_vector<int32_t>(fft::fftshift(m)), std::vector<int32_t>({5, 3, 4, 2, 0, 1}));
  EXPECT_EQ(to_vector<int32_t>(fft::fftshift(m, {1})), std::vector<int32_t>({2, 0, 1, 5, 3, 4}));
}

// The STFT of x [batch, len] by frames against DFT loops.
std::vector<cd> stft_reference(const std::vector<double>& x, int batch, int len, int n_fft,
                               int hop, const std::vector<double>& win, bool center,
                               int* frames_out) {
  std::vector<double> w(n_fft, 0.0);
  int left = (n_fft - int(win.size())) / 2;
  for (size_t i = 0; i < win.size(); ++i) w[left + i] = win[i];
  const int p = center ? n_fft / 2 : 0;
  const int plen = len + 2 * p;
  const int frames = 1 + (plen - n_fft) / hop, freqs = n_fft / 2 + 1;
  *frames_out = frames;
  std::vector<cd> out(size_t(batch) * freqs * frames);
  for (int b = 0; b < batch; ++b) {
    auto sample = [&](int i) {  // reflect padding
      int j = i - p;
      if (j < 0) j = -j;
      if (j >= len) j = 2 * (len - 1) - j;
      return x[b * len + j];
    };
    for (int f = 0; f < frames; ++f) {
      for (int k = 0; k < freqs; ++k) {
        cd sum = 0;
        for (int j = 0; j < n_fft; ++j) {
          double ang = -2 * kPi * double(j) * k / n_fft;
          sum += sample(f * hop + j) * w[j] * cd(std::cos(ang), std::sin(ang));
        }
        out[(size_t(b) * freqs + k) * frames + f] = sum;
      }
    }
  }
  return out;
}

TEST(FFT, ShortTimeTransformAndItsInverse) {
  const int batch = 2, len = 37, n_fft = 8, hop = 3;
  std::vector<double> xv = random_values(batch * len, float32, 60, -1, 1);
  array x = array(xv, {batch, len}, float32);
  std::vector<double> hann(6);
  for (int i = 0; i < 6; ++i) hann[i] = 0.5 - 0.5 * std::cos(2 * kPi * i / 5);
  array win = array(hann, {6}, float32);
  int frames = 0;
  auto want = stft_reference(xv, batch, len, n_fft, hop, hann, true, &frames);
  array spec = fft::stft(x, n_fft, hop, 6, win);
  EXPECT_EQ(spec.shape(), Shape({batch, n_fft / 2 + 1, frames}));
  EXPECT_EQ(frames, 13);
  EXPECT_TRUE(close(complex_values(spec), want, 2e-6));
  // Back: 36 samples by default (the centred frames' span), `length` for all.
  array y = fft::istft(spec, n_fft, hop, 6, win);
  EXPECT_EQ(y.shape(), Shape({batch, 36}));
  array y37 = fft::istft(spec, n_fft, hop, 6, win, true, fft::FFTNorm::Backward, std::nullopt, len);
  EXPECT_EQ(y37.shape(), Shape({batch, len}));
  EXPECT_TRUE(all_close(to_doubles(y37), xv, 1e-5, 1e-5));
  // Not centred, rectangular window: 10 frames spanning 35 samples.
  array s2 = fft::stft(x, n_fft, hop, std::nullopt, std::nullopt, false);
  EXPECT_EQ(s2.shape(), Shape({batch, 5, 10}));
  array y2 = fft::istft(s2, n_fft, hop, std::nullopt, std::nullopt, false);
  EXPECT_EQ(y2.shape(), Shape({batch, 35}));
  std::vector<double> head;
  for (int b = 0; b < batch; ++b) head.insert(head.end(), xv.begin() + b * len, xv.begin() + b * len + 35);
  EXPECT_TRUE(all_close(to_doubles(y2), head, 1e-5, 1e-5));
  // Complex input: two-sided by default.
  array zc = astype(x, complex64);
  array s3 = fft::stft(zc, n_fft, 4);
  EXPECT_EQ(s3.shape(), Shape({batch, n_fft, 10}));
  // Errors.
  EXPECT_THAT_ERROR(fft::stft(x, 0), "[stft] n_fft must be positive, got 0.");
  EXPECT_THAT_ERROR(fft::stft(x, 8, 0), "[stft] hop_length must be positive, got 0.");
  EXPECT_THAT_ERROR(fft::stft(x, 8, 2, 9), "[stft] win_length must be in [1, n_fft = 8], got 9.");
  EXPECT_THAT_ERROR(fft::stft(x, 8, 2, std::nullopt, std::nullopt, true, "wrap"),
                    "[stft] pad_mode must be \"reflect\", \"constant\" or \"edge\", got \"wrap\".");
  EXPECT_THAT_ERROR(fft::stft(slice(x, {0, 0}, {2, 5}), 16, 4, std::nullopt, std::nullopt, false),
                    "[stft] the input (5 samples) is shorter than n_fft (16).");
  EXPECT_THAT_ERROR(fft::stft(x, 8, 2, 4, array({1.0f, 1.0f})),
                    "[stft] window must be one-dimensional of length win_length (4), got shape (2,).");
}

TEST(Pad, ReflectAndSymmetricModes) {
  // NumPy's and MLX's values, including pads longer than the array.
  array a = arange(4);
  auto vals = [](const array& x) { return to_vector<int32_t>(x); };
  EXPECT_EQ(vals(pad(a, {{3, 3}}, array(0), "reflect")),
            std::vector<int32_t>({3, 2, 1, 0, 1, 2, 3, 2, 1, 0}));
  EXPECT_EQ(vals(pad(a, {{3, 3}}, array(0), "symmetric")),
            std::vector<int32_t>({2, 1, 0, 0, 1, 2, 3, 3, 2, 1}));
  EXPECT_EQ(vals(pad(a, {{6, 5}}, array(0), "reflect")),
            std::vector<int32_t>({0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2}));
  EXPECT_EQ(vals(pad(a, {{9, 2}}, array(0), "symmetric")),
            std::vector<int32_t>({0, 0, 1, 2, 3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2}));
  EXPECT_EQ(vals(pad(arange(1), {{1, 0}}, array(0), "reflect")), std::vector<int32_t>({0, 0}));
  // Two axes of a non-contiguous array.
  array m = transpose(reshape(arange(6), {3, 2}));  // [[0, 2, 4], [1, 3, 5]]
  EXPECT_EQ(vals(pad(m, {{1, 0}, {0, 1}}, array(0), "reflect")),
            std::vector<int32_t>({1, 3, 5, 3, 0, 2, 4, 2, 1, 3, 5, 3}));
  EXPECT_THAT_ERROR(pad(zeros({0}), {{1, 0}}, array(0), "reflect"),
                    "[pad] cannot reflect-pad axis 0 of size 0 (shape (0,)).");
  EXPECT_THAT_ERROR(pad(a, {{1, 0}}, array(0), "wrap"),
                    "[pad] mode must be \"constant\", \"edge\", \"reflect\" or \"symmetric\", got \"wrap\".");
}

}  // namespace
}  // namespace rill::test
