// How scatter and slice_update combine an update with the element it lands on
// (op_list.h, RILL_SCATTER_OPS), for the CPU's loops and the GPU's kernels
// alike. C is the type arithmetic is done in (float for the half types);
// max and min propagate NaN as maximum and minimum do. Internal.
#pragma once

#include <type_traits>

#include "common/host_device.h"
#include "common/op_kinds.h"

namespace rill::detail {

template <ScatterOp op, typename C>
RILL_HD C scatter_combine(C old, C v) {
  if constexpr (op == ScatterOp::scatter) {
    return v;
  } else if constexpr (std::is_same_v<C, bool>) {
    if constexpr (op == ScatterOp::scatter_add || op == ScatterOp::scatter_max) return old || v;
    return old && v;
  } else if constexpr (op == ScatterOp::scatter_add) {
    return static_cast<C>(old + v);
  } else if constexpr (op == ScatterOp::scatter_prod) {
    return static_cast<C>(old * v);
  } else if constexpr (op == ScatterOp::scatter_max) {
    return (old > v || old != old) ? old : v;
  } else {
    return (old < v || old != old) ? old : v;
  }
}

}  // namespace rill::detail
