// The convolution built from existing ops instead of a Conv node: what the
// tests compare the Conv kernels with. Internal.
#pragma once

#include <vector>

#include "rill/ops.h"

namespace rill::detail {

// conv_general's arguments, checks and result, through pad / slice_update,
// as_strided and matmul.
array conv_general_composite(array in, array wt, std::vector<int> stride,
                             std::vector<int> padding_lo, std::vector<int> padding_hi,
                             std::vector<int> kernel_dilation,
                             std::vector<int> input_dilation, int groups, bool flip,
                             StreamOrDevice s = {});

}  // namespace rill::detail
