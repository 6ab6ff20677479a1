// random::bits, uniform and normal on the GPU: one thread per Threefry counter,
// computing what the CPU computes (common/threefry.h).
#include "backend/cuda/device.cuh"
#include "common/threefry.h"

namespace rill::detail::cu {
namespace {

constexpr int kThreads = 256;

// Counter c gives words 2c and 2c + 1: two uint32 outputs, or eight bytes.
__global__ void bits_kernel(const uint32_t* key, int64_t key_step, int width, void* out,
                            int64_t n) {
  const uint32_t k0 = key[0], k1 = key[key_step];
  const int64_t per = width == 1 ? 8 : 2;
  const int64_t counters = (n + per - 1) / per;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < counters; c += stride) {
    uint32_t a, b;
    threefry_at(k0, k1, static_cast<uint64_t>(c), a, b);
    if (width == 1) {
      uint8_t* o = static_cast<uint8_t*>(out);
      for (int u = 0; u < 8; ++u) {
        const int64_t i = c * 8 + u;
        if (i < n) o[i] = static_cast<uint8_t>((u < 4 ? a : b) >> (8 * (u % 4)));
      }
    } else {
      uint32_t* o = static_cast<uint32_t*>(out);
      const uint32_t mask = width == 2 ? 0xffffu : 0xffffffffu;
      o[2 * c] = a & mask;
      if (2 * c + 1 < n) o[2 * c + 1] = b & mask;
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
  const int64_t counters = (n + (width == 1 ? 7 : 1)) / (width == 1 ? 8 : 2);
  bits_kernel<<<blocks_for(counters, kThreads), kThreads, 0, s>>>(key, key_step, width, out, n);
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
