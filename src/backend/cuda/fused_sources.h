// Source text that the GPU's generated kernels embed (backend/cuda/fused.cpp):
// the headers defining each elementwise op (common/elementwise_math.h,
// backend/cuda/elementwise_ops.cuh and what they include) as the build found
// them, without their #include lines. Written at configure time
// (cmake/cuda_jit_sources.cpp.in). Internal.
#pragma once

namespace rill::detail::cu {
extern const char* const kOpsSource;
}  // namespace rill::detail::cu
