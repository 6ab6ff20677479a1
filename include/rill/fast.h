// Fused operations for transformer inference: one kernel each, float32
// accumulation for half types.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "rill/array.h"
#include "rill/stream.h"

namespace rill::fast {

// LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * weight + bias.
array layer_norm(const array& x, const std::optional<array>& weight,
                 const std::optional<array>& bias, float eps, StreamOrDevice s = {});

// RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight.
array rms_norm(const array& x, const std::optional<array>& weight, float eps,
               StreamOrDevice s = {});

// Rotary position embedding on the first `dims` features of the last axis of
// x [..., L, D]. Positions are offset + 0..L-1. traditional: rotate adjacent
// pairs (x0, x1), else the two halves. Frequencies base^(-2i/dims) or `freqs`.
array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale,
           int offset, const std::optional<array>& freqs = std::nullopt,
           StreamOrDevice s = {});
array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale,
           const array& offset, const std::optional<array>& freqs = std::nullopt,
           StreamOrDevice s = {});

// softmax(q k^T * scale + mask) v for q [B, Hq, Lq, D], k and v [B, Hkv, Lk, D(v)],
// Hq a multiple of Hkv (grouped-query attention). mask_mode "" or "causal"
// (queries aligned to the end of the keys); `mask` a boolean (true = keep) or
// additive array broadcastable to [B, Hq, Lq, Lk]. Fused: the Lq x Lk score
// matrix is never materialised.
array scaled_dot_product_attention(const array& queries, const array& keys,
                                   const array& values, float scale,
                                   const std::string& mask_mode = "",
                                   const std::optional<array>& mask = std::nullopt,
                                   StreamOrDevice s = {});

// Cross entropy with class indices: logsumexp(logits, -1) - logits[...,
// target], float32 (half types computed in float32); targets are integers
// of logits' shape without its last axis.
array cross_entropy(const array& logits, const array& targets, StreamOrDevice s = {});

// The gated delta rule, step by step over T: with q, k [B, T, Hk, Dk], v
// [B, T, Hv, Dv], gates and beta_ [B, T, Hv] and the state S [B, Hv, Dv, Dk]
// (zeros without initial_state), each step sets S = g S, then adds
// beta (v - S k) k^T, and outputs S q (value head h reads key head
// h * Hk / Hv). Where mask [B, T] is false the step leaves S alone and
// outputs zeros. Returns {output [B, T, Hv, Dv], final state}.
std::vector<array> gated_delta_update(const array& queries, const array& keys,
                                      const array& values, const array& gates,
                                      const array& beta_,
                                      const std::optional<array>& initial_state = std::nullopt,
                                      const std::optional<array>& mask = std::nullopt,
                                      StreamOrDevice s = {});

}  // namespace rill::fast
