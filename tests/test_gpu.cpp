// The GPU backend: devices, CPU/GPU agreement for every op, attention against
// the composed float32 reference, streams and threads, memory, errors. On a
// machine without a GPU every test prints a visible skip line.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "rill/rill.h"
#include "rill/testing.h"
#include "backend/gpu.h"

using namespace rill;

namespace {

const Device kGpu(Device::gpu, 0);
const Device kCpu(Device::cpu, 0);

#define REQUIRE_GPU()                                                                     \
  do {                                                                                    \
    if (!is_available(kGpu)) {                                                            \
      GTEST_SKIP() << "no GPU: " << detail::gpu_unavailable_reason();                     \
    }                                                                                     \
  } while (0)

std::vector<double> host_values(const array& a) {
  array h = astype(a, float64, kCpu);
  h.eval();
  const double* p = h.data<double>();
  return std::vector<double>(p, p + h.size());
}

// Relative error ||a - b|| / ||b|| (NaN and inf must match exactly).
double rel_error(const array& got, const array& want) {
  std::vector<double> g = host_values(got), w = host_values(want);
  EXPECT_EQ(g.size(), w.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < g.size() && i < w.size(); ++i) {
    if (std::isnan(w[i]) || std::isinf(w[i])) {
      EXPECT_TRUE(std::isnan(w[i]) ? std::isnan(g[i]) : g[i] == w[i]) << "element " << i;
      continue;
    }
    num += (g[i] - w[i]) * (g[i] - w[i]);
    den += w[i] * w[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

// Computes f on the CPU and on the GPU and compares.
void agree(const std::string& what, const std::function<array(StreamOrDevice)>& f,
           double tol = 1e-6) {
  SCOPED_TRACE(what);
  array c = f(kCpu);
  array g = f(kGpu);
  EXPECT_EQ(g.shape(), c.shape());
  EXPECT_EQ(g.dtype(), c.dtype());
  g.eval();
  EXPECT_EQ(g.stream().device, kGpu);
  EXPECT_LE(rel_error(g, c), tol);
}

array rnd(const Shape& shape, Dtype t = float32, uint64_t seed = 1) {
  return astype(random::normal(shape, float32, random::key(seed), kCpu), t, kCpu);
}

}  // namespace

TEST(Gpu, DevicesAndInfo) {
  REQUIRE_GPU();
  EXPECT_GE(device_count(Device::gpu), 1);
  const auto& info = device_info(kGpu);
  EXPECT_FALSE(std::get<std::string>(info.at("device_name")).empty());
  EXPECT_GT(std::get<size_t>(info.at("total_memory")), size_t(1) << 30);
  EXPECT_GT(std::get<size_t>(info.at("multiprocessor_count")), 0u);
  EXPECT_FALSE(std::get<std::string>(info.at("compute_capability")).empty());
  std::printf("gpu: %s, %s, %zu SMs\n", std::get<std::string>(info.at("device_name")).c_str(),
              std::get<std::string>(info.at("architecture")).c_str(),
              std::get<size_t>(info.at("multiprocessor_count")));
  EXPECT_THROW(device_info(Device(Device::gpu, device_count(Device::gpu))),
               std::invalid_argument);
}

TEST(Gpu, ElementwiseAgree) {
  REQUIRE_GPU();
  array x = rnd({33, 65}), y = rnd({33, 65}, float32, 2), r = rnd({65}, float32, 3);
  array pos = abs(x, kCpu) + 0.5f;
  using F = array (*)(const array&, StreamOrDevice);
  for (auto [name, f] : std::vector<std::pair<const char*, F>>{
           {"negative", negative}, {"abs", abs}, {"sign", sign}, {"exp", exp},
           {"sqrt", nullptr}, {"square", square}, {"sin", sin}, {"cos", cos}, {"tanh", tanh},
           {"sigmoid", sigmoid}, {"erf", erf}, {"floor", floor}, {"ceil", ceil}}) {
    if (!f) continue;
    agree(name, [&, f = f](StreamOrDevice s) { return f(x, s); });
  }
  agree("log", [&](StreamOrDevice s) { return log(pos, s); });
  agree("sqrt", [&](StreamOrDevice s) { return sqrt(pos, s); });
  agree("rsqrt", [&](StreamOrDevice s) { return rsqrt(pos, s); });
  agree("log1p", [&](StreamOrDevice s) { return log1p(pos, s); });
  agree("add broadcast", [&](StreamOrDevice s) { return add(x, r, s); });
  agree("subtract", [&](StreamOrDevice s) { return subtract(x, y, s); });
  agree("multiply transposed", [&](StreamOrDevice s) {
    return multiply(transpose(x, s), transpose(y, s), s);
  });
  agree("divide", [&](StreamOrDevice s) { return divide(x, pos, s); });
  agree("maximum", [&](StreamOrDevice s) { return maximum(x, y, s); });
  agree("minimum", [&](StreamOrDevice s) { return minimum(x, y, s); });
  agree("power", [&](StreamOrDevice s) { return power(pos, y, s); });
  agree("remainder", [&](StreamOrDevice s) { return remainder(x, pos, s); });
  agree("less", [&](StreamOrDevice s) { return less(x, y, s); });
  agree("equal", [&](StreamOrDevice s) { return equal(x, x, s); });
  agree("where", [&](StreamOrDevice s) { return where(greater(x, y, s), x, y, s); });
  array xi = astype(x * 10.0f, int32, kCpu), yi = astype(y * 10.0f, int32, kCpu);
  agree("int divide", [&](StreamOrDevice s) { return divide(xi, yi + 100, s); });
  agree("int remainder", [&](StreamOrDevice s) { return remainder(xi, yi + 100, s); });
  agree("int multiply", [&](StreamOrDevice s) { return multiply(xi, yi, s); });
  for (Dtype t : {bool_, uint8, uint32, int32, int64, float16, bfloat16, float32, float64}) {
    for (Dtype u : {bool_, uint8, int32, int64, bfloat16, float32, float64}) {
      agree("astype", [&](StreamOrDevice s) {
        return astype(astype(multiply(x, array(100.0f), s), t, s), u, s);
      });
    }
  }
  agree("bf16 add", [&](StreamOrDevice s) {
    return add(astype(x, bfloat16, s), astype(y, bfloat16, s), s);
  }, 1e-2);
  agree("arange", [&](StreamOrDevice s) { return arange(0.5, 100.0, 0.25, float32, s); });
  agree("reshape of a transpose", [&](StreamOrDevice s) {
    return reshape(transpose(x, s), {65 * 33}, s);
  });
}

TEST(Gpu, ReductionsAgree) {
  REQUIRE_GPU();
  array x = rnd({7, 300, 9});
  array big = rnd({1 << 20});
  for (auto axes : std::vector<std::vector<int>>{{0}, {1}, {2}, {0, 2}, {0, 1, 2}}) {
    std::string a = "axes";
    for (int v : axes) {
      a += ' ';  // (" " + std::to_string(v) trips GCC 12's -Wrestrict)
      a += std::to_string(v);
    }
    agree("sum " + a, [&](StreamOrDevice s) { return sum(x, axes, false, s); });
    agree("max " + a, [&](StreamOrDevice s) { return max(x, axes, true, s); });
    agree("min " + a, [&](StreamOrDevice s) { return min(x, axes, false, s); });
    agree("mean " + a, [&](StreamOrDevice s) { return mean(x, axes, false, s); });
    agree("all " + a, [&](StreamOrDevice s) { return all(greater(x, array(-2.0f), s), axes, false, s); });
    agree("any " + a, [&](StreamOrDevice s) { return any(greater(x, array(2.0f), s), axes, false, s); });
  }
  agree("prod", [&](StreamOrDevice s) { return prod(x * 0.1f + 1.0f, 1, false, s); });
  agree("sum of 2^20 (split)", [&](StreamOrDevice s) { return sum(big, s); }, 1e-9);
  // Contiguous rows read with 16-byte loads: misaligned starts (views from 1
  // or 3, made on the device under test), odd lengths, every element size.
  for (int start : {1, 3}) {
    const int n = (1 << 20) - 7;
    auto part = [&](Dtype t, StreamOrDevice s) {
      return slice(astype(big, t, s), {start}, {start + n}, s);
    };
    std::string at = " from " + std::to_string(start);
    agree("sum" + at, [&](StreamOrDevice s) { return sum(part(float32, s), s); }, 1e-9);
    agree("max" + at, [&](StreamOrDevice s) { return max(part(float32, s), s); });
    agree("f16 sum" + at, [&](StreamOrDevice s) { return sum(part(float16, s), s); }, 1e-3);
    agree("f64 sum" + at, [&](StreamOrDevice s) { return sum(part(float64, s), s); }, 1e-12);
    agree("int sum" + at, [&](StreamOrDevice s) {
      return sum(slice(astype(big * 100.0f, int32, s), {start}, {start + n}, s), s);
    });
    agree("any" + at, [&](StreamOrDevice s) {
      return any(slice(greater(big, array(4.5f), s), {start}, {start + n}, s), s);
    });
    agree("all" + at, [&](StreamOrDevice s) {
      return all(slice(greater(big, array(-4.5f), s), {start}, {start + n}, s), s);
    });
    agree("rows" + at, [&](StreamOrDevice s) {
      return sum(reshape(slice(big, {start}, {start + 1000 * 1000}, s), {1000, 1000}, s), 1,
                 false, s);
    }, 1e-9);
  }
  agree("bf16 sum", [&](StreamOrDevice s) { return sum(astype(x, bfloat16, s), 1, false, s); },
        1e-2);
  agree("int sum", [&](StreamOrDevice s) { return sum(astype(x * 10.0f, int32, s), 1, false, s); });
  agree("argmax", [&](StreamOrDevice s) { return argmax(x, 1, false, s); });
  agree("argmin", [&](StreamOrDevice s) { return argmin(x, 2, false, s); });
  agree("softmax", [&](StreamOrDevice s) { return softmax(x, 1, false, s); });
  agree("softmax last", [&](StreamOrDevice s) { return softmax(x, -1, false, s); });
  agree("logsumexp", [&](StreamOrDevice s) { return logsumexp(x, 1, false, s); });
}

TEST(Gpu, MatmulAgree) {
  REQUIRE_GPU();
  array a = rnd({3, 70, 90}), b = rnd({90, 50}, float32, 4), c = rnd({3, 50, 90}, float32, 5);
  agree("matmul batched x shared", [&](StreamOrDevice s) { return matmul(a, b, s); }, 1e-5);
  agree("matmul x transposed", [&](StreamOrDevice s) {
    return matmul(a, transpose(c, {0, 2, 1}, s), s);
  }, 1e-5);
  array at = rnd({3, 90, 70}, float32, 6);
  agree("matmul transposed x", [&](StreamOrDevice s) {
    return matmul(transpose(at, {0, 2, 1}, s), b, s);
  }, 1e-5);
  agree("matmul broadcast batch", [&](StreamOrDevice s) {
    return matmul(reshape(a, {3, 1, 70, 90}, s), reshape(c, {1, 3, 90, 50}, s), s);
  }, 1e-5);
  for (Dtype t : {float16, bfloat16, float64}) {
    agree("matmul half/double", [&](StreamOrDevice s) {
      return matmul(astype(a, t, s), astype(b, t, s), s);
    }, t == float64 ? 1e-12 : 1e-2);
  }
  agree("matvec", [&](StreamOrDevice s) { return matmul(rnd({1, 90}), b, s); }, 1e-5);
}

// addmm with a linear layer's bias row on the GPU: the same values as the
// CPU's, for every float type, batched, scaled, and with a bias that is a
// strided view.
TEST(Gpu, AddmmBiasRowAgrees) {
  REQUIRE_GPU();
  array x = rnd({4, 64, 96}), w = rnd({96, 160}, float32, 8), b = rnd({160}, float32, 9);
  array wide = rnd({320}, float32, 10);
  array r = rnd({4, 64, 160}, float32, 11), rows = rnd({64, 160}, float32, 12);
  for (Dtype t : {float32, bfloat16, float16}) {
    const double tol = t == float32 ? 1e-5 : 2e-2;
    agree("bias row", [&](StreamOrDevice s) {
      return addmm(astype(b, t, s), astype(x, t, s), astype(w, t, s), 1.0f, 1.0f, s);
    }, tol);
    agree("bias row, alpha 0.5", [&](StreamOrDevice s) {
      return addmm(astype(b, t, s), astype(x, t, s), astype(w, t, s), 0.5f, 1.0f, s);
    }, tol);
    agree("strided bias", [&](StreamOrDevice s) {
      array sb = slice(astype(wide, t, s), {0}, {320}, {2}, s);
      return addmm(sb, astype(x, t, s), astype(w, t, s), 1.0f, 1.0f, s);
    }, tol);
    // A full addend is read in place (beta any), a partial broadcast copied.
    agree("residual, beta 0.5", [&](StreamOrDevice s) {
      return addmm(astype(r, t, s), astype(x, t, s), astype(w, t, s), 1.0f, 0.5f, s);
    }, tol);
    agree("bias row, beta 2", [&](StreamOrDevice s) {
      return addmm(astype(b, t, s), astype(x, t, s), astype(w, t, s), 1.0f, 2.0f, s);
    }, tol);
    agree("rows broadcast over the batch", [&](StreamOrDevice s) {
      return addmm(astype(rows, t, s), astype(x, t, s), astype(w, t, s), 1.0f, 1.0f, s);
    }, tol);
  }
}

TEST(Gpu, SmallMatmulShapesAgree) {
  REQUIRE_GPU();
  // Every small (M, K, N), host inputs, row-major and transposed operands.
  int bad = 0;
  for (int m : {1, 2, 3, 5, 8, 17}) {
    for (int k : {1, 2, 3, 5, 8, 17}) {
      for (int n : {1, 2, 3, 5, 8, 17}) {
        array a = rnd({m, k}, float32, 100 + m * 31 + k), b = rnd({k, n}, float32, 200 + n * 7 + k);
        array bt = rnd({n, k}, float32, 300 + n);
        for (int variant = 0; variant < 2; ++variant) {
          auto f = [&](StreamOrDevice s) {
            return variant == 0 ? matmul(a, b, s) : matmul(a, transpose(bt, s), s);
          };
          array c = f(kCpu), g = f(kGpu);
          double e = rel_error(g, c);
          if (!(e <= 1e-5)) {
            if (++bad <= 10) {
              ADD_FAILURE() << "matmul M=" << m << " K=" << k << " N=" << n
                            << (variant ? " (b transposed)" : "") << ": relative error " << e;
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

namespace {

// An r x c float32 operand with a random layout (row-major, transposed,
// strided slice, broadcast, reshaped view), its base either on the host or
// computed on `base_dev`, the layout op on `view_dev`.
array random_operand(std::mt19937& rng, int r, int c, Device base_dev, Device view_dev,
                     std::string& how) {
  auto base = [&](const Shape& shape) {
    array b = rnd(shape, float32, rng());
    if (rng() % 2) return b;  // host values
    return multiply(b, array(1.0f), base_dev);
  };
  const char* dev = view_dev == kGpu ? "g" : "c";
  switch (rng() % 5) {
    case 0:
      how += "plain ";
      return base({r, c});
    case 1:
      how += std::string("transpose@") + dev + " ";
      return transpose(base({c, r}), view_dev);
    case 2: {
      int sr = 1 + rng() % 3, sc = 1 + rng() % 3;
      how += std::string("slice/") + std::to_string(sr) + "," + std::to_string(sc) + "@" + dev +
             " ";
      return slice(base({1 + sr * r, 2 + sc * c}), {1, 2}, {1 + sr * r, 2 + sc * c}, {sr, sc},
                   view_dev);
    }
    case 3:
      how += std::string("broadcast@") + dev + " ";
      return broadcast_to(base(rng() % 2 ? Shape{1, c} : Shape{r, 1}), {r, c}, view_dev);
    default:
      how += std::string("reshape-view@") + dev + " ";
      return reshape(slice(base({r, c, 2}), {0, 0, 1}, {r, c, 2}, view_dev), {r, c}, view_dev);
  }
}

// C = A B / K in float64 from the operands' host values.
std::vector<double> reference_matmul(const array& a, const array& b) {
  std::vector<double> x = host_values(a), y = host_values(b);
  const int m = a.shape(0), k = a.shape(1), n = b.shape(1);
  std::vector<double> out(static_cast<size_t>(m) * n);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double acc = 0;
      for (int t = 0; t < k; ++t) acc += x[i * k + t] * y[t * n + j];
      out[i * n + j] = acc / k;
    }
  }
  return out;
}

// One random trial: operands with random layouts on random devices, the
// product on one device and its scaling on another. Returns "" or what failed.
std::string matmul_trial(std::mt19937& rng) {
  const int dims[] = {1, 2, 3, 5, 8, 13, 31};
  const int m = dims[rng() % 7], k = dims[rng() % 7], n = dims[rng() % 7];
  auto pick = [&] { return rng() % 2 ? kGpu : kCpu; };
  std::string how;
  array a = random_operand(rng, m, k, pick(), pick(), how);
  array b = random_operand(rng, k, n, pick(), pick(), how);
  Device on = pick(), scale_on = pick();
  array c = multiply(matmul(a, b, on), array(1.0f / static_cast<float>(k)), scale_on);
  std::vector<double> want = reference_matmul(a, b);
  std::vector<double> got = host_values(c);
  for (size_t i = 0; i < want.size(); ++i) {
    if (!(std::abs(got[i] - want[i]) <= 1e-4 + 1e-4 * std::abs(want[i]))) {
      return "M=" + std::to_string(m) + " K=" + std::to_string(k) + " N=" + std::to_string(n) +
             " " + how + "matmul@" + (on == kGpu ? "g" : "c") + " scale@" +
             (scale_on == kGpu ? "g" : "c") + ": element " + std::to_string(i) + " is " +
             std::to_string(got[i]) + ", expected " + std::to_string(want[i]);
    }
  }
  return "";
}

}  // namespace

// Products of operands in every layout the views make, with inputs and
// outputs moving between the devices, one at a time.
TEST(Gpu, RandomMatmulLayoutsAgree) {
  REQUIRE_GPU();
  std::mt19937 rng(12345);
  int bad = 0;
  for (int trial = 0; trial < 1500; ++trial) {
    std::string why = matmul_trial(rng);
    if (!why.empty() && ++bad <= 10) ADD_FAILURE() << "trial " << trial << ": " << why;
  }
  EXPECT_EQ(bad, 0);
}

// The same from eight threads at once, each on its own default streams.
TEST(Gpu, RandomMatmulLayoutsAgreeOnManyThreads) {
  REQUIRE_GPU();
  std::atomic<int> bad{0};
  std::mutex mu;
  std::vector<std::string> first;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(777 + t);
      for (int trial = 0; trial < 600; ++trial) {
        std::string why = matmul_trial(rng);
        if (why.empty()) continue;
        bad++;
        std::lock_guard lock(mu);
        if (first.size() < 10) first.push_back(why);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const std::string& f : first) ADD_FAILURE() << f;
  EXPECT_EQ(bad.load(), 0);
}

TEST(Gpu, FastOpsAgree) {
  REQUIRE_GPU();
  array x = rnd({2, 3, 17, 64}), w = rnd({64}, float32, 6), b = rnd({64}, float32, 7);
  agree("layer_norm", [&](StreamOrDevice s) { return fast::layer_norm(x, w, b, 1e-5f, s); },
        1e-5);
  agree("layer_norm no params", [&](StreamOrDevice s) {
    return fast::layer_norm(x, std::nullopt, std::nullopt, 1e-5f, s);
  }, 1e-5);
  agree("rms_norm", [&](StreamOrDevice s) { return fast::rms_norm(x, w, 1e-5f, s); }, 1e-5);
  agree("rope", [&](StreamOrDevice s) {
    return fast::rope(x, 32, false, 10000.0f, 1.0f, 3, std::nullopt, s);
  }, 1e-5);
  agree("rope traditional", [&](StreamOrDevice s) {
    return fast::rope(transpose(x, {0, 2, 1, 3}, s), 64, true, 500.0f, 0.5f, 0, std::nullopt, s);
  }, 1e-5);
  agree("gelu", [&](StreamOrDevice s) { return nn::gelu(x, s); }, 1e-5);
  array idx = array({3, 0, 16, 5}, int32);
  agree("take", [&](StreamOrDevice s) { return take(x, idx, 2, s); });
  agree("concatenate", [&](StreamOrDevice s) { return concatenate({x, x * 2.0f}, 1, s); });
  agree("cumsum", [&](StreamOrDevice s) { return cumsum(x, 2, false, true, s); }, 1e-6);
  agree("sort", [&](StreamOrDevice s) { return sort(x, -1, s); });
  agree("random bits are the CPU's", [&](StreamOrDevice s) {
    return random::bits({1000}, 4, random::key(42), s);
  }, 0);
}

// The gathers, joins, scans, sorts and random bits: device kernels that must
// give the CPU's results for every layout and dtype (exactly where the CPU's
// are exact).
TEST(Gpu, GatherJoinScanSortAgree) {
  REQUIRE_GPU();
  array x = rnd({4, 6, 33, 20});
  array xt = transpose(x, {2, 0, 3, 1}, kCpu);  // strided
  array idx = array({3, -1, 2, 0, 1, -4}, {2, 3}, int32);  // axes of 4 or more
  for (Dtype t : {float32, bfloat16, int64, uint8, bool_}) {
    SCOPED_TRACE(std::string("dtype ") + dtype_name(t));
    array a = astype(x * 7.0f, t, kCpu), at = astype(xt * 7.0f, t, kCpu);
    for (int axis : {0, 1, 3}) {
      agree("take axis " + std::to_string(axis),
            [&](StreamOrDevice s) { return take(a, idx, axis, s); }, 0);
      agree("take strided", [&](StreamOrDevice s) { return take(at, idx, axis, s); }, 0);
    }
    agree("take flat", [&](StreamOrDevice s) { return take(at, idx, s); }, 0);
    // Indices computed on the device: checked by the kernel.
    agree("take device indices", [&](StreamOrDevice s) {
      return take(a, add(idx, array(0, int32), s), 1, s);
    }, 0);
    // a's shape with other strides, and a broadcast.
    array as = transpose(astype(transpose(x * 3.0f, {0, 2, 1, 3}, kCpu), t, kCpu),
                         {0, 2, 1, 3}, kCpu);
    array ab = broadcast_to(astype(rnd({1, 1, 33, 1}, float32, 5), t, kCpu), {4, 2, 33, 20}, kCpu);
    for (int axis : {0, 1, 3}) {
      agree("concatenate axis " + std::to_string(axis), [&](StreamOrDevice s) {
        return concatenate({a, as, a}, axis, s);
      }, 0);
    }
    agree("concatenate broadcast and empty", [&](StreamOrDevice s) {
      return concatenate({as, ab, zeros({4, 0, 33, 20}, t, s), a}, 1, s);
    }, 0);
    agree("stack", [&](StreamOrDevice s) { return stack({a, as, a}, 2, s); }, 0);
    agree("pad", [&](StreamOrDevice s) {
      return pad(at, {{1, 2}, {0, 3}, {2, 0}, {1, 1}}, array(3, t), "constant", s);
    }, 0);
    agree("pad edge", [&](StreamOrDevice s) {
      return pad(at, {{2, 1}, {3, 0}, {0, 2}, {1, 1}}, array(0, t), "edge", s);
    }, 0);
    agree("take_along_axis", [&](StreamOrDevice s) {
      array i = astype(argsort(a, 1, kCpu), int64, kCpu);
      return take_along_axis(a, i, 1, s);
    }, 0);
    agree("take_along_axis broadcast", [&](StreamOrDevice s) {
      return take_along_axis(a, array({2, 0, -1}, {1, 1, 3, 1}, int32), 2, s);
    }, 0);
  }
  // Scans: lanes (inner > 1), short and long contiguous rows, every variant.
  array xi = astype(x * 100.0f, int32, kCpu);
  array lng = rnd({3, 5000}, float32, 9);
  for (bool reverse : {false, true}) {
    for (bool inclusive : {true, false}) {
      SCOPED_TRACE(std::string(reverse ? "reverse" : "forward") +
                   (inclusive ? " inclusive" : " exclusive"));
      for (int axis : {0, 1, 3}) {
        agree("cumsum", [&](StreamOrDevice s) { return cumsum(x, axis, reverse, inclusive, s); },
              1e-6);
        agree("cumsum int", [&](StreamOrDevice s) {
          return cumsum(xi, axis, reverse, inclusive, s);
        }, 0);
        agree("cumsum strided", [&](StreamOrDevice s) {
          return cumsum(xt, axis, reverse, inclusive, s);
        }, 1e-6);
      }
      agree("cumsum long rows", [&](StreamOrDevice s) {
        return cumsum(lng, 1, reverse, inclusive, s);
      }, 1e-6);
      agree("cumsum bfloat16", [&](StreamOrDevice s) {
        return cumsum(astype(x, bfloat16, kCpu), 3, reverse, inclusive, s);
      }, 1e-2);
    }
  }
  // Sorts: NaN last, -0 with +0, ties in input order, every op.
  std::vector<float> v = {3, NAN, -0.0f, 1, 0.0f, -2, 1, INFINITY, NAN, -INFINITY, 1, 0.0f};
  array special = reshape(array(v.data(), {12}, float32), {3, 4}, kCpu);
  std::vector<array> inputs = {x, xt, xi, astype(x, float16, kCpu), astype(xi, int64, kCpu),
                               astype(xi, uint8, kCpu), special, rnd({2, 70000}, float32, 4)};
  for (size_t k = 0; k < inputs.size(); ++k) {
    SCOPED_TRACE("sort input " + std::to_string(k));
    const array& in = inputs[k];
    for (int axis : {-1, 0}) {
      agree("sort", [&](StreamOrDevice s) { return sort(in, axis, s); }, 0);
      agree("argsort", [&](StreamOrDevice s) { return argsort(in, axis, s); }, 0);
      const int n = in.shape(axis < 0 ? in.ndim() - 1 : 0);
      agree("topk", [&](StreamOrDevice s) { return topk(in, std::min(n, 3), axis, s); }, 0);
      // A partition need not match the CPU's order; sorted, it must.
      agree("partition", [&](StreamOrDevice s) {
        return sort(partition(in, n / 2, axis, s), axis, s);
      }, 0);
      agree("argpartition", [&](StreamOrDevice s) {
        array i = argpartition(in, n / 2, axis, s);
        return sort(take_along_axis(in, i, axis, s), axis, s);
      }, 0);
      // The kth element itself is the kth of the sorted lane.
      agree("partition kth", [&](StreamOrDevice s) {
        array p = partition(in, n / 2, axis, s);
        return take(p, n / 2, axis < 0 ? in.ndim() - 1 : 0, s);
      }, 0);
    }
  }
  // Random bits: every width, sizes that end mid-counter.
  for (int width : {1, 2, 4}) {
    for (int n : {1, 7, 1001}) {
      agree("bits", [&](StreamOrDevice s) {
        return random::bits({n}, width, random::key(7 + n), s);
      }, 0);
    }
  }
  agree("uniform", [&](StreamOrDevice s) {
    return random::uniform({3, 500}, float32, random::key(3), s);
  }, 0);
  agree("normal bfloat16", [&](StreamOrDevice s) {
    return random::normal({3, 500}, bfloat16, random::key(4), s);
  }, 0);
}

// A bad index on the GPU fails the op with the CPU's message, whether the
// indices are still on the host or were computed on the device, and the
// stream takes new work afterwards.
TEST(Gpu, TakeOutOfRangeRaises) {
  REQUIRE_GPU();
  array a = rnd({5, 4});
  Stream s = new_stream(kGpu);
  auto raises = [&](array r) {
    try {
      r.eval();
    } catch (const std::exception& e) {
      return std::string(e.what()).find("index 7 is out of range for axis 0 of size 5") !=
             std::string::npos;
    }
    return false;
  };
  array host_idx = array({1, 7}, int32);
  EXPECT_TRUE(raises(take(a, host_idx, 0, s)));
  array dev_idx = add(array({1, 7}, int32), array(0, int32), s);
  EXPECT_TRUE(raises(take(a, dev_idx, 0, s)));
  EXPECT_TRUE(raises(take_along_axis(a, reshape(dev_idx, {2, 1}, s), 0, s)));
  array ok = take(a, array({4, -5}, int32), 0, s);
  EXPECT_EQ(rel_error(ok, take(a, array({4, 0}, int32), 0, kCpu)), 0.0);
}

namespace {

// Attention composed in float32 on the CPU: the reference of the fused kernels.
array reference(array q, array k, array v, float scale, bool causal) {
  q = astype(q, float32, kCpu);
  k = astype(k, float32, kCpu);
  v = astype(v, float32, kCpu);
  int hq = q.shape(1), hkv = k.shape(1);
  if (hq != hkv) {  // each key/value head serves hq / hkv query heads in a row
    auto widen = [&](const array& x) {
      Shape sh = x.shape();
      array e = expand_dims(x, 2, kCpu);
      e = broadcast_to(e, {sh[0], hkv, hq / hkv, sh[2], sh[3]}, kCpu);
      return reshape(e, {sh[0], hq, sh[2], sh[3]}, kCpu);
    };
    k = widen(k);
    v = widen(v);
  }
  array s = matmul(q, transpose(k, {0, 1, 3, 2}, kCpu), kCpu) * scale;
  if (causal) {
    int lq = q.shape(2), lk = k.shape(2);
    array i = reshape(arange(lq, kCpu), {lq, 1}, kCpu);
    array j = arange(lk, kCpu);
    s = where(less_equal(j, i + (lk - lq), kCpu), s, array(-INFINITY), kCpu);
  }
  return matmul(softmax(s, -1, false, kCpu), v, kCpu);
}

}  // namespace

TEST(Gpu, AttentionAgainstComposedReference) {
  REQUIRE_GPU();
  for (Dtype t : {float16, bfloat16, float32}) {
    for (int d : {64, 80, 128, 256}) {
      for (bool causal : {false, true}) {
        SCOPED_TRACE(std::to_string(d) + (causal ? " causal" : ""));
        array q = rnd({1, 2, 256, d}, t, 10 + d), k = rnd({1, 2, 256, d}, t, 11 + d),
              v = rnd({1, 2, 256, d}, t, 12 + d);
        float scale = 1.0f / std::sqrt(static_cast<float>(d));
        array got = fast::scaled_dot_product_attention(q, k, v, scale, causal ? "causal" : "",
                                                       std::nullopt, kGpu);
        double tol = t == float32 ? 1e-5 : 1e-2;
        EXPECT_LE(rel_error(got, reference(q, k, v, scale, causal)), tol) << t;
      }
    }
  }
  // Lq != Lk, grouped-query heads, masks, a long sequence.
  array q = rnd({2, 8, 37, 64}, float32, 20), k = rnd({2, 2, 300, 64}, float32, 21),
        v = rnd({2, 2, 300, 80}, float32, 22);
  EXPECT_LE(rel_error(fast::scaled_dot_product_attention(q, k, v, 0.125f, "causal",
                                                         std::nullopt, kGpu),
                      reference(q, k, v, 0.125f, true)),
            1e-5);
  array mask = greater(rnd({37, 300}, float32, 23), array(-0.5f), kCpu);
  agree("boolean mask", [&](StreamOrDevice s) {
    return fast::scaled_dot_product_attention(q, k, v, 0.125f, "", mask, s);
  }, 1e-5);
  array add_mask = rnd({2, 1, 37, 300}, float32, 24);
  agree("additive mask", [&](StreamOrDevice s) {
    return fast::scaled_dot_product_attention(q, k, v, 0.125f, "", add_mask, s);
  }, 1e-5);
  array lq = rnd({1, 4, 4096, 64}, bfloat16, 25);
  agree("long", [&](StreamOrDevice s) {
    return fast::scaled_dot_product_attention(lq, lq, lq, 0.125f, "causal", std::nullopt, s);
  }, 1e-2);
}

// Each attention kernel (the register-tiled tensor-core one for D in
// {64, 80, 96, 128}, the split decoding ones for Lq <= 8: on the tensor cores
// for half types at D 64 and 128, with one block taking up to 16 rows of
// grouped heads, and on the FMA pipes otherwise; the general ones for the
// rest) against the CPU's, on shapes with ragged tiles, causal rows that see
// nothing, grouped heads and masks.
TEST(Gpu, AttentionKernelsAgreeWithTheCpu) {
  REQUIRE_GPU();
  struct S {
    int b, hq, hkv, lq, lk, d;
  };
  const std::vector<S> shapes = {
      {1, 2, 2, 1, 1, 64},    {2, 4, 2, 1, 300, 64},  {1, 2, 2, 3, 1000, 128},
      {1, 2, 1, 8, 5000, 128}, {1, 1, 1, 8, 700, 256}, {1, 2, 2, 65, 130, 64},
      {2, 4, 2, 100, 37, 80},  {1, 2, 2, 129, 200, 96}, {1, 3, 1, 64, 64, 128},
      {1, 2, 2, 200, 150, 128}, {1, 2, 2, 9, 70, 128},  {2, 4, 2, 1, 2000, 128},
      {1, 4, 2, 400, 450, 64},  {1, 6, 2, 5, 777, 128}, {1, 6, 1, 2, 3000, 64},
      {2, 8, 2, 8, 1500, 64},   {1, 4, 2, 8, 5, 64},     {2, 2, 1, 6, 3, 128},
  };
  uint64_t seed = 500;
  for (Dtype t : {float16, bfloat16, float32}) {
    const double tol = t == float32 ? 1e-5 : t == float16 ? 2e-3 : 8e-3;
    for (const S& sh : shapes) {
      array q = rnd({sh.b, sh.hq, sh.lq, sh.d}, t, ++seed);
      array k = rnd({sh.b, sh.hkv, sh.lk, sh.d}, t, ++seed);
      array v = rnd({sh.b, sh.hkv, sh.lk, sh.d}, t, ++seed);
      const float scale = 1.0f / std::sqrt(static_cast<float>(sh.d));
      std::string what = std::to_string(sh.b) + "," + std::to_string(sh.hq) + "/" +
                         std::to_string(sh.hkv) + "," + std::to_string(sh.lq) + "x" +
                         std::to_string(sh.lk) + "," + std::to_string(sh.d) + " " +
                         dtype_name(t);
      for (bool causal : {false, true}) {
        agree(what + (causal ? " causal" : ""), [&](StreamOrDevice s) {
          return fast::scaled_dot_product_attention(q, k, v, scale, causal ? "causal" : "",
                                                    std::nullopt, s);
        }, tol);
      }
      array bmask = greater(rnd({sh.lq, sh.lk}, float32, ++seed), array(-0.7f), kCpu);
      agree(what + " boolean mask", [&](StreamOrDevice s) {
        return fast::scaled_dot_product_attention(q, k, v, scale, "", bmask, s);
      }, tol);
      array amask = astype(rnd({sh.b, 1, sh.lq, sh.lk}, float32, ++seed), t, kCpu);
      agree(what + " additive mask", [&](StreamOrDevice s) {
        return fast::scaled_dot_product_attention(q, k, v, scale, "", amask, s);
      }, tol);
      // A transposed query (strided rows): the general kernels.
      array qt = transpose(rnd({sh.b, sh.hq, sh.d, sh.lq}, t, ++seed), {0, 1, 3, 2}, kCpu);
      agree(what + " strided query", [&](StreamOrDevice s) {
        return fast::scaled_dot_product_attention(qt, k, v, scale, "", std::nullopt, s);
      }, tol);
    }
  }
}

// A negative softmax scale is valid, if rare; the Hopper kernel keeps its
// maxima unscaled and leaves such calls to the portable kernels.
TEST(Gpu, AttentionNegativeScale) {
  REQUIRE_GPU();
  for (Dtype t : {bfloat16, float16}) {
    array q = rnd({1, 2, 300, 64}, t, 901), k = rnd({1, 2, 300, 64}, t, 902),
          v = rnd({1, 2, 300, 64}, t, 903);
    for (bool causal : {false, true}) {
      agree(std::string("negative scale ") + dtype_name(t) + (causal ? " causal" : ""),
            [&](StreamOrDevice s) {
              return fast::scaled_dot_product_attention(q, k, v, -0.125f,
                                                        causal ? "causal" : "", std::nullopt, s);
            },
            t == float16 ? 2e-3 : 8e-3);
    }
  }
}

// Every shape the GPU's attention kernels take (the Hopper kernel's head dims
// 64 and 128 and the portable kernels' 80 and 256, both half types, causal or
// not, grouped heads, lengths that end inside a block, decoding), on fresh
// random inputs and with every new GPU buffer filled with NaN first, so that
// an output element left unwritten fails.
TEST(Gpu, AttentionWritesEveryElement) {
  REQUIRE_GPU();
  struct Poison {
    Poison() { rill::testing::poison_gpu_memory(true); }
    ~Poison() { rill::testing::poison_gpu_memory(false); }
  } poison;
  struct Case {
    int b, hq, hkv, lq, lk;
  };
  uint64_t seed = 500;
  for (Dtype t : {bfloat16, float16}) {
    for (int d : {64, 80, 128, 256}) {
      for (Case c : {Case{1, 2, 2, 256, 256}, Case{2, 4, 2, 200, 333}, Case{1, 6, 1, 77, 77},
                     Case{1, 2, 2, 130, 1000}, Case{3, 2, 2, 9, 129}, Case{2, 4, 2, 4, 700},
                     Case{2, 4, 2, 1, 900}}) {
        for (bool causal : {false, true}) {
          SCOPED_TRACE(std::string(dtype_name(t)) + " D=" + std::to_string(d) + " B=" +
                       std::to_string(c.b) + " Hq=" + std::to_string(c.hq) + " Hkv=" +
                       std::to_string(c.hkv) + " Lq=" + std::to_string(c.lq) + " Lk=" +
                       std::to_string(c.lk) + (causal ? " causal" : ""));
          array q = rnd({c.b, c.hq, c.lq, d}, t, seed++), k = rnd({c.b, c.hkv, c.lk, d}, t, seed++),
                v = rnd({c.b, c.hkv, c.lk, d}, t, seed++);
          const float scale = 1.0f / std::sqrt(static_cast<float>(d));
          array got = fast::scaled_dot_product_attention(q, k, v, scale, causal ? "causal" : "",
                                                         std::nullopt, kGpu);
          std::vector<double> g = host_values(got);
          size_t nan = 0;
          for (double x : g) nan += std::isnan(x);
          EXPECT_EQ(nan, 0u) << "elements left unwritten";
          EXPECT_LE(rel_error(got, reference(q, k, v, scale, causal)), 1e-2);
        }
      }
    }
  }
}

TEST(Gpu, AttentionMemoryIsLinear) {
  REQUIRE_GPU();
  // 4096 x 4096 scores would be 64 MiB of float32 per head.
  array q = rnd({1, 2, 4096, 64}, float32, 30);
  array qd = astype(q, float32, kGpu);
  qd.eval();
  synchronize(default_stream(kGpu));
  detail::gpu_reset_peak_memory(0);
  size_t before = detail::gpu_memory(0).active;
  array o = fast::scaled_dot_product_attention(qd, qd, qd, 0.125f, "", std::nullopt, kGpu);
  o.eval();
  size_t grew = detail::gpu_memory(0).peak - before;
  EXPECT_LE(grew, size_t(4) << 20) << "peak grew by " << grew << " bytes for a 2 MiB output";
}

TEST(Gpu, ThreadsStreamsAndCrossDeviceOrder) {
  REQUIRE_GPU();
  // Each thread on its own default GPU stream; results handed across devices.
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        array x = full({1000}, float(t + i), float32, kGpu);
        array y = exp(x * 0.0f, kGpu) + x;         // GPU
        array z = sum(y, kCpu);                     // GPU -> CPU
        array w = multiply(z, ones({4}, kGpu), kGpu);  // CPU -> GPU
        Stream other = new_stream(kGpu);
        array u = add(w, w, other);                 // another GPU stream
        if (u.shape() != Shape{4}) bad++;
        std::vector<double> got = host_values(u);
        double want = 2.0 * 1000.0 * (1.0 + t + i);
        for (double g : got) {
          if (g != want) bad++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  synchronize(default_stream(kGpu));
}

// Two GPUs (SPEC D2, S2, A2 across devices): each thread has its own default
// stream on each device, work lands on the device asked for, results cross
// between the devices and the CPU in both directions, from many threads at
// once; products and attention run on the second device as on the first.
TEST(Gpu, TwoGpus) {
  REQUIRE_GPU();
  if (device_count(Device::gpu) < 2) {
    GTEST_SKIP() << "one GPU: the two-GPU test needs a machine with two";
  }
  const Device g0(Device::gpu, 0), g1(Device::gpu, 1);
  EXPECT_NE(default_stream(g0), default_stream(g1));
  EXPECT_EQ(default_stream(g1).device, g1);
  {
    // The data of an op on GPU 1 is in GPU 1's memory.
    const size_t before0 = detail::gpu_memory(0).active, before1 = detail::gpu_memory(1).active;
    array big = zeros({64, 1024, 1024}, float32, g1);  // 256 MiB
    big.eval();
    EXPECT_EQ(big.stream().device, g1);
    EXPECT_GE(detail::gpu_memory(1).active, before1 + (size_t(256) << 20));
    EXPECT_LT(detail::gpu_memory(0).active, before0 + (size_t(256) << 20));
  }
  std::atomic<int> bad{0};
  std::mutex mu;
  std::vector<std::string> first;
  auto fail = [&](const std::string& why) {
    bad++;
    std::lock_guard lock(mu);
    if (first.size() < 10) first.push_back(why);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      // This thread's default streams: one per device, not another thread's.
      const Stream s0 = default_stream(g0), s1 = default_stream(g1);
      if (s0.device != g0 || s1.device != g1 || s0 == s1) fail("default streams");
      const Device mine = t % 2 ? g1 : g0, other = t % 2 ? g0 : g1;
      for (int i = 0; i < 20; ++i) {
        const float v = float(t * 100 + i);
        array x = full({4096}, v, float32, mine);
        array y = multiply(x, array(2.0f), other);          // mine -> other
        array z = add(y, x, mine);                          // other -> mine
        array c = sum(z, kCpu);                             // GPU -> CPU
        array w = multiply(ones({8}, float32, other), c, other);  // CPU -> GPU
        array m = matmul(full({32, 16}, 0.5f, float32, mine), full({16, 8}, 2.0f, float32, mine),
                         other);                            // inputs cross, product on other
        if (w.stream().device != other || m.stream().device != other) fail("placement");
        for (double got : host_values(w)) {
          if (got != 3.0 * v * 4096) fail("chain t=" + std::to_string(t) + " i=" + std::to_string(i));
        }
        for (double got : host_values(m)) {
          if (got != 16.0) fail("matmul t=" + std::to_string(t));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const std::string& f : first) ADD_FAILURE() << f;
  EXPECT_EQ(bad.load(), 0);
  // The kernels of the second device: attention and a product against the CPU.
  array q = rnd({1, 2, 128, 64}, bfloat16, 31), k = rnd({1, 2, 128, 64}, bfloat16, 32),
        v = rnd({1, 2, 128, 64}, bfloat16, 33);
  array on1 = fast::scaled_dot_product_attention(q, k, v, 0.125f, "causal", std::nullopt, g1);
  array on0 = fast::scaled_dot_product_attention(q, k, v, 0.125f, "causal", std::nullopt, g0);
  EXPECT_EQ(rel_error(on1, on0), 0.0);
  array a = rnd({64, 96}, float32, 34), b = rnd({96, 48}, float32, 35);
  EXPECT_LE(rel_error(matmul(a, b, g1), matmul(a, b, kCpu)), 1e-5);
  synchronize(default_stream(g0));
  synchronize(default_stream(g1));
}

// A real device fault (an illegal address in a kernel), in a child process
// since it leaves the CUDA context unusable: eval raises saying so, later GPU
// work raises, CPU work runs, and the child exits normally (no abort, no hang).
TEST(Gpu, DeviceFaultRaisesAndTheProcessExits) {
  REQUIRE_GPU();
  std::string cmd = std::string("timeout 120 ") + RILL_EXIT_CHILD + " device_fault";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  int status = pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status)) << "the child crashed:\n" << out;
  EXPECT_EQ(WEXITSTATUS(status), 11) << "(124: it hung)\n" << out;
  EXPECT_NE(out.find("cudaErrorIllegalAddress"), std::string::npos) << out;
}

TEST(Gpu, OutOfMemoryRaisesWithTheSizes) {
  REQUIRE_GPU();
  detail::gpu_clear_cache(0);
  size_t before = detail::gpu_set_memory_limit(0, detail::gpu_memory(0).active + (1u << 20));
  array big = zeros({1 << 24}, float32, kGpu);
  try {
    big.eval();
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("out of memory"), std::string::npos) << m;
    EXPECT_NE(m.find("67108864 bytes"), std::string::npos) << m;
  }
  // The stream raises the failure once more at its next synchronize (E2).
  EXPECT_THROW(synchronize(default_stream(kGpu)), std::runtime_error);
  synchronize(default_stream(kGpu));
  detail::gpu_set_memory_limit(0, before);
  array ok = zeros({1 << 24}, float32, kGpu);
  EXPECT_EQ(sum(ok, kCpu).item<float>(), 0.0f);
}

TEST(Gpu, InjectedFaultSurfacesAndTheStreamRecovers) {
  REQUIRE_GPU();
  Stream s = new_stream(kGpu);
  rill::testing::fail_task(s, 2, "injected GPU fault");
  array a = exp(full({100}, 1.0f, float32, kGpu), s);
  array b = a * 2.0f;
  array c = multiply(b, b, s);
  try {
    c.eval();
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("injected GPU fault"), std::string::npos) << e.what();
  }
  EXPECT_THROW(synchronize(s), std::runtime_error);
  array d = add(full({3}, 1.0f, float32, kGpu), array(2.0f), s);
  EXPECT_EQ(host_values(d), std::vector<double>(3, 3.0));
}

// set_cache_limit bounds what a GPU keeps of freed blocks: with 0, freed
// arrays go back to the device's pool; with a limit, up to it is kept.
TEST(Gpu, CacheLimitAppliesToTheGpu) {
  REQUIRE_GPU();
  clear_cache();
  size_t prev = set_cache_limit(0);
  for (int i = 0; i < 4; ++i) {
    array x = ones({1 << 20}, float32, kGpu);  // 4 MiB
    x.eval();
  }
  EXPECT_EQ(detail::gpu_memory(0).kept, 0u);
  set_cache_limit(size_t(6) << 20);
  {
    std::vector<array> xs;
    for (int i = 0; i < 4; ++i) xs.push_back(ones({1 << 20}, float32, kGpu));
    eval(xs);
  }
  EXPECT_GE(detail::gpu_memory(0).kept, size_t(4) << 20);
  EXPECT_LE(detail::gpu_memory(0).kept, size_t(6) << 20);
  EXPECT_GE(get_cache_memory(), detail::gpu_memory(0).kept);
  // Lowering the limit trims at once.
  set_cache_limit(size_t(1) << 20);
  EXPECT_EQ(detail::gpu_memory(0).kept, 0u);
  set_cache_limit(prev);
  clear_cache();
}

TEST(Gpu, MemoryIsReturned) {
  REQUIRE_GPU();
  synchronize(default_stream(kGpu));
  size_t before = detail::gpu_memory(0).active;
  {
    array x = ones({1 << 22}, float32, kGpu);
    array y = add(x, x, kGpu);
    y.eval();
    EXPECT_GE(detail::gpu_memory(0).active, before + (size_t(1) << 24));
  }
  EXPECT_EQ(detail::gpu_memory(0).active, before);
  EXPECT_GE(detail::gpu_memory(0).peak, before + (size_t(2) << 24));
}

// More threads than the device has pool streams (S1, S3): the logical streams
// settle into an even spread and stay, instead of moving at every idle moment
// between two evaluations (each move loses the pool stream's cache of free
// blocks and made in-place updates copy). Each thread updates one array in
// place for 300 ms, evaluating every step as a decode loop does.
TEST(Gpu, MoreThreadsThanPoolStreamsSettle) {
  REQUIRE_GPU();
  const rill::testing::GpuStreamStats before = rill::testing::gpu_stream_stats();
  const int threads_n = before.pool_streams + 1;
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < threads_n; ++t) {
    threads.emplace_back([&, t] {
      array x = full({1 << 16}, float(t), float32, kGpu);
      int steps = 0;
      const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
      while (std::chrono::steady_clock::now() < end) {
        x = add(x, array(1.0f), kGpu);  // donates x's buffer
        x.eval();
        ++steps;
      }
      for (double v : host_values(slice(x, {0}, {4}, kCpu))) {
        if (v != double(t + steps)) bad++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  const rill::testing::GpuStreamStats after = rill::testing::gpu_stream_stats();
  const uint64_t segments = after.segments - before.segments;
  const uint64_t moves = after.moves - before.moves;
  EXPECT_GT(segments, uint64_t(threads_n) * 10);
  // A few moves while the threads start are fine; one per step is the bug.
  EXPECT_LE(moves, uint64_t(2 * threads_n)) << segments << " segments";
  // The in-place updates kept hitting the pool streams' caches or donating:
  // most steps reached neither the device's pool nor a copy.
  EXPECT_LE(after.pool_allocs - before.pool_allocs, segments / 4) << segments << " segments";
}

// A buffer computed on one stream and handed, as its only reference, to an
// op on another stream bound to another pool stream is written in place: the
// block moves to the new pool stream, which first waits for the old one (a
// reader still running there must see the old values).
TEST(Gpu, DonationAcrossPoolStreamsHandsTheBlockOver) {
  REQUIRE_GPU();
  Stream s1 = new_stream(kGpu), s2 = new_stream(kGpu);
  const int n = 1 << 24;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    array x = full({n}, 2.0f, float32, s1);
    x = exp(x * 0.0f, s1) + x;  // 3, on s1
    x.eval();
    const rill::testing::GpuStreamStats before = rill::testing::gpu_stream_stats();
    // 6. The ops take their operands by reference: dropping x leaves y's
    // node the only holder of x's, so its buffer may be donated.
    array y = multiply(x, array(2.0f), s2);
    x = array(0.0f);
    y.eval();
    const rill::testing::GpuStreamStats after = rill::testing::gpu_stream_stats();
    EXPECT_EQ(after.handovers - before.handovers, 1u)
        << "binds " << after.binds - before.binds << ", moves " << after.moves - before.moves
        << ", pool allocations " << after.pool_allocs - before.pool_allocs << ", cache hits "
        << after.cache_hits - before.cache_hits;
    // A slow reader of y on s2, then y updated in place on s1 while it runs.
    array r = sum(exp(y, s2), s2);
    async_eval({r});
    array z = add(y, array(1.0f), s1);
    y = array(0.0f);
    z.eval();
    const double want = std::exp(6.0) * n;
    EXPECT_NEAR(r.item<float>(), want, want * 1e-4);
    for (double v : host_values(slice(z, {0}, {n}, {n / 64}, kCpu))) EXPECT_EQ(v, 7.0);
  }
  EXPECT_THROW(rill::testing::gpu_stream_stats(99), std::invalid_argument);
}
