// Argument checks shared by the ops of every family (core/ops_*.cpp): each
// throws std::invalid_argument "[op] what was wrong (values)", naming the
// outermost op being built (OuterOp). Internal.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/format.h"
#include "core/node.h"
#include "rill/array.h"

namespace rill::detail {

[[noreturn]] void fail(const char* op, const std::string& what);
// complex64 from real and imaginary parts (converted to float32; broadcast).
array make_complex(const array& re, const array& im, const StreamOrDevice& s);
// `axis` counted from the end when negative; throws unless it is in [-ndim, ndim).
int normalize_axis(int axis, int ndim, const char* op);
// Each axis normalised, sorted; throws on a repeated one.
std::vector<int> normalize_axes(const std::vector<int>& axes, int ndim, const char* op);
// Throws on a negative dimension.
void check_shape(const Shape& shape, const char* op);
// A slice's first index per axis (normalised; 0 for an empty axis) and the
// region's shape, by Python's rules (negative starts and stops count from
// the end, out-of-range ones are clamped); throws on a length mismatch or a
// zero step.
std::pair<Shape, Shape> slice_region(const Shape& in, const Shape& start, const Shape& stop,
                                     const Shape& strides, const char* op);
// gather_mm's and gather_qmm's indices: the given ones (integers, as
// uint32), or one per matrix of x's batch; throws unless x has 2 dimensions
// or more.
array indices_or_all(const std::optional<array>& indices, const array& x, const char* op,
                     const StreamOrDevice& s);
// The shape a and b broadcast to; throws when they do not.
Shape broadcast_or_fail(const Shape& a, const Shape& b, const char* op);

}  // namespace rill::detail

// The names every core/ops_*.cpp uses; this header is included by those
// files only.
namespace rill {
using detail::cat;
using detail::fail;
using detail::make_array;
using detail::OuterOp;
using detail::tuple_str;
}  // namespace rill
