// Running sums (cumsum) along one axis: a row-major input scans whole rows of
// the dims after the axis at once; any other layout goes one lane at a time.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "backend/cpu/kernels.h"
#include "common/strided_walk.h"
#include "core/dispatch.h"

namespace rill::detail::cpu {
namespace {

// Floats accumulate in double; integers in their unsigned twin, so that an
// overflow wraps as in NumPy instead of being undefined.
template <typename T>
auto scan_acc() {
  if constexpr (std::is_floating_point_v<compute_t<T>>) {
    return double{};
  } else if constexpr (std::is_same_v<T, bool>) {
    return int64_t{};
  } else {
    return std::make_unsigned_t<T>{};
  }
}
template <typename T>
using scan_acc_t = decltype(scan_acc<T>());

}  // namespace

void cumsum(const Node& in, int axis, bool reverse, bool inclusive, Node& out) {
  allocate(out);
  if (out.size == 0) return;
  const int64_t n = in.shape[axis];
  dispatch(in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = scan_acc_t<T>;
    if constexpr (std::is_same_v<T, bool>) {
      throw std::logic_error("cumsum: bool input must be promoted first");
    } else {
      const T* pi = static_cast<const T*>(in.data());
      T* po = static_cast<T*>(out.mutable_data());
      int64_t inner = 1;
      for (size_t d = axis + 1; d < in.shape.size(); ++d) inner *= in.shape[d];
      if (in.row_contiguous && inner > 1) {
        // Whole rows of the dims after `axis` at a time: unit-stride loops
        // instead of lanes that jump a row per step.
        const int64_t outer = static_cast<int64_t>(in.size) / (n * inner);
        std::vector<A> acc(inner);
        for (int64_t o = 0; o < outer; ++o) {
          std::fill(acc.begin(), acc.end(), A(0));
          for (int64_t k = 0; k < n; ++k) {
            int64_t at = (o * n + (reverse ? n - 1 - k : k)) * inner;
            const T* x = pi + at;
            T* y = po + at;
            for (int64_t j = 0; j < inner; ++j) {
              A v = static_cast<A>(static_cast<compute_t<T>>(x[j]));
              A before = acc[j];
              acc[j] += v;
              y[j] =
                  static_cast<T>(static_cast<compute_t<T>>(inclusive ? acc[j] : before));
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
                         A acc = 0;
                         for (int64_t j = 0; j < n; ++j) {
                           A v = static_cast<A>(static_cast<compute_t<T>>(x[j * si]));
                           if (inclusive) acc += v;
                           y[j * so] = static_cast<T>(static_cast<compute_t<T>>(acc));
                           if (!inclusive) acc += v;
                         }
                       });
    }
  });
}

}  // namespace rill::detail::cpu
