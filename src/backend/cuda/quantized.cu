// Quantization on the GPU in MLX's formats (common/quantize_math.h):
// quantize (a thread per group), dequantize (a thread per element) and the
// products for few rows of x (decoding): with w transposed ([N, K] codes, the
// layout of a linear layer's weight) a warp per row of w, each lane decoding
// 32 codes (one pack: `bits` whole words) at a time for every row of x, the
// lanes' sums combined by shuffles; untransposed ([K, N] codes) a thread per
// 32 columns. Many rows go through quantized_matmul_dequantized instead.
#include "backend/cuda/device.cuh"
#include "common/quantize_math.h"

namespace rill::detail::cu {
namespace {

template <typename T>
struct RoundT {
  __device__ float operator()(float f) const { return widen(narrow<T>(f)); }
};

__device__ __forceinline__ float global_scale_of(const float* g) { return g ? *g : 1.0f; }

template <typename T>
__device__ void quantize_group(const T* v, const float* global, QuantMode mode, int group_size,
                               int bits, int part, void* out, int64_t gi) {
  const int64_t words_per_group = int64_t(group_size) * bits / 32;
  uint32_t* codes = part == 0 ? static_cast<uint32_t*>(out) + gi * words_per_group : nullptr;
  CodeWriter writer(codes, bits);
  if (mode == QuantMode::affine) {
    float lo = widen(v[0]), hi = lo;
    for (int j = 1; j < group_size; ++j) {
      const float f = widen(v[j]);
      lo = fminf(lo, f);
      hi = fmaxf(hi, f);
    }
    const AffineGroup a = affine_group(lo, hi, bits);
    if (part == 0) {
      for (int j = 0; j < group_size; ++j) writer.put(affine_code(widen(v[j]), a.scale, a.bias, bits));
    } else {
      static_cast<T*>(out)[gi] = narrow<T>(part == 1 ? a.scale : a.bias);
    }
    return;
  }
  const float scale_encode = global ? 448.0f * 6.0f / *global : 1.0f;
  auto load = [&](int j) { return static_cast<float>(widen(v[j])); };
  auto put = [&](uint32_t c) {
    if (part == 0) writer.put(c);
  };
  const uint32_t stored = fp_quantize_group(mode, group_size, load, RoundT<T>{}, scale_encode, put);
  if (part == 1) static_cast<uint8_t*>(out)[gi] = static_cast<uint8_t>(stored);
}

template <typename T>
__global__ void quantize_kernel(const T* w, const float* global, QuantMode mode, int group_size,
                                int bits, int part, void* out, int64_t groups) {
  for (int64_t gi = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; gi < groups;
       gi += int64_t(gridDim.x) * blockDim.x) {
    quantize_group(w + gi * group_size, global, mode, group_size, bits, part, out, gi);
  }
}


// Affine in T: rounded after the product and after the sum (no fused
// multiply-add), as MLX's ops compute it.
template <typename T>
__global__ void dequantize_kernel(const uint32_t* w, const void* scales, const T* biases,
                                  const float* global, QuantMode mode, int group_size, int bits,
                                  int64_t K, int64_t words_per_row, T* out, int64_t n) {
  const float inv_encode = global ? *global / (448.0f * 6.0f) : 1.0f;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / K, k = i - r * K;
    const int64_t gi = r * (K / group_size) + k / group_size;
    const uint32_t code = code_at(w + r * words_per_row, k, bits);
    if (mode == QuantMode::affine) {
      const float s = widen(static_cast<const T*>(scales)[gi]), b = widen(biases[gi]);
      const float q = RoundT<T>{}(__fmul_rn(static_cast<float>(code), s));
      out[i] = narrow<T>(__fadd_rn(q, b));
    } else {
      const uint32_t stored = static_cast<const uint8_t*>(scales)[gi];
      const float s = fp_group_scale(mode, stored, RoundT<T>{}, inv_encode);
      out[i] = narrow<T>(__fmul_rn(fp_element(mode, code), s));
    }
  }
}

constexpr int kMaxRows = 8;   // rows of x per launch of the vector kernels
constexpr int kRowWarps = 8;  // rows of w per block

// out[b, m, n] = sum_k x[b, m, k] w[n, k], w's row n decoded pack by pack.
template <typename T, typename S>
__global__ void __launch_bounds__(32 * kRowWarps)
    qmv_t(const T* x, const uint32_t* w, const S* scales, const S* biases, QuantMode mode,
          int group_size, int bits, int64_t M, int64_t K, int64_t N, int64_t w_batch,
          T* out) {
  const int lane = threadIdx.x & 31;
  const int64_t n = int64_t(blockIdx.x) * kRowWarps + (threadIdx.x >> 5);
  const int64_t b = blockIdx.y;
  if (n >= N) return;
  const int64_t words = K * bits / 32, groups = K / group_size;
  const uint32_t* row = w + (b * w_batch * N + n) * words;
  const S* srow = scales + (b * w_batch * N + n) * groups;
  const S* brow = biases ? biases + (b * w_batch * N + n) * groups : nullptr;
  const T* xb = x + b * M * K;
  float acc[kMaxRows];
#pragma unroll
  for (int m = 0; m < kMaxRows; ++m) acc[m] = 0.0f;
  for (int64_t p = lane; p * 32 < K; p += 32) {
    uint32_t codes[32];
    unpack32(row + p * bits, bits, codes);
    const int64_t g = p * 32 / group_size;
    float s, bias = 0.0f;
    if (mode == QuantMode::affine) {
      s = widen(srow[g]);
      bias = widen(brow[g]);
    } else {
      s = fp_group_scale(mode, static_cast<uint32_t>(srow[g]), RoundT<float>{}, 1.0f);
    }
    float vals[32];
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      vals[j] = mode == QuantMode::affine ? static_cast<float>(codes[j])
                                          : fp_element(mode, codes[j]);
    }
#pragma unroll
    for (int m = 0; m < kMaxRows; ++m) {
      if (m >= M) break;
      const T* xm = xb + m * K + p * 32;
      float dot = 0.0f, xsum = 0.0f;
#pragma unroll
      for (int j = 0; j < 32; ++j) {
        const float xv = widen(xm[j]);
        dot += xv * vals[j];
        xsum += xv;
      }
      acc[m] += s * dot + bias * xsum;
    }
  }
#pragma unroll
  for (int m = 0; m < kMaxRows; ++m) {
    if (m >= M) break;
    float v = acc[m];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) out[(b * M + m) * N + n] = narrow<T>(v);
  }
}

// out[b, m, n] = sum_k x[b, m, k] w[k, n], a thread per 32 columns of one row m.
template <typename T, typename S>
__global__ void qmv_n(const T* x, const uint32_t* w, const S* scales, const S* biases,
                      QuantMode mode, int group_size, int bits, int64_t M, int64_t K, int64_t N,
                      int64_t w_batch, T* out) {
  const int64_t packs = N / 32;
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t b = blockIdx.y;
  if (t >= packs * M) return;
  const int64_t m = t / packs, p = t - m * packs;
  const int64_t words = N * bits / 32, groups = N / group_size;
  const uint32_t* wb = w + b * w_batch * K * words;
  const S* sb = scales + b * w_batch * K * groups;
  const S* bb = biases ? biases + b * w_batch * K * groups : nullptr;
  const T* xm = x + (b * M + m) * K;
  const int64_t g = p * 32 / group_size;
  float acc[32];
#pragma unroll
  for (int j = 0; j < 32; ++j) acc[j] = 0.0f;
  for (int64_t k = 0; k < K; ++k) {
    uint32_t codes[32];
    unpack32(wb + k * words + p * bits, bits, codes);
    const float xv = widen(xm[k]);
    float s, bias = 0.0f;
    if (mode == QuantMode::affine) {
      s = widen(sb[k * groups + g]);
      bias = widen(bb[k * groups + g]);
    } else {
      s = fp_group_scale(mode, static_cast<uint32_t>(sb[k * groups + g]), RoundT<float>{}, 1.0f);
    }
    const float xs = xv * s, xb = xv * bias;
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      const float v = mode == QuantMode::affine ? static_cast<float>(codes[j])
                                                : fp_element(mode, codes[j]);
      acc[j] += xs * v + xb;
    }
  }
  T* o = out + (b * M + m) * N + p * 32;
#pragma unroll
  for (int j = 0; j < 32; ++j) o[j] = narrow<T>(acc[j]);
}

}  // namespace

void quantize(DT t, const void* w, const float* global_scale, QuantMode mode, int group_size,
              int bits, int part, void* out, int64_t groups, cudaStream_t s) {
  if (groups == 0) return;
  dispatch_float(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, double>) {
      quantize_kernel<T><<<blocks_for(groups, 128), 128, 0, s>>>(
          static_cast<const T*>(w), global_scale, mode, group_size, bits, part, out, groups);
    }
  });
  check_launch("quantize");
}

void dequantize(DT t, const uint32_t* w, const void* scales, const void* biases,
                const float* global_scale, QuantMode mode, int group_size, int bits, int64_t K,
                int64_t words_per_row, void* out, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  dispatch_float(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, double>) {
      dequantize_kernel<T><<<blocks_for(n, 256), 256, 0, s>>>(
          w, scales, static_cast<const T*>(biases), global_scale, mode, group_size, bits, K,
          words_per_row, static_cast<T*>(out), n);
    }
  });
  check_launch("dequantize");
}

void quantized_matvec(DT t, const void* x, const uint32_t* w, const void* scales,
                      const void* biases, QuantMode mode, int group_size, int bits,
                      bool transpose, int64_t B, int64_t M, int64_t K, int64_t N,
                      bool w_batched, void* out, cudaStream_t s) {
  if (B * M * N == 0) return;
  if (M > kMaxRows) throw std::logic_error("quantized_matvec: more rows than the kernel takes");
  dispatch_float(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, double>) {
      auto launch = [&](auto stag) {
        using S = typename decltype(stag)::type;
        const T* xp = static_cast<const T*>(x);
        const S* sp = static_cast<const S*>(scales);
        const S* bp = static_cast<const S*>(biases);
        const int64_t wb = w_batched ? 1 : 0;
        if (transpose) {
          dim3 grid(static_cast<unsigned>((N + kRowWarps - 1) / kRowWarps),
                    static_cast<unsigned>(B));
          qmv_t<T, S><<<grid, 32 * kRowWarps, 0, s>>>(xp, w, sp, bp, mode, group_size, bits, M,
                                                       K, N, wb, static_cast<T*>(out));
        } else {
          const int64_t threads = M * (N / 32);
          dim3 grid(static_cast<unsigned>((threads + 127) / 128), static_cast<unsigned>(B));
          qmv_n<T, S><<<grid, 128, 0, s>>>(xp, w, sp, bp, mode, group_size, bits, M, K, N, wb,
                                            static_cast<T*>(out));
        }
      };
      if (mode == QuantMode::affine) {
        launch(Tag<T>{});
      } else {
        launch(Tag<uint8_t>{});
      }
    }
  });
  check_launch("quantized_matmul");
}

}  // namespace rill::detail::cu
