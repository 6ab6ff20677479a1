// MLX's quantization: quantize, dequantize, quantized_matmul and gather_qmm
// in the affine, mxfp4, mxfp8 and nvfp4 formats (common/quantize_math.h),
// and qqmm / gather_qqmm (activations quantized too). The checks and their
// messages are MLX's.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/op_checks.h"
#include "core/primitives.h"
#include "rill/ops.h"

namespace rill {

namespace {

using detail::QuantMode;
using detail::QuantParams;

const char* mode_name(QuantMode m) {
  switch (m) {
    case QuantMode::affine: return "affine";
    case QuantMode::mxfp4: return "mxfp4";
    case QuantMode::mxfp8: return "mxfp8";
    case QuantMode::nvfp4: return "nvfp4";
  }
  return "?";
}

QuantMode mode_of(const std::string& mode, const char* op) {
  for (QuantMode m : {QuantMode::affine, QuantMode::mxfp4, QuantMode::mxfp8, QuantMode::nvfp4}) {
    if (mode == mode_name(m)) return m;
  }
  fail(op, cat("invalid quantization mode '", mode,
               "' (the modes are 'affine', 'mxfp4', 'mxfp8' and 'nvfp4')."));
}

// MLX's defaults: affine 64 and 4, mxfp4 32 and 4, mxfp8 32 and 8, nvfp4 16 and 4.
QuantParams params_of(QuantMode m, std::optional<int> group_size, std::optional<int> bits) {
  int g = 64, b = 4;
  if (m == QuantMode::nvfp4) g = 16;
  if (m == QuantMode::mxfp4 || m == QuantMode::mxfp8) g = 32;
  if (m == QuantMode::mxfp8) b = 8;
  return {group_size.value_or(g), bits.value_or(b), m};
}

// The float modes' fixed group size and bits.
void check_fp_params(const QuantParams& p, const char* op) {
  const int gs = p.mode == QuantMode::nvfp4 ? 16 : 32;
  const int bits = p.mode == QuantMode::mxfp8 ? 8 : 4;
  if (p.group_size != gs) {
    fail(op, cat(mode_name(p.mode), " quantization requires group size ", gs, " but got ",
                 p.group_size, "."));
  }
  if (p.bits != bits) {
    fail(op, cat(mode_name(p.mode), " quantization requires bits to be ", bits, " but got ",
                 p.bits, "."));
  }
}

// affine's group sizes and bits for which codes and kernels exist.
void check_affine_params(const QuantParams& p, const char* op) {
  if (p.group_size != 32 && p.group_size != 64 && p.group_size != 128) {
    fail(op, cat("the requested group size ", p.group_size,
                 " is not supported. The supported group sizes are 32, 64, and 128."));
  }
  if (p.bits < 2 || p.bits > 8 || p.bits == 7) {
    fail(op, cat("the requested number of bits ", p.bits,
                 " is not supported. The supported bits are 2, 3, 4, 5, 6 and 8."));
  }
}

void check_params(const QuantParams& p, const char* op) {
  if (p.mode == QuantMode::affine) {
    check_affine_params(p, op);
  } else {
    check_fp_params(p, op);
  }
}

// The result dtype of dequantizing with these scales (and biases): affine's
// common floating type of scales and biases, bfloat16 for the float modes,
// or `out_type` when given.
Dtype mode_type(const char* op, QuantMode m, const array& scales,
                const std::optional<array>& biases, std::optional<Dtype> out_type) {
  if (out_type && !is_floating_point(*out_type)) {
    fail(op, cat("only real floating types are supported but output dtype == ", *out_type, "."));
  }
  if (m == QuantMode::affine) {
    if (!biases) fail(op, "biases must be provided for affine quantization.");
    const Dtype t = promote_types(scales.dtype(), biases->dtype());
    if (!is_floating_point(t)) {
      fail(op, cat("only real floating types are supported but scales.dtype() == ",
                   scales.dtype(), " and biases.dtype() == ", biases->dtype(), "."));
    }
    return out_type.value_or(t);
  }
  if (scales.dtype() != uint8) {
    fail(op, cat("scale type must be uint8 but received type ", scales.dtype(), "."));
  }
  if (biases) fail(op, cat("biases must be null for quantization mode '", mode_name(m), "'."));
  return out_type.value_or(bfloat16);
}

void check_global_scale(const char* op, QuantMode m, const std::optional<array>& g) {
  if (!g) return;
  if (m != QuantMode::nvfp4) {
    fail(op, "global scale is only supported for 'nvfp4' quantization mode.");
  }
  if (g->size() != 1) {
    fail(op, cat("global scale must be a scalar but got shape ", tuple_str(g->shape()), "."));
  }
  if (g->dtype() != float32) {
    fail(op, cat("global scale must have dtype float32 but got ", g->dtype(), "."));
  }
}

// w, scales (and biases) fit each other: uint32 codes, one batch shape, and
// K bits / 32 words per row for K / group_size scales.
void check_quantized(const char* op, const array& w, const array& scales, const QuantParams& p,
                     const std::optional<array>& biases) {
  if (w.dtype() != uint32) {
    fail(op, cat("the weight matrix should be uint32 but received ", w.dtype(), "."));
  }
  if (w.ndim() < 2) {
    fail(op, cat("the quantized matrix must have at least 2 dimensions but has shape ",
                 tuple_str(w.shape()), "."));
  }
  if (biases && scales.shape() != biases->shape()) {
    fail(op, cat("scales and biases should have the same shape. Received scales with shape ",
                 tuple_str(scales.shape()), " and biases with ", tuple_str(biases->shape()), "."));
  }
  Shape wb(w.shape().begin(), w.shape().end() - 1), sb = scales.shape();
  if (!sb.empty()) sb.pop_back();
  if (wb != sb) {
    fail(op, cat("weight and scales should have the same batch shape. Received weight with "
                 "shape ", tuple_str(w.shape()), ", scales with ", tuple_str(scales.shape()), "."));
  }
  if (int64_t(w.shape(-1)) * 32 / p.bits != int64_t(scales.shape(-1)) * p.group_size) {
    fail(op, cat("the shapes of the weight and scales are incompatible based on bits and "
                 "group_size. w.shape() == ", tuple_str(w.shape()), " and scales.shape() == ",
                 tuple_str(scales.shape()), " with group_size=", p.group_size,
                 " and bits=", p.bits, "."));
  }
}

// The expanded matrix's (inner, outer) sizes; inner must be x's last.
std::pair<int, int> matmul_dims(const char* op, const array& x, const array& w,
                                const array& scales, const std::optional<array>& biases,
                                bool transpose, const QuantParams& p) {
  check_quantized(op, w, scales, p, biases);
  const int expanded = static_cast<int>(int64_t(w.shape(-1)) * 32 / p.bits);
  const int inner = transpose ? expanded : w.shape(-2);
  const int outer = transpose ? w.shape(-2) : expanded;
  if (x.ndim() < 1 || x.shape(-1) != inner) {
    fail(op, cat("last dimension of first input with shape ", tuple_str(x.shape()),
                 " does not match the expanded quantized matrix (", inner, ", ", outer,
                 ") computed from shape ", tuple_str(w.shape()), " with group_size=",
                 p.group_size, ", bits=", p.bits, " and transpose=",
                 transpose ? "true" : "false", "."));
  }
  return {inner, outer};
}

std::vector<array> quantize_parts(const array& w, const QuantParams& p,
                                  const std::optional<array>& global_scale, StreamOrDevice s) {
  Shape codes = w.shape(), groups = w.shape();
  codes.back() = static_cast<int>(int64_t(w.shape(-1)) * p.bits / 32);
  groups.back() = w.shape(-1) / p.group_size;
  std::vector<array> in{w};
  if (global_scale) in.push_back(reshape(*global_scale, {}, s));
  const bool affine = p.mode == QuantMode::affine;
  std::vector<array> out;
  out.push_back(make_array(codes, uint32, std::make_shared<detail::Quantize>(p, 0), in, s,
                           "quantize"));
  out.push_back(make_array(groups, affine ? w.dtype() : uint8,
                           std::make_shared<detail::Quantize>(p, 1), in, s, "quantize"));
  if (affine) {
    out.push_back(make_array(groups, w.dtype(), std::make_shared<detail::Quantize>(p, 2), in, s,
                             "quantize"));
  }
  return out;
}

}  // namespace

std::vector<array> quantize(const array& w, std::optional<int> group_size,
                            std::optional<int> bits, const std::string& mode,
                            const std::optional<array>& global_scale, StreamOrDevice s) {
  OuterOp outer("quantize");
  const QuantParams p = params_of(mode_of(mode, "quantize"), group_size, bits);
  if (!is_floating_point(w.dtype())) {
    fail("quantize", cat("only real floating types can be quantized but w has type ",
                         w.dtype(), "."));
  }
  if (w.ndim() < 2) {
    fail("quantize", cat("the matrix to be quantized must have at least 2 dimensions but it "
                         "has only ", w.ndim(), "."));
  }
  if (p.group_size <= 0 || w.shape(-1) % p.group_size != 0) {
    fail("quantize", cat("the last dimension of the matrix needs to be divisible by the "
                         "quantization group size ", p.group_size,
                         ". However the provided matrix has shape ", tuple_str(w.shape()), "."));
  }
  check_global_scale("quantize", p.mode, global_scale);
  check_params(p, "quantize");
  // float64 is quantized from its float32 values, as MLX's kernels read it.
  array in = w.dtype() == float64 ? astype(w, float32, s) : w;
  return quantize_parts(in, p, global_scale, s);
}

array dequantize(const array& w, const array& scales, const std::optional<array>& biases,
                 std::optional<int> group_size, std::optional<int> bits, const std::string& mode,
                 const std::optional<array>& global_scale, std::optional<Dtype> dtype,
                 StreamOrDevice s) {
  OuterOp outer("dequantize");
  const QuantMode m = mode_of(mode, "dequantize");
  const Dtype out_type = mode_type("dequantize", m, scales, biases, dtype);
  const QuantParams p = params_of(m, group_size, bits);
  if (p.bits <= 0 || p.bits > 8) {
    fail("dequantize", cat("invalid value for bits: ", p.bits, " (1 to 8)."));
  }
  if (p.group_size <= 0) fail("dequantize", cat("invalid value for group_size: ", p.group_size, "."));
  if (w.dtype() != uint32) fail("dequantize", "the matrix should be given as a uint32.");
  if (w.ndim() < 2) {
    fail("dequantize", cat("the matrix to be dequantized must have at least 2 dimensions but "
                           "it has only ", w.ndim(), "."));
  }
  check_global_scale("dequantize", m, global_scale);
  if (m != QuantMode::affine) check_fp_params(p, "dequantize");
  if (scales.ndim() != w.ndim() || (biases && biases->ndim() != w.ndim())) {
    fail("dequantize", cat("shape of scales ", tuple_str(scales.shape()),
                           " does not match the matrix ", tuple_str(w.shape()), "."));
  }
  check_quantized("dequantize", w, scales, p, biases);
  Shape out_shape = w.shape();
  out_shape.back() = static_cast<int>(int64_t(w.shape(-1)) * 32 / p.bits);
  if (m == QuantMode::affine) {
    // Computed in the scales' and biases' common type, then converted.
    const Dtype t = promote_types(scales.dtype(), biases->dtype());
    array out = make_array(out_shape, t, std::make_shared<detail::Dequantize>(p, true),
                           {w, astype(scales, t, s), astype(*biases, t, s)}, s, "dequantize");
    return astype(out, out_type, s);
  }
  std::vector<array> in{w, scales};
  if (global_scale) in.push_back(reshape(*global_scale, {}, s));
  return make_array(out_shape, out_type, std::make_shared<detail::Dequantize>(p, false), in, s,
                    "dequantize");
}

array quantized_matmul(const array& x, const array& w, const array& scales,
                       const std::optional<array>& biases, bool transpose,
                       std::optional<int> group_size, std::optional<int> bits,
                       const std::string& mode, StreamOrDevice s) {
  OuterOp outer("quantized_matmul");
  const QuantMode m = mode_of(mode, "quantized_matmul");
  Dtype t = mode_type("quantized_matmul", m, scales, biases, std::nullopt);
  const QuantParams p = params_of(m, group_size, bits);
  check_params(p, "quantized_matmul");
  auto [inner, n] = matmul_dims("quantized_matmul", x, w, scales, biases, transpose, p);
  (void)inner;
  t = m == QuantMode::affine ? promote_types(x.dtype(), t) : x.dtype();
  if (!is_floating_point(t) || t == float64) {
    fail("quantized_matmul", cat("only float32, float16 and bfloat16 are supported but "
                                 "x.dtype() == ", x.dtype(), "."));
  }
  array xs = astype(x, t, s);
  array sc = m == QuantMode::affine ? astype(scales, t, s) : scales;
  std::optional<array> bs;
  if (biases) bs = astype(*biases, t, s);
  array wq = w;
  const int K = x.shape(-1);
  const int M = x.ndim() >= 2 ? x.shape(-2) : 1;
  // The batch: x's and w's broadcast against each other when w has one.
  Shape batch(x.shape().begin(), x.shape().end() - std::min<int>(x.ndim(), 2));
  if (w.ndim() > 2) {
    Shape wb(w.shape().begin(), w.shape().end() - 2);
    batch = detail::broadcast_or_fail(batch, wb, "quantized_matmul");
    auto with = [&](const array& a, int tail) {
      Shape sh = batch;
      sh.insert(sh.end(), a.shape().end() - tail, a.shape().end());
      return broadcast_to(a, sh, s);
    };
    xs = with(x.ndim() >= 2 ? xs : reshape(xs, {1, K}, s), 2);
    wq = with(wq, 2);
    sc = with(sc, 2);
    if (bs) bs = with(*bs, 2);
  }
  int64_t B = 1;
  for (int d : batch) B *= d;
  const int Bi = static_cast<int>(B);
  const bool shared_w = w.ndim() == 2;
  // The kernel's operands: x [B, M, K] (all rows as one batch when w is one
  // matrix), w [Bw, rows, words], scales [Bw, rows, groups].
  array x3 = shared_w ? reshape(xs, {1, Bi * M, K}, s) : reshape(xs, {Bi, M, K}, s);
  auto three = [&](const array& a) {
    return reshape(a, {shared_w ? 1 : Bi, a.shape(-2), a.shape(-1)}, s);
  };
  std::vector<array> in{x3, three(wq), three(sc)};
  if (bs) in.push_back(three(*bs));
  Shape out3{x3.shape(0), x3.shape(1), n};
  array out = make_array(out3, t, std::make_shared<detail::QuantizedMatmul>(p, transpose), in, s,
                         "quantized_matmul");
  Shape final_shape = batch;
  if (x.ndim() >= 2) final_shape.push_back(M);
  final_shape.push_back(n);
  return reshape(out, final_shape, s);
}

namespace {

// a's matrices as a stack [count, rows, cols], then those the indices pick.
array pick(const array& a, const array& idx, StreamOrDevice s) {
  return take(reshape(a, {-1, a.shape(-2), a.shape(-1)}, s), idx, 0, s);
}

}  // namespace

array gather_qmm(const array& x, const array& w, const array& scales,
                 const std::optional<array>& biases, std::optional<array> lhs_indices,
                 std::optional<array> rhs_indices, bool transpose, std::optional<int> group_size,
                 std::optional<int> bits, const std::string& mode,
                 const std::optional<array>& global_scale, bool /*sorted_indices*/,
                 StreamOrDevice s) {
  OuterOp outer("gather_qmm");
  if (!lhs_indices && !rhs_indices && !global_scale) {
    return quantized_matmul(x, w, scales, biases, transpose, group_size, bits, mode, s);
  }
  const QuantMode m = mode_of(mode, "gather_qmm");
  mode_type("gather_qmm", m, scales, biases, std::nullopt);
  const QuantParams p = params_of(m, group_size, bits);
  check_params(p, "gather_qmm");
  check_global_scale("gather_qmm", m, global_scale);
  matmul_dims("gather_qmm", x, w, scales, biases, transpose, p);
  array li = detail::indices_or_all(lhs_indices, x, "gather_qmm", s);
  array ri = detail::indices_or_all(rhs_indices, w, "gather_qmm", s);
  auto both = broadcast_arrays({li, ri}, s);
  if (global_scale) {
    // nvfp4 over a global scale: the weights dequantized, then gathered.
    array wd = dequantize(w, scales, biases, p.group_size, p.bits, mode, global_scale,
                          x.dtype(), s);
    if (transpose) wd = swapaxes(wd, -1, -2, s);
    return gather_mm(x, wd, both[0], both[1], false, s);
  }
  array xg = pick(x, both[0], s);
  std::optional<array> bg;
  if (biases) bg = pick(*biases, both[1], s);
  return quantized_matmul(xg, pick(w, both[1], s), pick(scales, both[1], s), bg, transpose,
                          p.group_size, p.bits, mode, s);
}

namespace {

// x through its float format and back (qqmm's quantized activations).
array round_trip(const array& x, const QuantParams& p, const char* mode,
                 const std::optional<array>& global_scale, StreamOrDevice s) {
  auto q = quantize(x, p.group_size, p.bits, mode, global_scale, s);
  return dequantize(q[0], q[1], std::nullopt, p.group_size, p.bits, mode, global_scale,
                    x.dtype(), s);
}

// qqmm's operands checked; returns w as a dense [N, K] matrix of x's dtype
// (dequantized, or rounded through the format) and x rounded through it.
std::pair<array, array> qq_operands(const char* op, const array& x, const array& w,
                                    const std::optional<array>& scales_w, const QuantParams& p,
                                    const std::string& mode,
                                    const std::optional<array>& global_scale_x,
                                    const std::optional<array>& global_scale_w,
                                    StreamOrDevice s) {
  if (p.mode == QuantMode::affine) {
    fail(op, "affine quantization is not supported; the modes are 'mxfp4', 'mxfp8' and "
             "'nvfp4'.");
  }
  check_fp_params(p, op);
  if (!is_floating_point(x.dtype()) || x.dtype() == float64) {
    fail(op, cat("only real floating types except float64 are supported but first argument "
                 "dtype == ", x.dtype(), "."));
  }
  check_global_scale(op, p.mode, global_scale_x);
  check_global_scale(op, p.mode, global_scale_w);
  if (p.mode == QuantMode::nvfp4 && global_scale_x.has_value() != global_scale_w.has_value()) {
    fail(op, "for nvfp4 mode, either both global_scale_x and global_scale_w must be "
             "provided, or neither.");
  }
  array wd = w;
  if (w.dtype() == uint32) {
    if (!scales_w) fail(op, "scales must be provided if second argument is quantized.");
    if (scales_w->dtype() != uint8) {
      fail(op, cat("scale type must be uint8 but received type ", scales_w->dtype(), "."));
    }
    check_quantized(op, w, *scales_w, p, std::nullopt);
    wd = dequantize(w, *scales_w, std::nullopt, p.group_size, p.bits, mode, global_scale_w,
                    x.dtype(), s);
  } else {
    if (!is_floating_point(w.dtype()) || w.dtype() == float64) {
      fail(op, cat("only real floating types except float64 are supported but second "
                   "argument dtype == ", w.dtype(), "."));
    }
    wd = astype(round_trip(w, p, mode.c_str(), global_scale_w, s), x.dtype(), s);
  }
  if (x.shape(-1) != wd.shape(-1)) {
    fail(op, cat("last dimension of first input with shape ", tuple_str(x.shape()),
                 " must match last dimension of second input with shape ",
                 tuple_str(wd.shape()), "."));
  }
  return {round_trip(x, p, mode.c_str(), global_scale_x, s), wd};
}

}  // namespace

array qqmm(const array& x, const array& w, const std::optional<array>& w_scales,
           std::optional<int> group_size, std::optional<int> bits, const std::string& mode,
           const std::optional<array>& global_scale_x,
           const std::optional<array>& global_scale_w, StreamOrDevice s) {
  OuterOp outer("qqmm");
  const QuantParams p = params_of(mode_of(mode, "qqmm"), group_size, bits);
  if (x.ndim() > 2 || w.ndim() > 2) {
    fail("qqmm", cat("only 2D inputs are supported but x.ndim() == ", x.ndim(),
                     " and w.ndim() == ", w.ndim(), "."));
  }
  if (w.ndim() < 2) fail("qqmm", cat("the second input must be 2D but has shape ",
                                     tuple_str(w.shape()), "."));
  array x2 = x.ndim() == 1 ? reshape(x, {1, x.shape(0)}, s) : x;
  auto [xq, wd] = qq_operands("qqmm", x2, w, w_scales, p, mode, global_scale_x, global_scale_w, s);
  array out = matmul(xq, swapaxes(wd, -1, -2, s), s);
  return x.ndim() == 1 ? reshape(out, {out.shape(-1)}, s) : out;
}

array gather_qqmm(const array& x, const array& w, const std::optional<array>& scales_w,
                  const std::optional<array>& lhs_indices,
                  const std::optional<array>& rhs_indices, std::optional<int> group_size,
                  std::optional<int> bits, const std::string& mode,
                  const std::optional<array>& global_scale_x,
                  const std::optional<array>& global_scale_w, bool /*sorted_indices*/,
                  StreamOrDevice s) {
  OuterOp outer("gather_qqmm");
  const QuantParams p = params_of(mode_of(mode, "gather_qqmm"), group_size, bits);
  array li = detail::indices_or_all(lhs_indices, x, "gather_qqmm", s);
  array ri = detail::indices_or_all(rhs_indices, w, "gather_qqmm", s);
  auto both = broadcast_arrays({li, ri}, s);
  auto [xq, wd] =
      qq_operands("gather_qqmm", x, w, scales_w, p, mode, global_scale_x, global_scale_w, s);
  return gather_mm(xq, swapaxes(wd, -1, -2, s), both[0], both[1], false, s);
}

}  // namespace rill
