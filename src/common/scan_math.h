// What the scans (op_list.h, RILL_SCAN_OPS) compute, for the CPU's loops and
// the GPU's kernels alike: the accumulator type, the identity an exclusive
// scan starts from, and the combining function. Internal.
#pragma once

#include <math.h>

#include <limits>
#include <type_traits>

#include "common/host_device.h"
#include "common/op_kinds.h"

namespace rill::detail {

// The accumulator of scan `op` over elements computed in C (float for the
// half types): sums and products of floats in double, of integers in their
// unsigned twin (an overflow wraps, as in NumPy); max, min and logcumsumexp in
// C (each step of logaddexp rounds little: its float32 error stays at a few
// ulps, and the GPU's double exp and log1p would cost 10x the bandwidth);
// bool stays bool (its products are logical and).
template <ScanOp op, typename C>
struct ScanAccumulator {
  static auto pick() {
    if constexpr (std::is_same_v<C, bool>) {
      return bool{};
    } else if constexpr (op == ScanOp::cummax || op == ScanOp::cummin ||
                         op == ScanOp::logcumsumexp) {
      return C{};
    } else if constexpr (std::is_floating_point_v<C>) {
      return double{};
    } else {
      return std::make_unsigned_t<C>{};
    }
  }
  using type = decltype(pick());
};
template <ScanOp op, typename C>
using scan_acc_t = typename ScanAccumulator<op, C>::type;

// The value an exclusive scan writes first.
template <ScanOp op, typename A>
RILL_HD constexpr A scan_identity() {
  if constexpr (op == ScanOp::cumsum) {
    return A(0);
  } else if constexpr (op == ScanOp::cumprod) {
    return A(1);
  } else if constexpr (op == ScanOp::cummax || op == ScanOp::logcumsumexp) {
    if constexpr (std::is_floating_point_v<A>) return A(-HUGE_VAL);
    return std::numeric_limits<A>::lowest();
  } else {
    if constexpr (std::is_floating_point_v<A>) return A(HUGE_VAL);
    return std::numeric_limits<A>::max();
  }
}

template <ScanOp op, typename A>
RILL_HD A scan_combine(A acc, A v) {
  if constexpr (std::is_same_v<A, bool>) {
    if constexpr (op == ScanOp::cummax || op == ScanOp::cumsum) return acc || v;
    return acc && v;  // prod, min
  } else if constexpr (op == ScanOp::cumsum) {
    return static_cast<A>(acc + v);
  } else if constexpr (op == ScanOp::cumprod) {
    return static_cast<A>(acc * v);
  } else if constexpr (op == ScanOp::cummax) {
    return (acc > v || acc != acc) ? acc : v;  // NaN sticks
  } else if constexpr (op == ScanOp::cummin) {
    return (acc < v || acc != acc) ? acc : v;
  } else {
    // log(exp(acc) + exp(v)) without overflow; -inf with -inf stays -inf.
    if (acc != acc || v != v) return acc + v;
    const A hi = acc > v ? acc : v, lo = acc > v ? v : acc;
    if (hi == A(-HUGE_VAL)) return hi;
    return hi + static_cast<A>(log1p(exp(lo - hi)));
  }
}

}  // namespace rill::detail
