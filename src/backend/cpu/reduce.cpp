// Reductions (sum, prod, max, min, all, any) and arg reductions over inputs of
// any layout.
//
// Both kernels first simplify the input into "kept" dims (the output's, in
// order) and "reduced" dims, dropping size-1 dims and merging neighbours that
// are contiguous with each other. Then one of two loops runs:
//  - row: each output element reduces a run of input elements (a contiguous
//    run becomes a tight loop with independent lanes);
//  - column: the innermost kept dim is closer together in memory than any
//    reduced one (sum over axis 0 of a row-major matrix), so a block of
//    outputs accumulates side by side while the reduced dims are walked.
//
// Float sums and products (float16, bfloat16, float32, float64) accumulate in
// double: accurate to about one rounding of the result for any length, and no
// slower than a float accumulator at memory bandwidth.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>

#include "backend/cpu/kernels.h"
#include "core/dispatch.h"

namespace rill::detail::cpu {
namespace {

struct Dim {
  int64_t n;
  int64_t stride;
};
using Dims = std::vector<Dim>;

// Calls f(offset) for every element of `dims` in row-major order, offsets
// counted from `base`. `idx` is scratch (reused to avoid an allocation per call).
template <typename F>
void for_each_offset(const Dims& dims, int64_t base, std::vector<int64_t>& idx, F&& f) {
  if (dims.empty()) {
    f(base);
    return;
  }
  int nd = static_cast<int>(dims.size());
  idx.assign(nd, 0);
  const Dim last = dims.back();
  int64_t off = base;
  for (;;) {
    for (int64_t j = 0; j < last.n; ++j) f(off + j * last.stride);
    int d = nd - 2;
    for (; d >= 0; --d) {
      off += dims[d].stride;
      if (++idx[d] < dims[d].n) break;
      off -= dims[d].stride * dims[d].n;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

// The output's dims (all but `reduced`, in order), merged where the input lets
// two neighbours be walked as one. The output is row-major over them, so only
// the input's strides decide.
Dims kept_dims(const Node& in, const std::vector<int>& reduced) {
  Dims kept;
  for (int d = 0; d < static_cast<int>(in.shape.size()); ++d) {
    if (in.shape[d] == 1 || std::binary_search(reduced.begin(), reduced.end(), d))
      continue;
    Dim cur{in.shape[d], in.strides[d]};
    if (!kept.empty() && kept.back().stride == cur.stride * cur.n) {
      kept.back() = {kept.back().n * cur.n, cur.stride};
    } else {
      kept.push_back(cur);
    }
  }
  return kept;
}

template <typename T>
constexpr bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>) {
    return x != x;
  } else {
    return false;
  }
}

// Accumulator of sums and products: double for floats, int64 for bool, else T
// (integers wrap as in NumPy).
template <typename T>
using wide_t =
    std::conditional_t<std::is_floating_point_v<compute_t<T>>, double,
                       std::conditional_t<std::is_same_v<T, bool>, int64_t, T>>;

// Each op: Acc, init(), lift(T) -> Acc, combine(Acc, Acc) -> Acc. combine is
// associative and commutative (up to float rounding), so the order in which
// elements are visited does not matter.
template <typename T>
struct SumOp {
  using Acc = wide_t<T>;
  static Acc init() { return Acc(0); }
  static Acc lift(T x) { return static_cast<Acc>(static_cast<compute_t<T>>(x)); }
  static Acc combine(Acc a, Acc b) { return static_cast<Acc>(a + b); }
};
template <typename T>
struct ProdOp {
  using Acc = wide_t<T>;
  static Acc init() { return Acc(1); }
  static Acc lift(T x) { return static_cast<Acc>(static_cast<compute_t<T>>(x)); }
  static Acc combine(Acc a, Acc b) { return static_cast<Acc>(a * b); }
};
// NaN wins, as in NumPy: once the accumulator is NaN no comparison replaces it.
template <typename T>
struct MaxOp {
  using Acc = compute_t<T>;
  static Acc init() {
    if constexpr (std::is_floating_point_v<Acc>)
      return -std::numeric_limits<Acc>::infinity();
    return std::numeric_limits<Acc>::lowest();
  }
  static Acc lift(T x) { return static_cast<Acc>(x); }
  static Acc combine(Acc a, Acc b) { return (b > a || is_nan(b)) ? b : a; }
};
template <typename T>
struct MinOp {
  using Acc = compute_t<T>;
  static Acc init() {
    if constexpr (std::is_floating_point_v<Acc>)
      return std::numeric_limits<Acc>::infinity();
    return std::numeric_limits<Acc>::max();
  }
  static Acc lift(T x) { return static_cast<Acc>(x); }
  static Acc combine(Acc a, Acc b) { return (b < a || is_nan(b)) ? b : a; }
};
template <typename T>
struct AllOp {
  using Acc = bool;
  static Acc init() { return true; }
  static Acc lift(T x) { return convert<bool>(x); }
  static Acc combine(Acc a, Acc b) { return a && b; }
};
template <typename T>
struct AnyOp {
  using Acc = bool;
  static Acc init() { return false; }
  static Acc lift(T x) { return convert<bool>(x); }
  static Acc combine(Acc a, Acc b) { return a || b; }
};

// Float max/min of a contiguous run. Compilers do not vectorise the
// NaN-propagating select on their own (it is not a plain max), so this uses the
// GCC/Clang vector types: compare-select per lane, NaNs caught in a side mask.
// Returns the result over [0, i) and sets i; the caller finishes the tail.
#if defined(__GNUC__)
template <typename T>
inline constexpr bool kHasVectorMinMax =
    std::is_same_v<T, float> || std::is_same_v<T, double>;

template <bool kMax, typename T>
T minmax_run(const T* p, int64_t n, int64_t& i) {
  typedef T V __attribute__((vector_size(16)));
  using Mask = decltype(V{} != V{});
  constexpr int kWidth = 16 / sizeof(T);
  const T init =
      kMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  V a0, a1;
  for (int j = 0; j < kWidth; ++j) a0[j] = a1[j] = init;
  Mask nan{};
  i = 0;
  for (; i + 2 * kWidth <= n; i += 2 * kWidth) {
    V x0, x1;
    std::memcpy(&x0, p + i, sizeof(V));
    std::memcpy(&x1, p + i + kWidth, sizeof(V));
    if constexpr (kMax) {
      a0 = x0 > a0 ? x0 : a0;
      a1 = x1 > a1 ? x1 : a1;
    } else {
      a0 = x0 < a0 ? x0 : a0;
      a1 = x1 < a1 ? x1 : a1;
    }
    nan |= (x0 != x0) | (x1 != x1);
  }
  T acc = init;
  for (int j = 0; j < kWidth; ++j) {
    if (nan[j]) return std::numeric_limits<T>::quiet_NaN();
    acc = kMax ? std::max({acc, a0[j], a1[j]}) : std::min({acc, a0[j], a1[j]});
  }
  return acc;
}
#else
template <typename T>
inline constexpr bool kHasVectorMinMax = false;
template <bool kMax, typename T>
T minmax_run(const T*, int64_t, int64_t&);
#endif

template <typename Op, typename T>
inline constexpr bool kVectorMinMax = kHasVectorMinMax<T> &&
                                      (std::is_same_v<Op, MaxOp<T>> ||
                                       std::is_same_v<Op, MinOp<T>>);

// A contiguous run: independent lanes so that the compiler can vectorise
// without reassociating (which it may not do for floats).
template <typename Op, typename T>
typename Op::Acc reduce_run(const T* p, int64_t n) {
  using Acc = typename Op::Acc;
  constexpr int kLanes = 8;
  Acc acc = Op::init();
  int64_t i = 0;
  if constexpr (kVectorMinMax<Op, T>) {
    acc = minmax_run<std::is_same_v<Op, MaxOp<T>>>(p, n, i);
  } else if (n >= kLanes) {
    Acc lanes[kLanes];
    for (int j = 0; j < kLanes; ++j) lanes[j] = Op::init();
    for (; i + kLanes <= n; i += kLanes) {
      for (int j = 0; j < kLanes; ++j)
        lanes[j] = Op::combine(lanes[j], Op::lift(p[i + j]));
    }
    for (int j = 0; j < kLanes; ++j) acc = Op::combine(acc, lanes[j]);
  }
  for (; i < n; ++i) acc = Op::combine(acc, Op::lift(p[i]));
  return acc;
}

template <typename Op, typename T>
typename Op::Acc reduce_strided(const T* p, int64_t n, int64_t stride) {
  typename Op::Acc acc = Op::init();
  for (int64_t i = 0; i < n; ++i) acc = Op::combine(acc, Op::lift(p[i * stride]));
  return acc;
}

template <typename Op, typename T, typename O>
void reduce_typed(const T* p, int64_t base, const Dims& kept, const Dims& red, O* po) {
  using Acc = typename Op::Acc;
  std::vector<int64_t> idx_kept, idx_red;
  int64_t o = 0;
  bool row =
      kept.empty() || (!red.empty() && red.back().stride <= std::abs(kept.back().stride));
  if (row) {
    Dim inner = red.empty() ? Dim{1, 0} : red.back();
    Dims outer(red.begin(), red.end() - (red.empty() ? 0 : 1));
    for_each_offset(kept, base, idx_kept, [&](int64_t koff) {
      Acc acc = Op::init();
      for_each_offset(outer, koff, idx_red, [&](int64_t roff) {
        acc = Op::combine(acc, inner.stride == 1
                                   ? reduce_run<Op>(p + roff, inner.n)
                                   : reduce_strided<Op>(p + roff, inner.n, inner.stride));
      });
      po[o++] = convert<O>(acc);
    });
    return;
  }
  // Column: blocks of the innermost kept dim accumulate side by side.
  constexpr int64_t kBlock = 1024;
  const Dim inner = kept.back();
  const Dims outer(kept.begin(), kept.end() - 1);
  // Not a std::vector: Acc may be bool.
  std::unique_ptr<Acc[]> acc(new Acc[std::min(inner.n, kBlock)]);
  for_each_offset(outer, base, idx_kept, [&](int64_t koff) {
    for (int64_t j0 = 0; j0 < inner.n; j0 += kBlock) {
      int64_t m = std::min(kBlock, inner.n - j0);
      std::fill(acc.get(), acc.get() + m, Op::init());
      const T* q = p + koff + j0 * inner.stride;
      for_each_offset(red, 0, idx_red, [&](int64_t roff) {
        const T* r = q + roff;
        if (inner.stride == 1) {
          for (int64_t j = 0; j < m; ++j) acc[j] = Op::combine(acc[j], Op::lift(r[j]));
        } else {
          for (int64_t j = 0; j < m; ++j) {
            acc[j] = Op::combine(acc[j], Op::lift(r[j * inner.stride]));
          }
        }
      });
      for (int64_t j = 0; j < m; ++j) po[o + j0 + j] = convert<O>(acc[j]);
    }
    o += inner.n;
  });
}

template <template <typename> class OpT, typename O = void>
void reduce_with(const Node& in, int64_t base, const Dims& kept, const Dims& red,
                 Node& out, bool empty) {
  dispatch(in.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    using Op = OpT<T>;
    using Out = std::conditional_t<std::is_void_v<O>, T, O>;
    if (out.dtype != dtype_of<Out>) {
      throw std::logic_error("reduce: output dtype does not match the input's");
    }
    Out* po = static_cast<Out*>(out.mutable_data());
    if (empty) {
      std::fill(po, po + out.size, convert<Out>(Op::init()));
      return;
    }
    reduce_typed<Op>(static_cast<const T*>(in.data()), base, kept, red, po);
  });
}

}  // namespace

void reduce(ReduceOp op, const Node& in, const std::vector<int>& axes, Node& out) {
  allocate(out);
  if (out.size == 0) return;
  bool idempotent = op != ReduceOp::sum && op != ReduceOp::prod;
  Dims kept = kept_dims(in, axes);
  // The reduced dims may be visited in any order: flip negative strides, drop
  // broadcast ones where repeating an element changes nothing, and put the
  // closest-together innermost so that neighbours merge.
  Dims red;
  int64_t base = 0;
  bool empty = false;
  for (int ax : axes) {
    Dim d{in.shape[ax], in.strides[ax]};
    if (d.n == 0) empty = true;
    if (d.n <= 1 || (idempotent && d.stride == 0)) continue;
    if (d.stride < 0) {
      base += (d.n - 1) * d.stride;
      d.stride = -d.stride;
    }
    red.push_back(d);
  }
  std::stable_sort(red.begin(), red.end(),
                   [](const Dim& a, const Dim& b) { return a.stride > b.stride; });
  Dims merged;
  for (const Dim& d : red) {
    if (!merged.empty() && merged.back().stride == d.stride * d.n) {
      merged.back() = {merged.back().n * d.n, d.stride};
    } else {
      merged.push_back(d);
    }
  }
  switch (op) {
    case ReduceOp::sum:
      reduce_with<SumOp>(in, base, kept, merged, out, empty);
      break;
    case ReduceOp::prod:
      reduce_with<ProdOp>(in, base, kept, merged, out, empty);
      break;
    case ReduceOp::max:
      reduce_with<MaxOp>(in, base, kept, merged, out, empty);
      break;
    case ReduceOp::min:
      reduce_with<MinOp>(in, base, kept, merged, out, empty);
      break;
    case ReduceOp::all:
      reduce_with<AllOp, bool>(in, base, kept, merged, out, empty);
      break;
    case ReduceOp::any:
      reduce_with<AnyOp, bool>(in, base, kept, merged, out, empty);
      break;
  }
}

void arg_reduce(ArgReduceOp op, const Node& in, int axis, Node& out) {
  allocate(out);
  if (out.size == 0) return;
  const int64_t n = in.shape[axis], stride = in.strides[axis];
  if (n == 0) throw std::invalid_argument("cannot reduce over an axis of size 0");
  if (n - 1 > std::numeric_limits<uint32_t>::max()) {
    throw std::invalid_argument("axis too long for uint32 indices");
  }
  Dims kept = kept_dims(in, {axis});
  const bool is_max = op == ArgReduceOp::argmax;
  uint32_t* po = static_cast<uint32_t*>(out.mutable_data());
  dispatch(in.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    using C = compute_t<T>;
    const T* p = static_cast<const T*>(in.data());
    // A NaN counts as the extreme, and the first one found stays.
    auto better = [is_max](C x, C best) {
      if (is_nan(best)) return false;
      return is_nan(x) || (is_max ? x > best : x < best);
    };
    std::vector<int64_t> idx;
    int64_t o = 0;
    if (kept.empty() || std::abs(stride) <= std::abs(kept.back().stride)) {
      for_each_offset(kept, 0, idx, [&](int64_t koff) {
        const T* q = p + koff;
        C best = static_cast<C>(q[0]);
        uint32_t bi = 0;
        for (int64_t i = 1; i < n; ++i) {
          C x = static_cast<C>(q[i * stride]);
          if (better(x, best)) {
            best = x;
            bi = static_cast<uint32_t>(i);
          }
        }
        po[o++] = bi;
      });
      return;
    }
    // Column: a block of outputs scans the axis side by side.
    constexpr int64_t kBlock = 1024;
    const Dim inner = kept.back();
    const Dims outer(kept.begin(), kept.end() - 1);
    std::unique_ptr<C[]> best(new C[std::min(inner.n, kBlock)]);
    for_each_offset(outer, 0, idx, [&](int64_t koff) {
      for (int64_t j0 = 0; j0 < inner.n; j0 += kBlock) {
        int64_t m = std::min(kBlock, inner.n - j0);
        const T* q = p + koff + j0 * inner.stride;
        uint32_t* bi = po + o + j0;
        for (int64_t j = 0; j < m; ++j) {
          best[j] = static_cast<C>(q[j * inner.stride]);
          bi[j] = 0;
        }
        for (int64_t i = 1; i < n; ++i) {
          const T* r = q + i * stride;
          for (int64_t j = 0; j < m; ++j) {
            C x = static_cast<C>(r[j * inner.stride]);
            if (better(x, best[j])) {
              best[j] = x;
              bi[j] = static_cast<uint32_t>(i);
            }
          }
        }
      }
      o += inner.n;
    });
  });
}

}  // namespace rill::detail::cpu
