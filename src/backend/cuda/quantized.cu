// Quantization on the GPU in MLX's formats (common/quantize_math.h):
// quantize (a thread per group), dequantize (a thread per element) and the
// products for few rows of x (decoding). The affine format with w transposed
// ([N, K] codes, a linear layer's weight) has kernels per bit width
// (qmv_affine: vector loads, up to 4 rows of w per warp); the other formats a
// warp per row of w (qmv_t), each lane decoding 32 codes (one pack: `bits`
// whole words) at a time for every row of x, the lanes' sums combined by
// shuffles; untransposed ([K, N] codes) a thread per 32 columns (qmv_n). Many
// rows go through quantized_matmul_dequantized instead.
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

// The affine format with w transposed, bits known at compile time: the
// decoding kernel of a linear layer. A warp takes R rows of w (up to RMAX) and
// each lane one pack of 32 codes per row at a time, read as one load where
// the pack is 8 or 16 bytes; the 32 values of x beside it are read once for
// the R rows. Codes become floats through the exponent trick (2^23 + c as the
// bits of a float, minus 2^23: exact, and cheaper than a conversion), and the
// group's scale and bias apply once per pack: s * sum(x q) + b * sum(x).
template <int BITS>
__device__ __forceinline__ void load_pack(const uint32_t* p, uint32_t (&wd)[BITS]) {
  if constexpr (BITS == 4) {
    const uint4 v = *reinterpret_cast<const uint4*>(p);
    wd[0] = v.x, wd[1] = v.y, wd[2] = v.z, wd[3] = v.w;
  } else if constexpr (BITS == 8) {
    const uint4 v = reinterpret_cast<const uint4*>(p)[0];
    const uint4 u = reinterpret_cast<const uint4*>(p)[1];
    wd[0] = v.x, wd[1] = v.y, wd[2] = v.z, wd[3] = v.w;
    wd[4] = u.x, wd[5] = u.y, wd[6] = u.z, wd[7] = u.w;
  } else if constexpr (BITS == 2) {
    const uint2 v = *reinterpret_cast<const uint2*>(p);
    wd[0] = v.x, wd[1] = v.y;
  } else {
#pragma unroll
    for (int i = 0; i < BITS; ++i) wd[i] = p[i];
  }
}

// Code j of a pack (j constant after unrolling: shifts and masks only).
template <int BITS>
__device__ __forceinline__ float code_value(const uint32_t (&wd)[BITS], int j) {
  constexpr uint32_t mask = (1u << BITS) - 1u;
  const int o = j * BITS, i = o / 32, sh = o % 32;
  uint32_t c = wd[i] >> sh;
  if (sh + BITS > 32) c |= wd[i + 1] << (32 - sh);
  return __uint_as_float((c & mask) | 0x4B000000u) - 8388608.0f;
}

// Eight consecutive values of x as floats (16 bytes of a 2-byte type, 32 of float).
template <typename T>
__device__ __forceinline__ void load8(const T* p, float (&v)[8]) {
  if constexpr (sizeof(T) == 2) {
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    const T* h = reinterpret_cast<const T*>(&u);
#pragma unroll
    for (int j = 0; j < 8; ++j) v[j] = widen(h[j]);
  } else {
    const float4 a = reinterpret_cast<const float4*>(p)[0];
    const float4 b = reinterpret_cast<const float4*>(p)[1];
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w;
    v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
  }
}

constexpr int kFastWarps = 4;  // warps per block of qmv_affine

template <typename T, int BITS, int MCAP, int RMAX>
__global__ void __launch_bounds__(32 * kFastWarps)
    qmv_affine(const T* x, const uint32_t* w, const T* scales, const T* biases, int group_size,
               int M, int R, int64_t K, int64_t N, int64_t w_batch, T* out) {
  const int lane = threadIdx.x & 31;
  const int64_t n0 = (int64_t(blockIdx.x) * kFastWarps + (threadIdx.x >> 5)) * R;
  const int64_t b = blockIdx.y;
  if (n0 >= N) return;
  const int rows = static_cast<int>(min(int64_t(R), N - n0));
  const int64_t words = K * BITS / 32, groups = K / group_size, packs = K / 32;
  const int64_t row0 = b * w_batch * N + n0;
  const T* xb = x + b * M * K;
  float acc[MCAP][RMAX];
#pragma unroll
  for (int m = 0; m < MCAP; ++m) {
#pragma unroll
    for (int r = 0; r < RMAX; ++r) acc[m][r] = 0.0f;
  }
  for (int64_t p = lane; p < packs; p += 32) {
    uint32_t wd[RMAX][BITS];
    float s[RMAX], bias[RMAX];
    const int64_t g = p * 32 / group_size;
#pragma unroll
    for (int r = 0; r < RMAX; ++r) {
      if (r < rows) {
        load_pack<BITS>(w + (row0 + r) * words + p * BITS, wd[r]);
        s[r] = widen(scales[(row0 + r) * groups + g]);
        bias[r] = widen(biases[(row0 + r) * groups + g]);
      }
    }
    float xs[MCAP], dot[MCAP][RMAX];
#pragma unroll
    for (int m = 0; m < MCAP; ++m) {
      xs[m] = 0.0f;
#pragma unroll
      for (int r = 0; r < RMAX; ++r) dot[m][r] = 0.0f;
    }
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      float q[RMAX][8];
#pragma unroll
      for (int r = 0; r < RMAX; ++r) {
        if (r < rows) {
#pragma unroll
          for (int j = 0; j < 8; ++j) q[r][j] = code_value<BITS>(wd[r], c * 8 + j);
        }
      }
#pragma unroll
      for (int m = 0; m < MCAP; ++m) {
        if (m < M) {
          float xv[8];
          load8(xb + m * K + p * 32 + c * 8, xv);
#pragma unroll
          for (int j = 0; j < 8; ++j) xs[m] += xv[j];
#pragma unroll
          for (int r = 0; r < RMAX; ++r) {
            if (r < rows) {
#pragma unroll
              for (int j = 0; j < 8; ++j) dot[m][r] = fmaf(xv[j], q[r][j], dot[m][r]);
            }
          }
        }
      }
    }
#pragma unroll
    for (int m = 0; m < MCAP; ++m) {
#pragma unroll
      for (int r = 0; r < RMAX; ++r) {
        if (m < M && r < rows) acc[m][r] += s[r] * dot[m][r] + bias[r] * xs[m];
      }
    }
  }
#pragma unroll
  for (int m = 0; m < MCAP; ++m) {
#pragma unroll
    for (int r = 0; r < RMAX; ++r) {
      if (m < M && r < rows) {
        float v = acc[m][r];
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (lane == 0) out[(b * M + m) * N + n0 + r] = narrow<T>(v);
      }
    }
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

// qmv_affine for one bit width: one row of x (the decoding step) with up to 4
// rows of w per warp (fewer when that leaves the card short of warps), or up
// to 8 rows of x with one row of w per warp.
template <typename T, int BITS>
void affine_matvec_bits(const T* x, const uint32_t* w, const T* scales, const T* biases,
                        int group_size, int64_t B, int64_t M, int64_t K, int64_t N,
                        int64_t w_batch, T* out, cudaStream_t s) {
  int R = 1;
  if (M == 1) {
    int sms = 132;
    int dev = 0;
    if (cudaGetDevice(&dev) == cudaSuccess) {
      (void)cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    }
    (void)cudaGetLastError();
    const int64_t want = int64_t(sms) * 16;  // warps
    if (N * B / 4 >= want) {
      R = 4;
    } else if (N * B / 2 >= want) {
      R = 2;
    }
  }
  const int64_t warps = (N + R - 1) / R;
  dim3 grid(static_cast<unsigned>((warps + kFastWarps - 1) / kFastWarps),
            static_cast<unsigned>(B));
  if (M == 1) {
    qmv_affine<T, BITS, 1, 4><<<grid, 32 * kFastWarps, 0, s>>>(
        x, w, scales, biases, group_size, 1, R, K, N, w_batch, out);
  } else {
    qmv_affine<T, BITS, kMaxRows, 1><<<grid, 32 * kFastWarps, 0, s>>>(
        x, w, scales, biases, group_size, static_cast<int>(M), 1, K, N, w_batch, out);
  }
}

template <typename T>
void affine_matvec(const T* x, const uint32_t* w, const T* scales, const T* biases,
                   int group_size, int bits, int64_t B, int64_t M, int64_t K, int64_t N,
                   int64_t w_batch, T* out, cudaStream_t s) {
  switch (bits) {
    case 2: return affine_matvec_bits<T, 2>(x, w, scales, biases, group_size, B, M, K, N, w_batch, out, s);
    case 3: return affine_matvec_bits<T, 3>(x, w, scales, biases, group_size, B, M, K, N, w_batch, out, s);
    case 4: return affine_matvec_bits<T, 4>(x, w, scales, biases, group_size, B, M, K, N, w_batch, out, s);
    case 5: return affine_matvec_bits<T, 5>(x, w, scales, biases, group_size, B, M, K, N, w_batch, out, s);
    case 6: return affine_matvec_bits<T, 6>(x, w, scales, biases, group_size, B, M, K, N, w_batch, out, s);
    case 8: return affine_matvec_bits<T, 8>(x, w, scales, biases, group_size, B, M, K, N, w_batch, out, s);
    default: throw std::logic_error("quantized_matmul: no kernel for this bit width");
  }
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
        const bool aligned = reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                             reinterpret_cast<uintptr_t>(w) % 16 == 0;
        if constexpr (std::is_same_v<S, T>) {
          if (transpose && mode == QuantMode::affine && aligned && biases) {
            affine_matvec<T>(xp, w, sp, bp, group_size, bits, B, M, K, N, wb,
                             static_cast<T*>(out), s);
            return;
          }
        }
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
