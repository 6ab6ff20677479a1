// scaled_dot_product_attention on the GPU (backend/kernels.h): the nodes'
// layouts as AttentionArgs; attention/dispatch.cu picks the kernel.
#include "backend/cuda/host.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <tuple>

#include "core/dispatch.h"
#include "core/format.h"

namespace rill::detail::gpu {

// ---- attention ----

void scaled_dot_product_attention(const Node& q, const Node& k, const Node& v,
                                  const Node* mask, float scale, bool causal, Node& out) {
  // [B, Hq, Lq, Dv] stored as [B, Lq, Hq, Dv]: the heads of one position
  // side by side, so that merging them back (transpose(o, {0, 2, 1, 3})
  // then reshape to [B, Lq, Hq * Dv]) is a view, not a copy. At Lq = 1 both
  // orders are the same.
  const int64_t Hq = out.shape[1], Lq = out.shape[2], Dv = out.shape[3];
  gpu::allocate(out);
  set_view(out, out, {static_cast<int64_t>(Lq * Hq * Dv), Dv, Hq * Dv, 1}, 0);
  if (out.size == 0) return;
  cu::AttentionArgs a{};
  a.os[0] = out.strides[0];
  a.os[1] = out.strides[1];
  a.os[2] = out.strides[2];
  a.B = q.shape[0];
  a.Hq = q.shape[1];
  a.Lq = q.shape[2];
  a.D = q.shape[3];
  a.Hkv = k.shape[1];
  a.Lk = k.shape[2];
  a.Dv = v.shape[3];
  for (int i = 0; i < 4; ++i) {
    a.qs[i] = q.shape[i] == 1 ? 0 : q.strides[i];
    a.ks[i] = k.shape[i] == 1 ? 0 : k.strides[i];
    a.vs[i] = v.shape[i] == 1 ? 0 : v.strides[i];
  }
  if (mask) {
    Shape full{static_cast<int32_t>(a.B), static_cast<int32_t>(a.Hq),
               static_cast<int32_t>(a.Lq), static_cast<int32_t>(a.Lk)};
    Strides ms = broadcast_strides(*mask, full);
    for (int i = 0; i < 4; ++i) a.ms[i] = ms[i];
    a.mask = mask->data();
    a.mask_is_bool = mask->dtype == bool_;
  }
  a.scale = scale;
  a.causal = causal;
  const size_t bytes = cu::attention_scratch(dt(q.dtype), q.data(), k.data(), v.data(), a);
  std::shared_ptr<Buffer> scratch = bytes ? cu::allocate(bytes) : nullptr;
  cu::attention(dt(q.dtype), q.data(), k.data(), v.data(), out.mutable_data(),
                scratch ? scratch->ptr : nullptr, a, stream());
}

}  // namespace rill::detail::gpu
