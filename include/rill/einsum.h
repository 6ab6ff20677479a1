// Einstein summation over subscripts such as "ij,jk->ik" (MLX's einsum):
// implicit outputs ("ij,jk": the letters seen once, sorted, after any
// ellipsis), "..." for leading axes that broadcast, repeated letters in one
// operand for its diagonal. Products are contracted pairwise in a greedy
// order, each pair by one batched matrix product.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "rill/array.h"
#include "rill/stream.h"

namespace rill {

// The contraction order einsum takes (each step: positions in the list of
// remaining operands, whose result goes to its end) and a summary of its
// cost (NumPy's format).
std::pair<std::vector<std::vector<int>>, std::string> einsum_path(
    const std::string& subscripts, const std::vector<array>& operands);

array einsum(const std::string& subscripts, const std::vector<array>& operands,
             StreamOrDevice s = {});

}  // namespace rill
