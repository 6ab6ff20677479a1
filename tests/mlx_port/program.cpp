// An MLX C++ program that builds against rill unchanged but for the include
// and the namespace: with -DPORT_MLX it is MLX's, otherwise rill's. It prints
// each result (shape, dtype, values to 4 decimals); tests/mlx_port/expected.txt
// is MLX's output (scripts/mlx-port-check regenerates it and compares), and the
// ctest MlxPort.SameOutputAsMlx compares rill's with it.
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#ifdef PORT_MLX
#include "mlx/mlx.h"
namespace mx = mlx::core;
#else
#include "rill/rill.h"
namespace mx = rill;
#endif

namespace {

std::string shape_of(const mx::array& a) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < a.shape().size(); ++i) s << (i ? "," : "") << a.shape()[i];
  s << ")";
  return s.str();
}

void show(const char* name, mx::array a) {
  std::ostringstream dt;
  dt << a.dtype();
  std::printf("%s %s %s:", name, shape_of(a).c_str(), dt.str().c_str());
  if (a.dtype() == mx::complex64) {
    mx::array re = mx::real(a), im = mx::imag(a);
    mx::eval(re, im);
    for (size_t i = 0; i < re.size(); ++i) {
      std::printf(" %.4f%+.4fj", re.data<float>()[i] + 0.0f, im.data<float>()[i] + 0.0f);
    }
  } else if (mx::issubdtype(a.dtype(), mx::integer)) {
    mx::array i = mx::reshape(mx::contiguous(mx::astype(a, mx::int64)), {-1});
    mx::eval(i);
    for (size_t j = 0; j < i.size(); ++j) std::printf(" %lld", (long long)i.data<int64_t>()[j]);
  } else {
    mx::array f = mx::astype(a, mx::float32);
    f = mx::reshape(mx::contiguous(f), {-1});
    mx::eval(f);
    for (size_t i = 0; i < f.size(); ++i) std::printf(" %.4f", f.data<float>()[i] + 0.0f);
  }
  std::printf("\n");
}

}  // namespace

int main() {
  mx::array x = mx::reshape(mx::arange(12, mx::float32), {3, 4});
  mx::array y = mx::divide(mx::subtract(x, mx::array(5.5f)), mx::array(3.0f));
  show("scalar_double", mx::array(1.5));
  show("literal_list", mx::array({1.0, 2.5}));
  show("transpose", mx::transpose(x));
  show("sum_axis", mx::sum(x, 1));
  show("mean_keep", mx::mean(x, 0, true));
  show("var_ddof", mx::var(x, std::vector<int>{1}, false, 1));
  show("std_all", mx::std(y));
  show("matmul", mx::matmul(x, mx::transpose(x)));
  show("softmax", mx::softmax(y, std::vector<int>{1}));
  show("logsumexp", mx::logsumexp(y, 1));
  show("cumsum_rev", mx::cumsum(x, 1, true, true));
  show("cumprod", mx::cumprod(mx::add(y, mx::array(2.0f)), 0));
  show("cummax", mx::cummax(y, 1));
  show("sort", mx::sort(mx::negative(y), 1));
  show("argsort", mx::argsort(mx::negative(y), 1));
  show("take", mx::take(x, mx::array({2, 0}), 0));
  show("take_along", mx::take_along_axis(x, mx::array({3, 0, 1}, {3, 1}), 1));
  show("concat", mx::concatenate({x, y}, 0));
  show("stack", mx::stack({x, y}, 1));
  show("where", mx::where(mx::greater(y, mx::array(0.0f)), x, y));
  show("clip", mx::clip(y, mx::array(-1.0f), mx::array(1.0f)));
  show("linspace", mx::linspace(0.0, 1.0, 5));
  show("tril", mx::tril(x, -1));
  show("triu", mx::triu(x, 1));
  show("flip", mx::flip(x, 1));
  show("roll", mx::roll(x, 5));
  show("tile", mx::tile(mx::array({1, 2}), {2, 2}));
  show("repeat", mx::repeat(mx::array({1, 2, 3}), 2));
  show("diag", mx::diag(x, 1));
  show("trace", mx::trace(mx::reshape(mx::arange(9, mx::float32), {3, 3})));
  show("outer", mx::outer(mx::array({1.0f, 2.0f}), mx::array({3.0f, 4.0f, 5.0f})));
  show("kron", mx::kron(mx::eye(2), mx::array({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2})));
  show("tensordot", mx::tensordot(x, mx::transpose(x), 1));
  show("einsum", mx::einsum("ij,kj->ik", {x, y}));
  show("einsum_trace", mx::einsum("ii", {mx::reshape(mx::arange(16, mx::float32), {4, 4})}));
  show("floor_divide", mx::floor_divide(mx::array({-7, 7, 8}), mx::array({2, -2, 3})));
  show("remainder", mx::remainder(mx::array({-7.5f, 7.5f}), mx::array({2.0f, -2.0f})));
  show("bitwise", mx::bitwise_xor(mx::array({12, 10}), mx::array({10, 3})));
  show("shift", mx::left_shift(mx::array({1, 3}, mx::uint8), mx::array({3, 7}, mx::uint8)));
  show("isclose_inf", mx::isclose(mx::array({INFINITY, INFINITY, 1.0f}),
                                  mx::array({-INFINITY, INFINITY, 1.0f + 1e-7f})));
  show("flatten_clamp", mx::flatten(mx::zeros({2, 3, 4}), 1, 10));
  show("pad_reflect", mx::pad(mx::arange(4), {{3, 2}}, mx::array(0), "reflect"));
  show("pad_symmetric", mx::pad(mx::arange(3), {{4, 1}}, mx::array(0), "symmetric"));
  show("searchsorted", mx::searchsorted(mx::array({1.0f, 2.0f, 2.0f, 5.0f}),
                                        mx::array({2.0f, 0.0f, 6.0f}), "right"));
  show("rfft_abs", mx::abs(mx::fft::rfft(mx::array({1.0f, 2.0f, 0.0f, -1.0f, 3.0f}))));
  show("fft2", mx::fft::fft2(mx::reshape(mx::arange(6, mx::float32), {2, 3})));
  show("irfft", mx::fft::irfft(mx::fft::rfft(mx::array({1.0f, 2.0f, 0.0f, -1.0f}))));
  show("fftfreq", mx::fft::fftfreq(6, 0.5));
  show("fftshift", mx::fft::fftshift(mx::arange(7)));
  show("complex_mul", mx::multiply(mx::array(mx::complex64_t(1, 2)),
                                   mx::array({mx::complex64_t(3, -1), mx::complex64_t(0, 1)})));
  show("conv1d", mx::conv1d(mx::reshape(mx::arange(10, mx::float32), {1, 5, 2}),
                            mx::reshape(mx::arange(12, mx::float32), {2, 3, 2}), 1, 1));
  show("conv2d", mx::conv2d(mx::reshape(mx::arange(32, mx::float32), {1, 4, 4, 2}),
                            mx::ones({3, 2, 2, 2}), {2, 2}, {1, 0}));
  show("conv_t1d", mx::conv_transpose1d(mx::reshape(mx::arange(6, mx::float32), {1, 3, 2}),
                                        mx::ones({1, 3, 2}), 2));
  show("hadamard", mx::hadamard_transform(mx::array({1.0f, 2.0f, 3.0f, 4.0f})));
  mx::array k = mx::random::key(7);
  show("key", k);
  show("split", mx::random::split(k, 3));
  show("bits", mx::random::bits({5}, 4, k));
  show("linalg_norm", mx::linalg::norm(x));
  show("inv", mx::linalg::inv(mx::array({4.0f, 7.0f, 2.0f, 6.0f}, {2, 2}), mx::Device::cpu));
  show("to_fp8", mx::to_fp8(mx::array({0.3f, -448.0f, 1000.0f})));
  show("view", mx::view(mx::array({1.0f}), mx::uint32));
  mx::array qw = mx::reshape(mx::multiply(mx::sin(mx::arange(256, mx::float32)),
                                          mx::array(3.0f)), {2, 128});
  auto q4 = mx::quantize(qw, 64, 4);
  show("quantize4_codes", q4[0]);
  show("quantize4_scales", q4[1]);
  show("quantize4_biases", q4[2]);
  show("dequantize4", mx::slice(mx::dequantize(q4[0], q4[1], q4[2], 64, 4), {0, 0}, {2, 6}));
  auto q3 = mx::quantize(mx::astype(qw, mx::bfloat16), 32, 3);
  show("quantize3_codes", q3[0]);
  show("quantize3_scales", q3[1]);
  auto f4 = mx::quantize(qw, std::nullopt, std::nullopt, "mxfp4");
  show("mxfp4_codes", f4[0]);
  show("mxfp4_scales", f4[1]);
  show("mxfp4_dequantize", mx::slice(mx::dequantize(f4[0], f4[1], std::nullopt, std::nullopt,
                                                    std::nullopt, "mxfp4"),
                                     {0, 0}, {1, 8}));
  return 0;
}
