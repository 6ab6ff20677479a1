// Sorting and selection along one axis: each lane is copied into a scratch
// row, ordered with the standard algorithms, and written out.
#include <algorithm>
#include <numeric>
#include <type_traits>
#include <utility>
#include <vector>

#include "backend/cpu/kernels.h"
#include "common/strided_walk.h"
#include "core/dispatch.h"

namespace rill::detail::cpu {
namespace {

// A strict weak order with every NaN after every number (NaNs tie).
template <typename K>
inline bool nan_last_less(K a, K b) {
  if constexpr (std::is_floating_point_v<K>) {
    return a < b || (b != b && a == a);
  } else {
    return a < b;
  }
}

template <typename T>
void sort_typed(SortOp op, const Node& in, int axis, int kth, Node& out) {
  using C = compute_t<T>;
  // Sort keys: bool as a byte, so that the scratch row is not a vector<bool>.
  using K = std::conditional_t<std::is_same_v<C, bool>, uint8_t, C>;
  const int64_t n = in.shape[axis];
  const int64_t si = in.strides[axis], so = out.strides[axis];
  const T* pi = static_cast<const T*>(in.data());
  const bool arg = op == SortOp::argsort || op == SortOp::argpartition;
  std::vector<K> vals(arg ? 0 : n);
  std::vector<std::pair<K, uint32_t>> pairs(arg ? n : 0);
  // Ties keep input order: equal keys compare by index.
  auto pair_less = [](const std::pair<K, uint32_t>& a, const std::pair<K, uint32_t>& b) {
    if (nan_last_less(a.first, b.first)) return true;
    if (nan_last_less(b.first, a.first)) return false;
    return a.second < b.second;
  };
  auto key_less = [](K a, K b) { return nan_last_less(a, b); };
  for_each_lane<2>(
      in.shape, axis, {in.strides, out.strides}, [&](const std::array<int64_t, 2>& off) {
        const T* x = pi + off[0];
        if (arg) {
          for (int64_t j = 0; j < n; ++j) {
            pairs[j] = {static_cast<K>(static_cast<C>(x[j * si])),
                        static_cast<uint32_t>(j)};
          }
          if (op == SortOp::argsort) {
            std::sort(pairs.begin(), pairs.end(), pair_less);
          } else {
            std::nth_element(pairs.begin(), pairs.begin() + kth, pairs.end(), pair_less);
          }
          uint32_t* y = static_cast<uint32_t*>(out.mutable_data()) + off[1];
          for (int64_t j = 0; j < n; ++j) y[j * so] = pairs[j].second;
          return;
        }
        for (int64_t j = 0; j < n; ++j)
          vals[j] = static_cast<K>(static_cast<C>(x[j * si]));
        int64_t first = 0, count = n;
        switch (op) {
          case SortOp::sort:
            std::stable_sort(vals.begin(), vals.end(), key_less);
            break;
          case SortOp::partition:
            std::nth_element(vals.begin(), vals.begin() + kth, vals.end(), key_less);
            break;
          case SortOp::topk:
            first = n - kth;
            count = kth;
            std::nth_element(vals.begin(), vals.begin() + first, vals.end(), key_less);
            std::sort(vals.begin() + first, vals.end(), key_less);
            break;
          default:
            break;
        }
        T* y = static_cast<T*>(out.mutable_data()) + off[1];
        for (int64_t j = 0; j < count; ++j) y[j * so] = static_cast<T>(vals[first + j]);
      });
}

}  // namespace

void sort(SortOp op, const Node& in, int axis, int kth, Node& out) {
  allocate(out);
  if (out.size == 0) return;
  dispatch(in.dtype, [&](auto tag) {
    sort_typed<typename decltype(tag)::type>(op, in, axis, kth, out);
  });
}

}  // namespace rill::detail::cpu
