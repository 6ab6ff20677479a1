// Kernels that move elements without arithmetic: take, take_along_axis, the
// strided moves behind concatenate and pad.
// Moves work on unsigned words of the element's size, whatever the dtype.
#include "backend/cuda/device.cuh"

namespace rill::detail::cu {
namespace {

constexpr int kThreads = 256;

template <typename F>
void dispatch_size(size_t es, F&& f) {
  switch (es) {
    case 1: return f(Tag<uint8_t>{});
    case 2: return f(Tag<uint16_t>{});
    case 4: return f(Tag<uint32_t>{});
    case 8: return f(Tag<uint64_t>{});
  }
  throw std::logic_error("unsupported element size in a GPU kernel");
}

template <typename F>
void dispatch_index(DT t, F&& f) {
  switch (t) {
    case DT::u8: return f(Tag<uint8_t>{});
    case DT::u32: return f(Tag<uint32_t>{});
    case DT::i32: return f(Tag<int32_t>{});
    case DT::i64: return f(Tag<int64_t>{});
    default: throw std::logic_error("GPU gather: indices must be integers");
  }
}

// The position an index names along an axis of length n, or -1 when it is
// outside [-n, n); the first bad value is kept in `bad` ({flag, value}).
template <typename I>
__device__ __forceinline__ int64_t resolve(I v, int64_t n, long long* bad) {
  int64_t k = static_cast<int64_t>(v);
  if (k < 0) k += n;
  if (k >= 0 && k < n) return k;
  if (bad && atomicCAS(reinterpret_cast<unsigned long long*>(bad), 0ull, 1ull) == 0ull) {
    bad[1] = static_cast<long long>(v);
  }
  return -1;
}

template <typename E, typename I>
__global__ void take_kernel(const E* a, const I* idx, E* out, TakeArgs t, int64_t n,
                            long long* bad) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t q = i % t.n_post, r = i / t.n_post;
    const int64_t j = r % t.n_idx, p = r / t.n_idx;
    const int64_t k = resolve(idx[offset_of(j, t.idx, t.idx_st)], t.axis_len, bad);
    if (k < 0) continue;
    out[i] = a[offset_of(p, t.pre, t.pre_st) + k * t.axis_st + offset_of(q, t.post, t.post_st)];
  }
}

template <typename E, typename I>
__global__ void take_along_kernel(const E* a, Steps ast, const I* idx, Steps ist, E* out,
                                  Dims dims, int64_t n, int64_t axis_len, int64_t axis_st,
                                  long long* bad) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t k = resolve(idx[offset_of(i, dims, ist)], axis_len, bad);
    if (k < 0) continue;
    out[i] = a[offset_of(i, dims, ast) + k * axis_st];
  }
}

template <typename E>
__global__ void move_kernel(const E* in, Steps ist, E* out, Steps ost, Dims dims, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    out[offset_of(i, dims, ost)] = in[offset_of(i, dims, ist)];
  }
}

template <typename E>
__global__ void pad_kernel(const E* in, const E* value, E* out, PadArgs a, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t rest = i, off = 0;
    bool inside = true;
    for (int d = a.ndim - 1; d >= 0; --d) {
      const int64_t c = rest % a.out_shape[d];
      rest /= a.out_shape[d];
      int64_t j = c - a.low[d];
      if (j < 0 || j >= a.in_shape[d]) {
        if (!a.edge) {
          inside = false;
          break;
        }
        j = j < 0 ? 0 : a.in_shape[d] - 1;
      }
      off += j * a.in_st[d];
    }
    out[i] = inside ? in[off] : *value;
  }
}

}  // namespace

void take(size_t es, const void* a, DT it, const void* idx, void* out, const TakeArgs& t,
          int64_t n, long long* bad, cudaStream_t s) {
  dispatch_size(es, [&](auto e) {
    using E = typename decltype(e)::type;
    dispatch_index(it, [&](auto i) {
      using I = typename decltype(i)::type;
      take_kernel<E, I><<<blocks_for(n, kThreads), kThreads, 0, s>>>(
          static_cast<const E*>(a), static_cast<const I*>(idx), static_cast<E*>(out), t, n, bad);
    });
  });
  check_launch("take");
}

void take_along_axis(size_t es, const void* a, Steps ast, DT it, const void* idx, Steps ist,
                     void* out, Dims dims, int64_t n, int64_t axis_len, int64_t axis_st,
                     long long* bad, cudaStream_t s) {
  dispatch_size(es, [&](auto e) {
    using E = typename decltype(e)::type;
    dispatch_index(it, [&](auto i) {
      using I = typename decltype(i)::type;
      take_along_kernel<E, I><<<blocks_for(n, kThreads), kThreads, 0, s>>>(
          static_cast<const E*>(a), ast, static_cast<const I*>(idx), ist, static_cast<E*>(out),
          dims, n, axis_len, axis_st, bad);
    });
  });
  check_launch("take_along_axis");
}

void move(size_t es, const void* in, Steps ist, void* out, Steps ost, Dims dims, int64_t n,
          cudaStream_t s) {
  if (n == 0) return;
  const bool unit = dims.ndim == 0 || (ist.s[dims.ndim - 1] == 1 && ost.s[dims.ndim - 1] == 1);
  if (dims.ndim <= 1 && unit) {
    check_call(cudaMemcpyAsync(out, in, n * es, cudaMemcpyDeviceToDevice, s), "cudaMemcpyAsync");
    return;
  }
  if (dims.ndim == 2 && unit && ist.s[0] >= dims.shape[1] && ost.s[0] >= dims.shape[1]) {
    // Rows of one run each (a slot of a concatenation): one 2D copy.
    check_call(cudaMemcpy2DAsync(out, ost.s[0] * es, in, ist.s[0] * es, dims.shape[1] * es,
                                 dims.shape[0], cudaMemcpyDeviceToDevice, s),
               "cudaMemcpy2DAsync");
    return;
  }
  dispatch_size(es, [&](auto e) {
    using E = typename decltype(e)::type;
    move_kernel<E><<<blocks_for(n, kThreads), kThreads, 0, s>>>(
        static_cast<const E*>(in), ist, static_cast<E*>(out), ost, dims, n);
  });
  check_launch("move");
}

void pad(size_t es, const void* in, const void* value, void* out, const PadArgs& a, int64_t n,
         cudaStream_t s) {
  dispatch_size(es, [&](auto e) {
    using E = typename decltype(e)::type;
    pad_kernel<E><<<blocks_for(n, kThreads), kThreads, 0, s>>>(
        static_cast<const E*>(in), static_cast<const E*>(value), static_cast<E*>(out), a, n);
  });
  check_launch("pad");
}

}  // namespace rill::detail::cu
