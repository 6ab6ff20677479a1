// MLX's gather and scatter, and slice_update: slices at positions that index
// arrays (or a static region) give. Scatters into positions that may repeat
// combine atomically, by compare-and-swap on the aligned word holding the
// element, so every dtype and op goes the same way.
#include "backend/cuda/device.cuh"
#include "common/scatter_math.h"

namespace rill::detail::cu {
namespace {

template <typename F>
void dispatch_word(size_t es, F&& f) {
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
    case DT::i32: return f(Tag<int32_t>{});
    case DT::i64: return f(Tag<int64_t>{});
    default: throw std::logic_error("GPU gather/scatter: indices must be int32 or int64");
  }
}

// Where position i's slice starts: the sum over index arrays of the resolved
// index times its axis stride, or -1 when one is bad (recorded in its flag).
template <typename I>
__device__ int64_t slice_start(int64_t i, const IndexPtrs& idx, const GatherArgs& g) {
  int64_t start = 0;
  for (int k = 0; k < g.n_idx; ++k) {
    const I v = static_cast<const I*>(idx.p[k])[offset_of(i, g.idx, g.idx_st[k])];
    int64_t w = static_cast<int64_t>(v);
    if (w < 0) w += g.axis_len[k];
    if (w < 0 || w > g.room[k]) {
      long long* bad = idx.bad[k];
      if (bad && atomicCAS(reinterpret_cast<unsigned long long*>(bad), 0ull, 1ull) == 0ull) {
        bad[1] = static_cast<long long>(v);
      }
      return -1;
    }
    start += w * g.axis_st[k];
  }
  return start;
}

template <typename E, typename I>
__global__ void gather_kernel(const E* a, IndexPtrs idx, E* out, GatherArgs g, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t i = e / g.n_slice, j = e - i * g.n_slice;
    const int64_t start = slice_start<I>(i, idx, g);
    if (start < 0) continue;
    out[e] = a[start + offset_of(j, g.slice, g.slice_st)];
  }
}

// *p = f(*p) atomically, on the 4- or 8-byte aligned word that holds *p.
template <typename T, typename F>
__device__ void atomic_apply(T* p, F f) {
  if constexpr (sizeof(T) == 8) {
    auto* w = reinterpret_cast<unsigned long long*>(p);
    unsigned long long old = *w, seen;
    do {
      seen = old;
      T cur, next;
      memcpy(&cur, &seen, 8);
      next = f(cur);
      unsigned long long bits;
      memcpy(&bits, &next, 8);
      if (bits == seen) return;
      old = atomicCAS(w, seen, bits);
    } while (old != seen);
  } else {
    const uintptr_t at = reinterpret_cast<uintptr_t>(p);
    auto* w = reinterpret_cast<unsigned int*>(at & ~uintptr_t(3));
    const unsigned shift = static_cast<unsigned>(at & 3) * 8;
    const unsigned mask =
        sizeof(T) == 4 ? 0xffffffffu : ((1u << (8 * sizeof(T))) - 1u) << shift;
    unsigned int old = *w, seen;
    do {
      seen = old;
      const unsigned field = (seen & mask) >> shift;
      T cur, next;
      memcpy(&cur, &field, sizeof(T));
      next = f(cur);
      unsigned int bits = 0;
      memcpy(&bits, &next, sizeof(T));
      const unsigned int word = (seen & ~mask) | ((bits << shift) & mask);
      if (word == seen) return;
      old = atomicCAS(w, seen, word);
    } while (old != seen);
  }
}

template <ScatterOp op, typename T>
__device__ __forceinline__ void combine_at(T* p, T v) {
  if constexpr (op == ScatterOp::scatter) {
    *p = v;
  } else {
    atomic_apply(p, [v](T old) {
      return narrow<T>(scatter_combine<op, acc_t<T>>(widen(old), widen(v)));
    });
  }
}

template <ScatterOp op, typename T, typename I>
__global__ void scatter_kernel(T* out, const T* upd, Dims ud, Steps ust, IndexPtrs idx,
                               GatherArgs g, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t i = e / g.n_slice, j = e - i * g.n_slice;
    const int64_t start = slice_start<I>(i, idx, g);
    if (start < 0) continue;
    combine_at<op>(out + start + offset_of(j, g.slice, g.slice_st), upd[offset_of(e, ud, ust)]);
  }
}

template <ScatterOp op, typename T>
__global__ void slice_update_kernel(T* out, Steps ost, const T* upd, Steps ust, Dims dims,
                                    int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += stride) {
    T* p = out + offset_of(j, dims, ost);
    const T v = upd[offset_of(j, dims, ust)];
    if constexpr (op == ScatterOp::scatter) {
      *p = v;
    } else {
      *p = narrow<T>(scatter_combine<op, acc_t<T>>(widen(*p), widen(v)));
    }
  }
}

template <typename F>
void dispatch_scatter(ScatterOp op, F&& f) {
  switch (op) {
#define RILL_SCATTER_CASE(name, rule) \
  case ScatterOp::name: return f(std::integral_constant<ScatterOp, ScatterOp::name>{});
    RILL_SCATTER_OPS(RILL_SCATTER_CASE)
#undef RILL_SCATTER_CASE
  }
}

constexpr int kThreads = 256;

}  // namespace

void gather(size_t es, const void* a, DT it, const IndexPtrs& idx, void* out,
            const GatherArgs& g, int64_t n, cudaStream_t s) {
  dispatch_word(es, [&](auto et) {
    using E = typename decltype(et)::type;
    dispatch_index(it, [&](auto itag) {
      using I = typename decltype(itag)::type;
      gather_kernel<E, I><<<blocks_for(n, kThreads), kThreads, 0, s>>>(
          static_cast<const E*>(a), idx, static_cast<E*>(out), g, n);
    });
  });
  check_launch("gather");
}

void scatter(ScatterOp op, DT t, void* out, const void* upd, Dims ud, Steps ust, DT it,
             const IndexPtrs& idx, const GatherArgs& g, int64_t n, cudaStream_t s) {
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_index(it, [&](auto itag) {
      using I = typename decltype(itag)::type;
      dispatch_scatter(op, [&](auto opc) {
        scatter_kernel<decltype(opc)::value, T, I><<<blocks_for(n, kThreads), kThreads, 0, s>>>(
            static_cast<T*>(out), static_cast<const T*>(upd), ud, ust, idx, g, n);
      });
    });
  });
  check_launch(op_name(op));
}

void slice_update(ScatterOp op, DT t, void* out, int64_t base, Steps ost, const void* upd,
                  Steps ust, Dims dims, int64_t n, cudaStream_t s) {
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_scatter(op, [&](auto opc) {
      slice_update_kernel<decltype(opc)::value, T><<<blocks_for(n, kThreads), kThreads, 0, s>>>(
          static_cast<T*>(out) + base, ost, static_cast<const T*>(upd), ust, dims, n);
    });
  });
  check_launch("slice_update");
}

}  // namespace rill::detail::cu
