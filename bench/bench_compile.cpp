// compile against the same function uncompiled: a 20-op elementwise chain
// (issue 20's budget: at least 3x on the CPU), in alternating rounds in one
// process. Prints per size the median time of each and the ratio's median
// with its range over the rounds.
//   bench_compile [--device cpu|gpu] [--rounds N] [--seconds S]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "rill/rill.h"

using namespace rill;

namespace {

// Twenty elementwise ops of x and a per-row bias b (broadcast).
std::vector<array> chain20(const std::vector<array>& in) {
  const array& x = in[0];
  const array& b = in[1];
  array y = x * 1.5f + b;   // ops 1-2
  y = tanh(y);              // 3
  y = y - x;                // 4
  y = exp(y * 0.25f);       // 5-6
  y = y + sin(x);           // 7-8
  y = sqrt(abs(y) + 1.0f);  // 9-11
  y = maximum(y, b);        // 12
  y = y * y - 0.5f;         // 13-14
  y = y / (abs(x) + 2.0f);  // 15-17
  y = log(y * y + 1.0f);    // 18-20
  return {y};
}

double seconds_of(const CompiledFunction& f, const std::vector<array>& in, double budget) {
  // Runs f until `budget` seconds have passed; returns seconds per call.
  eval(f(in));
  int n = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double el = 0;
  do {
    eval(f(in));
    ++n;
    el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (el < budget);
  return el / n;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Device dev = default_device();
  int rounds = 7;
  double secs = 0.3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--device")) dev = std::strcmp(argv[i + 1], "gpu") ? Device::cpu : Device::gpu;
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) secs = std::stod(argv[i + 1]);
  }
  set_default_device(dev);
  const CompiledFunction plain = chain20;
  const CompiledFunction compiled = compile(chain20);
  std::printf("bench_compile: 20-op elementwise chain on %s, %d alternating rounds\n",
              dev == Device::cpu ? "cpu" : "gpu", rounds);
  std::printf("%-12s %14s %14s %8s %16s %s\n", "elements", "uncompiled ms", "compiled ms", "ratio",
              "ratio range", "(uncompiled / compiled)");
  for (int rows : {256, 4096}) {
    const int cols = 1024;
    std::vector<array> in{random::normal({rows, cols}), random::normal({cols})};
    eval(in);
    std::vector<double> tu, tc, ratio;
    for (int r = 0; r < rounds; ++r) {
      const double u = seconds_of(plain, in, secs);
      const double c = seconds_of(compiled, in, secs);
      tu.push_back(u);
      tc.push_back(c);
      ratio.push_back(u / c);
    }
    // Peak memory of one call beyond its inputs (get_peak_memory), each alone.
    auto peak_of = [&](const CompiledFunction& f) {
      synchronize();
      const size_t base = get_active_memory();
      reset_peak_memory();
      eval(f(in));
      return double(get_peak_memory() - base) / (1 << 20);
    };
    const double pu = peak_of(plain), pc = peak_of(compiled);
    std::printf("%-12d %14.3f %14.3f %7.2fx %7.2f..%-7.2f peak MiB %.1f / %.1f\n", rows * cols,
                median(tu) * 1e3, median(tc) * 1e3, median(ratio),
                *std::min_element(ratio.begin(), ratio.end()),
                *std::max_element(ratio.begin(), ratio.end()), pu, pc);
  }
  return 0;
}
