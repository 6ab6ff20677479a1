// Runtime overheads (SPEC.md section 6): M1, the cost of default_stream() at
// 1 to 16 threads; M2, host overhead per op of a chain of 1,000 `x + 1` on a
// one-element array, build only and build + eval; and the cost of new_stream().
// scripts/bench runs this beside the PyTorch / LibTorch peers.

#include <benchmark/benchmark.h>

#include "rill/rill.h"

namespace {

constexpr int kChain = 1000;

// M1: ns per call, per thread (the "CPU" column). The first call, which makes
// the thread's default stream, is kept out of the timed loop.
void BM_DefaultStream(benchmark::State& state) {
  benchmark::DoNotOptimize(rill::default_stream(rill::Device::cpu));
  for (auto _ : state) {
    benchmark::DoNotOptimize(rill::default_stream(rill::Device::cpu));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DefaultStream)->Threads(1)->Threads(2)->Threads(4)->Threads(8)->Threads(16);

// The control for M1: a non-inlined function reading a thread-local struct and
// returning it, the least any per-thread lookup can do. How its time changes
// with T is the machine's (shared cores, clocks), not rill's.
struct Pair {
  int a;
  rill::Device d;
};
thread_local Pair t_pair{1, rill::Device::cpu};
[[gnu::noinline]] Pair read_thread_local(rill::Device d) {
  return t_pair.d == d ? t_pair : Pair{-1, d};
}
void BM_ThreadLocalControl(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(read_thread_local(rill::Device::cpu));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ThreadLocalControl)->Threads(1)->Threads(2)->Threads(4)->Threads(8)->Threads(16);

rill::array chain(rill::array x) {
  for (int i = 0; i < kChain; ++i) x = x + 1.0f;
  return x;
}

void per_op_counters(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * kChain);
  // Seconds per op of wall time; shown as e.g. "1.2u" (µs).
  state.counters["per_op"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kChain,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// M2 build only: recording 1,000 ops; freeing the graph is not timed.
void BM_ChainBuild(benchmark::State& state) {
  // On the CPU, like the eager peers, whatever the default device.
  rill::StreamContext on_cpu(rill::Device(rill::Device::cpu));
  rill::array x = rill::zeros({1}, rill::float32);
  rill::eval(x);
  for (auto _ : state) {
    rill::array y = chain(x);
    benchmark::DoNotOptimize(y.node().get());
    state.PauseTiming();
    y = rill::array(0.0f);
    state.ResumeTiming();
  }
  per_op_counters(state);
}
BENCHMARK(BM_ChainBuild)->UseRealTime();

// M2 build + eval: recording, running and freeing 1,000 ops.
void BM_ChainBuildEval(benchmark::State& state) {
  rill::StreamContext on_cpu(rill::Device(rill::Device::cpu));
  rill::array x = rill::zeros({1}, rill::float32);
  rill::eval(x);
  for (auto _ : state) {
    rill::array y = chain(x);
    rill::eval(y);
    benchmark::DoNotOptimize(y.data<float>());
  }
  rill::array check = chain(x);
  if (check.item<float>() != static_cast<float>(kChain)) {
    state.SkipWithError("chain of x + 1 gave a wrong result");
  }
  per_op_counters(state);
}
BENCHMARK(BM_ChainBuildEval)->UseRealTime();

// The cost of making a stream. Streams live for the whole process, so the
// iteration count is fixed (SPEC S5: 100,000 streams must be cheap).
void BM_NewStream(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(rill::new_stream(rill::Device::cpu));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NewStream)->Iterations(100000)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
