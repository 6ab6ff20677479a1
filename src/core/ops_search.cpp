// Searching sorted data: searchsorted and unique, composites of comparisons,
// sums, sorts, scans and scatters (so they run wherever those do).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/op_checks.h"
#include "rill/ops.h"

namespace rill {

namespace {

// x < y with NaN above every number (MLX's and NumPy's sort order).
array nan_less(const array& x, const array& y, const StreamOrDevice& s) {
  array lt = less(x, y, s);
  if (!is_floating_point(x.dtype())) return lt;
  return logical_or(lt, logical_and(isnan(y, s), logical_not(isnan(x, s), s), s), s);
}

}  // namespace

array searchsorted(const array& sorted_sequence, const array& values, const std::string& side,
                   StreamOrDevice s) {
  OuterOp outer("searchsorted");
  if (side != "left" && side != "right") {
    fail("searchsorted", cat("invalid side '", side, "'. Expected 'left' or 'right'."));
  }
  if (sorted_sequence.ndim() != 1) {
    fail("searchsorted", cat("the sorted sequence must be 1-D but has ",
                             sorted_sequence.ndim(), " dimensions."));
  }
  Dtype t = promote_types(sorted_sequence.dtype(), values.dtype());
  array seq = astype(sorted_sequence, t, s);
  array v = expand_dims(astype(values, t, s), -1, s);
  // In a sorted sequence the insertion point is the number of elements
  // before it: those below the value ("left") or not above it ("right").
  array before = side == "left" ? nan_less(seq, v, s) : logical_not(nan_less(v, seq, s), s);
  return astype(sum(before, -1, false, s), uint32, s);
}

std::vector<array> unique(const array& a, int size, bool return_index, bool return_inverse,
                          bool return_counts, const std::optional<array>& fill_value,
                          StreamOrDevice s) {
  OuterOp outer("unique");
  if (size < 0) fail("unique", cat("received negative size ", size, "."));
  const int n = static_cast<int>(a.size());
  if (n == 0 && size > 0 && !fill_value) {
    fail("unique", "a fill value is required for an empty input with a non-zero size.");
  }
  const Dtype t = a.dtype();
  std::vector<array> out;
  auto finish = [&](array values, array index, array inverse, array counts) {
    out.push_back(std::move(values));
    if (return_index) out.push_back(std::move(index));
    if (return_inverse) out.push_back(std::move(inverse));
    if (return_counts) out.push_back(std::move(counts));
    return out;
  };
  if (n == 0 || size == 0) {
    array values = size == 0 ? zeros({0}, t, s)
                             : broadcast_to(astype(*fill_value, t, s), {size}, s);
    return finish(values, zeros({size}, uint32, s), zeros(a.shape(), uint32, s),
                  zeros({size}, int32, s));
  }
  array flat = reshape(a, {n}, s);
  array order = argsort(flat, 0, s);  // stable: a group's first is its first occurrence
  array sorted = take(flat, order, 0, s);
  // first[i]: sorted[i] starts a new group (NaN != NaN: each NaN its own).
  array first = n == 1 ? array({true})
                       : concatenate({array({true}),
                                      not_equal(slice(sorted, {1}, {n}, s),
                                                slice(sorted, {0}, {n - 1}, s), s)},
                                     0, s);
  array rank = subtract(cumsum(first, 0, false, true, int32, s), array(1), s);
  array kept = less(rank, array(size), s);
  // Group starts within `size` go to their rank, everything else to a spare
  // slot `size`, cut off at the end.
  array slot = reshape(where(logical_and(first, kept, s), rank, array(size), s), {n}, s);
  auto place = [&](const array& base, const array& updates) {
    array full_base = concatenate({base, slice(base, {0}, {1}, s)}, 0, s);
    array r = scatter(full_base, {slot}, reshape(updates, {n, 1}, s), std::vector<int>{0}, s);
    return slice(r, {0}, {size}, s);
  };
  array fill = fill_value ? broadcast_to(astype(*fill_value, t, s), {size}, s)
                          : broadcast_to(slice(sorted, {0}, {1}, s), {size}, s);
  array values = place(fill, sorted);
  array index = return_index
                    ? place(broadcast_to(slice(order, {0}, {1}, s), {size}, s), order)
                    : array(0u);
  array inverse = array(0u);
  if (return_inverse) {
    array inv_sorted = astype(minimum(rank, array(size - 1), s), uint32, s);
    inverse = reshape(scatter(zeros({n}, uint32, s), {order}, reshape(inv_sorted, {n, 1}, s),
                              std::vector<int>{0}, s),
                      a.shape(), s);
  }
  array counts = array(0);
  if (return_counts) {
    array bucket = where(kept, rank, array(size), s);
    counts = slice(scatter_add(zeros({size + 1}, int32, s), {bucket},
                               ones({n, 1}, int32, s), std::vector<int>{0}, s),
                   {0}, {size}, s);
  }
  return finish(values, index, inverse, counts);
}

}  // namespace rill
