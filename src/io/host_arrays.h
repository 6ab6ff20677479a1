// What the loaders share: checking a shape read from a file, checking bool
// bytes, and making an array of data already on the host. Internal.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/format.h"
#include "core/node.h"
#include "rill/array.h"

namespace rill::detail {

// The shape of `dims` (in order) as rill's, and its element count. Every
// dimension must fit int32, the count uint64, and the bytes spanned by the
// non-empty axes int64 (strides must fit even beside an empty axis).
// Otherwise calls fail(what), which must not return.
template <typename Fail>
Shape checked_shape(const std::vector<uint64_t>& dims, Dtype dtype, uint64_t& count,
                    Fail&& fail) {
  Shape shape;
  count = 1;
  int64_t extent = dtype.size;
  bool too_large = false;
  for (uint64_t n : dims) {
    if (n > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
      fail(cat("dimension ", n, " is too large"));
    }
    shape.push_back(static_cast<int32_t>(n));
    if (n != 0 && count > std::numeric_limits<uint64_t>::max() / n) {
      fail("shape has too many elements");
    }
    count *= n;
    if (n != 0)
      too_large |= __builtin_mul_overflow(extent, static_cast<int64_t>(n), &extent);
  }
  if (too_large) {
    fail(cat("shape ", tuple_str(shape), " of ", dtype_name(dtype),
             " is too large to address"));
  }
  return shape;
}

// The index of the first byte that is neither 0 nor 1 (a bool must be one of
// them), or n.
inline size_t first_non_bool(const char* p, size_t n) {
  return static_cast<size_t>(
      std::find_if(p, p + n, [](char c) { return c != 0 && c != 1; }) - p);
}

// A computed array over `buffer` (row-major), on `stream`.
inline array host_array(Shape shape, Dtype dtype, std::shared_ptr<Buffer> buffer,
                        Stream stream) {
  return array(
      std::make_shared<Node>(std::move(shape), dtype, std::move(buffer), stream));
}

}  // namespace rill::detail
