// random::bits, uniform and normal on the GPU: one thread per Threefry counter,
// computing what the CPU computes (common/threefry.h).
#include "backend/cuda/device.cuh"
#include "common/threefry.h"

namespace rill::detail::cu {
namespace {

constexpr int kThreads = 256;

// One thread per output word in MLX's order (common/threefry.h); the last
// word may be cut to the output's bytes.
__global__ void bits_kernel(const uint32_t* key, int64_t key_step, uint8_t* out, int64_t bytes) {
  const uint32_t k0 = key[0], k1 = key[key_step];
  const int64_t words = (bytes + 3) / 4;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < words; j += stride) {
    const uint32_t w = mlx_bits_word(k0, k1, static_cast<uint64_t>(words), static_cast<uint64_t>(j));
    const int64_t at = 4 * j;
    if (at + 4 <= bytes) {
      // Outputs are at least 4-byte aligned: whole words store as words.
      *reinterpret_cast<uint32_t*>(out + at) = w;
    } else {
      for (int64_t u = 0; at + u < bytes; ++u) out[at + u] = static_cast<uint8_t>(w >> (8 * u));
    }
  }
}

// Two uniforms or normals per counter (random_pair), converted as the CPU
// converts them.
template <typename T>
__global__ void floats_kernel(const uint32_t* key, int64_t key_step, bool normal,
                              const float* lo_p, const float* hi_p, double scale, double loc,
                              T* out, int64_t n) {
  const uint32_t k0 = key[0], k1 = key[key_step];
  const float lo = lo_p ? *lo_p : 0.0f, hi = hi_p ? *hi_p : 1.0f;
  const int64_t counters = (n + 1) / 2;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < counters; c += stride) {
    uint32_t a, b;
    threefry_at(k0, k1, static_cast<uint64_t>(c), a, b);
    double v0, v1;
    random_pair(a, b, normal, lo, hi, scale, loc, v0, v1);
    out[2 * c] = convert<T>(v0);
    if (2 * c + 1 < n) out[2 * c + 1] = convert<T>(v1);
  }
}

}  // namespace

void random_bits(const uint32_t* key, int64_t key_step, int width, void* out, int64_t n,
                 cudaStream_t s) {
  const int64_t bytes = n * width;
  bits_kernel<<<blocks_for((bytes + 3) / 4, kThreads), kThreads, 0, s>>>(
      key, key_step, static_cast<uint8_t*>(out), bytes);
  check_launch("bits");
}

void random_floats(const uint32_t* key, int64_t key_step, bool normal, const float* lo,
                   const float* hi, double scale, double loc, DT t, void* out, int64_t n,
                   cudaStream_t s) {
  const int64_t counters = (n + 1) / 2;
  dispatch_float(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    floats_kernel<T><<<blocks_for(counters, kThreads), kThreads, 0, s>>>(
        key, key_step, normal, lo, hi, scale, loc, static_cast<T*>(out), n);
  });
  check_launch(normal ? "normal" : "uniform");
}

}  // namespace rill::detail::cu
