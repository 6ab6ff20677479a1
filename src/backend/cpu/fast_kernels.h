// CPU kernels of the fused ops in rill::fast. Inputs may have any strides; each
// kernel allocates `out` row-major. Float32 accumulation for the half types.
// Internal.
#pragma once

#include "core/node.h"

namespace rill::detail::cpu {

// Normalises the last axis of x. w and b (may be null) are 1-D of x's last
// size; all share out's dtype.
void layer_norm(const Node& x, const Node* w, const Node* b, float eps, Node& out);
void rms_norm(const Node& x, const Node* w, float eps, Node& out);

struct RopeParams {
  int dims;
  bool traditional;
  float base;  // used when there are no freqs
  float scale;
  int offset;  // used when there is no offset array
};
// Rotates the first p.dims features of x [..., L, D] by position * scale *
// inv_freq. `offset` (integer, one value or one per index of x's first axis)
// and `freqs` (dims / 2 periods) may be null.
void rope(const Node& x, const Node* offset, const Node* freqs, const RopeParams& p,
          Node& out);

// softmax(q k^T * scale + mask) v, blocked with an online softmax. q is [B, Hq,
// Lq, D], k [B, Hkv, Lk, D], v [B, Hkv, Lk, Dv], all of out's dtype; mask (may
// be null) is bool or out's dtype and broadcasts to [B, Hq, Lq, Lk]. Rows that
// see no key give zeros.
void scaled_dot_product_attention(const Node& q, const Node& k, const Node& v,
                                  const Node* mask, float scale, bool causal, Node& out);
// Tests: float32 block products through BLAS even where the AVX-512 kernel
// would take them (RILL_CPU_ATTENTION_BLAS=1 does the same for a process).
void attention_products_on_blas_for_testing(bool on);

}  // namespace rill::detail::cpu
