// M5 of SPEC.md: the peak memory of an eval as a multiple of its output, from
// get_peak_memory, printed one per line as "name value unit" so that
// scripts/bench-memory can set them beside PyTorch's peak for the same
// computation (bench/peer_memory_torch.py). Each case starts from inputs that
// are computed and held the way a program holds them, resets the peak, builds
// the graph, evaluates it and reads the peak:
//   chain:  z (256 MiB float32, computed) reassigned 10 times by z = exp(z + c),
//           c a scalar: the peak over z's size;
//   normal: random::normal of 64M float32: the peak over the output;
//   mlp:    y (4096 x 1024 float32, computed) reassigned 8 times by
//           y = y + gelu(y @ w1) @ w2, one w1 (1024 x 4096) and w2 (4096 x
//           1024) held throughout: the peak (weights included) over y's size.
//   bench_memory [--device cpu|gpu] [--scale K]   (sizes divided by K)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "rill/rill.h"

using namespace rill;

namespace {

double mib(size_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

// Prints the case's peak over `out_bytes`, and the peak in MiB.
void report(const char* name, size_t out_bytes) {
  const size_t peak = get_peak_memory();
  std::printf("memory_%s %.2f x (peak %.1f MiB, output %.1f MiB)\n", name,
              static_cast<double>(peak) / static_cast<double>(out_bytes), mib(peak),
              mib(out_bytes));
  std::fflush(stdout);
}

void settle(Device d) {
  synchronize(default_stream(d));
  clear_cache();
  reset_peak_memory();
}

void chain(Device d, int scale) {
  const int n = (64 << 20) / scale;
  array z = random::uniform({n}, float32, random::key(1), d);
  eval(z);
  settle(d);
  array c(0.25f);
  for (int i = 0; i < 10; ++i) z = exp(add(z, c, d), d);
  eval(z);
  report("chain", z.nbytes());
}

void normal(Device d, int scale) {
  const int n = (64 << 20) / scale;
  settle(d);
  array x = random::normal({n}, float32, random::key(2), d);
  eval(x);
  report("normal", x.nbytes());
}

void mlp(Device d, int scale) {
  const int rows = 4096 / scale;
  array w1 = random::normal({1024, 4096}, float32, 0.0f, 0.02f, random::key(3), d);
  array w2 = random::normal({4096, 1024}, float32, 0.0f, 0.02f, random::key(4), d);
  array y = random::normal({rows, 1024}, float32, random::key(5), d);
  eval({w1, w2, y});
  settle(d);
  for (int i = 0; i < 8; ++i) y = add(y, matmul(nn::gelu(matmul(y, w1, d), d), w2, d), d);
  eval(y);
  report("mlp", y.nbytes());
}

}  // namespace

int main(int argc, char** argv) {
  Device d = default_device();
  int scale = 1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--device") && i + 1 < argc) {
      d = std::string(argv[++i]) == "gpu" ? Device(Device::gpu, 0) : Device(Device::cpu, 0);
    } else if (!std::strcmp(argv[i], "--scale") && i + 1 < argc) {
      scale = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: bench_memory [--device cpu|gpu] [--scale K]\n");
      return 2;
    }
  }
  if (!is_available(d)) {
    std::printf("bench_memory: %s is not available\n",
                d.type == Device::gpu ? "the GPU" : "the CPU");
    return 0;
  }
  std::printf("bench_memory: device %s, sizes / %d\n", d.type == Device::gpu ? "gpu" : "cpu",
              scale);
  chain(d, scale);
  normal(d, scale);
  mlp(d, scale);
}
