// Which attention kernel serves a call, in one place (the families' entry
// points are in kernels.h):
//   decode (Lq <= 8, long keys)  the tensor-core split kernel where it fits
//                                (tc), else the FMA split kernel (dec)
//   Hopper, half types, D = Dv in {64, 128}, no mask   sm90 (sm90.cu)
//   half types, D = Dv in {64, 80, 96, 128}, aligned   fa (flash.cu)
//   half types, D and Dv multiples of 16 up to 256     wmma (wmma.cu)
//   anything else, Dv up to kMaxDv                     general (general.cu)
#include <stdexcept>
#include <string>

#include "backend/cuda/attention/kernels.h"
#include "backend/cuda/attention/sm90.h"
#include "backend/cuda/device.cuh"
#include "runtime/config.h"

namespace rill::detail::cu {
namespace {

// Which decoding kernel takes a call: the tensor-core one where it fits
// (RILL_SDPA_DECODE=1 or 2 choose the FMA kernel instead, for comparisons),
// else the FMA one where it fits, else none.
enum class Decode { none, fma, tensor_cores };
Decode decode_kernel(DT t, const void* q, const void* k, const void* v,
                            const AttentionArgs& a) {
  static const bool fma_only = setting_int(Setting::sdpa_decode) != 0;
  if (!fma_only && tc::fits(t, k, v, a)) return Decode::tensor_cores;
  return dec::fits(t, q, k, v, a) ? Decode::fma : Decode::none;
}

}  // namespace

size_t attention_scratch(DT t, const void* q, const void* k, const void* v,
                         const AttentionArgs& a) {
  const Decode kind = decode_kernel(t, q, k, v, a);
  if (kind == Decode::none) return 0;
  const int64_t splits = kind == Decode::tensor_cores
                             ? tc::splits_for(a, tc::heads_per_block(a))
                             : dec::splits_for(a);
  return sizeof(float) * static_cast<size_t>(a.B * a.Hq * splits * a.Lq) *
         static_cast<size_t>(2 + a.D);
}

void attention(DT t, const void* q, const void* k, const void* v, void* out, void* scratch,
               const AttentionArgs& a, cudaStream_t s) {
  const Decode kind = scratch ? decode_kernel(t, q, k, v, a) : Decode::none;
  if (kind != Decode::none) {
    float* sc = static_cast<float*>(scratch);
    if (kind == Decode::tensor_cores) {
      tc::run(t, q, k, v, out, sc, a, s);
    } else {
      dec::run(t, q, k, v, out, sc, a, s);
    }
    check_launch("scaled_dot_product_attention (decode)");
    return;
  }
  if (a.Dv > kMaxDv) {
    throw std::runtime_error("scaled_dot_product_attention on the GPU takes value head dims up "
                             "to " + std::to_string(kMaxDv) + ", got " + std::to_string(a.Dv));
  }
  const bool tensor_cores = (t == DT::f16 || t == DT::bf16) && a.D % 16 == 0 && a.Dv % 16 == 0 &&
                            a.D <= 256 && a.Dv <= 256;
  if (sm90::fits(t, q, k, v, out, a)) {
    sm90::run(t, q, k, v, out, a, s);
    return;
  }
  if (tensor_cores && fa::fits(q, k, v, out, a)) {
    fa::run(t, q, k, v, out, a, s);
  } else if (tensor_cores) {
    run_wmma(t, q, k, v, out, a, s);
  } else {
    run_general(t, q, k, v, out, a, s);
  }
  check_launch("scaled_dot_product_attention");
}

}  // namespace rill::detail::cu
