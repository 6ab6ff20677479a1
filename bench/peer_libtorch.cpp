// LibTorch peer of bench_runtime.cpp, same harness and names: eager chain of
// 1,000 `x + 1` on a one-element float32 tensor on the CPU (the counterpart of
// rill's build + eval), and, where LibTorch has CUDA, the counterparts of
// default_stream(Device) (getCurrentCUDAStream(0)) and new_stream(Device)
// (getStreamFromPool(false, 0), which hands out one of a fixed set of streams).
// Only built when CMake finds LibTorch (scripts/bench asks for it).
//
// No std::string crosses into the benchmark library: LibTorch may be built with
// the old libstdc++ string ABI.

#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <c10/core/InferenceMode.h>

#ifdef RILL_PEER_CUDA  // set by bench/CMakeLists.txt when LibTorch has CUDA
#include <c10/cuda/CUDAStream.h>
#endif

namespace {

constexpr int kChain = 1000;

void chain_loop(benchmark::State& state) {
  at::Tensor x = at::zeros({1}, at::kFloat);
  for (auto _ : state) {
    at::Tensor y = x;
    for (int i = 0; i < kChain; ++i) y = y + 1;
    benchmark::DoNotOptimize(y.data_ptr<float>());
  }
  at::Tensor y = x;
  for (int i = 0; i < kChain; ++i) y = y + 1;
  if (y.item<float>() != static_cast<float>(kChain)) state.SkipWithError("wrong result");
  state.SetItemsProcessed(state.iterations() * kChain);
}

// Plain eager, as most code runs it.
void BM_TorchChainEager(benchmark::State& state) { chain_loop(state); }
BENCHMARK(BM_TorchChainEager)->UseRealTime();

// Eager under InferenceMode, LibTorch's cheapest path.
void BM_TorchChainInference(benchmark::State& state) {
  c10::InferenceMode guard;
  chain_loop(state);
}
BENCHMARK(BM_TorchChainInference)->UseRealTime();

#ifdef RILL_PEER_CUDA
void BM_TorchCurrentStream(benchmark::State& state) {
  if (!at::hasCUDA()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  benchmark::DoNotOptimize(c10::cuda::getCurrentCUDAStream(0));
  for (auto _ : state) benchmark::DoNotOptimize(c10::cuda::getCurrentCUDAStream(0));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TorchCurrentStream)->Threads(1)->Threads(2)->Threads(4)->Threads(8)->Threads(16);

void BM_TorchStreamFromPool(benchmark::State& state) {
  if (!at::hasCUDA()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  benchmark::DoNotOptimize(c10::cuda::getStreamFromPool(false, 0));
  for (auto _ : state) benchmark::DoNotOptimize(c10::cuda::getStreamFromPool(false, 0));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TorchStreamFromPool)->Iterations(100000)->UseRealTime();
#endif

}  // namespace

BENCHMARK_MAIN();
