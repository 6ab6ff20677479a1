// Elementwise kernels: copy/convert, unary, binary, where, arange, eye. The
// output is row-major; operands are read through their strides over it. A
// layout that merges to one dimension takes the flat path (each thread does
// kUnroll elements of a contiguous run, grid-stride), anything else the general
// one (an index divided into coordinates). Ops are a runtime switch inside the
// kernel (uniform across the grid): one kernel per dtype, not per (op, dtype).
#include <cmath>

#include "backend/cuda/device.cuh"
#include "common/complex_math.h"
#include "backend/cuda/elementwise_ops.cuh"

namespace rill::detail::cu {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;

// Walks out's n elements: f(i, offset_of_operand...) for each.
template <int N>
struct Walk {
  Dims dims;
  Steps st[N];
};

template <int N, typename F>
__device__ __forceinline__ void walk(const Walk<N>& w, int64_t n, F&& f) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (w.dims.ndim <= 1) {
    int64_t s[N];
    for (int k = 0; k < N; ++k) s[k] = w.dims.ndim ? w.st[k].s[0] : 0;
    // kUnroll elements per thread per step, spaced by the grid so that each
    // warp's accesses stay contiguous.
    for (int64_t base = t; base < n; base += stride * kUnroll) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        int64_t i = base + u * stride;
        if (i < n) {
          int64_t off[N];
          for (int k = 0; k < N; ++k) off[k] = i * s[k];
          f(i, off);
        }
      }
    }
    return;
  }
  for (int64_t i = t; i < n; i += stride) {
    int64_t off[N];
    for (int k = 0; k < N; ++k) off[k] = offset_of(i, w.dims, w.st[k]);
    f(i, off);
  }
}

// ---- The flat, aligned path: 16-byte loads and stores ----
// Taken when every operand is contiguous (stride 1) or one value (stride 0),
// every contiguous pointer is 16-byte aligned, and so is the output. Each
// thread handles V = 16 / sizeof(widest element) consecutive elements at once.

template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <typename T, int V>
__device__ __forceinline__ Pack<T, V> load(const T* p, int64_t k, bool scalar) {
  Pack<T, V> r;
  if (scalar) {
#pragma unroll
    for (int j = 0; j < V; ++j) r.v[j] = p[0];
  } else {
    r = reinterpret_cast<const Pack<T, V>*>(p)[k];
  }
  return r;
}

constexpr int vec_width(int bytes) { return bytes >= 16 ? 1 : 16 / bytes; }

// f(j, element index) computes element j of the pack (or the single element
// of the tail).
template <int V, typename Body, typename Tail>
__device__ __forceinline__ void walk_vec(int64_t n, Body&& body, Tail&& tail) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t packs = n / V;
  for (int64_t k = t; k < packs; k += stride) body(k);
  for (int64_t i = packs * V + t; i < n; i += stride) tail(i);
}

template <typename I, typename O>
__global__ void copy_vec(const I* in, bool in_scalar, O* out, int64_t n) {
  constexpr int V = vec_width(sizeof(I) > sizeof(O) ? sizeof(I) : sizeof(O));
  walk_vec<V>(
      n,
      [&](int64_t k) {
        Pack<I, V> a = load<I, V>(in, k, in_scalar);
        Pack<O, V> o;
#pragma unroll
        for (int j = 0; j < V; ++j) o.v[j] = convert<O>(a.v[j]);
        reinterpret_cast<Pack<O, V>*>(out)[k] = o;
      },
      [&](int64_t i) { out[i] = convert<O>(in[in_scalar ? 0 : i]); });
}

template <typename T, typename O, bool Not>
__global__ void unary_vec(UnaryOp op, const T* in, O* out, int64_t n, int decimals) {
  constexpr int V = vec_width(sizeof(T) > sizeof(O) ? sizeof(T) : sizeof(O));
  auto f = [&](T x) -> O {
    if constexpr (Not) {
      return widen(x) == acc_t<T>(0);
    } else {
      return narrow<T>(apply_unary<acc_t<T>>(op, widen(x), decimals));
    }
  };
  walk_vec<V>(
      n,
      [&](int64_t k) {
        Pack<T, V> a = load<T, V>(in, k, false);
        Pack<O, V> o;
#pragma unroll
        for (int j = 0; j < V; ++j) o.v[j] = f(a.v[j]);
        reinterpret_cast<Pack<O, V>*>(out)[k] = o;
      },
      [&](int64_t i) { out[i] = f(in[i]); });
}

template <typename T, typename O, bool Pred>
__global__ void binary_vec(BinaryOp op, const T* a, bool a_scalar, const T* b, bool b_scalar, O* out,
                           int64_t n) {
  constexpr int V = vec_width(sizeof(T) > sizeof(O) ? sizeof(T) : sizeof(O));
  // `op_of()` gives the op: a constant where the caller fixed it (the op's
  // switch then folds away), else the argument, switched on per element.
  auto run = [&](auto op_of) {
    auto f = [&](T x, T y) -> O {
      if constexpr (Pred) {
        return apply_compare<acc_t<T>>(op_of(), widen(x), widen(y));
      } else {
        return narrow<T>(apply_binary<acc_t<T>>(op_of(), widen(x), widen(y)));
      }
    };
    walk_vec<V>(
        n,
        [&](int64_t k) {
          Pack<T, V> x = load<T, V>(a, k, a_scalar), y = load<T, V>(b, k, b_scalar);
          Pack<O, V> o;
#pragma unroll
          for (int j = 0; j < V; ++j) o.v[j] = f(x.v[j], y.v[j]);
          reinterpret_cast<Pack<O, V>*>(out)[k] = o;
        },
        [&](int64_t i) { out[i] = f(a[a_scalar ? 0 : i], b[b_scalar ? 0 : i]); });
  };
  if constexpr (!Pred && V >= 8) {
    // Elements of one or two bytes, 8 or 16 to a thread: a switch for each
    // of them would cost more than the memory; the common ops get their own
    // loops.
    switch (op) {
#define RILL_FIXED_OP(name)                                                        \
  case BinaryOp::name:                                                             \
    return run([] { return BinaryOp::name; });
      RILL_FIXED_OP(add)
      RILL_FIXED_OP(subtract)
      RILL_FIXED_OP(multiply)
      RILL_FIXED_OP(maximum)
      RILL_FIXED_OP(minimum)
      RILL_FIXED_OP(bitwise_and)
      RILL_FIXED_OP(bitwise_or)
      RILL_FIXED_OP(bitwise_xor)
#undef RILL_FIXED_OP
      default:
        break;
    }
  }
  run([op] { return op; });
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Operand k of a layout can take the flat vector path: stride 1 and aligned,
// or stride 0 (one value).
bool flat_ok(const Dims& dims, const Steps& st, const void* p, bool* scalar) {
  const int64_t s = dims.ndim == 0 ? 0 : st.s[0];
  if (dims.ndim > 1 || (s != 0 && s != 1)) return false;
  *scalar = s == 0;
  return *scalar || aligned16(p);
}

template <typename I, typename O>
__global__ void copy_kernel(const I* in, O* out, Walk<1> w, int64_t n) {
  walk(w, n, [&](int64_t i, const int64_t* off) { out[i] = convert<O>(in[off[0]]); });
}

template <typename T, typename O, bool Not>
__global__ void unary_kernel(UnaryOp op, const T* in, O* out, Walk<1> w, int64_t n, int decimals) {
  walk(w, n, [&](int64_t i, const int64_t* off) {
    acc_t<T> x = widen(in[off[0]]);
    if constexpr (Not) {
      out[i] = x == acc_t<T>(0);  // logical_not
    } else {
      out[i] = narrow<T>(apply_unary<acc_t<T>>(op, x, decimals));
    }
  });
}

template <typename T, typename O, bool Pred>
__global__ void binary_kernel(BinaryOp op, const T* a, const T* b, O* out, Walk<2> w, int64_t n) {
  walk(w, n, [&](int64_t i, const int64_t* off) {
    acc_t<T> x = widen(a[off[0]]), y = widen(b[off[1]]);
    if constexpr (Pred) {
      out[i] = apply_compare<acc_t<T>>(op, x, y);
    } else {
      out[i] = narrow<T>(apply_binary<acc_t<T>>(op, x, y));
    }
  });
}

template <typename T>
__global__ void where_kernel(const bool* c, const T* x, const T* y, T* out, Walk<3> w,
                             int64_t n) {
  walk(w, n, [&](int64_t i, const int64_t* off) {
    out[i] = c[off[0]] ? x[off[1]] : y[off[2]];
  });
}

// maximum then minimum (each picks an operand: no rounding between); a null
// bound is skipped.
template <typename T>
__global__ void clip_kernel(const T* x, const T* lo, const T* hi, T* out, Walk<3> w, int64_t n) {
  walk(w, n, [&](int64_t i, const int64_t* off) {
    acc_t<T> v = widen(x[off[0]]);
    if (lo) v = apply_binary<acc_t<T>>(BinaryOp::maximum, v, widen(lo[off[1]]));
    if (hi) v = apply_binary<acc_t<T>>(BinaryOp::minimum, v, widen(hi[off[2]]));
    out[i] = narrow<T>(v);
  });
}

template <typename T>
__global__ void arange_kernel(T* out, double start, double step, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    out[i] = convert<T>(start + double(i) * step);
  }
}

template <typename T>
__global__ void eye_kernel(T* out, int k, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t r = i / cols, c = i - r * cols;
    out[i] = convert<T>(c - r == k ? 1 : 0);
  }
}

template <int N>
Walk<N> make_walk(const Dims& dims, std::initializer_list<Steps> st) {
  Walk<N> w;
  w.dims = dims;
  int k = 0;
  for (const Steps& s : st) w.st[k++] = s;
  return w;
}

unsigned grid(int64_t n, const Dims& dims) {
  return blocks_for(n, kThreads, dims.ndim <= 1 ? kUnroll : 1);
}

// ---- complex64 (common/complex_math.h) ----
// A real value to complex (imaginary 0) and back (the real part; bool: either
// part non-zero), as the CPU's convert does.
template <typename I>
__global__ void to_complex_kernel(const I* in, cfloat* out, Walk<1> w, int64_t n) {
  walk(w, n, [&](int64_t i, const int64_t* off) {
    out[i] = {static_cast<float>(widen(in[off[0]])), 0.0f};
  });
}
template <typename O>
__global__ void from_complex_kernel(const cfloat* in, O* out, Walk<1> w, int64_t n) {
  walk(w, n, [&](int64_t i, const int64_t* off) {
    const cfloat z = in[off[0]];
    if constexpr (std::is_same_v<O, bool>) {
      out[i] = z.re != 0.0f || z.im != 0.0f;
    } else {
      out[i] = convert<O>(z.re);
    }
  });
}
__global__ void complex_unary_kernel(UnaryOp op, const cfloat* in, void* out, Walk<1> w,
                                     int64_t n) {
  const bool part = op == UnaryOp::real || op == UnaryOp::imag;
  walk(w, n, [&](int64_t i, const int64_t* off) {
    const cfloat r = complex_unary(op, in[off[0]]);
    if (part) {
      static_cast<float*>(out)[i] = r.re;
    } else {
      static_cast<cfloat*>(out)[i] = r;
    }
  });
}
__global__ void complex_binary_kernel(BinaryOp op, const cfloat* a, const cfloat* b, void* out,
                                      Walk<2> w, int64_t n) {
  const bool predicate = is_predicate(op);
  walk(w, n, [&](int64_t i, const int64_t* off) {
    const cfloat x = a[off[0]], y = b[off[1]];
    if (predicate) {
      static_cast<bool*>(out)[i] = complex_compare(op, x, y);
    } else {
      static_cast<cfloat*>(out)[i] = complex_binary(op, x, y);
    }
  });
}

__global__ void make_complex_kernel(const float* re, const float* im, cfloat* out, Walk<2> w,
                                    int64_t n) {
  walk(w, n, [&](int64_t i, const int64_t* off) { out[i] = {re[off[0]], im[off[1]]}; });
}

// copy with complex64 on one side or both.
void copy_complex(DT in_t, const void* in, Steps ist, DT out_t, void* out, Dims dims, int64_t n,
                  cudaStream_t s) {
  auto w = make_walk<1>(dims, {ist});
  if (in_t == DT::c64 && out_t == DT::c64) {
    copy_kernel<uint64_t, uint64_t><<<grid(n, dims), kThreads, 0, s>>>(
        static_cast<const uint64_t*>(in), static_cast<uint64_t*>(out), w, n);
  } else if (out_t == DT::c64) {
    dispatch(in_t, [&](auto it) {
      using I = typename decltype(it)::type;
      to_complex_kernel<I><<<grid(n, dims), kThreads, 0, s>>>(static_cast<const I*>(in),
                                                               static_cast<cfloat*>(out), w, n);
    });
  } else {
    dispatch(out_t, [&](auto ot) {
      using O = typename decltype(ot)::type;
      from_complex_kernel<O><<<grid(n, dims), kThreads, 0, s>>>(
          static_cast<const cfloat*>(in), static_cast<O*>(out), w, n);
    });
  }
  check_launch("copy");
}

}  // namespace

void copy(DT in_t, const void* in, Steps ist, DT out_t, void* out, Dims dims, int64_t n,
          cudaStream_t s) {
  if (in_t == DT::c64 || out_t == DT::c64) return copy_complex(in_t, in, ist, out_t, out, dims, n, s);
  dispatch(in_t, [&](auto it) {
    using I = typename decltype(it)::type;
    dispatch(out_t, [&](auto ot) {
      using O = typename decltype(ot)::type;
      bool scalar = false;
      if (aligned16(out) && flat_ok(dims, ist, in, &scalar)) {
        constexpr int V = vec_width(sizeof(I) > sizeof(O) ? sizeof(I) : sizeof(O));
        copy_vec<I, O><<<blocks_for(n, kThreads, V), kThreads, 0, s>>>(
            static_cast<const I*>(in), scalar, static_cast<O*>(out), n);
        return;
      }
      copy_kernel<I, O><<<grid(n, dims), kThreads, 0, s>>>(
          static_cast<const I*>(in), static_cast<O*>(out), make_walk<1>(dims, {ist}), n);
    });
  });
  check_launch("copy");
}

void unary(UnaryOp op, DT t, const void* in, Steps ist, DT out_t, void* out, Dims dims, int64_t n,
           int decimals, cudaStream_t s) {
  (void)out_t;  // t, or bool for logical_not, or f32 for real and imag
  if (t == DT::c64) {
    complex_unary_kernel<<<grid(n, dims), kThreads, 0, s>>>(
        op, static_cast<const cfloat*>(in), out, make_walk<1>(dims, {ist}), n);
    check_launch("unary");
    return;
  }
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto w = make_walk<1>(dims, {ist});
    bool scalar = false;
    if (aligned16(out) && flat_ok(dims, ist, in, &scalar) && !scalar) {
      if (op == UnaryOp::logical_not) {
        constexpr int V = vec_width(sizeof(T));
        unary_vec<T, bool, true><<<blocks_for(n, kThreads, V), kThreads, 0, s>>>(
            op, static_cast<const T*>(in), static_cast<bool*>(out), n, decimals);
      } else {
        constexpr int V = vec_width(sizeof(T));
        unary_vec<T, T, false><<<blocks_for(n, kThreads, V), kThreads, 0, s>>>(
            op, static_cast<const T*>(in), static_cast<T*>(out), n, decimals);
      }
      return;
    }
    if (op == UnaryOp::logical_not) {
      unary_kernel<T, bool, true><<<grid(n, dims), kThreads, 0, s>>>(
          op, static_cast<const T*>(in), static_cast<bool*>(out), w, n, decimals);
    } else {
      unary_kernel<T, T, false><<<grid(n, dims), kThreads, 0, s>>>(
          op, static_cast<const T*>(in), static_cast<T*>(out), w, n, decimals);
    }
  });
  check_launch("unary");
}

void binary(BinaryOp op, DT t, const void* a, Steps as, const void* b, Steps bs, DT out_t,
            void* out, Dims dims, int64_t n, cudaStream_t s) {
  if (t == DT::c64) {
    complex_binary_kernel<<<grid(n, dims), kThreads, 0, s>>>(
        op, static_cast<const cfloat*>(a), static_cast<const cfloat*>(b), out,
        make_walk<2>(dims, {as, bs}), n);
    check_launch("binary");
    return;
  }
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto w = make_walk<2>(dims, {as, bs});
    const bool predicate = is_predicate(op);
    bool sa = false, sb = false;
    if (aligned16(out) && flat_ok(dims, as, a, &sa) && flat_ok(dims, bs, b, &sb)) {
      constexpr int V = vec_width(sizeof(T));
      if (predicate) {
        binary_vec<T, bool, true><<<blocks_for(n, kThreads, V), kThreads, 0, s>>>(
            op, static_cast<const T*>(a), sa, static_cast<const T*>(b), sb,
            static_cast<bool*>(out), n);
      } else {
        binary_vec<T, T, false><<<blocks_for(n, kThreads, V), kThreads, 0, s>>>(
            op, static_cast<const T*>(a), sa, static_cast<const T*>(b), sb, static_cast<T*>(out),
            n);
      }
      return;
    }
    if (predicate) {
      binary_kernel<T, bool, true><<<grid(n, dims), kThreads, 0, s>>>(
          op, static_cast<const T*>(a), static_cast<const T*>(b), static_cast<bool*>(out), w, n);
    } else {
      binary_kernel<T, T, false><<<grid(n, dims), kThreads, 0, s>>>(
          op, static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(out), w, n);
    }
    (void)out_t;
  });
  check_launch("binary");
}

void where(const void* cond, Steps cs, DT t, const void* x, Steps xs, const void* y, Steps ys,
           void* out, Dims dims, int64_t n, cudaStream_t s) {
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    where_kernel<T><<<grid(n, dims), kThreads, 0, s>>>(
        static_cast<const bool*>(cond), static_cast<const T*>(x), static_cast<const T*>(y),
        static_cast<T*>(out), make_walk<3>(dims, {cs, xs, ys}), n);
  });
  check_launch("where");
}

void clip(DT t, const void* x, Steps xs, const void* lo, Steps ls, const void* hi, Steps hs,
          void* out, Dims dims, int64_t n, cudaStream_t s) {
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    clip_kernel<T><<<grid(n, dims), kThreads, 0, s>>>(
        static_cast<const T*>(x), static_cast<const T*>(lo), static_cast<const T*>(hi),
        static_cast<T*>(out), make_walk<3>(dims, {xs, ls, hs}), n);
  });
  check_launch("clip");
}

void make_complex(const void* re, Steps rs, const void* im, Steps is, void* out, Dims dims,
                  int64_t n, cudaStream_t s) {
  make_complex_kernel<<<grid(n, dims), kThreads, 0, s>>>(
      static_cast<const float*>(re), static_cast<const float*>(im), static_cast<cfloat*>(out),
      make_walk<2>(dims, {rs, is}), n);
  check_launch("complex");
}

void arange(DT t, double start, double step, void* out, int64_t n, cudaStream_t s) {
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    arange_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, s>>>(static_cast<T*>(out), start,
                                                                   step, n);
  });
  check_launch("arange");
}

void eye(DT t, int k, void* out, int64_t rows, int64_t cols, cudaStream_t s) {
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    eye_kernel<T><<<blocks_for(rows * cols, kThreads), kThreads, 0, s>>>(static_cast<T*>(out),
                                                                          k, rows, cols);
  });
  check_launch("eye");
}

namespace {
// Stores through an address no allocation holds (the first page is never
// mapped); `where` comes from the host so the compiler cannot see it.
__global__ void wild_write_kernel(float* where) { where[threadIdx.x] = 1.0f; }
}  // namespace

void wild_write(cudaStream_t s) {
  wild_write_kernel<<<1, 32, 0, s>>>(reinterpret_cast<float*>(uintptr_t{64}));
  check_launch("device_fault");
}

}  // namespace rill::detail::cu
