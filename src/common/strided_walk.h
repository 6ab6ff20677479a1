// Iterating several arrays of one shape on the host, each with its own strides
// (0 where an input is broadcast): the CPU's kernels and the GPU backend's
// host-side checks. Internal.
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/node.h"

namespace rill::detail {

// Calls row(offsets, n, inner_strides) for each innermost row of `shape`:
// element j of the row sits at offsets[k] + j * inner_strides[k] in array k.
// Adjacent dimensions that are contiguous in every array are merged first.
template <size_t N, typename Row>
void for_each_row(const Shape& shape, std::array<Strides, N> strides, Row&& row) {
  for (int32_t d : shape) {
    if (d == 0) return;
  }
  // Merge dims (drop size-1 ones, fuse i into i+1 when every array allows).
  // Fused sizes are int64: a fused dimension may hold more than 2^31 elements.
  std::vector<int64_t> sh;
  std::array<Strides, N> st;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!sh.empty()) {
      bool fuse = true;
      for (size_t k = 0; k < N; ++k) {
        if (st[k].back() != strides[k][d] * shape[d]) fuse = false;
      }
      if (fuse) {
        sh.back() *= shape[d];
        for (size_t k = 0; k < N; ++k) st[k].back() = strides[k][d];
        continue;
      }
    }
    sh.push_back(shape[d]);
    for (size_t k = 0; k < N; ++k) st[k].push_back(strides[k][d]);
  }
  std::array<int64_t, N> inner{};
  int64_t n = 1;
  if (!sh.empty()) {
    n = sh.back();
    for (size_t k = 0; k < N; ++k) inner[k] = st[k].back();
    sh.pop_back();
    for (size_t k = 0; k < N; ++k) st[k].pop_back();
  }
  std::array<int64_t, N> off{};
  if (sh.empty()) {
    row(off, n, inner);
    return;
  }
  std::vector<int64_t> idx(sh.size(), 0);
  for (;;) {
    row(off, n, inner);
    int d = static_cast<int>(sh.size()) - 1;
    for (; d >= 0; --d) {
      for (size_t k = 0; k < N; ++k) off[k] += st[k][d];
      if (++idx[d] < sh[d]) break;
      for (size_t k = 0; k < N; ++k) off[k] -= st[k][d] * sh[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

// Calls lane(offsets) for each 1-D lane along `axis` of `shape`: the lane's
// first element sits at offsets[k] of array k, the rest follow at
// strides[k][axis]. No lanes when another dimension is empty.
template <size_t N, typename Lane>
void for_each_lane(const Shape& shape, int axis, std::array<Strides, N> strides,
                   Lane&& lane) {
  Shape outer = shape;
  outer[axis] = 1;
  for_each_row<N>(
      outer, std::move(strides),
      [&](const std::array<int64_t, N>& off, int64_t n, const std::array<int64_t, N>& s) {
        std::array<int64_t, N> o;
        for (int64_t j = 0; j < n; ++j) {
          for (size_t k = 0; k < N; ++k) o[k] = off[k] + j * s[k];
          lane(o);
        }
      });
}

}  // namespace rill::detail
