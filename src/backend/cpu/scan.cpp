// Scans along one axis (cumsum, cumprod, cummax, cummin, logcumsumexp;
// common/scan_math.h says what each computes): a row-major input scans whole
// rows of the dims after the axis at once; any other layout goes one lane at
// a time.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "backend/cpu/kernels.h"
#include "common/scan_math.h"
#include "common/strided_walk.h"
#include "core/dispatch.h"

namespace rill::detail::cpu {
namespace {

template <ScanOp op, typename T>
void scan_typed(const Node& in, int axis, bool reverse, bool inclusive, Node& out) {
  using C = compute_t<T>;
  using A = scan_acc_t<op, C>;
  const int64_t n = in.shape[axis];
  const T* pi = static_cast<const T*>(in.data());
  T* po = static_cast<T*>(out.mutable_data());
  auto load = [](T x) { return static_cast<A>(static_cast<C>(x)); };
  auto store = [](A v) { return static_cast<T>(static_cast<C>(v)); };
  int64_t inner = 1;
  for (size_t d = axis + 1; d < in.shape.size(); ++d) inner *= in.shape[d];
  if (in.row_contiguous && inner > 1) {
    // Whole rows of the dims after `axis` at a time: unit-stride loops
    // instead of lanes that jump a row per step.
    const int64_t outer = static_cast<int64_t>(in.size) / (n * inner);
    std::vector<A> acc(inner);
    for (int64_t o = 0; o < outer; ++o) {
      std::fill(acc.begin(), acc.end(), scan_identity<op, A>());
      for (int64_t k = 0; k < n; ++k) {
        int64_t at = (o * n + (reverse ? n - 1 - k : k)) * inner;
        const T* x = pi + at;
        T* y = po + at;
        for (int64_t j = 0; j < inner; ++j) {
          A before = acc[j];
          acc[j] = k == 0 ? load(x[j]) : scan_combine<op>(before, load(x[j]));
          y[j] = store(inclusive ? acc[j] : before);
        }
      }
    }
    return;
  }
  // Walk the lane forwards or backwards with the same loop.
  const int64_t si = reverse ? -in.strides[axis] : in.strides[axis];
  const int64_t so = reverse ? -out.strides[axis] : out.strides[axis];
  const int64_t first_i = reverse ? (n - 1) * in.strides[axis] : 0;
  const int64_t first_o = reverse ? (n - 1) * out.strides[axis] : 0;
  for_each_lane<2>(in.shape, axis, {in.strides, out.strides},
                   [&](const std::array<int64_t, 2>& off) {
                     const T* x = pi + off[0] + first_i;
                     T* y = po + off[1] + first_o;
                     A acc = scan_identity<op, A>();
                     for (int64_t j = 0; j < n; ++j) {
                       A before = acc;
                       acc = j == 0 ? load(x[0]) : scan_combine<op>(before, load(x[j * si]));
                       y[j * so] = store(inclusive ? acc : before);
                     }
                   });
}

}  // namespace

void scan(ScanOp op, const Node& in, int axis, bool reverse, bool inclusive, Node& out) {
  allocate(out);
  if (out.size == 0) return;
  dispatch(in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    switch (op) {
#define RILL_SCAN_CASE(name, rule) \
  case ScanOp::name: return scan_typed<ScanOp::name, T>(in, axis, reverse, inclusive, out);
      RILL_SCAN_OPS(RILL_SCAN_CASE)
#undef RILL_SCAN_CASE
    }
  });
}

}  // namespace rill::detail::cpu
