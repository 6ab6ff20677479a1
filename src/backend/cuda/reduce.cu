// Reductions. Four shapes of work:
//  - columns: when the innermost kept dim is the contiguous one, a thread per
//    output walks the reduced elements (neighbouring threads read neighbouring
//    addresses);
//  - flat rows: reduced elements contiguous, outputs evenly spaced (a sum over
//    the last axes, or over everything): a lean kernel whose threads do
//    16-byte loads, with a full SM of them in flight;
//  - rows: otherwise a block per output, its threads striding over the reduced
//    elements, combined with warp shuffles;
//  - split rows: when there are too few outputs to fill the chip, each output's
//    elements are split across blocks that write partial results to scratch,
//    and a second pass combines them.
// Sums and products of floats accumulate in double, as on the CPU; NaN wins in
// max and min.
#include <cfloat>
#include <climits>

#include "backend/cuda/device.cuh"

namespace rill::detail::cu {
namespace {

constexpr int kThreads = 256;

template <typename T>
using wide_t = std::conditional_t<is_float_v<T>, double,
                                  std::conditional_t<std::is_same_v<T, bool>, int64_t, T>>;

template <typename T, ReduceOp Op>
struct Traits {
  using Acc = std::conditional_t<Op == ReduceOp::all || Op == ReduceOp::any, bool,
                                 std::conditional_t<Op == ReduceOp::sum || Op == ReduceOp::prod, wide_t<T>,
                                                    acc_t<T>>>;
  using Out = std::conditional_t<Op == ReduceOp::all || Op == ReduceOp::any, bool, T>;
  __device__ static Acc init() {
    if constexpr (Op == ReduceOp::sum) return Acc(0);
    if constexpr (Op == ReduceOp::prod) return Acc(1);
    if constexpr (Op == ReduceOp::all) return true;
    if constexpr (Op == ReduceOp::any) return false;
    if constexpr (Op == ReduceOp::max) {
      if constexpr (std::is_floating_point_v<Acc>) return -Acc(INFINITY);
      if constexpr (std::is_same_v<Acc, bool>) return false;
      return int_limit<Acc>(false);
    }
    if constexpr (Op == ReduceOp::min) {
      if constexpr (std::is_floating_point_v<Acc>) return Acc(INFINITY);
      if constexpr (std::is_same_v<Acc, bool>) return true;
      return int_limit<Acc>(true);
    }
    return Acc(0);
  }
  __device__ static Acc lift(T x) {
    if constexpr (Op == ReduceOp::all || Op == ReduceOp::any) return convert<bool>(x);
    return static_cast<Acc>(widen(x));
  }
  __device__ static Acc combine(Acc a, Acc b) {
    if constexpr (Op == ReduceOp::sum) return static_cast<Acc>(a + b);
    if constexpr (Op == ReduceOp::prod) return static_cast<Acc>(a * b);
    if constexpr (Op == ReduceOp::all) return a && b;
    if constexpr (Op == ReduceOp::any) return a || b;
    if constexpr (Op == ReduceOp::max) return (b > a || b != b) ? b : a;
    if constexpr (Op == ReduceOp::min) return (b < a || b != b) ? b : a;
    return a;
  }
};

template <typename A>
__device__ __forceinline__ A shfl_down(A v, int d) {
  if constexpr (std::is_same_v<A, bool> || std::is_same_v<A, uint8_t>) {
    return static_cast<A>(__shfl_down_sync(0xffffffffu, static_cast<int>(v), d));
  } else {
    return __shfl_down_sync(0xffffffffu, v, d);
  }
}

// Combines `v` across the block; the result is valid in thread 0.
template <typename Tr, typename A>
__device__ A block_combine(A v) {
  __shared__ A warp_vals[32];
  for (int d = 16; d > 0; d /= 2) v = Tr::combine(v, shfl_down(v, d));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_vals[warp] = v;
  __syncthreads();
  if (warp == 0) {
    const int warps = (blockDim.x + 31) / 32;
    v = lane < warps ? warp_vals[lane] : Tr::init();
    for (int d = 16; d > 0; d /= 2) v = Tr::combine(v, shfl_down(v, d));
  }
  __syncthreads();
  return v;
}

__device__ __forceinline__ int64_t red_offset(int64_t j, const Dims& red, const Steps& rst) {
  return red.ndim == 1 ? j * rst.s[0] : (red.ndim == 0 ? 0 : offset_of(j, red, rst));
}

// Thread per output.
template <typename T, ReduceOp Op>
__global__ void columns(const T* in, Dims keep, Steps kst, Dims red, Steps rst,
                        typename Traits<T, Op>::Out* out, int64_t outputs, int64_t reduced) {
  using Tr = Traits<T, Op>;
  for (int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; o < outputs;
       o += int64_t(gridDim.x) * blockDim.x) {
    const T* base = in + offset_of(o, keep, kst);
    typename Tr::Acc acc = Tr::init();
    for (int64_t j = 0; j < reduced; ++j) acc = Tr::combine(acc, Tr::lift(base[red_offset(j, red, rst)]));
    out[o] = convert<typename Tr::Out>(acc);
  }
}

// Combines a block's four accumulators and writes its result: the output
// `o`, or with Partial the partial result of task `task` in scratch.
template <typename Tr, bool Partial, typename A>
__device__ __forceinline__ void finish_task(A acc, A a1, A a2, A a3, void* out, int64_t task,
                                            int64_t o) {
  acc = Tr::combine(Tr::combine(acc, a1), Tr::combine(a2, a3));
  acc = block_combine<Tr>(acc);
  if (threadIdx.x == 0) {
    if constexpr (Partial) {
      static_cast<A*>(out)[task] = acc;
    } else {
      static_cast<typename Tr::Out*>(out)[o] = convert<typename Tr::Out>(acc);
    }
  }
}

// Split `part` of `splits` of a contiguous run of `reduced` elements at base,
// into four accumulators: 16-byte loads, four in flight per thread. The splits
// interleave (split p reads vectors p * bd + t, then every splits * bd on), so
// that the whole grid sweeps memory in order; the elements before the first
// aligned address and after the last whole vector go to split 0.
template <typename Tr, typename T, typename A>
__device__ __forceinline__ void contiguous_part(const T* base, int64_t reduced, int64_t part,
                                                int splits, A& acc, A& a1, A& a2, A& a3) {
  constexpr int V = 16 / sizeof(T);
  auto fold = [](A a, const uint4& x) {
    const T* e = reinterpret_cast<const T*>(&x);
#pragma unroll
    for (int k = 0; k < V; ++k) a = Tr::combine(a, Tr::lift(e[k]));
    return a;
  };
  const int64_t bd = blockDim.x;
  const uintptr_t addr = reinterpret_cast<uintptr_t>(base);
  int64_t head = static_cast<int64_t>((16 - addr % 16) % 16 / sizeof(T));
  if (head > reduced) head = reduced;
  const int64_t nv = (reduced - head) / V;
  const uint4* vp = reinterpret_cast<const uint4*>(base + head);
  const int64_t step = int64_t(splits) * bd;
  int64_t i = part * bd + threadIdx.x;
  for (; i + 3 * step < nv; i += 4 * step) {
    const uint4 x0 = vp[i], x1 = vp[i + step], x2 = vp[i + 2 * step], x3 = vp[i + 3 * step];
    acc = fold(acc, x0);
    a1 = fold(a1, x1);
    a2 = fold(a2, x2);
    a3 = fold(a3, x3);
  }
  for (; i < nv; i += step) acc = fold(acc, vp[i]);
  if (part == 0) {
    for (int64_t h = threadIdx.x; h < head; h += bd) a1 = Tr::combine(a1, Tr::lift(base[h]));
    for (int64_t t = head + nv * V + threadIdx.x; t < reduced; t += bd) {
      a2 = Tr::combine(a2, Tr::lift(base[t]));
    }
  }
}

// Rows that are contiguous runs `row_st` apart (the common case: a sum over
// the last axes, or over everything). Nothing but the loads in the loop, and
// few enough registers for 1536 threads per SM: the loads in flight
// are what a reduction's bandwidth needs.
template <typename T, ReduceOp Op, bool Partial>
__global__ void __launch_bounds__(kThreads, 6)
    flat_rows(const T* in, int64_t row_st, void* out, int64_t outputs, int64_t reduced,
              int splits) {
  using Tr = Traits<T, Op>;
  for (int64_t task = blockIdx.x; task < outputs * splits; task += gridDim.x) {
    const int64_t o = task / splits, part = task % splits;
    typename Tr::Acc acc = Tr::init(), a1 = acc, a2 = acc, a3 = acc;
    contiguous_part<Tr>(in + o * row_st, reduced, part, splits, acc, a1, a2, a3);
    finish_task<Tr, Partial>(acc, a1, a2, a3, out, task, o);
  }
}

// Block per output (or per split of one): elements [begin, end) of each, or
// for contiguous ones every splits-th run of the block's width.
template <typename T, ReduceOp Op, bool Partial>
__global__ void rows(const T* in, Dims keep, Steps kst, Dims red, Steps rst, void* out,
                     int64_t outputs, int64_t reduced, int splits) {
  using Tr = Traits<T, Op>;
  const int64_t chunk = (reduced + splits - 1) / splits;
  for (int64_t task = blockIdx.x; task < outputs * splits; task += gridDim.x) {
    const int64_t o = task / splits, part = task % splits;
    const T* base = in + offset_of(o, keep, kst);
    const int64_t begin = part * chunk;
    const int64_t end = begin + chunk < reduced ? begin + chunk : reduced;
    // Four independent accumulators keep four loads in flight per thread.
    typename Tr::Acc acc = Tr::init(), a1 = acc, a2 = acc, a3 = acc;
    const int64_t bd = blockDim.x;
    int64_t j = begin + threadIdx.x;
    if (red.ndim == 1 && rst.s[0] == 1 &&
        reinterpret_cast<uintptr_t>(base) % sizeof(T) == 0) {
      contiguous_part<Tr>(base, reduced, part, splits, acc, a1, a2, a3);
      j = end;  // done: nothing for the strided loop below
    } else if (red.ndim == 1) {
      const int64_t st = rst.s[0];
      for (; j + 3 * bd < end; j += 4 * bd) {
        acc = Tr::combine(acc, Tr::lift(base[j * st]));
        a1 = Tr::combine(a1, Tr::lift(base[(j + bd) * st]));
        a2 = Tr::combine(a2, Tr::lift(base[(j + 2 * bd) * st]));
        a3 = Tr::combine(a3, Tr::lift(base[(j + 3 * bd) * st]));
      }
    }
    for (; j < end; j += bd) acc = Tr::combine(acc, Tr::lift(base[red_offset(j, red, rst)]));
    finish_task<Tr, Partial>(acc, a1, a2, a3, out, task, o);
  }
}

// Combines `splits` partials per output.
template <typename T, ReduceOp Op>
__global__ void finish(const typename Traits<T, Op>::Acc* part, typename Traits<T, Op>::Out* out,
                       int64_t outputs, int splits) {
  using Tr = Traits<T, Op>;
  for (int64_t o = blockIdx.x; o < outputs; o += gridDim.x) {
    typename Tr::Acc acc = Tr::init();
    for (int j = threadIdx.x; j < splits; j += blockDim.x) acc = Tr::combine(acc, part[o * splits + j]);
    acc = block_combine<Tr>(acc);
    if (threadIdx.x == 0) out[o] = convert<typename Tr::Out>(acc);
  }
}

template <typename T, ReduceOp Op>
void run(const T* in, Dims keep, Steps kst, Dims red, Steps rst, void* out, int64_t outputs,
         int64_t reduced, void* scratch, int splits, cudaStream_t s) {
  using Tr = Traits<T, Op>;
  using Out = typename Tr::Out;
  if (reduced == 0) {
    // Fill with the identity.
    columns<T, Op><<<blocks_for(outputs, kThreads), kThreads, 0, s>>>(
        in, keep, kst, red, rst, static_cast<Out*>(out), outputs, 0);
    return;
  }
  const bool inner_kept = keep.ndim > 0 && kst.s[keep.ndim - 1] == 1 &&
                          (red.ndim == 0 || rst.s[red.ndim - 1] != 1);
  if (inner_kept || reduced < 32) {
    columns<T, Op><<<blocks_for(outputs, kThreads), kThreads, 0, s>>>(
        in, keep, kst, red, rst, static_cast<Out*>(out), outputs, reduced);
  } else if (red.ndim == 1 && rst.s[0] == 1 && keep.ndim <= 1 &&
             reinterpret_cast<uintptr_t>(in) % sizeof(T) == 0) {
    const int64_t row_st = keep.ndim ? kst.s[0] : 0;
    if (splits > 1) {
      flat_rows<T, Op, true><<<blocks_for(outputs * splits, 1), kThreads, 0, s>>>(
          in, row_st, scratch, outputs, reduced, splits);
      finish<T, Op><<<blocks_for(outputs, 1), kThreads, 0, s>>>(
          static_cast<const typename Tr::Acc*>(scratch), static_cast<Out*>(out), outputs,
          splits);
    } else {
      flat_rows<T, Op, false><<<blocks_for(outputs, 1), kThreads, 0, s>>>(in, row_st, out,
                                                                         outputs, reduced, 1);
    }
  } else if (splits > 1) {
    rows<T, Op, true><<<blocks_for(outputs * splits, 1), kThreads, 0, s>>>(
        in, keep, kst, red, rst, scratch, outputs, reduced, splits);
    finish<T, Op><<<blocks_for(outputs, 1), kThreads, 0, s>>>(
        static_cast<const typename Tr::Acc*>(scratch), static_cast<Out*>(out), outputs, splits);
  } else {
    rows<T, Op, false><<<blocks_for(outputs, 1), kThreads, 0, s>>>(in, keep, kst, red, rst, out,
                                                                     outputs, reduced, 1);
  }
}

// The first extreme wins; NaN counts as
// the extreme and the first NaN stays.
template <typename T>
__global__ void arg_rows(ArgReduceOp op, const T* in, Dims keep, Steps kst, int64_t len, int64_t ast,
                         uint32_t* out, int64_t outputs) {
  using A = acc_t<T>;
  for (int64_t o = blockIdx.x; o < outputs; o += gridDim.x) {
    const T* base = in + offset_of(o, keep, kst);
    A best = widen(base[0]);
    int64_t bi = 0;
    bool found = false;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
      A x = widen(base[j * ast]);
      bool better;
      if (!found) {
        better = true;
      } else if (best != best) {
        better = false;
      } else {
        better = (x != x) || (op == ArgReduceOp::argmax ? x > best : x < best);
      }
      if (better) {
        best = x;
        bi = j;
        found = true;
      }
    }
    // Combine (value, index) pairs: the better value, ties to the lower index.
    for (int d = 16; d > 0; d /= 2) {
      A ob = shfl_down(best, d);
      int64_t oi = shfl_down(bi, d);
      bool of = shfl_down(found, d);
      bool take;
      if (!of) take = false;
      else if (!found) take = true;
      else if (best != best) take = (ob != ob) && oi < bi;
      else if (ob != ob) take = true;
      else take = (op == ArgReduceOp::argmax ? ob > best : ob < best) || (ob == best && oi < bi);
      if (take) {
        best = ob;
        bi = oi;
        found = true;
      }
    }
    __shared__ A wb[32];
    __shared__ int64_t wi[32];
    __shared__ int wf[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) {
      wb[warp] = best;
      wi[warp] = bi;
      wf[warp] = found;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      const int warps = (blockDim.x + 31) / 32;
      A b = wb[0];
      int64_t i0 = wi[0];
      bool f = wf[0];
      for (int w = 1; w < warps; ++w) {
        if (!wf[w]) continue;
        bool take;
        if (!f) take = true;
        else if (b != b) take = (wb[w] != wb[w]) && wi[w] < i0;
        else if (wb[w] != wb[w]) take = true;
        else take = (op == ArgReduceOp::argmax ? wb[w] > b : wb[w] < b) || (wb[w] == b && wi[w] < i0);
        if (take) {
          b = wb[w];
          i0 = wi[w];
          f = true;
        }
      }
      out[o] = static_cast<uint32_t>(i0);
    }
    __syncthreads();
  }
}

}  // namespace

int64_t reduce_splits(int64_t outputs, int64_t reduced) {
  if (outputs >= 1024 || reduced < 16384) return 1;
  int64_t want = (2048 + outputs - 1) / outputs;
  int64_t most = reduced / 8192;
  return want < most ? want : (most < 1 ? 1 : most);
}

void reduce(ReduceOp op, DT t, const void* in, Dims keep, Steps kst, Dims red, Steps rst, DT out_t,
            void* out, int64_t outputs, int64_t reduced, void* scratch, int splits,
            cudaStream_t s) {
  (void)out_t;  // t, or bool for all / any
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(in);
    switch (op) {
#define RILL_CASE(name, rule)                                                             \
  case ReduceOp::name:                                                                    \
    return run<T, ReduceOp::name>(p, keep, kst, red, rst, out, outputs, reduced, scratch, \
                                  splits, s);
      RILL_REDUCE_OPS(RILL_CASE)
#undef RILL_CASE
    }
  });
  check_launch("reduce");
}

void arg_reduce(ArgReduceOp op, DT t, const void* in, Dims keep, Steps kst, int64_t len, int64_t ast,
                uint32_t* out, int64_t outputs, cudaStream_t s) {
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    arg_rows<T><<<blocks_for(outputs, 1), 128, 0, s>>>(op, static_cast<const T*>(in), keep, kst,
                                                       len, ast, out, outputs);
  });
  check_launch("arg_reduce");
}

}  // namespace rill::detail::cu
