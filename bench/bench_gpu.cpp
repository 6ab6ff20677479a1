// GPU figures of SPEC.md for rill, printed one per line as "name value unit"
// so that scripts/gpu-check can set them beside PyTorch's (bench/peer_gpu_torch.py,
// the same shapes and the same timing rule: median of repeated runs, each a
// fresh eval waited for on the device).
//   M4: copy (astype to the same dtype is a view, so `x * 1` and `x + y`) and
//       sum over 1 GiB of float32: GB/s read + written;
//   matmul: bfloat16 8192^3, TFLOP/s;
//   M3: attention prefill (B, H, L, D) = (8, 16, 4096, 128), (16, 16, 2048, 64),
//       causal and not, bfloat16, TFLOP/s (4 B H L^2 D, halved when causal),
//       and decode (32, 32, q 1, kv 8192, 128): GB/s of K and V.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include "rill/rill.h"

using namespace rill;

namespace {

const Device kGpu(Device::gpu, 0);

// Median seconds of `reps` runs of f (each evaluated and waited for).
double time_median(const std::function<array()>& f, int reps) {
  f().eval();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto start = std::chrono::steady_clock::now();
    f().eval();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main() {
  if (!is_available(kGpu)) {
    std::printf("bench_gpu: no GPU\n");
    return 0;
  }
  StreamOrDevice g = kGpu;
  const int n = 1 << 28;  // 1 GiB of float32
  array x = random::normal({n}, float32, random::key(1), g);
  array y = random::normal({n}, float32, random::key(2), g);
  eval({x, y});
  double gb = 1e-9;
  double t = time_median([&] { return multiply(x, array(1.0f), g); }, 20);
  std::printf("m4_scale %.1f GB/s\n", 2.0 * n * 4 * gb / t);
  t = time_median([&] { return add(x, y, g); }, 20);
  std::printf("m4_add %.1f GB/s\n", 3.0 * n * 4 * gb / t);
  t = time_median([&] { return sum(x, g); }, 20);
  std::printf("m4_sum %.1f GB/s\n", 1.0 * n * 4 * gb / t);
  x = array(0.0f), y = array(0.0f);

  const int m = 8192;
  array a = random::normal({m, m}, bfloat16, random::key(3), g);
  array b = random::normal({m, m}, bfloat16, random::key(4), g);
  eval({a, b});
  t = time_median([&] { return matmul(a, b, g); }, 20);
  std::printf("matmul_bf16_8192 %.1f TFLOP/s\n", 2.0 * m * m * double(m) / t * 1e-12);
  a = array(0.0f), b = array(0.0f);

  struct Shape4 {
    int B, H, L, D;
  };
  for (Shape4 s : {Shape4{8, 16, 4096, 128}, Shape4{16, 16, 2048, 64}}) {
    array q = random::normal({s.B, s.H, s.L, s.D}, bfloat16, random::key(5), g);
    array k = random::normal({s.B, s.H, s.L, s.D}, bfloat16, random::key(6), g);
    array v = random::normal({s.B, s.H, s.L, s.D}, bfloat16, random::key(7), g);
    eval({q, k, v});
    for (bool causal : {false, true}) {
      t = time_median([&] {
        return fast::scaled_dot_product_attention(q, k, v, 0.088f, causal ? "causal" : "",
                                                  std::nullopt, g);
      }, 5);
      double flops = 4.0 * s.B * s.H * double(s.L) * s.L * s.D / (causal ? 2 : 1);
      std::printf("sdpa_%d_%d_%d_%d%s %.1f TFLOP/s\n", s.B, s.H, s.L, s.D, causal ? "_causal" : "",
                  flops / t * 1e-12);
    }
  }
  array q = random::normal({32, 32, 1, 128}, bfloat16, random::key(8), g);
  array k = random::normal({32, 32, 8192, 128}, bfloat16, random::key(9), g);
  array v = random::normal({32, 32, 8192, 128}, bfloat16, random::key(10), g);
  eval({q, k, v});
  t = time_median([&] {
    return fast::scaled_dot_product_attention(q, k, v, 0.088f, "", std::nullopt, g);
  }, 10);
  std::printf("sdpa_decode_32_32_8192_128 %.1f GB/s\n", 2.0 * 32 * 32 * 8192.0 * 128 * 2 * gb / t);
  return 0;
}
