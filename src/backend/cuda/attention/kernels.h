// The host entry points of the attention kernel families, for dispatch.cu,
// which says in one place which kernel serves which call. Each `fits` says
// whether its kernel takes the call's dtype, shapes and layout; each `run`
// launches it. Internal.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "backend/cuda/launch.h"

namespace rill::detail::cu {

// Value head dims the general kernel takes (every dtype, CUDA cores).
constexpr int kMaxDv = 256;

// general.cu: any dtype and head dims up to kMaxDv.
void run_general(DT t, const void* q, const void* k, const void* v, void* out,
                 const AttentionArgs& a, cudaStream_t s);
// wmma.cu: float16 / bfloat16 with D and Dv multiples of 16, up to 256.
void run_wmma(DT t, const void* q, const void* k, const void* v, void* out,
              const AttentionArgs& a, cudaStream_t s);

// flash.cu: the register-tiled tensor-core kernel (float16 / bfloat16).
namespace fa {
bool fits(const void* q, const void* k, const void* v, const void* out, const AttentionArgs& a);
void run(DT t, const void* q, const void* k, const void* v, void* out, const AttentionArgs& a,
         cudaStream_t s);
}  // namespace fa

// decode.cu: few queries over long keys, split across the chip; each leaves
// partial softmaxes in `scratch` (floats) that a second kernel combines.
namespace dec {  // on the FMA pipes
bool fits(DT t, const void* q, const void* k, const void* v, const AttentionArgs& a);
int splits_for(const AttentionArgs& a);
void run(DT t, const void* q, const void* k, const void* v, void* out, float* scratch,
         const AttentionArgs& a, cudaStream_t s);
}  // namespace dec
namespace tc {  // on the tensor cores
bool fits(DT t, const void* k, const void* v, const AttentionArgs& a);
int heads_per_block(const AttentionArgs& a);
int splits_for(const AttentionArgs& a, int hpb);
void run(DT t, const void* q, const void* k, const void* v, void* out, float* scratch,
         const AttentionArgs& a, cudaStream_t s);
}  // namespace tc

}  // namespace rill::detail::cu
