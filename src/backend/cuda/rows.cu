// Row kernels: softmax, logsumexp, layer_norm, rms_norm (a block per
// contiguous row, float accumulation for the half types, double for float64),
// and rope (a thread per rotated pair).
#include <algorithm>
#include <cmath>

#include "backend/cuda/device.cuh"

namespace rill::detail::cu {
namespace {

constexpr int kThreads = 256;

// Accumulation type: float for half types and float32, double for float64.
template <typename T>
using row_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <typename A, bool Max>
__device__ A block_reduce(A v) {
  __shared__ A vals[32];
  for (int d = 16; d > 0; d /= 2) {
    A o = __shfl_down_sync(0xffffffffu, v, d);
    v = Max ? (o > v || o != o ? o : v) : v + o;
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) vals[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) / 32;
  if (warp == 0) {
    v = lane < warps ? vals[lane] : (Max ? -A(INFINITY) : A(0));
    for (int d = 16; d > 0; d /= 2) {
      A o = __shfl_down_sync(0xffffffffu, v, d);
      v = Max ? (o > v || o != o ? o : v) : v + o;
    }
    if (lane == 0) vals[0] = v;
  }
  __syncthreads();
  A r = vals[0];
  __syncthreads();
  return r;
}

template <typename T, bool Log>
__global__ void softmax_rows(const T* in, T* out, int64_t rows, int64_t len) {
  using A = row_t<T>;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* x = in + r * len;
    A m = -A(INFINITY);
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
      A v = static_cast<A>(widen(x[j]));
      m = (v > m || v != v) ? v : m;
    }
    m = block_reduce<A, true>(m);
    A sum = 0;
    // An all -inf row (or an empty one) has no finite maximum: subtracting it
    // would give NaN, so shift by 0 instead.
    const A shift = isinf(m) ? A(0) : m;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
      sum += exp(static_cast<A>(widen(x[j])) - shift);
    }
    sum = block_reduce<A, false>(sum);
    if constexpr (Log) {
      if (threadIdx.x == 0) out[r] = narrow<T>(static_cast<acc_t<T>>(shift + log(sum)));
    } else {
      T* y = out + r * len;
      const A inv = A(1) / sum;
      for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
        y[j] = narrow<T>(static_cast<acc_t<T>>(exp(static_cast<A>(widen(x[j])) - shift) * inv));
      }
    }
  }
}

// Moments accumulate in double: a row with a large mean and a small spread
// keeps float32 precision (as on the CPU).
template <typename T>
__global__ void norm_rows(const T* in, const T* w, int64_t ws, const T* b, int64_t bs, T* out,
                          int64_t rows, int64_t len, float eps, bool rms) {
  using A = double;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* x = in + r * len;
    A mean = 0;
    if (!rms) {
      A s = 0;
      for (int64_t j = threadIdx.x; j < len; j += blockDim.x) s += static_cast<A>(widen(x[j]));
      mean = block_reduce<A, false>(s) / static_cast<A>(len);
    }
    A sq = 0;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
      A d = static_cast<A>(widen(x[j])) - mean;
      sq += d * d;
    }
    const A var = block_reduce<A, false>(sq) / static_cast<A>(len);
    const A scale = A(1) / sqrt(var + static_cast<A>(eps));
    T* y = out + r * len;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
      A v = (static_cast<A>(widen(x[j])) - mean) * scale;
      if (w) v *= static_cast<A>(widen(w[j * ws]));
      if (b) v += static_cast<A>(widen(b[j * bs]));
      y[j] = narrow<T>(static_cast<acc_t<T>>(v));
    }
  }
}

template <typename A>
__device__ __forceinline__ A warp_sum(A v) {
  for (int d = 16; d > 0; d /= 2) v += __shfl_xor_sync(0xffffffffu, v, d);
  return v;
}

// The same norm for rows of up to 32 * PER elements: a warp per row, its
// elements in registers (read once), the moments summed by shuffles alone
// (no shared memory, no block barrier). Most rows of a model are this short.
template <typename T, int PER>
__global__ void norm_rows_warp(const T* in, const T* w, int64_t ws, const T* b, int64_t bs,
                               T* out, int64_t rows, int64_t len, float eps, bool rms) {
  using A = double;
  const int lane = threadIdx.x % 32;
  const int64_t per_block = blockDim.x / 32;
  for (int64_t r = blockIdx.x * per_block + threadIdx.x / 32; r < rows;
       r += int64_t(gridDim.x) * per_block) {
    const T* x = in + r * len;
    acc_t<T> v[PER];
    A s = 0;
#pragma unroll
    for (int k = 0; k < PER; ++k) {
      const int64_t j = lane + 32 * k;
      v[k] = j < len ? widen(x[j]) : acc_t<T>(0);
      s += static_cast<A>(v[k]);
    }
    const A mean = rms ? A(0) : warp_sum(s) / static_cast<A>(len);
    A sq = 0;
#pragma unroll
    for (int k = 0; k < PER; ++k) {
      if (lane + 32 * k < len) {
        const A d = static_cast<A>(v[k]) - mean;
        sq += d * d;
      }
    }
    const A scale = A(1) / sqrt(warp_sum(sq) / static_cast<A>(len) + static_cast<A>(eps));
    T* y = out + r * len;
#pragma unroll
    for (int k = 0; k < PER; ++k) {
      const int64_t j = lane + 32 * k;
      if (j < len) {
        A o = (static_cast<A>(v[k]) - mean) * scale;
        if (w) o *= static_cast<A>(widen(w[j * ws]));
        if (b) o += static_cast<A>(widen(b[j * bs]));
        y[j] = narrow<T>(static_cast<acc_t<T>>(o));
      }
    }
  }
}

template <typename T>
__global__ void rope_pairs(const T* in, T* out, RopeArgs a) {
  using C = acc_t<T>;
  const int half = a.dims / 2;
  const int64_t tail = a.d - a.dims;
  const int64_t per_row = half + tail;  // work items per (matrix, position)
  const int64_t n = a.matrices * a.len * per_row;
  const int64_t stride_a = a.traditional ? 2 : 1;
  const int64_t b_shift = a.traditional ? 1 : half;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = t % per_row;
    const int64_t row = t / per_row;
    const int64_t l = row % a.len, m = row / a.len;
    const T* src = in + offset_of(m, a.lead, a.lead_st) + l * a.ls;
    T* dst = out + (m * a.len + l) * a.d;
    if (i >= half) {
      const int64_t j = a.dims + (i - half);
      dst[j] = src[j * a.ds];
      continue;
    }
    const int64_t off = a.n_offsets == 1 ? a.offsets[0] : a.offsets[m / a.per_first];
    const double pos = static_cast<double>(off + l) * a.scale;
    const double ang = pos * a.inv_freq[i];
    const C c = static_cast<C>(cos(ang)), s = static_cast<C>(sin(ang));
    const int64_t ia = i * stride_a, ib = ia + b_shift;
    const C x1 = widen(src[ia * a.ds]), x2 = widen(src[ib * a.ds]);
    dst[ia] = narrow<T>(x1 * c - x2 * s);
    dst[ib] = narrow<T>(x1 * s + x2 * c);
  }
}

}  // namespace

void softmax(DT t, const void* in, void* out, int64_t rows, int64_t len, bool log,
             cudaStream_t s) {
  dispatch_float(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (log) {
      softmax_rows<T, true><<<blocks_for(rows, 1), kThreads, 0, s>>>(
          static_cast<const T*>(in), static_cast<T*>(out), rows, len);
    } else {
      softmax_rows<T, false><<<blocks_for(rows, 1), kThreads, 0, s>>>(
          static_cast<const T*>(in), static_cast<T*>(out), rows, len);
    }
  });
  check_launch(log ? "logsumexp" : "softmax");
}

void norm(DT t, const void* x, const void* w, int64_t ws, const void* b, int64_t bs, void* out,
          int64_t rows, int64_t len, float eps, bool rms, cudaStream_t s) {
  if (rows <= 0 || len <= 0) return;  // nothing to write
  dispatch_float(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto args = [&](auto kernel, unsigned blocks) {
      kernel<<<blocks, kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<const T*>(w), ws,
                                         static_cast<const T*>(b), bs, static_cast<T*>(out), rows,
                                         len, eps, rms);
    };
    if (len <= 32 * 32) {
      const int64_t per_block = kThreads / 32;
      const unsigned blocks =
          static_cast<unsigned>(std::min<int64_t>((rows + per_block - 1) / per_block, 1 << 20));
      if (len <= 32 * 4) return args(norm_rows_warp<T, 4>, blocks);
      if (len <= 32 * 8) return args(norm_rows_warp<T, 8>, blocks);
      if (len <= 32 * 16) return args(norm_rows_warp<T, 16>, blocks);
      return args(norm_rows_warp<T, 32>, blocks);
    }
    args(norm_rows<T>, static_cast<unsigned>(blocks_for(rows, 1)));
  });
  check_launch(rms ? "rms_norm" : "layer_norm");
}

void rope(DT t, const void* x, void* out, const RopeArgs& a, cudaStream_t s) {
  dispatch_float(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = a.matrices * a.len * (a.dims / 2 + a.d - a.dims);
    rope_pairs<T><<<blocks_for(n, kThreads), kThreads, 0, s>>>(static_cast<const T*>(x),
                                                                static_cast<T*>(out), a);
  });
  check_launch("rope");
}

}  // namespace rill::detail::cu
