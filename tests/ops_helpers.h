// Helpers shared by the op tests: reading arrays element by element through
// their strides (independent of rill's kernels), random inputs, and
// comparisons with a tolerance that fits the dtype.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "rill/rill.h"

namespace rill::test {

inline const std::vector<Dtype> kAllTypes = {bool_, uint8,   uint16,   uint32,  uint64,
                                             int8,  int16,   int32,    int64,   float16,
                                             bfloat16, float32, float64};
inline const std::vector<Dtype> kNumericTypes = {uint8, uint16,  uint32,   uint64,  int8,
                                                 int16, int32,   int64,    float16, bfloat16,
                                                 float32, float64};
inline const std::vector<Dtype> kFloatTypes = {float16, bfloat16, float32, float64};

// Calls f(T{}) with T the C++ type of `t`.
template <typename F>
void with_type(Dtype t, F&& f) {
  if (t == bool_) return f(bool{});
  if (t == uint8) return f(uint8_t{});
  if (t == uint32) return f(uint32_t{});
  if (t == int32) return f(int32_t{});
  if (t == int64) return f(int64_t{});
  if (t == int8) return f(int8_t{});
  if (t == int16) return f(int16_t{});
  if (t == uint16) return f(uint16_t{});
  if (t == uint64) return f(uint64_t{});
  if (t == float16) return f(float16_t{});
  if (t == bfloat16) return f(bfloat16_t{});
  if (t == float32) return f(float{});
  return f(double{});
}

inline size_t numel(const Shape& shape) {
  size_t n = 1;
  for (int32_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

// Calls f(index) for every index of `shape` in row-major order.
template <typename F>
void for_each_index(const Shape& shape, F&& f) {
  if (numel(shape) == 0) return;
  std::vector<int> idx(shape.size(), 0);
  for (;;) {
    f(idx);
    int d = static_cast<int>(shape.size()) - 1;
    for (; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

// The elements of `a` in row-major order, read through its strides.
template <typename T>
std::vector<T> to_vector(array a) {
  a.eval();
  const T* p = a.data<T>();
  const Strides& st = a.strides();
  std::vector<T> out;
  out.reserve(a.size());
  for_each_index(a.shape(), [&](const std::vector<int>& idx) {
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * st[d];
    out.push_back(p[off]);
  });
  return out;
}

inline std::vector<double> to_doubles(const array& a) {
  std::vector<double> out;
  with_type(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for (T v : to_vector<T>(a)) {
      if constexpr (std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>) {
        out.push_back(static_cast<float>(v));
      } else {
        out.push_back(static_cast<double>(v));
      }
    }
  });
  return out;
}

// Relative precision to expect of one rounding to `t` (0 for exact types).
inline double eps_of(Dtype t) {
  if (t == float16) return 1.0 / 1024;
  if (t == bfloat16) return 1.0 / 128;
  if (t == float32) return 3e-7;
  if (t == float64) return 1e-15;
  return 0;
}

inline ::testing::AssertionResult all_close(const std::vector<double>& got,
                                            const std::vector<double>& want,
                                            double rtol = 0, double atol = 0) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure()
           << "size " << got.size() << " != expected " << want.size();
  }
  for (size_t i = 0; i < got.size(); ++i) {
    double g = got[i], w = want[i];
    if (std::isnan(w) ? std::isnan(g)
                      : (g == w || std::abs(g - w) <= atol + rtol * std::abs(w))) {
      continue;
    }
    return ::testing::AssertionFailure()
           << "element " << i << ": got " << g << ", expected " << w << " (rtol " << rtol
           << ", atol " << atol << ")";
  }
  return ::testing::AssertionSuccess();
}

// `count` values of kind `t`: integers in [lo, hi] (clamped at 0 for unsigned
// and bool), or uniform reals in [lo, hi).
inline std::vector<double> random_values(size_t count, Dtype t, uint32_t seed,
                                         double lo = -4, double hi = 4) {
  std::mt19937 gen(seed);
  std::vector<double> v(count);
  if (is_floating_point(t)) {
    std::uniform_real_distribution<double> dist(lo, hi);
    for (double& x : v) x = dist(gen);
  } else {
    int64_t l = static_cast<int64_t>(lo), h = static_cast<int64_t>(hi);
    if (is_unsigned(t)) l = std::max<int64_t>(l, 0);
    if (t == bool_) h = 1;
    std::uniform_int_distribution<int64_t> dist(l, h);
    for (double& x : v) x = static_cast<double>(dist(gen));
  }
  return v;
}

inline array random_array(const Shape& shape, Dtype t, uint32_t seed, double lo = -4,
                          double hi = 4) {
  return array(random_values(numel(shape), t, seed, lo, hi), shape, t);
}

inline std::string str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

// Expects `fn` to throw std::invalid_argument whose message contains `op_tag`
// (e.g. "[reshape]").
template <typename F>
::testing::AssertionResult throws_invalid(F&& fn, const std::string& op_tag) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    if (std::string(e.what()).find(op_tag) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "message lacks " << op_tag << ": " << e.what();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "wrong exception type: " << e.what();
  }
  return ::testing::AssertionFailure() << "nothing thrown (expected " << op_tag << ")";
}

}  // namespace rill::test
