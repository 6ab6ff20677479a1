// What the GPU benchmarks share (bench_gpu, bench_conv): inputs made on the
// GPU and the timing rule, the median of repeated runs, each evaluated and
// waited for (their PyTorch peers time the same way: peer_gpu_torch.median).
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

#include "rill/rill.h"

namespace rill::bench {

inline const Device kGpu(Device::gpu, 0);

// Random values in [-1, 1) of `t`, made on the GPU in few steps (bits, then a
// scale), so that making 1 GiB inputs needs little more than 1 GiB.
inline array noise(const Shape& shape, Dtype t, uint64_t seed) {
  array b = random::bits(shape, 4, random::key(seed), kGpu);
  array f = astype(b, float32, kGpu) * (2.0f / 4294967296.0f) - 1.0f;
  return astype(f, t, kGpu);
}

// Median seconds of `reps` runs of f (each evaluated and waited for), after
// one warm-up run (where cuDNN, for one, picks its algorithm).
inline double time_median(const std::function<array()>& f, int reps) {
  f().eval();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto start = std::chrono::steady_clock::now();
    f().eval();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace rill::bench
