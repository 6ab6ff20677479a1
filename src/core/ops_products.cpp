// Structured matrix products built on the core kernels: the Hadamard
// transform (butterflies of adds and subtracts), and MLX's masked, gathered
// and segmented matrix products (masks, takes and matmul).
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/op_checks.h"
#include "rill/ops.h"

namespace rill {

// ---------------------------------------------------------------- hadamard

namespace {

// The Hadamard matrices of orders 12, 20 and 28 that MLX uses (from N. J. A.
// Sloane's library of Hadamard matrices), one row per entry, the first
// column in the highest bit: a set bit is +1, a clear one -1.
const std::vector<uint32_t> kH12 = {0xbff, 0x2aa, 0xec3, 0x896, 0xfb0, 0xa25,
                                    0xcec, 0x989, 0xc3b, 0x962, 0xf0e, 0xa58};
const std::vector<uint32_t> kH20 = {0x83cc9, 0x45c74, 0x26e2a, 0x17705, 0xf992,
                                    0x842c6, 0x42163, 0x212b1, 0x10b58, 0x85ac,
                                    0xca610, 0xe5108, 0x72884, 0x39442, 0x9c821,
                                    0xb65f0, 0x5f2e8, 0xabb64, 0xd1fa2, 0x6cfc1};
const std::vector<uint32_t> kH28 = {
    0x80796b3, 0x403eb59, 0x211d5ec, 0x118eab6, 0x9c751b,  0x5e1acd,  0x2f2d66,
    0xc30262d, 0xe081356, 0x70409ab, 0x38224d5, 0x1c1326a, 0xe09935,  0x8604cda,
    0xa4ce061, 0x5365070, 0xa9b0838, 0x54d841c, 0x2a6c20e, 0x9534107, 0x4b980c3,
    0x9948f40, 0x4ca47a0, 0x2752390, 0x92ab188, 0xc857884, 0x652bc02, 0x3295e01};

const std::vector<uint32_t>* hadamard_rows(int m) {
  switch (m) {
    case 12: return &kH12;
    case 20: return &kH20;
    case 28: return &kH28;
    default: return nullptr;
  }
}

}  // namespace

array hadamard_transform(const array& a, std::optional<float> scale_, StreamOrDevice s) {
  OuterOp outer("hadamard_transform");
  if (a.size() == 0) fail("hadamard_transform", "does not support empty arrays.");
  const int n = a.ndim() > 0 ? a.shape(-1) : 1;
  const float scale = scale_ ? *scale_ : 1.0f / std::sqrt(float(n));
  const Dtype dtype = is_floating_point(a.dtype()) ? a.dtype() : float32;
  if (n == 1) return scale == 1 ? a : multiply(a, array(scale, dtype), s);
  // n = m 2^k.
  int m = 1, p = n;
  if ((n & (n - 1)) != 0) {
    for (int f : {12, 20, 28}) {
      if (n % f == 0 && ((n / f) & (n / f - 1)) == 0) {
        m = f;
        p = n / f;
        break;
      }
    }
    if (m == 1) {
      fail("hadamard_transform",
           cat("only supports n = m*2^k where m in (1, 12, 20, 28), got n = ", n, "."));
    }
  }
  if (p > (1 << 26)) {
    fail("hadamard_transform", cat("only supports n = m*2^k where k <= 26, got n = ", n, "."));
  }
  const Dtype ct = (dtype == float16 || dtype == bfloat16) ? float32 : dtype;
  const int batch = static_cast<int>(a.size() / n);
  array x = reshape(astype(a, ct, s), {batch, m, p}, s);
  // The Sylvester part: y = x H_p with H_p = H_2 (x) ... (x) H_2, one
  // butterfly (sum, difference) per factor.
  for (int h = 1; h < p; h *= 2) {
    array y = reshape(x, {batch, m, p / (2 * h), 2, h}, s);
    array x0 = slice(y, {0, 0, 0, 0, 0}, {batch, m, p / (2 * h), 1, h}, s);
    array x1 = slice(y, {0, 0, 0, 1, 0}, {batch, m, p / (2 * h), 2, h}, s);
    x = reshape(concatenate({add(x0, x1, s), subtract(x0, x1, s)}, 3, s), {batch, m, p}, s);
  }
  if (m > 1) {
    // y[b, j, q] = sum_i x[b, i, q] H_m[i, j], as sums of +-x (exact products).
    const std::vector<uint32_t>& rows = *hadamard_rows(m);
    std::vector<float> h(m * m);
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < m; ++j) h[i * m + j] = (rows[i] >> (m - 1 - j)) & 1 ? 1.0f : -1.0f;
    }
    array hm = reshape(astype(array(h, Shape{m, m}, float32), ct, s), {1, m, m, 1}, s);
    x = sum(multiply(reshape(x, {batch, m, 1, p}, s), hm, s), 1, false, s);
  }
  x = multiply(x, array(scale, ct), s);
  return reshape(astype(x, dtype, s), a.shape(), s);
}

// ---------------------------------------------------------------- masked, gathered, segmented

namespace {

// The result dtype of a and b's product; throws unless it is floating.
Dtype product_type(const array& a, const array& b, const char* op) {
  Dtype t = promote_types(a.dtype(), b.dtype());
  if (!is_floating_point(t)) {
    fail(op, cat("only real floating point types are supported but ", a.dtype(), " and ",
                 b.dtype(), " were provided which results in ", t,
                 ", which is not a real floating point type."));
  }
  return t;
}

void check_operands(array& a, array& b, const char* op, const StreamOrDevice& s) {
  if (a.ndim() == 0 || b.ndim() == 0) {
    fail(op, "got 0 dimension input. Inputs must have at least one dimension.");
  }
  if (a.ndim() == 1) a = expand_dims(a, 0, s);
  if (b.ndim() == 1) b = expand_dims(b, 1, s);
  if (a.shape(-1) != b.shape(-2)) {
    fail(op, cat("last dimension of first input with shape ", tuple_str(a.shape()),
                 " must match second to last dimension of second input with shape ",
                 tuple_str(b.shape()), "."));
  }
}

// A block mask [..., tr, tc] as an element mask [..., rows, cols].
array expand_mask(const array& mask, int block, int rows, int cols, const StreamOrDevice& s) {
  array e = repeat(repeat(mask, block, -2, s), block, -1, s);
  Shape start(e.ndim(), 0), stop = e.shape();
  stop[e.ndim() - 2] = rows;
  stop[e.ndim() - 1] = cols;
  return slice(e, start, stop, s);
}

// x with a mask applied: bool keeps or zeroes, other dtypes scale.
array apply_mask(const array& x, const array& mask, const StreamOrDevice& s) {
  if (mask.dtype() == bool_) return where(mask, x, zeros({}, x.dtype(), s), s);
  return multiply(x, astype(mask, x.dtype(), s), s);
}

}  // namespace

array block_masked_mm(array a, array b, int block_size, std::optional<array> mask_out,
                      std::optional<array> mask_lhs, std::optional<array> mask_rhs,
                      StreamOrDevice s) {
  OuterOp outer("block_masked_mm");
  if (!mask_out && !mask_lhs && !mask_rhs) return matmul(a, b, s);
  if (block_size != 32 && block_size != 64) {
    fail("block_masked_mm",
         cat("only block_sizes 32, 64 are supported. Got block size ", block_size, "."));
  }
  const int a_ndim = a.ndim(), b_ndim = b.ndim();
  check_operands(a, b, "block_masked_mm", s);
  const Dtype t = product_type(a, b, "block_masked_mm");
  a = astype(a, t, s);
  b = astype(b, t, s);
  const int M = a.shape(-2), N = b.shape(-1), K = a.shape(-1);
  Shape batch = detail::broadcast_or_fail(Shape(a.shape().begin(), a.shape().end() - 2),
                                  Shape(b.shape().begin(), b.shape().end() - 2),
                                  "block_masked_mm");
  auto ceil_div = [&](int v) { return (v + block_size - 1) / block_size; };
  const int tm = ceil_div(M), tn = ceil_div(N), tk = ceil_div(K);
  auto block_shape = [&](int r, int c) {
    Shape sh = batch;
    sh.push_back(r);
    sh.push_back(c);
    return sh;
  };
  // Masks broadcast to [batch..., blocks, blocks] as MLX's checks do.
  if (mask_lhs || mask_rhs) {
    array ml = mask_lhs ? *mask_lhs : array({true});
    array mr = mask_rhs ? *mask_rhs : array({true});
    const bool both_bool = ml.dtype() == bool_ && mr.dtype() == bool_;
    if (a_ndim == 1) ml = expand_dims(ml, -2, s);
    if (b_ndim == 1) mr = expand_dims(mr, -1, s);
    ml = broadcast_to(ml, block_shape(tm, tk), s);
    mr = broadcast_to(mr, block_shape(tk, tn), s);
    if (!both_bool) {
      ml = astype(ml, t, s);
      mr = astype(mr, t, s);
    }
    a = apply_mask(a, expand_mask(ml, block_size, M, K, s), s);
    b = apply_mask(b, expand_mask(mr, block_size, K, N, s), s);
  }
  array out = matmul(a, b, s);
  if (mask_out) {
    array mo = *mask_out;
    if (a_ndim == 1 || b_ndim == 1) {
      std::vector<int> axes;
      if (a_ndim == 1) axes.push_back(-2);
      if (b_ndim == 1) axes.push_back(-1);
      mo = expand_dims(mo, axes, s);
    }
    mo = broadcast_to(mo, block_shape(tm, tn), s);
    out = apply_mask(out, expand_mask(mo, block_size, M, N, s), s);
  }
  std::vector<int> axes;
  if (a_ndim == 1) axes.push_back(out.ndim() - 2);
  if (b_ndim == 1) axes.push_back(out.ndim() - 1);
  return axes.empty() ? out : squeeze(out, axes, s);
}


array gather_mm(array a, array b, std::optional<array> lhs_indices,
                std::optional<array> rhs_indices, bool /*sorted_indices*/, StreamOrDevice s) {
  OuterOp outer("gather_mm");
  if (!lhs_indices && !rhs_indices) return matmul(a, b, s);
  const int a_ndim = a.ndim(), b_ndim = b.ndim();
  check_operands(a, b, "gather_mm", s);
  const Dtype t = product_type(a, b, "gather_mm");
  a = astype(a, t, s);
  b = astype(b, t, s);
  array li = detail::indices_or_all(lhs_indices, a, "gather_mm", s);
  array ri = detail::indices_or_all(rhs_indices, b, "gather_mm", s);
  auto both = broadcast_arrays({li, ri}, s);
  const int M = a.shape(-2), K = a.shape(-1), N = b.shape(-1);
  // Each operand as a stack of matrices, the indices picking from it.
  array as = reshape(a, {-1, M, K}, s), bs = reshape(b, {-1, K, N}, s);
  array out = matmul(take(as, both[0], 0, s), take(bs, both[1], 0, s), s);
  std::vector<int> axes;
  if (a_ndim == 1) axes.push_back(out.ndim() - 2);
  if (b_ndim == 1) axes.push_back(out.ndim() - 1);
  return axes.empty() ? out : squeeze(out, axes, s);
}

array segmented_mm(array a, array b, array segments, StreamOrDevice s) {
  OuterOp outer("segmented_mm");
  if (a.ndim() != 2 || b.ndim() != 2) fail("segmented_mm", "batched matmul not supported.");
  if (segments.ndim() < 1 || segments.shape(-1) != 2) {
    fail("segmented_mm", cat("the segments should have shape (..., 2) but ",
                             tuple_str(segments.shape()), " was provided."));
  }
  const Dtype t = product_type(a, b, "segmented_mm");
  if (!is_integral(segments.dtype())) {
    fail("segmented_mm", "got segments with invalid dtype. Segments must be integral.");
  }
  if (a.shape(1) != b.shape(0)) {
    fail("segmented_mm", cat("last dimension of first input with shape ", tuple_str(a.shape()),
                             " must match first dimension of second input with shape ",
                             tuple_str(b.shape()), "."));
  }
  a = astype(a, t, s);
  b = astype(b, t, s);
  const int K = a.shape(1);
  array seg = astype(segments, int64, s);
  const int sd = seg.ndim();
  Shape st0(sd, 0), st1(sd, 0), stop = seg.shape();
  st1[sd - 1] = 1;
  stop[sd - 1] = 1;
  array start = slice(seg, st0, stop, s);  // [..., 1]
  stop[sd - 1] = 2;
  array end = slice(seg, st1, stop, s);
  // Column k of a takes part in a segment when start <= k < end.
  array k = arange(0, K, s);
  array in_seg = logical_and(greater_equal(k, start, s), less(k, end, s), s);  // [..., K]
  array masked = where(expand_dims(in_seg, -2, s), a, zeros({}, t, s), s);   // [..., M, K]
  return matmul(masked, b, s);
}

}  // namespace rill
