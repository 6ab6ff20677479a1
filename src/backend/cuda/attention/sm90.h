// Prefill attention on Hopper's warpgroup matrix instructions and copy engine
// (sm90.cu, built for sm_90a). Internal.
#pragma once

#include <cuda_runtime.h>

#include "backend/cuda/launch.h"

namespace rill::detail::cu::sm90 {

// Whether the Hopper kernel may be chosen: yes unless RILL_SDPA_SM90=0 (which
// leaves prefill to the portable tensor-core kernel, for comparisons).
// Its default is the overlapped schedule (the next block's S = Q K^T and the
// last block's P V on the tensor cores while the softmax runs);
// RILL_SDPA_SM90=1 picks the plain one and 3 the overlapped one with half the
// exponentials on the FMA pipes (both slower on an H200, bench/ATTENTION.md);
// at D = 64 it runs three consumer warpgroups (RILL_SDPA_SM90_GROUPS=2: two).
bool enabled();
// Whether it takes these arguments on the current device: compute capability
// 9.0, a positive finite scale, float16 / bfloat16, D = Dv in {64, 128}, no
// mask array, Lq > 8 (the
// split kernel decodes), causal only with Lq <= Lk, unit inner strides and
// rows 16-byte aligned.
bool fits(DT t, const void* q, const void* k, const void* v, const void* out,
          const AttentionArgs& a);
// out: row-major [B, Hq, Lq, D].
void run(DT t, const void* q, const void* k, const void* v, void* out, const AttentionArgs& a,
         cudaStream_t s);

}  // namespace rill::detail::cu::sm90
