// Convolutions, channels last as in MLX: input [N, spatial..., C_in], weight
// [C_out, kernel spatial..., C_in / groups], output [N, spatial..., C_out].
// conv1d/2d/3d and the transposed forms are conv_general with particular
// arguments; conv_general checks everything and records one Conv node (cuDNN
// on a GPU, im2col and a product otherwise: backend/kernels.h). The same
// convolution from existing ops (the input dilated and padded, its patches a
// strided view, one matrix product per group) is kept as
// detail::conv_general_composite.
#include "rill/ops.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <numeric>

#include "core/format.h"
#include "core/op_checks.h"
#include "core/ops_conv.h"
#include "core/primitives.h"

namespace rill {

namespace {

const char* const kOp = "conv_general";

// MLX's convention for per-axis settings: empty means `fallback` on every
// axis, one value means that value on every axis.
std::vector<int> per_axis(std::vector<int> v, int nd, int fallback, const char* what) {
  if (v.empty()) return std::vector<int>(nd, fallback);
  if (v.size() == 1) return std::vector<int>(nd, v[0]);
  if (static_cast<int>(v.size()) != nd) {
    fail(kOp, cat(what, " ", tuple_str(v), " has ", v.size(), " entries for a ", nd,
                  "D convolution (expected 1 or ", nd, ")."));
  }
  return v;
}

// The extent of n points spaced d apart (n > 0), or 0.
int64_t dilated(int64_t n, int64_t d) {
  return n > 0 ? 1 + d * (n - 1) : 0;
}

Strides row_major_strides(const Shape& shape) {
  Strides st(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i)
    st[i] = st[i + 1] * shape[i + 1];
  return st;
}

int64_t product(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= s[i];
  return p;
}

struct ConvSettings {
  std::vector<int> stride, lo, hi, kdil, idil;
  int groups;
  bool flip;
};

// The input dilated by `idil` and padded by lo/hi (a negative side crops).
array dilate_and_pad(const array& in, const ConvSettings& p, StreamOrDevice s) {
  const int nd = in.ndim() - 2;
  bool dilate = false, grow = false, crop = false;
  for (int i = 0; i < nd; ++i) {
    dilate |= p.idil[i] > 1;
    grow |= p.lo[i] > 0 || p.hi[i] > 0;
    crop |= p.lo[i] < 0 || p.hi[i] < 0;
  }
  array x = in;
  if (dilate) {
    Shape shape = in.shape(), start(in.ndim(), 0), stop = in.shape(), step(in.ndim(), 1);
    for (int i = 0; i < nd; ++i) {
      int64_t d = dilated(in.shape(i + 1), p.idil[i]);
      start[i + 1] = std::max(p.lo[i], 0);
      stop[i + 1] = static_cast<int32_t>(start[i + 1] + d);
      shape[i + 1] =
          static_cast<int32_t>(d + std::max(p.lo[i], 0) + std::max(p.hi[i], 0));
      step[i + 1] = p.idil[i];
    }
    x = slice_update(zeros(shape, in.dtype(), s), in, start, stop, step, s);
  } else if (grow) {
    std::vector<int> axes(nd);
    std::iota(axes.begin(), axes.end(), 1);
    Shape low(nd), high(nd);
    for (int i = 0; i < nd; ++i) {
      low[i] = std::max(p.lo[i], 0);
      high[i] = std::max(p.hi[i], 0);
    }
    x = pad(in, axes, low, high, array(0, in.dtype()), "constant", s);
  }
  if (crop) {
    Shape start(x.ndim(), 0), stop = x.shape();
    for (int i = 0; i < nd; ++i) {
      start[i + 1] = std::max(-p.lo[i], 0);
      stop[i + 1] = x.shape(i + 1) + std::min(p.hi[i], 0);
    }
    x = slice(x, start, stop, s);
  }
  return x;
}

// The convolution as im2col and matrix products, from ops every backend has.
array conv_im2col(const array& in, const array& wt, const ConvSettings& p,
                  const Shape& out_shape, StreamOrDevice s) {
  const int nd = in.ndim() - 2;
  const int C = in.shape(-1), O = wt.shape(0), G = p.groups, Cg = C / G;
  array x = dilate_and_pad(in, p, s);

  // Patches [N, out spatial..., kernel spatial..., C] over x's row-major layout.
  Strides xs = row_major_strides(x.shape());
  Shape ps{x.shape(0)};
  Strides pst{xs[0]};
  for (int i = 0; i < nd; ++i) {
    ps.push_back(out_shape[i + 1]);
    pst.push_back(xs[i + 1] * p.stride[i]);
  }
  for (int i = 0; i < nd; ++i) {
    ps.push_back(wt.shape(i + 1));
    pst.push_back(xs[i + 1] * p.kdil[i]);
  }
  ps.push_back(C);
  pst.push_back(1);
  array patches = as_strided(x, ps, pst, 0, s);

  array w = wt;
  if (p.flip) {
    std::vector<int> axes(nd);
    std::iota(axes.begin(), axes.end(), 1);
    w = flip(w, axes, s);
  }
  const auto M = static_cast<int32_t>(product(out_shape, 0, nd + 1));
  const auto K = static_cast<int32_t>(product(wt.shape(), 1, nd + 1));
  if (G == 1) {
    array cols = reshape(patches, {M, K * C}, s);
    array y = matmul(cols, transpose(reshape(w, {O, K * C}, s), s), s);
    return reshape(y, out_shape, s);
  }
  array cols = reshape(patches, {M, K, G, Cg}, s);
  cols = reshape(transpose(cols, {2, 0, 1, 3}, s), {G, M, K * Cg}, s);
  array wm = transpose(reshape(w, {G, O / G, K * Cg}, s), {0, 2, 1}, s);
  array y = transpose(matmul(cols, wm, s), {1, 0, 2}, s);  // [M, G, O / G]
  return reshape(y, out_shape, s);
}

}  // namespace

namespace {

// conv_general's arguments checked, with the per-axis settings filled in and
// the output's shape.
struct Checked {
  ConvSettings p;
  Shape out_shape;
};

Checked check_conv(const array& in, const array& wt, std::vector<int> stride,
                   std::vector<int> padding_lo, std::vector<int> padding_hi,
                   std::vector<int> kernel_dilation, std::vector<int> input_dilation,
                   int groups, bool flip) {
  const int nd = in.ndim() - 2;
  if (nd < 1 || nd > 3) {
    fail(kOp,
         cat("input must have 1 to 3 spatial dimensions, laid out [N, ..., C_in]; got "
             "shape ",
             tuple_str(in.shape()), "."));
  }
  if (groups < 1) fail(kOp, cat("groups must be positive, got ", groups, "."));
  if (groups != 1 && nd == 3) {
    fail(kOp, cat("groups != 1 (got ", groups,
                  ") is supported for 1D and 2D convolutions "
                  "only."));
  }
  if (!is_floating_point(in.dtype())) {
    fail(kOp, cat("input must be floating point, got ", in.dtype(), "."));
  }
  if (!is_floating_point(promote_types(in.dtype(), wt.dtype()))) {
    fail(kOp, cat("input ", in.dtype(), " and weight ", wt.dtype(),
                  " do not promote to a real floating dtype."));
  }
  if (wt.ndim() != nd + 2) {
    fail(kOp, cat("weight of shape ", tuple_str(wt.shape()), " does not fit a ", nd,
                  "D convolution: expected ", nd + 2,
                  " dimensions laid out [C_out, ..., "
                  "C_in]."));
  }
  const int C = in.shape(-1);
  if (C % groups != 0) {
    fail(kOp, cat("input channels (", C, ", input shape ", tuple_str(in.shape()),
                  ") are not divisible by groups (", groups, ")."));
  }
  if (groups > 1 && wt.shape(0) % groups != 0) {
    fail(kOp,
         cat("output channels (", wt.shape(0), ", weight shape ", tuple_str(wt.shape()),
             ") are not divisible by groups (", groups, ")."));
  }
  if (int64_t(groups) * wt.shape(-1) != C) {
    fail(kOp, cat("input of shape ", tuple_str(in.shape()), " has ", C,
                  " channels, but weight of shape ", tuple_str(wt.shape()), " with ",
                  groups, " group(s) expects ", int64_t(groups) * wt.shape(-1), "."));
  }

  ConvSettings p{per_axis(std::move(stride), nd, 1, "stride"),
                 per_axis(std::move(padding_lo), nd, 0, "padding_lo"),
                 per_axis(std::move(padding_hi), nd, 0, "padding_hi"),
                 per_axis(std::move(kernel_dilation), nd, 1, "kernel_dilation"),
                 per_axis(std::move(input_dilation), nd, 1, "input_dilation"),
                 groups,
                 flip};
  Shape out_shape{in.shape(0)};
  for (int i = 0; i < nd; ++i) {
    if (p.stride[i] <= 0)
      fail(kOp, cat("strides must be positive, got ", tuple_str(p.stride), "."));
    if (p.kdil[i] <= 0) {
      fail(kOp, cat("kernel dilation must be positive, got ", tuple_str(p.kdil), "."));
    }
    if (p.idil[i] <= 0) {
      fail(kOp, cat("input dilation must be positive, got ", tuple_str(p.idil), "."));
    }
    int64_t span = dilated(in.shape(i + 1), p.idil[i]) + p.lo[i] + p.hi[i];
    int64_t window = 1 + int64_t(p.kdil[i]) * (wt.shape(i + 1) - 1);
    int64_t n = span >= window ? (span - window) / p.stride[i] + 1 : 0;
    if (n <= 0) {
      fail(kOp, cat("spatial axis ", i + 1, " of input shape ", tuple_str(in.shape()),
                    " is ", span, " after dilation ", tuple_str(p.idil), " and padding ",
                    tuple_str(p.lo), " | ", tuple_str(p.hi), ", smaller than the ",
                    window, " of weight shape ", tuple_str(wt.shape()),
                    " with kernel dilation ", tuple_str(p.kdil), "."));
    }
    if (n > std::numeric_limits<int32_t>::max()) {
      fail(kOp,
           cat("spatial axis ", i + 1, " of the output would have ", n, " elements."));
    }
    out_shape.push_back(static_cast<int32_t>(n));
  }
  out_shape.push_back(wt.shape(0));
  return {std::move(p), std::move(out_shape)};
}

// check_conv, then both operands in their common dtype.
Checked checked_operands(array& in, array& wt, std::vector<int> stride,
                         std::vector<int> padding_lo, std::vector<int> padding_hi,
                         std::vector<int> kernel_dilation, std::vector<int> input_dilation,
                         int groups, bool flip, const StreamOrDevice& s) {
  Checked c =
      check_conv(in, wt, std::move(stride), std::move(padding_lo), std::move(padding_hi),
                 std::move(kernel_dilation), std::move(input_dilation), groups, flip);
  Dtype t = promote_types(in.dtype(), wt.dtype());
  if (in.dtype() != t) in = astype(in, t, s);
  if (wt.dtype() != t) wt = astype(wt, t, s);
  return c;
}

// One Conv node; the front end dilates the input (and applies negative
// padding) itself, so the kernels see non-negative padding only.
array conv_node(const array& in, const array& wt, ConvSettings p, const Shape& out_shape,
                StreamOrDevice s) {
  const int nd = in.ndim() - 2;
  bool reshape_input = false;
  for (int i = 0; i < nd; ++i)
    reshape_input |= p.idil[i] > 1 || p.lo[i] < 0 || p.hi[i] < 0;
  array x = in;
  if (reshape_input) {
    x = dilate_and_pad(in, p, s);
    std::fill(p.lo.begin(), p.lo.end(), 0);
    std::fill(p.hi.begin(), p.hi.end(), 0);
  }
  detail::ConvParams kp{std::move(p.stride), std::move(p.lo), std::move(p.hi),
                        std::move(p.kdil),   p.groups,        p.flip};
  return make_array(out_shape, in.dtype(), std::make_shared<detail::Conv>(std::move(kp)),
                    {x, wt, array(0, in.dtype())}, s, kOp);
}

}  // namespace

array conv_general(array in, array wt, std::vector<int> stride,
                   std::vector<int> padding_lo, std::vector<int> padding_hi,
                   std::vector<int> kernel_dilation, std::vector<int> input_dilation,
                   int groups, bool flip, StreamOrDevice s) {
  OuterOp outer(kOp);
  Checked c = checked_operands(in, wt, std::move(stride), std::move(padding_lo),
                               std::move(padding_hi), std::move(kernel_dilation),
                               std::move(input_dilation), groups, flip, s);
  return conv_node(in, wt, std::move(c.p), c.out_shape, s);
}

namespace detail {

array conv_general_composite(array in, array wt, std::vector<int> stride,
                             std::vector<int> padding_lo, std::vector<int> padding_hi,
                             std::vector<int> kernel_dilation,
                             std::vector<int> input_dilation, int groups, bool flip,
                             StreamOrDevice s) {
  OuterOp outer(kOp);
  Checked c = checked_operands(in, wt, std::move(stride), std::move(padding_lo),
                               std::move(padding_hi), std::move(kernel_dilation),
                               std::move(input_dilation), groups, flip, s);
  return conv_im2col(in, wt, c.p, c.out_shape, s);
}

}  // namespace detail

array conv1d(const array& input, const array& weight, int stride, int padding,
             int dilation, int groups, StreamOrDevice s) {
  OuterOp outer("conv1d");
  return conv_general(input, weight, {stride}, {padding}, {padding}, {dilation}, {1},
                      groups, false, s);
}

array conv2d(const array& input, const array& weight, const std::pair<int, int>& stride,
             const std::pair<int, int>& padding, const std::pair<int, int>& dilation,
             int groups, StreamOrDevice s) {
  OuterOp outer("conv2d");
  std::vector<int> pad{padding.first, padding.second};
  return conv_general(input, weight, {stride.first, stride.second}, pad, pad,
                      {dilation.first, dilation.second}, {1, 1}, groups, false, s);
}

array conv3d(const array& input, const array& weight,
             const std::tuple<int, int, int>& stride,
             const std::tuple<int, int, int>& padding,
             const std::tuple<int, int, int>& dilation, int groups, StreamOrDevice s) {
  OuterOp outer("conv3d");
  auto v = [](const std::tuple<int, int, int>& t) {
    return std::vector<int>{std::get<0>(t), std::get<1>(t), std::get<2>(t)};
  };
  return conv_general(input, weight, v(stride), v(padding), v(padding), v(dilation),
                      {1, 1, 1}, groups, false, s);
}

namespace {

// A transposed convolution is the convolution of the input dilated by
// `stride` with the flipped kernel, padded so that every input element meets
// every kernel tap: dilation * (k - 1) - padding on each side, plus
// output_padding at the end.
array conv_transpose(const array& in, const array& wt, const std::vector<int>& stride,
                     const std::vector<int>& padding, const std::vector<int>& dilation,
                     const std::vector<int>& output_padding, int groups,
                     StreamOrDevice s) {
  const int nd = static_cast<int>(stride.size());
  if (in.ndim() != nd + 2) {
    fail(kOp,
         cat("input of shape ", tuple_str(in.shape()), " does not fit a ", nd,
             "D convolution: expected ", nd + 2, " dimensions laid out [N, ..., C_in]."));
  }
  if (wt.ndim() != nd + 2) {
    fail(kOp, cat("weight of shape ", tuple_str(wt.shape()), " does not fit a ", nd,
                  "D convolution: expected ", nd + 2,
                  " dimensions laid out [C_out, ..., "
                  "C_in]."));
  }
  for (int i = 0; i < nd; ++i) {
    if (stride[i] <= 0)
      fail(kOp, cat("strides must be positive, got ", tuple_str(stride), "."));
    if (dilation[i] <= 0) {
      fail(kOp, cat("kernel dilation must be positive, got ", tuple_str(dilation), "."));
    }
  }
  std::vector<int> lo(nd), hi(nd);
  for (int i = 0; i < nd; ++i) {
    int64_t reach = int64_t(dilation[i]) * (wt.shape(i + 1) - 1);
    int64_t l = reach - padding[i], h = reach - padding[i] + output_padding[i];
    if (std::max(std::abs(l), std::abs(h)) > std::numeric_limits<int32_t>::max()) {
      fail(kOp, cat("padding ", tuple_str(padding), " and output_padding ",
                    tuple_str(output_padding), " are out of range."));
    }
    lo[i] = static_cast<int>(l);
    hi[i] = static_cast<int>(h);
  }
  return conv_general(in, wt, std::vector<int>(nd, 1), lo, hi, dilation, stride, groups,
                      true, s);
}

}  // namespace

array conv_transpose1d(const array& input, const array& weight, int stride, int padding,
                       int dilation, int output_padding, int groups, StreamOrDevice s) {
  OuterOp outer("conv_transpose1d");
  return conv_transpose(input, weight, {stride}, {padding}, {dilation}, {output_padding},
                        groups, s);
}

array conv_transpose2d(const array& input, const array& weight,
                       const std::pair<int, int>& stride,
                       const std::pair<int, int>& padding,
                       const std::pair<int, int>& dilation,
                       const std::pair<int, int>& output_padding, int groups,
                       StreamOrDevice s) {
  OuterOp outer("conv_transpose2d");
  auto v = [](const std::pair<int, int>& t) {
    return std::vector<int>{t.first, t.second};
  };
  return conv_transpose(input, weight, v(stride), v(padding), v(dilation),
                        v(output_padding), groups, s);
}

array conv_transpose3d(const array& input, const array& weight,
                       const std::tuple<int, int, int>& stride,
                       const std::tuple<int, int, int>& padding,
                       const std::tuple<int, int, int>& dilation,
                       const std::tuple<int, int, int>& output_padding, int groups,
                       StreamOrDevice s) {
  OuterOp outer("conv_transpose3d");
  auto v = [](const std::tuple<int, int, int>& t) {
    return std::vector<int>{std::get<0>(t), std::get<1>(t), std::get<2>(t)};
  };
  return conv_transpose(input, weight, v(stride), v(padding), v(dilation),
                        v(output_padding), groups, s);
}

}  // namespace rill
