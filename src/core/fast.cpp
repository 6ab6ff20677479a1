// Fused ops (rill::fast): validate the arguments when called and record one
// node each; the kernels are in backend/cpu/{normalization,rope,attention}.cpp.
#include "rill/fast.h"

#include <cmath>
#include <stdexcept>

#include "core/format.h"
#include "core/primitives.h"
#include "rill/ops.h"

namespace rill::fast {

using detail::cat;
using detail::make_array;
using detail::node_of;
using detail::tuple_str;

namespace {

[[noreturn]] void fail(const char* op, const std::string& what) {
  throw std::invalid_argument(cat("[", detail::OuterOp::name(op), "] ", what));
}

// Inputs: x, then the weight and the bias when present.
class Normalization : public detail::Primitive {
 public:
  Normalization(bool rms, bool has_weight, bool has_bias, float eps)
      : rms_(rms), has_weight_(has_weight), has_bias_(has_bias), eps_(eps) {}
  const char* name() const override { return rms_ ? "rms_norm" : "layer_norm"; }
  void eval(const detail::Kernels& k, const std::vector<array>& in,
            detail::Node& out) override {
    const detail::Node* w = has_weight_ ? &node_of(in[1]) : nullptr;
    if (rms_) {
      k.rms_norm(node_of(in[0]), w, eps_, out);
    } else {
      const detail::Node* b = has_bias_ ? &node_of(in[has_weight_ ? 2 : 1]) : nullptr;
      k.layer_norm(node_of(in[0]), w, b, eps_, out);
    }
  }

 private:
  bool rms_, has_weight_, has_bias_;
  float eps_;
};

// Inputs: x, then the offset array and the freqs when present.
class Rope : public detail::Primitive {
 public:
  Rope(detail::RopeParams p, bool has_offset, bool has_freqs)
      : p_(p), has_offset_(has_offset), has_freqs_(has_freqs) {}
  const char* name() const override { return "rope"; }
  void eval(const detail::Kernels& k, const std::vector<array>& in,
            detail::Node& out) override {
    const detail::Node* offset = has_offset_ ? &node_of(in[1]) : nullptr;
    const detail::Node* freqs = has_freqs_ ? &node_of(in.back()) : nullptr;
    k.rope(node_of(in[0]), offset, freqs, p_, out);
  }

 private:
  detail::RopeParams p_;
  bool has_offset_, has_freqs_;
};

// Inputs: queries, keys, values, then the mask when present.
class ScaledDotProductAttention : public detail::Primitive {
 public:
  ScaledDotProductAttention(float scale, bool causal) : scale_(scale), causal_(causal) {}
  const char* name() const override { return "scaled_dot_product_attention"; }
  void eval(const detail::Kernels& k, const std::vector<array>& in,
            detail::Node& out) override {
    const detail::Node* mask = in.size() > 3 ? &node_of(in[3]) : nullptr;
    k.scaled_dot_product_attention(node_of(in[0]), node_of(in[1]), node_of(in[2]), mask,
                                   scale_, causal_, out);
  }

 private:
  float scale_;
  bool causal_;
};

// weight and bias: 1-D, of x's last size.
void check_parameter(const array& p, const array& x, const char* what, const char* op) {
  if (p.ndim() != 1 || p.shape(0) != x.shape(-1)) {
    fail(op, cat(what, " must be 1-D of size ", x.shape(-1), " (the last axis of x ",
                 tuple_str(x.shape()), "), got shape ", tuple_str(p.shape()), "."));
  }
}

array normalization(const array& x, const std::optional<array>& weight,
                    const std::optional<array>& bias, float eps, bool rms,
                    const StreamOrDevice& s) {
  const char* op = rms ? "rms_norm" : "layer_norm";
  detail::OuterOp outer(op);
  if (x.ndim() == 0) fail(op, "x must have at least 1 dimension, got a scalar.");
  Dtype t = x.dtype();
  if (weight) {
    check_parameter(*weight, x, "weight", op);
    t = promote_types(t, weight->dtype());
  }
  if (bias) {
    check_parameter(*bias, x, "bias", op);
    t = promote_types(t, bias->dtype());
  }
  if (!is_floating_point(t)) {
    fail(op, cat("x, weight and bias must be floating point, got ", x.dtype(),
                 weight ? cat(", ", weight->dtype()) : "",
                 bias ? cat(", ", bias->dtype()) : "", "."));
  }
  if (!std::isfinite(eps) || eps < 0) {
    fail(op, cat("eps must be finite and >= 0, got ", eps, "."));
  }
  std::vector<array> inputs{astype(x, t, s)};
  if (weight) inputs.push_back(astype(*weight, t, s));
  if (bias) inputs.push_back(astype(*bias, t, s));
  return make_array(
      x.shape(), t,
      std::make_shared<Normalization>(rms, weight.has_value(), bias.has_value(), eps),
      std::move(inputs), s, op);
}

array rope_impl(const array& x, int dims, bool traditional, std::optional<float> base,
                float scale, int offset, const std::optional<array>& offset_arr,
                const std::optional<array>& freqs, const StreamOrDevice& s) {
  const char* op = "rope";
  if (x.ndim() < 2) {
    fail(op, cat("x must have at least 2 dimensions [..., L, D], got shape ",
                 tuple_str(x.shape()), "."));
  }
  if (!is_floating_point(x.dtype())) {
    fail(op, cat("x must be floating point, got ", x.dtype(), "."));
  }
  const int d = x.shape(-1);
  if (dims <= 0 || dims % 2 != 0 || dims > d) {
    fail(op, cat("dims must be even, positive and at most the last dimension (", d,
                 "), got ", dims, "."));
  }
  if (base.has_value() == freqs.has_value()) {
    fail(op, base ? "only one of base and freqs may be given."
                  : "one of base and freqs must be given.");
  }
  if (base && !(std::isfinite(*base) && *base > 0)) {
    fail(op, cat("base must be finite and positive, got ", *base, "."));
  }
  if (freqs) {
    if (freqs->ndim() != 1 || freqs->shape(0) != dims / 2) {
      fail(op, cat("freqs must be 1-D of size dims / 2 = ", dims / 2, ", got shape ",
                   tuple_str(freqs->shape()), "."));
    }
    if (!is_floating_point(freqs->dtype())) {
      fail(op, cat("freqs must be floating point, got ", freqs->dtype(), "."));
    }
  }
  std::vector<array> inputs{x};
  if (offset_arr) {
    const array& o = *offset_arr;
    if (!is_integral(o.dtype())) {
      fail(op, cat("offset must be an integer array, got ", o.dtype(), "."));
    }
    bool per_batch = o.ndim() == 1 && x.ndim() >= 3 && o.shape(0) == x.shape(0);
    if (o.size() != 1 && !per_batch) {
      fail(op, cat("offset must be a scalar or 1-D of the batch size (", x.shape(0),
                   "), got shape ", tuple_str(o.shape()), "."));
    }
    inputs.push_back(o);
  }
  if (freqs) inputs.push_back(*freqs);
  detail::RopeParams p{dims, traditional, base.value_or(0.0f), scale, offset};
  return make_array(x.shape(), x.dtype(),
                    std::make_shared<Rope>(p, offset_arr.has_value(), freqs.has_value()),
                    std::move(inputs), s, op);
}

}  // namespace

array layer_norm(const array& x, const std::optional<array>& weight,
                 const std::optional<array>& bias, float eps, StreamOrDevice s) {
  return normalization(x, weight, bias, eps, false, s);
}

array rms_norm(const array& x, const std::optional<array>& weight, float eps,
               StreamOrDevice s) {
  return normalization(x, weight, std::nullopt, eps, true, s);
}

array rope(const array& x, int dims, bool traditional, std::optional<float> base,
           float scale, int offset, const std::optional<array>& freqs, StreamOrDevice s) {
  return rope_impl(x, dims, traditional, base, scale, offset, std::nullopt, freqs, s);
}

array rope(const array& x, int dims, bool traditional, std::optional<float> base,
           float scale, const array& offset, const std::optional<array>& freqs,
           StreamOrDevice s) {
  return rope_impl(x, dims, traditional, base, scale, 0, offset, freqs, s);
}

array scaled_dot_product_attention(const array& queries, const array& keys,
                                   const array& values, float scale,
                                   const std::string& mask_mode,
                                   const std::optional<array>& mask, StreamOrDevice s) {
  const char* op = "scaled_dot_product_attention";
  detail::OuterOp outer(op);
  const array &q = queries, &k = keys, &v = values;
  if (q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4) {
    fail(op,
         cat("queries, keys and values must have 4 dimensions [B, H, L, D], got shapes ",
             tuple_str(q.shape()), ", ", tuple_str(k.shape()), " and ",
             tuple_str(v.shape()), "."));
  }
  const int batch = q.shape(0), hq = q.shape(1), lq = q.shape(2), d = q.shape(3);
  const int hkv = k.shape(1), lk = k.shape(2);
  if (k.shape(0) != batch || v.shape(0) != batch) {
    fail(op, cat("queries, keys and values must have the same batch size, got ", batch,
                 ", ", k.shape(0), " and ", v.shape(0), "."));
  }
  if (v.shape(1) != hkv || v.shape(2) != lk) {
    fail(op, cat("keys and values must have the same heads and length, got shapes ",
                 tuple_str(k.shape()), " and ", tuple_str(v.shape()), "."));
  }
  if (hkv == 0 ? hq != 0 : hq % hkv != 0) {
    fail(op, cat("the query heads (", hq, ") must be a multiple of the key/value heads (",
                 hkv, ")."));
  }
  if (k.shape(3) != d) {
    fail(op, cat("queries and keys must have the same head dimension, got ", d, " and ",
                 k.shape(3), "."));
  }
  if (!is_floating_point(q.dtype()) || !is_floating_point(k.dtype()) ||
      !is_floating_point(v.dtype())) {
    fail(op, cat("queries, keys and values must be floating point, got ", q.dtype(), ", ",
                 k.dtype(), " and ", v.dtype(), "."));
  }
  // "array" as in MLX, where the mask array is given.
  if (mask_mode != "" && mask_mode != "causal" && (mask_mode != "array" || !mask)) {
    fail(op,
         cat("mask_mode must be \"\" or \"causal\" (or \"array\" with a mask), got \"",
             mask_mode, "\"", mask ? "." : " and no mask."));
  }
  Dtype t = promote_types(promote_types(q.dtype(), k.dtype()), v.dtype());
  const Shape scores{batch, hq, lq, lk};
  std::vector<array> inputs{astype(q, t, s), astype(k, t, s), astype(v, t, s)};
  if (mask) {
    const array& m = *mask;
    bool fits = m.ndim() <= 4;
    for (int i = 0; fits && i < m.ndim(); ++i) {
      int dim = m.shape(i), want = scores[4 - m.ndim() + i];
      fits = dim == want || dim == 1;
    }
    if (!fits) {
      fail(op, cat("mask of shape ", tuple_str(m.shape()),
                   " cannot be broadcast to the scores' shape ", tuple_str(scores), "."));
    }
    if (m.dtype() != bool_ && !is_floating_point(m.dtype())) {
      fail(op, cat("mask must be bool (true keeps) or floating point (added), got ",
                   m.dtype(), "."));
    }
    inputs.push_back(m.dtype() == bool_ ? m : astype(m, t, s));
  }
  return make_array(
      {batch, hq, lq, v.shape(3)}, t,
      std::make_shared<ScaledDotProductAttention>(scale, mask_mode == "causal"),
      std::move(inputs), s, op);
}

array cross_entropy(const array& logits, const array& targets, StreamOrDevice s) {
  auto bad = [](const std::string& what) {
    throw std::invalid_argument("[cross_entropy] " + what);
  };
  if (logits.ndim() < 1) {
    bad("logits must have at least 1 dimension but got input with 0 dimensions.");
  }
  if (!is_floating_point(logits.dtype())) {
    bad(detail::cat("Received unsupported logits type ", logits.dtype(), "."));
  }
  if (!is_integral(targets.dtype())) {
    bad(detail::cat("targets must be integer class indices but got ", targets.dtype(), "."));
  }
  Shape rows(logits.shape().begin(), logits.shape().end() - 1);
  if (targets.shape() != rows) {
    bad(detail::cat("targets shape ", detail::tuple_str(targets.shape()),
                    " does not match logits shape ", detail::tuple_str(logits.shape()),
                    " with the last axis removed."));
  }
  Dtype ct = logits.dtype() == float64 ? float64 : float32;
  array x = astype(logits, ct, s);
  array picked = squeeze(take_along_axis(x, expand_dims(targets, -1, s), -1, s), -1, s);
  return astype(subtract(logsumexp(x, -1, false, s), picked, s), float32, s);
}

std::vector<array> gated_delta_update(const array& q, const array& k, const array& v,
                                      const array& g, const array& beta,
                                      const std::optional<array>& initial_state,
                                      const std::optional<array>& mask, StreamOrDevice s) {
  auto bad = [](const std::string& what) {
    throw std::invalid_argument("[gated_delta_update] " + what);
  };
  if (q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4 || g.ndim() != 3 || beta.ndim() != 3) {
    bad("expected q, k, v of rank 4 and gates, beta of rank 3.");
  }
  if (q.shape() != k.shape()) bad("queries and keys must have the same shape.");
  const int B = q.shape(0), T = q.shape(1), Hk = q.shape(2), Dk = q.shape(3);
  const int Hv = v.shape(2), Dv = v.shape(3);
  if (v.shape(0) != B || v.shape(1) != T || Hk == 0 || Hv % Hk != 0) {
    bad("values must be [B, T, Hv, Dv] with Hv a multiple of the key heads.");
  }
  if (g.shape() != Shape({B, T, Hv}) || beta.shape() != Shape({B, T, Hv})) {
    bad("gates and beta must be [B, T, Hv].");
  }
  const Dtype ct = float32;
  array S = initial_state ? astype(*initial_state, ct, s) : zeros({B, Hv, Dv, Dk}, ct, s);
  if (S.shape() != Shape({B, Hv, Dv, Dk})) bad("initial_state must be [B, Hv, Dv, Dk].");
  array qq = astype(repeat(q, Hv / Hk, 2, s), ct, s), kk = astype(repeat(k, Hv / Hk, 2, s), ct, s);
  array vv = astype(v, ct, s), gg = astype(g, ct, s), bb = astype(beta, ct, s);
  auto at = [&](const array& x, int t) {  // step t of [B, T, ...] without the T axis
    Shape start(x.ndim(), 0), stop = x.shape();
    start[1] = t;
    stop[1] = t + 1;
    return squeeze(slice(x, start, stop, s), 1, s);
  };
  std::vector<array> outs;
  for (int t = 0; t < T; ++t) {
    array kt = at(kk, t), qt = at(qq, t);                           // [B, Hv, Dk]
    array St = multiply(S, expand_dims(at(gg, t), {-1, -2}, s), s);  // [B, Hv, Dv, Dk]
    array mem = squeeze(matmul(St, expand_dims(kt, -1, s), s), -1, s);  // [B, Hv, Dv]
    array d = multiply(subtract(at(vv, t), mem, s), expand_dims(at(bb, t), -1, s), s);
    St = add(St, multiply(expand_dims(d, -1, s), expand_dims(kt, -2, s), s), s);
    array o = squeeze(matmul(St, expand_dims(qt, -1, s), s), -1, s);  // [B, Hv, Dv]
    if (mask) {
      array m = reshape(at(astype(*mask, bool_, s), t), {B, 1, 1}, s);
      o = where(m, o, zeros({}, ct, s), s);
      St = where(expand_dims(m, -1, s), St, S, s);
    }
    S = St;
    outs.push_back(o);
  }
  array out = T == 0 ? zeros({B, 0, Hv, Dv}, ct, s) : stack(outs, 1, s);
  return {astype(out, v.dtype(), s), S};
}

}  // namespace rill::fast
