// LibTorch peer of rill-encoder: workload W1 (SPEC.md) with T threads at once,
// each running forward passes eagerly, printing forwards/s per T in the same
// format as rill-encoder so scripts/bench-encoder can put them side by side.
//
// --device cuda runs the GPU configuration (bfloat16, D=512, H=8, L=4, B=4 by
// default), each thread on its own CUDA stream from LibTorch's pool, a forward
// ending when its result is on the host.
// LibTorch's intra-op pool is process-wide: --intra-op N sets it (0 keeps
// LibTorch's default, all cores). scripts/bench-encoder runs both settings and
// credits LibTorch with the better one at each T.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>
#include <c10/core/InferenceMode.h>
#if __has_include(<c10/cuda/CUDAGuard.h>) && defined(RILL_PEER_CUDA)
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#define PEER_CUDA 1
#endif

#include <atomic>
#include <optional>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

struct Layer {
  at::Tensor ln1_w, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
};

int B = 1, S = 128, D = 256, H = 4, L = 2;
at::ScalarType dtype = at::kFloat;

at::Tensor forward(const std::vector<Layer>& layers, at::Tensor x) {
  int dh = D / H;
  for (const Layer& w : layers) {
    at::Tensor h = at::layer_norm(x, {D}, w.ln1_w, w.ln1_b, 1e-5);
    at::Tensor qkv = at::linear(h, w.qkv_w, w.qkv_b).view({B, S, 3, H, dh}).permute({2, 0, 3, 1, 4});
#if TORCH_VERSION_MAJOR >= 2
    at::Tensor o = at::scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]);
#else  // no fused attention before LibTorch 2.0
    at::Tensor att = at::softmax(at::matmul(qkv[0], qkv[1].transpose(-1, -2)) / std::sqrt(dh), -1);
    at::Tensor o = at::matmul(att, qkv[2]);
#endif
    o = o.transpose(1, 2).reshape({B, S, D});
    x = x + at::linear(o, w.out_w, w.out_b);
    h = at::layer_norm(x, {D}, w.ln2_w, w.ln2_b, 1e-5);
    h = at::gelu(at::linear(h, w.fc1_w, w.fc1_b));
    x = x + at::linear(h, w.fc2_w, w.fc2_b);
  }
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads = {1, 2, 4};
  double seconds = 2;
  int intra_op = 0;
  bool cuda = false;
  int batch = -1;
  for (int i = 1; i < argc; ++i) {
    auto next = [&] { return i + 1 < argc ? argv[++i] : (std::fprintf(stderr, "missing value\n"), std::exit(2), argv[0]); };
    if (!std::strcmp(argv[i], "--threads")) {
      threads.clear();
      for (char* p = std::strtok(next(), ","); p; p = std::strtok(nullptr, ",")) threads.push_back(std::atoi(p));
    } else if (!std::strcmp(argv[i], "--seconds")) {
      seconds = std::atof(next());
    } else if (!std::strcmp(argv[i], "--intra-op")) {
      intra_op = std::atoi(next());
    } else if (!std::strcmp(argv[i], "--batch")) {
      batch = std::atoi(next());
    } else if (!std::strcmp(argv[i], "--device")) {
      cuda = !std::strcmp(next(), "cuda");
    } else {
      std::fprintf(stderr, "usage: %s [--threads 1,2,4] [--seconds N] [--intra-op N] [--batch B] [--device cpu|cuda]\n", argv[0]);
      return 2;
    }
  }
  if (intra_op > 0) at::set_num_threads(intra_op);
#ifndef PEER_CUDA
  if (cuda) {
    std::fprintf(stderr, "this build of the peer has no CUDA\n");
    return 2;
  }
#endif
  if (cuda) {
    B = 4, S = 128, D = 512, H = 8, L = 4;
    dtype = at::kBFloat16;
  }
  if (batch > 0) B = batch;
  at::manual_seed(0);
  auto opts = at::TensorOptions().dtype(dtype).device(cuda ? at::kCUDA : at::kCPU);
  std::vector<Layer> layers;
  for (int i = 0; i < L; ++i) {
    auto w = [&](std::vector<int64_t> shape, float scale, float mean = 0) {
      return (at::randn(shape) * scale + mean).to(opts);
    };
    layers.push_back({w({D}, 0.1f, 1), w({D}, 0.1f), w({3 * D, D}, 0.02f), w({3 * D}, 0.1f),
                      w({D, D}, 0.02f), w({D}, 0.1f), w({D}, 0.1f, 1), w({D}, 0.1f),
                      w({4 * D, D}, 0.02f), w({4 * D}, 0.1f), w({D, 4 * D}, 0.02f), w({D}, 0.1f)});
  }
  at::Tensor x = at::randn({B, S, D}).to(opts);
  std::printf("libtorch-encoder: W1 on %s, B=%d S=%d D=%d H=%d L=%d, intra-op threads %d, %.1f s per T\n",
              cuda ? "cuda" : "cpu", B, S, D, H, L, at::get_num_threads(), seconds);
  std::printf("%8s %14s\n", "threads", "forwards/s");
  for (int T : threads) {
    std::atomic<long> forwards{0};
    std::atomic<bool> stop{false};
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < T; ++t) {
      pool.emplace_back([&] {
        c10::InferenceMode guard;
#ifdef PEER_CUDA
        std::optional<c10::cuda::CUDAStreamGuard> stream;
        if (cuda) stream.emplace(c10::cuda::getStreamFromPool());
#endif
        while (!stop.load(std::memory_order_relaxed)) {
          at::Tensor y = forward(layers, x);
          if (cuda) {
            y = y.to(at::kCPU);  // waits for this thread's stream
          }
          (void)y.data_ptr();
          forwards.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& th : pool) th.join();
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%8d %14.1f\n", T, forwards.load() / elapsed);
    std::fflush(stdout);
  }
  return 0;
}
