// Convolution figures on the GPU, printed one per line as "name value unit" so
// that scripts/gpu-check can set them beside PyTorch's (bench/peer_conv_torch.py:
// the same shapes, channels last, and the same timing rule, the median of
// repeated runs, each a fresh eval waited for on the device). TFLOP/s count
// 2 N out_spatial C_out C_in k_spatial / groups.
//   conv2d, bfloat16, ResNet-50's 3x3 stages at N = 32: 56x56x64 -> 64,
//       28x28x128 -> 128, 14x14x256 -> 256, 7x7x512 -> 512 (padding 1);
//   conv1d, bfloat16, a Whisper encoder's first layers: T = 3000, 80 -> 384
//       and 80 -> 1280 channels (kernel 3, padding 1), then the second layer
//       (C -> C, kernel 3, stride 2, padding 1), N = 1 and 8;
//   composite_*: the same through rill's ops (im2col and matmul), no peer.
//   `bench_conv composite` adds the composite figures.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/ops_conv.h"
#include "gpu_bench.h"
#include "rill/rill.h"

using namespace rill;

namespace {

using bench::kGpu;
using bench::noise;
using bench::time_median;

struct Case {
  std::string name;
  Shape x, w;
  int stride, padding;
};

}  // namespace

int main(int argc, char** argv) {
  const bool composite = argc > 1 && std::string(argv[1]) == "composite";
  if (!is_available(kGpu)) {
    std::printf("bench_conv: no GPU\n");
    return 0;
  }
  std::vector<Case> cases = {
      {"conv2d_r50_56x56x64", {32, 56, 56, 64}, {64, 3, 3, 64}, 1, 1},
      {"conv2d_r50_28x28x128", {32, 28, 28, 128}, {128, 3, 3, 128}, 1, 1},
      {"conv2d_r50_14x14x256", {32, 14, 14, 256}, {256, 3, 3, 256}, 1, 1},
      {"conv2d_r50_7x7x512", {32, 7, 7, 512}, {512, 3, 3, 512}, 1, 1},
  };
  for (int n : {1, 8}) {
    for (int c : {384, 1280}) {
      std::string tag = "_n" + std::to_string(n) + "_" + std::to_string(c);
      cases.push_back({"conv1d_whisper1" + tag, {n, 3000, 80}, {c, 3, 80}, 1, 1});
      cases.push_back({"conv1d_whisper2" + tag, {n, 3000, c}, {c, 3, c}, 2, 1});
    }
  }
  for (const Case& c : cases) {
    array x = noise(c.x, bfloat16, 1);
    array w = noise(c.w, bfloat16, 2);
    x.eval();
    w.eval();
    const int nd = x.ndim() - 2;
    std::vector<int> stride(nd, c.stride), pad(nd, c.padding), one(nd, 1);
    array y = conv_general(x, w, stride, pad, pad, one, one, 1, false, kGpu);
    double flops = 2.0 * y.size();
    for (int i = 1; i < w.ndim(); ++i) flops *= w.shape(i);
    double t = time_median(
        [&] { return conv_general(x, w, stride, pad, pad, one, one, 1, false, kGpu); },
        20);
    std::printf("%s %.1f TFLOP/s\n", c.name.c_str(), flops / t * 1e-12);
    if (composite) {
      t = time_median(
          [&] {
            return detail::conv_general_composite(x, w, stride, pad, pad, one, one, 1,
                                                  false, kGpu);
          },
          10);
      std::printf("composite_%s %.1f TFLOP/s\n", c.name.c_str(), flops / t * 1e-12);
    }
    std::fflush(stdout);
  }
  return 0;
}
