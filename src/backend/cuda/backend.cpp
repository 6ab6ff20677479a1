// The GPU backend's table of entry points (backend/kernels.h), and the checks
// that the CUDA side's tables agree with the host's.
#include "backend/cuda/launch.h"
#include "backend/kernels.h"
#include "rill/dtype.h"

namespace rill::detail {

// cu::DT indexes the kernels' element types by Dtype::Val's value.
#define RILL_SAME_DTYPE(dt, val) \
  static_assert(static_cast<int>(cu::DT::dt) == static_cast<int>(Dtype::Val::val));
RILL_SAME_DTYPE(bool_, bool_)
RILL_SAME_DTYPE(u8, uint8)
RILL_SAME_DTYPE(u32, uint32)
RILL_SAME_DTYPE(i32, int32)
RILL_SAME_DTYPE(i64, int64)
RILL_SAME_DTYPE(f16, float16)
RILL_SAME_DTYPE(bf16, bfloat16)
RILL_SAME_DTYPE(f32, float32)
RILL_SAME_DTYPE(f64, float64)
RILL_SAME_DTYPE(i8, int8)
RILL_SAME_DTYPE(i16, int16)
RILL_SAME_DTYPE(u16, uint16)
RILL_SAME_DTYPE(c64, complex64)
RILL_SAME_DTYPE(u64, uint64)
#undef RILL_SAME_DTYPE

const Kernels gpu_backend = {
#define RILL_GPU_ENTRY(name, params) &gpu::name,
    RILL_BACKEND_KERNELS(RILL_GPU_ENTRY)
#undef RILL_GPU_ENTRY
};

}  // namespace rill::detail
