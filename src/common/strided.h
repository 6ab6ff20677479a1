// Strided indexing for kernels that walk an iteration space by a flat index
// (the GPU's, one thread per element): a merged shape, one stride set per
// operand, and the offset of element i. No dependencies. Internal.
#pragma once

#include <stdint.h>

#include "common/host_device.h"

namespace rill::detail {

// Dimensions a layout may have after merging (more is an error the host side
// reports before launching).
constexpr int kMaxDims = 8;

// An iteration space shared by several operands: `shape` is walked in
// row-major order; each operand has its own element strides over it (0 where
// it broadcasts). Dimensions are merged where every operand allows, so most
// layouts arrive with ndim 1.
struct Dims {
  int ndim = 0;
  int64_t shape[kMaxDims];
};
struct Steps {
  int64_t s[kMaxDims];
};

// Offset of the i-th element (row-major over dims) under strides st.
RILL_HD int64_t offset_of(int64_t i, const Dims& dims, const Steps& st) {
  int64_t off = 0;
  for (int d = dims.ndim - 1; d >= 0; --d) {
    const int64_t n = dims.shape[d];
    const int64_t q = i / n;
    off += (i - q * n) * st.s[d];
    i = q;
  }
  return off;
}

}  // namespace rill::detail
