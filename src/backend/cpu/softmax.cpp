// Softmax and log-sum-exp over the trailing dims of an array. Each row is read
// once into a float32 (float64) scratch row; the max, the exponentials, the sum
// and the scaled output are then tight loops over that row.
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "backend/cpu/kernels.h"
#include "common/strided_walk.h"
#include "backend/cpu/vmath.h"
#include "core/dispatch.h"

namespace rill::detail::cpu {
namespace {

// buf[i] = exp(buf[i] - m), vectorised through vexp (std::exp is a scalar call).
RILL_VECTOR_CLONES
void exp_shifted(float* buf, int64_t n, float m) {
  for (int64_t i = 0; i < n; ++i) buf[i] = vexp(buf[i] - m);
}
inline void exp_shifted(double* buf, int64_t n, double m) {
  for (int64_t i = 0; i < n; ++i) buf[i] = std::exp(buf[i] - m);
}

// Largest non-NaN value (-inf if none); independent lanes so that it vectorises.
template <typename A>
A max_of(const A* x, int64_t n) {
  constexpr int kLanes = 8;
  constexpr A kNegInf = -std::numeric_limits<A>::infinity();
  A lanes[kLanes];
  for (A& l : lanes) l = kNegInf;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) lanes[j] = x[i + j] > lanes[j] ? x[i + j] : lanes[j];
  }
  A m = kNegInf;
  for (A l : lanes) m = l > m ? l : m;
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

template <typename A>
double sum_of(const A* x, int64_t n) {
  constexpr int kLanes = 8;
  double lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) lanes[j] += static_cast<double>(x[i + j]);
  }
  double s = 0;
  for (double l : lanes) s += l;
  for (; i < n; ++i) s += static_cast<double>(x[i]);
  return s;
}

// Where the elements of one row (the trailing `axes` dims) sit relative to the
// row's first: at multiples of `stride` when the dims collapse into one, else
// at `offsets`. Rows start at the offsets of the outer dims.
struct RowLayout {
  int64_t n = 1;
  int64_t stride = 1;
  std::vector<int64_t> offsets;
  Shape outer_shape;
  Strides outer_strides;
};

RowLayout row_layout(const Node& in, int axes) {
  RowLayout r;
  const int nd = static_cast<int>(in.shape.size());
  const int first = nd - axes;
  r.outer_shape.assign(in.shape.begin(), in.shape.begin() + first);
  r.outer_strides.assign(in.strides.begin(), in.strides.begin() + first);
  std::vector<std::pair<int64_t, int64_t>> dims;  // (size, stride), merged
  for (int d = first; d < nd; ++d) {
    r.n *= in.shape[d];
    if (in.shape[d] == 1) continue;
    if (!dims.empty() && dims.back().second == in.strides[d] * in.shape[d]) {
      dims.back() = {dims.back().first * in.shape[d], in.strides[d]};
    } else {
      dims.emplace_back(in.shape[d], in.strides[d]);
    }
  }
  if (dims.size() == 1) r.stride = dims[0].second;
  if (dims.size() <= 1 || r.n == 0) return r;
  r.offsets.reserve(r.n);
  std::vector<int64_t> idx(dims.size(), 0);
  int64_t off = 0;
  for (int64_t k = 0; k < r.n; ++k) {
    r.offsets.push_back(off);
    for (int d = static_cast<int>(dims.size()) - 1; d >= 0; --d) {
      off += dims[d].second;
      if (++idx[d] < dims[d].first) break;
      off -= dims[d].second * dims[d].first;
      idx[d] = 0;
    }
  }
  return r;
}

template <typename T, typename A>
void gather_row(const T* src, const RowLayout& L, A* buf) {
  if (!L.offsets.empty()) {
    for (int64_t i = 0; i < L.n; ++i) buf[i] = static_cast<A>(src[L.offsets[i]]);
  } else if (L.stride == 1) {
    for (int64_t i = 0; i < L.n; ++i) buf[i] = static_cast<A>(src[i]);
  } else {
    for (int64_t i = 0; i < L.n; ++i) buf[i] = static_cast<A>(src[i * L.stride]);
  }
}

// Calls f(row_index, first element) for each row, in row-major order.
template <typename T, typename F>
void for_each_row_start(const T* p, const RowLayout& L, F&& f) {
  int64_t row = 0;
  for_each_row<1>(
      L.outer_shape, {L.outer_strides},
      [&](const std::array<int64_t, 1>& off, int64_t n, const std::array<int64_t, 1>& s) {
        for (int64_t j = 0; j < n; ++j) f(row++, p + off[0] + j * s[0]);
      });
}

template <typename T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// Calls f(row, values, max, out) for each row of `in`, its values gathered
// into a contiguous buffer in the accumulation type, with their max.
template <typename T, typename F>
void for_each_gathered_row(const Node& in, const RowLayout& L, Node& out, F&& f) {
  using A = acc_t<T>;
  T* po = static_cast<T*>(out.mutable_data());
  std::vector<A> buf(L.n);
  for_each_row_start(static_cast<const T*>(in.data()), L, [&](int64_t row, const T* src) {
    gather_row(src, L, buf.data());
    f(row, buf.data(), max_of(buf.data(), L.n), po);
  });
}

template <typename T>
void softmax_typed(const Node& in, const RowLayout& L, Node& out) {
  using A = acc_t<T>;
  for_each_gathered_row<T>(in, L, out, [&](int64_t row, A* buf, A m, T* po) {
    exp_shifted(buf, L.n, m);
    A inv = static_cast<A>(1.0 / sum_of(buf, L.n));
    T* dst = po + row * L.n;
    for (int64_t i = 0; i < L.n; ++i) dst[i] = static_cast<T>(buf[i] * inv);
  });
}

template <typename T>
void logsumexp_typed(const Node& in, const RowLayout& L, Node& out) {
  using A = acc_t<T>;
  for_each_gathered_row<T>(in, L, out, [&](int64_t row, A* buf, A m, T* po) {
    A r;
    if (std::isinf(m)) {
      // All -inf (or empty), or a +inf: the answer is m unless a NaN is there.
      bool nan = false;
      for (int64_t i = 0; i < L.n; ++i) nan |= buf[i] != buf[i];
      r = nan ? std::numeric_limits<A>::quiet_NaN() : m;
    } else {
      exp_shifted(buf, L.n, m);
      r = static_cast<A>(m + std::log(sum_of(buf, L.n)));
    }
    po[row] = static_cast<T>(r);
  });
}

template <typename F>
void dispatch_float(Dtype t, const char* op, F&& f) {
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<compute_t<T>>) {
      f(tag);
    } else {
      throw std::logic_error(std::string(op) + ": expects a floating point input");
    }
  });
}

}  // namespace

void softmax(const Node& in, int axes, Node& out) {
  // Each row is gathered whole before it is written: `in` may donate.
  allocate_or_donate(out, {&in}, false);
  if (out.size == 0) return;
  RowLayout L = row_layout(in, axes);
  dispatch_float(in.dtype, "softmax", [&](auto tag) {
    softmax_typed<typename decltype(tag)::type>(in, L, out);
  });
}

void logsumexp(const Node& in, int axes, Node& out) {
  allocate(out);
  if (out.size == 0) return;
  RowLayout L = row_layout(in, axes);
  dispatch_float(in.dtype, "logsumexp", [&](auto tag) {
    logsumexp_typed<typename decltype(tag)::type>(in, L, out);
  });
}

}  // namespace rill::detail::cpu
