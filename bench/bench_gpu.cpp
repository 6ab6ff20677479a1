// GPU figures of SPEC.md for rill, printed one per line as "name value unit"
// so that scripts/gpu-check can set them beside PyTorch's (bench/peer_gpu_torch.py,
// the same shapes and the same timing rule: median of repeated runs, each a
// fresh eval waited for on the device).
//   M2 on the GPU: a chain of 1,000 `x + 1` built, run and read, thousands
//       of ops per second;
//   M4: copy (astype to the same dtype is a view, so `x * 1` and `x + y`) and
//       sum over 1 GiB of float32: GB/s read + written; the same for the MLX
//       API's kernels (elementwise, int8/int32/complex64, row reductions and
//       scans);
//   matmul: bfloat16 8192^3, TFLOP/s; decoding's product (one row against a
//       [14336, 4096] weight) in bf16 and 4-bit (quantized_matmul), GB/s of
//       the weight, and 512 rows, TFLOP/s;
//   M3: attention prefill (B, H, L, D) = (8, 16, 4096, 128), (16, 16, 2048, 64),
//       causal and not, bfloat16, TFLOP/s (4 B H L^2 D, halved when causal),
//       and decode (32, 32, q 1, kv 8192, 128): GB/s of K and V; and rill's
//       composed path (matmul + softmax + matmul, composed_sdpa_*, no peer):
//       the floor the fused kernel must beat.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "gpu_bench.h"
#include "rill/rill.h"

using namespace rill;

namespace {

using bench::kGpu;
using bench::noise;
using bench::time_median;

}  // namespace

int main(int argc, char** argv) {
  // `bench_gpu sdpa`: the attention figures only; `bench_gpu decode`: the
  // copy and the decode figures only.
  const bool decode_only = argc > 1 && std::string(argv[1]) == "decode";
  const bool sdpa_only = decode_only || (argc > 1 && std::string(argv[1]) == "sdpa");
  if (!is_available(kGpu)) {
    std::printf("bench_gpu: no GPU\n");
    return 0;
  }
  StreamOrDevice g = kGpu;
  if (!sdpa_only) {
    // M2 on the GPU: a chain of 1,000 `x + 1` on a one-element array, built,
    // run and read back (the host constant is copied for every op).
    array one = zeros({1}, float32, g);
    one.eval();
    auto chain = [&] {
      array c = one;
      for (int i = 0; i < 1000; ++i) c = add(c, array(1.0f), g);
      return c;
    };
    if (chain().item<float>() != 1000.0f) {
      std::printf("bench_gpu: the chain of x + 1 gave a wrong result\n");
      return 1;
    }
    const double t = time_median([&] {
      array c = chain();
      c.item<float>();
      return c;
    }, 20);
    std::printf("m2_gpu_chain %.1f kop/s\n", 1000.0 / t * 1e-3);
  }
  double t = 0;
  const double gb = 1e-9;
  if (!sdpa_only || decode_only) {
    const int n = 1 << 28;  // 1 GiB of float32
    array x = noise({n}, float32, 1);
    eval({x});
    t = time_median([&] { return multiply(x, array(1.0f), g); }, 20);
    std::printf("m4_scale %.1f GB/s\n", 2.0 * n * 4 * gb / t);
  }
  if (!sdpa_only) {
    const int n = 1 << 28;
    array x = noise({n}, float32, 1);
    array y = noise({n}, float32, 2);
    eval({x, y});
    t = time_median([&] { return add(x, y, g); }, 20);
    std::printf("m4_add %.1f GB/s\n", 3.0 * n * 4 * gb / t);
    t = time_median([&] { return sum(x, g); }, 20);
    std::printf("m4_sum %.1f GB/s\n", 1.0 * n * 4 * gb / t);
    // Ten sums queued before one wait: the reduction without the per-eval
    // launch and wait.
    t = time_median([&] {
      std::vector<array> sums;
      for (int i = 0; i < 10; ++i) sums.push_back(sum(x, g));
      array all = stack(sums, g);
      return all;
    }, 5) / 10;
    std::printf("m4_sum_queued %.1f GB/s\n", 1.0 * n * 4 * gb / t);

    // The kernels of the MLX API issue at the M4 budget (85% of the copy's
    // bandwidth): elementwise, new dtypes, row reductions and scans (rows of
    // 4,096), one scan over the whole 1 GiB. GB/s of what each must read and
    // write at least.
    auto figure = [&](const char* name, double bytes, const std::function<array()>& f) {
      const double s = time_median(f, 10);
      std::printf("%s %.1f GB/s\n", name, bytes * gb / s);
    };
    const double n4 = 4.0 * n;
    figure("m4_arctan2", 3 * n4, [&] { return arctan2(x, y, g); });
    figure("m4_logaddexp", 3 * n4, [&] { return logaddexp(x, y, g); });
    figure("m4_clip", 2 * n4, [&] { return clip(x, array(-0.5f), array(0.5f), g); });
    figure("m4_nan_to_num", 2 * n4, [&] { return nan_to_num(x, 0.0f, std::nullopt, std::nullopt, g); });
    figure("m4_isnan", n4 + n, [&] { return isnan(x, g); });
    {
      array xi = view(x, int32, g), yi = view(y, int32, g);
      figure("m4_bitwise_and_int32", 3 * n4, [&] { return bitwise_and(xi, yi, g); });
      figure("m4_right_shift_int32", 2 * n4, [&] { return right_shift(xi, array(3), g); });
      array x8 = reshape(view(x, int8, g), {4 * n}, g), y8 = reshape(view(y, int8, g), {4 * n}, g);
      figure("m4_add_int8", 3 * n4, [&] { return add(x8, y8, g); });
      array xc = view(x, complex64, g), yc = view(y, complex64, g);
      figure("m4_multiply_complex64", 3 * n4, [&] { return multiply(xc, yc, g); });
    }
    array rows = reshape(x, {n / 4096, 4096}, g);
    figure("m4_var_rows", n4, [&] { return var(rows, -1, false, 0, g); });
    figure("m4_count_nonzero_rows", n4, [&] { return count_nonzero(rows, -1, false, g); });
    figure("m4_cumprod_rows", 2 * n4, [&] { return cumprod(rows, -1, false, true, g); });
    figure("m4_cummax_rows", 2 * n4, [&] { return cummax(rows, -1, false, true, g); });
    figure("m4_logcumsumexp_rows", 2 * n4, [&] { return logcumsumexp(rows, -1, false, true, g); });
    figure("m4_cumsum_flat", 2 * n4, [&] { return cumsum(x, 0, false, true, g); });
    rows = array(0.0f);
    x = array(0.0f), y = array(0.0f);

    const int m = 8192;
    array a = noise({m, m}, bfloat16, 3);
    array b = noise({m, m}, bfloat16, 4);
    eval({a, b});
    t = time_median([&] { return matmul(a, b, g); }, 20);
    std::printf("matmul_bf16_8192 %.1f TFLOP/s\n", 2.0 * m * m * double(m) / t * 1e-12);
    a = array(0.0f), b = array(0.0f);

    // Decoding's products: one row of x against a [14336, 4096] weight (a
    // Llama-3-8B MLP's), bf16 and 4-bit affine (groups of 64): GB/s of the
    // weight's bytes (codes, scales and biases for 4-bit), and the 4-bit
    // product over the bf16 one (the budget: at least 3x); then 512
    // rows (prefill), TFLOP/s.
    {
      const int N = 14336, K = 4096;
      array w = noise({N, K}, bfloat16, 20);
      auto q = quantize(w, 64, 4, "affine", std::nullopt, g);
      eval({w, q[0], q[1], q[2]});
      const double qbytes = double(N) * K / 2 + 2.0 * 2 * N * (K / 64);
      for (int rows : {1, 512}) {
        array x = noise({rows, K}, bfloat16, 21);
        eval({x});
        const double tb = time_median([&] { return matmul(x, transpose(w, g), g); }, 20);
        const double tq = time_median(
            [&] { return quantized_matmul(x, q[0], q[1], q[2], true, 64, 4, "affine", g); }, 20);
        if (rows == 1) {
          std::printf("matmul_bf16_m1_14336x4096 %.1f GB/s\n", 2.0 * N * K * gb / tb);
          std::printf("qmm_4bit_m1_14336x4096 %.1f GB/s\n", qbytes * gb / tq);
          std::printf("qmm_4bit_over_bf16_m1 %.2f x\n", tb / tq);
        } else {
          const double flops = 2.0 * rows * N * double(K);
          std::printf("matmul_bf16_m512_14336x4096 %.1f TFLOP/s\n", flops / tb * 1e-12);
          std::printf("qmm_4bit_m512_14336x4096 %.1f TFLOP/s\n", flops / tq * 1e-12);
        }
      }
    }
  }

  struct Shape4 {
    int B, H, L, D;
  };
  for (Shape4 s : {Shape4{8, 16, 4096, 128}, Shape4{16, 16, 2048, 64}}) {
    if (decode_only) break;
    array q = noise({s.B, s.H, s.L, s.D}, bfloat16, 5);
    array k = noise({s.B, s.H, s.L, s.D}, bfloat16, 6);
    array v = noise({s.B, s.H, s.L, s.D}, bfloat16, 7);
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
    // The composed path the fused kernel replaces: scores, softmax (float32
    // accumulation), then the product with V, each materialised.
    t = time_median([&] {
      array scores = multiply(matmul(q, transpose(k, {0, 1, 3, 2}, g), g), array(0.088f), g);
      return matmul(softmax(scores, -1, false, g), v, g);
    }, 5);
    std::printf("composed_sdpa_%d_%d_%d_%d %.1f TFLOP/s\n", s.B, s.H, s.L, s.D,
                4.0 * s.B * s.H * double(s.L) * s.L * s.D / t * 1e-12);
  }
  array q = noise({32, 32, 1, 128}, bfloat16, 8);
  array k = noise({32, 32, 8192, 128}, bfloat16, 9);
  array v = noise({32, 32, 8192, 128}, bfloat16, 10);
  eval({q, k, v});
  t = time_median([&] {
    return fast::scaled_dot_product_attention(q, k, v, 0.088f, "", std::nullopt, g);
  }, 10);
  std::printf("sdpa_decode_32_32_8192_128 %.1f GB/s\n", 2.0 * 32 * 32 * 8192.0 * 128 * 2 * gb / t);
  // Grouped heads (32 query heads over 8 key/value heads): K and V are read
  // once per key/value head, so the bytes are a quarter of the above.
  array kg = noise({32, 8, 8192, 128}, bfloat16, 11);
  array vg = noise({32, 8, 8192, 128}, bfloat16, 12);
  eval({kg, vg});
  t = time_median([&] {
    return fast::scaled_dot_product_attention(q, kg, vg, 0.088f, "", std::nullopt, g);
  }, 10);
  std::printf("sdpa_decode_gqa4_32_32_8192_128 %.1f GB/s\n",
              2.0 * 32 * 8 * 8192.0 * 128 * 2 * gb / t);
  return 0;
}
